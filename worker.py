"""The q2c worker: builds the clients, the store and the activity objects, and runs one worker per
task queue. Run it with ``q2c worker`` (or ``python worker.py``).

In production (docs/runbook.md): spans per ``OTEL_*``, Prometheus metrics on ``Q2C_METRICS_ADDRESS``, a
Worker Deployment version from ``Q2C_WORKER_DEPLOYMENT_NAME`` / ``Q2C_WORKER_BUILD_ID`` (workflows
auto-upgrade to the current version: q2c's workflows run for months, so their changes are patched and
replay-tested rather than pinned to old workers), and on SIGTERM a graceful shutdown: no new tasks, running
activities get ``Q2C_WORKER_SHUTDOWN_GRACE_SECONDS`` to finish before they are cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.worker import Worker, WorkerDeploymentConfig

from activities.account_changes import AccountChangeActivities
from activities.backfill import NetSuiteBackfillActivities, SalesforceBackfillActivities
from activities.catalog import NetSuiteCatalogActivities, SalesforceCatalogActivities
from activities.mapping import MappingActivities
from activities.netsuite import NetSuiteActivities
from activities.netsuite_accounts import NetSuiteAccountActivities
from activities.netsuite_poller import NetSuitePollerActivities
from activities.onboarding import OnboardingActivities, OnboardingSteeringActivities
from activities.poller_state import PollerStateActivities
from activities.reconciliation import NetSuiteReconciliationActivities, ReconciliationActivities
from activities.salesforce import SalesforceActivities
from activities.salesforce_accounts import SalesforceAccountActivities
from activities.sync_state import SyncStateActivities
from q2c.config import Settings
from q2c.connectors.netsuite import NetSuiteClient, NetSuiteConnection
from q2c.connectors.netsuite_billing import NetSuiteBilling
from q2c.connectors.salesforce import SalesforceClient, SalesforceConnection
from q2c.domain.mapping import load_mapping
from q2c.domain.onboarding import load_onboarding_plan
from q2c.store import Store
from temporal_client.accounts import account_sync_options
from temporal_client.connect import connect_temporal
from temporal_client.steering import Steering
from temporal_client.telemetry import (
    configure_tracing,
    install_metrics,
    keep_counting_needs_attention,
    metrics_runtime,
)
from workflows import names
from workflows.account_sync import AccountSync
from workflows.backfill import Backfill
from workflows.calls import task_queue
from workflows.catalog_sync import CatalogSync, InventorySync
from workflows.customer_intake import NetSuiteCustomerIntake
from workflows.netsuite_poll import NetSuitePoll
from workflows.onboarding import Onboarding
from workflows.order_to_cash import OrderToCash
from workflows.reconciliation import Reconcile, ReconcileMonthEnd
from workflows.salesforce_poll import SalesforcePoll

log = logging.getLogger("q2c.worker")
# Every workflow q2c runs (the replay tests replay recorded histories against the same list).
WORKFLOWS = [
    OrderToCash,
    NetSuitePoll,
    AccountSync,
    NetSuiteCustomerIntake,
    SalesforcePoll,
    CatalogSync,
    InventorySync,
    Backfill,
    Reconcile,
    ReconcileMonthEnd,
    Onboarding,
]


def salesforce_client(settings: Settings) -> SalesforceClient:
    return SalesforceClient(
        SalesforceConnection(
            token_url=settings.salesforce_token_url,
            client_id=settings.salesforce_client_id,
            client_secret=settings.salesforce_client_secret,
            username=settings.salesforce_username,
            password=settings.salesforce_password,
            grant=settings.salesforce_grant,
            api_version=settings.salesforce_api_version,
            ca_path=settings.effective_ca_path(),
        )
    )


def netsuite_client(settings: Settings) -> NetSuiteClient:
    return NetSuiteClient(
        NetSuiteConnection(
            account_id=settings.netsuite_account_id,
            base_url=settings.netsuite_base_url,
            consumer_key=settings.netsuite_consumer_key,
            consumer_secret=settings.netsuite_consumer_secret,
            token_id=settings.netsuite_token_id,
            token_secret=settings.netsuite_token_secret,
            ca_path=settings.effective_ca_path(),
        )
    )


def build_workers(
    client: Client,
    settings: Settings,
    store: Store,
    netsuite: NetSuiteClient,
    *,
    salesforce: SalesforceActivities | None = None,
) -> list[Worker]:
    """One worker per task queue; ``salesforce`` replaces the Salesforce order activities (tests)."""
    # Refuse to start on a broken mapping file (or one naming a field the metadata lacks), naming the field.
    load_mapping(settings.mapping_path, metadata=settings.metadata_dir)
    load_onboarding_plan(
        settings.onboarding_path, metadata=settings.metadata_dir
    )  # likewise the onboarding file
    sf_client = salesforce_client(settings)
    salesforce = salesforce or SalesforceActivities(sf_client)
    sf_accounts = SalesforceAccountActivities(sf_client)
    mapping = MappingActivities(settings.mapping_path, settings.metadata_dir)
    netsuite_activities = NetSuiteActivities(netsuite, store)
    ns_accounts = NetSuiteAccountActivities(netsuite, store)
    steering = Steering(client, account_sync_options(settings), settings)
    poller = NetSuitePollerActivities(NetSuiteBilling(netsuite), store)
    poll_state = PollerStateActivities(store, steering)
    changes = AccountChangeActivities(sf_client, store, steering)
    ns_catalog = NetSuiteCatalogActivities(netsuite)
    sf_catalog = SalesforceCatalogActivities(sf_client, store)
    sync_state = SyncStateActivities(store, steering)
    ns_backfill = NetSuiteBackfillActivities(netsuite, store)
    sf_backfill = SalesforceBackfillActivities(sf_client, store, steering, settings.data_dir / "backfill")
    ns_reconcile = NetSuiteReconciliationActivities(netsuite, store)
    reconcile = ReconciliationActivities(
        sf_client,
        store,
        settings.reports_dir or settings.data_dir / "reports",
        settings.reports_base_url,
        default_currency=settings.reporting_currency,
        default_budget=settings.reconcile_salesforce_api_budget,
    )
    onboarding = OnboardingActivities(sf_client, store, settings.onboarding_path, settings.metadata_dir)
    onboarding_steering = OnboardingSteeringActivities(
        store, steering, settings.onboarding_path, settings.metadata_dir
    )
    activities: list[Callable[..., Any]] = [
        salesforce.read_opportunity,
        salesforce.link_account_to_customer,
        salesforce.write_order_status,
        salesforce.upsert_invoice,
        salesforce.upsert_fulfillment,
        salesforce.write_billing_totals,
        salesforce.read_account,
        salesforce.find_account_for_customer,
        salesforce.set_account_credit,
        salesforce.upsert_task,
        sf_accounts.read_account_state,
        sf_accounts.find_account_candidates,
        sf_accounts.write_account,
        sf_accounts.create_account,
        sf_accounts.read_contact,
        sf_accounts.write_contact,
        mapping.load_mapping,
        netsuite_activities.upsert_customer,
        netsuite_activities.upsert_sales_order,
        netsuite_activities.get_sales_order,
        netsuite_activities.get_order_billing,
        netsuite_activities.check_credit,
        netsuite_activities.close_sales_order,
        netsuite_activities.customer_orders,
        onboarding.load_onboarding_plan,
        onboarding.read_onboarding_account,
        onboarding.assign_csm,
        onboarding.resolve_user,
        onboarding.record_onboarding,
        onboarding.upsert_onboarding_record,
        onboarding.set_account_csm,
        onboarding.upsert_onboarding_task,
        onboarding.read_onboarding_tasks,
        onboarding.update_onboarding_tasks,
        onboarding_steering.start_onboardings,
        onboarding_steering.notify_onboardings,
        ns_accounts.read_customer_state,
        ns_accounts.find_customer_candidates,
        ns_accounts.write_customer,
        ns_accounts.create_customer,
        ns_accounts.link_customer,
        ns_accounts.upsert_contact,
        poller.read_netsuite_changes,
        poller.evaluate_credit,
        poll_state.load_watermark,
        poll_state.save_watermark,
        poll_state.save_poll,
        poll_state.find_orders,
        changes.read_salesforce_changes,
        changes.notify_account_changes,
        changes.start_account_sync,
        ns_catalog.newest_netsuite_change,
        ns_catalog.read_catalog_page,
        ns_catalog.read_stock_page,
        sf_catalog.resolve_price_books,
        sf_catalog.apply_catalog_page,
        sf_catalog.apply_stock_page,
        sync_state.load_sync_state,
        sync_state.save_sync_state,
        sync_state.tell_orders_awaiting_stock,
        ns_backfill.index_customers,
        ns_backfill.write_netsuite,
        ns_backfill.plan_invoices,
        ns_backfill.check_orders,
        sf_backfill.begin,
        sf_backfill.open_query,
        sf_backfill.plan_page,
        sf_backfill.resolve_claims,
        sf_backfill.plan_customers,
        sf_backfill.number_steps,
        sf_backfill.write_salesforce,
        sf_backfill.finish,
        sf_backfill.counts,
        ns_reconcile.read_actuals,
        reconcile.read_bookings,
        reconcile.read_referenced,
        reconcile.compare,
        reconcile.write_report,
        reconcile.write_back,
    ]
    common: dict[str, Any] = {
        "deployment_config": deployment_config(settings),
        "graceful_shutdown_timeout": timedelta(seconds=settings.worker_shutdown_grace_seconds),
    }
    return [
        Worker(
            client,
            task_queue=names.TASK_QUEUE,
            workflows=WORKFLOWS,
            activities=on_queue(names.TASK_QUEUE, activities),
            **common,
        ),
        Worker(
            client,
            task_queue=names.NETSUITE_TASK_QUEUE,
            activities=on_queue(names.NETSUITE_TASK_QUEUE, activities),
            # The NetSuite account refuses requests over its concurrency limit; this worker's share.
            max_concurrent_activities=settings.netsuite_concurrency_share,
            **common,
        ),
    ]


def deployment_config(settings: Settings) -> WorkerDeploymentConfig | None:
    """This build's Worker Deployment version, when the deployment is named (else unversioned)."""
    if not settings.worker_deployment_name:
        return None
    if not settings.worker_build_id:
        raise SystemExit(
            "Q2C_WORKER_DEPLOYMENT_NAME is set but Q2C_WORKER_BUILD_ID is not: give each build its id "
            "(e.g. the image tag or git commit)"
        )
    return WorkerDeploymentConfig(
        version=WorkerDeploymentVersion(settings.worker_deployment_name, settings.worker_build_id),
        use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
    )


