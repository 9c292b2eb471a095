"""Stock at deal close and fulfilments shown on the opportunity, on Temporal's time-skipping server with
Salesforce and NetSuite played by in-memory activities: a hold that waits for ``stock_changed`` or its
re-check timer (hours, skipped), retry and a reopened deal while waiting, the warning of the default
policy cleared by a later read, and fulfilments written only when what Salesforce shows changed.

The real systems' side of the same paths runs end to end in tests/integration/test_fulfilment_to_salesforce.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.mapping import MappingActivities
from activities.netsuite import NetSuiteActivities
from activities.netsuite_accounts import NetSuiteAccountActivities
from activities.salesforce import SalesforceActivities
from q2c.config import Settings
from q2c.domain.billing import CreditState, Fulfillment, FulfillmentLine, OrderBilling
from q2c.domain.mapping import Mapping, load_mapping
from q2c.domain.messages import (
    BillingChanged,
    BillingTotals,
    CheckCredit,
    ChooseMatch,
    CloseSalesOrder,
    DealClosed,
    DealReopened,
    FulfillmentUpsert,
    GetOrderBilling,
    GetSalesOrder,
    InvoiceUpsert,
    LinkAccount,
    LinkPair,
    LoadMapping,
    OrderStatus,
    OrderStatusUpdate,
    ReadOpportunity,
    SalesOrderRef,
    StockChanged,
    Written,
)
from q2c.domain.order import OrderStage, SalesOrderUpsert, SyncStatus
from q2c.domain.records import Account, Opportunity, OpportunityLine, Product, SalesOrder
from q2c.domain.salesforce_ids import to_18
from temporal_client.orders import ORDER_CREATED, deal_closed, order_status, retry_order
from temporal_client.stock import signal_orders_awaiting_stock
from tests.conftest import activity_name
from workflows import names
from workflows.order_to_cash import OrderToCash

HOUR = dt.timedelta(hours=1)
SALES_ORDER = "900"


def _opportunity(quantity: int, available: int | None) -> Opportunity:
    return Opportunity(
        id=to_18(f"006{uuid.uuid4().hex[:12].upper()}"),
        name="Stock Test - Widgets",
        stage="Closed Won",
        is_won=True,
        is_closed=True,
        amount=Decimal(120 * quantity),
        currency="USD",
        close_date=dt.date(2026, 11, 20),
        account=Account(id="001000000000001AAA", name="Stock Test Co", netsuite_customer_id="77"),
        lines=[
            OpportunityLine(
                id="00k000000000001AAA",
                product=Product(
                    id="01t000000000001AAA",
                    name="Widget Standard",
                    code="WID-100",
                    netsuite_item_id="11",
                    quantity_available=Decimal(available) if available is not None else None,
                ),
                quantity=Decimal(quantity),
                unit_price=Decimal(120),
                total_price=Decimal(120 * quantity),
            )
        ],
    )


class Systems:
    """Salesforce and NetSuite as the order sees them through its activities, in memory: the
    opportunity (stock and warning included), every write, and the billing NetSuite reports."""

    def __init__(self, opportunity: Opportunity) -> None:
        self.opportunity = opportunity
        self.reads = 0
        self.status_writes: list[OrderStatusUpdate] = []
        self.totals: list[BillingTotals] = []
        self.fulfillment_writes: list[FulfillmentUpsert] = []
        self.sales_order_upserts = 0
        self.billing_reads = 0
        self.links: list[str] = []  # NetSuite customers linked to the account (choose_match)
        self.billing = OrderBilling(
            sales_order_id=SALES_ORDER, sales_order_status="Pending Fulfillment", invoices=[]
        )

    def set_available(self, units: int) -> None:
        [line] = self.opportunity.lines
        assert line.product is not None
        line.product.quantity_available = Decimal(units)

    # -- Salesforce ------------------------------------------------------------------------------------
    @activity.defn(name=activity_name(SalesforceActivities.read_opportunity))
    async def read_opportunity(self, request: ReadOpportunity) -> Opportunity:
        self.reads += 1
        return self.opportunity

    @activity.defn(name=activity_name(SalesforceActivities.write_order_status))
    async def write_order_status(self, request: OrderStatusUpdate) -> Written:
        self.status_writes.append(request)
        if request.inventory_warning is not None or request.clear_inventory_warning:
            self.opportunity.inventory_warning = request.inventory_warning
        return Written(record_id=request.opportunity_id)

    @activity.defn(name=activity_name(SalesforceActivities.write_billing_totals))
    async def write_billing_totals(self, request: BillingTotals) -> Written:
        self.totals.append(request)
        return Written(record_id=request.opportunity_id)

    @activity.defn(name=activity_name(SalesforceActivities.upsert_invoice))
    async def upsert_invoice(self, request: InvoiceUpsert) -> Written:
        return Written(record_id=request.invoice.id)

    @activity.defn(name=activity_name(SalesforceActivities.upsert_fulfillment))
    async def upsert_fulfillment(self, request: FulfillmentUpsert) -> Written:
        self.fulfillment_writes.append(request)
        return Written(record_id=request.fulfillment.id)

    @activity.defn(name=activity_name(SalesforceActivities.link_account_to_customer))
    async def link_account_to_customer(self, request: LinkAccount) -> Written:
        return Written(record_id=request.account_id)

    @activity.defn(name=activity_name(MappingActivities.load_mapping))
    async def load_mapping(self, request: LoadMapping) -> Mapping:
        return load_mapping()

    # -- NetSuite --------------------------------------------------------------------------------------
    @activity.defn(name=activity_name(NetSuiteActivities.check_credit))
    async def check_credit(self, request: CheckCredit) -> CreditState:
        return CreditState(
            customer_id=request.customer_id, on_hold=False, reason=None, balance=0, overdue_balance=0
        )

    @activity.defn(name=activity_name(NetSuiteActivities.upsert_sales_order))
    async def upsert_sales_order(self, request: SalesOrderUpsert) -> SalesOrderRef:
        self.sales_order_upserts += 1
        return SalesOrderRef(sales_order_id=SALES_ORDER)

    @activity.defn(name=activity_name(NetSuiteActivities.get_sales_order))
    async def get_sales_order(self, request: GetSalesOrder) -> SalesOrder:
        return SalesOrder(
            id=SALES_ORDER,
            tran_id="SO900",
            external_id=self.opportunity.id,
            customer_id="77",
            subsidiary_id="1",
            subsidiary_name="Q2C Inc. (US)",
            currency="USA",
            total=self.opportunity.amount,
            status="Pending Fulfillment",
        )

    @activity.defn(name=activity_name(NetSuiteActivities.get_order_billing))
    async def get_order_billing(self, request: GetOrderBilling) -> OrderBilling:
        self.billing_reads += 1
        return self.billing

    @activity.defn(name=activity_name(NetSuiteAccountActivities.link_customer))
    async def link_customer(self, request: LinkPair) -> Written:
        self.links.append(request.customer_id)
        return Written(record_id=request.customer_id)

    @activity.defn(name=activity_name(NetSuiteActivities.close_sales_order))
    async def close_sales_order(self, request: CloseSalesOrder) -> Written:
        return Written(record_id=request.opportunity_id)

    def salesforce_activities(self) -> list[Callable[..., Any]]:
        return [
            self.read_opportunity,
            self.write_order_status,
            self.write_billing_totals,
            self.upsert_invoice,
            self.upsert_fulfillment,
            self.link_account_to_customer,
            self.load_mapping,
        ]

    def netsuite_activities(self) -> list[Callable[..., Any]]:
        return [
            self.check_credit,
            self.upsert_sales_order,
            self.get_sales_order,
            self.get_order_billing,
            self.close_sales_order,
            self.link_customer,
        ]


class Run:
    def __init__(self, env: WorkflowEnvironment, settings: Settings, systems: Systems) -> None:
        self.env, self.settings, self.systems = env, settings, systems
        self.opportunity_id = systems.opportunity.id

    @property
    def client(self) -> Client:
        return self.env.client

    async def close(self) -> None:
        await deal_closed(
            self.client, self.settings, DealClosed(opportunity_id=self.opportunity_id, source="cli")
        )

    async def signal(self, name: str, arg: Any) -> None:
        await self.client.get_workflow_handle(names.order_workflow_id(self.opportunity_id)).signal(name, arg)

    async def until(self, check: Callable[[OrderStatus], bool], what: str) -> OrderStatus:
        """Wait (real time, bounded) for the order's status to pass ``check``; time does not skip here."""
        last = None
        for _ in range(300):
            try:
                last = await order_status(self.client, self.opportunity_id)
                if check(last):
                    return last
            except Exception:  # not started yet
                pass
            await asyncio.sleep(0.05)
        raise AssertionError(f"{what} never happened; last {last}")

    async def stage(self, *stages: OrderStage) -> OrderStatus:
        return await self.until(lambda s: s.stage in stages, f"stage {[s.value for s in stages]}")

    async def details(self) -> str:
        handle = self.client.get_workflow_handle(names.order_workflow_id(self.opportunity_id))
        metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
        return metadata.current_details


