"""Stock: balances per (inventory item, location), sales order commitments and item fulfillments.

Balances live in the store's ``ns_stock`` and are the sum of every stored transaction's declared
``StockEffect`` (records): inventory adjustments add on hand, item fulfillments take it away, sales order
lines hold their committed and back-ordered quantities. ``apply_stock`` adds the difference between a
record's new and previous contribution on every write and delete, so every write path (record API,
transforms, admin loads, deletes) keeps the balances consistent. On order comes from expected receipts
(``service.expect``), which the sandbox clock turns into adjustments.

A sales order line of an inventory item commits min(open quantity, available) at its location whenever the
order is saved; the rest is back-ordered. When stock becomes free at a location (a receipt, a released
commitment) ``settle`` commits back-orders there, oldest order first. A closed line and a cancelled,
billed or closed order commit nothing.

Everything runs inside the store transaction of the write that triggered it.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from q2c_sandbox.netsuite.codec import format_datetime
from q2c_sandbox.netsuite.errors import user_error
from q2c_sandbox.netsuite.records import INVENTORY_ITEM, RECORD_TYPES, RecordType
from q2c_sandbox.netsuite.store import STOCK_DECIMALS, Body

if TYPE_CHECKING:
    from q2c_sandbox.netsuite.business import Context

# Item types a fulfillment ships. A service item is not fulfilled (as on an account where service items are
# not "Can be Fulfilled"); an item group ships as its one order line, never expanded into its members.
FULFILLABLE = (INVENTORY_ITEM, "nonInventorySaleItem", "itemGroup")
# Sales order statuses with nothing left to commit or fulfil.
FINISHED_ORDER = {"C": "cancelled", "G": "billed", "H": "closed"}
SALES_ORDER = "salesOrder"
FULFILLMENT = "itemFulfillment"
ADJUSTMENT = "inventoryAdjustment"

StockKey = tuple[str, str]  # (item id, location id)


def qty(value: Any) -> float:
    return round(float(value or 0.0) + 0.0, STOCK_DECIMALS)


def _n(value: float) -> str:
    """A quantity in a message: 5, 2.5."""
    return f"{value:g}"


def free_stock(ctx: Context, item: str, location: str) -> float:
    """On hand minus committed at the location."""
    s = ctx.store.stock(int(item), int(location))
    return qty(s["on_hand"] - s["committed"])


# -- balances -----------------------------------------------------------------------------------------


def _contributions(ctx: Context, rt: RecordType, body: Body | None) -> dict[StockKey, dict[str, float]]:
    out: dict[StockKey, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    if body is None:
        return out
    for effect in rt.stock:
        for line in body.get(effect.sublist) or []:
            amount, item, location = line.get(effect.quantity), line.get("item"), line.get("location")
            if not amount or item is None or location is None:
                continue
            if ctx.item_type(item) != INVENTORY_ITEM:
                continue  # only inventory items hold stock
            out[(item, location)][effect.balance] += effect.sign * amount
    return out


def apply_stock(ctx: Context, rt: RecordType, body: Body | None, previous: Body | None) -> None:
    """Move the balances by the difference between the record's new and previous stock effects."""
    if not rt.stock:
        return
    new, old = _contributions(ctx, rt, body), _contributions(ctx, rt, previous)
    for key in new.keys() | old.keys():
        delta = {}
        for balance in new.get(key, {}).keys() | old.get(key, {}).keys():
            change = qty(new.get(key, {}).get(balance, 0.0) - old.get(key, {}).get(balance, 0.0))
            if change:
                delta[balance] = change
        if delta:
            ctx.store.add_stock(int(key[0]), int(key[1]), delta)
            ctx.touched.add(key)


def settle(ctx: Context) -> None:
    """Commit back-orders wherever stock became free, oldest order first, until nothing more can move."""
    if ctx.settling:
        return
    ctx.settling = True
    try:
        while ctx.touched:
            item, location = ctx.touched.pop()
            balance = ctx.store.stock(int(item), int(location))
            if balance["back_ordered"] <= 0 or qty(balance["on_hand"] - balance["committed"]) <= 0:
                continue  # nothing waits, or nothing is free
            for order_id in ctx.store.backordered_orders(int(item), int(location)):
                if free_stock(ctx, item, location) <= 0:
                    break
                if resave_order(ctx, str(order_id)):
                    ctx.committed_orders.append(str(order_id))
    finally:
        ctx.settling = False


def after_write(ctx: Context, rt: RecordType, body: Body | None, previous: Body | None) -> None:
    apply_stock(ctx, rt, body, previous)
    if rt.name == FULFILLMENT:
        # The order's fulfilled quantities (and so its commitments and status) follow its fulfillments.
        for record in (body, previous):
            if record is not None and record.get("createdFrom"):
                resave_order(ctx, record["createdFrom"])
    settle(ctx)


