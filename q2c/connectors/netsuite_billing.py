"""NetSuite billing reads: a sales order's invoices, a customer's credit, what changed since a time.

The SuiteQL lives here, in one place, with NetSuite's table and column names. Reads that need typed
fields go through the record API (which every account has) rather than through SuiteQL columns.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from q2c.connectors.errors import ApiError, ErrorKind
from q2c.connectors.netsuite import RECORD_PATH, NetSuiteClient, ref_id, ref_name
from q2c.domain.billing import CustomerCredit, Invoice, OrderBilling

SUITEQL_TIME = "%Y-%m-%d %H:%M:%S"
# SuiteQL prints a raw datetime column as a date in the user's format (no time): ask for the time.
MODIFIED = "TO_CHAR(t.lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS modified"


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _int(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


def _literal_id(value: str) -> str:
    if not value.isdigit():
        raise ApiError(
            system="NetSuite",
            operation="SuiteQL",
            kind=ErrorKind.PERMANENT,
            code="INVALID_ID",
            detail=f"{value!r} is not a NetSuite internal id",
        )
    return value


def suiteql_time(moment: dt.datetime) -> str:
    return f"TO_DATE('{moment.astimezone(dt.UTC).strftime(SUITEQL_TIME)}', 'YYYY-MM-DD HH24:MI:SS')"


@dataclass(frozen=True)
class ChangedInvoice:
    invoice_id: str
    customer_id: str
    sales_order_id: str | None
    modified: str


def _changed_invoices(rows: list[dict[str, Any]]) -> list[ChangedInvoice]:
    return [
        ChangedInvoice(
            invoice_id=str(row["id"]),
            customer_id=str(row.get("entity") or ""),
            sales_order_id=str(row["createdfrom"]) if row.get("createdfrom") else None,
            modified=str(row.get("modified") or ""),
        )
        for row in rows
    ]


class NetSuiteBilling:
    def __init__(self, client: NetSuiteClient) -> None:
        self._client = client

    async def invoice(self, invoice_id: str) -> Invoice:
        record = await self._client.get("invoice", invoice_id)
        return Invoice(
            id=str(record["id"]),
            number=str(record.get("tranId") or record["id"]),
            sales_order_id=ref_id(record.get("createdFrom")),
            customer_id=ref_id(record.get("entity")) or "",
            currency=ref_name(record.get("currency")),
            total=_decimal(record.get("total")),
            amount_remaining=_decimal(record.get("amountRemaining")),
            status=ref_name(record.get("status")) or "",
            due_date=record.get("dueDate"),
            days_overdue=_int(record.get("daysOverdue")),
        )

    async def order_billing(self, sales_order_id: str) -> OrderBilling:
        order = await self._client.get("salesOrder", sales_order_id)
        rows = await self._client.suiteql_rows(
            "SELECT DISTINCT t.id FROM transaction t JOIN transactionline tl ON tl.transaction = t.id "
            f"WHERE t.type = 'CustInvc' AND tl.createdfrom = {_literal_id(sales_order_id)} ORDER BY t.id"
        )
        invoices = [await self.invoice(str(row["id"])) for row in rows]
        return OrderBilling(
            sales_order_id=sales_order_id,
            sales_order_status=ref_name(order.get("status")) or "",
            invoices=invoices,
        )

    async def customer_credit(self, customer_id: str) -> CustomerCredit:
        record = await self._client.get("customer", customer_id)
        limit = record.get("creditLimit")
        override = record.get("creditHoldOverride")
        return CustomerCredit(
            customer_id=str(record["id"]),
            company_name=str(record.get("companyName") or ""),
            credit_hold_override=(ref_id(override) or str(override or "AUTO")).upper(),
            credit_limit=Decimal(str(limit)) if limit is not None else None,
            balance=_decimal(record.get("balance")),
            overdue_balance=_decimal(record.get("overdueBalance")),
            days_overdue=_int(record.get("daysOverdue")),
        )

    async def invoices_changed_since(self, since: dt.datetime) -> list[ChangedInvoice]:
        rows = await self._client.suiteql_rows(
            f"SELECT DISTINCT t.id, t.entity, {MODIFIED}, tl.createdfrom FROM transaction t "
            "JOIN transactionline tl ON tl.transaction = t.id "
            f"WHERE t.type = 'CustInvc' AND t.lastmodifieddate >= {suiteql_time(since)} "
            "ORDER BY t.lastmodifieddate, t.id"
        )
        return _changed_invoices(rows)

    async def customers_changed_since(self, since: dt.datetime) -> list[tuple[str, str]]:
        """(customer id, modified) for customers changed since ``since``: credit fields among them."""
        rows = await self._client.suiteql_rows(
            "SELECT c.id, TO_CHAR(c.lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS modified FROM customer c "
            f"WHERE c.lastmodifieddate >= {suiteql_time(since)} ORDER BY c.lastmodifieddate, c.id"
        )
        return [(str(row["id"]), str(row.get("modified") or "")) for row in rows]

    async def overdue_invoices(self) -> list[ChangedInvoice]:
        """Open invoices past their due date: time passing changes them without modifying them."""
        rows = await self._client.suiteql_rows(
            f"SELECT DISTINCT t.id, t.entity, {MODIFIED}, tl.createdfrom, t.daysoverduesearch "
            "FROM transaction t JOIN transactionline tl ON tl.transaction = t.id "
            "WHERE t.type = 'CustInvc' AND t.foreignamountremaining > 0 AND t.daysoverduesearch > 0 "
            "ORDER BY t.id"
        )
        return _changed_invoices(rows)

    async def bill_sales_order(self, sales_order_id: str) -> str:
        """Invoice the whole sales order (NetSuite's transform); returns the new invoice's id."""
        response = await self._client.request(
            "POST",
            f"{RECORD_PATH}/salesOrder/{_literal_id(sales_order_id)}/!transform/invoice",
            body={},
            operation=f"invoice of sales order {sales_order_id}",
        )
        return response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]

    async def record_payment(self, customer_id: str, invoice_id: str, amount: Decimal) -> str:
        """A customer payment applied to one invoice; returns the payment's id."""
        return await self._client.create(
            "customerPayment",
            {
                "customer": {"id": customer_id},
                "payment": float(amount),
                "apply": {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": float(amount)}]},
            },
        )

    async def close_sales_order(self, external_id: str) -> bool:
        """Close every line of the order whose externalId is ``external_id``; False if there is none."""
        try:
            order = await self._client.get("salesOrder", f"eid:{external_id}", expand=True)
        except ApiError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                return False
            raise
        lines = (order.get("item") or {}).get("items") or []
        open_lines = [line for line in lines if not line.get("isClosed")]
        if open_lines:
            await self._client.patch(
                "salesOrder",
                f"eid:{external_id}",
                {"item": {"items": [{"line": line["line"], "isClosed": True} for line in open_lines]}},
            )
        return True
