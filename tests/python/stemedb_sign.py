"""A StemeDB signer and verifier written from docs/signing.md alone (no StemeDB code).

Needs: rfc8785 (JCS), blake3, cryptography (Ed25519). Used by check_cross_language.py.
"""
import json
import unicodedata

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


# --- Refusals (docs/signing.md §1): repeated keys and the identifier rule ---

class RuleError(ValueError):
    def __init__(self, field: str, rule: str):
        super().__init__(f"{field}: {rule}")
        self.field, self.rule = field, rule


class _Pairs(list):
    """An object's (key, value) pairs in document order, duplicates kept."""


def loads_strict(text: str):
    """json.loads, but a key repeated in one object raises RuleError(path, "duplicate_key"),
    for the first repetition in document order."""
    return _dedupe(json.loads(text, object_pairs_hook=_Pairs), "")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _dedupe(node, path):
    if isinstance(node, _Pairs):
        out = {}
        for key, value in node:
            if key in out:
                raise RuleError(_join(path, key), "duplicate_key")
            out[key] = _dedupe(value, _join(path, key))
        return out
    if isinstance(node, list):
        return [_dedupe(v, f"{path}[{i}]") for i, v in enumerate(node)]
    return node


# General_Category Cf as of Unicode 16.0, the fixed list in docs/signing.md.
INVISIBLE = [
    (0x00AD, 0x00AD), (0x0600, 0x0605), (0x061C, 0x061C), (0x06DD, 0x06DD), (0x070F, 0x070F),
    (0x0890, 0x0891), (0x08E2, 0x08E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x2064), (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD),
    (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0001, 0xE0001), (0xE0020, 0xE007F),
]


def is_invisible(ch: str) -> bool:
    return any(lo <= ord(ch) <= hi for lo, hi in INVISIBLE)


def identifiers(body: dict):
    """(field, text) of every identifier, in the order the server checks them."""
    out = [(f, body[f]) for f in ("subject", "predicate", "agent_id") if isinstance(body.get(f), str)]
    return out + [(f"sources[{i}]", s) for i, s in enumerate(body.get("sources") or [])]


def check_identifiers(body: dict):
    """Raises RuleError for the first identifier the server would refuse: control characters
    in any identifier first (a body rule), then field by field an invisible character or
    text that is not NFC."""
    fields = identifiers(body)
    for field, text in fields:
        if any(unicodedata.category(c) == "Cc" for c in text):
            raise RuleError(field, "no_control_chars")
    for field, text in fields:
        if any(is_invisible(c) for c in text):
            raise RuleError(field, "invisible_char")
        if not unicodedata.is_normalized("NFC", text):
            raise RuleError(field, "nfc")
