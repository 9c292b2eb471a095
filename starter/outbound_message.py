"""Salesforce Outbound Messages (SOAP): parsing a ``notifications`` message and writing the replies."""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100  # Salesforce sends at most 100 notifications in one message
_SF_ID = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")


class OutboundMessageError(ValueError):
    """The message cannot be accepted; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Notification:
    notification_id: str
    sobject_type: str
    record_id: str
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
    notifications = root.find(f".//{{{OUTBOUND_NS}}}notifications")
    if notifications is None:
        raise OutboundMessageError(
            f'no <notifications xmlns="{OUTBOUND_NS}"> element: not a Salesforce outbound message'
        )
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
    record_id = fields.get("Id", "")
    if not record_id:
        raise OutboundMessageError(f"notification {index} ({notification_id}) has no sObject Id")
    if not _SF_ID.match(record_id):
        raise OutboundMessageError(
            f"notification {index} ({notification_id}): {record_id!r} is not a Salesforce record id"
        )
    return Notification(notification_id, sobject_type, record_id, fields)


def same_organization(given: str, expected: str) -> bool:
    # Salesforce ids compare on their first 15 characters (the last 3 only encode letter case).
    return given[:15] == expected[:15]


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
