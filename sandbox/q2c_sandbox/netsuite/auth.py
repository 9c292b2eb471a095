"""Token-Based Authentication (OAuth 1.0a, RFC 5849, HMAC-SHA256) as NetSuite verifies it.

The signature itself is checked with oauthlib's server-side helpers; this module adds what NetSuite checks
around it: the realm is the account id, the consumer and token are known, only HMAC-SHA256 is allowed,
the body hash (when sent) matches the body, the timestamp is fresh and the nonce is new.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from oauthlib.oauth1.rfc5849 import signature, utils

from q2c_sandbox.netsuite.errors import NsError, invalid_login


@dataclass(frozen=True)
class TbaCredentials:
    account_id: str
    consumer_key: str
    consumer_secret: str
    token_id: str
    token_secret: str


@dataclass
class NonceCache:
    """Nonces seen per consumer key + token, remembered as long as their timestamp could still be accepted."""

    window_seconds: int
    _seen: dict[tuple[str, str, str], float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check_and_remember(self, consumer_key: str, token: str, nonce: str, now: float) -> bool:
        """False when the nonce was already used with this consumer and token."""
        key = (consumer_key, token, nonce)
        with self._lock:
            horizon = now - 2 * self.window_seconds
            if len(self._seen) > 10_000:
                self._seen = {k: t for k, t in self._seen.items() if t >= horizon}
            seen_at = self._seen.get(key)
            if seen_at is not None and seen_at >= horizon:
                return False
            self._seen[key] = now
            return True

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


class AuthFailure(Exception):
    """Why a request was refused; the client only ever sees INVALID_LOGIN, tests and logs see the reason."""


class TbaVerifier:
    def __init__(
        self,
        credentials: TbaCredentials,
        tolerance_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.credentials = credentials
        self.tolerance_seconds = tolerance_seconds
        self.nonces = NonceCache(tolerance_seconds)
        self._clock = clock

    def verify(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> None:
        """Raise the NetSuite INVALID_LOGIN error unless the request is correctly signed."""
        try:
            self._verify(method, url, headers, body)
        except AuthFailure as exc:
            raise _login_error(str(exc)) from None

    def _verify(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> None:
        auth = headers.get("authorization", "")
        if not auth.lower().startswith("oauth "):
            raise AuthFailure("no OAuth Authorization header")
        try:
            # parse_authorization_header leaves values percent-encoded, as they travel in the header.
            header_params = {k: utils.unescape(v) for k, v in utils.parse_authorization_header(auth)}
        except (ValueError, IndexError) as exc:
            raise AuthFailure(f"malformed Authorization header: {exc}") from None
        creds = self.credentials
        if header_params.get("realm") != creds.account_id:
            raise AuthFailure(f"realm {header_params.get('realm')!r} is not account {creds.account_id!r}")
        if header_params.get("oauth_signature_method") != "HMAC-SHA256":
            raise AuthFailure(f"signature method {header_params.get('oauth_signature_method')!r}")
        if header_params.get("oauth_version", "1.0") != "1.0":
            raise AuthFailure("oauth_version must be 1.0")
        consumer_key = header_params.get("oauth_consumer_key", "")
        token = header_params.get("oauth_token", "")
        if not _same(consumer_key, creds.consumer_key) or not _same(token, creds.token_id):
            raise AuthFailure("unknown consumer key or token")
        given_signature = header_params.get("oauth_signature", "")
        if not given_signature:
            raise AuthFailure("no oauth_signature")

        content_type = headers.get("content-type", "")
        form_body = body.decode("utf-8", "replace") if "x-www-form-urlencoded" in content_type else None
        query = url.split("?", 1)[1] if "?" in url else ""
        # Every oauth_* parameter the client sent (oauth_body_hash included) plus query (and form) parameters;
        # realm and oauth_signature stay out of the base string (RFC 5849 section 3.4.1.3.1).
        params = signature.collect_parameters(
            uri_query=query,
            body=form_body,
            headers={"Authorization": auth},
            exclude_oauth_signature=True,
            with_realm=False,
        )
        base_string = signature.signature_base_string(
            method.upper(), signature.base_string_uri(url), signature.normalize_parameters(params)
        )
        expected = signature.sign_hmac_sha256_with_client(base_string, _SigningKeys(creds))
        if not _same(expected, given_signature):
            raise AuthFailure(f"signature mismatch; base string was {base_string}")

        body_hash = header_params.get("oauth_body_hash")
        if body_hash is not None and not _body_hash_matches(body_hash, body):
            raise AuthFailure("oauth_body_hash does not match the body")

        try:
            timestamp = int(header_params.get("oauth_timestamp", ""))
        except ValueError:
            raise AuthFailure("oauth_timestamp is not an integer") from None
        now = self._clock()
        if abs(now - timestamp) > self.tolerance_seconds:
            raise AuthFailure(f"oauth_timestamp {timestamp} is more than {self.tolerance_seconds}s from now")
        nonce = header_params.get("oauth_nonce", "")
        if not nonce:
            raise AuthFailure("no oauth_nonce")
        if not self.nonces.check_and_remember(consumer_key, token, nonce, now):
            raise AuthFailure(f"nonce {nonce!r} was already used")


class _SigningKeys:
    """The two secrets oauthlib's HMAC signer reads from a client object."""

    def __init__(self, creds: TbaCredentials) -> None:
        self.client_secret = creds.consumer_secret
        self.resource_owner_secret = creds.token_secret


def _body_hash_matches(given: str, body: bytes) -> bool:
    # The body-hash draft ties the hash to the signature method, but common clients (oauthlib, authlib)
    # always send SHA-1; accept either.
    candidates = (hashlib.sha1(body).digest(), hashlib.sha256(body).digest())
    return any(_same(given, base64.b64encode(d).decode()) for d in candidates)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _login_error(reason: str) -> NsError:
    err = invalid_login()
    err.internal_reason = reason
    return err
