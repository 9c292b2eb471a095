"""What crosses the Temporal boundary: one model per activity input/output and per workflow message.

Workflows, activities and starters all import these, so they live in the domain package (which
workflows may import) rather than beside either side.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, Field

from q2c.domain.order import OrderStage, SyncStatus


# --- order-to-cash workflow -------------------------------------------------------------------------
class OrderOptions(BaseModel):
    """Timeouts and retry limits, chosen by the starter from settings so tests can shorten them."""

    activity_timeout_seconds: float = 30.0
    activity_max_attempts: int = 10
    activity_max_interval_seconds: float = 60.0


class RecordLinks(BaseModel):
    """Base URLs of the two systems' user interfaces, for links in the web UI's current details."""

    salesforce: str | None = None
    netsuite: str | None = None


class OrderInput(BaseModel):
    opportunity_id: str
    options: OrderOptions = Field(default_factory=OrderOptions)
    links: RecordLinks = Field(default_factory=RecordLinks)


class DealClosed(BaseModel):
    """Signal: Salesforce says the opportunity is Closed Won (webhook, CLI or poller)."""

    opportunity_id: str
    source: str  # "outbound-message", "cli", "poller"
    notification_id: str | None = None


class RetryRequest(BaseModel):
    """Signal: a person fixed the data; re-read the opportunity and carry on."""

    reason: str = ""


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
