"""The order workflow's timer and signal paths on Temporal's time-skipping server, against the real
sandboxes: holds that last hours, a write-back that fails for good, a new run after retention, and
continue-as-new with signals arriving."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.netsuite import NetSuiteActivities
from activities.salesforce import SalesforceActivities
from q2c.config import Settings
from q2c.connectors.netsuite import NetSuiteClient
from q2c.domain.messages import (
    BillingChanged,
    DealClosed,
    DealReopened,
    OrderStatus,
    OrderStatusUpdate,
    ReadOpportunity,
    Written,
)
from q2c.domain.order import OrderStage, SyncStatus
from q2c.domain.records import Opportunity
from q2c.store import LinkKind, Store
from temporal_client.orders import ORDER_CREATED, deal_closed, order_status, retry_order
from tests.conftest import Sandboxes, activity_name, start_skipping_server
from tests.factories import Catalog, Deal, bill, make_deal, records_with, set_stage
from worker import build_workers, netsuite_client, salesforce_client
from workflows import names

HOUR = dt.timedelta(hours=1)


@dataclass
class Skipping:
    env: WorkflowEnvironment
    settings: Settings
    netsuite: NetSuiteClient

    async def close(self, opportunity_id: str) -> None:
        await deal_closed(
            self.env.client, self.settings, DealClosed(opportunity_id=opportunity_id, source="cli")
        )

    async def until(
        self, opportunity_id: str, stages: set[OrderStage] | frozenset[OrderStage]
    ) -> OrderStatus:
        """Wait (real time, bounded) for the order to reach one of ``stages``; time does not skip here
        except through the workflow's own timers while nothing else runs."""
        last = None
        for _ in range(300):
            try:
                last = await order_status(self.env.client, opportunity_id)
                if last.stage in stages:
                    return last
            except Exception:  # not started yet
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"order never reached {sorted(s.value for s in stages)}; last {last}")

    async def until_status(self, opportunity_id: str, check: Callable[[OrderStatus], bool]) -> OrderStatus:
        last = None
        for _ in range(300):
            last = await order_status(self.env.client, opportunity_id)
            if check(last):
                return last
            await asyncio.sleep(0.1)
        raise AssertionError(f"order status never satisfied the check; last {last}")

    async def activity_count(self, opportunity_id: str, method: Callable[..., Any]) -> int:
        handle = self.env.client.get_workflow_handle(names.order_workflow_id(opportunity_id))
        history = await handle.fetch_history()
        return sum(
            1
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == activity_name(method)
        )


@pytest.fixture
async def skipping(
    skipping_env: WorkflowEnvironment, settings: Settings, store: Store
) -> AsyncIterator[Skipping]:
    netsuite = netsuite_client(settings)
    order_worker, netsuite_worker = build_workers(skipping_env.client, settings, store, netsuite)
    try:
        async with order_worker, netsuite_worker:
            yield Skipping(skipping_env, settings, netsuite)
    finally:
        await netsuite.aclose()


class RefusingSalesforce(SalesforceActivities):
    """The real Salesforce activities, with switches that make one call fail for good (a validation
    rule on the "Synced" write, an outage of reads) until a person fixes it."""

    refuse_synced = False
    refuse_reads = False

    @activity.defn(name=activity_name(SalesforceActivities.write_order_status))
    async def write_order_status(self, request: OrderStatusUpdate) -> Written:
        if self.refuse_synced and request.status is SyncStatus.SYNCED:
            raise ApplicationError(
                "Salesforce update Opportunity failed (HTTP 400): FIELD_CUSTOM_VALIDATION_EXCEPTION: "
                "Close reason required",
                type="salesforce.FIELD_CUSTOM_VALIDATION_EXCEPTION",
                non_retryable=True,
            )
        return await super().write_order_status(request)

    @activity.defn(name=activity_name(SalesforceActivities.read_opportunity))
    async def read_opportunity(self, request: ReadOpportunity) -> Opportunity:
        if self.refuse_reads:
            raise ApplicationError(
                "Salesforce query failed (HTTP 401): INVALID_SESSION_ID: Session expired or invalid",
                type="salesforce.INVALID_SESSION_ID",
                non_retryable=True,
            )
        return await super().read_opportunity(request)


