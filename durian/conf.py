"""durian's settings, read at call time through one accessor.

Every setting is named ``DURIAN_<NAME>`` in the Django settings module. ``durian.conf.settings.NAME``
returns the project's value or the documented default below when it is asked for, so
``override_settings`` (and anything that sends Django's ``setting_changed``) takes effect at once.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed

#: Documented defaults. README.rst ("Settings") describes each one.
DEFAULTS: dict[str, Any] = {
    # Redis server holding the event stream and the listener cache. ``None`` means: the
    # ``REDIS_URL`` environment variable, else ``redis://localhost:6379/0``.
    "REDIS_URL": None,
    # Socket timeouts (seconds) for Redis calls made on the request path (after a commit). With no
    # retries this bounds what a down or hanging Redis adds to one save.
    "REDIS_REQUEST_TIMEOUT": 1.0,
    # After a failed Redis call on the request path, that process leaves Redis alone for this many
    # seconds: events just stay in the outbox (the workers' sweep relays them), so during an outage
    # only one save per process and period pays the timeout.
    "REDIS_REQUEST_BACKOFF": 2.0,
    # Key prefix for every Redis key durian owns.
    "KEY_PREFIX": "durian",
    # Stream that carries events, its approximate length cap (``None``: no cap; trim with
    # ``manage.py durian_purge``, which never drops unconsumed entries) and its consumer group.
    "STREAM_KEY": "durian:events",
    "STREAM_MAXLEN": 1_000_000,
    "CONSUMER_GROUP": "durian",
    # How many stream entries a consumer reads at once, and how long it blocks waiting (ms).
    "BATCH_SIZE": 200,
    "BLOCK_MS": 1000,
    # Entries pending this long (ms) in a consumer that stopped are reclaimed by another one; a
    # deliver message a worker took this long ago and never started goes back to its queue.
    "CLAIM_IDLE_MS": 60_000,
    # How often (seconds) each worker sweeps the outbox, and how old (seconds) an outbox row must be
    # before the sweep relays it (younger rows are still being relayed by the process that wrote them).
    "SWEEP_INTERVAL": 5.0,
    "SWEEP_AGE": 5.0,
    # How long (seconds) Redis remembers that a webhook-id was delivered (or is being delivered), so
    # that a repeated hand-off (relay, stream reclaim, redelivered message) sends no second webhook.
    "DEDUP_TTL": 86_400,
    # Dramatiq queue of the delivery actor, and how many deliveries one message carries.
    "QUEUE_NAME": "durian",
    "DELIVERY_BATCH_SIZE": 50,
    # -- Delivery engine (durian.pipeline.lanes, durian.storage.circuit) ------------------------------
    # Requests in flight per worker process: threads for first attempts, and more for retries
    # (so retries never take the first attempts' capacity).
    "DELIVERY_CONCURRENCY": 100,
    "RETRY_CONCURRENCY": 25,
    # Requests in flight to one listener at once, across every worker (a listener may set its own).
    "LISTENER_CONCURRENCY": 16,
    # How long (ms) a listener whose requests have not answered yet still counts as answering: a
    # message keeps its queued items for it (they wait for a free slot) rather than holding them.
    "LANE_WAIT_MS": 500,
    # How long (ms) a message waits for its requests; those still in flight then are handed on
    # (recorded in Redis, settled by the thread posting them) and the message is acknowledged.
    "HANDOFF_MS": 100,
    # Connection failures or timeouts in a row that open a listener's circuit, and its cooling
    # period (seconds): doubled each time it opens again in a row, up to the maximum.
    "CIRCUIT_FAILURES": 5,
    "CIRCUIT_COOLING": 10.0,
    "CIRCUIT_COOLING_MAX": 600.0,
    # How many rows a listener's backfill reads at a time (one query, one batch of deliveries).
    "BACKFILL_CHUNK": 500,
    # How long (seconds) a backfill waits, after reading a chunk, for the events committed before it to
    # reach the workers (so that it leaves their rows to them); past it, it goes on (a row may come twice).
    "BACKFILL_SETTLE_WAIT": 10.0,
    # How long (seconds) a paused listener's events are kept for it; older ones are dropped.
    "PAUSED_RETENTION": 7 * 24 * 3600,
    # How long (seconds) a delivery in hand waits for an unreachable Redis before failing its message.
    "REDIS_OUTAGE_WAIT": 300.0,
    # Records of successful attempts are stored in the background, in one batch every this many
    # ms (at once when RECORD_BATCH wait); failed attempts are stored at once. 0: store at once.
    "RECORD_INTERVAL_MS": 200,
    "RECORD_BATCH": 1000,
    # Longest sleep (ms) of an idle Dramatiq queue consumer between polls in a worker process: it
    # bounds the wait of a delivery enqueued into an idle worker. Dramatiq's own default is 1000.
    "WORKER_POLL_MS": 20,
    # Delays (seconds) before each retry; the default follows Svix. ``len + 1`` attempts in all.
    # The ``source`` of CloudEvents deliveries (``payload_format="cloudevents"``). ``None``: the site's
    # URL, ``https://`` and the current Site's domain (django.contrib.sites), else the first host of
    # ALLOWED_HOSTS, else ``https://localhost``.
    "CLOUDEVENTS_SOURCE": None,
    "RETRY_SCHEDULE": (5, 300, 1800, 7200, 18000, 36000, 36000),
    # Each delay is spread by up to this fraction either way.
    "RETRY_JITTER": 0.2,
    # HTTP timeouts (seconds) of one delivery attempt.
    "CONNECT_TIMEOUT": 5.0,
    "READ_TIMEOUT": 15.0,
    # Total time (seconds) one attempt may take, from connecting to the last byte read; the
    # socket is cut when it runs out, even if the receiver keeps dripping bytes.
    "TOTAL_TIMEOUT": 30.0,
    # Most bytes of a response body read per attempt; the rest is never read (connection closed).
    "RESPONSE_MAX_BYTES": 64 * 1024,
    # How much of a failed response's body is kept with a dead letter (bytes).
    "RESPONSE_EXCERPT_BYTES": 2048,
    # Longest wait (seconds) honoured from a ``Retry-After`` header of a 429, 502, 503 or 504.
    "RETRY_AFTER_MAX": 3600,
    # -- SSRF defence (durian.transport.ssrf) ---------------------------------------------------------------
    # Networks (CIDR strings) listener URLs may reach although they are not public, such as
    # ``["10.20.0.0/16"]`` for a named internal network. Empty: public addresses only.
    "ALLOWED_NETWORKS": (),
    # Refuse ``http://`` listener URLs: only ``https://`` is accepted and delivered to.
    "HTTPS_ONLY": False,
    # Resolves a host name to addresses: a callable ``(host, port) -> iterable of IP strings``,
    # or its dotted path. ``None``: the system resolver (``socket.getaddrinfo``).
    "RESOLVER": None,
    # An HTTP forward proxy every outbound request goes through (deliveries and test sends), such as
    # smokescreen: ``"http://user:password@egress.internal:4750"``. ``http://`` targets are sent to
    # it in absolute form, ``https://`` ones through ``CONNECT``; it resolves names (durian still
    # vets URLs when listeners are made). Credentials in it are never shown or logged. ``None``: direct.
    "PROXY": None,
    # CA bundle (a file path) that receivers' TLS certificates are checked against. ``None``: the
    # ``certifi`` bundle ``requests`` uses.
    "CA_BUNDLE": None,
    # -- Endpoint validation (durian.pipeline.validation) ---------------------------------------------
    # Validate each listener's URL before it gets events: the CloudEvents webhook abuse-protection
    # handshake (an ``OPTIONS`` request carrying ``WebHook-Request-Origin``, answered with a 2xx
    # carrying ``WebHook-Allowed-Origin`` equal to it, or ``*``). Until then its events are kept, as for
    # a paused listener, and delivered once it is validated. A new URL is validated again.
    "VERIFY_ENDPOINTS": False,
    # The origin durian names in ``WebHook-Request-Origin`` (a DNS name, such as ``"webhooks.example.com"``).
    # ``None``: the host of ``DURIAN_CLOUDEVENTS_SOURCE`` (or of its default: the site's domain).
    "WEBHOOK_ORIGIN": None,
    # Delays (seconds) between validation attempts of a listener not validated yet; the last one
    # repeats for as long as it is not validated (its kept events expire after PAUSED_RETENTION).
    "VERIFY_SCHEDULE": (60, 300, 1800, 3600, 6 * 3600),
    # -- Endpoint health (durian.storage.health) ----------------------------------------------------------
    # A listener whose deliveries keep failing this long (seconds, no success in between) is
    # disabled. ``None`` or 0: never disable for failures (410 Gone still disables).
    "DISABLE_AFTER": 5 * 24 * 3600,
    # ``last_success_at`` is written at most this often (seconds) per listener, so a healthy
    # listener costs no database write per delivery.
    "HEALTH_WRITE_INTERVAL": 60,
    # -- Owner alerts (durian.storage.alerts) ------------------------------------------------------
    # Email a listener's owner (Django's mail, to ``owner.email``) when the listener is disabled,
    # and when its circuit has stayed open for NOTIFY_AFTER seconds. Templates:
    # ``durian/email/{listener_disabled,circuit_open}{,_subject}.txt``, overridable.
    "NOTIFY_OWNERS": True,
    # How long (seconds) a circuit stays open (endpoint unreachable) before its owner is told.
    # ``None`` or 0: no email for an open circuit.
    "NOTIFY_AFTER": 3600,
    # At most one email per listener per this many seconds, whatever the occasion.
    "NOTIFY_INTERVAL": 24 * 3600,
    # -- Listener secrets and filters -------------------------------------------------------------
    # How long (seconds) a rotated-out secret keeps signing alongside the new one.
    "SECRET_ROTATION_GRACE": 24 * 3600,
    # Keys that seal (encrypt) signing secrets at rest, newest first: any long random strings. The
    # first seals; every one opens, so rotate by putting a new key first, running
    # ``manage.py durian_reseal``, then dropping the old key. Empty: derived from ``SECRET_KEY``.
    "SECRET_KEYS": (),
    # Most listeners one user may own (staff are exempt). ``None``: no limit.
    "MAX_LISTENERS_PER_USER": 100,
    # -- The web pages ------------------------------------------------------------------------------
    # Total time (seconds) a "Send test event" may take: the page waits for it.
    "TEST_SEND_TIMEOUT": 5.0,
    # How many test events, dead-letter retries and replays one user may ask for per minute, from the
    # pages and the API together (staff are not limited).
    "TEST_SEND_RATE": 10,
    # Longest ``Like`` pattern accepted (characters).
    "LIKE_MAX_LENGTH": 1000,
    # -- Retention (durian.storage.retention), run by the workers ---------------------------------
    # Delivery records older than this (seconds) are removed. ``None`` or 0: keep them.
    "RECORD_RETENTION": 30 * 24 * 3600,
    # Dead letters re-sent successfully (status "delivered") this long ago (seconds) are removed.
    # Dead letters still dead are never removed automatically. ``None`` or 0: keep them.
    "DEAD_LETTER_RETENTION": 30 * 24 * 3600,
    # How often (seconds) one worker, on one host, runs the retention pass.
    "RETENTION_INTERVAL": 3600,
    # Rows removed per DELETE statement, and most statements per pass (the rest waits for the next).
    "RETENTION_BATCH": 5000,
    "RETENTION_MAX_BATCHES": 200,
}


def redis_url() -> str:
    """The Redis URL durian uses: ``DURIAN_REDIS_URL``, else ``$REDIS_URL``, else localhost."""
    url = getattr(django_settings, "DURIAN_REDIS_URL", None)
    return url or os.environ.get("REDIS_URL") or "redis://localhost:6379/0"


class Settings:
    """Attribute access to ``DURIAN_*`` settings with their defaults.

    A value is read from the Django settings once and kept until a setting changes: Django's
    ``setting_changed`` signal, or the settings object itself replaced (``override_settings`` and
    pytest-django's ``settings`` fixture, deletions included). The delivery path reads dozens of
    settings per delivery, and a missing Django setting costs an exception each time. ``REDIS_URL``
    follows the environment and is never kept.
    """

    def __getattr__(self, name: str) -> Any:
        wrapped = django_settings._wrapped
        if wrapped is not _holder[0]:  # settings overridden (or restored) since values were kept
            _forget()
            _holder[0] = wrapped
        try:
            return _values[name]
        except KeyError:
            pass
        if name not in DEFAULTS:
            raise AttributeError(f"durian has no setting named {name!r}")
        if name == "REDIS_URL":
            return redis_url()
        seen = _changes[0]
        value = getattr(django_settings, f"DURIAN_{name}", DEFAULTS[name])
        if seen == _changes[0]:  # not changed while it was read: keep it
            _values[name] = value
        return value


settings = Settings()
_values: dict[str, Any] = {}
_changes = [0]
_holder: list[Any] = [None]  # the Django settings object the kept values were read from


def changes() -> int:
    """How many times settings changed in this process: values derived from settings and kept
    (``durian.transport.bounded``'s vetted routes) are kept along with it and dropped when it moves."""
    return _changes[0]


def _forget(**kwargs: Any) -> None:
    _changes[0] += 1
    _values.clear()


setting_changed.connect(_forget, dispatch_uid="durian.conf")


#: The middleware durian's workers need, in order. ``DRAMATIQ_BROKER["MIDDLEWARE"]`` replaces
#: Dramatiq's defaults, so list all of them.
DRAMATIQ_MIDDLEWARE = [
    "dramatiq.middleware.AgeLimit",
    "dramatiq.middleware.TimeLimit",
    "dramatiq.middleware.ShutdownNotifications",
    "dramatiq.middleware.Callbacks",
    "dramatiq.middleware.Pipelines",
    "dramatiq.middleware.Retries",
    "django_dramatiq.middleware.DbConnectionsMiddleware",
    "workers.middleware.StreamConsumerMiddleware",
]


#: Dramatiq's Prometheus middleware (the ``metrics`` extra): one exposition port per worker host.
PROMETHEUS_MIDDLEWARE = "dramatiq.middleware.prometheus.Prometheus"


def dramatiq_broker(url: str | None = None, prometheus: bool = False, **options: Any) -> dict[str, Any]:
    """A ``DRAMATIQ_BROKER`` setting for the Redis broker with the full middleware list.

    Use it in a settings module: ``DRAMATIQ_BROKER = dramatiq_broker(os.environ["REDIS_URL"])``.
    ``prometheus=True`` adds Dramatiq's Prometheus middleware, which serves Dramatiq's and durian's
    metrics of every worker process on the host at ``$dramatiq_prom_host:$dramatiq_prom_port``
    (default ``0.0.0.0:9191``).
    Extra keyword arguments go to ``RedisBroker``: ``heartbeat_timeout`` (ms, default 60 000) is how
    long a killed worker's in-flight messages wait before another worker gets them;
    ``maintenance_chance`` (per million commands, default 1 000) how often that check runs;
    ``dead_message_ttl`` (ms) how long Dramatiq keeps its own dead messages.
    """
    return {
        "BROKER": "dramatiq.brokers.redis.RedisBroker",
        "OPTIONS": {"url": url or os.environ.get("REDIS_URL") or "redis://localhost:6379/0", **options},
        "MIDDLEWARE": [*DRAMATIQ_MIDDLEWARE, *([PROMETHEUS_MIDDLEWARE] if prometheus else [])],
    }
