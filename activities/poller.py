"""The NetSuite change poller's activities: read what changed since the watermark, evaluate credit,
find waiting orders, and save how far it got."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from temporalio import activity
from temporalio.client import Client

from activities.errors import api_errors
from q2c.connectors.netsuite import parse_netsuite_time
from q2c.connectors.netsuite_billing import NetSuiteBilling
from q2c.connectors.salesforce import SalesforceClient, parse_salesforce_time
from q2c.domain.account_sync import (
    AccountNotifications,
    AccountSyncOptions,
    ChangeCursor,
    ContactChangeFor,
    NetSuiteCustomerChanged,
    Notified,
    ReadSalesforceChanges,
    SalesforceAccountChanged,
    SalesforceChanges,
    SalesforceContactChanged,
    SalesforceWatermark,
    SaveWatermark,
    StartAccountSync,
)
from q2c.domain.billing import credit_state
from q2c.domain.messages import (
    CreditChange,
    CreditChanges,
    EvaluateCredit,
    FindOrders,
    LoadWatermark,
    NetSuiteChanges,
    OrderIds,
    ReadChanges,
    SavePoll,
    WatermarkValue,
    Written,
)
from q2c.store import CreditRecord, LinkKind, ParkedRecord, Store
from starter.accounts import netsuite_customer_changed, salesforce_account_changed, salesforce_contact_changed
from workflows import names

POLLER = "netsuite"


class NetSuitePollerActivities:
    def __init__(self, billing: NetSuiteBilling, store: Store, client: Client) -> None:
        self._billing = billing
        self._store = store
        self._client = client

    @activity.defn(name="read_netsuite_changes")
    async def read_netsuite_changes(self, request: ReadChanges) -> NetSuiteChanges:
        """Invoices and customers changed since the watermark (minus the overlap), and the overdue
        invoices whose shown state changed since last saved. Without a watermark (first run) the poller
        starts from NetSuite's newest change: the account's history is not replayed."""
        with api_errors():
            if request.watermark:
                start = parse_netsuite_time(request.watermark)
            else:
                start = await self._billing.newest_modification() or dt.datetime.now(dt.UTC)
            since = start - dt.timedelta(seconds=request.overlap_seconds)
            invoices = await self._billing.invoices_changed_since(since)
            activity.heartbeat("changed invoices")
            changed_customers = await self._billing.customers_changed_since(since)
            activity.heartbeat("changed customers")
            overdue = await self._billing.overdue_invoices(lambda n: activity.heartbeat(f"overdue {n}"))
        orders = await asyncio.to_thread(
            self._store.salesforce_ids,
            LinkKind.ORDER,
            [i.sales_order_id for i in [*invoices, *overdue] if i.sales_order_id],
        )
        # An order q2c did not make is not q2c's to follow. Of q2c's, an invoice is signalled when what
        # Salesforce shows of it changed since it was last signalled: a modification, or for an overdue
        # one a day more overdue (time passing modifies nothing) - not every poll, nor each time the
        # overlap reads a change again.
        shown = await asyncio.to_thread(self._store.shown_invoices)
        edited = [i for i in invoices if i.sales_order_id in orders]
        late = [i for i in overdue if i.sales_order_id in orders]
        changed = [i for i in edited if shown.get(i.invoice_id) != i.shown]
        signalled = {i.invoice_id for i in changed}
        late_changed = [
            i for i in late if shown.get(i.invoice_id) != i.shown and i.invoice_id not in signalled
        ]
        changed += late_changed[: request.overdue_signals_per_poll]  # the rest: the next poll's
        opportunities = {orders[i.sales_order_id or ""] for i in changed}
        watched = {i.invoice_id for i in [*edited, *late]}
        newest = [parse_netsuite_time(i.modified) for i in invoices if i.modified]
        newest += [parse_netsuite_time(modified) for _, modified in changed_customers if modified]
        newest.append(start)  # never move back
        customers = {i.customer_id for i in invoices if i.customer_id}
        customers |= {i.customer_id for i in overdue if i.customer_id}
        customers |= {customer_id for customer_id, _ in changed_customers}
        return NetSuiteChanges(
            watermark=max(newest).isoformat(),
            opportunity_ids=sorted(opportunities),
            customer_ids=sorted(customers),
            invoices_read=len(invoices),
            changed_customer_ids=sorted({customer_id for customer_id, _ in changed_customers}),
            shown_invoices={i.invoice_id: i.shown for i in changed},
            unwatched_invoices=sorted(set(shown) - watched),
        )

    @activity.defn(name="evaluate_credit")
    async def evaluate_credit(self, request: EvaluateCredit) -> CreditChanges:
        """Every customer whose credit state differs from what Salesforce was last told, in set-based
        queries: the customers the rule may hold (one query for the account), plus those q2c last
        showed as held or that changed. Also which waiting orders' customers are not on hold."""
        known = await asyncio.to_thread(self._store.credit_records)
        parked = {p.record_id: p for p in await asyncio.to_thread(self._store.parked_records, POLLER)}
        with api_errors():
            possibly = await self._billing.customers_possibly_on_hold(
                request.overdue_days, lambda n: activity.heartbeat(f"customers possibly on hold: {n}")
            )
            states = {c.customer_id: (c, credit_state(c, request.overdue_days)) for c in possibly}
            # Held as last shown but no longer in that set, or changed and shown before: read their
            # state to show the release or the new balance.
            recheck = {c for c, record in known.items() if record.on_hold}
            recheck |= set(request.customer_ids) & set(known)
            recheck |= set(parked)
            for customer in await self._billing.customer_credits(recheck - set(states)):
                states[customer.customer_id] = (customer, credit_state(customer, request.overdue_days))
            activity.heartbeat("credit states")
        changes = []
        for customer_id, (customer, state) in sorted(states.items(), key=lambda item: int(item[0])):
            previous = known.get(customer_id)
            if previous is not None and previous.fingerprint == state.fingerprint():
                continue
            if previous is None and not state.on_hold:
                # Nothing was ever flagged for this customer and nothing is to flag now; balances of
                # customers in good standing reach Salesforce with the account sync, not here.
                continue
            changes.append(
                CreditChange(
                    state=state,
                    company_name=customer.company_name,
                    account_id=None,
                    was_on_hold=previous.on_hold if previous else False,
                    parked_attempts=parked[customer_id].attempts if customer_id in parked else 0,
                )
            )
        # A parked write that no longer needs making (the hold went before it could be shown) is done.
        settled = sorted(set(parked) - {c.state.customer_id for c in changes})
        # Parked ones last, so that records that keep failing never crowd out the rest.
        changes.sort(key=lambda c: c.parked_attempts > 0)
        changes = changes[: request.changes_per_poll]
        accounts = await asyncio.to_thread(
            self._store.salesforce_ids, LinkKind.ACCOUNT, [c.state.customer_id for c in changes]
        )
        for change in changes:
            change.account_id = accounts.get(change.state.customer_id)
        held = {customer_id for customer_id, (_, state) in states.items() if state.on_hold}
        released = sorted(
            opportunity_id
            for opportunity_id, customer_id in request.waiting_orders.items()
            if customer_id and customer_id not in held
        )
        return CreditChanges(changes=changes, released_orders=released, settled=settled)

    @activity.defn(name="save_poll")
    async def save_poll(self, request: SavePoll) -> Written:
        records = [
            CreditRecord(
                customer_id=s.customer_id, on_hold=s.on_hold, reason=s.reason, fingerprint=s.fingerprint()
            )
            for s in request.credit
        ]
        watermark = request.watermark
        if watermark is None:
            current = await asyncio.to_thread(self._store.watermark, POLLER)
            watermark = current or ""
        await asyncio.to_thread(
            lambda: self._store.save_poll(
                POLLER,
                watermark,
                records,
                shown_invoices=request.shown_invoices,
                unwatched_invoices=request.unwatched_invoices,
                parked=[ParkedRecord(poller=POLLER, **p.model_dump()) for p in request.parked],
                unparked=request.unparked,
            )
        )
        return Written(record_id=POLLER)

    @activity.defn(name="load_watermark")
    async def load_watermark(self, request: LoadWatermark) -> WatermarkValue:
        value = await asyncio.to_thread(self._store.watermark, request.poller)
        return WatermarkValue(watermark=value or None)

    @activity.defn(name="find_orders")
    async def find_orders(self, request: FindOrders) -> OrderIds:
        ids = []
        customers: dict[str, str] = {}
        async for execution in self._client.list_workflows(request.query):
            if execution.id.startswith(names.order_workflow_id("")):
                opportunity_id = names.opportunity_id_from_workflow_id(execution.id)
                ids.append(opportunity_id)
                customer = execution.typed_search_attributes.get(names.NETSUITE_CUSTOMER_ID)
                if customer:
                    customers[opportunity_id] = customer
        return OrderIds(opportunity_ids=sorted(set(ids)), customer_ids=customers)


