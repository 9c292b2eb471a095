"""Fulfilment, stock and inactive products end to end, on the dev server and the sandboxes: a partial then
a full item fulfilment reaching Salesforce through the NetSuite poller (two NetSuite_Fulfillment__c
records, the order's NetSuite status moving on, Billed after the invoice) with repeated polls writing
nothing new; a deal short of stock ordered with its warning; a product deactivated in Salesforce parking
its order.

On sandboxes of their own (module scope): these tests add a location and stock to NetSuite, which changes
how every sales order of an inventory item is committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from q2c.config import Settings
from q2c.connectors.netsuite import RECORD_PATH, NetSuiteClient
from q2c.domain.messages import DealClosed, OrderStatus
from q2c.domain.order import OrderStage
from q2c_sandbox.local import LocalSandboxes, local_sandboxes
from temporal_client.orders import ORDER_CREATED, deal_closed, order_status, wait_until_settled
from temporal_client.schedules import poll_once
from tests.conftest import q2c_test_settings, until
from tests.factories import Catalog, bill, build_catalog, make_deal, pay, records_with
from tests.replay.recording import record_history
from worker import salesforce_client
from workflows import names

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSandboxes]:
    with local_sandboxes(tmp_path_factory.mktemp("fulfilment-sandboxes")) as sandboxes:
        yield sandboxes


@pytest.fixture(scope="module")
def catalog(sandboxes: LocalSandboxes) -> Catalog:
    catalog = build_catalog(sandboxes.sf_admin, sandboxes.ns_admin)
    [location] = sandboxes.ns_admin.load(
        {"location": [{"name": "Main Warehouse", "subsidiary": {"id": "1"}}]}
    )["location"]
    for code in ("WID-100", "GW-X1"):
        sandboxes.ns_admin.post(
            "/inventory/receive", {"item": catalog.items[code], "location": location, "quantity": 100}
        )
    return catalog


@pytest.fixture
def settings(sandboxes: LocalSandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path) -> Settings:
    return q2c_test_settings(sandboxes, temporal_env, tmp_path, account_sync=False)


def _salesforce_writes(sandboxes: LocalSandboxes) -> int:
    counts = sandboxes.sf_admin.requests()["counts"]
    return sum(n for endpoint, n in counts.items() if endpoint.startswith(("PATCH", "POST", "DELETE")))


async def _ordered(client: Client, settings: Settings, opportunity_id: str) -> OrderStatus:
    await deal_closed(client, settings, DealClosed(opportunity_id=opportunity_id, source="cli"))
    status = await wait_until_settled(client, opportunity_id, 60)
    assert status.stage in ORDER_CREATED, status.attention_reason
    return status


async def _fulfil(
    netsuite: NetSuiteClient, sales_order_id: str, lines: dict[int, int], *, tracking: str
) -> str:
    """Ship ``lines`` (order line -> quantity) of the order, as the warehouse would in NetSuite."""
    response = await netsuite.request(
        "POST",
        f"{RECORD_PATH}/salesOrder/{sales_order_id}/!transform/itemFulfillment",
        body={
            "shipStatus": "C",
            "item": {"items": [{"orderLine": line, "quantity": qty} for line, qty in lines.items()]},
            "package": {"items": [{"packageTrackingNumber": tracking}]},
        },
        operation=f"fulfilment of sales order {sales_order_id}",
    )
    return str(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def _opportunity(sandboxes: LocalSandboxes, opportunity_id: str) -> dict[str, Any]:
    [opportunity] = records_with(sandboxes.sf_admin, "Opportunity", Id=opportunity_id)
    return opportunity


async def _shows_status(sandboxes: LocalSandboxes, opportunity_id: str, order_status: str) -> None:
    await until(
        lambda: _opportunity(sandboxes, opportunity_id).get("NetSuite_Order_Status__c") == order_status,
        f"NetSuite_Order_Status__c {order_status!r} on the opportunity",
    )


async def test_a_partial_then_a_full_fulfilment_reach_salesforce_and_a_repeated_poll_writes_nothing(
    client: Client,
    settings: Settings,
    sandboxes: LocalSandboxes,
    catalog: Catalog,
    netsuite: NetSuiteClient,
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog, lines=[("WID-100", 3), ("GW-X1", 1)])
    status = await _ordered(client, settings, deal.opportunity_id)
    sales_order_id = status.sales_order_id or ""
    await _shows_status(sandboxes, deal.opportunity_id, "Pending Fulfillment")
    await poll_once(client, settings)  # the poller's first run only finds where to start
    [order] = records_with(sandboxes.ns_admin, "salesOrder", id=sales_order_id)
    widget_line, gateway_line = (line["line"] for line in order["item"]["items"])

    # The warehouse ships two of the three widgets.
    first = await _fulfil(netsuite, sales_order_id, {widget_line: 2}, tracking="1Z0001")
    polled = await poll_once(client, settings)
    assert polled.fulfillments_read >= 1 and polled.orders_signalled >= 1
    [record] = await until(
        lambda: records_with(sandboxes.sf_admin, "NetSuite_Fulfillment__c", NetSuite_Fulfillment_ID__c=first),
        "the first fulfilment in Salesforce",
    )
    assert record["Name"].startswith("IF")
    assert (record["Opportunity__c"], record["Account__c"]) == (deal.opportunity_id, deal.account_id)
    assert (record["Status__c"], record["Tracking_Numbers__c"]) == ("Shipped", "1Z0001")
    assert (record["Lines__c"], record["Quantity__c"]) == ("2 x WID-100", 2.0)
    assert record["Ship_Date__c"]
    await _shows_status(sandboxes, deal.opportunity_id, "Pending Billing/Partially Fulfilled")

    # Polled again (and again): nothing new in NetSuite, nothing written to Salesforce.
    writes = _salesforce_writes(sandboxes)
    for _ in range(2):
        again = await poll_once(client, settings)
        assert again.orders_signalled == 0
    assert _salesforce_writes(sandboxes) == writes

    # The rest ships: a second record, the first one untouched.
    second = await _fulfil(netsuite, sales_order_id, {widget_line: 1, gateway_line: 1}, tracking="1Z0002")
    await poll_once(client, settings)
    [other] = await until(
        lambda: records_with(
            sandboxes.sf_admin, "NetSuite_Fulfillment__c", NetSuite_Fulfillment_ID__c=second
        ),
        "the second fulfilment in Salesforce",
    )
    assert (other["Lines__c"], other["Quantity__c"]) == ("1 x WID-100\n1 x GW-X1", 2.0)
    await _shows_status(sandboxes, deal.opportunity_id, "Pending Billing")
    [unchanged] = records_with(
        sandboxes.sf_admin, "NetSuite_Fulfillment__c", NetSuite_Fulfillment_ID__c=first
    )
    assert unchanged["LastModifiedDate"] == record["LastModifiedDate"]
    shown = await order_status(client, deal.opportunity_id)
    assert {f.number: (f.status, f.quantity) for f in shown.fulfillments.values()} == {
        record["Name"]: ("Shipped", 2),
        other["Name"]: ("Shipped", 2),
    }
    assert shown.netsuite_order_status == "Pending Billing"

    # Billed, then paid: the order shows Billed and the workflow completes.
    invoice_id = await bill(netsuite, sales_order_id)
    await poll_once(client, settings)
    await _shows_status(sandboxes, deal.opportunity_id, "Billed")
    await pay(netsuite, status.netsuite_customer_id or "", invoice_id, 1610.0)  # 3 x 120 + 1250
    await poll_once(client, settings)
    final = await wait_until_settled(client, deal.opportunity_id, 30, stages={OrderStage.PAID})
    assert len(final.fulfillments) == 2
    assert (
        len(records_with(sandboxes.sf_admin, "NetSuite_Fulfillment__c", Opportunity__c=deal.opportunity_id))
        == 2
    )
    await record_history(client, names.order_workflow_id(deal.opportunity_id), "order_fulfilled_in_two")


def _stocked_product(
    sandboxes: LocalSandboxes, catalog: Catalog, name: str, **product: Any
) -> tuple[str, str]:
    """A NetSuite item and its Salesforce product (with ``product`` fields) and price book entry; returns
    (product id, entry id)."""
    code = f"{name.split()[0].upper()}-{uuid.uuid4().hex[:6]}"
    [item] = sandboxes.ns_admin.load({"inventoryItem": [{"itemId": code, "displayName": name}]})[
        "inventoryItem"
    ]
    [product_id] = sandboxes.sf_admin.load(
        {
            "Product2": [
                {"Name": name, "ProductCode": code, "IsActive": True, "NetSuite_Internal_ID__c": item}
                | product
            ]
        }
    )["Product2"]
    [entry] = sandboxes.sf_admin.load(
        {
            "PricebookEntry": [
                {
                    "Pricebook2Id": catalog.standard_pricebook,
                    "Product2Id": product_id,
                    "UnitPrice": 10.0,
                    "CurrencyIsoCode": "USD",
                    "IsActive": True,
                }
            ]
        }
    )["PricebookEntry"]
    return product_id, entry


def _add_line(sandboxes: LocalSandboxes, opportunity_id: str, entry: str, quantity: int) -> None:
    sandboxes.sf_admin.load(
        {
            "OpportunityLineItem": [
                {"OpportunityId": opportunity_id, "PricebookEntryId": entry, "Quantity": quantity}
            ]
        }
    )


async def test_a_deal_short_of_stock_is_ordered_with_a_warning_on_the_opportunity(
    client: Client, settings: Settings, sandboxes: LocalSandboxes, catalog: Catalog
) -> None:
    product, entry = _stocked_product(sandboxes, catalog, "Scarce Widget", Quantity_Available__c=1)
    deal = make_deal(sandboxes.sf_admin, catalog, lines=[("WID-100", 1)])  # not stock-tracked
    _add_line(sandboxes, deal.opportunity_id, entry, 2)
    _add_line(sandboxes, deal.opportunity_id, entry, 1)

    status = await _ordered(client, settings, deal.opportunity_id)

    expected = f"lines 2, 3: product {product} ('Scarce Widget') 3 requested, 1 available"
    assert expected in (status.inventory_warning or "")
    assert [s.requested for s in status.stock_shortfalls] == [3]
    warning = _opportunity(sandboxes, deal.opportunity_id)["Inventory_Warning__c"]
    assert warning == status.inventory_warning
    assert len(records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)) == 1


async def test_a_product_deactivated_in_salesforce_parks_the_order_naming_it(
    client: Client, settings: Settings, sandboxes: LocalSandboxes, catalog: Catalog
) -> None:
    product, entry = _stocked_product(sandboxes, catalog, "Retiring Gadget")
    deal = make_deal(sandboxes.sf_admin, catalog, lines=[("WID-100", 1)])
    _add_line(sandboxes, deal.opportunity_id, entry, 1)
    # The catalog sync deactivates the product once its NetSuite item went inactive.
    salesforce_client(settings).update("Product2", product, {"IsActive": False})

    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    status = await wait_until_settled(client, deal.opportunity_id, 60)

    assert status.stage is OrderStage.NEEDS_ATTENTION
    reason = status.attention_reason or ""
    assert f"line 2: product {product} ('Retiring Gadget') is inactive in Salesforce" in reason
    assert "replace the line with an active product, or reactivate item RETIRING-" in reason
    assert "(the catalog sync then reactivates the product), then retry" in reason
    assert "Retiring Gadget" in _opportunity(sandboxes, deal.opportunity_id)["Q2C_Sync_Message__c"]
    assert records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id) == []
    assert records_with(sandboxes.ns_admin, "customer", externalId=deal.account_id) == []
