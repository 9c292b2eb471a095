"""The catalog sync's control flow on the time-skipping server, with stand-in activities: paging, continue-as-
new carrying progress, parked items kept and retried first, the watermark saved only at the end."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.catalog import NetSuiteCatalogActivities, SalesforceCatalogActivities
from activities.mapping import MappingActivities
from activities.sync_state import SyncStateActivities
from q2c.domain.catalog import CatalogItem, CatalogPage, ItemPrice
from q2c.domain.mapping import Mapping, load_mapping
from q2c.domain.messages import LoadMapping, WatermarkValue, Written
from q2c.domain.messages.catalog import (
    ApplyCatalogPage,
    CatalogStatus,
    CatalogSyncInput,
    LoadSyncState,
    NewestChange,
    PageResult,
    ParkedItem,
    PriceBookIds,
    ReadCatalogPage,
    ResolvePriceBooks,
    SaveSyncState,
    SyncState,
)
from tests.conftest import activity_name
from workflows import names
from workflows.catalog_sync import CatalogSync

ITEMS = [str(n) for n in range(1, 12)]  # 11 items, pages of 2: 6 pages
BROKEN = "7"
GROUP = "11"  # an item group with item 3 as a member


@dataclass
class FakeOrgs:
    saved: list[SaveSyncState] = field(default_factory=list)
    reads: list[ReadCatalogPage] = field(default_factory=list)
    applied: list[ApplyCatalogPage] = field(default_factory=list)
    state: SyncState = field(default_factory=lambda: SyncState(watermark=None, parked=[]))
    broken: set[str] = field(default_factory=lambda: {BROKEN})

    def activities(self) -> tuple[list[Callable[..., Any]], list[Callable[..., Any]]]:
        """(q2c's queue, NetSuite's queue)."""

        @activity.defn(name=activity_name(SyncStateActivities.load_sync_state))
        async def load_sync_state(request: LoadSyncState) -> SyncState:
            return self.state

        @activity.defn(name=activity_name(SyncStateActivities.save_sync_state))
        async def save_sync_state(request: SaveSyncState) -> Written:
            self.saved.append(request)
            self.state = self.state.model_copy(update={"watermark": request.watermark})
            return Written(record_id=request.name)

        @activity.defn(name=activity_name(NetSuiteCatalogActivities.newest_netsuite_change))
        async def newest_netsuite_change(request: NewestChange) -> WatermarkValue:
            return WatermarkValue(watermark="2026-12-01 10:00:00")

        @activity.defn(name=activity_name(MappingActivities.load_mapping))
        async def load_mapping_(request: LoadMapping) -> Mapping:
            return load_mapping()

        @activity.defn(name=activity_name(SalesforceCatalogActivities.resolve_price_books))
        async def resolve_price_books(request: ResolvePriceBooks) -> PriceBookIds:
            return PriceBookIds(ids={name: f"01s{n:015d}" for n, name in enumerate(request.names)})

        @activity.defn(name=activity_name(NetSuiteCatalogActivities.read_catalog_page))
        async def read_catalog_page(request: ReadCatalogPage) -> CatalogPage:
            self.reads.append(request)
            if request.item_ids is not None:
                chosen = [i for i in ITEMS if i in request.item_ids]
                more = False
            else:
                after = [i for i in ITEMS if int(i) > int(request.after)]
                chosen, more = after[: request.page_size], len(after) > request.page_size
            return CatalogPage(
                items=[CatalogItem(id=i, item_id=f"SKU-{i}", item_type="InvtPart") for i in chosen],
                prices=[
                    ItemPrice(
                        item=i, price_level="1", currency="1", quantity=Decimal(0), unit_price=Decimal(i)
                    )
                    for i in chosen
                ],
                last_id=chosen[-1] if chosen else request.after,
                more=more,
                containing_groups=[GROUP] if "3" in chosen else [],
            )

        @activity.defn(name=activity_name(SalesforceCatalogActivities.apply_catalog_page))
        async def apply_catalog_page(request: ApplyCatalogPage) -> PageResult:
            self.applied.append(request)
            items = [p.item for p in request.plan.products]
            bad = [i for i in items if i in self.broken]
            # As the real activity does: park the refused items, unpark the written ones, in the store.
            kept = [p for p in self.state.parked if p.item not in items]
            parked = kept + [ParkedItem(item=i, reason=f"SKU-{i}: refused") for i in bad]
            self.state = self.state.model_copy(update={"parked": parked})
            return PageResult(
                products_created=len(items) - len(bad),
                entries_created=len(request.plan.entries) - len(bad),
                problems=[ParkedItem(item=i, item_code=f"SKU-{i}", reason=f"SKU-{i}: refused") for i in bad],
                succeeded=[i for i in items if i not in bad],
            )

        return (
            [load_sync_state, save_sync_state, load_mapping_, resolve_price_books, apply_catalog_page],
            [newest_netsuite_change, read_catalog_page],
        )


@pytest.fixture
async def orgs(skipping_env: WorkflowEnvironment) -> AsyncIterator[tuple[WorkflowEnvironment, FakeOrgs]]:
    fake = FakeOrgs()
    main, netsuite = fake.activities()
    async with (
        Worker(skipping_env.client, task_queue=names.TASK_QUEUE, workflows=[CatalogSync], activities=main),
        Worker(skipping_env.client, task_queue=names.NETSUITE_TASK_QUEUE, activities=netsuite),
    ):
        yield skipping_env, fake


async def _run(env: WorkflowEnvironment) -> CatalogStatus:
    return await env.client.execute_workflow(
        CatalogSync.run,
        CatalogSyncInput(page_size=2, pages_per_run=2),
        id=f"catalog-test-{uuid.uuid4().hex[:8]}",
        task_queue=names.TASK_QUEUE,
    )


async def test_pages_continue_as_new_with_their_progress_and_the_watermark_is_saved_once_at_the_end(
    orgs: tuple[WorkflowEnvironment, FakeOrgs],
) -> None:
    env, fake = orgs
    status = await _run(env)
    assert status.done and status.runs == 3  # 6 pages, 2 per run
    assert status.items_read == len(ITEMS) + 1  # the group holding item 3 is read once more
    assert [r.after for r in fake.reads if r.item_ids is None] == ["0", "2", "4", "6", "8", "10"]
    assert status.products_created == len(ITEMS)  # ten written (one refused), and the group once more
    assert [p.item for p in status.parked] == [BROKEN]
    (saved,) = fake.saved
    assert saved.watermark == "2026-12-01 10:00:00"
    assert [p.item for p in fake.state.parked] == [BROKEN]
    assert status.since is None  # a first run reads everything


async def test_a_parked_item_is_read_again_first_and_unparked_once_it_is_written(
    orgs: tuple[WorkflowEnvironment, FakeOrgs],
) -> None:
    env, fake = orgs
    await _run(env)
    fake.reads.clear()
    fake.broken.clear()
    status = await _run(env)
    assert fake.reads[0].item_ids == [BROKEN]
    assert fake.reads[1].since == "2026-12-01 10:00:00"
    assert status.parked == []
    assert fake.state.parked == []


async def test_item_groups_whose_members_changed_are_read_again_after_the_pages(
    orgs: tuple[WorkflowEnvironment, FakeOrgs],
) -> None:
    env, fake = orgs
    await _run(env)
    assert fake.reads[-1].item_ids == [GROUP]
    assert [r.item_ids for r in fake.reads].count([GROUP]) == 1


async def test_every_parked_item_is_kept_and_read_again_a_page_at_a_time(
    orgs: tuple[WorkflowEnvironment, FakeOrgs],
) -> None:
    env, fake = orgs
    fake.broken = {"3", "5", "7", "9"}
    first = await _run(env)
    assert first.parked_count == 4 and {p.item for p in fake.state.parked} == fake.broken
    fake.reads.clear()
    fake.broken = set()
    await _run(env)
    assert [r.item_ids for r in fake.reads[:2]] == [["3", "5"], ["7", "9"]]
    assert fake.state.parked == []
