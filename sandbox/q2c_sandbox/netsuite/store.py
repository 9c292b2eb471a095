"""SQLite persistence for sandbox records.

Records are kept as JSON documents (one row per record) in the stored form the codec produces: references
as plain id strings, sublists as lists of line objects. SuiteQL sees them through views named after
NetSuite's tables, generated from the record descriptions, so the record API and SuiteQL always agree.

The revenue recognition tables (revenueelement, revenueplan, revenueplanplannedrevenue) are views too,
computed on read from each sales order line, its item and the item's rule; ``ns_order_line`` only keys
them (one row per order line, rewritten with the order), so that joining them on their ids and reading
them for a list of orders are index lookups rather than a pass over every order's JSON.
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

from q2c_sandbox.netsuite.records import (
    BUILTIN_RECORDS,
    DEFAULT_TERM_MONTHS,
    INVENTORY_ITEM,
    ITEM_TYPES,
    MAX_TERM_MONTHS,
    RECORD_TYPES,
    Kind,
    RecordType,
    month_period_sql,
)

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
-- A sales order's fulfillments and invoices (createdFrom), and change polls on lastmodifieddate: the
-- SuiteQL columns are exactly these expressions, so a watermark filter is an index range.
CREATE INDEX IF NOT EXISTS ns_record_created_from ON ns_record (type, json_extract(body, '$.createdFrom'));
CREATE INDEX IF NOT EXISTS ns_record_modified ON ns_record (type, json_extract(body, '$.lastModifiedDate'));
-- Stock per (inventory item, location): the sum of the StockEffects of every stored transaction (kept up
-- to date by each write and delete) plus the quantity on order from expected receipts.
CREATE TABLE IF NOT EXISTS ns_stock (
    item INTEGER NOT NULL,
    location INTEGER NOT NULL,
    on_hand REAL NOT NULL DEFAULT 0,
    committed REAL NOT NULL DEFAULT 0,
    on_order REAL NOT NULL DEFAULT 0,
    back_ordered REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (item, location)
);
-- The keys of the revenue views (revenueelement, revenueplan, revenueplanplannedrevenue): one row per
-- sales order line, rewritten with every write of the order. Only keys: every value the views show is
-- computed from the records when read. They exist so that joining the views on their ids is a primary-key
-- lookup: an id computed from a record's JSON could only be matched by reading every order.
CREATE TABLE IF NOT EXISTS ns_order_line (
    id INTEGER PRIMARY KEY,          -- the revenue element: sales order id * 1000 + line
    sales_order INTEGER NOT NULL,
    line INTEGER NOT NULL,
    plan INTEGER NOT NULL UNIQUE     -- its revenue plan: element id * 10 + 1
);
CREATE INDEX IF NOT EXISTS ns_order_line_order ON ns_order_line (sales_order);
"""

# Fixed planner statistics (sqlite_stat1): a large account, many records per type, few per id, entity,
# createdFrom or modification second. Without statistics SQLite guesses that (type = ?) finds a handful of
# rows and may scan every item for each row of a join (itemmember JOIN item); ANALYZE would fix that but
# depend on the data at the time it ran. These make the plans the same at any volume.
_PLANNER_STATS = {
    ("ns_record", "sqlite_autoindex_ns_record_1"): "1000000 50000 1",
    ("ns_record", "ns_record_external_id"): "1000000 50000 1",
    ("ns_record", "ns_record_entity"): "1000000 50000 20",
    ("ns_record", "ns_record_created_from"): "1000000 50000 2",
    ("ns_record", "ns_record_modified"): "1000000 50000 2",
    ("ns_stock", "sqlite_autoindex_ns_stock_1"): "100000 5 1",
    ("ns_order_line", "ns_order_line_order"): "1000000 3",
    ("ns_order_line", "sqlite_autoindex_ns_order_line_1"): "1000000 1",
    ("ns_order_line", None): "1000000",
}
_STATS_TABLES = ("ns_record", "ns_stock", "ns_order_line")

