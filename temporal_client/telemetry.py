"""Traces and metrics of a q2c process (docs/runbook.md lists every metric and alert).

Traces: OpenTelemetry, configured by the standard ``OTEL_*`` variables. A process exports spans when
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, or
``OTEL_TRACES_EXPORTER`` is ``otlp`` or ``console``; ``OTEL_SDK_DISABLED=true`` turns it off. Then
Temporal's ``TracingInterceptor`` goes on the client (and so on its workers): a signal-with-start, each
workflow and each activity become spans, propagated in Temporal headers, and the connectors' HTTP calls
are child spans of their activity.

Metrics: with ``Q2C_METRICS_ADDRESS`` the Temporal runtime serves Prometheus at ``http://<address>/metrics``:
the SDK's own (``temporal_*``) and q2c's (``q2c_*``), recorded through the same runtime meter.
"""

from __future__ import annotations

import asyncio
import logging
import os

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from temporalio.client import Client, Interceptor
from temporalio.common import MetricMeter
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from q2c import telemetry
from q2c.config import Settings
from workflows import names
from workflows.names import API_CALLS, NETSUITE_IN_FLIGHT, NETSUITE_SHARE

log = logging.getLogger("q2c.telemetry")
_runtimes: dict[str, Runtime] = {}
# The workflows that park in needs_attention (their Q2CStage), counted for q2c_needs_attention.
PARKING_WORKFLOWS = (
    names.ORDER_WORKFLOW,
    names.ACCOUNT_SYNC_WORKFLOW,
    names.CUSTOMER_INTAKE_WORKFLOW,
    names.ONBOARDING_WORKFLOW,
    names.BACKFILL_WORKFLOW,
    names.RECONCILE_WORKFLOW,
)
NEEDS_ATTENTION_INTERVAL_SECONDS = 60.0


def _exporter_from_environment() -> SpanExporter | None:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    chosen = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if chosen == "console":
        return ConsoleSpanExporter()
    if chosen == "otlp" or (endpoint and chosen in ("", "otlp")):
        # OTLP over HTTP/protobuf; endpoint, headers, timeout and compression from OTEL_EXPORTER_OTLP_*.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    return None


def configure_tracing(service_name: str, exporter: SpanExporter | None = None) -> bool:
    """Install this process's tracer provider when the environment (or ``exporter``, in tests) asks for
    spans; ``OTEL_SERVICE_NAME`` wins over ``service_name``. Returns whether spans are exported."""
    if telemetry.tracing_on():
        return True
    exporter = exporter or _exporter_from_environment()
    if exporter is None:
        return False
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(telemetry.RedactingSpanExporter(exporter)))
    trace.set_tracer_provider(provider)
    telemetry.instrument_requests()
    return True


def tracing_interceptors() -> list[Interceptor]:
    """Temporal's tracing interceptor when this process exports spans (else none: no header, no cost)."""
    return [TracingInterceptor()] if telemetry.tracing_on() else []


def metrics_runtime(settings: Settings) -> Runtime | None:
    """The Temporal runtime that serves Prometheus on ``Q2C_METRICS_ADDRESS`` (one per process and address)."""
    address = settings.metrics_address
    if not address:
        return None
    if address not in _runtimes:
        _runtimes[address] = Runtime(
            telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address))
        )
    return _runtimes[address]


class RuntimeApiCallMeter:
    """The connectors' call outcomes as Temporal runtime metrics."""

    def __init__(self, meter: MetricMeter, netsuite_share: int) -> None:
        self._calls = meter.create_counter(API_CALLS, "HTTP calls to Salesforce and NetSuite by status")
        self._in_flight = meter.create_gauge(
            NETSUITE_IN_FLIGHT, "NetSuite requests in flight in this worker (each holds a concurrency slot)"
        )
        meter.create_gauge(
            NETSUITE_SHARE, "This worker's share of the NetSuite account's concurrency limit"
        ).set(netsuite_share)
        self._in_flight.set(0)

    def api_call(self, system: str, status: str) -> None:
        self._calls.add(1, {"system": system, "status": status})

    def netsuite_in_flight(self, requests: int) -> None:
        self._in_flight.set(requests)


def install_metrics(runtime: Runtime | None, settings: Settings) -> None:
    """Send the connectors' call outcomes to ``runtime``'s meter (None: nowhere)."""
    meter = runtime.metric_meter if runtime is not None else None
    telemetry.use_api_call_meter(
        RuntimeApiCallMeter(meter, settings.netsuite_concurrency_share) if meter is not None else None
    )


async def count_needs_attention(client: Client, meter: MetricMeter) -> dict[str, int]:
    """Set ``q2c_needs_attention{workflow}``: running workflows of each type parked now (one visibility
    count per type; every worker reports the same numbers, so dashboards take the max)."""
    gauge = meter.create_gauge(names.NEEDS_ATTENTION, "Running workflows parked in needs_attention now")
    counts = {}
    for workflow_type in PARKING_WORKFLOWS:
        query = (
            f'WorkflowType="{workflow_type}" AND ExecutionStatus="Running" '
            f'AND {names.STAGE.name}="needs_attention"'
        )
        counts[workflow_type] = (await client.count_workflows(query)).count
        gauge.set(counts[workflow_type], {"workflow": workflow_type})
    return counts


async def keep_counting_needs_attention(client: Client, meter: MetricMeter) -> None:
    """``count_needs_attention`` every minute until cancelled; a failed count is logged and tried again."""
    while True:
        try:
            await count_needs_attention(client, meter)
        except Exception as exc:  # visibility down for a moment: the gauge keeps its last value
            log.warning("Could not count the workflows needing attention: %s", exc)
        await asyncio.sleep(NEEDS_ATTENTION_INTERVAL_SECONDS)
