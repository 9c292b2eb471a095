"""The change pollers: the NetSuite poller (billing and credit) and the Salesforce poller (accounts and
contacts), their inputs and results and their activities' messages."""

from __future__ import annotations

from pydantic import BaseModel, Field

from q2c.domain.billing import CreditState
from q2c.domain.messages.accounts import (
    AccountSyncOptions,
    SalesforceAccountChanged,
    SalesforceContactChanged,
)
from q2c.domain.messages.onboarding import FirstOrder
from q2c.domain.messages.orders import OrderOptions
from q2c.domain.records import Account

# The store keeps each poller's watermark (and the NetSuite poller's parked writes) under its name.
NETSUITE_POLLER = "netsuite"
SALESFORCE_POLLER = "salesforce"


# --- NetSuite poller ----------------------------------------------------------------------------------------
class PollInput(BaseModel):
    credit_overdue_days: int = 30
    # Re-read this far behind the watermark: two changes in the same second, or a clock step, are
    # read twice rather than missed (every consequence is idempotent).
    overlap_seconds: int = 120
    options: OrderOptions = Field(default_factory=OrderOptions)
    sync_accounts: bool = True  # hand changed customers to account sync (Q2C_ACCOUNT_SYNC)
    # Bounds on one poll's work, so its history stays short: what is left over is found again (and
    # done) by the next poll, because nothing of it is saved as done.
    credit_changes_per_poll: int = 200
    overdue_signals_per_poll: int = 1000


class ReadChanges(BaseModel):
    watermark: str | None
    overlap_seconds: int
    credit_overdue_days: int
    overdue_signals_per_poll: int = 1000
    first_orders: bool = False  # also read the customers whose first sales order is new (onboarding)


class NetSuiteChanges(BaseModel):
    watermark: str | None  # the newest lastmodifieddate read (NetSuite's clock), ISO 8601
    opportunity_ids: list[str]  # orders whose invoices, payments or item fulfilments changed
    customer_ids: list[str]  # customers whose credit may have changed
    invoices_read: int
    changed_customer_ids: list[str] = Field(default_factory=list)  # customer records modified (account sync)
    # Invoices (and item fulfilments) of q2c's orders whose shown state (amounts, status, days overdue;
    # ship status, date, tracking) changed since their order was last signalled: transaction id ->
    # fingerprint, saved once signalled; and those no longer watched (neither changed lately nor
    # overdue), to forget. NetSuite transaction ids are unique across types, so one table holds both.
    shown_invoices: dict[str, str] = Field(default_factory=dict)
    unwatched_invoices: list[str] = Field(default_factory=list)
    fulfillments_read: int = 0
    # Why each order is signalled (what changed), for its billing_changed signal.
    reasons: dict[str, str] = Field(default_factory=dict)
    # Sales orders created since the watermark that are their customer's first (onboarding starts).
    first_orders: list[FirstOrder] = Field(default_factory=list)


class EvaluateCredit(BaseModel):
    customer_ids: list[str]
    overdue_days: int
    # Orders in awaiting_credit_release: opportunity id -> NetSuite customer id.
    waiting_orders: dict[str, str] = Field(default_factory=dict)
    changes_per_poll: int = 200


class CreditChange(BaseModel):
    """A customer whose credit state differs from what q2c last wrote to Salesforce."""

    state: CreditState
    company_name: str
    account_id: str | None  # the linked Salesforce account, if any
    was_on_hold: bool
    parked_attempts: int = 0  # earlier polls that failed to write it (see ParkedWrite)


class CreditChanges(BaseModel):
    changes: list[CreditChange]
    released_orders: list[str] = Field(default_factory=list)  # waiting orders whose customer is not on hold
    settled: list[str] = Field(default_factory=list)  # parked customers with nothing left to write


class ParkedWrite(BaseModel):
    """A Salesforce write the poller could not make for good (after its retries): listed in the poll's
    result and current details and kept in the store; every later poll tries it again."""

    record_id: str  # the NetSuite customer
    account_id: str | None
    reason: str
    attempts: int = 1  # polls that have failed it


