"""Billing, fulfilment and credit as q2c sees them: a sales order's invoices and item fulfilments, and
whether a customer is on hold.

NetSuite is master of all of it; these are read models plus the rules q2c applies on top: when an order
counts as paid, when a customer counts as on credit hold, and what Salesforce shows of a fulfilment.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from pydantic import BaseModel, Field

CLOSED_ORDER_STATUSES = frozenset({"Closed", "Cancelled"})
FULLY_BILLED_STATUSES = frozenset({"Billed", "Closed"})
# An item fulfilment's shipStatus (SuiteQL transaction.status of type ItemShip) -> the picklist value of
# NetSuite_Fulfillment__c.Status__c.
SHIP_STATUSES = {"A": "Picked", "B": "Packed", "C": "Shipped"}
TRACKING_NUMBERS_MAX = 255  # NetSuite_Fulfillment__c.Tracking_Numbers__c


class Invoice(BaseModel):
    id: str
    number: str
    sales_order_id: str | None
    customer_id: str
    currency: str | None
    total: Decimal
    amount_remaining: Decimal
    status: str
    due_date: str | None
    days_overdue: int

    @property
    def paid(self) -> bool:
        return self.amount_remaining <= 0

    def fingerprint(self) -> str:
        """Changes whenever anything shown in Salesforce changes: the echo guard for invoice writes."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


INVOICE_OBJECT = "NetSuite_Invoice__c"
INVOICE_EXTERNAL_ID = "NetSuite_Invoice_ID__c"


def invoice_fields(
    invoice: Invoice, *, opportunity_id: str | None, account_id: str | None, currency: str | None
) -> dict[str, object]:
    """What Salesforce shows of an invoice (a NetSuite_Invoice__c, upserted by the invoice's id): the order
    workflow's write and the backfill's are the same record."""
    fields: dict[str, object] = {
        "Name": invoice.number,
        "Amount__c": float(invoice.total),
        "Amount_Due__c": float(invoice.amount_remaining),
        "Status__c": invoice.status,
        "Due_Date__c": invoice.due_date,
        "Days_Overdue__c": invoice.days_overdue,
    }
    if opportunity_id:
        fields["Opportunity__c"] = opportunity_id
    if account_id:
        fields["Account__c"] = account_id
    if currency:
        fields["CurrencyIsoCode"] = currency
    return fields


def ship_status(code: str) -> str:
    """Picked / Packed / Shipped from NetSuite's code ("C", or "ItemShip:C"); a name passes unchanged."""
    key = code.rsplit(":", 1)[-1].strip().upper()
    return SHIP_STATUSES.get(key, code)


def quantity_text(quantity: Decimal) -> str:
    """2 rather than 2.0 or 2E+0; 1.5 stays 1.5."""
    if quantity == quantity.to_integral_value():
        return str(int(quantity))
    return format(quantity.normalize(), "f")


class FulfillmentLine(BaseModel):
    item: str  # the NetSuite item's name (itemid), or its internal id when it has none
    quantity: Decimal


class Fulfillment(BaseModel):
    """A NetSuite item fulfilment of the sales order (``itemFulfillment``, tranId IF...)."""

    id: str
    number: str
    status: str  # Picked, Packed or Shipped
    ship_date: str | None  # YYYY-MM-DD (the fulfilment's tranDate)
    tracking_numbers: list[str] = Field(default_factory=list)
    lines: list[FulfillmentLine] = Field(default_factory=list)

    @property
    def quantity(self) -> Decimal:
        return sum((line.quantity for line in self.lines), Decimal(0))

    def lines_text(self) -> str:
        """One line per item, quantities of the same item added up: "2 x WIDGET-A"."""
        totals: dict[str, Decimal] = {}
        for line in self.lines:
            totals[line.item] = totals.get(line.item, Decimal(0)) + line.quantity
        return "\n".join(f"{quantity_text(quantity)} x {item}" for item, quantity in totals.items())

    def tracking_text(self) -> str:
        return ", ".join(self.tracking_numbers)[:TRACKING_NUMBERS_MAX]

    def fingerprint(self) -> str:
        """Changes whenever anything shown in Salesforce changes: the echo guard for fulfilment writes."""
        shown = "|".join(
            (
                self.number,
                self.status,
                self.ship_date or "",
                self.tracking_text(),
                self.lines_text(),
                quantity_text(self.quantity),
            )
        )
        return hashlib.sha256(shown.encode()).hexdigest()[:16]

    def shown(self) -> FulfillmentShown:
        return FulfillmentShown(
            id=self.id,
            number=self.number,
            status=self.status,
            ship_date=self.ship_date,
            quantity=self.quantity,
            lines=self.lines_text(),
            fingerprint=self.fingerprint(),
        )


class FulfillmentShown(BaseModel):
    """A fulfilment as q2c last wrote it to Salesforce: what the order's status and details show, and
    the fingerprint that tells whether it changed since."""

    id: str
    number: str
    status: str
    ship_date: str | None
    quantity: Decimal
    lines: str
    fingerprint: str


class OrderBilling(BaseModel):
    sales_order_id: str
    sales_order_status: str
    invoices: list[Invoice]
    # Empty in histories recorded before fulfilments were read.
    fulfillments: list[Fulfillment] = Field(default_factory=list)

    @property
    def billed(self) -> Decimal:
        return sum((invoice.total for invoice in self.invoices), Decimal(0))

    @property
    def paid(self) -> Decimal:
        return sum((invoice.total - invoice.amount_remaining for invoice in self.invoices), Decimal(0))

    @property
    def closed(self) -> bool:
        return self.sales_order_status in CLOSED_ORDER_STATUSES

    @property
    def fully_paid(self) -> bool:
        """Every invoice paid and nothing left to bill."""
        return (
            bool(self.invoices)
            and self.sales_order_status in FULLY_BILLED_STATUSES
            and all(invoice.paid for invoice in self.invoices)
        )


class CustomerCredit(BaseModel):
    """A NetSuite customer's credit fields, as read."""

    customer_id: str
    company_name: str
    credit_hold_override: str  # AUTO, ON, OFF
    credit_limit: Decimal | None
    balance: Decimal
    overdue_balance: Decimal
    days_overdue: int


class CreditState(BaseModel):
    customer_id: str
    on_hold: bool
    reason: str | None
    balance: Decimal
    overdue_balance: Decimal

    def fingerprint(self) -> str:
        return f"{self.on_hold}|{self.reason}|{self.balance}|{self.overdue_balance}"


def credit_state(customer: CustomerCredit, overdue_days_threshold: int) -> CreditState:
    """On hold when NetSuite says so (override ON), or, unless the override is OFF, when the balance
    is over the credit limit or an invoice is overdue by more than the threshold."""
    override = customer.credit_hold_override.upper()
    reason: str | None = None
    if override == "ON":
        reason = "NetSuite credit hold is set to On"
    elif override != "OFF":
        if customer.days_overdue > overdue_days_threshold:
            reason = (
                f"an invoice is {customer.days_overdue} days overdue (threshold {overdue_days_threshold}); "
                f"overdue balance {customer.overdue_balance}"
            )
        elif customer.credit_limit is not None and customer.balance > customer.credit_limit:
            reason = f"balance {customer.balance} is over the credit limit {customer.credit_limit}"
    return CreditState(
        customer_id=customer.customer_id,
        on_hold=reason is not None,
        reason=reason,
        balance=customer.balance,
        overdue_balance=customer.overdue_balance,
    )
