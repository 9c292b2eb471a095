"""Turning request JSON into stored record bodies and stored bodies back into NetSuite JSON.

Stored form: references are id strings, select values are their ids, dates ISO strings, sublists lists of
line objects each with a ``line`` number. Wire form adds ``links`` and ``refName`` the way NetSuite does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from q2c_sandbox.netsuite.errors import NsError, invalid_content
from q2c_sandbox.netsuite.records import Field, Kind, RecordType, Sublist

RECORD_PATH = "/services/rest/record/v1"

# Sent back by clients that round-trip a GET body; they carry no data.
_DECORATIONS = {"links", "refName"}


@dataclass(frozen=True)
class ExternalRef:
    """A reference given as {"externalId": "..."}; resolved against the store before saving."""

    external_id: str


@dataclass
class ParsedLine:
    index: int  # position in the request, for o:errorPath
    line: int | None  # the existing line this one updates (PATCH without replace), if the client named it
    values: dict[str, Any]


@dataclass
class ParsedBody:
    values: dict[str, Any] = field(default_factory=dict)  # None means "clear this field"
    sublists: dict[str, list[ParsedLine]] = field(default_factory=dict)


def parse_body(rt: RecordType, data: Any, *, ignore_unknown: bool = False) -> ParsedBody:
    if not isinstance(data, dict):
        raise invalid_content(
            f"Error while accessing a resource. The request body for a {rt.name} record must be a JSON object.",
            None,
        )
    parsed = ParsedBody()
    for name, value in data.items():
        if name in _DECORATIONS:
            continue
        sublist = rt.sublist(name)
        if sublist is not None:
            parsed.sublists[name] = _parse_sublist(rt, sublist, value, ignore_unknown)
            continue
        f = rt.field(name)
        if f is None:
            if rt.is_custom(name):
                parsed.values[name] = _custom_value(value)
            elif not ignore_unknown:
                raise _unknown_field(rt.name, name, name)
            continue
        if f.read_only:
            # NetSuite ignores system-set fields (id, tranId, totals) in a write rather than failing it.
            continue
        parsed.values[name] = convert(rt.name, f, value, name)
    return parsed


def _parse_sublist(rt: RecordType, sublist: Sublist, value: Any, ignore_unknown: bool) -> list[ParsedLine]:
    if not isinstance(value, dict) or not isinstance(value.get("items", []), list):
        raise invalid_content(
            f"Error while accessing a resource. The {sublist.name} sublist of the {rt.name} record must be "
            'an object of the form {"items": [...]}.',
            sublist.name,
        )
    lines = []
    for index, raw in enumerate(value.get("items", [])):
        path = f"{sublist.name}.items[{index}]"
        if not isinstance(raw, dict):
            raise invalid_content(
                f"Error while accessing a resource. Line {index} of the {sublist.name} sublist of the "
                f"{rt.name} record must be a JSON object.",
                path,
            )
        line_no: int | None = None
        values: dict[str, Any] = {}
        for name, v in raw.items():
            if name in _DECORATIONS:
                continue
            if name == "line":
                if not isinstance(v, int) or isinstance(v, bool):
                    raise _bad_type(rt.name, f"{path}.line", "an integer line number", v)
                line_no = v
                continue
            f = sublist.field(name)
            if f is None:
                if sublist.custom_prefix and name.startswith(sublist.custom_prefix):
                    values[name] = _custom_value(v)
                elif not ignore_unknown:
                    raise _unknown_field(f"{rt.name} {sublist.name} sublist", name, f"{path}.{name}")
                continue
            if f.read_only:
                continue
            values[name] = convert(rt.name, f, v, f"{path}.{name}")
        lines.append(ParsedLine(index, line_no, values))
    return lines


def convert(record: str, f: Field, value: Any, path: str) -> Any:
    """Validate one field value from the wire and return its stored form (None clears the field)."""
    if value is None:
        return None
    kind = f.kind
    if kind is Kind.TEXT:
        if not isinstance(value, str):
            raise _bad_type(record, path, "a string", value)
        if f.max_length is not None and len(value) > f.max_length:
            raise invalid_content(
                f"Error while accessing a resource. The value of field {f.name} on the {record} record is "
                f"{len(value)} characters long; the maximum is {f.max_length}.",
                path,
            )
        return value
    if kind is Kind.INTEGER:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _bad_type(record, path, "an integer", value)
        return value
    if kind is Kind.NUMBER:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _bad_type(record, path, "a number", value)
        return float(value)
    if kind is Kind.BOOLEAN:
        if not isinstance(value, bool):
            raise _bad_type(record, path, "true or false", value)
        return value
    if kind is Kind.DATE:
        if not isinstance(value, str):
            raise _bad_type(record, path, "a date like 2026-01-05", value)
        try:
            return dt.date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            raise _bad_type(record, path, "a date like 2026-01-05", value) from None
    if kind is Kind.DATETIME:
        if not isinstance(value, str):
            raise _bad_type(record, path, "a datetime like 2026-01-05T10:00:00Z", value)
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise _bad_type(record, path, "a datetime like 2026-01-05T10:00:00Z", value) from None
        return format_datetime(parsed)
    if kind is Kind.ENUM:
        choice = value.get("id") if isinstance(value, dict) else value
        valid = [c for c, _ in f.choices]
        if not isinstance(choice, str) or choice.upper() not in valid:
            raise invalid_content(
                f"Error while accessing a resource. You have entered an Invalid Field Value {choice!s} for the "
                f"following field: {f.name} (valid values: {', '.join(valid)}).",
                path,
            )
        return choice.upper()
    # Kind.REF
    if not isinstance(value, dict):
        raise _bad_type(record, path, 'a reference like {"id": "14"}', value)
    if "id" in value and value["id"] is not None:
        ref_id = value["id"]
        if isinstance(ref_id, bool) or not (
            isinstance(ref_id, int) or (isinstance(ref_id, str) and ref_id.strip().lstrip("-").isdigit())
        ):
            raise invalid_content(
                f"Error while accessing a resource. You have entered an Invalid Field Value {ref_id} for the "
                f"following field: {f.name}",
                path,
            )
        return str(int(ref_id))
    if isinstance(value.get("externalId"), str):
        return ExternalRef(value["externalId"])
    raise _bad_type(record, path, 'a reference like {"id": "14"} or {"externalId": "..."}', value)


def _custom_value(value: Any) -> Any:
    # Custom fields are free-form in the sandbox: a select given as {"id": ..} is kept by its id.
    if isinstance(value, dict) and "id" in value:
        return str(value["id"])
    return value


def _unknown_field(record: str, name: str, path: str) -> NsError:
    return invalid_content(
        f"Error while accessing a resource. The field {name} is not a valid field of the {record} record. "
        "Check the field name (custom fields need their script id prefix).",
        path,
    )


def _bad_type(record: str, path: str, expected: str, value: Any) -> NsError:
    shown = repr(value) if not isinstance(value, dict | list) else type(value).__name__
    return invalid_content(
        f"Error while accessing a resource. Invalid value for field {path} of the {record} record: "
        f"expected {expected}, got {shown}.",
        path,
    )


def format_datetime(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- rendering ---------------------------------------------------------------------------------------

# (reference type, id) -> (the record type it points at, its refName or None). The type differs from the
# reference's when that names a family of types (records.REF_FAMILIES: "item" -> inventoryItem, ...).
RefNamer = Callable[[str, str], tuple[str, str | None]]


def record_url(base_url: str, type_name: str, record_id: str) -> str:
    return f"{base_url}{RECORD_PATH}/{type_name}/{record_id}"


def _self_link(href: str) -> list[dict[str, str]]:
    return [{"rel": "self", "href": href}]


def render_value(f: Field, value: Any, base_url: str, ref_name: RefNamer) -> Any:
    if f.kind is Kind.REF and f.ref_type is not None:
        target, name = ref_name(f.ref_type, str(value))
        rendered: dict[str, Any] = {
            "links": _self_link(record_url(base_url, target, str(value))),
            "id": str(value),
        }
        if name is not None:
            rendered["refName"] = name
        return rendered
    if f.kind is Kind.ENUM:
        return {"id": value, "refName": f.choice_name(value)}
    return value


def render_record(
    rt: RecordType,
    body: dict[str, Any],
    base_url: str,
    ref_name: RefNamer,
    *,
    expand: bool = False,
    fields: set[str] | None = None,
) -> dict[str, Any]:
    record_id = str(body["id"])
    out: dict[str, Any] = {"links": _self_link(record_url(base_url, rt.name, record_id))}
    for name in sorted(body):
        if fields is not None and name not in fields and name != "id":
            continue
        value = body[name]
        if value is None:
            continue
        sublist = rt.sublist(name)
        if sublist is not None:
            if expand:
                out[name] = render_sublist(rt, sublist, body, base_url, ref_name)
            else:
                out[name] = {"links": _self_link(f"{record_url(base_url, rt.name, record_id)}/{name}")}
            continue
        f = rt.field(name)
        out[name] = value if f is None else render_value(f, value, base_url, ref_name)
    for sublist in rt.sublists:
        # An empty sublist is still announced, as NetSuite does.
        if sublist.name not in out and (fields is None or sublist.name in fields):
            href = f"{record_url(base_url, rt.name, record_id)}/{sublist.name}"
            out[sublist.name] = (
                render_sublist(rt, sublist, body, base_url, ref_name)
                if expand
                else {"links": _self_link(href)}
            )
    return out


def render_sublist(
    rt: RecordType, sublist: Sublist, body: dict[str, Any], base_url: str, ref_name: RefNamer
) -> dict[str, Any]:
    lines = body.get(sublist.name) or []
    items = []
    for line in lines:
        item: dict[str, Any] = {"links": []}
        for name in sorted(line):
            if line[name] is None:
                continue
            f = sublist.field(name)
            item[name] = line[name] if f is None else render_value(f, line[name], base_url, ref_name)
        items.append(item)
    href = f"{record_url(base_url, rt.name, str(body['id']))}/{sublist.name}"
    return {
        "links": _self_link(href),
        "items": items,
        "totalResults": len(items),
        "count": len(items),
        "hasMore": False,
        "offset": 0,
    }


def page_links(path: str, limit: int, offset: int, total: int, has_more: bool) -> list[dict[str, str]]:
    """The paging links of a collection (record list or SuiteQL result)."""

    def href(at: int) -> str:
        return f"{path}?limit={limit}&offset={at}"

    links = []
    if offset > 0:
        links.append({"rel": "previous", "href": href(max(0, offset - limit))})
        links.append({"rel": "first", "href": href(0)})
    if has_more:
        links.append({"rel": "next", "href": href(offset + limit)})
        links.append({"rel": "last", "href": href(((max(total, 1) - 1) // limit) * limit)})
    links.append({"rel": "self", "href": href(offset)})
    return links
