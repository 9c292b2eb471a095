"""SQLite persistence for sandbox records.

Records are kept as JSON documents (one row per record) in the stored form the codec produces: references
as plain id strings, sublists as lists of line objects. SuiteQL sees them through views named after
NetSuite's tables, generated from the record descriptions, so the record API and SuiteQL always agree.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from q2c_sandbox.netsuite.records import RECORD_TYPES, Kind, RecordType

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ns_record (
    type TEXT NOT NULL,
    id INTEGER NOT NULL,
    external_id TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (type, id)
);
CREATE UNIQUE INDEX IF NOT EXISTS ns_record_external_id ON ns_record (type, external_id)
    WHERE external_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS ns_sequence (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ns_setting (name TEXT PRIMARY KEY, value TEXT NOT NULL);
-- The SuiteQL views look up a customer's invoices (balances, days overdue) through these expressions; the
-- index keeps that a lookup rather than a scan of every record per customer row.
CREATE INDEX IF NOT EXISTS ns_record_entity ON ns_record (type, json_extract(body, '$.entity'));
"""

# SuiteQL table name -> the SQLite view holding it. Prefixed because NetSuite's names collide with SQL
# keywords ("transaction") and with the sandbox's own tables.
VIEW_PREFIX = "suiteql_"

# Transactions with an item sublist: their lines make up SuiteQL's transactionline.
TRANSACTIONS_WITH_ITEMS = ("salesOrder", "invoice", "creditMemo")

Body = dict[str, Any]


