"""Bulk API 2.0 under ``/services/data/vNN.N/jobs/``: ingest jobs (insert, update, upsert, delete,
hardDelete from CSV) and query jobs (query, queryAll to CSV pages with ``Sforce-Locator``).

Every row of an ingest job goes through ``RecordService`` with the job creator's ``WriteContext``, exactly
as a REST write by that user would (validation, unique and required fields, derived fields, audit fields,
outbound messages), one row at a time in upload order; a bad row fails only itself. Processing is an
asyncio task on the app's loop that works in slices of about 25 ms, each slice one transaction, and yields
between them, so the server keeps answering while a 100,000-row job runs. A query job runs its SOQL once
(in a worker thread), keeps the rows as CSV lines and serves pages of them by offset: a snapshot that
does not change while a client pages, whatever is written meanwhile.

Jobs live in memory (lost at restart); finished ones are dropped after ``KEEP_FINISHED_SECONDS`` or when
more than ``MAX_JOBS`` / ``MAX_KEPT_ROWS`` are kept, oldest first, and then answer 404 as an unknown id.
The daily allocations (records ingested, batches, query jobs, query result storage) are rolling 24-hour
windows, also in memory. Error codes and messages follow what real orgs are known to answer; where none
was found the code follows the documented Bulk API 2.0 error names (``INVALIDJOB``, ``INVALIDJOBSTATE``,
``INVALIDBATCH``...), see the README.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, Response

from q2c_sandbox.salesforce.bulk2_csv import (
    DELIMITERS,
    LINE_ENDINGS,
    BatchError,
    CsvFormat,
    header_cell,
    join_cells,
    parse_upload,
    quoted,
    render_value,
)
from q2c_sandbox.salesforce.errors import ApiError, bad_request, not_found, read_json
from q2c_sandbox.salesforce.records import MultipleMatches, RecordService, WriteContext
from q2c_sandbox.salesforce.schema import FieldDef, ObjectDef, Schema
from q2c_sandbox.salesforce.soql_eval import ChildPlan, Planner, QueryEngine
from q2c_sandbox.salesforce.soql_parser import parse_soql, tokenize
from q2c_sandbox.salesforce.store import Record, Store
from q2c_sandbox.salesforce.values import format_datetime, id_key, looks_like_id, make_id, utcnow

if TYPE_CHECKING:
    from q2c_sandbox.salesforce.rest import Call

log = logging.getLogger(__name__)

DATA_PREFIX = "/services/data"
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
QUERY_OPERATIONS = ("query", "queryAll")
TERMINAL_STATES = ("JobComplete", "Failed", "Aborted")
# A PUT may carry 150 MB once base64-encoded (about 112 MB of CSV); the sandbox holds a job's uploads
# together to the same limit, so one job never keeps more than a real single upload could bring.
MAX_UPLOAD_BASE64_BYTES = 150 * 1024 * 1024
DEFAULT_PAGE_ROWS = 50_000  # maxRecords absent: a real org sizes pages by bytes; the sandbox by rows
LIST_PAGE_SIZE = 1000
ROWS_PER_BATCH = 10_000  # a real org splits ingest data into internal batches of 10,000 records
SLICE_SECONDS = 0.025
DAY_SECONDS = 24 * 3600
# SOQL functions Bulk API 2.0 refuses (aggregates), spotted before the SOQL is parsed.
_AGGREGATES = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"})


def _state_error(message: str) -> ApiError:
    return ApiError(409, "INVALIDJOBSTATE", message)


def _invalid_job(message: str) -> ApiError:
    return ApiError(400, "INVALIDJOB", message)


def _base64_size(n: int) -> int:
    return 4 * math.ceil(n / 3)


def _encode_offset(offset: int) -> str:
    """A locator as real orgs write them: the row offset, base64 without padding (``MTAwMDA`` = 10000)."""
    return base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def _decode_offset(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return int(text) if text.isdigit() else None


@dataclass
class Bulk2Limits:
    """A real org's Bulk API allocations (Enterprise Edition); per rolling 24 hours."""

    ingest_records: int = 150_000_000
    batches: int = 15_000  # DailyBulkApiBatches, shared with Bulk API 1.0
    query_jobs: int = 10_000  # DailyBulkV2QueryJobs
    query_storage_mb: int = 976_562  # DailyBulkV2QueryFileStorageMB: 1 TB


