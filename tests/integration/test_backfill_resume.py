"""A backfill survives its worker SIGKILLed twice mid-write and the Temporal server restarted, and ends with
exactly what an uninterrupted run of the same data does: no duplicate, no gap.

Real parts only: a Temporal dev server of its own (SQLite file, so it can be restarted), worker processes
(`q2c worker`), both sandboxes over HTTPS loaded with `q2c sandbox seed`'s generator.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from devtools.sandboxes import q2c_settings
from devtools.temporal_server import dev_server_command
from q2c.config import Settings
from q2c.domain.messages.backfill import BackfillOptions, BackfillRequest, BackfillStage, BackfillStatus
from q2c_sandbox.generate import generate, load
from q2c_sandbox.local import LocalSandboxes, local_sandboxes
from q2c_sandbox.server import free_port
from temporal_client.backfill import backfill_status, start_backfill
from tests.conftest import until
from tests.integration.test_worker_crash import WorkerProcesses

ACCOUNTS = 60


class DevServer:
    """A Temporal dev server process on a fixed port and database file, restartable."""

    def __init__(self, settings: Settings, db_file: Path, log: Path) -> None:
        self.port = int(settings.temporal_address.rsplit(":", 1)[1])
        self._command = dev_server_command(settings, port=self.port, ui_port=free_port(), db_file=db_file)
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(self._command, stdout=self._log.open("ab"), stderr=subprocess.STDOUT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)

    async def client(self) -> Client:
        async def connect() -> Client | None:
            try:
                return await Client.connect(f"127.0.0.1:{self.port}", data_converter=pydantic_data_converter)
            except RuntimeError:
                return None

        client: Client = await until(connect, "the Temporal dev server accepting connections", within=60)
        return client


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DevServer]:
    settings = q2c_settings_for(None, tmp_path)
    dev = DevServer(settings, tmp_path / "temporal.db", tmp_path / "temporal.log")
    dev.start()
    try:
        yield dev
    finally:
        dev.stop()


def q2c_settings_for(sandboxes: LocalSandboxes | None, tmp_path: Path, port: int | None = None) -> Settings:
    address = f"127.0.0.1:{port or _PORT.setdefault(str(tmp_path), free_port())}"
    if sandboxes is None:
        return Settings(_env_file=None, temporal_address=address)
    return q2c_settings(
        sandboxes,
        tmp_path,
        address,
        account_sync=False,
        activity_timeout_seconds=30,
        activity_max_attempts=20,
        activity_max_interval_seconds=1,
    )


_PORT: dict[str, int] = {}


def _options() -> BackfillOptions:
    return BackfillOptions(
        activity_timeout_seconds=30,
        activity_max_attempts=20,
        activity_max_interval_seconds=1,
        page_size=100,
        netsuite_batch=3,
        netsuite_slots=2,
        salesforce_batch=10,
        bulk_threshold=8,
        batches_per_run=8,
        poll_seconds=0.2,
        heartbeat_seconds=5,
    )


def _outcome(sandboxes: LocalSandboxes, status: BackfillStatus) -> dict[str, object]:
    """What a run left, by names (the two runs' sandboxes give the same records different ids)."""
    accounts = sandboxes.sf_admin.records("Account")
    customers = sandboxes.ns_admin.records("customer")
    name_of = {str(c["id"]): c["companyName"] for c in customers}
    account_name = {a["Id"]: a["Name"] for a in accounts}
    pairs = sorted(
        (a["Name"], name_of.get(str(a.get("NetSuite_Internal_ID__c")), "?"))
        for a in accounts
        if a.get("NetSuite_Internal_ID__c")
    )
    back = sorted(
        (c["companyName"], account_name.get(str(c.get("custentity_sf_account_id")), "?"))
        for c in customers
        if c.get("custentity_sf_account_id")
    )
    linked = [str(a["NetSuite_Internal_ID__c"]) for a in accounts if a.get("NetSuite_Internal_ID__c")]
    pointing = [str(c["custentity_sf_account_id"]) for c in customers if c.get("custentity_sf_account_id")]
    return {
        "one_account_per_customer": len(linked) == len(set(linked)),
        "one_customer_per_account": len(pointing) == len(set(pointing)),
        "accounts": len(accounts),
        "customers": len(customers),
        "pairs": pairs,
        "back": back,
        "planned": status.scope_counts(next(iter(status.scopes))).planned,
        "written": status.scope_counts(next(iter(status.scopes))).written,
        "failed": status.scope_counts(next(iter(status.scopes))).failed,
    }


def _seed(sandboxes: LocalSandboxes) -> None:
    load(generate(ACCOUNTS, seed=7), sandboxes.sf_admin, sandboxes.ns_admin)
    # Slow NetSuite down so the kills land while writes are in flight.
    sandboxes.ns_admin.put("/latency", {"fixed_seconds": 0.05, "jitter_seconds": 0.0, "seed": 1})


async def _status(client: Client, run_id: str) -> BackfillStatus | None:
    try:
        status, _ = await backfill_status(client, run_id)
    except Exception:
        return None
    return status


async def test_killed_twice_and_the_server_restarted_it_ends_as_an_uninterrupted_run(
    server: DevServer, tmp_path: Path
) -> None:
    client = await server.client()
    request = BackfillRequest(run_id="whole", options=_options())
    with local_sandboxes(tmp_path / "quiet") as quiet:
        _seed(quiet)
        settings = q2c_settings_for(quiet, tmp_path / "quiet", server.port)
        workers = WorkerProcesses(settings, tmp_path)
        workers.start()
        try:
            whole = await (await start_backfill(client, request)).result()
        finally:
            workers.stop_all()
        expected = _outcome(quiet, whole)
    assert whole.stage == BackfillStage.DONE and whole.problems == []

    with local_sandboxes(tmp_path / "rough") as rough:
        _seed(rough)
        settings = q2c_settings_for(rough, tmp_path / "rough", server.port)
        workers = WorkerProcesses(settings, tmp_path / "rough")
        first = workers.start()
        run = request.model_copy(update={"run_id": "interrupted"})
        await start_backfill(client, run)

        async def written(at_least: int) -> bool:
            status = await _status(client, "interrupted")
            return status is not None and status.netsuite_writes + status.salesforce_writes >= at_least

        try:
            await until(lambda: written(4), "the first NetSuite writes", within=60)
            os.kill(first.pid, signal.SIGKILL)
            second = workers.start()
            await until(lambda: written(12), "writes after the first kill", within=90)
            os.kill(second.pid, signal.SIGKILL)
            workers.start()
            await until(lambda: written(20), "writes after the second kill", within=90)
            server.stop()  # the Temporal server itself goes down mid-run, and comes back
            server.start()
            client = await server.client()
            handle = client.get_workflow_handle("backfill:interrupted", result_type=BackfillStatus)
            interrupted = await asyncio.wait_for(handle.result(), 180)
        finally:
            workers.stop_all()
        actual = _outcome(rough, interrupted)

    assert interrupted.stage == BackfillStage.DONE and interrupted.problems == []
    assert interrupted.runs > 1  # it continued as new on the way
    assert actual == expected
    assert actual["one_account_per_customer"] and actual["one_customer_per_account"]
