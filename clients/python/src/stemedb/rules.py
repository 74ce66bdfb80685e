"""The contract's refusals that a client can check before sending (docs/signing.md §1): a key
repeated in one JSON object, and the identifier rule (no control or invisible characters,
NFC). The server applies the same rules; checking here gives the same field and rule sooner.
"""
import json
import unicodedata


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
