"""Order to cash: a Closed Won opportunity becomes a NetSuite sales order, then cash.

Glossary: *deal* = Salesforce opportunity; *customer* = NetSuite customer linked to the deal's account;
*parked* = waiting in ``needs_attention`` for a person to fix data and send ``retry``; *billing* = the
invoices NetSuite created from the sales order and what is still due on them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from q2c.domain.billing import CreditState, OrderBilling
    from q2c.domain.mapping import Mapping
    from q2c.domain.messages import (
        BillingChanged,
        BillingTotals,
        CheckCredit,
        CloseSalesOrder,
        CreditApproval,
        CreditReleased,
        CustomerRef,
        DealClosed,
        DealReopened,
        GetOrderBilling,
        GetSalesOrder,
        InvoiceUpsert,
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
    from workflows.common import NeedsAttention, failure_reason

T = TypeVar("T")
Undo = Callable[[], Awaitable[None]]


class DealReopenedMidway(Exception):
    """The deal left Closed Won while the order was being made; the main loop takes it from here."""


@workflow.defn(name=names.ORDER_WORKFLOW)
class OrderToCash:
    """One closed deal, from Closed Won to cash collected. Id: ``order:{opportunity id}``.

    Lifecycle (stage = ``Q2CStage`` search attribute):
      1. ``reading_opportunity``: read the opportunity with its lines and account; check it is won and
         complete against the mapping file.
      2. ``ensuring_customer``: the account's NetSuite customer, upserted by the account id (cross ids
         written on both sides) unless the account is already linked.
      3. ``awaiting_credit_release``: only while the customer is on credit hold (override On, over its
         limit, or an invoice overdue beyond ``credit_overdue_days``). Leaves on ``credit_released``
         (poller), ``approve_credit`` (finance), or a re-check on a durable timer finding it clear.
      4. ``creating_sales_order`` / ``writing_back``: upsert the sales order by the opportunity id, read
         its number, write id, number and sync status to the opportunity.
      5. ``awaiting_invoice`` -> ``awaiting_payment``: re-read the order's invoices whenever the NetSuite
         poller signals ``billing_changed`` and, as a safety net, every ``billing_recheck_seconds``;
         upsert each changed invoice into ``NetSuite_Invoice__c`` and the billed/paid totals onto the
         opportunity. Continues-as-new when the history grows long.
      6. ``paid`` (every invoice paid, nothing left to bill) or ``order_closed`` (closed in NetSuite
         unbilled): the workflow completes.

    Signals: ``deal_closed``, ``deal_reopened``, ``retry``, ``billing_changed``, ``credit_released``,
    ``approve_credit``. Query: ``status() -> OrderStatus``.

    Needs attention: bad data, a missing mapping, a permanent API refusal (or a transient one that
    outlasted the retry policy) parks the order in ``needs_attention`` with the reason on the
    opportunity's ``Q2C_Sync_Message__c``, in ``status`` and in the web UI details. It never fails: a
    ``retry`` (or a new ``deal_closed``) starts the current step over; every write being an upsert,
    repeating a step that already happened is harmless.

    Compensations (each idempotent, each tolerating "nothing to undo"):
      - sales order upserted -> undo: close it (every line closed). Registered before the upsert, so
        an upsert that timed out after NetSuite applied it is still undone. Run, in reverse order, when
        a later step of the same attempt fails for good or the workflow is cancelled; then the order
        parks. The next attempt's upsert reopens the same order (same external id).
      - customer upserted / account linked -> no undo: the customer is the right one for the account
        whatever happens to this deal.
      - deal reopened (left Closed Won) after the order exists -> close the sales order and clear the
        order fields on the opportunity (stage ``reopened``, waiting for the deal to be won again). An
        order already invoiced is never silently undone: it parks in ``needs_attention`` for finance.
    """

    @workflow.init
    def __init__(self, input: OrderInput) -> None:
        self._input = input
        self._status = input.resume or OrderStatus(
            opportunity_id=input.opportunity_id, stage=OrderStage.RECEIVED
        )
        self._wake = False  # retry / deal_closed: start the current step over
        self._billing_nudged = False
        self._credit_nudged = False

    # -- signals and query -------------------------------------------------------------------------
    @workflow.signal(name=names.DEAL_CLOSED_SIGNAL)
    def deal_closed(self, event: DealClosed) -> None:
        self._status.deal_closed_signals += 1
        self._status.deal_won = True
        self._wake = True

    @workflow.signal(name=names.DEAL_REOPENED_SIGNAL)
    def deal_reopened(self, event: DealReopened) -> None:
        self._status.deal_won = False
        self._wake = True

    @workflow.signal(name=names.RETRY_SIGNAL)
    def retry(self, request: RetryRequest) -> None:
        self._wake = True

    @workflow.signal(name=names.BILLING_CHANGED_SIGNAL)
    def billing_changed(self, event: BillingChanged) -> None:
        self._billing_nudged = True

    @workflow.signal(name=names.CREDIT_RELEASED_SIGNAL)
    def credit_released(self, event: CreditReleased) -> None:
        self._credit_nudged = True

    @workflow.signal(name=names.APPROVE_CREDIT_SIGNAL)
    def approve_credit(self, approval: CreditApproval) -> None:
        self._status.credit_approved_by = approval.approved_by
        self._credit_nudged = True

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> OrderStatus:
        return self._status

    # -- main loop -----------------------------------------------------------------------------------
    @workflow.run
    async def run(self, input: OrderInput) -> OrderStatus:
        while True:
            # A signal that arrives while a step runs counts for the next pass: the fix it announces
            # may have come after the step read its data.
            self._wake = False
            try:
                if not self._status.deal_won:
                    await self._undo_for_reopened_deal()
                    await workflow.wait_condition(lambda: self._status.deal_won or self._wake)
                    continue
                if self._status.sales_order_id is None:
                    self._status.attempts += 1
                    await self._create_sales_order()
                if await self._follow_billing():
                    return self._status
            except DealReopenedMidway:
                continue
            except NeedsAttention as problem:
                await self._park(str(problem))
                await workflow.wait_condition(lambda: self._wake)

    # -- 1-4: from won deal to sales order ---------------------------------------------------------------
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
        await self._wait_for_credit(customer_id)

        undo: list[Undo] = []
        try:
            self._set_stage(OrderStage.CREATING_SALES_ORDER)
            undo.append(self._close_sales_order)  # before the upsert: it may apply and still time out
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
            self._status.subsidiary = order.subsidiary_name or order.subsidiary_id
            self._set_stage(OrderStage.WRITING_BACK)
            await self._write_status(
                SyncStatus.SYNCED,
                f"Sales order {order.tran_id} (internal id {order.id}) created in NetSuite"
                f" for subsidiary {self._status.subsidiary}.",
                sales_order=order,
            )
        except BaseException:
            # A later step failed for good (or the workflow was cancelled): leave no half-made order.
            await self._compensate(undo)
            raise
        self._status.sales_order_id, self._status.sales_order_number = order.id, order.tran_id
        self._set_stage(OrderStage.SALES_ORDER_CREATED)

    async def _wait_for_credit(self, customer_id: str) -> None:
        options = self._input.options
        while True:
            # Cleared before the read, so a signal that lands during it is not lost.
            self._credit_nudged = self._wake = False
            credit = await self._call(
                "check_credit",
                CheckCredit(customer_id=customer_id, overdue_days=options.credit_overdue_days),
                CreditState,
                netsuite=True,
                summary=f"Check credit of NetSuite customer {customer_id}",
            )
            if not credit.on_hold or self._status.credit_approved_by:
                self._status.credit_hold_reason = None
                return
            if self._status.stage is not OrderStage.AWAITING_CREDIT_RELEASE:
                self._status.credit_hold_reason = credit.reason
                self._set_stage(OrderStage.AWAITING_CREDIT_RELEASE)
                await self._write_status(
                    SyncStatus.AWAITING_CREDIT_RELEASE,
                    f"NetSuite customer {customer_id} is on credit hold: {credit.reason}. The order waits "
                    f"until the hold is released or finance approves it "
                    f"(q2c approve-credit {self._status.opportunity_id}).",
                )
            await workflow.wait_condition(
                lambda: (
                    self._credit_nudged
                    or self._wake
                    or not self._status.deal_won
                    or self._status.credit_approved_by is not None
                ),
                timeout=dt.timedelta(seconds=options.credit_recheck_seconds),
            )
            if not self._status.deal_won:
                raise DealReopenedMidway()

    # -- 5-6: billing until paid -------------------------------------------------------------------------
    async def _follow_billing(self) -> bool:
        """Mirror the order's billing into Salesforce until it is paid (True) or the deal reopens."""
        assert self._status.sales_order_id is not None
        options = self._input.options
        checks = 0
        while self._status.deal_won:
            self._billing_nudged = self._wake = False
            checks += 1
            billing = await self._call(
                "get_order_billing",
                GetOrderBilling(sales_order_id=self._status.sales_order_id),
                OrderBilling,
                netsuite=True,
                summary=f"Read invoices of sales order {self._status.sales_order_number}",
            )
            await self._show_billing(billing)
            if billing.fully_paid:
                self._set_stage(OrderStage.PAID)
                await self._write_status(
                    SyncStatus.SYNCED, f"Paid in full: {billing.paid} {self._status.currency or ''}.".strip()
                )
                return True
            if billing.closed and not billing.invoices:
                self._set_stage(OrderStage.ORDER_CLOSED)
                await self._write_status(
                    SyncStatus.CLOSED,
                    f"Sales order {self._status.sales_order_number} was closed in NetSuite.",
                )
                return True
            stage = OrderStage.AWAITING_PAYMENT if billing.invoices else OrderStage.AWAITING_INVOICE
            if stage is not self._status.stage:
                self._set_stage(stage)
            if checks >= options.billing_checks_per_run or workflow.info().is_continue_as_new_suggested():
                # No signal is lost: Temporal refuses a continue-as-new while signals are unhandled,
                # and this run's last billing read already covered every signal it handled.
                self._status.runs += 1
                workflow.continue_as_new(self._input.model_copy(update={"resume": self._status}))
            await _wait_or_recheck(
                lambda: self._billing_nudged or self._wake or not self._status.deal_won,
                options.billing_recheck_seconds,
            )
        return False

    async def _show_billing(self, billing: OrderBilling) -> None:
        """Write to Salesforce what changed since the last write, and nothing else."""
        for invoice in billing.invoices:
            fingerprint = invoice.fingerprint()
            if self._status.invoices.get(invoice.id) == fingerprint:
                continue
            await self._call(
                "upsert_invoice",
                InvoiceUpsert(
                    invoice=invoice,
                    account_id=self._status.account_id,
                    opportunity_id=self._status.opportunity_id,
                    currency=self._status.currency,
                ),
                Written,
                summary=f"Upsert invoice {invoice.number} into Salesforce",
            )
            self._status.invoices[invoice.id] = fingerprint
        if (billing.billed, billing.paid) != (self._status.billed, self._status.paid):
            await self._call(
                "write_billing_totals",
                BillingTotals(
                    opportunity_id=self._status.opportunity_id, billed=billing.billed, paid=billing.paid
                ),
                Written,
                summary=f"Billed {billing.billed}, paid {billing.paid} on the opportunity",
            )
            self._status.billed, self._status.paid = billing.billed, billing.paid
            workflow.set_current_details(self._details())

    # -- compensations ---------------------------------------------------------------------------------
    async def _undo_for_reopened_deal(self) -> None:
        if self._status.stage is OrderStage.REOPENED:
            return
        if self._status.sales_order_id is not None:
            billing = await self._call(
                "get_order_billing",
                GetOrderBilling(sales_order_id=self._status.sales_order_id),
                OrderBilling,
                netsuite=True,
                summary=f"Read invoices of sales order {self._status.sales_order_number}",
            )
            if billing.invoices:
                numbers = ", ".join(invoice.number for invoice in billing.invoices)
                raise NeedsAttention(
                    f"Opportunity {self._status.opportunity_id} left Closed Won, but its sales order "
                    f"{self._status.sales_order_number} is already invoiced ({numbers}); q2c does not undo "
                    "invoiced orders. Credit the invoices in NetSuite, or set the deal back to Closed Won."
                )
            await self._close_sales_order()
        closed = self._status.sales_order_number
        self._status.sales_order_id = self._status.sales_order_number = None
        self._status.invoices, self._status.billed, self._status.paid = {}, None, None
        self._set_stage(OrderStage.REOPENED)
        await self._write_status(
            SyncStatus.CLOSED,
            f"The deal left Closed Won; sales order {closed} was closed in NetSuite."
            if closed
            else "The deal left Closed Won before its sales order was created; nothing was ordered.",
            clear_sales_order=True,
        )

    async def _close_sales_order(self) -> None:
        await self._call(
            "close_sales_order",
            CloseSalesOrder(opportunity_id=self._status.opportunity_id),
            Written,
            netsuite=True,
            summary=f"Close the sales order of opportunity {self._status.opportunity_id}",
        )

    async def _compensate(self, undo: list[Undo]) -> None:
        for step in reversed(undo):
            try:
                await step()
            except NeedsAttention as failed:
                # The original failure is what the person must see; the failed undo goes with it.
                workflow.logger.error("Compensation failed for %s: %s", self._status.opportunity_id, failed)

    # -- shared steps -----------------------------------------------------------------------------------
    async def _park(self, reason: str) -> None:
        self._status.attention_reason = reason
        self._set_stage(OrderStage.NEEDS_ATTENTION)
        workflow.logger.warning("Order %s needs attention: %s", self._status.opportunity_id, reason)
        try:
            await self._write_status(
                SyncStatus.NEEDS_ATTENTION, f"{reason} When fixed: q2c retry {self._status.opportunity_id}"
            )
        except NeedsAttention as unwritable:
            # The reason stays visible in the workflow (status query, details) even when Salesforce
            # refuses the status write itself.
            workflow.logger.error("Could not write the sync status to Salesforce: %s", unwritable)

    async def _write_status(
        self,
        status: SyncStatus,
        message: str,
        *,
        sales_order: SalesOrder | None = None,
        clear_sales_order: bool = False,
    ) -> None:
        await self._call(
            "write_order_status",
            OrderStatusUpdate(
                opportunity_id=self._status.opportunity_id,
                status=status,
                message=message,
                sales_order_id=sales_order.id if sales_order else None,
                sales_order_number=sales_order.tran_id if sales_order else None,
                clear_sales_order=clear_sales_order,
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
            raise NeedsAttention(failure_reason(activity, failure, options.activity_max_attempts)) from None

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
            updates.append(key.value_set(value) if value else key.value_unset())
        if status.amount is not None:
            updates.append(names.ORDER_AMOUNT.value_set(float(status.amount)))
        workflow.upsert_search_attributes(updates)
        workflow.set_current_details(self._details())

    def _details(self) -> str:
        status, links = self._status, self._input.links
        lines = [f"**Stage:** {status.stage.value}"]
        if status.attention_reason:
            lines.append(f"**Needs attention:** {status.attention_reason}")
        if status.stage is OrderStage.AWAITING_CREDIT_RELEASE and status.credit_hold_reason:
            lines.append(f"**Credit hold:** {status.credit_hold_reason}")
        if status.billed is not None:
            lines.append(f"**Billed:** {status.billed} · **Paid:** {status.paid} {status.currency or ''}")
        if links.salesforce:
            lines.append(
                f"**Opportunity:** [{status.opportunity_id}]"
                f"({links.salesforce}/lightning/r/Opportunity/{status.opportunity_id}/view)"
            )
            if status.account_id:
                lines.append(
                    f"**Account:** [{status.account_id}]"
                    f"({links.salesforce}/lightning/r/Account/{status.account_id}/view)"
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


async def _wait_or_recheck(condition: Callable[[], bool], seconds: float) -> None:
    """Wait for ``condition`` on a durable timer; when the timer fires first, a re-check is due."""
    try:
        await workflow.wait_condition(condition, timeout=dt.timedelta(seconds=seconds))
    except TimeoutError:  # the builtin one: wait_condition's timeout elapsed
        pass
