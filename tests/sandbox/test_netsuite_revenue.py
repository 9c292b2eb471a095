"""What a bookings-vs-billings reconciliation reads from the NetSuite sandbox through SuiteQL: accounting
periods, consolidated exchange rates and simple revenue recognition, over real HTTPS."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from q2c_sandbox.admin_client import SandboxAdmin
from q2c_sandbox.netsuite.records import RECORD_TYPES
from q2c_sandbox.netsuite.service import RecordService
from q2c_sandbox.netsuite.store import Store
from q2c_sandbox.netsuite.suiteql import SuiteQL
from q2c_sandbox.seed import exchange_rates, seed_demo
from tests.sandbox import test_netsuite_sandbox as base
from tests.sandbox.test_netsuite_billing import clock_today, rows
from tests.sandbox.test_netsuite_sandbox import (
    RECORDS,
    Catalog,
    NetSuiteSandboxUnderTest,
    assert_error,
    order_body,
)
from tests.sandbox.test_salesforce_sandbox import start_sandbox

# The sandbox fixtures of the base module, made visible here (pytest finds fixtures by module attribute).
netsuite_settings = base.netsuite_settings
netsuite = base.netsuite
netsuite_catalog = base.netsuite_catalog

# The built-in accounting periods of 2026 (ids by the documented formula: 17 periods a year from 2020).
FY_2026, Q1_2026, JAN_2026 = "103", "104", "105"

# -- helpers ---------------------------------------------------------------------------------------


def month_start(day: dt.date, months: int = 0) -> dt.date:
    """The first day of the month ``months`` after ``day``'s."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return dt.date(year, month + 1, 1)


def move_clock_to(ns: NetSuiteSandboxUnderTest, day: dt.date) -> None:
    """Set the sandbox clock to 06:00 UTC on ``day`` (which must be after its today: it only moves on)."""
    assert day > clock_today(ns), f"the sandbox clock is already past {day}"
    response = ns.admin("PUT", "/clock", {"now": f"{day.isoformat()}T06:00:00Z"})
    assert response.status_code == 200, response.text


def clock_at_least(ns: NetSuiteSandboxUnderTest, day: dt.date) -> None:
    if clock_today(ns) < day:
        move_clock_to(ns, day)


def service_item(ns: NetSuiteSandboxUnderTest, item_id: str = "SUP-GOLD", **extra: Any) -> str:
    """A service item created without a rule: it gets straight-line over 12 months."""
    return ns.create("serviceSaleItem", {"itemId": item_id, "basePrice": 1200.0, **extra})


def order(ns: NetSuiteSandboxUnderTest, catalog: Catalog, lines: list[dict[str, Any]], **extra: Any) -> str:
    body = order_body(catalog, externalId=extra.pop("externalId", None), **extra)
    body["item"] = {"items": lines}
    return ns.create("salesOrder", body)


def plan_months(ns: NetSuiteSandboxUnderTest, order_id: str) -> list[dict[str, Any]]:
    """The planned revenue of ``order_id``'s lines: (line, period name, amount, recognised), in order."""
    return rows(
        ns,
        "SELECT e.sourcetransactionline AS line, ap.periodname, pr.amount, pr.isrecognized "
        "FROM revenueplanplannedrevenue pr JOIN revenueplan p ON p.id = pr.revenueplan "
        "JOIN revenueelement e ON e.id = p.createdfrom JOIN accountingperiod ap ON ap.id = pr.plannedperiod "
        f"WHERE e.sourcetransaction = {order_id} ORDER BY e.sourcetransactionline, ap.startdate",
    )


def period_name(day: dt.date) -> str:
    return day.strftime("%b %Y")


def ns_date(day: dt.date) -> str:
    return f"{day.month}/{day.day}/{day.year}"


# -- accounting periods ----------------------------------------------------------------------------


