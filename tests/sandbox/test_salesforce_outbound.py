"""Outbound messages on Account, Contact and Opportunity, and logging in as another user, over real HTTPS
with unmodified simple-salesforce as the API client and a real HTTPS receiver for the SOAP messages."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from defusedxml import ElementTree
from simple_salesforce import Salesforce
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from q2c_sandbox.admin_client import SandboxAdmin, SandboxAdminError
from q2c_sandbox.salesforce.records import INTEGRATION_USER_ID
from q2c_sandbox.server import BackgroundServer, free_port
from tests.sandbox.test_salesforce_sandbox import (
    ACK,
    OUTBOUND_NS,
    SF_NS,
    SfSandbox,
    start_sandbox,
    wait_for,
)

SalesforceClient = Any
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
REP = "rep@example.test"


@pytest.fixture(scope="module")
def sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SfSandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sf-outbound"))
    yield sandbox
    sandbox.server.stop()


@contextlib.contextmanager
def clean_org_admin(sandbox: SfSandbox, *, reset_after: bool) -> Iterator[SandboxAdmin]:
    """The admin client of a reset org without outbound messages (removed again after; reset again too
    with ``reset_after``)."""
    with SandboxAdmin(sandbox.base_url, sandbox.settings.admin_key, sandbox.cert.ca_path) as a:
        a.reset()
        a.remove_outbound_messages()
        yield a
        a.remove_outbound_messages()
        if reset_after:
            a.reset()


@contextlib.contextmanager
def api_client(sandbox: SfSandbox) -> Iterator[SalesforceClient]:
    """simple-salesforce logged in to ``sandbox``, closed after."""
    client = sandbox.client()
    yield client
    client.session.close()


@pytest.fixture
def admin(sandbox_server: SfSandbox) -> Iterator[SandboxAdmin]:
    """The admin client of a reset org without outbound messages, before and after the test."""
    with clean_org_admin(sandbox_server, reset_after=True) as a:
        yield a


@pytest.fixture
def sf(sandbox_server: SfSandbox, admin: SandboxAdmin) -> Iterator[SalesforceClient]:
    with api_client(sandbox_server) as client:
        yield client


def client_for(sandbox: SfSandbox, session: dict[str, Any]) -> SalesforceClient:
    """simple-salesforce on a session issued by ``/__admin/sessions``."""
    http = requests.Session()
    http.verify, http.trust_env = sandbox.ca, False
    http.headers["Connection"] = "close"
    return Salesforce(instance_url=session["instance_url"], session_id=session["access_token"], session=http)


@dataclass
class Message:
    endpoint: str
    action_id: str
    types: set[str]
    notifications: list[tuple[str, dict[str, str]]]


@dataclass
class Receiver:
    """A webhook acknowledging every message; each outbound message gets its own path."""

    server: BackgroundServer
    messages: list[Message] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, endpoint: str) -> str:
        return f"{self.server.base_url}/outbound/{endpoint}"

    def received(self) -> list[Message]:
        with self.lock:
            return list(self.messages)

    def notifications(self, endpoint: str) -> list[tuple[str, dict[str, str]]]:
        return [n for m in self.received() if m.endpoint == endpoint for n in m.notifications]


def parse(endpoint: str, body: bytes) -> Message:
    root = ElementTree.fromstring(body)
    types: set[str] = set()
    notifications = []
    for notification in root.iter(f"{OUTBOUND_NS}Notification"):
        sobject = notification.find(f"{OUTBOUND_NS}sObject")
        assert sobject is not None
        types.add(sobject.get(XSI_TYPE, ""))
        fields = {child.tag.removeprefix(SF_NS): child.text or "" for child in sobject}
        notifications.append((notification.findtext(f"{OUTBOUND_NS}Id") or "", fields))
    return Message(endpoint, root.findtext(f".//{OUTBOUND_NS}ActionId") or "", types, notifications)


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


def queued(admin: SandboxAdmin, sobject: str) -> list[dict[str, Any]]:
    """The notifications queued for ``sobject`` (queued inside the write's transaction: no waiting)."""
    return [n for n in admin.outbound_messages()["notifications"] if n["sobject"] == sobject]


def soap_datetime(rest_value: str) -> str:
    return rest_value.removesuffix("+0000") + "Z"


# ---- Account and Contact -------------------------------------------------------------------------


def test_account_and_contact_writes_notify_with_the_writers_id(
    sandbox_server: SfSandbox, admin: SandboxAdmin, sf: SalesforceClient, receiver: Receiver
) -> None:
    opportunity = admin.configure_outbound_messages(receiver.url("opportunity"), ["StageName"])["config"]
    account = admin.configure_outbound_messages(
        receiver.url("account"), ["Name", "LastModifiedById", "SystemModstamp"], sobject="Account"
    )["config"]
    contact = admin.configure_outbound_messages(
        receiver.url("contact"), ["LastName", "Email", "LastModifiedById"], sobject="contact"
    )["config"]
    assert contact["sobject"] == "Contact" and opportunity["sobject"] == "Opportunity"
    assert account["fields"] == ["Id", "Name", "LastModifiedById", "SystemModstamp"]
    assert len({opportunity["action_id"], account["action_id"], contact["action_id"]}) == 3

    rep_id = admin.create_user(REP, last_name="Rep", first_name="Sally")
    loaded = admin.load({"Contact": [{"LastName": "Doe", "Email": "jane@example.test"}]})
    assert queued(admin, "Contact") == []  # admin loads never notify

    acme = sf.Account.create({"Name": "Acme"})["id"]
    sf.Account.update(acme, {"Name": "Acme Inc"})  # the integration user's own edit notifies too
    rep = client_for(sandbox_server, admin.login_as(REP))
    try:
        rep.Contact.update(loaded["Contact"][0], {"Email": "jane.doe@example.test"})
    finally:
        rep.session.close()
    deal = sf.Opportunity.create({"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-01-05"})["id"]
    sf.Opportunity.update(deal, {"StageName": "Closed Won"})
    assert len(queued(admin, "Account")) == 2 and len(queued(admin, "Contact")) == 1

    wait_for(
        lambda: (
            len(receiver.notifications("account")) == 2
            and len(receiver.notifications("contact")) == 1
            and len(receiver.notifications("opportunity")) == 1
        ),
        what="the Account, Contact and Opportunity notifications",
    )
    by_endpoint = {"account": account, "contact": contact, "opportunity": opportunity}
    for message in receiver.received():
        config = by_endpoint[message.endpoint]
        assert message.action_id == config["action_id"]
        assert message.types == {f"sf:{config['sobject']}"}  # one sObject type per message

    created, edited = (fields for _, fields in receiver.notifications("account"))
    record = sf.Account.get(acme)
    assert created["Id"] == edited["Id"] == acme
    assert (created["Name"], edited["Name"]) == ("Acme", "Acme Inc")  # each write's own snapshot
    assert created["LastModifiedById"] == edited["LastModifiedById"] == INTEGRATION_USER_ID
    assert created["SystemModstamp"] < edited["SystemModstamp"] == soap_datetime(record["SystemModstamp"])
    ((_, jane),) = receiver.notifications("contact")
    assert jane == {
        "Id": loaded["Contact"][0],
        "LastName": "Doe",
        "Email": "jane.doe@example.test",
        "LastModifiedById": rep_id,
    }
    ((_, won),) = receiver.notifications("opportunity")
    assert won == {"Id": deal, "StageName": "Closed Won"}

    # Deletes do not fire; an Opportunity edit that does not change IsWon does not either.
    sf.Account.delete(acme)
    sf.Opportunity.update(deal, {"Description": "still won"})
    assert len(queued(admin, "Account")) == 2 and len(queued(admin, "Opportunity")) == 1
    stats = admin.outbound_messages()["stats"]
    assert stats["by_sobject"]["Account"] == {"pending": 0, "delivered": 2, "expired": 0}


def test_one_message_per_sobject_type_even_from_one_write(
    admin: SandboxAdmin, sf: SalesforceClient, receiver: Receiver
) -> None:
    account = admin.configure_outbound_messages(receiver.url("shared"), ["Name"], sobject="Account")
    contact = admin.configure_outbound_messages(receiver.url("shared"), ["LastName"], sobject="Contact")
    results = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "A1"},
                {"attributes": {"type": "Contact"}, "LastName": "C1"},
                {"attributes": {"type": "Account"}, "Name": "A2"},
            ],
        },
    )
    assert all(r["success"] for r in results)
    wait_for(lambda: len(receiver.notifications("shared")) == 3, what="three notifications")
    messages = receiver.received()
    assert len(messages) == 2
    accounts, contacts = sorted(messages, key=lambda m: sorted(m.types))
    assert accounts.types == {"sf:Account"} and accounts.action_id == account["config"]["action_id"]
    assert [f["Name"] for _, f in accounts.notifications] == ["A1", "A2"]
    assert contacts.types == {"sf:Contact"} and contacts.action_id == contact["config"]["action_id"]
    assert [f["LastName"] for _, f in contacts.notifications] == ["C1"]


