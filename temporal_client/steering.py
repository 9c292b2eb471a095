"""What activities do to other workflows, as one object the worker builds and injects like any other
client: start or signal account workflows by their ids, find orders by a visibility query."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.client import Client

from q2c.config import Settings
from q2c.domain.messages import (
    AccountSyncOptions,
    DealClosed,
    NetSuiteCustomerChanged,
    SalesforceAccountChanged,
    SalesforceContactChanged,
)
from q2c.domain.messages.onboarding import FirstOrder
from temporal_client import accounts, onboarding, orders
from workflows import names


@dataclass(frozen=True)
class OrderRef:
    opportunity_id: str
    netsuite_customer_id: str | None


@dataclass
class Steering:
    client: Client
    account_options: AccountSyncOptions
    settings: Settings | None = None  # what an order workflow it starts is given (the backfill starts them)

    async def deal_closed(self, event: DealClosed) -> bool:
        """Signal-with-start an order workflow, as a deal close does; True when it had already finished."""
        if self.settings is None:
            raise RuntimeError("this Steering was built without settings: it cannot start orders")
        outcome = await orders.deal_closed(self.client, self.settings, event)
        return outcome.already_completed

    async def salesforce_account_changed(self, event: SalesforceAccountChanged) -> None:
        await accounts.salesforce_account_changed(self.client, self.account_options, event)

    async def salesforce_contact_changed(self, account_id: str, event: SalesforceContactChanged) -> None:
        await accounts.salesforce_contact_changed(self.client, self.account_options, account_id, event)

    async def netsuite_customer_changed(self, event: NetSuiteCustomerChanged, account_id: str | None) -> None:
        await accounts.netsuite_customer_changed(self.client, self.account_options, event, account_id)

    async def start_onboarding(self, first_order: FirstOrder, *, attempt: int, source: str) -> None:
        """Signal-with-start a customer's onboarding (the caller has claimed it in q2c's store)."""
        if self.settings is None:
            raise RuntimeError("this Steering was built without settings: it cannot start onboardings")
        await onboarding.start_onboarding(
            self.client, self.settings, first_order, attempt=attempt, source=source
        )

    async def onboarding_running(self, customer_id: str) -> bool:
        return await onboarding.is_running(self.client, customer_id)

    async def signal_onboarding(self, customer_id: str, signal: str, arg: object) -> int:
        """1 when the customer's onboarding is running and took the signal, else 0."""
        return await onboarding.signal_onboarding(self.client, customer_id, signal, arg)

    async def orders(self, query: str) -> list[OrderRef]:
        """Order workflows matching a visibility query (eventually consistent: seconds behind)."""
        found: dict[str, OrderRef] = {}
        async for execution in self.client.list_workflows(query):
            if execution.id.startswith(names.order_workflow_id("")):
                opportunity_id = names.opportunity_id_from_workflow_id(execution.id)
                customer = execution.typed_search_attributes.get(names.NETSUITE_CUSTOMER_ID)
                found[opportunity_id] = OrderRef(opportunity_id, customer)
        return [found[key] for key in sorted(found)]
