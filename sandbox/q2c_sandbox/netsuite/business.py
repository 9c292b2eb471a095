"""NetSuite's business behaviour for the sandbox's record types.

Defaults (entityId, tranId, currency from the customer, line locations), validation NetSuite performs on
save (active customer and items, matching subsidiary and currency, one price per level, currency and
quantity break), computed fields (line amounts and rates from the price matrix, totals, amount
remaining, customer balance), credit holds, and the sales order -> invoice and invoice -> credit memo
transforms. Stock, commitments and fulfillments are in ``inventory``. Everything runs inside the store
transaction of the write that triggered it.

Amounts that only change with a write (amountRemaining, status, balance) are stored; amounts that
change with the date (daysOverdue, overdueBalance) are computed on read from the sandbox clock, so
moving the clock changes them without touching lastModifiedDate - as on a real account.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from q2c_sandbox.netsuite import inventory
from q2c_sandbox.netsuite.account import CreditLimitHandling, Preferences
from q2c_sandbox.netsuite.errors import NsError, invalid_content, user_error
from q2c_sandbox.netsuite.records import (
    BASE_PRICE_LEVEL,
    DEFAULT_RULES,
    DEFAULT_TERM_MONTHS,
    ITEM_TYPES,
    MAX_TERM_MONTHS,
    RECORD_TYPES,
    STRAIGHT_LINE_RULE,
    RecordType,
    record_type,
    ref_targets,
)
from q2c_sandbox.netsuite.store import Body, Store

INVOICE_TERMS_DAYS = 30  # Net 30: the sandbox has no terms records
# Transactions applied to invoices through an apply sublist; both reduce the invoice's amountRemaining.
APPLYING_TYPES = ("customerPayment", "creditMemo")
# Sales order statuses that are no longer waiting to be billed (Billed, Cancelled, Closed).
NOT_UNBILLED = ("G", "C", "H")
TRAN_ID_START = 1001


@dataclass
class Context:
    store: Store
    now: Callable[[], dt.datetime]
    # Stock keys (item, location) whose balances moved during the current write; ``inventory.settle``
    # drains them. committed_orders: the orders settling committed stock to (for the admin answer).
    touched: set[tuple[str, str]] = field(default_factory=set)
    settling: bool = False
    committed_orders: list[str] = field(default_factory=list)

    def today(self) -> dt.date:
        return self.now().astimezone(dt.UTC).date()

    def get(self, type_name: str, record_id: str | None) -> Body | None:
        if record_id is None:
            return None
        return self.store.get(type_name, int(record_id))

    def item_type(self, record_id: str | None) -> str | None:
        """The record type of item ``record_id`` (ids are unique across the item types)."""
        if record_id is None or not str(record_id).isdigit():
            return None
        return self.store.type_of(ITEM_TYPES, int(record_id))

    def item(self, record_id: str | None) -> tuple[RecordType, Body] | None:
        type_name = self.item_type(record_id)
        body = self.get(type_name, record_id) if type_name is not None else None
        return None if type_name is None or body is None else (RECORD_TYPES[type_name], body)

    def ref_name(self, type_name: str, record_id: str) -> tuple[str, str | None]:
        """(the record type, its refName) of a reference of ``type_name`` (a family such as "item" is
        resolved to the type the record has); refName None when the record does not exist."""
        targets = ref_targets(type_name)
        if not record_id.lstrip("-").isdigit():
            return targets[0], None
        if len(targets) > 1:
            found = self.store.type_of(targets, int(record_id))
            if found is None:
                return targets[0], None
            type_name = found
        rt = record_type(type_name)
        body = self.get(type_name, record_id)
        if rt is None or body is None:
            return type_name, None
        return type_name, format_ref_name(rt, body)


def format_ref_name(rt: RecordType, body: Body) -> str:
    values = {f.name: body.get(f.name) or "" for f in rt.fields}
    return rt.ref_name.format(**values).strip()


def money(value: float) -> float:
    return round(value + 0.0, 2)


# -- defaults, applied before required fields are checked ----------------------------------------------


def apply_defaults(ctx: Context, rt: RecordType, body: Body, record_id: int, creating: bool) -> None:
    if rt.name == "currency" and creating:
        body.setdefault("exchangeRate", 1.0)
        body.setdefault("isBaseCurrency", False)
    elif rt.name == "customer" and creating:
        body.setdefault("entityId", f"CUST{record_id}")
        body.setdefault("creditHoldOverride", "AUTO")
        body.setdefault("balance", 0.0)
        subsidiary = ctx.get("subsidiary", body.get("subsidiary"))
        if "currency" not in body and subsidiary is not None and subsidiary.get("currency"):
            body["currency"] = subsidiary["currency"]
    elif rt.name == "contact" and creating:
        company = ctx.get("customer", body.get("company"))
        if "subsidiary" not in body and company is not None:
            body["subsidiary"] = company.get("subsidiary")
        name = " ".join(p for p in (body.get("firstName"), body.get("lastName")) if p)
        body.setdefault("entityId", name or f"CONTACT{record_id}")
    elif rt.name in ("salesOrder", "invoice", "customerPayment", "creditMemo"):
        party_field = "customer" if rt.name == "customerPayment" else "entity"
        party = ctx.get("customer", body.get(party_field))
        if creating:
            body.setdefault("tranDate", ctx.today().isoformat())
        if party is not None:
            body.setdefault("subsidiary", party.get("subsidiary"))
            body.setdefault("currency", party.get("currency"))
        currency = ctx.get("currency", body.get("currency"))
        if currency is not None and "exchangeRate" not in body:
            body["exchangeRate"] = currency.get("exchangeRate", 1.0)
        if rt.name == "invoice" and body.get("tranDate"):
            if "dueDate" not in body:
                due = dt.date.fromisoformat(body["tranDate"]) + dt.timedelta(days=INVOICE_TERMS_DAYS)
                body["dueDate"] = due.isoformat()
        if rt.name == "salesOrder":
            inventory.default_line_locations(ctx, body)
    elif rt.name == "itemFulfillment":
        order = ctx.get("salesOrder", body.get("createdFrom"))
        if creating:
            body.setdefault("tranDate", ctx.today().isoformat())
        if order is not None:
            body["entity"] = order.get("entity")
            body["subsidiary"] = order.get("subsidiary")
    elif rt.name == "inventoryAdjustment":
        if creating:
            body.setdefault("tranDate", ctx.today().isoformat())
        first = next(iter(body.get("inventory") or []), None)
        location = ctx.get("location", first.get("location")) if first else None
        if "subsidiary" not in body and location is not None:
            body["subsidiary"] = location.get("subsidiary")
    if rt.name in DEFAULT_RULES and creating:
        body.setdefault("revenueRecognitionRule", DEFAULT_RULES[rt.name])
    if rt.field("revenueRecognitionRule") is not None:
        # A straight-line item needs a term: 12 months unless it says otherwise.
        straight_line = body.get("revenueRecognitionRule") == STRAIGHT_LINE_RULE
        if straight_line and body.get("revRecTermInMonths") is None:
            body["revRecTermInMonths"] = DEFAULT_TERM_MONTHS
    if rt.sublist("price") is not None:
        for line in body.get("price") or []:
            line.setdefault("quantity", 0.0)
    if rt.sublist("member") is not None:
        for line in body.get("member") or []:
            line.setdefault("quantity", 1.0)


def assign_tran_id(ctx: Context, rt: RecordType, body: Body) -> None:
    if rt.tran_id_prefix is not None and not body.get("tranId"):
        number = ctx.store.next_value(f"tranId:{rt.name}", start=TRAN_ID_START)
        body["tranId"] = f"{rt.tran_id_prefix}{number}"


# -- validation and computed fields, after required fields are known present ------------------------


def validate_and_compute(
    ctx: Context, rt: RecordType, body: Body, previous: Body | None, *, check_credit_hold: bool = True
) -> None:
    if rt.name == "salesOrder":
        _check_party(ctx, rt, body, "entity")
        if previous is None and check_credit_hold:
            _check_credit_hold(ctx, body)
        _compute_lines(ctx, rt, body)
        for index, line in enumerate(body.get("item") or []):
            _check_term(line.get("revRecTermInMonths"), f"item.items[{index}].revRecTermInMonths")
        # Status (every line closed: Closed; then by what is fulfilled) and each line's commitment.
        inventory.compute_order(ctx, body, previous)
    elif rt.name == "itemFulfillment":
        inventory.check_fulfillment(ctx, body, previous)
    elif rt.name == "inventoryAdjustment":
        inventory.check_adjustment(ctx, body, previous)
    elif rt.name in ITEM_TYPES:
        _check_prices(body)
        _check_members(ctx, body)
        _check_term(body.get("revRecTermInMonths"), "revRecTermInMonths")
    elif rt.name == "consolidatedExchangeRate":
        _check_exchange_rate(ctx, body)
    elif rt.name == "invoice":
        _check_party(ctx, rt, body, "entity")
        _check_created_from(ctx, body)
        _compute_lines(ctx, rt, body)
        _compute_invoice_amounts(ctx, body)
    elif rt.name == "customerPayment":
        _check_party(ctx, rt, body, "customer")
        if body["payment"] <= 0:
            raise user_error("The payment amount must be greater than zero.", "payment")
        _compute_applications(ctx, rt, body, "customer", body["payment"])
        body.setdefault("status", "B")
    elif rt.name == "creditMemo":
        _check_party(ctx, rt, body, "entity")
        _check_credited_invoice(ctx, body)
        _compute_lines(ctx, rt, body)
        _compute_applications(ctx, rt, body, "entity", body["total"])
        body["amountRemaining"] = body["unapplied"]
        body["status"] = "B" if body["unapplied"] <= 0 else "A"
    elif rt.name == "customer":
        if body.get("creditLimit") is not None and body["creditLimit"] < 0:
            raise user_error("The credit limit of a customer cannot be negative.", "creditLimit")
    elif rt.name == "currency" and body.get("exchangeRate") is not None and body["exchangeRate"] <= 0:
        raise user_error(
            f"The exchange rate of currency {body.get('symbol')} must be greater than zero.", "exchangeRate"
        )


def _check_term(term: int | None, path: str) -> None:
    if term is not None and not 1 <= term <= MAX_TERM_MONTHS:
        raise user_error(
            f"The revenue recognition term ({path}) must be between 1 and {MAX_TERM_MONTHS} months, not {term}.",
            path,
        )


RATE_FIELDS = ("averageRate", "currentRate", "historicalRate")
# What identifies a consolidated exchange rate: one per period, currency pair and subsidiary pair.
RATE_KEY = ("postingPeriod", "fromCurrency", "toCurrency", "fromSubsidiary", "toSubsidiary")


def _check_exchange_rate(ctx: Context, body: Body) -> None:
    period = ctx.get("accountingPeriod", body.get("postingPeriod"))
    if period is not None and not period.get("isPosting"):
        kind = "a year" if period.get("isYear") else "a quarter" if period.get("isQuarter") else "not a month"
        raise invalid_content(
            f"Error while accessing a resource. You have entered an Invalid Field Value {period['id']} for the "
            f"following field: postingPeriod ({period.get('periodName')} is {kind}; a consolidated exchange "
            "rate needs a posting period, a month).",
            "postingPeriod",
        )
    for name in RATE_FIELDS:
        if body.get(name) is not None and body[name] <= 0:
            raise user_error(f"The {name} of a consolidated exchange rate must be greater than zero.", name)
    if body.get("fromCurrency") == body.get("toCurrency"):
        raise user_error(
            "The fromCurrency and toCurrency of a consolidated exchange rate must differ (both are internal "
            f"id {body.get('toCurrency')}).",
            "toCurrency",
        )
    key = tuple(body.get(name) for name in RATE_KEY)
    for other in ctx.store.find("consolidatedExchangeRate", "postingPeriod", str(body["postingPeriod"])):
        if other["id"] != body.get("id") and tuple(other.get(name) for name in RATE_KEY) == key:
            raise user_error(
                "A consolidated exchange rate already exists for this posting period, currencies and "
                f"subsidiaries (internal id {other['id']}); change that one instead of adding a duplicate.",
                "postingPeriod",
            )


def _label(rt: RecordType) -> str:
    return {
        "salesOrder": "sales order",
        "customerPayment": "customer payment",
        "creditMemo": "credit memo",
    }.get(rt.name, rt.name)


def _check_party(ctx: Context, rt: RecordType, body: Body, party_field: str) -> None:
    party = ctx.get("customer", body.get(party_field))
    if party is None:
        return  # a missing reference is reported by the reference check before this
    name = format_ref_name(RECORD_TYPES["customer"], party)
    if party.get("isInactive"):
        raise user_error(
            f"The customer {name} (internal id {party['id']}) is inactive; a {_label(rt)} needs an active "
            "customer.",
            party_field,
        )
    if body.get("subsidiary") != party.get("subsidiary"):
        raise user_error(
            f"The subsidiary (internal id {body.get('subsidiary')}) of this {_label(rt)} does not match the "
            f"subsidiary (internal id {party.get('subsidiary')}) of customer {name}.",
            "subsidiary",
        )
    subsidiary = ctx.get("subsidiary", body.get("subsidiary"))
    if subsidiary is not None and subsidiary.get("isInactive"):
        raise user_error(f"The subsidiary {subsidiary.get('name')} is inactive.", "subsidiary")
    if party.get("currency") and body.get("currency") != party.get("currency"):
        raise user_error(
            f"The currency (internal id {body.get('currency')}) of this {_label(rt)} is not the currency "
            f"(internal id {party.get('currency')}) of customer {name}.",
            "currency",
        )


def _check_created_from(ctx: Context, body: Body) -> None:
    order = ctx.get("salesOrder", body.get("createdFrom"))
    if order is not None and order.get("entity") != body.get("entity"):
        raise user_error(
            f"The invoice's customer (internal id {body.get('entity')}) is not the customer of sales order "
            f"{order.get('tranId')} it was created from.",
            "createdFrom",
        )


def _check_credited_invoice(ctx: Context, body: Body) -> None:
    invoice = ctx.get("invoice", body.get("createdFrom"))
    if invoice is not None and invoice.get("entity") != body.get("entity"):
        raise user_error(
            f"The credit memo's customer (internal id {body.get('entity')}) is not the customer of invoice "
            f"{invoice.get('tranId')} it was created from.",
            "createdFrom",
        )


# -- credit holds -------------------------------------------------------------------------------------


def credit_hold_reason(ctx: Context, customer: Body, prefs: Preferences | None = None) -> str | None:
    """Why the customer is on credit hold, or None. NetSuite shows this only as a refusal: there is no
    body field for it, but every input (creditHoldOverride, creditLimit, balance, daysOverdue and the
    threshold preference) can be read."""
    prefs = prefs or Preferences.load(ctx.store)
    override = customer.get("creditHoldOverride") or "AUTO"
    if override == "ON":
        return "its credit hold (creditHoldOverride) is set to On"
    if override == "OFF":
        return None
    overdue = _overdue_invoices(ctx, customer["id"])
    threshold = prefs.credit_hold_days_overdue
    late = [(days, invoice) for days, invoice in overdue if days > threshold]
    if late:
        days, invoice = max(late, key=lambda pair: pair[0])
        return (
            f"invoice {invoice.get('tranId')} is {days} days overdue, more than the {threshold} days "
            "overdue allowed by the Days Overdue for Warning/Hold preference"
        )
    limit = customer.get("creditLimit")
    balance = customer.get("balance") or 0.0
    if limit is not None and balance > limit:
        return f"its balance {money(balance)} exceeds its credit limit {money(limit)}"
    return None


def _check_credit_hold(ctx: Context, body: Body) -> None:
    customer = ctx.get("customer", body.get("entity"))
    if customer is None:
        return
    prefs = Preferences.load(ctx.store)
    if prefs.credit_limit_handling is not CreditLimitHandling.ENFORCE_HOLDS:
        return  # Warn Only / Ignore: web services save the order (the UI would show a warning)
    reason = credit_hold_reason(ctx, customer, prefs)
    if reason is not None:
        name = format_ref_name(RECORD_TYPES["customer"], customer)
        raise user_error(
            f"Customer is on credit hold. Customer {name} (internal id {customer['id']}) cannot get a new "
            f"sales order: {reason}.",
            "entity",
        )


def _overdue_invoices(ctx: Context, customer_id: str) -> list[tuple[int, Body]]:
    """(days overdue, invoice) for the customer's open invoices past their due date, per the clock."""
    today = ctx.today()
    found = []
    for invoice in ctx.store.find("invoice", "entity", customer_id):
        days = invoice_days_overdue(invoice, today)
        if days > 0:
            found.append((days, invoice))
    return found


