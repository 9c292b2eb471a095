"""Matching an unlinked account to the other system's records before creating one (pure).

Rules, strongest first: cross-system id, then email/website domain, then normalized company name (never
the raw name). The first rule that finds exactly one candidate decides. Several candidates at a rule make
the result `ambiguous` for a person to choose; a weaker rule is never used to break that tie, because a
guessed link merges two companies' data and is far harder to undo than a question.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict

from q2c.domain.sync import Side

# Legal-form suffixes, written as they look after normalization (dots dropped, other punctuation -> space,
# "&" -> "and"). Stripped repeatedly from the end, so "Co., Ltd." and "GmbH & Co. KG" go entirely.
_LEGAL_SUFFIXES = frozenset(
    {
        "inc", "incorporated", "llc", "ltd", "limited", "gmbh", "ag", "kg", "plc", "sa", "sas", "bv", "nv",
        "kk", "co", "corp", "corporation", "company", "pty",
    }
)  # fmt: skip

# Shared mailbox providers: a domain here says nothing about which company a person works for.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "yahoo.com",
        "yahoo.co.uk", "ymail.com", "aol.com", "icloud.com", "me.com", "mac.com", "proton.me",
        "protonmail.com", "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com", "zoho.com", "yandex.ru",
        "qq.com", "163.com",
    }
)  # fmt: skip

# Second-level labels under country TLDs (acme.co.uk): keep three labels there, two elsewhere. A small
# stand-in for the public suffix list, good enough to fold mail.acme.com and www.acme.com together.
_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or"})


def normalize_company_name(name: str) -> str:
    """A comparison key: case, accents, punctuation, spacing, a leading "The" and legal suffixes removed.

    "Acme, Inc.", "ACME Inc", "acme incorporated" and "The Acme Inc." all give "acme"; a name that is only
    a suffix ("Inc") is kept rather than emptied.
    """
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    # Dots and apostrophes join ("L.L.C." -> "llc", "McDonald's" -> "mcdonalds"); "&" is "and"; any other
    # punctuation separates words.
    text = re.sub(r"[.'\u2019]", "", text).replace("&", " and ")
    tokens = re.sub(r"[\W_]+", " ", text).split()
    if len(tokens) > 1 and tokens[0] == "the":
        tokens = tokens[1:]
    while len(tokens) > 1 and (tokens[-1] in _LEGAL_SUFFIXES or tokens[-1] == "and"):
        # "and" only ever goes with a suffix after it ("& Co."); a name ending in "and" is not a thing.
        tokens = tokens[:-1]
    return " ".join(tokens)


# Letters a name may carry with a diacritic that normalization strips ("Société" -> "societe"): in a LIKE
# pattern they match any one character. Not covered: other accented letters (ř, ğ) and ß ("ss").
_MAY_BE_ACCENTED = frozenset("aceinosuyz")


def name_pattern(key: str) -> str:
    """A LIKE pattern that every name normalizing to ``key`` satisfies, once lower-cased and stripped of
    dots and apostrophes: the key's words in order with anything between ("&" for "and", punctuation,
    a leading "The", legal suffixes), letters that may carry an accent as any one character. A necessary
    condition for a query (SOQL and SuiteQL alike); ``normalize_company_name`` then decides exactly."""
    words = [w for w in key.split() if w != "and"] or key.split()
    return "%" + "%".join("".join("_" if ch in _MAY_BE_ACCENTED else ch for ch in w) for w in words) + "%"


def email_domain(email_or_url: str | None) -> str | None:
    """The company domain of an email address or website URL, or None (free-mail, empty, unparseable)."""
    if not email_or_url or not (value := email_or_url.strip().lower()):
        return None
    if "@" in value and "/" not in value.split("@", 1)[0]:
        host = value.rsplit("@", 1)[1]
    else:
        host = urlsplit(value if "//" in value else f"//{value}").hostname or ""
    host = host.strip(".")
    labels = [label for label in host.split(".") if label]
    if len(labels) < 2 or not all(re.fullmatch(r"[a-z0-9-]+", label) for label in labels):
        return None
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    domain = ".".join(labels[-keep:])
    return None if domain in FREE_MAIL_DOMAINS else domain


class AccountCandidate(BaseModel):
    """An account as matching sees it: a Salesforce Account or a NetSuite customer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    side: Side
    id: str
    name: str
    email: str | None = None
    website: str | None = None
    # The other system's id this record already points at (NetSuite_Internal_ID__c on a Salesforce
    # account, custentity_sf_account_id on a NetSuite customer), if any.
    cross_id: str | None = None

    def domains(self) -> set[str]:
        return {d for d in (email_domain(self.email), email_domain(self.website)) if d}


