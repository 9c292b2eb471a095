"""Reading the ``status`` of q2c's long-running workflows (backfills, reconciliations) from outside."""

from __future__ import annotations

from typing import TypeVar

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle

from workflows import names

S = TypeVar("S")


async def live_or_final(h: WorkflowHandle[object, S], what: str, result_type: type[S]) -> tuple[S, bool]:
    """(status, finished) of a long-running workflow with a ``status`` query: live while it runs, its
    result once it has completed; any other end is an error naming ``what``."""
    description = await h.describe()
    if description.status == WorkflowExecutionStatus.COMPLETED:
        return await h.result(), True
    if description.status != WorkflowExecutionStatus.RUNNING:
        raise RuntimeError(f"{what} is {description.status.name.lower() if description.status else 'gone'}")
    return await h.query(names.STATUS_QUERY, result_type=result_type), False
