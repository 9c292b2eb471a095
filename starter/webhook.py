"""The Salesforce webhook: Outbound Messages in; ``deal_closed`` / ``deal_reopened`` signals to orders
(Opportunity) and change events to account sync workflows (Account, Contact) out.

The SOAP Ack goes back only after Temporal accepted every signal of the message; otherwise Salesforce
keeps the message and redelivers it (at least once, so duplicates are normal and harmless: signal-with-
start on one workflow id per deal, upserts by external id downstream).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.client import Client

from q2c.config import Settings
from q2c.domain.account_sync import SalesforceAccountChanged, SalesforceContactChanged
from q2c.domain.messages import DealClosed, DealReopened
from starter.accounts import account_sync_options, salesforce_account_changed, salesforce_contact_changed
from starter.connect import connect_temporal
from starter.orders import deal_closed, deal_reopened
from starter.outbound_message import (
    Notification,
    OutboundMessageError,
    ack_response,
    fault_response,
    parse_outbound_message,
    same_organization,
)

log = logging.getLogger("q2c.webhook")
# Key prefixes of the objects this endpoint takes (one outbound message per object in Salesforce).
KEY_PREFIXES = {"006": "Opportunity", "001": "Account", "003": "Contact"}
MAX_BODY_BYTES = 5 * 1024 * 1024


def _soap(body: str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="text/xml; charset=utf-8")


def _kind(item: Notification) -> str | None:
    return KEY_PREFIXES.get(item.record_id[:3])


def _check_notification(item: Notification) -> None:
    kind = _kind(item)
    if kind is None or item.sobject_type not in ("", kind):
        raise OutboundMessageError(
            f"notification {item.notification_id} is about {item.sobject_type or 'a record'} {item.record_id}; "
            "this endpoint takes Opportunity, Account and Contact notifications"
        )
    if kind == "Contact" and "AccountId" not in item.fields:
        raise OutboundMessageError(
            f"notification {item.notification_id} (Contact {item.record_id}) has no AccountId: add AccountId to "
            "the fields of the Contact outbound message"
        )


def create_webhook_app(settings: Settings, client: Client | None = None) -> Starlette:
    """The webhook app; without ``client`` it connects to Temporal when it starts serving."""
    temporal: dict[str, Client] = {}
    account_options = account_sync_options(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        temporal["client"] = client or await connect_temporal(settings)
        yield

    async def outbound_message(request: Request) -> Response:
        body = await request.body()
        try:
            if len(body) > MAX_BODY_BYTES:
                raise OutboundMessageError(f"body of {len(body)} bytes is over {MAX_BODY_BYTES}", 413)
            message = parse_outbound_message(body)
            if not same_organization(message.organization_id, settings.salesforce_org_id):
                raise OutboundMessageError(
                    f"organization {message.organization_id} is not the Salesforce org this q2c serves",
                    403,
                )
            for item in message.notifications:
                _check_notification(item)
        except OutboundMessageError as exc:
            log.warning("Rejected outbound message: %s", exc)
            return _soap(fault_response(str(exc)), exc.status)

        client_now = temporal["client"]

        async def hand_over(item: Notification) -> None:
            kind = _kind(item)
            modified_by = item.fields.get("LastModifiedById") or None
            if kind in ("Account", "Contact") and not settings.account_sync:
                log.info(
                    "Account sync is off (Q2C_ACCOUNT_SYNC): %s %s acknowledged, not synced",
                    kind,
                    item.record_id,
                )
            elif kind == "Account":
                event = SalesforceAccountChanged(
                    account_id=item.record_id, modified_by=modified_by, source="outbound-message"
                )
                await salesforce_account_changed(client_now, account_options, event)
            elif kind == "Contact":
                account_id = item.fields.get("AccountId")
                if account_id:  # a private contact (no account) has no company to go under
                    await salesforce_contact_changed(
                        client_now,
                        account_options,
                        account_id,
                        SalesforceContactChanged(
                            contact_id=item.record_id, modified_by=modified_by, source="outbound-message"
                        ),
                    )
            elif item.fields.get("IsWon", "true") == "false":
                # Away from Closed Won: only an order that exists has anything to undo.
                await deal_reopened(
                    client_now,
                    DealReopened(
                        opportunity_id=item.record_id,
                        source="outbound-message",
                        notification_id=item.notification_id,
                    ),
                )
            else:
                await deal_closed(
                    client_now,
                    settings,
                    DealClosed(
                        opportunity_id=item.record_id,
                        source="outbound-message",
                        notification_id=item.notification_id,
                    ),
                )

        try:
            await asyncio.gather(*(hand_over(item) for item in message.notifications))
        except Exception as exc:  # Temporal unreachable or refusing: no Ack, Salesforce redelivers
            log.error("Could not signal the order workflows, Salesforce will redeliver: %s", exc)
            return _soap(fault_response(f"could not hand the deals to Temporal: {exc}", False), 503)
        log.info("Outbound message %s: %d notifications", message.action_id, len(message.notifications))
        return _soap(ack_response())

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(
        lifespan=lifespan,
        routes=[
            Route("/salesforce/outbound-message", outbound_message, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ],
    )
