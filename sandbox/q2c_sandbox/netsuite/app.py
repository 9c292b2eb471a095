"""The NetSuite sandbox application: settings and the Starlette factory.

Layers, outermost first: the fault plan (``FaultMiddleware``; admin routes exempt, injected faults take
no concurrency slot), then per API route the gate (concurrency slot -> latency -> TBA -> handler).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware

from q2c_sandbox.common import AdminKnobs, ClientGoneMiddleware, RequestLog, SandboxSettings
from q2c_sandbox.faults import FaultMiddleware, FaultPlan, LatencyModel, fault_admin_routes
from q2c_sandbox.netsuite.account import SandboxClock
from q2c_sandbox.netsuite.admin import build_admin_routes
from q2c_sandbox.netsuite.auth import TbaCredentials, TbaVerifier
from q2c_sandbox.netsuite.errors import render_fault
from q2c_sandbox.netsuite.gate import ApiGate, Governor
from q2c_sandbox.netsuite.record_api import build_routes
from q2c_sandbox.netsuite.service import RecordService
from q2c_sandbox.netsuite.store import Store
from q2c_sandbox.netsuite.suiteql import SuiteQL


@dataclass
class NetSuiteSandboxSettings(SandboxSettings):
    account_id: str = "1234567_SB1"  # the TBA realm: upper case with "_" (the host name uses "-")
    consumer_key: str = "q2c-sandbox-consumer-key"
    consumer_secret: str = "q2c-sandbox-consumer-secret"
    token_id: str = "q2c-sandbox-token-id"
    token_secret: str = "q2c-sandbox-token-secret"
    concurrency_limit: int = 5  # a standard (or developer) account
    timestamp_tolerance_seconds: int = 300


@dataclass
class NetSuiteSandbox:
    """The parts of a running sandbox, reachable from ``app.state.netsuite`` for diagnostics."""

    settings: NetSuiteSandboxSettings
    store: Store
    service: RecordService
    suiteql: SuiteQL
    gate: ApiGate
    request_log: RequestLog
    clock: SandboxClock
    faults: FaultPlan
    latency: LatencyModel


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_app(settings: NetSuiteSandboxSettings, now: Callable[[], dt.datetime] = _utc_now) -> Starlette:
    """``now`` is the base of the sandbox clock; ``PUT /__admin/clock`` moves the account's date ahead of it."""
    store = Store(settings.db_path)
    clock = SandboxClock(store, now)
    store.use_today(clock.today)
    service = RecordService(store, clock.now)
    suiteql = SuiteQL(store, clock.now)
    verifier = TbaVerifier(
        TbaCredentials(
            settings.account_id,
            settings.consumer_key,
            settings.consumer_secret,
            settings.token_id,
            settings.token_secret,
        ),
        settings.timestamp_tolerance_seconds,
        # The client signs with its own wall clock, not the (possibly advanced) sandbox date.
        clock=lambda: now().timestamp(),
    )
    request_log = RequestLog()
    faults, latency, knobs = FaultPlan(), LatencyModel(), AdminKnobs(settings.knobs_path)
    restored = [latency.restore(knobs)]
    limit = knobs.load().get("concurrency_limit", settings.concurrency_limit)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
        limit = settings.concurrency_limit
    if limit != settings.concurrency_limit:
        restored.append(f"concurrency limit {limit}")
    knobs.announce("NetSuite", [r for r in restored if r])
    gate = ApiGate(Governor(limit, latency), verifier, request_log, before_handler=service.receive_due)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()

    app = Starlette(
        routes=[
            *build_admin_routes(settings.admin_key, gate, service, request_log, clock, faults, knobs),
            *fault_admin_routes(settings.admin_key, faults, latency, knobs),
            *build_routes(gate, service, suiteql),
        ],
        middleware=[
            # API requests say so themselves (in the gate, which logs them); this covers the admin API.
            Middleware(ClientGoneMiddleware, system="NetSuite"),
            # latency=None: the gate waits on the model inside the concurrency slot instead.
            Middleware(
                FaultMiddleware, plan=faults, render=render_fault, latency=None, request_log=request_log
            ),
        ],
        lifespan=lifespan,
    )
    app.state.netsuite = NetSuiteSandbox(
        settings, store, service, suiteql, gate, request_log, clock, faults, latency
    )
    return app
