"""The go-live backfill's rules (pure): what a run covers, what it decides for each record, what it will
cost, and how far it is.

A backfill plans before it writes. Every NetSuite customer is indexed by its matching keys (cross-system
id, email/website domain, normalized name: ``q2c.domain.matching``); every Salesforce account in scope is
then matched against that index by the same rules as account sync, one decision per account: *link* (one
candidate, with the rule and key that found it), *already linked*, *create* the customer (nothing
matches), *park* (several candidates, listed; or a customer two accounts claim), or *skip* (with why).
Customers that no account claimed get an account created (or are skipped). A dry run stops there: the
report is what the real run would do. The real run writes the decisions, NetSuite first.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from q2c.domain.matching import AccountCandidate, MatchKind, MatchResult, email_domain, normalize_company_name
from q2c.domain.sync import Side

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class Scope(StrEnum):
    ACCOUNTS = "accounts"  # link accounts and customers: match, link, or create
    CONTACTS = "contacts"  # contacts of linked accounts -> NetSuite contacts
    OPPORTUNITIES = "opportunities"  # won deals with no sales order: order them, or only report them
    INVOICES = "invoices"  # NetSuite invoices (and what payments left due) -> NetSuite_Invoice__c
    CATALOG = "catalog"  # the catalog sync, in full


SCOPE_ORDER = [Scope.ACCOUNTS, Scope.CONTACTS, Scope.OPPORTUNITIES, Scope.INVOICES, Scope.CATALOG]


class OpportunityMode(StrEnum):
    REPORT = "report"  # list the won deals that have no sales order
    ORDER = "order"  # and start each one's order workflow (order:{opportunity id}), as a deal close does


class Action(StrEnum):
    LINK = "link"
    ALREADY_LINKED = "already_linked"
    CREATE_CUSTOMER = "create_customer"
    CREATE_ACCOUNT = "create_account"
    UPSERT_CONTACT = "upsert_contact"
    START_ORDER = "start_order"
    UPSERT_INVOICE = "upsert_invoice"
    PARK = "park"
    SKIP = "skip"
    # An account the filters leave out: matched all the same (so no customer it matches gets a second
    # account), never written; the reason says what it would be.
    OUT_OF_SCOPE = "out_of_scope"


# The actions that write; the others are reported only.
WRITING = frozenset(
    {
        Action.LINK,
        Action.CREATE_CUSTOMER,
        Action.CREATE_ACCOUNT,
        Action.UPSERT_CONTACT,
        Action.START_ORDER,
        Action.UPSERT_INVOICE,
    }
)


class RowStatus(StrEnum):
    PLANNED = "planned"  # decided; written only by a real run
    DONE = "done"
    FAILED = "failed"  # a write refused for good: parked in the report, the run goes on


class BackfillFilters(BaseModel):
    """Which records a run acts on. Matching always looks at every customer, so a filter never makes a
    duplicate of a record it left out."""

    model_config = ConfigDict(extra="forbid")

    since: dt.date | None = None  # created (accounts, customers, contacts) / closed / dated on or after
    until: dt.date | None = None  # ... on or before
    subsidiary: str | None = None  # NetSuite subsidiary id (accounts: the one their currency books in)
    ids: list[str] = Field(default_factory=list)  # Salesforce ids and NetSuite internal ids to act on

    @field_validator("subsidiary")
    @classmethod
    def _subsidiary(cls, value: str | None) -> str | None:
        if value is not None and not value.isdigit():
            raise ValueError(f"subsidiary {value!r} is not a NetSuite internal id (digits)")
        return value

    @field_validator("ids")
    @classmethod
    def _ids(cls, values: list[str]) -> list[str]:
        for value in values:
            if not (value.isdigit() or re.fullmatch(r"[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?", value)):
                raise ValueError(f"{value!r} is neither a Salesforce id nor a NetSuite internal id")
        return list(dict.fromkeys(values))

    def salesforce_ids(self, prefix: str) -> list[str]:
        return [i for i in self.ids if not i.isdigit() and i.startswith(prefix)]

    def netsuite_ids(self) -> list[str]:
        return [i for i in self.ids if i.isdigit()]

    def admits_date(self, value: dt.date | None) -> bool:
        if value is None:
            return self.since is None and self.until is None
        return (self.since is None or value >= self.since) and (self.until is None or value <= self.until)


# --- the customer index ----------------------------------------------------------------------------------
class IndexedCustomer(BaseModel):
    """A NetSuite customer as the backfill indexes it: its keys, and what creating its account needs."""

    id: str
    name: str
    email: str | None = None
    website: str | None = None
    external_id: str | None = None
    cross_id: str | None = None  # the Salesforce account it points at (custom field, externalId, store)
    field_link: str | None = None  # the account id its own custentity_sf_account_id holds
    subsidiary: str | None = None
    created: dt.date | None = None
    in_scope: bool = True  # the filters admit it (it is indexed for matching either way)
    values: dict[str, Any] = Field(default_factory=dict)  # its mapped fields, record-API shape

    def candidate(self) -> AccountCandidate:
        return AccountCandidate(
            side=Side.NETSUITE,
            id=self.id,
            name=self.name,
            email=self.email,
            website=self.website,
            cross_id=self.cross_id,
        )

    def name_key(self) -> str:
        return normalize_company_name(self.name)

    def domains(self) -> list[str]:
        return sorted({d for d in (email_domain(self.email), email_domain(self.website)) if d})


class AccountRecord(BaseModel):
    """A Salesforce account as the backfill reads it (one Bulk API row)."""

    id: str
    name: str
    website: str | None = None
    cross_id: str | None = None  # NetSuite_Internal_ID__c, else the customer q2c's store links it to
    field_link: str | None = None  # what its own NetSuite_Internal_ID__c holds
    currency: str | None = None
    created: dt.date | None = None
    values: dict[str, Any] = Field(default_factory=dict)  # its mapped fields

    def candidate(self) -> AccountCandidate:
        return AccountCandidate(
            side=Side.SALESFORCE, id=self.id, name=self.name, website=self.website, cross_id=self.cross_id
        )

    def keys(self) -> tuple[str, list[str]]:
        return normalize_company_name(self.name), sorted(self.candidate().domains())


class Decision(BaseModel):
    """One record's outcome, as planned (and, after a real run, as done). One report row."""

    scope: Scope
    key: str  # the record this row is about: an account, a customer, a contact, a deal, an invoice
    action: Action
    salesforce_id: str | None = None
    netsuite_id: str | None = None
    name: str = ""
    rule: str | None = None  # the matching rule that decided (cross_id, domain, name)
    match_key: str | None = None  # e.g. "same domain acme.com"
    reason: str | None = None  # why parked or skipped
    candidates: list[str] = Field(default_factory=list)  # "id 'name' (why)" of a parked record
    # What the write needs: the new record's fields; for a link, which sides still lack the other's id.
    body: dict[str, Any] = Field(default_factory=dict)
    needs_netsuite: bool = False
    needs_salesforce: bool = False


