"""Matching an unlinked account before creating one: normalization, domains and the match rules."""

from __future__ import annotations

import re

import pytest

from q2c.domain.matching import (
    AccountCandidate,
    MatchKind,
    MatchRule,
    email_domain,
    match,
    name_pattern,
    normalize_company_name,
)
from q2c.domain.sync import Side


@pytest.mark.parametrize(
    "name",
    [
        "Acme, Inc.",
        "ACME Inc",
        "acme incorporated",
        "The Acme Inc.",
        "Acme LLC",
        "Acme L.L.C.",
        "Acme Co., Ltd.",
        "Acme Pty Ltd",
        "Acme GmbH & Co. KG",
        "Acme S.A.",
        "Acme K.K.",
        "Acme Corp.",
        "  acme   corporation ",
        "Acme Limited",
        "ACME PLC",
        "Acme B.V.",
    ],
)
def test_legal_forms_case_and_punctuation_normalize_away(name: str) -> None:
    assert normalize_company_name(name) == "acme"


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Müller GmbH", "Muller GmbH"),
        ("Société Générale S.A.", "Societe Generale SA"),
        ("McDonald's Corporation", "McDonalds Corp"),
        ("Johnson & Johnson", "Johnson and Johnson"),
        ("Hewlett-Packard Company", "Hewlett Packard"),
    ],
)
def test_equivalent_names(left: str, right: str) -> None:
    assert normalize_company_name(left) == normalize_company_name(right)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Inc", "inc"),  # a suffix that is the whole name is the name
        ("Inc.", "inc"),
        ("The Company", "company"),
        ("The", "the"),
        ("Acme Industries", "acme industries"),  # not a legal form
        ("Sachs & Co", "sachs"),
        ("Inc Magazine LLC", "inc magazine"),  # only suffixes go, not a leading "Inc"
    ],
)
def test_normalization_keeps_what_is_the_name(name: str, expected: str) -> None:
    assert normalize_company_name(name) == expected


def test_different_companies_stay_different() -> None:
    assert normalize_company_name("Acme Inc") != normalize_company_name("Acme Labs Inc")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jane@acme.com", "acme.com"),
        (" Jane.Doe@Mail.ACME.com ", "acme.com"),
        ("https://www.acme.com/about?x=1", "acme.com"),
        ("www.acme.com", "acme.com"),
        ("acme.com", "acme.com"),
        ("http://acme.co.uk:8080", "acme.co.uk"),
        ("sales@shop.acme.co.uk", "acme.co.uk"),
        ("jane@gmail.com", None),
        ("https://outlook.com", None),
        ("bob@yahoo.com", None),
        ("", None),
        (None, None),
        ("n/a", None),
        ("https://acme", None),  # no domain to speak of
    ],
)
def test_email_domain(value: str | None, expected: str | None) -> None:
    assert email_domain(value) == expected


def _sf(id: str = "001A", name: str = "Acme Inc", **extra: str) -> AccountCandidate:
    return AccountCandidate(side=Side.SALESFORCE, id=id, name=name, **extra)


def _ns(id: str, name: str, **extra: str) -> AccountCandidate:
    return AccountCandidate(side=Side.NETSUITE, id=id, name=name, **extra)


def test_cross_id_links_even_when_names_differ() -> None:
    result = match(_sf(cross_id="42"), [_ns("41", "Acme Inc"), _ns("42", "Renamed Ltd")])
    assert result.kind is MatchKind.LINKED and result.rule is MatchRule.CROSS_ID
    assert result.candidate is not None and result.candidate.id == "42"
    # The link may be recorded on the other side only.
    back = match(_sf(), [_ns("41", "Acme Inc"), _ns("43", "Other", cross_id="001A")])
    assert back.kind is MatchKind.LINKED and back.candidate is not None and back.candidate.id == "43"


def test_unique_domain_match_beats_names() -> None:
    record = _sf(website="https://www.acme.com")
    result = match(record, [_ns("1", "Acme Inc"), _ns("2", "ACME Holdings", email="ap@acme.com")])
    assert result.kind is MatchKind.UNIQUE and result.rule is MatchRule.DOMAIN
    assert result.candidate is not None and result.candidate.id == "2"
    assert result.matches[0].reason == "same domain acme.com"


