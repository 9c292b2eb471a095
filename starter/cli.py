"""The ``q2c`` command: the ways into q2c for people and scripts."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import logging
import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from rich.console import Console

from q2c.config import Settings
from q2c.domain.mapping import MappingError
from q2c.domain.messages import DealClosed, OrderStatus
from q2c.domain.messages.catalog import CatalogStatus
from q2c.domain.onboarding import OnboardingFileError
from q2c.domain.order import OrderStage
from workflows import names

if TYPE_CHECKING:
    from temporalio.client import Client

console = Console()


def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    import worker

    worker.main()
    return 0


def _cmd_webhook(args: argparse.Namespace, settings: Settings) -> int:
    from starter.webhook import serve_webhook

    async def serve() -> None:
        await serve_webhook(settings)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve())
    return 0


def _cmd_codec_server(args: argparse.Namespace, settings: Settings) -> int:
    from starter.codec_server import serve_codec

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve_codec(settings))
    return 0


def _cmd_promote_build(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client.connect import connect_temporal
    from temporal_client.deployments import promote_build

    if not settings.worker_deployment_name:
        console.print("[red]Set Q2C_WORKER_DEPLOYMENT_NAME: the Worker Deployment whose version to promote")
        return 2

    async def run() -> str | None:
        client = await connect_temporal(settings)
        return await promote_build(client, settings.worker_deployment_name or "", args.build_id)

    previous = asyncio.run(run())
    console.print(
        f"{settings.worker_deployment_name}.{args.build_id} is now the current version"
        + (f" (was {previous})." if previous else ".")
        + " Running workflows move to it at their next workflow task (auto-upgrade)."
    )
    return 0


def _cmd_setup(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client.connect import connect_temporal, register_search_attributes
    from temporal_client.reconciliation import MONTH_END_HOUR_UTC, ensure_reconcile_schedule
    from temporal_client.schedules import (
        ensure_catalog_schedules,
        ensure_poll_schedule,
        ensure_salesforce_poll_schedule,
    )

    async def run() -> tuple[list[str], str, str, list[str], str]:
        client = await connect_temporal(settings)
        added = await register_search_attributes(client, client.namespace)
        netsuite = await ensure_poll_schedule(client, settings)
        # Off, the Salesforce poller's schedule is created paused (resume it in the web UI or set it on).
        salesforce = await ensure_salesforce_poll_schedule(client, settings, paused=not settings.account_sync)
        catalog = await ensure_catalog_schedules(client, settings)
        reconcile = await ensure_reconcile_schedule(client, settings)
        return added, netsuite, salesforce, catalog, reconcile

    added, schedule, salesforce, (catalog, inventory, full), reconcile = asyncio.run(run())
    console.print(
        f"Search attributes added: {', '.join(added)}" if added else "Search attributes already registered."
    )
    console.print(
        f"NetSuite poller schedule {schedule} (every {settings.netsuite_poll_interval_seconds:g}s)."
    )
    console.print(
        f"Salesforce poller schedule {salesforce} (every {settings.salesforce_poll_interval_seconds:g}s)."
    )
    console.print(f"Catalog sync schedule {catalog} (every {settings.catalog_sync_interval_seconds:g}s).")
    console.print(
        f"Inventory sync schedule {inventory} (every {settings.inventory_sync_interval_seconds:g}s)."
    )
    console.print(
        f"Full inventory sync schedule {full} (every {settings.inventory_full_sync_interval_seconds:g}s)."
    )
    console.print(
        f"Bookings-vs-billings schedule {reconcile} (the 1st of each month, {MONTH_END_HOUR_UTC:02d}:00 UTC: "
        "the month just ended, and the quarter when it closed one)."
    )
    return 0


def _cmd_poll(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client.connect import connect_temporal
    from temporal_client.schedules import poll_once

    async def run() -> int:
        result = await poll_once(await connect_temporal(settings), settings)
        console.print_json(result.model_dump_json())
        return 0

    return asyncio.run(run())


def _cmd_approve_credit(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client.connect import connect_temporal
    from temporal_client.orders import approve_credit

    async def run() -> int:
        client = await connect_temporal(settings)
        await approve_credit(client, args.opportunity_id, args.approved_by, args.note)
        console.print(f"credit approved for order:{args.opportunity_id} by {args.approved_by}")
        return 0

    return asyncio.run(run())


def _cmd_deal_closed(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client.connect import connect_temporal
    from temporal_client.orders import deal_closed, web_ui_link

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
    from temporal_client.orders import retry_order

    retried = []
    async for execution in client.list_workflows(order_query(query)):
        opportunity_id = names.opportunity_id_from_workflow_id(execution.id)
        await retry_order(client, opportunity_id, reason)
        retried.append(opportunity_id)
    return retried


def _cmd_retry(args: argparse.Namespace, settings: Settings) -> int:
    from temporalio.service import RPCError

    from temporal_client.connect import connect_temporal
    from temporal_client.orders import retry_order

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
    from temporal_client.orders import order_input, web_ui_link

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
    if status.netsuite_order_status:
        facts.append(("order status", f"{status.netsuite_order_status} (NetSuite)"))
    for shown in status.fulfillments.values():
        when = f", shipped {shown.ship_date}" if shown.ship_date else ""
        facts.append(("fulfilment", f"{shown.number}: {shown.status}{when}, {shown.lines}"))
    if status.inventory_warning:
        facts.append(("stock", status.inventory_warning))
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
    from temporal_client.connect import connect_temporal
    from temporal_client.orders import order_status

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
    from q2c.domain.messages import SalesforceAccountChanged
    from temporal_client.accounts import account_sync_options, salesforce_account_changed
    from temporal_client.connect import connect_temporal

    async def run() -> int:
        client = await connect_temporal(settings)
        for account_id in args.account_ids:
            event = SalesforceAccountChanged(account_id=account_id, source="cli")
            await salesforce_account_changed(client, account_sync_options(settings), event)
            console.print(f"sync requested for account:{account_id}")
        return 0

    return asyncio.run(run())


def _cmd_account_status(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client.accounts import workflow_status
    from temporal_client.connect import connect_temporal

    async def run() -> int:
        status = await workflow_status(await connect_temporal(settings), args.workflow)
        console.print_json(status.model_dump_json(exclude={"baseline"}))
        return 0

    return asyncio.run(run())


def _cmd_choose_match(args: argparse.Namespace, settings: Settings) -> int:
    from q2c.domain.messages import ChooseMatch
    from temporal_client.accounts import choose_match
    from temporal_client.connect import connect_temporal

    async def run() -> int:
        choice = ChooseMatch(record_id=args.record_id, create=args.create)
        try:
            told = await choose_match(await connect_temporal(settings), args.workflow, choice)
        except (LookupError, ValueError) as nothing:  # no workflow waiting, or a mistyped id
            console.print(f"[red]{nothing}[/red]")
            return 1
        decision = "create a new record" if args.create else f"link to {args.record_id}"
        console.print(f"{args.workflow}: {decision} (told {', '.join(told)})")
        return 0

    return asyncio.run(run())


def _cmd_poll_salesforce(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client.connect import connect_temporal
    from temporal_client.schedules import salesforce_poll_once

    async def run() -> int:
        result = await salesforce_poll_once(await connect_temporal(settings), settings)
        console.print_json(result.model_dump_json())
        return 0

    return asyncio.run(run())


def describe_sync(what: str, status: CatalogStatus) -> str:
    """A catalog or inventory sync's result, for people: what it wrote, reported and parked."""
    scope = "the whole catalog" if status.since is None else f"changes since {status.since} (NetSuite time)"
    lines = [
        f"{what}: {status.items_read} items read ({scope}), {status.pages} pages, {status.written} records written",
        f"  products: {status.products_created} created, {status.products_updated} updated",
    ]
    if status.entries_created or status.entries_updated or what.startswith("Catalog"):
        lines.append(
            f"  price book entries: {status.entries_created} created, {status.entries_updated} updated"
        )
    if status.levels_written:
        lines.append(f"  inventory levels written: {status.levels_written}")
    lines.append(f"  unchanged: {status.records_unchanged}")
    if status.not_in_catalog:
        lines.append(
            f"  items with no product in Salesforce yet (parked until the catalog sync makes it): {status.not_in_catalog}"
        )
    if status.orders_signalled:
        lines.append(f"  orders waiting for stock told: {status.orders_signalled}")
    for kind, count in sorted(status.notes_by_kind.items()):
        lines.append(f"  reported, {kind.replace('_', ' ')}: {count}")
        lines += [f"    - {n.message}" for n in status.notes if n.kind == kind][:5]
    if status.parked_count:
        lines.append(f"  PARKED (retried by every later run): {len(status.parked)}")
        lines += [f"    - {p.reason}" for p in status.parked[:20]]
    return "\n".join(lines)


