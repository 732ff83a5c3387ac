"""The one attempt runner: every delivery path attempts and settles deliveries through ``run``.

For a batch of attempts, ``run`` posts each one (``durian.transport.delivery``): one after the
other, or through ``Policy.send`` (the workers post many at once, in per-listener lanes:
``durian.pipeline.lanes``). Then it does the bookkeeping every path shares, in this order:

1. a listener that is not active, or that answered 410 Gone earlier in the batch, is not posted
   to: the delivery becomes a dead letter at once (``Policy.inactive = "dead_letter"``), or is
   attempted all the same (``"attempt"``, for staff re-sending by hand);
2. ``Policy.after`` runs right after each attempt (the workers finish their idempotency lease);
3. one delivery record per attempt is stored, at once (``records = "now"``) or, for successes,
   in the background recorder's next batch (``"batched"``, the workers);
4. the outcomes feed the listeners' health, in one call;
5. ``Policy.on_failure`` settles each failure: a retry later, or a dead letter;
6. ``Policy.on_held`` takes the attempts ``Policy.send`` held back without posting (a listener's
   open circuit, or its concurrency cap): they come back later, and holding is not an attempt.

Each path states its policy where it calls ``run``: ``durian.pipeline.deliver`` (workers),
``durian.pipeline.local`` (``async_ = False``) and ``durian.pipeline.resend`` (dead letters).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
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
Made = list[tuple[Attempt, Outcome]]
#: Posts a batch with the given one-attempt function: returns the attempts made and those held
#: (each with the time it may come back). Attempts still in flight when it returns are settled
#: later, by the thread that makes them, through the given settle function.
Send = Callable[
    [Sequence[Attempt], Callable[[Attempt], Outcome], Callable[[Made], None]],
    tuple[Made, list[tuple[Attempt, float]]],
]


@dataclass(frozen=True)
class Policy:
    """What a delivery path does around its attempts (see the module docstring)."""

    records: Literal["batched", "now"]
    inactive: Literal["dead_letter", "attempt"]
    after: Settle | None = None
    on_failure: Settle | None = None
    send: Send | None = None
    on_held: Callable[[list[tuple[Attempt, float]]], None] | None = None


def run(
    attempts: Iterable[Attempt], policy: Policy, client: redis.Redis | None = None
) -> list[tuple[Attempt, Outcome]]:
    """Attempt each delivery once and settle it by ``policy``; returns the attempts made."""
    made: Made = []
    ready: list[Attempt] = []
    gone: set[int] = set()  # answered 410 Gone earlier in this batch: disabled now
    for attempt in attempts:
        state = attempt.listener.state
        if state != "active" and policy.inactive == "dead_letter":
            _refuse(attempt, state, policy)
        else:
            ready.append(attempt)

    def post(attempt: Attempt) -> Outcome:
        listener = attempt.listener
        outcome = delivery.attempt(attempt.event, listener.id, listener.url, listener.secrets, listener.payload_format)
        if policy.after:
            policy.after(attempt, outcome)
        return outcome

    if policy.send is not None:
        made, held = policy.send(ready, post, lambda late: settle(late, policy, client))
        if held and policy.on_held:
            policy.on_held(held)
    else:
        for attempt in ready:
            if attempt.listener.id in gone and policy.inactive == "dead_letter":
                _refuse(attempt, "disabled", policy)
                continue
            outcome = post(attempt)
            made.append((attempt, outcome))
            if outcome.gone:
                gone.add(attempt.listener.id)
    settle(made, policy, client)
    return made


def settle(made: Made, policy: Policy, client: redis.Redis | None = None) -> None:
    """Store the records of attempts made, feed health, and retry or dead-letter each failure."""
    if not made:
        return
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


def _refuse(attempt: Attempt, state: str, policy: Policy) -> None:
    """A delivery to a listener that is not active: a dead letter at once, no attempt made."""
    outcome = Outcome(False, error=f"The listener is {state}.")
    deadletters.store(attempt.event, attempt.listener.id, attempt.number - 1, outcome)
    if policy.after:
        policy.after(attempt, outcome)
