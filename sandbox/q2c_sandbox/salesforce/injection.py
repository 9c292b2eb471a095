"""Injected faults answered the way a Salesforce org answers them (the plan itself is ``q2c_sandbox.faults``).

  server_error  500 [{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred. Please
                include this ErrorId if you contact support: 1678459733-112656 (-771449107)"}]
  unavailable   503 [{"errorCode": "SERVER_UNAVAILABLE", "message": "Server Unavailable"}]
  rate_limited  403 [{"errorCode": "REQUEST_LIMIT_EXCEEDED", "message": "TotalRequests Limit exceeded."}]
  locked        400 [{"errorCode": "UNABLE_TO_LOCK_ROW", "message": "unable to obtain exclusive access to
                this record or 1 records: <the id in the URL>", "fields": []}]

The daily API allocation and ``Sforce-Limit-Info``: an org counts every REST call it processes, whatever
the outcome, and returns the header on every response but the version list. So a ``server_error`` or
``locked`` fault on an authenticated data API call stands for a call the org processed and failed: it is
counted and carries the header (as the org's own errors do). ``rate_limited`` is a refusal: not counted
(a call refused for the limit never uses it), header with the current usage, as when the allocation is
really spent. ``unavailable`` stands for the edge or a maintenance window answering before the API layer:
neither counted nor headed. ``timeout`` and ``drop`` never answer. The token endpoint never counts (logins
are not API calls); its faults use the same statuses and bodies (a real login's failure pages vary).
"""

from __future__ import annotations

import secrets
from contextvars import ContextVar
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from q2c_sandbox.faults import FaultKind, FaultRule, Renderer
from q2c_sandbox.salesforce.errors import ApiError
from q2c_sandbox.salesforce.org import Org
from q2c_sandbox.salesforce.rest import DATA_PREFIX, LIMIT_HEADER
from q2c_sandbox.salesforce.values import looks_like_id


@dataclass
class _Request:
    path: str
    authorization: str | None
    # FaultMiddleware renders a fault twice (once for its request log, once to answer): the first
    # rendering is kept so the call is counted once and the log and the answer agree on the ErrorId.
    answer: Response | None = None


_current: ContextVar[_Request | None] = ContextVar("salesforce_fault_request", default=None)


class RequestFacts:
    """Outermost middleware: makes the request's path and credentials visible to the fault renderer,
    which ``FaultMiddleware`` calls with the rule alone."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = _current.set(_Request(scope["path"], Headers(scope=scope).get("authorization")))
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)


def error_id() -> str:
    """An ErrorId shaped like a real org's: ``1678459733-112656 (-771449107)``."""
    signed = secrets.randbelow(2**32) - 2**31
    return f"{secrets.randbelow(2**31)}-{secrets.randbelow(10**6)} ({signed})"


def locked_record_id(path: str) -> str | None:
    """The record a write to ``.../sobjects/Type/Id`` would have locked, when the URL names one."""
    segments = [s for s in path.split("/") if s]
    if "sobjects" not in segments:
        return None
    after_type = segments[segments.index("sobjects") + 2 :]
    return next((s for s in after_type if looks_like_id(s)), None)


def fault_error(kind: FaultKind, path: str) -> ApiError:
    if kind is FaultKind.UNAVAILABLE:
        return ApiError(503, "SERVER_UNAVAILABLE", "Server Unavailable")
    if kind is FaultKind.RATE_LIMITED:
        return ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
    if kind is FaultKind.LOCKED:
        record_id = locked_record_id(path)
        message = "unable to obtain exclusive access to this record"
        return ApiError(
            400, "UNABLE_TO_LOCK_ROW", f"{message} or 1 records: {record_id}" if record_id else message, []
        )
    message = (
        f"An unexpected error occurred. Please include this ErrorId if you contact support: {error_id()}"
    )
    return ApiError(500, "UNKNOWN_EXCEPTION", message)


def _is_api_call(path: str) -> bool:
    """A data API call (the version list at ``/services/data`` itself is free and unheaded)."""
    return path.startswith(DATA_PREFIX + "/") and len(path.rstrip("/")) > len(DATA_PREFIX)


def fault_renderer(org: Org) -> Renderer:
    def answer(rule: FaultRule, request: _Request) -> Response:
        error = fault_error(rule.kind, request.path)
        if not _is_api_call(request.path) or rule.kind is FaultKind.UNAVAILABLE:
            return error.response()
        usage = org.usage.current()
        if rule.kind in (FaultKind.SERVER_ERROR, FaultKind.LOCKED):
            try:
                org.sessions.user_for(request.authorization)
            except ApiError:
                pass  # an unauthenticated call is never counted (the org's own 401 is not either)
            else:
                _, usage = org.usage.count()
        return error.response({LIMIT_HEADER: usage.header})

    def render(rule: FaultRule) -> Response:
        request = _current.get()
        if request is None:  # RequestFacts not installed: answer without counting anything
            return fault_error(rule.kind, "").response()
        if request.answer is None:
            request.answer = answer(rule, request)
        return request.answer

    return render
