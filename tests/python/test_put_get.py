"""Plain puts and gets, batches, buffers, queries and removal."""

import os

import numpy as np
import pytest

from conftest import MiB
from mooncake.store import ErrorCode, ReplicateConfig
from mooncake_testing import unique_key, wait_until


@pytest.mark.parametrize("size", [1, 100, 4096, 64 * 1024 + 3, 1 * MiB, 16 * MiB])
def test_put_get_roundtrip(store, size):
    key = unique_key()
    value = os.urandom(size)
    assert store.put(key, value) == 0
    assert store.get(key) == value
    assert store.get_size(key) == size
    assert store.is_exist(key) == 1


def test_put_accepts_bytes_like_values(store):
    values = {
        unique_key(): bytearray(b"bytearray"),
        unique_key(): memoryview(b"memoryview"),
        unique_key(): np.arange(10, dtype=np.int32),
    }
    for key, value in values.items():
        assert store.put(key, value) == 0
        assert store.get(key) == bytes(memoryview(value).cast("B"))
    with pytest.raises(TypeError):
        store.put(unique_key(), "a str is not bytes")


def test_missing_key(store):
    key = unique_key("missing")
    assert store.get(key) == b""
    assert store.get_buffer(key) is None
    assert store.is_exist(key) == 0
    assert store.get_size(key) == ErrorCode.OBJECT_NOT_FOUND
    assert store.remove(key) == ErrorCode.OBJECT_NOT_FOUND
    assert store.get_replica_desc(key) == []


def test_bad_keys_and_values_are_refused(store):
    assert store.put("", b"x") == ErrorCode.INVALID_KEY
    assert store.put("k" * 5000, b"x") == ErrorCode.INVALID_KEY
    empty = unique_key()
    assert store.put(empty, b"") == ErrorCode.INVALID_PARAMS
    assert store.is_exist(empty) == 0
    zero = unique_key()
    assert store.put(zero, b"x", ReplicateConfig(replica_num=0)) == ErrorCode.INVALID_PARAMS
    assert store.is_exist(zero) == 0


def test_keys_are_write_once(store):
    key = unique_key()
    assert store.put(key, b"first") == 0
    assert store.put(key, b"second") == 0
    assert store.get(key) == b"first"
    wait_until(lambda: store.remove(key) == 0, what="remove once the read lease ends")
    assert store.put(key, b"second") == 0
    assert store.get(key) == b"second"


def test_put_parts_concatenates(store):
    key = unique_key()
    parts = [b"Hello, ", bytearray(b"World!"), memoryview(b" From"),
             np.frombuffer(b" Mooncake", np.uint8)]
    assert store.put_parts(key, *parts) == 0
    assert store.get(key) == b"Hello, World! From Mooncake"
    key2 = unique_key()
    assert store.put_parts(key2, b"a", b"b", config=ReplicateConfig()) == 0
    assert store.get(key2) == b"ab"
    assert store.put_parts(unique_key()) == ErrorCode.INVALID_PARAMS  # nothing to store
    with pytest.raises(TypeError):
        store.put_parts(unique_key(), b"a", conf=ReplicateConfig())


def test_put_batch_and_get_batch_line_up_with_keys(store):
    keys = [unique_key() for _ in range(5)]
    values = [os.urandom(100 * (i + 1)) for i in range(5)]
    assert store.put_batch(keys, values) == 0
    missing = unique_key("missing")
    asked = [keys[0], missing, keys[1], keys[2], missing, keys[3], keys[4]]
    got = store.get_batch(asked)
    assert got == [values[0], b"", values[1], values[2], b"", values[3], values[4]]
    assert store.batch_is_exist(asked) == [1, 0, 1, 1, 0, 1, 1]
    buffers = store.batch_get_buffer(asked)
    assert [None if b is None else bytes(b) for b in buffers] == [v or None for v in got]
    assert store.get_batch([]) == []
    assert store.put_batch([], []) == 0


def test_put_batch_reports_an_error(store):
    keys = [unique_key(), "", unique_key()]
    code = store.put_batch(keys, [b"a", b"b", b"c"])
    assert code == ErrorCode.INVALID_KEY
    assert store.put_batch([unique_key()], [b"a", b"b"]) == ErrorCode.INVALID_PARAMS
    assert store.put_batch(keys=[unique_key()], values=[b"x"], config=ReplicateConfig()) == 0


def test_get_buffer_protocol(store):
    key = unique_key()
    value = os.urandom(64 * 1024)
    assert store.put(key, value) == 0
    buffer = store.get_buffer(key)
    assert buffer is not None
    assert len(buffer) == buffer.size() == buffer.len() == len(value)
    assert buffer.ptr() != 0
    view = memoryview(buffer)
    assert view.format == "B" and view.ndim == 1 and view.nbytes == len(value)
    array = np.array(buffer, copy=False)
    assert array.dtype == np.uint8 and array.shape == (len(value),)
    assert array.tobytes() == value
    # The handle keeps the bytes alive after other work on the store.
    del view, array
    for _ in range(20):
        store.put(unique_key(), os.urandom(64 * 1024))
    assert bytes(buffer) == value


