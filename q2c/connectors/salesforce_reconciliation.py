"""Salesforce's side of a reconciliation: the period's won opportunities with their lines (bookings),
its open pipeline by forecast category, the opportunities unexplained orders name, and the write-back
(each opportunity's status and variance fields, one ``Reconciliation__c`` per period).

Reads are SOQL queries that page by ``nextRecordsUrl`` (2,000 records a call), so a period of 5,000
opportunities costs a handful of calls; writes go through ``SalesforceBulk.write`` (a Bulk API 2.0 job at
or above its threshold, sObject Collections of 200 below).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from simple_salesforce import format_soql

from q2c.connectors.salesforce import SalesforceClient
from q2c.connectors.salesforce_bulk import SalesforceBulk, WriteOutcome
from q2c.domain.reconciliation import (
    REASON_TITLES,
    BookedLine,
    Booking,
    OpportunityState,
    Period,
    Reason,
    Row,
    Summary,
    money,
)

RECONCILIATION_OBJECT = "Reconciliation__c"
RECONCILIATION_KEY = "Period__c"
PERIOD_FIELD = "Reconciliation_Period__c"
REASONS_MAX = 4000
_ID_CHUNK = 200

BOOKINGS_SOQL = (
    "SELECT Id, Name, Amount, CurrencyIsoCode, CloseDate, Account.Name, NetSuite_Sales_Order_ID__c, "
    "(SELECT Id, Quantity, UnitPrice, TotalPrice, Product2.Name, Product2.NetSuite_Internal_ID__c "
    "FROM OpportunityLineItems ORDER BY Id) "
    "FROM Opportunity WHERE IsWon = true AND CloseDate >= {start} AND CloseDate <= {end} ORDER BY Id"
)
PIPELINE_SOQL = (
    "SELECT ForecastCategoryName, CurrencyIsoCode, Amount FROM Opportunity "
    "WHERE IsClosed = false AND CloseDate >= {start} AND CloseDate <= {end}"
)


def _lines(row: dict[str, Any]) -> list[BookedLine]:
    items = (row.get("OpportunityLineItems") or {}).get("records") or []
    out = []
    for number, item in enumerate(items, start=1):
        product = item.get("Product2") or {}
        quantity = Decimal(str(item.get("Quantity") or 0))
        unit = money(item.get("UnitPrice"))
        out.append(
            BookedLine(
                number=number,
                product=str(product.get("Name") or item.get("Id")),
                netsuite_item_id=product.get("NetSuite_Internal_ID__c"),
                quantity=quantity,
                unit_price=unit,
                amount=money(
                    item.get("TotalPrice") if item.get("TotalPrice") is not None else quantity * unit
                ),
            )
        )
    return out


def booking(row: dict[str, Any], default_currency: str) -> Booking:
    account = row.get("Account") or {}
    return Booking(
        opportunity_id=row["Id"],
        name=row.get("Name") or row["Id"],
        account=account.get("Name"),
        close_date=dt.date.fromisoformat(row["CloseDate"]),
        currency=row.get("CurrencyIsoCode") or default_currency,
        amount=money(row.get("Amount")),
        lines=_lines(row),
        sales_order_id=row.get("NetSuite_Sales_Order_ID__c"),
    )


def _state(r: dict[str, Any]) -> OpportunityState:
    return OpportunityState(
        opportunity_id=r["Id"],
        name=r.get("Name") or r["Id"],
        stage=r.get("StageName") or "",
        is_won=bool(r.get("IsWon")),
        close_date=dt.date.fromisoformat(r["CloseDate"]) if r.get("CloseDate") else None,
    )


def opportunity_fields(row: Row, period: str, run_at: dt.datetime) -> dict[str, Any]:
    """What an opportunity's reconciliation fields say after a run."""
    assert row.opportunity_id is not None
    reasons = row.reasons_text
    if len(reasons) > REASONS_MAX:
        reasons = reasons[: REASONS_MAX - 1] + "…"
    return {
        "Id": row.opportunity_id,
        "Reconciliation_Status__c": row.status.value,
        PERIOD_FIELD: period,
        "Reconciliation_Reasons__c": reasons or None,
        # An order in another currency than the deal: its amounts do not subtract from the deal's (the
        # reasons say what each is), and the opportunity's currency fields would misstate them.
        "Order_Variance__c": None if row.order_currency else float(row.order_variance),
        "Billing_Variance__c": None if row.order_currency else float(row.billing_variance),
        "Recognized_Revenue__c": None
        if row.recognised is None or row.order_currency
        else float(row.recognised),
        "Reconciled_At__c": run_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
    }


