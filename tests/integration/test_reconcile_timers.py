"""The reconciliation workflow's timer and signal paths on Temporal's time-skipping server, with stand-in
activities (the workflow's control flow only; the real ones are tested end to end in
test_reconciliation.py): a missing rate looked at again after an hour without being told, the retry
signal after a step failed for good, the budget signal, the month-end workflow's children, and the
schedule `q2c setup` creates (on the dev server)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client, ScheduleActionStartWorkflow, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.reconciliation import MISSING_RATE
from q2c.config import Settings
from q2c.domain.messages.backfill import SetBudget
from q2c.domain.messages.reconciliation import (
    ActualsRead,
    BookingsRead,
    Compare,
    Compared,
    ReadActuals,
    ReadBookings,
    ReadReferenced,
    ReconcileOptions,
    ReconcileRequest,
    ReconcileStage,
    ReconcileStatus,
    ReferencedRead,
    ReportWritten,
    WriteBack,
    WriteReport,
    WrittenBack,
)
from q2c.domain.reconciliation import Period, month_end_periods, reconcile, summarise
from temporal_client.reconciliation import MONTH_END_HOUR_UTC, ensure_reconcile_schedule
from tests.conftest import activity_name
from workflows import names
from workflows.reconciliation import Reconcile, ReconcileMonthEnd


@dataclass
class Script:
    """What the stand-in activities do: fail the first compares for a missing rate, fail the first
    write-back for good, project this many opportunity writes; and what they were asked."""

    missing_rate_times: int = 0
    write_back_failures: int = 0
    to_write: int = 10
    calls: Counter[str] = field(default_factory=Counter)
    periods: list[str] = field(default_factory=list)


def stand_ins(script: Script) -> list[Callable[..., Any]]:
    @activity.defn(name="reconcile_read_bookings")
    async def read_bookings(request: ReadBookings) -> BookingsRead:
        script.calls["read_bookings"] += 1
        script.periods.append(request.period)
        return BookingsRead(bookings=2, open_opportunities=0, api_used_at_start=100, api_used=104)

    @activity.defn(name="reconcile_read_actuals")
    async def read_actuals(request: ReadActuals) -> ActualsRead:
        script.calls["read_actuals"] += 1
        return ActualsRead(orders=2, rates=0, unknown_opportunities=1)

    @activity.defn(name="reconcile_read_referenced")
    async def read_referenced(request: ReadReferenced) -> ReferencedRead:
        script.calls["read_referenced"] += 1
        return ReferencedRead(found=1, missing=0)

    @activity.defn(name="reconcile_compare")
    async def compare(request: Compare) -> Compared:
        script.calls["compare"] += 1
        if script.calls["compare"] <= script.missing_rate_times:
            raise ApplicationError("no EUR -> USD rate in 2026-10", type=MISSING_RATE, non_retryable=True)
        period = Period.parse(request.period)
        summary = summarise(
            reconcile([], [], period, as_of=request.as_of),
            period,
            as_of=request.as_of,
            reporting_currency="USD",
            rates=[],
        )
        return Compared(summary=summary, opportunities_to_write=script.to_write)

    @activity.defn(name="reconcile_write_report")
    async def write_report(request: WriteReport) -> ReportWritten:
        script.calls["write_report"] += 1
        return ReportWritten(html_path="r.html", csv_path="r.csv", url="file:///r.html", rows=0)

    @activity.defn(name="reconcile_write_back")
    async def write_back(request: WriteBack) -> WrittenBack:
        script.calls["write_back"] += 1
        if script.calls["write_back"] <= script.write_back_failures:
            raise ApplicationError("INVALID_SESSION_ID: Session expired", non_retryable=True)
        return WrittenBack(reconciliation_id="a0L000000000001AAA", opportunities=2, cleared=0, api_used=110)

    return [read_bookings, read_actuals, read_referenced, compare, write_report, write_back]


@pytest.fixture
def env(skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    """Temporal's time-skipping server (tests.conftest): the parked hour passes in moments."""
    return skipping_env


async def _run(
    env: WorkflowEnvironment, script: Script, body: ReconcileRequest
) -> WorkflowHandle[object, ReconcileStatus]:
    return await env.client.start_workflow(
        names.RECONCILE_WORKFLOW,
        body.model_dump(mode="json"),
        id=names.reconcile_workflow_id(body.period),
        task_queue=names.TASK_QUEUE,
        result_type=ReconcileStatus,
    )


def _workers(env: WorkflowEnvironment, script: Script) -> tuple[Worker, Worker]:
    activities = stand_ins(script)
    netsuite = [a for a in activities if activity_name(a) == "reconcile_read_actuals"]
    return (
        Worker(
            env.client,
            task_queue=names.TASK_QUEUE,
            workflows=[Reconcile, ReconcileMonthEnd],
            activities=[a for a in activities if a not in netsuite],
        ),
        Worker(env.client, task_queue=names.NETSUITE_TASK_QUEUE, activities=netsuite),
    )


