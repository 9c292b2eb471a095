"""Billing and credit as q2c sees them: a sales order's invoices, and whether a customer is on hold.

NetSuite is master of all of it; these are read models plus the two rules q2c applies on top: when an
order counts as paid, and when a customer counts as on credit hold.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from pydantic import BaseModel

CLOSED_ORDER_STATUSES = frozenset({"Closed", "Cancelled"})
FULLY_BILLED_STATUSES = frozenset({"Billed", "Closed"})


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


class OrderBilling(BaseModel):
    sales_order_id: str
    sales_order_status: str
    invoices: list[Invoice]

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
