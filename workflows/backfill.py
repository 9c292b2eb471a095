"""The go-live backfill: link, create or park the records two orgs already hold, resumably and within the
APIs' limits. Started by ``temporal workflow start --type Backfill`` or ``q2c backfill``.

The rules are ``q2c.domain.backfill``; the report rows and the customer index live in q2c's store, so this
workflow carries counters and cursors only, whatever the volume.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from pydantic import ValidationError

    from activities.backfill import NetSuiteBackfillActivities, SalesforceBackfillActivities
    from activities.mapping import MappingActivities
    from q2c.domain.backfill import (
        ORDER_SALESFORCE_CALLS,
        WRITING,
        ApiBudget,
        RowStatus,
        Scope,
        eta_seconds,
        salesforce_write_calls,
    )
    from q2c.domain.mapping import Mapping
    from q2c.domain.messages import LoadMapping
    from q2c.domain.messages.backfill import (
        BackfillOptions,
        BackfillRequest,
        BackfillStage,
        BackfillStatus,
        BatchWritten,
        BeginRun,
        CheckOrders,
        FinishRun,
        IndexCustomers,
        NumberSteps,
        OpenQuery,
        PauseRequest,
        Phase,
        PlanCustomers,
        PlanPage,
        SetBudget,
        StepCounts,
        WriteBatch,
    )
    from q2c.domain.messages.catalog import CatalogStatus, CatalogSyncInput, SyncOptions
    from workflows import metrics, names
    from workflows.calls import ActivityCalls, long_steps

# A Bulk API page or a batch of writes takes seconds; a real org's latency and job queue need room.
STEP_TIMEOUT_SECONDS = 900.0
PROBLEMS_KEPT = 50
A = TypeVar("A")
R = TypeVar("R")
PLAN_SCOPES = (Scope.ACCOUNTS, Scope.CONTACTS, Scope.OPPORTUNITIES)


@workflow.defn(name=names.BACKFILL_WORKFLOW)
class Backfill:
    """One backfill run. Id ``backfill:{run id}``; input ``BackfillRequest`` (JSON on the CLI).

    Per scope, in the order accounts, contacts, opportunities, catalog:

    1. **Plan** (writes nothing outside q2c's store). Accounts: every active NetSuite customer is read by
       keyset pages into an index of matching keys; the accounts in scope are read by a Bulk API 2.0
       query job, page by page (``Sforce-Locator``), each matched against the index by the account-sync
       rules and decided (link / already linked / create customer / park / skip); a customer two accounts
       would link parks both; customers no account claimed get an account created (or are skipped).
       Contacts: those of linked accounts (or accounts this run links) go to NetSuite. Opportunities:
       won deals with no sales order are reported, or ordered (``opportunities = "order"``).
    2. **Budget.** The Salesforce calls the writes need are projected; past the run's budget (or the
       org's daily allocation less the reserve) the run waits in ``over_budget`` until ``set_budget``.
    3. **Write** (not in a dry run), in numbered batches per step: NetSuite first (links, customers,
       contacts; ``netsuite_slots`` batches at once, each a record at a time, so the NetSuite queue's
       limit holds), then Salesforce (a Bulk API ingest job per batch at or over the threshold,
       Collections below; order workflows started), then NetSuite again (new accounts' ids on their
       customers). A record refused for good is ``failed`` in the report; the run goes on.
    4. **Report**: the summary is kept in q2c's store with the rows; ``report.csv`` / ``report.json``.

    ``pause`` / ``resume`` signals hold it between pages and batches; Temporal's cancel stops it after
    the batches in flight, with the report of what was done. Continues as new every
    ``batches_per_run`` pages and batches, carrying its cursor; every step is idempotent, so a crash
    or a server restart repeats at most the batch in flight and duplicates nothing.
    """

    @workflow.init
    def __init__(self, request: dict[str, Any]) -> None:
        # The input arrives as JSON (``temporal workflow start --input``): checked here, so a wrong one
        # fails the run at once, naming the problem, rather than retrying a workflow task forever.
        self._invalid: str | None = None
        try:
            self._request = BackfillRequest.model_validate(request)
            run_id = self._request.run_id or names.backfill_run_id(workflow.info().workflow_id)
        except (ValidationError, ValueError) as exc:
            self._invalid = str(exc)
            self._request, run_id = BackfillRequest(), "invalid"
        request_ = self._request
        self._s = request_.resume or BackfillStatus(
            run_id=run_id, dry_run=request_.dry_run, scopes=request_.scopes
        )
        self._operator_pause = self._s.paused and self._s.stage == BackfillStage.PAUSED
        self._attention: str | None = (
            self._s.pause_reason if self._s.stage == BackfillStage.NEEDS_ATTENTION else None
        )
        self._mapping: Mapping | None = None
        self._cancelling = False

    # -- signals and query -------------------------------------------------------------------------
    @workflow.signal(name=names.PAUSE_SIGNAL)
    def pause(self, request: PauseRequest) -> None:
        self._operator_pause = True
        self._s.paused, self._s.pause_reason = True, request.reason

    @workflow.signal(name=names.RESUME_SIGNAL)
    def resume(self) -> None:
        self._operator_pause = False
        self._attention = None
        if self._s.stage != BackfillStage.OVER_BUDGET:
            self._s.paused, self._s.pause_reason = False, None

    @workflow.signal(name=names.SET_BUDGET_SIGNAL)
    def set_budget(self, request: SetBudget) -> None:
        self._s.api.budget = request.salesforce_api_budget

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> BackfillStatus:
        return self._s.model_copy(update={"elapsed_seconds": self._elapsed()})

    # -- main --------------------------------------------------------------------------------------
    @workflow.run
    async def run(self, request: dict[str, Any]) -> BackfillStatus:
        if self._invalid is not None:
            raise ApplicationError(
                f"backfill input refused: {self._invalid}", type="InvalidBackfillInput", non_retryable=True
            )
        request_ = self._request
        s = self._s
        call = self._held_calls
        try:
            mapping = await call(MappingActivities.load_mapping, LoadMapping())
            self._mapping = mapping
            if request_.resume is None:
                s.started_at = workflow.now().isoformat()
                usage = await call(
                    SalesforceBackfillActivities.begin,
                    BeginRun(run_id=s.run_id, request=request_, fresh=True),
                    summary=f"Begin backfill {s.run_id}",
                )
                s.api = ApiBudget(
                    budget=request_.salesforce_api_budget,
                    reserve_percent=request_.api_reserve_percent,
                    used_at_start=usage.used,
                    daily_max=usage.max,
                )
                s.salesforce_org_used = usage.used
            for scope in request_.scopes:
                if scope in s.scopes_done:
                    continue
                await self._hold()
                if s.phase is None or s.phase.scope is not scope:
                    first = {Scope.ACCOUNTS: "index", Scope.INVOICES: "plan_invoices"}.get(scope, "open")
                    s.phase = Phase(scope=scope, step=first)
                if scope is Scope.CATALOG:
                    await self._catalog()
                else:
                    await self._scope(scope, mapping)
                s.scopes_done.append(scope)
                s.phase = None
            return await self._finish(BackfillStage.DONE)
        except (asyncio.CancelledError, ActivityError, ChildWorkflowError) as exc:
            # Cancelled (Temporal's cancel, q2c backfill-cancel): wherever it was, the batches in flight
            # have finished (``_write_step``) and the report says what was done and what was not.
            if not isinstance(exc, asyncio.CancelledError) and not is_cancelled_exception(exc):
                raise
            self._cancelling = True
            s.cancelled = True
            return await self._finish(BackfillStage.CANCELLED)

    async def _finish(self, stage: str) -> BackfillStatus:
        s = self._s
        self._set_stage(BackfillStage.REPORTING)
        s.finished_at = workflow.now().isoformat()
        s.elapsed_seconds = self._elapsed()
        counts = await self._calls()(
            SalesforceBackfillActivities.counts, NumberSteps(run_id=s.run_id, scope=Scope.ACCOUNTS)
        )
        summary = {**s.model_dump(mode="json", exclude={"phase"}), "rows": counts, "state": stage}
        report = await self._calls()(
            SalesforceBackfillActivities.finish,
            FinishRun(run_id=s.run_id, state=stage, summary=summary),
            summary="Keep the report",
        )
        s.report_csv, s.report_json = report.csv_path, report.json_path
        self._set_stage(stage)
        return s

    # -- a scope --------------------------------------------------------------------------------------
    async def _scope(self, scope: Scope, mapping: Mapping) -> None:
        s, request, options = self._s, self._request, self._request.options
        phase = s.phase
        assert phase is not None
        counts = s.scope_counts(scope)
        call = self._held_calls
        if phase.step == "index":
            self._set_stage(BackfillStage.INDEXING)

            async def index(after: str) -> tuple[str, bool]:
                page = await call(
                    NetSuiteBackfillActivities.index_customers,
                    IndexCustomers(run_id=s.run_id, filters=request.filters, mapping=mapping, after=after),
                    summary=f"Index NetSuite customers after id {after or 0}",
                )
                if page.total is not None:
                    counts.total = (counts.total or 0) + page.total
                counts.read += page.read
                return page.last, page.done

            await self._keyset(phase, index)
            phase.step, phase.after = "open", ""
        if phase.step == "open":
            self._set_stage(BackfillStage.PLANNING)
            opened = await call(
                SalesforceBackfillActivities.open_query,
                OpenQuery(
                    run_id=s.run_id,
                    scope=scope,
                    filters=request.filters,
                    mapping=mapping,
                    poll_seconds=options.poll_seconds,
                ),
                summary=f"Bulk API query job for {scope.value}",
            )
            self._note_api(opened.api.used)
            counts.total = (counts.total or 0) + opened.total
            phase.job_id, phase.locator, phase.step = opened.job_id, "", "plan"
        if phase.step == "plan":
            self._set_stage(BackfillStage.PLANNING)
            while phase.locator is not None:
                await self._hold()
                assert phase.job_id is not None
                planned = await call(
                    SalesforceBackfillActivities.plan_page,
                    PlanPage(
                        run_id=s.run_id,
                        scope=scope,
                        job_id=phase.job_id,
                        locator=phase.locator,
                        max_records=options.page_size,
                        request=self._bare_request(),
                        mapping=mapping,
                    ),
                    summary=f"Plan a page of {scope.value}",
                )
                self._note_api(planned.api.used)
                counts.read += planned.read
                _add(counts.planned, planned.planned)
                if planned.to_check:
                    found = await call(
                        NetSuiteBackfillActivities.check_orders,
                        CheckOrders(run_id=s.run_id, opportunity_ids=planned.to_check),
                        summary=f"Look for the sales orders of {len(planned.to_check)} won deals in NetSuite",
                    )
                    _add(counts.planned, {"start_order": -found.were_to_order, "skip": found.were_to_order})
                phase.locator = planned.next_locator
                await self._checkpoint()
            phase.step = "resolve" if scope is Scope.ACCOUNTS else "number"
        if phase.step == "resolve":
            resolved = await call(
                SalesforceBackfillActivities.resolve_claims, NumberSteps(run_id=s.run_id, scope=scope)
            )
            if resolved.parked_as_claimed_twice:
                counts.planned["link"] = counts.planned.get("link", 0) - resolved.parked_as_claimed_twice
                counts.planned["park"] = counts.planned.get("park", 0) + resolved.parked_as_claimed_twice
            phase.step, phase.after = "plan_customers", ""
        if phase.step in ("plan_customers", "plan_invoices"):
            self._set_stage(BackfillStage.PLANNING)
            customers = phase.step == "plan_customers"

            async def plan(after: str) -> tuple[str, bool]:
                page = await call(
                    SalesforceBackfillActivities.plan_customers
                    if customers
                    else NetSuiteBackfillActivities.plan_invoices,
                    PlanCustomers(
                        run_id=s.run_id,
                        after=after,
                        limit=options.page_size,
                        request=self._bare_request(),
                        mapping=mapping,
                    ),
                    summary=f"Plan {'the customers no account claimed' if customers else 'NetSuite invoices'} "
                    f"after id {after or 0}",
                )
                if not customers:
                    counts.read += page.read  # customers were counted when indexed
                _add(counts.planned, page.planned)
                return page.last, page.done

            await self._keyset(phase, plan)
            phase.step = "number"
        if phase.step == "number":
            numbered = await call(
                SalesforceBackfillActivities.number_steps,
                NumberSteps(run_id=s.run_id, scope=scope, dry_run=s.dry_run),
                summary=f"Number the {scope.value} rows to write",
            )
            counts.planned = dict(numbered.planned)  # the store's own count, whatever retries did
            phase.projected = projected_calls(numbered, options)
            s.salesforce_projected += phase.projected
            counts.to_write = sum(numbered.steps.values()) if not s.dry_run else 0
            phase.totals = dict(numbered.steps)
            _next_step(phase, "done" if s.dry_run else "netsuite")
        if phase.step == "netsuite":
            await self._budget_check()
            await self._write_step(
                scope,
                "netsuite",
                NetSuiteBackfillActivities.write_netsuite,
                options.netsuite_batch,
                options.netsuite_slots,
            )
            _next_step(phase, "salesforce")
        if phase.step == "salesforce":
            await self._budget_check()
            await self._write_step(
                scope,
                "salesforce",
                SalesforceBackfillActivities.write_salesforce,
                options.salesforce_batch,
                1,
            )
            # What the writes were projected to take is spent now (the org's usage counts it).
            s.salesforce_projected -= phase.projected
            phase.projected = 0
            _next_step(phase, "netsuite_after")
        if phase.step == "netsuite_after":
            await self._write_step(
                scope,
                "netsuite_after",
                NetSuiteBackfillActivities.write_netsuite,
                options.netsuite_batch,
                options.netsuite_slots,
            )
            _next_step(phase, "done")
        if not s.dry_run:
            # What the rows say, not the sum of the batches' answers: a batch a crash cut short wrote
            # rows whose attempt never reported them (its retry skipped them).
            rows = await call(
                SalesforceBackfillActivities.counts,
                NumberSteps(run_id=s.run_id, scope=scope),
                summary=f"Count what was written for {scope.value}",
            )
            by_action = rows.get(scope.value, {})
            counts.written = sum(n.get(RowStatus.DONE.value, 0) for a, n in by_action.items() if a in WRITING)
            counts.failed = sum(n.get(RowStatus.FAILED.value, 0) for n in by_action.values())

    async def _keyset(self, phase: Phase, page: Callable[[str], Awaitable[tuple[str, bool]]]) -> None:
        """Read pages after ``phase.after`` until the last, the cursor kept in the phase (and so across a
        continue-as-new)."""
        while True:
            phase.after, done = await page(phase.after)
            if done:
                return
            await self._checkpoint()

    async def _write_step(
        self,
        scope: Scope,
        step: str,
        activity: Callable[[Any, WriteBatch], Awaitable[BatchWritten]],
        size: int,
        slots: int,
    ) -> None:
        """Hand out the step's rows in numbered batches, ``slots`` at once, until every one is written."""
        s, phase = self._s, self._s.phase
        assert phase is not None and self._mapping is not None
        self._set_stage(BackfillStage.WRITING)
        pending: dict[asyncio.Task[BatchWritten], WriteBatch] = {}
        while phase.next_batch <= phase.step_total or pending:
            room = not self._hold_needed() and not self._continue_due()
            while room and phase.next_batch <= phase.step_total and len(pending) < slots:
                first = phase.next_batch
                batch = WriteBatch(
                    run_id=s.run_id,
                    scope=scope,
                    step=step,
                    first=first,
                    last=min(phase.step_total, first + size - 1),
                    mapping=self._mapping,
                    bulk_threshold=self._request.options.bulk_threshold,
                    poll_seconds=self._request.options.poll_seconds,
                )
                phase.next_batch = batch.last + 1
                task = asyncio.ensure_future(
                    self._held_calls(
                        activity, batch, summary=f"{step} rows {batch.first}-{batch.last} of {scope.value}"
                    )
                )
                pending[task] = batch
            if not pending:
                await self._hold()
                await self._checkpoint()
                continue
            try:
                done, _ = await workflow.wait(list(pending), return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                # Cancelled: the batches in flight finish (their rows are written or not, never half),
                # then the run reports. Their activities are not cancelled: they run to their end; a
                # batch parked in needs_attention gives up.
                self._cancelling = True
                await workflow.wait(list(pending))
                for task, batch in pending.items():
                    self._count_batch(scope, step, batch, task)
                raise
            for task in done:
                self._count_batch(scope, step, pending.pop(task), task)
            self._details()

    def _count_batch(
        self, scope: Scope, step: str, batch: WriteBatch, task: asyncio.Task[BatchWritten]
    ) -> None:
        s = self._s
        counts = s.scope_counts(scope)
        if task.cancelled() or task.exception() is not None:
            return  # given up on cancel: its rows stay as they are in the report (planned, or done)
        result = task.result()  # a failed batch parked the run and was tried again (``_held_calls``)
        counts.written += result.written
        counts.failed += result.failed
        counts.done_writing += batch.last - batch.first + 1
        if step == "salesforce":
            s.salesforce_writes += result.written
        else:
            s.netsuite_writes += result.written
        self._note_api(result.api.used)
        for problem in result.problems:
            self._problem(problem)
        s.batches_this_run += 1

    # -- the catalog: issue 8's sync, in full, as a child ---------------------------------------------
    async def _catalog(self) -> None:
        s = self._s
        if s.dry_run:
            s.catalog = {
                "skipped": "a dry run does not sync the catalog (the catalog sync writes only differences)"
            }
            return
        self._set_stage(BackfillStage.WRITING)
        try:
            result: CatalogStatus = await workflow.execute_child_workflow(
                names.CATALOG_WORKFLOW,
                CatalogSyncInput(options=SyncOptions(**self._limits()), full=True),
                id=f"{workflow.info().workflow_id}:catalog",
                result_type=CatalogStatus,
                static_summary=f"Full catalog sync for backfill {s.run_id}",
            )
        except ChildWorkflowError as failure:
            if is_cancelled_exception(failure):
                raise
            self._problem(f"catalog: the full catalog sync failed: {failure.cause or failure}")
            s.catalog = {"failed": str(failure.cause or failure)}
            return
        s.catalog = {
            "items_read": result.items_read,
            "products_created": result.products_created,
            "products_updated": result.products_updated,
            "entries_created": result.entries_created,
            "entries_updated": result.entries_updated,
            "parked": result.parked_count,
        }

    # -- pacing ---------------------------------------------------------------------------------------
    def _hold_needed(self) -> bool:
        if self._cancelling:
            return False
        return (
            self._operator_pause or self._attention is not None or self._s.stage == BackfillStage.OVER_BUDGET
        )

    async def _hold(self) -> None:
        """Wait here while paused (by an operator, or over budget)."""
        if not self._hold_needed():
            return
        before = self._s.stage
        if self._attention is not None:
            self._s.paused, self._s.pause_reason = True, self._attention
            self._set_stage(BackfillStage.NEEDS_ATTENTION)
        elif self._operator_pause:
            self._set_stage(BackfillStage.PAUSED)
        await workflow.wait_condition(lambda: not self._hold_needed())
        self._s.paused, self._s.pause_reason = False, None
        held = (BackfillStage.PAUSED, BackfillStage.OVER_BUDGET, BackfillStage.NEEDS_ATTENTION)
        self._set_stage(before if before not in held else BackfillStage.WRITING)

    async def _budget_check(self) -> None:
        """Refuse to write past the Salesforce API budget: wait in ``over_budget`` until it is raised."""
        s = self._s
        while True:
            reason = s.api.refusal(s.salesforce_org_used, s.salesforce_projected)
            if reason is None:
                return
            s.paused, s.pause_reason = True, reason
            self._set_stage(BackfillStage.OVER_BUDGET)
            await self._budget_changed(s.api.budget)
            s.paused, s.pause_reason = False, None
            self._set_stage(BackfillStage.WRITING)

    async def _budget_changed(self, budget: int | None) -> None:
        await workflow.wait_condition(lambda: self._s.api.budget != budget)

    def _continue_due(self) -> bool:
        return (
            self._s.batches_this_run >= self._request.options.batches_per_run
            or workflow.info().is_continue_as_new_suggested()
        )

    async def _checkpoint(self) -> None:
        """Between pages and batches (nothing in flight): continue as new when the history is long."""
        self._s.batches_this_run += 1
        self._details()
        if self._continue_due():
            s = self._s
            s.runs += 1
            s.batches_this_run = 0
            workflow.continue_as_new(self._request.model_copy(update={"resume": s}))

    # -- helpers --------------------------------------------------------------------------------------
    async def _held_calls(self, activity: Callable[[Any, A], Awaitable[R]], arg: A, **kwargs: Any) -> R:
        """An activity call that waits first while the run is paused (paused, nothing new is scheduled)
        and, when it fails for good (an outage past its retries, expired credentials), parks the run in
        ``needs_attention`` with the error and tries the same call again once resumed: a run never
        starts over for one failure, and no page or batch is skipped."""
        while True:
            await self._hold()
            if self._cancelling:
                raise asyncio.CancelledError()
            try:
                return await self._calls()(activity, arg, **kwargs)
            except ActivityError as failure:
                if is_cancelled_exception(failure) or self._cancelling:
                    raise
                reason = f"{kwargs.get('summary') or 'a step'} failed: {failure.cause or failure}"
                self._problem(reason)
                self._attention = reason + " — fix it, then resume (q2c backfill-resume)"

    def _calls(self) -> ActivityCalls:
        """Every backfill activity heartbeats (``activities.backfill.heartbeating``)."""
        return long_steps(self._request.options, STEP_TIMEOUT_SECONDS)

    def _limits(self) -> dict[str, Any]:
        options = self._request.options
        return {
            "activity_timeout_seconds": options.activity_timeout_seconds,
            "activity_max_attempts": options.activity_max_attempts,
            "activity_max_interval_seconds": options.activity_max_interval_seconds,
        }

    def _bare_request(self) -> BackfillRequest:
        return self._request.model_copy(update={"resume": None})

    def _note_api(self, used: int | None) -> None:
        if used is not None:
            self._s.salesforce_org_used = max(used, self._s.salesforce_org_used or 0)

    def _problem(self, text: str) -> None:
        if len(self._s.problems) < PROBLEMS_KEPT:
            self._s.problems.append(text)

    def _elapsed(self) -> float:
        if not self._s.started_at:
            return 0.0
        end = dt.datetime.fromisoformat(self._s.finished_at) if self._s.finished_at else workflow.now()
        return max(0.0, (end - dt.datetime.fromisoformat(self._s.started_at)).total_seconds())

    def _set_stage(self, stage: str) -> None:
        self._s.stage = stage
        self._details()

    def _details(self) -> None:
        s = self._s
        done, total = s.done_and_total()
        workflow.upsert_search_attributes(
            [
                names.STAGE.value_set(s.stage),
                names.BACKFILL_DONE.value_set(done),
                names.BACKFILL_TOTAL.value_set(total),
            ]
        )
        metrics.show_backfill_progress(s.run_id, done, total)
        elapsed = self._elapsed()
        eta = eta_seconds(done, total, elapsed)
        lines = [
            f"**Backfill {s.run_id}**{' (dry run)' if s.dry_run else ''} — {s.stage}"
            + (f": {s.pause_reason}" if s.pause_reason else ""),
            f"- progress: {done} of {total}" + (f", ETA {eta:.0f} s" if eta else ""),
        ]
        if s.phase:
            lines.append(f"- now: {s.phase.scope.value}, {s.phase.step}")
        for scope, counts in s.counts.items():
            planned = ", ".join(f"{k} {v}" for k, v in sorted(counts.planned.items()))
            lines.append(
                f"- {scope}: read {counts.read}; {planned or 'nothing planned yet'}; "
                f"written {counts.written}, failed {counts.failed}"
            )
        used = s.api.used(s.salesforce_org_used)
        lines.append(f"- Salesforce API calls used {used}, projected for the writes {s.salesforce_projected}")
        lines += [f"- problem: {p}" for p in s.problems[:10]]
        workflow.set_current_details("\n".join(lines))


def projected_calls(numbered: StepCounts, options: BackfillOptions) -> int:
    """Salesforce calls a scope's writes take: its updates and its upserts (each batch's two writes are
    checked against the Bulk API threshold apart), and the order workflows it starts."""
    total = numbered.salesforce_updates + numbered.salesforce_upserts
    calls = ORDER_SALESFORCE_CALLS * numbered.orders
    for part in (numbered.salesforce_updates, numbered.salesforce_upserts):
        if part:
            # Batches mix both: each batch holds its share of each.
            share = max(1, round(options.salesforce_batch * part / total))
            calls += salesforce_write_calls(part, batch=share, threshold=options.bulk_threshold)
    return calls


def _add(into: dict[str, int], more: dict[str, int]) -> None:
    for key, value in more.items():
        into[key] = into.get(key, 0) + value
        if not into[key]:
            del into[key]


def _next_step(phase: Phase, step: str) -> None:
    phase.step, phase.next_batch = step, 1
    phase.step_total = phase.totals.get(step, 0)


__all__ = ["PLAN_SCOPES", "Backfill"]
