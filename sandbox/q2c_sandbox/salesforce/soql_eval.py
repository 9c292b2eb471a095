"""Running a parsed SOQL query against the store: name resolution, filtering, ordering, rendering.

Resolution happens once per query (unknown objects and fields fail before any record is read); parents
are fetched by id in batches and children by their parent reference (an indexed look-up per 500 parents),
so a query over tens of thousands of records never does per-pair lookups. A WHERE clause that pins Id or
an indexed field with ``=`` or ``IN`` (alone or in an AND) reads only the records the index names.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from q2c_sandbox.salesforce.errors import ApiError
from q2c_sandbox.salesforce.schema import TEXT_TYPES, ChildRelationship, FieldDef, ObjectDef, Schema
from q2c_sandbox.salesforce.soql_parser import (
    BoolOp,
    Comparison,
    Condition,
    Count,
    FieldRef,
    Literal,
    Not,
    Query,
    malformed,
    parse_soql,
    position_message,
)
from q2c_sandbox.salesforce.store import Record, Store
from q2c_sandbox.salesforce.values import parse_date, parse_datetime, utcnow

MAX_OFFSET = 2000

_LITERAL_KINDS = {
    "date": ("date", "date_literal"),
    "datetime": ("datetime", "date_literal"),
    "boolean": ("boolean",),
    "number": ("number",),
    "text": ("string",),
}


def _kind_of(f: FieldDef) -> str:
    if f.is_number:
        return "number"
    if f.type in ("date", "datetime", "boolean"):
        return f.type
    return "text"


@dataclass
class ResolvedField:
    hops: list[FieldDef]  # reference fields walked from the queried object to the field's object
    field: FieldDef
    pos: int

    @property
    def key(self) -> tuple[str, ...]:
        return (*(h.name for h in self.hops), self.field.name)


@dataclass
class ChildPlan:
    relationship: ChildRelationship
    plan: Plan


@dataclass(frozen=True)
class IndexHint:
    """A WHERE term every matching record satisfies: ``field`` (Id or an indexed field of the queried
    object) equals one of ``values``. The store fetches just those candidates; the full WHERE still
    decides."""

    field: FieldDef
    values: tuple[str, ...]


@dataclass
class Plan:
    obj: ObjectDef
    items: list[ResolvedField | ChildPlan] = field(default_factory=list)
    count: ResolvedField | bool | None = False  # False: no COUNT; None: COUNT(); field: COUNT(field)
    where: Callable[[Record, Resolver], bool] | None = None
    order: list[tuple[ResolvedField, bool, bool]] = field(default_factory=list)  # field, desc, nulls_last
    limit: int | None = None
    offset: int | None = None
    hop_paths: set[tuple[FieldDef, ...]] = field(default_factory=set)
    index: IndexHint | None = None


class Resolver:
    """Parent records for one query run, fetched in batches by id."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cache: dict[str, Record | None] = {}

    def prefetch(self, rows: list[Record], hop_paths: set[tuple[FieldDef, ...]]) -> None:
        for path in sorted(hop_paths, key=len):
            current = rows
            for hop in path:
                keys = {r[hop.name][:15] for r in current if r.get(hop.name)}
                missing = [k for k in keys if k not in self.cache]
                if missing:
                    found = self.store.get_many(missing)
                    for k in missing:
                        rec = found.get(k)
                        self.cache[k] = rec if rec is not None and not rec.get("IsDeleted") else None
                current = [p for k in keys if (p := self.cache.get(k)) is not None]

    def parent(self, record: Record, hop: FieldDef) -> Record | None:
        ref = record.get(hop.name)
        if not ref:
            return None
        key = ref[:15]
        if key not in self.cache:
            self.prefetch([record], {(hop,)})
        return self.cache.get(key)

    def value(self, record: Record, rf: ResolvedField) -> Any:
        current: Record | None = record
        for hop in rf.hops:
            current = self.parent(current, hop) if current is not None else None
        return None if current is None else current.get(rf.field.name)


# ---- normalising values for comparison ------------------------------------------------------------


