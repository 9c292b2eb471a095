"""The NetSuite change poller: billing, fulfilment and credit changes since a watermark, handed to the
workflows and accounts concerned. Started by the ``poll-netsuite`` Temporal Schedule (pausable in the web UI)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.account_changes import AccountChangeActivities
    from activities.netsuite_poller import NetSuitePollerActivities
    from activities.onboarding import OnboardingSteeringActivities
    from activities.poller_state import PollerStateActivities
    from activities.salesforce import SalesforceActivities
    from q2c.domain.billing import CreditState
    from q2c.domain.messages import (
        AccountCredit,
        AccountNotifications,
        BillingChanged,
        CreditChange,
        CreditReleased,
        CreditTask,
        EvaluateCredit,
        FindAccount,
        FindOrders,
        LoadWatermark,
        ParkedWrite,
        PollInput,
        PollResult,
        ReadAccount,
        ReadChanges,
        SavePoll,
    )
    from q2c.domain.messages.onboarding import CreditHoldNotice, OnboardingNotifications, StartOnboardings
    from q2c.domain.order import OrderStage
    from workflows import names
    from workflows.calls import ActivityCalls

# Credit evaluated in set-based queries, every waiting order released, per-customer write isolation,
# overdue invoices re-signalled only on a shown change. Polls started before run the old path.
SET_BASED_POLL = "set-based-poll"
# Onboarding: customers whose first sales order is new start their onboarding; credit holds starting or
# ending reach the running onboardings. Polls started before did neither.
ONBOARDING_POLL = "poll-onboarding"
# A paged read of the whole account may take long on a real one; the heartbeat timeout, not this,
# notices a worker that died.
PAGED_ACTIVITY_TIMEOUT = 3600.0
SIGNAL_BATCH = 100  # signals sent together, in one workflow task


@workflow.defn(name=names.NETSUITE_POLL_WORKFLOW)
class NetSuitePoll:
    """One poll of NetSuite. Id: ``poll:netsuite-<time>`` (from the schedule) or any id by hand.

    Steps: load the watermark (the newest NetSuite modification time handled so far; a first poll
    starts from NetSuite's newest change, replaying nothing); read invoices, item fulfilments and
    customers changed since it (minus an overlap), and the overdue invoices whose days overdue, amount
    due or status changed since last shown (time passing changes no modification date); signal
    ``billing_changed`` to the order of each invoice and fulfilment (the order it was created from,
    when q2c made that order) whose shown state changed; hand changed customers to account sync; find the orders waiting in
    ``awaiting_credit_release``; evaluate credit in set-based queries (every customer the rule may
    hold, plus those last shown as held); for every customer whose state differs from what Salesforce
    was last told: set the account's hold flag, reason and balances and raise a Task for the account
    owner when a hold starts; signal ``credit_released`` to every waiting order whose customer is not
    on hold, whether or not this poller saw the hold; finally save the watermark, the credit states
    written, the overdue invoices shown and the writes parked, in one transaction.

    A Salesforce write for one customer that fails for good (its retries spent) parks that customer:
    listed in the result and the current details with the reason, kept in the store, tried again by
    every later poll; the rest of the poll goes on and the watermark advances. Anything else that fails
    fails the poll before anything is saved, and the next poll does it again; everything it does is
    idempotent (workflows re-read NetSuite on a signal, accounts are updated to a state, tasks are
    upserted by key), so a repeated or overlapping poll changes nothing. No compensation: there is
    nothing to undo.
    """

    @workflow.init
    def __init__(self, request: PollInput) -> None:
        # A failed call fails the poll (nothing is saved), but for the writes of one customer's credit
        # (``_show_credit``), which park that customer; the schedule's next poll does it again.
        timeout = max(60.0, request.options.activity_timeout_seconds)
        self._call = ActivityCalls(request.options, parks=False, start_to_close_seconds=timeout)
        # Reads of the whole account a page at a time, as long as that takes, heartbeating after each
        # page: a worker that dies mid-way is noticed by the heartbeat timeout.
        self._paged = ActivityCalls(
            request.options,
            parks=False,
            start_to_close_seconds=PAGED_ACTIVITY_TIMEOUT,
            heartbeat_seconds=timeout,
        )

    @workflow.run
    async def run(self, request: PollInput) -> PollResult:
        if not workflow.patched(SET_BASED_POLL):
            return await self._run_before_set_based_poll(request)
        onboarding = workflow.patched(ONBOARDING_POLL)
        start = await self._call(PollerStateActivities.load_watermark, LoadWatermark())
        changes = await self._paged(
            NetSuitePollerActivities.read_netsuite_changes,
            ReadChanges(
                watermark=start.watermark,
                overlap_seconds=request.overlap_seconds,
                credit_overdue_days=request.credit_overdue_days,
                overdue_signals_per_poll=request.overdue_signals_per_poll,
                first_orders=onboarding,
            ),
        )
        signalled = await self._signal_orders(
            [
                (
                    o,
                    names.BILLING_CHANGED_SIGNAL,
                    BillingChanged(reason=changes.reasons.get(o, "NetSuite invoice changed")),
                )
                for o in changes.opportunity_ids
            ]
        )

        accounts = 0
        if request.sync_accounts and start.watermark and changes.changed_customer_ids:
            # Account sync: each changed customer to its pair's workflow (or the intake of a NetSuite-born
            # one). Not on the first poll, which only finds where to start.
            notified = await self._call(
                AccountChangeActivities.notify_account_changes,
                AccountNotifications(
                    netsuite_customers=changes.changed_customer_ids, source="netsuite-poller"
                ),
            )
            accounts = notified.signalled

        started = 0
        if onboarding and start.watermark and changes.first_orders:
            # Not on the first poll, which only finds where to start: earlier customers are not new.
            onboardings = await self._call(
                OnboardingSteeringActivities.start_onboardings,
                StartOnboardings(first_orders=changes.first_orders, source="poller"),
            )
            started = len(onboardings.started)

        waiting = await self._call(
            PollerStateActivities.find_orders,
            FindOrders(query=f'{names.STAGE.name} = "{OrderStage.AWAITING_CREDIT_RELEASE.value}"'),
        )
        credit = await self._paged(
            NetSuitePollerActivities.evaluate_credit,
            EvaluateCredit(
                customer_ids=changes.customer_ids,
                overdue_days=request.credit_overdue_days,
                waiting_orders=waiting.customer_ids,
                changes_per_poll=request.credit_changes_per_poll,
            ),
        )
        raised = released = 0
        written: list[CreditState] = []
        parked: list[ParkedWrite] = []
        for change in credit.changes:
            try:
                await self._show_credit(change)
            except ActivityError as failure:
                parked.append(_parked(change, failure))
                continue
            written.append(change.state)
            if change.state.on_hold and not change.was_on_hold:
                raised += 1
            elif not change.state.on_hold and change.was_on_hold:
                released += 1
        signalled += await self._signal_orders(
            [
                (o, names.CREDIT_RELEASED_SIGNAL, CreditReleased(customer_id=waiting.customer_ids[o]))
                for o in credit.released_orders
            ]
        )
        holds = [
            CreditHoldNotice(customer_id=c.state.customer_id, on_hold=c.state.on_hold, reason=c.state.reason)
            for c in credit.changes
            if c.state.on_hold != c.was_on_hold
        ]
        told = 0
        if onboarding and holds:
            notified_onboardings = await self._call(
                OnboardingSteeringActivities.notify_onboardings,
                OnboardingNotifications(credit=holds, source="netsuite-poller"),
            )
            told = notified_onboardings.signalled

        await self._call(
            PollerStateActivities.save_poll,
            SavePoll(
                watermark=changes.watermark,
                credit=written,
                shown_invoices=changes.shown_invoices,
                unwatched_invoices=changes.unwatched_invoices,
                parked=parked,
                unparked=credit.settled,
            ),
        )
        if parked:
            workflow.set_current_details(
                "**Parked (retried by the next poll):**\n"
                + "\n".join(f"- NetSuite customer {p.record_id}: {p.reason}" for p in parked)
            )
        return PollResult(
            watermark=changes.watermark,
            invoices_read=changes.invoices_read,
            orders_signalled=signalled,
            credit_changes=len(credit.changes),
            holds_raised=raised,
            holds_released=released,
            accounts_signalled=accounts,
            parked=parked,
            fulfillments_read=changes.fulfillments_read,
            onboardings_started=started,
            onboardings_signalled=told,
        )

    async def _show_credit(self, change: CreditChange) -> None:
        """What Salesforce shows of one customer's credit: the account's fields, and a Task when a hold
        starts. Raises ActivityError when a write failed for good."""
        state = change.state
        if change.account_id is None:
            # Linked before q2c kept links (or by a person): the cross id on the account says which.
            match = await self._call(
                SalesforceActivities.find_account_for_customer,
                FindAccount(netsuite_customer_id=state.customer_id),
            )
            change.account_id = match.account.id if match.account else None
        if change.account_id is None:
            return
        await self._call(
            SalesforceActivities.set_account_credit,
            AccountCredit(account_id=change.account_id, state=state),
        )
        if state.on_hold and not change.was_on_hold:
            await self._raise_task(
                change.account_id, change.company_name, state.customer_id, state.reason or ""
            )

    async def _run_before_set_based_poll(self, request: PollInput) -> PollResult:
        """The poll as it ran before SET_BASED_POLL; kept, unchanged, for polls started before."""
        start = await self._call(PollerStateActivities.load_watermark, LoadWatermark())
        changes = await self._call(
            NetSuitePollerActivities.read_netsuite_changes,
            ReadChanges(
                watermark=start.watermark,
                overlap_seconds=request.overlap_seconds,
                credit_overdue_days=request.credit_overdue_days,
            ),
        )
        signalled = 0
        for opportunity_id in changes.opportunity_ids:
            signalled += await self._signal_order(
                opportunity_id,
                names.BILLING_CHANGED_SIGNAL,
                BillingChanged(reason="NetSuite invoice changed"),
            )

        accounts = 0
        if (
            request.sync_accounts
            and start.watermark
            and changes.changed_customer_ids
            and workflow.patched("account-sync")
        ):
            # Account sync: each changed customer to its pair's workflow (or the intake of a NetSuite-born
            # one). Not on the first poll, which reads every customer ever made: that is a backfill.
            notified = await self._call(
                AccountChangeActivities.notify_account_changes,
                AccountNotifications(
                    netsuite_customers=changes.changed_customer_ids, source="netsuite-poller"
                ),
            )
            accounts = notified.signalled

        credit = await self._call(
            NetSuitePollerActivities.evaluate_credit,
            EvaluateCredit(customer_ids=changes.customer_ids, overdue_days=request.credit_overdue_days),
        )
        raised = released = 0
        for change in credit.changes:
            state = change.state
            if change.account_id is None:
                # Linked before q2c kept links (or by a person): the cross id on the account says which.
                match = await self._call(
                    SalesforceActivities.find_account_for_customer,
                    FindAccount(netsuite_customer_id=state.customer_id),
                )
                change.account_id = match.account.id if match.account else None
            if change.account_id:
                await self._call(
                    SalesforceActivities.set_account_credit,
                    AccountCredit(account_id=change.account_id, state=state),
                )
            if state.on_hold and not change.was_on_hold:
                raised += 1
                if change.account_id:
                    await self._raise_task(
                        change.account_id, change.company_name, state.customer_id, state.reason or ""
                    )
            elif not state.on_hold and change.was_on_hold:
                released += 1
                waiting = await self._call(
                    PollerStateActivities.find_orders,
                    FindOrders(
                        query=f'{names.STAGE.name} = "{OrderStage.AWAITING_CREDIT_RELEASE.value}" AND '
                        f'{names.NETSUITE_CUSTOMER_ID.name} = "{state.customer_id}"'
                    ),
                )
                for opportunity_id in waiting.opportunity_ids:
                    signalled += await self._signal_order(
                        opportunity_id,
                        names.CREDIT_RELEASED_SIGNAL,
                        CreditReleased(customer_id=state.customer_id),
                    )

        await self._call(
            PollerStateActivities.save_poll,
            SavePoll(watermark=changes.watermark, credit=[c.state for c in credit.changes]),
        )
        return PollResult(
            watermark=changes.watermark,
            invoices_read=changes.invoices_read,
            orders_signalled=signalled,
            credit_changes=len(credit.changes),
            holds_raised=raised,
            holds_released=released,
            accounts_signalled=accounts,
        )

    async def _raise_task(self, account_id: str, company: str, customer_id: str, reason: str) -> None:
        account = await self._call(
            SalesforceActivities.read_account,
            ReadAccount(account_id=account_id),
        )
        today = workflow.now().date()
        await self._call(
            SalesforceActivities.upsert_task,
            CreditTask(
                # One task per hold and day: a poll repeated (or retried) the same day finds it again.
                key=f"credit-hold:{customer_id}:{today.isoformat()}",
                account_id=account_id,
                owner_id=account.owner_id,
                subject=f"Credit hold: {company}",
                description=(
                    f"NetSuite customer {customer_id} ({company}) is on credit hold: {reason}. New orders for "
                    "this account wait until the hold is released or finance approves them."
                ),
                due_date=(today + dt.timedelta(days=2)).isoformat(),
            ),
        )

    async def _signal_orders(self, signals: list[tuple[str, str, Any]]) -> int:
        """Send (opportunity id, signal, argument) signals, a batch at a time rather than one workflow task
        each; returns how many reached a running order."""
        sent = 0
        for start in range(0, len(signals), SIGNAL_BATCH):
            batch = signals[start : start + SIGNAL_BATCH]
            sent += sum(await asyncio.gather(*(self._signal_order(*signal) for signal in batch)))
        return sent

    async def _signal_order(self, opportunity_id: str, signal: str, arg: Any) -> int:
        handle = workflow.get_external_workflow_handle(names.order_workflow_id(opportunity_id))
        try:
            await handle.signal(signal, arg)
        except Exception as missing:  # the order finished (or never ran): nothing is waiting for it
            workflow.logger.info("No running order for %s (%s): %s", opportunity_id, signal, missing)
            return 0
        return 1


def _parked(change: CreditChange, failure: ActivityError) -> ParkedWrite:
    cause = failure.cause
    message = cause.message if isinstance(cause, ApplicationError) else str(cause or failure)
    account = f"account {change.account_id}" if change.account_id else "its account"
    return ParkedWrite(
        record_id=change.state.customer_id,
        account_id=change.account_id,
        reason=(
            f"showing the credit state of NetSuite customer {change.state.customer_id} "
            f"({change.company_name}) on Salesforce {account} failed: {message}. Fix the account or the "
            "link (NetSuite_Internal_ID__c); the next poll tries again."
        ),
        attempts=change.parked_attempts + 1,
    )
