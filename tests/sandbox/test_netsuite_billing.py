"""The NetSuite sandbox's billing behaviour, clock, credit holds, fault injection and latency, over real HTTPS."""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from q2c_sandbox.netsuite.app import NetSuiteSandboxSettings
from q2c_sandbox.tls import ensure_server_cert
from tests.sandbox import test_netsuite_sandbox as base
from tests.sandbox.test_netsuite_sandbox import (
    CURRENCIES,
    RECORDS,
    SUBSIDIARIES,
    Catalog,
    NetSuiteSandboxUnderTest,
    _start,
    assert_error,
    order_body,
    wait_for,
)

# The sandbox fixtures of the base module, made visible here (pytest finds fixtures by module attribute).
netsuite_settings = base.netsuite_settings
netsuite = base.netsuite
netsuite_catalog = base.netsuite_catalog

# -- helpers ---------------------------------------------------------------------------------------


def clock_today(ns: NetSuiteSandboxUnderTest) -> dt.date:
    return dt.date.fromisoformat(ns.admin("GET", "/clock").json()["today"])


def advance(ns: NetSuiteSandboxUnderTest, **by: float) -> None:
    response = ns.admin("PUT", "/clock", by)
    assert response.status_code == 200, response.text


def set_preferences(ns: NetSuiteSandboxUnderTest, **prefs: Any) -> None:
    response = ns.admin("PUT", "/preferences", prefs)
    assert response.status_code == 200, response.text


def bill(ns: NetSuiteSandboxUnderTest, catalog: Catalog, external_id: str, **extra: Any) -> tuple[str, str]:
    """A sales order dated today (sandbox clock) for 1750, billed whole: (order id, invoice id)."""
    today = clock_today(ns).isoformat()
    order_id = ns.create("salesOrder", order_body(catalog, externalId=external_id, tranDate=today, **extra))
    response = ns.call(
        "POST", f"{RECORDS}/salesOrder/{order_id}/!transform/invoice", body={"tranDate": today}
    )
    assert response.status_code == 204, response.text
    return order_id, response.headers["Location"].rsplit("/", 1)[-1]


