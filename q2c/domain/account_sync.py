"""Account <-> customer sync decisions (pure). The account workflows' messages (inputs, signals, status,
activity inputs and outputs) are in ``q2c.domain.messages.accounts``.

One account/customer pair is synced by comparing each side with the *baseline*: the values of the mapped
fields on both sides right after q2c last synced the pair. A field whose value differs from the baseline
changed since; the field rules (`q2c.domain.sync`) say where the change goes:

* only one side changed -> copied to the other side, if the rule lets it flow that way now;
* both changed, to different values -> `resolve_conflict`: the newer record modification wins, the
  current master breaks a tie;
* one-way fields (balance, currency) are state: the source's value is written whenever it flows and the
  target differs, so an edit on the wrong side is put back;
* the first sync of a newly linked pair has no baseline: equal values stay, a blank side is filled from the
  other, and different values go the master's way.

Because the baseline is what q2c wrote, q2c's own writes read back as "no change": that is the second loop
guard (`written_hash` of a side equals the hash of its baseline). The first guard, "the change was made by
q2c's integration user", is applied to Salesforce change events before anything is read.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from q2c.domain.mapping import CurrencyMapping
from q2c.domain.matching import AccountCandidate
from q2c.domain.sync import (
    Direction,
    FieldRule,
    MappingValueError,
    Side,
    resolve_conflict,
    to_netsuite,
    to_salesforce,
    written_hash,
)


class AccountStage(StrEnum):
    """Where an account sync workflow is; also its ``Q2CStage`` search attribute (shared with orders)."""

    MATCHING = "matching"  # looking for the other side's record
    NEEDS_ATTENTION = "needs_attention"  # ambiguous match or a record/field problem; a person acts
    IN_SYNC = "in_sync"  # linked, waiting for changes
    SYNCING = "syncing"
    HANDED_OVER = "handed_over"  # a NetSuite-born customer's intake, done: the pair's workflow took over
    DELETED = "deleted"  # the Salesforce account is gone; nothing left to sync


def plain(value: Any) -> Any:
    """A JSON-native copy of a field value (Decimal -> float, dates -> ISO text) that survives Temporal."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def same_value(a: Any, b: Any) -> bool:
    """Equal as field values: 1500 == 1500.0, None == "", {"id": "1", "refName": ..} == {"id": "1"}."""
    return written_hash({"v": a}) == written_hash({"v": b})


def _blank(value: Any) -> bool:
    return value is None or value == "" or (isinstance(value, dict) and value.get("id") in (None, ""))


class AccountState(BaseModel):
    """One side of a pair as read: the mapped fields (by that side's field names) and record metadata."""

    side: Side
    id: str
    values: dict[str, Any] = Field(default_factory=dict)
    modified_at: dt.datetime
    modified_by: str | None = None  # Salesforce LastModifiedById
    # The user q2c's session acts as (Salesforce): the integration user, for loop guard 1.
    reader_user_id: str | None = None
    cross_id: str | None = None  # the other system's id this record carries
    name: str = ""
    email: str | None = None
    website: str | None = None
    subsidiary_id: str | None = None  # NetSuite: where contacts of this customer are created
    is_customer: bool = False  # NetSuite: the customer has transactions (mastership changes)
    external_id: str | None = None  # NetSuite externalId

    def candidate(self) -> AccountCandidate:
        return AccountCandidate(
            side=self.side,
            id=self.id,
            name=self.name,
            email=self.email,
            website=self.website,
            cross_id=self.cross_id,
        )


def projection(rules: list[FieldRule], side: Side, values: dict[str, Any]) -> dict[str, Any]:
    """The values of every mapped field of `side` (absent ones as None)."""
    return {field: values.get(field) for field in _fields(rules, side)}


def _fields(rules: list[FieldRule], side: Side) -> list[str]:
    return [rule.target_field(side) for rule in rules]


class Baseline(BaseModel):
    """Both sides' mapped values right after q2c last synced the pair."""

    salesforce: dict[str, Any]
    netsuite: dict[str, Any]

    def side(self, side: Side) -> dict[str, Any]:
        return self.salesforce if side is Side.SALESFORCE else self.netsuite

    def hash(self, side: Side) -> str:
        return written_hash(self.side(side))


