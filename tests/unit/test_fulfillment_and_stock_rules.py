"""Fulfilments as Salesforce shows them, stock shortfalls at deal close and inactive products (pure logic,
plus the NetSuite read of an order's fulfilments over a recording fake client: no server)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from q2c.config import Settings
from q2c.connectors.netsuite_billing import NetSuiteBilling
from q2c.domain.billing import Fulfillment, FulfillmentLine, ship_status
from q2c.domain.mapping import load_mapping
from q2c.domain.order import (
    INVENTORY_WARNING_MAX,
    StockShortfallPolicy,
    order_problems,
    stock_shortfalls,
    stock_warning,
)
from q2c.domain.records import Account, Opportunity, OpportunityLine, Product
from temporal_client.orders import order_input

MAPPING = load_mapping()


def _fulfillment(**changes: Any) -> Fulfillment:
    base = Fulfillment(
        id="501",
        number="IF1",
        status="Shipped",
        ship_date="2026-11-25",
        tracking_numbers=["1Z999", "1Z998"],
        lines=[
            FulfillmentLine(item="WIDGET-A", quantity=Decimal("2")),
            FulfillmentLine(item="GW-X1", quantity=Decimal("1")),
            FulfillmentLine(item="WIDGET-A", quantity=Decimal("1.0")),  # same item, another location
        ],
    )
    return base.model_copy(update=changes)


# --- fulfilments ------------------------------------------------------------------------------------------
def test_lines_read_as_quantity_x_item_with_one_item_added_up() -> None:
    fulfillment = _fulfillment()
    assert fulfillment.lines_text() == "3 x WIDGET-A\n1 x GW-X1"
    assert fulfillment.quantity == 4
    assert fulfillment.tracking_text() == "1Z999, 1Z998"
    half = _fulfillment(lines=[FulfillmentLine(item="CABLE-M", quantity=Decimal("2.50"))])
    assert half.lines_text() == "2.5 x CABLE-M"
    many = _fulfillment(lines=[FulfillmentLine(item="BOLT", quantity=Decimal("100"))])
    assert many.lines_text() == "100 x BOLT"  # not 1E+2


def test_ship_status_codes_become_the_picklist_values() -> None:
    assert [ship_status(code) for code in ("A", "B", "C", "ItemShip:C", "Shipped")] == [
        "Picked",
        "Packed",
        "Shipped",
        "Shipped",
        "Shipped",
    ]


def test_the_fingerprint_changes_with_what_salesforce_shows_and_only_with_that() -> None:
    fingerprint = _fulfillment().fingerprint()
    assert _fulfillment().fingerprint() == fingerprint  # read again, unchanged
    same_shown = _fulfillment(
        lines=[
            FulfillmentLine(item="WIDGET-A", quantity=Decimal("3")),
            FulfillmentLine(item="GW-X1", quantity=Decimal("1")),
        ]
    )
    assert same_shown.fingerprint() == fingerprint  # the same text on the record
    for changed in (
        {"status": "Packed"},
        {"ship_date": "2026-11-26"},
        {"tracking_numbers": ["1Z999"]},
        {"number": "IF2"},
        {"lines": [FulfillmentLine(item="WIDGET-A", quantity=Decimal("2"))]},
    ):
        assert _fulfillment(**changed).fingerprint() != fingerprint, changed
    shown = _fulfillment().shown()
    assert (shown.number, shown.quantity, shown.lines, shown.fingerprint) == (
        "IF1",
        4,
        "3 x WIDGET-A\n1 x GW-X1",
        fingerprint,
    )


class RecordingNetSuite:
    """The two NetSuite calls the billing read makes, answered from memory; every call is counted."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.calls: list[str] = []

    async def get(self, record_type: str, record_id: str, *, expand: bool = False) -> dict[str, Any]:
        self.calls.append(f"GET {record_type}/{record_id}")
        if record_type == "salesOrder":
            return {"id": record_id, "status": {"id": "E", "refName": "Pending Billing/Partially Fulfilled"}}
        return {"id": record_id, "tranId": f"INV{record_id}", "total": 100.0, "amountRemaining": 100.0}

    async def suiteql_rows(self, query: str, *, page_size: int = 1000) -> list[dict[str, Any]]:
        self.calls.append("SuiteQL")
        self.query = query
        return self.rows


async def test_an_orders_fulfilments_come_with_its_invoices_in_one_query() -> None:
    rows: list[dict[str, Any]] = [
        {"id": "601", "type": "CustInvc", "tranid": "INV7", "item": "11", "quantity": "2"},
        {"id": "601", "type": "CustInvc", "tranid": "INV7", "item": "12", "quantity": "1"},
        *(
            {
                "id": fid,
                "type": "ItemShip",
                "tranid": number,
                "status": status,
                "shipdate": "2026-11-25",
                "trackingnumberlist": tracking,
                "item": item,
                "itemid": name,
                "quantity": quantity,
            }
            for fid, number, status, tracking, item, name, quantity in (
                ("701", "IF1", "C", "1Z999<BR>1Z998", "11", "WIDGET-A", "-2"),
                ("701", "IF1", "C", "1Z999<BR>1Z998", "12", "GW-X1", "-1"),
                ("702", "IF2", "A", None, "11", "WIDGET-A", "1"),
            )
        ),
    ]
    netsuite = RecordingNetSuite(rows)

    billing = await NetSuiteBilling(netsuite).order_billing("42")  # type: ignore[arg-type]

    assert netsuite.calls == ["GET salesOrder/42", "SuiteQL", "GET invoice/601"]
    assert "t.createdfrom = 42" in netsuite.query and "'ItemShip'" in netsuite.query
    assert billing.sales_order_status == "Pending Billing/Partially Fulfilled"
    assert [i.id for i in billing.invoices] == ["601"]
    first, second = billing.fulfillments
    assert (first.number, first.status, first.ship_date) == ("IF1", "Shipped", "2026-11-25")
    assert first.tracking_numbers == ["1Z999", "1Z998"]
    assert first.lines_text() == "2 x WIDGET-A\n1 x GW-X1" and first.quantity == 3
    assert (second.number, second.status, second.tracking_numbers, second.quantity) == (
        "IF2",
        "Picked",
        [],
        1,
    )


