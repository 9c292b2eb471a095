"""Traces and metrics of one order on real parts: an outbound message reaches the webhook over HTTPS, the
worker (connected as every q2c process connects, with tracing on and a Prometheus endpoint) makes the sales
order, and one trace shows the whole way; the metrics endpoint shows q2c's own metrics and the SDK's."""

from __future__ import annotations

import re
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.util._once import Once
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.testing import WorkflowEnvironment

from q2c.config import Settings
from q2c.domain.messages import DealClosed
from q2c.domain.order import OrderStage
from q2c_sandbox.server import free_port
from temporal_client.connect import connect_temporal
from temporal_client.orders import ORDER_CREATED, deal_closed, wait_until_settled
from temporal_client.schedules import poll_once
from temporal_client.telemetry import (
    configure_tracing,
    count_needs_attention,
    install_metrics,
    metrics_runtime,
)
from tests.conftest import Sandboxes, q2c_test_settings, running_worker, until
from tests.factories import Catalog, make_deal
from tests.integration.test_webhook import SOAP, notification, serving
from workflows import names

WEBHOOK_TOKEN = "tr4ce-t0ken-never-in-spans"


@pytest.fixture
def settings(sandboxes: Sandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path) -> Settings:
    return q2c_test_settings(
        sandboxes,
        temporal_env,
        tmp_path,
        account_sync=False,
        webhook_token=WEBHOOK_TOKEN,
        metrics_address=f"127.0.0.1:{free_port()}",
    )


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """This process exports spans (as OTEL_* would make it) to memory, for this test only."""
    exporter = InMemorySpanExporter()
    assert configure_tracing("q2c-test", exporter)
    try:
        yield exporter
    finally:
        RequestsInstrumentor().uninstrument()
        exporter.shutdown()
        # Tracing off again for the tests after this one (opentelemetry's own test utilities do the same).
        trace._TRACER_PROVIDER = None
        trace._TRACER_PROVIDER_SET_ONCE = Once()


@pytest.fixture
async def traced(spans: InMemorySpanExporter, settings: Settings) -> AsyncIterator[Client]:
    """The worker as ``q2c worker`` runs it: the metrics runtime, the connectors metered and traced."""
    runtime = metrics_runtime(settings)
    install_metrics(runtime, settings)
    client = await connect_temporal(settings, runtime=runtime)
    try:
        async with running_worker(client, settings):
            yield client
    finally:
        install_metrics(None, settings)


def span_tree(spans: list[ReadableSpan], root: ReadableSpan) -> list[str]:
    children: dict[int, list[ReadableSpan]] = defaultdict(list)
    for span in spans:
        if span.parent is not None:
            children[span.parent.span_id].append(span)
    lines: list[str] = []

    def walk(span: ReadableSpan, depth: int) -> None:
        attributes = span.attributes or {}
        url = attributes.get("url.full") or attributes.get("http.url") or ""
        status = attributes.get("http.response.status_code") or attributes.get("http.status_code") or ""
        lines.append(f"{'  ' * depth}{span.name} [{span.kind.name}] {url} {status}".rstrip())
        for child in sorted(children[span.context.span_id], key=lambda s: s.start_time or 0):
            walk(child, depth + 1)

    walk(root, 0)
    return lines


def metric(text: str, name: str, **labels: str) -> list[float]:
    """The values of ``name`` (with or without Prometheus' ``_total``) whose labels include ``labels``."""
    values = []
    for line in text.splitlines():
        found = re.match(r"^([a-zA-Z_:][\w:]*)(\{.*\})?\s+(\S+)$", line)
        if not found or found.group(1) not in (name, f"{name}_total"):
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', found.group(2) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            values.append(float(found.group(3)))
    return values


