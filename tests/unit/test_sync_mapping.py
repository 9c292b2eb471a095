"""The Account/Contact field rules: the mapping file, its validation, transforms, mastership, echoes."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from q2c.domain.mapping import DEFAULT_MAPPING_PATH, MappingError, key_lines, line_for, load_mapping
from q2c.domain.metadata import SDF_OBJECTS, SFDX_NS, SFDX_SOURCE, default_metadata_dir
from q2c.domain.sync import (
    Direction,
    FieldRule,
    MappingValueError,
    Master,
    Side,
    is_echo,
    resolve_conflict,
    target_fields,
    to_netsuite,
    to_salesforce,
    written_hash,
)

MAPPING = load_mapping()
ACCOUNT = MAPPING.account.fields
CONTACT = MAPPING.contact.fields

_RULE = """
[[account.fields]]
group = "identity"
salesforce = "Name"
netsuite = "companyName"
direction = "both"
master = "salesforce_until_customer"
"""


def _rule(name: str) -> FieldRule:
    return next(r for r in ACCOUNT if r.salesforce == name)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.toml"
    path.write_text('[currencies.USD]\nsubsidiary = "1"\nnetsuite_currency = "1"\n' + text)
    return path


# --- the shipped file -----------------------------------------------------------------------------------


def test_shipped_file_loads_with_defaults() -> None:
    by_sf = {r.salesforce: r for r in ACCOUNT}
    assert by_sf["Name"].netsuite == "companyName"
    assert by_sf["Name"].transform.max_length == MAPPING.customer.company_name_max_length == 83
    assert by_sf["Name"].master is Master.SALESFORCE_UNTIL_CUSTOMER
    assert by_sf["CurrencyIsoCode"].reference and by_sf["CurrencyIsoCode"].direction is Direction.TO_NETSUITE
    assert by_sf["NetSuite_Balance__c"].netsuite == "balance"
    assert by_sf["NetSuite_Overdue_Balance__c"].master is Master.NETSUITE
    assert (
        by_sf["Industry"].transform.map is not None
        and by_sf["Industry"].transform.map["Technology"] == "TECH"
    )
    assert [r.netsuite for r in CONTACT] == ["firstName", "lastName", "email", "phone"]
    assert all(r.master is Master.SALESFORCE for r in CONTACT)
    # The order workflow's tables are untouched.
    assert MAPPING.currencies["EUR"].subsidiary == "3"
    assert MAPPING.sales_order.opportunity_field == "custbody_sf_opportunity_id"


def test_map_from_is_resolved_from_the_currencies_table() -> None:
    assert _rule("CurrencyIsoCode").transform.map == {"USD": "1", "CAD": "3", "GBP": "2", "EUR": "4"}


def test_appending_a_currency_after_the_field_tables_still_works(tmp_path: Path) -> None:
    # The integration test (and users) append [currencies.X] at the end of the file.
    path = tmp_path / "mapping.toml"
    path.write_text(
        DEFAULT_MAPPING_PATH.read_text() + '\n[currencies.JPY]\nsubsidiary = "1"\nnetsuite_currency = "5"\n'
    )
    mapping = load_mapping(path)
    assert mapping.currencies["JPY"].netsuite_currency == "5"
    assert next(r for r in mapping.account.fields if r.netsuite == "currency").transform.map == {
        "USD": "1",
        "CAD": "3",
        "GBP": "2",
        "EUR": "4",
        "JPY": "5",
    }


def test_a_file_without_field_tables_is_valid(tmp_path: Path) -> None:
    assert load_mapping(_write(tmp_path, "")).account.fields == []


# --- the line locator -----------------------------------------------------------------------------------


def test_key_lines_locates_array_of_tables_subtables_and_dotted_keys() -> None:
    text = "\n".join(
        [
            "[currencies.USD]",  # 1
            'subsidiary = "1"',  # 2
            "[[account.fields]]",  # 3
            'salesforce = "Name"',  # 4
            "[[account.fields]]",  # 5
            '  "salesforce" = "Phone"',  # 6
            "transform.max_length = 3",  # 7
            "[account.fields.transform.map]",  # 8
            'A = "B"',  # 9
            "[[contact.fields]]  # a comment",  # 10
            'direction = "x"',  # 11
            'note = """',  # 12
            "direction = 'inside a string'",  # 13
            '"""',  # 14
        ]
    )
    lines = key_lines(text)
    assert lines[("currencies", "USD", "subsidiary")] == 2
    assert lines[("account", "fields", 0, "salesforce")] == 4
    assert lines[("account", "fields", 1)] == 5
    assert lines[("account", "fields", 1, "salesforce")] == 6
    assert lines[("account", "fields", 1, "transform", "max_length")] == 7
    assert lines[("account", "fields", 1, "transform", "map", "A")] == 9
    assert lines[("contact", "fields", 0, "direction")] == 11
    # A missing key points at its table; a key inside an inline table at the key holding it.
    assert line_for(lines, ("account", "fields", 0, "direction")) == 3
    assert line_for(lines, ("currencies", "USD", "subsidiary", "deeper")) == 2
    assert line_for(lines, ("nowhere",)) is None


