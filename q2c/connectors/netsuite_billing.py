"""NetSuite billing reads: a sales order's invoices and fulfilments, a customer's credit, what changed
since a time.

The SuiteQL lives here, in one place, with NetSuite's table and column names. Reads that need typed
fields go through the record API (which every account has) rather than through SuiteQL columns.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from q2c.connectors.errors import ApiError, ErrorKind
from q2c.connectors.netsuite import RECORD_PATH, NetSuiteClient, parse_netsuite_time, ref_id, ref_name
from q2c.domain.billing import (
    CustomerCredit,
    Fulfillment,
    FulfillmentLine,
    Invoice,
    OrderBilling,
    ship_status,
)
from q2c.domain.messages.onboarding import FirstOrder
from q2c.domain.salesforce_ids import salesforce_id_or_none

SUITEQL_TIME = "%Y-%m-%d %H:%M:%S"
# SuiteQL prints a raw datetime column as a date in the user's format (no time): ask for the time.
# SuiteQL transaction.status of a sales order that will not be fulfilled or billed: Cancelled, Closed.
CLOSED_ORDER = frozenset({"C", "H"})
MODIFIED = "TO_CHAR(t.lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS modified"
PAGE = 1000  # SuiteQL's largest page
IN_LIST = 500  # ids per IN (...) list
# What Salesforce shows of an invoice (NetSuite_Invoice__c): a change here is worth the order's re-read.
SHOWN_INVOICE_COLUMNS = (
    "tranid",
    "status",
    "foreigntotal",
    "foreignamountremaining",
    "duedate",
    "daysoverduesearch",
)
# A customer's credit fields in SuiteQL: the "search" columns are the ones NetSuite keeps current.
CREDIT_COLUMNS = (
    "c.id, c.companyname, c.creditholdoverride, c.creditlimit, c.balancesearch, c.overduebalancesearch, "
    "c.daysoverduesearch"
)
_SHOWN = ", ".join(f"t.{column}" for column in SHOWN_INVOICE_COLUMNS)
# What Salesforce shows of a fulfilment (NetSuite_Fulfillment__c) from its transaction row; its lines
# count too, and changing them modifies it.
SHOWN_FULFILLMENT_COLUMNS = ("tranid", "status", "trandate", "trackingnumberlist")
_SHOWN_FULFILLMENT = ", ".join(f"t.{column}" for column in SHOWN_FULFILLMENT_COLUMNS)
# A date column comes back in the user's date format unless asked for as text.
SHIP_DATE = "TO_CHAR(t.trandate, 'YYYY-MM-DD') AS shipdate"
Progress = Callable[[int], None]  # called with the rows read so far, after every page (heartbeats)


def _decimal(value: Any) -> Decimal:
    return Decimal(str(value)) if value is not None else Decimal(0)


def _int(value: Any) -> int:
    return int(value) if value not in (None, "") else 0


def literal_id(value: str) -> str:
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
    # A fingerprint of what Salesforce shows of the invoice (number, amounts, status, due date, days
    # overdue) and of its modification time: the same invoice read again by the next poll, unchanged,
    # has the same one.
    shown: str = ""


@dataclass(frozen=True)
class ChangedFulfillment:
    fulfillment_id: str
    sales_order_id: str | None  # the order it was created from
    modified: str
    # A fingerprint of what Salesforce shows of the fulfilment (number, ship status, date, tracking
    # numbers) and of its modification time (a change of its lines modifies it).
    shown: str = ""


def _fingerprint(row: dict[str, Any], columns: Iterable[str]) -> str:
    text = "|".join(str(row.get(column, "")) for column in columns)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _shown_fingerprint(row: dict[str, Any]) -> str:
    return _fingerprint(row, (*SHOWN_INVOICE_COLUMNS, "modified"))


def _tracking_numbers(text: Any) -> list[str]:
    """NetSuite's trackingnumberlist (numbers separated by commas, spaces or <BR>) as a list."""
    if not text:
        return []
    return [n for n in re.split(r"(?:<br\s*/?>|[,;\s])+", str(text), flags=re.IGNORECASE) if n]


