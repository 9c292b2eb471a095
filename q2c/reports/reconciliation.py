"""The bookings-versus-billings reconciliation as files finance opens: a CSV and one HTML page.

``write_csv`` streams one record per row (every opportunity and every unexplained order), for a
spreadsheet. ``render_html`` makes one self-contained page that reads offline: inline CSS, the chart an
inline SVG drawn here (no JavaScript), nothing fetched from anywhere (a Content-Security-Policy says so
too). It lists only the exceptions, so it stays small for a quarter of thousands of opportunities.

Plain library: what the rows and the summary say (``q2c.domain.reconciliation``) in, text out; the only
I/O is in the two ``write_`` helpers.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from functools import cache
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from q2c.domain.reconciliation import (
    MEASURES,
    REASON_TITLES,
    Month,
    Reason,
    Row,
    Summary,
    money,
)

# -- CSV -------------------------------------------------------------------------------------------

CSV_COLUMNS: tuple[str, ...] = (
    "opportunity_id",
    "opportunity",
    "account",
    "close_date",
    "currency",
    "booked",
    "sales_order_id",
    "sales_order",
    "ordered",
    "billed",  # net of credit memos
    "credited",
    "collected",
    "recognised",  # empty: NetSuite has no revenue plans for the order
    "order_variance",  # ordered - booked
    "billing_variance",  # billed - booked
    "status",
    "reasons",  # reason codes, ;-separated
    "details",  # "code: detail" per finding, " | "-separated (a detail may itself contain "; ")
    # The row in the reporting currency, at the rate the summary used for its month, so a pivot of the
    # CSV adds up to the HTML page's headline (to the cent per row; the page rounds once per total).
    "reporting_currency",
    "exchange_rate",
    "booked_in_reporting",
    "billed_in_reporting",
    "order_currency",  # the order side's amounts' currency, where it is not the booking's (currency_differs)
)

# Excel reads a UTF-8 CSV as UTF-8 only when it starts with a byte order mark (without one it guesses the
# ANSI code page and "Müller" becomes "MÃ¼ller"); Python (utf-8-sig), LibreOffice, Google Sheets and
# pandas all read the BOM. So the CSV is written with one.
CSV_ENCODING = "utf-8-sig"

# Cells a spreadsheet would take for a formula (CSV injection): a text cell starting with one of these
# gets a leading apostrophe, which spreadsheets show as text. Amount cells are numbers and left alone.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

DETAILS_SEPARATOR = " | "


def _amount(value: Decimal | None) -> str:
    """A plain decimal with 2 places and no thousands separator (``-1234.50``); empty for None."""
    return "" if value is None else f"{money(value):.2f}"


def _text(value: str | None) -> str:
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _month_key(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _rates_of(summary: Summary) -> dict[tuple[str, str], Decimal]:
    """(currency, YYYY-MM) -> the rate to the reporting currency the summary used."""
    return {(c.currency, r.month): r.rate for c in summary.by_currency for r in c.rates}


def _rate(rates: dict[tuple[str, str], Decimal], summary: Summary, currency: str, month: str) -> Decimal:
    if currency == summary.reporting_currency:
        return Decimal(1)
    try:
        return rates[(currency, month)]
    except KeyError:
        raise ValueError(
            f"the summary of {summary.period} has no {currency} -> {summary.reporting_currency} rate for "
            f"{month}: the rows are not the ones it was made from"
        ) from None


def csv_record(row: Row, summary: Summary, rates: dict[tuple[str, str], Decimal] | None = None) -> list[str]:
    """One row as the CSV's cells, in ``CSV_COLUMNS`` order."""
    rates = rates if rates is not None else _rates_of(summary)
    rate = _rate(rates, summary, row.currency, _month_key(row.close_date))
    actuals_rate = _rate(rates, summary, row.actuals_currency, _month_key(row.close_date))
    return [
        row.opportunity_id or "",
        _text(row.name),
        _text(row.account),
        row.close_date.isoformat(),
        row.currency,
        _amount(row.booked),
        row.sales_order_id or "",
        _text(row.sales_order),
        _amount(row.ordered),
        _amount(row.billed),
        _amount(row.credited),
        _amount(row.collected),
        _amount(row.recognised),
        _amount(row.order_variance),
        _amount(row.billing_variance),
        row.status.value,
        ";".join(f.reason.value for f in row.findings),
        _text(DETAILS_SEPARATOR.join(f"{f.reason.value}: {f.detail}" for f in row.findings)),
        summary.reporting_currency,
        f"{rate.normalize():f}",
        _amount(row.booked * rate),
        _amount(row.billed * actuals_rate),
        row.order_currency or "",
    ]


