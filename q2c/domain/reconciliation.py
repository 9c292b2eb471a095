"""Bookings versus billings: what finance signs off per opportunity and per period.

Pure rules over what the two systems say: the won opportunities of a period (Salesforce's bookings) and
the sales orders, invoices, credit memos, payments and recognised revenue behind them (NetSuite's
actuals). ``reconcile`` pairs them and gives each difference a reason code a person understands;
``summarise`` adds them up per currency and, with NetSuite's consolidated exchange rates, in the reporting
currency. No I/O here: the activities read and write, the workflow orders the steps, tests check the rules
without any server.

Amounts are ``Decimal`` in the record's own currency, compared to the cent.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from pydantic import BaseModel, Field

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
DEFAULT_UNBILLED_AFTER_DAYS = 30

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def money(value: Decimal | int | str | float | None) -> Decimal:
    return Decimal(str(value if value is not None else 0)).quantize(CENT, rounding=ROUND_HALF_UP)


def differs(a: Decimal, b: Decimal) -> bool:
    return abs(a - b) >= CENT / 2


# -- periods ---------------------------------------------------------------------------------------


class Month(BaseModel):
    year: int
    month: int

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def netsuite_name(self) -> str:
        """NetSuite's accounting period name, e.g. ``Nov 2026``."""
        return f"{_MONTH_NAMES[self.month - 1]} {self.year}"

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def end(self) -> dt.date:
        following = dt.date(self.year + self.month // 12, self.month % 12 + 1, 1)
        return following - dt.timedelta(days=1)


class Period(BaseModel):
    """A month (``2026-11``) or a quarter (``2026-Q4``)."""

    label: str
    months: list[Month]

    @classmethod
    def parse(cls, text: str) -> Period:
        value = text.strip().upper()
        if match := _MONTH.match(value):
            year, month = int(match[1]), int(match[2])
            return cls(label=value, months=[Month(year=year, month=month)])
        if match := _QUARTER.match(value):
            year, quarter = int(match[1]), int(match[2])
            months = [Month(year=year, month=3 * (quarter - 1) + i) for i in (1, 2, 3)]
            return cls(label=value, months=months)
        raise ValueError(
            f"period {text!r} is neither a month (YYYY-MM, e.g. 2026-11) nor a quarter (YYYY-Qn, e.g. 2026-Q4)"
        )

    @property
    def start(self) -> dt.date:
        return self.months[0].start

    @property
    def end(self) -> dt.date:
        return self.months[-1].end

    @property
    def is_quarter(self) -> bool:
        return len(self.months) == 3

    def month_of(self, day: dt.date) -> str:
        return f"{day.year:04d}-{day.month:02d}"


def month_ended_before(today: dt.date) -> Period:
    """The month that ended most recently before ``today`` (what the month-end schedule reconciles)."""
    last = today.replace(day=1) - dt.timedelta(days=1)
    return Period.parse(f"{last.year:04d}-{last.month:02d}")


def periods_ended_before(today: dt.date) -> list[Period]:
    """The month that just ended and, when it closed a quarter, that quarter too."""
    month = month_ended_before(today)
    periods = [month]
    only = month.months[0]
    if only.month % 3 == 0:
        periods.append(Period.parse(f"{only.year:04d}-Q{only.month // 3}"))
    return periods


def month_end_periods(today: dt.date) -> list[Period]:
    """What the month-end run reconciles, in order: the month before last again (a month on, its deals'
    ages pass the usual unbilled window, so what was not billed shows), then the month just ended and
    its quarter when it closed one."""
    just_ended = month_ended_before(today)
    return [month_ended_before(just_ended.start), *periods_ended_before(today)]


# -- what the two systems say ----------------------------------------------------------------------


class BookedLine(BaseModel):
    number: int  # the opportunity's line number, from 1, in Salesforce's order
    product: str  # the product's name
    netsuite_item_id: str | None
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal


class Booking(BaseModel):
    """A won opportunity, as Salesforce says."""

    opportunity_id: str
    name: str
    account: str | None
    close_date: dt.date
    currency: str
    amount: Decimal
    lines: list[BookedLine] = []
    sales_order_id: str | None = None  # Opportunity.NetSuite_Sales_Order_ID__c


class OrderedLine(BaseModel):
    number: int
    item_id: str
    item: str
    quantity: Decimal
    rate: Decimal
    amount: Decimal


class CreditMemo(BaseModel):
    tran_id: str
    date: dt.date
    amount: Decimal


class Actual(BaseModel):
    """A NetSuite sales order and what was billed, credited, collected and recognised behind it."""

    sales_order_id: str
    tran_id: str
    opportunity_id: str | None  # the order's externalId (or custbody_sf_opportunity_id)
    customer: str | None
    date: dt.date
    currency: str
    status: str | None
    total: Decimal
    lines: list[OrderedLine] = []
    billed: Decimal = ZERO  # invoices' totals
    credits: list[CreditMemo] = []  # credit memos against those invoices
    collected: Decimal = ZERO  # payments applied to those invoices
    recognised: Decimal | None = None  # revenue NetSuite has recognised for its lines (None: no plans)
    first_invoice: dt.date | None = None

    @property
    def credited(self) -> Decimal:
        return money(sum((c.amount for c in self.credits), ZERO))

    @property
    def net_billed(self) -> Decimal:
        return money(self.billed - self.credited)


class OpportunityState(BaseModel):
    """An opportunity a sales order names that is not among the period's bookings."""

    opportunity_id: str
    name: str
    stage: str
    is_won: bool
    close_date: dt.date | None


class PipelineBucket(BaseModel):
    """Open opportunities closing in the period, by forecast category and currency."""

    forecast_category: str
    currency: str
    count: int
    amount: Decimal


class ExchangeRate(BaseModel):
    """A NetSuite consolidated exchange rate (average rate of a posting period)."""

    currency: str
    to_currency: str
    month: str  # YYYY-MM
    rate: Decimal
    netsuite_id: str | None = None  # None: the reporting currency itself (rate 1)

    @property
    def source(self) -> str:
        if self.netsuite_id is None:
            return "reporting currency"
        return f"consolidated exchange rate {self.netsuite_id} (average)"


# -- results ---------------------------------------------------------------------------------------


class Reason(StrEnum):
    WON_NO_ORDER = "won_no_order"
    ORDER_WITHOUT_OPPORTUNITY = "order_without_opportunity"
    AMOUNT_DIFFERS = "amount_differs"
    CURRENCY_DIFFERS = "currency_differs"
    BILLED_MORE_THAN_BOOKED = "billed_more_than_booked"
    UNBILLED = "unbilled"
    CREDITED_AFTER_BILLING = "credited_after_billing"


REASON_TITLES: dict[Reason, str] = {
    Reason.WON_NO_ORDER: "Won, but no sales order",
    Reason.ORDER_WITHOUT_OPPORTUNITY: "Sales order without a won opportunity",
    Reason.AMOUNT_DIFFERS: "Order amount differs from the booking",
    Reason.CURRENCY_DIFFERS: "Order currency differs from the booking",
    Reason.BILLED_MORE_THAN_BOOKED: "Billed more than booked",
    Reason.UNBILLED: "Booked but not (fully) billed",
    Reason.CREDITED_AFTER_BILLING: "Credited after billing",
}


class Finding(BaseModel):
    reason: Reason
    detail: str  # names the record and, for amounts, the line
    amount: Decimal  # the difference, in the row's currency


class RowStatus(StrEnum):
    RECONCILED = "Reconciled"
    EXCEPTION = "Exception"


class Row(BaseModel):
    """One opportunity (or one order without a won opportunity) of the period."""

    opportunity_id: str | None
    name: str
    account: str | None
    close_date: dt.date  # the opportunity's close date, or the order's date
    currency: str
    booked: Decimal = ZERO
    sales_order_id: str | None = None
    sales_order: str | None = None  # tran id
    ordered: Decimal = ZERO
    billed: Decimal = ZERO  # net of credit memos
    credited: Decimal = ZERO
    collected: Decimal = ZERO
    recognised: Decimal | None = None
    findings: list[Finding] = []
    # The order's currency where it is not the booking's (currency_differs): the order side's amounts
    # (ordered, billed, credited, collected, recognised) are in it, and are totalled under it.
    order_currency: str | None = None

    @property
    def actuals_currency(self) -> str:
        return self.order_currency or self.currency

    @property
    def status(self) -> RowStatus:
        return RowStatus.EXCEPTION if self.findings else RowStatus.RECONCILED

    @property
    def order_variance(self) -> Decimal:
        return money(self.ordered - self.booked)

    @property
    def billing_variance(self) -> Decimal:
        return money(self.billed - self.booked)

    @property
    def key(self) -> str:
        return self.opportunity_id or f"so:{self.sales_order_id}"

    @property
    def reasons_text(self) -> str:
        return "; ".join(f"{f.reason.value}: {f.detail}" for f in self.findings)


def _fmt(value: Decimal) -> str:
    return f"{value:,.2f}"


def _line_differences(booking: Booking, actual: Actual) -> list[str]:
    """Booked and ordered lines per NetSuite item: each item whose quantity or amount differs."""
    booked: dict[str, list[BookedLine]] = defaultdict(list)
    unmapped: list[BookedLine] = []
    for line in booking.lines:
        if line.netsuite_item_id:
            booked[line.netsuite_item_id].append(line)
        else:
            unmapped.append(line)
    ordered: dict[str, list[OrderedLine]] = defaultdict(list)
    for ordered_line in actual.lines:
        ordered[ordered_line.item_id].append(ordered_line)
    out: list[str] = []
    for line in unmapped:
        out.append(
            f"opportunity line {line.number} ({line.product}) has no NetSuite item: booked "
            f"{line.quantity.normalize():f} x {_fmt(line.unit_price)} = {_fmt(line.amount)}"
        )
    for item in sorted(booked.keys() | ordered.keys(), key=lambda i: (len(i), i)):
        b, o = booked.get(item, []), ordered.get(item, [])
        b_qty, o_qty = sum((x.quantity for x in b), Decimal(0)), sum((x.quantity for x in o), Decimal(0))
        b_amt = money(sum((x.amount for x in b), ZERO))
        o_amt = money(sum((x.amount for x in o), ZERO))
        if not differs(b_amt, o_amt) and b_qty == o_qty:
            continue
        name = b[0].product if b else o[0].item
        where = f"opportunity line {', '.join(str(x.number) for x in b)}" if b else "not on the opportunity"
        order_where = f"order line {', '.join(str(x.number) for x in o)}" if o else "not on the order"
        out.append(
            f"{name} (item {item}; {where}; {order_where}): booked {b_qty.normalize():f} = {_fmt(b_amt)}, "
            f"ordered {o_qty.normalize():f} = {_fmt(o_amt)}"
        )
    return out


def _booking_findings(
    booking: Booking, actual: Actual | None, as_of: dt.date, unbilled_days: int
) -> list[Finding]:
    if actual is None:
        where = (
            f" (it names sales order {booking.sales_order_id}, which NetSuite does not have)"
            if (booking.sales_order_id)
            else ""
        )
        return [
            Finding(
                reason=Reason.WON_NO_ORDER,
                detail=f"{booking.name} was won on {booking.close_date.isoformat()} for "
                f"{booking.currency} {_fmt(booking.amount)} and has no sales order{where}",
                amount=money(-booking.amount),
            )
        ]
    findings: list[Finding] = []
    if actual.currency != booking.currency:
        findings.append(
            Finding(
                reason=Reason.CURRENCY_DIFFERS,
                detail=f"{booking.name} was booked in {booking.currency} ({_fmt(booking.amount)}), sales order "
                f"{actual.tran_id} is in {actual.currency} ({_fmt(actual.total)})",
                amount=ZERO,
            )
        )
        # Amounts in two currencies do not compare; the currency is the one finding.
        return findings
    if differs(actual.total, booking.amount):
        lines = _line_differences(booking, actual)
        detail = (
            "; ".join(lines)
            if lines
            else f"the opportunity's amount {_fmt(booking.amount)} is not the order total {_fmt(actual.total)}"
        )
        findings.append(
            Finding(
                reason=Reason.AMOUNT_DIFFERS,
                detail=f"sales order {actual.tran_id}: {detail}",
                amount=money(actual.total - booking.amount),
            )
        )
    if differs(actual.net_billed, booking.amount) and actual.net_billed > booking.amount:
        findings.append(
            Finding(
                reason=Reason.BILLED_MORE_THAN_BOOKED,
                detail=f"sales order {actual.tran_id} billed {_fmt(actual.net_billed)} net of credits against "
                f"{_fmt(booking.amount)} booked",
                amount=money(actual.net_billed - booking.amount),
            )
        )
    # Unbilled: the order (what can be billed; a different booking is the amount finding) not fully
    # invoiced this long after the deal was won. Credit memos do not count here: they have their own.
    age = (as_of - booking.close_date).days
    billable = min(booking.amount, actual.total)
    if age > unbilled_days and actual.billed < billable and differs(actual.billed, billable):
        findings.append(
            Finding(
                reason=Reason.UNBILLED,
                detail=f"{booking.name} was won {age} days before {as_of.isoformat()} (more than "
                f"{unbilled_days}); sales order {actual.tran_id} billed {_fmt(actual.billed)} of "
                f"{_fmt(billable)}",
                amount=money(actual.billed - billable),
            )
        )
    if actual.credits:
        memos = ", ".join(f"{c.tran_id} {_fmt(c.amount)} on {c.date.isoformat()}" for c in actual.credits)
        findings.append(
            Finding(
                reason=Reason.CREDITED_AFTER_BILLING,
                detail=f"sales order {actual.tran_id}'s invoices were credited: {memos}",
                amount=money(-actual.credited),
            )
        )
    return findings


def reconcile(
    bookings: Iterable[Booking],
    actuals: Iterable[Actual],
    period: Period,
    *,
    as_of: dt.date,
    referenced: dict[str, OpportunityState | None] | None = None,
    naming_orders: dict[str, OpportunityState] | None = None,
    unbilled_after_days: int = DEFAULT_UNBILLED_AFTER_DAYS,
) -> list[Row]:
    """One row per booking and per order of the period that no won opportunity of any period explains.

    ``actuals`` are the orders of the period's bookings and the orders dated in the period;
    ``referenced`` says, for each opportunity id such an order names that is not a booking, what
    Salesforce has (None: no such opportunity). An order of an opportunity won in another period belongs
    to that period's reconciliation and is not a row here. ``naming_orders``: for orders with no
    opportunity id, the opportunity whose NetSuite_Sales_Order_ID__c names the order, where one does.
    A cancelled order is no order.
    """
    referenced = referenced or {}
    naming_orders = naming_orders or {}
    by_opportunity: dict[str, Actual] = {}
    by_id: dict[str, Actual] = {}
    for a in actuals:
        if a.status == "Cancelled":
            continue
        by_id[a.sales_order_id] = a
        if a.opportunity_id:
            # Two orders naming one opportunity: the first by id is the order, the other one is unexplained.
            by_opportunity.setdefault(a.opportunity_id, a)
    rows: list[Row] = []
    used: set[str] = set()
    for b in sorted(bookings, key=lambda b: (b.close_date, b.opportunity_id)):
        actual = by_opportunity.get(b.opportunity_id)
        if actual is not None and actual.sales_order_id in used:
            actual = None
        if actual is None and b.sales_order_id:
            # The order the opportunity names: only when no other booking's and naming no other opportunity.
            named = by_id.get(b.sales_order_id)
            if (
                named is not None
                and named.sales_order_id not in used
                and named.opportunity_id in (None, b.opportunity_id)
            ):
                actual = named
        if actual is not None:
            used.add(actual.sales_order_id)
        rows.append(
            Row(
                opportunity_id=b.opportunity_id,
                name=b.name,
                account=b.account,
                close_date=b.close_date,
                currency=b.currency,
                booked=money(b.amount),
                sales_order_id=actual.sales_order_id if actual else None,
                sales_order=actual.tran_id if actual else None,
                ordered=money(actual.total) if actual else ZERO,
                billed=actual.net_billed if actual else ZERO,
                credited=actual.credited if actual else ZERO,
                collected=money(actual.collected) if actual else ZERO,
                recognised=money(actual.recognised) if actual and actual.recognised is not None else None,
                findings=_booking_findings(b, actual, as_of, unbilled_after_days),
                order_currency=actual.currency if actual and actual.currency != b.currency else None,
            )
        )
    for a in sorted(
        by_id.values(), key=lambda a: (a.date, int(a.sales_order_id) if a.sales_order_id.isdigit() else 0)
    ):
        if a.sales_order_id in used or not (period.start <= a.date <= period.end):
            continue
        state = referenced.get(a.opportunity_id) if a.opportunity_id else naming_orders.get(a.sales_order_id)
        if state is not None and state.is_won:
            continue  # won in another period: reconciled there
        if not a.opportunity_id and state is not None:
            why = f"is named by opportunity {state.opportunity_id} ({state.name}), which is {state.stage}, not won"
        elif not a.opportunity_id:
            why = "names no opportunity"
        elif a.opportunity_id in referenced and state is None:
            why = f"names opportunity {a.opportunity_id}, which Salesforce does not have"
        elif state is not None:
            why = f"names opportunity {a.opportunity_id} ({state.name}), which is {state.stage}, not won"
        else:
            why = f"names opportunity {a.opportunity_id}, which was not looked up"
        rows.append(
            Row(
                opportunity_id=None,
                name=f"Sales order {a.tran_id}",
                account=a.customer,
                close_date=a.date,
                currency=a.currency,
                sales_order_id=a.sales_order_id,
                sales_order=a.tran_id,
                ordered=money(a.total),
                billed=a.net_billed,
                credited=a.credited,
                collected=money(a.collected),
                recognised=money(a.recognised) if a.recognised is not None else None,
                findings=[
                    Finding(
                        reason=Reason.ORDER_WITHOUT_OPPORTUNITY,
                        detail=f"sales order {a.tran_id} of {a.date.isoformat()} for {a.currency} "
                        f"{_fmt(a.total)} {why}",
                        amount=money(a.total),
                    )
                ],
            )
        )
    return rows


# -- totals ----------------------------------------------------------------------------------------

MEASURES = ("booked", "ordered", "billed", "credited", "collected", "recognised")
ACTUALS = MEASURES[1:]  # the order side's: in the order's currency


class Totals(BaseModel):
    booked: Decimal = ZERO
    ordered: Decimal = ZERO
    billed: Decimal = ZERO
    credited: Decimal = ZERO
    collected: Decimal = ZERO
    recognised: Decimal = ZERO

    def add(self, row: Row, factor: Decimal = Decimal(1), measures: tuple[str, ...] = MEASURES) -> None:
        for measure in measures:
            value = getattr(row, measure)
            if value is not None:
                setattr(self, measure, getattr(self, measure) + value * factor)

    def rounded(self) -> Totals:
        return Totals(**{m: money(getattr(self, m)) for m in MEASURES})


class CurrencyTotals(BaseModel):
    currency: str
    opportunities: int
    totals: Totals
    in_reporting: Totals  # converted, each row at its month's rate
    rates: list[ExchangeRate]  # the rates used, by month


class MonthTotals(BaseModel):
    month: str
    currency: str
    booked: Decimal
    billed: Decimal


class Summary(BaseModel):
    period: str
    start: dt.date
    end: dt.date
    as_of: dt.date
    reporting_currency: str
    unbilled_after_days: int
    opportunities: int
    orders_without_opportunity: int
    by_currency: list[CurrencyTotals]
    total: Totals  # in the reporting currency
    exceptions: int
    by_reason: dict[str, int] = Field(default_factory=dict)  # every reason, 0 where none
    by_month: list[MonthTotals] = []
    pipeline: list[PipelineBucket] = []


class MissingRates(Exception):
    """Amounts in a currency NetSuite has no consolidated rate for in a month of the period."""

    def __init__(self, missing: list[tuple[str, str]], reporting_currency: str) -> None:
        self.missing = missing
        pairs = ", ".join(f"{c} -> {reporting_currency} in {m}" for c, m in missing)
        super().__init__(
            f"NetSuite has no consolidated exchange rate for {pairs}: enter the period's rates "
            "(Lists > Accounting > Consolidated Exchange Rates), then signal retry"
        )


def summarise(
    rows: list[Row],
    period: Period,
    *,
    as_of: dt.date,
    reporting_currency: str,
    rates: Iterable[ExchangeRate],
    pipeline: Iterable[PipelineBucket] = (),
    unbilled_after_days: int = DEFAULT_UNBILLED_AFTER_DAYS,
) -> Summary:
    """Totals per currency and in the reporting currency (each row at the average rate of its month)."""
    rate_of = {(r.currency, r.month): r for r in rates if r.to_currency == reporting_currency}
    needed = {
        (c, period.month_of(row.close_date)) for row in rows for c in (row.currency, row.actuals_currency)
    }
    missing = sorted((c, m) for c, m in needed if c != reporting_currency and (c, m) not in rate_of)
    if missing:
        raise MissingRates(missing, reporting_currency)

    def rate(currency: str, month: str) -> ExchangeRate:
        if currency == reporting_currency:
            return ExchangeRate(currency=currency, to_currency=currency, month=month, rate=Decimal(1))
        return rate_of[(currency, month)]

    per_currency: dict[str, tuple[Totals, Totals, set[str]]] = {}
    month_totals: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
    total = Totals()
    by_reason = {r.value: 0 for r in Reason}
    for row in rows:
        month = period.month_of(row.close_date)
        for currency, measures in ((row.currency, MEASURES[:1]), (row.actuals_currency, ACTUALS)):
            factor = rate(currency, month).rate
            own, converted, months = per_currency.setdefault(currency, (Totals(), Totals(), set()))
            own.add(row, measures=measures)
            converted.add(row, factor, measures)
            months.add(month)
            total.add(row, factor, measures)
        month_totals[(month, row.currency)][0] += row.booked
        month_totals[(month, row.actuals_currency)][1] += row.billed
        for f in row.findings:
            by_reason[f.reason.value] += 1
    by_currency = [
        CurrencyTotals(
            currency=currency,
            opportunities=sum(1 for r in rows if r.currency == currency and r.opportunity_id),
            totals=own.rounded(),
            in_reporting=converted.rounded(),
            rates=[rate(currency, m) for m in sorted(months)],
        )
        for currency, (own, converted, months) in sorted(per_currency.items())
    ]
    return Summary(
        period=period.label,
        start=period.start,
        end=period.end,
        as_of=as_of,
        reporting_currency=reporting_currency,
        unbilled_after_days=unbilled_after_days,
        opportunities=sum(1 for r in rows if r.opportunity_id),
        orders_without_opportunity=sum(1 for r in rows if not r.opportunity_id),
        by_currency=by_currency,
        total=total.rounded(),
        exceptions=sum(1 for r in rows if r.findings),
        by_reason=by_reason,
        by_month=[
            MonthTotals(month=m, currency=c, booked=money(v[0]), billed=money(v[1]))
            for (m, c), v in sorted(month_totals.items())
        ],
        pipeline=sorted(pipeline, key=lambda p: (FORECAST_ORDER.get(p.forecast_category, 9), p.currency)),
    )


FORECAST_ORDER = {"Commit": 0, "Best Case": 1, "Pipeline": 2, "Omitted": 3}


def pipeline_buckets(
    open_opportunities: Iterable[tuple[str | None, str, Decimal | None]],
) -> list[PipelineBucket]:
    """(forecast category, currency, amount) of open opportunities -> one bucket per category and currency."""
    buckets: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for category, currency, amount in open_opportunities:
        bucket = buckets[(category or "Pipeline", currency)]
        bucket[0] += 1
        bucket[1] += amount or ZERO
    return [
        PipelineBucket(forecast_category=cat, currency=cur, count=int(v[0]), amount=money(v[1]))
        for (cat, cur), v in buckets.items()
    ]


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def summary_text(summary: Summary) -> str:
    """What ``q2c reconcile`` prints and the web UI's details show."""
    cur = summary.reporting_currency
    t = summary.total
    lines = [
        f"Bookings vs billings {summary.period} ({summary.start.isoformat()} to {summary.end.isoformat()}), "
        f"as of {summary.as_of.isoformat()}",
        f"{_count(summary.opportunities, 'won opportunity', 'won opportunities')}, "
        f"{_count(summary.orders_without_opportunity, 'order', 'orders')} without one; "
        f"{_count(summary.exceptions, 'exception', 'exceptions')}",
        f"In {cur}: booked {_fmt(t.booked)}  ordered {_fmt(t.ordered)}  billed {_fmt(t.billed)} "
        f"(credited {_fmt(t.credited)})  collected {_fmt(t.collected)}  recognised {_fmt(t.recognised)}",
    ]
    for c in summary.by_currency:
        rates = ", ".join(f"{r.month} {r.rate.normalize():f}" for r in c.rates)
        lines.append(
            f"  {c.currency}: booked {_fmt(c.totals.booked)}  billed {_fmt(c.totals.billed)}  collected "
            f"{_fmt(c.totals.collected)}  -> {cur} {_fmt(c.in_reporting.booked)} booked at {rates}"
        )
    lines.append("Exceptions by reason:")
    for reason in Reason:
        lines.append(
            f"  {summary.by_reason.get(reason.value, 0):>5}  {reason.value}  ({REASON_TITLES[reason]})"
        )
    if summary.pipeline:
        lines.append("Open pipeline closing in the period:")
        for p in summary.pipeline:
            lines.append(f"  {p.forecast_category:<10} {p.currency} {_fmt(p.amount)} ({p.count})")
    return "\n".join(lines)
