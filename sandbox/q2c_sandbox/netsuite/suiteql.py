"""SuiteQL over the sandbox's SQLite views.

A query is parsed as Oracle SQL with sqlglot, checked (one SELECT, only NetSuite tables the sandbox
knows), rewritten (tables to their views, Oracle date functions to Python functions registered in
SQLite) and run in SQLite. Results look like NetSuite's: lower-case column names, every value a string,
null columns left out, raw dates in the account's date format (M/D/YYYY). SUM adds in decimal, as a
real account does, so amounts add up to the cent (SQLite would add binary floats).

How dates and datetimes compare. Stored dates (trandate, duedate) are ``YYYY-MM-DD`` strings, stored
datetimes (createddate, lastmodifieddate) ``YYYY-MM-DDTHH:MM:SSZ`` in UTC with whole seconds, and
TO_DATE returns the same two shapes (a datetime when its format has a time token), so comparisons are
ISO string comparisons and ORDER BY lastmodifieddate is chronological. A change poller reads

    SELECT id, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS modified FROM transaction
    WHERE lastmodifieddate > TO_DATE('2026-01-05 10:00:00', 'YYYY-MM-DD HH24:MI:SS')
    ORDER BY lastmodifieddate, id

and pages with limit/offset. Differences from a real account: a real account compares in the time zone
of the user's preferences, the sandbox in UTC; a date-only TO_DATE compares below every datetime of that
day (``lastmodifieddate > TO_DATE('2026-01-05', 'YYYY-MM-DD')`` includes 2026-01-05T00:00:00Z, which
Oracle would treat as equal); and stamps have one-second resolution, so a poller should re-read the
watermark's second (>=) and skip what it has seen. SYSDATE and CURRENT_DATE follow the sandbox clock,
as do the computed columns transaction.daysoverduesearch and customer.overduebalancesearch /
daysoverduesearch; moving the clock changes them without changing lastmodifieddate.
"""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.dialects.sqlite import SQLite
from sqlglot.errors import ParseError, SqlglotError

from q2c_sandbox.netsuite.codec import page_links
from q2c_sandbox.netsuite.errors import NsError
from q2c_sandbox.netsuite.store import VIEW_PREFIX, Store

MAX_LIMIT = 1000
MAX_REACHABLE_ROWS = 100_000
PATH = "/services/rest/query/v1/suiteql"
SEARCH_ERROR = "Invalid search query. Detailed unprocessed description follows. Search error occurred: "

# Columns holding dates or datetimes: returned in the date format when selected as they are.
DATE_COLUMNS = {
    "trandate",
    "duedate",
    "createddate",
    "datecreated",
    "lastmodifieddate",
    "startdate",  # accountingperiod
    "enddate",
    "revrecstartdate",  # revenueelement, revenueplan
    "revrecenddate",
}

_ORACLE_TOKENS = [
    ("YYYY", "%Y"),
    ("HH24", "%H"),
    ("HH12", "%I"),
    ("MON", "%b"),
    ("MM", "%m"),
    ("DD", "%d"),
    ("HH", "%I"),
    ("MI", "%M"),
    ("SS", "%S"),
    ("AM", "%p"),
    ("PM", "%p"),
    ("YY", "%y"),
]


class _QuotingSQLite(SQLite):
    """SQLite with every identifier quoted in backticks.

    Quoted, because NetSuite names such as "transaction" are keywords to SQLite; backticks rather than
    double quotes, because SQLite reads a double-quoted name that matches no column as a string literal,
    which would hide a misspelt column instead of reporting it.
    """

    class Tokenizer(SQLite.Tokenizer):
        IDENTIFIERS = ["`"]


def _oracle_to_strftime(fmt: str) -> str:
    out, i = [], 0
    upper = fmt.upper()
    while i < len(fmt):
        for token, directive in _ORACLE_TOKENS:
            if upper.startswith(token, i):
                out.append(directive)
                i += len(token)
                break
        else:
            out.append("%%" if fmt[i] == "%" else fmt[i])
            i += 1
    return "".join(out)


