"""Opt-in cluster authentication (docs/authentication.md), with real processes
on loopback: a master started with --cluster_secret_file and stores given the
secret through MC_CLUSTER_SECRET_FILE work as usual; a raw-socket peer
without the secret cannot overwrite an object in a client's registered
memory (the attack of issue 16, which succeeds without a secret); clients
with a wrong or no secret fail setup with a clear log line; the hot path
refuses connections that skip the handshake; a standalone client with the
secret serves dummies with the secret and refuses others.

Same-host peers would use shared memory: MC_STORE_SHM=0 sends their
transfers over TCP, the path under test."""

import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import pytest

from mooncake_testing import RemoteStore, find_client_binary, unique_key
from reliability_helpers import RPC_FAIL

SECRET = "reliability-suite-secret-0123456789"
WRONG_SECRET = "reliability-suite-secret-not-this"
MiB = 1024 * 1024

# The transfer engine's wire format (src/transfer/wire_protocol.h).
REQUEST_MAGIC = 0x5154434D
RESPONSE_MAGIC = 0x5254434D
OP_WRITE = 2
STATUS_OK = 0


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "cluster.secret"
    path.write_text(SECRET + "\n")
    path.chmod(0o600)
    return str(path)


def secret_env(secret_file):
    return {"MC_CLUSTER_SECRET_FILE": secret_file, "MC_STORE_SHM": "0"}


@pytest.fixture
def secured_master(master_factory, secret_file):
    master = master_factory([f"--cluster_secret_file={secret_file}"])
    assert "cluster authentication on" in master.log_text()
    return master


def descriptor_of(master, segment_name):
    """The segment descriptor the engine published on the master's HTTP
    metadata server (readable by anyone: it is not protected)."""
    key = urllib.parse.quote(f"mooncake/ram/{segment_name}", safe="")
    with urllib.request.urlopen(f"{master.metadata_url}?key={key}", timeout=5) as reply:
        return json.loads(reply.read())


def instance_words(instance_id):
    digits = instance_id.replace("-", "")
    return int(digits[:16], 16), int(digits[16:], 16)