# -- sales orders -------------------------------------------------------------------------------------


def default_location(ctx: Context, subsidiary: str | None) -> str | None:
    """The first active location of the subsidiary, else the first active location, else none."""
    active = [loc for loc in ctx.store.all("location") if not loc.get("isInactive")]
    for loc in active:
        if loc.get("subsidiary") == subsidiary:
            return str(loc["id"])
    return str(active[0]["id"]) if active else None


def default_line_locations(ctx: Context, body: Body) -> None:
    lines = [line for line in body.get("item") or [] if line.get("location") is None]
    if lines:
        location = default_location(ctx, body.get("subsidiary"))
        for line in lines:
            if location is not None:
                line["location"] = location


def fulfilled_by_line(ctx: Context, order_id: str) -> dict[int, float]:
    done: dict[int, float] = defaultdict(float)
    for fulfillment in ctx.store.find(FULFILLMENT, "createdFrom", order_id):
        for line in fulfillment.get("item") or []:
            if line.get("orderLine") is not None:
                done[int(line["orderLine"])] += line.get("quantity") or 0.0
    return {line: qty(q) for line, q in done.items()}


def compute_order(ctx: Context, body: Body, previous: Body | None) -> None:
    """Fulfilled quantities (from the order's fulfillments), status, and each line's commitment."""
    lines: list[Body] = body.get("item") or []
    tran_id = body.get("tranId") or "(new)"
    fulfilled = fulfilled_by_line(ctx, body["id"]) if previous is not None else {}
    index_of = {line.get("line"): index for index, line in enumerate(lines)}
    before = {line.get("line"): line for line in (previous or {}).get("item") or []}
    for number, done in sorted(fulfilled.items()):
        if number not in index_of:
            raise user_error(
                f"Line {number} of sales order {tran_id} has been fulfilled ({_n(done)}) and cannot be removed.",
                "item",
            )
        index = index_of[number]
        line, old = lines[index], before.get(number)
        if old is not None and old.get("item") != line.get("item"):
            raise user_error(
                f"Line {number} of sales order {tran_id} has been fulfilled ({_n(done)}); its item cannot "
                "be changed.",
                f"item.items[{index}].item",
            )
        if qty(line.get("quantity")) < done:
            raise user_error(
                f"Line {number} of sales order {tran_id}: the quantity {_n(qty(line.get('quantity')))} is "
                f"less than the {_n(done)} already fulfilled.",
                f"item.items[{index}].quantity",
            )
    types = {line.get("line"): ctx.item_type(line.get("item")) for line in lines}
    for line in lines:
        line["quantityFulfilled"] = fulfilled.get(int(line.get("line") or 0), 0.0)
    body["status"] = order_status(body, types)
    _allocate(ctx, body, previous, types)


def order_status(body: Body, types: dict[Any, str | None]) -> str:
    status = body.get("status") or "B"
    if status in ("G", "C"):
        return str(status)  # billed and cancelled orders stay so
    lines: list[Body] = body.get("item") or []
    if lines and all(line.get("isClosed") for line in lines):
        return "H"
    waiting = [
        line for line in lines if not line.get("isClosed") and types.get(line.get("line")) in FULFILLABLE
    ]
    if all(line["quantityFulfilled"] >= qty(line.get("quantity")) for line in waiting):
        return "F"  # Pending Billing: everything to ship has shipped (or nothing needs shipping)
    if any(line["quantityFulfilled"] > 0 for line in lines):
        return "E"  # Pending Billing/Partially Fulfilled
    return "B"  # Pending Fulfillment


def _allocate(ctx: Context, body: Body, previous: Body | None, types: dict[Any, str | None]) -> None:
    committing = body.get("status") not in FINISHED_ORDER
    # What this order held before the write is free for it again.
    own: dict[StockKey, float] = defaultdict(float)
    for line in (previous or {}).get("item") or []:
        if line.get("location") is not None and line.get("quantityCommitted"):
            own[(line["item"], line["location"])] += line["quantityCommitted"]
    taken: dict[StockKey, float] = defaultdict(float)
    free: dict[StockKey, float] = {}
    for line in body.get("item") or []:
        if types.get(line.get("line")) != INVENTORY_ITEM:
            line.pop("quantityCommitted", None)
            line.pop("quantityBackOrdered", None)
            continue
        open_quantity = 0.0
        if committing and not line.get("isClosed"):
            open_quantity = max(0.0, qty(qty(line.get("quantity")) - line["quantityFulfilled"]))
        committed = 0.0
        location = line.get("location")
        if open_quantity > 0 and location is not None:
            key = (line["item"], location)
            if key not in free:
                free[key] = free_stock(ctx, *key) + own[key]
            committed = max(0.0, min(open_quantity, qty(free[key] - taken[key])))
            taken[key] += committed
        line["quantityCommitted"] = qty(committed)
        line["quantityBackOrdered"] = qty(open_quantity - committed)


