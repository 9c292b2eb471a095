"""Messages of the go-live backfill (``workflows.backfill``): its input, its status (the progress query,
the result, and what a continue-as-new carries: counters and cursors, never records), its signals, and
its activities' inputs and outputs. The rules are ``q2c.domain.backfill``; the rows live in q2c's store."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from q2c.domain.backfill import (
    RUN_ID,
    SCOPE_ORDER,
    ApiBudget,
    BackfillFilters,
    OpportunityMode,
    Scope,
)
from q2c.domain.mapping import Mapping
from q2c.domain.messages.common import ActivityLimits


class BackfillOptions(ActivityLimits):
    """How a run pages and paces itself (the starter fills these from settings)."""

    page_size: int = Field(default=2000, ge=100, le=50_000)  # records per planning page
    netsuite_batch: int = Field(default=50, ge=1, le=1000)  # NetSuite writes per activity (one slot each)
    netsuite_slots: int = Field(default=4, ge=1)  # NetSuite write activities at once: q2c's share
    salesforce_batch: int = Field(default=10_000, ge=1, le=100_000)  # Salesforce writes per activity
    bulk_threshold: int = Field(default=2000, ge=1)  # at or above: a Bulk API 2.0 job; below: Collections
    batches_per_run: int = Field(default=200, ge=1)  # then continue-as-new
    poll_seconds: float = 1.0  # Bulk API job state polling
    # A worker that dies mid-activity is noticed within this (every activity heartbeats every 2 s).
    heartbeat_seconds: float = Field(default=30.0, ge=5)


class BackfillRequest(BaseModel):
    """The input of ``Backfill`` (what ``temporal workflow start --input`` takes, as JSON)."""

    model_config = ConfigDict(extra="forbid")

    run_id: str | None = None  # default: the workflow id's suffix (backfill:{run id})
    scopes: list[Scope] = Field(default_factory=lambda: [Scope.ACCOUNTS])
    dry_run: bool = False
    filters: BackfillFilters = Field(default_factory=BackfillFilters)
    opportunities: OpportunityMode = OpportunityMode.REPORT
    create_customers: bool = True  # an account nothing matches gets a NetSuite customer
    create_accounts: bool = True  # a customer no account claims gets a Salesforce account
    # Salesforce API calls this run may use, counted on the org's own usage header; None: the starter's
    # Q2C_BACKFILL_SALESFORCE_API_BUDGET. The run also never leaves less than `api_reserve_percent` of the
    # org's daily allocation to everything else.
    salesforce_api_budget: int | None = None
    api_reserve_percent: float = Field(default=20.0, ge=0, le=100)
    options: BackfillOptions = Field(default_factory=BackfillOptions)
    # Set by the workflow itself when it continues as new: its progress so far (counters and cursors).
    resume: BackfillStatus | None = None

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, values: list[Scope]) -> list[Scope]:
        if not values:
            raise ValueError("name at least one scope: " + ", ".join(s.value for s in Scope))
        return [s for s in SCOPE_ORDER if s in values]

    @field_validator("run_id")
    @classmethod
    def _run_id(cls, value: str | None) -> str | None:
        if value is not None and not RUN_ID.match(value):
            raise ValueError(
                f"run id {value!r}: use 1-64 of A-Z a-z 0-9 _ . - (starting with a letter or digit)"
            )
        return value


class BackfillStage:
    """The ``Q2CStage`` values of a backfill (web-UI queries: ``WorkflowType="Backfill" AND Q2CStage=...``)."""

    STARTING = "starting"
    INDEXING = "indexing_customers"
    PLANNING = "planning"
    WRITING = "writing"
    PAUSED = "paused"
    OVER_BUDGET = "over_budget"
    NEEDS_ATTENTION = "needs_attention"  # a page or batch failed for good: waits for resume, then retries it
    REPORTING = "reporting"
    DONE = "done"
    CANCELLED = "cancelled"


class Phase(BaseModel):
    """Where a scope is: planning (reading pages) or one of the write steps, and its cursor."""

    scope: Scope
    step: str = "index"  # index, plan, plan_customers, resolve, netsuite, salesforce, netsuite_after, done
    job_id: str | None = None  # the Bulk API query job being read
    locator: str | None = None  # its next page ("" for the first)
    after: str = ""  # keyset cursor (NetSuite ids; the index pass)
    next_batch: int = 1  # the first row number not yet handed to a write batch
    step_total: int = 0  # rows of this step
    totals: dict[str, int] = Field(default_factory=dict)  # rows of each write step
    projected: int = 0  # Salesforce calls this scope's writes were projected to take (until written)


class ScopeCounts(BaseModel):
    read: int = 0
    total: int | None = None  # records in scope, once known (the query job's count, SuiteQL COUNT)
    planned: dict[str, int] = Field(default_factory=dict)  # action -> rows
    written: int = 0
    failed: int = 0
    to_write: int = 0  # rows of the write steps, summed
    done_writing: int = 0


class BackfillStatus(BaseModel):
    """The ``status`` query's answer, the workflow's result, and what continue-as-new carries."""

    run_id: str
    dry_run: bool
    scopes: list[Scope]
    stage: str = BackfillStage.STARTING
    paused: bool = False
    pause_reason: str | None = None
    cancelled: bool = False
    started_at: str = ""  # ISO time (workflow time)
    finished_at: str | None = None
    elapsed_seconds: float = 0.0
    phase: Phase | None = None
    scopes_done: list[Scope] = Field(default_factory=list)
    counts: dict[str, ScopeCounts] = Field(default_factory=dict)
    api: ApiBudget = Field(default_factory=ApiBudget)
    salesforce_org_used: int | None = None  # the org's last reported usage (Sforce-Limit-Info)
    salesforce_projected: int = 0  # calls the writes still need (projection)
    # Records the batches reported writing (a batch a crash cut short reports only what its retry wrote;
    # the scopes' written / failed counts come from the rows themselves).
    netsuite_writes: int = 0
    salesforce_writes: int = 0
    runs: int = 1
    batches_this_run: int = 0
    problems: list[str] = Field(default_factory=list)  # the first failures, for the web UI
    report_csv: str | None = None
    report_json: str | None = None
    catalog: dict[str, Any] = Field(default_factory=dict)  # the catalog sync's counts

    def scope_counts(self, scope: Scope) -> ScopeCounts:
        return self.counts.setdefault(scope.value, ScopeCounts())

    def done_and_total(self) -> tuple[int, int]:
        """Records processed and to process so far: planning reads, then writes."""
        done = total = 0
        for counts in self.counts.values():
            done += counts.read + counts.done_writing
            total += max(counts.total or 0, counts.read) + counts.to_write
        return done, total


class SetBudget(BaseModel):
    """Signal: change the run's Salesforce API budget (and resume a run paused over it)."""

    salesforce_api_budget: int | None = None


