"""The shipped metadata as q2c reads it, and every custom field the code names is in it.

The SFDX and SDF projects under metadata/ are what a user deploys to their orgs; a field the code or the
mapping writes that they lack would fail in production only. The mapping file is checked when it loads
(tests/unit/test_sync_mapping.py); the code's field names are checked here, statically; the writes
themselves run against the Salesforce sandbox, which builds its custom fields from the same SFDX files
(tests/integration, tests/sandbox/test_salesforce_sandbox.py).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from q2c.domain import metadata
from q2c.domain.mapping import STANDARD_FIELDS
from q2c.domain.metadata import MetadataError, default_metadata_dir, load_metadata
from q2c.domain.order import SyncStatus
from q2c_sandbox.salesforce.schema import load_schema
from q2c_sandbox.salesforce.sfdx import default_project

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [
    ROOT / "worker.py",
    *(ROOT / part for part in ("activities", "q2c", "workflows", "starter", "temporal_client")),
]
META = load_metadata()

_SALESFORCE_NAME = re.compile(r"\b[A-Za-z][A-Za-z0-9_]*__c\b")
_NETSUITE_NAME = re.compile(r"\bcust(?:entity|body|item|col)_[a-z0-9_]+\b")


def _string_constants() -> dict[str, set[str]]:
    """Every string literal in the product code (f-string parts included) -> the files it is in."""
    found: dict[str, set[str]] = {}
    for part in PRODUCT:
        for path in [part] if part.is_file() else sorted(part.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found.setdefault(node.value, set()).add(str(path.relative_to(ROOT)))
    return found


def _names(pattern: re.Pattern[str]) -> dict[str, set[str]]:
    names: dict[str, set[str]] = {}
    for text, files in _string_constants().items():
        for name in pattern.findall(text):
            names.setdefault(name, set()).update(files)
    return names


def test_the_reader_sees_the_projects() -> None:
    sf, ns = META.salesforce, META.netsuite
    link = sf.field("Account", "NetSuite_Internal_ID__c")
    assert link is not None and (link.type, link.length, link.external_id, link.unique) == (
        "Text",
        32,
        True,
        True,
    )
    # Task and Event custom fields live on Activity in an SFDX project.
    assert sf.field("Task", "Q2C_Key__c") is not None and sf.field("Event", "Q2C_Key__c") is not None
    assert "NetSuite_Invoice__c" in sf.custom_objects
    invoice_id = sf.field("NetSuite_Invoice__c", "NetSuite_Invoice_ID__c")
    assert invoice_id is not None and invoice_id.required
    account = sf.field("NetSuite_Invoice__c", "Account__c")
    assert account is not None and (account.type, account.reference_to) == ("Lookup", "Account")
    assert ns.has_field("customer", "custentity_sf_account_id") and ns.has_field(
        "customer", "custentity_industry"
    )
    # A body field on sales transactions is on the sales order and the invoice billed from it.
    assert ns.has_field("salesOrder", "custbody_sf_opportunity_id") and ns.has_field(
        "invoice", "custbody_sf_opportunity_id"
    )
    assert "customrole_q2c_integration" in ns.script_ids


def test_every_salesforce_custom_field_the_code_names_is_in_the_sfdx_project() -> None:
    names = _names(_SALESFORCE_NAME)
    assert {"NetSuite_Internal_ID__c", "Q2C_Sync_Status__c", "NetSuite_Invoice__c"} <= set(names)  # it scans
    known = META.salesforce.all_field_names() | META.salesforce.custom_objects
    missing = {name: sorted(files) for name, files in names.items() if name not in known}
    assert missing == {}, f"named in code but not in metadata/salesforce: {missing}"


def test_every_netsuite_custom_field_the_code_names_is_in_the_sdf_project() -> None:
    names = _names(_NETSUITE_NAME)
    assert "custentity_sf_account_id" in names  # it scans
    missing = {name: sorted(files) for name, files in names.items() if name not in META.netsuite.script_ids}
    assert missing == {}, f"named in code but not in metadata/netsuite: {missing}"


def test_the_sync_status_q2c_writes_is_a_value_of_the_picklist() -> None:
    picklist = META.salesforce.field("Opportunity", "Q2C_Sync_Status__c")
    assert picklist is not None
    assert {status.value for status in SyncStatus} <= set(picklist.values)


def test_the_standard_fields_a_mapping_may_name_exist_in_the_salesforce_sandbox() -> None:
    # q2c cannot read the sandbox's schema (the sandbox is not product code), so it keeps its own short
    # list; this keeps the two in step.
    schema = load_schema(metadata=default_project())
    for sobject, names in STANDARD_FIELDS.items():
        assert names <= set(schema.objects[sobject].fields), sobject


def test_the_sandbox_has_exactly_the_custom_fields_of_the_sfdx_project() -> None:
    schema = load_schema(metadata=default_project())
    for obj in schema.objects.values():
        custom = {name for name in obj.fields if name.endswith("__c")}
        assert custom == set(META.salesforce.fields.get(obj.name, {})), obj.name
    assert {name for name in schema.objects if name.endswith("__c")} == META.salesforce.custom_objects


def test_an_installed_q2c_finds_the_metadata_the_image_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # From a checkout (editable install, tests) metadata/ is beside the package; an installed package
    # (the Docker image) finds the copy under <sys.prefix>/share/q2c/metadata (Dockerfile).
    assert default_metadata_dir() == ROOT / "metadata"
    monkeypatch.setattr(
        metadata, "__file__", str(tmp_path / "site-packages" / "q2c" / "domain" / "metadata.py")
    )
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))
    installed = tmp_path / "prefix" / "share" / "q2c" / "metadata"
    with pytest.raises(MetadataError, match=r"has no salesforce/force-app/main/default"):
        load_metadata()
    installed.parent.mkdir(parents=True)
    installed.symlink_to(ROOT / "metadata")
    assert default_metadata_dir() == installed
    assert load_metadata().salesforce.custom_objects == META.salesforce.custom_objects
