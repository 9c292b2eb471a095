"""What every API request passes through: the account's concurrency limit, the injected latency,
Token-Based Authentication, NetSuite error rendering and the request log.

The latency is waited after the request has taken its concurrency slot: on a real account a slow
request keeps its slot for as long as it runs, so latency and the limit compound (two 0.5 s requests
on a limit of 1 means one of them is refused). Injected faults (``q2c_sandbox.faults``) are answered in
front of the gate and take no slot.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from q2c_sandbox.common import RequestLog, client_went_away
from q2c_sandbox.faults import LatencyModel
from q2c_sandbox.netsuite.auth import TbaVerifier
from q2c_sandbox.netsuite.errors import NsError, concurrency_exceeded

log = logging.getLogger(__name__)

Handler = Callable[[Request, bytes], Awaitable[Response]]
Labeler = Callable[[Request], str]


@dataclass
class Governor:
    """The per-account concurrency limit: a request over it is refused at once, never queued."""

    limit: int
    latency: LatencyModel = field(default_factory=LatencyModel)
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def try_acquire(self) -> bool:
        with self._lock:
            if self._in_flight >= self.limit:
                return False
            self._in_flight += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight


@dataclass
class LoginAudit:
    """Why recent logins failed: NetSuite shows this in its Login Audit Trail, never in the response."""

    entries: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=200))

    def add(self, method: str, path: str, reason: str) -> None:
        self.entries.append({"at": time.time(), "method": method, "path": path, "reason": reason})


def signed_url(request: Request) -> str:
    """The URL as the client sent (and signed) it: the raw path keeps its percent-encoding."""
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    return f"{request.url.scheme}://{request.url.netloc}{path}" + (f"?{query}" if query else "")


class ApiGate:
    def __init__(
        self,
        governor: Governor,
        verifier: TbaVerifier,
        request_log: RequestLog,
        before_handler: Callable[[], Any] | None = None,
    ) -> None:
        self.governor = governor
        self.verifier = verifier
        self.request_log = request_log
        self.login_audit = LoginAudit()
        # Run for every authenticated request before its handler: the account catching up with its clock
        # (expected receipts whose date has come).
        self.before_handler = before_handler

    def endpoint(self, label: Labeler, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            response = await self._handle(request, handler)
            self.request_log.record(request.method, request.url.path, response.status_code, label(request))
            return response

        return guarded

    async def _handle(self, request: Request, handler: Handler) -> Response:
        if not self.governor.try_acquire():
            return concurrency_exceeded().response()
        try:
            await self.governor.latency.wait()  # inside the slot: a slow request holds it
            body = await request.body()
            self.verifier.verify(request.method, signed_url(request), request.headers, body)
            if self.before_handler is not None:
                self.before_handler()
            return await handler(request, body)
        except NsError as err:
            if err.internal_reason:
                self.login_audit.add(request.method, request.url.path, err.internal_reason)
            return err.response()
        except ClientDisconnect:
            client_went_away("NetSuite", request.method, request.url.path)
            return Response(status_code=499)  # nginx's "client closed request": logged, never sent
        except Exception:
            log.exception("netsuite sandbox failed on %s %s", request.method, request.url.path)
            return NsError(
                500, "UNEXPECTED_ERROR", "An unexpected error occurred. The sandbox logged the details."
            ).response()
        finally:
            self.governor.release()
