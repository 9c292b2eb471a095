"""NetSuite activities of the account sync: customers and contacts, over the injected ``NetSuiteClient``
and store. Creates are upserts by the Salesforce id as externalId: a retry never makes a second record."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any, ClassVar

from temporalio import activity

from activities.errors import api_errors
from q2c.connectors.errors import ApiError, ErrorKind
from q2c.connectors.netsuite import NetSuiteClient, parse_netsuite_time, ref_id
from q2c.connectors.netsuite_customers import SF_ACCOUNT_FIELD, CustomerKeys, customers_sharing_a_key, quote
from q2c.domain.account_sync import AccountState, plain
from q2c.domain.matching import AccountCandidate
from q2c.domain.messages import (
    Candidates,
    CreateCustomer,
    CreatedRecord,
    FindCandidates,
    LinkPair,
    MaybeAccountState,
    ReadCustomerState,
    UpsertContact,
    WriteFields,
    Written,
)
from q2c.domain.sync import Side, written_hash
from q2c.store import LinkKind, Store
from workflows import names

_SF_ACCOUNT_ID = re.compile(r"^001[a-zA-Z0-9]{12}([a-zA-Z0-9]{3})?$")


def customer_state(record: dict[str, Any], fields: list[str], *, is_customer: bool) -> AccountState:
    external_id = record.get("externalId")
    cross = record.get(SF_ACCOUNT_FIELD) or (
        external_id if isinstance(external_id, str) and _SF_ACCOUNT_ID.match(external_id) else None
    )
    modified = record.get("lastModifiedDate")
    return AccountState(
        side=Side.NETSUITE,
        id=str(record["id"]),
        values={f: plain(record.get(f)) for f in fields},
        modified_at=parse_netsuite_time(str(modified)) if modified else dt.datetime.now(dt.UTC),
        cross_id=str(cross) if cross else None,
        name=str(record.get("companyName") or ""),
        email=record.get("email"),
        website=record.get("url"),
        subsidiary_id=ref_id(record.get("subsidiary")),
        is_customer=is_customer,
        external_id=str(external_id) if external_id else None,
    )


class NetSuiteAccountActivities:
    """The NetSuite calls of the account sync (customer and contact), over the injected client and store."""

    task_queue: ClassVar[str] = names.NETSUITE_TASK_QUEUE

    def __init__(self, client: NetSuiteClient, store: Store) -> None:
        self._client = client
        self._store = store

    @activity.defn(name="read_customer_state")
    async def read_customer_state(self, request: ReadCustomerState) -> MaybeAccountState:
        with api_errors():
            try:
                record = await self._client.get("customer", request.customer_id)
            except ApiError as exc:
                if exc.kind is ErrorKind.NOT_FOUND:
                    return MaybeAccountState()
                raise
            state = customer_state(record, request.fields, is_customer=request.known_customer)
            echo = request.unchanged_hash is not None and request.unchanged_hash == written_hash(
                {f: state.values.get(f) for f in request.fields}
            )
            if not (request.known_customer or echo):
                state.is_customer = await self._has_transactions(request.customer_id)
        return MaybeAccountState(state=state)

    async def _has_transactions(self, customer_id: str) -> bool:
        """A prospect becomes a customer with its first sales order or invoice (NetSuite's own rule)."""
        rows = await self._client.suiteql_rows(
            "SELECT COUNT(*) AS n FROM transaction WHERE entity = "
            f"{quote(customer_id)} AND type IN ('SalesOrd', 'CustInvc')"
        )
        return bool(rows) and int(rows[0].get("n") or 0) > 0

    @activity.defn(name="find_customer_candidates")
    async def find_customer_candidates(self, request: FindCandidates) -> Candidates:
        """Every active customer sharing a matching key with the account (cross id, domain, normalized
        name), all pages of them: the matching rules rank them, nothing is cut off before."""
        record = request.record
        linked = await asyncio.to_thread(self._store.find_link, LinkKind.ACCOUNT, salesforce_id=record.id)
        pointed_at = {record.cross_id, linked.netsuite_id if linked else None}
        keys = CustomerKeys.of(record.id, record.name, record.domains(), pointed_at)
        with api_errors():
            rows = await customers_sharing_a_key(self._client, keys)
        links = await asyncio.to_thread(
            self._store.salesforce_ids, LinkKind.ACCOUNT, [str(row["id"]) for row in rows]
        )
        candidates = []
        for row in rows:
            external_id = row.get("externalid")
            cross = links.get(str(row["id"])) or row.get(SF_ACCOUNT_FIELD)
            if cross is None and isinstance(external_id, str) and _SF_ACCOUNT_ID.match(external_id):
                cross = external_id
            candidates.append(
                AccountCandidate(
                    side=Side.NETSUITE,
                    id=str(row["id"]),
                    name=str(row.get("companyname") or ""),
                    email=row.get("email"),
                    website=row.get("url"),
                    cross_id=cross,
                )
            )
        return Candidates(candidates=candidates)

    @activity.defn(name="write_customer")
    async def write_customer(self, request: WriteFields) -> Written:
        with api_errors():
            await self._client.patch("customer", request.record_id, request.fields)
        return Written(record_id=request.record_id)

    @activity.defn(name="create_customer")
    async def create_customer(self, request: CreateCustomer) -> CreatedRecord:
        """Upserted by the account id as externalId (as the order workflow does): never a second one."""
        body = {**request.fields, SF_ACCOUNT_FIELD: request.account_id}
        with api_errors():
            customer_id = await self._client.upsert("customer", request.account_id, body)
        await asyncio.to_thread(self._store.link, LinkKind.ACCOUNT, request.account_id, customer_id)
        return CreatedRecord(record_id=customer_id)

    @activity.defn(name="link_customer")
    async def link_customer(self, request: LinkPair) -> Written:
        """Write the account id on the customer (custom field, and externalId when free) and in the store."""
        with api_errors():
            record = await self._client.get("customer", request.customer_id)
            body: dict[str, Any] = {SF_ACCOUNT_FIELD: request.account_id}
            if not record.get("externalId"):
                # So the order workflow's upsert by account id finds this customer rather than making one.
                body["externalId"] = request.account_id
            if record.get(SF_ACCOUNT_FIELD) != request.account_id or "externalId" in body:
                await self._client.patch("customer", request.customer_id, body)
        await asyncio.to_thread(self._store.link, LinkKind.ACCOUNT, request.account_id, request.customer_id)
        return Written(record_id=request.customer_id)

    @activity.defn(name="upsert_contact")
    async def upsert_contact(self, request: UpsertContact) -> CreatedRecord:
        with api_errors():
            contact_id = await self._client.upsert("contact", request.contact_id, request.body)
        await asyncio.to_thread(self._store.link, LinkKind.CONTACT, request.contact_id, contact_id)
        return CreatedRecord(record_id=contact_id)
