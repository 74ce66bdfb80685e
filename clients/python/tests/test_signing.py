"""Signing as docs/signing.md defines it: every published vector, key files shared with the
CLI, and offline verification that notices a changed byte."""
import json
import os
import subprocess

import pytest

from stemedb import Key, assertion_id, canonical, sign, verify_record

from conftest import stemedb_bin


def test_every_published_vector_is_reproduced(vectors):
    assert vectors["vectors"], "the vector file has vectors"
    for v in vectors["vectors"]:
        key = Key(bytes.fromhex(v["seed"]))
        assert key.public_key_hex == v["public_key"], v["name"]
        assert canonical(v["body"]).decode("utf-8") == v["canonical"], v["name"]
        assert assertion_id(v["body"]) == v["id"], v["name"]
        assert sign(v["body"], key)["signature"] == v["signature"], v["name"]


def test_key_files_are_the_clis(tmp_path):
    cli_key = tmp_path / "cli.key"
    subprocess.run([stemedb_bin(), "keygen", "--out", str(cli_key)], check=True,
                   capture_output=True)
    loaded = Key.load(cli_key)
    assert json.loads(cli_key.read_text())["public_key"] == loaded.public_key_hex
    mine = tmp_path / "py.key"
    Key.generate().save(mine)
    assert oct(os.stat(mine).st_mode & 0o777) == "0o600"
    with pytest.raises(FileExistsError):
        loaded.save(mine)
    signed = subprocess.run(
        [stemedb_bin(), "sign", "-", "--key", str(mine), "--agent", "agent/py"],
        input='{"subject": "s/1", "predicate": "p", "value": 1}', text=True, check=True,
        capture_output=True)
    wire = json.loads(signed.stdout)
    assert wire["public_key"] == Key.load(mine).public_key_hex


def test_a_record_verifies_offline_until_a_byte_changes():
    key = Key(bytes(range(32)))
    body = {"agent_id": "agent/a", "subject": "s/1", "predicate": "p", "value": 81,
            "timestamp": "2026-01-01T00:00:00Z"}
    wire = sign(body, key)
    record = {**wire, "id": assertion_id({**body, "public_key": key.public_key_hex}),
              "sequence": 1, "lifecycle_stage": "active"}
    assert verify_record(record)
    assert not verify_record({**record, "value": 82})
    assert not verify_record({**record, "signature": "00" * 64})
    with pytest.raises(ValueError):
        sign(wire, key)
