"""Field rules for the Account <-> customer and Contact sync: mapping values, mastership, conflicts, echoes.

Pure functions over plain dicts (no I/O, no clock), so the entity workflow can call them deterministically.
The rules come from the mapping file (`q2c.domain.mapping.load_mapping(...).account.fields`); the loader
has already validated them and resolved `map_from` into `transform.map`, so a rule is self-contained and
survives a trip through Temporal's pydantic data converter.

Semantics in one place:

* `direction` bounds which way a field may ever flow. `both` is a shared field: a change on either side is
  copied to the other, and when both sides changed since the last sync `resolve_conflict` picks the newer
  one, with the current master as tie-break.
* `master` says who is authoritative *now*. For one-way fields it also gates the flow: a `to_netsuite`
  field with `salesforce_until_customer` stops flowing once the account is a customer (NetSuite refuses a
  currency change on a customer with transactions, for example).
* Only the keys present in the input are mapped: pass the changed fields, not the whole record, so a field
  nobody touched is never rewritten (and a value shortened by `max_length` never travels back).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_FIELD_NAME = r"^[A-Za-z][A-Za-z0-9_]*$"


class Side(StrEnum):
    SALESFORCE = "salesforce"
    NETSUITE = "netsuite"


class Direction(StrEnum):
    BOTH = "both"
    TO_NETSUITE = "to_netsuite"
    TO_SALESFORCE = "to_salesforce"


class Master(StrEnum):
    SALESFORCE = "salesforce"
    NETSUITE = "netsuite"
    # Sales owns the account while it is a prospect; once it is a customer finance owns it in NetSuite.
    SALESFORCE_UNTIL_CUSTOMER = "salesforce_until_customer"


class Transform(BaseModel):
    """Value transforms, applied in this order: strip, lowercase, map (or its inverse), max_length."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    strip: bool = False
    lowercase: bool = False
    # Applied to whatever is written (either side): the shorter side's limit is the one that matters.
    max_length: int | None = Field(default=None, ge=1)
    # Salesforce value -> NetSuite value; inverted when reading NetSuite.
    map: dict[str, str] | None = None
    # A table of the mapping file whose entries become `map`, e.g. "currencies" (-> netsuite_currency) or
    # "currencies.subsidiary". The loader fills `map` from it; kept so errors and dumps can name it.
    map_from: str | None = None


