"""q2c's own database: which Salesforce record is which NetSuite record.

SQLite under the data directory by default, Postgres when ``Q2C_DATABASE_URL`` says so. Writes are
idempotent upserts, because activities that make them can be retried.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import UniqueConstraint
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, create_engine, select


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


class Store:
    def __init__(self, url: str) -> None:
        connect_args = {"check_same_thread": False} if url.startswith("sqlite") else {}
        self.engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)

    def create_all(self) -> None:
        SQLModel.metadata.create_all(self.engine)

    def link(self, kind: LinkKind, salesforce_id: str, netsuite_id: str) -> RecordLink:
        """Record that the two ids are one business record; re-linking the same pair changes nothing."""
        for _ in range(2):  # a concurrent insert of the same pair loses the race once, then finds it
            with Session(self.engine) as session:
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
                    return row
                session.add(row)
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue
                session.refresh(row)
                return row
        raise RuntimeError(f"could not link {kind.value} {salesforce_id} -> {netsuite_id}")

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

    # -- pollers ---------------------------------------------------------------------------------
    def watermark(self, name: str) -> str | None:
        with Session(self.engine) as session:
            row = session.get(Watermark, name)
            return row.value if row else None

    def save_poll(self, name: str, watermark: str, credit: list[CreditRecord]) -> None:
        """Advance the watermark and record the credit states written, in one transaction."""
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
            session.commit()

    def credit_records(self, *, on_hold_only: bool = False) -> dict[str, CreditRecord]:
        query = select(CreditRecord)
        if on_hold_only:
            query = query.where(CreditRecord.on_hold == True)  # noqa: E712 (SQL, not Python, equality)
        with Session(self.engine) as session:
            return {row.customer_id: row for row in session.exec(query)}
