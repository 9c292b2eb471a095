"""Onboardings in q2c's database: one row per NetSuite customer ever onboarded, and the assignment rules'
round-robin cursors.

The row is what makes "once per customer" hold after Temporal's retention has removed a finished
onboarding workflow: a customer with a row is never started again by the order workflow or the poller
(a person can: ``q2c onboarding-start``), and a cancelled one only when its deal is won again. The CSM of
each open onboarding is here too, so a CSM's capacity (open onboardings) is one indexed count, and a CSM
deactivated in Salesforce finds the onboardings to reassign.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from enum import StrEnum

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, col, select

from q2c.store.store import Store, first_writer


class OnboardingState(StrEnum):
    STARTING = "starting"  # claimed; the workflow is being started
    ACTIVE = "active"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


OPEN_STATES = (OnboardingState.STARTING.value, OnboardingState.ACTIVE.value)
ALL_RULES = "*"  # the cursor row every assignment locks, so capacity counts are never raced
# (last username the rule gave, open onboardings per CSM user id) -> (user id, username), or None: nobody.
Chooser = Callable[[str | None, dict[str, int]], tuple[str, str] | None]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class OnboardingRow(SQLModel, table=True):
    __tablename__ = "onboarding"

    customer_id: str = Field(primary_key=True)
    attempt: int = 1
    status: str = Field(index=True)
    source: str
    account_id: str | None = None
    first_sales_order_id: str | None = None
    csm_user_id: str | None = Field(default=None, index=True)
    csm_username: str | None = None
    rule: str | None = None
    started_at: dt.datetime = Field(default_factory=_now)
    updated_at: dt.datetime = Field(default_factory=_now)


class AssignmentCursor(SQLModel, table=True):
    """The username an assignment rule gave last (round-robin goes on after it)."""

    __tablename__ = "onboarding_assignment_cursor"

    rule: str = Field(primary_key=True)
    last_username: str | None = None
    updated_at: dt.datetime = Field(default_factory=_now)


class Claim(StrEnum):
    NEW = "new"  # no onboarding yet: start it
    RESTART = "restart"  # a cancelled one, restarted (attempt + 1)
    PENDING = "pending"  # claimed before, its start not confirmed: start it (again; starting is idempotent)
    TAKEN = "taken"  # onboarding or onboarded: nothing to do


class OnboardingStore:
    def __init__(self, store: Store) -> None:
        self._engine = store.engine

    def claim(
        self, customer_id: str, *, source: str, sales_order_id: str | None, restart_cancelled: bool = False
    ) -> tuple[Claim, OnboardingRow]:
        """Claim the customer's onboarding: a new row (``NEW``), a cancelled one reopened when asked
        (``RESTART``), or the existing row (``PENDING`` while its start is unconfirmed, else ``TAKEN``)."""

        def attempt(session: Session) -> tuple[tuple[Claim, OnboardingRow], OnboardingRow | None]:
            row = session.get(OnboardingRow, customer_id)
            if row is None:
                row = OnboardingRow(
                    customer_id=customer_id,
                    status=OnboardingState.STARTING.value,
                    source=source,
                    first_sales_order_id=sales_order_id,
                )
                return (Claim.NEW, row), row
            if row.status == OnboardingState.CANCELLED.value and restart_cancelled:
                row.attempt += 1
                row.status, row.source, row.updated_at = OnboardingState.STARTING.value, source, _now()
                row.first_sales_order_id = sales_order_id or row.first_sales_order_id
                row.csm_user_id = row.csm_username = row.rule = None
                return (Claim.RESTART, row), row
            pending = row.status == OnboardingState.STARTING.value
            return ((Claim.PENDING if pending else Claim.TAKEN), row), None

        return first_writer(self._engine, attempt, f"claim the onboarding of NetSuite customer {customer_id}")

    def force(self, customer_id: str, *, source: str) -> OnboardingRow:
        """A person's request: a new onboarding whatever came before (a finished one: the next attempt)."""
        with Session(self._engine) as session:
            row = session.get(OnboardingRow, customer_id)
            if row is None:
                row = OnboardingRow(
                    customer_id=customer_id, status=OnboardingState.STARTING.value, source=source
                )
            elif row.status not in OPEN_STATES:
                row.attempt += 1
                row.status, row.source, row.updated_at = OnboardingState.STARTING.value, source, _now()
                row.csm_user_id = row.csm_username = row.rule = None
            session.add(row)
            session.commit()
            session.refresh(row)
            return row

    def get(self, customer_id: str) -> OnboardingRow | None:
        with Session(self._engine) as session:
            return session.get(OnboardingRow, customer_id)

    def record(
        self,
        customer_id: str,
        *,
        attempt: int,
        status: str,
        account_id: str | None = None,
        csm_user_id: str | None = None,
        csm_username: str | None = None,
        rule: str | None = None,
    ) -> None:
        """The workflow's own account of its state (idempotent; an older attempt never overwrites a newer)."""
        with Session(self._engine) as session:
            row = session.get(OnboardingRow, customer_id) or OnboardingRow(
                customer_id=customer_id, attempt=attempt, status=status, source="workflow"
            )
            if row.attempt > attempt:
                return
            row.attempt, row.status, row.updated_at = attempt, status, _now()
            row.account_id = account_id or row.account_id
            if csm_user_id is not None:
                row.csm_user_id, row.csm_username, row.rule = csm_user_id, csm_username, rule
            session.add(row)
            session.commit()

    def open_counts(self, user_ids: Iterable[str], *, other_than: str | None = None) -> dict[str, int]:
        """Open onboardings per CSM user id (``other_than``: leave this customer's out)."""
        wanted = sorted(set(user_ids))
        if not wanted:
            return {}
        query = (
            select(OnboardingRow.csm_user_id, func.count())
            .where(col(OnboardingRow.csm_user_id).in_(wanted), col(OnboardingRow.status).in_(OPEN_STATES))
            .group_by(col(OnboardingRow.csm_user_id))
        )
        if other_than is not None:
            query = query.where(OnboardingRow.customer_id != other_than)
        with Session(self._engine) as session:
            return {str(user): int(n) for user, n in session.exec(query)}

    def open_with_csms(self, user_ids: Iterable[str]) -> list[tuple[str, str]]:
        """(customer, CSM user id) of the open onboardings whose CSM is one of these users (18-character
        ids, as Salesforce's API returns them and q2c records them)."""
        wanted = sorted(set(user_ids))
        found: list[tuple[str, str]] = []
        with Session(self._engine) as session:
            for start in range(0, len(wanted), 500):
                query = select(OnboardingRow.customer_id, OnboardingRow.csm_user_id).where(
                    col(OnboardingRow.csm_user_id).in_(wanted[start : start + 500]),
                    col(OnboardingRow.status).in_(OPEN_STATES),
                )
                found += [(c, u) for c, u in session.exec(query) if u]
        return sorted(found)

    def open_among(self, customer_ids: Iterable[str]) -> list[str]:
        """Those of these customers whose onboarding is open."""
        wanted = sorted(set(customer_ids))
        found: list[str] = []
        with Session(self._engine) as session:
            for start in range(0, len(wanted), 500):
                query = select(OnboardingRow.customer_id).where(
                    col(OnboardingRow.customer_id).in_(wanted[start : start + 500]),
                    col(OnboardingRow.status).in_(OPEN_STATES),
                )
                found += session.exec(query)
        return sorted(found)

    def assign(
        self,
        customer_id: str,
        attempt: int,
        rule: str,
        choose: Chooser,
    ) -> tuple[str | None, str | None]:
        """Round-robin assignment in one transaction: the rule's cursor and every capacity count are read
        under a lock, ``choose(last_username, open_counts)`` picks, and the pick is recorded on the row and
        the cursor. Returns (user id, username) or (None, None) when ``choose`` found nobody.

        The lock is a write to the one row every assignment shares, made first: Postgres holds its row
        lock, SQLite its database write lock, until the commit, so no two assignments count at once."""
        self._ensure_lock_row()
        with Session(self._engine) as session:
            session.execute(
                update(AssignmentCursor)
                .where(col(AssignmentCursor.rule) == ALL_RULES)
                .values(updated_at=_now())
            )
            cursor = session.get(AssignmentCursor, rule) or AssignmentCursor(rule=rule)
            counts_query = (
                select(OnboardingRow.csm_user_id, func.count())
                .where(col(OnboardingRow.status).in_(OPEN_STATES), OnboardingRow.customer_id != customer_id)
                .group_by(col(OnboardingRow.csm_user_id))
            )
            counts = {str(user): int(n) for user, n in session.exec(counts_query) if user}
            picked = choose(cursor.last_username, counts)
            if picked is None:
                session.rollback()
                return None, None
            user_id, username = picked
            cursor.last_username, cursor.updated_at = username, _now()
            session.add(cursor)
            row = session.get(OnboardingRow, customer_id) or OnboardingRow(
                customer_id=customer_id,
                attempt=attempt,
                status=OnboardingState.ACTIVE.value,
                source="workflow",
            )
            if row.status not in OPEN_STATES:
                row.status = OnboardingState.ACTIVE.value
            row.csm_user_id, row.csm_username, row.rule, row.updated_at = user_id, username, rule, _now()
            session.add(row)
            session.commit()
            return user_id, username

    def _ensure_lock_row(self) -> None:
        with Session(self._engine) as session:
            if session.get(AssignmentCursor, ALL_RULES) is not None:
                return
            session.add(AssignmentCursor(rule=ALL_RULES))
            try:
                session.commit()
            except IntegrityError:  # another assignment made it first
                session.rollback()
