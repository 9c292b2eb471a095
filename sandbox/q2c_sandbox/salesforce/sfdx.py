"""Custom objects and fields from an SFDX project (source format), as ``schema.toml`` field specs.

A real org gets its custom fields by deploying metadata; so does the sandbox: ``schema.py`` merges what
this module reads from ``objects/<Object>/`` (``<Object>.object-meta.xml`` for a custom object,
``fields/<Field>.field-meta.xml`` for each field) into the standard objects of ``schema.toml``, and the
standard value sets of ``standardValueSets/<Name>.standardValueSet-meta.xml`` (the values of standard
picklists, such as Task Status) into the TOML's value sets of the same name.

The sandbox imports nothing of q2c (it is installable on its own), so q2c's own metadata reader
(``q2c.domain.metadata``) is a separate, smaller one: q2c only asks which fields exist, the sandbox
needs their API types and relationships.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

NS = "http://soap.sforce.com/2006/04/metadata"
# The SFDX project q2c ships, when the sandbox runs from a source checkout (``metadata_path``'s default).
CHECKOUT_PROJECT = Path(__file__).resolve().parents[3] / "metadata" / "salesforce" / "force-app"

# Metadata field type -> (API type, fixed length). Text and LongTextArea carry their own <length>.
_TYPES: dict[str, tuple[str, int | None]] = {
    "Text": ("string", None),
    "TextArea": ("textarea", 255),
    "LongTextArea": ("textarea", None),
    "Html": ("textarea", None),
    "Email": ("email", 80),
    "Phone": ("phone", 40),
    "Url": ("url", 255),
    "Checkbox": ("boolean", None),
    "Currency": ("currency", None),
    "Percent": ("percent", None),
    "Date": ("date", None),
    "DateTime": ("datetime", None),
    "Picklist": ("picklist", None),
    "Lookup": ("reference", None),
    "MasterDetail": ("reference", None),
}


class SfdxError(ValueError):
    """A file of the SFDX project cannot be used; the message names it."""


def default_project() -> Path | None:
    """q2c's SFDX project beside the sandbox's source checkout, if there is one."""
    return CHECKOUT_PROJECT if CHECKOUT_PROJECT.is_dir() else None


def read_objects(source: Path) -> dict[str, dict[str, Any]]:
    """``{object: {"custom": bool, "name_field": spec | None, "fields": {name: spec}}}`` from the
    ``objects/`` directory under ``source`` (e.g. ``force-app/main/default``, or ``force-app``)."""
    objects_dirs = sorted(source.glob("**/objects"))
    if not objects_dirs:
        raise SfdxError(f"{source}: no objects/ directory (expected an SFDX project's force-app)")
    found: dict[str, dict[str, Any]] = {}
    for objects_dir in objects_dirs:
        for object_dir in sorted(p for p in objects_dir.iterdir() if p.is_dir()):
            name = object_dir.name
            definition = object_dir / f"{name}.object-meta.xml"
            name_field = _name_field(definition) if definition.is_file() else None
            fields = dict(map(_field, sorted(object_dir.glob("fields/*.field-meta.xml"))))
            entry = found.setdefault(name, {"custom": False, "name_field": None, "fields": {}})
            entry["custom"] = entry["custom"] or definition.is_file()
            entry["name_field"] = entry["name_field"] or name_field
            entry["fields"].update(fields)
    return found


def read_standard_value_sets(source: Path) -> dict[str, dict[str, Any]]:
    """``{name: {"values": [...], "default": value | None, "closed": [...]}}`` from the
    ``standardValueSets/`` directories under ``source`` (none: ``{}``, the org keeps its defaults)."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(source.glob("**/standardValueSets/*.standardValueSet-meta.xml")):
        root = _root(path, "StandardValueSet")
        values: list[str] = []
        defaults: list[str] = []
        closed: list[str] = []
        for value in root.iterfind(f"{{{NS}}}standardValue"):
            name = _text(value, "fullName")
            if not name or name in values:
                raise SfdxError(f"{path}: every <standardValue> needs a <fullName> of its own")
            values.append(name)
            if _text(value, "default") == "true":
                defaults.append(name)
            if _text(value, "closed") == "true":
                closed.append(name)
        if not values or len(defaults) > 1:
            raise SfdxError(f"{path}: a standard value set needs values and at most one default")
        found[path.name.removesuffix(".standardValueSet-meta.xml")] = {
            "values": values,
            "default": defaults[0] if defaults else None,
            "closed": closed,
        }
    return found


def _root(path: Path, expected: str) -> Element:
    try:
        root: Element = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as exc:
        raise SfdxError(f"{path}: not well-formed XML: {exc}") from exc
    if root.tag != f"{{{NS}}}{expected}":
        raise SfdxError(f'{path}: the root element must be <{expected} xmlns="{NS}">, not {root.tag}')
    return root


def _text(element: Element, path: str) -> str | None:
    found = element.find("/".join(f"{{{NS}}}{part}" for part in path.split("/")))
    return None if found is None or found.text is None else found.text.strip()


def _name_field(path: Path) -> dict[str, Any]:
    """The custom object's Name: text given on create, or an auto-number the org assigns."""
    root = _root(path, "CustomObject")
    if _text(root, "nameField/type") == "AutoNumber":
        return {"type": "string", "length": 80, "updateable": False, "createable": False}
    return {"type": "string", "length": 80, "required": True}


def _field(path: Path) -> tuple[str, dict[str, Any]]:
    root = _root(path, "CustomField")
    name = _text(root, "fullName") or ""
    if name != path.name.removesuffix(".field-meta.xml"):
        raise SfdxError(f"{path}: <fullName> {name!r} does not match the file name")
    kind = _text(root, "type") or ""
    if kind == "Number":
        api_type, length = ("int" if (_text(root, "scale") or "0") == "0" else "double"), None
    elif kind in _TYPES:
        api_type, length = _TYPES[kind]
    else:
        raise SfdxError(f"{path}: field type {kind!r} is not one the sandbox supports ({', '.join(_TYPES)})")
    spec: dict[str, Any] = {
        "type": api_type,
        "required": _text(root, "required") == "true",
        "external_id": _text(root, "externalId") == "true",
        "unique": _text(root, "unique") == "true",
    }
    if api_type in ("string", "textarea"):
        spec["length"] = length or int(_text(root, "length") or 255)
    elif length is not None:
        spec["length"] = length
    if kind == "Checkbox":
        spec["default"] = _text(root, "defaultValue") == "true"
    if kind == "Picklist":
        values = list(root.iterfind(f".//{{{NS}}}valueSetDefinition/{{{NS}}}value"))
        spec["values"] = [_text(v, "fullName") for v in values]
        defaults = [_text(v, "fullName") for v in values if _text(v, "default") == "true"]
        if defaults:
            spec["default"] = defaults[0]
    if api_type == "reference":
        # The child's relationship is the field's name with __r; the parent's is <relationshipName>__r.
        spec["reference_to"] = _text(root, "referenceTo")
        spec["relationship_name"] = name.removesuffix("__c") + "__r"
        if relationship := _text(root, "relationshipName"):
            spec["child_relationship"] = relationship + "__r"
    return name, spec
