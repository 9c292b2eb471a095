"""Names shared by workflows, workers and starters: task queues, workflow ids, signals, queries,
search attributes. Built here and nowhere else."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

TASK_QUEUE = "q2c"  # workflows and Salesforce activities
NETSUITE_TASK_QUEUE = "q2c-netsuite"  # NetSuite activities: bounded by the account's concurrency limit

ORDER_WORKFLOW = "OrderToCash"
NETSUITE_POLL_WORKFLOW = "NetSuitePoll"
NETSUITE_POLL_SCHEDULE = "poll-netsuite"
NETSUITE_POLL_WORKFLOW_ID = "poll:netsuite"
DEAL_CLOSED_SIGNAL = "deal_closed"
DEAL_REOPENED_SIGNAL = "deal_reopened"
RETRY_SIGNAL = "retry"
BILLING_CHANGED_SIGNAL = "billing_changed"
CREDIT_RELEASED_SIGNAL = "credit_released"
APPROVE_CREDIT_SIGNAL = "approve_credit"
STATUS_QUERY = "status"

ACCOUNT_SYNC_WORKFLOW = "AccountSync"
CUSTOMER_INTAKE_WORKFLOW = "NetSuiteCustomerIntake"
SALESFORCE_POLL_WORKFLOW = "SalesforcePoll"
SALESFORCE_POLL_SCHEDULE = "poll-salesforce"
SALESFORCE_POLL_WORKFLOW_ID = "poll:salesforce"
SALESFORCE_CHANGED_SIGNAL = "salesforce_changed"
NETSUITE_CHANGED_SIGNAL = "netsuite_changed"
CONTACT_CHANGED_SIGNAL = "contact_changed"
CHOOSE_MATCH_SIGNAL = "choose_match"

_ORDER_PREFIX = "order:"


def order_workflow_id(opportunity_id: str) -> str:
    return f"{_ORDER_PREFIX}{opportunity_id}"


def opportunity_id_from_workflow_id(workflow_id: str) -> str:
    if not workflow_id.startswith(_ORDER_PREFIX):
        raise ValueError(f"{workflow_id!r} is not an order workflow id (order:<opportunity id>)")
    return workflow_id[len(_ORDER_PREFIX) :]


_ACCOUNT_PREFIX = "account:"
_INTAKE_PREFIX = "account:ns:"


def account_workflow_id(account_id: str) -> str:
    """The entity workflow of one Salesforce account and its NetSuite customer."""
    return f"{_ACCOUNT_PREFIX}{account_id}"


def intake_workflow_id(customer_id: str) -> str:
    """The intake of a NetSuite-born customer, until it has a Salesforce account (then `account:{id}`)."""
    return f"{_INTAKE_PREFIX}{customer_id}"


# Search attributes: registered on the dev server at start and by `q2c setup` elsewhere, kept current by
# the workflows, so "every order in needs_attention" is one web-UI query (Q2CStage = "needs_attention").
STAGE = SearchAttributeKey.for_keyword("Q2CStage")
OPPORTUNITY_ID = SearchAttributeKey.for_keyword("OpportunityId")
SALESFORCE_ACCOUNT_ID = SearchAttributeKey.for_keyword("SalesforceAccountId")
NETSUITE_CUSTOMER_ID = SearchAttributeKey.for_keyword("NetSuiteCustomerId")
SALES_ORDER_ID = SearchAttributeKey.for_keyword("SalesOrderId")
ORDER_AMOUNT = SearchAttributeKey.for_float("OrderAmount")
ORDER_CURRENCY = SearchAttributeKey.for_keyword("OrderCurrency")
# A backfill's progress: records processed so far and to process (planning reads, then writes).
BACKFILL_DONE = SearchAttributeKey.for_int("BackfillDone")
BACKFILL_TOTAL = SearchAttributeKey.for_int("BackfillTotal")
# An onboarding's customer success manager (a Salesforce user id): "every onboarding of this CSM".
CUSTOMER_SUCCESS_MANAGER = SearchAttributeKey.for_keyword("CustomerSuccessManager")

SEARCH_ATTRIBUTES = (
    STAGE,
    OPPORTUNITY_ID,
    SALESFORCE_ACCOUNT_ID,
    NETSUITE_CUSTOMER_ID,
    SALES_ORDER_ID,
    ORDER_AMOUNT,
    ORDER_CURRENCY,
    BACKFILL_DONE,
    BACKFILL_TOTAL,
    CUSTOMER_SUCCESS_MANAGER,
)

CATALOG_WORKFLOW = "CatalogSync"
CATALOG_SCHEDULE = "sync-catalog"
CATALOG_WORKFLOW_ID = "catalog"
INVENTORY_WORKFLOW = "InventorySync"
INVENTORY_SCHEDULE = "sync-inventory"
INVENTORY_WORKFLOW_ID = "inventory"
INVENTORY_FULL_SCHEDULE = "sync-inventory-full"
INVENTORY_FULL_WORKFLOW_ID = "inventory-full"

# Order to cash: stock. The inventory sync sends stock_changed to the orders in awaiting_stock
# (temporal_client.stock.signal_orders_awaiting_stock).
STOCK_CHANGED_SIGNAL = "stock_changed"

# The go-live backfill (workflows.backfill): backfill:{run id}, started by `temporal workflow start` or
# `q2c backfill`; paused, resumed and re-budgeted by signals, cancelled by Temporal's own cancel.
BACKFILL_WORKFLOW = "Backfill"
_BACKFILL_PREFIX = "backfill:"
PAUSE_SIGNAL = "pause"
RESUME_SIGNAL = "resume"
SET_BUDGET_SIGNAL = "set_budget"


def backfill_workflow_id(run_id: str) -> str:
    return f"{_BACKFILL_PREFIX}{run_id}"


def backfill_run_id(workflow_id: str) -> str:
    if not workflow_id.startswith(_BACKFILL_PREFIX) or workflow_id == _BACKFILL_PREFIX:
        raise ValueError(f"{workflow_id!r} is not a backfill workflow id (backfill:<run id>)")
    return workflow_id[len(_BACKFILL_PREFIX) :]


# Bookings vs billings (workflows.reconciliation): reconcile:{period}, a month (2026-11) or a quarter
# (2026-Q4); started by `q2c reconcile`, `temporal workflow start`, or the month-end schedule's
# ReconcileMonthEnd (which starts the month just ended, and the quarter when it closed one).
RECONCILE_WORKFLOW = "Reconcile"
RECONCILE_MONTH_END_WORKFLOW = "ReconcileMonthEnd"
RECONCILE_SCHEDULE = "reconcile-month-end"
RECONCILE_MONTH_END_WORKFLOW_ID = "reconcile-month-end"
_RECONCILE_PREFIX = "reconcile:"


def reconcile_workflow_id(period: str) -> str:
    return f"{_RECONCILE_PREFIX}{period}"


def reconcile_period(workflow_id: str) -> str:
    if not workflow_id.startswith(_RECONCILE_PREFIX) or workflow_id == _RECONCILE_PREFIX:
        raise ValueError(f"{workflow_id!r} is not a reconciliation workflow id (reconcile:<period>)")
    return workflow_id[len(_RECONCILE_PREFIX) :]


# Customer onboarding (workflows.onboarding): onboarding:{NetSuite customer id}, started once per customer
# (q2c's store decides) when its first sales order exists: by the order workflow for a customer it made, by
# the NetSuite poller for any other, or by a person (q2c onboarding-start).
ONBOARDING_WORKFLOW = "Onboarding"
_ONBOARDING_PREFIX = "onboarding:"
FIRST_ORDER_SIGNAL = "first_order"
TASK_CHANGED_SIGNAL = "task_changed"
CREDIT_HOLD_CHANGED_SIGNAL = "credit_hold_changed"
CSM_CHANGED_SIGNAL = "csm_changed"
ORDER_CLOSED_SIGNAL = "order_closed"
SKIP_STEP_UPDATE = "skip_step"
REASSIGN_UPDATE = "reassign"
FINISH_EARLY_UPDATE = "finish_early"


def onboarding_workflow_id(customer_id: str) -> str:
    return f"{_ONBOARDING_PREFIX}{customer_id}"


def onboarding_customer_id(workflow_id: str) -> str:
    if not workflow_id.startswith(_ONBOARDING_PREFIX) or not workflow_id[len(_ONBOARDING_PREFIX) :].isdigit():
        raise ValueError(
            f"{workflow_id!r} is not an onboarding workflow id (onboarding:<NetSuite customer id>)"
        )
    return workflow_id[len(_ONBOARDING_PREFIX) :]


# q2c's own metrics (workflows.metrics, temporal_client.telemetry, the pollers' activities), exported on the
# worker's Prometheus endpoint beside the SDK's; deploy/grafana and deploy/prometheus use these names.
# Counters (exported as named, no _total suffix): HTTP calls by system and status; orders by outcome; parkings.
API_CALLS = "q2c_api_calls"
ORDER_OUTCOMES = "q2c_order_outcomes"
PARKED = "q2c_parked"
# Gauges: NetSuite requests in flight in a worker and its share of the account's limit; how far behind
# now each poller's watermark is, and when it last completed; a backfill's records done and in all.
NETSUITE_IN_FLIGHT = "q2c_netsuite_requests_in_flight"
NETSUITE_SHARE = "q2c_netsuite_concurrency_share"
POLL_LAG = "q2c_poll_lag_seconds"
POLL_COMPLETED = "q2c_poll_completed_timestamp_seconds"
BACKFILL_RECORDS = "q2c_backfill_records"
# Running workflows parked in needs_attention now, by workflow type (a visibility count every minute).
NEEDS_ATTENTION = "q2c_needs_attention"
