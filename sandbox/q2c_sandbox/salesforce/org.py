"""Everything one sandbox org is made of, built once per app and shared by the route modules."""

from __future__ import annotations

from dataclasses import dataclass, field

from q2c_sandbox.common import RequestLog, log
from q2c_sandbox.salesforce.auth import Sessions
from q2c_sandbox.salesforce.bulk2 import Bulk2
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
    bulk2: Bulk2
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
        queries = QueryEngine(store, schema)
        org = cls(
            settings=settings,
            schema=schema,
            store=store,
            records=records,
            queries=queries,
            sessions=Sessions(store, settings),
            usage=ApiUsage(store, settings.daily_api_requests),
            outbound=outbound,
            bulk2=Bulk2(store, schema, records, queries, settings.instance),
        )
        records.ensure_bootstrap(settings.username)
        return org

    def reset(self) -> None:
        self.store.wipe()
        self.cursors.clear()
        self.bulk2.clear()
        self.log.clear()
        self.records.ensure_bootstrap(self.settings.username)
