"""The bookings-vs-billings rules (q2c.domain.reconciliation): periods, each reason code, totals and
conversion, the month-end schedule's periods. Pure: no server."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from q2c.domain.messages.reconciliation import ReconcileRequest
from q2c.domain.reconciliation import (
    Actual,
    BookedLine,
    Booking,
    CreditMemo,
    ExchangeRate,
    MissingRates,
    OpportunityState,
    OrderedLine,
    Period,
    Reason,
    Row,
    month_end_periods,
    periods_ended_before,
    pipeline_buckets,
    reconcile,
    summarise,
    summary_text,
)

NOV = Period.parse("2026-11")
AS_OF = dt.date(2026, 12, 20)
D = Decimal


def booking(
    oid: str, amount: str, *, currency: str = "USD", day: int = 5, lines: list[BookedLine] | None = None
) -> Booking:
    return Booking(
        opportunity_id=oid,
        name=f"Deal {oid}",
        account="Acme",
        close_date=dt.date(2026, 11, day),
        currency=currency,
        amount=D(amount),
        lines=lines or [],
    )


def actual(so: str, oid: str | None, total: str, **kw: object) -> Actual:
    values: dict[str, object] = {
        "sales_order_id": so,
        "tran_id": f"SO{so}",
        "opportunity_id": oid,
        "customer": "Acme",
        "date": dt.date(2026, 11, 6),
        "currency": "USD",
        "status": "Billed",
        "total": D(total),
        "billed": D(total),
    }
    values.update(kw)
    return Actual.model_validate(values)


def only(rows: list[Row], key: str) -> Row:
    [row] = [r for r in rows if r.key == key]
    return row


def reasons(row: Row) -> list[Reason]:
    return [f.reason for f in row.findings]


def test_periods_parse_months_and_quarters_and_refuse_anything_else() -> None:
    assert (NOV.start, NOV.end) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    q4 = Period.parse("2026-q4")
    assert q4.label == "2026-Q4" and [m.key for m in q4.months] == ["2026-10", "2026-11", "2026-12"]
    assert q4.end == dt.date(2026, 12, 31) and Period.parse("2028-02").end == dt.date(2028, 2, 29)
    assert NOV.months[0].netsuite_name == "Nov 2026"
    for bad in ("2026-13", "2026-Q5", "Nov 2026", "2026/11", ""):
        with pytest.raises(ValueError, match="neither a month"):
            Period.parse(bad)
    with pytest.raises(ValueError, match="neither a month"):
        ReconcileRequest(period="2026-11-01")


def test_the_month_end_schedule_reconciles_the_month_just_ended_and_a_closed_quarter() -> None:
    assert [p.label for p in periods_ended_before(dt.date(2026, 12, 1))] == ["2026-11"]
    assert [p.label for p in periods_ended_before(dt.date(2027, 1, 1))] == ["2026-12", "2026-Q4"]
    assert [p.label for p in periods_ended_before(dt.date(2026, 4, 15))] == ["2026-03", "2026-Q1"]
    # The month before last again first (its deals now a month old), then the month, then its quarter.
    assert [p.label for p in month_end_periods(dt.date(2027, 1, 1))] == ["2026-11", "2026-12", "2026-Q4"]
    assert [p.label for p in month_end_periods(dt.date(2026, 3, 1))] == ["2026-01", "2026-02"]


def test_a_booking_its_order_billed_and_paid_in_full_is_reconciled() -> None:
    [row] = reconcile(
        [booking("A", "1000")], [actual("1", "A", "1000", collected=D("1000"))], NOV, as_of=AS_OF
    )
    assert row.findings == [] and row.status.value == "Reconciled"
    assert (row.booked, row.ordered, row.billed, row.collected) == (D("1000.00"),) * 4
    assert row.order_variance == 0 and row.billing_variance == 0


def test_won_but_no_order() -> None:
    [row] = reconcile([booking("A", "700")], [], NOV, as_of=AS_OF)
    assert reasons(row) == [Reason.WON_NO_ORDER] and row.findings[0].amount == D("-700.00")
    assert "Deal A" in row.findings[0].detail and "no sales order" in row.findings[0].detail


def test_amount_differs_names_the_line() -> None:
    lines = [
        BookedLine(
            number=1,
            product="Widget",
            netsuite_item_id="11",
            quantity=D(3),
            unit_price=D(500),
            amount=D(1500),
        ),
        BookedLine(
            number=2,
            product="Support",
            netsuite_item_id="12",
            quantity=D(1),
            unit_price=D(200),
            amount=D(200),
        ),
    ]
    ordered = [
        OrderedLine(number=1, item_id="11", item="WID", quantity=D(2), rate=D(500), amount=D(1000)),
        OrderedLine(number=2, item_id="12", item="SUP", quantity=D(1), rate=D(200), amount=D(200)),
    ]
    [row] = reconcile(
        [booking("A", "1700", lines=lines)], [actual("1", "A", "1200", lines=ordered)], NOV, as_of=AS_OF
    )
    assert reasons(row) == [Reason.AMOUNT_DIFFERS]
    finding = row.findings[0]
    assert finding.amount == D("-500.00")
    assert (
        "Widget (item 11; opportunity line 1; order line 1): booked 3 = 1,500.00, ordered 2 = 1,000.00"
        in finding.detail
    )
    assert "Support" not in finding.detail  # the line that agrees is not named


def test_currency_differs_is_the_one_finding_amounts_in_two_currencies_do_not_compare() -> None:
    [row] = reconcile(
        [booking("A", "800", currency="EUR")], [actual("1", "A", "800", billed=D(0))], NOV, as_of=AS_OF
    )
    assert reasons(row) == [Reason.CURRENCY_DIFFERS]
    assert "EUR" in row.findings[0].detail and "USD" in row.findings[0].detail


def test_billed_more_than_booked() -> None:
    [row] = reconcile([booking("A", "1000")], [actual("1", "A", "1000", billed=D("1250"))], NOV, as_of=AS_OF)
    assert reasons(row) == [Reason.BILLED_MORE_THAN_BOOKED] and row.findings[0].amount == D("250.00")


def test_unbilled_only_after_the_days_allowed() -> None:
    bookings, orders = [booking("A", "900", day=1)], [actual("1", "A", "900", billed=D("300"))]
    [late] = reconcile(bookings, orders, NOV, as_of=dt.date(2026, 12, 2), unbilled_after_days=30)
    assert reasons(late) == [Reason.UNBILLED] and late.findings[0].amount == D("-600.00")
    [early] = reconcile(bookings, orders, NOV, as_of=dt.date(2026, 12, 1), unbilled_after_days=30)
    assert early.findings == []  # 30 days: not yet


def test_credited_after_billing() -> None:
    memo = CreditMemo(tran_id="CM7", date=dt.date(2026, 11, 20), amount=D("100"))
    [row] = reconcile([booking("A", "600")], [actual("1", "A", "600", credits=[memo])], NOV, as_of=AS_OF)
    assert reasons(row) == [Reason.CREDITED_AFTER_BILLING]
    assert row.findings[0].amount == D("-100.00") and "CM7" in row.findings[0].detail
    assert (row.billed, row.credited) == (D("500.00"), D("100.00"))


def test_orders_without_a_won_opportunity_and_orders_of_other_periods() -> None:
    referenced = {
        "LOST": OpportunityState(
            opportunity_id="LOST", name="Lost deal", stage="Closed Lost", is_won=False, close_date=None
        ),
        "OCT": OpportunityState(
            opportunity_id="OCT",
            name="October deal",
            stage="Closed Won",
            is_won=True,
            close_date=dt.date(2026, 10, 30),
        ),
        "GONE": None,
    }
    orders = [
        actual("1", "LOST", "400"),
        actual("2", "OCT", "300"),  # won in October: October's reconciliation has it
        actual("3", None, "200"),
        actual("4", "GONE", "100"),
        actual("5", None, "50", date=dt.date(2026, 12, 3)),  # dated after the period: not its business
        actual("6", None, "70", status="Cancelled"),
    ]
    rows = reconcile([], orders, NOV, as_of=AS_OF, referenced=referenced)
    assert sorted(r.sales_order_id or "" for r in rows) == ["1", "3", "4"]
    assert all(reasons(r) == [Reason.ORDER_WITHOUT_OPPORTUNITY] for r in rows)
    assert "Closed Lost" in only(rows, "so:1").findings[0].detail
    assert "names no opportunity" in only(rows, "so:3").findings[0].detail
    assert "does not have" in only(rows, "so:4").findings[0].detail


def test_totals_convert_each_row_at_its_month_rate_and_name_the_rate() -> None:
    q4 = Period.parse("2026-Q4")
    bookings = [
        booking("A", "1000"),
        Booking(
            opportunity_id="B",
            name="B",
            account=None,
            close_date=dt.date(2026, 10, 3),
            currency="EUR",
            amount=D("100"),
        ),
        Booking(
            opportunity_id="C",
            name="C",
            account=None,
            close_date=dt.date(2026, 11, 3),
            currency="EUR",
            amount=D("200"),
        ),
    ]
    orders = [
        actual("1", "A", "1000"),
        actual("2", "B", "100", currency="EUR"),
        actual("3", "C", "200", currency="EUR", billed=D("0")),
    ]
    rates = [
        ExchangeRate(currency="EUR", to_currency="USD", month="2026-10", rate=D("1.10"), netsuite_id="7"),
        ExchangeRate(currency="EUR", to_currency="USD", month="2026-11", rate=D("1.20"), netsuite_id="8"),
    ]
    pipeline = pipeline_buckets(
        [("Commit", "USD", D("5000")), ("Commit", "USD", D("1000")), (None, "EUR", None)]
    )
    rows = reconcile(bookings, orders, q4, as_of=dt.date(2026, 11, 10))
    summary = summarise(
        rows, q4, as_of=dt.date(2026, 11, 10), reporting_currency="USD", rates=rates, pipeline=pipeline
    )
    assert summary.total.booked == D("1000") + D("110.00") + D("240.00")
    assert summary.total.billed == D("1000") + D("110.00")
    eur = next(c for c in summary.by_currency if c.currency == "EUR")
    assert eur.totals.booked == D("300.00") and [r.rate for r in eur.rates] == [D("1.10"), D("1.20")]
    assert "consolidated exchange rate 8" in eur.rates[1].source
    assert {(m.month, m.currency, m.booked) for m in summary.by_month} == {
        ("2026-10", "EUR", D("100.00")),
        ("2026-11", "EUR", D("200.00")),
        ("2026-11", "USD", D("1000.00")),
    }
    assert summary.exceptions == 0 and set(summary.by_reason) == {r.value for r in Reason}
    commit = next(p for p in summary.pipeline if p.forecast_category == "Commit")
    assert (commit.count, commit.amount) == (2, D("6000.00"))
    assert "Commit" in summary_text(summary) and "EUR: booked 300.00" in summary_text(summary)


def test_a_currency_without_a_rate_is_named() -> None:
    rows = reconcile(
        [booking("A", "100", currency="GBP")], [actual("1", "A", "100", currency="GBP")], NOV, as_of=AS_OF
    )
    with pytest.raises(MissingRates, match="GBP -> USD in 2026-11"):
        summarise(rows, NOV, as_of=AS_OF, reporting_currency="USD", rates=[])


def test_an_order_in_another_currency_is_totalled_in_its_own_currency() -> None:
    rows = reconcile([booking("A", "800", currency="EUR")], [actual("1", "A", "900")], NOV, as_of=AS_OF)
    assert rows[0].order_currency == "USD"
    rates = [
        ExchangeRate(currency="EUR", to_currency="USD", month="2026-11", rate=D("1.10"), netsuite_id="8")
    ]
    summary = summarise(rows, NOV, as_of=AS_OF, reporting_currency="USD", rates=rates)
    by = {c.currency: c.totals for c in summary.by_currency}
    assert (by["EUR"].booked, by["EUR"].ordered) == (D("800.00"), D("0.00"))
    assert (by["USD"].booked, by["USD"].ordered, by["USD"].billed) == (D("0.00"), D("900.00"), D("900.00"))
    assert (summary.total.booked, summary.total.ordered) == (D("880.00"), D("900.00"))


def test_an_order_pairs_with_one_booking_only_and_a_cancelled_order_is_no_order() -> None:
    # B's order names B; A's opportunity field names the same order: B keeps it, A has none.
    a = booking("A", "1000").model_copy(update={"sales_order_id": "2"})
    rows = reconcile([a, booking("B", "1000", day=6)], [actual("2", "B", "1000")], NOV, as_of=AS_OF)
    assert reasons(only(rows, "A")) == [Reason.WON_NO_ORDER] and only(rows, "B").findings == []
    # An order naming no opportunity pairs with the booking whose field names it, once.
    c = booking("C", "500").model_copy(update={"sales_order_id": "3"})
    [row] = reconcile([c], [actual("3", None, "500")], NOV, as_of=AS_OF)
    assert row.sales_order_id == "3" and row.findings == []
    [cancelled] = reconcile(
        [booking("D", "400")], [actual("4", "D", "400", status="Cancelled")], NOV, as_of=AS_OF
    )
    assert reasons(cancelled) == [Reason.WON_NO_ORDER]


def test_an_order_an_opportunity_of_another_period_names_is_that_periods() -> None:
    won_in_october = OpportunityState(
        opportunity_id="OCT",
        name="October deal",
        stage="Closed Won",
        is_won=True,
        close_date=dt.date(2026, 10, 30),
    )
    lost = OpportunityState(
        opportunity_id="L", name="Lost", stage="Closed Lost", is_won=False, close_date=None
    )
    orders = [actual("7", None, "300"), actual("8", None, "200")]
    rows = reconcile([], orders, NOV, as_of=AS_OF, naming_orders={"7": won_in_october, "8": lost})
    assert [r.sales_order_id for r in rows] == ["8"]
    assert "named by opportunity L (Lost), which is Closed Lost" in rows[0].findings[0].detail


def test_an_external_id_is_an_opportunity_in_its_18_character_form() -> None:
    from q2c.connectors.netsuite_reconciliation import opportunity_id_of, order_ids_named
    from q2c.domain.salesforce_ids import to_18

    assert opportunity_id_of("006Qz000000001A") == to_18("006Qz000000001A")
    assert opportunity_id_of(to_18("006Qz000000001A")) == to_18("006Qz000000001A")
    assert opportunity_id_of("SO-LEGACY-17") is None and opportunity_id_of(None) is None
    assert opportunity_id_of("001Qz000000001AAAA") is None  # an account, not an opportunity
    assert order_ids_named(["12", "SO1234", None, "3", "12"]) == ["3", "12"]
