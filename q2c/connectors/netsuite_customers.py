"""NetSuite customers an account could be, found by the matching keys themselves (``q2c.domain.matching``).

One SuiteQL query asks for every active customer that may share a key with the account: a cross-system
id (its internal id, ``externalId`` or ``custentity_sf_account_id``), an email or website domain, or the
normalized company name. The SQL conditions are necessary ones (a LIKE cannot normalize), so each row is
then checked against the keys exactly, here, and only rows that share a key come back. The query is paged
with a keyset on id until NetSuite has no more: a candidate is never cut off before the rules rank it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from q2c.connectors.netsuite import NetSuiteClient
from q2c.domain.matching import email_domain, name_pattern, normalize_company_name

SF_ACCOUNT_FIELD = "custentity_sf_account_id"
PAGE = 1000  # SuiteQL's largest page
COLUMNS = f"id, companyname, email, url, externalid, {SF_ACCOUNT_FIELD}"
# Dots and apostrophes, which normalization drops, are removed from the name in SQL.
_NAME = "REPLACE(REPLACE(REPLACE(LOWER(companyname), '.', ''), '''', ''), '\u2019', '')"


@dataclass(frozen=True)
class CustomerKeys:
    """What an account is matched by, as NetSuite stores it."""

    account_id: str
    customer_ids: frozenset[str]  # NetSuite ids the account (or q2c's store) already points at
    domains: frozenset[str]
    name_key: str  # normalize_company_name of the account's name

    @classmethod
    def of(cls, account_id: str, name: str, domains: set[str], customer_ids: set[str | None]) -> CustomerKeys:
        return cls(
            account_id=account_id,
            customer_ids=frozenset(i for i in customer_ids if i and i.isdigit()),
            domains=frozenset(domains),
            name_key=normalize_company_name(name),
        )


def quote(text: str) -> str:
    """A SuiteQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def candidate_query(keys: CustomerKeys, after_id: int) -> str:
    clauses = [f"externalid = {quote(keys.account_id)}", f"{SF_ACCOUNT_FIELD} = {quote(keys.account_id)}"]
    if keys.customer_ids:
        clauses.append(f"id IN ({', '.join(sorted(keys.customer_ids, key=int))})")
    for domain in sorted(keys.domains):
        # email_domain folds sub-domains (ap@mail.acme.com is acme.com): the address ends with the domain.
        clauses.append(f"LOWER(email) LIKE {quote('%' + domain)}")
        clauses.append(f"LOWER(url) LIKE {quote('%' + domain + '%')}")
    if keys.name_key:
        clauses.append(f"{_NAME} LIKE {quote(name_pattern(keys.name_key))}")
    return (
        f"SELECT {COLUMNS} FROM customer WHERE isinactive = 'F' AND ({' OR '.join(clauses)}) "
        f"AND id > {int(after_id)} ORDER BY id"
    )


def shares_a_key(row: dict[str, Any], keys: CustomerKeys) -> bool:
    """The exact check behind the query's necessary conditions."""
    if str(row["id"]) in keys.customer_ids or keys.account_id in (
        row.get("externalid"),
        row.get(SF_ACCOUNT_FIELD),
    ):
        return True
    domains = {email_domain(row.get("email")), email_domain(row.get("url"))}
    if keys.domains & domains:
        return True
    return bool(keys.name_key) and normalize_company_name(str(row.get("companyname") or "")) == keys.name_key


async def customers_sharing_a_key(client: NetSuiteClient, keys: CustomerKeys) -> list[dict[str, Any]]:
    """Every active customer that shares a matching key with the account, in id order."""
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        page = await client.suiteql(candidate_query(keys, after), limit=PAGE)
        rows = page.get("items") or []
        found += [row for row in rows if shares_a_key(row, keys)]
        if not rows or not page.get("hasMore"):
            return found
        after = int(rows[-1]["id"])
