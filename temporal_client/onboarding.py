"""Starting and steering onboarding workflows: what the worker's activities, the CLI and the demo share.

An onboarding is started by signal-with-start ``first_order`` on ``onboarding:{customer id}``; whether it
should start at all is decided before, in q2c's store (once per customer). The CLI's person actions are
workflow updates, so a wrong step or user is refused with the reason and nothing is recorded.
"""

from __future__ import annotations

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from q2c.config import Settings
from q2c.domain.messages import RetryRequest
from q2c.domain.messages.onboarding import (
    FinishEarly,
    FirstOrder,
    OnboardingInput,
    OnboardingOptions,
    OnboardingStatus,
    PersonActionDone,
    Reassign,
    SkipStep,
)
from temporal_client.limits import activity_limits
from temporal_client.orders import record_links
from temporal_client.status import live_or_final
from workflows import names


def onboarding_input(
    settings: Settings,
    customer_id: str,
    *,
    first_order: FirstOrder | None = None,
    attempt: int = 1,
    source: str = "order",
    requested_by: str | None = None,
) -> OnboardingInput:
    return OnboardingInput(
        customer_id=customer_id,
        first_order=first_order,
        attempt=attempt,
        source=source,
        requested_by=requested_by,
        options=OnboardingOptions(
            **activity_limits(settings),
            task_recheck_seconds=settings.onboarding_task_recheck_seconds,
            credit_recheck_seconds=settings.credit_recheck_seconds,
            credit_overdue_days=settings.credit_overdue_days,
        ),
        links=record_links(settings),
    )


async def start_onboarding(
    client: Client,
    settings: Settings,
    first_order: FirstOrder | None,
    *,
    customer_id: str | None = None,
    attempt: int,
    source: str,
    requested_by: str | None = None,
) -> WorkflowHandle[object, object]:
    """Signal-with-start ``first_order``: starts the customer's onboarding or signals the running one. A
    finished one is started anew (the next attempt): only q2c's store, which every caller asks first,
    says whether that is right. Without a first order (a person onboarding a customer that has none) it
    is a plain start, refused while one runs (WorkflowAlreadyStartedError)."""
    customer = first_order.customer_id if first_order else customer_id
    if customer is None:
        raise ValueError("start_onboarding needs a first order or a customer id")
    return await client.start_workflow(
        names.ONBOARDING_WORKFLOW,
        onboarding_input(settings, customer, attempt=attempt, source=source, requested_by=requested_by),
        id=names.onboarding_workflow_id(customer),
        task_queue=names.TASK_QUEUE,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        start_signal=names.FIRST_ORDER_SIGNAL if first_order else None,
        start_signal_args=[first_order] if first_order else [],
        static_summary=f"Onboarding of NetSuite customer {customer}",
    )


async def is_running(client: Client, customer_id: str) -> bool:
    """Whether the customer's onboarding workflow runs now (its latest run)."""
    try:
        description = await client.get_workflow_handle(names.onboarding_workflow_id(customer_id)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return description.status == WorkflowExecutionStatus.RUNNING


async def signal_onboarding(client: Client, customer_id: str, signal: str, arg: object) -> int:
    """Signal a running onboarding; 0 when none runs for the customer (finished, or never started)."""
    handle = client.get_workflow_handle(names.onboarding_workflow_id(customer_id))
    try:
        await handle.signal(signal, arg)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return 0
        raise
    return 1


def _handle(client: Client, customer_id: str) -> WorkflowHandle[object, OnboardingStatus]:
    customer = customer_id.removeprefix(names.onboarding_workflow_id(""))
    if not customer.isdigit():
        raise ValueError(f"{customer_id!r} is not a NetSuite customer id (digits) nor onboarding:<id>")
    return client.get_workflow_handle(names.onboarding_workflow_id(customer), result_type=OnboardingStatus)


async def onboarding_status(client: Client, customer_id: str) -> tuple[OnboardingStatus, bool]:
    """(status, finished): live while it runs, its result once it has completed."""
    return await live_or_final(_handle(client, customer_id), f"onboarding:{customer_id}", OnboardingStatus)


async def skip_step(client: Client, customer_id: str, request: SkipStep) -> PersonActionDone:
    return await _handle(client, customer_id).execute_update(
        names.SKIP_STEP_UPDATE, request, result_type=PersonActionDone
    )


async def reassign(client: Client, customer_id: str, request: Reassign) -> PersonActionDone:
    return await _handle(client, customer_id).execute_update(
        names.REASSIGN_UPDATE, request, result_type=PersonActionDone
    )


async def finish_early(client: Client, customer_id: str, request: FinishEarly) -> PersonActionDone:
    return await _handle(client, customer_id).execute_update(
        names.FINISH_EARLY_UPDATE, request, result_type=PersonActionDone
    )


async def retry_onboarding(client: Client, customer_id: str, reason: str = "") -> None:
    await _handle(client, customer_id).signal(names.RETRY_SIGNAL, RetryRequest(reason=reason))
