"""The deal-closed webhook over HTTPS, fed by the Salesforce sandbox's outbound messages and by hand."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from q2c.config import Settings
from q2c.domain.order import OrderStage
from q2c.sandbox.server import BackgroundServer
from starter.orders import ORDER_CREATED, wait_until_settled
from starter.webhook import create_webhook_app
from tests.conftest import Sandboxes
from tests.factories import Catalog, make_deal, records_with
from tests.unit.test_outbound_message import outbound_message
from worker import salesforce_client

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
def webhook(settings: Settings, sandboxes: Sandboxes) -> Iterator[str]:
    server = BackgroundServer(
        create_webhook_app(settings), settings.webhook_host, settings.webhook_port, sandboxes.cert
    ).start()
    try:
        yield settings.webhook_url
    finally:
        server.stop()


@pytest.fixture
async def post(sandboxes: Sandboxes, webhook: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=str(sandboxes.cert.ca_path), timeout=30) as http:
        yield http


async def test_closing_a_deal_in_salesforce_reaches_netsuite_through_the_outbound_message(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog, webhook: str
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog, stage="Negotiation/Review")
    sandboxes.sf_admin.put(
        "/outbound-messages", {"endpoint_url": webhook, "fields": ["Id", "StageName", "IsWon", "AccountId"]}
    )
    try:
        # As a sales rep would: the stage change makes the sandbox send its outbound message.
        await asyncio.to_thread(
            salesforce_client(settings).update,
            "Opportunity",
            deal.opportunity_id,
            {"StageName": "Closed Won"},
        )
        status = await wait_until_settled(client, deal.opportunity_id, 60)
        delivery = sandboxes.sf_admin.get("/outbound-messages")["stats"]
    finally:
        sandboxes.sf_admin._call("DELETE", "/outbound-messages")

    assert status.stage in ORDER_CREATED, status.attention_reason
    assert len(records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)) == 1
    assert delivery["delivered"] >= 1  # acknowledged by the webhook


async def test_redelivered_and_concurrent_notifications_make_one_order(
    client: Client,
    settings: Settings,
    sandboxes: Sandboxes,
    catalog: Catalog,
    post: httpx.AsyncClient,
    webhook: str,
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog)
    body = outbound_message(
        org=settings.salesforce_org_id, notifications=[("04l000000000042AAA", deal.opportunity_id)]
    )

    replies = await asyncio.gather(*(post.post(webhook, content=body) for _ in range(5)))

    assert [r.status_code for r in replies] == [200] * 5
    assert all("<Ack>true</Ack>" in r.text for r in replies)
    status = await wait_until_settled(client, deal.opportunity_id, 60)
    assert status.stage in ORDER_CREATED, status.attention_reason
    assert len(records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)) == 1


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (b'{"not": "xml"}', 400, "not acceptable XML"),
        (
            outbound_message(org="00D000000000EVLAAA"),
            403,
            "organization 00D000000000EVLAAA is not the Salesforce org",
        ),
        (outbound_message(notifications=[("", "006000000000001AAA")]), 400, "notification 1 has no Id"),
        (outbound_message(notifications=[("04l1", "")]), 400, "has no sObject Id"),
        (
            outbound_message(notifications=[("04l1", "00Q000000000001AAA")]),
            400,
            "takes Opportunity, Account and Contact notifications",
        ),
    ],
)
async def test_bad_requests_get_a_4xx_that_says_why(
    body: bytes, status: int, reason: str, post: httpx.AsyncClient, webhook: str
) -> None:
    reply = await post.post(webhook, content=body, headers={"Content-Type": "text/xml"})

    assert reply.status_code == status
    assert reason in reply.text
    assert "<Ack>true</Ack>" not in reply.text


async def test_no_ack_when_temporal_does_not_take_the_signal(
    settings: Settings, sandboxes: Sandboxes, temporal_env: WorkflowEnvironment
) -> None:
    # A namespace that does not exist: every signal-with-start is refused, as when Temporal is down.
    broken = await Client.connect(
        temporal_env.client.service_client.config.target_host,
        namespace="no-such-namespace",
        data_converter=pydantic_data_converter,
    )
    server = BackgroundServer(
        create_webhook_app(settings, broken), settings.webhook_host, settings.webhook_port, sandboxes.cert
    ).start()
    try:
        async with httpx.AsyncClient(verify=str(sandboxes.cert.ca_path), timeout=30) as http:
            reply = await http.post(
                settings.webhook_url, content=outbound_message(org=settings.salesforce_org_id)
            )
    finally:
        server.stop()

    assert reply.status_code == 503
    assert "could not hand the deals to Temporal" in reply.text
    assert "<Ack>true</Ack>" not in reply.text  # Salesforce keeps the message and redelivers it


async def test_a_notification_that_the_deal_left_closed_won_reopens_the_order(
    client: Client,
    settings: Settings,
    sandboxes: Sandboxes,
    catalog: Catalog,
    post: httpx.AsyncClient,
    webhook: str,
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog)
    won = outbound_message(
        org=settings.salesforce_org_id, notifications=[("04l000000000071AAA", deal.opportunity_id)]
    )
    assert (await post.post(webhook, content=won)).status_code == 200
    await wait_until_settled(client, deal.opportunity_id, 60, stages=ORDER_CREATED)

    lost = won.replace(b"<sf:IsWon>true</sf:IsWon>", b"<sf:IsWon>false</sf:IsWon>").replace(
        b"04l000000000071AAA", b"04l000000000072AAA"
    )
    reply = await post.post(webhook, content=lost)

    assert reply.status_code == 200 and "<Ack>true</Ack>" in reply.text
    await wait_until_settled(client, deal.opportunity_id, 60, stages={OrderStage.REOPENED})
    [order] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
    assert order["status"]["refName"] == "Closed"


async def test_a_lost_deal_that_never_became_an_order_is_acknowledged(
    settings: Settings, sandboxes: Sandboxes, catalog: Catalog, post: httpx.AsyncClient, webhook: str
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog, stage="Closed Lost")
    lost = outbound_message(
        org=settings.salesforce_org_id, notifications=[("04l000000000073AAA", deal.opportunity_id)]
    )
    lost = lost.replace(b"<sf:IsWon>true</sf:IsWon>", b"<sf:IsWon>false</sf:IsWon>")

    reply = await post.post(webhook, content=lost)

    assert reply.status_code == 200 and "<Ack>true</Ack>" in reply.text
    assert records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id) == []
