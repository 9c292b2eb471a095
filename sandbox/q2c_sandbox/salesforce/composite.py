"""sObject Collections (``composite/sobjects``): up to 200 records per call, results in request order.

Each record runs in its own savepoint so one failure leaves the others intact; with ``allOrNone`` the
whole transaction is rolled back and the records that were fine report ALL_OR_NONE_OPERATION_ROLLED_BACK.
The request is a single API call for the daily limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from q2c_sandbox.salesforce.errors import ApiError, bad_request, invalid_field, read_json
from q2c_sandbox.salesforce.records import MultipleMatches, public_record
from q2c_sandbox.salesforce.schema import ObjectDef
from q2c_sandbox.salesforce.values import looks_like_id

if TYPE_CHECKING:
    from q2c_sandbox.salesforce.org import Org
    from q2c_sandbox.salesforce.rest import Call

MAX_RECORDS = 200
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
    "fields": [],
}

Operation = Callable[[], dict[str, Any]]


class _RollBack(Exception):
    pass


def _outcome_error(exc: ApiError, record_id: str | None) -> dict[str, Any]:
    result: dict[str, Any] = {"success": False, "errors": [exc.collection_error()]}
    if record_id:
        result = {"id": record_id, **result}
    return result


def run_collection(
    org: Org, operations: list[tuple[str | None, Operation]], all_or_none: bool
) -> list[dict[str, Any]]:
    """Run each (known id, operation) in order; the operation returns its success result."""
    outcomes: list[dict[str, Any] | ApiError] = []
    try:
        with org.store.transaction():
            for _, operation in operations:
                try:
                    with org.store.transaction():
                        outcomes.append(operation())
                except ApiError as exc:
                    outcomes.append(exc)
            if all_or_none and any(isinstance(o, ApiError) for o in outcomes):
                raise _RollBack
    except _RollBack:
        return [
            _outcome_error(o, record_id)
            if isinstance(o, ApiError)
            else {**({"id": record_id} if record_id else {}), "success": False, "errors": [ROLLED_BACK]}
            for (record_id, _), o in zip(operations, outcomes, strict=True)
        ]
    return [
        _outcome_error(o, record_id) if isinstance(o, ApiError) else o
        for (record_id, _), o in zip(operations, outcomes, strict=True)
    ]


async def _records_body(call: Call) -> tuple[list[Any], bool]:
    body = await read_json(call.request)
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise bad_request(
            "JSON_PARSER_ERROR", "The request body must be an object with a 'records' list", None
        )
    records = body["records"]
    if len(records) > MAX_RECORDS:
        raise bad_request(
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
            None,
        )
    return records, bool(body.get("allOrNone", False))


def _type_of(org: Org, raw: Any) -> ObjectDef:
    attributes = raw.get("attributes") if isinstance(raw, dict) else None
    name = attributes.get("type") if isinstance(attributes, dict) else None
    if not isinstance(name, str):
        raise bad_request("INVALID_TYPE", "Must specify a type in the attributes of every record", [])
    obj = org.schema.object(name)
    if obj is None:
        raise bad_request("INVALID_TYPE", f"sObject type '{name}' is not supported.", [])
    return obj


def _fields_only(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if k != "attributes"}


async def create(call: Call) -> Response:
    records, all_or_none = await _records_body(call)
    org, ctx = call.org, call.ctx

    def make(raw: Any) -> Operation:
        def run() -> dict[str, Any]:
            obj = _type_of(org, raw)
            if any(k.lower() == "id" for k in raw):
                raise bad_request("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
            record = org.records.create(obj.name, _fields_only(raw), ctx)
            return {"id": record["Id"], "success": True, "errors": []}

        return run

    return JSONResponse(run_collection(org, [(None, make(r)) for r in records], all_or_none))


def _record_id(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return None
    value = next((v for k, v in raw.items() if k.lower() == "id"), None)
    return value if isinstance(value, str) else None


async def update(call: Call) -> Response:
    records, all_or_none = await _records_body(call)
    org, ctx = call.org, call.ctx

    def make(raw: Any) -> Operation:
        def run() -> dict[str, Any]:
            obj = _type_of(org, raw)
            record_id = _record_id(raw)
            if not record_id:
                raise bad_request("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
            body = {k: v for k, v in _fields_only(raw).items() if k.lower() != "id"}
            record = org.records.update(obj.name, record_id, body, ctx)
            return {"id": record["Id"], "success": True, "errors": []}

        return run

    return JSONResponse(run_collection(org, [(_record_id(r), make(r)) for r in records], all_or_none))


async def delete(call: Call) -> Response:
    raw_ids = call.request.query_params.get("ids", "")
    ids = [i.strip() for i in raw_ids.split(",") if i.strip()]
    if not ids:
        raise bad_request("MISSING_ARGUMENT", "The ids parameter is required", None)
    if len(ids) > MAX_RECORDS:
        raise bad_request("EXCEEDED_ID_LIMIT", f"cannot delete more than {MAX_RECORDS} records", None)
    all_or_none = call.request.query_params.get("allOrNone", "false").lower() == "true"
    org, ctx = call.org, call.ctx

    def make(record_id: str) -> Operation:
        def run() -> dict[str, Any]:
            obj = org.schema.object_for_id(record_id) if looks_like_id(record_id) else None
            if obj is None:
                raise bad_request("MALFORMED_ID", f"malformed id {record_id}", [])
            found = org.store.get(record_id)
            if found is None:
                raise bad_request("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
            if found[1].get("IsDeleted"):
                raise bad_request("ENTITY_IS_DELETED", "entity is deleted", [])
            record = org.records.delete(obj.name, record_id, ctx)
            return {"id": record["Id"], "success": True, "errors": []}

        return run

    return JSONResponse(run_collection(org, [(i, make(i)) for i in ids], all_or_none))


async def upsert(call: Call) -> Response:
    records, all_or_none = await _records_body(call)
    org, ctx = call.org, call.ctx
    obj = call.sobject()
    ext = obj.field(call.params["field"])
    if ext is None:
        raise invalid_field(call.params["field"], obj.name)
    if not ext.external_id and ext.name != "Id":
        raise bad_request(
            "INVALID_FIELD", f"Field {ext.name} is not an external ID field for {obj.name}", None
        )

    def make(raw: Any) -> Operation:
        def run() -> dict[str, Any]:
            if _type_of(org, raw).name != obj.name:
                raise bad_request("INVALID_TYPE", f"every record must be of type {obj.name}", [])
            body = _fields_only(raw)
            value = next((v for k, v in body.items() if k.lower() == ext.name.lower()), None)
            if value in (None, ""):
                raise bad_request("MISSING_ARGUMENT", f"{ext.name} not specified", [ext.name])
            body = {k: v for k, v in body.items() if k.lower() != ext.name.lower()}
            try:
                record, created = org.records.upsert(obj.name, ext.name, str(value), body, ctx)
            except MultipleMatches as exc:
                raise bad_request(
                    "DUPLICATE_EXTERNAL_ID",
                    f"{ext.name}: more than one record found for external id field: {exc.ids}",
                    [ext.name],
                ) from None
            return {"id": record["Id"], "success": True, "errors": [], "created": created}

        return run

    return JSONResponse(run_collection(org, [(None, make(r)) for r in records], all_or_none))


async def retrieve(call: Call) -> Response:
    obj = call.sobject()
    params: dict[str, Any] = dict(call.request.query_params)
    if call.request.method == "POST":
        body = await read_json(call.request)
        params = body if isinstance(body, dict) else {}
    ids = params.get("ids", [])
    fields = params.get("fields", [])
    ids = ids.split(",") if isinstance(ids, str) else list(ids)
    fields = fields.split(",") if isinstance(fields, str) else list(fields)
    if not ids or not fields:
        raise bad_request("MISSING_ARGUMENT", "Both ids and fields are required", None)
    names = []
    for name in fields:
        f = obj.field(str(name).strip())
        if f is None:
            raise invalid_field(str(name), obj.name)
        names.append(f.name)
    out: list[Any] = []
    for record_id in ids:
        found = call.org.store.get(record_id) if looks_like_id(record_id) else None
        if found is None or found[0] != obj.name or found[1].get("IsDeleted"):
            out.append(None)
        else:
            out.append(public_record(obj, found[1], call.version, names))
    return JSONResponse(out)
