"""The deal-closed webhook over HTTPS, fed by the Salesforce sandbox's outbound messages and by hand."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from q2c.config import Settings
from q2c.domain.messages import DealClosed
from q2c.domain.order import OrderStage
from q2c_sandbox.server import BackgroundServer
from starter.webhook import MAX_BODY_BYTES, create_webhook_app
from temporal_client.orders import ORDER_CREATED, deal_closed, wait_until_settled
from tests.conftest import Sandboxes, q2c_test_settings
from tests.factories import Catalog, make_deal, records_with
from tests.unit.test_outbound_message import outbound_message
from worker import salesforce_client
from workflows import names

pytestmark = pytest.mark.usefixtures("worker")
SOAP = {"Content-Type": "text/xml; charset=utf-8"}  # what Salesforce sends
OTHER_ORG = "00D000000000EVLEA2"  # a well-formed org id that is not ours


@contextlib.contextmanager
def serving(settings: Settings, sandboxes: Sandboxes, client: Client | None = None) -> Iterator[str]:
    server = BackgroundServer(
        create_webhook_app(settings, client), settings.webhook_host, settings.webhook_port, sandboxes.cert
    ).start()
    try:
        yield settings.webhook_url
    finally:
        server.stop()


@pytest.fixture
def webhook(settings: Settings, sandboxes: Sandboxes) -> Iterator[str]:
    with serving(settings, sandboxes) as url:
        yield url


async def order_workflow_exists(client: Client, opportunity_id: str) -> bool:
    """Whether ``order:{opportunity_id}`` exists on the server, taking the id exactly as given."""
    try:
        await client.get_workflow_handle(names.order_workflow_id(opportunity_id)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def listed_order_workflows(client: Client, id15: str, within_seconds: float = 10) -> list[str]:
    """The order workflows whose id starts with ``order:{id15}``, once the server's list shows any.

    Salesforce ids are case-sensitive, but the dev server's STARTS_WITH (SQLite's LIKE) is not: another
    test's ``...04WAAQ`` matches ``...04w``, so the list is narrowed to the exact prefix here."""
    prefix = names.order_workflow_id(id15)
    query = f'WorkflowId STARTS_WITH "{prefix}"'
    deadline = time.monotonic() + within_seconds
    while True:
        listed = [execution.id async for execution in client.list_workflows(query)]
        found = sorted(workflow_id for workflow_id in listed if workflow_id.startswith(prefix))
        if found or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)  # visibility is written asynchronously: poll until it shows


def notification(opportunity_id: str, org: str | None = None, nid: str = "04l000000000901AAA") -> bytes:
    """A Closed Won notification from our org (the settings' org id unless ``org``)."""
    return outbound_message(
        org=org or Settings(_env_file=None).salesforce_org_id, notifications=[(nid, opportunity_id)]
    )


def lost_notification(opportunity_id: str = "006000000000999AAA") -> bytes:
    """A notification that a deal which never became an order was lost: acknowledged, nothing started."""
    won = notification(opportunity_id, nid="04l000000000999AAA")
    return won.replace(b"<sf:IsWon>true</sf:IsWon>", b"<sf:IsWon>false</sf:IsWon>")


async def raw_request(
    settings: Settings, sandboxes: Sandboxes, head: str, body: bytes
) -> tuple[bytes, float]:
    """Send ``head`` and ``body`` over TLS as they are (no client fixes them up); the reply's status line
    and the seconds it took, or TimeoutError when none came within 10 s."""
    context = ssl.create_default_context(cafile=str(sandboxes.cert.ca_path))
    reader, writer = await asyncio.open_connection(settings.webhook_host, settings.webhook_port, ssl=context)
    try:
        started = time.monotonic()
        writer.write(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), timeout=10)
        return status_line, time.monotonic() - started
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()


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

    replies = await asyncio.gather(*(post.post(webhook, content=body, headers=SOAP) for _ in range(5)))

    assert [r.status_code for r in replies] == [200] * 5
    assert all("<Ack>true</Ack>" in r.text for r in replies)
    status = await wait_until_settled(client, deal.opportunity_id, 60)
    assert status.stage in ORDER_CREATED, status.attention_reason
    assert len(records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)) == 1


def second_block(body: bytes, org: str, opportunity_id: str) -> bytes:
    extra = notification(opportunity_id, org=org, nid="04l000000000902AAA")
    block = extra[
        extra.index(b"<notifications") : extra.index(b"</notifications>") + len(b"</notifications>")
    ]
    return body.replace(b"</notifications>", b"</notifications>" + block)


