"""OpenTelemetry, when it is installed: one trace from the site's request to the receiver.

- ``carrier()`` is the current span's context as W3C Trace Context fields (``traceparent`` and,
  when set, ``tracestate``): an event stores it where it is made (``Event.trace``), and it travels
  with the event through the outbox, the stream and the delivery items.
- ``delivering(...)`` is one attempt's span, ``durian.deliver``, a child of the event's context:
  its ``carrier()`` gives the attempt's webhook its ``traceparent``.
- ``fanning_out(...)`` is the span of one fan-out batch, linked to the traces of its events.

``opentelemetry-api`` (the ``otel`` extra) is imported on first use. Without it every function
here returns at once: no span, no carrier, no header. With the API but no SDK configured the spans
do not record, and a child of a stored context still carries its trace id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .. import __version__

#: The fields of a carrier: W3C Trace Context, whatever propagators the project configured.
FIELDS = ("traceparent", "tracestate")

_api: Any = None  # None: not looked for yet; False: OpenTelemetry is not installed


def _otel() -> Any:
    global _api
    if _api is None:
        try:
            from opentelemetry import trace
            from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
        except ImportError:
            _api = False
        else:
            _api = _Api(trace, TraceContextTextMapPropagator())
    return _api


class _Api:
    def __init__(self, trace: Any, propagator: Any) -> None:
        self.trace = trace
        self.propagator = propagator
        self._provider: Any = None
        self._tracer: Any = None

    @property
    def tracer(self) -> Any:
        """durian's tracer from the current tracer provider (one set later is followed)."""
        provider = self.trace.get_tracer_provider()
        if provider is not self._provider:
            self._tracer = provider.get_tracer("durian", __version__)
            self._provider = provider
        return self._tracer


def enabled() -> bool:
    """True when OpenTelemetry's API is installed."""
    return bool(_otel())


def carrier() -> dict[str, str]:
    """The current span's context (``traceparent``, ``tracestate``); ``{}`` without a valid current
    span or without OpenTelemetry."""
    api = _otel()
    if not api or not api.trace.get_current_span().get_span_context().is_valid:
        return {}
    out: dict[str, str] = {}
    api.propagator.inject(out)
    return out


def clean(value: Any) -> dict[str, str]:
    """A stored carrier as a dict of the known fields (an old or malformed one is ``{}``)."""
    if not isinstance(value, Mapping):
        return {}
    return {k: v for k, v in value.items() if k in FIELDS and isinstance(v, str)}


class _NoSpan:
    """What a span is without OpenTelemetry: nothing, at the cost of a method call."""

    __slots__ = ()

    def __enter__(self) -> _NoSpan:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def carrier(self) -> dict[str, str]:
        return {}

    def set(self, **attributes: Any) -> None:
        return None

    def failed(self, reason: str) -> None:
        return None


_NO_SPAN = _NoSpan()


class _Span:
    """A span started as the current one on entry, ended on exit."""

    __slots__ = ("_api", "_cm", "_span")

    def __init__(self, api: _Api, cm: Any) -> None:
        self._api = api
        self._cm = cm
        self._span: Any = None

    def __enter__(self) -> _Span:
        self._span = self._cm.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._cm.__exit__(*exc)

    def carrier(self) -> dict[str, str]:
        """This span's context as headers (``traceparent``, ``tracestate``)."""
        out: dict[str, str] = {}
        self._api.propagator.inject(out, context=self._api.trace.set_span_in_context(self._span))
        return out

    def set(self, **attributes: Any) -> None:
        """Set attributes; ``durian_x`` is named ``durian.x``, ``None`` values are left out."""
        if self._span.is_recording():
            for key, value in attributes.items():
                if value is not None:
                    self._span.set_attribute(_NAMES.get(key, key), value)

    def failed(self, reason: str) -> None:
        """Mark the span's status as an error, with ``reason``."""
        if self._span.is_recording():
            from opentelemetry.trace import Status, StatusCode

            self._span.set_status(Status(StatusCode.ERROR, reason))


#: Attribute names of ``delivering`` and ``fanning_out`` spans.
_NAMES = {
    "hook": "durian.hook",
    "listener": "durian.listener.id",
    "host": "server.address",
    "status": "http.response.status_code",
    "attempt": "durian.attempt",
    "outcome": "durian.outcome",
    "entries": "durian.fanout.entries",
    "deliveries": "durian.fanout.deliveries",
}


def delivering(trace: Mapping[str, str], hook: str, listener_id: int, url: str, attempt: int) -> _Span | _NoSpan:
    """The span of one attempt to ``url``, ``durian.deliver``, a child of the event's stored context
    ``trace`` (a new trace when there is none). Set ``status`` and ``outcome`` once it is made."""
    api = _otel()
    if not api:
        return _NO_SPAN
    host = _host(url)
    context = api.propagator.extract(trace) if trace else api.trace.set_span_in_context(api.trace.INVALID_SPAN)
    attributes = {"durian.hook": hook, "durian.listener.id": listener_id, "durian.attempt": attempt}
    if host:
        attributes["server.address"] = host
    cm = api.tracer.start_as_current_span(
        "durian.deliver",
        context=context,
        kind=api.trace.SpanKind.CLIENT,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    )
    return _Span(api, cm)


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def fanning_out(traces: Iterable[Mapping[str, str]], entries: int) -> _Span | _NoSpan:
    """The span of one fan-out batch, ``durian.fanout``, linked to the span each event was made in."""
    api = _otel()
    if not api:
        return _NO_SPAN
    links = []
    for trace in traces:
        if trace:
            context = api.trace.get_current_span(api.propagator.extract(trace)).get_span_context()
            if context.is_valid:
                links.append(api.trace.Link(context))
    cm = api.tracer.start_as_current_span(
        "durian.fanout",
        context=api.trace.set_span_in_context(api.trace.INVALID_SPAN),
        kind=api.trace.SpanKind.CONSUMER,
        attributes={"durian.fanout.entries": entries},
        links=links,
    )
    return _Span(api, cm)
