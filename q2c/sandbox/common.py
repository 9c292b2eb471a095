"""Pieces both sandboxes share: the admin credential check, the request log, and their settings base.

The admin API lives under ``/__admin/`` and takes only the ``X-Sandbox-Admin-Key`` header; API
credentials (bearer tokens, OAuth 1.0a signatures) are never accepted there, and the admin key is never
accepted by the API.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

ADMIN_PREFIX = "/__admin"
ADMIN_HEADER = "X-Sandbox-Admin-Key"


@dataclass
class SandboxSettings:
    """What every sandbox needs: where its data lives and the admin credential."""

    db_path: Path
    admin_key: str = "q2c-sandbox-admin"


def admin_refusal(request: Request, admin_key: str) -> Response | None:
    """None when the request carries the admin key; otherwise the 401 to send back."""
    given = request.headers.get(ADMIN_HEADER, "")
    if given and hmac.compare_digest(given.encode(), admin_key.encode()):
        return None
    return JSONResponse(
        {"error": "admin_unauthorized", "message": f"the admin API needs the {ADMIN_HEADER} header"},
        status_code=401,
    )


def admin_endpoint(
    admin_key: str, handler: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap an admin handler so it runs only for callers holding the admin key."""

    async def guarded(request: Request) -> Response:
        refusal = admin_refusal(request, admin_key)
        return refusal if refusal is not None else await handler(request)

    return guarded


@dataclass
class LoggedRequest:
    at: float
    method: str
    path: str
    status: int
    endpoint: str  # the route template, e.g. "PUT /services/rest/record/v1/salesOrder/{id}"


@dataclass
class RequestLog:
    """Every API request a sandbox answered (admin calls excluded), kept in memory, bounded."""

    max_entries: int = 50_000
    _entries: list[LoggedRequest] = field(default_factory=list)
    _counts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, path: str, status: int, endpoint: str) -> None:
        with self._lock:
            self._entries.append(LoggedRequest(time.time(), method, path, status, endpoint))
            if len(self._entries) > self.max_entries:
                del self._entries[: len(self._entries) - self.max_entries]
            self._counts[endpoint] += 1

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._counts.clear()

    def snapshot(self, limit: int = 500) -> dict[str, Any]:
        with self._lock:
            recent = self._entries[-limit:]
            return {
                "total": sum(self._counts.values()),
                "counts": dict(self._counts),
                "recent": [
                    {
                        "at": e.at,
                        "method": e.method,
                        "path": e.path,
                        "status": e.status,
                        "endpoint": e.endpoint,
                    }
                    for e in recent
                ],
            }
