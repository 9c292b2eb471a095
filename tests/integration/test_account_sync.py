"""Account and contact sync end to end: real Temporal, both sandboxes over HTTPS, the real worker.

These tests run on sandboxes of their own (module scope): account sync reacts to *every* changed customer
or account, so it must not see the records other test modules leave in the shared sandboxes. Edits are
made as people would: in Salesforce through a sales user's own session (so LastModifiedById is not q2c's
integration user), in NetSuite through the record API.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from q2c.config import Settings
from q2c.connectors.netsuite import NetSuiteClient
from q2c.domain.account_sync import AccountStage, same_value
from q2c.domain.mapping import MappingError, load_mapping
from q2c.domain.messages import (
    AccountSyncStatus,
    ChooseMatch,
    NetSuiteCustomerChanged,
    SalesforceAccountChanged,
    SalesforceContactChanged,
)
from q2c.domain.sync import Direction, Side, to_netsuite
from q2c.store import LinkKind, Store
from q2c_sandbox.local import LocalSandboxes, local_sandboxes
from q2c_sandbox.seed import CURRENCIES, SUBSIDIARIES
from q2c_sandbox.server import BackgroundServer
from q2c_sandbox.tls import ensure_server_cert
from starter.webhook import create_webhook_app
from temporal_client.accounts import (
    account_status,
    account_sync_options,
    choose_match,
    netsuite_customer_changed,
    salesforce_account_changed,
    salesforce_contact_changed,
    wait_for_account,
)
from temporal_client.schedules import poll_once, salesforce_poll_once
from tests.conftest import q2c_test_settings
from tests.factories import records_with
from tests.replay.recording import record_history
from worker import build_workers, netsuite_client
from workflows import names

pytestmark = pytest.mark.usefixtures("worker")
SALES_USER = "rep@q2c.sandbox"


@pytest.fixture(scope="module")
def account_sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSandboxes]:
    root = tmp_path_factory.mktemp("account-sandboxes")
    with local_sandboxes(
        root,
        salesforce={
            "outbound_ca_path": ensure_server_cert(root / "tls").ca_path,
            "outbound_retry_base_seconds": 0.1,
            "outbound_retry_max_seconds": 1.0,
        },
    ) as sandboxes:
        sandboxes.ns_admin.load({"currency": CURRENCIES, "subsidiary": SUBSIDIARIES})
        sandboxes.sf_admin.create_user(SALES_USER, first_name="Rita", last_name="Rep")
        yield sandboxes


@pytest.fixture
def settings(
    account_sandboxes: LocalSandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> Settings:
    return q2c_test_settings(account_sandboxes, temporal_env, tmp_path)


@dataclass
class SalesRep:
    """A person editing Salesforce through their own session (the REST API a browser's UI uses too)."""

    http: httpx.AsyncClient
    user_id: str

    async def create(self, sobject: str, fields: dict[str, Any]) -> str:
        reply = await self.http.post(f"/services/data/v59.0/sobjects/{sobject}/", json=fields)
        assert reply.status_code == 201, reply.text
        return str(reply.json()["id"])

    async def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        reply = await self.http.patch(f"/services/data/v59.0/sobjects/{sobject}/{record_id}", json=fields)
        assert reply.status_code == 204, reply.text

    async def get(self, sobject: str, record_id: str) -> dict[str, Any]:
        reply = await self.http.get(f"/services/data/v59.0/sobjects/{sobject}/{record_id}")
        assert reply.status_code == 200, reply.text
        result: dict[str, Any] = reply.json()
        return result


@pytest.fixture
async def rep(account_sandboxes: LocalSandboxes) -> AsyncIterator[SalesRep]:
    session = account_sandboxes.sf_admin.login_as(SALES_USER)
    async with httpx.AsyncClient(
        base_url=session["instance_url"],
        headers={"Authorization": f"Bearer {session['access_token']}"},
        verify=str(account_sandboxes.cert.ca_path),
        timeout=30,
    ) as http:
        yield SalesRep(http, session["user_id"])


def unique() -> str:
    return uuid.uuid4().hex[:6]


def new_customer(ns: LocalSandboxes, **fields: Any) -> str:
    """A customer keyed in directly in NetSuite (no externalId, no link)."""
    return ns.ns_admin.load({"customer": [{"subsidiary": {"id": "1"}, **fields}]})["customer"][0]


async def account_changed(client: Client, settings: Settings, account_id: str, rep: SalesRep) -> None:
    """What the webhook does with an Account outbound message."""
    await salesforce_account_changed(
        client,
        account_sync_options(settings),
        SalesforceAccountChanged(account_id=account_id, modified_by=rep.user_id, source="test"),
    )


async def customer_changed(client: Client, settings: Settings, customer_id: str, account_id: str) -> None:
    """What the NetSuite poller does with a changed customer that is linked."""
    await netsuite_customer_changed(
        client,
        account_sync_options(settings),
        NetSuiteCustomerChanged(customer_id=customer_id, source="test"),
        account_id,
    )


async def settled(client: Client, account_id: str, **want: Any) -> AccountSyncStatus:
    def done(status: Any) -> bool:
        # Counters (ints) are "at least": a test waits for something to have happened.
        return all(
            getattr(status, k) >= v
            if isinstance(v, int) and not isinstance(v, bool)
            else getattr(status, k) == v
            for k, v in want.items()
        ) and (
            status.stage is AccountStage.NEEDS_ATTENTION
            or not (status.pending_salesforce or status.pending_netsuite or status.pending_contacts)
        )

    status: AccountSyncStatus = await wait_for_account(
        client, names.account_workflow_id(account_id), 30, done
    )
    return status


async def linked_pair(client: Client, settings: Settings, rep: SalesRep, **fields: Any) -> tuple[str, str]:
    account_id = await rep.create("Account", {"Name": f"Pair {unique()}", **fields})
    await account_changed(client, settings, account_id, rep)
    status = await settled(client, account_id, stage=AccountStage.IN_SYNC)
    assert status.netsuite_customer_id
    return account_id, status.netsuite_customer_id


def writes(sandboxes: LocalSandboxes, account_id: str, customer_id: str) -> tuple[int, int]:
    """Writes to this pair's customer (NetSuite) and account (Salesforce) since the logs were cleared.

    Only this pair's: other tests' pairs on the same sandboxes may still be syncing, and the NetSuite
    poller reaches every customer."""
    ns = sandboxes.ns_admin.requests(limit=50_000)["recent"]
    sf = sandboxes.sf_admin.requests(limit=50_000)["recent"]
    ns_writes = sum(
        1
        for r in ns
        if r["method"] in ("PATCH", "PUT", "POST")
        and r["path"].endswith(f"/record/v1/customer/{customer_id}")
    )
    sf_writes = sum(
        1
        for r in sf
        if r["method"] in ("PATCH", "POST") and re.search(rf"/sobjects/Account/{account_id}(\?|$)", r["path"])
    )
    return ns_writes, sf_writes


def clear_logs(sandboxes: LocalSandboxes) -> None:
    sandboxes.ns_admin.clear_requests()
    sandboxes.sf_admin.clear_requests()


# --- matching and linking --------------------------------------------------------------------------------
async def test_an_unmatched_account_gets_one_customer_linked_both_ways(
    client: Client, settings: Settings, account_sandboxes: LocalSandboxes, rep: SalesRep, store: Store
) -> None:
    name = f"Zephyr Labs {unique()}"
    account_id = await rep.create(
        "Account",
        {
            "Name": name,
            "Phone": " +49 30 1234 ",
            "Website": "https://zephyr.example",
            "CurrencyIsoCode": "EUR",
            "Industry": "Retail",
        },
    )
    await account_changed(client, settings, account_id, rep)
    status = await settled(client, account_id, stage=AccountStage.IN_SYNC)

    customers = records_with(account_sandboxes.ns_admin, "customer", companyName=name)
    assert len(customers) == 1
    customer = customers[0]
    assert str(customer["id"]) == status.netsuite_customer_id
    assert customer["externalId"] == account_id
    assert customer["custentity_sf_account_id"] == account_id
    assert customer["phone"] == "+49 30 1234"  # stripped, as the mapping says
    assert customer["custentity_industry"] == "RETAIL"  # picklist map
    assert customer["subsidiary"]["id"] == "3"  # EUR books in Q2C GmbH (DE)
    assert customer["currency"]["id"] == "4"
    account = await rep.get("Account", account_id)
    assert account["NetSuite_Internal_ID__c"] == status.netsuite_customer_id
    link = store.find_link(LinkKind.ACCOUNT, salesforce_id=account_id)
    assert link is not None and link.netsuite_id == status.netsuite_customer_id

    # The same event again (at-least-once delivery): nothing new is created or written.
    await account_changed(client, settings, account_id, rep)
    again = await settled(client, account_id, events=status.events + 1)
    assert again.netsuite_writes == status.netsuite_writes
    assert len(records_with(account_sandboxes.ns_admin, "customer", companyName=name)) == 1


async def test_acme_inc_and_ACME_Inc_link_rather_than_duplicate(
    client: Client, settings: Settings, account_sandboxes: LocalSandboxes, rep: SalesRep
) -> None:
    u = unique()
    customer_id = new_customer(account_sandboxes, companyName=f"Acme{u}, Inc.", phone="+1 555 0100")
    account_id = await rep.create("Account", {"Name": f"ACME{u} Inc"})

    await account_changed(client, settings, account_id, rep)
    status = await settled(client, account_id, stage=AccountStage.IN_SYNC)

    assert status.netsuite_customer_id == customer_id
    assert any("same normalized name" in d for d in status.decisions), status.decisions
    customers = [c for c in account_sandboxes.ns_admin.records("customer") if u in str(c.get("companyName"))]
    assert len(customers) == 1  # no duplicate
    assert customers[0]["externalId"] == account_id  # so the order workflow's upsert finds it
    # First sync: the blank Salesforce phone is filled from NetSuite; the differing names go the
    # master's way (Salesforce, while the account is a prospect).
    account = await rep.get("Account", account_id)
    assert account["Phone"] == "+1 555 0100"
    assert customers[0]["companyName"] == f"ACME{u} Inc"


async def test_two_equally_good_candidates_park_until_a_person_chooses_and_contacts_wait(
    client: Client, settings: Settings, account_sandboxes: LocalSandboxes, rep: SalesRep
) -> None:
    u = unique()
    first = new_customer(account_sandboxes, companyName=f"Globex{u} LLC")
    second = new_customer(account_sandboxes, companyName=f"Globex{u} GmbH")
    account_id = await rep.create("Account", {"Name": f"Globex{u}"})
    contact_id = await rep.create(
        "Contact", {"LastName": "Nomail", "FirstName": "Nora", "AccountId": account_id}
    )

    await account_changed(client, settings, account_id, rep)
    await salesforce_contact_changed(
        client,
        account_sync_options(settings),
        account_id,
        SalesforceContactChanged(contact_id=contact_id, modified_by=rep.user_id, source="test"),
    )
    parked = await settled(client, account_id, stage=AccountStage.NEEDS_ATTENTION)

    assert {m.candidate.id for m in parked.candidates} == {first, second}
    assert first in parked.message and second in parked.message and "does not guess" in parked.message
    assert parked.netsuite_customer_id is None
    # The contact waits for its account rather than failing.
    status = await wait_for_account(
        client, names.account_workflow_id(account_id), 30, lambda s: contact_id in s.pending_contacts
    )
    assert status.contact_writes == 0
    assert not records_with(account_sandboxes.ns_admin, "contact", externalId=contact_id)

    await choose_match(client, account_id, ChooseMatch(record_id=second))
    done = await settled(client, account_id, stage=AccountStage.IN_SYNC, netsuite_customer_id=second)

    assert done.contact_writes == 1
    contacts = records_with(account_sandboxes.ns_admin, "contact", externalId=contact_id)
    assert len(contacts) == 1 and contacts[0]["lastName"] == "Nomail" and not contacts[0].get("email")
    assert contacts[0]["company"]["id"] == second
    assert (await rep.get("Contact", contact_id))["NetSuite_Internal_ID__c"] == str(contacts[0]["id"])
    await record_history(client, names.account_workflow_id(account_id), "account_parked_then_chosen")


async def test_a_customer_born_in_netsuite_gets_an_account_or_links_by_domain(
    client: Client, settings: Settings, account_sandboxes: LocalSandboxes, rep: SalesRep
) -> None:
    u = unique()
    await poll_once(client, settings)  # the first poll only sets the watermark
    born = new_customer(
        account_sandboxes, companyName=f"Initrode{u} Ltd", phone="+44 20 7946", subsidiary={"id": "2"}
    )
    existing = await rep.create("Account", {"Name": f"Hooli {u}", "Website": f"https://www.hooli{u}.com"})
    by_domain = new_customer(account_sandboxes, companyName=f"Hooli XYZ {u}", email=f"ap@hooli{u}.com")

    result = await poll_once(client, settings)
    assert result.accounts_signalled >= 2

    intake = await wait_for_account(client, names.intake_workflow_id(born), 30)
    assert intake.stage is AccountStage.HANDED_OVER, intake.message
    account = await rep.get("Account", intake.account_id)
    assert account["Name"] == f"Initrode{u} Ltd" and account["Phone"] == "+44 20 7946"
    assert account["NetSuite_Internal_ID__c"] == born
    status = await settled(client, intake.account_id, stage=AccountStage.IN_SYNC)
    assert status.netsuite_customer_id == born

    linked = await wait_for_account(client, names.intake_workflow_id(by_domain), 30)
    assert linked.account_id == existing  # same domain hooli{u}.com: linked, no second account
    assert (await rep.get("Account", existing))["NetSuite_Internal_ID__c"] == by_domain
    customer = [c for c in account_sandboxes.ns_admin.records("customer") if str(c["id"]) == by_domain]
    assert customer[0]["custentity_sf_account_id"] == existing
    await record_history(client, names.intake_workflow_id(born), "account_intake_created")


# --- syncing changes ----------------------------------------------------------------------------------------
async def test_changes_found_by_both_pollers_flow_both_ways_and_echoes_write_nothing(
    client: Client,
    settings: Settings,
    account_sandboxes: LocalSandboxes,
    rep: SalesRep,
    netsuite: NetSuiteClient,
) -> None:
    account_id, customer_id = await linked_pair(client, settings, rep, Phone="+1 000")
    await salesforce_poll_once(client, settings)  # first polls: watermarks only
    await poll_once(client, settings)
    clear_logs(account_sandboxes)

    start = await account_status(client, account_id)
    await rep.update("Account", account_id, {"Phone": "+1 111"})
    sf_poll = await salesforce_poll_once(client, settings)
    assert sf_poll.accounts_signalled >= 1
    await settled(client, account_id, netsuite_writes=start.netsuite_writes + 1)
    await netsuite.patch("customer", customer_id, {"url": "https://new.example"})
    ns_poll = await poll_once(client, settings)
    assert ns_poll.accounts_signalled >= 1
    status = await settled(client, account_id, salesforce_writes=start.salesforce_writes + 1)

    # The echo round: q2c's own writes come back through both pollers and are suppressed.
    again = await salesforce_poll_once(client, settings)
    assert again.own_writes_skipped >= 1 and again.accounts_signalled == 0
    await poll_once(client, settings)
    final = await settled(client, account_id, echoes_suppressed=status.echoes_suppressed + 1)

    assert (await netsuite.get("customer", customer_id))["phone"] == "+1 111"
    assert (await rep.get("Account", account_id))["Website"] == "https://new.example"
    assert (
        final.netsuite_writes - start.netsuite_writes,
        final.salesforce_writes - start.salesforce_writes,
    ) == (1, 1)
    # Counted by the sandboxes themselves: one edit by a person and one write by q2c on each side.
    assert writes(account_sandboxes, account_id, customer_id) == (2, 2)
    await record_history(client, names.account_workflow_id(account_id), "account_synced_with_echoes")


async def test_concurrent_edits_converge_to_the_newer_change(
    client: Client,
    settings: Settings,
    account_sandboxes: LocalSandboxes,
    rep: SalesRep,
    netsuite: NetSuiteClient,
) -> None:
    account_id, customer_id = await linked_pair(client, settings, rep, Phone="+1 000", Industry="Retail")
    # Both sides change Phone before q2c hears of either; NetSuite's change is later (its clock is moved
    # ahead, so the two modification times are seconds apart without waiting).
    await rep.update("Account", account_id, {"Phone": "+1 SF", "Industry": "Finance"})
    account_sandboxes.ns_admin.put("/clock", {"advance_seconds": 5})
    await netsuite.patch("customer", customer_id, {"phone": "+1 NS"})
    # Events arrive in the "wrong" order: Salesforce's first.
    await account_changed(client, settings, account_id, rep)
    await customer_changed(client, settings, customer_id, account_id)
    status = await settled(client, account_id, stage=AccountStage.IN_SYNC)
    await customer_changed(client, settings, customer_id, account_id)
    status = await settled(client, account_id, events=status.events + 1)

    customer = await netsuite.get("customer", customer_id)
    account = await rep.get("Account", account_id)
    assert account["Phone"] == customer["phone"] == "+1 NS"  # the newer change wins on both sides
    assert customer["custentity_industry"] == "FIN"  # changed on one side only: copied
    assert any("changed on both sides" in d and "netsuite" in d for d in status.decisions), status.decisions


async def test_randomized_edits_on_both_sides_converge_with_at_most_one_write_per_change(
    client: Client,
    settings: Settings,
    account_sandboxes: LocalSandboxes,
    rep: SalesRep,
    netsuite: NetSuiteClient,
) -> None:
    rules = [r for r in load_mapping().account.fields if r.direction is Direction.BOTH]
    values = {
        "Phone": lambda n: f"+1 555 {n:04d}",
        "Website": lambda n: f"https://w{n}.example.com",
        "Name": lambda n: f"Random Co {n}",
        "Industry": lambda n: ["Technology", "Retail", "Finance", "Education"][n % 4],
    }
    account_id, customer_id = await linked_pair(client, settings, rep)
    await salesforce_poll_once(client, settings)
    await poll_once(client, settings)
    clear_logs(account_sandboxes)
    start = await account_status(client, account_id)
    rng = random.Random(20261123)
    real_changes = 0
    counter = 0
    human = {Side.SALESFORCE: 0, Side.NETSUITE: 0}  # the API writes the people made
    for _ in range(10):
        sf_now = await rep.get("Account", account_id)
        ns_now = await netsuite.get("customer", customer_id)
        for side in rng.sample([Side.SALESFORCE, Side.NETSUITE], rng.randint(1, 2)):
            rule = rng.choice(rules)
            counter += 1
            human[side] += 1
            sf_value = values[rule.salesforce](counter)
            if side is Side.SALESFORCE:
                real_changes += not same_value(sf_now.get(rule.salesforce), sf_value)
                await rep.update("Account", account_id, {rule.salesforce: sf_value})
            else:
                ns_value = to_netsuite([rule], {rule.salesforce: sf_value}, is_customer=False)[rule.netsuite]
                real_changes += not same_value(ns_now.get(rule.netsuite), ns_value)
                await netsuite.patch("customer", customer_id, {rule.netsuite: ns_value})
        before = await account_status(client, account_id)
        # Both pollers pick the edits up, then (next round) q2c's own writes as echoes.
        await salesforce_poll_once(client, settings)
        await poll_once(client, settings)
        await settled(client, account_id, stage=AccountStage.IN_SYNC)
        await settled(client, account_id, events=before.events + 1)
    await salesforce_poll_once(client, settings)
    await poll_once(client, settings)
    final = await settled(client, account_id, stage=AccountStage.IN_SYNC)

    account = await rep.get("Account", account_id)
    customer = await netsuite.get("customer", customer_id)
    for rule in rules:
        expected = to_netsuite([rule], {rule.salesforce: account.get(rule.salesforce)}, is_customer=False)
        assert same_value(expected[rule.netsuite], customer.get(rule.netsuite)), rule.salesforce
    ns_total, sf_total = writes(account_sandboxes, account_id, customer_id)
    q2c_writes = ns_total - human[Side.NETSUITE] + sf_total - human[Side.SALESFORCE]
    assert q2c_writes <= real_changes, (ns_total, sf_total, human, real_changes)
    start_writes = start.netsuite_writes + start.salesforce_writes
    assert q2c_writes == final.netsuite_writes + final.salesforce_writes - start_writes  # none unaccounted
    assert real_changes >= 10


async def test_outbound_messages_drive_account_and_contact_sync(
    client: Client, settings: Settings, account_sandboxes: LocalSandboxes, rep: SalesRep
) -> None:
    server = BackgroundServer(
        create_webhook_app(settings), settings.webhook_host, settings.webhook_port, account_sandboxes.cert
    ).start()
    admin = account_sandboxes.sf_admin
    try:
        admin.configure_outbound_messages(
            settings.webhook_url, ["Name", "LastModifiedById"], sobject="Account"
        )
        admin.configure_outbound_messages(
            settings.webhook_url, ["AccountId", "LastModifiedById"], sobject="Contact"
        )
        account_id = await rep.create("Account", {"Name": f"Outbound {unique()}", "Phone": "+1 700"})
        status = await settled(client, account_id, stage=AccountStage.IN_SYNC)
        contact_id = await rep.create(
            "Contact",
            {
                "FirstName": "Olga",
                "LastName": "Outbound",
                "Email": "Olga@Outbound.example",
                "AccountId": account_id,
            },
        )
        status = await settled(client, account_id, contact_writes=1)
        # q2c's own writes (the link on the account, the id on the contact) came back as outbound
        # messages stamped with its integration user, and were dropped unread (loop guard 1).
        status = await settled(client, account_id, echoes_suppressed=2)
    finally:
        admin.remove_outbound_messages("Account")
        admin.remove_outbound_messages("Contact")
        server.stop()

    contact = records_with(account_sandboxes.ns_admin, "contact", externalId=contact_id)[0]
    assert contact["email"] == "olga@outbound.example"  # lowercased by the mapping
    assert status.netsuite_writes == 1 and status.salesforce_writes == 1  # create + link, nothing more


async def test_history_is_bounded_by_continue_as_new_and_state_is_carried(
    client: Client,
    settings: Settings,
    account_sandboxes: LocalSandboxes,
    rep: SalesRep,
) -> None:
    settings.account_syncs_per_run = 2
    account_id, _ = await linked_pair(client, settings, rep)
    first_run = (await client.get_workflow_handle(names.account_workflow_id(account_id)).describe()).run_id
    for n in range(3):
        await rep.update("Account", account_id, {"Phone": f"+1 800 {n}"})
        before = await account_status(client, account_id)
        await account_changed(client, settings, account_id, rep)
        await settled(client, account_id, netsuite_writes=before.netsuite_writes + 1)
    run = (await client.get_workflow_handle(names.account_workflow_id(account_id)).describe()).run_id
    status = await account_status(client, account_id)

    assert run != first_run
    assert status.netsuite_writes == 4 and status.baseline is not None  # create + 3 phones, carried over


def test_a_broken_mapping_file_refuses_to_start_with_the_line_and_field(
    client: Client, settings: Settings, store: Store, tmp_path: Path
) -> None:
    assert settings.mapping_path is not None
    text = settings.mapping_path.read_text().replace('direction = "both"', 'direction = "sideways"', 1)
    settings.mapping_path.write_text(text)
    line = text.splitlines().index('direction = "sideways"') + 1

    with pytest.raises(MappingError) as refused:
        build_workers(client, settings, store, netsuite_client(settings))

    message = str(refused.value)
    assert f"line {line}" in message and "account.fields" in message and "direction" in message


async def test_events_for_a_deleted_account_end_its_workflow(
    client: Client, settings: Settings, account_sandboxes: LocalSandboxes, rep: SalesRep
) -> None:
    account_id, _ = await linked_pair(client, settings, rep)
    reply = await rep.http.delete(f"/services/data/v59.0/sobjects/Account/{account_id}")
    assert reply.status_code == 204
    await account_changed(client, settings, account_id, rep)
    status = await settled(client, account_id, stage=AccountStage.DELETED)
    assert "deleted" in status.message
    deadline = time.monotonic() + 30
    while (
        await client.get_workflow_handle(names.account_workflow_id(account_id)).describe()
    ).status is WorkflowExecutionStatus.RUNNING:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
