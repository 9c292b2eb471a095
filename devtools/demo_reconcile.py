"""The demo's last part: bookings versus billings for the month the demo's deals closed in, run as
``q2c reconcile`` runs it, with the summary it prints and where the report and Salesforce record are."""

from __future__ import annotations

import datetime as dt

from rich.console import Console
from temporalio.client import Client

from q2c.config import Settings
from q2c.domain.reconciliation import summary_text
from q2c_sandbox.seed import CLOSE_DATE
from temporal_client.reconciliation import reconcile_request, start_reconciliation


async def run_reconciliation(console: Console, client: Client, settings: Settings, as_of: dt.date) -> None:
    """``as_of``: the NetSuite sandbox's day (the demo moved its clock on): payments up to then count."""
    period = CLOSE_DATE[:7]
    console.rule(f"Bookings vs billings, {period}")
    request = reconcile_request(settings, period, as_of=as_of)
    status = await (await start_reconciliation(client, request)).result()
    if status.summary is not None:
        console.print(summary_text(status.summary), markup=False, highlight=False, soft_wrap=True)
    console.print(f"Report: {status.report_html} (CSV: {status.report_csv})", markup=False, soft_wrap=True)
    console.print(
        f"Salesforce: Reconciliation__c {status.reconciliation_id}; {status.opportunities_written} opportunities "
        f"carry their reconciliation status; {status.salesforce_calls} Salesforce API calls.",
        markup=False,
        soft_wrap=True,
    )