# SuiteQL table name -> the SQLite view holding it. Prefixed because NetSuite's names collide with SQL
# keywords ("transaction") and with the sandbox's own tables.
VIEW_PREFIX = "suiteql_"

STOCK_BALANCES = ("on_hand", "committed", "on_order", "back_ordered")
# Stock quantities are rounded to this many decimals, so sums of fractions do not drift.
STOCK_DECIMALS = 6
# Sales order lines numbered 1..MAX_KEYED_LINE have revenue elements (the element id holds the line in its
# last three digits).
MAX_KEYED_LINE = 999

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
        # Deterministic: SQLite then computes ns_this_month() once per statement, not once per row.
        self._conn.create_function("ns_this_month", 0, self._this_month, deterministic=True)
        self._conn.create_function("ns_revenue_months", 3, revenue_months, deterministic=True)
        with self._lock:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.executescript(_SCHEMA)
            self._rebuild_order_lines()
            self._use_planner_stats()
            self._create_views()

    def _use_planner_stats(self) -> None:
        self._conn.execute("ANALYZE ns_sequence")  # creates sqlite_stat1 if need be
        self._conn.execute(f"DELETE FROM sqlite_stat1 WHERE tbl IN ({_in_list(_STATS_TABLES)})")
        self._conn.executemany(
            "INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)",
            [(table, index, stat) for (table, index), stat in _PLANNER_STATS.items()],
        )
        self._conn.execute("ANALYZE sqlite_schema")  # the planner rereads sqlite_stat1

    def _this_month(self) -> int:
        """The sandbox clock's month as a month index, year * 12 + month - 1."""
        today = self._today()
        return today.year * 12 + today.month - 1

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
            if type_name == "salesOrder":
                self._key_order_lines(record_id, stored.get("item") or [])

    def delete(self, type_name: str, record_id: int) -> bool:
        with self.transaction():
            cur = self._conn.execute(
                "DELETE FROM ns_record WHERE type = ? AND id = ?", (type_name, record_id)
            )
            if type_name == "salesOrder":
                self._key_order_lines(record_id, [])
            return cur.rowcount > 0

    def _key_order_lines(self, order_id: int, lines: list[Body]) -> None:
        self._conn.execute("DELETE FROM ns_order_line WHERE sales_order = ?", (order_id,))
        numbers = {line.get("line") for line in lines}
        keyed = sorted(n for n in numbers if isinstance(n, int) and 1 <= n <= MAX_KEYED_LINE)
        self._conn.executemany(
            "INSERT INTO ns_order_line (id, sales_order, line, plan) VALUES (?, ?, ?, ?)",
            [(_element_id(order_id, n), order_id, n, _element_id(order_id, n) * 10 + 1) for n in keyed],
        )

    def _rebuild_order_lines(self) -> None:
        """Key every stored sales order line (a database written before the revenue views had none)."""
        element = f"r.id * 1000 + {_LINE}"
        self._conn.execute("DELETE FROM ns_order_line")
        self._conn.execute(
            "INSERT OR IGNORE INTO ns_order_line (id, sales_order, line, plan) "
            f"SELECT {element}, r.id, {_LINE}, ({element}) * 10 + 1 "
            "FROM ns_record r, json_each(r.body, '$.item') l "
            f"WHERE r.type = 'salesOrder' AND {_LINE} BETWEEN 1 AND {MAX_KEYED_LINE}"
        )

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

    def type_of(self, candidates: tuple[str, ...], record_id: int) -> str | None:
        """Which of ``candidates`` record ``record_id`` is (types sharing an id sequence: the item types)."""
        marks = ", ".join("?" for _ in candidates)
        with self._lock:
            row = self._conn.execute(
                f"SELECT type FROM ns_record WHERE type IN ({marks}) AND id = ?", (*candidates, record_id)
            ).fetchone()
        return None if row is None else str(row["type"])

    def ids(self, type_name: str) -> set[int]:
        with self._lock:
            rows = self._conn.execute("SELECT id FROM ns_record WHERE type = ?", (type_name,)).fetchall()
        return {int(r["id"]) for r in rows}

    def counts(self) -> dict[str, int]:
        """Records per type, leaving out the built-in ones every account has (the Base Price level, the
        revenue recognition rules, the accounting periods)."""
        with self._lock:
            rows = self._conn.execute("SELECT type, count(*) AS n FROM ns_record GROUP BY type").fetchall()
        found = {r["type"]: int(r["n"]) for r in rows}
        for type_name, builtins in BUILTIN_RECORDS.items():
            found[type_name] = found.get(type_name, 0) - len(self.ids(type_name) & builtins.keys())
        return {name: found.get(name, 0) for name in RECORD_TYPES}

    def wipe(self) -> None:
        with self.transaction():
            self._conn.execute("DELETE FROM ns_record")
            self._conn.execute("DELETE FROM ns_sequence")
            self._conn.execute("DELETE FROM ns_setting")
            self._conn.execute("DELETE FROM ns_stock")
            self._conn.execute("DELETE FROM ns_order_line")

    # -- stock -----------------------------------------------------------------------------------

    def stock(self, item: int, location: int) -> dict[str, float]:
        """The balances of (item, location); zeros when nothing ever moved there."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {', '.join(STOCK_BALANCES)} FROM ns_stock WHERE item = ? AND location = ?",
                (item, location),
            ).fetchone()
        return {b: (float(row[b]) if row is not None else 0.0) for b in STOCK_BALANCES}

    def add_stock(self, item: int, location: int, delta: dict[str, float]) -> None:
        unknown = set(delta) - set(STOCK_BALANCES)
        if unknown:
            raise ValueError(f"not stock balances: {sorted(unknown)}")
        if not delta:
            return
        names = sorted(delta)
        sets = ", ".join(f"{b} = round({b} + ?, {STOCK_DECIMALS})" for b in names)
        with self.transaction():
            self._conn.execute(
                "INSERT INTO ns_stock (item, location) VALUES (?, ?) ON CONFLICT (item, location) DO NOTHING",
                (item, location),
            )
            self._conn.execute(
                f"UPDATE ns_stock SET {sets} WHERE item = ? AND location = ?",
                (*(delta[b] for b in names), item, location),
            )

    def stock_rows(self, item: int | None = None) -> list[dict[str, Any]]:
        """Every (item, location) with recorded stock movement, by item and location."""
        where, params = ("WHERE item = ?", (item,)) if item is not None else ("", ())
        with self._lock:
            rows = self._conn.execute(
                f"SELECT item, location, {', '.join(STOCK_BALANCES)} FROM ns_stock {where} "
                "ORDER BY item, location",
                params,
            ).fetchall()
        return [dict(r) for r in rows]

    def backordered_orders(self, item: int, location: int) -> list[int]:
        """Sales orders with a line back-ordered at (item, location), oldest (tranDate, then id) first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT DISTINCT r.id, json_extract(r.body, '$.tranDate') AS d "
                "FROM ns_record r, json_each(r.body, '$.item') l WHERE r.type = 'salesOrder' "
                "AND json_extract(l.value, '$.item') = ? AND json_extract(l.value, '$.location') = ? "
                "AND json_extract(l.value, '$.quantityBackOrdered') > 0 ORDER BY d, r.id",
                (str(item), str(location)),
            ).fetchall()
        return [int(r["id"]) for r in rows]

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

    def add_window_function(self, name: str, n_args: int, aggregate: Callable[[], Any]) -> None:
        """An aggregate that also works as a window function (``step``, ``inverse``, ``value``,
        ``finalize``), callable from SuiteQL."""
        with self._lock:
            self._conn.create_window_function(name, n_args, aggregate)

    def _create_views(self) -> None:
        by_table: dict[str, list[RecordType]] = {}
        for rt in RECORD_TYPES.values():
            if rt.suiteql is not None:
                by_table.setdefault(rt.suiteql.table, []).append(rt)
        for table, types in by_table.items():
            self._conn.execute(f"DROP VIEW IF EXISTS {VIEW_PREFIX}{table}")
            self._conn.execute(f"CREATE VIEW {VIEW_PREFIX}{table} AS {_view_select(types)}")
        for table, sql in _derived_views().items():
            self._conn.execute(f"DROP VIEW IF EXISTS {VIEW_PREFIX}{table}")
            self._conn.execute(f"CREATE VIEW {VIEW_PREFIX}{table} AS {sql}")
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
            # Fulfilment: each item fulfillment line ships the order line it names.
            "SELECT CAST(json_extract(r.body, '$.createdFrom') AS INTEGER), json_extract(l.value, '$.orderLine'), "
            "'SalesOrd', r.id, json_extract(l.value, '$.line'), 'ItemShip', 'ShipRcpt', NULL, NULL "
            "FROM ns_record r, json_each(r.body, '$.item') l WHERE r.type = 'itemFulfillment' "
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


