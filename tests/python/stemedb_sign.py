"""A StemeDB signer and verifier written from docs/signing.md alone (no StemeDB code).

Needs: rfc8785 (JCS), blake3, cryptography (Ed25519). Used by check_cross_language.py.
"""
import json

import blake3
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DOMAIN = b"stemedb/v1/assertion"
ENVELOPE_FIELDS = (
    "id", "signature", "sequence", "recorded_at", "lifecycle_stage", "retracted_by",
    "retraction_reason", "superseded_by", "quarantine_rule", "votes",
)


def public_key_hex(seed: bytes) -> str:
    key = Ed25519PrivateKey.from_private_bytes(seed)
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def canonical(body: dict) -> bytes:
    return rfc8785.dumps(body)


def assertion_id(body: dict) -> str:
    return blake3.blake3(canonical(body)).hexdigest()


def signing_message(id_hex: str) -> bytes:
    return DOMAIN + b"\x00" + bytes.fromhex(id_hex)


def sign(body: dict, seed: bytes) -> dict:
    """Returns the wire form: the body plus `signature`."""
    id_hex = assertion_id(body)
    sig = Ed25519PrivateKey.from_private_bytes(seed).sign(signing_message(id_hex))
    return {**body, "signature": sig.hex()}


def verify_record(record: dict) -> bool:
    """Rebuilds the signed body from a returned record and checks id and signature."""
    body = {k: v for k, v in record.items() if k not in ENVELOPE_FIELDS}
    id_hex = assertion_id(body)
    if id_hex != record["id"]:
        return False
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(body["public_key"]))
    try:
        key.verify(bytes.fromhex(record["signature"]), signing_message(id_hex))
    except Exception:  # cryptography raises InvalidSignature
        return False
    return True


def loads(text: str):
    return json.loads(text)