# --- validation errors name the line and the field ------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_line", "expected"),
    [
        (
            'direction = "sideways"',
            r"account\.fields\[0\]\.direction: Input should be 'both', 'to_netsuite' or 'to_salesforce'",
        ),
        ("colour = 1", r"account\.fields\[0\]\.colour: Extra inputs are not permitted"),
        ("transform = { max_length = 0 }", r"account\.fields\[0\]\.transform\.max_length: Input should be"),
    ],
)
def test_schema_errors_name_line_and_field(tmp_path: Path, bad_line: str, expected: str) -> None:
    rule = _RULE.replace('direction = "both"\n', "") if bad_line.startswith("direction") else _RULE
    path = _write(tmp_path, rule + bad_line + "\n")
    line = path.read_text().splitlines().index(bad_line) + 1
    with pytest.raises(MappingError, match=rf"mapping\.toml line {line}: {expected}"):
        load_mapping(path)


def test_missing_key_points_at_its_table_header(tmp_path: Path) -> None:
    path = _write(tmp_path, _RULE + _RULE.replace('master = "salesforce_until_customer"\n', ""))
    header = [i for i, line in enumerate(path.read_text().splitlines(), 1) if line == "[[account.fields]]"][1]
    with pytest.raises(MappingError, match=rf"line {header}: account\.fields\[1\]\.master: Field required"):
        load_mapping(path)


@pytest.mark.parametrize(
    ("rule", "bad_key", "expected"),
    [
        (
            _RULE.replace('"Name"', '"Nmae"'),
            "salesforce",
            r"account\.fields\[0\]\.salesforce: Account has no field 'Nmae' \(custom fields end in __c\)",
        ),
        (
            _RULE.replace('"both"', '"to_netsuite"').replace('"salesforce_until_customer"', '"netsuite"'),
            "master",
            r"account\.fields\[0\]\.master: netsuite never flows to_netsuite",
        ),
        (
            _RULE + 'transform = { map_from = "subsidiaries" }\n',
            "transform",
            r"account\.fields\[0\]\.transform\.map_from: 'subsidiaries' is not a table of this file",
        ),
        (
            _RULE + "reference = true\n",
            "reference",
            r"account\.fields\[0\]\.reference: reference = true needs map_from or map",
        ),
        (
            _RULE + 'transform = { map = { A = "X", B = "X" } }\n',
            "transform",
            r"account\.fields\[0\]\.transform\.map: NetSuite value 'X' comes from both 'A' and 'B'",
        ),
        (
            _RULE + 'transform = { map = { A = "X" }, map_from = "currencies" }\n',
            "transform",
            r"account\.fields\[0\]\.transform: give either map or map_from, not both",
        ),
    ],
)
def test_cross_check_errors_name_line_and_field(
    tmp_path: Path, rule: str, bad_key: str, expected: str
) -> None:
    path = _write(tmp_path, rule)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith(bad_key))
    with pytest.raises(MappingError, match=rf"mapping\.toml line {line}: {expected}"):
        load_mapping(path)


