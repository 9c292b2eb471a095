"""Messages of customer onboarding (``workflows.onboarding``): the first order that starts it, its input,
status, signals and updates, and its activities' inputs and outputs. The rules are
``q2c.domain.onboarding``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, Field, field_validator

from q2c.domain.messages.common import ActivityLimits
from q2c.domain.messages.orders import RecordLinks
from q2c.domain.onboarding import CsmCandidate, CustomerFacts, OnboardingPlan, StepState

ONBOARDING_KEY_PREFIX = "onboarding:"
HISTORY_KEPT = 30


class OnboardingStage(StrEnum):
    """Where an onboarding is; also its ``Q2CStage`` search attribute (and Onboarding__c.Stage__c)."""

    STARTING = "starting"
    ASSIGNING_CSM = "assigning_csm"
    IN_PROGRESS = "in_progress"
    PAUSED = "paused"  # the customer is on credit hold: no task is created or escalated
    NEEDS_ATTENTION = "needs_attention"  # no CSM for it, or a step failed for good: waits for a person
    COMPLETED = "completed"
    CANCELLED = "cancelled"  # its order closed or its deal reopened, or an operator cancelled it

    @property
    def salesforce(self) -> str:
        """The Onboarding__c.Stage__c picklist value."""
        return {
            OnboardingStage.STARTING: "Assigning CSM",
            OnboardingStage.ASSIGNING_CSM: "Assigning CSM",
            OnboardingStage.IN_PROGRESS: "In Progress",
            OnboardingStage.PAUSED: "Paused",
            OnboardingStage.NEEDS_ATTENTION: "Needs Attention",
            OnboardingStage.COMPLETED: "Completed",
            OnboardingStage.CANCELLED: "Cancelled",
        }[self]

    @property
    def finished(self) -> bool:
        return self in (OnboardingStage.COMPLETED, OnboardingStage.CANCELLED)


def task_key(customer_id: str, attempt: int, step: str) -> str:
    """A step's Task key (``Task.Q2C_Key__c``, upserted by it): ``onboarding:{customer}:{attempt}:{step}``."""
    return f"{ONBOARDING_KEY_PREFIX}{customer_id}:{attempt}:{step}"


def customer_of_task_key(key: str) -> str | None:
    """The NetSuite customer id an onboarding Task key names, or None for any other key."""
    if not key.startswith(ONBOARDING_KEY_PREFIX):
        return None
    customer, _, rest = key[len(ONBOARDING_KEY_PREFIX) :].partition(":")
    return customer if customer.isdigit() and rest else None


class OnboardingOptions(ActivityLimits):
    # Safety net behind the Salesforce poller's and outbound messages' task_changed: the tasks (and the
    # CSM) are read again this often.
    task_recheck_seconds: float = 24 * 3600.0
    # While paused on a credit hold, NetSuite is asked this often (behind the poller's credit signals).
    credit_recheck_seconds: float = 3600.0
    credit_overdue_days: int = 30
    # The hour (UTC) a day's tasks are created at, when the workflow waits for that day.
    wake_hour_utc: int = Field(default=7, ge=0, le=23)
    # Continue-as-new after this many passes of the main loop (or sooner when Temporal suggests it).
    passes_per_run: int = Field(default=500, ge=10)


class FirstOrder(BaseModel):
    """A customer's first sales order: what starts (and is shown on) its onboarding."""

    customer_id: str
    sales_order_id: str
    sales_order_number: str | None = None
    account_id: str | None = None  # the Salesforce account, when known (linked)
    opportunity_id: str | None = None
    company_name: str | None = None
    amount: Decimal | None = None
    currency: str | None = None  # ISO code
    created_on: dt.date | None = None  # NetSuite's createddate of the order

    @field_validator("customer_id", "sales_order_id")
    @classmethod
    def _netsuite_id(cls, value: str) -> str:
        if not value.isdigit():
            raise ValueError(f"{value!r} is not a NetSuite internal id (digits only)")
        return value


class OnboardingInput(BaseModel):
    customer_id: str
    first_order: FirstOrder | None = None  # None: comes with the first_order signal (signal-with-start)
    attempt: int = 1  # the store's count of onboardings of this customer (a cancelled one restarted: 2)
    source: str = "order"  # order | poller | person
    requested_by: str | None = None  # a person who asked for it (a customer with earlier orders)
    options: OnboardingOptions = Field(default_factory=OnboardingOptions)
    links: RecordLinks = Field(default_factory=RecordLinks)
    resume: OnboardingStatus | None = None  # the state carried over by continue-as-new

    @field_validator("customer_id")
    @classmethod
    def _netsuite_id(cls, value: str) -> str:
        if not value.isdigit():
            raise ValueError(f"{value!r} is not a NetSuite internal id (digits only)")
        return value


