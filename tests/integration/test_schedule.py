"""The NetSuite poller's Temporal Schedule: created by `q2c setup`, idempotent, an operator's pause kept."""

from __future__ import annotations

import datetime as dt

from temporalio.client import Client, ScheduleActionStartWorkflow

from q2c.config import Settings
from temporal_client.schedules import ensure_poll_schedule
from workflows import names


async def test_setup_creates_the_poll_schedule_and_keeps_an_operators_pause(
    client: Client, settings: Settings
) -> None:
    settings.netsuite_poll_interval_seconds = 90
    handle = client.get_schedule_handle(names.NETSUITE_POLL_SCHEDULE)
    try:
        assert await ensure_poll_schedule(client, settings) == "created"
        described = await handle.describe()
        assert described.schedule.spec.intervals[0].every == dt.timedelta(seconds=90)
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert (action.workflow, action.id, action.task_queue) == (
            names.NETSUITE_POLL_WORKFLOW,
            names.NETSUITE_POLL_WORKFLOW_ID,
            names.TASK_QUEUE,
        )

        await handle.pause(note="NetSuite maintenance window")
        settings.netsuite_poll_interval_seconds = 120
        assert await ensure_poll_schedule(client, settings) == "updated"

        described = await handle.describe()
        assert described.schedule.spec.intervals[0].every == dt.timedelta(seconds=120)
        assert described.schedule.state.paused
        assert described.schedule.state.note == "NetSuite maintenance window"
    finally:
        await handle.delete()
