"""`stemedb mcp` driven by a real MCP client (the official Python SDK, package `mcp`) over
stdio, against a real StemeDB server: the handshake, the tool list, and every tool: assert (signed
with a key file, and custodially), query with a lens and its explanation, what was known at a
time, the skeptic, provenance, retract; and a refusal worded for the model."""
import asyncio
import datetime
import os
import pathlib
import secrets
import subprocess
import tempfile
import time

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("STEMEDB_BIN") or str(ROOT / "target" / "debug" / "stemedb")


@pytest.fixture(scope="module")
def server():
    if not os.access(BIN, os.X_OK):
        pytest.fail(f"no stemedb binary at {BIN}", pytrace=False)
    key = "mcp-" + secrets.token_hex(24)
    data = tempfile.mkdtemp(prefix="stemedb-mcp-")
    process = subprocess.Popen([BIN, "serve", "--data-dir", f"{data}/db", "--bind", "127.0.0.1:0"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env={**os.environ, "STEMEDB_ROOT_API_KEY": key})
    url, deadline = None, time.monotonic() + 30
    while url is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("stemedb listening on "):
            url = line.split("on ", 1)[1].strip()
    if url is None:
        process.kill()
        pytest.fail("the server did not start", pytrace=False)
    yield url, key, data
    process.terminate()
    process.wait(timeout=30)


def run(server_args, api_key, steps):
    """Starts `stemedb mcp SERVER_ARGS` as an MCP client would and runs `steps(session)`."""
    params = StdioServerParameters(command=BIN, args=["mcp", *server_args],
                                   env={**os.environ, "STEMEDB_API_KEY": api_key})

    async def go():
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                info = await session.initialize()
                assert info.serverInfo.name == "stemedb"
                return await steps(session)

    return asyncio.run(go())


def text(result):
    return "\n".join(c.text for c in result.content if c.type == "text")


def test_every_tool_over_stdio_with_a_signing_key(server, tmp_path):
    url, api_key, _ = server
    key_file = tmp_path / "llm.key"
    subprocess.run([BIN, "keygen", "--out", str(key_file)], check=True, capture_output=True)

    async def steps(session):
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert set(tools) == {"assert", "query", "skeptic", "provenance", "retract"}
        assert all(t.description and t.inputSchema["type"] == "object" for t in tools.values())
        first = await session.call_tool("assert", {
            "subject": "drug/mcp/dose", "predicate": "mg", "value": 81, "confidence": 0.9,
            "sources": ["source/MCPTRIAL"]})
        assert not first.isError and "stored: assertion" in text(first), text(first)
        first_id = text(first).split("assertion ")[1].split(" ")[0]
        before = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        await asyncio.sleep(0.02)
        second = await session.call_tool("assert", {
            "subject": "drug/mcp/dose", "predicate": "mg", "value": 100})
        assert not second.isError, text(second)
        now = text(await session.call_tool("query", {"subject": "drug/mcp/dose", "lens": "recency"}))
        # One claim per agent: agent/llm changed its mind, so only its latest claim counts.
        assert "= 100" in now and "why:" in now and "also: 81" not in now, now
        every = text(await session.call_tool("query", {
            "subject": "drug/mcp/dose", "lens": "recency", "include_superseded": True}))
        assert "= 100" in every and "also: 81" in every, every
        then = text(await session.call_tool("query", {"subject": "drug/mcp/dose", "known_at": before}))
        assert "= 81" in then and "= 100" not in then, then
        skeptic = text(await session.call_tool("skeptic", {"subject": "drug/mcp/dose", "predicate": "mg"}))
        assert "conflict score" in skeptic, skeptic
        past = await session.call_tool("skeptic", {
            "subject": "drug/mcp/dose", "predicate": "mg", "known_at": before})
        assert not past.isError and "conflict score" in text(past), text(past)
        bad_time = await session.call_tool("skeptic", {
            "subject": "drug/mcp/dose", "predicate": "mg", "as_of": 5})
        assert bad_time.isError and "RFC 3339" in text(bad_time), text(bad_time)
        tree = text(await session.call_tool("provenance", {"id": first_id}))
        assert "source source/MCPTRIAL" in tree and "signature valid" in tree, tree
        retracted = await session.call_tool("retract", {"target": first_id, "reason": "superseded"})
        assert "1 assertion(s) retracted" in text(retracted), text(retracted)
        refused = await session.call_tool("retract", {"target": "ab" * 32, "reason": "x"})
        assert refused.isError and "target_exists" in text(refused), text(refused)
        missing = await session.call_tool("query", {})
        assert missing.isError and "`subject` is required" in text(missing), text(missing)

    run(["--server", url, "--key", str(key_file), "--agent", "agent/llm"], api_key, steps)
    log = subprocess.run([BIN, "log", "drug/mcp/dose", "--server", url, "--api-key", api_key],
                         check=True, capture_output=True, text=True).stdout
    assert log.startswith("retraction ") and "agent/llm on " in log, log
    assert log.count("\nassertion ") == 2, log


def test_malformed_lines_get_a_json_rpc_error_and_stdout_carries_only_json(server):
    url, api_key, _ = server
    lines = ('[{"jsonrpc": "2.0", "id": 1, "method": "ping"}]\nnot json\n'
             '{"jsonrpc": "2.0", "id": 2, "method": "nope"}\n'
             '{"jsonrpc": "2.0", "method": "notifications/initialized"}\n'
             '{"jsonrpc": "2.0", "id": 3, "method": "ping"}\n')
    done = subprocess.run([BIN, "mcp", "--server", url], input=lines, capture_output=True,
                          text=True, timeout=30, env={**os.environ, "STEMEDB_API_KEY": api_key})
    import json
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r.get("id") for r in replies] == [None, None, 2, 3], replies
    assert [r.get("error", {}).get("code") for r in replies] == [-32600, -32700, -32601, None]
    assert replies[3]["result"] == {}