def _metadata_with(tmp_path: Path, *, account: str | None = None, customer: str | None = None) -> Path:
    """A copy of the shipped metadata/ with one more Account field (SFDX) and/or customer field (SDF)."""
    root = tmp_path / "metadata"
    shutil.copytree(default_metadata_dir(), root)
    if account:
        (root / SFDX_SOURCE / "objects" / "Account" / "fields" / f"{account}.field-meta.xml").write_text(
            f'<CustomField xmlns="{SFDX_NS}"><fullName>{account}</fullName><label>X</label>'
            "<length>80</length><type>Text</type></CustomField>"
        )
    if customer:
        (root / SDF_OBJECTS / f"{customer}.xml").write_text(
            f'<entitycustomfield scriptid="{customer}"><label>X</label><fieldtype>TEXT</fieldtype>'
            "<appliestocustomer>T</appliestocustomer></entitycustomfield>"
        )
    return root


def test_custom_fields_must_be_in_the_shipped_metadata(tmp_path: Path) -> None:
    # A custom field on either side is one the user's orgs get by deploying metadata/: a mapping naming
    # one that is not there would write a field the org lacks.
    rule = _RULE.replace('"Name"', '"Region__c"').replace('"companyName"', '"custentity_region"')
    path = _write(tmp_path, rule)
    lines = path.read_text().splitlines()
    sf_line, ns_line = (
        lines.index(f'{key} = "{value}"') + 1
        for key, value in (("salesforce", "Region__c"), ("netsuite", "custentity_region"))
    )
    with pytest.raises(MappingError) as info:
        load_mapping(path)
    message = str(info.value)
    assert re.search(
        rf"line {sf_line}: account\.fields\[0\]\.salesforce: Account has no custom field 'Region__c' in q2c's "
        r"SFDX project: add \S+/objects/Account/fields/Region__c\.field-meta\.xml",
        message,
    ), message
    assert re.search(
        rf"line {ns_line}: account\.fields\[0\]\.netsuite: the NetSuite customer has no custom field "
        r"'custentity_region' in q2c's SDF project: add \S+/Objects/custentity_region\.xml",
        message,
    ), message
    metadata = _metadata_with(tmp_path, account="Region__c", customer="custentity_region")
    assert load_mapping(path, metadata=metadata).account.fields[0].salesforce == "Region__c"


def test_the_sales_order_field_must_be_in_the_sdf_project(tmp_path: Path) -> None:
    path = _write(tmp_path, '[sales_order]\nopportunity_field = "custbody_deal"\n')
    with pytest.raises(
        MappingError, match=r"line 5: sales_order\.opportunity_field: the NetSuite salesOrder"
    ):
        load_mapping(path)


def test_duplicate_target_in_the_same_direction_is_an_error(tmp_path: Path) -> None:
    second = _RULE.replace('"Name"', '"Legal_Name__c"')  # two Salesforce fields -> one companyName
    metadata = _metadata_with(tmp_path, account="Legal_Name__c")
    path = _write(tmp_path, _RULE + second)
    line = [i for i, text in enumerate(path.read_text().splitlines(), 1) if text.startswith("netsuite =")][1]
    with pytest.raises(
        MappingError,
        match=rf"line {line}: account\.fields\[1\]\.netsuite: netsuite field 'companyName' is already written "
        r"by account\.fields\[0\]",
    ):
        load_mapping(path, metadata=metadata)
    # Reading one NetSuite field into a second Salesforce field is not a duplicate write.
    reader = second.replace('"both"', '"to_salesforce"').replace('"salesforce_until_customer"', '"netsuite"')
    assert len(load_mapping(_write(tmp_path, _RULE + reader), metadata=metadata).account.fields) == 2


def test_every_problem_is_reported_at_once_in_line_order(tmp_path: Path) -> None:
    path = _write(tmp_path, _RULE.replace('"both"', '"up"') + _RULE.replace('"identity"', '"Bad Group"'))
    with pytest.raises(MappingError) as info:
        load_mapping(path)
    message = str(info.value)
    assert message.index("account.fields[0].direction") < message.index("account.fields[1].group")


def test_toml_syntax_errors_keep_their_position(tmp_path: Path) -> None:
    path = _write(tmp_path, "[[account.fields]\n")
    with pytest.raises(MappingError, match=r"not valid TOML: .*line 4, column"):
        load_mapping(path)


