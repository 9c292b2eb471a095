"""The declarative mapping file: loading and validating it, with errors that name the line and the field.

The file (`mapping.toml`, shipped with defaults) holds the order workflow's tables (`[currencies]`,
`[customer]`, `[sales_order]`) and the Account/Contact field rules (`[[account.fields]]`,
`[[contact.fields]]`, see `q2c.domain.sync.FieldRule`). `load_mapping` validates the shape with pydantic,
then cross-checks what a schema cannot see (field names, duplicate targets, table names), and reports
every problem as `mapping file <path> line <n>: <field path>: <problem>`.

Custom fields are checked against the metadata q2c ships (`q2c.domain.metadata`): a Salesforce `__c`
field must be in the SFDX project, a NetSuite `custentity_` / `custbody_` field in the SDF project, so
a field the mapping writes is one a user's orgs get when they deploy them. Standard Salesforce fields are
checked against the short list below; NetSuite's standard fields are not checked (the REST record API
names the unknown one when it refuses a write).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from q2c.domain.catalog import STANDARD_PRICE_BOOK, CatalogRules, PriceBookRule
from q2c.domain.metadata import SDF_OBJECTS, SFDX_SOURCE, Metadata, MetadataError, load_metadata
from q2c.domain.sync import Direction, FieldRule, Master, Side, Transform

DEFAULT_MAPPING_PATH = Path(__file__).with_name("mapping.toml")
# The standard Salesforce fields a mapping may name: those q2c is tested against (the Salesforce sandbox
# has each of them; tests/unit/test_metadata.py checks). Custom fields come from the SFDX project.
STANDARD_FIELDS: dict[str, frozenset[str]] = {
    "Account": frozenset(
        "Id Name Type Website Phone Industry CurrencyIsoCode OwnerId BillingStreet BillingCity BillingState "
        "BillingPostalCode BillingCountry".split()
    ),
    "Contact": frozenset("Id FirstName LastName Name Email Phone Title AccountId OwnerId".split()),
}
# NetSuite custom field script ids start with one of these (SDF's prefix per custom field type).
NETSUITE_CUSTOM_PREFIXES = ("custentity_", "custbody_", "custitem_", "custcol_")

Loc = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


class CurrencyMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subsidiary: str = Field(min_length=1)
    netsuite_currency: str = Field(min_length=1)


class CustomerMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    company_name_max_length: int = Field(default=83, ge=1)


class SalesOrderMapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opportunity_field: str = Field(default="custbody_sf_opportunity_id", pattern=r"^custbody_\w+$")


class PriceBookMapping(BaseModel):
    """One NetSuite price level feeding one Salesforce price book."""

    model_config = ConfigDict(extra="forbid")

    price_level: str = Field(min_length=1)  # NetSuite price level internal id (1 = Base Price)
    price_book: str = Field(min_length=1)  # "standard", or the Name of a Salesforce Pricebook2


class CatalogMapping(BaseModel):
    """NetSuite items and prices -> Salesforce Product2 and PricebookEntry (NetSuite is master)."""

    model_config = ConfigDict(extra="forbid")

    # Salesforce currencies to keep price book entries in (each must be a [currencies] key, whose
    # netsuite_currency is the NetSuite currency its prices are read in); empty: every [currencies] key.
    currencies: list[str] = Field(default_factory=list)
    price_books: list[PriceBookMapping] = Field(
        default_factory=lambda: [PriceBookMapping(price_level="1", price_book="standard")]
    )
    # NetSuite item types (SuiteQL item.itemtype) synced as products.
    item_types: list[str] = Field(default_factory=lambda: ["InvtPart", "NonInvtPart", "Service", "Group"])
    # NetSuite item type -> Product2.Family (a value of the Family picklist); a type missing: no family.
    families: dict[str, str] = Field(default_factory=dict)
    # product: an item group becomes one product listing its components (Components__c), priced at the
    # sum of its members' prices; unsupported: item groups are reported and not synced.
    item_groups: Literal["product", "unsupported"] = "product"


class InventoryMapping(BaseModel):
    """NetSuite stock -> Salesforce: totals on Product2 always; per location as Inventory_Level__c."""

    model_config = ConfigDict(extra="forbid")

    per_location: bool = True


class ObjectMapping(BaseModel):
    """The field rules of one object pair (Account <-> customer, Contact <-> contact)."""

    model_config = ConfigDict(extra="forbid")

    fields: list[FieldRule] = Field(default_factory=list)


class Mapping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currencies: dict[str, CurrencyMapping] = Field(default_factory=dict)
    customer: CustomerMapping = Field(default_factory=CustomerMapping)
    sales_order: SalesOrderMapping = Field(default_factory=SalesOrderMapping)
    account: ObjectMapping = Field(default_factory=ObjectMapping)
    contact: ObjectMapping = Field(default_factory=ObjectMapping)
    catalog: CatalogMapping = Field(default_factory=CatalogMapping)
    inventory: InventoryMapping = Field(default_factory=InventoryMapping)


class MappingError(ValueError):
    """The mapping file cannot be used; the message names the file, the line, the field and the problem."""


# Tables `map_from` may name: table -> (default column, allowed columns).
_LOOKUP_TABLES = {"currencies": ("netsuite_currency", tuple(CurrencyMapping.model_fields))}
_SALESFORCE_OBJECTS = {"account": "Account", "contact": "Contact"}
_NETSUITE_RECORDS = {"account": "customer", "contact": "contact"}


def load_mapping(path: Path | None = None, *, metadata: Path | None = None) -> Mapping:
    """Read, validate and resolve the mapping file (default: the shipped `mapping.toml`), checking its
    custom fields against the metadata directory (default: the shipped `metadata/`).

    Raises `MappingError` listing every problem found, each with its line when it can be located.
    """
    mapping = load_checked_toml(
        path or DEFAULT_MAPPING_PATH,
        Mapping,
        kind="mapping file",
        error=MappingError,
        metadata=metadata,
        cross_check=_cross_check,
    )
    return _resolve_lookups(mapping)


def load_checked_toml(
    path: Path,
    model: type[M],
    *,
    kind: str,
    error: type[ValueError],
    metadata: Path | None,
    cross_check: Callable[[M, Metadata], Iterable[tuple[Loc, str]]],
) -> M:
    """A TOML file of q2c's (``kind``: "mapping file", "onboarding file") read into ``model`` and checked
    against the metadata; every problem becomes one ``error`` naming the file, line and field."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise error(f"{kind} {path} does not exist") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # tomllib's message already says "(at line 3, column 7)"
        raise error(f"{kind} {path} is not valid TOML: {exc}") from exc
    try:
        loaded = model.model_validate(raw)
    except ValidationError as exc:
        problems = [(tuple(err["loc"]), err["msg"]) for err in exc.errors()]
        raise error(format_problems(path, text, problems, kind=kind)) from exc
    try:
        meta = load_metadata(metadata)
    except MetadataError as exc:
        raise error(f"{kind} {path} cannot be checked: {exc}") from exc
    found = list(cross_check(loaded, meta))
    if found:
        raise error(format_problems(path, text, found, kind=kind))
    return loaded


