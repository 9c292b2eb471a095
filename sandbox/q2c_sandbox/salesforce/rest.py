"""The REST API under ``/services/data``: routing, authentication, the daily limit, and the sObject,
query, limits and describe resources (sObject Collections live in ``composite``).

Routing is done here rather than with Starlette routes so that trailing slashes are optional without
redirects (a redirected PATCH would lose its body) and unknown URLs get Salesforce's own 404 body.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from q2c_sandbox.salesforce import bulk2, composite
from q2c_sandbox.salesforce.describe import describe_global, describe_object, object_summary
from q2c_sandbox.salesforce.errors import ApiError, bad_request, invalid_field, not_found, read_json
from q2c_sandbox.salesforce.org import Org
from q2c_sandbox.salesforce.records import MultipleMatches, WriteContext, public_record
from q2c_sandbox.salesforce.schema import ObjectDef
from q2c_sandbox.salesforce.values import looks_like_id

log = logging.getLogger(__name__)

DATA_PREFIX = "/services/data"
LIMIT_HEADER = "Sforce-Limit-Info"
_VERSION_RE = re.compile(r"^v\d{2}\.\d$")
_RELEASES = {
    "55.0": "Summer '22", "56.0": "Winter '23", "57.0": "Spring '23", "58.0": "Summer '23",
    "59.0": "Winter '24", "60.0": "Spring '24", "61.0": "Summer '24", "62.0": "Winter '25",
    "63.0": "Spring '25", "64.0": "Summer '25",
}  # fmt: skip
DEFAULT_BATCH, MIN_BATCH, MAX_BATCH = 2000, 200, 2000
# A REST call's URI and headers together may take 16,384 bytes: past that the org answers 431 Request
# Header Fields Too Large (414 URI Too Long when the URI alone is over), before any API processing. A
# long SOQL IN (...) list in a GET query is what meets it.
MAX_REQUEST_HEAD = 16_384


@dataclass
class Call:
    org: Org
    request: Request
    version: str  # "v59.0"
    params: dict[str, str]
    user_id: str

    @property
    def ctx(self) -> WriteContext:
        return WriteContext(user_id=self.user_id)

    def sobject(self) -> ObjectDef:
        obj = self.org.schema.object(self.params["sobject"])
        if obj is None:
            raise not_found()
        return obj


Handler = Callable[[Call], Awaitable[Response]]


# ---- sObject resources ---------------------------------------------------------------------------


async def resources(call: Call) -> Response:
    base = f"{DATA_PREFIX}/{call.version}"
    names = ("sobjects", "query", "queryAll", "limits", "composite", "jobs")
    return JSONResponse({name: f"{base}/{name}" for name in names})


async def limits(call: Call) -> Response:
    usage = call.org.usage.current()
    return JSONResponse(
        {
            "DailyApiRequests": {"Max": usage.max, "Remaining": max(usage.max - usage.used, 0)},
            **call.org.bulk2.limits_report(),
            "DataStorageMB": {"Max": 1024, "Remaining": 1024},
        }
    )


async def sobjects(call: Call) -> Response:
    return JSONResponse(describe_global(call.org.schema, call.version))


async def sobject_info(call: Call) -> Response:
    return JSONResponse({"objectDescribe": object_summary(call.sobject(), call.version), "recentItems": []})


async def describe(call: Call) -> Response:
    return JSONResponse(describe_object(call.org.schema, call.sobject(), call.version))


async def create(call: Call) -> Response:
    record = call.org.records.create(call.sobject().name, await read_json(call.request), call.ctx)
    return JSONResponse({"id": record["Id"], "success": True, "errors": []}, status_code=201)


def _field_list(obj: ObjectDef, raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    names = []
    for name in (n.strip() for n in raw.split(",") if n.strip()):
        f = obj.field(name)
        if f is None:
            raise invalid_field(name, obj.name)
        names.append(f.name)
    return names


async def get_record(call: Call) -> Response:
    obj = call.sobject()
    record = call.org.records.fetch(obj, call.params["id"])
    fields = _field_list(obj, call.request.query_params.get("fields"))
    return JSONResponse(public_record(obj, record, call.version, fields))


def _id_or_external(call: Call) -> str:
    """PATCH/DELETE on ``sobjects/T/X``: a non-id X is read as an external id field with no value."""
    value = call.params["id"]
    if not looks_like_id(value):
        raise not_found(f"Provided external ID field does not exist or is not accessible: {value}")
    return value


async def update(call: Call) -> Response:
    obj = call.sobject()
    call.org.records.update(obj.name, _id_or_external(call), await read_json(call.request), call.ctx)
    return Response(status_code=204)


async def delete(call: Call) -> Response:
    call.org.records.delete(call.sobject().name, _id_or_external(call), call.ctx)
    return Response(status_code=204)


def _record_urls(call: Call, sobject: str, ids: list[str]) -> JSONResponse:
    return JSONResponse(
        [f"{DATA_PREFIX}/{call.version}/sobjects/{sobject}/{i}" for i in ids], status_code=300
    )


async def get_by_external_id(call: Call) -> Response:
    obj = call.sobject()
    matches = call.org.records.find_by_external_id(obj, call.params["field"], call.params["value"])
    if not matches:
        raise not_found()
    if len(matches) > 1:
        return _record_urls(call, obj.name, [m["Id"] for m in matches])
    fields = _field_list(obj, call.request.query_params.get("fields"))
    return JSONResponse(public_record(obj, matches[0], call.version, fields))


async def upsert(call: Call) -> Response:
    obj = call.sobject()
    body = await read_json(call.request)
    try:
        record, created = call.org.records.upsert(
            obj.name, call.params["field"], call.params["value"], body, call.ctx
        )
    except MultipleMatches as exc:
        return _record_urls(call, exc.sobject, exc.ids)
    return JSONResponse(
        {"id": record["Id"], "success": True, "errors": [], "created": created},
        status_code=201 if created else 200,
    )


async def delete_by_external_id(call: Call) -> Response:
    obj = call.sobject()
    matches = call.org.records.find_by_external_id(obj, call.params["field"], call.params["value"])
    if not matches:
        raise not_found()
    if len(matches) > 1:
        return _record_urls(call, obj.name, [m["Id"] for m in matches])
    call.org.records.delete(obj.name, matches[0]["Id"], call.ctx)
    return Response(status_code=204)


# ---- queries --------------------------------------------------------------------------------------


def _batch_size(request: Request) -> int:
    options = request.headers.get("sforce-query-options", "")
    match = re.search(r"batchSize\s*=\s*(\d+)", options, re.IGNORECASE)
    if not match:
        return DEFAULT_BATCH
    return min(max(int(match.group(1)), MIN_BATCH), MAX_BATCH)


def _page(
    call: Call, resource: str, records: list[Any], total: int, start: int, batch: int, cursor: str | None
) -> Response:
    end = start + batch
    body: dict[str, Any] = {"totalSize": total, "done": end >= len(records)}
    if end < len(records):
        if cursor is None:
            cursor = call.org.cursors.open(records, batch)
        body["nextRecordsUrl"] = f"{DATA_PREFIX}/{call.version}/{resource}/{cursor}-{end}"
    body["records"] = records[start:end]
    return JSONResponse(body)


async def _query(call: Call, include_deleted: bool) -> Response:
    text = call.request.query_params.get("q")
    if not text or not text.strip():
        raise bad_request("MALFORMED_QUERY", "A query string has to be specified", None)
    result = call.org.queries.run(text, call.version, include_deleted)
    resource = "queryAll" if include_deleted else "query"
    return _page(call, resource, result.records, result.total_size, 0, _batch_size(call.request), None)


async def query(call: Call) -> Response:
    return await _query(call, include_deleted=False)


async def query_all(call: Call) -> Response:
    return await _query(call, include_deleted=True)


async def _query_more(call: Call, resource: str) -> Response:
    cursor_id, cursor, offset = call.org.cursors.get(call.params["locator"])
    records = cursor.records
    return _page(call, resource, records, len(records), offset, cursor.batch_size, cursor_id)


async def query_more(call: Call) -> Response:
    return await _query_more(call, "query")


async def query_all_more(call: Call) -> Response:
    return await _query_more(call, "queryAll")


# ---- routing --------------------------------------------------------------------------------------

ROUTES: list[tuple[tuple[str, ...], dict[str, Handler]]] = [
    ((), {"GET": resources}),
    (("limits",), {"GET": limits}),
    (("sobjects",), {"GET": sobjects}),
    (("sobjects", "{sobject}"), {"GET": sobject_info, "POST": create}),
    (("sobjects", "{sobject}", "describe"), {"GET": describe}),
    (("sobjects", "{sobject}", "{id}"), {"GET": get_record, "PATCH": update, "DELETE": delete}),
    (
        ("sobjects", "{sobject}", "{field}", "{value}"),
        {"GET": get_by_external_id, "PATCH": upsert, "DELETE": delete_by_external_id},
    ),
    (("query",), {"GET": query}),
    (("query", "{locator}"), {"GET": query_more}),
    (("queryAll",), {"GET": query_all}),
    (("queryAll", "{locator}"), {"GET": query_all_more}),
    (("composite", "sobjects"), {
        "POST": composite.create, "PATCH": composite.update, "DELETE": composite.delete,
    }),
    (("composite", "sobjects", "{sobject}"), {"GET": composite.retrieve, "POST": composite.retrieve}),
    (("composite", "sobjects", "{sobject}", "{field}"), {"PATCH": composite.upsert}),
    # Bulk API 2.0 (bulk2): ingest and query jobs.
    (("jobs", "ingest"), {"POST": bulk2.create_ingest, "GET": bulk2.list_ingest}),
    (("jobs", "ingest", "{job}"), {
        "GET": bulk2.ingest_info, "PATCH": bulk2.update_ingest, "DELETE": bulk2.delete_ingest,
    }),
    (("jobs", "ingest", "{job}", "batches"), {"PUT": bulk2.upload}),
    (("jobs", "ingest", "{job}", "successfulResults"), {"GET": bulk2.successful_results}),
    (("jobs", "ingest", "{job}", "failedResults"), {"GET": bulk2.failed_results}),
    (("jobs", "ingest", "{job}", "unprocessedrecords"), {"GET": bulk2.unprocessed_records}),
    # The spelling simple-salesforce uses (against real orgs too).
    (("jobs", "ingest", "{job}", "unprocessedRecords"), {"GET": bulk2.unprocessed_records}),
    (("jobs", "query"), {"POST": bulk2.create_query, "GET": bulk2.list_query}),
    (("jobs", "query", "{job}"), {
        "GET": bulk2.query_info, "PATCH": bulk2.update_query, "DELETE": bulk2.delete_query,
    }),
    (("jobs", "query", "{job}", "results"), {"GET": bulk2.query_results}),
]  # fmt: skip


def match_route(segments: list[str]) -> tuple[dict[str, Handler], dict[str, str], str] | None:
    """(handlers by method, path parameters, endpoint template) for the first matching route."""
    for pattern, handlers in ROUTES:
        if len(pattern) != len(segments):
            continue
        params: dict[str, str] = {}
        for part, segment in zip(pattern, segments, strict=True):
            if part.startswith("{"):
                params[part[1:-1]] = segment
            elif part != segment:
                break
        else:
            return handlers, params, "/".join(pattern)
    return None


def endpoint_name(method: str, template: str, params: dict[str, str], org: Org) -> str:
    """The request-log key: the route with the object (and external id field) filled in, so a test can
    count e.g. ``PATCH sobjects/Opportunity/{id}``."""
    name = template
    if "sobject" in params:
        obj = org.schema.object(params["sobject"])
        name = name.replace("{sobject}", obj.name if obj else params["sobject"])
    if "field" in params:
        name = name.replace("{field}", params["field"])
    return f"{method} {name}".rstrip()


def versions() -> list[dict[str, str]]:
    return [
        {"label": label, "url": f"{DATA_PREFIX}/v{number}", "version": number}
        for number, label in _RELEASES.items()
    ]


def _oversized(request: Request) -> Response | None:
    """The 414/431 a real org's front end gives a request whose URI and headers exceed 16,384 bytes."""
    target = len(request.scope.get("raw_path") or request.url.path.encode())
    if request.scope.get("query_string"):
        target += 1 + len(request.scope["query_string"])
    headers = sum(len(name) + len(value) + 4 for name, value in request.scope.get("headers", []))
    if target > MAX_REQUEST_HEAD:
        return Response("URI Too Long", status_code=414, media_type="text/plain")
    if target + headers > MAX_REQUEST_HEAD:
        return Response("Request Header Fields Too Large", status_code=431, media_type="text/plain")
    return None


