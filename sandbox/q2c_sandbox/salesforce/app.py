"""The Salesforce sandbox: a Starlette app speaking the Salesforce REST wire protocol.

Serve it over HTTPS (``q2c_sandbox.server``); clients get a token from ``/services/oauth2/token`` and use
``/services/data/vNN.N/...`` exactly as against a real org. A fault plan and a latency model (admin
``/__admin/faults`` and ``/__admin/latency``) sit in front of every API route, the token endpoint included.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from q2c_sandbox.common import AdminKnobs, ClientGoneMiddleware
from q2c_sandbox.faults import FaultMiddleware, FaultPlan, LatencyModel, fault_admin_routes
from q2c_sandbox.salesforce.admin import admin_routes
from q2c_sandbox.salesforce.errors import ApiError
from q2c_sandbox.salesforce.injection import RequestFacts, fault_renderer
from q2c_sandbox.salesforce.org import Org
from q2c_sandbox.salesforce.rest import data_api
from q2c_sandbox.salesforce.settings import SalesforceSandboxSettings

__all__ = ["SalesforceSandboxSettings", "create_app"]

TOKEN_PATH = "/services/oauth2/token"


def create_app(settings: SalesforceSandboxSettings) -> Starlette:
    org = Org.open(settings)
    faults, latency, knobs = FaultPlan(), LatencyModel(), AdminKnobs(settings.knobs_path)
    knobs.announce("Salesforce", [r for r in [latency.restore(knobs)] if r])

    async def token(request: Request) -> Response:
        response = await org.sessions.token_endpoint(request)
        org.log.record(request.method, request.url.path, response.status_code, "POST oauth2/token")
        return response

    async def identity(request: Request) -> Response:
        """The identity URL returned as ``id`` by the token endpoint."""
        try:
            user_id = org.sessions.user_for(request.headers.get("authorization"))
        except ApiError as exc:
            return exc.response()
        found = org.store.get(user_id)
        user = found[1] if found else {}
        response = JSONResponse(
            {
                "id": str(request.url),
                "user_id": user_id,
                "organization_id": settings.org_id,
                "username": user.get("Username"),
                "display_name": user.get("Name"),
                "email": user.get("Email"),
                "active": True,
            }
        )
        org.log.record(request.method, request.url.path, response.status_code, "GET id")
        return response

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        delivery = asyncio.create_task(org.outbound.run(), name="salesforce-outbound-messages")
        try:
            yield
        finally:
            delivery.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await delivery
            await org.bulk2.shutdown()
            org.store.close()

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"]
    app = Starlette(
        routes=[
            Route(TOKEN_PATH, token, methods=["POST"]),
            Route("/id/{org_id}/{user_id}", identity, methods=["GET"]),
            Route("/services/data{rest:path}", data_api, methods=methods),
            *admin_routes(org),
            *fault_admin_routes(settings.admin_key, faults, latency, knobs),
        ],
        middleware=[
            Middleware(ClientGoneMiddleware, system="Salesforce"),
            # Outermost but for the line above, so the fault renderer can see which call (and whose session) it is failing.
            Middleware(RequestFacts),
            Middleware(
                FaultMiddleware,
                plan=faults,
                render=fault_renderer(org),
                latency=latency,
                request_log=org.log,
            ),
        ],
        lifespan=lifespan,
    )
    app.state.org = org
    app.state.faults = faults
    app.state.latency = latency
    return app
