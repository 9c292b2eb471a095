"""The Salesforce sandbox's settings (re-exported by ``app``, where callers import them from)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from q2c_sandbox.common import SandboxSettings
from q2c_sandbox.salesforce.sfdx import default_project


@dataclass
class SalesforceSandboxSettings(SandboxSettings):
    org_id: str = "00D000000000Q2CEAU"
    # Characters 4-5 of every record id (a real org's pod): sandboxes sharing one Temporal server in
    # tests take different ones, so their records' workflow ids never collide.
    instance: str = "00"

    client_id: str = "q2c-sandbox-client"
    client_secret: str = "q2c-sandbox-secret"
    username: str = "integration@q2c.sandbox"
    password: str = "q2c-sandbox-password"
    session_ttl_seconds: int = 7200
    daily_api_requests: int = 100_000
    # CA bundle to trust when POSTing outbound messages (the webhook uses the same local CA).
    outbound_ca_path: Path | None = None
    # Redelivery back-off: base * 2^attempt, capped (a real org retries for 24 hours).
    outbound_retry_base_seconds: float = 1.0
    outbound_retry_max_seconds: float = 30.0
    # Another schema file of standard objects; None means the bundled schema.toml.
    schema_path: Path | None = None
    # The SFDX project (its force-app) whose custom objects and fields the org has, as if deployed: by
    # default q2c's metadata/salesforce/force-app beside a source checkout; None: no custom fields.
    metadata_path: Path | None = field(default_factory=default_project)
    # The connected app's certificate (PEM, RSA) for the JWT bearer grant; the admin API can replace it.
    jwt_certificate_path: Path | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9A-Za-z]{2}", self.instance):
            raise ValueError(f"instance {self.instance!r}: two characters of 0-9, A-Z, a-z")