def test_a_month_its_quarter_and_its_year_are_built_in(netsuite: NetSuiteSandboxUnderTest) -> None:
    january = netsuite.get("accountingPeriod", JAN_2026)
    assert (january["periodName"], january["startDate"], january["endDate"]) == (
        "Jan 2026",
        "2026-01-01",
        "2026-01-31",
    )
    assert (january["isPosting"], january["isQuarter"], january["isYear"], january["isAdjust"]) == (
        True,
        False,
        False,
        False,
    )
    assert january["parent"]["id"] == Q1_2026 and january["parent"]["refName"] == "Q1 2026"
    quarter = netsuite.get("accountingPeriod", Q1_2026)
    assert (quarter["isQuarter"], quarter["isPosting"], quarter["endDate"]) == (True, False, "2026-03-31")
    assert quarter["parent"]["refName"] == "FY 2026"
    year = netsuite.get("accountingPeriod", FY_2026)
    assert year["isYear"] is True and year["isPosting"] is False and "parent" not in year

    assert rows(
        netsuite,
        "SELECT id, periodname, startdate, enddate, TO_CHAR(enddate, 'YYYY-MM-DD') AS ends, isquarter, "
        f"isyear, isposting, isadjust, parent FROM accountingperiod WHERE id IN ({FY_2026}, {Q1_2026}, "
        f"{JAN_2026}) ORDER BY id",
    ) == [
        {
            "links": [],
            "id": FY_2026,
            "periodname": "FY 2026",
            "startdate": "1/1/2026",
            "enddate": "12/31/2026",
            "ends": "2026-12-31",
            "isquarter": "F",
            "isyear": "T",
            "isposting": "F",
            "isadjust": "F",
        },
        {
            "links": [],
            "id": Q1_2026,
            "periodname": "Q1 2026",
            "startdate": "1/1/2026",
            "enddate": "3/31/2026",
            "ends": "2026-03-31",
            "isquarter": "T",
            "isyear": "F",
            "isposting": "F",
            "isadjust": "F",
            "parent": FY_2026,
        },
        {
            "links": [],
            "id": JAN_2026,
            "periodname": "Jan 2026",
            "startdate": "1/1/2026",
            "enddate": "1/31/2026",
            "ends": "2026-01-31",
            "isquarter": "F",
            "isyear": "F",
            "isposting": "T",
            "isadjust": "F",
            "parent": Q1_2026,
        },
    ]
    # 2020..2035: 16 years of a year, four quarters and twelve months; the months of a quarter in order.
    [count] = rows(
        netsuite,
        "SELECT COUNT(*) AS n, SUM(CASE WHEN isposting = 'T' THEN 1 ELSE 0 END) AS months, "
        "MIN(startdate) AS first, MAX(enddate) AS last FROM accountingperiod",
    )
    assert (count["n"], count["months"], count["first"], count["last"]) == (
        "272",
        "192",
        "1/1/2020",
        "12/31/2035",
    )
    months = rows(
        netsuite,
        "SELECT m.periodname FROM accountingperiod m JOIN accountingperiod q ON q.id = m.parent "
        "WHERE q.periodname = 'Q4 2027' ORDER BY m.startdate",
    )
    assert [m["periodname"] for m in months] == ["Oct 2027", "Nov 2027", "Dec 2027"]


def test_accounting_periods_are_read_only_survive_a_reset_and_are_not_counted(
    netsuite: NetSuiteSandboxUnderTest,
) -> None:
    period = {"periodName": "Jan 2040", "startDate": "2040-01-01", "endDate": "2040-01-31"}
    assert_error(netsuite.call("POST", f"{RECORDS}/accountingPeriod", body=period), 400, "USER_ERROR")
    patched = netsuite.call("PATCH", f"{RECORDS}/accountingPeriod/{JAN_2026}", body={"periodName": "x"})
    assert_error(patched, 400, "USER_ERROR")
    assert_error(netsuite.call("DELETE", f"{RECORDS}/accountingPeriod/{JAN_2026}"), 400, "USER_ERROR")
    assert_error(netsuite.call("DELETE", f"{RECORDS}/revRecRule/1"), 400, "USER_ERROR")
    loaded = netsuite.admin("POST", "/load", {"records": {"accountingPeriod": [period]}})
    assert loaded.status_code == 400 and "accountingPeriod" in loaded.json()["message"]
    assert netsuite.get("accountingPeriod", JAN_2026)["periodName"] == "Jan 2026"

    counts = netsuite.admin("GET", "/stats").json()["counts"]
    assert counts["accountingPeriod"] == 0 and counts["revRecRule"] == 0
    assert netsuite.admin("POST", "/reset").status_code == 200
    assert netsuite.get("accountingPeriod", JAN_2026)["periodName"] == "Jan 2026"
    assert rows(netsuite, "SELECT COUNT(*) AS n FROM accountingperiod") == [{"links": [], "n": "272"}]
    assert rows(netsuite, "SELECT id, name, recognitionmethod FROM revenuerecognitionrule ORDER BY id") == [
        {"links": [], "id": "1", "name": "Recognize Immediately", "recognitionmethod": "IMMEDIATE"},
        {"links": [], "id": "2", "name": "Straight-line, by term", "recognitionmethod": "STRAIGHT_LINE"},
    ]


