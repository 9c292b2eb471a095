"""The NetSuite poller's signals and writes, end to end on the dev server: credit released to every
waiting order, overdue invoices re-signalled only when what Salesforce shows changes, and one account
that cannot be written parked while the rest of the poll goes on.

On sandboxes of their own (module scope): these tests move the NetSuite clock and put customers on hold.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from q2c.config import Settings
from q2c.connectors.netsuite import NetSuiteClient
from q2c.domain.messages import DealClosed, PollResult
from q2c.domain.order import OrderStage
from q2c.store import LinkKind, Store
from q2c_sandbox.local import LocalSandboxes, local_sandboxes
from temporal_client.orders import ORDER_CREATED, deal_closed, order_status, wait_until_settled
from temporal_client.schedules import poll_once
from tests.conftest import q2c_test_settings, until
from tests.factories import Catalog, bill, build_catalog, make_deal, records_with
from tests.sessions import API, person_session
from workflows import names

pytestmark = pytest.mark.usefixtures("worker")
FINANCE_USER = "finance.poller@q2c.sandbox"


@pytest.fixture(scope="module")
def sandboxes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSandboxes]:
    with local_sandboxes(tmp_path_factory.mktemp("poller-sandboxes")) as sandboxes:
        sandboxes.sf_admin.create_user(FINANCE_USER, first_name="Fin", last_name="Ance")
        yield sandboxes


@pytest.fixture(scope="module")
def catalog(sandboxes: LocalSandboxes) -> Catalog:
    return build_catalog(sandboxes.sf_admin, sandboxes.ns_admin)


@pytest.fixture
def settings(sandboxes: LocalSandboxes, temporal_env: WorkflowEnvironment, tmp_path: Path) -> Settings:
    return q2c_test_settings(sandboxes, temporal_env, tmp_path, account_sync=False)


async def _poll(client: Client, settings: Settings) -> tuple[PollResult, Counter[tuple[str, str]]]:
    """One NetSuite poll, with the signals it sent: (signal name, workflow id) -> how many."""
    workflow_id = f"poll:test-{uuid.uuid4().hex[:8]}"
    result = await poll_once(client, settings, workflow_id=workflow_id)
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    signals: Counter[tuple[str, str]] = Counter()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
            attrs = event.signal_external_workflow_execution_initiated_event_attributes
            signals[(attrs.signal_name, attrs.workflow_execution.workflow_id)] += 1
    return result, signals


def _today(sandboxes: LocalSandboxes) -> dt.date:
    return dt.date.fromisoformat(sandboxes.ns_admin.get("/clock")["today"])


# --- defect 2(b): a hold set and lifted between two polls ------------------------------------------------
async def test_an_order_waiting_on_a_hold_the_poller_never_saw_is_released_by_the_next_poll(
    client: Client,
    settings: Settings,
    sandboxes: LocalSandboxes,
    catalog: Catalog,
    netsuite: NetSuiteClient,
    store: Store,
) -> None:
    [customer] = sandboxes.ns_admin.load(
        {"customer": [{"companyName": f"Brief Hold {uuid.uuid4().hex[:6]}", "subsidiary": {"id": "1"}}]}
    )["customer"]
    deal = make_deal(sandboxes.sf_admin, catalog, account={"NetSuite_Internal_ID__c": customer})
    store.link(LinkKind.ACCOUNT, deal.account_id, customer)
    await _poll(client, settings)  # the poller runs as usual: the customer is in good standing

    # Finance sets the hold, the deal closes and waits, finance lifts the hold: all between two polls.
    await netsuite.patch("customer", customer, {"creditHoldOverride": {"id": "ON"}})
    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    await wait_until_settled(client, deal.opportunity_id, 60, stages={OrderStage.AWAITING_CREDIT_RELEASE})
    await netsuite.patch("customer", customer, {"creditHoldOverride": {"id": "AUTO"}})

    result, signals = await _poll(client, settings)

    assert signals[(names.CREDIT_RELEASED_SIGNAL, names.order_workflow_id(deal.opportunity_id))] == 1
    assert result.holds_raised == 0  # the poller never saw the hold and does not report one
    status = await wait_until_settled(client, deal.opportunity_id, 20, stages=ORDER_CREATED)
    assert status.sales_order_id
    assert len(records_with(sandboxes.ns_admin, "salesOrder", externalId=deal.opportunity_id)) == 1


async def test_an_order_whose_customer_is_still_on_hold_is_not_woken(
    client: Client,
    settings: Settings,
    sandboxes: LocalSandboxes,
    catalog: Catalog,
    store: Store,
) -> None:
    [customer] = sandboxes.ns_admin.load(
        {
            "customer": [
                {
                    "companyName": f"Still Held {uuid.uuid4().hex[:6]}",
                    "subsidiary": {"id": "1"},
                    "creditHoldOverride": {"id": "ON"},
                }
            ]
        }
    )["customer"]
    deal = make_deal(sandboxes.sf_admin, catalog, account={"NetSuite_Internal_ID__c": customer})
    store.link(LinkKind.ACCOUNT, deal.account_id, customer)
    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    await wait_until_settled(client, deal.opportunity_id, 60, stages={OrderStage.AWAITING_CREDIT_RELEASE})

    for _ in range(2):
        _, signals = await _poll(client, settings)
        assert (names.CREDIT_RELEASED_SIGNAL, names.order_workflow_id(deal.opportunity_id)) not in signals
    assert (await order_status(client, deal.opportunity_id)).stage is OrderStage.AWAITING_CREDIT_RELEASE


# --- defect 7(c): overdue invoices re-signal only when what Salesforce shows changes ----------------------
def _overdue_orders(
    sandboxes: LocalSandboxes, catalog: Catalog, store: Store, count: int, days_overdue: int
) -> list[str]:
    """``count`` sales orders q2c made (linked in the store), each with one open invoice overdue by
    ``days_overdue`` days; returns their opportunity ids (no order workflow runs for them)."""
    ns = sandboxes.ns_admin
    [customer] = ns.load(
        {"customer": [{"companyName": f"Slow Payer {uuid.uuid4().hex[:6]}", "subsidiary": {"id": "1"}}]}
    )["customer"]
    line = {"item": {"id": catalog.items["WID-100"]}, "quantity": 1, "rate": 120.0}
    orders = ns.load({"salesOrder": [{"entity": {"id": customer}, "item": {"items": [line]}}] * count})
    invoice_date = (_today(sandboxes) - dt.timedelta(days=30 + days_overdue)).isoformat()  # Net 30
    ns.load(
        {
            "invoice": [
                {
                    "entity": {"id": customer},
                    "createdFrom": {"id": order},
                    "tranDate": invoice_date,
                    "item": {"items": [line]},
                }
                for order in orders["salesOrder"]
            ]
        }
    )
    opportunities = [f"006OVERDUE{uuid.uuid4().hex[:8]}" for _ in orders["salesOrder"]]
    for opportunity, order in zip(opportunities, orders["salesOrder"], strict=True):
        store.link(LinkKind.ORDER, opportunity, order)
    return opportunities


async def test_overdue_invoices_re_signal_their_orders_only_when_days_overdue_change(
    client: Client,
    settings: Settings,
    sandboxes: LocalSandboxes,
    catalog: Catalog,
    netsuite: NetSuiteClient,
    store: Store,
) -> None:
    waiting = _overdue_orders(sandboxes, catalog, store, 200, days_overdue=10)
    # One real order too, to see what the re-signal is for: the days overdue on its Salesforce invoice.
    deal = make_deal(sandboxes.sf_admin, catalog, lines=[("WID-100", 2)])
    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    status = await wait_until_settled(client, deal.opportunity_id, 60, stages={OrderStage.AWAITING_INVOICE})
    invoice_id = await bill(netsuite, status.sales_order_id or "")
    await netsuite.patch(
        "invoice", invoice_id, {"dueDate": (_today(sandboxes) - dt.timedelta(days=5)).isoformat()}
    )
    orders = {names.order_workflow_id(o) for o in [*waiting, deal.opportunity_id]}

    def billing_signals(signals: Counter[tuple[str, str]]) -> int:
        return sum(
            n for (name, wf), n in signals.items() if name == names.BILLING_CHANGED_SIGNAL and wf in orders
        )

    _, first = await _poll(client, settings)
    assert billing_signals(first) == len(orders)  # seen for the first time: every order re-reads once
    await until(
        lambda: records_with(
            sandboxes.sf_admin, "NetSuite_Invoice__c", NetSuite_Invoice_ID__c=invoice_id, Days_Overdue__c=5.0
        ),
        "5 days overdue in Salesforce",
    )

    _, again = await _poll(client, settings)
    _, and_again = await _poll(client, settings)
    assert billing_signals(again) == billing_signals(and_again) == 0  # nothing a person sees changed

    sandboxes.ns_admin.put("/clock", {"advance_days": 1})
    _, next_day = await _poll(client, settings)
    assert billing_signals(next_day) == len(orders)  # one day more overdue: shown, so re-read once
    await until(
        lambda: records_with(
            sandboxes.sf_admin, "NetSuite_Invoice__c", NetSuite_Invoice_ID__c=invoice_id, Days_Overdue__c=6.0
        ),
        "6 days overdue in Salesforce",
    )


# --- defect 7(d): one account that cannot be written parks; the poll and the rest go on ------------------
async def _held_pair(sandboxes: LocalSandboxes, store: Store, name: str) -> tuple[str, str]:
    [customer] = sandboxes.ns_admin.load(
        {"customer": [{"companyName": name, "subsidiary": {"id": "1"}, "creditHoldOverride": {"id": "ON"}}]}
    )["customer"]
    [account] = sandboxes.sf_admin.load({"Account": [{"Name": name, "NetSuite_Internal_ID__c": customer}]})[
        "Account"
    ]
    store.link(LinkKind.ACCOUNT, account, customer)
    return account, customer


async def test_an_account_that_cannot_be_written_parks_and_the_watermark_still_advances(
    client: Client, settings: Settings, sandboxes: LocalSandboxes, store: Store, netsuite: NetSuiteClient
) -> None:
    u = uuid.uuid4().hex[:6]
    good_account, _ = await _held_pair(sandboxes, store, f"Good Standing Writes {u}")
    gone_account, gone_customer = await _held_pair(sandboxes, store, f"Deleted In Salesforce {u}")
    async with person_session(sandboxes, FINANCE_USER) as (http, _):
        deleted = await http.delete(f"{API}/sobjects/Account/{gone_account}")
        assert deleted.status_code == 204, deleted.text

    first, _ = await _poll(client, settings)

    [good] = records_with(sandboxes.sf_admin, "Account", Id=good_account)
    assert good["Credit_Hold__c"] is True and "On" in good["Credit_Hold_Reason__c"]
    [parked] = [p for p in first.parked if p.record_id == gone_customer]
    assert gone_account in parked.reason and "ENTITY_IS_DELETED" in parked.reason, parked.reason
    assert parked.attempts == 1
    assert first.watermark and store.watermark("netsuite") == first.watermark
    assert gone_customer in {p.record_id for p in store.parked_records("netsuite")}

    # Retried by the next poll (parked again), while the watermark moves on with the next change.
    sandboxes.ns_admin.put("/clock", {"advance_seconds": 2})  # NetSuite times are to the second
    await netsuite.patch("customer", gone_customer, {"comments": "still on hold"})
    again, _ = await _poll(client, settings)

    [still] = [p for p in again.parked if p.record_id == gone_customer]
    assert still.attempts == 2
    assert again.watermark and again.watermark > first.watermark
    assert store.watermark("netsuite") == again.watermark
    assert [p.record_id for p in again.parked] == [gone_customer]
