"""Messages of the catalog sync (NetSuite items and prices -> Product2 / PricebookEntry) and the inventory
sync (NetSuite stock -> Product2 totals and Inventory_Level__c)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from q2c.domain.catalog import CatalogNote, CatalogPlan, CatalogRules, InventoryPage
from q2c.domain.messages.common import ActivityLimits

CATALOG_SYNC = "catalog"  # watermark and parked items of the catalog sync
INVENTORY_SYNC = "inventory"
NOTES_KEPT = 200  # notes and parked items a status shows (every one is counted; q2c's store has all parked)


class SyncOptions(ActivityLimits):
    """The catalog and inventory syncs' options: the activity limits alone."""


class ParkedItem(BaseModel):
    item: str  # NetSuite internal id
    item_code: str = ""
    reason: str


class SyncCounts(BaseModel):
    """What a page write did, and (summed over pages) what a whole sync did."""

    products_created: int = 0
    products_updated: int = 0
    entries_created: int = 0
    entries_updated: int = 0
    levels_written: int = 0
    records_unchanged: int = 0
    not_in_catalog: int = 0  # inventory: items with no product in Salesforce yet

    @property
    def written(self) -> int:
        return (
            self.products_created
            + self.products_updated
            + self.entries_created
            + self.entries_updated
            + self.levels_written
        )

    def add(self, other: SyncCounts) -> None:
        for name in SyncCounts.model_fields:
            setattr(self, name, getattr(self, name) + getattr(other, name))


class CatalogStatus(SyncCounts):
    """Where a catalog or inventory sync is, and what it did: the status query, the result, and the
    progress carried over a continue-as-new."""

    full: bool = False
    since: str | None = None  # NetSuite time read from ('YYYY-MM-DD HH:MM:SS'); None: everything
    newest: str | None = None  # NetSuite's newest change when the run began: the next watermark
    after: str = "0"  # keyset cursor: the last item id done
    retry_items: list[str] = Field(default_factory=list)  # parked by an earlier run, read again first
    # Item groups a changed member re-prices, read again after the pages (a group's own modification
    # date does not move when a member's price does).
    regroup_items: list[str] = Field(default_factory=list)
    pages: int = 0
    runs: int = 1
    items_read: int = 0
    notes_by_kind: dict[str, int] = Field(default_factory=dict)
    notes: list[CatalogNote] = Field(default_factory=list)
    parked: list[ParkedItem] = Field(default_factory=list)  # the first NOTES_KEPT still parked
    parked_count: int = 0  # items parked by this run (each kept in q2c's store until written)
    orders_signalled: int = 0
    done: bool = False


class CatalogSyncInput(BaseModel):
    options: SyncOptions = Field(default_factory=SyncOptions)
    full: bool = False  # read the whole catalog again, not only what changed since the watermark
    # Items per page: 500 items and their prices are about 2,500 entries, written 200 a call.
    page_size: int = Field(default=500, ge=1, le=1000)
    pages_per_run: int = Field(default=10, ge=1)  # then continue-as-new: a long load keeps short histories
    # Resolved from the mapping file once per sync and carried over continue-as-new.
    rules: CatalogRules | None = None
    item_types: list[str] = Field(default_factory=list)
    price_books: dict[str, str] = Field(default_factory=dict)  # mapping name -> Pricebook2 id
    resume: CatalogStatus | None = None


class InventorySyncInput(BaseModel):
    options: SyncOptions = Field(default_factory=SyncOptions)
    full: bool = False
    per_location: bool | None = None  # None: the mapping file's [inventory] per_location
    page_size: int = Field(default=200, ge=1, le=1000)
    pages_per_run: int = Field(default=50, ge=1)
    resume: CatalogStatus | None = None


class LoadSyncState(BaseModel):
    name: str


class SyncState(BaseModel):
    watermark: str | None
    parked: list[ParkedItem]


class SaveSyncState(BaseModel):
    name: str
    watermark: str | None


class NewestChange(BaseModel):
    kind: str  # "items" or "stock"


class ReadCatalogPage(BaseModel):
    after: str = "0"
    since: str | None = None
    item_types: list[str]
    page_size: int = 200
    item_ids: list[str] | None = None  # exactly these (parked items read again)
    # Only the price rows the mapping uses (NetSuite price level and currency ids); None: every row.
    price_levels: list[str] | None = None
    currencies: list[str] | None = None


class ResolvePriceBooks(BaseModel):
    names: list[str]  # "standard" and Pricebook2 names


class PriceBookIds(BaseModel):
    ids: dict[str, str]
    created: list[str] = Field(default_factory=list)


class ApplyCatalogPage(BaseModel):
    plan: CatalogPlan
    price_books: dict[str, str]
    currencies: list[str]  # the Salesforce currencies the mapping manages (others are left alone)


class PageResult(SyncCounts):
    problems: list[ParkedItem] = Field(default_factory=list)
    succeeded: list[str] = Field(default_factory=list)  # items written (or already right) in full


class ReadStockPage(BaseModel):
    after: str = "0"
    since: str | None = None
    page_size: int = 200
    item_ids: list[str] | None = None  # exactly these (parked items read again)


class ApplyStockPage(BaseModel):
    page: InventoryPage
    per_location: bool
    stamp: str  # Inventory_Updated__c of the products written (Salesforce datetime)
