"""The demo data set: a small, realistic company selling hardware, licences and services in four
currencies through three subsidiaries. Deterministic, so a second run finds exactly what the first left.

NetSuite holds the catalog (items of four types, each priced per currency in a price matrix, one with a
quantity break), two locations with stock, the subsidiaries, and consolidated exchange rates from each
foreign currency to US dollars for the months around the sandbox clock's today (the only part that
depends on the date the seed runs). Salesforce holds accounts (with their billing countries), open deals
and the products those deals were quoted from: keyed in by hand before q2c, linked to their NetSuite
items, with standard price book entries per currency (the catalog sync brings in the rest of the catalog),
and the users: two sales reps and the customer success team q2c's shipped onboarding file names.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from q2c_sandbox.admin_client import SandboxAdmin
from q2c_sandbox.netsuite.records import period_id

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
# (itemId, name, USD list price, active, NetSuite record type)
ITEMS = [
    ("WID-100", "Widget Standard", "120.00", True, "inventoryItem"),
    ("WID-200", "Widget Pro", "340.00", True, "inventoryItem"),
    ("GW-X1", "Gateway X1", "1250.00", True, "inventoryItem"),
    ("SVC-INSTALL", "Installation (per day)", "950.00", True, "serviceSaleItem"),
    ("SUP-GOLD", "Gold Support (annual)", "4800.00", True, "serviceSaleItem"),
    ("LIC-SEAT", "Platform licence (seat/year)", "600.00", True, "nonInventorySaleItem"),
    ("LEG-9", "Legacy Widget", "80.00", False, "inventoryItem"),
]
# In NetSuite only (no Salesforce product yet): the catalog sync brings them over.
NEW_ITEMS = [("GW-X0", "Gateway X0 (previous model)", "990.00", True, "inventoryItem")]
# An item group: a starter kit of two widgets and a day's installation.
ITEM_GROUP = ("KIT-START", "Starter kit", [("WID-100", 2), ("SVC-INSTALL", 1)])
# WID-100 is cheaper by the hundred (a NetSuite quantity break a Salesforce price book cannot hold).
QUANTITY_BREAK = ("WID-100", 100, "108.00")
LOCATIONS = [("Main Warehouse", "1"), ("London Depot", "2")]
# (itemId, location name, units received): Widget Pro is short (the Umbrella deal asks for 10).
STOCK = [
    ("WID-100", "Main Warehouse", 400),
    ("WID-100", "London Depot", 40),
    ("WID-200", "Main Warehouse", 2),
    ("WID-200", "London Depot", 6),
    ("GW-X1", "Main Warehouse", 12),
    ("GW-X0", "Main Warehouse", 3),
]
NETSUITE_CURRENCY_IDS = {"USD": "1", "GBP": "2", "CAD": "3", "EUR": "4"}
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
# The accounts' billing countries (onboarding's assignment rules read the region from them).
BILLING_COUNTRIES = {
    "Acme Corporation": "United States",
    "Globex Corporation": "US",
    "Initech GmbH": "Germany",
    "Umbrella Ltd": "United Kingdom",
    "Northwind Traders": "Canada",
    "Stark Industries": "US",
    "Hooli KK": "Japan",
}
# The customer success team, as q2c's shipped onboarding file names them: (first, last, username, title);
# the first is the others' manager (the one overdue onboarding tasks are escalated to).
CUSTOMER_SUCCESS = [
    ("Morgan", "Blake", "morgan.blake@q2c.sandbox", "Head of Customer Success"),
    ("Mei", "Tanaka", "mei.tanaka@q2c.sandbox", "Customer Success Manager, Enterprise and APAC"),
    ("Priya", "Natarajan", "priya.natarajan@q2c.sandbox", "Customer Success Manager, EMEA"),
    ("Luis", "Ortega", "luis.ortega@q2c.sandbox", "Customer Success Manager, Americas"),
    ("Jordan", "Lee", "jordan.lee@q2c.sandbox", "Customer Success Manager, Americas"),
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


# Consolidated exchange rates: every month from RATE_MONTHS_BEFORE months before the sandbox clock's month
# through RATE_MONTHS_AFTER months after it.
RATE_MONTHS_BEFORE = 12
RATE_MONTHS_AFTER = 2
BASE_CURRENCY_ID = "1"


@dataclass(frozen=True)
class SeedResult:
    seeded: bool  # False when the data was already there


def _price(usd: str, currency: str) -> float:
    return float((Decimal(usd) * PRICE_FACTORS[currency]).quantize(Decimal("0.01")))


def price_matrix(code: str, usd: str) -> dict[str, Any]:
    """An item's NetSuite price sublist: the Base Price level (1) in every currency, plus its break."""
    lines = [
        {
            "priceLevel": {"id": "1"},
            "currency": {"id": NETSUITE_CURRENCY_IDS[c]},
            "quantity": 0,
            "price": _price(usd, c),
        }
        for c in PRICE_FACTORS
    ]
    if code == QUANTITY_BREAK[0]:
        lines.append(
            {
                "priceLevel": {"id": "1"},
                "currency": {"id": "1"},
                "quantity": QUANTITY_BREAK[1],
                "price": float(QUANTITY_BREAK[2]),
            }
        )
    return {"items": lines}