def _fulfillments(rows: list[dict[str, Any]]) -> list[Fulfillment]:
    """Fulfilments from their line rows (one row per line, ordered by fulfilment)."""
    found: dict[str, Fulfillment] = {}
    for row in rows:
        fulfillment_id = str(row["id"])
        fulfillment = found.get(fulfillment_id)
        if fulfillment is None:
            fulfillment = found[fulfillment_id] = Fulfillment(
                id=fulfillment_id,
                number=str(row.get("tranid") or fulfillment_id),
                status=ship_status(str(row.get("status") or "")),
                ship_date=row.get("shipdate") or None,
                tracking_numbers=_tracking_numbers(row.get("trackingnumberlist")),
            )
        # A fulfilment's lines move stock out: some accounts show their quantities negative.
        quantity = abs(_decimal(row.get("quantity")))
        if row.get("item") and quantity:
            item = str(row.get("itemid") or row["item"])
            fulfillment.lines.append(FulfillmentLine(item=item, quantity=quantity))
    return list(found.values())


def _credit(row: dict[str, Any]) -> CustomerCredit:
    limit = row.get("creditlimit")
    return CustomerCredit(
        customer_id=str(row["id"]),
        company_name=str(row.get("companyname") or ""),
        credit_hold_override=str(row.get("creditholdoverride") or "AUTO").upper(),
        credit_limit=Decimal(str(limit)) if limit not in (None, "") else None,
        balance=_decimal(row.get("balancesearch")),
        overdue_balance=_decimal(row.get("overduebalancesearch")),
        days_overdue=_int(row.get("daysoverduesearch")),
    )


