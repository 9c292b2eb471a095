"""Salesforce record ids: the 15- and 18-character forms and the checksum between them (pure logic)."""

from __future__ import annotations

import pytest

from q2c.domain.salesforce_ids import (
    InvalidSalesforceId,
    normalize_salesforce_id,
    salesforce_id_or_none,
    to_18,
)

# Published pairs (Salesforce help and CASESAFEID() examples) and ids the sandbox hands out.
KNOWN_PAIRS = [
    ("001D000000IqhSL", "001D000000IqhSLIAZ"),
    ("a0D30000001n7Pi", "a0D30000001n7PiEAI"),
    ("0019000000B98de", "0019000000B98deAAB"),
    ("006000000000001", "006000000000001AAA"),
    ("00D000000000Q2C", "00D000000000Q2CEAU"),
]


@pytest.mark.parametrize(("id15", "id18"), KNOWN_PAIRS)
def test_the_checksum_matches_salesforce(id15: str, id18: str) -> None:
    assert to_18(id15) == id18


@pytest.mark.parametrize(("id15", "id18"), KNOWN_PAIRS)
def test_both_forms_normalise_to_the_18_character_one(id15: str, id18: str) -> None:
    assert normalize_salesforce_id(id15) == id18
    assert normalize_salesforce_id(id18) == id18


@pytest.mark.parametrize(
    ("given", "problem"),
    [
        ("001D000000IqhSLAAA", "checksum AAA does not match its first 15 characters (expected IAZ)"),
        # Case lost on the way (a spreadsheet, a case-insensitive database): the suffix no longer fits.
        ("001D000000IQHSLIAZ", "checksum IAZ does not match its first 15 characters (expected IA5)"),
        ("001D000000IqhS", "has 14 characters; a Salesforce id has 15 or 18"),
        ("", "has 0 characters"),
        ("001D000000Iqh-L", "has characters other than A-Z, a-z and 0-9"),
        ("001D000000Iqh\u00e9L", "has characters other than A-Z, a-z and 0-9"),
    ],
)
def test_a_wrong_id_is_refused_naming_it_and_the_problem(given: str, problem: str) -> None:
    with pytest.raises(InvalidSalesforceId) as raised:
        normalize_salesforce_id(given)

    assert f"{given!r}" in str(raised.value)
    assert problem in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_to_18_takes_only_15_characters() -> None:
    with pytest.raises(InvalidSalesforceId, match="has 18 characters"):
        to_18("001D000000IqhSLIAZ")


def test_an_external_id_is_taken_for_a_record_id_only_when_it_is_one() -> None:
    assert salesforce_id_or_none("006000000000001", "006") == to_18("006000000000001")
    assert salesforce_id_or_none("onb-12ab", "006") is None
    assert salesforce_id_or_none("001000000000001AAA", "006") is None  # an account's id, not a deal's
    assert salesforce_id_or_none("006000000000001ZZZ", "006") is None  # a checksum that does not fit
    assert salesforce_id_or_none(None, "006") is None
