"""Running the sandboxes as a person does: restarts keep the admin knobs, logs keep no secrets, and a
client that goes away costs one log line."""

from __future__ import annotations

import logging
import socket
import ssl
import stat
from functools import partial
from pathlib import Path

import pytest

from devtools.processes import Supervisor, port_open, q2c_command, wait_for
from q2c_sandbox.local import local_sandboxes
from q2c_sandbox.netsuite.app import NetSuiteSandboxSettings
from q2c_sandbox.salesforce.app import SalesforceSandboxSettings
from q2c_sandbox.server import free_port


def test_latency_and_concurrency_limit_survive_a_restart_and_are_announced(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with local_sandboxes(tmp_path) as first:
        first.ns_admin.put("/latency", {"fixed_seconds": 0.05, "jitter_seconds": 0.01, "seed": 3})
        first.ns_admin.put("/concurrency", {"limit": 2})
        first.sf_admin.put("/latency", {"fixed_seconds": 0.02})
    caplog.set_level(logging.INFO)

    with local_sandboxes(tmp_path) as second:
        assert second.ns_admin.get("/latency") == {"fixed_seconds": 0.05, "jitter_seconds": 0.01}
        assert second.ns_admin.stats()["concurrency_limit"] == 2
        assert second.sf_admin.get("/latency") == {"fixed_seconds": 0.02, "jitter_seconds": 0.0}

    restored = [r.getMessage() for r in caplog.records if "kept from before the restart" in r.getMessage()]
    assert len(restored) == 2, restored
    netsuite = next(m for m in restored if m.startswith("NetSuite sandbox"))
    assert "latency 0.05 s + up to 0.01 s jitter" in netsuite and "concurrency limit 2" in netsuite
    assert str(tmp_path / "netsuite.admin.json") in netsuite
    assert "latency 0.02 s" in next(m for m in restored if m.startswith("Salesforce sandbox"))


@pytest.mark.parametrize(
    ("system", "path"),
    [("NetSuite", "/services/rest/record/v1/customer"), ("Salesforce", "/services/oauth2/token")],
)
def test_a_client_that_goes_away_mid_request_costs_one_log_line(
    system: str, path: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest
) -> None:
    caplog.set_level(logging.INFO)

    def about_it() -> list[logging.LogRecord]:
        return [r for r in caplog.records if path in r.getMessage() or r.exc_info is not None]

    with local_sandboxes(tmp_path) as sandboxes:
        # uvicorn's loggers (configured as the servers start) do not propagate: listen to its error
        # log too, where a traceback would go.
        uvicorn_errors = logging.getLogger("uvicorn.error")
        uvicorn_errors.addHandler(caplog.handler)
        request.addfinalizer(lambda: uvicorn_errors.removeHandler(caplog.handler))
        port = (sandboxes.netsuite if system == "NetSuite" else sandboxes.salesforce).port
        context = ssl.create_default_context(cafile=str(sandboxes.cert.ca_path))
        for _ in range(3):
            # Headers and the start of a body, then the client is killed.
            with (
                socket.create_connection(("127.0.0.1", port)) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
            ):
                tls.sendall(
                    f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "Content-Length: 100\r\n\r\n{".encode()
                )
        wait_for(
            lambda: len(about_it()) >= 3, timeout=10, what=f"three log records from the {system} sandbox"
        )

    records = about_it()
    assert len(records) == 3, [r.getMessage() for r in records]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in records)
    assert records[0].getMessage() == (
        f"{system} sandbox: POST {path}: the client went away before sending the whole request; "
        "nothing was done"
    )


def test_sandbox_up_keeps_credentials_out_of_its_log(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    sf_port, ns_port = free_port(), free_port()
    supervisor = Supervisor(tmp_path / "logs", env={"Q2C_DATA_DIR": str(data_dir)})
    try:
        supervisor.start(
            "sandboxes",
            q2c_command("sandbox", "up", "--salesforce-port", str(sf_port), "--netsuite-port", str(ns_port)),
        )
        for port in (sf_port, ns_port):
            wait_for(
                partial(port_open, "127.0.0.1", port),
                timeout=60,
                what=f"sandbox on port {port}",
                on_wait=supervisor.check_alive,
            )
        log_file = tmp_path / "logs" / "sandboxes.log"
        wait_for(lambda: "q2c sandboxes" in log_file.read_text(), timeout=10, what="the sandboxes' banner")
    finally:
        supervisor.stop_all()

    sf, ns = SalesforceSandboxSettings(db_path=Path("x")), NetSuiteSandboxSettings(db_path=Path("x"))
    secrets = {
        "Salesforce client secret": sf.client_secret,
        "Salesforce password": sf.password,
        "NetSuite consumer secret": ns.consumer_secret,
        "NetSuite token id": ns.token_id,
        "NetSuite token secret": ns.token_secret,
        "admin key": sf.admin_key,
    }
    logged = log_file.read_text()
    assert [name for name, value in secrets.items() if value in logged] == []
    assert "PRIVATE KEY" not in logged
    credentials = data_dir / "sandbox-credentials"
    assert f"credentials: {credentials}" in logged
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert all(value in credentials.read_text() for value in secrets.values())
