"""What the catalog and inventory syncs keep between runs (their watermark: NetSuite's newest change they
have handled, and the items they parked, in q2c's database), and the orders the inventory sync tells."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from temporalio import activity

from q2c.domain.messages import Notified, StockChanged, Written
from q2c.domain.messages.catalog import LoadSyncState, ParkedItem, SaveSyncState, SyncState
from q2c.store import Store
from temporal_client.steering import Steering
from temporal_client.stock import signal_orders_awaiting_stock
from workflows import names

# Parked items one run reads again first (the first this many by id); the rest wait for the next run.
MAX_RETRIED = 10_000


class SyncStateActivities:
    task_queue: ClassVar[str] = names.TASK_QUEUE

    def __init__(self, store: Store, steering: Steering) -> None:
        self._store = store
        self._steering = steering

    @activity.defn(name="load_sync_state")
    async def load_sync_state(self, request: LoadSyncState) -> SyncState:
        watermark = await asyncio.to_thread(self._store.watermark, request.name)
        parked = (await asyncio.to_thread(self._store.parked_records, request.name))[:MAX_RETRIED]
        return SyncState(
            watermark=watermark or None,
            parked=[
                ParkedItem(item=p.record_id, item_code=p.account_id or "", reason=p.reason) for p in parked
            ],
        )

    @activity.defn(name="save_sync_state")
    async def save_sync_state(self, request: SaveSyncState) -> Written:
        """Advance the watermark (items are parked and unparked by the page writes themselves). No
        watermark (NetSuite has nothing yet) keeps the one saved."""
        if request.watermark:
            await asyncio.to_thread(self._store.save_poll, request.name, request.watermark, [])
        return Written(record_id=request.name)

    @activity.defn(name="tell_orders_awaiting_stock")
    async def tell_orders_awaiting_stock(self, request: StockChanged) -> Notified:
        """``stock_changed`` to every order in ``awaiting_stock`` (a visibility query, then one signal
        each, from here rather than the workflow, so thousands of waiting orders cost it one event)."""
        return Notified(
            signalled=await signal_orders_awaiting_stock(self._steering.client, reason=request.reason)
        )
