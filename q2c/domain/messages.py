"""What crosses the Temporal boundary: one model per activity input/output and per workflow message.

Workflows, activities and starters all import these, so they live in the domain package (which
workflows may import) rather than beside either side.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from q2c.domain.billing import CreditState, Invoice
from q2c.domain.order import OrderStage, SyncStatus
from q2c.domain.records import Account


# --- order-to-cash workflow -------------------------------------------------------------------------
class OrderOptions(BaseModel):
    """Timeouts, retry limits and re-check intervals, chosen by the starter from settings."""

    activity_timeout_seconds: float = 30.0
    activity_max_attempts: int = 10
    activity_max_interval_seconds: float = 60.0
    # Safety nets behind the poller's signals: durable timers that re-read NetSuite anyway.
    billing_recheck_seconds: float = 6 * 3600.0
    credit_recheck_seconds: float = 3600.0
    credit_overdue_days: int = 30
    # Start a fresh run (continue-as-new, state carried in one model) after this many billing checks,
    # or sooner when Temporal suggests it: months of re-checks never make one history too long.
    billing_checks_per_run: int = 500


class RecordLinks(BaseModel):
    """Base URLs of the two systems' user interfaces, for links in the web UI's current details."""

    salesforce: str | None = None
    netsuite: str | None = None


class OrderInput(BaseModel):
    opportunity_id: str
    options: OrderOptions = Field(default_factory=OrderOptions)
    links: RecordLinks = Field(default_factory=RecordLinks)
    resume: OrderStatus | None = None  # the state carried over by continue-as-new


class DealClosed(BaseModel):
    """Signal: Salesforce says the opportunity is Closed Won (webhook, CLI or poller)."""

    opportunity_id: str
    source: str  # "outbound-message", "cli", "poller"
    notification_id: str | None = None


class RetryRequest(BaseModel):
    """Signal: a person fixed the data; re-read the opportunity and carry on."""

    reason: str = ""


class DealReopened(BaseModel):
    """Signal: the opportunity left Closed Won."""

    opportunity_id: str
    source: str
    notification_id: str | None = None


class BillingChanged(BaseModel):
    """Signal from the NetSuite poller: an invoice or payment of this order changed; re-read."""

    reason: str = ""


class CreditReleased(BaseModel):
    """Signal from the NetSuite poller: the customer is no longer on credit hold."""

    customer_id: str


class CreditApproval(BaseModel):
    """Signal from finance: create the order although the customer is on credit hold."""

    approved_by: str
    note: str = ""


class OrderStatus(BaseModel):
    """Answer of the ``status`` query; also the workflow's result."""

    opportunity_id: str
    stage: OrderStage
    attention_reason: str | None = None
    account_id: str | None = None
    netsuite_customer_id: str | None = None
    sales_order_id: str | None = None
    sales_order_number: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    subsidiary: str | None = None
    deal_closed_signals: int = 0
    attempts: int = 0
    deal_won: bool = True  # the last word from Salesforce: Closed Won (True) or reopened (False)
    credit_hold_reason: str | None = None
    credit_approved_by: str | None = None
    billed: Decimal | None = None
    paid: Decimal | None = None
    invoices: dict[str, str] = Field(default_factory=dict)  # invoice id -> fingerprint last written
    runs: int = 1  # how many workflow runs this order has had (continue-as-new)
    reopen_claimed: bool = False  # a deal_reopened arrived and is not yet checked against Salesforce
    stale_events: int = 0  # deal_reopened claims that Salesforce contradicted when checked
    # The sales order exists in NetSuite but the opportunity does not show it yet (write-back failed).
    pending_write_back: str | None = None
    customer_candidates: list[str] = Field(default_factory=list)  # NetSuite customers matched equally
    outcome: str | None = None  # why the workflow ended without an order (opportunity_not_found)


# --- activities --------------------------------------------------------------------------------------
class ReadOpportunity(BaseModel):
    opportunity_id: str


class LinkAccount(BaseModel):
    account_id: str
    netsuite_customer_id: str


class OrderStatusUpdate(BaseModel):
    opportunity_id: str
    status: SyncStatus
    message: str
    sales_order_id: str | None = None
    sales_order_number: str | None = None
    clear_sales_order: bool = False  # the order was closed: the opportunity no longer points at it


class InvoiceUpsert(BaseModel):
    invoice: Invoice
    account_id: str | None
    opportunity_id: str
    currency: str | None  # ISO code (the order's): NetSuite names currencies, Salesforce wants codes


class BillingTotals(BaseModel):
    opportunity_id: str
    billed: Decimal
    paid: Decimal


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


class Written(BaseModel):
    """A write that returns nothing worth keeping but proof it happened."""

    record_id: str


class CustomerRef(BaseModel):
    customer_id: str


class SalesOrderRef(BaseModel):
    sales_order_id: str


class GetSalesOrder(BaseModel):
    sales_order_id: str


class LoadMapping(BaseModel):
    pass


class CheckCredit(BaseModel):
    customer_id: str
    overdue_days: int


class GetOrderBilling(BaseModel):
    sales_order_id: str


class CloseSalesOrder(BaseModel):
    """Close the sales order whose externalId is the opportunity id; nothing to close is fine."""

    opportunity_id: str


# --- NetSuite poller ---------------------------------------------------------------------------------
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


class NetSuiteChanges(BaseModel):
    watermark: str | None  # the newest lastmodifieddate read (NetSuite's clock), ISO 8601
    opportunity_ids: list[str]  # orders whose invoices or payments changed
    customer_ids: list[str]  # customers whose credit may have changed
    invoices_read: int
    changed_customer_ids: list[str] = Field(default_factory=list)  # customer records modified (account sync)
    # Invoices of q2c's orders whose shown state (amounts, status, days overdue) changed since their
    # order was last signalled: invoice id -> fingerprint, saved once signalled; and those no longer
    # watched (neither changed lately nor overdue), to forget.
    shown_invoices: dict[str, str] = Field(default_factory=dict)
    unwatched_invoices: list[str] = Field(default_factory=list)


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


class LoadWatermark(BaseModel):
    poller: str = "netsuite"


class WatermarkValue(BaseModel):
    watermark: str | None
