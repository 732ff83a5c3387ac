"""Re-sending dead letters now, with the listener's current URL and secret (staff, from admin or a page).

A re-send is attempted whatever the listener's state (staff asked for it), records its attempt at
once, counts towards health, and updates the dead letter: delivered, or its new last error.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..core.outcome import Outcome
from ..models import DeadLetter
from ..storage import deadletters, listener_cache
from ..storage.connection import get_redis
from . import attempts


def _settle(attempt: attempts.Attempt, outcome: Outcome) -> None:
    deadletters.settle(attempt.context, outcome)


POLICY = attempts.Policy(records="now", inactive="attempt", after=_settle)


def resend(letters: Iterable[DeadLetter]) -> tuple[int, int]:
    """Re-send dead letters now. Returns ``(delivered, failed)``."""
    batch = [
        attempts.Attempt(letter.event, listener_cache.view(letter.listener), letter.attempts + 1, context=letter)
        for letter in letters
    ]
    made = attempts.run(batch, POLICY, get_redis("request"))
    delivered = sum(1 for _, outcome in made if outcome.ok)
    return delivered, len(made) - delivered
