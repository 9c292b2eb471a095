"""The NetSuite change poller's activities: read what changed since the watermark, evaluate credit,
find waiting orders, and save how far it got."""

from __future__ import annotations

import asyncio
import datetime as dt

from temporalio import activity
from temporalio.client import Client

from activities.errors import api_errors
from q2c.connectors.netsuite_billing import NetSuiteBilling
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
from workflows import names

POLLER = "netsuite"
_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%d %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y",
)


def parse_netsuite_time(value: str) -> dt.datetime:
    """NetSuite datetimes as SuiteQL or the record API print them; naive ones are UTC."""
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        for pattern in _FORMATS:
            try:
                parsed = dt.datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"unreadable NetSuite datetime {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


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
        customers = {i.customer_id for i in [*invoices, *overdue] if i.customer_id}
        customers |= {customer_id for customer_id, _ in changed_customers}
        return NetSuiteChanges(
            watermark=watermark,
            opportunity_ids=sorted(opportunities),
            customer_ids=sorted(customers),
            invoices_read=len(invoices),
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