class Store:
    """One SQLite connection guarded by a re-entrant lock; ``transaction()`` groups writes atomically."""

    def __init__(self, db_path: Path) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        # The server answers on a thread pool and an event loop; the lock makes sharing safe.
        self._conn = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        # The account's date as the views see it (days overdue, overdue balances): the sandbox clock
        # replaces it via ``use_today``. Registered before the views exist, as SQLite resolves the
        # functions a view calls whenever the view is read.
        self._today: Callable[[], dt.date] = lambda: dt.datetime.now(dt.UTC).date()
        self._conn.create_function("ns_today", 0, lambda: self._today().isoformat())
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)
            self._create_views()

    def use_today(self, today: Callable[[], dt.date]) -> None:
        self._today = today

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            outermost = self._depth == 0
            if outermost:
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if outermost:
                    self._conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outermost:
                self._conn.execute("COMMIT")

    # -- sequences -------------------------------------------------------------------------------

    def next_value(self, name: str, start: int = 1) -> int:
        with self.transaction():
            row = self._conn.execute("SELECT value FROM ns_sequence WHERE name = ?", (name,)).fetchone()
            value = start if row is None else int(row["value"]) + 1
            self._conn.execute(
                "INSERT INTO ns_sequence (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, value),
            )
            return value

    def bump_value(self, name: str, at_least: int) -> None:
        """Make sure the sequence never hands out ``at_least`` again (explicit ids from the admin load)."""
        with self.transaction():
            self._conn.execute(
                "INSERT INTO ns_sequence (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = max(value, excluded.value)",
                (name, at_least),
            )

    # -- settings (sandbox clock, account preferences) ------------------------------------------

    def setting(self, name: str) -> Any:
        with self._lock:
            row = self._conn.execute("SELECT value FROM ns_setting WHERE name = ?", (name,)).fetchone()
        return None if row is None else json.loads(row["value"])

    def put_setting(self, name: str, value: Any) -> None:
        with self.transaction():
            self._conn.execute(
                "INSERT INTO ns_setting (name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, json.dumps(value)),
            )

    # -- records ---------------------------------------------------------------------------------

    def get(self, type_name: str, record_id: int) -> Body | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT body FROM ns_record WHERE type = ? AND id = ?", (type_name, record_id)
            ).fetchone()
        return None if row is None else _load(row["body"], record_id)

    def id_for_external_id(self, type_name: str, external_id: str) -> int | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id FROM ns_record WHERE type = ? AND external_id = ?", (type_name, external_id)
            ).fetchone()
        return None if row is None else int(row["id"])

    def exists(self, type_name: str, record_id: int) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM ns_record WHERE type = ? AND id = ?", (type_name, record_id)
            ).fetchone()
        return row is not None

    def put(self, type_name: str, record_id: int, body: Body) -> None:
        stored = {k: v for k, v in body.items() if k != "id"}
        with self.transaction():
            self._conn.execute(
                "INSERT INTO ns_record (type, id, external_id, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(type, id) DO UPDATE SET external_id = excluded.external_id, body = excluded.body",
                (type_name, record_id, stored.get("externalId"), json.dumps(stored, sort_keys=True)),
            )

    def delete(self, type_name: str, record_id: int) -> bool:
        with self.transaction():
            cur = self._conn.execute(
                "DELETE FROM ns_record WHERE type = ? AND id = ?", (type_name, record_id)
            )
            return cur.rowcount > 0

    def page(self, type_name: str, limit: int, offset: int) -> tuple[list[int], int]:
        with self._lock:
            total = self._conn.execute(
                "SELECT count(*) AS n FROM ns_record WHERE type = ?", (type_name,)
            ).fetchone()["n"]
            rows = self._conn.execute(
                "SELECT id FROM ns_record WHERE type = ? ORDER BY id LIMIT ? OFFSET ?",
                (type_name, limit, offset),
            ).fetchall()
        return [int(r["id"]) for r in rows], int(total)

    def all(self, type_name: str) -> list[Body]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, body FROM ns_record WHERE type = ? ORDER BY id", (type_name,)
            ).fetchall()
        return [_load(r["body"], int(r["id"])) for r in rows]

    def find(self, type_name: str, field_name: str, value: str) -> list[Body]:
        """Records whose body field equals ``value`` (used for reverse references: a customer's invoices)."""
        if not field_name.isidentifier():
            raise ValueError(f"not a field name: {field_name!r}")
        # The path is written into the SQL (not bound) so that json_extract(body, '$.entity') can use the
        # expression index; field names come from the record descriptions, never from a request.
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, body FROM ns_record "
                f"WHERE type = ? AND json_extract(body, '$.{field_name}') = ? ORDER BY id",
                (type_name, value),
            ).fetchall()
        return [_load(r["body"], int(r["id"])) for r in rows]

    def find_in_sublist(self, type_name: str, sublist: str, field_name: str, value: str) -> list[Body]:
        """Records with a sublist line whose field equals ``value`` (invoices naming an item, payments a doc)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT r.id, r.body FROM ns_record r, json_each(r.body, ?) l "
                "WHERE r.type = ? AND json_extract(l.value, ?) = ? ORDER BY r.id",
                (f"$.{sublist}", type_name, f"$.{field_name}", value),
            ).fetchall()
        return [_load(r["body"], int(r["id"])) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._conn.execute("SELECT type, count(*) AS n FROM ns_record GROUP BY type").fetchall()
        found = {r["type"]: int(r["n"]) for r in rows}
        return {name: found.get(name, 0) for name in RECORD_TYPES}

    def wipe(self) -> None:
        with self.transaction():
            self._conn.execute("DELETE FROM ns_record")
            self._conn.execute("DELETE FROM ns_sequence")
            self._conn.execute("DELETE FROM ns_setting")

    # -- SuiteQL ---------------------------------------------------------------------------------

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Run a read-only statement; ``query_only`` makes SQLite itself refuse any write."""
        with self._lock:
            self._conn.execute("PRAGMA query_only = ON")
            try:
                cur = self._conn.execute(sql, params)
                columns = [d[0] for d in cur.description or ()]
                rows = [tuple(r) for r in cur.fetchall()]
            finally:
                self._conn.execute("PRAGMA query_only = OFF")
        return columns, rows

    def add_function(self, name: str, n_args: int, fn: Callable[..., Any]) -> None:
        """Make a Python function callable from SuiteQL (NetSuite's Oracle-style date functions)."""
        with self._lock:
            self._conn.create_function(name, n_args, fn)

    def _create_views(self) -> None:
        by_table: dict[str, list[RecordType]] = {}
        for rt in RECORD_TYPES.values():
            if rt.suiteql is not None:
                by_table.setdefault(rt.suiteql.table, []).append(rt)
        for table, types in by_table.items():
            selects = [_view_select(rt) for rt in types]
            self._conn.execute(f"DROP VIEW IF EXISTS {VIEW_PREFIX}{table}")
            self._conn.execute(f"CREATE VIEW {VIEW_PREFIX}{table} AS " + " UNION ALL ".join(selects))
        self._conn.execute(f"DROP VIEW IF EXISTS {VIEW_PREFIX}transactionline")
        lined = ", ".join(f"'{t}'" for t in TRANSACTIONS_WITH_ITEMS)
        self._conn.execute(
            f"CREATE VIEW {VIEW_PREFIX}transactionline AS "
            "SELECT json_extract(l.value, '$.line') AS id, r.id AS \"transaction\", "
            "json_extract(l.value, '$.line') AS linesequencenumber, "
            "CAST(json_extract(l.value, '$.item') AS INTEGER) AS item, "
            "json_extract(l.value, '$.quantity') AS quantity, json_extract(l.value, '$.rate') AS rate, "
            "json_extract(l.value, '$.amount') AS foreignamount, "
            "json_extract(l.value, '$.description') AS memo, 'F' AS mainline, "
            "CASE WHEN json_extract(l.value, '$.isClosed') THEN 'T' ELSE 'F' END AS isclosed, "
            # The transaction this line was created from: an invoice line points at its sales order.
            "CAST(json_extract(r.body, '$.createdFrom') AS INTEGER) AS createdfrom, "
            "CAST(json_extract(r.body, '$.entity') AS INTEGER) AS entity "
            f"FROM ns_record r, json_each(r.body, '$.item') l WHERE r.type IN ({lined})"
        )
        # NetSuite's link tables: one row per (previous line -> next line). PreviousTransactionLineLink
        # holds the same links as NextTransactionLineLink, read from the other end.
        links = (
            # Billing: each invoice line came from the order line it names (orderLine, set by the
            # transform); lines added to the invoice by hand link to no order line.
            "SELECT CAST(json_extract(r.body, '$.createdFrom') AS INTEGER) AS previousdoc, "
            "json_extract(l.value, '$.orderLine') AS previousline, 'SalesOrd' AS previoustype, "
            "r.id AS nextdoc, json_extract(l.value, '$.line') AS nextline, 'CustInvc' AS nexttype, "
            "'OrdBill' AS linktype, json_extract(l.value, '$.amount') AS foreignamount, "
            "round(json_extract(l.value, '$.amount') * coalesce(json_extract(r.body, '$.exchangeRate'), 1), 2) "
            "AS amount "
            "FROM ns_record r, json_each(r.body, '$.item') l "
            "WHERE r.type = 'invoice' AND json_extract(r.body, '$.createdFrom') IS NOT NULL "
            "AND json_extract(l.value, '$.orderLine') IS NOT NULL "
            "UNION ALL "
            # Payments and credit memos applied to invoices: main line (0) to main line.
            "SELECT CAST(json_extract(l.value, '$.doc') AS INTEGER), 0, 'CustInvc', r.id, 0, "
            "CASE r.type WHEN 'customerPayment' THEN 'CustPymt' ELSE 'CustCred' END, 'Payment', "
            "json_extract(l.value, '$.amount'), "
            "round(json_extract(l.value, '$.amount') * coalesce(json_extract(r.body, '$.exchangeRate'), 1), 2) "
            "FROM ns_record r, json_each(r.body, '$.apply') l "
            "WHERE r.type IN ('customerPayment', 'creditMemo') "
            "AND coalesce(json_extract(l.value, '$.apply'), 1) AND json_extract(l.value, '$.amount') > 0"
        )
        for table in ("nexttransactionlinelink", "previoustransactionlinelink"):
            self._conn.execute(f"DROP VIEW IF EXISTS {VIEW_PREFIX}{table}")
            self._conn.execute(f"CREATE VIEW {VIEW_PREFIX}{table} AS {links}")

    def suiteql_tables(self) -> dict[str, list[str]]:
        """SuiteQL table -> its columns, for validating queries before they reach SQLite."""
        tables: dict[str, list[str]] = {}
        with self._lock:
            rows = self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'view' AND name LIKE ?", (f"{VIEW_PREFIX}%",)
            ).fetchall()
            for row in rows:
                info = self._conn.execute(f"PRAGMA table_info({row['name']})").fetchall()
                tables[row["name"][len(VIEW_PREFIX) :]] = [i["name"] for i in info]
        return tables


def _view_select(rt: RecordType) -> str:
    assert rt.suiteql is not None
    parts = []
    for column, source in rt.suiteql.columns.items():
        parts.append(f'{_column_sql(rt, source)} AS "{column}"')
    if rt.suiteql.type_code is not None:
        parts.append(f"'{rt.suiteql.type_code}' AS type")
        parts.append(f"'{rt.name.lower()}' AS recordtype")
    return f"SELECT {', '.join(parts)} FROM ns_record r WHERE r.type = '{rt.name}'"


def _column_sql(rt: RecordType, source: str) -> str:
    if source.startswith("sql:"):
        return source[4:]
    if source == "id":
        return "r.id"
    extract = f"json_extract(r.body, '$.{source}')"
    f = rt.field(source)
    if f is None:
        return extract
    if f.kind is Kind.BOOLEAN:
        return f"CASE WHEN {extract} THEN 'T' ELSE 'F' END"
    if f.kind is Kind.REF:
        # References are stored as id strings; SuiteQL compares them with numbers (entity = 42).
        return f"CAST({extract} AS INTEGER)"
    return extract


def _load(text: str, record_id: int) -> Body:
    body: Body = json.loads(text)
    body["id"] = str(record_id)
    return body
