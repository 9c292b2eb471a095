"""Test data made through the sandboxes' admin API: a catalog once per session, fresh deals per test."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from q2c.config import Settings
from q2c.connectors.netsuite import NetSuiteClient
from q2c.connectors.netsuite_billing import NetSuiteBilling
from q2c_sandbox.admin_client import SandboxAdmin
from q2c_sandbox.seed import CURRENCIES, SUBSIDIARIES

JPY = {"id": "5", "name": "Japanese Yen", "symbol": "JPY", "isBaseCurrency": False, "exchangeRate": 0.0067}
# code -> (name, USD price); BETA has no NetSuite item on purpose.
PRODUCTS = {"WID-100": ("Widget Standard", 120.0), "GW-X1": ("Gateway X1", 1250.0), "BETA": ("Beta", 99.0)}
CURRENCY_CODES = ("USD", "EUR", "GBP", "JPY")

_numbers = itertools.count(1)


@dataclass
class Catalog:
    standard_pricebook: str
    items: dict[str, str]  # product code -> NetSuite item id
    products: dict[str, str]  # product code -> Salesforce Product2 id
    entries: dict[tuple[str, str], tuple[str, float]]  # (code, currency) -> (PricebookEntry id, price)


@dataclass
class Deal:
    account_id: str
    opportunity_id: str
    name: str


def build_catalog(sf: SandboxAdmin, ns: SandboxAdmin) -> Catalog:
    ns_ids = ns.load(
        {
            "currency": [*CURRENCIES, JPY],
            "subsidiary": SUBSIDIARIES,
            "inventoryItem": [
                {"itemId": code, "displayName": name, "basePrice": price}
                for code, (name, price) in PRODUCTS.items()
                if code != "BETA"
            ],
        }
    )
    items = dict(zip([c for c in PRODUCTS if c != "BETA"], ns_ids["inventoryItem"], strict=True))
    product_ids = sf.load(
        {
            "Product2": [
                {
                    "Name": name,
                    "ProductCode": code,
                    "IsActive": True,
                    **({"NetSuite_Internal_ID__c": items[code]} if code in items else {}),
                }
                for code, (name, _) in PRODUCTS.items()
            ]
        }
    )["Product2"]
    products = dict(zip(PRODUCTS, product_ids, strict=True))
    standard = next(pb["Id"] for pb in sf.records("Pricebook2") if pb.get("IsStandard"))
    keys = [(code, currency) for code in PRODUCTS for currency in CURRENCY_CODES]
    entry_ids = sf.load(
        {
            "PricebookEntry": [
                {
                    "Pricebook2Id": standard,
                    "Product2Id": products[code],
                    "UnitPrice": PRODUCTS[code][1],
                    "CurrencyIsoCode": currency,
                    "IsActive": True,
                }
                for code, currency in keys
            ]
        }
    )["PricebookEntry"]
    entries = {key: (entry_id, PRODUCTS[key[0]][1]) for key, entry_id in zip(keys, entry_ids, strict=True)}
    return Catalog(standard, items, products, entries)


def make_deal(
    sf: SandboxAdmin,
    catalog: Catalog,
    *,
    currency: str = "USD",
    lines: list[tuple[str, float]] | None = None,
    stage: str = "Closed Won",
    account: dict[str, Any] | None = None,
) -> Deal:
    number = next(_numbers)
    name = f"Test Company {number}"
    account_id = sf.load(
        {
            "Account": [
                {
                    "Name": name,
                    "CurrencyIsoCode": currency,
                    "Website": f"https://t{number}.example",
                    **(account or {}),
                }
            ]
        }
    )["Account"][0]
    opportunity_id = sf.load(
        {
            "Opportunity": [
                {
                    "Name": f"{name} - deal",
                    "AccountId": account_id,
                    "StageName": stage,
                    "CloseDate": "2026-11-20",
                    "CurrencyIsoCode": currency,
                    "Pricebook2Id": catalog.standard_pricebook,
                }
            ]
        }
    )["Opportunity"][0]
    line_rows = [
        {
            "OpportunityId": opportunity_id,
            "PricebookEntryId": catalog.entries[(code, currency)][0],
            "Quantity": quantity,
            "UnitPrice": catalog.entries[(code, currency)][1],
        }
        for code, quantity in (lines if lines is not None else [("WID-100", 3), ("GW-X1", 1)])
    ]
    if line_rows:
        sf.load({"OpportunityLineItem": line_rows})
    return Deal(account_id, opportunity_id, f"{name} - deal")


def records_with(admin: SandboxAdmin, record_type: str, **match: Any) -> list[dict[str, Any]]:
    return [r for r in admin.records(record_type) if all(r.get(k) == v for k, v in match.items())]


# --- NetSuite finance actions, through the real API (as a clerk or NetSuite itself would) -----------
async def bill(netsuite: NetSuiteClient, sales_order_id: str) -> str:
    return await NetSuiteBilling(netsuite).bill_sales_order(sales_order_id)


async def pay(netsuite: NetSuiteClient, customer_id: str, invoice_id: str, amount: float) -> str:
    return await NetSuiteBilling(netsuite).record_payment(customer_id, invoice_id, Decimal(str(amount)))


async def set_stage(settings: Settings, opportunity_id: str, stage: str) -> None:
    """Move the deal in Salesforce as a sales rep would (through the REST API, not the admin API)."""
    from worker import salesforce_client

    await asyncio.to_thread(
        salesforce_client(settings).update, "Opportunity", opportunity_id, {"StageName": stage}
    )