# Each body names the opportunity ids it is about: none of them may get an order workflow.
@pytest.mark.parametrize(
    ("body", "opportunity_ids", "status", "reasons"),
    [
        (b'{"not": "xml"}', [], 400, ["not acceptable XML"]),
        (
            notification("006000000900001AAA", org=OTHER_ORG),
            ["006000000900001AAA"],
            403,
            [f"organization {OTHER_ORG} is not"],
        ),
        (
            # Our org's id with another checksum: today's 15-character comparison let it through.
            notification("006000000900002AAA", org="00D000000000Q2CXYZ"),
            ["006000000900002AAA"],
            400,
            ["'00D000000000Q2CXYZ'", "checksum XYZ"],
        ),
        (
            second_block(notification("006000000900003AAA"), OTHER_ORG, "006000000900004AAA"),
            ["006000000900003AAA", "006000000900004AAA"],
            400,
            ["2 &lt;notifications&gt; elements"],  # as the fault's XML spells it
        ),
        (
            notification("006000000900005XYZ"),
            ["006000000900005XYZ", "006000000900005", "006000000900005AAA"],
            400,
            ["'006000000900005XYZ'", "checksum XYZ does not match"],
        ),
        (
            notification("006000000900006AAA").replace(b"<sf:IsWon>true<", b"<sf:IsWon>maybe<"),
            ["006000000900006AAA"],
            400,
            ["notification 04l000000000901AAA", "IsWon 'maybe'"],
        ),
        (notification("", nid=""), [], 400, ["notification 1 has no Id"]),
        (notification(""), [], 400, ["has no sObject Id"]),
        (
            notification("00Q000000000001EAA"),
            [],
            400,
            ["takes Opportunity, Account, Contact and Task notifications"],
        ),
    ],
)
async def test_bad_requests_get_a_4xx_that_says_why_and_start_nothing(
    body: bytes,
    opportunity_ids: list[str],
    status: int,
    reasons: list[str],
    client: Client,
    post: httpx.AsyncClient,
    webhook: str,
) -> None:
    reply = await post.post(webhook, content=body, headers=SOAP)

    assert reply.status_code == status, reply.text
    assert all(reason in reply.text for reason in reasons), reply.text
    assert "<Ack>true</Ack>" not in reply.text
    assert [i for i in opportunity_ids if await order_workflow_exists(client, i)] == []


async def test_a_15_character_id_reaches_the_order_of_the_18_character_one(
    client: Client,
    settings: Settings,
    sandboxes: Sandboxes,
    catalog: Catalog,
    post: httpx.AsyncClient,
    webhook: str,
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog)
    id18 = deal.opportunity_id
    id15 = id18[:15]
    wrong = id15 + ("AAB" if id18.endswith("AAA") else "AAA")

    by_15 = await post.post(webhook, content=notification(id15, nid="04l000000000081AAA"), headers=SOAP)
    by_cli = await deal_closed(client, settings, DealClosed(opportunity_id=id15, source="cli"))
    by_18 = await post.post(webhook, content=notification(id18, nid="04l000000000082AAA"), headers=SOAP)
    by_wrong = await post.post(webhook, content=notification(wrong, nid="04l000000000083AAA"), headers=SOAP)

    assert (by_15.status_code, by_18.status_code) == (200, 200), (by_15.text, by_18.text)
    assert by_cli.workflow_id == names.order_workflow_id(id18)
    assert by_wrong.status_code == 400 and f"'{wrong}'" in by_wrong.text and "checksum" in by_wrong.text
    status = await wait_until_settled(client, id18, 60)
    assert status.stage in ORDER_CREATED, status.attention_reason
    assert await listed_order_workflows(client, id15) == [names.order_workflow_id(id18)]
    assert not await order_workflow_exists(client, id15)
    assert not await order_workflow_exists(client, wrong)
    assert len(records_with(sandboxes.ns_admin, "salesOrder", externalId=id18)) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Content-Type": "application/json"},
        {"Content-Type": "text/plain; charset=utf-8"},
        {"Content-Type": "text/xml", "Content-Encoding": "gzip"},
        {"Content-Type": "text/xml", "Content-Encoding": "identity, gzip"},
    ],
)
async def test_a_body_that_is_not_plain_soap_xml_gets_415(
    headers: dict[str, str], settings: Settings, post: httpx.AsyncClient, webhook: str
) -> None:
    reply = await post.post(webhook, content=lost_notification(), headers=headers)

    assert reply.status_code == 415, reply.text
    assert "text/xml" in reply.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/xml"},
        {"Content-Type": "TEXT/XML; charset=UTF-8"},
        {"Content-Type": "application/soap+xml; charset=utf-8"},
        {"Content-Type": "text/xml", "Content-Encoding": "identity"},
    ],
)
async def test_soap_content_types_are_accepted(
    headers: dict[str, str], settings: Settings, post: httpx.AsyncClient, webhook: str
) -> None:
    reply = await post.post(webhook, content=lost_notification(), headers=headers)

    assert reply.status_code == 200 and "<Ack>true</Ack>" in reply.text, reply.text