async def _starter(env: WorkflowEnvironment) -> AsyncIterator[Callable[..., Any]]:
    """``await start(systems, stock_shortfall=...)``: a worker pair on these in-memory systems."""
    running: list[Worker] = []

    async def start_with(systems: Systems, **settings: Any) -> Run:
        client = env.client
        workers = [
            Worker(
                client,
                task_queue=names.TASK_QUEUE,
                workflows=[OrderToCash],
                activities=systems.salesforce_activities(),
            ),
            Worker(client, task_queue=names.NETSUITE_TASK_QUEUE, activities=systems.netsuite_activities()),
        ]
        for worker in workers:
            await worker.__aenter__()
            running.append(worker)
        return Run(env, Settings(_env_file=None, activity_max_attempts=2, **settings), systems)

    try:
        yield start_with
    finally:
        for worker in reversed(running):
            await worker.__aexit__(None, None, None)


@pytest.fixture
async def start(skipping_env: WorkflowEnvironment) -> AsyncIterator[Callable[..., Any]]:
    async for start_with in _starter(skipping_env):
        yield start_with


@pytest.fixture
async def start_on_dev_server(temporal_env: WorkflowEnvironment) -> AsyncIterator[Callable[..., Any]]:
    """The same on the dev server, which has the visibility queries the time-skipping one lacks."""
    async for start_with in _starter(temporal_env):
        yield start_with


