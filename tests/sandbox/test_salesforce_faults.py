"""Fault injection, latency and the JWT bearer grant of the Salesforce sandbox, driven by unmodified
simple-salesforce (and plain HTTP where the test is about headers or the token endpoint)."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from q2c_sandbox.salesforce.jwt_bearer import JWT_BEARER_GRANT
from q2c_sandbox.salesforce.records import INTEGRATION_USER_ID
from tests.sandbox.test_salesforce_sandbox import SfSandbox, start_sandbox

SalesforceClient = Any
TOKEN_PATH = "/services/oauth2/token"


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SfSandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sf-faults"))
    yield sandbox
    sandbox.server.stop()


@pytest.fixture
def sb(sandbox_server: SfSandbox) -> Iterator[SfSandbox]:
    """A reset org with no fault rules, no latency and no registered certificate, before and after."""

    def clean() -> None:
        with sandbox_server.admin() as admin:
            assert admin.delete("/__admin/faults").status_code == 200
            assert admin.put("/__admin/latency", json={"fixed_seconds": 0}).status_code == 200
            assert admin.post("/__admin/reset").status_code == 200

    clean()
    yield sandbox_server
    clean()


@pytest.fixture
def sf(sb: SfSandbox) -> Iterator[SalesforceClient]:
    client = sb.client()
    yield client
    client.session.close()


def set_faults(sb: SfSandbox, rules: list[dict[str, Any]], seed: int | None = None) -> dict[str, Any]:
    with sb.admin() as admin:
        response = admin.put("/__admin/faults", json={"rules": rules, "seed": seed})
    assert response.status_code == 200, response.text
    return dict(response.json())


def fault_rules(sb: SfSandbox) -> list[dict[str, Any]]:
    with sb.admin() as admin:
        return list(admin.get("/__admin/faults").json()["rules"])


def api_used(sb: SfSandbox) -> int:
    with sb.admin() as admin:
        return int(admin.get("/__admin/stats").json()["api_usage"]["used"])


def opportunity(sb: SfSandbox) -> str:
    ids = sb.load(
        {
            "Account": [{"Name": "Acme"}],
            "Opportunity": [
                {
                    "Name": "Acme deal",
                    "AccountId": "@Account[0]",
                    "StageName": "Prospecting",
                    "CloseDate": "2026-03-31",
                }
            ],
        }
    )
    return ids["Opportunity"][0]


# ---- error faults --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "exception", "status", "code"),
    [
        ("server_error", SalesforceGeneralError, 500, "UNKNOWN_EXCEPTION"),
        ("unavailable", SalesforceGeneralError, 503, "SERVER_UNAVAILABLE"),
        ("rate_limited", SalesforceRefusedRequest, 403, "REQUEST_LIMIT_EXCEEDED"),
        ("locked", SalesforceMalformedRequest, 400, "UNABLE_TO_LOCK_ROW"),
    ],
)
def test_each_error_fault_surfaces_as_the_simple_salesforce_exception(
    sb: SfSandbox, sf: SalesforceClient, kind: str, exception: type[Exception], status: int, code: str
) -> None:
    opp_id = opportunity(sb)
    set_faults(sb, [{"kind": kind, "method": "PATCH", "path": "sobjects/Opportunity", "retry_after": 2}])
    with pytest.raises(exception) as raised:
        sf.Opportunity.update(opp_id, {"StageName": "Qualification"})
    error = raised.value
    assert getattr(error, "status", None) == status
    content = getattr(error, "content", None)
    assert isinstance(content, list) and content[0]["errorCode"] == code
    message = content[0]["message"]
    expected_messages = {
        "server_error": r"^An unexpected error occurred\. Please include this ErrorId if you contact "
        r"support: \d+-\d+ \(-?\d+\)$",
        "unavailable": r"^Server Unavailable$",
        "rate_limited": r"^TotalRequests Limit exceeded\.$",
        "locked": rf"^unable to obtain exclusive access to this record or 1 records: {opp_id}$",
    }
    assert re.match(expected_messages[kind], message), message
    # The write never happened.
    assert sf.Opportunity.get(opp_id)["StageName"] == "Prospecting"


def test_faults_count_against_the_allocation_as_a_real_org_would(sb: SfSandbox, sf: SalesforceClient) -> None:
    """Processed-and-failed calls (500, lock) count and are headed; refusals (403) are headed but not
    counted; an unavailable org (503) answers neither."""
    opp_id = opportunity(sb)
    url = f"{sf.base_url}sobjects/Opportunity/{opp_id}"
    expectations = {
        "server_error": (1, True),
        "locked": (1, True),
        "rate_limited": (0, True),
        "unavailable": (0, False),
    }
    for kind, (counted, headed) in expectations.items():
        set_faults(sb, [{"kind": kind}])
        before = api_used(sb)
        response = sf.session.patch(url, json={"StageName": "Qualification"}, headers=sf.headers)
        assert response.status_code >= 400, kind
        assert api_used(sb) - before == counted, kind
        header = response.headers.get("Sforce-Limit-Info")
        assert (header is not None) == headed, (kind, header)
        if headed:
            assert header == f"api-usage={before + counted}/100000", (kind, header)
    # Without a valid session the call is not counted, whatever fault it meets.
    set_faults(sb, [{"kind": "server_error"}])
    before = api_used(sb)
    response = sf.session.get(url, headers={"Authorization": "Bearer not-a-session"})
    assert response.status_code == 500
    assert api_used(sb) == before


def test_error_faults_send_retry_after_and_are_logged(sb: SfSandbox, sf: SalesforceClient) -> None:
    set_faults(sb, [{"kind": "unavailable", "path": "limits", "retry_after": 7}])
    with sb.admin() as admin:
        admin.delete("/__admin/requests")
    response = sf.session.get(f"{sf.base_url}limits/", headers=sf.headers)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "7"
    with sb.admin() as admin:
        log = admin.get("/__admin/requests").json()
    assert log["counts"] == {"GET (injected unavailable)": 1}
    assert log["recent"][0]["status"] == 503


# ---- timeouts and dropped connections ------------------------------------------------------------


def test_timeout_fault_leaves_the_client_waiting(sb: SfSandbox, sf: SalesforceClient) -> None:
    # A short server-side hold keeps the module's server shutdown quick; the client gives up first.
    set_faults(sb, [{"kind": "timeout", "path": "limits", "timeout_seconds": 1.5}])
    with pytest.raises(requests.exceptions.ReadTimeout):
        sf.limits(timeout=0.3)
    assert fault_rules(sb)[0]["injected"] == 1


def test_drop_fault_cuts_the_response(sb: SfSandbox, sf: SalesforceClient) -> None:
    set_faults(sb, [{"kind": "drop", "path": "limits", "next": 1}])
    with pytest.raises((requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)):
        sf.limits()
    # The rule is spent: the next call is answered normally.
    assert "DailyApiRequests" in sf.limits()


# ---- which calls a rule hits ---------------------------------------------------------------------


def test_rate_is_honoured_and_deterministic_with_a_seed(sb: SfSandbox, sf: SalesforceClient) -> None:
    set_faults(sb, [{"kind": "server_error", "rate": 0.25, "path": "limits"}], seed=7)
    faulted = 0
    for _ in range(400):
        try:
            sf.limits()
        except SalesforceGeneralError as exc:
            assert exc.status == 500
            faulted += 1
    # A quarter of 400 is 100; a rule that fired always, never, or for every matching rule would not
    # land in this band. The seed makes the draw repeatable: 7 gives exactly this count.
    assert 70 <= faulted <= 130
    assert faulted == 112
    assert fault_rules(sb)[0]["injected"] == faulted


def test_next_n_faults_exactly_the_next_n_matching_calls(sb: SfSandbox, sf: SalesforceClient) -> None:
    set_faults(sb, [{"kind": "unavailable", "path": "limits", "next": 3}])
    outcomes = []
    for _ in range(5):
        try:
            sf.limits()
            outcomes.append("ok")
        except SalesforceGeneralError as exc:
            outcomes.append(str(exc.status))
    assert outcomes == ["503", "503", "503", "ok", "ok"]
    rule = fault_rules(sb)[0]
    assert (rule["injected"], rule["remaining"]) == (3, 0)


def test_method_and_path_filters(sb: SfSandbox, sf: SalesforceClient) -> None:
    opp_id = opportunity(sb)
    account_id = sf.query("SELECT Id FROM Account")["records"][0]["Id"]
    set_faults(sb, [{"kind": "locked", "method": "patch", "path": r"sobjects/Opportunity/"}])
    # Reads of the object and writes to other objects pass.
    assert sf.Opportunity.get(opp_id)["Id"] == opp_id
    assert sf.Account.update(account_id, {"Name": "Acme Inc"}) == 204
    assert sf.query(f"SELECT Id FROM Opportunity WHERE Id = '{opp_id}'")["totalSize"] == 1
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Opportunity.update(opp_id, {"StageName": "Qualification"})
    content: Any = getattr(raised.value, "content", None)
    assert content[0]["errorCode"] == "UNABLE_TO_LOCK_ROW"
    rules = fault_rules(sb)
    assert rules == [
        {
            "kind": "locked",
            "rate": 1.0,
            "method": "PATCH",
            "path": "sobjects/Opportunity/",
            "remaining": None,
            "timeout_seconds": 30.0,
            "retry_after": None,
            "injected": 1,
        }
    ]


def test_admin_api_is_exempt_and_the_token_endpoint_is_not(sb: SfSandbox) -> None:
    set_faults(sb, [{"kind": "unavailable"}])  # every API call, login included
    with sb.admin() as admin:
        assert admin.get("/__admin/stats").status_code == 200
    with sb.http() as http:
        refused = http.post(
            TOKEN_PATH,
            data={
                "grant_type": "password",
                "client_id": sb.settings.client_id,
                "client_secret": sb.settings.client_secret,
                "username": sb.settings.username,
                "password": sb.settings.password,
            },
        )
    assert refused.status_code == 503
    assert refused.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert "Sforce-Limit-Info" not in refused.headers  # logins are not API calls
    set_faults(sb, [{"kind": "server_error", "path": "oauth2/token", "next": 1}])
    with sb.http() as http:
        assert http.post(TOKEN_PATH, data={"grant_type": "password"}).status_code == 500
    assert sb.token()["access_token"]  # the rule is spent


def test_bad_rules_are_refused_with_the_offending_key(sb: SfSandbox) -> None:
    with sb.admin() as admin:
        response = admin.put("/__admin/faults", json={"rules": [{"kind": "locked"}, {"kind": "meltdown"}]})
    assert response.status_code == 400
    assert "rules[1].kind" in response.json()["error"]
    assert fault_rules(sb) == []


# ---- latency -------------------------------------------------------------------------------------


def test_fixed_latency_delays_every_api_call(sb: SfSandbox, sf: SalesforceClient) -> None:
    with sb.admin() as admin:
        configured = admin.put("/__admin/latency", json={"fixed_seconds": 0.2, "seed": 1})
        assert configured.json() == {"fixed_seconds": 0.2, "jitter_seconds": 0.0}
        assert admin.get("/__admin/latency").json() == {"fixed_seconds": 0.2, "jitter_seconds": 0.0}
    started = time.monotonic()
    sf.limits()
    assert time.monotonic() - started >= 0.2


# ---- JWT bearer grant ----------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign_jwt(key: rsa.RSAPrivateKey, claims: dict[str, Any], alg: str = "RS256") -> str:
    """A JWT signed by hand: base64url(header).base64url(claims), RSA PKCS#1 v1.5 over SHA-256."""
    signing_input = f"{_b64url(json.dumps({'alg': alg}).encode())}.{_b64url(json.dumps(claims).encode())}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


