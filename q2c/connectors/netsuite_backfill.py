"""NetSuite reads of the backfill: every active customer by keyset on id (``id > :last ORDER BY id``, which
no 100,000-row offset ceiling holds), and their count."""

from __future__ import annotations

from typing import Any

from q2c.connectors.netsuite import NetSuiteClient
from q2c.connectors.netsuite_customers import SF_ACCOUNT_FIELD, quote
from q2c.domain.backfill import BackfillFilters

PAGE = 1000  # SuiteQL's largest page
CUSTOMER_COLUMNS = (
    f"id, companyname, email, url, externalid, {SF_ACCOUNT_FIELD}, subsidiary, "
    "TO_CHAR(datecreated, 'YYYY-MM-DD') AS created"
)


async def customer_page(client: NetSuiteClient, after: str, limit: int = PAGE) -> list[dict[str, Any]]:
    """Up to ``limit`` active customers with an id above ``after``, by id."""
    after_id = int(after) if after else 0
    page = await client.suiteql(
        f"SELECT {CUSTOMER_COLUMNS} FROM customer WHERE isinactive = 'F' AND id > {after_id} ORDER BY id",
        limit=min(limit, PAGE),
    )
    return list(page.get("items") or [])


async def customer_count(client: NetSuiteClient) -> int:
    rows = await client.suiteql_rows("SELECT COUNT(*) AS n FROM customer WHERE isinactive = 'F'")
    return int(rows[0].get("n") or 0) if rows else 0


INVOICE_PAGE = 1000


async def invoice_page(
    client: NetSuiteClient, filters: BackfillFilters, after: str, limit: int
) -> list[dict[str, Any]]:
    """Invoices by id after ``after``, in the filters' dates, subsidiary and ids."""
    where = ["t.type = 'CustInvc'", f"t.id > {int(after) if after else 0}"]
    if filters.since:
        where.append(f"t.trandate >= TO_DATE('{filters.since.isoformat()}', 'YYYY-MM-DD')")
    if filters.until:
        where.append(f"t.trandate <= TO_DATE('{filters.until.isoformat()}', 'YYYY-MM-DD')")
    if filters.subsidiary:
        where.append(f"t.subsidiary = {int(filters.subsidiary)}")
    if filters.ids:
        ids = filters.netsuite_ids() or ["0"]
        where.append(f"t.id IN ({', '.join(str(int(i)) for i in ids)})")
    page = await client.suiteql(
        f"SELECT t.id, t.tranid, t.entity, t.createdfrom, t.currency FROM transaction t WHERE {' AND '.join(where)} "
        "ORDER BY t.id",
        limit=min(limit, PAGE),
    )
    return list(page.get("items") or [])


async def external_ids(client: NetSuiteClient, transaction_ids: list[str]) -> dict[str, str]:
    """Transaction id -> its externalId (a sales order q2c made carries its opportunity's id)."""
    return await _column_by_id(client, "transaction", "externalid", transaction_ids)


async def account_ids_on_customers(client: NetSuiteClient, customer_ids: list[str]) -> dict[str, str]:
    """Customer id -> the Salesforce account id it carries (custentity_sf_account_id)."""
    return await _column_by_id(client, "customer", SF_ACCOUNT_FIELD, customer_ids)


async def _column_by_id(client: NetSuiteClient, table: str, column: str, ids: list[str]) -> dict[str, str]:
    """id -> ``column`` of those of ``ids`` that have a value, 500 ids a query."""
    found: dict[str, str] = {}
    wanted = sorted(set(ids), key=int)
    for start in range(0, len(wanted), 500):
        rows = await client.suiteql_rows(
            f"SELECT id, {column} FROM {table} WHERE id IN ({', '.join(wanted[start : start + 500])})"
        )
        found.update({str(r["id"]): str(r[column]) for r in rows if r.get(column)})
    return found


async def sales_orders_for(client: NetSuiteClient, opportunity_ids: list[str]) -> dict[str, str]:
    """Opportunity id -> the sales order NetSuite has for it (its externalId), for these deals."""
    found: dict[str, str] = {}
    for start in range(0, len(opportunity_ids), 200):
        chunk = opportunity_ids[start : start + 200]
        rows = await client.suiteql_rows(
            "SELECT id, externalid FROM transaction WHERE type = 'SalesOrd' AND externalid IN ("
            + ", ".join(quote(i) for i in chunk)
            + ")"
        )
        found.update({str(r["externalid"]): str(r["id"]) for r in rows if r.get("externalid")})
    return found
