"""The Temporal Schedule behind the NetSuite poller: created (or updated) by ``q2c setup`` and the demo,
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
from q2c.domain.messages import PollInput, PollResult
from starter.orders import order_input
from workflows import names


def poll_input(settings: Settings) -> PollInput:
    return PollInput(
        credit_overdue_days=settings.credit_overdue_days, options=order_input(settings, "").options
    )


def poll_schedule(settings: Settings) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            names.NETSUITE_POLL_WORKFLOW,
            poll_input(settings),
            id=names.NETSUITE_POLL_WORKFLOW_ID,
            task_queue=names.TASK_QUEUE,
        ),
        spec=ScheduleSpec(
            intervals=[
                ScheduleIntervalSpec(every=dt.timedelta(seconds=settings.netsuite_poll_interval_seconds))
            ]
        ),
        # A poll still running when the next is due: skip, the running one reads the same changes.
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_poll_schedule(client: Client, settings: Settings, *, paused: bool = False) -> str:
    """Create the poller's schedule, or bring an existing one up to date; returns what it did."""
    schedule = poll_schedule(settings)
    schedule.state.paused = paused
    try:
        await client.create_schedule(names.NETSUITE_POLL_SCHEDULE, schedule)
        return "created"
    except ScheduleAlreadyRunningError:

        def update(current: ScheduleUpdateInput) -> ScheduleUpdate:
            schedule.state = current.description.schedule.state  # keep a pause set by an operator
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(names.NETSUITE_POLL_SCHEDULE).update(update)
        return "updated"


async def poll_once(client: Client, settings: Settings) -> PollResult:
    """Run one poll now, outside the schedule (the CLI, the demo, tests)."""
    return await client.execute_workflow(
        names.NETSUITE_POLL_WORKFLOW,
        poll_input(settings),
        id=f"{names.NETSUITE_POLL_WORKFLOW_ID}-manual-{uuid.uuid4().hex[:8]}",
        task_queue=names.TASK_QUEUE,
        result_type=PollResult,
    )
