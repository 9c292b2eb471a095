"""SQLite persistence: records as JSON documents plus a lookup index, sessions, counters, outbound queue.

One connection per app, guarded by a re-entrant lock; ``transaction()`` nests through savepoints so a
composite request can roll back one record (or all of them) without touching the others.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from q2c_sandbox.salesforce.schema import FieldDef, Schema
from q2c_sandbox.salesforce.values import id_key

Record = dict[str, Any]

_DDL = """
CREATE TABLE IF NOT EXISTS records (
    key TEXT PRIMARY KEY,            -- 15-character id (case-sensitive)
    sobject TEXT NOT NULL,
    is_deleted INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL,            -- insertion order: the natural order of unordered queries
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_by_sobject ON records (sobject, is_deleted, seq);
-- Parent references, external ids and unique keys, so lookups never scan an object's records.
CREATE TABLE IF NOT EXISTS lookups (
    sobject TEXT NOT NULL,
    field TEXT NOT NULL,
    value TEXT NOT NULL,
    key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lookups_by_value ON lookups (sobject, field, value);
CREATE INDEX IF NOT EXISTS lookups_by_key ON lookups (key);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    token TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    issued_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbound_queue (
    id TEXT PRIMARY KEY,             -- the Notification Id, stable across redeliveries
    seq INTEGER NOT NULL,
    created_at REAL NOT NULL,
    sobject TEXT NOT NULL,
    fields TEXT NOT NULL,            -- JSON snapshot of the configured fields when the change happened
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | delivered | expired
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbound_by_state ON outbound_queue (state, next_attempt_at);
"""


def lookup_value(f: FieldDef, value: Any) -> str:
    """How an indexed field's value is keyed: ids by their 15-character form, text case-insensitively."""
    if f.type in ("reference", "id"):
        return id_key(str(value))
    return str(value).lower()


class Store:
    def __init__(self, path: Path, schema: Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.lock = threading.RLock()
        self._depth = 0
        self.conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.executescript(_DDL)

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    # ---- transactions ------------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """A transaction, or a savepoint inside the current one; rolled back if the block raises."""
        with self.lock:
            depth = self._depth
            name = f"sp{depth}"
            self.conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield
            except BaseException:
                if depth == 0:
                    self.conn.execute("ROLLBACK")
                else:
                    self.conn.execute(f"ROLLBACK TO {name}")
                    self.conn.execute(f"RELEASE {name}")
                raise
            else:
                self.conn.execute("COMMIT" if depth == 0 else f"RELEASE {name}")
            finally:
                self._depth -= 1

    def execute(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self.lock:
            return self.conn.execute(sql, tuple(params))

    def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self.lock:
            return self.conn.execute(sql, tuple(params)).fetchall()

    # ---- meta values -------------------------------------------------------------------------------

    def get_meta(self, name: str, default: str | None = None) -> str | None:
        rows = self.fetchall("SELECT value FROM meta WHERE name = ?", (name,))
        return str(rows[0][0]) if rows else default

    def set_meta(self, name: str, value: str) -> None:
        self.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def next_sequence(self, name: str) -> int:
        with self.transaction():
            value = int(self.get_meta(name, "0") or "0") + 1
            self.set_meta(name, str(value))
            return value

    # ---- records -----------------------------------------------------------------------------------

    def get(self, record_id: str) -> tuple[str, Record] | None:
        """(sobject, record) for an id in 15- or 18-character form, deleted records included."""
        rows = self.fetchall("SELECT sobject, data FROM records WHERE key = ?", (id_key(record_id),))
        return (rows[0][0], json.loads(rows[0][1])) if rows else None

    def get_many(self, record_ids: Iterable[str]) -> dict[str, Record]:
        """Records by their 15-character key (missing ids are simply absent)."""
        keys = sorted({id_key(i) for i in record_ids})
        found: dict[str, Record] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for key, data in self.fetchall(f"SELECT key, data FROM records WHERE key IN ({marks})", chunk):
                found[key] = json.loads(data)
        return found

    def scan(self, sobject: str, include_deleted: bool = False) -> list[Record]:
        sql = "SELECT data FROM records WHERE sobject = ?"
        if not include_deleted:
            sql += " AND is_deleted = 0"
        return [json.loads(d) for (d,) in self.fetchall(sql + " ORDER BY seq", (sobject,))]

    def find(self, sobject: str, f: FieldDef, value: Any, include_deleted: bool = False) -> list[Record]:
        """Records whose indexed field ``f`` equals ``value`` (ids by key, text case-insensitively)."""
        sql = (
            "SELECT r.data FROM lookups l JOIN records r ON r.key = l.key "
            "WHERE l.sobject = ? AND l.field = ? AND l.value = ?"
        )
        if not include_deleted:
            sql += " AND r.is_deleted = 0"
        rows = self.fetchall(sql + " ORDER BY r.seq", (sobject, f.name, lookup_value(f, value)))
        return [json.loads(d) for (d,) in rows]

    def find_in(
        self, sobject: str, f: FieldDef, values: Iterable[Any], include_deleted: bool = False
    ) -> list[Record]:
        """Records whose indexed field ``f`` equals any of ``values``, in insertion order: one indexed
        look-up per 500 values, so an IN list or a child subquery never scans the object."""
        keys = sorted({lookup_value(f, v) for v in values if v not in (None, "")})
        sql = (
            "SELECT r.seq, r.data FROM lookups l JOIN records r ON r.key = l.key "
            "WHERE l.sobject = ? AND l.field = ? AND l.value IN ({marks})"
        )
        if not include_deleted:
            sql += " AND r.is_deleted = 0"
        return self._chunked(sql, (sobject, f.name), keys)

    def find_ids(
        self, sobject: str, record_ids: Iterable[str], include_deleted: bool = False
    ) -> list[Record]:
        """The records of ``sobject`` among ``record_ids`` (15 or 18 characters), in insertion order."""
        keys = sorted({id_key(i) for i in record_ids if i})
        sql = "SELECT seq, data FROM records WHERE sobject = ? AND key IN ({marks})"
        if not include_deleted:
            sql += " AND is_deleted = 0"
        return self._chunked(sql, (sobject,), keys)

    def _chunked(self, sql: str, params: tuple[Any, ...], keys: list[str]) -> list[Record]:
        rows: list[tuple[int, str]] = []
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows.extend(self.fetchall(sql.format(marks=",".join("?" * len(chunk))), (*params, *chunk)))
        rows.sort(key=lambda row: row[0])
        return [json.loads(data) for _, data in rows]

    def count(self, sobject: str) -> int:
        rows = self.fetchall("SELECT COUNT(*) FROM records WHERE sobject = ? AND is_deleted = 0", (sobject,))
        return int(rows[0][0])

    def save(self, sobject: str, record: Record) -> None:
        """Insert or replace a record and refresh its lookup entries."""
        key = id_key(record["Id"])
        obj = self.schema.objects[sobject]
        with self.transaction():
            existing = self.fetchall("SELECT seq FROM records WHERE key = ?", (key,))
            if existing:
                self.execute(
                    "UPDATE records SET data = ?, is_deleted = ? WHERE key = ?",
                    (json.dumps(record), int(bool(record.get("IsDeleted"))), key),
                )
            else:
                seq = self.next_sequence("record_seq")
                self.execute(
                    "INSERT INTO records (key, sobject, is_deleted, seq, data) VALUES (?, ?, ?, ?, ?)",
                    (key, sobject, int(bool(record.get("IsDeleted"))), seq, json.dumps(record)),
                )
            self.execute("DELETE FROM lookups WHERE key = ?", (key,))
            entries = [
                (sobject, f.name, lookup_value(f, record[f.name]), key)
                for f in obj.indexed_fields
                if record.get(f.name) not in (None, "")
            ]
            if entries:
                self.conn.executemany(
                    "INSERT INTO lookups (sobject, field, value, key) VALUES (?, ?, ?, ?)", entries
                )

    def counts(self) -> dict[str, int]:
        rows = self.fetchall("SELECT sobject, COUNT(*) FROM records WHERE is_deleted = 0 GROUP BY sobject")
        found = {name: 0 for name in self.schema.objects}
        found.update({str(name): int(n) for name, n in rows})
        return found

    def wipe(self) -> None:
        """Delete all data except the id sequence, so ids issued before a reset are never reused."""
        with self.transaction():
            for table in ("records", "lookups", "sessions", "outbound_queue"):
                self.execute(f"DELETE FROM {table}")
            self.execute("DELETE FROM meta WHERE name NOT IN ('id_seq', 'record_seq', 'notification_seq')")
