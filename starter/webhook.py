"""The Salesforce webhook: Outbound Messages in; ``deal_closed`` / ``deal_reopened`` signals to orders
(Opportunity), change events to account sync workflows (Account, Contact) and ``task_changed`` to
onboardings (a Task whose ``Q2C_Key__c`` is an onboarding's, closed) out.

The SOAP Ack goes back only after Temporal accepted every signal of the message; otherwise Salesforce
keeps the message and redelivers it (at least once, so duplicates are normal and harmless: signal-with-
start on one workflow id per deal, upserts by external id downstream).

Before a body is read: the source network (``Q2C_WEBHOOK_ALLOWED_NETWORKS``, else 403), the path token
(``Q2C_WEBHOOK_TOKEN``, else 404 like any unknown path; never logged), SOAP's content type, uncompressed
(else 415). The body must arrive within ``Q2C_WEBHOOK_BODY_TIMEOUT_SECONDS`` (408) and ``MAX_BODY_BYTES``
(413). Then every record id is checked and normalised to 18 characters, and IsWon must be true or false.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
from collections.abc import AsyncIterator

import uvicorn
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from temporalio.client import Client

from q2c.config import WEBHOOK_PATH, IPNetwork, Settings
from q2c.domain.messages import DealClosed, DealReopened, SalesforceAccountChanged, SalesforceContactChanged
from q2c.domain.messages.onboarding import TaskChanged, customer_of_task_key
from starter.outbound_message import (
    Notification,
    OutboundMessageError,
    ack_response,
    fault_response,
    is_won,
    parse_outbound_message,
    same_organization,
)
from temporal_client.accounts import (
    account_sync_options,
    salesforce_account_changed,
    salesforce_contact_changed,
)
from temporal_client.connect import connect_temporal
from temporal_client.onboarding import signal_onboarding
from temporal_client.orders import deal_closed, deal_reopened
from workflows import names

log = logging.getLogger("q2c.webhook")
tracer = trace.get_tracer("q2c.webhook")
# Key prefixes of the objects this endpoint takes (one outbound message per object in Salesforce).
KEY_PREFIXES = {"006": "Opportunity", "001": "Account", "003": "Contact", "00T": "Task"}
MAX_BODY_BYTES = 5 * 1024 * 1024
SOAP_MEDIA_TYPES = ("text/xml", "application/soap+xml")  # SOAP 1.1 (what Salesforce sends), SOAP 1.2


def _soap(body: str, status: int = 200) -> Response:
    # A body left unread (too slow, too big) must not be taken for the next request: close the connection.
    headers = {"Connection": "close"} if status in (408, 413) else None
    return Response(body, status_code=status, media_type="text/xml; charset=utf-8", headers=headers)


def _redacted(path: str) -> str:
    """The path as logs may show it: whatever follows the endpoint's path (the token) is never logged."""
    return WEBHOOK_PATH + ("/***" if len(path) > len(WEBHOOK_PATH) else "")


def _check_source(host: str | None, allowed: tuple[IPNetwork, ...]) -> None:
    if not allowed:
        return
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        address = None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address is None or not any(address in network for network in allowed):
        raise OutboundMessageError(
            f"requests from {host or 'an unknown address'} are not accepted: not in the allowed networks "
            "(Q2C_WEBHOOK_ALLOWED_NETWORKS)",
            403,
        )


def _check_content(headers: Headers) -> None:
    content_type = headers.get("content-type", "")
    if content_type.split(";")[0].strip().lower() not in SOAP_MEDIA_TYPES:
        raise OutboundMessageError(
            f"Content-Type {content_type or '(none)'} is not accepted: an outbound message is SOAP, text/xml",
            415,
        )
    encodings = [e.strip().lower() for value in headers.getlist("content-encoding") for e in value.split(",")]
    if any(encoding not in ("", "identity") for encoding in encodings):
        raise OutboundMessageError(
            f"Content-Encoding {', '.join(headers.getlist('content-encoding'))} is not accepted: send the "
            "text/xml body uncompressed",
            415,
        )


