"""The catalog sync: NetSuite items and prices -> Salesforce Product2 and PricebookEntry, and the inventory
sync: NetSuite stock -> Product2 totals and Inventory_Level__c. NetSuite is master of both.

Started by the ``sync-catalog`` and ``sync-inventory`` Temporal Schedules (pausable in the web UI), by
``q2c sync-catalog`` / ``q2c sync-inventory``, or by ``temporal workflow start``.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.catalog import NetSuiteCatalogActivities, SalesforceCatalogActivities
    from activities.mapping import MappingActivities
    from activities.sync_state import SyncStateActivities
    from q2c.domain.catalog import CatalogNote, CatalogPage, CatalogRules, InventoryPage, plan_catalog
    from q2c.domain.mapping import catalog_rules
    from q2c.domain.messages import LoadMapping, StockChanged
    from q2c.domain.messages.catalog import (
        CATALOG_SYNC,
        INVENTORY_SYNC,
        NOTES_KEPT,
        ApplyCatalogPage,
        ApplyStockPage,
        CatalogStatus,
        CatalogSyncInput,
        InventorySyncInput,
        LoadSyncState,
        NewestChange,
        PageResult,
        ReadCatalogPage,
        ReadStockPage,
        ResolvePriceBooks,
        SaveSyncState,
        SyncOptions,
    )
    from workflows import names
    from workflows.calls import ActivityCalls

# A page's reads and writes take a few seconds; a real org's latency and retries need more room.
PAGE_TIMEOUT_SECONDS = 300.0


def _calls(options: SyncOptions) -> ActivityCalls:
    timeout = max(PAGE_TIMEOUT_SECONDS, options.activity_timeout_seconds)
    return ActivityCalls(options, parks=False, start_to_close_seconds=timeout)


def _count(status: CatalogStatus, result: PageResult) -> None:
    status.add(result)
    settled = set(result.succeeded)
    refused = {p.item for p in result.problems}
    status.parked = [p for p in status.parked if p.item not in settled | refused]
    status.parked_count += len(result.problems)
    room = max(0, NOTES_KEPT - len(status.parked))
    status.parked += result.problems[:room]


def _note(status: CatalogStatus, notes: list[CatalogNote]) -> None:
    for note in notes:
        status.notes_by_kind[note.kind] = status.notes_by_kind.get(note.kind, 0) + 1
        if len(status.notes) < NOTES_KEPT:
            status.notes.append(note)


def _details(what: str, status: CatalogStatus) -> str:
    scope = "everything" if status.since is None else f"changes since {status.since} (NetSuite time)"
    lines = [
        f"**{what}** — {scope}; page {status.pages}, run {status.runs}" + (" — done" if status.done else ""),
        f"- items read: {status.items_read}",
        f"- products created {status.products_created}, updated {status.products_updated}",
        f"- price book entries created {status.entries_created}, updated {status.entries_updated}",
    ]
    if status.levels_written:
        lines.append(f"- inventory levels written: {status.levels_written}")
    lines.append(f"- unchanged records: {status.records_unchanged}")
    if status.not_in_catalog:
        lines.append(f"- items with no product in Salesforce yet: {status.not_in_catalog}")
    for kind, count in sorted(status.notes_by_kind.items()):
        lines.append(f"- reported ({kind}): {count}")
    if status.parked_count:
        lines.append(f"- **parked items: {len(status.parked)}** (retried by every later run)")
        lines += [f"  - {p.reason}" for p in status.parked[:10]]
    return "\n".join(lines)


@workflow.defn(name=names.CATALOG_WORKFLOW)
class CatalogSync:
    """One catalog sync. Id ``catalog`` (the schedule's runs get a time suffix).

    Steps: load the watermark and the items parked by earlier runs; note NetSuite's newest item change
    (the next watermark); resolve the mapping's price books to Pricebook2 ids (creating a missing custom
    one); read the parked items again; then page through the items changed since the watermark (every
    item on a first or ``full`` run), ``page_size`` at a time by id: for each page, plan the products and
    entries (``q2c.domain.catalog.plan_catalog``, deterministic) and write what differs in Salesforce.
    What Salesforce refuses for one item parks that item, visibly (details, status, result, and q2c's
    store, written by the page write itself, so every one is kept) while the rest goes on; every later
    run reads the parked items first and unparks those it writes. Prices changed in NetSuite change the
    item's modification date, so they are read with it; item groups with a changed member are read
    again after the pages (their own date does not move). After ``pages_per_run`` pages it continues as
    new, carrying its progress. Last, it saves the watermark; a failed run saved none, and the next run
    does the same pages again, writing only what is still different.
    """

    @workflow.init
    def __init__(self, request: CatalogSyncInput) -> None:
        self._status = request.resume or CatalogStatus(full=request.full)

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> CatalogStatus:
        return self._status

    @workflow.run
    async def run(self, request: CatalogSyncInput) -> CatalogStatus:
        call = _calls(request.options)
        status = self._status
        rules, books = request.rules, request.price_books
        if request.resume is None:
            state = await call(SyncStateActivities.load_sync_state, LoadSyncState(name=CATALOG_SYNC))
            newest = await call(NetSuiteCatalogActivities.newest_netsuite_change, NewestChange(kind="items"))
            status.newest = newest.watermark
            status.since = None if request.full else state.watermark
            status.retry_items = [p.item for p in state.parked]
            mapping = await call(MappingActivities.load_mapping, LoadMapping())
            rules = catalog_rules(mapping)
            resolved = await call(
                SalesforceCatalogActivities.resolve_price_books,
                ResolvePriceBooks(names=[rule.price_book for rule in rules.price_books]),
            )
            books = resolved.ids
            request = request.model_copy(
                update={"rules": rules, "price_books": books, "item_types": mapping.catalog.item_types}
            )
            workflow.set_current_details(_details("Catalog sync", status))
        assert rules is not None
        filters = {
            "item_types": request.item_types,
            "price_levels": [rule.price_level for rule in rules.price_books],
            "currencies": sorted(set(rules.currencies.values())),
        }

        async def read_ids(ids: list[str], what: str) -> None:
            for start in range(0, len(ids), request.page_size):
                batch = ids[start : start + request.page_size]
                page = await call(
                    NetSuiteCatalogActivities.read_catalog_page,
                    ReadCatalogPage(item_ids=batch, page_size=len(batch), **filters),
                    summary=f"Read {len(batch)} {what}",
                )
                await self._apply(call, page, rules, books)

        retry, status.retry_items = status.retry_items, []
        await read_ids(retry, "parked items again")

        def read_after(after: str) -> asyncio.Task[CatalogPage]:
            return asyncio.create_task(
                call(
                    NetSuiteCatalogActivities.read_catalog_page,
                    ReadCatalogPage(after=after, since=status.since, page_size=request.page_size, **filters),
                    summary=f"Read items after id {after}",
                )
            )

        # The next page is read from NetSuite while this one is written to Salesforce.
        page = await read_after(status.after)
        pages_this_run = 0
        while True:
            pages_this_run += 1
            rest_in_next_run = (
                pages_this_run >= request.pages_per_run or workflow.info().is_continue_as_new_suggested()
            )
            following = (
                read_after(page.last_id or status.after) if page.more and not rest_in_next_run else None
            )
            await self._apply(call, page, rules, books)
            status.after = page.last_id or status.after
            if not page.more:
                break
            if following is None:
                status.runs += 1
                workflow.continue_as_new(request.model_copy(update={"resume": status}))
            page = await following
        regroup, status.regroup_items = status.regroup_items, []
        await read_ids(regroup, "item groups whose members changed")
        await call(
            SyncStateActivities.save_sync_state, SaveSyncState(name=CATALOG_SYNC, watermark=status.newest)
        )
        status.done = True
        workflow.set_current_details(_details("Catalog sync", status))
        return status

    async def _apply(
        self, call: ActivityCalls, page: CatalogPage, rules: CatalogRules, books: dict[str, str]
    ) -> None:
        status = self._status
        status.pages += 1
        status.items_read += len(page.items)
        if page.containing_groups:
            known = set(status.regroup_items)
            status.regroup_items += [g for g in page.containing_groups if g not in known]
        if not page.items:
            return
        plan = plan_catalog(page, rules)
        _note(status, plan.notes)
        result = await call(
            SalesforceCatalogActivities.apply_catalog_page,
            ApplyCatalogPage(plan=plan, price_books=books, currencies=sorted(rules.currencies)),
            summary=f"Write {len(plan.products)} products and {len(plan.entries)} entries where they differ",
        )
        _count(status, result)
        workflow.set_current_details(_details("Catalog sync", status))


@workflow.defn(name=names.INVENTORY_WORKFLOW)
class InventorySync:
    """One inventory sync. Id ``inventory`` (the schedule's runs get a time suffix).

    Steps: load the watermark; note NetSuite's newest stock-moving transaction (the next watermark); page
    through the inventory items on orders, fulfilments and adjustments modified since the watermark
    (every inventory item on a first or ``full`` run), reading their stock per location; write to
    Salesforce the Product2 totals and Inventory_Level__c records that differ. Items parked by earlier
    runs are read first; an item with no product in Salesforce yet, or whose write Salesforce refused,
    is parked (named, in q2c's store) and retried by every later run. When anything changed, orders
    waiting for stock (stage ``awaiting_stock``) are told (``stock_changed``) and re-check. Then the
    watermark is saved. The ``sync-inventory-full`` schedule runs it ``full`` once a day, for what no
    transaction shows (a deleted order's released stock).
    """

    @workflow.init
    def __init__(self, request: InventorySyncInput) -> None:
        self._status = request.resume or CatalogStatus(full=request.full)

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> CatalogStatus:
        return self._status

    @workflow.run
    async def run(self, request: InventorySyncInput) -> CatalogStatus:
        call = _calls(request.options)
        status = self._status
        if request.resume is None:
            state = await call(SyncStateActivities.load_sync_state, LoadSyncState(name=INVENTORY_SYNC))
            newest = await call(NetSuiteCatalogActivities.newest_netsuite_change, NewestChange(kind="stock"))
            status.newest = newest.watermark
            status.since = None if request.full or state.watermark is None else state.watermark
            if request.per_location is None:
                mapping = await call(MappingActivities.load_mapping, LoadMapping())
                request = request.model_copy(update={"per_location": mapping.inventory.per_location})
            status.retry_items = [p.item for p in state.parked]
        per_location = bool(request.per_location)
        stamp = workflow.now().strftime("%Y-%m-%dT%H:%M:%S.000+0000")

        async def write(page: InventoryPage) -> None:
            status.pages += 1
            status.items_read += len(page.items)
            if page.items:
                result = await call(
                    SalesforceCatalogActivities.apply_stock_page,
                    ApplyStockPage(page=page, per_location=per_location, stamp=stamp),
                    summary=f"Write the stock of {len(page.items)} items where it differs",
                )
                _count(status, result)
            workflow.set_current_details(_details("Inventory sync", status))

        retry, status.retry_items = status.retry_items, []
        for start in range(0, len(retry), request.page_size):
            batch = retry[start : start + request.page_size]
            await write(
                await call(
                    NetSuiteCatalogActivities.read_stock_page,
                    ReadStockPage(item_ids=batch, page_size=len(batch)),
                    summary=f"Read the stock of {len(batch)} parked items again",
                )
            )
        pages_this_run = 0
        while True:
            page = await call(
                NetSuiteCatalogActivities.read_stock_page,
                ReadStockPage(after=status.after, since=status.since, page_size=request.page_size),
                summary=f"Read stock of items after id {status.after}",
            )
            await write(page)
            status.after = page.last_id or status.after
            pages_this_run += 1
            if not page.more:
                break
            if pages_this_run >= request.pages_per_run or workflow.info().is_continue_as_new_suggested():
                status.runs += 1
                workflow.continue_as_new(request.model_copy(update={"resume": status}))
        if status.products_updated or status.levels_written:
            told = await call(
                SyncStateActivities.tell_orders_awaiting_stock,
                StockChanged(reason=f"inventory sync: stock of {status.products_updated} products changed"),
            )
            status.orders_signalled = told.signalled
        await call(
            SyncStateActivities.save_sync_state, SaveSyncState(name=INVENTORY_SYNC, watermark=status.newest)
        )
        status.done = True
        workflow.set_current_details(_details("Inventory sync", status))
        return status
