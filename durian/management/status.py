"""What an operator wants to know at a glance: backlog, stuck entries, outbox, dead letters."""

from __future__ import annotations

import time
from typing import Any

import redis
from django.db.models import Count, Min

from ..conf import settings
from ..core.redact import display_url, printable
from ..models import Backfill, DeadLetter, Listener, OutboxEvent
from ..storage import circuit, ordered, parked, stream


def gather(client: redis.Redis) -> dict[str, Any]:
    """The state of the pipeline as plain data (``manage.py durian_status --json`` prints it)."""
    outbox = OutboxEvent.objects.aggregate(count=Count("id"), oldest=Min("created_at"))
    groups = stream.groups(client)
    for g in groups:
        g["consumers"] = stream.consumers(client, g["name"])
        running = stream.alive(client, [c["name"] for c in g["consumers"]])
        for c in g["consumers"]:
            c["alive"] = c["name"] in running
    dead = (
        DeadLetter.objects.filter(status=DeadLetter.Status.DEAD)
        .values("hook", "listener_id", "listener__url")
        .annotate(count=Count("id"))
        .order_by("hook", "listener_id")
    )
    return {
        "stream": {"key": settings.STREAM_KEY, "length": stream.length(client), "groups": groups},
        "outbox": {
            "count": outbox["count"],
            "oldest_age_s": round(time.time() - outbox["oldest"], 1) if outbox["oldest"] else None,
        },
        "dead_letters": [
            {
                "hook": d["hook"],
                "listener": d["listener_id"],
                "url": display_url(d["listener__url"]),
                "count": d["count"],
            }
            for d in dead
        ],
        "circuits": [
            {
                "listener": c.listener_id,
                "state": c.state,
                "open_until": c.open_until,
                "fails": c.fails,
                "waiting": c.waiting,
                "text": c.describe(),
            }
            for c in circuit.troubled(client)
        ],  # fmt: skip
        "ordered_lanes": [
            {"listener": listener_id, "waiting": waiting, "next_at": next_at}
            for listener_id, (waiting, next_at) in sorted(ordered.backlogs(client).items())
        ],
        "backfills": [  # not done: waiting for a worker, running, or failed
            {"listener": b.listener_id, "state": b.state, "read": b.read, "total": b.total, "text": b.describe()}
            for b in Backfill.objects.exclude(state=Backfill.State.DONE).order_by("listener_id")
        ],
        "disabled_listeners": [
            {"id": x.pk, "hook": x.hook, "url": x.display_url, "reason": printable(x.disabled_reason)}
            for x in Listener.objects.filter(state=Listener.State.DISABLED).order_by("pk")
        ],
        "awaiting_validation": [
            {
                "id": x.pk,
                "hook": x.hook,
                "url": x.display_url,
                "kept": parked.count(client, x.pk),
                "error": printable(x.validation_error),
                "next_at": x.validation_next_at.timestamp() if x.validation_next_at else None,
            }
            for x in (_unvalidated() if settings.VERIFY_ENDPOINTS else [])
        ],
    }


def _unvalidated() -> list[Listener]:
    """Active listeners whose URL is not validated (``DURIAN_VERIFY_ENDPOINTS``): they get nothing yet."""
    found = Listener.objects.filter(state=Listener.State.ACTIVE, validated_at__isnull=True).order_by("pk")
    return [x for x in found if not x.url_validated]


def render(status: dict[str, Any]) -> list[str]:
    """The state as lines of text."""
    s = status["stream"]
    lines = [f"Stream {s['key']}: {s['length']} entries"]
    if not s["groups"]:
        lines.append("  no consumer group yet (no worker has run)")
    for g in s["groups"]:
        lines.append(
            f"  group {g['name']}: lag {g['lag']} (not yet read), pending {g['pending']} (read, not acknowledged), "
            f"last delivered {g['last-delivered-id']}"
        )
        for c in g["consumers"]:
            idle = int(c["idle"]) / 1000
            if c.get("alive"):
                state = f"running, last entry {idle:.1f} s ago" + (
                    " (waiting for new entries)" if not c["pending"] else ""
                )
            else:
                state = f"not running (no heartbeat for {stream.beat_ttl()} s), idle {idle:.1f} s"
            lines.append(f"    consumer {printable(c['name'])}: {state}, pending {c['pending']}")
    o = status["outbox"]
    age = f", oldest {o['oldest_age_s']} s old" if o["oldest_age_s"] is not None else ""
    lines.append(f"Outbox: {o['count']} event(s) waiting for the stream{age}")
    dead = status["dead_letters"]
    lines.append(f"Dead letters: {sum(d['count'] for d in dead)}")
    for d in dead:
        lines.append(f"  {d['hook']} -> listener {d['listener']} ({d['url']}): {d['count']}")
    circuits = status.get("circuits", [])
    lines.append(f"Listeners with trouble (circuit open, or deliveries held): {len(circuits)}")
    for c in circuits:
        lines.append(f"  listener {c['listener']}: {c['text']}")
    lanes = status.get("ordered_lanes", [])
    lines.append(f"Ordered listeners with a backlog: {len(lanes)}")
    for lane in lanes:
        when = lane["next_at"]
        nxt = "now" if when <= time.time() else "at " + time.strftime("%H:%M:%S", time.localtime(when))
        lines.append(f"  listener {lane['listener']}: {lane['waiting']} waiting, next delivery {nxt}")
    backfills = status.get("backfills", [])
    if backfills:
        lines.append(f"Backfills not done: {len(backfills)}")
        for b in backfills:
            lines.append(f"  listener {b['listener']}: {printable(b['text'])}")
    disabled = status["disabled_listeners"]
    lines.append(f"Disabled listeners: {len(disabled)}")
    for x in disabled:
        reason = f": {x['reason']}" if x["reason"] else ""
        lines.append(f"  #{x['id']} {x['hook']} -> {x['url']}{reason}")
    waiting = status.get("awaiting_validation", [])
    if waiting:
        lines.append(f"Listeners waiting for endpoint validation (their events are kept): {len(waiting)}")
    for x in waiting:
        error = f"; last try: {x['error']}" if x["error"] else ""
        when = x["next_at"]
        nxt = f"; next try at {time.strftime('%H:%M:%S', time.localtime(when))}" if when else ""
        lines.append(f"  #{x['id']} {x['hook']} -> {x['url']}: {x['kept']} event(s) kept{error}{nxt}")
    return lines