def invoice_days_overdue(invoice: Body, today: dt.date) -> int:
    if (invoice.get("amountRemaining") or 0.0) <= 0 or not invoice.get("dueDate"):
        return 0
    return max(0, (today - dt.date.fromisoformat(invoice["dueDate"])).days)


def _compute_lines(ctx: Context, rt: RecordType, body: Body) -> None:
    lines: list[dict[str, Any]] = body.get("item") or []
    if not lines:
        raise user_error(
            f"You must enter at least one line item for this transaction (the item sublist of the "
            f"{_label(rt)} is empty).",
            "item",
        )
    subtotal = 0.0
    for index, line in enumerate(lines):
        path = f"item.items[{index}]"
        found = ctx.item(line.get("item"))
        if found is None:
            continue
        item_rt, item = found
        if item.get("isInactive"):
            raise user_error(
                f"Line {index + 1} of the item sublist: item {item.get('itemId')} (internal id {item['id']}) "
                "is inactive and cannot be added to a transaction.",
                f"{path}.item",
            )
        quantity = line.get("quantity")
        if quantity is None:
            quantity = line["quantity"] = 1.0
        rate = line.get("rate")
        if rate is None:
            if line.get("amount") is not None:
                rate = line["rate"] = money(line["amount"] / quantity) if quantity else line["amount"]
            elif item_rt.sublist("price") is None:
                raise user_error(
                    f"Line {index + 1} of the item sublist: enter a rate or an amount; item group "
                    f"{item.get('itemId')} has no price of its own (the sandbox does not expand item groups "
                    "into their members).",
                    f"{path}.rate",
                )
            elif (default := default_rate(item, body.get("currency"))) is not None:
                rate = line["rate"] = default
            else:
                raise user_error(
                    f"Line {index + 1} of the item sublist: enter a rate or an amount; item "
                    f"{item.get('itemId')} has no base price (no basePrice and no Base Price row for currency "
                    f"internal id {body.get('currency')} at quantity 0).",
                    f"{path}.rate",
                )
        if line.get("amount") is None:
            line["amount"] = money(quantity * rate)
        if line.get("description") is None and (item.get("description") or item.get("displayName")):
            line["description"] = item.get("description") or item.get("displayName")
        subtotal += line["amount"]
    body["subtotal"] = money(subtotal)
    body["total"] = money(subtotal)  # the sandbox charges no tax or shipping


