"""Bulk API 2.0 in the Salesforce sandbox over real HTTPS: unmodified simple-salesforce ``sf.bulk2``
(insert, upsert, update, delete, result files, query and queryAll paging), and raw HTTP the way q2c drives
jobs step by step (error bodies, locators, job states, limits, the request log, snapshot paging), up to a
20,000-row round trip."""

from __future__ import annotations

import csv
import io
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from simple_salesforce.exceptions import SalesforceOperationError

from q2c_sandbox.salesforce.records import INTEGRATION_USER_ID
from tests.sandbox.test_salesforce_sandbox import SfSandbox, start_sandbox, wait_for

SalesforceClient = Any
VERSION = "v59.0"
TERMINAL = ("JobComplete", "Failed", "Aborted")


@pytest.fixture(scope="module")
def sb_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SfSandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sf-bulk2"))
    yield sandbox
    sandbox.server.stop()


@pytest.fixture
def sb(sb_server: SfSandbox) -> SfSandbox:
    with sb_server.admin() as admin:
        assert admin.post("/__admin/reset").json() == {"ok": True}
        admin.delete("/__admin/outbound-messages")
    return sb_server


@pytest.fixture
def sf(sb: SfSandbox) -> Iterator[SalesforceClient]:
    client = sb.client()
    yield client
    client.session.close()


class Jobs:
    """Raw HTTP under /services/data/vNN.N/jobs/ with a session token."""

    def __init__(self, sb: SfSandbox, token: str | None = None) -> None:
        self.http = httpx.Client(
            base_url=f"{sb.base_url}/services/data/{VERSION}/",
            verify=sb.ca,
            timeout=60,
            headers={"Authorization": f"Bearer {token or sb.token()['access_token']}"},
        )

    def close(self) -> None:
        self.http.close()

    def create(self, sobject: str, operation: str, **extra: Any) -> httpx.Response:
        return self.http.post(
            "jobs/ingest", json={"object": sobject, "operation": operation, "contentType": "CSV", **extra}
        )

    def upload(self, job_id: str, data: str) -> httpx.Response:
        return self.http.put(
            f"jobs/ingest/{job_id}/batches", content=data.encode(), headers={"Content-Type": "text/csv"}
        )

    def close_job(self, job_id: str) -> httpx.Response:
        return self.http.patch(f"jobs/ingest/{job_id}", json={"state": "UploadComplete"})

    def info(self, job_id: str, kind: str = "ingest") -> dict[str, Any]:
        response = self.http.get(f"jobs/{kind}/{job_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def finished(self, job_id: str, kind: str = "ingest") -> dict[str, Any]:
        found: dict[str, Any] = wait_for(
            lambda: (info := self.info(job_id, kind))["state"] in TERMINAL and info,
            timeout=120,
            what=f"{kind} job {job_id} to finish",
        )
        return found

    def ingest(self, sobject: str, operation: str, data: str, **extra: Any) -> dict[str, Any]:
        created = self.create(sobject, operation, **extra)
        assert created.status_code == 200, created.text
        job_id = created.json()["id"]
        assert self.upload(job_id, data).status_code == 201
        assert self.close_job(job_id).status_code == 200
        return self.finished(job_id)

    def results(self, job_id: str, kind: str) -> list[dict[str, str]]:
        response = self.http.get(f"jobs/ingest/{job_id}/{kind}/")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        return rows(response.text)

    def query(self, soql: str, operation: str = "query", **extra: Any) -> dict[str, Any]:
        created = self.http.post("jobs/query", json={"operation": operation, "query": soql, **extra})
        assert created.status_code == 200, created.text
        return self.finished(created.json()["id"], "query")

    def page(self, job_id: str, **params: Any) -> httpx.Response:
        response = self.http.get(f"jobs/query/{job_id}/results", params=params)
        assert response.status_code == 200, response.text
        return response


@pytest.fixture
def jobs(sb: SfSandbox) -> Iterator[Jobs]:
    client = Jobs(sb)
    yield client
    client.close()


def rows(text: str, delimiter: str = ",") -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter))


def accounts(n: int, prefix: str = "A", start: int = 0) -> list[dict[str, str]]:
    return [{"Name": f"{prefix}{i}", "NetSuite_Internal_ID__c": f"NS-{i}"} for i in range(start, start + n)]


