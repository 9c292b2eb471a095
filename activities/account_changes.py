"""Account sync's change events: the Salesforce poller's read of accounts and contacts changed since its
watermark, and the hand-over of change events (from either poller) to the account workflows."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any, ClassVar

from temporalio import activity

from activities.errors import api_errors
from q2c.connectors.salesforce import SalesforceClient, parse_salesforce_time
from q2c.domain.messages import (
    AccountNotifications,
    ChangeCursor,
    ContactChangeFor,
    NetSuiteCustomerChanged,
    Notified,
    ReadSalesforceChanges,
    SalesforceAccountChanged,
    SalesforceChanges,
    SalesforceContactChanged,
    SalesforceWatermark,
    StartAccountSync,
    Written,
)
from q2c.store import LinkKind, Store
from temporal_client.steering import Steering
from workflows import names

_WATCHED = {"Account": "Id", "Contact": "Id, AccountId"}  # object -> the fields a change event needs
# Onboarding's: its Tasks (completed, reopened, cancelled by people) and users (a CSM deactivated, a new
# manager). object -> (fields, condition).
_ONBOARDING_WATCHED = {
    "Task": ("Id, Q2C_Key__c", "Q2C_Key__c LIKE 'onboarding:%'"),
    "User": ("Id, IsActive", ""),
}


def _soql_time(value: dt.datetime) -> str:
    """A SOQL datetime literal. Salesforce stamps to the second (the milliseconds it prints are 000);
    a sandbox that keeps milliseconds gets them back, so the keyset compares like with like."""
    value = value.astimezone(dt.UTC)
    millis = f".{value.microsecond // 1000:03d}" if value.microsecond else ""
    return value.strftime("%Y-%m-%dT%H:%M:%S") + millis + "Z"


def _soql_id(value: str) -> str:
    if not value.isalnum():
        raise ValueError(f"{value!r} is not a Salesforce id")
    return value


def _salesforce_watermark(value: str, overlap_seconds: int) -> SalesforceWatermark:
    if value.startswith("{"):
        return SalesforceWatermark.model_validate_json(value)
    # A watermark saved before cursors (the newest SystemModstamp read): the next read is today's
    # "since the watermark minus the overlap", then cursors take over.
    stamp = dt.datetime.fromisoformat(value)
    reread = (stamp - dt.timedelta(seconds=overlap_seconds)).isoformat()
    return SalesforceWatermark(
        objects={s: ChangeCursor(stamp=stamp.isoformat(), reread_from=reread) for s in _WATCHED}
    )


def _advance(
    cursor: ChangeCursor, page: list[dict[str, Any]], limit: int, in_flight_since: dt.datetime
) -> ChangeCursor:
    """The cursor after reading ``page`` from ``cursor``. Records stamped after ``in_flight_since``
    (now minus the overlap) may still be joined by records committed late with an earlier stamp: the
    next poll that has caught up reads those again."""
    stamp, record_id = cursor.stamp, cursor.id
    if page:
        stamp, record_id = _iso(str(page[-1]["SystemModstamp"])), str(page[-1]["Id"])
    owed = [cursor.reread_from] if cursor.behind and cursor.reread_from else []
    if in_flight_since < dt.datetime.fromisoformat(stamp):
        owed.append(in_flight_since.replace(microsecond=0).isoformat())
    return ChangeCursor(
        stamp=stamp,
        id=record_id,
        behind=len(page) >= limit,
        reread_from=min(owed, key=dt.datetime.fromisoformat) if owed else None,
    )


class AccountChangeActivities:
    """Reads Salesforce changes since a watermark and hands change events to the account workflows."""

    task_queue: ClassVar[str] = names.TASK_QUEUE

    def __init__(self, salesforce: SalesforceClient, store: Store, steering: Steering) -> None:
        self._salesforce = salesforce
        self._store = store
        self._steering = steering

    @activity.defn(name="read_salesforce_changes")
    async def read_salesforce_changes(self, request: ReadSalesforceChanges) -> SalesforceChanges:
        """Accounts and contacts changed since the watermark, except the ones q2c's own integration user
        changed last (loop guard 1): one page per object, on (SystemModstamp, Id), so that a data load
        of any size inside the overlap is read page after page, poll after poll, and never stalls. The
        overlap re-reads only what may have been in flight when last read. Without a watermark (first
        run) the poller starts from now: existing records are synced by their next change."""
        now = dt.datetime.now(dt.UTC)
        watched: dict[str, tuple[str, str]] = {sobject: (fields, "") for sobject, fields in _WATCHED.items()}
        if request.onboarding:
            watched |= _ONBOARDING_WATCHED
        with api_errors():
            me = await asyncio.to_thread(lambda: self._salesforce.user_id)
            if request.watermark is None:
                mark = SalesforceWatermark(objects={s: await self._newest(s, now) for s in watched})
                return SalesforceChanges(watermark=mark.model_dump_json())
            mark = _salesforce_watermark(request.watermark, request.overlap_seconds)
            rows: dict[str, list[dict[str, Any]]] = {}
            for sobject, (fields, condition) in watched.items():
                # An object watched since this poll starts from now: its past is not replayed.
                cursor = mark.objects.get(sobject) or await self._newest(sobject, now)
                rows[sobject] = await self._changed(sobject, fields, cursor, request.limit, condition)
                mark.objects[sobject] = _advance(
                    cursor, rows[sobject], request.limit, now - dt.timedelta(seconds=request.overlap_seconds)
                )
                activity.heartbeat(sobject)
        result = SalesforceChanges(watermark=mark.model_dump_json())
        for row in rows.get("Task", []):
            if row.get("LastModifiedById") == me:
                result.own_writes_skipped += 1
                continue
            result.onboarding_tasks.append(str(row["Q2C_Key__c"]))
        result.users = [str(row["Id"]) for row in rows.get("User", []) if row.get("LastModifiedById") != me]
        for row in rows["Account"]:
            if row.get("LastModifiedById") == me:
                result.own_writes_skipped += 1
                continue
            result.accounts.append(
                SalesforceAccountChanged(
                    account_id=row["Id"], modified_by=row.get("LastModifiedById"), source="poller"
                )
            )
        for row in rows["Contact"]:
            if row.get("LastModifiedById") == me:
                result.own_writes_skipped += 1
                continue
            if not row.get("AccountId"):
                continue  # a private contact has no company to go under
            result.contacts.append(
                ContactChangeFor(
                    account_id=row["AccountId"],
                    event=SalesforceContactChanged(
                        contact_id=row["Id"], modified_by=row.get("LastModifiedById"), source="poller"
                    ),
                )
            )
        return result

    async def _changed(
        self, sobject: str, fields: str, cursor: ChangeCursor, limit: int, condition: str = ""
    ) -> list[dict[str, Any]]:
        stamp = dt.datetime.fromisoformat(cursor.stamp)
        reread = dt.datetime.fromisoformat(cursor.reread_from) if cursor.reread_from else None
        if not cursor.behind and reread is not None and reread < stamp:
            after = f"SystemModstamp >= {_soql_time(reread)}"
        elif not cursor.id:
            after = f"SystemModstamp >= {_soql_time(stamp)}"
        else:
            # Keyset: past the last record read, in the order read (ties on the stamp broken by Id).
            after = (
                f"(SystemModstamp > {_soql_time(stamp)} OR "
                f"(SystemModstamp = {_soql_time(stamp)} AND Id > '{_soql_id(cursor.id)}'))"
            )
        where = f"{after} AND {condition}" if condition else after
        soql = (
            f"SELECT {fields}, LastModifiedById, SystemModstamp FROM {sobject} "
            f"WHERE {where} ORDER BY SystemModstamp, Id LIMIT {int(limit)}"
        )
        return await asyncio.to_thread(self._salesforce.query_all, soql)

    async def _newest(self, sobject: str, now: dt.datetime) -> ChangeCursor:
        rows = await asyncio.to_thread(
            self._salesforce.query_all,
            f"SELECT Id, SystemModstamp FROM {sobject} ORDER BY SystemModstamp DESC, Id DESC LIMIT 1",
        )
        if not rows:
            return ChangeCursor(stamp=now.replace(microsecond=0).isoformat())
        return ChangeCursor(stamp=_iso(str(rows[0]["SystemModstamp"])), id=str(rows[0]["Id"]))

    @activity.defn(name="notify_account_changes")
    async def notify_account_changes(self, request: AccountNotifications) -> Notified:
        """Signal-with-start each account workflow concerned (idempotent: a repeat is one more re-read)."""
        signalled = 0
        for event in request.salesforce_accounts:
            await self._steering.salesforce_account_changed(event)
            signalled += 1
            activity.heartbeat(signalled)
        for change in request.salesforce_contacts:
            await self._steering.salesforce_contact_changed(change.account_id, change.event)
            signalled += 1
            activity.heartbeat(signalled)
        for customer_id in request.netsuite_customers:
            link = await asyncio.to_thread(self._store.find_link, LinkKind.ACCOUNT, netsuite_id=customer_id)
            await self._steering.netsuite_customer_changed(
                NetSuiteCustomerChanged(customer_id=customer_id, source=request.source),
                link.salesforce_id if link else None,
            )
            signalled += 1
            activity.heartbeat(signalled)
        return Notified(signalled=signalled)

    @activity.defn(name="start_account_sync")
    async def start_account_sync(self, request: StartAccountSync) -> Written:
        await self._steering.netsuite_customer_changed(
            NetSuiteCustomerChanged(customer_id=request.customer_id or "", source=request.source),
            request.account_id,
        )
        return Written(record_id=request.account_id)


def _iso(salesforce_time: str) -> str:
    return parse_salesforce_time(salesforce_time).isoformat()
