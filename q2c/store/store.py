"""q2c's own database: which Salesforce record is which NetSuite record.

SQLite under the data directory by default, Postgres when ``Q2C_DATABASE_URL`` says so. Writes are
idempotent upserts, because activities that make them can be retried.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import TypeVar

from sqlalchemy import Engine, UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, create_engine, select

# Ids per IN (...) list: well inside SQLite's and Postgres' limits on bound parameters.
_IN_CHUNK = 500
T = TypeVar("T")


def first_writer(engine: Engine, attempt: Callable[[Session], tuple[T, SQLModel | None]], what: str) -> T:
    """Run ``attempt`` in a session and commit the row it hands back (None: nothing to write). A
    concurrent insert of the same key loses the race once (IntegrityError); the second try finds the
    winner's row."""
    for _ in range(2):
        with Session(engine) as session:
            result, row = attempt(session)
            if row is None:
                return result
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                continue
            session.refresh(row)
            return result
    raise RuntimeError(f"could not {what}")


class LinkKind(StrEnum):
    ACCOUNT = "account"  # Salesforce Account <-> NetSuite customer
    ORDER = "order"  # Salesforce Opportunity <-> NetSuite sales order
    CONTACT = "contact"  # Salesforce Contact <-> NetSuite contact


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RecordLink(SQLModel, table=True):
    __tablename__ = "record_link"
    __table_args__ = (
        UniqueConstraint("kind", "salesforce_id"),
        UniqueConstraint("kind", "netsuite_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)
    salesforce_id: str
    netsuite_id: str
    created_at: dt.datetime = Field(default_factory=_now)
    updated_at: dt.datetime = Field(default_factory=_now)


class Watermark(SQLModel, table=True):
    """How far a change poller has read a system (its last seen modification time)."""

    __tablename__ = "watermark"

    name: str = Field(primary_key=True)
    value: str
    updated_at: dt.datetime = Field(default_factory=_now)


class CreditRecord(SQLModel, table=True):
    """The credit state q2c last wrote to Salesforce for a NetSuite customer: only changes are written."""

    __tablename__ = "credit_state"

    customer_id: str = Field(primary_key=True)
    on_hold: bool
    reason: str | None = None
    fingerprint: str
    updated_at: dt.datetime = Field(default_factory=_now)


class ShownInvoice(SQLModel, table=True):
    """What the order of an invoice the poller watches (changed lately, or overdue) was last signalled
    for: a fingerprint of what Salesforce shows of it. The poller signals the order again only when it
    changes; an invoice no longer watched is forgotten."""

    __tablename__ = "shown_invoice"

    invoice_id: str = Field(primary_key=True)
    fingerprint: str
    updated_at: dt.datetime = Field(default_factory=_now)


class ParkedRecord(SQLModel, table=True):
    """A write a poller could not make for good: shown until a later poll makes it."""

    __tablename__ = "parked_record"

    poller: str = Field(primary_key=True)
    record_id: str = Field(primary_key=True)
    account_id: str | None = None
    reason: str
    attempts: int = 1
    parked_at: dt.datetime = Field(default_factory=_now)
    updated_at: dt.datetime = Field(default_factory=_now)


class Store:
    def __init__(self, url: str) -> None:
        connect_args = {"check_same_thread": False} if url.startswith("sqlite") else {}
        self.engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)

    def create_all(self) -> None:
        SQLModel.metadata.create_all(self.engine)

    def link(self, kind: LinkKind, salesforce_id: str, netsuite_id: str) -> RecordLink:
        """Record that the two ids are one business record; re-linking the same pair changes nothing."""

        def attempt(session: Session) -> tuple[RecordLink, RecordLink | None]:
            row = session.exec(
                select(RecordLink).where(
                    RecordLink.kind == kind.value, RecordLink.salesforce_id == salesforce_id
                )
            ).first()
            if row is None:
                row = RecordLink(kind=kind.value, salesforce_id=salesforce_id, netsuite_id=netsuite_id)
            elif row.netsuite_id != netsuite_id:
                row.netsuite_id, row.updated_at = netsuite_id, _now()
            else:
                return row, None
            return row, row

        return first_writer(self.engine, attempt, f"link {kind.value} {salesforce_id} -> {netsuite_id}")

    def link_many(self, kind: LinkKind, pairs: list[tuple[str, str]]) -> None:
        """``link`` for many pairs, in one transaction per call (a pair's existing link is updated)."""
        with Session(self.engine) as session:
            existing = {}
            for start in range(0, len(pairs), _IN_CHUNK):
                chunk = [sf for sf, _ in pairs[start : start + _IN_CHUNK]]
                query = select(RecordLink).where(
                    RecordLink.kind == kind.value, col(RecordLink.salesforce_id).in_(chunk)
                )
                existing.update({row.salesforce_id: row for row in session.exec(query)})
            for salesforce_id, netsuite_id in pairs:
                row = existing.get(salesforce_id)
                if row is None:
                    row = RecordLink(kind=kind.value, salesforce_id=salesforce_id, netsuite_id=netsuite_id)
                    existing[salesforce_id] = row
                elif row.netsuite_id == netsuite_id:
                    continue
                else:
                    row.netsuite_id, row.updated_at = netsuite_id, _now()
                session.add(row)
            session.commit()

    def find_link(
        self, kind: LinkKind, *, salesforce_id: str | None = None, netsuite_id: str | None = None
    ) -> RecordLink | None:
        query = select(RecordLink).where(RecordLink.kind == kind.value)
        if salesforce_id is not None:
            query = query.where(RecordLink.salesforce_id == salesforce_id)
        if netsuite_id is not None:
            query = query.where(RecordLink.netsuite_id == netsuite_id)
        with Session(self.engine) as session:
            return session.exec(query).first()

    def links(self, kind: LinkKind) -> list[RecordLink]:
        with Session(self.engine) as session:
            return list(session.exec(select(RecordLink).where(RecordLink.kind == kind.value)))

    def salesforce_ids(self, kind: LinkKind, netsuite_ids: Iterable[str]) -> dict[str, str]:
        """NetSuite id -> linked Salesforce id, for those of ``netsuite_ids`` that are linked."""
        return {
            row.netsuite_id: row.salesforce_id for row in self._links_of(kind, "netsuite_id", netsuite_ids)
        }

    def netsuite_ids(self, kind: LinkKind, salesforce_ids: Iterable[str]) -> dict[str, str]:
        """Salesforce id -> linked NetSuite id, for those of ``salesforce_ids`` that are linked."""
        return {
            row.salesforce_id: row.netsuite_id
            for row in self._links_of(kind, "salesforce_id", salesforce_ids)
        }

    def _links_of(self, kind: LinkKind, side: str, ids: Iterable[str]) -> list[RecordLink]:
        wanted = sorted(set(ids))
        column = col(getattr(RecordLink, side))
        found: list[RecordLink] = []
        with Session(self.engine) as session:
            for start in range(0, len(wanted), _IN_CHUNK):
                query = select(RecordLink).where(
                    RecordLink.kind == kind.value, column.in_(wanted[start : start + _IN_CHUNK])
                )
                found += session.exec(query)
        return found

    # -- pollers ---------------------------------------------------------------------------------
    def watermark(self, name: str) -> str | None:
        with Session(self.engine) as session:
            row = session.get(Watermark, name)
            return row.value if row else None

    def mark_once(self, name: str, value: str) -> str:
        """The value kept under ``name``, set to ``value`` if there is none yet (a moment q2c starts
        counting from, such as when onboarding went live): never moved afterwards."""

        def attempt(session: Session) -> tuple[str, Watermark | None]:
            row = session.get(Watermark, name)
            return (row.value, None) if row is not None else (value, Watermark(name=name, value=value))

        return first_writer(self.engine, attempt, f"mark {name}")

    def save_poll(
        self,
        name: str,
        watermark: str,
        credit: list[CreditRecord],
        *,
        shown_invoices: Mapping[str, str] | None = None,
        unwatched_invoices: Iterable[str] = (),
        parked: Iterable[ParkedRecord] = (),
        unparked: Iterable[str] = (),
    ) -> None:
        """Advance the watermark and record what the poll did, in one transaction: the credit states
        written (no longer parked), the invoices signalled, the writes that failed for good."""
        with Session(self.engine) as session:
            row = session.get(Watermark, name) or Watermark(name=name, value=watermark)
            row.value, row.updated_at = watermark, _now()
            session.add(row)
            for record in credit:
                existing = session.get(CreditRecord, record.customer_id)
                if existing is None:
                    session.add(CreditRecord.model_validate(record.model_dump()))
                else:
                    existing.on_hold, existing.reason = record.on_hold, record.reason
                    existing.fingerprint, existing.updated_at = record.fingerprint, _now()
                    session.add(existing)
                done = session.get(ParkedRecord, (name, record.customer_id))
                if done is not None:
                    session.delete(done)
            for invoice_id, fingerprint in (shown_invoices or {}).items():
                shown = session.get(ShownInvoice, invoice_id) or ShownInvoice(
                    invoice_id=invoice_id, fingerprint=fingerprint
                )
                shown.fingerprint, shown.updated_at = fingerprint, _now()
                session.add(shown)
            for invoice_id in unwatched_invoices:
                gone = session.get(ShownInvoice, invoice_id)
                if gone is not None:
                    session.delete(gone)
            for record_id in unparked:
                settled = session.get(ParkedRecord, (name, record_id))
                if settled is not None:
                    session.delete(settled)
            for failed in parked:
                kept = session.get(ParkedRecord, (name, failed.record_id))
                if kept is None:
                    session.add(ParkedRecord.model_validate({**failed.model_dump(), "poller": name}))
                else:
                    kept.account_id, kept.reason, kept.attempts = (
                        failed.account_id,
                        failed.reason,
                        failed.attempts,
                    )
                    kept.updated_at = _now()
                    session.add(kept)
            session.commit()

    def shown_invoices(self) -> dict[str, str]:
        with Session(self.engine) as session:
            return {row.invoice_id: row.fingerprint for row in session.exec(select(ShownInvoice))}

    def parked_records(self, poller: str) -> list[ParkedRecord]:
        with Session(self.engine) as session:
            query = (
                select(ParkedRecord)
                .where(ParkedRecord.poller == poller)
                .order_by(col(ParkedRecord.record_id))
            )
            return list(session.exec(query))

    def update_parked(self, poller: str, parked: Iterable[ParkedRecord], settled: Iterable[str]) -> None:
        """Park these records (or update why) and unpark the settled ones, in one transaction; only
        records parked before are looked at for unparking, so a large settled list costs one query."""
        settled_ids = list(dict.fromkeys(settled))
        with Session(self.engine) as session:
            for start in range(0, len(settled_ids), _IN_CHUNK):
                chunk = settled_ids[start : start + _IN_CHUNK]
                query = select(ParkedRecord).where(
                    ParkedRecord.poller == poller, col(ParkedRecord.record_id).in_(chunk)
                )
                for row in session.exec(query):
                    session.delete(row)
            session.flush()
            for failed in parked:
                kept = session.get(ParkedRecord, (poller, failed.record_id))
                if kept is None:
                    session.add(ParkedRecord.model_validate({**failed.model_dump(), "poller": poller}))
                else:
                    kept.reason, kept.attempts, kept.updated_at = failed.reason, kept.attempts + 1, _now()
                    session.add(kept)
            session.commit()

    def credit_records(self, *, on_hold_only: bool = False) -> dict[str, CreditRecord]:
        query = select(CreditRecord)
        if on_hold_only:
            query = query.where(CreditRecord.on_hold == True)  # noqa: E712 (SQL, not Python, equality)
        with Session(self.engine) as session:
            return {row.customer_id: row for row in session.exec(query)}
