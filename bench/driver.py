"""One system's side of the benchmark, run in that system's own interpreter.

``python bench/driver.py durian|peer COMMAND [JSON-ARGS]`` prints one JSON object. The orchestrator
(``bench/run.py``) runs it with the system's virtualenv and settings module; everything here uses
only Django, the system's public API and redis-py, so the same code measures both systems.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


class RoundTrips:
    """Counts redis-py round trips (one per command, one per pipeline) made in this process."""

    def __init__(self) -> None:
        from redis.connection import AbstractConnection

        self.count = 0
        original = AbstractConnection.send_packed_command
        counter = self

        def counted(conn: Any, command: Any, check_health: bool = True) -> Any:
            counter.count += 1
            return original(conn, command, check_health)

        AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]


def targets(count: int, url: str, holes: int) -> list[str]:
    """``count`` listener URLs under ``url``, after ``holes`` black holes (the receiver's ``/hole``)."""
    base = url.split("/", 3)
    root = "/".join(base[:3])
    return [f"{root}/hole"] * holes + [url] * count


class Durian:
    settings = "bench.settings"

    def setup(self) -> None:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)

    @property
    def model(self) -> Any:
        from example_project.people.models import Person

        return Person

    def hook(self, on: bool) -> None:
        from durian.registry import hooks
        from example_project.people.hooks import PersonHook

        if on and "person" not in hooks:
            hooks.register(PersonHook)
        if not on and "person" in hooks:
            hooks.unregister("person")

    def listeners(
        self, count: int, url: str, holes: int = 0, ordered: bool = False, max_in_flight: int | None = None
    ) -> None:
        from django.db import transaction

        from durian.models import Listener
        from durian.storage import listener_cache as cache
        from durian.storage.connection import get_redis
        from example_project.people.hooks import PersonHook

        Listener.objects.all().delete()
        with transaction.atomic():
            for i, target in enumerate(targets(count, url, holes)):
                extra = {"max_in_flight": max_in_flight} if max_in_flight else {}
                PersonHook().listener(url=f"{target}/l{i}", ordered=ordered, **extra).save()
        cache.rebuild(get_redis("worker"))

    def redis_url(self) -> str:
        return os.environ["REDIS_URL"]


class Peer:
    settings = "bench.peer.settings"

    def setup(self) -> None:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False, run_syncdb=True)
        from django_webhook.models import populate_topics_from_settings

        populate_topics_from_settings()

    @property
    def model(self) -> Any:
        from bench.peer.models import Person

        return Person

    def hook(self, on: bool) -> None:
        from django.db.models.signals import post_save
        from django_webhook.signals import SignalListener

        listener = SignalListener(signal=post_save, signal_name="post_save", model_cls=self.model)
        if on:
            listener.connect()
        else:
            post_save.disconnect(sender=self.model, dispatch_uid=listener.uid)
            from django.db.models.signals import post_delete

            post_delete.disconnect(sender=self.model, dispatch_uid=f"django_webhook_{listener.model_label}_post_delete")

    def listeners(self, count: int, url: str, holes: int = 0) -> None:
        from django_webhook.models import Webhook, WebhookSecret, WebhookTopic

        Webhook.objects.all().delete()
        topic = WebhookTopic.objects.get(name="peer.Person/create")
        for i, target in enumerate(targets(count, url, holes)):
            webhook = Webhook.objects.create(url=f"{target}/l{i}")
            webhook.topics.add(topic)
            WebhookSecret.objects.create(webhook=webhook, token="bench-secret-0123456789")

    def redis_url(self) -> str:
        from django.conf import settings

        return settings.CELERY_BROKER_URL


def commandstats(url: str) -> dict[str, int]:
    import redis

    stats = redis.Redis.from_url(url).info("commandstats")
    return {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}


def save_overhead(system: Any, count: int, rounds: int) -> dict[str, Any]:
    """Median ``create()`` time with the hook off and on, and the cost of one 1,000-save transaction."""
    from django.db import connection, transaction

    model = system.model
    times: dict[bool, list[float]] = {False: [], True: []}
    for on in (False, True):  # warm up both paths
        system.hook(on)
        for i in range(20):
            model.objects.create(name=f"warm{i}", address="1 Main St", secret="s")
    for r in range(rounds):
        for on in (False, True) if r % 2 == 0 else (True, False):
            system.hook(on)
            for i in range(count):
                started = time.perf_counter()
                model.objects.create(name=f"s{r}-{i}", address="1 Main St", secret="s")
                times[on].append(time.perf_counter() - started)
    off, on = statistics.median(times[False]), statistics.median(times[True])

    system.hook(True)
    model.objects.create(name="warm", address="1 Main St", secret="s")  # a warm connection, as on a live site
    trips = RoundTrips()
    before = commandstats(system.redis_url())
    trips.count = 0
    started = time.perf_counter()
    with transaction.atomic():
        for i in range(1000):
            model.objects.create(name=f"t{i}", address="1 Main St", secret="s")
    elapsed = time.perf_counter() - started
    round_trips = trips.count
    after = commandstats(system.redis_url())
    commands = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    commands = {k: v for k, v in commands.items() if v and k not in ("info",)}
    return {
        "vendor": connection.vendor,
        "create_off_ms": off * 1000,
        "create_on_ms": on * 1000,
        "overhead_ms": (on - off) * 1000,
        "ratio": on / off,
        "tx1000_round_trips": round_trips,
        "tx1000_commands": commands,
        "tx1000_seconds": elapsed,
    }


