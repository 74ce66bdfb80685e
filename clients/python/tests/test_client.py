"""The clients against a real server: writes, every lens, time travel, retraction and
reinstatement, votes, trust, provenance, the skeptic, the audit export verified offline,
failover and retries, and the server's problems as typed errors; the async client too."""
import asyncio
import datetime

import pytest

from stemedb import (AsyncClient, Client, Key, StemeDBError, Unavailable, sign, verify_export,
                     verify_record)
from stemedb.signing import draft


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.fixture()
def db(server):
    url, key = server
    with Client(url, api_key=key) as client:
        yield client


def test_write_read_retract_reinstate_and_explain(db):
    alice, bob = Key.generate(), Key.generate()
    first = db.assert_(alice, "agent/alice", "drug/py1/dose", "mg", 81, confidence=0.9,
                       sources=["source/PYTRIAL"])
    assert not first.duplicate and first.sequence > 0
    before_bob = now()
    second = db.assert_(bob, "agent/bob", "drug/py1/dose", "mg", 100)
    for lens in ("recency", "authority", "consensus", "conflict", "layered", "evidence"):
        group = db.query("drug/py1/dose", "mg", lens=lens).groups[0]
        assert {a.id for a in group.assertions} == {first.id, second.id}, lens
        assert all(verify_record(a.raw) for a in group.assertions), lens
    assert db.query("drug/py1/dose", lens="recency").groups[0].winner.value == 100
    then = db.query("drug/py1/dose", lens="recency", known_at=before_bob).groups[0]
    assert then.winner.id == first.id, "time travel: before bob's write"
    winner_only = db.query("drug/py1/dose", lens="recency", winner_only=True).groups[0]
    assert winner_only.winner.id == second.id and winner_only.assertions == []

    record = db.get(first.id)
    assert record.value == 81 and record.sources == ["source/PYTRIAL"]
    assert db.get("ab" * 32) is None
    vote = db.vote(bob, "agent/bob", first.id)
    assert vote["sequence"] > second.sequence
    trust = db.trust(bob, "agent/bob", "agent/alice", 0.8)
    assert trust["id"]
    retraction = db.retract(bob, "agent/bob", second.id, "typo")
    assert retraction["retracted_count"] == 1
    assert db.get(second.id).lifecycle_stage == "retracted"
    assert db.query("drug/py1/dose", lens="recency").groups[0].winner.id == first.id
    back = db.reinstate(bob, "agent/bob", retraction["id"], "no typo")
    assert back["reinstated_count"] == 1
    assert db.query("drug/py1/dose", lens="recency").groups[0].winner.id == second.id

    tree = db.provenance(first.id)
    assert tree["assertion"]["id"] == first.id
    assert [s["subject"] for s in tree["sources"]] == ["source/PYTRIAL"]
    skeptic = db.skeptic("drug/py1/dose", "mg")
    assert 0 < skeptic["conflict_score"] <= 1
    export = db.audit_export("drug/py1/*")
    report = verify_export(export)
    assert report.ok and report.assertions == 2, report
    flipped = bytearray(export)
    flipped[len(export) // 2] ^= 1
    assert not verify_export(bytes(flipped)).ok, "one changed byte is noticed"


def test_duplicates_batches_and_paging(db):
    key = Key.generate()
    body = draft("agent/pb", "drug/py2/a", "mg", 1, timestamp="2026-01-01T00:00:00Z")
    wire = sign(body, key)
    assert not db.write(wire).duplicate
    assert db.write(wire).duplicate, "the same record again is a duplicate"
    wires = [sign(draft("agent/pb", f"drug/py2/{i}", "mg", i), key) for i in range(5)]
    bad = sign(draft("agent/pb", "drug/py2/bad", "mg", 1), key)
    bad["value"] = 2  # the signature no longer covers the body
    batch = db.write_batch(wires + [wire, bad])
    assert (batch.accepted, batch.duplicates, batch.rejected) == (5, 1, 1)
    assert batch.results[-1]["error"]["status"] >= 400
    page = db.query("drug/py2/*", limit=2)
    assert len(page.groups) == 2 and page.next_cursor
    assert len(list(db.query_all("drug/py2/*", limit=2))) == 6


def test_problems_are_typed_errors(db):
    key = Key.generate()
    with pytest.raises(StemeDBError) as refused:
        db.assert_(key, "agent/e", "drug/py3", "mg", 1, confidence=1.5)
    assert refused.value.status == 422
    assert (refused.value.field, refused.value.rule) == ("confidence", "range_0_1")
    with pytest.raises(StemeDBError) as missing:
        db.retract(key, "agent/e", "ab" * 32, "nothing there")
    assert missing.value.rule == "target_exists"
    with pytest.raises(ValueError):
        db.get("not-an-id")


def test_failover_to_the_next_server_and_a_clear_error_when_none_answers(server):
    url, key = server
    with Client(["http://127.0.0.1:9", url], api_key=key, retries=0) as db:
        assert db.health()["status"] == "ok"
        written = db.assert_(Key.generate(), "agent/f", "drug/py4", "mg", 4)
        assert db.get(written.id).value == 4
    with Client(["127.0.0.1:9", "http://127.0.0.1:10"], api_key=key, retries=1) as db:
        with pytest.raises(Unavailable) as none:
            db.health()
    assert len(none.value.causes) == 4, "two servers, tried twice each"
    assert "127.0.0.1:9" in str(none.value)


def test_the_async_client_does_the_same(server):
    url, key = server

    async def run():
        async with AsyncClient(["http://127.0.0.1:9", url], api_key=key, retries=0) as db:
            alice = Key.generate()
            written = await db.assert_(alice, "agent/aa", "drug/py5", "mg", 5)
            assert (await db.get(written.id)).value == 5
            page = await db.query("drug/py5", lens="consensus")
            assert page.groups[0].winner.id == written.id
            retraction = await db.retract(alice, "agent/aa", written.id, "async")
            assert retraction["retracted_count"] == 1
            groups = [g async for g in db.query_all("drug/py5", include_retracted=True)]
            assert len(groups) == 1
            with pytest.raises(StemeDBError):
                await db.vote(alice, "agent/aa", "ab" * 32)

    asyncio.run(run())


def test_tls_with_the_servers_certificate_and_not_without(tls_server):
    url, key, cert = tls_server
    assert url.startswith("https://")
    with Client(url, api_key=key, verify=cert) as db:
        written = db.assert_(Key.generate(), "agent/tls", "drug/py6", "mg", 6)
        assert db.get(written.id).value == 6
    with Client(url, api_key=key, retries=0) as stranger:
        with pytest.raises(Unavailable) as refused:
            stranger.health()
    assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value.causes), refused.value.causes
