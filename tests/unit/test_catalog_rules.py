"""The catalog rules (q2c.domain.catalog): NetSuite items and prices -> products and entries, and only the
writes that change something."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from q2c.domain.catalog import (
    CatalogItem,
    CatalogPage,
    CatalogRules,
    ExistingEntry,
    ExistingProduct,
    ExistingStock,
    GroupMember,
    InventoryPage,
    ItemPrice,
    PriceBookRule,
    StockLevel,
    diff_entries,
    diff_products,
    plan_catalog,
    plan_inventory,
)
from q2c.domain.mapping import DEFAULT_MAPPING_PATH, MappingError, catalog_rules, load_mapping

RULES = CatalogRules(
    currencies={"USD": "1", "EUR": "4"},
    price_books=[
        PriceBookRule(price_level="1", price_book="standard"),
        PriceBookRule(price_level="2", price_book="Partner"),
    ],
    families={"InvtPart": "Hardware", "Service": "Services"},
)
BOOKS = {"standard": "01s000000000001AAA", "Partner": "01s000000000002AAA"}
CODES = ["USD", "EUR"]


def _price(item: str, level: str, currency: str, price: str, quantity: str = "0") -> ItemPrice:
    return ItemPrice(
        item=item, price_level=level, currency=currency, quantity=Decimal(quantity), unit_price=Decimal(price)
    )


def _item(item_id: str = "10", **kw: object) -> CatalogItem:
    fields: dict[str, object] = {"id": item_id, "item_id": f"SKU-{item_id}", "item_type": "InvtPart"}
    fields.update(kw)
    return CatalogItem.model_validate(fields)


def test_an_item_becomes_a_product_with_an_entry_per_price_book_and_currency() -> None:
    page = CatalogPage(
        items=[_item(display_name="Widget", description="A widget")],
        prices=[
            _price("10", "1", "1", "100"),
            _price("10", "1", "4", "92.5"),
            _price("10", "2", "1", "80"),
            _price("10", "3", "1", "70"),  # a level the mapping does not use
            _price("10", "1", "9", "1"),  # a currency the mapping does not sync
        ],
    )
    plan = plan_catalog(page, RULES)
    (product,) = plan.products
    assert product.fields["Name"] == "Widget"
    assert product.fields["ProductCode"] == "SKU-10"
    assert product.fields["Family"] == "Hardware"
    assert product.fields["IsActive"] is True
    assert product.fields["Price_Breaks__c"] is None
    entries = {(e.price_book, e.currency): e.unit_price for e in plan.entries}
    assert entries == {
        ("standard", "USD"): Decimal("100.00"),
        ("standard", "EUR"): Decimal("92.50"),
        ("Partner", "USD"): Decimal("80.00"),
    }
    assert plan.entries[0].price_book == "standard"
    assert plan.notes == []


def test_a_custom_price_without_a_standard_price_is_reported_not_written() -> None:
    page = CatalogPage(items=[_item()], prices=[_price("10", "2", "4", "80"), _price("10", "1", "1", "100")])
    plan = plan_catalog(page, RULES)
    assert {(e.price_book, e.currency) for e in plan.entries} == {("standard", "USD")}
    (note,) = plan.notes
    assert note.kind == "no_standard_price"
    assert "EUR" in note.message and "SKU-10" in note.message


def test_quantity_breaks_are_reported_and_listed_on_the_product() -> None:
    page = CatalogPage(
        items=[_item()],
        prices=[
            _price("10", "1", "1", "100"),
            _price("10", "1", "1", "90", quantity="10"),
            _price("10", "1", "1", "80", quantity="50"),
        ],
    )
    plan = plan_catalog(page, RULES)
    assert [e.unit_price for e in plan.entries] == [Decimal("100.00")]
    (note,) = plan.notes
    assert note.kind == "quantity_breaks"
    assert "10+ at 90.00" in note.message and "50+ at 80.00" in note.message
    assert (
        plan.products[0].fields["Price_Breaks__c"] == "standard USD: 0+ at 100.00, 10+ at 90.00, 50+ at 80.00"
    )


def test_an_inactive_item_makes_an_inactive_product_and_inactive_entries() -> None:
    plan = plan_catalog(
        CatalogPage(items=[_item(inactive=True)], prices=[_price("10", "1", "1", "5")]), RULES
    )
    assert plan.products[0].fields["IsActive"] is False
    assert [e.active for e in plan.entries] == [False]


def test_an_item_group_lists_its_components_and_sums_their_prices() -> None:
    page = CatalogPage(
        items=[_item("30", item_type="Group", display_name="Starter kit")],
        members=[
            GroupMember(parent="30", item="10", item_code="SKU-10", quantity=Decimal(2)),
            GroupMember(parent="30", item="11", item_code="SKU-11", quantity=Decimal(1)),
        ],
        member_prices=[
            _price("10", "1", "1", "100"),
            _price("11", "1", "1", "25"),
            _price("10", "1", "4", "90"),  # SKU-11 has no EUR price: the group has none either
        ],
    )
    plan = plan_catalog(page, RULES)
    assert plan.products[0].fields["Components__c"] == "2 x SKU-10; 1 x SKU-11"
    assert [(e.price_book, e.currency, e.unit_price) for e in plan.entries] == [
        ("standard", "USD", Decimal("225.00"))
    ]
    assert [n.kind for n in plan.notes] == ["group_not_priced"]


def test_item_groups_can_be_reported_as_unsupported() -> None:
    rules = RULES.model_copy(update={"item_groups": "unsupported"})
    plan = plan_catalog(CatalogPage(items=[_item("30", item_type="Group")]), rules)
    assert plan.products == []
    assert plan.notes[0].kind == "unsupported_item_group"
    assert "item_groups" in plan.notes[0].message


def test_an_unchanged_product_is_not_written_and_a_changed_one_is() -> None:
    plan = plan_catalog(CatalogPage(items=[_item(display_name="Widget")], prices=[]), RULES)
    same = ExistingProduct(id="01t1", item="10", fields=dict(plan.products[0].fields))
    assert diff_products(plan.products, {"10": same}) == []
    renamed = ExistingProduct(id="01t1", item="10", fields={**same.fields, "Name": "Old name"})
    assert diff_products(plan.products, {"10": renamed}) == plan.products
    assert diff_products(plan.products, {}) == plan.products


def _entry(entry_id: str, book: str, currency: str, price: str, active: bool = True) -> ExistingEntry:
    return ExistingEntry(
        id=entry_id,
        product_id="01t000000000001AAA",
        price_book_id=BOOKS[book],
        currency=currency,
        unit_price=Decimal(price),
        active=active,
    )


def test_entries_are_created_standard_first_updated_when_the_price_moves_and_never_deleted() -> None:
    page = CatalogPage(
        items=[_item()],
        prices=[_price("10", "2", "1", "80"), _price("10", "1", "1", "100"), _price("10", "1", "4", "95")],
    )
    plan = plan_catalog(page, RULES)
    products = {"10": "01t000000000001AAA"}
    creates, updates = diff_entries(plan.entries, [], products, BOOKS, CODES)
    assert [c.standard for c in creates] == [True, True, False]
    assert updates == []
    existing = [
        _entry("01u1", "standard", "USD", "100"),
        _entry("01u2", "standard", "EUR", "90"),  # NetSuite now says 95
        _entry("01u3", "Partner", "USD", "80"),
        _entry("01u4", "Partner", "EUR", "70"),  # NetSuite no longer prices Partner EUR
    ]
    creates, updates = diff_entries(plan.entries, existing, products, BOOKS, CODES)
    assert creates == []
    assert {u.id: u.fields for u in updates} == {"01u2": {"UnitPrice": 95.0}, "01u4": {"IsActive": False}}


def test_a_rerun_with_nothing_changed_writes_nothing() -> None:
    page = CatalogPage(items=[_item()], prices=[_price("10", "1", "1", "100")])
    plan = plan_catalog(page, RULES)
    creates, updates = diff_entries(
        plan.entries,
        [_entry("01u1", "standard", "USD", "100.00")],
        {"10": "01t000000000001AAA"},
        BOOKS,
        CODES,
    )
    assert (creates, updates) == ([], [])


def test_reactivating_an_item_reactivates_its_entries_and_an_inactive_one_is_not_created() -> None:
    products = {"10": "01t000000000001AAA"}
    active = plan_catalog(CatalogPage(items=[_item()], prices=[_price("10", "1", "1", "100")]), RULES)
    _, updates = diff_entries(
        active.entries, [_entry("01u1", "standard", "USD", "100", active=False)], products, BOOKS, CODES
    )
    assert [u.fields for u in updates] == [{"IsActive": True}]
    inactive = plan_catalog(
        CatalogPage(items=[_item(inactive=True)], prices=[_price("10", "1", "1", "100")]), RULES
    )
    assert diff_entries(inactive.entries, [], products, BOOKS, CODES) == ([], [])


def test_entries_in_price_books_the_mapping_does_not_manage_are_left_alone() -> None:
    other = ExistingEntry(
        id="01u9",
        product_id="01t000000000001AAA",
        price_book_id="01s000000000099AAA",
        currency="USD",
        unit_price=Decimal(1),
        active=True,
    )
    assert diff_entries([], [other], {"10": "01t000000000001AAA"}, BOOKS, CODES) == ([], [])


def test_inventory_writes_only_the_totals_and_levels_that_changed() -> None:
    page = InventoryPage(
        items=["10", "11"],
        levels=[
            StockLevel(
                item="10", location="1", location_name="Main", on_hand=Decimal(5), available=Decimal(3)
            ),
            StockLevel(
                item="10", location="2", location_name="East", on_hand=Decimal(2), available=Decimal(2)
            ),
        ],
    )
    shown = {
        "Quantity_On_Hand__c": 7.0,
        "Quantity_Available__c": 5.0,
        "Quantity_On_Order__c": 0.0,
        "Quantity_Back_Ordered__c": 0.0,
    }
    main = {
        "Name": "Main",
        "NetSuite_Location_ID__c": "1",
        "Location_Name__c": "Main",
        "Quantity_On_Hand__c": 5.0,
        "Quantity_Available__c": 3.0,
        "Quantity_On_Order__c": 0.0,
        "Quantity_Back_Ordered__c": 0.0,
    }
    existing = {
        "10": ExistingStock(product_id="01tA", item="10", totals=shown, levels={"10:1": ("a0X1", main)})
    }
    writes = plan_inventory(page, existing, per_location=True, stamp="2026-12-01T00:00:00.000+0000")
    assert writes.product_updates == []
    assert [r["NetSuite_Key__c"] for r in writes.level_upserts] == ["10:2"]
    assert writes.not_in_catalog == ["11"]
    fewer = page.model_copy(update={"levels": page.levels[:1]})
    writes = plan_inventory(fewer, existing, per_location=False, stamp="x")
    assert writes.product_updates[0]["Quantity_On_Hand__c"] == 5.0
    assert writes.level_upserts == []


def test_the_shipped_mapping_feeds_the_standard_price_book_from_the_base_price_level() -> None:
    rules = catalog_rules(load_mapping())
    assert [r.model_dump() for r in rules.price_books] == [{"price_level": "1", "price_book": "standard"}]
    assert rules.currencies == {"USD": "1", "EUR": "4", "GBP": "2", "CAD": "3"}


@pytest.mark.parametrize(
    ("catalog", "problem"),
    [
        ('[catalog]\ncurrencies = ["JPY"]\n', "'JPY' is not a [currencies] key"),
        ('[[catalog.price_books]]\nprice_level = "2"\nprice_book = "Partner"\n', "standard price book"),
        (
            '[[catalog.price_books]]\nprice_level = "1"\nprice_book = "standard"\n'
            '[[catalog.price_books]]\nprice_level = "1"\nprice_book = "Partner"\n',
            "price level 1 already feeds",
        ),
        ('[catalog]\nitem_groups = "bundle"\n', "item_groups"),
    ],
)
def test_a_bad_catalog_section_is_refused_naming_the_line(tmp_path: Path, catalog: str, problem: str) -> None:
    base = DEFAULT_MAPPING_PATH.read_text(encoding="utf-8")
    head = base[: base.index("[catalog]\n")]
    path = tmp_path / "mapping.toml"
    path.write_text(head + catalog, encoding="utf-8")
    with pytest.raises(MappingError) as refused:
        load_mapping(path)
    assert problem in str(refused.value)
    assert "line" in str(refused.value)


def test_entries_in_currencies_the_mapping_does_not_sync_are_left_alone() -> None:
    kept_by_hand = _entry("01u7", "standard", "JPY", "15000")
    assert diff_entries([], [kept_by_hand], {"10": "01t000000000001AAA"}, BOOKS, CODES) == ([], [])


def test_a_standard_price_is_reactivated_before_custom_ones_change() -> None:
    page = CatalogPage(items=[_item()], prices=[_price("10", "1", "1", "100"), _price("10", "2", "1", "80")])
    plan = plan_catalog(page, RULES)
    existing = [
        _entry("01u1", "standard", "USD", "100", active=False),
        _entry("01u3", "Partner", "USD", "70", active=False),
    ]
    _, updates = diff_entries(plan.entries, existing, {"10": "01t000000000001AAA"}, BOOKS, CODES)
    assert [(u.id, u.standard) for u in updates] == [("01u1", True), ("01u3", False)]


def test_stock_is_compared_as_salesforce_rounds_it() -> None:
    level = StockLevel(item="10", location="1", location_name="Main", on_hand=Decimal("2.125"))
    shown = {
        "Quantity_On_Hand__c": 2.13,
        "Quantity_Available__c": 0.0,
        "Quantity_On_Order__c": 0.0,
        "Quantity_Back_Ordered__c": 0.0,
    }
    existing = {"10": ExistingStock(product_id="01tA", item="10", totals=shown, levels={})}
    page = InventoryPage(items=["10"], levels=[level])
    assert plan_inventory(page, existing, per_location=False, stamp="x").product_updates == []
