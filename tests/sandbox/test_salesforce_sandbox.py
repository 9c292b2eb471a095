"""The Salesforce sandbox over real HTTPS, driven by unmodified simple-salesforce where possible."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
from defusedxml import ElementTree
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from q2c_sandbox.common import ADMIN_HEADER
from q2c_sandbox.salesforce.app import SalesforceSandboxSettings, create_app
from q2c_sandbox.salesforce.records import INTEGRATION_USER_ID, STANDARD_PRICEBOOK_ID
from q2c_sandbox.salesforce.schema import SCHEMA_PATH, load_schema
from q2c_sandbox.salesforce.sfdx import NS as SFDX_NS
from q2c_sandbox.salesforce.sfdx import default_project
from q2c_sandbox.server import BackgroundServer, free_port
from q2c_sandbox.tls import ServerCert, ensure_server_cert

SFDX_PROJECT = default_project()  # q2c's metadata/salesforce/force-app

# simple-salesforce resolves sf.Account etc. dynamically (typed as a union mypy cannot call): tests hold
# the client as Any.
SalesforceClient = Any

OUTBOUND_NS = "{http://soap.sforce.com/2005/09/outbound}"
SF_NS = "{urn:sobject.enterprise.soap.sforce.com}"
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>'
    "</notificationsResponse></soapenv:Body></soapenv:Envelope>"
)


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        threading.Event().wait(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class SfSandbox:
    server: BackgroundServer
    settings: SalesforceSandboxSettings
    cert: ServerCert

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def ca(self) -> str:
        return str(self.cert.ca_path)

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, verify=self.ca, timeout=30)

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            verify=self.ca,
            timeout=60,
            headers={ADMIN_HEADER: self.settings.admin_key},
        )

    def token(self) -> dict[str, Any]:
        s = self.settings
        form = {
            "grant_type": "password",
            "client_id": s.client_id,
            "client_secret": s.client_secret,
            "username": s.username,
            "password": s.password,
        }
        with self.http() as http:
            response = http.post("/services/oauth2/token", data=form)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def client(self) -> SalesforceClient:
        token = self.token()
        session = requests.Session()
        session.verify = self.ca
        # requests lets REQUESTS_CA_BUNDLE override session.verify; the sandbox CA must win.
        session.trust_env = False
        # No idle keep-alive connections: one left open (e.g. referenced by a pytest.raises traceback)
        # would hold up the server's graceful shutdown by the TLS close timeout.
        session.headers["Connection"] = "close"
        return Salesforce(
            instance_url=token["instance_url"], session_id=token["access_token"], session=session
        )

    def load(self, records: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
        with self.admin() as admin:
            response = admin.post("/__admin/load", json={"records": records})
        assert response.status_code == 200, response.text
        return dict(response.json()["ids"])

    def admin_records(self, sobject: str) -> list[dict[str, Any]]:
        with self.admin() as admin:
            return list(admin.get(f"/__admin/records/{sobject}").json())


def start_sandbox(tmp: Path, **overrides: Any) -> SfSandbox:
    cert = ensure_server_cert(tmp / "tls")
    settings = SalesforceSandboxSettings(
        db_path=tmp / "salesforce.db",
        outbound_ca_path=cert.ca_path,
        outbound_retry_base_seconds=0.05,
        outbound_retry_max_seconds=0.2,
        **overrides,
    )
    server = BackgroundServer(create_app(settings), "127.0.0.1", free_port(), cert).start()
    return SfSandbox(server, settings, cert)


@pytest.fixture(scope="module")
def sf_sandbox_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SfSandbox]:
    sandbox = start_sandbox(tmp_path_factory.mktemp("sf-sandbox"))
    yield sandbox
    sandbox.server.stop()


@pytest.fixture
def sf_sandbox(sf_sandbox_server: SfSandbox) -> SfSandbox:
    """The shared sandbox, reset so every test starts from an empty org."""
    with sf_sandbox_server.admin() as admin:
        assert admin.post("/__admin/reset").json() == {"ok": True}
        admin.delete("/__admin/outbound-messages")
    return sf_sandbox_server


@pytest.fixture
def sf(sf_sandbox: SfSandbox) -> Iterator[SalesforceClient]:
    client = sf_sandbox.client()
    yield client
    client.session.close()


def body(exc: pytest.ExceptionInfo[Any]) -> Any:
    """The decoded error body simple-salesforce attached to the exception."""
    return exc.value.content


def error_code(exc: pytest.ExceptionInfo[Any]) -> str:
    return str(body(exc)[0]["errorCode"])


def catalog(sf_sandbox: SfSandbox) -> dict[str, list[str]]:
    """Two products with standard USD prices, two accounts, a contact."""
    return sf_sandbox.load(
        {
            "Account": [
                {"Name": "Acme", "Industry": "Technology", "NetSuite_Internal_ID__c": "C-1"},
                {"Name": "Beta Corp", "Industry": "Retail"},
                {"Name": "gamma"},
            ],
            "Contact": [{"FirstName": "Jane", "LastName": "Doe", "AccountId": "@Account[0]"}],
            "Product2": [
                {"Name": "Widget", "IsActive": True, "NetSuite_Internal_ID__c": "I-1"},
                {"Name": "Gadget", "IsActive": True, "NetSuite_Internal_ID__c": "I-2"},
            ],
            "PricebookEntry": [
                {
                    "Pricebook2Id": STANDARD_PRICEBOOK_ID,
                    "Product2Id": "@Product2[0]",
                    "UnitPrice": 10,
                    "IsActive": True,
                },
                {
                    "Pricebook2Id": STANDARD_PRICEBOOK_ID,
                    "Product2Id": "@Product2[1]",
                    "UnitPrice": 25,
                    "IsActive": True,
                },
            ],
        }
    )


# ---- OAuth and sessions ------------------------------------------------------------------------------


def test_password_grant_returns_a_signed_token(sf_sandbox: SfSandbox) -> None:
    token = sf_sandbox.token()
    assert token["token_type"] == "Bearer"
    assert token["instance_url"] == sf_sandbox.base_url
    assert token["id"] == f"{sf_sandbox.base_url}/id/{sf_sandbox.settings.org_id}/{INTEGRATION_USER_ID}"
    expected = hmac.new(
        sf_sandbox.settings.client_secret.encode(),
        f"{token['id']}{token['issued_at']}".encode(),
        hashlib.sha256,
    ).digest()
    assert token["signature"] == base64.b64encode(expected).decode()
    assert abs(int(token["issued_at"]) - time.time() * 1000) < 60_000


def test_client_credentials_grant_with_basic_auth_or_form(sf_sandbox: SfSandbox) -> None:
    s = sf_sandbox.settings
    with sf_sandbox.http() as http:
        basic = http.post(
            "/services/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(s.client_id, s.client_secret),
        )
        form = http.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": s.client_id,
                "client_secret": s.client_secret,
            },
        )
        assert basic.status_code == 200 and form.status_code == 200
        me = http.get(basic.json()["id"], headers={"Authorization": f"Bearer {basic.json()['access_token']}"})
    assert me.json()["username"] == s.username


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"grant_type": "password", "password": "wrong"}, "invalid_grant"),
        ({"grant_type": "password", "username": "someone@else.test"}, "invalid_grant"),
        ({"grant_type": "password", "client_secret": "wrong"}, "invalid_client"),
        ({"grant_type": "client_credentials", "client_id": "nobody"}, "invalid_client"),
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
    ],
)
def test_bad_credentials_are_refused(sf_sandbox: SfSandbox, form: dict[str, str], error: str) -> None:
    s = sf_sandbox.settings
    base = {
        "client_id": s.client_id,
        "client_secret": s.client_secret,
        "username": s.username,
        "password": s.password,
    }
    with sf_sandbox.http() as http:
        response = http.post("/services/oauth2/token", data={**base, **form})
    assert response.status_code == 400
    assert response.json()["error"] == error
    if error == "invalid_grant":
        assert response.json()["error_description"] == "authentication failure"


def test_missing_unknown_and_expired_sessions_get_401(sf_sandbox: SfSandbox, sf: SalesforceClient) -> None:
    with sf_sandbox.http() as http:
        for headers in ({}, {"Authorization": "Bearer nope"}):
            response = http.get("/services/data/v59.0/sobjects/Account/", headers=headers)
            assert response.status_code == 401
            assert response.json() == [
                {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
            ]
    sf.query("SELECT Id FROM Account")
    with sf_sandbox.admin() as admin:
        admin.post("/__admin/expire-sessions")
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account")


def test_version_list_needs_no_auth_and_has_no_limit_header(sf_sandbox: SfSandbox) -> None:
    with sf_sandbox.http() as http:
        response = http.get("/services/data/")
    assert response.status_code == 200
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in response.json()
    assert "Sforce-Limit-Info" not in response.headers


# ---- CRUD, upsert, validation ------------------------------------------------------------------------


def test_create_get_update_delete(sf_sandbox: SfSandbox, sf: SalesforceClient) -> None:
    created = sf.session.post(
        f"{sf.base_url}sobjects/Account/", json={"Name": "Acme", "Industry": "Retail"}, headers=sf.headers
    )
    assert created.status_code == 201
    body = created.json()
    assert body["success"] is True and body["errors"] == [] and len(body["id"]) == 18
    account_id = body["id"]
    assert account_id.startswith("001")

    record = sf.Account.get(account_id)
    assert record["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v59.0/sobjects/Account/{account_id}",
    }
    assert (
        record["Name"] == "Acme" and record["CurrencyIsoCode"] == "USD" and record["Credit_Hold__c"] is False
    )
    assert record["CreatedById"] == record["LastModifiedById"] == INTEGRATION_USER_ID
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", record["CreatedDate"])
    assert sf.Account.get(account_id[:15])["Id"] == account_id  # 15-character ids are accepted
    assert dict(sf.Account.get(account_id, params={"fields": "name,Industry"})) == {
        "attributes": record["attributes"],
        "Name": "Acme",
        "Industry": "Retail",
    }

    assert sf.Account.update(account_id, {"Industry": "Finance"}) == 204
    updated = sf.Account.get(account_id)
    assert updated["Industry"] == "Finance"
    assert updated["LastModifiedDate"] > record["LastModifiedDate"]
    assert updated["SystemModstamp"] > record["SystemModstamp"]

    assert sf.Account.delete(account_id) == 204
    with pytest.raises(SalesforceResourceNotFound) as gone:
        sf.Account.get(account_id)
    assert error_code(gone) == "ENTITY_IS_DELETED"
    assert sf.query("SELECT Id FROM Account")["totalSize"] == 0
    deleted = sf.query_all("SELECT Id, IsDeleted FROM Account", include_deleted=True)["records"]
    assert [(r["Id"], r["IsDeleted"]) for r in deleted] == [(account_id, True)]
    assert sf_sandbox.admin_records("Account")[0]["IsDeleted"] is True


def test_unknown_ids_and_types_are_404(sf: SalesforceClient) -> None:
    with pytest.raises(SalesforceResourceNotFound) as unknown_id:
        sf.Account.get("001000000000zzzAAA")
    assert body(unknown_id) == [
        {"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}
    ]
    with pytest.raises(SalesforceResourceNotFound):
        sf.Invoice__c.create({"Name": "x"})
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("nothing/here")


def test_upsert_creates_then_updates(sf_sandbox: SfSandbox, sf: SalesforceClient) -> None:
    url = f"{sf.base_url}sobjects/Account/NetSuite_Internal_ID__c/C-9"
    first = sf.session.patch(url, json={"Name": "Nine"}, headers=sf.headers)
    assert first.status_code == 201
    assert first.json() == {"id": first.json()["id"], "success": True, "errors": [], "created": True}
    second = sf.session.patch(url, json={"Name": "Nine Inc"}, headers=sf.headers)
    assert second.status_code == 200
    assert second.json() == {"id": first.json()["id"], "success": True, "errors": [], "created": False}

    assert sf.Account.upsert("NetSuite_Internal_ID__c/C-10", {"Name": "Ten"}) == 201
    assert (
        sf.Account.upsert("NetSuite_Internal_ID__c/c-10", {"Industry": "Retail"}) == 200
    )  # case-insensitive
    ten = sf.Account.get_by_custom_id("NetSuite_Internal_ID__c", "C-10")
    assert (ten["Name"], ten["Industry"], ten["NetSuite_Internal_ID__c"]) == ("Ten", "Retail", "C-10")
    assert len(sf_sandbox.admin_records("Account")) == 2


def test_upsert_on_fields_that_are_not_external_ids(sf: SalesforceClient) -> None:
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Account.upsert("Nope__c/1", {"Name": "x"})
    assert body(missing)[0]["message"] == (
        "Provided external ID field does not exist or is not accessible: Nope__c"
    )
    with pytest.raises(SalesforceMalformedRequest) as not_external:
        sf.Account.upsert("Name/Acme", {"Industry": "Retail"})
    assert error_code(not_external) == "INVALID_FIELD"


def _project_with_field(tmp_path: Path, sobject: str, xml: str) -> Path:
    """A copy of q2c's SFDX project with one more field on ``sobject`` (``xml``: its CustomField body)."""
    assert SFDX_PROJECT is not None
    project = tmp_path / "force-app"
    shutil.copytree(SFDX_PROJECT, project)
    name = xml.split("<fullName>")[1].split("</fullName>")[0]
    fields = project / "main" / "default" / "objects" / sobject / "fields"
    fields.mkdir(parents=True, exist_ok=True)
    (fields / f"{name}.field-meta.xml").write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<CustomField xmlns="{SFDX_NS}">{xml}</CustomField>\n'
    )
    return project


