"""The link store on both databases q2c supports: SQLite (default) and Postgres (compose, production)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from q2c.domain.backfill import IndexedCustomer
from q2c.store import BackfillStore, LinkKind, OnboardingStore, Store
from q2c.store.onboarding import Claim, OnboardingState

POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'q2c.db'}")
        store.create_all()
        yield store
        return
    name = f"q2c_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    store = Store(f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
    try:
        store.create_all()
        yield store
    finally:
        store.engine.dispose()
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_linking_is_idempotent_and_follows_a_changed_netsuite_id(store: Store) -> None:
    first = store.link(LinkKind.ACCOUNT, "001000000000001AAA", "42")
    again = store.link(LinkKind.ACCOUNT, "001000000000001AAA", "42")
    assert first.id == again.id

    moved = store.link(LinkKind.ACCOUNT, "001000000000001AAA", "43")
    assert moved.id == first.id and moved.netsuite_id == "43"
    assert store.find_link(LinkKind.ACCOUNT, netsuite_id="43").salesforce_id == "001000000000001AAA"  # type: ignore[union-attr]
    assert store.find_link(LinkKind.ORDER, salesforce_id="001000000000001AAA") is None


def test_concurrent_links_of_the_same_pair_leave_one_row(store: Store) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        rows = list(pool.map(lambda _: store.link(LinkKind.ORDER, "006000000000001AAA", "7"), range(16)))

    assert {row.id for row in rows} == {rows[0].id}
    assert len(store.links(LinkKind.ORDER)) == 1


def test_the_backfill_index_pages_customers_by_their_numeric_id(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'q2c.db'}")
    store.create_all()
    rows = BackfillStore(store)
    rows.index_customers("run", [IndexedCustomer(id=str(i), name=f"Customer {i}") for i in (2, 10, 1, 11)])
    assert [c.id for c in rows.index_page("run", "", 3)] == ["1", "2", "10"]
    assert [c.id for c in rows.index_page("run", "10", 3)] == ["11"]
    assert rows.index_page("other run", "", 3) == []


def test_an_onboarding_is_claimed_once_and_a_cancelled_one_only_restarts_when_asked(store: Store) -> None:
    onboardings = OnboardingStore(store)
    with ThreadPoolExecutor(max_workers=8) as pool:
        claims = list(
            pool.map(lambda _: onboardings.claim("77", source="poller", sales_order_id="9")[0], range(16))
        )
    assert claims.count(Claim.NEW) == 1 and set(claims) <= {Claim.NEW, Claim.PENDING}
    onboardings.record("77", attempt=1, status=OnboardingState.ACTIVE.value)
    assert onboardings.claim("77", source="order", sales_order_id="9")[0] is Claim.TAKEN
    onboardings.record("77", attempt=1, status=OnboardingState.CANCELLED.value)
    assert onboardings.claim("77", source="order", sales_order_id="9")[0] is Claim.TAKEN
    claim, row = onboardings.claim("77", source="order", sales_order_id="10", restart_cancelled=True)
    assert (claim, row.attempt, row.status) == (Claim.RESTART, 2, "starting")
    onboardings.record("77", attempt=1, status=OnboardingState.COMPLETED.value)  # an older run: ignored
    assert onboardings.get("77").status == "starting"  # type: ignore[union-attr]
    assert onboardings.force("77", source="person").attempt == 2  # still open: the same attempt


def test_concurrent_assignments_never_take_a_csm_past_capacity(store: Store) -> None:
    onboardings = OnboardingStore(store)
    capacity = {"005A": 3, "005B": 2}

    def assign(customer: int) -> str | None:
        def choose(last: str | None, counts: dict[str, int]) -> tuple[str, str] | None:
            free = [u for u in sorted(capacity) if counts.get(u, 0) < capacity[u]]
            return (free[0], free[0].lower()) if free else None

        user, _ = onboardings.assign(str(customer), 1, "rule", choose)
        return user

    with ThreadPoolExecutor(max_workers=8) as pool:
        picked = list(pool.map(assign, range(1, 13)))
    assert sorted(p for p in picked if p) == ["005A"] * 3 + ["005B"] * 2
    assert picked.count(None) == 7
    assert onboardings.open_counts(["005A", "005B"]) == {"005A": 3, "005B": 2}
    assert len(onboardings.open_with_csms(["005B"])) == 2