def default_rate(item: Body, currency: str | None) -> float | None:
    """A line's rate when the client gives none: the item's basePrice, else its Base Price (level 1) row
    in the transaction's currency at quantity 0."""
    if item.get("basePrice") is not None:
        return float(item["basePrice"])
    for line in item.get("price") or []:
        if (
            line.get("priceLevel") == BASE_PRICE_LEVEL
            and line.get("currency") == currency
            and not line.get("quantity")
        ):
            return float(line["price"])
    return None


def _check_prices(body: Body) -> None:
    seen: dict[tuple[Any, Any, float], int] = {}
    for index, line in enumerate(body.get("price") or []):
        path = f"price.items[{index}]"
        if line["price"] < 0:
            raise user_error(
                f"Line {index + 1} of the price sublist: a price cannot be negative.", f"{path}.price"
            )
        if line["quantity"] < 0:
            raise user_error(
                f"Line {index + 1} of the price sublist: the quantity break cannot be negative.",
                f"{path}.quantity",
            )
        key = (line["priceLevel"], line["currency"], float(line["quantity"]))
        if key in seen:
            raise user_error(
                f"Line {index + 1} of the price sublist repeats line {seen[key] + 1}: item "
                f"{body.get('itemId')} already has a price for price level (internal id {key[0]}), currency "
                f"(internal id {key[1]}) and quantity {key[2]:g}; one line per level, currency and quantity "
                "(send ?replace=price to rewrite the price matrix).",
                f"{path}.quantity",
            )
        seen[key] = index


