"""Catalog and inventory activities: NetSuite reads on NetSuite's task queue (within q2c's share of the
account's concurrency limit), Salesforce writes on q2c's queue.

A Salesforce page write reads what Salesforce has for the page's items, then writes only what differs, so
a retried or repeated page writes nothing twice. Whatever Salesforce refuses for one record parks that
item (reported with Salesforce's error) and the rest of the page is written.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from typing import ClassVar

from temporalio import activity

from activities.errors import api_errors
from q2c.connectors.netsuite import NetSuiteClient, parse_netsuite_time
from q2c.connectors.netsuite_catalog import NetSuiteCatalog, netsuite_time
from q2c.connectors.salesforce import SalesforceClient
from q2c.connectors.salesforce_catalog import RecordOutcome, SalesforceCatalog
from q2c.domain.catalog import (
    PRODUCT_EXTERNAL_ID,
    STANDARD_PRICE_BOOK,
    CatalogPage,
    EntryCreate,
    EntryUpdate,
    InventoryPage,
    diff_entries,
    diff_products,
    plan_inventory,
)
from q2c.domain.messages import WatermarkValue
from q2c.domain.messages.catalog import (
    CATALOG_SYNC,
    INVENTORY_SYNC,
    ApplyCatalogPage,
    ApplyStockPage,
    NewestChange,
    PageResult,
    ParkedItem,
    PriceBookIds,
    ReadCatalogPage,
    ReadStockPage,
    ResolvePriceBooks,
)
from q2c.store import ParkedRecord, Store
from workflows import names


def _since(value: str | None) -> dt.datetime | None:
    return parse_netsuite_time(value) if value else None


class NetSuiteCatalogActivities:
    task_queue: ClassVar[str] = names.NETSUITE_TASK_QUEUE

    def __init__(self, client: NetSuiteClient) -> None:
        self._catalog = NetSuiteCatalog(client)

    @activity.defn(name="newest_netsuite_change")
    async def newest_netsuite_change(self, request: NewestChange) -> WatermarkValue:
        """NetSuite's newest item change (``items``) or stock-moving transaction (``stock``): where the
        next incremental run starts reading."""
        with api_errors():
            newest = await (
                self._catalog.newest_item_change()
                if request.kind == "items"
                else self._catalog.newest_stock_change()
            )
        return WatermarkValue(watermark=netsuite_time(newest) if newest else None)

    @activity.defn(name="read_catalog_page")
    async def read_catalog_page(self, request: ReadCatalogPage) -> CatalogPage:
        with api_errors():
            return await self._catalog.catalog_page(
                after=request.after,
                since=_since(request.since),
                item_types=request.item_types,
                page_size=request.page_size,
                item_ids=request.item_ids,
                price_levels=request.price_levels,
                currencies=request.currencies,
            )

    @activity.defn(name="read_stock_page")
    async def read_stock_page(self, request: ReadStockPage) -> InventoryPage:
        with api_errors():
            return await self._catalog.stock_page(
                after=request.after,
                since=_since(request.since),
                page_size=request.page_size,
                item_ids=request.item_ids,
            )


class SalesforceCatalogActivities:
    """The Salesforce writes of both syncs. Each page write also parks (in q2c's store) the items
    Salesforce refused and unparks those written, so every parked item is kept, however many, and
    retried by the next run."""

    task_queue: ClassVar[str] = names.TASK_QUEUE

    def __init__(self, client: SalesforceClient, store: Store) -> None:
        self._catalog = SalesforceCatalog(client)
        self._store = store

    @activity.defn(name="resolve_price_books")
    async def resolve_price_books(self, request: ResolvePriceBooks) -> PriceBookIds:
        """The Pricebook2 id of each price book the mapping names; a custom one missing is created."""
        with api_errors():
            rows = await asyncio.to_thread(self._catalog.price_books)
            ids: dict[str, str] = {}
            created: list[str] = []
            for name in request.names:
                if name == STANDARD_PRICE_BOOK:
                    match = next((r for r in rows if r.get("IsStandard")), None)
                else:
                    match = next((r for r in rows if r.get("Name") == name and not r.get("IsStandard")), None)
                if match is not None:
                    ids[name] = match["Id"]
                elif name == STANDARD_PRICE_BOOK:
                    raise RuntimeError("the org has no standard price book (Pricebook2 with IsStandard)")
                else:
                    ids[name] = await asyncio.to_thread(self._catalog.create_price_book, name)
                    created.append(name)
        return PriceBookIds(ids=ids, created=created)

    @activity.defn(name="apply_catalog_page")
    async def apply_catalog_page(self, request: ApplyCatalogPage) -> PageResult:
        with api_errors():
            result = await asyncio.to_thread(self._apply_catalog, request)
        await asyncio.to_thread(self._park, CATALOG_SYNC, result)
        return result

    def _park(self, name: str, result: PageResult) -> None:
        parked = [ParkedRecord(poller=name, record_id=p.item, reason=p.reason) for p in result.problems]
        self._store.update_parked(name, parked, result.succeeded)

    def _apply_catalog(self, request: ApplyCatalogPage) -> PageResult:
        plan = request.plan
        result = PageResult()
        codes = {spec.item: str(spec.fields.get("ProductCode") or spec.item) for spec in plan.products}
        problems: dict[str, str] = {}
        existing = self._catalog.products([spec.item for spec in plan.products])
        product_ids = {item: p.id for item, p in existing.items()}
        changed = diff_products(plan.products, existing)
        records = [
            {"attributes": {"type": "Product2"}, PRODUCT_EXTERNAL_ID: spec.item, **spec.fields}
            for spec in changed
        ]
        for spec, outcome in zip(changed, self._catalog.upsert_products(records), strict=True):
            if outcome.error is not None:
                problems[spec.item] = f"Product2 upsert refused: {outcome.error}"
                product_ids.pop(spec.item, None)
                continue
            assert outcome.id is not None
            product_ids[spec.item] = outcome.id
            if outcome.created:
                result.products_created += 1
            else:
                result.products_updated += 1
        result.records_unchanged += len(plan.products) - len(changed)
        # A product created just now has no entries yet: only those that existed are read.
        known = sorted(product_ids[item] for item in existing if item in product_ids)
        entries = self._catalog.entries(known) if known else []
        wanted = [e for e in plan.entries if e.item in product_ids]
        creates, updates = diff_entries(wanted, entries, product_ids, request.price_books, request.currencies)
        # A custom price needs an active standard price: standard prices are created and (re)activated
        # in calls before any custom one; an item whose standard price was refused gets no custom one.
        for standard in (True, False):
            new = [c for c in creates if c.standard is standard and c.item not in problems]
            outcomes = self._catalog.create([c.record() for c in new], "PricebookEntry")
            result.entries_created += _tally(new, outcomes, problems, "PricebookEntry create refused")
            changed_entries = [u for u in updates if u.standard is standard and u.item not in problems]
            outcomes = self._catalog.update([u.record() for u in changed_entries], "PricebookEntry")
            result.entries_updated += _tally(
                changed_entries, outcomes, problems, "PricebookEntry update refused"
            )
        result.records_unchanged += max(0, len(wanted) - len(creates) - len(updates))
        result.problems = [
            ParkedItem(item=item, item_code=codes.get(item, ""), reason=f"{codes.get(item, item)}: {reason}")
            for item, reason in sorted(problems.items())
        ]
        result.succeeded = [spec.item for spec in plan.products if spec.item not in problems]
        return result

    @activity.defn(name="apply_stock_page")
    async def apply_stock_page(self, request: ApplyStockPage) -> PageResult:
        with api_errors():
            result = await asyncio.to_thread(self._apply_stock, request)
        await asyncio.to_thread(self._park, INVENTORY_SYNC, result)
        return result

    def _apply_stock(self, request: ApplyStockPage) -> PageResult:
        existing = self._catalog.stock(request.page.items) if request.page.items else {}
        writes = plan_inventory(
            existing=existing, page=request.page, per_location=request.per_location, stamp=request.stamp
        )

        def named(item: str) -> str:
            code = existing[item].code if item in existing else ""
            return f"{code} (NetSuite item {item})" if code else f"NetSuite item {item}"

        problems: dict[str, str] = {
            item: f"{named(item)}: no Salesforce product has NetSuite_Internal_ID__c {item} yet, so its stock "
            "cannot be shown; the catalog sync creates it (check the item's type is in [catalog] item_types), "
            "then the next inventory sync writes it"
            for item in writes.not_in_catalog
        }
        item_of_product = {stock.product_id: item for item, stock in existing.items()}
        outcomes = self._catalog.update(writes.product_updates, "Product2 stock")
        for record, outcome in zip(writes.product_updates, outcomes, strict=True):
            if outcome.error is not None:
                item = item_of_product[record["Id"]]
                problems[item] = f"{named(item)}: Product2 stock update refused: {outcome.error}"
        levels = self._catalog.upsert_levels(writes.level_upserts)
        for record, outcome in zip(writes.level_upserts, levels, strict=True):
            if outcome.error is not None:
                item = str(record["NetSuite_Key__c"]).split(":", 1)[0]
                problems[item] = (
                    f"{named(item)}: Inventory_Level__c {record['NetSuite_Key__c']} refused: {outcome.error}"
                )
        written = len(writes.product_updates) + len(writes.level_upserts)
        return PageResult(
            products_updated=sum(1 for o in outcomes if o.error is None),
            levels_written=sum(1 for o in levels if o.error is None),
            records_unchanged=max(0, len(request.page.items) - len(writes.not_in_catalog) - written),
            not_in_catalog=len(writes.not_in_catalog),
            problems=[
                ParkedItem(item=i, item_code=existing[i].code if i in existing else "", reason=r)
                for i, r in sorted(problems.items())
            ],
            succeeded=[i for i in request.page.items if i not in problems],
        )


def _tally(
    writes: Sequence[EntryCreate | EntryUpdate],
    outcomes: list[RecordOutcome],
    problems: dict[str, str],
    what: str,
) -> int:
    done = 0
    failed: dict[str, list[str]] = defaultdict(list)
    for write, outcome in zip(writes, outcomes, strict=True):
        if outcome.error is None:
            done += 1
        elif isinstance(write, EntryCreate) and outcome.error.startswith("DUPLICATE_VALUE"):
            # Another sync (one started by hand beside the schedule's) made this entry since this page
            # read the entries: it exists, and the next run compares its price.
            continue
        else:
            failed[write.item].append(outcome.error)
    for item, errors in failed.items():
        problems.setdefault(item, f"{what}: {'; '.join(errors)}")
    return done