class RollingCounter:
    """Amounts counted over the last 24 hours."""

    def __init__(self) -> None:
        self._events: deque[tuple[float, int]] = deque()
        self._total = 0

    def add(self, amount: int) -> None:
        if amount:
            self._events.append((time.time(), amount))
            self._total += amount

    def used(self) -> int:
        cutoff = time.time() - DAY_SECONDS
        while self._events and self._events[0][0] < cutoff:
            self._total -= self._events.popleft()[1]
        return self._total

    def clear(self) -> None:
        self._events.clear()
        self._total = 0


@dataclass(frozen=True)
class Column:
    """One column of an ingest upload: the field it writes and, for a relationship column such as
    ``Account.NetSuite_Internal_ID__c``, the parent's external id field its values are looked up by."""

    index: int
    field: FieldDef
    parent: ObjectDef | None = None
    via: FieldDef | None = None


@dataclass
class QueryColumn:
    name: str  # Account.Name
    path: tuple[str, ...]  # relationship names walked in the rendered record: ("Account",)
    field: FieldDef


@dataclass
class Job:
    id: str
    kind: str  # "ingest" | "query"
    operation: str
    object: str
    created_by: str
    created_date: str
    api_version: str  # "59.0"
    fmt: CsvFormat
    state: str
    system_modstamp: str
    external_id_field: str | None = None
    error_message: str | None = None
    started_at: float | None = None  # perf_counter when processing began
    processing_ms: int = 0
    finished_at: float | None = None  # monotonic, for expiry
    created_at: float = field(default_factory=time.monotonic)
    task: asyncio.Task[None] | None = None
    # ingest
    uploads: list[bytes] = field(default_factory=list)
    upload_bytes: int = 0
    header: list[str] | None = None
    rows: list[list[str]] = field(default_factory=list)
    next_row: int = 0
    successes: list[tuple[int, str, bool]] = field(default_factory=list)  # row, id, created
    failures: list[tuple[int, str, str]] = field(default_factory=list)  # row, id, error
    # query
    query: str = ""
    columns: list[QueryColumn] = field(default_factory=list)
    result_header: str = ""
    result_rows: list[str] = field(default_factory=list)

    @property
    def processed(self) -> int:
        if self.kind == "query":
            return len(self.result_rows)
        return len(self.successes) + len(self.failures)

    @property
    def kept_rows(self) -> int:
        return len(self.rows) + len(self.result_rows)

    def set_state(self, state: str, error: str | None = None) -> None:
        self.state = state
        self.system_modstamp = format_datetime(utcnow())
        if error is not None:
            self.error_message = error
        if state in TERMINAL_STATES:
            if self.started_at is not None:
                self.processing_ms = int((time.perf_counter() - self.started_at) * 1000)
            self.finished_at = time.monotonic()

    def content_url(self) -> str:
        return f"services/data/v{self.api_version}/jobs/ingest/{self.id}/batches"

    def summary(self) -> dict[str, Any]:
        """The fields every job answer starts with, in the order a real org writes them."""
        info: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.system_modstamp,
            "state": self.state,
        }
        if self.external_id_field is not None:
            info["externalIdFieldName"] = self.external_id_field
        info.update(concurrencyMode="Parallel", contentType="CSV", apiVersion=float(self.api_version))
        return info

    def created_info(self) -> dict[str, Any]:
        """The answer to creating the job (and, for an ingest job, to closing or aborting it)."""
        info = self.summary()
        if self.kind == "ingest":
            info["contentUrl"] = self.content_url()
        info.update(lineEnding=self.fmt.line_ending, columnDelimiter=self.fmt.delimiter)
        return info

    def listed_info(self) -> dict[str, Any]:
        info = self.summary()
        info["jobType"] = "V2Ingest" if self.kind == "ingest" else "V2Query"
        if self.kind == "ingest" and self.state == "Open":
            info["contentUrl"] = self.content_url()
        info.update(lineEnding=self.fmt.line_ending, columnDelimiter=self.fmt.delimiter)
        return info

    def full_info(self) -> dict[str, Any]:
        info = self.listed_info()
        elapsed = self.processing_ms
        if self.started_at is not None and self.finished_at is None:
            elapsed = int((time.perf_counter() - self.started_at) * 1000)
        info["numberRecordsProcessed"] = self.processed
        if self.kind == "ingest":
            info["numberRecordsFailed"] = len(self.failures)
        info.update(retries=0, totalProcessingTime=elapsed)
        if self.kind == "ingest":
            info.update(apiActiveProcessingTime=elapsed, apexProcessingTime=0)
        else:
            info["isPkChunkingSupported"] = True
        if self.error_message is not None:
            info["errorMessage"] = self.error_message
        return info


