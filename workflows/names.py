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

_ORDER_PREFIX = "order:"


def order_workflow_id(opportunity_id: str) -> str:
    return f"{_ORDER_PREFIX}{opportunity_id}"


def opportunity_id_from_workflow_id(workflow_id: str) -> str:
    if not workflow_id.startswith(_ORDER_PREFIX):
        raise ValueError(f"{workflow_id!r} is not an order workflow id (order:<opportunity id>)")
    return workflow_id[len(_ORDER_PREFIX) :]


# Search attributes: registered on the dev server at start and by `q2c setup` elsewhere, kept current by
# the workflows, so "every order in needs_attention" is one web-UI query (Q2CStage = "needs_attention").
STAGE = SearchAttributeKey.for_keyword("Q2CStage")
OPPORTUNITY_ID = SearchAttributeKey.for_keyword("OpportunityId")
SALESFORCE_ACCOUNT_ID = SearchAttributeKey.for_keyword("SalesforceAccountId")
NETSUITE_CUSTOMER_ID = SearchAttributeKey.for_keyword("NetSuiteCustomerId")
SALES_ORDER_ID = SearchAttributeKey.for_keyword("SalesOrderId")
ORDER_AMOUNT = SearchAttributeKey.for_float("OrderAmount")
ORDER_CURRENCY = SearchAttributeKey.for_keyword("OrderCurrency")

SEARCH_ATTRIBUTES = (
    STAGE,
    OPPORTUNITY_ID,
    SALESFORCE_ACCOUNT_ID,
    NETSUITE_CUSTOMER_ID,
    SALES_ORDER_ID,
    ORDER_AMOUNT,
    ORDER_CURRENCY,
)
