"""A real Dramatiq worker in the test process: what ``rundramatiq`` runs, started and stopped cleanly."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dramatiq


@contextmanager
def running_worker(threads: int = 4) -> Iterator[dramatiq.Worker]:
    """Start a worker on the (flushed) broker with durian's actors and stream consumer; stop it after.

    The actors are loaded first, as ``rundramatiq`` loads ``durian.tasks``: a worker started before
    the deliver actor is declared has no consumer for its queue. On the way out the worker's
    middleware is taken off the broker: left there, it would start a consumer for every queue
    declared later, which takes the next tests' messages and never runs them.
    """
    import durian.tasks  # noqa: F401

    broker = dramatiq.get_broker()
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=10_000)
        broker.middleware[:] = [m for m in broker.middleware if getattr(m, "worker", None) is not worker]
        # The delivery engine is per process: a test's lanes (a circuit seen open, slots held, attempts
        # queued for a silent receiver) must not reach the next test's worker.
        from durian.pipeline import lanes

        lanes.engine().forget()
