"""The NetSuite sandbox's catalog over real HTTPS: the four item types, price levels and the price matrix,
item groups, in the record API and SuiteQL, and the change queries q2c's catalog sync runs (at volume)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.sandbox import test_netsuite_sandbox as base
from tests.sandbox.test_netsuite_sandbox import (
    CURRENCIES,
    RECORDS,
    SUBSIDIARIES,
    NetSuiteSandboxUnderTest,
    assert_error,
)

netsuite_settings = base.netsuite_settings
netsuite = base.netsuite

WATERMARK = "TO_DATE('{}', 'YYYY-MM-DD HH24:MI:SS')"
USD, EUR = "1", "2"
BASE, WHOLESALE = "1", "2"


def rows(ns: NetSuiteSandboxUnderTest, query: str, **params: Any) -> list[dict[str, Any]]:
    response = ns.suiteql(query, **params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return [{k: v for k, v in row.items() if k != "links"} for row in items]


def price(level: str, currency: str, amount: float, quantity: float | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"priceLevel": {"id": level}, "currency": {"id": currency}, "price": amount}
    if quantity is not None:
        line["quantity"] = quantity
    return line


def clock_now(ns: NetSuiteSandboxUnderTest) -> str:
    return str(ns.admin("GET", "/clock").json()["now"])[:19].replace("T", " ")


def advance(ns: NetSuiteSandboxUnderTest, seconds: float) -> None:
    assert ns.admin("PUT", "/clock", {"advance_seconds": seconds}).status_code == 200


@pytest.fixture
def accounts(netsuite: NetSuiteSandboxUnderTest) -> str:
    """Currencies, subsidiaries, a Wholesale price level (2); returns a USD customer."""
    ids = netsuite.load(
        {
            "currency": CURRENCIES,
            "subsidiary": SUBSIDIARIES,
            "priceLevel": [{"name": "Wholesale"}],
            "customer": [{"companyName": "Globex", "subsidiary": {"id": "1"}}],
        }
    )
    assert ids["priceLevel"] == [WHOLESALE]
    return ids["customer"][0]


def test_every_account_has_the_base_price_level(netsuite: NetSuiteSandboxUnderTest) -> None:
    assert rows(netsuite, "SELECT id, name, isinactive FROM pricelevel") == [
        {"id": "1", "name": "Base Price", "isinactive": "F"}
    ]
    assert netsuite.get("priceLevel", "1")["name"] == "Base Price"
    assert_error(netsuite.call("DELETE", f"{RECORDS}/priceLevel/1"), 400, "USER_ERROR")
    assert netsuite.admin("GET", "/stats").json()["counts"]["priceLevel"] == 0  # built in, not counted
    assert netsuite.create("priceLevel", {"name": "Partner"}) == "2"
    assert netsuite.admin("POST", "/reset").status_code == 200
    assert rows(netsuite, "SELECT id, name FROM pricelevel") == [{"id": "1", "name": "Base Price"}]


def test_each_item_type_reads_back_through_the_record_api_and_suiteql(
    netsuite: NetSuiteSandboxUnderTest, accounts: str
) -> None:
    ns = netsuite
    widget = ns.create(
        "inventoryItem",
        {
            "itemId": "WID-1",
            "displayName": "Widget",
            "price": {"items": [price(BASE, USD, 100.0)]},
            "custitem_colour": "red",
        },
    )
    cable = ns.create(
        "nonInventorySaleItem", {"itemId": "CABLE", "description": "A cable", "externalId": "ext-cable"}
    )
    setup = ns.create("serviceSaleItem", {"itemId": "SETUP", "displayName": "Setup", "basePrice": 300.0})
    kit = ns.create(
        "itemGroup",
        {
            "itemId": "KIT",
            "displayName": "Starter kit",
            "member": {
                "items": [{"item": {"id": widget}, "quantity": 2}, {"item": {"externalId": "ext-cable"}}]
            },
        },
    )
    assert [int(i) for i in (widget, cable, setup, kit)] == sorted(
        int(i) for i in (widget, cable, setup, kit)
    )

    item = ns.get("inventoryItem", widget, expandSubResources="true")
    assert item["itemId"] == "WID-1" and item["custitem_colour"] == "red"
    [row] = item["price"]["items"]
    assert row["priceLevel"]["id"] == BASE and row["priceLevel"]["refName"] == "Base Price"
    assert row["currency"]["refName"] == "US Dollar" and row["quantity"] == 0 and row["price"] == 100
    assert ns.get("nonInventorySaleItem", cable)["description"] == "A cable"
    assert ns.get("serviceSaleItem", setup)["basePrice"] == 300
    group = ns.get("itemGroup", kit, expandSubResources="true")
    assert "price" not in group and "basePrice" not in group
    members = group["member"]["items"]
    assert [(m["item"]["id"], m["item"]["refName"], m["quantity"]) for m in members] == [
        (widget, "WID-1", 2),
        (cable, "CABLE", 1),
    ]
    # A reference to any item type links to the record's own type.
    assert members[1]["item"]["links"][0]["href"].endswith(f"/nonInventorySaleItem/{cable}")
    # An item is found only under its own type.
    assert_error(ns.call("GET", f"{RECORDS}/inventoryItem/{cable}"), 404, "NONEXISTENT_ID")

    assert rows(ns, "SELECT id, itemid, displayname, itemtype, isinactive FROM item ORDER BY id") == [
        {"id": widget, "itemid": "WID-1", "displayname": "Widget", "itemtype": "InvtPart", "isinactive": "F"},
        {"id": cable, "itemid": "CABLE", "itemtype": "NonInvtPart", "isinactive": "F"},
        {"id": setup, "itemid": "SETUP", "displayname": "Setup", "itemtype": "Service", "isinactive": "F"},
        {"id": kit, "itemid": "KIT", "displayname": "Starter kit", "itemtype": "Group", "isinactive": "F"},
    ]
    assert rows(ns, "SELECT id FROM item WHERE itemtype IN ('NonInvtPart', 'Group') ORDER BY id") == [
        {"id": cable},
        {"id": kit},
    ]
    assert rows(
        ns,
        "SELECT m.parentitem, m.item, i.itemid, m.quantity FROM itemmember m JOIN item i ON i.id = m.item "
        f"WHERE m.parentitem IN ({kit}) ORDER BY m.parentitem, m.item",
    ) == [
        {"parentitem": kit, "item": widget, "itemid": "WID-1", "quantity": "2"},
        {"parentitem": kit, "item": cable, "itemid": "CABLE", "quantity": "1"},
    ]

    # Groups hold no groups; items in use cannot be deleted.
    nested = ns.call(
        "POST", f"{RECORDS}/itemGroup", body={"itemId": "BIG", "member": {"items": [{"item": {"id": kit}}]}}
    )
    assert_error(nested, 400, "USER_ERROR", "member.items[0].item")
    assert_error(ns.call("DELETE", f"{RECORDS}/inventoryItem/{widget}"), 400, "USER_ERROR")
    assert ns.call("DELETE", f"{RECORDS}/serviceSaleItem/{setup}").status_code == 204


def test_the_price_matrix_in_the_record_api_and_the_pricing_table(
    netsuite: NetSuiteSandboxUnderTest, accounts: str
) -> None:
    ns = netsuite
    matrix = [
        price(BASE, USD, 100.0),
        price(BASE, USD, 90.0, quantity=10),
        price(BASE, EUR, 92.0),
        price(WHOLESALE, USD, 80.0),
        price(WHOLESALE, EUR, 74.5),
    ]
    widget = ns.create("inventoryItem", {"itemId": "WID-1", "price": {"items": matrix}})
    other = ns.create(
        "nonInventorySaleItem", {"itemId": "CABLE", "price": {"items": [price(BASE, USD, 5.0)]}}
    )
    sublist = ns.call("GET", f"{RECORDS}/inventoryItem/{widget}/price")
    assert sublist.status_code == 200 and sublist.json()["count"] == 5
    assert [
        (p["priceLevel"]["refName"], p["currency"]["id"], p["quantity"], p["price"])
        for p in sublist.json()["items"]
    ] == [
        ("Base Price", USD, 0, 100),
        ("Base Price", USD, 10, 90),
        ("Base Price", EUR, 0, 92),
        ("Wholesale", USD, 0, 80),
        ("Wholesale", EUR, 0, 74.5),
    ]
    assert rows(
        ns,
        "SELECT item, pricelevel, currency, quantity, unitprice FROM pricing "
        f"WHERE item IN ({widget}, {other}) ORDER BY item, pricelevel, currency, quantity",
    ) == [
        {"item": widget, "pricelevel": BASE, "currency": USD, "quantity": "0", "unitprice": "100"},
        {"item": widget, "pricelevel": BASE, "currency": USD, "quantity": "10", "unitprice": "90"},
        {"item": widget, "pricelevel": BASE, "currency": EUR, "quantity": "0", "unitprice": "92"},
        {"item": widget, "pricelevel": WHOLESALE, "currency": USD, "quantity": "0", "unitprice": "80"},
        {"item": widget, "pricelevel": WHOLESALE, "currency": EUR, "quantity": "0", "unitprice": "74.5"},
        {"item": other, "pricelevel": BASE, "currency": USD, "quantity": "0", "unitprice": "5"},
    ]
    # Price levels and currencies must exist; a price level in use cannot be deleted.
    missing = ns.call(
        "POST", f"{RECORDS}/inventoryItem", body={"itemId": "X", "price": {"items": [price("9", USD, 1.0)]}}
    )
    assert_error(missing, 400, "INVALID_CONTENT", "price.items[0].priceLevel")
    no_currency = ns.call(
        "POST", f"{RECORDS}/inventoryItem", body={"itemId": "X", "price": {"items": [price(BASE, "7", 1.0)]}}
    )
    assert_error(no_currency, 400, "INVALID_CONTENT", "price.items[0].currency")
    assert_error(ns.call("DELETE", f"{RECORDS}/priceLevel/{WHOLESALE}"), 400, "USER_ERROR")


def test_a_duplicate_price_line_is_refused(netsuite: NetSuiteSandboxUnderTest, accounts: str) -> None:
    ns = netsuite
    duplicate = ns.call(
        "POST",
        f"{RECORDS}/inventoryItem",
        body={
            "itemId": "WID-1",
            "price": {"items": [price(BASE, USD, 100.0), price(BASE, USD, 95.0, quantity=0)]},
        },
    )
    detail = assert_error(duplicate, 400, "USER_ERROR", "price.items[1].quantity")
    assert "already has a price for price level" in detail["detail"] and "replace=price" in detail["detail"]
    widget = ns.create("inventoryItem", {"itemId": "WID-1", "price": {"items": [price(BASE, USD, 100.0)]}})
    # Without replace the line sent is added: the same (level, currency, quantity) again is refused ...
    again = ns.call(
        "PATCH", f"{RECORDS}/inventoryItem/{widget}", body={"price": {"items": [price(BASE, USD, 99.0)]}}
    )
    assert_error(again, 400, "USER_ERROR", "price.items[1].quantity")
    # ... while naming the line, or replacing the matrix, changes the price.
    by_line = ns.call(
        "PATCH", f"{RECORDS}/inventoryItem/{widget}", body={"price": {"items": [{"line": 1, "price": 99.0}]}}
    )
    assert by_line.status_code == 204, by_line.text
    replaced = ns.call(
        "PATCH",
        f"{RECORDS}/inventoryItem/{widget}",
        params={"replace": "price"},
        body={"price": {"items": [price(BASE, USD, 98.0), price(BASE, EUR, 90.0)]}},
    )
    assert replaced.status_code == 204, replaced.text
    assert rows(ns, f"SELECT currency, unitprice FROM pricing WHERE item = {widget} ORDER BY currency") == [
        {"currency": USD, "unitprice": "98"},
        {"currency": EUR, "unitprice": "90"},
    ]
    # The admin load refuses it in the load's own error style.
    response = ns.admin(
        "POST",
        "/load",
        {
            "records": {
                "serviceSaleItem": [
                    {"itemId": "S", "price": {"items": [price(BASE, USD, 1.0), price(BASE, USD, 2.0)]}}
                ]
            }
        },
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "serviceSaleItem" and body["index"] == 0
    assert body["message"].startswith("serviceSaleItem[0]: USER_ERROR at price.items[1].quantity:")


def test_a_price_change_is_a_change_of_the_item(netsuite: NetSuiteSandboxUnderTest, accounts: str) -> None:
    ns = netsuite
    ids = ns.load(
        {
            "inventoryItem": [
                {"itemId": f"WID-{n}", "price": {"items": [price(BASE, USD, 10.0 * n)]}} for n in range(1, 4)
            ]
        }
    )["inventoryItem"]
    before = ns.get("inventoryItem", ids[1])["lastModifiedDate"]
    advance(ns, 5)
    watermark = clock_now(ns)
    patched = ns.call(
        "PATCH", f"{RECORDS}/inventoryItem/{ids[1]}", body={"price": {"items": [{"line": 1, "price": 21.0}]}}
    )
    assert patched.status_code == 204, patched.text
    assert ns.get("inventoryItem", ids[1])["lastModifiedDate"] > before

    query = (
        "SELECT id, itemid, displayname, description, itemtype, isinactive, "
        "TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS modified FROM item "
        f"WHERE lastmodifieddate >= {WATERMARK.format(watermark)} AND id > 0 ORDER BY id FETCH FIRST 10 ROWS ONLY"
    )
    [row] = rows(ns, query)
    assert row["id"] == ids[1] and row["itemtype"] == "InvtPart" and row["modified"] >= watermark
    assert rows(ns, f"SELECT unitprice FROM pricing WHERE item = {row['id']}") == [{"unitprice": "21"}]


def test_order_lines_take_any_item_type_and_default_their_rate_from_the_price_matrix(
    netsuite: NetSuiteSandboxUnderTest, accounts: str
) -> None:
    ns = netsuite
    eu_customer = ns.create("customer", {"companyName": "Initech", "subsidiary": {"id": "3"}})
    cable = ns.create(
        "nonInventorySaleItem",
        {
            "itemId": "CABLE",
            "price": {"items": [price(BASE, USD, 5.0), price(BASE, EUR, 4.5), price(BASE, USD, 4.0, 100)]},
        },
    )
    setup = ns.create(
        "serviceSaleItem",
        {"itemId": "SETUP", "basePrice": 300.0, "price": {"items": [price(BASE, USD, 1.0)]}},
    )
    wholesale_only = ns.create(
        "inventoryItem", {"itemId": "WH", "price": {"items": [price(WHOLESALE, USD, 7.0)]}}
    )
    kit = ns.create("itemGroup", {"itemId": "KIT", "member": {"items": [{"item": {"id": cable}}]}})

    order_id = ns.create(
        "salesOrder",
        {
            "entity": {"id": accounts},
            "item": {
                "items": [
                    {"item": {"id": cable}, "quantity": 200},
                    {"item": {"id": setup}, "quantity": 1},
                    {"item": {"id": kit}, "quantity": 1, "rate": 50.0},
                ]
            },
        },
    )
    order = ns.get("salesOrder", order_id, expandSubResources="true")
    assert [(li["item"]["refName"], li["rate"]) for li in order["item"]["items"]] == [
        ("CABLE", 5),  # Base Price, USD, quantity 0 (breaks are not applied)
        ("SETUP", 300),  # basePrice first
        ("KIT", 50),
    ]
    assert order["item"]["items"][0]["item"]["links"][0]["href"].endswith(f"/nonInventorySaleItem/{cable}")
    eu = ns.create(
        "salesOrder", {"entity": {"id": eu_customer}, "item": {"items": [{"item": {"id": cable}}]}}
    )
    assert ns.get("salesOrder", eu)["total"] == 4.5
    no_price = ns.call(
        "POST",
        f"{RECORDS}/salesOrder",
        body={"entity": {"id": accounts}, "item": {"items": [{"item": {"id": wholesale_only}}]}},
    )
    assert "no Base Price row" in assert_error(no_price, 400, "USER_ERROR", "item.items[0].rate")["detail"]

    invoice = ns.call("POST", f"{RECORDS}/salesOrder/{order_id}/!transform/invoice", body={})
    assert invoice.status_code == 204, invoice.text
    invoice_id = invoice.headers["Location"].rsplit("/", 1)[-1]
    assert ns.get("invoice", invoice_id)["total"] == 1350
    assert rows(ns, f"SELECT item FROM transactionline WHERE transaction = {invoice_id} ORDER BY id") == [
        {"item": cable},
        {"item": setup},
        {"item": kit},
    ]
    memo = ns.call("POST", f"{RECORDS}/invoice/{invoice_id}/!transform/creditMemo", body={})
    assert memo.status_code == 204, memo.text


def test_admin_load_takes_items_with_prices_groups_locations_and_price_levels(
    netsuite: NetSuiteSandboxUnderTest,
) -> None:
    ids = netsuite.load(
        {
            "currency": CURRENCIES,
            "subsidiary": SUBSIDIARIES,
            "priceLevel": [{"name": "Wholesale"}, {"id": "5", "name": "Partner", "isInactive": True}],
            "location": [{"name": "Main", "subsidiary": {"id": "1"}, "externalId": "LOC-MAIN"}],
            "inventoryItem": [{"itemId": "A", "price": {"items": [price("5", EUR, 3.0)]}}],
            "serviceSaleItem": [{"id": "50", "itemId": "B"}],
            "itemGroup": [{"itemId": "G", "member": {"items": [{"item": {"id": "50"}, "quantity": 3}]}}],
        }
    )
    assert ids["priceLevel"] == ["2", "5"] and ids["serviceSaleItem"] == ["50"]
    assert int(ids["itemGroup"][0]) > 50  # the item types share one id sequence
    assert rows(netsuite, "SELECT id, name, isinactive FROM pricelevel ORDER BY id") == [
        {"id": "1", "name": "Base Price", "isinactive": "F"},
        {"id": "2", "name": "Wholesale", "isinactive": "F"},
        {"id": "5", "name": "Partner", "isinactive": "T"},
    ]
    assert rows(netsuite, "SELECT id, name, externalid FROM location") == [
        {"id": ids["location"][0], "name": "Main", "externalid": "LOC-MAIN"}
    ]
    stats = netsuite.admin("GET", "/stats").json()["counts"]
    assert (stats["priceLevel"], stats["location"], stats["itemGroup"], stats["serviceSaleItem"]) == (
        2,
        1,
        1,
        1,
    )
    clash = netsuite.admin(
        "POST", "/load", {"records": {"nonInventorySaleItem": [{"id": "50", "itemId": "C"}]}}
    )
    assert clash.status_code == 400, clash.text  # the id is taken by another item type
    bad = netsuite.admin("POST", "/load", {"records": {"location": [{"name": "No subsidiary"}]}})
    assert (
        bad.status_code == 400 and bad.json()["type"] == "location" and "subsidiary" in bad.json()["message"]
    )


# -- at volume ------------------------------------------------------------------------------------

ITEMS_AT_VOLUME = 5000
CURRENCIES_AT_VOLUME = [
    *CURRENCIES,
    {"id": "3", "name": "British Pound", "symbol": "GBP", "exchangeRate": 1.27},
    {"id": "4", "name": "Canadian Dollar", "symbol": "CAD", "exchangeRate": 0.73},
]


def test_the_catalog_queries_answer_fast_at_5000_items_and_40000_prices(
    netsuite: NetSuiteSandboxUnderTest,
) -> None:
    ns = netsuite
    ids = ns.load(
        {"currency": CURRENCIES_AT_VOLUME, "subsidiary": SUBSIDIARIES, "priceLevel": [{"name": "Wholesale"}]}
    )
    customer = ns.load({"customer": [{"companyName": "Globex", "subsidiary": {"id": "1"}}]})["customer"][0]
    location = ns.load({"location": [{"name": "Main", "subsidiary": {"id": "1"}}]})["location"][0]
    currencies = [str(c["id"]) for c in CURRENCIES_AT_VOLUME]
    item_ids: list[str] = []
    for start in range(0, ITEMS_AT_VOLUME, 1000):
        batch = [
            {
                "itemId": f"ITEM-{n:05d}",
                "displayName": f"Item {n}",
                "price": {
                    "items": [
                        price(level, currency, float(n % 97 + 1) * (1 if level == BASE else 0.8))
                        for level in (BASE, ids["priceLevel"][0])
                        for currency in currencies
                    ]
                },
            }
            for n in range(start, start + 1000)
        ]
        kind = (
            "inventoryItem"
            if start < 2000
            else ("nonInventorySaleItem" if start < 4000 else "serviceSaleItem")
        )
        item_ids += ns.load({kind: batch})[kind]
    groups = ns.load(
        {
            "itemGroup": [
                {
                    "itemId": f"KIT-{n}",
                    "member": {"items": [{"item": {"id": item_ids[n]}}, {"item": {"id": item_ids[n + 1]}}]},
                }
                for n in range(0, 200, 2)
            ]
        }
    )["itemGroup"]
    ns.admin("POST", "/inventory/receive", {"item": item_ids[0], "location": location, "quantity": 100})
    ns.load(
        {
            "salesOrder": [
                {
                    "entity": {"id": customer},
                    "item": {
                        "items": [
                            {"item": {"id": item_ids[(n * 7) % 2000]}, "quantity": 2},
                            {"item": {"id": item_ids[n]}},
                        ]
                    },
                }
                for n in range(300)
            ]
        }
    )
    assert rows(ns, "SELECT COUNT(*) AS n FROM pricing") == [{"n": str(ITEMS_AT_VOLUME * 8)}]

    def timed(query: str, **params: Any) -> tuple[float, list[dict[str, Any]]]:
        began = time.perf_counter()
        found = rows(ns, query, **params)
        return time.perf_counter() - began, found

    chunk = ", ".join(item_ids[1000:1500])
    elapsed, prices = timed(
        "SELECT item, pricelevel, currency, quantity, unitprice FROM pricing "
        f"WHERE item IN ({chunk}) ORDER BY item, pricelevel, currency, quantity",
        limit=1000,
        offset=0,
    )
    assert len(prices) == 1000 and prices[0]["item"] == item_ids[1000]
    assert elapsed < 0.5, f"pricing for 500 items took {elapsed:.2f}s"
    elapsed, _ = timed(
        "SELECT item, pricelevel, currency, quantity, unitprice FROM pricing "
        f"WHERE item IN ({chunk}) ORDER BY item, pricelevel, currency, quantity",
        limit=1000,
        offset=3000,
    )
    assert elapsed < 0.5, f"the last page of pricing for 500 items took {elapsed:.2f}s"

    elapsed, items = timed(
        "SELECT id, itemid, displayname, description, itemtype, isinactive, "
        "TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS modified FROM item "
        f"WHERE lastmodifieddate >= TO_DATE('2000-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS') AND id > {item_ids[2500]} "
        "ORDER BY id FETCH FIRST 1000 ROWS ONLY"
    )
    assert [i["id"] for i in items] == (item_ids[2501:] + groups)[:1000]
    assert elapsed < 0.5, f"a page of changed items took {elapsed:.2f}s"

    elapsed, members = timed(
        "SELECT m.parentitem, m.item, i.itemid, m.quantity FROM itemmember m JOIN item i ON i.id = m.item "
        f"WHERE m.parentitem IN ({', '.join(groups)}) ORDER BY m.parentitem, m.item"
    )
    assert len(members) == 200 and elapsed < 0.5, f"group members took {elapsed:.2f}s"

    elapsed, changed = timed(
        "SELECT DISTINCT tl.item FROM transactionline tl JOIN transaction t ON t.id = tl.transaction "
        "WHERE t.type IN ('SalesOrd','ItemShip','InvAdjst') "
        "AND t.lastmodifieddate >= TO_DATE('2000-01-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS') AND tl.item > 0 "
        "ORDER BY tl.item"
    )
    assert len(changed) > 300 and elapsed < 0.5, f"changed stock items took {elapsed:.2f}s"
    stocked = ", ".join(item_ids[:500])
    elapsed, levels = timed(
        "SELECT item, location, quantityonhand, quantityavailable, quantityonorder, quantitybackordered "
        f"FROM inventoryitemlocations WHERE item IN ({stocked})"
    )
    assert len(levels) == 500 and elapsed < 0.5, f"stock of 500 items took {elapsed:.2f}s"
    assert next(lv for lv in levels if lv["item"] == item_ids[0])["quantityonhand"] == "100"