def on_queue(queue: str, activities: Sequence[Callable[..., Any]]) -> list[Callable[..., Any]]:
    """The activities whose class runs on ``queue``: where the workflows send them (``task_queue``)."""
    return [a for a in activities if task_queue(a) == queue]


async def run_worker(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set, then shut down gracefully (running activities may finish)."""
    store = Store(settings.effective_database_url())
    store.create_all()
    runtime = metrics_runtime(settings)
    install_metrics(runtime, settings)
    client = await connect_temporal(settings, runtime=runtime)
    netsuite = netsuite_client(settings)
    workers = build_workers(client, settings, store, netsuite)
    stop = stop or asyncio.Event()
    try:
        async with contextlib.AsyncExitStack() as running:
            for worker in workers:
                await running.enter_async_context(worker)
            log.info(
                "q2c worker polling %s and %s%s",
                names.TASK_QUEUE,
                names.NETSUITE_TASK_QUEUE,
                f" as {settings.worker_deployment_name}.{settings.worker_build_id}"
                if settings.worker_deployment_name
                else "",
            )
            if runtime is not None:
                counting = asyncio.create_task(keep_counting_needs_attention(client, runtime.metric_meter))
                running.callback(counting.cancel)
            await stop.wait()
            log.info(
                "q2c worker stopping: no new tasks; running activities have %gs to finish",
                settings.worker_shutdown_grace_seconds,
            )
            # Both queues stop polling at once and drain together (one after the other, the second
            # would take new tasks while the first drains, and the stop could outlast the grace period).
            await asyncio.gather(*(worker.shutdown() for worker in workers))
    finally:
        await netsuite.aclose()
        install_metrics(None, settings)
    log.info("q2c worker stopped")


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = Settings()
    configure_tracing("q2c-worker")

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