def _normaliser(f: FieldDef) -> Callable[[Any], Any]:
    if f.type in ("id", "reference"):
        return lambda v: None if v is None else str(v)[:15]
    if f.type in TEXT_TYPES:
        return lambda v: None if v is None else str(v).lower()
    if f.is_number:
        return lambda v: None if v is None else float(v)
    if f.type == "boolean":
        return lambda v: None if v is None else bool(v)
    if f.type == "date":
        return lambda v: None if v is None else dt.date.fromisoformat(v)
    if f.type == "datetime":
        return lambda v: None if v is None else parse_datetime(v)
    return lambda v: v


def _date_literal_range(lit: Literal, text: str) -> tuple[dt.date, dt.date]:
    """[start, end) of a relative date literal, in UTC days."""
    today = utcnow().date()
    n = lit.n
    name = lit.value
    one = dt.timedelta(days=1)

    def month_start(d: dt.date, shift: int = 0) -> dt.date:
        month = d.month - 1 + shift
        return dt.date(d.year + month // 12, month % 12 + 1, 1)

    week_start = today - dt.timedelta(days=(today.weekday() + 1) % 7)  # weeks start on Sunday (en_US)
    fixed = {
        "TODAY": (today, today + one),
        "YESTERDAY": (today - one, today),
        "TOMORROW": (today + one, today + 2 * one),
        "THIS_WEEK": (week_start, week_start + 7 * one),
        "LAST_WEEK": (week_start - 7 * one, week_start),
        "NEXT_WEEK": (week_start + 7 * one, week_start + 14 * one),
        "THIS_MONTH": (month_start(today), month_start(today, 1)),
        "LAST_MONTH": (month_start(today, -1), month_start(today)),
        "NEXT_MONTH": (month_start(today, 1), month_start(today, 2)),
        "THIS_YEAR": (dt.date(today.year, 1, 1), dt.date(today.year + 1, 1, 1)),
        "LAST_YEAR": (dt.date(today.year - 1, 1, 1), dt.date(today.year, 1, 1)),
        "NEXT_YEAR": (dt.date(today.year + 1, 1, 1), dt.date(today.year + 2, 1, 1)),
        "LAST_90_DAYS": (today - 90 * one, today + one),
        "NEXT_90_DAYS": (today + one, today + 91 * one),
    }
    if n is None and name in fixed:
        return fixed[name]
    if n is not None and name == "LAST_N_DAYS":
        return today - n * one, today + one
    if n is not None and name == "NEXT_N_DAYS":
        return today + one, today + (n + 1) * one
    if n is not None and name == "LAST_N_MONTHS":
        return month_start(today, -n), month_start(today)
    if n is not None and name == "NEXT_N_MONTHS":
        return month_start(today, 1), month_start(today, n + 1)
    detail = f"unexpected token: {name}" if n is None else f"Invalid date literal: {name}:{n}"
    raise malformed(text, lit.pos, detail)


def _like_regex(raw: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            parts.append(re.escape({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt)))
            i += 2
            continue
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


# ---- planning -------------------------------------------------------------------------------------


class Planner:
    def __init__(self, schema: Schema, text: str) -> None:
        self.schema = schema
        self.text = text

    def error(self, code: str, pos: int, detail: str) -> ApiError:
        return ApiError(400, code, position_message(self.text, pos, detail))

    def resolve(self, obj: ObjectDef, ref: FieldRef) -> ResolvedField:
        hops: list[FieldDef] = []
        current = obj
        path = list(ref.path)
        # SOQL allows qualifying a field with the queried object's own name (Account.Name FROM Account).
        if len(path) > 1 and path[0].lower() == obj.name.lower() and obj.relationship(path[0]) is None:
            path = path[1:]
        for name in path[:-1]:
            hop = current.relationship(name)
            if hop is None or hop.reference_to is None:
                raise self.error(
                    "INVALID_FIELD",
                    ref.pos,
                    f"Didn't understand relationship '{name}' in field path. If you are attempting to use a "
                    "custom relationship, be sure to append the '__r' after the custom relationship name. "
                    "Please reference your WSDL or the describe call for the appropriate names.",
                )
            hops.append(hop)
            current = self.schema.objects[hop.reference_to]
        final = current.field(path[-1])
        if final is None:
            raise self.error(
                "INVALID_FIELD",
                ref.pos,
                f"No such column '{path[-1]}' on entity '{current.name}'. If you are attempting to use a "
                "custom field, be sure to append the '__c' after the custom field name. Please reference "
                "your WSDL or the describe call for the appropriate names.",
            )
        return ResolvedField(hops, final, ref.pos)

    def plan(self, query: Query, obj: ObjectDef | None = None) -> Plan:
        if obj is None:
            found = self.schema.object(query.sobject)
            if found is None:
                raise self.error(
                    "INVALID_TYPE",
                    query.sobject_pos,
                    f"sObject type '{query.sobject}' is not supported. If you are attempting to use a "
                    "custom object, be sure to append the '__c' after the entity name. Please reference your "
                    "WSDL or the describe call for the appropriate names.",
                )
            obj = found
        plan = Plan(obj)
        seen: set[tuple[str, ...]] = set()
        for item in query.select:
            if isinstance(item, Count):
                if len(query.select) > 1 and item.field is None:
                    raise malformed(
                        self.text, item.pos, "COUNT() must be the only element in the SELECT list"
                    )
                plan.count = self.resolve(obj, item.field) if item.field is not None else None
            elif isinstance(item, FieldRef):
                rf = self.resolve(obj, item)
                if rf.key in seen:
                    raise malformed(self.text, item.pos, f"duplicate field selected: {item.dotted}")
                seen.add(rf.key)
                plan.items.append(rf)
                plan.hop_paths.add(tuple(rf.hops))
            else:
                relationship = obj.child_relationship(item.sobject)
                if relationship is None:
                    raise self.error(
                        "INVALID_TYPE",
                        item.sobject_pos,
                        f"Didn't understand relationship '{item.sobject}' in FROM part of query call. If you "
                        "are attempting to use a custom relationship, be sure to append the '__r' after the "
                        "custom relationship name. Please reference your WSDL or the describe call for the "
                        "appropriate names.",
                    )
                child = self.plan(item, self.schema.objects[relationship.child])
                plan.items.append(ChildPlan(relationship, child))
        if query.where is not None:
            plan.where = self.condition(obj, query.where, plan)
            plan.index = self.index_hint(obj, query.where)
        for order in query.order_by:
            rf = self.resolve(obj, order.field)
            plan.hop_paths.add(tuple(rf.hops))
            nulls_last = order.nulls_last if order.nulls_last is not None else False
            plan.order.append((rf, order.descending, nulls_last))
        if query.offset is not None and query.offset > MAX_OFFSET:
            raise ApiError(400, "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        plan.limit, plan.offset = query.limit, query.offset
        plan.hop_paths.discard(())
        return plan

    def index_hint(self, obj: ObjectDef, cond: Condition) -> IndexHint | None:
        """The narrowest ``=`` / ``IN`` term on Id or an indexed field that the whole condition implies
        (a lone term, or one of an AND), if there is one."""
        if isinstance(cond, BoolOp):
            if cond.op != "AND":
                return None
            hints = [h for item in cond.items if (h := self.index_hint(obj, item)) is not None]
            return min(hints, key=lambda h: len(h.values), default=None)
        if not isinstance(cond, Comparison) or cond.op not in ("=", "IN"):
            return None
        rf = self.resolve(obj, cond.field)
        f = rf.field
        if rf.hops or not (f.type == "id" or (f.indexed and (f.type == "reference" or f.is_text))):
            return None
        literals = cond.value if isinstance(cond.value, list) else [cond.value]
        if not all(lit.kind == "string" for lit in literals):
            return None  # nulls, numbers, dates: leave them to the scan
        return IndexHint(f, tuple(str(lit.value) for lit in literals))

    def condition(self, obj: ObjectDef, cond: Condition, plan: Plan) -> Callable[[Record, Resolver], bool]:
        if isinstance(cond, BoolOp):
            parts = [self.condition(obj, c, plan) for c in cond.items]
            if cond.op == "AND":
                return lambda r, res: all(p(r, res) for p in parts)
            return lambda r, res: any(p(r, res) for p in parts)
        if isinstance(cond, Not):
            inner = self.condition(obj, cond.item, plan)
            return lambda r, res: not inner(r, res)
        return self.comparison(obj, cond, plan)

    def _literal(self, rf: ResolvedField, lit: Literal) -> Any:
        """The literal normalised like the field's values; date literals become (start, end) ranges."""
        f = rf.field
        if lit.kind == "null":
            return None
        kind = _kind_of(f)
        if lit.kind not in _LITERAL_KINDS[kind]:
            quoted = "be enclosed in quotes" if kind == "text" else "not be enclosed in quotes"
            type_name = {"text": "string", "number": "double"}.get(kind, kind)
            raise self.error(
                "INVALID_FIELD",
                lit.pos,
                f"value of filter criterion for field '{f.name}' must be of type {type_name} "
                f"and should {quoted}",
            )
        if lit.kind == "date_literal":
            start, end = _date_literal_range(lit, self.text)
            if f.type == "datetime":
                return (
                    dt.datetime.combine(start, dt.time(), dt.UTC),
                    dt.datetime.combine(end, dt.time(), dt.UTC),
                )
            return (start, end)
        if lit.kind == "date":
            parsed_date = parse_date(lit.value)
            if parsed_date is None:
                raise malformed(self.text, lit.pos, f"unexpected token: {lit.value}")
            return parsed_date
        if lit.kind == "datetime":
            parsed = parse_datetime(lit.value)
            if parsed is None:
                raise malformed(self.text, lit.pos, f"unexpected token: {lit.value}")
            return parsed
        return _normaliser(f)(lit.value)

    def comparison(self, obj: ObjectDef, cmp: Comparison, plan: Plan) -> Callable[[Record, Resolver], bool]:
        rf = self.resolve(obj, cmp.field)
        plan.hop_paths.add(tuple(rf.hops))
        norm = _normaliser(rf.field)

        def get(record: Record, res: Resolver) -> Any:
            return norm(res.value(record, rf))

        if cmp.op == "LIKE":
            assert isinstance(cmp.value, Literal)
            if rf.field.type not in TEXT_TYPES:
                raise self.error("INVALID_FIELD", cmp.pos, f"invalid operator on field {rf.field.name}: LIKE")
            if cmp.value.kind == "null":
                return lambda r, res: res.value(r, rf) is None
            pattern = _like_regex(cmp.value.raw)
            return lambda r, res: (v := res.value(r, rf)) is not None and bool(pattern.fullmatch(str(v)))
        if cmp.op in ("IN", "NOT IN"):
            assert isinstance(cmp.value, list)
            wanted = [self._literal(rf, lit) for lit in cmp.value]
            ranges = [w for w in wanted if isinstance(w, tuple)]
            plain = {w for w in wanted if not isinstance(w, tuple)}

            def contained(record: Record, res: Resolver) -> bool:
                v = get(record, res)
                return v in plain or (v is not None and any(lo <= v < hi for lo, hi in ranges))

            if cmp.op == "IN":
                return contained
            return lambda r, res: not contained(r, res)
        assert isinstance(cmp.value, Literal)
        target = self._literal(rf, cmp.value)
        op = "!=" if cmp.op == "<>" else cmp.op
        if target is None:
            if op == "=":
                return lambda r, res: get(r, res) is None
            if op == "!=":
                return lambda r, res: get(r, res) is not None
            return lambda r, res: False
        if isinstance(target, tuple):
            lo, hi = target
            range_tests: dict[str, Callable[[Any], bool]] = {
                "=": lambda v: lo <= v < hi,
                "!=": lambda v: not lo <= v < hi,
                "<": lambda v: v < lo,
                "<=": lambda v: v < hi,
                ">": lambda v: v >= hi,
                ">=": lambda v: v >= lo,
            }
            test = range_tests[op]
        else:
            tests: dict[str, Callable[[Any], bool]] = {
                "=": lambda v: v == target,
                "!=": lambda v: v != target,
                "<": lambda v: v < target,
                "<=": lambda v: v <= target,
                ">": lambda v: v > target,
                ">=": lambda v: v >= target,
            }
            test = tests[op]

        def compare(record: Record, res: Resolver) -> bool:
            v = get(record, res)
            if v is None:
                return op == "!="  # SOQL's != matches nulls, unlike SQL
            return test(v)

        return compare


# ---- execution -------------------------------------------------------------------------------------


@dataclass
class QueryResult:
    total_size: int
    records: list[Record]


class QueryEngine:
    def __init__(self, store: Store, schema: Schema) -> None:
        self.store = store
        self.schema = schema

    def run(self, text: str, version: str, include_deleted: bool = False) -> QueryResult:
        plan = Planner(self.schema, text).plan(parse_soql(text))
        resolver = Resolver(self.store)
        with self.store.lock:
            rows = self._candidates(plan, include_deleted)
            rows = self._select(plan, rows, resolver)
            if plan.count is None:
                return QueryResult(len(rows), [])
            if isinstance(plan.count, ResolvedField):
                counted = plan.count
                n = sum(1 for r in rows if resolver.value(r, counted) is not None)
                return QueryResult(1, [{"attributes": {"type": "AggregateResult"}, "expr0": n}])
            records = self._render_all(plan, rows, resolver, version, include_deleted)
        return QueryResult(len(records), records)

    def _candidates(self, plan: Plan, include_deleted: bool) -> list[Record]:
        """The queried object's records that may match, in insertion order: by index when the WHERE
        clause pins an indexed field (``Id IN (...)``, ``NetSuite_Internal_ID__c IN (...)``,
        ``Product2Id IN (...)``), else all of them."""
        hint = plan.index
        if hint is None:
            return self.store.scan(plan.obj.name, include_deleted)
        if hint.field.type == "id":
            return self.store.find_ids(plan.obj.name, hint.values, include_deleted)
        return self.store.find_in(plan.obj.name, hint.field, hint.values, include_deleted)

    def _select(self, plan: Plan, rows: list[Record], resolver: Resolver) -> list[Record]:
        resolver.prefetch(rows, plan.hop_paths)
        if plan.where is not None:
            where = plan.where
            rows = [r for r in rows if where(r, resolver)]
        for rf, descending, nulls_last in reversed(plan.order):
            norm = _normaliser(rf.field)
            # The null flag is chosen so that after an optional reverse the nulls land where asked.
            null_rank = 1 if nulls_last != descending else 0

            def sort_key(
                r: Record, rf: ResolvedField = rf, norm: Any = norm, null_rank: int = null_rank
            ) -> Any:
                v = norm(resolver.value(r, rf))
                return (null_rank, 0) if v is None else (1 - null_rank, v)

            rows.sort(key=sort_key, reverse=descending)
        start = plan.offset or 0
        end = None if plan.limit is None else start + plan.limit
        return rows[start:end]

    def _render_all(
        self, plan: Plan, rows: list[Record], resolver: Resolver, version: str, include_deleted: bool
    ) -> list[Record]:
        children: dict[int, dict[str, list[Record]]] = {}
        for index, item in enumerate(plan.items):
            if isinstance(item, ChildPlan):
                children[index] = self._children(item, rows, resolver, version, include_deleted)
        out = []
        for row in rows:
            rendered = _attributes(plan.obj.name, row["Id"], version)
            for index, item in enumerate(plan.items):
                if isinstance(item, ChildPlan):
                    kids = children[index].get(row["Id"][:15])
                    rendered[item.relationship.name] = (
                        {"totalSize": len(kids), "done": True, "records": kids} if kids else None
                    )
                else:
                    self._place(rendered, row, item, resolver, version)
            out.append(rendered)
        return out

    def _place(self, out: Record, row: Record, rf: ResolvedField, resolver: Resolver, version: str) -> None:
        target, current = out, row
        for hop in rf.hops:
            assert hop.relationship_name is not None
            parent = resolver.parent(current, hop)
            name = hop.relationship_name
            if parent is None:
                target.setdefault(name, None)
                return
            nested = target.get(name)
            if nested is None:
                if name in target:  # an earlier path already rendered this parent as missing
                    return
                nested = _attributes(self.schema.objects[hop.reference_to or ""].name, parent["Id"], version)
                target[name] = nested
            target, current = nested, parent
        target[rf.field.name] = current.get(rf.field.name)

    def _children(
        self, item: ChildPlan, parents: list[Record], resolver: Resolver, version: str, include_deleted: bool
    ) -> dict[str, list[Record]]:
        rel = item.relationship
        child_obj = self.schema.objects[rel.child]
        link = child_obj.fields[rel.field]
        candidates = self.store.find_in(child_obj.name, link, [p["Id"] for p in parents], include_deleted)
        grouped: dict[str, list[Record]] = {}
        for c in candidates:
            grouped.setdefault(c[link.name][:15], []).append(c)
        return {
            key: self._render_all(
                item.plan, self._select(item.plan, group, resolver), resolver, version, include_deleted
            )
            for key, group in grouped.items()
        }


def _attributes(sobject: str, record_id: str, version: str) -> Record:
    return {
        "attributes": {"type": sobject, "url": f"/services/data/{version}/sobjects/{sobject}/{record_id}"}
    }
