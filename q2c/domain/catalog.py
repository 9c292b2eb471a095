"""Catalog rules: what Salesforce's products and price book entries should say, given NetSuite's items and
prices and the mapping file, and what must be written to get there.

NetSuite is master of the catalog, its prices and its stock. Pure functions of records read from both
sides, so the workflows can run them deterministically and tests can check every rule without a server:

- ``plan_catalog``: NetSuite items, price rows and group members -> the products and entries wanted,
  plus what Salesforce cannot hold (quantity breaks, unsupported item groups, custom prices without a
  standard price), reported per item.
- ``diff_products`` / ``diff_entries``: the wanted state against what Salesforce has -> only the writes
  that change something (a rerun writes nothing). Nothing is ever deleted: an item gone inactive makes its
  product and entries inactive; an entry NetSuite no longer prices is deactivated.
- ``plan_inventory``: NetSuite stock per item and location -> the Product2 totals and per-location
  ``Inventory_Level__c`` records that changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import BaseModel, Field

STANDARD_PRICE_BOOK = "standard"  # the mapping file's name for Salesforce's standard price book
GROUP = "Group"  # SuiteQL item.itemtype of an item group
INVENTORY_ITEM = "InvtPart"
CENT = Decimal("0.01")

# The Product2 fields the catalog sync owns: compared before writing, so a rerun writes nothing.
PRODUCT_FIELDS = (
    "Name",
    "ProductCode",
    "Description",
    "IsActive",
    "Family",
    "NetSuite_Item_Type__c",
    "Components__c",
    "Price_Breaks__c",
)
PRODUCT_EXTERNAL_ID = "NetSuite_Internal_ID__c"
INVENTORY_FIELDS = (
    "Quantity_On_Hand__c",
    "Quantity_Available__c",
    "Quantity_On_Order__c",
    "Quantity_Back_Ordered__c",
)
INVENTORY_EXTERNAL_ID = "NetSuite_Key__c"


# --- what NetSuite says ----------------------------------------------------------------------------------


class CatalogItem(BaseModel):
    id: str  # NetSuite internal id
    item_id: str  # itemId: the SKU people see (Product2.ProductCode)
    display_name: str | None = None
    description: str | None = None
    item_type: str  # SuiteQL itemtype: InvtPart, NonInvtPart, Service, Group, ...
    inactive: bool = False


class ItemPrice(BaseModel):
    item: str
    price_level: str  # NetSuite price level internal id (1 = Base Price)
    currency: str  # NetSuite currency internal id
    quantity: Decimal  # the quantity break's minimum (0: the base row)
    unit_price: Decimal


class GroupMember(BaseModel):
    parent: str
    item: str
    item_code: str  # the member's itemId, for the component list
    quantity: Decimal


class CatalogPage(BaseModel):
    """One page of NetSuite's catalog: items, every price row of them, group members (with the base
    prices of members outside the page, so a group can be priced)."""

    items: list[CatalogItem]
    prices: list[ItemPrice] = Field(default_factory=list)
    members: list[GroupMember] = Field(default_factory=list)
    member_prices: list[ItemPrice] = Field(default_factory=list)
    last_id: str | None = None  # the keyset cursor after this page
    more: bool = False
    # Item groups outside this page with a member in it: a member's price change re-prices them.
    containing_groups: list[str] = Field(default_factory=list)


# --- how it maps ---------------------------------------------------------------------------------------


class PriceBookRule(BaseModel):
    price_level: str
    price_book: str  # "standard" or a Salesforce Pricebook2 name


class CatalogRules(BaseModel):
    """The mapping file's [catalog] section, resolved: currencies as (Salesforce code, NetSuite id)."""

    currencies: dict[str, str]  # Salesforce CurrencyIsoCode -> NetSuite currency id
    price_books: list[PriceBookRule]
    families: dict[str, str] = Field(default_factory=dict)  # NetSuite itemtype -> Product2.Family
    item_groups: str = "product"  # product | unsupported


# --- what Salesforce should say ----------------------------------------------------------------------


