"""Messages of the bookings-vs-billings reconciliation (``workflows.reconciliation``): its input (what
``temporal workflow start --input`` takes), its status (query, result, web-UI details) and its activities'
inputs and outputs. Records never cross here: the activities keep them in q2c's store, keyed by period;
the rules are ``q2c.domain.reconciliation``."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from q2c.domain.messages.common import ActivityLimits
from q2c.domain.reconciliation import DEFAULT_UNBILLED_AFTER_DAYS, Period, Summary


class ReconcileOptions(ActivityLimits):
    """How a run reads and writes (the starter fills these from settings)."""

    bulk_threshold: int = Field(default=2000, ge=1)  # opportunity updates at or above: a Bulk API 2.0 job
    poll_seconds: float = 1.0  # Bulk API job state polling
    heartbeat_seconds: float = Field(default=60.0, ge=5)
    retry_every_seconds: float = Field(default=3600.0, ge=1)  # a parked run looks again this often


class ReconcileRequest(BaseModel):
    """The input of ``Reconcile`` (JSON on the CLI): ``{"period": "2026-11"}`` is enough."""

    model_config = ConfigDict(extra="forbid")

    period: str
    reporting_currency: str | None = None  # None: the starter's Q2C_REPORTING_CURRENCY
    unbilled_after_days: int = Field(default=DEFAULT_UNBILLED_AFTER_DAYS, ge=0, le=3650)
    as_of: dt.date | None = None  # None: the day the run starts (workflow time)
    salesforce_api_budget: int | None = Field(default=None, ge=1)  # None: Q2C_RECONCILE_SALESFORCE_API_BUDGET
    options: ReconcileOptions = Field(default_factory=ReconcileOptions)

    @field_validator("period")
    @classmethod
    def _period(cls, value: str) -> str:
        return Period.parse(value).label

    @field_validator("reporting_currency")
    @classmethod
    def _currency(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 3 or not value.isalpha()):
            raise ValueError(f"reporting currency {value!r} is not an ISO currency code such as USD")
        return value.upper() if value else None


class ReconcileStage(StrEnum):
    READING_SALESFORCE = "reading_salesforce"
    READING_NETSUITE = "reading_netsuite"
    COMPARING = "comparing"
    WRITING_REPORT = "writing_report"
    WRITING_SALESFORCE = "writing_salesforce"
    NEEDS_ATTENTION = "needs_attention"  # e.g. no exchange rate: waits for the retry signal or a timer
    OVER_BUDGET = "over_budget"  # the write-back would pass the run's API budget: waits for set_budget
    DONE = "done"


class ReconcileStatus(BaseModel):
    """The ``status`` query and the result."""

    period: str
    stage: ReconcileStage = ReconcileStage.READING_SALESFORCE
    problem: str | None = None
    bookings: int = 0
    orders: int = 0
    summary: Summary | None = None
    report_html: str | None = None
    report_csv: str | None = None
    report_url: str | None = None
    reconciliation_id: str | None = None  # the Reconciliation__c record
    opportunities_written: int = 0
    opportunities_cleared: int = 0  # marked by an earlier run of the period, no longer in it
    write_failures: list[str] = []
    salesforce_calls: int = 0  # counted on the org's usage header from the run's start
    salesforce_api_budget: int | None = None


# -- activities ------------------------------------------------------------------------------------


class ReadBookings(BaseModel):
    period: str


class BookingsRead(BaseModel):
    bookings: int
    open_opportunities: int
    # The worker's settings, for a run whose input leaves them out (started by hand or by a schedule).
    default_reporting_currency: str = "USD"
    default_api_budget: int | None = None
    api_used_at_start: int | None  # the org's usage before the run's first call (Sforce-Limit-Info)
    api_used: int | None


class ReadActuals(BaseModel):
    period: str
    reporting_currency: str
    as_of: dt.date


class ActualsRead(BaseModel):
    orders: int
    rates: int
    unknown_opportunities: int  # opportunity ids orders name that are not bookings: looked up next
    unnamed_orders: int = 0  # orders naming no opportunity: is one named by an opportunity? looked up next


class ReadReferenced(BaseModel):
    period: str


class ReferencedRead(BaseModel):
    found: int
    missing: int
    orders_named: int = 0
    api_used: int | None = None


class Compare(BaseModel):
    period: str
    reporting_currency: str
    as_of: dt.date
    unbilled_after_days: int


class Compared(BaseModel):
    summary: Summary
    opportunities_to_write: int  # rows with an opportunity, and earlier marks to clear (an estimate)


class WriteReport(BaseModel):
    period: str
    generated_at: dt.datetime


class ReportWritten(BaseModel):
    html_path: str
    csv_path: str
    url: str
    rows: int


class WriteBack(BaseModel):
    period: str
    report_url: str
    run_at: dt.datetime
    bulk_threshold: int
    poll_seconds: float = 1.0


class WrittenBack(BaseModel):
    reconciliation_id: str
    opportunities: int
    cleared: int
    failures: list[str] = []
    api_used: int | None
