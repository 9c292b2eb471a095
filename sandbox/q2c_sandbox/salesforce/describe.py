"""Describe results (global, per object, per field) generated from the schema."""

from __future__ import annotations

from typing import Any

from q2c_sandbox.salesforce.schema import FieldDef, ObjectDef, Schema

_PRECISION = {"currency": (18, 2), "double": (18, 2), "percent": (18, 2), "int": (9, 0)}


def _urls(obj: ObjectDef, version: str) -> dict[str, str]:
    base = f"/services/data/{version}/sobjects/{obj.name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def object_summary(obj: ObjectDef, version: str) -> dict[str, Any]:
    return {
        "name": obj.name,
        "label": obj.label,
        "labelPlural": f"{obj.label}s",
        "keyPrefix": obj.key_prefix,
        "custom": obj.name.endswith("__c"),
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "layoutable": True,
        "urls": _urls(obj, version),
    }


def describe_global(schema: Schema, version: str) -> dict[str, Any]:
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [object_summary(o, version) for o in schema.objects.values()],
    }


def describe_field(f: FieldDef) -> dict[str, Any]:
    precision, scale = _PRECISION.get(f.type, (0, 0))
    length = f.length or (18 if f.type in ("id", "reference") else 0)
    return {
        "name": f.name,
        "label": f.label,
        "type": f.type,
        "soapType": _soap_type(f),
        "length": length if f.is_text or f.type in ("id", "reference") else 0,
        "precision": precision,
        "scale": scale,
        "digits": 0,
        "custom": f.custom,
        "nillable": not f.required and f.type not in ("boolean", "id") and not f.system,
        "createable": f.createable,
        "updateable": f.updateable,
        "defaultedOnCreate": f.default is not None or f.type in ("boolean", "id") or f.system,
        "defaultValue": f.default,
        "calculated": False,
        "externalId": f.external_id,
        "unique": f.unique,
        "idLookup": f.type == "id" or f.external_id or f.unique,
        "filterable": True,
        "sortable": f.type != "textarea",
        "groupable": f.type not in ("textarea", "double", "currency", "percent", "datetime"),
        "caseSensitive": False,
        "restrictedPicklist": f.type == "picklist",
        "picklistValues": [
            {"value": v, "label": v, "active": True, "defaultValue": v == f.default, "validFor": None}
            for v in f.values
        ],
        "referenceTo": [f.reference_to] if f.reference_to else [],
        "relationshipName": f.relationship_name,
        "cascadeDelete": False,
    }


def _soap_type(f: FieldDef) -> str:
    return {
        "id": "tns:ID",
        "reference": "tns:ID",
        "boolean": "xsd:boolean",
        "currency": "xsd:double",
        "double": "xsd:double",
        "percent": "xsd:double",
        "int": "xsd:int",
        "date": "xsd:date",
        "datetime": "xsd:dateTime",
    }.get(f.type, "xsd:string")


def describe_object(schema: Schema, obj: ObjectDef, version: str) -> dict[str, Any]:
    children = [
        {
            "childSObject": child.name,
            "field": f.name,
            "relationshipName": f.child_relationship,
            "cascadeDelete": child.name == "OpportunityLineItem" and f.reference_to == "Opportunity",
            "restrictedDelete": False,
        }
        for child in schema.objects.values()
        for f in child.fields.values()
        if f.reference_to == obj.name
    ]
    return {
        **object_summary(obj, version),
        "fields": [describe_field(f) for f in obj.fields.values()],
        "childRelationships": children,
        "recordTypeInfos": [],
    }
