"""Starting reconciliations (``reconcile:{period}``) and their month-end schedule: what ``q2c reconcile``,
``q2c setup`` and the tests share."""

from __future__ import annotations

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    WorkflowExecutionStatus,
    WorkflowHandle,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError

from q2c.config import Settings
from q2c.domain.messages.backfill import SetBudget
from q2c.domain.messages.reconciliation import ReconcileOptions, ReconcileRequest, ReconcileStatus
from temporal_client.limits import activity_limits
from temporal_client.schedules import ensure
from temporal_client.status import live_or_final
from workflows import names

# The month-end run: on the 1st of every month at 06:00 UTC (NetSuite's books for the month just ended are
# usually still open then; a rerun later in the month replaces the results).
MONTH_END_HOUR_UTC = 6


def reconcile_request(settings: Settings, period: str, **overrides: object) -> ReconcileRequest:
    """The run's input from settings; ``overrides`` win (the CLI's flags)."""
    values: dict[str, object] = {
        "period": period,
        "reporting_currency": settings.reporting_currency,
        "unbilled_after_days": settings.reconcile_unbilled_after_days,
        "salesforce_api_budget": settings.reconcile_salesforce_api_budget,
        "options": ReconcileOptions(
            **activity_limits(settings), bulk_threshold=settings.backfill_bulk_threshold
        ),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return ReconcileRequest.model_validate(values)


async def start_reconciliation(
    client: Client, request: ReconcileRequest
) -> WorkflowHandle[object, ReconcileStatus]:
    """Start ``reconcile:{period}``; a run of the period already going is joined, not started twice. A
    closed one is run again (a rerun replaces the period's results)."""
    return await client.start_workflow(
        names.RECONCILE_WORKFLOW,
        request.model_dump(mode="json"),
        id=names.reconcile_workflow_id(request.period),
        task_queue=names.TASK_QUEUE,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        result_type=ReconcileStatus,
        static_summary=f"Bookings vs billings {request.period}",
    )


async def is_running(client: Client, period: str) -> bool:
    try:
        description = await handle(client, period).describe()
    except RPCError:
        return False  # never started
    return description.status == WorkflowExecutionStatus.RUNNING


def handle(client: Client, period: str) -> WorkflowHandle[object, ReconcileStatus]:
    return client.get_workflow_handle(names.reconcile_workflow_id(period), result_type=ReconcileStatus)


async def reconciliation_status(client: Client, period: str) -> tuple[ReconcileStatus, bool]:
    """(status, finished): live from a running reconciliation, its result once it has closed."""
    return await live_or_final(handle(client, period), f"reconciliation {period}", ReconcileStatus)


async def set_budget(client: Client, period: str, budget: int | None) -> None:
    await handle(client, period).signal(names.SET_BUDGET_SIGNAL, SetBudget(salesforce_api_budget=budget))


async def retry(client: Client, period: str) -> None:
    await handle(client, period).signal(names.RETRY_SIGNAL)


def month_end_schedule(settings: Settings) -> Schedule:
    request = reconcile_request(settings, "2000-01").model_dump(mode="json", exclude={"period"})
    return Schedule(
        action=ScheduleActionStartWorkflow(
            names.RECONCILE_MONTH_END_WORKFLOW,
            request,
            id=names.RECONCILE_MONTH_END_WORKFLOW_ID,
            task_queue=names.TASK_QUEUE,
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_month=[ScheduleRange(1)],
                    hour=[ScheduleRange(MONTH_END_HOUR_UTC)],
                    minute=[ScheduleRange(0)],
                    second=[ScheduleRange(0)],
                    comment="the 1st of every month: reconcile the month (and quarter) that just ended",
                )
            ]
        ),
        # A run still going when the next is due (a month later: only if parked): let both run.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
    )


async def ensure_reconcile_schedule(client: Client, settings: Settings, *, paused: bool = False) -> str:
    return await ensure(client, names.RECONCILE_SCHEDULE, month_end_schedule(settings), paused)