def reconciliation_fields(summary: Summary, report_url: str, run_at: dt.datetime) -> dict[str, Any]:
    t = summary.total
    by_reason = "\n".join(
        f"{summary.by_reason.get(r.value, 0)} {r.value} ({REASON_TITLES[r]})" for r in Reason
    )
    rates = "\n".join(
        f"{rate.currency}->{rate.to_currency} {rate.month}: {rate.rate.normalize():f} ({rate.source})"
        for c in summary.by_currency
        for rate in c.rates
        if rate.netsuite_id is not None
    )
    return {
        "Name": f"Bookings vs billings {summary.period}",
        "Period_Start__c": summary.start.isoformat(),
        "Period_End__c": summary.end.isoformat(),
        "As_Of__c": summary.as_of.isoformat(),
        "Reporting_Currency__c": summary.reporting_currency,
        "Booked__c": float(t.booked),
        "Ordered__c": float(t.ordered),
        "Billed__c": float(t.billed),
        "Credited__c": float(t.credited),
        "Collected__c": float(t.collected),
        "Recognized__c": float(t.recognised),
        "Opportunities__c": summary.opportunities,
        "Exceptions__c": summary.exceptions,
        "Exceptions_By_Reason__c": by_reason,
        "Exchange_Rates__c": rates or None,
        "Report_URL__c": report_url[:255],
        "Status__c": "Exceptions" if summary.exceptions else "Clean",
        "Run_At__c": run_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000"),
    }


class SalesforceBookings:
    def __init__(self, client: SalesforceClient) -> None:
        self._client = client
        self._bulk = SalesforceBulk(client)

    def bookings(self, period: Period, default_currency: str) -> list[Booking]:
        soql = BOOKINGS_SOQL.format(start=period.start.isoformat(), end=period.end.isoformat())
        rows = self._client.query_all(soql)
        for row in rows:
            self._all_lines(row)
        return [booking(r, default_currency) for r in rows]

    def _all_lines(self, row: dict[str, Any]) -> None:
        """A real org returns a child relationship's first batch (about 200 records) with the parent and a
        nextRecordsUrl for the rest: fetch it, so no deal's lines are cut short."""
        lines = row.get("OpportunityLineItems")
        while isinstance(lines, dict) and not lines.get("done", True) and lines.get("nextRecordsUrl"):
            url = str(lines["nextRecordsUrl"])

            def more_of(sf: Any, url: str = url) -> dict[str, Any]:
                return dict(sf.query_more(url, identifier_is_url=True))

            more = self._client.call("query of opportunity lines", more_of)
            lines["records"] = [*(lines.get("records") or []), *(more.get("records") or [])]
            lines["done"], lines["nextRecordsUrl"] = more.get("done", True), more.get("nextRecordsUrl")

    def open_pipeline(self, period: Period) -> list[tuple[str | None, str, Decimal | None]]:
        soql = PIPELINE_SOQL.format(start=period.start.isoformat(), end=period.end.isoformat())
        return [
            (
                r.get("ForecastCategoryName"),
                r.get("CurrencyIsoCode") or "USD",
                money(r["Amount"]) if r.get("Amount") is not None else None,
            )
            for r in self._client.query_all(soql)
        ]

    def opportunity_states(self, ids: Sequence[str]) -> dict[str, OpportunityState | None]:
        found: dict[str, OpportunityState | None] = {i: None for i in ids}
        by_prefix = {i[:15]: i for i in ids}
        for start in range(0, len(ids), _ID_CHUNK):
            chunk = list(ids[start : start + _ID_CHUNK])
            soql = format_soql(
                "SELECT Id, Name, StageName, IsWon, CloseDate FROM Opportunity WHERE Id IN {}", chunk
            )
            for r in self._client.query_all(soql):
                found[by_prefix.get(str(r["Id"])[:15], r["Id"])] = _state(r)
        return found

    def opportunities_naming(self, order_ids: Sequence[str]) -> dict[str, OpportunityState | None]:
        """For NetSuite orders that name no opportunity: the opportunity whose NetSuite_Sales_Order_ID__c
        names each (None: none does)."""
        found: dict[str, OpportunityState | None] = {i: None for i in order_ids}
        for start in range(0, len(order_ids), _ID_CHUNK):
            chunk = list(order_ids[start : start + _ID_CHUNK])
            soql = format_soql(
                "SELECT Id, Name, StageName, IsWon, CloseDate, NetSuite_Sales_Order_ID__c FROM Opportunity "
                "WHERE NetSuite_Sales_Order_ID__c IN {}",
                chunk,
            )
            for r in self._client.query_all(soql):
                found[str(r["NetSuite_Sales_Order_ID__c"])] = _state(r)
        return found

    def marked(self, period: str) -> list[str]:
        """Opportunities an earlier run of the period marked."""
        soql = format_soql(f"SELECT Id FROM Opportunity WHERE {PERIOD_FIELD} = {{}}", period)
        return [r["Id"] for r in self._client.query_all(soql)]

    def write_opportunities(
        self, records: list[dict[str, Any]], *, threshold: int, poll_seconds: float
    ) -> list[WriteOutcome]:
        return self._bulk.write(
            "Opportunity", "update", records, key_field="Id", threshold=threshold, poll_seconds=poll_seconds
        )

    def upsert_reconciliation(self, period: str, fields: dict[str, Any]) -> str:
        self._client.upsert(RECONCILIATION_OBJECT, RECONCILIATION_KEY, period, fields)
        soql = format_soql(
            f"SELECT Id FROM {RECONCILIATION_OBJECT} WHERE {RECONCILIATION_KEY} = {{}}", period
        )
        rows = self._client.query_all(soql)
        return str(rows[0]["Id"]) if rows else ""
