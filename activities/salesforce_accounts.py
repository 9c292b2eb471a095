"""Salesforce activities of the account sync: accounts and contacts, over the injected
``SalesforceClient``."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from temporalio import activity

from activities.errors import BusinessError, api_errors, business_error
from q2c.connectors.salesforce import SalesforceClient, parse_salesforce_time
from q2c.domain.account_sync import AccountState, ContactState, plain
from q2c.domain.matching import AccountCandidate, name_pattern, normalize_company_name
from q2c.domain.messages import (
    Candidates,
    CreateAccount,
    CreatedRecord,
    FindCandidates,
    MaybeAccountState,
    MaybeContact,
    ReadAccountState,
    ReadContact,
    WriteFields,
    Written,
)
from q2c.domain.sync import Side
from workflows import names

ACCOUNT_META_FIELDS = ["Name", "Website", "NetSuite_Internal_ID__c", "LastModifiedDate", "LastModifiedById"]
CONTACT_META_FIELDS = ["AccountId", "LastModifiedById", "NetSuite_Internal_ID__c"]


def account_state(row: dict[str, object], fields: list[str], reader: str | None) -> AccountState:
    return AccountState(
        side=Side.SALESFORCE,
        id=str(row["Id"]),
        values={f: plain(row.get(f)) for f in fields},
        modified_at=parse_salesforce_time(str(row["LastModifiedDate"])),
        modified_by=str(row.get("LastModifiedById") or "") or None,
        reader_user_id=reader,
        cross_id=str(row.get("NetSuite_Internal_ID__c") or "") or None,
        name=str(row.get("Name") or ""),
        website=str(row.get("Website") or "") or None,
    )


class SalesforceAccountActivities:
    """The Salesforce calls of the account sync (Account and Contact), over the injected client."""

    task_queue: ClassVar[str] = names.TASK_QUEUE

    def __init__(self, client: SalesforceClient) -> None:
        self._client = client

    @activity.defn(name="read_account_state")
    async def read_account_state(self, request: ReadAccountState) -> MaybeAccountState:
        fields = list(dict.fromkeys([*request.fields, *ACCOUNT_META_FIELDS]))
        with api_errors():
            row = await asyncio.to_thread(self._client.record, "Account", request.account_id, fields)
            reader = await asyncio.to_thread(lambda: self._client.user_id)
        if row is None:
            return MaybeAccountState()
        return MaybeAccountState(state=account_state(row, request.fields, reader))

    @activity.defn(name="find_account_candidates")
    async def find_account_candidates(self, request: FindCandidates) -> Candidates:
        """Accounts sharing a matching key with the customer, every one of them (never cut before the
        rules rank them): the query's conditions are necessary ones, checked exactly here."""
        record = request.record
        key = normalize_company_name(record.name)
        with api_errors():
            rows = await asyncio.to_thread(
                lambda: self._client.find_accounts(
                    netsuite_id=record.id,
                    name_like=name_pattern(key) if key else None,
                    domains=sorted(record.domains()),
                )
            )
        candidates = [
            AccountCandidate(
                side=Side.SALESFORCE,
                id=str(row["Id"]),
                name=str(row.get("Name") or ""),
                website=row.get("Website"),
                cross_id=row.get("NetSuite_Internal_ID__c"),
            )
            for row in rows
        ]
        return Candidates(
            candidates=[
                c
                for c in candidates
                if c.cross_id == record.id
                or record.domains() & c.domains()
                or (key and normalize_company_name(c.name) == key)
            ]
        )

    @activity.defn(name="write_account")
    async def write_account(self, request: WriteFields) -> Written:
        with api_errors():
            await asyncio.to_thread(self._client.update, "Account", request.record_id, request.fields)
        return Written(record_id=request.record_id)

    @activity.defn(name="create_account")
    async def create_account(self, request: CreateAccount) -> CreatedRecord:
        """Upserted by the customer id (``NetSuite_Internal_ID__c``): a retry never makes a second account."""
        fields = {k: v for k, v in request.fields.items() if k != "NetSuite_Internal_ID__c"}
        with api_errors():
            await asyncio.to_thread(
                self._client.upsert, "Account", "NetSuite_Internal_ID__c", request.customer_id, fields
            )
            account = await asyncio.to_thread(self._client.account_for_customer, request.customer_id)
        if account is None:
            raise business_error(
                BusinessError.ACCOUNT_NOT_FOUND,
                f"Account for NetSuite customer {request.customer_id} was upserted but cannot be read back.",
            )
        return CreatedRecord(record_id=account.id)

    @activity.defn(name="read_contact")
    async def read_contact(self, request: ReadContact) -> MaybeContact:
        fields = list(dict.fromkeys([*request.fields, *CONTACT_META_FIELDS]))
        with api_errors():
            row = await asyncio.to_thread(self._client.record, "Contact", request.contact_id, fields)
        if row is None:
            return MaybeContact()
        return MaybeContact(
            contact=ContactState(
                id=str(row["Id"]),
                account_id=str(row.get("AccountId") or "") or None,
                values={f: plain(row.get(f)) for f in request.fields},
                modified_by=str(row.get("LastModifiedById") or "") or None,
                netsuite_id=str(row.get("NetSuite_Internal_ID__c") or "") or None,
            )
        )

    @activity.defn(name="write_contact")
    async def write_contact(self, request: WriteFields) -> Written:
        with api_errors():
            await asyncio.to_thread(self._client.update, "Contact", request.record_id, request.fields)
        return Written(record_id=request.record_id)
