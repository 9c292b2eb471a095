"""A client for the sandboxes' admin API (``/__admin``), used by the seed, the demo, tests and benches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from q2c.sandbox.common import ADMIN_HEADER, ADMIN_PREFIX


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

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        response = self._http.request(method, path, json=json)
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

    def requests(self) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", "/requests")
        return result

    def clear_requests(self) -> None:
        self._call("DELETE", "/requests")

    def put(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("PUT", path, body)

    def get(self, path: str) -> Any:
        return self._call("GET", path)
