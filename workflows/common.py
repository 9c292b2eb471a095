"""What the workflows share: the "needs attention" exception, how an activity failure reads to a
person, and keyword search attributes set from a workflow's state."""

from __future__ import annotations

from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError


class NeedsAttention(Exception):
    """The workflow cannot go on until a person fixes something; the message says what and where.

    ``error_type`` is the type of the activity failure behind it (a ``q2c.domain.errors.BusinessError``
    value, or the API's error code), so a workflow can tell "not found" from "refused"."""

    def __init__(self, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type


def failure_reason(failure: ActivityError, max_attempts: int) -> str:
    activity, cause = failure.activity_type, failure.cause
    if isinstance(cause, ApplicationError):
        if cause.non_retryable:
            return cause.message
        return f"{cause.message} (gave up on {activity} after {max_attempts} attempts)"
    if isinstance(cause, ActivityTimeoutError):
        return f"{activity} timed out ({cause.type.name if cause.type else 'timeout'}) after retries."
    return f"{activity} failed: {cause or failure}"


def needs_attention(failure: ActivityError, max_attempts: int) -> NeedsAttention:
    cause = failure.cause
    error_type = cause.type if isinstance(cause, ApplicationError) else None
    return NeedsAttention(failure_reason(failure, max_attempts), error_type)


def keywords(*pairs: tuple[SearchAttributeKey[str], str | None]) -> list[SearchAttributeUpdate[Any]]:
    """Each keyword search attribute set to its value, or unset when there is none (yet)."""
    return [key.value_set(value) if value else key.value_unset() for key, value in pairs]