def resave_order(ctx: Context, order_id: str, change: Callable[[Body], None] | None = None) -> bool:
    """Recompute a sales order after something else moved (a fulfillment, a receipt, billing) and store it
    when it changed, bumping its lastModifiedDate. Not a client edit: no validation of its fields."""
    previous = ctx.get(SALES_ORDER, order_id)
    if previous is None:
        return False
    body = copy.deepcopy(previous)
    if change is not None:
        change(body)
    compute_order(ctx, body, previous)
    if body == previous:
        return False
    body["lastModifiedDate"] = format_datetime(ctx.now())
    ctx.store.put(SALES_ORDER, int(order_id), body)
    apply_stock(ctx, RECORD_TYPES[SALES_ORDER], body, previous)
    return True


# -- item fulfillments --------------------------------------------------------------------------------


def fulfillment_from_order(ctx: Context, order: Body) -> Body:
    """The item fulfillment NetSuite pre-fills when a sales order is transformed: every open quantity that
    can ship now (an inventory line: what is committed to it, plus free stock at its location)."""
    prefill: Body = {k: order[k] for k in ("entity", "subsidiary") if order.get(k) is not None}
    prefill["createdFrom"] = order["id"]
    if order.get("status") in FINISHED_ORDER:
        return prefill  # refused by check_fulfillment, which says why
    lines = []
    free: dict[StockKey, float] = {}
    for line in order.get("item") or []:
        item_type = ctx.item_type(line.get("item"))
        if line.get("isClosed") or item_type not in FULFILLABLE:
            continue
        remaining = qty(qty(line.get("quantity")) - qty(line.get("quantityFulfilled")))
        location = line.get("location")
        if item_type == INVENTORY_ITEM:
            if location is None:
                continue
            key = (line["item"], location)
            if key not in free:
                free[key] = max(0.0, free_stock(ctx, *key))
            mine = qty(line.get("quantityCommitted"))
            remaining = min(remaining, qty(mine + free[key]))
            free[key] = qty(free[key] - max(0.0, remaining - mine))
        if remaining > 0:
            new: Body = {"orderLine": line["line"], "quantity": remaining}
            if location is not None:
                new["location"] = location
            lines.append(new)
    prefill["item"] = lines
    return prefill


def _line_key(body: Body) -> list[tuple[Any, ...]]:
    return [
        tuple(line.get(k) for k in ("line", "orderLine", "item", "quantity", "location"))
        for line in body.get("item") or []
    ]


