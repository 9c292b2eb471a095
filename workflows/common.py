"""What the workflows share: the "needs attention" exception, how an activity failure reads to a person,
and matching an unlinked account to NetSuite customers (the order path and account sync use the same)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Protocol, TypeVar

from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as ActivityTimeoutError

from q2c.domain.account_sync import Candidates, FindCandidates
from q2c.domain.matching import AccountCandidate, MatchResult, match
from workflows import names

T = TypeVar("T")


class NeedsAttention(Exception):
    """The workflow cannot go on until a person fixes something; the message says what and where.

    ``error_type`` is the type of the activity failure behind it (a ``q2c.domain.errors.BusinessError``
    value, or the API's error code), so a workflow can tell "not found" from "refused"."""

    def __init__(self, message: str, error_type: str | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type


def failure_reason(activity: str, failure: ActivityError, max_attempts: int) -> str:
    cause = failure.cause
    if isinstance(cause, ApplicationError):
        if cause.non_retryable:
            return cause.message
        return f"{cause.message} (gave up on {activity} after {max_attempts} attempts)"
    if isinstance(cause, ActivityTimeoutError):
        return f"{activity} timed out ({cause.type.name if cause.type else 'timeout'}) after retries."
    return f"{activity} failed: {cause or failure}"


def needs_attention(activity: str, failure: ActivityError, max_attempts: int) -> NeedsAttention:
    cause = failure.cause
    error_type = cause.type if isinstance(cause, ApplicationError) else None
    return NeedsAttention(failure_reason(activity, failure, max_attempts), error_type)


class ActivityCall(Protocol):
    """A workflow's activity call with its retry options (``_call`` of each workflow)."""

    def __call__(
        self, activity: str, arg: Any, result_type: type[T], *, summary: str, netsuite: bool = False
    ) -> Awaitable[T]: ...


async def match_netsuite_customer(call: ActivityCall, account: AccountCandidate) -> MatchResult:
    """The matching rules (``q2c.domain.matching``) over the NetSuite customers found by its keys."""
    found = await call(
        "find_customer_candidates",
        FindCandidates(record=account),
        Candidates,
        summary=f"Look for NetSuite customers matching account {account.id} ({account.name!r})",
        netsuite=True,
    )
    return match(account, found.candidates)


def ambiguous_message(what: str, record_id: str, name: str, result: MatchResult, other: str) -> str:
    options = "; ".join(f"{m.candidate.id} {m.candidate.name!r} ({m.reason})" for m in result.matches)
    return (
        f"{what} {record_id} ({name!r}) matches {len(result.matches)} {other}s equally by "
        f"{result.rule.value if result.rule else 'match'}: {options}. q2c does not guess: signal "
        f"`{names.CHOOSE_MATCH_SIGNAL}` with the record_id to link, or create=true "
        "(`q2c choose-match ...`)."
    )
