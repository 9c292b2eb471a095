"""NetSuite activities: one method per API call, over the injected ``NetSuiteClient`` and store.

Writes are upserts by external id (Salesforce id), so a retried or replayed activity never creates a
second customer or sales order.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any, ClassVar

from temporalio import activity

from activities.errors import BusinessError, api_errors, business_error
from q2c.connectors.errors import ApiError
from q2c.connectors.netsuite import NetSuiteClient, ref_id, ref_name
from q2c.connectors.netsuite_billing import NetSuiteBilling
from q2c.connectors.netsuite_customers import SF_ACCOUNT_FIELD, quote
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
from q2c.domain.messages.onboarding import CustomerOrders, CustomerOrdersRead
from q2c.domain.order import CustomerUpsert, SalesOrderUpsert
from q2c.domain.records import SalesOrder
from q2c.store import LinkKind, Store
from workflows import names


class NetSuiteActivities:
    """The NetSuite calls of the order to cash: customer, sales order, billing and credit."""

    task_queue: ClassVar[str] = names.NETSUITE_TASK_QUEUE

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
            try:
                sales_order_id = await self._client.upsert(
                    "salesOrder", order.opportunity_id, body, replace="item"
                )
            except ApiError as refused:
                if refused.retryable:
                    raise
                # NetSuite's words name its item; the person fixing it works on the Salesforce product.
                try:
                    inactive = await self._inactive_items(order)
                except ApiError:
                    raise refused from None  # the look-up failed: NetSuite's own words, then
                if inactive:
                    raise business_error(BusinessError.INACTIVE_ITEM, inactive) from None
                raise
        await asyncio.to_thread(self._store.link, LinkKind.ORDER, order.opportunity_id, sales_order_id)
        return SalesOrderRef(sales_order_id=sales_order_id)

    async def _inactive_items(self, order: SalesOrderUpsert) -> str | None:
        ids = sorted({line.item_id for line in order.lines})
        rows = await self._client.suiteql_rows(
            "SELECT id, itemid FROM item WHERE isinactive = 'T' AND id IN ("
            + ", ".join(quote(i) for i in ids)
            + ")"
        )
        names = {str(row["id"]): str(row.get("itemid") or row["id"]) for row in rows}
        problems = [
            f"line {number}: product {line.product_id} ({line.product_name!r}) is NetSuite item "
            f"{names[line.item_id]} (internal id {line.item_id}), which is inactive in NetSuite"
            for number, line in enumerate(order.lines, start=1)
            if line.item_id in names
        ]
        if not problems:
            return None
        return (
            f"Opportunity {order.opportunity_id} cannot be ordered: {'; '.join(problems)}. Reactivate the "
            "item in NetSuite (the catalog sync then reactivates the product too), or replace the line "
            "with an active product, then retry."
        )

    @activity.defn(name="get_sales_order")
    async def get_sales_order(self, request: GetSalesOrder) -> SalesOrder:
        with api_errors():
            record = await self._client.get("salesOrder", request.sales_order_id)
        return _sales_order(record)

    @activity.defn(name="get_order_billing")
    async def get_order_billing(self, request: GetOrderBilling) -> OrderBilling:
        with api_errors():
            return await self._billing.order_billing(request.sales_order_id)

    @activity.defn(name="customer_orders")
    async def customer_orders(self, request: CustomerOrders) -> CustomerOrdersRead:
        """The customer's sales orders: how many, and which are still open (not closed or cancelled)."""
        with api_errors():
            count, open_orders = await self._billing.customer_orders(request.customer_id)
        return CustomerOrdersRead(orders=count, open_orders=open_orders)

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
