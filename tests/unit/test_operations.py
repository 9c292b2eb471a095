"""Pure rules of running q2c in production: the payload key ring and codec, the Temporal connection from
Temporal's environment configuration, URL redaction for spans, the poll-lag reading."""

from __future__ import annotations

import base64
import datetime as dt
import os

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes

from q2c.config import Settings, parse_key_ring
from q2c.telemetry import RedactingSpanExporter, redacted_url, watermark_lag_seconds
from temporal_client.codec import ENCODING, KEY_ID, EncryptionCodec, PayloadDecryptError, data_converter
from temporal_client.connect import connect_config

K1 = os.urandom(32)
K2 = os.urandom(32)


def ring(*entries: tuple[str, bytes]) -> str:
    return ",".join(f"{key_id}:{base64.b64encode(key).decode()}" for key_id, key in entries)


def payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_encrypted_payloads_hide_their_data_and_name_their_key() -> None:
    codec = EncryptionCodec("k1", {"k1": K1})
    [sealed] = await codec.encode([payload('{"name": "Zephyrine Gasworks"}')])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k1"
    assert b"Zephyrine" not in sealed.SerializeToString()
    [opened] = await codec.decode([sealed])
    assert opened == payload('{"name": "Zephyrine Gasworks"}')
    [again] = await codec.encode([payload('{"name": "Zephyrine Gasworks"}')])
    assert again.data != sealed.data  # a fresh nonce per payload


async def test_after_a_rotation_old_payloads_still_decrypt_and_new_ones_use_the_new_key() -> None:
    [old] = await EncryptionCodec("k1", {"k1": K1}).encode([payload("before")])
    rotated = EncryptionCodec("k2", {"k2": K2, "k1": K1})
    [new] = await rotated.encode([payload("after")])
    assert new.metadata[KEY_ID] == b"k2"
    assert await rotated.decode([old, new]) == [payload("before"), payload("after")]
    with pytest.raises(PayloadDecryptError, match=r"key 'k1', which the key ring .* holds k2"):
        await EncryptionCodec("k2", {"k2": K2}).decode([old])


async def test_plain_payloads_from_before_encryption_pass_through_and_tampering_is_refused() -> None:
    codec = EncryptionCodec("k1", {"k1": K1})
    assert await codec.decode([payload("old history")]) == [payload("old history")]
    [sealed] = await codec.encode([payload("amount 100")])
    tampered = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(PayloadDecryptError, match="does not authenticate"):
        await codec.decode([tampered])
    # The key id is authenticated too: a payload relabelled as another key's does not open.
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"k2"}, data=sealed.data)
    with pytest.raises(PayloadDecryptError, match="does not authenticate"):
        await EncryptionCodec("k1", {"k1": K1, "k2": K1}).decode([relabelled])


def test_key_ring_errors_name_the_entry_and_never_the_key() -> None:
    secret = base64.b64encode(b"x" * 20).decode()
    cases = {
        f"k1:{secret}": "the key of 'k1' is 20 bytes",
        "k1:not-base64!": "the key of 'k1' is not valid base64",
        f"{ring(('k1', K1))},k1:{base64.b64encode(K2).decode()}": "names the key id 'k1' twice",
        "just-a-key": "entry 1 is not key-id:base64 key",
    }
    for text, message in cases.items():
        with pytest.raises(ValueError, match=message) as raised:
            parse_key_ring(text)
        assert secret not in str(raised.value) and "not-base64" not in str(raised.value)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None, payload_keys=f"k1:{secret}")
    assert secret not in str(refused.value)
    with pytest.raises(ValueError, match="Q2C_PAYLOAD_KEY_ID is 'k9'"):
        Settings(_env_file=None, payload_keys=ring(("k1", K1)), payload_key_id="k9").payload_key_ring()


def test_the_converter_encrypts_only_with_a_key_ring_and_then_encodes_failures() -> None:
    plain = data_converter(Settings(_env_file=None))
    assert plain.payload_codec is None
    settings = Settings(_env_file=None, payload_keys=ring(("k1", K1), ("k0", K2)))
    encrypted = data_converter(settings)
    assert isinstance(encrypted.payload_codec, EncryptionCodec) and encrypted.payload_codec.key_id == "k1"
    assert isinstance(encrypted.failure_converter, DefaultFailureConverterWithEncodedAttributes)


