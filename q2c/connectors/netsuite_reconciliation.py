"""What NetSuite says behind a period's bookings, read by SuiteQL: sales orders and their lines, the
invoices billed from them, credit memos and payments against those invoices, the revenue recognised for
their lines (revenue plans), and the consolidated exchange rates of the period's months.

Every read is by a list of ids (chunked, so a query stays well inside SuiteQL's length limit) or by a
date range, and pages with limit/offset; nothing is read per record.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from q2c.connectors.netsuite import NetSuiteClient
from q2c.connectors.netsuite_billing import literal_id
from q2c.domain.reconciliation import Actual, CreditMemo, ExchangeRate, OrderedLine, Period, money
from q2c.domain.salesforce_ids import InvalidSalesforceId, normalize_salesforce_id

IN_CHUNK = 500  # ids per IN list
_SF_ID = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")
# transaction.status of a sales order (the letter SuiteQL returns) -> its name
ORDER_STATUS = {
    "A": "Pending Approval",
    "B": "Pending Fulfillment",
    "C": "Cancelled",
    "D": "Partially Fulfilled",
    "E": "Pending Billing/Partially Fulfilled",
    "F": "Pending Billing",
    "G": "Billed",
    "H": "Closed",
}


def _date(value: str) -> dt.date:
    return dt.date.fromisoformat(value[:10])


def _day(day: dt.date) -> str:
    return f"TO_DATE('{day.isoformat()}', 'YYYY-MM-DD')"


def _chunks(values: Sequence[str], size: int = IN_CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _ids(values: Iterable[str]) -> str:
    return ", ".join(literal_id(v) for v in values)


def _texts(values: Iterable[str]) -> str:
    out = []
    for v in values:
        if not _SF_ID.match(v):
            raise ValueError(f"{v!r} is not a Salesforce id")
        out.append(f"'{v}'")
    return ", ".join(out)


def _abs(value: Any) -> Decimal:
    """NetSuite signs amounts by their accounting side (a credit memo's total, a sales line's amount are
    negative in SuiteQL on a real account; the sandbox leaves them unsigned): magnitudes here."""
    return abs(money(value))


def opportunity_id_of(external_id: Any) -> str | None:
    """The opportunity a sales order's externalId names, in its 18-character form (q2c writes 18; a
    15-character id typed by hand is the same record); None when it is no opportunity id."""
    text = str(external_id or "")
    if not text.startswith("006"):
        return None
    try:
        return normalize_salesforce_id(text)
    except InvalidSalesforceId:
        return None


def order_ids_named(values: Iterable[str | None]) -> list[str]:
    """The NetSuite internal ids among what opportunities' NetSuite_Sales_Order_ID__c hold (a value typed
    by hand that is no internal id names nothing NetSuite can look up)."""
    return sorted({v for v in values if v and v.isdigit()}, key=int)


_ORDER_COLUMNS = (
    "t.id, t.tranid, t.externalid, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate, c.symbol AS currency, "
    "t.status, t.foreigntotal, cu.companyname AS customer "
    "FROM transaction t JOIN currency c ON c.id = t.currency LEFT JOIN customer cu ON cu.id = t.entity "
    "WHERE t.type = 'SalesOrd'"
)
# Item lines only: not the main line, not tax lines (booked amounts are before tax; NetSuite adds it).
_ITEM_LINES = "tl.mainline = 'F' AND tl.taxline = 'F'"


class NetSuiteActuals:
    def __init__(self, client: NetSuiteClient) -> None:
        self._client = client

    async def _rows(self, query: str) -> list[dict[str, Any]]:
        return await self._client.suiteql_rows(query)

    async def orders(
        self, period: Period, opportunity_ids: Sequence[str], order_ids: Sequence[str], as_of: dt.date
    ) -> dict[str, dict[str, Any]]:
        """Sales orders of the bookings (by externalId, and by the ids the opportunities name) and every
        sales order dated in the period, by id; none dated after ``as_of``."""
        rows: list[dict[str, Any]] = []
        until = f" AND t.trandate <= {_day(as_of)}"
        for chunk in _chunks(sorted(set(opportunity_ids))):
            rows += await self._rows(f"SELECT {_ORDER_COLUMNS} AND t.externalid IN ({_texts(chunk)}){until}")
        for chunk in _chunks(order_ids_named(order_ids)):
            rows += await self._rows(f"SELECT {_ORDER_COLUMNS} AND t.id IN ({_ids(chunk)}){until}")
        last = min(period.end, as_of)
        rows += await self._rows(
            f"SELECT {_ORDER_COLUMNS} AND t.trandate >= {_day(period.start)} AND t.trandate <= {_day(last)} "
            "ORDER BY t.id"
        )
        return {str(r["id"]): r for r in rows}

    async def _line_sums(self, ids: Sequence[str]) -> dict[str, Decimal]:
        """Each transaction's item lines added up (before tax)."""
        sums: dict[str, Decimal] = {}
        for chunk in _chunks(ids):
            for r in await self._rows(
                "SELECT tl.transaction, SUM(ABS(tl.foreignamount)) AS amount FROM transactionline tl "
                f"WHERE tl.transaction IN ({_ids(chunk)}) AND {_ITEM_LINES} GROUP BY tl.transaction"
            ):
                sums[str(r["transaction"])] = money(r.get("amount"))
        return sums

    async def actuals(self, orders: dict[str, dict[str, Any]], as_of: dt.date) -> list[Actual]:
        """Each order with its lines, billing, credits, payments and recognised revenue, as of ``as_of``
        (transactions dated later, and revenue of periods ending later, do not count yet).

        Amounts are before tax where NetSuite adds tax (order and invoice lines; credit memo lines);
        collected is the cash applied to the order's invoices. A credit memo counts once: for each
        invoice it is applied to, its own lines' amount in the share of its total applied there; one
        applied to nothing, to the invoice it was created from."""
        ids = sorted(orders, key=int)
        until = _day(as_of)
        lines: dict[str, list[OrderedLine]] = defaultdict(list)
        invoices: dict[str, list[dict[str, Any]]] = defaultdict(list)
        invoice_order: dict[str, str] = {}
        recognised: dict[str, Decimal] = {}
        for chunk in _chunks(ids):
            in_list = _ids(chunk)
            for r in await self._rows(
                "SELECT tl.transaction, tl.linesequencenumber, tl.item, i.itemid, tl.quantity, tl.rate, "
                "tl.foreignamount FROM transactionline tl LEFT JOIN item i ON i.id = tl.item "
                f"WHERE tl.transaction IN ({in_list}) AND {_ITEM_LINES} "
                "ORDER BY tl.transaction, tl.linesequencenumber"
            ):
                lines[str(r["transaction"])].append(
                    OrderedLine(
                        number=int(r["linesequencenumber"]),
                        item_id=str(r.get("item") or ""),
                        item=str(r.get("itemid") or r.get("item") or ""),
                        quantity=abs(Decimal(str(r.get("quantity") or 0))),
                        rate=_abs(r.get("rate")),
                        amount=_abs(r.get("foreignamount")),
                    )
                )
            for r in await self._rows(
                "SELECT t.id, t.createdfrom, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate FROM transaction t "
                f"WHERE t.type = 'CustInvc' AND t.createdfrom IN ({in_list}) AND t.trandate <= {until} "
                "ORDER BY t.id"
            ):
                invoices[str(r["createdfrom"])].append(r)
                invoice_order[str(r["id"])] = str(r["createdfrom"])
            for r in await self._rows(
                "SELECT e.sourcetransaction AS so, SUM(CASE WHEN pr.isrecognized = 'T' AND ap.enddate <= "
                f"{until} THEN ABS(pr.amount) ELSE 0 END) AS recognised "
                "FROM revenueplanplannedrevenue pr JOIN revenueplan p ON p.id = pr.revenueplan "
                "JOIN revenueelement e ON e.id = p.createdfrom "
                "LEFT JOIN accountingperiod ap ON ap.id = pr.plannedperiod "
                f"WHERE e.sourcetransaction IN ({in_list}) GROUP BY e.sourcetransaction"
            ):
                recognised[str(r["so"])] = money(r.get("recognised"))
        invoice_ids = sorted(invoice_order, key=int)
        billed_by_invoice = await self._line_sums(invoice_ids)
        collected: dict[str, Decimal] = defaultdict(Decimal)
        memo_applied: dict[str, dict[str, Decimal]] = defaultdict(
            lambda: defaultdict(Decimal)
        )  # memo -> order
        memo_from: dict[str, str] = {}  # memo -> the order of the invoice it was created from
        for chunk in _chunks(invoice_ids):
            in_list = _ids(chunk)
            for r in await self._rows(
                "SELECT l.previousdoc, l.nextdoc, l.nexttype, l.foreignamount FROM nexttransactionlinelink l "
                "JOIN transaction m ON m.id = l.nextdoc "
                f"WHERE l.previousdoc IN ({in_list}) AND l.nexttype IN ('CustPymt', 'CustCred') "
                f"AND m.trandate <= {until} ORDER BY l.nextdoc, l.previousdoc, l.nextline"
            ):
                order = invoice_order[str(r["previousdoc"])]
                if r["nexttype"] == "CustPymt":
                    collected[order] += _abs(r.get("foreignamount"))
                else:
                    memo_applied[str(r["nextdoc"])][order] += _abs(r.get("foreignamount"))
            for r in await self._rows(
                "SELECT t.id, t.createdfrom FROM transaction t WHERE t.type = 'CustCred' "
                f"AND t.createdfrom IN ({in_list}) AND t.trandate <= {until} ORDER BY t.id"
            ):
                memo_from[str(r["id"])] = invoice_order[str(r["createdfrom"])]
        memo_ids = sorted(set(memo_applied) | set(memo_from), key=int)
        memo_net = await self._line_sums(memo_ids)
        credits: dict[str, list[CreditMemo]] = defaultdict(list)
        for chunk in _chunks(memo_ids):
            for r in await self._rows(
                "SELECT t.id, t.tranid, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate, t.foreigntotal "
                f"FROM transaction t WHERE t.id IN ({_ids(chunk)}) ORDER BY t.id"
            ):
                memo = str(r["id"])
                net, gross = memo_net.get(memo, _abs(r.get("foreigntotal"))), _abs(r.get("foreigntotal"))
                applied = memo_applied.get(memo)
                shares = (
                    {order: net * amount / gross for order, amount in applied.items()}
                    if applied and gross
                    else {memo_from[memo]: net}
                    if memo in memo_from
                    else {}
                )
                for order, amount in shares.items():
                    credits[order].append(
                        CreditMemo(
                            tran_id=str(r.get("tranid") or memo),
                            date=_date(r["trandate"]),
                            amount=money(amount),
                        )
                    )
        out = []
        for so in ids:
            r = orders[so]
            billed = invoices.get(so, [])
            order_lines = lines.get(so, [])
            out.append(
                Actual(
                    sales_order_id=so,
                    tran_id=str(r.get("tranid") or so),
                    opportunity_id=opportunity_id_of(r.get("externalid")),
                    customer=r.get("customer"),
                    date=_date(r["trandate"]),
                    currency=str(r["currency"]),
                    status=ORDER_STATUS.get(str(r.get("status")), r.get("status")),
                    total=money(sum((line.amount for line in order_lines), Decimal(0)))
                    if order_lines
                    else _abs(r.get("foreigntotal")),
                    lines=order_lines,
                    billed=money(
                        sum((billed_by_invoice.get(str(i["id"]), Decimal(0)) for i in billed), Decimal(0))
                    ),
                    credits=credits.get(so, []),
                    collected=money(collected.get(so, Decimal(0))),
                    recognised=recognised.get(so),
                    first_invoice=min((_date(i["trandate"]) for i in billed), default=None),
                )
            )
        return out

    async def rates(self, period: Period, to_currency: str) -> list[ExchangeRate]:
        """The average consolidated rates into ``to_currency`` of the period's months (lowest id first
        where several subsidiaries' pairs give one currency a rate)."""
        if not re.fullmatch(r"[A-Z]{3}", to_currency):
            raise ValueError(f"{to_currency!r} is not a currency code")
        rows = await self._rows(
            "SELECT r.id, r.averagerate, fc.symbol AS fromsymbol, TO_CHAR(ap.startdate, 'YYYY-MM') AS month "
            "FROM consolidatedexchangerate r JOIN currency fc ON fc.id = r.fromcurrency "
            "JOIN currency tc ON tc.id = r.tocurrency JOIN accountingperiod ap ON ap.id = r.postingperiod "
            f"WHERE tc.symbol = '{to_currency}' AND ap.isposting = 'T' AND ap.startdate >= {_day(period.start)} "
            f"AND ap.enddate <= {_day(period.end)} ORDER BY r.id"
        )
        found: dict[tuple[str, str], ExchangeRate] = {}
        for r in rows:
            key = (str(r["fromsymbol"]), str(r["month"]))
            if key not in found and r.get("averagerate") is not None:
                found[key] = ExchangeRate(
                    currency=key[0],
                    to_currency=to_currency,
                    month=key[1],
                    rate=Decimal(str(r["averagerate"])),
                    netsuite_id=str(r["id"]),
                )
        return list(found.values())
