"""Onboarding end to end on the dev server and the sandboxes, through the ways a real org reaches q2c: a
deal closed in Salesforce (its outbound message) becomes the order of a new customer, whose onboarding
puts its record and first task in Salesforce; the CSM completing the task comes back by the Task outbound
message; the CSM deactivated comes back by the Salesforce poller; the NetSuite poller onboards a customer
whose first order was keyed in NetSuite, and nobody whose orders began before q2c."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from q2c.config import Settings
from q2c.domain.messages import DealClosed, DealReopened
from q2c.domain.messages.onboarding import OnboardingStage, OnboardingStatus, task_key
from q2c.domain.onboarding import StepStatus
from q2c.domain.salesforce_ids import normalize_salesforce_id
from q2c.store import OnboardingStore, Store
from q2c_sandbox.server import BackgroundServer
from starter.webhook import create_webhook_app
from temporal_client.onboarding import onboarding_status
from temporal_client.orders import ORDER_CREATED, deal_closed, deal_reopened, wait_until_settled
from temporal_client.schedules import poll_once, salesforce_poll_once
from tests.conftest import Sandboxes, q2c_test_settings, until
from tests.factories import Catalog, make_deal, records_with, set_stage
from tests.integration.test_backfill import _q2c
from tests.onboarding_world import Roster, make_roster, new_customer, onboarding_file
from tests.replay.recording import record_history
from tests.sessions import API, person_session
from worker import salesforce_client
from workflows import names

pytestmark = pytest.mark.usefixtures("worker")
SOAP = {"Content-Type": "text/xml; charset=utf-8"}


@pytest.fixture
def roster(sandboxes: Sandboxes) -> Roster:
    return make_roster(sandboxes.sf_admin)


@pytest.fixture
def settings(
    sandboxes: Sandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path, roster: Roster
) -> Settings:
    path = onboarding_file(tmp_path / "onboarding.toml", roster)
    return q2c_test_settings(sandboxes, temporal_env, tmp_path, onboarding_path=path, account_sync=False)


@pytest.fixture
def webhook(settings: Settings, sandboxes: Sandboxes) -> Iterator[str]:
    """The webhook serving, and the sandbox's Opportunity and Task outbound messages pointed at it."""
    server = BackgroundServer(
        create_webhook_app(settings), settings.webhook_host, settings.webhook_port, sandboxes.cert
    ).start()
    admin = sandboxes.sf_admin
    try:
        admin.configure_outbound_messages(settings.webhook_url, ["Id", "StageName", "IsWon", "AccountId"])
        admin.configure_outbound_messages(
            settings.webhook_url,
            ["Id", "Q2C_Key__c", "Status", "IsClosed", "LastModifiedById"],
            sobject="Task",
        )
        yield settings.webhook_url
    finally:
        admin._call("DELETE", "/outbound-messages")
        server.stop()


async def _kickoff_open(client: Client, customer: str) -> OnboardingStatus | None:
    """The customer's onboarding once its first step (kickoff) has its task open, else None."""
    status = await _status(client, customer)
    kickoff = status.steps.get("kickoff") if status else None
    return status if kickoff is not None and kickoff.status is StepStatus.OPEN else None


async def _status(client: Client, customer_id: str) -> OnboardingStatus | None:
    try:
        status, _ = await onboarding_status(client, customer_id)
    except RPCError:
        return None
    return status


