"""q2c pointed at sandboxes running on this machine (tests, benchmarks): the glue between the two, kept
out of both the product and the sandbox distribution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from q2c.config import Settings
from q2c_sandbox.local import LocalSandboxes
from q2c_sandbox.server import free_port


def q2c_settings(
    sandboxes: LocalSandboxes, data_dir: Path, temporal_address: str, **overrides: Any
) -> Settings:
    """q2c's settings for these sandboxes: their URLs and CA, a store and data under ``data_dir``."""
    values: dict[str, Any] = {
        "data_dir": data_dir / "data",
        "temporal_address": temporal_address,
        "database_url": f"sqlite:///{data_dir / 'q2c.db'}",
        "salesforce_token_url": f"{sandboxes.salesforce.base_url}/services/oauth2/token",
        "netsuite_base_url": sandboxes.netsuite.base_url,
        "ca_path": sandboxes.cert.ca_path,
        "webhook_port": free_port(),
    }
    return Settings(_env_file=None, **(values | overrides))
