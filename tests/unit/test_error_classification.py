"""HTTP failure classification, done once for both connectors (pure logic)."""

from __future__ import annotations

import pytest

from q2c.connectors.errors import ErrorKind, classify, parse_retry_after


@pytest.mark.parametrize(
    ("status", "code", "kind"),
    [
        (500, "UNKNOWN", ErrorKind.RETRYABLE),
        (503, "SERVER_UNAVAILABLE", ErrorKind.RETRYABLE),
        (429, "CONCURRENCY_LIMIT_EXCEEDED", ErrorKind.RETRYABLE),
        (403, "REQUEST_LIMIT_EXCEEDED", ErrorKind.RETRYABLE),
        (400, "UNABLE_TO_LOCK_ROW", ErrorKind.RETRYABLE),
        (None, "ConnectError", ErrorKind.RETRYABLE),
        (400, "REQUIRED_FIELD_MISSING", ErrorKind.PERMANENT),
        (400, "USER_ERROR", ErrorKind.PERMANENT),
        (401, "INVALID_LOGIN", ErrorKind.AUTH),
        (404, "NONEXISTENT_ID", ErrorKind.NOT_FOUND),
    ],
)
def test_classify(status: int | None, code: str, kind: ErrorKind) -> None:
    assert classify(status, code) is kind


def test_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: retry now