def _with_warning(writes: list[OrderStatusUpdate]) -> list[str | None]:
    return [w.inventory_warning for w in writes if w.inventory_warning or w.clear_inventory_warning]


# --- hold --------------------------------------------------------------------------------------------------
async def test_a_held_order_waits_for_stock_and_goes_ahead_on_stock_changed(
    start: Callable[..., Any],
) -> None:
    systems = Systems(_opportunity(quantity=5, available=2))
    run: Run = await start(systems, stock_shortfall="hold")
    await run.close()

    status = await run.stage(OrderStage.AWAITING_STOCK)

    [short] = status.stock_shortfalls
    assert (short.product_name, short.lines, short.requested, short.available) == (
        "Widget Standard",
        [1],
        5,
        2,
    )
    assert "product 01t000000000001AAA ('Widget Standard') 5 requested, 2 available" in (
        status.inventory_warning or ""
    )
    assert "**Waiting for stock:** Not enough stock" in await run.details()
    [waiting] = systems.status_writes
    assert (
        waiting.status is SyncStatus.IN_PROGRESS
        and "The order waits until the stock is there" in waiting.message
    )
    assert systems.opportunity.inventory_warning == status.inventory_warning  # shown on the opportunity
    assert systems.sales_order_upserts == 0

    # Some stock arrives: the order re-reads, still short, shows the new numbers and keeps waiting.
    systems.set_available(4)
    await run.signal(names.STOCK_CHANGED_SIGNAL, StockChanged(reason="inventory sync"))
    status = await run.until(
        lambda s: bool(s.stock_shortfalls) and s.stock_shortfalls[0].available == 4, "the re-read"
    )
    assert status.stage is OrderStage.AWAITING_STOCK and systems.reads == 2
    assert "5 requested, 4 available" in (systems.opportunity.inventory_warning or "")

    # The rest arrives: ordered, and the warning on the opportunity is cleared.
    systems.set_available(7)
    await run.signal(names.STOCK_CHANGED_SIGNAL, StockChanged(reason="inventory sync"))
    status = await run.stage(*ORDER_CREATED)

    assert systems.reads == 3 and systems.sales_order_upserts == 1
    assert status.inventory_warning is None and status.stock_shortfalls == []
    assert systems.opportunity.inventory_warning is None
    assert _with_warning(systems.status_writes)[-1] is None  # the clearing write
    assert "stock" not in (await run.details()).lower()