async def test_a_new_customers_first_order_gives_it_a_csm_a_record_and_its_first_task(
    client: Client,
    settings: Settings,
    sandboxes: Sandboxes,
    catalog: Catalog,
    roster: Roster,
    webhook: str,
    store: Store,
) -> None:
    sf = sandboxes.sf_admin
    await poll_once(client, settings)  # the pollers' first polls only find where to start
    await salesforce_poll_once(client, settings)
    deal = make_deal(sf, catalog, stage="Negotiation/Review", account={"BillingCountry": "United States"})

    # A sales rep wins the deal: the outbound message reaches the webhook; the order makes the customer.
    await asyncio.to_thread(
        salesforce_client(settings).update, "Opportunity", deal.opportunity_id, {"StageName": "Closed Won"}
    )
    order = await wait_until_settled(client, deal.opportunity_id, 60)
    assert order.stage in ORDER_CREATED, order.attention_reason
    customer = order.netsuite_customer_id
    assert customer is not None

    status = await until(lambda: _kickoff_open(client, customer), "the onboarding's first task", within=60)
    await record_history(client, names.order_workflow_id(deal.opportunity_id), "order_started_onboarding")
    assert status.csm is not None and status.csm.user_id in roster.csms.values()
    assert status.first_order is not None and status.first_order.opportunity_id == deal.opportunity_id

    def shown(**fields: Any) -> dict[str, Any] | None:
        records = records_with(sf, "Onboarding__c", NetSuite_Customer_ID__c=customer)
        return records[0] if records and all(records[0].get(k) == v for k, v in fields.items()) else None

    record = await until(lambda: shown(Tasks_Total__c=4), "the onboarding record")
    assert (record["Account__c"], record["CSM__c"], record["Stage__c"]) == (
        deal.account_id,
        status.csm.user_id,
        "In Progress",
    )
    assert (
        record["Opportunity__c"] == deal.opportunity_id
        and record["Sales_Order__c"] == order.sales_order_number
    )
    [task] = records_with(sf, "Task", Q2C_Key__c=task_key(customer, 1, "kickoff"))
    assert (task["OwnerId"], task["WhatId"], task["Status"]) == (
        status.csm.user_id,
        deal.account_id,
        "Not Started",
    )
    csm = status.csm.user_id
    await until(
        lambda: records_with(sf, "Account", Id=deal.account_id)[0]["Customer_Success_Manager__c"] == csm,
        "the account showing its CSM",
    )

    # Once per customer: the NetSuite poller sees the same first order, the deal is closed again.
    polled = await poll_once(client, settings)
    assert polled.onboardings_started == 0
    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    runs = [
        e.run_id
        async for e in client.list_workflows(f'WorkflowId = "{names.onboarding_workflow_id(customer)}"')
    ]
    assert len(runs) == 1
    row = OnboardingStore(store).get(customer)
    assert row is not None and (row.attempt, row.status, row.source) == (1, "active", "order")

    # The CSM completes the task in Salesforce: the Task outbound message tells the onboarding.
    username = next(u for u, i in roster.csms.items() if i == status.csm.user_id)
    async with person_session(sandboxes, username) as (http, _):
        response = await http.patch(f"{API}/sobjects/Task/{task['Id']}", json={"Status": "Completed"})
        assert response.status_code == 204, response.text

    async def kickoff_done() -> OnboardingStatus | None:
        status = await _status(client, customer)
        return status if status and status.steps["kickoff"].status is StepStatus.DONE else None

    done = await until(kickoff_done, "the completed task to come back", within=30)
    assert done.signals >= 1
    await until(lambda: shown(Tasks_Done__c=1), "the record counting the done task")

    # An administrator deactivates the CSM: the Salesforce poller finds it, the rules give the other one.
    admin_name = f"admin.{uuid.uuid4().hex[:8]}@q2c.test"
    sf.create_user(admin_name, last_name="Admin")
    async with person_session(sandboxes, admin_name) as (http, _):
        response = await http.patch(f"{API}/sobjects/User/{status.csm.user_id}", json={"IsActive": False})
        assert response.status_code == 204, response.text
    polled_sf = await salesforce_poll_once(client, settings)
    # The deactivated CSM, and the completed task once more (its outbound message told it already: a
    # repeated event is one more read).
    assert polled_sf.onboardings_signalled == 2

    gone = status.csm.user_id

    async def replaced() -> OnboardingStatus | None:
        now = await _status(client, customer)
        if now is None or now.csm is None or now.csm.user_id == gone:
            return None
        return now if now.stage is OnboardingStage.IN_PROGRESS else None

    after = await until(replaced, "a new CSM", within=30)
    assert after.csm is not None
    new_csm = after.csm.user_id
    await until(lambda: shown(CSM__c=new_csm), "the record showing the new CSM")
    [account] = records_with(sf, "Account", Id=deal.account_id)
    assert account["Customer_Success_Manager__c"] == new_csm


