"""The order-to-cash workflow's input, signals and status, and its activities' inputs and outputs."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from q2c.domain.billing import Fulfillment, FulfillmentShown, Invoice
from q2c.domain.messages.common import ActivityLimits
from q2c.domain.order import OrderStage, StockShortfall, StockShortfallPolicy, SyncStatus


# --- order-to-cash workflow ---------------------------------------------------------------------------------
class OrderOptions(ActivityLimits):
    """Timeouts, retry limits and re-check intervals, chosen by the starter from settings."""

    # Safety nets behind the poller's signals: durable timers that re-read NetSuite anyway.
    billing_recheck_seconds: float = 6 * 3600.0
    credit_recheck_seconds: float = 3600.0
    credit_overdue_days: int = 30
    # Start a fresh run (continue-as-new, state carried in one model) after this many billing checks,
    # or sooner when Temporal suggests it: months of re-checks never make one history too long.
    billing_checks_per_run: int = 500
    # A deal asking for more units than are available: order and warn, or wait for the stock (re-read
    # on the inventory sync's stock_changed and, as a safety net, on this timer).
    stock_shortfall: StockShortfallPolicy = StockShortfallPolicy.WARN
    stock_recheck_seconds: float = 3600.0


class RecordLinks(BaseModel):
    """Base URLs of the two systems' user interfaces, for links in the web UI's current details."""

    salesforce: str | None = None
    netsuite: str | None = None


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
    # The sales order's NetSuite status as last shown on the opportunity (NetSuite_Order_Status__c).
    netsuite_order_status: str | None = None
    # Item fulfilments as last written to NetSuite_Fulfillment__c: fulfilment id -> what was shown.
    fulfillments: dict[str, FulfillmentShown] = Field(default_factory=dict)
    # What the lines ask for beyond the available stock at the last read of the opportunity, and the
    # warning that says so (Inventory_Warning__c).
    stock_shortfalls: list[StockShortfall] = Field(default_factory=list)
    inventory_warning: str | None = None
    # Onboarding: the order created its customer (so it is the first order), it asked for the customer's
    # onboarding, and the customer whose onboarding its closing told (won again, it restarts it).
    customer_created: bool = False
    onboarding_requested: bool = False
    onboarding_cancelled_for: str | None = None


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


class StockChanged(BaseModel):
    """Signal from the inventory sync: available stock changed; an order in awaiting_stock re-reads."""

    reason: str = ""


# --- its activities -----------------------------------------------------------------------------------------
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
    # The order was closed: the opportunity no longer points at it (nor shows its NetSuite status).
    clear_sales_order: bool = False
    # Opportunity.Inventory_Warning__c: set to this when given, emptied when clear_inventory_warning.
    inventory_warning: str | None = None
    clear_inventory_warning: bool = False


class InvoiceUpsert(BaseModel):
    invoice: Invoice
    account_id: str | None
    opportunity_id: str
    currency: str | None  # ISO code (the order's): NetSuite names currencies, Salesforce wants codes


class BillingTotals(BaseModel):
    """What the opportunity shows of its NetSuite order: billed and paid, and (when given) the sales
    order's status."""

    opportunity_id: str
    billed: Decimal
    paid: Decimal
    order_status: str | None = None  # NetSuite_Order_Status__c; None: left as it is


class FulfillmentUpsert(BaseModel):
    fulfillment: Fulfillment
    account_id: str | None
    opportunity_id: str


class CustomerRef(BaseModel):
    customer_id: str


class SalesOrderRef(BaseModel):
    sales_order_id: str


class GetSalesOrder(BaseModel):
    sales_order_id: str


class CheckCredit(BaseModel):
    customer_id: str
    overdue_days: int


class GetOrderBilling(BaseModel):
    sales_order_id: str


class CloseSalesOrder(BaseModel):
    """Close the sales order whose externalId is the opportunity id; nothing to close is fine."""

    opportunity_id: str
