"""Keys, canonical bytes, ids and signatures, as docs/signing.md defines them.

A body's canonical bytes are its RFC 8785 (JCS) serialisation; its id is the BLAKE3-256 of
those bytes; its signature is Ed25519 over `stemedb/v1/assertion` 0x00 followed by the id's 32
bytes. Key files are the CLI's (`stemedb keygen`): JSON with `algorithm`, `public_key` and
`secret_key` (the 32-byte seed), hex, mode 0600.
"""
import datetime
import json
import os

import blake3
import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DOMAIN = b"stemedb/v1/assertion"
# Fields a stored record carries beyond its signed body; a verifier removes exactly these.
ENVELOPE_FIELDS = (
    "id", "signature", "sequence", "recorded_at", "lifecycle_stage", "retracted_by",
    "retraction_reason", "superseded_by", "quarantine_rule", "votes",
)


class Key:
    """An Ed25519 signing key."""

    def __init__(self, seed: bytes):
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is 32 bytes")
        self.seed = seed
        self._private = Ed25519PrivateKey.from_private_bytes(seed)
        self.public_key_hex = self._private.public_key().public_bytes(
            Encoding.Raw, PublicFormat.Raw).hex()

    @classmethod
    def generate(cls) -> "Key":
        return cls(os.urandom(32))

    @classmethod
    def load(cls, path) -> "Key":
        """Reads a key file written by `stemedb keygen` or `Key.save`."""
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        if doc.get("algorithm", "ed25519") != "ed25519":
            raise ValueError(f"{path}: algorithm {doc.get('algorithm')!r} is not ed25519")
        key = cls(bytes.fromhex(doc["secret_key"]))
        if doc.get("public_key", key.public_key_hex) != key.public_key_hex:
            raise ValueError(f"{path}: public_key does not match secret_key")
        return key

    def save(self, path) -> None:
        """Writes a key file the CLI reads (mode 0600); refuses to replace an existing file."""
        doc = {"algorithm": "ed25519", "public_key": self.public_key_hex,
               "secret_key": self.seed.hex()}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, indent=2) + "\n")

    def sign_message(self, message: bytes) -> bytes:
        return self._private.sign(message)


def canonical(body: dict) -> bytes:
    return rfc8785.dumps(body)


def assertion_id(body: dict) -> str:
    return blake3.blake3(canonical(body)).hexdigest()


def signing_message(id_hex: str) -> bytes:
    return DOMAIN + b"\x00" + bytes.fromhex(id_hex)


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sign(body: dict, key: Key) -> dict:
    """The wire form of `body` (without `signature`): `public_key` is filled in from `key`
    when absent, then the body plus `signature`."""
    if "signature" in body:
        raise ValueError("the body is already signed")
    body = dict(body)
    body.setdefault("public_key", key.public_key_hex)
    if body["public_key"] != key.public_key_hex:
        raise ValueError("the body's public_key is not the signing key's")
    signature = key.sign_message(signing_message(assertion_id(body)))
    return {**body, "signature": signature.hex()}


def verify_record(record: dict) -> bool:
    """Whether a record read from a server (or an export) is intact: its body, without the
    envelope fields, hashes to its `id`, and its `signature` verifies with its `public_key`."""
    try:
        body = {k: v for k, v in record.items() if k not in ENVELOPE_FIELDS}
        id_hex = assertion_id(body)
        if id_hex != record.get("id"):
            return False
        public = Ed25519PublicKey.from_public_bytes(bytes.fromhex(body["public_key"]))
        public.verify(bytes.fromhex(record["signature"]), signing_message(id_hex))
        return True
    except (InvalidSignature, KeyError, ValueError, TypeError):
        return False


def draft(agent: str, subject: str, predicate: str, value, *, confidence=None, timestamp=None,
          sources=None, provenance=None, derived_from=None, **fields) -> dict:
    """A body from its parts; absent optional fields stay absent (they change the id)."""
    body = {"agent_id": agent, "subject": subject, "predicate": predicate, "value": value,
            "timestamp": timestamp or now_rfc3339()}
    for name, field in (("confidence", confidence), ("sources", sources),
                        ("provenance", provenance), ("derived_from", derived_from)):
        if field is not None:
            body[name] = field
    body.update(fields)
    return body
