"""Salesforce Outbound Messages (SOAP): parsing a ``notifications`` message and writing the replies."""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from q2c.domain.salesforce_ids import InvalidSalesforceId, normalize_salesforce_id

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100  # Salesforce sends at most 100 notifications in one message


class OutboundMessageError(ValueError):
    """The message cannot be accepted; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Notification:
    notification_id: str
    sobject_type: str
    record_id: str  # 18 characters, checksum verified (as are ``fields["Id"]`` and ``fields["AccountId"]``)
    fields: dict[str, str]


@dataclass(frozen=True)
class OutboundMessage:
    organization_id: str
    action_id: str | None
    notifications: list[Notification]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(parent: Element, name: str) -> Element | None:
    for element in parent:
        if _local(element.tag) == name:
            return element
    return None


def parse_outbound_message(body: bytes) -> OutboundMessage:
    if not body.strip():
        raise OutboundMessageError("empty body: expected a SOAP envelope with a notifications element")
    try:
        root = ElementTree.fromstring(body)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise OutboundMessageError(f"the body is not acceptable XML: {exc}") from None
    # Every block anywhere in the body counts: a second one (another org's, say) must not go unread.
    blocks = list(root.iter(f"{{{OUTBOUND_NS}}}notifications"))
    if not blocks:
        raise OutboundMessageError(
            f'no <notifications xmlns="{OUTBOUND_NS}"> element: not a Salesforce outbound message'
        )
    if len(blocks) > 1:
        raise OutboundMessageError(
            f"the message has {len(blocks)} <notifications> elements; a Salesforce outbound message has one"
        )
    [notifications] = blocks
    org = _child(notifications, "OrganizationId")
    if org is None or not (org.text or "").strip():
        raise OutboundMessageError("the message has no OrganizationId")
    action = _child(notifications, "ActionId")
    items = [element for element in notifications if _local(element.tag) == "Notification"]
    if not items:
        raise OutboundMessageError("the message has no Notification elements")
    if len(items) > MAX_NOTIFICATIONS:
        raise OutboundMessageError(
            f"the message has {len(items)} notifications; Salesforce sends at most {MAX_NOTIFICATIONS}"
        )
    parsed = [_notification(index, item) for index, item in enumerate(items, start=1)]
    return OutboundMessage(
        organization_id=(org.text or "").strip(),
        action_id=(action.text or "").strip() if action is not None else None,
        notifications=parsed,
    )


def _notification(index: int, item: Element) -> Notification:
    id_element = _child(item, "Id")
    notification_id = (id_element.text or "").strip() if id_element is not None else ""
    if not notification_id:
        raise OutboundMessageError(f"notification {index} has no Id")
    sobject = _child(item, "sObject")
    if sobject is None:
        raise OutboundMessageError(f"notification {index} ({notification_id}) has no sObject")
    sobject_type = sobject.get(f"{{{XSI_NS}}}type", "").split(":")[-1]
    fields = {_local(field.tag): (field.text or "").strip() for field in sobject}
    if not fields.get("Id"):
        raise OutboundMessageError(f"notification {index} ({notification_id}) has no sObject Id")
    # One form for every id q2c keys by: the 15-character one would start a second order workflow.
    for name in ("Id", "AccountId"):
        if fields.get(name):  # an empty AccountId: a private contact
            try:
                fields[name] = normalize_salesforce_id(fields[name])
            except InvalidSalesforceId as exc:
                where = "" if name == "Id" else f" {name}"
                raise OutboundMessageError(
                    f"notification {index} ({notification_id}){where}: {exc}"
                ) from None
    return Notification(notification_id, sobject_type, fields["Id"], fields)


def is_won(item: Notification) -> bool:
    """IsWon as Salesforce sends it, ``true`` or ``false``; without the field, won (today's outbound
    messages fire on Closed Won)."""
    value = item.fields.get("IsWon")
    if value is None:
        return True
    if value not in ("true", "false"):
        raise OutboundMessageError(
            f"notification {item.notification_id} (Opportunity {item.record_id}) has IsWon {value!r}; "
            "expected true or false"
        )
    return value == "true"


def same_organization(given: str, expected: str) -> bool:
    """Whether the message's OrganizationId is the configured org, compared as full 18-character ids.

    A given id whose checksum does not fit is refused (400); the configured one is checked when the
    settings load (``Settings.salesforce_org_id``)."""
    try:
        given_18 = normalize_salesforce_id(given)
    except InvalidSalesforceId as exc:
        raise OutboundMessageError(f"OrganizationId: {exc}") from None
    return given_18 == normalize_salesforce_id(expected)


def ack_response() -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>'
        f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
        "</soapenv:Body></soapenv:Envelope>"
    )


def fault_response(message: str, client_fault: bool = True) -> str:
    code = "soapenv:Client" if client_fault else "soapenv:Server"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>{code}</faultcode><faultstring>{escape(message)}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
