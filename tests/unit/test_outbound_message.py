"""Parsing Salesforce outbound messages (pure logic)."""

from __future__ import annotations

import re

import pytest

from starter.outbound_message import OutboundMessageError, is_won, parse_outbound_message, same_organization


def outbound_message(
    org: str = "00D000000000Q2CEAU", notifications: list[tuple[str, str]] | None = None
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
    assert message.organization_id == "00D000000000Q2CEAU"
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
        (outbound_message(notifications=[("04l1", "robert'); drop")]), 'drop" has 14 characters'),
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


ORG = "00D000000000Q2CEAU"  # a valid org id (the checksum fits)


def test_organization_ids_compare_on_the_full_normalised_id() -> None:
    assert same_organization("00D000000000Q2C", ORG)
    assert same_organization(ORG, "00D000000000Q2C")
    assert same_organization(ORG, ORG)
    assert not same_organization("00D000000000EVLEA2", ORG)


def test_an_organization_id_with_a_wrong_checksum_is_refused_naming_it() -> None:
    with pytest.raises(
        OutboundMessageError, match="OrganizationId: Salesforce id '00D000000000Q2CXYZ': checksum"
    ) as raised:
        same_organization("00D000000000Q2CXYZ", ORG)
    assert raised.value.status == 400


def test_the_15_and_18_character_forms_of_the_org_id_are_the_same_org() -> None:
    assert same_organization("00D000000000Q2CEAU", "00D000000000Q2CEAU")
    assert same_organization("00D000000000Q2C", "00D000000000Q2CEAU")
    assert not same_organization("00D000000000Q2D", "00D000000000Q2CEAU")


def test_a_configured_org_id_with_a_wrong_checksum_refuses_to_load() -> None:
    from pydantic import ValidationError

    from q2c.config import Settings

    with pytest.raises(ValidationError, match="00D000000000Q2CAAA"):
        Settings(_env_file=None, salesforce_org_id="00D000000000Q2CAAA")
    assert (
        Settings(_env_file=None, salesforce_org_id="00D000000000Q2C").salesforce_org_id
        == "00D000000000Q2CEAU"
    )


def test_record_ids_are_normalised_to_18_characters() -> None:
    message = parse_outbound_message(
        outbound_message(notifications=[("04l1", "001D000000IqhSL"), ("04l2", "006000000000001AAA")])
    )
    assert [n.record_id for n in message.notifications] == ["001D000000IqhSLIAZ", "006000000000001AAA"]
    assert message.notifications[0].fields["Id"] == "001D000000IqhSLIAZ"


def contact_message(account_id: str) -> bytes:
    return (
        outbound_message(notifications=[("04l1", "003000000000001AAA")])
        .replace(b'xsi:type="sf:Opportunity"', b'xsi:type="sf:Contact"')
        .replace(
            b"<sf:StageName>Closed Won</sf:StageName>", f"<sf:AccountId>{account_id}</sf:AccountId>".encode()
        )
    )


def test_the_account_id_of_a_contact_is_normalised_to_18_characters() -> None:
    [contact] = parse_outbound_message(contact_message("001D000000IqhSL")).notifications
    assert contact.fields["AccountId"] == "001D000000IqhSLIAZ"
    [private] = parse_outbound_message(contact_message("")).notifications
    assert private.fields["AccountId"] == ""  # a private contact: no account


def with_is_won(value: str | None) -> bytes:
    won = "" if value is None else f"<sf:IsWon>{value}</sf:IsWon>"
    return outbound_message().replace(b"<sf:IsWon>true</sf:IsWon>", won.encode())


@pytest.mark.parametrize(("value", "won"), [("true", True), ("false", False), (None, True)])
def test_is_won_is_true_or_false_and_missing_means_won(value: str | None, won: bool) -> None:
    [item] = parse_outbound_message(with_is_won(value)).notifications
    assert is_won(item) is won


@pytest.mark.parametrize("value", ["maybe", "TRUE", "1", "yes", ""])
def test_is_won_other_than_true_or_false_is_refused_naming_the_notification(value: str) -> None:
    [item] = parse_outbound_message(with_is_won(value)).notifications
    with pytest.raises(OutboundMessageError, match=f"notification 04l000000000001AAA.*IsWon {value!r}"):
        is_won(item)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            outbound_message(notifications=[("04l1", "006000000000001XYZ")]),
            "notification 1 (04l1): Salesforce id '006000000000001XYZ': checksum XYZ does not match",
        ),
        (
            outbound_message(notifications=[("04l1", "00600000000000")]),
            "notification 1 (04l1): Salesforce id '00600000000000' has 14 characters",
        ),
        (
            contact_message("001D000000IqhSLAAA"),
            "AccountId: Salesforce id '001D000000IqhSLAAA': checksum AAA",
        ),
        (
            outbound_message().replace(
                b"</notifications>",
                b'</notifications><notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
                b"<OrganizationId>00D000000000EVLEA2</OrganizationId></notifications>",
            ),
            "2 <notifications> elements",
        ),
        (
            outbound_message().replace(
                b"<sf:IsWon>",
                b'<notifications xmlns="http://soap.sforce.com/2005/09/outbound"></notifications><sf:IsWon>',
            ),
            "2 <notifications> elements",
        ),
    ],
)
def test_bad_ids_and_extra_blocks_are_refused(body: bytes, reason: str) -> None:
    with pytest.raises(OutboundMessageError, match=re.escape(reason)):
        parse_outbound_message(body)


def test_a_refused_webhook_token_is_not_repeated_in_the_error() -> None:
    from pydantic import ValidationError

    from q2c.config import Settings

    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, webhook_token="short secret!")
    assert "Q2C_WEBHOOK_TOKEN must be" in str(refused.value) and "short secret!" not in str(refused.value)
