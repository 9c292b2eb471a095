"""Encrypted payloads: every payload q2c hands Temporal (workflow and activity inputs and results, signals,
updates, queries, memos, failure messages) is encrypted with AES-GCM before it leaves the process, so the
cluster's histories hold no company name, email or phone in clear.

The format is the one of Temporal's encryption sample (``binary/encrypted`` with the key id in the
metadata), so the same codec server serves the web UI and ``temporal --codec-endpoint``. The key id is
also the GCM associated data: a payload cannot be passed off as encrypted under another key. Decoding
looks the key up by its id, so old histories stay readable after a rotation while their key is in the
ring; a payload that is not encrypted (a history from before encryption was turned on) passes through.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from q2c.config import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
CIPHER = "encryption-cipher"
NONCE_BYTES = (
    12  # GCM's standard nonce; random per payload (2^32 payloads per key keep collisions negligible)
)


class PayloadDecryptError(ValueError):
    """A payload that cannot be decrypted: its key is not in the ring, or it does not authenticate."""


class EncryptionCodec(PayloadCodec):
    """AES-GCM with a key ring: encrypts with the current key, decrypts with the key the payload names."""

    def __init__(self, current_key_id: str, keys: Mapping[str, bytes]) -> None:
        if current_key_id not in keys:
            raise ValueError(f"the current key id {current_key_id!r} is not in the key ring")
        self._current = current_key_id
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    @property
    def key_id(self) -> str:
        return self._current

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        cipher = self._ciphers[self._current]
        aad = self._current.encode()
        encoded = []
        for payload in payloads:
            nonce = os.urandom(NONCE_BYTES)
            sealed = cipher.encrypt(nonce, payload.SerializeToString(), aad)
            encoded.append(
                Payload(
                    metadata={"encoding": ENCODING, KEY_ID: aad, CIPHER: b"AES-GCM"},
                    data=nonce + sealed,
                )
            )
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        decoded = []
        for payload in payloads:
            if payload.metadata.get("encoding", b"") != ENCODING:
                decoded.append(payload)  # not encrypted: written before encryption was turned on
                continue
            key_id = payload.metadata.get(KEY_ID, b"").decode()
            cipher = self._ciphers.get(key_id)
            if cipher is None:
                raise PayloadDecryptError(
                    f"a payload is encrypted with key {key_id!r}, which the key ring (Q2C_PAYLOAD_KEYS) does "
                    f"not hold; it holds {', '.join(sorted(self._ciphers))}. Add the retired key back to read it"
                )
            data = payload.data
            try:
                plain = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], key_id.encode())
            except InvalidTag:
                raise PayloadDecryptError(
                    f"a payload encrypted with key {key_id!r} does not authenticate: it was altered, or the "
                    f"ring holds a different key under that id"
                ) from None
            decoded.append(Payload.FromString(plain))
        return decoded


def codec_from_settings(settings: Settings) -> EncryptionCodec | None:
    ring = settings.payload_key_ring()
    return EncryptionCodec(*ring) if ring else None


def data_converter(settings: Settings) -> DataConverter:
    """q2c's converter: pydantic payloads, encrypted (failure messages and stack traces too) when a key
    ring is configured."""
    codec = codec_from_settings(settings)
    if codec is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=codec,
        # A failure's message ("customer Acme Corp ...") and stack trace go into an encrypted payload.
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
