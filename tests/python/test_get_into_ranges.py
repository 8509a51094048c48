"""get_into_ranges (interfaces.md 7.3): range reads shaped [buffer][key][range]
from objects written by another process, into registered memory; refusals
per range for bad shapes, unregistered memory and ranges beyond an object."""

import ctypes

import pytest

from mooncake.store import ErrorCode
from mooncake_testing import unique_key

INVALID = int(ErrorCode.INVALID_PARAMS)


def value_of(seed, size):
    return bytes((seed * 31 + i * 7) % 251 for i in range(size))


@pytest.fixture
def writer(remote_factory):
    return remote_factory()


def test_ranges_land_where_asked_from_objects_of_another_process(store, writer):
    keys = [unique_key("ranges") for _ in range(3)]
    values = [value_of(i + 1, 64 * 1024 + 1000 * i) for i in range(3)]
    for key, value in zip(keys, values):
        assert writer.put(key, value) == 0
    area = ctypes.create_string_buffer(256 * 1024)
    address = ctypes.addressof(area)
    assert store.register_buffer(address, len(area)) == 0
    try:
        dst = [[[0, 100], [5000], [10000, 20000]]]
        src = [[[0, 64 * 1024 - 50], [123], [64 * 1024 + 2000 - 10, 7]]]
        sizes = [[[100, 50], [4096], [10, 1]]]
        codes = store.get_into_ranges([address], [keys], dst, src, sizes)
        assert codes == [[[100, 50], [4096], [10, 1]]]
        for k in range(3):
            for d, s, n in zip(dst[0][k], src[0][k], sizes[0][k]):
                assert area.raw[d:d + n] == values[k][s:s + n]
        # Beyond the object, beyond the registered memory, a missing key:
        # refused per range, the others still served.
        codes = store.get_into_ranges(
            [address], [[keys[0], keys[1], "missing-" + keys[2]]],
            [[[0, 0], [len(area) - 10], [0]]],
            [[[len(values[0]) - 10, 0], [0], [0]]],
            [[[11, 10], [20], [10]]])
        assert codes[0][0] == [INVALID, 10]
        assert codes[0][1] == [INVALID]
        assert codes[0][2] == [int(ErrorCode.OBJECT_NOT_FOUND)]
    finally:
        assert store.unregister_buffer(address) == 0


def test_bad_shapes_and_unregistered_memory_are_refused(store, writer):
    key = unique_key("ranges-bad")
    assert writer.put(key, value_of(9, 4096)) == 0
    area = ctypes.create_string_buffer(8192)
    address = ctypes.addressof(area)
    # Not registered: every range refused, nothing written.
    codes = store.get_into_ranges([address], [[key]], [[[0]]], [[[0]]], [[[4096]]])
    assert codes == [[[INVALID]]]
    assert area.raw == b"\0" * 8192
    assert store.register_buffer(address, len(area)) == 0
    try:
        # Top-level length mismatch: every range refused.
        codes = store.get_into_ranges([address, address], [[key]], [[[0]]], [[[0]]], [[[10]]])
        assert codes == [[[INVALID]], []]
        # Per-range shape mismatch for one key only.
        codes = store.get_into_ranges([address], [[key, key]], [[[0, 10], [100]]],
                                      [[[0], [0]]], [[[5, 5], [5]]])
        assert codes == [[[INVALID, INVALID], [5]]]
        # Null buffer.
        assert store.get_into_ranges([0], [[key]], [[[0]]], [[[0]]], [[[1]]]) == [[[INVALID]]]
        assert area.raw[100:105] == value_of(9, 4096)[0:5]
    finally:
        assert store.unregister_buffer(address) == 0