class Csm(BaseModel):
    user_id: str
    username: str | None = None
    name: str | None = None
    manager_id: str | None = None  # an active manager, else None
    rule: str  # the assignment rule that chose them, or "assigned by <person>"


class PersonAction(BaseModel):
    """What a person did, as the onboarding's history shows it."""

    on: dt.date
    action: str  # skip, reassign, finish
    by: str
    detail: str


class OnboardingStatus(BaseModel):
    """The ``status`` query, the result, and the state continue-as-new carries."""

    customer_id: str
    attempt: int = 1
    stage: OnboardingStage = OnboardingStage.STARTING
    attention_reason: str | None = None
    first_order: FirstOrder | None = None
    account_id: str | None = None
    account_name: str | None = None
    account_owner_id: str | None = None
    facts: CustomerFacts | None = None
    csm: Csm | None = None
    csm_gone: str | None = None  # why the CSM must be replaced, until the rules (or a person) find one
    csm_shown: str | None = None  # the CSM the account shows (written once per CSM)
    plan: OnboardingPlan | None = None  # the plan as it was when the onboarding started
    record_id: str | None = None  # Onboarding__c
    introduced: bool = False  # the sequence started (a CSM is there, credit is checked first)
    start: dt.date | None = None
    shift_days: int = 0  # days the sequence moved on while paused
    steps: dict[str, StepState] = Field(default_factory=dict)
    paused_on: dt.date | None = None
    pause_reason: str | None = None
    pauses: int = 0
    outcome: str | None = None  # why it completed early or was cancelled
    completed_on: dt.date | None = None
    escalation_notes: list[str] = Field(default_factory=list)
    person_actions: list[PersonAction] = Field(default_factory=list)
    signals: int = 0  # task_changed, credit_hold_changed, csm_changed, order_closed received
    tasks_read_at: dt.datetime | None = None  # when the open tasks (and the CSM) were last read
    history: list[str] = Field(default_factory=list)  # what happened, dated (the last HISTORY_KEPT)
    runs: int = 1

    def note(self, on: dt.date, text: str) -> None:
        self.history = [*self.history, f"{on} {text}"][-HISTORY_KEPT:]

    def facts_shown(self) -> list[tuple[str, str]]:
        """(label, text) of what a person looks at first, for the web UI's details and the CLI alike."""
        shown: list[tuple[str, str]] = []
        if self.attempt > 1:
            shown.append(("Attempt", str(self.attempt)))
        if self.attention_reason:
            shown.append(("Needs attention", self.attention_reason))
        if self.pause_reason:
            shown.append((f"Paused since {self.paused_on}", self.pause_reason))
        if self.outcome:
            shown.append(("Outcome", self.outcome))
        if self.csm:
            shown.append(
                ("CSM", f"{self.csm.name or self.csm.username} ({self.csm.username}, {self.csm.rule})")
            )
        if self.facts:
            shown.append(("Customer", self.facts.describe()))
        order = self.first_order
        if order:
            amount = f"{order.amount:,.2f} {order.currency or ''}".strip() if order.amount is not None else ""
            shown.append(
                ("First order", f"{order.sales_order_number or order.sales_order_id} {amount}".rstrip())
            )
        if self.start:
            shown.append(
                ("Started", str(self.start) + (f", ended {self.completed_on}" if self.completed_on else ""))
            )
        shown += [("Escalation", note) for note in self.escalation_notes[-3:]]
        shown += [(f"{a.on} {a.action} by {a.by}", a.detail) for a in self.person_actions[-5:]]
        return shown


class TaskChanged(BaseModel):
    """Signal: a Task of the onboarding may have changed (poller or outbound message): re-read them."""

    key: str | None = None
    source: str = ""


class CreditHoldChanged(BaseModel):
    """Signal from the NetSuite poller: the customer's credit hold started or ended (checked again)."""

    on_hold: bool
    reason: str | None = None
    source: str = ""


class CsmChanged(BaseModel):
    """Signal from the Salesforce poller: the CSM's user changed (deactivated?): read it again."""

    user_id: str
    source: str = ""


class OrderClosed(BaseModel):
    """Signal from the order workflow: the customer's order was closed (deal reopened, closed in
    NetSuite). A claim: the onboarding asks NetSuite whether any order of the customer is still open."""

    sales_order_id: str | None = None
    opportunity_id: str | None = None
    reason: str


class SkipStep(BaseModel):
    step: str
    reason: str = ""
    by: str


class Reassign(BaseModel):
    csm: str  # a username or an 18-character user id
    reason: str = ""
    by: str


class FinishEarly(BaseModel):
    reason: str
    by: str


