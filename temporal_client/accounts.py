"""Starting and steering account sync workflows: what the webhook, the pollers and the CLI share.

Every change event is a signal-with-start on the pair's workflow id, so the first event starts the
workflow and later ones signal it; a workflow that ended (its account was deleted) is simply started anew.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from q2c.config import Settings
from q2c.domain.account_sync import AccountStage
from q2c.domain.messages import (
    AccountSyncInput,
    AccountSyncOptions,
    AccountSyncStatus,
    ChooseMatch,
    CustomerIntakeInput,
    CustomerIntakeStatus,
    NetSuiteCustomerChanged,
    SalesforceAccountChanged,
    SalesforceContactChanged,
    SyncRetry,
)
from q2c.domain.salesforce_ids import normalize_salesforce_id
from temporal_client.limits import activity_limits
from workflows import names


def account_sync_options(settings: Settings) -> AccountSyncOptions:
    return AccountSyncOptions(
        **activity_limits(settings),
        syncs_per_run=settings.account_syncs_per_run,
    )


async def _signal_with_start(
    client: Client, options: AccountSyncOptions, account_id: str, signal: str, event: object
) -> WorkflowHandle[object, object]:
    return await client.start_workflow(
        names.ACCOUNT_SYNC_WORKFLOW,
        AccountSyncInput(account_id=account_id, options=options),
        id=names.account_workflow_id(account_id),
        task_queue=names.TASK_QUEUE,
        start_signal=signal,
        start_signal_args=[event],
        static_summary=f"Account sync for {account_id}",
    )


async def salesforce_account_changed(
    client: Client, options: AccountSyncOptions, event: SalesforceAccountChanged
) -> None:
    await _signal_with_start(client, options, event.account_id, names.SALESFORCE_CHANGED_SIGNAL, event)


async def salesforce_contact_changed(
    client: Client, options: AccountSyncOptions, account_id: str, event: SalesforceContactChanged
) -> None:
    await _signal_with_start(client, options, account_id, names.CONTACT_CHANGED_SIGNAL, event)


async def netsuite_customer_changed(
    client: Client, options: AccountSyncOptions, event: NetSuiteCustomerChanged, account_id: str | None
) -> None:
    """To the pair's workflow when the customer is linked, else to the intake of a NetSuite-born customer."""
    if account_id:
        await _signal_with_start(client, options, account_id, names.NETSUITE_CHANGED_SIGNAL, event)
        return
    await client.start_workflow(
        names.CUSTOMER_INTAKE_WORKFLOW,
        CustomerIntakeInput(customer_id=event.customer_id, options=options),
        id=names.intake_workflow_id(event.customer_id),
        task_queue=names.TASK_QUEUE,
        start_signal=names.NETSUITE_CHANGED_SIGNAL,
        start_signal_args=[event],
        static_summary=f"NetSuite-born customer {event.customer_id}",
    )


def _handle(client: Client, workflow_id: str) -> WorkflowHandle[object, object]:
    """``account:ns:{customer id}`` as given; an account id (bare or ``account:{id}``, 15 or 18
    characters) as its 18-character pair workflow. InvalidSalesforceId names a mistyped id."""
    if workflow_id.startswith(names.intake_workflow_id("")):
        return client.get_workflow_handle(workflow_id)
    account_id = normalize_salesforce_id(workflow_id.removeprefix(names.account_workflow_id("")))
    return client.get_workflow_handle(names.account_workflow_id(account_id))


async def choose_match(client: Client, workflow_id: str, choice: ChooseMatch) -> list[str]:
    """Settle an ambiguous match: ``workflow_id`` is ``account:{id}``, ``account:ns:{id}`` or an account id.

    For an account, the choice goes to its sync workflow (when account sync runs) and to every running
    order of that account, which match by the same rules and park on the same question. Returns the ids
    of the workflows told; LookupError when none was running."""
    handle = _handle(client, workflow_id)
    told: list[str] = []
    try:
        await handle.signal(names.CHOOSE_MATCH_SIGNAL, choice)
        told.append(handle.id)
    except RPCError as missing:
        if missing.status is not RPCStatusCode.NOT_FOUND:
            raise
    if not handle.id.startswith(names.intake_workflow_id("")):
        account_id = handle.id.removeprefix(names.account_workflow_id(""))
        query = (
            f'WorkflowType = "{names.ORDER_WORKFLOW}" AND ExecutionStatus = "Running" AND '
            f'{names.SALESFORCE_ACCOUNT_ID.name} = "{account_id}"'
        )
        async for order in client.list_workflows(query):
            try:
                await client.get_workflow_handle(order.id).signal(names.CHOOSE_MATCH_SIGNAL, choice)
            except RPCError as finished:  # completed since the (eventually consistent) listing
                if finished.status is not RPCStatusCode.NOT_FOUND:
                    raise
                continue
            told.append(order.id)
    if not told:
        raise LookupError(f"no running workflow waits for a match for {workflow_id}")
    return told


async def retry_account(client: Client, workflow_id: str, reason: str = "") -> None:
    await _handle(client, workflow_id).signal(names.RETRY_SIGNAL, SyncRetry(reason=reason))


async def workflow_status(client: Client, workflow_id: str) -> AccountSyncStatus | CustomerIntakeStatus:
    """The status of ``account:{id}``, ``account:ns:{id}`` or a bare account id's workflow."""
    handle = _handle(client, workflow_id)
    if handle.id.startswith(names.intake_workflow_id("")):
        return await handle.query(names.STATUS_QUERY, result_type=CustomerIntakeStatus)
    return await handle.query(names.STATUS_QUERY, result_type=AccountSyncStatus)


async def account_status(client: Client, account_id: str) -> AccountSyncStatus:
    handle = client.get_workflow_handle(names.account_workflow_id(account_id))
    return await handle.query(names.STATUS_QUERY, result_type=AccountSyncStatus)


def is_settled(status: AccountSyncStatus | CustomerIntakeStatus) -> bool:
    """Nothing queued and not mid-sync: in sync, parked for a person, handed over or ended."""
    if isinstance(status, CustomerIntakeStatus):
        return status.stage in (AccountStage.HANDED_OVER, AccountStage.NEEDS_ATTENTION)
    idle = not (status.pending_salesforce or status.pending_netsuite or status.pending_contacts)
    if status.stage is AccountStage.NEEDS_ATTENTION:
        return True
    return idle and status.stage in (AccountStage.IN_SYNC, AccountStage.DELETED)


async def wait_for_account(
    client: Client,
    workflow_id: str,
    within_seconds: float,
    until: Callable[[Any], bool] = is_settled,
) -> Any:
    """Poll the workflow's status until ``until(status)``; TimeoutError names the last state seen."""
    deadline = time.monotonic() + within_seconds
    last: AccountSyncStatus | CustomerIntakeStatus | None = None
    while time.monotonic() < deadline:
        try:
            last = await workflow_status(client, workflow_id)
            if until(last):
                return last
        except RPCError:
            pass  # not started yet (the event is on its way)
        await asyncio.sleep(0.1)
    raise TimeoutError(
        f"{workflow_id} did not settle within {within_seconds:.0f}s (last: "
        f"{last.stage.value + ' ' + last.message if last else 'not started'})"
    )
