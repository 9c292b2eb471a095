"""What the catalog and inventory syncs keep between runs (their watermark: NetSuite's newest change they
have handled, and the items they parked, in q2c's database), and the orders the inventory sync tells."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from temporalio import activity

from q2c.domain.messages import Notified, StockChanged, Written
from q2c.domain.messages.catalog import LoadSyncState, ParkedItem, SaveSyncState, SyncState
from q2c.store import ParkedRecord, Store
from temporal_client.steering import Steering
from temporal_client.stock import signal_orders_awaiting_stock
from workflows import names


class SyncStateActivities:
    task_queue: ClassVar[str] = names.TASK_QUEUE

    def __init__(self, store: Store, steering: Steering) -> None:
        self._store = store
        self._steering = steering

    @activity.defn(name="load_sync_state")
    async def load_sync_state(self, request: LoadSyncState) -> SyncState:
        watermark = await asyncio.to_thread(self._store.watermark, request.name)
        parked = await asyncio.to_thread(self._store.parked_records, request.name)
        return SyncState(
            watermark=watermark or None,
            parked=[
                ParkedItem(item=p.record_id, item_code=p.account_id or "", reason=p.reason) for p in parked
            ],
        )

    @activity.defn(name="save_sync_state")
    async def save_sync_state(self, request: SaveSyncState) -> Written:
        """Advance the watermark, park what failed for good and unpark what got written, in one
        transaction. No watermark (NetSuite has nothing yet) keeps the one saved."""
        watermark = request.watermark or await asyncio.to_thread(self._store.watermark, request.name) or ""
        await asyncio.to_thread(
            lambda: self._store.save_poll(
                request.name,
                watermark,
                [],
                # ParkedRecord's account_id column holds the item's code (its SKU), for people.
                parked=[
                    ParkedRecord(
                        poller=request.name, record_id=p.item, account_id=p.item_code or None, reason=p.reason
                    )
                    for p in request.parked
                ],
                unparked=request.unparked,
            )
        )
        return Written(record_id=request.name)

    @activity.defn(name="tell_orders_awaiting_stock")
    async def tell_orders_awaiting_stock(self, request: StockChanged) -> Notified:
        """``stock_changed`` to every order in ``awaiting_stock`` (a visibility query, then one signal
        each, from here rather than the workflow, so thousands of waiting orders cost it one event)."""
        return Notified(
            signalled=await signal_orders_awaiting_stock(self._steering.client, reason=request.reason)
        )
