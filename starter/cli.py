"""The ``q2c`` command: the ways into q2c for people and scripts."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.console import Console

from q2c.config import Settings
from q2c.domain.mapping import MappingError
from q2c.domain.messages import DealClosed, OrderStatus
from q2c.domain.order import OrderStage
from workflows import names

if TYPE_CHECKING:
    from temporalio.client import Client

console = Console()


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from starter.demo import run_demo

    return run_demo(settings, keep_running=args.keep_running)


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import worker

    worker.main()
    return 0


def _cmd_webhook(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from q2c.sandbox.server import uvicorn_config
    from q2c.sandbox.tls import ensure_server_cert
    from starter.webhook import create_webhook_app

    async def serve() -> None:
        app = create_webhook_app(settings)
        cert = ensure_server_cert(settings.tls_dir)
        await uvicorn.Server(uvicorn_config(app, settings.webhook_host, settings.webhook_port, cert)).serve()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve())
    return 0


def _cmd_sandbox_up(args: argparse.Namespace, settings: Settings) -> int:
    from q2c.sandbox.run import sandbox_setup, serve_sandboxes

    setup = sandbox_setup(
        settings.data_dir, salesforce_port=args.salesforce_port, netsuite_port=args.netsuite_port
    )
    setup.write_credentials()
    # Credentials go to a person's terminal, never into a log file (the demo sends this output to one).
    print(setup.describe(with_credentials=sys.stdout.isatty()), flush=True)
    # The sandboxes say at start what they kept from the last run (latency, limits) as warnings.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.seed:
        import threading

        from q2c.sandbox.admin_client import SandboxAdmin
        from q2c.sandbox.seed import seed_demo
        from starter.processes import port_open, wait_for

        def seed() -> None:
            wait_for(lambda: port_open(setup.host, setup.netsuite_port), timeout=30, what="sandboxes")
            with (
                SandboxAdmin(setup.salesforce_url, setup.salesforce.admin_key, setup.cert.ca_path) as sf,
                SandboxAdmin(setup.netsuite_url, setup.netsuite.admin_key, setup.cert.ca_path) as ns,
            ):
                result = seed_demo(sf, ns)
            print("seeded the demo data" if result.seeded else "demo data already present", flush=True)

        threading.Thread(target=seed, daemon=True).start()
    try:
        asyncio.run(serve_sandboxes(setup))
    except KeyboardInterrupt:
        pass
    return 0


def _cmd_sandbox_seed(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from q2c.sandbox.admin_client import SandboxAdmin
    from q2c.sandbox.generate import generate, load

    ca = settings.effective_ca_path()
    salesforce_url = settings.salesforce_token_url.split("/services/")[0]
    started = time.monotonic()
    data = generate(args.accounts, args.random_seed)
    with (
        SandboxAdmin(salesforce_url, args.admin_key, ca) as sf,
        SandboxAdmin(settings.netsuite_base_url, args.admin_key, ca) as ns,
    ):
        counts = load(data, sf, ns)
    console.print(
        f"Loaded in {time.monotonic() - started:.1f}s: " + ", ".join(f"{k} {v}" for k, v in counts.items())
    )
    return 0


def _cmd_dev_server(args: argparse.Namespace, settings: Settings) -> int:
    import os

    from starter.temporal_server import dev_server_command

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _, _, port = settings.temporal_address.rpartition(":")
    ui_port = int(settings.temporal_ui_url.rsplit(":", 1)[1].split("/")[0])
    command = dev_server_command(
        settings, port=int(port), ui_port=ui_port, db_file=settings.data_dir / "temporal.db"
    )
    os.execv(command[0], command)
    return 0  # not reached


def _cmd_setup(args: argparse.Namespace, settings: Settings) -> int:
    from starter.connect import connect_temporal
    from starter.schedules import ensure_poll_schedule, ensure_salesforce_poll_schedule
    from starter.temporal_server import register_search_attributes

    async def run() -> tuple[list[str], str, str]:
        client = await connect_temporal(settings)
        added = await register_search_attributes(client, settings.temporal_namespace)
        netsuite = await ensure_poll_schedule(client, settings)
        # Off, the Salesforce poller's schedule is created paused (resume it in the web UI or set it on).
        salesforce = await ensure_salesforce_poll_schedule(client, settings, paused=not settings.account_sync)
        return added, netsuite, salesforce

    added, schedule, salesforce = asyncio.run(run())
    console.print(
        f"Search attributes added: {', '.join(added)}" if added else "Search attributes already registered."
    )
    console.print(
        f"NetSuite poller schedule {schedule} (every {settings.netsuite_poll_interval_seconds:g}s)."
    )
    console.print(
        f"Salesforce poller schedule {salesforce} (every {settings.salesforce_poll_interval_seconds:g}s)."
    )
    return 0


def _cmd_poll(args: argparse.Namespace, settings: Settings) -> int:
    from starter.connect import connect_temporal
    from starter.schedules import poll_once

    async def run() -> int:
        result = await poll_once(await connect_temporal(settings), settings)
        console.print_json(result.model_dump_json())
        return 0

    return asyncio.run(run())


def _cmd_approve_credit(args: argparse.Namespace, settings: Settings) -> int:
    from starter.connect import connect_temporal
    from starter.orders import approve_credit

    async def run() -> int:
        client = await connect_temporal(settings)
        await approve_credit(client, args.opportunity_id, args.approved_by, args.note)
        console.print(f"credit approved for order:{args.opportunity_id} by {args.approved_by}")
        return 0

    return asyncio.run(run())


def _cmd_deal_closed(args: argparse.Namespace, settings: Settings) -> int:
    from starter.connect import connect_temporal
    from starter.orders import deal_closed, web_ui_link

    async def run() -> int:
        client = await connect_temporal(settings)
        outcome = await deal_closed(
            client, settings, DealClosed(opportunity_id=args.opportunity_id, source="cli")
        )
        if outcome.already_completed:
            console.print(f"{outcome.workflow_id} already completed: the order exists.")
        else:
            console.print(f"Signalled deal_closed to {outcome.workflow_id}.")
        console.print(web_ui_link(settings, args.opportunity_id))
        return 0

    return asyncio.run(run())


def order_query(query: str) -> str:
    """``query`` narrowed to running order workflows: account sync workflows use the same ``Q2CStage``
    values (needs_attention, ...), and an order's ``retry`` is not theirs."""
    return f'WorkflowType="{names.ORDER_WORKFLOW}" AND ExecutionStatus="Running" AND ({query})'