def test_custom_fields_are_deployed_from_the_sfdx_project(tmp_path: Path) -> None:
    project = _project_with_field(
        tmp_path,
        "Account",
        "<fullName>Region__c</fullName><label>Region</label><type>Picklist</type><valueSet><valueSetDefinition>"
        "<value><fullName>EMEA</fullName><default>true</default><label>EMEA</label></value>"
        "<value><fullName>APAC</fullName><default>false</default><label>APAC</label></value>"
        "</valueSetDefinition></valueSet>",
    )
    (
        project / "main" / "default" / "objects" / "Account" / "fields" / "Credit_Hold__c.field-meta.xml"
    ).unlink()
    sandbox = start_sandbox(tmp_path, metadata_path=project)
    try:
        sf = sandbox.client()
        described = {f["name"]: f for f in sf.Account.describe()["fields"]}
        assert described["Region__c"]["picklistValues"][0]["value"] == "EMEA"
        assert "NetSuite_Internal_ID__c" in described and "Credit_Hold__c" not in described
        account = sf.Account.create({"Name": "Deployed"})["id"]
        assert sf.Account.get(account)["Region__c"] == "EMEA"  # the picklist's default
        # A field the project lacks is one the org lacks: the write fails as in a real org.
        with pytest.raises(SalesforceMalformedRequest) as unknown:
            sf.Account.update(account, {"Credit_Hold__c": True})
        assert error_code(unknown) == "INVALID_FIELD"
    finally:
        sandbox.server.stop()


