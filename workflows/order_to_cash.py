"""Order to cash: a Closed Won opportunity becomes a NetSuite sales order.

Glossary: *deal* = Salesforce opportunity; *customer* = NetSuite customer linked to the deal's account;
*parked* = waiting in ``needs_attention`` for a person to fix data and send ``retry``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from q2c.domain.mapping import Mapping
    from q2c.domain.messages import (
        CustomerRef,
        DealClosed,
        GetSalesOrder,
        LinkAccount,
        LoadMapping,
        OrderInput,
        OrderStatus,
        OrderStatusUpdate,
        ReadOpportunity,
        RetryRequest,
        SalesOrderRef,
        Written,
    )
    from q2c.domain.order import (
        OrderStage,
        SyncStatus,
        order_problems,
        plan_customer,
        plan_sales_order,
    )
    from q2c.domain.records import Opportunity, SalesOrder
    from workflows import names

T = TypeVar("T")


class NeedsAttention(Exception):
    """The order cannot go on until a person fixes something; the message says what and where."""


@workflow.defn(name=names.ORDER_WORKFLOW)
class OrderToCash:
    """One closed deal, from Closed Won to a NetSuite sales order. Id: ``order:{opportunity id}``.

    Lifecycle: started by signal-with-start ``deal_closed`` (webhook, CLI, poller). Reads the
    opportunity with its lines and account; checks it is won and complete against the mapping file;
    ensures the NetSuite customer (upsert by the account's Salesforce id, cross ids written on both
    sides); upserts the sales order by the opportunity id (so any number of runs, retries and
    duplicate signals yield one order); reads back its number; writes id, number and sync status to
    the opportunity. Returns its final ``status``.

    Needs attention: bad data, a missing mapping or a permanent API refusal (or a retryable one that
    outlasted the retry policy) parks the workflow in stage ``needs_attention`` with the reason on the
    opportunity's ``Q2C_Sync_Message__c`` and in the ``status`` query. It never fails: a ``retry`` (or
    a new ``deal_closed``) re-reads the opportunity and starts over; every write being an upsert, the
    steps that already happened are repeated harmlessly.

    Signals: ``deal_closed(DealClosed)``, ``retry(RetryRequest)``. Query: ``status() -> OrderStatus``.

    Compensations: none yet. Every step is an idempotent upsert that leaves a correct record behind
    on its own (a customer created for a deal that later parks is still the right customer for that
    account), so there is nothing to undo in this part of the process.
    """

    @workflow.init
    def __init__(self, input: OrderInput) -> None:
        self._status = OrderStatus(opportunity_id=input.opportunity_id, stage=OrderStage.RECEIVED)
        self._input = input
        self._wake = False

    @workflow.signal(name=names.DEAL_CLOSED_SIGNAL)
    def deal_closed(self, event: DealClosed) -> None:
        self._status.deal_closed_signals += 1
        self._wake = True

    @workflow.signal(name=names.RETRY_SIGNAL)
    def retry(self, request: RetryRequest) -> None:
        self._wake = True

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> OrderStatus:
        return self._status

    @workflow.run
    async def run(self, input: OrderInput) -> OrderStatus:
        while True:
            # A signal that arrives while an attempt runs counts for the next one: the fix it
            # announces may have come after this attempt read the opportunity.
            self._wake = False
            self._status.attempts += 1
            try:
                await self._create_sales_order()
                return self._status
            except NeedsAttention as problem:
                await self._park(str(problem))
                await workflow.wait_condition(lambda: self._wake)

    async def _create_sales_order(self) -> None:
        opportunity_id = self._status.opportunity_id
        self._set_stage(OrderStage.READING_OPPORTUNITY)
        opp = await self._call(
            "read_opportunity",
            ReadOpportunity(opportunity_id=opportunity_id),
            Opportunity,
            summary=f"Read opportunity {opportunity_id} with its lines and account",
        )
        self._status.account_id = opp.account.id if opp.account else None
        self._status.amount, self._status.currency = opp.amount, opp.currency
        mapping = await self._call("load_mapping", LoadMapping(), Mapping, summary="Load the mapping file")
        problems = order_problems(opp, mapping)
        if problems:
            raise NeedsAttention(" ".join(problems))
        assert opp.account is not None and opp.currency is not None

        await self._write_status(SyncStatus.IN_PROGRESS, "Creating the NetSuite sales order.")
        self._set_stage(OrderStage.ENSURING_CUSTOMER)
        customer_id = opp.account.netsuite_customer_id
        if not customer_id:
            customer = await self._call(
                "upsert_customer",
                plan_customer(opp.account, opp.currency, mapping),
                CustomerRef,
                netsuite=True,
                summary=f"Upsert NetSuite customer for account {opp.account.id}",
            )
            customer_id = customer.customer_id
            await self._call(
                "link_account_to_customer",
                LinkAccount(account_id=opp.account.id, netsuite_customer_id=customer_id),
                Written,
                summary=f"Write NetSuite customer {customer_id} on account {opp.account.id}",
            )
        self._status.netsuite_customer_id = customer_id

        self._set_stage(OrderStage.CREATING_SALES_ORDER)
        ref = await self._call(
            "upsert_sales_order",
            plan_sales_order(opp, customer_id, mapping),
            SalesOrderRef,
            netsuite=True,
            summary=f"Upsert sales order with externalId {opportunity_id}",
        )
        order = await self._call(
            "get_sales_order",
            GetSalesOrder(sales_order_id=ref.sales_order_id),
            SalesOrder,
            netsuite=True,
            summary=f"Read sales order {ref.sales_order_id}",
        )
        self._status.sales_order_id, self._status.sales_order_number = order.id, order.tran_id
        self._status.subsidiary = order.subsidiary_name or order.subsidiary_id

        self._set_stage(OrderStage.WRITING_BACK)
        await self._write_status(
            SyncStatus.SYNCED,
            f"Sales order {order.tran_id} (internal id {order.id}) created in NetSuite"
            f" for subsidiary {self._status.subsidiary}.",
            sales_order=order,
        )
        self._set_stage(OrderStage.SALES_ORDER_CREATED)

    async def _park(self, reason: str) -> None:
        self._status.attention_reason = reason
        self._set_stage(OrderStage.NEEDS_ATTENTION)
        workflow.logger.warning("Order %s needs attention: %s", self._status.opportunity_id, reason)
        try:
            await self._write_status(
                SyncStatus.NEEDS_ATTENTION,
                f"{reason} When fixed: q2c retry {self._status.opportunity_id}",
            )
        except NeedsAttention as unwritable:
            # The reason stays visible in the workflow (status query, details) even when Salesforce
            # refuses the status write itself.
            workflow.logger.error("Could not write the sync status to Salesforce: %s", unwritable)

    async def _write_status(
        self, status: SyncStatus, message: str, *, sales_order: SalesOrder | None = None
    ) -> None:
        await self._call(
            "write_order_status",
            OrderStatusUpdate(
                opportunity_id=self._status.opportunity_id,
                status=status,
                message=message,
                sales_order_id=sales_order.id if sales_order else None,
                sales_order_number=sales_order.tran_id if sales_order else None,
            ),
            Written,
            summary=f"Set sync status {status.value!r} on opportunity {self._status.opportunity_id}",
        )

    async def _call(
        self, activity: str, arg: Any, result_type: type[T], *, summary: str, netsuite: bool = False
    ) -> T:
        options = self._input.options
        try:
            return await workflow.execute_activity(
                activity,
                arg,
                result_type=result_type,
                task_queue=names.NETSUITE_TASK_QUEUE if netsuite else names.TASK_QUEUE,
                start_to_close_timeout=dt.timedelta(seconds=options.activity_timeout_seconds),
                retry_policy=RetryPolicy(
                    initial_interval=dt.timedelta(seconds=1),
                    backoff_coefficient=2.0,
                    maximum_interval=dt.timedelta(seconds=options.activity_max_interval_seconds),
                    maximum_attempts=options.activity_max_attempts,
                ),
                summary=summary,
            )
        except ActivityError as failure:
            raise NeedsAttention(_failure_reason(activity, failure, options.activity_max_attempts)) from None

    def _set_stage(self, stage: OrderStage) -> None:
        status = self._status
        status.stage = stage
        if stage is not OrderStage.NEEDS_ATTENTION:
            status.attention_reason = None
        updates: list[SearchAttributeUpdate[Any]] = [
            names.STAGE.value_set(stage.value),
            names.OPPORTUNITY_ID.value_set(status.opportunity_id),
        ]
        for key, value in (
            (names.SALESFORCE_ACCOUNT_ID, status.account_id),
            (names.NETSUITE_CUSTOMER_ID, status.netsuite_customer_id),
            (names.SALES_ORDER_ID, status.sales_order_id),
            (names.ORDER_CURRENCY, status.currency),
        ):
            if value:
                updates.append(key.value_set(value))
        if status.amount is not None:
            updates.append(names.ORDER_AMOUNT.value_set(float(status.amount)))
        workflow.upsert_search_attributes(updates)
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        status, links = self._status, self._input.links
        lines = [f"**Stage:** {status.stage.value}"]
        if status.attention_reason:
            lines.append(f"**Needs attention:** {status.attention_reason}")
        if links.salesforce:
            lines.append(
                f"**Opportunity:** [{status.opportunity_id}]"
                f"({links.salesforce}/lightning/r/Opportunity/{status.opportunity_id}/view)"
            )
        if status.sales_order_id and links.netsuite:
            lines.append(
                f"**Sales order:** [{status.sales_order_number or status.sales_order_id}]"
                f"({links.netsuite}/app/accounting/transactions/salesord.nl?id={status.sales_order_id})"
            )
        if status.netsuite_customer_id and links.netsuite:
            lines.append(
                f"**Customer:** [{status.netsuite_customer_id}]"
                f"({links.netsuite}/app/common/entity/custjob.nl?id={status.netsuite_customer_id})"
            )
        return "\n\n".join(lines)


def _failure_reason(activity: str, failure: ActivityError, max_attempts: int) -> str:
    cause = failure.cause
    if isinstance(cause, ApplicationError):
        if cause.non_retryable:
            return cause.message
        return f"{cause.message} (gave up on {activity} after {max_attempts} attempts)"
    if isinstance(cause, TimeoutError):
        return f"{activity} timed out ({cause.type.name if cause.type else 'timeout'}) after retries."
    return f"{activity} failed: {cause or failure}"
