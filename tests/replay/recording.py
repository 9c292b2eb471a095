"""Recording workflow histories for the replay tests.

Run the scenario tests with ``Q2C_RECORD_HISTORIES=1`` to (re)write ``histories/*.json``; commit them.
Record again only on purpose: a recorded history stands for workflows already running in production.
"""

from __future__ import annotations

import os
from pathlib import Path

from temporalio.client import Client

HISTORIES = Path(__file__).with_name("histories")


async def record_history(client: Client, workflow_id: str, name: str) -> None:
    if not os.environ.get("Q2C_RECORD_HISTORIES"):
        return
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    HISTORIES.mkdir(exist_ok=True)
    (HISTORIES / f"{name}.json").write_text(history.to_json())