async def test_a_held_order_rechecks_on_its_timer_and_writes_only_what_changed(
    start: Callable[..., Any], skipping_env: WorkflowEnvironment
) -> None:
    systems = Systems(_opportunity(quantity=3, available=0))
    run: Run = await start(systems, stock_shortfall="hold", stock_recheck_seconds=3600)
    await run.close()
    await run.stage(OrderStage.AWAITING_STOCK)

    # Nobody signals: the re-check timer reads again each hour; nothing changed, nothing is written.
    await skipping_env.sleep(2 * HOUR + dt.timedelta(minutes=5))
    await run.until(lambda s: systems.reads >= 3, "two timer re-reads")
    assert len(systems.status_writes) == 1 and systems.sales_order_upserts == 0

    # Stock arrives unseen by the inventory sync: the next timer finds it.
    systems.set_available(3)  # exactly what the line asks for is enough
    await skipping_env.sleep(HOUR)
    await run.stage(*ORDER_CREATED)
    assert systems.sales_order_upserts == 1


async def test_retry_and_a_reopened_deal_still_work_while_waiting_for_stock(
    start: Callable[..., Any],
) -> None:
    systems = Systems(_opportunity(quantity=5, available=1))
    run: Run = await start(systems, stock_shortfall="hold")
    await run.close()
    await run.stage(OrderStage.AWAITING_STOCK)

    await retry_order(run.client, run.opportunity_id, reason="lines changed")
    await run.until(lambda s: systems.reads == 2, "the retry's re-read")
    assert (await order_status(run.client, run.opportunity_id)).stage is OrderStage.AWAITING_STOCK

    systems.opportunity.stage, systems.opportunity.is_won = "Negotiation/Review", False
    await run.signal(
        names.DEAL_REOPENED_SIGNAL, DealReopened(opportunity_id=run.opportunity_id, source="test")
    )
    status = await run.stage(OrderStage.REOPENED)
    assert status.sales_order_id is None and systems.sales_order_upserts == 0


async def test_a_match_chosen_while_waiting_for_stock_is_used_once_the_stock_is_there(
    start: Callable[..., Any],
) -> None:
    opportunity = _opportunity(quantity=2, available=0)
    assert opportunity.account is not None
    opportunity.account.netsuite_customer_id = None  # not linked yet: matched (ambiguously) after the wait
    systems = Systems(opportunity)
    run: Run = await start(systems, stock_shortfall="hold")
    await run.close()
    await run.stage(OrderStage.AWAITING_STOCK)

    await run.signal(names.CHOOSE_MATCH_SIGNAL, ChooseMatch(record_id="88"))
    await run.until(lambda s: systems.reads == 2, "the re-read the choice woke")
    systems.set_available(2)
    await run.signal(names.STOCK_CHANGED_SIGNAL, StockChanged())
    status = await run.stage(*ORDER_CREATED)

    assert systems.links == ["88"] and status.netsuite_customer_id == "88"


# --- warn (the default) -------------------------------------------------------------------------------------
async def test_the_default_orders_anyway_with_a_warning_that_a_later_read_clears(
    start: Callable[..., Any],
) -> None:
    systems = Systems(_opportunity(quantity=5, available=2))
    run: Run = await start(systems)
    await run.close()

    status = await run.stage(*ORDER_CREATED)

    assert systems.sales_order_upserts == 1
    assert "5 requested, 2 available" in (status.inventory_warning or "")
    assert "**Inventory warning:** Not enough stock" in await run.details()
    [warned] = [w for w in systems.status_writes if w.inventory_warning]
    assert warned.status is SyncStatus.IN_PROGRESS  # on the write the order made anyway: no extra call
    assert systems.opportunity.inventory_warning == status.inventory_warning

    # Reopened, stock replenished, won again: the new read finds no shortfall and clears the warning.
    systems.opportunity.stage, systems.opportunity.is_won = "Negotiation/Review", False
    await run.signal(
        names.DEAL_REOPENED_SIGNAL, DealReopened(opportunity_id=run.opportunity_id, source="test")
    )
    await run.stage(OrderStage.REOPENED)
    systems.opportunity.stage, systems.opportunity.is_won = "Closed Won", True
    systems.set_available(10)
    await run.close()
    status = await run.stage(*ORDER_CREATED)

    assert status.inventory_warning is None and systems.opportunity.inventory_warning is None
    assert _with_warning(systems.status_writes) == [warned.inventory_warning, None]


# --- fulfilments -------------------------------------------------------------------------------------------
def _shipment(fid: str, number: str, status: str, quantity: int) -> Fulfillment:
    return Fulfillment(
        id=fid,
        number=number,
        status=status,
        ship_date="2026-11-25",
        tracking_numbers=["1Z999"] if status == "Shipped" else [],
        lines=[FulfillmentLine(item="WID-100", quantity=Decimal(quantity))],
    )


