"""The backfill's activities: the NetSuite side (index customers, write customers and contacts: one call at
a time per activity, so the NetSuite queue's slots bound them) and the q2c side (Bulk API reads and
writes in Salesforce, planning against the index, starting orders, the report).

Every write is to a state or an upsert by external id, and each activity heartbeats the last row it
finished, so a retry after a crash repeats at most one record's call and never duplicates a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from temporalio import activity

from activities.errors import api_errors
from activities.netsuite_accounts import customer_state
from q2c.connectors.errors import ApiError, ErrorKind
from q2c.connectors.netsuite import NetSuiteClient
from q2c.connectors.netsuite_backfill import (
    INVOICE_PAGE,
    account_ids_on_customers,
    customer_count,
    customer_page,
    external_ids,
    invoice_page,
    sales_orders_for,
)
from q2c.connectors.netsuite_billing import NetSuiteBilling
from q2c.connectors.netsuite_customers import SF_ACCOUNT_FIELD
from q2c.connectors.salesforce import SalesforceClient
from q2c.connectors.salesforce_bulk import SalesforceBulk
from q2c.domain.account_sync import (
    AccountState,
    ContactState,
    contact_body,
    new_account_fields,
    new_customer_fields,
)
from q2c.domain.backfill import (
    AccountRecord,
    Action,
    BackfillFilters,
    Decision,
    IndexedCustomer,
    RowStatus,
    Scope,
    account_decision,
    customer_decision,
    out_of_scope,
)
from q2c.domain.billing import INVOICE_EXTERNAL_ID, INVOICE_OBJECT, Invoice, invoice_fields
from q2c.domain.mapping import Mapping
from q2c.domain.matching import AccountCandidate, match
from q2c.domain.messages import DealClosed
from q2c.domain.messages.backfill import (
    ApiUsage,
    BatchWritten,
    BeginRun,
    CheckOrders,
    CustomersPlanned,
    FinishRun,
    IndexCustomers,
    IndexedPage,
    NumberSteps,
    OpenQuery,
    OrdersFound,
    PagePlanned,
    PlanCustomers,
    PlanPage,
    QueryOpened,
    ReportWritten,
    StepCounts,
    WriteBatch,
)
from q2c.domain.sync import MappingValueError, Side
from q2c.store import LinkKind, Store
from q2c.store.backfill import STEP_NUMBER, BackfillRow, BackfillStore
from temporal_client.steering import Steering
from workflows import names

ACCOUNT_LINK_FIELD = "NetSuite_Internal_ID__c"
# Every backfill activity heartbeats this often while it works (a Bulk API job, a page of planning), so a
# worker that dies is noticed within the workflow's heartbeat timeout, not the long start-to-close one.
HEARTBEAT_EVERY_SECONDS = 2.0
_progress: ContextVar[list[tuple[Any, ...]]] = ContextVar("backfill_progress")
A = TypeVar("A")
R = TypeVar("R")


def heartbeating(fn: Callable[[Any, A], Awaitable[R]]) -> Callable[[Any, A], Awaitable[R]]:
    """Run the activity with a heartbeat every HEARTBEAT_EVERY_SECONDS, carrying its last progress."""

    @functools.wraps(fn)
    async def run(self: Any, request: A) -> R:
        holder: list[tuple[Any, ...]] = [()]  # one object the beat and the activity share
        _progress.set(holder)

        async def beat() -> None:
            while True:
                await asyncio.sleep(HEARTBEAT_EVERY_SECONDS)
                activity.heartbeat(*holder[0])

        beater = asyncio.create_task(beat())
        try:
            return await fn(self, request)
        finally:
            beater.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beater

    return run


def progress(*details: Any) -> None:
    """Record (and heartbeat) how far the activity is: a retry resumes after it."""
    _progress.get()[0] = details
    activity.heartbeat(*details)


PROBLEMS_KEPT = 5
SOBJECTS = {Scope.ACCOUNTS: "Account", Scope.CONTACTS: "Contact", Scope.OPPORTUNITIES: "Opportunity"}


def _soql_date(day: dt.date, end: bool) -> str:
    return f"{day.isoformat()}T{'23:59:59' if end else '00:00:00'}Z"


def scope_query(scope: Scope, filters: BackfillFilters, mapping: Mapping) -> str:
    """The SOQL of a scope's Bulk API query job (Bulk API 2.0 takes no ORDER BY or LIMIT to page by).

    Accounts are read whole, whatever the filters: an account the filters leave out still claims the
    customer it matches (so that customer never gets a second account); the filters decide in planning
    which accounts are acted on (``account_in_scope``)."""
    if scope is Scope.ACCOUNTS:
        fields = ["Id", "Name", "Website", ACCOUNT_LINK_FIELD, "CurrencyIsoCode", "CreatedDate"]
        fields += [rule.salesforce for rule in mapping.account.fields]
        return f"SELECT {', '.join(dict.fromkeys(fields))} FROM Account"
    elif scope is Scope.CONTACTS:
        fields = [
            "Id",
            "AccountId",
            "Account.CurrencyIsoCode",
            f"Account.{ACCOUNT_LINK_FIELD}",
            "CreatedDate",
        ]
        fields += [rule.salesforce for rule in mapping.contact.fields]
        where, date_field, prefix = ["AccountId != null"], "CreatedDate", "003"
    elif scope is Scope.OPPORTUNITIES:
        fields = [
            "Id",
            "Name",
            "AccountId",
            "Amount",
            "CurrencyIsoCode",
            "CloseDate",
            "NetSuite_Sales_Order_ID__c",
        ]
        where, date_field, prefix = ["IsWon = true"], "CloseDate", "006"
    else:
        raise ValueError(f"scope {scope} is not read from Salesforce")
    date_only = date_field == "CloseDate"
    if filters.since:
        where.append(
            f"{date_field} >= {filters.since.isoformat() if date_only else _soql_date(filters.since, False)}"
        )
    if filters.until:
        where.append(
            f"{date_field} <= {filters.until.isoformat() if date_only else _soql_date(filters.until, True)}"
        )
    if filters.ids:
        # The named records, and those of the named accounts (an account's contacts, its deals).
        named = [
            f"{field} IN ({', '.join(repr(i) for i in ids)})"
            for field, ids in (
                ("Id", filters.salesforce_ids(prefix)),
                ("AccountId", filters.salesforce_ids("001")),
            )
            if ids
        ]
        # Ids were named, none of this object or an account: no record of it is in the run.
        where.append(f"({' OR '.join(named)})" if named else "Id = null")
    soql = f"SELECT {', '.join(dict.fromkeys(fields))} FROM {SOBJECTS[scope]}"
    return soql + (f" WHERE {' AND '.join(where)}" if where else "")


def account_in_scope(account: AccountRecord, filters: BackfillFilters, mapping: Mapping) -> bool:
    """Whether the filters admit this account (created in the dates, of the subsidiary, among the ids)."""
    if filters.ids and account.id not in filters.salesforce_ids("001"):
        return False
    if (filters.since or filters.until) and not filters.admits_date(account.created):
        return False
    return filters.subsidiary is None or _subsidiary_of(mapping, account.currency) == filters.subsidiary


def _date(value: Any) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _subsidiary_of(mapping: Mapping, currency: str | None) -> str | None:
    target = mapping.currencies.get(currency or "USD")
    return target.subsidiary if target else None


def tally(decisions: list[Decision]) -> dict[str, int]:
    """Rows per action."""
    return dict(Counter(d.action.value for d in decisions))


def _problem(row: BackfillRow, error: str) -> str:
    """A failure for the workflow's state and web UI: ids only (names stay in q2c's store and the report)."""
    return f"{row.scope} {row.key}: {error}"


def _usage(client: SalesforceClient) -> ApiUsage:
    usage = client.api_usage
    return ApiUsage(used=usage[0], max=usage[1]) if usage else ApiUsage()


class NetSuiteBackfillActivities:
    """The NetSuite calls of a backfill, over the injected client and store."""

    task_queue: ClassVar[str] = names.NETSUITE_TASK_QUEUE

    def __init__(self, client: NetSuiteClient, store: Store) -> None:
        self._client = client
        self._store = store
        self._rows = BackfillStore(store)

    @activity.defn(name="backfill_index_customers")
    @heartbeating
    async def index_customers(self, request: IndexCustomers) -> IndexedPage:
        """One keyset page of active customers into the run's index (their matching keys)."""
        with api_errors():
            total = await customer_count(self._client) if not request.after else None
            rows = await customer_page(self._client, request.after, request.limit)
        links = await asyncio.to_thread(
            self._store.salesforce_ids, LinkKind.ACCOUNT, [str(r["id"]) for r in rows]
        )
        filters = request.filters
        wanted = set(filters.netsuite_ids())
        customers = []
        for row in rows:
            external = row.get("externalid")
            cross = links.get(str(row["id"])) or row.get(SF_ACCOUNT_FIELD)
            if cross is None and isinstance(external, str) and external.startswith("001"):
                cross = external
            created = _date(row.get("created"))
            in_scope = (
                (not filters.ids or str(row["id"]) in wanted)
                and (filters.subsidiary is None or str(row.get("subsidiary") or "") == filters.subsidiary)
                and ((filters.since is None and filters.until is None) or filters.admits_date(created))
            )
            customers.append(
                IndexedCustomer(
                    id=str(row["id"]),
                    name=str(row.get("companyname") or ""),
                    email=row.get("email"),
                    website=row.get("url"),
                    external_id=str(external) if external else None,
                    cross_id=str(cross) if cross else None,
                    field_link=str(row[SF_ACCOUNT_FIELD]) if row.get(SF_ACCOUNT_FIELD) else None,
                    subsidiary=str(row.get("subsidiary") or "") or None,
                    created=created,
                    in_scope=in_scope,
                )
            )
        await asyncio.to_thread(self._rows.index_customers, request.run_id, customers)
        return IndexedPage(
            read=len(rows),
            in_scope=sum(c.in_scope for c in customers),
            last=str(rows[-1]["id"]) if rows else request.after,
            done=len(rows) < request.limit,
            total=total,
        )

    @activity.defn(name="backfill_plan_invoices")
    @heartbeating
    async def plan_invoices(self, request: PlanCustomers) -> CustomersPlanned:
        """One keyset page of NetSuite invoices: each goes to Salesforce when its customer has an account."""
        filters, mapping = request.request.filters, request.mapping
        limit = min(request.limit, INVOICE_PAGE)
        with api_errors():
            rows = await invoice_page(self._client, filters, request.after, limit)
            orders = await external_ids(
                self._client, [str(r["createdfrom"]) for r in rows if r.get("createdfrom")]
            )
            customer_ids = sorted({str(r["entity"]) for r in rows if r.get("entity")})
            accounts = await asyncio.to_thread(self._store.salesforce_ids, LinkKind.ACCOUNT, customer_ids)
            accounts |= await account_ids_on_customers(
                self._client, [c for c in customer_ids if c not in accounts]
            )
        codes = {m.netsuite_currency: code for code, m in mapping.currencies.items()}
        decisions = []
        for r in rows:
            invoice_id, customer_id = str(r["id"]), str(r.get("entity") or "")
            base = Decision(
                scope=Scope.INVOICES,
                key=invoice_id,
                action=Action.SKIP,
                netsuite_id=invoice_id,
                name=str(r.get("tranid") or invoice_id),
            )
            account_id = accounts.get(customer_id)
            if account_id is None:
                decisions.append(
                    base.model_copy(
                        update={"reason": f"its customer {customer_id} is not linked to a Salesforce account"}
                    )
                )
                continue
            opportunity = orders.get(str(r.get("createdfrom") or ""))
            opportunity_id = opportunity if opportunity and opportunity.startswith("006") else None
            decisions.append(
                base.model_copy(
                    update={
                        "action": Action.UPSERT_INVOICE,
                        "salesforce_id": account_id,
                        "needs_netsuite": True,
                        "needs_salesforce": True,
                        "match_key": f"customer {customer_id} -> account {account_id}",
                        "body": {
                            "account_id": account_id,
                            "opportunity_id": opportunity_id,
                            "currency": codes.get(str(r.get("currency") or "")),
                        },
                    }
                )
            )
        await asyncio.to_thread(self._rows.save_decisions, request.run_id, decisions, {})
        planned = tally(decisions)
        return CustomersPlanned(
            read=len(rows),
            planned=planned,
            last=str(rows[-1]["id"]) if rows else request.after,
            done=len(rows) < limit,
        )

    @activity.defn(name="backfill_check_orders")
    @heartbeating
    async def check_orders(self, request: CheckOrders) -> OrdersFound:
        """Won deals whose opportunity names no sales order, looked for in NetSuite by externalId: one that
        has its order (made before the id was written back, or by hand) is never ordered again."""
        with api_errors():
            found = await sales_orders_for(self._client, request.opportunity_ids)
        rows = await asyncio.to_thread(self._rows.rows, request.run_id, Scope.OPPORTUNITIES, list(found))
        results = [
            {
                "key": key,
                "action": Action.SKIP.value,
                "netsuite_id": order_id,
                "needs_salesforce": False,
                "reason": f"NetSuite already has sales order {order_id} for it (the opportunity does not name it)",
            }
            for key, order_id in found.items()
        ]
        await asyncio.to_thread(self._rows.record_results, request.run_id, Scope.OPPORTUNITIES, results)
        return OrdersFound(
            found=len(found),
            were_to_order=sum(1 for r in rows.values() if r.action == Action.START_ORDER.value),
        )

    @activity.defn(name="backfill_write_netsuite")
    @heartbeating
    async def write_netsuite(self, request: WriteBatch) -> BatchWritten:
        """One batch of a NetSuite step, a record at a time (one concurrency slot)."""
        rows = await asyncio.to_thread(
            self._rows.step_rows, request.run_id, request.scope, request.step, request.first, request.last
        )
        out = BatchWritten()
        subsidiaries: dict[str, str | None] = {}
        step = STEP_NUMBER[request.step]
        for row in rows:  # only rows not done with this step: a retried batch goes on where it stopped
            try:
                result = await self._write(request, row, subsidiaries)
            except ApiError as exc:
                if exc.retryable or exc.kind is ErrorKind.AUTH:
                    # Not this record's fault (an outage, expired credentials): the batch fails, and
                    # once retries are spent the run waits in needs_attention until resumed.
                    with api_errors():
                        raise
                result = {"key": row.key, "status": RowStatus.FAILED.value, "error": str(exc)}
            except MappingValueError as exc:
                result = {"key": row.key, "status": RowStatus.FAILED.value, "error": str(exc)}
            reads = result.pop("read", False)
            if result.get("status") != RowStatus.FAILED.value:
                result["step_done"] = step
            await asyncio.to_thread(self._rows.record_results, request.run_id, request.scope, [result])
            if result.get("status") == RowStatus.FAILED.value:
                out.failed += 1
                if len(out.problems) < PROBLEMS_KEPT:
                    out.problems.append(_problem(row, str(result["error"])))
            elif reads:
                out.read += 1
            else:
                out.written += 1
            progress(row.key)
        return out

    async def _write(
        self, request: WriteBatch, row: BackfillRow, subsidiaries: dict[str, str | None]
    ) -> dict[str, Any]:
        action, body = Action(row.action), json.loads(row.body)
        last_step = request.step == "netsuite_after" or not row.needs_salesforce
        done = RowStatus.DONE.value if last_step else RowStatus.PLANNED.value
        if action is Action.LINK:
            fields: dict[str, Any] = {SF_ACCOUNT_FIELD: row.salesforce_id}
            if body.get("external_id_free"):
                fields["externalId"] = row.salesforce_id
            await self._client.patch("customer", str(row.netsuite_id), fields)
            if last_step:
                await asyncio.to_thread(
                    self._store.link, LinkKind.ACCOUNT, str(row.salesforce_id), str(row.netsuite_id)
                )
            return {"key": row.key, "status": done}
        if action is Action.CREATE_CUSTOMER:
            customer_id = await self._client.upsert(
                "customer", str(row.salesforce_id), {**body, SF_ACCOUNT_FIELD: row.salesforce_id}
            )
            await asyncio.to_thread(self._store.link, LinkKind.ACCOUNT, str(row.salesforce_id), customer_id)
            return {"key": row.key, "status": done, "netsuite_id": customer_id}
        if action is Action.CREATE_ACCOUNT and request.step == "netsuite":
            # The account starts as a copy of the customer, read whole through the record API (SuiteQL's
            # columns are not the record's fields).
            record = await self._client.get("customer", str(row.netsuite_id))
            rules = request.mapping.account.fields
            state = customer_state(record, [r.netsuite for r in rules], is_customer=True)
            fields = new_account_fields(rules, state)
            free = not record.get("externalId")
            return {"key": row.key, "status": done, "body": json.dumps({**fields, "_external_id_free": free})}
        if action is Action.CREATE_ACCOUNT:  # netsuite_after: the new account's id on the customer
            fields = {SF_ACCOUNT_FIELD: row.salesforce_id}
            if body.get("_external_id_free"):
                fields["externalId"] = row.salesforce_id
            await self._client.patch("customer", str(row.netsuite_id), fields)
            await asyncio.to_thread(
                self._store.link, LinkKind.ACCOUNT, str(row.salesforce_id), str(row.netsuite_id)
            )
            return {"key": row.key, "status": RowStatus.DONE.value}
        if action is Action.UPSERT_INVOICE:  # read whole, as the order workflow shows it
            invoice = await NetSuiteBilling(self._client).invoice(row.key)
            return {
                "key": row.key,
                "status": done,
                "body": json.dumps({**body, "invoice": invoice.model_dump(mode="json")}),
                "read": True,
            }
        if action is Action.UPSERT_CONTACT:
            account_id = str(body.get("account_id") or "")
            link = await asyncio.to_thread(self._store.find_link, LinkKind.ACCOUNT, salesforce_id=account_id)
            # Else the customer the account itself names (linked on the records before q2c went live).
            customer_id = link.netsuite_id if link else body.get("customer_id")
            if customer_id is None:
                return {
                    "key": row.key,
                    "status": RowStatus.FAILED.value,
                    "error": f"its account {account_id} is not linked to a NetSuite customer",
                }
            if customer_id not in subsidiaries:
                customer = await self._client.get("customer", customer_id)
                subsidiaries[customer_id] = (customer.get("subsidiary") or {}).get("id")
            contact = ContactState(id=row.key, account_id=account_id, values=body.get("values") or {})
            ns_body = contact_body(
                request.mapping.contact.fields,
                contact,
                customer_id=customer_id,
                subsidiary_id=subsidiaries[customer_id],
            )
            contact_id = await self._client.upsert("contact", row.key, ns_body)
            await asyncio.to_thread(self._store.link, LinkKind.CONTACT, row.key, contact_id)
            return {"key": row.key, "status": RowStatus.DONE.value, "netsuite_id": contact_id}
        raise ValueError(f"{row.action} has no NetSuite step")