def account_decision(
    account: AccountRecord,
    result: MatchResult,
    *,
    create_customers: bool,
    new_customer: dict[str, Any] | str | None,
    customer_links: dict[str, str | None] | None = None,
) -> Decision:
    """What to do with one account, given how it matched the customer index. ``new_customer`` is the body
    a created customer would get, or the reason it cannot be made (a currency with no subsidiary).
    ``customer_links`` (customer id -> the account id its own field holds) says which side still lacks
    the other's id: a link known only to q2c's store is written on the records too."""
    base = Decision(
        scope=Scope.ACCOUNTS, key=account.id, action=Action.SKIP, salesforce_id=account.id, name=account.name
    )
    if result.kind in (MatchKind.LINKED, MatchKind.UNIQUE):
        match = result.matches[0]
        customer = match.candidate
        account_points = account.field_link == customer.id
        links = customer_links if customer_links is not None else {customer.id: customer.cross_id}
        customer_points = links.get(customer.id) == account.id
        update = {
            "netsuite_id": customer.id,
            "rule": match.rule.value,
            "match_key": match.reason,
            "needs_salesforce": not account_points,
            "needs_netsuite": not customer_points,
        }
        if account_points and customer_points:
            return base.model_copy(update={**update, "action": Action.ALREADY_LINKED})
        return base.model_copy(update={**update, "action": Action.LINK})
    if result.kind is MatchKind.AMBIGUOUS:
        return base.model_copy(
            update={
                "action": Action.PARK,
                "rule": result.rule.value if result.rule else None,
                "reason": f"{len(result.matches)} NetSuite customers match equally by "
                f"{result.rule.value if result.rule else 'match'}; choose one "
                f"(q2c choose-match {account.id} --record-id ID, or --create)",
                "candidates": [f"{m.candidate.id} {m.candidate.name!r} ({m.reason})" for m in result.matches],
            }
        )
    if account.cross_id:
        return base.model_copy(
            update={
                "reason": f"points at NetSuite customer {account.cross_id}, which is not an active customer"
            }
        )
    if not create_customers:
        return base.model_copy(update={"reason": "no NetSuite customer matches; creating customers is off"})
    if isinstance(new_customer, str) or new_customer is None:
        return base.model_copy(update={"action": Action.PARK, "reason": new_customer or "cannot be created"})
    return base.model_copy(
        update={
            "action": Action.CREATE_CUSTOMER,
            "body": new_customer,
            "needs_netsuite": True,
            "needs_salesforce": True,
            "reason": "no NetSuite customer matches",
        }
    )