def pay(ns: NetSuiteSandboxUnderTest, customer: str, invoice_id: str, amount: float) -> str:
    return ns.create(
        "customerPayment",
        {
            "customer": {"id": customer},
            "payment": amount,
            "apply": {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": amount}]},
        },
    )


def rows(ns: NetSuiteSandboxUnderTest, query: str, **params: Any) -> list[dict[str, Any]]:
    response = ns.suiteql(query, **params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def new_order(ns: NetSuiteSandboxUnderTest, catalog: Catalog, external_id: str) -> httpx.Response:
    return ns.call("POST", f"{RECORDS}/salesOrder", body=order_body(catalog, externalId=external_id))


# -- the clock -------------------------------------------------------------------------------------


def test_moving_the_clock_makes_an_invoice_overdue_without_modifying_anything(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    ns, customer = netsuite, netsuite_catalog.customer
    today = clock_today(ns)
    _, invoice_id = bill(ns, netsuite_catalog, "OPP-1")
    invoice = ns.get("invoice", invoice_id)
    assert invoice["dueDate"] == (today + dt.timedelta(days=30)).isoformat()  # Net 30
    assert invoice["daysOverdue"] == 0
    before = ns.get("customer", customer)
    assert before["balance"] == 1750 and before["overdueBalance"] == 0 and before["daysOverdue"] == 0

    advance(ns, advance_days=31)

    invoice_after = ns.get("invoice", invoice_id)
    assert invoice_after["daysOverdue"] == 1
    assert invoice_after["lastModifiedDate"] == invoice["lastModifiedDate"]  # time passing is no edit
    after = ns.get("customer", customer)
    assert after["overdueBalance"] == 1750 and after["daysOverdue"] == 1 and after["balance"] == 1750
    assert after["lastModifiedDate"] == before["lastModifiedDate"]

    [row] = rows(ns, f"SELECT daysoverduesearch, lastmodifieddate FROM transaction WHERE id = {invoice_id}")
    assert row["daysoverduesearch"] == "1"
    [cust] = rows(
        ns,
        "SELECT overduebalancesearch, daysoverduesearch, TO_CHAR(SYSDATE, 'YYYY-MM-DD') AS today "
        f"FROM customer WHERE id = {customer}",
    )
    assert cust == {
        "links": [],
        "overduebalancesearch": "1750",
        "daysoverduesearch": "1",
        "today": (today + dt.timedelta(days=31)).isoformat(),
    }
    # A new transaction is dated by the sandbox clock.
    order_id = ns.create("salesOrder", {**order_body(netsuite_catalog, externalId="OPP-2"), "tranDate": None})
    assert ns.get("salesOrder", order_id)["tranDate"] == (today + dt.timedelta(days=31)).isoformat()


def test_the_clock_only_moves_forward(netsuite: NetSuiteSandboxUnderTest) -> None:
    start = netsuite.admin("GET", "/clock").json()
    target = "2099-12-24T09:00:00Z"
    moved = netsuite.admin("PUT", "/clock", {"now": target})
    assert moved.status_code == 200, moved.text
    assert moved.json()["today"] == "2099-12-24"
    back = netsuite.admin("PUT", "/clock", {"now": start["now"]})
    assert back.status_code == 400 and "forward" in back.json()["message"]
    assert netsuite.admin("PUT", "/clock", {"advance_days": -1}).status_code == 400
    assert netsuite.admin("PUT", "/clock", {"advance_weeks": 1}).status_code == 400
    assert (
        netsuite.admin("PUT", "/clock", {"advance_seconds": 3600}).json()["now"].startswith("2099-12-24T10")
    )
    # The signature check keeps real time: API calls still authenticate after the jump.
    assert netsuite.call("GET", f"{RECORDS}/customer").status_code == 200


def test_clock_and_preferences_survive_a_restart(
    tmp_path: Path, netsuite_settings: NetSuiteSandboxSettings
) -> None:
    cert = ensure_server_cert(tmp_path / "tls")

    def admin(method: str, path: str, body: Any = None) -> httpx.Response:
        server = _start(netsuite_settings, cert)
        try:
            with httpx.Client(verify=str(cert.ca_path)) as http:
                sandbox = NetSuiteSandboxUnderTest(netsuite_settings, server, cert, http)
                return sandbox.admin(method, path, body)
        finally:
            server.stop()

    assert admin("PUT", "/clock", {"now": "2099-03-01T00:00:00Z"}).status_code == 200
    assert admin("PUT", "/preferences", {"credit_hold_days_overdue": 45}).status_code == 200
    assert admin("GET", "/clock").json()["today"] == "2099-03-01"
    assert admin("GET", "/preferences").json() == {
        "credit_hold_days_overdue": 45,
        "credit_limit_handling": "ENFORCE_HOLDS",
    }


# -- payments and credit memos ---------------------------------------------------------------------


def test_a_partial_payment_leaves_the_invoice_open_and_touches_it(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    ns, customer = netsuite, netsuite_catalog.customer
    _, invoice_id = bill(ns, netsuite_catalog, "OPP-1")
    created = ns.get("invoice", invoice_id)["lastModifiedDate"]
    advance(ns, advance_seconds=120)  # stamps have one-second resolution

    pay(ns, customer, invoice_id, 500)
    invoice = ns.get("invoice", invoice_id)
    assert invoice["amountRemaining"] == 1250 and invoice["amountPaid"] == 500
    assert invoice["status"] == {"id": "A", "refName": "Open"}
    assert invoice["lastModifiedDate"] > created  # a payment applied to it is an edit of the invoice
    assert ns.get("customer", customer)["balance"] == 1250

    over = ns.call(
        "POST",
        f"{RECORDS}/customerPayment",
        body={
            "customer": {"id": customer},
            "payment": 2000,
            "apply": {"items": [{"doc": {"id": invoice_id}, "amount": 2000}]},
        },
    )
    detail = assert_error(over, 400, "USER_ERROR", "apply.items[0].amount")
    assert "1250" in detail["detail"] and "INV1001" in detail["detail"]

    pay(ns, customer, invoice_id, 1250)
    paid = ns.get("invoice", invoice_id)
    assert paid["amountRemaining"] == 0 and paid["status"] == {"id": "B", "refName": "Paid In Full"}
    assert ns.get("customer", customer)["balance"] == 0


def test_credit_memos_reduce_what_an_invoice_still_owes(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    ns, customer = netsuite, netsuite_catalog.customer
    _, invoice_id = bill(ns, netsuite_catalog, "OPP-1")
    memo_id = ns.create(
        "creditMemo",
        {
            "entity": {"id": customer},
            "item": {"items": [{"item": {"id": netsuite_catalog.items["WID-100"]}, "rate": 100.0}]},
            "apply": {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": 100}]},
        },
    )
    memo = ns.get("creditMemo", memo_id, expandSubResources="true")
    assert memo["tranId"] == "CM1001" and memo["total"] == 100
    assert memo["applied"] == 100 and memo["unapplied"] == 0 and memo["amountRemaining"] == 0
    assert memo["status"] == {"id": "B", "refName": "Fully Applied"}
    assert memo["apply"]["items"][0]["doc"]["refName"] == "Invoice #INV1001"
    assert ns.get("invoice", invoice_id)["amountRemaining"] == 1650
    assert ns.get("customer", customer)["balance"] == 1650

    # Crediting the invoice itself: its lines, applied to it up to what it still owes.
    response = ns.call("POST", f"{RECORDS}/invoice/{invoice_id}/!transform/creditMemo", body={})
    assert response.status_code == 204, response.text
    full_id = response.headers["Location"].rsplit("/", 1)[-1]
    full = ns.get("creditMemo", full_id)
    assert full["createdFrom"]["id"] == invoice_id and full["total"] == 1750
    assert full["applied"] == 1650 and full["unapplied"] == 100
    assert full["status"] == {"id": "A", "refName": "Open"}
    invoice = ns.get("invoice", invoice_id)
    assert invoice["amountRemaining"] == 0 and invoice["status"]["refName"] == "Paid In Full"
    assert ns.get("customer", customer)["balance"] == -100  # the unapplied credit is owed to the customer

    memos = rows(
        ns,
        "SELECT id, tranid, foreigntotal, foreignamountremaining, status FROM transaction "
        "WHERE type = 'CustCred' ORDER BY id",
    )
    assert [(r["tranid"], r["foreigntotal"], r["foreignamountremaining"]) for r in memos] == [
        ("CM1001", "100", "0"),
        ("CM1002", "1750", "100"),
    ]
    links = rows(
        ns,
        "SELECT previousdoc, previoustype, nextdoc, nexttype, linktype, foreignamount "
        f"FROM NextTransactionLineLink WHERE previousdoc = {invoice_id} ORDER BY nextdoc",
    )
    assert [(r["nextdoc"], r["nexttype"], r["linktype"], r["foreignamount"]) for r in links] == [
        (memo_id, "CustCred", "Payment", "100"),
        (full_id, "CustCred", "Payment", "1650"),
    ]
    too_much = ns.call(
        "POST",
        f"{RECORDS}/creditMemo",
        body={
            "entity": {"id": customer},
            "item": {"items": [{"item": {"id": netsuite_catalog.items["WID-100"]}, "rate": 10.0}]},
            "apply": {"items": [{"doc": {"id": invoice_id}, "amount": 10}]},
        },
    )
    assert_error(too_much, 400, "USER_ERROR", "apply.items[0].amount")


# -- credit holds ----------------------------------------------------------------------------------


def test_an_auto_customer_goes_on_hold_past_the_days_overdue_threshold(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    ns, customer = netsuite, netsuite_catalog.customer
    assert ns.admin("GET", "/preferences").json() == {
        "credit_hold_days_overdue": 30,
        "credit_limit_handling": "ENFORCE_HOLDS",
    }
    bill(ns, netsuite_catalog, "OPP-1")
    advance(ns, advance_days=30 + 30)  # due after 30 days, so 30 days overdue: not more than 30
    assert new_order(ns, netsuite_catalog, "OPP-2").status_code == 204

    advance(ns, advance_days=1)  # 31 days overdue
    detail = assert_error(new_order(ns, netsuite_catalog, "OPP-3"), 400, "USER_ERROR", "entity")
    assert detail["detail"].startswith("Customer is on credit hold.")
    assert "Globex Corporation" in detail["detail"] and customer in detail["detail"]
    assert "INV1001 is 31 days overdue" in detail["detail"]
    # Upserting a new order is creating one; updating an existing order is not refused.
    upsert = ns.call(
        "PUT", f"{RECORDS}/salesOrder/eid:OPP-4", body=order_body(netsuite_catalog, externalId="OPP-4")
    )
    assert_error(upsert, 400, "USER_ERROR", "entity")
    assert ns.call("PATCH", f"{RECORDS}/salesOrder/eid:OPP-2", body={"memo": "edited"}).status_code == 204

    set_preferences(ns, credit_limit_handling="WARN")
    assert new_order(ns, netsuite_catalog, "OPP-5").status_code == 204
    set_preferences(ns, credit_limit_handling="IGNORE")
    assert new_order(ns, netsuite_catalog, "OPP-6").status_code == 204
    set_preferences(ns, credit_limit_handling="ENFORCE_HOLDS", credit_hold_days_overdue=40)
    assert new_order(ns, netsuite_catalog, "OPP-7").status_code == 204
    set_preferences(ns, credit_hold_days_overdue=10)
    assert new_order(ns, netsuite_catalog, "OPP-8").status_code == 400
    # OFF: never on hold.
    assert (
        ns.call("PATCH", f"{RECORDS}/customer/{customer}", body={"creditHoldOverride": "OFF"}).status_code
        == 204
    )
    assert new_order(ns, netsuite_catalog, "OPP-9").status_code == 204

    bad = ns.admin("PUT", "/preferences", {"credit_limit_handling": "SOMETIMES"})
    assert bad.status_code == 400 and "ENFORCE_HOLDS" in bad.json()["message"]
    assert ns.admin("PUT", "/preferences", {"credit_hold_days_overdue": -1}).status_code == 400


def test_an_auto_customer_goes_on_hold_over_its_credit_limit(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    ns, customer = netsuite, netsuite_catalog.customer
    ns.call("PATCH", f"{RECORDS}/customer/{customer}", body={"creditLimit": 1000})
    _, invoice_id = bill(ns, netsuite_catalog, "OPP-1")  # balance 0 when ordered; 1750 once billed
    detail = assert_error(new_order(ns, netsuite_catalog, "OPP-2"), 400, "USER_ERROR", "entity")
    assert "balance 1750.0 exceeds its credit limit 1000.0" in detail["detail"]

    [row] = rows(
        ns,
        "SELECT creditlimit, creditholdoverride, balancesearch, overduebalancesearch, daysoverduesearch "
        f"FROM customer WHERE id = {customer}",
    )
    assert row == {
        "links": [],
        "creditlimit": "1000",
        "creditholdoverride": "AUTO",
        "balancesearch": "1750",
        "overduebalancesearch": "0",
        "daysoverduesearch": "0",
    }
    pay(ns, customer, invoice_id, 1000)  # balance 750: under the limit again
    assert new_order(ns, netsuite_catalog, "OPP-3").status_code == 204


def test_credit_hold_on_refuses_and_off_allows_regardless_of_balance(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    ns, customer = netsuite, netsuite_catalog.customer
    ns.call("PATCH", f"{RECORDS}/customer/{customer}", body={"creditHoldOverride": {"id": "ON"}})
    detail = assert_error(new_order(ns, netsuite_catalog, "OPP-1"), 400, "USER_ERROR", "entity")
    assert "set to On" in detail["detail"]
    assert ns.get("customer", customer)["creditHoldOverride"] == {"id": "ON", "refName": "On"}
    # Fixtures describe history: the admin load is not refused by a hold.
    loaded = ns.load({"salesOrder": [order_body(netsuite_catalog, externalId="HISTORIC-1")]})
    assert len(loaded["salesOrder"]) == 1

    ns.call("PATCH", f"{RECORDS}/customer/{customer}", body={"creditHoldOverride": "OFF", "creditLimit": 1})
    bill(ns, netsuite_catalog, "OPP-2")
    assert new_order(ns, netsuite_catalog, "OPP-3").status_code == 204  # balance 1750 > limit 1, but OFF


# -- SuiteQL billing columns -----------------------------------------------------------------------


def test_suiteql_reads_invoices_their_orders_and_payments(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    ns, customer = netsuite, netsuite_catalog.customer
    today = clock_today(ns)
    order_id, invoice_id = bill(ns, netsuite_catalog, "OPP-1")
    payment_id = pay(ns, customer, invoice_id, 750)

    [invoice] = rows(
        ns,
        "SELECT t.id, t.tranid, t.type, t.entity, t.trandate, t.duedate, t.status, t.foreigntotal, "
        "t.foreignamountremaining, t.foreignamountunpaid, t.foreignamountpaid, t.daysoverduesearch, "
        "t.currency, t.subsidiary, t.externalid, TO_CHAR(t.duedate, 'YYYY-MM-DD') AS due "
        "FROM transaction t WHERE t.type = 'CustInvc'",
    )
    due = today + dt.timedelta(days=30)
    assert invoice == {
        "links": [],
        "id": invoice_id,
        "tranid": "INV1001",
        "type": "CustInvc",
        "entity": customer,
        "trandate": f"{today.month}/{today.day}/{today.year}",
        "duedate": f"{due.month}/{due.day}/{due.year}",
        "status": "A",
        "foreigntotal": "1750",
        "foreignamountremaining": "1000",
        "foreignamountunpaid": "1000",
        "foreignamountpaid": "750",
        "daysoverduesearch": "0",
        "currency": "1",
        "subsidiary": "1",
        "due": due.isoformat(),
    }
    lines = rows(
        ns,
        f"SELECT tl.createdfrom, tl.item FROM transactionline tl WHERE tl.transaction = {invoice_id} "
        "ORDER BY tl.linesequencenumber",
    )
    assert [r["createdfrom"] for r in lines] == [order_id, order_id]
    billed = rows(
        ns,
        "SELECT l.previousdoc, l.previousline, l.nextdoc, l.nextline, l.previoustype, l.nexttype, l.linktype "
        f"FROM NextTransactionLineLink l WHERE l.previousdoc = {order_id} ORDER BY l.nextline",
    )
    assert [(r["nextdoc"], r["previousline"], r["nextline"], r["linktype"]) for r in billed] == [
        (invoice_id, "1", "1", "OrdBill"),
        (invoice_id, "2", "2", "OrdBill"),
    ]
    assert {(r["previoustype"], r["nexttype"]) for r in billed} == {("SalesOrd", "CustInvc")}
    # The invoices of an order and the payments applied to them, read back from the invoice's side.
    payments = rows(
        ns,
        "SELECT p.previousdoc, p.nextdoc, p.foreignamount FROM PreviousTransactionLineLink p "
        f"WHERE p.previousdoc = {invoice_id} AND p.nexttype = 'CustPymt'",
    )
    assert payments == [
        {"links": [], "previousdoc": invoice_id, "nextdoc": payment_id, "foreignamount": "750"}
    ]
    [cust] = rows(ns, f"SELECT unbilledorderssearch, balancesearch FROM customer WHERE id = {customer}")
    assert cust["balancesearch"] == "1000" and cust["unbilledorderssearch"] == "0"  # the order is billed


def test_suiteql_reads_changes_since_a_watermark_page_by_page(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    ns = netsuite
    advance(ns, advance_seconds=60)
    stamps = []
    for n in range(5):
        advance(ns, advance_seconds=60)
        customer_id = ns.create("customer", {"companyName": f"Changed {n}", "subsidiary": {"id": "1"}})
        stamps.append((ns.get("customer", customer_id)["lastModifiedDate"], customer_id))
    # Touch the first one again: it moves to the end of the change order.
    advance(ns, advance_seconds=60)
    ns.call("PATCH", f"{RECORDS}/customer/{stamps[0][1]}", body={"phone": "555-0100"})
    first_touch = ns.get("customer", stamps[0][1])["lastModifiedDate"]

    watermark = dt.datetime.fromisoformat(stamps[1][0].replace("Z", "+00:00")).strftime("%Y-%m-%d %H:%M:%S")
    query = (
        "SELECT id, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS modified, lastmodifieddate "
        f"FROM customer WHERE lastmodifieddate > TO_DATE('{watermark}', 'YYYY-MM-DD HH24:MI:SS') "
        "ORDER BY lastmodifieddate, id"
    )
    first = ns.suiteql(query, limit=2, offset=0).json()
    second = ns.suiteql(query, limit=2, offset=2).json()
    assert first["totalResults"] == 4 and first["hasMore"] is True and second["hasMore"] is False
    seen = [r["id"] for r in first["items"] + second["items"]]
    assert seen == [stamps[2][1], stamps[3][1], stamps[4][1], stamps[0][1]]
    assert second["items"][-1]["modified"] == first_touch.replace("T", " ").rstrip("Z")
    assert "/" in first["items"][0]["lastmodifieddate"]  # raw datetimes come back as dates (M/D/YYYY)


# -- faults ----------------------------------------------------------------------------------------


def put_faults(ns: NetSuiteSandboxUnderTest, rules: list[dict[str, Any]], seed: int | None = None) -> None:
    response = ns.admin("PUT", "/faults", {"rules": rules, "seed": seed})
    assert response.status_code == 200, response.text


def test_a_fault_rate_injects_about_that_share_deterministically(netsuite: NetSuiteSandboxUnderTest) -> None:
    put_faults(netsuite, [{"kind": "server_error", "rate": 0.3, "path": "record/v1/customer"}], seed=7)
    url = f"{netsuite.base_url}{RECORDS}/customer"
    # Unsigned calls: an injected fault answers 500 before authentication, the others are refused 401.
    statuses = [netsuite.http.get(url).status_code for _ in range(400)]
    faulted = statuses.count(500)
    assert statuses.count(401) == 400 - faulted
    assert 90 <= faulted <= 150  # 120 expected; a broken rate (0, 1, or ignoring it) falls far outside
    assert faulted == 134  # what seed 7 draws: the plan is deterministic
    [rule] = netsuite.admin("GET", "/faults").json()["rules"]
    assert rule["injected"] == faulted


def test_next_n_faults_exactly_the_next_n_matching_calls(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    put_faults(netsuite, [{"kind": "rate_limited", "next": 3, "retry_after": 2}])
    responses = [netsuite.call("GET", f"{RECORDS}/customer/{netsuite_catalog.customer}") for _ in range(5)]
    assert [r.status_code for r in responses] == [429, 429, 429, 200, 200]
    detail = assert_error(responses[0], 429, "CONCURRENCY_LIMIT_EXCEEDED")
    assert detail["detail"] == "Concurrent request limit exceeded. Request blocked."
    assert responses[0].headers["Retry-After"] == "2"
    [rule] = netsuite.admin("GET", "/faults").json()["rules"]
    assert rule["injected"] == 3 and rule["remaining"] == 0
    log = netsuite.admin("GET", "/requests").json()
    assert log["counts"]["GET (injected rate_limited)"] == 3


def test_faults_match_method_and_path_and_use_netsuite_bodies(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    ns = netsuite
    order_id = ns.create("salesOrder", order_body(netsuite_catalog))
    put_faults(
        ns,
        [
            {"kind": "locked", "method": "PATCH", "path": "/salesOrder/"},
            {"kind": "unavailable", "path": "suiteql", "retry_after": 5},
        ],
    )
    assert ns.call("GET", f"{RECORDS}/salesOrder/{order_id}").status_code == 200
    customer_patch = ns.call("PATCH", f"{RECORDS}/customer/{netsuite_catalog.customer}", body={"phone": "1"})
    assert customer_patch.status_code == 204
    locked = ns.call("PATCH", f"{RECORDS}/salesOrder/{order_id}", body={"memo": "x"})
    detail = assert_error(locked, 400, "RCRD_LOCKED_BY_WF")
    assert "locked" in detail["detail"]
    assert ns.get("salesOrder", order_id)["memo"] == "from Salesforce"  # the write never happened
    unavailable = ns.suiteql("SELECT id FROM customer")
    assert_error(unavailable, 503, "SERVICE_UNAVAILABLE")
    assert unavailable.headers["Retry-After"] == "5"
    # The admin API is never faulted.
    put_faults(ns, [{"kind": "server_error"}])
    assert ns.admin("GET", "/stats").status_code == 200
    assert_error(ns.call("GET", f"{RECORDS}/customer"), 500, "UNEXPECTED_ERROR")
    cleared = ns.admin("DELETE", "/faults")
    assert cleared.json() == {"rules": []}
    assert ns.call("GET", f"{RECORDS}/customer").status_code == 200


def test_timeout_and_drop_faults_break_the_connection(netsuite: NetSuiteSandboxUnderTest) -> None:
    put_faults(
        netsuite, [{"kind": "timeout", "next": 1, "timeout_seconds": 1.0}, {"kind": "drop", "next": 1}]
    )
    url, headers, _ = netsuite.signed("GET", f"{RECORDS}/customer")
    with httpx.Client(verify=str(netsuite.cert.ca_path), timeout=0.2) as impatient:
        with pytest.raises(httpx.ReadTimeout):
            impatient.get(url, headers=headers)
    url, headers, _ = netsuite.signed("GET", f"{RECORDS}/customer")
    with pytest.raises(httpx.RemoteProtocolError):
        netsuite.http.get(url, headers=headers)
    rules = netsuite.admin("GET", "/faults").json()["rules"]
    assert [(r["kind"], r["injected"]) for r in rules] == [("timeout", 1), ("drop", 1)]


# -- latency ---------------------------------------------------------------------------------------


def test_latency_delays_each_call(netsuite: NetSuiteSandboxUnderTest) -> None:
    configured = netsuite.admin("PUT", "/latency", {"fixed_seconds": 0.2, "jitter_seconds": 0.05, "seed": 3})
    assert configured.json() == {"fixed_seconds": 0.2, "jitter_seconds": 0.05}
    url, headers, _ = netsuite.signed("GET", f"{RECORDS}/customer")
    began = time.monotonic()
    assert netsuite.http.get(url, headers=headers).status_code == 200
    assert time.monotonic() - began >= 0.2
    # The older body still works and means a fixed latency.
    assert netsuite.admin("PUT", "/latency", {"seconds": 0}).json() == {
        "fixed_seconds": 0.0,
        "jitter_seconds": 0.0,
    }
    assert netsuite.admin("GET", "/stats").json()["latency_seconds"] == 0.0


def test_latency_is_spent_inside_the_concurrency_slot(netsuite: NetSuiteSandboxUnderTest) -> None:
    assert netsuite.admin("PUT", "/concurrency", {"limit": 1}).status_code == 200
    assert netsuite.admin("PUT", "/latency", {"fixed_seconds": 0.5}).status_code == 200
    start = threading.Barrier(2)

    def one(_: int) -> int:
        url, headers, _content = netsuite.signed("GET", f"{RECORDS}/customer")
        start.wait()
        return netsuite.http.get(url, headers=headers).status_code

    with ThreadPoolExecutor(2) as pool:
        statuses = sorted(pool.map(one, range(2)))
    assert statuses == [200, 429]
    wait_for(lambda: netsuite.admin("GET", "/stats").json()["in_flight"] == 0)


def test_reset_clears_the_clock_preferences_and_faults(netsuite: NetSuiteSandboxUnderTest) -> None:
    before = clock_today(netsuite)
    advance(netsuite, advance_days=400)
    set_preferences(netsuite, credit_limit_handling="IGNORE")
    put_faults(netsuite, [{"kind": "server_error", "path": "nothing-matches"}])
    assert netsuite.admin("POST", "/reset").status_code == 200
    assert clock_today(netsuite) - before < dt.timedelta(days=2)
    assert netsuite.admin("GET", "/preferences").json()["credit_limit_handling"] == "ENFORCE_HOLDS"
    assert netsuite.admin("GET", "/faults").json() == {"rules": []}
    # Loading fixtures after a reset works as before.
    netsuite.load({"currency": CURRENCIES, "subsidiary": SUBSIDIARIES})


def test_closed_order_lines_are_not_billed_and_closing_every_line_closes_the_order(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    ns = netsuite
    order_id = ns.create("salesOrder", order_body(netsuite_catalog))
    path = f"{RECORDS}/salesOrder/{order_id}"
    assert (
        ns.call("PATCH", path, body={"item": {"items": [{"line": 1, "isClosed": True}]}}).status_code == 204
    )
    assert ns.get("salesOrder", order_id)["status"]["refName"] == "Pending Fulfillment"
    response = ns.call("POST", f"{path}/!transform/invoice", body={})
    assert response.status_code == 204, response.text
    invoice_id = response.headers["Location"].rsplit("/", 1)[-1]
    invoice = ns.get("invoice", invoice_id, expandSubResources="true")
    assert invoice["total"] == 1250  # only the open gateway line
    assert [(line["line"], line["orderLine"]) for line in invoice["item"]["items"]] == [(1, 2)]
    [link] = rows(
        ns, f"SELECT previousline, nextline FROM NextTransactionLineLink WHERE nextdoc = {invoice_id}"
    )
    assert (link["previousline"], link["nextline"]) == ("2", "1")
    [line] = rows(ns, f"SELECT isclosed FROM transactionline WHERE transaction = {order_id} AND id = 1")
    assert line["isclosed"] == "T"

    other = ns.create("salesOrder", order_body(netsuite_catalog, externalId="OPP-2"))
    closing = {"item": {"items": [{"line": 1, "isClosed": True}, {"line": 2, "isClosed": True}]}}
    assert ns.call("PATCH", f"{RECORDS}/salesOrder/{other}", body=closing).status_code == 204
    assert ns.get("salesOrder", other)["status"] == {"id": "H", "refName": "Closed"}
    assert_error(
        ns.call("POST", f"{RECORDS}/salesOrder/{other}/!transform/invoice", body={}), 400, "USER_ERROR"
    )
    [cust] = rows(ns, f"SELECT unbilledorderssearch FROM customer WHERE id = {netsuite_catalog.customer}")
    assert cust["unbilledorderssearch"] == "0"  # one order billed, the other closed
