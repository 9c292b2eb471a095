"""The reconciliation report's CSV and HTML page, from rows and a summary made by the real rules."""

from __future__ import annotations

import csv
import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest

from q2c.domain.reconciliation import (
    REASON_TITLES,
    Actual,
    Booking,
    CreditMemo,
    ExchangeRate,
    OpportunityState,
    Period,
    Reason,
    Row,
    Summary,
    pipeline_buckets,
    reconcile,
    summarise,
)
from q2c.reports.reconciliation import CSV_COLUMNS, chart_panels, render_html, write_csv, write_html

PERIOD = Period.parse("2026-Q4")
AS_OF = dt.date(2027, 1, 10)
GENERATED_AT = dt.datetime(2027, 1, 10, 7, 30, tzinfo=dt.UTC)
HOSTILE_ACCOUNT = "<script>alert(1)</script> & Co"
EUR_RATES = {"2026-10": ("1.08", "31"), "2026-11": ("1.10", "32"), "2026-12": ("1.05", "33")}


def opp(n: int) -> str:
    return f"006Qz00000{n:05d}AAA"


def booking(n: int, name: str, day: str, currency: str, amount: str, account: str = "Acme") -> Booking:
    return Booking(
        opportunity_id=opp(n),
        name=name,
        account=account,
        close_date=dt.date.fromisoformat(day),
        currency=currency,
        amount=Decimal(amount),
    )


def actual(
    so: int,
    opportunity: int | None,
    day: str,
    currency: str,
    total: str,
    billed: str,
    *,
    collected: str = "0",
    recognised: str | None = None,
    credits: list[CreditMemo] | None = None,
    opportunity_id: str | None = None,
) -> Actual:
    return Actual(
        sales_order_id=str(so),
        tran_id=f"SO{so}",
        opportunity_id=opportunity_id or (opp(opportunity) if opportunity is not None else None),
        customer="Acme",
        date=dt.date.fromisoformat(day),
        currency=currency,
        status="Pending Billing",
        total=Decimal(total),
        billed=Decimal(billed),
        collected=Decimal(collected),
        recognised=Decimal(recognised) if recognised is not None else None,
        credits=credits or [],
    )


def rates() -> list[ExchangeRate]:
    return [
        ExchangeRate(currency="EUR", to_currency="USD", month=m, rate=Decimal(r), netsuite_id=i)
        for m, (r, i) in EUR_RATES.items()
    ]


def quarter() -> tuple[list[Row], Summary]:
    """2026-Q4 in USD and EUR, reported in USD: every kind of exception, and some rows that reconcile."""
    bookings = [
        booking(1, "Acme renewal", "2026-10-05", "USD", "120000"),  # reconciles
        booking(5, "Acme add-on", "2026-10-20", "USD", "10000"),  # billed 12,000: billed more than booked
        booking(2, "Globex expansion", "2026-11-12", "USD", "80000", "Globex"),  # ordered 85,000, billed half
        booking(3, "Hostile deal", "2026-12-03", "USD", "50000", HOSTILE_ACCOUNT),  # won, no order
        booking(4, "Initech seats", "2026-12-15", "USD", "30000", "Initech"),  # reconciles
        booking(11, "Müller Lizenz", "2026-10-08", "EUR", "60000", "Müller GmbH"),  # credited 5,000
        booking(12, "Umbrella EU", "2026-11-03", "EUR", "40000", "Umbrella"),  # ordered in USD
        booking(13, "Stark EU", "2026-11-20", "EUR", "25000", "Stark"),  # reconciles
        booking(14, "Wayne EU", "2026-12-10", "EUR", "35000", "Wayne"),  # billed 30,000 after 31 days
    ]
    credit = CreditMemo(tran_id="CM7", date=dt.date(2026, 11, 2), amount=Decimal("5000"))
    actuals = [
        actual(101, 1, "2026-10-05", "USD", "120000", "120000", collected="100000", recognised="30000"),
        actual(105, 5, "2026-10-21", "USD", "10000", "12000"),
        actual(102, 2, "2026-11-12", "USD", "85000", "40000"),
        actual(104, 4, "2026-12-15", "USD", "30000", "30000", collected="30000"),
        actual(111, 11, "2026-10-08", "EUR", "60000", "60000", credits=[credit]),
        actual(112, 12, "2026-11-03", "USD", "44000", "0"),
        actual(113, 13, "2026-11-20", "EUR", "25000", "25000"),
        actual(114, 14, "2026-12-10", "EUR", "35000", "30000"),
        actual(201, None, "2026-12-01", "EUR", "7500", "7500"),  # names no opportunity
        actual(202, None, "2026-11-18", "USD", "9000", "9000", opportunity_id="006LOST"),  # a lost one
        actual(
            203, None, "2026-12-02", "USD", "5000", "5000", opportunity_id="006OLD"
        ),  # won in Q3: not here
    ]
    referenced: dict[str, OpportunityState | None] = {
        "006LOST": OpportunityState(
            opportunity_id="006LOST", name="Lost deal", stage="Closed Lost", is_won=False, close_date=None
        ),
        "006OLD": OpportunityState(
            opportunity_id="006OLD",
            name="Q3 deal",
            stage="Closed Won",
            is_won=True,
            close_date=dt.date(2026, 9, 30),
        ),
    }
    rows = reconcile(bookings, actuals, PERIOD, as_of=AS_OF, referenced=referenced)
    pipeline = pipeline_buckets(
        [
            ("Commit", "USD", Decimal("100000")),
            ("Commit", "USD", Decimal("50000")),
            ("Best Case", "EUR", Decimal("70000")),
            (None, "USD", Decimal("210000")),
        ]
    )
    summary = summarise(rows, PERIOD, as_of=AS_OF, reporting_currency="USD", rates=rates(), pipeline=pipeline)
    return rows, summary