# --- stock and products -----------------------------------------------------------------------------------
def _product(code: str, available: str | None, *, active: bool = True, item: str | None = "101") -> Product:
    return Product(
        id=f"01t{code:0<15}",
        name=f"Product {code}",
        code=code,
        netsuite_item_id=item,
        is_active=active,
        quantity_available=Decimal(available) if available is not None else None,
    )


def _opportunity(*lines: tuple[Product, str]) -> Opportunity:
    return Opportunity(
        id="006000000000001AAA",
        name="Acme - Widgets",
        stage="Closed Won",
        is_won=True,
        is_closed=True,
        amount=Decimal("1200"),
        currency="EUR",
        close_date=dt.date(2026, 11, 20),
        account=Account(id="001000000000001AAA", name="Acme"),
        lines=[
            OpportunityLine(
                id=f"00k00000000000{n}AAA",
                product=product,
                quantity=Decimal(quantity),
                unit_price=Decimal("10"),
                total_price=Decimal("10") * Decimal(quantity),
            )
            for n, (product, quantity) in enumerate(lines, start=1)
        ],
    )


def test_lines_of_one_product_are_added_up_against_its_available_stock() -> None:
    widget, gateway = _product("WID", "5"), _product("GW", "1")
    opp = _opportunity((widget, "3"), (gateway, "1"), (widget, "4"))

    [short] = stock_shortfalls(opp)

    assert (short.product_id, short.lines, short.requested, short.available) == (widget.id, [1, 3], 7, 5)
    warning = stock_warning(opp, [short])
    assert warning == (
        "Not enough stock for Opportunity 006000000000001AAA ('Acme - Widgets'): lines 1, 3: product "
        f"{widget.id} ('Product WID') 7 requested, 5 available."
    )


@pytest.mark.parametrize(
    ("available", "short"),
    [("3", False), ("3.5", False), ("2", True), ("0", True), (None, False), ("-1", True)],
)
def test_a_product_without_an_available_quantity_is_not_stock_tracked(
    available: str | None, short: bool
) -> None:
    opp = _opportunity((_product("WID", available), "3"))
    assert bool(stock_shortfalls(opp)) is short


def test_no_shortfall_no_warning_and_a_long_one_fits_the_field() -> None:
    opp = _opportunity((_product("WID", "10"), "3"))
    assert stock_warning(opp, stock_shortfalls(opp)) is None
    many = _opportunity(*((_product(f"P{n}", "0"), "1") for n in range(200)))
    warning = stock_warning(many, stock_shortfalls(many)) or ""
    assert len(warning) == INVENTORY_WARNING_MAX and warning.startswith("Not enough stock")


def test_an_inactive_product_parks_the_order_naming_it_and_what_to_do() -> None:
    retired = _product("OLD-1", None, active=False, item="212")
    opp = _opportunity((_product("WID", None), "1"), (retired, "2"))

    [problem] = order_problems(opp, MAPPING)

    assert f"line 2: product {retired.id} ('Product OLD-1') is inactive in Salesforce" in problem
    assert (
        "replace the line with an active product, or reactivate item OLD-1 (internal id 212) in " in problem
    )
    assert "NetSuite (the catalog sync then reactivates the product), then retry." in problem
    assert order_problems(opp, MAPPING, check_active=False) == []  # histories from before the check


def test_an_inactive_product_without_netsuite_item_can_only_be_replaced() -> None:
    opp = _opportunity((_product("BETA", None, active=False, item=None), "1"))
    [problem] = order_problems(opp, MAPPING)
    assert "is inactive in Salesforce; replace the line with an active product, then retry." in problem


def test_the_stock_settings_reach_the_order_and_a_wrong_policy_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert order_input(Settings(_env_file=None), "006").options.stock_shortfall is StockShortfallPolicy.WARN
    monkeypatch.setenv("Q2C_STOCK_SHORTFALL", "hold")
    monkeypatch.setenv("Q2C_STOCK_RECHECK_SECONDS", "600")
    options = order_input(Settings(_env_file=None), "006").options
    assert (options.stock_shortfall, options.stock_recheck_seconds) == (StockShortfallPolicy.HOLD, 600)
    monkeypatch.setenv("Q2C_STOCK_SHORTFALL", "block")
    with pytest.raises(ValidationError, match="stock_shortfall"):
        Settings(_env_file=None)
