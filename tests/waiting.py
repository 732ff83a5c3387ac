"""Waiting on a condition with a generous deadline, instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], timeout: float = 30.0, what: str = "", every: float = 0.05) -> float:
    """Poll ``predicate`` until it holds; returns the seconds it took, fails after ``timeout``."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or 'the condition'}")
        time.sleep(every)


def deliver_now(items: list[dict]) -> None:
    """What the ``durian.deliver`` actor does with one message, then wait for the requests it handed on."""
    from durian.pipeline import lanes
    from workers.actors import deliver

    deliver.fn(items)
    assert lanes.drain(30), "requests handed on still in flight after 30 s"


def pipeline_state() -> dict[str, object]:
    """What is still on its way to a receiver, by stage (all zero once everything settled), and the
    circuits not closed: what a fault test prints when it times out."""
    from durian.conf import settings
    from durian.models import DeadLetter, OutboxEvent
    from durian.storage import circuit, inflight, later, parked
    from durian.storage.connection import get_redis

    client = get_redis("worker")
    state: dict[str, object] = {"outbox": OutboxEvent.objects.count(), "stream_pending": 0}
    if client.exists(settings.STREAM_KEY):
        groups = {g["name"].decode(): g for g in client.xinfo_groups(settings.STREAM_KEY)}
        group = groups.get(settings.CONSUMER_GROUP)
        if group:
            state["stream_pending"] = group["pending"]
            state["stream_lag"] = group.get("lag")
    for name in client.scan_iter("dramatiq:*.msgs"):
        if b".XQ." not in name and (n := client.hlen(name)):
            state[name.decode().removeprefix("dramatiq:").removesuffix(".msgs")] = n
    taken = dramatiq_taken(client)
    if taken:
        state["dramatiq_taken"] = taken
    state["in_flight_records"] = inflight.count(client)
    state["kept_for_later"] = later.count(client)
    state["parked"] = sum(parked.count(client, i) for i in parked.listeners(client))
    state["dead_letters"] = DeadLetter.objects.count()
    state["circuits"] = [c.describe() for c in circuit.troubled(client)]
    return state


def dramatiq_taken(client) -> dict[str, str]:
    """Where Dramatiq's Redis broker has the messages not waiting in a queue: for each queue, how
    many each worker identity took (its ``__acks__`` set), and how long ago that identity last beat.
    A live worker that keeps beating never gives back a message it took and lost track of."""
    beats = {m.decode(): s for m, s in client.zrange("dramatiq:__heartbeats__", 0, -1, withscores=True)}
    now_ms = time.time() * 1000
    out = {}
    for key in client.scan_iter("dramatiq:__acks__.*"):
        worker, _, queue = key.decode().removeprefix("dramatiq:__acks__.").partition(".")
        if n := client.scard(key):
            beat = beats.get(worker)
            since = f"beat {(now_ms - beat) / 1000:.1f} s ago" if beat is not None else "no heartbeat"
            out[f"{queue} by {worker[:8]}"] = f"{n} ({since})"
    return out


def nothing_in_flight() -> bool:
    """Nothing is left that could still reach a receiver (a late repeat, say): no outbox row, no
    stream entry pending in the consumer group, no Dramatiq message queued, delayed or running, no
    delivery handed on in flight or kept for a retry. (A paused listener's parked events wait for it.)"""
    state = pipeline_state()
    return not any(
        v for k, v in state.items() if k not in {"dead_letters", "circuits", "stream_lag", "parked", "dramatiq_taken"}
    )
