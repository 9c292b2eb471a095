"""``q2c reconcile PERIOD`` and its companions: run a period's bookings-vs-billings reconciliation (or join
the run already going), show where one stands, and retry one parked in needs_attention."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt

from pydantic import ValidationError
from rich.console import Console

from q2c.config import Settings
from q2c.domain.messages.reconciliation import ReconcileStatus
from q2c.domain.reconciliation import summary_text

console = Console()


def describe_reconciliation(status: ReconcileStatus) -> str:
    lines = [f"Reconciliation {status.period}: {status.stage.value}"]
    if status.problem:
        lines.append(f"  problem: {status.problem}")
    if status.summary is not None:
        lines.append(summary_text(status.summary))
    else:
        lines.append(f"  {status.bookings} won opportunities, {status.orders} sales orders read")
    if status.report_html:
        lines.append(f"Report: {status.report_html}")
        lines.append(f"CSV:    {status.report_csv}")
    if status.reconciliation_id:
        lines.append(
            f"Salesforce: Reconciliation__c {status.reconciliation_id}; {status.opportunities_written} "
            f"opportunities written, {status.opportunities_cleared} earlier marks cleared"
        )
    budget = f" of a budget of {status.salesforce_api_budget}" if status.salesforce_api_budget else ""
    lines.append(f"Salesforce API calls: {status.salesforce_calls}{budget}")
    for failure in status.write_failures:
        lines.append(f"  write failed: {failure}")
    return "\n".join(lines)


def _cmd_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client.connect import connect_temporal
    from temporal_client.reconciliation import is_running, reconcile_request, set_budget, start_reconciliation

    try:
        request = reconcile_request(
            settings,
            args.period,
            reporting_currency=args.reporting_currency,
            unbilled_after_days=args.unbilled_after_days,
            as_of=dt.date.fromisoformat(args.as_of) if args.as_of else None,
            salesforce_api_budget=args.budget,
        )
    except (ValidationError, ValueError) as exc:
        console.print(f"[red]reconciliation refused: {exc}")
        return 2

    async def run() -> int:
        client = await connect_temporal(settings)
        if await is_running(client, request.period):
            # Joined, not started twice: that run's own input holds (only a budget can be changed).
            console.print(
                f"reconcile:{request.period} is already running: following it (its own as-of, currency and "
                "days hold; `q2c reconcile-status` shows them)."
            )
            if args.budget is not None:
                await set_budget(client, request.period, args.budget)
                console.print(f"Its Salesforce API budget is now {args.budget}.")
        handle = await start_reconciliation(client, request)
        if args.detach:
            console.print(f"Started {handle.id}; `q2c reconcile-status {request.period}` shows it.")
            return 0
        status = await handle.result()
        if args.json:
            print(status.model_dump_json(indent=2))
        else:
            console.print(describe_reconciliation(status), markup=False, highlight=False)
        return 0

    return asyncio.run(run())


def _cmd_reconcile_status(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client.connect import connect_temporal
    from temporal_client.reconciliation import reconciliation_status

    async def run() -> int:
        status, _ = await reconciliation_status(await connect_temporal(settings), args.period.upper())
        if args.json:
            print(status.model_dump_json(indent=2))
        else:
            console.print(describe_reconciliation(status), markup=False, highlight=False)
        return 0

    try:
        return asyncio.run(run())
    except RuntimeError as exc:
        console.print(f"[red]{exc}")
        return 1


def _cmd_reconcile_retry(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client.connect import connect_temporal
    from temporal_client.reconciliation import retry

    async def run() -> None:
        await retry(await connect_temporal(settings), args.period.upper())

    asyncio.run(run())
    console.print(f"Told reconcile:{args.period.upper()} to try again.")
    return 0


def add_reconcile_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = sub.add_parser(
        "reconcile", help="reconcile bookings (Salesforce) with orders, billings and collections (NetSuite)"
    )
    run.add_argument("period", help="a month (2026-11) or a quarter (2026-Q4)")
    run.add_argument("--reporting-currency", help="totals in this currency (default Q2C_REPORTING_CURRENCY)")
    run.add_argument(
        "--unbilled-after-days", type=int, help="a booking not billed after this many days is an exception"
    )
    run.add_argument("--as-of", help="judge ages as of this day (YYYY-MM-DD; default today)")
    run.add_argument("--budget", type=int, help="Salesforce API calls the run may use")
    run.add_argument("--detach", action="store_true", help="start it and return")
    run.add_argument("--json", action="store_true", help="the result as JSON")
    run.set_defaults(handler=_cmd_reconcile)
    status = sub.add_parser("reconcile-status", help="where a period's reconciliation stands, and its totals")
    status.add_argument("period")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_cmd_reconcile_status)
    retry = sub.add_parser("reconcile-retry", help="retry a reconciliation parked in needs_attention")
    retry.add_argument("period")
    retry.set_defaults(handler=_cmd_reconcile_retry)