# --- cross-checks -------------------------------------------------------------------------------------


def _cross_check(mapping: Mapping, meta: Metadata) -> Iterator[tuple[Loc, str]]:
    yield from _check_catalog(mapping)
    opportunity_field = mapping.sales_order.opportunity_field
    if not meta.netsuite.has_field("salesOrder", opportunity_field):
        yield ("sales_order", "opportunity_field"), _missing_in_sdf(meta, "salesOrder", opportunity_field)
    for section, sf_object in _SALESFORCE_OBJECTS.items():
        rules: list[FieldRule] = getattr(mapping, section).fields
        writers: dict[tuple[Side, str], int] = {}
        for i, rule in enumerate(rules):
            at: Loc = (section, "fields", i)
            if problem := _salesforce_field_problem(meta, sf_object, rule.salesforce):
                yield (*at, "salesforce"), problem
            record = _NETSUITE_RECORDS[section]
            if rule.netsuite.startswith(NETSUITE_CUSTOM_PREFIXES) and not meta.netsuite.has_field(
                record, rule.netsuite
            ):
                yield (*at, "netsuite"), _missing_in_sdf(meta, record, rule.netsuite)
            if (rule.direction is Direction.TO_NETSUITE and rule.master is Master.NETSUITE) or (
                rule.direction is Direction.TO_SALESFORCE and rule.master is Master.SALESFORCE
            ):
                yield (
                    (*at, "master"),
                    f"{rule.master} never flows {rule.direction}; the rule would do nothing",
                )
            for target in Side:
                if not _writes(rule, target):
                    continue
                key = (target, rule.target_field(target))
                if key in writers:
                    yield (
                        (*at, target.value),
                        f"{target} field {key[1]!r} is already written by {section}.fields[{writers[key]}]",
                    )
                else:
                    writers[key] = i
            yield from _check_transform(mapping, rule, at)