def _check_members(ctx: Context, body: Body) -> None:
    for index, line in enumerate(body.get("member") or []):
        path = f"member.items[{index}]"
        if line.get("item") == body.get("id"):
            raise user_error(
                f"Line {index + 1} of the member sublist: an item group cannot contain itself.", path
            )
        if ctx.item_type(line.get("item")) == "itemGroup":
            raise user_error(
                f"Line {index + 1} of the member sublist: an item group cannot contain another item group.",
                f"{path}.item",
            )
        if line["quantity"] <= 0:
            raise user_error(
                f"Line {index + 1} of the member sublist: the quantity must be greater than zero.",
                f"{path}.quantity",
            )


def _applied_to(ctx: Context, invoice_id: str, excluding: str | None = None) -> float:
    """What payments and credit memos (other than transaction ``excluding``) apply to the invoice."""
    paid = 0.0
    for type_name in APPLYING_TYPES:
        for record in ctx.store.find_in_sublist(type_name, "apply", "doc", invoice_id):
            if record["id"] == excluding:
                continue
            for line in record.get("apply") or []:
                if line.get("doc") == invoice_id and line.get("apply", True):
                    paid += line.get("amount") or 0.0
    return money(paid)


def _compute_invoice_amounts(ctx: Context, body: Body) -> None:
    paid = _applied_to(ctx, body["id"]) if body.get("id") else 0.0
    if paid > body["total"]:
        raise user_error(
            f"The invoice total {body['total']} is less than the {paid} already paid or credited against it.",
            "item",
        )
    body["amountPaid"] = paid
    body["amountRemaining"] = money(body["total"] - paid)
    body["status"] = "B" if body["amountRemaining"] <= 0 else "A"


