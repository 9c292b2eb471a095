"""The connectors against the sandboxes: session renewal, error classification, no secrets leaking."""

from __future__ import annotations

import json

import pytest
from temporalio.client import Client

from q2c.config import Settings
from q2c.connectors.errors import ApiError, ErrorKind
from q2c.domain.messages import DealClosed
from temporal_client.orders import ORDER_CREATED, deal_closed, wait_until_settled
from tests.conftest import Sandboxes
from tests.factories import Catalog, make_deal
from worker import netsuite_client, salesforce_client
from workflows import names

SECRETS = (
    "q2c-sandbox-secret",
    "q2c-sandbox-password",
    "q2c-sandbox-consumer-secret",
    "q2c-sandbox-token-secret",
)


def test_an_expired_salesforce_session_is_renewed_once(
    settings: Settings, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog)
    salesforce = salesforce_client(settings)
    assert salesforce.get_opportunity(deal.opportunity_id) is not None

    sandboxes.sf_admin._call("POST", "/expire-sessions")

    opportunity = salesforce.get_opportunity(deal.opportunity_id)
    assert opportunity is not None and opportunity.account is not None
    assert [line.product.code for line in opportunity.lines if line.product] == ["WID-100", "GW-X1"]


def test_bad_salesforce_credentials_are_an_auth_error_without_the_password(settings: Settings) -> None:
    wrong = settings.model_copy(
        update={"salesforce_password": type(settings.salesforce_password)("not-it-42")}
    )
    with pytest.raises(ApiError) as caught:
        salesforce_client(wrong).get_opportunity("006000000000001AAA")
    assert caught.value.kind is ErrorKind.AUTH and caught.value.code == "invalid_grant"
    assert "not-it-42" not in str(caught.value)


def test_a_salesforce_validation_error_is_permanent_and_names_the_field(
    settings: Settings, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog)
    with pytest.raises(ApiError) as caught:
        salesforce_client(settings).update(
            "Opportunity", deal.opportunity_id, {"Q2C_Sync_Status__c": "Bogus"}
        )
    assert caught.value.kind is ErrorKind.PERMANENT
    assert "Q2C_Sync_Status__c" in str(caught.value)


async def test_netsuite_errors_are_classified(settings: Settings, sandboxes: Sandboxes) -> None:
    netsuite = netsuite_client(settings)
    try:
        with pytest.raises(ApiError) as missing:
            await netsuite.get("salesOrder", "999999")
        assert missing.value.kind is ErrorKind.NOT_FOUND and missing.value.code == "NONEXISTENT_ID"

        sandboxes.ns_admin.put("/concurrency", {"limit": 0})
        with pytest.raises(ApiError) as busy:
            await netsuite.get("salesOrder", "1")
        assert busy.value.kind is ErrorKind.RETRYABLE and busy.value.code == "CONCURRENCY_LIMIT_EXCEEDED"
    finally:
        sandboxes.ns_admin.put("/concurrency", {"limit": sandboxes.netsuite_settings.concurrency_limit})
        await netsuite.aclose()

    wrong = settings.model_copy(
        update={"netsuite_token_secret": type(settings.netsuite_token_secret)("nope-77")}
    )
    netsuite = netsuite_client(wrong)
    try:
        with pytest.raises(ApiError) as refused:
            await netsuite.get("salesOrder", "1")
        assert refused.value.kind is ErrorKind.AUTH and refused.value.code == "INVALID_LOGIN"
        assert "nope-77" not in str(refused.value)
    finally:
        await netsuite.aclose()


@pytest.mark.usefixtures("worker")
async def test_no_secret_reaches_the_workflow_history(
    client: Client, settings: Settings, sandboxes: Sandboxes, catalog: Catalog
) -> None:
    deal = make_deal(sandboxes.sf_admin, catalog)
    await deal_closed(client, settings, DealClosed(opportunity_id=deal.opportunity_id, source="cli"))
    status = await wait_until_settled(client, deal.opportunity_id, 60)
    assert status.stage in ORDER_CREATED

    history = await client.get_workflow_handle(names.order_workflow_id(deal.opportunity_id)).fetch_history()
    text = json.dumps(history.to_json_dict())
    assert deal.opportunity_id in text  # the history is what we think it is
    assert not [secret for secret in SECRETS if secret in text]
    assert "Bearer" not in text and "oauth_signature" not in text
