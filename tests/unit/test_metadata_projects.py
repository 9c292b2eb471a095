"""metadata/salesforce and metadata/netsuite obey the rules their deploy tools enforce.

The Salesforce CLI (`sf project convert source`) is 290 MB of npm packages and needs Node 22, so CI does
not install it; these tests parse every file against the metadata rules a deploy would check (root
element and namespace, file name = API name, required elements per type, Salesforce's limits, permission
coverage, outbound messages naming real fields). Where `sf` is on the PATH, the last test also runs it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from xml.etree.ElementTree import Element

import pytest
from defusedxml import ElementTree

from q2c.domain.metadata import SDF_OBJECTS, SFDX_NS, SFDX_SOURCE, default_metadata_dir
from q2c_sandbox.salesforce.outbound import RULES as SANDBOX_OUTBOUND_RULES
from q2c_sandbox.salesforce.schema import SYSTEM_FIELDS, load_schema

METADATA = default_metadata_dir()
SFDX = METADATA / "salesforce"
SOURCE = METADATA / SFDX_SOURCE
SDF = METADATA / "netsuite"
STANDARD = load_schema()  # the sandbox's standard objects: what a real org has without q2c's metadata

# Salesforce's custom field types q2c may use, and what each needs.
FIELD_TYPES = {
    "Text", "TextArea", "LongTextArea", "Email", "Phone", "Url", "Checkbox", "Currency", "Number",
    "Percent", "Date", "DateTime", "Picklist", "Lookup", "MasterDetail",
}  # fmt: skip
EXTERNAL_ID_TYPES = {"Text", "Number", "Email"}
API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*$")  # no double or trailing underscores


def _root(path: Path, expected: str) -> Element:
    root: Element = ElementTree.parse(path).getroot()
    assert root.tag == f"{{{SFDX_NS}}}{expected}", (
        f"{path}: root {root.tag}, expected {expected} in {SFDX_NS}"
    )
    return root


def _text(element: Element, path: str) -> str | None:
    found = element.find("/".join(f"{{{SFDX_NS}}}{part}" for part in path.split("/")))
    return None if found is None or found.text is None else found.text.strip()


def _all(element: Element, path: str) -> list[Element]:
    return element.findall("/".join(f"{{{SFDX_NS}}}{part}" for part in path.split("/")))


def _custom_fields() -> dict[str, dict[str, Element]]:
    """object directory name -> field name -> its CustomField root."""
    fields: dict[str, dict[str, Element]] = {}
    for path in sorted(SOURCE.glob("objects/*/fields/*.field-meta.xml")):
        fields.setdefault(path.parents[1].name, {})[path.name.removesuffix(".field-meta.xml")] = _root(
            path, "CustomField"
        )
    return fields


def _custom_objects() -> set[str]:
    return {p.name.removesuffix(".object-meta.xml") for p in SOURCE.glob("objects/*/*.object-meta.xml")}


def _object_fields(sobject: str) -> set[str]:
    """Fields an org has on ``sobject`` once the project is deployed (standard + audit + custom)."""
    standard = STANDARD.objects[sobject].fields if sobject in STANDARD.objects else {}
    custom = _custom_fields().get("Activity" if sobject in ("Task", "Event") else sobject, {})
    return {*standard, *(name for name, *_ in SYSTEM_FIELDS), "Id", "Name", *custom}


# --- the SFDX project -------------------------------------------------------------------------------------


def test_sfdx_project_file() -> None:
    project = json.loads((SFDX / "sfdx-project.json").read_text())
    directories = project["packageDirectories"]
    assert [d["path"] for d in directories if d.get("default")] == ["force-app"]
    assert all((SFDX / d["path"]).is_dir() for d in directories)
    assert re.fullmatch(r"\d{2}\.0", project["sourceApiVersion"])


def test_every_source_file_is_a_known_metadata_type_in_its_place() -> None:
    allowed = [
        r"objects/(\w+)/\1\.object-meta\.xml",
        r"objects/\w+/fields/\w+\.field-meta\.xml",
        r"permissionsets/\w+\.permissionset-meta\.xml",
        r"standardValueSets/\w+\.standardValueSet-meta\.xml",
        r"workflows/\w+\.workflow-meta\.xml",
    ]
    files = [p.relative_to(SOURCE).as_posix() for p in SOURCE.rglob("*") if p.is_file()]
    assert files
    assert [f for f in files if not any(re.fullmatch(rule, f) for rule in allowed)] == []


def test_custom_fields_follow_salesforce_rules() -> None:
    problems: list[str] = []
    for sobject, fields in _custom_fields().items():
        for name, field in fields.items():
            at = f"{sobject}.{name}"
            kind = _text(field, "type") or ""
            length = int(_text(field, "length") or 0)
            flag = {tag: _text(field, tag) for tag in ("externalId", "unique", "required")}
            if _text(field, "fullName") != name:
                problems.append(f"{at}: <fullName> {_text(field, 'fullName')!r} differs from the file name")
            if not (name.endswith("__c") and API_NAME.match(name[:-3]) and len(name[:-3]) <= 40):
                problems.append(f"{at}: not a custom field API name (letters, digits, single _, 40 max, __c)")
            if not 0 < len(_text(field, "label") or "") <= 40:
                problems.append(f"{at}: <label> must have 1 to 40 characters")
            if not _text(field, "description"):
                problems.append(f"{at}: no <description> (the admin deploying it should read why it exists)")
            if kind not in FIELD_TYPES:
                problems.append(f"{at}: type {kind!r} is not one of {sorted(FIELD_TYPES)}")
            if kind == "Text" and not 1 <= length <= 255:
                problems.append(f"{at}: Text fields hold 1 to 255 characters, not {length}")
            if kind == "LongTextArea" and not (256 <= length <= 131072 and _text(field, "visibleLines")):
                problems.append(f"{at}: LongTextArea needs a length of 256 to 131072 and visibleLines")
            if kind not in ("Text", "LongTextArea") and _text(field, "length"):
                problems.append(f"{at}: {kind} fields take no <length>")
            if kind in ("Currency", "Number", "Percent"):
                precision, scale = int(_text(field, "precision") or 0), int(_text(field, "scale") or -1)
                if not (1 <= precision <= 18 and 0 <= scale <= precision):
                    problems.append(f"{at}: precision 1..18 and scale 0..precision, not {precision}/{scale}")
            if kind == "Checkbox" and (
                _text(field, "defaultValue") not in ("true", "false") or flag["required"]
            ):
                problems.append(f"{at}: a Checkbox needs defaultValue true/false and cannot be required")
            if kind == "Picklist":
                values = [_text(v, "fullName") for v in _all(field, "valueSet/valueSetDefinition/value")]
                defaults = [
                    v
                    for v in _all(field, "valueSet/valueSetDefinition/value")
                    if _text(v, "default") == "true"
                ]
                if not values or len(set(values)) != len(values) or len(defaults) > 1:
                    problems.append(f"{at}: a picklist needs distinct values and at most one default")
            if kind in ("Lookup", "MasterDetail"):
                target = _text(field, "referenceTo") or ""
                if target not in STANDARD.objects and target not in _custom_objects():
                    problems.append(f"{at}: referenceTo {target!r} is no object of the org")
                if not API_NAME.match(_text(field, "relationshipName") or ""):
                    problems.append(f"{at}: a lookup needs a relationshipName (the parent's related list)")
                if kind == "Lookup" and _text(field, "deleteConstraint") not in (
                    "SetNull",
                    "Restrict",
                    "Cascade",
                ):
                    problems.append(f"{at}: a lookup needs deleteConstraint SetNull, Restrict or Cascade")
            for attribute in ("externalId", "unique"):
                if flag[attribute] == "true" and kind not in EXTERNAL_ID_TYPES:
                    problems.append(f"{at}: {attribute} is only for {sorted(EXTERNAL_ID_TYPES)} fields")
            if sobject not in _custom_objects() and sobject != "Activity" and sobject not in STANDARD.objects:
                problems.append(f"{at}: {sobject} is neither a standard object nor one this project defines")
    assert problems == []


def test_custom_objects_are_complete() -> None:
    problems: list[str] = []
    for name in _custom_objects():
        obj = _root(SOURCE / "objects" / name / f"{name}.object-meta.xml", "CustomObject")
        if not (name.endswith("__c") and API_NAME.match(name[:-3])):
            problems.append(f"{name}: not a custom object API name")
        for required in ("label", "pluralLabel", "nameField/label", "nameField/type", "sharingModel"):
            if not _text(obj, required):
                problems.append(f"{name}: <{required}> is required")
        if _text(obj, "deploymentStatus") != "Deployed":
            problems.append(f"{name}: deploymentStatus must be Deployed (else only admins see it)")
        if _text(obj, "nameField/type") not in ("Text", "AutoNumber"):
            problems.append(f"{name}: the name field is Text or AutoNumber")
        # Salesforce refuses these three unless they are all on or all off.
        if len({_text(obj, t) for t in ("enableBulkApi", "enableSharing", "enableStreamingApi")}) != 1:
            problems.append(f"{name}: enableBulkApi, enableSharing and enableStreamingApi must agree")
    assert problems == []


def test_standard_value_sets_are_well_formed() -> None:
    paths = sorted(SOURCE.glob("standardValueSets/*.standardValueSet-meta.xml"))
    assert [p.name for p in paths] == ["TaskStatus.standardValueSet-meta.xml"]
    for path in paths:
        value_set = _root(path, "StandardValueSet")
        values = _all(value_set, "standardValue")
        names = [_text(v, "fullName") for v in values]
        assert names and all(names) and len(set(names)) == len(names), path.name
        for value, name in zip(values, names, strict=True):
            assert _text(value, "label") and _text(value, "closed") in ("true", "false"), name
        assert [_text(v, "default") for v in values].count("true") == 1, f"{path.name}: exactly one default"
        assert _text(value_set, "sorted") in ("true", "false")


def test_the_permission_set_grants_every_custom_field_and_object() -> None:
    permissions = _root(SOURCE / "permissionsets" / "Q2C_Integration.permissionset-meta.xml", "PermissionSet")
    assert _text(permissions, "label")
    granted = {_text(p, "field"): p for p in _all(permissions, "fieldPermissions")}
    wanted: set[str] = set()
    required: set[str] = set()
    for sobject, fields in _custom_fields().items():
        for name, field in fields.items():
            for target in ("Task", "Event") if sobject == "Activity" else (sobject,):
                (required if _text(field, "required") == "true" else wanted).add(f"{target}.{name}")
    # Salesforce refuses field permissions on required fields (they are always readable and editable).
    assert set(granted) == wanted and not required & set(granted)
    assert all(_text(p, "readable") == "true" for p in granted.values())
    objects = {_text(p, "object"): p for p in _all(permissions, "objectPermissions")}
    assert _custom_objects() <= set(objects)
    for obj_name, p in objects.items():
        allow = {
            tag: _text(p, tag) == "true" for tag in ("allowCreate", "allowEdit", "allowRead", "allowDelete")
        }
        view_all, modify_all = _text(p, "viewAllRecords") == "true", _text(p, "modifyAllRecords") == "true"
        assert allow["allowRead"] or not (allow["allowCreate"] or allow["allowEdit"] or view_all), obj_name
        assert not modify_all or (view_all and allow["allowEdit"] and allow["allowDelete"]), obj_name
    assert "ApiEnabled" in {_text(p, "name") for p in _all(permissions, "userPermissions")}


# What the webhook reads from each outbound message (README: "Deploying to your own orgs").
WEBHOOK_FIELDS = {
    "Opportunity": {"Id", "IsWon", "AccountId"},
    "Account": {"Id", "LastModifiedById"},
    "Contact": {"Id", "AccountId", "LastModifiedById"},
    "Task": {"Id", "Q2C_Key__c", "Status", "IsClosed", "LastModifiedById"},
}


def test_outbound_messages_send_what_the_webhook_reads() -> None:
    workflows = {
        p.name.removesuffix(".workflow-meta.xml"): p for p in SOURCE.glob("workflows/*.workflow-meta.xml")
    }
    assert set(workflows) == set(WEBHOOK_FIELDS)
    assert set(workflows) <= set(SANDBOX_OUTBOUND_RULES)  # the sandbox sends these too
    for sobject, path in workflows.items():
        workflow = _root(path, "Workflow")
        messages = {_text(m, "fullName"): m for m in _all(workflow, "outboundMessages")}
        assert len(messages) == 1, sobject
        for name, message in messages.items():
            fields = [f.text for f in _all(message, "fields")]
            assert name and API_NAME.match(name) and len(name) <= 40, name
            assert WEBHOOK_FIELDS[sobject] <= set(fields), sobject
            assert set(fields) <= _object_fields(sobject), (
                f"{sobject}: {set(fields) - _object_fields(sobject)}"
            )
            assert (_text(message, "endpointUrl") or "").startswith("https://")
            for required in ("apiVersion", "integrationUser", "name", "includeSessionId"):
                assert _text(message, required), f"{sobject}.{name}: <{required}>"
        rules = _all(workflow, "rules")
        assert rules, f"{sobject}: an outbound message is sent only by a rule"
        for rule in rules:
            assert _text(rule, "active") == "true"
            assert _text(rule, "triggerType") in (
                "onCreateOnly",
                "onCreateOrTriggeringUpdate",
                "onAllChanges",
            )
            assert _text(rule, "formula") or _all(rule, "criteriaItems")
            actions = [(_text(a, "name"), _text(a, "type")) for a in _all(rule, "actions")]
            assert actions and all(kind == "OutboundMessage" and n in messages for n, kind in actions), (
                actions
            )


@pytest.mark.skipif(shutil.which("sf") is None, reason="the Salesforce CLI (sf) is not installed")
def test_the_salesforce_cli_converts_the_project(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            "sf",
            "project",
            "convert",
            "source",
            "--source-dir",
            "force-app",
            "--output-dir",
            str(tmp_path / "out"),
        ],
        cwd=SFDX,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "out" / "package.xml").is_file()


# --- the SDF project ----------------------------------------------------------------------------------------

SDF_TYPES = {  # root element -> script id prefix
    "entitycustomfield": "custentity",
    "transactionbodycustomfield": "custbody",
    "itemcustomfield": "custitem",
    "transactioncolumncustomfield": "custcol",
    "role": "customrole",
}
SDF_FIELD_TYPES = {
    "CHECKBOX", "CLOBTEXT", "CURRENCY", "DATE", "DATETIMETZ", "EMAIL", "FLOAT", "INTEGER", "MULTISELECT",
    "PERCENT", "PHONE", "SELECT", "TEXT", "TEXTAREA", "URL",
}  # fmt: skip
PERMISSION_LEVELS = ["NONE", "VIEW", "CREATE", "EDIT", "FULL"]


def test_sdf_project_files() -> None:
    manifest = ElementTree.parse(SDF / "src" / "manifest.xml").getroot()
    assert (manifest.tag, manifest.get("projecttype")) == ("manifest", "ACCOUNTCUSTOMIZATION")
    assert manifest.findtext("projectname") and manifest.findtext("frameworkversion") == "1.0"
    deploy = ElementTree.parse(SDF / "src" / "deploy.xml").getroot()
    assert [p.text for p in deploy.iterfind("objects/path")] == ["~/Objects/*"]
    assert "defaultProjectFolder: 'src'" in (SDF / "suitecloud.config.js").read_text()


def test_sdf_objects_follow_the_sdf_rules() -> None:
    problems: list[str] = []
    paths = sorted((METADATA / SDF_OBJECTS).glob("*"))
    assert paths
    for path in paths:
        root = ElementTree.parse(path).getroot()
        script_id = root.get("scriptid") or ""
        if path.suffix != ".xml" or script_id != path.stem:
            problems.append(f"{path.name}: the file is named <scriptid>.xml")
        if root.tag not in SDF_TYPES or not script_id.startswith(SDF_TYPES.get(root.tag, "?") + "_"):
            problems.append(
                f"{path.name}: <{root.tag}> is not a known type, or its script id lacks the prefix"
            )
        if not re.fullmatch(r"[a-z0-9_]{1,40}", script_id):
            problems.append(f"{path.name}: script ids are lowercase letters, digits and _ (40 max)")
        booleans = [
            e for e in root.iter() if e.tag.startswith(("is", "applies", "body", "store", "show", "global"))
        ]
        if any(e.text not in ("T", "F") for e in booleans):
            problems.append(f"{path.name}: SDF booleans are T or F")
        if root.tag == "role":
            levels = {
                p.findtext("permkey"): p.findtext("permlevel")
                for p in root.iterfind("permissions/permission")
            }
            if not (root.findtext("name") and root.findtext("centertype") and levels):
                problems.append(f"{path.name}: a role needs name, centertype and permissions")
            if any(level not in PERMISSION_LEVELS for level in levels.values()):
                problems.append(f"{path.name}: permission levels are {PERMISSION_LEVELS}")
            continue
        if not root.findtext("label") or root.findtext("fieldtype") not in SDF_FIELD_TYPES:
            problems.append(
                f"{path.name}: a custom field needs a label and a fieldtype of {sorted(SDF_FIELD_TYPES)}"
            )
        if root.findtext("fieldtype") == "TEXT" and not 1 <= int(root.findtext("maxlength") or 300) <= 300:
            problems.append(f"{path.name}: free-form text holds at most 300 characters")
        if not any(e.text == "T" for e in root.iter() if e.tag.startswith(("appliesto", "body"))):
            problems.append(f"{path.name}: the field applies to no record")
    assert problems == []


def test_the_integration_role_can_do_what_q2c_does() -> None:
    role = ElementTree.parse(METADATA / SDF_OBJECTS / "customrole_q2c_integration.xml").getroot()
    levels = {p.findtext("permkey"): p.findtext("permlevel") for p in role.iterfind("permissions/permission")}
    needs = {
        "ADMI_LOGIN_OAUTH": "FULL",  # token-based authentication (OAuth 1.0a TBA)
        "ADMI_RESTWEBSERVICES": "FULL",  # REST record API and SuiteQL
        "LIST_CUSTJOB": "EDIT",  # customers: created and updated
        "LIST_CONTACT": "EDIT",
        "TRAN_SALESORD": "EDIT",  # sales orders: upserted, closed
        "TRAN_CUSTINVC": "VIEW",  # invoices, payments, credit memos: read
        "TRAN_CUSTPYMT": "VIEW",
        "TRAN_CUSTCRED": "VIEW",
        "TRAN_FIND": "VIEW",  # SuiteQL over transactions
        "LIST_ITEM": "VIEW",
        "LIST_SUBSIDIARY": "VIEW",
        "LIST_CURRENCY": "VIEW",
    }
    short = {
        key: levels.get(key)
        for key, level in needs.items()
        if PERMISSION_LEVELS.index(levels.get(key) or "NONE") < PERMISSION_LEVELS.index(level)
    }
    assert short == {}