class ProductSpec(BaseModel):
    item: str
    fields: dict[str, Any]  # PRODUCT_FIELDS


class EntrySpec(BaseModel):
    item: str
    price_book: str  # the mapping's name ("standard" or a Pricebook2 name)
    currency: str  # Salesforce CurrencyIsoCode
    unit_price: Decimal
    active: bool


class CatalogNote(BaseModel):
    """Something about an item Salesforce cannot hold: shown, never dropped silently."""

    item: str
    item_code: str
    kind: str  # quantity_breaks | unsupported_item_group | no_standard_price | group_not_priced
    message: str


class CatalogPlan(BaseModel):
    products: list[ProductSpec]
    entries: list[EntrySpec]
    notes: list[CatalogNote] = Field(default_factory=list)


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _qty(value: Decimal) -> str:
    return format(value.normalize(), "f")


def plan_catalog(page: CatalogPage, rules: CatalogRules) -> CatalogPlan:
    """The products and entries NetSuite's ``page`` asks for, under ``rules``."""
    books = {rule.price_level: rule.price_book for rule in rules.price_books}
    codes_by_ns = defaultdict(list)
    for code, ns_currency in rules.currencies.items():
        codes_by_ns[ns_currency].append(code)
    rows: dict[str, list[ItemPrice]] = defaultdict(list)
    for price in (*page.prices, *page.member_prices):
        rows[price.item].append(price)
    members: dict[str, list[GroupMember]] = defaultdict(list)
    for member in page.members:
        members[member.parent].append(member)

    plan = CatalogPlan(products=[], entries=[])
    for item in page.items:
        if item.item_type == GROUP and rules.item_groups != "product":
            plan.notes.append(
                CatalogNote(
                    item=item.id,
                    item_code=item.item_id,
                    kind="unsupported_item_group",
                    message=(
                        f"NetSuite item group {item.item_id} (internal id {item.id}) is not synced: the "
                        "mapping file's [catalog] item_groups is 'unsupported' (set it to 'product' to sync "
                        "the group as one product listing its components, priced at the sum of their prices)."
                    ),
                )
            )
            continue
        prices, breaks = _item_prices(item, rows, members, books, codes_by_ns, plan.notes)
        components = None
        if item.item_type == GROUP:
            components = "; ".join(f"{_qty(m.quantity)} x {m.item_code}" for m in members[item.id]) or None
        plan.products.append(
            ProductSpec(
                item=item.id,
                fields={
                    "Name": (item.display_name or item.item_id)[:255],
                    "ProductCode": item.item_id[:255],
                    "Description": item.description[:4000] if item.description else None,
                    "IsActive": not item.inactive,
                    "Family": rules.families.get(item.item_type),
                    "NetSuite_Item_Type__c": item.item_type[:40],
                    "Components__c": components,
                    "Price_Breaks__c": "\n".join(breaks) or None,
                },
            )
        )
        standard = {currency for (book, currency) in prices if book == STANDARD_PRICE_BOOK}
        for (book, currency), unit_price in sorted(prices.items(), key=_standard_first):
            if book != STANDARD_PRICE_BOOK and currency not in standard:
                plan.notes.append(
                    CatalogNote(
                        item=item.id,
                        item_code=item.item_id,
                        kind="no_standard_price",
                        message=(
                            f"{item.item_id}: no {currency} price in the price level that feeds the standard "
                            f"price book, so its {currency} price in '{book}' cannot be held (Salesforce "
                            "needs a standard price first); give the item that price in NetSuite."
                        ),
                    )
                )
                continue
            plan.entries.append(
                EntrySpec(
                    item=item.id,
                    price_book=book,
                    currency=currency,
                    unit_price=unit_price,
                    active=not item.inactive,
                )
            )
    return plan


def _standard_first(entry: tuple[tuple[str, str], Decimal]) -> tuple[bool, str, str]:
    (book, currency), _ = entry
    return (book != STANDARD_PRICE_BOOK, book, currency)


