"""The catalog chapter of ``q2c demo``, before any deal closes: NetSuite's items, prices and stock reach
Salesforce's products and price books.

It runs the catalog sync (the products keyed in by hand before q2c are brought in line, the items only
NetSuite had are created, inactive ones stay inactive, quantity breaks are reported), changes a price in
NetSuite as a clerk would and syncs again, retires an item and shows its product following, runs the
inventory sync, and runs the catalog sync once more to show it writes nothing. A second demo finds the
price already changed and the item already retired and says so.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from q2c.config import Settings
from q2c.connectors.netsuite import NetSuiteClient
from q2c.domain.messages.catalog import CatalogStatus
from q2c_sandbox.admin_client import SandboxAdmin
from q2c_sandbox.seed import NEW_ITEMS, price_matrix
from temporal_client.schedules import ensure_catalog_schedules, sync_catalog_once, sync_inventory_once
from workflows import names

PRICE_CHANGE = ("WID-100", "EUR", Decimal("112.00"))  # a clerk raises the Widget's euro price
RETIRED = NEW_ITEMS[0][0]  # GW-X0, superseded by GW-X1
CURRENCIES = ("USD", "EUR", "GBP", "CAD")
NETSUITE_CURRENCY = {"USD": "1", "GBP": "2", "CAD": "3", "EUR": "4"}


def _summary(status: CatalogStatus, *, stock: bool = False) -> str:
    if stock:
        parts = [
            f"{status.products_updated} products' totals and {status.levels_written} inventory levels written"
        ]
    else:
        parts = [
            f"{status.items_read} items read",
            f"products {status.products_created} created / {status.products_updated} updated",
            f"entries {status.entries_created} created / {status.entries_updated} updated",
        ]
    parts.append(f"{status.records_unchanged} unchanged")
    return ", ".join(parts)


def _products(sf_admin: SandboxAdmin) -> dict[str, dict[str, Any]]:
    return {p["ProductCode"]: p for p in sf_admin.records("Product2") if p.get("NetSuite_Internal_ID__c")}


def _prices(sf_admin: SandboxAdmin) -> dict[tuple[str, str], dict[str, Any]]:
    standard = {b["Id"] for b in sf_admin.records("Pricebook2") if b.get("IsStandard")}
    codes = {p["Id"]: p["ProductCode"] for p in sf_admin.records("Product2")}
    return {
        (codes[e["Product2Id"]], e["CurrencyIsoCode"]): e
        for e in sf_admin.records("PricebookEntry")
        if e["Pricebook2Id"] in standard and not e.get("IsDeleted")
    }


def _catalog_table(sf_admin: SandboxAdmin) -> Table:
    table = Table(title="Salesforce products and standard prices, from NetSuite")
    for column in ("Product", "Code", "Type", "Active", *CURRENCIES, "Available"):
        table.add_column(column)
    prices = _prices(sf_admin)
    for code, product in sorted(_products(sf_admin).items()):
        cells = []
        for currency in CURRENCIES:
            entry = prices.get((code, currency))
            cells.append(
                "-"
                if entry is None
                else f"{entry['UnitPrice']:,.2f}" + ("" if entry["IsActive"] else " (off)")
            )
        available = product.get("Quantity_Available__c")
        table.add_row(
            product["Name"],
            code,
            product.get("NetSuite_Item_Type__c") or "-",
            "yes" if product["IsActive"] else "no",
            *cells,
            "-" if available is None else f"{available:g}",
        )
    return table


async def run_catalog(
    console: Console,
    client: Client,
    settings: Settings,
    netsuite: NetSuiteClient,
    sf_admin: SandboxAdmin,
    ns_admin: SandboxAdmin,
) -> None:
    console.rule("Catalog, prices and stock: NetSuite -> Salesforce")
    done = await ensure_catalog_schedules(client, settings, paused=True)
    console.print(
        f"Schedules {names.CATALOG_SCHEDULE} ({done[0]}, every {settings.catalog_sync_interval_seconds:g}s) and "
        f"{names.INVENTORY_SCHEDULE} ({done[1]}, every {settings.inventory_sync_interval_seconds:g}s; "
        f"{names.INVENTORY_FULL_SCHEDULE} {done[2]}, every {settings.inventory_full_sync_interval_seconds:g}s); "
        "paused while the demo syncs at its own steps."
    )
    try:
        await _story(console, client, settings, netsuite, sf_admin, ns_admin)
    finally:
        for schedule in (names.CATALOG_SCHEDULE, names.INVENTORY_SCHEDULE, names.INVENTORY_FULL_SCHEDULE):
            await client.get_schedule_handle(schedule).unpause(note="q2c demo: catalog chapter done")


async def _story(
    console: Console,
    client: Client,
    settings: Settings,
    netsuite: NetSuiteClient,
    sf_admin: SandboxAdmin,
    ns_admin: SandboxAdmin,
) -> None:
    first = await sync_catalog_once(client, settings)
    console.print(f"Catalog sync: {_summary(first)}.")
    for note in first.notes:
        console.print(f"  reported ({note.kind.replace('_', ' ')}): {note.message}", soft_wrap=True)
    for parked in first.parked:
        console.print(f"  [yellow]parked:[/] {parked.reason}", soft_wrap=True)

    inventory = await sync_inventory_once(client, settings)
    console.print(
        f"Inventory sync: {inventory.items_read} inventory items, {_summary(inventory, stock=True)}."
    )
    console.print(_catalog_table(sf_admin))

    code, currency, price = PRICE_CHANGE
    items = {i["itemId"]: i for t in ("inventoryItem",) for i in ns_admin.records(t)}
    item = items[code]
    cells = {
        (line["priceLevel"]["id"], line["currency"]["id"], line.get("quantity") or 0): line
        for line in _price_lines(item)
    }
    current = cells.get(("1", NETSUITE_CURRENCY[currency], 0))
    before = _prices(sf_admin)[(code, currency)]["UnitPrice"]
    if current is not None and Decimal(str(current["price"])) == price:
        console.print(
            f"{code}'s {currency} price is already {price} in NetSuite (changed on an earlier run)."
        )
    else:
        matrix = price_matrix(code, f"{Decimal(str(item.get('basePrice'))):.2f}")
        for line in matrix["items"]:
            if line["currency"]["id"] == NETSUITE_CURRENCY[currency] and not line["quantity"]:
                line["price"] = float(price)
        await netsuite.patch("inventoryItem", item["id"], {"price": matrix}, replace="price")
        changed = await sync_catalog_once(client, settings)
        after = _prices(sf_admin)[(code, currency)]["UnitPrice"]
        console.print(
            f"A clerk changed {code}'s {currency} price in NetSuite. Catalog sync: {_summary(changed)}; the "
            f"standard price book now says {after:,.2f} (was {before:,.2f}), and the starter kit, which holds "
            f"two, {_prices(sf_admin)[('KIT-START', currency)]['UnitPrice']:,.2f}."
        )

    retired = next(i for i in ns_admin.records("inventoryItem") if i["itemId"] == RETIRED)
    if retired.get("isInactive"):
        console.print(f"{RETIRED} was retired in NetSuite on an earlier run.")
    else:
        await netsuite.patch("inventoryItem", retired["id"], {"isInactive": True})
        gone = await sync_catalog_once(client, settings)
        console.print(f"{RETIRED} retired in NetSuite. Catalog sync: {_summary(gone)}.")
    product = _products(sf_admin)[RETIRED]
    entries = [e for (c, _), e in _prices(sf_admin).items() if c == RETIRED]
    console.print(
        f"  Salesforce: product {RETIRED} active={product['IsActive']}, its {len(entries)} price book entries "
        f"active={sorted({e['IsActive'] for e in entries})} (deactivated, never deleted)."
    )
    widget = _products(sf_admin)["WID-200"]
    console.print(
        f"Stock on a product: Widget Pro has {widget.get('Quantity_On_Hand__c'):g} on hand, "
        f"{widget.get('Quantity_Available__c'):g} available across "
        f"{len([lv for lv in sf_admin.records('Inventory_Level__c') if lv.get('Product__c') == widget['Id']])} "
        "locations (Inventory_Level__c)."
    )
    rerun = await sync_catalog_once(client, settings)
    console.print(f"The catalog sync again, nothing changed in NetSuite: {rerun.written} records written.")


def _price_lines(item: dict[str, Any]) -> list[dict[str, Any]]:
    price = item.get("price") or {}
    return list(price.get("items") or []) if isinstance(price, dict) else list(price)
