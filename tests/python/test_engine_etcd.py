"""Transfer-engine metadata in a real etcd (``etcd://host:port``): engines in
two processes publish their descriptors there and find each other through
it; a store set up with ``metadata_server="etcd://..."`` puts and gets
between two processes."""

import gc
import json
import os
import time

import pytest

from engine_testing import EnginePeer, MiB, local_engine
from etcd_testing import ETCD, SKIP_REASON, Etcd
from mooncake.engine import TransferEngine
from mooncake.store import ReplicateConfig
from mooncake_testing import free_port, unique_key, wait_until

pytestmark = pytest.mark.skipif(ETCD is None, reason=SKIP_REASON)

CLUSTER = "mooncake"  # the engine's key prefix without MC_STORE_CLUSTER_ID


def segment_key(name):
    return f"{CLUSTER}/ram/{name}"


@pytest.fixture(scope="module")
def etcd():
    member = Etcd(name="engine-test").start()
    yield member
    member.stop()


@pytest.fixture(scope="module")
def etcd_url(etcd):
    return f"etcd://{etcd.endpoint}"


@pytest.fixture(autouse=True)
def no_foreign_cluster_id(monkeypatch):
    monkeypatch.delenv("MC_STORE_CLUSTER_ID", raising=False)


@pytest.fixture
def target(etcd_url):
    # Named by a host:port of its own, and listening on that port (so that a
    # P2P engine can dial the name, too).
    peer = EnginePeer(hostname=f"127.0.0.1:{free_port()}", plain_bytes=4 * MiB,
                      managed_bytes=4 * MiB, metadata=etcd_url,
                      env={"MC_LEGACY_RPC_PORT_BINDING": "1"})
    yield peer
    peer.stop()


def test_engines_find_each_other_through_etcd(etcd, etcd_url, target):
    descriptor = json.loads(etcd.get(segment_key(target.name)))
    assert descriptor["name"] == target.name
    engine = local_engine(metadata=etcd_url)
    name = "127.0.0.1"  # local_hostname as given
    assert etcd.get(segment_key(name)) is not None
    local = engine.allocate_managed_buffer(MiB)
    try:
        for remote in (target.plain, target.managed):  # TCP, shared memory
            data = os.urandom(256 * 1024)
            engine.write_bytes_to_buffer(local, data, len(data))
            assert engine.transfer_sync_write(target.name, local, remote + 4096, len(data)) == 0
            assert target.read(remote + 4096, len(data)) == data
            engine.write_bytes_to_buffer(local, b"\0" * len(data), len(data))
            assert engine.transfer_sync_read(target.name, local, remote + 4096, len(data)) == 0
            assert engine.read_bytes_from_buffer(local, len(data)) == data
        # Outside what the target registered: refused, nothing written.
        assert engine.transfer_sync_write(target.name, local, target.plain + 4 * MiB - 8, 64) == -1
    finally:
        assert engine.free_managed_buffer(local, MiB) == 0
    del engine
    gc.collect()
    # A closed engine takes its descriptor out of etcd.
    assert etcd.get(segment_key(name)) is None


def test_lookups_go_to_etcd_not_to_the_peer(etcd, etcd_url, target):
    key = segment_key(target.name)
    saved = etcd.get(key)
    etcd.delete(key)
    engine = local_engine(metadata=etcd_url)
    local = engine.allocate_managed_buffer(4096)
    # The target still listens, but without its descriptor in etcd it
    # cannot be found.
    assert engine.transfer_sync_write(target.name, local, target.plain, 4096) == -1
    assert engine.get_first_buffer_address(target.name) == 0
    # A P2P-handshake engine reaches the same target directly.
    direct = local_engine()
    assert direct.get_first_buffer_address(target.name) != 0
    assert etcd.get(key) is None
    assert saved is not None
    assert engine.free_managed_buffer(local, 4096) == 0


def test_bare_host_port_means_etcd(etcd, target):
    engine = TransferEngine()
    assert engine.initialize("127.0.0.1", etcd.endpoint, "tcp", "") == 0
    assert etcd.get(segment_key("127.0.0.1")) is not None
    assert engine.get_first_buffer_address(target.name) in (target.plain, target.managed)
    ext = TransferEngine()
    assert ext.initialize_ext("localhost", etcd.endpoint, "tcp", "", "etcd") == 0
    assert etcd.get(segment_key("localhost")) is not None


def test_names_are_local_hostname_as_given_and_the_port_is_free(etcd, target):
    """With a metadata service the segment name is local_hostname verbatim;
    the port in it is only a name unless MC_LEGACY_RPC_PORT_BINDING is set
    (interfaces.md §10.2). Peers find the real port in the descriptor."""
    named = f"127.0.0.1:{free_port()}"
    engine = TransferEngine()
    assert engine.initialize(named, etcd.endpoint, "tcp", "") == 0
    descriptor = json.loads(etcd.get(segment_key(named)))
    assert descriptor["name"] == named
    assert str(engine.get_rpc_port()) != named.rsplit(":", 1)[1]
    # The legacy binding listens on the named port (the target fixture).
    assert json.loads(etcd.get(segment_key(target.name)))["name"] == target.name
    # Another engine reaches it by that name.
    other = local_engine(hostname="localhost", metadata=f"etcd://{etcd.endpoint}")
    local = other.allocate_managed_buffer(4096)
    try:
        remote = engine.allocate_managed_buffer(4096)
        other.write_bytes_to_buffer(local, b"x" * 4096, 4096)
        assert other.transfer_sync_write(named, local, remote, 4096) == 0
        assert engine.read_bytes_from_buffer(remote, 4096) == b"x" * 4096
    finally:
        other.free_managed_buffer(local, 4096)


def test_unreachable_or_malformed_etcd_fails_initialize():
    started = time.monotonic()
    engine = TransferEngine()
    assert engine.initialize("127.0.0.1", f"etcd://127.0.0.1:{free_port()}", "tcp", "") == -1
    assert time.monotonic() - started < 15
    for bad in ("etcd://", "etcd://nohostport", "etcd://127.0.0.1:1;bad", "redis://127.0.0.1:1"):
        assert TransferEngine().initialize("127.0.0.1", bad, "tcp", "") == -1, bad


def test_store_with_etcd_metadata_puts_and_gets(etcd, etcd_url, remote_factory, store_factory):
    writer = remote_factory(metadata_server=etcd_url)
    reader = store_factory(metadata_server=etcd_url)
    writer_host = writer.get_hostname()
    key = unique_key()
    value = os.urandom(2 * MiB + 5)
    assert writer.put(key, value, ReplicateConfig(preferred_segment=writer_host)) == 0
    assert reader.get(key) == value
    own = unique_key()
    assert reader.put(own, b"from the reader",
                      ReplicateConfig(preferred_segment=reader.get_hostname())) == 0
    assert writer.get(own) == b"from the reader"
    names = etcd.keys(f"{CLUSTER}/ram/")
    assert segment_key(writer_host) in names
    assert segment_key(reader.get_hostname()) in names
    writer.stop()
    wait_until(lambda: segment_key(writer_host) not in etcd.keys(f"{CLUSTER}/ram/"),
               deadline_s=10, what="the closed store's descriptor to leave etcd")
