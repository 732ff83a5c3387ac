"""Settings of the worker process the metrics test starts: the fault tests' ones, plus Dramatiq's
Prometheus middleware (``dramatiq_broker(prometheus=True)``)."""

import os

from durian.conf import dramatiq_broker
from tests.faults.worker_settings import *  # noqa: F403

DRAMATIQ_BROKER = dramatiq_broker(os.environ.get("REDIS_URL"), prometheus=True)
#: Three attempts, quickly, so the refused listener's deliveries become dead letters within a second.
DURIAN_RETRY_SCHEDULE = [0.2, 0.2]
#: The refused listener's attempts must run to their dead letters: no circuit holds them here
#: (tests/test_delivery_engine.py covers the circuit).
DURIAN_CIRCUIT_FAILURES = 1000
