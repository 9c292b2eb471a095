"""The order rules, on records built in memory (pure logic: no server)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from q2c.domain.mapping import MappingError, load_mapping
from q2c.domain.order import order_problems, plan_customer, plan_sales_order
from q2c.domain.records import Account, Opportunity, OpportunityLine, Product

MAPPING = load_mapping()


def _opportunity(**changes: object) -> Opportunity:
    base = Opportunity(
        id="006000000000001AAA",
        name="Acme - Widgets",
        stage="Closed Won",
        is_won=True,
        is_closed=True,
        amount=Decimal("1200"),
        currency="EUR",
        close_date=dt.date(2026, 11, 20),
        account=Account(
            id="001000000000001AAA", name="Acme Corporation " + "x" * 100, website="https://acme"
        ),
        lines=[
            OpportunityLine(
                id="00k000000000001AAA",
                product=Product(id="01t000000000001AAA", name="Widget", netsuite_item_id="101"),
                quantity=Decimal("10"),
                unit_price=Decimal("120"),
                total_price=Decimal("1200"),
            )
        ],
    )
    return base.model_copy(update=changes)


def test_a_complete_won_deal_has_no_problems() -> None:
    assert order_problems(_opportunity(), MAPPING) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"is_won": False, "stage": "Negotiation/Review"}, "is not Closed Won (stage 'Negotiation/Review')"),
        ({"lines": []}, "has no line items"),
        ({"currency": "JPY"}, "is in JPY, which has no NetSuite subsidiary in the mapping file"),
        ({"account": None}, "has no account"),
    ],
)
def test_each_problem_names_the_opportunity_and_the_fix(changes: dict[str, object], expected: str) -> None:
    problems = order_problems(_opportunity(**changes), MAPPING)
    assert len(problems) == 1
    assert expected in problems[0]
    assert "006000000000001AAA" in problems[0]


def test_a_product_without_netsuite_item_is_named() -> None:
    line = (
        _opportunity()
        .lines[0]
        .model_copy(
            update={"product": Product(id="01tBETA00000001AAA", name="Beta Add-on", netsuite_item_id=None)}
        )
    )
    [problem] = order_problems(_opportunity(lines=[line]), MAPPING)
    assert "01tBETA00000001AAA" in problem and "Beta Add-on" in problem
    assert "NetSuite_Internal_ID__c" in problem


def test_currency_decides_subsidiary_and_no_tax_is_planned() -> None:
    opp = _opportunity()
    order = plan_sales_order(opp, "77", MAPPING)
    assert (order.subsidiary_id, order.currency_id) == ("3", "4")  # EUR -> Q2C GmbH, Euro
    assert order.lines[0].item_id == "101" and order.lines[0].amount == Decimal("1200")
    assert "tax" not in order.model_dump_json().lower()


def test_customer_name_is_cut_to_netsuite_length() -> None:
    opp = _opportunity()
    assert opp.account is not None
    customer = plan_customer(opp.account, "EUR", MAPPING)
    assert len(customer.company_name) == MAPPING.customer.company_name_max_length == 83


def test_mapping_errors_name_the_field(tmp_path: Path) -> None:
    broken = tmp_path / "mapping.toml"
    broken.write_text('[currencies.USD]\nsubsidiary = "1"\n')
    with pytest.raises(MappingError, match=r"currencies\.USD\.netsuite_currency: Field required"):
        load_mapping(broken)
    broken.write_text("[currencies.USD\n")
    with pytest.raises(MappingError, match="not valid TOML"):
        load_mapping(broken)