def _by_type(types: list[RecordType], value: Callable[[RecordType], str]) -> str:
    """An SQL expression over ``r.type`` taking ``value(rt)`` for each type (the common value if one)."""
    values = {rt.name: value(rt) for rt in types}
    counted = list(values.values())
    distinct = sorted(set(counted), key=lambda v: (-counted.count(v), v))
    if len(distinct) == 1:
        return distinct[0]
    cases = " ".join(f"WHEN '{name}' THEN {v}" for name, v in values.items() if v != distinct[0])
    return f"CASE r.type {cases} ELSE {distinct[0]} END"


def _in_list(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"'{n}'" for n in names)


_LINE = "json_extract(l.value, '$.line')"


def _element_id(order_id: int, line: int) -> int:
    return order_id * 1000 + line


def _add_months(date: str, months: str) -> str:
    """SQL for ``date`` plus ``months`` months, a day past the end of a shorter month being its last day
    (Jan 31 + 1 month = Feb 28), as Oracle's ADD_MONTHS. SQLite's '+N months' would roll over (Mar 3)."""
    first = f"date({date}, 'start of month', '+' || ({months}) || ' months')"
    same_day = f"date({first}, '+' || (CAST(strftime('%d', {date}) AS INTEGER) - 1) || ' days')"
    return f"min({same_day}, date({first}, '+1 month', '-1 day'))"


