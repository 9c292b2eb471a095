"""Customer onboarding: a new customer gets a customer success manager and a dated task sequence.

Glossary: *customer* = the NetSuite customer being onboarded (its Salesforce account is where everything
shows); *CSM* = customer success manager, a Salesforce user from the onboarding file's roster; *step* = one
task of the file's sequence; *plan* = the onboarding file as it was when this onboarding started.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.netsuite import NetSuiteActivities
    from activities.onboarding import OnboardingActivities
    from q2c.domain.messages import CheckCredit, RetryRequest
    from q2c.domain.messages.onboarding import (
        AccountCsm,
        AssignCsm,
        CloseOnboardingTasks,
        CreditHoldChanged,
        Csm,
        CsmChanged,
        CustomerOrders,
        FinishEarly,
        FirstOrder,
        LoadOnboardingPlan,
        OnboardingInput,
        OnboardingRecordUpsert,
        OnboardingStage,
        OnboardingStatus,
        OnboardingTask,
        OrderClosed,
        PersonAction,
        PersonActionDone,
        ReadOnboardingAccount,
        ReadOnboardingTasks,
        Reassign,
        RecordOnboarding,
        ResolveUser,
        SkipStep,
        TaskChanged,
        UserInfo,
        task_key,
    )
    from q2c.domain.onboarding import (
        OwnerRole,
        StepRule,
        StepState,
        StepStatus,
        add_days,
        agenda,
        customer_facts,
        days_between,
        matching_rule,
        next_open,
        no_rule_reason,
        render,
        sequence_end,
        unavailable_reason,
    )
    from workflows import metrics, names
    from workflows.calls import ActivityCalls
    from workflows.common import NeedsAttention, keywords

INACTIVE_OWNER = "salesforce.INACTIVE_OWNER_OR_USER"
CANCELLED_STATUS = "Cancelled"  # a closed TaskStatus value q2c's metadata deploys
COMPLETED_STATUS = "Completed"
PersonRequest = SkipStep | Reassign | FinishEarly


class Finished(Exception):
    """The onboarding completed or was cancelled: the workflow returns."""


@workflow.defn(name=names.ONBOARDING_WORKFLOW)
class Onboarding:
    """One new customer's onboarding. Id: ``onboarding:{NetSuite customer id}``.

    Lifecycle (stage = ``Q2CStage``; Salesforce shows it on ``Onboarding__c.Stage__c``):
      1. ``starting``: the first order arrives (signal-with-start ``first_order``); the onboarding file is
         read once (the plan this onboarding keeps), then the account (billing country, owner).
      2. ``assigning_csm``: the customer's facts (segment by the first order's amount, region by the
         billing country, currency) pick the first matching assignment rule; within it the next active
         CSM under capacity, round-robin (q2c's store, one transaction). No rule, or nobody available:
         ``needs_attention`` with the reason, tried again daily, on ``retry``, or settled by a person's
         ``reassign``. Then ``Onboarding__c`` is upserted (by the customer id) and the account's CSM field
         (and owner, as the file says) set. A customer on credit hold starts ``paused``.
      3. ``in_progress``: each step's Task is created on its day (or ``lead_days`` before), upserted by
         ``onboarding:{customer}:{attempt}:{step}`` and owned by the CSM, the account owner or the CSM's
         manager. A step that comes ``after`` others is not created before they are done. Durable timers
         wake the workflow on the next day anything is due (at ``wake_hour_utc``). Completion comes back
         from Salesforce: ``task_changed`` (the Salesforce poller, or the Task outbound message) makes the
         workflow read its open tasks; a daily re-read is the safety net. A Task completed is done; one
         cancelled or deleted in Salesforce counts as skipped. An open task ``escalate_after_days`` past
         its due date is escalated once: a Task for the CSM's active manager (else the file's
         ``escalation_fallback``; else it is only noted).
      4. ``completed`` when every step is done or skipped: the workflow returns.

    It reacts to the business:
      - ``credit_hold_changed`` (NetSuite poller) -> credit is checked in NetSuite; on hold: ``paused``
        (nothing created or escalated; the CSM gets a Task saying so), re-checked every
        ``credit_recheck_seconds``; released: the remaining sequence and the open tasks' due dates move on
        by the days paused, and the CSM's notice is closed.
      - ``order_closed`` (the order workflow: deal reopened, or order closed in NetSuite) -> a claim:
        NetSuite is asked whether any sales order of the customer is still open; none -> cancelled.
      - ``csm_changed`` (Salesforce poller: the CSM's user changed), the daily re-read, or Salesforce
        refusing the CSM as an owner (INACTIVE_OWNER_OR_USER) -> a CSM no longer active is replaced by the
        rules (excluding them) and their open tasks move to the new CSM.

    People (updates, refused with the reason when they cannot apply, so nothing is recorded):
    ``skip_step(step)``, ``reassign(csm)``, ``finish_early(reason)``; signal ``retry`` for a parked one.
    Query ``status() -> OnboardingStatus``; the web UI's details show the sequence.

    Compensation: cancelling (its order closed, or Temporal's cancel) closes every open task as Cancelled
    with the reason in its description, marks the steps not yet created cancelled, and says why on
    ``Onboarding__c`` (``Status_Reason__c``). Tasks done stay done. Each step is idempotent (upserts by
    key; closing skips tasks already closed), so a retried or repeated compensation changes nothing.

    Continues-as-new after ``passes_per_run`` passes (or when Temporal suggests it), the state carried
    in one model; a hold or a sequence lasting months keeps each history short.
    """

    @workflow.init
    def __init__(self, input: OnboardingInput) -> None:
        self._input = input
        self._call = ActivityCalls(input.options)
        self._status = input.resume or OnboardingStatus(
            customer_id=input.customer_id, attempt=input.attempt, first_order=input.first_order
        )
        self._wake = False
        self._tasks_nudged = False
        self._credit_nudged = False
        self._csm_nudged = False
        self._order_closed: OrderClosed | None = None
        self._fresh_claim = False  # an order_closed arrived since the pass began (wakes a parked one)
        self._requests: list[tuple[int, PersonRequest]] = []
        self._answers: dict[int, tuple[bool, str]] = {}
        self._request_count = 0
        self._record_shown: str | None = None
        self._parked_for: str | None = None  # the problem last shown (not shown again on each retry)

    # -- signals, updates, query -------------------------------------------------------------------------
    @workflow.signal(name=names.FIRST_ORDER_SIGNAL)
    def first_order(self, order: FirstOrder) -> None:
        if self._status.first_order is None:
            self._status.first_order = order

    @workflow.signal(name=names.TASK_CHANGED_SIGNAL)
    def task_changed(self, event: TaskChanged) -> None:
        self._status.signals += 1
        self._tasks_nudged = True

    @workflow.signal(name=names.CREDIT_HOLD_CHANGED_SIGNAL)
    def credit_hold_changed(self, event: CreditHoldChanged) -> None:
        self._status.signals += 1
        self._credit_nudged = True

    @workflow.signal(name=names.CSM_CHANGED_SIGNAL)
    def csm_changed(self, event: CsmChanged) -> None:
        self._status.signals += 1
        self._csm_nudged = True

    @workflow.signal(name=names.ORDER_CLOSED_SIGNAL)
    def order_closed(self, event: OrderClosed) -> None:
        self._status.signals += 1
        self._order_closed = event
        self._fresh_claim = True

    @workflow.signal(name=names.RETRY_SIGNAL)
    def retry(self, request: RetryRequest) -> None:
        self._wake = True

    @workflow.update(name=names.SKIP_STEP_UPDATE)
    async def skip_step(self, request: SkipStep) -> PersonActionDone:
        return await self._person(request)

    @skip_step.validator
    def _validate_skip(self, request: SkipStep) -> None:
        self._validate_open(request.by)
        plan = self._status.plan
        if plan is None or request.step not in self._status.steps:
            known = ", ".join(self._status.steps) or "(none yet)"
            raise ValueError(
                f"onboarding:{self._status.customer_id} has no step {request.step!r}; its steps: {known}"
            )
        state = self._status.steps[request.step]
        if state.status.finished:
            raise ValueError(f"step {request.step!r} is already {state.status.value}")

    @workflow.update(name=names.REASSIGN_UPDATE)
    async def reassign(self, request: Reassign) -> PersonActionDone:
        return await self._person(request)

    @reassign.validator
    def _validate_reassign(self, request: Reassign) -> None:
        self._validate_open(request.by)
        if not request.csm.strip():
            raise ValueError("name the new CSM: a Salesforce username or user id")

    @workflow.update(name=names.FINISH_EARLY_UPDATE)
    async def finish_early(self, request: FinishEarly) -> PersonActionDone:
        return await self._person(request)

    @finish_early.validator
    def _validate_finish(self, request: FinishEarly) -> None:
        self._validate_open(request.by)
        if not request.reason.strip():
            raise ValueError("say why the onboarding finishes early (it is shown on the record)")

    def _validate_open(self, by: str) -> None:
        if not by.strip():
            raise ValueError("say who you are (by): it is recorded with the change")
        if self._status.stage.finished:
            raise ValueError(f"onboarding:{self._status.customer_id} is {self._status.stage.value}")

    async def _person(self, request: PersonRequest) -> PersonActionDone:
        """Queued for the main loop, which alone touches Salesforce; answered once it has applied it."""
        self._request_count += 1
        number = self._request_count
        self._requests.append((number, request))
        await workflow.wait_condition(lambda: number in self._answers)
        applied, message = self._answers.pop(number)
        if not applied:
            raise ApplicationError(message, type="OnboardingRequestRefused", non_retryable=True)
        return PersonActionDone(message=message)

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> OnboardingStatus:
        return self._status

    # -- main loop -----------------------------------------------------------------------------------------
    @workflow.run
    async def run(self, input: OnboardingInput) -> OnboardingStatus:
        try:
            return await self._run()
        except asyncio.CancelledError:
            # Temporal's cancel (an operator): close what was opened, say why, then end as cancelled.
            self._refuse_requests(f"onboarding:{self._status.customer_id} was cancelled by an operator")
            if self._status.stage.finished:
                raise
            try:
                await self._cancel("cancelled by an operator in Temporal", compensating=True)
            except NeedsAttention as failed:  # the cancel itself is what the operator asked for
                workflow.logger.error(
                    "Compensation of onboarding %s failed: %s", self._status.customer_id, failed
                )
            raise

    async def _run(self) -> OnboardingStatus:
        status, options = self._status, self._input.options
        if status.first_order is None and self._input.source != "person":
            await workflow.wait_condition(lambda: self._status.first_order is not None)
        passes = 0
        while True:
            self._wake = self._fresh_claim = False
            parked = False
            try:
                if self._order_closed is not None:  # needs no CSM: settled even while parked
                    await self._settle_order_closed()
                await self._apply_requests(FinishEarly)  # likewise: a person may end a parked onboarding
                await self._prepare()
                await self._apply_requests()
                await self._introduce()
                if status.introduced:  # else a person's reassign was refused: the next pass assigns
                    await self._check_credit_if_nudged()
                    await self._read_tasks_if_due()
                    await self._advance()
                    await self._show_csm()
                await self._show()
            except Finished:
                self._refuse_requests(f"onboarding:{status.customer_id} is {status.stage.value}")
                # Let a person's update that finished it have its answer before the workflow ends.
                await workflow.wait_condition(workflow.all_handlers_finished)
                return self._status
            except NeedsAttention as problem:
                parked = True
                await self._park(str(problem))
                # What a person asked for cannot wait behind a problem they may not know of: answered.
                self._refuse_requests(f"not applied: the onboarding needs attention first: {problem}")
            passes += 1
            if not parked and (self._requests or self._order_closed is not None or self._wake):
                continue
            if passes >= options.passes_per_run or workflow.info().is_continue_as_new_suggested():
                if await self._ready_to_continue():
                    status.runs += 1
                    workflow.continue_as_new(self._input.model_copy(update={"resume": status}))
                continue
            await self._wait()

    def _refuse_requests(self, why: str) -> None:
        for number, _ in self._requests:
            self._answers[number] = (False, why)
        self._requests.clear()

    async def _ready_to_continue(self) -> bool:
        """Nothing left unapplied: updates in flight have their answer, no signal is waiting."""
        await workflow.wait_condition(
            lambda: workflow.all_handlers_finished() or bool(self._requests) or self._nudged()
        )
        return not self._requests and not self._nudged()

    def _nudged(self) -> bool:
        return (
            self._wake
            or self._tasks_nudged
            or self._credit_nudged
            or self._csm_nudged
            or self._order_closed is not None
            or bool(self._requests)
        )

    async def _wait(self) -> None:
        """Until something happens, or the next thing is due: a step's day (at wake_hour_utc), the
        tasks' re-read, or (paused) the credit re-check."""
        options, status = self._input.options, self._status
        now = workflow.now()
        waits = []
        if status.stage is OnboardingStage.NEEDS_ATTENTION:
            waits.append(options.task_recheck_seconds)
        elif status.paused_on is not None:
            waits.append(options.credit_recheck_seconds)
        else:
            plan = status.plan
            if plan is not None and status.start is not None:
                coming = agenda(
                    plan, status.steps, start=status.start, today=now.date(), shift_days=status.shift_days
                )
                if coming.next_date is not None:
                    wake = dt.datetime.combine(coming.next_date, dt.time(options.wake_hour_utc), dt.UTC)
                    waits.append(max(1.0, (wake - now).total_seconds()))
            if any(s.status is StepStatus.OPEN for s in status.steps.values()):
                since = (now - status.tasks_read_at).total_seconds() if status.tasks_read_at else 0.0
                waits.append(max(1.0, options.task_recheck_seconds - since))
        timeout = dt.timedelta(seconds=min(waits)) if waits else None
        # Parked, only what may unpark it wakes it (nudges that need a CSM wait for the next pass):
        # anything else would send the loop round again and again with the same problem.
        parked = status.stage is OnboardingStage.NEEDS_ATTENTION
        woken = (lambda: self._wake or bool(self._requests) or self._fresh_claim) if parked else self._nudged
        try:
            await workflow.wait_condition(woken, timeout=timeout)
        except TimeoutError:  # the builtin one: the timer fired first
            if status.stage is OnboardingStage.NEEDS_ATTENTION:
                self._wake = True
            elif status.paused_on is not None:
                self._credit_nudged = True

    # -- getting ready: plan, account, CSM, record ----------------------------------------------------------
    async def _prepare(self) -> None:
        status = self._status
        if status.plan is None:
            self._set_stage(OnboardingStage.STARTING)
            status.plan = await self._call(
                OnboardingActivities.load_onboarding_plan,
                LoadOnboardingPlan(),
                summary="Load the onboarding file",
            )
        if status.account_id is None:
            order = status.first_order
            account = await self._call(
                OnboardingActivities.read_onboarding_account,
                ReadOnboardingAccount(
                    account_id=order.account_id if order else None, customer_id=status.customer_id
                ),
                summary=f"Read the Salesforce account of NetSuite customer {status.customer_id}",
            )
            status.account_id, status.account_name = account.account_id, account.name
            status.account_owner_id = account.owner_id
            status.facts = customer_facts(
                status.plan,
                country=account.country,
                amount=order.amount if order else None,
                currency=(order.currency if order else None) or account.currency,
            )
        if status.start is None:
            status.start = workflow.now().date()
            status.steps = {step.key: StepState(key=step.key) for step in status.plan.tasks}
            await self._record("active")
        if status.csm_gone is not None and not self._pending(Reassign):
            await self._replace_csm(status.csm_gone)
        if status.csm is None and not self._pending(Reassign):  # else a person names the CSM
            await self._assign(exclude=[])

    async def _introduce(self) -> None:
        """Once there is a CSM the sequence starts: a first credit check (a customer already on hold
        starts paused); the pass then shows the CSM on the account and the record, after its first tasks."""
        status = self._status
        if status.introduced or status.csm is None or status.start is None:
            return
        self._set_stage(OnboardingStage.IN_PROGRESS)
        status.introduced = True
        self._credit_nudged = True

    def _pending(self, kind: type[PersonRequest]) -> bool:
        return any(isinstance(request, kind) for _, request in self._requests)

    async def _assign(self, *, exclude: list[str]) -> None:
        status = self._status
        assert status.plan is not None and status.facts is not None
        self._set_stage(OnboardingStage.ASSIGNING_CSM)
        rule = matching_rule(status.plan, status.facts)
        if rule is None:
            raise NeedsAttention(no_rule_reason(status.facts))
        found = await self._call(
            OnboardingActivities.assign_csm,
            AssignCsm(
                customer_id=status.customer_id,
                attempt=status.attempt,
                rule=rule.name,
                csms=rule.csms,
                capacities={u.lower(): status.plan.capacity(u) for u in rule.csms},
                exclude_user_ids=exclude,
            ),
            summary=f"Assign a CSM by rule {rule.name!r} ({status.facts.describe()})",
        )
        if found.csm is None or found.csm.user_id is None:
            raise NeedsAttention(unavailable_reason(rule, found.candidates, exclude))
        status.csm = Csm(
            user_id=found.csm.user_id,
            username=found.csm.username,
            name=found.csm.name,
            manager_id=found.csm.manager_id,
            rule=rule.name,
        )
        if status.introduced:  # a replacement: the sequence goes on as it was
            self._set_stage(self._running_stage())
        workflow.logger.info(
            "Onboarding %s: CSM %s by rule %s", status.customer_id, found.csm.username, rule.name
        )

    async def _show_csm(self) -> None:
        """The account shows the CSM (the file's lookup field, and owner if it says so), once per CSM."""
        status = self._status
        if status.csm is None or not status.introduced or status.csm_shown == status.csm.user_id:
            return
        assert status.plan is not None and status.account_id is not None
        if status.plan.account_csm_field or status.plan.assign_account_owner:
            await self._call(
                OnboardingActivities.set_account_csm,
                AccountCsm(
                    account_id=status.account_id,
                    csm_user_id=status.csm.user_id,
                    field=status.plan.account_csm_field,
                    owner=status.plan.assign_account_owner,
                ),
                summary=f"Show CSM {status.csm.name or status.csm.user_id} on account {status.account_id}",
            )
        status.csm_shown = status.csm.user_id

    async def _record(self, state: str) -> None:
        status = self._status
        await self._call(
            OnboardingActivities.record_onboarding,
            RecordOnboarding(
                customer_id=status.customer_id,
                attempt=status.attempt,
                status=state,
                account_id=status.account_id,
                csm_user_id=status.csm.user_id if status.csm else None,
                csm_username=status.csm.username if status.csm else None,
                rule=status.csm.rule if status.csm else None,
            ),
            summary=f"Record the onboarding as {state} in q2c's store",
        )

    # -- the sequence ------------------------------------------------------------------------------------------
    async def _advance(self) -> None:
        status = self._status
        assert status.plan is not None and status.start is not None
        if status.stage in (OnboardingStage.NEEDS_ATTENTION, OnboardingStage.ASSIGNING_CSM):
            self._set_stage(self._running_stage())
        today = workflow.now().date()
        todo = agenda(
            status.plan,
            status.steps,
            start=status.start,
            today=today,
            shift_days=status.shift_days,
            paused=status.paused_on is not None,
        )
        read_at = status.tasks_read_at
        if todo.escalate and (read_at is None or read_at.date() < today):
            # Before escalating, make sure the task is still open (a poll may not have told us yet).
            self._tasks_nudged = True
            await self._read_tasks_if_due()
            await self._advance()
            return
        for due in todo.create:
            await self._create_task(status.plan.step(due.key), due.due)
        for key in todo.escalate:
            await self._escalate(status.plan.step(key))
        if todo.complete:
            await self._complete(None)

    def _owner(self, step: StepRule) -> str | None:
        status = self._status
        assert status.csm is not None
        if step.owner is OwnerRole.ACCOUNT_OWNER and status.account_owner_id:
            return status.account_owner_id
        if step.owner is OwnerRole.CSM_MANAGER and status.csm.manager_id:
            return status.csm.manager_id
        return status.csm.user_id

    def _values(self, due: dt.date) -> dict[str, str]:
        status = self._status
        order = status.first_order
        return {
            "account": status.account_name or "",
            "customer": (order.company_name if order else None) or status.customer_id,
            "csm": (status.csm.name or status.csm.username or "") if status.csm else "",
            "sales_order": (order.sales_order_number or order.sales_order_id) if order else "",
            "amount": f"{order.amount:,.2f}" if order and order.amount is not None else "",
            "currency": (order.currency or "") if order else "",
            "due": due.isoformat(),
        }

    async def _create_task(self, step: StepRule, due: dt.date) -> None:
        status = self._status
        assert status.account_id is not None and status.csm is not None
        key = task_key(status.customer_id, status.attempt, step.key)
        values = self._values(due)
        owner = self._owner(step)
        task = OnboardingTask(
            key=key,
            account_id=status.account_id,
            owner_id=owner,
            subject=render(step.subject, values),
            description=render(step.description, values)
            + f"\n\nq2c onboarding step {step.key!r}, due {due}.",
            due=due,
            priority=step.priority,
        )
        try:
            created = await self._call(
                OnboardingActivities.upsert_onboarding_task,
                task,
                summary=f"Create task {step.key!r} due {due}",
            )
        except NeedsAttention as problem:
            if problem.error_type != INACTIVE_OWNER:
                raise
            if owner == status.csm.user_id:
                await self._replace_csm(
                    f"Salesforce refused {status.csm.username} as a task owner (inactive)"
                )
                return  # the next pass creates it for the new CSM
            task.owner_id = status.csm.user_id  # the account owner or manager is inactive: the CSM takes it
            created = await self._call(
                OnboardingActivities.upsert_onboarding_task,
                task,
                summary=f"Create task {step.key!r} for the CSM",
            )
        state = status.steps[step.key]
        state.status, state.task_id, state.owner_id = StepStatus.OPEN, created.task_id, task.owner_id
        state.created_on, state.due = workflow.now().date(), due
        status.note(state.created_on, f"task {step.key!r} created, due {due}")

    async def _escalate(self, step: StepRule) -> None:
        """Once per step: a Task for the CSM's active manager, else the file's fallback user, else a note.
        Marked escalated only once that is done (a failed write is tried again, not forgotten); a
        recipient Salesforce refuses as inactive is passed over for the next."""
        status = self._status
        assert status.plan is not None and status.csm is not None and status.account_id is not None
        state = status.steps[step.key]
        today = workflow.now().date()
        recipients = [status.csm.manager_id] if status.csm.manager_id else []
        if status.plan.escalation_fallback:
            fallback = await self._call(
                OnboardingActivities.resolve_user,
                ResolveUser(user=status.plan.escalation_fallback),
                summary=f"Look up the escalation fallback {status.plan.escalation_fallback}",
            )
            if fallback.user_id and fallback.active and fallback.user_id not in recipients:
                recipients.append(fallback.user_id)
        csm = status.csm.name or status.csm.username or status.csm.user_id
        for to in recipients:
            escalation = OnboardingTask(
                key=task_key(status.customer_id, status.attempt, f"{step.key}:escalation"),
                account_id=status.account_id,
                owner_id=to,
                subject=f"Overdue onboarding task: {render(step.subject, self._values(state.due or today))}"[
                    :255
                ],
                description=(
                    f"{csm}'s onboarding task for {status.account_name} was due {state.due} and is still open "
                    f"({state.task_id}). q2c escalates an onboarding task once, "
                    f"{status.plan.escalation_days(step)} days after it is due."
                ),
                due=today,
                priority="High",
            )
            try:
                await self._call(
                    OnboardingActivities.upsert_onboarding_task,
                    escalation,
                    summary=f"Escalate overdue task {step.key!r} to {to}",
                )
            except NeedsAttention as problem:
                if problem.error_type != INACTIVE_OWNER:
                    raise
                continue
            state.escalated_on, state.escalated_to = today, to
            status.note(today, f"task {step.key!r} overdue since {state.due}: escalated to {to}")
            return
        note = (
            f"Step {step.key!r} (due {state.due}) is overdue, but {csm} has no active manager in Salesforce "
            "and the onboarding file names no active escalation_fallback: not escalated."
        )
        state.escalated_on, state.note = today, note
        status.escalation_notes.append(note)
        status.note(today, f"task {step.key!r} overdue, nobody to escalate to")

    async def _read_tasks_if_due(self) -> None:
        """Read the open tasks (and the CSM) when told something changed, or when the re-read is due."""
        status, options = self._status, self._input.options
        open_steps = {k: s for k, s in status.steps.items() if s.status is StepStatus.OPEN}
        now = workflow.now()
        read_at = status.tasks_read_at
        due = read_at is None or (now - read_at).total_seconds() >= options.task_recheck_seconds
        if not (self._tasks_nudged or self._csm_nudged or (open_steps and due)):
            return
        self._tasks_nudged = False
        csm_nudged, self._csm_nudged = self._csm_nudged, False
        keys = {task_key(status.customer_id, status.attempt, k): k for k in open_steps}
        read = await self._call(
            OnboardingActivities.read_onboarding_tasks,
            ReadOnboardingTasks(keys=sorted(keys), csm_user_id=status.csm.user_id if status.csm else None),
            summary=f"Read {len(keys)} open onboarding tasks" + (" and the CSM" if status.csm else ""),
        )
        status.tasks_read_at = now
        today = now.date()
        settled: list[str] = []
        for key, step_key in keys.items():
            state, task = status.steps[step_key], read.tasks.get(key)
            if task is None:
                state.status, state.done_on, state.note = (
                    StepStatus.SKIPPED,
                    today,
                    "its task was deleted in Salesforce",
                )
            elif task.closed and task.status == CANCELLED_STATUS:
                state.status, state.done_on, state.note = StepStatus.SKIPPED, today, "cancelled in Salesforce"
            elif task.closed:
                state.status, state.done_on = StepStatus.DONE, task.completed_on or today
            elif task.owner_id:
                state.owner_id = task.owner_id  # a person may hand a task on
            if state.status is not StepStatus.OPEN:
                status.note(
                    today,
                    f"task {step_key!r} {state.status.value}" + (f" ({state.note})" if state.note else ""),
                )
                if state.escalated_to is not None:
                    settled.append(task_key(status.customer_id, status.attempt, f"{step_key}:escalation"))
        if settled:
            # The escalation of a step now done has nothing left to chase.
            await self._call(
                OnboardingActivities.update_onboarding_tasks,
                CloseOnboardingTasks(
                    keys=settled, status=COMPLETED_STATUS, note=f"Closed by q2c on {today}: the task is done."
                ),
                summary=f"Close {len(settled)} escalations of tasks now done",
            )
        if status.csm is not None and read.csm is not None:
            if not read.csm.active:
                await self._replace_csm(f"{status.csm.username} is no longer active in Salesforce")
            elif read.csm.manager_id != status.csm.manager_id:
                status.csm.manager_id = read.csm.manager_id
        elif csm_nudged and status.csm is not None and read.csm is None:
            await self._replace_csm(f"{status.csm.username} no longer exists in Salesforce")

    async def _replace_csm(self, why: str) -> None:
        """The CSM is gone: the rules give another (excluding them), who takes their open tasks. Until
        one is found (parked), the old CSM stays on record and every retry tries again."""
        status = self._status
        assert status.csm is not None
        old = status.csm
        status.csm_gone = why
        status.csm = None
        try:
            await self._assign(exclude=[old.user_id])
        except NeedsAttention as problem:
            status.csm = old
            raise NeedsAttention(f"{why}; {problem}") from None
        assert status.csm is not None
        status.csm_gone = None
        await self._hand_over(old.user_id, f"Reassigned by q2c: {why}.")
        status.person_actions.append(
            PersonAction(
                on=workflow.now().date(),
                action="reassign",
                by="q2c",
                detail=f"{why}; now {status.csm.username}",
            )
        )

    async def _hand_over(self, old_user_id: str | None, note: str) -> None:
        """The open tasks the old CSM owned go to the new one; record, account and store say so."""
        status = self._status
        assert status.csm is not None
        theirs = [
            task_key(status.customer_id, status.attempt, k)
            for k, s in status.steps.items()
            if s.status is StepStatus.OPEN and (old_user_id is None or s.owner_id == old_user_id)
        ]
        if theirs:
            await self._call(
                OnboardingActivities.update_onboarding_tasks,
                CloseOnboardingTasks(keys=theirs, owner_id=status.csm.user_id, note=note),
                summary=f"Move {len(theirs)} open tasks to {status.csm.username}",
            )
            for state in status.steps.values():
                if state.status is StepStatus.OPEN and (old_user_id is None or state.owner_id == old_user_id):
                    state.owner_id = status.csm.user_id
        await self._record("active")
        self._set_stage(status.stage)

    # -- credit -----------------------------------------------------------------------------------------------
    async def _check_credit_if_nudged(self) -> None:
        status, options = self._status, self._input.options
        if not self._credit_nudged or not status.introduced:
            return
        self._credit_nudged = False
        credit = await self._call(
            NetSuiteActivities.check_credit,
            CheckCredit(customer_id=status.customer_id, overdue_days=options.credit_overdue_days),
            summary=f"Check credit of NetSuite customer {status.customer_id}",
        )
        if credit.on_hold and status.paused_on is None:
            await self._pause(credit.reason or "credit hold")
        elif not credit.on_hold and status.paused_on is not None:
            await self._resume()

    async def _pause(self, reason: str) -> None:
        status = self._status
        assert status.csm is not None and status.account_id is not None
        today = workflow.now().date()
        status.paused_on, status.pause_reason = today, reason
        status.pauses += 1
        status.note(today, f"paused: credit hold ({reason})")
        self._set_stage(OnboardingStage.PAUSED)
        await self._call(
            OnboardingActivities.upsert_onboarding_task,
            OnboardingTask(
                key=task_key(status.customer_id, status.attempt, f"paused:{status.pauses}"),
                account_id=status.account_id,
                owner_id=status.csm.user_id,
                subject=f"Onboarding of {status.account_name} paused: credit hold"[:255],
                description=(
                    f"NetSuite customer {status.customer_id} is on credit hold ({reason}). q2c creates and "
                    "escalates no onboarding task until the hold is released; the sequence then moves on by "
                    "the days it was paused."
                ),
                due=today,
                priority="High",
            ),
            summary=f"Tell CSM {status.csm.username} the onboarding is paused (credit hold)",
        )

    async def _resume(self) -> None:
        status = self._status
        assert status.plan is not None and status.paused_on is not None
        today = workflow.now().date()
        shift = days_between(status.paused_on, today, status.plan.days)
        status.shift_days += shift
        moved: dict[str, dt.date] = {}
        for key, state in status.steps.items():
            if state.status is StepStatus.OPEN and state.due is not None and shift:
                state.due = add_days(state.due, shift, status.plan.days)
                moved[task_key(status.customer_id, status.attempt, key)] = state.due
        notice = task_key(status.customer_id, status.attempt, f"paused:{status.pauses}")
        await self._call(
            OnboardingActivities.update_onboarding_tasks,
            CloseOnboardingTasks(
                keys=sorted([*moved, notice]),
                due=moved,
                note=f"Credit hold released on {today}; the onboarding goes on ({shift} days later than planned).",
            ),
            summary=f"Move {len(moved)} open tasks on by {shift} days after the credit hold",
        )
        await self._call(
            OnboardingActivities.update_onboarding_tasks,
            CloseOnboardingTasks(keys=[notice], status=COMPLETED_STATUS),
            summary="Close the CSM's credit-hold notice",
        )
        status.note(today, f"credit hold released: the sequence moves on by {shift} days")
        status.paused_on, status.pause_reason = None, None
        self._set_stage(self._running_stage())

    # -- the order closed: compensation ----------------------------------------------------------------------
    async def _settle_order_closed(self) -> None:
        """A claim taken off the queue before NetSuite is asked: a newer one arriving meanwhile stays for
        the next pass; if asking or cancelling fails, the claim goes back (unless a newer one came)."""
        claim, self._order_closed = self._order_closed, None
        assert claim is not None
        status = self._status
        try:
            orders = await self._call(
                NetSuiteActivities.customer_orders,
                CustomerOrders(customer_id=status.customer_id),
                summary=f"Check whether NetSuite customer {status.customer_id} has an open sales order",
            )
            if not orders.open_orders:
                await self._cancel(f"{claim.reason}; the customer has no open sales order")
        except NeedsAttention:
            self._order_closed = self._order_closed or claim
            raise
        status.note(
            workflow.now().date(),
            f"{claim.reason}, but sales orders {', '.join(orders.open_orders)} are open: it goes on",
        )
        workflow.logger.info(
            "Onboarding %s goes on: %s, but sales orders %s are open",
            status.customer_id,
            claim.reason,
            ", ".join(orders.open_orders),
        )

    def _side_tasks(self) -> list[str]:
        """The Tasks q2c made beside the steps: escalations, and the CSM's credit-hold notice."""
        status = self._status
        keys = [
            task_key(status.customer_id, status.attempt, f"{k}:escalation")
            for k, s in status.steps.items()
            if s.escalated_to is not None
        ]
        if status.paused_on is not None:
            keys.append(task_key(status.customer_id, status.attempt, f"paused:{status.pauses}"))
        return keys

    async def _cancel(self, reason: str, *, compensating: bool = False) -> None:
        """Close every open task as Cancelled, mark the rest cancelled, say why; then end. q2c's store
        learns it last, so a restart it allows never finds this run still going."""
        status = self._status
        today = workflow.now().date()
        note = f"Cancelled by q2c on {today}: {reason}."
        opened = [
            task_key(status.customer_id, status.attempt, k)
            for k, s in status.steps.items()
            if s.status is StepStatus.OPEN
        ]
        opened += self._side_tasks()  # tasks already closed are left as they are
        if opened:
            await self._call(
                OnboardingActivities.update_onboarding_tasks,
                CloseOnboardingTasks(keys=opened, status=CANCELLED_STATUS, note=note),
                summary=f"Cancel the onboarding's open tasks ({len(opened)})",
            )
        for state in status.steps.values():
            if not state.status.finished:
                state.status, state.done_on, state.note = StepStatus.CANCELLED, today, reason
        status.outcome, status.completed_on = f"cancelled: {reason}", today
        status.note(today, f"cancelled: {reason}")
        self._set_stage(OnboardingStage.CANCELLED)
        if status.account_id is not None:
            await self._show(force=True)
        await self._record("cancelled")
        if not compensating:
            raise Finished()

    async def _complete(self, outcome: str | None) -> None:
        """Every step done or skipped (or a person finished it): escalations and a credit-hold notice
        still open are closed, the record says so, then q2c's store (last, as for a cancel)."""
        status = self._status
        status.outcome, status.completed_on = outcome, workflow.now().date()
        side = self._side_tasks()
        if side:
            await self._call(
                OnboardingActivities.update_onboarding_tasks,
                CloseOnboardingTasks(
                    keys=side,
                    status=COMPLETED_STATUS,
                    note=f"Closed by q2c on {status.completed_on}: the onboarding is complete.",
                ),
                summary=f"Close the onboarding's escalations and notices ({len(side)})",
            )
        status.note(status.completed_on, f"completed{f': {outcome}' if outcome else ''}")
        self._set_stage(OnboardingStage.COMPLETED)
        await self._show(force=True)
        await self._record("completed")
        raise Finished()

    # -- people ------------------------------------------------------------------------------------------------
    async def _apply_requests(self, *kinds: type[PersonRequest]) -> None:
        """Each person's request (of ``kinds``, or any) applied, and shown in Salesforce, before its
        answer goes back."""
        while True:
            wanted = [(n, r) for n, r in self._requests if not kinds or isinstance(r, kinds)]
            if not wanted:
                return
            number, request = wanted[0]
            self._requests.remove((number, request))
            try:
                answer = await self._apply(request)
                if answer[0]:
                    await self._show_csm()
                    await self._show()
            except NeedsAttention as problem:
                self._answers[number] = (False, f"not done: {problem}")
                raise
            except Finished:
                self._answers[number] = (
                    True,
                    f"onboarding:{self._status.customer_id} is {self._status.stage.value}",
                )
                raise
            self._answers[number] = answer

    async def _apply(self, request: PersonRequest) -> tuple[bool, str]:
        status = self._status
        today = workflow.now().date()
        if status.stage.finished:
            return False, f"onboarding:{status.customer_id} is already {status.stage.value}"
        if isinstance(request, SkipStep):
            state = status.steps.get(request.step)
            if state is None or state.status.finished:
                return False, f"step {request.step!r} cannot be skipped now"
            why = f"skipped by {request.by}" + (f": {request.reason}" if request.reason else "")
            if state.status is StepStatus.OPEN:
                await self._call(
                    OnboardingActivities.update_onboarding_tasks,
                    CloseOnboardingTasks(
                        keys=[task_key(status.customer_id, status.attempt, request.step)],
                        status=CANCELLED_STATUS,
                        note=f"Skipped on {today} by {request.by}."
                        + (f" {request.reason}" if request.reason else ""),
                    ),
                    summary=f"Close task {request.step!r}: skipped by {request.by}",
                )
            state.status, state.done_on, state.note = StepStatus.SKIPPED, today, why
            status.person_actions.append(
                PersonAction(
                    on=today, action="skip", by=request.by, detail=f"{request.step}: {request.reason}"
                )
            )
            return True, f"step {request.step!r} skipped"
        if isinstance(request, Reassign):
            user = await self._call(
                OnboardingActivities.resolve_user,
                ResolveUser(user=request.csm),
                summary=f"Look up user {request.csm}",
            )
            if user.user_id is None or not user.active:
                what = "no such user" if user.user_id is None else "an inactive user"
                return False, f"{request.csm!r} is {what} in Salesforce: not reassigned"
            old = status.csm.user_id if status.csm else None
            status.csm, status.csm_gone = _csm(user, f"assigned by {request.by}"), None
            await self._hand_over(
                old, f"Reassigned to {user.name or user.username} by {request.by} on {today}."
            )
            status.person_actions.append(
                PersonAction(
                    on=today, action="reassign", by=request.by, detail=f"{user.username}: {request.reason}"
                )
            )
            if status.stage in (OnboardingStage.NEEDS_ATTENTION, OnboardingStage.ASSIGNING_CSM):
                status.attention_reason = None
                if status.introduced:
                    self._set_stage(self._running_stage())
            return True, f"CSM is now {user.name or user.username} ({user.user_id})"
        status.person_actions.append(
            PersonAction(on=today, action="finish", by=request.by, detail=request.reason)
        )
        opened = [
            task_key(status.customer_id, status.attempt, k)
            for k, s in status.steps.items()
            if s.status is StepStatus.OPEN
        ]
        if opened:
            await self._call(
                OnboardingActivities.update_onboarding_tasks,
                CloseOnboardingTasks(
                    keys=opened,
                    status=CANCELLED_STATUS,
                    note=f"The onboarding was finished early on {today} by {request.by}: {request.reason}",
                ),
                summary=f"Close {len(opened)} open tasks: finished early by {request.by}",
            )
        for state in status.steps.values():
            if not state.status.finished:
                state.status, state.done_on, state.note = (
                    StepStatus.SKIPPED,
                    today,
                    f"finished early by {request.by}",
                )
        await self._complete(f"finished early by {request.by}: {request.reason}")
        return True, "finished"  # not reached: _complete ends the workflow

    # -- showing it ------------------------------------------------------------------------------------------
    async def _park(self, reason: str) -> None:
        status = self._status
        changed = reason != self._parked_for
        self._parked_for = status.attention_reason = reason
        self._set_stage(OnboardingStage.NEEDS_ATTENTION)
        if not changed:
            return  # the same problem again (a daily retry): said already
        metrics.count_parked("onboarding", None)
        workflow.logger.warning("Onboarding %s needs attention: %s", status.customer_id, reason)
        if status.account_id is not None and status.plan is not None and status.start is not None:
            try:
                await self._show()
            except NeedsAttention as unwritable:
                workflow.logger.error("Could not show the onboarding in Salesforce: %s", unwritable)

    async def _show(self, *, force: bool = False) -> None:
        """Upsert Onboarding__c when what it shows changed (or ``force``)."""
        status = self._status
        if status.account_id is None or status.plan is None or status.start is None:
            return
        done = sum(1 for s in status.steps.values() if s.status in (StepStatus.DONE, StepStatus.SKIPPED))
        upcoming = next_open(status.plan, status.steps)
        reason = status.attention_reason or status.pause_reason or status.outcome
        notes = [n for n in status.escalation_notes[-3:]]
        order = status.first_order
        record = OnboardingRecordUpsert(
            customer_id=status.customer_id,
            account_id=status.account_id,
            name=f"Onboarding - {status.account_name or status.customer_id}",
            stage=status.stage.salesforce,
            csm_user_id=status.csm.user_id if status.csm else None,
            opportunity_id=order.opportunity_id if order else None,
            sales_order=(order.sales_order_number or order.sales_order_id) if order else None,
            start_date=status.start,
            due_date=sequence_end(status.plan, status.steps, status.start, status.shift_days),
            completed_date=status.completed_on,
            status_reason="\n".join([r for r in [reason, *notes] if r]) or None,
            tasks_done=done,
            tasks_total=len(status.steps),
            next_task=(
                f"{render(status.plan.step(upcoming.key).subject, self._values(upcoming.due or status.start))}, "
                f"due {upcoming.due}"
            )
            if upcoming
            else None,
            segment=status.facts.segment if status.facts else None,
            region=status.facts.region if status.facts else None,
            rule=status.csm.rule if status.csm else None,
        )
        shown = record.model_dump_json()
        if shown == self._record_shown and not force and status.record_id is not None:
            return
        written = await self._call(
            OnboardingActivities.upsert_onboarding_record,
            record,
            summary=f"Show the onboarding on Onboarding__c ({record.stage}, {done}/{len(status.steps)} done)",
        )
        status.record_id, self._record_shown = written.record_id, shown
        workflow.set_current_details(self._details())

    def _running_stage(self) -> OnboardingStage:
        """Where a started sequence is when nothing needs a person: paused on a credit hold, or going."""
        return OnboardingStage.PAUSED if self._status.paused_on is not None else OnboardingStage.IN_PROGRESS

    def _set_stage(self, stage: OnboardingStage) -> None:
        status = self._status
        status.stage = stage
        if stage in (OnboardingStage.IN_PROGRESS, OnboardingStage.PAUSED) or stage.finished:
            self._parked_for = None
        if stage is not OnboardingStage.NEEDS_ATTENTION:
            status.attention_reason = None
        updates: list[SearchAttributeUpdate[Any]] = [
            names.STAGE.value_set(stage.value),
            names.NETSUITE_CUSTOMER_ID.value_set(status.customer_id),
        ]
        updates += keywords(
            (names.SALESFORCE_ACCOUNT_ID, status.account_id),
            (names.CUSTOMER_SUCCESS_MANAGER, status.csm.user_id if status.csm else None),
        )
        workflow.upsert_search_attributes(updates)
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        status, links = self._status, self._input.links
        lines = [f"**Stage:** {status.stage.value}"]
        lines += [f"**{label}:** {text}" for label, text in status.facts_shown()]
        if status.start and status.plan:
            rows = ["| step | due | status |", "|---|---|---|"]
            for step in status.plan.tasks:
                state = status.steps.get(step.key)
                if state is None:
                    continue
                shown = state.status.value + (f" {state.done_on}" if state.done_on else "")
                if state.escalated_on:
                    shown += f", escalated {state.escalated_on}"
                rows.append(f"| {step.key} | {state.due or '-'} | {shown} |")
            lines.append("\n".join(rows))
        if links.salesforce and status.account_id:
            lines.append(
                f"**Account:** [{status.account_id}]({links.salesforce}/lightning/r/Account/{status.account_id}/view)"
            )
        if links.salesforce and status.record_id:
            lines.append(
                f"**Onboarding:** [{status.record_id}]({links.salesforce}/lightning/r/Onboarding__c/{status.record_id}/view)"
            )
        if links.netsuite:
            lines.append(
                f"**Customer:** [{status.customer_id}]({links.netsuite}/app/common/entity/custjob.nl?id={status.customer_id})"
            )
        return "\n\n".join(lines)


def _csm(user: UserInfo, rule: str) -> Csm:
    assert user.user_id is not None
    return Csm(
        user_id=user.user_id, username=user.username, name=user.name, manager_id=user.manager_id, rule=rule
    )