def _parse_stored(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _stored_form(value: dt.datetime, has_time: bool) -> str:
    if has_time:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.strftime("%Y-%m-%d")


def netsuite_date(value: str) -> str:
    parsed = _parse_stored(value)
    return f"{parsed.month}/{parsed.day}/{parsed.year}" if parsed else value


def _error(detail: str) -> NsError:
    return NsError(400, "INVALID_PARAMETER", SEARCH_ERROR + detail)


@dataclass
class PreparedQuery:
    sql: str
    date_columns: set[str]  # output column names to format as dates


class SuiteQL:
    def __init__(self, store: Store, now: Callable[[], dt.datetime]) -> None:
        self.store = store
        self.now = now
        self.tables = store.suiteql_tables()
        store.add_function("ns_to_date", 2, self._to_date)
        store.add_function("ns_to_char", 2, self._to_char)
        store.add_function("ns_sysdate", 0, lambda: _stored_form(self.now().astimezone(dt.UTC), True))
        store.add_function("ns_current_date", 0, lambda: _stored_form(self.now().astimezone(dt.UTC), False))
        # Replaces SQLite's own SUM on the store's connection (column names stay "sum(...)").
        store.add_window_function("sum", 1, DecimalSum)

    @staticmethod
    def _to_date(value: Any, fmt: str) -> str | None:
        if value is None:
            return None
        try:
            parsed = dt.datetime.strptime(str(value), fmt)
        except ValueError as exc:
            # SQLite reports the message of an exception raised in a user function.
            raise ValueError(f"TO_DATE could not read {value!r}: {exc}") from None
        return _stored_form(parsed, any(d in fmt for d in ("%H", "%I", "%M", "%S")))

    @staticmethod
    def _to_char(value: Any, fmt: str | None) -> str | None:
        if value is None:
            return None
        parsed = _parse_stored(value)
        if parsed is None or fmt is None:
            return str(value)
        return parsed.strftime(_oracle_to_strftime(fmt))

    # -- translation ---------------------------------------------------------------------------------

    def prepare(self, query: str) -> PreparedQuery:
        try:
            statements = [s for s in sqlglot.parse(query, read="oracle") if s is not None]
        except (ParseError, SqlglotError) as exc:
            raise _error(f"the query could not be parsed: {str(exc).splitlines()[0]}") from None
        if len(statements) != 1:
            raise _error("exactly one SELECT statement is allowed.")
        tree = statements[0]
        if not isinstance(tree, exp.Query):
            raise _error(f"only SELECT queries are allowed, not {tree.key.upper()}.")
        cte_names = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        for table in list(tree.find_all(exp.Table)):
            name = table.name.lower()
            if name in cte_names:
                continue
            if name not in self.tables:
                raise _error(f"Record '{table.name}' was not found.")
            if not table.alias:
                table.set("alias", exp.TableAlias(this=exp.to_identifier(name)))
            table.set("this", exp.to_identifier(f"{VIEW_PREFIX}{name}"))
            table.set("db", None)
        tree = tree.transform(_rewrite_functions)
        for node in tree.find_all(exp.Add, exp.Sub):
            if any(_is_date_valued(side) for side in (node.this, node.expression)):
                raise _error(
                    "date arithmetic (e.g. SYSDATE - 1) is not supported by the sandbox; compare with "
                    "TO_DATE('2026-01-05', 'YYYY-MM-DD') instead."
                )
        if any(isinstance(n, exp.Column) and n.name.lower() == "rownum" for n in tree.find_all(exp.Column)):
            raise _error("ROWNUM is not supported by the sandbox; page with the limit and offset parameters.")
        try:
            sql = tree.sql(dialect=_QuotingSQLite, identify=True)
        except SqlglotError as exc:
            raise _error(f"the query uses something the sandbox cannot run: {exc}") from None
        return PreparedQuery(sql, _date_output_columns(tree))

    # -- execution -----------------------------------------------------------------------------------

    def run(self, query: str, limit: int, offset: int, base_url: str) -> dict[str, Any]:
        prepared = self.prepare(query)
        try:
            _, count_rows = self.store.query(f"SELECT COUNT(*) FROM ({prepared.sql})")
            columns, rows = self.store.query(
                f"SELECT * FROM ({prepared.sql}) LIMIT ? OFFSET ?", (limit, offset)
            )
        except sqlite3.Error as exc:
            raise _translate_sqlite_error(exc) from None
        total = min(int(count_rows[0][0]), MAX_REACHABLE_ROWS)
        rows = rows[: max(0, total - offset)]
        names = [c.lower() for c in columns]
        items = []
        for row in rows:
            item: dict[str, Any] = {"links": []}
            for name, value in zip(names, row, strict=True):
                if value is None:
                    continue  # NetSuite leaves null columns out of the row
                text = _as_text(value)
                item[name] = netsuite_date(text) if name in prepared.date_columns else text
            items.append(item)
        has_more = offset + len(items) < total
        return {
            "links": page_links(f"{base_url}{PATH}", limit, offset, total, has_more),
            "count": len(items),
            "hasMore": has_more,
            "items": items,
            "offset": offset,
            "totalResults": total,
        }


class DecimalSum:
    """SUM in decimal arithmetic, as a real account adds amounts: 142.86 * 7 months make 1000.02, never
    1000.0200000000001. Numbers are taken at their shortest decimal form; like SQLite's SUM, the sum of
    integers is an integer, text that is not a number counts as 0 and no values give NULL. Also a window
    function (SUM(...) OVER (...))."""

    def __init__(self) -> None:
        self.total = Decimal(0)
        self.count = 0
        self.floats = 0

    @staticmethod
    def _decimal(value: Any) -> tuple[Decimal, bool]:
        if isinstance(value, int):
            return Decimal(value), False
        if isinstance(value, float):
            return Decimal(repr(value)), True
        try:
            number = Decimal(str(value, "utf-8", "replace") if isinstance(value, bytes) else str(value))
        except ArithmeticError:
            return Decimal(0), False
        return (number, True) if number.is_finite() else (Decimal(0), False)

    def step(self, value: Any) -> None:
        if value is not None:
            number, inexact = self._decimal(value)
            self.total += number
            self.count += 1
            self.floats += inexact

    def inverse(self, value: Any) -> None:
        if value is not None:
            number, inexact = self._decimal(value)
            self.total -= number
            self.count -= 1
            self.floats -= inexact

    def value(self) -> int | float | None:
        if self.count == 0:
            return None
        return float(self.total) if self.floats else int(self.total)

    def finalize(self) -> int | float | None:
        return self.value()


def _rewrite_functions(node: exp.Expression) -> exp.Expression:
    if isinstance(node, exp.StrToDate | exp.StrToTime):
        fmt = node.args.get("format")
        return exp.Anonymous(
            this="ns_to_date", expressions=[node.this, fmt or exp.Literal.string("%Y-%m-%d")]
        )
    if isinstance(node, exp.ToChar):
        fmt = node.args.get("format")
        return exp.Anonymous(this="ns_to_char", expressions=[node.this, fmt or exp.Null()])
    if isinstance(node, exp.CurrentTimestamp):
        return exp.Anonymous(this="ns_sysdate", expressions=[])
    if isinstance(node, exp.CurrentDate):
        return exp.Anonymous(this="ns_current_date", expressions=[])
    if (
        isinstance(node, exp.Dot)
        and isinstance(node.this, exp.Identifier)
        and node.this.name.upper() == "BUILTIN"
    ):
        raise _error(f"{node.sql(dialect='oracle')}: BUILTIN functions are not supported by the sandbox.")
    return node


def _is_date_valued(node: exp.Expression) -> bool:
    if isinstance(node, exp.Anonymous) and node.name in ("ns_sysdate", "ns_current_date", "ns_to_date"):
        return True
    return isinstance(node, exp.Column) and node.name.lower() in DATE_COLUMNS


def _date_output_columns(tree: exp.Expression) -> set[str]:
    select = tree if isinstance(tree, exp.Select) else tree.find(exp.Select)
    if select is None:
        return set()
    found: set[str] = set()
    for projection in select.expressions:
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        if isinstance(inner, exp.Star) or (
            isinstance(inner, exp.Column) and isinstance(inner.this, exp.Star)
        ):
            found |= DATE_COLUMNS
        elif isinstance(inner, exp.Column) and inner.name.lower() in DATE_COLUMNS:
            found.add(projection.alias_or_name.lower())
        elif (
            isinstance(inner, exp.Min | exp.Max)
            and isinstance(inner.this, exp.Column)
            and inner.this.name.lower() in DATE_COLUMNS
        ):
            # The earliest or latest of a date column is a date too (MIN(startdate) AS first).
            found.add(projection.alias_or_name.lower())
    return found


def _as_text(value: Any) -> str:
    if isinstance(value, float):
        # 15 significant digits, the most a double holds exactly: a SUM of amounts prints 1000, not
        # 999.9999999999999 (a real account computes in decimals).
        if abs(value) < 1e15:
            value = float(f"{value:.15g}")
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


_NO_COLUMN = re.compile(r"no such column: (?:[\w$]+\.)?([\w$]+)")


def _translate_sqlite_error(exc: sqlite3.Error) -> NsError:
    message = str(exc)
    match = _NO_COLUMN.search(message)
    if match:
        return _error(f"Field '{match.group(1)}' was not found. Check the column name.")
    if "no such function" in message:
        return _error(f"{message.split(':', 1)[-1].strip().upper()} is not a function the sandbox supports.")
    return _error(message)
