"""Salesforce Bulk API 2.0 through simple-salesforce's ``bulk2``, for reads and writes at volume.

Reads are query jobs, driven a step at a time so a workflow can keep the cursor: open the job, wait until
it is complete, then read its result pages by locator (``Sforce-Locator``), each page a separate call
that a retry repeats exactly (a job's results are a snapshot, kept by Salesforce for days). Writes go
through a Bulk API ingest job at or above a threshold (one job costs about seven calls, whatever its size)
and through sObject Collections, 200 records a call, below it. Either way each record's outcome comes
back on its own: one refused record never fails the others.

simple-salesforce's job-level client (``SFBulk2Type._client``) is what exposes a single result page by
locator; its public ``query()`` only iterates a whole result set in one go, which no retry could resume.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from simple_salesforce.bulk2 import Operation, SFBulk2Type
from simple_salesforce.exceptions import SalesforceOperationError

from q2c.connectors.errors import ApiError, ErrorKind
from q2c.connectors.salesforce import SYSTEM, SalesforceClient

COLLECTION_SIZE = 200
DONE_STATES = {"JobComplete", "Failed", "Aborted"}


@dataclass(frozen=True)
class WriteOutcome:
    key: str  # the row's key column value (Id, or the external id)
    record_id: str | None
    created: bool
    error: str | None


@dataclass(frozen=True)
class QueryPage:
    rows: list[dict[str, Any]]
    next_locator: str | None  # None: the last page


def _rows(text: str) -> list[dict[str, Any]]:
    """CSV result rows as dicts; an empty cell is None (how Bulk API 2.0 writes a null)."""
    reader = csv.DictReader(io.StringIO(text))
    return [{k: (v if v != "" else None) for k, v in row.items()} for row in reader]


class SalesforceBulk:
    """Bulk API 2.0 jobs over the injected ``SalesforceClient`` (its session, its error classes)."""

    def __init__(self, client: SalesforceClient) -> None:
        self._client = client

    def _job_client(self, sobject: str) -> Callable[[Any], Any]:
        def get(sf: Any) -> Any:
            bulk_type: SFBulk2Type = getattr(sf.bulk2, sobject)
            return bulk_type._client

        return get

    def _run(self, operation: str, fn: Callable[[Any], Any]) -> Any:
        try:
            return self._client.call(operation, fn)
        except SalesforceOperationError as exc:
            # simple-salesforce's own job errors: a job Salesforce failed or aborted (a bad column, a
            # refused upload) fails for good; one that only outlasted its wait may be tried again.
            timeout = "timeout" in str(exc).lower()
            raise ApiError(
                system=SYSTEM,
                operation=operation,
                kind=ErrorKind.RETRYABLE if timeout else ErrorKind.PERMANENT,
                code="BULK_JOB_TIMEOUT" if timeout else "BULK_JOB_FAILED",
                detail=str(exc)[:500],
            ) from None

    # -- query jobs -------------------------------------------------------------------------------
    def open_query(self, sobject: str, soql: str, *, include_deleted: bool = False) -> str:
        operation = Operation.query_all if include_deleted else Operation.query
        job = self._run(
            f"Bulk API query job on {sobject}",
            lambda sf: self._job_client(sobject)(sf).create_job(operation, soql),
        )
        return str(job["id"])

    def query_state(self, sobject: str, job_id: str) -> dict[str, Any]:
        info = self._run(
            f"state of Bulk API query job {job_id}",
            lambda sf: self._job_client(sobject)(sf).get_job(job_id, True),
        )
        state = str(info.get("state"))
        if state in ("Failed", "Aborted"):
            raise ApiError(
                system=SYSTEM,
                operation=f"Bulk API query job {job_id} on {sobject}",
                kind=ErrorKind.PERMANENT,
                code=f"JOB_{state.upper()}",
                detail=str(info.get("errorMessage") or info)[:500],
            )
        return dict(info)

    def query_page(self, sobject: str, job_id: str, locator: str, max_records: int) -> QueryPage:
        result = self._run(
            f"results of Bulk API query job {job_id}",
            lambda sf: self._job_client(sobject)(sf).get_query_results(job_id, locator, max_records),
        )
        return QueryPage(rows=_rows(result["records"]), next_locator=result["locator"] or None)

    # -- writes -----------------------------------------------------------------------------------
    def write(
        self,
        sobject: str,
        operation: str,  # "update" (by Id) or "upsert" (by external_id_field)
        records: list[dict[str, Any]],
        *,
        key_field: str,
        external_id_field: str | None = None,
        threshold: int,
        poll_seconds: float = 1.0,
    ) -> list[WriteOutcome]:
        if not records:
            return []
        if len(records) >= threshold:
            return self._bulk_write(sobject, operation, records, key_field, external_id_field, poll_seconds)
        outcomes: list[WriteOutcome] = []
        for start in range(0, len(records), COLLECTION_SIZE):
            outcomes += self._collection(
                sobject, operation, records[start : start + COLLECTION_SIZE], key_field, external_id_field
            )
        return outcomes

    def _collection(
        self,
        sobject: str,
        operation: str,
        records: list[dict[str, Any]],
        key_field: str,
        external: str | None,
    ) -> list[WriteOutcome]:
        body = {"allOrNone": False, "records": [{"attributes": {"type": sobject}, **r} for r in records]}
        path = f"composite/sobjects/{sobject}/{external}" if operation == "upsert" else "composite/sobjects"
        results = self._client.restful(
            f"{operation} of {len(records)} {sobject}", path, method="PATCH", json=body
        )
        outcomes = []
        for record, result in zip(records, results, strict=False):
            errors = result.get("errors") or []
            error = "; ".join(f"{e.get('statusCode')}: {e.get('message')}" for e in errors) or None
            outcomes.append(
                WriteOutcome(
                    key=str(record[key_field]),
                    record_id=result.get("id"),
                    created=bool(result.get("created")),
                    error=None if result.get("success") else (error or "refused"),
                )
            )
        return outcomes

    def _results(self, sobject: str, job_id: str, kind: str) -> str:
        client = self._job_client(sobject)
        return str(
            self._run(
                f"{kind} of Bulk API job {job_id}", lambda sf: client(sf).get_ingest_results(job_id, kind)
            )
        )

    def _bulk_write(
        self,
        sobject: str,
        operation: str,
        records: list[dict[str, Any]],
        key_field: str,
        external: str | None,
        poll_seconds: float,
    ) -> list[WriteOutcome]:
        columns = list(dict.fromkeys(k for r in records for k in r))
        # A cell left empty leaves the field as it is; None written as #N/A clears it (as Collections does).
        rows = [{c: _csv_value(r[c]) if c in r else "" for c in columns} for r in records]

        def run(sf: Any) -> list[dict[str, Any]]:
            bulk_type: SFBulk2Type = getattr(sf.bulk2, sobject)
            if operation == "upsert":
                return bulk_type.upsert(records=rows, external_id_field=external, wait=poll_seconds)  # type: ignore[arg-type]
            return bulk_type.update(records=rows, wait=poll_seconds)  # type: ignore[arg-type]

        jobs = self._run(f"Bulk API {operation} job of {len(records)} {sobject}", run)
        outcomes: dict[str, WriteOutcome] = {}
        for job in jobs:
            job_id = str(job["job_id"])
            ok = self._results(sobject, job_id, "successfulResults")
            for row in _rows(ok):
                key = str(row.get(key_field) or row.get("sf__Id"))
                outcomes[key] = WriteOutcome(key, row.get("sf__Id"), row.get("sf__Created") == "true", None)
            failed = self._results(sobject, job_id, "failedResults")
            for row in _rows(failed):
                key = str(row.get(key_field) or row.get("sf__Id"))
                outcomes[key] = WriteOutcome(
                    key, row.get("sf__Id"), False, str(row.get("sf__Error") or "failed")
                )
        for record in records:  # rows the job never processed (it was aborted, or failed as a whole)
            key = str(record[key_field])
            outcomes.setdefault(key, WriteOutcome(key, None, False, "not processed by the Bulk API job"))
        return [outcomes[str(r[key_field])] for r in records]


def _csv_value(value: Any) -> Any:
    if value is None:
        return "#N/A"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):  # a reference written as {"id": ...} never reaches Salesforce: be loud
        raise TypeError(f"a Bulk API cell cannot hold {value!r}")
    return value
