"""What the two connectors tell operators, without knowing Temporal: a client span per HTTP call
(OpenTelemetry's maintained httpx and requests instrumentations) and each call's outcome to a meter the
worker installs (``temporal_client.telemetry`` exports it through the Temporal runtime's Prometheus
endpoint).

Spans carry no secret and no customer data: URLs lose their query string (a SOQL query names accounts
and emails) and user info; headers and bodies are never recorded by these instrumentations; and every
exported span loses the free text of errors (``RedactingSpanExporter``).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx
from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Status

URL_ATTRIBUTES = ("url.full", "http.url")
# Free text of an error: an API's validation message names the record, a transport error quotes the URL
# with its query. The exception's type stays; the text is in the (encrypted) workflow history.
ERROR_TEXT_ATTRIBUTES = ("exception.message", "exception.stacktrace")
TRANSPORT_ERROR = "transport_error"  # the status of a call that got no HTTP response


class ApiCallMeter(Protocol):
    def api_call(self, system: str, status: str) -> None:
        """One HTTP call to ``system`` (salesforce, netsuite) ended with ``status`` (the HTTP code)."""

    def netsuite_in_flight(self, requests: int) -> None:
        """NetSuite requests this process has in flight now (each holds one of the account's slots)."""


class _Unmetered:
    def api_call(self, system: str, status: str) -> None:
        pass

    def netsuite_in_flight(self, requests: int) -> None:
        pass


_meter: ApiCallMeter = _Unmetered()
_netsuite_in_flight = 0
_lock = threading.Lock()


def use_api_call_meter(meter: ApiCallMeter | None) -> None:
    """Send every connector call's outcome to ``meter`` (None: to nowhere)."""
    global _meter
    _meter = meter or _Unmetered()


def api_call(system: str, status: int | str) -> None:
    _meter.api_call(system, str(status))


def netsuite_request_started() -> None:
    global _netsuite_in_flight
    with _lock:
        _netsuite_in_flight += 1
        _meter.netsuite_in_flight(_netsuite_in_flight)


def netsuite_request_ended() -> None:
    global _netsuite_in_flight
    with _lock:
        _netsuite_in_flight -= 1
        _meter.netsuite_in_flight(_netsuite_in_flight)


# -- tracing ---------------------------------------------------------------------------------------------
def tracing_on() -> bool:
    """Whether this process exports spans (an SDK tracer provider is installed)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider)


def redacted_url(url: str) -> str:
    """``url`` without user info, query string or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _redact_span_url(span: Any) -> None:
    if not span or not span.is_recording():
        return
    attributes = getattr(span, "attributes", None) or {}
    for key in URL_ATTRIBUTES:
        if key in attributes:
            span.set_attribute(key, redacted_url(str(attributes[key])))


def _requests_hook(span: Any, request: Any, *rest: Any) -> None:
    _redact_span_url(span)


async def _httpx_async_hook(span: Any, *rest: Any) -> None:
    _redact_span_url(span)


def instrument_requests() -> None:
    """Client spans for every ``requests`` call (simple-salesforce's), once per process."""
    instrumentor = RequestsInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(request_hook=_requests_hook, response_hook=_requests_hook)


def instrument_async_client(client: httpx.AsyncClient) -> None:
    """Client spans for ``client``'s calls when this process exports spans."""
    if tracing_on():
        HTTPXClientInstrumentor.instrument_client(
            client, request_hook=_httpx_async_hook, response_hook=_httpx_async_hook
        )


class RedactingSpanExporter(SpanExporter):
    """Exports spans without error text: exception events keep their type but lose message and stack
    trace, and a status keeps its code but loses its description (Temporal's interceptor writes the
    failure's message there)."""

    def __init__(self, inner: SpanExporter) -> None:
        self._inner = inner

    def export(self, spans: Any) -> SpanExportResult:
        return self._inner.export([_without_error_text(span) for span in spans])

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def _without_error_text(span: ReadableSpan) -> ReadableSpan:
    events = [
        Event(
            event.name,
            {k: v for k, v in (event.attributes or {}).items() if k not in ERROR_TEXT_ATTRIBUTES},
            event.timestamp,
        )
        for event in span.events
    ]
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=events,
        links=span.links,
        kind=span.kind,
        status=Status(span.status.status_code),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


# -- poll lag ----------------------------------------------------------------------------------------------
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")


def watermark_lag_seconds(watermark: str | None, now: dt.datetime) -> float | None:
    """How far behind ``now`` a poller's watermark is: its oldest timestamp (a watermark may hold a cursor
    per object); None when it holds none. A timestamp without a zone is UTC."""
    times = []
    for text in _TIMESTAMP.findall(watermark or ""):
        try:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            continue
        times.append(moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC))
    if not times:
        return None
    return max(0.0, (now - min(times)).total_seconds())
