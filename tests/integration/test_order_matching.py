"""A deal closing for an account that is not linked yet: the order matches NetSuite customers by the
account sync's rules before it creates one (real dev server, worker and sandboxes)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from simple_salesforce.api import SFType
from temporalio.client import Client, WorkflowExecutionStatus

from q2c.config import Settings
from q2c.domain.messages import ChooseMatch, DealClosed, OrderStatus
from q2c.domain.order import OrderStage
from temporal_client.accounts import choose_match
from temporal_client.orders import ORDER_CREATED, deal_closed, wait_until_settled
from tests.conftest import Sandboxes
from tests.factories import Catalog, make_deal, records_with
from worker import salesforce_client
from workflows import names

pytestmark = pytest.mark.usefixtures("worker")


def _customer(sandboxes: Sandboxes, name: str, url: str) -> str:
    customer: str = sandboxes.ns_admin.load(
        {"customer": [{"companyName": name, "url": url, "subsidiary": {"id": "1"}, "currency": {"id": "1"}}]}
    )["customer"][0]
    return customer


async def test_a_deal_for_an_unlinked_account_uses_the_customer_that_matches_by_domain(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    domain = f"acme-{uuid.uuid4().hex[:8]}.example"
    existing = _customer(sandboxes, "Acme Inc", f"https://{domain}")
    deal = make_deal(
        sandboxes.sf_admin, catalog, account={"Name": "ACME, Inc.", "Website": f"https://www.{domain}"}
    )

    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    status = await wait_until_settled(client, deal.opportunity_id, 60)

    assert status.stage in ORDER_CREATED, status.attention_reason
    assert status.netsuite_customer_id == existing
    # No duplicate: the one customer with that domain, now linked both ways.
    customers = [c for c in sandboxes.ns_admin.records("customer") if domain in (c.get("url") or "")]
    assert [c["id"] for c in customers] == [existing]
    assert customers[0]["custentity_sf_account_id"] == deal.account_id
    [account] = records_with(sandboxes.sf_admin, "Account", Id=deal.account_id)
    assert account["NetSuite_Internal_ID__c"] == existing
    [order] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
    assert order["entity"]["id"] == existing


async def test_several_matching_customers_park_the_order_until_choose_match_settles_it(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    domain = f"nakatomi-{uuid.uuid4().hex[:8]}.example"
    first = _customer(sandboxes, "Nakatomi Trading", f"https://{domain}")
    second = _customer(sandboxes, "Nakatomi Trading Corp", f"https://shop.{domain}")
    deal = make_deal(
        sandboxes.sf_admin, catalog, account={"Name": "Nakatomi Trading", "Website": f"https://{domain}"}
    )

    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    status = await wait_until_settled(client, deal.opportunity_id, 60)

    assert status.stage is OrderStage.NEEDS_ATTENTION
    assert sorted(status.customer_candidates) == sorted([first, second])
    reason = status.attention_reason or ""
    assert first in reason and second in reason and deal.account_id in reason and "choose-match" in reason
    assert records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id) == []
    assert records_with(sandboxes.ns_admin, "customer", externalId=deal.account_id) == []

    # The person picks one with the same command that settles account sync; the order goes on.
    told: list[str] = []
    for _ in range(100):  # the order's account id reaches the visibility store shortly
        told = await choose_match(client, deal.account_id, ChooseMatch(record_id=second))
        if names.order_workflow_id(deal.opportunity_id) in told:
            break
        await asyncio.sleep(0.1)
    assert names.order_workflow_id(deal.opportunity_id) in told
    status = await wait_until_settled(client, deal.opportunity_id, 60, stages=ORDER_CREATED)

    assert status.netsuite_customer_id == second
    [order] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
    assert order["entity"]["id"] == second
    [account] = records_with(sandboxes.sf_admin, "Account", Id=deal.account_id)
    assert account["NetSuite_Internal_ID__c"] == second


async def test_an_order_for_an_opportunity_that_does_not_exist_ends_with_that_reason(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog)
    # Deleted by a rep before the (late) notification arrives: as simple-salesforce users delete.
    connection = salesforce_client(settings)._client()
    opportunities = SFType(
        "Opportunity", connection.session_id, connection.sf_instance, session=connection.session
    )
    await asyncio.to_thread(opportunities.delete, deal.opportunity_id)

    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    handle = client.get_workflow_handle(names.order_workflow_id(deal.opportunity_id), result_type=OrderStatus)
    final = await asyncio.wait_for(handle.result(), 60)

    assert final.stage is OrderStage.OPPORTUNITY_NOT_FOUND
    assert f"Opportunity {deal.opportunity_id} does not exist" in (final.outcome or "")
    assert (await handle.describe()).status is WorkflowExecutionStatus.COMPLETED
    assert records_with(sandboxes.ns_admin, "customer", externalId=deal.account_id) == []


async def test_an_inactive_netsuite_item_parks_the_order_naming_the_salesforce_product(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    code = f"OLD-{uuid.uuid4().hex[:6]}"
    [item] = sandboxes.ns_admin.load(
        {"inventoryItem": [{"itemId": code, "displayName": "Retired Widget", "isInactive": True}]}
    )["inventoryItem"]
    [product] = sandboxes.sf_admin.load(
        {
            "Product2": [
                {
                    "Name": "Retired Widget",
                    "ProductCode": code,
                    "IsActive": True,
                    "NetSuite_Internal_ID__c": item,
                }
            ]
        }
    )["Product2"]
    [entry] = sandboxes.sf_admin.load(
        {
            "PricebookEntry": [
                {
                    "Pricebook2Id": catalog.standard_pricebook,
                    "Product2Id": product,
                    "UnitPrice": 10.0,
                    "CurrencyIsoCode": "USD",
                    "IsActive": True,
                }
            ]
        }
    )["PricebookEntry"]
    deal = make_deal(sandboxes.sf_admin, catalog, lines=[("WID-100", 1)])
    sandboxes.sf_admin.load(
        {
            "OpportunityLineItem": [
                {"OpportunityId": deal.opportunity_id, "PricebookEntryId": entry, "Quantity": 2}
            ]
        }
    )

    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    status = await wait_until_settled(client, deal.opportunity_id, 60)

    assert status.stage is OrderStage.NEEDS_ATTENTION
    reason = status.attention_reason or ""
    assert f"line 2: product {product} ('Retired Widget') is NetSuite item {code}" in reason
    assert "inactive in NetSuite" in reason and "Reactivate the item" in reason
    [opportunity] = records_with(sandboxes.sf_admin, "Opportunity", Id=deal.opportunity_id)
    assert f"product {product}" in opportunity["Q2C_Sync_Message__c"]
