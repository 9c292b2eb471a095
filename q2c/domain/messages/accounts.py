"""The account sync workflows' inputs, signals and status, and their activities' inputs and outputs.

The decisions themselves (baseline, plan, field conversion) are ``q2c.domain.account_sync``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from q2c.domain.account_sync import AccountStage, AccountState, Baseline, ContactState
from q2c.domain.matching import AccountCandidate, Match
from q2c.domain.messages.common import ActivityLimits


# --- account sync workflows ---------------------------------------------------------------------------------
class AccountSyncOptions(ActivityLimits):
    # Continue-as-new after this many syncs (or when Temporal suggests it), carrying the state.
    syncs_per_run: int = 200


class SalesforceAccountChanged(BaseModel):
    """Signal: a Salesforce account changed (outbound message, SOQL poller, CLI)."""

    account_id: str
    modified_by: str | None = None
    source: str = "unknown"


class NetSuiteCustomerChanged(BaseModel):
    """Signal: a NetSuite customer changed (NetSuite poller, or the intake of a NetSuite-born customer)."""

    customer_id: str
    source: str = "unknown"


class SalesforceContactChanged(BaseModel):
    """Signal: a Salesforce contact of this account changed."""

    contact_id: str
    modified_by: str | None = None
    source: str = "unknown"


class ChooseMatch(BaseModel):
    """Signal: a person settles an ambiguous match: link to `record_id`, or `create` a new record."""

    record_id: str | None = None
    create: bool = False


class SyncRetry(BaseModel):
    reason: str = ""


MAX_DECISIONS = 20  # kept in the workflow status for operators


class LinkedContact(BaseModel):
    netsuite_id: str
    written_hash: str


class AccountSyncStatus(BaseModel):
    """The state of one pair's workflow: carried through continue-as-new, answered by the status query."""

    account_id: str
    netsuite_customer_id: str | None = None
    stage: AccountStage = AccountStage.MATCHING
    message: str = ""
    candidates: list[Match] = Field(default_factory=list)  # while an ambiguous match waits
    baseline: Baseline | None = None
    is_customer: bool = False
    subsidiary_id: str | None = None
    integration_user_id: str | None = None
    contacts: dict[str, LinkedContact] = Field(default_factory=dict)
    pending_contacts: list[str] = Field(default_factory=list)
    # The customer id still to write on the account (NetSuite_Internal_ID__c): sent with the first
    # sync's Salesforce write, so linking costs no call of its own.
    link_to_write: str | None = None
    pending_salesforce: bool = False
    pending_netsuite: bool = False
    events: int = 0
    echoes_suppressed: int = 0
    syncs: int = 0
    salesforce_writes: int = 0
    netsuite_writes: int = 0
    contact_writes: int = 0
    decisions: list[str] = Field(default_factory=list)

    def note(self, decisions: list[str]) -> None:
        self.decisions = [*self.decisions, *decisions][-MAX_DECISIONS:]


class AccountSyncInput(BaseModel):
    account_id: str
    options: AccountSyncOptions = Field(default_factory=AccountSyncOptions)
    resume: AccountSyncStatus | None = None


class CustomerIntakeInput(BaseModel):
    customer_id: str
    options: AccountSyncOptions = Field(default_factory=AccountSyncOptions)


class CustomerIntakeStatus(BaseModel):
    customer_id: str
    stage: AccountStage = AccountStage.MATCHING
    message: str = ""
    candidates: list[Match] = Field(default_factory=list)
    account_id: str | None = None
    outcome: str = ""  # how the account was found: "already linked", "matched: <reason>", "created", ...


# --- their activities ---------------------------------------------------------------------------------------
class ReadAccountState(BaseModel):
    account_id: str
    fields: list[str]  # mapped Salesforce fields


class ReadCustomerState(BaseModel):
    customer_id: str
    fields: list[str]  # mapped NetSuite fields
    known_customer: bool = False  # skip the "has transactions" query once it is known
    # Also skip it when the mapped values hash to this (the baseline): an echo, to be dropped unsynced.
    unchanged_hash: str | None = None


class MaybeAccountState(BaseModel):
    state: AccountState | None = None  # None: the record does not exist (deleted)


class FindCandidates(BaseModel):
    """Look in the other system for records `record` might be."""

    record: AccountCandidate
    limit: int = 50


class Candidates(BaseModel):
    candidates: list[AccountCandidate]


class WriteFields(BaseModel):
    record_id: str
    fields: dict[str, Any]


class CreateCustomer(BaseModel):
    account_id: str
    fields: dict[str, Any]


class CreateAccount(BaseModel):
    customer_id: str
    fields: dict[str, Any]


class CreatedRecord(BaseModel):
    record_id: str


class LinkPair(BaseModel):
    account_id: str
    customer_id: str


class ReadContact(BaseModel):
    contact_id: str
    fields: list[str]


class MaybeContact(BaseModel):
    contact: ContactState | None = None


class UpsertContact(BaseModel):
    contact_id: str
    body: dict[str, Any]


class StartAccountSync(BaseModel):
    """Hand a pair to its `account:{id}` workflow (signal-with-start)."""

    account_id: str
    customer_id: str | None = None
    source: str
