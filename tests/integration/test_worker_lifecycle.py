"""The worker as it runs in production, on the dev server and the sandboxes: a stop (SIGTERM) lets the
running activities finish; a versioned worker registers its Worker Deployment version, is promoted with
``promote_build``, and the orders it runs say which build ran them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client
from temporalio.common import VersioningBehavior
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from q2c.config import Settings
from q2c.domain.messages import DealClosed
from temporal_client.connect import connect_temporal, register_search_attributes
from temporal_client.deployments import promote_build
from temporal_client.orders import ORDER_CREATED, deal_closed, wait_until_settled
from tests.conftest import Sandboxes, q2c_test_settings, until
from tests.factories import Catalog, make_deal
from worker import run_worker
from workflows import names


async def running_activity(client: Client, workflow_id: str) -> str | None:
    """The type of an activity of ``workflow_id`` a worker is running now, if any."""
    description = await client.get_workflow_handle(workflow_id).describe()
    for pending in description.raw_description.pending_activities:
        if pending.state == 2:  # PENDING_ACTIVITY_STATE_STARTED
            return str(pending.activity_type.name)
    return None


async def test_a_stopped_worker_lets_its_running_activities_finish(
    client: Client, sandboxes: Sandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path, catalog: Catalog
) -> None:
    settings = q2c_test_settings(
        sandboxes, temporal_env, tmp_path, account_sync=False, worker_shutdown_grace_seconds=30
    )
    deal = make_deal(sandboxes.sf_admin, catalog)
    workflow_id = names.order_workflow_id(deal.opportunity_id)
    stop = asyncio.Event()
    sandboxes.ns_admin.put("/latency", {"fixed_seconds": 1.5, "jitter_seconds": 0.0})
    try:
        running = asyncio.create_task(run_worker(settings, stop))
        await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
        activity = await until(lambda: running_activity(client, workflow_id), "a NetSuite call in flight")
        stop.set()  # what SIGTERM does
        await asyncio.wait_for(running, 60)
    finally:
        sandboxes.ns_admin.put("/latency", {"fixed_seconds": 0.0, "jitter_seconds": 0.0})

    # The activity that was running when the stop came completed on this worker before it exited.
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
    }
    outcomes = [
        e.event_type
        for e in history.events
        if (
            e.HasField("activity_task_completed_event_attributes")
            and e.activity_task_completed_event_attributes.scheduled_event_id in scheduled
        )
        or (
            e.HasField("activity_task_failed_event_attributes")
            and e.activity_task_failed_event_attributes.scheduled_event_id in scheduled
        )
    ]
    assert outcomes == [EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED], (activity, outcomes)

    # A new worker takes the order from there.
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(settings, stop))
    try:
        status = await wait_until_settled(client, deal.opportunity_id, 60)
        assert status.stage in ORDER_CREATED, status.attention_reason
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)


@pytest.fixture
async def namespace(client: Client) -> str:
    """A namespace of this test's own: a versioned task queue must not route other tests' tasks."""
    name = f"q2c-versioning-{uuid.uuid4().hex[:6]}"
    await client.workflow_service.register_namespace(
        RegisterNamespaceRequest(namespace=name, workflow_execution_retention_period=Duration(seconds=86400))
    )
    return name


async def test_a_versioned_worker_is_promoted_and_runs_orders_as_its_build(
    namespace: str, sandboxes: Sandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path, catalog: Catalog
) -> None:
    deployment = "q2c"
    settings = q2c_test_settings(
        sandboxes,
        temporal_env,
        tmp_path,
        account_sync=False,
        temporal_namespace=namespace,
        worker_deployment_name=deployment,
        worker_build_id="build-1",
    )
    client = await until(lambda: _connected(settings), f"namespace {namespace} usable")
    await register_search_attributes(client, namespace)
    stop = asyncio.Event()
    running = asyncio.create_task(run_worker(settings, stop))
    try:
        # The server knows a version once its workers have polled; until then it refuses to promote it.
        await until(lambda: _promoted(client, deployment, "build-1"), "build-1 promoted", within=60)
        deal = make_deal(sandboxes.sf_admin, catalog)
        await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
        status = await wait_until_settled(client, deal.opportunity_id, 60)
        assert status.stage in ORDER_CREATED, status.attention_reason
        described = await client.get_workflow_handle(names.order_workflow_id(deal.opportunity_id)).describe()
        versioning = described.raw_description.workflow_execution_info.versioning_info
        assert versioning.deployment_version.build_id == "build-1"
        assert versioning.deployment_version.deployment_name == deployment
        assert versioning.behavior == VersioningBehavior.AUTO_UPGRADE.value
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)


async def _connected(settings: Settings) -> Client | None:
    try:
        client = await connect_temporal(settings)
        await client.count_workflows()
        return client
    except RPCError:
        return None


async def _promoted(client: Client, deployment: str, build_id: str) -> bool:
    try:
        await promote_build(client, deployment, build_id)
        return True
    except RPCError:
        return False