def out_of_scope(decision: Decision) -> Decision:
    """An account outside the filters: its match still counts (it claims its customer), nothing is written."""
    kept = decision.netsuite_id if decision.action in (Action.LINK, Action.ALREADY_LINKED) else None
    return decision.model_copy(
        update={
            "action": Action.OUT_OF_SCOPE,
            "netsuite_id": kept,
            "needs_netsuite": False,
            "needs_salesforce": False,
            "body": {},
            "reason": f"outside this run's filters (would be: {decision.action.value}"
            + (f", {decision.match_key}" if decision.match_key else "")
            + ")",
        }
    )


def claimed_twice(decision: Decision, others: list[str]) -> Decision:
    """A customer two or more accounts would link to: none of them links; a person decides."""
    return decision.model_copy(
        update={
            "action": Action.PARK,
            "needs_netsuite": False,
            "needs_salesforce": False,
            "reason": f"NetSuite customer {decision.netsuite_id} is matched by {len(others) + 1} accounts "
            f"({', '.join([decision.key, *others][:5])}); q2c links none of them",
            "candidates": [f"{decision.netsuite_id} ({decision.match_key})"],
        }
    )


def customer_decision(
    customer: IndexedCustomer, *, claimed_by_park: str | None, create_accounts: bool
) -> Decision:
    """What to do with a customer no account of the run claimed (a claimed one is its account's row).
    A created account is a copy of the customer, read whole when it is written."""
    base = Decision(
        scope=Scope.ACCOUNTS, key=customer.id, action=Action.SKIP, netsuite_id=customer.id, name=customer.name
    )
    if claimed_by_park:
        return base.model_copy(
            update={"action": Action.PARK, "reason": f"a candidate of parked account {claimed_by_park}"}
        )
    if customer.cross_id:
        return base.model_copy(
            update={
                "salesforce_id": customer.cross_id,
                "reason": f"points at Salesforce account {customer.cross_id}, which this run did not read",
            }
        )
    if not create_accounts:
        return base.model_copy(update={"reason": "no Salesforce account matches; creating accounts is off"})
    return base.model_copy(
        update={
            "action": Action.CREATE_ACCOUNT,
            "needs_salesforce": True,
            "needs_netsuite": True,
            "reason": "no Salesforce account matches",
        }
    )


# --- cost and progress -----------------------------------------------------------------------------------
# Calls one Bulk API 2.0 ingest job takes: create, upload, close, the successful and failed results, and
# its state polls (simple-salesforce polls about every 2 s; Salesforce writes some thousands of records a
# second): about one poll per 1,000 records, two at least.
BULK_JOB_CALLS = 5
BULK_POLL_RECORDS = 1000
COLLECTION_SIZE = 200
# Salesforce calls an order workflow makes (bench.orders measures 4.9 per new order).
ORDER_SALESFORCE_CALLS = 5


def salesforce_write_calls(records: int, *, batch: int, threshold: int) -> int:
    """Salesforce API calls to write ``records`` in batches of ``batch``: a Bulk API job per batch at or
    over ``threshold`` records, else sObject Collections of 200."""
    calls = 0
    for start in range(0, records, batch):
        size = min(batch, records - start)
        if size >= threshold:
            calls += BULK_JOB_CALLS + max(2, math.ceil(size / BULK_POLL_RECORDS))
        else:
            calls += math.ceil(size / COLLECTION_SIZE)
    return calls


class ApiBudget(BaseModel):
    """The Salesforce API allowance of one run."""

    budget: int | None = None  # calls the run may use (None: only the reserve holds)
    reserve_percent: float = 20.0
    used_at_start: int | None = None  # the org's usage (Sforce-Limit-Info) when the run began
    daily_max: int | None = None

    def allowance(self) -> int | None:
        """Calls the run may still make in all (None: unknown, no limit known)."""
        limits = []
        if self.budget is not None:
            limits.append(self.budget)
        if self.daily_max is not None and self.used_at_start is not None:
            limits.append(int(self.daily_max * (1 - self.reserve_percent / 100)) - self.used_at_start)
        return min(limits) if limits else None

    def used(self, org_used: int | None) -> int:
        if org_used is None or self.used_at_start is None:
            return 0
        return max(0, org_used - self.used_at_start)

    def refusal(self, org_used: int | None, projected_more: int) -> str | None:
        """Why going on would break the budget, or None."""
        allowance = self.allowance()
        if allowance is None:
            return None
        used = self.used(org_used)
        if used + projected_more <= allowance:
            return None
        parts = [f"the run has used {used} Salesforce API calls and projects {projected_more} more"]
        if self.budget is not None:
            parts.append(f"its budget is {self.budget}")
        if self.daily_max is not None:
            parts.append(
                f"the org's daily allocation is {self.daily_max} with {self.reserve_percent:g}% kept for others"
            )
        return "; ".join(parts) + " — raise the budget (signal set_budget) or narrow the filters"


def eta_seconds(done: int, total: int, elapsed_seconds: float) -> float | None:
    if done <= 0 or elapsed_seconds <= 0 or total <= done:
        return None if total > done else 0.0
    return (total - done) * elapsed_seconds / done
