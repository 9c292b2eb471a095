"""Starting and steering order workflows: what the webhook, the CLI and the demo share."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from dataclasses import dataclass

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from q2c.config import Settings
from q2c.domain.messages import (
    CreditApproval,
    DealClosed,
    DealReopened,
    OrderInput,
    OrderOptions,
    OrderStatus,
    RecordLinks,
    RetryRequest,
)
from q2c.domain.order import OrderStage, StockShortfallPolicy
from q2c.domain.salesforce_ids import normalize_salesforce_id
from temporal_client.connect import connect_config
from temporal_client.limits import activity_limits
from workflows import names


def _order_workflow_id(opportunity_id: str) -> str:
    """``order:{18-character id}`` for either form of the id, so the CLI's 15-character ids (copied from
    Salesforce's URLs) and the webhook's 18-character ones reach one workflow; InvalidSalesforceId names a
    wrong one."""
    return names.order_workflow_id(normalize_salesforce_id(opportunity_id))


def record_links(settings: Settings) -> RecordLinks:
    """The two user interfaces' base URLs, for links in the web UI's details."""
    salesforce_ui = settings.salesforce_ui_url or settings.salesforce_token_url.split("/services/")[0]
    return RecordLinks(
        salesforce=salesforce_ui, netsuite=settings.netsuite_ui_url or settings.netsuite_base_url
    )


def order_input(settings: Settings, opportunity_id: str) -> OrderInput:
    return OrderInput(
        opportunity_id=opportunity_id,
        options=OrderOptions(
            **activity_limits(settings),
            billing_recheck_seconds=settings.billing_recheck_seconds,
            credit_recheck_seconds=settings.credit_recheck_seconds,
            credit_overdue_days=settings.credit_overdue_days,
            billing_checks_per_run=settings.billing_checks_per_run,
            stock_shortfall=StockShortfallPolicy(settings.stock_shortfall),
            stock_recheck_seconds=settings.stock_recheck_seconds,
        ),
        links=record_links(settings),
    )


@dataclass(frozen=True)
class DealClosedOutcome:
    workflow_id: str
    run_id: str | None
    already_completed: bool  # the order workflow for this deal had already finished


async def deal_closed(client: Client, settings: Settings, event: DealClosed) -> DealClosedOutcome:
    """Signal-with-start ``deal_closed``: starts the order workflow or signals the running one.

    A second run for the same deal is refused (reuse policy): once the order exists the workflow is
    done, and a late or repeated notification is acknowledged without doing anything.
    """
    event = event.model_copy(update={"opportunity_id": normalize_salesforce_id(event.opportunity_id)})
    workflow_id = _order_workflow_id(event.opportunity_id)
    try:
        handle: WorkflowHandle[object, object] = await client.start_workflow(
            names.ORDER_WORKFLOW,
            order_input(settings, event.opportunity_id),
            id=workflow_id,
            task_queue=names.TASK_QUEUE,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            start_signal=names.DEAL_CLOSED_SIGNAL,
            start_signal_args=[event],
            static_summary=f"Order for opportunity {event.opportunity_id}",
        )
    except WorkflowAlreadyStartedError:
        return DealClosedOutcome(workflow_id, None, already_completed=True)
    return DealClosedOutcome(workflow_id, handle.result_run_id, already_completed=False)


async def retry_order(client: Client, opportunity_id: str, reason: str = "") -> None:
    handle = client.get_workflow_handle(_order_workflow_id(opportunity_id))
    await handle.signal(names.RETRY_SIGNAL, RetryRequest(reason=reason))


async def approve_credit(client: Client, opportunity_id: str, approved_by: str, note: str = "") -> None:
    handle = client.get_workflow_handle(_order_workflow_id(opportunity_id))
    await handle.signal(names.APPROVE_CREDIT_SIGNAL, CreditApproval(approved_by=approved_by, note=note))


async def deal_reopened(client: Client, event: DealReopened) -> bool:
    """Tell a running order its deal left Closed Won; False when no order workflow runs for it."""
    event = event.model_copy(update={"opportunity_id": normalize_salesforce_id(event.opportunity_id)})
    handle = client.get_workflow_handle(_order_workflow_id(event.opportunity_id))
    try:
        await handle.signal(names.DEAL_REOPENED_SIGNAL, event)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False  # never ordered, or the order finished: nothing to undo
        raise
    return True


async def order_status(client: Client, opportunity_id: str) -> OrderStatus:
    """The order's status: live from a running workflow, its result once finished."""
    handle = client.get_workflow_handle(_order_workflow_id(opportunity_id), result_type=OrderStatus)
    description = await handle.describe()
    if description.status == WorkflowExecutionStatus.COMPLETED:
        return await handle.result()
    return await handle.query(names.STATUS_QUERY, result_type=OrderStatus)


def web_ui_link(settings: Settings, opportunity_id: str) -> str:
    """The order's page in the web UI, in the namespace q2c connects to (Temporal's or q2c's settings)."""
    workflow_id = _order_workflow_id(opportunity_id)
    namespace = connect_config(settings)["namespace"]
    return f"{settings.temporal_ui_url}/namespaces/{namespace}/workflows/{workflow_id}"


# The sales order exists (whatever its billing): what "the deal became an order" means to a waiter.
ORDER_CREATED = frozenset(
    {
        OrderStage.SALES_ORDER_CREATED,
        OrderStage.AWAITING_INVOICE,
        OrderStage.AWAITING_PAYMENT,
        OrderStage.PAID,
    }
)
# Where an order stays until something outside q2c happens.
SETTLED = ORDER_CREATED | {
    OrderStage.NEEDS_ATTENTION,
    OrderStage.AWAITING_CREDIT_RELEASE,
    OrderStage.AWAITING_STOCK,
    OrderStage.REOPENED,
    OrderStage.OPPORTUNITY_NOT_FOUND,
}


async def wait_until_settled(
    client: Client,
    opportunity_id: str,
    within_seconds: float,
    stages: Collection[OrderStage] = SETTLED,
) -> OrderStatus:
    """Poll the order's status until it reaches one of ``stages``; TimeoutError names the last stage."""
    deadline = time.monotonic() + within_seconds
    last: OrderStatus | None = None
    while time.monotonic() < deadline:
        try:
            last = await order_status(client, opportunity_id)
            if last.stage in stages:
                return last
        except RPCError:
            pass  # not started yet (the notification is on its way)
        await asyncio.sleep(0.2)
    raise TimeoutError(
        f"order for opportunity {opportunity_id} did not reach {sorted(s.value for s in stages)} within "
        f"{within_seconds:.0f}s (last stage: {last.stage.value if last else 'not started'})"
    )
