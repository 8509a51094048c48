"""Stores in separate processes: cross-process reads, close, leases and a
client killed with SIGKILL."""

import os
import time

from mooncake.store import ErrorCode, ReplicateConfig
from mooncake_testing import unique_key, wait_until


def test_one_process_reads_what_another_wrote_on_its_segment(remote_factory, store_factory):
    writer = remote_factory()
    reader = store_factory()
    writer_host = writer.get_hostname()
    value = os.urandom(3 * 1024 * 1024 + 17)
    key = unique_key()
    config = ReplicateConfig(preferred_segment=writer_host)
    assert writer.put(key, value, config) == 0
    replicas = reader.get_replica_desc(key)
    assert [r.get_memory_descriptor().buffer_descriptor.transport_endpoint for r in replicas] == \
        [writer_host]
    assert reader.get(key) == value
    assert reader.get_size(key) == len(value)
    # And the other way round, with a batch.
    keys = [unique_key() for _ in range(4)]
    values = [os.urandom(5000 + i) for i in range(4)]
    own = ReplicateConfig(preferred_segment=reader.get_hostname())
    assert reader.put_batch(keys, values, own) == 0
    assert writer.get_batch(keys) == values


def test_two_worker_processes_share_objects(remote_factory):
    first, second = remote_factory(), remote_factory()
    key = unique_key()
    assert first.put(key, b"from the first", ReplicateConfig(
        preferred_segment=first.get_hostname())) == 0
    assert second.get(key) == b"from the first"
    assert second.is_exist(key) == 1
    result = second.run("""
import numpy as np
buffer = np.zeros(64, dtype=np.uint8)
assert store.register_buffer(buffer.ctypes.data, 64) == 0
read = store.get_into(args["key"], buffer.ctypes.data, 64)
result = (read, buffer[:read].tobytes())
store.unregister_buffer(buffer.ctypes.data)
""", key=key)
    assert result == (len(b"from the first"), b"from the first")


def test_closed_store_objects_are_gone_and_setup_again_works(store_factory, master):
    from conftest import setup_args
    owner = store_factory()
    reader = store_factory()
    only_on_owner = unique_key()
    on_both = unique_key()
    assert owner.put(only_on_owner, b"mine",
                     ReplicateConfig(preferred_segment=owner.get_hostname())) == 0
    assert owner.put(on_both, b"both", ReplicateConfig(replica_num=2)) == 0
    assert reader.get(only_on_owner) == b"mine"
    assert owner.close() == 0
    wait_until(lambda: reader.is_exist(only_on_owner) == 0, what="the closed segment's object")
    assert reader.get(only_on_owner) == b""
    assert reader.get(on_both) == b"both"
    assert owner.setup(**setup_args(master)) == 0
    assert owner.get(only_on_owner) == b""
    assert owner.get(on_both) == b"both"
    fresh = unique_key()
    assert owner.put(fresh, b"again") == 0
    assert reader.get(fresh) == b"again"


def test_remove_of_leased_object_fails_until_lease_ends(master_factory, store_factory):
    leased_master = master_factory(["--default_kv_lease_ttl=3000"])
    store = store_factory(on_master=leased_master)
    key = unique_key()
    assert store.put(key, b"leased") == 0
    assert store.get(key) == b"leased"  # grants a lease
    assert store.remove(key) == ErrorCode.OBJECT_HAS_LEASE
    assert store.is_exist(key) == 1
    started = time.monotonic()
    wait_until(lambda: store.remove(key) == 0, what="remove after the lease")
    assert store.is_exist(key) == 0
    # It was refused for a while, not only for the first attempt.
    assert time.monotonic() - started > 0.5


def test_killed_client_segment_is_dropped(master_factory, store_factory, remote_factory):
    fragile = master_factory(["--client_ttl=2"])
    survivor = store_factory(on_master=fragile)
    victim = remote_factory(on_master=fragile)
    victim_host = victim.get_hostname()
    lost = [unique_key("lost") for _ in range(4)]
    kept = [unique_key("kept") for _ in range(4)]
    on_victim = ReplicateConfig(preferred_segment=victim_host)
    on_survivor = ReplicateConfig(preferred_segment=survivor.get_hostname())
    assert victim.put_batch(lost, [b"lost"] * 4, on_victim) == 0
    assert victim.put_batch(kept, [b"kept"] * 4, on_survivor) == 0
    assert survivor.get_batch(lost) == [b"lost"] * 4
    victim.kill()
    wait_until(lambda: survivor.batch_is_exist(lost) == [0] * 4, deadline_s=60,
               what="the master to drop the killed client's segment")
    assert survivor.get_batch(lost) == [b""] * 4
    assert survivor.get(lost[0]) == b""
    assert survivor.get_size(lost[0]) < 0
    assert survivor.get_buffer(lost[0]) is None
    assert survivor.get_batch(kept) == [b"kept"] * 4
    # New puts go to the live segments only.
    fresh = unique_key()
    assert survivor.put(fresh, b"fresh") == 0
    assert [r.get_memory_descriptor().buffer_descriptor.transport_endpoint
            for r in survivor.get_replica_desc(fresh)] == [survivor.get_hostname()]


def test_reader_of_killed_writer_gets_clean_errors(master_factory, store_factory, remote_factory):
    """Reads racing with the kill fail with codes, never crash or hang."""
    fragile = master_factory(["--client_ttl=2"])
    reader = store_factory(on_master=fragile)
    victim = remote_factory(on_master=fragile)
    keys = [unique_key() for _ in range(16)]
    on_victim = ReplicateConfig(preferred_segment=victim.get_hostname())
    assert victim.put_batch(keys, [os.urandom(64 * 1024)] * 16, on_victim) == 0
    victim.kill()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        values = reader.get_batch(keys)
        assert all(len(value) in (0, 64 * 1024) for value in values)
        if not any(values):
            break
        time.sleep(0.1)
    assert reader.get_batch(keys) == [b""] * 16
