"""Salesforce activities: one method per API call, over the injected ``SalesforceClient``."""

from __future__ import annotations

import asyncio
import datetime as dt

from temporalio import activity

from activities.errors import BusinessError, api_errors, business_error
from q2c.connectors.salesforce import SalesforceClient, parse_salesforce_time
from q2c.domain.account_sync import (
    AccountState,
    Candidates,
    ContactState,
    CreateAccount,
    CreatedRecord,
    FindCandidates,
    MaybeAccountState,
    MaybeContact,
    ReadAccountState,
    ReadContact,
    WriteFields,
    plain,
)
from q2c.domain.matching import AccountCandidate, name_pattern, normalize_company_name
from q2c.domain.messages import (
    AccountCredit,
    AccountMatch,
    BillingTotals,
    CreditTask,
    FindAccount,
    InvoiceUpsert,
    LinkAccount,
    OrderStatusUpdate,
    ReadAccount,
    ReadOpportunity,
    Written,
)
from q2c.domain.records import Account, Opportunity
from q2c.domain.sync import Side

SYNC_MESSAGE_MAX = 1000  # length of Opportunity.Q2C_Sync_Message__c


class SalesforceActivities:
    def __init__(self, client: SalesforceClient) -> None:
        self._client = client

    @activity.defn(name="read_opportunity")
    async def read_opportunity(self, request: ReadOpportunity) -> Opportunity:
        with api_errors():
            opportunity = await asyncio.to_thread(self._client.get_opportunity, request.opportunity_id)
        if opportunity is None:
            raise business_error(
                BusinessError.OPPORTUNITY_NOT_FOUND,
                f"Opportunity {request.opportunity_id} does not exist in Salesforce "
                "(deleted, or not visible to the integration user).",
            )
        return opportunity

    @activity.defn(name="link_account_to_customer")
    async def link_account_to_customer(self, request: LinkAccount) -> Written:
        with api_errors():
            await asyncio.to_thread(
                self._client.update,
                "Account",
                request.account_id,
                {"NetSuite_Internal_ID__c": request.netsuite_customer_id},
            )
        return Written(record_id=request.account_id)

    @activity.defn(name="write_order_status")
    async def write_order_status(self, request: OrderStatusUpdate) -> Written:
        fields: dict[str, object] = {
            "Q2C_Sync_Status__c": request.status.value,
            "Q2C_Sync_Message__c": request.message[:SYNC_MESSAGE_MAX],
            "Q2C_Last_Synced__c": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
        }
        if request.sales_order_id is not None:
            fields["NetSuite_Sales_Order_ID__c"] = request.sales_order_id
            fields["NetSuite_Sales_Order_Number__c"] = request.sales_order_number
        elif request.clear_sales_order:
            fields["NetSuite_Sales_Order_ID__c"] = None
            fields["NetSuite_Sales_Order_Number__c"] = None
        with api_errors():
            await asyncio.to_thread(self._client.update, "Opportunity", request.opportunity_id, fields)
        return Written(record_id=request.opportunity_id)

    @activity.defn(name="upsert_invoice")
    async def upsert_invoice(self, request: InvoiceUpsert) -> Written:
        invoice = request.invoice
        fields: dict[str, object] = {
            "Name": invoice.number,
            "Opportunity__c": request.opportunity_id,
            "Amount__c": float(invoice.total),
            "Amount_Due__c": float(invoice.amount_remaining),
            "Status__c": invoice.status,
            "Due_Date__c": invoice.due_date,
            "Days_Overdue__c": invoice.days_overdue,
        }
        if request.account_id:
            fields["Account__c"] = request.account_id
        if request.currency:
            fields["CurrencyIsoCode"] = request.currency
        with api_errors():
            await asyncio.to_thread(
                self._client.upsert, "NetSuite_Invoice__c", "NetSuite_Invoice_ID__c", invoice.id, fields
            )
        return Written(record_id=invoice.id)

    @activity.defn(name="write_billing_totals")
    async def write_billing_totals(self, request: BillingTotals) -> Written:
        fields = {"Billed_Amount__c": float(request.billed), "Paid_Amount__c": float(request.paid)}
        with api_errors():
            await asyncio.to_thread(self._client.update, "Opportunity", request.opportunity_id, fields)
        return Written(record_id=request.opportunity_id)

    @activity.defn(name="read_account")
    async def read_account(self, request: ReadAccount) -> Account:
        with api_errors():
            account = await asyncio.to_thread(self._client.get_account, request.account_id)
        if account is None:
            raise business_error(
                BusinessError.ACCOUNT_NOT_FOUND, f"Account {request.account_id} does not exist in Salesforce."
            )
        return account

    @activity.defn(name="find_account_for_customer")
    async def find_account_for_customer(self, request: FindAccount) -> AccountMatch:
        with api_errors():
            account = await asyncio.to_thread(self._client.account_for_customer, request.netsuite_customer_id)
        return AccountMatch(account=account)

    @activity.defn(name="set_account_credit")
    async def set_account_credit(self, request: AccountCredit) -> Written:
        state = request.state
        fields: dict[str, object] = {
            "Credit_Hold__c": state.on_hold,
            "Credit_Hold_Reason__c": (state.reason or "")[:255] or None,
            "NetSuite_Balance__c": float(state.balance),
            "NetSuite_Overdue_Balance__c": float(state.overdue_balance),
        }
        with api_errors():
            await asyncio.to_thread(self._client.update, "Account", request.account_id, fields)
        return Written(record_id=request.account_id)

    @activity.defn(name="upsert_task")
    async def upsert_task(self, request: CreditTask) -> Written:
        fields: dict[str, object] = {
            "Subject": request.subject[:255],
            "Description": request.description,
            "WhatId": request.account_id,
            "Priority": "High",
            "Status": "Not Started",
        }
        if request.owner_id:
            fields["OwnerId"] = request.owner_id
        if request.due_date:
            fields["ActivityDate"] = request.due_date
        with api_errors():
            await asyncio.to_thread(self._client.upsert, "Task", "Q2C_Key__c", request.key, fields)
        return Written(record_id=request.key)


