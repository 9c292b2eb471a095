"""Outbound messages: the SOAP ``notifications`` workflow rules send when records change.

An org may define one outbound message per supported sObject, each with its own endpoint, fields and
ActionId, bound to that object's workflow rule (``RULES``):

- Opportunity: when IsWon changes (a deal is won or un-won; an Opportunity created already won counts);
- Account and Contact: "created, and every time it's edited": every create and update through the API,
  by any user, the integration user included (a receiver suppresses its own echoes by LastModifiedById);
- Task: when Status changes (``OR(ISNEW(), ISCHANGED(Status))``): every task created, and every update
  that changes its Status (done, reopened, cancelled); an edit of other fields does not fire.

Deletes never fire, nor do admin loads. REST, sObject Collections and upserts fire alike (one
notification per record). Each notification snapshots the configured fields as saved by the write that
fired it (so LastModifiedById and SystemModstamp are the write's). One SOAP message carries the
notifications of one outbound message only, so of one sObject type.

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
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

import httpx
from defusedxml import ElementTree

from q2c_sandbox.salesforce.errors import bad_request, invalid_field
from q2c_sandbox.salesforce.schema import Schema
from q2c_sandbox.salesforce.settings import SalesforceSandboxSettings
from q2c_sandbox.salesforce.store import Record, Store
from q2c_sandbox.salesforce.values import make_id

log = logging.getLogger(__name__)

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
DEFAULT_SOBJECT = "Opportunity"
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


def _won_changed(record: Record, old: Record | None) -> bool:
    return bool((old or {}).get("IsWon")) != bool(record.get("IsWon"))


def _created_or_edited(record: Record, old: Record | None) -> bool:
    return True


def _status_changed(record: Record, old: Record | None) -> bool:
    return old is None or old.get("Status") != record.get("Status")


# Each supported sObject's workflow rule: (saved record, record before the write or None on create).
RULES: dict[str, Callable[[Record, Record | None], bool]] = {
    "Account": _created_or_edited,
    "Contact": _created_or_edited,
    "Opportunity": _won_changed,
    "Task": _status_changed,
}
# Each outbound message keeps one ActionId for its lifetime; Opportunity's is the one it always had.
_ACTION_NUMBERS = {"Opportunity": 1, "Account": 2, "Contact": 3, "Task": 4}
_CONFIGS_META = "outbound_configs"  # JSON {sobject: config}
_LEGACY_CONFIG_META = "outbound_config"  # the single Opportunity config of older sandboxes


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

    def configs(self) -> dict[str, dict[str, Any]]:
        """Every configured outbound message, by sObject name."""
        raw = self.store.get_meta(_CONFIGS_META)
        if raw:
            configs: dict[str, dict[str, Any]] = json.loads(raw)
            return configs
        legacy = self.store.get_meta(_LEGACY_CONFIG_META)
        if legacy:
            config = json.loads(legacy)
            return {str(config.get("sobject", DEFAULT_SOBJECT)): config}
        return {}

    def config(self, sobject: str = DEFAULT_SOBJECT) -> dict[str, Any] | None:
        return self.configs().get(sobject)

    def _save_configs(self, configs: dict[str, dict[str, Any]]) -> None:
        with self.store.transaction():
            self.store.execute("DELETE FROM meta WHERE name = ?", (_LEGACY_CONFIG_META,))
            self.store.set_meta(_CONFIGS_META, json.dumps(configs))

    def supported(self, sobject: Any) -> str:
        """The schema's name for ``sobject``, which must be one outbound messages can be defined on."""
        obj = self.schema.object(sobject) if isinstance(sobject, str) else None
        if obj is None or obj.name not in RULES:
            raise bad_request(
                "INVALID_TYPE",
                f"sobject must be one of {', '.join(sorted(RULES))} (outbound messages are not supported "
                f"on {sobject!r})",
                ["sobject"],
            )
        return obj.name

    def configure(self, sobject: Any, endpoint_url: Any, fields: Any, instance_url: str) -> dict[str, Any]:
        """Create or replace ``sobject``'s outbound message (keeping its ActionId)."""
        name = self.supported(sobject)
        if not isinstance(endpoint_url, str) or not endpoint_url.startswith(("https://", "http://")):
            raise bad_request("INVALID_FIELD", "endpoint_url must be an http(s) URL", ["endpoint_url"])
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise bad_request("INVALID_FIELD", f"fields must be a list of {name} field names", ["fields"])
        obj = self.schema.objects[name]
        names: list[str] = []
        for field_name in ["Id", *fields]:
            f = obj.field(field_name)
            if f is None:
                raise invalid_field(field_name, name)
            if f.name not in names:
                names.append(f.name)
        configs = self.configs()
        previous = configs.get(name)
        config = {
            "sobject": name,
            "endpoint_url": endpoint_url,
            "fields": names,
            "action_id": previous["action_id"] if previous else make_id("04k", _ACTION_NUMBERS[name]),
            "instance_url": instance_url,
        }
        configs[name] = config
        self._save_configs(configs)
        self.wake()
        return config

    def disable(self, sobject: str | None = None) -> None:
        """Remove ``sobject``'s outbound message, or all of them. Queued notifications stay queued
        (delivered if it is configured again, else expired after a day)."""
        if sobject is None:
            with self.store.transaction():
                self.store.execute(
                    "DELETE FROM meta WHERE name IN (?, ?)", (_CONFIGS_META, _LEGACY_CONFIG_META)
                )
            return
        configs = self.configs()
        if configs.pop(sobject, None) is not None:
            self._save_configs(configs)

    def stats(self) -> dict[str, Any]:
        """Queue counts over every sObject (and per sObject under ``by_sobject``); ``attempts`` and
        ``last_error`` are about delivery attempts of any message."""
        rows = self.store.fetchall(
            "SELECT sobject, state, COUNT(*) FROM outbound_queue GROUP BY sobject, state"
        )
        states = ("pending", "delivered", "expired")
        by_sobject: dict[str, dict[str, int]] = {}
        for sobject, state, count in rows:
            by_sobject.setdefault(str(sobject), dict.fromkeys(states, 0))[str(state)] = int(count)
        totals = {state: sum(counts[state] for counts in by_sobject.values()) for state in states}
        return {
            **totals,
            "attempts": int(self.store.get_meta("outbound_attempts", "0") or 0),
            "last_error": self.store.get_meta("outbound_last_error"),
            "by_sobject": by_sobject,
        }

    def notifications(self) -> list[dict[str, Any]]:
        rows = self.store.fetchall(
            "SELECT id, sobject, created_at, fields, attempts, state, last_error FROM outbound_queue "
            "ORDER BY seq"
        )
        return [
            dict(id=i, sobject=o, created_at=c, fields=json.loads(f), attempts=a, state=st, last_error=e)
            for i, o, c, f, a, st, e in rows
        ]

    def describe(self, sobject: str = DEFAULT_SOBJECT) -> dict[str, Any]:
        """The admin API's view: ``config`` is ``sobject``'s, ``configs`` lists all of them."""
        configs = self.configs()
        return {
            "config": configs.get(sobject),
            "configs": [configs[name] for name in sorted(configs)],
            "stats": self.stats(),
            "notifications": self.notifications()[-100:],
        }

    # ---- queueing ----------------------------------------------------------------------------------

    def on_save(self, sobject: str, record: Record, old: Record | None) -> None:
        """After an API create (``old`` None) or update, inside the write's transaction: queue a
        notification when ``sobject`` has an outbound message and its rule matches."""
        rule = RULES.get(sobject)
        if rule is None or not rule(record, old):
            return
        config = self.config(sobject)
        if config is not None:
            self.enqueue(config, record)

    def enqueue(self, config: dict[str, Any], record: Record) -> None:
        """Queue a notification of ``record`` for ``config``'s outbound message."""
        seq = self.store.next_sequence("notification_seq")
        snapshot = {name: record.get(name) for name in config["fields"]}
        now = time.time()
        self.store.execute(
            "INSERT INTO outbound_queue (id, seq, created_at, sobject, fields, next_attempt_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (make_id("04l", seq), seq, now, config["sobject"], json.dumps(snapshot), now),
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
        sobject = config["sobject"]
        for notification_id, fields in batch:
            values = "".join(
                f"<sf:{name}>{_soap_value(value)}</sf:{name}>"
                for name, value in fields.items()
                if value is not None
            )
            notifications.append(
                f"<Notification><Id>{notification_id}</Id>"
                f'<sObject xsi:type="sf:{sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
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

    def _due(self, now: float, sobjects: list[str]) -> tuple[str, list[tuple[str, dict[str, Any], int]]]:
        """(sObject, its due notifications): the sObject of the oldest due notification among
        ``sobjects`` (the configured ones), and up to 100 of its due notifications, oldest first."""
        marks = ", ".join("?" * len(sobjects))
        with self.store.transaction():
            self.store.execute(
                "UPDATE outbound_queue SET state = 'expired' WHERE state = 'pending' AND created_at < ?",
                (now - MAX_AGE_SECONDS,),
            )
            first = self.store.fetchall(
                "SELECT sobject FROM outbound_queue WHERE state = 'pending' AND next_attempt_at <= ? "
                f"AND sobject IN ({marks}) ORDER BY seq LIMIT 1",
                (now, *sobjects),
            )
            if not first:
                return "", []
            sobject = str(first[0][0])
            rows = self.store.fetchall(
                "SELECT id, fields, attempts FROM outbound_queue WHERE state = 'pending' "
                "AND next_attempt_at <= ? AND sobject = ? ORDER BY seq LIMIT ?",
                (now, sobject, MAX_PER_MESSAGE),
            )
        return sobject, [(i, json.loads(f), int(a)) for i, f, a in rows]

    def _next_due_in(self, now: float) -> float | None:
        """Seconds until a notification of a configured outbound message is due (None: none pending)."""
        sobjects = list(self.configs())
        if not sobjects:
            return None
        marks = ", ".join("?" * len(sobjects))
        rows = self.store.fetchall(
            "SELECT MIN(next_attempt_at) FROM outbound_queue WHERE state = 'pending' "
            f"AND sobject IN ({marks})",
            sobjects,
        )
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
        """Send one message (one sObject's notifications that are due, to its outbound message's
        endpoint); False when nothing was due or the delivery failed."""
        configs = self.configs()
        if not configs:
            return False
        sobject, due = self._due(time.time(), list(configs))
        if not due:
            return False
        config = configs[sobject]
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
