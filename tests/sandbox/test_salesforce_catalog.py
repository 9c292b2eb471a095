"""Catalog, price books, inventory and fulfilment in the Salesforce sandbox, over real HTTPS with unmodified
simple-salesforce: the custom objects deployed from q2c's SFDX project, the price book rules a real org
enforces (each asserting its exact error code), sObject Collections upserts by external id as q2c calls
them, and the SOQL q2c's catalog and inventory sync run, at the volumes they run it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest

from q2c_sandbox.salesforce.records import STANDARD_PRICEBOOK_ID
from tests.sandbox.test_salesforce_sandbox import SfSandbox, body, error_code, start_sandbox

SalesforceClient = Any
CURRENCIES = ["USD", "EUR", "GBP", "CAD", "JPY"]

# What q2c's order workflow reads (q2c/connectors/salesforce.py OPPORTUNITY_SOQL), with the stock fields
# the inventory check adds to the line subquery.
OPPORTUNITY_SOQL = """
SELECT Id, Name, StageName, IsWon, IsClosed, Amount, CurrencyIsoCode, CloseDate,
       NetSuite_Sales_Order_ID__c, NetSuite_Sales_Order_Number__c, NetSuite_Order_Status__c,
       Inventory_Warning__c, AccountId, Account.Name, Account.NetSuite_Internal_ID__c,
       (SELECT Id, Quantity, UnitPrice, TotalPrice, Description,
               Product2Id, Product2.Name, Product2.ProductCode, Product2.NetSuite_Internal_ID__c,
               Product2.IsActive, Product2.Quantity_Available__c
        FROM OpportunityLineItems ORDER BY Id)