@pytest.fixture
async def refusing(
    skipping_env: WorkflowEnvironment, settings: Settings, store: Store
) -> AsyncIterator[tuple[Skipping, RefusingSalesforce]]:
    netsuite = netsuite_client(settings)
    salesforce = RefusingSalesforce(salesforce_client(settings))
    order_worker, netsuite_worker = build_workers(
        skipping_env.client, settings, store, netsuite, salesforce=salesforce
    )
    try:
        async with order_worker, netsuite_worker:
            yield Skipping(skipping_env, settings, netsuite), salesforce
    finally:
        await netsuite.aclose()


async def test_a_reopen_claim_survives_a_failed_check_and_is_settled_on_retry(
    refusing: tuple[Skipping, RefusingSalesforce], sandboxes: Sandboxes, catalog: Catalog
) -> None:
    run, salesforce = refusing
    deal = make_deal(sandboxes.sf_admin, catalog)
    await run.close(deal.opportunity_id)
    await run.until(deal.opportunity_id, {OrderStage.AWAITING_INVOICE})

    # The deal really reopens, but the check against Salesforce fails for good (expired session).
    await set_stage(run.settings, deal.opportunity_id, "Negotiation/Review")
    salesforce.refuse_reads = True
    handle = run.env.client.get_workflow_handle(names.order_workflow_id(deal.opportunity_id))
    await handle.signal(
        names.DEAL_REOPENED_SIGNAL, DealReopened(opportunity_id=deal.opportunity_id, source="test")
    )
    status = await run.until(deal.opportunity_id, {OrderStage.NEEDS_ATTENTION})
    assert "INVALID_SESSION_ID" in (status.attention_reason or "") and status.reopen_claimed

    # Fixed and retried: the claim is checked now (the outbound message was acknowledged long ago).
    salesforce.refuse_reads = False
    await retry_order(run.env.client, deal.opportunity_id, reason="session renewed")
    await run.until(deal.opportunity_id, {OrderStage.REOPENED})
    [order] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
    assert order["status"]["refName"] == "Closed"


async def test_a_deal_reopened_while_its_write_back_is_pending_closes_the_order_it_made(
    refusing: tuple[Skipping, RefusingSalesforce], sandboxes: Sandboxes, catalog: Catalog
) -> None:
    run, salesforce = refusing
    salesforce.refuse_synced = True
    deal = make_deal(sandboxes.sf_admin, catalog)
    await run.close(deal.opportunity_id)
    status = await run.until(deal.opportunity_id, {OrderStage.NEEDS_ATTENTION})
    assert status.pending_write_back is not None

    await set_stage(run.settings, deal.opportunity_id, "Negotiation/Review")
    handle = run.env.client.get_workflow_handle(names.order_workflow_id(deal.opportunity_id))
    await handle.signal(
        names.DEAL_REOPENED_SIGNAL, DealReopened(opportunity_id=deal.opportunity_id, source="test")
    )
    status = await run.until(deal.opportunity_id, {OrderStage.REOPENED})

    assert status.pending_write_back is None
    [order] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
    assert order["status"]["refName"] == "Closed"  # the order it made is not left open

    # Won again (and Salesforce takes the write now): the same order, reopened with the deal's lines.
    salesforce.refuse_synced = False
    await set_stage(run.settings, deal.opportunity_id, "Closed Won")
    await run.close(deal.opportunity_id)
    status = await run.until(deal.opportunity_id, set(ORDER_CREATED))
    [reopened] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
    assert reopened["id"] == order["id"] and reopened["status"]["refName"] != "Closed"
    assert status.sales_order_id == order["id"]


def _held_deal(sandboxes: Sandboxes, catalog: Catalog, store: Store) -> tuple[Deal, str]:
    customer = sandboxes.ns_admin.load(
        {
            "customer": [
                {
                    "companyName": "Long Hold Co",
                    "subsidiary": {"id": "1"},
                    "currency": {"id": "1"},
                    "creditHoldOverride": {"id": "ON"},
                }
            ]
        }
    )["customer"][0]
    deal = make_deal(sandboxes.sf_admin, catalog, account={"NetSuite_Internal_ID__c": customer})
    store.link(LinkKind.ACCOUNT, deal.account_id, customer)
    return deal, customer


