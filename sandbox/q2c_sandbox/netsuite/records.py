"""Declarative descriptions of the record types the sandbox serves.

Each record type is described once here: its body fields (kind, reference target, required, read-only),
its sublists, the prefix of custom fields it accepts, how its ``refName`` is built, and how it appears to
SuiteQL. Validation (``codec``), rendering, business rules and the SuiteQL views are all driven from
these descriptions, so adding a field is a one-line change.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"  # currency amounts, quantities, rates: JSON numbers
    BOOLEAN = "boolean"
    DATE = "date"  # "2026-01-05"
    DATETIME = "datetime"  # "2026-01-05T10:00:00Z"
    REF = "ref"  # {"id": "14", "refName": ...}
    ENUM = "enum"  # a select list with fixed values, rendered like a reference


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    ref_type: str | None = None  # the record type a REF points at
    required: bool = False  # must be present (after defaults) on create
    read_only: bool = False  # set by the system; ignored when a client sends it
    choices: tuple[tuple[str, str], ...] = ()  # ENUM: (id, refName) pairs
    max_length: int | None = None

    def choice_name(self, value: str) -> str:
        return dict(self.choices).get(value, value)


@dataclass(frozen=True)
class Sublist:
    name: str
    fields: tuple[Field, ...]
    custom_prefix: str | None = None

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)


@dataclass(frozen=True)
class SuiteQLTable:
    """How a record type shows up in SuiteQL: the table and its columns (column -> body field or SQL)."""

    table: str
    columns: dict[str, str]  # lower-case column -> stored body field name, or "sql:<expression over r>"
    type_code: str | None = None  # transaction.type, e.g. "SalesOrd"
    # Transactions: the sublist whose lines are the transaction's rows in transactionline, and the line
    # field read as transactionline.quantity.
    lines: str | None = None
    line_quantity: str = "quantity"


@dataclass(frozen=True)
class StockEffect:
    """How a transaction's lines move stock: each line of ``sublist`` whose item is an inventory item adds
    ``sign * line[quantity]`` to the ``balance`` of (line item, line location). The store keeps the
    balances (``ns_stock``) as the sum of these contributions, updated on every write and delete."""

    sublist: str
    quantity: str
    balance: str  # one of store.STOCK_BALANCES: on_hand, committed, on_order, back_ordered
    sign: int = 1


@dataclass(frozen=True)
class RecordType:
    name: str
    fields: tuple[Field, ...]
    ref_name: str  # format string over stored body fields, e.g. "{entityId} {companyName}"
    id_sequence: str  # types sharing a sequence never share an internal id (like NetSuite's transactions)
    sublists: tuple[Sublist, ...] = ()
    custom_prefix: str | None = None  # "custentity_", "custbody_", "custitem_"
    tran_id_prefix: str | None = None  # transactions number themselves: "SO" -> SO1001, SO1002...
    suiteql: SuiteQLTable | None = None
    stock: tuple[StockEffect, ...] = ()
    # Created only by transforming another record (an item fulfillment from its sales order): a direct
    # POST is refused, as on a real account; an admin load may still create one.
    transform_only: bool = False
    # Set up by the account itself (accounting periods, revenue recognition rules): the record API and the
    # admin load can read but never create, change or delete one; the sandbox creates them at bootstrap.
    read_only: bool = False

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    def sublist(self, name: str) -> Sublist | None:
        return next((s for s in self.sublists if s.name == name), None)

    def is_custom(self, name: str) -> bool:
        return self.custom_prefix is not None and name.startswith(self.custom_prefix)


def _f(name: str, kind: Kind = Kind.TEXT, **kw: object) -> Field:
    return Field(name, kind, **kw)  # type: ignore[arg-type]


# The item record types. They share the "item" id sequence, so an item's internal id names it whatever its
# type; a reference with ref_type "item" accepts any of them (as a transaction line's item does).
INVENTORY_ITEM = "inventoryItem"
ITEM_TYPES = (INVENTORY_ITEM, "nonInventorySaleItem", "serviceSaleItem", "itemGroup")
REF_FAMILIES = {"item": ITEM_TYPES}


def ref_targets(ref_type: str) -> tuple[str, ...]:
    """The record types a reference of ``ref_type`` may point at."""
    return REF_FAMILIES.get(ref_type, (ref_type,))


ID = _f("id", read_only=True)
EXTERNAL_ID = _f("externalId", max_length=255)
INACTIVE = _f("isInactive", Kind.BOOLEAN)
CREATED = _f("createdDate", Kind.DATETIME, read_only=True)
MODIFIED = _f("lastModifiedDate", Kind.DATETIME, read_only=True)

SALES_ORDER_STATUS = (
    ("A", "Pending Approval"),
    ("B", "Pending Fulfillment"),
    ("C", "Cancelled"),
    ("D", "Partially Fulfilled"),
    ("E", "Pending Billing/Partially Fulfilled"),
    ("F", "Pending Billing"),
    ("G", "Billed"),
    ("H", "Closed"),
)
INVOICE_STATUS = (("A", "Open"), ("B", "Paid In Full"))
PAYMENT_STATUS = (("B", "Not Deposited"), ("C", "Deposited"))
CREDIT_MEMO_STATUS = (("A", "Open"), ("B", "Fully Applied"))
CREDIT_HOLD = (("AUTO", "Auto"), ("ON", "On"), ("OFF", "Off"))
SHIP_STATUS = (("A", "Picked"), ("B", "Packed"), ("C", "Shipped"))

ITEM_LINE = Sublist(
    "item",
    (
        _f("line", Kind.INTEGER, read_only=True),
        _f("item", Kind.REF, ref_type="item", required=True),
        _f("quantity", Kind.NUMBER),
        _f("rate", Kind.NUMBER),
        _f("amount", Kind.NUMBER),
        _f("description", max_length=4000),
    ),
    custom_prefix="custcol_",
)

# A sales order line can be closed (nothing more to fulfil or bill); closing every line closes the order.
# Its location is where it ships from (and where an inventory item's stock is committed); the quantities
# are kept by the sandbox: fulfilled (sum of its fulfillment lines), committed (reserved stock at the
# location) and back-ordered (the open rest).
#
# Revenue recognition: revRecStartDate and revRecTermInMonths override, for this line, the order's tranDate
# and the item's revRecTermInMonths (see the revenue views in ``store``).
ORDER_LINE = Sublist(
    "item",
    (
        *ITEM_LINE.fields,
        _f("isClosed", Kind.BOOLEAN),
        _f("revRecStartDate", Kind.DATE),
        _f("revRecTermInMonths", Kind.INTEGER),
        _f("location", Kind.REF, ref_type="location"),
        _f("quantityFulfilled", Kind.NUMBER, read_only=True),
        _f("quantityCommitted", Kind.NUMBER, read_only=True),
        _f("quantityBackOrdered", Kind.NUMBER, read_only=True),
    ),
    custom_prefix=ITEM_LINE.custom_prefix,
)

# An item fulfillment line ships ``quantity`` of the sales order line ``orderLine`` from ``location``; the
# item is the order line's.
FULFILLMENT_LINE = Sublist(
    "item",
    (
        _f("line", Kind.INTEGER, read_only=True),
        _f("orderLine", Kind.INTEGER, required=True),
        _f("item", Kind.REF, ref_type="item", read_only=True),
        _f("quantity", Kind.NUMBER),
        _f("location", Kind.REF, ref_type="location"),
        _f("description", max_length=4000, read_only=True),
    ),
    custom_prefix="custcol_",
)
PACKAGE_LINE = Sublist(
    "package",
    (
        _f("line", Kind.INTEGER, read_only=True),
        _f("packageTrackingNumber", max_length=100),
        _f("packageWeight", Kind.NUMBER),
        _f("packageDescr", max_length=100),
    ),
)
ADJUSTMENT_LINE = Sublist(
    "inventory",
    (
        _f("line", Kind.INTEGER, read_only=True),
        _f("item", Kind.REF, ref_type="item", required=True),
        _f("location", Kind.REF, ref_type="location", required=True),
        _f("adjustQtyBy", Kind.NUMBER, required=True),
        _f("description", max_length=4000),
    ),
    custom_prefix="custcol_",
)

# An item's price matrix: one price per (price level, currency, quantity break); quantity is the break's
# minimum, 0 for the base row.
PRICE_LINE = Sublist(
    "price",
    (
        _f("line", Kind.INTEGER, read_only=True),
        _f("priceLevel", Kind.REF, ref_type="priceLevel", required=True),
        _f("currency", Kind.REF, ref_type="currency", required=True),
        _f("quantity", Kind.NUMBER),
        _f("price", Kind.NUMBER, required=True),
    ),
)
MEMBER_LINE = Sublist(
    "member",
    (
        _f("line", Kind.INTEGER, read_only=True),
        _f("item", Kind.REF, ref_type="item", required=True),
        _f("quantity", Kind.NUMBER),
    ),
)

# An invoice line billed from an order keeps the order line's number (NetSuite's orderLine).
INVOICE_LINE = Sublist(
    "item",
    (*ITEM_LINE.fields, _f("orderLine", Kind.INTEGER, read_only=True)),
    custom_prefix=ITEM_LINE.custom_prefix,
)

APPLY_LINE = Sublist(
    "apply",
    (
        _f("line", Kind.INTEGER, read_only=True),
        _f("doc", Kind.REF, ref_type="invoice", required=True),
        _f("apply", Kind.BOOLEAN),
        _f("amount", Kind.NUMBER),
    ),
)

# SQL over the stored JSON of ``r`` (the record row) for columns NetSuite computes from today's date.
# ns_today() is the sandbox clock's date (registered by the store), so moving the clock changes these
# without touching the records.
_J = "json_extract(r.body, '$.{}')"
_INVOICE_DAYS_OVERDUE = (
    f"sql:CASE WHEN {_J.format('amountRemaining')} > 0 AND {_J.format('dueDate')} < ns_today() "
    f"THEN CAST(julianday(ns_today()) - julianday({_J.format('dueDate')}) AS INTEGER) ELSE 0 END"
)
# A customer's open invoices. json_extract(body, '$.entity') matches the store's expression index, and
# (r.id || '') rather than CAST(r.id AS TEXT): a TEXT-affinity operand would stop SQLite using that index.
_OPEN_INVOICES = (
    "FROM ns_record i WHERE i.type = 'invoice' AND json_extract(i.body, '$.entity') = (r.id || '') "
    "AND json_extract(i.body, '$.amountRemaining') > 0"
)
_OVERDUE = "AND json_extract(i.body, '$.dueDate') < ns_today()"
_CUSTOMER_OVERDUE_BALANCE = (
    f"sql:(SELECT round(coalesce(sum(json_extract(i.body, '$.amountRemaining')), 0), 2) "
    f"{_OPEN_INVOICES} {_OVERDUE})"
)
_CUSTOMER_DAYS_OVERDUE = (
    "sql:(SELECT coalesce(max(CAST(julianday(ns_today()) - julianday(json_extract(i.body, '$.dueDate')) "
    f"AS INTEGER)), 0) {_OPEN_INVOICES} {_OVERDUE})"
)
_CUSTOMER_UNBILLED_ORDERS = (
    "sql:(SELECT round(coalesce(sum(json_extract(o.body, '$.total')), 0), 2) FROM ns_record o "
    "WHERE o.type = 'salesOrder' AND json_extract(o.body, '$.entity') = (r.id || '') "
    "AND json_extract(o.body, '$.status') NOT IN ('G', 'C', 'H'))"
)

# An accounting period is closed once its end date is before the sandbox clock's today.
_PERIOD_CLOSED = f"sql:CASE WHEN {_J.format('endDate')} < ns_today() THEN 'T' ELSE 'F' END"

TRANSACTION_COLUMNS = {
    "id": "id",
    "tranid": "tranId",
    "entity": "entity",
    "trandate": "tranDate",
    "currency": "currency",
    "subsidiary": "subsidiary",
    "status": "status",
    "externalid": "externalId",
    "otherrefnum": "otherRefNum",
    "memo": "memo",
    "foreigntotal": "total",
    "createddate": "createdDate",
    "lastmodifieddate": "lastModifiedDate",
    "duedate": "dueDate",
    "createdfrom": "createdFrom",
    "foreignamountremaining": "amountRemaining",
    "foreignamountunpaid": "amountRemaining",
    "foreignamountpaid": "amountPaid",
    "daysoverduesearch": "sql:NULL",  # only invoices fall overdue
    "trackingnumberlist": "sql:NULL",  # only item fulfillments have packages
}
_TRACKING_NUMBERS = (
    "sql:(SELECT group_concat(json_extract(p.value, '$.packageTrackingNumber'), ',') "
    "FROM json_each(r.body, '$.package') p WHERE json_extract(p.value, '$.packageTrackingNumber') <> '')"
)

ITEM_COLUMNS = {
    "id": "id",
    "itemid": "itemId",
    "displayname": "displayName",
    "description": "description",
    "baseprice": "basePrice",
    "itemtype": "sql:NULL",
    "isinactive": "isInactive",
    "externalid": "externalId",
    "createddate": "createdDate",
    "lastmodifieddate": "lastModifiedDate",
    "revenuerecognitionrule": "revenueRecognitionRule",
    "revrecterminmonths": "revRecTermInMonths",
}

# Revenue recognition rules (a simplified Advanced Revenue Management): built in, read-only. The item's
# rule says how the revenue of its sales order lines is recognised: at once, or straight-line over a term
# of whole months.
IMMEDIATE_RULE = "1"
STRAIGHT_LINE_RULE = "2"
RECOGNITION_METHODS = (("IMMEDIATE", "Immediate"), ("STRAIGHT_LINE", "Straight-line"))
DEFAULT_TERM_MONTHS = 12
MAX_TERM_MONTHS = 999  # planned revenue ids are the plan's id * 1000 + month
# The rule an item of each type gets on create when the client sends none. An item group has none and
# cannot have one: it has no revenue of its own (its lines are not expanded into its members).
DEFAULT_RULES = {
    INVENTORY_ITEM: IMMEDIATE_RULE,
    "nonInventorySaleItem": IMMEDIATE_RULE,
    "serviceSaleItem": STRAIGHT_LINE_RULE,
}


def _item_type(name: str, itemtype: str, *, grouped: bool = False) -> RecordType:
    """An item record type; ``itemtype`` is SuiteQL's item.itemtype. A group has members, not prices, and
    no revenue recognition rule (SuiteQL reads its revenuerecognitionrule as null)."""
    return RecordType(
        name,
        (
            ID,
            _f("itemId", required=True, max_length=250),
            _f("displayName", max_length=250),
            _f("description", max_length=4000),
            *(() if grouped else (_f("basePrice", Kind.NUMBER),)),
            *(
                ()
                if grouped
                else (
                    _f("revenueRecognitionRule", Kind.REF, ref_type="revRecRule"),
                    _f("revRecTermInMonths", Kind.INTEGER),
                )
            ),
            INACTIVE,
            EXTERNAL_ID,
            CREATED,
            MODIFIED,
        ),
        ref_name="{itemId}",
        id_sequence="item",
        sublists=(MEMBER_LINE,) if grouped else (PRICE_LINE,),
        custom_prefix="custitem_",
        suiteql=SuiteQLTable("item", {**ITEM_COLUMNS, "itemtype": f"sql:'{itemtype}'"}),
    )


# Accounting periods: the calendar years FIRST_PERIOD_YEAR..LAST_PERIOD_YEAR, each a year ("FY 2026"), its
# four quarters ("Q1 2026", parent: the year) and twelve months ("Jan 2026", parent: the quarter); only the
# months are posting periods. Seventeen periods a year, numbered in that order: see ``period_id``.
FIRST_PERIOD_YEAR = 2020
LAST_PERIOD_YEAR = 2035
PERIODS_PER_YEAR = 17
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def period_id(year: int, *, quarter: int | None = None, month: int | None = None) -> int | None:
    """The internal id of a year's period (no quarter or month), a quarter's (1-4) or a month's (1-12).

    With y = year - 2020: the year is 17y + 1, quarter q is 17y + 4q - 2 and month m (in quarter
    q = (m + 2) // 3) is 17y + m + q + 1: FY 2020 = 1, Q1 2020 = 2, Jan..Mar 2020 = 3..5, Q2 2020 = 6, ...,
    Dec 2020 = 17, FY 2021 = 18. None for a year without periods."""
    if not FIRST_PERIOD_YEAR <= year <= LAST_PERIOD_YEAR:
        return None
    base = PERIODS_PER_YEAR * (year - FIRST_PERIOD_YEAR)
    if month is not None:
        return base + month + (month + 2) // 3 + 1
    if quarter is not None:
        return base + 4 * quarter - 2
    return base + 1


def month_period_sql(index: str) -> str:
    """``period_id`` in SQL: the id of the month period of month ``index`` (an SQL integer expression,
    year * 12 + month - 1), NULL outside the years the sandbox has periods for."""
    year, month = f"(({index}) / 12)", f"(({index}) % 12 + 1)"
    return (
        f"CASE WHEN {year} BETWEEN {FIRST_PERIOD_YEAR} AND {LAST_PERIOD_YEAR} THEN "
        f"{PERIODS_PER_YEAR} * ({year} - {FIRST_PERIOD_YEAR}) + {month} + ({month} + 2) / 3 + 1 END"
    )


def _known(record_id: int | None) -> int:
    assert record_id is not None
    return record_id


def _accounting_periods() -> dict[int, dict[str, object]]:
    periods: dict[int, dict[str, object]] = {}

    def add(
        record_id: int, name: str, start: dt.date, end: dt.date, parent: int | None, *, kind: str
    ) -> None:
        periods[record_id] = {
            "periodName": name,
            "startDate": start.isoformat(),
            "endDate": end.isoformat(),
            "isYear": kind == "year",
            "isQuarter": kind == "quarter",
            "isAdjust": False,
            "isPosting": kind == "month",
            **({"parent": {"id": str(parent)}} if parent is not None else {}),
        }

    def month_end(year: int, month: int) -> dt.date:
        following = dt.date(year + month // 12, month % 12 + 1, 1)
        return following - dt.timedelta(days=1)

    for year in range(FIRST_PERIOD_YEAR, LAST_PERIOD_YEAR + 1):
        year_id = _known(period_id(year))
        add(year_id, f"FY {year}", dt.date(year, 1, 1), dt.date(year, 12, 31), None, kind="year")
        for quarter in range(1, 5):
            first = 3 * quarter - 2
            quarter_id = _known(period_id(year, quarter=quarter))
            start, end = dt.date(year, first, 1), month_end(year, first + 2)
            add(quarter_id, f"Q{quarter} {year}", start, end, year_id, kind="quarter")
            for month in range(first, first + 3):
                name = f"{_MONTHS[month - 1]} {year}"
                add(
                    _known(period_id(year, month=month)),
                    name,
                    dt.date(year, month, 1),
                    month_end(year, month),
                    quarter_id,
                    kind="month",
                )
    return periods


# Records every account has from the start (created at bootstrap and after a reset; not counted in the
# admin stats, never deleted): price level 1 "Base Price", the two revenue recognition rules and the
# accounting periods. A parent comes before its children (they are created in this order).
BASE_PRICE_LEVEL = "1"
BUILTIN_RECORDS: dict[str, dict[int, dict[str, object]]] = {
    "priceLevel": {int(BASE_PRICE_LEVEL): {"name": "Base Price", "isInactive": False}},
    "revRecRule": {
        int(IMMEDIATE_RULE): {"name": "Recognize Immediately", "recognitionMethod": "IMMEDIATE"},
        int(STRAIGHT_LINE_RULE): {"name": "Straight-line, by term", "recognitionMethod": "STRAIGHT_LINE"},
    },
    "accountingPeriod": _accounting_periods(),
}

RECORD_TYPES: dict[str, RecordType] = {
    t.name: t
    for t in (
        RecordType(
            "currency",
            (
                ID,
                _f("name", required=True, max_length=100),
                _f("symbol", required=True, max_length=3),
                _f("isBaseCurrency", Kind.BOOLEAN),
                _f("exchangeRate", Kind.NUMBER),
                INACTIVE,
                EXTERNAL_ID,
                CREATED,
                MODIFIED,
            ),
            ref_name="{name}",
            id_sequence="currency",
            suiteql=SuiteQLTable(
                "currency",
                {
                    "id": "id",
                    "name": "name",
                    "symbol": "symbol",
                    "isbasecurrency": "isBaseCurrency",
                    "exchangerate": "exchangeRate",
                    "isinactive": "isInactive",
                    "externalid": "externalId",
                },
            ),
        ),
        RecordType(
            "subsidiary",
            (
                ID,
                _f("name", required=True, max_length=83),
                _f("currency", Kind.REF, ref_type="currency", required=True),
                INACTIVE,
                EXTERNAL_ID,
                CREATED,
                MODIFIED,
            ),
            ref_name="{name}",
            id_sequence="subsidiary",
            suiteql=SuiteQLTable(
                "subsidiary",
                {
                    "id": "id",
                    "name": "name",
                    "currency": "currency",
                    "isinactive": "isInactive",
                    "externalid": "externalId",
                    "lastmodifieddate": "lastModifiedDate",
                },
            ),
        ),
        # Built in (``BUILTIN_RECORDS``), read-only. ``closed`` is computed on read from the sandbox clock:
        # a period is closed once its end date has passed, as if the accountant closed every period as soon
        # as it ended (a real account closes periods by hand, and locks A/R and A/P separately).
        RecordType(
            "accountingPeriod",
            (
                ID,
                _f("periodName", required=True, max_length=100),
                _f("startDate", Kind.DATE, required=True),
                _f("endDate", Kind.DATE, required=True),
                _f("isYear", Kind.BOOLEAN),
                _f("isQuarter", Kind.BOOLEAN),
                _f("isAdjust", Kind.BOOLEAN),
                _f("isPosting", Kind.BOOLEAN),
                _f("parent", Kind.REF, ref_type="accountingPeriod"),
                _f("closed", Kind.BOOLEAN, read_only=True),
                CREATED,
                MODIFIED,
            ),
            ref_name="{periodName}",
            id_sequence="accountingPeriod",
            read_only=True,
            suiteql=SuiteQLTable(
                "accountingperiod",
                {
                    "id": "id",
                    "periodname": "periodName",
                    "startdate": "startDate",
                    "enddate": "endDate",
                    "isquarter": "isQuarter",
                    "isyear": "isYear",
                    "isadjust": "isAdjust",
                    "isposting": "isPosting",
                    "parent": "parent",
                    "closed": _PERIOD_CLOSED,
                },
            ),
        ),
        # The rate of one currency in another for a posting period (what consolidation and reports use). At
        # most one per (postingPeriod, fromCurrency, toCurrency, fromSubsidiary, toSubsidiary); a real
        # account derives the currencies from the subsidiaries' and keeps one per subsidiary pair, the sandbox
        # takes them as given and does not check them against the subsidiaries.
        RecordType(
            "consolidatedExchangeRate",
            (
                ID,
                _f("postingPeriod", Kind.REF, ref_type="accountingPeriod", required=True),
                _f("fromCurrency", Kind.REF, ref_type="currency", required=True),
                _f("toCurrency", Kind.REF, ref_type="currency", required=True),
                _f("fromSubsidiary", Kind.REF, ref_type="subsidiary"),
                _f("toSubsidiary", Kind.REF, ref_type="subsidiary"),
                _f("averageRate", Kind.NUMBER, required=True),
                _f("currentRate", Kind.NUMBER),
                _f("historicalRate", Kind.NUMBER),
                EXTERNAL_ID,
                CREATED,
                MODIFIED,
            ),
            ref_name="Consolidated Exchange Rate {id}",
            id_sequence="consolidatedExchangeRate",
            suiteql=SuiteQLTable(
                "consolidatedexchangerate",
                {
                    "id": "id",
                    "postingperiod": "postingPeriod",
                    "fromcurrency": "fromCurrency",
                    "tocurrency": "toCurrency",
                    "fromsubsidiary": "fromSubsidiary",
                    "tosubsidiary": "toSubsidiary",
                    "averagerate": "averageRate",
                    "currentrate": "currentRate",
                    "historicalrate": "historicalRate",
                    "externalid": "externalId",
                },
            ),
        ),
        RecordType(
            "customer",
            (
                ID,
                _f("entityId", max_length=83),
                _f("companyName", required=True, max_length=83),
                _f("email", max_length=254),
                _f("phone", max_length=32),
                _f("url", max_length=100),  # "Web Address" in the UI
                _f("subsidiary", Kind.REF, ref_type="subsidiary", required=True),
                _f("currency", Kind.REF, ref_type="currency"),
                _f("creditLimit", Kind.NUMBER),
                _f("creditHoldOverride", Kind.ENUM, choices=CREDIT_HOLD),
                _f("balance", Kind.NUMBER, read_only=True),
                _f("overdueBalance", Kind.NUMBER, read_only=True),
                _f("daysOverdue", Kind.INTEGER, read_only=True),
                _f("unbilledOrders", Kind.NUMBER, read_only=True),
                _f("comments", max_length=999),
                INACTIVE,
                EXTERNAL_ID,
                _f("dateCreated", Kind.DATETIME, read_only=True),
                MODIFIED,
            ),
            ref_name="{entityId} {companyName}",
            id_sequence="entity",
            custom_prefix="custentity_",
            suiteql=SuiteQLTable(
                "customer",
                {
                    "id": "id",
                    "entityid": "entityId",
                    "companyname": "companyName",
                    "email": "email",
                    "phone": "phone",
                    "url": "url",
                    "subsidiary": "subsidiary",
                    "currency": "currency",
                    "creditlimit": "creditLimit",
                    "creditholdoverride": "creditHoldOverride",
                    "balance": "balance",
                    "balancesearch": "balance",
                    "overduebalancesearch": _CUSTOMER_OVERDUE_BALANCE,
                    "daysoverduesearch": _CUSTOMER_DAYS_OVERDUE,
                    "unbilledorderssearch": _CUSTOMER_UNBILLED_ORDERS,
                    "isinactive": "isInactive",
                    "externalid": "externalId",
                    "datecreated": "dateCreated",
                    "lastmodifieddate": "lastModifiedDate",
                    # A custom entity field is a SuiteQL column under its script id, as on a real
                    # account; this is the one q2c reads (the Salesforce account id).
                    "custentity_sf_account_id": "custentity_sf_account_id",
                },
            ),
        ),
        RecordType(
            "contact",
            (
                ID,
                _f("entityId", max_length=83),
                _f("firstName", max_length=32),
                _f("lastName", max_length=32),
                _f("email", max_length=254),
                _f("phone", max_length=32),
                _f("company", Kind.REF, ref_type="customer"),
                _f("subsidiary", Kind.REF, ref_type="subsidiary", required=True),
                INACTIVE,
                EXTERNAL_ID,
                _f("dateCreated", Kind.DATETIME, read_only=True),
                MODIFIED,
            ),
            ref_name="{entityId}",
            id_sequence="entity",
            custom_prefix="custentity_",
            suiteql=SuiteQLTable(
                "contact",
                {
                    "id": "id",
                    "entityid": "entityId",
                    "firstname": "firstName",
                    "lastname": "lastName",
                    "email": "email",
                    "company": "company",
                    "subsidiary": "subsidiary",
                    "isinactive": "isInactive",
                    "externalid": "externalId",
                    "lastmodifieddate": "lastModifiedDate",
                },
            ),
        ),
        _item_type(INVENTORY_ITEM, "InvtPart"),
        _item_type("nonInventorySaleItem", "NonInvtPart"),
        _item_type("serviceSaleItem", "Service"),
        _item_type("itemGroup", "Group", grouped=True),
        RecordType(
            "priceLevel",
            (ID, _f("name", required=True, max_length=50), INACTIVE, EXTERNAL_ID, CREATED, MODIFIED),
            ref_name="{name}",
            id_sequence="priceLevel",
            suiteql=SuiteQLTable(
                "pricelevel",
                {"id": "id", "name": "name", "isinactive": "isInactive", "externalid": "externalId"},
            ),
        ),
        RecordType(
            "revRecRule",
            (
                ID,
                _f("name", required=True, max_length=100),
                _f("recognitionMethod", Kind.ENUM, choices=RECOGNITION_METHODS, required=True),
                CREATED,
                MODIFIED,
            ),
            ref_name="{name}",
            id_sequence="revRecRule",
            read_only=True,
            suiteql=SuiteQLTable(
                "revenuerecognitionrule",
                {"id": "id", "name": "name", "recognitionmethod": "recognitionMethod"},
            ),
        ),
        RecordType(
            "location",
            (
                ID,
                _f("name", required=True, max_length=31),
                _f("subsidiary", Kind.REF, ref_type="subsidiary", required=True),
                INACTIVE,
                EXTERNAL_ID,
                CREATED,
                MODIFIED,
            ),
            ref_name="{name}",
            id_sequence="location",
            suiteql=SuiteQLTable(
                "location",
                {
                    "id": "id",
                    "name": "name",
                    "subsidiary": "subsidiary",
                    "isinactive": "isInactive",
                    "externalid": "externalId",
                    "lastmodifieddate": "lastModifiedDate",
                },
            ),
        ),
        RecordType(
            "salesOrder",
            (
                ID,
                _f("tranId", read_only=True),
                _f("entity", Kind.REF, ref_type="customer", required=True),
                _f("tranDate", Kind.DATE),
                _f("currency", Kind.REF, ref_type="currency"),
                _f("exchangeRate", Kind.NUMBER),
                _f("subsidiary", Kind.REF, ref_type="subsidiary"),
                _f("status", Kind.ENUM, choices=SALES_ORDER_STATUS, read_only=True),
                _f("otherRefNum", max_length=45),
                _f("memo", max_length=999),
                _f("subtotal", Kind.NUMBER, read_only=True),
                _f("total", Kind.NUMBER, read_only=True),
                EXTERNAL_ID,
                CREATED,
                MODIFIED,
            ),
            ref_name="Sales Order #{tranId}",
            id_sequence="transaction",
            sublists=(ORDER_LINE,),
            custom_prefix="custbody_",
            tran_id_prefix="SO",
            suiteql=SuiteQLTable("transaction", TRANSACTION_COLUMNS, type_code="SalesOrd", lines="item"),
            stock=(
                StockEffect("item", "quantityCommitted", "committed"),
                StockEffect("item", "quantityBackOrdered", "back_ordered"),
            ),
        ),
        RecordType(
            "invoice",
            (
                ID,
                _f("tranId", read_only=True),
                _f("entity", Kind.REF, ref_type="customer", required=True),
                _f("tranDate", Kind.DATE),
                _f("dueDate", Kind.DATE),
                _f("currency", Kind.REF, ref_type="currency"),
                _f("exchangeRate", Kind.NUMBER),
                _f("subsidiary", Kind.REF, ref_type="subsidiary"),
                _f("createdFrom", Kind.REF, ref_type="salesOrder"),
                _f("status", Kind.ENUM, choices=INVOICE_STATUS, read_only=True),
                _f("otherRefNum", max_length=45),
                _f("memo", max_length=999),
                _f("subtotal", Kind.NUMBER, read_only=True),
                _f("total", Kind.NUMBER, read_only=True),
                _f("amountPaid", Kind.NUMBER, read_only=True),
                _f("amountRemaining", Kind.NUMBER, read_only=True),
                _f("daysOverdue", Kind.INTEGER, read_only=True),  # computed on read from the clock
                EXTERNAL_ID,
                CREATED,
                MODIFIED,
            ),
            ref_name="Invoice #{tranId}",
            id_sequence="transaction",
            sublists=(INVOICE_LINE,),
            custom_prefix="custbody_",
            tran_id_prefix="INV",
            suiteql=SuiteQLTable(
                "transaction",
                {**TRANSACTION_COLUMNS, "daysoverduesearch": _INVOICE_DAYS_OVERDUE},
                type_code="CustInvc",
                lines="item",
            ),
        ),
        RecordType(
            "creditMemo",
            (
                ID,
                _f("tranId", read_only=True),
                _f("entity", Kind.REF, ref_type="customer", required=True),
                _f("tranDate", Kind.DATE),
                _f("currency", Kind.REF, ref_type="currency"),
                _f("exchangeRate", Kind.NUMBER),
                _f("subsidiary", Kind.REF, ref_type="subsidiary"),
                _f("createdFrom", Kind.REF, ref_type="invoice"),
                _f("status", Kind.ENUM, choices=CREDIT_MEMO_STATUS, read_only=True),
                _f("otherRefNum", max_length=45),
                _f("memo", max_length=999),
                _f("subtotal", Kind.NUMBER, read_only=True),
                _f("total", Kind.NUMBER, read_only=True),
                _f("applied", Kind.NUMBER, read_only=True),
                _f("unapplied", Kind.NUMBER, read_only=True),
                _f("amountRemaining", Kind.NUMBER, read_only=True),  # = unapplied
                EXTERNAL_ID,
                CREATED,
                MODIFIED,
            ),
            ref_name="Credit Memo #{tranId}",
            id_sequence="transaction",
            sublists=(ITEM_LINE, APPLY_LINE),
            custom_prefix="custbody_",
            tran_id_prefix="CM",
            suiteql=SuiteQLTable(
                "transaction",
                {**TRANSACTION_COLUMNS, "foreignamountpaid": "applied"},
                type_code="CustCred",
                lines="item",
            ),
        ),
        RecordType(
            "customerPayment",
            (
                ID,
                _f("tranId", read_only=True),
                _f("customer", Kind.REF, ref_type="customer", required=True),
                _f("tranDate", Kind.DATE),
                _f("currency", Kind.REF, ref_type="currency"),
                _f("exchangeRate", Kind.NUMBER),
                _f("subsidiary", Kind.REF, ref_type="subsidiary"),
                _f("payment", Kind.NUMBER, required=True),
                _f("applied", Kind.NUMBER, read_only=True),
                _f("unapplied", Kind.NUMBER, read_only=True),
                _f("status", Kind.ENUM, choices=PAYMENT_STATUS, read_only=True),
                _f("memo", max_length=999),
                EXTERNAL_ID,
                CREATED,
                MODIFIED,
            ),
            ref_name="Payment #{tranId}",
            id_sequence="transaction",
            sublists=(APPLY_LINE,),
            custom_prefix="custbody_",
            tran_id_prefix="PYMT",
            suiteql=SuiteQLTable(
                "transaction",
                {**TRANSACTION_COLUMNS, "entity": "customer", "foreigntotal": "payment"},
                type_code="CustPymt",
            ),
        ),
        RecordType(
            "itemFulfillment",
            (
                ID,
                _f("tranId", read_only=True),
                _f("entity", Kind.REF, ref_type="customer", read_only=True),  # the order's customer
                _f("tranDate", Kind.DATE),  # the ship date
                _f("subsidiary", Kind.REF, ref_type="subsidiary", read_only=True),
                _f("createdFrom", Kind.REF, ref_type="salesOrder", required=True),
                _f("shipStatus", Kind.ENUM, choices=SHIP_STATUS),
                _f("status", Kind.ENUM, choices=SHIP_STATUS, read_only=True),  # = shipStatus
                _f("memo", max_length=999),
                EXTERNAL_ID,
                CREATED,
                MODIFIED,
            ),
            ref_name="Item Fulfillment #{tranId}",
            id_sequence="transaction",
            sublists=(FULFILLMENT_LINE, PACKAGE_LINE),
            custom_prefix="custbody_",
            tran_id_prefix="IF",
            suiteql=SuiteQLTable(
                "transaction",
                {**TRANSACTION_COLUMNS, "trackingnumberlist": _TRACKING_NUMBERS},
                type_code="ItemShip",
                lines="item",
            ),
            stock=(StockEffect("item", "quantity", "on_hand", sign=-1),),
            transform_only=True,
        ),
        RecordType(
            "inventoryAdjustment",
            (
                ID,
                _f("tranId", read_only=True),
                _f("tranDate", Kind.DATE),
                _f("subsidiary", Kind.REF, ref_type="subsidiary", required=True),
                _f("memo", max_length=999),
                EXTERNAL_ID,
                CREATED,
                MODIFIED,
            ),
            ref_name="Inventory Adjustment #{tranId}",
            id_sequence="transaction",
            sublists=(ADJUSTMENT_LINE,),
            custom_prefix="custbody_",
            tran_id_prefix="ADJ",
            suiteql=SuiteQLTable(
                "transaction",
                TRANSACTION_COLUMNS,
                type_code="InvAdjst",
                lines="inventory",
                line_quantity="adjustQtyBy",
            ),
            stock=(StockEffect("inventory", "adjustQtyBy", "on_hand"),),
        ),
    )
}


def record_type(name: str) -> RecordType | None:
    return RECORD_TYPES.get(name)
