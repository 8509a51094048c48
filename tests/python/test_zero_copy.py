"""Zero-copy calls on registered memory."""

import numpy as np
import pytest

from conftest import MiB
from mooncake.store import ErrorCode, MooncakeHostMemAllocator, ReplicateConfig
from mooncake_testing import unique_key


@pytest.fixture
def registered(store):
    """register(array) -> the array's address, unregistered after the test."""
    addresses = []

    def register(array):
        address = array.ctypes.data
        assert store.register_buffer(address, array.nbytes) == 0
        addresses.append(address)
        return address

    yield register
    for address in addresses:
        store.unregister_buffer(address)


def test_put_from_get_into(store, registered):
    source = np.random.randint(0, 256, size=1 * MiB, dtype=np.uint8)
    target = np.zeros(2 * MiB, dtype=np.uint8)
    source_ptr, target_ptr = registered(source), registered(target)
    key = unique_key()
    assert store.put_from(key, source_ptr, source.nbytes) == 0
    assert store.get_into(key, target_ptr, target.nbytes) == source.nbytes
    assert np.array_equal(target[:source.nbytes], source)
    assert store.get(key) == source.tobytes()
    assert store.get_into(unique_key("missing"), target_ptr, target.nbytes) == \
        ErrorCode.OBJECT_NOT_FOUND


def test_get_into_too_small_buffer_writes_nothing(store, registered):
    source = np.full(4096, 7, dtype=np.uint8)
    small = np.zeros(1024, dtype=np.uint8)
    key = unique_key()
    assert store.put_from(key, registered(source), source.nbytes) == 0
    assert store.get_into(key, registered(small), small.nbytes) < 0
    assert not small.any()


def test_zero_copy_refuses_bad_arguments(store, registered):
    source = np.ones(4096, dtype=np.uint8)
    address = registered(source)
    assert store.put_from(unique_key(), address, 0) == ErrorCode.INVALID_PARAMS
    assert store.put_from(unique_key(), 0, 16) == ErrorCode.INVALID_PARAMS
    unregistered = np.ones(4096, dtype=np.uint8)
    key = unique_key()
    assert store.put_from(key, unregistered.ctypes.data, unregistered.nbytes) == \
        ErrorCode.INVALID_PARAMS
    assert store.is_exist(key) == 0
    assert store.unregister_buffer(unregistered.ctypes.data) < 0


def test_batch_put_from_and_batch_get_into(store, registered):
    count, size = 8, 64 * 1024
    source = np.random.randint(0, 256, size=count * size, dtype=np.uint8)
    target = np.zeros(count * size, dtype=np.uint8)
    source_ptr, target_ptr = registered(source), registered(target)
    keys = [unique_key() for _ in range(count)]
    ptrs = [source_ptr + i * size for i in range(count)]
    assert store.batch_put_from(keys, ptrs, [size] * count) == [0] * count
    missing = unique_key("missing")
    asked = keys[:3] + [missing] + keys[3:]
    targets = [target_ptr + i * size for i in range(count)]
    targets.insert(3, target_ptr)  # never written: the key is missing
    results = store.batch_get_into(asked, targets, [size] * (count + 1))
    assert results[3] == ErrorCode.OBJECT_NOT_FOUND
    assert results[:3] + results[4:] == [size] * count
    assert np.array_equal(source, target)
    # Lists of different lengths: one error per key.
    assert store.batch_put_from(keys[:2], ptrs[:1], [size]) == [ErrorCode.INVALID_PARAMS] * 2
    assert store.batch_get_into(keys[:2], targets[:2], [size]) == [ErrorCode.INVALID_PARAMS] * 2
    assert store.batch_put_from([], [], []) == []


def test_multi_buffer_put_and_get(store, registered):
    blocks, parts, part_size = 3, 4, 16 * 1024
    source = np.random.randint(0, 256, size=blocks * parts * part_size, dtype=np.uint8)
    target = np.zeros_like(source)
    source_ptr, target_ptr = registered(source), registered(target)
    keys, put_ptrs, get_ptrs, sizes = [], [], [], []
    for block in range(blocks):
        keys.append(unique_key())
        base = block * parts * part_size
        put_ptrs.append([source_ptr + base + i * part_size for i in range(parts)])
        get_ptrs.append([target_ptr + base + i * part_size for i in range(parts)])
        sizes.append([part_size] * parts)
    config = ReplicateConfig()
    config.prefer_alloc_in_same_node = True
    assert store.batch_put_from_multi_buffers(keys, put_ptrs, sizes, config) == [0] * blocks
    for key in keys:
        assert store.get_size(key) == parts * part_size
    assert store.batch_get_into_multi_buffers(keys, get_ptrs, sizes, True) == \
        [parts * part_size] * blocks
    assert np.array_equal(source, target)
    assert store.batch_get_into_multi_buffers(
        keys=[unique_key("missing")], all_buffer_ptrs=[get_ptrs[0]], all_sizes=[sizes[0]],
        prefer_same_node=False) == [ErrorCode.OBJECT_NOT_FOUND]


def test_put_from_with_metadata_stores_data_then_metadata(store, registered):
    data = np.arange(1000, dtype=np.float32)
    metadata = np.array([42, 100], dtype=np.int32)
    key = unique_key()
    assert store.put_from_with_metadata(key, registered(data), registered(metadata),
                                        data.nbytes, metadata.nbytes) == 0
    assert store.get(key) == data.tobytes() + metadata.tobytes()
    assert store.put_from_with_metadata(
        key=unique_key(), buffer_ptr=data.ctypes.data, metadata_buffer_ptr=metadata.ctypes.data,
        size=data.nbytes, metadata_size=metadata.nbytes, config=ReplicateConfig()) == 0


def test_alloc_from_mem_pool_is_usable_for_zero_copy(store):
    size = 256 * 1024
    address = store.alloc_from_mem_pool(size)
    assert address != 0
    source = np.ctypeslib.as_array((np.ctypeslib.ctypes.c_uint8 * size).from_address(address))
    source[:] = np.random.randint(0, 256, size=size, dtype=np.uint8)
    key = unique_key()
    assert store.put_from(key, address, size) == 0
    assert store.get(key) == source.tobytes()
    assert store.alloc_from_mem_pool(1 << 40) == 0  # far beyond the local buffer
    assert store.alloc_from_mem_pool(0) == 0 and store.alloc_from_mem_pool(-1) == 0


def test_host_mem_allocator_memory_as_registered_buffer(store):
    allocator = MooncakeHostMemAllocator()
    size = 1 * MiB
    address = allocator.alloc(size)
    assert address != 0 and address % 4096 == 0
    try:
        view = np.ctypeslib.as_array((np.ctypeslib.ctypes.c_uint8 * size).from_address(address))
        view[:] = 9
        assert store.register_buffer(address, size) == 0
        key = unique_key()
        assert store.put_from(key, address, size) == 0
        view[:] = 0
        assert store.get_into(key, address, size) == size
        assert (view == 9).all()
        assert store.unregister_buffer(address) == 0
    finally:
        assert allocator.free(address) == 0
    assert allocator.free(address) == ErrorCode.INVALID_PARAMS
    assert allocator.alloc(0) == 0