def _cmd_sync_catalog(args: argparse.Namespace, settings: Settings) -> int:
    from temporal_client.connect import connect_temporal
    from temporal_client.schedules import sync_catalog_once, sync_inventory_once

    async def run() -> int:
        client = await connect_temporal(settings)
        if args.command == "sync-inventory":
            status = await sync_inventory_once(client, settings, full=args.full)
            what = "Inventory sync"
        else:
            status = await sync_catalog_once(client, settings, full=args.full)
            what = "Catalog sync"
        if args.json:
            console.print_json(status.model_dump_json())
        else:
            console.print(describe_sync(what, status), markup=False, highlight=False)
        return 1 if status.parked else 0

    return asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="q2c", description="Salesforce <-> NetSuite quote-to-cash on Temporal"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("worker", help="run the Temporal worker").set_defaults(handler=_cmd_worker)
    sub.add_parser(
        "webhook", help="serve the deal-closed webhook (Salesforce outbound messages)"
    ).set_defaults(handler=_cmd_webhook)
    sub.add_parser(
        "codec-server", help="decrypt payloads for the Temporal web UI and CLI (needs the key ring)"
    ).set_defaults(handler=_cmd_codec_server)
    promote = sub.add_parser(
        "promote-build",
        help="make a build the current version of the worker deployment (after its replay tests)",
    )
    promote.add_argument("build_id", help="the Q2C_WORKER_BUILD_ID of the workers to route new tasks to")
    promote.set_defaults(handler=_cmd_promote_build)
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
    for name, about in (
        ("sync-catalog", "sync NetSuite items and prices to Salesforce products and price books now"),
        ("sync-inventory", "sync NetSuite stock to Salesforce products (and inventory levels) now"),
    ):
        catalog = sub.add_parser(name, help=about)
        catalog.add_argument("--full", action="store_true", help="everything, not only what changed")
        catalog.add_argument("--json", action="store_true", help="the sync's result as JSON")
        catalog.set_defaults(handler=_cmd_sync_catalog)
    from starter.backfill_cli import add_backfill_commands

    add_backfill_commands(sub)
    from starter.reconcile_cli import add_reconcile_commands

    add_reconcile_commands(sub)
    from starter.onboarding_cli import add_onboarding_commands

    add_onboarding_commands(sub)
    _add_dev_commands(sub)
    return parser


def _add_dev_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The development commands (demo, dev-server, sandbox), where devtools and the sandboxes are
    installed (the README's commands install them; the production image leaves them out). Looked up by
    name so that the ways in do not depend on development tooling."""
    if importlib.util.find_spec("devtools") is None:
        return
    importlib.import_module("devtools.cli").add_dev_commands(sub)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        from temporal_client.telemetry import configure_tracing

        configure_tracing(f"q2c-{args.command}" if args.command in ("worker", "webhook") else "q2c-cli")
        sys.exit(args.handler(args, settings))
    except (MappingError, OnboardingFileError) as exc:
        console.print(f"[red]{exc}")
        sys.exit(2)


if __name__ == "__main__":
    main()
