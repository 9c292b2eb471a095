"""Salesforce reads and writes of customer onboarding: users (the CSM roster and their managers), the
account, the ``Onboarding__c`` record and the onboarding's Tasks.

Tasks carry ``Q2C_Key__c`` (``onboarding:{customer}:{attempt}:{step}``), an external id, and are upserted
by it, so a retried step never makes a second task. Users are read by username or id in one query, with
their manager's active flag (an escalation goes to an active manager only).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from simple_salesforce.format import format_soql

from q2c.connectors.salesforce import SalesforceClient, parse_salesforce_time, require_id

TASK_KEY_FIELD = "Q2C_Key__c"
ONBOARDING_OBJECT = "Onboarding__c"
ONBOARDING_EXTERNAL_ID = "NetSuite_Customer_ID__c"
IN_LIST = 300  # values per SOQL IN list (a GET: URI and headers stay well under 16 KB)
_USER_FIELDS = "Id, Username, Name, IsActive, ManagerId, Manager.IsActive"


def _chunks(values: list[str], size: int = IN_LIST) -> Iterable[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _is_id(value: str) -> bool:
    return len(value) in (15, 18) and value.isalnum() and value.startswith("005")


class SalesforceOnboarding:
    def __init__(self, client: SalesforceClient) -> None:
        self._client = client

    def users(self, names: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Users by username (lower case) and by id (both 15- and 18-character keys), for usernames and
        ids given in any mix; absent users are simply missing."""
        wanted = sorted({n.strip() for n in names if n.strip()})
        ids = [n for n in wanted if _is_id(n)]
        usernames = [n for n in wanted if not _is_id(n)]
        rows: list[dict[str, Any]] = []
        for chunk in _chunks(usernames):
            rows += self._client.query_all(
                format_soql(f"SELECT {_USER_FIELDS} FROM User WHERE Username IN {{}}", chunk)
            )
        for chunk in _chunks(ids):
            rows += self._client.query_all(
                format_soql(f"SELECT {_USER_FIELDS} FROM User WHERE Id IN {{}}", chunk)
            )
        found: dict[str, dict[str, Any]] = {}
        for row in rows:
            found[str(row["Username"]).lower()] = row
            found[str(row["Id"])] = found[str(row["Id"])[:15]] = row
        return found

    def account(self, *, account_id: str | None, customer_id: str) -> dict[str, Any] | None:
        """The account to onboard: by id, else the one carrying the NetSuite customer's id."""
        fields = "Id, Name, OwnerId, BillingCountry, CurrencyIsoCode"
        if account_id:
            soql = format_soql(
                f"SELECT {fields} FROM Account WHERE Id = {{}}", require_id(account_id, "an account")
            )
        else:
            soql = format_soql(
                f"SELECT {fields} FROM Account WHERE NetSuite_Internal_ID__c = {{}}", customer_id
            )
        rows = self._client.query_all(soql + " LIMIT 1")
        return rows[0] if rows else None

    def upsert_onboarding(self, customer_id: str, fields: dict[str, Any]) -> str:
        record_id, _ = self._client.upsert_with_id(
            ONBOARDING_OBJECT, ONBOARDING_EXTERNAL_ID, customer_id, fields
        )
        return record_id

    def upsert_task(self, key: str, fields: dict[str, Any]) -> str:
        task_id, _ = self._client.upsert_with_id("Task", TASK_KEY_FIELD, key, fields)
        return task_id

    def tasks(self, keys: Iterable[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(set(keys))):
            rows += self._client.query_all(
                format_soql(
                    "SELECT Id, Q2C_Key__c, Status, IsClosed, CompletedDateTime, OwnerId, Description "
                    "FROM Task WHERE Q2C_Key__c IN {}",
                    chunk,
                )
            )
        return rows

    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        self._client.update(sobject, record_id, fields)


def completed_on(row: dict[str, Any]) -> dt.date | None:
    value = row.get("CompletedDateTime")
    return parse_salesforce_time(str(value)).date() if value else None
