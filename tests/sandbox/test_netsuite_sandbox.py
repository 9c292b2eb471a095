"""The NetSuite sandbox over real HTTPS, driven by TBA-signed requests (oauthlib + httpx) as q2c sends them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from oauthlib import oauth1

from q2c_sandbox.common import ADMIN_HEADER
from q2c_sandbox.netsuite.app import NetSuiteSandboxSettings, create_app
from q2c_sandbox.server import BackgroundServer, free_port
from q2c_sandbox.tls import ServerCert, ensure_server_cert

RECORDS = "/services/rest/record/v1"
SUITEQL = "/services/rest/query/v1/suiteql"
ERROR_TYPE = "application/vnd.oracle.resource+json; type=error"

CURRENCIES = [
    {"id": "1", "name": "US Dollar", "symbol": "USD", "isBaseCurrency": True, "exchangeRate": 1.0},
    {"id": "2", "name": "Euro", "symbol": "EUR", "isBaseCurrency": False, "exchangeRate": 1.08},
]
SUBSIDIARIES = [
    {"id": "1", "name": "Q2C Inc. (US)", "currency": {"id": "1"}},
    {"id": "3", "name": "Q2C GmbH (DE)", "currency": {"id": "2"}},
]
ITEMS = [
    {"itemId": "WID-100", "displayName": "Widget Standard", "basePrice": 120.0, "description": "A widget"},
    {"itemId": "GW-X1", "displayName": "Gateway X1", "basePrice": 1250.0},
    {"itemId": "LEG-9", "displayName": "Legacy Widget", "basePrice": 80.0, "isInactive": True},
]


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        threading.Event().wait(0.01)


@dataclass
class NetSuiteSandboxUnderTest:
    settings: NetSuiteSandboxSettings
    server: BackgroundServer
    cert: ServerCert
    http: httpx.Client

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def signer(self, **overrides: Any) -> oauth1.Client:
        s = self.settings
        options: dict[str, Any] = {
            "client_secret": s.consumer_secret,
            "resource_owner_key": s.token_id,
            "resource_owner_secret": s.token_secret,
            "signature_method": oauth1.SIGNATURE_HMAC_SHA256,
            "realm": s.account_id,
        }
        options.update(overrides)
        return oauth1.Client(options.pop("client_key", s.consumer_key), **options)

    def signed(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        signer: oauth1.Client | None = None,
    ) -> tuple[str, dict[str, str], str | None]:
        url = self.base_url + path + ("?" + urlencode(params) if params else "")
        content = json.dumps(body) if body is not None else None
        send = {"Accept": "application/json", **(headers or {})}
        if content is not None:
            send["Content-Type"] = "application/json"
        _, signed_headers, _ = (signer or self.signer()).sign(url, method, content, send)
        return url, signed_headers, content

    def call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        url, headers, content = self.signed(method, path, **kw)
        return self.http.request(method, url, content=content, headers=headers)

    def create(self, record_type: str, body: dict[str, Any]) -> str:
        response = self.call("POST", f"{RECORDS}/{record_type}", body=body)
        assert response.status_code == 204, response.text
        return response.headers["Location"].rsplit("/", 1)[-1]

    def get(self, record_type: str, record_id: str, **params: str) -> dict[str, Any]:
        response = self.call("GET", f"{RECORDS}/{record_type}/{record_id}", params=params or None)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def suiteql(self, query: str, **params: Any) -> httpx.Response:
        return self.call(
            "POST",
            SUITEQL,
            body={"q": query},
            params=params or {"limit": 1000, "offset": 0},
            headers={"Prefer": "transient"},
        )

    def admin(self, method: str, path: str, body: Any = None) -> httpx.Response:
        return self.http.request(
            method,
            f"{self.base_url}/__admin{path}",
            json=body,
            headers={ADMIN_HEADER: self.settings.admin_key},
        )

    def load(self, records: dict[str, list[dict[str, Any]]]) -> dict[str, list[str]]:
        response = self.admin("POST", "/load", {"records": records})
        assert response.status_code == 200, response.text
        ids: dict[str, list[str]] = response.json()["ids"]
        return ids


def _start(settings: NetSuiteSandboxSettings, cert: ServerCert) -> BackgroundServer:
    return BackgroundServer(create_app(settings), "127.0.0.1", free_port(), cert).start()


@pytest.fixture
def netsuite_settings(tmp_path: Path) -> NetSuiteSandboxSettings:
    return NetSuiteSandboxSettings(db_path=tmp_path / "netsuite.db")


@pytest.fixture
def netsuite(
    tmp_path: Path, netsuite_settings: NetSuiteSandboxSettings
) -> Iterator[NetSuiteSandboxUnderTest]:
    cert = ensure_server_cert(tmp_path / "tls")
    server = _start(netsuite_settings, cert)
    http = httpx.Client(verify=str(cert.ca_path), timeout=30)
    try:
        yield NetSuiteSandboxUnderTest(netsuite_settings, server, cert, http)
    finally:
        http.close()
        server.stop()


@dataclass
class Catalog:
    items: dict[str, str]  # itemId -> internal id
    customer: str  # a USD customer of subsidiary 1


@pytest.fixture
def netsuite_catalog(netsuite: NetSuiteSandboxUnderTest) -> Catalog:
    ids = netsuite.load(
        {
            "currency": CURRENCIES,
            "subsidiary": SUBSIDIARIES,
            "inventoryItem": ITEMS,
            "customer": [
                {"companyName": "Globex Corporation", "subsidiary": {"id": "1"}, "email": "ap@globex.example"}
            ],
        }
    )
    items = dict(zip([str(i["itemId"]) for i in ITEMS], ids["inventoryItem"], strict=True))
    return Catalog(items, ids["customer"][0])


def order_body(catalog: Catalog, **extra: Any) -> dict[str, Any]:
    return {
        "entity": {"id": catalog.customer},
        "tranDate": "2026-01-05",
        "externalId": "006-OPP-1",
        "otherRefNum": "PO-77",
        "memo": "from Salesforce",
        "custbody_sf_opportunity": "006xx0000001",
        "item": {
            "items": [
                {"item": {"id": catalog.items["WID-100"]}, "quantity": 5, "rate": 100.0},
                {"item": {"id": catalog.items["GW-X1"]}, "quantity": 1},
            ]
        },
        **extra,
    }


def assert_error(response: httpx.Response, status: int, code: str, path: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == ERROR_TYPE
    body = response.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    [detail] = body["o:errorDetails"]
    assert detail["o:errorCode"] == code, detail
    if path is not None:
        assert detail.get("o:errorPath") == path, detail
    result: dict[str, Any] = detail
    return result


# -- Token-Based Authentication ---------------------------------------------------------------------


def test_a_correctly_signed_request_is_accepted(netsuite: NetSuiteSandboxUnderTest) -> None:
    response = netsuite.call("GET", f"{RECORDS}/customer", params={"limit": 10})
    assert response.status_code == 200, response.text
    assert response.json()["totalResults"] == 0


def test_the_netsuite_login_error_has_netsuites_wording(netsuite: NetSuiteSandboxUnderTest) -> None:
    response = netsuite.http.get(f"{netsuite.base_url}{RECORDS}/customer")
    detail = assert_error(response, 401, "INVALID_LOGIN")
    assert detail["detail"].startswith("Invalid login attempt. For more details, see the Login Audit Trail")
    assert response.json()["title"] == "Unauthorized"


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_secret": "wrong-secret"},
        {"resource_owner_secret": "wrong-token-secret"},
        {"realm": "1234567_sb1"},  # the realm is case-sensitive: NetSuite wants 1234567_SB1
        {"client_key": "someone-else"},
        {"signature_method": oauth1.SIGNATURE_HMAC_SHA1},
    ],
    ids=["consumer-secret", "token-secret", "realm", "consumer-key", "hmac-sha1"],
)
def test_wrong_credentials_are_refused(netsuite: NetSuiteSandboxUnderTest, overrides: dict[str, Any]) -> None:
    response = netsuite.call("GET", f"{RECORDS}/customer", signer=netsuite.signer(**overrides))
    assert_error(response, 401, "INVALID_LOGIN")


def test_a_query_parameter_changed_after_signing_is_refused(netsuite: NetSuiteSandboxUnderTest) -> None:
    url, headers, _ = netsuite.signed("GET", f"{RECORDS}/customer", params={"limit": 5})
    response = netsuite.http.get(url.replace("limit=5", "limit=6"), headers=headers)
    assert_error(response, 401, "INVALID_LOGIN")


def test_a_body_changed_after_signing_is_refused_through_its_body_hash(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    url, headers, content = netsuite.signed(
        "POST", f"{RECORDS}/customer", body={"companyName": "A", "subsidiary": {"id": "1"}}
    )
    assert "oauth_body_hash" in headers["Authorization"]
    assert content is not None
    tampered = content.replace('"A"', '"B"')
    response = netsuite.http.post(url, content=tampered, headers=headers)
    assert_error(response, 401, "INVALID_LOGIN")
    audit = netsuite.admin("GET", "/login-audit").json()["failures"]
    assert "oauth_body_hash" in audit[-1]["reason"]
    # The untampered body, signed afresh, goes through.
    assert (
        netsuite.call(
            "POST", f"{RECORDS}/customer", body={"companyName": "A", "subsidiary": {"id": "1"}}
        ).status_code
        == 204
    )


def test_a_stale_timestamp_is_refused(netsuite: NetSuiteSandboxUnderTest) -> None:
    stale = str(int(time.time()) - netsuite.settings.timestamp_tolerance_seconds - 60)
    response = netsuite.call("GET", f"{RECORDS}/customer", signer=netsuite.signer(timestamp=stale))
    assert_error(response, 401, "INVALID_LOGIN")


def test_a_reused_nonce_is_refused(netsuite: NetSuiteSandboxUnderTest) -> None:
    first = netsuite.call("GET", f"{RECORDS}/customer", signer=netsuite.signer(nonce="n-123"))
    assert first.status_code == 200, first.text
    replay = netsuite.call("GET", f"{RECORDS}/customer", signer=netsuite.signer(nonce="n-123"))
    assert_error(replay, 401, "INVALID_LOGIN")


def test_the_admin_key_is_not_an_api_credential(netsuite: NetSuiteSandboxUnderTest) -> None:
    response = netsuite.http.get(
        f"{netsuite.base_url}{RECORDS}/customer", headers={ADMIN_HEADER: netsuite.settings.admin_key}
    )
    assert_error(response, 401, "INVALID_LOGIN")


def test_the_admin_api_refuses_a_missing_key_and_tba_credentials(netsuite: NetSuiteSandboxUnderTest) -> None:
    assert netsuite.http.get(f"{netsuite.base_url}/__admin/stats").status_code == 401
    url, headers, _ = netsuite.signed("GET", "/__admin/stats")
    assert netsuite.http.get(url, headers=headers).status_code == 401
    assert netsuite.admin("GET", "/stats").status_code == 200


# -- record API ------------------------------------------------------------------------------------


def test_create_answers_204_with_the_location_of_the_new_record(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    response = netsuite.call(
        "POST",
        f"{RECORDS}/customer",
        body={"companyName": "Acme", "subsidiary": {"id": "1"}, "custentity_tier": "gold"},
    )
    assert response.status_code == 204, response.text
    assert response.content == b""
    location = response.headers["Location"]
    assert location.startswith(f"{netsuite.base_url}{RECORDS}/customer/")
    new_id = location.rsplit("/", 1)[-1]
    assert new_id.isdigit() and int(new_id) > int(netsuite_catalog.customer)

    customer = netsuite.get("customer", new_id)
    assert customer["id"] == new_id
    assert customer["entityId"] == f"CUST{new_id}"
    assert customer["companyName"] == "Acme"
    assert customer["custentity_tier"] == "gold"
    assert customer["subsidiary"]["id"] == "1" and customer["subsidiary"]["refName"] == "Q2C Inc. (US)"
    assert customer["currency"]["id"] == "1"  # from the subsidiary
    assert customer["creditHoldOverride"] == {"id": "AUTO", "refName": "Auto"}
    assert customer["balance"] == 0 and customer["daysOverdue"] == 0
    assert customer["links"] == [{"rel": "self", "href": location}]
    assert customer["lastModifiedDate"].endswith("Z")


def test_a_sales_order_reads_back_with_references_totals_and_sublists(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    order_id = netsuite.create("salesOrder", order_body(netsuite_catalog))

    order = netsuite.get("salesOrder", order_id)
    assert order["entity"]["id"] == netsuite_catalog.customer
    assert order["entity"]["refName"] == f"CUST{netsuite_catalog.customer} Globex Corporation"
    assert order["entity"]["links"][0]["href"].endswith(f"/customer/{netsuite_catalog.customer}")
    assert order["subsidiary"]["id"] == "1" and order["currency"]["refName"] == "US Dollar"
    assert order["tranId"] == "SO1001"
    assert order["tranDate"] == "2026-01-05"
    assert order["status"] == {"id": "B", "refName": "Pending Fulfillment"}
    assert order["subtotal"] == 1750 and order["total"] == 1750  # 5 x 100 + 1 x 1250 (base price)
    assert order["custbody_sf_opportunity"] == "006xx0000001"
    item_href = f"{netsuite.base_url}{RECORDS}/salesOrder/{order_id}/item"
    assert order["item"] == {"links": [{"rel": "self", "href": item_href}]}

    expanded = netsuite.get("salesOrder", order_id, expandSubResources="true")
    lines = expanded["item"]["items"]
    assert expanded["item"]["totalResults"] == 2 and expanded["item"]["hasMore"] is False
    assert [line["line"] for line in lines] == [1, 2]
    assert lines[0]["item"]["refName"] == "WID-100" and lines[0]["amount"] == 500
    assert lines[0]["description"] == "A widget"
    assert lines[1]["rate"] == 1250 and lines[1]["quantity"] == 1

    sublist = netsuite.call("GET", f"{RECORDS}/salesOrder/{order_id}/item")
    assert sublist.status_code == 200 and sublist.json()["count"] == 2

    only = netsuite.get("salesOrder", order_id, fields="tranId,total")
    assert set(only) == {"links", "id", "tranId", "total"}

    second = netsuite.create("salesOrder", order_body(netsuite_catalog, externalId="006-OPP-2"))
    assert netsuite.get("salesOrder", second)["tranId"] == "SO1002"


def test_upsert_by_external_id_creates_then_updates_the_same_record(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    body = order_body(netsuite_catalog)
    del body["externalId"]
    first = netsuite.call("PUT", f"{RECORDS}/salesOrder/eid:006-OPP-9", body=body)
    assert first.status_code == 204, first.text
    order_id = first.headers["Location"].rsplit("/", 1)[-1]

    second = netsuite.call("PUT", f"{RECORDS}/salesOrder/eid:006-OPP-9", body={**body, "memo": "again"})
    assert second.status_code == 204, second.text
    assert second.headers["Location"].rsplit("/", 1)[-1] == order_id

    orders = netsuite.admin("GET", "/records/salesOrder").json()
    assert len(orders) == 1
    assert orders[0]["externalId"] == "006-OPP-9" and orders[0]["memo"] == "again"
    assert netsuite.get("salesOrder", "eid:006-OPP-9")["id"] == order_id

    log = netsuite.admin("GET", "/requests").json()
    assert log["counts"]["PUT salesOrder/eid:{externalId}"] == 2
    assert log["counts"]["GET salesOrder/eid:{externalId}"] == 1


def test_references_by_external_id_and_contacts(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    customer = netsuite.call(
        "PUT", f"{RECORDS}/customer/eid:001-ACME", body={"companyName": "Acme", "subsidiary": {"id": "3"}}
    )
    assert customer.status_code == 204, customer.text
    customer_id = customer.headers["Location"].rsplit("/", 1)[-1]
    body = order_body(netsuite_catalog, entity={"externalId": "001-ACME"})
    order_id = netsuite.create("salesOrder", body)
    order = netsuite.get("salesOrder", order_id)
    assert order["entity"]["id"] == customer_id
    assert order["subsidiary"]["id"] == "3" and order["currency"]["refName"] == "Euro"  # from the customer

    contact_id = netsuite.create(
        "contact", {"firstName": "Ann", "lastName": "Lee", "company": {"id": customer_id}}
    )
    contact = netsuite.get("contact", contact_id)
    assert contact["entityId"] == "Ann Lee" and contact["subsidiary"]["id"] == "3"
    assert contact["company"]["refName"] == f"CUST{customer_id} Acme"

    missing = netsuite.call(
        "POST", f"{RECORDS}/salesOrder", body=order_body(netsuite_catalog, entity={"externalId": "nope"})
    )
    assert_error(missing, 400, "INVALID_CONTENT", "entity")
    assert_error(netsuite.call("DELETE", f"{RECORDS}/salesOrder"), 405, "METHOD_NOT_ALLOWED")
    assert_error(netsuite.call("GET", f"{RECORDS}/opportunity/1"), 404, "NONEXISTENT_ID")


def test_an_upsert_whose_body_names_another_external_id_is_refused(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    response = netsuite.call(
        "PUT", f"{RECORDS}/salesOrder/eid:A-1", body=order_body(netsuite_catalog, externalId="B-2")
    )
    assert_error(response, 400, "INVALID_CONTENT", "externalId")


def test_patch_merges_lines_and_replace_swaps_the_sublist(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    order_id = netsuite.create("salesOrder", order_body(netsuite_catalog))
    path = f"{RECORDS}/salesOrder/{order_id}"

    patched = netsuite.call(
        "PATCH",
        path,
        body={
            "memo": "changed",
            "item": {
                "items": [
                    {"line": 1, "quantity": 10},
                    {"item": {"id": netsuite_catalog.items["WID-100"]}, "rate": 1.5},
                ]
            },
        },
    )
    assert patched.status_code == 204, patched.text
    order = netsuite.get("salesOrder", order_id, expandSubResources="true")
    assert order["memo"] == "changed"
    assert [(line["line"], line["amount"]) for line in order["item"]["items"]] == [
        (1, 1000),
        (2, 1250),
        (3, 1.5),
    ]
    assert order["total"] == 2251.5

    replaced = netsuite.call(
        "PATCH",
        path,
        params={"replace": "item"},
        body={"item": {"items": [{"item": {"id": netsuite_catalog.items["GW-X1"]}, "quantity": 2}]}},
    )
    assert replaced.status_code == 204, replaced.text
    order = netsuite.get("salesOrder", order_id, expandSubResources="true")
    assert [(line["item"]["id"], line["amount"]) for line in order["item"]["items"]] == [
        (netsuite_catalog.items["GW-X1"], 2500)
    ]
    assert order["total"] == 2500


def test_a_deleted_record_is_gone(netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog) -> None:
    order_id = netsuite.create("salesOrder", order_body(netsuite_catalog))
    assert netsuite.call("DELETE", f"{RECORDS}/salesOrder/{order_id}").status_code == 204
    detail = assert_error(netsuite.call("GET", f"{RECORDS}/salesOrder/{order_id}"), 404, "NONEXISTENT_ID")
    assert detail["detail"] == "The record instance does not exist. Provide a valid record instance ID."
    assert_error(netsuite.call("GET", f"{RECORDS}/salesOrder/abc"), 400, "INVALID_ID")
    # A customer with orders cannot be deleted.
    netsuite.create("salesOrder", order_body(netsuite_catalog))
    assert_error(
        netsuite.call("DELETE", f"{RECORDS}/customer/{netsuite_catalog.customer}"), 400, "USER_ERROR"
    )


def test_unknown_fields_and_bad_values_are_invalid_content_with_their_path(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    detail = assert_error(
        netsuite.call("POST", f"{RECORDS}/salesOrder", body=order_body(netsuite_catalog, shipVia="UPS")),
        400,
        "INVALID_CONTENT",
        "shipVia",
    )
    assert "shipVia" in detail["detail"] and "salesOrder" in detail["detail"]

    body = order_body(netsuite_catalog)
    body["item"]["items"][1]["colour"] = "red"
    assert_error(
        netsuite.call("POST", f"{RECORDS}/salesOrder", body=body),
        400,
        "INVALID_CONTENT",
        "item.items[1].colour",
    )

    body = order_body(netsuite_catalog)
    body["item"]["items"][0]["item"] = {"id": "9999"}
    detail = assert_error(
        netsuite.call("POST", f"{RECORDS}/salesOrder", body=body),
        400,
        "INVALID_CONTENT",
        "item.items[0].item",
    )
    assert "9999" in detail["detail"]

    assert_error(
        netsuite.call(
            "POST",
            f"{RECORDS}/customer",
            body={"companyName": "X", "subsidiary": {"id": "1"}, "creditLimit": "lots"},
        ),
        400,
        "INVALID_CONTENT",
        "creditLimit",
    )
    # The unknown field is dropped when the client asks NetSuite to ignore unknown names.
    ignored = netsuite.call(
        "POST",
        f"{RECORDS}/salesOrder",
        body=order_body(netsuite_catalog, shipVia="UPS"),
        headers={"X-NetSuite-PropertyNameValidation": "Ignore"},
    )
    assert ignored.status_code == 204, ignored.text
    assert netsuite.admin("GET", "/stats").json()["counts"]["salesOrder"] == 1


def test_business_rules_are_user_errors(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    body = order_body(netsuite_catalog)
    body["item"]["items"].append({"item": {"id": netsuite_catalog.items["LEG-9"]}, "quantity": 1})
    detail = assert_error(
        netsuite.call("POST", f"{RECORDS}/salesOrder", body=body), 400, "USER_ERROR", "item.items[2].item"
    )
    assert "LEG-9" in detail["detail"] and "inactive" in detail["detail"]

    detail = assert_error(
        netsuite.call(
            "POST", f"{RECORDS}/salesOrder", body=order_body(netsuite_catalog, subsidiary={"id": "3"})
        ),
        400,
        "USER_ERROR",
        "subsidiary",
    )
    assert "subsidiary" in detail["detail"]
    assert_error(
        netsuite.call(
            "POST", f"{RECORDS}/salesOrder", body=order_body(netsuite_catalog, currency={"id": "2"})
        ),
        400,
        "USER_ERROR",
        "currency",
    )
    assert_error(
        netsuite.call("POST", f"{RECORDS}/salesOrder", body=order_body(netsuite_catalog, item={"items": []})),
        400,
        "USER_ERROR",
        "item",
    )
    detail = assert_error(
        netsuite.call("POST", f"{RECORDS}/customer", body={"subsidiary": {"id": "1"}}),
        400,
        "USER_ERROR",
        "companyName",
    )
    assert "companyName" in detail["detail"]
    assert netsuite.admin("GET", "/stats").json()["counts"]["salesOrder"] == 0


def test_lists_page_through_ids(netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog) -> None:
    for n in range(4):
        netsuite.create("customer", {"companyName": f"C{n}", "subsidiary": {"id": "1"}})
    first = netsuite.call("GET", f"{RECORDS}/customer", params={"limit": 2, "offset": 0}).json()
    assert first["totalResults"] == 5 and first["count"] == 2 and first["hasMore"] is True
    assert set(first["items"][0]) == {"id", "links"}
    rels = {link["rel"]: link["href"] for link in first["links"]}
    assert rels["next"].endswith("limit=2&offset=2")
    last = netsuite.call("GET", f"{RECORDS}/customer", params={"limit": 2, "offset": 4}).json()
    assert last["count"] == 1 and last["hasMore"] is False
    ids = [i["id"] for i in first["items"]] + [i["id"] for i in last["items"]]
    assert ids == sorted(ids, key=int)
    assert_error(
        netsuite.call("GET", f"{RECORDS}/customer", params={"limit": 1001}), 400, "INVALID_PARAMETER"
    )


def test_a_sales_order_becomes_an_invoice_that_a_payment_settles(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog
) -> None:
    order_id = netsuite.create("salesOrder", order_body(netsuite_catalog))
    response = netsuite.call(
        "POST", f"{RECORDS}/salesOrder/{order_id}/!transform/invoice", body={"tranDate": "2026-01-05"}
    )
    assert response.status_code == 204, response.text
    invoice_id = response.headers["Location"].rsplit("/", 1)[-1]
    invoice = netsuite.get("invoice", invoice_id, expandSubResources="true")
    assert (
        invoice["createdFrom"]["id"] == order_id
        and invoice["createdFrom"]["refName"] == "Sales Order #SO1001"
    )
    assert invoice["tranId"] == "INV1001" and invoice["total"] == 1750 and invoice["amountRemaining"] == 1750
    assert invoice["status"]["refName"] == "Open"
    assert invoice["dueDate"] == "2026-02-04"  # Net 30
    assert len(invoice["item"]["items"]) == 2
    assert netsuite.get("customer", netsuite_catalog.customer)["balance"] == 1750
    again = netsuite.call("POST", f"{RECORDS}/salesOrder/{order_id}/!transform/invoice", body={})
    assert_error(again, 400, "USER_ERROR")

    netsuite.create(
        "customerPayment",
        {
            "customer": {"id": netsuite_catalog.customer},
            "payment": 1750,
            "apply": {"items": [{"doc": {"id": invoice_id}, "apply": True, "amount": 1750}]},
        },
    )
    paid = netsuite.get("invoice", invoice_id)
    assert paid["amountRemaining"] == 0 and paid["status"] == {"id": "B", "refName": "Paid In Full"}
    assert netsuite.get("customer", netsuite_catalog.customer)["balance"] == 0


# -- SuiteQL ---------------------------------------------------------------------------------------


def test_suiteql_answers_like_netsuite(netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog) -> None:
    order_id = netsuite.create("salesOrder", order_body(netsuite_catalog))

    response = netsuite.suiteql(
        "SELECT id, entityid, companyname, isinactive, email FROM customer WHERE companyname = 'Globex Corporation'"
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["count"] == 1 and result["totalResults"] == 1 and result["hasMore"] is False
    [row] = result["items"]
    assert row == {
        "links": [],
        "id": netsuite_catalog.customer,
        "entityid": f"CUST{netsuite_catalog.customer}",
        "companyname": "Globex Corporation",
        "isinactive": "F",
        "email": "ap@globex.example",
    }

    orders = netsuite.suiteql(
        "SELECT t.ID, t.TranID, t.ForeignTotal, t.TranDate, TO_CHAR(t.lastmodifieddate, 'YYYY-MM-DD') AS modified "
        "FROM transaction t WHERE t.type = 'SalesOrd' AND t.externalid = '006-OPP-1' "
        "AND t.lastmodifieddate >= TO_DATE('2020-01-01', 'YYYY-MM-DD')"
    ).json()
    [order] = orders["items"]
    assert order["id"] == order_id and order["tranid"] == "SO1001" and order["foreigntotal"] == "1750"
    assert order["trandate"] == "1/5/2026"  # the account's date format
    assert len(order["modified"]) == 10

    lines = netsuite.suiteql(
        "SELECT tl.item, tl.quantity FROM transactionline tl JOIN transaction t ON tl.transaction = t.id "
        f"WHERE t.id = {order_id} ORDER BY tl.linesequencenumber"
    ).json()
    assert [row["item"] for row in lines["items"]] == [
        netsuite_catalog.items["WID-100"],
        netsuite_catalog.items["GW-X1"],
    ]

    paged = netsuite.suiteql("SELECT id FROM item ORDER BY id", limit=2, offset=0).json()
    assert paged["count"] == 2 and paged["hasMore"] is True and paged["totalResults"] == 3
    assert netsuite.admin("GET", "/requests").json()["counts"]["POST suiteql"] == 4


def test_suiteql_errors_name_the_problem(netsuite: NetSuiteSandboxUnderTest) -> None:
    detail = assert_error(netsuite.suiteql("SELECT id FROM opportunityx"), 400, "INVALID_PARAMETER")
    assert "opportunityx" in detail["detail"]
    detail = assert_error(netsuite.suiteql("SELECT nosuchcolumn FROM customer"), 400, "INVALID_PARAMETER")
    assert "nosuchcolumn" in detail["detail"]
    assert_error(netsuite.suiteql("DELETE FROM customer"), 400, "INVALID_PARAMETER")
    assert_error(netsuite.suiteql("SELEC id FROM customer"), 400, "INVALID_PARAMETER")
    without_prefer = netsuite.call(
        "POST", SUITEQL, body={"q": "SELECT id FROM customer"}, params={"limit": 10}
    )
    assert without_prefer.status_code == 400
    assert without_prefer.json()["o:errorDetails"][0]["o:errorHeader"] == "Prefer"


# -- concurrency, persistence, admin ----------------------------------------------------------------


def test_requests_over_the_concurrency_limit_are_refused_at_once(netsuite: NetSuiteSandboxUnderTest) -> None:
    assert netsuite.admin("PUT", "/concurrency", {"limit": 2}).status_code == 200
    assert netsuite.admin("PUT", "/latency", {"seconds": 1.5}).status_code == 200
    start = threading.Barrier(5)

    def one(_: int) -> tuple[int, float]:
        url, headers, _content = netsuite.signed("GET", f"{RECORDS}/customer")
        start.wait()
        began = time.monotonic()
        response = netsuite.http.get(url, headers=headers)
        return response.status_code, time.monotonic() - began

    with ThreadPoolExecutor(5) as pool:
        results = list(pool.map(one, range(5)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 200, 429, 429, 429]
    assert all(elapsed < 1.0 for status, elapsed in results if status == 429)  # refused, not queued
    wait_for(lambda: netsuite.admin("GET", "/stats").json()["in_flight"] == 0)
    stats = netsuite.admin("GET", "/stats").json()
    assert stats["concurrency_limit"] == 2
    log = netsuite.admin("GET", "/requests").json()
    assert log["counts"]["GET customer"] == 5


def test_a_429_body_is_netsuites(netsuite: NetSuiteSandboxUnderTest) -> None:
    netsuite.admin("PUT", "/concurrency", {"limit": 0})
    detail = assert_error(netsuite.call("GET", f"{RECORDS}/customer"), 429, "CONCURRENCY_LIMIT_EXCEEDED")
    assert detail["detail"] == "Concurrent request limit exceeded. Request blocked."


def test_data_survives_a_restart(tmp_path: Path, netsuite_settings: NetSuiteSandboxSettings) -> None:
    cert = ensure_server_cert(tmp_path / "tls")

    def run(phase: Callable[[NetSuiteSandboxUnderTest], Any]) -> Any:
        # A fresh connection per server: an idle keep-alive connection would hold up the server's shutdown.
        server = _start(netsuite_settings, cert)
        try:
            with httpx.Client(verify=str(cert.ca_path)) as http:
                return phase(NetSuiteSandboxUnderTest(netsuite_settings, server, cert, http))
        finally:
            server.stop()

    def before(sandbox: NetSuiteSandboxUnderTest) -> str:
        sandbox.load({"currency": CURRENCIES, "subsidiary": SUBSIDIARIES})
        return sandbox.create("customer", {"companyName": "Persistent", "subsidiary": {"id": "1"}})

    def after(sandbox: NetSuiteSandboxUnderTest) -> None:
        assert sandbox.get("customer", customer_id)["companyName"] == "Persistent"
        assert int(sandbox.create("customer", {"companyName": "Next", "subsidiary": {"id": "1"}})) > int(
            customer_id
        )

    customer_id = run(before)
    run(after)


def test_admin_load_is_all_or_nothing_and_reset_wipes(netsuite: NetSuiteSandboxUnderTest) -> None:
    response = netsuite.admin(
        "POST",
        "/load",
        {
            "records": {
                "currency": CURRENCIES,
                "subsidiary": SUBSIDIARIES,
                "customer": [{"companyName": "No subsidiary"}],
            }
        },
    )
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "customer" and body["index"] == 0 and "subsidiary" in body["message"]
    assert netsuite.admin("GET", "/stats").json()["counts"]["currency"] == 0

    ids = netsuite.load({"currency": CURRENCIES, "subsidiary": SUBSIDIARIES})
    assert ids == {"currency": ["1", "2"], "subsidiary": ["1", "3"]}
    assert netsuite.create("subsidiary", {"name": "Next", "currency": {"id": "1"}}) == "4"
    records = netsuite.admin("GET", "/records/subsidiary").json()
    assert [r["name"] for r in records] == ["Q2C Inc. (US)", "Q2C GmbH (DE)", "Next"]

    assert netsuite.admin("POST", "/reset").json() == {"ok": True}
    assert set(netsuite.admin("GET", "/stats").json()["counts"].values()) == {0}
    assert netsuite.admin("GET", "/requests").json()["total"] == 0


def test_the_netsuite_package_can_talk_to_the_sandbox(
    netsuite: NetSuiteSandboxUnderTest, netsuite_catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    netsuite_pkg = pytest.importorskip("netsuite")
    import asyncio

    monkeypatch.setenv("SSL_CERT_FILE", str(netsuite.cert.ca_path))
    s = netsuite.settings
    config = netsuite_pkg.Config(
        account=s.account_id,
        auth=netsuite_pkg.TokenAuth(
            consumer_key=s.consumer_key,
            consumer_secret=s.consumer_secret,
            token_id=s.token_id,
            token_secret=s.token_secret,
        ),
    )
    api = netsuite_pkg.NetSuiteRestApi(config)
    customer = asyncio.run(
        api.get("", url=f"{netsuite.base_url}{RECORDS}/customer/{netsuite_catalog.customer}")
    )
    assert customer["companyName"] == "Globex Corporation"
    rows = asyncio.run(api.suiteql("SELECT id FROM customer", url=f"{netsuite.base_url}{SUITEQL}"))
    assert rows["count"] == 1