class SyncPlan(BaseModel):
    to_netsuite: dict[str, Any] = Field(default_factory=dict)
    to_salesforce: dict[str, Any] = Field(default_factory=dict)
    decisions: list[str] = Field(default_factory=list)

    def writes(self, side: Side) -> dict[str, Any]:
        return self.to_salesforce if side is Side.SALESFORCE else self.to_netsuite


def _convert(rule: FieldRule, value: Any, target: Side, record_id: str, *, is_customer: bool) -> Any:
    source = Side.SALESFORCE if target is Side.NETSUITE else Side.NETSUITE
    convert = to_netsuite if target is Side.NETSUITE else to_salesforce
    # `flows_to` is checked by the caller; a one-field rule copy lets the value through either way.
    free = rule.model_copy(update={"direction": Direction.BOTH})
    out = convert([free], {rule.target_field(source): value}, is_customer=is_customer, record_id=record_id)
    return out[rule.target_field(target)]


def _in_sync(rule: FieldRule, sf: AccountState, ns: AccountState, *, is_customer: bool) -> bool:
    sf_value, ns_value = sf.values.get(rule.salesforce), ns.values.get(rule.netsuite)
    for target, value, current, record in (
        (Side.NETSUITE, sf_value, ns_value, sf.id),
        (Side.SALESFORCE, ns_value, sf_value, ns.id),
    ):
        try:
            if same_value(_convert(rule, value, target, record, is_customer=is_customer), current):
                return True
        except ValueError:
            continue  # unmappable one way: the write (if any) reports it
    return False


def plan_sync(
    rules: list[FieldRule],
    sf: AccountState,
    ns: AccountState,
    baseline: Baseline | None,
    *,
    is_customer: bool,
) -> SyncPlan:
    """What to write on each side so the pair agrees with the rules (raises MappingValueError)."""
    plan = SyncPlan()
    for rule in rules:
        if _in_sync(rule, sf, ns, is_customer=is_customer):
            continue
        source = _source(rule, sf, ns, baseline, is_customer=is_customer, plan=plan)
        if source is None:
            continue
        target = Side.NETSUITE if source is Side.SALESFORCE else Side.SALESFORCE
        if not rule.flows_to(target, is_customer=is_customer):
            continue
        state = sf if source is Side.SALESFORCE else ns
        value = _convert(
            rule, state.values.get(rule.target_field(source)), target, state.id, is_customer=is_customer
        )
        if rule.reference and target is Side.NETSUITE and value is not None and not isinstance(value, dict):
            value = {"id": value}
        plan.writes(target)[rule.target_field(target)] = value
    return plan


def _source(
    rule: FieldRule,
    sf: AccountState,
    ns: AccountState,
    baseline: Baseline | None,
    *,
    is_customer: bool,
    plan: SyncPlan,
) -> Side | None:
    """Which side's value of `rule` should stand, noting the decision; None to leave the field alone."""
    label = f"{rule.salesforce}/{rule.netsuite}"
    master = rule.master_side(is_customer=is_customer)
    if rule.direction is not Direction.BOTH:
        source = Side.SALESFORCE if rule.direction is Direction.TO_NETSUITE else Side.NETSUITE
        if master is not source:
            return None
        plan.decisions.append(f"{label}: {source.value} is master; its value is copied")
        return source
    sf_value, ns_value = sf.values.get(rule.salesforce), ns.values.get(rule.netsuite)
    if baseline is None:
        if _blank(sf_value) != _blank(ns_value):
            source = Side.NETSUITE if _blank(sf_value) else Side.SALESFORCE
            plan.decisions.append(f"{label}: first sync, blank on one side; {source.value}'s value is copied")
            return source
        plan.decisions.append(f"{label}: first sync, the two differ; the master ({master.value}) wins")
        return master
    sf_changed = not same_value(sf_value, baseline.salesforce.get(rule.salesforce))
    ns_changed = not same_value(ns_value, baseline.netsuite.get(rule.netsuite))
    if sf_changed and ns_changed:
        winner = resolve_conflict(rule, sf.modified_at, ns.modified_at, is_customer=is_customer)
        why = (
            "same second, the master wins"
            if int(sf.modified_at.timestamp()) == int(ns.modified_at.timestamp())
            else "the newer change wins"
        )
        plan.decisions.append(
            f"{label}: changed on both sides (Salesforce {sf.modified_at.isoformat()}, NetSuite "
            f"{ns.modified_at.isoformat()}); {why}: {winner.value}"
        )
        return winner
    if sf_changed or ns_changed:
        source = Side.SALESFORCE if sf_changed else Side.NETSUITE
        plan.decisions.append(f"{label}: changed in {source.value}; copied")
        return source
    return None  # different, but neither side changed since the last sync (e.g. a value cut to length)


