"""A deterministic data set at any scale, with the mess real orgs have.

``generate(accounts=10_000, seed=7)`` always yields the same records: companies written differently in
each system ("Acme, Inc." / "ACME Inc"), duplicates inside one system, several currencies and
subsidiaries (and one currency no subsidiary takes), inactive items, customers on credit hold, contacts
without email, accounts already linked to their customer and accounts that are not. ``load`` puts it
into both sandboxes through their admin API, in batches.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from q2c_sandbox.admin_client import SandboxAdmin
from q2c_sandbox.seed import CURRENCIES, SUBSIDIARIES

STEMS = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Pied Piper",
    "Dunder Mifflin",
    "Oscorp",
    "Gringotts",
    "Monarch",
    "Aperture",
    "Black Mesa",
    "Massive Dynamic",
    "Nakatomi",
    "Virtucon",
    "Gekko",
    "Prestige",
    "Sterling",
    "Blue Sun",
    "Krusty",
    "Duff",
    "Tessier",
    "Weyland",
    "Yoyodyne",
    "Zorg",
    "Abstergo",
    "Octan",
    "Rekall",
    "Ingen",
]
TRADES = [
    "Industries",
    "Labs",
    "Systems",
    "Foods",
    "Logistics",
    "Analytics",
    "Robotics",
    "Health",
    "Energy",
    "Media",
    "Capital",
    "Textiles",
    "Aerospace",
    "Software",
    "Retail",
]
# (currency, country, legal suffixes as people write them)
MARKETS = [
    ("USD", "US", ["Inc.", ", Inc.", "Inc", "LLC", "Corp.", "Corporation"]),
    ("EUR", "DE", ["GmbH", "AG", "GmbH & Co. KG"]),
    ("GBP", "GB", ["Ltd", "Ltd.", "Limited", "PLC"]),
    ("CAD", "CA", ["Inc.", "Ltd.", "Corp."]),
    ("JPY", "JP", ["KK", "K.K.", "Co., Ltd."]),  # no subsidiary books JPY: deals in it need attention
]
MARKET_WEIGHTS = [55, 18, 14, 9, 4]
FIRST = [
    "Ana",
    "Ben",
    "Chloe",
    "Dev",
    "Elif",
    "Farid",
    "Greta",
    "Hiro",
    "Ines",
    "Jon",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Ravi",
    "Sofia",
    "Tomas",
    "Uma",
    "Viktor",
    "Wen",
    "Yara",
]
LAST = [
    "Smith",
    "Müller",
    "García",
    "Okafor",
    "Tanaka",
    "Rossi",
    "Dubois",
    "Kowalski",
    "Nguyen",
    "Silva",
    "Johansson",
    "Khan",
    "Murphy",
    "Cohen",
    "Novak",
    "Haddad",
]
CURRENCY_IDS = {c["symbol"]: c["id"] for c in CURRENCIES}
SUBSIDIARY_BY_CURRENCY = {"USD": "1", "CAD": "1", "GBP": "2", "EUR": "3"}


@dataclass
class Company:
    index: int
    canonical: str  # how the company calls itself
    salesforce_name: str
    netsuite_name: str | None  # None: not (yet) a NetSuite customer
    currency: str
    domain: str | None
    linked: bool  # the Salesforce account already carries its NetSuite id
    credit_hold: bool
    duplicate_in_salesforce: str | None = None  # a second Salesforce account for the same company
    duplicate_in_netsuite: str | None = None
    contacts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DataSet:
    seed: int
    companies: list[Company]
    items: list[dict[str, Any]]


def name_variant(rng: random.Random, base: str, suffix: str) -> str:
    """The same company as someone else typed it: case, punctuation, suffix spelling."""
    name = f"{base}{suffix}" if suffix.startswith(",") else f"{base} {suffix}"
    roll = rng.random()
    if roll < 0.2:
        return name.upper().replace(",", "").replace(".", "")
    if roll < 0.35:
        return name.replace(",", "")
    if roll < 0.45:
        return f"{base.lower()} {suffix.strip(', ').lower()}"
    if roll < 0.55:
        return f"The {name}"
    return name


def generate(accounts: int, seed: int = 7) -> DataSet:
    rng = random.Random(seed)
    companies = []
    for index in range(accounts):
        currency, country, suffixes = rng.choices(MARKETS, MARKET_WEIGHTS)[0]
        stem = STEMS[index % len(STEMS)]
        trade = TRADES[(index // len(STEMS)) % len(TRADES)]
        number = index // (len(STEMS) * len(TRADES))
        base = f"{stem} {trade}" + (f" {number + 1}" if number else "")
        canonical = f"{base} {suffixes[0].strip(', ')}"
        domain = (
            None
            if rng.random() < 0.08
            else re.sub(r"[^a-z0-9]+", "", base.lower())
            # A registrable domain of its own per company ("acmelabs-example.de"): "acmelabs.example.de" would
            # be a sub-domain of example.de, which every company of that country shares.
            + (".com" if country == "US" else f"-example.{country.lower()}")
        )
        in_netsuite = rng.random() < 0.6 and currency in SUBSIDIARY_BY_CURRENCY
        company = Company(
            index=index,
            canonical=canonical,
            salesforce_name=name_variant(rng, base, rng.choice(suffixes)),
            netsuite_name=name_variant(rng, base, rng.choice(suffixes))[:83] if in_netsuite else None,
            currency=currency,
            domain=domain,
            linked=in_netsuite and rng.random() < 0.3,
            credit_hold=in_netsuite and rng.random() < 0.05,
        )
        if rng.random() < 0.03:
            company.duplicate_in_salesforce = name_variant(rng, base, rng.choice(suffixes))
        if in_netsuite and rng.random() < 0.03:
            company.duplicate_in_netsuite = name_variant(rng, base, rng.choice(suffixes))[:83]
        for _ in range(rng.randint(1, 3)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            has_email = domain is not None and rng.random() > 0.15
            company.contacts.append(
                {
                    "FirstName": first,
                    "LastName": last,
                    "Email": f"{first.lower()}.{last.lower()}@{domain}" if has_email else None,
                }
            )
        companies.append(company)
    items = [
        {
            "itemId": f"SKU-{n:04d}",
            "displayName": f"{rng.choice(TRADES)} kit {n}",
            "basePrice": round(rng.uniform(20, 5000), 2),
            "isInactive": rng.random() < 0.1,
        }
        for n in range(1, max(10, accounts // 200) + 1)
    ]
    return DataSet(seed=seed, companies=companies, items=items)


def _batches(rows: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def load(
    data: DataSet, salesforce: SandboxAdmin, netsuite: SandboxAdmin, batch: int = 1000
) -> dict[str, int]:
    """Load ``data`` into both sandboxes (which must hold no conflicting records); returns counts."""
    existing_currencies = {c.get("symbol") for c in netsuite.records("currency")}
    if not existing_currencies:
        netsuite.load({"currency": CURRENCIES, "subsidiary": SUBSIDIARIES})

    item_ids: list[str] = []
    for rows in _batches(data.items, batch):
        item_ids += netsuite.load({"inventoryItem": rows})["inventoryItem"]

    def customer(name: str, company: Company) -> dict[str, Any]:
        row: dict[str, Any] = {
            "companyName": name,
            "subsidiary": {"id": SUBSIDIARY_BY_CURRENCY[company.currency]},
            "currency": {"id": CURRENCY_IDS[company.currency]},
            "creditHoldOverride": "ON" if company.credit_hold else "AUTO",
            "creditLimit": float(25_000 * (1 + company.index % 8)),
        }
        if company.domain:
            row["email"] = f"accounts@{company.domain}"
        return row

    in_netsuite = [c for c in data.companies if c.netsuite_name]
    customer_rows = [customer(c.netsuite_name or "", c) for c in in_netsuite]
    customer_rows += [customer(c.duplicate_in_netsuite, c) for c in in_netsuite if c.duplicate_in_netsuite]
    customer_ids: list[str] = []
    for rows in _batches(customer_rows, batch):
        customer_ids += netsuite.load({"customer": rows})["customer"]
    customer_of = {c.index: cid for c, cid in zip(in_netsuite, customer_ids, strict=False)}

    def account(name: str, company: Company, linked: bool) -> dict[str, Any]:
        row: dict[str, Any] = {
            "Name": name,
            "CurrencyIsoCode": company.currency,
            "Type": "Customer - Direct" if company.netsuite_name else "Prospect",
        }
        if company.domain:
            row["Website"] = f"https://www.{company.domain}"
        if linked:
            row["NetSuite_Internal_ID__c"] = customer_of[company.index]
        return row

    account_rows = [account(c.salesforce_name, c, c.linked) for c in data.companies]
    account_ids: list[str] = []
    for rows in _batches(account_rows, batch):
        account_ids += salesforce.load({"Account": rows})["Account"]
    duplicates = [
        account(c.duplicate_in_salesforce, c, False) for c in data.companies if c.duplicate_in_salesforce
    ]
    for rows in _batches(duplicates, batch):
        salesforce.load({"Account": rows})

    contact_rows = [
        {**{k: v for k, v in contact.items() if v is not None}, "AccountId": account_id}
        for company, account_id in zip(data.companies, account_ids, strict=True)
        for contact in company.contacts
    ]
    for rows in _batches(contact_rows, batch):
        salesforce.load({"Contact": rows})

    products = [
        {
            "Name": item["displayName"],
            "ProductCode": item["itemId"],
            "IsActive": not item["isInactive"],
            "NetSuite_Internal_ID__c": item_id,
        }
        for item, item_id in zip(data.items, item_ids, strict=True)
    ]
    for rows in _batches(products, batch):
        salesforce.load({"Product2": rows})
    return {
        "accounts": len(account_rows) + len(duplicates),
        "salesforce_duplicates": len(duplicates),
        "customers": len(customer_rows),
        "netsuite_duplicates": len(customer_rows) - len(in_netsuite),
        "linked": sum(1 for c in data.companies if c.linked),
        "on_credit_hold": sum(1 for c in data.companies if c.credit_hold),
        "contacts": len(contact_rows),
        "contacts_without_email": sum(1 for row in contact_rows if "Email" not in row),
        "items": len(item_ids),
        "inactive_items": sum(1 for item in data.items if item["isInactive"]),
    }
