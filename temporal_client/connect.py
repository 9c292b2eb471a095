"""Connecting to Temporal the one way every q2c process does, and registering q2c's search attributes on a
namespace.

Where and how to connect comes from Temporal's own environment configuration (``temporalio.envconfig``:
``TEMPORAL_ADDRESS``, ``TEMPORAL_NAMESPACE``, ``TEMPORAL_API_KEY``, ``TEMPORAL_TLS_CLIENT_CERT_PATH`` /
``..._KEY_PATH`` / ``TEMPORAL_TLS_SERVER_CA_CERT_PATH``, ``TEMPORAL_TLS_SERVER_NAME``, a profile of the
``temporal.toml`` file by ``TEMPORAL_PROFILE`` / ``TEMPORAL_CONFIG_FILE``), so Temporal Cloud and mTLS
clusters need no code. ``Q2C_TEMPORAL_ADDRESS`` / ``Q2C_TEMPORAL_NAMESPACE``, when set, win (the embedded
default sets them). Payloads are pydantic JSON, encrypted when a key ring is set (``temporal_client.codec``);
spans and metrics as ``temporal_client.telemetry`` configures them.
"""

from __future__ import annotations

import os

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.envconfig import ClientConfig, ClientConnectConfig
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from q2c.config import Settings
from temporal_client.codec import data_converter
from temporal_client.telemetry import tracing_interceptors
from workflows import names


def connect_config(settings: Settings) -> ClientConnectConfig:
    """Temporal's environment configuration, with the ``Q2C_TEMPORAL_*`` settings a user set on top."""
    # An empty variable (``TEMPORAL_API_KEY=`` as an env file writes an unset one) means unset: given to
    # envconfig it would turn TLS on, or read a certificate from the current directory.
    config = ClientConfig.load_client_connect_config(
        override_env_vars={name: value for name, value in os.environ.items() if value.strip()}
    )
    fields, defaults = settings.model_fields_set, Settings.model_fields
    if ("temporal_address" in fields and settings.temporal_address) or not config.get("target_host"):
        config["target_host"] = settings.temporal_address or defaults["temporal_address"].default
    if ("temporal_namespace" in fields and settings.temporal_namespace) or not config.get("namespace"):
        config["namespace"] = settings.temporal_namespace or defaults["temporal_namespace"].default
    return config


async def connect_temporal(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """A client as ``settings`` and the environment say; ``runtime``: the worker's, with its metrics."""
    return await Client.connect(
        **connect_config(settings),
        data_converter=data_converter(settings),
        interceptors=tracing_interceptors(),
        runtime=runtime,
    )


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add q2c's search attributes that the namespace lacks; returns the names it added."""
    try:
        existing = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        known = set(existing.custom_attributes)
    except RPCError as exc:
        if exc.status is not RPCStatusCode.UNIMPLEMENTED:  # the time-skipping test server cannot list
            raise
        known = set()
    missing = {
        key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
        for key in names.SEARCH_ATTRIBUTES
        if key.name not in known
    }
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
