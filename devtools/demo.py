"""``q2c demo``: the whole product on this machine, end to end.

Starts the Temporal dev server, both sandboxes, the worker and the deal-closed webhook as child
processes; seeds the sandboxes (once); moves the demo deals to Closed Won in the Salesforce sandbox,
whose outbound messages reach the webhook; waits for every order workflow to settle; prints what
happened. A second run finds everything it left and creates nothing twice.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import signal
import sys
import time
from dataclasses import dataclass
from functools import partial

from rich.console import Console
from rich.table import Table

from devtools.demo_accounts import run_account_sync
from devtools.demo_catalog import run_catalog
from devtools.demo_lifecycle import run_lifecycle
from devtools.demo_onboarding import run_onboarding, show_paused
from devtools.demo_reconcile import run_reconciliation
from devtools.processes import ChildExited, RestartPolicy, Supervisor, port_open, q2c_command, wait_for
from devtools.temporal_server import dev_server_command
from q2c.config import Settings
from q2c.domain.messages import DealClosed
from q2c_sandbox.admin_client import SandboxAdmin
from q2c_sandbox.run import SandboxSetup, sandbox_setup
from q2c_sandbox.seed import DEMO_DEALS, seed_demo
from temporal_client.connect import connect_temporal
from temporal_client.orders import deal_closed, wait_until_settled, web_ui_link
from temporal_client.schedules import ensure_poll_schedule, ensure_salesforce_poll_schedule, poll_once
from worker import netsuite_client, salesforce_client
from workflows import names

# Wide enough for the table when the output is a file or a CI log (rich assumes 80 columns there).
console = Console() if sys.stdout.isatty() else Console(width=150)
# The worker and the webhook hold no state of their own (Temporal and the sandboxes do): when one
# exits, start it again rather than stop the demo; work waiting for it resumes where it stopped.
RESTART = RestartPolicy(max_restarts=5, first_delay_seconds=1.0, max_delay_seconds=30.0)


def _report(message: str) -> None:
    console.print(message, markup=False, highlight=False, soft_wrap=True)


@dataclass(frozen=True)
class DemoPorts:
    temporal: int = 7233
    temporal_ui: int = 8233


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def _stop_on_signals() -> None:
    """Ctrl-C and ``kill`` both stop everything the demo started. A shell that starts the demo in the
    background leaves SIGINT ignored, so take both signals over explicitly."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)


def run_demo(settings: Settings, *, keep_running: bool, deal_timeout: float = 120.0) -> int:
    _stop_on_signals()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    supervisor = Supervisor(settings.data_dir / "logs", env=settings.to_env(), report=_report)
    sf_host, sf_port = _host_port(settings.salesforce_token_url.split("/services/")[0].split("//")[1])
    ns_host, ns_port = _host_port(settings.netsuite_base_url.split("//")[1])
    t_host, t_port = _host_port(settings.temporal_address)
    ui_port = int(settings.temporal_ui_url.rsplit(":", 1)[1].split("/")[0])
    wanted = {
        "Temporal": (t_host, t_port),
        "Temporal web UI": (t_host, ui_port),
        "Salesforce sandbox": (sf_host, sf_port),
        "NetSuite sandbox": (ns_host, ns_port),
        "webhook": (settings.webhook_host, settings.webhook_port),
    }
    busy = [f"{name} port {port}" for name, (host, port) in wanted.items() if port_open(host, port)]
    if busy:
        console.print(f"[red]Cannot start: {', '.join(busy)} already in use (another q2c demo running?)")
        return 2
    setup = sandbox_setup(settings.data_dir, salesforce_port=sf_port, netsuite_port=ns_port)
    try:
        started = time.monotonic()
        supervisor.start(
            "temporal",
            dev_server_command(
                settings, port=t_port, ui_port=ui_port, db_file=settings.data_dir / "temporal.db"
            ),
        )
        supervisor.start(
            "sandboxes",
            q2c_command("sandbox", "up", "--salesforce-port", str(sf_port), "--netsuite-port", str(ns_port)),
        )
        for name in ("Temporal", "Salesforce sandbox", "NetSuite sandbox"):
            host, port = wanted[name]
            wait_for(partial(port_open, host, port), timeout=60, what=name, on_wait=supervisor.check_alive)
        supervisor.start("worker", q2c_command("worker"), restart=RESTART)
        supervisor.start("webhook", q2c_command("webhook"), restart=RESTART)
        supervisor.watch()
        wait_for(
            lambda: port_open(settings.webhook_host, settings.webhook_port),
            timeout=60,
            what="webhook",
            on_wait=supervisor.check_alive,
        )
        console.print(
            f"Started Temporal, sandboxes, worker and webhook in {time.monotonic() - started:.1f}s "
            f"(logs in {supervisor.log_dir}; sandbox credentials in {setup.credentials_path})"
        )
        code = asyncio.run(_close_deals(settings, setup, deal_timeout))
        if keep_running:
            console.print(
                f"\nEverything keeps running. Temporal web UI: {settings.temporal_ui_url}  "
                "(Ctrl-C stops every process)"
            )
            _report(
                f"If the worker exits, the demo starts it again (up to {RESTART.max_restarts} times). "
                f"To restart only the worker, e.g. after changing its code: kill {supervisor.pid('worker')} "
                "(the demo starts a fresh one), or run `q2c worker` in another terminal."
            )
            while True:
                supervisor.check_alive()
                time.sleep(1)
        return code
    except KeyboardInterrupt:
        console.print("\nStopping.")
        return 130
    except ChildExited as exc:
        _report(f"{exc}. Stopping every process the demo started.")
        return 1
    finally:
        supervisor.stop_all()


