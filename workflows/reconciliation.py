"""Bookings versus billings, per period: ``Reconcile`` (``reconcile:{period}``) and the month-end
schedule's ``ReconcileMonthEnd``.

The rules are ``q2c.domain.reconciliation``; the records live in q2c's store, keyed by period, so this
workflow carries counts and the summary only, whatever the volume. Every step replaces what it wrote for
the period before: a rerun of a period (a new run of the same workflow id) replaces its results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import (
    ActivityError,
    ApplicationError,
    WorkflowAlreadyStartedError,
    is_cancelled_exception,
)
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.reconciliation import (
        MISSING_RATE,
        NetSuiteReconciliationActivities,
        ReconciliationActivities,
    )
    from q2c.domain.backfill import salesforce_write_calls
    from q2c.domain.messages.backfill import SetBudget
    from q2c.domain.messages.reconciliation import (
        Compare,
        ReadActuals,
        ReadBookings,
        ReadReferenced,
        ReconcileRequest,
        ReconcileStage,
        ReconcileStatus,
        WriteBack,
        WriteReport,
    )
    from q2c.domain.reconciliation import month_end_periods, summary_text
    from workflows import names
    from workflows.calls import ActivityCalls, long_steps

STEP_TIMEOUT_SECONDS = 900.0  # 5,000 opportunities read, or written by a Bulk API job, take minutes
WRITE_OVERHEAD_CALLS = 2  # the Reconciliation__c upsert and the query of its id
MARKS_PAGE = 2000  # the query of earlier marks: a call per page
MAX_LOOKS = 100  # parked looks per run before continue-as-new
A = TypeVar("A")
R = TypeVar("R")


@workflow.defn(name=names.RECONCILE_WORKFLOW)
class Reconcile:
    """One period's reconciliation. Id ``reconcile:{period}``; input ``ReconcileRequest`` as JSON
    (``{"period": "2026-11"}``; the period may be left out, the id names it).

    1. Salesforce: the period's won opportunities with their lines, and its open pipeline by forecast
       category (SOQL, 2,000 a call). 2. NetSuite: the sales orders of those opportunities and of the
    period's dates, their lines, invoices, credit memos, payments and recognised revenue; the period's
    consolidated exchange rates. 3. Salesforce again: the opportunities unexplained orders name.
    4. The comparison: a row per opportunity (and per unexplained order) with its reason codes, and the
    totals per currency and in the reporting currency. A currency without a rate parks the run in
    ``needs_attention`` until ``retry`` (or the next hourly look), then NetSuite is read again.
    5. The budget: the write-back's calls are projected; past the run's budget it waits in
    ``over_budget`` until ``set_budget``. 6. The report (CSV and HTML). 7. Salesforce: each
    opportunity's status and variance fields (earlier marks of the period no longer in it cleared) and
    the period's ``Reconciliation__c``.

    Any step that fails for good parks the run in ``needs_attention`` with the error; ``retry`` repeats
    that step. The ``status`` query, the ``Q2CStage`` search attribute and the web UI's details show
    where it is, the totals and the exceptions by reason.
    """

    @workflow.init
    def __init__(self, request: dict[str, Any] | None = None) -> None:
        # Checked here, so a wrong input fails the run at once, naming the problem, rather than retrying a
        # workflow task forever.
        self._invalid: str | None = None
        workflow_id = workflow.info().workflow_id
        try:
            from_id = names.reconcile_period(workflow_id)
            data = dict(request or {})
            data.setdefault("period", from_id)
            self._request = ReconcileRequest.model_validate(data)
            if workflow_id != names.reconcile_workflow_id(self._request.period):
                raise ValueError(
                    f"the workflow id {workflow_id} is not reconcile:{self._request.period}, the input's period"
                )
        except (ValidationError, ValueError) as exc:
            self._invalid = str(exc)
            self._request = ReconcileRequest(period="2000-01")
        self._s = ReconcileStatus(
            period=self._request.period, salesforce_api_budget=self._request.salesforce_api_budget
        )
        self._retry = False
        self._used_at_start: int | None = None
        self._looks = 0  # parked looks in this run: past MAX_LOOKS it continues as new
        self._as_of: dt.date | None = None

    @workflow.signal(name=names.RETRY_SIGNAL)
    def retry(self) -> None:
        self._retry = True

    @workflow.signal(name=names.SET_BUDGET_SIGNAL)
    def set_budget(self, request: SetBudget) -> None:
        self._s.salesforce_api_budget = request.salesforce_api_budget

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> ReconcileStatus:
        return self._s

    @workflow.run
    async def run(self, request: dict[str, Any] | None = None) -> ReconcileStatus:
        if self._invalid is not None:
            raise ApplicationError(
                f"reconciliation input refused: {self._invalid}",
                type="InvalidReconcileInput",
                non_retryable=True,
            )
        r, s = self._request, self._s
        as_of = self._as_of = r.as_of or workflow.now().date()
        self._stage(ReconcileStage.READING_SALESFORCE)
        read = await self._step(
            ReconciliationActivities.read_bookings, ReadBookings(period=r.period), f"Read bookings {r.period}"
        )
        s.bookings, self._used_at_start = read.bookings, read.api_used_at_start
        self._note_api(read.api_used)
        # An input without them (a schedule's, or `temporal workflow start`'s): the worker's settings.
        currency = r.reporting_currency or read.default_reporting_currency
        if r.salesforce_api_budget is None and s.salesforce_api_budget is None:
            s.salesforce_api_budget = read.default_api_budget
        while True:
            self._stage(ReconcileStage.READING_NETSUITE)
            actuals = await self._step(
                NetSuiteReconciliationActivities.read_actuals,
                ReadActuals(period=r.period, reporting_currency=currency, as_of=as_of),
                f"Read NetSuite actuals {r.period}",
            )
            s.orders = actuals.orders
            if actuals.unknown_opportunities or actuals.unnamed_orders:
                looked_up = await self._step(
                    ReconciliationActivities.read_referenced,
                    ReadReferenced(period=r.period),
                    f"Look up the opportunities of {actuals.unknown_opportunities + actuals.unnamed_orders} "
                    "orders no booking explains",
                )
                self._note_api(looked_up.api_used)
            self._stage(ReconcileStage.COMPARING)
            try:
                compared = await self._calls()(
                    ReconciliationActivities.compare,
                    Compare(
                        period=r.period,
                        reporting_currency=currency,
                        as_of=as_of,
                        unbilled_after_days=r.unbilled_after_days,
                    ),
                    summary=f"Compare {r.period}",
                )
                break
            except ActivityError as failure:
                if is_cancelled_exception(failure):
                    raise
                # No rate (or another failure for good): park until someone fixes it (retry) or the next
                # look; then read NetSuite again, since a rate entered meanwhile is there.
                cause = failure.cause
                if isinstance(cause, ApplicationError) and cause.type == MISSING_RATE:
                    await self._park(cause.message, as_of)
                else:
                    await self._park(f"Compare {r.period} failed: {cause or failure}", as_of)
        s.summary = compared.summary
        await self._within_budget(compared.opportunities_to_write)
        self._stage(ReconcileStage.WRITING_REPORT)
        report = await self._step(
            ReconciliationActivities.write_report,
            WriteReport(period=r.period, generated_at=workflow.now()),
            f"Write report {r.period}",
        )
        s.report_html, s.report_csv, s.report_url = report.html_path, report.csv_path, report.url
        self._stage(ReconcileStage.WRITING_SALESFORCE)
        written = await self._step(
            ReconciliationActivities.write_back,
            WriteBack(
                period=r.period,
                report_url=report.url,
                run_at=workflow.now(),
                bulk_threshold=r.options.bulk_threshold,
                poll_seconds=r.options.poll_seconds,
            ),
            f"Write {compared.opportunities_to_write} opportunities and Reconciliation__c {r.period}",
        )
        s.reconciliation_id = written.reconciliation_id
        s.opportunities_written, s.opportunities_cleared = written.opportunities, written.cleared
        s.write_failures = written.failures
        self._note_api(written.api_used)
        self._stage(ReconcileStage.DONE)
        return s

    # -- steps -------------------------------------------------------------------------------------
    async def _step(self, activity: Callable[[Any, A], Awaitable[R]], arg: A, summary: str) -> R:
        """An activity that, failing for good, parks the run with the error and is tried again on retry."""
        while True:
            try:
                return await self._calls()(activity, arg, summary=summary)
            except ActivityError as failure:
                if is_cancelled_exception(failure):
                    raise
                stage = self._s.stage
                await self._park(f"{summary} failed: {failure.cause or failure}", self._as_of)
                self._stage(stage)

    async def _park(self, problem: str, as_of: dt.date | None) -> None:
        """Wait in needs_attention for ``retry`` or the next look. A run parked for weeks would grow its
        history by some 30 events a look: past MAX_LOOKS it continues as new (the same input, the same
        day judged), starting over from the reads, which replace what they wrote."""
        self._looks += 1
        if self._looks > MAX_LOOKS or workflow.info().is_continue_as_new_suggested():
            workflow.continue_as_new(
                self._request.model_copy(update={"as_of": as_of}).model_dump(mode="json")
            )
        s = self._s
        s.problem = problem + " — fix it, then signal retry (q2c reconcile-retry PERIOD)"
        self._stage(ReconcileStage.NEEDS_ATTENTION)
        self._retry = False
        try:
            await workflow.wait_condition(
                lambda: self._retry, timeout=dt.timedelta(seconds=self._request.options.retry_every_seconds)
            )
        except TimeoutError:
            pass  # look again anyway: the cause may have been fixed without telling us
        s.problem = None

    async def _within_budget(self, opportunities: int) -> None:
        """Wait in over_budget while the write-back's projected calls would pass the run's budget."""
        s = self._s
        projected = (
            salesforce_write_calls(
                opportunities, batch=max(1, opportunities), threshold=self._request.options.bulk_threshold
            )
            + WRITE_OVERHEAD_CALLS
            + 1
            + opportunities // MARKS_PAGE
        )

        def refusal() -> str | None:
            budget = s.salesforce_api_budget
            if budget is None or s.salesforce_calls + projected <= budget:
                return None
            return (
                f"the run has used {s.salesforce_calls} Salesforce API calls and its write-back projects "
                f"{projected} more; its budget is {budget} — raise it (signal set_budget)"
            )

        while (reason := refusal()) is not None:
            s.problem = reason
            self._stage(ReconcileStage.OVER_BUDGET)
            budget = s.salesforce_api_budget
            await workflow.wait_condition(lambda budget=budget: s.salesforce_api_budget != budget)  # type: ignore[misc]
        s.problem = None

    def _calls(self) -> ActivityCalls:
        return long_steps(self._request.options, STEP_TIMEOUT_SECONDS)

    def _note_api(self, used: int | None) -> None:
        if used is not None and self._used_at_start is not None:
            self._s.salesforce_calls = max(self._s.salesforce_calls, used - self._used_at_start)

    # -- visibility --------------------------------------------------------------------------------
    def _stage(self, stage: ReconcileStage) -> None:
        self._s.stage = stage
        workflow.upsert_search_attributes([names.STAGE.value_set(stage.value)])
        s = self._s
        lines = [f"Reconciliation {s.period}: {stage.value}"]
        if s.problem:
            lines.append(f"Problem: {s.problem}")
        lines.append(f"{s.bookings} won opportunities, {s.orders} sales orders read")
        if s.summary is not None:
            lines.append(summary_text(s.summary))
        elif stage is ReconcileStage.DONE:
            lines.append("No summary")
        if s.report_url:
            lines.append(f"Report: {s.report_url}")
        workflow.set_current_details("\n".join(lines))


@workflow.defn(name=names.RECONCILE_MONTH_END_WORKFLOW)
class ReconcileMonthEnd:
    """What the month-end schedule starts (``q2c.domain.reconciliation.month_end_periods``): the month
    before last again (its deals have now been won a month: unbilled ones show), the month that just
    ended, and the quarter when that month closed one; one after the other, each its own
    ``reconcile:{period}``, so an opportunity's fields end up saying the latest (a run already going for
    a period is left to finish)."""

    @workflow.run
    async def run(self, request: dict[str, Any] | None = None) -> list[str]:
        today = workflow.now().date()
        started: list[str] = []
        for period in month_end_periods(today):
            workflow_id = names.reconcile_workflow_id(period.label)
            try:
                await workflow.execute_child_workflow(
                    Reconcile.run,
                    {**(request or {}), "period": period.label},
                    id=workflow_id,
                    task_queue=names.TASK_QUEUE,
                    id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                    parent_close_policy=ParentClosePolicy.ABANDON,
                )
                started.append(workflow_id)
            except WorkflowAlreadyStartedError:
                started.append(f"{workflow_id} (already running)")
        return started