def test_schema_toml_cannot_define_custom_fields(tmp_path: Path) -> None:
    schema = SCHEMA_PATH.read_text().replace("Title = {", 'Legacy_ID__c = { type = "string" }\nTitle = {', 1)
    (tmp_path / "schema.toml").write_text(schema)
    with pytest.raises(
        ValueError, match=r"Contact: Legacy_ID__c; custom objects and fields come from the SFDX"
    ):
        load_schema(tmp_path / "schema.toml", SFDX_PROJECT)


def test_ambiguous_upsert_answers_300(tmp_path: Path) -> None:
    # An external id that is not unique, as an admin can configure one.
    project = _project_with_field(
        tmp_path,
        "Contact",
        "<fullName>Legacy_ID__c</fullName><externalId>true</externalId><label>Legacy ID</label>"
        "<length>32</length><type>Text</type><unique>false</unique>",
    )
    sandbox = start_sandbox(tmp_path, metadata_path=project)
    try:
        ids = sandbox.load(
            {"Contact": [{"LastName": "A", "Legacy_ID__c": "L1"}, {"LastName": "B", "Legacy_ID__c": "L1"}]}
        )
        sf = sandbox.client()
        with pytest.raises(SalesforceMoreThanOneRecord) as many:
            sf.Contact.upsert("Legacy_ID__c/L1", {"Title": "CEO"})
        assert body(many) == [f"/services/data/v59.0/sobjects/Contact/{i}" for i in ids["Contact"]]
    finally:
        sandbox.server.stop()


