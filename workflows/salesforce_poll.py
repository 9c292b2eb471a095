"""The Salesforce change poller: accounts and contacts changed since a watermark, handed to their account
sync workflows. A safety net behind outbound messages (which can be lost after a day of failed delivery,
or never configured). Started by the ``poll-salesforce`` Temporal Schedule (pausable in the web UI)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.account_changes import AccountChangeActivities
    from activities.onboarding import OnboardingSteeringActivities
    from activities.poller_state import PollerStateActivities
    from q2c.domain.messages import (
        SALESFORCE_POLLER,
        AccountNotifications,
        LoadWatermark,
        ReadSalesforceChanges,
        SalesforcePollInput,
        SalesforcePollResult,
        SaveWatermark,
    )
    from q2c.domain.messages.onboarding import OnboardingNotifications
    from workflows import names
    from workflows.calls import ActivityCalls

# Onboarding Tasks and Users are read too, and their changes told to the onboardings concerned; polls
# started before read accounts and contacts only.
ONBOARDING_POLL = "poll-salesforce-onboarding"


@workflow.defn(name=names.SALESFORCE_POLL_WORKFLOW)
class SalesforcePoll:
    """One poll of Salesforce: load the watermark (a cursor per object on SystemModstamp and Id); read the
    next page of accounts and contacts past it, and of onboarding Tasks and Users, leaving out those q2c's
    integration user changed last (loop guard 1); signal each pair's workflow, and each open onboarding
    whose Task or CSM changed; then save the cursors. A data load larger than a page takes as many polls
    as it has pages, none read twice; records that may have been in flight when read (stamped within the
    overlap of the read) are read once more by the next poll that has caught up. Nothing is saved before
    every signal went out, so a failed poll is done again by the next one; a repeated event is one more
    re-read."""

    @workflow.run
    async def run(self, request: SalesforcePollInput) -> SalesforcePollResult:
        # A failed call fails the poll (nothing is saved); the schedule's next poll does it again.
        timeout = max(60.0, request.options.activity_timeout_seconds)
        call = ActivityCalls(
            request.options, parks=False, start_to_close_seconds=timeout, heartbeat_seconds=timeout
        )
        onboarding = workflow.patched(ONBOARDING_POLL)
        start = await call(PollerStateActivities.load_watermark, LoadWatermark(poller=SALESFORCE_POLLER))
        changes = await call(
            AccountChangeActivities.read_salesforce_changes,
            ReadSalesforceChanges(
                watermark=start.watermark, overlap_seconds=request.overlap_seconds, onboarding=onboarding
            ),
        )
        if changes.accounts or changes.contacts:
            await call(
                AccountChangeActivities.notify_account_changes,
                AccountNotifications(
                    salesforce_accounts=changes.accounts,
                    salesforce_contacts=changes.contacts,
                    source="salesforce-poller",
                ),
            )
        told = 0
        if changes.onboarding_tasks or changes.users:
            notified = await call(
                OnboardingSteeringActivities.notify_onboardings,
                OnboardingNotifications(
                    tasks=changes.onboarding_tasks, users=changes.users, source="salesforce-poller"
                ),
            )
            told = notified.signalled
        await call(
            PollerStateActivities.save_watermark,
            SaveWatermark(poller=SALESFORCE_POLLER, watermark=changes.watermark),
        )
        return SalesforcePollResult(
            watermark=changes.watermark,
            accounts_signalled=len(changes.accounts),
            contacts_signalled=len(changes.contacts),
            own_writes_skipped=changes.own_writes_skipped,
            onboardings_signalled=told,
        )
