"""The onboarding workflow's month-long sequence on Temporal's time-skipping server, against the real
sandboxes: tasks created on their days, completions read back from Salesforce, an overdue task escalated
once to the CSM's manager, a step waiting for the one before it, a credit hold pausing the sequence and
moving it on, cancellation when the customer's orders close, a deactivated CSM replaced by the rules,
capacity and the person actions (skip, reassign, finish early), and continue-as-new on the way."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.onboarding import OnboardingActivities
from q2c.config import Settings
from q2c.connectors.netsuite import NetSuiteClient
from q2c.connectors.netsuite_billing import NetSuiteBilling
from q2c.domain.messages.onboarding import (
    CreditHoldChanged,
    CsmChanged,
    FinishEarly,
    OnboardingStage,
    OnboardingStatus,
    OrderClosed,
    Reassign,
    SkipStep,
    TaskChanged,
    task_key,
)
from q2c.domain.onboarding import StepStatus
from q2c.store import OnboardingStore, Store
from temporal_client.onboarding import finish_early, onboarding_input, reassign, skip_step
from tests.conftest import Sandboxes, activity_name, q2c_test_settings, until
from tests.factories import Catalog, records_with
from tests.onboarding_world import NewCustomer, Roster, make_roster, new_customer, onboarding_file
from tests.replay.recording import record_history
from tests.sessions import person_session
from worker import build_workers, netsuite_client, salesforce_client
from workflows import names

DAY = dt.timedelta(days=1)


@dataclass
class World:
    env: WorkflowEnvironment
    settings: Settings
    sandboxes: Sandboxes
    catalog: Catalog
    roster: Roster
    netsuite: NetSuiteClient
    store: OnboardingStore

    def new_customer(self, **kwargs: Any) -> NewCustomer:
        return new_customer(
            self.sandboxes.sf_admin, self.sandboxes.ns_admin, self.catalog, self.roster, **kwargs
        )

    def handle(self, customer: NewCustomer) -> WorkflowHandle[Any, OnboardingStatus]:
        return self.env.client.get_workflow_handle(
            names.onboarding_workflow_id(customer.customer_id), result_type=OnboardingStatus
        )

    async def start(self, customer: NewCustomer, *, passes_per_run: int = 500) -> None:
        arg = onboarding_input(self.settings, customer.customer_id, first_order=customer.first_order)
        arg.options.passes_per_run = passes_per_run
        await self.env.client.start_workflow(
            names.ONBOARDING_WORKFLOW,
            arg,
            id=names.onboarding_workflow_id(customer.customer_id),
            task_queue=names.TASK_QUEUE,
        )

    async def until(
        self, customer: NewCustomer, check: Callable[[OnboardingStatus], bool], what: str
    ) -> OnboardingStatus:
        """Wait (real time, bounded) for the onboarding's status to pass ``check``; time skips only in
        ``env.sleep``."""
        last = None
        for _ in range(300):
            try:
                last = await self.handle(customer).query(names.STATUS_QUERY, result_type=OnboardingStatus)
                if check(last):
                    return last
            except Exception:  # not started yet, or finished (then the result tells)
                last = last
            await asyncio.sleep(0.1)
        raise AssertionError(f"{what} never happened; last status {last}")

    async def activities(self, customer: NewCustomer, method: Callable[..., Any]) -> int:
        """How many times the onboarding's history scheduled this activity."""
        history = await self.handle(customer).fetch_history()
        return sum(
            1
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == activity_name(method)
        )

    def task(self, customer: NewCustomer, step: str) -> dict[str, Any] | None:
        found = records_with(
            self.sandboxes.sf_admin, "Task", Q2C_Key__c=task_key(customer.customer_id, 1, step)
        )
        return found[0] if found else None

    async def record(self, customer: NewCustomer, **shown: Any) -> dict[str, Any]:
        """The customer's Onboarding__c once it shows ``shown`` (the workflow writes it at the end of the
        pass that changed it)."""

        def found() -> dict[str, Any] | None:
            records = records_with(
                self.sandboxes.sf_admin, "Onboarding__c", NetSuite_Customer_ID__c=customer.customer_id
            )
            if records and all(records[0].get(k) == v for k, v in shown.items()):
                return records[0]
            return None

        record: dict[str, Any] = await until(found, f"Onboarding__c showing {shown}")
        return record

    async def complete(self, customer: NewCustomer, step: str, *, status: str = "Completed") -> None:
        """The task's owner completes it in Salesforce; the Salesforce poller (or outbound message) tells
        the onboarding."""
        task = self.task(customer, step)
        assert task is not None, f"no task for {step}"
        username = next(u for u, i in self.roster.csms.items() if i == task["OwnerId"])
        async with person_session(self.sandboxes, username) as (http, _):
            response = await http.patch(
                f"/services/data/v59.0/sobjects/Task/{task['Id']}", json={"Status": status}
            )
            assert response.status_code == 204, response.text
        await self.handle(customer).signal(
            names.TASK_CHANGED_SIGNAL, TaskChanged(key=task["Q2C_Key__c"], source="test")
        )


