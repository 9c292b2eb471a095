"""Fault injection and a latency model, shared by both sandboxes.

A ``FaultPlan`` holds rules: which requests (method, path pattern), how often (a share, or the next N
matching calls) and what goes wrong (an error status with the API's own body, a timeout, a dropped
connection). ``FaultMiddleware`` applies it in front of a sandbox; each sandbox renders error faults in
its own wire format. A ``LatencyModel`` gives each request a delay of fixed + uniform jitter.

Admin API (added to each sandbox under ``/__admin``):
  PUT /faults   {"seed": 7, "rules": [{"kind": "unavailable", "rate": 0.2, "method": "PATCH",
                 "path": "sobjects/Opportunity", "next": 3, "retry_after": 2}]}
  GET /faults   rules with how many faults each injected; DELETE /faults clears them
  PUT /latency  {"fixed_seconds": 0.08, "jitter_seconds": 0.04, "seed": 7}; GET /latency

The latency is kept across restarts (``AdminKnobs``, beside the sandbox's database) and announced when
restored; fault rules are not: a restart starts with none.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from q2c_sandbox.common import ADMIN_PREFIX, AdminKnobs, RequestLog, admin_endpoint


class FaultKind(StrEnum):
    SERVER_ERROR = "server_error"  # HTTP 500 with the API's error body
    UNAVAILABLE = "unavailable"  # HTTP 503
    RATE_LIMITED = "rate_limited"  # Salesforce 403 REQUEST_LIMIT_EXCEEDED, NetSuite 429
    LOCKED = "locked"  # Salesforce UNABLE_TO_LOCK_ROW; NetSuite RCRD_LOCKED_BY_WF-like record lock
    TIMEOUT = "timeout"  # no answer for ``timeout_seconds``, then the connection closes
    DROP = "drop"  # the connection closes mid-response


ERROR_KINDS = frozenset(
    {FaultKind.SERVER_ERROR, FaultKind.UNAVAILABLE, FaultKind.RATE_LIMITED, FaultKind.LOCKED}
)


class FaultRuleError(ValueError):
    pass


@dataclass
class FaultRule:
    kind: FaultKind
    rate: float = 1.0
    method: str | None = None
    path: str | None = None  # a regular expression searched in the request path
    remaining: int | None = None  # the next N matching calls, then the rule is spent
    timeout_seconds: float = 30.0
    retry_after: int | None = None  # seconds, sent as Retry-After with error faults
    injected: int = 0
    _pattern: re.Pattern[str] | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any], index: int) -> FaultRule:
        where = f"rules[{index}]"
        unknown = set(raw) - {"kind", "rate", "method", "path", "next", "timeout_seconds", "retry_after"}
        if unknown:
            raise FaultRuleError(f"{where}: unknown keys {sorted(unknown)}")
        try:
            kind = FaultKind(str(raw.get("kind")))
        except ValueError:
            raise FaultRuleError(f"{where}.kind must be one of {[k.value for k in FaultKind]}") from None
        rate = float(raw.get("rate", 1.0))
        if not 0.0 <= rate <= 1.0:
            raise FaultRuleError(f"{where}.rate must be between 0 and 1")
        remaining = raw.get("next")
        if remaining is not None and (not isinstance(remaining, int) or remaining < 1):
            raise FaultRuleError(f"{where}.next must be a positive integer")
        path = raw.get("path")
        try:
            pattern = re.compile(path) if path else None
        except re.error as exc:
            raise FaultRuleError(f"{where}.path is not a regular expression: {exc}") from None
        method = raw.get("method")
        return cls(
            kind=kind,
            rate=rate,
            method=method.upper() if method else None,
            path=path,
            remaining=remaining,
            timeout_seconds=float(raw.get("timeout_seconds", 30.0)),
            retry_after=raw.get("retry_after"),
            _pattern=pattern,
        )

    def matches(self, method: str, path: str) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.method and self.method != method.upper():
            return False
        return self._pattern is None or self._pattern.search(path) is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "rate": self.rate,
            "method": self.method,
            "path": self.path,
            "remaining": self.remaining,
            "timeout_seconds": self.timeout_seconds,
            "retry_after": self.retry_after,
            "injected": self.injected,
        }


@dataclass
class FaultPlan:
    rules: list[FaultRule] = field(default_factory=list)
    _rng: random.Random = field(default_factory=random.Random)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def replace(self, raw_rules: list[dict[str, Any]], seed: int | None = None) -> None:
        rules = [FaultRule.from_json(raw, i) for i, raw in enumerate(raw_rules)]
        with self._lock:
            self.rules = rules
            self._rng = random.Random(seed)

    def clear(self) -> None:
        with self._lock:
            self.rules = []

    def choose(self, method: str, path: str) -> FaultRule | None:
        """The first matching rule that fires for this request (drawing its rate), or None."""
        with self._lock:
            for rule in self.rules:
                if not rule.matches(method, path):
                    continue
                if rule.rate >= 1.0 or self._rng.random() < rule.rate:
                    rule.injected += 1
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule
            return None

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"rules": [rule.to_json() for rule in self.rules]}


@dataclass
class LatencyModel:
    fixed_seconds: float = 0.0
    jitter_seconds: float = 0.0
    seed: int | None = None
    _rng: random.Random = field(default_factory=random.Random)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def configure(self, fixed_seconds: float, jitter_seconds: float = 0.0, seed: int | None = None) -> None:
        if fixed_seconds < 0 or jitter_seconds < 0:
            raise FaultRuleError("latency must not be negative")
        with self._lock:
            self.fixed_seconds, self.jitter_seconds, self.seed = fixed_seconds, jitter_seconds, seed
            self._rng = random.Random(seed)

    def restore(self, knobs: AdminKnobs) -> str | None:
        """Take over the latency saved by an earlier run; its description when there was one."""
        saved = knobs.load().get("latency")
        if not isinstance(saved, dict):
            return None
        try:
            self.configure(
                float(saved.get("fixed_seconds", 0.0)),
                float(saved.get("jitter_seconds", 0.0)),
                saved.get("seed"),
            )
        except (FaultRuleError, TypeError, ValueError):
            return None  # a hand-edited file: the default (none) rather than a crash at start
        return self.describe() if self.fixed_seconds or self.jitter_seconds else None

    def describe(self) -> str:
        jitter = f" + up to {self.jitter_seconds:g} s jitter" if self.jitter_seconds else ""
        return f"latency {self.fixed_seconds:g} s{jitter}"

    def delay(self) -> float:
        with self._lock:
            jitter = self._rng.uniform(0.0, self.jitter_seconds) if self.jitter_seconds else 0.0
            return self.fixed_seconds + jitter

    async def wait(self) -> None:
        delay = self.delay()
        if delay > 0:
            await asyncio.sleep(delay)

    def to_json(self) -> dict[str, float]:
        return {"fixed_seconds": self.fixed_seconds, "jitter_seconds": self.jitter_seconds}


Renderer = Callable[[FaultRule], Response]


class FaultMiddleware:
    """Applies a ``FaultPlan`` (and, when ``latency`` is given, the latency model) to API requests.

    Admin requests are exempt. A sandbox whose latency must sit inside another mechanism (NetSuite's
    concurrency slot) passes ``latency=None`` and waits on the model itself.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        plan: FaultPlan,
        render: Renderer,
        latency: LatencyModel | None = None,
        request_log: RequestLog | None = None,
        exempt_prefixes: tuple[str, ...] = (ADMIN_PREFIX,),
    ) -> None:
        self.app = app
        self.plan = plan
        self.render = render
        self.latency = latency
        self.request_log = request_log
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exempt_prefixes):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        rule = self.plan.choose(method, path)
        if self.latency is not None:
            await self.latency.wait()
        if rule is None:
            await self.app(scope, receive, send)
            return
        if self.request_log is not None:
            status = 0 if rule.kind in (FaultKind.TIMEOUT, FaultKind.DROP) else self.render(rule).status_code
            self.request_log.record(method, path, status, f"{method} (injected {rule.kind.value})")
        if rule.kind in ERROR_KINDS:
            response = self.render(rule)
            if rule.retry_after is not None:
                response.headers["Retry-After"] = str(rule.retry_after)
            await response(scope, receive, send)
            return
        if rule.kind is FaultKind.TIMEOUT:
            await asyncio.sleep(rule.timeout_seconds)
        await _drop(send)