def _item_prices(
    item: CatalogItem,
    rows: dict[str, list[ItemPrice]],
    members: dict[str, list[GroupMember]],
    books: dict[str, str],
    codes_by_ns: dict[str, list[str]],
    notes: list[CatalogNote],
) -> tuple[dict[tuple[str, str], Decimal], list[str]]:
    """(price book, currency code) -> unit price, and the quantity breaks Salesforce cannot hold."""
    if item.item_type == GROUP:
        return _group_prices(item, rows, members, books, codes_by_ns, notes), []
    by_cell: dict[tuple[str, str], list[ItemPrice]] = defaultdict(list)
    for row in rows.get(item.id, []):
        if row.price_level in books and row.currency in codes_by_ns:
            by_cell[(row.price_level, row.currency)].append(row)
    prices: dict[tuple[str, str], Decimal] = {}
    breaks: list[str] = []
    for (level, ns_currency), cell in sorted(by_cell.items()):
        cell.sort(key=lambda r: r.quantity)
        base, rest = cell[0], cell[1:]
        for code in codes_by_ns[ns_currency]:
            prices[(books[level], code)] = _money(base.unit_price)
            if rest or base.quantity > 1:
                tiers = ", ".join(f"{_qty(r.quantity)}+ at {_money(r.unit_price)}" for r in cell)
                text = f"{books[level]} {code}: {tiers}"
                breaks.append(text)
                notes.append(
                    CatalogNote(
                        item=item.id,
                        item_code=item.item_id,
                        kind="quantity_breaks",
                        message=(
                            f"{item.item_id}: NetSuite prices it by quantity ({text}); a Salesforce price book "
                            f"entry holds one price, so the entry carries {_money(base.unit_price)} (for "
                            f"{_qty(base.quantity)}+) and the breaks are listed on the product (Price_Breaks__c)."
                        ),
                    )
                )
    return prices, breaks


def _group_prices(
    item: CatalogItem,
    rows: dict[str, list[ItemPrice]],
    members: dict[str, list[GroupMember]],
    books: dict[str, str],
    codes_by_ns: dict[str, list[str]],
    notes: list[CatalogNote],
) -> dict[tuple[str, str], Decimal]:
    """A group's price per book and currency: the sum of its members' base-quantity prices, as NetSuite
    prices the member lines a group expands into. A cell some member has no price in is left out."""
    parts = members.get(item.id, [])
    if not parts:
        notes.append(
            CatalogNote(
                item=item.id,
                item_code=item.item_id,
                kind="group_not_priced",
                message=f"Item group {item.item_id} has no members in NetSuite, so it has no price.",
            )
        )
        return {}
    base: dict[tuple[str, str, str], Decimal] = {}  # (member, level, currency) -> lowest-quantity price
    for member in parts:
        for row in sorted(rows.get(member.item, []), key=lambda r: r.quantity, reverse=True):
            base[(member.item, row.price_level, row.currency)] = row.unit_price
    prices: dict[tuple[str, str], Decimal] = {}
    missing: list[str] = []
    for level, book in books.items():
        for ns_currency, codes in codes_by_ns.items():
            cells = [base.get((m.item, level, ns_currency)) for m in parts]
            if all(c is None for c in cells):
                continue
            if any(c is None for c in cells):
                missing += [f"{book} {code}" for code in codes]
                continue
            total = sum(
                (c * m.quantity for c, m in zip(cells, parts, strict=True) if c is not None), Decimal(0)
            )
            for code in codes:
                prices[(book, code)] = _money(total)
    if missing:
        notes.append(
            CatalogNote(
                item=item.id,
                item_code=item.item_id,
                kind="group_not_priced",
                message=(
                    f"Item group {item.item_id}: some members have no price in {', '.join(sorted(missing))}, "
                    "so the group has no entry there."
                ),
            )
        )
    return prices


# --- what Salesforce has, and what to write ----------------------------------------------------------


class ExistingProduct(BaseModel):
    id: str
    item: str
    fields: dict[str, Any]


class ExistingEntry(BaseModel):
    id: str
    product_id: str
    price_book_id: str
    currency: str
    unit_price: Decimal
    active: bool