def opened(step: str) -> Callable[[OnboardingStatus], bool]:
    return lambda s: step in s.steps and s.steps[step].status is StepStatus.OPEN


def stage(wanted: OnboardingStage) -> Callable[[OnboardingStatus], bool]:
    return lambda s: s.stage is wanted


@pytest.fixture
async def world(
    skipping_env: WorkflowEnvironment, sandboxes: Sandboxes, catalog: Catalog, tmp_path: Path
) -> AsyncIterator[World]:
    roster = make_roster(sandboxes.sf_admin)
    path = onboarding_file(tmp_path / "onboarding.toml", roster, capacity=1)
    settings = q2c_test_settings(sandboxes, skipping_env, tmp_path, onboarding_path=path, account_sync=False)
    store = Store(settings.effective_database_url())
    store.create_all()
    netsuite = netsuite_client(settings)
    workers = build_workers(skipping_env.client, settings, store, netsuite)
    try:
        async with workers[0], workers[1]:
            yield World(skipping_env, settings, sandboxes, catalog, roster, netsuite, OnboardingStore(store))
    finally:
        await netsuite.aclose()


async def test_a_thirty_day_sequence_with_an_escalation_and_a_step_waiting_for_another(world: World) -> None:
    customer = world.new_customer()
    await world.start(customer, passes_per_run=10)
    status = await world.until(customer, opened("kickoff"), "the kickoff task")
    start = status.start
    assert start is not None and status.csm is not None
    csm = status.csm.user_id
    kickoff = world.task(customer, "kickoff")
    assert kickoff is not None
    assert (kickoff["OwnerId"], kickoff["ActivityDate"], kickoff["WhatId"]) == (
        csm,
        start.isoformat(),
        customer.account_id,
    )
    assert kickoff["Subject"] == f"Kickoff call with {customer.name}" and "SO-" in kickoff["Description"]
    record = await world.record(customer, Next_Task__c=f"Kickoff call with {customer.name}, due {start}")
    assert (record["Stage__c"], record["CSM__c"], record["Tasks_Total__c"], record["Tasks_Done__c"]) == (
        "In Progress",
        csm,
        4,
        0,
    )
    assert record["Region__c"] == "Americas" and record["Segment__c"] == "smb"
    [account] = records_with(world.sandboxes.sf_admin, "Account", Id=customer.account_id)
    assert account["Customer_Success_Manager__c"] == csm
    assert status.steps["welcome_pack"].status is StepStatus.WAITING

    # Day 1 (the daily re-read of the tasks): nothing new. Day 2: the welcome pack (due day 3, a day's lead).
    first_read = status.tasks_read_at
    await world.env.sleep(DAY)
    status = await world.until(customer, lambda s: s.tasks_read_at != first_read, "the daily re-read")
    assert status.steps["welcome_pack"].status is StepStatus.WAITING
    await world.complete(customer, "kickoff")  # in time: due day 0, escalated from day 2
    await world.until(customer, lambda s: s.steps["kickoff"].status is StepStatus.DONE, "kickoff done")
    await world.env.sleep(DAY)
    status = await world.until(customer, opened("welcome_pack"), "the welcome pack on day 2")
    assert status.steps["welcome_pack"].due == start + 3 * DAY
    assert status.steps["kickoff"].escalated_on is None

    # The welcome pack is still open two days after its due day (day 5): escalated once, to the manager.
    await world.env.sleep(3 * DAY)
    status = await world.until(
        customer, lambda s: s.steps["welcome_pack"].escalated_on is not None, "escalation"
    )
    assert status.steps["welcome_pack"].escalated_to == world.roster.manager
    escalation = world.task(customer, "welcome_pack:escalation")
    assert escalation is not None and escalation["OwnerId"] == world.roster.manager
    assert escalation["Priority"] == "High" and "Overdue" in escalation["Subject"]

    # Day 14: the check-in (kickoff is done). Not done by day 31: the review (day 30) waits for it.
    await world.env.sleep(9 * DAY)
    await world.until(customer, opened("checkin"), "the check-in on day 14")
    await world.env.sleep(17 * DAY)
    status = await world.until(
        customer, lambda s: s.steps["checkin"].escalated_on is not None, "check-in escalated"
    )
    assert status.steps["review"].status is StepStatus.WAITING
    assert world.task(customer, "review") is None
    escalations = [
        t
        for t in records_with(world.sandboxes.sf_admin, "Task")
        if str(t.get("Q2C_Key__c")).endswith(":escalation")
    ]
    assert (
        len([t for t in escalations if t["Q2C_Key__c"].startswith(f"onboarding:{customer.customer_id}:")])
        == 2
    )

    await world.complete(customer, "checkin")
    status = await world.until(customer, opened("review"), "the review once the check-in is done")
    created = status.steps["review"].created_on
    assert (
        created is not None and created >= start + 31 * DAY and status.steps["review"].due == start + 30 * DAY
    )

    await world.complete(customer, "welcome_pack")
    await world.complete(customer, "review")
    result = await world.handle(customer).result()
    await record_history(
        world.env.client, names.onboarding_workflow_id(customer.customer_id), "onboarding_completed"
    )
    assert result.stage is OnboardingStage.COMPLETED and result.completed_on is not None
    assert all(s.status is StepStatus.DONE for s in result.steps.values())
    assert result.runs > 1  # it continued as new on the way, state carried
    record = await world.record(customer)
    assert (record["Stage__c"], record["Tasks_Done__c"], record["Completed_Date__c"]) == (
        "Completed",
        4,
        result.completed_on.isoformat(),
    )
    row = world.store.get(customer.customer_id)
    assert row is not None and row.status == "completed"
    # The escalations of tasks since done are closed: nothing is left open for the manager.
    for step in ("welcome_pack", "checkin"):
        escalation = world.task(customer, f"{step}:escalation")
        assert escalation is not None and escalation["Status"] == "Completed", escalation


