"""Tasks (status, IsClosed, CompletedDateTime, the TaskStatus value set), users (manager, deactivation),
inactive owners and Task outbound messages, over real HTTPS with unmodified simple-salesforce."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from q2c_sandbox.admin_client import SandboxAdmin
from q2c_sandbox.salesforce.records import INTEGRATION_USER_ID
from q2c_sandbox.salesforce.schema import load_schema
from q2c_sandbox.salesforce.sfdx import SfdxError
from q2c_sandbox.server import BackgroundServer, free_port
from tests.sandbox.test_salesforce_outbound import (
    Receiver,
    api_client,
    clean_org_admin,
    client_for,
    parse,
    queued,
)
from tests.sandbox.test_salesforce_sandbox import (
    ACK,
    SFDX_PROJECT,
    SfSandbox,
    body,
    error_code,
    start_sandbox,
    wait_for,
)

SalesforceClient = Any
CSM = "csm@example.test"
MANAGER = "manager@example.test"
GONE = "gone@example.test"
TASK_MESSAGE_FIELDS = ["IsClosed", "LastModifiedById", "Q2C_Key__c", "Status", "WhatId"]


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SfSandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sf-tasks"))
    yield sandbox
    sandbox.server.stop()


@pytest.fixture
def admin(sandbox_server: SfSandbox) -> Iterator[SandboxAdmin]:
    """The admin client of a reset org without outbound messages."""
    with clean_org_admin(sandbox_server, reset_after=False) as a:
        yield a


@pytest.fixture
def sf(sandbox_server: SfSandbox, admin: SandboxAdmin) -> Iterator[SalesforceClient]:
    with api_client(sandbox_server) as client:
        yield client


@pytest.fixture
def receiver(sandbox_server: SfSandbox) -> Iterator[Receiver]:
    holder: list[Receiver] = []

    async def hook(request: Request) -> Response:
        message = parse(request.path_params["endpoint"], await request.body())
        with holder[0].lock:
            holder[0].messages.append(message)
        return Response(ACK, media_type="text/xml")

    app = Starlette(routes=[Route("/outbound/{endpoint}", hook, methods=["POST"])])
    server = BackgroundServer(app, "127.0.0.1", free_port(), sandbox_server.cert).start()
    holder.append(Receiver(server))
    yield holder[0]
    server.stop()


def refusal(exc: pytest.ExceptionInfo[Any]) -> tuple[str, list[str]]:
    """The one error's code and fields."""
    (error,) = body(exc)
    return error["errorCode"], error["fields"]


def task_state(sf: SalesforceClient, task_id: str) -> tuple[str, bool, str | None, str]:
    record = sf.Task.get(task_id)
    return record["Status"], record["IsClosed"], record["CompletedDateTime"], record["LastModifiedDate"]


# ---- Status, IsClosed and CompletedDateTime ------------------------------------------------------------


def test_status_drives_is_closed_and_completed_date_time(sf: SalesforceClient) -> None:
    task = sf.Task.create({"Subject": "Kick-off call"})["id"]
    assert task_state(sf, task)[:3] == ("Not Started", False, None)  # the value set's default, open

    sf.Task.update(task, {"Status": "Completed"})
    status, closed, completed, modified = task_state(sf, task)
    assert (status, closed) == ("Completed", True)
    assert completed == modified  # the time of the write that closed it

    sf.Task.update(task, {"Status": "In Progress"})
    assert task_state(sf, task)[:3] == ("In Progress", False, None)  # reopened: both cleared

    sf.Task.update(task, {"Status": "Cancelled"})  # q2c's project adds Cancelled, closed
    _, closed, cancelled_at, modified = task_state(sf, task)
    assert closed and cancelled_at == modified and cancelled_at > completed
    sf.Task.update(task, {"Status": "Completed"})  # closed to closed: still closed since then
    assert task_state(sf, task)[1:3] == (True, cancelled_at)

    created_closed = sf.Task.create({"Subject": "Already done", "Status": "Completed"})["id"]
    _, closed, completed, modified = task_state(sf, created_closed)
    assert closed and completed == modified == sf.Task.get(created_closed)["CreatedDate"]
    rows = sf.query("SELECT Subject FROM Task WHERE IsClosed = false")["records"]
    assert rows == []


