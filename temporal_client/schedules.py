"""The Temporal Schedules behind the NetSuite and Salesforce pollers: created (or updated) by ``q2c setup`` and the demo,
visible and pausable in the web UI under Schedules."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TypeVar

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from q2c.config import Settings
from q2c.domain.messages import PollInput, PollResult, SalesforcePollInput, SalesforcePollResult
from q2c.domain.messages.catalog import CatalogStatus, CatalogSyncInput, InventorySyncInput, SyncOptions
from temporal_client.accounts import account_sync_options
from temporal_client.limits import activity_limits
from temporal_client.orders import order_input
from workflows import names

R = TypeVar("R")


def poll_input(settings: Settings) -> PollInput:
    return PollInput(
        credit_overdue_days=settings.credit_overdue_days,
        options=order_input(settings, "").options,
        sync_accounts=settings.account_sync,
    )


def _every(workflow_type: str, arg: object, workflow_id: str, seconds: float) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(workflow_type, arg, id=workflow_id, task_queue=names.TASK_QUEUE),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=dt.timedelta(seconds=seconds))]),
        # A poll still running when the next is due: skip, the running one reads the same changes.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


def poll_schedule(settings: Settings) -> Schedule:
    return _every(
        names.NETSUITE_POLL_WORKFLOW,
        poll_input(settings),
        names.NETSUITE_POLL_WORKFLOW_ID,
        settings.netsuite_poll_interval_seconds,
    )


def salesforce_poll_input(settings: Settings) -> SalesforcePollInput:
    return SalesforcePollInput(options=account_sync_options(settings))


def salesforce_poll_schedule(settings: Settings) -> Schedule:
    return _every(
        names.SALESFORCE_POLL_WORKFLOW,
        salesforce_poll_input(settings),
        names.SALESFORCE_POLL_WORKFLOW_ID,
        settings.salesforce_poll_interval_seconds,
    )


async def ensure_poll_schedule(client: Client, settings: Settings, *, paused: bool = False) -> str:
    """Create the NetSuite poller's schedule, or bring an existing one up to date; returns what it did."""
    return await ensure(client, names.NETSUITE_POLL_SCHEDULE, poll_schedule(settings), paused)


async def ensure_salesforce_poll_schedule(client: Client, settings: Settings, *, paused: bool = False) -> str:
    """The same for the Salesforce (account and contact) poller."""
    return await ensure(client, names.SALESFORCE_POLL_SCHEDULE, salesforce_poll_schedule(settings), paused)


def sync_options(settings: Settings) -> SyncOptions:
    return SyncOptions(**activity_limits(settings))


def catalog_input(settings: Settings, *, full: bool = False) -> CatalogSyncInput:
    return CatalogSyncInput(options=sync_options(settings), full=full)


def inventory_input(settings: Settings, *, full: bool = False) -> InventorySyncInput:
    return InventorySyncInput(options=sync_options(settings), full=full)


async def ensure_catalog_schedules(client: Client, settings: Settings, *, paused: bool = False) -> list[str]:
    """The catalog sync's schedule, the inventory sync's faster one and its daily full run (for stock no
    transaction shows moving); returns what it did to each."""
    catalog = _every(
        names.CATALOG_WORKFLOW,
        catalog_input(settings),
        names.CATALOG_WORKFLOW_ID,
        settings.catalog_sync_interval_seconds,
    )
    inventory = _every(
        names.INVENTORY_WORKFLOW,
        inventory_input(settings),
        names.INVENTORY_WORKFLOW_ID,
        settings.inventory_sync_interval_seconds,
    )
    full = _every(
        names.INVENTORY_WORKFLOW,
        inventory_input(settings, full=True),
        names.INVENTORY_FULL_WORKFLOW_ID,
        settings.inventory_full_sync_interval_seconds,
    )
    return [
        await ensure(client, names.CATALOG_SCHEDULE, catalog, paused),
        await ensure(client, names.INVENTORY_SCHEDULE, inventory, paused),
        await ensure(client, names.INVENTORY_FULL_SCHEDULE, full, paused),
    ]


async def ensure(client: Client, schedule_id: str, schedule: Schedule, paused: bool) -> str:
    schedule.state.paused = paused
    try:
        await client.create_schedule(schedule_id, schedule)
        return "created"
    except ScheduleAlreadyRunningError:

        def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule.state = current.description.schedule.state  # keep a pause set by an operator
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(update)
        return "updated"


async def run_now(
    client: Client,
    workflow_type: str,
    arg: object,
    result_type: type[R],
    *,
    id_prefix: str,
    workflow_id: str | None = None,
) -> R:
    """Run one of the scheduled workflows now, outside its schedule (the CLI, the demo, tests), under
    ``workflow_id`` or a fresh ``{id_prefix}-manual-...`` id, and return its result."""
    return await client.execute_workflow(
        workflow_type,
        arg,
        id=workflow_id or f"{id_prefix}-manual-{uuid.uuid4().hex[:8]}",
        task_queue=names.TASK_QUEUE,
        result_type=result_type,
    )


async def poll_once(client: Client, settings: Settings, *, workflow_id: str | None = None) -> PollResult:
    """Run one NetSuite poll now."""
    return await run_now(
        client,
        names.NETSUITE_POLL_WORKFLOW,
        poll_input(settings),
        PollResult,
        id_prefix=names.NETSUITE_POLL_WORKFLOW_ID,
        workflow_id=workflow_id,
    )


async def salesforce_poll_once(
    client: Client, settings: Settings, *, workflow_id: str | None = None
) -> SalesforcePollResult:
    """Run one Salesforce poll now."""
    return await run_now(
        client,
        names.SALESFORCE_POLL_WORKFLOW,
        salesforce_poll_input(settings),
        SalesforcePollResult,
        id_prefix=names.SALESFORCE_POLL_WORKFLOW_ID,
        workflow_id=workflow_id,
    )


async def sync_catalog_once(
    client: Client, settings: Settings, *, full: bool = False, workflow_id: str | None = None
) -> CatalogStatus:
    """Run one catalog sync now."""
    return await run_now(
        client,
        names.CATALOG_WORKFLOW,
        catalog_input(settings, full=full),
        CatalogStatus,
        id_prefix=names.CATALOG_WORKFLOW_ID,
        workflow_id=workflow_id,
    )


async def sync_inventory_once(
    client: Client, settings: Settings, *, full: bool = False, workflow_id: str | None = None
) -> CatalogStatus:
    """Run one inventory sync now."""
    return await run_now(
        client,
        names.INVENTORY_WORKFLOW,
        inventory_input(settings, full=full),
        CatalogStatus,
        id_prefix=names.INVENTORY_WORKFLOW_ID,
        workflow_id=workflow_id,
    )
