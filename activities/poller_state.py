"""What the pollers keep between polls (watermarks; for the NetSuite poller also the credit states
shown, the overdue invoices signalled and the writes parked), and the orders waiting on the NetSuite
poller (a Temporal visibility query)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import ClassVar

from temporalio import activity

from q2c.domain.messages import (
    NETSUITE_POLLER,
    FindOrders,
    LoadWatermark,
    OrderIds,
    SavePoll,
    SaveWatermark,
    WatermarkValue,
    Written,
)
from q2c.store import CreditRecord, ParkedRecord, Store
from q2c.telemetry import watermark_lag_seconds
from temporal_client.steering import Steering
from workflows import names


class PollerStateActivities:
    task_queue: ClassVar[str] = names.TASK_QUEUE

    def __init__(self, store: Store, steering: Steering) -> None:
        self._store = store
        self._steering = steering

    @activity.defn(name="load_watermark")
    async def load_watermark(self, request: LoadWatermark) -> WatermarkValue:
        value = await asyncio.to_thread(self._store.watermark, request.poller)
        return WatermarkValue(watermark=value or None)

    @activity.defn(name="save_watermark")
    async def save_watermark(self, request: SaveWatermark) -> Written:
        if request.watermark:
            await asyncio.to_thread(self._store.save_poll, request.poller, request.watermark, [])
        _show_poll(
            request.poller,
            request.watermark or await asyncio.to_thread(self._store.watermark, request.poller),
        )
        return Written(record_id=request.poller)

    @activity.defn(name="save_poll")
    async def save_poll(self, request: SavePoll) -> Written:
        records = [
            CreditRecord(
                customer_id=s.customer_id, on_hold=s.on_hold, reason=s.reason, fingerprint=s.fingerprint()
            )
            for s in request.credit
        ]
        watermark = request.watermark
        if watermark is None:
            current = await asyncio.to_thread(self._store.watermark, NETSUITE_POLLER)
            watermark = current or ""
        await asyncio.to_thread(
            lambda: self._store.save_poll(
                NETSUITE_POLLER,
                watermark,
                records,
                shown_invoices=request.shown_invoices,
                unwatched_invoices=request.unwatched_invoices,
                parked=[ParkedRecord(poller=NETSUITE_POLLER, **p.model_dump()) for p in request.parked],
                unparked=request.unparked,
            )
        )
        _show_poll(NETSUITE_POLLER, watermark)
        return Written(record_id=NETSUITE_POLLER)

    @activity.defn(name="find_orders")
    async def find_orders(self, request: FindOrders) -> OrderIds:
        orders = await self._steering.orders(request.query)
        return OrderIds(
            opportunity_ids=[o.opportunity_id for o in orders],
            customer_ids={o.opportunity_id: o.netsuite_customer_id for o in orders if o.netsuite_customer_id},
        )


def _show_poll(poller: str, watermark: str | None) -> None:
    """A poll completed: when, and how far behind now its watermark is (q2c_poll_* gauges)."""
    meter = activity.metric_meter()
    now = dt.datetime.now(dt.UTC)
    labels = {"poller": poller}
    meter.create_gauge_float(names.POLL_COMPLETED, "When the poller last completed (Unix time)").set(
        now.timestamp(), labels
    )
    lag = watermark_lag_seconds(watermark, now)
    if lag is not None:
        meter.create_gauge_float(names.POLL_LAG, "Now minus the poller's watermark", "s").set(lag, labels)
