"""Telling the orders that wait for stock that it changed: what the inventory sync calls after a change
in available quantities. Those orders re-read their opportunity (Product2.Quantity_Available__c) and go
ahead once every line's units are there."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from q2c.domain.messages import StockChanged
from q2c.domain.order import OrderStage
from workflows import names

SIGNAL_BATCH = 50  # signals in flight at once

AWAITING_STOCK_QUERY = (
    f'WorkflowType = "{names.ORDER_WORKFLOW}" AND {names.STAGE.name} = "{OrderStage.AWAITING_STOCK.value}"'
)


async def signal_orders_awaiting_stock(client: Client, *, reason: str = "stock changed") -> int:
    """Send ``stock_changed`` to every running order in ``awaiting_stock``; returns how many got it.

    Found by a visibility query, which may be seconds behind: an order that started waiting a moment
    ago and is not listed yet re-checks on its own timer (``Q2C_STOCK_RECHECK_SECONDS``)."""
    workflow_ids = [execution.id async for execution in client.list_workflows(AWAITING_STOCK_QUERY)]
    signalled = 0
    for start in range(0, len(workflow_ids), SIGNAL_BATCH):
        batch = workflow_ids[start : start + SIGNAL_BATCH]
        signalled += sum(await asyncio.gather(*(_signal(client, w, reason) for w in batch)))
    return signalled


async def _signal(client: Client, workflow_id: str, reason: str) -> int:
    try:
        await client.get_workflow_handle(workflow_id).signal(
            names.STOCK_CHANGED_SIGNAL, StockChanged(reason=reason)
        )
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return 0  # it finished (or was reset) since it was listed: nothing waits any more
        raise
    return 1