# What the quarter's months add up to, worked out by hand: (panel, month) -> (booked, billed).
EXPECTED_BARS: dict[tuple[str, str], tuple[str, str]] = {
    ("USD", "2026-10"): ("130000.00", "132000.00"),
    ("USD", "2026-11"): ("80000.00", "49000.00"),
    ("USD", "2026-12"): ("80000.00", "30000.00"),
    ("EUR", "2026-10"): ("60000.00", "55000.00"),
    ("EUR", "2026-11"): ("65000.00", "25000.00"),  # Umbrella's order is in USD and billed nothing
    ("EUR", "2026-12"): ("35000.00", "37500.00"),
    # in USD: USD + EUR at the month's rate (1.08, 1.10, 1.05)
    ("reporting", "2026-10"): ("194800.00", "191400.00"),
    ("reporting", "2026-11"): ("151500.00", "76500.00"),
    ("reporting", "2026-12"): ("116750.00", "69375.00"),
}
EXPECTED_REASONS = {
    Reason.WON_NO_ORDER: 1,
    Reason.ORDER_WITHOUT_OPPORTUNITY: 2,
    Reason.AMOUNT_DIFFERS: 1,
    Reason.CURRENCY_DIFFERS: 1,
    Reason.BILLED_MORE_THAN_BOOKED: 1,
    Reason.UNBILLED: 2,
    Reason.CREDITED_AFTER_BILLING: 1,
}


def record_url(opportunity_id: str) -> str:
    return f"https://q2c-example.my.salesforce.com/lightning/r/Opportunity/{opportunity_id}/view"


def bars(page: str) -> dict[tuple[str, str, str, str], str]:
    """(panel, month, currency, measure) -> data-amount of each chart bar in the page."""
    found: dict[tuple[str, str, str, str], str] = {}
    for tag in re.findall(r"<rect class=\"bar [^>]*>", page):
        attrs = dict(re.findall(r'(data-[a-z]+)="([^"]*)"', tag))
        key = (attrs["data-panel"], attrs["data-month"], attrs["data-currency"], attrs["data-measure"])
        assert key not in found, key
        found[key] = attrs["data-amount"]
    return found


@pytest.fixture(scope="module")
def data() -> tuple[list[Row], Summary]:
    return quarter()


@pytest.fixture(scope="module")
def page(data: tuple[list[Row], Summary]) -> str:
    rows, summary = data
    return render_html(rows, summary, generated_at=GENERATED_AT, record_url=record_url)


def test_the_dataset_is_what_the_report_tests_assume(data: tuple[list[Row], Summary]) -> None:
    rows, summary = data
    assert len(rows) == 11 and summary.exceptions == 8
    assert {Reason(k): v for k, v in summary.by_reason.items()} == EXPECTED_REASONS
    assert summary.total.booked == Decimal("463050.00")


# -- CSV -------------------------------------------------------------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        return list(reader)