class FieldRule(BaseModel):
    """One line of the mapping file: a Salesforce field, its NetSuite field and how values travel."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group: str = Field(pattern=r"^[a-z][a-z0-9_]*$")  # free-form label: identity, finance, custom, ...
    salesforce: str = Field(pattern=_FIELD_NAME)
    netsuite: str = Field(pattern=_FIELD_NAME)
    direction: Direction
    master: Master
    # The NetSuite field is a record reference: written as {"id": value}, read from {"id": ..., ...}.
    reference: bool = False
    transform: Transform = Field(default_factory=Transform)

    def master_side(self, *, is_customer: bool) -> Side:
        """The side whose value is authoritative for this field right now."""
        if self.master is Master.SALESFORCE:
            return Side.SALESFORCE
        if self.master is Master.NETSUITE:
            return Side.NETSUITE
        return Side.NETSUITE if is_customer else Side.SALESFORCE

    def flows_to(self, target: Side, *, is_customer: bool) -> bool:
        """Whether a change on the other side is copied to `target` right now."""
        if self.direction is Direction.BOTH:
            return True
        source = Side.SALESFORCE if self.direction is Direction.TO_NETSUITE else Side.NETSUITE
        return target is not source and self.master_side(is_customer=is_customer) is source

    def target_field(self, target: Side) -> str:
        return self.netsuite if target is Side.NETSUITE else self.salesforce


class MappingValueError(ValueError):
    """A value cannot be mapped (e.g. a picklist value missing from the map); names record, field, value.

    Deterministic: retrying will not help, so the workflow should park the record in Needs Attention.
    """

    def __init__(self, record_id: str, field: str, problem: str) -> None:
        self.record_id = record_id
        self.field = field
        self.problem = problem
        super().__init__(f"record {record_id}, field {field}: {problem}")


def to_netsuite(
    rules: Iterable[FieldRule],
    salesforce_values: Mapping[str, Any],
    *,
    is_customer: bool,
    record_id: str | None = None,
) -> dict[str, Any]:
    """NetSuite field -> value for the Salesforce fields given that may flow to NetSuite now.

    `record_id` defaults to `salesforce_values["Id"]`; it only serves error messages.
    """
    rid = record_id or str(salesforce_values.get("Id") or "?")
    return _convert(rules, salesforce_values, Side.NETSUITE, is_customer=is_customer, record_id=rid)


def to_salesforce(
    rules: Iterable[FieldRule],
    netsuite_values: Mapping[str, Any],
    *,
    is_customer: bool,
    record_id: str | None = None,
) -> dict[str, Any]:
    """Salesforce field -> value for the NetSuite fields given that may flow to Salesforce now.

    References may come as `{"id": "1", "refName": ...}` (REST) or as the bare id (SuiteQL).
    `record_id` defaults to `netsuite_values["id"]`; it only serves error messages.
    """
    rid = record_id or str(netsuite_values.get("id") or "?")
    return _convert(rules, netsuite_values, Side.SALESFORCE, is_customer=is_customer, record_id=rid)


def target_fields(rules: Iterable[FieldRule], target: Side, *, is_customer: bool) -> list[str]:
    """The fields q2c writes on `target` now: project a record read back onto these for `is_echo`."""
    return [r.target_field(target) for r in rules if r.flows_to(target, is_customer=is_customer)]


def _convert(
    rules: Iterable[FieldRule],
    values: Mapping[str, Any],
    target: Side,
    *,
    is_customer: bool,
    record_id: str,
) -> dict[str, Any]:
    source = Side.SALESFORCE if target is Side.NETSUITE else Side.NETSUITE
    out: dict[str, Any] = {}
    for rule in rules:
        source_field = rule.target_field(source)
        if source_field not in values or not rule.flows_to(target, is_customer=is_customer):
            continue
        value = _transform(rule, values[source_field], target, record_id)
        if rule.reference and target is Side.NETSUITE and value is not None:
            value = {"id": value}
        out[rule.target_field(target)] = value
    return out


def _transform(rule: FieldRule, value: Any, target: Side, record_id: str) -> Any:
    source_field = rule.target_field(Side.SALESFORCE if target is Side.NETSUITE else Side.NETSUITE)
    if rule.reference and target is Side.SALESFORCE and isinstance(value, Mapping):
        value = value.get("id")
    if value is None:
        return None  # a cleared field clears the other side; nothing to transform
    t = rule.transform
    if isinstance(value, str):
        if t.strip:
            value = value.strip()
        if t.lowercase:
            value = value.lower()
    if t.map is not None:
        table = t.map if target is Side.NETSUITE else {v: k for k, v in t.map.items()}
        key = value if isinstance(value, str) else str(value)
        if key not in table:
            # Never drop or pass through an unknown value: the other side would reject it or, worse,
            # store something nobody chose. A person extends the map instead.
            where = f"the map from {t.map_from}" if t.map_from else "the picklist map"
            raise MappingValueError(
                record_id,
                source_field,
                f"value {value!r} has no entry in {where} to {rule.target_field(target)}; "
                "add it to the mapping file",
            )
        value = table[key]
    if t.max_length is not None and isinstance(value, str):
        value = value[: t.max_length]
    return value


def resolve_conflict(
    rule: FieldRule,
    salesforce_modified_at: datetime,
    netsuite_modified_at: datetime,
    *,
    is_customer: bool,
) -> Side:
    """The side whose value stands when both sides changed a field since the last sync.

    Shared (`both`) fields: the newer change wins; equal times go to the current master. Times are compared
    to the whole second because NetSuite reports modification times to the second (Salesforce to the
    millisecond): a sub-second lead is noise, not evidence. One-way fields: the current master, always.
    """
    if salesforce_modified_at.tzinfo is None or netsuite_modified_at.tzinfo is None:
        raise ValueError("resolve_conflict needs timezone-aware datetimes")
    master = rule.master_side(is_customer=is_customer)
    if rule.direction is not Direction.BOTH:
        return master
    sf = int(salesforce_modified_at.timestamp())
    ns = int(netsuite_modified_at.timestamp())
    if sf == ns:
        return master
    return Side.SALESFORCE if sf > ns else Side.NETSUITE


def written_hash(values: Mapping[str, Any]) -> str:
    """A hash of field values that ignores key order and number formatting (1500 == 1500.0 == Decimal("1.5E3")).

    Also equal: None and "" (Salesforce stores an empty string as null), and a nested reference
    `{"id": "1", "refName": "USD", "links": [...]}` and `{"id": "1"}` (what q2c writes vs what it reads).
    """
    canonical = {str(k): _canonical(v) for k, v in values.items()}
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def is_echo(values: Mapping[str, Any], last_written_hash: str | None) -> bool:
    """Whether `values` (the written fields, read back) are exactly what q2c last wrote to that side."""
    return last_written_hash is not None and written_hash(values) == last_written_hash


def _canonical(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, bool):  # before numbers: True is an int, but not a number here
        return value
    if isinstance(value, int | float | Decimal):
        number = Decimal(str(value)).normalize()
        # Tagged so the number 1 and the string "1" stay different values.
        return {"#": format(number if number != 0 else Decimal(0), "f")}
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        if "id" in value:
            return None if value["id"] in (None, "") else _canonical(str(value["id"]))
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
