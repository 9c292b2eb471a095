"""``q2c status``: an order's status as a person reads it (``--json`` keeps the machine form)."""

from __future__ import annotations

from decimal import Decimal

from q2c.config import Settings
from q2c.domain.messages import OrderStatus
from q2c.domain.order import OrderStage
from starter.cli import build_parser, describe_order

SETTINGS = Settings(
    _env_file=None,
    salesforce_ui_url="https://acme.my.salesforce.com",
    netsuite_ui_url="https://1234567.app.netsuite.com",
    temporal_ui_url="http://127.0.0.1:8233",
)
OPP, ACCOUNT = "006000000000001AAA", "001000000000001AAA"


def test_an_order_being_paid_shows_its_amounts_sales_order_billing_and_links() -> None:
    status = OrderStatus(
        opportunity_id=OPP,
        stage=OrderStage.AWAITING_PAYMENT,
        account_id=ACCOUNT,
        netsuite_customer_id="123",
        sales_order_id="456",
        sales_order_number="SO1001",
        amount=Decimal("12000"),
        currency="USD",
        subsidiary="Q2C Inc. (US)",
        billed=Decimal("12000"),
        paid=Decimal("4000.5"),
        invoices={"77": "x", "78": "y"},
    )

    lines = describe_order(status, SETTINGS).splitlines()

    assert lines[0] == f"Order for opportunity {OPP}: awaiting_payment"
    assert "  amount          12,000.00 USD (subsidiary Q2C Inc. (US))" in lines
    assert f"  customer        NetSuite customer 123, Salesforce account {ACCOUNT}" in lines
    assert "  sales order     SO1001 (NetSuite id 456)" in lines
    assert "  billing         billed 12,000.00 USD, paid 4,000.50 USD, 2 invoices" in lines
    assert lines[lines.index("links") :] == [
        "links",
        f"  workflow        http://127.0.0.1:8233/namespaces/default/workflows/order:{OPP}",
        f"  opportunity     https://acme.my.salesforce.com/lightning/r/Opportunity/{OPP}/view",
        f"  account         https://acme.my.salesforce.com/lightning/r/Account/{ACCOUNT}/view",
        "  sales order     https://1234567.app.netsuite.com/app/accounting/transactions/salesord.nl?id=456",
        "  customer        https://1234567.app.netsuite.com/app/common/entity/custjob.nl?id=123",
    ]
    assert "{" not in "\n".join(lines)  # not JSON


def test_a_parked_order_says_why_and_what_to_do_next() -> None:
    reason = f"Opportunity {OPP}: product 'Beta Add-on' [01t000000000001AAA] has no NetSuite item"
    status = OrderStatus(opportunity_id=OPP, stage=OrderStage.NEEDS_ATTENTION, attention_reason=reason)

    text = describe_order(status, SETTINGS)

    assert f"  needs attention {reason}" in text.splitlines()
    assert f"  next step       fix it, then: q2c retry {OPP} --reason 'what was fixed'" in text.splitlines()
    assert "sales order     -" in text and "billing         not billed yet" in text


def test_an_order_held_for_credit_says_how_to_let_it_go() -> None:
    status = OrderStatus(
        opportunity_id=OPP,
        stage=OrderStage.AWAITING_CREDIT_RELEASE,
        credit_hold_reason="Globex Corporation: an invoice is 40 days overdue",
    )

    lines = describe_order(status, SETTINGS).splitlines()

    assert "  credit hold     Globex Corporation: an invoice is 40 days overdue" in lines
    assert (
        f"  next step       wait for NetSuite to release it, or: q2c approve-credit {OPP} --approved-by NAME"
        in (lines)
    )


def test_json_stays_available() -> None:
    args = build_parser().parse_args(["status", OPP, "--json"])
    assert args.json is True
    assert build_parser().parse_args(["status", OPP]).json is False


def test_an_order_shows_its_netsuite_status_fulfilments_and_stock_warning() -> None:
    from q2c.domain.billing import FulfillmentShown

    status = OrderStatus(
        opportunity_id=OPP,
        stage=OrderStage.AWAITING_INVOICE,
        netsuite_order_status="Pending Billing/Partially Fulfilled",
        fulfillments={
            "90": FulfillmentShown(
                id="90",
                number="IF1001",
                status="Shipped",
                ship_date="2026-12-02",
                quantity=Decimal(2),
                lines="2 x WID-100",
                fingerprint="f",
            )
        },
        inventory_warning="WID-100: 5 requested, 2 available",
    )

    lines = describe_order(status, SETTINGS).splitlines()

    assert "  order status    Pending Billing/Partially Fulfilled (NetSuite)" in lines
    assert "  fulfilment      IF1001: Shipped, shipped 2026-12-02, 2 x WID-100" in lines
    assert "  stock           WID-100: 5 requested, 2 available" in lines