class PauseRequest(BaseModel):
    reason: str = "paused by an operator"


# --- activities ------------------------------------------------------------------------------------------
class BeginRun(BaseModel):
    run_id: str
    request: BackfillRequest
    fresh: bool  # the first run of a backfill: drop what an earlier run with this id left


class ApiUsage(BaseModel):
    used: int | None = None
    max: int | None = None


class IndexCustomers(BaseModel):
    run_id: str
    filters: BackfillFilters
    mapping: Mapping
    after: str = ""
    limit: int = 1000


class IndexedPage(BaseModel):
    read: int
    in_scope: int
    last: str
    done: bool
    total: int | None = None  # every customer (asked with the first page)


class OpenQuery(BaseModel):
    run_id: str
    scope: Scope
    filters: BackfillFilters
    mapping: Mapping
    poll_seconds: float = 1.0


class QueryOpened(BaseModel):
    job_id: str
    total: int
    api: ApiUsage = Field(default_factory=ApiUsage)


class PlanPage(BaseModel):
    run_id: str
    scope: Scope
    job_id: str
    locator: str
    max_records: int
    request: BackfillRequest
    mapping: Mapping


class PagePlanned(BaseModel):
    read: int
    planned: dict[str, int] = Field(default_factory=dict)
    next_locator: str | None = None  # None: that was the last page
    api: ApiUsage = Field(default_factory=ApiUsage)
    to_check: list[str] = Field(default_factory=list)  # won deals to look for in NetSuite (sales orders)


class CheckOrders(BaseModel):
    run_id: str
    opportunity_ids: list[str]


class OrdersFound(BaseModel):
    found: int = 0
    were_to_order: int = 0  # of them, planned start_order


class PlanCustomers(BaseModel):
    run_id: str
    after: str
    limit: int
    request: BackfillRequest
    mapping: Mapping


class CustomersPlanned(BaseModel):
    read: int
    planned: dict[str, int] = Field(default_factory=dict)
    last: str
    done: bool


class NumberSteps(BaseModel):
    run_id: str
    scope: Scope
    dry_run: bool = True  # a real run also records in q2c's store the pairs the records already link


class StepCounts(BaseModel):
    parked_as_claimed_twice: int = 0
    steps: dict[str, int] = Field(default_factory=dict)  # step -> rows
    planned: dict[str, int] = Field(default_factory=dict)  # action -> rows of the scope, from the store
    salesforce_updates: int = 0  # of the Salesforce step: records updated (a link), upserted (created)
    salesforce_upserts: int = 0
    orders: int = 0


class WriteBatch(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    scope: Scope
    step: str
    first: int
    last: int
    mapping: Mapping
    bulk_threshold: int = 2000
    poll_seconds: float = 1.0


class BatchWritten(BaseModel):
    written: int = 0
    read: int = 0  # rows whose step only reads (a customer copied to a new account, an invoice)
    failed: int = 0
    problems: list[str] = Field(default_factory=list)  # the first few, "key: error"
    api: ApiUsage = Field(default_factory=ApiUsage)


class FinishRun(BaseModel):
    run_id: str
    state: str
    summary: dict[str, Any]


class ReportWritten(BaseModel):
    csv_path: str
    json_path: str


BackfillRequest.model_rebuild()