class SalesforceBackfillActivities:
    """The q2c-side calls of a backfill: Salesforce (Bulk API 2.0 / Collections), q2c's store, the
    report, and starting order workflows."""

    task_queue: ClassVar[str] = names.TASK_QUEUE

    def __init__(self, client: SalesforceClient, store: Store, steering: Steering, report_dir: Path) -> None:
        self._client = client
        self._bulk = SalesforceBulk(client)
        self._store = store
        self._rows = BackfillStore(store)
        self._steering = steering
        self._report_dir = report_dir

    @activity.defn(name="backfill_begin")
    @heartbeating
    async def begin(self, request: BeginRun) -> ApiUsage:
        """Record the run (a fresh one drops what an earlier run of the same id left) and read the org's
        API usage: the budget counts from here."""
        if request.fresh:
            await asyncio.to_thread(self._rows.begin_run, request.run_id, request.request.model_dump_json())
        with api_errors():
            limits = await asyncio.to_thread(self._client.call, "read of limits", lambda sf: sf.limits())
        usage = _usage(self._client)
        api = limits.get("DailyApiRequests") if isinstance(limits, dict) else None
        if isinstance(api, dict) and api.get("Max"):
            usage = ApiUsage(used=int(api["Max"]) - int(api.get("Remaining", 0)), max=int(api["Max"]))
        return usage

    @activity.defn(name="backfill_open_query")
    @heartbeating
    async def open_query(self, request: OpenQuery) -> QueryOpened:
        """Create the scope's Bulk API query job and wait until Salesforce has run it."""
        sobject = SOBJECTS[request.scope]
        soql = scope_query(request.scope, request.filters, request.mapping)
        with api_errors():
            job_id = await asyncio.to_thread(self._bulk.open_query, sobject, soql)
            delay = min(request.poll_seconds, 0.2)
            while True:  # the job runs on Salesforce's side: nothing to wait on but its state
                info = await asyncio.to_thread(self._bulk.query_state, sobject, job_id)
                progress(info.get("state"))
                if info.get("state") == "JobComplete":
                    break
                await asyncio.sleep(delay)
                delay = min(request.poll_seconds * 4, delay * 2)
        return QueryOpened(
            job_id=job_id, total=int(info.get("numberRecordsProcessed") or 0), api=_usage(self._client)
        )

    @activity.defn(name="backfill_plan_page")
    @heartbeating
    async def plan_page(self, request: PlanPage) -> PagePlanned:
        """One result page of the scope's query job, decided record by record into the report."""
        sobject = SOBJECTS[request.scope]
        with api_errors():
            page = await asyncio.to_thread(
                self._bulk.query_page, sobject, request.job_id, request.locator, request.max_records
            )
        if request.scope is Scope.ACCOUNTS:
            decisions, candidate_ids = await asyncio.to_thread(self._plan_accounts, request, page.rows)
        elif request.scope is Scope.CONTACTS:
            decisions, candidate_ids = await asyncio.to_thread(self._plan_contacts, request, page.rows), {}
        else:
            decisions, candidate_ids = self._plan_opportunities(request, page.rows), {}
        await asyncio.to_thread(self._rows.save_decisions, request.run_id, decisions, candidate_ids)
        planned = tally(decisions)
        to_check = [
            d.key for d in decisions if request.scope is Scope.OPPORTUNITIES and d.netsuite_id is None
        ]
        return PagePlanned(
            read=len(page.rows),
            planned=planned,
            next_locator=page.next_locator,
            api=_usage(self._client),
            to_check=to_check,
        )

    def _plan_accounts(
        self, request: PlanPage, rows: list[dict[str, Any]]
    ) -> tuple[list[Decision], dict[str, list[str]]]:
        mapping, filters = request.mapping, request.request.filters
        rules = mapping.account.fields
        accounts = [
            AccountRecord(
                id=str(r["Id"]),
                name=str(r.get("Name") or ""),
                website=r.get("Website"),
                cross_id=r.get(ACCOUNT_LINK_FIELD),
                field_link=r.get(ACCOUNT_LINK_FIELD),
                currency=r.get("CurrencyIsoCode"),
                created=_date(r.get("CreatedDate")),
                values={rule.salesforce: r.get(rule.salesforce) for rule in rules},
            )
            for r in rows
        ]
        # A link only q2c's store knows finds the candidate; the records' own fields say what to write.
        stored = self._store_links([a.id for a in accounts])
        accounts = [
            a if a.cross_id or a.id not in stored else a.model_copy(update={"cross_id": stored[a.id]})
            for a in accounts
        ]
        keys = [a.keys() for a in accounts]
        found = self._rows.customers_sharing_keys(
            request.run_id,
            ids=[a.cross_id for a in accounts if a.cross_id],
            cross_ids=[a.id for a in accounts],
            domains=[d for _, domains in keys for d in domains],
            name_keys=[k for k, _ in keys if k],
        )
        by_id, by_cross, by_domain, by_name = _buckets(found.values())
        decisions, candidate_ids = [], {}
        now = dt.datetime.now(dt.UTC)
        for account, (name_key, domains) in zip(accounts, keys, strict=True):
            ids = {c for c in [account.cross_id] if c in by_id} | by_cross.get(account.id, set())
            for domain in domains:
                ids |= by_domain.get(domain, set())
            ids |= by_name.get(name_key, set()) if name_key else set()
            result = match(account.candidate(), [found[i].candidate() for i in sorted(ids, key=_id_order)])
            try:
                state = AccountState(
                    side=Side.SALESFORCE,
                    id=account.id,
                    values=account.values,
                    modified_at=now,
                    name=account.name,
                    website=account.website,
                )
                body: dict[str, Any] | str = new_customer_fields(rules, state, mapping.currencies)
            except MappingValueError as exc:
                body = str(exc)
            decision = account_decision(
                account,
                result,
                create_customers=request.request.create_customers,
                new_customer=body,
                customer_links={cid: found[cid].field_link for cid in ids},
            )
            if decision.action is Action.LINK and decision.netsuite_id in found:
                decision.body = {"external_id_free": found[decision.netsuite_id].external_id is None}
            if decision.action is Action.PARK:
                candidate_ids[account.id] = [m.candidate.id for m in result.matches]
            if not account_in_scope(account, filters, mapping):
                decision = out_of_scope(decision)
            decisions.append(decision)
        return decisions, candidate_ids

    def _store_links(self, account_ids: list[str]) -> dict[str, str]:
        return self._store.netsuite_ids(LinkKind.ACCOUNT, account_ids)

    def _plan_contacts(self, request: PlanPage, rows: list[dict[str, Any]]) -> list[Decision]:
        mapping, filters = request.mapping, request.request.filters
        rules = mapping.contact.fields
        account_ids = sorted({str(r["AccountId"]) for r in rows if r.get("AccountId")})
        linked = self._store.netsuite_ids(LinkKind.ACCOUNT, account_ids)
        # Accounts this run links or creates a customer for (planned, or done by its accounts scope).
        planned = self._rows.rows(request.run_id, Scope.ACCOUNTS, account_ids)
        contacts_linked = self._store.netsuite_ids(LinkKind.CONTACT, [str(r["Id"]) for r in rows])
        decisions = []
        for r in rows:
            contact_id, account_id = str(r["Id"]), str(r.get("AccountId") or "")
            if (
                filters.subsidiary is not None
                and _subsidiary_of(mapping, r.get("Account.CurrencyIsoCode")) != filters.subsidiary
            ):
                continue
            base = Decision(
                scope=Scope.CONTACTS,
                key=contact_id,
                action=Action.SKIP,
                salesforce_id=contact_id,
                name=" ".join(str(r.get(f) or "") for f in ("FirstName", "LastName")).strip(),
            )
            if contact_id in contacts_linked:
                decisions.append(
                    base.model_copy(
                        update={"action": Action.ALREADY_LINKED, "netsuite_id": contacts_linked[contact_id]}
                    )
                )
                continue
            row = planned.get(account_id)
            will_link = row is not None and row.action in (
                Action.LINK,
                Action.ALREADY_LINKED,
                Action.CREATE_CUSTOMER,
            )
            if account_id in linked or will_link or r.get(f"Account.{ACCOUNT_LINK_FIELD}"):
                values = {rule.salesforce: r.get(rule.salesforce) for rule in rules}
                decisions.append(
                    base.model_copy(
                        update={
                            "action": Action.UPSERT_CONTACT,
                            "needs_netsuite": True,
                            "body": {
                                "account_id": account_id,
                                "values": values,
                                "customer_id": r.get(f"Account.{ACCOUNT_LINK_FIELD}"),
                            },
                            "match_key": f"account {account_id}",
                        }
                    )
                )
            else:
                reason = f"its account {account_id} is not linked to a NetSuite customer"
                if row is not None and row.reason:
                    reason += f" ({row.action}: {row.reason})"
                decisions.append(base.model_copy(update={"reason": reason}))
        return decisions

    def _plan_opportunities(self, request: PlanPage, rows: list[dict[str, Any]]) -> list[Decision]:
        mapping, filters = request.mapping, request.request.filters
        decisions = []
        order = request.request.opportunities.value == "order"
        for r in rows:
            if (
                filters.subsidiary is not None
                and _subsidiary_of(mapping, r.get("CurrencyIsoCode")) != filters.subsidiary
            ):
                continue
            base = Decision(
                scope=Scope.OPPORTUNITIES,
                key=str(r["Id"]),
                action=Action.SKIP,
                salesforce_id=str(r["Id"]),
                name=str(r.get("Name") or ""),
            )
            if r.get("NetSuite_Sales_Order_ID__c"):
                decisions.append(
                    base.model_copy(
                        update={
                            "netsuite_id": r["NetSuite_Sales_Order_ID__c"],
                            "reason": "already has its sales order",
                        }
                    )
                )
            elif order:
                decisions.append(
                    base.model_copy(
                        update={
                            "action": Action.START_ORDER,
                            "needs_salesforce": True,
                            "reason": f"won {r.get('CloseDate')}, {r.get('Amount')} {r.get('CurrencyIsoCode')}, no sales order",
                        }
                    )
                )
            else:
                decisions.append(
                    base.model_copy(
                        update={
                            "reason": f"won {r.get('CloseDate')}, {r.get('Amount')} {r.get('CurrencyIsoCode')}, no sales order "
                            "(reported only: run with opportunities=order to order it)",
                        }
                    )
                )
        return decisions

    @activity.defn(name="backfill_resolve_claims")
    @heartbeating
    async def resolve_claims(self, request: NumberSteps) -> StepCounts:
        parked = await asyncio.to_thread(self._rows.resolve_claims, request.run_id)
        return StepCounts(parked_as_claimed_twice=parked)

    @activity.defn(name="backfill_plan_customers")
    @heartbeating
    async def plan_customers(self, request: PlanCustomers) -> CustomersPlanned:
        """The customers of the index that no account of this run claimed: one decision each."""
        page = await asyncio.to_thread(self._rows.index_page, request.run_id, request.after, request.limit)
        in_scope = [c for c in page if c.in_scope]
        claimed, parked_by = await asyncio.to_thread(
            self._rows.claimed_customers, request.run_id, [c.id for c in in_scope]
        )
        decisions = [
            customer_decision(
                c, claimed_by_park=parked_by.get(c.id), create_accounts=request.request.create_accounts
            )
            for c in in_scope
            if c.id not in claimed
        ]
        await asyncio.to_thread(self._rows.save_decisions, request.run_id, decisions, {})
        planned = tally(decisions)
        return CustomersPlanned(
            read=len(in_scope),
            planned=planned,
            last=page[-1].id if page else request.after,
            done=len(page) < request.limit,
        )

    @activity.defn(name="backfill_number_steps")
    @heartbeating
    async def number_steps(self, request: NumberSteps) -> StepCounts:
        """Number the scope's rows per write step; a real run also records in q2c's store the pairs the
        records already link. What was planned comes back from the store (whatever retries happened)."""
        steps = await asyncio.to_thread(self._rows.number_steps, request.run_id, request.scope)
        if not request.dry_run and request.scope is Scope.ACCOUNTS:
            await asyncio.to_thread(self._rows.link_already_linked, request.run_id, self._store)
        counts = await asyncio.to_thread(self._rows.counts, request.run_id)
        planned = {
            action: sum(by_status.values())
            for action, by_status in counts.get(request.scope.value, {}).items()
        }
        creates = planned.get(Action.CREATE_ACCOUNT.value, 0)
        return StepCounts(
            steps=steps,
            planned=planned,
            salesforce_upserts=creates if request.scope is Scope.ACCOUNTS else steps.get("salesforce", 0),
            salesforce_updates=steps.get("salesforce", 0) - creates if request.scope is Scope.ACCOUNTS else 0,
            orders=planned.get(Action.START_ORDER.value, 0),
        )

    @activity.defn(name="backfill_write_salesforce")
    @heartbeating
    async def write_salesforce(self, request: WriteBatch) -> BatchWritten:
        """One batch of the Salesforce step: accounts updated or upserted (a Bulk API job at or over the
        threshold, Collections below), or order workflows started."""
        rows = await asyncio.to_thread(
            self._rows.step_rows, request.run_id, request.scope, "salesforce", request.first, request.last
        )
        if request.scope is Scope.OPPORTUNITIES:
            results = await self._start_orders(rows)
        elif request.scope is Scope.INVOICES:
            results = await asyncio.to_thread(self._write_invoices, request, rows)
        else:
            results = await asyncio.to_thread(self._write_accounts, request, rows)
        for result in results:
            if result.get("status") != RowStatus.FAILED.value:
                result["step_done"] = STEP_NUMBER["salesforce"]
        await asyncio.to_thread(self._rows.record_results, request.run_id, request.scope, results)
        out = BatchWritten(api=_usage(self._client))
        by_key = {r.key: r for r in rows}
        for result in results:
            if result.get("status") == RowStatus.FAILED.value:
                out.failed += 1
                if len(out.problems) < PROBLEMS_KEPT:
                    out.problems.append(_problem(by_key[result["key"]], str(result["error"])))
            else:
                out.written += 1
        return out

    def _write_accounts(self, request: WriteBatch, rows: list[BackfillRow]) -> list[dict[str, Any]]:
        updates = [r for r in rows if r.action in (Action.LINK.value, Action.CREATE_CUSTOMER.value)]
        creates = [r for r in rows if r.action == Action.CREATE_ACCOUNT.value]
        results: list[dict[str, Any]] = []
        with api_errors():
            outcomes = self._bulk.write(
                "Account",
                "update",
                [{"Id": r.salesforce_id, ACCOUNT_LINK_FIELD: r.netsuite_id} for r in updates],
                key_field="Id",
                threshold=request.bulk_threshold,
                poll_seconds=request.poll_seconds,
            )
            for row, outcome in zip(updates, outcomes, strict=True):
                if outcome.error:
                    results.append({"key": row.key, "status": RowStatus.FAILED.value, "error": outcome.error})
                    continue
                # The Salesforce write is the last step of a link or a created customer's pair.
                self._store.link(LinkKind.ACCOUNT, str(row.salesforce_id), str(row.netsuite_id))
                results.append({"key": row.key, "status": RowStatus.DONE.value})
            records = []
            for row in creates:
                body = {k: v for k, v in json.loads(row.body).items() if not k.startswith("_")}
                records.append({**body, ACCOUNT_LINK_FIELD: row.netsuite_id})
            outcomes = self._bulk.write(
                "Account",
                "upsert",
                records,
                key_field=ACCOUNT_LINK_FIELD,
                external_id_field=ACCOUNT_LINK_FIELD,
                threshold=request.bulk_threshold,
                poll_seconds=request.poll_seconds,
            )
        for row, outcome in zip(creates, outcomes, strict=True):
            if outcome.error or not outcome.record_id:
                results.append(
                    {"key": row.key, "status": RowStatus.FAILED.value, "error": outcome.error or "no id"}
                )
            else:
                results.append({"key": row.key, "salesforce_id": outcome.record_id})
        return results

    def _write_invoices(self, request: WriteBatch, rows: list[BackfillRow]) -> list[dict[str, Any]]:
        records = []
        for row in rows:
            body = json.loads(row.body)
            invoice = Invoice.model_validate(body["invoice"])
            fields = invoice_fields(
                invoice,
                opportunity_id=body.get("opportunity_id"),
                account_id=body.get("account_id"),
                currency=body.get("currency"),
            )
            records.append({INVOICE_EXTERNAL_ID: row.key, **fields})
        with api_errors():
            outcomes = self._bulk.write(
                INVOICE_OBJECT,
                "upsert",
                records,
                key_field=INVOICE_EXTERNAL_ID,
                external_id_field=INVOICE_EXTERNAL_ID,
                threshold=request.bulk_threshold,
                poll_seconds=request.poll_seconds,
            )
        return [
            {"key": o.key, "status": RowStatus.FAILED.value, "error": o.error}
            if o.error
            else {"key": o.key, "status": RowStatus.DONE.value}
            for o in outcomes
        ]

    async def _start_orders(self, rows: list[BackfillRow]) -> list[dict[str, Any]]:
        results = []
        for row in rows:
            outcome = await self._steering.deal_closed(DealClosed(opportunity_id=row.key, source="backfill"))
            note = "its order workflow had already finished" if outcome else None
            results.append(
                {"key": row.key, "status": RowStatus.DONE.value, **({"reason": note} if note else {})}
            )
        return results

    @activity.defn(name="backfill_finish")
    @heartbeating
    async def finish(self, request: FinishRun) -> ReportWritten:
        """Keep the summary with the run and write the report files (CSV and JSON) from the rows."""
        await asyncio.to_thread(self._rows.finish_run, request.run_id, request.state, request.summary)
        if request.state != "running":
            await asyncio.to_thread(self._rows.clear_index, request.run_id)
        csv_path, json_path = await asyncio.to_thread(
            self._rows.export, request.run_id, self._report_dir / request.run_id
        )
        return ReportWritten(csv_path=str(csv_path), json_path=str(json_path))

    @activity.defn(name="backfill_counts")
    @heartbeating
    async def counts(self, request: NumberSteps) -> dict[str, dict[str, dict[str, int]]]:
        return await asyncio.to_thread(self._rows.counts, request.run_id)


def _id_order(value: str) -> tuple[int, str]:
    return (len(value), value)


def _buckets(
    customers: Any,
) -> tuple[set[str], dict[str, set[str]], dict[str, set[str]], dict[str, set[str]]]:
    by_id: set[str] = set()
    by_cross: dict[str, set[str]] = {}
    by_domain: dict[str, set[str]] = {}
    by_name: dict[str, set[str]] = {}
    for c in customers:
        by_id.add(c.id)
        if c.cross_id:
            by_cross.setdefault(c.cross_id, set()).add(c.id)
        for domain in c.domains():
            by_domain.setdefault(domain, set()).add(c.id)
        by_name.setdefault(c.name_key(), set()).add(c.id)
    return by_id, by_cross, by_domain, by_name


__all__ = ["AccountCandidate", "NetSuiteBackfillActivities", "SalesforceBackfillActivities"]
