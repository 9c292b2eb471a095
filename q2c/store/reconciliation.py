"""A reconciliation's working set and results, in q2c's database, keyed by period.

What each read step found (bookings, NetSuite actuals, the opportunities orders name, the exchange rates)
and what the comparison made of it (one row per opportunity or unexplained order, and the summary).
Every write replaces what the same step wrote for the period before, in one transaction, so a retried
activity or a rerun of the period never counts anything twice.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Index, delete
from sqlmodel import Field, Session, SQLModel, col, select

from q2c.domain.reconciliation import (
    Actual,
    Booking,
    ExchangeRate,
    OpportunityState,
    PipelineBucket,
    Row,
    Summary,
)
from q2c.store.store import Store

_PAGE = 1000


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ReconBooking(SQLModel, table=True):
    __tablename__ = "recon_booking"

    period: str = Field(primary_key=True)
    opportunity_id: str = Field(primary_key=True)
    record: str  # Booking as JSON


class ReconActual(SQLModel, table=True):
    __tablename__ = "recon_actual"
    __table_args__ = (Index("ix_recon_actual_opportunity", "period", "opportunity_id"),)

    period: str = Field(primary_key=True)
    sales_order_id: str = Field(primary_key=True)
    opportunity_id: str | None = None
    record: str  # Actual as JSON


class ReconReferenced(SQLModel, table=True):
    """An opportunity a sales order of the period names that is not one of its bookings."""

    __tablename__ = "recon_referenced"

    period: str = Field(primary_key=True)
    opportunity_id: str = Field(primary_key=True)
    record: str | None = None  # OpportunityState as JSON; None: Salesforce has no such opportunity
    looked_up: bool = False


class ReconNamedOrder(SQLModel, table=True):
    """A sales order of the period with no opportunity id that no booking names: the opportunity whose
    NetSuite_Sales_Order_ID__c names it, if any (looked up in Salesforce)."""

    __tablename__ = "recon_named_order"

    period: str = Field(primary_key=True)
    sales_order_id: str = Field(primary_key=True)
    record: str | None = None  # OpportunityState as JSON; None: no opportunity names it
    looked_up: bool = False


class ReconRow(SQLModel, table=True):
    __tablename__ = "recon_row"

    period: str = Field(primary_key=True)
    key: str = Field(primary_key=True)  # the opportunity id, or so:{sales order id}
    opportunity_id: str | None = None
    exception: bool = False
    record: str  # Row as JSON


class ReconRun(SQLModel, table=True):
    """A period's small parts: open pipeline, rates, summary and where the report went."""

    __tablename__ = "recon_run"

    period: str = Field(primary_key=True)
    pipeline: str = "[]"
    rates: str = "[]"
    summary: str | None = None
    report: str | None = None  # {"html": path, "csv": path, "url": url}
    updated_at: dt.datetime = Field(default_factory=_now)


