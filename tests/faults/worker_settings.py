"""Settings of the worker processes the fault tests start (the test process applies ``FAULT_SETTINGS`` too).

Short claim-idle, sweep age, retry schedule and Dramatiq heartbeat, so that every recovery path runs
within seconds. ``REDIS_URL`` and ``DURIAN_TEST_DB_NAME`` come from the environment the test sets.
"""

import os

from durian.conf import dramatiq_broker
from tests.settings import *  # noqa: F403

FAULT_SETTINGS = {
    "DURIAN_CLAIM_IDLE_MS": 2000,
    "DURIAN_SWEEP_INTERVAL": 0.5,
    "DURIAN_SWEEP_AGE": 1.0,
    "DURIAN_RETRY_SCHEDULE": [0.5, 1, 2, 4, 8],
    "DURIAN_RETRY_JITTER": 0.0,
    "DURIAN_CONNECT_TIMEOUT": 1.0,
    "DURIAN_READ_TIMEOUT": 2.0,
    "DURIAN_TOTAL_TIMEOUT": 3.0,  # also bounds the lease on a delivery in flight: 3 + 5 s
    "DURIAN_REDIS_REQUEST_TIMEOUT": 1.0,
    "DURIAN_REDIS_REQUEST_BACKOFF": 2.0,
    "DURIAN_BLOCK_MS": 200,
}
globals().update(FAULT_SETTINGS)

#: A killed worker's messages go to another worker 4 s after its last heartbeat (production: 60 s), checked
#: on half of the broker commands (production: one in a thousand).
DRAMATIQ_BROKER = dramatiq_broker(os.environ.get("REDIS_URL"), heartbeat_timeout=4000, maintenance_chance=500_000)