def self_signed(key: rsa.RSAPrivateKey, name: str = "q2c-jwt") -> str:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def registered(sb: SfSandbox, rsa_key: rsa.RSAPrivateKey) -> rsa.RSAPrivateKey:
    with sb.admin() as admin:
        response = admin.put("/__admin/connected-app", json={"certificate_pem": self_signed(rsa_key)})
    assert response.status_code == 200, response.text
    return rsa_key


def claims_for(sb: SfSandbox, **overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": sb.settings.client_id,
        "sub": sb.settings.username,
        "aud": "https://login.salesforce.com",
        "exp": int(time.time()) + 180,
    }
    claims.update(overrides)
    return claims


def plain_session(sb: SfSandbox) -> requests.Session:
    session = requests.Session()
    session.verify = sb.ca
    # requests lets REQUESTS_CA_BUNDLE override session.verify; the sandbox CA must win.
    session.trust_env = False
    # No idle keep-alive connection may hold up a server's graceful shutdown.
    session.headers["Connection"] = "close"
    return session


def jwt_grant(sb: SfSandbox, assertion: str) -> requests.Response:
    with plain_session(sb) as session:
        return session.post(
            f"{sb.base_url}{TOKEN_PATH}", data={"grant_type": JWT_BEARER_GRANT, "assertion": assertion}
        )