def check_fulfillment(ctx: Context, body: Body, previous: Body | None) -> None:
    body.setdefault("shipStatus", "C")
    body["status"] = body["shipStatus"]
    order = ctx.get(SALES_ORDER, body.get("createdFrom"))
    if order is None:
        return  # a missing reference is reported before this
    tran_id = order.get("tranId")
    if previous is not None:
        if previous.get("createdFrom") != body.get("createdFrom") or _line_key(previous) != _line_key(body):
            raise user_error(
                f"The item lines of item fulfillment {previous.get('tranId')} cannot be changed (its ship "
                "status, date, memo and packages can): delete it and fulfil the order again.",
                "item",
            )
        return
    state = FINISHED_ORDER.get(order.get("status") or "")
    if state is not None:
        raise user_error(f"Sales order {tran_id} is {state}; nothing on it can be fulfilled.", "createdFrom")
    lines: list[Body] = body.get("item") or []
    if not lines:
        raise user_error(
            f"Sales order {tran_id} has nothing to fulfil now: every line is fulfilled, closed, a service "
            "item, or back-ordered (waiting for stock).",
            "item",
        )
    by_line = {line.get("line"): line for line in order.get("item") or []}
    asked: dict[int, float] = defaultdict(float)
    own: dict[int, float] = {}
    free: dict[StockKey, float] = {}
    for index, line in enumerate(lines):
        path = f"item.items[{index}]"
        number = line.get("orderLine")
        ordered_line = by_line.get(number)
        if ordered_line is None:
            raise user_error(
                f"Line {index + 1} of the item sublist: sales order {tran_id} has no line {number}.",
                f"{path}.orderLine",
            )
        number = int(ordered_line["line"])
        item_id = ordered_line["item"]
        item_type = ctx.item_type(item_id)
        where = f"Line {number} of sales order {tran_id} (item {ctx.ref_name('item', item_id)[1]})"
        if ordered_line.get("isClosed"):
            raise user_error(f"{where} is closed and cannot be fulfilled.", f"{path}.orderLine")
        if item_type not in FULFILLABLE:
            raise user_error(
                f"{where} is a service item; service items are not fulfilled.", f"{path}.orderLine"
            )
        line["item"] = item_id
        if line.get("location") is None and ordered_line.get("location") is not None:
            line["location"] = ordered_line["location"]
        if ordered_line.get("description"):
            line["description"] = ordered_line["description"]
        ordered = qty(ordered_line.get("quantity"))
        done = qty(qty(ordered_line.get("quantityFulfilled")) + asked[number])
        remaining = qty(ordered - done)
        quantity = remaining if line.get("quantity") is None else qty(line["quantity"])
        if quantity <= 0:
            raise user_error(
                f"{where}: the quantity to fulfil must be greater than zero, not {_n(quantity)}.",
                f"{path}.quantity",
            )
        if quantity > remaining:
            raise user_error(
                f"{where}: cannot fulfil {_n(quantity)}; {_n(ordered)} ordered, {_n(done)} already "
                f"fulfilled, {_n(remaining)} remaining.",
                f"{path}.quantity",
            )
        if item_type == INVENTORY_ITEM:
            location = line.get("location")
            if location is None:
                raise user_error(f"{where}: enter the location to fulfil it from.", f"{path}.location")
            key = (item_id, location)
            if key not in free:
                free[key] = max(0.0, free_stock(ctx, *key))
            mine = own.setdefault(number, qty(ordered_line.get("quantityCommitted")))
            if ordered_line.get("location") != location:
                mine = 0.0
            if quantity > qty(mine + free[key]):
                on_hand = ctx.store.stock(int(item_id), int(location))["on_hand"]
                raise user_error(
                    f"{where}: cannot fulfil {_n(quantity)} from location "
                    f"{ctx.ref_name('location', location)[1]}: {_n(mine)} is committed to the line and "
                    f"{_n(free[key])} more is available there (on hand {_n(on_hand)}).",
                    f"{path}.quantity",
                )
            from_own = min(quantity, mine)
            if ordered_line.get("location") == location:
                own[number] = qty(mine - from_own)
            free[key] = qty(free[key] - (quantity - from_own))
        asked[number] += quantity
        line["quantity"] = quantity


# -- inventory adjustments ----------------------------------------------------------------------------


def check_delete(ctx: Context, rt: RecordType, previous: Body) -> None:
    """Deleting an adjustment takes its stock away again: refused where that stock has been shipped."""
    if rt.name == ADJUSTMENT:
        _check_on_hand(ctx, {}, previous)


def check_adjustment(ctx: Context, body: Body, previous: Body | None) -> None:
    lines: list[Body] = body.get("inventory") or []
    if not lines:
        raise user_error(
            "You must enter at least one line (the inventory sublist of the inventory adjustment is empty).",
            "inventory",
        )
    for index, line in enumerate(lines):
        path = f"inventory.items[{index}]"
        if ctx.item_type(line.get("item")) != INVENTORY_ITEM:
            raise user_error(
                f"Line {index + 1} of the inventory sublist: item {ctx.ref_name('item', line['item'])[1]} is "
                "not an inventory item; only inventory items hold stock.",
                f"{path}.item",
            )
        if not line.get("adjustQtyBy"):
            raise user_error(
                f"Line {index + 1} of the inventory sublist: the quantity to adjust by cannot be zero.",
                f"{path}.adjustQtyBy",
            )
    _check_on_hand(ctx, body, previous)


def _check_on_hand(ctx: Context, body: Body, previous: Body | None) -> None:
    change: dict[StockKey, float] = defaultdict(float)
    for line in body.get("inventory") or []:
        change[(line["item"], line["location"])] += line["adjustQtyBy"]
    for line in (previous or {}).get("inventory") or []:
        change[(line["item"], line["location"])] -= line.get("adjustQtyBy") or 0.0
    for (item, location), delta in change.items():
        on_hand = ctx.store.stock(int(item), int(location))["on_hand"]
        if qty(on_hand + delta) < 0:
            raise user_error(
                f"The adjustment would leave item {ctx.ref_name('item', item)[1]} below zero on hand at "
                f"location {ctx.ref_name('location', location)[1]} ({_n(on_hand)} on hand, adjusted by "
                f"{_n(qty(delta))}).",
                "inventory",
            )