def _row_error(exc: ApiError) -> str:
    """``sf__Error`` as failed results write it: ``CODE:message:fields --``."""
    code, message, fields = exc.code, exc.message, exc.fields or []
    if code == "NOT_FOUND":  # the REST resource's 404 is, for a record in a bulk row, a bad reference
        code, message, fields = "INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", []
    return f"{code}:{message}:{','.join(fields)} --" if fields else f"{code}:{message}:--"


class Bulk2:
    """The org's Bulk API 2.0 jobs and allocations."""

    KEEP_FINISHED_SECONDS = 3600.0
    MAX_JOBS = 200
    MAX_KEPT_ROWS = 2_000_000

    def __init__(
        self, store: Store, schema: Schema, records: RecordService, queries: QueryEngine, instance: str
    ) -> None:
        self.store = store
        self.schema = schema
        self.records = records
        self.queries = queries
        self.instance = instance
        self.limits = Bulk2Limits()
        self.jobs: OrderedDict[str, Job] = OrderedDict()  # by 15-character id, oldest first
        self.ingested = RollingCounter()
        self.batches = RollingCounter()
        self.query_jobs = RollingCounter()
        self.query_bytes = RollingCounter()

    # ---- registry ----------------------------------------------------------------------------------

    def new_id(self) -> str:
        return make_id("750", self.store.next_sequence("id_seq"), self.instance)

    def add(self, job: Job) -> None:
        self.evict()
        self.jobs[id_key(job.id)] = job

    def get(self, job_id: str, kind: str) -> Job:
        job = self.jobs.get(id_key(job_id)) if looks_like_id(job_id) else None
        if job is None or job.kind != kind:
            raise not_found()
        return job

    def remove(self, job: Job) -> None:
        if job.task is not None and not job.task.done():
            job.task.cancel()
        self.jobs.pop(id_key(job.id), None)

    def evict(self) -> None:
        """Drop finished jobs kept too long and jobs left Open for a day, then the oldest finished ones
        over the caps."""
        now = time.monotonic()
        for job in list(self.jobs.values()):
            if job.finished_at is not None and now - job.finished_at > self.KEEP_FINISHED_SECONDS:
                self.remove(job)
            elif job.state == "Open" and now - job.created_at > DAY_SECONDS:
                self.remove(job)
        kept = sum(j.kept_rows for j in self.jobs.values())
        for job in [j for j in self.jobs.values() if j.finished_at is not None]:
            if len(self.jobs) < self.MAX_JOBS and kept <= self.MAX_KEPT_ROWS:
                break
            kept -= job.kept_rows
            self.remove(job)

    def clear(self) -> None:
        """Forget every job and count (the admin reset)."""
        for job in list(self.jobs.values()):
            self.remove(job)
        for counter in (self.ingested, self.batches, self.query_jobs, self.query_bytes):
            counter.clear()

    async def shutdown(self) -> None:
        tasks = [j.task for j in self.jobs.values() if j.task is not None and not j.task.done()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def limits_report(self) -> dict[str, dict[str, int]]:
        storage_mb = math.ceil(self.query_bytes.used() / (1024 * 1024))
        return {
            "DailyBulkApiBatches": {
                "Max": self.limits.batches,
                "Remaining": max(self.limits.batches - self.batches.used(), 0),
            },
            "DailyBulkV2QueryFileStorageMB": {
                "Max": self.limits.query_storage_mb,
                "Remaining": max(self.limits.query_storage_mb - storage_mb, 0),
            },
            "DailyBulkV2QueryJobs": {
                "Max": self.limits.query_jobs,
                "Remaining": max(self.limits.query_jobs - self.query_jobs.used(), 0),
            },
        }

    def start(self, job: Job) -> None:
        """Process ``job`` in the background (it was just closed, or created for a query)."""
        work = self._run_ingest(job) if job.kind == "ingest" else self._run_query(job)
        job.task = asyncio.get_running_loop().create_task(work, name=f"bulk2-{job.kind}-{job.id}")

    # ---- ingest: preparing the data ----------------------------------------------------------------

    def _parse_uploads(self, job: Job) -> tuple[list[str], list[list[str]]]:
        """The job's uploads as one header and its rows: a later upload that repeats the first one's
        header continues it; one without a header is more rows."""
        if not job.uploads:
            raise BatchError("InvalidBatch : No data was uploaded for this job")
        header: list[str] | None = None
        rows: list[list[str]] = []
        for data in job.uploads:
            first, more = parse_upload(data, job.fmt)
            if header is None:
                header = first
            elif first != header:
                if len(first) != len(header):
                    raise BatchError(
                        f"InvalidBatch : Wrong number of columns in an upload: expected {len(header)}, "
                        f"found {len(first)}"
                    )
                more = [first, *more]
            rows.extend(more)
        assert header is not None
        return header, rows

    def _columns(self, job: Job, obj: ObjectDef, header: list[str]) -> list[Column]:
        columns: list[Column] = []
        seen: set[str] = set()
        for index, name in enumerate(header):
            column = self._column(obj, index, name.strip())
            key = column.field.name.lower()
            if key in seen:
                raise BatchError(f"InvalidBatch : Duplicate field name: {name}")
            seen.add(key)
            columns.append(column)
        if job.operation in ("delete", "hardDelete") and [c.field.name for c in columns] != ["Id"]:
            raise BatchError(f"InvalidBatch : The '{job.operation}' batch must contain only the 'Id' column")
        return columns

    def _column(self, obj: ObjectDef, index: int, name: str) -> Column:
        found = obj.field(name) if name else None
        if found is not None:
            return Column(index, found)
        relationship, _, target = name.partition(".")
        reference = obj.relationship(relationship) if target else None
        if reference is not None and reference.reference_to is not None:
            parent = self.schema.objects[reference.reference_to]
            via = parent.field(target)
            if via is not None and (via.external_id or via.name == "Id"):
                return Column(index, reference, parent, via)
        raise BatchError(f"InvalidBatch : Field name not found : {name}")

    # ---- ingest: processing ------------------------------------------------------------------------

    async def _run_ingest(self, job: Job) -> None:
        try:
            await self._process_ingest(job)
        except asyncio.CancelledError:
            raise
        except Exception:  # a sandbox bug: the job fails as a real one would, the loop lives on
            log.exception("bulk ingest job %s failed", job.id)
            job.set_state("Failed", "UNKNOWN_EXCEPTION : An unexpected error occurred (sandbox)")

    async def _process_ingest(self, job: Job) -> None:
        await asyncio.sleep(0)  # answer the PATCH first, as a queued job would
        if job.state != "UploadComplete":
            return
        job.started_at = time.perf_counter()
        job.set_state("InProgress")
        obj = self.schema.objects[job.object]
        try:
            job.header, job.rows = self._parse_uploads(job)
            columns = self._columns(job, obj, job.header)
        except BatchError as exc:
            job.set_state("Failed", str(exc))
            return
        job.uploads, job.upload_bytes = [], 0
        batches = max(1, math.ceil(len(job.rows) / ROWS_PER_BATCH))
        if self.batches.used() + batches > self.limits.batches:
            job.set_state(
                "Failed", f"ExceededQuota : Max batches per 24 hours ({self.limits.batches}) exceeded"
            )
            return
        self.batches.add(batches)
        ctx = WriteContext(user_id=job.created_by)
        while job.next_row < len(job.rows) and job.state == "InProgress":
            allowance = self.limits.ingest_records - self.ingested.used()
            if allowance <= 0:
                job.set_state(
                    "Failed",
                    f"ExceededQuota : Max records ingested per 24 hours ({self.limits.ingest_records}) exceeded",
                )
                return
            stop = min(len(job.rows), job.next_row + allowance)
            start = job.next_row
            deadline = time.perf_counter() + SLICE_SECONDS
            with self.store.transaction():
                while job.next_row < stop and time.perf_counter() < deadline:
                    self._ingest_row(job, obj, columns, job.next_row, ctx)
                    job.next_row += 1
            self.ingested.add(job.next_row - start)
            await asyncio.sleep(0)
        if job.state == "InProgress":
            job.set_state("JobComplete")

    def _ingest_row(
        self, job: Job, obj: ObjectDef, columns: list[Column], index: int, ctx: WriteContext
    ) -> None:
        row = job.rows[index]
        given_id = ""
        try:
            body: dict[str, Any] = {}
            for column in columns:
                raw = row[column.index]
                if raw == "":
                    continue  # an empty cell leaves the field as it is
                value = None if raw == "#N/A" else raw
                if column.via is not None and value is not None:
                    value = self._foreign_key(column, value)
                body[column.field.name] = value
            given_id = str(body.get("Id") or "") if job.operation != "insert" else ""
            record_id, created = self._write(job, obj, body, ctx)
        except ApiError as exc:
            job.failures.append((index, given_id, _row_error(exc)))
        except MultipleMatches as exc:
            error = ApiError(
                300,
                "DUPLICATE_EXTERNAL_ID",
                f"{job.external_id_field}: more than one record found for external id field: "
                f"[{', '.join(exc.ids)}]",
                [job.external_id_field or ""],
            )
            job.failures.append((index, given_id, _row_error(error)))
        except Exception:  # a sandbox bug fails the row (its savepoint rolled back), not the slice
            log.exception("bulk ingest job %s: row %d", job.id, index + 2)
            error = ApiError(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred (sandbox)")
            job.failures.append((index, given_id, _row_error(error)))
        else:
            job.successes.append((index, record_id, created))

    def _foreign_key(self, column: Column, value: str) -> str:
        assert column.parent is not None and column.via is not None
        matches = self.records.find_by_external_id(column.parent, column.via.name, value)
        if not matches:
            raise bad_request(
                "INVALID_FIELD",
                f"Foreign key external ID: {value} not found for field {column.via.name} in entity "
                f"{column.parent.name}",
                [],
            )
        if len(matches) > 1:
            raise bad_request(
                "INVALID_FIELD",
                f"More than 1 record found for foreign key external ID: {value} for field "
                f"{column.via.name} in entity {column.parent.name}",
                [],
            )
        return str(matches[0]["Id"])

    def _record_id(self, obj: ObjectDef, body: dict[str, Any], call: str) -> str:
        record_id = body.pop("Id", None)
        if not record_id:
            raise bad_request("MISSING_ARGUMENT", f"Id not specified in an {call} call", [])
        if not looks_like_id(str(record_id)):
            raise bad_request(
                "MALFORMED_ID", f"{obj.label} ID: id value of incorrect type: {record_id}", ["Id"]
            )
        return str(record_id)

    def _write(self, job: Job, obj: ObjectDef, body: dict[str, Any], ctx: WriteContext) -> tuple[str, bool]:
        operation = job.operation
        if operation == "insert":
            return str(self.records.create(obj.name, body, ctx)["Id"]), True
        if operation == "update":
            record_id = self._record_id(obj, body, "update")
            return str(self.records.update(obj.name, record_id, body, ctx)["Id"]), False
        if operation == "upsert":
            ext = job.external_id_field or "Id"
            value = body.get(ext)
            if not value:
                raise bad_request("MISSING_ARGUMENT", f"{ext} not specified", [])
            if ext == "Id":
                body.pop("Id")
            record, created = self.records.upsert(obj.name, ext, str(value), body, ctx)
            return str(record["Id"]), created
        record_id = self._record_id(obj, body, "delete")
        with self.store.transaction():
            deleted = self.records.delete(obj.name, record_id, ctx)
            if operation == "hardDelete":  # not kept in the recycle bin: queryAll no longer sees it
                key = id_key(deleted["Id"])
                self.store.execute("DELETE FROM records WHERE key = ?", (key,))
                self.store.execute("DELETE FROM lookups WHERE key = ?", (key,))
        return str(deleted["Id"]), False

    # ---- ingest: result files ----------------------------------------------------------------------

    def ingest_results(self, job: Job, kind: str) -> str:
        sep, eol = job.fmt.sep, job.fmt.eol
        header, rows = job.header, job.rows
        if header is None:  # not processed (yet): what was uploaded
            try:
                header, rows = self._parse_uploads(job) if job.uploads else ([], [])
            except BatchError:
                return "".join(d.decode("utf-8", "replace") for d in job.uploads)
        names = [header_cell(name, sep) for name in header]
        lines: list[str]
        if kind == "successful":
            head = [quoted("sf__Id"), quoted("sf__Created"), *names]
            lines = [
                join_cells([record_id, "true" if created else "false", *rows[i]], sep)
                for i, record_id, created in job.successes
            ]
        elif kind == "failed":
            head = [quoted("sf__Id"), quoted("sf__Error"), *names]
            lines = [join_cells([record_id, error, *rows[i]], sep) for i, record_id, error in job.failures]
        else:
            head = names
            lines = [join_cells(row, sep) for row in rows[job.next_row :]]
        if not head:
            return ""
        return eol.join([sep.join(head), *lines]) + eol

    # ---- query jobs --------------------------------------------------------------------------------

    def plan_query(self, text: str) -> tuple[ObjectDef, list[QueryColumn]]:
        """The queried object and CSV columns of ``text``, or the error creating the job answers: what
        Bulk API 2.0 refuses, then what REST's query would (MALFORMED_QUERY, INVALID_FIELD...)."""
        tokens = tokenize(text)
        refused = None
        for i, token in enumerate(tokens[:-1]):
            following = tokens[i + 1]
            if token.is_keyword("GROUP") and following.is_keyword("BY"):
                refused = "GROUP BY is not supported in Bulk V2 Query"
            elif token.kind == "IDENT" and token.upper == "TYPEOF":
                refused = "TYPEOF is not supported in Bulk V2 Query"
            elif token.kind == "IDENT" and token.upper in _AGGREGATES and following.text == "(":
                refused = "Aggregate queries are not supported in Bulk V2 Query"
            if refused:
                raise ApiError(400, "API_ERROR", refused)
        query = parse_soql(text)
        plan = Planner(self.schema, text).plan(query)
        if any(isinstance(item, ChildPlan) for item in plan.items):
            raise ApiError(
                400,
                "API_ERROR",
                "Aggregate Relationships not supported in Bulk V2 Query with CSV content type",
            )
        if query.offset is not None:
            raise ApiError(400, "API_ERROR", "OFFSET is not supported in Bulk V2 Query")
        columns = []
        for item in plan.items:
            assert not isinstance(item, ChildPlan)
            path = tuple(hop.relationship_name or hop.name for hop in item.hops)
            columns.append(QueryColumn(".".join([*path, item.field.name]), path, item.field))
        return plan.obj, columns

    async def _run_query(self, job: Job) -> None:
        await asyncio.sleep(0)
        if job.state != "UploadComplete":
            return
        job.started_at = time.perf_counter()
        job.set_state("InProgress")
        try:
            rows = await asyncio.to_thread(self._snapshot, job)
        except ApiError as exc:
            if job.state == "InProgress":
                job.set_state("Failed", f"{exc.code} : {exc.message}")
            return
        except Exception:
            log.exception("bulk query job %s failed", job.id)
            if job.state == "InProgress":
                job.set_state("Failed", "UNKNOWN_EXCEPTION : An unexpected error occurred (sandbox)")
            return
        if job.state != "InProgress":  # aborted meanwhile: the rows are not kept
            return
        sep = job.fmt.sep
        job.result_header = sep.join(quoted(c.name) for c in job.columns)
        job.result_rows = rows
        eol_size = len(job.fmt.eol)
        self.query_bytes.add(len(job.result_header) + sum(len(r) + eol_size for r in rows))
        job.set_state("JobComplete")

    def _snapshot(self, job: Job) -> list[str]:
        """The query's rows as CSV lines (run in a worker thread; the store's lock serialises it)."""
        result = self.queries.run(job.query, f"v{job.api_version}", job.operation == "queryAll")
        sep = job.fmt.sep
        getters = [_getter(c) for c in job.columns]
        return [join_cells((get(record) for get in getters), sep) for record in result.records]

    def query_page(self, job: Job, max_records: int, locator: str | None) -> tuple[str, str, int]:
        """(CSV, next locator or "null", rows in this page)."""
        start = 0
        if locator:
            decoded = _decode_offset(locator)
            if decoded is None or not 0 < decoded < len(job.result_rows):
                raise bad_request("INVALID_LOCATOR", f"Invalid locator: {locator}", None)
            start = decoded
        end = min(start + max_records, len(job.result_rows))
        page = job.result_rows[start:end]
        eol = job.fmt.eol
        body = eol.join([job.result_header, *page]) + eol
        return body, _encode_offset(end) if end < len(job.result_rows) else "null", len(page)


def _getter(column: QueryColumn) -> Callable[[Record], str | None]:
    path, name, ftype = column.path, column.field.name, column.field.type

    def get(record: Record) -> str | None:
        current: Any = record
        for step in path:
            current = current.get(step)
            if current is None:
                return None
        return render_value(current.get(name), ftype)

    return get


# ---- request handling -----------------------------------------------------------------------------


def _format(body: dict[str, Any]) -> CsvFormat:
    delimiter = body.get("columnDelimiter") or "COMMA"
    line_ending = body.get("lineEnding") or "LF"
    if delimiter not in DELIMITERS:
        raise _invalid_job(f"Invalid columnDelimiter: {delimiter}. Use one of {', '.join(DELIMITERS)}")
    if line_ending not in LINE_ENDINGS:
        raise _invalid_job(f"Invalid lineEnding: {line_ending}. Use LF or CRLF")
    content_type = body.get("contentType") or "CSV"
    if content_type != "CSV":
        raise _invalid_job(f"Unsupported contentType: {content_type}. Bulk API 2.0 supports CSV only")
    return CsvFormat(delimiter, line_ending)


async def _json_object(call: Call) -> dict[str, Any]:
    body = await read_json(call.request)
    if not isinstance(body, dict):
        raise bad_request("JSON_PARSER_ERROR", "The request body must be a JSON object", None)
    return body


def _new_job(call: Call, kind: str, operation: str, obj: ObjectDef, fmt: CsvFormat, state: str) -> Job:
    now = format_datetime(utcnow())
    bulk = call.org.bulk2
    return Job(
        id=bulk.new_id(),
        kind=kind,
        operation=operation,
        object=obj.name,
        created_by=call.user_id,
        created_date=now,
        api_version=call.version[1:],
        fmt=fmt,
        state=state,
        system_modstamp=now,
    )


async def create_ingest(call: Call) -> Response:
    body = await _json_object(call)
    schema = call.org.schema
    operation = body.get("operation")
    if operation not in INGEST_OPERATIONS:
        raise _invalid_job(f"Invalid operation: {operation}. Use one of {', '.join(INGEST_OPERATIONS)}")
    name = body.get("object")
    if not isinstance(name, str) or not name:
        raise _invalid_job("The object of the job is required")
    obj = schema.object(name)
    if obj is None:
        raise ApiError(400, "INVALIDENTITY", f"sObject type '{name}' is not supported.")
    fmt = _format(body)
    external_id: str | None = None
    if operation == "upsert":
        given = body.get("externalIdFieldName")
        if not isinstance(given, str) or not given.strip():
            raise _invalid_job(
                f"External ID was blank for {obj.name}. An External ID must be specified for upsert."
            )
        ext = obj.field(given.strip())
        if ext is None or not (ext.external_id or ext.name == "Id"):
            raise _invalid_job(
                f"Field name provided, {given} does not match an External ID, Salesforce Id, or indexed "
                f"field for {obj.name}"
            )
        external_id = ext.name
    job = _new_job(call, "ingest", operation, obj, fmt, "Open")
    job.external_id_field = external_id
    call.org.bulk2.add(job)
    return JSONResponse(job.created_info())


def _list(call: Call, kind: str) -> Response:
    bulk = call.org.bulk2
    bulk.evict()
    params = call.request.query_params
    jobs = [j for j in bulk.jobs.values() if j.kind == kind]
    wanted_type = params.get("jobType")
    if wanted_type and wanted_type != ("V2Ingest" if kind == "ingest" else "V2Query"):
        jobs = []
    if params.get("concurrencyMode") not in (None, "", "Parallel"):
        jobs = []
    start = 0
    if params.get("queryLocator"):
        decoded = _decode_offset(params["queryLocator"])
        if decoded is None or decoded > len(jobs):
            raise bad_request("INVALID_LOCATOR", f"Invalid queryLocator: {params['queryLocator']}", None)
        start = decoded
    end = start + LIST_PAGE_SIZE
    page = [j.listed_info() for j in jobs[start:end]]
    more = end < len(jobs)
    next_url = (
        f"{DATA_PREFIX}/{call.version}/jobs/{kind}?queryLocator={_encode_offset(end)}" if more else None
    )
    return JSONResponse({"done": not more, "records": page, "nextRecordsUrl": next_url})


async def list_ingest(call: Call) -> Response:
    return _list(call, "ingest")


async def ingest_info(call: Call) -> Response:
    return JSONResponse(call.org.bulk2.get(call.params["job"], "ingest").full_info())


async def _read_upload(call: Call, already: int) -> bytes:
    chunks: list[bytes] = []
    size = already
    try:
        async for chunk in call.request.stream():
            size += len(chunk)
            if _base64_size(size) > MAX_UPLOAD_BASE64_BYTES:
                raise bad_request(
                    "INVALIDBATCH",
                    "The job data exceeds the maximum size of 150 MB (base64-encoded, about 100 MB of CSV) "
                    "a job may upload",
                    None,
                )
            chunks.append(chunk)
    except ClientDisconnect:
        raise bad_request("CLIENTINPUTERROR", "The upload did not complete", None) from None
    return b"".join(chunks)


async def upload(call: Call) -> Response:
    job = call.org.bulk2.get(call.params["job"], "ingest")
    if job.state != "Open":
        raise _state_error(
            f"Job {job.id} is in state {job.state}: data can be uploaded only while it is Open"
        )
    data = await _read_upload(call, job.upload_bytes)
    if job.state != "Open":  # closed or aborted while the body arrived
        raise _state_error(
            f"Job {job.id} is in state {job.state}: data can be uploaded only while it is Open"
        )
    if data:
        job.uploads.append(data)
        job.upload_bytes += len(data)
    return Response(status_code=201)


def _patch_state(body: dict[str, Any], allowed: tuple[str, ...]) -> str:
    state = body.get("state")
    if state not in allowed:
        raise ApiError(400, "INVALIDJOBSTATE", f"Invalid state: {state}. Use one of {', '.join(allowed)}")
    return str(state)


def _abort(job: Job) -> None:
    if job.state in TERMINAL_STATES:
        raise _state_error(f"Job {job.id} is in state {job.state} and cannot be aborted")
    job.set_state("Aborted")


async def update_ingest(call: Call) -> Response:
    bulk = call.org.bulk2
    job = bulk.get(call.params["job"], "ingest")
    state = _patch_state(await _json_object(call), ("UploadComplete", "Aborted"))
    if state == "Aborted":
        _abort(job)
    else:
        if job.state != "Open":
            raise _state_error(f"Job {job.id} is in state {job.state}; only an Open job can be closed")
        job.set_state("UploadComplete")
        bulk.start(job)
    return JSONResponse(job.created_info())


async def _delete(call: Call, kind: str) -> Response:
    bulk = call.org.bulk2
    job = bulk.get(call.params["job"], kind)
    if job.state not in ("UploadComplete", *TERMINAL_STATES):
        raise _state_error(
            f"Job {job.id} is in state {job.state}: only UploadComplete, JobComplete, Aborted or Failed "
            "jobs can be deleted"
        )
    bulk.remove(job)
    return Response(status_code=204)


async def delete_ingest(call: Call) -> Response:
    return await _delete(call, "ingest")


def _csv_response(text: str, headers: dict[str, str] | None = None) -> Response:
    return Response(text, media_type="text/csv", headers=headers)


async def successful_results(call: Call) -> Response:
    bulk = call.org.bulk2
    return _csv_response(bulk.ingest_results(bulk.get(call.params["job"], "ingest"), "successful"))


async def failed_results(call: Call) -> Response:
    bulk = call.org.bulk2
    return _csv_response(bulk.ingest_results(bulk.get(call.params["job"], "ingest"), "failed"))


async def unprocessed_records(call: Call) -> Response:
    bulk = call.org.bulk2
    return _csv_response(bulk.ingest_results(bulk.get(call.params["job"], "ingest"), "unprocessed"))


async def create_query(call: Call) -> Response:
    bulk = call.org.bulk2
    body = await _json_object(call)
    operation = body.get("operation") or "query"
    if operation not in QUERY_OPERATIONS:
        raise _invalid_job(f"Invalid operation: {operation}. Use query or queryAll")
    text = body.get("query")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("MALFORMED_QUERY", "A query string has to be specified", None)
    fmt = _format(body)
    obj, columns = bulk.plan_query(text)
    if bulk.query_jobs.used() >= bulk.limits.query_jobs:
        raise ApiError(
            400,
            "EXCEEDEDQUOTA",
            f"Max bulk v2 query jobs ({bulk.limits.query_jobs}) per 24 hrs has been reached",
        )
    job = _new_job(call, "query", operation, obj, fmt, "UploadComplete")
    job.query, job.columns = text, columns
    bulk.query_jobs.add(1)
    bulk.add(job)
    bulk.start(job)
    return JSONResponse(job.created_info())


async def list_query(call: Call) -> Response:
    return _list(call, "query")


async def query_info(call: Call) -> Response:
    return JSONResponse(call.org.bulk2.get(call.params["job"], "query").full_info())


async def update_query(call: Call) -> Response:
    job = call.org.bulk2.get(call.params["job"], "query")
    _patch_state(await _json_object(call), ("Aborted",))
    _abort(job)
    return JSONResponse(job.created_info())


async def delete_query(call: Call) -> Response:
    return await _delete(call, "query")


async def query_results(call: Call) -> Response:
    job = call.org.bulk2.get(call.params["job"], "query")
    if job.state != "JobComplete":
        raise ApiError(
            400,
            "INVALIDJOBSTATE",
            f"Job {job.id} is in state {job.state}: results are available once it is JobComplete",
        )
    params = call.request.query_params
    raw_max = params.get("maxRecords")
    max_records = DEFAULT_PAGE_ROWS
    if raw_max is not None:
        if not raw_max.isdigit() or int(raw_max) < 1:
            raise bad_request("API_ERROR", f"maxRecords must be a positive integer: {raw_max}", None)
        max_records = int(raw_max)
    text, locator, count = call.org.bulk2.query_page(job, max_records, params.get("locator"))
    return _csv_response(text, {"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(count)})
