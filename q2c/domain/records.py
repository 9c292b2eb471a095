"""Records as q2c sees them on either side: only the fields q2c uses, with business names."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel


class Product(BaseModel):
    id: str
    name: str
    code: str | None = None
    netsuite_item_id: str | None = None
    # Product2.IsActive: the catalog sync deactivates a product whose NetSuite item went inactive. True
    # when unread (histories recorded before it was read).
    is_active: bool = True
    # Product2.Quantity_Available__c (the inventory sync: available across locations); None: the
    # product is not stock-tracked.
    quantity_available: Decimal | None = None


class OpportunityLine(BaseModel):
    id: str
    product: Product | None
    quantity: Decimal
    unit_price: Decimal
    total_price: Decimal
    description: str | None = None


class Account(BaseModel):
    id: str
    name: str
    website: str | None = None
    phone: str | None = None
    currency: str | None = None
    netsuite_customer_id: str | None = None
    owner_id: str | None = None


class Opportunity(BaseModel):
    id: str
    name: str
    stage: str
    is_won: bool
    is_closed: bool
    amount: Decimal | None
    currency: str | None
    close_date: dt.date | None
    account: Account | None
    lines: list[OpportunityLine]
    netsuite_sales_order_id: str | None = None
    netsuite_sales_order_number: str | None = None
    inventory_warning: str | None = None  # Opportunity.Inventory_Warning__c as read


class SalesOrder(BaseModel):
    """A NetSuite sales order as read back after it was written."""

    id: str
    tran_id: str
    external_id: str | None
    customer_id: str
    subsidiary_id: str | None
    subsidiary_name: str | None
    currency: str | None
    total: Decimal | None
    status: str | None
