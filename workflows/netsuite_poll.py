"""The NetSuite change poller: billing and credit changes since a watermark, handed to the workflows
and accounts concerned. Started by the ``poll-netsuite`` Temporal Schedule (pausable in the web UI)."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from q2c.domain.account_sync import AccountNotifications, Notified
    from q2c.domain.messages import (
        AccountCredit,
        AccountMatch,
        BillingChanged,
        CreditChanges,
        CreditReleased,
        CreditTask,
        EvaluateCredit,
        FindAccount,
        FindOrders,
        LoadWatermark,
        NetSuiteChanges,
        OrderIds,
        PollInput,
        PollResult,
        ReadAccount,
        ReadChanges,
        SavePoll,
        WatermarkValue,
        Written,
    )
    from q2c.domain.order import OrderStage
    from q2c.domain.records import Account
    from workflows import names

T = TypeVar("T")


@workflow.defn(name=names.NETSUITE_POLL_WORKFLOW)
class NetSuitePoll:
    """One poll of NetSuite. Id: ``poll:netsuite-<time>`` (from the schedule) or any id by hand.

    Steps: load the watermark (the newest NetSuite modification time handled so far); read invoices
    and customers changed since it (minus an overlap), plus customers with invoices overdue beyond
    the threshold (time passing changes no modification date); signal ``billing_changed`` to the order
    of every changed invoice; for every customer whose credit state differs from what Salesforce was
    last told: set the account's hold flag, reason and balances, raise a Task for the account owner when
    a hold starts, and signal ``credit_released`` to orders waiting for that customer when it ends;
    finally save the watermark and the credit states, in one transaction.

    Nothing is saved before every signal and write succeeded, so a failed or killed poll is simply
    done again by the next one; and everything it does is idempotent (workflows re-read NetSuite on a
    signal, accounts are updated to a state, tasks are upserted by key), so a duplicated or overlapping
    poll changes nothing. No compensation: there is nothing to undo.
    """

    @workflow.run
    async def run(self, request: PollInput) -> PollResult:
        start = await self._call(
            "load_watermark", LoadWatermark(), WatermarkValue, queue=names.TASK_QUEUE, options=request
        )
        changes = await self._call(
            "read_netsuite_changes",
            ReadChanges(
                watermark=start.watermark,
                overlap_seconds=request.overlap_seconds,
                credit_overdue_days=request.credit_overdue_days,
            ),
            NetSuiteChanges,
            queue=names.NETSUITE_TASK_QUEUE,
            options=request,
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
                "notify_account_changes",
                AccountNotifications(
                    netsuite_customers=changes.changed_customer_ids, source="netsuite-poller"
                ),
                Notified,
                queue=names.TASK_QUEUE,
                options=request,
            )
            accounts = notified.signalled

        credit = await self._call(
            "evaluate_credit",
            EvaluateCredit(customer_ids=changes.customer_ids, overdue_days=request.credit_overdue_days),
            CreditChanges,
            queue=names.NETSUITE_TASK_QUEUE,
            options=request,
        )
        raised = released = 0
        for change in credit.changes:
            state = change.state
            if change.account_id is None:
                # Linked before q2c kept links (or by a person): the cross id on the account says which.
                match = await self._call(
                    "find_account_for_customer",
                    FindAccount(netsuite_customer_id=state.customer_id),
                    AccountMatch,
                    queue=names.TASK_QUEUE,
                    options=request,
                )
                change.account_id = match.account.id if match.account else None
            if change.account_id:
                await self._call(
                    "set_account_credit",
                    AccountCredit(account_id=change.account_id, state=state),
                    Written,
                    queue=names.TASK_QUEUE,
                    options=request,
                )
            if state.on_hold and not change.was_on_hold:
                raised += 1
                if change.account_id:
                    await self._raise_task(
                        change.account_id, change.company_name, state.customer_id, state.reason or "", request
                    )
            elif not state.on_hold and change.was_on_hold:
                released += 1
                waiting = await self._call(
                    "find_orders",
                    FindOrders(
                        query=f'{names.STAGE.name} = "{OrderStage.AWAITING_CREDIT_RELEASE.value}" AND '
                        f'{names.NETSUITE_CUSTOMER_ID.name} = "{state.customer_id}"'
                    ),
                    OrderIds,
                    queue=names.TASK_QUEUE,
                    options=request,
                )
                for opportunity_id in waiting.opportunity_ids:
                    signalled += await self._signal_order(
                        opportunity_id,
                        names.CREDIT_RELEASED_SIGNAL,
                        CreditReleased(customer_id=state.customer_id),
                    )

        await self._call(
            "save_poll",
            SavePoll(watermark=changes.watermark, credit=[c.state for c in credit.changes]),
            Written,
            queue=names.TASK_QUEUE,
            options=request,
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

    async def _raise_task(
        self, account_id: str, company: str, customer_id: str, reason: str, request: PollInput
    ) -> None:
        account = await self._call(
            "read_account",
            ReadAccount(account_id=account_id),
            Account,
            queue=names.TASK_QUEUE,
            options=request,
        )
        today = workflow.now().date()
        await self._call(
            "upsert_task",
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
            Written,
            queue=names.TASK_QUEUE,
            options=request,
        )

    async def _signal_order(self, opportunity_id: str, signal: str, arg: Any) -> int:
        handle = workflow.get_external_workflow_handle(names.order_workflow_id(opportunity_id))
        try:
            await handle.signal(signal, arg)
        except Exception as missing:  # the order finished (or never ran): nothing is waiting for it
            workflow.logger.info("No running order for %s (%s): %s", opportunity_id, signal, missing)
            return 0
        return 1

    async def _call(
        self, activity: str, arg: Any, result_type: type[T], *, queue: str, options: PollInput
    ) -> T:
        return await workflow.execute_activity(
            activity,
            arg,
            result_type=result_type,
            task_queue=queue,
            start_to_close_timeout=dt.timedelta(seconds=max(60.0, options.options.activity_timeout_seconds)),
            retry_policy=RetryPolicy(
                maximum_interval=dt.timedelta(seconds=options.options.activity_max_interval_seconds),
                maximum_attempts=options.options.activity_max_attempts,
            ),
        )