class SavePoll(BaseModel):
    watermark: str | None
    credit: list[CreditState]
    shown_invoices: dict[str, str] = Field(default_factory=dict)
    unwatched_invoices: list[str] = Field(default_factory=list)
    parked: list[ParkedWrite] = Field(default_factory=list)
    unparked: list[str] = Field(default_factory=list)  # parked customer ids that need no write any more


class FindOrders(BaseModel):
    query: str  # a Temporal visibility query


class OrderIds(BaseModel):
    opportunity_ids: list[str]
    customer_ids: dict[str, str] = Field(default_factory=dict)  # opportunity id -> NetSuiteCustomerId


class PollResult(BaseModel):
    watermark: str | None
    invoices_read: int
    orders_signalled: int
    credit_changes: int
    holds_raised: int
    holds_released: int
    accounts_signalled: int = 0
    parked: list[ParkedWrite] = Field(default_factory=list)
    fulfillments_read: int = 0
    onboardings_started: int = 0
    onboardings_signalled: int = 0


class LoadWatermark(BaseModel):
    poller: str = NETSUITE_POLLER


class WatermarkValue(BaseModel):
    watermark: str | None


# --- credit shown on the Salesforce account -----------------------------------------------------------------
class ReadAccount(BaseModel):
    account_id: str


class FindAccount(BaseModel):
    netsuite_customer_id: str


class AccountMatch(BaseModel):
    account: Account | None


class AccountCredit(BaseModel):
    """What the Salesforce account shows of its NetSuite credit state."""

    account_id: str
    state: CreditState


class CreditTask(BaseModel):
    """A Task for the account owner; ``key`` makes raising the same alert twice one task."""

    key: str
    account_id: str
    owner_id: str | None
    subject: str
    description: str
    due_date: str | None = None


# --- Salesforce poller --------------------------------------------------------------------------------------
class ReadSalesforceChanges(BaseModel):
    watermark: str | None  # the newest SystemModstamp handled, ISO 8601
    overlap_seconds: int
    limit: int = 2000
    onboarding: bool = False  # also read onboarding Tasks and Users (polls started before did not)


class ContactChangeFor(BaseModel):
    account_id: str
    event: SalesforceContactChanged


class SalesforceChanges(BaseModel):
    watermark: str | None
    accounts: list[SalesforceAccountChanged] = Field(default_factory=list)
    contacts: list[ContactChangeFor] = Field(default_factory=list)
    own_writes_skipped: int = 0  # loop guard 1 at the poller: changes made by q2c's integration user
    # Onboarding: keys of its Tasks people changed, and users changed (a CSM deactivated?).
    onboarding_tasks: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)


class SaveWatermark(BaseModel):
    poller: str
    watermark: str | None


class SalesforcePollInput(BaseModel):
    overlap_seconds: int = 120
    options: AccountSyncOptions = Field(default_factory=AccountSyncOptions)


class SalesforcePollResult(BaseModel):
    watermark: str | None
    accounts_signalled: int
    contacts_signalled: int
    own_writes_skipped: int
    onboardings_signalled: int = 0


class ChangeCursor(BaseModel):
    """How far the Salesforce poller has read one object, in (SystemModstamp, Id) order."""

    stamp: str  # ISO 8601: the SystemModstamp of the last record read
    id: str = ""  # that record's Id; "" when every record stamped ``stamp`` is still to be read
    behind: bool = False  # the last page was full: the next poll goes on from exactly here
    # Records stamped from here on may have been in flight (committed after a poll read past their
    # stamp): the next poll that is not behind reads again from here.
    reread_from: str | None = None


class SalesforceWatermark(BaseModel):
    """The Salesforce poller's watermark: one cursor per object (stored as JSON)."""

    objects: dict[str, ChangeCursor] = Field(default_factory=dict)


# --- both pollers: change events handed to account sync -----------------------------------------------------
class AccountNotifications(BaseModel):
    salesforce_accounts: list[SalesforceAccountChanged] = Field(default_factory=list)
    salesforce_contacts: list[ContactChangeFor] = Field(default_factory=list)
    netsuite_customers: list[str] = Field(default_factory=list)
    source: str = "poller"


class Notified(BaseModel):
    signalled: int
