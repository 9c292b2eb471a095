"""Which CAs the connectors trust, and what the webhook serves and tells Salesforce: the settings' rules,
also as docker-compose.yml's environment gives them."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from devtools.compose_check import ROOT, env_example_blocks, load_compose
from q2c.config import WEBHOOK_PATH, Settings

LOCAL_SANDBOXES: dict[str, Any] = {
    "salesforce_token_url": "https://127.0.0.1:9443/services/oauth2/token",
    "netsuite_base_url": "https://localhost:9444",
}
REAL_ORGS: dict[str, Any] = {
    "salesforce_token_url": "https://login.salesforce.com/services/oauth2/token",
    "netsuite_base_url": "https://1234567.suitetalk.api.netsuite.com",
}


def settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", **values)


def with_local_ca(tmp_path: Path) -> Path:
    ca = tmp_path / "data" / "tls" / "ca.pem"
    ca.parent.mkdir(parents=True)
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    return ca


def test_the_embedded_default_trusts_the_local_ca_it_made(tmp_path: Path) -> None:
    ca = with_local_ca(tmp_path)
    assert settings(tmp_path).uses_local_sandboxes  # the defaults are the sandboxes on 127.0.0.1
    assert settings(tmp_path).effective_ca_path() == ca
    assert settings(tmp_path, **LOCAL_SANDBOXES).effective_ca_path() == ca
    ipv6 = {
        "salesforce_token_url": "https://[::1]:9443/services/oauth2/token",
        "netsuite_base_url": "https://[::1]:9444",
    }
    assert settings(tmp_path, **ipv6).effective_ca_path() == ca


def test_the_local_ca_is_not_trusted_before_it_exists(tmp_path: Path) -> None:
    assert settings(tmp_path).effective_ca_path() is None


@pytest.mark.parametrize(
    "urls",
    [
        REAL_ORGS,
        {**LOCAL_SANDBOXES, "salesforce_token_url": REAL_ORGS["salesforce_token_url"]},
        {**LOCAL_SANDBOXES, "netsuite_base_url": REAL_ORGS["netsuite_base_url"]},
        # A name that merely starts like a loopback host is elsewhere.
        {**LOCAL_SANDBOXES, "netsuite_base_url": "https://localhost.example.com:9444"},
    ],
)
def test_an_org_elsewhere_is_checked_against_the_system_cas_whatever_lies_in_the_data_dir(
    tmp_path: Path, urls: dict[str, str]
) -> None:
    with_local_ca(tmp_path)
    assert settings(tmp_path, **urls).effective_ca_path() is None


def test_a_configured_ca_wins(tmp_path: Path) -> None:
    with_local_ca(tmp_path)
    bundle = tmp_path / "corporate.pem"
    assert settings(tmp_path, ca_path=bundle, **REAL_ORGS).effective_ca_path() == bundle
    assert settings(tmp_path, ca_path=bundle).effective_ca_path() == bundle


def test_an_empty_path_means_not_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("Q2C_CA_PATH", "Q2C_WEBHOOK_CERT_FILE", "Q2C_WEBHOOK_KEY_FILE"):
        monkeypatch.setenv(variable, "")
    monkeypatch.chdir(tmp_path)  # Path("") would be this directory
    read = Settings(_env_file=None, **REAL_ORGS)
    assert (read.ca_path, read.webhook_cert_file, read.webhook_key_file) == (None, None, None)
    assert read.effective_ca_path() is None


def test_the_compose_file_trusts_the_system_cas_for_real_orgs_and_the_sandbox_ca_for_the_sandboxes(
    tmp_path: Path,
) -> None:
    """The worker's environment as docker-compose.yml gives it, with an .env of each block of .env.example,
    and a data volume that holds a local CA (as a shared one did)."""
    blocks = env_example_blocks()
    key = {"Q2C_PAYLOAD_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode()}
    orgs = {name: blocks["orgs"][name] for name in ("Q2C_SALESFORCE_TOKEN_URL", "Q2C_NETSUITE_BASE_URL")}
    sandboxes = {name: value for name, value in blocks["sandboxes"].items() if name.startswith("Q2C_")}
    with_local_ca(tmp_path)
    trusted = {}
    for mode, dotenv in (("orgs", orgs), ("sandboxes", sandboxes)):
        worker = load_compose(ROOT, {**dotenv, **key})["services"]["worker"]["environment"]
        environment = {**dotenv, **worker, "Q2C_DATA_DIR": str(tmp_path / "data")}
        values: dict[str, Any] = {
            name[4:].lower(): value for name, value in environment.items() if name.startswith("Q2C_")
        }
        trusted[mode] = Settings(_env_file=None, **values).effective_ca_path()
    assert trusted == {"orgs": None, "sandboxes": Path("/sandbox-tls/ca.pem")}


def test_webhook_url_is_what_salesforce_is_given(tmp_path: Path) -> None:
    token = "t" * 20
    assert settings(tmp_path, webhook_port=9445).webhook_url == f"https://127.0.0.1:9445{WEBHOOK_PATH}"
    plain = settings(tmp_path, webhook_tls=False, webhook_host="::1", webhook_port=80, webhook_token=token)
    assert plain.webhook_url == f"http://[::1]:80{WEBHOOK_PATH}/{token}"
    public = settings(
        tmp_path, webhook_tls=False, webhook_public_url="https://q2c.example.com/in/", webhook_token=token
    )
    assert public.webhook_url == f"https://q2c.example.com/in{WEBHOOK_PATH}/{token}"


@pytest.mark.parametrize(
    "url", ["http://q2c.example.com", "https://", "https://q2c.example.com/?a=b", "q2c.example.com"]
)
def test_the_public_url_must_be_https(tmp_path: Path, url: str) -> None:
    with pytest.raises(ValidationError, match="Q2C_WEBHOOK_PUBLIC_URL"):
        settings(tmp_path, webhook_public_url=url)


def test_trusted_proxies_are_networks(tmp_path: Path) -> None:
    parsed = settings(tmp_path, webhook_trusted_proxies="10.0.0.7/8, 2001:db8::/32").webhook_proxy_networks
    assert [str(network) for network in parsed] == ["10.0.0.0/8", "2001:db8::/32"]
    assert settings(tmp_path).webhook_proxy_networks == ()
    with pytest.raises(ValidationError, match="Q2C_WEBHOOK_TRUSTED_PROXIES: 'proxy' is not a network"):
        settings(tmp_path, webhook_trusted_proxies="proxy")


def test_plain_http_needs_no_certificate(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="Q2C_WEBHOOK_TLS=false"):
        settings(tmp_path).webhook_tls_files()
