"""Bookings versus billings end to end: the real dev server, both sandboxes over HTTPS (SOQL, SuiteQL with
revenue plans and consolidated exchange rates), the worker, q2c's store, the report files and the
write-back to Salesforce. On sandboxes of their own, with data built to hold each reason code once.

The NetSuite clock is set to 2026-12-15, so October and November 2026 are closed periods whatever day the
tests run, and the runs judge ages as of that day.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from devtools.temporal_server import venv_binary
from q2c.config import Settings
from q2c.domain.messages.reconciliation import (
    ReconcileOptions,
    ReconcileRequest,
    ReconcileStage,
    ReconcileStatus,
)
from q2c.domain.reconciliation import Reason
from q2c_sandbox.local import LocalSandboxes, local_sandboxes
from q2c_sandbox.seed import CURRENCIES, SUBSIDIARIES
from temporal_client.reconciliation import handle, retry, start_reconciliation
from tests.conftest import q2c_test_settings, until
from tests.integration.test_backfill import _q2c, stop_other_modules_workflows
from tests.replay.recording import record_history
from workflows import names

TODAY = dt.date(2026, 12, 15)
PERIOD = "2026-10"
CLEAN_PERIOD = "2026-09"
VOLUME_PERIOD = "2026-08"
EUR_RATE = Decimal("1.1000")
D = Decimal


@pytest.fixture(scope="module")
def recon_sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSandboxes]:
    with local_sandboxes(tmp_path_factory.mktemp("reconcile-sandboxes")) as sandboxes:
        yield sandboxes


@pytest.fixture
def settings(recon_sandboxes: LocalSandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path) -> Settings:
    return q2c_test_settings(recon_sandboxes, temporal_env, tmp_path, account_sync=False)


pytestmark = pytest.mark.usefixtures("worker")


def options() -> ReconcileOptions:
    return ReconcileOptions(
        activity_timeout_seconds=60,
        activity_max_attempts=3,
        activity_max_interval_seconds=1,
        poll_seconds=0.2,
    )


def request(period: str, **extra: Any) -> ReconcileRequest:
    return ReconcileRequest(period=period, as_of=TODAY, unbilled_after_days=30, options=options(), **extra)


@dataclass
class World:
    sf: Any
    ns: Any
    items: dict[str, str]  # code -> NetSuite item id
    customers: dict[str, str]  # currency -> NetSuite customer id
    accounts: dict[str, str]  # currency -> Salesforce account id
    entries: dict[tuple[str, str], str]  # (code, currency) -> PricebookEntry id
    pricebook: str


def build_world(sandboxes: LocalSandboxes) -> World:
    sf, ns = sandboxes.sf_admin, sandboxes.ns_admin
    sf.reset()
    ns.reset()
    ns.put("/clock", {"now": f"{TODAY.isoformat()}T09:00:00Z"})
    ns.load({"currency": CURRENCIES, "subsidiary": SUBSIDIARIES})
    goods = ns.load({"inventoryItem": [{"itemId": "GOODS", "displayName": "Widget", "basePrice": 500.0}]})
    service = ns.load(
        {"serviceSaleItem": [{"itemId": "SVC", "displayName": "Support (12 months)", "basePrice": 1200.0}]}
    )
    items = {"GOODS": goods["inventoryItem"][0], "SVC": service["serviceSaleItem"][0]}
    customers = ns.load(
        {
            "customer": [
                {
                    "companyName": "Acme US",
                    "subsidiary": {"id": "1"},
                    "currency": {"id": "1"},
                    "creditLimit": 1e7,
                },
                {
                    "companyName": "Euro GmbH",
                    "subsidiary": {"id": "3"},
                    "currency": {"id": "4"},
                    "creditLimit": 1e7,
                },
            ]
        }
    )["customer"]
    accounts = sf.load(
        {
            "Account": [
                {"Name": "Acme US", "CurrencyIsoCode": "USD", "NetSuite_Internal_ID__c": customers[0]},
                {"Name": "Euro GmbH", "CurrencyIsoCode": "EUR", "NetSuite_Internal_ID__c": customers[1]},
            ]
        }
    )["Account"]
    products = sf.load(
        {
            "Product2": [
                {
                    "Name": "Widget",
                    "ProductCode": "GOODS",
                    "IsActive": True,
                    "NetSuite_Internal_ID__c": items["GOODS"],
                },
                {
                    "Name": "Support (12 months)",
                    "ProductCode": "SVC",
                    "IsActive": True,
                    "NetSuite_Internal_ID__c": items["SVC"],
                },
            ]
        }
    )["Product2"]
    standard = next(pb["Id"] for pb in sf.records("Pricebook2") if pb.get("IsStandard"))
    keys = [(code, cur) for code in ("GOODS", "SVC") for cur in ("USD", "EUR")]
    entry_ids = sf.load(
        {
            "PricebookEntry": [
                {
                    "Pricebook2Id": standard,
                    "Product2Id": products[0 if code == "GOODS" else 1],
                    "UnitPrice": 500.0 if code == "GOODS" else 1200.0,
                    "CurrencyIsoCode": cur,
                    "IsActive": True,
                }
                for code, cur in keys
            ]
        }
    )["PricebookEntry"]
    return World(
        sf,
        ns,
        items,
        {"USD": customers[0], "EUR": customers[1]},
        {"USD": accounts[0], "EUR": accounts[1]},
        dict(zip(keys, entry_ids, strict=True)),
        standard,
    )


def deal(
    w: World,
    name: str,
    close: str,
    amount: float,
    *,
    currency: str = "USD",
    stage: str = "Closed Won",
    lines: list[tuple[str, float]] | None = None,
    forecast: str | None = None,
    **fields: Any,
) -> str:
    """An opportunity (with product lines when given: (code, quantity) at list price)."""
    record: dict[str, Any] = {
        "Name": name,
        "AccountId": w.accounts[currency],
        "StageName": stage,
        "CloseDate": close,
        "CurrencyIsoCode": currency,
        "Amount": amount,
        "Pricebook2Id": w.pricebook,
    }
    if forecast:
        record["ForecastCategoryName"] = forecast
    record.update(fields)
    [opportunity_id] = w.sf.load({"Opportunity": [record]})["Opportunity"]
    if lines:
        w.sf.load(
            {
                "OpportunityLineItem": [
                    {
                        "OpportunityId": opportunity_id,
                        "PricebookEntryId": w.entries[(code, currency)],
                        "Quantity": quantity,
                        "UnitPrice": 500.0 if code == "GOODS" else 1200.0,
                    }
                    for code, quantity in lines
                ]
            }
        )
    return str(opportunity_id)


def order(
    w: World,
    opportunity_id: str | None,
    day: str,
    lines: list[tuple[str, float, float]],
    *,
    currency: str = "USD",
) -> str:
    body: dict[str, Any] = {
        "entity": {"id": w.customers[currency]},
        "tranDate": day,
        "currency": {"id": next(c["id"] for c in CURRENCIES if c["symbol"] == currency)},
        "item": {
            "items": [{"item": {"id": w.items[code]}, "quantity": q, "rate": rate} for code, q, rate in lines]
        },
    }
    if opportunity_id:
        body["externalId"] = opportunity_id
    return str(w.ns.load({"salesOrder": [body]})["salesOrder"][0])


def invoice(w: World, sales_order_id: str, day: str, amount: float, *, currency: str = "USD") -> str:
    return str(
        w.ns.load(
            {
                "invoice": [
                    {
                        "entity": {"id": w.customers[currency]},
                        "createdFrom": {"id": sales_order_id},
                        "tranDate": day,
                        "item": {
                            "items": [{"item": {"id": w.items["GOODS"]}, "quantity": 1, "rate": amount}]
                        },
                    }
                ]
            }
        )["invoice"][0]
    )


def pay(w: World, invoice_id: str, amount: float, *, currency: str = "USD") -> None:
    w.ns.load(
        {
            "customerPayment": [
                {
                    "customer": {"id": w.customers[currency]},
                    "tranDate": "2026-11-20",
                    "payment": amount,
                    "apply": {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": amount}]},
                }
            ]
        }
    )


def credit(w: World, invoice_id: str, amount: float) -> None:
    w.ns.load(
        {
            "creditMemo": [
                {
                    "entity": {"id": w.customers["USD"]},
                    "tranDate": "2026-11-25",
                    "item": {"items": [{"item": {"id": w.items["GOODS"]}, "rate": amount}]},
                    "apply": {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": amount}]},
                }
            ]
        }
    )


def month_period_id(w: World, name: str) -> str:
    [period] = [p for p in w.ns.records("accountingPeriod") if p.get("periodName") == name]
    return str(period["id"])


def add_rate(w: World, month_name: str, rate: Decimal) -> None:
    w.ns.load(
        {
            "consolidatedExchangeRate": [
                {
                    "postingPeriod": {"id": month_period_id(w, month_name)},
                    "fromCurrency": {"id": "4"},
                    "toCurrency": {"id": "1"},
                    "averageRate": float(rate),
                    "currentRate": float(rate),
                    "historicalRate": float(rate),
                }
            ]
        }
    )


@dataclass
class Scenario:
    ids: dict[str, str]  # case -> opportunity id (or so:{id} for the order without a won opportunity)


def build_scenario(w: World) -> Scenario:
    """Period 2026-10: two clean deals and one of each reason; open pipeline; an order dated in October
    of a deal won in September (September's business, not October's)."""
    ids: dict[str, str] = {}
    ids["clean_usd"] = deal(w, "Clean USD", "2026-10-05", 1000, lines=[("GOODS", 2)])
    so = order(w, ids["clean_usd"], "2026-10-05", [("GOODS", 2, 500)])
    pay(w, invoice(w, so, "2026-10-06", 1000), 1000)
    ids["clean_eur"] = deal(w, "Clean EUR", "2026-10-10", 1200, currency="EUR", lines=[("SVC", 1)])
    so = order(w, ids["clean_eur"], "2026-10-10", [("SVC", 1, 1200)], currency="EUR")
    pay(w, invoice(w, so, "2026-10-11", 1200, currency="EUR"), 600, currency="EUR")

    ids["won_no_order"] = deal(w, "No order", "2026-10-12", 700)
    ids["amount_differs"] = deal(w, "Short order", "2026-10-13", 1500, lines=[("GOODS", 3)])
    so = order(w, ids["amount_differs"], "2026-10-13", [("GOODS", 2, 500)])
    invoice(w, so, "2026-10-14", 1000)
    ids["currency_differs"] = deal(w, "Wrong currency", "2026-10-14", 800, currency="EUR")
    so = order(w, ids["currency_differs"], "2026-10-14", [("GOODS", 1, 800)])
    invoice(w, so, "2026-10-15", 800)
    ids["billed_more"] = deal(w, "Billed twice", "2026-10-15", 1000)
    so = order(w, ids["billed_more"], "2026-10-15", [("GOODS", 2, 500)])
    invoice(w, so, "2026-10-16", 1000)
    invoice(w, so, "2026-10-20", 250)
    ids["unbilled"] = deal(w, "Not billed", "2026-10-16", 900)
    order(w, ids["unbilled"], "2026-10-16", [("GOODS", 1, 900)])
    ids["credited"] = deal(w, "Credited", "2026-10-17", 600)
    so = order(w, ids["credited"], "2026-10-17", [("GOODS", 1, 600)])
    credit(w, invoice(w, so, "2026-10-18", 600), 100)
    lost = deal(w, "Lost but ordered", "2026-10-18", 400, stage="Closed Lost")
    ids["order_without_opportunity"] = "so:" + order(w, lost, "2026-10-19", [("GOODS", 1, 400)])

    # Won in September, ordered in October: September's row (the clean period), nothing in October.
    ids["september"] = deal(w, "September deal", "2026-09-28", 400)
    so = order(w, ids["september"], "2026-10-02", [("GOODS", 1, 400)])
    pay(w, invoice(w, so, "2026-10-03", 400), 400)
    # The same, for an order keyed in by hand in NetSuite (no externalId) that the deal's
    # NetSuite_Sales_Order_ID__c names: also September's.
    so = order(w, None, "2026-10-04", [("GOODS", 1, 300)])
    pay(w, invoice(w, so, "2026-10-05", 300), 300)
    ids["september_named"] = deal(
        w, "September, ordered by hand", "2026-09-27", 300, NetSuite_Sales_Order_ID__c=so
    )
    # Open pipeline closing in October.
    deal(w, "Open commit", "2026-10-30", 5000, stage="Negotiation/Review", forecast="Commit")
    deal(w, "Open pipeline", "2026-10-29", 3000, stage="Prospecting")
    return Scenario(ids)


async def run(client: Client, req: ReconcileRequest) -> ReconcileStatus:
    return await (await start_reconciliation(client, req)).result()


def opportunity_fields(w: World, ids: list[str]) -> dict[str, dict[str, Any]]:
    fields = (
        "Reconciliation_Status__c",
        "Reconciliation_Period__c",
        "Reconciliation_Reasons__c",
        "Order_Variance__c",
        "Billing_Variance__c",
        "Recognized_Revenue__c",
    )
    by_id = {r["Id"]: r for r in w.sf.records("Opportunity")}
    return {i: {f: by_id[i].get(f) for f in fields} for i in ids}


async def test_each_reason_once_with_its_amounts_a_missing_rate_parks_and_a_rerun_writes_the_same(
    recon_sandboxes: LocalSandboxes, client: Client, settings: Settings
) -> None:
    await stop_other_modules_workflows(client)
    w = build_world(recon_sandboxes)
    scenario = build_scenario(w)
    # No EUR rate for October yet: the run parks, naming what is missing.
    h = await start_reconciliation(client, request(PERIOD))

    async def parked() -> ReconcileStatus | None:
        status = await h.query(names.STATUS_QUERY, result_type=ReconcileStatus)
        return status if status.stage is ReconcileStage.NEEDS_ATTENTION else None

    status = await until(parked, "the run parks for the missing EUR rate", within=60)
    assert status.problem and "EUR -> USD in 2026-10" in status.problem
    add_rate(w, "Oct 2026", EUR_RATE)
    await retry(client, PERIOD)
    first = await h.result()
    await record_history(client, names.reconcile_workflow_id(PERIOD), "reconcile_missing_rate_then_retried")
    assert first.stage is ReconcileStage.DONE and first.summary is not None
    summary = first.summary

    # Every reason once, on the row built for it, with its amount.
    text = await asyncio.to_thread(Path(first.report_csv or "").read_text, encoding="utf-8-sig")
    rows = {r["opportunity_id"] or f"so:{r['sales_order_id']}": r for r in csv.DictReader(text.splitlines())}
    expected = {
        "won_no_order": (Reason.WON_NO_ORDER, D("-700.00")),
        "amount_differs": (Reason.AMOUNT_DIFFERS, D("-500.00")),
        "currency_differs": (Reason.CURRENCY_DIFFERS, D("0.00")),
        "billed_more": (Reason.BILLED_MORE_THAN_BOOKED, D("250.00")),
        "unbilled": (Reason.UNBILLED, D("-900.00")),
        "credited": (Reason.CREDITED_AFTER_BILLING, D("-100.00")),
        "order_without_opportunity": (Reason.ORDER_WITHOUT_OPPORTUNITY, D("400.00")),
    }
    assert summary.by_reason == {reason.value: 1 for reason, _ in expected.values()}
    assert summary.exceptions == len(expected) and summary.opportunities == 8
    assert len(rows) == 9 and rows.keys() == {scenario.ids[c] for c in expected} | {
        scenario.ids["clean_usd"],
        scenario.ids["clean_eur"],
    }
    from q2c.store import Store
    from q2c.store.reconciliation import ReconciliationStore

    stored = {r.key: r for r in ReconciliationStore(Store(settings.effective_database_url())).rows(PERIOD)}
    for case, (reason, amount) in expected.items():
        row = stored[scenario.ids[case]]
        assert [(f.reason, f.amount) for f in row.findings] == [(reason, amount)], case
    assert "Widget (item" in stored[scenario.ids["amount_differs"]].findings[0].detail
    assert "opportunity line 1" in stored[scenario.ids["amount_differs"]].findings[0].detail
    assert "Closed Lost" in stored[scenario.ids["order_without_opportunity"]].findings[0].detail
    clean_eur = stored[scenario.ids["clean_eur"]]
    assert clean_eur.findings == [] and clean_eur.collected == D("600.00")
    assert clean_eur.recognised == D("200.00")  # 1,200 over 12 months: October and November closed
    assert stored[scenario.ids["clean_usd"]].recognised == D("1000.00")  # goods: at once

    # Totals: USD as they are, EUR at October's consolidated average rate, the rate shown.
    eur = next(c for c in summary.by_currency if c.currency == "EUR")
    assert eur.totals.booked == D("2000.00") and [r.rate for r in eur.rates] == [EUR_RATE]
    assert eur.rates[0].netsuite_id is not None
    usd_booked = D(1000 + 700 + 1500 + 1000 + 900 + 600)
    assert summary.total.booked == usd_booked + D("2000") * EUR_RATE
    assert {(p.forecast_category, p.amount) for p in summary.pipeline} == {
        ("Commit", D("5000.00")),
        ("Pipeline", D("3000.00")),
    }

    # Salesforce: each opportunity's fields and one Reconciliation__c with the totals and the report.
    fields = opportunity_fields(w, [scenario.ids[c] for c in ("clean_usd", "amount_differs", "unbilled")])
    assert fields[scenario.ids["clean_usd"]]["Reconciliation_Status__c"] == "Reconciled"
    short = fields[scenario.ids["amount_differs"]]
    assert short["Reconciliation_Status__c"] == "Exception" and short["Order_Variance__c"] == -500.0
    assert (
        short["Reconciliation_Period__c"] == PERIOD and "amount_differs" in short["Reconciliation_Reasons__c"]
    )
    [record] = w.sf.records("Reconciliation__c")
    assert (
        record["Period__c"] == PERIOD and record["Exceptions__c"] == 7 and record["Status__c"] == "Exceptions"
    )
    assert record["Booked__c"] == float(summary.total.booked)
    assert record["Report_URL__c"] == first.report_url and "EUR->USD" in record["Exchange_Rates__c"]
    assert first.reconciliation_id == record["Id"]

    # The web UI's details and the search attribute say where it ended and what it found.
    description = await h.describe()
    assert description.typed_search_attributes.get(names.STAGE) == "done"
    assert (
        "billed_more_than_booked"
        in (await h.query(names.STATUS_QUERY, result_type=ReconcileStatus)).model_dump_json()
    )

    # A rerun replaces the results: the same rows, the same fields, still one Reconciliation__c.
    before = opportunity_fields(w, [i for i in scenario.ids.values() if not i.startswith("so:")])
    second = await run(client, request(PERIOD))
    assert second.summary == summary
    again = {r.key: r for r in ReconciliationStore(Store(settings.effective_database_url())).rows(PERIOD)}
    assert again == stored
    assert opportunity_fields(w, list(before)) == before
    assert [r["Period__c"] for r in w.sf.records("Reconciliation__c")] == [PERIOD]


async def test_a_clean_period_started_from_the_temporal_cli_reports_no_exceptions(
    recon_sandboxes: LocalSandboxes, client: Client, settings: Settings
) -> None:
    if not any(o.get("Name") == "September deal" for o in recon_sandboxes.sf_admin.records("Opportunity")):
        build_scenario(build_world(recon_sandboxes))
    address = client.service_client.config.target_host
    body = request(CLEAN_PERIOD).model_dump(mode="json")
    await asyncio.to_thread(
        subprocess.run,
        [
            str(venv_binary("temporal")),
            "workflow",
            "start",
            "--type",
            names.RECONCILE_WORKFLOW,
            "--task-queue",
            names.TASK_QUEUE,
            "--workflow-id",
            names.reconcile_workflow_id(CLEAN_PERIOD),
            "--input",
            json.dumps(body),
            "--address",
            address,
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    status = await handle(client, CLEAN_PERIOD).result()
    assert status.summary is not None
    assert status.summary.exceptions == 0 and status.summary.opportunities == 2
    assert set(status.summary.by_reason.values()) == {0}
    assert status.summary.total.billed == D("700.00") and status.summary.total.collected == D("700.00")
    html = await asyncio.to_thread(Path(status.report_html or "").read_text)
    assert "2026-09" in html


async def test_q2c_reconcile_prints_the_summary_and_refuses_what_is_not_a_period(
    recon_sandboxes: LocalSandboxes, client: Client, settings: Settings
) -> None:
    if not any(o.get("Name") == "Clean USD" for o in recon_sandboxes.sf_admin.records("Opportunity")):
        w = build_world(recon_sandboxes)
        build_scenario(w)
        add_rate(w, "Oct 2026", EUR_RATE)
    code, out = await _q2c(settings, "reconcile", "2026-13")
    assert code == 2 and "neither a month" in out, out
    code, out = await _q2c(
        settings, "reconcile", PERIOD, "--as-of", TODAY.isoformat(), "--unbilled-after-days", "30"
    )
    assert code == 0, out
    assert "Bookings vs billings 2026-10 (2026-10-01 to 2026-10-31), as of 2026-12-15" in out
    assert "8 won opportunities, 1 order without one; 7 exceptions" in out
    for reason in Reason:
        assert re.search(rf"\n\s+1  {reason.value} ", out), (reason, out)
    assert "Report: " in out and "Reconciliation__c a0L" in out
    code, status = await _q2c(settings, "reconcile-status", PERIOD)
    assert code == 0 and "Reconciliation 2026-10: done" in status, status


async def test_an_input_that_is_not_a_period_starts_nothing(client: Client) -> None:
    from temporalio.client import WorkflowFailureError

    h = await client.start_workflow(
        names.RECONCILE_WORKFLOW, {"period": "2026-13"}, id="reconcile:2026-13", task_queue=names.TASK_QUEUE
    )
    with pytest.raises(WorkflowFailureError) as failure:
        await h.result()
    assert "neither a month" in str(failure.value.cause)


async def test_five_thousand_opportunities_within_the_api_budget(
    recon_sandboxes: LocalSandboxes, client: Client, settings: Settings
) -> None:
    await stop_other_modules_workflows(client)
    w = build_world(recon_sandboxes)
    n = 5000
    opportunity_ids = w.sf.load(
        {
            "Opportunity": [
                {
                    "Name": f"Volume {i}",
                    "AccountId": w.accounts["USD"],
                    "StageName": "Closed Won",
                    "CloseDate": f"2026-08-{1 + i % 28:02d}",
                    "CurrencyIsoCode": "USD",
                    "Amount": 100.0 + i % 7,
                }
                for i in range(n)
            ]
        }
    )["Opportunity"]
    orders = [
        {
            "entity": {"id": w.customers["USD"]},
            "tranDate": f"2026-08-{1 + i % 28:02d}",
            "externalId": opportunity_id,
            "item": {
                "items": [
                    {
                        "item": {"id": w.items["GOODS"]},
                        "quantity": 1,
                        "rate": 100.0 + i % 7 + (1 if i % 50 == 0 else 0),
                    }
                ]
            },
        }
        for i, opportunity_id in enumerate(opportunity_ids)
    ]
    for start in range(0, n, 1000):
        w.ns.load({"salesOrder": orders[start : start + 1000]})
    budget = 40
    used_before = w.sf.stats()["api_usage"]["used"] if "api_usage" in w.sf.stats() else None
    status = await run(client, request(VOLUME_PERIOD, salesforce_api_budget=budget))
    assert status.stage is ReconcileStage.DONE and status.summary is not None
    assert status.summary.opportunities == n and status.opportunities_written == n
    # Every 50th order is one more than its deal; none is billed (as of 2026-12-15, > 30 days).
    assert status.summary.by_reason[Reason.AMOUNT_DIFFERS.value] == n // 50
    assert status.summary.by_reason[Reason.UNBILLED.value] == n
    assert 0 < status.salesforce_calls <= budget
    if used_before is not None:
        assert w.sf.stats()["api_usage"]["used"] - used_before <= budget
    marked = [o for o in w.sf.records("Opportunity") if o.get("Reconciliation_Period__c") == VOLUME_PERIOD]
    assert len(marked) == n
