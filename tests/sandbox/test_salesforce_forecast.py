"""Opportunity.ForecastCategoryName in the Salesforce sandbox: derived from the stage as a real org does."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from tests.sandbox import test_salesforce_sandbox as base
from tests.sandbox.test_salesforce_sandbox import SalesforceClient, SfSandbox, error_code

# The sandbox fixtures of the base module, made visible here (pytest finds fixtures by module attribute).
sf_sandbox_server = base.sf_sandbox_server
sf_sandbox = base.sf_sandbox
sf = base.sf

CATEGORIES = ["Omitted", "Pipeline", "Best Case", "Commit", "Closed"]


def category(sf: SalesforceClient, opportunity_id: str) -> str:
    return str(sf.Opportunity.get(opportunity_id)["ForecastCategoryName"])


def new_deal(sf: SalesforceClient, stage: str, **extra: str) -> str:
    body = {"Name": "Deal", "StageName": stage, "CloseDate": "2026-11-20", **extra}
    return str(sf.Opportunity.create(body)["id"])


def test_the_forecast_category_follows_the_stage_unless_a_rep_sets_one(sf: SalesforceClient) -> None:
    deal = new_deal(sf, "Prospecting")
    assert category(sf, deal) == "Pipeline"  # the stage's default on create
    sf.Opportunity.update(deal, {"ForecastCategoryName": "Best Case"})
    assert category(sf, deal) == "Best Case"  # no stage change: kept
    sf.Opportunity.update(deal, {"Description": "an edit that leaves the stage alone"})
    assert category(sf, deal) == "Best Case"
    sf.Opportunity.update(deal, {"StageName": "Negotiation/Review"})
    assert category(sf, deal) == "Pipeline"  # a stage change takes the new stage's default
    sf.Opportunity.update(deal, {"StageName": "Proposal/Price Quote", "ForecastCategoryName": "Commit"})
    assert category(sf, deal) == "Commit"  # written with the open stage: kept
    sf.Opportunity.update(deal, {"StageName": "Closed Won", "ForecastCategoryName": "Commit"})
    assert category(sf, deal) == "Closed"  # a closed stage forces its category
    sf.Opportunity.update(deal, {"ForecastCategoryName": "Pipeline"})
    assert category(sf, deal) == "Closed"
    sf.Opportunity.update(deal, {"StageName": "Closed Lost"})
    assert category(sf, deal) == "Omitted"
    sf.Opportunity.update(deal, {"StageName": "Qualification"})
    assert category(sf, deal) == "Pipeline"  # reopened


def test_a_category_given_on_create_is_kept_for_an_open_stage_only(sf: SalesforceClient) -> None:
    assert category(sf, new_deal(sf, "Qualification", ForecastCategoryName="Commit")) == "Commit"
    assert category(sf, new_deal(sf, "Closed Won", ForecastCategoryName="Best Case")) == "Closed"
    assert category(sf, new_deal(sf, "Closed Lost")) == "Omitted"
    with pytest.raises(SalesforceMalformedRequest) as bad:
        new_deal(sf, "Qualification", ForecastCategoryName="Maybe")
    assert error_code(bad) == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_describe_and_soql_show_the_forecast_category(sf_sandbox: SfSandbox, sf: SalesforceClient) -> None:
    fields = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    forecast = fields["ForecastCategoryName"]
    assert forecast["type"] == "picklist" and forecast["updateable"] is True
    assert [p["value"] for p in forecast["picklistValues"]] == CATEGORIES
    committed = new_deal(sf, "Negotiation/Review", ForecastCategoryName="Commit")
    new_deal(sf, "Prospecting")
    won = new_deal(sf, "Closed Won")
    result = sf.query("SELECT ForecastCategoryName FROM Opportunity")
    assert sorted(r["ForecastCategoryName"] for r in result["records"]) == ["Closed", "Commit", "Pipeline"]
    found = sf.query(
        "SELECT Id FROM Opportunity WHERE ForecastCategoryName IN ('Commit', 'Closed') ORDER BY Name"
    )
    assert {r["Id"] for r in found["records"]} == {committed, won}
    # Admin loads derive it too.
    loaded = sf_sandbox.load(
        {"Opportunity": [{"Name": "Loaded", "StageName": "Closed Lost", "CloseDate": "2026-01-05"}]}
    )
    assert category(sf, loaded["Opportunity"][0]) == "Omitted"
