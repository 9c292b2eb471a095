"""The second half of ``q2c demo``: from sales orders to cash and a credit hold.

Acting as NetSuite's finance team through the real API, it bills every order, moves the NetSuite
sandbox's clock forward, records payments (one partial), and leaves one customer unpaid long enough
to go on credit hold; the NetSuite poller carries each change to Salesforce. Runs once: a second demo
finds the orders billed and only shows where things stand.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table
from temporalio.client import Client

from q2c.config import Settings
from q2c.connectors.netsuite_billing import NetSuiteBilling
from q2c.domain.messages import OrderStatus
from q2c_sandbox.admin_client import SandboxAdmin
from temporal_client.schedules import poll_once
from worker import netsuite_client

# (deal, days after billing, share of the invoice paid then)
PAYMENTS = [
    ("Acme - Widget rollout", 20, Decimal("1")),
    ("Initech - Platform licences", 20, Decimal("1")),
    ("Umbrella - Pro widgets", 20, Decimal("0.4")),
    ("Umbrella - Pro widgets", 50, Decimal("0.6")),
    ("Northwind - Starter bundle", 50, Decimal("1")),
]
UNPAID = "Globex - Gateway expansion"  # never pays: overdue beyond the threshold -> credit hold
FINAL_DAY = 70  # invoices are due after 30 days; 70 days after billing the unpaid one is 40 days late


async def _until(check: Callable[[], Any], what: str, within: float = 60) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await asyncio.to_thread(check)
        if value:
            return value
        await asyncio.sleep(0.25)
    raise TimeoutError(f"{what} did not happen within {within:.0f}s")


async def run_lifecycle(
    console: Console,
    client: Client,
    settings: Settings,
    statuses: dict[str, OrderStatus],
    sf_admin: SandboxAdmin,
    ns_admin: SandboxAdmin,
) -> None:
    orders = {name: status for name, status in statuses.items() if status.sales_order_id}
    invoiced = {i.get("createdFrom", {}).get("id") for i in ns_admin.records("invoice")}
    netsuite = netsuite_client(settings)
    billing = NetSuiteBilling(netsuite)
    try:
        if not any(status.sales_order_id in invoiced for status in orders.values()):
            await _bill_and_collect(console, client, settings, orders, billing, ns_admin)
        else:
            console.print("The orders were billed on an earlier run; showing where things stand.")
        await poll_once(client, settings)
    finally:
        await netsuite.aclose()
    await _until(
        lambda: len(sf_admin.records("NetSuite_Invoice__c")) >= len(orders), "invoices reaching Salesforce"
    )
    _show(console, settings, sf_admin, ns_admin)


async def _bill_and_collect(
    console: Console,
    client: Client,
    settings: Settings,
    orders: dict[str, OrderStatus],
    billing: NetSuiteBilling,
    ns_admin: SandboxAdmin,
) -> None:
    invoices = {
        name: await billing.bill_sales_order(status.sales_order_id or "") for name, status in orders.items()
    }
    totals = {name: (await billing.invoice(invoice_id)).total for name, invoice_id in invoices.items()}
    await poll_once(client, settings)
    console.print(
        f"NetSuite billed {len(invoices)} orders; the poller put the invoices on the opportunities."
    )
    day = 0
    for target in sorted({d for _, d, _ in PAYMENTS} | {FINAL_DAY}):
        ns_admin.put("/clock", {"advance_days": target - day})
        day = target
        for name, when, share in PAYMENTS:
            if when == target and name in invoices:
                amount = (totals[name] * share).quantize(Decimal("0.01"))
                await billing.record_payment(orders[name].netsuite_customer_id or "", invoices[name], amount)
                console.print(f"  day {day:>2}: {name} paid {amount}")
        result = await poll_once(client, settings)
        console.print(
            f"  day {day:>2}: poll read {result.invoices_read} invoice changes, signalled "
            f"{result.orders_signalled} orders, {result.holds_raised} credit hold(s) raised"
        )


def _show(console: Console, settings: Settings, sf_admin: SandboxAdmin, ns_admin: SandboxAdmin) -> None:
    accounts = {a["Id"]: a for a in sf_admin.records("Account")}
    table = Table(title="NetSuite invoices as Salesforce shows them (NetSuite_Invoice__c)")
    for column in ("Invoice", "Account", "Amount", "Due", "Amount due", "Status", "Days overdue"):
        table.add_column(column)
    for invoice in sorted(sf_admin.records("NetSuite_Invoice__c"), key=lambda i: i["Name"]):
        account = accounts.get(invoice.get("Account__c") or "", {})
        table.add_row(
            invoice["Name"],
            account.get("Name", "-"),
            f"{invoice['Amount__c']:,.2f} {invoice.get('CurrencyIsoCode', '')}",
            str(invoice.get("Due_Date__c")),
            f"{invoice['Amount_Due__c']:,.2f}",
            invoice["Status__c"],
            str(invoice.get("Days_Overdue__c")),
        )
    console.print(table)
    console.print(f"NetSuite sandbox date: {ns_admin.get('/clock')['today']}")
    held = [a for a in accounts.values() if a.get("Credit_Hold__c")]
    for account in held:
        console.print(
            f"[red]Credit hold[/] on {account['Name']} ({account['Id']}): {account.get('Credit_Hold_Reason__c')}; "
            f"balance {account.get('NetSuite_Balance__c')}, overdue {account.get('NetSuite_Overdue_Balance__c')}",
            soft_wrap=True,
        )
        holds = [
            t
            for t in sf_admin.records("Task")
            if t.get("WhatId") == account["Id"] and str(t.get("Q2C_Key__c")).startswith("credit-hold:")
        ]
        for task in holds:
            console.print(
                f"  Task for the account owner ({task.get('OwnerId')}): {task['Subject']!r}, due {task.get('ActivityDate')}",
                soft_wrap=True,
            )
    if not held:
        console.print("No account is on credit hold.")