def test_csv_has_one_record_per_row_with_plain_amounts(
    tmp_path: Path, data: tuple[list[Row], Summary]
) -> None:
    rows, summary = data
    path = tmp_path / "reconciliation.csv"
    assert write_csv(path, iter(rows), summary) == 11
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    assert "Müller GmbH" in raw.decode("utf-8-sig")
    records = read_csv(path)
    assert [r["opportunity"] for r in records] == [r.name for r in rows]
    by_name = {r["opportunity"]: r for r in records}

    globex = by_name["Globex expansion"]
    assert globex["opportunity_id"] == opp(2) and globex["account"] == "Globex"
    assert globex["close_date"] == "2026-11-12" and globex["currency"] == "USD"
    assert (globex["sales_order_id"], globex["sales_order"]) == ("102", "SO102")
    assert (globex["booked"], globex["ordered"], globex["billed"]) == ("80000.00", "85000.00", "40000.00")
    assert (globex["order_variance"], globex["billing_variance"]) == ("5000.00", "-40000.00")
    assert globex["status"] == "Exception" and globex["reasons"] == "amount_differs;unbilled"
    details = globex["details"].split(" | ")
    assert [d.split(":")[0] for d in details] == ["amount_differs", "unbilled"]
    assert "the opportunity's amount 80,000.00 is not the order total 85,000.00" in details[0]
    assert globex["recognised"] == ""  # no revenue plans

    acme = by_name["Acme renewal"]
    assert acme["status"] == "Reconciled" and acme["reasons"] == "" and acme["details"] == ""
    assert (acme["collected"], acme["recognised"], acme["billing_variance"]) == (
        "100000.00",
        "30000.00",
        "0.00",
    )

    muller = by_name["Müller Lizenz"]
    assert (muller["billed"], muller["credited"]) == ("55000.00", "5000.00")
    assert muller["reasons"] == "credited_after_billing"
    assert (muller["reporting_currency"], muller["exchange_rate"]) == ("USD", "1.08")
    assert (muller["booked_in_reporting"], muller["billed_in_reporting"]) == ("64800.00", "59400.00")

    lost = by_name["Sales order SO202"]
    assert lost["opportunity_id"] == "" and lost["booked"] == "0.00" and lost["ordered"] == "9000.00"
    assert lost["reasons"] == "order_without_opportunity" and "Closed Lost" in lost["details"]

    assert by_name["Hostile deal"]["account"] == HOSTILE_ACCOUNT  # CSV is data: no HTML escaping
    # Every amount is a plain number a spreadsheet reads: no thousands separator.
    amount_columns = [c for c in CSV_COLUMNS if c in {"booked", "ordered", "billed", "credited", "collected"}]
    assert all(re.fullmatch(r"-?\d+\.\d\d", r[c]) for r in records for c in amount_columns)
    # The CSV adds up to the summary's headline in the reporting currency.
    assert sum(Decimal(r["booked_in_reporting"]) for r in records) == summary.total.booked


def test_csv_text_a_spreadsheet_would_run_as_a_formula_is_kept_as_text(tmp_path: Path) -> None:
    b = booking(1, '=HYPERLINK("x","click")', "2026-10-05", "USD", "100", account="@SUM(1+1)")
    rows = reconcile([b], [], PERIOD, as_of=AS_OF)
    summary = summarise(rows, PERIOD, as_of=AS_OF, reporting_currency="USD", rates=[])
    write_csv(tmp_path / "r.csv", rows, summary)
    (record,) = read_csv(tmp_path / "r.csv")
    assert record["opportunity"] == '\'=HYPERLINK("x","click")' and record["account"] == "'@SUM(1+1)"
    assert record["details"].startswith("won_no_order: =HYPERLINK")
    assert record["booked"] == "100.00" and record["order_variance"] == "-100.00"  # numbers stay numbers


def test_csv_rows_must_belong_to_the_summary(tmp_path: Path, data: tuple[list[Row], Summary]) -> None:
    rows, _ = data
    usd_only = summarise(
        [r for r in rows if r.currency == "USD"], PERIOD, as_of=AS_OF, reporting_currency="USD", rates=[]
    )
    with pytest.raises(ValueError, match="no EUR -> USD rate for 2026-10"):
        write_csv(tmp_path / "r.csv", rows, usd_only)
    assert not list(tmp_path.iterdir())  # nothing half written left behind


# -- HTML ------------------------------------------------------------------------------------------


