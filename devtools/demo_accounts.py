"""The last part of ``q2c demo``: accounts and customers kept in step both ways.

A customer keyed in directly in NetSuite gets its Salesforce account; a sales rep's phone change on an
account in Salesforce reaches its NetSuite customer. Both travel the way they do in production: the two
change pollers hand them to the pair's account sync workflow. A second demo finds everything in step and
writes nothing new.
"""

from __future__ import annotations

import httpx
from rich.console import Console
from temporalio.client import Client

from q2c.config import Settings
from q2c.domain.account_sync import AccountStage
from q2c.domain.messages import AccountSyncStatus, CustomerIntakeStatus, OrderStatus
from q2c_sandbox.admin_client import SandboxAdmin
from temporal_client.accounts import account_status, wait_for_account
from temporal_client.schedules import poll_once, salesforce_poll_once
from worker import netsuite_client
from workflows import names

SALES_REP = "rita.rep@q2c.sandbox"
NEW_CUSTOMER = {
    "companyName": "Hooli XYZ Ltd",
    "email": "accounts@hooli-xyz.example",
    "phone": "+44 20 7946 0000",
    "subsidiary": {"id": "2"},
    "currency": {"id": "2"},
}
EDITED_DEAL = "Acme - Widget rollout"
NEW_PHONE = "+1 415 555 0199"


async def run_account_sync(
    console: Console,
    client: Client,
    settings: Settings,
    statuses: dict[str, OrderStatus],
    sf_admin: SandboxAdmin,
    ns_admin: SandboxAdmin,
) -> None:
    console.rule("Accounts and customers, both ways")
    if not settings.account_sync:
        console.print("Account sync is off (Q2C_ACCOUNT_SYNC=false).")
        return
    await salesforce_poll_once(client, settings)  # a first poll only sets the watermark

    customer_id = _existing_customer(ns_admin) or ns_admin.load({"customer": [NEW_CUSTOMER]})["customer"][0]
    account_id = statuses[EDITED_DEAL].account_id
    assert account_id is not None
    rep = _sales_rep(sf_admin)
    async with httpx.AsyncClient(
        base_url=rep["instance_url"],
        headers={"Authorization": f"Bearer {rep['access_token']}"},
        verify=str(settings.effective_ca_path()),
        timeout=30,
    ) as http:
        reply = await http.patch(
            f"/services/data/v59.0/sobjects/Account/{account_id}", json={"Phone": NEW_PHONE}
        )
        reply.raise_for_status()
    console.print(
        f"In NetSuite, finance keyed in a customer: {NEW_CUSTOMER['companyName']} ({customer_id}). In "
        f"Salesforce, a sales rep changed the phone of account {account_id} to {NEW_PHONE}."
    )

    salesforce = await salesforce_poll_once(client, settings)
    netsuite = await poll_once(client, settings)
    console.print(
        f"Pollers: Salesforce signalled {salesforce.accounts_signalled} account(s) and skipped "
        f"{salesforce.own_writes_skipped} change(s) made by q2c itself; NetSuite signalled "
        f"{netsuite.accounts_signalled} customer(s)."
    )

    intake: CustomerIntakeStatus = await wait_for_account(client, names.intake_workflow_id(customer_id), 60)
    if intake.stage is AccountStage.HANDED_OVER and intake.account_id:
        console.print(
            f"{NEW_CUSTOMER['companyName']} -> Salesforce account {intake.account_id} ({intake.outcome}; "
            "linked both ways)."
        )
    else:
        console.print(f"[yellow]{NEW_CUSTOMER['companyName']}: {intake.stage.value}: {intake.message}")

    await wait_for_account(client, names.account_workflow_id(account_id), 60)
    pair: AccountSyncStatus = await account_status(client, account_id)
    netsuite_api = netsuite_client(settings)
    try:
        customer = await netsuite_api.get("customer", pair.netsuite_customer_id or "")
    finally:
        await netsuite_api.aclose()
    console.print(
        f"Phone of customer {pair.netsuite_customer_id} in NetSuite: {customer.get('phone')} · account sync "
        f"for {account_id}: {pair.events} events, {pair.echoes_suppressed} echoes of q2c's own writes "
        f"suppressed, writes Salesforce {pair.salesforce_writes} / NetSuite {pair.netsuite_writes}."
    )
    if pair.decisions:
        console.print(f"  last decision: {pair.decisions[-1]}", soft_wrap=True)


def _existing_customer(ns_admin: SandboxAdmin) -> str | None:
    for customer in ns_admin.records("customer"):
        if customer.get("companyName") == NEW_CUSTOMER["companyName"]:
            return str(customer["id"])
    return None


def _sales_rep(sf_admin: SandboxAdmin) -> dict[str, str]:
    """A session of a sales rep (not q2c's integration user), created on the first demo."""
    if not any(u.get("Username") == SALES_REP for u in sf_admin.records("User")):
        sf_admin.create_user(SALES_REP, first_name="Rita", last_name="Rep")
    return sf_admin.login_as(SALES_REP)