async def test_a_credit_hold_pauses_the_sequence_which_then_moves_on_by_the_days_paused(world: World) -> None:
    customer = world.new_customer()
    await world.start(customer)
    status = await world.until(customer, opened("kickoff"), "the kickoff task")
    start = status.start
    assert start is not None

    await world.netsuite.patch("customer", customer.customer_id, {"creditHoldOverride": {"id": "ON"}})
    await world.handle(customer).signal(
        names.CREDIT_HOLD_CHANGED_SIGNAL, CreditHoldChanged(on_hold=True, source="test")
    )
    status = await world.until(customer, stage(OnboardingStage.PAUSED), "the pause")
    notice = world.task(customer, "paused:1")
    assert notice is not None and status.csm is not None and notice["OwnerId"] == status.csm.user_id
    assert "credit hold" in notice["Subject"] and (await world.record(customer, Stage__c="Paused"))

    # Five days on hold: no welcome pack, and the kickoff (due day 0) is not escalated.
    await world.env.sleep(5 * DAY)
    status = await world.until(customer, stage(OnboardingStage.PAUSED), "still paused")
    assert status.steps["welcome_pack"].status is StepStatus.WAITING
    assert status.steps["kickoff"].escalated_on is None

    # Released in NetSuite without anyone telling q2c: the hourly re-check finds it.
    await world.netsuite.patch("customer", customer.customer_id, {"creditHoldOverride": {"id": "OFF"}})
    await world.env.sleep(dt.timedelta(hours=2))
    status = await world.until(customer, stage(OnboardingStage.IN_PROGRESS), "the release")
    paused_days = status.shift_days
    assert paused_days >= 5
    assert status.steps["kickoff"].due == start + paused_days * DAY
    kickoff = world.task(customer, "kickoff")
    notice = world.task(customer, "paused:1")
    assert kickoff is not None and kickoff["ActivityDate"] == (start + paused_days * DAY).isoformat()
    assert notice is not None and notice["Status"] == "Completed"

    # The welcome pack comes a day before its moved due day (3 + the days paused): not yet on day 6.
    first_read = status.tasks_read_at
    await world.env.sleep(DAY)
    status = await world.until(customer, lambda s: s.tasks_read_at != first_read, "the daily re-read")
    assert status.steps["welcome_pack"].status is StepStatus.WAITING
    await world.env.sleep(DAY)
    status = await world.until(customer, opened("welcome_pack"), "the welcome pack, moved on")
    assert status.steps["welcome_pack"].due == start + (3 + paused_days) * DAY