def _compute_applications(
    ctx: Context, rt: RecordType, body: Body, party_field: str, available: float
) -> None:
    """Check and complete the apply sublist of a payment or credit memo worth ``available``."""
    label = _label(rt)
    applied = 0.0
    for index, line in enumerate(body.get("apply") or []):
        path = f"apply.items[{index}]"
        invoice = ctx.get("invoice", line.get("doc"))
        if invoice is None:
            continue
        if invoice.get("entity") != body.get(party_field):
            raise user_error(
                f"Line {index + 1} of the apply sublist: invoice {invoice.get('tranId')} belongs to another "
                f"customer than this {label}.",
                f"{path}.doc",
            )
        line.setdefault("apply", True)
        if not line["apply"]:
            continue
        open_amount = money(invoice["total"] - _applied_to(ctx, invoice["id"], body.get("id")))
        if line.get("amount") is None:
            line["amount"] = money(max(0.0, min(open_amount, available - applied)))
        if line["amount"] < 0:
            raise user_error(
                f"Line {index + 1} of the apply sublist: the amount cannot be negative.", f"{path}.amount"
            )
        if line["amount"] > open_amount:
            raise user_error(
                f"Line {index + 1} of the apply sublist: {line['amount']} exceeds the {open_amount} still "
                f"due on invoice {invoice.get('tranId')}.",
                f"{path}.amount",
            )
        applied += line["amount"]
    if money(applied) > available:
        what = "payment amount" if rt.name == "customerPayment" else "credit memo total"
        raise user_error(
            f"The applied amounts ({money(applied)}) of this {label} exceed its {what} ({available}).",
            "apply",
        )
    body["applied"] = money(applied)
    body["unapplied"] = money(available - applied)