class ReconciliationStore:
    """The reconciliation tables, on the same database (and engine) as the rest of q2c's store."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    def _run(self, session: Session, period: str) -> ReconRun:
        return session.get(ReconRun, period) or ReconRun(period=period)

    # -- bookings (Salesforce) -------------------------------------------------------------------
    def replace_bookings(
        self, period: str, bookings: Iterable[Booking], pipeline: list[PipelineBucket]
    ) -> int:
        count = 0
        with Session(self.engine) as session:
            session.execute(delete(ReconBooking).where(col(ReconBooking.period) == period))
            for b in bookings:
                session.add(
                    ReconBooking(period=period, opportunity_id=b.opportunity_id, record=b.model_dump_json())
                )
                count += 1
            run = self._run(session, period)
            run.pipeline = json.dumps([p.model_dump(mode="json") for p in pipeline])
            run.updated_at = _now()
            session.add(run)
            session.commit()
        return count

    def bookings(self, period: str) -> Iterator[Booking]:
        for record in self._records(ReconBooking, period, ReconBooking.opportunity_id):
            yield Booking.model_validate_json(record)

    def booking_keys(self, period: str) -> tuple[list[str], list[str]]:
        """The period's opportunity ids, and the sales order ids bookings name."""
        ids: list[str] = []
        orders: list[str] = []
        for b in self.bookings(period):
            ids.append(b.opportunity_id)
            if b.sales_order_id:
                orders.append(b.sales_order_id)
        return ids, orders

    def pipeline(self, period: str) -> list[PipelineBucket]:
        with Session(self.engine) as session:
            run = session.get(ReconRun, period)
            return [PipelineBucket.model_validate(p) for p in json.loads(run.pipeline)] if run else []

    # -- actuals (NetSuite) ----------------------------------------------------------------------
    def replace_actuals(
        self, period: str, actuals: Iterable[Actual], rates: list[ExchangeRate]
    ) -> tuple[list[str], list[str]]:
        """Store the orders and rates; returns the opportunity ids orders name that are not bookings, and
        the orders that name no opportunity and that no booking names (to look up in Salesforce next)."""
        with Session(self.engine) as session:
            for table in (ReconActual, ReconReferenced, ReconNamedOrder):
                session.execute(delete(table).where(col(table.period) == period))
            bookings = [
                Booking.model_validate_json(r)
                for r in session.exec(
                    select(ReconBooking.record).where(col(ReconBooking.period) == period)
                ).all()
            ]
            booked = {b.opportunity_id for b in bookings}
            named_by_bookings = {b.sales_order_id for b in bookings if b.sales_order_id}
            unknown: set[str] = set()
            orphans: set[str] = set()
            for a in actuals:
                session.add(
                    ReconActual(
                        period=period,
                        sales_order_id=a.sales_order_id,
                        opportunity_id=a.opportunity_id,
                        record=a.model_dump_json(),
                    )
                )
                if a.opportunity_id and a.opportunity_id not in booked:
                    unknown.add(a.opportunity_id)
                elif not a.opportunity_id and a.sales_order_id not in named_by_bookings:
                    orphans.add(a.sales_order_id)
            for opportunity_id in unknown:
                session.add(ReconReferenced(period=period, opportunity_id=opportunity_id))
            for order_id in orphans:
                session.add(ReconNamedOrder(period=period, sales_order_id=order_id))
            run = self._run(session, period)
            run.rates = json.dumps([r.model_dump(mode="json") for r in rates])
            run.updated_at = _now()
            session.add(run)
            session.commit()
        return sorted(unknown), sorted(orphans, key=lambda i: (len(i), i))

    def actuals(self, period: str) -> Iterator[Actual]:
        for record in self._records(ReconActual, period, ReconActual.sales_order_id):
            yield Actual.model_validate_json(record)

    def rates(self, period: str) -> list[ExchangeRate]:
        with Session(self.engine) as session:
            run = session.get(ReconRun, period)
            return [ExchangeRate.model_validate(r) for r in json.loads(run.rates)] if run else []

    def unknown_opportunities(self, period: str) -> list[str]:
        with Session(self.engine) as session:
            return list(
                session.exec(
                    select(ReconReferenced.opportunity_id)
                    .where(col(ReconReferenced.period) == period)
                    .order_by(col(ReconReferenced.opportunity_id))
                ).all()
            )

    def unnamed_orders(self, period: str) -> list[str]:
        with Session(self.engine) as session:
            return list(
                session.exec(
                    select(ReconNamedOrder.sales_order_id)
                    .where(col(ReconNamedOrder.period) == period)
                    .order_by(col(ReconNamedOrder.sales_order_id))
                ).all()
            )

    def put_naming(self, period: str, found: dict[str, OpportunityState | None]) -> None:
        self._put_looked_up(ReconNamedOrder, "sales_order_id", period, found)

    def naming_orders(self, period: str) -> dict[str, OpportunityState]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(ReconNamedOrder).where(
                    col(ReconNamedOrder.period) == period, col(ReconNamedOrder.looked_up)
                )
            ).all()
            return {
                r.sales_order_id: OpportunityState.model_validate_json(r.record) for r in rows if r.record
            }

    def put_referenced(self, period: str, found: dict[str, OpportunityState | None]) -> None:
        self._put_looked_up(ReconReferenced, "opportunity_id", period, found)

    def _put_looked_up(
        self, table: Any, key: str, period: str, found: dict[str, OpportunityState | None]
    ) -> None:
        """What Salesforce said for each looked-up key (None: nothing), marked as looked up."""
        with Session(self.engine) as session:
            for value, state in found.items():
                row = session.get(table, (period, value)) or table(period=period, **{key: value})
                row.record = state.model_dump_json() if state else None
                row.looked_up = True
                session.add(row)
            session.commit()

    def referenced(self, period: str) -> dict[str, OpportunityState | None]:
        with Session(self.engine) as session:
            rows = session.exec(
                select(ReconReferenced).where(
                    col(ReconReferenced.period) == period, col(ReconReferenced.looked_up)
                )
            ).all()
            return {
                r.opportunity_id: OpportunityState.model_validate_json(r.record) if r.record else None
                for r in rows
            }

    # -- results ---------------------------------------------------------------------------------
    def replace_rows(self, period: str, rows: Iterable[Row], summary: Summary) -> int:
        count = 0
        with Session(self.engine) as session:
            session.execute(delete(ReconRow).where(col(ReconRow.period) == period))
            for row in rows:
                session.add(
                    ReconRow(
                        period=period,
                        key=row.key,
                        opportunity_id=row.opportunity_id,
                        exception=bool(row.findings),
                        record=row.model_dump_json(),
                    )
                )
                count += 1
            run = self._run(session, period)
            run.summary = summary.model_dump_json()
            run.updated_at = _now()
            session.add(run)
            session.commit()
        return count

    def rows(self, period: str) -> Iterator[Row]:
        for record in self._records(ReconRow, period, ReconRow.key):
            yield Row.model_validate_json(record)

    def summary(self, period: str) -> Summary | None:
        with Session(self.engine) as session:
            run = session.get(ReconRun, period)
            return Summary.model_validate_json(run.summary) if run and run.summary else None

    def put_report(self, period: str, report: dict[str, str]) -> None:
        with Session(self.engine) as session:
            run = self._run(session, period)
            run.report = json.dumps(report)
            run.updated_at = _now()
            session.add(run)
            session.commit()

    def report(self, period: str) -> dict[str, str] | None:
        with Session(self.engine) as session:
            run = session.get(ReconRun, period)
            return json.loads(run.report) if run and run.report else None

    # -- paging ----------------------------------------------------------------------------------
    def _records(self, table: Any, period: str, key: Any) -> Iterator[str]:
        """The period's JSON records in key order, a page at a time (keyset, so memory stays flat)."""
        last: str | None = None
        while True:
            with Session(self.engine) as session:
                query = select(key, table.record).where(col(table.period) == period)
                if last is not None:
                    query = query.where(col(key) > last)
                page = session.exec(query.order_by(col(key)).limit(_PAGE)).all()
            for k, record in page:
                yield record
                last = k
            if len(page) < _PAGE:
                return