@pytest.mark.parametrize(
    ("sobject", "record", "code", "fields"),
    [
        ("Account", {"Industry": "Retail"}, "REQUIRED_FIELD_MISSING", ["Name"]),
        ("Opportunity", {"Name": "x"}, "REQUIRED_FIELD_MISSING", ["StageName", "CloseDate"]),
        ("Account", {"Name": "x", "Foo__c": 1}, "INVALID_FIELD", ["Foo__c"]),
        ("Opportunity", {"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-01-05", "IsWon": True},
         "INVALID_FIELD_FOR_INSERT_UPDATE", ["IsWon"]),
        ("Account", {"Name": "x", "Industry": "Mining"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", ["Industry"]),
        ("Account", {"Name": "x", "CurrencyIsoCode": "XXX"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
         ["CurrencyIsoCode"]),
        ("Account", {"Name": "x" * 256}, "STRING_TOO_LONG", ["Name"]),
        ("Account", {"Name": "x", "NetSuite_Balance__c": "lots"}, "INVALID_TYPE_ON_FIELD_IN_RECORD",
         ["NetSuite_Balance__c"]),
        ("Opportunity", {"Name": "x", "StageName": "Prospecting", "CloseDate": "5 Jan"},
         "INVALID_TYPE_ON_FIELD_IN_RECORD", ["CloseDate"]),
        ("Contact", {"LastName": "x", "AccountId": "not-an-id"}, "MALFORMED_ID", ["AccountId"]),
        ("Contact", {"LastName": "x", "AccountId": "001000000000zzzAAA"}, "INVALID_CROSS_REFERENCE_KEY",
         ["AccountId"]),
        ("Contact", {"LastName": "x", "Email": "nope"}, "INVALID_EMAIL_ADDRESS", ["Email"]),
    ],
)  # fmt: skip
def test_validation_errors(
    sf: SalesforceClient, sobject: str, record: dict[str, Any], code: str, fields: list[str]
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as bad:
        getattr(sf, sobject).create(record)
    (error,) = body(bad)
    assert (error["errorCode"], error["fields"]) == (code, fields)
    assert error["message"]


def test_error_messages_name_the_object_and_field(sf: SalesforceClient) -> None:
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.Account.create({"Name": "x", "Foo__c": 1})
    assert body(bad)[0]["message"] == "No such column 'Foo__c' on sobject of type Account"
    with pytest.raises(SalesforceMalformedRequest) as long:
        sf.Account.create({"Name": "x" * 300})
    assert body(long)[0]["message"].endswith("(max length=255)")


def test_duplicate_unique_value(sf: SalesforceClient) -> None:
    first = sf.Account.create({"Name": "A", "NetSuite_Internal_ID__c": "C-1"})
    with pytest.raises(SalesforceMalformedRequest) as dup:
        sf.Account.create({"Name": "B", "NetSuite_Internal_ID__c": "c-1"})
    assert error_code(dup) == "DUPLICATE_VALUE"
    assert first["id"] in body(dup)[0]["message"]


def test_stage_drives_is_closed_and_is_won(sf: SalesforceClient) -> None:
    opp = sf.Opportunity.create({"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-01-05"})["id"]
    flags = lambda: (lambda r: (r["IsClosed"], r["IsWon"]))(sf.Opportunity.get(opp))  # noqa: E731
    assert flags() == (False, False)
    sf.Opportunity.update(opp, {"StageName": "Closed Won"})
    assert flags() == (True, True)
    sf.Opportunity.update(opp, {"StageName": "Closed Lost"})
    assert flags() == (True, False)
    contact = sf.Contact.create({"FirstName": "Ada", "LastName": "Lovelace"})["id"]
    assert sf.Contact.get(contact)["Name"] == "Ada Lovelace"


def test_line_items_price_and_total_the_opportunity(sf_sandbox: SfSandbox, sf: SalesforceClient) -> None:
    ids = catalog(sf_sandbox)
    widget_price, gadget_price = ids["PricebookEntry"]
    opp = sf.Opportunity.create(
        {"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-01-05", "Amount": 5}
    )["id"]
    line = sf.OpportunityLineItem.create(
        {"OpportunityId": opp, "PricebookEntryId": widget_price, "Quantity": 3}
    )["id"]
    item = sf.OpportunityLineItem.get(line)
    assert (item["Product2Id"], item["UnitPrice"], item["TotalPrice"]) == (ids["Product2"][0], 10.0, 30.0)
    assert item["CurrencyIsoCode"] == "USD"
    sf.OpportunityLineItem.create(
        {"OpportunityId": opp, "PricebookEntryId": gadget_price, "Quantity": 2, "UnitPrice": 20}
    )
    assert sf.Opportunity.get(opp)["Amount"] == 70.0
    assert sf.Opportunity.get(opp)["Pricebook2Id"] == STANDARD_PRICEBOOK_ID
    sf.OpportunityLineItem.update(line, {"Quantity": 1})
    assert sf.Opportunity.get(opp)["Amount"] == 50.0
    sf.OpportunityLineItem.delete(line)
    assert sf.Opportunity.get(opp)["Amount"] == 40.0

    euro = sf.Opportunity.create(
        {"Name": "E", "StageName": "Prospecting", "CloseDate": "2026-01-05", "CurrencyIsoCode": "EUR"}
    )["id"]
    with pytest.raises(SalesforceMalformedRequest) as mismatch:
        sf.OpportunityLineItem.create(
            {"OpportunityId": euro, "PricebookEntryId": widget_price, "Quantity": 1}
        )
    assert error_code(mismatch) == "FIELD_INTEGRITY_EXCEPTION"
    assert "currency" in body(mismatch)[0]["message"]


def test_price_book_rules(sf_sandbox: SfSandbox, sf: SalesforceClient) -> None:
    ids = catalog(sf_sandbox)
    product = sf.Product2.create({"Name": "Unpriced", "IsActive": True})["id"]
    custom = sf.Pricebook2.create({"Name": "Partners", "IsActive": True})["id"]
    with pytest.raises(SalesforceMalformedRequest) as no_standard:
        sf.PricebookEntry.create(
            {"Pricebook2Id": custom, "Product2Id": product, "UnitPrice": 5, "IsActive": True}
        )
    assert error_code(no_standard) == "STANDARD_PRICE_NOT_DEFINED"
    partner_price = sf.PricebookEntry.create(
        {"Pricebook2Id": custom, "Product2Id": ids["Product2"][0], "UnitPrice": 8, "IsActive": True}
    )["id"]
    assert sf.PricebookEntry.get(partner_price)["Name"] == "Widget"
    with pytest.raises(SalesforceMalformedRequest) as duplicate:
        sf.PricebookEntry.create(
            {"Pricebook2Id": STANDARD_PRICEBOOK_ID, "Product2Id": ids["Product2"][0], "UnitPrice": 1}
        )
    assert error_code(duplicate) == "DUPLICATE_VALUE"

    opp = sf.Opportunity.create({"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-01-05"})["id"]
    sf.OpportunityLineItem.create({"OpportunityId": opp, "PricebookEntryId": partner_price, "Quantity": 1})
    assert sf.Opportunity.get(opp)["Pricebook2Id"] == custom
    with pytest.raises(SalesforceMalformedRequest) as other_book:
        sf.OpportunityLineItem.create(
            {"OpportunityId": opp, "PricebookEntryId": ids["PricebookEntry"][0], "Quantity": 1}
        )
    assert error_code(other_book) == "FIELD_INTEGRITY_EXCEPTION"
    assert "different pricebook" in body(other_book)[0]["message"]


# ---- SOQL --------------------------------------------------------------------------------------------


@pytest.fixture
def deals(sf_sandbox: SfSandbox) -> dict[str, list[str]]:
    ids = catalog(sf_sandbox)
    today = time.strftime("%Y-%m-%d", time.gmtime())
    ids.update(
        sf_sandbox.load(
            {
                "Opportunity": [
                    {"Name": "Big deal", "AccountId": ids["Account"][0], "StageName": "Closed Won", "CloseDate": "2026-01-05"},
                    {"Name": "Small deal", "AccountId": ids["Account"][1], "StageName": "Prospecting", "CloseDate": "2026-02-01"},
                    {"Name": "Orphan", "StageName": "Closed Lost", "CloseDate": today},
                ],
                "OpportunityLineItem": [
                    {"OpportunityId": "@Opportunity[0]", "PricebookEntryId": ids["PricebookEntry"][0], "Quantity": 2},
                    {"OpportunityId": "@Opportunity[0]", "PricebookEntryId": ids["PricebookEntry"][1], "Quantity": 1,
                     "UnitPrice": 20},
                ],
            }
        )
    )  # fmt: skip
    return ids


def names(sf: SalesforceClient, soql: str) -> list[str]:
    return [r["Name"] for r in sf.query(soql)["records"]]


def test_soql_parent_fields_and_child_subquery(sf: SalesforceClient, deals: dict[str, list[str]]) -> None:
    result = sf.query(
        "SELECT Id, Name, Amount, Account.Name, Account.Owner.Email, "
        "(SELECT Quantity, Product2.Name, Product2.NetSuite_Internal_ID__c FROM OpportunityLineItems "
        " WHERE Quantity > 0 ORDER BY Quantity DESC LIMIT 5) "
        "FROM Opportunity ORDER BY Name"
    )
    assert result["totalSize"] == 3 and result["done"] is True
    big, orphan, small = result["records"]
    assert big["attributes"]["type"] == "Opportunity" and big["Amount"] == 40.0
    assert big["Account"]["attributes"]["type"] == "Account"
    assert big["Account"]["Name"] == "Acme"
    assert big["Account"]["Owner"]["Email"] == "integration@q2c.sandbox"
    lines = big["OpportunityLineItems"]
    assert (lines["totalSize"], lines["done"]) == (2, True)
    assert [
        (r["Quantity"], r["Product2"]["Name"], r["Product2"]["NetSuite_Internal_ID__c"])
        for r in lines["records"]
    ] == [
        (2.0, "Widget", "I-1"),
        (1.0, "Gadget", "I-2"),
    ]
    assert lines["records"][0]["attributes"]["type"] == "OpportunityLineItem"
    assert orphan["Account"] is None  # empty reference
    assert small["OpportunityLineItems"] is None  # no children
    contacts = sf.query("SELECT Name, (SELECT Name FROM Contacts) FROM Account WHERE Name = 'acme'")[
        "records"
    ]
    assert contacts[0]["Contacts"]["records"][0]["Name"] == "Jane Doe"


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("(StageName = 'Closed Won' OR StageName = 'Prospecting') AND Account.Industry != null",
         ["Big deal", "Small deal"]),
        ("NOT (IsClosed = true)", ["Small deal"]),
        ("IsWon = false AND IsClosed = true", ["Orphan"]),
        ("Name LIKE 'big%'", ["Big deal"]),
        ("Name LIKE '_mall deal'", ["Small deal"]),
        ("Account.Name IN ('Acme', 'Beta Corp')", ["Big deal", "Small deal"]),
        ("StageName NOT IN ('Closed Won', 'Closed Lost')", ["Small deal"]),
        ("AccountId = null", ["Orphan"]),
        ("Amount >= 40", ["Big deal"]),
        ("Amount < 40.5 AND Amount > 39.99", ["Big deal"]),
        ("CloseDate < 2026-01-10", ["Big deal"]),
        ("CloseDate >= 2026-01-05 AND CloseDate <= 2026-02-01", ["Big deal", "Small deal"]),
        ("CloseDate = TODAY", ["Orphan"]),
        ("CreatedDate = LAST_N_DAYS:1", ["Big deal", "Orphan", "Small deal"]),
        ("CreatedDate = YESTERDAY", []),
        ("LastModifiedDate > 2020-01-01T00:00:00Z", ["Big deal", "Orphan", "Small deal"]),
        ("LastModifiedDate < 2020-01-01T00:00:00+0000", []),
        ("Name = 'Big \\'deal\\''", []),
    ],
)  # fmt: skip
def test_soql_where(
    sf: SalesforceClient, deals: dict[str, list[str]], where: str, expected: list[str]
) -> None:
    assert names(sf, f"SELECT Name FROM Opportunity WHERE {where} ORDER BY Name") == expected


def test_soql_order_limit_offset_count_and_case(sf: SalesforceClient, deals: dict[str, list[str]]) -> None:
    assert names(sf, "SELECT Name FROM Account ORDER BY Industry, Name") == ["gamma", "Beta Corp", "Acme"]
    assert names(sf, "SELECT Name FROM Account ORDER BY Industry DESC NULLS LAST") == [
        "Acme",
        "Beta Corp",
        "gamma",
    ]
    assert names(sf, "SELECT Name FROM Account ORDER BY Name") == [
        "Acme",
        "Beta Corp",
        "gamma",
    ]  # case-insensitive
    assert names(sf, "SELECT Name FROM Account ORDER BY Name LIMIT 1 OFFSET 1") == ["Beta Corp"]
    assert names(sf, "SELECT Name FROM Opportunity ORDER BY Account.Name DESC NULLS LAST, Name") == [
        "Small deal",
        "Big deal",
        "Orphan",
    ]
    count = sf.query("SELECT COUNT() FROM Account WHERE Name LIKE '%a%'")
    assert (count["totalSize"], count["done"], count["records"]) == (3, True, [])
    record = sf.query("select name, INDUSTRY from account where NAME = 'ACME'")["records"][0]
    assert list(record) == ["attributes", "Name", "Industry"]
    assert record["attributes"]["type"] == "Account"


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELECT Id FRM Account", "MALFORMED_QUERY", "unexpected token: FRM"),
        ("SELECT Id, FROM Account", "MALFORMED_QUERY", "unexpected token: FROM"),
        ("SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'", "MALFORMED_QUERY",
         "unexpected token: OR"),
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY", "unexpected token: <EOF>"),
        ("SELECT Id, Foo__c FROM Account", "INVALID_FIELD", "No such column 'Foo__c' on entity 'Account'"),
        ("SELECT Account.Foo FROM Opportunity", "INVALID_FIELD", "No such column 'Foo' on entity 'Account'"),
        ("SELECT Acct.Name FROM Opportunity", "INVALID_FIELD", "Didn't understand relationship 'Acct'"),
        ("SELECT Id FROM Account WHERE Bar = 1", "INVALID_FIELD", "No such column 'Bar' on entity 'Account'"),
        ("SELECT Id FROM Invoice__c", "INVALID_TYPE", "sObject type 'Invoice__c' is not supported"),
        ("SELECT Id, (SELECT Id FROM Lines) FROM Opportunity", "INVALID_TYPE", "Didn't understand relationship 'Lines'"),
        ("SELECT Id FROM Opportunity WHERE Amount = '5'", "INVALID_FIELD", "must be of type double"),
        ("SELECT Id FROM Opportunity WHERE CloseDate = '2026-01-05'", "INVALID_FIELD", "must be of type date"),
    ],
)  # fmt: skip
def test_soql_errors(sf: SalesforceClient, soql: str, code: str, fragment: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.query(soql)
    assert error_code(bad) == code
    assert fragment in body(bad)[0]["message"]
    assert "ERROR at Row:1:Column:" in body(bad)[0]["message"]


def test_query_paging_returns_every_record_once(sf_sandbox: SfSandbox, sf: SalesforceClient) -> None:
    sf_sandbox.load({"Account": [{"Name": f"Account {i:04d}"} for i in range(4500)]})
    first = sf.query("SELECT Id, Name FROM Account")
    assert (first["totalSize"], first["done"], len(first["records"])) == (4500, False, 2000)
    assert re.fullmatch(r"/services/data/v59\.0/query/\w+-2000", first["nextRecordsUrl"])
    ids = [r["Id"] for r in sf.query_all_iter("SELECT Id, Name FROM Account ORDER BY Name")]
    assert len(ids) == len(set(ids)) == 4500

    small = sf.query("SELECT Id FROM Account", headers={"Sforce-Query-Options": "batchSize=500"})
    assert len(small["records"]) == 500
    second = sf.query_more(small["nextRecordsUrl"], identifier_is_url=True)
    assert len(second["records"]) == 500 and second["nextRecordsUrl"].endswith("-1000")
    assert {r["Id"] for r in small["records"]}.isdisjoint(r["Id"] for r in second["records"])

    sf.Account.delete(ids[0])
    everything = list(sf.query_all_iter("SELECT Id FROM Account", include_deleted=True))
    assert len(everything) == 4500
    with pytest.raises(SalesforceMalformedRequest) as stale:
        sf.query_more("/services/data/v59.0/query/0r8NOPE-2000", identifier_is_url=True)
    assert error_code(stale) == "INVALID_QUERY_LOCATOR"


# ---- sObject Collections -----------------------------------------------------------------------------


def test_composite_collections(sf_sandbox: SfSandbox, sf: SalesforceClient) -> None:
    with sf_sandbox.admin() as admin:
        admin.delete("/__admin/requests")
    created = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "One"},
                {"attributes": {"type": "Account"}, "Industry": "Retail"},
                {"attributes": {"type": "Contact"}, "LastName": "Two"},
            ],
        },
    )
    assert [r["success"] for r in created] == [True, False, True]
    assert created[1]["errors"] == [
        {
            "statusCode": "REQUIRED_FIELD_MISSING",
            "message": "Required fields are missing: [Name]",
            "fields": ["Name"],
        }
    ]
    with sf_sandbox.admin() as admin:
        log = admin.get("/__admin/requests").json()
    assert log["counts"] == {"POST composite/sobjects": 1}

    account_id = created[0]["id"]
    updated = sf.restful(
        "composite/sobjects",
        method="PATCH",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Account"}, "id": account_id, "Industry": "Retail"},
                {"attributes": {"type": "Account"}, "id": account_id, "Industry": "Mining"},
            ],
        },
    )
    assert updated[0] == {
        "id": account_id,
        "success": False,
        "errors": [
            {
                "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "message": "Record rolled back because not all records were valid and the request was using "
                "AllOrNone header",
                "fields": [],
            }
        ],
    }
    assert updated[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sf.Account.get(account_id)["Industry"] is None  # rolled back

    all_or_none_create = sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "Three"},
                {"attributes": {"type": "Account"}},
            ],
        },
    )
    assert all_or_none_create[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert sf.query("SELECT COUNT() FROM Account WHERE Name = 'Three'")["totalSize"] == 0

    upserted = sf.restful(
        "composite/sobjects/Account/NetSuite_Internal_ID__c",
        method="PATCH",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "NetSuite_Internal_ID__c": "C-1", "Name": "Ext"},
                {"attributes": {"type": "Account"}, "NetSuite_Internal_ID__c": "C-1", "Name": "Ext again"},
            ],
        },
    )
    assert [(r["success"], r["created"]) for r in upserted] == [(True, True), (True, False)]
    assert upserted[0]["id"] == upserted[1]["id"]

    deleted = sf.restful(
        "composite/sobjects",
        method="DELETE",
        params={"ids": f"{account_id},001000000000zzzAAA", "allOrNone": "false"},
    )
    assert deleted[0] == {"id": account_id, "success": True, "errors": []}
    assert deleted[1]["success"] is False

    fetched = sf.restful("composite/sobjects/Account", params={"ids": upserted[0]["id"], "fields": "Name"})
    assert fetched[0]["Name"] == "Ext again"


