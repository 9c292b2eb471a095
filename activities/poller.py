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
    ContactChangeFor,
    NetSuiteCustomerChanged,
    Notified,
    ReadSalesforceChanges,
    SalesforceAccountChanged,
    SalesforceChanges,
    SalesforceContactChanged,
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
from q2c.store import CreditRecord, LinkKind, Store
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
        since = (
            parse_netsuite_time(request.watermark) - dt.timedelta(seconds=request.overlap_seconds)
            if request.watermark
            else dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        )
        with api_errors():
            invoices = await self._billing.invoices_changed_since(since)
            changed_customers = await self._billing.customers_changed_since(since)
            overdue = await self._billing.overdue_invoices()
        opportunities: set[str] = set()
        # Overdue invoices too: their days overdue grow without any modification to read.
        for invoice in [*invoices, *overdue]:
            if invoice.sales_order_id:
                link = await asyncio.to_thread(
                    self._store.find_link, LinkKind.ORDER, netsuite_id=invoice.sales_order_id
                )
                if link is not None:  # an order q2c did not make is not q2c's to follow
                    opportunities.add(link.salesforce_id)
        newest = [parse_netsuite_time(i.modified) for i in invoices if i.modified]
        newest += [parse_netsuite_time(modified) for _, modified in changed_customers if modified]
        watermark = max(newest).isoformat() if newest else request.watermark
        if (
            request.watermark
            and watermark
            and parse_netsuite_time(watermark) < parse_netsuite_time(request.watermark)
        ):
            watermark = request.watermark  # never move back
        changed = sorted({customer_id for customer_id, _ in changed_customers})
        customers = {i.customer_id for i in [*invoices, *overdue] if i.customer_id}
        customers |= {customer_id for customer_id, _ in changed_customers}
        return NetSuiteChanges(
            watermark=watermark,
            opportunity_ids=sorted(opportunities),
            customer_ids=sorted(customers),
            invoices_read=len(invoices),
            changed_customer_ids=changed,
        )

    @activity.defn(name="evaluate_credit")
    async def evaluate_credit(self, request: EvaluateCredit) -> CreditChanges:
        known = await asyncio.to_thread(self._store.credit_records)
        held = {customer for customer, record in known.items() if record.on_hold}
        changes = []
        for customer_id in sorted(set(request.customer_ids) | held):
            with api_errors():
                customer = await self._billing.customer_credit(customer_id)
            state = credit_state(customer, request.overdue_days)
            previous = known.get(customer_id)
            if previous is not None and previous.fingerprint == state.fingerprint():
                continue
            if previous is None and not state.on_hold:
                # Nothing was ever flagged for this customer and nothing is to flag now; balances of
                # customers in good standing reach Salesforce with the account sync, not here.
                continue
            link = await asyncio.to_thread(self._store.find_link, LinkKind.ACCOUNT, netsuite_id=customer_id)
            changes.append(
                CreditChange(
                    state=state,
                    company_name=customer.company_name,
                    account_id=link.salesforce_id if link else None,
                    was_on_hold=previous.on_hold if previous else False,
                )
            )
        return CreditChanges(changes=changes)

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
        await asyncio.to_thread(self._store.save_poll, POLLER, watermark, records)
        return Written(record_id=POLLER)

    @activity.defn(name="load_watermark")
    async def load_watermark(self, request: LoadWatermark) -> WatermarkValue:
        value = await asyncio.to_thread(self._store.watermark, request.poller)
        return WatermarkValue(watermark=value or None)

    @activity.defn(name="find_orders")
    async def find_orders(self, request: FindOrders) -> OrderIds:
        ids = []
        async for execution in self._client.list_workflows(request.query):
            if execution.id.startswith(names.order_workflow_id("")):
                ids.append(names.opportunity_id_from_workflow_id(execution.id))
        return OrderIds(opportunity_ids=sorted(set(ids)))


# --- account sync: the Salesforce poller and the hand-over of change events ----------------------------
SALESFORCE_POLLER = "salesforce"


def _soql_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
        """Accounts and contacts whose SystemModstamp is past the watermark (minus an overlap), except the
        ones q2c's own integration user changed last (loop guard 1). Without a watermark (first run) the
        poller starts from now: existing records are synced by their next change, not replayed."""
        with api_errors():
            me = await asyncio.to_thread(lambda: self._salesforce.user_id)
            if request.watermark is None:
                newest = [await self._newest(sobject) for sobject in ("Account", "Contact")]
                stamps = [n for n in newest if n]
                return SalesforceChanges(
                    watermark=max(stamps) if stamps else _soql_time(dt.datetime.now(dt.UTC))
                )
            since = dt.datetime.fromisoformat(request.watermark) - dt.timedelta(
                seconds=request.overlap_seconds
            )
            accounts = await self._changed("Account", "Id", since, request.limit)
            contacts = await self._changed("Contact", "Id, AccountId", since, request.limit)
        stamps = [str(r["SystemModstamp"]) for r in [*accounts, *contacts]]
        watermark = max([request.watermark, *(_iso(s) for s in stamps)], key=dt.datetime.fromisoformat)
        result = SalesforceChanges(watermark=watermark)
        for row in accounts:
            if row.get("LastModifiedById") == me:
                result.own_writes_skipped += 1
                continue
            result.accounts.append(
                SalesforceAccountChanged(
                    account_id=row["Id"], modified_by=row.get("LastModifiedById"), source="poller"
                )
            )
        for row in contacts:
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
        self, sobject: str, fields: str, since: dt.datetime, limit: int
    ) -> list[dict[str, Any]]:
        soql = (
            f"SELECT {fields}, LastModifiedById, SystemModstamp FROM {sobject} "
            f"WHERE SystemModstamp > {_soql_time(since)} ORDER BY SystemModstamp LIMIT {int(limit)}"
        )
        return await asyncio.to_thread(self._salesforce.query_all, soql)

    async def _newest(self, sobject: str) -> str | None:
        rows = await asyncio.to_thread(
            self._salesforce.query_all,
            f"SELECT SystemModstamp FROM {sobject} ORDER BY SystemModstamp DESC LIMIT 1",
        )
        return _iso(str(rows[0]["SystemModstamp"])) if rows else None

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
