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


_ORDER_COLUMNS = (
    "t.id, t.tranid, t.externalid, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate, c.symbol AS currency, "
    "t.status, t.foreigntotal, cu.companyname AS customer "
    "FROM transaction t JOIN currency c ON c.id = t.currency LEFT JOIN customer cu ON cu.id = t.entity "
    "WHERE t.type = 'SalesOrd'"
)


class NetSuiteActuals:
    def __init__(self, client: NetSuiteClient) -> None:
        self._client = client

    async def _rows(self, query: str) -> list[dict[str, Any]]:
        return await self._client.suiteql_rows(query)

    async def orders(
        self, period: Period, opportunity_ids: Sequence[str], order_ids: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Sales orders of the bookings (by externalId, and by the ids the opportunities name) and every
        sales order dated in the period, by id."""
        rows: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(set(opportunity_ids))):
            rows += await self._rows(f"SELECT {_ORDER_COLUMNS} AND t.externalid IN ({_texts(chunk)})")
        for chunk in _chunks(sorted(set(order_ids))):
            rows += await self._rows(f"SELECT {_ORDER_COLUMNS} AND t.id IN ({_ids(chunk)})")
        rows += await self._rows(
            f"SELECT {_ORDER_COLUMNS} AND t.trandate >= {_day(period.start)} AND t.trandate <= {_day(period.end)} "
            "ORDER BY t.id"
        )
        return {str(r["id"]): r for r in rows}

    async def actuals(self, orders: dict[str, dict[str, Any]]) -> list[Actual]:
        """Each order with its lines, billing, credits, payments and recognised revenue."""
        ids = sorted(orders, key=int)
        lines: dict[str, list[OrderedLine]] = defaultdict(list)
        invoices: dict[str, list[dict[str, Any]]] = defaultdict(list)
        invoice_order: dict[str, str] = {}
        recognised: dict[str, Decimal] = {}
        for chunk in _chunks(ids):
            in_list = _ids(chunk)
            for r in await self._rows(
                "SELECT tl.transaction, tl.linesequencenumber, tl.item, i.itemid, tl.quantity, tl.rate, "
                "tl.foreignamount FROM transactionline tl LEFT JOIN item i ON i.id = tl.item "
                f"WHERE tl.transaction IN ({in_list}) AND tl.mainline = 'F' "
                "ORDER BY tl.transaction, tl.linesequencenumber"
            ):
                lines[str(r["transaction"])].append(
                    OrderedLine(
                        number=int(r["linesequencenumber"]),
                        item_id=str(r.get("item") or ""),
                        item=str(r.get("itemid") or r.get("item") or ""),
                        quantity=Decimal(str(r.get("quantity") or 0)),
                        rate=money(r.get("rate")),
                        amount=money(r.get("foreignamount")),
                    )
                )
            for r in await self._rows(
                "SELECT t.id, t.createdfrom, t.foreigntotal, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate "
                f"FROM transaction t WHERE t.type = 'CustInvc' AND t.createdfrom IN ({in_list}) ORDER BY t.id"
            ):
                invoices[str(r["createdfrom"])].append(r)
                invoice_order[str(r["id"])] = str(r["createdfrom"])
            for r in await self._rows(
                "SELECT e.sourcetransaction AS so, "
                "SUM(CASE WHEN pr.isrecognized = 'T' THEN pr.amount ELSE 0 END) AS recognised "
                "FROM revenueplanplannedrevenue pr JOIN revenueplan p ON p.id = pr.revenueplan "
                "JOIN revenueelement e ON e.id = p.createdfrom "
                f"WHERE e.sourcetransaction IN ({in_list}) GROUP BY e.sourcetransaction"
            ):
                recognised[str(r["so"])] = money(r.get("recognised"))
        credits: dict[str, list[CreditMemo]] = defaultdict(list)
        collected: dict[str, Decimal] = defaultdict(Decimal)
        seen_memos: set[tuple[str, str]] = set()
        invoice_ids = sorted(invoice_order, key=int)
        for chunk in _chunks(invoice_ids):
            in_list = _ids(chunk)
            # Credit memos made from the invoices (their whole amount, applied or not) ...
            for r in await self._rows(
                "SELECT t.id, t.tranid, t.createdfrom, t.foreigntotal, TO_CHAR(t.trandate, 'YYYY-MM-DD') AS trandate "
                f"FROM transaction t WHERE t.type = 'CustCred' AND t.createdfrom IN ({in_list}) ORDER BY t.id"
            ):
                order = invoice_order[str(r["createdfrom"])]
                seen_memos.add((str(r["id"]), order))
                credits[order].append(
                    CreditMemo(
                        tran_id=str(r["tranid"]), date=_date(r["trandate"]), amount=money(r["foreigntotal"])
                    )
                )
            # ... and payments and other credit memos applied to them (the amount applied).
            for r in await self._rows(
                "SELECT l.previousdoc, l.nextdoc, l.nexttype, l.foreignamount, m.tranid, "
                "TO_CHAR(m.trandate, 'YYYY-MM-DD') AS trandate FROM nexttransactionlinelink l "
                "JOIN transaction m ON m.id = l.nextdoc "
                f"WHERE l.previousdoc IN ({in_list}) AND l.nexttype IN ('CustPymt', 'CustCred') "
                "ORDER BY l.nextdoc"
            ):
                order = invoice_order[str(r["previousdoc"])]
                if r["nexttype"] == "CustPymt":
                    collected[order] += money(r.get("foreignamount"))
                elif (str(r["nextdoc"]), order) not in seen_memos:
                    seen_memos.add((str(r["nextdoc"]), order))
                    credits[order].append(
                        CreditMemo(
                            tran_id=str(r["tranid"]),
                            date=_date(r["trandate"]),
                            amount=money(r["foreignamount"]),
                        )
                    )
        out = []
        for so in ids:
            r = orders[so]
            billed = invoices.get(so, [])
            out.append(
                Actual(
                    sales_order_id=so,
                    tran_id=str(r.get("tranid") or so),
                    opportunity_id=r.get("externalid")
                    if _SF_ID.match(str(r.get("externalid") or ""))
                    else None,
                    customer=r.get("customer"),
                    date=_date(r["trandate"]),
                    currency=str(r["currency"]),
                    status=ORDER_STATUS.get(str(r.get("status")), r.get("status")),
                    total=money(r.get("foreigntotal")),
                    lines=lines.get(so, []),
                    billed=money(sum((money(i["foreigntotal"]) for i in billed), Decimal(0))),
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