def _changed_invoices(rows: list[dict[str, Any]]) -> list[ChangedInvoice]:
    return [
        ChangedInvoice(
            invoice_id=str(row["id"]),
            customer_id=str(row.get("entity") or ""),
            sales_order_id=str(row["createdfrom"]) if row.get("createdfrom") else None,
            modified=str(row.get("modified") or ""),
            shown=_shown_fingerprint(row),
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
        """The order's status, its invoices and its item fulfilments: the order and each invoice by the
        record API, the transactions created from the order in one SuiteQL query (invoice ids, and the
        fulfilments with their lines, so no fulfilment needs a read of its own)."""
        order = await self._client.get("salesOrder", sales_order_id)
        order_id = literal_id(sales_order_id)
        rows = await self._client.suiteql_rows(
            f"SELECT t.id, t.type, t.tranid, t.status, {SHIP_DATE}, t.trackingnumberlist, tl.item, "
            "i.itemid, tl.quantity FROM transaction t JOIN transactionline tl ON tl.transaction = t.id "
            "LEFT JOIN item i ON i.id = tl.item "
            f"WHERE (t.type = 'CustInvc' AND tl.createdfrom = {order_id}) "
            f"OR (t.type = 'ItemShip' AND t.createdfrom = {order_id} AND tl.mainline = 'F') "
            "ORDER BY t.id, tl.id"
        )
        invoice_ids = dict.fromkeys(str(row["id"]) for row in rows if row.get("type") == "CustInvc")
        invoices = [await self.invoice(invoice_id) for invoice_id in invoice_ids]
        return OrderBilling(
            sales_order_id=sales_order_id,
            sales_order_status=ref_name(order.get("status")) or "",
            invoices=invoices,
            fulfillments=_fulfillments([row for row in rows if row.get("type") == "ItemShip"]),
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
            f"SELECT DISTINCT t.id, t.entity, {MODIFIED}, tl.createdfrom, {_SHOWN} FROM transaction t "
            "JOIN transactionline tl ON tl.transaction = t.id "
            f"WHERE t.type = 'CustInvc' AND t.lastmodifieddate >= {suiteql_time(since)} "
            "ORDER BY t.lastmodifieddate, t.id"
        )
        return _changed_invoices(rows)

    async def fulfillments_changed_since(self, since: dt.datetime) -> list[ChangedFulfillment]:
        """Item fulfilments modified since ``since``, with the order each was created from."""
        rows = await self._client.suiteql_rows(
            f"SELECT t.id, {MODIFIED}, t.createdfrom, {_SHOWN_FULFILLMENT} FROM transaction t "
            f"WHERE t.type = 'ItemShip' AND t.lastmodifieddate >= {suiteql_time(since)} "
            "ORDER BY t.lastmodifieddate, t.id"
        )
        return [
            ChangedFulfillment(
                fulfillment_id=str(row["id"]),
                sales_order_id=str(row["createdfrom"]) if row.get("createdfrom") else None,
                modified=str(row.get("modified") or ""),
                shown=_fingerprint(row, (*SHOWN_FULFILLMENT_COLUMNS, "modified")),
            )
            for row in rows
        ]

    async def customers_changed_since(self, since: dt.datetime) -> list[tuple[str, str]]:
        """(customer id, modified) for customers changed since ``since``: credit fields among them."""
        rows = await self._client.suiteql_rows(
            "SELECT c.id, TO_CHAR(c.lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS modified FROM customer c "
            f"WHERE c.lastmodifieddate >= {suiteql_time(since)} ORDER BY c.lastmodifieddate, c.id"
        )
        return [(str(row["id"]), str(row.get("modified") or "")) for row in rows]

    async def first_orders_since(self, since: dt.datetime, *, after_id: str) -> list[tuple[FirstOrder, str]]:
        """Sales orders created since ``since``, with an id above ``after_id``, that are their customer's
        first: the customers that became customers since then (one query, whatever made the order: q2c or
        a person in NetSuite); each with its creation time (``YYYY-MM-DD HH:MM:SS``, NetSuite's clock)."""
        return await self._first_orders(
            f"t.createddate >= {suiteql_time(since)} AND t.id > {literal_id(after_id)} "
            "AND NOT EXISTS (SELECT 1 FROM transaction p "
            "WHERE p.type = 'SalesOrd' AND p.entity = t.entity AND p.id < t.id)"
        )

    async def newest_sales_order_id(self) -> str:
        """The id of the newest sales order ("0" when there is none): internal ids only grow, so every
        order made later has a higher one."""
        rows = await self._client.suiteql_rows(
            "SELECT MAX(t.id) AS newest FROM transaction t WHERE t.type = 'SalesOrd'"
        )
        return str(rows[0].get("newest") or "0") if rows else "0"

    async def first_order_of(self, customer_id: str) -> FirstOrder | None:
        """The customer's first sales order, if it has any."""
        found = await self._first_orders(
            f"t.entity = {literal_id(customer_id)} AND NOT EXISTS (SELECT 1 FROM transaction p "
            "WHERE p.type = 'SalesOrd' AND p.entity = t.entity AND p.id < t.id)"
        )
        return found[0][0] if found else None

    async def _first_orders(self, condition: str) -> list[tuple[FirstOrder, str]]:
        rows = await self._client.suiteql_rows(
            "SELECT t.id, t.tranid, t.entity, t.externalid, t.foreigntotal, "
            "TO_CHAR(t.createddate, 'YYYY-MM-DD HH24:MI:SS') AS created, cur.symbol, "
            "c.companyname, c.custentity_sf_account_id FROM transaction t "
            "JOIN customer c ON c.id = t.entity LEFT JOIN currency cur ON cur.id = t.currency "
            f"WHERE t.type = 'SalesOrd' AND {condition} ORDER BY t.id"
        )
        return [
            (
                FirstOrder(
                    customer_id=str(row["entity"]),
                    sales_order_id=str(row["id"]),
                    sales_order_number=row.get("tranid"),
                    # q2c's orders carry their opportunity's id as externalId; others may carry anything.
                    account_id=salesforce_id_or_none(row.get("custentity_sf_account_id"), "001"),
                    opportunity_id=salesforce_id_or_none(row.get("externalid"), "006"),
                    company_name=row.get("companyname"),
                    amount=Decimal(str(row["foreigntotal"])) if row.get("foreigntotal") else None,
                    currency=row.get("symbol") or None,
                    created_on=dt.date.fromisoformat(str(row["created"])[:10])
                    if row.get("created")
                    else None,
                ),
                str(row.get("created") or ""),
            )
            for row in rows
        ]

    async def customer_orders(self, customer_id: str) -> tuple[int, list[str]]:
        """How many sales orders the customer has, and the numbers of those not closed or cancelled."""
        rows = await self._client.suiteql_rows(
            f"SELECT t.id, t.tranid, t.status FROM transaction t WHERE t.type = 'SalesOrd' "
            f"AND t.entity = {literal_id(customer_id)} ORDER BY t.id"
        )
        open_orders = [
            str(r.get("tranid") or r["id"]) for r in rows if str(r.get("status")) not in CLOSED_ORDER
        ]
        return len(rows), open_orders

    async def newest_modification(self) -> dt.datetime | None:
        """NetSuite's time of its newest sales order, invoice, fulfilment or customer change: where a first
        poll starts (and, for onboarding, the moment q2c went live)."""
        newest = []
        for table, where in (
            ("transaction", "WHERE t.type IN ('SalesOrd', 'CustInvc', 'ItemShip')"),
            ("customer", ""),
        ):
            rows = await self._client.suiteql_rows(
                f"SELECT TO_CHAR(MAX(t.lastmodifieddate), 'YYYY-MM-DD HH24:MI:SS') AS modified "
                f"FROM {table} t {where}"
            )
            newest += [parse_netsuite_time(str(r["modified"])) for r in rows if r.get("modified")]
        return max(newest, default=None)

    async def overdue_invoices(self, progress: Progress | None = None) -> list[ChangedInvoice]:
        """Open invoices past their due date (time passing changes them without modifying them), with
        what Salesforce shows of each; paged by id, past SuiteQL's 100,000-row reach."""
        rows = await self._keyset(
            lambda after: (
                f"SELECT DISTINCT t.id, t.entity, {MODIFIED}, tl.createdfrom, {_SHOWN} "
                "FROM transaction t JOIN transactionline tl ON tl.transaction = t.id "
                "WHERE t.type = 'CustInvc' AND t.foreignamountremaining > 0 AND t.daysoverduesearch > 0 "
                f"AND t.id > {after} ORDER BY t.id"
            ),
            progress,
        )
        return _changed_invoices(rows)

    async def customers_possibly_on_hold(
        self, overdue_days: int, progress: Progress | None = None
    ) -> list[CustomerCredit]:
        """Every customer the credit rule (``q2c.domain.billing.credit_state``) may put on hold: override
        On, or (unless Off) an invoice overdue beyond ``overdue_days`` or the balance over the limit.
        One query for the whole account, paged by id: the rule itself is applied by the caller."""
        return [
            _credit(row)
            for row in await self._keyset(
                lambda after: (
                    f"SELECT {CREDIT_COLUMNS} FROM customer c WHERE c.id > {after} AND "
                    "(c.creditholdoverride = 'ON' OR (COALESCE(c.creditholdoverride, 'AUTO') <> 'OFF' AND "
                    f"(c.daysoverduesearch > {int(overdue_days)} OR c.balancesearch > c.creditlimit))) "
                    "ORDER BY c.id"
                ),
                progress,
            )
        ]

    async def customer_credits(self, customer_ids: Iterable[str]) -> list[CustomerCredit]:
        """The credit fields of these customers, a few hundred per query."""
        ids = sorted({literal_id(i) for i in customer_ids}, key=int)
        found: list[CustomerCredit] = []
        for start in range(0, len(ids), IN_LIST):
            rows = await self._client.suiteql_rows(
                f"SELECT {CREDIT_COLUMNS} FROM customer c WHERE c.id IN ({', '.join(ids[start : start + IN_LIST])}) "
                "ORDER BY c.id"
            )
            found += [_credit(row) for row in rows]
        return found

    async def _keyset(self, query: Callable[[int], str], progress: Progress | None) -> list[dict[str, Any]]:
        """Every row of ``query(after_id)`` (which must order by id), a page at a time: a growing lower
        bound rather than offsets, so no page re-counts the ones before and no row is out of reach."""
        rows: list[dict[str, Any]] = []
        after = 0
        while True:
            page = await self._client.suiteql(query(after), limit=PAGE)
            items = page.get("items") or []
            rows += items
            if progress is not None:
                progress(len(rows))
            if not items or not page.get("hasMore"):
                return rows
            after = int(items[-1]["id"])

    async def bill_sales_order(self, sales_order_id: str) -> str:
        """Invoice the whole sales order (NetSuite's transform); returns the new invoice's id."""
        response = await self._client.request(
            "POST",
            f"{RECORD_PATH}/salesOrder/{literal_id(sales_order_id)}/!transform/invoice",
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