async def _drop(send: Send) -> None:
    """Start a response and abandon it: the server closes the connection with the body incomplete."""
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1024")],
        }
    )
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise ConnectionAbortedError("injected fault: connection dropped")


def fault_admin_routes(
    admin_key: str, plan: FaultPlan, latency: LatencyModel, knobs: AdminKnobs
) -> list[Route]:
    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            body = await request.json()
            if not isinstance(body, dict) or not isinstance(body.get("rules"), list):
                return JSONResponse({"error": 'body must be {"rules": [...], "seed": optional int}'}, 400)
            try:
                plan.replace(body["rules"], body.get("seed"))
            except (FaultRuleError, TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, 400)
        elif request.method == "DELETE":
            plan.clear()
        return JSONResponse(plan.snapshot())

    async def latency_route(request: Request) -> Response:
        if request.method == "PUT":
            body = await request.json()
            try:
                latency.configure(
                    float(body.get("fixed_seconds", body.get("seconds", 0.0))),
                    float(body.get("jitter_seconds", 0.0)),
                    body.get("seed"),
                )
            except (FaultRuleError, TypeError, ValueError, AttributeError) as exc:
                return JSONResponse({"error": str(exc)}, 400)
            knobs.save("latency", {**latency.to_json(), "seed": latency.seed})
        return JSONResponse(latency.to_json())

    return [
        Route(f"{ADMIN_PREFIX}/faults", admin_endpoint(admin_key, faults), methods=["GET", "PUT", "DELETE"]),
        Route(f"{ADMIN_PREFIX}/latency", admin_endpoint(admin_key, latency_route), methods=["GET", "PUT"]),
    ]