# ---- limits and the request log ----------------------------------------------------------------------


def test_daily_limit_counts_every_call_and_then_refuses(sf_sandbox: SfSandbox, sf: SalesforceClient) -> None:
    with sf_sandbox.admin() as admin:
        admin.put("/__admin/limits", json={"daily_api_requests": 5, "used": 0})
    sf.query("SELECT Id FROM Account")
    assert sf.api_usage["api-usage"].used == 1 and sf.api_usage["api-usage"].total == 5
    with pytest.raises(SalesforceMalformedRequest):
        sf.query("SELECT Nope FROM Account")  # failing calls count too
    limits = sf.restful("limits/")
    assert limits["DailyApiRequests"] == {"Max": 5, "Remaining": 2}
    sf.query("SELECT Id FROM Account")
    sf.query("SELECT Id FROM Account")
    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.query("SELECT Id FROM Account")
    assert body(refused) == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    with sf_sandbox.http() as http:
        raw = http.get("/services/data/v59.0/limits", headers={"Authorization": f"Bearer {sf.session_id}"})
    assert raw.status_code == 403 and raw.headers["Sforce-Limit-Info"] == "api-usage=5/5"
    with sf_sandbox.admin() as admin:
        assert admin.get("/__admin/stats").json()["api_usage"] == {"used": 5, "max": 5}


