"""The Salesforce poller's cursor: keyset on (SystemModstamp, Id), a page per poll, and an overlap that
re-reads only what may have been in flight, not the last changes forever."""

from __future__ import annotations

import datetime as dt
from typing import Any

from activities.account_changes import _advance, _salesforce_watermark, _soql_time
from q2c.domain.messages import ChangeCursor

T0 = dt.datetime(2026, 1, 5, 10, 0, 0, tzinfo=dt.UTC)
OVERLAP = dt.timedelta(seconds=120)


def _rows(stamp: dt.datetime, n: int, first_id: int = 1) -> list[dict[str, Any]]:
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return [{"Id": f"001{i:015d}", "SystemModstamp": text} for i in range(first_id, first_id + n)]


def test_a_full_page_leaves_the_cursor_on_its_last_record_to_go_on_from_there() -> None:
    cursor = ChangeCursor(stamp=(T0 - dt.timedelta(hours=1)).isoformat(), id="001000000000000000")

    after = _advance(cursor, _rows(T0, 2000), 2000, T0 + dt.timedelta(hours=1) - OVERLAP)

    assert after.behind and after.stamp == T0.isoformat() and after.id == "001000000000002000"
    assert after.reread_from is None  # nothing read was recent enough to be in flight


def test_records_stamped_within_the_overlap_of_now_are_read_again_once_caught_up() -> None:
    cursor = ChangeCursor(stamp=(T0 - dt.timedelta(minutes=5)).isoformat(), id="001000000000000000")
    now = T0 + dt.timedelta(seconds=30)

    after = _advance(cursor, _rows(T0, 3), 2000, now - OVERLAP)

    assert not after.behind
    assert after.reread_from == (now - OVERLAP).replace(microsecond=0).isoformat()


def test_in_a_quiet_org_the_last_change_is_not_read_again_and_again() -> None:
    cursor = ChangeCursor(stamp=T0.isoformat(), id="001000000000000007", reread_from=None)

    after = _advance(cursor, [], 2000, T0 + dt.timedelta(minutes=10) - OVERLAP)

    assert after == ChangeCursor(stamp=T0.isoformat(), id="001000000000000007")


def test_what_was_owed_a_re_read_while_behind_stays_owed_until_caught_up() -> None:
    owed = (T0 - dt.timedelta(minutes=1)).isoformat()
    cursor = ChangeCursor(stamp=T0.isoformat(), id="001000000000000001", behind=True, reread_from=owed)

    after = _advance(cursor, _rows(T0 + dt.timedelta(seconds=1), 10), 2000, T0 + dt.timedelta(hours=1))

    assert not after.behind and after.reread_from == owed


def test_a_watermark_saved_before_cursors_reads_its_overlap_once_more() -> None:
    mark = _salesforce_watermark(T0.isoformat(), 120)

    assert set(mark.objects) == {"Account", "Contact"}
    assert mark.objects["Account"] == ChangeCursor(
        stamp=T0.isoformat(), reread_from=(T0 - OVERLAP).isoformat()
    )
    assert _salesforce_watermark(mark.model_dump_json(), 120) == mark


def test_soql_times_have_milliseconds_only_when_the_stamp_has_them() -> None:
    assert _soql_time(T0) == "2026-01-05T10:00:00Z"
    assert _soql_time(T0 + dt.timedelta(milliseconds=452)) == "2026-01-05T10:00:00.452Z"
