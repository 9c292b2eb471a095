"""Retrying every parked order at once: account sync workflows share ``Q2CStage``, and must not get an
order's ``retry``. On the real dev server; the workflows are started on a task queue no worker polls,
so their histories show exactly which signals reached them."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from starter.cli import order_query, retry_matching
from workflows import names

README = Path(__file__).parents[2] / "README.md"


async def _parked(client: Client, workflow_type: str, workflow_id: str, account_id: str) -> WorkflowHandle:
    handle: WorkflowHandle = await client.start_workflow(
        workflow_type,
        id=workflow_id,
        task_queue=f"nobody-polls-{uuid.uuid4().hex}",
        search_attributes=TypedSearchAttributes(
            [
                SearchAttributePair(names.STAGE, "needs_attention"),
                SearchAttributePair(names.SALESFORCE_ACCOUNT_ID, account_id),
            ]
        ),
    )
    return handle


async def _listed(client: Client, query: str, expected: int, within: float = 20.0) -> list[str]:
    """The workflow ids ``query`` lists once visibility has caught up with ``expected`` of them."""
    deadline = time.monotonic() + within
    while True:
        found = sorted([w.id async for w in client.list_workflows(query)])
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)  # the poll interval; the deadline bounds the wait


async def _signals(handle: WorkflowHandle) -> list[str]:
    return [
        event.workflow_execution_signaled_event_attributes.signal_name
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]


async def test_the_readme_bulk_retry_and_q2c_retry_query_reach_orders_only(client: Client) -> None:
    # Digits only: no upper-case letters, so the 18-character checksum is "AAA".
    account_id = f"001{uuid.uuid4().int % 10**12:012d}AAA"
    opportunity_id = f"006{uuid.uuid4().int % 10**12:012d}AAA"
    order = await _parked(client, names.ORDER_WORKFLOW, names.order_workflow_id(opportunity_id), account_id)
    account = await _parked(
        client, names.ACCOUNT_SYNC_WORKFLOW, names.account_workflow_id(account_id), account_id
    )
    mine = f'SalesforceAccountId="{account_id}"'
    assert len(await _listed(client, mine, expected=2)) == 2  # both are visible, both parked

    readme_query = re.search(
        r"temporal workflow signal --name retry [^\n]*\n\s*--query '([^']+)'", README.read_text()
    )
    assert readme_query, "README: the bulk retry command is gone"
    # Visibility has caught up with both (above): one listing is the answer.
    assert await _listed(client, f"({readme_query.group(1)}) AND {mine}", expected=0) == [order.id]

    retried = await retry_matching(client, f'Q2CStage="needs_attention" AND {mine}', reason="fixed the item")

    assert retried == [opportunity_id]
    assert await _signals(order) == [names.RETRY_SIGNAL]
    assert await _signals(account) == []


def test_any_query_is_narrowed_to_running_order_workflows() -> None:
    assert order_query('Q2CStage="needs_attention"') == (
        f'WorkflowType="{names.ORDER_WORKFLOW}" AND ExecutionStatus="Running" AND (Q2CStage="needs_attention")'
    )