# -- effects on other records -------------------------------------------------------------------------


def after_write(ctx: Context, rt: RecordType, body: Body | None, previous: Body | None) -> None:
    """Recompute what depends on the record just saved or deleted (``body`` is None for a delete)."""
    touched_customers: set[str] = set()
    for record in (body, previous):
        if record is None:
            continue
        if rt.name in APPLYING_TYPES:
            touched_customers.add(record.get("customer" if rt.name == "customerPayment" else "entity") or "")
            for line in record.get("apply") or []:
                if line.get("doc"):
                    _refresh_invoice(ctx, line["doc"])
        elif rt.name == "invoice":
            touched_customers.add(record.get("entity") or "")
    for customer_id in touched_customers - {""}:
        _refresh_balance(ctx, customer_id)
    inventory.after_write(ctx, rt, body, previous)


def _refresh_invoice(ctx: Context, invoice_id: str) -> None:
    invoice = ctx.get("invoice", invoice_id)
    if invoice is None:
        return
    # A payment or credit memo applied to the invoice changes its amounts: that is an edit of the invoice
    # (lastModifiedDate moves), unlike the passing of time.
    before = (invoice.get("amountPaid"), invoice.get("status"))
    _compute_invoice_amounts(ctx, invoice)
    if (invoice.get("amountPaid"), invoice.get("status")) != before:
        invoice["lastModifiedDate"] = _stamp(ctx)
        ctx.store.put("invoice", int(invoice_id), invoice)
        _refresh_balance(ctx, invoice.get("entity") or "")


