"""Recorded histories of real runs, replayed against the current workflow code.

A change that would make a running workflow take a different path (a new activity before an old
one, a removed signal handler, changed timers) raises a nondeterminism error here, in CI, instead of
in production. To change a workflow on purpose, use ``workflow.patched`` and keep these passing.
"""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.replay.recording import HISTORIES
from worker import WORKFLOWS

RECORDED = {path.stem: path.read_text() for path in sorted(HISTORIES.glob("*.json"))}


def test_histories_were_recorded() -> None:
    assert {
        "order_paid",
        "order_parked_then_retried",
        "order_credit_approved",
        "order_reopened_and_won_again",
        "poll",
        "account_parked_then_chosen",
        "account_intake_created",
        "account_synced_with_echoes",
        "order_fulfilled_in_two",
        "catalog_first_load",
        "inventory_releases_an_order",
        "backfill_over_budget_then_written",
        "reconcile_missing_rate_then_retried",
        "onboarding_completed",
        "onboarding_cancelled",
        "onboarding_skipped_reassigned_finished",
        "order_started_onboarding",
        "poll_started_onboarding",
    } <= set(RECORDED)


# Workflows that read their workflow id (a reconciliation's names its period) replay under the id they ran
# under; the others under the history's name.
WORKFLOW_IDS = {"reconcile_missing_rate_then_retried": "reconcile:2026-10"}


@pytest.mark.parametrize("name", sorted(RECORDED))
async def test_recorded_history_replays(name: str) -> None:
    history = WorkflowHistory.from_json(WORKFLOW_IDS.get(name, name), RECORDED[name])
    replayer = Replayer(
        workflows=WORKFLOWS,
        data_converter=pydantic_data_converter,
    )

    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)

    assert result.replay_failure is None
