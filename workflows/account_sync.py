"""Account sync: one entity workflow per Salesforce account / NetSuite customer pair. A customer born in
NetSuite first goes through ``workflows.customer_intake``; what the two share is ``workflows.account_common``.

Glossary: *pair* = a Salesforce account and the NetSuite customer linked to it; *baseline* = both sides'
mapped values right after q2c last synced the pair (`q2c.domain.account_sync`); *echo* = a change event
caused by q2c's own write.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from activities.netsuite_accounts import NetSuiteAccountActivities
    from activities.salesforce_accounts import SalesforceAccountActivities
    from q2c.domain.account_sync import (
        AccountStage,
        AccountState,
        ContactState,
        baseline_after,
        contact_body,
        is_unchanged,
        new_customer_fields,
        plan_sync,
    )
    from q2c.domain.mapping import Mapping
    from q2c.domain.matching import MatchKind
    from q2c.domain.messages import (
        AccountSyncInput,
        AccountSyncStatus,
        ChooseMatch,
        CreateCustomer,
        LinkedContact,
        LinkPair,
        NetSuiteCustomerChanged,
        ReadAccountState,
        ReadContact,
        SalesforceAccountChanged,
        SalesforceContactChanged,
        UpsertContact,
        WriteFields,
    )
    from q2c.domain.sync import MappingValueError, Side, written_hash
    from workflows import metrics, names
    from workflows.account_common import AccountWorkflow, ambiguous_record_message
    from workflows.calls import ActivityCalls
    from workflows.common import NeedsAttention
    from workflows.customer_matching import match_netsuite_customer

SALESFORCE_LINK_FIELD = "NetSuite_Internal_ID__c"  # the customer id on the account (an external id)


@workflow.defn(name=names.ACCOUNT_SYNC_WORKFLOW)
class AccountSync(AccountWorkflow):
    """One Salesforce account and its NetSuite customer. Id: ``account:{account id}``.

    Started (signal-with-start) by the first change event of either side: ``salesforce_changed`` (outbound
    message, Salesforce poller), ``netsuite_changed`` (NetSuite poller, intake of a NetSuite-born
    customer), ``contact_changed``. Stages (``Q2CStage``):

      1. ``matching``: an unlinked account is matched to a customer by cross-system id, then domain, then
         normalized name; one candidate -> link; none -> create the customer (upsert by the account id);
         several -> ``needs_attention`` with the candidates, until ``choose_match`` says which (or create).
         Links go on the customer (custom field + externalId), the account (NetSuite_Internal_ID__c) and
         the store.
      2. ``syncing`` / ``in_sync``: on events, read both sides, compare with the baseline and write only
         what the field rules say (`plan_sync`); contacts go to NetSuite under the customer.

    Loop guards: a Salesforce event whose LastModifiedById is q2c's integration user is dropped before
    anything is read (guard 1); a side whose mapped values hash to its baseline has not changed since
    q2c's last sync (guard 2), so the other side is not even read. Problems (a value the mapping cannot
    map, a record NetSuite refuses, retries exhausted) park the pair in ``needs_attention`` with the reason;
    the next change event or ``retry`` tries again. Nothing needs compensating: every write is an
    idempotent upsert/update to a state. Continues-as-new after ``syncs_per_run`` syncs.
    """

    @workflow.init
    def __init__(self, input: AccountSyncInput) -> None:
        self._input = input
        self._call = ActivityCalls(input.options)
        self._s = input.resume or AccountSyncStatus(account_id=input.account_id)
        self._choice: ChooseMatch | None = None
        self._wake = False
        self._run_syncs = 0

    # -- signals and query ---------------------------------------------------------------------------
    @workflow.signal(name=names.SALESFORCE_CHANGED_SIGNAL)
    def salesforce_changed(self, event: SalesforceAccountChanged) -> None:
        self._s.events += 1
        if event.modified_by and event.modified_by == self._s.integration_user_id:
            self._s.echoes_suppressed += 1  # guard 1: q2c's own write
            return
        self._s.pending_salesforce = True

    @workflow.signal(name=names.NETSUITE_CHANGED_SIGNAL)
    def netsuite_changed(self, event: NetSuiteCustomerChanged) -> None:
        self._s.events += 1
        self._s.pending_netsuite = True

    @workflow.signal(name=names.CONTACT_CHANGED_SIGNAL)
    def contact_changed(self, event: SalesforceContactChanged) -> None:
        self._s.events += 1
        if event.modified_by and event.modified_by == self._s.integration_user_id:
            self._s.echoes_suppressed += 1
            return
        if event.contact_id not in self._s.pending_contacts:
            self._s.pending_contacts.append(event.contact_id)

    @workflow.query(name=names.STATUS_QUERY)
    def status(self) -> AccountSyncStatus:
        return self._s

    def _has_work(self) -> bool:
        s = self._s
        return s.pending_salesforce or s.pending_netsuite or bool(s.pending_contacts) or self._wake

    # -- main loop -------------------------------------------------------------------------------------
    @workflow.run
    async def run(self, input: AccountSyncInput) -> AccountSyncStatus:
        s = self._s
        self._set_stage(s.stage)
        while True:
            if s.stage is AccountStage.DELETED:
                return s
            await workflow.wait_condition(self._has_work)
            self._wake = False
            try:
                mapping = await self._mapping()
                if s.netsuite_customer_id is None:
                    await self._link(mapping)
                if s.stage is AccountStage.DELETED:
                    continue
                self._set_stage(AccountStage.SYNCING)
                await self._sync(mapping)
                if s.stage is AccountStage.DELETED:
                    continue
                await self._sync_contacts(mapping)
                self._set_stage(AccountStage.IN_SYNC, "")
            except NeedsAttention as problem:
                self._set_stage(AccountStage.NEEDS_ATTENTION, str(problem))
                metrics.count_parked("account_sync", problem.error_type)
                await self._wait_while_parked()
                continue
            self._run_syncs += 1
            if (
                self._run_syncs >= input.options.syncs_per_run
                or workflow.info().is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(input.model_copy(update={"resume": s}))

    async def _wait_while_parked(self) -> None:
        """Wait for the next change event (someone fixed the record) or `retry`, then check everything
        again. Contacts that arrived meanwhile stay queued (e.g. waiting for the account to be linked)."""
        s = self._s
        seen = s.events
        await workflow.wait_condition(lambda: s.events > seen or self._wake)
        s.pending_salesforce = s.pending_netsuite = True

    # -- matching and linking ----------------------------------------------------------------------------
    async def _link(self, mapping: Mapping) -> None:
        s = self._s
        self._set_stage(AccountStage.MATCHING, "")
        sf = await self._read_account(mapping)
        if sf is None:
            return
        s.pending_salesforce = True
        s.pending_netsuite = True
        if sf.cross_id:
            await self._write_link(sf.id, sf.cross_id, salesforce_has_it=True)
            return
        if self._choice is not None:
            choice, self._choice = self._choice, None
            await self._apply_choice(choice, sf, mapping)
            return
        result = await match_netsuite_customer(self._call, sf.candidate())
        if result.candidate is not None:
            s.note([f"linked to customer {result.candidate.id}: {result.matches[0].reason}"])
            await self._write_link(sf.id, result.candidate.id, salesforce_has_it=False)
        elif result.kind is MatchKind.NONE:
            await self._create_customer(sf, mapping)
        else:
            s.candidates = list(result.matches)
            raise NeedsAttention(ambiguous_record_message("Account", sf, result, "NetSuite customer"))

    async def _apply_choice(self, choice: ChooseMatch, sf: AccountState, mapping: Mapping) -> None:
        self._s.candidates = []
        if choice.create:
            self._s.note(["a person chose to create a new NetSuite customer"])
            await self._create_customer(sf, mapping)
        elif choice.record_id:
            self._s.note([f"a person chose NetSuite customer {choice.record_id}"])
            await self._read_customer(choice.record_id, mapping, False)  # it must exist
            await self._write_link(sf.id, choice.record_id, salesforce_has_it=False)

    async def _create_customer(self, sf: AccountState, mapping: Mapping) -> None:
        try:
            fields = new_customer_fields(mapping.account.fields, sf, mapping.currencies)
        except MappingValueError as problem:
            raise NeedsAttention(f"Account {sf.id} ({sf.name!r}): {problem}") from None
        created = await self._call(
            NetSuiteAccountActivities.create_customer,
            CreateCustomer(account_id=sf.id, fields=fields),
            summary=f"Create NetSuite customer for account {sf.id}",
        )
        self._s.netsuite_writes += 1
        self._s.note([f"no NetSuite customer matched; created customer {created.record_id}"])
        await self._write_link(sf.id, created.record_id, salesforce_has_it=False)

    async def _write_link(self, account_id: str, customer_id: str, *, salesforce_has_it: bool) -> None:
        # NetSuite first: once the account shows the link, the order workflow relies on the customer.
        await self._call(
            NetSuiteAccountActivities.link_customer,
            LinkPair(account_id=account_id, customer_id=customer_id),
            summary=f"Link NetSuite customer {customer_id} to account {account_id}",
        )
        self._s.link_to_write = None if salesforce_has_it else customer_id
        self._s.netsuite_customer_id = customer_id
        self._s.candidates = []
        self._set_stage(AccountStage.SYNCING)

    # -- syncing -----------------------------------------------------------------------------------------
    async def _read_account(self, mapping: Mapping) -> AccountState | None:
        s = self._s
        found = await self._call(
            SalesforceAccountActivities.read_account_state,
            ReadAccountState(account_id=s.account_id, fields=[r.salesforce for r in mapping.account.fields]),
            summary=f"Read Salesforce account {s.account_id}",
        )
        if found.state is None:
            s.note([f"account {s.account_id} no longer exists in Salesforce; sync ends"])
            self._set_stage(AccountStage.DELETED, "The Salesforce account was deleted.")
            return None
        s.integration_user_id = found.state.reader_user_id
        return found.state

    async def _sync(self, mapping: Mapping) -> None:
        s = self._s
        assert s.netsuite_customer_id is not None
        rules = mapping.account.fields
        sf: AccountState | None = None
        ns: AccountState | None = None
        want_sf, want_ns = s.pending_salesforce, s.pending_netsuite
        s.pending_salesforce = s.pending_netsuite = False
        if not (want_sf or want_ns):
            return
        # Read the side that announced a change first: when it is an echo, the other is not read.
        if want_ns:
            echo_hash = s.baseline.hash(Side.NETSUITE) if s.baseline and not want_sf else None
            ns = await self._read_customer(s.netsuite_customer_id, mapping, s.is_customer, echo_hash)
            if not want_sf and is_unchanged(rules, ns, s.baseline):
                s.echoes_suppressed += 1
                return
        sf = await self._read_account(mapping)
        if sf is None:
            return
        if ns is None:
            if is_unchanged(rules, sf, s.baseline):
                s.echoes_suppressed += 1
                return
            ns = await self._read_customer(s.netsuite_customer_id, mapping, s.is_customer)
        s.is_customer = s.is_customer or ns.is_customer
        s.subsidiary_id = ns.subsidiary_id
        try:
            plan = plan_sync(rules, sf, ns, s.baseline, is_customer=s.is_customer)
        except MappingValueError as problem:
            raise NeedsAttention(f"Account {sf.id} / customer {ns.id}: {problem}") from None
        s.syncs += 1
        if plan.to_netsuite:
            await self._call(
                NetSuiteAccountActivities.write_customer,
                WriteFields(record_id=ns.id, fields=plan.to_netsuite),
                summary=f"Write {', '.join(plan.to_netsuite)} on NetSuite customer {ns.id}",
            )
            s.netsuite_writes += 1
        sf_fields = dict(plan.to_salesforce)
        if s.link_to_write:
            sf_fields[SALESFORCE_LINK_FIELD] = s.link_to_write
        if sf_fields:
            await self._call(
                SalesforceAccountActivities.write_account,
                WriteFields(record_id=sf.id, fields=sf_fields),
                summary=f"Write {', '.join(sf_fields)} on Salesforce account {sf.id}",
            )
            s.salesforce_writes += 1
            s.link_to_write = None
        s.baseline = baseline_after(rules, sf, ns, plan)
        s.note(plan.decisions)

    async def _sync_contacts(self, mapping: Mapping) -> None:
        s = self._s
        assert s.netsuite_customer_id is not None
        rules = mapping.contact.fields
        while s.pending_contacts:
            contact_id = s.pending_contacts[0]
            found = await self._call(
                SalesforceAccountActivities.read_contact,
                ReadContact(contact_id=contact_id, fields=[r.salesforce for r in rules]),
                summary=f"Read Salesforce contact {contact_id}",
            )
            s.pending_contacts.pop(0)
            contact = found.contact
            if contact is None or contact.account_id != s.account_id:
                continue  # deleted, or moved to another account (whose workflow gets its own event)
            await self._sync_contact(contact, rules)

    async def _sync_contact(self, contact: ContactState, rules: list[Any]) -> None:
        s = self._s
        assert s.netsuite_customer_id is not None
        try:
            body = contact_body(
                rules, contact, customer_id=s.netsuite_customer_id, subsidiary_id=s.subsidiary_id
            )
        except MappingValueError as problem:
            s.pending_contacts.append(contact.id)
            raise NeedsAttention(f"Contact {contact.id}: {problem}") from None
        fingerprint = written_hash(body)
        known = s.contacts.get(contact.id)
        if (
            known is not None
            and known.written_hash == fingerprint
            and contact.netsuite_id == known.netsuite_id
        ):
            s.echoes_suppressed += 1
            return
        try:
            created = await self._call(
                NetSuiteAccountActivities.upsert_contact,
                UpsertContact(contact_id=contact.id, body=body),
                summary=f"Upsert NetSuite contact for Salesforce contact {contact.id}",
            )
            s.contact_writes += 1
            if contact.netsuite_id != created.record_id:
                await self._call(
                    SalesforceAccountActivities.write_contact,
                    WriteFields(record_id=contact.id, fields={"NetSuite_Internal_ID__c": created.record_id}),
                    summary=f"Write NetSuite contact {created.record_id} on contact {contact.id}",
                )
        except NeedsAttention:
            s.pending_contacts.append(contact.id)
            raise
        s.contacts[contact.id] = LinkedContact(netsuite_id=created.record_id, written_hash=fingerprint)

    # -- visibility ----------------------------------------------------------------------------------------
    def _set_stage(self, stage: AccountStage, message: str | None = None) -> None:
        s = self._s
        s.stage = stage
        if message is not None:
            s.message = message
        updates: list[SearchAttributeUpdate[Any]] = [
            names.STAGE.value_set(stage.value),
            names.SALESFORCE_ACCOUNT_ID.value_set(s.account_id),
        ]
        if s.netsuite_customer_id:
            updates.append(names.NETSUITE_CUSTOMER_ID.value_set(s.netsuite_customer_id))
        workflow.upsert_search_attributes(updates)
        lines = [f"**Stage:** {stage.value}"]
        if s.message:
            lines.append(
                f"**Needs attention:** {s.message}" if stage is AccountStage.NEEDS_ATTENTION else s.message
            )
        lines.append(
            f"**Account:** {s.account_id} · **Customer:** {s.netsuite_customer_id or '-'} · "
            f"syncs {s.syncs}, writes Salesforce {s.salesforce_writes} / NetSuite {s.netsuite_writes}, "
            f"contacts {s.contact_writes}, echoes suppressed {s.echoes_suppressed}"
        )
        workflow.set_current_details("\n\n".join(lines))
