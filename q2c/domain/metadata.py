"""The Salesforce and NetSuite metadata q2c ships: which custom fields and objects exist on each side.

`metadata/salesforce` is an SFDX project (custom fields, the `NetSuite_Invoice__c` object, the integration
user's permission set, the outbound messages) and `metadata/netsuite` a SuiteCloud (SDF) project (the
`custentity_` / `custbody_` fields, the integration role). A user deploys both to their own orgs; they
are the single source of truth, so the mapping file is validated against them (`q2c.domain.mapping`) and
tests check that every field the code writes is defined there. This module only reads them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

SFDX_NS = "http://soap.sforce.com/2006/04/metadata"
# Where the SFDX project keeps its source (sfdx-project.json's package directory).
SFDX_SOURCE = Path("salesforce") / "force-app" / "main" / "default"
SDF_OBJECTS = Path("netsuite") / "src" / "Objects"

# Task and Event share their custom fields, which an SFDX project keeps on the Activity object.
ACTIVITY_OBJECTS = ("Task", "Event")

# SDF: which records a custom field applies to, by its XML element (`T` = applies).
_SDF_APPLIES_TO: dict[str, dict[str, tuple[str, ...]]] = {
    "entitycustomfield": {"appliestocustomer": ("customer",), "appliestocontact": ("contact",)},
    "transactionbodycustomfield": {
        "bodysale": ("salesOrder", "invoice", "cashSale", "estimate"),
        "bodycustomerpayment": ("customerPayment",),
    },
    "itemcustomfield": {
        key: ("inventoryItem", "nonInventorySaleItem", "serviceSaleItem")
        for key in ("appliestoinventory", "appliestononinventory", "appliestoservice")
    },
}


class MetadataError(ValueError):
    """The metadata directory is missing or a file in it cannot be read; the message names the file."""


@dataclass(frozen=True)
class CustomField:
    """One `<CustomField>` of the SFDX project (types as Salesforce's metadata names them)."""

    object: str
    name: str
    type: str  # Text, LongTextArea, Checkbox, Currency, Number, Date, DateTime, Picklist, Lookup, ...
    label: str
    length: int | None = None
    required: bool = False
    external_id: bool = False
    unique: bool = False
    values: tuple[str, ...] = ()  # picklist values
    reference_to: str | None = None


@dataclass(frozen=True)
class SalesforceMetadata:
    # object -> custom field name -> definition; Activity's fields appear under Task and Event too.
    fields: dict[str, dict[str, CustomField]]
    custom_objects: frozenset[str]

    def field(self, sobject: str, name: str) -> CustomField | None:
        return self.fields.get(sobject, {}).get(name)

    def all_field_names(self) -> set[str]:
        return {name for fields in self.fields.values() for name in fields}


@dataclass(frozen=True)
class NetSuiteMetadata:
    # record type (REST name: customer, salesOrder, ...) -> custom field script ids
    fields: dict[str, frozenset[str]] = field(default_factory=dict)
    # every custom object's script id (fields, roles, ...)
    script_ids: frozenset[str] = frozenset()

    def has_field(self, record_type: str, script_id: str) -> bool:
        return script_id in self.fields.get(record_type, frozenset())


@dataclass(frozen=True)
class Metadata:
    root: Path
    salesforce: SalesforceMetadata
    netsuite: NetSuiteMetadata


def default_metadata_dir() -> Path:
    """The `metadata/` directory shipped with q2c: the source checkout's (an editable install, the
    tests), else the copy an image installs under `<sys.prefix>/share/q2c/metadata` (see Dockerfile)."""
    checkout = Path(__file__).resolve().parents[2] / "metadata"
    installed = Path(sys.prefix) / "share" / "q2c" / "metadata"
    return checkout if checkout.is_dir() or not installed.is_dir() else installed


def load_metadata(root: Path | None = None) -> Metadata:
    root = root or default_metadata_dir()
    for part in (SFDX_SOURCE, SDF_OBJECTS):
        if not (root / part).is_dir():
            raise MetadataError(
                f"q2c's metadata directory {root} has no {part}: it should hold the SFDX project "
                "(salesforce/) and the SuiteCloud project (netsuite/) shipped in the repository's metadata/"
            )
    return Metadata(root, _salesforce(root / SFDX_SOURCE), _netsuite(root / SDF_OBJECTS))


# --- Salesforce (SFDX source format) --------------------------------------------------------------------


def _salesforce(source: Path) -> SalesforceMetadata:
    fields: dict[str, dict[str, CustomField]] = {}
    custom_objects: set[str] = set()
    for object_dir in sorted(p for p in (source / "objects").iterdir() if p.is_dir()):
        name = object_dir.name
        if (object_dir / f"{name}.object-meta.xml").is_file():
            _sfdx_root(object_dir / f"{name}.object-meta.xml", "CustomObject")
            custom_objects.add(name)
        parsed = {f.name: f for f in map(_custom_field, sorted(object_dir.glob("fields/*.field-meta.xml")))}
        for target in ACTIVITY_OBJECTS if name == "Activity" else (name,):
            fields.setdefault(target, {}).update({n: replace(f, object=target) for n, f in parsed.items()})
    return SalesforceMetadata(fields, frozenset(custom_objects))


def _sfdx_root(path: Path, expected: str) -> Element:
    try:
        root: Element = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as exc:
        raise MetadataError(f"{path}: not well-formed XML: {exc}") from exc
    if root.tag != f"{{{SFDX_NS}}}{expected}":
        raise MetadataError(
            f'{path}: the root element must be <{expected} xmlns="{SFDX_NS}">, not {root.tag}'
        )
    return root


def _text(element: Element, tag: str) -> str | None:
    child = element.find(f"{{{SFDX_NS}}}{tag}")
    return None if child is None or child.text is None else child.text.strip()


def _custom_field(path: Path) -> CustomField:
    root = _sfdx_root(path, "CustomField")
    name = _text(root, "fullName") or ""
    ftype = _text(root, "type")
    if ftype is None:
        raise MetadataError(f"{path}: <type> is missing")
    length = _text(root, "length")
    values = tuple(
        v.text.strip()
        for v in root.iterfind(f".//{{{SFDX_NS}}}valueSetDefinition/{{{SFDX_NS}}}value/{{{SFDX_NS}}}fullName")
        if v.text
    )
    return CustomField(
        object=path.parents[1].name,
        name=name,
        type=ftype,
        label=_text(root, "label") or name,
        length=int(length) if length else None,
        required=_text(root, "required") == "true",
        external_id=_text(root, "externalId") == "true",
        unique=_text(root, "unique") == "true",
        values=values,
        reference_to=_text(root, "referenceTo"),
    )


# --- NetSuite (SDF objects) -----------------------------------------------------------------------------


def _netsuite(objects: Path) -> NetSuiteMetadata:
    fields: dict[str, set[str]] = {}
    script_ids: set[str] = set()
    for path in sorted(objects.glob("*.xml")):
        try:
            root: Element = ElementTree.parse(path).getroot()
        except ElementTree.ParseError as exc:
            raise MetadataError(f"{path}: not well-formed XML: {exc}") from exc
        script_id = root.get("scriptid") or ""
        script_ids.add(script_id)
        for element, records in _SDF_APPLIES_TO.get(root.tag, {}).items():
            if (root.findtext(element) or "").strip() == "T":
                for record in records:
                    fields.setdefault(record, set()).add(script_id)
    return NetSuiteMetadata({k: frozenset(v) for k, v in fields.items()}, frozenset(script_ids))
