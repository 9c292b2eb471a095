"""The catalog and inventory syncs end to end: the real dev server, both sandboxes over HTTPS, the worker.

On sandboxes of their own: the sync reads every NetSuite item, and the order tests' shared sandboxes have
products made by hand that these tests must not rewrite.
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
from q2c.connectors.netsuite import NetSuiteClient
from q2c.domain.messages import DealClosed
from q2c.domain.messages.catalog import CatalogStatus
from q2c.domain.order import OrderStage
from q2c_sandbox.local import LocalSandboxes, local_sandboxes
from q2c_sandbox.seed import CURRENCIES, SUBSIDIARIES
from temporal_client.orders import ORDER_CREATED, deal_closed, wait_until_settled
from temporal_client.schedules import sync_catalog_once, sync_inventory_once
from tests.conftest import q2c_test_settings, until
from tests.factories import records_with
from tests.replay.recording import record_history

USD, GBP, EUR = "1", "2", "4"
PARTNER_BOOK = "Partner Price Book"


def _prices(*cells: tuple[str, str, float, float]) -> dict[str, Any]:
    """(price level, currency, quantity, price) -> the item's price sublist."""
    return {
        "items": [
            {"priceLevel": {"id": level}, "currency": {"id": currency}, "quantity": qty, "price": price}
            for level, currency, qty, price in cells
        ]
    }


@pytest.fixture(scope="module")
def catalog_sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSandboxes]:
    with local_sandboxes(tmp_path_factory.mktemp("catalog-sandboxes")) as sandboxes:
        sandboxes.ns_admin.load(
            {
                "currency": CURRENCIES,
                "subsidiary": SUBSIDIARIES,
                "priceLevel": [{"name": "Partner"}],
                "location": [
                    {"name": "Main Warehouse", "subsidiary": {"id": "1"}},
                    {"name": "East Depot", "subsidiary": {"id": "1"}},
                ],
            }
        )
        yield sandboxes


