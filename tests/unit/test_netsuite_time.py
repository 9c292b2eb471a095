"""Reading NetSuite's datetimes (pure logic)."""

from __future__ import annotations

import datetime as dt

import pytest

from q2c.connectors.netsuite import parse_netsuite_time

UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23 10:04:05", dt.datetime(2026, 11, 23, 10, 4, 5, tzinfo=UTC)),
        ("2026-11-23T10:04:05Z", dt.datetime(2026, 11, 23, 10, 4, 5, tzinfo=UTC)),
        ("2026-11-23T10:04:05.120+01:00", dt.datetime(2026, 11, 23, 9, 4, 5, 120000, tzinfo=UTC)),
        ("11/23/2026 10:04:05 AM", dt.datetime(2026, 11, 23, 10, 4, 5, tzinfo=UTC)),
        ("11/23/2026", dt.datetime(2026, 11, 23, tzinfo=UTC)),
    ],
)
def test_parses_what_netsuite_prints(text: str, expected: dt.datetime) -> None:
    assert parse_netsuite_time(text) == expected


def test_refuses_what_it_cannot_read() -> None:
    with pytest.raises(ValueError, match="unreadable NetSuite datetime 'yesterday'"):
        parse_netsuite_time("yesterday")
