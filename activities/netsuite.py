"""NetSuite activities: one method per API call, over the injected ``NetSuiteClient`` and store.

Writes are upserts by external id (Salesforce id), so a retried or replayed activity never creates a
second customer or sales order.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from temporalio import activity

from activities.errors import api_errors
from q2c.connectors.netsuite import NetSuiteClient, ref_id, ref_name
from q2c.connectors.netsuite_billing import NetSuiteBilling
from q2c.domain.billing import CreditState, OrderBilling, credit_state
from q2c.domain.messages import (
    CheckCredit,
    CloseSalesOrder,
    CustomerRef,
    GetOrderBilling,
    GetSalesOrder,
    SalesOrderRef,
    Written,
)
from q2c.domain.order import CustomerUpsert, SalesOrderUpsert
from q2c.domain.records import SalesOrder
from q2c.store import LinkKind, Store

SF_ACCOUNT_FIELD = "custentity_sf_account_id"


class NetSuiteActivities:
    def __init__(self, client: NetSuiteClient, store: Store) -> None:
        self._client = client
        self._billing = NetSuiteBilling(client)
        self._store = store

    @activity.defn(name="upsert_customer")
    async def upsert_customer(self, customer: CustomerUpsert) -> CustomerRef:
        body: dict[str, Any] = {
            "companyName": customer.company_name,
            "subsidiary": {"id": customer.subsidiary_id},
            "currency": {"id": customer.currency_id},
            SF_ACCOUNT_FIELD: customer.salesforce_account_id,
        }
        if customer.phone:
            body["phone"] = customer.phone
        if customer.url:
            body["url"] = customer.url
        with api_errors():
            customer_id = await self._client.upsert("customer", customer.salesforce_account_id, body)
        await asyncio.to_thread(
            self._store.link, LinkKind.ACCOUNT, customer.salesforce_account_id, customer_id
        )
        return CustomerRef(customer_id=customer_id)

    @activity.defn(name="upsert_sales_order")
    async def upsert_sales_order(self, order: SalesOrderUpsert) -> SalesOrderRef:
        body: dict[str, Any] = {
            "entity": {"id": order.customer_id},
            "subsidiary": {"id": order.subsidiary_id},
            "currency": {"id": order.currency_id},
            "memo": order.memo,
            order.opportunity_field: order.opportunity_id,
            "item": {
                "items": [
                    {
                        "item": {"id": line.item_id},
                        "quantity": float(line.quantity),
                        "rate": float(line.rate),
                        "amount": float(line.amount),
                        **({"description": line.description} if line.description else {}),
                    }
                    for line in order.lines
                ]
            },
        }
        if order.tran_date:
            body["tranDate"] = order.tran_date
        with api_errors():
            sales_order_id = await self._client.upsert(
                "salesOrder", order.opportunity_id, body, replace="item"
            )
        await asyncio.to_thread(self._store.link, LinkKind.ORDER, order.opportunity_id, sales_order_id)
        return SalesOrderRef(sales_order_id=sales_order_id)

    @activity.defn(name="get_sales_order")
    async def get_sales_order(self, request: GetSalesOrder) -> SalesOrder:
        with api_errors():
            record = await self._client.get("salesOrder", request.sales_order_id)
        return _sales_order(record)

    @activity.defn(name="get_order_billing")
    async def get_order_billing(self, request: GetOrderBilling) -> OrderBilling:
        with api_errors():
            return await self._billing.order_billing(request.sales_order_id)

    @activity.defn(name="check_credit")
    async def check_credit(self, request: CheckCredit) -> CreditState:
        with api_errors():
            customer = await self._billing.customer_credit(request.customer_id)
        return credit_state(customer, request.overdue_days)

    @activity.defn(name="close_sales_order")
    async def close_sales_order(self, request: CloseSalesOrder) -> Written:
        with api_errors():
            await self._billing.close_sales_order(request.opportunity_id)
        return Written(record_id=request.opportunity_id)


def _sales_order(record: dict[str, Any]) -> SalesOrder:
    total = record.get("total")
    return SalesOrder(
        id=str(record["id"]),
        tran_id=str(record.get("tranId") or ""),
        external_id=record.get("externalId"),
        customer_id=ref_id(record.get("entity")) or "",
        subsidiary_id=ref_id(record.get("subsidiary")),
        subsidiary_name=ref_name(record.get("subsidiary")),
        currency=ref_name(record.get("currency")),
        total=Decimal(str(total)) if total is not None else None,
        status=ref_name(record.get("status")),
    )