def test_html_titles_the_period_and_shows_the_headline(page: str) -> None:
    assert "<title>Bookings vs billings 2026-Q4 (2026-10-01 to 2026-12-31)</title>" in page
    assert "as of 2027-01-10" in page and "reporting currency USD" in page
    assert "Generated 2027-01-10T07:30:00+00:00" in page
    headline = re.findall(
        r'<div class="card" data-measure="([a-z]+)">.*?<span class="value[^"]*"><span class="cur">USD</span> ([^<]+)<',
        page,
    )
    assert dict(headline) == {
        "booked": "463,050.00",
        # Umbrella's order is USD 44,000, added to the EUR totals as it stands (see the domain's rows).
        "ordered": "434,925.00",
        "billed": "337,275.00",
        "credited": "5,400.00",
        "collected": "130,000.00",
        "recognised": "30,000.00",
    }


def test_html_counts_every_reason(page: str) -> None:
    counts = dict(re.findall(r'<tr data-reason="([a-z_]+)" data-count="(\d+)"', page))
    assert counts == {r.value: str(n) for r, n in EXPECTED_REASONS.items()}
    for reason in Reason:
        assert re.search(
            rf'<tr data-reason="{reason.value}"[^>]*><td>{re.escape(REASON_TITLES[reason])}</td>'
            rf"<td><code>{reason.value}</code></td><td class=\"num\">{EXPECTED_REASONS[reason]}</td>",
            page,
        ), reason


def test_html_lists_only_the_exceptions_linked_to_salesforce(
    page: str, data: tuple[list[Row], Summary]
) -> None:
    rows, _ = data
    assert page.count('<tr class="exception"') == 8
    for row in rows:
        if row.findings and row.opportunity_id:
            assert f'<a href="{record_url(row.opportunity_id)}">{row.name}' in page.replace("&#39;", "'")
        elif not row.findings:
            assert row.name not in page, row.name
    assert ">Sales order SO201<" in page and ">Sales order SO202<" in page  # no opportunity: no link
    # The details of each finding, and negative variances marked.
    assert "Wayne EU was won 31 days before 2027-01-10 (more than 30)" in page
    assert '<td class="num neg">-40,000.00</td>' in page
    assert '<td class="num">5,000.00</td>' in page


def test_html_escapes_what_the_systems_say(page: str) -> None:
    assert HOSTILE_ACCOUNT not in page and "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page


def test_html_refers_to_nothing_outside_itself(data: tuple[list[Row], Summary]) -> None:
    rows, summary = data
    bare = render_html(rows, summary, generated_at=GENERATED_AT)
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", bare, re.IGNORECASE)
    assert not re.search(r"\b(src|href|xlink:href|action|srcset|poster|data)\s*=", bare, re.IGNORECASE)
    assert not re.search(
        r"<(script|link|img|iframe|object|embed|use|image)\b|@import|url\(", bare, re.IGNORECASE
    )
    assert "default-src 'none'" in bare  # and the browser is told not to fetch anything either

    linked = render_html(rows, summary, generated_at=GENERATED_AT, record_url=record_url)
    hrefs = re.findall(r'\bhref="([^"]*)"', linked)
    # Only links to the exceptions' opportunities (and none to anchors, there being none yet).
    links = {record_url(r.opportunity_id) for r in rows if r.findings and r.opportunity_id}
    assert len(hrefs) == len(links) == 6 and all(h.startswith("#") or h in links for h in hrefs)
    assert not re.search(r"\bsrc\s*=", linked, re.IGNORECASE)
    outside_links = re.sub(r'href="[^"]*"', "", linked)
    assert not re.search(r"https?://", outside_links)


def test_chart_has_a_bar_for_each_month_currency_and_measure(
    page: str, data: tuple[list[Row], Summary]
) -> None:
    _, summary = data
    expected = {}
    for (panel, month), (booked, billed) in EXPECTED_BARS.items():
        currency = "USD" if panel == "reporting" else panel
        expected[(panel, month, currency, "booked")] = booked
        expected[(panel, month, currency, "billed")] = billed
    assert bars(page) == expected
    # And they are the summary's months.
    for m in summary.by_month:
        assert bars(page)[(m.currency, m.month, m.currency, "booked")] == f"{m.booked:.2f}"
    # Each bar says what it is when pointed at, and the chart its axis, legend and months.
    assert "<title>Oct 2026 · Booked EUR 60,000.00</title>" in page
    assert "<title>Dec 2026 · Billed USD 69,375.00</title>" in page
    assert page.count('class="swatch"') == 2 * 3 and page.count(">Booked</text>") == 3
    for label in ("Oct 2026", "Nov 2026", "Dec 2026"):
        assert page.count(f">{label}</text>") == 3
    assert ">All currencies, in USD</text>" in page


