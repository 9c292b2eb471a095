"""Outbound messages: the SOAP ``notifications`` a workflow rule sends when a deal is won or un-won.

Notifications are queued in SQLite inside the write's transaction (a rolled-back write sends nothing, a
restart loses nothing) and delivered by a background task, up to 100 per message, until the receiver
answers ``<Ack>true</Ack>`` or the notification is a day old. Delivery is at least once; a notification
keeps its Id across redeliveries so receivers can de-duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from typing import Any
from xml.sax.saxutils import escape

import httpx
from defusedxml import ElementTree

from q2c.sandbox.salesforce.errors import bad_request, invalid_field
from q2c.sandbox.salesforce.schema import Schema
from q2c.sandbox.salesforce.settings import SalesforceSandboxSettings
from q2c.sandbox.salesforce.store import Record, Store
from q2c.sandbox.salesforce.values import make_id

log = logging.getLogger(__name__)

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOBJECT = "Opportunity"
MAX_PER_MESSAGE = 100
MAX_AGE_SECONDS = 24 * 3600
SOAP_VERSION = "59.0"


def _soap_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if isinstance(value, str) and text.endswith("+0000") and "T" in text:
        text = text[:-5] + "Z"  # the SOAP API writes datetimes in UTC with a Z
    return escape(text)


def is_ack(status: int, body: bytes) -> bool:
    """True only for HTTP 200 carrying an ``Ack`` element (outbound namespace or none) saying true."""
    if status != 200:
        return False
    try:
        root = ElementTree.fromstring(body)
    except Exception:  # any unparsable body is simply not an acknowledgement
        return False
    for element in root.iter():
        if element.tag in ("Ack", f"{{{OUTBOUND_NS}}}Ack"):
            return (element.text or "").strip().lower() == "true"
    return False


class Outbound:
    def __init__(self, store: Store, schema: Schema, settings: SalesforceSandboxSettings) -> None:
        self.store = store
        self.schema = schema
        self.settings = settings
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    # ---- configuration -----------------------------------------------------------------------------

    def config(self) -> dict[str, Any] | None:
        raw = self.store.get_meta("outbound_config")
        return json.loads(raw) if raw else None

    def configure(self, endpoint_url: Any, fields: Any, instance_url: str) -> dict[str, Any]:
        if not isinstance(endpoint_url, str) or not endpoint_url.startswith(("https://", "http://")):
            raise bad_request("INVALID_FIELD", "endpoint_url must be an http(s) URL", ["endpoint_url"])
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise bad_request("INVALID_FIELD", "fields must be a list of Opportunity field names", ["fields"])
        obj = self.schema.objects[SOBJECT]
        names: list[str] = []
        for name in ["Id", *fields]:
            f = obj.field(name)
            if f is None:
                raise invalid_field(name, SOBJECT)
            if f.name not in names:
                names.append(f.name)
        previous = self.config()
        config = {
            "sobject": SOBJECT,
            "endpoint_url": endpoint_url,
            "fields": names,
            "action_id": previous["action_id"] if previous else make_id("04k", 1),
            "instance_url": instance_url,
        }
        self.store.set_meta("outbound_config", json.dumps(config))
        self.wake()
        return config

    def disable(self) -> None:
        self.store.execute("DELETE FROM meta WHERE name = 'outbound_config'")

    def stats(self) -> dict[str, Any]:
        rows = dict(self.store.fetchall("SELECT state, COUNT(*) FROM outbound_queue GROUP BY state"))
        return {
            "pending": int(rows.get("pending", 0)),
            "delivered": int(rows.get("delivered", 0)),
            "expired": int(rows.get("expired", 0)),
            "attempts": int(self.store.get_meta("outbound_attempts", "0") or 0),
            "last_error": self.store.get_meta("outbound_last_error"),
        }

    def notifications(self) -> list[dict[str, Any]]:
        rows = self.store.fetchall(
            "SELECT id, created_at, fields, attempts, state, last_error FROM outbound_queue ORDER BY seq"
        )
        return [
            {"id": i, "created_at": c, "fields": json.loads(f), "attempts": a, "state": s, "last_error": e}
            for i, c, f, a, s, e in rows
        ]

    # ---- queueing ----------------------------------------------------------------------------------

    def enqueue(self, record: Record) -> None:
        """Queue a notification for ``record`` (called inside the write's transaction)."""
        config = self.config()
        if config is None:
            return
        seq = self.store.next_sequence("notification_seq")
        snapshot = {name: record.get(name) for name in config["fields"]}
        now = time.time()
        self.store.execute(
            "INSERT INTO outbound_queue (id, seq, created_at, sobject, fields, next_attempt_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (make_id("04l", seq), seq, now, SOBJECT, json.dumps(snapshot), now),
        )
        self.wake()

    def wake(self) -> None:
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    # ---- delivery ----------------------------------------------------------------------------------

    def envelope(self, config: dict[str, Any], batch: list[tuple[str, dict[str, Any]]]) -> str:
        org15 = self.settings.org_id[:15]
        base = config["instance_url"]
        notifications = []
        for notification_id, fields in batch:
            values = "".join(
                f"<sf:{name}>{_soap_value(value)}</sf:{name}>"
                for name, value in fields.items()
                if value is not None
            )
            notifications.append(
                f"<Notification><Id>{notification_id}</Id>"
                f'<sObject xsi:type="sf:{SOBJECT}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
                f"{values}</sObject></Notification>"
            )
        return (
            '<?xml version="1.0" encoding="UTF-8"?>'
            '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            f'<soapenv:Body><notifications xmlns="{OUTBOUND_NS}">'
            f"<OrganizationId>{self.settings.org_id}</OrganizationId>"
            f"<ActionId>{config['action_id']}</ActionId>"
            '<SessionId xsi:nil="true"/>'
            f"<EnterpriseUrl>{escape(base)}/services/Soap/c/{SOAP_VERSION}/{org15}</EnterpriseUrl>"
            f"<PartnerUrl>{escape(base)}/services/Soap/u/{SOAP_VERSION}/{org15}</PartnerUrl>"
            f"{''.join(notifications)}"
            "</notifications></soapenv:Body></soapenv:Envelope>"
        )

    def _due(self, now: float) -> list[tuple[str, dict[str, Any], int]]:
        with self.store.transaction():
            self.store.execute(
                "UPDATE outbound_queue SET state = 'expired' WHERE state = 'pending' AND created_at < ?",
                (now - MAX_AGE_SECONDS,),
            )
            rows = self.store.fetchall(
                "SELECT id, fields, attempts FROM outbound_queue WHERE state = 'pending' "
                "AND next_attempt_at <= ? ORDER BY seq LIMIT ?",
                (now, MAX_PER_MESSAGE),
            )
        return [(i, json.loads(f), int(a)) for i, f, a in rows]

    def _next_due_in(self, now: float) -> float | None:
        rows = self.store.fetchall("SELECT MIN(next_attempt_at) FROM outbound_queue WHERE state = 'pending'")
        return None if rows[0][0] is None else max(0.0, float(rows[0][0]) - now)

    def _record_outcome(self, ids: list[str], attempts: dict[str, int], error: str | None) -> None:
        now = time.time()
        with self.store.transaction():
            self.store.set_meta(
                "outbound_attempts", str(int(self.store.get_meta("outbound_attempts", "0") or 0) + 1)
            )
            if error is None:
                self.store.conn.executemany(
                    "UPDATE outbound_queue SET state = 'delivered', attempts = attempts + 1 WHERE id = ?",
                    [(i,) for i in ids],
                )
                return
            self.store.set_meta("outbound_last_error", error)
            base, cap = self.settings.outbound_retry_base_seconds, self.settings.outbound_retry_max_seconds
            self.store.conn.executemany(
                "UPDATE outbound_queue SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? "
                "WHERE id = ?",
                [(now + min(base * 2 ** attempts[i], cap), error, i) for i in ids],
            )

    async def deliver_due(self, client: httpx.AsyncClient) -> bool:
        """Send one message with the notifications that are due; False when nothing was due."""
        config = self.config()
        if config is None:
            return False
        due = self._due(time.time())
        if not due:
            return False
        body = self.envelope(config, [(i, fields) for i, fields, _ in due])
        error: str | None = None
        try:
            response = await client.post(
                config["endpoint_url"],
                content=body.encode(),
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
            )
            if not is_ack(response.status_code, response.content):
                error = f"HTTP {response.status_code}: no <Ack>true</Ack> in the response"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        self._record_outcome([i for i, _, _ in due], {i: a for i, _, a in due}, error)
        return error is None

    def _ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.settings.outbound_ca_path is not None:
            context.load_verify_locations(cafile=str(self.settings.outbound_ca_path))
        return context

    async def run(self) -> None:
        """The delivery loop (an asyncio task for the app's lifetime)."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        # No keep-alive: an idle pooled TLS connection would hold up the receiver's graceful shutdown,
        # and deliveries are rare enough that a fresh connection each time costs nothing.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(verify=self._ssl_context(), timeout=30.0, limits=limits) as client:
            while True:
                self._wake.clear()
                try:
                    delivered = await self.deliver_due(client)
                except Exception:  # keep the loop alive whatever one attempt does
                    log.exception("outbound message delivery failed")
                    delivered = False
                if delivered:
                    continue  # more may be due right away (over 100 queued)
                wait = self._next_due_in(time.time())
                timeout = 1.0 if wait is None else min(max(wait, 0.01), 1.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
