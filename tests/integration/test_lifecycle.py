"""From sales order to cash: invoices, payments, credit holds, reopened deals, retries in bulk."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from devtools.temporal_server import venv_binary
from q2c.config import Settings
from q2c.connectors.netsuite import NetSuiteClient
from q2c.domain.messages import DealClosed, DealReopened, OrderStatus
from q2c.domain.order import OrderStage
from temporal_client.orders import (
    ORDER_CREATED,
    approve_credit,
    deal_closed,
    deal_reopened,
    order_status,
    retry_order,
    wait_until_settled,
)
from temporal_client.schedules import poll_once
from tests.conftest import Sandboxes, until
from tests.factories import Catalog, bill, make_deal, pay, records_with, set_stage
from tests.replay.recording import record_history
from workflows import names

pytestmark = pytest.mark.usefixtures("worker")


def _salesforce_writes(sandboxes: Sandboxes) -> int:
    counts = sandboxes.sf_admin.requests()["counts"]
    return sum(n for endpoint, n in counts.items() if endpoint.startswith(("PATCH", "POST", "DELETE")))


def _writes_about(sandboxes: Sandboxes, *ids: str) -> int:
    """Salesforce writes whose URL names one of ``ids`` (other tests' orders share the sandbox)."""
    return sum(
        1
        for r in sandboxes.sf_admin.requests()["recent"]
        if r["method"] in ("PATCH", "POST", "DELETE") and any(i in r["path"] for i in ids)
    )


def _paid(client: Client, opportunity_id: str, amount: float) -> Callable[[], Any]:
    """A check for ``_until``: the order's status once it shows ``amount`` paid."""

    async def check() -> OrderStatus | None:
        status = await order_status(client, opportunity_id)
        return status if status.paid == amount else None

    return check


async def _ordered(client: Client, settings: Settings, opportunity_id: str) -> Any:
    await deal_closed(client, settings, DealClosed(opportunity_id=opportunity_id, source="cli"))
    status = await wait_until_settled(client, opportunity_id, 60)
    assert status.stage in ORDER_CREATED, status.attention_reason
    return status


async def test_invoices_and_payments_reach_salesforce_until_paid(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog, netsuite: NetSuiteClient
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog, lines=[("WID-100", 5)])  # 600.00
    await _ordered(client, settings, deal.opportunity_id)
    status = await wait_until_settled(client, deal.opportunity_id, 30, stages={OrderStage.AWAITING_INVOICE})

    invoice_id = await bill(netsuite, status.sales_order_id or "")
    polled = await poll_once(client, settings)
    assert polled.orders_signalled >= 1
    assert polled.watermark and "T" in polled.watermark  # NetSuite time to the second, not a date
    status = await wait_until_settled(client, deal.opportunity_id, 30, stages={OrderStage.AWAITING_PAYMENT})
    [invoice] = await until(
        lambda: records_with(sandboxes.sf_admin, "NetSuite_Invoice__c", NetSuite_Invoice_ID__c=invoice_id),
        "invoice in Salesforce",
    )
    assert invoice["Opportunity__c"] == deal.opportunity_id and invoice["Account__c"] == deal.account_id
    assert (invoice["Amount__c"], invoice["Amount_Due__c"], invoice["Status__c"]) == (600.0, 600.0, "Open")
    assert invoice["Name"].startswith("INV") and invoice["Due_Date__c"]

    await pay(netsuite, status.netsuite_customer_id or "", invoice_id, 250.0)
    await poll_once(client, settings)
    await until(
        lambda: records_with(
            sandboxes.sf_admin, "NetSuite_Invoice__c", NetSuite_Invoice_ID__c=invoice_id, Amount_Due__c=350.0
        ),
        "partial payment in Salesforce",
    )
    await until(
        lambda: records_with(
            sandboxes.sf_admin,
            "Opportunity",
            Id=deal.opportunity_id,
            Billed_Amount__c=600.0,
            Paid_Amount__c=250.0,
        ),
        "billed and paid totals on the opportunity",
    )

    # The same poll again, and a poll after a "restart" (state only in the store): nothing to write.
    writes = _salesforce_writes(sandboxes)
    await poll_once(client, settings)
    await poll_once(client, settings)
    assert _salesforce_writes(sandboxes) == writes

    await pay(netsuite, status.netsuite_customer_id or "", invoice_id, 350.0)
    await poll_once(client, settings)
    handle = client.get_workflow_handle(names.order_workflow_id(deal.opportunity_id), result_type=OrderStatus)
    final = await asyncio.wait_for(handle.result(), 30)
    assert final.stage is OrderStage.PAID
    await record_history(client, names.order_workflow_id(deal.opportunity_id), "order_paid")
    assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED
    [invoice] = records_with(sandboxes.sf_admin, "NetSuite_Invoice__c", NetSuite_Invoice_ID__c=invoice_id)
    assert (invoice["Amount_Due__c"], invoice["Status__c"]) == (0.0, "Paid In Full")
    [opportunity] = records_with(sandboxes.sf_admin, "Opportunity", Id=deal.opportunity_id)
    assert opportunity["Paid_Amount__c"] == 600.0 and opportunity["Q2C_Sync_Status__c"] == "Synced"


async def _on_hold_deal(sandboxes: Sandboxes, catalog: Catalog) -> tuple[Any, str]:
    customer = sandboxes.ns_admin.load(
        {
            "customer": [
                {
                    "companyName": "Held Co",
                    "subsidiary": {"id": "1"},
                    "currency": {"id": "1"},
                    "creditHoldOverride": {"id": "ON"},
                }
            ]
        }
    )["customer"][0]
    deal = make_deal(sandboxes.sf_admin, catalog, account={"NetSuite_Internal_ID__c": customer})
    return deal, customer


async def test_a_deal_for_an_account_on_hold_waits_and_goes_ahead_when_released(
    client: Client,
    settings: Settings,
    sandboxes: Sandboxes,
    catalog: Catalog,
    netsuite: NetSuiteClient,
    store: Any,
) -> None:
    deal, customer = await _on_hold_deal(sandboxes, catalog)
    store.link(__import__("q2c.store", fromlist=["LinkKind"]).LinkKind.ACCOUNT, deal.account_id, customer)

    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    status = await wait_until_settled(client, deal.opportunity_id, 60)

    assert status.stage is OrderStage.AWAITING_CREDIT_RELEASE
    assert "credit hold is set to On" in (status.credit_hold_reason or "")
    await until(
        lambda: records_with(
            sandboxes.sf_admin,
            "Opportunity",
            Id=deal.opportunity_id,
            Q2C_Sync_Status__c="Awaiting Credit Release",
        ),
        "the opportunity shows the credit hold",
    )
    assert records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id) == []

    # The poller sees the hold (flag + task on the account), then its release, and wakes the order.
    first = await poll_once(client, settings)
    assert first.holds_raised >= 1
    [poll] = [w async for w in client.list_workflows(f'WorkflowType = "{names.NETSUITE_POLL_WORKFLOW}"')][:1]
    await record_history(client, poll.id, "poll")
    [account] = records_with(sandboxes.sf_admin, "Account", Id=deal.account_id)
    assert account["Credit_Hold__c"] is True and "On" in account["Credit_Hold_Reason__c"]
    tasks = records_with(sandboxes.sf_admin, "Task", WhatId=deal.account_id)
    assert len(tasks) == 1 and tasks[0]["Subject"] == "Credit hold: Held Co"
    await poll_once(client, settings)
    assert len(records_with(sandboxes.sf_admin, "Task", WhatId=deal.account_id)) == 1  # not raised twice

    await netsuite.patch("customer", customer, {"creditHoldOverride": {"id": "OFF"}})
    released = await poll_once(client, settings)
    assert released.holds_released >= 1

    status = await wait_until_settled(client, deal.opportunity_id, 60, stages=ORDER_CREATED)
    assert len(records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)) == 1
    [account] = records_with(sandboxes.sf_admin, "Account", Id=deal.account_id)
    assert account["Credit_Hold__c"] is False