class EntryCreate(BaseModel):
    item: str
    product_id: str
    price_book_id: str
    currency: str
    unit_price: Decimal
    active: bool
    standard: bool

    def record(self) -> dict[str, Any]:
        return {
            "attributes": {"type": "PricebookEntry"},
            "Product2Id": self.product_id,
            "Pricebook2Id": self.price_book_id,
            "CurrencyIsoCode": self.currency,
            "UnitPrice": float(self.unit_price),
            "IsActive": self.active,
        }


class EntryUpdate(BaseModel):
    item: str
    id: str
    fields: dict[str, Any]
    standard: bool = False  # in the standard price book: reactivated before any custom price is made

    def record(self) -> dict[str, Any]:
        return {"attributes": {"type": "PricebookEntry"}, "Id": self.id, **self.fields}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return bool(a) == bool(b)
    if a in (None, "") and b in (None, ""):
        return True
    return str(a) == str(b)


def diff_products(desired: Iterable[ProductSpec], existing: dict[str, ExistingProduct]) -> list[ProductSpec]:
    """The products to upsert: new ones, and those where a field q2c owns differs."""
    changed = []
    for spec in desired:
        have = existing.get(spec.item)
        if have is None or any(not _same(value, have.fields.get(k)) for k, value in spec.fields.items()):
            changed.append(spec)
    return changed


def diff_entries(
    desired: Iterable[EntrySpec],
    existing: Iterable[ExistingEntry],
    product_ids: dict[str, str],
    book_ids: dict[str, str],
    currencies: Iterable[str],
) -> tuple[list[EntryCreate], list[EntryUpdate]]:
    """Creates and updates (standard price book first in each) that bring the entries of these products,
    in the price books and currencies the mapping manages, to what NetSuite says. An entry NetSuite no
    longer prices is deactivated; an inactive entry not there yet is not created; entries in other price
    books or currencies (kept by hand) are left alone."""
    managed_books = {book_id[:15] for book_id in book_ids.values()}
    managed_currencies = set(currencies)
    standard_id = book_ids.get(STANDARD_PRICE_BOOK)
    have: dict[tuple[str, str, str], ExistingEntry] = {}
    for entry in existing:
        have[(entry.product_id[:15], entry.price_book_id[:15], entry.currency)] = entry
    creates: list[EntryCreate] = []
    updates: list[EntryUpdate] = []
    wanted: set[tuple[str, str, str]] = set()
    item_of: dict[str, str] = {pid[:15]: item for item, pid in product_ids.items()}
    for spec in desired:
        product_id = product_ids.get(spec.item)
        book_id = book_ids.get(spec.price_book)
        if product_id is None or book_id is None:
            continue
        key = (product_id[:15], book_id[:15], spec.currency)
        wanted.add(key)
        current = have.get(key)
        if current is None:
            if spec.active:
                creates.append(
                    EntryCreate(
                        item=spec.item,
                        product_id=product_id,
                        price_book_id=book_id,
                        currency=spec.currency,
                        unit_price=spec.unit_price,
                        active=True,
                        standard=book_id == standard_id,
                    )
                )
            continue
        fields: dict[str, Any] = {}
        if _money(current.unit_price) != spec.unit_price:
            fields["UnitPrice"] = float(spec.unit_price)
        if current.active != spec.active:
            fields["IsActive"] = spec.active
        if fields:
            updates.append(
                EntryUpdate(item=spec.item, id=current.id, fields=fields, standard=book_id == standard_id)
            )
    for key, current in have.items():
        if key in wanted or not current.active:
            continue
        if key[1] not in managed_books or current.currency not in managed_currencies:
            continue
        item = item_of.get(key[0])
        if item is not None:
            updates.append(
                EntryUpdate(
                    item=item,
                    id=current.id,
                    fields={"IsActive": False},
                    standard=standard_id is not None and key[1] == standard_id[:15],
                )
            )
    # A custom price needs its standard one (active) first.
    creates.sort(key=lambda c: not c.standard)
    updates.sort(key=lambda u: not u.standard)
    return creates, updates


