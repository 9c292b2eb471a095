"""q2c pointed at sandboxes running on this machine (tests, benchmarks): the glue between the two, kept
out of both the product and the sandbox distribution."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from q2c.config import Settings
from q2c.domain.onboarding import DEFAULT_ONBOARDING_PATH
from q2c_sandbox.local import LocalSandboxes
from q2c_sandbox.server import free_port


def q2c_settings(
    sandboxes: LocalSandboxes, data_dir: Path, temporal_address: str, **overrides: Any
) -> Settings:
    """q2c's settings for these sandboxes: their URLs and CA, a store and data under ``data_dir``.
    Onboarding is off unless ``onboarding_path`` is given: the shipped file's roster names users only the
    demo's seed has, and orders measured or tested here are not about onboarding."""
    if "onboarding_path" not in overrides:
        data_dir.mkdir(parents=True, exist_ok=True)
        overrides["onboarding_path"] = data_dir / "onboarding-off.toml"
        overrides["onboarding_path"].write_text(
            DEFAULT_ONBOARDING_PATH.read_text().replace("enabled = true", "enabled = false", 1)
        )
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
