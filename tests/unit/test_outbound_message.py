"""Parsing Salesforce outbound messages (pure logic)."""

from __future__ import annotations

import pytest

from starter.outbound_message import OutboundMessageError, parse_outbound_message, same_organization


def outbound_message(
    org: str = "00D000000000Q2CAAA", notifications: list[tuple[str, str]] | None = None
) -> bytes:
    items = notifications if notifications is not None else [("04l000000000001AAA", "006000000000001AAA")]
    body = "".join(
        f"<Notification><Id>{nid}</Id>"
        f'<sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{rid}</sf:Id><sf:StageName>Closed Won</sf:StageName><sf:IsWon>true</sf:IsWon></sObject>"
        "</Notification>"
        for nid, rid in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId><ActionId>04k000000000001AAA</ActionId>{body}"
        "</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def test_parses_every_notification() -> None:
    message = parse_outbound_message(
        outbound_message(notifications=[("04l1", "006000000000001AAA"), ("04l2", "006000000000002AAA")])
    )
    assert message.organization_id == "00D000000000Q2CAAA"
    assert [(n.notification_id, n.record_id, n.sobject_type) for n in message.notifications] == [
        ("04l1", "006000000000001AAA", "Opportunity"),
        ("04l2", "006000000000002AAA", "Opportunity"),
    ]
    assert message.notifications[0].fields["StageName"] == "Closed Won"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"this is not xml", "not acceptable XML"),
        (b"", "empty body"),
        (b"<a><b/></a>", "not a Salesforce outbound message"),
        (outbound_message(notifications=[("", "006000000000001AAA")]), "notification 1 has no Id"),
        (outbound_message(notifications=[("04l1", "")]), "has no sObject Id"),
        (outbound_message(notifications=[("04l1", "robert'); drop")]), "is not a Salesforce record id"),
        (
            outbound_message(notifications=[(f"04l{i}", "006000000000001AAA") for i in range(101)]),
            "at most 100",
        ),
        (
            b'<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><x>&b;</x>',
            "not acceptable XML",
        ),
    ],
)
def test_bad_messages_say_what_is_wrong(body: bytes, reason: str) -> None:
    with pytest.raises(OutboundMessageError, match=reason):
        parse_outbound_message(body)


def test_organization_ids_compare_on_fifteen_characters() -> None:
    assert same_organization("00D000000000Q2C", "00D000000000Q2CAAA")
    assert not same_organization("00D000000000XYZAAA", "00D000000000Q2CAAA")
