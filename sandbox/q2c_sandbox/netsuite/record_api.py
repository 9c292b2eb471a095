"""HTTP routes of the record service (``/services/rest/record/v1``) and the SuiteQL query service."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from q2c_sandbox.netsuite.codec import RECORD_PATH, page_links, record_url
from q2c_sandbox.netsuite.errors import NsError, invalid_content
from q2c_sandbox.netsuite.gate import ApiGate
from q2c_sandbox.netsuite.service import EID_PREFIX, RecordService
from q2c_sandbox.netsuite.suiteql import MAX_LIMIT, MAX_REACHABLE_ROWS, SuiteQL
from q2c_sandbox.netsuite.suiteql import PATH as SUITEQL_PATH

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
SINGULAR = "application/vnd.oracle.resource+json; type=singular-resource"
COLLECTION = "application/vnd.oracle.resource+json; type=collection"


def _base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _json_body(body: bytes, *, required: bool) -> Any:
    if not body.strip():
        if required:
            raise invalid_content(
                "Error while accessing a resource. The request body is empty; send a JSON object.", None
            )
        return None
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise invalid_content(
            f"Error while accessing a resource. The request body is not valid JSON: {exc}.", None
        ) from None


def _method_not_allowed(request: Request, allowed: str) -> NsError:
    return NsError(
        405,
        "METHOD_NOT_ALLOWED",
        f"The {request.method} method is not allowed on {request.url.path}; use {allowed}.",
        url_path=request.url.path,
    )


def _ignore_unknown(request: Request) -> bool:
    # NetSuite's X-NetSuite-PropertyNameValidation: Error (the sandbox default) fails on unknown fields,
    # Warning and Ignore drop them.
    return request.headers.get("x-netsuite-propertynamevalidation", "error").lower() in ("warning", "ignore")


def _flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "").lower() == "true"


def paging(request: Request) -> tuple[int, int]:
    def number(name: str, default: int) -> int:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise NsError(
                400,
                "INVALID_PARAMETER",
                f"Invalid value {raw!r} for query parameter {name}: expected an integer.",
                query_param=name,
            ) from None

    limit, offset = number("limit", MAX_LIMIT), number("offset", 0)
    if not 1 <= limit <= MAX_LIMIT:
        raise NsError(
            400,
            "INVALID_PARAMETER",
            f"Invalid value {limit} for query parameter limit: it must be between 1 and {MAX_LIMIT}.",
            query_param="limit",
        )
    if offset < 0 or offset % limit != 0:
        raise NsError(
            400,
            "INVALID_PARAMETER",
            f"Invalid value {offset} for query parameter offset: it must be a "
            f"non-negative multiple of limit ({limit}).",
            query_param="offset",
        )
    if offset >= MAX_REACHABLE_ROWS:
        raise NsError(
            400,
            "INVALID_PARAMETER",
            f"Invalid value {offset} for query parameter offset: at most "
            f"{MAX_REACHABLE_ROWS} results can be reached by paging.",
            query_param="offset",
        )
    return limit, offset


def _key_label(key: str) -> str:
    return "eid:{externalId}" if key.startswith(EID_PREFIX) else "{id}"


def build_routes(gate: ApiGate, service: RecordService, suiteql: SuiteQL) -> list[Route]:
    async def collection(request: Request, body: bytes) -> Response:
        rt = service.record_type(request.path_params["type"])
        base = _base_url(request)
        if request.method == "POST":
            record_id = service.create(
                rt, _json_body(body, required=True), ignore_unknown=_ignore_unknown(request)
            )
            return Response(status_code=204, headers={"Location": record_url(base, rt.name, str(record_id))})
        if request.method != "GET":
            raise _method_not_allowed(request, "GET or POST")
        if request.query_params.get("q"):
            raise NsError(
                400,
                "INVALID_PARAMETER",
                "The q filter of record lists is not supported by the sandbox; use "
                "SuiteQL (POST /services/rest/query/v1/suiteql).",
                query_param="q",
            )
        limit, offset = paging(request)
        ids, total = service.store.page(rt.name, limit, offset)
        has_more = offset + len(ids) < total
        path = f"{base}{RECORD_PATH}/{rt.name}"
        payload = {
            "links": page_links(path, limit, offset, total, has_more),
            "count": len(ids),
            "hasMore": has_more,
            "items": [
                {"links": [{"rel": "self", "href": record_url(base, rt.name, str(i))}], "id": str(i)}
                for i in ids
            ],
            "offset": offset,
            "totalResults": total,
        }
        return JSONResponse(payload, media_type=COLLECTION)

    async def instance(request: Request, body: bytes) -> Response:
        rt = service.record_type(request.path_params["type"])
        key = request.path_params["key"]
        base = _base_url(request)
        replace = {s for s in request.query_params.get("replace", "").split(",") if s}
        if request.method == "GET":
            fields = request.query_params.get("fields")
            payload = service.render(
                rt,
                service.existing_id(rt, key),
                base,
                expand=_flag(request, "expandSubResources"),
                fields={f for f in fields.split(",") if f} if fields else None,
            )
            return JSONResponse(payload, media_type=SINGULAR)
        if request.method == "PATCH":
            service.update(
                rt,
                service.existing_id(rt, key),
                _json_body(body, required=True),
                replace=replace,
                ignore_unknown=_ignore_unknown(request),
            )
            return Response(status_code=204)
        if request.method == "PUT":
            if not key.startswith(EID_PREFIX):
                raise NsError(
                    405,
                    "METHOD_NOT_ALLOWED",
                    "PUT (upsert) needs an external id in the URL, as "
                    f"{rt.name}/eid:<externalId>; use PATCH to update {rt.name}/{key}.",
                    url_path=f"{rt.name}/{key}",
                )
            service.resolve_id(rt, key)  # validates the external id
            record_id, _ = service.upsert(
                rt,
                key[len(EID_PREFIX) :],
                _json_body(body, required=True),
                replace=replace,
                ignore_unknown=_ignore_unknown(request),
            )
            return Response(status_code=204, headers={"Location": record_url(base, rt.name, str(record_id))})
        if request.method == "DELETE":
            service.delete(rt, service.existing_id(rt, key))
            return Response(status_code=204)
        raise _method_not_allowed(request, "GET, PATCH, PUT or DELETE")

    async def sublist(request: Request, body: bytes) -> Response:
        rt = service.record_type(request.path_params["type"])
        if request.method != "GET":
            raise _method_not_allowed(request, "GET")
        record_id = service.existing_id(rt, request.path_params["key"])
        sl = rt.sublist(request.path_params["sublist"])
        if sl is None:
            raise NsError(
                404,
                "NONEXISTENT_ID",
                f"The {rt.name} record has no sublist or subrecord named '{request.path_params['sublist']}'.",
                url_path=request.url.path,
            )
        return JSONResponse(
            service.render_sublist(rt, record_id, sl, _base_url(request)), media_type=COLLECTION
        )

    async def transform(request: Request, body: bytes) -> Response:
        if request.method != "POST":
            raise _method_not_allowed(request, "POST")
        source = service.record_type(request.path_params["type"])
        target = service.record_type(request.path_params["target"])
        record_id = service.existing_id(source, request.path_params["key"])
        new_id = service.transform(source, record_id, target, _json_body(body, required=False))
        return Response(
            status_code=204, headers={"Location": record_url(_base_url(request), target.name, str(new_id))}
        )

    async def query(request: Request, body: bytes) -> Response:
        if request.method != "POST":
            raise _method_not_allowed(request, "POST")
        if "transient" not in request.headers.get("prefer", "").lower():
            raise NsError(
                400,
                "INVALID_HEADER",
                "SuiteQL queries need the request header 'Prefer: transient'.",
                error_header="Prefer",
            )
        data = _json_body(body, required=True)
        if not isinstance(data, dict) or not isinstance(data.get("q"), str) or not data["q"].strip():
            raise invalid_content(
                'Error while accessing a resource. The body must be {"q": "<SuiteQL query>"}.', "q"
            )
        limit, offset = paging(request)
        return JSONResponse(suiteql.run(data["q"], limit, offset, _base_url(request)), media_type=COLLECTION)

    async def unknown(request: Request, body: bytes) -> Response:
        raise NsError(
            404,
            "NONEXISTENT_ID",
            f"No REST web services resource exists at {request.url.path}.",
            url_path=request.url.path,
        )

    def label(template: str) -> Any:
        def make(request: Request) -> str:
            p = request.path_params
            text = template.format(
                type=p.get("type", ""),
                key=_key_label(p.get("key", "")),
                sublist=p.get("sublist", ""),
                target=p.get("target", ""),
            )
            return f"{request.method} {text}"

        return make

    record = f"{RECORD_PATH}/{{type}}"
    return [
        Route(SUITEQL_PATH, gate.endpoint(label("suiteql"), query), methods=ALL_METHODS),
        Route(record, gate.endpoint(label("{type}"), collection), methods=ALL_METHODS),
        Route(
            f"{record}/{{key}}/!transform/{{target}}",
            gate.endpoint(label("{type}/{key}/!transform/{target}"), transform),
            methods=ALL_METHODS,
        ),
        Route(
            f"{record}/{{key}}/{{sublist}}",
            gate.endpoint(label("{type}/{key}/{sublist}"), sublist),
            methods=ALL_METHODS,
        ),
        Route(f"{record}/{{key}}", gate.endpoint(label("{type}/{key}"), instance), methods=ALL_METHODS),
        Route("/services/rest/{rest:path}", gate.endpoint(label("unknown"), unknown), methods=ALL_METHODS),
    ]
