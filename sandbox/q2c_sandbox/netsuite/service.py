"""Record operations (create, get, update, upsert, delete, list, transform) independent of HTTP, and the
stock operations of the admin API (receive, expect, due receipts).

The record API and the admin loader both go through here, so loaded fixtures are validated exactly like
client writes.
"""

from __future__ import annotations

import copy
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from q2c_sandbox.netsuite import business, inventory
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
from q2c_sandbox.netsuite.records import (
    BUILTIN_RECORDS,
    INVENTORY_ITEM,
    RECORD_TYPES,
    Kind,
    RecordType,
    Sublist,
    record_type,
    ref_targets,
)
from q2c_sandbox.netsuite.store import STOCK_BALANCES, Body, Store

log = logging.getLogger(__name__)

EID_PREFIX = "eid:"
# Expected receipts (``expect``): stock on order that the sandbox clock turns into an adjustment.
EXPECTED_SETTING = "inventory_expected"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RecordService:
    def __init__(self, store: Store, now: Callable[[], dt.datetime] = _utc_now) -> None:
        self.store = store
        self.ctx = business.Context(store, now)
        self.ensure_builtins()

    def ensure_builtins(self) -> None:
        """Create the records every account has (price level 1 Base Price, the revenue recognition rules,
        the accounting periods) where they are missing."""
        stamp = format_datetime(self.ctx.now())
        with self.store.transaction():
            for type_name, records in BUILTIN_RECORDS.items():
                rt = RECORD_TYPES[type_name]
                present = self.store.ids(type_name)
                for record_id, data in records.items():
                    if record_id in present:
                        continue
                    # Trusted data, saved as it is (no defaults or business rules): a few hundred records
                    # at every start and reset.
                    parsed = parse_body(rt, data)
                    body: Body = {k: v for k, v in parsed.values.items() if v is not None}
                    body.update(createdDate=stamp, lastModifiedDate=stamp)
                    self.store.put(type_name, record_id, body)
                self.store.bump_value(rt.id_sequence, max(records))

    def reset(self) -> None:
        """Wipe every record, sequence, setting and balance; the built-in records come back."""
        self.store.wipe()
        self.ensure_builtins()

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
        """``fixture``: an admin load, which describes history - a credit hold does not refuse it, and it
        may create records a client can only get by a transform (an item fulfillment)."""
        if rt.read_only:
            raise _read_only(rt, "created")
        if rt.transform_only and prefilled is None and not fixture:
            raise user_error(
                f"A {rt.name} record is created by transforming the record it comes from; use POST "
                f"/services/rest/record/v1/salesOrder/{{id}}/!transform/{rt.name}."
            )
        parsed = parse_body(rt, data, ignore_unknown=ignore_unknown)
        with self.store.transaction():
            if explicit_id is not None:
                # Types sharing an id sequence (the item types, the transactions) never share an id.
                sharing = tuple(t.name for t in RECORD_TYPES.values() if t.id_sequence == rt.id_sequence)
                holder = self.store.type_of(sharing, explicit_id)
                if holder is not None:
                    raise user_error(
                        f"A {holder} record with internal id {explicit_id} already exists"
                        + (f" (the {rt.id_sequence} types share their ids)." if holder != rt.name else "."),
                        "id",
                    )
                self.store.bump_value(rt.id_sequence, explicit_id)
                record_id = explicit_id
            else:
                record_id = self.store.next_value(rt.id_sequence)
            body: Body = copy.deepcopy(prefilled) if prefilled else {}
            for name in parsed.sublists:
                body.pop(name, None)  # the lines sent replace the pre-filled ones, numbered from 1
            _assign_line_numbers(rt, body)
            self._apply(rt, body, parsed, replace=set(parsed.sublists))
            return self._save(rt, record_id, body, previous=None, check_credit_hold=not fixture)

    def update(
        self, rt: RecordType, record_id: int, data: Any, *, replace: set[str], ignore_unknown: bool
    ) -> None:
        if rt.read_only:
            raise _read_only(rt, "changed")
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
        if rt.read_only:
            raise _read_only(rt, "deleted")
        if record_id in BUILTIN_RECORDS.get(rt.name, {}):
            raise user_error(f"This {rt.name} record is built into every account and cannot be deleted.")
        with self.store.transaction():
            previous = self.load(rt, record_id)
            dependent = self._first_dependent(rt, str(record_id))
            if dependent is not None:
                raise user_error(
                    f"This {rt.name} record cannot be deleted because it has dependent records "
                    f"({dependent[0]} {dependent[1]})."
                )
            inventory.check_delete(self.ctx, rt, previous)
            self.store.delete(rt.name, record_id)
            business.after_write(self.ctx, rt, None, previous)

    # (source, target) -> the pre-filled target body NetSuite builds from the source record.
    TRANSFORMS = {
        ("salesOrder", "invoice"): business.invoice_from_order,
        ("salesOrder", "itemFulfillment"): inventory.fulfillment_from_order,
        ("invoice", "creditMemo"): business.credit_memo_from_invoice,
    }

    def transform(self, source: RecordType, record_id: int, target: RecordType, data: Any) -> int:
        prefill = self.TRANSFORMS.get((source.name, target.name))
        if prefill is None:
            raise NsError(
                400,
                "INVALID_TRANSFORM",
                f"Transforming a {source.name} record into a {target.name} record is not supported; the "
                "sandbox supports salesOrder -> invoice, salesOrder -> itemFulfillment and invoice -> "
                "creditMemo.",
                url_path=f"{source.name}/{record_id}/!transform/{target.name}",
            )
        with self.store.transaction():
            origin = self.load(source, record_id)
            prefilled = prefill(self.ctx, origin)
            new_id = self.create(target, data if data is not None else {}, prefilled=prefilled)
            if (source.name, target.name) == ("salesOrder", "invoice"):
                business.mark_billed(self.ctx, origin)
            return new_id

    # -- stock (admin) -------------------------------------------------------------------------------

    def stock_item(self, item_id: str) -> Body:
        """The inventory item ``item_id``; ValueError naming the problem otherwise."""
        item_type = self.ctx.item_type(item_id)
        if item_type is None:
            raise ValueError(f"no item has internal id {item_id}")
        if item_type != INVENTORY_ITEM:
            raise ValueError(
                f"item {item_id} is a {item_type}; only inventory items (inventoryItem) hold stock"
            )
        return self.load(RECORD_TYPES[INVENTORY_ITEM], int(item_id))

    def receive(
        self, item_id: str, location_id: str, quantity: float, *, tran_date: str | None = None, memo: str
    ) -> dict[str, Any]:
        """Add on-hand stock now with an inventory adjustment; back-orders at the location are committed
        from it, oldest order first. Returns the adjustment and the orders that got stock."""
        with self.store.transaction():
            self.ctx.committed_orders = []
            location = self.load(RECORD_TYPES["location"], int(location_id))
            data: dict[str, Any] = {
                "subsidiary": {"id": location["subsidiary"]},
                "memo": memo,
                "inventory": {
                    "items": [
                        {"item": {"id": item_id}, "location": {"id": location_id}, "adjustQtyBy": quantity}
                    ]
                },
            }
            if tran_date is not None:
                data["tranDate"] = tran_date
            adjustment_id = self.create(RECORD_TYPES["inventoryAdjustment"], data, fixture=True)
            committed, self.ctx.committed_orders = self.ctx.committed_orders, []
            adjustment = self.load(RECORD_TYPES["inventoryAdjustment"], adjustment_id)
            return {
                "adjustment": str(adjustment_id),
                "tranId": adjustment.get("tranId"),
                "committed_orders": committed,
            }

    def expected(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.store.setting(EXPECTED_SETTING) or []
        return found

    def expect(self, item_id: str, location_id: str, quantity: float, date: str) -> dict[str, Any]:
        """Stock on order: quantityonorder rises now; on ``date`` (by the sandbox clock) it is received."""
        with self.store.transaction():
            number = self.store.next_value("expectedReceipt")
            entry = {
                "id": str(number),
                "item": item_id,
                "location": location_id,
                "quantity": quantity,
                "date": date,
            }
            self.store.put_setting(EXPECTED_SETTING, [*self.expected(), entry])
            self.store.add_stock(int(item_id), int(location_id), {"on_order": quantity})
            received = [r for r in self.receive_due() if r["expected"]["id"] == entry["id"]]
            return {"expected": entry, "received": received[0] if received else None}

    def receive_due(self) -> list[dict[str, Any]]:
        """Receive every expected receipt whose date the sandbox clock has reached (dated that day)."""
        pending = self.expected()
        if not pending:
            return []
        today = self.ctx.today().isoformat()
        due = [e for e in pending if e["date"] <= today]
        if not due:
            return []
        received = []
        with self.store.transaction():
            self.store.put_setting(EXPECTED_SETTING, [e for e in pending if e["date"] > today])
            for entry in sorted(due, key=lambda e: (e["date"], int(e["id"]))):
                self.store.add_stock(
                    int(entry["item"]), int(entry["location"]), {"on_order": -entry["quantity"]}
                )
                if not (
                    self.store.exists(INVENTORY_ITEM, int(entry["item"]))
                    and self.store.exists("location", int(entry["location"]))
                ):
                    continue  # the item or location was deleted meanwhile: nothing arrives
                try:
                    result = self.receive(
                        entry["item"],
                        entry["location"],
                        entry["quantity"],
                        tran_date=entry["date"],
                        memo=f"Expected receipt {entry['id']} arrived",
                    )
                except NsError as err:  # never fail the request that noticed the date
                    log.warning("expected receipt %s could not be received: %s", entry["id"], err)
                    continue
                received.append({**result, "expected": entry})
        return received

    def balances(self, item_id: str | None = None) -> list[dict[str, Any]]:
        rows = []
        for row in self.store.stock_rows(int(item_id) if item_id is not None else None):
            balance = {b: row[b] for b in STOCK_BALANCES}
            rows.append(
                {
                    "item": str(row["item"]),
                    "location": str(row["location"]),
                    **balance,
                    "available": inventory.qty(balance["on_hand"] - balance["committed"]),
                }
            )
        return rows

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
        targets = ref_targets(f.ref_type)
        if isinstance(value, ExternalRef):
            found = next(
                (
                    record_id
                    for target in targets
                    if (record_id := self.store.id_for_external_id(target, value.external_id)) is not None
                ),
                None,
            )
            if found is None:
                raise invalid_content(
                    f"Error while accessing a resource. You have entered an Invalid Field Value "
                    f"{value.external_id} for the following field: {name} (no {f.ref_type} record has that "
                    "external id).",
                    path,
                )
            return str(found)
        if not any(self.store.exists(target, int(value)) for target in targets):
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
                if f.kind is Kind.REF and f.ref_type and rt.name in ref_targets(f.ref_type):
                    found = self.store.find(other.name, f.name, record_id)
                    if found:
                        return other.name, found[0]["id"]
            for sublist in other.sublists:
                for f in sublist.fields:
                    if f.kind is Kind.REF and f.ref_type and rt.name in ref_targets(f.ref_type):
                        found = self.store.find_in_sublist(other.name, sublist.name, f.name, record_id)
                        if found:
                            return other.name, found[0]["id"]
        return None


def _assign_line_numbers(rt: RecordType, body: Body) -> None:
    for sublist in rt.sublists:
        for number, line in enumerate(body.get(sublist.name) or [], start=1):
            line["line"] = number


def _read_only(rt: RecordType, done: str) -> NsError:
    # The real refusal's code and wording are unconfirmed; a real account sets these records up in its UI
    # (Setup > Accounting > Manage Accounting Periods, Revenue Recognition Rules).
    return user_error(
        f"{rt.name} records are set up in the account itself and cannot be {done} through REST web "
        "services; the sandbox provides them (read them with GET or SuiteQL)."
    )


def _invalid_id(rt: RecordType, key: str) -> NsError:
    return NsError(
        400,
        "INVALID_ID",
        f"The record instance ID '{key}' of the {rt.name} record is not valid. Provide a numeric internal ID "
        "or an external ID as eid:<externalId>.",
        url_path=f"{rt.name}/{key}",
    )