def produce(system: Any, count: int, batch: int, prefix: str) -> dict[str, Any]:
    """Create ``count`` objects in transactions of ``batch``, as fast as possible."""
    from django.db import transaction

    system.hook(True)
    model = system.model
    started = time.time()
    for start in range(0, count, batch):
        with transaction.atomic():
            for i in range(start, min(count, start + batch)):
                model.objects.create(name=f"{prefix}{i}", address="1 Main St", secret="s")
    return {"start": started, "end": time.time()}


def paced(system: Any, count: int, rate: float, prefix: str) -> dict[str, Any]:
    """Create ``count`` objects at ``rate`` per second, each saved (and committed) on its own.

    Each event's clock starts before its ``create()`` call, so its latency includes the commit
    and whatever the system does in the request before ``create()`` returns.
    """
    system.hook(True)
    model = system.model
    commits: dict[str, float] = {}
    started = time.time()
    for i in range(count):
        due = started + i / rate
        delay = due - time.time()
        if delay > 0:
            time.sleep(delay)
        name = f"{prefix}{i}"
        commits[name] = time.time()
        model.objects.create(name=name, address="1 Main St", secret="s")
    return {"start": started, "end": time.time(), "commits": commits}


def fanout(sizes: list[int], events: int) -> dict[str, Any]:
    """Time ``Snapshot.matching`` per event against ``n`` listeners of one hook.

    The listeners are a multi-tenant site's: 60 % filter ``name`` with ``Is``, 30 % filter
    ``address`` with ``Startswith``, 10 % combine ``Is`` with ``Contains``, plus 10 listeners that
    take every event. Each event matches a handful of them, whatever ``n`` is.
    """
    import random

    from durian import match
    from durian.core.recipients import ListenerView, Snapshot

    rng = random.Random(6)

    def filters(i: int) -> dict[str, Any]:
        kind = i % 10
        if kind < 6:
            return {"name": match.Is(f"n{i}")}
        if kind < 9:
            return {"address": match.Startswith(f"{i} ")}
        return {"name": match.Is(f"n{i}"), "address": match.Contains("Main")}

    out: dict[str, Any] = {}
    for n in sizes:
        listeners = [
            ListenerView(i, "person", f"http://127.0.0.1/{i}", ("whsec_x",), "active", filters(i)) for i in range(n)
        ] + [ListenerView(n + i, "person", "http://127.0.0.1/all", ("whsec_x",), "active", {}) for i in range(10)]
        snap = Snapshot.of(b"1", listeners)
        payloads = [
            {"name": f"n{rng.randrange(2 * n)}", "address": f"{rng.randrange(2 * n)} Main St", "created": True}
            for _ in range(events)
        ]
        snap.matching("person", payloads[0])
        started = time.perf_counter()
        matched = sum(len(snap.matching("person", p)) for p in payloads)
        per_event = (time.perf_counter() - started) / events
        sample = payloads[: max(1, events // 10)]
        naive_started = time.perf_counter()
        for p in sample:
            [x for x in listeners if x.active and match.matches(x.filters, p)]
        naive_per_event = (time.perf_counter() - naive_started) / len(sample)
        out[str(n)] = {
            "ms_per_event": per_event * 1000,
            "naive_ms_per_event": naive_per_event * 1000,
            "matches_per_event": matched / events,
        }
    return out


def events(rows: int, rounds: int = 3) -> dict[str, Any]:
    """What shaping events costs (durian only): change tracking per loaded instance, and a bulk
    ``update()`` of ``rows`` rows through a plain manager and through ``HookedQuerySet``.

    Tracking is on while a hook with ``on_change`` is registered for the model; it costs each
    instance built one step (``post_init``). Times are medians of ``rounds`` runs.
    """
    import gc

    from django.db import transaction
    from django.db.models import QuerySet

    from durian.bulk import HookedQuerySet
    from durian.registry import hooks
    from durian.storage.connection import get_redis
    from example_project.people.hooks import PersonHook
    from example_project.people.models import Person

    class PersonChanges(PersonHook):
        name = "person.changes"
        on_change = ("name",)

    Durian().hook(True)
    with transaction.atomic():
        Person.objects.all().delete()
        Person.objects.bulk_create([Person(name=f"p{i}", address="1 Main St") for i in range(rows)])
    get_redis("worker").flushdb()

    def load_us() -> float:
        gc.collect()
        started = time.perf_counter()
        list(Person.objects.all())
        return (time.perf_counter() - started) / rows * 1e6

    offs, ons = [], []
    for _ in range(2 * rounds + 1):  # alternated, so drift on a busy machine hits both alike
        offs.append(load_us())
        hooks.register(PersonChanges)
        ons.append(load_us())
        hooks.unregister(PersonChanges)
    load_off, load_on = statistics.median(offs), statistics.median(ons)

    counter = RoundTrips()

    def update_ms(queryset: Any) -> tuple[float, int]:
        times, trips = [], 0
        for r in range(rounds):
            counter.count = 0
            started = time.perf_counter()
            queryset.update(address=f"{r} Bulk St")
            times.append((time.perf_counter() - started) * 1000)
            trips = counter.count
            get_redis("worker").flushdb()
        return statistics.median(times), trips

    plain_ms, plain_trips = update_ms(QuerySet(Person))
    hooked_ms, hooked_trips = update_ms(HookedQuerySet(Person))
    return {
        "rows": rows,
        "load_off_us": load_off,
        "load_on_us": load_on,
        "tracking_us": load_on - load_off,
        "update_plain_ms": plain_ms,
        "update_hooked_ms": hooked_ms,
        "update_plain_round_trips": plain_trips,
        "update_hooked_round_trips": hooked_trips,
    }


def tracing(deliveries: int, rounds: int = 5) -> dict[str, Any]:
    """What OpenTelemetry adds per delivery (durian only): this process's CPU for the tracing work
    of one delivery, from an event made inside a request's span to its attempt (carrier stored
    with the event, carried in the item, a share of a ``durian.fanout`` span per 200 entries, the
    ``durian.deliver`` span with its attributes and its ``traceparent`` header). The HTTP request
    itself is left out: it is the same in every mode, and its noise (hundreds of us on a shared
    machine) would hide tens. Three modes: ``off`` (as without OpenTelemetry installed), ``api``
    (the API without an SDK: spans do not record) and ``sdk`` (the SDK recording every span, a
    ``BatchSpanProcessor`` exporting to nowhere). The fastest of ``rounds`` rounds, modes interleaved."""
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    from durian.core import tracing as durian_tracing
    from durian.core.event import Event
    from durian.pipeline import queue

    try:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    except ImportError:  # no SDK in this environment: "sdk" is not measured
        TracerProvider = None  # noqa: N806

    provider = None
    if TracerProvider is not None:

        class Nowhere(SpanExporter):
            def export(self, spans: Any) -> Any:
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(Nowhere()))
    # The site's request span: the same in every mode (not durian's cost).
    request = NonRecordingSpan(SpanContext(0x1234, 0x5678, is_remote=False, trace_flags=TraceFlags(1)))
    url, batch = "http://127.0.0.1:8000/hook", 200

    def run() -> float:
        started = time.process_time()
        for first in range(0, deliveries, batch):
            with trace.use_span(request):
                events = [Event("bench", {"i": i}) for i in range(first, min(first + batch, deliveries))]
            with durian_tracing.fanning_out([e.trace for e in events], len(events)) as fanout:
                items = [queue.item(e, 1) for e in events]
                fanout.set(deliveries=len(items))
            for data in items:
                event = queue.event_of(data)
                with durian_tracing.delivering(event.trace, event.hook, 1, url, 1) as span:
                    headers = {"webhook-id": event.webhook_id(1), **span.carrier()}
                    span.set(status=200, outcome="delivered")
                assert headers
        return (time.process_time() - started) / deliveries * 1e6

    modes = ["off", "api"] + (["sdk"] if provider else [])
    times: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(rounds):
        for mode in modes:
            durian_tracing._api = False if mode == "off" else None
            trace._TRACER_PROVIDER = provider if mode == "sdk" else None  # the global provider, swapped
            times[mode].append(run())
    result: dict[str, Any] = {f"{mode}_us": min(t) for mode, t in times.items()}
    result["deliveries"] = deliveries
    return result


def main() -> None:
    system = {"durian": Durian, "peer": Peer}[sys.argv[1]]()
    command = sys.argv[2]
    args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", system.settings)
    import django

    django.setup()
    if command == "setup":
        system.setup()
        result: Any = {"ok": True}
    elif command == "listeners":
        if args.get("ordered"):  # durian only: the peer has no ordered listeners
            system.listeners(args["count"], args["url"], args.get("holes", 0), ordered=True)
        elif args.get("max_in_flight"):  # durian only: the peer has no per-listener cap
            system.listeners(args["count"], args["url"], args.get("holes", 0), max_in_flight=args["max_in_flight"])
        else:
            system.listeners(args["count"], args["url"], args.get("holes", 0))
        result = {"ok": True}
    elif command == "save":
        result = save_overhead(system, args["count"], args["rounds"])
    elif command == "produce":
        result = produce(system, args["count"], args["batch"], args["prefix"])
    elif command == "paced":
        result = paced(system, args["count"], args["rate"], args["prefix"])
    elif command == "events":
        result = events(args["rows"])
    elif command == "fanout":
        result = fanout(args["sizes"], args["events"])
    elif command == "tracing":
        result = tracing(args["deliveries"])
    else:
        raise SystemExit(f"unknown command {command!r}")
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