def test_request_log_counts_writes_per_object(sf_sandbox: SfSandbox, sf: SalesforceClient) -> None:
    opp = sf.Opportunity.create({"Name": "D", "StageName": "Prospecting", "CloseDate": "2026-01-05"})["id"]
    sf.Opportunity.update(opp, {"StageName": "Qualification"})
    sf.Opportunity.update(opp, {"StageName": "Negotiation/Review"})
    sf.Account.create({"Name": "A"})
    with sf_sandbox.admin() as admin:
        counts = admin.get("/__admin/requests").json()["counts"]
        stats = admin.get("/__admin/stats").json()
    assert counts["PATCH sobjects/Opportunity/{id}"] == 2
    assert counts["POST sobjects/Opportunity"] == 1
    assert counts["POST sobjects/Account"] == 1
    assert stats["counts"]["Opportunity"] == 1 and stats["counts"]["User"] == 1


# ---- outbound messages -------------------------------------------------------------------------------


@dataclass
class Receiver:
    server: BackgroundServer
    bodies: list[bytes]

    @property
    def url(self) -> str:
        return f"{self.server.base_url}/salesforce/outbound-message"


@pytest.fixture
def receiver(sf_sandbox: SfSandbox) -> Iterator[Receiver]:
    """A webhook that fails the first delivery with HTTP 500 and acknowledges the rest."""
    bodies: list[bytes] = []

    async def hook(request: Request) -> Response:
        bodies.append(await request.body())
        if len(bodies) == 1:
            return Response("temporarily broken", status_code=500)
        return Response(ACK, media_type="text/xml")

    app = Starlette(routes=[Route("/salesforce/outbound-message", hook, methods=["POST"])])
    server = BackgroundServer(app, "127.0.0.1", free_port(), sf_sandbox.cert).start()
    yield Receiver(server, bodies)
    server.stop()


