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
