"""Everything one sandbox org is made of, built once per app and shared by the route modules."""

from __future__ import annotations

from dataclasses import dataclass, field

from q2c_sandbox.common import RequestLog, log
from q2c_sandbox.salesforce.auth import Sessions
from q2c_sandbox.salesforce.cursors import QueryCursors
from q2c_sandbox.salesforce.outbound import Outbound
from q2c_sandbox.salesforce.records import RecordService
from q2c_sandbox.salesforce.schema import SCHEMA_PATH, Schema, load_schema
from q2c_sandbox.salesforce.settings import SalesforceSandboxSettings
from q2c_sandbox.salesforce.soql_eval import QueryEngine
from q2c_sandbox.salesforce.store import Store
from q2c_sandbox.salesforce.usage import ApiUsage


@dataclass
class Org:
    settings: SalesforceSandboxSettings
    schema: Schema
    store: Store
    records: RecordService
    queries: QueryEngine
    sessions: Sessions
    usage: ApiUsage
    outbound: Outbound
    cursors: QueryCursors = field(default_factory=QueryCursors)
    log: RequestLog = field(default_factory=RequestLog)

    @classmethod
    def open(cls, settings: SalesforceSandboxSettings) -> Org:
        if settings.metadata_path is None:
            log.warning(
                "Salesforce sandbox: no SFDX project (metadata_path), so the org has no custom fields"
            )
        schema = load_schema(settings.schema_path or SCHEMA_PATH, settings.metadata_path)
        store = Store(settings.db_path, schema)
        records = RecordService(store, schema, settings.instance)
        outbound = Outbound(store, schema, settings)
        records.on_api_save = outbound.on_save
        org = cls(
            settings=settings,
            schema=schema,
            store=store,
            records=records,
            queries=QueryEngine(store, schema),
            sessions=Sessions(store, settings),
            usage=ApiUsage(store, settings.daily_api_requests),
            outbound=outbound,
        )
        records.ensure_bootstrap(settings.username)
        return org

    def reset(self) -> None:
        self.store.wipe()
        self.cursors.clear()
        self.log.clear()
        self.records.ensure_bootstrap(self.settings.username)
