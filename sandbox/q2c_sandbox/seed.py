"""The demo data set: a small, realistic company selling hardware, licences and services in four
currencies through three subsidiaries. Deterministic, so a second run finds exactly what the first left.

NetSuite holds the catalog (items) and subsidiaries; Salesforce holds accounts, products already linked
to NetSuite items (as the catalog sync leaves them), price book entries per currency and open deals.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from q2c_sandbox.admin_client import SandboxAdmin

CLOSE_DATE = "2026-11-20"

CURRENCIES = [
    {"id": "1", "name": "US Dollar", "symbol": "USD", "isBaseCurrency": True, "exchangeRate": 1.0},
    {"id": "2", "name": "British Pound", "symbol": "GBP", "isBaseCurrency": False, "exchangeRate": 1.27},
    {"id": "3", "name": "Canadian Dollar", "symbol": "CAD", "isBaseCurrency": False, "exchangeRate": 0.73},
    {"id": "4", "name": "Euro", "symbol": "EUR", "isBaseCurrency": False, "exchangeRate": 1.08},
]
SUBSIDIARIES = [
    {"id": "1", "name": "Q2C Inc. (US)", "currency": {"id": "1"}},
    {"id": "2", "name": "Q2C Ltd (UK)", "currency": {"id": "2"}},
    {"id": "3", "name": "Q2C GmbH (DE)", "currency": {"id": "4"}},
]
# (itemId, name, USD list price, active)
ITEMS = [
    ("WID-100", "Widget Standard", "120.00", True),
    ("WID-200", "Widget Pro", "340.00", True),
    ("GW-X1", "Gateway X1", "1250.00", True),
    ("SVC-INSTALL", "Installation (per day)", "950.00", True),
    ("SUP-GOLD", "Gold Support (annual)", "4800.00", True),
    ("LIC-SEAT", "Platform licence (seat/year)", "600.00", True),
    ("LEG-9", "Legacy Widget", "80.00", False),
]
# A product sold in Salesforce that the catalog never brought from NetSuite: its deals need attention.
UNLINKED_PRODUCT = ("BETA-ADDON", "Beta Add-on", "1500.00")
PRICE_FACTORS = {"USD": Decimal("1"), "EUR": Decimal("0.92"), "GBP": Decimal("0.79"), "CAD": Decimal("1.37")}

# (name, currency, website, phone, linked to an existing NetSuite customer)
ACCOUNTS = [
    ("Acme Corporation", "USD", "https://www.acme.example", "+1 415 555 0100", False),
    ("Globex Corporation", "USD", "https://globex.example", "+1 212 555 0199", True),
    ("Initech GmbH", "EUR", "https://initech.example.de", "+49 30 5550 1234", False),
    ("Umbrella Ltd", "GBP", "https://umbrella.example.co.uk", "+44 20 5550 0420", False),
    ("Northwind Traders", "CAD", "https://northwind.example.ca", "+1 604 555 0142", False),
    ("Stark Industries", "USD", "https://stark.example", "+1 310 555 0111", False),
    ("Hooli KK", "JPY", "https://hooli.example.jp", "+81 3 5550 0001", False),
]
# (opportunity name, account, stage, [(product code, quantity)])
DEALS = [
    (
        "Acme - Widget rollout",
        "Acme Corporation",
        "Negotiation/Review",
        [("WID-100", 50), ("SVC-INSTALL", 2)],
    ),
    (
        "Globex - Gateway expansion",
        "Globex Corporation",
        "Negotiation/Review",
        [("GW-X1", 4), ("SUP-GOLD", 1)],
    ),
    ("Initech - Platform licences", "Initech GmbH", "Proposal/Price Quote", [("LIC-SEAT", 25)]),
    ("Umbrella - Pro widgets", "Umbrella Ltd", "Negotiation/Review", [("WID-200", 10), ("SVC-INSTALL", 1)]),
    ("Northwind - Starter bundle", "Northwind Traders", "Negotiation/Review", [("WID-100", 5)]),
    (
        "Stark - Beta add-on pilot",
        "Stark Industries",
        "Negotiation/Review",
        [("BETA-ADDON", 1), ("WID-200", 2)],
    ),
    ("Acme - Renewal 2027", "Acme Corporation", "Qualification", [("SUP-GOLD", 1)]),
    ("Hooli - Evaluation", "Hooli KK", "Prospecting", []),
]
# The deals the demo moves to Closed Won; the last one lacks a NetSuite item and parks.
DEMO_DEALS = [name for name, *_ in DEALS[:6]]


@dataclass(frozen=True)
class SeedResult:
    seeded: bool  # False when the data was already there


def _price(usd: str, currency: str) -> float:
    return float((Decimal(usd) * PRICE_FACTORS[currency]).quantize(Decimal("0.01")))


def seed_demo(salesforce: SandboxAdmin, netsuite: SandboxAdmin) -> SeedResult:
    """Load the demo data into empty sandboxes; leave sandboxes that already hold it untouched."""
    if salesforce.stats()["counts"].get("Account", 0) > 0:
        return SeedResult(seeded=False)

    ns_ids = netsuite.load(
        {
            "currency": CURRENCIES,
            "subsidiary": SUBSIDIARIES,
            "inventoryItem": [
                {"itemId": code, "displayName": name, "basePrice": float(price), "isInactive": not active}
                for code, name, price, active in ITEMS
            ],
            "customer": [
                {
                    "entityId": "CUST-GLOBEX",
                    "companyName": "Globex Corporation",
                    "email": "ap@globex.example",
                    "subsidiary": {"id": "1"},
                    "currency": {"id": "1"},
                    "creditLimit": 250000.0,
                }
            ],
        }
    )
    item_ids = dict(zip([code for code, *_ in ITEMS], ns_ids["inventoryItem"], strict=True))
    globex_customer = ns_ids["customer"][0]

    users = salesforce.load(
        {
            "User": [
                {
                    "FirstName": "Dana",
                    "LastName": "Reyes",
                    "Username": "dana.reyes@q2c.sandbox",
                    "Email": "dana.reyes@q2c.example",
                },
                {
                    "FirstName": "Sam",
                    "LastName": "Okafor",
                    "Username": "sam.okafor@q2c.sandbox",
                    "Email": "sam.okafor@q2c.example",
                },
            ]
        }
    )["User"]
    accounts: dict[str, Any] = {}
    account_rows = []
    for index, (name, currency, website, phone, linked) in enumerate(ACCOUNTS):
        row: dict[str, Any] = {
            "Name": name,
            "CurrencyIsoCode": currency,
            "Website": website,
            "Phone": phone,
            "Type": "Customer - Direct" if linked else "Prospect",
            "OwnerId": users[index % 2],
        }
        if linked:
            row["NetSuite_Internal_ID__c"] = globex_customer
        account_rows.append(row)
    for (name, *_), account_id in zip(
        ACCOUNTS, salesforce.load({"Account": account_rows})["Account"], strict=True
    ):
        accounts[name] = account_id

    products: list[tuple[str, str, str, str | None]] = [
        (code, name, price, item_ids[code]) for code, name, price, active in ITEMS if active
    ]
    products.append((*UNLINKED_PRODUCT, None))
    product_ids = salesforce.load(
        {
            "Product2": [
                {
                    "Name": name,
                    "ProductCode": code,
                    "IsActive": True,
                    "Family": "Hardware",
                    **({"NetSuite_Internal_ID__c": item} if item else {}),
                }
                for code, name, _, item in products
            ]
        }
    )["Product2"]
    standard = next(pb["Id"] for pb in salesforce.records("Pricebook2") if pb.get("IsStandard"))
    entries = [
        (code, currency, product_id, _price(price, currency))
        for (code, _, price, _), product_id in zip(products, product_ids, strict=True)
        for currency in PRICE_FACTORS
    ]
    entry_ids = salesforce.load(
        {
            "PricebookEntry": [
                {
                    "Pricebook2Id": standard,
                    "Product2Id": product_id,
                    "UnitPrice": price,
                    "CurrencyIsoCode": currency,
                    "IsActive": True,
                }
                for _, currency, product_id, price in entries
            ]
        }
    )["PricebookEntry"]
    entry_by_code = {
        (code, currency): (entry_id, price)
        for (code, currency, _, price), entry_id in zip(entries, entry_ids, strict=True)
    }

    currency_of = {name: currency for name, currency, *_ in ACCOUNTS}
    opportunity_ids = salesforce.load(
        {
            "Opportunity": [
                {
                    "Name": name,
                    "AccountId": accounts[account],
                    "StageName": stage,
                    "CloseDate": CLOSE_DATE,
                    "CurrencyIsoCode": currency_of[account],
                    "Pricebook2Id": standard,
                }
                for name, account, stage, _ in DEALS
            ]
        }
    )["Opportunity"]
    lines = [
        {
            "OpportunityId": opportunity_id,
            "PricebookEntryId": entry_by_code[(code, currency_of[account])][0],
            "Quantity": quantity,
            "UnitPrice": entry_by_code[(code, currency_of[account])][1],
        }
        for (_, account, _, deal_lines), opportunity_id in zip(DEALS, opportunity_ids, strict=True)
        for code, quantity in deal_lines
    ]
    salesforce.load({"OpportunityLineItem": lines})
    return SeedResult(seeded=True)
