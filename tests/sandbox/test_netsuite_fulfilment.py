"""The NetSuite sandbox's stock and fulfilment over real HTTPS: locations, commitments and back-orders,
item fulfillments (!transform/itemFulfillment), receipts and expected receipts on the sandbox clock, and
the SuiteQL q2c's inventory sync reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from q2c_sandbox.netsuite.account import SandboxClock
from q2c_sandbox.netsuite.app import NetSuiteSandboxSettings, create_app
from q2c_sandbox.server import BackgroundServer, free_port
from q2c_sandbox.tls import ensure_server_cert
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


@dataclass
class Warehouse:
    customer: str  # USD, subsidiary 1
    eu_customer: str  # EUR, subsidiary 3
    widget: str  # inventory item, basePrice 100
    gadget: str  # inventory item, basePrice 40
    cable: str  # non-inventory item
    setup: str  # service item
    kit: str  # item group
    main: str  # location of subsidiary 1 (the first one)
    overflow: str  # another location of subsidiary 1
    berlin: str  # location of subsidiary 3


def _load_warehouse(ns: NetSuiteSandboxUnderTest) -> Warehouse:
    ids = ns.load(
        {
            "currency": CURRENCIES,
            "subsidiary": SUBSIDIARIES,
            "location": [
                {"name": "Berlin", "subsidiary": {"id": "3"}},
                {"name": "Main Warehouse", "subsidiary": {"id": "1"}},
                {"name": "Overflow", "subsidiary": {"id": "1"}},
            ],
            "inventoryItem": [
                {"itemId": "WID-1", "displayName": "Widget", "basePrice": 100.0},
                {"itemId": "GAD-1", "displayName": "Gadget", "basePrice": 40.0},
            ],
            "nonInventorySaleItem": [{"itemId": "CABLE", "basePrice": 5.0}],
            "serviceSaleItem": [{"itemId": "SETUP", "basePrice": 300.0}],
            "customer": [
                {"companyName": "Globex", "subsidiary": {"id": "1"}},
                {"companyName": "Initech GmbH", "subsidiary": {"id": "3"}},
            ],
        }
    )
    widget, gadget = ids["inventoryItem"]
    kit = ns.load(
        {
            "itemGroup": [
                {
                    "itemId": "KIT",
                    "member": {"items": [{"item": {"id": widget}, "quantity": 2}, {"item": {"id": gadget}}]},
                }
            ]
        }
    )["itemGroup"][0]
    berlin, main, overflow = ids["location"]
    return Warehouse(
        customer=ids["customer"][0],
        eu_customer=ids["customer"][1],
        widget=widget,
        gadget=gadget,
        cable=ids["nonInventorySaleItem"][0],
        setup=ids["serviceSaleItem"][0],
        kit=kit,
        main=main,
        overflow=overflow,
        berlin=berlin,
    )


@pytest.fixture
def warehouse(netsuite: NetSuiteSandboxUnderTest) -> Warehouse:
    return _load_warehouse(netsuite)


# -- helpers ---------------------------------------------------------------------------------------


def rows(ns: NetSuiteSandboxUnderTest, query: str) -> list[dict[str, Any]]:
    response = ns.suiteql(query)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return [{k: v for k, v in row.items() if k != "links"} for row in items]


def receive(ns: NetSuiteSandboxUnderTest, item: str, location: str, quantity: float) -> dict[str, Any]:
    response = ns.admin(
        "POST", "/inventory/receive", {"item": item, "location": location, "quantity": quantity}
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def order(ns: NetSuiteSandboxUnderTest, customer: str, *lines: dict[str, Any]) -> str:
    return ns.create("salesOrder", {"entity": {"id": customer}, "item": {"items": list(lines)}})


def line(item: str, quantity: float, **extra: Any) -> dict[str, Any]:
    return {"item": {"id": item}, "quantity": quantity, **extra}


def lines_of(ns: NetSuiteSandboxUnderTest, record_type: str, record_id: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = ns.get(record_type, record_id, expandSubResources="true")["item"]["items"]
    return items


def fulfil(ns: NetSuiteSandboxUnderTest, order_id: str, body: Any = None) -> httpx.Response:
    return ns.call("POST", f"{RECORDS}/salesOrder/{order_id}/!transform/itemFulfillment", body=body)


def fulfilled(ns: NetSuiteSandboxUnderTest, order_id: str, body: Any = None) -> str:
    response = fulfil(ns, order_id, body)
    assert response.status_code == 204, response.text
    return response.headers["Location"].rsplit("/", 1)[-1]


def stock(ns: NetSuiteSandboxUnderTest, item: str, location: str) -> dict[str, str]:
    [row] = rows(
        ns,
        "SELECT quantityonhand, quantityavailable, quantityonorder, quantitybackordered, quantitycommitted "
        f"FROM inventoryitemlocations WHERE item = {item} AND location = {location}",
    )
    return row


def status(ns: NetSuiteSandboxUnderTest, order_id: str) -> str:
    return str(ns.get("salesOrder", order_id)["status"]["refName"])


def advance(ns: NetSuiteSandboxUnderTest, **by: float) -> None:
    response = ns.admin("PUT", "/clock", by)
    assert response.status_code == 200, response.text


def clock_now(ns: NetSuiteSandboxUnderTest) -> str:
    return str(ns.admin("GET", "/clock").json()["now"])[:19].replace("T", " ")


# -- locations and commitments ----------------------------------------------------------------------


def test_locations_read_back_and_order_lines_default_to_their_subsidiarys_first_location(
    netsuite: NetSuiteSandboxUnderTest, warehouse: Warehouse
) -> None:
    ns, w = netsuite, warehouse
    assert rows(ns, "SELECT id, name, subsidiary, isinactive FROM location ORDER BY id") == [
        {"id": w.berlin, "name": "Berlin", "subsidiary": "3", "isinactive": "F"},
        {"id": w.main, "name": "Main Warehouse", "subsidiary": "1", "isinactive": "F"},
        {"id": w.overflow, "name": "Overflow", "subsidiary": "1", "isinactive": "F"},
    ]
    location = ns.get("location", w.main)
    assert location["name"] == "Main Warehouse" and location["subsidiary"]["refName"] == "Q2C Inc. (US)"

    us = order(
        ns, w.customer, line(w.widget, 1), line(w.setup, 1), line(w.gadget, 1, location={"id": w.overflow})
    )
    assert [(li["location"]["id"], li["location"]["refName"]) for li in lines_of(ns, "salesOrder", us)] == [
        (w.main, "Main Warehouse"),
        (w.main, "Main Warehouse"),
        (w.overflow, "Overflow"),
    ]
    eu = order(ns, w.eu_customer, line(w.widget, 1))
    assert lines_of(ns, "salesOrder", eu)[0]["location"]["id"] == w.berlin
    # An inactive location is not a default.
    assert ns.call("PATCH", f"{RECORDS}/location/{w.berlin}", body={"isInactive": True}).status_code == 204
    other = order(ns, w.eu_customer, line(w.widget, 1))
    assert lines_of(ns, "salesOrder", other)[0]["location"]["id"] == w.main
    # Every inventory item has a row per location; one with no stock reads zeros.
    assert stock(ns, w.gadget, w.berlin) == {
        "quantityonhand": "0",
        "quantityavailable": "0",
        "quantityonorder": "0",
        "quantitybackordered": "0",
        "quantitycommitted": "0",
    }
    assert rows(ns, f"SELECT COUNT(*) AS n FROM inventoryitemlocations WHERE item = {w.cable}") == [
        {"n": "0"}
    ]


def test_an_order_commits_what_is_available_and_back_orders_the_rest(
    netsuite: NetSuiteSandboxUnderTest, warehouse: Warehouse
) -> None:
    ns, w = netsuite, warehouse
    received = receive(ns, w.widget, w.main, 10)
    assert received["tranId"] == "ADJ1001" and received["committed_orders"] == []
    assert received["balances"] == [
        {
            "item": w.widget,
            "location": w.main,
            "on_hand": 10.0,
            "committed": 0.0,
            "on_order": 0.0,
            "back_ordered": 0.0,
            "available": 10.0,
        }
    ]
    order_id = order(ns, w.customer, line(w.widget, 15), line(w.cable, 3), line(w.setup, 1))
    widget, cable, setup = lines_of(ns, "salesOrder", order_id)
    assert (widget["quantityCommitted"], widget["quantityBackOrdered"], widget["quantityFulfilled"]) == (
        10,
        5,
        0,
    )
    assert "quantityCommitted" not in cable and cable["quantityFulfilled"] == 0  # no stock for non-inventory
    assert "quantityCommitted" not in setup
    assert stock(ns, w.widget, w.main) == {
        "quantityonhand": "10",
        "quantityavailable": "0",
        "quantityonorder": "0",
        "quantitybackordered": "5",
        "quantitycommitted": "10",
    }
    assert rows(ns, "SELECT item, location, quantityonhand, quantityavailable FROM inventorybalance") == [
        {"item": w.widget, "location": w.main, "quantityonhand": "10", "quantityavailable": "0"}
    ]
    [tl] = rows(
        ns,
        "SELECT location, quantitycommitted, quantitybackordered, quantityshiprecv FROM transactionline "
        f"WHERE transaction = {order_id} AND item = {w.widget}",
    )
    assert tl == {
        "location": w.main,
        "quantitycommitted": "10",
        "quantitybackordered": "5",
        "quantityshiprecv": "0",
    }

    # Lowering the quantity keeps the order's own commitment and releases the rest.
    patched = ns.call(
        "PATCH", f"{RECORDS}/salesOrder/{order_id}", body={"item": {"items": [{"line": 1, "quantity": 4}]}}
    )
    assert patched.status_code == 204, patched.text
    assert stock(ns, w.widget, w.main)["quantitycommitted"] == "4"
    assert stock(ns, w.widget, w.main)["quantityavailable"] == "6"
    # Moving the line to another location moves its commitment (nothing is stocked there).
    moved = ns.call(
        "PATCH",
        f"{RECORDS}/salesOrder/{order_id}",
        body={"item": {"items": [{"line": 1, "location": {"id": w.overflow}}]}},
    )
    assert moved.status_code == 204, moved.text
    assert stock(ns, w.widget, w.main)["quantitycommitted"] == "0"
    assert stock(ns, w.widget, w.overflow)["quantitybackordered"] == "4"
    # Deleting the order releases everything it held.
    assert ns.call("DELETE", f"{RECORDS}/salesOrder/{order_id}").status_code == 204
    assert stock(ns, w.widget, w.overflow)["quantitybackordered"] == "0"


def test_closing_a_line_releases_its_commitment_to_the_oldest_back_order(
    netsuite: NetSuiteSandboxUnderTest, warehouse: Warehouse
) -> None:
    ns, w = netsuite, warehouse
    receive(ns, w.widget, w.main, 10)
    first = order(ns, w.customer, line(w.widget, 10))
    second = order(ns, w.customer, line(w.widget, 4))
    third = order(ns, w.customer, line(w.widget, 3))
    assert [lines_of(ns, "salesOrder", o)[0]["quantityBackOrdered"] for o in (first, second, third)] == [
        0,
        4,
        3,
    ]
    before = ns.get("salesOrder", second)["lastModifiedDate"]
    advance(ns, advance_seconds=5)

    closed = ns.call(
        "PATCH", f"{RECORDS}/salesOrder/{first}", body={"item": {"items": [{"line": 1, "isClosed": True}]}}
    )
    assert closed.status_code == 204, closed.text
    assert status(ns, first) == "Closed"
    assert lines_of(ns, "salesOrder", first)[0]["quantityCommitted"] == 0
    assert lines_of(ns, "salesOrder", second)[0]["quantityCommitted"] == 4
    assert lines_of(ns, "salesOrder", third)[0]["quantityCommitted"] == 3
    assert ns.get("salesOrder", second)["lastModifiedDate"] > before
    assert stock(ns, w.widget, w.main)["quantityavailable"] == "3"


def test_admin_loaded_orders_and_adjustments_move_stock_like_client_writes(
    netsuite: NetSuiteSandboxUnderTest, warehouse: Warehouse
) -> None:
    ns, w = netsuite, warehouse
    ids = ns.load(
        {
            "inventoryAdjustment": [
                {
                    "inventory": {
                        "items": [{"item": {"id": w.gadget}, "location": {"id": w.main}, "adjustQtyBy": 7}]
                    }
                }
            ],
            "salesOrder": [{"entity": {"id": w.customer}, "item": {"items": [line(w.gadget, 9)]}}],
        }
    )
    adjustment = ns.get("inventoryAdjustment", ids["inventoryAdjustment"][0], expandSubResources="true")
    assert adjustment["subsidiary"]["id"] == "1"  # from the location
    assert adjustment["inventory"]["items"][0]["adjustQtyBy"] == 7
    assert stock(ns, w.gadget, w.main)["quantitycommitted"] == "7"
    assert stock(ns, w.gadget, w.main)["quantitybackordered"] == "2"
    # A non-inventory item holds no stock; an adjustment below zero on hand is refused.
    response = ns.admin(
        "POST",
        "/load",
        {
            "records": {
                "inventoryAdjustment": [
                    {
                        "inventory": {
                            "items": [{"item": {"id": w.cable}, "location": {"id": w.main}, "adjustQtyBy": 1}]
                        }
                    }
                ]
            }
        },
    )
    assert response.status_code == 400 and "only inventory items hold stock" in response.json()["message"]
    below = ns.call(
        "POST",
        f"{RECORDS}/inventoryAdjustment",
        body={
            "inventory": {
                "items": [{"item": {"id": w.gadget}, "location": {"id": w.main}, "adjustQtyBy": -8}]
            }
        },
    )
    assert "below zero" in assert_error(below, 400, "USER_ERROR")["detail"]


# -- fulfilment -----------------------------------------------------------------------------------


def test_partial_then_full_fulfilment_moves_stock_quantities_and_status(
    netsuite: NetSuiteSandboxUnderTest, warehouse: Warehouse
) -> None:
    ns, w = netsuite, warehouse
    receive(ns, w.widget, w.main, 10)
    order_id = order(ns, w.customer, line(w.widget, 6), line(w.cable, 2), line(w.setup, 1))
    assert status(ns, order_id) == "Pending Fulfillment"
    watermark = clock_now(ns)
    before = ns.get("salesOrder", order_id)["lastModifiedDate"]
    advance(ns, advance_seconds=5)

    first = fulfilled(
        ns,
        order_id,
        {
            "shipStatus": {"id": "B"},
            "tranDate": "2026-03-02",
            "package": {"items": [{"packageTrackingNumber": "1Z111"}, {"packageTrackingNumber": "1Z222"}]},
            "item": {"items": [{"orderLine": 1, "quantity": 4}]},
        },
    )
    fulfilment = ns.get("itemFulfillment", first, expandSubResources="true")
    assert fulfilment["tranId"] == "IF1001"
    assert (
        fulfilment["createdFrom"]["id"] == order_id
        and fulfilment["createdFrom"]["refName"] == "Sales Order #SO1001"
    )
    assert fulfilment["entity"]["id"] == w.customer
    assert fulfilment["shipStatus"] == {"id": "B", "refName": "Packed"}
    assert fulfilment["status"] == {"id": "B", "refName": "Packed"}
    assert fulfilment["tranDate"] == "2026-03-02"
    [shipped] = fulfilment["item"]["items"]
    assert shipped["item"]["id"] == w.widget and shipped["item"]["links"][0]["href"].endswith(
        f"/inventoryItem/{w.widget}"
    )
    assert (shipped["quantity"], shipped["orderLine"], shipped["location"]["id"]) == (4, 1, w.main)
    assert [p["packageTrackingNumber"] for p in fulfilment["package"]["items"]] == ["1Z111", "1Z222"]

    assert status(ns, order_id) == "Pending Billing/Partially Fulfilled"
    assert ns.get("salesOrder", order_id)["lastModifiedDate"] > before
    widget, cable, _ = lines_of(ns, "salesOrder", order_id)
    assert (widget["quantityFulfilled"], widget["quantityCommitted"], widget["quantityBackOrdered"]) == (
        4,
        2,
        0,
    )
    assert cable["quantityFulfilled"] == 0
    assert stock(ns, w.widget, w.main)["quantityonhand"] == "6"
    assert stock(ns, w.widget, w.main)["quantitycommitted"] == "2"

    # Without an item sublist: everything open that can ship (the service line is not fulfilled).
    second = fulfilled(ns, order_id)
    assert [(li["orderLine"], li["quantity"]) for li in lines_of(ns, "itemFulfillment", second)] == [
        (1, 2),
        (2, 2),
    ]
    assert ns.get("itemFulfillment", second)["shipStatus"]["refName"] == "Shipped"  # the default
    assert status(ns, order_id) == "Pending Billing"
    assert stock(ns, w.widget, w.main) == {
        "quantityonhand": "4",
        "quantityavailable": "4",
        "quantityonorder": "0",
        "quantitybackordered": "0",
        "quantitycommitted": "0",
    }

    ships = rows(
        ns,
        "SELECT id, tranid, type, createdfrom, status, trandate, entity, trackingnumberlist, recordtype "
        f"FROM transaction WHERE type = 'ItemShip' AND createdfrom = {order_id} ORDER BY id",
    )
    today = dt.date.fromisoformat(ns.admin("GET", "/clock").json()["today"])
    assert ships == [
        {
            "id": first,
            "tranid": "IF1001",
            "type": "ItemShip",
            "createdfrom": order_id,
            "status": "B",
            "trandate": "3/2/2026",
            "entity": w.customer,
            "trackingnumberlist": "1Z111,1Z222",
            "recordtype": "itemfulfillment",
        },
        {
            "id": second,
            "tranid": "IF1002",
            "type": "ItemShip",
            "createdfrom": order_id,
            "status": "C",
            "trandate": f"{today.month}/{today.day}/{today.year}",
            "entity": w.customer,
            "recordtype": "itemfulfillment",
        },
    ]
    assert rows(ns, f"SELECT trackingnumberlist FROM transaction WHERE id = {order_id}") == [{}]
    assert rows(
        ns,
        "SELECT tl.transaction, tl.item, tl.quantity, tl.location, tl.createdfrom FROM transactionline tl "
        "JOIN transaction t ON t.id = tl.transaction WHERE t.type = 'ItemShip' ORDER BY tl.transaction, tl.id",
    ) == [
        {
            "transaction": first,
            "item": w.widget,
            "quantity": "4",
            "location": w.main,
            "createdfrom": order_id,
        },
        {
            "transaction": second,
            "item": w.widget,
            "quantity": "2",
            "location": w.main,
            "createdfrom": order_id,
        },
        {
            "transaction": second,
            "item": w.cable,
            "quantity": "2",
            "location": w.main,
            "createdfrom": order_id,
        },
    ]
    assert rows(
        ns,
        "SELECT previousdoc, previousline, nextdoc, nextline, linktype FROM NextTransactionLineLink "
        f"WHERE previousdoc = {order_id} AND nexttype = 'ItemShip' ORDER BY nextdoc, nextline",
    ) == [
        {
            "previousdoc": order_id,
            "previousline": "1",
            "nextdoc": first,
            "nextline": "1",
            "linktype": "ShipRcpt",
        },
        {
            "previousdoc": order_id,
            "previousline": "1",
            "nextdoc": second,
            "nextline": "1",
            "linktype": "ShipRcpt",
        },
        {
            "previousdoc": order_id,
            "previousline": "2",
            "nextdoc": second,
            "nextline": "2",
            "linktype": "ShipRcpt",
        },
    ]
    # The order and its fulfilments show in a change poll from before the first one.
    changed = rows(
        ns,
        "SELECT id, type FROM transaction WHERE type IN ('SalesOrd', 'ItemShip') "
        f"AND lastmodifieddate >= {WATERMARK.format(watermark)} ORDER BY id",
    )
    assert changed == [
        {"id": order_id, "type": "SalesOrd"},
        {"id": first, "type": "ItemShip"},
        {"id": second, "type": "ItemShip"},
    ]


def test_fulfilling_too_much_or_the_wrong_line_is_a_user_error_naming_the_line(
    netsuite: NetSuiteSandboxUnderTest, warehouse: Warehouse
) -> None:
    ns, w = netsuite, warehouse
    receive(ns, w.widget, w.main, 3)
    order_id = order(ns, w.customer, line(w.widget, 5), line(w.cable, 2), line(w.setup, 1), line(w.gadget, 1))

    def refused(items: list[dict[str, Any]], path: str) -> str:
        detail = assert_error(fulfil(ns, order_id, {"item": {"items": items}}), 400, "USER_ERROR", path)
        return str(detail["detail"])

    assert refused([{"orderLine": 2, "quantity": 3}], "item.items[0].quantity") == (
        "Line 2 of sales order SO1001 (item CABLE): cannot fulfil 3; 2 ordered, 0 already fulfilled, 2 remaining."
    )
    assert refused([{"orderLine": 1, "quantity": 4}], "item.items[0].quantity") == (
        "Line 1 of sales order SO1001 (item WID-1): cannot fulfil 4 from location Main Warehouse: 3 is "
        "committed to the line and 0 more is available there (on hand 3)."
    )
    assert "cannot fulfil 6; 5 ordered" in refused(
        [{"orderLine": 1, "quantity": 6}], "item.items[0].quantity"
    )
    # Two lines naming the same order line add up.
    assert "1 remaining" in refused(
        [{"orderLine": 2, "quantity": 1}, {"orderLine": 2, "quantity": 2}], "item.items[1].quantity"
    )
    assert "service items are not fulfilled" in refused(
        [{"orderLine": 3, "quantity": 1}], "item.items[0].orderLine"
    )
    assert "has no line 9" in refused([{"orderLine": 9, "quantity": 1}], "item.items[0].orderLine")
    assert "greater than zero" in refused([{"orderLine": 2, "quantity": 0}], "item.items[0].quantity")
    # Nothing of the gadget is in stock.
    assert "enter the location" not in refused([{"orderLine": 4, "quantity": 1}], "item.items[0].quantity")

    close = ns.call(
        "PATCH", f"{RECORDS}/salesOrder/{order_id}", body={"item": {"items": [{"line": 2, "isClosed": True}]}}
    )
    assert close.status_code == 204
    assert "is closed and cannot be fulfilled" in refused(
        [{"orderLine": 2, "quantity": 1}], "item.items[0].orderLine"
    )
    # A fulfilment is only ever made by the transform.
    direct = ns.call("POST", f"{RECORDS}/itemFulfillment", body={"createdFrom": {"id": order_id}})
    assert "!transform/itemFulfillment" in assert_error(direct, 400, "USER_ERROR")["detail"]
    assert ns.admin("GET", "/stats").json()["counts"]["itemFulfillment"] == 0

    # Only what is committed ships by default; then nothing is left that can ship.
    default = fulfilled(ns, order_id)
    assert [(li["orderLine"], li["quantity"]) for li in lines_of(ns, "itemFulfillment", default)] == [(1, 3)]
    assert "nothing to fulfil now" in assert_error(fulfil(ns, order_id), 400, "USER_ERROR", "item")["detail"]
    # A fulfilled line cannot be removed or cut below what shipped.
    cut = ns.call(
        "PATCH", f"{RECORDS}/salesOrder/{order_id}", body={"item": {"items": [{"line": 1, "quantity": 2}]}}
    )
    assert (
        "less than the 3 already fulfilled"
        in assert_error(cut, 400, "USER_ERROR", "item.items[0].quantity")["detail"]
    )
    replaced = ns.call(
        "PATCH",
        f"{RECORDS}/salesOrder/{order_id}",
        params={"replace": "item"},
        body={"item": {"items": [line(w.gadget, 1)]}},
    )
    assert "cannot be removed" in assert_error(replaced, 400, "USER_ERROR", "item")["detail"]


def test_a_fulfilment_changes_its_ship_status_and_packages_but_not_its_lines(
    netsuite: NetSuiteSandboxUnderTest, warehouse: Warehouse
) -> None:
    ns, w = netsuite, warehouse
    receipt = receive(ns, w.widget, w.main, 5)["adjustment"]
    order_id = order(ns, w.customer, line(w.widget, 5))
    fulfilment = fulfilled(ns, order_id, {"shipStatus": "A"})
    path = f"{RECORDS}/itemFulfillment/{fulfilment}"
    assert ns.get("itemFulfillment", fulfilment)["status"]["refName"] == "Picked"

    patched = ns.call(
        "PATCH",
        path,
        body={"shipStatus": {"id": "C"}, "package": {"items": [{"packageTrackingNumber": "1ZABC"}]}},
    )
    assert patched.status_code == 204, patched.text
    after = ns.get("itemFulfillment", fulfilment, expandSubResources="true")
    assert after["status"] == {"id": "C", "refName": "Shipped"}
    assert [p["packageTrackingNumber"] for p in after["package"]["items"]] == ["1ZABC"]
    assert rows(ns, f"SELECT status, trackingnumberlist FROM transaction WHERE id = {fulfilment}") == [
        {"status": "C", "trackingnumberlist": "1ZABC"}
    ]
    changed = ns.call("PATCH", path, body={"item": {"items": [{"line": 1, "quantity": 2}]}})
    assert "cannot be changed" in assert_error(changed, 400, "USER_ERROR", "item")["detail"]
    bad = ns.call("PATCH", path, body={"shipStatus": "Z"})
    assert_error(bad, 400, "INVALID_CONTENT", "shipStatus")

    # Deleting the fulfilment puts the stock back and the order back to Pending Fulfillment.
    assert ns.call("DELETE", path).status_code == 204
    assert status(ns, order_id) == "Pending Fulfillment"
    assert stock(ns, w.widget, w.main)["quantityonhand"] == "5"
    assert stock(ns, w.widget, w.main)["quantitycommitted"] == "5"
    # The order cannot go while a fulfilment points at it, nor the receipt whose stock has shipped.
    fulfilled(ns, order_id)
    assert_error(ns.call("DELETE", f"{RECORDS}/salesOrder/{order_id}"), 400, "USER_ERROR")
    gone = ns.call("DELETE", f"{RECORDS}/inventoryAdjustment/{receipt}")
    assert "below zero on hand" in assert_error(gone, 400, "USER_ERROR")["detail"]


def test_non_inventory_and_group_lines_fulfil_without_stock_and_a_group_needs_a_rate(
    netsuite: NetSuiteSandboxUnderTest, warehouse: Warehouse
) -> None:
    ns, w = netsuite, warehouse
    no_rate = ns.call(
        "POST",
        f"{RECORDS}/salesOrder",
        body={"entity": {"id": w.customer}, "item": {"items": [line(w.kit, 1)]}},
    )
    detail = assert_error(no_rate, 400, "USER_ERROR", "item.items[0].rate")
    assert "does not expand item groups" in detail["detail"]
    order_id = order(ns, w.customer, line(w.kit, 2, rate=250.0), line(w.cable, 10))
    assert ns.get("salesOrder", order_id)["total"] == 550
    fulfilled(ns, order_id)
    assert status(ns, order_id) == "Pending Billing"
    assert [li["quantityFulfilled"] for li in lines_of(ns, "salesOrder", order_id)] == [2, 10]
    # Nothing moved in stock: the group is not expanded into its members.
    assert rows(ns, "SELECT COUNT(*) AS n FROM inventorybalance") == [{"n": "0"}]
    # An order of services only has nothing to ship: it is pending billing at once.
    services = order(ns, w.customer, line(w.setup, 1))
    assert status(ns, services) == "Pending Billing"


def test_billing_after_fulfilment_bills_the_order_and_releases_what_it_held(
    netsuite: NetSuiteSandboxUnderTest, warehouse: Warehouse
) -> None:
    ns, w = netsuite, warehouse
    receive(ns, w.widget, w.main, 10)
    full = order(ns, w.customer, line(w.widget, 2))
    fulfilled(ns, full)
    assert status(ns, full) == "Pending Billing"
    invoice = ns.call("POST", f"{RECORDS}/salesOrder/{full}/!transform/invoice", body={})
    assert invoice.status_code == 204, invoice.text
    assert status(ns, full) == "Billed"
    assert "is billed" in assert_error(fulfil(ns, full), 400, "USER_ERROR", "createdFrom")["detail"]

    partial = order(ns, w.customer, line(w.widget, 5))
    fulfilled(ns, partial, {"item": {"items": [{"orderLine": 1, "quantity": 1}]}})
    assert stock(ns, w.widget, w.main)["quantitycommitted"] == "4"
    assert ns.call("POST", f"{RECORDS}/salesOrder/{partial}/!transform/invoice", body={}).status_code == 204
    assert status(ns, partial) == "Billed"
    [billed] = lines_of(ns, "salesOrder", partial)
    assert (billed["quantityFulfilled"], billed["quantityCommitted"], billed["quantityBackOrdered"]) == (
        1,
        0,
        0,
    )
    assert stock(ns, w.widget, w.main) == {
        "quantityonhand": "7",
        "quantityavailable": "7",
        "quantityonorder": "0",
        "quantitybackordered": "0",
        "quantitycommitted": "0",
    }


# -- receipts -------------------------------------------------------------------------------------


def test_receiving_stock_commits_back_orders_oldest_first(
    netsuite: NetSuiteSandboxUnderTest, warehouse: Warehouse
) -> None:
    ns, w = netsuite, warehouse
    old = ns.create(
        "salesOrder",
        {"entity": {"id": w.customer}, "tranDate": "2026-01-02", "item": {"items": [line(w.widget, 4)]}},
    )
    new = ns.create(
        "salesOrder",
        {"entity": {"id": w.customer}, "tranDate": "2026-01-05", "item": {"items": [line(w.widget, 4)]}},
    )
    older = ns.create(
        "salesOrder",
        {"entity": {"id": w.customer}, "tranDate": "2026-01-01", "item": {"items": [line(w.widget, 4)]}},
    )
    stamps = {o: ns.get("salesOrder", o)["lastModifiedDate"] for o in (old, new, older)}
    advance(ns, advance_seconds=5)

    result = receive(ns, w.widget, w.main, 6)
    assert result["committed_orders"] == [older, old]
    assert [lines_of(ns, "salesOrder", o)[0]["quantityCommitted"] for o in (older, old, new)] == [4, 2, 0]
    assert ns.get("salesOrder", older)["lastModifiedDate"] > stamps[older]
    assert ns.get("salesOrder", new)["lastModifiedDate"] == stamps[new]
    assert result["balances"][0] | {} == {
        "item": w.widget,
        "location": w.main,
        "on_hand": 6.0,
        "committed": 6.0,
        "on_order": 0.0,
        "back_ordered": 6.0,
        "available": 0.0,
    }
    [adjustment] = rows(
        ns,
        "SELECT t.id, t.tranid, t.subsidiary, tl.item, tl.quantity, tl.location FROM transaction t "
        "JOIN transactionline tl ON tl.transaction = t.id WHERE t.type = 'InvAdjst'",
    )
    assert adjustment == {
        "id": result["adjustment"],
        "tranid": "ADJ1001",
        "subsidiary": "1",
        "item": w.widget,
        "quantity": "6",
        "location": w.main,
    }
    balances = ns.admin("GET", f"/inventory?item={w.widget}").json()
    assert balances["balances"] == result["balances"] and balances["expected"] == []


def test_admin_inventory_requests_are_checked(
    netsuite: NetSuiteSandboxUnderTest, warehouse: Warehouse
) -> None:
    ns, w = netsuite, warehouse

    def refused(path: str, body: Any) -> str:
        response = ns.admin("POST", path, body)
        assert response.status_code == 400, response.text
        return str(response.json()["message"])

    assert "only inventory items" in refused(
        "/inventory/receive", {"item": w.cable, "location": w.main, "quantity": 1}
    )
    assert "no item has internal id 999" in refused(
        "/inventory/receive", {"item": "999", "location": w.main, "quantity": 1}
    )
    assert "no location" in refused("/inventory/receive", {"item": w.widget, "location": "99", "quantity": 1})
    assert "greater than zero" in refused(
        "/inventory/receive", {"item": w.widget, "location": w.main, "quantity": 0}
    )
    assert "the body must be" in refused("/inventory/receive", {"item": w.widget})
    assert "unknown keys" in refused(
        "/inventory/receive", {"item": w.widget, "location": w.main, "quantity": 1, "x": 1}
    )
    assert "date must be" in refused(
        "/inventory/expect", {"item": w.widget, "location": w.main, "quantity": 1, "date": "3/1/2026"}
    )
    assert ns.admin("GET", "/inventory?item=abc").status_code == 400
    assert ns.admin("GET", "/inventory").json() == {"balances": [], "expected": []}
    assert (
        ns.admin(
            "POST", "/inventory/receive", {"item": w.widget, "location": w.main, "quantity": 1}
        ).status_code
        == 200
    )
    assert ns.admin("GET", "/inventory", None).headers["content-type"].startswith("application/json")


def test_an_expected_receipt_arrives_when_the_clock_reaches_its_date(
    netsuite: NetSuiteSandboxUnderTest, warehouse: Warehouse
) -> None:
    ns, w = netsuite, warehouse
    back_ordered = order(ns, w.customer, line(w.widget, 5))
    today = dt.date.fromisoformat(ns.admin("GET", "/clock").json()["today"])
    date = (today + dt.timedelta(days=3)).isoformat()
    response = ns.admin(
        "POST", "/inventory/expect", {"item": w.widget, "location": w.main, "quantity": 8, "date": date}
    )
    assert response.status_code == 200, response.text
    expected = response.json()
    assert expected["received"] is None and expected["expected"]["date"] == date
    assert stock(ns, w.widget, w.main)["quantityonorder"] == "8"
    assert ns.admin("GET", "/inventory").json()["expected"] == [expected["expected"]]

    advance(ns, advance_days=2)
    assert stock(ns, w.widget, w.main)["quantityonhand"] == "0"
    advance(ns, advance_days=1)
    assert stock(ns, w.widget, w.main) == {
        "quantityonhand": "8",
        "quantityavailable": "3",
        "quantityonorder": "0",
        "quantitybackordered": "0",
        "quantitycommitted": "5",
    }
    assert lines_of(ns, "salesOrder", back_ordered)[0]["quantityCommitted"] == 5
    [adjustment] = rows(ns, "SELECT trandate, memo FROM transaction WHERE type = 'InvAdjst'")
    assert adjustment["trandate"] == f"{int(date[5:7])}/{int(date[8:])}/{date[:4]}"
    assert "Expected receipt" in adjustment["memo"]
    assert ns.admin("GET", "/inventory").json()["expected"] == []
    # A receipt dated today or earlier arrives at once.
    now = ns.admin(
        "POST",
        "/inventory/expect",
        {"item": w.gadget, "location": w.main, "quantity": 2, "date": "2020-01-01"},
    )
    assert now.json()["received"]["tranId"] == "ADJ1002"
    assert stock(ns, w.gadget, w.main)["quantityonhand"] == "2"


@pytest.fixture
def movable(tmp_path: Path) -> Iterator[tuple[NetSuiteSandboxUnderTest, SandboxClock]]:
    """A sandbox and its clock, moved in-process as time passing would move it (not through /__admin/clock,
    which receives due stock itself)."""
    settings = NetSuiteSandboxSettings(db_path=tmp_path / "movable.db")
    cert = ensure_server_cert(tmp_path / "tls")
    app = create_app(settings)
    server = BackgroundServer(app, "127.0.0.1", free_port(), cert).start()
    http = httpx.Client(verify=str(cert.ca_path), timeout=30)
    try:
        yield NetSuiteSandboxUnderTest(settings, server, cert, http), app.state.netsuite.clock
    finally:
        http.close()
        server.stop()


def test_an_expected_receipt_is_noticed_by_the_next_request_once_its_day_comes(
    movable: tuple[NetSuiteSandboxUnderTest, SandboxClock],
) -> None:
    ns, clock = movable
    w = _load_warehouse(ns)
    tomorrow = (clock.today() + dt.timedelta(days=1)).isoformat()
    ns.admin(
        "POST", "/inventory/expect", {"item": w.widget, "location": w.main, "quantity": 4, "date": tomorrow}
    )
    assert stock(ns, w.widget, w.main)["quantityonorder"] == "4"
    clock.advance(dt.timedelta(days=1))  # a day passes; nobody asks the admin API
    # The SuiteQL request itself notices: the receipt is in before the query runs.
    assert stock(ns, w.widget, w.main)["quantityonhand"] == "4"
    assert stock(ns, w.widget, w.main)["quantityonorder"] == "0"


# -- what q2c's inventory sync reads ----------------------------------------------------------------


def test_the_stock_change_queries_find_the_items_whose_balances_moved(
    netsuite: NetSuiteSandboxUnderTest, warehouse: Warehouse
) -> None:
    ns, w = netsuite, warehouse
    receive(ns, w.gadget, w.main, 3)  # before the watermark
    advance(ns, advance_seconds=5)
    watermark = clock_now(ns)
    receive(ns, w.widget, w.main, 10)
    order_id = order(ns, w.customer, line(w.widget, 2), line(w.cable, 1))
    fulfilled(ns, order_id)

    def changed(after: str) -> list[str]:
        found = rows(
            ns,
            "SELECT DISTINCT tl.item FROM transactionline tl JOIN transaction t ON t.id = tl.transaction "
            "WHERE t.type IN ('SalesOrd','ItemShip','InvAdjst') "
            f"AND t.lastmodifieddate >= {WATERMARK.format(watermark)} AND tl.item > {after} ORDER BY tl.item",
        )
        return [row["item"] for row in found]

    assert changed("0") == sorted([w.widget, w.cable], key=int)
    assert changed(w.widget) == [w.cable]
    levels = rows(
        ns,
        "SELECT b.item, b.location, l.name AS locationname, b.quantityonhand, b.quantityavailable, "
        "b.quantityonorder, b.quantitybackordered FROM inventoryitemlocations b JOIN location l ON l.id = b.location "
        f"WHERE b.item IN ({w.widget}, {w.cable}) ORDER BY b.item, b.location",
    )
    assert levels == [
        {
            "item": w.widget,
            "location": loc,
            "locationname": name,
            "quantityonhand": on_hand,
            "quantityavailable": on_hand,
            "quantityonorder": "0",
            "quantitybackordered": "0",
        }
        for loc, name, on_hand in sorted(
            [(w.berlin, "Berlin", "0"), (w.main, "Main Warehouse", "8"), (w.overflow, "Overflow", "0")],
            key=lambda t: int(t[0]),
        )
    ]
    newest = rows(
        ns,
        "SELECT TO_CHAR(MAX(t.lastmodifieddate), 'YYYY-MM-DD HH24:MI:SS') AS m FROM transaction t "
        "WHERE t.type IN ('SalesOrd', 'ItemShip', 'InvAdjst', 'ItemRcpt')",
    )
    assert newest[0]["m"] >= watermark
