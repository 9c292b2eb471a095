"""One settings object for q2c, read from the environment (prefix ``Q2C_``) and ``.env``.

The defaults describe the embedded default: the Temporal dev server on this machine and the two local
sandboxes, with the sandboxes' well-known development credentials. Set the ``Q2C_SALESFORCE_*`` /
``Q2C_NETSUITE_*`` variables and ``Q2C_TEMPORAL_ADDRESS`` and the same code talks to real orgs and a real
cluster. Secrets are ``SecretStr``: they print as ``**********`` and only connectors read their values.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SANDBOX_SALESFORCE_PORT = 9443
SANDBOX_NETSUITE_PORT = 9444
WEBHOOK_PORT = 9445
WEBHOOK_PATH = "/salesforce/outbound-message"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="Q2C_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # A refused secret (a webhook token, a password) must not come back in the error's text.
        hide_input_in_errors=True,
    )

    data_dir: Path = Path(".data")

    # Temporal
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    temporal_ui_url: str = "http://127.0.0.1:8233"

    # Store: SQLite under the data dir unless a URL is given (docker-compose sets Postgres).
    database_url: str | None = None

    # Salesforce (defaults: the sandbox's development org)
    salesforce_token_url: str = f"https://127.0.0.1:{SANDBOX_SALESFORCE_PORT}/services/oauth2/token"
    salesforce_api_version: str = "59.0"
    salesforce_grant: str = Field(default="password", pattern="^(password|client_credentials)$")
    salesforce_client_id: str = "q2c-sandbox-client"
    salesforce_client_secret: SecretStr = SecretStr("q2c-sandbox-secret")
    salesforce_username: str = "integration@q2c.sandbox"
    salesforce_password: SecretStr = SecretStr("q2c-sandbox-password")
    salesforce_org_id: str = "00D000000000Q2CEAU"
    salesforce_ui_url: str | None = None

    # NetSuite (defaults: the sandbox's account)
    netsuite_account_id: str = "1234567_SB1"
    netsuite_base_url: str = f"https://127.0.0.1:{SANDBOX_NETSUITE_PORT}"
    netsuite_consumer_key: str = "q2c-sandbox-consumer-key"
    netsuite_consumer_secret: SecretStr = SecretStr("q2c-sandbox-consumer-secret")
    netsuite_token_id: str = "q2c-sandbox-token-id"
    netsuite_token_secret: SecretStr = SecretStr("q2c-sandbox-token-secret")
    # q2c's share of the account's concurrency limit (5 on a standard account): the sum of
    # max_concurrent_activities over every worker on the NetSuite task queue must stay within it.
    netsuite_concurrency_share: int = Field(default=4, ge=1)

    # The SFDX and SDF projects (custom fields and objects) the mapping file is checked against; None:
    # the metadata/ directory q2c ships (the checkout's, or the installed copy in the image).
    metadata_dir: Path | None = None

    # TLS: the CA bundle the connectors trust (PEM). Unset (or empty): the system trust store, except on
    # the embedded default (see effective_ca_path).
    ca_path: Path | None = None

    # Deal-closed webhook (Salesforce Outbound Messages)
    webhook_host: str = "127.0.0.1"
    webhook_port: int = WEBHOOK_PORT
    # HTTPS with this certificate and key (PEM; Salesforce accepts only a publicly trusted certificate for
    # a public host name). None: the ones the embedded default's local CA issued under data_dir/tls
    # (``q2c demo`` and ``q2c sandbox up`` create them). webhook_tls false: plain HTTP, for behind a proxy
    # or load balancer that terminates TLS.
    webhook_tls: bool = True
    webhook_cert_file: Path | None = None
    webhook_key_file: Path | None = None
    # The URL Salesforce reaches the webhook at (scheme, host, port, any path prefix the proxy adds), when
    # it is not this process's own address: webhook_url is built on it.
    webhook_public_url: str | None = None
    # Authenticity (the org id in a message is no secret): a token that makes the endpoint path
    # WEBHOOK_PATH/{token}, and the source networks allowed to deliver (comma-separated CIDRs, empty: any).
    webhook_token: SecretStr | None = None
    webhook_allowed_networks: str = ""
    # The proxies (comma-separated CIDRs) whose X-Forwarded-For names the client the allowlist judges;
    # empty: the header is ignored and the TCP peer is judged, whoever wrote the header.
    webhook_trusted_proxies: str = ""
    # A body must arrive within this many seconds of its headers (a stalled one would hold a connection).
    webhook_body_timeout_seconds: float = Field(default=10.0, gt=0)

    # Mappings (currency -> subsidiary ...); None means the packaged default file.
    mapping_path: Path | None = None

    # Activity timeouts and retries for order workflows (per API call).
    activity_timeout_seconds: float = Field(default=30.0, gt=0)
    activity_max_attempts: int = Field(default=10, ge=1)
    activity_max_interval_seconds: float = Field(default=60.0, gt=0)

    # Billing and credit (NetSuite is master; these are q2c's safety nets and thresholds).
    billing_recheck_seconds: float = Field(default=6 * 3600.0, gt=0)
    credit_recheck_seconds: float = Field(default=3600.0, gt=0)
    credit_overdue_days: int = Field(default=30, ge=0)
    billing_checks_per_run: int = Field(default=500, ge=1)
    netsuite_poll_interval_seconds: float = Field(default=60.0, gt=0)

    # Catalog (items, prices) and inventory (stock per location) from NetSuite: the two schedules.
    catalog_sync_interval_seconds: float = Field(default=3600.0, gt=0)
    # The backfill (q2c backfill): Salesforce writes of at least this many records in one batch go
    # through a Bulk API 2.0 job (about 7 calls whatever the size), fewer through sObject Collections
    # (200 a call); a run's Salesforce API budget in calls (unset: only the 20% reserve of the org's
    # daily allocation holds).
    backfill_bulk_threshold: int = Field(default=2000, ge=1)
    backfill_salesforce_api_budget: int | None = Field(default=None, ge=0)
    # Bookings vs billings (q2c reconcile, the month-end schedule): totals in this currency, converted with
    # NetSuite's consolidated exchange rates; a booking not billed this many days after it was won is an
    # exception; the run's Salesforce API budget; where the reports go and the URL Salesforce links to
    # (default: a file:// URL of the report under data_dir/reports).
    reporting_currency: str = "USD"
    reconcile_unbilled_after_days: int = Field(default=30, ge=0)
    reconcile_salesforce_api_budget: int | None = Field(default=500, ge=1)
    reports_dir: Path | None = None
    reports_base_url: str | None = None
    inventory_sync_interval_seconds: float = Field(default=300.0, gt=0)
    inventory_full_sync_interval_seconds: float = Field(default=86400.0, gt=0)

    # Stock at deal close (order to cash). A deal whose lines ask for more units of a stock-tracked product
    # than Product2.Quantity_Available__c shows: "warn" creates the sales order and says what is short on
    # Opportunity.Inventory_Warning__c; "hold" waits in awaiting_stock, re-reading the opportunity when the
    # inventory sync signals stock_changed and, as a safety net, every stock_recheck_seconds.
    stock_shortfall: Literal["warn", "hold"] = "warn"
    stock_recheck_seconds: float = Field(default=3600.0, gt=0)

    # Account sync on/off: off, the pollers and the webhook leave accounts, customers and contacts alone
    # (order-to-cash still links the account of a won deal to its customer).
    account_sync: bool = True
    # Account sync: the Salesforce SOQL poller (a safety net behind outbound messages) and how many syncs
    # one run of a pair's workflow makes before it continues-as-new.
    salesforce_poll_interval_seconds: float = Field(default=60.0, gt=0)
    account_syncs_per_run: int = Field(default=200, ge=1)

    # Customer onboarding: the onboarding file (None: the packaged default, q2c/domain/onboarding.toml), and
    # how often a running onboarding reads its tasks and CSM again behind the pollers' and outbound
    # messages' change events.
    onboarding_path: Path | None = None
    onboarding_task_recheck_seconds: float = Field(default=24 * 3600.0, gt=0)
    # Base URLs of the two user interfaces, for links in the Temporal web UI.
    netsuite_ui_url: str | None = None

    # Operations (docs/runbook.md).
    # Payload encryption: the key ring "key-id:base64 key,..." (AES-GCM, 16/24/32-byte keys) and the id of
    # the key new payloads are encrypted with (default: the first listed). Every key listed still decrypts,
    # so a rotation adds the new key first, switches the id, and drops an old key only once no history
    # within retention uses it. Unset: payloads are not encrypted (the embedded default).
    payload_keys: SecretStr | None = None
    payload_key_id: str | None = None
    # The codec server (q2c codec-server) that decrypts payloads for the web UI and `temporal --codec-endpoint`:
    # where it listens, the browser origins it answers (the UI's URL), and a bearer token it requires.
    codec_server_host: str = "127.0.0.1"
    codec_server_port: int = 8089
    codec_server_origins: str = "http://localhost:8080,http://127.0.0.1:8233,http://localhost:8233"
    codec_server_token: SecretStr | None = None
    # The worker's Prometheus endpoint (host:port; the SDK's metrics and q2c's own), unset: none.
    metrics_address: str | None = None
    # Worker versioning (Worker Deployments): the deployment and this build's id; unset: unversioned.
    worker_deployment_name: str | None = None
    worker_build_id: str | None = None
    # On SIGTERM the worker stops taking tasks and lets running activities finish for this long.
    worker_shutdown_grace_seconds: float = Field(default=60.0, ge=0)

    def to_env(self) -> dict[str, str]:
        """These settings as ``Q2C_*`` variables, for child processes that must see the same ones."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            env[f"Q2C_{name.upper()}"] = str(value)
        return env

    @field_validator("webhook_token", mode="before")
    @classmethod
    def _webhook_token_is_long_and_url_safe(cls, value: object) -> object:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if text is None or text == "":
            return None
        if not isinstance(text, str) or not re.fullmatch(r"[A-Za-z0-9_-]{16,}", text):
            raise ValueError(
                "Q2C_WEBHOOK_TOKEN must be at least 16 characters of A-Z, a-z, 0-9, '-' and '_' (it goes in "
                "the endpoint URL); make one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        return text

    @field_validator("salesforce_org_id")
    @classmethod
    def _org_id_is_a_real_salesforce_id(cls, value: str) -> str:
        from q2c.domain.salesforce_ids import normalize_salesforce_id

        return normalize_salesforce_id(value)  # its error names the id and the problem

    @field_validator("ca_path", "webhook_cert_file", "webhook_key_file", mode="before")
    @classmethod
    def _empty_path_is_unset(cls, value: object) -> object:
        # ``Q2C_CA_PATH=`` (as an env file or compose writes an unset variable) means "not set", not
        # Path(""), which is the current directory.
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _webhook_allowed_networks_are_cidrs(cls, value: str) -> str:
        _networks(value)
        return value

    @field_validator("webhook_trusted_proxies")
    @classmethod
    def _webhook_trusted_proxies_are_cidrs(cls, value: str) -> str:
        _networks(value, "Q2C_WEBHOOK_TRUSTED_PROXIES")
        return value

    @field_validator("webhook_public_url", mode="before")
    @classmethod
    def _webhook_public_url_is_https(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            raise ValueError("Q2C_WEBHOOK_PUBLIC_URL must be a URL such as https://q2c.example.com")
        url = urlsplit(value.strip())
        if url.scheme != "https" or not url.hostname or url.query or url.fragment:
            raise ValueError(
                f"Q2C_WEBHOOK_PUBLIC_URL {value!r} is not an https:// URL of a host (and optional path "
                "prefix, no query): Salesforce delivers outbound messages to it, e.g. https://q2c.example.com"
            )
        return value.strip().rstrip("/")

    @property
    def webhook_networks(self) -> tuple[IPNetwork, ...]:
        """The networks ``Q2C_WEBHOOK_ALLOWED_NETWORKS`` allows; empty: every source may deliver."""
        return _networks(self.webhook_allowed_networks)

    @property
    def webhook_proxy_networks(self) -> tuple[IPNetwork, ...]:
        """The networks ``Q2C_WEBHOOK_TRUSTED_PROXIES`` names; empty: no proxy is believed."""
        return _networks(self.webhook_trusted_proxies, "Q2C_WEBHOOK_TRUSTED_PROXIES")

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    def webhook_tls_files(self) -> tuple[Path, Path]:
        """(certificate, key) the webhook serves HTTPS with; FileNotFoundError says what to set."""
        cert = self.webhook_cert_file or self.tls_dir / "server.pem"
        key = self.webhook_key_file or self.tls_dir / "server-key.pem"
        for path, variable in ((cert, "Q2C_WEBHOOK_CERT_FILE"), (key, "Q2C_WEBHOOK_KEY_FILE")):
            if not path.is_file():
                raise FileNotFoundError(
                    f"the webhook's TLS file {path} does not exist: set {variable} to your certificate's "
                    "PEM file, or run `q2c sandbox up` (embedded default) to have the local CA issue one, "
                    "or set Q2C_WEBHOOK_TLS=false behind a proxy that terminates TLS"
                )
        return cert, key

    @property
    def sandbox_ca_path(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def uses_local_sandboxes(self) -> bool:
        """Whether Salesforce and NetSuite are both served on this machine (a loopback host): the
        embedded default's sandboxes."""
        return _is_loopback(self.salesforce_token_url) and _is_loopback(self.netsuite_base_url)

    def effective_ca_path(self) -> Path | None:
        """The CA bundle the connectors trust; None: the system trust store.

        ``Q2C_CA_PATH`` when set. Otherwise the local CA (data_dir/tls/ca.pem, which ``q2c demo`` and
        ``q2c sandbox up`` create), but only while both systems are the sandboxes on this machine: an org
        elsewhere is checked against the system CAs, whatever lies in the data directory."""
        if self.ca_path is not None:
            return self.ca_path
        if self.uses_local_sandboxes and self.sandbox_ca_path.exists():
            return self.sandbox_ca_path
        return None

    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'q2c.db').resolve()}"

    @property
    def webhook_url(self) -> str:
        """The endpoint URL to give Salesforce's outbound messages (with the token when one is set): on
        ``Q2C_WEBHOOK_PUBLIC_URL`` when set, else the address this process serves."""
        token = f"/{self.webhook_token.get_secret_value()}" if self.webhook_token else ""
        base = self.webhook_public_url
        if base is None:
            host = f"[{self.webhook_host}]" if ":" in self.webhook_host else self.webhook_host
            base = f"{'https' if self.webhook_tls else 'http'}://{host}:{self.webhook_port}"
        return f"{base}{WEBHOOK_PATH}{token}"

    @field_validator("payload_keys", mode="before")
    @classmethod
    def _payload_keys_parse(cls, value: object) -> object:
        if value is None or value == "":
            return None
        parse_key_ring(value.get_secret_value() if isinstance(value, SecretStr) else str(value))
        return value  # the ring's errors name an entry or key id, never a key

    def payload_key_ring(self) -> tuple[str, dict[str, bytes]] | None:
        """(the id new payloads are encrypted with, every key by id), or None when encryption is off."""
        if self.payload_keys is None:
            return None
        keys = parse_key_ring(self.payload_keys.get_secret_value())
        current = self.payload_key_id or next(iter(keys))
        if current not in keys:
            raise ValueError(
                f"Q2C_PAYLOAD_KEY_ID is {current!r}, but Q2C_PAYLOAD_KEYS holds only the keys "
                f"{', '.join(keys)}: add that key to the ring or name one of these"
            )
        return current, keys


def parse_key_ring(text: str) -> dict[str, bytes]:
    """``key-id:base64 key,...`` as {key id: key}; errors say which entry is wrong and never quote a key."""
    keys: dict[str, bytes] = {}
    for number, entry in enumerate((part.strip() for part in text.split(",")), start=1):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", key_id):
            raise ValueError(
                f"Q2C_PAYLOAD_KEYS entry {number} is not key-id:base64 key (a key id is 1-64 of A-Z, a-z, 0-9, "
                "'.', '_', '-'); make a key with: python -c 'import os,base64; "
                "print(base64.b64encode(os.urandom(32)).decode())'"
            )
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except binascii.Error:
            raise ValueError(f"Q2C_PAYLOAD_KEYS: the key of {key_id!r} is not valid base64") from None
        if len(key) not in (16, 24, 32):
            raise ValueError(
                f"Q2C_PAYLOAD_KEYS: the key of {key_id!r} is {len(key)} bytes; AES-GCM takes 16, 24 or 32 "
                "(32 recommended)"
            )
        if key_id in keys:
            raise ValueError(f"Q2C_PAYLOAD_KEYS names the key id {key_id!r} twice")
        keys[key_id] = key
    if not keys:
        raise ValueError("Q2C_PAYLOAD_KEYS is set but holds no key")
    return keys


def _is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _networks(text: str, variable: str = "Q2C_WEBHOOK_ALLOWED_NETWORKS") -> tuple[IPNetwork, ...]:
    networks = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            raise ValueError(
                f"{variable}: {entry!r} is not a network (e.g. 13.108.0.0/14 or 2001:db8::/32): {exc}"
            ) from None
    return tuple(networks)
