"""NetSuite REST error bodies.

Every failure the sandbox reports has the shape NetSuite uses, so client error handling written
against the sandbox (parsing ``o:errorDetails[0]["o:errorCode"]``) works unchanged against a real account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from q2c_sandbox.faults import FaultKind, FaultRule

ERROR_CONTENT_TYPE = "application/vnd.oracle.resource+json; type=error"

INVALID_LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
    "Setup > Users/Roles > User Management > View Login Audit Trail."
)
NONEXISTENT_ID_DETAIL = "The record instance does not exist. Provide a valid record instance ID."
CONCURRENCY_DETAIL = "Concurrent request limit exceeded. Request blocked."

_TITLES = {
    400: ("Bad Request", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1"),
    401: ("Unauthorized", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2"),
    403: ("Forbidden", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.4"),
    404: ("Not Found", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.5"),
    405: ("Method Not Allowed", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.6"),
    415: ("Unsupported Media Type", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.16"),
    429: ("Too Many Requests", "https://www.rfc-editor.org/rfc/rfc6585.html#section-4"),
    500: ("Internal Server Error", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.1"),
    503: ("Service Unavailable", "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.4"),
}


@dataclass
class NsError(Exception):
    """A failure to report to the client as a NetSuite error body."""

    status: int
    code: str
    detail: str
    error_path: str | None = None
    url_path: str | None = None
    error_header: str | None = None
    query_param: str | None = None
    # Never sent to the client (NetSuite does not explain login failures); kept for the login audit trail.
    internal_reason: str | None = None

    def __str__(self) -> str:
        where = f" at {self.error_path}" if self.error_path else ""
        return f"{self.status} {self.code}{where}: {self.detail}"

    def body(self) -> dict[str, Any]:
        title, type_uri = _TITLES.get(self.status, _TITLES[400 if self.status < 500 else 500])
        detail: dict[str, Any] = {"detail": self.detail, "o:errorCode": self.code}
        if self.error_path is not None:
            detail["o:errorPath"] = self.error_path
        if self.url_path is not None:
            detail["o:urlPath"] = self.url_path
        if self.error_header is not None:
            detail["o:errorHeader"] = self.error_header
        if self.query_param is not None:
            detail["o:errorQueryParam"] = self.query_param
        return {"type": type_uri, "title": title, "status": self.status, "o:errorDetails": [detail]}

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, media_type=ERROR_CONTENT_TYPE)


def invalid_login() -> NsError:
    return NsError(401, "INVALID_LOGIN", INVALID_LOGIN_DETAIL)


def nonexistent_id() -> NsError:
    return NsError(404, "NONEXISTENT_ID", NONEXISTENT_ID_DETAIL)


def invalid_content(detail: str, path: str | None) -> NsError:
    return NsError(400, "INVALID_CONTENT", detail, error_path=path)


def user_error(detail: str, path: str | None = None) -> NsError:
    return NsError(400, "USER_ERROR", detail, error_path=path)


def concurrency_exceeded() -> NsError:
    return NsError(429, "CONCURRENCY_LIMIT_EXCEEDED", CONCURRENCY_DETAIL)


# Injected faults (q2c_sandbox.faults), answered with the bodies a real account sends for these failures.
_FAULTS: dict[FaultKind, NsError] = {
    FaultKind.SERVER_ERROR: NsError(
        500,
        "UNEXPECTED_ERROR",
        "An unexpected error occurred. Error ID: sandbox-injected-fault (injected by the sandbox fault plan).",
    ),
    # The code of NetSuite's 503 (maintenance, overload) body is unconfirmed.
    FaultKind.UNAVAILABLE: NsError(
        503,
        "SERVICE_UNAVAILABLE",
        "The service is temporarily unavailable. Try again later (injected by the sandbox fault plan).",
    ),
    FaultKind.RATE_LIMITED: NsError(429, "CONCURRENCY_LIMIT_EXCEEDED", CONCURRENCY_DETAIL),
    # A workflow's Lock Record action; NetSuite answers any write to the locked record this way.
    FaultKind.LOCKED: NsError(
        400, "RCRD_LOCKED_BY_WF", "This record has been locked by a user defined workflow."
    ),
}


def render_fault(rule: FaultRule) -> Response:
    """The renderer for ``FaultMiddleware``: the error body of the injected fault kind."""
    return _FAULTS[rule.kind].response()
