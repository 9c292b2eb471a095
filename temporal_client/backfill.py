"""Starting and steering backfills (``backfill:{run id}``): what ``q2c backfill`` and the tests share."""

from __future__ import annotations

import datetime as dt

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy

from q2c.config import Settings
from q2c.domain.messages.backfill import (
    BackfillOptions,
    BackfillRequest,
    BackfillStatus,
    PauseRequest,
    SetBudget,
)
from temporal_client.limits import activity_limits
from temporal_client.status import live_or_final
from workflows import names


def new_run_id(dry_run: bool) -> str:
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{'dry-' if dry_run else ''}{stamp}"


def backfill_options(settings: Settings) -> BackfillOptions:
    """The run's pacing from settings: as many NetSuite batches at once as this worker's share."""
    return BackfillOptions(
        **activity_limits(settings),
        netsuite_slots=settings.netsuite_concurrency_share,
        bulk_threshold=settings.backfill_bulk_threshold,
    )


async def start_backfill(client: Client, request: BackfillRequest) -> WorkflowHandle[object, BackfillStatus]:
    """Start ``backfill:{run id}``. A run id is used once: starting it again while it runs is refused."""
    assert request.run_id is not None
    return await client.start_workflow(
        names.BACKFILL_WORKFLOW,
        request,
        id=names.backfill_workflow_id(request.run_id),
        task_queue=names.TASK_QUEUE,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        result_type=BackfillStatus,
        static_summary=f"Backfill {request.run_id}{' (dry run)' if request.dry_run else ''}: "
        + ", ".join(s.value for s in request.scopes),
    )


def handle(client: Client, run_id: str) -> WorkflowHandle[object, BackfillStatus]:
    return client.get_workflow_handle(names.backfill_workflow_id(run_id), result_type=BackfillStatus)


async def backfill_status(client: Client, run_id: str) -> tuple[BackfillStatus, bool]:
    """(status, finished): live from a running backfill, its result once it has closed."""
    return await live_or_final(handle(client, run_id), f"backfill {run_id}", BackfillStatus)


async def pause(client: Client, run_id: str, reason: str) -> None:
    await handle(client, run_id).signal(names.PAUSE_SIGNAL, PauseRequest(reason=reason))


async def resume(client: Client, run_id: str) -> None:
    await handle(client, run_id).signal(names.RESUME_SIGNAL)


async def set_budget(client: Client, run_id: str, budget: int | None) -> None:
    await handle(client, run_id).signal(names.SET_BUDGET_SIGNAL, SetBudget(salesforce_api_budget=budget))


async def cancel(client: Client, run_id: str) -> None:
    await handle(client, run_id).cancel()
