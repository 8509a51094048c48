"""mooncake.engine over TCP between two network namespaces joined by a veth
pair (root and `ip netns` needed; skipped with the reason otherwise)."""

import os
import subprocess
import sys
import uuid

import pytest

from engine_testing import EnginePeer, MiB

BUFFER = 4 * MiB


def sh(*args):
    return subprocess.run(args, capture_output=True, text=True).returncode == 0


@pytest.fixture(scope="module")
def namespaces():
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    tag = uuid.uuid4().hex[:6]
    ns_a, ns_b = f"mce-a-{tag}", f"mce-b-{tag}"
    veth_a, veth_b = f"mcea{tag}", f"mceb{tag}"
    if not sh("ip", "netns", "add", ns_a):
        pytest.skip("`ip netns add` does not work here")
    ok = (sh("ip", "netns", "add", ns_b)
          and sh("ip", "link", "add", veth_a, "type", "veth", "peer", "name", veth_b)
          and sh("ip", "link", "set", veth_a, "netns", ns_a)
          and sh("ip", "link", "set", veth_b, "netns", ns_b)
          and sh("ip", "-n", ns_a, "addr", "add", "10.231.0.1/24", "dev", veth_a)
          and sh("ip", "-n", ns_b, "addr", "add", "10.231.0.2/24", "dev", veth_b)
          and all(sh("ip", "-n", ns, "link", "set", dev, "up")
                  for ns, dev in [(ns_a, veth_a), (ns_b, veth_b), (ns_a, "lo"), (ns_b, "lo")]))
    if not ok:
        sh("ip", "netns", "del", ns_a)
        sh("ip", "netns", "del", ns_b)
        pytest.skip("cannot set up a veth pair between namespaces here")
    yield ns_a, ns_b
    sh("ip", "netns", "del", ns_a)
    sh("ip", "netns", "del", ns_b)


def test_tcp_between_namespaces(namespaces):
    ns_a, ns_b = namespaces
    target = EnginePeer("10.231.0.2", BUFFER, BUFFER, prefix=("ip", "netns", "exec", ns_b))
    try:
        # The initiator runs in the other namespace.
        script = f"""
import os, sys
from mooncake.engine import TransferEngine
e = TransferEngine()
assert e.initialize("10.231.0.1", "P2PHANDSHAKE", "tcp", "") == 0
local = e.allocate_managed_buffer({BUFFER})
data = os.urandom({BUFFER})
e.write_bytes_to_buffer(local, data, {BUFFER})
# Managed memory of a peer in another namespace is reached over TCP.
for remote in ({target.plain}, {target.managed}):
    assert e.transfer_sync_write("{target.name}", local, remote, {BUFFER}) == 0
    e.write_bytes_to_buffer(local, bytes({BUFFER}), {BUFFER})
    assert e.transfer_sync_read("{target.name}", local, remote, {BUFFER}) == 0
    assert e.read_bytes_from_buffer(local, {BUFFER}) == data
    e.write_bytes_to_buffer(local, data, {BUFFER})
assert e.transfer_sync_write("{target.name}", local, {target.plain} + {BUFFER}, 1) == -1
assert e._routed_requests("shm") == 0 and e._routed_requests("tcp") >= 4
sys.stdout.write(data.hex())
"""
        done = subprocess.run(["ip", "netns", "exec", ns_a, sys.executable, "-c", script],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-3000:]
        data = bytes.fromhex(done.stdout)
        assert target.read(target.plain, BUFFER) == data
        assert target.read(target.managed, BUFFER) == data
    finally:
        target.stop()