async def data_api(request: Request) -> Response:
    org: Org = request.app.state.org
    segments = [s for s in request.url.path[len(DATA_PREFIX) :].split("/") if s]
    method = request.method
    oversized = _oversized(request)
    if oversized is not None:  # refused before the API: no session check, not counted
        org.log.record(method, request.url.path, oversized.status_code, f"{method} (oversized)")
        return oversized
    if not segments:
        response: Response = JSONResponse(versions())
        org.log.record(method, request.url.path, response.status_code, f"{method} versions")
        return response
    version, rest = segments[0], segments[1:]
    route = match_route(rest)
    endpoint = endpoint_name(method, route[2], route[1], org) if route else f"{method} (unknown)"
    try:
        user_id = org.sessions.user_for(request.headers.get("authorization"))
    except ApiError as exc:
        response = exc.response({LIMIT_HEADER: org.usage.current().header})
        org.log.record(method, request.url.path, response.status_code, endpoint)
        return response
    allowed, usage = org.usage.count()
    if not allowed:
        response = ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.").response()
    else:
        response = await _dispatch(org, request, version, route, user_id)
    response.headers[LIMIT_HEADER] = usage.header
    org.log.record(method, request.url.path, response.status_code, endpoint)
    return response


async def _dispatch(
    org: Org,
    request: Request,
    version: str,
    route: tuple[dict[str, Handler], dict[str, str], str] | None,
    user_id: str,
) -> Response:
    try:
        if not _VERSION_RE.match(version) or route is None:
            raise not_found()
        handlers, params, _ = route
        handler = handlers.get(request.method)
        if handler is None:
            allowed = ",".join(handlers)
            raise ApiError(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}",
            )
        return await handler(Call(org, request, version, params, user_id))
    except ApiError as exc:
        return exc.response()
    except Exception:  # a sandbox bug must still look like a Salesforce error to the client
        log.exception("unhandled error serving %s %s", request.method, request.url.path)
        return ApiError(
            500,
            "UNKNOWN_EXCEPTION",
            "An unexpected error occurred. Please include this ErrorId if you contact support: sandbox",
        ).response()