def test_collections_upsert_notifies_once_per_record_and_admin_load_not_at_all(
    admin: SandboxAdmin, sf: SalesforceClient, receiver: Receiver
) -> None:
    fields = ["Name", "NetSuite_Internal_ID__c", "LastModifiedById"]
    admin.configure_outbound_messages(receiver.url("account"), fields, sobject="Account")
    loaded = admin.load({"Account": [{"Name": "Old", "NetSuite_Internal_ID__c": "C-1"}, {"Name": "Other"}]})
    assert queued(admin, "Account") == []

    upserted = sf.restful(
        "composite/sobjects/Account/NetSuite_Internal_ID__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {
                    "attributes": {"type": "Account"},
                    "NetSuite_Internal_ID__c": f"C-{n}",
                    "Name": f"Upserted {n}",
                }
                for n in (1, 2, 3)
            ],
        },
    )
    assert [(r["success"], r["created"]) for r in upserted] == [(True, False), (True, True), (True, True)]
    assert upserted[0]["id"] == loaded["Account"][0]
    # A rolled-back collection and a REST upsert by external id.
    sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "ok"},
                {"attributes": {"type": "Account"}},
            ],
        },
    )
    assert len(queued(admin, "Account")) == 3
    assert sf.Account.upsert("NetSuite_Internal_ID__c/C-4", {"Name": "Upserted 4"}) == 201

    wait_for(lambda: len(receiver.notifications("account")) == 4, what="four Account notifications")
    got = [fields for _, fields in receiver.notifications("account")]
    assert [(f["Name"], f["NetSuite_Internal_ID__c"]) for f in got] == [
        (f"Upserted {n}", f"C-{n}") for n in (1, 2, 3, 4)
    ]
    assert [f["Id"] for f in got[:3]] == [r["id"] for r in upserted]
    assert {f["LastModifiedById"] for f in got} == {INTEGRATION_USER_ID}
    assert len({notification_id for notification_id, _ in receiver.notifications("account")}) == 4
    stats = admin.outbound_messages(sobject="Account")["stats"]["by_sobject"]["Account"]
    assert stats == {"pending": 0, "delivered": 4, "expired": 0}