# --- account sync: the Salesforce poller and the hand-over of change events ----------------------------
SALESFORCE_POLLER = "salesforce"


_WATCHED = {"Account": "Id", "Contact": "Id, AccountId"}  # object -> the fields a change event needs


def _soql_time(value: dt.datetime) -> str:
    """A SOQL datetime literal. Salesforce stamps to the second (the milliseconds it prints are 000);
    a sandbox that keeps milliseconds gets them back, so the keyset compares like with like."""
    value = value.astimezone(dt.UTC)
    millis = f".{value.microsecond // 1000:03d}" if value.microsecond else ""
    return value.strftime("%Y-%m-%dT%H:%M:%S") + millis + "Z"


def _soql_id(value: str) -> str:
    if not value.isalnum():
        raise ValueError(f"{value!r} is not a Salesforce id")
    return value


def _salesforce_watermark(value: str, overlap_seconds: int) -> SalesforceWatermark:
    if value.startswith("{"):
        return SalesforceWatermark.model_validate_json(value)
    # A watermark saved before cursors (the newest SystemModstamp read): the next read is today's
    # "since the watermark minus the overlap", then cursors take over.
    stamp = dt.datetime.fromisoformat(value)
    reread = (stamp - dt.timedelta(seconds=overlap_seconds)).isoformat()
    return SalesforceWatermark(
        objects={s: ChangeCursor(stamp=stamp.isoformat(), reread_from=reread) for s in _WATCHED}
    )