async def test_the_customers_orders_closing_cancels_its_open_tasks_and_says_why(world: World) -> None:
    customer = world.new_customer()
    await world.start(customer)
    await world.until(customer, opened("kickoff"), "the kickoff task")
    second = world.sandboxes.ns_admin.load(
        {
            "salesOrder": [
                {
                    "entity": {"id": customer.customer_id},
                    "externalId": f"second-{customer.customer_id}",
                    "item": {
                        "items": [
                            {"item": {"id": world.catalog.items["WID-100"]}, "quantity": 1, "rate": 120.0}
                        ]
                    },
                }
            ]
        }
    )["salesOrder"][0]

    # Its first order closes, but another is open: the onboarding goes on.
    billing = NetSuiteBilling(world.netsuite)
    assert await billing.close_sales_order(customer.external_id)
    await world.handle(customer).signal(names.ORDER_CLOSED_SIGNAL, OrderClosed(reason="deal reopened"))
    status = await world.until(
        customer, lambda s: any("goes on" in h for h in s.history), "the claim checked"
    )
    [other] = [o for o in world.sandboxes.ns_admin.records("salesOrder") if str(o["id"]) == str(second)]
    assert (
        status.stage is OnboardingStage.IN_PROGRESS
        and f"sales orders {other['tranId']} are open" in " ".join(status.history)
    )
    assert world.task(customer, "kickoff")["Status"] == "Not Started"  # type: ignore[index]

    # The other one closes too: cancelled, the open task closed as Cancelled with the reason.
    assert await billing.close_sales_order(f"second-{customer.customer_id}")
    _, open_orders = await billing.customer_orders(customer.customer_id)
    assert open_orders == [], f"orders still open: {open_orders} (second {second})"
    await world.handle(customer).signal(
        names.ORDER_CLOSED_SIGNAL, OrderClosed(reason="opportunity 006 left Closed Won")
    )
    result = await world.handle(customer).result()
    await record_history(
        world.env.client, names.onboarding_workflow_id(customer.customer_id), "onboarding_cancelled"
    )
    assert result.stage is OnboardingStage.CANCELLED and "left Closed Won" in (result.outcome or "")
    assert result.steps["kickoff"].status is StepStatus.CANCELLED
    assert result.steps["review"].status is StepStatus.CANCELLED
    kickoff = world.task(customer, "kickoff")
    assert kickoff is not None and kickoff["Status"] == "Cancelled" and kickoff["IsClosed"] is True
    assert "left Closed Won" in kickoff["Description"]
    record = await world.record(customer)
    assert record["Stage__c"] == "Cancelled" and "left Closed Won" in record["Status_Reason__c"]
    row = world.store.get(customer.customer_id)
    assert row is not None and row.status == "cancelled"