def simple_salesforce_with(sb: SfSandbox, token: dict[str, Any]) -> SalesforceClient:
    session = plain_session(sb)
    return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session)


def test_jwt_bearer_grant_gives_a_token_simple_salesforce_can_use(
    sb: SfSandbox, registered: rsa.RSAPrivateKey
) -> None:
    # simple-salesforce's own JWT login sends exp as a numeric string: accepted as Salesforce does.
    claims = claims_for(sb, exp=f"{time.time() + 170:.0f}")
    response = jwt_grant(sb, sign_jwt(registered, claims))
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert token["instance_url"] == sb.base_url
    assert token["id"].endswith(f"/id/{sb.settings.org_id}/{INTEGRATION_USER_ID}")
    sf = simple_salesforce_with(sb, token)
    try:
        created = sf.Account.create({"Name": "Via JWT"})
        assert sf.query("SELECT Name FROM Account")["records"][0]["Name"] == "Via JWT"
        assert sf.Account.get(created["id"])["CreatedById"] == INTEGRATION_USER_ID
    finally:
        sf.session.close()


def test_jwt_token_acts_as_the_subject_user(sb: SfSandbox, registered: rsa.RSAPrivateKey) -> None:
    user_id = sb.load(
        {"User": [{"LastName": "Ops", "Username": "ops@q2c.sandbox", "Email": "ops@q2c.sandbox"}]}
    )["User"][0]
    # Usernames are case-insensitive.
    response = jwt_grant(sb, sign_jwt(registered, claims_for(sb, sub="OPS@q2c.sandbox")))
    assert response.status_code == 200, response.text
    sf = simple_salesforce_with(sb, response.json())
    try:
        account_id = sf.Account.create({"Name": "Ops account"})["id"]
        account = sf.Account.get(account_id)
        assert (account["CreatedById"], account["OwnerId"]) == (user_id, user_id)
    finally:
        sf.session.close()