def notifications_in(body: bytes) -> list[tuple[str, dict[str, str]]]:
    root = ElementTree.fromstring(body)
    out = []
    for notification in root.iter(f"{OUTBOUND_NS}Notification"):
        notification_id = notification.findtext(f"{OUTBOUND_NS}Id") or ""
        sobject = notification.find(f"{OUTBOUND_NS}sObject")
        assert sobject is not None
        out.append((notification_id, {child.tag.removeprefix(SF_NS): child.text or "" for child in sobject}))
    return out


def test_outbound_message_is_redelivered_until_acknowledged(
    sf_sandbox: SfSandbox, sf: SalesforceClient, receiver: Receiver
) -> None:
    fields = ["Id", "StageName", "IsWon", "AccountId", "Amount", "CurrencyIsoCode"]
    with sf_sandbox.admin() as admin:
        assert admin.put(
            "/__admin/outbound-messages", json={"endpoint_url": receiver.url, "fields": fields}
        ).is_success
    account = sf.Account.create({"Name": "Acme"})["id"]
    opp = sf.Opportunity.create(
        {
            "Name": "D",
            "AccountId": account,
            "StageName": "Negotiation/Review",
            "CloseDate": "2026-01-05",
            "Amount": 99,
        }
    )["id"]
    sf.Opportunity.update(opp, {"StageName": "Closed Won"})

    def delivered() -> dict[str, Any] | None:
        with sf_sandbox.admin() as admin:
            stats = admin.get("/__admin/outbound-messages").json()["stats"]
        return stats if stats["delivered"] == 1 else None

    stats = wait_for(delivered, what="the notification to be acknowledged")
    assert stats["pending"] == 0 and stats["attempts"] == 2 and "HTTP 500" in stats["last_error"]
    first, second = (notifications_in(b) for b in receiver.bodies)
    assert first == second  # same notification, same Id, on redelivery
    ((notification_id, sobject),) = first
    assert notification_id.startswith("04l") and len(notification_id) == 18
    assert sobject == {
        "Id": opp, "StageName": "Closed Won", "IsWon": "true", "AccountId": account, "Amount": "99.0",
        "CurrencyIsoCode": "USD",
    }  # fmt: skip
    root = ElementTree.fromstring(receiver.bodies[0])
    assert root.findtext(f".//{OUTBOUND_NS}OrganizationId") == sf_sandbox.settings.org_id
    assert root.findtext(f".//{OUTBOUND_NS}EnterpriseUrl") == (
        f"{sf_sandbox.base_url}/services/Soap/c/59.0/{sf_sandbox.settings.org_id[:15]}"
    )

    sf.Opportunity.update(opp, {"Description": "no IsWon change"})
    sf.Opportunity.update(opp, {"StageName": "Closed Lost"})  # un-won: notifies again
    wait_for(lambda: len(receiver.bodies) == 3, what="the second notification")
    ((again_id, again),) = notifications_in(receiver.bodies[2])
    assert again_id != notification_id and again["IsWon"] == "false"


