"""Creating, updating, deleting and upserting records with Salesforce's validation and derived fields.

Every write path (REST, composite, admin load) goes through ``RecordService`` so they all validate the
same way; only the ``WriteContext`` differs (who writes, whether audit fields may be set, whether
outbound messages fire).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from q2c_sandbox.salesforce.errors import ApiError, bad_request, invalid_field, not_found
from q2c_sandbox.salesforce.schema import AUDIT_FIELDS, FieldDef, ObjectDef, Schema
from q2c_sandbox.salesforce.store import Record, Store
from q2c_sandbox.salesforce.values import (
    coerce_value,
    format_datetime,
    id_suffix,
    looks_like_id,
    make_id,
    utcnow,
)

INTEGRATION_USER_ID = "005000000000Q2CAAU"
STANDARD_PRICEBOOK_ID = "01s000000000Q2CAAU"

# Stage metadata (OpportunityStage in a real org): which stages close a deal, and which of those win it,
# and each stage's forecast category: Closed for a won deal, Omitted for a lost one, Pipeline for every
# open stage.
CLOSED_STAGES = {"Closed Won": True, "Closed Lost": False}
CLOSED_FORECAST_CATEGORIES = {True: "Closed", False: "Omitted"}
OPEN_FORECAST_CATEGORY = "Pipeline"
# The standard value set of Task Status; its closed values close a task.
TASK_STATUS_VALUE_SET = "TaskStatus"


def _integrity(field: str, problem: str) -> ApiError:
    return bad_request(
        "FIELD_INTEGRITY_EXCEPTION", f"field integrity exception: {field} ({problem})", [field]
    )


def _read_only(fields: list[str]) -> ApiError:
    return bad_request(
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        f"Unable to create/update fields: {', '.join(fields)}. Please check the security settings of this "
        "field and verify that it is read/write for your profile or permission set.",
        fields,
    )


class MultipleMatches(Exception):
    """An upsert or external-id GET matched several records (HTTP 300 with their URLs)."""

    def __init__(self, sobject: str, ids: list[str]) -> None:
        super().__init__(f"{len(ids)} {sobject} records match")
        self.sobject = sobject
        self.ids = ids


@dataclass(frozen=True)
class WriteContext:
    user_id: str = INTEGRATION_USER_ID
    # Admin loads may set Id and the audit fields, and never trigger outbound messages.
    admin: bool = False


class RecordService:
    def __init__(self, store: Store, schema: Schema, instance: str = "00") -> None:
        self.store = store
        self.schema = schema
        self.instance = instance  # characters 4-5 of every new id
        # Called inside the write's transaction after every create (old record None) and update made
        # through the API (not admin loads), with the record as saved: outbound messages' workflow rules.
        self.on_api_save: Callable[[str, Record, Record | None], None] | None = None
        task_statuses = schema.value_sets.get(TASK_STATUS_VALUE_SET)
        self._closed_task_statuses = task_statuses.closed if task_statuses is not None else frozenset()
        self._clock_lock = threading.Lock()
        self._last_now = utcnow()

    # ---- helpers -----------------------------------------------------------------------------------

    def _now(self) -> str:
        """A timestamp strictly later than the previous one, so every write moves SystemModstamp."""
        with self._clock_lock:
            now = utcnow()
            if now <= self._last_now:
                now = self._last_now + dt.timedelta(milliseconds=1)
            self._last_now = now
            return format_datetime(now)

    def object(self, sobject: str) -> ObjectDef:
        obj = self.schema.object(sobject)
        if obj is None:
            raise not_found()
        return obj

    def _new_id(self, obj: ObjectDef) -> str:
        return make_id(obj.key_prefix, self.store.next_sequence("id_seq"), self.instance)

    def fetch(self, obj: ObjectDef, record_id: str, *, allow_deleted: bool = False) -> Record:
        """The live record, or the 404 Salesforce gives for unknown and deleted ids."""
        found = self.store.get(record_id) if looks_like_id(record_id) else None
        if found is None or found[0] != obj.name:
            raise not_found()
        if found[1].get("IsDeleted") and not allow_deleted:
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return found[1]

    def _parent(self, f: FieldDef, value: str) -> Record:
        assert f.reference_to is not None
        target = self.schema.objects[f.reference_to]
        if value[:3] != target.key_prefix:
            raise bad_request(
                "FIELD_INTEGRITY_EXCEPTION", f"{f.label}: id value of incorrect type: {value}", [f.name]
            )
        found = self.store.get(value)
        if found is None or found[0] != target.name or found[1].get("IsDeleted"):
            raise bad_request("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [f.name])
        return found[1]

    def _normalise_body(self, obj: ObjectDef, body: Any) -> dict[str, tuple[FieldDef, Any]]:
        """Map the JSON body's keys (any case) to fields; unknown keys are INVALID_FIELD."""
        if not isinstance(body, dict):
            raise bad_request("JSON_PARSER_ERROR", f"The request body for {obj.name} must be a JSON object")
        given: dict[str, tuple[FieldDef, Any]] = {}
        for key, value in body.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            if f is None:
                raise invalid_field(key, obj.name)
            given[f.name] = (f, value)
        return given

    def _coerce(self, given: dict[str, tuple[FieldDef, Any]]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, (f, raw) in given.items():
            value = coerce_value(f, raw)
            if f.type == "reference" and value is not None:
                parent = self._parent(f, value)
                value = parent["Id"]  # always store the 18-character form
            values[name] = value
        return values

    def _check_required(self, obj: ObjectDef, record: Record) -> None:
        missing = [f.name for f in obj.fields.values() if f.required and record.get(f.name) in (None, "")]
        if missing:
            raise bad_request(
                "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing
            )

    def _check_owner(self, obj: ObjectDef, record: Record, old: Record | None, ctx: WriteContext) -> None:
        """A real org refuses to make an inactive user a record's owner; a record an inactive user already
        owns stays editable (only a new owner is checked). Admin loads may set any owner."""
        owner = record.get("OwnerId")
        if ctx.admin or not owner or (old is not None and str(old.get("OwnerId") or "")[:15] == owner[:15]):
            return
        found = self.store.get(owner)
        if found is not None and found[0] == "User" and not found[1].get("IsActive"):
            raise bad_request(
                "INACTIVE_OWNER_OR_USER",
                f"operation performed with inactive user [{found[1]['Id']}] as owner of {obj.label.lower()}",
                ["OwnerId"],
            )

    def _check_unique(self, obj: ObjectDef, record: Record) -> None:
        for f in obj.fields.values():
            if not f.unique or record.get(f.name) in (None, ""):
                continue
            clash = [r for r in self.store.find(obj.name, f, record[f.name]) if r["Id"] != record["Id"]]
            if clash:
                raise bad_request(
                    "DUPLICATE_VALUE",
                    f"duplicate value found: {f.name} duplicates value on record with id: {clash[0]['Id']}",
                    [f.name],
                )

    # ---- derived fields (Salesforce's built-in behaviour per object) ---------------------------------

    def _derive(
        self,
        obj: ObjectDef,
        record: Record,
        old: Record | None,
        now: str,
        written: frozenset[str] = frozenset(),
    ) -> None:
        """``now``: the write's time; ``written``: the fields the write sets (a derived field the client also
        wrote may be kept)."""
        if {"FirstName", "LastName", "Name"} <= obj.fields.keys() and not obj.fields["Name"].updateable:
            record["Name"] = " ".join(p for p in (record.get("FirstName"), record.get("LastName")) if p)
        if obj.name == "Opportunity":
            self._derive_opportunity(record, old, written)
        elif obj.name == "Task":
            self._derive_task(record, old, now)
        elif obj.name == "PricebookEntry":
            self._derive_pricebook_entry(record, old)
        elif obj.name == "OpportunityLineItem":
            self._derive_line_item(record, old)

    def _derive_opportunity(self, record: Record, old: Record | None, written: frozenset[str]) -> None:
        stage = str(record.get("StageName") or "")
        record["IsClosed"] = stage in CLOSED_STAGES
        record["IsWon"] = CLOSED_STAGES.get(stage, False)
        # ForecastCategoryName follows the stage as in a real org: a closed stage forces its category; on
        # create and on a stage change an open stage gives Pipeline, unless the same write sets a category
        # (a rep's Best Case or Commit), which is kept; without a stage change it stays as set.
        if stage in CLOSED_STAGES:
            record["ForecastCategoryName"] = CLOSED_FORECAST_CATEGORIES[CLOSED_STAGES[stage]]
        else:
            stage_changed = old is None or old.get("StageName") != stage
            chosen = "ForecastCategoryName" in written and record.get("ForecastCategoryName")
            if (stage_changed and not chosen) or not record.get("ForecastCategoryName"):
                record["ForecastCategoryName"] = OPEN_FORECAST_CATEGORY
        if old is None:
            return
        lines = self._line_items(record["Id"])
        if lines:
            if record.get("CurrencyIsoCode") != old.get("CurrencyIsoCode"):
                raise _integrity(
                    "CurrencyIsoCode", "cannot change the currency of an opportunity with products"
                )
            # With products the amount is their sum; a written Amount is overridden, as in a real org.
            record["Amount"] = _money(sum(line.get("TotalPrice") or 0.0 for line in lines))

    def _derive_task(self, record: Record, old: Record | None, now: str) -> None:
        # IsClosed follows Status through the org's TaskStatus value set, as IsClosed follows the stage on
        # an Opportunity. CompletedDateTime is when the task became closed: kept while it moves between
        # closed statuses (Completed -> Cancelled), cleared when it is reopened.
        closed = record.get("Status") in self._closed_task_statuses
        record["IsClosed"] = closed
        if not closed:
            record["CompletedDateTime"] = None
        elif old is None or not old.get("IsClosed") or not record.get("CompletedDateTime"):
            record["CompletedDateTime"] = now

    def _line_items(self, opportunity_id: str) -> list[Record]:
        oli = self.schema.objects["OpportunityLineItem"]
        return self.store.find(oli.name, oli.fields["OpportunityId"], opportunity_id)

    def _derive_pricebook_entry(self, record: Record, old: Record | None) -> None:
        product = self._parent(
            self.schema.objects["PricebookEntry"].fields["Product2Id"], record["Product2Id"]
        )
        record["Name"] = product.get("Name")
        record["ProductCode"] = product.get("ProductCode")
        if old is not None:
            return
        pbe = self.schema.objects["PricebookEntry"]
        same_product = self.store.find(pbe.name, pbe.fields["Product2Id"], record["Product2Id"])
        same_currency = [e for e in same_product if e.get("CurrencyIsoCode") == record.get("CurrencyIsoCode")]
        if any(e["Pricebook2Id"][:15] == record["Pricebook2Id"][:15] for e in same_currency):
            raise bad_request(
                "DUPLICATE_VALUE", "This price definition already exists in this price book", []
            )
        pricebook = self.store.get(record["Pricebook2Id"])
        if pricebook is not None and not pricebook[1].get("IsStandard"):
            standard = [e for e in same_currency if self._is_standard_pricebook(e["Pricebook2Id"])]
            if not any(e.get("IsActive") for e in standard):
                raise bad_request(
                    "STANDARD_PRICE_NOT_DEFINED",
                    "Before creating a custom price, create a standard price.",
                    [],
                )

    def _is_standard_pricebook(self, pricebook_id: str) -> bool:
        found = self.store.get(pricebook_id)
        return bool(found and found[1].get("IsStandard"))

    def _derive_line_item(self, record: Record, old: Record | None) -> None:
        oli = self.schema.objects["OpportunityLineItem"]
        entry = self._parent(oli.fields["PricebookEntryId"], record["PricebookEntryId"])
        if old is None:
            opp = self._parent(oli.fields["OpportunityId"], record["OpportunityId"])
            if not entry.get("IsActive"):
                raise _integrity("PricebookEntryId", "pricebook entry is inactive")
            if record.get("Product2Id") and record["Product2Id"][:15] != entry["Product2Id"][:15]:
                raise _integrity("Product2Id", "product does not match the pricebook entry's product")
            if entry.get("CurrencyIsoCode") != opp.get("CurrencyIsoCode"):
                raise _integrity(
                    "PricebookEntryId",
                    "pricebook entry currency code does not match opportunity currency code",
                )
            if opp.get("Pricebook2Id") and opp["Pricebook2Id"][:15] != entry["Pricebook2Id"][:15]:
                raise _integrity(
                    "PricebookEntryId",
                    "pricebook entry is in a different pricebook than the one assigned to the opportunity",
                )
            record["Product2Id"] = entry["Product2Id"]
            record["CurrencyIsoCode"] = opp.get("CurrencyIsoCode")
            if record.get("UnitPrice") is None:
                record["UnitPrice"] = entry.get("UnitPrice")
        if record.get("UnitPrice") is None:
            raise bad_request(
                "REQUIRED_FIELD_MISSING", "Required fields are missing: [UnitPrice]", ["UnitPrice"]
            )
        record["TotalPrice"] = _money(float(record.get("Quantity") or 0) * float(record["UnitPrice"]))

    # ---- side effects after a save -----------------------------------------------------------------

    def _after_save(self, obj: ObjectDef, record: Record, old: Record | None, ctx: WriteContext) -> None:
        if obj.name == "OpportunityLineItem":
            self._refresh_opportunity(record["OpportunityId"], ctx)
            if old is None:
                self._assign_pricebook(record, ctx)
        if not ctx.admin and self.on_api_save is not None:
            self.on_api_save(obj.name, record, old)

    def _assign_pricebook(self, line: Record, ctx: WriteContext) -> None:
        found = self.store.get(line["OpportunityId"])
        entry = self.store.get(line["PricebookEntryId"])
        if found is None or entry is None or found[1].get("Pricebook2Id"):
            return
        opp = dict(found[1])
        opp["Pricebook2Id"] = entry[1]["Pricebook2Id"]
        self._stamp(opp, ctx)
        self.store.save("Opportunity", opp)

    def _refresh_opportunity(self, opportunity_id: str, ctx: WriteContext) -> None:
        found = self.store.get(opportunity_id)
        if found is None or found[1].get("IsDeleted"):
            return
        opp = dict(found[1])
        lines = self._line_items(opportunity_id)
        amount = _money(sum(line.get("TotalPrice") or 0.0 for line in lines))
        if opp.get("Amount") != amount:
            opp["Amount"] = amount
            self._stamp(opp, ctx)
            self.store.save("Opportunity", opp)

    def _stamp(self, record: Record, ctx: WriteContext, now: str | None = None) -> None:
        now = now or self._now()
        record["LastModifiedDate"] = now
        record["SystemModstamp"] = now
        record["LastModifiedById"] = ctx.user_id

    # ---- the write operations -----------------------------------------------------------------------

    def create(self, sobject: str, body: Any, ctx: WriteContext = WriteContext()) -> Record:
        obj = self.object(sobject)
        with self.store.transaction():
            return self._create(obj, body, ctx)

    def _create(self, obj: ObjectDef, body: Any, ctx: WriteContext) -> Record:
        given = self._normalise_body(obj, body)
        record_id: str | None = None
        if "Id" in given:
            if not ctx.admin:
                raise bad_request(
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    "Record ID: cannot specify Id in an insert call",
                    ["Id"],
                )
            record_id = self._admin_id(obj, given.pop("Id")[1])
        audit = {name: given.pop(name) for name in list(given) if ctx.admin and name in AUDIT_FIELDS}
        read_only = [name for name, (f, _) in given.items() if not f.createable]
        if read_only:
            raise _read_only(read_only)
        values = self._coerce(given)
        record: Record = {}
        for f in obj.fields.values():
            if f.name in values:
                record[f.name] = values[f.name]
            elif f.default is not None:
                record[f.name] = f.default
            else:
                record[f.name] = False if f.type == "boolean" else None
        if "OwnerId" in obj.fields and record.get("OwnerId") is None:
            record["OwnerId"] = ctx.user_id
        self._check_required(obj, record)
        self._check_owner(obj, record, None, ctx)
        record["Id"] = record_id or self._new_id(obj)
        now = self._now()
        self._derive(obj, record, None, now, frozenset(values))
        self._check_unique(obj, record)
        record.update(
            IsDeleted=False,
            CreatedDate=now,
            CreatedById=ctx.user_id,
            LastModifiedDate=now,
            LastModifiedById=ctx.user_id,
            SystemModstamp=now,
        )
        for name, (f, raw) in audit.items():
            record[name] = self._coerce({name: (f, raw)})[name]
        if "LastModifiedDate" in audit:
            record["SystemModstamp"] = record["LastModifiedDate"]
            if record.get("CompletedDateTime"):  # a task loaded as closed in the past closed then
                record["CompletedDateTime"] = record["LastModifiedDate"]
        self.store.save(obj.name, record)
        self._after_save(obj, record, None, ctx)
        return record

    def _admin_id(self, obj: ObjectDef, raw: Any) -> str:
        if not isinstance(raw, str) or not looks_like_id(raw) or raw[:3] != obj.key_prefix:
            raise bad_request("MALFORMED_ID", f"{obj.name} ID: id value of incorrect type: {raw}", ["Id"])
        if self.store.get(raw) is not None:
            raise bad_request("DUPLICATE_VALUE", f"duplicate value found: Id duplicates value {raw}", ["Id"])
        return raw if len(raw) == 18 else raw + id_suffix(raw)

    def update(self, sobject: str, record_id: str, body: Any, ctx: WriteContext = WriteContext()) -> Record:
        obj = self.object(sobject)
        with self.store.transaction():
            old = self.fetch(obj, record_id)
            return self._apply_update(obj, old, self._normalise_body(obj, body), ctx)

    def _apply_update(
        self, obj: ObjectDef, old: Record, given: dict[str, tuple[FieldDef, Any]], ctx: WriteContext
    ) -> Record:
        if "Id" in given:
            given_id = given.pop("Id")[1]
            if not isinstance(given_id, str) or given_id[:15] != old["Id"][:15]:
                raise _read_only(["Id"])
        read_only = [name for name, (f, _) in given.items() if not f.updateable]
        if read_only:
            raise _read_only(read_only)
        record = dict(old)
        record.update(self._coerce(given))
        self._check_required(obj, record)
        self._check_owner(obj, record, old, ctx)
        now = self._now()
        self._derive(obj, record, old, now, frozenset(given))
        self._check_unique(obj, record)
        self._stamp(record, ctx, now)
        self.store.save(obj.name, record)
        self._after_save(obj, record, old, ctx)
        return record

    def delete(self, sobject: str, record_id: str, ctx: WriteContext = WriteContext()) -> Record:
        obj = self.object(sobject)
        with self.store.transaction():
            record = dict(self.fetch(obj, record_id))
            self._check_delete(obj, record)
            record = self._mark_deleted(obj, record, ctx)
            if obj.name == "Opportunity":
                # Line items live and die with their opportunity (master-detail).
                oli = self.schema.objects["OpportunityLineItem"]
                for line in self._line_items(record["Id"]):
                    self._mark_deleted(oli, line, ctx)
            elif obj.name == "OpportunityLineItem":
                self._refresh_opportunity(record["OpportunityId"], ctx)
            elif obj.name in ("Product2", "Pricebook2"):
                # A product's (or price book's) price book entries go with it.
                for entry in self._entries_of(obj.name, record["Id"]):
                    self._mark_deleted(self.schema.objects["PricebookEntry"], entry, ctx)
        return record

    def _mark_deleted(self, obj: ObjectDef, record: Record, ctx: WriteContext) -> Record:
        record = dict(record, IsDeleted=True)
        self._stamp(record, ctx)
        self.store.save(obj.name, record)
        return record

    def _entries_of(self, sobject: str, record_id: str) -> list[Record]:
        pbe = self.schema.objects["PricebookEntry"]
        link = pbe.fields["Product2Id" if sobject == "Product2" else "Pricebook2Id"]
        return self.store.find(pbe.name, link, record_id)

    def _check_delete(self, obj: ObjectDef, record: Record) -> None:
        """A real org refuses to delete the standard price book, and any price book entry, product or
        price book that a live opportunity line uses (deactivating them is the way out)."""
        if obj.name not in ("PricebookEntry", "Product2", "Pricebook2"):
            return
        if obj.name == "Pricebook2" and record.get("IsStandard"):
            raise bad_request("DELETE_FAILED", "You can't delete the standard price book.", [])
        oli = self.schema.objects["OpportunityLineItem"]
        if obj.name == "Product2":
            lines = self.store.find(oli.name, oli.fields["Product2Id"], record["Id"])
        else:
            entries = (
                [record["Id"]]
                if obj.name == "PricebookEntry"
                else [e["Id"] for e in self._entries_of(obj.name, record["Id"])]
            )
            lines = self.store.find_in(oli.name, oli.fields["PricebookEntryId"], entries)
        if not lines:
            return
        opportunity_ids = list(dict.fromkeys(line["OpportunityId"] for line in lines))
        opportunities = self.store.get_many(opportunity_ids)
        names = [str(opportunities[i[:15]].get("Name")) for i in opportunity_ids if i[:15] in opportunities]
        raise bad_request(
            "DELETE_FAILED",
            f"Your attempt to delete {record.get('Name')} could not be completed because it is associated "
            f"with the following opportunities: {', '.join(names)}",
            [],
        )

    def find_by_external_id(self, obj: ObjectDef, field_name: str, value: str) -> list[Record]:
        f = obj.field(field_name)
        if f is None:
            raise not_found(f"Provided external ID field does not exist or is not accessible: {field_name}")
        if f.name == "Id":
            found = self.store.get(value) if looks_like_id(value) else None
            return [found[1]] if found and found[0] == obj.name and not found[1].get("IsDeleted") else []
        if not f.external_id:
            raise bad_request(
                "INVALID_FIELD",
                f"Field {f.name} is not an external ID or indexed field for {obj.name}",
                [f.name],
            )
        return self.store.find(obj.name, f, value)

    def upsert(
        self, sobject: str, field_name: str, value: str, body: Any, ctx: WriteContext = WriteContext()
    ) -> tuple[Record, bool]:
        """(record, created). Raises MultipleMatches when the external id is not unique."""
        obj = self.object(sobject)
        with self.store.transaction():
            matches = self.find_by_external_id(obj, field_name, value)
            ext = obj.field(field_name)
            assert ext is not None
            given = self._normalise_body(obj, body)
            if ext.name in given and ext.name != "Id":
                body_value = given[ext.name][1]
                if str(body_value).lower() != value.lower():
                    raise bad_request(
                        "INVALID_FIELD",
                        f"{ext.name}: the value in the request body ({body_value}) differs from the "
                        f"external id in the URL ({value})",
                        [ext.name],
                    )
                given.pop(ext.name)
            if len(matches) > 1:
                raise MultipleMatches(obj.name, [m["Id"] for m in matches])
            if matches:
                return self._apply_update(obj, matches[0], given, ctx), False
            if ext.name == "Id":
                raise not_found()
            create_body = {name: raw for name, (_, raw) in given.items()}
            create_body[ext.name] = value
            return self.create(obj.name, create_body, ctx), True

    # ---- bootstrap ---------------------------------------------------------------------------------

    def ensure_bootstrap(self, username: str) -> None:
        """The integration user and the standard price book exist in every org."""
        with self.store.transaction():
            if self.store.get(INTEGRATION_USER_ID) is None:
                self.create(
                    "User",
                    {
                        "Id": INTEGRATION_USER_ID,
                        "FirstName": "Integration",
                        "LastName": "User",
                        "Username": username,
                        "Email": username,
                    },
                    WriteContext(admin=True),
                )
            if self.store.get(STANDARD_PRICEBOOK_ID) is None:
                record = self.create(
                    "Pricebook2",
                    {"Id": STANDARD_PRICEBOOK_ID, "Name": "Standard Price Book", "IsActive": True},
                    WriteContext(admin=True),
                )
                record["IsStandard"] = True  # not createable through any API
                self.store.save("Pricebook2", record)


def _money(value: float) -> float:
    return round(value, 2)


def public_record(obj: ObjectDef, record: Record, version: str, fields: list[str] | None = None) -> Record:
    """A record as the REST API returns it: ``attributes`` first, fields in schema order."""
    out: Record = {
        "attributes": {
            "type": obj.name,
            "url": f"/services/data/{version}/sobjects/{obj.name}/{record['Id']}",
        }
    }
    names = fields if fields is not None else list(obj.fields)
    for name in names:
        out[name] = record.get(name)
    return out