async def retry_matching(client: Client, query: str, reason: str = "") -> list[str]:
    """Send ``retry`` to every running order ``query`` lists; the opportunity ids, in list order."""
    from starter.orders import retry_order

    retried = []
    async for execution in client.list_workflows(order_query(query)):
        opportunity_id = names.opportunity_id_from_workflow_id(execution.id)
        await retry_order(client, opportunity_id, reason)
        retried.append(opportunity_id)
    return retried


def _cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    from temporalio.service import RPCError

    from starter.connect import connect_temporal
    from starter.orders import retry_order

    if not args.opportunity_ids and not args.query:
        console.print(
            "[red]Name the orders: q2c retry OPP_ID... or q2c retry --query 'Q2CStage=\"needs_attention\"'"
        )
        return 2

    async def run() -> int:
        client = await connect_temporal(settings)
        failures = 0
        if args.query:
            try:
                retried = await retry_matching(client, args.query, args.reason)
            except RPCError as exc:
                console.print(f"--query {args.query!r}: {exc.message}", markup=False, style="red")
                return 1
            for opportunity_id in retried:
                console.print(f"retry sent to order:{opportunity_id}")
            if not retried:
                console.print(f"No running order matches {args.query!r}: nothing to retry.", markup=False)
        for opportunity_id in args.opportunity_ids:
            try:
                await retry_order(client, opportunity_id, args.reason)
                console.print(f"retry sent to order:{opportunity_id}")
            except RPCError as exc:
                failures += 1
                console.print(f"[red]order:{opportunity_id}: {exc.message}")
        return 1 if failures else 0

    return asyncio.run(run())


def _money(amount: Decimal | None, currency: str | None) -> str:
    return "-" if amount is None else f"{amount:,.2f}" + (f" {currency}" if currency else "")


def _next_step(status: OrderStatus) -> str | None:
    opportunity_id = status.opportunity_id
    if status.stage is OrderStage.NEEDS_ATTENTION:
        return f"fix it, then: q2c retry {opportunity_id} --reason 'what was fixed'"
    if status.stage is OrderStage.AWAITING_CREDIT_RELEASE:
        return f"wait for NetSuite to release it, or: q2c approve-credit {opportunity_id} --approved-by NAME"
    return None