def test_unknown_status_and_derived_fields_are_refused(sf: SalesforceClient) -> None:
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sf.Task.create({"Subject": "x", "Status": "Done"})
    assert refusal(unknown) == ("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Status"])

    with pytest.raises(SalesforceMalformedRequest) as on_create:
        sf.Task.create({"Subject": "x", "IsClosed": True})
    assert refusal(on_create) == ("INVALID_FIELD_FOR_INSERT_UPDATE", ["IsClosed"])
    task = sf.Task.create({"Subject": "x"})["id"]
    for field, value in (("IsClosed", True), ("CompletedDateTime", "2026-01-05T10:00:00Z")):
        with pytest.raises(SalesforceMalformedRequest) as on_update:
            sf.Task.update(task, {field: value})
        assert refusal(on_update) == ("INVALID_FIELD_FOR_INSERT_UPDATE", [field])
    assert task_state(sf, task)[:3] == ("Not Started", False, None)


def test_without_a_metadata_project_the_org_has_salesforces_default_statuses(tmp_path: Path) -> None:
    sandbox = start_sandbox(tmp_path, metadata_path=None)
    try:
        sf = sandbox.client()
        status = next(f for f in sf.Task.describe()["fields"] if f["name"] == "Status")
        assert [(v["value"], v["defaultValue"]) for v in status["picklistValues"]] == [
            ("Not Started", True),
            ("In Progress", False),
            ("Completed", False),
            ("Waiting on someone else", False),
            ("Deferred", False),
        ]
        task = sf.Task.create({"Subject": "x", "Status": "Deferred"})["id"]
        assert task_state(sf, task)[:3] == ("Deferred", False, None)
        sf.Task.update(task, {"Status": "Completed"})
        assert task_state(sf, task)[1] is True
        with pytest.raises(SalesforceMalformedRequest) as cancelled:
            sf.Task.update(task, {"Status": "Cancelled"})
        assert error_code(cancelled) == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
        sf.session.close()
    finally:
        sandbox.server.stop()


def _project_with_task_statuses(tmp_path: Path, values: str) -> Path:
    """A copy of q2c's SFDX project whose TaskStatus value set holds ``values`` (<standardValue> XML)."""
    assert SFDX_PROJECT is not None
    project = tmp_path / "force-app"
    shutil.copytree(SFDX_PROJECT, project)
    path = project / "main" / "default" / "standardValueSets" / "TaskStatus.standardValueSet-meta.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<StandardValueSet xmlns="http://soap.sforce.com/2006/04/metadata">'
        f"<sorted>false</sorted>{values}</StandardValueSet>\n"
    )
    return project


def _value(name: str, *, default: bool = False, closed: bool = False) -> str:
    flags = f"<default>{str(default).lower()}</default><closed>{str(closed).lower()}</closed>"
    return f"<standardValue><fullName>{name}</fullName>{flags}<label>{name}</label></standardValue>"


def test_the_task_status_value_set_is_read_from_the_project(tmp_path: Path) -> None:
    project = _project_with_task_statuses(
        tmp_path, _value("Open", default=True) + _value("Parked", closed=True) + _value("Done", closed=True)
    )
    task_set = load_schema(metadata=project).value_sets["TaskStatus"]
    assert (task_set.values, task_set.default, task_set.closed) == (
        ("Open", "Parked", "Done"),
        "Open",
        frozenset({"Parked", "Done"}),
    )
    status = load_schema(metadata=project).objects["Task"].fields["Status"]
    assert (status.values, status.default) == (("Open", "Parked", "Done"), "Open")

    two_defaults = _project_with_task_statuses(
        tmp_path / "bad", _value("Open", default=True) + _value("Done", default=True, closed=True)
    )
    with pytest.raises(SfdxError, match=r"TaskStatus\.standardValueSet-meta\.xml: .* at most one default"):
        load_schema(metadata=two_defaults)