async def test_a_body_that_stops_short_is_answered_408_within_the_deadline(
    sandboxes: Sandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    quick = q2c_test_settings(sandboxes, temporal_env, tmp_path, webhook_body_timeout_seconds=0.5)
    head = "POST /salesforce/outbound-message HTTP/1.1\nHost: q2c\nContent-Type: text/xml\nContent-Length: 1000\n"

    with serving(quick, sandboxes):
        status_line, seconds = await raw_request(quick, sandboxes, head, b"<x>")

    assert status_line.startswith(b"HTTP/1.1 408"), status_line
    assert 0.5 <= seconds < 5


async def test_a_body_over_the_limit_gets_413_whether_declared_or_streamed(
    settings: Settings, sandboxes: Sandboxes, webhook: str
) -> None:
    path = "/salesforce/outbound-message"
    declared = (
        f"POST {path} HTTP/1.1\nHost: q2c\nContent-Type: text/xml\nContent-Length: {MAX_BODY_BYTES + 1}\n"
    )
    chunked = f"POST {path} HTTP/1.1\nHost: q2c\nContent-Type: text/xml\nTransfer-Encoding: chunked\n"
    chunk = b"x" * 65536
    stream = (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * (MAX_BODY_BYTES // len(chunk) + 1)

    declared_status, _ = await raw_request(settings, sandboxes, declared, b"")
    streamed_status, _ = await raw_request(settings, sandboxes, chunked, stream)

    assert declared_status.startswith(b"HTTP/1.1 413"), declared_status
    assert streamed_status.startswith(b"HTTP/1.1 413"), streamed_status


async def test_with_a_token_only_the_path_with_the_token_is_served(
    sandboxes: Sandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "Zr8q-Y1v0_tokenOfTheTest"
    tokened = q2c_test_settings(sandboxes, temporal_env, tmp_path, webhook_token=token)
    base = f"https://{tokened.webhook_host}:{tokened.webhook_port}/salesforce/outbound-message"
    assert tokened.webhook_url == f"{base}/{token}"
    assert token not in repr(tokened)
    with pytest.raises(ValidationError, match="Q2C_WEBHOOK_TOKEN"):
        q2c_test_settings(sandboxes, temporal_env, tmp_path, webhook_token="short")

    async with httpx.AsyncClient(verify=str(sandboxes.cert.ca_path), timeout=30) as http:
        with serving(tokened, sandboxes):
            served = await http.post(tokened.webhook_url, content=lost_notification(), headers=SOAP)
            refused = [
                await http.post(url, content=lost_notification(), headers=SOAP)
                for url in (base, f"{base}/", f"{base}/{token[:-1]}", f"{base}/{token}x", f"{base}/{token}/x")
            ]

    assert served.status_code == 200 and "<Ack>true</Ack>" in served.text, served.text
    assert [r.status_code for r in refused] == [404] * len(refused)
    assert all("token" not in r.text.lower() for r in refused)
    # The webhook's logs, not the test's own HTTP client (which logs the URLs it calls).
    server_logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("http"))
    assert token[:-1] not in server_logs  # neither the token nor a guess at it is logged
    assert "/salesforce/outbound-message/***" in server_logs


async def test_only_the_allowed_networks_may_deliver(
    sandboxes: Sandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    def settings_for(networks: str) -> Settings:
        return q2c_test_settings(sandboxes, temporal_env, tmp_path, webhook_allowed_networks=networks)

    with pytest.raises(ValidationError, match=re.escape("'10.0.0.300/8'")):
        settings_for("10.0.0.0/8,10.0.0.300/8")
    replies: dict[str, httpx.Response] = {}
    for networks in ("10.0.0.0/8, 2001:db8::/32", "192.0.2.0/24,127.0.0.0/8", ""):
        allowed = settings_for(networks)
        with serving(allowed, sandboxes):
            async with httpx.AsyncClient(verify=str(sandboxes.cert.ca_path), timeout=30) as http:
                replies[networks] = await http.post(
                    allowed.webhook_url, content=lost_notification(), headers=SOAP
                )

    refused, *accepted = replies.values()
    assert refused.status_code == 403 and "127.0.0.1" in refused.text, refused.text
    assert all(r.status_code == 200 and "<Ack>true</Ack>" in r.text for r in accepted)


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
                settings.webhook_url, content=outbound_message(org=settings.salesforce_org_id), headers=SOAP
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
    assert (await post.post(webhook, content=won, headers=SOAP)).status_code == 200
    await wait_until_settled(client, deal.opportunity_id, 60, stages=ORDER_CREATED)

    # The order checks a reopen claim against Salesforce: the deal really leaves Closed Won first.
    await asyncio.to_thread(
        salesforce_client(settings).update,
        "Opportunity",
        deal.opportunity_id,
        {"StageName": "Negotiation/Review"},
    )
    lost = won.replace(b"<sf:IsWon>true</sf:IsWon>", b"<sf:IsWon>false</sf:IsWon>").replace(
        b"04l000000000071AAA", b"04l000000000072AAA"
    )
    reply = await post.post(webhook, content=lost, headers=SOAP)

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

    reply = await post.post(webhook, content=lost, headers=SOAP)

    assert reply.status_code == 200 and "<Ack>true</Ack>" in reply.text
    assert records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id) == []
