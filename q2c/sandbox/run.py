"""Running both sandboxes in one process: ``q2c sandbox up``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from q2c.sandbox.netsuite.app import NetSuiteSandboxSettings
from q2c.sandbox.netsuite.app import create_app as create_netsuite_app
from q2c.sandbox.salesforce.app import SalesforceSandboxSettings
from q2c.sandbox.salesforce.app import create_app as create_salesforce_app
from q2c.sandbox.server import uvicorn_config
from q2c.sandbox.tls import ServerCert, ensure_server_cert


@dataclass(frozen=True)
class SandboxSetup:
    host: str
    salesforce_port: int
    netsuite_port: int
    cert: ServerCert
    salesforce: SalesforceSandboxSettings
    netsuite: NetSuiteSandboxSettings

    @property
    def salesforce_url(self) -> str:
        return f"https://{self.host}:{self.salesforce_port}"

    @property
    def netsuite_url(self) -> str:
        return f"https://{self.host}:{self.netsuite_port}"

    def describe(self) -> str:
        sf, ns = self.salesforce, self.netsuite
        return "\n".join(
            [
                "q2c sandboxes",
                f"  CA certificate (trust it):   {self.cert.ca_path}",
                f"  Admin API key (header X-Sandbox-Admin-Key, prefix /__admin): {sf.admin_key}",
                "",
                f"  Salesforce   {self.salesforce_url}",
                f"    token URL      {self.salesforce_url}/services/oauth2/token",
                f"    org id         {sf.org_id}",
                f"    client id      {sf.client_id}",
                f"    client secret  {sf.client_secret}",
                f"    username       {sf.username}",
                f"    password       {sf.password}",
                "",
                f"  NetSuite     {self.netsuite_url}",
                f"    record API     {self.netsuite_url}/services/rest/record/v1",
                f"    SuiteQL        {self.netsuite_url}/services/rest/query/v1/suiteql",
                f"    account (realm) {ns.account_id}",
                f"    consumer key   {ns.consumer_key}",
                f"    consumer secret {ns.consumer_secret}",
                f"    token id       {ns.token_id}",
                f"    token secret   {ns.token_secret}",
            ]
        )


def sandbox_setup(
    data_dir: Path, *, host: str = "127.0.0.1", salesforce_port: int, netsuite_port: int
) -> SandboxSetup:
    sandbox_dir = data_dir / "sandbox"
    sandbox_dir.mkdir(parents=True, exist_ok=True)
    cert = ensure_server_cert(data_dir / "tls")
    return SandboxSetup(
        host=host,
        salesforce_port=salesforce_port,
        netsuite_port=netsuite_port,
        cert=cert,
        salesforce=SalesforceSandboxSettings(
            db_path=sandbox_dir / "salesforce.db", outbound_ca_path=cert.ca_path
        ),
        netsuite=NetSuiteSandboxSettings(db_path=sandbox_dir / "netsuite.db"),
    )


async def serve_sandboxes(setup: SandboxSetup) -> None:
    servers = [
        uvicorn.Server(
            uvicorn_config(
                create_salesforce_app(setup.salesforce), setup.host, setup.salesforce_port, setup.cert
            )
        ),
        uvicorn.Server(
            uvicorn_config(create_netsuite_app(setup.netsuite), setup.host, setup.netsuite_port, setup.cert)
        ),
    ]
    await asyncio.gather(*(server.serve() for server in servers))