def test_without_a_key_the_server_signs_custodially(server):
    url, api_key, _ = server
    created = subprocess.run(
        [BIN, "api-key", "create", "--name", "bot", "--role", "write", "--agent-id", "agent/bot",
         "--server", url, "--api-key", api_key], check=True, capture_output=True, text=True)
    bot_key = created.stdout.strip()

    async def steps(session):
        result = await session.call_tool("assert", {
            "subject": "drug/mcp2/dose", "predicate": "mg", "value": 5})
        assert not result.isError, text(result)
        return text(result).split("assertion ")[1].split(" ")[0]

    record_id = run(["--server", url], bot_key, steps)
    shown = subprocess.run([BIN, "show", record_id, "--server", url, "--api-key", api_key],
                           check=True, capture_output=True, text=True).stdout
    assert "custodial" in shown and "agent/bot" in shown and "verified offline" in shown, shown


def test_aphoria_tools_judge_and_suggest_claims_for_a_repository(server, tmp_path):
    """`stemedb mcp --aphoria-root`: a model verifies a repository's claims and gets candidate
    claims drawn from what is observed but unclaimed."""
    url, api_key, _ = server
    import shutil
    repo = tmp_path / "planted"
    shutil.copytree(ROOT / "crates/aphoria/tests/fixtures/planted", repo)

    async def steps(session):
        tools = {t.name for t in (await session.list_tools()).tools}
        assert {"aphoria_verify", "aphoria_suggest", "aphoria_coverage", "aphoria_claims"} <= tools
        verdict = await session.call_tool("aphoria_verify", {})
        assert not verdict.isError, text(verdict)
        assert "pass 5, conflict 3, missing 1" in text(verdict), text(verdict)
        assert "conflict loopback-only" in text(verdict) and "src/lib.rs" in text(verdict)
        suggestions = await session.call_tool("aphoria_suggest", {"limit": 5})
        assert not suggestions.isError, text(suggestions)
        # The unit's four settings are all systemd.setting but differ: no suggestion for them;
        # the two image pins of the Dockerfile agree ("tag").
        assert 'predicate = "docker.base_image_pin"' in text(suggestions), text(suggestions)
        assert 'expected = "tag"' in text(suggestions), text(suggestions)
        claims = await session.call_tool("aphoria_claims", {})
        assert "no-unwrap [safety, active]" in text(claims), text(claims)
        coverage = await session.call_tool("aphoria_coverage", {})
        assert "planted/Cargo.toml | 5 | 0 | 0.00" in text(coverage), text(coverage)

    run(["--server", url, "--aphoria-root", str(repo)], api_key, steps)