# What every revenue view reads: each keyed sales order line (ns_order_line) with its order, its item and
# the item's revenue recognition rule; lines whose item has no rule (an item group, an item created
# without one), closed lines and cancelled orders have no revenue. Joined by primary keys throughout.
_REVENUE_FROM = (
    "FROM ns_order_line k "
    "JOIN ns_record r ON r.type = 'salesOrder' AND r.id = k.sales_order "
    f"JOIN json_each(r.body, '$.item') l ON {_LINE} = k.line "
    "JOIN ns_record i ON i.type IN ({items}) AND i.id = CAST(json_extract(l.value, '$.item') AS INTEGER) "
    "JOIN ns_record rr ON rr.type = 'revRecRule' "
    "AND rr.id = CAST(json_extract(i.body, '$.revenueRecognitionRule') AS INTEGER)"
)
_REVENUE_WHERE = (
    "WHERE coalesce(json_extract(r.body, '$.status'), '') <> 'C' "
    "AND NOT coalesce(json_extract(l.value, '$.isClosed'), 0)"
)
_START = "coalesce(json_extract(l.value, '$.revRecStartDate'), json_extract(r.body, '$.tranDate'))"
_METHOD = "json_extract(rr.body, '$.recognitionMethod')"
_TERM = (
    f"(CASE WHEN {_METHOD} = 'IMMEDIATE' THEN 1 ELSE coalesce(json_extract(l.value, '$.revRecTermInMonths'), "
    f"json_extract(i.body, '$.revRecTermInMonths'), {DEFAULT_TERM_MONTHS}) END)"
)
# The last day of the plan: the day before the same day ``term`` months on (straight-line), the start date
# itself (immediate).
_STRAIGHT_LINE_END = f"date({_add_months(_START, _TERM)}, '-1 day')"
_END = f"(CASE WHEN {_METHOD} = 'IMMEDIATE' THEN {_START} ELSE {_STRAIGHT_LINE_END} END)"
_AMOUNT = "json_extract(l.value, '$.amount')"
# Month indexes (year * 12 + month - 1): of the start date, and of the sandbox clock's today. A month has
# ended before today (its period is closed) when its index is below this month's.
_START_MONTH = f"(CAST(substr({_START}, 1, 4) AS INTEGER) * 12 + CAST(substr({_START}, 6, 2) AS INTEGER) - 1)"
_THIS_MONTH = "ns_this_month()"


