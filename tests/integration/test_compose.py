"""docker-compose.yml's own services run natively, with the environment the compose file gives them.

No Docker here: each service's process (the compose entrypoint, else its Dockerfile stage's, and the
compose command), its environment (the stage's ENV, the .env an operator writes from .env.example's
"sandboxes" block, the compose `environment`) and its own health check run on this machine. Host names
become 127.0.0.1 and ports free ones; each volume is a directory; q2c's store is a fresh database on the
local PostgreSQL; Temporal is the session's dev server. What runs: the namespace job (with the real
`temporal` CLI), the sandboxes (the `sandbox` stage), `q2c setup`, the worker, the webhook, the codec
server, and `q2c poll` as a one-off beside the worker.

The services whose images cannot run here (PostgreSQL, the Temporal server and its schema job, the UI,
the admin tools, Prometheus, Grafana) are covered by the static check only (devtools/compose_check.py,
tests/unit/test_compose_check.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment

from devtools.compose_check import (
    ROOT,
    Dockerfile,
    env_example_blocks,
    listen_ports,
    load_compose,
    parse_dockerfile,
)
from devtools.temporal_server import venv_binary
from q2c_sandbox.server import free_port
from tests.conftest import until

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
BIN = Path(sys.executable).parent  # python, q2c, temporal: this virtualenv's, as the images' are on PATH
# The test process's own settings must not leak into the services.
FOREIGN = re.compile(r"^(Q2C_|TEMPORAL_|OTEL_|SANDBOX_|FORWARDED_ALLOW_IPS$)")


@dataclass
class NativeCompose:
    """The compose file's services as processes on this machine, with host names, ports and mounted
    paths rewritten to this machine's."""

    document: dict[str, Any]
    dockerfile: Dockerfile
    dotenv: dict[str, str]  # the operator's .env (the services' env_file)
    root: Path  # volumes and logs
    ports: dict[tuple[str, int], int]  # (service, port in the container) -> port here
    overrides: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name, service in self.services.items():
            for port in listen_ports(service):
                self.port(name, port)

    @property
    def services(self) -> dict[str, Any]:
        services: dict[str, Any] = self.document["services"]
        return services

    def port(self, service: str, port: int) -> int:
        return self.ports.setdefault((service, port), free_port())

    def stage(self, service: str) -> tuple[dict[str, str], list[str]]:
        """The ENV and ENTRYPOINT of the Dockerfile stage the service is built from (none for an image)."""
        target = (self.services[service].get("build") or {}).get("target")
        if target is None:
            return {}, []
        stage = self.dockerfile.stages[target]
        return stage.env, stage.entrypoint or []

    def mounts(self, service: str) -> dict[str, Path]:
        """{path in the container: directory here} of the service's volumes; a volume mounted inside
        another is linked into that one's directory, as the mount shows it there."""
        mounts: dict[str, Path] = {}
        for volume in self.services[service].get("volumes") or []:
            source, target = str(volume).split(":")[:2]
            if source.startswith("."):
                mounts[target] = ROOT / source  # a bind mount of the project's
            else:
                mounts[target] = self.root / "volumes" / source
                mounts[target].mkdir(parents=True, exist_ok=True)
        for target, here in mounts.items():
            for outer, outer_here in mounts.items():
                inner = outer_here / target[len(outer) + 1 :]
                if target.startswith(f"{outer}/") and not inner.exists():
                    inner.symlink_to(here)
        return mounts

    def rewrite(self, service: str, text: str) -> str:
        """``text`` as it must read here: mounted paths, service:port and 0.0.0.0 (and 127.0.0.1:port of
        the service's own ports) made this machine's."""
        mounts = self.mounts(service)
        if mounts:
            paths = "|".join(re.escape(target) for target in sorted(mounts, key=len, reverse=True))
            text = re.sub(
                rf"(?<![\w./-])({paths})(?=[/'\"\s,]|$)", lambda match: str(mounts[match.group(1)]), text
            )

        def address(match: re.Match[str]) -> str:
            host, port = match.group(1), int(match.group(2))
            owner = service if host in ("0.0.0.0", "127.0.0.1") else host
            if (owner, port) not in self.ports:
                return match.group()
            return f"127.0.0.1:{self.ports[(owner, port)]}"

        names = "|".join(re.escape(name) for name in sorted(self.services, key=len, reverse=True))
        text = re.sub(rf"(?<![\w.-])({names}|0\.0\.0\.0|127\.0\.0\.1):(\d+)\b", address, text)
        return re.sub(r"(?<![\w.])0\.0\.0\.0\b", "127.0.0.1", text)

    def own_port(self, service: str, word: str) -> str:
        """``word`` as the port here when it is one the service listens on (a command's, a *_PORT)."""
        known = word.isdigit() and (service, int(word)) in self.ports
        return str(self.ports[(service, int(word))]) if known else word

    def environment(self, service: str) -> dict[str, str]:
        spec = self.services[service]
        values = {**self.stage(service)[0], **(self.dotenv if spec.get("env_file") else {})}
        values.update({name: str(value) for name, value in (spec.get("environment") or {}).items()})
        env = {name: value for name, value in os.environ.items() if not FOREIGN.match(name)}
        env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
        for name, value in values.items():
            value = self.rewrite(service, value)
            env[name] = self.own_port(service, value) if name.endswith("_PORT") else value
        return env | self.overrides

    def argv(self, service: str, words: list[str]) -> list[str]:
        words = [self.own_port(service, self.rewrite(service, word)) for word in words]
        program = BIN / words[0]
        return [str(program) if program.exists() else words[0], *words[1:]]

    def command(self, service: str, command: list[str] | None = None) -> list[str]:
        """The service's process (``command`` in place of the compose one: ``docker compose run``)."""
        spec = self.services[service]
        entrypoint = spec.get("entrypoint") or self.stage(service)[1]
        return self.argv(service, [*entrypoint, *(command or spec.get("command") or [])])

    def healthcheck(self, service: str) -> list[str]:
        test = self.services[service]["healthcheck"]["test"]
        assert test[0] == "CMD", f"{service}: its health check runs here only in the CMD form"
        return self.argv(service, test[1:])

    def start(self, service: str) -> subprocess.Popen[bytes]:
        with (self.root / f"{service}.log").open("wb") as log:
            process = subprocess.Popen(
                self.command(service),
                env=self.environment(service),
                cwd=self.root,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append(process)
        return process

    def log(self, service: str) -> str:
        path = self.root / f"{service}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    async def execute(
        self, service: str, argv: list[str], within: float
    ) -> subprocess.CompletedProcess[bytes]:
        return await asyncio.to_thread(
            subprocess.run,
            argv,
            env=self.environment(service),
            cwd=self.root,
            capture_output=True,
            timeout=within,
        )

    async def run(self, service: str, command: list[str] | None = None, *, within: float = 30) -> str:
        """Run the service (a job) or ``command`` in its environment to the end; the output. Fails, with
        the output, unless it exits 0 within ``within`` seconds."""
        argv = self.command(service, command)
        try:
            done = await self.execute(service, argv, within)
        except subprocess.TimeoutExpired as late:
            printed = ((late.stdout or b"") + (late.stderr or b"")).decode(errors="replace")
            raise AssertionError(f"{argv} ran over {within}s:\n{printed[-4000:]}") from None
        output = (done.stdout + done.stderr).decode(errors="replace")
        assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{output[-4000:]}"
        return output

    async def healthy(self, service: str, process: subprocess.Popen[bytes]) -> None:
        """Wait until the service's own health check passes; fail at once if its process ends."""

        async def check() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{service} exited {process.returncode}:\n{self.log(service)}")
            return (await self.execute(service, self.healthcheck(service), 30)).returncode == 0

        try:
            await until(check, f"{service}'s health check to pass", 30)
        except AssertionError as failed:
            raise AssertionError(f"{failed}\n{self.log(service)}") from None

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def store_database() -> Iterator[str]:
    """A fresh database for q2c's store on the local PostgreSQL, dropped afterwards."""
    name = f"q2c_compose_{secrets.token_hex(4)}"
    with psycopg.connect(LOCAL_POSTGRES, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(LOCAL_POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def temporal_cli(*args: str, address: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "TEMPORAL_ADDRESS": address}
    return subprocess.run([str(venv_binary("temporal")), *args], env=env, capture_output=True)


@pytest.fixture
async def compose(
    temporal_env: WorkflowEnvironment, store_database: str, tmp_path: Path
) -> AsyncIterator[NativeCompose]:
    namespace = f"q2c-compose-{secrets.token_hex(4)}"
    # The operator's .env: .env.example's sandboxes block, a key ring, a namespace of its own.
    dotenv = {
        **env_example_blocks()["sandboxes"],
        "TEMPORAL_NAMESPACE": namespace,
        "Q2C_PAYLOAD_KEYS": "k1:" + base64.b64encode(os.urandom(32)).decode(),
    }
    address = temporal_env.client.service_client.config.target_host
    native = NativeCompose(
        load_compose(ROOT, dotenv),
        parse_dockerfile(ROOT / "Dockerfile"),
        dotenv,
        tmp_path,
        ports={("temporal", 7233): int(address.rsplit(":", 1)[1]), ("q2c-db", 5432): 5432},
        overrides={
            # The local PostgreSQL's user and this test's database, not the q2c-db service's.
            "Q2C_DATABASE_URL": store_database,
            # Until q2c reads TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE (temporalio.envconfig) everywhere.
            "Q2C_TEMPORAL_ADDRESS": address,
            "Q2C_TEMPORAL_NAMESPACE": namespace,
        },
    )
    try:
        yield native
    finally:
        native.stop()
        await asyncio.to_thread(
            temporal_cli, "operator", "namespace", "delete", "-n", namespace, "--yes", address=address
        )


async def test_the_compose_services_run_with_the_environment_it_gives_them(compose: NativeCompose) -> None:
    # The namespace job: created with q2c's retention, then (a second `up`) brought to it again once the
    # server's namespace cache knows it.
    await compose.run("temporal-namespace")
    env = compose.environment("temporal-namespace")
    described = temporal_cli(
        "operator",
        "namespace",
        "describe",
        "-n",
        env["TEMPORAL_NAMESPACE"],
        "-o",
        "json",
        address=env["TEMPORAL_ADDRESS"],
    )
    assert json.loads(described.stdout)["config"]["workflowExecutionRetentionTtl"] == f"{30 * 24 * 3600}s"

    async def second_run() -> bool:
        return (
            await compose.execute("temporal-namespace", compose.command("temporal-namespace"), 30)
        ).returncode == 0

    await until(second_run, "a second run of the namespace job to succeed")

    # Its health check is a TLS handshake verified against the CA for the host name `sandboxes`.
    await compose.healthy("sandboxes", compose.start("sandboxes"))
    await compose.run("setup")
    started = {name: compose.start(name) for name in ("worker", "webhook", "codec-server")}
    await asyncio.gather(*(compose.healthy(name, process) for name, process in started.items()))

    webhook = compose.environment("webhook")  # HTTPS with the sandboxes' certificate, by the .env block
    async with httpx.AsyncClient(verify=webhook["Q2C_CA_PATH"]) as http:
        health = await http.get(f"https://127.0.0.1:{webhook['Q2C_WEBHOOK_PORT']}/healthz")
    assert health.json() == {"ok": True}

    # `docker compose run --rm worker poll`: one NetSuite poll through the worker, which reads the NetSuite
    # sandbox over TLS, trusting the CA the compose environment names.
    polled = json.loads(await compose.run("worker", ["poll"]))
    assert polled["invoices_read"] == 0 and polled["parked"] == []
