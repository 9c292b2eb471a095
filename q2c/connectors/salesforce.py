"""Salesforce REST through simple-salesforce.

q2c obtains the OAuth token itself (simple-salesforce's login helpers only reach salesforce.com hosts) and
hands ``instance_url`` + ``session_id`` to simple-salesforce, whose ``requests.Session`` trusts the
configured CA. An expired session is renewed once, transparently. Every failure leaves as ``ApiError``.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from pydantic import SecretStr
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from simple_salesforce.format import format_soql

from q2c import telemetry
from q2c.connectors.errors import (
    REQUEST_LIMIT_BACKOFF_SECONDS,
    ApiError,
    ErrorKind,
    classify,
    transport_error,
)
from q2c.domain.records import Account, Opportunity, OpportunityLine, Product

SYSTEM = "Salesforce"
_ID = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")
_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
T = TypeVar("T")

OPPORTUNITY_SOQL = """
SELECT Id, Name, StageName, IsWon, IsClosed, Amount, CurrencyIsoCode, CloseDate,
       NetSuite_Sales_Order_ID__c, NetSuite_Sales_Order_Number__c, Inventory_Warning__c,
       AccountId, Account.Name, Account.Website, Account.Phone, Account.CurrencyIsoCode,
       Account.NetSuite_Internal_ID__c, Account.OwnerId,
       (SELECT Id, Quantity, UnitPrice, TotalPrice, Description,
               Product2Id, Product2.Name, Product2.ProductCode, Product2.NetSuite_Internal_ID__c,
               Product2.IsActive, Product2.Quantity_Available__c
        FROM OpportunityLineItems ORDER BY Id)