# --- transforms -----------------------------------------------------------------------------------------


def test_prospect_values_to_netsuite() -> None:
    account = {
        "Id": "001A",
        "Name": "Acme Corporation " + "x" * 100,
        "Phone": " +1 555 0100 ",
        "Website": "https://acme.example",
        "CurrencyIsoCode": "EUR",
        "Industry": "Technology",
        "NetSuite_Balance__c": 12.5,  # NetSuite's field: never written from Salesforce
    }
    out = to_netsuite(ACCOUNT, account, is_customer=False)
    assert out == {
        "companyName": ("Acme Corporation " + "x" * 100)[:83],
        "phone": "+1 555 0100",
        "url": "https://acme.example",
        "currency": {"id": "4"},
        "custentity_industry": "TECH",
    }


def test_only_given_fields_are_mapped() -> None:
    assert to_netsuite(ACCOUNT, {"Id": "001A", "Phone": "1"}, is_customer=False) == {"phone": "1"}


def test_netsuite_values_to_salesforce_inverts_maps_and_unwraps_references() -> None:
    customer = {
        "id": "7",
        "companyName": "Acme",
        "custentity_industry": "HEALTH",
        "balance": 1500.0,
        "overdueBalance": 0,
        "currency": {"id": "4", "refName": "EUR"},  # to_netsuite only: not read back
    }
    assert to_salesforce(ACCOUNT, customer, is_customer=True) == {
        "Name": "Acme",
        "Industry": "Healthcare",
        "NetSuite_Balance__c": 1500.0,
        "NetSuite_Overdue_Balance__c": 0,
    }


def test_currency_map_reads_back_by_reference(tmp_path: Path) -> None:
    rule = FieldRule.model_validate(
        {
            "group": "finance",
            "salesforce": "CurrencyIsoCode",
            "netsuite": "currency",
            "direction": "both",
            "master": "salesforce",
            "reference": True,
            "transform": {"map": {"USD": "1", "EUR": "4"}, "map_from": "currencies"},
        }
    )
    assert to_netsuite([rule], {"CurrencyIsoCode": "USD"}, is_customer=True) == {"currency": {"id": "1"}}
    assert to_salesforce([rule], {"currency": {"id": "4", "refName": "EUR"}}, is_customer=True) == {
        "CurrencyIsoCode": "EUR"
    }
    assert to_salesforce([rule], {"currency": "4"}, is_customer=True) == {"CurrencyIsoCode": "EUR"}  # SuiteQL
    with pytest.raises(
        MappingValueError,
        match=r"record 9, field currency: value '3' has no entry in the map from currencies",
    ):
        to_salesforce([rule], {"id": "9", "currency": {"id": "3"}}, is_customer=True)


def test_unmapped_picklist_value_names_record_field_and_value() -> None:
    with pytest.raises(MappingValueError) as info:
        to_netsuite(ACCOUNT, {"Id": "001XYZ", "Industry": "Aerospace"}, is_customer=False)
    assert str(info.value) == (
        "record 001XYZ, field Industry: value 'Aerospace' has no entry in the picklist map to "
        "custentity_industry; add it to the mapping file"
    )
    assert (info.value.record_id, info.value.field) == ("001XYZ", "Industry")
    with pytest.raises(MappingValueError, match=r"record 7, field custentity_industry: value 'SPACE'"):
        to_salesforce(ACCOUNT, {"id": "7", "custentity_industry": "SPACE"}, is_customer=False)


def test_cleared_values_pass_through() -> None:
    assert to_netsuite(ACCOUNT, {"Industry": None, "CurrencyIsoCode": None}, is_customer=False) == {
        "custentity_industry": None,
        "currency": None,
    }


def test_contact_transforms() -> None:
    contact = {"Id": "003A", "FirstName": " Ada ", "LastName": "L" * 40, "Email": " Ada@Example.COM "}
    assert to_netsuite(CONTACT, contact, is_customer=True) == {
        "firstName": "Ada",
        "lastName": "L" * 32,
        "email": "ada@example.com",
    }
    assert to_salesforce(CONTACT, {"firstName": "Ada"}, is_customer=True) == {}  # Salesforce -> NetSuite only