def describe_order(status: OrderStatus, settings: Settings) -> str:
    """An order's status for a person: what it is, what is wrong, what to do, where to look."""
    from starter.orders import order_input, web_ui_link

    label = "{:<16}".format
    amount = _money(status.amount, status.currency)
    if status.subsidiary:
        amount += f" (subsidiary {status.subsidiary})"
    customer = f"NetSuite customer {status.netsuite_customer_id or '-'}"
    if status.account_id:
        customer += f", Salesforce account {status.account_id}"
    sales_order = "-"
    if status.sales_order_id:
        sales_order = f"{status.sales_order_number or '?'} (NetSuite id {status.sales_order_id})"
    billing = "not billed yet"
    if status.billed is not None:
        billing = (
            f"billed {_money(status.billed, status.currency)}, paid {_money(status.paid, status.currency)}"
        )
        billing += f", {len(status.invoices)} invoice{'' if len(status.invoices) == 1 else 's'}"
    facts = [
        ("amount", amount),
        ("customer", customer),
        ("sales order", sales_order),
        ("billing", billing),
    ]
    if status.pending_write_back:
        facts.append(("write-back", f"the opportunity does not show it yet: {status.pending_write_back}"))
    if status.attention_reason:
        facts.append(("needs attention", status.attention_reason))
    if status.customer_candidates:
        facts.append(("candidates", "NetSuite customers " + ", ".join(status.customer_candidates)))
    if status.stage is OrderStage.AWAITING_CREDIT_RELEASE and status.credit_hold_reason:
        facts.append(("credit hold", status.credit_hold_reason))
    if status.credit_approved_by:
        facts.append(("credit", f"approved by {status.credit_approved_by}"))
    if not status.deal_won:
        facts.append(("deal", "no longer Closed Won in Salesforce"))
    if status.outcome:
        facts.append(("ended", status.outcome))
    next_step = _next_step(status)
    if next_step:
        facts.append(("next step", next_step))

    links = order_input(settings, status.opportunity_id).links
    urls = [("workflow", web_ui_link(settings, status.opportunity_id))]
    if links.salesforce:
        urls.append(
            ("opportunity", f"{links.salesforce}/lightning/r/Opportunity/{status.opportunity_id}/view")
        )
        if status.account_id:
            urls.append(("account", f"{links.salesforce}/lightning/r/Account/{status.account_id}/view"))
    if links.netsuite and status.sales_order_id:
        urls.append(
            (
                "sales order",
                f"{links.netsuite}/app/accounting/transactions/salesord.nl?id={status.sales_order_id}",
            )
        )
    if links.netsuite and status.netsuite_customer_id:
        urls.append(
            ("customer", f"{links.netsuite}/app/common/entity/custjob.nl?id={status.netsuite_customer_id}")
        )
    return "\n".join(
        [
            f"Order for opportunity {status.opportunity_id}: {status.stage.value}",
            *(f"  {label(name)}{value}" for name, value in facts),
            "links",
            *(f"  {label(name)}{url}" for name, url in urls),
        ]
    )


def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    from starter.connect import connect_temporal
    from starter.orders import order_status

    async def run() -> int:
        client = await connect_temporal(settings)
        status = await order_status(client, args.opportunity_id)
        if args.json:
            console.print_json(status.model_dump_json())
        else:
            console.print(describe_order(status, settings), markup=False, highlight=False, soft_wrap=True)
        return 0

    return asyncio.run(run())


def _cmd_account_sync(args: argparse.Namespace, settings: Settings) -> int:
    from q2c.domain.account_sync import SalesforceAccountChanged
    from starter.accounts import account_sync_options, salesforce_account_changed
    from starter.connect import connect_temporal

    async def run() -> int:
        client = await connect_temporal(settings)
        for account_id in args.account_ids:
            event = SalesforceAccountChanged(account_id=account_id, source="cli")
            await salesforce_account_changed(client, account_sync_options(settings), event)
            console.print(f"sync requested for account:{account_id}")
        return 0

    return asyncio.run(run())


def _cmd_account_status(args: argparse.Namespace, settings: Settings) -> int:
    from starter.accounts import workflow_status
    from starter.connect import connect_temporal

    async def run() -> int:
        status = await workflow_status(await connect_temporal(settings), args.workflow)
        console.print_json(status.model_dump_json(exclude={"baseline"}))
        return 0

    return asyncio.run(run())


def _cmd_choose_match(args: argparse.Namespace, settings: Settings) -> int:
    from q2c.domain.account_sync import ChooseMatch
    from starter.accounts import choose_match
    from starter.connect import connect_temporal

    async def run() -> int:
        choice = ChooseMatch(record_id=args.record_id, create=args.create)
        try:
            told = await choose_match(await connect_temporal(settings), args.workflow, choice)
        except LookupError as nothing:
            console.print(f"[red]{nothing}[/red]")
            return 1
        decision = "create a new record" if args.create else f"link to {args.record_id}"
        console.print(f"{args.workflow}: {decision} (told {', '.join(told)})")
        return 0

    return asyncio.run(run())