async def _read_body(request: Request, timeout_seconds: float) -> bytes:
    """The body, read as it streams in: refused once over ``MAX_BODY_BYTES`` or ``timeout_seconds``."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise OutboundMessageError(f"body of {declared} bytes is over {MAX_BODY_BYTES}", 413)
    chunks: list[bytes] = []
    received = 0
    try:
        async with asyncio.timeout(timeout_seconds):
            async for chunk in request.stream():
                received += len(chunk)
                if received > MAX_BODY_BYTES:
                    raise OutboundMessageError(f"body over {MAX_BODY_BYTES} bytes", 413)
                chunks.append(chunk)
    except TimeoutError:
        raise OutboundMessageError(
            f"the body did not arrive within {timeout_seconds:g} s ({received} of "
            f"{declared or 'an unknown number of'} bytes)",
            408,
        ) from None
    except ClientDisconnect:
        raise OutboundMessageError(f"the connection closed after {received} bytes of the body") from None
    return b"".join(chunks)


def _kind(item: Notification) -> str | None:
    return KEY_PREFIXES.get(item.record_id[:3])


def _check_notification(item: Notification) -> None:
    kind = _kind(item)
    if kind is None or item.sobject_type not in ("", kind):
        raise OutboundMessageError(
            f"notification {item.notification_id} is about {item.sobject_type or 'a record'} {item.record_id}; "
            "this endpoint takes Opportunity, Account, Contact and Task notifications"
        )
    if kind == "Opportunity":
        is_won(item)  # refuses anything but true or false
    if kind == "Contact" and "AccountId" not in item.fields:
        raise OutboundMessageError(
            f"notification {item.notification_id} (Contact {item.record_id}) has no AccountId: add AccountId to "
            "the fields of the Contact outbound message"
        )
    if kind == "Task":
        for field in ("Q2C_Key__c", "IsClosed"):
            if field not in item.fields:
                raise OutboundMessageError(
                    f"notification {item.notification_id} (Task {item.record_id}) has no {field}: add it to "
                    "the fields of the Task outbound message"
                )


def create_webhook_app(settings: Settings, client: Client | None = None) -> Starlette:
    """The webhook app; without ``client`` it connects to Temporal when it starts serving."""
    temporal: dict[str, Client] = {}
    account_options = account_sync_options(settings)
    token = settings.webhook_token.get_secret_value().encode() if settings.webhook_token else None
    networks = settings.webhook_networks

    def token_matches(rest_of_path: str) -> bool:
        if token is None:
            return rest_of_path == ""
        given = rest_of_path[1:] if rest_of_path.startswith("/") else ""
        return hmac.compare_digest(given.encode(), token)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        temporal["client"] = client or await connect_temporal(settings)
        yield

    async def outbound_message(request: Request) -> Response:
        # The request's server span, made here rather than by an ASGI instrumentation, which would record
        # the path with its token. The signals' spans are its children: one trace from the message to the
        # sales order. A trace context a proxy sends (traceparent) is continued.
        path = _redacted(request.url.path)
        with tracer.start_as_current_span(
            f"POST {WEBHOOK_PATH}",
            kind=SpanKind.SERVER,
            context=propagate.extract(request.headers),
            attributes={"http.request.method": "POST", "http.route": WEBHOOK_PATH, "url.path": path},
        ) as span:
            response = await receive(request, path)
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500:
                span.set_status(StatusCode.ERROR)
            return response

    async def receive(request: Request, path: str) -> Response:
        source = request.client.host if request.client else None
        try:
            _check_source(source, networks)
            if not token_matches(request.path_params["rest"]):
                # Answered like any unknown path: a prober learns nothing about the token.
                log.warning("Refused POST %s from %s: not the webhook's path (token)", path, source)
                return PlainTextResponse("Not Found", status_code=404)
            _check_content(request.headers)
            message = parse_outbound_message(await _read_body(request, settings.webhook_body_timeout_seconds))
            if not same_organization(message.organization_id, settings.salesforce_org_id):
                raise OutboundMessageError(
                    f"organization {message.organization_id} is not the Salesforce org this q2c serves",
                    403,
                )
            for item in message.notifications:
                _check_notification(item)
        except OutboundMessageError as exc:
            log.warning("Rejected outbound message on %s from %s: %s", path, source, exc)
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
            elif kind == "Task":
                # A claim: the onboarding reads its tasks from Salesforce. Only a task closed (done, or
                # cancelled by a person) moves an onboarding; q2c's own creations are never closed.
                customer = customer_of_task_key(item.fields.get("Q2C_Key__c", ""))
                if customer is not None and item.fields.get("IsClosed") == "true":
                    await signal_onboarding(
                        client_now,
                        customer,
                        names.TASK_CHANGED_SIGNAL,
                        TaskChanged(key=item.fields["Q2C_Key__c"], source="outbound-message"),
                    )
            elif not is_won(item):
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
            # The token, when set, is the rest of the path; matched here so a wrong one is a plain 404.
            Route(WEBHOOK_PATH + "{rest:path}", outbound_message, methods=["POST"]),
            Route("/healthz", health, methods=["GET"]),
        ],
    )


def webhook_server(settings: Settings, client: Client | None = None) -> uvicorn.Server:
    """The webhook's server: HTTPS with ``Settings.webhook_tls_files``, or plain HTTP when
    ``Q2C_WEBHOOK_TLS`` is false (behind a proxy or load balancer that terminates TLS).

    The source-network allowlist judges the TCP peer. X-Forwarded-For is anyone's to write, so it is read
    only from peers in ``Q2C_WEBHOOK_TRUSTED_PROXIES``, and then the client is the right-most address in it
    that is not such a proxy (uvicorn's rule: each proxy appends the address it received from)."""
    cert, key = settings.webhook_tls_files() if settings.webhook_tls else (None, None)
    proxies = [str(network) for network in settings.webhook_proxy_networks]
    if settings.webhook_networks and not settings.webhook_tls and not proxies:
        log.warning(
            "Q2C_WEBHOOK_ALLOWED_NETWORKS judges the TCP peer, which behind a proxy is the proxy: name the "
            "proxy's addresses in Q2C_WEBHOOK_TRUSTED_PROXIES (or filter at the proxy)"
        )
    config = uvicorn.Config(
        create_webhook_app(settings, client),
        host=settings.webhook_host,
        port=settings.webhook_port,
        ssl_certfile=str(cert) if cert else None,
        ssl_keyfile=str(key) if key else None,
        log_level="warning",
        access_log=False,
        lifespan="on",
        proxy_headers=bool(proxies),
        # Never uvicorn's default (FORWARDED_ALLOW_IPS, else loopback): only the proxies named here.
        forwarded_allow_ips=proxies,
    )
    return uvicorn.Server(config)


async def serve_webhook(settings: Settings, client: Client | None = None) -> None:
    """Serve the webhook (``webhook_server``) until cancelled."""
    await webhook_server(settings, client).serve()


def health_url(settings: Settings) -> str:
    """The /healthz URL of a webhook these settings serve, as seen from its own host."""
    wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
    host = wildcard.get(settings.webhook_host, settings.webhook_host)
    host = f"[{host}]" if ":" in host else host
    return f"{'https' if settings.webhook_tls else 'http'}://{host}:{settings.webhook_port}/healthz"


def answers_health(settings: Settings, timeout: float = 5.0) -> bool:
    """Whether the webhook these settings describe answers GET /healthz with 200 (a container health check).

    The certificate is not checked: it names the public host, not the loopback address asked here."""
    import ssl
    import urllib.request

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(health_url(settings), timeout=timeout, context=context) as response:
            return bool(response.status == 200)
    except OSError:
        return False


if __name__ == "__main__":
    # `python -m starter.webhook healthcheck`: the compose file's health check, with the same settings.
    import sys

    if sys.argv[1:] != ["healthcheck"]:
        sys.exit("usage: python -m starter.webhook healthcheck")
    sys.exit(0 if answers_health(Settings()) else 1)