def _request(**extra: object) -> ReconcileRequest:
    options = ReconcileOptions(activity_max_attempts=1, retry_every_seconds=3600)
    return ReconcileRequest.model_validate(
        {"period": "2026-10", "as_of": "2026-12-15", "options": options, **extra}
    )


async def _stage(h: WorkflowHandle[object, ReconcileStatus], stage: ReconcileStage) -> ReconcileStatus:
    for _ in range(300):  # real time, bounded: the workflow gets there without any timer
        status = await h.query(names.STATUS_QUERY, result_type=ReconcileStatus)
        if status.stage is stage:
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached {stage}; last {status}")


async def test_a_missing_rate_is_looked_at_again_after_the_hour_without_a_signal(
    env: WorkflowEnvironment,
) -> None:
    script = Script(missing_rate_times=2)
    a, b = _workers(env, script)
    async with a, b:
        h = await _run(env, script, _request())
        status = await h.result()  # two hourly looks, skipped through
    assert status.stage is ReconcileStage.DONE
    assert script.calls["compare"] == 3 and script.calls["read_actuals"] == 3  # NetSuite read again each time
    assert script.calls["read_bookings"] == 1 and script.calls["read_referenced"] == 3
    assert status.problem is None and status.salesforce_calls == 10


async def test_a_step_failed_for_good_parks_and_the_retry_signal_repeats_only_it(
    env: WorkflowEnvironment,
) -> None:
    script = Script(write_back_failures=1)
    a, b = _workers(env, script)
    async with a, b:
        h = await _run(
            env,
            script,
            _request(options=ReconcileOptions(activity_max_attempts=1, retry_every_seconds=10 * 86400)),
        )
        parked = await _stage(h, ReconcileStage.NEEDS_ATTENTION)
        assert parked.problem and "INVALID_SESSION_ID" in parked.problem and "retry" in parked.problem
        await h.signal(names.RETRY_SIGNAL)
        status = await h.result()
    assert status.stage is ReconcileStage.DONE and status.reconciliation_id
    assert (
        script.calls["write_back"] == 2 and script.calls["write_report"] == 1 and script.calls["compare"] == 1
    )


async def test_over_budget_waits_for_set_budget(skipping_env: WorkflowEnvironment) -> None:
    env = skipping_env
    script = Script(to_write=5000)  # a Bulk API job: about 12 calls, plus 3
    a, b = _workers(env, script)
    async with a, b:
        h = await _run(env, script, _request(salesforce_api_budget=10))
        waiting = await _stage(h, ReconcileStage.OVER_BUDGET)
        assert waiting.problem and "budget is 10" in waiting.problem and script.calls["write_back"] == 0
        await env.sleep(dt.timedelta(days=2))  # no timer lets it go on its own
        assert (
            await h.query(names.STATUS_QUERY, result_type=ReconcileStatus)
        ).stage is ReconcileStage.OVER_BUDGET
        await h.signal(names.SET_BUDGET_SIGNAL, SetBudget(salesforce_api_budget=100))
        status = await h.result()
    assert status.stage is ReconcileStage.DONE and script.calls["write_back"] == 1


async def test_the_month_end_workflow_reconciles_the_month_just_ended(
    skipping_env: WorkflowEnvironment,
) -> None:
    env = skipping_env
    script = Script()
    a, b = _workers(env, script)
    async with a, b:
        started = await env.client.execute_workflow(
            names.RECONCILE_MONTH_END_WORKFLOW,
            {"as_of": None, "options": ReconcileOptions(activity_max_attempts=1).model_dump(mode="json")},
            id=names.RECONCILE_MONTH_END_WORKFLOW_ID,
            task_queue=names.TASK_QUEUE,
            result_type=list[str],
        )
    today = (await env.get_current_time()).date()
    expected = [p.label for p in month_end_periods(today)]
    assert started == [names.reconcile_workflow_id(p) for p in expected]
    assert script.periods == expected  # one after the other, in this order


async def test_setup_creates_the_month_end_schedule(client: Client, settings: Settings) -> None:
    handle = client.get_schedule_handle(names.RECONCILE_SCHEDULE)
    try:
        assert await ensure_reconcile_schedule(client, settings) == "created"
        described = await handle.describe()
        [calendar] = described.schedule.spec.calendars
        assert [r.start for r in calendar.day_of_month] == [1] and [r.start for r in calendar.hour] == [
            MONTH_END_HOUR_UTC
        ]
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert (action.workflow, action.task_queue) == (names.RECONCILE_MONTH_END_WORKFLOW, names.TASK_QUEUE)
        assert await ensure_reconcile_schedule(client, settings) == "updated"
    finally:
        await handle.delete()
