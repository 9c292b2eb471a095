"""Finding NetSuite customers for an unlinked account: by the matching keys themselves, every row.

On sandboxes of their own (module scope), as in ``test_account_sync.py``: account sync reacts to every
changed record, and these tests load many look-alike customers.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.netsuite_accounts import NetSuiteAccountActivities
from activities.salesforce_accounts import SalesforceAccountActivities
from q2c.config import Settings
from q2c.connectors.netsuite import NetSuiteClient
from q2c.domain.account_sync import AccountStage
from q2c.domain.matching import AccountCandidate, MatchKind, match
from q2c.domain.messages import FindCandidates, SalesforceAccountChanged
from q2c.domain.sync import Side
from q2c.store import LinkKind, Store
from q2c_sandbox.local import LocalSandboxes, local_sandboxes
from q2c_sandbox.seed import CURRENCIES, SUBSIDIARIES
from temporal_client.accounts import account_sync_options, salesforce_account_changed, wait_for_account
from tests.conftest import q2c_test_settings
from tests.sessions import API, person_session
from worker import salesforce_client
from workflows import names

SALES_USER = "candidates.rep@q2c.sandbox"
TRADES = ["Trading", "Labs", "Foods", "Systems", "Energy", "Media"]


@pytest.fixture(scope="module")
def candidate_sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSandboxes]:
    with local_sandboxes(tmp_path_factory.mktemp("candidate-sandboxes")) as sandboxes:
        sandboxes.ns_admin.load({"currency": CURRENCIES, "subsidiary": SUBSIDIARIES})
        sandboxes.sf_admin.create_user(SALES_USER, first_name="Cora", last_name="Rep")
        yield sandboxes


@pytest.fixture
def settings(
    candidate_sandboxes: LocalSandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> Settings:
    return q2c_test_settings(candidate_sandboxes, temporal_env, tmp_path)


def _customers(sandboxes: LocalSandboxes, *rows: dict[str, Any]) -> list[str]:
    return sandboxes.ns_admin.load({"customer": [{"subsidiary": {"id": "1"}, **row} for row in rows]})[
        "customer"
    ]


def _namesakes(sandboxes: LocalSandboxes, stem: str, n: int) -> list[str]:
    """``n`` customers whose names start with the same word as the account's (none of them it)."""
    return _customers(
        sandboxes, *({"companyName": f"{stem} {TRADES[i % len(TRADES)]} {i}"} for i in range(n))
    )


async def _candidates(netsuite: NetSuiteClient, store: Store, record: AccountCandidate) -> list[Any]:
    activities = NetSuiteAccountActivities(netsuite, store)
    found = await ActivityEnvironment().run(
        activities.find_customer_candidates, FindCandidates(record=record)
    )
    return list(found.candidates)


async def test_both_customers_with_the_domain_are_found_among_many_namesakes(
    candidate_sandboxes: LocalSandboxes, netsuite: NetSuiteClient, store: Store
) -> None:
    u = uuid.uuid4().hex[:6]
    stem, domain = f"Nakatomi{u}", f"nakatomi{u}.example"
    [first] = _customers(candidate_sandboxes, {"companyName": f"{stem} Plaza", "email": f"ap@{domain}"})
    _namesakes(candidate_sandboxes, stem, 120)  # the first word alone: far more than one page of 50
    [second] = _customers(
        candidate_sandboxes, {"companyName": f"{stem} Corporation", "url": f"https://www.{domain}"}
    )
    account = AccountCandidate(
        side=Side.SALESFORCE, id="001000000000AAAAAA", name=f"{stem} Plaza", website=f"https://{domain}"
    )

    found = await _candidates(netsuite, store, account)

    assert {c.id for c in found} >= {first, second}
    result = match(account, found)
    assert result.kind is MatchKind.AMBIGUOUS, result
    assert {m.candidate.id for m in result.matches} == {first, second}


async def test_name_matches_past_any_page_are_all_found_and_only_they(
    candidate_sandboxes: LocalSandboxes, netsuite: NetSuiteClient, store: Store
) -> None:
    u = uuid.uuid4().hex[:6]
    stem = f"Gekko{u}"
    _namesakes(candidate_sandboxes, stem, 1100)  # more rows than one SuiteQL page (1000)
    # The same company as people type it: case, punctuation, accents and legal forms differ.
    same = _customers(
        candidate_sandboxes,
        {"companyName": f"{stem.upper()} CAPITAL, INC."},
        {"companyName": f"The {stem} Capitál LLC"},
        {"companyName": f"{stem} Capital"},
    )
    account = AccountCandidate(side=Side.SALESFORCE, id="001000000000BBBBBB", name=f"{stem} Capital Inc.")

    found = await _candidates(netsuite, store, account)

    assert sorted(c.id for c in found) == sorted(same)  # never the namesakes, never cut short
    assert match(account, found).kind is MatchKind.AMBIGUOUS


