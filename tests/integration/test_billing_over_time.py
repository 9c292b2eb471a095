"""Months of billing in seconds, on Temporal's time-skipping test server: no poller at all, only the
order's own durable re-check timer finds the invoice days later and the payments weeks later."""

from __future__ import annotations

import asyncio
import datetime as dt

from temporalio.testing import WorkflowEnvironment

from q2c.config import Settings
from q2c.domain.messages import DealClosed, OrderStatus
from q2c.domain.order import OrderStage
from q2c.store import Store
from temporal_client.orders import deal_closed, order_status
from tests.conftest import Sandboxes
from tests.factories import Catalog, bill, make_deal, pay, records_with
from worker import build_workers, netsuite_client
from workflows import names

RECHECK = dt.timedelta(hours=6)


async def _stage(
    env: WorkflowEnvironment, opportunity_id: str, stage: OrderStage, *, skip: dt.timedelta
) -> OrderStatus:
    """Let time pass (skipping) one re-check interval at a time until the order reaches ``stage``."""
    for _ in range(40):
        status = await order_status(env.client, opportunity_id)
        if status.stage is stage:
            return status
        await env.sleep(skip)
    history = await env.client.get_workflow_handle(names.order_workflow_id(opportunity_id)).fetch_history()
    events = [(e.event_id, e.event_type) for e in history.events][-40:]
    raise AssertionError(f"order never reached {stage.value}; last {status.stage.value}; {events} {status}")


async def test_the_recheck_timer_alone_follows_billing_over_weeks(
    skipping_env: WorkflowEnvironment,
    settings: Settings,
    sandboxes: Sandboxes,
    catalog: Catalog,
    store: Store,
) -> None:
    settings.billing_recheck_seconds = RECHECK.total_seconds()
    netsuite = netsuite_client(settings)
    order_worker, netsuite_worker = build_workers(skipping_env.client, settings, store, netsuite)
    deal = make_deal(sandboxes.sf_admin, catalog, lines=[("GW-X1", 2)])  # 2500.00
    try:
        async with order_worker, netsuite_worker:
            await deal_closed(
                skipping_env.client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli")
            )
            started = await skipping_env.get_current_time()
            status = await _stage(
                skipping_env, deal.opportunity_id, OrderStage.AWAITING_INVOICE, skip=dt.timedelta(seconds=1)
            )

            # Finance bills three days later; the order notices at its next re-check.
            await skipping_env.sleep(dt.timedelta(days=3))
            invoice_id = await bill(netsuite, status.sales_order_id or "")
            status = await _stage(
                skipping_env, deal.opportunity_id, OrderStage.AWAITING_PAYMENT, skip=RECHECK
            )
            assert records_with(sandboxes.sf_admin, "NetSuite_Invoice__c", NetSuite_Invoice_ID__c=invoice_id)

            # A partial payment after two weeks, the rest after four.
            await skipping_env.sleep(dt.timedelta(days=14))
            await pay(netsuite, status.netsuite_customer_id or "", invoice_id, 1000.0)
            for _ in range(10):
                if (await order_status(skipping_env.client, deal.opportunity_id)).paid == 1000:
                    break
                await skipping_env.sleep(RECHECK)
            [opportunity] = records_with(sandboxes.sf_admin, "Opportunity", Id=deal.opportunity_id)
            assert (opportunity["Billed_Amount__c"], opportunity["Paid_Amount__c"]) == (2500.0, 1000.0)

            await skipping_env.sleep(dt.timedelta(days=14))
            await pay(netsuite, status.netsuite_customer_id or "", invoice_id, 1500.0)
            handle = skipping_env.client.get_workflow_handle(
                names.order_workflow_id(deal.opportunity_id), result_type=OrderStatus
            )
            final = await asyncio.wait_for(handle.result(), 60)  # awaiting the result lets time skip
            elapsed = await skipping_env.get_current_time() - started
    finally:
        await netsuite.aclose()

    assert final.stage is OrderStage.PAID and final.paid == 2500
    assert elapsed > dt.timedelta(days=31)  # a month of workflow time ...
    [invoice] = records_with(sandboxes.sf_admin, "NetSuite_Invoice__c", NetSuite_Invoice_ID__c=invoice_id)
    assert (invoice["Amount_Due__c"], invoice["Status__c"]) == (0.0, "Paid In Full")