# --- mastership and conflicts ---------------------------------------------------------------------------


def test_mastership_switches_when_the_prospect_becomes_a_customer() -> None:
    name, currency, balance = _rule("Name"), _rule("CurrencyIsoCode"), _rule("NetSuite_Balance__c")
    assert name.master_side(is_customer=False) is Side.SALESFORCE
    assert name.master_side(is_customer=True) is Side.NETSUITE
    assert balance.master_side(is_customer=False) is Side.NETSUITE
    # A one-way field sourced by its master flows only while that master holds.
    assert to_netsuite([currency], {"CurrencyIsoCode": "EUR"}, is_customer=False) == {"currency": {"id": "4"}}
    assert to_netsuite([currency], {"CurrencyIsoCode": "EUR"}, is_customer=True) == {}
    assert "currency" in target_fields(ACCOUNT, Side.NETSUITE, is_customer=False)
    assert "currency" not in target_fields(ACCOUNT, Side.NETSUITE, is_customer=True)
    # Shared fields keep flowing both ways; the master only breaks ties (below).
    assert to_netsuite([name], {"Name": "Acme"}, is_customer=True) == {"companyName": "Acme"}


T0 = dt.datetime(2026, 5, 1, 12, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("sf_at", "ns_at", "is_customer", "winner"),
    [
        (T0 + dt.timedelta(minutes=1), T0, True, Side.SALESFORCE),  # newer wins, even against the master
        (T0, T0 + dt.timedelta(minutes=1), False, Side.NETSUITE),
        (T0, T0, False, Side.SALESFORCE),  # tie -> master (prospect: Salesforce)
        (T0, T0, True, Side.NETSUITE),  # tie -> master (customer: NetSuite)
        # NetSuite reports whole seconds: a sub-second lead is a tie.
        (T0 + dt.timedelta(milliseconds=700), T0, True, Side.NETSUITE),
        # Same instant in another zone.
        (T0, T0.astimezone(dt.timezone(dt.timedelta(hours=-7))), False, Side.SALESFORCE),
    ],
)
def test_resolve_conflict_on_a_shared_field(
    sf_at: dt.datetime, ns_at: dt.datetime, is_customer: bool, winner: Side
) -> None:
    assert resolve_conflict(_rule("Name"), sf_at, ns_at, is_customer=is_customer) is winner


def test_resolve_conflict_one_way_fields_and_naive_times() -> None:
    later = T0 + dt.timedelta(hours=1)
    assert resolve_conflict(_rule("NetSuite_Balance__c"), later, T0, is_customer=True) is Side.NETSUITE
    with pytest.raises(ValueError, match="timezone-aware"):
        resolve_conflict(_rule("Name"), T0.replace(tzinfo=None), T0, is_customer=True)


# --- echo guard -----------------------------------------------------------------------------------------


def test_written_hash_is_stable_over_key_order_and_number_formatting() -> None:
    written = {"companyName": "Acme", "balance": 1500, "currency": {"id": "4"}, "phone": ""}
    read_back = {
        "phone": None,
        "currency": {"id": "4", "refName": "EUR", "links": []},
        "balance": Decimal("1.5E3"),
        "companyName": "Acme",
    }
    assert written_hash(written) == written_hash(read_back)
    assert written_hash({"x": 1.10}) == written_hash({"x": Decimal("1.1000")})
    assert is_echo(read_back, written_hash(written))


def test_written_hash_changes_with_a_real_change() -> None:
    base = written_hash({"companyName": "Acme", "balance": 1500})
    assert written_hash({"companyName": "Acme", "balance": 1500.01}) != base
    assert written_hash({"companyName": "ACME", "balance": 1500}) != base
    assert written_hash({"companyName": "Acme", "balance": "1500"}) != base  # a string is not a number
    assert written_hash({"companyName": "Acme", "balance": 1500, "phone": "1"}) != base
    assert written_hash({"flag": True}) != written_hash({"flag": 1})
    assert not is_echo({"companyName": "Acme"}, None)
