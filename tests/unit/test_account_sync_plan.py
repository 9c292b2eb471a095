"""The account sync decisions: what `plan_sync` writes where, the baseline (loop guard 2), create bodies.

Everything here runs the shipped mapping file's rules, so the tests pin the behaviour q2c ships with.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

import pytest

from q2c.domain.account_sync import (
    AccountState,
    Baseline,
    ContactState,
    SyncPlan,
    baseline_after,
    contact_body,
    is_unchanged,
    new_account_fields,
    new_customer_fields,
    plain,
    plan_sync,
    same_value,
)
from q2c.domain.mapping import load_mapping
from q2c.domain.sync import Direction, FieldRule, MappingValueError, Side, to_netsuite, to_salesforce

MAPPING = load_mapping()
ACCOUNT = MAPPING.account.fields
CONTACT = MAPPING.contact.fields
CURRENCIES = MAPPING.currencies

SF_ID = "001000000000001AAA"
NS_ID = "4242"
T0 = dt.datetime(2026, 1, 5, 10, 0, 0, tzinfo=dt.UTC)

SF_VALUES: dict[str, Any] = {
    "Name": "Acme Corp",
    "Phone": "+1 555 0100",
    "Website": "https://acme.example",
    "CurrencyIsoCode": "USD",
    "NetSuite_Balance__c": 1500.0,
    "NetSuite_Overdue_Balance__c": 0.0,
    "Industry": "Technology",
}
NS_VALUES: dict[str, Any] = {
    "companyName": "Acme Corp",
    "phone": "+1 555 0100",
    "url": "https://acme.example",
    "currency": {"id": "1", "refName": "USD"},
    "balance": 1500.0,
    "overdueBalance": 0.0,
    "custentity_industry": "TECH",
}
BOTH = [r for r in ACCOUNT if r.direction is Direction.BOTH]


def _sf(at: dt.datetime = T0, **changes: Any) -> AccountState:
    return AccountState(side=Side.SALESFORCE, id=SF_ID, values={**SF_VALUES, **changes}, modified_at=at)


def _ns(at: dt.datetime = T0, *, is_customer: bool = False, **changes: Any) -> AccountState:
    return AccountState(
        side=Side.NETSUITE,
        id=NS_ID,
        values={**NS_VALUES, **changes},
        modified_at=at,
        is_customer=is_customer,
    )


def _baseline(sf: dict[str, Any] | None = None, ns: dict[str, Any] | None = None) -> Baseline:
    return Baseline(salesforce={**SF_VALUES, **(sf or {})}, netsuite={**NS_VALUES, **(ns or {})})


def _rule(salesforce: str) -> FieldRule:
    return next(r for r in ACCOUNT if r.salesforce == salesforce)


def _empty(plan: SyncPlan) -> bool:
    return not plan.to_netsuite and not plan.to_salesforce


# --- the shipped rules this file relies on ----------------------------------------------------------------


def test_the_shipped_account_rules_are_the_ones_these_tests_assume() -> None:
    assert {r.salesforce for r in BOTH} == {"Name", "Phone", "Website", "Industry"}
    assert {r.salesforce: r.netsuite for r in ACCOUNT} == {
        "Name": "companyName",
        "Phone": "phone",
        "Website": "url",
        "CurrencyIsoCode": "currency",
        "NetSuite_Balance__c": "balance",
        "NetSuite_Overdue_Balance__c": "overdueBalance",
        "Industry": "custentity_industry",
    }


# --- first sync (no baseline) -----------------------------------------------------------------------------


@pytest.mark.parametrize("is_customer", [False, True])
def test_first_sync_of_equal_records_writes_nothing(is_customer: bool) -> None:
    plan = plan_sync(ACCOUNT, _sf(), _ns(is_customer=is_customer), None, is_customer=is_customer)
    assert plan == SyncPlan()


@pytest.mark.parametrize("is_customer", [False, True])
@pytest.mark.parametrize(
    ("sf_changes", "ns_changes", "to_netsuite", "to_salesforce"),
    [
        ({"Phone": None}, {}, {}, {"Phone": "+1 555 0100"}),
        ({"Phone": ""}, {}, {}, {"Phone": "+1 555 0100"}),
        ({}, {"url": None}, {"url": "https://acme.example"}, {}),
        ({}, {"url": ""}, {"url": "https://acme.example"}, {}),
        ({"Industry": None}, {}, {}, {"Industry": "Technology"}),
        ({}, {"custentity_industry": None}, {"custentity_industry": "TECH"}, {}),
        ({}, {"companyName": ""}, {"companyName": "Acme Corp"}, {}),
    ],
)
def test_first_sync_fills_a_blank_side_from_the_other_whoever_is_master(
    is_customer: bool,
    sf_changes: dict[str, Any],
    ns_changes: dict[str, Any],
    to_netsuite: dict[str, Any],
    to_salesforce: dict[str, Any],
) -> None:
    plan = plan_sync(ACCOUNT, _sf(**sf_changes), _ns(**ns_changes), None, is_customer=is_customer)
    assert plan.to_netsuite == to_netsuite
    assert plan.to_salesforce == to_salesforce
    assert any("first sync, blank on one side" in d for d in plan.decisions)


def test_first_sync_blank_on_both_sides_is_in_sync() -> None:
    plan = plan_sync(ACCOUNT, _sf(Phone=None), _ns(phone=""), None, is_customer=False)
    assert _empty(plan)


def test_first_sync_prospect_salesforce_wins_a_difference() -> None:
    sf = _sf(Name="Acme Corporation", Phone="+1 555 0101", Website="https://acme.com")
    plan = plan_sync(ACCOUNT, sf, _ns(), None, is_customer=False)
    assert plan.to_netsuite == {
        "companyName": "Acme Corporation",
        "phone": "+1 555 0101",
        "url": "https://acme.com",
    }
    assert plan.to_salesforce == {}
    assert "Name/companyName: first sync, the two differ; the master (salesforce) wins" in plan.decisions


def test_first_sync_customer_netsuite_wins_a_difference_of_salesforce_until_customer_fields() -> None:
    sf = _sf(Name="Acme Corporation", Phone="+1 555 0101", Website="https://acme.com")
    plan = plan_sync(ACCOUNT, sf, _ns(is_customer=True), None, is_customer=True)
    assert plan.to_salesforce == {
        "Name": "Acme Corp",
        "Phone": "+1 555 0100",
        "Website": "https://acme.example",
    }
    assert plan.to_netsuite == {}


def test_first_sync_industry_is_mastered_by_salesforce_even_for_a_customer() -> None:
    plan = plan_sync(ACCOUNT, _sf(), _ns(is_customer=True, custentity_industry="MFG"), None, is_customer=True)
    assert plan.to_netsuite == {"custentity_industry": "TECH"}
    assert plan.to_salesforce == {}


@pytest.mark.parametrize("is_customer", [False, True])
@pytest.mark.parametrize("with_baseline", [False, True])
def test_a_long_salesforce_name_and_its_83_character_prefix_are_in_sync(
    is_customer: bool, with_baseline: bool
) -> None:
    long_name = "Acme " + "x" * 95
    assert len(long_name) == 100
    sf, ns = _sf(Name=long_name), _ns(companyName=long_name[:83])
    baseline = _baseline({"Name": long_name}, {"companyName": long_name[:83]}) if with_baseline else None
    plan = plan_sync(ACCOUNT, sf, ns, baseline, is_customer=is_customer)
    assert _empty(plan)


def test_a_long_salesforce_name_is_cut_to_83_characters_when_written() -> None:
    long_name = "Globex " + "y" * 93
    plan = plan_sync(ACCOUNT, _sf(Name=long_name), _ns(companyName="Globex"), None, is_customer=False)
    assert plan.to_netsuite == {"companyName": long_name[:83]}


def test_whitespace_around_a_salesforce_phone_is_not_a_difference() -> None:
    plan = plan_sync(ACCOUNT, _sf(Phone="  +1 555 0100 "), _ns(), None, is_customer=False)
    assert _empty(plan)


# --- with a baseline ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("is_customer", [False, True])
def test_a_salesforce_only_change_is_copied_to_netsuite(is_customer: bool) -> None:
    plan = plan_sync(
        ACCOUNT,
        _sf(Phone=" +1 555 0199 "),
        _ns(is_customer=is_customer),
        _baseline(),
        is_customer=is_customer,
    )
    assert plan.to_netsuite == {"phone": "+1 555 0199"}  # stripped on the way
    assert plan.to_salesforce == {}
    assert plan.decisions == ["Phone/phone: changed in salesforce; copied"]


@pytest.mark.parametrize("is_customer", [False, True])
def test_a_netsuite_only_change_is_copied_to_salesforce(is_customer: bool) -> None:
    plan = plan_sync(
        ACCOUNT,
        _sf(),
        _ns(url="https://acme.io", is_customer=is_customer),
        _baseline(),
        is_customer=is_customer,
    )
    assert plan.to_salesforce == {"Website": "https://acme.io"}
    assert plan.to_netsuite == {}


def test_clearing_a_field_on_one_side_clears_the_other() -> None:
    plan = plan_sync(ACCOUNT, _sf(Phone=None), _ns(), _baseline(), is_customer=False)
    assert plan.to_netsuite == {"phone": None}
    assert plan.to_salesforce == {}


@pytest.mark.parametrize("is_customer", [False, True])
@pytest.mark.parametrize(
    ("sf_at", "ns_at", "winner"),
    [
        (T0 + dt.timedelta(seconds=5), T0, Side.SALESFORCE),
        (T0, T0 + dt.timedelta(seconds=5), Side.NETSUITE),
        (T0 + dt.timedelta(seconds=1), T0 + dt.timedelta(milliseconds=999), Side.SALESFORCE),
    ],
)
def test_a_conflict_goes_to_the_newer_change(
    is_customer: bool, sf_at: dt.datetime, ns_at: dt.datetime, winner: Side
) -> None:
    sf = _sf(sf_at, Phone="+1 555 0111")
    ns = _ns(ns_at, phone="+1 555 0222", is_customer=is_customer)
    plan = plan_sync(ACCOUNT, sf, ns, _baseline(), is_customer=is_customer)
    if winner is Side.SALESFORCE:
        assert (plan.to_netsuite, plan.to_salesforce) == ({"phone": "+1 555 0111"}, {})
    else:
        assert (plan.to_netsuite, plan.to_salesforce) == ({}, {"Phone": "+1 555 0222"})
    assert any("the newer change wins" in d for d in plan.decisions)


@pytest.mark.parametrize(
    ("rule", "is_customer", "winner"),
    [
        ("Phone", False, Side.SALESFORCE),
        ("Phone", True, Side.NETSUITE),
        ("Industry", True, Side.SALESFORCE),  # master = salesforce, always
    ],
)
def test_a_conflict_within_the_same_second_goes_to_the_master(
    rule: str, is_customer: bool, winner: Side
) -> None:
    # Salesforce is 900 ms later, but NetSuite only knows whole seconds: that lead is noise.
    sf_at, ns_at = T0 + dt.timedelta(milliseconds=900), T0
    sf_value, ns_value = ("+1 555 0111", "+1 555 0222") if rule == "Phone" else ("Retail", "EDU")
    r = _rule(rule)
    sf = _sf(sf_at, **{r.salesforce: sf_value})
    ns = _ns(ns_at, is_customer=is_customer, **{r.netsuite: ns_value})
    plan = plan_sync(ACCOUNT, sf, ns, _baseline(), is_customer=is_customer)
    if winner is Side.SALESFORCE:
        assert plan.to_salesforce == {}
        assert plan.to_netsuite == {r.netsuite: "RETAIL" if rule == "Industry" else sf_value}
    else:
        assert plan.to_netsuite == {}
        assert plan.to_salesforce == {r.salesforce: ns_value}
    assert any("same second, the master wins" in d for d in plan.decisions)


def test_both_sides_changed_to_the_same_value_writes_nothing() -> None:
    sf = _sf(T0 + dt.timedelta(seconds=3), Phone=" +1 555 0199", Industry="Retail")
    ns = _ns(T0, phone="+1 555 0199", custentity_industry="RETAIL")
    plan = plan_sync(ACCOUNT, sf, ns, _baseline(), is_customer=False)
    assert plan == SyncPlan()


def test_a_difference_neither_side_made_since_the_baseline_is_left_alone() -> None:
    # E.g. a value q2c could not make equal: nobody changed it since, so nothing is rewritten.
    baseline = _baseline({"Website": "https://a.example"}, {"url": "https://b.example"})
    plan = plan_sync(
        ACCOUNT, _sf(Website="https://a.example"), _ns(url="https://b.example"), baseline, is_customer=False
    )
    assert _empty(plan)


def test_several_fields_change_independently() -> None:
    sf = _sf(T0 + dt.timedelta(seconds=10), Name="Acme Inc", Industry="Finance")
    ns = _ns(T0, phone="+44 20 7946 0000", balance=Decimal("2750.50"))
    plan = plan_sync(ACCOUNT, sf, ns, _baseline(), is_customer=False)
    assert plan.to_netsuite == {"companyName": "Acme Inc", "custentity_industry": "FIN"}
    assert plan.to_salesforce == {"Phone": "+44 20 7946 0000", "NetSuite_Balance__c": Decimal("2750.50")}


# --- one-way fields ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("is_customer", [False, True])
@pytest.mark.parametrize("with_baseline", [False, True])
def test_the_netsuite_balance_is_written_to_salesforce_when_it_differs(
    is_customer: bool, with_baseline: bool
) -> None:
    ns = _ns(balance=2000.25, overdueBalance=Decimal("125"), is_customer=is_customer)
    baseline = _baseline() if with_baseline else None
    plan = plan_sync(ACCOUNT, _sf(), ns, baseline, is_customer=is_customer)
    assert plan.to_salesforce == {
        "NetSuite_Balance__c": 2000.25,
        "NetSuite_Overdue_Balance__c": Decimal("125"),
    }
    assert plan.to_netsuite == {}
    assert "NetSuite_Balance__c/balance: netsuite is master; its value is copied" in plan.decisions


def test_an_edit_of_the_balance_in_salesforce_is_put_back_from_netsuite() -> None:
    sf = _sf(T0 + dt.timedelta(hours=1), NetSuite_Balance__c=9999.0)
    plan = plan_sync(ACCOUNT, sf, _ns(), _baseline(), is_customer=False)
    assert plan.to_salesforce == {"NetSuite_Balance__c": 1500.0}
    assert "balance" not in plan.to_netsuite


def test_a_balance_read_as_decimal_equals_the_same_float() -> None:
    plan = plan_sync(ACCOUNT, _sf(), _ns(balance=Decimal("1500.00")), _baseline(), is_customer=False)
    assert _empty(plan)


@pytest.mark.parametrize("with_baseline", [False, True])
@pytest.mark.parametrize(("code", "netsuite_id"), [("CAD", "3"), ("GBP", "2"), ("EUR", "4")])
def test_the_currency_flows_to_netsuite_as_a_reference_while_a_prospect(
    with_baseline: bool, code: str, netsuite_id: str
) -> None:
    baseline = _baseline() if with_baseline else None
    plan = plan_sync(ACCOUNT, _sf(CurrencyIsoCode=code), _ns(), baseline, is_customer=False)
    assert plan.to_netsuite == {"currency": {"id": netsuite_id}}
    assert plan.to_salesforce == {}


@pytest.mark.parametrize("with_baseline", [False, True])
def test_the_currency_no_longer_flows_once_a_customer(with_baseline: bool) -> None:
    baseline = _baseline() if with_baseline else None
    for sf, ns in [
        (_sf(CurrencyIsoCode="EUR"), _ns(is_customer=True)),
        (_sf(), _ns(currency={"id": "2", "refName": "GBP"}, is_customer=True)),
    ]:
        plan = plan_sync(ACCOUNT, sf, ns, baseline, is_customer=True)
        assert _empty(plan)


def test_a_currency_edit_in_netsuite_is_put_back_while_a_prospect() -> None:
    ns = _ns(T0 + dt.timedelta(hours=1), currency={"id": "3", "refName": "CAD"})
    plan = plan_sync(ACCOUNT, _sf(), ns, _baseline(), is_customer=False)
    assert plan.to_netsuite == {"currency": {"id": "1"}}


def test_an_unknown_netsuite_currency_is_overwritten_not_an_error_while_a_prospect() -> None:
    plan = plan_sync(ACCOUNT, _sf(), _ns(currency={"id": "99", "refName": "JPY"}), None, is_customer=False)
    assert plan.to_netsuite == {"currency": {"id": "1"}}


def test_a_currency_read_as_a_bare_id_is_in_sync() -> None:
    # SuiteQL returns references as bare ids, REST as {"id": ..., "refName": ...}.
    plan = plan_sync(ACCOUNT, _sf(CurrencyIsoCode="GBP"), _ns(currency="2"), None, is_customer=False)
    assert _empty(plan)


# --- the Industry picklist ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("salesforce", "netsuite"),
    [("Technology", "TECH"), ("Healthcare", "HEALTH"), ("Education", "EDU"), ("Other", "OTHER")],
)
def test_industry_maps_to_codes_both_ways(salesforce: str, netsuite: str) -> None:
    to_ns = plan_sync(
        ACCOUNT,
        _sf(Industry=salesforce),
        _ns(custentity_industry="FIN"),
        _baseline({"Industry": "Finance"}, {"custentity_industry": "FIN"}),
        is_customer=False,
    )
    assert to_ns.to_netsuite == {"custentity_industry": netsuite}
    to_sf = plan_sync(
        ACCOUNT,
        _sf(Industry="Finance"),
        _ns(custentity_industry=netsuite),
        _baseline({"Industry": "Finance"}, {"custentity_industry": "FIN"}),
        is_customer=True,
    )
    assert to_sf.to_salesforce == {"Industry": salesforce}


@pytest.mark.parametrize("with_baseline", [False, True])
def test_an_unmapped_salesforce_industry_names_the_account_and_field(with_baseline: bool) -> None:
    baseline = _baseline() if with_baseline else None
    with pytest.raises(MappingValueError) as raised:
        plan_sync(ACCOUNT, _sf(Industry="Aerospace"), _ns(), baseline, is_customer=False)
    assert (raised.value.record_id, raised.value.field) == (SF_ID, "Industry")
    assert f"record {SF_ID}, field Industry" in str(raised.value)
    assert "'Aerospace'" in str(raised.value) and "custentity_industry" in str(raised.value)


def test_an_unmapped_netsuite_industry_names_the_customer_and_field() -> None:
    with pytest.raises(MappingValueError) as raised:
        plan_sync(ACCOUNT, _sf(), _ns(custentity_industry="SPACE"), _baseline(), is_customer=False)
    assert (raised.value.record_id, raised.value.field) == (NS_ID, "custentity_industry")
    assert f"record {NS_ID}, field custentity_industry" in str(raised.value)
    assert "'SPACE'" in str(raised.value)


def test_an_unmapped_value_on_the_losing_side_is_simply_overwritten() -> None:
    # NetSuite still holds a code nobody mapped, unchanged since the baseline; Salesforce changed: no error.
    baseline = _baseline(ns={"custentity_industry": "SPACE"})
    plan = plan_sync(
        ACCOUNT, _sf(Industry="Retail"), _ns(custentity_industry="SPACE"), baseline, is_customer=False
    )
    assert plan.to_netsuite == {"custentity_industry": "RETAIL"}


# --- value equality ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ({"id": "1", "refName": "USD"}, {"id": "1"}, True),
        ({"id": "1", "refName": "USD", "links": []}, "1", True),
        ({"id": 1}, {"id": "1"}, True),
        ({"id": "1", "refName": "USD"}, {"id": "2", "refName": "USD"}, False),
        (1500, 1500.0, True),
        (Decimal("1.5E3"), 1500.0, True),
        (Decimal("1500.10"), 1500.1, True),
        (Decimal("0.00"), 0, True),
        (None, "", True),
        (None, 0, False),
        ("1", 1, False),
        (True, 1, False),
        ("Acme", "acme", False),
    ],
)
def test_same_value(a: Any, b: Any, same: bool) -> None:
    assert same_value(a, b) is same
    assert same_value(b, a) is same


def test_plain_makes_values_json_native() -> None:
    when = dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC)
    value = {"balance": Decimal("12.50"), "at": when, "day": dt.date(2026, 1, 5), "list": (Decimal("1"), "x")}
    assert plain(value) == {
        "balance": 12.5,
        "at": "2026-01-05T10:00:00+00:00",
        "day": "2026-01-05",
        "list": [1.0, "x"],
    }
    assert same_value(plain(Decimal("2750.50")), Decimal("2750.50"))


# --- the baseline and loop guard 2 ---------------------------------------------------------------------------


def _read_back_netsuite(values: dict[str, Any]) -> dict[str, Any]:
    """What a read of NetSuite returns for what q2c wrote: references gain refName, numbers are Decimals."""
    names = {m.netsuite_currency: code for code, m in CURRENCIES.items()}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict) and "id" in value:
            value = {"id": str(value["id"]), "refName": names.get(str(value["id"]), "?"), "links": []}
        elif isinstance(value, float):
            value = Decimal(str(value))
        out[key] = value
    return out


def _read_back_salesforce(values: dict[str, Any]) -> dict[str, Any]:
    """Salesforce returns numbers as floats."""
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in values.items()}


def _apply(
    sf: AccountState, ns: AccountState, plan: SyncPlan, at: dt.datetime
) -> tuple[AccountState, AccountState]:
    """Both sides as read right after q2c wrote `plan` (a write is a modification of the record)."""
    new_sf = sf.model_copy(
        update={
            "values": _read_back_salesforce({**sf.values, **plan.to_salesforce}),
            "modified_at": at if plan.to_salesforce else sf.modified_at,
        }
    )
    new_ns = ns.model_copy(
        update={
            "values": _read_back_netsuite({**ns.values, **plan.to_netsuite}),
            "modified_at": at if plan.to_netsuite else ns.modified_at,
        }
    )
    return new_sf, new_ns


def test_own_writes_read_back_as_unchanged() -> None:
    sf = _sf(T0 + dt.timedelta(seconds=30), Phone="+1 555 0199", CurrencyIsoCode="EUR")
    ns = _ns(balance=Decimal("2000.5"), url="https://acme.io")
    baseline = _baseline()
    plan = plan_sync(ACCOUNT, sf, ns, baseline, is_customer=False)
    assert plan.to_netsuite == {"phone": "+1 555 0199", "currency": {"id": "4"}}
    assert plan.to_salesforce == {"NetSuite_Balance__c": Decimal("2000.5"), "Website": "https://acme.io"}
    after = baseline_after(ACCOUNT, sf, ns, plan)
    assert after.netsuite["currency"] == {"id": "4"}
    assert after.salesforce["NetSuite_Balance__c"] == Decimal("2000.5")
    sf2, ns2 = _apply(sf, ns, plan, T0 + dt.timedelta(minutes=1))
    assert ns2.values["currency"] == {"id": "4", "refName": "EUR", "links": []}
    assert sf2.values["NetSuite_Balance__c"] == 2000.5
    assert is_unchanged(ACCOUNT, sf2, after)
    assert is_unchanged(ACCOUNT, ns2, after)
    # ... and planning again writes nothing.
    assert _empty(plan_sync(ACCOUNT, sf2, ns2, after, is_customer=False))


def test_the_baseline_survives_the_plain_copy_temporal_makes() -> None:
    sf, ns = _sf(), _ns(balance=Decimal("10.10"))
    plan = plan_sync(ACCOUNT, sf, ns, None, is_customer=False)
    after = baseline_after(ACCOUNT, sf, ns, plan)
    carried = Baseline.model_validate_json(
        Baseline(salesforce=plain(after.salesforce), netsuite=plain(after.netsuite)).model_dump_json()
    )
    sf2, ns2 = _apply(sf, ns, plan, T0 + dt.timedelta(minutes=1))
    assert is_unchanged(ACCOUNT, sf2, carried) and is_unchanged(ACCOUNT, ns2, carried)


def test_the_baseline_ignores_unmapped_fields_and_absent_ones_are_none() -> None:
    sf = _sf()
    sf = sf.model_copy(update={"values": {**sf.values, "Description": "not mapped"}})
    after = baseline_after(ACCOUNT, sf, _ns(), SyncPlan())
    assert "Description" not in after.salesforce
    assert set(after.salesforce) == {r.salesforce for r in ACCOUNT}
    assert set(after.netsuite) == {r.netsuite for r in ACCOUNT}
    partial = AccountState(side=Side.NETSUITE, id=NS_ID, values={"companyName": "Acme"}, modified_at=T0)
    assert baseline_after(ACCOUNT, _sf(), partial, SyncPlan()).netsuite["phone"] is None
    assert is_unchanged(ACCOUNT, sf, after)


@pytest.mark.parametrize(
    ("side", "changes"),
    [
        (Side.SALESFORCE, {"Phone": "+1 555 0100 ext 2"}),
        (Side.SALESFORCE, {"NetSuite_Balance__c": 1500.01}),
        (Side.SALESFORCE, {"Industry": None}),
        (Side.NETSUITE, {"currency": {"id": "3", "refName": "CAD"}}),
        (Side.NETSUITE, {"companyName": "Acme Corp."}),
    ],
)
def test_any_further_edit_is_not_unchanged(side: Side, changes: dict[str, Any]) -> None:
    baseline = _baseline()
    state = _sf(**changes) if side is Side.SALESFORCE else _ns(**changes)
    assert not is_unchanged(ACCOUNT, state, baseline)
    assert is_unchanged(ACCOUNT, _sf() if side is Side.SALESFORCE else _ns(), baseline)


def test_nothing_is_unchanged_without_a_baseline() -> None:
    assert not is_unchanged(ACCOUNT, _sf(), None)


# --- creating the other side's record ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "subsidiary", "currency"),
    [("USD", "1", "1"), ("CAD", "1", "3"), ("GBP", "2", "2"), ("EUR", "3", "4")],
)
def test_new_customer_fields(code: str, subsidiary: str, currency: str) -> None:
    body = new_customer_fields(ACCOUNT, _sf(CurrencyIsoCode=code, Phone=" +1 555 0100 "), CURRENCIES)
    assert body == {
        "companyName": "Acme Corp",
        "phone": "+1 555 0100",
        "url": "https://acme.example",
        "currency": {"id": currency},
        "custentity_industry": "TECH",
        "subsidiary": {"id": subsidiary},
    }


def test_new_customer_fields_cut_a_long_name() -> None:
    long_name = "N" * 120
    assert new_customer_fields(ACCOUNT, _sf(Name=long_name), CURRENCIES)["companyName"] == "N" * 83


def test_new_customer_fields_default_to_usd_without_a_currency_field() -> None:
    values = {k: v for k, v in SF_VALUES.items() if k != "CurrencyIsoCode"}
    sf = AccountState(side=Side.SALESFORCE, id=SF_ID, values=values, modified_at=T0)
    body = new_customer_fields(ACCOUNT, sf, CURRENCIES)
    assert body["subsidiary"] == {"id": "1"} and body["currency"] == {"id": "1"}


def test_new_customer_fields_default_to_usd_when_the_currency_is_null() -> None:
    body = new_customer_fields(ACCOUNT, _sf(CurrencyIsoCode=None), CURRENCIES)
    assert body["subsidiary"] == {"id": "1"}
    assert body["currency"] == {"id": "1"}


def test_new_customer_fields_unknown_currency_names_the_account_and_field() -> None:
    with pytest.raises(MappingValueError) as raised:
        new_customer_fields(ACCOUNT, _sf(CurrencyIsoCode="JPY"), CURRENCIES)
    assert (raised.value.record_id, raised.value.field) == (SF_ID, "CurrencyIsoCode")
    assert "JPY" in str(raised.value)


def test_new_customer_fields_unknown_currency_in_the_table_only_names_the_account_and_field() -> None:
    # A mapping whose field rule knows the currency but whose [currencies] table does not.
    with pytest.raises(MappingValueError) as raised:
        new_customer_fields(ACCOUNT, _sf(), {k: v for k, v in CURRENCIES.items() if k != "USD"})
    assert (raised.value.record_id, raised.value.field) == (SF_ID, "CurrencyIsoCode")
    assert "[currencies.USD]" in str(raised.value)


@pytest.mark.parametrize("name", [None, ""])
def test_new_customer_fields_need_a_name(name: str | None) -> None:
    with pytest.raises(MappingValueError) as raised:
        new_customer_fields(ACCOUNT, _sf(Name=name), CURRENCIES)
    assert (raised.value.record_id, raised.value.field) == (SF_ID, "Name")


@pytest.mark.parametrize("is_customer", [False, True])
def test_new_account_fields_from_a_netsuite_customer(is_customer: bool) -> None:
    ns = _ns(
        is_customer=is_customer,
        phone=None,
        balance=Decimal("310.75"),
        overdueBalance=Decimal("0"),
        custentity_industry="HEALTH",
    ).model_copy(update={"name": "Acme Corp"})
    assert new_account_fields(ACCOUNT, ns) == {
        "Name": "Acme Corp",
        "Website": "https://acme.example",
        "NetSuite_Balance__c": Decimal("310.75"),
        "NetSuite_Overdue_Balance__c": Decimal("0"),  # zero is a value, not a blank
        "Industry": "Healthcare",
        # A one-way field too: the account starts in the customer's currency, so the first sync does not
        # push Salesforce's default currency back onto the customer.
        "CurrencyIsoCode": "USD",
    }


def test_new_account_fields_take_the_name_from_the_state_without_a_company_name() -> None:
    ns = AccountState(
        side=Side.NETSUITE, id=NS_ID, values={"url": "https://x.example"}, modified_at=T0, name="Initech"
    )
    assert new_account_fields(ACCOUNT, ns) == {"Name": "Initech", "Website": "https://x.example"}


def test_new_account_fields_unmapped_industry_names_the_customer() -> None:
    with pytest.raises(MappingValueError) as raised:
        new_account_fields(ACCOUNT, _ns(custentity_industry="SPACE"))
    assert (raised.value.record_id, raised.value.field) == (NS_ID, "custentity_industry")


# --- contacts ----------------------------------------------------------------------------------------------


def test_a_contact_without_email_still_gets_a_body_under_its_company() -> None:
    contact = ContactState(
        id="003000000000001AAA", account_id=SF_ID, values={"FirstName": "Ada", "LastName": "Lovelace"}
    )
    body = contact_body(CONTACT, contact, customer_id=NS_ID, subsidiary_id=None)
    assert body == {"firstName": "Ada", "lastName": "Lovelace", "company": {"id": NS_ID}}
    with_null = contact.model_copy(update={"values": {**contact.values, "Email": None, "Phone": None}})
    body = contact_body(CONTACT, with_null, customer_id=NS_ID, subsidiary_id="2")
    assert body["company"] == {"id": NS_ID} and body["subsidiary"] == {"id": "2"}
    assert body["email"] is None


def test_contact_body_lowercases_email_and_cuts_names_to_32() -> None:
    contact = ContactState(
        id="003000000000002AAA",
        account_id=SF_ID,
        values={
            "FirstName": "  " + "F" * 40,
            "LastName": "L" * 33,
            "Email": "  Ada.Lovelace@Example.COM ",
            "Phone": " +1 555 0100 ",
        },
    )
    body = contact_body(CONTACT, contact, customer_id=NS_ID, subsidiary_id="1")
    assert body == {
        "firstName": "F" * 32,
        "lastName": "L" * 32,
        "email": "ada.lovelace@example.com",
        "phone": "+1 555 0100",
        "company": {"id": NS_ID},
        "subsidiary": {"id": "1"},
    }


# --- convergence, on random edit sequences -------------------------------------------------------------------

_SF_POOL: dict[str, list[Any]] = {
    "Name": ["Acme Corp", "Acme Corporation", "Globex", "A" * 100, "Initech " + "z" * 90, None],
    "Phone": ["+1 555 0100", " +1 555 0101 ", "+44 20 7946 0000", "", None],
    "Website": ["https://acme.example", "  https://acme.io  ", "https://" + "w" * 110, None],
    "Industry": ["Technology", "Retail", "Finance", "Other", None],
    "CurrencyIsoCode": ["USD", "CAD", "GBP", "EUR"],
    "NetSuite_Balance__c": [0.0, 12.5, 99999.99],
    "NetSuite_Overdue_Balance__c": [0.0, 1.0],
}
# What NetSuite can hold: values already stripped and within its lengths.
_NS_POOL: dict[str, list[Any]] = {
    "companyName": ["Acme Corp", "ACME", "Hooli", "H" * 83, None],
    "phone": ["+1 555 0100", "+1 555 0202", None],
    "url": ["https://acme.example", "https://hooli.example", "u" * 100, None],
    "custentity_industry": ["TECH", "MFG", "EDU", "HEALTH", None],
    "currency": [{"id": "1", "refName": "USD"}, {"id": "2", "refName": "GBP"}, "3"],
    "balance": [Decimal("0"), Decimal("1500.00"), 42.42],
    "overdueBalance": [Decimal("0.00"), Decimal("10")],
}
# Values NetSuite could also return (padding, overlong): convergence must still hold.
_NS_NOISY_POOL: dict[str, list[Any]] = {
    **_NS_POOL,
    "companyName": [*_NS_POOL["companyName"], "  Padded  ", "N" * 90],
    "phone": [*_NS_POOL["phone"], " +1 555 0303 ", ""],
    "url": [*_NS_POOL["url"], " https://pad.example "],
}


def _agree(rule: FieldRule, sf: AccountState, ns: AccountState, *, strict: bool) -> bool:
    """Whether the two sides hold the same value of `rule`, through the domain conversion."""
    sf_value, ns_value = sf.values.get(rule.salesforce), ns.values.get(rule.netsuite)
    free = rule.model_copy(update={"direction": Direction.BOTH})
    as_ns = to_netsuite([free], {rule.salesforce: sf_value}, is_customer=False, record_id=sf.id)
    if same_value(as_ns[rule.netsuite], ns_value):
        return True
    if strict:
        return False
    as_sf = to_salesforce([free], {rule.netsuite: ns_value}, is_customer=False, record_id=ns.id)
    return same_value(as_sf[rule.salesforce], sf_value)


def _run_random_history(seed: int, ns_pool: dict[str, list[Any]], *, strict: bool) -> None:
    rng = random.Random(seed)
    sf, ns = _sf(), _ns()
    baseline: Baseline | None = None
    is_customer = False
    now = T0
    for step in range(40):
        if not is_customer and rng.random() < 0.05:
            is_customer = True  # mastership changes once the customer has transactions
        edit_sf, edit_ns = rng.choice([(True, False), (False, True), (True, True), (False, False)])
        sf_field, ns_field = rng.choice(list(_SF_POOL)), rng.choice(list(ns_pool))
        if baseline is not None and step % 4 == 0:
            # A conflict: the same shared field edited on both sides, in either order.
            edit_sf = edit_ns = True
            shared = rng.choice(BOTH)
            sf_field, ns_field = shared.salesforce, shared.netsuite
        edits = [side for side, wanted in ((Side.SALESFORCE, edit_sf), (Side.NETSUITE, edit_ns)) if wanted]
        rng.shuffle(edits)
        for side in edits:
            now += dt.timedelta(milliseconds=rng.choice([0, 300, 1000, 2500]))
            if side is Side.SALESFORCE:
                values = {**sf.values, sf_field: rng.choice(_SF_POOL[sf_field])}
                sf = sf.model_copy(update={"values": values, "modified_at": now})
            else:
                values = {**ns.values, ns_field: rng.choice(ns_pool[ns_field])}
                ns = ns.model_copy(update={"values": values, "modified_at": now})
        context = f"seed {seed} step {step}: sf={sf.values} ns={ns.values} baseline={baseline}"

        plan = plan_sync(ACCOUNT, sf, ns, baseline, is_customer=is_customer)
        baseline = baseline_after(ACCOUNT, sf, ns, plan)
        now += dt.timedelta(seconds=1)
        sf, ns = _apply(sf, ns, plan, now)

        # Loop guard 2: q2c's own writes read back as no change, on both sides.
        assert is_unchanged(ACCOUNT, sf, baseline), context
        assert is_unchanged(ACCOUNT, ns, baseline), context
        # Idempotent: planning again right away writes nothing.
        again = plan_sync(ACCOUNT, sf, ns, baseline, is_customer=is_customer)
        assert _empty(again), f"{context}\nplan={plan}\nagain={again}"
        # Converged: every shared field agrees, the balances too, and the currency while it flows.
        for rule in ACCOUNT:
            if rule.direction is Direction.BOTH or rule.flows_to(
                Side.SALESFORCE if rule.direction is Direction.TO_SALESFORCE else Side.NETSUITE,
                is_customer=is_customer,
            ):
                assert _agree(rule, sf, ns, strict=strict), f"{rule.salesforce}: {context}\nplan={plan}"


@pytest.mark.parametrize("seed", range(40))
def test_random_edit_histories_converge(seed: int) -> None:
    _run_random_history(seed, _NS_POOL, strict=True)


@pytest.mark.parametrize("seed", range(100, 140))
def test_random_edit_histories_with_noisy_netsuite_values_converge(seed: int) -> None:
    _run_random_history(seed, _NS_NOISY_POOL, strict=False)
