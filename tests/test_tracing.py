"""One trace from the site's request to the receiver (OpenTelemetry, the ``otel`` extra).

The real OpenTelemetry SDK records spans into its in-memory exporter; events made inside a span
reach a real receiver through a real worker with a ``traceparent`` of that span's trace.
"""

import sys

import pytest
from django.db import transaction
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

from durian.core import tracing
from durian.core.event import Event
from durian.core.sealing import seal
from durian.models import OutboxEvent
from durian.storage import stream
from durian.transport import delivery
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

from .waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def spans(monkeypatch):
    """The SDK as this test's global tracer provider; the exporter holds the finished spans."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(trace, "_TRACER_PROVIDER", provider)  # restored after the test
    exporter.tracer = provider.get_tracer("the site")
    yield exporter
    provider.shutdown()


def traceparent(value: str) -> tuple[int, int]:
    """``(trace id, span id)`` of a ``traceparent`` header."""
    version, trace_id, span_id, flags = value.split("-")
    assert version == "00" and int(flags, 16) & 1  # sampled
    return int(trace_id, 16), int(span_id, 16)


def finished(spans: InMemorySpanExporter, name: str, count: int = 1) -> list:
    wait_until(lambda: len([s for s in spans.get_finished_spans() if s.name == name]) >= count, what=name)
    return sorted((s for s in spans.get_finished_spans() if s.name == name), key=lambda s: s.start_time)


def test_an_event_made_inside_a_span_reaches_the_receiver_in_the_same_trace(worker, receiver, spans):
    receiver.respond(500)  # the first attempt fails, the retry delivers: two attempts, one trace
    listener = PersonHook().listener(url=receiver.url).save()
    with spans.tracer.start_as_current_span("POST /people/") as request:
        Person.objects.create(name="Joe")
    site = request.get_span_context()

    (delivered,) = receiver.wait_for(1)
    first, second = receiver.requests
    assert traceparent(first.headers["traceparent"])[0] == site.trace_id
    assert traceparent(second.headers["traceparent"])[0] == site.trace_id

    attempts = finished(spans, "durian.deliver", 2)
    assert [s.context.trace_id for s in attempts] == [site.trace_id, site.trace_id]
    assert [s.parent.span_id for s in attempts] == [site.span_id, site.span_id]
    # each webhook carries its own attempt's span
    assert [traceparent(r.headers["traceparent"])[1] for r in (first, second)] == [s.context.span_id for s in attempts]
    assert [dict(s.attributes) for s in attempts] == [
        {
            "durian.hook": "person",
            "durian.listener.id": listener.pk,
            "server.address": "127.0.0.1",
            "durian.attempt": 1,
            "http.response.status_code": 500,
            "durian.outcome": "failed",
        },
        {
            "durian.hook": "person",
            "durian.listener.id": listener.pk,
            "server.address": "127.0.0.1",
            "durian.attempt": 2,
            "http.response.status_code": 200,
            "durian.outcome": "delivered",
        },
    ]
    assert attempts[0].status.status_code.name == "ERROR"
    assert attempts[1].status.status_code.name == "UNSET"

    (fanout, *_) = finished(spans, "durian.fanout")
    assert site.span_id in [link.context.span_id for link in fanout.links]
    assert fanout.attributes["durian.fanout.deliveries"] == 1


def test_the_trace_context_is_stored_in_the_outbox_row_and_the_stream_entry(redis_client, spans):
    with spans.tracer.start_as_current_span("POST /people/") as request:
        with transaction.atomic():
            Person.objects.create(name="Joe")
            (row,) = OutboxEvent.objects.all()
    site = request.get_span_context()
    assert traceparent(row.trace["traceparent"]) == (site.trace_id, site.span_id)
    assert row.event.trace == row.trace

    ((_, event),) = stream.history(redis_client)
    assert event.id == row.id and event.trace == row.trace
    assert not OutboxEvent.objects.exists()  # relayed at commit


def test_with_the_api_alone_the_webhook_still_continues_the_site_s_trace(receiver):
    """Without an SDK spans do not record, but the attempt's context is a child of the event's."""
    state = TraceState([("shop", "eu-1")])
    site = SpanContext(0xABC, 0xDEF, is_remote=False, trace_flags=TraceFlags(1), trace_state=state)
    with trace.use_span(NonRecordingSpan(site)):
        event = Event("person", {"name": "Joe"})
    assert traceparent(event.trace["traceparent"]) == (0xABC, 0xDEF)
    assert event.trace["tracestate"] == "shop=eu-1"
    outcome = delivery.attempt(event, 1, receiver.url, [seal("whsec_" + "A" * 32)])
    assert outcome.ok
    (request,) = receiver.requests
    assert traceparent(request.headers["traceparent"])[0] == 0xABC
    assert request.headers["tracestate"] == "shop=eu-1"


def test_outside_any_span_nothing_is_stored_with_the_event(receiver):
    event = Event("person", {"name": "Joe"})
    assert event.trace == {} and "trace" not in event.to_fields()
    assert delivery.attempt(event, 1, receiver.url, [seal("whsec_" + "A" * 32)]).ok
    assert "traceparent" not in receiver.requests[0].headers


def test_without_opentelemetry_installed_nothing_changes(receiver, monkeypatch, spans):
    monkeypatch.setitem(sys.modules, "opentelemetry", None)  # "import opentelemetry" fails
    monkeypatch.setattr(tracing, "_api", None)  # looked for again
    assert not tracing.enabled()
    with spans.tracer.start_as_current_span("POST /people/"):
        event = Event("person", {"name": "Joe"})
    assert event.trace == {}
    assert delivery.attempt(event, 1, receiver.url, [seal("whsec_" + "A" * 32)]).ok
    assert "traceparent" not in receiver.requests[0].headers
    assert [s.name for s in spans.get_finished_spans()] == ["POST /people/"]  # the site's own, no durian span