# ---- users: manager, deactivation -------------------------------------------------------------------


def test_manager_resolves_and_deactivating_a_user_moves_its_system_modstamp(
    admin: SandboxAdmin, sf: SalesforceClient
) -> None:
    ids = admin.load(
        {
            "User": [
                {"Username": MANAGER, "FirstName": "Mia", "LastName": "Boss", "Email": MANAGER},
                {
                    "Username": CSM,
                    "FirstName": "Cas",
                    "LastName": "Success",
                    "Email": CSM,
                    "ManagerId": "@User[0]",
                    "Title": "Customer Success Manager",
                    "Department": "Customer Success",
                },
            ]
        }
    )
    manager_id, csm_id = ids["User"]
    soql = (
        "SELECT Id, Username, IsActive, ManagerId, Manager.Name, Manager.IsActive FROM User "
        f"WHERE Username IN ('{CSM}', '{MANAGER}') ORDER BY Username"
    )
    csm, manager = sf.query(soql)["records"]
    assert (csm["Id"], csm["IsActive"], csm["ManagerId"]) == (csm_id, True, manager_id)
    assert (csm["Manager"]["Name"], csm["Manager"]["IsActive"]) == ("Mia Boss", True)
    assert manager["ManagerId"] is None and manager["Manager"] is None
    assert sf.User.get(csm_id)["Title"] == "Customer Success Manager"

    # A poller's watermark: the newest stamp it has seen (both users may share one millisecond).
    watermark = max(sf.User.get(user)["SystemModstamp"] for user in (manager_id, csm_id))
    assert sf.User.update(manager_id, {"IsActive": False}) == 204
    after = sf.User.get(manager_id)
    assert after["IsActive"] is False and after["SystemModstamp"] > watermark
    changed = sf.query(
        "SELECT Id, IsActive, SystemModstamp FROM User "
        f"WHERE SystemModstamp > {watermark.removesuffix('+0000')}Z"
    )["records"]
    assert [(r["Id"], r["IsActive"]) for r in changed] == [(manager_id, False)]
    csm, _ = sf.query(soql)["records"]
    assert csm["Manager"]["IsActive"] is False


# ---- inactive owners ----------------------------------------------------------------------------------


