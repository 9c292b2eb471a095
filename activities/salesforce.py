"""Salesforce activities: one method per API call, over the injected ``SalesforceClient``."""

from __future__ import annotations

import asyncio
import datetime as dt

from temporalio import activity

from activities.errors import BusinessError, api_errors, business_error
from q2c.connectors.salesforce import SalesforceClient
from q2c.domain.messages import LinkAccount, OrderStatusUpdate, ReadOpportunity, Written
from q2c.domain.records import Opportunity

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
        with api_errors():
            await asyncio.to_thread(self._client.update, "Opportunity", request.opportunity_id, fields)
        return Written(record_id=request.opportunity_id)