def test_chart_bars_are_to_scale(data: tuple[list[Row], Summary]) -> None:
    _, summary = data
    for panel in chart_panels(summary):
        per_unit = {b.height / float(b.amount) for b in panel.bars if b.amount}
        assert max(per_unit) - min(per_unit) < 1e-3 * max(per_unit), panel.key
        assert all(abs(b.y + b.height - panel.zero_y) < 0.01 for b in panel.bars)  # standing on zero
        top_tick = min(t.y for t in panel.ticks)
        assert all(b.y >= top_tick - 0.01 for b in panel.bars)  # inside the axis


def test_one_currency_has_no_reporting_panel_and_an_empty_period_renders() -> None:
    rows = reconcile([booking(1, "Only", "2026-11-02", "USD", "100")], [], PERIOD, as_of=AS_OF)
    summary = summarise(rows, PERIOD, as_of=AS_OF, reporting_currency="USD", rates=[])
    one = render_html(rows, summary, generated_at=GENERATED_AT)
    assert {k[0] for k in bars(one)} == {"USD"} and len(bars(one)) == 6  # 3 months, zero where none
    assert bars(one)[("USD", "2026-10", "USD", "booked")] == "0.00"

    empty = summarise([], PERIOD, as_of=AS_OF, reporting_currency="USD", rates=[])
    page = render_html([], empty, generated_at=GENERATED_AT)
    assert "No bookings or billings in the period." in page and "No exceptions" in page


def test_negative_billing_in_a_month_goes_below_the_axis() -> None:
    b = booking(1, "Refunded", "2026-10-05", "USD", "100")
    credit = CreditMemo(tran_id="CM1", date=dt.date(2026, 10, 9), amount=Decimal("150"))
    rows = reconcile(
        [b], [actual(1, 1, "2026-10-05", "USD", "100", "100", credits=[credit])], PERIOD, as_of=AS_OF
    )
    summary = summarise(rows, PERIOD, as_of=AS_OF, reporting_currency="USD", rates=[])
    (panel,) = chart_panels(summary)
    billed = next(b for b in panel.bars if b.measure == "billed" and b.month == "2026-10")
    assert billed.amount == Decimal("-50.00") and billed.y == panel.zero_y and billed.height > 0
    page = render_html(rows, summary, generated_at=GENERATED_AT)
    assert '<span class="value neg"><span class="cur">USD</span> -50.00</span>' in page


def test_write_html_writes_the_page(tmp_path: Path, data: tuple[list[Row], Summary]) -> None:
    rows, summary = data
    path = tmp_path / "out" / "report.html"
    write_html(path, rows, summary, generated_at=GENERATED_AT)
    assert path.read_text(encoding="utf-8") == render_html(rows, summary, generated_at=GENERATED_AT)
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


def many(count: int, every: int) -> tuple[list[Row], Summary]:
    """``count`` opportunities over the quarter in USD and EUR; one in ``every`` billed short."""
    bookings, actuals = [], []
    months = ("2026-10", "2026-11", "2026-12")
    for n in range(count):
        currency = "USD" if n % 3 else "EUR"
        day = f"{months[n % 3]}-{1 + n % 28:02d}"
        amount = str(1000 + n)
        bookings.append(booking(n, f"Deal {n}", day, currency, amount, account=f"Account {n % 400}"))
        billed = str(500 + n) if n % every == 0 else amount
        actuals.append(actual(10_000 + n, n, day, currency, amount, billed))
    rows = reconcile(bookings, actuals, PERIOD, as_of=dt.date(2027, 3, 1))
    return rows, summarise(rows, PERIOD, as_of=dt.date(2027, 3, 1), reporting_currency="USD", rates=rates())


def test_five_thousand_rows_render_as_their_exceptions_only() -> None:
    rows, summary = many(5000, every=10)
    assert summary.exceptions == 500
    page = render_html(iter(rows), summary, generated_at=GENERATED_AT, record_url=record_url)
    assert page.count('<tr class="exception"') == 500
    assert len(bars(page)) == 3 * 2 * 3  # the chart does not grow with the rows
    assert "Deal 1 " not in page and "Deal 10 " in page  # Deal 1 reconciles; Deal 10 does not
    assert len(page.encode()) < 1_500_000
