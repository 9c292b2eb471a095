"""``q2c onboarding-*``: start a customer's onboarding on purpose, see where one stands, and the person
actions (skip a step, reassign the CSM, finish early, retry one parked)."""

from __future__ import annotations

import argparse
import asyncio

from rich.console import Console
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from q2c.config import Settings
from q2c.domain.messages.onboarding import FinishEarly, OnboardingStatus, Reassign, SkipStep

console = Console()


def describe_onboarding(status: OnboardingStatus, finished: bool) -> str:
    lines = [
        f"Onboarding of NetSuite customer {status.customer_id}"
        + (f" ({status.account_name}, account {status.account_id})" if status.account_id else "")
        + f": {status.stage.value}"
        + (" (finished)" if finished else "")
    ]
    lines += [f"  {label}: {text}" for label, text in status.facts_shown()]
    for key, step in status.steps.items():
        when = f"due {step.due}" if step.due else "not created yet"
        extra = f" {step.done_on}" if step.done_on else ""
        if step.escalated_on:
            extra += f", escalated {step.escalated_on}"
        if step.note:
            extra += f" ({step.note})"
        lines.append(f"    {key:<16} {when:<18} {step.status.value}{extra}")
    lines += [f"  {line}" for line in status.history[-10:]]
    return "\n".join(lines)


def _customer(value: str) -> str:
    customer = value.removeprefix("onboarding:")
    if not customer.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a NetSuite customer id (its internal id: digits)")
    return customer


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client.connect import connect_temporal
    from temporal_client.onboarding import onboarding_status

    async def run() -> int:
        client = await connect_temporal(settings)
        try:
            status, finished = await onboarding_status(client, args.customer_id)
        except RPCError as exc:
            console.print(f"[red]no onboarding for NetSuite customer {args.customer_id}: {exc.message}")
            return 1
        if args.json:
            print(status.model_dump_json(indent=2))
        else:
            console.print(describe_onboarding(status, finished), markup=False, highlight=False)
        return 1 if status.attention_reason else 0

    return asyncio.run(run())


def _cmd_start(args: argparse.Namespace, settings: Settings) -> int:
    """A person's request: the customer must exist in NetSuite; a finished onboarding starts again."""
    from q2c.connectors.errors import ApiError
    from q2c.connectors.netsuite_billing import NetSuiteBilling
    from q2c.store import OnboardingStore, Store
    from temporal_client.connect import connect_temporal
    from temporal_client.onboarding import start_onboarding
    from worker import netsuite_client

    async def run() -> int:
        netsuite = netsuite_client(settings)
        try:
            try:
                customer = await netsuite.get("customer", args.customer_id)
                first = await NetSuiteBilling(netsuite).first_order_of(args.customer_id)
            except ApiError as exc:
                console.print(f"[red]onboarding not started: NetSuite customer {args.customer_id}: {exc}")
                return 2
        finally:
            await netsuite.aclose()
        store = Store(settings.effective_database_url())
        store.create_all()
        row = await asyncio.to_thread(OnboardingStore(store).force, args.customer_id, source="person")
        client = await connect_temporal(settings)
        try:
            handle = await start_onboarding(
                client,
                settings,
                first,
                customer_id=args.customer_id,
                attempt=row.attempt,
                source="person",
                requested_by=args.by,
            )
        except WorkflowAlreadyStartedError:
            console.print(
                f"onboarding:{args.customer_id} is already running (q2c onboarding-status shows it)."
            )
            return 0
        name = customer.get("companyName") or args.customer_id
        console.print(
            f"Started {handle.id} for {name} (attempt {row.attempt}"
            + (f", first order {first.sales_order_number}" if first else ", no sales order yet")
            + f"); q2c onboarding-status {args.customer_id} shows it."
        )
        return 0

    return asyncio.run(run())


def _update(args: argparse.Namespace, settings: Settings, what: str) -> int:
    from temporal_client import onboarding
    from temporal_client.connect import connect_temporal

    async def run() -> int:
        client = await connect_temporal(settings)
        try:
            if what == "skip":
                done = await onboarding.skip_step(
                    client, args.customer_id, SkipStep(step=args.step, reason=args.reason, by=args.by)
                )
            elif what == "reassign":
                done = await onboarding.reassign(
                    client, args.customer_id, Reassign(csm=args.csm, reason=args.reason, by=args.by)
                )
            else:
                done = await onboarding.finish_early(
                    client, args.customer_id, FinishEarly(reason=args.reason, by=args.by)
                )
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            console.print(f"[red]refused: {getattr(cause, 'message', None) or cause or exc}")
            return 2
        except RPCError as exc:
            console.print(
                f"[red]no running onboarding for NetSuite customer {args.customer_id}: {exc.message}"
            )
            return 1
        console.print(done.message)
        return 0

    return asyncio.run(run())


def _cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client.connect import connect_temporal
    from temporal_client.onboarding import retry_onboarding

    async def run() -> int:
        await retry_onboarding(await connect_temporal(settings), args.customer_id, args.reason)
        console.print(f"retry sent to onboarding:{args.customer_id}")
        return 0

    return asyncio.run(run())


def add_onboarding_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def customer(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "customer_id", type=_customer, help="the NetSuite customer id (or onboarding:<id>)"
        )

    def person(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--by", required=True, help="who does this (recorded on the onboarding)")

    status = sub.add_parser(
        "onboarding-status", help="a customer's onboarding: stage, CSM, tasks, what is due"
    )
    customer(status)
    status.add_argument("--json", action="store_true", help="the status query's answer as JSON")
    status.set_defaults(handler=_cmd_status)

    start = sub.add_parser(
        "onboarding-start",
        help="onboard a customer on purpose (one that had orders before q2c, or again after it finished)",
    )
    customer(start)
    person(start)
    start.set_defaults(handler=_cmd_start)

    skip = sub.add_parser("onboarding-skip", help="skip a step of a customer's onboarding")
    customer(skip)
    skip.add_argument("step", help="the step's key in the onboarding file (kickoff, welcome_pack, ...)")
    person(skip)
    skip.add_argument("--reason", default="")
    skip.set_defaults(handler=lambda a, s: _update(a, s, "skip"))

    reassign = sub.add_parser("onboarding-reassign", help="give a customer's onboarding another CSM")
    customer(reassign)
    reassign.add_argument("--csm", required=True, help="the new CSM's Salesforce username or user id")
    person(reassign)
    reassign.add_argument("--reason", default="")
    reassign.set_defaults(handler=lambda a, s: _update(a, s, "reassign"))

    finish = sub.add_parser("onboarding-finish", help="finish a customer's onboarding early")
    customer(finish)
    person(finish)
    finish.add_argument("--reason", required=True, help="why (shown on Onboarding__c)")
    finish.set_defaults(handler=lambda a, s: _update(a, s, "finish"))

    retry = sub.add_parser("onboarding-retry", help="retry an onboarding parked in needs_attention")
    customer(retry)
    retry.add_argument("--reason", default="")
    retry.set_defaults(handler=_cmd_retry)
