"""NetSuite catalog and stock reads, in SuiteQL: items, their price matrix, group members, stock per item
and location, and what changed since a time.

Every read pages by id (``id > last``), never by offset, so a catalog of any size is reachable (offset
paging stops at 100,000 rows) and a page is one call. Prices come from the ``pricing`` table rather than
the item record's price sublist: one query prices a whole page of items, and its shape does not vary by
account the way the record API's price matrix does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from q2c.connectors.netsuite import NetSuiteClient, parse_netsuite_time
from q2c.connectors.netsuite_billing import IN_LIST, PAGE, SUITEQL_TIME, literal_id, suiteql_time
from q2c.domain.catalog import CatalogItem, CatalogPage, GroupMember, InventoryPage, ItemPrice, StockLevel

# Transactions that move stock: orders commit it, fulfilments ship it, adjustments, receipts, transfers,
# counts and assembly builds move it, purchase orders put it on order. (A deleted transaction leaves
# nothing to find: the daily full run, Schedule sync-inventory-full, catches what it changed.)
STOCK_TRANSACTIONS = (
    "SalesOrd",
    "ItemShip",
    "InvAdjst",
    "ItemRcpt",
    "PurchOrd",
    "TrnfrOrd",
    "InvTrnfr",
    "InvCount",
    "Build",
    "Unbuild",
    "RtnAuth",
)
_ITEM_COLUMNS = (
    "i.id, i.itemid, i.displayname, i.description, i.itemtype, i.isinactive, "
    "TO_CHAR(i.lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS modified"
)


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _ids(values: Iterable[str]) -> str:
    return ", ".join(literal_id(v) for v in values)


def _quoted(values: Iterable[str]) -> str:
    out = []
    for value in values:
        if not value.replace("_", "").isalnum():
            raise ValueError(f"{value!r} is not a NetSuite type code")
        out.append(f"'{value}'")
    return ", ".join(out)


def _chunks(values: list[str], size: int = IN_LIST) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class NetSuiteCatalog:
    def __init__(self, client: NetSuiteClient) -> None:
        self._client = client

    async def newest_item_change(self) -> dt.datetime | None:
        return await self._newest(
            "SELECT TO_CHAR(MAX(i.lastmodifieddate), 'YYYY-MM-DD HH24:MI:SS') AS m FROM item i"
        )

    async def newest_stock_change(self) -> dt.datetime | None:
        return await self._newest(
            "SELECT TO_CHAR(MAX(t.lastmodifieddate), 'YYYY-MM-DD HH24:MI:SS') AS m FROM transaction t "
            f"WHERE t.type IN ({_quoted(STOCK_TRANSACTIONS)})"
        )

    async def _newest(self, query: str) -> dt.datetime | None:
        page = await self._client.suiteql(query, limit=1)
        rows = page.get("items") or []
        return parse_netsuite_time(str(rows[0]["m"])) if rows and rows[0].get("m") else None

    async def catalog_page(
        self,
        *,
        after: str,
        since: dt.datetime | None,
        item_types: list[str],
        page_size: int,
        item_ids: list[str] | None = None,
        price_levels: list[str] | None = None,
        currencies: list[str] | None = None,
    ) -> CatalogPage:
        """Items with id > ``after`` (changed since ``since``, or the ``item_ids`` given), with every
        price row and group member of them: 2 to 4 calls for up to ``page_size`` items."""
        where = [f"i.itemtype IN ({_quoted(item_types)})", f"i.id > {literal_id(after)}"]
        if since is not None:
            where.append(f"i.lastmodifieddate >= {suiteql_time(since)}")
        if item_ids is not None:
            if not item_ids:
                return CatalogPage(items=[])
            where.append(f"i.id IN ({_ids(item_ids)})")
        page = await self._client.suiteql(
            f"SELECT {_ITEM_COLUMNS} FROM item i WHERE {' AND '.join(where)} ORDER BY i.id",
            limit=min(page_size, PAGE),
        )
        rows = page.get("items") or []
        items = [
            CatalogItem(
                id=str(row["id"]),
                item_id=str(row.get("itemid") or row["id"]),
                display_name=row.get("displayname") or None,
                description=row.get("description") or None,
                item_type=str(row.get("itemtype") or ""),
                inactive=str(row.get("isinactive") or "F").upper() == "T",
            )
            for row in rows
        ]
        ids = [item.id for item in items]
        prices = await self.prices(ids, price_levels, currencies)
        group_ids = [item.id for item in items if item.item_type == "Group"]
        members = await self.members(group_ids) if group_ids else []
        outside = sorted({m.item for m in members} - set(ids), key=int)
        containing: list[str] = []
        if (since is not None or item_ids is not None) and len(group_ids) < len(ids):
            containing = sorted(set(await self.groups_containing(ids)) - set(group_ids), key=int)
        return CatalogPage(
            items=items,
            prices=prices,
            members=members,
            member_prices=await self.prices(outside, price_levels, currencies) if outside else [],
            last_id=ids[-1] if ids else after,
            more=bool(page.get("hasMore")),
            containing_groups=containing,
        )

    async def groups_containing(self, item_ids: list[str]) -> list[str]:
        """The item groups with any of these items as a member."""
        found: list[str] = []
        for chunk in _chunks(item_ids):
            rows = await self._client.suiteql_rows(
                f"SELECT DISTINCT m.parentitem FROM itemmember m WHERE m.item IN ({_ids(chunk)}) ORDER BY m.parentitem"
            )
            found += [str(row["parentitem"]) for row in rows]
        return found

    async def prices(
        self, item_ids: list[str], price_levels: list[str] | None = None, currencies: list[str] | None = None
    ) -> list[ItemPrice]:
        """The price rows of these items, only in these price levels and currencies when given."""
        found: list[ItemPrice] = []
        only = ""
        if price_levels is not None:
            only += f" AND p.pricelevel IN ({_ids(price_levels) or 'NULL'})"
        if currencies is not None:
            only += f" AND p.currency IN ({_ids(currencies) or 'NULL'})"
        # One page's price rows (items x levels x currencies x breaks) are a few thousand at most, so
        # offset paging inside one IN list stays far below SuiteQL's 100,000-row reach.
        for chunk in _chunks(item_ids):
            rows = await self._client.suiteql_rows(
                "SELECT p.item, p.pricelevel, p.currency, p.quantity, p.unitprice FROM pricing p "
                f"WHERE p.item IN ({_ids(chunk)}){only} ORDER BY p.item, p.pricelevel, p.currency, p.quantity"
            )
            found += [
                ItemPrice(
                    item=str(row["item"]),
                    price_level=str(row["pricelevel"]),
                    currency=str(row["currency"]),
                    quantity=_decimal(row.get("quantity")),
                    unit_price=_decimal(row.get("unitprice")),
                )
                for row in rows
            ]
        return found

    async def members(self, group_ids: list[str]) -> list[GroupMember]:
        found: list[GroupMember] = []
        for chunk in _chunks(group_ids):
            rows = await self._client.suiteql_rows(
                "SELECT m.parentitem, m.item, i.itemid, m.quantity FROM itemmember m JOIN item i ON i.id = m.item "
                f"WHERE m.parentitem IN ({_ids(chunk)}) ORDER BY m.parentitem, m.item"
            )
            found += [
                GroupMember(
                    parent=str(row["parentitem"]),
                    item=str(row["item"]),
                    item_code=str(row.get("itemid") or row["item"]),
                    quantity=_decimal(row.get("quantity")) or Decimal(1),
                )
                for row in rows
            ]
        return found

    async def stock_page(
        self, *, after: str, since: dt.datetime | None, page_size: int, item_ids: list[str] | None = None
    ) -> InventoryPage:
        """Inventory items with id > ``after`` whose stock may have changed since ``since`` (every one when
        None; the ``item_ids`` given when they are): those on a stock-moving transaction modified since
        then. Then their stock per location, leaving out locations that hold, expect and owe nothing (a
        location that drops to nothing is written as zero from what Salesforce shows)."""
        where = ["i.itemtype = 'InvtPart'", f"i.id > {literal_id(after)}"]
        if item_ids is not None:
            if not item_ids:
                return InventoryPage(items=[], levels=[], last_id=after)
            where.append(f"i.id IN ({_ids(item_ids)})")
        if since is None:
            query = f"SELECT i.id AS item FROM item i WHERE {' AND '.join(where)} ORDER BY i.id"
        else:
            query = (
                "SELECT DISTINCT i.id AS item FROM transactionline tl JOIN transaction t ON t.id = tl.transaction "
                f"JOIN item i ON i.id = tl.item WHERE t.type IN ({_quoted(STOCK_TRANSACTIONS)}) "
                f"AND t.lastmodifieddate >= {suiteql_time(since)} AND {' AND '.join(where)} ORDER BY i.id"
            )
        page = await self._client.suiteql(query, limit=min(page_size, PAGE))
        ids = [str(row["item"]) for row in page.get("items") or [] if row.get("item")]
        levels: list[StockLevel] = []
        for chunk in _chunks(ids):
            rows = await self._client.suiteql_rows(
                "SELECT b.item, b.location, l.name AS locationname, b.quantityonhand, b.quantityavailable, "
                "b.quantityonorder, b.quantitybackordered FROM inventoryitemlocations b "
                f"JOIN location l ON l.id = b.location WHERE b.item IN ({_ids(chunk)}) "
                "AND (b.quantityonhand <> 0 OR b.quantityavailable <> 0 OR b.quantityonorder <> 0 "
                "OR b.quantitybackordered <> 0) ORDER BY b.item, b.location"
            )
            levels += [
                StockLevel(
                    item=str(row["item"]),
                    location=str(row["location"]),
                    location_name=str(row.get("locationname") or row["location"]),
                    on_hand=_decimal(row.get("quantityonhand")),
                    available=_decimal(row.get("quantityavailable")),
                    on_order=_decimal(row.get("quantityonorder")),
                    back_ordered=_decimal(row.get("quantitybackordered")),
                )
                for row in rows
            ]
        return InventoryPage(
            items=ids, levels=levels, last_id=ids[-1] if ids else after, more=bool(page.get("hasMore"))
        )


def netsuite_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime(SUITEQL_TIME)