async def test_a_credit_hold_longer_than_the_recheck_interval_is_rechecked_until_released(
    skipping: Skipping, sandboxes: Sandboxes, catalog: Catalog, store: Store
) -> None:
    # No poller runs: only the order's own re-check timer (1 h) can see the hold end.
    deal, customer = _held_deal(sandboxes, catalog, store)
    await skipping.close(deal.opportunity_id)
    await skipping.until(deal.opportunity_id, {OrderStage.AWAITING_CREDIT_RELEASE})

    await skipping.env.sleep(2 * HOUR + dt.timedelta(minutes=5))  # two re-check timers fire

    handle = skipping.env.client.get_workflow_handle(names.order_workflow_id(deal.opportunity_id))
    assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
    status = await order_status(skipping.env.client, deal.opportunity_id)
    assert status.stage is OrderStage.AWAITING_CREDIT_RELEASE
    assert (
        await skipping.activity_count(deal.opportunity_id, NetSuiteActivities.check_credit) >= 3
    )  # 0 h, 1 h, 2 h
    assert records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id) == []

    # Finance lifts the hold; nobody tells q2c. The next re-check finds it.
    await skipping.netsuite.patch("customer", customer, {"creditHoldOverride": {"id": "OFF"}})
    await skipping.env.sleep(HOUR)
    status = await skipping.until(deal.opportunity_id, set(ORDER_CREATED))
    assert len(records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)) == 1


async def test_a_deal_reopened_during_a_credit_hold_orders_nothing_until_won_again(
    skipping: Skipping, sandboxes: Sandboxes, catalog: Catalog, store: Store
) -> None:
    deal, customer = _held_deal(sandboxes, catalog, store)
    await skipping.close(deal.opportunity_id)
    await skipping.until(deal.opportunity_id, {OrderStage.AWAITING_CREDIT_RELEASE})
    handle = skipping.env.client.get_workflow_handle(names.order_workflow_id(deal.opportunity_id))

    # A stale claim first (Salesforce still says Closed Won): ignored, the order keeps waiting.
    claim = DealReopened(opportunity_id=deal.opportunity_id, source="outbound-message")
    await handle.signal(names.DEAL_REOPENED_SIGNAL, claim)
    status = await skipping.until_status(deal.opportunity_id, lambda s: s.stale_events == 1)
    assert status.stage is OrderStage.AWAITING_CREDIT_RELEASE and status.deal_won

    # Then the rep really reopens it: checked, and nothing is ordered.
    await set_stage(skipping.settings, deal.opportunity_id, "Negotiation/Review")
    await handle.signal(names.DEAL_REOPENED_SIGNAL, claim)
    await skipping.until(deal.opportunity_id, {OrderStage.REOPENED})
    await skipping.netsuite.patch("customer", customer, {"creditHoldOverride": {"id": "OFF"}})
    await skipping.env.sleep(2 * HOUR)  # no re-check timer orders a reopened deal
    assert (await order_status(skipping.env.client, deal.opportunity_id)).stage is OrderStage.REOPENED
    assert records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id) == []

    # Won again: ordered at once (the hold is gone).
    await set_stage(skipping.settings, deal.opportunity_id, "Closed Won")
    await skipping.close(deal.opportunity_id)
    await skipping.until(deal.opportunity_id, set(ORDER_CREATED))
    assert len(records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)) == 1