async def test_one_trace_follows_an_outbound_message_to_the_sales_order_and_the_metrics_show_it(
    traced: Client,
    spans: InMemorySpanExporter,
    settings: Settings,
    sandboxes: Sandboxes,
    catalog: Catalog,
) -> None:
    started = time.time()
    company = "Quillon Tracewell Holdings"
    deal = make_deal(sandboxes.sf_admin, catalog, account={"Name": company, "Phone": "+44 20 7946 0321"})
    with serving(settings, sandboxes, traced) as webhook:
        async with httpx.AsyncClient(verify=str(sandboxes.cert.ca_path), timeout=30) as http:
            reply = await http.post(webhook, content=notification(deal.opportunity_id), headers=SOAP)
        assert reply.status_code == 200, reply.text
        status = await wait_until_settled(traced, deal.opportunity_id, 60)
    assert status.stage in ORDER_CREATED, status.attention_reason
    parked = make_deal(sandboxes.sf_admin, catalog, lines=[])  # no line items: parks
    await deal_closed(traced, settings, DealClosed(opportunity_id=parked.opportunity_id, source="cli"))
    assert (await wait_until_settled(traced, parked.opportunity_id, 60)).stage is OrderStage.NEEDS_ATTENTION
    await poll_once(traced, settings)
    runtime = metrics_runtime(settings)
    assert runtime is not None
    parked_now = await until(
        lambda: _parked_orders(traced, runtime.metric_meter), "the parked order counted", within=30
    )
    assert parked_now >= 1

    # -- the trace --------------------------------------------------------------------------------------
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider) and provider.force_flush()
    finished = list(spans.get_finished_spans())
    [root] = [s for s in finished if s.name == "POST /salesforce/outbound-message"]
    tree = span_tree(finished, root)
    print("\n".join(tree))
    in_trace = [s for s in finished if s.context.trace_id == root.context.trace_id]
    names = [line.strip().split(" [")[0] for line in tree]
    assert root.kind is SpanKind.SERVER and root.parent is None
    assert tree[1].strip().startswith("SignalWithStartWorkflow:OrderToCash")
    # Temporal's interceptor: the workflow's spans (run, signal, each activity started) are children of
    # the signal-with-start; each activity's run is a child of its start.
    assert "RunWorkflow:OrderToCash" in names and "HandleSignal:deal_closed" in names
    for activity in ("read_opportunity", "upsert_customer", "upsert_sales_order", "write_order_status"):
        assert f"RunActivity:{activity}" in names, activity
    by_id = {s.context.span_id: s for s in in_trace}

    def http_children(activity: str) -> list[ReadableSpan]:
        [run] = [s for s in in_trace if s.name == f"RunActivity:{activity}"]
        return [
            s
            for s in in_trace
            if s.kind is SpanKind.CLIENT and s.parent and by_id.get(s.parent.span_id) is run
        ]

    # The Salesforce read (requests, under simple-salesforce) and the NetSuite write (httpx) are children
    # of their activity's span.
    assert any(
        (s.attributes or {}).get("http.method", (s.attributes or {}).get("http.request.method")) == "GET"
        for s in http_children("read_opportunity")
    )
    assert any(
        (s.attributes or {}).get("http.method", (s.attributes or {}).get("http.request.method")) == "PUT"
        for s in http_children("upsert_sales_order")
    )
    # No secret and no customer data in any span's attributes; URLs without query strings.
    secrets = [
        WEBHOOK_TOKEN,
        settings.salesforce_password.get_secret_value(),
        settings.salesforce_client_secret.get_secret_value(),
        settings.netsuite_consumer_secret.get_secret_value(),
        settings.netsuite_token_secret.get_secret_value(),
        company,
        "7946",
    ]
    for span in finished:
        for key, value in (span.attributes or {}).items():
            assert not any(secret in str(value) for secret in secrets), (span.name, key, value)
            if key in ("url.full", "http.url"):
                assert "?" not in str(value), (span.name, value)
        # Nor in events (exceptions) or a status's description, as exported.
        text = repr([dict(e.attributes or {}) for e in span.events]) + (span.status.description or "")
        assert not any(secret in text for secret in secrets), (span.name, text)

    # -- the metrics --------------------------------------------------------------------------------------
    async with httpx.AsyncClient() as http:
        scraped = (await http.get(f"http://{settings.metrics_address}/metrics")).text
    assert sum(metric(scraped, "q2c_api_calls", system="netsuite", status="200")) >= 2
    assert sum(metric(scraped, "q2c_api_calls", system="salesforce", status="200")) >= 2
    assert sum(metric(scraped, "q2c_order_outcomes", outcome="sales_order_created")) >= 1
    assert sum(metric(scraped, "q2c_parked", workflow="order")) >= 1
    assert metric(scraped, "q2c_netsuite_concurrency_share") == [settings.netsuite_concurrency_share]
    assert metric(scraped, "q2c_netsuite_requests_in_flight") == [0]
    assert max(metric(scraped, "q2c_poll_completed_timestamp_seconds", poller="netsuite")) >= started
    assert metric(scraped, "q2c_poll_lag_seconds", poller="netsuite")
    assert metric(scraped, "q2c_needs_attention", workflow="OrderToCash") == [parked_now]
    sdk = sorted(
        {line.split("{")[0].split(" ")[0] for line in scraped.splitlines() if line.startswith("temporal_")}
    )
    print("SDK metrics:", ", ".join(sdk))
    assert metric(scraped, "temporal_workflow_completed") or metric(
        scraped, "temporal_workflow_completed_total"
    )
    assert any(name.startswith("temporal_activity_schedule_to_start_latency") for name in sdk)


async def _parked_orders(client: Client, meter: MetricMeter) -> int:
    return (await count_needs_attention(client, meter))[names.ORDER_WORKFLOW]
