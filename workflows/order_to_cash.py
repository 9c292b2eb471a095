"""Order to cash: a Closed Won opportunity becomes a NetSuite sales order, then cash.

Glossary: *deal* = Salesforce opportunity; *customer* = NetSuite customer linked to the deal's account;
*parked* = waiting in ``needs_attention`` for a person to fix data and send ``retry``; *billing* = the
invoices NetSuite created from the sales order and what is still due on them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from activities.mapping import MappingActivities
    from activities.netsuite import NetSuiteActivities
    from activities.netsuite_accounts import NetSuiteAccountActivities
    from activities.onboarding import OnboardingSteeringActivities
    from activities.salesforce import SalesforceActivities
    from q2c.domain.billing import OrderBilling
    from q2c.domain.errors import BusinessError
    from q2c.domain.mapping import Mapping
    from q2c.domain.matching import AccountCandidate, MatchKind
    from q2c.domain.messages import (
        BillingChanged,
        BillingTotals,
        CheckCredit,
        ChooseMatch,
        CloseSalesOrder,
        CreditApproval,
        CreditReleased,
        DealClosed,
        DealReopened,
        FulfillmentUpsert,
        GetOrderBilling,
        GetSalesOrder,
        InvoiceUpsert,
        LinkAccount,
        LinkPair,
        LoadMapping,
        OrderInput,
        OrderStatus,
        OrderStatusUpdate,
        ReadOpportunity,
        RetryRequest,
        StockChanged,
    )
    from q2c.domain.messages.onboarding import FirstOrder, OrderClosed, StartOnboardings
    from q2c.domain.order import (
        OrderStage,
        StockShortfallPolicy,
        SyncStatus,
        order_problems,
        plan_customer,
        plan_sales_order,
        stock_shortfalls,
        stock_warning,
    )
    from q2c.domain.records import Account, Opportunity, SalesOrder
    from q2c.domain.sync import Side
    from workflows import metrics, names
    from workflows.calls import ActivityCalls
    from workflows.common import NeedsAttention, keywords
    from workflows.customer_matching import ambiguous_message, match_netsuite_customer

Undo = Callable[[], Awaitable[None]]


# Patches (``workflow.patched``): each marks where this code takes a different path than the code that
# wrote histories still running in production, so those replay unchanged (tests/replay).
VERIFY_REOPEN = "verify-deal-reopened"  # a deal_reopened claim is checked against Salesforce
MATCH_CUSTOMER = "order-matches-customer"  # an unlinked account is matched before a customer is made
KEEP_ORDER_ON_WRITE_BACK_FAILURE = "keep-order-on-write-back-failure"
BILLED_ORDER_GUARD = "billed-order-guard"  # an order already billed is never upserted again
OPPORTUNITY_GONE_ENDS = "opportunity-gone-ends"  # no opportunity, no order: end instead of parking
FOLLOW_FULFILLMENT = "order-follows-fulfillment"  # the order's NetSuite status and fulfilments are shown
FULFILLED_ORDER_GUARD = "fulfilled-order-guard"  # a reopened deal never closes an order already shipped
STOCK_AT_DEAL_CLOSE = "stock-at-deal-close"  # lines beyond the available stock: warn, or awaiting_stock
INACTIVE_PRODUCT_PARKS = "inactive-product-parks"  # a product inactive in Salesforce parks the order
# A customer this order created starts its onboarding (others' first orders: the NetSuite poller), and an
# order closed (deal reopened, closed in NetSuite) tells the customer's onboarding.
ORDER_STARTS_ONBOARDING = "order-starts-onboarding"
# Stages counted as order outcomes (q2c_order_outcomes): the order made, and how its workflow ended.
OUTCOMES = frozenset(
    {
        OrderStage.SALES_ORDER_CREATED,
        OrderStage.PAID,
        OrderStage.ORDER_CLOSED,
        OrderStage.REOPENED,
        OrderStage.OPPORTUNITY_NOT_FOUND,
    }
)


class DealReopenedMidway(Exception):
    """The deal left Closed Won while the order was being made; the main loop takes it from here."""


class OpportunityGone(Exception):
    """The opportunity does not exist (never did, or was deleted) and no order was made: the workflow ends."""


@workflow.defn(name=names.ORDER_WORKFLOW)
class OrderToCash:
    """One closed deal, from Closed Won to cash collected. Id: ``order:{opportunity id}``.

    Lifecycle (stage = ``Q2CStage`` search attribute):
      1. ``reading_opportunity``: read the opportunity with its lines and account; check it is won and
         complete against the mapping file. An opportunity that does not exist ends the workflow
         (``opportunity_not_found``) instead of parking: there is nothing a person could fix.
      2. ``ensuring_customer``: the account's NetSuite customer. A linked account keeps its customer; an
         unlinked one is matched first, by exactly the account sync's rules (cross id, domain, normalized
         name): one candidate -> linked (ids written on both sides), none -> created (upserted by the
         account id), several -> ``needs_attention`` listing them until ``choose_match`` says which.
         Stock: a line asking for more units of a stock-tracked product than Product2 shows available
         (lines of one product added up) is, by ``stock_shortfall``, ordered anyway with the shortfall on
         ``Inventory_Warning__c`` (``warn``, the default; cleared when a later read finds none), or
         waited for in ``awaiting_stock`` (``hold``): the opportunity is re-read on ``stock_changed``
         (the inventory sync), ``retry`` and every ``stock_recheck_seconds``, and the order goes on once
         the stock is there. A product inactive in Salesforce parks the order.
      3. ``awaiting_credit_release``: only while the customer is on credit hold (override On, over its
         limit, or an invoice overdue beyond ``credit_overdue_days``). Leaves on ``credit_released``
         (poller), ``approve_credit`` (finance), or a re-check on a durable timer
         (``credit_recheck_seconds``) finding it clear; a hold lasting days is re-checked each interval.
      4. ``creating_sales_order`` / ``writing_back``: upsert the sales order by the opportunity id, read
         its number, write id, number and sync status to the opportunity. A deal whose opportunity already
         names a sales order that NetSuite has billed (a new run after Temporal's retention removed the
         old one) is not upserted again: the order follows that billing instead.
      5. ``awaiting_invoice`` -> ``awaiting_payment``: re-read the order's invoices whenever the NetSuite
         poller signals ``billing_changed`` and, as a safety net, every ``billing_recheck_seconds``;
         upsert each changed invoice into ``NetSuite_Invoice__c``, each changed item fulfilment into
         ``NetSuite_Fulfillment__c`` and the billed/paid totals and the sales order's NetSuite status
         onto the opportunity (only what changed since the last write: fingerprints in the status).
         Continues-as-new when the history grows long.
      6. ``paid`` (every invoice paid, nothing left to bill) or ``order_closed`` (closed in NetSuite
         unbilled): the workflow completes.

    Signals: ``deal_closed``, ``deal_reopened``, ``retry``, ``billing_changed``, ``credit_released``,
    ``approve_credit``, ``choose_match``, ``stock_changed``. Query: ``status() -> OrderStatus``.

    ``deal_reopened`` is a claim, not a fact: outbound messages come at least once, out of order, for up
    to a day. The workflow re-reads the opportunity and acts on what Salesforce says now; a stale claim
    is counted (``stale_events``) and ignored.

    Needs attention: bad data, a missing mapping, a permanent API refusal (or a transient one that
    outlasted the retry policy) parks the order in ``needs_attention`` with the reason on the
    opportunity's ``Q2C_Sync_Message__c``, in ``status`` and in the web UI details. It never fails: a
    ``retry`` (or a new ``deal_closed``) starts the current step over; every write being an upsert,
    repeating a step that already happened is harmless.

    Compensations (each idempotent, each tolerating "nothing to undo"):
      - sales order upsert -> undo: close it (every line closed). Registered before the upsert, so an
        upsert that failed for good after NetSuite may have applied it (a timeout) leaves no half-made
        order; also run when the workflow is cancelled while the order is being made. The next attempt's
        upsert reopens the same order (same external id).
      - the write-back to Salesforce (read the order's number, set the opportunity's fields) -> no undo:
        the order in NetSuite is right whatever Salesforce shows. A failed write-back parks the order with
        the sales order kept; ``retry`` finishes the write-back.
      - customer matched, linked or upserted -> no undo: the customer is the right one for the account
        whatever happens to this deal.
      - deal reopened (left Closed Won, as Salesforce confirms) after the order exists -> close the sales
        order and clear the order fields on the opportunity (stage ``reopened``, waiting for the deal to be
        won again). An order already invoiced or fulfilled is never silently undone: it parks in
        ``needs_attention`` for finance.
    """

    @workflow.init
    def __init__(self, input: OrderInput) -> None:
        self._input = input
        self._call = ActivityCalls(input.options)
        self._status = input.resume or OrderStatus(
            opportunity_id=input.opportunity_id, stage=OrderStage.RECEIVED
        )
        self._wake = False  # retry / deal_closed: start the current step over
        self._billing_nudged = False
        self._credit_nudged = False
        self._stock_nudged = False
        self._choice: ChooseMatch | None = None

    # -- signals and query -------------------------------------------------------------------------
    @workflow.signal(name=names.DEAL_CLOSED_SIGNAL)
    def deal_closed(self, event: DealClosed) -> None:
        self._status.deal_closed_signals += 1
        self._status.deal_won = True
        self._wake = True

    @workflow.signal(name=names.DEAL_REOPENED_SIGNAL)
    def deal_reopened(self, event: DealReopened) -> None:
        # Checked against Salesforce before anything is undone (_settle_reopen_claim).
        self._status.reopen_claimed = True
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

    @workflow.signal(name=names.CHOOSE_MATCH_SIGNAL)
    def choose_match(self, choice: ChooseMatch) -> None:
        self._choice = choice
        self._wake = True

    @workflow.signal(name=names.STOCK_CHANGED_SIGNAL)
    def stock_changed(self, event: StockChanged) -> None:
        self._stock_nudged = True

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> OrderStatus:
        return self._status

    def _maybe_reopened(self) -> bool:
        return self._status.reopen_claimed or not self._status.deal_won

    # -- main loop -----------------------------------------------------------------------------------
    @workflow.run
    async def run(self, input: OrderInput) -> OrderStatus:
        while True:
            # A signal that arrives while a step runs counts for the next pass: the fix it announces
            # may have come after the step read its data.
            self._wake = False
            try:
                await self._settle_reopen_claim()
                if not self._status.deal_won:
                    await self._undo_for_reopened_deal()
                    await workflow.wait_condition(
                        lambda: (self._status.deal_won and not self._status.reopen_claimed) or self._wake
                    )
                    continue
                if self._status.sales_order_id is None:
                    self._status.attempts += 1
                    await self._create_sales_order()
                    if self._status.sales_order_id is None:
                        continue  # the deal reopened meanwhile
                await self._start_onboarding()
                if await self._follow_billing():
                    return self._status
            except DealReopenedMidway:
                continue
            except OpportunityGone as gone:
                self._status.outcome = str(gone)
                self._set_stage(OrderStage.OPPORTUNITY_NOT_FOUND)
                workflow.logger.warning("Order %s ends: %s", self._status.opportunity_id, gone)
                return self._status
            except NeedsAttention as problem:
                await self._park(str(problem), problem.error_type)
                await workflow.wait_condition(lambda: self._wake)

    async def _settle_reopen_claim(self) -> None:
        """Act on a ``deal_reopened`` claim as Salesforce sees the deal now (a stale claim is ignored)."""
        status = self._status
        if not status.reopen_claimed:
            return
        if not workflow.patched(VERIFY_REOPEN):
            status.reopen_claimed = False
            status.deal_won = False  # histories from before the check took the claim at its word
            return
        # The claim stays until Salesforce has answered: a failed read parks, and retry asks again
        # (the outbound message was acknowledged; nobody would send the claim a second time).
        opp = await self._read_opportunity(summary_prefix="Check whether the deal reopened: read")
        status.reopen_claimed = False
        if opp.is_won:
            status.stale_events += 1
            workflow.logger.info(
                "Ignored a stale deal_reopened for %s: Salesforce shows it %s",
                status.opportunity_id,
                opp.stage,
            )
        else:
            status.deal_won = False

    # -- 1-4: from won deal to sales order ---------------------------------------------------------------
    async def _read_opportunity(self, *, summary_prefix: str = "Read") -> Opportunity:
        opportunity_id = self._status.opportunity_id
        try:
            return await self._call(
                SalesforceActivities.read_opportunity,
                ReadOpportunity(opportunity_id=opportunity_id),
                summary=f"{summary_prefix} opportunity {opportunity_id} with its lines and account",
            )
        except NeedsAttention as problem:
            if (
                problem.error_type == BusinessError.OPPORTUNITY_NOT_FOUND
                and self._no_order_yet()
                and workflow.patched(OPPORTUNITY_GONE_ENDS)  # histories from before parked here
            ):
                raise OpportunityGone(str(problem)) from None
            raise

    def _no_order_yet(self) -> bool:
        return self._status.sales_order_id is None and self._status.pending_write_back is None

    async def _create_sales_order(self) -> None:
        opportunity_id = self._status.opportunity_id
        if self._status.pending_write_back is not None:
            # The order exists in NetSuite; only telling Salesforce failed last time.
            await self._write_back(self._status.pending_write_back)
            return
        self._set_stage(OrderStage.READING_OPPORTUNITY)
        self._stock_nudged = False  # the read below sees every stock change signalled before it
        opp = await self._read_opportunity()
        self._take_opportunity(opp)
        # Before anything else (a credit hold, a product since retired): an order NetSuite has billed is
        # followed as it is, never made again.
        if opp.netsuite_sales_order_id and workflow.patched(BILLED_ORDER_GUARD):
            if await self._adopt_billed_order(opp):
                return
        mapping = await self._call(
            MappingActivities.load_mapping, LoadMapping(), summary="Load the mapping file"
        )
        self._check_problems(opp, mapping)
        opp = await self._wait_for_stock(opp, mapping)
        assert opp.account is not None and opp.currency is not None

        await self._write_status(
            SyncStatus.IN_PROGRESS, "Creating the NetSuite sales order.", warning_against=opp
        )
        self._set_stage(OrderStage.ENSURING_CUSTOMER)
        customer_id = await self._ensure_customer(opp.account, opp.currency, mapping)
        self._status.netsuite_customer_id = customer_id
        await self._wait_for_credit(customer_id)

        undo: list[Undo] = []
        try:
            self._set_stage(OrderStage.CREATING_SALES_ORDER)
            undo.append(self._close_sales_order)  # before the upsert: it may apply and still time out
            ref = await self._call(
                NetSuiteActivities.upsert_sales_order,
                plan_sales_order(opp, customer_id, mapping),
                summary=f"Upsert sales order with externalId {opportunity_id}",
            )
            if not workflow.patched(KEEP_ORDER_ON_WRITE_BACK_FAILURE):
                await self._write_back(ref.sales_order_id)  # histories from before: any failure undid it
                return
        except BaseException:
            # The order may be wrong or half-made (or the workflow was cancelled): leave none behind.
            await self._compensate(undo)
            raise
        # The order is right from here on; a failure to tell Salesforce parks it with the order kept.
        self._status.pending_write_back = ref.sales_order_id
        try:
            await self._write_back(ref.sales_order_id)
        except asyncio.CancelledError:
            await self._compensate(undo)
            raise

    def _take_opportunity(self, opp: Opportunity) -> None:
        self._status.account_id = opp.account.id if opp.account else None
        self._status.amount, self._status.currency = opp.amount, opp.currency

    def _check_problems(self, opp: Opportunity, mapping: Mapping) -> None:
        # Histories from before the check sent an inactive product's line to NetSuite.
        inactive = any(line.product is not None and not line.product.is_active for line in opp.lines)
        check_active = inactive and workflow.patched(INACTIVE_PRODUCT_PARKS)
        problems = order_problems(opp, mapping, check_active=check_active)
        if problems:
            raise NeedsAttention(" ".join(problems))

    async def _wait_for_stock(self, opp: Opportunity, mapping: Mapping) -> Opportunity:
        """What the lines ask for beyond the available stock: shown (``warn``), or waited for in
        ``awaiting_stock`` until it is there (``hold``). Returns the opportunity as last read."""
        options, status = self._input.options, self._status
        while True:
            shortfalls = stock_shortfalls(opp)
            if not shortfalls and not opp.inventory_warning:
                status.stock_shortfalls, status.inventory_warning = [], None
                return opp
            if not workflow.patched(STOCK_AT_DEAL_CLOSE):
                return opp  # histories from before ordered whatever the stock
            status.stock_shortfalls, status.inventory_warning = shortfalls, stock_warning(opp, shortfalls)
            if not shortfalls or options.stock_shortfall is not StockShortfallPolicy.HOLD:
                return opp
            if (
                status.stage is not OrderStage.AWAITING_STOCK
                or status.inventory_warning != opp.inventory_warning
            ):
                self._set_stage(OrderStage.AWAITING_STOCK)
                await self._write_status(
                    SyncStatus.IN_PROGRESS,
                    f"{status.inventory_warning} The order waits until the stock is there or the lines "
                    "change; q2c re-checks when the inventory sync reports a change, and "
                    f"{_every(options.stock_recheck_seconds)} (or now: q2c retry {status.opportunity_id}).",
                    warning_against=opp,
                )
            # When the timer fires first, the loop re-reads: stock may arrive unseen by the inventory sync.
            await _wait_or_recheck(
                lambda: self._stock_nudged or self._wake or self._maybe_reopened(),
                options.stock_recheck_seconds,
            )
            await self._settle_reopen_claim()
            if not status.deal_won:
                raise DealReopenedMidway()
            self._stock_nudged = self._wake = False  # before the read: a signal during it counts
            opp = await self._read_opportunity(summary_prefix="Re-check stock: read")
            self._take_opportunity(opp)
            self._check_problems(opp, mapping)

    async def _write_back(self, sales_order_id: str) -> None:
        order = await self._call(
            NetSuiteActivities.get_sales_order,
            GetSalesOrder(sales_order_id=sales_order_id),
            summary=f"Read sales order {sales_order_id}",
        )
        self._status.subsidiary = order.subsidiary_name or order.subsidiary_id
        self._set_stage(OrderStage.WRITING_BACK)
        await self._write_status(
            SyncStatus.SYNCED,
            f"Sales order {order.tran_id} (internal id {order.id}) created in NetSuite"
            f" for subsidiary {self._status.subsidiary}.",
            sales_order=order,
        )
        self._status.sales_order_id, self._status.sales_order_number = order.id, order.tran_id
        self._status.pending_write_back = None
        self._set_stage(OrderStage.SALES_ORDER_CREATED)

    async def _adopt_billed_order(self, opp: Opportunity) -> bool:
        """An order NetSuite has already billed is never rewritten: follow its billing instead (True).

        Reached when a new run starts for a deal whose earlier run is gone (Temporal's retention)."""
        assert opp.netsuite_sales_order_id is not None
        sales_order_id, number = opp.netsuite_sales_order_id, opp.netsuite_sales_order_number
        billing = await self._call(
            NetSuiteActivities.get_order_billing,
            GetOrderBilling(sales_order_id=sales_order_id),
            summary=f"Check whether sales order {number or sales_order_id} is already billed",
        )
        if not billing.invoices:
            return False
        self._status.sales_order_id, self._status.sales_order_number = sales_order_id, number
        if opp.account and opp.account.netsuite_customer_id:
            self._status.netsuite_customer_id = opp.account.netsuite_customer_id
        workflow.logger.info(
            "Sales order %s of %s is already billed: not upserted again, its billing is followed",
            number or sales_order_id,
            self._status.opportunity_id,
        )
        self._set_stage(OrderStage.SALES_ORDER_CREATED)
        return True

    async def _ensure_customer(self, account: Account, currency: str, mapping: Mapping) -> str:
        """The account's NetSuite customer: linked, matched (the account sync's rules), or created."""
        if account.netsuite_customer_id:
            return account.netsuite_customer_id
        if not workflow.patched(MATCH_CUSTOMER):
            return await self._create_customer(account, currency, mapping)  # histories from before
        choice = self._choice  # kept until it took effect: a failed link parks, and retry tries it again
        if choice is not None and choice.create:
            customer_id = await self._create_customer(account, currency, mapping)
            self._choice = None
            return customer_id
        if choice is not None and choice.record_id:
            await self._link_customer(account.id, choice.record_id)
            self._choice = None
            return choice.record_id
        record = AccountCandidate(
            side=Side.SALESFORCE, id=account.id, name=account.name, website=account.website
        )
        result = await match_netsuite_customer(self._call, record)
        if result.candidate is not None:
            await self._link_customer(account.id, result.candidate.id)
            return result.candidate.id
        if result.kind is MatchKind.NONE:
            return await self._create_customer(account, currency, mapping)
        self._status.customer_candidates = [m.candidate.id for m in result.matches]
        raise NeedsAttention(
            ambiguous_message("Account", account.id, account.name, result, "NetSuite customer")
            + f" For this order: q2c choose-match {account.id} --record-id CUSTOMER_ID (or --create)."
        )

    async def _create_customer(self, account: Account, currency: str, mapping: Mapping) -> str:
        customer = await self._call(
            NetSuiteActivities.upsert_customer,
            plan_customer(account, currency, mapping),
            summary=f"Upsert NetSuite customer for account {account.id}",
        )
        self._status.customer_created = True  # this order is the customer's first: it starts onboarding
        await self._link_account(account.id, customer.customer_id)
        return customer.customer_id

    async def _link_customer(self, account_id: str, customer_id: str) -> None:
        # NetSuite first (custom field, externalId, store), then the account: as the account sync links.
        await self._call(
            NetSuiteAccountActivities.link_customer,
            LinkPair(account_id=account_id, customer_id=customer_id),
            summary=f"Link NetSuite customer {customer_id} to account {account_id}",
        )
        await self._link_account(account_id, customer_id)

    async def _link_account(self, account_id: str, customer_id: str) -> None:
        self._status.customer_candidates = []
        await self._call(
            SalesforceActivities.link_account_to_customer,
            LinkAccount(account_id=account_id, netsuite_customer_id=customer_id),
            summary=f"Write NetSuite customer {customer_id} on account {account_id}",
        )

    async def _wait_for_credit(self, customer_id: str) -> None:
        options = self._input.options
        while True:
            # Cleared before the read, so a signal that lands during it is not lost.
            self._credit_nudged = self._wake = False
            credit = await self._call(
                NetSuiteActivities.check_credit,
                CheckCredit(customer_id=customer_id, overdue_days=options.credit_overdue_days),
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
            # When the timer fires first, the loop re-checks: a hold may end unseen by the poller.
            await _wait_or_recheck(
                lambda: (
                    self._credit_nudged
                    or self._wake
                    or self._maybe_reopened()
                    or self._status.credit_approved_by is not None
                ),
                options.credit_recheck_seconds,
            )
            await self._settle_reopen_claim()
            if not self._status.deal_won:
                raise DealReopenedMidway()

    # -- 5-6: billing until paid -------------------------------------------------------------------------
    async def _follow_billing(self) -> bool:
        """Mirror the order's billing into Salesforce until it is paid (True) or the deal reopens."""
        assert self._status.sales_order_id is not None
        options = self._input.options
        checks = 0
        while True:
            await self._settle_reopen_claim()
            if not self._status.deal_won:
                return False
            self._billing_nudged = self._wake = False
            checks += 1
            billing = await self._call(
                NetSuiteActivities.get_order_billing,
                GetOrderBilling(sales_order_id=self._status.sales_order_id),
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
                await self._tell_onboarding_closed(
                    f"sales order {self._status.sales_order_number} was closed in NetSuite before it was billed"
                )
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
                lambda: self._billing_nudged or self._wake or self._maybe_reopened(),
                options.billing_recheck_seconds,
            )

    async def _show_billing(self, billing: OrderBilling) -> None:
        """Write to Salesforce what changed since the last write, and nothing else."""
        status = self._status
        follows = self._follows_fulfillment(billing)
        shown_fulfillments = await self._show_fulfillments(billing) if follows else False
        for invoice in billing.invoices:
            fingerprint = invoice.fingerprint()
            if self._status.invoices.get(invoice.id) == fingerprint:
                continue
            await self._call(
                SalesforceActivities.upsert_invoice,
                InvoiceUpsert(
                    invoice=invoice,
                    account_id=self._status.account_id,
                    opportunity_id=self._status.opportunity_id,
                    currency=self._status.currency,
                ),
                summary=f"Upsert invoice {invoice.number} into Salesforce",
            )
            self._status.invoices[invoice.id] = fingerprint
        order_status = (billing.sales_order_status or None) if follows else None
        if order_status == status.netsuite_order_status:
            order_status = None  # shown already
        if (billing.billed, billing.paid) != (status.billed, status.paid) or order_status:
            shown_status = f"; NetSuite status {order_status}" if order_status else ""
            await self._call(
                SalesforceActivities.write_billing_totals,
                BillingTotals(
                    opportunity_id=status.opportunity_id,
                    billed=billing.billed,
                    paid=billing.paid,
                    order_status=order_status,
                ),
                summary=f"Billed {billing.billed}, paid {billing.paid}{shown_status} on the opportunity",
            )
            status.billed, status.paid = billing.billed, billing.paid
            status.netsuite_order_status = order_status or status.netsuite_order_status
            workflow.set_current_details(self._details())
        elif shown_fulfillments:
            workflow.set_current_details(self._details())

    def _follows_fulfillment(self, billing: OrderBilling) -> bool:
        """Whether this run shows the order's NetSuite status and fulfilments (histories from before did
        not); asked only when there is something to show."""
        news = billing.fulfillments or (
            billing.sales_order_status and billing.sales_order_status != self._status.netsuite_order_status
        )
        return bool(news) and workflow.patched(FOLLOW_FULFILLMENT)

    async def _show_fulfillments(self, billing: OrderBilling) -> bool:
        """Upsert each fulfilment whose shown fields changed since written; True when any was."""
        written = False
        for fulfillment in billing.fulfillments:
            shown = fulfillment.shown()
            previous = self._status.fulfillments.get(fulfillment.id)
            if previous is not None and previous.fingerprint == shown.fingerprint:
                continue
            await self._call(
                SalesforceActivities.upsert_fulfillment,
                FulfillmentUpsert(
                    fulfillment=fulfillment,
                    account_id=self._status.account_id,
                    opportunity_id=self._status.opportunity_id,
                ),
                summary=f"Upsert fulfilment {fulfillment.number} ({fulfillment.status}) into Salesforce",
            )
            self._status.fulfillments[fulfillment.id] = shown
            written = True
        return written

    # -- onboarding ------------------------------------------------------------------------------------------
    async def _start_onboarding(self) -> None:
        """A customer this order made (or whose onboarding this order's closing cancelled) is onboarded
        now; any other customer's first order is found by the NetSuite poller. Never parks the order: the
        poller's first-order query is the safety net."""
        status = self._status
        customer = status.netsuite_customer_id
        restart = status.onboarding_cancelled_for is not None and status.onboarding_cancelled_for == customer
        if status.onboarding_requested or customer is None or not (status.customer_created or restart):
            return
        if not workflow.patched(ORDER_STARTS_ONBOARDING):
            return
        status.onboarding_requested = True
        first = FirstOrder(
            customer_id=customer,
            sales_order_id=status.sales_order_id or "",
            sales_order_number=status.sales_order_number,
            account_id=status.account_id,
            opportunity_id=status.opportunity_id,
            amount=status.amount,
            currency=status.currency,
            created_on=workflow.now().date(),
        )
        try:
            await self._call(
                OnboardingSteeringActivities.start_onboardings,
                StartOnboardings(first_orders=[first], source="order", restart_cancelled=restart),
                summary=f"Start the onboarding of NetSuite customer {customer}",
            )
        except NeedsAttention as problem:
            workflow.logger.error(
                "Onboarding of %s not started by order %s: %s", customer, status.opportunity_id, problem
            )
        status.onboarding_cancelled_for = None

    async def _tell_onboarding_closed(self, reason: str) -> None:
        """The customer's onboarding is told its order closed (it checks NetSuite for other open orders)."""
        status = self._status
        customer = status.netsuite_customer_id
        if customer is None or not workflow.patched(ORDER_STARTS_ONBOARDING):
            return
        handle = workflow.get_external_workflow_handle(names.onboarding_workflow_id(customer))
        try:
            await handle.signal(
                names.ORDER_CLOSED_SIGNAL,
                OrderClosed(
                    sales_order_id=status.sales_order_id, opportunity_id=status.opportunity_id, reason=reason
                ),
            )
        except Exception as missing:  # no onboarding runs for the customer: nothing to tell
            workflow.logger.info("No running onboarding for customer %s: %s", customer, missing)
            return
        # Won again, the new order restarts a cancelled onboarding.
        status.onboarding_cancelled_for, status.onboarding_requested = customer, False

    # -- compensations ---------------------------------------------------------------------------------
    async def _undo_for_reopened_deal(self) -> None:
        if self._status.stage is OrderStage.REOPENED:
            return
        # A sales order whose write-back to Salesforce is still pending exists all the same.
        order_id = self._status.sales_order_id or self._status.pending_write_back
        if order_id is not None:
            billing = await self._call(
                NetSuiteActivities.get_order_billing,
                GetOrderBilling(sales_order_id=order_id),
                summary=f"Read invoices of sales order {self._status.sales_order_number or order_id}",
            )
            if billing.invoices:
                numbers = ", ".join(invoice.number for invoice in billing.invoices)
                raise NeedsAttention(
                    f"Opportunity {self._status.opportunity_id} left Closed Won, but its sales order "
                    f"{self._status.sales_order_number} is already invoiced ({numbers}); q2c does not undo "
                    "invoiced orders. Credit the invoices in NetSuite, or set the deal back to Closed Won."
                )
            if billing.fulfillments and workflow.patched(FULFILLED_ORDER_GUARD):
                numbers = ", ".join(f"{f.number} ({f.status})" for f in billing.fulfillments)
                raise NeedsAttention(
                    f"Opportunity {self._status.opportunity_id} left Closed Won, but its sales order "
                    f"{self._status.sales_order_number} is already fulfilled ({numbers}); q2c does not undo "
                    "fulfilled orders. Bill or take back the goods in NetSuite, or set the deal back to "
                    "Closed Won."
                )
            await self._close_sales_order()
            await self._tell_onboarding_closed(
                f"opportunity {self._status.opportunity_id} left Closed Won; its sales order "
                f"{self._status.sales_order_number or order_id} was closed"
            )
        closed = self._status.sales_order_number or order_id
        self._status.sales_order_id = self._status.sales_order_number = None
        self._status.pending_write_back = None
        self._status.invoices, self._status.billed, self._status.paid = {}, None, None
        self._status.fulfillments, self._status.netsuite_order_status = {}, None
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
            NetSuiteActivities.close_sales_order,
            CloseSalesOrder(opportunity_id=self._status.opportunity_id),
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
    async def _park(self, reason: str, error_type: str | None = None) -> None:
        self._status.attention_reason = reason
        self._set_stage(OrderStage.NEEDS_ATTENTION)
        metrics.count_parked("order", error_type)
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
        warning_against: Opportunity | None = None,
    ) -> None:
        """``warning_against``: the opportunity as read; the write also makes its Inventory_Warning__c
        show the current warning (or none), unless it does already."""
        update = OrderStatusUpdate(
            opportunity_id=self._status.opportunity_id,
            status=status,
            message=message,
            sales_order_id=sales_order.id if sales_order else None,
            sales_order_number=sales_order.tran_id if sales_order else None,
            clear_sales_order=clear_sales_order,
        )
        warning = self._status.inventory_warning
        if (
            warning_against is not None
            and warning != warning_against.inventory_warning
            and workflow.patched(STOCK_AT_DEAL_CLOSE)
        ):
            update.inventory_warning, update.clear_inventory_warning = warning, warning is None
        await self._call(
            SalesforceActivities.write_order_status,
            update,
            summary=f"Set sync status {status.value!r} on opportunity {self._status.opportunity_id}",
        )

    def _set_stage(self, stage: OrderStage) -> None:
        status = self._status
        if stage is not status.stage and stage in OUTCOMES:
            metrics.count_order_outcome(stage.value)
        status.stage = stage
        if stage is not OrderStage.NEEDS_ATTENTION:
            status.attention_reason = None
        updates: list[SearchAttributeUpdate[Any]] = [
            names.STAGE.value_set(stage.value),
            names.OPPORTUNITY_ID.value_set(status.opportunity_id),
        ]
        updates += keywords(
            (names.SALESFORCE_ACCOUNT_ID, status.account_id),
            (names.NETSUITE_CUSTOMER_ID, status.netsuite_customer_id),
            (names.SALES_ORDER_ID, status.sales_order_id),
            (names.ORDER_CURRENCY, status.currency),
        )
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
        if status.inventory_warning:
            label = "Waiting for stock" if status.stage is OrderStage.AWAITING_STOCK else "Inventory warning"
            lines.append(f"**{label}:** {status.inventory_warning}")
        if status.billed is not None:
            lines.append(f"**Billed:** {status.billed} · **Paid:** {status.paid} {status.currency or ''}")
        if status.netsuite_order_status:
            lines.append(f"**NetSuite order status:** {status.netsuite_order_status}")
        if status.fulfillments:
            lines.append(
                "**Fulfilments:** "
                + "; ".join(
                    f"{f.number} {f.status}"
                    + (f" {f.ship_date}" if f.ship_date else "")
                    + f": {f.lines.replace(chr(10), ', ')}"
                    for f in status.fulfillments.values()
                )
            )
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


def _every(seconds: float) -> str:
    """ "every hour", "every 2 hours", "every 90 minutes", "every 45 seconds"."""
    count, unit = round(seconds), "second"
    for name, length in (("hour", 3600), ("minute", 60)):
        if seconds >= length and seconds % length == 0:
            count, unit = int(seconds // length), name
            break
    return f"every {unit}" if count == 1 else f"every {count} {unit}s"


async def _wait_or_recheck(condition: Callable[[], bool], seconds: float) -> None:
    """Wait for ``condition`` on a durable timer; when the timer fires first, a re-check is due."""
    try:
        await workflow.wait_condition(condition, timeout=dt.timedelta(seconds=seconds))
    except TimeoutError:  # the builtin one: wait_condition's timeout elapsed
        pass