def test_admin_load_and_rolled_back_writes_do_not_notify(
    sf_sandbox: SfSandbox, sf: SalesforceClient, receiver: Receiver
) -> None:
    with sf_sandbox.admin() as admin:
        admin.put("/__admin/outbound-messages", json={"endpoint_url": receiver.url, "fields": ["StageName"]})
    sf_sandbox.load({"Opportunity": [{"Name": "Won", "StageName": "Closed Won", "CloseDate": "2026-01-05"}]})
    sf.restful(
        "composite/sobjects",
        method="POST",
        json={
            "allOrNone": True,
            "records": [
                {
                    "attributes": {"type": "Opportunity"},
                    "Name": "W",
                    "StageName": "Closed Won",
                    "CloseDate": "2026-01-05",
                },
                {"attributes": {"type": "Opportunity"}, "Name": "broken"},
            ],
        },
    )
    with sf_sandbox.admin() as admin:
        stats = admin.get("/__admin/outbound-messages").json()["stats"]
    assert stats["pending"] == stats["delivered"] == 0
    assert receiver.bodies == []


# ---- persistence and the admin API -------------------------------------------------------------------


def test_restart_keeps_records_and_sessions(tmp_path: Path) -> None:
    sandbox = start_sandbox(tmp_path)
    sf = sandbox.client()
    account = sf.Account.create({"Name": "Durable"})["id"]
    sf.session.close()
    sandbox.server.stop()
    restarted = start_sandbox(tmp_path)
    try:
        session = requests.Session()
        session.verify, session.trust_env = restarted.ca, False
        session.headers["Connection"] = "close"
        again: SalesforceClient = Salesforce(
            instance_url=restarted.base_url, session_id=sf.session_id, session=session
        )
        assert again.Account.get(account)["Name"] == "Durable"
        assert again.query("SELECT Id FROM User")["totalSize"] == 1  # bootstrap did not duplicate the user
        session.close()
    finally:
        restarted.server.stop()


def test_admin_api_needs_the_admin_key_and_ignores_bearer_tokens(sf_sandbox: SfSandbox) -> None:
    token = sf_sandbox.token()["access_token"]
    with sf_sandbox.http() as http:
        assert http.post("/__admin/reset").status_code == 401
        assert http.get("/__admin/stats", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        assert http.get("/__admin/stats", headers={ADMIN_HEADER: "wrong"}).status_code == 401
        # ... and the admin key is no API credential.
        api = http.get("/services/data/v59.0/limits", headers={ADMIN_HEADER: sf_sandbox.settings.admin_key})
        assert api.status_code == 401


def test_admin_load_is_all_or_nothing_and_reports_the_failing_record(sf_sandbox: SfSandbox) -> None:
    with sf_sandbox.admin() as admin:
        response = admin.post(
            "/__admin/load",
            json={
                "records": {
                    "Account": [{"Name": "ok"}],
                    "Contact": [{"LastName": "ok"}, {"FirstName": "no last"}],
                }
            },
        )
        assert response.status_code == 400
        assert response.json() == [
            {
                "message": "Required fields are missing: [LastName]",
                "errorCode": "REQUIRED_FIELD_MISSING",
                "fields": ["LastName"],
                "sobject": "Contact",
                "index": 1,
            }
        ]
        assert admin.get("/__admin/stats").json()["counts"]["Account"] == 0
        # Bootstrap records survive a reset.
        admin.post("/__admin/reset")
    users = sf_sandbox.admin_records("User")
    assert [(u["Id"], u["Username"]) for u in users] == [(INTEGRATION_USER_ID, sf_sandbox.settings.username)]
    (book,) = sf_sandbox.admin_records("Pricebook2")
    assert book["IsStandard"] is True and book["IsActive"] is True


def test_describe(sf: SalesforceClient) -> None:
    everything = sf.describe()
    assert {"Account", "Opportunity", "OpportunityLineItem"} <= {o["name"] for o in everything["sobjects"]}
    opportunity = sf.Opportunity.describe()
    fields = {f["name"]: f for f in opportunity["fields"]}
    assert fields["IsWon"]["updateable"] is False and fields["IsWon"]["type"] == "boolean"
    assert fields["NetSuite_Sales_Order_ID__c"]["externalId"] is True
    assert fields["NetSuite_Sales_Order_ID__c"]["unique"] is True
    assert (
        fields["AccountId"]["referenceTo"] == ["Account"]
        and fields["AccountId"]["relationshipName"] == "Account"
    )
    assert "Closed Won" in [p["value"] for p in fields["StageName"]["picklistValues"]]
    assert fields["Name"]["nillable"] is False and fields["Description"]["nillable"] is True
    children = {c["relationshipName"]: c["childSObject"] for c in opportunity["childRelationships"]}
    assert children["OpportunityLineItems"] == "OpportunityLineItem"
    assert sf.Account.metadata()["objectDescribe"]["keyPrefix"] == "001"
