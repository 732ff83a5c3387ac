"""The one attempt runner: every delivery path attempts and settles deliveries through ``run``.

For a batch of attempts, ``run`` posts each one (``durian.transport.delivery``), then does the
bookkeeping every path shares, in this order:

1. a listener that is not active, or that answered 410 Gone earlier in the batch, is not posted
   to: the delivery becomes a dead letter at once (``Policy.inactive = "dead_letter"``), or is
   attempted all the same (``"attempt"``, for staff re-sending by hand);
2. ``Policy.after`` runs right after each attempt (the workers finish their idempotency lease);
3. one delivery record per attempt is stored, at once (``records = "now"``) or, for successes,
   in the background recorder's next batch (``"batched"``, the workers);
4. the outcomes feed the listeners' health, in one call;
5. ``Policy.on_failure`` settles each failure: a retry later, or a dead letter.

Each path states its policy where it calls ``run``: ``durian.pipeline.deliver`` (workers),
``durian.pipeline.local`` (``async_ = False``) and ``durian.pipeline.resend`` (dead letters).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import redis

from ..core.event import Event
from ..core.outcome import Outcome
from ..core.recipients import ListenerView
from ..storage import deadletters, health, metrics, recorder
from ..transport import delivery


@dataclass(frozen=True)
class Attempt:
    """One delivery to attempt now: ``event`` to ``listener``, its ``number``-th attempt.

    ``context`` is whatever the calling path needs back in its callbacks (the message item, the
    dead letter being re-sent).
    """

    event: Event
    listener: ListenerView
    number: int = 1
    context: Any = None

    @property
    def webhook_id(self) -> str:
        return self.event.webhook_id(self.listener.id)


Settle = Callable[[Attempt, Outcome], None]


@dataclass(frozen=True)
class Policy:
    """What a delivery path does around its attempts (see the module docstring)."""

    records: Literal["batched", "now"]
    inactive: Literal["dead_letter", "attempt"]
    after: Settle | None = None
    on_failure: Settle | None = None


def dead_letter(attempt: Attempt, outcome: Outcome) -> None:
    """``on_failure`` of paths without retries: the failed delivery becomes a dead letter."""
    deadletters.store(attempt.event, attempt.listener.id, attempt.number, outcome)


def run(
    attempts: Iterable[Attempt], policy: Policy, client: redis.Redis | None = None
) -> list[tuple[Attempt, Outcome]]:
    """Attempt each delivery once and settle it by ``policy``; returns the attempts made."""
    made: list[tuple[Attempt, Outcome]] = []
    gone: set[int] = set()  # answered 410 Gone earlier in this batch: disabled now
    for attempt in attempts:
        state = "disabled" if attempt.listener.id in gone else attempt.listener.state
        if state != "active" and policy.inactive == "dead_letter":
            outcome = Outcome(False, error=f"The listener is {state}.")
            deadletters.store(attempt.event, attempt.listener.id, attempt.number - 1, outcome)
            if policy.after:
                policy.after(attempt, outcome)
            continue
        listener = attempt.listener
        outcome = delivery.attempt(attempt.event, listener.id, listener.url, listener.secrets)
        if policy.after:
            policy.after(attempt, outcome)
        made.append((attempt, outcome))
        if outcome.gone:
            gone.add(listener.id)
    rows = [recorder.row(a.event, a.listener.id, a.number, outcome) for a, outcome in made]
    if policy.records == "batched":
        recorder.recorder.save(rows)  # failures now, successes in the next background batch
    else:
        recorder.store(rows)
    health.observe([(a.listener.id, outcome) for a, outcome in made], client)
    metrics.attempts([(a.event.hook, outcome) for a, outcome in made])
    if policy.on_failure:
        for a, outcome in made:
            if not outcome.ok:
                policy.on_failure(a, outcome)
    return made
