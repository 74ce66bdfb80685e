"""A real StemeDB server for the tests: this repository's build, on a free loopback port, with
a fresh data directory and a root key of its own."""
import os
import pathlib
import secrets
import subprocess
import tempfile
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]


def stemedb_bin() -> str:
    path = os.environ.get("STEMEDB_BIN") or str(ROOT / "target" / "debug" / "stemedb")
    if not os.access(path, os.X_OK):
        pytest.fail(f"no stemedb binary at {path}: build it (cargo build -p stemedb-cli) or set "
                    "STEMEDB_BIN", pytrace=False)
    return path


@pytest.fixture(scope="session")
def server():
    """(url, root key) of a running server."""
    key = "py-" + secrets.token_hex(24)
    data = tempfile.mkdtemp(prefix="stemedb-py-")
    env = {**os.environ, "STEMEDB_ROOT_API_KEY": key}
    process = subprocess.Popen(
        [stemedb_bin(), "serve", "--data-dir", f"{data}/db", "--bind", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, text=True)
    url = None
    deadline = time.monotonic() + 30
    while url is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("stemedb listening on "):
            url = line.split("stemedb listening on ", 1)[1].strip()
        elif not line and process.poll() is not None:
            break
    if url is None:
        process.kill()
        pytest.fail("the server did not start", pytrace=False)
    yield url, key
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def vectors():
    import json
    with open(ROOT / "tests" / "vectors" / "signing.json", encoding="utf-8") as f:
        return json.load(f)