# A revenue plan's months are keyed MONTH_KEY * k + (year * 12 + month - 1) for its month k (from 1).
MONTH_KEY = 100_000


def revenue_months(start: Any, term: Any, amount: Any) -> str:
    """The months of a revenue plan, as SQL's ns_revenue_months(start, term, amount) returns them: a JSON
    object {MONTH_KEY * k + month index: amount} for the plan's month k = 1..term, the first being the
    month of ``start``. Month k of n recognises round(A*k/n, 2) - round(A*(k-1)/n, 2), halves away from
    zero, in whole cents, so the months add up exactly to A. An object rather than an array of rows, so
    SQL reads each month's key and amount from json_each without parsing anything more."""
    try:
        first = dt.date.fromisoformat(str(start)[:10])
        months = min(int(term), MAX_TERM_MONTHS)
        cents = round(float(amount) * 100)
    except (TypeError, ValueError, OverflowError):
        return "{}"  # no start date, term or amount: nothing to plan
    if months < 1:
        return "{}"
    sign, cents = (-1 if cents < 0 else 1), abs(cents)
    index = first.year * 12 + first.month - 1
    entries = []
    done = 0
    for k in range(1, months + 1):
        through = (2 * cents * k + months) // (2 * months)  # round(cents * k / months), halves up
        entries.append(f'"{MONTH_KEY * k + index + k - 1}":{sign * (through - done) / 100!r}')
        done = through
    return "{" + ",".join(entries) + "}"  # written out: json.dumps takes three times as long


def _revenue_views() -> dict[str, str]:
    """revenueelement, revenueplan and revenueplanplannedrevenue: computed from the sales orders, items and
    rules on every read (the keys in ns_order_line aside), so they follow every write and the clock.

    Month k of a plan of n months for amount A recognises round(A*k/n, 2) - round(A*(k-1)/n, 2), computed
    in cents, so the months add up exactly to A; whole months, from the start date's month, without daily
    proration. A month is recognised once its accounting period is closed (ended before the sandbox's
    today); plannedperiod is null outside the years the sandbox has periods for."""
    with_rule = [t for t in ITEM_TYPES if RECORD_TYPES[t].field("revenueRecognitionRule") is not None]
    source = _REVENUE_FROM.format(items=_in_list(with_rule))
    item = "CAST(json_extract(l.value, '$.item') AS INTEGER)"
    element = (
        "SELECT k.id AS id, k.sales_order AS sourcetransaction, k.line AS sourcetransactionline, "
        f"{item} AS item, CAST(json_extract(r.body, '$.entity') AS INTEGER) AS entity, "
        "CAST(json_extract(r.body, '$.currency') AS INTEGER) AS currency, "
        f"{_AMOUNT} AS salesamount, {_START} AS revrecstartdate, {_END} AS revrecenddate, "
        f"rr.id AS revenuerecognitionrule {source} {_REVENUE_WHERE}"
    )
    plan = (
        f"SELECT k.plan AS id, k.id AS createdfrom, {item} AS item, {_AMOUNT} AS amount, "
        f"{_START} AS revrecstartdate, {_END} AS revrecenddate, {_METHOD} AS recognitionmethod, "
        "'ACTUAL' AS revenueplantype, "
        f"CASE WHEN {_START_MONTH} + {_TERM} - 1 < {_THIS_MONTH} THEN 'COMPLETED' "
        f"WHEN {_START_MONTH} < {_THIS_MONTH} THEN 'INPROGRESS' ELSE 'NOTSTARTED' END AS status "
        f"{source} {_REVENUE_WHERE}"
    )
    # One row per month: json_each over the months revenue_months works out once per plan, rather than
    # SQL recomputing the plan's start, term and amount (JSON lookups all) for every month.
    months = f"json_each(ns_revenue_months({_START}, {_TERM}, {_AMOUNT})) mo"
    key = "CAST(mo.key AS INTEGER)"
    month = f"({key} % {MONTH_KEY})"
    planned = (
        f"SELECT k.plan * 1000 + {key} / {MONTH_KEY} AS id, k.plan AS revenueplan, "
        f"{month_period_sql(month)} AS plannedperiod, mo.value AS amount, "
        f"CASE WHEN {month} < {_THIS_MONTH} THEN 'T' ELSE 'F' END AS isrecognized "
        f"{source} JOIN {months} {_REVENUE_WHERE}"
    )
    return {"revenueelement": element, "revenueplan": plan, "revenueplanplannedrevenue": planned}


