"""NetSuite's business behaviour for the sandbox's record types.

Defaults (entityId, tranId, currency from the customer), validation NetSuite performs on save (active
customer and items, matching subsidiary and currency), computed fields (line amounts, totals, amount
remaining, customer balance) and the sales order -> invoice transform. Everything runs inside the
store transaction of the write that triggered it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from q2c.sandbox.netsuite.errors import NsError, user_error
from q2c.sandbox.netsuite.records import RECORD_TYPES, RecordType, record_type
from q2c.sandbox.netsuite.store import Body, Store

TRANSACTIONS_WITH_LINES = ("salesOrder", "invoice")
INVOICE_TERMS_DAYS = 30  # Net 30: the sandbox has no terms records
TRAN_ID_START = 1001


@dataclass
class Context:
    store: Store
    now: Callable[[], dt.datetime]

    def today(self) -> dt.date:
        return self.now().date()

    def get(self, type_name: str, record_id: str | None) -> Body | None:
        if record_id is None:
            return None
        return self.store.get(type_name, int(record_id))

    def ref_name(self, type_name: str, record_id: str) -> str | None:
        rt = record_type(type_name)
        body = self.get(type_name, record_id) if record_id.lstrip("-").isdigit() else None
        if rt is None or body is None:
            return None
        return format_ref_name(rt, body)


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
    elif rt.name in ("salesOrder", "invoice", "customerPayment"):
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


def assign_tran_id(ctx: Context, rt: RecordType, body: Body) -> None:
    if rt.tran_id_prefix is not None and not body.get("tranId"):
        number = ctx.store.next_value(f"tranId:{rt.name}", start=TRAN_ID_START)
        body["tranId"] = f"{rt.tran_id_prefix}{number}"


# -- validation and computed fields, after required fields are known present ------------------------


def validate_and_compute(ctx: Context, rt: RecordType, body: Body, previous: Body | None) -> None:
    if rt.name == "salesOrder":
        _check_party(ctx, rt, body, "entity")
        _compute_lines(ctx, rt, body)
        body.setdefault("status", "B")
    elif rt.name == "invoice":
        _check_party(ctx, rt, body, "entity")
        _check_created_from(ctx, body)
        _compute_lines(ctx, rt, body)
        _compute_invoice_amounts(ctx, body)
    elif rt.name == "customerPayment":
        _check_party(ctx, rt, body, "customer")
        _compute_payment(ctx, body)
    elif rt.name == "customer":
        if body.get("creditLimit") is not None and body["creditLimit"] < 0:
            raise user_error("The credit limit of a customer cannot be negative.", "creditLimit")
    elif rt.name == "currency" and body.get("exchangeRate") is not None and body["exchangeRate"] <= 0:
        raise user_error(
            f"The exchange rate of currency {body.get('symbol')} must be greater than zero.", "exchangeRate"
        )


def _label(rt: RecordType) -> str:
    return {"salesOrder": "sales order", "customerPayment": "customer payment"}.get(rt.name, rt.name)


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
        item = ctx.get("inventoryItem", line.get("item"))
        if item is None:
            continue
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
            elif item.get("basePrice") is not None:
                rate = line["rate"] = item["basePrice"]
            else:
                raise user_error(
                    f"Line {index + 1} of the item sublist: enter a rate or an amount; item "
                    f"{item.get('itemId')} has no base price.",
                    f"{path}.rate",
                )
        if line.get("amount") is None:
            line["amount"] = money(quantity * rate)
        if line.get("description") is None and (item.get("description") or item.get("displayName")):
            line["description"] = item.get("description") or item.get("displayName")
        subtotal += line["amount"]
    body["subtotal"] = money(subtotal)
    body["total"] = money(subtotal)  # the sandbox charges no tax or shipping


def _payments_applied_to(ctx: Context, invoice_id: str, excluding_payment: str | None = None) -> float:
    paid = 0.0
    for payment in ctx.store.find_in_sublist("customerPayment", "apply", "doc", invoice_id):
        if payment["id"] == excluding_payment:
            continue
        for line in payment.get("apply") or []:
            if line.get("doc") == invoice_id and line.get("apply", True):
                paid += line.get("amount") or 0.0
    return money(paid)


def _compute_invoice_amounts(ctx: Context, body: Body) -> None:
    paid = _payments_applied_to(ctx, body["id"]) if body.get("id") else 0.0
    if paid > body["total"]:
        raise user_error(
            f"The invoice total {body['total']} is less than the {paid} already paid against it.", "item"
        )
    body["amountPaid"] = paid
    body["amountRemaining"] = money(body["total"] - paid)
    body["status"] = "B" if body["amountRemaining"] <= 0 else "A"


def _compute_payment(ctx: Context, body: Body) -> None:
    payment = body["payment"]
    if payment <= 0:
        raise user_error("The payment amount must be greater than zero.", "payment")
    applied = 0.0
    for index, line in enumerate(body.get("apply") or []):
        path = f"apply.items[{index}]"
        invoice = ctx.get("invoice", line.get("doc"))
        if invoice is None:
            continue
        if invoice.get("entity") != body.get("customer"):
            raise user_error(
                f"Line {index + 1} of the apply sublist: invoice {invoice.get('tranId')} belongs to another "
                "customer than this payment.",
                f"{path}.doc",
            )
        line.setdefault("apply", True)
        if not line["apply"]:
            continue
        open_amount = money(invoice["total"] - _payments_applied_to(ctx, invoice["id"], body.get("id")))
        if line.get("amount") is None:
            line["amount"] = money(max(0.0, min(open_amount, payment - applied)))
        if line["amount"] > open_amount:
            raise user_error(
                f"Line {index + 1} of the apply sublist: {line['amount']} exceeds the {open_amount} still "
                f"due on invoice {invoice.get('tranId')}.",
                f"{path}.amount",
            )
        applied += line["amount"]
    if money(applied) > payment:
        raise user_error(
            f"The applied amounts ({money(applied)}) exceed the payment amount ({payment}).", "payment"
        )
    body["applied"] = money(applied)
    body["unapplied"] = money(payment - applied)
    body.setdefault("status", "B")


# -- effects on other records -------------------------------------------------------------------------


def after_write(ctx: Context, rt: RecordType, body: Body | None, previous: Body | None) -> None:
    """Recompute what depends on the record just saved or deleted (``body`` is None for a delete)."""
    touched_customers: set[str] = set()
    for record in (body, previous):
        if record is None:
            continue
        if rt.name == "customerPayment":
            touched_customers.add(record.get("customer") or "")
            for line in record.get("apply") or []:
                if line.get("doc"):
                    _refresh_invoice(ctx, line["doc"])
        elif rt.name == "invoice":
            touched_customers.add(record.get("entity") or "")
    for customer_id in touched_customers - {""}:
        _refresh_balance(ctx, customer_id)


def _refresh_invoice(ctx: Context, invoice_id: str) -> None:
    invoice = ctx.get("invoice", invoice_id)
    if invoice is None:
        return
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
    )
    balance = money(open_amount - unapplied)
    if customer.get("balance") != balance:
        # A balance change is not an edit of the customer: lastModifiedDate stays as it was.
        customer["balance"] = balance
        ctx.store.put("customer", int(customer_id), customer)


def read_extras(ctx: Context, rt: RecordType, body: Body) -> None:
    """Fields NetSuite computes at read time because they depend on today's date."""
    if rt.name != "customer":
        return
    today = ctx.today()
    overdue = 0.0
    oldest: dt.date | None = None
    for invoice in ctx.store.find("invoice", "entity", body["id"]):
        remaining = invoice.get("amountRemaining") or 0.0
        due = dt.date.fromisoformat(invoice["dueDate"]) if invoice.get("dueDate") else None
        if remaining > 0 and due is not None and due < today:
            overdue += remaining
            oldest = due if oldest is None or due < oldest else oldest
    body["overdueBalance"] = money(overdue)
    body["daysOverdue"] = (today - oldest).days if oldest is not None else 0
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
    invoice["item"] = [
        {k: v for k, v in line.items() if k in LINE_FIELDS_COPIED or k.startswith("custcol_")}
        for line in order.get("item") or []
    ]
    return invoice


def mark_billed(ctx: Context, order: Body) -> None:
    # The sandbox has no item fulfilments, so one invoice bills the whole order.
    order["status"] = "G"
    order["lastModifiedDate"] = _stamp(ctx)
    ctx.store.put("salesOrder", int(order["id"]), order)
