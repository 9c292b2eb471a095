"""The intake of a customer born in NetSuite: it gets its Salesforce account, then the pair's account
sync workflow takes over."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.account_changes import AccountChangeActivities
    from activities.netsuite_accounts import NetSuiteAccountActivities
    from activities.salesforce import SalesforceActivities
    from activities.salesforce_accounts import SalesforceAccountActivities
    from q2c.domain.account_sync import AccountStage, AccountState, new_account_fields
    from q2c.domain.mapping import Mapping
    from q2c.domain.matching import MatchKind, match
    from q2c.domain.messages import (
        ChooseMatch,
        CreateAccount,
        CustomerIntakeInput,
        CustomerIntakeStatus,
        FindCandidates,
        LinkAccount,
        LinkPair,
        NetSuiteCustomerChanged,
        StartAccountSync,
    )
    from q2c.domain.sync import MappingValueError
    from workflows import metrics, names
    from workflows.account_common import AccountWorkflow, ambiguous_record_message
    from workflows.calls import ActivityCalls
    from workflows.common import NeedsAttention


@workflow.defn(name=names.CUSTOMER_INTAKE_WORKFLOW)
class NetSuiteCustomerIntake(AccountWorkflow):
    """A customer created directly in NetSuite gets its Salesforce account. Id: ``account:ns:{customer id}``.

    Reads the customer; if it already names its account (custom field or externalId) or the store links
    it, hands over at once. Otherwise matches Salesforce accounts (cross id, domain, normalized name): one
    -> link it; none -> create the account (upserted by NetSuite_Internal_ID__c, so a retry never makes a
    second one); several -> ``needs_attention`` until ``choose_match``. Then it signals-with-start the
    pair's ``account:{account id}`` workflow, which syncs from there on, and ends.
    """

    @workflow.init
    def __init__(self, input: CustomerIntakeInput) -> None:
        self._call = ActivityCalls(input.options)
        self._s = CustomerIntakeStatus(customer_id=input.customer_id)
        self._choice: ChooseMatch | None = None
        self._wake = False

    @workflow.signal(name=names.NETSUITE_CHANGED_SIGNAL)
    def netsuite_changed(self, event: NetSuiteCustomerChanged) -> None:
        self._wake = True

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> CustomerIntakeStatus:
        return self._s

    @workflow.run
    async def run(self, input: CustomerIntakeInput) -> CustomerIntakeStatus:
        while True:
            self._wake = False
            try:
                account_id = await self._account_for(input.customer_id)
                await self._call(
                    AccountChangeActivities.start_account_sync,
                    StartAccountSync(account_id=account_id, customer_id=input.customer_id, source="intake"),
                    summary=f"Hand customer {input.customer_id} to account:{account_id}",
                )
                self._s.account_id = account_id
                self._set_stage(AccountStage.HANDED_OVER, f"Synced by account:{account_id}.")
                return self._s
            except NeedsAttention as problem:
                self._set_stage(AccountStage.NEEDS_ATTENTION, str(problem))
                metrics.count_parked("customer_intake", problem.error_type)
                await workflow.wait_condition(lambda: self._wake)

    async def _account_for(self, customer_id: str) -> str:
        self._set_stage(AccountStage.MATCHING, "")
        mapping = await self._mapping()
        ns = await self._read_customer(customer_id, mapping, False)
        if ns.cross_id:
            self._s.outcome = "already linked"
            return ns.cross_id
        if self._choice is not None:
            choice, self._choice = self._choice, None
            if choice.create:
                self._s.outcome = "created, as a person chose"
                return await self._create_account(ns, mapping)
            if choice.record_id:
                self._s.outcome = "linked, as a person chose"
                await self._link(choice.record_id, ns.id)
                return choice.record_id
        found = await self._call(
            SalesforceAccountActivities.find_account_candidates,
            FindCandidates(record=ns.candidate()),
            summary=f"Look for Salesforce accounts matching customer {ns.id} ({ns.name!r})",
        )
        result = match(ns.candidate(), found.candidates)
        if result.candidate is not None:
            self._s.outcome = f"matched: {result.matches[0].reason}"
            await self._link(result.candidate.id, ns.id)
            return result.candidate.id
        if result.kind is MatchKind.NONE:
            self._s.outcome = "created: no account matched"
            return await self._create_account(ns, mapping)
        self._s.candidates = list(result.matches)
        raise NeedsAttention(ambiguous_record_message("NetSuite customer", ns, result, "Salesforce account"))

    async def _create_account(self, ns: AccountState, mapping: Mapping) -> str:
        try:
            fields = new_account_fields(mapping.account.fields, ns)
        except MappingValueError as problem:
            raise NeedsAttention(f"NetSuite customer {ns.id} ({ns.name!r}): {problem}") from None
        created = await self._call(
            SalesforceAccountActivities.create_account,
            CreateAccount(customer_id=ns.id, fields=fields),
            summary=f"Create Salesforce account for NetSuite customer {ns.id}",
        )
        await self._link(created.record_id, ns.id, salesforce_has_it=True)
        return created.record_id

    async def _link(self, account_id: str, customer_id: str, *, salesforce_has_it: bool = False) -> None:
        await self._call(
            NetSuiteAccountActivities.link_customer,
            LinkPair(account_id=account_id, customer_id=customer_id),
            summary=f"Link NetSuite customer {customer_id} to account {account_id}",
        )
        if not salesforce_has_it:
            await self._call(
                SalesforceActivities.link_account_to_customer,
                LinkAccount(account_id=account_id, netsuite_customer_id=customer_id),
                summary=f"Write NetSuite customer {customer_id} on account {account_id}",
            )

    def _set_stage(self, stage: AccountStage, message: str) -> None:
        self._s.stage, self._s.message = stage, message
        workflow.upsert_search_attributes(
            [names.STAGE.value_set(stage.value), names.NETSUITE_CUSTOMER_ID.value_set(self._s.customer_id)]
        )
        text = f"**Stage:** {stage.value}"
        if message:
            text += f"\n\n{'**Needs attention:** ' if stage is AccountStage.NEEDS_ATTENTION else ''}{message}"
        workflow.set_current_details(text)