def test_a_period_closes_once_it_has_ended_by_the_sandbox_clock(netsuite: NetSuiteSandboxUnderTest) -> None:
    today = clock_today(netsuite)

    def month_of(day: dt.date) -> dict[str, Any]:
        [row] = rows(
            netsuite,
            "SELECT id, periodname, closed FROM accountingperiod "
            f"WHERE isposting = 'T' AND startdate <= TO_DATE('{day.isoformat()}', 'YYYY-MM-DD') "
            f"AND enddate >= TO_DATE('{day.isoformat()}', 'YYYY-MM-DD')",
        )
        return row

    this_month, last_month = month_of(today), month_of(month_start(today, -1))
    assert this_month["periodname"] == period_name(today)
    assert (this_month["closed"], last_month["closed"]) == ("F", "T")
    before = netsuite.get("accountingPeriod", this_month["id"])
    assert before["closed"] is False

    move_clock_to(netsuite, month_start(today, 1))

    assert month_of(today)["closed"] == "T"
    after = netsuite.get("accountingPeriod", this_month["id"])
    assert after["closed"] is True and after["lastModifiedDate"] == before["lastModifiedDate"]
    assert month_of(month_start(today, 1))["closed"] == "F"


# -- consolidated exchange rates -------------------------------------------------------------------


def rate_body(period: str = JAN_2026, **extra: Any) -> dict[str, Any]:
    return {
        "postingPeriod": {"id": period},
        "fromCurrency": {"id": "2"},
        "toCurrency": {"id": "1"},
        "averageRate": 1.08,
        "currentRate": 1.09,
        "historicalRate": 1.05,
        **extra,
    }