def test_temporal_connection_comes_from_temporal_environment_and_q2c_settings_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", "q2c.a1b2c.tmprl.cloud:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "q2c.a1b2c")
    monkeypatch.setenv("TEMPORAL_API_KEY", "cloud-api-key-value")
    for name in ("Q2C_TEMPORAL_ADDRESS", "Q2C_TEMPORAL_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    config = connect_config(Settings(_env_file=None))
    assert config["target_host"] == "q2c.a1b2c.tmprl.cloud:7233" and config["namespace"] == "q2c.a1b2c"
    assert config["api_key"] == "cloud-api-key-value"
    assert config.get("tls")  # an API key implies TLS

    monkeypatch.setenv("Q2C_TEMPORAL_ADDRESS", "127.0.0.1:7233")
    config = connect_config(Settings(_env_file=None))
    assert config["target_host"] == "127.0.0.1:7233" and config["namespace"] == "q2c.a1b2c"

    for name in ("TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_API_KEY", "Q2C_TEMPORAL_ADDRESS"):
        monkeypatch.delenv(name)
    config = connect_config(Settings(_env_file=None))
    assert (config["target_host"], config["namespace"]) == ("127.0.0.1:7233", "default")
    assert "api_key" not in config


def test_mtls_client_certificates_come_from_temporal_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: os.PathLike[str]
) -> None:
    from pathlib import Path

    cert, key = Path(tmp_path) / "client.pem", Path(tmp_path) / "client.key"
    cert.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")
    monkeypatch.setenv("TEMPORAL_ADDRESS", "temporal.internal:7233")
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_CERT_PATH", str(cert))
    monkeypatch.setenv("TEMPORAL_TLS_CLIENT_KEY_PATH", str(key))
    monkeypatch.delenv("Q2C_TEMPORAL_ADDRESS", raising=False)
    tls = connect_config(Settings(_env_file=None))["tls"]
    assert not isinstance(tls, bool)
    assert tls.client_cert == cert.read_bytes() and tls.client_private_key == key.read_bytes()


def test_span_urls_lose_query_strings_and_credentials() -> None:
    url = "https://user:pw@acme.my.salesforce.com:8443/services/data/v59.0/query?q=SELECT+Id+FROM+Contact+WHERE+Email='a@b.c'#x"
    assert redacted_url(url) == "https://acme.my.salesforce.com:8443/services/data/v59.0/query"


def test_poll_lag_is_now_minus_the_oldest_timestamp_of_the_watermark() -> None:
    now = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    assert watermark_lag_seconds("2026-12-07T11:58:30Z", now) == 90
    cursors = (
        '{"Account": ["2026-12-07T11:59:00.000+0000", "001"], "Contact": ["2026-12-07 11:50:00", "003"]}'
    )
    assert watermark_lag_seconds(cursors, now) == 600
    assert watermark_lag_seconds(None, now) is None and watermark_lag_seconds("12345", now) is None


def test_exported_spans_keep_error_types_but_lose_error_text() -> None:
    exported = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(RedactingSpanExporter(exported)))
    with provider.get_tracer("test").start_as_current_span("RunActivity:find_accounts") as span:
        span.set_attribute("temporalActivityID", "7")
        span.record_exception(
            ConnectionError("GET /query/?q=SELECT+Id+FROM+Account+WHERE+Name+LIKE+'Quillon+Tracewell%'")
        )
        span.set_status(Status(StatusCode.ERROR, "ApplicationError: customer 'Quillon Tracewell' refused"))
    [sent] = exported.get_finished_spans()
    assert sent.status.status_code is StatusCode.ERROR and not sent.status.description
    [event] = sent.events
    assert event.name == "exception" and (event.attributes or {})["exception.type"] == "ConnectionError"
    assert "Quillon" not in repr(dict(event.attributes or {})) and "Quillon" not in repr(sent.to_json())
    assert (sent.attributes or {})["temporalActivityID"] == "7"


def test_empty_temporal_variables_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "TEMPORAL_ADDRESS",
        "TEMPORAL_API_KEY",
        "TEMPORAL_TLS_CLIENT_CERT_PATH",
        "Q2C_TEMPORAL_ADDRESS",
    ):
        monkeypatch.setenv(name, "")
    config = connect_config(Settings(_env_file=None))
    assert config["target_host"] == "127.0.0.1:7233"
    assert not config.get("api_key") and not config.get("tls")
