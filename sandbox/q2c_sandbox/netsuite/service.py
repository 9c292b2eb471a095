"""Record operations (create, get, update, upsert, delete, list, transform) independent of HTTP.

The record API and the admin loader both go through here, so loaded fixtures are validated exactly like
client writes.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from typing import Any

from q2c_sandbox.netsuite import business
from q2c_sandbox.netsuite.codec import (
    ExternalRef,
    ParsedBody,
    ParsedLine,
    format_datetime,
    parse_body,
    render_record,
    render_sublist,
)
from q2c_sandbox.netsuite.errors import NsError, invalid_content, nonexistent_id, user_error
from q2c_sandbox.netsuite.records import RECORD_TYPES, Kind, RecordType, Sublist, record_type
from q2c_sandbox.netsuite.store import Body, Store

EID_PREFIX = "eid:"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RecordService:
    def __init__(self, store: Store, now: Callable[[], dt.datetime] = _utc_now) -> None:
        self.store = store
        self.ctx = business.Context(store, now)

    # -- lookups -------------------------------------------------------------------------------------

    def record_type(self, name: str) -> RecordType:
        rt = record_type(name)
        if rt is None:
            raise NsError(
                404,
                "NONEXISTENT_ID",
                f"Record type '{name}' does not exist. The sandbox serves: {', '.join(RECORD_TYPES)}.",
                url_path=name,
            )
        return rt

    def resolve_id(self, rt: RecordType, key: str) -> int | None:
        """The internal id for a URL key: "42" or "eid:ORDER-1". None when no record has that external id."""
        if key.startswith(EID_PREFIX):
            external_id = key[len(EID_PREFIX) :]
            if not external_id:
                raise _invalid_id(rt, key)
            return self.store.id_for_external_id(rt.name, external_id)
        if not key.isdigit():
            raise _invalid_id(rt, key)
        return int(key)

    def existing_id(self, rt: RecordType, key: str) -> int:
        record_id = self.resolve_id(rt, key)
        if record_id is None or not self.store.exists(rt.name, record_id):
            raise nonexistent_id()
        return record_id

    def load(self, rt: RecordType, record_id: int) -> Body:
        body = self.store.get(rt.name, record_id)
        if body is None:
            raise nonexistent_id()
        return body

    # -- reads ---------------------------------------------------------------------------------------

    def render(
        self, rt: RecordType, record_id: int, base_url: str, *, expand: bool, fields: set[str] | None
    ) -> dict[str, Any]:
        body = self.load(rt, record_id)
        business.read_extras(self.ctx, rt, body)
        return render_record(rt, body, base_url, self.ctx.ref_name, expand=expand, fields=fields)

    def render_sublist(
        self, rt: RecordType, record_id: int, sublist: Sublist, base_url: str
    ) -> dict[str, Any]:
        return render_sublist(rt, sublist, self.load(rt, record_id), base_url, self.ctx.ref_name)

    def expanded_all(self, rt: RecordType, base_url: str) -> list[dict[str, Any]]:
        out = []
        for body in self.store.all(rt.name):
            business.read_extras(self.ctx, rt, body)
            out.append(render_record(rt, body, base_url, self.ctx.ref_name, expand=True))
        return out

    # -- writes --------------------------------------------------------------------------------------

    def create(
        self,
        rt: RecordType,
        data: Any,
        *,
        ignore_unknown: bool = False,
        explicit_id: int | None = None,
        prefilled: Body | None = None,
        fixture: bool = False,
    ) -> int:
        """``fixture``: an admin load, which describes history - a credit hold does not refuse it."""
        parsed = parse_body(rt, data, ignore_unknown=ignore_unknown)
        with self.store.transaction():
            if explicit_id is not None:
                if self.store.exists(rt.name, explicit_id):
                    raise user_error(
                        f"A {rt.name} record with internal id {explicit_id} already exists.", "id"
                    )
                self.store.bump_value(rt.id_sequence, explicit_id)
                record_id = explicit_id
            else:
                record_id = self.store.next_value(rt.id_sequence)
            body: Body = copy.deepcopy(prefilled) if prefilled else {}
            _assign_line_numbers(rt, body)
            self._apply(rt, body, parsed, replace=set(parsed.sublists))
            return self._save(rt, record_id, body, previous=None, check_credit_hold=not fixture)

    def update(
        self, rt: RecordType, record_id: int, data: Any, *, replace: set[str], ignore_unknown: bool
    ) -> None:
        parsed = parse_body(rt, data, ignore_unknown=ignore_unknown)
        with self.store.transaction():
            previous = self.load(rt, record_id)
            body = copy.deepcopy(previous)
            self._apply(rt, body, parsed, replace=replace)
            self._save(rt, record_id, body, previous=previous)

    def upsert(
        self, rt: RecordType, external_id: str, data: Any, *, replace: set[str], ignore_unknown: bool
    ) -> tuple[int, bool]:
        if isinstance(data, dict) and data.get("externalId") not in (None, external_id):
            raise invalid_content(
                f"Error while accessing a resource. The externalId {data['externalId']!r} in the body of this "
                f"{rt.name} upsert differs from the external id {external_id!r} in the URL.",
                "externalId",
            )
        with self.store.transaction():
            record_id = self.store.id_for_external_id(rt.name, external_id)
            if record_id is None:
                body = dict(data) if isinstance(data, dict) else data
                if isinstance(body, dict):
                    body["externalId"] = external_id
                return self.create(rt, body, ignore_unknown=ignore_unknown), True
            self.update(rt, record_id, data, replace=replace, ignore_unknown=ignore_unknown)
            return record_id, False

    def delete(self, rt: RecordType, record_id: int) -> None:
        with self.store.transaction():
            previous = self.load(rt, record_id)
            dependent = self._first_dependent(rt, str(record_id))
            if dependent is not None:
                raise user_error(
                    f"This {rt.name} record cannot be deleted because it has dependent records "
                    f"({dependent[0]} {dependent[1]})."
                )
            self.store.delete(rt.name, record_id)
            business.after_write(self.ctx, rt, None, previous)

    # (source, target) -> the pre-filled target body NetSuite builds from the source record.
    TRANSFORMS = {
        ("salesOrder", "invoice"): business.invoice_from_order,
        ("invoice", "creditMemo"): business.credit_memo_from_invoice,
    }

    def transform(self, source: RecordType, record_id: int, target: RecordType, data: Any) -> int:
        prefill = self.TRANSFORMS.get((source.name, target.name))
        if prefill is None:
            raise NsError(
                400,
                "INVALID_TRANSFORM",
                f"Transforming a {source.name} record into a {target.name} record is not supported; the "
                "sandbox supports salesOrder -> invoice and invoice -> creditMemo.",
                url_path=f"{source.name}/{record_id}/!transform/{target.name}",
            )
        with self.store.transaction():
            origin = self.load(source, record_id)
            prefilled = prefill(self.ctx, origin)
            new_id = self.create(target, data if data is not None else {}, prefilled=prefilled)
            if source.name == "salesOrder":
                business.mark_billed(self.ctx, origin)
            return new_id

    # -- internals -----------------------------------------------------------------------------------

    def _apply(self, rt: RecordType, body: Body, parsed: ParsedBody, *, replace: set[str]) -> None:
        for name, value in parsed.values.items():
            if value is None:
                body.pop(name, None)
            else:
                body[name] = self._resolve(rt, name, value, name)
        for sublist in rt.sublists:
            lines = parsed.sublists.get(sublist.name)
            if lines is None and sublist.name not in replace:
                continue
            body[sublist.name] = self._merge_lines(
                rt, sublist, body.get(sublist.name) or [], lines or [], sublist.name in replace
            )

    def _merge_lines(
        self, rt: RecordType, sublist: Sublist, existing: list[Body], given: list[ParsedLine], replace: bool
    ) -> list[Body]:
        next_line = max((int(line.get("line") or 0) for line in existing), default=0) + 1
        result = [] if replace else [dict(line) for line in existing]
        for parsed_line in given:
            path = f"{sublist.name}.items[{parsed_line.index}]"
            values = {
                k: (None if v is None else self._resolve(rt, k, v, f"{path}.{k}", sublist))
                for k, v in parsed_line.values.items()
            }
            target = None
            if parsed_line.line is not None and not replace:
                target = next((line for line in result if line.get("line") == parsed_line.line), None)
                if target is None:
                    raise invalid_content(
                        f"Error while accessing a resource. Line {parsed_line.line} does not exist in the "
                        f"{sublist.name} sublist of this {rt.name} record.",
                        f"{path}.line",
                    )
            if target is None:
                target = {"line": next_line}
                next_line += 1
                result.append(target)
            for k, v in values.items():
                if v is None:
                    target.pop(k, None)
                else:
                    target[k] = v
            # A changed quantity or rate makes the old amount stale unless the client sent a new one.
            if sublist.name == "item" and "amount" not in values and ({"quantity", "rate"} & values.keys()):
                target.pop("amount", None)
        return result

    def _resolve(
        self, rt: RecordType, name: str, value: Any, path: str, sublist: Sublist | None = None
    ) -> Any:
        """Turn {"externalId": ..} references into ids and check every reference points at a record."""
        f = (sublist.field(name) if sublist is not None else rt.field(name)) if name else None
        if f is None or f.kind is not Kind.REF or f.ref_type is None:
            return value
        if isinstance(value, ExternalRef):
            found = self.store.id_for_external_id(f.ref_type, value.external_id)
            if found is None:
                raise invalid_content(
                    f"Error while accessing a resource. You have entered an Invalid Field Value "
                    f"{value.external_id} for the following field: {name} (no {f.ref_type} record has that "
                    "external id).",
                    path,
                )
            return str(found)
        if not self.store.exists(f.ref_type, int(value)):
            raise invalid_content(
                f"Error while accessing a resource. You have entered an Invalid Field Value {value} for the "
                f"following field: {name} (no {f.ref_type} record has internal id {value}).",
                path,
            )
        return value

    def _save(
        self,
        rt: RecordType,
        record_id: int,
        body: Body,
        previous: Body | None,
        check_credit_hold: bool = True,
    ) -> int:
        body["id"] = str(record_id)
        body.pop("links", None)
        external_id = body.get("externalId")
        if external_id is not None:
            holder = self.store.id_for_external_id(rt.name, external_id)
            if holder is not None and holder != record_id:
                raise user_error(
                    f"A {rt.name} record with external id {external_id!r} already exists (internal id "
                    f"{holder}); external ids are unique per record type.",
                    "externalId",
                )
        business.apply_defaults(self.ctx, rt, body, record_id, creating=previous is None)
        for f in rt.fields:
            if f.required and body.get(f.name) in (None, ""):
                raise user_error(
                    f"Please enter value(s) for: {f.name}. The {rt.name} record requires it.", f.name
                )
        for sublist in rt.sublists:
            for index, line in enumerate(body.get(sublist.name) or []):
                for f in sublist.fields:
                    if f.required and line.get(f.name) in (None, ""):
                        raise user_error(
                            f"Please enter value(s) for: {f.name} on line {index + 1} of the {sublist.name} "
                            f"sublist of the {rt.name} record.",
                            f"{sublist.name}.items[{index}].{f.name}",
                        )
        business.validate_and_compute(self.ctx, rt, body, previous, check_credit_hold=check_credit_hold)
        if previous is None:
            business.assign_tran_id(self.ctx, rt, body)
        stamp = format_datetime(self.ctx.now())
        if previous is None:
            body["dateCreated" if rt.field("dateCreated") else "createdDate"] = stamp
        body["lastModifiedDate"] = stamp
        self.store.put(rt.name, record_id, body)
        business.after_write(self.ctx, rt, body, previous)
        return record_id

    def _first_dependent(self, rt: RecordType, record_id: str) -> tuple[str, str] | None:
        for other in RECORD_TYPES.values():
            for f in other.fields:
                if f.kind is Kind.REF and f.ref_type == rt.name:
                    found = self.store.find(other.name, f.name, record_id)
                    if found:
                        return other.name, found[0]["id"]
            for sublist in other.sublists:
                for f in sublist.fields:
                    if f.kind is Kind.REF and f.ref_type == rt.name:
                        found = self.store.find_in_sublist(other.name, sublist.name, f.name, record_id)
                        if found:
                            return other.name, found[0]["id"]
        return None


def _assign_line_numbers(rt: RecordType, body: Body) -> None:
    for sublist in rt.sublists:
        for number, line in enumerate(body.get(sublist.name) or [], start=1):
            line["line"] = number


def _invalid_id(rt: RecordType, key: str) -> NsError:
    return NsError(
        400,
        "INVALID_ID",
        f"The record instance ID '{key}' of the {rt.name} record is not valid. Provide a numeric internal ID "
        "or an external ID as eid:<externalId>.",
        url_path=f"{rt.name}/{key}",
    )
