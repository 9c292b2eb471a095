"""Customer onboarding's activities: the plan file, Salesforce (users, the account, ``Onboarding__c``,
Tasks), q2c's store (the onboarding's row, CSM assignment), and starting and telling onboarding workflows.

Every Salesforce write is an upsert by an external id (``Onboarding__c.NetSuite_Customer_ID__c``,
``Task.Q2C_Key__c``) or an update of a known record to a state, so a retried activity changes nothing
twice. The CSM assignment reads the roster from Salesforce, then picks and records in one database
transaction (round-robin and capacity under a lock), so two onboardings never take a CSM's last place.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any, ClassVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.errors import BusinessError, api_errors, business_error
from q2c.connectors.salesforce import SalesforceClient
from q2c.connectors.salesforce_onboarding import SalesforceOnboarding, completed_on
from q2c.domain.messages import Written
from q2c.domain.messages.onboarding import (
    AccountCsm,
    AssignCsm,
    CloseOnboardingTasks,
    CreditHoldChanged,
    CsmAssignment,
    CsmChanged,
    LoadOnboardingPlan,
    OnboardingAccount,
    OnboardingNotifications,
    OnboardingRecordUpsert,
    OnboardingsNotified,
    OnboardingsStarted,
    OnboardingTask,
    OnboardingTasksRead,
    ReadOnboardingAccount,
    ReadOnboardingTasks,
    RecordOnboarding,
    ResolveUser,
    StartOnboardings,
    TaskChanged,
    TaskCreated,
    TaskState,
    UserInfo,
    customer_of_task_key,
)
from q2c.domain.onboarding import (
    AssignmentRule,
    CsmCandidate,
    OnboardingFileError,
    OnboardingPlan,
    choose_csm,
    load_onboarding_plan,
)
from q2c.store import Store
from q2c.store.onboarding import Claim, OnboardingStore
from temporal_client.steering import Steering
from workflows import names

NAME_MAX = 80  # Onboarding__c.Name
REASON_MAX = 4000  # Onboarding__c.Status_Reason__c
NEXT_TASK_MAX = 255
DESCRIPTION_MAX = 32000  # Task.Description


def _user_info(row: dict[str, Any] | None) -> UserInfo:
    if row is None:
        return UserInfo()
    manager = row.get("Manager") or {}
    manager_active = bool(manager.get("IsActive")) if isinstance(manager, dict) else False
    return UserInfo(
        user_id=str(row["Id"]),
        username=row.get("Username"),
        name=row.get("Name"),
        active=row.get("IsActive") is not False,
        manager_id=row.get("ManagerId") if row.get("ManagerId") and manager_active else None,
    )


def plan_from_file(path: Path | None, metadata: Path | None) -> OnboardingPlan:
    try:
        return load_onboarding_plan(path, metadata=metadata)
    except OnboardingFileError as exc:
        raise business_error(BusinessError.ONBOARDING_FILE_INVALID, str(exc)) from None


class OnboardingActivities:
    """The onboarding's Salesforce calls and its rows in q2c's store."""

    task_queue: ClassVar[str] = names.TASK_QUEUE

    def __init__(
        self, client: SalesforceClient, store: Store, plan_path: Path | None, metadata: Path | None = None
    ) -> None:
        self._salesforce = SalesforceOnboarding(client)
        self._store = OnboardingStore(store)
        self._plan_path = plan_path
        self._metadata = metadata

    @activity.defn(name="load_onboarding_plan")
    async def load_onboarding_plan(self, request: LoadOnboardingPlan) -> OnboardingPlan:
        """The onboarding file, read as an activity: the workflow keeps the plan it started with (in its
        history), and a fixed file takes effect on the next retry without redeploying."""
        return plan_from_file(self._plan_path, self._metadata)

    @activity.defn(name="read_onboarding_account")
    async def read_onboarding_account(self, request: ReadOnboardingAccount) -> OnboardingAccount:
        with api_errors():
            row = await asyncio.to_thread(
                self._salesforce.account, account_id=request.account_id, customer_id=request.customer_id
            )
        if row is None:
            if request.account_id:
                raise business_error(
                    BusinessError.ACCOUNT_NOT_FOUND,
                    f"Account {request.account_id} of NetSuite customer {request.customer_id} does not exist "
                    "in Salesforce (deleted, or not visible to q2c's user).",
                )
            raise business_error(
                BusinessError.ACCOUNT_NOT_LINKED,
                f"NetSuite customer {request.customer_id} has no Salesforce account yet (no account carries "
                "it in NetSuite_Internal_ID__c). Account sync links or creates it; then "
                f"q2c onboarding-retry {request.customer_id}.",
            )
        return OnboardingAccount(
            account_id=str(row["Id"]),
            name=str(row.get("Name") or ""),
            owner_id=row.get("OwnerId"),
            country=row.get("BillingCountry") or None,
            currency=row.get("CurrencyIsoCode") or None,
        )

    @activity.defn(name="assign_csm")
    async def assign_csm(self, request: AssignCsm) -> CsmAssignment:
        """The rule's next available CSM, round-robin, recorded on the onboarding's row; or none, with
        every candidate as found (for the reason)."""
        with api_errors():
            users = await asyncio.to_thread(self._salesforce.users, request.csms)
        found = {u.lower(): _user_info(users.get(u.lower())) for u in request.csms}
        excluded = set(request.exclude_user_ids)
        candidates: dict[str, CsmCandidate] = {}

        def choose(last_username: str | None, counts: dict[str, int]) -> tuple[str, str] | None:
            for username, user in found.items():
                candidates[username] = CsmCandidate(
                    username=username,
                    user_id=user.user_id,
                    name=user.name,
                    active=user.active,
                    manager_id=user.manager_id,
                    manager_active=user.manager_id is not None,
                    open_onboardings=counts.get(user.user_id or "", 0),
                    capacity=request.capacities.get(username, 1),
                )
            rule = AssignmentRule(name=request.rule, csms=request.csms)
            picked = choose_csm(rule, candidates, last_username=last_username, exclude=excluded)
            return (picked.user_id or "", picked.username) if picked else None

        user_id, _ = await asyncio.to_thread(
            self._store.assign, request.customer_id, request.attempt, request.rule, choose
        )
        chosen = next((c for c in candidates.values() if user_id and c.user_id == user_id), None)
        return CsmAssignment(csm=chosen, candidates=candidates)

    @activity.defn(name="resolve_user")
    async def resolve_user(self, request: ResolveUser) -> UserInfo:
        with api_errors():
            users = await asyncio.to_thread(self._salesforce.users, [request.user])
        return _user_info(users.get(request.user.strip().lower()) or users.get(request.user.strip()))

    @activity.defn(name="record_onboarding")
    async def record_onboarding(self, request: RecordOnboarding) -> Written:
        await asyncio.to_thread(
            self._store.record,
            request.customer_id,
            attempt=request.attempt,
            status=request.status,
            account_id=request.account_id,
            csm_user_id=request.csm_user_id,
            csm_username=request.csm_username,
            rule=request.rule,
        )
        return Written(record_id=request.customer_id)

    @activity.defn(name="upsert_onboarding_record")
    async def upsert_onboarding_record(self, request: OnboardingRecordUpsert) -> Written:
        """The customer's Onboarding__c, upserted by its NetSuite customer id."""
        fields: dict[str, Any] = {
            "Name": request.name[:NAME_MAX],
            "Account__c": request.account_id,
            "Stage__c": request.stage,
            "CSM__c": request.csm_user_id,
            "Opportunity__c": request.opportunity_id,
            "Sales_Order__c": request.sales_order,
            "Start_Date__c": _date(request.start_date),
            "Due_Date__c": _date(request.due_date),
            "Completed_Date__c": _date(request.completed_date),
            "Status_Reason__c": (request.status_reason or "")[:REASON_MAX] or None,
            "Tasks_Done__c": request.tasks_done,
            "Tasks_Total__c": request.tasks_total,
            "Next_Task__c": (request.next_task or "")[:NEXT_TASK_MAX] or None,
            "Segment__c": request.segment,
            "Region__c": request.region,
            "Assignment_Rule__c": (request.rule or "")[:80] or None,
        }
        with api_errors():
            record_id = await asyncio.to_thread(
                self._salesforce.upsert_onboarding, request.customer_id, fields
            )
        return Written(record_id=record_id)

    @activity.defn(name="set_account_csm")
    async def set_account_csm(self, request: AccountCsm) -> Written:
        fields: dict[str, Any] = {}
        if request.field:
            fields[request.field] = request.csm_user_id
        if request.owner:
            fields["OwnerId"] = request.csm_user_id
        if fields:
            with api_errors():
                await asyncio.to_thread(self._salesforce.update, "Account", request.account_id, fields)
        return Written(record_id=request.account_id)

    @activity.defn(name="upsert_onboarding_task")
    async def upsert_onboarding_task(self, request: OnboardingTask) -> TaskCreated:
        """One step's Task on the account, upserted by its key. Status is never sent: a new task takes the
        org's default (Not Started), and a retry never reopens a task a person completed meanwhile."""
        fields: dict[str, Any] = {
            "Subject": request.subject[:255],
            "Description": request.description[:DESCRIPTION_MAX],
            "WhatId": request.account_id,
            "ActivityDate": request.due.isoformat(),
            "Priority": request.priority,
        }
        if request.owner_id:
            fields["OwnerId"] = request.owner_id
        if request.status:
            fields["Status"] = request.status
        with api_errors():
            task_id = await asyncio.to_thread(self._salesforce.upsert_task, request.key, fields)
        return TaskCreated(key=request.key, task_id=task_id)

    @activity.defn(name="read_onboarding_tasks")
    async def read_onboarding_tasks(self, request: ReadOnboardingTasks) -> OnboardingTasksRead:
        """The tasks by key as Salesforce has them now (a key missing: deleted), and the CSM's user."""
        with api_errors():
            rows = await asyncio.to_thread(self._salesforce.tasks, request.keys) if request.keys else []
            csm = None
            if request.csm_user_id:
                users = await asyncio.to_thread(self._salesforce.users, [request.csm_user_id])
                csm = _user_info(users.get(request.csm_user_id))
        tasks = {
            str(row["Q2C_Key__c"]): TaskState(
                key=str(row["Q2C_Key__c"]),
                task_id=str(row["Id"]),
                status=str(row.get("Status") or ""),
                closed=bool(row.get("IsClosed")),
                completed_on=completed_on(row),
                owner_id=row.get("OwnerId"),
            )
            for row in rows
        }
        return OnboardingTasksRead(tasks=tasks, csm=csm)

    @activity.defn(name="update_onboarding_tasks")
    async def update_onboarding_tasks(self, request: CloseOnboardingTasks) -> Written:
        """Move open tasks on: cancel them (with a note), give them a new owner or new due dates. Tasks
        already closed (done by a person meanwhile) are left as they are."""
        with api_errors():
            rows = await asyncio.to_thread(self._salesforce.tasks, request.keys)
            for row in rows:
                if row.get("IsClosed"):
                    continue
                key = str(row["Q2C_Key__c"])
                fields: dict[str, Any] = {}
                if request.status:
                    fields["Status"] = request.status
                if request.note:
                    description = str(row.get("Description") or "")
                    if request.note not in description:
                        fields["Description"] = f"{description}\n\n{request.note}".strip()[:DESCRIPTION_MAX]
                if request.owner_id and row.get("OwnerId") != request.owner_id:
                    fields["OwnerId"] = request.owner_id
                if key in request.due:
                    fields["ActivityDate"] = request.due[key].isoformat()
                if fields:
                    await asyncio.to_thread(self._salesforce.update, "Task", str(row["Id"]), fields)
                activity.heartbeat(key)
        return Written(record_id=",".join(request.keys)[:200])