async def test_finance_can_approve_an_order_on_hold(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    # q2c holds the order; NetSuite, set to warn rather than enforce holds, would take it: finance
    # decides. (Where NetSuite enforces the hold itself, its refusal parks the order instead.)
    sandboxes.ns_admin.put("/preferences", {"credit_limit_handling": "WARN"})
    try:
        deal, _ = await _on_hold_deal(sandboxes, catalog)
        await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
        await wait_until_settled(client, deal.opportunity_id, 60, stages={OrderStage.AWAITING_CREDIT_RELEASE})

        await approve_credit(
            client, deal.opportunity_id, approved_by="cfo@q2c.example", note="strategic deal"
        )

        status = await wait_until_settled(client, deal.opportunity_id, 60, stages=ORDER_CREATED)
    finally:
        sandboxes.ns_admin.put("/preferences", {"credit_limit_handling": "ENFORCE_HOLDS"})
    assert status.credit_approved_by == "cfo@q2c.example"
    assert len(records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)) == 1
    await record_history(client, names.order_workflow_id(deal.opportunity_id), "order_credit_approved")


async def test_where_netsuite_enforces_the_hold_an_approved_order_parks_with_its_reason(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    deal, _ = await _on_hold_deal(sandboxes, catalog)
    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    await wait_until_settled(client, deal.opportunity_id, 60, stages={OrderStage.AWAITING_CREDIT_RELEASE})

    await approve_credit(client, deal.opportunity_id, approved_by="cfo@q2c.example")

    status = await wait_until_settled(client, deal.opportunity_id, 60, stages={OrderStage.NEEDS_ATTENTION})
    assert "USER_ERROR" in (status.attention_reason or "") and "credit hold" in (
        status.attention_reason or ""
    )
    assert records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id) == []


