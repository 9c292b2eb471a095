"""The pollers at the volume that stalled them: a seeded org (``q2c sandbox seed --accounts N``), a
data load of thousands of records inside the overlap window, a NetSuite account that answers slowly.

On sandboxes of their own (module scope), seeded once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from q2c.config import Settings
from q2c.domain.messages import PollResult, SalesforcePollResult
from q2c.store import Store
from q2c_sandbox.generate import generate, load
from q2c_sandbox.local import LocalSandboxes, local_sandboxes
from temporal_client.accounts import workflow_status
from temporal_client.schedules import poll_input, salesforce_poll_once
from tests.conftest import q2c_test_settings
from tests.sessions import API, person_session
from workflows import names

pytestmark = pytest.mark.usefixtures("worker")
ACCOUNTS = 2000  # ~1150 NetSuite customers, ~60 of them on credit hold
LOADED = 2500  # a data load: more records inside the overlap window than one SOQL page (2000)
SALES_USER = "volume.rep@q2c.sandbox"


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalSandboxes, dict[str, int]]]:
    with local_sandboxes(tmp_path_factory.mktemp("volume-sandboxes")) as sandboxes:
        counts = load(generate(ACCOUNTS, seed=5), sandboxes.sf_admin, sandboxes.ns_admin)
        sandboxes.sf_admin.create_user(SALES_USER, first_name="Vol", last_name="Rep")
        yield sandboxes, counts


@pytest.fixture
def sandboxes(seeded: tuple[LocalSandboxes, dict[str, int]]) -> LocalSandboxes:
    return seeded[0]


@pytest.fixture
def settings(sandboxes: LocalSandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path) -> Settings:
    return q2c_test_settings(sandboxes, temporal_env, tmp_path)


def _netsuite_requests(sandboxes: LocalSandboxes) -> int:
    return sum(sandboxes.ns_admin.requests()["counts"].values())


async def test_the_first_netsuite_poll_of_a_real_sized_account_finishes_in_a_few_queries(
    client: Client, settings: Settings, seeded: tuple[LocalSandboxes, dict[str, int]], store: Store
) -> None:
    sandboxes, counts = seeded
    assert counts["customers"] > 1000 and counts["on_credit_hold"] > 20
    # A real account answers in tens of milliseconds, not in one.
    sandboxes.ns_admin.put("/latency", {"fixed_seconds": 0.06, "jitter_seconds": 0.0})
    sandboxes.ns_admin.clear_requests()
    started = time.monotonic()
    handle = await client.start_workflow(
        names.NETSUITE_POLL_WORKFLOW,
        poll_input(settings),
        id=f"poll:volume-{uuid.uuid4().hex[:8]}",
        task_queue=names.TASK_QUEUE,
        result_type=PollResult,
    )
    try:
        result = await asyncio.wait_for(handle.result(), 30)
        elapsed = time.monotonic() - started
    except TimeoutError:
        await handle.terminate("did not finish within 30 s")
        raise
    finally:
        sandboxes.ns_admin.put("/latency", {"fixed_seconds": 0.0, "jitter_seconds": 0.0})

    requests = _netsuite_requests(sandboxes)
    print(f"first NetSuite poll: {elapsed:.1f}s, {requests} NetSuite requests, {result}")
    assert requests < 25  # set-based: a handful of SuiteQL pages, not one GET per customer
    assert result.invoices_read == 0  # the first poll starts from now: nothing is replayed
    assert result.holds_raised >= counts["on_credit_hold"]  # every hold is still seen, by one query
    assert store.watermark("netsuite") == result.watermark


async def test_a_data_load_larger_than_a_page_inside_the_overlap_does_not_stall_the_salesforce_poller(
    client: Client, settings: Settings, sandboxes: LocalSandboxes, store: Store
) -> None:
    await salesforce_poll_once(client, settings)  # the first poll: the watermark only
    # A data load by the integration user: thousands of accounts with one SystemModstamp (to the second,
    # as a real org stamps a bulk load), then one change by a person, after it.
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    u = uuid.uuid4().hex[:6]
    sandboxes.sf_admin.load(
        {"Account": [{"Name": f"Loaded {u} {i}", "LastModifiedDate": stamp} for i in range(LOADED)]}
    )
    async with person_session(sandboxes, SALES_USER) as (http, _):
        reply = await http.post(f"{API}/sobjects/Account/", json={"Name": f"Person {u}"})
        assert reply.status_code == 201, reply.text
        changed = reply.json()["id"]

    polls: list[SalesforcePollResult] = []
    signalled = False
    for _ in range(4):
        polls.append(await salesforce_poll_once(client, settings))
        if polls[-1].accounts_signalled:
            signalled = True
            break

    print([(p.accounts_signalled, p.own_writes_skipped) for p in polls])
    assert signalled, f"the person's change was never read: {polls}"
    assert sum(p.own_writes_skipped for p in polls) >= LOADED  # every loaded record read, once
    assert sum(p.accounts_signalled for p in polls) == 1
    status = await workflow_status(client, names.account_workflow_id(changed))
    assert status.account_id == changed
