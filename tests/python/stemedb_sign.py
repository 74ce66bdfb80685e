"""The cross-language check's signer and verifier: the Python SDK's (clients/python), which
was written from docs/signing.md alone, with no StemeDB code. This module only adapts names
(a seed where the SDK takes a `Key`).
"""
from stemedb import signing as _signing
from stemedb.rules import RuleError, check_identifiers, is_invisible, loads_strict
from stemedb.signing import ENVELOPE_FIELDS, Key, assertion_id, canonical, verify_record

__all__ = [
    "ENVELOPE_FIELDS", "RuleError", "assertion_id", "canonical", "check_identifiers",
    "is_invisible", "loads_strict", "public_key_hex", "sign", "verify_record",
]


def public_key_hex(seed: bytes) -> str:
    return Key(seed).public_key_hex


def sign(body: dict, seed: bytes) -> dict:
    """The wire form: the body plus `signature`."""
    return _signing.sign(body, Key(seed))