@pytest.mark.parametrize("audience", ["https://login.salesforce.com", "https://test.salesforce.com", "own"])
def test_jwt_audiences_accepted(sb: SfSandbox, registered: rsa.RSAPrivateKey, audience: str) -> None:
    aud = sb.base_url if audience == "own" else audience
    response = jwt_grant(sb, sign_jwt(registered, claims_for(sb, aud=aud)))
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("case", "error", "description"),
    [
        ("not a jwt", "invalid_grant", "invalid assertion"),
        ("signed by another key", "invalid_grant", "invalid assertion"),
        ("alg HS256", "invalid_grant", "invalid assertion"),
        ("tampered claims", "invalid_grant", "invalid assertion"),
        ("wrong iss", "invalid_client_id", "client identifier invalid"),
        ("wrong aud", "invalid_grant", "audience is invalid"),
        ("expired", "invalid_grant", "expired authorization code"),
        ("exp too far", "invalid_grant", "invalid assertion"),
        ("exp missing", "invalid_grant", "invalid assertion"),
        ("unknown user", "invalid_grant", "user hasn't approved this consumer"),
        ("inactive user", "invalid_grant", "user hasn't approved this consumer"),
    ],
)
def test_jwt_refusals(
    sb: SfSandbox, registered: rsa.RSAPrivateKey, case: str, error: str, description: str
) -> None:
    key = registered
    now = int(time.time())
    claims = claims_for(sb)
    alg = "RS256"
    if case == "signed by another key":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif case == "alg HS256":
        alg = "HS256"
    elif case == "wrong iss":
        claims["iss"] = "someone-else"
    elif case == "wrong aud":
        claims["aud"] = "https://acme.my.salesforce.com"
    elif case == "expired":
        claims["exp"] = now - 5
    elif case == "exp too far":
        claims["exp"] = now + 600
    elif case == "exp missing":
        del claims["exp"]
    elif case == "unknown user":
        claims["sub"] = "nobody@q2c.sandbox"
    elif case == "inactive user":
        sb.load(
            {
                "User": [
                    {
                        "LastName": "Gone",
                        "Username": "gone@q2c.sandbox",
                        "Email": "g@q2c.sandbox",
                        "IsActive": False,
                    }
                ]
            }
        )
        claims["sub"] = "gone@q2c.sandbox"
    assertion = "abc.def" if case == "not a jwt" else sign_jwt(key, claims, alg)
    if case == "tampered claims":
        header, _, signature = assertion.split(".")
        forged = _b64url(json.dumps(claims_for(sb, sub="ops@q2c.sandbox")).encode())
        assertion = f"{header}.{forged}.{signature}"
    response = jwt_grant(sb, assertion)
    assert response.status_code == 400, response.text
    assert response.json() == {"error": error, "error_description": description}


