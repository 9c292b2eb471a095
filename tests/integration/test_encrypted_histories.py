"""Encrypted payloads on the real dev server: an order and its account's contact sync run with a key ring,
the server's histories hold none of the company's name, phone or email in clear, the codec server (the
real ``q2c codec-server`` command) shows them to the ``temporal`` CLI, and the histories replay, also
after a key rotation."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from devtools.temporal_server import venv_binary
from q2c.config import Settings
from q2c.domain.account_sync import AccountStage
from q2c.domain.messages import DealClosed, SalesforceAccountChanged, SalesforceContactChanged
from q2c_sandbox.server import free_port
from temporal_client.accounts import (
    account_sync_options,
    salesforce_account_changed,
    salesforce_contact_changed,
    wait_for_account,
)
from temporal_client.codec import data_converter
from temporal_client.connect import connect_temporal
from temporal_client.orders import ORDER_CREATED, deal_closed, wait_until_settled
from tests.conftest import Sandboxes, q2c_test_settings, running_worker, until
from tests.factories import Catalog, make_deal, records_with
from tests.unit.test_operations import ring
from worker import WORKFLOWS
from workflows import names

K1, K2 = os.urandom(32), os.urandom(32)


@pytest.fixture
def settings(sandboxes: Sandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path) -> Settings:
    return q2c_test_settings(
        sandboxes, temporal_env, tmp_path, account_sync=False, payload_keys=ring(("k1", K1))
    )


@pytest.fixture
async def encrypted(settings: Settings) -> AsyncIterator[Client]:
    """A client and the worker on it, both with the key ring (as every q2c process connects)."""
    client = await connect_temporal(settings)
    async with running_worker(client, settings):
        yield client


@pytest.fixture
async def codec_server(settings: Settings) -> AsyncIterator[str]:
    """``q2c codec-server`` as operators run it, with a bearer token."""
    port = free_port()
    env = {
        **os.environ,
        "Q2C_PAYLOAD_KEYS": ring(("k2", K2), ("k1", K1)),  # rotated: the old key still decrypts
        "Q2C_CODEC_SERVER_PORT": str(port),
        "Q2C_CODEC_SERVER_TOKEN": "operators-only-token",
        "Q2C_CODEC_SERVER_ORIGINS": "http://localhost:8080",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "starter.cli", "codec-server", env=env
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            await until(lambda: _healthy(http), "the codec server answering")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


def serialized(history: WorkflowHistory) -> bytes:
    """Everything the server stores for the history: each event's bytes, and its JSON (base64 data)."""
    return b"".join(event.SerializeToString() for event in history.events) + history.to_json().encode()