def _advance(
    cursor: ChangeCursor, page: list[dict[str, Any]], limit: int, in_flight_since: dt.datetime
) -> ChangeCursor:
    """The cursor after reading ``page`` from ``cursor``. Records stamped after ``in_flight_since``
    (now minus the overlap) may still be joined by records committed late with an earlier stamp: the
    next poll that has caught up reads those again."""
    stamp, record_id = cursor.stamp, cursor.id
    if page:
        stamp, record_id = _iso(str(page[-1]["SystemModstamp"])), str(page[-1]["Id"])
    owed = [cursor.reread_from] if cursor.behind and cursor.reread_from else []
    if in_flight_since < dt.datetime.fromisoformat(stamp):
        owed.append(in_flight_since.replace(microsecond=0).isoformat())
    return ChangeCursor(
        stamp=stamp,
        id=record_id,
        behind=len(page) >= limit,
        reread_from=min(owed, key=dt.datetime.fromisoformat) if owed else None,
    )


class AccountChangeActivities:
    """Reads Salesforce changes since a watermark and hands change events to the account workflows."""

    def __init__(
        self, salesforce: SalesforceClient, store: Store, client: Client, options: AccountSyncOptions
    ) -> None:
        self._salesforce = salesforce
        self._store = store
        self._client = client
        self._options = options

    @activity.defn(name="read_salesforce_changes")
    async def read_salesforce_changes(self, request: ReadSalesforceChanges) -> SalesforceChanges:
        """Accounts and contacts changed since the watermark, except the ones q2c's own integration user
        changed last (loop guard 1): one page per object, on (SystemModstamp, Id), so that a data load
        of any size inside the overlap is read page after page, poll after poll, and never stalls. The
        overlap re-reads only what may have been in flight when last read. Without a watermark (first
        run) the poller starts from now: existing records are synced by their next change."""
        now = dt.datetime.now(dt.UTC)
        with api_errors():
            me = await asyncio.to_thread(lambda: self._salesforce.user_id)
            if request.watermark is None:
                mark = SalesforceWatermark(objects={s: await self._newest(s, now) for s in _WATCHED})
                return SalesforceChanges(watermark=mark.model_dump_json())
            mark = _salesforce_watermark(request.watermark, request.overlap_seconds)
            rows: dict[str, list[dict[str, Any]]] = {}
            for sobject, fields in _WATCHED.items():
                cursor = mark.objects.get(sobject) or await self._newest(sobject, now)
                rows[sobject] = await self._changed(sobject, fields, cursor, request.limit)
                mark.objects[sobject] = _advance(
                    cursor, rows[sobject], request.limit, now - dt.timedelta(seconds=request.overlap_seconds)
                )
                activity.heartbeat(sobject)
        result = SalesforceChanges(watermark=mark.model_dump_json())
        for row in rows["Account"]:
            if row.get("LastModifiedById") == me:
                result.own_writes_skipped += 1
                continue
            result.accounts.append(
                SalesforceAccountChanged(
                    account_id=row["Id"], modified_by=row.get("LastModifiedById"), source="poller"
                )
            )
        for row in rows["Contact"]:
            if row.get("LastModifiedById") == me:
                result.own_writes_skipped += 1
                continue
            if not row.get("AccountId"):
                continue  # a private contact has no company to go under
            result.contacts.append(
                ContactChangeFor(
                    account_id=row["AccountId"],
                    event=SalesforceContactChanged(
                        contact_id=row["Id"], modified_by=row.get("LastModifiedById"), source="poller"
                    ),
                )
            )
        return result

    async def _changed(
        self, sobject: str, fields: str, cursor: ChangeCursor, limit: int
    ) -> list[dict[str, Any]]:
        stamp = dt.datetime.fromisoformat(cursor.stamp)
        reread = dt.datetime.fromisoformat(cursor.reread_from) if cursor.reread_from else None
        if not cursor.behind and reread is not None and reread < stamp:
            after = f"SystemModstamp >= {_soql_time(reread)}"
        elif not cursor.id:
            after = f"SystemModstamp >= {_soql_time(stamp)}"
        else:
            # Keyset: past the last record read, in the order read (ties on the stamp broken by Id).
            after = (
                f"(SystemModstamp > {_soql_time(stamp)} OR "
                f"(SystemModstamp = {_soql_time(stamp)} AND Id > '{_soql_id(cursor.id)}'))"
            )
        soql = (
            f"SELECT {fields}, LastModifiedById, SystemModstamp FROM {sobject} "
            f"WHERE {after} ORDER BY SystemModstamp, Id LIMIT {int(limit)}"
        )
        return await asyncio.to_thread(self._salesforce.query_all, soql)

    async def _newest(self, sobject: str, now: dt.datetime) -> ChangeCursor:
        rows = await asyncio.to_thread(
            self._salesforce.query_all,
            f"SELECT Id, SystemModstamp FROM {sobject} ORDER BY SystemModstamp DESC, Id DESC LIMIT 1",
        )
        if not rows:
            return ChangeCursor(stamp=now.replace(microsecond=0).isoformat())
        return ChangeCursor(stamp=_iso(str(rows[0]["SystemModstamp"])), id=str(rows[0]["Id"]))

    @activity.defn(name="notify_account_changes")
    async def notify_account_changes(self, request: AccountNotifications) -> Notified:
        """Signal-with-start each account workflow concerned (idempotent: a repeat is one more re-read)."""
        signalled = 0
        for event in request.salesforce_accounts:
            await salesforce_account_changed(self._client, self._options, event)
            signalled += 1
            activity.heartbeat(signalled)
        for change in request.salesforce_contacts:
            await salesforce_contact_changed(self._client, self._options, change.account_id, change.event)
            signalled += 1
            activity.heartbeat(signalled)
        for customer_id in request.netsuite_customers:
            link = await asyncio.to_thread(self._store.find_link, LinkKind.ACCOUNT, netsuite_id=customer_id)
            await netsuite_customer_changed(
                self._client,
                self._options,
                NetSuiteCustomerChanged(customer_id=customer_id, source=request.source),
                link.salesforce_id if link else None,
            )
            signalled += 1
            activity.heartbeat(signalled)
        return Notified(signalled=signalled)

    @activity.defn(name="start_account_sync")
    async def start_account_sync(self, request: StartAccountSync) -> Written:
        await netsuite_customer_changed(
            self._client,
            self._options,
            NetSuiteCustomerChanged(customer_id=request.customer_id or "", source=request.source),
            request.account_id,
        )
        return Written(record_id=request.account_id)

    @activity.defn(name="save_watermark")
    async def save_watermark(self, request: SaveWatermark) -> Written:
        if request.watermark:
            await asyncio.to_thread(self._store.save_poll, request.poller, request.watermark, [])
        return Written(record_id=request.poller)


def _iso(salesforce_time: str) -> str:
    return parse_salesforce_time(salesforce_time).isoformat()
