"""The org's objects and fields: standard ones from ``schema.toml``, custom ones from an SFDX project.

Everything object-specific in the sandbox (validation, describe, SOQL) comes from here. The audit fields
every Salesforce record carries are not listed in the TOML; they are added to each object below. Custom
objects and fields (``__c``) are deployed, as in a real org: read from the SFDX project's source
(``sfdx.read_objects``) and merged in; the TOML refuses to define any. So are the standard value sets the
TOML names (``sfdx.read_standard_value_sets``): a deployed one replaces the TOML's defaults.
"""

from __future__ import annotations

import dataclasses
import re
import string
import tomllib
import zlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from q2c_sandbox.salesforce.sfdx import read_objects, read_standard_value_sets

SCHEMA_PATH = Path(__file__).with_name("schema.toml")
# Task and Event share their custom fields, which an SFDX project keeps on the Activity object.
ACTIVITY_OBJECTS = ("Task", "Event")
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase

TEXT_TYPES = frozenset({"string", "textarea", "email", "url", "phone", "picklist"})
NUMBER_TYPES = frozenset({"currency", "double", "int", "percent"})

# (name, type, reference_to, relationship_name) of the audit fields on every record.
SYSTEM_FIELDS: tuple[tuple[str, str, str | None, str | None], ...] = (
    ("IsDeleted", "boolean", None, None),
    ("CreatedDate", "datetime", None, None),
    ("CreatedById", "reference", "User", "CreatedBy"),
    ("LastModifiedDate", "datetime", None, None),
    ("LastModifiedById", "reference", "User", "LastModifiedBy"),
    ("SystemModstamp", "datetime", None, None),
)
AUDIT_FIELDS = frozenset({"CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById"})


def label_for(name: str) -> str:
    """A human label the way Salesforce derives them: 'BillingPostalCode' -> 'Billing Postal Code'."""
    base = name[:-3] if name.endswith("__c") else name
    if base.endswith("Id") and len(base) > 2:
        base = base[:-2] + " ID"
    base = base.replace("_", " ")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", base).strip()


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    length: int | None = None
    required: bool = False
    external_id: bool = False
    unique: bool = False
    reference_to: str | None = None
    relationship_name: str | None = None
    child_relationship: str | None = None
    values: tuple[str, ...] = ()
    updateable: bool = True
    createable: bool = True
    default: Any = None
    system: bool = False

    @property
    def label(self) -> str:
        return label_for(self.name)

    @property
    def custom(self) -> bool:
        return self.name.endswith("__c")

    @property
    def is_text(self) -> bool:
        return self.type in TEXT_TYPES

    @property
    def is_number(self) -> bool:
        return self.type in NUMBER_TYPES

    @property
    def indexed(self) -> bool:
        """Whether the store keeps a lookup index on this field (parents, external ids, unique keys)."""
        return self.type == "reference" or self.external_id or self.unique


@dataclass(frozen=True)
class ChildRelationship:
    name: str
    child: str  # child object name
    field: str  # the child's reference field pointing at the parent


@dataclass
class ObjectDef:
    name: str
    key_prefix: str
    fields: dict[str, FieldDef]
    _by_lower: dict[str, FieldDef] = dataclasses.field(default_factory=dict)
    _relationships: dict[str, FieldDef] = dataclasses.field(default_factory=dict)
    children: dict[str, ChildRelationship] = dataclasses.field(
        default_factory=dict
    )  # lower-case name -> relationship

    def __post_init__(self) -> None:
        self._by_lower = {name.lower(): f for name, f in self.fields.items()}
        self._relationships = {
            f.relationship_name.lower(): f for f in self.fields.values() if f.relationship_name is not None
        }

    @property
    def label(self) -> str:
        return label_for(self.name)

    def field(self, name: str) -> FieldDef | None:
        """The field named ``name`` in any letter case (API names are case-insensitive)."""
        return self._by_lower.get(name.lower())

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field behind parent relationship ``name`` (``Account`` -> ``AccountId``)."""
        return self._relationships.get(name.lower())

    def child_relationship(self, name: str) -> ChildRelationship | None:
        return self.children.get(name.lower())

    @property
    def indexed_fields(self) -> list[FieldDef]:
        return [f for f in self.fields.values() if f.indexed]


@dataclass(frozen=True)
class ValueSet:
    """A standard value set: a standard picklist's values, its default and which values close a record."""

    name: str
    values: tuple[str, ...]
    default: str | None = None
    closed: frozenset[str] = frozenset()


@dataclass
class Schema:
    objects: dict[str, ObjectDef]
    currencies: tuple[str, ...]
    value_sets: dict[str, ValueSet] = dataclasses.field(default_factory=dict)
    _by_lower: dict[str, ObjectDef] = dataclasses.field(default_factory=dict)
    _by_prefix: dict[str, ObjectDef] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_lower = {name.lower(): o for name, o in self.objects.items()}
        self._by_prefix = {o.key_prefix: o for o in self.objects.values()}

    def object(self, name: str) -> ObjectDef | None:
        return self._by_lower.get(name.lower())

    def object_for_id(self, record_id: str) -> ObjectDef | None:
        return self._by_prefix.get(record_id[:3])