async def test_fulfilments_and_the_order_status_are_written_only_when_they_change(
    start: Callable[..., Any],
) -> None:
    systems = Systems(_opportunity(quantity=3, available=None))
    run: Run = await start(systems)
    await run.close()
    status = await run.stage(OrderStage.AWAITING_INVOICE)
    assert status.netsuite_order_status == "Pending Fulfillment"
    [first] = systems.totals  # billed 0, paid 0 and the status: one write
    assert first.order_status == "Pending Fulfillment"

    async def nudge(billing: OrderBilling, check: Callable[[OrderStatus], bool]) -> OrderStatus:
        systems.billing = billing
        await run.signal(names.BILLING_CHANGED_SIGNAL, BillingChanged(reason="test"))
        return await run.until(check, "the billing re-read")

    partial = OrderBilling(
        sales_order_id=SALES_ORDER,
        sales_order_status="Pending Billing/Partially Fulfilled",
        invoices=[],
        fulfillments=[_shipment("701", "IF1", "Shipped", 2)],
    )
    status = await nudge(partial, lambda s: "701" in s.fulfillments)
    assert [w.fulfillment.number for w in systems.fulfillment_writes] == ["IF1"]
    assert systems.fulfillment_writes[0].account_id == "001000000000001AAA"
    assert [t.order_status for t in systems.totals] == [
        "Pending Fulfillment",
        "Pending Billing/Partially Fulfilled",
    ]

    # Read again unchanged (a repeated signal): nothing is written.
    writes, reads = (len(systems.fulfillment_writes), len(systems.totals)), systems.billing_reads
    await run.signal(names.BILLING_CHANGED_SIGNAL, BillingChanged(reason="again"))
    await run.until(lambda s: systems.billing_reads > reads, "the repeated re-read")
    await asyncio.sleep(0.2)  # the re-read's writes, had there been any
    assert (len(systems.fulfillment_writes), len(systems.totals)) == writes

    full = partial.model_copy(
        update={
            "sales_order_status": "Pending Billing",
            "fulfillments": [*partial.fulfillments, _shipment("702", "IF2", "Packed", 1)],
        }
    )
    status = await nudge(full, lambda s: "702" in s.fulfillments)
    assert [w.fulfillment.number for w in systems.fulfillment_writes] == ["IF1", "IF2"]  # IF1 not again
    assert systems.totals[-1].order_status == "Pending Billing"
    assert status.netsuite_order_status == "Pending Billing"
    assert (status.fulfillments["702"].status, status.fulfillments["702"].quantity) == ("Packed", 1)
    details = await run.details()
    assert "**NetSuite order status:** Pending Billing" in details
    assert "IF1 Shipped 2026-11-25: 2 x WID-100; IF2 Packed 2026-11-25: 1 x WID-100" in details


async def test_the_inventory_syncs_helper_finds_the_orders_awaiting_stock_and_signals_them(
    start_on_dev_server: Callable[..., Any],
) -> None:
    systems = Systems(_opportunity(quantity=2, available=0))
    run: Run = await start_on_dev_server(systems, stock_shortfall="hold")
    await run.close()
    await run.stage(OrderStage.AWAITING_STOCK)
    systems.set_available(5)

    # Visibility is eventually consistent: the order is listed a moment after its stage changed.
    signalled = 0
    for _ in range(100):
        signalled += await signal_orders_awaiting_stock(run.client, reason="test")
        await asyncio.sleep(0.1)
        if systems.reads > 1:
            break
    assert signalled >= 1
    status = await run.stage(*ORDER_CREATED)
    assert systems.reads == 2 and status.inventory_warning is None


async def test_a_deal_reopened_after_its_order_shipped_parks_rather_than_closing_it(
    start: Callable[..., Any],
) -> None:
    systems = Systems(_opportunity(quantity=3, available=None))
    run: Run = await start(systems)
    await run.close()
    await run.stage(OrderStage.AWAITING_INVOICE)
    systems.billing = systems.billing.model_copy(
        update={"fulfillments": [_shipment("701", "IF1", "Shipped", 3)]}
    )

    systems.opportunity.stage, systems.opportunity.is_won = "Negotiation/Review", False
    await run.signal(
        names.DEAL_REOPENED_SIGNAL, DealReopened(opportunity_id=run.opportunity_id, source="test")
    )
    status = await run.stage(OrderStage.NEEDS_ATTENTION)

    assert "is already fulfilled (IF1 (Shipped)); q2c does not undo fulfilled orders" in (
        status.attention_reason or ""
    )
    assert status.sales_order_id == SALES_ORDER  # kept, still followed once the deal is won again
