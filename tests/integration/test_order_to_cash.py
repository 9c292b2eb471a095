"""Order to cash on real parts: the Temporal dev server, the worker, both sandboxes over HTTPS."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import Client

from q2c.config import Settings
from q2c.domain.messages import DealClosed
from q2c.domain.order import OrderStage
from q2c.store import LinkKind, Store
from temporal_client.orders import (
    ORDER_CREATED,
    DealClosedOutcome,
    deal_closed,
    retry_order,
    wait_until_settled,
)
from tests.conftest import Sandboxes
from tests.factories import Catalog, make_deal, records_with

pytestmark = pytest.mark.usefixtures("worker")


async def _close(
    client: Client, settings: Settings, opportunity_id: str, source: str = "cli"
) -> DealClosedOutcome:
    return await deal_closed(client, settings, DealClosed(opportunity_id=opportunity_id, source=source))


async def test_a_won_deal_becomes_one_sales_order(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog, store: Store
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog, currency="EUR", lines=[("WID-100", 4), ("GW-X1", 2)])

    first = await _close(client, settings, deal.opportunity_id)
    status = await wait_until_settled(client, deal.opportunity_id, 60)

    assert status.stage in ORDER_CREATED, status.attention_reason
    [order] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
    assert order["id"] == status.sales_order_id and order["tranId"] == status.sales_order_number
    assert order["subsidiary"]["id"] == "3" and order["currency"]["id"] == "4"  # EUR -> Q2C GmbH
    assert order["entity"]["id"] == status.netsuite_customer_id
    assert order["custbody_sf_opportunity_id"] == deal.opportunity_id
    lines = order["item"]["items"]
    assert [(line["item"]["id"], line["quantity"]) for line in lines] == [
        (catalog.items["WID-100"], 4),
        (catalog.items["GW-X1"], 2),
    ]
    assert not any("tax" in key.lower() for line in lines for key in line)
    assert order["total"] == pytest.approx(4 * 120.0 + 2 * 1250.0)

    [customer] = records_with(sandboxes.ns_admin, "customer", externalId=deal.account_id)
    assert customer["custentity_sf_account_id"] == deal.account_id
    assert customer["subsidiary"]["id"] == "3"
    [account] = records_with(sandboxes.sf_admin, "Account", Id=deal.account_id)
    assert account["NetSuite_Internal_ID__c"] == customer["id"]
    [opportunity] = records_with(sandboxes.sf_admin, "Opportunity", Id=deal.opportunity_id)
    assert opportunity["NetSuite_Sales_Order_ID__c"] == order["id"]
    assert opportunity["NetSuite_Sales_Order_Number__c"] == order["tranId"]
    assert opportunity["Q2C_Sync_Status__c"] == "Synced"

    assert store.find_link(LinkKind.ACCOUNT, salesforce_id=deal.account_id).netsuite_id == customer["id"]  # type: ignore[union-attr]
    assert store.find_link(LinkKind.ORDER, salesforce_id=deal.opportunity_id).netsuite_id == order["id"]  # type: ignore[union-attr]

    # Closing the same deal again (a late notification) reaches the same workflow and changes nothing.
    again = await _close(client, settings, deal.opportunity_id)
    assert again.run_id == first.run_id
    assert (await wait_until_settled(client, deal.opportunity_id, 60)).sales_order_id == order["id"]
    assert len(records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)) == 1


async def test_an_account_already_linked_keeps_its_customer(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    existing = sandboxes.ns_admin.load(
        {"customer": [{"companyName": "Linked Co", "subsidiary": {"id": "1"}, "currency": {"id": "1"}}]}
    )["customer"][0]
    deal = make_deal(sandboxes.sf_admin, catalog, account={"NetSuite_Internal_ID__c": existing})

    await _close(client, settings, deal.opportunity_id)
    status = await wait_until_settled(client, deal.opportunity_id, 60)

    assert status.stage in ORDER_CREATED, status.attention_reason
    assert status.netsuite_customer_id == existing
    assert records_with(sandboxes.ns_admin, "customer", externalId=deal.account_id) == []


async def test_five_concurrent_deal_closed_signals_make_one_sales_order(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog)

    outcomes = await asyncio.gather(*(_close(client, settings, deal.opportunity_id) for _ in range(5)))
    status = await wait_until_settled(client, deal.opportunity_id, 60)

    assert status.stage in ORDER_CREATED, status.attention_reason
    started_runs = {o.run_id for o in outcomes if not o.already_completed}
    assert len(started_runs) == 1  # every signal-with-start landed on the same run (or found it done)
    assert status.deal_closed_signals == sum(1 for o in outcomes if not o.already_completed)
    assert len(records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)) == 1
    assert len(records_with(sandboxes.ns_admin, "customer", externalId=deal.account_id)) == 1


@pytest.mark.parametrize(
    "problem", ["no line items", "product without NetSuite item", "currency without subsidiary"]
)
async def test_a_deal_that_cannot_be_ordered_parks_then_resumes_after_the_fix(
    problem: str,
    client: Client,
    settings: Settings,
    sandboxes: Sandboxes,
    catalog: Catalog,
) -> None:
    if problem == "no line items":
        deal = make_deal(sandboxes.sf_admin, catalog, lines=[])
        expected = "has no line items"
    elif problem == "product without NetSuite item":
        deal = make_deal(sandboxes.sf_admin, catalog, lines=[("WID-100", 1), ("BETA", 1)])
        expected = f"product {catalog.products['BETA']} ('Beta') has no NetSuite item"
    else:
        deal = make_deal(sandboxes.sf_admin, catalog, currency="JPY")
        expected = "is in JPY, which has no NetSuite subsidiary in the mapping file"
    sandboxes.ns_admin.clear_requests()

    await _close(client, settings, deal.opportunity_id)
    status = await wait_until_settled(client, deal.opportunity_id, 60)

    assert status.stage is OrderStage.NEEDS_ATTENTION
    assert status.attention_reason is not None and expected in status.attention_reason
    assert deal.opportunity_id in status.attention_reason
    [opportunity] = records_with(sandboxes.sf_admin, "Opportunity", Id=deal.opportunity_id)
    assert opportunity["Q2C_Sync_Status__c"] == "Needs Attention"
    assert expected in opportunity["Q2C_Sync_Message__c"]
    # Nothing was written (or even asked) in NetSuite about this deal or its account.
    paths = [r["path"] for r in sandboxes.ns_admin.requests()["recent"]]
    assert not [p for p in paths if deal.opportunity_id in p or deal.account_id in p]
    assert records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id) == []

    # A person fixes the data, then retries; the parked workflow carries on to the sales order.
    if problem == "no line items":
        sandboxes.sf_admin.load(
            {
                "OpportunityLineItem": [
                    {
                        "OpportunityId": deal.opportunity_id,
                        "PricebookEntryId": catalog.entries[("WID-100", "USD")][0],
                        "Quantity": 2,
                    }
                ]
            }
        )
    elif problem == "product without NetSuite item":
        item = sandboxes.ns_admin.load(
            {"inventoryItem": [{"itemId": f"BETA-{deal.account_id}", "displayName": "Beta"}]}
        )
        fix_product = {"Id": catalog.products["BETA"], "NetSuite_Internal_ID__c": item["inventoryItem"][0]}
        await asyncio.to_thread(_patch_product, settings, fix_product)
    else:
        assert settings.mapping_path is not None  # the worker's own copy, read again on every attempt
        with settings.mapping_path.open("a") as mapping:
            mapping.write('\n[currencies.JPY]\nsubsidiary = "1"\nnetsuite_currency = "5"\n')
    await retry_order(client, deal.opportunity_id, reason=f"fixed: {problem}")
    status = await wait_until_settled(client, deal.opportunity_id, 60, stages=ORDER_CREATED)

    assert status.attempts == 2
    assert len(records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)) == 1
    [opportunity] = records_with(sandboxes.sf_admin, "Opportunity", Id=deal.opportunity_id)
    assert opportunity["Q2C_Sync_Status__c"] == "Synced"


def _patch_product(settings: Settings, fields: dict[str, str]) -> None:
    from worker import salesforce_client

    product_id = fields.pop("Id")
    salesforce_client(settings).update("Product2", product_id, fields)
