"""The webhook as ``q2c webhook`` serves it (``starter.webhook.webhook_server``, real uvicorn on a free port):
plain HTTP behind a proxy that terminates TLS, and whose X-Forwarded-For the source allowlist believes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.client import Client

from q2c.config import WEBHOOK_PATH, Settings
from q2c_sandbox.server import free_port
from q2c_sandbox.tls import ensure_server_cert
from starter.webhook import answers_health, webhook_server
from tests.conftest import until
from tests.unit.test_outbound_message import outbound_message

SOAP = {"Content-Type": "text/xml; charset=utf-8"}
ALLOWED = "203.0.113.0/24"  # Salesforce's servers, as far as these tests go
SALESFORCE, STRANGER = "203.0.113.7", "198.51.100.9"


def webhook_settings(**values: Any) -> Settings:
    defaults: dict[str, Any] = {
        "webhook_host": "127.0.0.1",
        "webhook_port": free_port(),
        "webhook_tls": False,
    }
    return Settings(_env_file=None, **(defaults | values))


@asynccontextmanager
async def serving(settings: Settings, client: Client) -> AsyncIterator[str]:
    """The webhook served on its own thread until the block ends; yields its base URL."""
    server = webhook_server(settings, client)
    # On its own thread and loop, as in production's `asyncio.run(serve_webhook(...))`.
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        await until(lambda: server.started or not thread.is_alive(), "the webhook to start serving", 15)
        assert thread.is_alive(), "the webhook stopped at start"
        yield settings.webhook_url.removesuffix(WEBHOOK_PATH)
    finally:
        server.should_exit = True
        await asyncio.to_thread(thread.join, 10)


def lost_deal(settings: Settings) -> bytes:
    """A deal that never became an order was lost: acknowledged once it reached the workflows' side."""
    won = outbound_message(
        org=settings.salesforce_org_id, notifications=[("04l000000000777AAA", "006000000000777AAA")]
    )
    return won.replace(b"<sf:IsWon>true</sf:IsWon>", b"<sf:IsWon>false</sf:IsWon>")


async def deliver(url: str, settings: Settings, forwarded_for: str | None = None) -> int:
    headers = {**SOAP, **({"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {})}
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(f"{url}{WEBHOOK_PATH}", content=lost_deal(settings), headers=headers)
    return response.status_code


async def test_plain_http_behind_a_proxy_serves_health_and_messages(client: Client) -> None:
    settings = webhook_settings()
    assert settings.webhook_url.startswith("http://127.0.0.1:")
    async with serving(settings, client) as url:
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{url}/healthz")).json() == {"ok": True}
        assert await asyncio.to_thread(answers_health, settings)  # the compose file's health check
        assert await deliver(url, settings) == 200  # Ack: handed over to Temporal
    assert not await asyncio.to_thread(answers_health, settings)  # and nothing answers once stopped


async def test_https_with_a_certificate_file(client: Client, tmp_path: Path) -> None:
    cert = ensure_server_cert(tmp_path / "tls")
    settings = webhook_settings(
        webhook_tls=True, webhook_cert_file=cert.cert_path, webhook_key_file=cert.key_path
    )
    async with serving(settings, client) as url:
        assert url.startswith("https://")
        async with httpx.AsyncClient(verify=str(cert.ca_path)) as http:
            assert (await http.get(f"{url}/healthz")).status_code == 200
        # The health check asks its own loopback address; the certificate names the public host.
        assert await asyncio.to_thread(answers_health, settings)


async def test_the_allowlist_judges_the_client_a_trusted_proxy_names(client: Client) -> None:
    # The test's connections come from 127.0.0.1: the proxy.
    settings = webhook_settings(webhook_allowed_networks=ALLOWED, webhook_trusted_proxies="127.0.0.0/8")
    async with serving(settings, client) as url:
        assert await deliver(url, settings, SALESFORCE) == 200
        assert await deliver(url, settings, STRANGER) == 403
        # A client that writes its own header gets the proxy's address appended: the right-most one counts.
        assert await deliver(url, settings, f"{SALESFORCE}, {STRANGER}") == 403
        # Several proxies in a row (each a trusted address) are skipped back to the client.
        assert await deliver(url, settings, f"{SALESFORCE}, 127.0.0.2") == 200
        assert await deliver(url, settings, "not-an-address") == 403
        assert await deliver(url, settings) == 403  # no header: the proxy itself, not allowed


@pytest.mark.parametrize("proxies", ["", "10.0.0.0/8"])
async def test_x_forwarded_for_from_anyone_else_is_ignored(
    client: Client, proxies: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # uvicorn's own default would believe loopback, or whatever FORWARDED_ALLOW_IPS says: never used here.
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    settings = webhook_settings(webhook_allowed_networks=ALLOWED, webhook_trusted_proxies=proxies)
    async with serving(settings, client) as url:
        assert await deliver(url, settings, SALESFORCE) == 403
    judged_as_peer = webhook_settings(
        webhook_allowed_networks="127.0.0.1/32", webhook_trusted_proxies=proxies
    )
    async with serving(judged_as_peer, client) as url:
        assert await deliver(url, judged_as_peer, STRANGER) == 200
