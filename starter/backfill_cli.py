"""``q2c backfill`` and its companions: start a go-live backfill, watch it (a live progress bar from the
workflow's query; Ctrl-C detaches, the run goes on), pause, resume, re-budget, cancel, and read the
report of a run that has closed."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from q2c.config import Settings
from q2c.domain.backfill import BackfillFilters, OpportunityMode, Scope, eta_seconds
from q2c.domain.messages.backfill import BackfillRequest, BackfillStage, BackfillStatus

console = Console()
FINAL = (BackfillStage.DONE, BackfillStage.CANCELLED)


def describe_backfill(status: BackfillStatus) -> str:
    """The summary a person reads: per scope, what was (or would be) done, and what needs a person."""
    done, total = status.done_and_total()
    head = (
        f"Backfill {status.run_id}{' (dry run: nothing written)' if status.dry_run else ''}: {status.stage}"
    )
    lines = [head + (f" — {status.pause_reason}" if status.pause_reason else "")]
    rate = done / status.elapsed_seconds if status.elapsed_seconds else 0.0
    eta = eta_seconds(done, total, status.elapsed_seconds)
    lines.append(
        f"  progress {done}/{total}, {status.elapsed_seconds:.1f} s, {rate:.1f} records/s"
        + (f", ETA {eta:.0f} s" if eta else "")
    )
    for scope, counts in status.counts.items():
        planned = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(counts.planned.items()))
        lines.append(f"  {scope}: read {counts.read}" + (f" of {counts.total}" if counts.total else ""))
        lines.append(f"    {'would do' if status.dry_run else 'decided'}: {planned or 'nothing'}")
        if not status.dry_run:
            lines.append(
                f"    written {counts.written}, failed {counts.failed} (of {counts.to_write} writes)"
            )
    if status.catalog:
        lines.append(f"  catalog: {json.dumps(status.catalog)}")
    used = status.api.used(status.salesforce_org_used)
    allowance = status.api.allowance()
    lines.append(
        f"  Salesforce API calls: used {used}, the writes projected {status.salesforce_projected}"
        + (f", allowance {allowance}" if allowance is not None else "")
    )
    lines.append(
        f"  NetSuite records written {status.netsuite_writes}, Salesforce {status.salesforce_writes}"
    )
    for problem in status.problems[:20]:
        lines.append(f"  problem: {problem}")
    if status.report_csv:
        lines.append(f"  report: {status.report_csv}  {status.report_json}")
    return "\n".join(lines)


def _request(args: argparse.Namespace, settings: Settings) -> BackfillRequest:
    from temporal_client.backfill import backfill_options, new_run_id

    scopes = [Scope(s.strip()) for s in args.scopes.split(",") if s.strip()]
    filters = BackfillFilters(
        since=dt.date.fromisoformat(args.since) if args.since else None,
        until=dt.date.fromisoformat(args.until) if args.until else None,
        subsidiary=args.subsidiary,
        ids=[i for chunk in args.ids or [] for i in chunk.split(",") if i],
    )
    return BackfillRequest(
        run_id=args.run_id or new_run_id(args.dry_run),
        scopes=scopes,
        dry_run=args.dry_run,
        filters=filters,
        opportunities=OpportunityMode(args.opportunities),
        create_customers=not args.no_create_customers,
        create_accounts=not args.no_create_accounts,
        salesforce_api_budget=args.budget
        if args.budget is not None
        else settings.backfill_salesforce_api_budget,
        options=backfill_options(settings),
    )


async def _watch(client: object, run_id: str, interval: float = 1.0) -> BackfillStatus:
    """A live progress bar until the run closes; Ctrl-C detaches (the run goes on)."""
    from temporal_client.backfill import backfill_status

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(run_id, total=None)
        while True:
            status, finished = await backfill_status(client, run_id)  # type: ignore[arg-type]
            done, total = status.done_and_total()
            scope = status.phase.scope.value if status.phase else ""
            progress.update(
                task, completed=done, total=total or None, description=f"{run_id} {status.stage} {scope}"
            )
            if finished or status.stage in FINAL:
                return status
            await asyncio.sleep(interval)


def cmd_backfill(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client.backfill import start_backfill
    from temporal_client.connect import connect_temporal

    try:
        request = _request(args, settings)
    except (ValidationError, ValueError) as exc:
        console.print(f"[red]Backfill refused, nothing started: {exc}", highlight=False)
        return 2

    async def run() -> int:
        client = await connect_temporal(settings)
        await start_backfill(client, request)
        console.print(f"Started backfill:{request.run_id}{' (dry run)' if request.dry_run else ''}.")
        if args.detach:
            console.print(f"Watch it with: q2c backfill-status {request.run_id} --watch")
            return 0
        return await _attach(client, str(request.run_id), as_json=args.json)

    return asyncio.run(run())


async def _attach(client: object, run_id: str, *, as_json: bool) -> int:
    try:
        status = await _watch(client, run_id)
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.print(f"Detached; backfill {run_id} goes on. Re-attach: q2c backfill-status {run_id} --watch")
        return 0
    if as_json:
        console.print_json(status.model_dump_json())
    else:
        console.print(describe_backfill(status), markup=False, highlight=False)
    return 0 if status.stage == BackfillStage.DONE and not status.problems else 1


def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client.backfill import backfill_status
    from temporal_client.connect import connect_temporal

    async def run() -> int:
        client = await connect_temporal(settings)
        if args.watch:
            return await _attach(client, args.run_id, as_json=args.json)
        status, _ = await backfill_status(client, args.run_id)
        if args.json:
            console.print_json(status.model_dump_json())
        else:
            console.print(describe_backfill(status), markup=False, highlight=False)
        return 0

    return asyncio.run(run())


def cmd_control(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client import backfill
    from temporal_client.connect import connect_temporal

    async def run() -> None:
        client = await connect_temporal(settings)
        if args.command == "backfill-pause":
            await backfill.pause(client, args.run_id, args.reason)
        elif args.command == "backfill-resume":
            await backfill.resume(client, args.run_id)
        elif args.command == "backfill-cancel":
            await backfill.cancel(client, args.run_id)
        else:
            await backfill.set_budget(client, args.run_id, args.calls)

    asyncio.run(run())
    console.print(f"{args.command.removeprefix('backfill-')}: sent to backfill:{args.run_id}")
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """The report of any run, running or closed, from q2c's store (where each run keeps its rows)."""
    from q2c.store import BackfillStore, Store

    store = Store(settings.effective_database_url())
    store.create_all()
    rows = BackfillStore(store)
    run = rows.run(args.run_id)
    if run is None:
        console.print(f"[red]No backfill run {args.run_id!r} in q2c's store.")
        return 2
    directory = Path(args.output) if args.output else settings.data_dir / "backfill" / args.run_id
    csv_path, json_path = rows.export(args.run_id, directory)
    summary = json.loads(run.summary or "{}")
    if summary.get("run_id"):
        console.print(
            describe_backfill(
                BackfillStatus.model_validate(
                    {k: v for k, v in summary.items() if k in BackfillStatus.model_fields}
                )
            ),
            markup=False,
            highlight=False,
        )
    else:
        console.print(f"Backfill {args.run_id}: {run.state}")
    console.print(f"Report: {csv_path} and {json_path}", markup=False, highlight=False)
    return 0


