"""The OAuth 2.0 JWT bearer grant (RFC 7523) as a Salesforce connected app answers it.

The client signs ``{"iss": client_id, "sub": username, "aud": login URL, "exp": seconds}`` with RS256 and
posts it as ``assertion``; the org verifies the signature with the certificate uploaded to the connected
app. Salesforce documents ``exp`` as "within 3 minutes" of now (simple-salesforce signs now + 3 minutes,
and sends ``exp`` as a numeric string, which is accepted too). Orgs are reported to tolerate longer
lifetimes; the sandbox enforces the documented rule so a client that passes here passes everywhere.

Refusals use the descriptions real orgs send, which are terse and sometimes misleading ("expired
authorization code" for an expired assertion); the precise reason is logged by the sandbox.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from q2c_sandbox.salesforce.settings import SalesforceSandboxSettings
from q2c_sandbox.salesforce.store import Store

log = logging.getLogger(__name__)

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
MAX_LIFETIME_SECONDS = 180
# The client's clock may run a little ahead of the org's: "now + 3 minutes" must not fail on that.
CLOCK_SKEW_SECONDS = 10
_CERT_META = "connected_app_certificate_pem"


class CertificateError(ValueError):
    pass


@dataclass
class JwtRejected(Exception):
    """A refused assertion: the OAuth error pair to answer with, and the real reason for the log."""

    error: str
    description: str
    reason: str

    def __str__(self) -> str:
        return f"{self.error} ({self.description}): {self.reason}"


def load_certificate(pem: bytes | str) -> x509.Certificate:
    """A PEM certificate holding an RSA key, or CertificateError saying what is wrong with it."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        certificate = x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise CertificateError(f"certificate_pem is not a PEM X.509 certificate: {exc}") from None
    if not isinstance(certificate.public_key(), rsa.RSAPublicKey):
        # Salesforce signs and verifies JWT bearer assertions with RS256 only.
        raise CertificateError("certificate_pem must hold an RSA public key (the JWT bearer flow is RS256)")
    return certificate


def describe_certificate(certificate: x509.Certificate) -> dict[str, Any]:
    return {
        "subject": certificate.subject.rfc4514_string(),
        "not_valid_after": certificate.not_valid_after_utc.isoformat(),
        "sha256_fingerprint": certificate.fingerprint(hashes.SHA256()).hex(),
    }


class ConnectedApp:
    """The connected app's uploaded certificate: from settings, replaceable through the admin API.

    An admin-registered certificate is kept in the org's store (it survives a restart; an admin reset
    drops it, falling back to the one named in settings)."""

    def __init__(self, store: Store, settings: SalesforceSandboxSettings) -> None:
        self.store = store
        self.settings = settings
        self._configured: x509.Certificate | None = None
        if settings.jwt_certificate_path is not None:
            try:
                self._configured = load_certificate(settings.jwt_certificate_path.read_bytes())
            except (OSError, CertificateError) as exc:
                raise CertificateError(
                    f"jwt_certificate_path {settings.jwt_certificate_path}: {exc}"
                ) from None

    def certificate(self) -> x509.Certificate | None:
        registered = self.store.get_meta(_CERT_META)
        return load_certificate(registered) if registered else self._configured

    def register(self, pem: str) -> x509.Certificate:
        certificate = load_certificate(pem)
        self.store.set_meta(_CERT_META, pem)
        return certificate

    def clear(self) -> None:
        self.store.execute("DELETE FROM meta WHERE name = ?", (_CERT_META,))

    def describe(self) -> dict[str, Any]:
        certificate = self.certificate()
        return {
            "client_id": self.settings.client_id,
            "certificate": describe_certificate(certificate) if certificate else None,
        }


def _b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _invalid(reason: str) -> JwtRejected:
    return JwtRejected("invalid_grant", "invalid assertion", reason)


def verify_assertion(
    assertion: str,
    certificate: x509.Certificate | None,
    client_id: str,
    audiences: tuple[str, ...],
    now: float | None = None,
) -> dict[str, Any]:
    """The assertion's claims once its signature and claims check out; JwtRejected otherwise.

    Checks run in the order that gives the most useful refusal: structure and signature first (nothing
    in an unverified token can be trusted), then issuer, audience and expiry. The subject (a known,
    active user) is the caller's check."""
    now = time.time() if now is None else now
    parts = assertion.split(".")
    if len(parts) != 3:
        raise _invalid(f"the assertion has {len(parts)} dot-separated parts, a signed JWT has 3")
    try:
        header = json.loads(_b64url_decode(parts[0]))
        claims = json.loads(_b64url_decode(parts[1]))
        signature = _b64url_decode(parts[2])
    except (binascii.Error, ValueError) as exc:
        raise _invalid(f"the assertion is not base64url-encoded JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _invalid("the JWT header and claims must be JSON objects")
    if header.get("alg") != "RS256":
        raise _invalid(f"JWT header alg is {header.get('alg')!r}; Salesforce accepts RS256 only")
    if certificate is None:
        raise _invalid(
            "the connected app has no certificate: set jwt_certificate_path or PUT /__admin/connected-app"
        )
    public_key = certificate.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)  # load_certificate admits RSA keys only
    try:
        public_key.verify(signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise _invalid("the signature does not verify against the connected app's certificate") from None
    if claims.get("iss") != client_id:
        raise JwtRejected(
            "invalid_client_id",
            "client identifier invalid",
            f"iss {claims.get('iss')!r} is not the connected app's consumer key {client_id!r}",
        )
    audience = claims.get("aud")
    audience_list = audience if isinstance(audience, list) else [audience]
    if not any(isinstance(a, str) and a.rstrip("/") in audiences for a in audience_list):
        raise JwtRejected(
            "invalid_grant", "audience is invalid", f"aud {audience!r} is none of {list(audiences)}"
        )
    try:
        expires = float(claims["exp"])  # a number, or a numeric string as simple-salesforce sends it
    except (KeyError, TypeError, ValueError):
        raise _invalid(f"exp {claims.get('exp')!r} is not a number of seconds since the epoch") from None
    if expires <= now:
        raise JwtRejected(
            "invalid_grant",
            "expired authorization code",
            f"exp {_when(expires)} is {now - expires:.0f}s in the past",
        )
    if expires > now + MAX_LIFETIME_SECONDS + CLOCK_SKEW_SECONDS:
        raise _invalid(
            f"exp {_when(expires)} is {expires - now:.0f}s away; Salesforce wants it within "
            f"{MAX_LIFETIME_SECONDS}s"
        )
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise _invalid("sub (the username to act as) is missing")
    return claims


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


def log_rejection(rejected: JwtRejected) -> None:
    log.info("JWT bearer grant refused: %s", rejected)