def _derived_views() -> dict[str, str]:
    """The SuiteQL tables that are not one row per record: transaction lines, prices, group members, stock."""
    lined = [rt for rt in RECORD_TYPES.values() if rt.suiteql is not None and rt.suiteql.lines]
    path = _by_type(lined, lambda rt: f"'$.{rt.suiteql.lines}'")  # type: ignore[union-attr]
    quantity = _by_type(
        lined,
        lambda rt: f"json_extract(l.value, '$.{rt.suiteql.line_quantity}')",  # type: ignore[union-attr]
    )
    line = "json_extract(l.value, '$.{}')".format
    transactionline = (
        f'SELECT {line("line")} AS id, r.id AS "transaction", {line("line")} AS linesequencenumber, '
        f"CAST({line('item')} AS INTEGER) AS item, {quantity} AS quantity, {line('rate')} AS rate, "
        f"{line('amount')} AS foreignamount, {line('description')} AS memo, 'F' AS mainline, 'F' AS taxline, "
        f"CASE WHEN {line('isClosed')} THEN 'T' ELSE 'F' END AS isclosed, "
        f"CAST({line('location')} AS INTEGER) AS location, "
        # A sales order line's fulfilled, committed and back-ordered quantities (NULL on other lines).
        f"{line('quantityFulfilled')} AS quantityshiprecv, {line('quantityCommitted')} AS quantitycommitted, "
        f"{line('quantityBackOrdered')} AS quantitybackordered, "
        # The transaction this line was created from: an invoice or fulfillment line points at its order.
        "CAST(json_extract(r.body, '$.createdFrom') AS INTEGER) AS createdfrom, "
        "CAST(json_extract(r.body, '$.entity') AS INTEGER) AS entity "
        f"FROM ns_record r, json_each(r.body, {path}) l WHERE r.type IN ({_in_list([rt.name for rt in lined])})"
    )
    priced = tuple(t for t in ITEM_TYPES if RECORD_TYPES[t].sublist("price") is not None)
    grouped = tuple(t for t in ITEM_TYPES if RECORD_TYPES[t].sublist("member") is not None)
    pricing = (
        "SELECT r.id AS item, CAST(json_extract(l.value, '$.priceLevel') AS INTEGER) AS pricelevel, "
        "CAST(json_extract(l.value, '$.currency') AS INTEGER) AS currency, "
        "coalesce(json_extract(l.value, '$.quantity'), 0) AS quantity, "
        "json_extract(l.value, '$.price') AS unitprice "
        f"FROM ns_record r, json_each(r.body, '$.price') l WHERE r.type IN ({_in_list(priced)})"
    )
    itemmember = (
        "SELECT r.id AS parentitem, CAST(json_extract(l.value, '$.item') AS INTEGER) AS item, "
        "coalesce(json_extract(l.value, '$.quantity'), 1) AS quantity, "
        "json_extract(l.value, '$.line') AS linenumber "
        f"FROM ns_record r, json_each(r.body, '$.member') l WHERE r.type IN ({_in_list(grouped)})"
    )
    # Every inventory item has a row per location (zeros where nothing is stocked), as on a real account.
    available = f"round(coalesce(s.on_hand, 0) - coalesce(s.committed, 0), {STOCK_DECIMALS})"
    inventoryitemlocations = (
        "SELECT i.id AS item, l.id AS location, coalesce(s.on_hand, 0) AS quantityonhand, "
        f"{available} AS quantityavailable, coalesce(s.on_order, 0) AS quantityonorder, "
        "coalesce(s.back_ordered, 0) AS quantitybackordered, coalesce(s.committed, 0) AS quantitycommitted "
        "FROM ns_record i JOIN ns_record l ON l.type = 'location' "
        "LEFT JOIN ns_stock s ON s.item = i.id AND s.location = l.id "
        f"WHERE i.type = '{INVENTORY_ITEM}'"
    )
    # Only where something is on hand.
    inventorybalance = (
        "SELECT s.item AS item, s.location AS location, s.on_hand AS quantityonhand, "
        f"{available} AS quantityavailable FROM ns_stock s "
        f"JOIN ns_record i ON i.type = '{INVENTORY_ITEM}' AND i.id = s.item "
        "JOIN ns_record l ON l.type = 'location' AND l.id = s.location WHERE s.on_hand <> 0"
    )
    return {
        "transactionline": transactionline,
        "pricing": pricing,
        "itemmember": itemmember,
        "inventoryitemlocations": inventoryitemlocations,
        "inventorybalance": inventorybalance,
        **_revenue_views(),
    }


