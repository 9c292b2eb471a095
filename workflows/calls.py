"""How every workflow calls an activity: by reference (``NetSuiteActivities.upsert_customer``), so mypy
checks the argument and the result and the activity's name is only its ``@activity.defn``.

The task queue is the activity class's ``task_queue`` (NetSuite's calls go to the queue whose workers
share the account's concurrency limit). The timeouts and the retry policy come from the workflow's
options. A workflow that parks (orders, account sync) gets an activity that failed for good, after its
retries or at once when permanent, as ``NeedsAttention`` naming what went wrong; the pollers let the
``ActivityError`` fail the poll, and the schedule's next poll does it again.
"""

from __future__ import annotations

import datetime as dt
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import FunctionType
from typing import Any, Protocol, TypeVar, cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.common import needs_attention

A = TypeVar("A")
R = TypeVar("R")


class ActivityOptions(Protocol):
    """The activity limits a workflow's input carries (``OrderOptions``, ``AccountSyncOptions``)."""

    @property
    def activity_timeout_seconds(self) -> float: ...

    @property
    def activity_max_attempts(self) -> int: ...

    @property
    def activity_max_interval_seconds(self) -> float: ...


@dataclass(frozen=True)
class ActivityCalls:
    """One workflow's way of calling activities: ``await calls(Activities.method, arg, summary=...)``.

    ``start_to_close_seconds`` (default: the options' ``activity_timeout_seconds``) and
    ``heartbeat_seconds`` (default: none) hold for every call unless one call says otherwise; ``parks``
    turns a failed activity into ``NeedsAttention``."""

    options: ActivityOptions
    parks: bool = True
    start_to_close_seconds: float | None = None
    heartbeat_seconds: float | None = None

    async def __call__(
        self,
        activity: Callable[[Any, A], Awaitable[R]],
        arg: A,
        *,
        summary: str | None = None,
        start_to_close_seconds: float | None = None,
        heartbeat_seconds: float | None = None,
    ) -> R:
        options = self.options
        start_to_close = start_to_close_seconds or self.start_to_close_seconds
        heartbeat = heartbeat_seconds or self.heartbeat_seconds
        try:
            return await workflow.execute_activity_method(
                activity,
                arg,
                task_queue=task_queue(activity),
                start_to_close_timeout=dt.timedelta(
                    seconds=start_to_close or options.activity_timeout_seconds
                ),
                heartbeat_timeout=dt.timedelta(seconds=heartbeat) if heartbeat else None,
                retry_policy=RetryPolicy(
                    initial_interval=dt.timedelta(seconds=1),
                    backoff_coefficient=2.0,
                    maximum_interval=dt.timedelta(seconds=options.activity_max_interval_seconds),
                    maximum_attempts=options.activity_max_attempts,
                ),
                summary=summary,
            )
        except ActivityError as failure:
            if not self.parks:
                raise
            raise needs_attention(failure, options.activity_max_attempts) from None


class LongStepOptions(ActivityOptions, Protocol):
    @property
    def heartbeat_seconds(self) -> float: ...


def long_steps(options: LongStepOptions, step_timeout_seconds: float) -> ActivityCalls:
    """Calls for work that takes minutes (Bulk API jobs, pages of thousands of records), failing to the
    workflow (it parks itself): every such activity heartbeats, so a lost worker is noticed within
    ``heartbeat_seconds``, and the long start-to-close leaves room for the work itself."""
    return ActivityCalls(
        options,
        parks=False,
        start_to_close_seconds=max(step_timeout_seconds, options.activity_timeout_seconds),
        heartbeat_seconds=options.heartbeat_seconds,
    )


def task_queue(activity: Callable[..., Any]) -> str:
    """The task queue of an activity method: its class's ``task_queue``. Workflows name the method
    (``NetSuiteActivities.upsert_customer``), the worker registers it bound to its object."""
    bound_to = getattr(activity, "__self__", None)
    if bound_to is not None:
        return cast(str, type(bound_to).task_queue)
    # A decorated method (functools.wraps) names its class in its module, not in the decorator's.
    method = cast(FunctionType, inspect.unwrap(activity))
    owner = method.__globals__[method.__qualname__.rpartition(".")[0]]
    return cast(str, owner.task_queue)
