"""Account-wide state that outlives a request: the sandbox clock and the accounting preferences.

Both are kept in the store's settings table, so a restarted sandbox keeps its date and its preferences.

The clock is the injected ``now`` (real time by default) plus an offset that tests move forward with
``PUT /__admin/clock``; it only ever moves forward, like the date of a real account. Everything dated
goes through it: createdDate/lastModifiedDate stamps, default tranDate, due dates, days overdue,
overdue balances, SuiteQL's SYSDATE/CURRENT_DATE. TBA timestamps do not: clients sign with their own
wall clock, so the signature check keeps using real time.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from q2c_sandbox.netsuite.store import Store

CLOCK_SETTING = "clock_offset_seconds"
PREFERENCES_SETTING = "preferences"


class SettingError(ValueError):
    """A bad admin request for the clock or the preferences (answered 400 with this message)."""


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def parse_instant(raw: Any, name: str) -> dt.datetime:
    if not isinstance(raw, str):
        raise SettingError(f"{name} must be an ISO 8601 datetime string like 2026-12-24T09:00:00Z")
    try:
        return _aware(dt.datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError:
        raise SettingError(f"{name} {raw!r} is not an ISO 8601 datetime like 2026-12-24T09:00:00Z") from None


class SandboxClock:
    def __init__(self, store: Store, base: Callable[[], dt.datetime]) -> None:
        self.store = store
        self.base = base
        self._lock = threading.Lock()
        self._offset = dt.timedelta(seconds=float(store.setting(CLOCK_SETTING) or 0.0))

    def now(self) -> dt.datetime:
        with self._lock:
            offset = self._offset
        return _aware(self.base()).astimezone(dt.UTC) + offset

    def today(self) -> dt.date:
        return self.now().date()

    def set_now(self, target: dt.datetime) -> None:
        with self._lock:
            current = _aware(self.base()).astimezone(dt.UTC)
            if target < current + self._offset:
                raise SettingError(
                    f"the sandbox clock only moves forward: {target.isoformat()} is before its current "
                    f"time {(current + self._offset).isoformat()}"
                )
            self._save(target - current)

    def advance(self, delta: dt.timedelta) -> None:
        if delta < dt.timedelta(0):
            raise SettingError(
                "the sandbox clock only moves forward: advance_days/advance_seconds must be >= 0"
            )
        with self._lock:
            self._save(self._offset + delta)

    def reset(self) -> None:
        with self._lock:
            self._save(dt.timedelta(0))

    def _save(self, offset: dt.timedelta) -> None:
        self._offset = offset
        self.store.put_setting(CLOCK_SETTING, offset.total_seconds())

    def to_json(self) -> dict[str, Any]:
        now = self.now()
        with self._lock:
            offset = self._offset.total_seconds()
        return {
            "now": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "today": now.date().isoformat(),
            "offset_seconds": offset,
        }

    def update(self, body: Any) -> None:
        """Apply ``PUT /__admin/clock``: {"now": ISO} or {"advance_days": n} and/or {"advance_seconds": s}."""
        if not isinstance(body, dict) or not body.keys() & {"now", "advance_days", "advance_seconds"}:
            raise SettingError(
                'the body must be {"now": "2026-12-24T09:00:00Z"} or {"advance_days": N} / '
                '{"advance_seconds": S}'
            )
        unknown = set(body) - {"now", "advance_days", "advance_seconds"}
        if unknown:
            raise SettingError(f"unknown keys {sorted(unknown)}; use now, advance_days or advance_seconds")
        if "now" in body:
            if body.keys() & {"advance_days", "advance_seconds"}:
                raise SettingError("give either now or advance_days/advance_seconds, not both")
            self.set_now(parse_instant(body["now"], "now"))
            return
        delta = dt.timedelta(0)
        for key, unit in (("advance_days", 86400.0), ("advance_seconds", 1.0)):
            if key in body:
                value = body[key]
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise SettingError(f"{key} must be a number, not {value!r}")
                delta += dt.timedelta(seconds=float(value) * unit)
        self.advance(delta)


class CreditLimitHandling(StrEnum):
    """Setup > Accounting > Accounting Preferences > Customer Credit Limit Handling."""

    ENFORCE_HOLDS = "ENFORCE_HOLDS"  # a customer on hold cannot get a new sales order
    WARN = "WARN"  # "Warn Only": the UI warns; web services save the order
    IGNORE = "IGNORE"


@dataclass
class Preferences:
    # "Days Overdue for Warning/Hold": an invoice overdue by more days puts an AUTO customer on hold.
    credit_hold_days_overdue: int = 30
    credit_limit_handling: CreditLimitHandling = CreditLimitHandling.ENFORCE_HOLDS

    @classmethod
    def load(cls, store: Store) -> Preferences:
        raw = store.setting(PREFERENCES_SETTING) or {}
        prefs = cls()
        prefs._merge(raw)
        return prefs

    def update(self, store: Store, raw: Any) -> None:
        if not isinstance(raw, dict):
            raise SettingError(
                'the body must be {"credit_hold_days_overdue": 30, "credit_limit_handling": '
                '"ENFORCE_HOLDS" | "WARN" | "IGNORE"}'
            )
        self._merge(raw)
        store.put_setting(PREFERENCES_SETTING, self.to_json())

    def _merge(self, raw: dict[str, Any]) -> None:
        unknown = set(raw) - {"credit_hold_days_overdue", "credit_limit_handling"}
        if unknown:
            raise SettingError(
                f"unknown preferences {sorted(unknown)}; known: credit_hold_days_overdue, credit_limit_handling"
            )
        if "credit_hold_days_overdue" in raw:
            days = raw["credit_hold_days_overdue"]
            if not isinstance(days, int) or isinstance(days, bool) or days < 0:
                raise SettingError(f"credit_hold_days_overdue must be a non-negative integer, not {days!r}")
            self.credit_hold_days_overdue = days
        if "credit_limit_handling" in raw:
            handling = raw["credit_limit_handling"]
            try:
                self.credit_limit_handling = CreditLimitHandling(str(handling).upper())
            except ValueError:
                raise SettingError(
                    f"credit_limit_handling must be one of {[h.value for h in CreditLimitHandling]}, "
                    f"not {handling!r}"
                ) from None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["credit_limit_handling"] = self.credit_limit_handling.value
        return data