async def test_the_cross_ids_find_the_linked_customer_whatever_its_name(
    candidate_sandboxes: LocalSandboxes, netsuite: NetSuiteClient, store: Store
) -> None:
    u = uuid.uuid4().hex[:6]
    account_id = f"001000000{u}CCC"
    by_external, by_field, by_store, by_account = _customers(
        candidate_sandboxes,
        {"companyName": f"Renamed {u} A", "externalId": account_id},
        {"companyName": f"Renamed {u} B", "custentity_sf_account_id": account_id},
        {"companyName": f"Renamed {u} C"},
        {"companyName": f"Renamed {u} D"},
    )
    store.link(LinkKind.ACCOUNT, account_id, by_store)
    account = AccountCandidate(side=Side.SALESFORCE, id=account_id, name=f"Zzz {u}", cross_id=by_account)

    found = await _candidates(netsuite, store, account)

    assert {c.id for c in found} == {by_external, by_field, by_store, by_account}


# --- end to end: the account sync parks rather than silently linking one of two duplicates ----------------
@pytest.fixture
async def rep_http(candidate_sandboxes: LocalSandboxes) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    async with person_session(candidate_sandboxes, SALES_USER) as session:
        yield session


@pytest.mark.usefixtures("worker")
async def test_an_account_whose_domain_two_customers_share_parks_as_ambiguous(
    client: Client,
    settings: Settings,
    candidate_sandboxes: LocalSandboxes,
    rep_http: tuple[httpx.AsyncClient, str],
) -> None:
    http, user_id = rep_http
    u = uuid.uuid4().hex[:6]
    stem, domain = f"Nakatomi{u}", f"nakatomi{u}.example"
    [first] = _customers(candidate_sandboxes, {"companyName": f"{stem} Plaza", "email": f"ap@{domain}"})
    _namesakes(candidate_sandboxes, stem, 169)
    [second] = _customers(
        candidate_sandboxes, {"companyName": f"{stem} Holdings", "url": f"https://{domain}"}
    )
    reply = await http.post(
        f"{API}/sobjects/Account/",
        json={"Name": f"{stem} Plaza", "Website": f"https://www.{domain}"},
    )
    assert reply.status_code == 201, reply.text
    account_id = reply.json()["id"]

    started = time.monotonic()
    await salesforce_account_changed(
        client,
        account_sync_options(settings),
        SalesforceAccountChanged(account_id=account_id, modified_by=user_id, source="test"),
    )
    status = await wait_for_account(
        client,
        names.account_workflow_id(account_id),
        30,
        lambda s: s.stage in (AccountStage.NEEDS_ATTENTION, AccountStage.IN_SYNC),
    )

    assert status.stage is AccountStage.NEEDS_ATTENTION, f"linked to {status.netsuite_customer_id}"
    assert {m.candidate.id for m in status.candidates} == {first, second}
    assert first in status.message and second in status.message
    assert time.monotonic() - started < 30


async def test_accounts_for_a_netsuite_born_customer_are_found_by_the_same_keys_never_cut_short(
    candidate_sandboxes: LocalSandboxes, settings: Settings
) -> None:
    u = uuid.uuid4().hex[:6]
    stem, domain = f"Cyberdyne{u}", f"cyberdyne{u}.example"
    ids = candidate_sandboxes.sf_admin.load(
        {
            "Account": [
                {"Name": f"{stem} Systems", "Website": f"https://{domain}"},
                *({"Name": f"{stem} {TRADES[i % len(TRADES)]} {i}"} for i in range(120)),
                {"Name": f"{stem} Holdings", "Website": f"https://www.{domain}/about"},
                {"Name": f"The {stem.upper()} Skynet, Inc."},
            ]
        }
    )["Account"]
    first, second, namesake = ids[0], ids[-2], ids[-1]
    activities = SalesforceAccountActivities(salesforce_client(settings))
    customer = AccountCandidate(
        side=Side.NETSUITE, id="77", name=f"{stem} Skynet", website=f"https://shop.{domain}"
    )

    found = await ActivityEnvironment().run(
        activities.find_account_candidates, FindCandidates(record=customer)
    )

    assert sorted(c.id for c in found.candidates) == sorted([first, second, namesake])
    result = match(customer, list(found.candidates))
    assert result.kind is MatchKind.AMBIGUOUS and {m.candidate.id for m in result.matches} == {first, second}
