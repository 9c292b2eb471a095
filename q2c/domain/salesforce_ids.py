"""Salesforce record ids: the case-sensitive 15-character form, the 18-character form and its checksum.

The last 3 characters of an 18-character id encode which of the first 15 are upper case (one character
per 5, from ``A``-``Z0``-``5``), so a checksum that does not fit means the id was mistyped, had its case
changed, or was made up. q2c keys everything (workflow ids, external ids) by the 18-character form.
"""

from __future__ import annotations

import re

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_CHARACTERS = re.compile(r"[A-Za-z0-9]*")


class InvalidSalesforceId(ValueError):
    """Not a Salesforce id: wrong length or characters, or an 18-character id whose checksum does not fit."""


def _checked_characters(record_id: str, lengths: tuple[int, ...]) -> None:
    if len(record_id) not in lengths:
        allowed = " or ".join(str(n) for n in lengths)
        raise InvalidSalesforceId(
            f"Salesforce id {record_id!r} has {len(record_id)} characters; a Salesforce id has {allowed}"
        )
    if not _CHARACTERS.fullmatch(record_id):
        raise InvalidSalesforceId(f"Salesforce id {record_id!r} has characters other than A-Z, a-z and 0-9")


def to_18(record_id: str) -> str:
    """The 18-character form of a 15-character id: the id and its 3-character checksum."""
    _checked_characters(record_id, (15,))
    suffix = ""
    for start in (0, 5, 10):
        chunk = record_id[start : start + 5]
        suffix += _SUFFIX_ALPHABET[sum(1 << i for i, char in enumerate(chunk) if "A" <= char <= "Z")]
    return record_id + suffix


def normalize_salesforce_id(record_id: str) -> str:
    """The 18-character form of a 15- or 18-character id; an 18-character one must have its checksum."""
    _checked_characters(record_id, (15, 18))
    expected = to_18(record_id[:15])
    if len(record_id) == 18 and record_id != expected:
        raise InvalidSalesforceId(
            f"Salesforce id {record_id!r}: checksum {record_id[15:]} does not match its first 15 characters "
            f"(expected {expected[15:]}); the id was mistyped or its letter case was changed"
        )
    return expected


def salesforce_id_or_none(value: str | None, key_prefix: str) -> str | None:
    """``value`` as an 18-character id of the object with ``key_prefix`` (``006`` Opportunity, ``001``
    Account), or None when it is not one: an external id from another system is just text."""
    if not value or not value.startswith(key_prefix):
        return None
    try:
        return normalize_salesforce_id(value)
    except InvalidSalesforceId:
        return None