async def _close_deals(settings: Settings, setup: SandboxSetup, deal_timeout: float) -> int:
    ca_path = setup.cert.ca_path
    with (
        SandboxAdmin(setup.salesforce_url, setup.salesforce.admin_key, ca_path) as sf_admin,
        SandboxAdmin(setup.netsuite_url, setup.netsuite.admin_key, ca_path) as ns_admin,
    ):
        seeded = seed_demo(sf_admin, ns_admin)
        console.print("Seeded both sandboxes." if seeded.seeded else "Sandboxes already hold the demo data.")
        sf_admin.put(
            "/outbound-messages",
            {
                "endpoint_url": settings.webhook_url,
                "fields": ["Id", "StageName", "IsWon", "AccountId", "Amount", "CurrencyIsoCode"],
            },
        )
        orders_before = ns_admin.stats()["counts"].get("salesOrder", 0)

        client = await connect_temporal(settings)
        schedule = await ensure_poll_schedule(client, settings)
        console.print(
            f"NetSuite poller schedule {schedule}: every {settings.netsuite_poll_interval_seconds:g}s "
            "(Schedules in the web UI; pause it there)."
        )
        # A poll now: the first one marks when q2c went live (customers with orders before are never
        # onboarded); the demo's deals come after it.
        await poll_once(client, settings)
        netsuite = netsuite_client(settings)
        try:
            await run_catalog(console, client, settings, netsuite, sf_admin, ns_admin)
        finally:
            await netsuite.aclose()
        console.rule("Closed deals -> NetSuite sales orders")
        salesforce = salesforce_client(settings)
        rows = await asyncio.to_thread(
            salesforce.query_all,
            "SELECT Id, Name, IsWon, Account.Name FROM Opportunity ORDER BY Name",
        )
        deals = {row["Name"]: row for row in rows if row["Name"] in DEMO_DEALS}
        moved = 0
        for name in DEMO_DEALS:
            deal = deals[name]
            if deal["IsWon"]:
                # Already won on an earlier run: say so again; the workflow (or its result) answers.
                await deal_closed(client, settings, DealClosed(opportunity_id=deal["Id"], source="cli"))
            else:
                # As a sales rep would: the sandbox's outbound message then reaches the webhook.
                await asyncio.to_thread(
                    salesforce.update, "Opportunity", deal["Id"], {"StageName": "Closed Won"}
                )
                moved += 1
        console.print(
            f"Moved {moved} deals to Closed Won ({len(DEMO_DEALS) - moved} were already won); "
            "waiting for their order workflows ..."
        )
        statuses = {
            name: await wait_until_settled(client, deals[name]["Id"], deal_timeout) for name in DEMO_DEALS
        }
        orders_after = ns_admin.stats()["counts"].get("salesOrder", 0)

    table = Table(title="Closed deals -> NetSuite sales orders")
    for column in (
        "Opportunity",
        "Account",
        "Amount",
        "Currency",
        "NetSuite customer",
        "Sales order",
        "Subsidiary",
        "Stage",
    ):
        table.add_column(column)
    for name in DEMO_DEALS:
        status = statuses[name]
        table.add_row(
            f"{name}\n{status.opportunity_id}",
            deals[name]["Account"]["Name"],
            f"{status.amount:,.2f}" if status.amount is not None else "-",
            status.currency or "-",
            status.netsuite_customer_id or "-",
            status.sales_order_number or "-",
            status.subsidiary or "-",
            status.stage.value,
        )
    console.print(table)
    for name in DEMO_DEALS:
        status = statuses[name]
        console.print(f"  {name}: {web_ui_link(settings, status.opportunity_id)}", soft_wrap=True)
        if status.attention_reason:
            console.print(f"    [yellow]needs attention:[/] {status.attention_reason}", soft_wrap=True)
    console.print(
        f"NetSuite sales orders: {orders_before} before this run, {orders_after} after "
        f"({orders_after - orders_before} created)."
    )
    onboarded = await run_onboarding(console, client, settings, statuses)
    console.rule("From order to cash")
    with (
        SandboxAdmin(setup.salesforce_url, setup.salesforce.admin_key, setup.cert.ca_path) as sf_admin,
        SandboxAdmin(setup.netsuite_url, setup.netsuite.admin_key, setup.cert.ca_path) as ns_admin,
    ):
        # The demo polls at its own steps; the schedule, paused meanwhile, would race it for the same
        # changes (harmless, but the printed story would depend on timing). It runs again afterwards.
        schedule_handle = client.get_schedule_handle(names.NETSUITE_POLL_SCHEDULE)
        await schedule_handle.pause(note="q2c demo: scripted billing in progress")
        try:
            await run_lifecycle(console, client, settings, statuses, sf_admin, ns_admin)
            await show_paused(console, client, onboarded)
            await run_account_sync(console, client, settings, statuses, sf_admin, ns_admin)
            today = dt.date.fromisoformat(ns_admin.get("/clock")["today"])
            await run_reconciliation(console, client, settings, today)
        finally:
            await schedule_handle.unpause(note="q2c demo: scripted billing done")
        # From here on (--keep-running) edits in either sandbox sync on their own.
        await ensure_salesforce_poll_schedule(client, settings, paused=not settings.account_sync)
    return 0
