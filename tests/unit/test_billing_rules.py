"""When an order counts as paid and a customer as on hold (pure logic)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from q2c.domain.billing import CustomerCredit, Invoice, OrderBilling, credit_state


def _invoice(total: str, remaining: str, days_overdue: int = 0) -> Invoice:
    return Invoice(
        id="9",
        number="INV9",
        sales_order_id="7",
        customer_id="3",
        currency="USD",
        total=Decimal(total),
        amount_remaining=Decimal(remaining),
        status="Open" if Decimal(remaining) else "Paid In Full",
        due_date="2026-12-20",
        days_overdue=days_overdue,
    )


def test_paid_only_when_billed_in_full_and_every_invoice_paid() -> None:
    assert not OrderBilling(
        sales_order_id="7", sales_order_status="Pending Fulfillment", invoices=[]
    ).fully_paid
    partial = OrderBilling(sales_order_id="7", sales_order_status="Billed", invoices=[_invoice("100", "40")])
    assert not partial.fully_paid and partial.billed == 100 and partial.paid == 60
    done = OrderBilling(sales_order_id="7", sales_order_status="Billed", invoices=[_invoice("100", "0")])
    assert done.fully_paid
    still_billing = OrderBilling(
        sales_order_id="7", sales_order_status="Pending Billing", invoices=[_invoice("100", "0")]
    )
    assert not still_billing.fully_paid


def test_invoice_fingerprint_follows_what_salesforce_shows() -> None:
    assert _invoice("100", "40").fingerprint() == _invoice("100", "40").fingerprint()
    assert _invoice("100", "40").fingerprint() != _invoice("100", "0").fingerprint()


def _customer(
    override: str = "AUTO", limit: str | None = "1000", balance: str = "0", days: int = 0
) -> CustomerCredit:
    return CustomerCredit(
        customer_id="3",
        company_name="Acme",
        credit_hold_override=override,
        credit_limit=Decimal(limit) if limit else None,
        balance=Decimal(balance),
        overdue_balance=Decimal(balance) if days else Decimal(0),
        days_overdue=days,
    )


@pytest.mark.parametrize(
    ("customer", "on_hold", "reason"),
    [
        (_customer(), False, None),
        (_customer(override="ON"), True, "set to On"),
        (_customer(days=31, balance="500"), True, "31 days overdue (threshold 30)"),
        (_customer(days=30, balance="500"), False, None),
        (_customer(balance="1000.01"), True, "over the credit limit 1000"),
        (_customer(limit=None, balance="99999"), False, None),
        (_customer(override="OFF", days=90, balance="5000"), False, None),
    ],
)
def test_credit_hold_rule(customer: CustomerCredit, on_hold: bool, reason: str | None) -> None:
    state = credit_state(customer, overdue_days_threshold=30)
    assert state.on_hold is on_hold
    assert (reason is None and state.reason is None) or (
        reason is not None and reason in (state.reason or "")
    )