def _date(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


class OnboardingSteeringActivities:
    """Starting onboardings (once per customer: q2c's store decides) and handing change events to the
    running ones."""

    task_queue: ClassVar[str] = names.TASK_QUEUE

    def __init__(
        self, store: Store, steering: Steering, plan_path: Path | None, metadata: Path | None = None
    ) -> None:
        self._store = OnboardingStore(store)
        self._steering = steering
        self._plan_path = plan_path
        self._metadata = metadata

    @activity.defn(name="start_onboardings")
    async def start_onboardings(self, request: StartOnboardings) -> OnboardingsStarted:
        """Claim each customer's onboarding in q2c's store and signal-with-start the new ones. A customer
        already onboarded (or being onboarded) is skipped; a claim whose start a crash interrupted is
        started again (signal-with-start on one id is idempotent)."""
        result = OnboardingsStarted()
        if not request.first_orders:
            return result
        plan = plan_from_file(self._plan_path, self._metadata)
        if not plan.enabled:
            result.skipped = {
                o.customer_id: "onboarding is off in the onboarding file" for o in request.first_orders
            }
            return result
        for order in request.first_orders:
            claim, row = await asyncio.to_thread(
                self._store.claim,
                order.customer_id,
                source=request.source,
                sales_order_id=order.sales_order_id,
                restart_cancelled=request.restart_cancelled,
            )
            if claim is Claim.TAKEN:
                result.skipped[order.customer_id] = f"already onboarded or onboarding ({row.status})"
                continue
            if claim is Claim.RESTART or (claim is Claim.PENDING and row.attempt > 1):
                # The cancelled run may still be closing (it tells the store first, then ends): a
                # signal-with-start now would reach it, not start the next attempt. Retried shortly.
                if await self._steering.onboarding_running(order.customer_id):
                    raise ApplicationError(
                        f"the previous onboarding of NetSuite customer {order.customer_id} is still closing; "
                        f"attempt {row.attempt} starts once it has",
                        type="OnboardingStillClosing",
                        next_retry_delay=dt.timedelta(seconds=2),
                    )
            await self._steering.start_onboarding(order, attempt=row.attempt, source=request.source)
            result.started.append(order.customer_id)
            activity.heartbeat(order.customer_id)
        return result

    @activity.defn(name="notify_onboardings")
    async def notify_onboardings(self, request: OnboardingNotifications) -> OnboardingsNotified:
        """Signal the open onboardings concerned: credit holds (by customer), tasks (by the customer in
        their key), users (the onboardings whose CSM they are). Onboardings not open are left alone."""
        signalled = 0
        credit = {c.customer_id: c for c in request.credit}
        for customer_id in await asyncio.to_thread(self._store.open_among, credit):
            notice = credit[customer_id]
            signalled += await self._steering.signal_onboarding(
                customer_id,
                names.CREDIT_HOLD_CHANGED_SIGNAL,
                CreditHoldChanged(on_hold=notice.on_hold, reason=notice.reason, source=request.source),
            )
        by_customer: dict[str, str] = {}
        for key in request.tasks:
            customer = customer_of_task_key(key)
            if customer is not None:
                by_customer.setdefault(customer, key)
        for customer_id in await asyncio.to_thread(self._store.open_among, by_customer):
            signalled += await self._steering.signal_onboarding(
                customer_id,
                names.TASK_CHANGED_SIGNAL,
                TaskChanged(key=by_customer[customer_id], source=request.source),
            )
        if request.users:
            rows = await asyncio.to_thread(self._store.open_with_csms, request.users)
            for customer_id, user_id in rows:
                signalled += await self._steering.signal_onboarding(
                    customer_id, names.CSM_CHANGED_SIGNAL, CsmChanged(user_id=user_id, source=request.source)
                )
        activity.heartbeat(signalled)
        return OnboardingsNotified(signalled=signalled)
