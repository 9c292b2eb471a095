"""The NetSuite change poller's NetSuite reads: what changed since the watermark, and the credit of every
customer whose state may differ from what Salesforce was last told."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import ClassVar

from temporalio import activity

from activities.errors import api_errors
from q2c.connectors.netsuite import parse_netsuite_time
from q2c.connectors.netsuite_billing import NetSuiteBilling
from q2c.domain.billing import credit_state
from q2c.domain.messages import (
    NETSUITE_POLLER,
    CreditChange,
    CreditChanges,
    EvaluateCredit,
    NetSuiteChanges,
    ReadChanges,
)
from q2c.domain.messages.onboarding import FirstOrder
from q2c.store import LinkKind, Store
from workflows import names

# The store's mark of when onboarding went live: the newest sales order id then. Orders up to it never start
# an onboarding (their customers were customers before q2c).
ONBOARDING_SINCE = "onboarding-since-order-id"


class NetSuitePollerActivities:
    task_queue: ClassVar[str] = names.NETSUITE_TASK_QUEUE

    def __init__(self, billing: NetSuiteBilling, store: Store) -> None:
        self._billing = billing
        self._store = store

    @activity.defn(name="read_netsuite_changes")
    async def read_netsuite_changes(self, request: ReadChanges) -> NetSuiteChanges:
        """Invoices, item fulfilments and customers changed since the watermark (minus the overlap), and
        the overdue invoices whose shown state changed since last saved. Without a watermark (first run)
        the poller starts from NetSuite's newest change: the account's history is not replayed."""
        with api_errors():
            if request.watermark:
                start = parse_netsuite_time(request.watermark)
            else:
                start = await self._billing.newest_modification() or dt.datetime.now(dt.UTC)
            since = start - dt.timedelta(seconds=request.overlap_seconds)
            invoices = await self._billing.invoices_changed_since(since)
            activity.heartbeat("changed invoices")
            fulfillments = await self._billing.fulfillments_changed_since(since)
            activity.heartbeat("changed fulfillments")
            changed_customers = await self._billing.customers_changed_since(since)
            activity.heartbeat("changed customers")
            overdue = await self._billing.overdue_invoices(lambda n: activity.heartbeat(f"overdue {n}"))
            first_orders = await self._first_orders(request, since, start)
        orders = await asyncio.to_thread(
            self._store.salesforce_ids,
            LinkKind.ORDER,
            [
                *(i.sales_order_id for i in [*invoices, *overdue] if i.sales_order_id),
                *(f.sales_order_id for f in fulfillments if f.sales_order_id),
            ],
        )
        # An order q2c did not make is not q2c's to follow. Of q2c's, an invoice or fulfilment is
        # signalled when what Salesforce shows of it changed since it was last signalled: a
        # modification, or for an overdue invoice a day more overdue (time passing modifies nothing) -
        # not every poll, nor each time the overlap reads a change again.
        shown = await asyncio.to_thread(self._store.shown_invoices)
        edited = [i for i in invoices if i.sales_order_id in orders]
        late = [i for i in overdue if i.sales_order_id in orders]
        changed = [i for i in edited if shown.get(i.invoice_id) != i.shown]
        signalled = {i.invoice_id for i in changed}
        late_changed = [
            i for i in late if shown.get(i.invoice_id) != i.shown and i.invoice_id not in signalled
        ]
        changed += late_changed[: request.overdue_signals_per_poll]  # the rest: the next poll's
        shipped = [f for f in fulfillments if f.sales_order_id in orders]
        shipped_changed = [f for f in shipped if shown.get(f.fulfillment_id) != f.shown]
        reasons: dict[str, set[str]] = {}
        for invoice in changed:
            reasons.setdefault(orders[invoice.sales_order_id or ""], set()).add("invoice")
        for fulfillment in shipped_changed:
            reasons.setdefault(orders[fulfillment.sales_order_id or ""], set()).add("fulfilment")
        watched = {i.invoice_id for i in [*edited, *late]} | {f.fulfillment_id for f in shipped}
        stamps = [i.modified for i in invoices] + [f.modified for f in fulfillments]
        newest = [parse_netsuite_time(stamp) for stamp in stamps if stamp]
        newest += [parse_netsuite_time(modified) for _, modified in changed_customers if modified]
        newest += [parse_netsuite_time(created) for _, created in first_orders if created]
        newest.append(start)  # never move back
        customers = {i.customer_id for i in invoices if i.customer_id}
        customers |= {i.customer_id for i in overdue if i.customer_id}
        customers |= {customer_id for customer_id, _ in changed_customers}
        return NetSuiteChanges(
            watermark=max(newest).isoformat(),
            opportunity_ids=sorted(reasons),
            customer_ids=sorted(customers),
            invoices_read=len(invoices),
            changed_customer_ids=sorted({customer_id for customer_id, _ in changed_customers}),
            shown_invoices={
                **{i.invoice_id: i.shown for i in changed},
                **{f.fulfillment_id: f.shown for f in shipped_changed},
            },
            unwatched_invoices=sorted(set(shown) - watched),
            fulfillments_read=len(fulfillments),
            reasons={
                opportunity_id: f"NetSuite {' and '.join(sorted(kinds))} changed"
                for opportunity_id, kinds in reasons.items()
            },
            first_orders=[order for order, _ in first_orders],
        )

    async def _first_orders(
        self, request: ReadChanges, since: dt.datetime, start: dt.datetime
    ) -> list[tuple[FirstOrder, str]]:
        """Customers whose first sales order came after onboarding went live. The first poll that reads
        them marks that moment, as the newest sales order's id then (ids only grow; times tie within a
        second), and onboards nobody: orders from before it never count as a new customer's."""
        if not request.first_orders:
            return []
        mark = await asyncio.to_thread(self._store.watermark, ONBOARDING_SINCE)
        if mark is None:
            newest = await self._billing.newest_sales_order_id()
            mark = await asyncio.to_thread(self._store.mark_once, ONBOARDING_SINCE, newest)
        if not request.watermark:
            return []
        return await self._billing.first_orders_since(since, after_id=mark)

    @activity.defn(name="evaluate_credit")
    async def evaluate_credit(self, request: EvaluateCredit) -> CreditChanges:
        """Every customer whose credit state differs from what Salesforce was last told, in set-based
        queries: the customers the rule may hold (one query for the account), plus those q2c last
        showed as held or that changed. Also which waiting orders' customers are not on hold."""
        known = await asyncio.to_thread(self._store.credit_records)
        parked = {
            p.record_id: p for p in await asyncio.to_thread(self._store.parked_records, NETSUITE_POLLER)
        }
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