# ---- the admin API ---------------------------------------------------------------------------------


def test_outbound_message_admin_api(sandbox_server: SfSandbox, admin: SandboxAdmin) -> None:
    url = "https://127.0.0.1:9/hook"
    # Without "sobject", PUT configures Opportunity, as it always did.
    with sandbox_server.admin() as http:
        legacy = http.put("/__admin/outbound-messages", json={"endpoint_url": url, "fields": ["IsWon"]})
    assert legacy.status_code == 200
    opportunity = legacy.json()["config"]
    assert opportunity["sobject"] == "Opportunity" and opportunity["fields"] == ["Id", "IsWon"]

    account = admin.configure_outbound_messages(url, ["name", "Id"], sobject="Account")
    assert account["config"]["fields"] == ["Id", "Name"]
    again = admin.configure_outbound_messages(url + "2", ["Phone"], sobject="Account")["config"]
    assert again["action_id"] == account["config"]["action_id"] and again["endpoint_url"] == url + "2"

    state = admin.outbound_messages()
    assert state["config"] == opportunity  # Opportunity's unless ?sobject= names another
    assert [c["sobject"] for c in state["configs"]] == ["Account", "Opportunity"]
    assert admin.outbound_messages(sobject="Account")["config"] == again
    assert admin.outbound_messages(sobject="Contact")["config"] is None

    with sandbox_server.admin() as http:
        for body in (
            {"sobject": "User", "endpoint_url": url, "fields": []},
            {"sobject": "Nope", "endpoint_url": url, "fields": []},
            {"sobject": 7, "endpoint_url": url, "fields": []},
        ):
            refused = http.put("/__admin/outbound-messages", json=body)
            assert refused.status_code == 400
            (error,) = refused.json()
            assert error["errorCode"] == "INVALID_TYPE" and error["fields"] == ["sobject"]
            assert "Account, Contact, Opportunity" in error["message"]
        bad_field = http.put(
            "/__admin/outbound-messages",
            json={"sobject": "Contact", "endpoint_url": url, "fields": ["IsWon"]},
        )
        assert bad_field.status_code == 400
        assert bad_field.json()[0]["message"] == "No such column 'IsWon' on sobject of type Contact"
        assert http.get("/__admin/outbound-messages", params={"sobject": "Lead"}).status_code == 400
        assert http.delete("/__admin/outbound-messages", params={"sobject": "Lead"}).status_code == 400

    removed = admin.remove_outbound_messages(sobject="Account")
    assert removed["config"] is None and [c["sobject"] for c in removed["configs"]] == ["Opportunity"]
    assert admin.remove_outbound_messages()["configs"] == []