def errors(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    assert isinstance(body, list) and set(body[0]) >= {"errorCode", "message"}, body
    return response.status_code, body[0]["errorCode"], body[0]["message"]


# ---- simple-salesforce, unmodified ----------------------------------------------------------------


def test_insert_then_successful_results_and_records_as_rest_writes_them(
    sb: SfSandbox, sf: SalesforceClient
) -> None:
    [result] = sf.bulk2.Account.insert(records=accounts(3), wait=0.1)
    assert result["numberRecordsProcessed"] == 3 and result["numberRecordsFailed"] == 0
    assert result["job_id"].startswith("750") and len(result["job_id"]) == 18
    successful = rows(sf.bulk2.Account.get_successful_records(result["job_id"]))
    assert sorted(r["Name"] for r in successful) == ["A0", "A1", "A2"]
    assert all(r["sf__Created"] == "true" and r["sf__Id"].startswith("001") for r in successful)
    saved = sf.query("SELECT Id, Name, NetSuite_Internal_ID__c, CreatedById, LastModifiedById FROM Account")
    by_id = {r["Id"]: r for r in saved["records"]}
    for row in successful:
        record = by_id[row["sf__Id"]]
        assert record["Name"] == row["Name"]
        assert record["NetSuite_Internal_ID__c"] == row["NetSuite_Internal_ID__c"]
        assert record["CreatedById"] == record["LastModifiedById"] == INTEGRATION_USER_ID


def test_a_bad_row_fails_alone_with_the_error_as_failed_results_write_it(sf: SalesforceClient) -> None:
    records = [*accounts(2), {"Name": "", "NetSuite_Internal_ID__c": "NS-X"}]
    [result] = sf.bulk2.Account.insert(records=records, wait=0.1)
    assert result["numberRecordsProcessed"] == 3 and result["numberRecordsFailed"] == 1
    [failed] = rows(sf.bulk2.Account.get_failed_records(result["job_id"]))
    assert failed["sf__Id"] == ""
    assert failed["sf__Error"] == "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --"
    assert failed["NetSuite_Internal_ID__c"] == "NS-X"
    assert len(rows(sf.bulk2.Account.get_successful_records(result["job_id"]))) == 2
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 2


def test_upsert_creates_then_updates_by_external_id(sf: SalesforceClient) -> None:
    [first] = sf.bulk2.Account.upsert(
        records=accounts(3), external_id_field="NetSuite_Internal_ID__c", wait=0.1
    )
    created = rows(sf.bulk2.Account.get_successful_records(first["job_id"]))
    assert {r["sf__Created"] for r in created} == {"true"}
    again = accounts(2, prefix="Renamed") + accounts(1, prefix="New", start=3)
    [second] = sf.bulk2.Account.upsert(records=again, external_id_field="NetSuite_Internal_ID__c", wait=0.1)
    assert second["numberRecordsProcessed"] == 3 and second["numberRecordsFailed"] == 0
    outcome = {
        r["NetSuite_Internal_ID__c"]: r
        for r in rows(sf.bulk2.Account.get_successful_records(second["job_id"]))
    }
    assert outcome["NS-0"]["sf__Created"] == outcome["NS-1"]["sf__Created"] == "false"
    assert outcome["NS-3"]["sf__Created"] == "true"
    ids = {r["NetSuite_Internal_ID__c"]: r["sf__Id"] for r in created}
    assert outcome["NS-0"]["sf__Id"] == ids["NS-0"]
    names = {
        r["NetSuite_Internal_ID__c"]: r["Name"]
        for r in sf.query("SELECT Name, NetSuite_Internal_ID__c FROM Account")["records"]
    }
    assert names == {"NS-0": "Renamed0", "NS-1": "Renamed1", "NS-2": "A2", "NS-3": "New3"}


def test_update_leaves_empty_cells_alone_and_nulls_na_then_delete(sf: SalesforceClient) -> None:
    [inserted] = sf.bulk2.Account.insert(
        records=[{"Name": f"A{i}", "NetSuite_Internal_ID__c": f"NS-{i}", "Phone": "555"} for i in range(3)],
        wait=0.1,
    )
    ids = [r["sf__Id"] for r in rows(sf.bulk2.Account.get_successful_records(inserted["job_id"]))]
    changes = [
        {"Id": ids[0], "Name": "Changed", "Phone": ""},  # empty: Phone stays
        {"Id": ids[1], "Name": "", "Phone": "#N/A"},  # #N/A: Phone becomes null
        {"Id": "001000000000zzzAAA", "Name": "Ghost", "Phone": ""},
    ]
    [updated] = sf.bulk2.Account.update(records=changes, wait=0.1)
    assert updated["numberRecordsProcessed"] == 3 and updated["numberRecordsFailed"] == 1
    [failed] = rows(sf.bulk2.Account.get_failed_records(updated["job_id"]))
    assert failed["sf__Id"] == "001000000000zzzAAA" and failed["sf__Error"].startswith(
        "INVALID_CROSS_REFERENCE_KEY:"
    )
    ok = rows(sf.bulk2.Account.get_successful_records(updated["job_id"]))
    assert {r["sf__Created"] for r in ok} == {"false"} and {r["sf__Id"] for r in ok} == set(ids[:2])
    saved = {r["Id"]: r for r in sf.query("SELECT Id, Name, Phone FROM Account")["records"]}
    assert (saved[ids[0]]["Name"], saved[ids[0]]["Phone"]) == ("Changed", "555")
    assert (saved[ids[1]]["Name"], saved[ids[1]]["Phone"]) == ("A1", None)

    [deleted] = sf.bulk2.Account.delete(records=[{"Id": ids[0]}, {"Id": ids[1]}], wait=0.1)
    assert deleted["numberRecordsProcessed"] == 2 and deleted["numberRecordsFailed"] == 0
    assert [r["Id"] for r in sf.query("SELECT Id FROM Account")["records"]] == [ids[2]]
    gone = sf.query_all("SELECT Id FROM Account WHERE IsDeleted = true", include_deleted=True)["records"]
    assert {r["Id"] for r in gone} == set(ids[:2])


def test_unprocessed_records_after_an_abort(sf: SalesforceClient, jobs: Jobs) -> None:
    job_id = jobs.create("Account", "insert").json()["id"]
    assert jobs.upload(job_id, "Name,NetSuite_Internal_ID__c\nOne,NS-1\nTwo,NS-2\n").status_code == 201
    aborted = jobs.http.patch(f"jobs/ingest/{job_id}", json={"state": "Aborted"})
    assert aborted.status_code == 200 and aborted.json()["state"] == "Aborted"
    unprocessed = rows(sf.bulk2.Account.get_unprocessed_records(job_id))
    assert unprocessed == [
        {"Name": "One", "NetSuite_Internal_ID__c": "NS-1"},
        {"Name": "Two", "NetSuite_Internal_ID__c": "NS-2"},
    ]
    assert rows(sf.bulk2.Account.get_successful_records(job_id)) == []
    assert jobs.info(job_id)["state"] == "Aborted"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    # the spelling the docs use answers the same
    assert rows(jobs.http.get(f"jobs/ingest/{job_id}/unprocessedrecords").text) == unprocessed


def test_query_pages_with_max_records_until_the_locator_is_null(sb: SfSandbox, sf: SalesforceClient) -> None:
    sb.load({"Account": [{"Name": f"Acct {i:02d}", "NetSuite_Internal_ID__c": f"NS-{i}"} for i in range(25)]})
    pages = list(
        sf.bulk2.Account.query("SELECT Id, Name FROM Account ORDER BY Name", max_records=10, wait=0.1)
    )
    assert len(pages) == 3
    parsed = [rows(page) for page in pages]
    assert [len(p) for p in parsed] == [10, 10, 5]
    names = [r["Name"] for p in parsed for r in p]
    assert names == [f"Acct {i:02d}" for i in range(25)]
    assert len({r["Id"] for p in parsed for r in p}) == 25


def test_query_all_sees_deleted_rows_query_does_not(sb: SfSandbox, sf: SalesforceClient) -> None:
    ids = sb.load({"Account": [{"Name": f"A{i}"} for i in range(4)]})["Account"]
    sf.Account.delete(ids[0])
    live = [
        r
        for page in sf.bulk2.Account.query("SELECT Id, IsDeleted FROM Account", wait=0.1)
        for r in rows(page)
    ]
    everything = [
        r
        for page in sf.bulk2.Account.query_all("SELECT Id, IsDeleted FROM Account", wait=0.1)
        for r in rows(page)
    ]
    assert {r["Id"] for r in live} == set(ids[1:])
    assert {r["Id"]: r["IsDeleted"] for r in everything} == {
        ids[0]: "true",
        ids[1]: "false",
        ids[2]: "false",
        ids[3]: "false",
    }


def test_hard_delete_and_download_through_simple_salesforce(
    sb: SfSandbox, sf: SalesforceClient, tmp_path: Path
) -> None:
    ids = sb.load({"Account": [{"Name": f"A{i}"} for i in range(5)]})["Account"]
    [result] = sf.bulk2.Account.hard_delete(records=[{"Id": ids[0]}], wait=0.1)
    assert result["numberRecordsProcessed"] == 1 and result["numberRecordsFailed"] == 0
    downloaded = sf.bulk2.Account.download("SELECT Id FROM Account", str(tmp_path), max_records=2, wait=0.1)
    assert [d["number_of_records"] for d in downloaded] == [2, 2]
    found = [r["Id"] for d in downloaded for r in rows(Path(d["file"]).read_text(encoding="utf-8"))]
    assert sorted(found) == sorted(ids[1:])


def test_a_failed_job_raises_in_simple_salesforce_with_the_error_message(sf: SalesforceClient) -> None:
    with pytest.raises(SalesforceOperationError, match="InvalidBatch : Field name not found : Foo__c"):
        sf.bulk2.Account.insert(records=[{"Name": "A", "Foo__c": "x"}], wait=0.1)


# ---- raw HTTP: job lifecycle and CSV ---------------------------------------------------------------


def test_job_info_shapes_through_a_job_lifecycle(jobs: Jobs) -> None:
    created = jobs.create("Account", "upsert", externalIdFieldName="netsuite_internal_id__c")
    assert created.status_code == 200
    info = created.json()
    job_id = info["id"]
    assert job_id.startswith("750") and len(job_id) == 18
    assert info | {"id": None, "createdDate": None, "systemModstamp": None} == {
        "id": None,
        "operation": "upsert",
        "object": "Account",
        "createdById": INTEGRATION_USER_ID,
        "createdDate": None,
        "systemModstamp": None,
        "state": "Open",
        "externalIdFieldName": "NetSuite_Internal_ID__c",
        "concurrencyMode": "Parallel",
        "contentType": "CSV",
        "apiVersion": 59.0,
        "contentUrl": f"services/data/{VERSION}/jobs/ingest/{job_id}/batches",
        "lineEnding": "LF",
        "columnDelimiter": "COMMA",
    }
    # several uploads are concatenated; a repeated header continues the first one
    assert jobs.upload(job_id, "Name,NetSuite_Internal_ID__c\nA,NS-1\n").status_code == 201
    assert jobs.upload(job_id, "Name,NetSuite_Internal_ID__c\nB,NS-2\n").status_code == 201
    assert jobs.upload(job_id, "C,NS-3\n").status_code == 201
    closed = jobs.close_job(job_id)
    assert closed.status_code == 200 and closed.json()["state"] in ("UploadComplete", "InProgress")
    done = jobs.finished(job_id)
    assert done["state"] == "JobComplete" and done["jobType"] == "V2Ingest"
    assert (done["numberRecordsProcessed"], done["numberRecordsFailed"], done["retries"]) == (3, 0, 0)
    assert isinstance(done["totalProcessingTime"], int) and "errorMessage" not in done
    listed = jobs.http.get("jobs/ingest").json()
    assert listed["done"] is True and listed["nextRecordsUrl"] is None
    assert [j["id"] for j in listed["records"]] == [job_id]
    assert jobs.http.get("jobs/query").json()["records"] == []
    # a job can be deleted once finished; then it is gone
    assert jobs.http.delete(f"jobs/ingest/{job_id}").status_code == 204
    assert errors(jobs.http.get(f"jobs/ingest/{job_id}")) == (
        404,
        "NOT_FOUND",
        "The requested resource does not exist",
    )


def test_create_errors_have_the_real_body_shape(jobs: Jobs) -> None:
    assert errors(jobs.create("Account", "upsert")) == (
        400,
        "INVALIDJOB",
        "External ID was blank for Account. An External ID must be specified for upsert.",
    )
    status, code, message = errors(jobs.create("Account", "upsert", externalIdFieldName="Name"))
    assert (status, code) == (400, "INVALIDJOB") and "does not match an External ID" in message
    assert errors(jobs.create("Nope__c", "insert"))[:2] == (400, "INVALIDENTITY")
    assert errors(jobs.create("Account", "merge"))[:2] == (400, "INVALIDJOB")
    assert errors(jobs.create("Account", "insert", columnDelimiter="SPACE"))[:2] == (400, "INVALIDJOB")
    assert errors(jobs.http.get("jobs/ingest/750000000000zzzAAA"))[:2] == (404, "NOT_FOUND")
    assert errors(jobs.http.get("jobs/query/not-an-id"))[:2] == (404, "NOT_FOUND")


def test_upload_only_while_open_and_close_only_once(jobs: Jobs) -> None:
    job_id = jobs.create("Account", "insert").json()["id"]
    assert jobs.upload(job_id, "Name\nA\n").status_code == 201
    assert jobs.close_job(job_id).status_code == 200
    assert errors(jobs.upload(job_id, "Name\nB\n"))[:2] == (409, "INVALIDJOBSTATE")
    assert errors(jobs.close_job(job_id))[:2] == (409, "INVALIDJOBSTATE")
    assert jobs.finished(job_id)["numberRecordsProcessed"] == 1
    assert errors(jobs.http.patch(f"jobs/ingest/{job_id}", json={"state": "Aborted"}))[:2] == (
        409,
        "INVALIDJOBSTATE",
    )
    assert errors(jobs.http.patch(f"jobs/ingest/{job_id}", json={"state": "JobComplete"}))[:2] == (
        400,
        "INVALIDJOBSTATE",
    )
    open_job = jobs.create("Account", "insert").json()["id"]
    assert errors(jobs.http.delete(f"jobs/ingest/{open_job}"))[:2] == (409, "INVALIDJOBSTATE")


@pytest.mark.parametrize(
    ("data", "extra", "message"),
    [
        ("Name,Foo__c\nA,x\n", {}, "InvalidBatch : Field name not found : Foo__c"),
        ("Name,NetSuite_Internal_ID__c\nA,1,extra\n", {}, "InvalidBatch : Wrong number of columns in row 2"),
        (
            "Name\tNetSuite_Internal_ID__c\nA\t1\n",
            {},
            "InvalidBatch : Field name not found : Name\tNetSuite_Internal_ID__c",
        ),
        (
            "Name\r\nA\r\n",
            {},
            "ClientInputError : LineEnding is invalid on user data. Current LineEnding setting is LF",
        ),
        ("Name\nA\n", {"lineEnding": "CRLF"}, "ClientInputError : LineEnding is invalid on user data."),
        (
            "Id,Name\n001000000000001AAA,A\n",
            {"operation": "delete"},
            "InvalidBatch : The 'delete' batch must contain only",
        ),
    ],
)
def test_malformed_csv_fails_the_job_with_the_reason(
    jobs: Jobs, data: str, extra: dict[str, str], message: str
) -> None:
    extra = dict(extra)
    operation = extra.pop("operation", "insert")
    done = jobs.ingest("Account", operation, data, **extra)
    assert done["state"] == "Failed" and done["errorMessage"].startswith(message)
    assert done["numberRecordsProcessed"] == 0


def test_values_are_converted_to_the_field_types(sb: SfSandbox, jobs: Jobs, sf: SalesforceClient) -> None:
    account = sb.load({"Account": [{"Name": "Acme", "NetSuite_Internal_ID__c": "C-1"}]})["Account"][0]
    data = (
        "Name,StageName,CloseDate,Amount,AccountId\n"
        f"Deal,Prospecting,2026-01-05,1500.50,{account}\n"
        f"Bad amount,Prospecting,2026-01-05,lots,{account}\n"
        f"Bad date,Prospecting,05/01/2026,10,{account}\n"
    )
    done = jobs.ingest("Opportunity", "insert", data)
    assert (done["numberRecordsProcessed"], done["numberRecordsFailed"]) == (3, 2)
    failed = {r["Name"]: r["sf__Error"] for r in jobs.results(done["id"], "failedResults")}
    assert failed["Bad amount"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:") and failed[
        "Bad amount"
    ].endswith(":Amount --")
    assert failed["Bad date"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")
    [deal] = sf.query("SELECT Amount, CloseDate, IsClosed, AccountId FROM Opportunity")["records"]
    assert (deal["Amount"], deal["CloseDate"], deal["IsClosed"], deal["AccountId"]) == (
        1500.5,
        "2026-01-05",
        False,
        account,
    )
    products = jobs.ingest(
        "Product2", "insert", "Name,IsActive,ProductCode\nW,true,W-1\nG,FALSE,G-1\nX,maybe,X-1\n"
    )
    assert (products["numberRecordsProcessed"], products["numberRecordsFailed"]) == (3, 1)
    active = {r["Name"]: r["IsActive"] for r in sf.query("SELECT Name, IsActive FROM Product2")["records"]}
    assert active == {"W": True, "G": False}


def test_a_relationship_column_links_by_the_parents_external_id(
    sb: SfSandbox, jobs: Jobs, sf: SalesforceClient
) -> None:
    account = sb.load({"Account": [{"Name": "Acme", "NetSuite_Internal_ID__c": "C-1"}]})["Account"][0]
    data = "LastName,Account.NetSuite_Internal_ID__c\nDoe,C-1\nRoe,C-404\n"
    done = jobs.ingest("Contact", "insert", data)
    assert (done["numberRecordsProcessed"], done["numberRecordsFailed"]) == (2, 1)
    [failed] = jobs.results(done["id"], "failedResults")
    assert (
        failed["LastName"] == "Roe"
        and "C-404 not found for field NetSuite_Internal_ID__c" in failed["sf__Error"]
    )
    [contact] = sf.query("SELECT LastName, AccountId FROM Contact")["records"]
    assert (contact["LastName"], contact["AccountId"]) == ("Doe", account)


def test_tab_delimiter_and_crlf_in_and_out(jobs: Jobs) -> None:
    done = jobs.ingest(
        "Account",
        "insert",
        'Name\tPhone\r\n"Tab, Inc."\t555\r\n"Quote ""Q"""\t\r\n',
        columnDelimiter="TAB",
        lineEnding="CRLF",
    )
    assert done["state"] == "JobComplete" and done["numberRecordsFailed"] == 0
    assert (done["columnDelimiter"], done["lineEnding"]) == ("TAB", "CRLF")
    ok = jobs.http.get(f"jobs/ingest/{done['id']}/successfulResults").text
    assert ok.startswith('"sf__Id"\t"sf__Created"\tName\tPhone\r\n') and ok.endswith("\r\n")
    query = jobs.query(
        "SELECT Name, Phone FROM Account ORDER BY Name", columnDelimiter="TAB", lineEnding="CRLF"
    )
    page = jobs.page(query["id"]).text
    assert page == '"Name"\t"Phone"\r\n"Quote ""Q"""\t\r\n"Tab, Inc."\t"555"\r\n'


def test_each_row_is_written_as_the_jobs_creator(sb: SfSandbox) -> None:
    with sb.admin() as admin:
        user = admin.post(
            "/__admin/load",
            json={
                "records": {
                    "User": [{"LastName": "Rep", "Username": "rep@example.com", "Email": "rep@example.com"}]
                }
            },
        )
        user_id = user.json()["ids"]["User"][0]
        session = admin.post("/__admin/sessions", json={"username": "rep@example.com"}).json()
    as_rep = Jobs(sb, session["access_token"])
    try:
        done = as_rep.ingest("Account", "insert", "Name\nMine\n")
        assert done["createdById"] == user_id
        [record] = sb.admin_records("Account")
        assert record["CreatedById"] == record["LastModifiedById"] == record["OwnerId"] == user_id
    finally:
        as_rep.close()


def test_outbound_messages_fire_per_row_as_for_rest_writes(sb: SfSandbox, jobs: Jobs) -> None:
    with sb.admin() as admin:
        configured = admin.put(
            "/__admin/outbound-messages",
            json={"sobject": "Account", "endpoint_url": "https://127.0.0.1:9/none", "fields": ["Name"]},
        )
        assert configured.status_code == 200
    jobs.ingest("Account", "insert", "Name\nA\nB\nC\n")
    with sb.admin() as admin:
        stats = admin.get("/__admin/outbound-messages", params={"sobject": "Account"}).json()["stats"]
    queued = stats["by_sobject"]["Account"]
    assert queued["pending"] + queued["delivered"] + queued["expired"] == 3


def test_hard_delete_leaves_nothing_for_query_all(sb: SfSandbox, jobs: Jobs) -> None:
    ids = sb.load({"Account": [{"Name": "Soft"}, {"Name": "Hard"}]})["Account"]
    assert jobs.ingest("Account", "delete", f"Id\n{ids[0]}\n")["numberRecordsFailed"] == 0
    assert jobs.ingest("Account", "hardDelete", f"Id\n{ids[1]}\n")["numberRecordsFailed"] == 0
    query = jobs.query("SELECT Id, IsDeleted FROM Account", operation="queryAll")
    assert rows(jobs.page(query["id"]).text) == [{"Id": ids[0], "IsDeleted": "true"}]


# ---- raw HTTP: query jobs ------------------------------------------------------------------------------


def test_query_pages_locators_and_headers(sb: SfSandbox, jobs: Jobs) -> None:
    sb.load({"Account": [{"Name": f"A{i}", "NetSuite_Internal_ID__c": f"NS-{i}"} for i in range(5)]})
    sb.load({"Contact": [{"LastName": "Doe"}]})
    created = jobs.http.post(
        "jobs/query", json={"operation": "query", "query": "SELECT Id, Name FROM Account"}
    )
    info = created.json()
    assert created.status_code == 200 and info["state"] == "UploadComplete" and info["object"] == "Account"
    assert "contentUrl" not in info and info["operation"] == "query"
    done = jobs.finished(info["id"], "query")
    assert (
        done["state"] == "JobComplete"
        and done["numberRecordsProcessed"] == 5
        and done["jobType"] == "V2Query"
    )
    first = jobs.page(info["id"], maxRecords=2)
    assert first.headers["Sforce-NumberOfRecords"] == "2" and first.headers["Sforce-Locator"] not in (
        "",
        "null",
    )
    assert first.headers["content-type"].startswith("text/csv")
    second = jobs.page(info["id"], maxRecords=2, locator=first.headers["Sforce-Locator"])
    last = jobs.page(info["id"], maxRecords=2, locator=second.headers["Sforce-Locator"])
    assert last.headers["Sforce-Locator"] == "null" and last.headers["Sforce-NumberOfRecords"] == "1"
    names = [r["Name"] for page in (first, second, last) for r in rows(page.text)]
    assert sorted(names) == [f"A{i}" for i in range(5)]
    whole = jobs.page(info["id"])  # no maxRecords: one big page
    assert whole.headers["Sforce-Locator"] == "null" and len(rows(whole.text)) == 5
    assert errors(jobs.http.get(f"jobs/query/{info['id']}/results", params={"locator": "bogus"}))[0] == 400
    # a locator stays valid: the first page's can be read again
    again = jobs.page(info["id"], maxRecords=2, locator=first.headers["Sforce-Locator"])
    assert again.text == second.text
    # parents as Account.Name, nulls as empty cells, booleans and datetimes as the real API prints them
    contacts = jobs.query("SELECT LastName, Account.Name, IsDeleted, CreatedDate FROM Contact")
    text = jobs.page(contacts["id"]).text
    header, line = text.splitlines()
    assert header == '"LastName","Account.Name","IsDeleted","CreatedDate"'
    cells = line.split(",")
    assert cells[:3] == ['"Doe"', "", '"false"']
    assert re.fullmatch(r'"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"', cells[3]), cells[3]


@pytest.mark.parametrize(
    ("soql", "code", "message"),
    [
        ("SELECT Name FROM Account GROUP BY Name", "API_ERROR", "GROUP BY"),
        ("SELECT Name, MAX(CreatedDate) FROM Account GROUP BY Name", "API_ERROR", "Aggregate"),
        ("SELECT COUNT() FROM Account", "API_ERROR", "Aggregate"),
        (
            "SELECT Id, (SELECT Id FROM Contacts) FROM Account",
            "API_ERROR",
            "Aggregate Relationships not supported",
        ),
        ("SELECT Id FROM Account LIMIT 10 OFFSET 5", "API_ERROR", "OFFSET"),
        ("SELECT TYPEOF Owner WHEN User THEN Name END FROM Account", "API_ERROR", "TYPEOF"),
        ("SELECT Id FROM", "MALFORMED_QUERY", "unexpected token"),
        ("SELECT Nope__c FROM Account", "INVALID_FIELD", "No such column 'Nope__c'"),
        ("SELECT Id FROM Nope__c", "INVALID_TYPE", "sObject type 'Nope__c' is not supported"),
    ],
)
def test_queries_bulk_refuses_and_bad_soql(jobs: Jobs, soql: str, code: str, message: str) -> None:
    status, got_code, got_message = errors(
        jobs.http.post("jobs/query", json={"operation": "query", "query": soql})
    )
    assert (status, got_code) == (400, code) and message in got_message
    assert jobs.http.get("jobs/query").json()["records"] == []


def test_results_before_the_job_completes_are_refused(
    sb: SfSandbox, jobs: Jobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    bulk = sb.server.app.state.org.bulk2
    release = threading.Event()
    snapshot = bulk._snapshot

    def held(job: Any) -> list[str]:  # the query waits (in its worker thread) until the test lets it run
        assert release.wait(30)
        result: list[str] = snapshot(job)
        return result

    monkeypatch.setattr(bulk, "_snapshot", held)
    try:
        job_id = jobs.http.post(
            "jobs/query", json={"operation": "query", "query": "SELECT Id FROM Account"}
        ).json()["id"]
        wait_for(lambda: jobs.info(job_id, "query")["state"] == "InProgress", what="query job in progress")
        assert errors(jobs.http.get(f"jobs/query/{job_id}/results"))[:2] == (400, "INVALIDJOBSTATE")
        assert errors(jobs.http.delete(f"jobs/query/{job_id}"))[:2] == (409, "INVALIDJOBSTATE")
        release.set()
        assert jobs.finished(job_id, "query")["state"] == "JobComplete"
        assert jobs.page(job_id).headers["Sforce-NumberOfRecords"] == "0"
        # an aborted query job has no results either, even once its query has run
        release.clear()
        aborted_id = jobs.http.post("jobs/query", json={"query": "SELECT Id FROM Account"}).json()["id"]
        patched = jobs.http.patch(f"jobs/query/{aborted_id}", json={"state": "Aborted"})
        assert patched.status_code == 200 and patched.json()["state"] == "Aborted"
        release.set()
        assert errors(jobs.http.get(f"jobs/query/{aborted_id}/results"))[:2] == (400, "INVALIDJOBSTATE")
        assert jobs.http.delete(f"jobs/query/{aborted_id}").status_code == 204
    finally:
        release.set()


def test_the_result_set_is_a_snapshot_while_the_client_pages(
    sb: SfSandbox, jobs: Jobs, sf: SalesforceClient
) -> None:
    ids = sb.load({"Account": [{"Name": f"Before {i}"} for i in range(6)]})["Account"]
    done = jobs.query("SELECT Id, Name FROM Account")
    first = jobs.page(done["id"], maxRecords=3)
    sf.Account.update(ids[4], {"Name": "After"})
    sf.Account.delete(ids[5])
    sf.Account.create({"Name": "Newcomer"})
    rest = jobs.page(done["id"], maxRecords=3, locator=first.headers["Sforce-Locator"])
    assert rest.headers["Sforce-Locator"] == "null"
    seen = [(r["Id"], r["Name"]) for page in (first, rest) for r in rows(page.text)]
    assert seen == [(ids[i], f"Before {i}") for i in range(6)]
    assert jobs.info(done["id"], "query")["numberRecordsProcessed"] == 6


# ---- limits and the request log ------------------------------------------------------------------------


def test_limits_report_bulk_allocations_and_calls_are_counted_and_named(sb: SfSandbox, jobs: Jobs) -> None:
    def limits() -> dict[str, Any]:
        return dict(jobs.http.get("limits/").json())

    resources = jobs.http.get("").json()
    assert resources["jobs"] == f"/services/data/{VERSION}/jobs"
    before = limits()
    for name, maximum in (
        ("DailyBulkV2QueryJobs", 10_000),
        ("DailyBulkV2QueryFileStorageMB", 976_562),
        ("DailyBulkApiBatches", 15_000),
    ):
        assert before[name]["Max"] == maximum and before[name]["Remaining"] == maximum
    assert "DailyApiRequests" in before

    with sb.admin() as admin:
        admin.delete("/__admin/requests")
    job = jobs.ingest("Account", "insert", "Name\nA\nB\n")
    jobs.http.get(f"jobs/ingest/{job['id']}/successfulResults/")
    query = jobs.query("SELECT Id FROM Account")
    jobs.page(query["id"], maxRecords=1)
    after = limits()
    assert after["DailyBulkV2QueryJobs"]["Remaining"] == 9_999
    assert after["DailyBulkApiBatches"]["Remaining"] == 14_999
    with sb.admin() as admin:
        counts = admin.get("/__admin/requests").json()["counts"]
    for endpoint in (
        "POST jobs/ingest",
        "PUT jobs/ingest/{job}/batches",
        "PATCH jobs/ingest/{job}",
        "GET jobs/ingest/{job}",
        "GET jobs/ingest/{job}/successfulResults",
        "POST jobs/query",
        "GET jobs/query/{job}",
        "GET jobs/query/{job}/results",
    ):
        assert counts.get(endpoint, 0) >= 1, (endpoint, counts)
    assert counts["PUT jobs/ingest/{job}/batches"] == 1 and counts["GET jobs/query/{job}/results"] == 1
    # every one of them counted against the daily API allocation, as any REST call
    used = before["DailyApiRequests"]["Remaining"] - after["DailyApiRequests"]["Remaining"]
    assert used == sum(counts.values())


def test_query_jobs_past_the_daily_allocation_are_refused(
    sb: SfSandbox, jobs: Jobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sb.server.app.state.org.bulk2.limits, "query_jobs", 1)
    jobs.query("SELECT Id FROM Account")
    status, code, message = errors(jobs.http.post("jobs/query", json={"query": "SELECT Id FROM Account"}))
    assert (status, code) == (400, "EXCEEDEDQUOTA") and "Max bulk v2 query jobs (1)" in message
    assert jobs.http.get("limits").json()["DailyBulkV2QueryJobs"] == {"Max": 1, "Remaining": 0}


# ---- scale -------------------------------------------------------------------------------------------------


def test_a_20000_row_upsert_and_query_round_trip(jobs: Jobs, sf: SalesforceClient) -> None:
    n = 20_000
    data = "NetSuite_Internal_ID__c,Name\n" + "".join(f"NS-{i},Account {i}\n" for i in range(n))
    job_id = jobs.create("Account", "upsert", externalIdFieldName="NetSuite_Internal_ID__c").json()["id"]
    assert jobs.upload(job_id, data).status_code == 201
    assert jobs.close_job(job_id).status_code == 200
    # while it runs the server answers other calls, and progress shows
    progress = wait_for(
        lambda: (
            (info := jobs.info(job_id))["state"] == "InProgress"
            and info["numberRecordsProcessed"] > 0
            and info
        ),
        what="the job's progress",
    )
    assert progress["numberRecordsProcessed"] < n
    assert jobs.http.get("limits").status_code == 200
    done = jobs.finished(job_id)
    assert (done["state"], done["numberRecordsProcessed"], done["numberRecordsFailed"]) == (
        "JobComplete",
        n,
        0,
    )
    created = jobs.results(job_id, "successfulResults")
    assert len(created) == n and {r["sf__Created"] for r in created} == {"true"}

    pages = list(
        sf.bulk2.Account.query(
            "SELECT Id, Name, NetSuite_Internal_ID__c FROM Account", max_records=7_000, wait=0.1
        )
    )
    assert len(pages) == 3
    found = [r for page in pages for r in rows(page)]
    assert len(found) == n and len({r["Id"] for r in found}) == n
    assert {r["NetSuite_Internal_ID__c"]: r["Name"] for r in found} == {
        f"NS-{i}": f"Account {i}" for i in range(n)
    }
    assert {r["Id"] for r in found} == {r["sf__Id"] for r in created}
