"""The one attempt runner: every delivery path posts and records its attempts here.

- ``post`` signs and POSTs one attempt (``durian.transport.delivery``) and returns its outcome;
- ``refuse`` turns deliveries to a listener that is not active into dead letters at once;
- ``record`` does the bookkeeping every attempt gets: one delivery record each, stored at once
  (``"now"``) or, for successes, in the background recorder's next batch (``"batched"``, the
  workers), the listeners' health in one call, and the metrics;
- ``run`` does all three, one attempt after the other, for the paths that post one at a time:
  local delivery (``durian.pipeline.local``), re-sent dead letters (``durian.pipeline.resend``)
  and the ordered lanes (``durian.pipeline.ordered``). The workers post many at once, in
  per-listener lanes (``durian.pipeline.lanes``), through the same ``post`` and ``record``.

What follows an attempt (retry, dead letter, the lease's end) is ``durian.pipeline.policy``'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import redis

from ..core.event import Event
from ..core.outcome import Outcome
from ..core.recipients import ListenerView
from ..storage import deadletters, health, metrics, recorder
from ..transport import delivery

Records = Literal["batched", "now"]


@dataclass(frozen=True)
class Attempt:
    """One delivery to attempt now: ``event`` to ``listener``, its ``number``-th attempt.

    ``context`` is what the calling path needs back (the message item, the dead letter being
    re-sent); ``lease`` the token of the idempotency lease the attempt holds, if any.
    """

    event: Event
    listener: ListenerView
    number: int = 1
    context: Any = None
    lease: str | None = None

    @property
    def webhook_id(self) -> str:
        return self.event.webhook_id(self.listener.id)


Made = list[tuple[Attempt, Outcome]]


def post(attempt: Attempt) -> Outcome:
    """Sign and POST one attempt in its listener's payload format. Never raises."""
    listener = attempt.listener
    return delivery.attempt(
        attempt.event,
        listener.id,
        listener.url,
        listener.secrets,
        listener.payload_format,
        headers=listener.headers,
        fields=listener.fields,
        number=attempt.number,
    )


def refuse(attempts: Iterable[Attempt]) -> tuple[list[Attempt], list[Attempt]]:
    """Split ``attempts`` into those to active listeners and those refused: each refused one is a
    dead letter now (no attempt made, nothing posted). An endpoint not validated yet
    (``DURIAN_VERIFY_ENDPOINTS``) is refused too: workers keep its events before this (they wait),
    local delivery keeps nothing for later."""
    active, refused = [], []
    for attempt in attempts:
        listener = attempt.listener
        if listener.state == "active" and not listener.awaiting_validation:
            active.append(attempt)
            continue
        refused.append(attempt)
        if listener.state == "active":
            outcome = Outcome(False, error="The listener's endpoint is not validated yet.")
        else:
            outcome = Outcome(False, error=f"The listener is {listener.state}.")
        deadletters.store(attempt.event, attempt.listener.id, attempt.number - 1, outcome)
    return active, refused


def record(made: Made, records: Records, client: redis.Redis | None = None) -> None:
    """Store the records of attempts made, feed the listeners' health, count the metrics."""
    if not made:
        return
    rows = [recorder.row(a.event, a.listener.id, a.number, outcome) for a, outcome in made]
    if records == "batched":
        recorder.recorder.save(rows)  # failures now, successes in the next background batch
    else:
        recorder.store(rows)
    health.observe([(a.listener.id, outcome) for a, outcome in made], client)
    metrics.attempts([(a.event.hook, outcome) for a, outcome in made])


def run(
    attempts: Iterable[Attempt], records: Records, refusing: bool = True, client: redis.Redis | None = None
) -> Made:
    """Post each attempt, one after the other, and record them; returns the attempts made.

    With ``refusing``, deliveries to a listener that is not active, or that answered 410 Gone
    earlier in the batch, become dead letters at once (staff re-sending by hand post them all the
    same). The caller settles failures as ``durian.pipeline.policy`` says.
    """
    made: Made = []
    gone: set[int] = set()  # answered 410 Gone earlier in this batch: disabled now
    ready = refuse(attempts)[0] if refusing else list(attempts)
    for attempt in ready:
        if attempt.listener.id in gone:
            deadletters.store(
                attempt.event,
                attempt.listener.id,
                attempt.number - 1,
                Outcome(False, error="The listener is disabled."),
            )
            continue
        outcome = post(attempt)
        made.append((attempt, outcome))
        if outcome.gone and refusing:
            gone.add(attempt.listener.id)
    record(made, records, client)
    return made