# --- inventory ---------------------------------------------------------------------------------------


class StockLevel(BaseModel):
    item: str
    location: str
    location_name: str
    on_hand: Decimal = Decimal(0)
    available: Decimal = Decimal(0)
    on_order: Decimal = Decimal(0)
    back_ordered: Decimal = Decimal(0)

    def quantities(self) -> dict[str, float]:
        values = (self.on_hand, self.available, self.on_order, self.back_ordered)
        return {name: float(_money(v)) for name, v in zip(INVENTORY_FIELDS, values, strict=True)}


class InventoryPage(BaseModel):
    items: list[str]  # NetSuite item ids whose stock may have changed
    levels: list[StockLevel]
    last_id: str | None = None
    more: bool = False


class ExistingStock(BaseModel):
    product_id: str
    item: str
    code: str = ""  # the product's ProductCode, to name it in a problem
    totals: dict[str, Any]
    levels: dict[str, tuple[str, dict[str, Any]]]  # NetSuite key -> (record id, fields)


class InventoryWrites(BaseModel):
    product_updates: list[dict[str, Any]]
    level_upserts: list[dict[str, Any]]
    not_in_catalog: list[str]  # items with no product in Salesforce yet


def stock_key(item: str, location: str) -> str:
    return f"{item}:{location}"


def plan_inventory(
    page: InventoryPage, existing: dict[str, ExistingStock], *, per_location: bool, stamp: str
) -> InventoryWrites:
    """The Product2 totals and Inventory_Level__c records that differ from NetSuite's stock. A location
    whose stock row disappeared is written as zero (its record stays, showing none); a location with
    nothing at all and no record yet gets none."""
    by_item: dict[str, list[StockLevel]] = defaultdict(list)
    for level in page.levels:
        by_item[level.item].append(level)
    writes = InventoryWrites(product_updates=[], level_upserts=[], not_in_catalog=[])
    for item in page.items:
        have = existing.get(item)
        if have is None:
            writes.not_in_catalog.append(item)
            continue
        levels = by_item.get(item, [])
        totals = {name: 0.0 for name in INVENTORY_FIELDS}
        for level in levels:
            for name, value in level.quantities().items():
                totals[name] += value
        totals = {name: float(_money(Decimal(str(v)))) for name, v in totals.items()}
        if any(not _same_number(v, have.totals.get(k)) for k, v in totals.items()):
            writes.product_updates.append(
                {
                    "attributes": {"type": "Product2"},
                    "Id": have.product_id,
                    **totals,
                    "Inventory_Updated__c": stamp,
                }
            )
        if not per_location:
            continue
        seen = set()
        for level in levels:
            key = stock_key(item, level.location)
            seen.add(key)
            fields = {
                "Name": level.location_name[:80],
                "NetSuite_Location_ID__c": level.location,
                "Location_Name__c": level.location_name[:100],
                **level.quantities(),
            }
            current = have.levels.get(key)
            if current is None and not any(level.quantities().values()):
                continue  # a location this item never moved through: nothing to show
            if current is None or any(not _same_stock(v, current[1].get(k)) for k, v in fields.items()):
                writes.level_upserts.append(
                    {
                        "attributes": {"type": "Inventory_Level__c"},
                        INVENTORY_EXTERNAL_ID: key,
                        "Product__c": have.product_id,
                        **fields,
                    }
                )
        for key, (_, fields) in have.levels.items():
            if key not in seen and any(not _same_number(0, fields.get(n)) for n in INVENTORY_FIELDS):
                writes.level_upserts.append(
                    {
                        "attributes": {"type": "Inventory_Level__c"},
                        INVENTORY_EXTERNAL_ID: key,
                        **{name: 0.0 for name in INVENTORY_FIELDS},
                    }
                )
    return writes


def _same_number(a: Any, b: Any) -> bool:
    if b is None:
        return False
    return _money(Decimal(str(a))) == _money(Decimal(str(b)))


def _same_stock(a: Any, b: Any) -> bool:
    if isinstance(a, float):
        return _same_number(a, b)
    return _same(a, b)
