"""The link store on both databases q2c supports: SQLite (default) and Postgres (compose, production)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from q2c.domain.backfill import IndexedCustomer
from q2c.store import BackfillStore, LinkKind, Store

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
