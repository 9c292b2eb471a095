"""The ``q2c`` commands for development on one machine: the demo, the Temporal dev server and the
sandboxes. Registered on the ``q2c`` parser by ``starter.cli`` when this package is installed."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from rich.console import Console

from q2c.config import Settings

console = Console()


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from devtools.demo import run_demo

    return run_demo(settings, keep_running=args.keep_running)


def _cmd_sandbox_up(args: argparse.Namespace, settings: Settings) -> int:
    from q2c_sandbox.run import sandbox_setup, serve_sandboxes

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

        from devtools.processes import port_open, wait_for
        from q2c_sandbox.admin_client import SandboxAdmin
        from q2c_sandbox.seed import seed_demo

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

    from q2c_sandbox.admin_client import SandboxAdmin
    from q2c_sandbox.generate import generate, load

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

    from devtools.temporal_server import dev_server_command

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _, _, port = settings.temporal_address.rpartition(":")
    ui_port = int(settings.temporal_ui_url.rsplit(":", 1)[1].split("/")[0])
    command = dev_server_command(
        settings, port=int(port), ui_port=ui_port, db_file=settings.data_dir / "temporal.db"
    )
    os.execv(command[0], command)
    return 0  # not reached


def add_dev_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser("demo", help="run everything on this machine and close some demo deals")
    demo.add_argument("--keep-running", action="store_true", help="keep every process up for the web UI")
    demo.set_defaults(handler=_cmd_demo)
    sub.add_parser(
        "dev-server", help="run the Temporal dev server with q2c's search attributes"
    ).set_defaults(handler=_cmd_dev_server)
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