FROM Opportunity WHERE Id = '{}'
"""


@pytest.fixture(scope="module")
def sb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SfSandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sf-catalog"))
    yield sandbox
    sandbox.server.stop()


@pytest.fixture
def sb(sb_server: SfSandbox) -> SfSandbox:
    with sb_server.admin() as admin:
        assert admin.post("/__admin/reset").json() == {"ok": True}
    return sb_server


@pytest.fixture
def sf(sb: SfSandbox) -> Iterator[SalesforceClient]:
    client = sb.client()
    yield client
    client.session.close()


def seed(sb: SfSandbox) -> dict[str, list[str]]:
    """Two products priced in the standard book and a "Partners" book (USD), an account, two deals: the
    first sells 2 Widgets from the standard book, the second 1 Widget and 1 Gadget from Partners."""
    return sb.load(
        {
            "Account": [{"Name": "Acme", "NetSuite_Internal_ID__c": "C-1"}],
            "Product2": [
                {"Name": "Widget", "ProductCode": "WIDGET-A", "IsActive": True, "NetSuite_Internal_ID__c": "101"},
                {"Name": "Gadget", "ProductCode": "GADGET-B", "IsActive": True, "NetSuite_Internal_ID__c": "102"},
                {"Name": "Spare", "ProductCode": "SPARE-C", "IsActive": True, "NetSuite_Internal_ID__c": "103"},
            ],
            "Pricebook2": [{"Name": "Partners", "IsActive": True}],
            "PricebookEntry": [
                {"Pricebook2Id": STANDARD_PRICEBOOK_ID, "Product2Id": "@Product2[0]", "UnitPrice": 10, "IsActive": True},
                {"Pricebook2Id": STANDARD_PRICEBOOK_ID, "Product2Id": "@Product2[1]", "UnitPrice": 25, "IsActive": True},
                {"Pricebook2Id": "@Pricebook2[0]", "Product2Id": "@Product2[0]", "UnitPrice": 8, "IsActive": True},
                {"Pricebook2Id": "@Pricebook2[0]", "Product2Id": "@Product2[1]", "UnitPrice": 20, "IsActive": True},
                {"Pricebook2Id": STANDARD_PRICEBOOK_ID, "Product2Id": "@Product2[2]", "UnitPrice": 3, "IsActive": True},
                {"Pricebook2Id": "@Pricebook2[0]", "Product2Id": "@Product2[2]", "UnitPrice": 2, "IsActive": True},
            ],
            "Opportunity": [
                {"Name": "Big deal", "AccountId": "@Account[0]", "StageName": "Prospecting", "CloseDate": "2026-01-05"},
                {"Name": "Partner deal", "AccountId": "@Account[0]", "StageName": "Prospecting", "CloseDate": "2026-01-06"},
            ],
            "OpportunityLineItem": [
                {"OpportunityId": "@Opportunity[0]", "PricebookEntryId": "@PricebookEntry[0]", "Quantity": 2},
                {"OpportunityId": "@Opportunity[1]", "PricebookEntryId": "@PricebookEntry[2]", "Quantity": 1},
                {"OpportunityId": "@Opportunity[1]", "PricebookEntryId": "@PricebookEntry[3]", "Quantity": 1},
            ],
        }
    )  # fmt: skip


def collection(sf: SalesforceClient, method: str, records: list[dict[str, Any]], path: str = "") -> Any:
    return sf.restful(
        f"composite/sobjects{path}", method=method, json={"allOrNone": False, "records": records}
    )


def statuses(results: list[dict[str, Any]]) -> list[str | None]:
    return [None if r["success"] else r["errors"][0]["statusCode"] for r in results]


def live_ids(sf: SalesforceClient, soql: str) -> set[str]:
    return {r["Id"] for r in sf.query_all(soql)["records"]}


# ---- the deployed metadata ---------------------------------------------------------------------------


def test_catalog_objects_and_fields_are_deployed(sf: SalesforceClient) -> None:
    product = {f["name"]: f for f in sf.Product2.describe()["fields"]}
    assert (product["NetSuite_Item_Type__c"]["type"], product["NetSuite_Item_Type__c"]["length"]) == (
        "string",
        40,
    )
    for name in ("Components__c", "Price_Breaks__c"):
        assert (product[name]["type"], product[name]["length"]) == ("textarea", 32768)
    for name in (
        "Quantity_On_Hand__c",
        "Quantity_Available__c",
        "Quantity_On_Order__c",
        "Quantity_Back_Ordered__c",
    ):
        assert (product[name]["type"], product[name]["scale"]) == ("double", 2)
    assert product["Inventory_Updated__c"]["type"] == "datetime"
    assert product["NetSuite_Internal_ID__c"]["externalId"] and product["NetSuite_Internal_ID__c"]["unique"]

    level = sf.Inventory_Level__c.describe()
    assert level["keyPrefix"] == "a0J" and level["custom"] is True
    level_fields = {f["name"]: f for f in level["fields"]}
    assert level_fields["Product__c"]["referenceTo"] == ["Product2"]
    assert level_fields["Product__c"]["relationshipName"] == "Product__r"
    key = level_fields["NetSuite_Key__c"]
    assert (key["type"], key["length"], key["externalId"], key["unique"]) == ("string", 64, True, True)
    assert level_fields["Name"]["nillable"] is False
    children = {
        c["relationshipName"]: c["childSObject"] for c in sf.Product2.describe()["childRelationships"]
    }
    assert children["Inventory_Levels__r"] == "Inventory_Level__c"

    fulfillment = sf.NetSuite_Fulfillment__c.describe()
    assert fulfillment["keyPrefix"] == "a0K"
    fields = {f["name"]: f for f in fulfillment["fields"]}
    assert [p["value"] for p in fields["Status__c"]["picklistValues"]] == ["Picked", "Packed", "Shipped"]
    assert (
        fields["NetSuite_Fulfillment_ID__c"]["externalId"] and fields["NetSuite_Fulfillment_ID__c"]["unique"]
    )
    assert (fields["Ship_Date__c"]["type"], fields["Tracking_Numbers__c"]["length"]) == ("date", 255)
    assert (fields["Lines__c"]["length"], fields["Quantity__c"]["type"]) == (32768, "double")
    for parent in ("Opportunity", "Account"):
        relationships = {
            c["relationshipName"]: c for c in getattr(sf, parent).describe()["childRelationships"]
        }
        assert relationships["Fulfillments__r"]["childSObject"] == "NetSuite_Fulfillment__c"

    opportunity = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    assert opportunity["NetSuite_Order_Status__c"]["length"] == 80
    assert opportunity["Inventory_Warning__c"]["type"] == "textarea"

    entry = {f["name"]: f for f in sf.PricebookEntry.describe()["fields"]}
    for name in ("Product2Id", "Pricebook2Id", "CurrencyIsoCode"):
        assert (entry[name]["createable"], entry[name]["updateable"]) == (True, False), name
    for name in ("UnitPrice", "IsActive"):
        assert (entry[name]["createable"], entry[name]["updateable"]) == (True, True), name


# ---- deleting what opportunities use -------------------------------------------------------------------


def test_deleting_a_price_book_entry_in_use_is_refused(sb: SfSandbox, sf: SalesforceClient) -> None:
    ids = seed(sb)
    used, unused = ids["PricebookEntry"][0], ids["PricebookEntry"][1]
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.PricebookEntry.delete(used)
    assert refused.value.status == 400
    assert body(refused) == [
        {
            "message": "Your attempt to delete Widget could not be completed because it is associated with the "
            "following opportunities: Big deal",
            "errorCode": "DELETE_FAILED",
            "fields": [],
        }
    ]
    assert sf.PricebookEntry.get(used)["IsActive"] is True  # untouched

    # Deactivating an entry or a product in use is the way out, and allowed.
    assert sf.PricebookEntry.update(used, {"IsActive": False}) == 204
    assert sf.Product2.update(ids["Product2"][0], {"IsActive": False}) == 204
    assert sf.OpportunityLineItem.get(ids["OpportunityLineItem"][0])["PricebookEntryId"] == used
    # ... and an inactive entry sells no new line.
    with pytest.raises(SalesforceMalformedRequest) as inactive:
        sf.OpportunityLineItem.create(
            {"OpportunityId": ids["Opportunity"][0], "PricebookEntryId": used, "Quantity": 1}
        )
    assert error_code(inactive) == "FIELD_INTEGRITY_EXCEPTION"
    assert "inactive" in body(inactive)[0]["message"]

    assert sf.PricebookEntry.delete(unused) == 204
    # Once its line is gone the entry can go too.
    assert sf.OpportunityLineItem.delete(ids["OpportunityLineItem"][0]) == 204
    assert sf.PricebookEntry.delete(used) == 204
    assert used not in live_ids(sf, "SELECT Id FROM PricebookEntry")


def test_collections_delete_refuses_entries_in_use_per_record(sb: SfSandbox, sf: SalesforceClient) -> None:
    ids = seed(sb)
    used, unused = ids["PricebookEntry"][0], ids["PricebookEntry"][1]
    rolled_back = sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": f"{unused},{used}", "allOrNone": "true"}
    )
    assert statuses(rolled_back) == ["ALL_OR_NONE_OPERATION_ROLLED_BACK", "DELETE_FAILED"]
    assert {used, unused} <= live_ids(sf, "SELECT Id FROM PricebookEntry")

    results = sf.restful(
        "composite/sobjects", method="DELETE", params={"ids": f"{used},{unused}", "allOrNone": "false"}
    )
    assert results[0] == {
        "id": used,
        "success": False,
        "errors": [
            {
                "statusCode": "DELETE_FAILED",
                "message": "Your attempt to delete Widget could not be completed because it is associated "
                "with the following opportunities: Big deal",
                "fields": [],
            }
        ],
    }
    assert results[1] == {"id": unused, "success": True, "errors": []}
    assert used in live_ids(sf, "SELECT Id FROM PricebookEntry")


def test_deleting_a_product_in_use_is_refused_and_an_unused_one_takes_its_prices(
    sb: SfSandbox, sf: SalesforceClient
) -> None:
    ids = seed(sb)
    widget, gadget, spare = ids["Product2"]
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Product2.delete(widget)
    assert error_code(refused) == "DELETE_FAILED"
    assert body(refused)[0]["message"] == (
        "Your attempt to delete Widget could not be completed because it is associated with the following "
        "opportunities: Big deal, Partner deal"
    )
    # The same through the external id URL and through sObject Collections.
    with pytest.raises(SalesforceMalformedRequest) as by_external_id:
        sf.Product2.delete("NetSuite_Internal_ID__c/102")
    assert error_code(by_external_id) == "DELETE_FAILED"
    assert "Partner deal" in body(by_external_id)[0]["message"]
    results = sf.restful("composite/sobjects", method="DELETE", params={"ids": f"{gadget},{spare}"})
    assert statuses(results) == ["DELETE_FAILED", None]

    # The unused product went, and its standard and custom price book entries with it.
    assert sf.query(f"SELECT Id FROM PricebookEntry WHERE Product2Id = '{spare}'")["totalSize"] == 0
    deleted = sf.query_all(
        f"SELECT Id, IsDeleted FROM PricebookEntry WHERE Product2Id = '{spare}'", include_deleted=True
    )["records"]
    assert [r["IsDeleted"] for r in deleted] == [True, True]
    assert live_ids(sf, "SELECT Id FROM Product2") == {widget, gadget}
    assert len(live_ids(sf, "SELECT Id FROM PricebookEntry")) == 4


def test_price_book_deletes(sb: SfSandbox, sf: SalesforceClient) -> None:
    ids = seed(sb)
    with pytest.raises(SalesforceMalformedRequest) as standard:
        sf.Pricebook2.delete(STANDARD_PRICEBOOK_ID)
    assert error_code(standard) == "DELETE_FAILED"
    assert body(standard)[0]["message"] == "You can't delete the standard price book."

    partners = ids["Pricebook2"][0]
    with pytest.raises(SalesforceMalformedRequest) as in_use:
        sf.Pricebook2.delete(partners)
    assert error_code(in_use) == "DELETE_FAILED"
    assert body(in_use)[0]["message"].endswith("associated with the following opportunities: Partner deal")

    # Deactivating it is allowed; once its deal has no lines it can be deleted, entries and all.
    assert sf.Pricebook2.update(partners, {"IsActive": False}) == 204
    assert sf.Opportunity.delete(ids["Opportunity"][1]) == 204
    assert sf.Pricebook2.delete(partners) == 204
    remaining = sf.query("SELECT Pricebook2Id FROM PricebookEntry")["records"]
    assert {r["Pricebook2Id"] for r in remaining} == {STANDARD_PRICEBOOK_ID}
    assert [r["Name"] for r in sf.query("SELECT Name, IsStandard, IsActive FROM Pricebook2")["records"]] == [
        "Standard Price Book"
    ]


# ---- creating and updating price book entries ------------------------------------------------------------


def test_standard_then_custom_entry_in_one_collection_request(sb: SfSandbox, sf: SalesforceClient) -> None:
    partners = sb.load({"Pricebook2": [{"Name": "Partners", "IsActive": True}]})["Pricebook2"][0]
    products = collection(
        sf,
        "POST",
        [{"attributes": {"type": "Product2"}, "Name": f"P{i}", "IsActive": True} for i in range(3)],
    )
    first, second, third = (r["id"] for r in products)

    def entry(product: str, book: str, price: float, currency: str = "USD") -> dict[str, Any]:
        return {
            "attributes": {"type": "PricebookEntry"},
            "Product2Id": product,
            "Pricebook2Id": book,
            "CurrencyIsoCode": currency,
            "UnitPrice": price,
            "IsActive": True,
        }

    results = collection(
        sf,
        "POST",
        [
            entry(first, STANDARD_PRICEBOOK_ID, 10),  # records run in order: the standard price first ...
            entry(first, partners, 8),  # ... so the custom one right after it finds it
            entry(second, partners, 8),  # custom first: no standard price yet
            entry(second, STANDARD_PRICEBOOK_ID, 10),
            entry(first, partners, 7, "EUR"),  # no standard EUR price
            entry(first, partners, 9),  # the same product, book and currency again
            entry(third, STANDARD_PRICEBOOK_ID, 5),
        ],
    )
    assert statuses(results) == [
        None,
        None,
        "STANDARD_PRICE_NOT_DEFINED",
        None,
        "STANDARD_PRICE_NOT_DEFINED",
        "DUPLICATE_VALUE",
        None,
    ]
    assert results[2]["errors"][0]["message"] == "Before creating a custom price, create a standard price."
    entries = sf.query(
        f"SELECT Product2Id, Pricebook2Id, UnitPrice FROM PricebookEntry WHERE Product2Id = '{first}'"
    )["records"]
    assert [(r["Pricebook2Id"], r["UnitPrice"]) for r in entries] == [
        (STANDARD_PRICEBOOK_ID, 10.0),
        (partners, 8.0),
    ]

    # Updates through PATCH composite/sobjects: price and active flag change, the keys never do.
    third_entry = results[6]["id"]
    updated = collection(
        sf,
        "PATCH",
        [
            {
                "attributes": {"type": "PricebookEntry"},
                "Id": results[0]["id"],
                "UnitPrice": 11,
                "IsActive": False,
            },
            {"attributes": {"type": "PricebookEntry"}, "Id": results[1]["id"], "Product2Id": second},
            {"attributes": {"type": "PricebookEntry"}, "Id": third_entry, "Pricebook2Id": partners},
            {"attributes": {"type": "PricebookEntry"}, "Id": third_entry, "CurrencyIsoCode": "EUR"},
        ],
    )
    assert statuses(updated) == [None, *["INVALID_FIELD_FOR_INSERT_UPDATE"] * 3]
    assert updated[1]["errors"][0]["fields"] == ["Product2Id"]
    assert sf.PricebookEntry.get(results[0]["id"])["UnitPrice"] == 11.0


def test_deactivating_a_standard_price_with_active_custom_prices_is_allowed(
    sb: SfSandbox, sf: SalesforceClient
) -> None:
    # Not documented either way as far as we could find; the sandbox lets it happen (README).
    ids = seed(sb)
    standard, custom = ids["PricebookEntry"][0], ids["PricebookEntry"][2]
    assert sf.PricebookEntry.update(standard, {"IsActive": False}) == 204
    assert sf.PricebookEntry.get(custom)["IsActive"] is True
    assert sf.PricebookEntry.update(custom, {"UnitPrice": 7.5}) == 204


def test_price_book_entry_keys_cannot_be_updated(sb: SfSandbox, sf: SalesforceClient) -> None:
    ids = seed(sb)
    entry = ids["PricebookEntry"][0]
    for change in (
        {"Product2Id": ids["Product2"][1]},
        {"Pricebook2Id": ids["Pricebook2"][0]},
        {"CurrencyIsoCode": "EUR"},
        {"CurrencyIsoCode": "USD", "UnitPrice": 12},  # even unchanged, even beside an updateable field
    ):
        with pytest.raises(SalesforceMalformedRequest) as refused:
            sf.PricebookEntry.update(entry, change)
        assert error_code(refused) == "INVALID_FIELD_FOR_INSERT_UPDATE", change
        key = next(k for k in change if k != "UnitPrice")
        assert body(refused)[0]["fields"] == [key]
        assert body(refused)[0]["message"].startswith(f"Unable to create/update fields: {key}.")
    assert sf.PricebookEntry.update(entry, {"UnitPrice": 12, "IsActive": False}) == 204
    record = sf.PricebookEntry.get(entry)
    assert (record["UnitPrice"], record["IsActive"], record["CurrencyIsoCode"]) == (12.0, False, "USD")


# ---- upserts by external id, as q2c's syncs send them --------------------------------------------------


def product(netsuite_id: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "Product2"}, "NetSuite_Internal_ID__c": netsuite_id, **fields}


def test_product_collection_upsert_through_simple_salesforce(sb: SfSandbox, sf: SalesforceClient) -> None:
    with sb.admin() as admin:
        admin.delete("/__admin/requests")
    path = "composite/sobjects/Product2/NetSuite_Internal_ID__c"
    first = [
        product(
            str(i),
            Name=f"Item {i}",
            ProductCode=f"ITEM-{i}",
            IsActive=True,
            Family="Hardware",
            NetSuite_Item_Type__c="inventoryItem",
        )
        for i in range(1, 201)
    ]
    created = sf.restful(path, method="PATCH", json={"allOrNone": False, "records": first})
    assert len(created) == 200
    assert all(r["success"] and r["created"] and r["errors"] == [] for r in created)
    assert all(r["id"].startswith("01t") for r in created)

    second = [
        product("1", Name="Item 1 renamed"),  # update: no Name needed, but allowed
        product("2", Components__c="2 x ITEM-1; 1 x ITEM-3", NetSuite_Item_Type__c="itemGroup"),
        product("3", Family="Plastics"),  # not a value of the picklist
        product("201", ProductCode="ITEM-201"),  # new, and Name is required on create
        product("202", Name="Item 202", Price_Breaks__c="USD: 1+ 10.00; 100+ 9.00"),
        {"attributes": {"type": "Product2"}, "Name": "no external id"},
        product("4", Quantity_On_Hand__c="lots"),
    ]
    results = sf.restful(path, method="PATCH", json={"allOrNone": False, "records": second})
    assert statuses(results) == [
        None,
        None,
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "REQUIRED_FIELD_MISSING",
        None,
        "MISSING_ARGUMENT",
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
    ]
    assert [r.get("created") for r in results] == [False, False, None, None, True, None, None]
    assert results[0]["id"] == created[0]["id"] and results[1]["id"] == created[1]["id"]
    assert results[2]["errors"][0]["fields"] == ["Family"]
    assert results[3]["errors"][0]["fields"] == ["Name"]

    rows = sf.query(
        "SELECT Id, NetSuite_Internal_ID__c, Name, ProductCode, Description, IsActive, Family, "
        "NetSuite_Item_Type__c, Components__c, Price_Breaks__c FROM Product2 "
        "WHERE NetSuite_Internal_ID__c IN ('1', '2', '3', '201', '202') ORDER BY NetSuite_Internal_ID__c"
    )["records"]
    assert [(r["NetSuite_Internal_ID__c"], r["Name"], r["Family"]) for r in rows] == [
        ("1", "Item 1 renamed", "Hardware"),
        ("2", "Item 2", "Hardware"),
        ("202", "Item 202", None),
        ("3", "Item 3", "Hardware"),  # the failed record kept its values
    ]
    assert (rows[1]["Components__c"], rows[1]["NetSuite_Item_Type__c"]) == (
        "2 x ITEM-1; 1 x ITEM-3",
        "itemGroup",
    )
    assert rows[2]["Price_Breaks__c"] == "USD: 1+ 10.00; 100+ 9.00"

    with pytest.raises(SalesforceMalformedRequest) as too_many:
        sf.restful(
            path, method="PATCH", json={"allOrNone": False, "records": [product(str(i)) for i in range(201)]}
        )
    assert error_code(too_many) == "EXCEEDED_ID_LIMIT"
    with sb.admin() as admin:
        counts = admin.get("/__admin/requests").json()["counts"]
    assert counts["PATCH composite/sobjects/Product2/NetSuite_Internal_ID__c"] == 3  # one API call each


def test_inventory_level_and_fulfillment_upserts(sb: SfSandbox, sf: SalesforceClient) -> None:
    ids = seed(sb)
    widget, gadget = ids["Product2"][0], ids["Product2"][1]
    path = "composite/sobjects/Inventory_Level__c/NetSuite_Key__c"

    def level(key: str, product_id: str | None, **quantities: float) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": {"type": "Inventory_Level__c"}, "NetSuite_Key__c": key}
        if product_id:
            location = key.split(":")[1]
            record |= {
                "Name": f"Warehouse {location}",
                "Product__c": product_id,
                "NetSuite_Location_ID__c": location,
                "Location_Name__c": f"Warehouse {location}",
            }
        return record | quantities

    created = sf.restful(
        path,
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                level("101:1", widget, Quantity_On_Hand__c=10, Quantity_Available__c=8),
                level("101:2", widget, Quantity_On_Hand__c=5, Quantity_Available__c=5),
                level("102:1", gadget, Quantity_On_Hand__c=0, Quantity_Back_Ordered__c=3),
                level("103:1", None, Quantity_On_Hand__c=1),  # new without a Name
            ],
        },
    )
    assert [(r["success"], r.get("created")) for r in created[:3]] == [(True, True)] * 3
    assert statuses(created)[3] == "REQUIRED_FIELD_MISSING"
    updated = sf.restful(
        path,
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [level("101:1", None, Quantity_On_Hand__c=9, Quantity_Available__c=7)],
        },
    )
    assert (updated[0]["created"], updated[0]["id"]) == (False, created[0]["id"])
    assert created[0]["id"].startswith("a0J")

    rows = sf.query(
        "SELECT Id, NetSuite_Internal_ID__c, Quantity_On_Hand__c, Quantity_Available__c, Quantity_On_Order__c, "
        "Quantity_Back_Ordered__c, (SELECT Id, NetSuite_Key__c, NetSuite_Location_ID__c, Location_Name__c, "
        "Quantity_On_Hand__c, Quantity_Available__c, Quantity_On_Order__c, Quantity_Back_Ordered__c "
        "FROM Inventory_Levels__r) FROM Product2 WHERE NetSuite_Internal_ID__c IN ('101', '102', '103')"
    )["records"]
    by_item = {r["NetSuite_Internal_ID__c"]: r for r in rows}
    widget_levels = by_item["101"]["Inventory_Levels__r"]["records"]
    assert [
        (lv["NetSuite_Key__c"], lv["Quantity_On_Hand__c"], lv["Quantity_Available__c"])
        for lv in widget_levels
    ] == [
        ("101:1", 9.0, 7.0),
        ("101:2", 5.0, 5.0),
    ]
    assert widget_levels[0]["Location_Name__c"] == "Warehouse 1"
    assert by_item["102"]["Inventory_Levels__r"]["records"][0]["Quantity_Back_Ordered__c"] == 3.0
    assert by_item["103"]["Inventory_Levels__r"] is None

    # Product totals are plain updates by Id in a collection.
    totals = collection(
        sf,
        "PATCH",
        [
            {
                "attributes": {"type": "Product2"},
                "Id": widget,
                "Quantity_On_Hand__c": 14,
                "Quantity_Available__c": 12,
                "Quantity_On_Order__c": 0,
                "Quantity_Back_Ordered__c": 0,
                "Inventory_Updated__c": "2026-01-05T10:00:00Z",
            }
        ],
    )
    assert statuses(totals) == [None]
    assert sf.Product2.get(widget)["Inventory_Updated__c"] == "2026-01-05T10:00:00.000+0000"

    deal, account = ids["Opportunity"][0], ids["Account"][0]
    fulfilled = sf.restful(
        "composite/sobjects/NetSuite_Fulfillment__c/NetSuite_Fulfillment_ID__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {
                    "attributes": {"type": "NetSuite_Fulfillment__c"},
                    "NetSuite_Fulfillment_ID__c": "9001",
                    "Name": "IF1001",
                    "Opportunity__c": deal,
                    "Account__c": account,
                    "Status__c": "Packed",
                    "Ship_Date__c": "2026-01-07",
                    "Lines__c": "2 x WIDGET-A",
                    "Quantity__c": 2,
                },
                {
                    "attributes": {"type": "NetSuite_Fulfillment__c"},
                    "NetSuite_Fulfillment_ID__c": "9002",
                    "Name": "IF1002",
                    "Status__c": "Lost",
                },
            ],
        },
    )
    assert fulfilled[0]["created"] is True and fulfilled[0]["id"].startswith("a0K")
    assert statuses(fulfilled)[1] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    shipped = sf.restful(
        "composite/sobjects/NetSuite_Fulfillment__c/NetSuite_Fulfillment_ID__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {
                    "attributes": {"type": "NetSuite_Fulfillment__c"},
                    "NetSuite_Fulfillment_ID__c": "9001",
                    "Status__c": "Shipped",
                    "Tracking_Numbers__c": "1Z999, 1Z998",
                }
            ],
        },
    )
    assert (shipped[0]["created"], shipped[0]["id"]) == (False, fulfilled[0]["id"])
    assert (
        sf.Opportunity.update(
            deal,
            {
                "NetSuite_Order_Status__c": "Partially Fulfilled",
                "Inventory_Warning__c": "2 x WIDGET-A: 1 available",
            },
        )
        == 204
    )
    opportunity = sf.query(
        "SELECT NetSuite_Order_Status__c, Inventory_Warning__c, (SELECT Name, Status__c, Ship_Date__c, "
        f"Tracking_Numbers__c, Lines__c, Quantity__c FROM Fulfillments__r) FROM Opportunity WHERE Id = '{deal}'"
    )["records"][0]
    assert opportunity["NetSuite_Order_Status__c"] == "Partially Fulfilled"
    assert opportunity["Inventory_Warning__c"] == "2 x WIDGET-A: 1 available"
    (record,) = opportunity["Fulfillments__r"]["records"]
    assert (record["Name"], record["Status__c"], record["Ship_Date__c"], record["Tracking_Numbers__c"]) == (
        "IF1001",
        "Shipped",
        "2026-01-07",
        "1Z999, 1Z998",
    )
    assert (record["Lines__c"], record["Quantity__c"]) == ("2 x WIDGET-A", 2.0)
    on_account = sf.query(f"SELECT (SELECT Name FROM Fulfillments__r) FROM Account WHERE Id = '{account}'")
    assert on_account["records"][0]["Fulfillments__r"]["records"][0]["Name"] == "IF1001"


def test_opportunity_lines_carry_product_stock(sb: SfSandbox, sf: SalesforceClient) -> None:
    ids = seed(sb)
    widget, gadget = ids["Product2"][0], ids["Product2"][1]
    sf.Product2.update(widget, {"Quantity_Available__c": 1.5})
    sf.Product2.update(gadget, {"IsActive": False})
    partner_deal = sf.query(OPPORTUNITY_SOQL.format(ids["Opportunity"][1]))["records"][0]
    lines = partner_deal["OpportunityLineItems"]["records"]
    assert [
        (
            line["Product2"]["ProductCode"],
            line["Product2"]["IsActive"],
            line["Product2"]["Quantity_Available__c"],
        )
        for line in lines
    ] == [("WIDGET-A", True, 1.5), ("GADGET-B", False, None)]
    assert partner_deal["NetSuite_Order_Status__c"] is None and partner_deal["Account"]["Name"] == "Acme"


def test_a_request_over_the_uri_and_header_limit_is_refused(sb: SfSandbox, sf: SalesforceClient) -> None:
    # A real org takes 16,384 bytes of URI and headers together: 500 ids in an IN list fit, a longer list
    # meets 431 (414 once the URI alone is over), before the API: not counted against the limit.
    def ids(n: int) -> str:
        return quoted([f"01t00000000{i:04d}AAA" for i in range(n)])

    assert sf.query(f"SELECT Id FROM Product2 WHERE Id IN ({ids(500)})")["totalSize"] == 0
    with sb.admin() as admin:
        used = admin.get("/__admin/stats").json()["api_usage"]["used"]
    soql = f"SELECT Id FROM Product2 WHERE Id IN ({ids(580)})"
    with pytest.raises(SalesforceGeneralError) as headers_too_large:
        sf.query(soql)
    assert headers_too_large.value.status == 431
    assert len(headers_too_large.value.url) < 16_384 + len(sf.base_url)  # the URI alone would fit
    with pytest.raises(SalesforceGeneralError) as uri_too_long:
        sf.query(f"SELECT Id FROM Product2 WHERE Id IN ({ids(700)})")
    assert uri_too_long.value.status == 414
    with sb.admin() as admin:
        assert admin.get("/__admin/stats").json()["api_usage"]["used"] == used


# ---- volume: the IN queries q2c's syncs run, at a real catalog's size ----------------------------------------

PRODUCTS, LEVELS_PER_PRODUCT = 5000, 2
CUSTOM_CURRENCIES = ["USD", "EUR", "GBP"]  # 5 standard + 3 custom entries per product: 40,000


@pytest.fixture(scope="module")
def volume(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SfSandbox, dict[str, list[str]]]]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sf-catalog-volume"))
    started = time.perf_counter()
    books = sandbox.load({"Pricebook2": [{"Name": "Partners", "IsActive": True}]})
    products = sandbox.load(
        {
            "Product2": [
                {
                    "Name": f"Item {i}",
                    "ProductCode": f"ITEM-{i:05d}",
                    "IsActive": i % 10 != 0,
                    "NetSuite_Internal_ID__c": str(i),
                    "NetSuite_Item_Type__c": "inventoryItem",
                    "Quantity_On_Hand__c": i,
                }
                for i in range(1, PRODUCTS + 1)
            ]
        }
    )["Product2"]
    entries: list[str] = []
    for start in range(0, PRODUCTS, 1000):
        chunk = products[start : start + 1000]
        rows = [
            {"Pricebook2Id": STANDARD_PRICEBOOK_ID, "Product2Id": p, "CurrencyIsoCode": c, "UnitPrice": 10, "IsActive": True}
            for p in chunk
            for c in CURRENCIES
        ] + [
            {"Pricebook2Id": books["Pricebook2"][0], "Product2Id": p, "CurrencyIsoCode": c, "UnitPrice": 9, "IsActive": True}
            for p in chunk
            for c in CUSTOM_CURRENCIES
        ]  # fmt: skip
        entries += sandbox.load({"PricebookEntry": rows})["PricebookEntry"]
    levels = sandbox.load(
        {
            "Inventory_Level__c": [
                {
                    "Name": f"Warehouse {loc}",
                    "Product__c": p,
                    "NetSuite_Key__c": f"{i + 1}:{loc}",
                    "NetSuite_Location_ID__c": str(loc),
                    "Location_Name__c": f"Warehouse {loc}",
                    "Quantity_On_Hand__c": i + 1,
                    "Quantity_Available__c": loc,
                }
                for i, p in enumerate(products)
                for loc in range(1, LEVELS_PER_PRODUCT + 1)
            ]
        }
    )["Inventory_Level__c"]
    print(f"\nloaded {len(products)} products, {len(entries)} entries, {len(levels)} levels "
          f"in {time.perf_counter() - started:.1f}s")  # fmt: skip
    assert len(entries) == 40_000 and len(levels) == 10_000
    yield sandbox, {"Product2": products, "PricebookEntry": entries, "Inventory_Level__c": levels}
    sandbox.server.stop()


def timed(label: str, run: Any) -> Any:
    started = time.perf_counter()
    result = run()
    print(f"{label}: {time.perf_counter() - started:.3f}s")
    return result


def quoted(values: list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def test_in_queries_at_volume(volume: tuple[SfSandbox, dict[str, list[str]]]) -> None:
    sandbox, ids = volume
    sf = sandbox.client()
    wanted = [str(i) for i in range(4001, 4501)]  # 500 NetSuite ids
    products = timed(
        "Product2 by 500 NetSuite ids",
        lambda: sf.query(
            "SELECT Id, NetSuite_Internal_ID__c, Name, ProductCode, Description, IsActive, Family, "
            "NetSuite_Item_Type__c, Components__c, Price_Breaks__c FROM Product2 "
            f"WHERE NetSuite_Internal_ID__c IN ({quoted(wanted)})"
        ),
    )
    assert products["totalSize"] == 500 and products["done"] is True
    assert [r["NetSuite_Internal_ID__c"] for r in products["records"]] == wanted
    assert [r["Id"] for r in products["records"]] == ids["Product2"][4000:4500]
    assert (
        products["records"][9]["IsActive"] is False and products["records"][0]["ProductCode"] == "ITEM-04001"
    )

    product_ids = [r["Id"] for r in products["records"]]
    entries = timed(
        "PricebookEntry by 500 Product2Ids",
        lambda: sf.query_all(
            "SELECT Id, Product2Id, Pricebook2Id, CurrencyIsoCode, UnitPrice, IsActive FROM PricebookEntry "
            f"WHERE Product2Id IN ({quoted(product_ids)})"
        ),
    )
    assert entries["totalSize"] == 4000 and len(entries["records"]) == 4000
    # Loaded per 1,000 products: 5 standard entries each, then 3 custom ones each; these are the first
    # 500 products of the fifth thousand.
    expected = ids["PricebookEntry"][32_000:34_500] + ids["PricebookEntry"][37_000:38_500]
    assert {r["Id"] for r in entries["records"]} == set(expected)
    per_product = {(r["Product2Id"], r["Pricebook2Id"], r["CurrencyIsoCode"]) for r in entries["records"]}
    assert len(per_product) == 4000 and {r["Product2Id"] for r in entries["records"]} == set(product_ids)

    books = sf.query("SELECT Id, Name, IsStandard, IsActive FROM Pricebook2")["records"]
    assert sorted((b["Name"], b["IsStandard"], b["IsActive"]) for b in books) == [
        ("Partners", False, True),
        ("Standard Price Book", True, True),
    ]

    stock = timed(
        "Product2 + Inventory_Levels__r by 500 NetSuite ids",
        lambda: sf.query(
            "SELECT Id, NetSuite_Internal_ID__c, Quantity_On_Hand__c, Quantity_Available__c, "
            "Quantity_On_Order__c, Quantity_Back_Ordered__c, (SELECT Id, NetSuite_Key__c, "
            "NetSuite_Location_ID__c, Location_Name__c, Quantity_On_Hand__c, Quantity_Available__c, "
            "Quantity_On_Order__c, Quantity_Back_Ordered__c FROM Inventory_Levels__r) FROM Product2 "
            f"WHERE NetSuite_Internal_ID__c IN ({quoted(wanted)})"
        ),
    )
    assert stock["totalSize"] == 500
    for record in stock["records"]:
        item = record["NetSuite_Internal_ID__c"]
        assert record["Quantity_On_Hand__c"] == float(item)
        levels = record["Inventory_Levels__r"]
        assert (levels["totalSize"], levels["done"]) == (2, True)
        assert [(lv["NetSuite_Key__c"], lv["Quantity_Available__c"]) for lv in levels["records"]] == [
            (f"{item}:1", 1.0),
            (f"{item}:2", 2.0),
        ]

    by_key = timed(
        "Inventory_Level__c by 500 keys",
        lambda: sf.query(
            f"SELECT Id FROM Inventory_Level__c WHERE NetSuite_Key__c IN ({quoted([f'{i}:2' for i in wanted])})"
        ),
    )
    assert by_key["totalSize"] == 500
    by_id = sf.query(
        f"SELECT Id, Name FROM Product2 WHERE Id IN ({quoted(product_ids[:200])}) AND IsActive = true"
    )
    assert {r["Id"] for r in by_id["records"]} == {
        p for i, p in enumerate(product_ids[:200]) if (i + 1) % 10 != 0
    }
    sf.session.close()


def test_paging_over_every_price_book_entry(volume: tuple[SfSandbox, dict[str, list[str]]]) -> None:
    sandbox, ids = volume
    sf = sandbox.client()
    first = timed(
        "first page of 40,000 entries",
        lambda: sf.query("SELECT Id, Product2Id, UnitPrice FROM PricebookEntry"),
    )
    assert (first["totalSize"], first["done"], len(first["records"])) == (40_000, False, 2000)
    assert first["nextRecordsUrl"].endswith("-2000")
    pages, url = 1, first["nextRecordsUrl"]
    seen = [r["Id"] for r in first["records"]]
    while url:
        page = sf.query_more(url, identifier_is_url=True)
        assert len(page["records"]) == 2000 and page["totalSize"] == 40_000
        seen += [r["Id"] for r in page["records"]]
        pages += 1
        url = page.get("nextRecordsUrl")
        assert page["done"] is (url is None)
    assert pages == 20 and seen == ids["PricebookEntry"]
    sf.session.close()