class MatchRule(StrEnum):
    CROSS_ID = "cross_id"
    DOMAIN = "domain"
    NAME = "name"


class MatchKind(StrEnum):
    LINKED = "linked"  # a cross-system id ties the record to exactly one candidate
    UNIQUE = "unique"  # exactly one candidate by domain or normalized name: link it
    AMBIGUOUS = "ambiguous"  # a person must choose (Needs Attention; a signal picks the match)
    NONE = "none"  # nothing matches: create the record on the other side


class Match(BaseModel):
    model_config = ConfigDict(frozen=True)

    candidate: AccountCandidate
    rule: MatchRule
    reason: str  # for the person choosing, e.g. "same domain acme.com"


class MatchResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: MatchKind
    rule: MatchRule | None = None  # the rule that decided; None for kind none
    matches: list[Match] = []

    @property
    def candidate(self) -> AccountCandidate | None:
        """The one candidate to link (kinds linked and unique), else None."""
        if self.kind in (MatchKind.LINKED, MatchKind.UNIQUE):
            return self.matches[0].candidate
        return None


def match(record: AccountCandidate, candidates: list[AccountCandidate]) -> MatchResult:
    """Match `record` against the other system's `candidates` (same-side candidates are ignored)."""
    others = [c for c in candidates if c.side is not record.side]

    by_id = [
        Match(candidate=c, rule=MatchRule.CROSS_ID, reason=_id_reason(record, c))
        for c in others
        if (record.cross_id and c.id == record.cross_id) or (c.cross_id and c.cross_id == record.id)
    ]
    if by_id:
        return MatchResult(
            kind=MatchKind.LINKED if len(by_id) == 1 else MatchKind.AMBIGUOUS,
            rule=MatchRule.CROSS_ID,
            matches=by_id,
        )

    domains = record.domains()
    by_domain = [
        Match(candidate=c, rule=MatchRule.DOMAIN, reason=f"same domain {', '.join(sorted(shared))}")
        for c in others
        if (shared := domains & c.domains())
    ]
    if by_domain:
        return _decide(MatchRule.DOMAIN, by_domain)

    key = normalize_company_name(record.name)
    by_name = [
        Match(candidate=c, rule=MatchRule.NAME, reason=f"same normalized name {key!r}")
        for c in others
        if key and normalize_company_name(c.name) == key
    ]
    if by_name:
        return _decide(MatchRule.NAME, by_name)
    return MatchResult(kind=MatchKind.NONE)


def _decide(rule: MatchRule, matches: list[Match]) -> MatchResult:
    # A single candidate already linked to another record is not free to take: linking would steal it,
    # creating would duplicate it. A person decides (typically: the two records are duplicates).
    if len(matches) == 1 and matches[0].candidate.cross_id is None:
        return MatchResult(kind=MatchKind.UNIQUE, rule=rule, matches=matches)
    return MatchResult(
        kind=MatchKind.AMBIGUOUS,
        rule=rule,
        matches=[
            m
            if m.candidate.cross_id is None
            else m.model_copy(update={"reason": f"{m.reason}; already linked to {m.candidate.cross_id}"})
            for m in matches
        ],
    )


def _id_reason(record: AccountCandidate, candidate: AccountCandidate) -> str:
    if record.cross_id and candidate.id == record.cross_id:
        return f"{record.id} points at {candidate.id}"
    return f"{candidate.id} points at {record.id}"
