"""Turning connector failures into Temporal activity errors, in one place.

The connector has already classified each failure; here it becomes an ``ApplicationError`` whose
``non_retryable`` follows that classification and whose ``next_retry_delay`` honours Retry-After.
Business errors the activities raise themselves are listed in ``BusinessError``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from temporalio.exceptions import ApplicationError

from q2c.connectors.errors import ApiError
from q2c.domain.errors import BusinessError

__all__ = ["BusinessError", "api_errors", "business_error"]


def business_error(kind: BusinessError, message: str) -> ApplicationError:
    return ApplicationError(message, type=kind.value, non_retryable=True)


@contextmanager
def api_errors() -> Iterator[None]:
    try:
        yield
    except ApiError as exc:
        delay = dt.timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None
        raise ApplicationError(
            str(exc),
            type=f"{exc.system}.{exc.code}",
            non_retryable=not exc.retryable,
            next_retry_delay=delay,
        ) from None
