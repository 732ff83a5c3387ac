"""Prometheus metrics (the ``metrics`` extra: ``prometheus-client``); no-ops when it is missing.

Counters and the histogram move where deliveries happen (``durian.pipeline.attempts`` and
``durian.storage.deadletters``); the gauges are read from Redis and the database by ``refresh``,
which each worker calls on every sweep and the staff-only web view calls on every scrape.

Worker processes export them the way Dramatiq's Prometheus middleware
(``dramatiq.middleware.prometheus.Prometheus``) exports its own: one exposition port per host,
multiprocess-safe through ``prometheus_client``'s multiprocess directory. ``prometheus_client``
is imported on first use only, after that middleware has set the directory up in the process.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Iterable
from typing import Any

import redis

from ..core.outcome import Outcome
from . import circuit, stats

logger = logging.getLogger("durian.metrics")

#: Upper bounds (seconds) of the attempt-duration histogram's buckets.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def available() -> bool:
    """True when ``prometheus-client`` is installed."""
    return importlib.util.find_spec("prometheus_client") is not None


@functools.cache
def _metrics() -> dict[str, Any] | None:
    if not available():
        return None
    import prometheus_client as prom

    gauge = functools.partial(prom.Gauge, multiprocess_mode="mostrecent")
    return {
        "deliveries": prom.Counter(
            "durian_deliveries", "Delivery outcomes by hook: delivered, failed (an attempt), dead.", ["hook", "outcome"]
        ),
        "duration": prom.Histogram(
            "durian_attempt_duration_seconds", "Time of one delivery attempt.", ["hook"], buckets=DURATION_BUCKETS
        ),
        "lag": gauge("durian_stream_lag", "Stream entries not yet read by the consumer group."),
        "pending": gauge("durian_stream_pending", "Stream entries read by a consumer and not yet acknowledged."),
        "outbox": gauge("durian_outbox_backlog", "Events in the outbox, not yet in the stream."),
        "dead": gauge("durian_dead_letters", "Dead letters waiting to be re-sent."),
        "listeners": gauge("durian_listeners", "Listeners by state.", ["state"]),
        "circuits": gauge("durian_circuits", "Listeners whose circuit is not closed, by state.", ["state"]),
        "held": gauge("durian_deliveries_held", "Deliveries held behind open circuits."),
    }


def attempts(results: Iterable[tuple[str, Outcome]]) -> None:
    """Count attempts ``(hook, outcome)``: delivered or failed, and their duration."""
    m = _metrics()
    if m is None:
        return
    for hook, outcome in results:
        m["deliveries"].labels(hook, "delivered" if outcome.ok else "failed").inc()
        m["duration"].labels(hook).observe(outcome.elapsed)


def dead(hook: str, count: int = 1) -> None:
    """Count deliveries that became dead letters."""
    m = _metrics()
    if m is not None and count:
        m["deliveries"].labels(hook, "dead").inc(count)


def refresh(client: redis.Redis) -> None:
    """Set the gauges from Redis and the database now (a handful of cheap queries). Never raises."""
    m = _metrics()
    if m is None:
        return
    try:
        now = stats.backlog(client)
        m["lag"].set(now.lag)
        m["pending"].set(now.pending)
        m["outbox"].set(now.outbox)
        m["dead"].set(now.dead_letters)
        for state, count in stats.listeners_by_state().items():
            m["listeners"].labels(state).set(count)
        troubled = circuit.troubled(client)
        for state in ("open", "half-open"):
            m["circuits"].labels(state).set(sum(c.state == state for c in troubled))
        m["held"].set(sum(c.waiting for c in troubled))
    except Exception as exc:  # metrics must never stop a worker
        logger.warning("durian: could not refresh the metrics: %s", exc)


def exposition() -> tuple[bytes, str]:
    """The metrics this process can serve, and their content type: in multiprocess mode (a worker
    host) every process's; in one process alone (the web server) the gauges, and a comment saying
    that the delivery counters live on the workers."""
    import prometheus_client as prom
    from prometheus_client import multiprocess

    m = _metrics() or {}
    if prom.values.ValueClass is not prom.values.MutexValue:  # multiprocess mode: every process's samples
        registry = prom.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return prom.generate_latest(registry), prom.CONTENT_TYPE_LATEST
    # One process alone (the web server): its gauges; the counters move in the workers, not here.
    registry = prom.CollectorRegistry()
    for name, metric in m.items():
        if name not in COUNTED_BY_WORKERS:
            registry.register(metric)
    return WORKERS_NOTE + prom.generate_latest(registry), prom.CONTENT_TYPE_LATEST


#: The metrics that move where deliveries happen, so only a worker's exposition has their samples.
COUNTED_BY_WORKERS = ("deliveries", "duration")
#: What a single process's exposition says about them (a Prometheus comment line).
WORKERS_NOTE = (
    b"# durian_deliveries_total and durian_attempt_duration_seconds are counted by the workers: scrape each "
    b"worker host's Prometheus endpoint (dramatiq_broker(..., prometheus=True); dramatiq_prom_port, default "
    b"9191). This endpoint shows the gauges only.\n"
)
