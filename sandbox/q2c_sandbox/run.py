"""Running both sandboxes in one process: ``q2c sandbox up``."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from q2c_sandbox.netsuite.app import NetSuiteSandboxSettings
from q2c_sandbox.netsuite.app import create_app as create_netsuite_app
from q2c_sandbox.salesforce.app import SalesforceSandboxSettings
from q2c_sandbox.salesforce.app import create_app as create_salesforce_app
from q2c_sandbox.server import uvicorn_config
from q2c_sandbox.tls import ServerCert, ensure_server_cert


@dataclass(frozen=True)
class SandboxSetup:
    host: str
    salesforce_port: int
    netsuite_port: int
    cert: ServerCert
    salesforce: SalesforceSandboxSettings
    netsuite: NetSuiteSandboxSettings
    credentials_path: Path  # the credentials, readable by their owner only; the banner points at it

    @property
    def salesforce_url(self) -> str:
        return f"https://{self.host}:{self.salesforce_port}"

    @property
    def netsuite_url(self) -> str:
        return f"https://{self.host}:{self.netsuite_port}"

    def credentials(self) -> str:
        sf, ns = self.salesforce, self.netsuite
        return "\n".join(
            [
                f"admin API key (header X-Sandbox-Admin-Key, prefix /__admin): {sf.admin_key}",
                f"salesforce client id      {sf.client_id}",
                f"salesforce client secret  {sf.client_secret}",
                f"salesforce username       {sf.username}",
                f"salesforce password       {sf.password}",
                f"netsuite consumer key     {ns.consumer_key}",
                f"netsuite consumer secret  {ns.consumer_secret}",
                f"netsuite token id         {ns.token_id}",
                f"netsuite token secret     {ns.token_secret}",
            ]
        )

    def write_credentials(self) -> Path:
        """Write ``credentials()`` to ``credentials_path``, mode 0600 (also when the file existed)."""
        descriptor = os.open(self.credentials_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(self.credentials() + "\n")
        return self.credentials_path

    def describe(self, *, with_credentials: bool) -> str:
        """The start-up banner. Without credentials (for anything that may end up in a log file) it
        says where they are instead."""
        sf, ns = self.salesforce, self.netsuite
        if with_credentials:
            secrets = ["", *(f"  {line}" for line in self.credentials().splitlines())]
        else:
            secrets = []
        return "\n".join(
            [
                "q2c sandboxes",
                f"  CA certificate (trust it):   {self.cert.ca_path}",
                f"  credentials: {self.credentials_path} (readable by you only)",
                "",
                f"  Salesforce   {self.salesforce_url}",
                f"    token URL      {self.salesforce_url}/services/oauth2/token",
                f"    org id         {sf.org_id}",
                "",
                f"  NetSuite     {self.netsuite_url}",
                f"    record API     {self.netsuite_url}/services/rest/record/v1",
                f"    SuiteQL        {self.netsuite_url}/services/rest/query/v1/suiteql",
                f"    account (realm) {ns.account_id}",
                *secrets,
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
        credentials_path=data_dir / "sandbox-credentials",
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


def main(argv: list[str] | None = None) -> None:
    """``q2c-sandbox``: serve both sandboxes until Ctrl-C, for integrators using them without q2c.

    Credentials go to the terminal only when it is one, and always to ``DATA_DIR/sandbox-credentials``
    (mode 0600), never into a log."""
    import argparse
    import logging
    import sys

    parser = argparse.ArgumentParser(prog="q2c-sandbox", description=__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path(".data"), help="databases, CA and credentials")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--salesforce-port", type=int, default=9443)
    parser.add_argument("--netsuite-port", type=int, default=9444)
    args = parser.parse_args(argv)
    setup = sandbox_setup(
        args.data_dir, host=args.host, salesforce_port=args.salesforce_port, netsuite_port=args.netsuite_port
    )
    setup.write_credentials()
    print(setup.describe(with_credentials=sys.stdout.isatty()), flush=True)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve_sandboxes(setup))
    except KeyboardInterrupt:
        pass
