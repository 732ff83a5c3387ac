"""durian's Dramatiq side, as django-dramatiq's autodiscovery loads it in worker processes.

Importing this module declares the ``durian.deliver`` actor (``workers.actors``) and makes sure the
broker runs the stream consumer (``workers.middleware.StreamConsumerMiddleware``), adding it when
``DRAMATIQ_BROKER["MIDDLEWARE"]`` does not list it (system check ``durian.W003`` says so).
"""

from __future__ import annotations

import dramatiq

from workers import actors  # noqa: F401  (declares the actors)
from workers.middleware import install

install(dramatiq.get_broker())
