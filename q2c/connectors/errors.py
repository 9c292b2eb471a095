"""How every outside API failure is described and classified, once, for both systems.

Retryable: the same request may succeed later (5xx, timeouts, dropped connections, 429, Salesforce
UNABLE_TO_LOCK_ROW / REQUEST_LIMIT_EXCEEDED, NetSuite CONCURRENCY_LIMIT_EXCEEDED). Permanent: it will
fail the same way until someone changes data, mapping or credentials (validation, not found, auth).
Messages never contain credentials: they carry the operation, the status and the remote error text.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from enum import StrEnum

RETRYABLE_CODES = frozenset(
    {
        "UNABLE_TO_LOCK_ROW",
        "REQUEST_LIMIT_EXCEEDED",
        "SERVER_UNAVAILABLE",
        "CONCURRENCY_LIMIT_EXCEEDED",
        "REQUEST_RUNNING_TOO_LONG",
    }
)

# Salesforce's daily allocation is spent until the rolling window frees some: do not hammer it.
REQUEST_LIMIT_BACKOFF_SECONDS = 300.0


class ErrorKind(StrEnum):
    RETRYABLE = "retryable"
    PERMANENT = "permanent"
    NOT_FOUND = "not_found"
    AUTH = "auth"


class ApiError(Exception):
    """An outside API refused or failed a request."""

    def __init__(
        self,
        *,
        system: str,
        operation: str,
        kind: ErrorKind,
        code: str,
        detail: str,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.system = system
        self.operation = operation
        self.kind = kind
        self.code = code
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
        super().__init__(str(self))

    @property
    def retryable(self) -> bool:
        return self.kind is ErrorKind.RETRYABLE

    def __str__(self) -> str:
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"{self.system} {self.operation} failed{status}: {self.code}: {self.detail}"


def transport_error(system: str, operation: str, exc: Exception) -> ApiError:
    """A request that got no HTTP answer (refused, reset, timed out, TLS): always worth retrying.

    The clients' messages name the URL, never credentials (those travel in headers and bodies).
    """
    return ApiError(
        system=system,
        operation=operation,
        kind=ErrorKind.RETRYABLE,
        code=type(exc).__name__,
        detail=str(exc)[:300] or type(exc).__name__,
    )


def classify(status: int | None, code: str) -> ErrorKind:
    if code in RETRYABLE_CODES or status is None or status == 429 or status >= 500:
        return ErrorKind.RETRYABLE
    if status == 401:
        return ErrorKind.AUTH
    if status == 404:
        return ErrorKind.NOT_FOUND
    return ErrorKind.PERMANENT


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        import datetime as dt

        when = parsedate_to_datetime(value)
        return max(0.0, (when - dt.datetime.now(when.tzinfo)).total_seconds())
    except (TypeError, ValueError):
        return None
