"""The Salesforce change poller: accounts and contacts changed since a watermark, handed to their account
sync workflows. A safety net behind outbound messages (which can be lost after a day of failed delivery,
or never configured). Started by the ``poll-salesforce`` Temporal Schedule (pausable in the web UI)."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from q2c.domain.account_sync import (
        AccountNotifications,
        Notified,
        ReadSalesforceChanges,
        SalesforceChanges,
        SalesforcePollInput,
        SalesforcePollResult,
        SaveWatermark,
    )
    from q2c.domain.messages import LoadWatermark, WatermarkValue, Written
    from workflows import names

T = TypeVar("T")
POLLER = "salesforce"


@workflow.defn(name=names.SALESFORCE_POLL_WORKFLOW)
class SalesforcePoll:
    """One poll of Salesforce: load the watermark (a cursor per object on SystemModstamp and Id); read the
    next page of accounts and contacts past it, leaving out those q2c's integration user changed last
    (loop guard 1); signal each pair's workflow; then save the cursors. A data load larger than a page
    takes as many polls as it has pages, none read twice; records that may have been in flight when read
    (stamped within the overlap of the read) are read once more by the next poll that has caught up.
    Nothing is saved before every signal went out, so a failed poll is done again by the next one; a
    repeated event is one more re-read."""

    @workflow.run
    async def run(self, request: SalesforcePollInput) -> SalesforcePollResult:
        start = await self._call("load_watermark", LoadWatermark(poller=POLLER), WatermarkValue, request)
        changes = await self._call(
            "read_salesforce_changes",
            ReadSalesforceChanges(watermark=start.watermark, overlap_seconds=request.overlap_seconds),
            SalesforceChanges,
            request,
        )
        if changes.accounts or changes.contacts:
            await self._call(
                "notify_account_changes",
                AccountNotifications(
                    salesforce_accounts=changes.accounts,
                    salesforce_contacts=changes.contacts,
                    source="salesforce-poller",
                ),
                Notified,
                request,
            )
        await self._call(
            "save_watermark", SaveWatermark(poller=POLLER, watermark=changes.watermark), Written, request
        )
        return SalesforcePollResult(
            watermark=changes.watermark,
            accounts_signalled=len(changes.accounts),
            contacts_signalled=len(changes.contacts),
            own_writes_skipped=changes.own_writes_skipped,
        )

    async def _call(self, activity: str, arg: Any, result_type: type[T], request: SalesforcePollInput) -> T:
        options = request.options
        return await workflow.execute_activity(
            activity,
            arg,
            result_type=result_type,
            task_queue=names.TASK_QUEUE,
            start_to_close_timeout=dt.timedelta(seconds=max(60.0, options.activity_timeout_seconds)),
            heartbeat_timeout=dt.timedelta(seconds=max(60.0, options.activity_timeout_seconds)),
            retry_policy=RetryPolicy(
                maximum_interval=dt.timedelta(seconds=options.activity_max_interval_seconds),
                maximum_attempts=options.activity_max_attempts,
            ),
        )
