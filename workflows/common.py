"""What the workflows share: the "needs attention" exception and how an activity failure reads to a person."""

from __future__ import annotations

from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError


class NeedsAttention(Exception):
    """The workflow cannot go on until a person fixes something; the message says what and where."""


def failure_reason(activity: str, failure: ActivityError, max_attempts: int) -> str:
    cause = failure.cause
    if isinstance(cause, ApplicationError):
        if cause.non_retryable:
            return cause.message
        return f"{cause.message} (gave up on {activity} after {max_attempts} attempts)"
    if isinstance(cause, ActivityTimeoutError):
        return f"{activity} timed out ({cause.type.name if cause.type else 'timeout'}) after retries."
    return f"{activity} failed: {cause or failure}"