def add_backfill_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    start = sub.add_parser("backfill", help="go-live backfill: link, create or park existing records")
    start.add_argument(
        "--scopes",
        default="accounts",
        help="comma-separated: " + ", ".join(s.value for s in Scope) + " (default: accounts)",
    )
    start.add_argument("--dry-run", action="store_true", help="write nothing; report what it would do")
    start.add_argument("--since", help="records created (deals closed) on or after YYYY-MM-DD")
    start.add_argument("--until", help="... on or before YYYY-MM-DD")
    start.add_argument("--subsidiary", help="NetSuite subsidiary id (accounts by their currency's)")
    start.add_argument(
        "--ids", action="append", help="only these Salesforce / NetSuite ids (repeat or comma-separate)"
    )
    start.add_argument(
        "--opportunities",
        choices=[m.value for m in OpportunityMode],
        default="report",
        help="won deals without a sales order: report them, or order them",
    )
    start.add_argument("--no-create-customers", action="store_true", help="never create NetSuite customers")
    start.add_argument("--no-create-accounts", action="store_true", help="never create Salesforce accounts")
    start.add_argument("--budget", type=int, help="Salesforce API calls this run may use")
    start.add_argument("--run-id", help="default: the time (dry-YYYYmmdd-HHMMSS for a dry run)")
    start.add_argument("--detach", action="store_true", help="start it and return")
    start.add_argument("--json", action="store_true", help="the final status as JSON")
    start.set_defaults(handler=cmd_backfill)

    status = sub.add_parser("backfill-status", help="a backfill's progress (--watch: live, re-attach)")
    status.add_argument("run_id")
    status.add_argument("--watch", action="store_true")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)
    for name, about in (
        ("backfill-pause", "pause a backfill after the batches in flight"),
        ("backfill-resume", "resume a paused backfill"),
        ("backfill-cancel", "stop a backfill after the batches in flight (its report says what was done)"),
        ("backfill-budget", "change a backfill's Salesforce API budget (resumes one over budget)"),
    ):
        control = sub.add_parser(name, help=about)
        control.add_argument("run_id")
        if name == "backfill-pause":
            control.add_argument("--reason", default="paused by an operator")
        if name == "backfill-budget":
            control.add_argument("calls", type=int)
        control.set_defaults(handler=cmd_control)
    report = sub.add_parser(
        "backfill-report", help="write a run's report (CSV and JSON), also after it closed"
    )
    report.add_argument("run_id")
    report.add_argument("--output", help="directory (default: .data/backfill/RUN_ID)")
    report.set_defaults(handler=cmd_report)