def baseline_after(rules: list[FieldRule], sf: AccountState, ns: AccountState, plan: SyncPlan) -> Baseline:
    """The baseline once `plan` is written: each side as read, with q2c's writes applied."""
    return Baseline(
        salesforce=projection(rules, Side.SALESFORCE, {**sf.values, **plan.to_salesforce}),
        netsuite=projection(rules, Side.NETSUITE, {**ns.values, **plan.to_netsuite}),
    )


def is_unchanged(rules: list[FieldRule], state: AccountState, baseline: Baseline | None) -> bool:
    """Loop guard 2: this side's mapped values are exactly what q2c last left there (written or read)."""
    if baseline is None:
        return False
    return written_hash(projection(rules, state.side, state.values)) == baseline.hash(state.side)


def new_customer_fields(
    rules: list[FieldRule], sf: AccountState, currencies: dict[str, CurrencyMapping]
) -> dict[str, Any]:
    """The body of a NetSuite customer created for a Salesforce account with no match (a prospect).

    Every field that flows to NetSuite while a prospect, plus the subsidiary the account's currency books
    in (NetSuite OneWorld requires one). Raises MappingValueError naming the account and field.
    """
    body = to_netsuite(rules, sf.values, is_customer=False, record_id=sf.id)
    currency = sf.values.get("CurrencyIsoCode") or "USD"  # Salesforce's default when the field is empty
    target = currencies.get(currency)
    if target is None:
        raise MappingValueError(
            sf.id,
            "CurrencyIsoCode",
            f"currency {currency!r} has no NetSuite subsidiary in the mapping file; add [currencies.{currency}]",
        )
    body["subsidiary"] = {"id": target.subsidiary}
    if _blank(body.get("currency")):
        body["currency"] = {"id": target.netsuite_currency}
    if not body.get("companyName"):
        raise MappingValueError(sf.id, "Name", "the account has no name; NetSuite requires a company name")
    return body


def new_account_fields(rules: list[FieldRule], ns: AccountState) -> dict[str, Any]:
    """The fields of a Salesforce account created for a NetSuite-born customer with no match.

    Every mapped field NetSuite has a value for, whatever its direction: the account starts as a copy of
    the customer (its currency included, or the first sync would push Salesforce's default currency back
    onto the customer). Raises MappingValueError naming the customer and field.
    """
    fields: dict[str, Any] = {}
    for rule in rules:
        value = ns.values.get(rule.netsuite)
        if not _blank(value):
            fields[rule.salesforce] = _convert(
                rule, value, Side.SALESFORCE, ns.id, is_customer=ns.is_customer
            )
    if not fields.get("Name"):
        fields["Name"] = ns.name
    return {k: v for k, v in fields.items() if v is not None}


# --- contacts ------------------------------------------------------------------------------------------
class ContactState(BaseModel):
    """A Salesforce contact as read: the mapped fields and what q2c needs to place it in NetSuite."""

    id: str
    account_id: str | None
    values: dict[str, Any] = Field(default_factory=dict)
    modified_by: str | None = None
    netsuite_id: str | None = None  # Contact.NetSuite_Internal_ID__c


def contact_body(
    rules: list[FieldRule], contact: ContactState, *, customer_id: str, subsidiary_id: str | None
) -> dict[str, Any]:
    """The NetSuite contact for `contact`, under its company. No email is fine; names are required."""
    body = to_netsuite(rules, contact.values, is_customer=False, record_id=contact.id)
    body["company"] = {"id": customer_id}
    if subsidiary_id:
        body["subsidiary"] = {"id": subsidiary_id}
    return body