async def test_histories_hold_no_customer_data_in_clear_and_operators_read_them_through_the_codec_server(
    encrypted: Client,
    client: Client,
    settings: Settings,
    sandboxes: Sandboxes,
    catalog: Catalog,
    codec_server: str,
) -> None:
    tag = uuid.uuid4().hex[:6]
    company, phone = f"Zephyrine Gasworks {tag}", f"+1 415 555 {int(tag, 16) % 10000:04d}"
    email = f"ottoline.quist.{tag}@zephyrine.example"
    sales_user = f"rep.{tag}@q2c.sandbox"
    sandboxes.sf_admin.create_user(sales_user, first_name="Rita", last_name="Rep")
    rep = sandboxes.sf_admin.login_as(sales_user)
    deal = make_deal(sandboxes.sf_admin, catalog, account={"Name": company, "Phone": phone})
    async with httpx.AsyncClient(
        base_url=rep["instance_url"],
        headers={"Authorization": f"Bearer {rep['access_token']}"},
        verify=str(sandboxes.cert.ca_path),
    ) as as_rep:
        reply = await as_rep.post(
            "/services/data/v59.0/sobjects/Contact/",
            json={
                "FirstName": "Ottoline",
                "LastName": "Quist",
                "Email": email,
                "Phone": phone,
                "AccountId": deal.account_id,
            },
        )
        assert reply.status_code == 201, reply.text
        contact_id = reply.json()["id"]

    await deal_closed(encrypted, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    status = await wait_until_settled(encrypted, deal.opportunity_id, 60)
    assert status.stage in ORDER_CREATED, status.attention_reason
    await salesforce_account_changed(
        encrypted,
        account_sync_options(settings),
        SalesforceAccountChanged(account_id=deal.account_id, modified_by=rep["user_id"], source="test"),
    )
    await salesforce_contact_changed(
        encrypted,
        account_sync_options(settings),
        deal.account_id,
        SalesforceContactChanged(contact_id=contact_id, modified_by=rep["user_id"], source="test"),
    )
    account_workflow = names.account_workflow_id(deal.account_id)
    synced = await wait_for_account(
        encrypted,
        account_workflow,
        60,
        lambda s: s.stage is AccountStage.IN_SYNC and s.contact_writes >= 1,
    )
    assert synced.stage is AccountStage.IN_SYNC
    [contact] = records_with(sandboxes.ns_admin, "contact", externalId=contact_id)
    assert contact["email"] == email  # the data did pass through q2c

    # What the server holds, read without the key (``client`` has no codec): nothing in clear.
    order_workflow = names.order_workflow_id(deal.opportunity_id)
    histories = {
        workflow_id: await client.get_workflow_handle(workflow_id).fetch_history()
        for workflow_id in (order_workflow, account_workflow)
    }
    for workflow_id, history in histories.items():
        stored = serialized(history)
        for secret in (company, phone, email):
            assert secret.encode() not in stored, f"{secret!r} in clear in {workflow_id}'s history"
        assert b"binary/encrypted" in stored

    # An operator with the key ring reads them: the CLI through the codec server (with its token).
    cli = await asyncio.create_subprocess_exec(
        str(venv_binary("temporal")),
        "workflow",
        "show",
        "--workflow-id",
        account_workflow,
        "--address",
        settings.temporal_address,
        "--codec-endpoint",
        codec_server,
        "--codec-auth",
        "Bearer operators-only-token",
        "--output",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(cli.communicate(), 60)
    assert cli.returncode == 0, err.decode()
    shown_payloads = payload_texts(json.loads(out))
    assert email in shown_payloads and company in shown_payloads
    assert "binary/encrypted" not in shown_payloads

    # The codec server answers only with the token, and the web UI's origin only.
    payload = json.loads(histories[order_workflow].to_json())["events"][0][
        "workflowExecutionStartedEventAttributes"
    ]["input"]
    async with httpx.AsyncClient(base_url=codec_server) as http:
        assert (await http.post("/decode", json=payload)).status_code == 401
        decoded = await http.post(
            "/decode", json=payload, headers={"Authorization": "Bearer operators-only-token"}
        )
        assert (
            decoded.status_code == 200
            and deal.opportunity_id in base64.b64decode(decoded.json()["payloads"][0]["data"]).decode()
        )
        preflight = {"Origin": "http://localhost:8080", "Access-Control-Request-Method": "POST"}
        allowed = await http.options("/decode", headers=preflight)
        assert allowed.headers["access-control-allow-origin"] == "http://localhost:8080"
        refused = await http.options("/decode", headers={**preflight, "Origin": "https://evil.example"})
        assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers

    # Replay: with the ring as configured, and after a rotation (new current key, the old one kept).
    for keys in (ring(("k1", K1)), ring(("k2", K2), ("k1", K1))):
        replayer = Replayer(
            workflows=WORKFLOWS,
            data_converter=data_converter(Settings(_env_file=None, payload_keys=keys)),
        )
        for history in histories.values():
            await replayer.replay_workflow(history)


def payload_texts(node: object) -> str:
    """Every payload's data and metadata in the CLI's JSON output (base64 there), decoded and joined."""
    if isinstance(node, dict):
        if "data" in node and isinstance(node["data"], str):
            texts = [node["data"], *(node.get("metadata") or {}).values()]
            return "\n".join(base64.b64decode(text).decode(errors="replace") for text in texts)
        return "\n".join(payload_texts(value) for value in node.values())
    if isinstance(node, list):
        return "\n".join(payload_texts(value) for value in node)
    return ""


async def _healthy(http: httpx.AsyncClient) -> bool:
    try:
        return (await http.get("/healthz")).status_code == 200
    except httpx.TransportError:
        return False