def test_unique_name_match_when_no_domain_matches() -> None:
    record = _sf(name="The Acme, Inc.", email="jane@gmail.com")  # free-mail says nothing
    result = match(record, [_ns("1", "ACME LLC", email="x@gmail.com"), _ns("2", "Globex")])
    assert result.kind is MatchKind.UNIQUE and result.rule is MatchRule.NAME
    assert result.candidate is not None and result.candidate.id == "1"


def test_two_equally_good_candidates_are_ambiguous_not_guessed() -> None:
    record = _sf(website="acme.com")
    # Both share the domain; only one also shares the name -- a weaker rule must not break the tie.
    candidates = [_ns("1", "Acme Inc", website="acme.com"), _ns("2", "Acme Europe", email="eu@acme.com")]
    result = match(record, candidates)
    assert result.kind is MatchKind.AMBIGUOUS and result.rule is MatchRule.DOMAIN
    assert result.candidate is None
    assert {m.candidate.id for m in result.matches} == {"1", "2"}
    assert all(m.reason == "same domain acme.com" for m in result.matches)


def test_two_candidates_with_the_same_normalized_name_are_ambiguous() -> None:
    result = match(_sf(name="Acme"), [_ns("1", "Acme Inc"), _ns("2", "ACME GmbH")])
    assert result.kind is MatchKind.AMBIGUOUS and result.rule is MatchRule.NAME
    assert [m.reason for m in result.matches] == ["same normalized name 'acme'"] * 2


def test_a_single_candidate_linked_elsewhere_needs_a_person() -> None:
    result = match(_sf(name="Acme"), [_ns("1", "Acme Inc", cross_id="001OTHER")])
    assert result.kind is MatchKind.AMBIGUOUS
    assert result.matches[0].reason == "same normalized name 'acme'; already linked to 001OTHER"


def test_no_match_means_create() -> None:
    result = match(_sf(name="Initech"), [_ns("1", "Acme Inc"), _sf("001B", "Initech")])  # same side ignored
    assert result.kind is MatchKind.NONE and result.rule is None and result.matches == []
    assert match(_sf(), []).kind is MatchKind.NONE


def test_a_stale_cross_id_falls_through_to_the_next_rule() -> None:
    result = match(_sf(cross_id="999"), [_ns("1", "Acme Corporation")])
    assert result.kind is MatchKind.UNIQUE and result.rule is MatchRule.NAME


# --- the NetSuite candidate query's name condition: necessary for every name with the same key ----------
def _sql_like(name: str, pattern: str) -> bool:
    """What the SuiteQL condition does: lower-case, drop dots and apostrophes, then LIKE."""
    text = name.lower().replace(".", "").replace("'", "").replace("\u2019", "")
    regex = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.fullmatch(regex, text, flags=re.DOTALL) is not None


@pytest.mark.parametrize(
    "name",
    [
        "Acme, Inc.",
        "The Acme Inc.",
        "Acme GmbH & Co. KG",
        "Müller GmbH",
        "Muller GmbH",
        "Société Générale S.A.",
        "Societe Generale SA",
        "McDonald's Corporation",
        "McDonald\u2019s Corp",
        "Johnson & Johnson",
        "Johnson and Johnson",
        "Hewlett-Packard Company",
        "AT&T Inc.",
        "I.B.M. Corp",
        "Nakatomi Trading",
        "NAKATOMI-TRADING LLC",
        "Inc",
    ],
)
def test_the_name_pattern_admits_every_spelling_of_the_same_company(name: str) -> None:
    key = normalize_company_name(name)
    assert _sql_like(name, name_pattern(key)), (name, key, name_pattern(key))


def test_the_name_pattern_leaves_out_companies_that_only_share_a_word() -> None:
    pattern = name_pattern(normalize_company_name("Nakatomi Trading Inc."))
    assert not _sql_like("Nakatomi Plaza", pattern)
    assert not _sql_like("Trading Nakatomi", pattern)  # the words in order