def test_an_inactive_user_cannot_become_an_owner(
    sandbox_server: SfSandbox, admin: SandboxAdmin, sf: SalesforceClient
) -> None:
    csm_id = admin.create_user(CSM, last_name="Success")
    gone_id = admin.create_user(GONE, last_name="Gone", active=False)
    expected = {
        "message": f"operation performed with inactive user [{gone_id}] as owner of task",
        "errorCode": "INACTIVE_OWNER_OR_USER",
        "fields": ["OwnerId"],
    }

    with pytest.raises(SalesforceMalformedRequest) as created:
        sf.Task.create({"Subject": "Kick-off", "OwnerId": gone_id})
    assert body(created) == [expected]
    task = sf.Task.create({"Subject": "Kick-off", "OwnerId": csm_id, "Q2C_Key__c": "onboard:1"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as updated:
        sf.Task.update(task, {"OwnerId": gone_id[:15]})  # a 15-character id too
    assert body(updated) == [expected]
    for key in ("onboard:1", "onboard:2"):  # upsert updating, and upsert creating
        with pytest.raises(SalesforceMalformedRequest) as upserted:
            sf.Task.upsert(f"Q2C_Key__c/{key}", {"Subject": "Kick-off", "OwnerId": gone_id})
        assert body(upserted) == [expected]
    with pytest.raises(SalesforceMalformedRequest) as account:
        sf.Account.create({"Name": "Acme", "OwnerId": gone_id})
    assert body(account)[0]["message"].endswith("as owner of account")

    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Task"}, "Subject": "ok", "OwnerId": csm_id},
                {"attributes": {"type": "Task"}, "Subject": "refused", "OwnerId": gone_id},
            ],
        },
    )
    assert results[0]["success"] is True
    assert results[1] == {
        "success": False,
        "errors": [
            {"statusCode": "INACTIVE_OWNER_OR_USER", "message": expected["message"], "fields": ["OwnerId"]}
        ],
    }
    assert sf.Task.get(task)["OwnerId"] == csm_id
    assert sf.query("SELECT COUNT() FROM Task WHERE OwnerId = '" + gone_id + "'")["totalSize"] == 0

    # The owner leaves: the task stays editable, its owner unchanged (only a new owner is checked).
    sf.User.update(csm_id, {"IsActive": False})
    sf.Task.update(task, {"Subject": "Kick-off (rescheduled)", "Status": "In Progress"})
    sf.Task.update(task, {"OwnerId": csm_id, "Status": "Completed"})  # the same owner is no change
    record = sf.Task.get(task)
    assert (record["Subject"], record["IsClosed"]) == ("Kick-off (rescheduled)", True)
    assert record["OwnerId"] == csm_id
    assert record["LastModifiedById"] == INTEGRATION_USER_ID
    # Handing it to the CSM's replacement works; admin loads may set any owner.
    successor = admin.create_user("successor@example.test", last_name="Next")
    sf.Task.update(task, {"OwnerId": successor})
    assert sf.Task.get(task)["OwnerId"] == successor
    loaded = admin.load({"Task": [{"Subject": "history", "OwnerId": gone_id}]})
    assert sf.Task.get(loaded["Task"][0])["OwnerId"] == gone_id


# ---- Task outbound messages ---------------------------------------------------------------------------


def test_a_task_notifies_when_created_and_when_its_status_changes(
    sandbox_server: SfSandbox, admin: SandboxAdmin, sf: SalesforceClient, receiver: Receiver
) -> None:
    config = admin.configure_outbound_messages(receiver.url("task"), TASK_MESSAGE_FIELDS, sobject="Task")
    assert config["config"]["fields"] == ["Id", *TASK_MESSAGE_FIELDS]
    csm_id = admin.create_user(CSM, last_name="Success")
    account = admin.load({"Account": [{"Name": "Acme"}]})["Account"][0]
    admin.load({"Task": [{"Subject": "loaded", "Status": "Completed"}]})
    assert queued(admin, "Task") == []  # admin loads never notify

    task = sf.Task.create(
        {"Subject": "Kick-off", "WhatId": account, "OwnerId": csm_id, "Q2C_Key__c": "onboard:acme:kickoff"}
    )["id"]
    sf.Task.update(task, {"Subject": "Kick-off call", "Description": "agenda"})  # no Status change
    sf.Task.update(task, {"Status": "Not Started"})  # the same status: no change either
    assert len(queued(admin, "Task")) == 1
    csm = client_for(sandbox_server, admin.login_as(CSM))
    try:
        csm.Task.update(task, {"Status": "Completed"})  # the CSM closes it
    finally:
        csm.session.close()
    assert len(queued(admin, "Task")) == 2

    wait_for(lambda: len(receiver.notifications("task")) == 2, what="two Task notifications")
    ((message_types, action_id),) = {(frozenset(m.types), m.action_id) for m in receiver.received()}
    assert message_types == {"sf:Task"} and action_id == config["config"]["action_id"]
    created, completed = (fields for _, fields in receiver.notifications("task"))
    assert created == {
        "Id": task,
        "IsClosed": "false",
        "LastModifiedById": INTEGRATION_USER_ID,
        "Q2C_Key__c": "onboard:acme:kickoff",
        "Status": "Not Started",
        "WhatId": account,
    }
    assert completed == {**created, "IsClosed": "true", "Status": "Completed", "LastModifiedById": csm_id}
    stats = admin.outbound_messages(sobject="Task")["stats"]["by_sobject"]["Task"]
    assert stats == {"pending": 0, "delivered": 2, "expired": 0}