async def test_people_skip_reassign_and_finish_and_wrong_requests_are_refused(world: World) -> None:
    customer = world.new_customer()
    await world.start(customer)
    status = await world.until(customer, opened("kickoff"), "the kickoff task")
    assert status.csm is not None
    client, cid = world.env.client, customer.customer_id

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await skip_step(client, cid, SkipStep(step="party", by="ana"))
    assert "no step 'party'" in str(refused.value.cause)
    done = await skip_step(client, cid, SkipStep(step="welcome_pack", reason="sent by sales", by="ana"))
    assert "skipped" in done.message
    with pytest.raises(WorkflowUpdateFailedError):
        await skip_step(client, cid, SkipStep(step="welcome_pack", by="ana"))

    other = next(u for u, i in world.roster.csms.items() if i != status.csm.user_id)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await reassign(client, cid, Reassign(csm="nobody@q2c.test", by="ana"))
    assert "no such user" in str(refused.value.cause)
    done = await reassign(client, cid, Reassign(csm=other, reason="vacation", by="ana"))
    status = await world.until(
        customer, lambda s: s.csm is not None and s.csm.username == other, "the new CSM"
    )
    kickoff = world.task(customer, "kickoff")
    assert kickoff is not None and kickoff["OwnerId"] == world.roster.id_of(other)
    assert (await world.record(customer))["CSM__c"] == world.roster.id_of(other)
    row = world.store.get(cid)
    assert row is not None and row.csm_user_id == world.roster.id_of(other)

    await finish_early(client, cid, FinishEarly(reason="a pilot, no onboarding needed", by="ana"))
    result = await world.handle(customer).result()
    await record_history(client, names.onboarding_workflow_id(cid), "onboarding_skipped_reassigned_finished")
    assert result.stage is OnboardingStage.COMPLETED and "pilot" in (result.outcome or "")
    assert result.steps["welcome_pack"].status is StepStatus.SKIPPED
    kickoff = world.task(customer, "kickoff")
    assert (
        kickoff is not None
        and kickoff["Status"] == "Cancelled"
        and "finished early" in kickoff["Description"]
    )
    assert [a.action for a in result.person_actions] == ["skip", "reassign", "finish"]
    with pytest.raises((WorkflowUpdateFailedError, RPCError)):  # finished: nothing more to do
        await skip_step(client, cid, SkipStep(step="review", by="ana"))


async def test_capacity_round_robin_and_a_deactivated_csm_replaced_by_the_rules(world: World) -> None:
    first, second, third = world.new_customer(), world.new_customer(), world.new_customer()
    await world.start(first)
    status = await world.until(first, opened("kickoff"), "the first kickoff")
    assert status.csm is not None
    a = status.csm.user_id
    await world.start(second)
    status = await world.until(second, opened("kickoff"), "the second kickoff")
    assert status.csm is not None and status.csm.user_id != a  # round-robin
    b = status.csm.user_id

    # Both CSMs hold their capacity (1): the third customer waits, its reason naming them.
    await world.start(third)
    parked = await world.until(third, stage(OnboardingStage.NEEDS_ATTENTION), "the third waits")
    assert parked.attention_reason is not None and parked.attention_reason.count("at capacity (1/1") == 2
    assert await world.record(third, Stage__c="Needs Attention") and world.task(third, "kickoff") is None

    # The second finishes early, so its CSM has room: the third's daily retry takes them.
    await finish_early(world.env.client, second.customer_id, FinishEarly(reason="a pilot", by="ana"))
    await world.handle(second).result()
    await world.env.sleep(DAY)
    status = await world.until(third, opened("kickoff"), "the third's kickoff")
    assert status.csm is not None and status.csm.user_id == b

    # The first customer's CSM is deactivated (the Salesforce poller tells the onboarding): nobody is
    # free to replace them, so it waits, saying why.
    salesforce = salesforce_client(world.settings)
    await asyncio.to_thread(salesforce.update, "User", a, {"IsActive": False})
    await world.handle(first).signal(names.CSM_CHANGED_SIGNAL, CsmChanged(user_id=a, source="test"))
    status = await world.until(first, stage(OnboardingStage.NEEDS_ATTENTION), "no one to replace them")
    assert "no longer active" in (status.attention_reason or "")
    assert "at capacity" in (status.attention_reason or "")
    # A change event while it waits (someone edits its task) does not send it round the rules again.
    tries = await world.activities(first, OnboardingActivities.assign_csm)
    signals = status.signals
    await world.handle(first).signal(names.TASK_CHANGED_SIGNAL, TaskChanged(source="test"))
    await world.until(first, lambda s: s.signals > signals, "the change event")
    assert await world.activities(first, OnboardingActivities.assign_csm) == tries

    # A person gives it to the other CSM anyway (a person may go over capacity): the open task follows.
    username = next(u for u, i in world.roster.csms.items() if i == b)
    await reassign(world.env.client, first.customer_id, Reassign(csm=username, by="lead"))
    status = await world.until(first, stage(OnboardingStage.IN_PROGRESS), "the reassignment")
    kickoff = world.task(first, "kickoff")
    assert kickoff is not None and kickoff["OwnerId"] == b and "Reassigned to" in kickoff["Description"]
    assert status.csm_gone is None