def _check_catalog(mapping: Mapping) -> Iterator[tuple[Loc, str]]:
    catalog = mapping.catalog
    for i, code in enumerate(catalog.currencies):
        if code not in mapping.currencies:
            yield (
                ("catalog", "currencies", i),
                f"{code!r} is not a [currencies] key, so q2c does not know its NetSuite currency; add "
                f"[currencies.{code}] or remove it here",
            )
    standard = [i for i, rule in enumerate(catalog.price_books) if rule.price_book == STANDARD_PRICE_BOOK]
    if not standard:
        yield (
            ("catalog", "price_books"),
            'no price level feeds the standard price book: add [[catalog.price_books]] with price_level = "1" '
            'and price_book = "standard" (Salesforce needs a standard price before any other)',
        )
    levels: dict[str, int] = {}
    books: dict[str, int] = {}
    for i, rule in enumerate(catalog.price_books):
        if rule.price_level in levels:
            yield (
                ("catalog", "price_books", i, "price_level"),
                f"price level {rule.price_level} already feeds catalog.price_books[{levels[rule.price_level]}]",
            )
        if rule.price_book in books:
            yield (
                ("catalog", "price_books", i, "price_book"),
                f"price book {rule.price_book!r} is already fed by catalog.price_books[{books[rule.price_book]}]",
            )
        levels.setdefault(rule.price_level, i)
        books.setdefault(rule.price_book, i)
    unknown = sorted(set(catalog.families) - set(catalog.item_types))
    if unknown:
        yield (("catalog", "families"), f"item types {unknown} are not in catalog.item_types")


def catalog_rules(mapping: Mapping) -> CatalogRules:
    """The [catalog] section as the catalog planner takes it."""
    codes = mapping.catalog.currencies or list(mapping.currencies)
    return CatalogRules(
        currencies={code: mapping.currencies[code].netsuite_currency for code in codes},
        price_books=[PriceBookRule(**rule.model_dump()) for rule in mapping.catalog.price_books],
        families=dict(mapping.catalog.families),
        item_groups=mapping.catalog.item_groups,
    )


def _salesforce_field_problem(meta: Metadata, sf_object: str, name: str) -> str | None:
    if not name.endswith("__c"):
        if name in STANDARD_FIELDS[sf_object]:
            return None
        return f"{sf_object} has no field {name!r} (custom fields end in __c)"
    if meta.salesforce.field(sf_object, name) is not None:
        return None
    where = meta.root / SFDX_SOURCE / "objects" / sf_object / "fields" / f"{name}.field-meta.xml"
    return f"{sf_object} has no custom field {name!r} in q2c's SFDX project: add {where} and deploy it to your org"


def _missing_in_sdf(meta: Metadata, record: str, script_id: str) -> str:
    where = meta.root / SDF_OBJECTS / f"{script_id}.xml"
    return (
        f"the NetSuite {record} has no custom field {script_id!r} in q2c's SDF project: add {where} "
        "(applying to that record) and deploy it to your account"
    )


def _writes(rule: FieldRule, target: Side) -> bool:
    if rule.direction is Direction.BOTH:
        return True
    return (rule.direction is Direction.TO_NETSUITE) == (target is Side.NETSUITE)


def _check_transform(mapping: Mapping, rule: FieldRule, at: Loc) -> Iterator[tuple[Loc, str]]:
    t = rule.transform
    table = t.map
    if t.map is not None and t.map_from is not None:
        yield (*at, "transform"), "give either map or map_from, not both"
        return
    if t.map_from is not None:
        table = _lookup_table(mapping, t.map_from)
        if table is None:
            names = ", ".join(f"{n}[.{'|'.join(cols)}]" for n, (_, cols) in _LOOKUP_TABLES.items())
            yield (*at, "transform", "map_from"), f"{t.map_from!r} is not a table of this file (use {names})"
            return
    if rule.reference and table is None and not rule.salesforce.endswith("__c"):
        yield (
            (*at, "reference"),
            "reference = true needs map_from or map (to NetSuite internal ids), "
            "or a custom __c field that holds the ids",
        )
    if table is not None and _writes(rule, Side.SALESFORCE):
        seen: dict[str, str] = {}
        for sf_value, ns_value in table.items():
            if ns_value in seen:
                yield (
                    (*at, "transform", "map_from" if t.map_from else "map"),
                    f"NetSuite value {ns_value!r} comes from both {seen[ns_value]!r} and {sf_value!r}, "
                    "so it cannot be mapped back to Salesforce",
                )
                break
            seen[ns_value] = sf_value


