"""What the two account workflows (``AccountSync``, ``NetSuiteCustomerIntake``) share: the signals a
person sends, reading the mapping and the NetSuite customer, and the wording of an ambiguous match."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.mapping import MappingActivities
    from activities.netsuite_accounts import NetSuiteAccountActivities
    from q2c.domain.account_sync import AccountState
    from q2c.domain.mapping import Mapping
    from q2c.domain.matching import MatchResult
    from q2c.domain.messages import ChooseMatch, LoadMapping, ReadCustomerState, SyncRetry
    from workflows import names
    from workflows.calls import ActivityCalls
    from workflows.common import NeedsAttention
    from workflows.customer_matching import ambiguous_message


class AccountWorkflow:
    """The signals a person sends to either account workflow, and its activity calls with the
    workflow's retry options (exhausted or permanent failures park it)."""

    _call: ActivityCalls
    _choice: ChooseMatch | None
    _wake: bool

    @workflow.signal(name=names.CHOOSE_MATCH_SIGNAL)
    def choose_match(self, choice: ChooseMatch) -> None:
        self._choice = choice
        self._wake = True

    @workflow.signal(name=names.RETRY_SIGNAL)
    def retry(self, request: SyncRetry) -> None:
        self._wake = True

    async def _mapping(self) -> Mapping:
        return await self._call(
            MappingActivities.load_mapping, LoadMapping(), summary="Load the mapping file"
        )

    async def _read_customer(
        self, customer_id: str, mapping: Mapping, known_customer: bool, unchanged_hash: str | None = None
    ) -> AccountState:
        fields = [rule.netsuite for rule in mapping.account.fields]
        found = await self._call(
            NetSuiteAccountActivities.read_customer_state,
            ReadCustomerState(
                customer_id=customer_id,
                fields=fields,
                known_customer=known_customer,
                unchanged_hash=unchanged_hash,
            ),
            summary=f"Read NetSuite customer {customer_id}",
        )
        if found.state is None:
            raise NeedsAttention(
                f"NetSuite customer {customer_id} does not exist (deleted or inactive?); relink the account "
                "by clearing NetSuite_Internal_ID__c on it, then retry."
            )
        return found.state


def ambiguous_record_message(what: str, record: AccountState, result: MatchResult, other: str) -> str:
    return ambiguous_message(what, record.id, record.name, result, other)