def write_csv(path: Path, rows: Iterable[Row], summary: Summary) -> int:
    """Write the rows (streamed, one CSV record each) to ``path``; returns how many were written.

    UTF-8 with a BOM, RFC 4180 (comma, ``"`` quoting, CRLF). Written beside ``path`` and renamed over
    it, so a reader never sees half a file.
    """
    rates = _rates_of(summary)
    count = 0
    with _replacing(path) as partial, partial.open("w", encoding=CSV_ENCODING, newline="") as out:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        for row in rows:
            writer.writerow(csv_record(row, summary, rates))
            count += 1
    return count


class _replacing:
    """``with _replacing(path) as partial``: write ``partial``; on success it replaces ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.partial = self.path.with_name(f".{self.path.name}.partial")

    def __enter__(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self.partial

    def __exit__(self, kind: object, *_: object) -> None:
        if kind is None:
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)


# -- HTML: what the template shows ------------------------------------------------------------------

BOOKED_COLOUR = "#2563b0"  # blue
BILLED_COLOUR = "#e8861a"  # orange
CHART_MEASURES: tuple[tuple[str, str, str], ...] = (
    ("booked", "Booked", BOOKED_COLOUR),
    ("billed", "Billed", BILLED_COLOUR),
)

# One panel's SVG, in its own units (the page scales it to the width it has).
CHART_WIDTH = 460
CHART_HEIGHT = 280
_LEFT, _RIGHT, _TOP, _BOTTOM = 56, 12, 40, 32


@dataclass(frozen=True)
class Amount:
    """An amount as the page shows it: thousands separators, 2 places, negative ones marked."""

    value: Decimal | None

    @property
    def text(self) -> str:
        return "" if self.value is None else f"{self.value:,.2f}"

    @property
    def negative(self) -> bool:
        return self.value is not None and self.value < 0


@dataclass(frozen=True)
class Bar:
    panel: str  # a currency, or "reporting" for the panel of all currencies converted
    month: str  # YYYY-MM
    currency: str  # the currency of the amount
    measure: str  # booked | billed
    amount: Decimal
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str

    @property
    def data_amount(self) -> str:
        return f"{self.amount:.2f}"


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class MonthLabel:
    x: float
    label: str


@dataclass(frozen=True)
class Panel:
    key: str  # data-panel of its bars
    title: str
    currency: str
    bars: list[Bar]
    ticks: list[Tick]
    months: list[MonthLabel]
    zero_y: float
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    left: int = _LEFT
    right: int = CHART_WIDTH - _RIGHT
    top: int = _TOP
    bottom: int = CHART_HEIGHT - _BOTTOM


@dataclass(frozen=True)
class MonthFigures:
    month: str
    label: str
    currency: str
    booked: Amount
    billed: Amount


@dataclass(frozen=True)
class CurrencyLine:
    currency: str
    opportunities: int
    own: list[Amount]  # MEASURES order
    converted: list[Amount]
    rates: list[str]  # "2026-10: 1.08 (consolidated exchange rate 17 (average))"


@dataclass(frozen=True)
class ReasonCount:
    code: str
    title: str
    count: int


@dataclass(frozen=True)
class FindingView:
    code: str
    title: str
    detail: str
    amount: Amount


@dataclass(frozen=True)
class ExceptionRow:
    name: str
    url: str | None
    opportunity_id: str | None
    account: str
    close_date: str
    currency: str
    sales_order: str
    booked: Amount
    ordered: Amount
    billed: Amount
    order_variance: Amount
    billing_variance: Amount
    findings: list[FindingView]


@dataclass
class _Tally:
    rows: int = 0
    exceptions: list[ExceptionRow] = field(default_factory=list)


def _compact(value: Decimal) -> str:
    """An axis label: 0, 250, 1.5k, 2M."""
    size = abs(value)
    for threshold, suffix in ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(1000), "k")):
        if size >= threshold:
            scaled = (value / threshold).quantize(Decimal("0.01")).normalize()
            return f"{scaled:f}{suffix}"
    return f"{value.quantize(Decimal('0.01')).normalize():f}"


def _nice_step(span: Decimal, target: int = 5) -> Decimal:
    """A step of 1, 2, 2.5 or 5 times a power of ten giving about ``target`` intervals over ``span``."""
    raw = span / target
    power = Decimal(10) ** math.floor(math.log10(raw))
    for multiple in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        if multiple * power >= raw:
            return multiple * power
    return 10 * power  # pragma: no cover - the loop ends at 10


def _panel(
    key: str, title: str, currency: str, months: list[str], values: dict[tuple[str, str], Decimal]
) -> Panel:
    """Bars for each month (booked, billed) of ``values[(month, measure)]``, on one scale with ticks."""
    amounts = [values.get((m, measure), Decimal(0)) for m in months for measure, _, _ in CHART_MEASURES]
    low, high = min([Decimal(0), *amounts]), max([Decimal(0), *amounts])
    if low == high:
        high = Decimal(100)
    step = _nice_step(high - low)
    low_tick = (low / step).to_integral_value(rounding=ROUND_FLOOR) * step
    high_tick = (high / step).to_integral_value(rounding=ROUND_CEILING) * step
    top, bottom = _TOP, CHART_HEIGHT - _BOTTOM
    plot_height = bottom - top
    span = float(high_tick - low_tick)

    def y_of(value: Decimal) -> float:
        return round(top + plot_height * float(high_tick - value) / span, 2)

    ticks: list[Tick] = []
    tick = low_tick
    while tick <= high_tick:
        ticks.append(Tick(y=y_of(tick), label=_compact(tick)))
        tick += step
    zero_y = y_of(Decimal(0))
    group = (CHART_WIDTH - _RIGHT - _LEFT) / max(len(months), 1)
    bar_width = min(group * 0.34, 56.0)
    gap = min(group * 0.04, 6.0)
    bars: list[Bar] = []
    labels: list[MonthLabel] = []
    for i, month in enumerate(months):
        centre = _LEFT + group * (i + 0.5)
        label = _month_label(month)
        labels.append(MonthLabel(x=round(centre, 2), label=label))
        for j, (measure, measure_title, colour) in enumerate(CHART_MEASURES):
            amount = values.get((month, measure), Decimal(0))
            x = centre - gap / 2 - bar_width if j == 0 else centre + gap / 2
            y = y_of(amount)
            bars.append(
                Bar(
                    panel=key,
                    month=month,
                    currency=currency,
                    measure=measure,
                    amount=amount,
                    x=round(x, 2),
                    y=min(y, zero_y),
                    width=round(bar_width, 2),
                    height=round(abs(zero_y - y), 2),
                    fill=colour,
                    title=f"{label} · {measure_title} {currency} {amount:,.2f}",
                )
            )
    return Panel(
        key=key, title=title, currency=currency, bars=bars, ticks=ticks, months=labels, zero_y=zero_y
    )


def _month_label(month: str) -> str:
    year, number = month.split("-")
    return Month(year=int(year), month=int(number)).netsuite_name


def _period_months(summary: Summary) -> list[str]:
    """Every month from the period's start to its end, and any other month a total is in."""
    months: set[str] = {m.month for m in summary.by_month}
    year, month = summary.start.year, summary.start.month
    while (year, month) <= (summary.end.year, summary.end.month):
        months.add(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return sorted(months)


def chart_panels(summary: Summary) -> list[Panel]:
    """The chart: all currencies in the reporting currency (when there is more than one), then one panel
    per currency in its own amounts; each a group of bars per month, booked beside billed."""
    months = _period_months(summary)
    currencies = sorted({c.currency for c in summary.by_currency} | {m.currency for m in summary.by_month})
    own: dict[str, dict[tuple[str, str], Decimal]] = {c: {} for c in currencies}
    converted: dict[tuple[str, str], Decimal] = {}
    rates = _rates_of(summary)
    for m in summary.by_month:
        rate = _rate(rates, summary, m.currency, m.month)
        for measure, _, _ in CHART_MEASURES:
            amount: Decimal = getattr(m, measure)
            own[m.currency][(m.month, measure)] = amount
            converted[(m.month, measure)] = converted.get((m.month, measure), Decimal(0)) + amount * rate
    panels = [_panel(c, c, c, months, own[c]) for c in currencies]
    if len(currencies) > 1:
        rounded = {k: money(v) for k, v in converted.items()}
        reporting = summary.reporting_currency
        panels.insert(0, _panel("reporting", f"All currencies, in {reporting}", reporting, months, rounded))
    return panels


def _month_figures(summary: Summary) -> list[MonthFigures]:
    return [
        MonthFigures(
            month=m.month,
            label=_month_label(m.month),
            currency=m.currency,
            booked=Amount(m.booked),
            billed=Amount(m.billed),
        )
        for m in sorted(summary.by_month, key=lambda m: (m.currency, m.month))
    ]


def _currency_lines(summary: Summary) -> list[CurrencyLine]:
    return [
        CurrencyLine(
            currency=c.currency,
            opportunities=c.opportunities,
            own=[Amount(getattr(c.totals, m)) for m in MEASURES],
            converted=[Amount(getattr(c.in_reporting, m)) for m in MEASURES],
            rates=[f"{r.month}: {r.rate.normalize():f} ({r.source})" for r in c.rates],
        )
        for c in summary.by_currency
    ]


def _exception_row(row: Row, record_url: Callable[[str], str] | None) -> ExceptionRow:
    return ExceptionRow(
        name=row.name,
        url=record_url(row.opportunity_id) if record_url and row.opportunity_id else None,
        opportunity_id=row.opportunity_id,
        account=row.account or "",
        close_date=row.close_date.isoformat(),
        currency=row.currency if not row.order_currency else f"{row.currency} (order {row.order_currency})",
        sales_order=row.sales_order or "",
        booked=Amount(row.booked),
        ordered=Amount(row.ordered),
        billed=Amount(row.billed),
        order_variance=Amount(row.order_variance),
        billing_variance=Amount(row.billing_variance),
        findings=[
            FindingView(
                code=f.reason.value, title=REASON_TITLES[f.reason], detail=f.detail, amount=Amount(f.amount)
            )
            for f in row.findings
        ],
    )


def _tally(rows: Iterable[Row], record_url: Callable[[str], str] | None) -> _Tally:
    tally = _Tally()
    for row in rows:
        tally.rows += 1
        if row.findings:
            tally.exceptions.append(_exception_row(row, record_url))
    return tally


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("q2c.reports", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


MEASURE_TITLES = {m: m.capitalize() for m in MEASURES}


def render_html(
    rows: Iterable[Row],
    summary: Summary,
    *,
    generated_at: dt.datetime,
    record_url: Callable[[str], str] | None = None,
) -> str:
    """The reconciliation as one self-contained HTML page (see the module's docstring).

    ``rows`` is read once and only its exceptions are kept. ``record_url(opportunity_id)``, when given,
    links each exception's name to the opportunity (e.g. its Salesforce Lightning page).
    """
    tally = _tally(rows, record_url)
    reasons = [ReasonCount(r.value, REASON_TITLES[r], summary.by_reason.get(r.value, 0)) for r in Reason]
    template = _environment().get_template("reconciliation.html.j2")
    return template.render(
        s=summary,
        generated_at=generated_at.isoformat(timespec="seconds"),
        measures=[(m, MEASURE_TITLES[m]) for m in MEASURES],
        headline=[(MEASURE_TITLES[m], Amount(getattr(summary.total, m))) for m in MEASURES],
        panels=chart_panels(summary),
        chart_measures=CHART_MEASURES,
        month_figures=_month_figures(summary),
        currencies=_currency_lines(summary),
        total=[Amount(getattr(summary.total, m)) for m in MEASURES],
        reasons=reasons,
        findings_total=sum(r.count for r in reasons),
        rows=tally.rows,
        exceptions=tally.exceptions,
        pipeline=[(p.forecast_category, p.currency, p.count, Amount(p.amount)) for p in summary.pipeline],
    )


def write_html(
    path: Path,
    rows: Iterable[Row],
    summary: Summary,
    *,
    generated_at: dt.datetime,
    record_url: Callable[[str], str] | None = None,
) -> None:
    """Write ``render_html``'s page to ``path`` (UTF-8; replaced whole, never half written)."""
    page = render_html(rows, summary, generated_at=generated_at, record_url=record_url)
    with _replacing(path) as partial:
        partial.write_text(page, encoding="utf-8")


__all__ = [
    "CSV_COLUMNS",
    "CSV_ENCODING",
    "Panel",
    "chart_panels",
    "csv_record",
    "render_html",
    "write_csv",
    "write_html",
]
