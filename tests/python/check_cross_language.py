"""Cross-language check: a Python client built from docs/signing.md alone (the Python SDK,
clients/python, through stemedb_sign.py)
1. reproduces every published vector (canonical bytes, id, signature);
2. refuses every published refusal (repeated keys, identifiers not NFC or holding invisible
   characters) with the same field and rule, as the server does;
3. signs assertions that a running server accepts;
4. verifies every record the server returns for them.

Usage: python3 check_cross_language.py VECTORS_JSON [SERVER_URL]
Prints 'N passed, M failed' and exits non-zero on any failure.
"""
import datetime
import json
import os
import sys
import unicodedata
import urllib.parse
import urllib.request

import stemedb_sign as s

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def vectors(path):
    doc = json.load(open(path, encoding="utf-8"))
    for v in doc["vectors"]:
        seed = bytes.fromhex(v["seed"])
        check(f"{v['name']}: public_key", s.public_key_hex(seed) == v["public_key"])
        check(f"{v['name']}: canonical", s.canonical(v["body"]).decode("utf-8") == v["canonical"])
        check(f"{v['name']}: id", s.assertion_id(v["body"]) == v["id"])
        check(f"{v['name']}: signature", s.sign(v["body"], seed)["signature"] == v["signature"])


def refusal(wire_text):
    """The (field, rule) the contract refuses a wire text with, or None."""
    try:
        wire = s.loads_strict(wire_text)
        s.check_identifiers(wire)
    except s.RuleError as e:
        return (e.field, e.rule)
    return None


def refusals(path):
    doc = json.load(open(path, encoding="utf-8"))
    for r in doc["refusals"]:
        got = refusal(r["wire"])
        check(f"refusal {r['name']}", got == (r["field"], r["rule"]), f"got {got}")
    for v in doc["vectors"]:
        check(f"{v['name']}: identifiers pass", refusal(json.dumps(v["body"])) is None)
    # Every Cf character this Python knows is in the documented list (which is Unicode 16.0's).
    missing = [hex(c) for c in range(0x110000)
               if unicodedata.category(chr(c)) == "Cf" and not s.is_invisible(chr(c))]
    check(f"Unicode {unicodedata.unidata_version} Cf is within the documented list", not missing, str(missing))


def http(method, url, body=None, raw=None):
    data = raw if raw is not None else None if body is None else json.dumps(body).encode("utf-8")
    headers = {"content-type": "application/json"}
    if os.environ.get("STEMEDB_API_KEY"):
        headers["x-api-key"] = os.environ["STEMEDB_API_KEY"]
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def server(url):
    seed = os.urandom(32)
    agent = "python/" + seed[:6].hex()
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    bodies = [
        {"subject": "xlang/aspirin", "predicate": "dose_mg", "value": 81.5, "confidence": 0.9,
         "agent_id": agent, "public_key": s.public_key_hex(seed), "timestamp": now.isoformat().replace("+00:00", "Z")},
        {"subject": "xlang/aspirin", "predicate": "label", "value": {"名前": "アスピリン", "emoji": "💊", "n": [1, 2.5e-8]},
         "agent_id": agent, "public_key": s.public_key_hex(seed), "timestamp": "2024-01-01T00:00:00Z",
         "sources": ["source/XLANG"], "provenance": "python client"},
    ]
    for body in bodies:
        wire = s.sign(body, seed)
        status, reply = http("POST", url + "/v1/assert", wire)
        check(f"server accepts python-signed {body['predicate']}", status in (200, 201), f"{status} {reply}")
        check(f"server id equals python id for {body['predicate']}", reply.get("id") == s.assertion_id(body))
        status, record = http("GET", url + "/v1/assertions/" + s.assertion_id(body))
        check(f"record {body['predicate']} verifies in python", status == 200 and s.verify_record(record), str(record))
    bad = dict(s.sign(bodies[0], seed))
    bad["value"] = 82
    status, reply = http("POST", url + "/v1/assert", bad)
    check("tampered body is refused", status == 422 and reply.get("type", "").endswith("signature-invalid"), str(reply))
    doc = json.load(open(sys.argv[1], encoding="utf-8"))
    for r in doc["refusals"]:
        status, reply = http("POST", url + "/v1/assert", raw=r["wire"].encode("utf-8"))
        got = (status, reply.get("field"), reply.get("rule"))
        check(f"server refuses {r['name']}", got == (422, r["field"], r["rule"]), str(reply))
    q = urllib.parse.urlencode({"subject": "xlang/*", "lens": "consensus"})
    status, answer = http("GET", url + "/v1/query?" + q)
    check("query answers", status == 200, str(answer))
    records = answer.get("assertions", [])
    ids = {record["id"] for record in records}
    check("query returns both python-signed records", all(s.assertion_id(b) in ids for b in bodies), str(answer))
    for record in records:
        check(f"queried record {record['id'][:12]} verifies", s.verify_record(record))


if __name__ == "__main__":
    vectors(sys.argv[1])
    refusals(sys.argv[1])
    if len(sys.argv) > 2:
        server(sys.argv[2].rstrip("/"))
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
