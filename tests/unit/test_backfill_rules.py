"""The backfill's rules, pure: one decision per account and per unclaimed customer, the filters, the
Salesforce API budget and the write-cost projection, and the SOQL each scope's query job runs."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from activities.backfill import account_in_scope, scope_query
from q2c.domain.backfill import (
    AccountRecord,
    Action,
    ApiBudget,
    BackfillFilters,
    Decision,
    IndexedCustomer,
    Scope,
    account_decision,
    claimed_twice,
    customer_decision,
    eta_seconds,
    out_of_scope,
    salesforce_write_calls,
)
from q2c.domain.mapping import load_mapping
from q2c.domain.matching import match
from q2c.domain.messages.backfill import BackfillRequest

ACME = AccountRecord(id="001000000000001AAA", name="Acme, Inc.", website="https://www.acme.com")
BODY = {"companyName": "Acme, Inc.", "subsidiary": {"id": "1"}}


def _customer(cid: str, name: str, **kw: object) -> IndexedCustomer:
    return IndexedCustomer(id=cid, name=name, **kw)


def _decide(account: AccountRecord, customers: list[IndexedCustomer], **kw: object) -> Decision:
    result = match(account.candidate(), [c.candidate() for c in customers])
    options = {"create_customers": True, "new_customer": BODY} | kw
    return account_decision(account, result, **options)  # type: ignore[arg-type]


def test_one_customer_by_domain_is_linked_naming_the_key_and_both_writes() -> None:
    d = _decide(ACME, [_customer("7", "ACME Incorporated", email="ap@mail.acme.com")])
    assert d.action is Action.LINK and d.netsuite_id == "7"
    assert d.rule == "domain" and d.match_key == "same domain acme.com"
    assert d.needs_netsuite and d.needs_salesforce


def test_a_pair_pointing_at_each_other_is_already_linked_and_a_half_link_is_completed() -> None:
    linked = ACME.model_copy(update={"cross_id": "7", "field_link": "7"})
    both = _decide(linked, [_customer("7", "Other name", cross_id=ACME.id)], customer_links={"7": ACME.id})
    assert both.action is Action.ALREADY_LINKED
    # A link only q2c's store knows: found by it, written on the records that lack it.
    stored = ACME.model_copy(update={"cross_id": "7"})
    repaired = _decide(stored, [_customer("7", "Other name", cross_id=ACME.id)], customer_links={"7": None})
    assert repaired.action is Action.LINK and repaired.needs_salesforce and repaired.needs_netsuite
    half = _decide(linked, [_customer("7", "Other name")])
    assert half.action is Action.LINK and half.rule == "cross_id"
    assert half.needs_netsuite and not half.needs_salesforce


def test_several_candidates_park_the_account_listing_them() -> None:
    d = _decide(ACME, [_customer("7", "Acme Inc"), _customer("9", "ACME")])
    assert d.action is Action.PARK and d.rule == "name"
    assert [c.split()[0] for c in d.candidates] == ["7", "9"]
    assert "choose-match" in (d.reason or "")


def test_no_match_creates_the_customer_unless_told_not_to_or_it_cannot_be_made() -> None:
    assert _decide(ACME, []).action is Action.CREATE_CUSTOMER
    off = _decide(ACME, [], create_customers=False)
    assert off.action is Action.SKIP and "creating customers is off" in (off.reason or "")
    cannot = _decide(ACME, [], new_customer="currency 'JPY' has no NetSuite subsidiary")
    assert cannot.action is Action.PARK and "JPY" in (cannot.reason or "")
    dangling = _decide(ACME.model_copy(update={"cross_id": "404"}), [])
    assert dangling.action is Action.SKIP and "404" in (dangling.reason or "")


def test_an_account_outside_the_filters_still_claims_its_customer_and_writes_nothing() -> None:
    d = out_of_scope(_decide(ACME, [_customer("7", "ACME Incorporated", email="ap@mail.acme.com")]))
    assert (
        d.action is Action.OUT_OF_SCOPE
        and d.netsuite_id == "7"
        and not (d.needs_netsuite or d.needs_salesforce)
    )
    assert d.reason == "outside this run's filters (would be: link, same domain acme.com)"
    created = out_of_scope(_decide(ACME, []))
    assert created.netsuite_id is None and created.body == {}


def test_a_customer_two_accounts_claim_parks_both() -> None:
    d = claimed_twice(_decide(ACME, [_customer("7", "Acme")]), ["001000000000002AAA"])
    assert d.action is Action.PARK and not d.needs_netsuite and "matched by 2 accounts" in (d.reason or "")


def test_an_unclaimed_customer_gets_an_account_unless_parked_pointing_elsewhere_or_off() -> None:
    free = _customer("5", "Globex")
    assert customer_decision(free, claimed_by_park=None, create_accounts=True).action is Action.CREATE_ACCOUNT
    parked = customer_decision(free, claimed_by_park="001000000000001AAA", create_accounts=True)
    assert parked.action is Action.PARK and "001000000000001AAA" in (parked.reason or "")
    away = customer_decision(
        free.model_copy(update={"cross_id": "001X"}), claimed_by_park=None, create_accounts=True
    )
    assert away.action is Action.SKIP and "did not read" in (away.reason or "")
    off = customer_decision(free, claimed_by_park=None, create_accounts=False)
    assert off.action is Action.SKIP


def test_filters_refuse_what_is_not_an_id_and_admit_dates() -> None:
    with pytest.raises(ValidationError, match="not a NetSuite internal id"):
        BackfillFilters(subsidiary="UK")
    with pytest.raises(ValidationError, match="neither a Salesforce id nor a NetSuite internal id"):
        BackfillFilters(ids=["001-bad"])
    f = BackfillFilters(
        since=dt.date(2026, 1, 1), until=dt.date(2026, 3, 31), ids=["42", "001000000000001AAA"]
    )
    assert f.admits_date(dt.date(2026, 2, 1)) and not f.admits_date(dt.date(2026, 4, 1))
    assert f.netsuite_ids() == ["42"] and f.salesforce_ids("001") == ["001000000000001AAA"]
    with pytest.raises(ValidationError, match="run id"):
        BackfillRequest(run_id="two words")
    with pytest.raises(ValidationError, match="at least one scope"):
        BackfillRequest(scopes=[])
    assert BackfillRequest(scopes=[Scope.CATALOG, Scope.ACCOUNTS]).scopes == [Scope.ACCOUNTS, Scope.CATALOG]


def test_the_budget_refuses_past_the_run_budget_or_the_daily_reserve() -> None:
    budget = ApiBudget(budget=1000, reserve_percent=20, used_at_start=70_000, daily_max=100_000)
    assert budget.allowance() == 1000
    assert budget.refusal(70_500, 400) is None
    refused = budget.refusal(70_500, 600)
    assert refused and "used 500" in refused and "projects 600" in refused and "budget is 1000" in refused
    reserve = ApiBudget(budget=None, reserve_percent=20, used_at_start=79_000, daily_max=100_000)
    assert reserve.allowance() == 1000 and reserve.refusal(79_000, 1001) is not None
    assert ApiBudget().refusal(None, 10**9) is None  # nothing known: nothing to refuse on


def test_writes_cost_a_bulk_job_per_big_batch_and_collections_below() -> None:
    assert salesforce_write_calls(0, batch=10_000, threshold=2000) == 0
    # A job: create, upload, close, two result files, and a state poll per 1,000 records (2 at least).
    assert salesforce_write_calls(25_000, batch=10_000, threshold=2000) == 15 + 15 + 10
    assert salesforce_write_calls(21_000, batch=10_000, threshold=2000) == 15 + 15 + 5  # 1,000 left: 5 x 200
    assert eta_seconds(25, 100, 10.0) == 30.0 and eta_seconds(0, 100, 10.0) is None


def test_each_scope_reads_what_it_needs_within_the_filters() -> None:
    mapping = load_mapping()
    accounts = scope_query(Scope.ACCOUNTS, BackfillFilters(since=dt.date(2026, 1, 1)), mapping)
    assert accounts.startswith(
        "SELECT Id, Name, Website, NetSuite_Internal_ID__c, CurrencyIsoCode, CreatedDate"
    )
    # Every account, whatever the filters: one left out still claims the customer it matches.
    assert accounts.endswith("FROM Account")
    assert "ORDER BY" not in accounts and "LIMIT" not in accounts  # Bulk API 2.0 query jobs page themselves
    deals = scope_query(
        Scope.OPPORTUNITIES, BackfillFilters(until=dt.date(2026, 6, 30), ids=["006000000000001AAA"]), mapping
    )
    assert "WHERE IsWon = true AND CloseDate <= 2026-06-30 AND (Id IN ('006000000000001AAA'))" in deals
    of_account = scope_query(Scope.CONTACTS, BackfillFilters(ids=["001000000000001AAA"]), mapping)
    assert of_account.endswith("WHERE AccountId != null AND (AccountId IN ('001000000000001AAA'))")
    acme = ACME.model_copy(update={"created": dt.date(2025, 5, 1), "currency": "GBP"})
    assert not account_in_scope(acme, BackfillFilters(since=dt.date(2026, 1, 1)), mapping)
    assert account_in_scope(acme, BackfillFilters(subsidiary="2"), mapping)  # GBP books in subsidiary 2
    assert not account_in_scope(acme, BackfillFilters(subsidiary="1"), mapping)
    assert not account_in_scope(acme, BackfillFilters(ids=["42"]), mapping)
    only_netsuite = scope_query(Scope.CONTACTS, BackfillFilters(ids=["42"]), mapping)
    assert only_netsuite.endswith("Id = null")  # NetSuite ids named: no Salesforce contact is in the run


def test_the_readme_commands_start_a_valid_backfill() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"temporal workflow start --type Backfill (.*?)--input '(.*?)'", readme, re.S)
    assert len(commands) == 2
    for flags, payload in commands:
        assert "--task-queue q2c" in flags and "--workflow-id backfill:" in flags
        request = BackfillRequest.model_validate(json.loads(payload))
        assert request.scopes == list(Scope)
