"""A client for the sandboxes' admin API (``/__admin``), used by the seed, the demo, tests and benches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from q2c_sandbox.common import ADMIN_HEADER, ADMIN_PREFIX


class SandboxAdminError(RuntimeError):
    pass


class SandboxAdmin:
    def __init__(self, base_url: str, admin_key: str, ca_path: Path | None, timeout: float = 60.0) -> None:
        self._http = httpx.Client(
            base_url=base_url.rstrip("/") + ADMIN_PREFIX,
            headers={ADMIN_HEADER: admin_key},
            verify=str(ca_path) if ca_path else True,
            timeout=timeout,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SandboxAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, json: Any = None, params: dict[str, str] | None = None) -> Any:
        response = self._http.request(method, path, json=json, params=params)
        if response.status_code >= 400:
            raise SandboxAdminError(
                f"{method} {ADMIN_PREFIX}{path} -> {response.status_code}: {response.text[:500]}"
            )
        return response.json() if response.content else None

    def reset(self) -> None:
        self._call("POST", "/reset")

    def load(self, records: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
        result: dict[str, list[str]] = self._call("POST", "/load", {"records": records})["ids"]
        return result

    def records(self, record_type: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", f"/records/{record_type}")
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/stats")
        return result

    def requests(self, limit: int = 500) -> dict[str, Any]:
        """The API requests the sandbox answered: totals per endpoint and the newest ``limit`` of them."""
        result: dict[str, Any] = self._call("GET", "/requests", params={"limit": str(limit)})
        return result

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("POST", path, body)

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("PUT", path, body)

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def delete(self, path: str) -> Any:
        return self._call("DELETE", path)

    # ---- Salesforce only -------------------------------------------------------------------------

    def configure_outbound_messages(
        self, endpoint_url: str, fields: list[str], sobject: str = "Opportunity"
    ) -> dict[str, Any]:
        """Create or replace ``sobject``'s outbound message (Account, Contact, Opportunity or Task); the
        answer's ``config`` is that sObject's (with its ``action_id``)."""
        body = {"sobject": sobject, "endpoint_url": endpoint_url, "fields": fields}
        result: dict[str, Any] = self._call("PUT", "/outbound-messages", body)
        return result

    def outbound_messages(self, sobject: str | None = None) -> dict[str, Any]:
        """``{"config", "configs", "stats", "notifications"}``; ``config`` is ``sobject``'s
        (Opportunity's by default)."""
        params = {"sobject": sobject} if sobject else None
        result: dict[str, Any] = self._call("GET", "/outbound-messages", params=params)
        return result

    def remove_outbound_messages(self, sobject: str | None = None) -> dict[str, Any]:
        """Remove ``sobject``'s outbound message, or every one when ``sobject`` is None."""
        params = {"sobject": sobject} if sobject else None
        result: dict[str, Any] = self._call("DELETE", "/outbound-messages", params=params)
        return result

    def create_user(
        self,
        username: str,
        *,
        last_name: str = "User",
        first_name: str | None = None,
        email: str | None = None,
        active: bool = True,
    ) -> str:
        """Create a User (as ``POST /load`` does) and return its Id; ``email`` defaults to the username."""
        user: dict[str, Any] = {
            "LastName": last_name,
            "Username": username,
            "Email": email or username,
            "IsActive": active,
        }
        if first_name is not None:
            user["FirstName"] = first_name
        return self.load({"User": [user]})["User"][0]

    def login_as(self, username: str) -> dict[str, Any]:
        """A bearer session acting as the active User with this Username: the token endpoint's body
        (``access_token``, ``instance_url``, ...) plus ``user_id``."""
        result: dict[str, Any] = self._call("POST", "/sessions", {"username": username})
        return result
