"""The activities of a bookings-vs-billings reconciliation: reads of both systems into q2c's store, the
comparison (the pure rules of ``q2c.domain.reconciliation`` over the stored records), the report files,
and the write-back to Salesforce. Each replaces what it wrote for the period before, so a retry or a
rerun of the period never counts twice."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.backfill import heartbeating, progress
from activities.errors import api_errors
from q2c.connectors.netsuite import NetSuiteClient
from q2c.connectors.netsuite_reconciliation import NetSuiteActuals
from q2c.connectors.salesforce import SalesforceClient
from q2c.connectors.salesforce_reconciliation import (
    SalesforceBookings,
    opportunity_fields,
    reconciliation_fields,
)
from q2c.domain.messages.reconciliation import (
    ActualsRead,
    BookingsRead,
    Compare,
    Compared,
    ReadActuals,
    ReadBookings,
    ReadReferenced,
    ReferencedRead,
    ReportWritten,
    WriteBack,
    WriteReport,
    WrittenBack,
)
from q2c.domain.reconciliation import MissingRates, Period, pipeline_buckets, reconcile, summarise
from q2c.reports.reconciliation import write_csv, write_html
from q2c.store import Store
from q2c.store.reconciliation import ReconciliationStore
from workflows import names

MISSING_RATE = "MissingExchangeRate"
NOTHING_TO_RECONCILE = "NothingToReconcile"


def _used(client: SalesforceClient) -> int | None:
    usage = client.api_usage
    return usage[0] if usage else None


class NetSuiteReconciliationActivities:
    """The NetSuite reads of a reconciliation (on the NetSuite queue: one slot of q2c's share)."""

    task_queue: ClassVar[str] = names.NETSUITE_TASK_QUEUE

    def __init__(self, client: NetSuiteClient, store: Store) -> None:
        self._actuals = NetSuiteActuals(client)
        self._store = ReconciliationStore(store)

    @activity.defn(name="reconcile_read_actuals")
    @heartbeating
    async def read_actuals(self, request: ReadActuals) -> ActualsRead:
        """Sales orders of the period's bookings and of its dates, with billing, credits, payments and
        revenue; the consolidated rates of its months."""
        period = Period.parse(request.period)
        opportunity_ids, order_ids = await asyncio.to_thread(self._store.booking_keys, request.period)
        with api_errors():
            progress("orders", len(opportunity_ids))
            orders = await self._actuals.orders(period, opportunity_ids, order_ids, request.as_of)
            progress("billing", len(orders))
            actuals = await self._actuals.actuals(orders, request.as_of)
            rates = await self._actuals.rates(period, request.reporting_currency)
        unknown, unnamed = await asyncio.to_thread(
            self._store.replace_actuals, request.period, actuals, rates
        )
        return ActualsRead(
            orders=len(actuals),
            rates=len(rates),
            unknown_opportunities=len(unknown),
            unnamed_orders=len(unnamed),
        )


class ReconciliationActivities:
    """The Salesforce calls, the comparison and the report of a reconciliation (on the q2c queue)."""

    task_queue: ClassVar[str] = names.TASK_QUEUE

    def __init__(
        self,
        client: SalesforceClient,
        store: Store,
        reports_dir: Path,
        reports_base_url: str | None = None,
        default_currency: str = "USD",
        default_budget: int | None = None,
    ) -> None:
        self._client = client
        self._salesforce = SalesforceBookings(client)
        self._store = ReconciliationStore(store)
        self._reports_dir = reports_dir
        self._base_url = reports_base_url
        self._default_currency = default_currency
        self._default_budget = default_budget

    @activity.defn(name="reconcile_read_bookings")
    @heartbeating
    async def read_bookings(self, request: ReadBookings) -> BookingsRead:
        """The period's won opportunities with their lines, and its open pipeline by forecast category."""
        period = Period.parse(request.period)
        with api_errors():
            await asyncio.to_thread(self._client.call, "read of limits", lambda sf: sf.limits())
            at_start = _used(self._client)
            bookings = await asyncio.to_thread(self._salesforce.bookings, period, self._default_currency)
            progress("bookings", len(bookings))
            open_rows = await asyncio.to_thread(self._salesforce.open_pipeline, period)
        count = await asyncio.to_thread(
            self._store.replace_bookings, request.period, bookings, pipeline_buckets(open_rows)
        )
        return BookingsRead(
            bookings=count,
            open_opportunities=len(open_rows),
            api_used_at_start=at_start - 1 if at_start is not None else None,  # before the limits call
            api_used=_used(self._client),
            default_reporting_currency=self._default_currency,
            default_api_budget=self._default_budget,
        )

    @activity.defn(name="reconcile_read_referenced")
    @heartbeating
    async def read_referenced(self, request: ReadReferenced) -> ReferencedRead:
        """What Salesforce has for the opportunities orders name that are not the period's bookings, and
        which opportunity names each order that names none."""
        ids = await asyncio.to_thread(self._store.unknown_opportunities, request.period)
        orders = await asyncio.to_thread(self._store.unnamed_orders, request.period)
        with api_errors():
            found = await asyncio.to_thread(self._salesforce.opportunity_states, ids)
            naming = await asyncio.to_thread(self._salesforce.opportunities_naming, orders)
        await asyncio.to_thread(self._store.put_referenced, request.period, found)
        await asyncio.to_thread(self._store.put_naming, request.period, naming)
        missing = sum(1 for v in found.values() if v is None)
        return ReferencedRead(
            found=len(found) - missing,
            missing=missing,
            orders_named=sum(1 for v in naming.values() if v is not None),
            api_used=_used(self._client),
        )

    @activity.defn(name="reconcile_compare")
    @heartbeating
    async def compare(self, request: Compare) -> Compared:
        """Pair bookings and actuals, give each difference its reason, total it up; store the rows."""
        return await asyncio.to_thread(self._compare, request)

    def _compare(self, request: Compare) -> Compared:
        period = Period.parse(request.period)
        rows = reconcile(
            self._store.bookings(request.period),
            self._store.actuals(request.period),
            period,
            as_of=request.as_of,
            referenced=self._store.referenced(request.period),
            naming_orders=self._store.naming_orders(request.period),
            unbilled_after_days=request.unbilled_after_days,
        )
        try:
            summary = summarise(
                rows,
                period,
                as_of=request.as_of,
                reporting_currency=request.reporting_currency,
                rates=self._store.rates(request.period),
                pipeline=self._store.pipeline(request.period),
                unbilled_after_days=request.unbilled_after_days,
            )
        except MissingRates as exc:
            raise ApplicationError(str(exc), type=MISSING_RATE, non_retryable=True) from None
        self._store.replace_rows(request.period, rows, summary)
        return Compared(summary=summary, opportunities_to_write=sum(1 for r in rows if r.opportunity_id))

    @activity.defn(name="reconcile_write_report")
    @heartbeating
    async def write_report(self, request: WriteReport) -> ReportWritten:
        """The period's CSV (every row) and self-contained HTML page (chart, exceptions)."""
        return await asyncio.to_thread(self._write_report, request)

    def _write_report(self, request: WriteReport) -> ReportWritten:
        summary = self._store.summary(request.period)
        if summary is None:
            raise ApplicationError(
                f"reconciliation {request.period} has no comparison to report",
                type=NOTHING_TO_RECONCILE,
                non_retryable=True,
            )
        self._reports_dir.mkdir(parents=True, exist_ok=True)
        stem = f"reconciliation-{request.period}"
        html_path, csv_path = self._reports_dir / f"{stem}.html", self._reports_dir / f"{stem}.csv"
        # Written beside, then renamed: a reader never sees half a report.
        tmp_csv, tmp_html = csv_path.with_suffix(".csv.tmp"), html_path.with_suffix(".html.tmp")
        count = write_csv(tmp_csv, self._store.rows(request.period), summary)
        write_html(
            tmp_html,
            self._store.rows(request.period),
            summary,
            generated_at=request.generated_at,
            record_url=lambda record_id: self._client.record_url("Opportunity", record_id),
        )
        tmp_csv.replace(csv_path)
        tmp_html.replace(html_path)
        url = (
            f"{self._base_url.rstrip('/')}/{html_path.name}"
            if self._base_url
            else html_path.resolve().as_uri()
        )
        report = {"html": str(html_path), "csv": str(csv_path), "url": url}
        self._store.put_report(request.period, report)
        return ReportWritten(html_path=str(html_path), csv_path=str(csv_path), url=url, rows=count)

    @activity.defn(name="reconcile_write_back")
    @heartbeating
    async def write_back(self, request: WriteBack) -> WrittenBack:
        """Each opportunity's status and variance fields (clearing those an earlier run of the period
        marked that are no longer in it), and the period's ``Reconciliation__c``."""
        summary = await asyncio.to_thread(self._store.summary, request.period)
        if summary is None:
            raise ApplicationError(
                f"reconciliation {request.period} has no comparison to write",
                type=NOTHING_TO_RECONCILE,
                non_retryable=True,
            )
        rows = [
            r
            for r in await asyncio.to_thread(lambda: list(self._store.rows(request.period)))
            if r.opportunity_id
        ]
        records = [opportunity_fields(r, request.period, request.run_at) for r in rows]
        current = {r.opportunity_id for r in rows}
        with api_errors():
            marked = await asyncio.to_thread(self._salesforce.marked, request.period)
            stale = [i for i in marked if i not in current and i[:15] not in {c[:15] for c in current if c}]
            records += [
                {
                    "Id": i,
                    "Reconciliation_Status__c": None,
                    "Reconciliation_Period__c": None,
                    "Reconciliation_Reasons__c": None,
                    "Order_Variance__c": None,
                    "Billing_Variance__c": None,
                    "Recognized_Revenue__c": None,
                    "Reconciled_At__c": None,
                }
                for i in stale
            ]
            progress("opportunities", len(records))
            outcomes = await asyncio.to_thread(
                self._salesforce.write_opportunities,
                records,
                threshold=request.bulk_threshold,
                poll_seconds=request.poll_seconds,
            )
            reconciliation_id = await asyncio.to_thread(
                self._salesforce.upsert_reconciliation,
                request.period,
                reconciliation_fields(summary, request.report_url, request.run_at),
            )
        failures = [f"Opportunity {o.key}: {o.error}" for o in outcomes if o.error]
        return WrittenBack(
            reconciliation_id=reconciliation_id,
            opportunities=len(rows) - sum(1 for o in outcomes if o.error and o.key in current),
            cleared=len(stale),
            failures=failures[:20],
            api_used=_used(self._client),
        )