# ---- logging in as another user -----------------------------------------------------------------------


def test_login_as_writes_as_that_user(
    sandbox_server: SfSandbox, admin: SandboxAdmin, sf: SalesforceClient
) -> None:
    rep_id = admin.create_user(REP, last_name="Rep")
    admin.create_user("gone@example.test", last_name="Gone", active=False)
    acme = sf.Account.create({"Name": "Acme"})["id"]

    session = admin.login_as(REP.upper())  # usernames are case-insensitive
    assert session["user_id"] == rep_id and session["token_type"] == "Bearer"
    assert session["instance_url"] == sandbox_server.base_url
    assert session["id"] == f"{sandbox_server.base_url}/id/{sandbox_server.settings.org_id}/{rep_id}"
    assert session["access_token"].startswith(sandbox_server.settings.org_id[:15] + "!")
    assert int(session["issued_at"]) > 0

    rep = client_for(sandbox_server, session)
    try:
        rep.Account.update(acme, {"Phone": "555-0100"})
        created = rep.Contact.create({"LastName": "Roe", "AccountId": acme})["id"]
    finally:
        rep.session.close()
    record = sf.Account.get(acme)
    assert record["LastModifiedById"] == rep_id and record["CreatedById"] == INTEGRATION_USER_ID
    contact = sf.Contact.get(created)
    assert contact["CreatedById"] == contact["LastModifiedById"] == rep_id

    with pytest.raises(SandboxAdminError, match=r"404: .*no User has the Username 'nobody@example.test'"):
        admin.login_as("nobody@example.test")
    with pytest.raises(SandboxAdminError, match=r"400: .*inactive"):
        admin.login_as("gone@example.test")
    with sandbox_server.admin() as http:
        missing = http.post("/__admin/sessions", json={})
    assert missing.status_code == 400 and "username" in missing.json()["error"]