def _cmd_poll_salesforce(args: argparse.Namespace, settings: Settings) -> int:
    from starter.connect import connect_temporal
    from starter.schedules import salesforce_poll_once

    async def run() -> int:
        result = await salesforce_poll_once(await connect_temporal(settings), settings)
        console.print_json(result.model_dump_json())
        return 0

    return asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="q2c", description="Salesforce <-> NetSuite quote-to-cash on Temporal"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run everything on this machine and close some demo deals")
    demo.add_argument("--keep-running", action="store_true", help="keep every process up for the web UI")
    demo.set_defaults(handler=_cmd_demo)

    sub.add_parser("worker", help="run the Temporal worker").set_defaults(handler=_cmd_worker)
    sub.add_parser(
        "webhook", help="serve the deal-closed webhook (Salesforce outbound messages)"
    ).set_defaults(handler=_cmd_webhook)
    sub.add_parser(
        "dev-server", help="run the Temporal dev server with q2c's search attributes"
    ).set_defaults(handler=_cmd_dev_server)
    sub.add_parser(
        "setup",
        help="register q2c's search attributes and the two poller schedules on the Temporal cluster",
    ).set_defaults(handler=_cmd_setup)
    sub.add_parser("poll", help="poll NetSuite for billing and credit changes once, now").set_defaults(
        handler=_cmd_poll
    )
    approve = sub.add_parser("approve-credit", help="let an order waiting on a credit hold go ahead")
    approve.add_argument("opportunity_id")
    approve.add_argument("--approved-by", required=True, help="who in finance approved it")
    approve.add_argument("--note", default="")
    approve.set_defaults(handler=_cmd_approve_credit)

    sandbox = sub.add_parser("sandbox", help="the local Salesforce and NetSuite sandboxes")
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True)
    up = sandbox_sub.add_parser("up", help="serve both sandboxes and print their URLs and credentials")
    up.add_argument("--salesforce-port", type=int, default=9443)
    up.add_argument("--netsuite-port", type=int, default=9444)
    up.add_argument("--seed", action="store_true", help="load the demo data set into empty sandboxes")
    up.set_defaults(handler=_cmd_sandbox_up)
    seed = sandbox_sub.add_parser(
        "seed", help="load a generated, realistically messy data set of any size into running sandboxes"
    )
    seed.add_argument("--accounts", type=int, default=1000)
    seed.add_argument("--random-seed", type=int, default=7, help="same seed, same data")
    seed.add_argument("--admin-key", default="q2c-sandbox-admin")
    seed.set_defaults(handler=_cmd_sandbox_seed)

    closed = sub.add_parser("deal-closed", help="tell q2c an opportunity is Closed Won")
    closed.add_argument("opportunity_id")
    closed.set_defaults(handler=_cmd_deal_closed)

    retry = sub.add_parser("retry", help="retry orders parked in needs_attention (after fixing the data)")
    retry.add_argument("opportunity_ids", nargs="*")
    retry.add_argument(
        "--query",
        help="every running order this visibility query lists, e.g. 'Q2CStage=\"needs_attention\"' "
        "(only order workflows are signalled)",
    )
    retry.add_argument("--reason", default="", help="what was fixed (kept in the workflow history)")
    retry.set_defaults(handler=_cmd_retry)

    status = sub.add_parser("status", help="show an order's stage, amounts, sales order, billing and links")
    status.add_argument("opportunity_id")
    status.add_argument("--json", action="store_true", help="the status query's answer as JSON")
    status.set_defaults(handler=_cmd_status)

    sync = sub.add_parser("account-sync", help="sync accounts with their NetSuite customers now")
    sync.add_argument("account_ids", nargs="+")
    sync.set_defaults(handler=_cmd_account_sync)
    account = sub.add_parser("account-status", help="show an account sync's stage, link, counters")
    account.add_argument("workflow", help="account id, account:<id> or account:ns:<customer id>")
    account.set_defaults(handler=_cmd_account_status)
    choose = sub.add_parser("choose-match", help="settle an ambiguous account/customer match")
    choose.add_argument("workflow", help="account id, account:<id> or account:ns:<customer id>")
    which = choose.add_mutually_exclusive_group(required=True)
    which.add_argument("--record-id", help="the other system's record to link to")
    which.add_argument("--create", action="store_true", help="none of them: create a new record")
    choose.set_defaults(handler=_cmd_choose_match)
    sub.add_parser(
        "poll-salesforce", help="poll Salesforce for account and contact changes once, now"
    ).set_defaults(handler=_cmd_poll_salesforce)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        sys.exit(args.handler(args, settings))
    except MappingError as exc:
        console.print(f"[red]{exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
