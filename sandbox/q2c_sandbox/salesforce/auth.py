"""The OAuth 2.0 token endpoint and bearer sessions.

Tokens are opaque, persisted with an idle expiry (a real org's session timeout is measured from the last
use). The password and client-credentials grants act as the integration user; the JWT bearer grant acts
as the user its ``sub`` names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse

from q2c_sandbox.salesforce.errors import ApiError
from q2c_sandbox.salesforce.jwt_bearer import (
    JWT_BEARER_GRANT,
    LOGIN_AUDIENCES,
    ConnectedApp,
    JwtRejected,
    log_rejection,
    verify_assertion,
)
from q2c_sandbox.salesforce.records import INTEGRATION_USER_ID
from q2c_sandbox.salesforce.settings import SalesforceSandboxSettings
from q2c_sandbox.salesforce.store import Store


def invalid_session() -> ApiError:
    return ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def instance_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


class Sessions:
    def __init__(self, store: Store, settings: SalesforceSandboxSettings) -> None:
        self.store = store
        self.settings = settings
        self.connected_app = ConnectedApp(store, settings)

    def issue(self, user_id: str) -> tuple[str, int]:
        """(access token, issued_at in epoch milliseconds)."""
        now = time.time()
        # Real tokens start with the 15-character org id and an exclamation mark.
        token = f"{self.settings.org_id[:15]}!{secrets.token_urlsafe(48)}"
        self.store.execute(
            "INSERT INTO sessions (token, user_id, issued_at, expires_at) VALUES (?, ?, ?, ?)",
            (token, user_id, now, now + self.settings.session_ttl_seconds),
        )
        return token, int(now * 1000)

    def user_for(self, authorization: str | None) -> str:
        """The user a request's ``Authorization`` header belongs to, refreshing its idle timeout."""
        if not authorization:
            raise invalid_session()
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() not in ("bearer", "oauth") or not token.strip():
            raise invalid_session()
        now = time.time()
        with self.store.transaction():
            rows = self.store.fetchall(
                "SELECT user_id, expires_at FROM sessions WHERE token = ?", (token.strip(),)
            )
            if not rows or float(rows[0][1]) <= now:
                raise invalid_session()
            self.store.execute(
                "UPDATE sessions SET expires_at = ? WHERE token = ?",
                (now + self.settings.session_ttl_seconds, token.strip()),
            )
            return str(rows[0][0])

    def expire_all(self) -> int:
        return self.store.execute("DELETE FROM sessions").rowcount

    # ---- token endpoint --------------------------------------------------------------------------

    def _client_from(self, request: Request, form: dict[str, str]) -> tuple[str, str]:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip()).decode()
            except (binascii.Error, UnicodeDecodeError):
                return "", ""
            client_id, _, client_secret = decoded.partition(":")
            return client_id, client_secret
        return form.get("client_id", ""), form.get("client_secret", "")

    def _client_ok(self, client_id: str, client_secret: str) -> bool:
        return hmac.compare_digest(
            client_id.encode(), self.settings.client_id.encode()
        ) and hmac.compare_digest(client_secret.encode(), self.settings.client_secret.encode())

    async def token_endpoint(self, request: Request) -> JSONResponse:
        # The endpoint only takes application/x-www-form-urlencoded, which needs no multipart parser.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        grant = form.get("grant_type", "")
        if grant == JWT_BEARER_GRANT:
            # The signed assertion is the client's credential: no client secret with this grant.
            return self._jwt_bearer(request, form.get("assertion", ""))
        if grant not in ("password", "client_credentials"):
            return _oauth_error("unsupported_grant_type", "grant type not supported")
        client_id, client_secret = self._client_from(request, form)
        if not self._client_ok(client_id, client_secret):
            return _oauth_error("invalid_client", "invalid client credentials")
        if grant == "password":
            username_ok = form.get("username", "").lower() == self.settings.username.lower()
            password_ok = hmac.compare_digest(
                form.get("password", "").encode(), self.settings.password.encode()
            )
            if not (username_ok and password_ok):
                return _oauth_error("invalid_grant", "authentication failure")
        return JSONResponse(self.grant(request, INTEGRATION_USER_ID))

    def _jwt_bearer(self, request: Request, assertion: str) -> JSONResponse:
        audiences = (*LOGIN_AUDIENCES, instance_url(request))
        try:
            if not assertion:
                raise JwtRejected("invalid_request", "assertion is required", "no assertion parameter")
            claims = verify_assertion(
                assertion, self.connected_app.certificate(), self.settings.client_id, audiences
            )
            user_id = self._active_user(str(claims["sub"]))
        except JwtRejected as rejected:
            log_rejection(rejected)
            return _oauth_error(rejected.error, rejected.description)
        return JSONResponse(self.grant(request, user_id))

    def find_user(self, username: str) -> dict[str, Any] | None:
        """The User with this username, active or not (Salesforce usernames are case-insensitive)."""
        for user in self.store.scan("User"):
            if str(user.get("Username", "")).lower() == username.lower():
                return user
        return None

    def _active_user(self, username: str) -> str:
        """The id of the active User with this username."""
        user = self.find_user(username)
        if user is not None and user.get("IsActive") is not False:
            return str(user["Id"])
        # A real org gives the same answer for an unknown user, an inactive one and one without the
        # app's pre-authorisation: none of them has approved the consumer.
        raise JwtRejected(
            "invalid_grant",
            "user hasn't approved this consumer",
            f"sub {username!r} is not the Username of an active User in this org",
        )

    def grant(self, request: Request, user_id: str) -> dict[str, Any]:
        """The token endpoint's success body for a new session acting as ``user_id``."""
        token, issued_at = self.issue(user_id)
        base = instance_url(request)
        identity = f"{base}/id/{self.settings.org_id}/{user_id}"
        digest = hmac.new(
            self.settings.client_secret.encode(), f"{identity}{issued_at}".encode(), hashlib.sha256
        ).digest()
        return {
            "access_token": token,
            "instance_url": base,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": str(issued_at),
            "signature": base64.b64encode(digest).decode(),
        }
