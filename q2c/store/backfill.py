"""A backfill's working set and report, in q2c's database (SQLite or Postgres), keyed by run id.

The customer index (every NetSuite customer's matching keys) lets a run match hundreds of thousands of
accounts with one database lookup per page instead of NetSuite searches per account; the rows are the
report (one per record: what was decided, then what was done) and the work list of the real run, which
writes them in numbered batches per step, so the workflow itself only carries counters and a cursor.
Everything here is an idempotent upsert: the activities that call it may be retried.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Index, delete, func, update
from sqlmodel import Field, Session, SQLModel, col, select

from q2c.domain.backfill import (
    WRITING,
    Action,
    Decision,
    IndexedCustomer,
    RowStatus,
    Scope,
    claimed_twice,
)
from q2c.store.store import LinkKind, Store

_IN_CHUNK = 500
STEPS = ("netsuite", "salesforce", "netsuite_after")  # the write steps of a real run, in order
STEP_NUMBER = {step: number for number, step in enumerate(STEPS, start=1)}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class BackfillCustomer(SQLModel, table=True):
    __tablename__ = "backfill_customer"
    __table_args__ = (
        Index("ix_backfill_customer_name", "run_id", "name_key"),
        Index("ix_backfill_customer_cross", "run_id", "cross_id"),
        Index("ix_backfill_customer_number", "run_id", "number"),
    )

    run_id: str = Field(primary_key=True)
    customer_id: str = Field(primary_key=True)
    number: int = 0  # the internal id as a number: the keyset of the pass over unclaimed customers
    name_key: str
    cross_id: str | None = None
    in_scope: bool = True
    record: str  # IndexedCustomer as JSON


class BackfillDomain(SQLModel, table=True):
    __tablename__ = "backfill_domain"

    run_id: str = Field(primary_key=True)
    domain: str = Field(primary_key=True)
    customer_id: str = Field(primary_key=True)


class BackfillCandidate(SQLModel, table=True):
    """A customer a parked account lists as a candidate: not given an account of its own meanwhile."""

    __tablename__ = "backfill_candidate"

    run_id: str = Field(primary_key=True)
    customer_id: str = Field(primary_key=True)
    account_id: str = Field(primary_key=True)


class BackfillRow(SQLModel, table=True):
    """One record of one run: the report row, and (real runs) the work item."""

    __tablename__ = "backfill_row"
    __table_args__ = (
        Index("ix_backfill_row_ns", "run_id", "scope", "seq_netsuite"),
        Index("ix_backfill_row_sf", "run_id", "scope", "seq_salesforce"),
        Index("ix_backfill_row_after", "run_id", "scope", "seq_netsuite_after"),
        Index("ix_backfill_row_claim", "run_id", "scope", "netsuite_id"),
    )

    run_id: str = Field(primary_key=True)
    scope: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    action: str
    status: str = RowStatus.PLANNED.value
    salesforce_id: str | None = None
    netsuite_id: str | None = None
    name: str = ""
    rule: str | None = None
    match_key: str | None = None
    reason: str | None = None
    candidates: str = "[]"  # JSON list of "id 'name' (why)"
    candidate_ids: str = "[]"  # JSON list of the candidates' NetSuite ids (a parked account's)
    body: str = "{}"  # JSON: the record a create writes
    needs_netsuite: bool = False
    needs_salesforce: bool = False
    seq_netsuite: int | None = None
    seq_salesforce: int | None = None
    seq_netsuite_after: int | None = None
    step_done: int = 0  # the last write step this row finished (STEP_NUMBER): a retried batch skips it
    error: str | None = None
    updated_at: dt.datetime = Field(default_factory=_now)


class BackfillRun(SQLModel, table=True):
    """A run's input and summary, kept after its workflow closes (``q2c backfill-report``)."""

    __tablename__ = "backfill_run"

    run_id: str = Field(primary_key=True)
    request: str  # BackfillRequest as JSON
    summary: str = "{}"
    state: str = "running"
    created_at: dt.datetime = Field(default_factory=_now)
    updated_at: dt.datetime = Field(default_factory=_now)


REPORT_COLUMNS = [
    "scope",
    "key",
    "action",
    "status",
    "salesforce_id",
    "netsuite_id",
    "name",
    "rule",
    "match_key",
    "reason",
    "candidates",
    "error",
]


