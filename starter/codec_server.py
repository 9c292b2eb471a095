"""The codec server: decrypts (and encrypts) payloads for the Temporal web UI and the ``temporal`` CLI, so an
operator who holds the key ring sees orders in clear while the cluster never does.

Temporal's remote codec protocol: ``POST /encode`` and ``POST /decode`` with ``{"payloads": [...]}`` in
protobuf JSON, answered in kind. The web UI calls it from the browser (Settings > Codec Server, or the UI
server's ``TEMPORAL_CODEC_ENDPOINT``), so CORS preflights are answered for ``Q2C_CODEC_SERVER_ORIGINS`` only;
with ``Q2C_CODEC_SERVER_TOKEN`` set, a request must carry ``Authorization: Bearer <token>`` (the CLI's
``--codec-auth``). Bind it where only operators reach it: whoever can call it can read every payload.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payloads

from q2c.config import Settings
from temporal_client.codec import EncryptionCodec, PayloadDecryptError, codec_from_settings

log = logging.getLogger("q2c.codec_server")
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"


def create_codec_app(codec: EncryptionCodec, origins: list[str], token: str | None = None) -> Starlette:
    def cors(request: Request) -> dict[str, str]:
        origin = request.headers.get("origin")
        if origin is None or origin not in origins:
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOWED_HEADERS,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }

    def authorized(request: Request) -> bool:
        if token is None:
            return True
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())

    async def preflight(request: Request) -> Response:
        headers = cors(request)
        return Response(status_code=204 if headers else 403, headers=headers)

    def endpoint(decode: bool) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            headers = cors(request)
            if not authorized(request):
                return JSONResponse({"error": "missing or wrong bearer token"}, 401, headers=headers)
            try:
                payloads = json_format.Parse(await request.body(), Payloads())
            except json_format.ParseError as exc:
                return JSONResponse({"error": f"not a Payloads message: {exc}"}, 400, headers=headers)
            try:
                if decode:
                    result = await codec.decode(payloads.payloads)
                else:
                    result = await codec.encode(payloads.payloads)
            except PayloadDecryptError as exc:
                log.warning("Refused to decode: %s", exc)
                return JSONResponse({"error": str(exc)}, 422, headers=headers)
            body = json_format.MessageToJson(Payloads(payloads=result))
            return Response(body, media_type="application/json", headers=headers)

        return handle

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "key_id": codec.key_id})

    return Starlette(
        routes=[
            Route("/decode", endpoint(decode=True), methods=["POST"]),
            Route("/encode", endpoint(decode=False), methods=["POST"]),
            Route("/decode", preflight, methods=["OPTIONS"]),
            Route("/encode", preflight, methods=["OPTIONS"]),
            Route("/healthz", health, methods=["GET"]),
        ]
    )


def codec_app_from_settings(settings: Settings) -> Starlette:
    codec = codec_from_settings(settings)
    if codec is None:
        raise SystemExit("q2c codec-server needs the key ring: set Q2C_PAYLOAD_KEYS (and Q2C_PAYLOAD_KEY_ID)")
    origins = [o.strip() for o in settings.codec_server_origins.split(",") if o.strip()]
    token = settings.codec_server_token.get_secret_value() if settings.codec_server_token else None
    return create_codec_app(codec, origins, token)


async def serve_codec(settings: Settings) -> None:
    import uvicorn

    config = uvicorn.Config(
        codec_app_from_settings(settings),
        host=settings.codec_server_host,
        port=settings.codec_server_port,
        log_level="warning",
        access_log=False,
    )
    log.info("codec server on http://%s:%s", settings.codec_server_host, settings.codec_server_port)
    await uvicorn.Server(config).serve()