async def test_the_netsuite_poller_onboards_a_customer_whose_first_order_is_new_and_nobody_else(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog, roster: Roster
) -> None:
    sf, ns = sandboxes.sf_admin, sandboxes.ns_admin
    tag = uuid.uuid4().hex[:6]

    def customer_with_account(name: str, *, account: bool = True) -> str:
        [customer] = ns.load(
            {"customer": [{"companyName": name, "subsidiary": {"id": "1"}, "currency": {"id": "1"}}]}
        )["customer"]
        if account:
            sf.load(
                {"Account": [{"Name": name, "BillingCountry": "CA", "NetSuite_Internal_ID__c": customer}]}
            )
        return customer

    def order_for(customer: str) -> str:
        line = {"item": {"id": catalog.items["WID-100"]}, "quantity": 2, "rate": 120.0}
        return ns.load({"salesOrder": [{"entity": {"id": customer}, "item": {"items": [line]}}]})[
            "salesOrder"
        ][0]

    # A customer with orders from before q2c went live (before the poller's first poll).
    older = customer_with_account(f"Old Customer {tag}", account=False)
    deal = make_deal(sf, catalog, account={"NetSuite_Internal_ID__c": older, "BillingCountry": "CA"})
    order_for(older)
    await poll_once(client, settings)

    # Since then: its next order, and a customer keyed in NetSuite getting its very first order.
    order_for(older)
    newer = customer_with_account(f"New Customer {tag}")
    first = order_for(newer)
    poll_id = f"poll:test-{uuid.uuid4().hex[:8]}"
    polled = await poll_once(client, settings, workflow_id=poll_id)
    assert polled.onboardings_started == 1
    await record_history(client, poll_id, "poll_started_onboarding")

    status = await until(lambda: _kickoff_open(client, newer), "the onboarding the poller started", within=60)
    assert status.first_order is not None and status.first_order.sales_order_id == first
    assert status.facts is not None and status.facts.region == "Americas"
    assert len(records_with(sf, "Task", Q2C_Key__c=task_key(newer, 1, "kickoff"))) == 1

    # The older customer's deal closes in Salesforce too: q2c makes its order, and onboards it no more.
    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    order = await wait_until_settled(client, deal.opportunity_id, 60)
    assert order.stage in ORDER_CREATED and order.netsuite_customer_id == older, order.attention_reason
    assert (await poll_once(client, settings)).onboardings_started == 0
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(names.onboarding_workflow_id(older)).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_task_messages_that_name_no_onboarding_or_lack_the_key_start_nothing(
    client: Client, settings: Settings, sandboxes: Sandboxes, webhook: str
) -> None:
    def task_message(key: str | None, closed: str = "true") -> bytes:
        field = f"<sf:Q2C_Key__c>{key}</sf:Q2C_Key__c>" if key is not None else ""
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
            f"<OrganizationId>{settings.salesforce_org_id}</OrganizationId><ActionId>04k000000000004AAA</ActionId>"
            '<Notification><Id>04l000000000777AAA</Id><sObject xsi:type="sf:Task" '
            f'xmlns:sf="urn:sobject.enterprise.soap.sforce.com"><sf:Id>{normalize_salesforce_id("00T000000000777")}</sf:Id>'
            f"{field}<sf:IsClosed>{closed}</sf:IsClosed><sf:Status>Completed</sf:Status></sObject></Notification>"
            "</notifications></soapenv:Body></soapenv:Envelope>"
        ).encode()

    async with httpx.AsyncClient(verify=str(sandboxes.cert.ca_path), timeout=30) as http:
        missing_key = await http.post(webhook, content=task_message(None), headers=SOAP)
        assert missing_key.status_code == 400 and "no Q2C_Key__c" in missing_key.text
        for key in ("credit-hold:12:2026-12-07", "onboarding:999999:1:kickoff"):
            reply = await http.post(webhook, content=task_message(key), headers=SOAP)
            assert reply.status_code == 200 and "<Ack>true</Ack>" in reply.text
    # Acknowledged, and nothing started: no onboarding exists for a customer that has none.
    with pytest.raises(RPCError) as missing:
        await client.get_workflow_handle(names.onboarding_workflow_id("999999")).describe()
    assert missing.value.status == RPCStatusCode.NOT_FOUND


