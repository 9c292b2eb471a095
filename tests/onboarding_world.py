"""Test data for onboarding: a roster of users (CSMs, their manager, a fallback) unique to one test, an
onboarding file naming them, and a new customer: a NetSuite customer with a first sales order and its
linked Salesforce account."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from q2c.domain.messages.onboarding import FirstOrder
from q2c_sandbox.admin_client import SandboxAdmin
from tests.factories import Catalog

_numbers = itertools.count(1)


@dataclass
class Roster:
    csms: dict[str, str]  # username -> user id
    manager: str  # user id
    manager_username: str
    fallback: str
    fallback_username: str
    owner: str  # an account owner (a sales rep)

    def id_of(self, username: str) -> str:
        return self.csms[username]


def make_roster(sf: SandboxAdmin, csms: int = 2, *, manager: bool = True) -> Roster:
    tag = uuid.uuid4().hex[:8]
    [manager_id, fallback_id, owner_id] = sf.load(
        {
            "User": [
                {"LastName": f"Manager {tag}", "Username": f"manager.{tag}@q2c.test", "Email": "m@q2c.test"},
                {
                    "LastName": f"Fallback {tag}",
                    "Username": f"fallback.{tag}@q2c.test",
                    "Email": "f@q2c.test",
                },
                {"LastName": f"Rep {tag}", "Username": f"rep.{tag}@q2c.test", "Email": "r@q2c.test"},
            ]
        }
    )["User"]
    usernames = [f"csm{i}.{tag}@q2c.test" for i in range(1, csms + 1)]
    ids = sf.load(
        {
            "User": [
                {
                    "FirstName": f"Csm{i}",
                    "LastName": tag,
                    "Username": username,
                    "Email": "c@q2c.test",
                    **({"ManagerId": manager_id} if manager else {}),
                }
                for i, username in enumerate(usernames, start=1)
            ]
        }
    )["User"]
    return Roster(
        dict(zip(usernames, ids, strict=True)),
        manager_id,
        f"manager.{tag}@q2c.test",
        fallback_id,
        f"fallback.{tag}@q2c.test",
        owner_id,
    )


def onboarding_file(
    path: Path,
    roster: Roster,
    *,
    days: str = "calendar",
    capacity: int = 5,
    fallback: bool = True,
    extra_rules: str = "",
) -> Path:
    """The shipped file's sequence (kickoff day 0, welcome pack day 3 with a day's lead, check-in day 14
    after kickoff, review day 30 after check-in), every CSM of ``roster`` in one Americas rule."""
    csms = "\n".join(f'[[onboarding.csms]]\nusername = "{u}"\ncapacity = {capacity}\n' for u in roster.csms)
    names = ", ".join(f'"{u}"' for u in roster.csms)
    path.write_text(
        f"""
[onboarding]
enabled = true
account_csm_field = "Customer_Success_Manager__c"
days = "{days}"
escalate_after_days = 2
{f'escalation_fallback = "{roster.fallback_username}"' if fallback else ""}
default_capacity = {capacity}

[onboarding.regions]
Americas = ["US", "United States", "CA"]
EMEA = ["DE", "GB"]

[[onboarding.segments]]
name = "enterprise"
min_amount = {{ USD = 50000 }}

[[onboarding.segments]]
name = "smb"

{csms}
{extra_rules}
[[onboarding.assignment]]
name = "Americas"
region = ["Americas"]
csms = [{names}]

[[onboarding.tasks]]
key = "kickoff"
subject = "Kickoff call with {{account}}"
description = "Agree goals for {{sales_order}} ({{amount}} {{currency}})."
day = 0
priority = "High"

[[onboarding.tasks]]
key = "welcome_pack"
subject = "Send the welcome pack to {{account}}"
day = 3
lead_days = 1

[[onboarding.tasks]]
key = "checkin"
subject = "Two-week check-in with {{account}}"
day = 14
after = ["kickoff"]

[[onboarding.tasks]]
key = "review"
subject = "30-day review with {{account}}"
day = 30
after = ["checkin"]
"""
    )
    return path


@dataclass
class NewCustomer:
    customer_id: str
    account_id: str
    name: str
    sales_order_id: str
    external_id: str  # the sales order's externalId (as q2c's orders carry their opportunity's id)
    first_order: FirstOrder


def new_customer(
    sf: SandboxAdmin,
    ns: SandboxAdmin,
    catalog: Catalog,
    roster: Roster,
    *,
    country: str = "US",
    amount_units: int = 3,
) -> NewCustomer:
    """A customer whose first sales order exists in NetSuite, linked to its Salesforce account."""
    number, tag = next(_numbers), uuid.uuid4().hex[:8]
    name = f"Onboarded Co {number} {tag[:4]}"
    [customer_id] = ns.load(
        {"customer": [{"companyName": name, "subsidiary": {"id": "1"}, "currency": {"id": "1"}}]}
    )["customer"]
    [account_id] = sf.load(
        {
            "Account": [
                {
                    "Name": name,
                    "CurrencyIsoCode": "USD",
                    "BillingCountry": country,
                    "OwnerId": roster.owner,
                    "NetSuite_Internal_ID__c": customer_id,
                }
            ]
        }
    )["Account"]
    [order_id] = ns.load(
        {
            "salesOrder": [
                {
                    "entity": {"id": customer_id},
                    "externalId": f"onb-{tag}",
                    "item": {
                        "items": [
                            {
                                "item": {"id": catalog.items["WID-100"]},
                                "quantity": amount_units,
                                "rate": 120.0,
                            }
                        ]
                    },
                }
            ]
        }
    )["salesOrder"]
    order = FirstOrder(
        customer_id=customer_id,
        sales_order_id=order_id,
        sales_order_number=f"SO-{order_id}",
        account_id=account_id,
        amount=Decimal(120 * amount_units),
        currency="USD",
    )
    return NewCustomer(customer_id, account_id, name, order_id, f"onb-{tag}", order)
