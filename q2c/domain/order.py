"""Order rules: when a won opportunity may become a NetSuite sales order, and what that order says.

Pure functions of the records and the mapping, so the workflow can run them (deterministically) and
tests can check them without any server.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel

from q2c.domain.billing import quantity_text
from q2c.domain.mapping import Mapping
from q2c.domain.records import Account, Opportunity, Product


class OrderStage(StrEnum):
    """Where an order-to-cash workflow is; also its ``Q2CStage`` search attribute."""

    RECEIVED = "received"
    READING_OPPORTUNITY = "reading_opportunity"
    ENSURING_CUSTOMER = "ensuring_customer"
    CREATING_SALES_ORDER = "creating_sales_order"
    WRITING_BACK = "writing_back"
    SALES_ORDER_CREATED = "sales_order_created"
    AWAITING_CREDIT_RELEASE = "awaiting_credit_release"
    AWAITING_STOCK = "awaiting_stock"  # Q2C_STOCK_SHORTFALL=hold: a line asks for more than is available
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


class StockShortfallPolicy(StrEnum):
    """What a deal asking for more units than are available does (``Q2C_STOCK_SHORTFALL``)."""

    WARN = "warn"  # order anyway; the opportunity's Inventory_Warning__c says what is short
    HOLD = "hold"  # wait in awaiting_stock until the stock is there


INVENTORY_WARNING_MAX = 4000  # of Opportunity.Inventory_Warning__c (a long text area) q2c fills


class StockShortfall(BaseModel):
    """A stock-tracked product the deal's lines ask more units of than are available."""

    product_id: str
    product_name: str
    lines: list[int]  # the opportunity's line numbers (from 1) that sell it
    requested: Decimal  # over those lines
    available: Decimal  # Product2.Quantity_Available__c


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


def order_problems(opp: Opportunity, mapping: Mapping, *, check_active: bool = True) -> list[str]:
    """Everything that stops ``opp`` from becoming a sales order, each naming the record and the fix.

    ``check_active``: a product inactive in Salesforce is a problem (the workflow turns it off for
    histories from before the check)."""
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
        elif check_active and not line.product.is_active:
            problems.append(_inactive_product(what, number, line.product))
        elif not line.product.netsuite_item_id:
            problems.append(
                f"{what} line {number}: product {line.product.id} ({line.product.name!r}) has no NetSuite "
                "item; set Product2.NetSuite_Internal_ID__c (the catalog sync does), then retry."
            )
        if line.quantity <= 0:
            problems.append(f"{what} line {number} ({line.id}) has quantity {line.quantity}; it must be > 0.")
    return problems


def _inactive_product(what: str, number: int, product: Product) -> str:
    problem = f"{what} line {number}: product {product.id} ({product.name!r}) is inactive in Salesforce"
    if not product.netsuite_item_id:
        return f"{problem}; replace the line with an active product, then retry."
    item = (
        f"{product.code} (internal id {product.netsuite_item_id})"
        if product.code
        else product.netsuite_item_id
    )
    return (
        f"{problem}; replace the line with an active product, or reactivate item {item} in NetSuite "
        "(the catalog sync then reactivates the product), then retry."
    )


def stock_shortfalls(opp: Opportunity) -> list[StockShortfall]:
    """The stock-tracked products the lines ask more units of than are available, lines of the same
    product added up. A product whose available quantity is unknown (None) is not stock-tracked."""
    requested: dict[str, tuple[Product, list[int], Decimal]] = {}
    for number, line in enumerate(opp.lines, start=1):
        product = line.product
        if product is None or product.quantity_available is None:
            continue
        _, numbers, quantity = requested.get(product.id, (product, [], Decimal(0)))
        requested[product.id] = (product, [*numbers, number], quantity + line.quantity)
    return [
        StockShortfall(
            product_id=product.id,
            product_name=product.name,
            lines=numbers,
            requested=quantity,
            available=product.quantity_available,
        )
        for product, numbers, quantity in requested.values()
        if product.quantity_available is not None and quantity > product.quantity_available
    ]


def stock_warning(opp: Opportunity, shortfalls: list[StockShortfall]) -> str | None:
    """What ``Opportunity.Inventory_Warning__c`` says of the shortfalls (None: nothing is short)."""
    if not shortfalls:
        return None
    parts = []
    for short in shortfalls:
        lines = ", ".join(str(n) for n in short.lines)
        requested, available = quantity_text(short.requested), quantity_text(short.available)
        parts.append(
            f"line{'s' if len(short.lines) > 1 else ''} {lines}: product {short.product_id} "
            f"({short.product_name!r}) {requested} requested, {available} available"
        )
    text = f"Not enough stock for {_describe(opp)}: {'; '.join(parts)}."
    return text[:INVENTORY_WARNING_MAX]


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
