"""The Dramatiq middleware that runs durian's stream consumer in every worker process."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq

from durian.conf import settings

from .taken import taken

logger = logging.getLogger("durian.workers")


class StreamConsumerMiddleware(dramatiq.Middleware):
    """Starts a stream consumer thread after the worker boots, and stops it before shutdown.

    List it in ``DRAMATIQ_BROKER["MIDDLEWARE"]`` (``durian.conf.dramatiq_broker`` does); when it is
    missing, ``durian.tasks`` adds it as the workers load, and system check ``durian.W003`` warns.
    """

    def __init__(self) -> None:
        self.consumer: Any = None

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        """Cap how long an idle queue consumer sleeps between polls (``DURIAN_WORKER_POLL_MS``).

        Dramatiq's Redis consumers poll with a growing back-off up to the worker timeout (1 s by
        default); a delivery enqueued while the consumer sleeps waits that long. The consumers are
        created right after this hook, so they pick the lower value up.
        """
        poll_ms = int(settings.WORKER_POLL_MS)
        if poll_ms > 0:
            worker.worker_timeout = min(worker.worker_timeout, poll_ms)

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        # Imported here: Django builds the broker, and with it this middleware, before the app
        # registry is ready; the consumer needs the models.
        from .consumer import StreamConsumer

        taken.watch(worker)
        self.consumer = StreamConsumer(broker=broker)
        self.consumer.start()

    # What this process has in hand, so that its stream consumer gives back only the messages it
    # took and lost track of (``workers.taken``).
    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        taken.hold(message)

    def before_delay_message(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        taken.hold(message)

    def after_ack(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        taken.release(message)

    def after_nack(self, broker: dramatiq.Broker, message: dramatiq.Message) -> None:
        taken.release(message)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self.consumer is not None:
            self.consumer.stop()
            self.consumer = None
        from durian.pipeline import lanes
        from durian.storage import marks
        from durian.storage.recorder import recorder

        lanes.drain(float(settings.TOTAL_TIMEOUT) + 5)  # requests handed on settle before the process ends
        marks.drain(10.0)  # done marks and in-flight records still waiting (unwritten: as after a kill)
        recorder.flush()  # the delivery records still waiting


def install(broker: dramatiq.Broker) -> None:
    """Add the middleware to ``broker`` unless it is there already."""
    if not any(isinstance(m, StreamConsumerMiddleware) for m in broker.middleware):
        broker.add_middleware(StreamConsumerMiddleware())