def _lookup_table(mapping: Mapping, map_from: str) -> dict[str, str] | None:
    name, _, column = map_from.partition(".")
    if name not in _LOOKUP_TABLES:
        return None
    default, columns = _LOOKUP_TABLES[name]
    column = column or default
    if column not in columns:
        return None
    rows: dict[str, BaseModel] = getattr(mapping, name)
    return {key: str(getattr(row, column)) for key, row in rows.items()}


def _resolve_lookups(mapping: Mapping) -> Mapping:
    """Copy `map_from` tables into each rule's `map`, so rules carry everything `sync` needs."""
    updates: dict[str, ObjectMapping] = {}
    for section in _SALESFORCE_OBJECTS:
        rules: list[FieldRule] = []
        for rule in getattr(mapping, section).fields:
            if rule.transform.map_from is not None:
                table = _lookup_table(mapping, rule.transform.map_from)
                transform = Transform.model_validate({**rule.transform.model_dump(), "map": table})
                rule = rule.model_copy(update={"transform": transform})
            rules.append(rule)
        updates[section] = ObjectMapping(fields=rules)
    return mapping.model_copy(update=updates)


# --- locating a field path in the file ------------------------------------------------------------------

_KEY = r'(?:[A-Za-z0-9_-]+|"[^"]*"|\'[^\']*\')'
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_AOT_HEADER = re.compile(rf"^\s*\[\[\s*({_DOTTED})\s*\]\]")
_HEADER = re.compile(rf"^\s*\[\s*({_DOTTED})\s*\]")
_KEY_LINE = re.compile(rf"^\s*({_DOTTED})\s*=")


def _split_key(dotted: str) -> list[str]:
    return [part.strip().strip("\"'") for part in re.findall(_KEY, dotted)]


def key_lines(text: str) -> dict[Loc, int]:
    """Map each table header and key of a TOML text to its 1-based line, by field path.

    The path is the one pydantic reports: `("account", "fields", 3, "direction")` is the `direction` key
    of the fourth `[[account.fields]]` table. tomllib keeps no positions, hence this small scanner. It
    handles headers, arrays of tables (also nested), sub-tables such as `[account.fields.transform]` and
    dotted keys; keys inside inline tables resolve to the line of the key that holds the inline table.
    """
    lines: dict[Loc, int] = {}
    aot_count: dict[Loc, int] = {}  # array-of-tables path -> index of its last element
    current: Loc = ()
    in_multiline = False

    def resolve(parts: list[str]) -> Loc:
        # A header segment that names an array of tables means "its last element" (TOML's rule).
        path: Loc = ()
        for part in parts:
            path = (*path, part)
            if path in aot_count:
                path = (*path, aot_count[path])
        return path

    for number, line in enumerate(text.splitlines(), start=1):
        quotes = line.count('"""') + line.count("'''")
        if in_multiline:
            in_multiline = quotes % 2 == 0
            continue
        if m := _AOT_HEADER.match(line):
            parts = _split_key(m.group(1))
            array = (*resolve(parts[:-1]), parts[-1])
            aot_count[array] = aot_count.get(array, -1) + 1
            current = (*array, aot_count[array])
            lines.setdefault(array, number)
        elif m := _HEADER.match(line):
            current = resolve(_split_key(m.group(1)))
        elif m := _KEY_LINE.match(line):
            lines.setdefault((*current, *_split_key(m.group(1))), number)
            in_multiline = quotes % 2 == 1
            continue
        else:
            continue
        lines.setdefault(current, number)
    return lines


def line_for(lines: dict[Loc, int], loc: Loc) -> int | None:
    """The line of `loc`, or of its longest located prefix (a missing key points at its table)."""
    for end in range(len(loc), 0, -1):
        if (found := lines.get(tuple(loc[:end]))) is not None:
            return found
    return None


def format_loc(loc: Loc) -> str:
    """`("account", "fields", 3, "direction")` -> `account.fields[3].direction`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def format_problems(
    path: Path, text: str, problems: list[tuple[Loc, str]], *, kind: str = "mapping file"
) -> str:
    """`mapping file <path> line 42: account.fields[3].direction: <problem>`; several problems get a line each.
    ``kind`` names the file for a person ("mapping file", "onboarding file")."""
    lines = key_lines(text)
    located = sorted(((line_for(lines, loc), loc, msg) for loc, msg in problems), key=lambda p: p[0] or 0)
    rendered = [
        f"{path.name}{f' line {line}' if line is not None else ''}: {format_loc(loc)}: {msg}"
        for line, loc, msg in located
    ]
    if len(rendered) == 1:
        return f"{kind} {path.parent / rendered[0]}"
    return f"{kind} {path} has {len(rendered)} problems:\n  " + "\n  ".join(rendered)
