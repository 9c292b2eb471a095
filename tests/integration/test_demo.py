"""The main job, as a user runs it: ``q2c demo`` in its own process, twice, on free ports."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools.processes import port_open
from q2c_sandbox.server import free_port

REPO = Path(__file__).parents[2]


@pytest.fixture
def demo_env(tmp_path: Path) -> dict[str, str]:
    ports = {name: free_port() for name in ("temporal", "ui", "sf", "ns", "webhook")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("Q2C_")}
    env.update(
        Q2C_DATA_DIR=str(tmp_path / "data"),
        Q2C_TEMPORAL_ADDRESS=f"127.0.0.1:{ports['temporal']}",
        Q2C_TEMPORAL_UI_URL=f"http://127.0.0.1:{ports['ui']}",
        Q2C_SALESFORCE_TOKEN_URL=f"https://127.0.0.1:{ports['sf']}/services/oauth2/token",
        Q2C_NETSUITE_BASE_URL=f"https://127.0.0.1:{ports['ns']}",
        Q2C_WEBHOOK_PORT=str(ports["webhook"]),
    )
    return env


def _ports(env: dict[str, str]) -> list[int]:
    return [
        int(env["Q2C_TEMPORAL_ADDRESS"].rsplit(":", 1)[1]),
        int(env["Q2C_TEMPORAL_UI_URL"].rsplit(":", 1)[1]),
        int(env["Q2C_SALESFORCE_TOKEN_URL"].split(":")[2].split("/")[0]),
        int(env["Q2C_NETSUITE_BASE_URL"].rsplit(":", 1)[1]),
        int(env["Q2C_WEBHOOK_PORT"]),
    ]


def _run_demo(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "starter.cli", "demo"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _orders(output: str) -> dict[str, str]:
    """Opportunity name -> sales order number, from the printed table."""
    return dict(re.findall(r"│ (\w+ - [^│]+?)\s+│[^\n]*?│ (SO\d+)\s+│", output))


def test_demo_creates_the_orders_once_and_finds_them_on_the_second_run(demo_env: dict[str, str]) -> None:
    first = _run_demo(demo_env)

    assert "Seeded both sandboxes." in first
    # The catalog before the orders: products brought in line and created, a price and a retirement
    # followed, stock on a product, and a rerun that writes nothing.
    assert (
        "Catalog sync: 9 items read, products 3 created / 6 updated, entries 8 created / 0 updated" in first
    )
    assert "reported (quantity breaks): WID-100" in first
    assert re.search(r"│ Legacy Widget\s+│ LEG-9\s+│ InvtPart\s+│ no ", first)
    assert (
        "the standard price book now says 112.00 (was 110.40), and the starter kit, which holds two, 1,098.00"
        in first
    )
    assert "product GW-X0 active=False, its 4 price book entries active=[False]" in first
    assert "Widget Pro has 8 on hand, 8 available across 2 locations" in first
    assert "The catalog sync again, nothing changed in NetSuite: 0 records written." in first
    assert "NetSuite sales orders: 0 before this run, 5 after (5 created)." in first
    orders = _orders(first)
    assert len(orders) == 5 and len(set(orders.values())) == 5
    assert "needs attention: Opportunity" in first and "('Beta Add-on') has no NetSuite item" in first
    assert first.count("/namespaces/default/workflows/order:006") == 6
    # Onboarding: the four customers the orders made, and Globex (a customer before, its first order now).
    assert "5 new customers are being onboarded (1 started by this NetSuite poll" in first
    assert first.count("/namespaces/default/workflows/onboarding:") == 5
    for account in (
        "Acme Corporation",
        "Globex Corporation",
        "Initech GmbH",
        "Umbrella Ltd",
        "Northwind Traders",
    ):
        assert f"Kickoff call with {account}, due" in first
    assert re.search(r"│ Initech GmbH\s+│ Priya Natarajan\s+│ mid_market, EMEA\s+│ In Progress", first)
    assert "Onboarding of Globex Corporation paused since" in first
    assert "NetSuite billed 5 orders" in first
    assert re.search(
        r"day 70: poll read \d+ invoice changes, signalled \d+ orders, 1 credit hold\(s\) raised", first
    )
    assert re.search(r"Credit hold on Globex Corporation \(001\w+\): an invoice is 40 days overdue", first)
    assert "Task for the account owner" in first and "'Credit hold: Globex Corporation'" in first
    assert first.count("Paid In Full") == 4
    # Account sync: a NetSuite-born customer got its account; a rep's phone edit reached NetSuite.
    born = re.search(r"Hooli XYZ Ltd -> Salesforce account (001\w+) \(created: no account matched", first)
    assert born, first
    assert re.search(r"Phone of customer \d+ in NetSuite: \+1 415 555 0199", first)
    writes = re.search(r"writes\s+Salesforce (\d+) / NetSuite (\d+)", first)
    assert writes
    # Bookings vs billings of the deals' month: the parked deal is the one exception; the report is written.
    assert "Bookings vs billings 2026-11 (2026-11-01 to 2026-11-30)" in first
    assert "6 won opportunities, 0 orders without one; 1 exception" in first
    assert re.search(r"\n\s+1  won_no_order ", first) and re.search(r"\n\s+0  unbilled ", first)
    assert re.search(r"Report: \S+/reports/reconciliation-2026-11\.html", first)
    assert not any(port_open("127.0.0.1", port) for port in _ports(demo_env))  # every child stopped

    second = _run_demo(demo_env)

    assert "Sandboxes already hold the demo data." in second
    assert "WID-100's EUR price is already 112.00 in NetSuite (changed on an earlier run)" in second
    assert "GW-X0 was retired in NetSuite on an earlier run." in second
    assert re.search(
        r"Catalog sync: \d+ items read, products 0 created / 0 updated, entries 0 created / 0 updated", second
    )
    assert second.count(": 0 records written.") == 1
    assert "Moved 0 deals to Closed Won (6 were already won)" in second
    assert "NetSuite sales orders: 5 before this run, 5 after (0 created)." in second
    assert _orders(second) == orders
    # The rerun of the reconciliation replaces its results: the same summary.
    assert "6 won opportunities, 0 orders without one; 1 exception" in second
    assert "The orders were billed on an earlier run" in second
    assert second.count("Task for the account owner") == 1  # the hold was not raised twice
    assert "5 new customers are being onboarded (0 started by this NetSuite poll" in second
    assert second.count("Kickoff call with") == 5  # one onboarding and one first task each, still
    assert f"Salesforce account {born.group(1)}" in second  # the same account, not a second one
    again = re.search(r"writes\s+Salesforce (\d+) / NetSuite (\d+)", second)
    assert again and again.groups() == writes.groups()  # the repeated edit changed nothing: no writes


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "kill"])
def test_ctrl_c_or_kill_stops_every_process_the_demo_started(
    demo_env: dict[str, str], stop: signal.Signals
) -> None:
    demo = subprocess.Popen(
        [sys.executable, "-m", "starter.cli", "demo", "--keep-running"],
        # As a shell's background job: SIGINT starts out ignored, and must still stop the demo.
        preexec_fn=lambda: __import__("signal").signal(signal.SIGINT, signal.SIG_IGN),
        cwd=REPO,
        env=demo_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 240
        seen = []
        for line in demo.stdout:
            seen.append(line)
            if "Everything keeps running" in line or time.monotonic() > deadline:
                break
        assert any("Everything keeps running" in line for line in seen), "".join(seen)
        assert all(port_open("127.0.0.1", port) for port in _ports(demo_env))

        demo.send_signal(stop)

        assert demo.wait(60) == 130
        assert not any(port_open("127.0.0.1", port) for port in _ports(demo_env))
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
