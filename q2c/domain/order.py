"""Order rules: when a won opportunity may become a NetSuite sales order, and what that order says.

Pure functions of the records and the mapping, so the workflow can run them (deterministically) and
tests can check them without any server.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel

from q2c.domain.mapping import Mapping
from q2c.domain.records import Account, Opportunity


class OrderStage(StrEnum):
    """Where an order-to-cash workflow is; also its ``Q2CStage`` search attribute."""

    RECEIVED = "received"
    READING_OPPORTUNITY = "reading_opportunity"
    ENSURING_CUSTOMER = "ensuring_customer"
    CREATING_SALES_ORDER = "creating_sales_order"
    WRITING_BACK = "writing_back"
    SALES_ORDER_CREATED = "sales_order_created"
    AWAITING_CREDIT_RELEASE = "awaiting_credit_release"
    AWAITING_INVOICE = "awaiting_invoice"
    AWAITING_PAYMENT = "awaiting_payment"
    PAID = "paid"
    REOPENED = "reopened"  # the deal left Closed Won; its sales order was closed
    ORDER_CLOSED = "order_closed"  # closed in NetSuite before it was billed
    NEEDS_ATTENTION = "needs_attention"
    OPPORTUNITY_NOT_FOUND = "opportunity_not_found"  # no such opportunity and no order: the workflow ended


class SyncStatus(StrEnum):
    """Values of the Salesforce picklist ``Opportunity.Q2C_Sync_Status__c``."""

    IN_PROGRESS = "In Progress"
    SYNCED = "Synced"
    NEEDS_ATTENTION = "Needs Attention"
    AWAITING_CREDIT_RELEASE = "Awaiting Credit Release"
    CLOSED = "Closed"


class CustomerUpsert(BaseModel):
    """A NetSuite customer written by external id (the Salesforce account id)."""

    salesforce_account_id: str
    company_name: str
    phone: str | None
    url: str | None
    subsidiary_id: str
    currency_id: str


class SalesOrderLine(BaseModel):
    item_id: str
    quantity: Decimal
    rate: Decimal
    amount: Decimal
    description: str | None
    # The Salesforce side of the line, so a refusal can name what a sales rep sees.
    product_id: str | None = None
    product_name: str | None = None


class SalesOrderUpsert(BaseModel):
    """A NetSuite sales order written by external id (the Salesforce opportunity id). Tax is never
    sent: NetSuite computes it from the customer, item and nexus."""

    opportunity_id: str
    customer_id: str
    subsidiary_id: str
    currency_id: str
    tran_date: str | None
    memo: str
    opportunity_field: str
    lines: list[SalesOrderLine]


def _describe(opp: Opportunity) -> str:
    return f"Opportunity {opp.id} ({opp.name!r})"


def order_problems(opp: Opportunity, mapping: Mapping) -> list[str]:
    """Everything that stops ``opp`` from becoming a sales order, each naming the record and the fix."""
    what = _describe(opp)
    problems: list[str] = []
    if not opp.is_won:
        problems.append(f"{what} is not Closed Won (stage {opp.stage!r}); only won deals become orders.")
    if opp.account is None:
        problems.append(f"{what} has no account; set Opportunity.AccountId.")
    if not opp.currency:
        problems.append(f"{what} has no currency (CurrencyIsoCode).")
    elif opp.currency not in mapping.currencies:
        problems.append(
            f"{what} is in {opp.currency}, which has no NetSuite subsidiary in the mapping file; "
            f"add [currencies.{opp.currency}] with its subsidiary and currency ids."
        )
    if not opp.lines:
        problems.append(f"{what} has no line items; add its products, then retry.")
    for number, line in enumerate(opp.lines, start=1):
        if line.product is None:
            problems.append(f"{what} line {number} ({line.id}) has no product.")
        elif not line.product.netsuite_item_id:
            problems.append(
                f"{what} line {number}: product {line.product.id} ({line.product.name!r}) has no NetSuite "
                "item; set Product2.NetSuite_Internal_ID__c (the catalog sync does), then retry."
            )
        if line.quantity <= 0:
            problems.append(f"{what} line {number} ({line.id}) has quantity {line.quantity}; it must be > 0.")
    return problems


def plan_customer(account: Account, currency: str, mapping: Mapping) -> CustomerUpsert:
    target = mapping.currencies[currency]
    return CustomerUpsert(
        salesforce_account_id=account.id,
        company_name=account.name[: mapping.customer.company_name_max_length],
        phone=account.phone,
        url=account.website,
        subsidiary_id=target.subsidiary,
        currency_id=target.netsuite_currency,
    )


def plan_sales_order(opp: Opportunity, customer_id: str, mapping: Mapping) -> SalesOrderUpsert:
    """The sales order for a won opportunity that has no ``order_problems``."""
    assert opp.currency is not None
    target = mapping.currencies[opp.currency]
    return SalesOrderUpsert(
        opportunity_id=opp.id,
        customer_id=customer_id,
        subsidiary_id=target.subsidiary,
        currency_id=target.netsuite_currency,
        tran_date=opp.close_date.isoformat() if opp.close_date else None,
        memo=opp.name[:999],
        opportunity_field=mapping.sales_order.opportunity_field,
        lines=[
            SalesOrderLine(
                item_id=line.product.netsuite_item_id,
                quantity=line.quantity,
                rate=line.unit_price,
                amount=line.total_price,
                description=line.description,
                product_id=line.product.id,
                product_name=line.product.name,
            )
            for line in opp.lines
            if line.product is not None and line.product.netsuite_item_id
        ],
    )