def _view_select(types: list[RecordType]) -> str:
    """One SELECT over the records of every type in a SuiteQL table (item: four types; transaction: one
    per transaction type), a column that differs by type being a CASE on r.type. One SELECT rather than
    a UNION ALL, so SQLite can flatten the view into a join (item JOIN itemmember, transaction JOIN
    transactionline) and use the indexes on (type, json_extract(...)) and the primary key."""
    tables = {rt.suiteql.table if rt.suiteql else None for rt in types}
    columns = [list(rt.suiteql.columns) if rt.suiteql else [] for rt in types]
    if len(tables) != 1 or any(c != columns[0] for c in columns):
        raise ValueError(
            f"the record types of SuiteQL table {tables} must have the same columns in one order"
        )
    parts = []
    for column in columns[0]:
        parts.append(f'{_by_type(types, _column_of(column, types))} AS "{column}"')
    if types[0].suiteql is not None and types[0].suiteql.type_code is not None:
        parts.append(_by_type(types, lambda rt: f"'{rt.suiteql.type_code}'") + " AS type")  # type: ignore[union-attr]
        parts.append(_by_type(types, lambda rt: f"'{rt.name.lower()}'") + " AS recordtype")
    return (
        f"SELECT {', '.join(parts)} FROM ns_record r WHERE r.type IN ({_in_list([rt.name for rt in types])})"
    )


def _column_of(column: str, types: list[RecordType]) -> Callable[[RecordType], str]:
    """The SQL of ``column`` for one type. A type lacking the field reads it as a type that has it does
    (the same JSON path and cast: NULL either way), so the column needs no CASE for it."""

    def sql(rt: RecordType) -> str:
        assert rt.suiteql is not None
        source = rt.suiteql.columns[column]
        if not source.startswith("sql:") and source != "id" and rt.field(source) is None:
            declaring = next(
                (t for t in types if t.suiteql and t.suiteql.columns[column] == source and t.field(source)),
                rt,
            )
            return _column_sql(declaring, source)
        return _column_sql(rt, source)

    return sql


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