def _field_from_toml(
    name: str, spec: dict[str, Any], currencies: list[str], value_sets: dict[str, ValueSet]
) -> FieldDef:
    values: list[str] = list(spec.get("values", []))
    default = spec.get("default")
    source = spec.get("values_from")
    if source == "org.currencies":
        values = list(currencies)
    elif isinstance(source, str) and source.startswith("standard_value_sets."):
        value_set = value_sets.get(source.removeprefix("standard_value_sets."))
        if value_set is None:
            raise ValueError(f"{name}: values_from names {source}, which schema.toml does not define")
        values = list(value_set.values)
        default = spec.get("default", value_set.default)
    updateable = bool(spec.get("updateable", True)) and spec.get("type") != "id"
    return FieldDef(
        name=name,
        type=str(spec["type"]),
        length=spec.get("length"),
        required=bool(spec.get("required", False)),
        external_id=bool(spec.get("external_id", False)),
        unique=bool(spec.get("unique", False)),
        reference_to=spec.get("reference_to"),
        relationship_name=spec.get("relationship_name"),
        child_relationship=spec.get("child_relationship"),
        values=tuple(values),
        updateable=updateable,
        # Read-only fields cannot be set on create either, unless the schema says otherwise.
        createable=bool(spec.get("createable", updateable)),
        default=default,
    )


def parse_schema(
    data: dict[str, Any],
    custom: dict[str, dict[str, Any]] | None = None,
    value_sets: dict[str, dict[str, Any]] | None = None,
) -> Schema:
    """The schema of ``data`` (``schema.toml``), with ``custom`` objects and fields (``read_objects``) and
    deployed standard value sets (``read_standard_value_sets``)."""
    currencies = list(data.get("org", {}).get("currencies", ["USD"]))
    specs = _merge_custom(data, custom or {}, currencies)
    sets = _merge_value_sets(data, value_sets or {})
    objects: dict[str, ObjectDef] = {}
    for obj_name, obj_spec in specs.items():
        fields = {
            name: _field_from_toml(name, spec, currencies, sets) for name, spec in obj_spec["fields"].items()
        }
        for name, ftype, ref, rel in SYSTEM_FIELDS:
            fields.setdefault(
                name,
                FieldDef(
                    name=name,
                    type=ftype,
                    reference_to=ref,
                    relationship_name=rel,
                    updateable=False,
                    createable=False,
                    system=True,
                    default=False if ftype == "boolean" else None,
                ),
            )
        objects[obj_name] = ObjectDef(obj_name, str(obj_spec["key_prefix"]), fields)
    for obj in objects.values():
        for f in obj.fields.values():
            if f.child_relationship and f.reference_to in objects:
                parent = objects[f.reference_to]
                parent.children[f.child_relationship.lower()] = ChildRelationship(
                    f.child_relationship, obj.name, f.name
                )
    for obj in objects.values():
        for f in obj.fields.values():
            if f.reference_to is not None and f.reference_to not in objects:
                raise ValueError(f"{obj.name}.{f.name} references unknown object {f.reference_to}")
    return Schema(objects, tuple(currencies), sets)


def _merge_value_sets(data: dict[str, Any], deployed: dict[str, dict[str, Any]]) -> dict[str, ValueSet]:
    """The TOML's standard value sets, each replaced by the SFDX project's file of that name if it has
    one. Value sets the TOML does not name are ignored: their picklists are fixed in the TOML."""
    sets: dict[str, ValueSet] = {}
    for name, spec in data.get("standard_value_sets", {}).items():
        spec = deployed.get(name, spec)
        values, default = tuple(spec["values"]), spec.get("default")
        closed = frozenset(spec.get("closed", ()))
        if (default is not None and default not in values) or not closed <= set(values):
            raise ValueError(f"standard value set {name}: its default and closed values must be its values")
        sets[name] = ValueSet(name, values, default, closed)
    return sets


def _merge_custom(
    data: dict[str, Any], custom: dict[str, dict[str, Any]], currencies: list[str]
) -> dict[str, dict[str, Any]]:
    specs: dict[str, dict[str, Any]] = {name: dict(spec) for name, spec in data["objects"].items()}
    for name, spec in specs.items():
        defined_here = [name] if name.endswith("__c") else [f for f in spec["fields"] if f.endswith("__c")]
        if defined_here:
            raise ValueError(
                f"schema.toml defines {name}: {', '.join(defined_here)}; custom objects and fields come "
                "from the SFDX project (the sandbox's metadata_path), as a real org gets them by a deploy"
            )
    prefixes: dict[str, str] = data.get("custom_object_key_prefixes", {})
    taken = {spec["key_prefix"] for spec in specs.values()}
    for name, entry in custom.items():
        if entry["custom"]:
            # What the org adds to every custom object: Id, Name and, in a multi-currency org, the currency.
            fields: dict[str, Any] = {"Id": {"type": "id"}, "Name": entry["name_field"]}
            if len(currencies) > 1:
                fields["CurrencyIsoCode"] = {
                    "type": "picklist",
                    "values_from": "org.currencies",
                    "default": currencies[0],
                }
            prefix = prefixes.get(name) or _free_key_prefix(name, taken)
            taken.add(prefix)
            specs[name] = {"key_prefix": prefix, "fields": {**fields, **entry["fields"]}}
            continue
        targets = [o for o in ACTIVITY_OBJECTS if o in specs] if name == "Activity" else [name]
        if not targets or targets[0] not in specs:
            raise ValueError(f"the SFDX project has fields on {name}, an object schema.toml does not define")
        for target in targets:
            specs[target] = {**specs[target], "fields": {**specs[target]["fields"], **entry["fields"]}}
    return specs


def _free_key_prefix(name: str, taken: set[str]) -> str:
    """A key prefix for a custom object no table names: stable for its name (ids survive restarts)."""
    n = zlib.crc32(name.encode())
    while (prefix := f"a{_BASE62[n // 62 % 62]}{_BASE62[n % 62]}") in taken:
        n += 1
    return prefix


@cache
def load_schema(path: Path = SCHEMA_PATH, metadata: Path | None = None) -> Schema:
    """``path``'s standard objects plus the custom ones of the SFDX project at ``metadata`` (if any)."""
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    if metadata is None:
        return parse_schema(data)
    return parse_schema(data, read_objects(metadata), read_standard_value_sets(metadata))