def _drift(month_index: int) -> Decimal:
    """A small deterministic month-to-month movement of a rate: -0.5% .. +0.5%."""
    return Decimal((month_index * 7) % 11 - 5) / 1000


def exchange_rates(today: dt.date, *, since: dt.date | None = None) -> list[dict[str, Any]]:
    """NetSuite consolidatedExchangeRate records: each non-base currency to US dollars for every posting
    period (month) from RATE_MONTHS_BEFORE months before ``today``'s month through RATE_MONTHS_AFTER after
    it (months the sandbox has no period for are left out). The average rate is the currency's
    exchangeRate moved by ``_drift`` of the month, the current (period-end) rate by that of the next month,
    and the historical rate is the exchangeRate itself. ``since``: from that day's month at the latest (the
    demo deals' close month, so the demo's reconciliation has its rates whenever it runs)."""
    rates = []
    this_month = today.year * 12 + today.month - 1
    first = this_month - RATE_MONTHS_BEFORE
    if since is not None:
        first = min(first, since.year * 12 + since.month - 1)
    for index in range(first, this_month + RATE_MONTHS_AFTER + 1):
        year, month = divmod(index, 12)
        period = period_id(year, month=month + 1)
        if period is None:
            continue
        for currency in CURRENCIES:
            if currency["isBaseCurrency"]:
                continue
            base = Decimal(str(currency["exchangeRate"]))

            def moved(by: Decimal, base: Decimal = base) -> float:
                return float((base * (1 + by)).quantize(Decimal("0.000001")))

            rates.append(
                {
                    "externalId": f"CER-{currency['symbol']}-USD-{year}-{month + 1:02d}",
                    "postingPeriod": {"id": str(period)},
                    "fromCurrency": {"id": currency["id"]},
                    "toCurrency": {"id": BASE_CURRENCY_ID},
                    "averageRate": moved(_drift(index)),
                    "currentRate": moved(_drift(index + 1)),
                    "historicalRate": float(base),
                }
            )
    return rates


def seed_demo(salesforce: SandboxAdmin, netsuite: SandboxAdmin) -> SeedResult:
    """Load the demo data into empty sandboxes; leave sandboxes that already hold it untouched."""
    if salesforce.stats()["counts"].get("Account", 0) > 0:
        return SeedResult(seeded=False)

    catalog = [*ITEMS, *NEW_ITEMS]
    item_types = list(dict.fromkeys(kind for *_, kind in catalog))
    today = dt.date.fromisoformat(netsuite.get("/clock")["today"])  # the sandbox clock's, not the host's
    ns_ids = netsuite.load(
        {
            "currency": CURRENCIES,
            "subsidiary": SUBSIDIARIES,
            "consolidatedExchangeRate": exchange_rates(today, since=dt.date.fromisoformat(CLOSE_DATE)),
            "location": [{"name": name, "subsidiary": {"id": sub}} for name, sub in LOCATIONS],
            **{
                kind: [
                    {
                        "itemId": code,
                        "displayName": name,
                        "basePrice": float(price),
                        "isInactive": not active,
                        "price": price_matrix(code, price),
                    }
                    for code, name, price, active, of_kind in catalog
                    if of_kind == kind
                ]
                for kind in item_types
            },
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
    item_ids: dict[str, str] = {}
    for kind in item_types:
        codes = [code for code, *_, of_kind in catalog if of_kind == kind]
        item_ids.update(zip(codes, ns_ids[kind], strict=True))
    globex_customer = ns_ids["customer"][0]
    group_code, group_name, members = ITEM_GROUP
    netsuite.load(
        {
            "itemGroup": [
                {
                    "itemId": group_code,
                    "displayName": group_name,
                    "member": {
                        "items": [{"item": {"id": item_ids[code]}, "quantity": qty} for code, qty in members]
                    },
                }
            ]
        }
    )
    locations = dict(zip([name for name, _ in LOCATIONS], ns_ids["location"], strict=True))
    for code, location, quantity in STOCK:
        netsuite.post(
            "/inventory/receive",
            {"item": item_ids[code], "location": locations[location], "quantity": quantity},
        )

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
    head, *team = CUSTOMER_SUCCESS
    [manager] = salesforce.load({"User": [_user(*head)]})["User"]
    salesforce.load({"User": [{**_user(*member), "ManagerId": manager} for member in team]})
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
            "BillingCountry": BILLING_COUNTRIES[name],
        }
        if linked:
            row["NetSuite_Internal_ID__c"] = globex_customer
        account_rows.append(row)
    for (name, *_), account_id in zip(
        ACCOUNTS, salesforce.load({"Account": account_rows})["Account"], strict=True
    ):
        accounts[name] = account_id

    products: list[tuple[str, str, str, str | None]] = [
        (code, name, price, item_ids[code]) for code, name, price, active, _ in ITEMS if active
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


def _user(first: str, last: str, username: str, title: str) -> dict[str, Any]:
    return {
        "FirstName": first,
        "LastName": last,
        "Username": username,
        "Email": username.replace("@q2c.sandbox", "@q2c.example"),
        "Title": title,
    }