def _chunks(values: list[Any], size: int = _IN_CHUNK) -> Iterator[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class BackfillStore:
    """The backfill tables, on the same database (and engine) as the rest of q2c's store."""

    def __init__(self, store: Store) -> None:
        self.engine = store.engine

    # -- runs ------------------------------------------------------------------------------------
    def begin_run(self, run_id: str, request_json: str) -> None:
        """Start (or restart from scratch) a run: its earlier working set and report are dropped."""
        with Session(self.engine) as session:
            for table in (BackfillCustomer, BackfillDomain, BackfillCandidate, BackfillRow):
                session.execute(delete(table).where(col(table.run_id) == run_id))
            run = session.get(BackfillRun, run_id) or BackfillRun(run_id=run_id, request=request_json)
            run.request, run.summary, run.state, run.updated_at = request_json, "{}", "running", _now()
            session.add(run)
            session.commit()

    def finish_run(self, run_id: str, state: str, summary: dict[str, Any]) -> None:
        with Session(self.engine) as session:
            run = session.get(BackfillRun, run_id)
            if run is None:
                return
            run.state, run.summary, run.updated_at = state, json.dumps(summary, default=str), _now()
            session.add(run)
            session.commit()

    def run(self, run_id: str) -> BackfillRun | None:
        with Session(self.engine) as session:
            return session.get(BackfillRun, run_id)

    def clear_index(self, run_id: str) -> None:
        """The customer index is only needed while planning: dropped once a run has planned."""
        with Session(self.engine) as session:
            for table in (BackfillCustomer, BackfillDomain, BackfillCandidate):
                session.execute(delete(table).where(col(table.run_id) == run_id))
            session.commit()

    # -- the customer index ----------------------------------------------------------------------
    def index_customers(self, run_id: str, customers: list[IndexedCustomer]) -> None:
        with Session(self.engine) as session:
            for customer in customers:
                row = session.get(BackfillCustomer, (run_id, customer.id)) or BackfillCustomer(
                    run_id=run_id, customer_id=customer.id, name_key="", record="{}"
                )
                row.name_key, row.cross_id, row.in_scope = (
                    customer.name_key(),
                    customer.cross_id,
                    customer.in_scope,
                )
                row.record, row.number = customer.model_dump_json(), int(customer.id)
                session.add(row)
                for domain in customer.domains():
                    if session.get(BackfillDomain, (run_id, domain, customer.id)) is None:
                        session.add(BackfillDomain(run_id=run_id, domain=domain, customer_id=customer.id))
            session.commit()

    def customers_sharing_keys(
        self,
        run_id: str,
        *,
        ids: Iterable[str],
        cross_ids: Iterable[str],
        domains: Iterable[str],
        name_keys: Iterable[str],
    ) -> dict[str, IndexedCustomer]:
        """Every indexed customer with one of these ids, pointing at one of these accounts, or sharing a
        domain or normalized name: the candidates of a page of accounts, found in four indexed queries."""
        found: dict[str, BackfillCustomer] = {}
        with Session(self.engine) as session:
            base = select(BackfillCustomer).where(BackfillCustomer.run_id == run_id)
            for column, values in (
                (BackfillCustomer.customer_id, ids),
                (BackfillCustomer.cross_id, cross_ids),
                (BackfillCustomer.name_key, name_keys),
            ):
                for chunk in _chunks(sorted({v for v in values if v})):
                    for row in session.exec(base.where(col(column).in_(chunk))):
                        found[row.customer_id] = row
            by_domain: set[str] = set()
            for chunk in _chunks(sorted({d for d in domains if d})):
                query = select(BackfillDomain.customer_id).where(
                    BackfillDomain.run_id == run_id, col(BackfillDomain.domain).in_(chunk)
                )
                by_domain.update(session.exec(query))
            for chunk in _chunks(sorted(by_domain - set(found))):
                for row in session.exec(base.where(col(BackfillCustomer.customer_id).in_(chunk))):
                    found[row.customer_id] = row
        return {cid: IndexedCustomer.model_validate_json(row.record) for cid, row in found.items()}

    # -- rows -------------------------------------------------------------------------------------
    def save_decisions(
        self, run_id: str, decisions: list[Decision], candidate_ids: dict[str, list[str]]
    ) -> None:
        with Session(self.engine) as session:
            for d in decisions:
                row = session.get(BackfillRow, (run_id, d.scope.value, d.key)) or BackfillRow(
                    run_id=run_id, scope=d.scope.value, key=d.key, action=d.action.value
                )
                _fill(row, d)
                row.candidate_ids = json.dumps(candidate_ids.get(d.key, []))
                session.add(row)
                for customer_id in candidate_ids.get(d.key, []):
                    if session.get(BackfillCandidate, (run_id, customer_id, d.key)) is None:
                        session.add(
                            BackfillCandidate(run_id=run_id, customer_id=customer_id, account_id=d.key)
                        )
            session.commit()

    def resolve_claims(self, run_id: str) -> int:
        """Park every account whose match is a customer another account of this run also matched."""
        scope = Scope.ACCOUNTS.value
        with Session(self.engine) as session:
            twice = list(
                session.exec(
                    select(BackfillRow.netsuite_id)
                    .where(
                        BackfillRow.run_id == run_id,
                        BackfillRow.scope == scope,
                        col(BackfillRow.action).in_(
                            [Action.LINK.value, Action.ALREADY_LINKED.value, Action.OUT_OF_SCOPE.value]
                        ),
                        col(BackfillRow.netsuite_id).is_not(None),
                        col(BackfillRow.key) != col(BackfillRow.netsuite_id),
                    )
                    .group_by(col(BackfillRow.netsuite_id))
                    .having(func.count() > 1)
                )
            )
            parked = 0
            for chunk in _chunks([t for t in twice if t]):
                rows = list(
                    session.exec(
                        select(BackfillRow).where(
                            BackfillRow.run_id == run_id,
                            BackfillRow.scope == scope,
                            col(BackfillRow.action).in_(
                                [Action.LINK.value, Action.ALREADY_LINKED.value, Action.OUT_OF_SCOPE.value]
                            ),
                            col(BackfillRow.netsuite_id).in_(chunk),
                            col(BackfillRow.key) != col(BackfillRow.netsuite_id),
                        )
                    )
                )
                claimants: dict[str, list[str]] = {}
                for row in rows:
                    claimants.setdefault(row.netsuite_id or "", []).append(row.key)
                for row in rows:
                    if row.action != Action.LINK.value:
                        continue  # already linked, or outside the filters: left as it is
                    others = [k for k in claimants[row.netsuite_id or ""] if k != row.key]
                    _fill(row, claimed_twice(_decision(row), others))
                    row.candidate_ids = json.dumps([row.netsuite_id])
                    session.add(row)
                    parked += 1
            session.commit()
            return parked

    def claimed_customers(self, run_id: str, customer_ids: list[str]) -> tuple[set[str], dict[str, str]]:
        """Of these customers: those an account of this run links to (or will), and those a parked
        account lists as a candidate (customer id -> that account)."""
        claimed: set[str] = set()
        parked_by: dict[str, str] = {}
        wanted = set(customer_ids)
        scope = Scope.ACCOUNTS.value
        with Session(self.engine) as session:
            for chunk in _chunks(sorted(wanted)):
                query = select(BackfillRow.netsuite_id).where(
                    BackfillRow.run_id == run_id,
                    BackfillRow.scope == scope,
                    col(BackfillRow.salesforce_id).is_not(None),
                    # An account's row, not a customer's (whose key is its own id).
                    col(BackfillRow.key) != col(BackfillRow.netsuite_id),
                    col(BackfillRow.netsuite_id).in_(chunk),
                )
                claimed.update(n for n in session.exec(query) if n)
            for chunk in _chunks(sorted(wanted)):
                listed = select(BackfillCandidate.customer_id, BackfillCandidate.account_id).where(
                    BackfillCandidate.run_id == run_id, col(BackfillCandidate.customer_id).in_(chunk)
                )
                for customer_id, account_id in session.exec(listed):
                    parked_by.setdefault(customer_id, account_id)
        return claimed, parked_by

    def index_page(self, run_id: str, after: str, limit: int) -> list[IndexedCustomer]:
        """Indexed customers by id (numeric order), after ``after``: the pass over unclaimed customers."""
        with Session(self.engine) as session:
            query = (
                select(BackfillCustomer)
                .where(
                    BackfillCustomer.run_id == run_id, BackfillCustomer.number > (int(after) if after else 0)
                )
                .order_by(col(BackfillCustomer.number))
                .limit(limit)
            )
            return [IndexedCustomer.model_validate_json(row.record) for row in session.exec(query)]

    def number_steps(self, run_id: str, scope: Scope, *, batch: int = 5000) -> dict[str, int]:
        """Give the rows of a scope that write their batch numbers per step (1, 2, ... in key order),
        a batch of rows per transaction (memory stays bounded)."""
        counts = dict.fromkeys(STEPS, 0)
        last: str | None = None
        while True:
            with Session(self.engine) as session:
                query = select(BackfillRow).where(
                    BackfillRow.run_id == run_id,
                    BackfillRow.scope == scope.value,
                    col(BackfillRow.action).in_([a.value for a in _WRITES]),
                )
                if last is not None:
                    query = query.where(col(BackfillRow.key) > last)
                rows = list(session.exec(query.order_by(col(BackfillRow.key)).limit(batch)))
                if not rows:
                    return counts
                for row in rows:
                    first, second, after = _steps(row)
                    if first:
                        counts["netsuite"] += 1
                        row.seq_netsuite = counts["netsuite"]
                    if second:
                        counts["salesforce"] += 1
                        row.seq_salesforce = counts["salesforce"]
                    if after:
                        counts["netsuite_after"] += 1
                        row.seq_netsuite_after = counts["netsuite_after"]
                    session.add(row)
                last = rows[-1].key
                session.commit()

    def link_already_linked(self, run_id: str, store: Store, *, batch: int = 2000) -> int:
        """Record in q2c's store every pair the records already link (a real run's first write)."""
        linked = 0
        last = ""
        while True:
            with Session(self.engine) as session:
                query = (
                    select(BackfillRow)
                    .where(
                        BackfillRow.run_id == run_id,
                        BackfillRow.scope == Scope.ACCOUNTS.value,
                        BackfillRow.action == Action.ALREADY_LINKED.value,
                        col(BackfillRow.key) > last,
                    )
                    .order_by(col(BackfillRow.key))
                    .limit(batch)
                )
                rows = list(session.exec(query))
            if not rows:
                return linked
            store.link_many(LinkKind.ACCOUNT, [(str(r.salesforce_id), str(r.netsuite_id)) for r in rows])
            linked += len(rows)
            last = rows[-1].key

    def step_rows(self, run_id: str, scope: Scope, step: str, first: int, last: int) -> list[BackfillRow]:
        """The rows numbered ``first``..``last`` in a step that still need it: not failed, not done with
        this step yet (a retried batch skips what it finished), every earlier step of theirs done."""
        column = _step_column(step)
        number = STEP_NUMBER[step]
        with Session(self.engine) as session:
            query = (
                select(BackfillRow)
                .where(
                    BackfillRow.run_id == run_id,
                    BackfillRow.scope == scope.value,
                    column >= first,
                    column <= last,
                    BackfillRow.status != RowStatus.FAILED.value,
                    BackfillRow.step_done < number,
                )
                .order_by(column)
            )
            rows = list(session.exec(query))
        return [row for row in rows if row.step_done >= _previous_step(row, number)]

    def rows(self, run_id: str, scope: Scope, keys: list[str]) -> dict[str, BackfillRow]:
        found: dict[str, BackfillRow] = {}
        with Session(self.engine) as session:
            for chunk in _chunks(sorted(set(keys))):
                query = select(BackfillRow).where(
                    BackfillRow.run_id == run_id,
                    BackfillRow.scope == scope.value,
                    col(BackfillRow.key).in_(chunk),
                )
                found.update({row.key: row for row in session.exec(query)})
        return found

    def record_results(self, run_id: str, scope: Scope, results: list[dict[str, Any]]) -> None:
        """Per row (``key``): any of status, netsuite_id, salesforce_id, error, needs_* after a write."""
        with Session(self.engine) as session:
            for result in results:
                values = {k: v for k, v in result.items() if k != "key"}
                values["updated_at"] = _now()
                session.execute(
                    update(BackfillRow)
                    .where(
                        col(BackfillRow.run_id) == run_id,
                        col(BackfillRow.scope) == scope.value,
                        col(BackfillRow.key) == result["key"],
                    )
                    .values(**values)
                )
            session.commit()

    def counts(self, run_id: str) -> dict[str, dict[str, dict[str, int]]]:
        """scope -> action -> status -> rows."""
        out: dict[str, dict[str, dict[str, int]]] = {}
        with Session(self.engine) as session:
            query = (
                select(BackfillRow.scope, BackfillRow.action, BackfillRow.status, func.count())
                .where(BackfillRow.run_id == run_id)
                .group_by(col(BackfillRow.scope), col(BackfillRow.action), col(BackfillRow.status))
            )
            for scope, action, status, n in session.exec(query):
                out.setdefault(scope, {}).setdefault(action, {})[status] = int(n)
        return out

    def report_rows(self, run_id: str, *, batch: int = 5000) -> Iterator[BackfillRow]:
        """Every row of a run, in (scope, key) order, read a batch at a time (memory stays bounded)."""
        last: tuple[str, str] | None = None
        while True:
            with Session(self.engine) as session:
                query = select(BackfillRow).where(BackfillRow.run_id == run_id)
                if last is not None:
                    query = query.where(
                        (col(BackfillRow.scope) > last[0])
                        | ((col(BackfillRow.scope) == last[0]) & (col(BackfillRow.key) > last[1]))
                    )
                rows = list(
                    session.exec(query.order_by(col(BackfillRow.scope), col(BackfillRow.key)).limit(batch))
                )
            if not rows:
                return
            yield from rows
            last = (rows[-1].scope, rows[-1].key)

    def export(self, run_id: str, directory: Path) -> tuple[Path, Path]:
        """The report as ``report.csv`` (one row per record) and ``report.json`` (summary and rows),
        streamed from the database."""
        directory.mkdir(parents=True, exist_ok=True)
        csv_path, json_path = directory / "report.csv", directory / "report.json"
        run = self.run(run_id)
        summary = json.loads(run.summary) if run else {}
        with (
            csv_path.open("w", newline="", encoding="utf-8") as out_csv,
            json_path.open("w", encoding="utf-8") as out_json,
        ):
            writer = csv.writer(out_csv)
            writer.writerow(REPORT_COLUMNS)
            out_json.write(
                '{"run_id": ' + json.dumps(run_id) + ', "summary": ' + json.dumps(summary, default=str)
            )
            out_json.write(', "rows": [')
            first = True
            for row in self.report_rows(run_id):
                values = report_values(row)
                writer.writerow(
                    [
                        "; ".join(v) if isinstance(v, list) else ("" if v is None else v)
                        for v in values.values()
                    ]
                )
                out_json.write(("" if first else ",") + "\n" + json.dumps(values))
                first = False
            out_json.write("\n]}\n")
        return csv_path, json_path


def report_values(row: BackfillRow) -> dict[str, Any]:
    return {
        "scope": row.scope,
        "key": row.key,
        "action": row.action,
        "status": row.status,
        "salesforce_id": row.salesforce_id,
        "netsuite_id": row.netsuite_id,
        "name": row.name,
        "rule": row.rule,
        "match_key": row.match_key,
        "reason": row.reason,
        "candidates": json.loads(row.candidates),
        "error": row.error,
    }


_WRITES = tuple(WRITING)


def _steps(row: BackfillRow) -> tuple[bool, bool, bool]:
    """(NetSuite first, then Salesforce, then NetSuite again) for a row that writes."""
    action = Action(row.action)
    if action is Action.CREATE_ACCOUNT:
        # The customer read whole (record API: the account starts as its copy), the account upserted by
        # the customer id, then the account id written on the customer.
        return True, True, True
    if action in (Action.LINK, Action.CREATE_CUSTOMER):
        return row.needs_netsuite, row.needs_salesforce, False
    if action is Action.UPSERT_CONTACT:
        return True, False, False
    if action is Action.UPSERT_INVOICE:
        return True, True, False  # the invoice read whole from NetSuite, then upserted in Salesforce
    return False, True, False  # START_ORDER, UPSERT_INVOICE: the q2c side (Salesforce, Temporal)


def _previous_step(row: BackfillRow, number: int) -> int:
    """The number of the last step this row needs before step ``number`` (0: none)."""
    needed = [n for n, wanted in zip((1, 2, 3), _steps(row), strict=True) if wanted and n < number]
    return max(needed, default=0)


def _step_column(step: str) -> Any:
    return {
        "netsuite": col(BackfillRow.seq_netsuite),
        "salesforce": col(BackfillRow.seq_salesforce),
        "netsuite_after": col(BackfillRow.seq_netsuite_after),
    }[step]


def _fill(row: BackfillRow, d: Decision) -> None:
    row.action, row.status = d.action.value, RowStatus.PLANNED.value
    row.salesforce_id, row.netsuite_id, row.name = d.salesforce_id, d.netsuite_id, d.name[:255]
    row.rule, row.match_key, row.reason = d.rule, d.match_key, d.reason
    row.candidates, row.body = json.dumps(d.candidates), json.dumps(d.body, default=str)
    row.needs_netsuite, row.needs_salesforce = d.needs_netsuite, d.needs_salesforce
    row.seq_netsuite = row.seq_salesforce = row.seq_netsuite_after = None
    row.error, row.updated_at = None, _now()


def _decision(row: BackfillRow) -> Decision:
    return Decision(
        scope=Scope(row.scope),
        key=row.key,
        action=Action(row.action),
        salesforce_id=row.salesforce_id,
        netsuite_id=row.netsuite_id,
        name=row.name,
        rule=row.rule,
        match_key=row.match_key,
        reason=row.reason,
        candidates=json.loads(row.candidates),
        body=json.loads(row.body),
        needs_netsuite=row.needs_netsuite,
        needs_salesforce=row.needs_salesforce,
    )
