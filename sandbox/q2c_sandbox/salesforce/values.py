"""Record ids, Salesforce date/time formats, and turning JSON input into typed field values."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from q2c_sandbox.salesforce.errors import ApiError, bad_request
from q2c_sandbox.salesforce.schema import FieldDef

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ID_RE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# ---- ids -------------------------------------------------------------------------------------------


def id_suffix(id15: str) -> str:
    """The 3-character case-safe checksum Salesforce appends to a 15-character id."""
    out = []
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        out.append(_SUFFIX_ALPHABET[bits])
    return "".join(out)


def make_id(key_prefix: str, sequence: int, instance: str = "00") -> str:
    """An 18-character id laid out as Salesforce's: key prefix, 2-character instance (pod), a reserved
    character, a 9-character base-62 counter, the checksum. Two sandboxes with different ``instance``
    values never hand out the same id (as two real orgs on different pods never do)."""
    digits = []
    n = sequence
    while n:
        n, rem = divmod(n, 62)
        digits.append(BASE62[rem])
    id15 = key_prefix + instance + "0" + "".join(reversed(digits)).rjust(9, "0")
    return id15 + id_suffix(id15)


def looks_like_id(value: str) -> bool:
    return bool(_ID_RE.match(value))


def id_key(record_id: str) -> str:
    """The case-sensitive 15-character form every id is stored and looked up by."""
    return record_id[:15]


# ---- dates and times -------------------------------------------------------------------------------


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_datetime(value: dt.datetime) -> str:
    """``2026-01-05T10:00:00.000+0000``: the only datetime format the REST API emits."""
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def parse_datetime(text: str) -> dt.datetime | None:
    """Parse the ISO-8601 variants Salesforce accepts on input (``Z``, ``+0000``, ``+00:00``, no offset)."""
    candidate = text.strip()
    if candidate.endswith("Z"):
        candidate = candidate[:-1] + "+00:00"
    match = re.match(r"^(.*[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)([+-]\d{2})(\d{2})$", candidate)
    if match:
        candidate = f"{match.group(1)}{match.group(2)}:{match.group(3)}"
    try:
        parsed = dt.datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def parse_date(text: str) -> dt.date | None:
    if not _DATE_RE.match(text.strip()):
        return None
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        return None


# ---- input coercion --------------------------------------------------------------------------------


def _type_error(f: FieldDef, value: Any) -> ApiError:
    return bad_request(
        "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{f.label}: value not of required type: {value}", [f.name]
    )


def _number(f: FieldDef, value: Any) -> float | int:
    if isinstance(value, bool):
        raise _type_error(f, value)
    if isinstance(value, int | float):
        number: float | int = value
    elif isinstance(value, str):
        try:
            number = float(Decimal(value.strip()))
        except (InvalidOperation, ValueError):
            raise _type_error(f, value) from None
    else:
        raise _type_error(f, value)
    if f.type == "int":
        if float(number) != int(number):
            raise _type_error(f, value)
        return int(number)
    return float(number)


def coerce_value(f: FieldDef, value: Any) -> Any:
    """The stored (wire) form of ``value`` for field ``f``; raises ApiError as Salesforce would.

    Picklist membership and reference existence are checked by the caller, which knows the org.
    """
    if value is None or (value == "" and f.type != "boolean"):
        return None
    if f.type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _type_error(f, value)
    if f.is_number:
        return _number(f, value)
    if f.type == "date":
        if isinstance(value, str):
            parsed_date = parse_date(value)
            if parsed_date is None and (parsed_dt := parse_datetime(value)) is not None:
                parsed_date = parsed_dt.date()
            if parsed_date is not None:
                return parsed_date.isoformat()
        raise _type_error(f, value)
    if f.type == "datetime":
        if isinstance(value, str):
            parsed = parse_datetime(value)
            if parsed is None and (only_date := parse_date(value)) is not None:
                parsed = dt.datetime.combine(only_date, dt.time(), dt.UTC)
            if parsed is not None:
                return format_datetime(parsed)
        raise _type_error(f, value)
    if f.type in ("reference", "id"):
        if not isinstance(value, str) or not looks_like_id(value):
            raise bad_request("MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}", [f.name])
        return value
    # Text-like fields: JSON numbers are accepted and stored as their text, as the real API does.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _type_error(f, value)
    text = value if isinstance(value, str) else str(value)
    if f.length is not None and len(text) > f.length:
        raise bad_request(
            "STRING_TOO_LONG", f"{f.label}: data value too large: {text} (max length={f.length})", [f.name]
        )
    if f.type == "email" and not _EMAIL_RE.match(text):
        raise bad_request("INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {text}", [f.name])
    if f.type == "picklist" and f.values:
        canonical = next((v for v in f.values if v.lower() == text.lower()), None)
        if canonical is not None:
            return canonical
        raise bad_request(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{f.label}: bad value for restricted picklist field: {text}",
            [f.name],
        )
    return text
