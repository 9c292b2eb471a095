"""q2c's own metrics recorded by workflows (names in ``workflows.names``; the Grafana dashboard and the
Prometheus alerts in deploy/ use them). Recorded through ``workflow.metric_meter()``, which records nothing
while a workflow replays, so a metric counts what happened once, not once per replay. The Temporal runtime
exports them beside the SDK's own on the worker's Prometheus endpoint (``Q2C_METRICS_ADDRESS``).
"""

from __future__ import annotations

from temporalio import workflow

from workflows.names import BACKFILL_RECORDS, ORDER_OUTCOMES, PARKED


def count_order_outcome(outcome: str) -> None:
    """An order reached ``outcome`` (sales_order_created, paid, order_closed, reopened, ...)."""
    workflow.metric_meter().create_counter(ORDER_OUTCOMES, "Orders by outcome reached").add(
        1, {"outcome": outcome}
    )


def count_parked(process: str, reason: str | None) -> None:
    """A ``process`` workflow parked in needs_attention; ``reason`` is the error type (a business error or
    the API's code), never the message: labels must stay few and hold no customer data."""
    workflow.metric_meter().create_counter(PARKED, "Workflows parked in needs_attention").add(
        1, {"workflow": process, "reason": reason or "other"}
    )


def show_backfill_progress(run_id: str, done: int, total: int) -> None:
    gauge = workflow.metric_meter().create_gauge(BACKFILL_RECORDS, "A backfill's records: done and in all")
    gauge.set(done, {"run_id": run_id, "state": "done"})
    gauge.set(total, {"run_id": run_id, "state": "total"})