async def test_an_order_continues_as_new_while_billing_signals_keep_arriving(
    skipping: Skipping, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    skipping.settings.billing_checks_per_run = 2
    deal = make_deal(sandboxes.sf_admin, catalog, lines=[("WID-100", 2)])  # 240.00
    await skipping.close(deal.opportunity_id)
    status = await skipping.until(deal.opportunity_id, {OrderStage.AWAITING_INVOICE})
    handle = skipping.env.client.get_workflow_handle(
        names.order_workflow_id(deal.opportunity_id), result_type=OrderStatus
    )
    first_run = (await handle.describe()).run_id

    invoice_id = await bill(skipping.netsuite, status.sales_order_id or "")
    # A burst of signals: some land while a billing read runs, some while the run hands over.
    await asyncio.gather(
        *(handle.signal(names.BILLING_CHANGED_SIGNAL, BillingChanged(reason=f"burst {n}")) for n in range(8))
    )
    status = await skipping.until(deal.opportunity_id, {OrderStage.AWAITING_PAYMENT})

    assert (await handle.describe()).run_id != first_run and status.runs > 1
    [invoice] = records_with(sandboxes.sf_admin, "NetSuite_Invoice__c", NetSuite_Invoice_ID__c=invoice_id)
    assert invoice["Amount__c"] == 240.0
    assert status.invoices and invoice_id in status.invoices  # carried into the new run


async def test_a_write_back_that_fails_for_good_keeps_the_sales_order_and_retry_finishes_it(
    skipping_env: WorkflowEnvironment,
    settings: Settings,
    store: Store,
    sandboxes: Sandboxes,
    catalog: Catalog,
) -> None:
    # Salesforce refuses the "Synced" status write (say a validation rule) until a person fixes it.
    netsuite = netsuite_client(settings)
    salesforce = RefusingSalesforce(salesforce_client(settings))
    salesforce.refuse_synced = True
    patched, netsuite_worker = build_workers(
        skipping_env.client, settings, store, netsuite, salesforce=salesforce
    )
    deal = make_deal(sandboxes.sf_admin, catalog)
    try:
        async with patched, netsuite_worker:
            run = Skipping(skipping_env, settings, netsuite)
            await run.close(deal.opportunity_id)
            status = await run.until(deal.opportunity_id, {OrderStage.NEEDS_ATTENTION})

            assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" in (status.attention_reason or "")
            [order] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
            assert order["status"]["refName"] != "Closed"  # kept: the order itself is right
            assert status.pending_write_back == order["id"]
            assert await run.activity_count(deal.opportunity_id, NetSuiteActivities.close_sales_order) == 0

            salesforce.refuse_synced = False
            await retry_order(skipping_env.client, deal.opportunity_id, reason="validation rule fixed")
            status = await run.until(deal.opportunity_id, set(ORDER_CREATED))
            assert await run.activity_count(deal.opportunity_id, NetSuiteActivities.upsert_sales_order) == 1
    finally:
        await netsuite.aclose()

    assert status.sales_order_id == order["id"]
    [opportunity] = records_with(sandboxes.sf_admin, "Opportunity", Id=deal.opportunity_id)
    assert opportunity["NetSuite_Sales_Order_ID__c"] == order["id"]
    assert opportunity["Q2C_Sync_Status__c"] == "Synced"


async def test_a_new_run_after_retention_never_rewrites_a_billed_order(
    settings: Settings, store: Store, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog, lines=[("WID-100", 3)])
    netsuite = netsuite_client(settings)
    try:
        # The first run, on one server: ordered and billed.
        first = await start_skipping_server()
        order_worker, netsuite_worker = build_workers(first.client, settings, store, netsuite)
        async with order_worker, netsuite_worker:
            run = Skipping(first, settings, netsuite)
            await run.close(deal.opportunity_id)
            status = await run.until(deal.opportunity_id, {OrderStage.AWAITING_INVOICE})
            invoice_id = await bill(netsuite, status.sales_order_id or "")
        await first.shutdown()
        [billed] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)

        # A rep edits the won deal's quantity; months later a redelivered deal_closed reaches a
        # Temporal that no longer has the finished run (a fresh server stands for retention).
        [line] = records_with(sandboxes.sf_admin, "OpportunityLineItem", OpportunityId=deal.opportunity_id)
        await asyncio.to_thread(
            salesforce_client(settings).update, "OpportunityLineItem", line["Id"], {"Quantity": 30}
        )
        second = await start_skipping_server()
        order_worker, netsuite_worker = build_workers(second.client, settings, store, netsuite)
        async with order_worker, netsuite_worker:
            run = Skipping(second, settings, netsuite)
            await run.close(deal.opportunity_id)
            status = await run.until(deal.opportunity_id, {OrderStage.AWAITING_PAYMENT})
            upserts = await run.activity_count(deal.opportunity_id, NetSuiteActivities.upsert_sales_order)
        await second.shutdown()
    finally:
        await netsuite.aclose()

    assert upserts == 0
    assert status.sales_order_id == billed["id"] and invoice_id in status.invoices
    [order] = records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)
    assert [i["quantity"] for i in order["item"]["items"]] == [i["quantity"] for i in billed["item"]["items"]]
