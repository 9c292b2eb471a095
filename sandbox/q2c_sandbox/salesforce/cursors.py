"""Query locators: the rest of a query's result, kept for ``nextRecordsUrl`` requests.

Held in memory and bounded like a real org's open cursors (oldest dropped first, idle ones expire); a
locator that is gone answers INVALID_QUERY_LOCATOR, as Salesforce does.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from q2c_sandbox.salesforce.errors import bad_request
from q2c_sandbox.salesforce.store import Record

MAX_CURSORS = 200
IDLE_SECONDS = 15 * 60


@dataclass
class Cursor:
    records: list[Record]
    batch_size: int
    used_at: float


class QueryCursors:
    def __init__(self) -> None:
        self._cursors: OrderedDict[str, Cursor] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, records: list[Record], batch_size: int) -> str:
        # Real locators are ids with the 0r8 key prefix; the sandbox's only need to be unique.
        cursor_id = "0r8" + secrets.token_hex(8).upper()[:15]
        with self._lock:
            self._cursors[cursor_id] = Cursor(records, batch_size, time.monotonic())
            while len(self._cursors) > MAX_CURSORS:
                self._cursors.popitem(last=False)
        return cursor_id

    def get(self, locator: str) -> tuple[str, Cursor, int]:
        cursor_id, _, offset_text = locator.rpartition("-")
        with self._lock:
            cursor = self._cursors.get(cursor_id)
            now = time.monotonic()
            if cursor is None or not offset_text.isdigit() or now - cursor.used_at > IDLE_SECONDS:
                raise bad_request("INVALID_QUERY_LOCATOR", "invalid query locator", None)
            cursor.used_at = now
            self._cursors.move_to_end(cursor_id)
            return cursor_id, cursor, int(offset_text)

    def clear(self) -> None:
        with self._lock:
            self._cursors.clear()
