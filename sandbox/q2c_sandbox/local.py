"""Both sandboxes on this machine, on free ports with one local CA, for tests and benchmarks."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from q2c_sandbox.admin_client import SandboxAdmin
from q2c_sandbox.netsuite.app import NetSuiteSandboxSettings
from q2c_sandbox.netsuite.app import create_app as create_netsuite_app
from q2c_sandbox.salesforce.app import SalesforceSandboxSettings
from q2c_sandbox.salesforce.app import create_app as create_salesforce_app
from q2c_sandbox.salesforce.values import BASE62
from q2c_sandbox.server import BackgroundServer, free_port
from q2c_sandbox.tls import ServerCert, ensure_server_cert


@dataclass
class LocalSandboxes:
    cert: ServerCert
    salesforce: BackgroundServer
    netsuite: BackgroundServer
    salesforce_settings: SalesforceSandboxSettings
    netsuite_settings: NetSuiteSandboxSettings
    sf_admin: SandboxAdmin
    ns_admin: SandboxAdmin


_instances = itertools.count(1)


def _next_instance() -> str:
    """Characters 4-5 of the Salesforce ids of the next sandboxes started in this process ("01", ...)."""
    n = next(_instances) % (62 * 62)
    return BASE62[n // 62] + BASE62[n % 62]


@contextmanager
def local_sandboxes(
    root: Path, *, salesforce: dict[str, Any] | None = None, netsuite: dict[str, Any] | None = None
) -> Iterator[LocalSandboxes]:
    """Serve both sandboxes (data under ``root``) until the block ends; extra settings by keyword."""
    cert = ensure_server_cert(root / "tls")
    # Each pair of sandboxes on its own instance: tests share one Temporal server, and two sandboxes
    # handing out the same account id would signal each other's account workflows.
    salesforce = {"instance": _next_instance(), **(salesforce or {})}
    sf_settings = SalesforceSandboxSettings(db_path=root / "salesforce.db", **salesforce)
    ns_settings = NetSuiteSandboxSettings(db_path=root / "netsuite.db", **(netsuite or {}))
    sf_server = BackgroundServer(create_salesforce_app(sf_settings), "127.0.0.1", free_port(), cert).start()
    ns_server = BackgroundServer(create_netsuite_app(ns_settings), "127.0.0.1", free_port(), cert).start()
    sf_admin = SandboxAdmin(sf_server.base_url, sf_settings.admin_key, cert.ca_path)
    ns_admin = SandboxAdmin(ns_server.base_url, ns_settings.admin_key, cert.ca_path)
    try:
        yield LocalSandboxes(cert, sf_server, ns_server, sf_settings, ns_settings, sf_admin, ns_admin)
    finally:
        sf_admin.close()
        ns_admin.close()
        sf_server.stop()
        ns_server.stop()