def _refresh_balance(ctx: Context, customer_id: str) -> None:
    customer = ctx.get("customer", customer_id)
    if customer is None:
        return
    open_amount = sum(
        i.get("amountRemaining") or 0.0 for i in ctx.store.find("invoice", "entity", customer_id)
    )
    unapplied = sum(
        p.get("unapplied") or 0.0 for p in ctx.store.find("customerPayment", "customer", customer_id)
    ) + sum(c.get("unapplied") or 0.0 for c in ctx.store.find("creditMemo", "entity", customer_id))
    balance = money(open_amount - unapplied)
    if customer.get("balance") != balance:
        # A balance change is not an edit of the customer: lastModifiedDate stays as it was.
        customer["balance"] = balance
        ctx.store.put("customer", int(customer_id), customer)


def read_extras(ctx: Context, rt: RecordType, body: Body) -> None:
    """Fields NetSuite computes at read time because they depend on today's date (the sandbox clock)."""
    today = ctx.today()
    if rt.name == "invoice":
        body["daysOverdue"] = invoice_days_overdue(body, today)
        return
    if rt.name == "accountingPeriod":
        # Closed once it has ended, as if the accountant closed each period right after its end.
        body["closed"] = bool(body.get("endDate")) and body["endDate"] < today.isoformat()
        return
    if rt.name != "customer":
        return
    overdue = _overdue_invoices(ctx, body["id"])
    body["overdueBalance"] = money(sum(invoice.get("amountRemaining") or 0.0 for _, invoice in overdue))
    body["daysOverdue"] = max((days for days, _ in overdue), default=0)
    body["unbilledOrders"] = money(
        sum(
            order.get("total") or 0.0
            for order in ctx.store.find("salesOrder", "entity", body["id"])
            if order.get("status") not in NOT_UNBILLED
        )
    )
    body.setdefault("balance", 0.0)


def _stamp(ctx: Context) -> str:
    return ctx.now().astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- transforms ---------------------------------------------------------------------------------------

LINE_FIELDS_COPIED = ("item", "quantity", "rate", "amount", "description")


def invoice_from_order(ctx: Context, order: Body) -> Body:
    """The invoice NetSuite pre-fills when a sales order is transformed (billed)."""
    existing = ctx.store.find("invoice", "createdFrom", order["id"])
    if existing:
        raise NsError(
            400,
            "USER_ERROR",
            f"Sales order {order.get('tranId')} has already been billed by invoice "
            f"{existing[0].get('tranId')} (internal id {existing[0]['id']}).",
        )
    if order.get("status") in ("C", "H"):
        raise user_error(f"Sales order {order.get('tranId')} is closed or cancelled and cannot be billed.")
    invoice: Body = {
        k: order[k]
        for k in ("entity", "currency", "exchangeRate", "subsidiary", "otherRefNum", "memo")
        if order.get(k) is not None
    }
    invoice.update({k: v for k, v in order.items() if k.startswith("custbody_")})
    invoice["createdFrom"] = order["id"]
    # Closed lines are not billed.
    invoice["item"] = [
        {k: v for k, v in line.items() if k in LINE_FIELDS_COPIED or k.startswith("custcol_")}
        | {"orderLine": line.get("line")}
        for line in order.get("item") or []
        if not line.get("isClosed")
    ]
    return invoice


def credit_memo_from_invoice(ctx: Context, invoice: Body) -> Body:
    """The credit memo NetSuite pre-fills when an invoice is credited: its lines, applied to it."""
    memo: Body = {
        k: invoice[k]
        for k in ("entity", "currency", "exchangeRate", "subsidiary", "otherRefNum", "memo")
        if invoice.get(k) is not None
    }
    memo.update({k: v for k, v in invoice.items() if k.startswith("custbody_")})
    memo["createdFrom"] = invoice["id"]
    memo["item"] = [
        {k: v for k, v in line.items() if k in LINE_FIELDS_COPIED or k.startswith("custcol_")}
        for line in invoice.get("item") or []
    ]
    # The amount is left open: it becomes the smaller of what is still due and the credit's total.
    memo["apply"] = (
        [{"doc": invoice["id"], "apply": True}] if (invoice.get("amountRemaining") or 0) > 0 else []
    )
    return memo


def mark_billed(ctx: Context, order: Body) -> None:
    """One invoice bills the whole order, whatever has been fulfilled: the order is Billed, and what its
    lines still had committed or back-ordered is released."""

    def billed(body: Body) -> None:
        body["status"] = "G"

    inventory.resave_order(ctx, order["id"], billed)
    inventory.settle(ctx)