def test_jwt_without_a_registered_certificate_is_refused(sb: SfSandbox, rsa_key: rsa.RSAPrivateKey) -> None:
    with sb.admin() as admin:
        assert admin.get("/__admin/connected-app").json() == {
            "client_id": sb.settings.client_id,
            "certificate": None,
        }
    response = jwt_grant(sb, sign_jwt(rsa_key, claims_for(sb)))
    assert response.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


def test_connected_app_admin(sb: SfSandbox, rsa_key: rsa.RSAPrivateKey) -> None:
    pem = self_signed(rsa_key, "q2c-admin")
    with sb.admin() as admin:
        shown = admin.put("/__admin/connected-app", json={"certificate_pem": pem}).json()
        fingerprint = x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256()).hex()
        assert shown["certificate"]["subject"] == "CN=q2c-admin"
        assert shown["certificate"]["sha256_fingerprint"] == fingerprint
        assert admin.get("/__admin/connected-app").json() == shown
        bad = admin.put("/__admin/connected-app", json={"certificate_pem": "not a certificate"})
        assert bad.status_code == 400
        assert "certificate_pem is not a PEM X.509 certificate" in bad.json()["error"]
        assert admin.put("/__admin/connected-app", json={"pem": pem}).status_code == 400
        assert admin.get("/__admin/connected-app").json() == shown  # a refused PUT changes nothing
        assert admin.delete("/__admin/connected-app").json()["certificate"] is None
    with sb.http() as http:
        assert http.get("/__admin/connected-app").status_code == 401  # the admin key is required


def test_certificate_from_settings(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    cert_path = tmp_path / "connected-app.crt"
    cert_path.write_text(self_signed(rsa_key, "from-settings"))
    sandbox = start_sandbox(tmp_path, jwt_certificate_path=cert_path)
    try:
        with sandbox.admin() as admin:
            described = admin.get("/__admin/connected-app").json()
        assert described["certificate"]["subject"] == "CN=from-settings"
        response = jwt_grant(sandbox, sign_jwt(rsa_key, claims_for(sandbox)))
        assert response.status_code == 200, response.text
        sf = simple_salesforce_with(sandbox, response.json())
        try:
            assert sf.query("SELECT Id FROM User")["totalSize"] == 1
        finally:
            sf.session.close()
    finally:
        sandbox.server.stop()