@pytest.fixture
def settings(
    catalog_sandboxes: LocalSandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> Settings:
    settings = q2c_test_settings(catalog_sandboxes, temporal_env, tmp_path, account_sync=False)
    assert settings.mapping_path is not None
    partner_level = next(
        p["id"] for p in catalog_sandboxes.ns_admin.records("priceLevel") if p["name"] == "Partner"
    )
    settings.mapping_path.write_text(
        settings.mapping_path.read_text()
        + f'\n[[catalog.price_books]]\nprice_level = "{partner_level}"\nprice_book = "{PARTNER_BOOK}"\n'
    )
    return settings


pytestmark = pytest.mark.usefixtures("worker")


def _sku() -> str:
    return f"T-{uuid.uuid4().hex[:6].upper()}"


def _product(sandboxes: LocalSandboxes, item_id: str) -> dict[str, Any]:
    (product,) = records_with(sandboxes.sf_admin, "Product2", NetSuite_Internal_ID__c=item_id)
    return product


def _entries(sandboxes: LocalSandboxes, product_id: str) -> dict[tuple[str, str], dict[str, Any]]:
    books = {
        b["Id"]: ("standard" if b.get("IsStandard") else b["Name"])
        for b in sandboxes.sf_admin.records("Pricebook2")
    }
    return {
        (books[e["Pricebook2Id"]], e["CurrencyIsoCode"]): e
        for e in records_with(sandboxes.sf_admin, "PricebookEntry", Product2Id=product_id)
        if not e.get("IsDeleted")
    }


def _writes(sandboxes: LocalSandboxes) -> list[str]:
    """The Salesforce API writes made since the request log was cleared (method and path)."""
    log = sandboxes.sf_admin.requests(limit=5000)["recent"]
    return [f"{r['method']} {r['path']}" for r in log if r["method"] in ("POST", "PATCH", "PUT", "DELETE")]


async def _sync(client: Client, settings: Settings, **kw: Any) -> CatalogStatus:
    return await sync_catalog_once(client, settings, **kw)


async def test_the_first_sync_loads_products_entries_per_currency_groups_and_breaks_and_a_rerun_writes_nothing(
    client: Client, settings: Settings, catalog_sandboxes: LocalSandboxes
) -> None:
    ns = catalog_sandboxes.ns_admin
    widget, service, retired, other = _sku(), _sku(), _sku(), _sku()
    ids = ns.load(
        {
            "inventoryItem": [
                {
                    "itemId": widget,
                    "displayName": "Widget",
                    "description": "A widget",
                    "price": _prices(
                        ("1", USD, 0, 100.0), ("1", USD, 10, 90.0), ("1", EUR, 0, 92.0), ("2", USD, 0, 80.0)
                    ),
                },
                {
                    "itemId": retired,
                    "displayName": "Retired",
                    "isInactive": True,
                    "price": _prices(("1", USD, 0, 5.0)),
                },
            ],
            "serviceSaleItem": [
                {"itemId": service, "displayName": "Install", "price": _prices(("1", USD, 0, 950.0))}
            ],
            "nonInventorySaleItem": [
                {"itemId": other, "displayName": "Cable", "price": _prices(("1", GBP, 0, 3.5))}
            ],
        }
    )
    widget_id, retired_id = ids["inventoryItem"]
    (service_id,) = ids["serviceSaleItem"]
    (other_id,) = ids["nonInventorySaleItem"]
    kit = _sku()
    (kit_id,) = ns.load(
        {
            "itemGroup": [
                {
                    "itemId": kit,
                    "displayName": "Starter kit",
                    "member": {
                        "items": [
                            {"item": {"id": widget_id}, "quantity": 2},
                            {"item": {"id": service_id}, "quantity": 1},
                        ]
                    },
                }
            ]
        }
    )["itemGroup"]

    first_id = f"catalog-test-{uuid.uuid4().hex[:8]}"
    first = await _sync(client, settings, workflow_id=first_id)
    assert first.parked == []
    assert first.since is None
    await record_history(client, first_id, "catalog_first_load")

    product = _product(catalog_sandboxes, widget_id)
    assert (product["Name"], product["ProductCode"], product["IsActive"], product["Family"]) == (
        "Widget",
        widget,
        True,
        "Hardware",
    )
    assert product["NetSuite_Item_Type__c"] == "InvtPart"
    assert "10+ at 90.00" in product["Price_Breaks__c"]
    entries = _entries(catalog_sandboxes, product["Id"])
    assert {key: e["UnitPrice"] for key, e in entries.items()} == {
        ("standard", "USD"): 100.0,
        ("standard", "EUR"): 92.0,
        (PARTNER_BOOK, "USD"): 80.0,
    }
    assert all(e["IsActive"] for e in entries.values())
    assert first.notes_by_kind.get("quantity_breaks") == 1
    assert any(widget in n.message and "10+ at 90.00" in n.message for n in first.notes)

    assert _product(catalog_sandboxes, service_id)["Family"] == "Services"
    assert _entries(catalog_sandboxes, _product(catalog_sandboxes, other_id)["Id"]).keys() == {
        ("standard", "GBP")
    }
    inactive = _product(catalog_sandboxes, retired_id)
    assert inactive["IsActive"] is False
    assert _entries(catalog_sandboxes, inactive["Id"]) == {}

    group = _product(catalog_sandboxes, kit_id)
    assert group["Components__c"] == f"2 x {widget}; 1 x {service}"
    assert {k: e["UnitPrice"] for k, e in _entries(catalog_sandboxes, group["Id"]).items()} == {
        ("standard", "USD"): 2 * 100.0 + 950.0
    }

    catalog_sandboxes.sf_admin.clear_requests()
    again = await _sync(client, settings)
    assert again.since is not None, "the second run reads only what changed since the first"
    assert again.written == 0
    assert _writes(catalog_sandboxes) == []

    full = await _sync(client, settings, full=True)
    assert full.items_read >= 5
    assert full.written == 0
    assert _writes(catalog_sandboxes) == []


async def test_a_price_change_a_deactivation_and_a_reactivation_follow_incrementally(
    client: Client, settings: Settings, catalog_sandboxes: LocalSandboxes, netsuite: NetSuiteClient
) -> None:
    sku = _sku()
    (item_id,) = catalog_sandboxes.ns_admin.load(
        {
            "inventoryItem": [
                {
                    "itemId": sku,
                    "displayName": "Gadget",
                    "price": _prices(("1", USD, 0, 10.0), ("1", EUR, 0, 9.0)),
                }
            ]
        }
    )["inventoryItem"]
    (kit_id,) = catalog_sandboxes.ns_admin.load(
        {
            "itemGroup": [
                {"itemId": f"KIT-{sku}", "member": {"items": [{"item": {"id": item_id}, "quantity": 3}]}}
            ]
        }
    )["itemGroup"]
    await _sync(client, settings)
    product = _product(catalog_sandboxes, item_id)
    kit = _product(catalog_sandboxes, kit_id)
    assert _entries(catalog_sandboxes, kit["Id"])[("standard", "EUR")]["UnitPrice"] == 27.0

    # A clerk changes the EUR price in NetSuite: only that entry is written, and the kit holding three
    # is re-priced though the kit itself did not change.
    await netsuite.patch(
        "inventoryItem", item_id, {"price": _prices(("1", USD, 0, 10.0), ("1", EUR, 0, 9.5))}, replace="price"
    )
    changed = await _sync(client, settings)
    assert (changed.entries_updated, changed.entries_created, changed.products_updated) == (2, 0, 0)
    assert _entries(catalog_sandboxes, kit["Id"])[("standard", "EUR")]["UnitPrice"] == 28.5
    entries = _entries(catalog_sandboxes, product["Id"])
    assert (entries[("standard", "EUR")]["UnitPrice"], entries[("standard", "USD")]["UnitPrice"]) == (
        9.5,
        10.0,
    )

    # The item goes inactive: its product and entries follow, and nothing is deleted.
    await netsuite.patch("inventoryItem", item_id, {"isInactive": True})
    await _sync(client, settings)
    assert _product(catalog_sandboxes, item_id)["IsActive"] is False
    entries = _entries(catalog_sandboxes, product["Id"])
    assert len(entries) == 2 and not any(e["IsActive"] for e in entries.values())

    await netsuite.patch("inventoryItem", item_id, {"isInactive": False})
    back = await _sync(client, settings)
    assert back.products_updated == 1 and back.entries_updated == 2
    assert _product(catalog_sandboxes, item_id)["IsActive"] is True
    assert all(e["IsActive"] for e in _entries(catalog_sandboxes, product["Id"]).values())


async def test_an_entry_in_use_on_a_deal_is_deactivated_never_deleted(
    client: Client, settings: Settings, catalog_sandboxes: LocalSandboxes, netsuite: NetSuiteClient
) -> None:
    sku = _sku()
    (item_id,) = catalog_sandboxes.ns_admin.load(
        {
            "inventoryItem": [
                {"itemId": sku, "displayName": "Sold thing", "price": _prices(("1", USD, 0, 40.0))}
            ]
        }
    )["inventoryItem"]
    await _sync(client, settings)
    product = _product(catalog_sandboxes, item_id)
    entry = _entries(catalog_sandboxes, product["Id"])[("standard", "USD")]
    sf = catalog_sandboxes.sf_admin
    (account,) = sf.load({"Account": [{"Name": f"Buyer {sku}"}]})["Account"]
    (opportunity,) = sf.load(
        {
            "Opportunity": [
                {
                    "Name": f"Deal {sku}",
                    "AccountId": account,
                    "StageName": "Prospecting",
                    "CloseDate": "2026-12-20",
                }
            ]
        }
    )["Opportunity"]
    (line,) = sf.load(
        {
            "OpportunityLineItem": [
                {"OpportunityId": opportunity, "PricebookEntryId": entry["Id"], "Quantity": 2}
            ]
        }
    )["OpportunityLineItem"]

    await netsuite.patch("inventoryItem", item_id, {"isInactive": True})
    await _sync(client, settings)

    kept = _entries(catalog_sandboxes, product["Id"])[("standard", "USD")]
    assert kept["Id"] == entry["Id"] and kept["IsActive"] is False
    assert records_with(sf, "OpportunityLineItem", Id=line)[0]["PricebookEntryId"] == entry["Id"]
    assert not any("DELETE" in w for w in _writes(catalog_sandboxes))


async def test_an_item_salesforce_refuses_is_parked_while_the_rest_is_written_and_retried_once_fixed(
    client: Client, settings: Settings, catalog_sandboxes: LocalSandboxes
) -> None:
    assert settings.mapping_path is not None
    good, bad = _sku(), _sku()
    ids = catalog_sandboxes.ns_admin.load(
        {
            "inventoryItem": [{"itemId": good, "price": _prices(("1", USD, 0, 1.0))}],
            "nonInventorySaleItem": [{"itemId": bad, "price": _prices(("1", USD, 0, 2.0))}],
        }
    )
    good_id, bad_id = ids["inventoryItem"][0], ids["nonInventorySaleItem"][0]
    mapping = settings.mapping_path.read_text()
    # A Family value the org's picklist does not have: Salesforce refuses every non-inventory product.
    settings.mapping_path.write_text(mapping.replace('NonInvtPart = "Hardware"', 'NonInvtPart = "Gizmos"'))

    parked = await _sync(client, settings)
    reasons = {p.item: p.reason for p in parked.parked}
    assert bad_id in reasons and bad in reasons[bad_id] and "Family" in reasons[bad_id]
    assert good_id not in reasons
    assert _product(catalog_sandboxes, good_id)["IsActive"] is True
    assert records_with(catalog_sandboxes.sf_admin, "Product2", NetSuite_Internal_ID__c=bad_id) == []

    # Still parked on the next run, though the item did not change in NetSuite: parked items are retried.
    still = await _sync(client, settings)
    assert bad_id in {p.item for p in still.parked}

    settings.mapping_path.write_text(mapping)
    fixed = await _sync(client, settings)
    assert bad_id not in {p.item for p in fixed.parked}
    assert _product(catalog_sandboxes, bad_id)["Family"] == "Hardware"
    assert (await _sync(client, settings)).parked == []


async def test_stock_per_location_reaches_salesforce_and_only_changes_are_written(
    client: Client, settings: Settings, catalog_sandboxes: LocalSandboxes
) -> None:
    ns = catalog_sandboxes.ns_admin
    sku = _sku()
    (item_id,) = ns.load({"inventoryItem": [{"itemId": sku, "price": _prices(("1", USD, 0, 7.0))}]})[
        "inventoryItem"
    ]
    main, east = (loc["id"] for loc in sorted(ns.records("location"), key=lambda r: int(r["id"]))[:2])
    _receive(catalog_sandboxes, item_id, main, 12)
    _receive(catalog_sandboxes, item_id, east, 3)
    await _sync(client, settings)

    first = await sync_inventory_once(client, settings)
    assert first.parked == []
    product = _product(catalog_sandboxes, item_id)
    assert (product["Quantity_On_Hand__c"], product["Quantity_Available__c"]) == (15.0, 15.0)
    levels = {
        lv["NetSuite_Location_ID__c"]: lv
        for lv in records_with(catalog_sandboxes.sf_admin, "Inventory_Level__c", Product__c=product["Id"])
    }
    assert levels[main]["Quantity_On_Hand__c"] == 12.0 and levels[east]["Quantity_On_Hand__c"] == 3.0
    assert levels[main]["Location_Name__c"] == "Main Warehouse"

    catalog_sandboxes.sf_admin.clear_requests()
    quiet = await sync_inventory_once(client, settings)
    assert quiet.written == 0 and _writes(catalog_sandboxes) == []

    _receive(catalog_sandboxes, item_id, east, 5)
    moved = await sync_inventory_once(client, settings)
    assert moved.since is not None
    assert (moved.products_updated, moved.levels_written) == (1, 1)
    assert _product(catalog_sandboxes, item_id)["Quantity_On_Hand__c"] == 20.0


def _receive(sandboxes: LocalSandboxes, item: str, location: str, quantity: float) -> None:
    sandboxes.ns_admin.post("/inventory/receive", {"item": item, "location": location, "quantity": quantity})


async def test_a_deal_for_more_than_the_stock_waits_until_the_inventory_sync_brings_it(
    client: Client, settings: Settings, catalog_sandboxes: LocalSandboxes
) -> None:
    """The whole chain: the catalog sync makes the product (and the order maps it to its item), the
    inventory sync puts its stock on it, a deal for more than that waits in awaiting_stock (hold), and
    the inventory sync that sees new stock tells the order, which then goes ahead."""
    ns, sf = catalog_sandboxes.ns_admin, catalog_sandboxes.sf_admin
    sku = _sku()
    ids = ns.load(
        {
            "inventoryItem": [{"itemId": sku, "price": _prices(("1", USD, 0, 50.0))}],
            "serviceSaleItem": [{"itemId": f"SVC-{sku}", "price": _prices(("1", USD, 0, 900.0))}],
        }
    )
    (item_id,), (service_id,) = ids["inventoryItem"], ids["serviceSaleItem"]
    main = min((loc["id"] for loc in ns.records("location")), key=int)
    _receive(catalog_sandboxes, item_id, main, 2)
    await _sync(client, settings)
    await sync_inventory_once(client, settings)
    product = _product(catalog_sandboxes, item_id)
    assert product["Quantity_Available__c"] == 2.0
    entry = _entries(catalog_sandboxes, product["Id"])[("standard", "USD")]
    service = _product(catalog_sandboxes, service_id)
    service_entry = _entries(catalog_sandboxes, service["Id"])[("standard", "USD")]
    (account,) = sf.load({"Account": [{"Name": f"Stock buyer {sku}", "CurrencyIsoCode": "USD"}]})["Account"]
    (opportunity,) = sf.load(
        {
            "Opportunity": [
                {
                    "Name": f"Deal {sku}",
                    "AccountId": account,
                    "StageName": "Closed Won",
                    "CloseDate": "2026-12-20",
                    "CurrencyIsoCode": "USD",
                }
            ]
        }
    )["Opportunity"]
    sf.load(
        {
            "OpportunityLineItem": [
                {"OpportunityId": opportunity, "PricebookEntryId": entry["Id"], "Quantity": 5},
                {"OpportunityId": opportunity, "PricebookEntryId": service_entry["Id"], "Quantity": 1},
            ]
        }
    )

    hold = settings.model_copy(update={"stock_shortfall": "hold"})
    await deal_closed(client, hold, DealClosed(opportunity_id=opportunity, source="test"))
    waiting = await wait_until_settled(client, opportunity, 60)
    assert waiting.stage is OrderStage.AWAITING_STOCK
    assert [(s.requested, s.available) for s in waiting.stock_shortfalls] == [(5, 2)]
    assert records_with(ns, "salesOrder", externalId=opportunity) == []

    _receive(catalog_sandboxes, item_id, main, 10)
    query = f'WorkflowId = "order:{opportunity}" AND Q2CStage = "awaiting_stock"'
    await until(lambda: _listed(client, query), "the waiting order in visibility")
    moved_id = f"inventory-test-{uuid.uuid4().hex[:8]}"
    moved = await sync_inventory_once(client, settings, workflow_id=moved_id)
    assert moved.orders_signalled >= 1
    await record_history(client, moved_id, "inventory_releases_an_order")

    done = await wait_until_settled(client, opportunity, 60, stages=ORDER_CREATED)
    (order,) = records_with(ns, "salesOrder", externalId=opportunity)
    assert done.sales_order_id == order["id"]
    assert [line["item"]["id"] for line in order["item"]["items"]] == [item_id, service_id]
    # The order's service line moved no stock: the service shows none (it is not stock-tracked).
    await sync_inventory_once(client, settings)
    assert _product(catalog_sandboxes, service_id)["Quantity_Available__c"] is None
    assert _product(catalog_sandboxes, item_id)["Quantity_Available__c"] == 7.0  # 12 less the 5 ordered


async def test_stock_of_an_item_with_no_product_yet_is_parked_until_the_catalog_sync_makes_it(
    client: Client, settings: Settings, catalog_sandboxes: LocalSandboxes
) -> None:
    ns = catalog_sandboxes.ns_admin
    await _sync(client, settings)
    await sync_inventory_once(client, settings)
    sku = _sku()
    (item_id,) = ns.load({"inventoryItem": [{"itemId": sku, "price": _prices(("1", USD, 0, 3.0))}]})[
        "inventoryItem"
    ]
    _receive(catalog_sandboxes, item_id, min((loc["id"] for loc in ns.records("location")), key=int), 4)

    early = await sync_inventory_once(client, settings)
    (parked,) = [p for p in early.parked if p.item == item_id]
    assert f"NetSuite item {item_id}" in parked.reason and "catalog sync" in parked.reason

    await _sync(client, settings)
    later = await sync_inventory_once(client, settings)
    assert item_id not in {p.item for p in later.parked}
    assert _product(catalog_sandboxes, item_id)["Quantity_On_Hand__c"] == 4.0
    assert (await sync_inventory_once(client, settings)).parked == []


async def _listed(client: Client, query: str) -> bool:
    return any([execution async for execution in client.list_workflows(query)])
