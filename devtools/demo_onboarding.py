"""The onboarding part of ``q2c demo``: each new customer's onboarding record and first tasks in
Salesforce, and (after the finance team's story) the customer on credit hold with its onboarding paused.

Customers the demo's orders created start onboarding from their order; Globex, a NetSuite customer before
the demo with no order yet, is found by the NetSuite poller (its first order came after q2c went live).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table
from simple_salesforce.format import format_soql
from temporalio.client import Client

from q2c.config import Settings
from q2c.domain.messages import OrderStatus
from q2c.domain.messages.onboarding import OnboardingStage, OnboardingStatus
from q2c.domain.onboarding import StepStatus
from temporal_client.onboarding import onboarding_status
from temporal_client.schedules import poll_once
from worker import salesforce_client
from workflows import names


async def _settled(client: Client, customer_id: str, within: float = 60) -> OnboardingStatus | None:
    """The onboarding once it has its first task (or waits for a person); None if there is none."""
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        try:
            last, _ = await onboarding_status(client, customer_id)
        except Exception:  # not started yet
            last = None
        # Written to Salesforce (the record last, after the pass's tasks), or waiting for a person.
        if (
            last is not None
            and last.record_id is not None
            and (
                last.stage is OnboardingStage.NEEDS_ATTENTION
                or any(s.status is not StepStatus.WAITING for s in last.steps.values())
            )
        ):
            return last
        await asyncio.sleep(0.25)
    return last


def _rows(settings: Settings, soql: str) -> list[dict[str, Any]]:
    return salesforce_client(settings).query_all(soql)


async def run_onboarding(
    console: Console, client: Client, settings: Settings, statuses: dict[str, OrderStatus]
) -> dict[str, str]:
    """Show the new customers' onboardings; returns customer id -> account name."""
    console.rule("New customers -> onboarding")
    # The poller finds customers whose first order the order workflows did not start onboarding for.
    polled = await poll_once(client, settings)
    customers = {s.netsuite_customer_id: s.account_id for s in statuses.values() if s.sales_order_id}
    found = {c: await _settled(client, c) for c in customers if c}
    started = {c: s for c, s in found.items() if s is not None}
    console.print(
        f"{len(started)} new customers are being onboarded ({polled.onboardings_started} started by this "
        "NetSuite poll: their first order was not one q2c had to make the customer for)."
    )
    records = await asyncio.to_thread(
        _rows,
        settings,
        format_soql(
            "SELECT Id, Name, NetSuite_Customer_ID__c, Stage__c, CSM__r.Name, Segment__c, Region__c, "
            "Assignment_Rule__c, Start_Date__c, Due_Date__c, Tasks_Done__c, Tasks_Total__c "
            "FROM Onboarding__c WHERE NetSuite_Customer_ID__c IN {} ORDER BY Name",
            sorted(started) or ["-"],
        ),
    )
    tasks = await asyncio.to_thread(
        _rows,
        settings,
        "SELECT Q2C_Key__c, Subject, ActivityDate, Status, Owner.Name FROM Task "
        "WHERE Q2C_Key__c LIKE 'onboarding:%' ORDER BY ActivityDate, Q2C_Key__c",
    )
    table = Table(title="Onboarding__c: one per new customer")
    for column in (
        "Customer",
        "CSM (rule)",
        "Segment, region",
        "Stage",
        "Start -> due",
        "First tasks in Salesforce",
    ):
        table.add_column(column)
    for record in records:
        customer = str(record["NetSuite_Customer_ID__c"])
        mine = [t for t in tasks if str(t["Q2C_Key__c"]).startswith(f"onboarding:{customer}:")]
        csm = (record.get("CSM__r") or {}).get("Name") or "-"
        table.add_row(
            f"{record['Name'].removeprefix('Onboarding - ')}\n{customer} {record['Id']}",
            f"{csm}\n({record.get('Assignment_Rule__c') or '-'})",
            f"{record.get('Segment__c') or '-'}, {record.get('Region__c') or '-'}",
            f"{record['Stage__c']}\n{int(record.get('Tasks_Done__c') or 0)}/{int(record.get('Tasks_Total__c') or 0)} done",
            f"{record.get('Start_Date__c')} -> {record.get('Due_Date__c')}",
            "\n".join(f"{t['Subject']}, due {t['ActivityDate']} ({t['Status']})" for t in mine) or "-",
        )
    console.print(table)
    for customer, status in sorted(started.items()):
        link = f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows/{names.onboarding_workflow_id(customer)}"
        waiting = [k for k, s in status.steps.items() if s.status is StepStatus.WAITING]
        console.print(
            f"  {status.account_name}: {link} (next: {', '.join(waiting) or 'none'}; "
            f"q2c onboarding-status {customer})",
            soft_wrap=True,
        )
        if status.attention_reason:
            console.print(f"    [yellow]needs attention:[/] {status.attention_reason}", soft_wrap=True)
    return {c: s.account_name or c for c, s in started.items()}


async def show_paused(console: Console, client: Client, customers: Iterable[str], within: float = 30) -> None:
    """After the credit hold: the onboardings the poller paused, and the notice their CSM got."""
    deadline = time.monotonic() + within
    paused: list[OnboardingStatus] = []
    while time.monotonic() < deadline:
        paused = []
        for customer in customers:
            try:
                status, _ = await onboarding_status(client, customer)
            except Exception:  # finished or never started: nothing paused
                continue
            if status.stage is OnboardingStage.PAUSED:
                paused.append(status)
        if paused:
            break
        await asyncio.sleep(0.25)
    for status in paused:
        csm = status.csm.name if status.csm else "its CSM"
        console.print(
            f"Onboarding of {status.account_name} paused since {status.paused_on}: {status.pause_reason}. "
            f"{csm} has a Task saying so; no onboarding task is created or escalated until the hold is released.",
            soft_wrap=True,
        )
    if not paused:
        console.print("No onboarding is paused by a credit hold.")