def test_remove_by_regex_and_counts(store):
    prefix = unique_key("regex")
    keys = [f"{prefix}-{i}" for i in range(4)]
    for key in keys:
        assert store.put(key, b"x") == 0
    other = unique_key("other")
    assert store.put(other, b"y") == 0
    assert store.remove_by_regex(f"^{prefix}-[0-1]$") == 2
    assert store.batch_is_exist(keys) == [0, 0, 1, 1]  # exist probes grant no lease; the removes above and below do
    removed = [0]

    def all_removed():
        removed[0] += store.remove_by_regex(f"^{prefix}-.*")
        return removed[0] >= 2
    wait_until(all_removed, what="leased objects to become removable")
    assert removed[0] == 2
    assert store.remove_by_regex(f"^{prefix}-.*") == 0
    assert store.is_exist(other) == 1
    assert store.remove_by_regex("([unclosed") < 0


def test_remove_all(master_factory, store_factory):
    own = master_factory()
    store = store_factory(on_master=own)
    keys = [unique_key() for _ in range(3)]
    assert store.put_batch(keys, [b"1", b"2", b"3"]) == 0
    assert store.remove_all() == 3
    assert store.batch_is_exist(keys) == [0, 0, 0]
    assert store.remove_all() == 0


def test_replica_num_two_lands_on_two_segments(store_factory):
    first = store_factory()
    second = store_factory()
    key = unique_key()
    assert first.put(key, b"twice", ReplicateConfig(replica_num=2)) == 0
    replicas = first.get_replica_desc(key)
    assert len(replicas) == 2
    endpoints = {r.get_memory_descriptor().buffer_descriptor.transport_endpoint for r in replicas}
    assert endpoints == {first.get_hostname(), second.get_hostname()}
    assert second.get(key) == b"twice"


def test_preferred_segment_lands_locally(store_factory):
    stores = [store_factory() for _ in range(3)]
    for store in stores:
        config = ReplicateConfig()
        config.preferred_segment = store.get_hostname()
        key = unique_key()
        assert store.put(key, os.urandom(1000), config) == 0
        replicas = store.get_replica_desc(key)
        assert len(replicas) == 1
        descriptor = replicas[0].get_memory_descriptor().buffer_descriptor
        assert descriptor.transport_endpoint == store.get_hostname()
        assert descriptor.transport_endpoint_ == store.get_hostname()
        assert descriptor.size == descriptor.size_ == 1000
        assert descriptor.buffer_address == descriptor.buffer_address_ != 0


def test_replica_descriptors(store):
    key = unique_key()
    assert store.put(key, b"descriptor") == 0
    (replica,) = store.get_replica_desc(key)
    from mooncake.store import ReplicaStatus
    assert replica.status == ReplicaStatus.COMPLETE
    assert replica.is_memory_replica() and not replica.is_disk_replica()
    with pytest.raises(RuntimeError):
        replica.get_disk_descriptor()  # the wrong kind's accessor (interfaces.md §7.5)
    missing = unique_key("missing")
    described = store.batch_get_replica_desc([key, missing])
    assert set(described) == {key, missing}
    assert len(described[key]) == 1 and described[missing] == []
    assert described[key][0].get_memory_descriptor().buffer_descriptor.size == len(b"descriptor")


def test_zero_local_buffer_put_fails_and_leaves_no_key(store_factory):
    server_only = store_factory(local_buffer_size=0)
    reader = store_factory()
    key = unique_key()
    assert server_only.put(key, b"nowhere to stage") < 0
    assert reader.is_exist(key) == 0
    assert server_only.is_exist(key) == 0
    assert server_only.put_batch([key], [b"x"]) < 0
    assert reader.is_exist(key) == 0
    # It still serves its segment to others.
    config = ReplicateConfig(preferred_segment=server_only.get_hostname())
    other = unique_key()
    assert reader.put(other, b"kept by the pure server", config) == 0
    assert reader.get(other) == b"kept by the pure server"
    assert server_only.get(other) == b""


def test_keyword_names_of_every_method(store):
    key = unique_key()
    config = ReplicateConfig()
    assert store.put(key=key, value=b"kw", config=config) == 0
    assert store.get(key=key) == b"kw"
    assert store.get_buffer(key=key) is not None
    assert store.batch_get_buffer(keys=[key])[0] is not None
    assert store.get_batch(keys=[key]) == [b"kw"]
    batch = [unique_key(), unique_key()]
    assert store.put_batch(keys=batch, values=[b"a", b"b"], config=config) == 0
    assert store.put_parts(unique_key(), b"a", config=config) == 0
    assert store.is_exist(key=key) == 1
    assert store.batch_is_exist(keys=[key]) == [1]
    assert store.get_size(key=key) == 2
    assert len(store.get_replica_desc(key=key)) == 1
    assert key in store.batch_get_replica_desc(keys=[key])
    assert store.remove_by_regex(regex="^no-such-key-prefix-.*") == 0
    wait_until(lambda: store.remove(key=key) == 0, what="remove once the lease ends")
    for bad in ({"name": key}, {"key": key, "val": b"x"}):
        with pytest.raises(TypeError):
            store.put(**bad)
    with pytest.raises(TypeError):
        store.get(name=key)
    with pytest.raises(TypeError):
        store.is_exist(k=key)
    with pytest.raises(TypeError):
        store.get_batch(key=[key])


def test_many_objects_fill_and_reuse_local_buffer(store_factory):
    # 16 MiB local buffer, 32 MiB of traffic: staging space must be reused.
    store = store_factory(local_buffer_size=16 * MiB)
    value = os.urandom(2 * MiB)
    keys = [unique_key() for _ in range(16)]
    for key in keys:
        assert store.put(key, value) == 0
    for key in keys:
        assert store.get(key) == value
    too_big = unique_key()
    assert store.put(too_big, os.urandom(17 * MiB)) < 0
    assert store.is_exist(too_big) == 0