async def test_parked_orders_are_retried_in_bulk_with_the_temporal_cli(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    deals = [make_deal(sandboxes.sf_admin, catalog, lines=[]) for _ in range(2)]
    for deal in deals:
        await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
        status = await wait_until_settled(client, deal.opportunity_id, 60)
        assert status.stage is OrderStage.NEEDS_ATTENTION
    for deal in deals:  # the fix: the missing lines
        sandboxes.sf_admin.load(
            {
                "OpportunityLineItem": [
                    {
                        "OpportunityId": deal.opportunity_id,
                        "PricebookEntryId": catalog.entries[("WID-100", "USD")][0],
                        "Quantity": 1,
                    }
                ]
            }
        )
    ids = ", ".join(f'"{d.opportunity_id}"' for d in deals)
    query = f'{names.STAGE.name} = "needs_attention" AND {names.OPPORTUNITY_ID.name} IN ({ids})'
    # Visibility is eventually consistent: wait until the query sees both parked orders.
    deadline = time.monotonic() + 30
    while len([w async for w in client.list_workflows(query)]) < 2:
        assert time.monotonic() < deadline, "visibility never listed the parked orders"
        await asyncio.sleep(0.2)

    cli = await asyncio.create_subprocess_exec(
        str(venv_binary("temporal")),
        "workflow",
        "signal",
        "--address",
        settings.temporal_address,
        "--namespace",
        settings.temporal_namespace,
        "--query",
        query,
        "--name",
        "retry",
        "--input",
        '{"reason": "lines added"}',
        "--reason",
        "bulk retry after fix",
        "--yes",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, output.decode()

    for deal in deals:
        status = await wait_until_settled(client, deal.opportunity_id, 60, stages=ORDER_CREATED)
        assert status.attempts == 2
    await record_history(
        client, names.order_workflow_id(deals[0].opportunity_id), "order_parked_then_retried"
    )


async def test_a_reopened_deal_closes_its_order_and_a_won_again_deal_reopens_it(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog)
    status = await _ordered(client, settings, deal.opportunity_id)
    order_id = status.sales_order_id

    await set_stage(settings, deal.opportunity_id, "Negotiation/Review")
    await deal_reopened(client, DealReopened(opportunity_id=deal.opportunity_id, source="cli"))

    await wait_until_settled(client, deal.opportunity_id, 60, stages={OrderStage.REOPENED})
    [order] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
    assert order["status"]["refName"] == "Closed"
    assert all(line["isClosed"] for line in order["item"]["items"])
    opportunity = await until(
        lambda: records_with(
            sandboxes.sf_admin, "Opportunity", Id=deal.opportunity_id, Q2C_Sync_Status__c="Closed"
        ),
        "the opportunity shows the closed order",
    )
    assert opportunity[0]["NetSuite_Sales_Order_ID__c"] is None
    assert "sales order SO" in opportunity[0]["Q2C_Sync_Message__c"]

    # Won again: the same order (same external id) is reopened, not a second one made.
    await set_stage(settings, deal.opportunity_id, "Closed Won")
    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    status = await wait_until_settled(client, deal.opportunity_id, 60, stages={OrderStage.AWAITING_INVOICE})
    assert status.sales_order_id == order_id
    [order] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
    assert order["status"]["refName"] != "Closed" and not any(
        line.get("isClosed") for line in order["item"]["items"]
    )
    await record_history(client, names.order_workflow_id(deal.opportunity_id), "order_reopened_and_won_again")


async def test_a_late_reopened_notification_leaves_a_won_again_order_open(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog)
    await _ordered(client, settings, deal.opportunity_id)
    reopened = DealReopened(
        opportunity_id=deal.opportunity_id, source="outbound-message", notification_id="N1"
    )

    # Won, reopened, won again, as Salesforce saw it ...
    await set_stage(settings, deal.opportunity_id, "Negotiation/Review")
    await deal_reopened(client, reopened)
    await wait_until_settled(client, deal.opportunity_id, 60, stages={OrderStage.REOPENED})
    await set_stage(settings, deal.opportunity_id, "Closed Won")
    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    await wait_until_settled(client, deal.opportunity_id, 60, stages={OrderStage.AWAITING_INVOICE})

    # ... then the first "reopened" is redelivered late (outbound messages retry for up to a day).
    await deal_reopened(client, reopened)
    status = await until(
        lambda: _with_stale_event(client, deal.opportunity_id), "the late claim checked against Salesforce"
    )

    assert status.stage is OrderStage.AWAITING_INVOICE and status.deal_won
    [order] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
    assert order["status"]["refName"] != "Closed"
    assert not any(line.get("isClosed") for line in order["item"]["items"])
    [opportunity] = records_with(sandboxes.sf_admin, "Opportunity", Id=deal.opportunity_id)
    assert opportunity["NetSuite_Sales_Order_ID__c"] == order["id"]


async def _with_stale_event(client: Client, opportunity_id: str) -> OrderStatus | None:
    # Either outcome ends the wait, so that code that takes the claim at its word fails the asserts below.
    status = await order_status(client, opportunity_id)
    checked = status.model_dump().get("stale_events") == 1 and not status.model_dump().get("reopen_claimed")
    return status if checked or status.stage is OrderStage.REOPENED else None


async def test_an_invoiced_order_is_not_undone_when_its_deal_reopens(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog, netsuite: NetSuiteClient
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog)
    status = await _ordered(client, settings, deal.opportunity_id)
    invoice_id = await bill(netsuite, status.sales_order_id or "")

    await set_stage(settings, deal.opportunity_id, "Negotiation/Review")
    await deal_reopened(client, DealReopened(opportunity_id=deal.opportunity_id, source="cli"))

    status = await wait_until_settled(client, deal.opportunity_id, 60, stages={OrderStage.NEEDS_ATTENTION})
    assert "already invoiced" in (status.attention_reason or "") and "q2c does not undo" in (
        status.attention_reason or ""
    )
    [order] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
    assert order["status"]["refName"] != "Closed"
    [invoice] = records_with(sandboxes.ns_admin, "invoice", id=invoice_id)
    assert invoice["status"]["refName"] == "Open"


async def test_a_failed_write_back_parks_with_the_order_kept_and_retry_finishes_it(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog)
    # NetSuite accepts the sales order, then fails every read of it: the write-back cannot finish.
    sandboxes.ns_admin.put(
        "/faults",
        {
            "rules": [
                {"kind": "server_error", "method": "GET", "path": r"/record/v1/salesOrder/\d+$", "next": 3}
            ]
        },
    )
    try:
        await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
        status = await wait_until_settled(
            client, deal.opportunity_id, 60, stages={OrderStage.NEEDS_ATTENTION}
        )
    finally:
        sandboxes.ns_admin._call("DELETE", "/faults")

    assert "UNEXPECTED_ERROR" in (status.attention_reason or "") and "gave up on get_sales_order" in (
        status.attention_reason or ""
    )
    [order] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
    # The order is right; only Salesforce does not show it yet: nothing is undone.
    assert order["status"]["refName"] != "Closed"
    assert status.pending_write_back == order["id"] and status.sales_order_id is None
    upserts = _netsuite_upserts(sandboxes, deal.opportunity_id)

    await retry_order(client, deal.opportunity_id, reason="NetSuite is back")

    status = await wait_until_settled(client, deal.opportunity_id, 60, stages=ORDER_CREATED)
    [kept] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
    assert kept["id"] == order["id"] and kept["status"]["refName"] != "Closed"
    assert status.sales_order_id == order["id"] and status.pending_write_back is None
    assert _netsuite_upserts(sandboxes, deal.opportunity_id) == upserts  # retry only wrote back
    [opportunity] = records_with(sandboxes.sf_admin, "Opportunity", Id=deal.opportunity_id)
    assert opportunity["NetSuite_Sales_Order_ID__c"] == order["id"]
    assert opportunity["Q2C_Sync_Status__c"] == "Synced"


def _netsuite_upserts(sandboxes: Sandboxes, opportunity_id: str) -> int:
    return sum(
        1
        for r in sandboxes.ns_admin.requests(5000)["recent"]
        if r["method"] == "PUT" and f"eid:{opportunity_id}" in r["path"]
    )


async def test_an_order_billed_for_a_long_time_continues_as_new_without_losing_anything(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog, netsuite: NetSuiteClient
) -> None:
    settings.billing_checks_per_run = 2
    deal = make_deal(sandboxes.sf_admin, catalog, lines=[("WID-100", 10)])  # 1200.00
    await deal_closed(
        client,
        settings,
        DealClosed(opportunity_id=deal.opportunity_id, source="cli"),
    )
    status = await wait_until_settled(client, deal.opportunity_id, 60, stages={OrderStage.AWAITING_INVOICE})
    handle = client.get_workflow_handle(names.order_workflow_id(deal.opportunity_id), result_type=OrderStatus)
    first_run = (await handle.describe()).run_id

    invoice_id = await bill(netsuite, status.sales_order_id or "")
    await pay(netsuite, status.netsuite_customer_id or "", invoice_id, 200.0)
    # Each poll is one billing check; with two checks a run, the order hands over to new runs.
    for _ in range(5):
        await poll_once(client, settings)
    status = await until(_paid(client, deal.opportunity_id, 200), "the partial payment reaching the order")
    writes = _writes_about(sandboxes, deal.opportunity_id, invoice_id)

    await pay(netsuite, status.netsuite_customer_id or "", invoice_id, 1000.0)
    await poll_once(client, settings)
    final = await asyncio.wait_for(handle.result(), 30)

    assert final.stage is OrderStage.PAID and final.paid == 1200
    assert final.runs > 1 and (await handle.describe()).run_id != first_run
    assert final.invoices and final.sales_order_id == status.sales_order_id  # state carried across runs
    # The new runs knew what the old ones had written: only the real change (the payment) was written.
    assert _writes_about(sandboxes, deal.opportunity_id, invoice_id) - writes == 3  # invoice, totals, status
