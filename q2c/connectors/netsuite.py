"""NetSuite REST web services (record API and SuiteQL) over httpx, signed with Token-Based Authentication.

Signing is oauthlib's (OAuth 1.0a, HMAC-SHA256, realm = account id); no hand-written crypto. Each
request gets a fresh nonce and timestamp, so a retried call is a new, valid request. Every failure
leaves as ``ApiError``, with NetSuite's own error code and detail and any Retry-After honoured.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from oauthlib import oauth1
from pydantic import SecretStr

from q2c import telemetry
from q2c.connectors.errors import ApiError, ErrorKind, classify, parse_retry_after, transport_error

SYSTEM = "NetSuite"
RECORD_PATH = "/services/rest/record/v1"
SUITEQL_PATH = "/services/rest/query/v1/suiteql"


@dataclass(frozen=True)
class NetSuiteConnection:
    account_id: str
    base_url: str
    consumer_key: str
    consumer_secret: SecretStr
    token_id: str
    token_secret: SecretStr
    ca_path: Path | None = None
    timeout_seconds: float = 60.0

    @property
    def realm(self) -> str:
        # The realm is the account id in upper case with underscores (1234567_SB1), while the host
        # uses lower case with dashes (1234567-sb1.suitetalk.api.netsuite.com).
        return self.account_id.upper().replace("-", "_")


class NetSuiteClient:
    """An async NetSuite client; one per worker, safe for concurrent use."""

    def __init__(self, connection: NetSuiteConnection) -> None:
        self._conn = connection
        self._base = connection.base_url.rstrip("/")
        verify: Any = str(connection.ca_path) if connection.ca_path else True
        self._http = httpx.AsyncClient(verify=verify, timeout=connection.timeout_seconds)
        telemetry.instrument_async_client(self._http)

    async def aclose(self) -> None:
        await self._http.aclose()

    def _signer(self) -> oauth1.Client:
        return oauth1.Client(
            self._conn.consumer_key,
            client_secret=self._conn.consumer_secret.get_secret_value(),
            resource_owner_key=self._conn.token_id,
            resource_owner_secret=self._conn.token_secret.get_secret_value(),
            signature_method=oauth1.SIGNATURE_HMAC_SHA256,
            realm=self._conn.realm,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        url = self._base + path
        if params:
            url += "?" + urlencode(params)
        content = json.dumps(body) if body is not None else None
        send_headers = {"Accept": "application/json", **(headers or {})}
        if content is not None:
            send_headers["Content-Type"] = "application/json"
        _, signed_headers, _ = self._signer().sign(url, method, content, send_headers)
        telemetry.netsuite_request_started()
        try:
            response = await self._http.request(method, url, content=content, headers=signed_headers)
        except httpx.HTTPError as exc:
            telemetry.api_call("netsuite", telemetry.TRANSPORT_ERROR)
            raise transport_error(SYSTEM, operation, exc) from None
        finally:
            telemetry.netsuite_request_ended()
        telemetry.api_call("netsuite", response.status_code)
        if response.status_code >= 400:
            raise _api_error(operation, response)
        return response

    # -- record API ------------------------------------------------------------------------------
    async def upsert(
        self, record_type: str, external_id: str, body: dict[str, Any], *, replace: str | None = None
    ) -> str:
        """Create or update the record whose externalId is ``external_id``; returns its internal id.

        ``replace`` names sublists (e.g. ``item``) whose lines the body replaces: without it NetSuite
        adds the sent lines to the existing ones, and a repeated upsert would duplicate them.
        """
        path = f"{RECORD_PATH}/{record_type}/eid:{quote(external_id, safe='')}"
        response = await self.request(
            "PUT",
            path,
            body=body,
            params={"replace": replace} if replace else None,
            operation=f"upsert of {record_type} with externalId {external_id}",
        )
        return _id_from_location(response, record_type)

    async def create(self, record_type: str, body: dict[str, Any]) -> str:
        response = await self.request(
            "POST", f"{RECORD_PATH}/{record_type}", body=body, operation=f"create of {record_type}"
        )
        return _id_from_location(response, record_type)

    async def get(self, record_type: str, record_id: str, *, expand: bool = False) -> dict[str, Any]:
        params = {"expandSubResources": "true"} if expand else None
        response = await self.request(
            "GET",
            f"{RECORD_PATH}/{record_type}/{quote(record_id, safe=':')}",
            params=params,
            operation=f"read of {record_type} {record_id}",
        )
        result: dict[str, Any] = response.json()
        return result

    async def patch(
        self, record_type: str, record_id: str, body: dict[str, Any], *, replace: str | None = None
    ) -> None:
        await self.request(
            "PATCH",
            f"{RECORD_PATH}/{record_type}/{quote(record_id, safe=':')}",
            body=body,
            params={"replace": replace} if replace else None,
            operation=f"update of {record_type} {record_id}",
        )

    async def suiteql_rows(self, query: str, *, page_size: int = 1000) -> list[dict[str, Any]]:
        """Every row of a SuiteQL query, paging with offset while NetSuite says there is more."""
        rows: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = await self.suiteql(query, limit=page_size, offset=offset)
            rows.extend(page.get("items") or [])
            if not page.get("hasMore"):
                return rows
            offset += page_size

    async def suiteql(self, query: str, *, limit: int = 1000, offset: int = 0) -> dict[str, Any]:
        response = await self.request(
            "POST",
            SUITEQL_PATH,
            params={"limit": limit, "offset": offset},
            body={"q": query},
            headers={"Prefer": "transient"},
            operation="SuiteQL query",
        )
        result: dict[str, Any] = response.json()
        return result


def ref_id(value: Any) -> str | None:
    """The internal id of a record reference (``{"id": "14", "refName": ...}``)."""
    return str(value["id"]) if isinstance(value, dict) and value.get("id") is not None else None


def ref_name(value: Any) -> str | None:
    """The display name of a record reference, or the value itself for a plain field."""
    if isinstance(value, dict):
        name = value.get("refName")
        return str(name) if name is not None else None
    return str(value) if value is not None else None


def _id_from_location(response: httpx.Response, record_type: str) -> str:
    location = response.headers.get("Location", "")
    record_id = location.rstrip("/").rsplit("/", 1)[-1]
    if not record_id or not location:
        raise ApiError(
            system=SYSTEM,
            operation=f"write of {record_type}",
            kind=ErrorKind.PERMANENT,
            code="NO_LOCATION",
            status=response.status_code,
            detail="the response carried no Location header with the record id",
        )
    return record_id


def _api_error(operation: str, response: httpx.Response) -> ApiError:
    code, detail = f"HTTP_{response.status_code}", response.text[:300]
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        details = body.get("o:errorDetails") or []
        if details and isinstance(details[0], dict):
            first = details[0]
            code = str(first.get("o:errorCode") or code)
            detail = str(first.get("detail") or body.get("title") or detail)
            if first.get("o:errorPath"):
                detail += f" (at {first['o:errorPath']})"
        elif body.get("title"):
            detail = str(body["title"])
    return ApiError(
        system=SYSTEM,
        operation=operation,
        kind=classify(response.status_code, code),
        code=code,
        detail=detail,
        status=response.status_code,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%d %H:%M:%S",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y",
)


def parse_netsuite_time(value: str) -> dt.datetime:
    """NetSuite datetimes as SuiteQL or the record API print them; naive ones are UTC."""
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        for pattern in _FORMATS:
            try:
                parsed = dt.datetime.strptime(text, pattern)
                break
            except ValueError:
                continue
        else:
            raise ValueError(f"unreadable NetSuite datetime {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