# --- account sync ---------------------------------------------------------------------------------------
ACCOUNT_META_FIELDS = ["Name", "Website", "NetSuite_Internal_ID__c", "LastModifiedDate", "LastModifiedById"]
CONTACT_META_FIELDS = ["AccountId", "LastModifiedById", "NetSuite_Internal_ID__c"]


def account_state(row: dict[str, object], fields: list[str], reader: str | None) -> AccountState:
    return AccountState(
        side=Side.SALESFORCE,
        id=str(row["Id"]),
        values={f: plain(row.get(f)) for f in fields},
        modified_at=parse_salesforce_time(str(row["LastModifiedDate"])),
        modified_by=str(row.get("LastModifiedById") or "") or None,
        reader_user_id=reader,
        cross_id=str(row.get("NetSuite_Internal_ID__c") or "") or None,
        name=str(row.get("Name") or ""),
        website=str(row.get("Website") or "") or None,
    )


class SalesforceAccountActivities:
    """The Salesforce calls of the account sync (Account and Contact), over the injected client."""

    def __init__(self, client: SalesforceClient) -> None:
        self._client = client

    @activity.defn(name="read_account_state")
    async def read_account_state(self, request: ReadAccountState) -> MaybeAccountState:
        fields = list(dict.fromkeys([*request.fields, *ACCOUNT_META_FIELDS]))
        with api_errors():
            row = await asyncio.to_thread(self._client.record, "Account", request.account_id, fields)
            reader = await asyncio.to_thread(lambda: self._client.user_id)
        if row is None:
            return MaybeAccountState()
        return MaybeAccountState(state=account_state(row, request.fields, reader))

    @activity.defn(name="find_account_candidates")
    async def find_account_candidates(self, request: FindCandidates) -> Candidates:
        """Accounts sharing a matching key with the customer, every one of them (never cut before the
        rules rank them): the query's conditions are necessary ones, checked exactly here."""
        record = request.record
        key = normalize_company_name(record.name)
        with api_errors():
            rows = await asyncio.to_thread(
                lambda: self._client.find_accounts(
                    netsuite_id=record.id,
                    name_like=name_pattern(key) if key else None,
                    domains=sorted(record.domains()),
                )
            )
        candidates = [
            AccountCandidate(
                side=Side.SALESFORCE,
                id=str(row["Id"]),
                name=str(row.get("Name") or ""),
                website=row.get("Website"),
                cross_id=row.get("NetSuite_Internal_ID__c"),
            )
            for row in rows
        ]
        return Candidates(
            candidates=[
                c
                for c in candidates
                if c.cross_id == record.id
                or record.domains() & c.domains()
                or (key and normalize_company_name(c.name) == key)
            ]
        )

    @activity.defn(name="write_account")
    async def write_account(self, request: WriteFields) -> Written:
        with api_errors():
            await asyncio.to_thread(self._client.update, "Account", request.record_id, request.fields)
        return Written(record_id=request.record_id)

    @activity.defn(name="create_account")
    async def create_account(self, request: CreateAccount) -> CreatedRecord:
        """Upserted by the customer id (``NetSuite_Internal_ID__c``): a retry never makes a second account."""
        fields = {k: v for k, v in request.fields.items() if k != "NetSuite_Internal_ID__c"}
        with api_errors():
            await asyncio.to_thread(
                self._client.upsert, "Account", "NetSuite_Internal_ID__c", request.customer_id, fields
            )
            account = await asyncio.to_thread(self._client.account_for_customer, request.customer_id)
        if account is None:
            raise business_error(
                BusinessError.ACCOUNT_NOT_FOUND,
                f"Account for NetSuite customer {request.customer_id} was upserted but cannot be read back.",
            )
        return CreatedRecord(record_id=account.id)

    @activity.defn(name="read_contact")
    async def read_contact(self, request: ReadContact) -> MaybeContact:
        fields = list(dict.fromkeys([*request.fields, *CONTACT_META_FIELDS]))
        with api_errors():
            row = await asyncio.to_thread(self._client.record, "Contact", request.contact_id, fields)
        if row is None:
            return MaybeContact()
        return MaybeContact(
            contact=ContactState(
                id=str(row["Id"]),
                account_id=str(row.get("AccountId") or "") or None,
                values={f: plain(row.get(f)) for f in request.fields},
                modified_by=str(row.get("LastModifiedById") or "") or None,
                netsuite_id=str(row.get("NetSuite_Internal_ID__c") or "") or None,
            )
        )

    @activity.defn(name="write_contact")
    async def write_contact(self, request: WriteFields) -> Written:
        with api_errors():
            await asyncio.to_thread(self._client.update, "Contact", request.record_id, request.fields)
        return Written(record_id=request.record_id)
