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


def start_server(extra=()):
    """Starts `stemedb serve` (with `extra` arguments); returns (process, url, root key)."""
    key = "py-" + secrets.token_hex(24)
    data = tempfile.mkdtemp(prefix="stemedb-py-")
    env = {**os.environ, "STEMEDB_ROOT_API_KEY": key}
    process = subprocess.Popen(
        [stemedb_bin(), "serve", "--data-dir", f"{data}/db", "--bind", "127.0.0.1:0", *extra],
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
    return process, url, key


def stop(process):
    process.terminate()
    process.wait(timeout=30)


@pytest.fixture(scope="session")
def server():
    """(url, root key) of a running server."""
    process, url, key = start_server()
    yield url, key
    stop(process)


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory):
    """(https URL, root key, path of its self-signed certificate) of a server speaking TLS."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(private, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
    process, url, key = start_server(["--tls-cert-path", str(cert_path),
                                      "--tls-key-path", str(key_path)])
    yield url.replace("127.0.0.1", "localhost"), key, str(cert_path)
    stop(process)


@pytest.fixture(scope="session")
def vectors():
    import json
    with open(ROOT / "tests" / "vectors" / "signing.json", encoding="utf-8") as f:
        return json.load(f)
