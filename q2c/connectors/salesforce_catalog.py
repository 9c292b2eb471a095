"""Salesforce catalog and stock reads and writes: Product2, Pricebook2, PricebookEntry, Inventory_Level__c.

Reads are SOQL over IN lists (2,000 rows a page); writes are sObject Collections, 200 records a call, each
record succeeding or failing on its own (``allOrNone`` false), so one bad item never stops its page.
Products and inventory levels are upserted by their NetSuite external ids; price book entries, which
have no external id, are created or updated by Id after reading the ones that exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from simple_salesforce.format import format_soql

from q2c.connectors.salesforce import SalesforceClient
from q2c.domain.catalog import (
    INVENTORY_EXTERNAL_ID,
    INVENTORY_FIELDS,
    PRODUCT_EXTERNAL_ID,
    PRODUCT_FIELDS,
    ExistingEntry,
    ExistingProduct,
    ExistingStock,
)

COLLECTION_SIZE = 200  # records per sObject Collections call
# Values per SOQL IN (...) list. A query is a GET, and a real org refuses a URI + headers over 16 KB:
# 500 NetSuite ids ('12345', URL-encoded) take about 8 KB, 300 Salesforce ids about 8 KB.
IN_LIST = 500
IN_LIST_OF_IDS = 300


@dataclass(frozen=True)
class RecordOutcome:
    """One record's result in a collection call: its id, or Salesforce's error for it."""

    id: str | None
    error: str | None
    created: bool = False


def _chunks(values: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _error_text(result: dict[str, Any]) -> str:
    errors = result.get("errors") or []
    parts = []
    for error in errors:
        fields = error.get("fields") or []
        where = f" (fields: {', '.join(fields)})" if fields else ""
        parts.append(f"{error.get('statusCode') or error.get('errorCode')}: {error.get('message')}{where}")
    return "; ".join(parts) or "Salesforce refused the record without saying why"


class SalesforceCatalog:
    def __init__(self, client: SalesforceClient) -> None:
        self._client = client

    # -- price books -------------------------------------------------------------------------------
    def price_books(self) -> list[dict[str, Any]]:
        return self._client.query_all("SELECT Id, Name, IsStandard, IsActive FROM Pricebook2 ORDER BY Id")

    def create_price_book(self, name: str) -> str:
        return self._client.create("Pricebook2", {"Name": name, "IsActive": True})

    # -- products and entries ----------------------------------------------------------------------
    def products(self, items: list[str]) -> dict[str, ExistingProduct]:
        found: dict[str, ExistingProduct] = {}
        columns = ", ".join(("Id", PRODUCT_EXTERNAL_ID, *PRODUCT_FIELDS))
        for chunk in _chunks(items, IN_LIST):
            soql = format_soql(f"SELECT {columns} FROM Product2 WHERE {PRODUCT_EXTERNAL_ID} IN {{}}", chunk)
            for row in self._client.query_all(soql):
                item = str(row[PRODUCT_EXTERNAL_ID])
                found[item] = ExistingProduct(
                    id=row["Id"], item=item, fields={name: row.get(name) for name in PRODUCT_FIELDS}
                )
        return found

    def entries(self, product_ids: list[str]) -> list[ExistingEntry]:
        found: list[ExistingEntry] = []
        for chunk in _chunks(product_ids, IN_LIST_OF_IDS):
            soql = format_soql(
                "SELECT Id, Product2Id, Pricebook2Id, CurrencyIsoCode, UnitPrice, IsActive FROM PricebookEntry "
                "WHERE Product2Id IN {} ORDER BY Id",
                chunk,
            )
            found += [
                ExistingEntry(
                    id=row["Id"],
                    product_id=row["Product2Id"],
                    price_book_id=row["Pricebook2Id"],
                    currency=str(row.get("CurrencyIsoCode") or ""),
                    unit_price=Decimal(str(row.get("UnitPrice") or 0)),
                    active=bool(row.get("IsActive")),
                )
                for row in self._client.query_all(soql)
            ]
        return found

    def upsert_products(self, records: list[dict[str, Any]]) -> list[RecordOutcome]:
        """Upsert by ``NetSuite_Internal_ID__c``; one outcome per record, in order."""
        return self._collection(
            "PATCH", f"composite/sobjects/Product2/{PRODUCT_EXTERNAL_ID}", records, "upsert of Product2"
        )

    def create(self, records: list[dict[str, Any]], what: str) -> list[RecordOutcome]:
        return self._collection("POST", "composite/sobjects", records, f"create of {what}")

    def update(self, records: list[dict[str, Any]], what: str) -> list[RecordOutcome]:
        return self._collection("PATCH", "composite/sobjects", records, f"update of {what}")

    # -- stock -------------------------------------------------------------------------------------
    def stock(self, items: list[str]) -> dict[str, ExistingStock]:
        """The stock Salesforce shows for these NetSuite items: Product2 totals and their levels."""
        totals = ", ".join(INVENTORY_FIELDS)
        found: dict[str, ExistingStock] = {}
        for chunk in _chunks(items, IN_LIST):
            soql = format_soql(
                f"SELECT Id, ProductCode, {PRODUCT_EXTERNAL_ID}, {totals}, "
                f"(SELECT Id, {INVENTORY_EXTERNAL_ID}, Name, NetSuite_Location_ID__c, Location_Name__c, {totals} "
                f"FROM Inventory_Levels__r) FROM Product2 WHERE {PRODUCT_EXTERNAL_ID} IN {{}}",
                chunk,
            )
            for row in self._client.query_all(soql):
                item = str(row[PRODUCT_EXTERNAL_ID])
                children = (row.get("Inventory_Levels__r") or {}).get("records") or []
                found[item] = ExistingStock(
                    product_id=row["Id"],
                    item=item,
                    code=str(row.get("ProductCode") or ""),
                    totals={name: row.get(name) for name in INVENTORY_FIELDS},
                    levels={
                        str(child[INVENTORY_EXTERNAL_ID]): (
                            child["Id"],
                            {k: v for k, v in child.items() if k not in ("attributes", "Id")},
                        )
                        for child in children
                        if child.get(INVENTORY_EXTERNAL_ID)
                    },
                )
        return found

    def upsert_levels(self, records: list[dict[str, Any]]) -> list[RecordOutcome]:
        return self._collection(
            "PATCH",
            f"composite/sobjects/Inventory_Level__c/{INVENTORY_EXTERNAL_ID}",
            records,
            "upsert of Inventory_Level__c",
        )

    # -- the collection call -----------------------------------------------------------------------
    def _collection(
        self, method: str, path: str, records: list[dict[str, Any]], what: str
    ) -> list[RecordOutcome]:
        outcomes: list[RecordOutcome] = []
        for chunk in _chunks(records, COLLECTION_SIZE):
            results = self._client.restful(
                what, path, method=method, json={"allOrNone": False, "records": chunk}
            )
            for result in results:
                if result.get("success"):
                    outcomes.append(
                        RecordOutcome(id=result.get("id"), error=None, created=bool(result.get("created")))
                    )
                else:
                    outcomes.append(RecordOutcome(id=result.get("id"), error=_error_text(result)))
        return outcomes