class PersonActionDone(BaseModel):
    message: str


# --- activities ---------------------------------------------------------------------------------------------
class LoadOnboardingPlan(BaseModel):
    pass


class ReadOnboardingAccount(BaseModel):
    account_id: str | None = None
    customer_id: str  # when account_id is not known: the account linked to this customer


class OnboardingAccount(BaseModel):
    account_id: str
    name: str
    owner_id: str | None = None
    country: str | None = None
    currency: str | None = None


class AssignCsm(BaseModel):
    customer_id: str
    attempt: int
    rule: str  # the matching rule's name
    csms: list[str]  # its usernames, in order
    capacities: dict[str, int]  # username (lower case) -> capacity
    exclude_user_ids: list[str] = Field(default_factory=list)


class CsmAssignment(BaseModel):
    csm: CsmCandidate | None  # None: nobody available
    candidates: dict[str, CsmCandidate] = Field(default_factory=dict)


class ResolveUser(BaseModel):
    user: str  # username or id


class UserInfo(BaseModel):
    user_id: str | None = None  # None: no such user
    username: str | None = None
    name: str | None = None
    active: bool = False
    manager_id: str | None = None  # an active manager, else None


class RecordOnboarding(BaseModel):
    """q2c's store row of the onboarding: its state and CSM (capacity counts open ones)."""

    customer_id: str
    attempt: int
    status: str  # starting | active | completed | cancelled
    account_id: str | None = None
    csm_user_id: str | None = None
    csm_username: str | None = None
    rule: str | None = None


class OnboardingRecordUpsert(BaseModel):
    customer_id: str
    account_id: str
    name: str
    stage: str  # Onboarding__c.Stage__c value
    csm_user_id: str | None = None
    opportunity_id: str | None = None
    sales_order: str | None = None
    start_date: dt.date | None = None
    due_date: dt.date | None = None
    completed_date: dt.date | None = None
    status_reason: str | None = None
    tasks_done: int = 0
    tasks_total: int = 0
    next_task: str | None = None
    segment: str | None = None
    region: str | None = None
    rule: str | None = None


class AccountCsm(BaseModel):
    account_id: str
    csm_user_id: str
    field: str | None  # the Account lookup to set (None: none)
    owner: bool  # also make the CSM the account's owner


class OnboardingTask(BaseModel):
    key: str
    account_id: str
    owner_id: str | None
    subject: str
    description: str
    due: dt.date
    priority: str = "Normal"
    status: str | None = None  # None: "Not Started" on create, left alone on update


class TaskCreated(BaseModel):
    key: str
    task_id: str


class ReadOnboardingTasks(BaseModel):
    keys: list[str]
    csm_user_id: str | None = None


class TaskState(BaseModel):
    key: str
    task_id: str
    status: str
    closed: bool
    completed_on: dt.date | None = None
    owner_id: str | None = None


class OnboardingTasksRead(BaseModel):
    tasks: dict[str, TaskState]  # by key; a key missing: no such task (deleted)
    csm: UserInfo | None = None  # the CSM as Salesforce has them now (when asked)


class CloseOnboardingTasks(BaseModel):
    """Close open tasks (Cancelled, with a note) or move them to a new owner / due date."""

    keys: list[str]
    status: str | None = None  # e.g. "Cancelled"; None: left as it is
    note: str | None = None  # appended to the description
    owner_id: str | None = None
    due: dict[str, dt.date] = Field(default_factory=dict)


class CustomerOrders(BaseModel):
    customer_id: str


class CustomerOrdersRead(BaseModel):
    open_orders: list[str]  # sales order numbers not closed or cancelled
    orders: int


class StartOnboardings(BaseModel):
    """Ask for onboardings: one per first order, each started once (q2c's store decides)."""

    first_orders: list[FirstOrder]
    source: str  # order | poller
    restart_cancelled: bool = False  # a cancelled onboarding starts again (its deal was won again)


class OnboardingsStarted(BaseModel):
    started: list[str] = Field(default_factory=list)  # customer ids
    skipped: dict[str, str] = Field(default_factory=dict)  # customer id -> why not


class CreditHoldNotice(BaseModel):
    customer_id: str
    on_hold: bool
    reason: str | None = None


class OnboardingNotifications(BaseModel):
    """Change events for running onboardings, from the pollers."""

    credit: list[CreditHoldNotice] = Field(default_factory=list)
    tasks: list[str] = Field(default_factory=list)  # Task keys
    users: list[str] = Field(default_factory=list)  # user ids changed (deactivated?)
    source: str


class OnboardingsNotified(BaseModel):
    signalled: int = 0


OnboardingInput.model_rebuild()  # it names OnboardingStatus, defined after it