def recv_exact(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def raw_write(endpoint, instance_id, address, payload):
    """Sends one WRITE as a peer that knows the protocol and the descriptor
    but not the secret. The reply status, or None when the server closed
    the connection instead of answering."""
    host, port = endpoint.rsplit(":", 1)
    hi, lo = instance_words(instance_id)
    header = struct.pack("<IB3xQQQQQ", REQUEST_MAGIC, OP_WRITE, hi, lo, address, len(payload), 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        try:
            sock.sendall(header + payload)
            reply = recv_exact(sock, 32)
        except (ConnectionError, socket.timeout, OSError):
            return None
    magic, status = struct.unpack("<Ii", reply[:8])
    assert magic == RESPONSE_MAGIC
    return status


def overwrite_attempt(master, owner, reader):
    """Puts an object on `owner`'s segment, attacks it over the raw socket,
    and returns (reply status, bytes the reader gets back, original)."""
    key = unique_key("auth")
    original = os.urandom(64 * 1024)
    segment = owner.get_hostname()
    assert owner.run("""
from mooncake.store import ReplicateConfig
result = store.put(args["key"], args["value"], ReplicateConfig(preferred_segment=args["segment"]))
""", key=key, value=original, segment=segment) == 0
    (replica,) = reader.get_replica_desc(key)
    memory = replica["memory"]
    assert memory["transport_endpoint"] == segment
    descriptor = descriptor_of(master, segment)
    status = raw_write(descriptor["tcp_endpoint"], descriptor["instance_id"],
                       memory["buffer_address"], b"X" * len(original))
    return status, reader.get(key), original


def test_without_secret_a_raw_peer_overwrites_an_object(master_factory, remote_factory):
    """The exposure the option closes, and proof that the attack below is
    real: without a secret the raw WRITE lands and the next get returns it."""
    master = master_factory()
    env = {"MC_STORE_SHM": "0"}
    owner = remote_factory(on_master=master, env=env)
    reader = remote_factory(on_master=master, env=env)
    status, read_back, original = overwrite_attempt(master, owner, reader)
    assert status == STATUS_OK
    assert read_back == b"X" * len(original)


def test_same_secret_put_get_over_tcp(secured_master, remote_factory, secret_file):
    env = secret_env(secret_file)
    first = remote_factory(on_master=secured_master, env=env)
    second = remote_factory(on_master=secured_master, env=env)
    values = {}
    for writer, reader in ((first, second), (second, first)):
        for size in (1, 4096, 300 * 1024, 3 * MiB + 5):
            key = unique_key("auth-ok")
            values[key] = os.urandom(size)
            # On the reader's segment: the writer's put crosses TCP, and so
            # does the reader's get when the object is on the writer's.
            target = reader.get_hostname() if size % 2 else writer.get_hostname()
            assert writer.run("""
from mooncake.store import ReplicateConfig
result = store.put(args["key"], args["value"],
                   ReplicateConfig(preferred_segment=args["segment"]))
""", key=key, value=values[key], segment=target) == 0
            assert reader.get(key) == values[key]
    assert first.get_batch(list(values)) == list(values.values())


def test_raw_peer_without_secret_cannot_write(secured_master, remote_factory, secret_file):
    env = secret_env(secret_file)
    owner = remote_factory(on_master=secured_master, env=env)
    reader = remote_factory(on_master=secured_master, env=env)
    status, read_back, original = overwrite_attempt(secured_master, owner, reader)
    assert status is None, "the engine answered a peer that skipped the handshake"
    assert read_back == original
    # The engine keeps serving authenticated peers afterwards.
    key = unique_key("auth-after")
    assert owner.put(key, b"still fine") == 0
    assert reader.get(key) == b"still fine"


def run_setup(master, env):
    """setup() in a fresh interpreter with `env`; (return code, its log)."""
    code = f"""
from mooncake.store import MooncakeDistributedStore
store = MooncakeDistributedStore()
print("SETUP", store.setup("127.0.0.1", {master.metadata_url!r}, 16 << 20, 16 << 20, "tcp",
                           "", {master.rpc_address!r}), flush=True)
"""
    full_env = dict(os.environ)
    for name in ("MC_CLUSTER_SECRET", "MC_CLUSTER_SECRET_FILE"):
        full_env.pop(name, None)
    full_env.update(env)
    done = subprocess.run([sys.executable, "-c", code], env=full_env, capture_output=True,
                          text=True, timeout=120)
    lines = [line for line in done.stdout.splitlines() if line.startswith("SETUP ")]
    assert lines, f"setup did not return:\n{done.stdout}\n{done.stderr}"
    return int(lines[-1].split()[1]), done.stderr


def test_wrong_or_missing_secret_fails_setup_clearly(secured_master):
    code, log = run_setup(secured_master, {"MC_CLUSTER_SECRET": WRONG_SECRET})
    assert code == RPC_FAIL
    assert "refused our cluster authentication" in log, log
    code, log = run_setup(secured_master, {})
    assert code == RPC_FAIL
    assert "refused our cluster authentication" in log and "MC_CLUSTER_SECRET" in log, log
    assert "refusing a gRPC call" in secured_master.log_text()


def test_too_short_secret_is_refused(secured_master):
    code, log = run_setup(secured_master, {"MC_CLUSTER_SECRET": "short"})
    assert code != 0
    assert "cluster secret" in log, log


def test_client_with_secret_refuses_a_master_without(master_factory, secret_file):
    master = master_factory()
    code, log = run_setup(master, {"MC_CLUSTER_SECRET_FILE": secret_file})
    assert code == RPC_FAIL
    assert "did not prove the cluster secret" in log, log


def hot_port(master):
    text = master.log_text()
    at = text.rfind("hot path 127.0.0.1:")
    assert at >= 0, text
    return int(text[at + len("hot path 127.0.0.1:"):].split(",", 1)[0])


def test_hot_path_refuses_a_connection_without_the_handshake(secured_master, master_factory):
    hello = b"MCHP" + struct.pack("<I", 1)
    # Without a secret the same hello is answered (the control).
    plain = master_factory()
    with socket.create_connection(("127.0.0.1", hot_port(plain)), timeout=10) as sock:
        sock.sendall(hello)
        assert len(recv_exact(sock, 28)) == 28
    with socket.create_connection(("127.0.0.1", hot_port(secured_master)), timeout=10) as sock:
        sock.sendall(hello)
        with pytest.raises((ConnectionError, OSError)):
            recv_exact(sock, 28)


def test_standalone_client_and_dummies_with_the_secret(secured_master, secret_file):
    binary = find_client_binary()
    if binary is None:
        pytest.fail("no mooncake_client found", pytrace=False)
    from test_dummy_client import StandaloneClient
    standalone = StandaloneClient(binary, secured_master,
                                  [f"--cluster_secret_file={secret_file}"])
    try:
        standalone.start()
        good = RemoteStore(env={"MC_CLUSTER_SECRET_FILE": secret_file})
        bad = RemoteStore(env={"MC_CLUSTER_SECRET": WRONG_SECRET})
        try:
            assert good.setup_dummy(16 * MiB, 16 * MiB, standalone.address) == 0
            key = unique_key("auth-dummy")
            assert good.put(key, b"dummy bytes") == 0
            assert good.get(key) == b"dummy bytes"
            assert bad.setup_dummy(16 * MiB, 16 * MiB, standalone.address) == RPC_FAIL
        finally:
            good.stop()
            bad.stop()
        assert "refusing connection from" in standalone.log_text(whole=True)
    finally:
        standalone.close()
