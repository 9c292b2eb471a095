"""The sandbox's admin API under /__admin: fixtures, inspection and knobs for tests.

Guarded by the admin key only (never TBA), not counted against the concurrency limit, not logged.

Besides these routes the app mounts the shared ``/faults`` and ``/latency`` (``q2c_sandbox.faults``):
``PUT /latency`` takes {"fixed_seconds", "jitter_seconds", "seed"} or the older {"seconds": S}.

  GET /clock           {"now": ISO, "today": "YYYY-MM-DD", "offset_seconds": s}
  PUT /clock           {"now": "2026-12-24T09:00:00Z"} or {"advance_days": 31} / {"advance_seconds": 90};
                       never backwards (400)
  GET /preferences     {"credit_hold_days_overdue": 30, "credit_limit_handling": "ENFORCE_HOLDS"}
  PUT /preferences     either or both keys; credit_limit_handling ENFORCE_HOLDS | WARN | IGNORE
  PUT /concurrency     {"limit": N}
  POST /reset          wipes records, the clock offset, the preferences, stock, expected receipts and the
                       fault rules (latency and the concurrency limit stay as set); the built-in
                       records are created again: the Base Price level (priceLevel 1), the revenue
                       recognition rules and the accounting periods 2020-2035

Stock (inventory items only; ids as strings or numbers, quantities positive numbers):

  GET /inventory?item=ID          {"balances": [{"item", "location", "on_hand", "committed", "available",
                                  "on_order", "back_ordered"}, ...], "expected": [...]}: every (item,
                                  location) stock ever moved at; without ?item= all of them
  POST /inventory/receive         {"item", "location", "quantity"}: on hand rises now through an
                                  inventoryAdjustment (SuiteQL type InvAdjst), then back-orders at the
                                  location are committed from it, oldest order first. Answers
                                  {"adjustment": id, "tranId", "committed_orders": [ids], "balances"}
  POST /inventory/expect          {"item", "location", "quantity", "date": "YYYY-MM-DD"}: quantityonorder
                                  rises now; once the sandbox clock reaches the date (PUT /clock, or noticed
                                  on the next request) it is received as above, dated that day. Answers
                                  {"expected": {"id", ...}, "received": null or the receipt, "balances"}

Latency and the concurrency limit are also kept across restarts (``AdminKnobs``, in
``<database>.admin.json``) and announced in the log when restored.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from q2c_sandbox.common import ADMIN_PREFIX, AdminKnobs, RequestLog, admin_endpoint
from q2c_sandbox.faults import FaultPlan
from q2c_sandbox.netsuite.account import Preferences, SandboxClock, SettingError
from q2c_sandbox.netsuite.errors import NsError
from q2c_sandbox.netsuite.gate import ApiGate
from q2c_sandbox.netsuite.service import RecordService


@dataclass
class AdminError(Exception):
    message: str
    status: int = 400
    extra: dict[str, Any] | None = None

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"error": "bad_request", "message": self.message, **(self.extra or {})}, self.status
        )


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise AdminError(f"the body is not valid JSON: {exc}") from None


def build_admin_routes(
    admin_key: str,
    gate: ApiGate,
    service: RecordService,
    request_log: RequestLog,
    clock: SandboxClock,
    faults: FaultPlan,
    knobs: AdminKnobs,
) -> list[Route]:
    def route(path: str, handler: Any, methods: list[str]) -> Route:
        async def safe(request: Request) -> Response:
            try:
                service.receive_due()  # expected receipts whose date the clock has reached
                return await handler(request)
            except AdminError as err:
                return err.response()
            except SettingError as err:
                return AdminError(str(err)).response()

        return Route(f"{ADMIN_PREFIX}{path}", admin_endpoint(admin_key, safe), methods=methods)

    async def reset(request: Request) -> Response:
        clock.reset()
        service.reset()
        faults.clear()
        gate.verifier.nonces.clear()
        gate.login_audit.entries.clear()
        request_log.clear()
        return JSONResponse({"ok": True})

    async def load(request: Request) -> Response:
        data = await _json(request)
        records = data.get("records") if isinstance(data, dict) else None
        if not isinstance(records, dict):
            raise AdminError('the body must be {"records": {"<recordType>": [{...}, ...], ...}}')
        ids: dict[str, list[str]] = {}
        try:
            with service.store.transaction():
                for type_name, items in records.items():
                    rt = service.record_type(type_name)
                    if not isinstance(items, list):
                        raise AdminError(f"records.{type_name} must be a list of records")
                    for index, item in enumerate(items):
                        ids.setdefault(type_name, []).append(_load_one(service, rt.name, index, item))
        except NsError as err:
            # NsError from record_type(): an unknown type, reported like the per-record failures.
            raise AdminError(
                f"cannot load: {err.detail}", extra={"o:errorDetails": err.body()["o:errorDetails"]}
            ) from None
        return JSONResponse({"ids": ids})

    async def records_of(request: Request) -> Response:
        try:
            rt = service.record_type(request.path_params["type"])
        except NsError as err:
            raise AdminError(err.detail, status=404) from None
        base = f"{request.url.scheme}://{request.url.netloc}"
        return JSONResponse(service.expanded_all(rt, base))

    async def stats(request: Request) -> Response:
        return JSONResponse(
            {
                "counts": service.store.counts(),
                "in_flight": gate.governor.in_flight,
                "concurrency_limit": gate.governor.limit,
                "latency_seconds": gate.governor.latency.fixed_seconds,
                "latency": gate.governor.latency.to_json(),
                "clock": clock.to_json(),
            }
        )

    async def requests(request: Request) -> Response:
        if request.method == "DELETE":
            request_log.clear()
            return JSONResponse({"ok": True})
        limit_text = request.query_params.get("limit", "500")
        return JSONResponse(request_log.snapshot(int(limit_text) if limit_text.isdigit() else 500))

    async def login_audit(request: Request) -> Response:
        return JSONResponse({"failures": list(gate.login_audit.entries)})

    async def concurrency(request: Request) -> Response:
        limit = (await _json(request)).get("limit")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise AdminError('the body must be {"limit": N} with N a non-negative integer')
        gate.governor.limit = limit
        knobs.save("concurrency_limit", limit)
        return JSONResponse({"ok": True, "concurrency_limit": limit})

    async def clock_route(request: Request) -> Response:
        if request.method == "PUT":
            clock.update(await _json(request))
            service.receive_due()
        return JSONResponse(clock.to_json())

    async def inventory_balances(request: Request) -> Response:
        item = request.query_params.get("item")
        if item is not None:
            _stock_item(service, item)
        expected = [e for e in service.expected() if item is None or e["item"] == item]
        return JSONResponse({"balances": service.balances(item), "expected": expected})

    async def inventory_receive(request: Request) -> Response:
        item, location, quantity, _ = _stock_request(service, await _json(request), dated=False)
        try:
            result = service.receive(
                item, location, quantity, memo="Received through /__admin/inventory/receive"
            )
        except NsError as err:
            raise AdminError(
                f"cannot receive: {err.detail}", extra={"o:errorDetails": err.body()["o:errorDetails"]}
            ) from None
        return JSONResponse({**result, "balances": service.balances(item)})

    async def inventory_expect(request: Request) -> Response:
        item, location, quantity, date = _stock_request(service, await _json(request), dated=True)
        assert date is not None
        try:
            result = service.expect(item, location, quantity, date)
        except NsError as err:
            raise AdminError(
                f"cannot expect: {err.detail}", extra={"o:errorDetails": err.body()["o:errorDetails"]}
            ) from None
        return JSONResponse({**result, "balances": service.balances(item)})

    async def preferences(request: Request) -> Response:
        prefs = Preferences.load(service.store)
        if request.method == "PUT":
            prefs.update(service.store, await _json(request))
        return JSONResponse(prefs.to_json())

    return [
        route("/reset", reset, ["POST"]),
        route("/load", load, ["POST"]),
        route("/records/{type}", records_of, ["GET"]),
        route("/stats", stats, ["GET"]),
        route("/requests", requests, ["GET", "DELETE"]),
        route("/login-audit", login_audit, ["GET"]),
        route("/concurrency", concurrency, ["PUT"]),
        route("/clock", clock_route, ["GET", "PUT"]),
        route("/preferences", preferences, ["GET", "PUT"]),
        route("/inventory", inventory_balances, ["GET"]),
        route("/inventory/receive", inventory_receive, ["POST"]),
        route("/inventory/expect", inventory_expect, ["POST"]),
    ]


def _id_text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if isinstance(value, dict):  # {"id": "12"}, as the record API writes references
        value = value.get("id")
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
        raise AdminError(
            f"{key} must be an internal id (a positive integer, as a string or a number), not {value!r}"
        )
    return str(int(value))


def _stock_item(service: RecordService, item: str) -> None:
    if not item.isdigit():
        raise AdminError(f"item must be an internal id, not {item!r}")
    try:
        service.stock_item(item)
    except ValueError as err:
        raise AdminError(str(err)) from None


def _stock_request(service: RecordService, body: Any, *, dated: bool) -> tuple[str, str, float, str | None]:
    keys = {"item", "location", "quantity", *({"date"} if dated else set())}
    shape = '{"item": "12", "location": "1", "quantity": 10' + (', "date": "2026-03-01"}' if dated else "}")
    if not isinstance(body, dict) or not keys <= body.keys():
        raise AdminError(f"the body must be {shape}")
    unknown = set(body) - keys
    if unknown:
        raise AdminError(f"unknown keys {sorted(unknown)}; the body must be {shape}")
    item, location = _id_text(body, "item"), _id_text(body, "location")
    _stock_item(service, item)
    if not service.store.exists("location", int(location)):
        raise AdminError(f"no location has internal id {location}")
    quantity = body["quantity"]
    if isinstance(quantity, bool) or not isinstance(quantity, int | float) or quantity <= 0:
        raise AdminError(f"quantity must be a number greater than zero, not {quantity!r}")
    date: str | None = None
    if dated:
        raw = body["date"]
        try:
            date = dt.date.fromisoformat(raw).isoformat() if isinstance(raw, str) and len(raw) == 10 else None
        except ValueError:
            date = None
        if date is None:
            raise AdminError(f"date must be a date like 2026-03-01, not {raw!r}")
    return item, location, float(quantity), date


def _load_one(service: RecordService, type_name: str, index: int, item: Any) -> str:
    rt = service.record_type(type_name)
    if not isinstance(item, dict):
        raise AdminError(f"{type_name}[{index}]: each record must be a JSON object")
    data = dict(item)
    explicit = data.pop("id", None)
    explicit_id: int | None = None
    if explicit is not None:
        if not str(explicit).isdigit():
            raise AdminError(
                f"{type_name}[{index}]: id {explicit!r} must be a positive integer (as a string)"
            )
        explicit_id = int(explicit)
    try:
        return str(service.create(rt, data, explicit_id=explicit_id, fixture=True))
    except NsError as err:
        where = f" at {err.error_path}" if err.error_path else ""
        raise AdminError(
            f"{type_name}[{index}]: {err.code}{where}: {err.detail}",
            extra={"type": type_name, "index": index, "o:errorDetails": err.body()["o:errorDetails"]},
        ) from None