FROM Opportunity WHERE Id = {}
"""


@dataclass(frozen=True)
class SalesforceConnection:
    token_url: str
    client_id: str
    client_secret: SecretStr
    username: str
    password: SecretStr
    grant: str = "password"
    api_version: str = "59.0"
    ca_path: Path | None = None


class _PinnedTrustSession(requests.Session):
    """A session whose ``verify`` wins over the environment.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE replace ``Session.verify`` on every request
    (psf/requests#3829); a CA configured for q2c must not be silently swapped for the system bundle.
    Proxies and the rest still come from the environment.
    """

    def __init__(self) -> None:
        super().__init__()
        self.api_usage: tuple[int, int] | None = None  # the org's (used, max) from the last response
        self.hooks["response"].append(self._note_usage)

    def _note_usage(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        telemetry.api_call("salesforce", response.status_code)
        found = _USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if found:
            self.api_usage = (int(found.group(1)), int(found.group(2)))

    def merge_environment_settings(self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any) -> Any:
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None or verify is True:
            merged["verify"] = self.verify
        return merged


def require_id(record_id: str, what: str) -> str:
    if not _ID.match(record_id):
        raise ApiError(
            system=SYSTEM,
            operation=f"lookup of {what}",
            kind=ErrorKind.PERMANENT,
            code="MALFORMED_ID",
            detail=f"{record_id!r} is not a Salesforce id (15 or 18 letters and digits)",
        )
    return record_id


class SalesforceClient:
    """A thread-safe Salesforce client; one per worker."""

    def __init__(self, connection: SalesforceConnection) -> None:
        self._conn = connection
        self._session = _PinnedTrustSession()
        if connection.ca_path is not None:
            self._session.verify = str(connection.ca_path)
        self._lock = threading.Lock()
        self._sf: Salesforce | None = None
        self._user_id: str | None = None

    # -- session ---------------------------------------------------------------------------------
    def _login(self) -> Salesforce:
        form = {"grant_type": self._conn.grant}
        auth: tuple[str, str] | None = None
        if self._conn.grant == "password":
            form |= {
                "client_id": self._conn.client_id,
                "client_secret": self._conn.client_secret.get_secret_value(),
                "username": self._conn.username,
                "password": self._conn.password.get_secret_value(),
            }
        else:
            auth = (self._conn.client_id, self._conn.client_secret.get_secret_value())
        operation = f"login ({self._conn.grant} grant) at {self._conn.token_url}"
        try:
            response = self._session.post(self._conn.token_url, data=form, auth=auth, timeout=30)
        except requests.RequestException as exc:
            telemetry.api_call("salesforce", telemetry.TRANSPORT_ERROR)
            raise transport_error(SYSTEM, operation, exc) from None
        if response.status_code != 200:
            body = _json_or_none(response) or {}
            code = str(body.get("error", "LOGIN_FAILED")) if isinstance(body, dict) else "LOGIN_FAILED"
            detail = body.get("error_description", response.text[:200]) if isinstance(body, dict) else ""
            kind = ErrorKind.RETRYABLE if response.status_code >= 500 else ErrorKind.AUTH
            raise ApiError(
                system=SYSTEM,
                operation=operation,
                kind=kind,
                code=code,
                status=response.status_code,
                detail=f"{detail}; check the Q2C_SALESFORCE_* credentials",
            )
        token = response.json()
        # The identity URL ends with the user id: the integration user every q2c write is stamped with.
        self._user_id = str(token.get("id") or "").rstrip("/").rsplit("/", 1)[-1] or None
        return Salesforce(
            instance_url=token["instance_url"],
            session_id=token["access_token"],
            session=self._session,
            version=self._conn.api_version,
            parse_float=Decimal,
        )

    def _client(self, renew: bool = False) -> Salesforce:
        with self._lock:
            if self._sf is None or renew:
                self._sf = self._login()
            return self._sf

    @property
    def user_id(self) -> str | None:
        """The id of the user q2c acts as (LastModifiedById of its writes): loop guard 1."""
        self._client()
        return self._user_id

    @property
    def instance_url(self) -> str:
        return "https://" + self._client().sf_instance

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """The org's daily API usage (used, max) as its last response reported it (Sforce-Limit-Info)."""
        return self._session.api_usage

    def call(self, operation: str, call: Callable[[Salesforce], T]) -> T:
        """Any simple-salesforce call (the Bulk API 2.0 client, ``q2c.connectors.salesforce_bulk``), with
        the session renewal and error classification of every other call."""
        return self._call(operation, call)

    def _call(self, operation: str, call: Callable[[Salesforce], T]) -> T:
        """Run one API call, renewing an expired session once, and classify any failure."""
        try:
            try:
                return call(self._client())
            except SalesforceExpiredSession:
                return call(self._client(renew=True))
        except SalesforceError as exc:
            raise _api_error(operation, exc) from None
        except requests.RequestException as exc:
            telemetry.api_call("salesforce", telemetry.TRANSPORT_ERROR)
            raise transport_error(SYSTEM, operation, exc) from None

    # -- calls -----------------------------------------------------------------------------------
    def get_opportunity(self, opportunity_id: str) -> Opportunity | None:
        """The opportunity with its account and line items (one SOQL query), or None if it is absent."""
        soql = format_soql(OPPORTUNITY_SOQL, require_id(opportunity_id, "an opportunity"))
        result = self._call(f"query of Opportunity {opportunity_id}", lambda sf: sf.query(soql))
        records = result.get("records") or []
        return _opportunity(records[0]) if records else None

    def update(self, sobject: str, record_id: str, fields: dict[str, Any]) -> None:
        require_id(record_id, sobject)
        self._call(
            f"update of {sobject} {record_id}",
            lambda sf: getattr(sf, sobject).update(record_id, fields),
        )

    def upsert(self, sobject: str, external_field: str, value: str, fields: dict[str, Any]) -> bool:
        """Create or update the record whose ``external_field`` is ``value``; True when created."""
        status = self._call(
            f"upsert of {sobject} {external_field}={value}",
            lambda sf: getattr(sf, sobject).upsert(f"{external_field}/{quote(value, safe='')}", fields),
        )
        return status == 201

    def upsert_with_id(
        self, sobject: str, external_field: str, value: str, fields: dict[str, Any]
    ) -> tuple[str, bool]:
        """``upsert``, returning the record's id and whether it was created. An update answered 204
        (no body: some API versions) costs one more call, a GET by the external id."""
        path = f"{external_field}/{quote(value, safe='')}"
        response = self._call(
            f"upsert of {sobject} {external_field}={value}",
            lambda sf: getattr(sf, sobject).upsert(path, fields, raw_response=True),
        )
        body = _json_or_none(response) if response.content else None
        if isinstance(body, dict) and body.get("id"):
            return str(body["id"]), response.status_code == 201
        found = self._call(
            f"read of {sobject} {external_field}={value}", lambda sf: getattr(sf, sobject).get(path)
        )
        return str(found["Id"]), False

    def get_account(self, account_id: str) -> Account | None:
        return self._account_where("Id", require_id(account_id, "an account"))

    def account_for_customer(self, netsuite_customer_id: str) -> Account | None:
        """The account carrying this NetSuite customer id (the cross id q2c or a person wrote)."""
        return self._account_where("NetSuite_Internal_ID__c", netsuite_customer_id)

    def _account_where(self, field: str, value: str) -> Account | None:
        soql = format_soql(
            "SELECT Id, Name, Website, Phone, CurrencyIsoCode, NetSuite_Internal_ID__c, OwnerId "
            f"FROM Account WHERE {field} = {{}} LIMIT 1",
            value,
        )
        result = self._call(f"query of Account {field}={value}", lambda sf: sf.query(soql))
        records = result.get("records") or []
        if not records:
            return None
        return _account(records[0]["Id"], records[0])

    def record(self, sobject: str, record_id: str, fields: list[str]) -> dict[str, Any] | None:
        """One record's ``fields`` by id (one SOQL query), or None when it does not exist."""
        names = ", ".join(dict.fromkeys(["Id", *fields]))
        soql = format_soql(f"SELECT {names} FROM {sobject} WHERE Id = {{}}", require_id(record_id, sobject))
        result = self._call(f"query of {sobject} {record_id}", lambda sf: sf.query(soql))
        records = result.get("records") or []
        return dict(records[0]) if records else None

    def find_accounts(
        self, *, netsuite_id: str | None, name_like: str | None, domains: list[str]
    ) -> list[dict[str, Any]]:
        """Every account that may be the company: by cross id, name pattern or website domain. The
        conditions are necessary ones (SOQL cannot normalize a name), all pages are read, and
        `q2c.domain.matching` decides."""
        clauses: list[str] = []
        if netsuite_id:
            clauses.append(format_soql("NetSuite_Internal_ID__c = {}", netsuite_id))
        if name_like:
            clauses.append(format_soql("Name LIKE {}", name_like))
        for domain in domains:
            clauses.append(format_soql("Website LIKE '%{:like}%'", domain))
        if not clauses:
            return []
        soql = (
            "SELECT Id, Name, Website, NetSuite_Internal_ID__c FROM Account "
            f"WHERE {' OR '.join(clauses)} ORDER BY Id"
        )
        return self.query_all(soql)

    def create(self, sobject: str, fields: dict[str, Any]) -> str:
        result = self._call(f"create of {sobject}", lambda sf: getattr(sf, sobject).create(fields))
        return str(result["id"])

    def restful(self, operation: str, path: str, *, method: str, json: Any) -> list[dict[str, Any]]:
        """One REST call under ``/services/data/vNN.N/`` (sObject Collections), returning its JSON list."""
        result = self._call(operation, lambda sf: sf.restful(path, method=method, json=json))
        return list(result or [])

    def query_all(self, soql: str) -> list[dict[str, Any]]:
        result = self._call("query", lambda sf: sf.query_all(soql))
        return list(result.get("records") or [])

    def record_url(self, sobject: str, record_id: str) -> str:
        return f"{self.instance_url}/lightning/r/{sobject}/{record_id}/view"


def _api_error(operation: str, exc: SalesforceError) -> ApiError:
    content = exc.content
    first: dict[str, Any] = {}
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
    elif isinstance(content, dict):
        first = content
    code = str(first.get("errorCode") or type(exc).__name__)
    detail = str(first.get("message") or content)[:500]
    fields = first.get("fields")
    if fields:
        detail += f" (fields: {', '.join(map(str, fields))})"
    kind = classify(exc.status, code)
    retry_after = REQUEST_LIMIT_BACKOFF_SECONDS if code == "REQUEST_LIMIT_EXCEEDED" else None
    return ApiError(
        system=SYSTEM,
        operation=operation,
        kind=kind,
        code=code,
        detail=detail,
        status=exc.status,
        retry_after=retry_after,
    )


def _json_or_none(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _account(account_id: str, row: dict[str, Any]) -> Account:
    """An Account from a query row (or the ``Account`` parent object of another row)."""
    return Account(
        id=account_id,
        name=row.get("Name") or "",
        website=row.get("Website"),
        phone=row.get("Phone"),
        currency=row.get("CurrencyIsoCode"),
        netsuite_customer_id=row.get("NetSuite_Internal_ID__c"),
        owner_id=row.get("OwnerId"),
    )


def _opportunity(row: dict[str, Any]) -> Opportunity:
    account_row = row.get("Account")
    account = _account(row["AccountId"], account_row) if account_row else None
    lines_block = row.get("OpportunityLineItems") or {}
    lines = []
    for line in lines_block.get("records") or []:
        product_row = line.get("Product2")
        product = None
        if product_row:
            available = product_row.get("Quantity_Available__c")
            product = Product(
                id=line["Product2Id"],
                name=product_row.get("Name") or "",
                code=product_row.get("ProductCode"),
                netsuite_item_id=product_row.get("NetSuite_Internal_ID__c"),
                is_active=product_row.get("IsActive") is not False,
                quantity_available=Decimal(str(available)) if available is not None else None,
            )
        quantity = Decimal(str(line.get("Quantity") or 0))
        unit_price = Decimal(str(line.get("UnitPrice") or 0))
        total = line.get("TotalPrice")
        lines.append(
            OpportunityLine(
                id=line["Id"],
                product=product,
                quantity=quantity,
                unit_price=unit_price,
                total_price=Decimal(str(total)) if total is not None else quantity * unit_price,
                description=line.get("Description"),
            )
        )
    amount = row.get("Amount")
    return Opportunity(
        id=row["Id"],
        name=row.get("Name") or "",
        stage=row.get("StageName") or "",
        is_won=bool(row.get("IsWon")),
        is_closed=bool(row.get("IsClosed")),
        amount=Decimal(str(amount)) if amount is not None else None,
        currency=row.get("CurrencyIsoCode"),
        close_date=row.get("CloseDate"),
        account=account,
        lines=lines,
        netsuite_sales_order_id=row.get("NetSuite_Sales_Order_ID__c"),
        netsuite_sales_order_number=row.get("NetSuite_Sales_Order_Number__c"),
        inventory_warning=row.get("Inventory_Warning__c") or None,
    )


def parse_salesforce_time(value: str) -> dt.datetime:
    """A Salesforce datetime (``2026-01-05T10:00:00.000+0000``) as an aware datetime."""
    return dt.datetime.strptime(value.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