def test_a_consolidated_exchange_rate_is_written_and_read_back(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    rate_id = netsuite.create("consolidatedExchangeRate", rate_body(externalId="EUR-USD-2026-01"))
    rate = netsuite.get("consolidatedExchangeRate", rate_id)
    assert rate["postingPeriod"]["refName"] == "Jan 2026"
    assert (rate["fromCurrency"]["refName"], rate["toCurrency"]["refName"]) == ("Euro", "US Dollar")
    assert (rate["averageRate"], rate["currentRate"], rate["historicalRate"]) == (1.08, 1.09, 1.05)
    # The same currencies between two subsidiaries are another rate.
    between = netsuite.create(
        "consolidatedExchangeRate",
        rate_body(fromSubsidiary={"id": "3"}, toSubsidiary={"id": "1"}, averageRate=1.07),
    )
    response = netsuite.call(
        "PATCH", f"{RECORDS}/consolidatedExchangeRate/{rate_id}", body={"averageRate": 1.1}
    )
    assert response.status_code == 204, response.text

    assert rows(
        netsuite,
        "SELECT cer.id, cer.postingperiod, ap.periodname, cer.fromcurrency, cer.tocurrency, "
        "cer.fromsubsidiary, cer.tosubsidiary, cer.averagerate, cer.currentrate, cer.historicalrate, "
        "cer.externalid FROM consolidatedexchangerate cer JOIN accountingperiod ap ON ap.id = cer.postingperiod "
        "WHERE cer.fromcurrency = 2 AND cer.tocurrency = 1 ORDER BY cer.id",
    ) == [
        {
            "links": [],
            "id": rate_id,
            "postingperiod": JAN_2026,
            "periodname": "Jan 2026",
            "fromcurrency": "2",
            "tocurrency": "1",
            "averagerate": "1.1",
            "currentrate": "1.09",
            "historicalrate": "1.05",
            "externalid": "EUR-USD-2026-01",
        },
        {
            "links": [],
            "id": between,
            "postingperiod": JAN_2026,
            "periodname": "Jan 2026",
            "fromcurrency": "2",
            "tocurrency": "1",
            "fromsubsidiary": "3",
            "tosubsidiary": "1",
            "averagerate": "1.07",
            "currentrate": "1.09",
            "historicalrate": "1.05",
        },
    ]
    # A rate keeps its currencies from being deleted; deleting the rate itself works.
    assert_error(netsuite.call("DELETE", f"{RECORDS}/currency/2"), 400, "USER_ERROR")
    assert netsuite.call("DELETE", f"{RECORDS}/consolidatedExchangeRate/{between}").status_code == 204
    assert rows(netsuite, "SELECT COUNT(*) AS n FROM consolidatedexchangerate") == [{"links": [], "n": "1"}]


def test_bad_consolidated_exchange_rates_are_refused(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    def post(body: dict[str, Any]) -> Any:
        return netsuite.call("POST", f"{RECORDS}/consolidatedExchangeRate", body=body)

    first = netsuite.create("consolidatedExchangeRate", rate_body())
    duplicate = assert_error(post(rate_body(averageRate=1.2)), 400, "USER_ERROR", "postingPeriod")
    assert "already exists" in duplicate["detail"] and first in duplicate["detail"]
    for period, kind in ((Q1_2026, "a quarter"), (FY_2026, "a year")):
        refused = assert_error(post(rate_body(period)), 400, "INVALID_CONTENT", "postingPeriod")
        assert "postingPeriod" in refused["detail"] and kind in refused["detail"]
    missing = {k: v for k, v in rate_body().items() if k != "averageRate"}
    assert_error(post(missing | {"postingPeriod": {"id": "106"}}), 400, "USER_ERROR", "averageRate")
    assert_error(post(rate_body("106", currentRate=0)), 400, "USER_ERROR", "currentRate")
    assert_error(post(rate_body("106", toCurrency={"id": "2"})), 400, "USER_ERROR", "toCurrency")
    assert_error(post(rate_body("999999")), 400, "INVALID_CONTENT", "postingPeriod")
    # A PATCH onto another rate's key is a duplicate too.
    february = netsuite.create("consolidatedExchangeRate", rate_body("106"))
    moved = netsuite.call(
        "PATCH",
        f"{RECORDS}/consolidatedExchangeRate/{february}",
        body={"postingPeriod": {"id": JAN_2026}},
    )
    assert_error(moved, 400, "USER_ERROR", "postingPeriod")
    assert rows(netsuite, "SELECT id FROM consolidatedexchangerate ORDER BY id") == [
        {"links": [], "id": first},
        {"links": [], "id": february},
    ]


def test_seed_demo_adds_monthly_rates_around_the_sandbox_clock(
    netsuite: NetSuiteSandboxUnderTest, tmp_path: Path
) -> None:
    salesforce = start_sandbox(tmp_path / "salesforce")
    try:
        with (
            SandboxAdmin(salesforce.base_url, salesforce.settings.admin_key, salesforce.cert.ca_path) as sf,
            SandboxAdmin(netsuite.base_url, netsuite.settings.admin_key, netsuite.cert.ca_path) as ns,
        ):
            assert seed_demo(sf, ns).seeded
    finally:
        salesforce.server.stop()
    today = clock_today(netsuite)
    found = rows(
        netsuite,
        "SELECT c.symbol, COUNT(*) AS months, MIN(ap.startdate) AS first, MAX(ap.startdate) AS last "
        "FROM consolidatedexchangerate cer JOIN currency c ON c.id = cer.fromcurrency "
        "JOIN accountingperiod ap ON ap.id = cer.postingperiod "
        "WHERE cer.tocurrency = 1 AND ap.isposting = 'T' GROUP BY c.symbol ORDER BY c.symbol",
    )
    first, last = month_start(today, -12), month_start(today, 2)
    assert found == [
        {"links": [], "symbol": s, "months": "15", "first": ns_date(first), "last": ns_date(last)}
        for s in ("CAD", "EUR", "GBP")
    ]
    [this_month] = rows(
        netsuite,
        "SELECT cer.averagerate, cer.currentrate, cer.historicalrate FROM consolidatedexchangerate cer "
        "JOIN accountingperiod ap ON ap.id = cer.postingperiod WHERE cer.fromcurrency = 2 "
        f"AND ap.periodname = '{period_name(today)}'",
    )
    average, current = Decimal(this_month["averagerate"]), Decimal(this_month["currentrate"])
    assert this_month["historicalrate"] == "1.27"  # GBP's exchangeRate in the seed
    assert abs(average - Decimal("1.27")) <= Decimal("0.00635") and average != current
    assert len(exchange_rates(today)) == 45


# -- revenue recognition ---------------------------------------------------------------------------


def test_items_get_a_default_rule_and_a_service_line_is_spread_over_its_term(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    ns = netsuite
    support = service_item(ns)
    item = ns.get("serviceSaleItem", support)
    assert item["revenueRecognitionRule"]["refName"] == "Straight-line, by term"
    assert item["revRecTermInMonths"] == 12
    widget = ns.get("inventoryItem", netsuite_catalog.items["WID-100"])
    assert widget["revenueRecognitionRule"]["id"] == "1" and "revRecTermInMonths" not in widget
    licence = ns.create("nonInventorySaleItem", {"itemId": "LIC", "basePrice": 600.0})
    kit = ns.create(
        "itemGroup", {"itemId": "KIT", "member": {"items": [{"item": {"id": support}, "quantity": 1}]}}
    )
    assert rows(
        ns,
        "SELECT id, itemtype, revenuerecognitionrule, revrecterminmonths FROM item "
        f"WHERE id IN ({support}, {licence}, {kit}) ORDER BY id",
    ) == [
        {
            "links": [],
            "id": support,
            "itemtype": "Service",
            "revenuerecognitionrule": "2",
            "revrecterminmonths": "12",
        },
        {"links": [], "id": licence, "itemtype": "NonInvtPart", "revenuerecognitionrule": "1"},
        {"links": [], "id": kit, "itemtype": "Group"},
    ]

    start = month_start(clock_today(ns), 1)
    order_id = order(
        ns,
        netsuite_catalog,
        [{"item": {"id": support}, "quantity": 1, "rate": 1200.0, "revRecStartDate": start.isoformat()}],
    )
    [element] = rows(ns, f"SELECT * FROM revenueelement WHERE sourcetransaction = {order_id}")
    end = month_start(start, 12) - dt.timedelta(days=1)
    assert element == {
        "links": [],
        "id": str(int(order_id) * 1000 + 1),
        "sourcetransaction": order_id,
        "sourcetransactionline": "1",
        "item": support,
        "entity": netsuite_catalog.customer,
        "currency": "1",
        "salesamount": "1200",
        "revrecstartdate": ns_date(start),
        "revrecenddate": ns_date(end),
        "revenuerecognitionrule": "2",
    }
    [plan] = rows(ns, f"SELECT * FROM revenueplan WHERE createdfrom = {element['id']}")
    assert {k: plan[k] for k in ("amount", "recognitionmethod", "revenueplantype", "status")} == {
        "amount": "1200",
        "recognitionmethod": "STRAIGHT_LINE",
        "revenueplantype": "ACTUAL",
        "status": "NOTSTARTED",
    }
    assert plan["id"] != element["id"]  # a plan is a record of its own: join on createdfrom
    months = plan_months(ns, order_id)
    assert [(m["periodname"], m["amount"], m["isrecognized"]) for m in months] == [
        (period_name(month_start(start, k)), "100", "F") for k in range(12)
    ]

    # Three months later three months are recognised; after the last month, all of them.
    move_clock_to(ns, month_start(start, 3) + dt.timedelta(days=1))
    assert [m["isrecognized"] for m in plan_months(ns, order_id)] == ["T"] * 3 + ["F"] * 9
    assert rows(ns, f"SELECT status FROM revenueplan WHERE id = {plan['id']}")[0]["status"] == "INPROGRESS"
    move_clock_to(ns, month_start(start, 12))
    assert {m["isrecognized"] for m in plan_months(ns, order_id)} == {"T"}
    assert rows(ns, f"SELECT status FROM revenueplan WHERE id = {plan['id']}")[0]["status"] == "COMPLETED"


def test_a_goods_line_is_recognised_at_once(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    ns = netsuite
    today = clock_today(ns)
    last_month, next_month = month_start(today, -1), month_start(today, 1) + dt.timedelta(days=4)
    widget = netsuite_catalog.items["WID-100"]
    shipped = order(
        ns,
        netsuite_catalog,
        [{"item": {"id": widget}, "quantity": 3, "rate": 100.0}],
        tranDate=last_month.isoformat(),
    )
    future = order(
        ns,
        netsuite_catalog,
        [{"item": {"id": widget}, "quantity": 1, "rate": 100.0}],
        tranDate=next_month.isoformat(),
    )
    assert plan_months(ns, shipped) == [
        {
            "links": [],
            "line": "1",
            "periodname": period_name(last_month),
            "amount": "300",
            "isrecognized": "T",
        }
    ]
    assert plan_months(ns, future) == [
        {
            "links": [],
            "line": "1",
            "periodname": period_name(next_month),
            "amount": "100",
            "isrecognized": "F",
        }
    ]
    assert rows(
        ns,
        "SELECT e.revrecstartdate, e.revrecenddate, p.recognitionmethod, p.status FROM revenueelement e "
        f"JOIN revenueplan p ON p.createdfrom = e.id WHERE e.sourcetransaction IN ({shipped}, {future}) "
        "ORDER BY e.sourcetransaction",
    ) == [
        {
            "links": [],
            "revrecstartdate": ns_date(last_month),
            "revrecenddate": ns_date(last_month),
            "recognitionmethod": "IMMEDIATE",
            "status": "COMPLETED",
        },
        {
            "links": [],
            "revrecstartdate": ns_date(next_month),
            "revrecenddate": ns_date(next_month),
            "recognitionmethod": "IMMEDIATE",
            "status": "NOTSTARTED",
        },
    ]


def test_a_term_of_seven_months_adds_up_exactly_and_lines_override_start_and_term(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    ns = netsuite
    support = service_item(ns)
    order_id = order(
        ns,
        netsuite_catalog,
        [
            {
                "item": {"id": support},
                "amount": 1000.0,
                "revRecTermInMonths": 7,
                "revRecStartDate": "2026-03-31",
            },
            {"item": {"id": support}, "amount": 1200.0},  # the order's date, the item's 12 months
        ],
        tranDate="2026-01-05",
    )
    months = plan_months(ns, order_id)
    seven = [m for m in months if m["line"] == "1"]
    assert [(m["periodname"], m["amount"]) for m in seven] == [
        ("Mar 2026", "142.86"),
        ("Apr 2026", "142.85"),
        ("May 2026", "142.86"),
        ("Jun 2026", "142.86"),
        ("Jul 2026", "142.86"),
        ("Aug 2026", "142.85"),
        ("Sep 2026", "142.86"),
    ]
    assert sum(Decimal(m["amount"]) for m in seven) == Decimal("1000.00")
    twelve = [m for m in months if m["line"] == "2"]
    assert [m["periodname"] for m in twelve][::11] == ["Jan 2026", "Dec 2026"] and len(twelve) == 12
    assert rows(
        ns,
        "SELECT e.sourcetransactionline AS line, e.revrecstartdate, e.revrecenddate, SUM(pr.amount) AS total, "
        "COUNT(*) AS months FROM revenueelement e JOIN revenueplan p ON p.createdfrom = e.id "
        "JOIN revenueplanplannedrevenue pr ON pr.revenueplan = p.id "
        f"WHERE e.sourcetransaction = {order_id} GROUP BY e.sourcetransactionline, e.revrecstartdate, "
        "e.revrecenddate ORDER BY e.sourcetransactionline",
    ) == [
        {
            "links": [],
            "line": "1",
            "revrecstartdate": "3/31/2026",
            "revrecenddate": "10/30/2026",
            "total": "1000",
            "months": "7",
        },
        {
            "links": [],
            "line": "2",
            "revrecstartdate": "1/5/2026",
            "revrecenddate": "1/4/2027",
            "total": "1200",
            "months": "12",
        },
    ]
    # The views follow writes: a new term on the line, a new term on the item.
    patched = ns.call(
        "PATCH",
        f"{RECORDS}/salesOrder/{order_id}",
        body={"item": {"items": [{"line": 1, "revRecTermInMonths": 3}]}},
    )
    assert patched.status_code == 204, patched.text
    response = ns.call("PATCH", f"{RECORDS}/serviceSaleItem/{support}", body={"revRecTermInMonths": 24})
    assert response.status_code == 204, response.text
    counts = rows(
        ns,
        "SELECT e.sourcetransactionline AS line, COUNT(*) AS months, MIN(pr.amount) AS smallest "
        "FROM revenueplanplannedrevenue pr JOIN revenueplan p ON p.id = pr.revenueplan "
        f"JOIN revenueelement e ON e.id = p.createdfrom WHERE e.sourcetransaction = {order_id} "
        "GROUP BY e.sourcetransactionline ORDER BY e.sourcetransactionline",
    )
    assert [(c["line"], c["months"], c["smallest"]) for c in counts] == [
        ("1", "3", "333.33"),
        ("2", "24", "50"),
    ]
    bad = ns.call(
        "PATCH",
        f"{RECORDS}/salesOrder/{order_id}",
        body={"item": {"items": [{"line": 1, "revRecTermInMonths": 0}]}},
    )
    assert_error(bad, 400, "USER_ERROR", "item.items[0].revRecTermInMonths")


def test_closed_lines_cancelled_orders_and_items_without_a_rule_have_no_revenue(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    ns = netsuite
    support = service_item(ns)
    widget, gateway = netsuite_catalog.items["WID-100"], netsuite_catalog.items["GW-X1"]
    lines = [
        {"item": {"id": support}, "amount": 1200.0},
        {"item": {"id": widget}, "quantity": 2, "rate": 100.0},
        {"item": {"id": gateway}, "quantity": 1},
    ]
    order_id = order(ns, netsuite_catalog, lines, tranDate="2026-01-05")
    other = order(ns, netsuite_catalog, lines[:1], tranDate="2026-01-05")

    def element_lines(order_id: str) -> list[str]:
        found = rows(
            ns,
            f"SELECT sourcetransactionline AS line FROM revenueelement WHERE sourcetransaction = {order_id} "
            "ORDER BY sourcetransactionline",
        )
        return [r["line"] for r in found]

    assert element_lines(order_id) == ["1", "2", "3"]
    closed = ns.call(
        "PATCH", f"{RECORDS}/salesOrder/{order_id}", body={"item": {"items": [{"line": 1, "isClosed": True}]}}
    )
    assert closed.status_code == 204, closed.text
    assert element_lines(order_id) == ["2", "3"]
    assert {m["line"] for m in plan_months(ns, order_id)} == {"2", "3"}
    # An item without a rule (cleared here) has no revenue of its own.
    cleared = ns.call("PATCH", f"{RECORDS}/inventoryItem/{gateway}", body={"revenueRecognitionRule": None})
    assert cleared.status_code == 204, cleared.text
    assert element_lines(order_id) == ["2"]

    # The record API cannot cancel an order: one is written cancelled (status C) into the store directly.
    store = ns.server.app.state.netsuite.store
    cancelled = store.get("salesOrder", int(other))
    assert cancelled is not None
    store.put("salesOrder", int(other), {**cancelled, "status": "C"})
    assert element_lines(other) == [] and plan_months(ns, other) == []
    # A deleted order leaves nothing behind.
    assert ns.call("DELETE", f"{RECORDS}/salesOrder/{order_id}").status_code == 204
    assert rows(ns, "SELECT COUNT(*) AS n FROM revenueplanplannedrevenue") == [{"links": [], "n": "0"}]


def test_recognised_revenue_per_sales_order_through_a_date(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    ns = netsuite
    clock_at_least(ns, dt.date(2026, 12, 15))  # every month through November 2026 has closed
    support = service_item(ns)
    goods_and_service = order(
        ns,
        netsuite_catalog,
        [
            {"item": {"id": netsuite_catalog.items["WID-100"]}, "quantity": 5, "rate": 100.0},
            {"item": {"id": netsuite_catalog.items["GW-X1"]}, "quantity": 1},
            {"item": {"id": support}, "amount": 1200.0},
        ],
        tranDate="2026-01-05",
    )
    seven_months = order(
        ns,
        netsuite_catalog,
        [{"item": {"id": support}, "amount": 1000.0, "revRecTermInMonths": 7}],
        tranDate="2026-06-01",
    )
    order(ns, netsuite_catalog, [{"item": {"id": support}, "amount": 5000.0}], tranDate="2026-01-05")
    query = (
        "SELECT e.sourcetransaction AS so, SUM(pr.amount) AS recognised FROM revenueplanplannedrevenue pr "
        "JOIN revenueplan p ON p.id = pr.revenueplan JOIN revenueelement e ON e.id = p.createdfrom "
        "JOIN accountingperiod ap ON ap.id = pr.plannedperiod WHERE pr.isrecognized = 'T' "
        "AND ap.enddate <= TO_DATE('2026-11-30', 'YYYY-MM-DD') "
        f"AND e.sourcetransaction IN ({goods_and_service}, {seven_months}) GROUP BY e.sourcetransaction"
    )
    found = sorted(rows(ns, query), key=lambda r: int(r["so"]))
    # 500 + 1250 at once, 11 of 12 months of 1200; June to November, 6 of 7 months of 1000 (all but the
    # last 142.86).
    assert found == [
        {"links": [], "so": goods_and_service, "recognised": "2850"},
        {"links": [], "so": seven_months, "recognised": "857.14"},
    ]


@pytest.fixture
def big_store(tmp_path: Path) -> tuple[Store, SuiteQL]:
    """An account of 2,000 sales orders of three lines each (stored directly: no HTTP)."""
    store = Store(tmp_path / "big.db")
    service = RecordService(store)
    service.create(RECORD_TYPES["currency"], {"name": "US Dollar", "symbol": "USD"})
    service.create(RECORD_TYPES["subsidiary"], {"name": "US", "currency": {"id": "1"}})
    customer = service.create(RECORD_TYPES["customer"], {"companyName": "C", "subsidiary": {"id": "1"}})
    support = service.create(RECORD_TYPES["serviceSaleItem"], {"itemId": "SUP", "basePrice": 1.0})
    widget = service.create(RECORD_TYPES["inventoryItem"], {"itemId": "WID", "basePrice": 1.0})
    with store.transaction():
        for order_id in range(100, 2100):
            lines = [
                {"line": n, "item": str(support if n % 2 else widget), "quantity": 1.0, "amount": 120.0 * n}
                for n in range(1, 4)
            ]
            body = {"entity": str(customer), "tranDate": "2026-02-10", "status": "B", "item": lines}
            store.put("salesOrder", order_id, body)
    return store, SuiteQL(store, service.ctx.now)


def test_revenue_by_order_ids_is_found_by_key_not_by_reading_every_order(
    big_store: tuple[Store, SuiteQL],
) -> None:
    store, suiteql = big_store
    ids = ", ".join(str(i) for i in range(1000, 1500))
    query = (
        "SELECT e.sourcetransaction AS so, SUM(pr.amount) AS recognised FROM revenueplanplannedrevenue pr "
        "JOIN revenueplan p ON p.id = pr.revenueplan JOIN revenueelement e ON e.id = p.createdfrom "
        "JOIN accountingperiod ap ON ap.id = pr.plannedperiod WHERE pr.isrecognized = 'T' "
        f"AND ap.enddate <= TO_DATE('2026-11-30', 'YYYY-MM-DD') AND e.sourcetransaction IN ({ids}) "
        "GROUP BY e.sourcetransaction"
    )
    _, plan = store.query("EXPLAIN QUERY PLAN " + suiteql.prepare(query).sql)
    steps = [str(row[3]) for row in plan]
    # Every record is reached through a key (SEARCH); only the line lists of those orders are scanned.
    scans = [s for s in steps if s.startswith("SCAN")]
    assert scans and all(s.startswith(("SCAN l ", "SCAN mo ")) for s in scans), steps
    assert any("ns_order_line_order" in s for s in steps), steps
    result = suiteql.run(query, 1000, 0, "https://sandbox")
    assert result["totalResults"] == 500
