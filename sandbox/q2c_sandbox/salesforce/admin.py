"""The admin API under ``/__admin``: reset, bulk load, inspection, limits, outbound messages, sessions
(expiring them, logging in as a user), the connected app's JWT certificate (fault injection and latency
come from ``q2c_sandbox.faults``).

Guarded by the admin key only (bearer tokens are never accepted), not counted against the daily limit
and not recorded in the request log.

``POST /__admin/load`` accepts, in any reference field, ``"@Account[0]"``: the id of the first Account
loaded by the same request, so fixtures can link records without choosing ids.

``/__admin/connected-app``: GET ``{"client_id", "certificate": {"subject", "not_valid_after",
"sha256_fingerprint"} | null}``; PUT ``{"certificate_pem": "-----BEGIN CERTIFICATE-----..."}`` registers
the certificate JWT bearer assertions are verified with (replacing the one from settings until the next
reset); DELETE removes the registered one.

``/__admin/outbound-messages`` (one outbound message per sObject: Account, Contact or Opportunity):
PUT ``{"sobject": "Account", "endpoint_url": "https://...", "fields": ["Name", ...]}`` creates or
replaces that sObject's (``sobject`` defaults to ``?sobject=``, else Opportunity; ``Id`` is always
sent); DELETE removes the one ``?sobject=`` names, or all of them. Every method answers ``{"config":
<the named sObject's config (PUT: the body's, else ?sobject=, else Opportunity) or null>, "configs":
[every config], "stats": {"pending", "delivered", "expired", "attempts", "last_error", "by_sobject":
{sobject: {"pending", "delivered", "expired"}}}, "notifications": [the last 100 queued]}``; a config is
``{"sobject", "endpoint_url", "fields", "action_id", "instance_url"}``.

``POST /__admin/sessions`` ``{"username": "..."}`` logs in as that active User (case-insensitive
Username): a bearer session like the token endpoint's, answered with its body plus ``user_id``, so tests
can write as a human user rather than the integration user. Unknown user: 404; inactive: 400.

A reset clears records, sessions, outbound message configs and the registered certificate, but not fault
rules or latency (they have their own DELETE), so a test can set up faults and then reset its data.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from q2c_sandbox.common import admin_endpoint
from q2c_sandbox.salesforce.auth import instance_url
from q2c_sandbox.salesforce.errors import ApiError, bad_request, read_json
from q2c_sandbox.salesforce.jwt_bearer import CertificateError
from q2c_sandbox.salesforce.org import Org
from q2c_sandbox.salesforce.outbound import DEFAULT_SOBJECT
from q2c_sandbox.salesforce.records import WriteContext

_LOAD_REF = re.compile(r"^@(\w+)\[(\d+)\]$")


class _LoadFailed(Exception):
    def __init__(self, error: ApiError, sobject: str, index: int) -> None:
        super().__init__(error.message)
        self.error, self.sobject, self.index = error, sobject, index


def _resolve_load_refs(raw: Any, loaded: dict[str, list[str]]) -> Any:
    if not isinstance(raw, dict):
        return raw
    out = {}
    for key, value in raw.items():
        match = _LOAD_REF.match(value) if isinstance(value, str) else None
        if match:
            ids = loaded.get(match.group(1), [])
            index = int(match.group(2))
            if index >= len(ids):
                raise bad_request(
                    "INVALID_CROSS_REFERENCE_KEY",
                    f"{key}: {value} does not name a record loaded earlier in this request",
                    [key],
                )
            value = ids[index]
        out[key] = value
    return out


def admin_routes(org: Org) -> list[Route]:
    key = org.settings.admin_key

    async def reset(request: Request) -> Response:
        org.reset()
        return JSONResponse({"ok": True})

    async def load(request: Request) -> Response:
        try:
            body = await read_json(request)
        except ApiError as exc:
            return exc.response()
        if not isinstance(body, dict) or not isinstance(body.get("records"), dict):
            return bad_request(
                "JSON_PARSER_ERROR", 'the body must be {"records": {"Object": [...]}}'
            ).response()
        loaded: dict[str, list[str]] = {}
        try:
            with org.store.transaction():
                for sobject, rows in body["records"].items():
                    obj = org.schema.object(sobject)
                    if obj is None or not isinstance(rows, list):
                        error = ApiError(
                            400, "INVALID_TYPE", f"sObject type '{sobject}' is not supported", []
                        )
                        raise _LoadFailed(error, sobject, 0)
                    ids = loaded.setdefault(obj.name, [])
                    for index, row in enumerate(rows):
                        try:
                            fields = _resolve_load_refs(row, loaded)
                            ids.append(org.records.create(obj.name, fields, WriteContext(admin=True))["Id"])
                        except ApiError as exc:
                            raise _LoadFailed(exc, obj.name, index) from None
        except _LoadFailed as failed:
            errors = [
                {**item, "sobject": failed.sobject, "index": failed.index} for item in failed.error.body()
            ]
            return JSONResponse(errors, status_code=400)
        return JSONResponse({"ids": loaded})

    async def records(request: Request) -> Response:
        obj = org.schema.object(request.path_params["sobject"])
        if obj is None:
            return JSONResponse(
                {"error": f"unknown sobject {request.path_params['sobject']}"}, status_code=404
            )
        return JSONResponse(org.store.scan(obj.name, include_deleted=True))

    async def stats(request: Request) -> Response:
        usage = org.usage.current()
        return JSONResponse(
            {"counts": org.store.counts(), "api_usage": {"used": usage.used, "max": usage.max}}
        )

    async def requests_log(request: Request) -> Response:
        if request.method == "DELETE":
            org.log.clear()
            return JSONResponse({"ok": True})
        limit_text = request.query_params.get("limit", "500")
        limit = int(limit_text) if limit_text.isdigit() else 500
        return JSONResponse(org.log.snapshot(limit))

    async def limits(request: Request) -> Response:
        try:
            body = await read_json(request)
        except ApiError as exc:
            return exc.response()
        if not isinstance(body, dict):
            return JSONResponse({"error": "the body must be a JSON object"}, 400)
        maximum, used = body.get("daily_api_requests"), body.get("used")
        if not all(v is None or (isinstance(v, int) and v >= 0) for v in (maximum, used)):
            return JSONResponse({"error": "daily_api_requests and used must be non-negative integers"}, 400)
        usage = org.usage.set(maximum, used)
        return JSONResponse({"used": usage.used, "max": usage.max})

    async def outbound(request: Request) -> Response:
        named = request.query_params.get("sobject")
        try:
            sobject = DEFAULT_SOBJECT if named is None else org.outbound.supported(named)
            if request.method == "PUT":
                body = await read_json(request)
                if not isinstance(body, dict):
                    raise bad_request("JSON_PARSER_ERROR", "the body must be a JSON object")
                config = org.outbound.configure(
                    body.get("sobject", sobject),
                    body.get("endpoint_url"),
                    body.get("fields", []),
                    instance_url(request),
                )
                sobject = config["sobject"]
            elif request.method == "DELETE":
                org.outbound.disable(None if named is None else sobject)
        except ApiError as exc:
            return exc.response()
        return JSONResponse(org.outbound.describe(sobject))

    async def sessions(request: Request) -> Response:
        try:
            body = await read_json(request)
        except ApiError as exc:
            return exc.response()
        username = body.get("username") if isinstance(body, dict) else None
        if not isinstance(username, str) or not username.strip():
            return JSONResponse({"error": 'the body must be {"username": "<Username of a User>"}'}, 400)
        user = org.sessions.find_user(username.strip())
        if user is None:
            error = f"no User has the Username {username.strip()!r} (create one with POST /__admin/load)"
            return JSONResponse({"error": error}, 404)
        if user.get("IsActive") is False:
            return JSONResponse({"error": f"the User {user['Username']!r} is inactive"}, 400)
        grant = org.sessions.grant(request, str(user["Id"]))
        return JSONResponse({**grant, "user_id": user["Id"]})

    async def expire_sessions(request: Request) -> Response:
        return JSONResponse({"ok": True, "expired": org.sessions.expire_all()})

    async def connected_app(request: Request) -> Response:
        app = org.sessions.connected_app
        if request.method == "PUT":
            try:
                body = await read_json(request)
            except ApiError as exc:
                return exc.response()
            pem = body.get("certificate_pem") if isinstance(body, dict) else None
            if not isinstance(pem, str):
                return JSONResponse(
                    {"error": 'the body must be {"certificate_pem": "<PEM certificate>"}'}, 400
                )
            try:
                app.register(pem)
            except CertificateError as exc:
                return JSONResponse({"error": str(exc)}, 400)
        elif request.method == "DELETE":
            app.clear()
        return JSONResponse(app.describe())

    def route(path: str, handler: Any, methods: list[str]) -> Route:
        return Route(f"/__admin{path}", admin_endpoint(key, handler), methods=methods)

    return [
        route("/reset", reset, ["POST"]),
        route("/load", load, ["POST"]),
        route("/records/{sobject}", records, ["GET"]),
        route("/stats", stats, ["GET"]),
        route("/requests", requests_log, ["GET", "DELETE"]),
        route("/limits", limits, ["PUT"]),
        route("/outbound-messages", outbound, ["GET", "PUT", "DELETE"]),
        route("/sessions", sessions, ["POST"]),
        route("/expire-sessions", expire_sessions, ["POST"]),
        route("/connected-app", connected_app, ["GET", "PUT", "DELETE"]),
    ]
