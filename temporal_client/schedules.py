"""The Temporal Schedules behind the NetSuite and Salesforce pollers: created (or updated) by ``q2c setup`` and the demo,
visible and pausable in the web UI under Schedules."""

from __future__ import annotations

import datetime as dt
import uuid

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
from temporal_client.accounts import account_sync_options
from temporal_client.orders import order_input
from workflows import names


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
    return await _ensure(client, names.NETSUITE_POLL_SCHEDULE, poll_schedule(settings), paused)


async def ensure_salesforce_poll_schedule(client: Client, settings: Settings, *, paused: bool = False) -> str:
    """The same for the Salesforce (account and contact) poller."""
    return await _ensure(client, names.SALESFORCE_POLL_SCHEDULE, salesforce_poll_schedule(settings), paused)


async def _ensure(client: Client, schedule_id: str, schedule: Schedule, paused: bool) -> str:
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


async def poll_once(client: Client, settings: Settings, *, workflow_id: str | None = None) -> PollResult:
    """Run one NetSuite poll now, outside the schedule (the CLI, the demo, tests)."""
    return await client.execute_workflow(
        names.NETSUITE_POLL_WORKFLOW,
        poll_input(settings),
        id=workflow_id or _manual_id(names.NETSUITE_POLL_WORKFLOW_ID),
        task_queue=names.TASK_QUEUE,
        result_type=PollResult,
    )


async def salesforce_poll_once(
    client: Client, settings: Settings, *, workflow_id: str | None = None
) -> SalesforcePollResult:
    """Run one Salesforce poll now, outside the schedule."""
    return await client.execute_workflow(
        names.SALESFORCE_POLL_WORKFLOW,
        salesforce_poll_input(settings),
        id=workflow_id or _manual_id(names.SALESFORCE_POLL_WORKFLOW_ID),
        task_queue=names.TASK_QUEUE,
        result_type=SalesforcePollResult,
    )


def _manual_id(poller_id: str) -> str:
    return f"{poller_id}-manual-{uuid.uuid4().hex[:8]}"
