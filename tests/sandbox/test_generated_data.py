"""The generated data set: deterministic, messy in the ways real orgs are, loadable at scale."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from q2c_sandbox.admin_client import SandboxAdmin
from q2c_sandbox.generate import generate, load
from q2c_sandbox.local import local_sandboxes

LEGAL = r"\b(the|inc|llc|corp|corporation|gmbh|ag|co|kg|ltd|limited|plc|kk|k k)\b"


def _normalized(name: str) -> str:
    words = re.sub(r"[^a-z0-9 ]+", " ", name.lower())
    return " ".join(re.sub(LEGAL, " ", words).split())


def test_same_seed_same_data_other_seed_other_data() -> None:
    assert generate(300, seed=3) == generate(300, seed=3)
    assert generate(300, seed=3) != generate(300, seed=4)


def test_the_mess_is_there() -> None:
    data = generate(2000, seed=7)
    in_both = [c for c in data.companies if c.netsuite_name]
    written_differently = [c for c in in_both if c.netsuite_name != c.salesforce_name]
    assert len(written_differently) > len(in_both) / 3
    # ... yet the same company once case, punctuation and legal suffixes are set aside.
    assert all(
        _normalized(c.netsuite_name or "") == _normalized(c.salesforce_name) for c in written_differently
    )
    assert {c.currency for c in data.companies} == {"USD", "EUR", "GBP", "CAD", "JPY"}
    assert any(c.duplicate_in_salesforce for c in data.companies)
    assert any(c.duplicate_in_netsuite for c in data.companies)
    assert any(c.credit_hold for c in data.companies)
    assert any(c.linked for c in data.companies) and any(
        c.netsuite_name and not c.linked for c in data.companies
    )
    assert any(contact["Email"] is None for c in data.companies for contact in c.contacts)
    assert any(item["isInactive"] for item in data.items)


@pytest.fixture
def fresh_sandboxes(tmp_path: Path) -> Iterator[tuple[SandboxAdmin, SandboxAdmin]]:
    with local_sandboxes(tmp_path) as sandboxes:
        yield sandboxes.sf_admin, sandboxes.ns_admin


def test_loads_into_both_sandboxes(fresh_sandboxes: tuple[SandboxAdmin, SandboxAdmin]) -> None:
    sf, ns = fresh_sandboxes
    data = generate(400, seed=11)

    counts = load(data, sf, ns, batch=150)

    sf_counts, ns_counts = sf.stats()["counts"], ns.stats()["counts"]
    assert sf_counts["Account"] == counts["accounts"] == 400 + counts["salesforce_duplicates"]
    assert sf_counts["Contact"] == counts["contacts"] and counts["contacts_without_email"] > 0
    assert ns_counts["customer"] == counts["customers"] > 0
    linked = [a for a in sf.records("Account") if a.get("NetSuite_Internal_ID__c")]
    assert len(linked) == counts["linked"] > 0
    customers = {c["id"]: c for c in ns.records("customer")}
    for account in linked:
        customer = customers[account["NetSuite_Internal_ID__c"]]
        assert _normalized(customer["companyName"]) == _normalized(account["Name"])
    on_hold = [c for c in customers.values() if (c.get("creditHoldOverride") or {}).get("id") == "ON"]
    assert len(on_hold) >= counts["on_credit_hold"] > 0
