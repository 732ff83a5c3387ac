"""Owner alerts: an email to a listener's owner when it is disabled, or its circuit stays open.

Behind ``DURIAN_NOTIFY_OWNERS`` (default on). Two occasions send one:

- the listener was **disabled** (``durian.signals.listener_disabled``, connected in
  ``durian.apps``): the email says why;
- its **circuit has stayed open** for ``DURIAN_NOTIFY_AFTER`` seconds (``durian.storage.circuit``
  lists the open circuits by when they opened). The workers run ``run_due`` on every sweep; a
  Redis lease named ``alerts``, held for ``DURIAN_SWEEP_INTERVAL`` and never released early, lets
  one process on one host look. One email per run of openings: the next one needs the circuit to
  close and open again.

An owner gets at most one email per listener per ``DURIAN_NOTIFY_INTERVAL`` seconds, whatever the
occasion: a Redis key per listener (``<prefix>:alerted:<id>``, set with NX and that expiry) says
"emailed lately". A listener without an owner, or whose owner has no email address, sends none.

The emails are Django templates, so a project overrides them with its own under the same names:
``durian/email/<occasion>_subject.txt`` and ``durian/email/<occasion>.txt``, where occasion is
``listener_disabled`` or ``circuit_open``. Their context: ``listener``, ``owner``, ``reason``,
``hook``, ``url`` (the listener's URL with any password masked) and, for an open circuit,
``open_since`` (a datetime) and ``open_for`` (words).
"""

from __future__ import annotations

import datetime
import logging
import time
from typing import Any

import redis
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone

from ..conf import settings
from ..core.durations import in_words
from ..core.redact import printable
from ..models import Listener
from . import circuit
from .connection import get_redis
from .lease import Lease

logger = logging.getLogger("durian.alerts")

DISABLED = "listener_disabled"
CIRCUIT_OPEN = "circuit_open"


def alerted_key(listener_id: int) -> str:
    """The Redis key that says this listener's owner was emailed within ``DURIAN_NOTIFY_INTERVAL``."""
    return f"{settings.KEY_PREFIX}:alerted:{listener_id}"


def recipient(listener: Listener) -> str | None:
    """The address to write to: the owner's email, or ``None`` (no owner, no address, alerts off)."""
    if not settings.NOTIFY_OWNERS:
        return None
    owner = listener.owner
    address = getattr(owner, "email", "") if owner is not None else ""
    return address or None


def _claim(listener_id: int, client: redis.Redis | None) -> bool:
    """Take this listener's email slot for the interval; False when an email went out within it.

    Redis unreachable: True (an owner may then get one email too many, never none).
    """
    interval = int(float(settings.NOTIFY_INTERVAL or 0))
    if interval <= 0:
        return True
    try:
        client = client or get_redis("request")
        return bool(client.set(alerted_key(listener_id), int(time.time()), nx=True, ex=interval))
    except redis.RedisError as exc:
        logger.warning("durian: alert interval of listener %s unknown (%s); emailing anyway", listener_id, exc)
        return True


def notify(listener: Listener, occasion: str, client: redis.Redis | None = None, **context: Any) -> bool:
    """Email ``listener``'s owner about ``occasion`` unless one went out within the interval.

    Returns True when an email was sent. Never raises: an alert must not disturb the delivery
    (or the disabling) that caused it.
    """
    try:
        address = recipient(listener)
        if address is None or not _claim(listener.pk, client):
            return False
        context = {
            "listener": listener,
            "owner": listener.owner,
            "hook": listener.hook,
            "url": listener.display_url,
            **context,
        }
        subject = " ".join(render_to_string(f"durian/email/{occasion}_subject.txt", context).split())
        body = render_to_string(f"durian/email/{occasion}.txt", context)
        send_mail(subject, body, None, [address])
    except Exception:
        logger.exception("durian: could not email the owner of listener %s (%s)", listener.pk, occasion)
        return False
    logger.info("durian: emailed the owner of listener %s (%s)", listener.pk, occasion)
    return True


def on_listener_disabled(sender: Any, listener: Listener, reason: str, **kwargs: Any) -> None:
    """``listener_disabled`` receiver: tell the owner, with the reason."""
    notify(listener, DISABLED, reason=printable(reason))


def check_circuits(client: redis.Redis) -> int:
    """Email the owners of active listeners whose circuit has been open ``DURIAN_NOTIFY_AFTER``
    seconds or more; returns how many were sent."""
    after = float(settings.NOTIFY_AFTER or 0)
    if not settings.NOTIFY_OWNERS or after <= 0:
        return 0
    now = time.time()
    found = circuit.open_since(client, now - after)
    if not found:
        return 0
    sent = 0
    listeners = Listener.objects.select_related("owner").in_bulk(list(found))
    for listener_id, opened_at in found.items():
        listener = listeners.get(listener_id)
        if listener is None or listener.state != Listener.State.ACTIVE:
            continue  # deleted, or paused or disabled: nothing is being held for it
        circuit.mark_alerted(client, listener_id)
        since = datetime.datetime.fromtimestamp(opened_at, tz=datetime.UTC)
        reason = f"Its endpoint has not answered since {since:%Y-%m-%d %H:%M} UTC: deliveries are held."
        sent += notify(
            listener,
            CIRCUIT_OPEN,
            client,
            reason=reason,
            open_since=timezone.localtime(since),
            open_for=in_words(now - opened_at),
        )
    return sent


def run_due(client: redis.Redis) -> int | None:
    """Look for long-open circuits if no process looked within ``DURIAN_SWEEP_INTERVAL``.

    Returns how many emails went out, or ``None`` when another process holds the lease.
    """
    if not settings.NOTIFY_OWNERS:
        return 0
    lease = Lease(client, "alerts", max(1000, int(float(settings.SWEEP_INTERVAL) * 1000)))
    if not lease.acquire():
        return None
    return check_circuits(client)
