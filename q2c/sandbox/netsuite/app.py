"""The NetSuite sandbox application: settings and the Starlette factory."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from starlette.applications import Starlette

from q2c.sandbox.common import RequestLog, SandboxSettings
from q2c.sandbox.netsuite.admin import build_admin_routes
from q2c.sandbox.netsuite.auth import TbaCredentials, TbaVerifier
from q2c.sandbox.netsuite.gate import ApiGate, Governor
from q2c.sandbox.netsuite.record_api import build_routes
from q2c.sandbox.netsuite.service import RecordService
from q2c.sandbox.netsuite.store import Store
from q2c.sandbox.netsuite.suiteql import SuiteQL


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


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def create_app(settings: NetSuiteSandboxSettings, now: Callable[[], dt.datetime] = _utc_now) -> Starlette:
    store = Store(settings.db_path)
    service = RecordService(store, now)
    suiteql = SuiteQL(store, now)
    verifier = TbaVerifier(
        TbaCredentials(
            settings.account_id,
            settings.consumer_key,
            settings.consumer_secret,
            settings.token_id,
            settings.token_secret,
        ),
        settings.timestamp_tolerance_seconds,
        clock=lambda: now().timestamp(),
    )
    request_log = RequestLog()
    gate = ApiGate(Governor(settings.concurrency_limit), verifier, request_log)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        store.close()

    app = Starlette(
        routes=[
            *build_admin_routes(settings.admin_key, gate, service, request_log),
            *build_routes(gate, service, suiteql),
        ],
        lifespan=lifespan,
    )
    app.state.netsuite = NetSuiteSandbox(settings, store, service, suiteql, gate, request_log)
    return app
