"""Salesforce activities: one method per API call, over the injected ``SalesforceClient``."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import ClassVar

from temporalio import activity

from activities.errors import BusinessError, api_errors, business_error
from q2c.connectors.salesforce import SalesforceClient
from q2c.domain.billing import INVOICE_EXTERNAL_ID, INVOICE_OBJECT, invoice_fields
from q2c.domain.messages import (
    AccountCredit,
    AccountMatch,
    BillingTotals,
    CreditTask,
    FindAccount,
    FulfillmentUpsert,
    InvoiceUpsert,
    LinkAccount,
    OrderStatusUpdate,
    ReadAccount,
    ReadOpportunity,
    Written,
)
from q2c.domain.records import Account, Opportunity
from workflows import names

SYNC_MESSAGE_MAX = 1000  # length of Opportunity.Q2C_Sync_Message__c
ORDER_STATUS_MAX = 80  # of Opportunity.NetSuite_Order_Status__c
NAME_MAX = 80  # of a custom object's Name


class SalesforceActivities:
    """The Salesforce calls of the order to cash and of the credit shown on accounts."""

    task_queue: ClassVar[str] = names.TASK_QUEUE

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
            fields["NetSuite_Order_Status__c"] = None
        if request.inventory_warning is not None:
            fields["Inventory_Warning__c"] = request.inventory_warning
        elif request.clear_inventory_warning:
            fields["Inventory_Warning__c"] = None
        with api_errors():
            await asyncio.to_thread(self._client.update, "Opportunity", request.opportunity_id, fields)
        return Written(record_id=request.opportunity_id)

    @activity.defn(name="upsert_invoice")
    async def upsert_invoice(self, request: InvoiceUpsert) -> Written:
        invoice = request.invoice
        fields = invoice_fields(
            invoice,
            opportunity_id=request.opportunity_id,
            account_id=request.account_id,
            currency=request.currency,
        )
        with api_errors():
            await asyncio.to_thread(
                self._client.upsert, INVOICE_OBJECT, INVOICE_EXTERNAL_ID, invoice.id, fields
            )
        return Written(record_id=invoice.id)

    @activity.defn(name="upsert_fulfillment")
    async def upsert_fulfillment(self, request: FulfillmentUpsert) -> Written:
        """One item fulfilment as a NetSuite_Fulfillment__c record, upserted by the fulfilment's id."""
        fulfillment = request.fulfillment
        fields: dict[str, object] = {
            "Name": fulfillment.number[:NAME_MAX],
            "Opportunity__c": request.opportunity_id,
            "Status__c": fulfillment.status,
            "Ship_Date__c": fulfillment.ship_date,
            "Tracking_Numbers__c": fulfillment.tracking_text() or None,
            "Lines__c": fulfillment.lines_text() or None,
            "Quantity__c": float(fulfillment.quantity),
        }
        if request.account_id:
            fields["Account__c"] = request.account_id
        with api_errors():
            await asyncio.to_thread(
                self._client.upsert,
                "NetSuite_Fulfillment__c",
                "NetSuite_Fulfillment_ID__c",
                fulfillment.id,
                fields,
            )
        return Written(record_id=fulfillment.id)

    @activity.defn(name="write_billing_totals")
    async def write_billing_totals(self, request: BillingTotals) -> Written:
        fields: dict[str, object] = {
            "Billed_Amount__c": float(request.billed),
            "Paid_Amount__c": float(request.paid),
        }
        if request.order_status is not None:
            fields["NetSuite_Order_Status__c"] = request.order_status[:ORDER_STATUS_MAX]
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
