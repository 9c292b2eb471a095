"""Dependencies point one way (ARCHITECTURE.md). import-linter (``make lint``) checks the packages;
this checks the whole picture, worker.py included, with the command that prints it."""

from __future__ import annotations

from devtools.layers import PARTS, picture


def test_no_part_imports_one_above_it() -> None:
    uses = picture()
    upward = sorted((a, b) for a in PARTS for b in uses.get(a, ()) if PARTS.index(b) < PARTS.index(a))
    assert upward == []


def test_the_worker_wiring_carries_no_sandbox_and_no_dev_tooling() -> None:
    uses = picture()
    assert not {"q2c_sandbox", "devtools", "starter"} & uses["worker"]
    for product in ("starter", "worker", "workflows", "activities", "temporal_client", "q2c.domain"):
        assert "q2c_sandbox" not in uses.get(product, set()), product


def test_the_picture_sees_real_imports() -> None:
    # Guard against a picture that is empty because it read nothing.
    uses = picture()
    assert {"workflows", "activities", "temporal_client"} <= uses["worker"]
    assert "q2c.domain" in uses["workflows"]
