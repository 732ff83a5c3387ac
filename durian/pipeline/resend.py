"""Re-sending dead letters now, with the listener's current URL and secret (staff, from admin or a page).

A re-send is attempted whatever the listener's state (staff asked for it), records its attempt at
once, counts towards health, and updates the dead letter: delivered, or its new last error.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import redis

from ..core.outcome import Outcome
from ..models import DeadLetter
from ..storage import deadletters, listener_cache
from ..storage.connection import get_redis
from . import attempts, queue


def _settle(attempt: attempts.Attempt, outcome: Outcome) -> None:
    """A re-send is one attempt, never retried: the letter is delivered, or keeps its new error."""
    deadletters.settle(attempt.context, outcome)


def resend(letters: Iterable[DeadLetter]) -> tuple[int, int]:
    """Re-send dead letters now. Returns ``(delivered, failed)``."""
    batch = [
        attempts.Attempt(letter.event, listener_cache.view(letter.listener), letter.attempts + 1, context=letter)
        for letter in letters
    ]
    made = attempts.run(batch, "now", refusing=False, client=get_redis("request"))
    for attempt, outcome in made:
        _settle(attempt, outcome)
    delivered = sum(1 for _, outcome in made if outcome.ok)
    return delivered, len(made) - delivered


def _settle_queued(attempt: attempts.Attempt, outcome: Outcome) -> None:
    letter = DeadLetter.objects.filter(pk=attempt.context["resend"]).first()
    if letter is not None:
        _settle(attempts.Attempt(attempt.event, attempt.listener, attempt.number, context=letter), outcome)


def queue_resend(letters: Iterable[DeadLetter]) -> int:
    """Queue dead letters for the workers to re-send (many rows, without holding a request). Returns how many."""
    items = [
        {**queue.item(letter.event, letter.listener_id, letter.attempts + 1, replay=True), "resend": letter.pk}
        for letter in letters
    ]
    queue.send(items)
    return len(items)


def run_queued(batch: Sequence[attempts.Attempt], client: redis.Redis) -> None:
    """Re-send the queued dead letters of one worker message (``durian.pipeline.deliver``)."""
    for attempt, outcome in attempts.run(batch, "now", refusing=False, client=client):
        _settle_queued(attempt, outcome)
