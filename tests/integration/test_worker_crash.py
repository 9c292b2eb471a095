"""A worker process killed (SIGKILL) in the middle of an order: another one finishes it, with one order."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import PendingActivityState
from temporalio.client import Client

from activities.netsuite import NetSuiteActivities
from q2c.config import Settings
from q2c.domain.messages import DealClosed
from temporal_client.orders import ORDER_CREATED, deal_closed, wait_until_settled
from tests.conftest import Sandboxes, activity_name
from tests.factories import Catalog, make_deal, records_with
from workflows import names

REPO = Path(__file__).parents[2]


class WorkerProcesses:
    def __init__(self, settings: Settings, log_dir: Path) -> None:
        self._env = {**os.environ, **settings.to_env()}
        self._log_dir = log_dir
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = (self._log_dir / f"worker-{len(self.started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "starter.cli", "worker"],
            cwd=REPO,
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait()


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[WorkerProcesses]:
    processes = WorkerProcesses(settings, tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()


async def _wait_for_started_activity(
    client: Client, workflow_id: str, activity: Callable[..., Any], within: float
) -> None:
    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        description = await handle.describe()
        pending = description.raw_description.pending_activities
        if any(
            p.activity_type.name == activity_name(activity)
            and p.state == PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
            for p in pending
        ):
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"{activity_name(activity)} did not start within {within}s")


async def test_worker_killed_mid_order_is_replaced_and_the_order_completes_once(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog, workers: WorkerProcesses
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog)
    first = workers.start()
    # Slow NetSuite down so the kill lands while the sales order write is in flight.
    sandboxes.ns_admin.put("/latency", {"seconds": 1.5})
    try:
        await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
        await _wait_for_started_activity(
            client, names.order_workflow_id(deal.opportunity_id), NetSuiteActivities.upsert_sales_order, 60
        )
        os.kill(first.pid, signal.SIGKILL)
        assert first.wait(10) == -signal.SIGKILL
    finally:
        sandboxes.ns_admin.put("/latency", {"seconds": 0})

    workers.start()
    status = await wait_until_settled(client, deal.opportunity_id, 90, stages=ORDER_CREATED)

    assert status.sales_order_id is not None
    [order] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
    assert len(order["item"]["items"]) == 2  # the repeated upsert replaced its lines, not added to them
    assert len(records_with(sandboxes.ns_admin, "customer", externalId=deal.account_id)) == 1
    [opportunity] = records_with(sandboxes.sf_admin, "Opportunity", Id=deal.opportunity_id)
    assert opportunity["NetSuite_Sales_Order_ID__c"] == status.sales_order_id