async def test_a_customer_no_rule_matches_waits_for_a_person(world: World) -> None:
    customer = world.new_customer(country="Japan")
    await world.start(customer)
    status = await world.until(customer, stage(OnboardingStage.NEEDS_ATTENTION), "the park")
    assert "no assignment rule" in (status.attention_reason or "") and "Japan" in (
        status.attention_reason or ""
    )
    assert world.task(customer, "kickoff") is None
    username = next(iter(world.roster.csms))
    await reassign(world.env.client, customer.customer_id, Reassign(csm=username, by="lead"))
    status = await world.until(customer, opened("kickoff"), "the kickoff, once a person assigned a CSM")
    assert status.csm is not None and status.csm.rule == "assigned by lead"
    assert await world.record(customer, Stage__c="In Progress")


async def test_a_parked_onboarding_waits_quietly_and_a_hold_it_heard_of_pauses_it_once_assigned(
    world: World,
) -> None:
    customer = world.new_customer(country="Japan")
    await world.start(customer)
    await world.until(customer, stage(OnboardingStage.NEEDS_ATTENTION), "the park")
    await world.netsuite.patch("customer", customer.customer_id, {"creditHoldOverride": {"id": "ON"}})
    await world.handle(customer).signal(
        names.CREDIT_HOLD_CHANGED_SIGNAL, CreditHoldChanged(on_hold=True, source="test")
    )
    await world.handle(customer).signal(names.TASK_CHANGED_SIGNAL, TaskChanged(source="test"))
    status = await world.until(customer, lambda s: s.signals >= 2, "the signals")
    assert status.stage is OnboardingStage.NEEDS_ATTENTION
    # Nothing a CSM-less onboarding can act on sends it round again (it would spin without yielding,
    # and Temporal fail every workflow task as a deadlock).
    history = await world.handle(customer).fetch_history()
    failed = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
    assert failed == []

    # A person assigns a CSM: the hold it heard of while parked is checked, and pauses it.
    username = next(iter(world.roster.csms))
    await reassign(world.env.client, customer.customer_id, Reassign(csm=username, by="lead"))
    status = await world.until(customer, stage(OnboardingStage.PAUSED), "the pause, once assigned")
    assert status.steps["kickoff"].status is StepStatus.WAITING  # paused before any task was made
    assert world.task(customer, "paused:1") is not None


async def test_two_people_at_once_finish_and_skip_and_both_get_an_answer(world: World) -> None:
    customer = world.new_customer()
    await world.start(customer)
    await world.until(customer, opened("kickoff"), "the kickoff task")
    client, cid = world.env.client, customer.customer_id
    finish, skip = await asyncio.wait_for(
        asyncio.gather(
            finish_early(client, cid, FinishEarly(reason="churned", by="ana")),
            skip_step(client, cid, SkipStep(step="checkin", by="ben")),
            return_exceptions=True,
        ),
        timeout=60,
    )
    assert not isinstance(finish, BaseException), finish
    # The skip came first (applied), or after the finish (refused: the onboarding is completed).
    assert not isinstance(skip, BaseException) or "completed" in str(getattr(skip, "cause", skip))
    result = await asyncio.wait_for(world.handle(customer).result(), timeout=60)
    assert result.stage is OnboardingStage.COMPLETED


async def test_without_an_active_manager_an_overdue_task_goes_to_the_fallback_user(
    skipping_env: WorkflowEnvironment, sandboxes: Sandboxes, catalog: Catalog, tmp_path: Path
) -> None:
    roster = make_roster(sandboxes.sf_admin, manager=False)
    path = onboarding_file(tmp_path / "onboarding.toml", roster)
    settings = q2c_test_settings(sandboxes, skipping_env, tmp_path, onboarding_path=path, account_sync=False)
    store = Store(settings.effective_database_url())
    store.create_all()
    netsuite = netsuite_client(settings)
    world = World(skipping_env, settings, sandboxes, catalog, roster, netsuite, OnboardingStore(store))
    workers = build_workers(skipping_env.client, settings, store, netsuite)
    try:
        async with workers[0], workers[1]:
            customer = world.new_customer()
            await world.start(customer)
            await world.until(customer, opened("kickoff"), "the kickoff task")
            await skipping_env.sleep(2 * DAY + dt.timedelta(hours=14))
            status = await world.until(
                customer, lambda s: s.steps["kickoff"].escalated_on is not None, "the escalation"
            )
            assert status.steps["kickoff"].escalated_to == roster.fallback
            escalation = world.task(customer, "kickoff:escalation")
            assert escalation is not None and escalation["OwnerId"] == roster.fallback
    finally:
        await netsuite.aclose()
