"""The org's daily API request allocation: counted per request, persisted, reset at UTC midnight."""

from __future__ import annotations

from dataclasses import dataclass

from q2c_sandbox.salesforce.store import Store
from q2c_sandbox.salesforce.values import utcnow


@dataclass(frozen=True)
class Usage:
    used: int
    max: int

    @property
    def header(self) -> str:
        # simple-salesforce parses this with a regex anchored at "api-usage=", so it must come first.
        return f"api-usage={self.used}/{self.max}"

    @property
    def exhausted(self) -> bool:
        return self.used >= self.max


class ApiUsage:
    def __init__(self, store: Store, default_max: int) -> None:
        self.store = store
        self.default_max = default_max

    def _today(self) -> str:
        return utcnow().date().isoformat()

    def current(self) -> Usage:
        with self.store.transaction():
            if self.store.get_meta("api_day") != self._today():
                self.store.set_meta("api_day", self._today())
                self.store.set_meta("api_used", "0")
            used = int(self.store.get_meta("api_used", "0") or 0)
            limit = int(self.store.get_meta("api_max", str(self.default_max)) or self.default_max)
            return Usage(used, limit)

    def count(self) -> tuple[bool, Usage]:
        """Count one request unless the allocation is spent; (allowed, usage after counting)."""
        with self.store.transaction():
            usage = self.current()
            if usage.exhausted:
                return False, usage
            usage = Usage(usage.used + 1, usage.max)
            self.store.set_meta("api_used", str(usage.used))
            return True, usage

    def set(self, maximum: int | None = None, used: int | None = None) -> Usage:
        with self.store.transaction():
            self.current()
            if maximum is not None:
                self.store.set_meta("api_max", str(maximum))
            if used is not None:
                self.store.set_meta("api_used", str(used))
            return self.current()