async def test_q2c_onboarding_commands_start_only_real_customers_and_refuse_wrong_requests(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog, roster: Roster
) -> None:
    code, out = await _q2c(settings, "onboarding-start", "acme", "--by", "lead")
    assert code == 2 and "'acme' is not a NetSuite customer id" in out, out
    code, out = await _q2c(settings, "onboarding-start", "999999", "--by", "lead")
    assert code == 2 and "onboarding not started: NetSuite customer 999999" in out, out
    with pytest.raises(RPCError):
        await client.get_workflow_handle(names.onboarding_workflow_id("999999")).describe()

    # A customer from before q2c, onboarded because a person asks.
    customer = new_customer(sandboxes.sf_admin, sandboxes.ns_admin, catalog, roster)
    code, out = await _q2c(settings, "onboarding-start", customer.customer_id, "--by", "lead")
    assert code == 0 and f"Started onboarding:{customer.customer_id}" in out and "attempt 1" in out, out

    async def status_shows_kickoff() -> str | None:
        code, out = await _q2c(settings, "onboarding-status", customer.customer_id)
        return out if code == 0 and re.search(r"kickoff\s+due \S+\s+open", out) else None

    out = await until(status_shows_kickoff, "q2c onboarding-status showing the kickoff", within=60)
    assert f"({customer.name}, account {customer.account_id}): in_progress" in out
    code, out = await _q2c(settings, "onboarding-skip", customer.customer_id, "party", "--by", "lead")
    assert code == 2 and "refused:" in out and "no step 'party'" in out, out
    code, out = await _q2c(
        settings, "onboarding-finish", customer.customer_id, "--by", "lead", "--reason", "a pilot"
    )
    assert code == 0, out
    code, out = await _q2c(settings, "onboarding-status", customer.customer_id)
    assert "completed (finished)" in out and "finished early by lead: a pilot" in out, out


async def test_a_deal_reopened_cancels_its_onboarding_and_won_again_starts_the_next_attempt(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog, roster: Roster
) -> None:
    sf = sandboxes.sf_admin
    deal = make_deal(sf, catalog, account={"BillingCountry": "US"})
    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    order = await wait_until_settled(client, deal.opportunity_id, 60)
    customer = order.netsuite_customer_id
    assert customer is not None and order.stage in ORDER_CREATED, order.attention_reason

    async def kickoff_open(attempt: int) -> OnboardingStatus | None:
        status = await _status(client, customer)
        if status is None or status.attempt != attempt or "kickoff" not in status.steps:
            return None
        return status if status.steps["kickoff"].status is StepStatus.OPEN else None

    await until(lambda: kickoff_open(1), "the first attempt's kickoff", within=60)

    # The deal leaves Closed Won: the order closes its sales order and tells the onboarding, which
    # finds no open order left and cancels its open task, saying why.
    await set_stage(settings, deal.opportunity_id, "Negotiation/Review")
    await deal_reopened(client, DealReopened(opportunity_id=deal.opportunity_id, source="cli"))
    result = await client.get_workflow_handle(
        names.onboarding_workflow_id(customer), result_type=OnboardingStatus
    ).result()
    assert result.stage is OnboardingStage.CANCELLED and "left Closed Won" in (result.outcome or "")
    [task] = records_with(sf, "Task", Q2C_Key__c=task_key(customer, 1, "kickoff"))
    assert task["Status"] == "Cancelled" and "left Closed Won" in task["Description"]
    [record] = records_with(sf, "Onboarding__c", NetSuite_Customer_ID__c=customer)
    assert record["Stage__c"] == "Cancelled" and "left Closed Won" in record["Status_Reason__c"]

    # Won again: the same order reopens, and the customer's onboarding starts over (attempt 2).
    await set_stage(settings, deal.opportunity_id, "Closed Won")
    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    status = await until(lambda: kickoff_open(2), "the second attempt's kickoff", within=60)
    assert len(records_with(sf, "Task", Q2C_Key__c=task_key(customer, 2, "kickoff"))) == 1
    assert status.csm is not None
    await until(
        lambda: (
            records_with(sf, "Onboarding__c", NetSuite_Customer_ID__c=customer)[0]["Stage__c"]
            == "In Progress"
        ),
        "the record in progress again",
    )
