"""Matching an unlinked account to NetSuite customers: the order path and account sync use the same
rules (``q2c.domain.matching``) over the same candidates."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.netsuite_accounts import NetSuiteAccountActivities
    from q2c.domain.matching import AccountCandidate, MatchResult, match
    from q2c.domain.messages import FindCandidates
    from workflows import names
    from workflows.calls import ActivityCalls


async def match_netsuite_customer(call: ActivityCalls, account: AccountCandidate) -> MatchResult:
    """The matching rules over the NetSuite customers found by the account's keys."""
    found = await call(
        NetSuiteAccountActivities.find_customer_candidates,
        FindCandidates(record=account),
        summary=f"Look for NetSuite customers matching account {account.id} ({account.name!r})",
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
