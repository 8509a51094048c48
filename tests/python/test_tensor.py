"""Tensor helpers (torch is optional: skipped without it)."""

import numpy as np
import pytest

from mooncake.store import ReplicateConfig
from mooncake_testing import unique_key

torch = pytest.importorskip("torch")

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int8, torch.uint8,
          torch.int16, torch.int32, torch.int64, torch.bool, torch.complex64, torch.complex128]
# Present only in newer torch releases; looked up by name.
DTYPES += [getattr(torch, name) for name in ("uint16", "uint32", "uint64", "float8_e4m3fn",
                                              "float8_e5m2") if hasattr(torch, name)]


def make_tensor(shape, dtype):
    if dtype == torch.bool:
        return torch.rand(shape) > 0.5
    if dtype.is_complex:
        return torch.randn(shape, dtype=dtype)
    if dtype.is_floating_point:
        return torch.randn(shape).to(dtype)
    return torch.randint(0, 100, shape).to(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_put_get_tensor(store, dtype):
    key = unique_key()
    tensor = make_tensor((7, 5, 3), dtype)
    assert store.put_tensor(key, tensor) == 0
    back = store.get_tensor(key)
    assert back.dtype == dtype and back.shape == tensor.shape
    # Compare bytes: torch.equal lacks kernels for some dtypes (float8, uint32).
    assert torch.equal(back.reshape(-1).view(torch.uint8), tensor.reshape(-1).view(torch.uint8))


def test_tensor_edge_cases(store):
    noncontiguous = torch.arange(24, dtype=torch.float32).reshape(4, 6).t()
    key = unique_key()
    assert store.put_tensor(key, noncontiguous) == 0
    assert torch.equal(store.get_tensor(key), noncontiguous)
    scalar, empty = unique_key(), unique_key()
    assert store.put_tensor(scalar, torch.tensor(3.5)) == 0
    assert store.get_tensor(scalar).item() == 3.5
    assert store.put_tensor(empty, torch.empty(0, 4)) == 0
    assert store.get_tensor(empty).shape == (0, 4)
    assert store.get_tensor(unique_key("missing")) is None
    plain = unique_key()
    assert store.put(plain, b"not a tensor") == 0
    assert store.get_tensor(plain) is None
    # What cannot be stored is INVALID_PARAMS, as in the reference, and
    # leaves no key behind.
    refused = unique_key()
    assert store.put_tensor(refused, [1, 2, 3]) == -600
    assert store.put_tensor(refused, torch.ones(3).to_sparse()) == -600
    assert store.is_exist(refused) == 0


def test_lazy_views_are_stored_with_their_values(store):
    conj, neg = unique_key(), unique_key()
    values = torch.tensor([1 + 2j, 3 - 4j], dtype=torch.complex64)
    assert store.put_tensor(conj, values.conj()) == 0
    assert torch.equal(store.get_tensor(conj), torch.tensor([1 - 2j, 3 + 4j]))
    assert store.put_tensor(neg, torch._neg_view(torch.arange(3.0))) == 0
    assert torch.equal(store.get_tensor(neg), torch.tensor([0.0, -1.0, -2.0]))


def test_batch_tensor_puts_answer_per_entry(store):
    keys = [unique_key() for _ in range(3)]
    assert store.batch_put_tensor(keys[:2], [torch.ones(2)]) == [-600, -600]
    assert store.batch_put_tensor(keys, [torch.ones(2), "not a tensor", torch.zeros(3)]) == [
        0, -600, 0]
    assert [store.is_exist(k) for k in keys] == [1, 0, 1]
    base = [unique_key() for _ in range(3)]
    table = torch.ones(4, 6)
    assert store.batch_put_tensor_with_tp(base[:2], [table], tp_size=2) == [-600, -600]
    assert store.batch_put_tensor_with_tp(base, [table, torch.tensor(1.0), table * 2],
                                          tp_size=2) == [0, -600, 0]
    assert torch.equal(store.get_tensor_with_tp(base[2], tp_rank=1, tp_size=2), table[2:] * 2)
    assert store.put_tensor_with_tp(unique_key(), table, tp_size=2, split_dim=5) == -600


def test_pub_and_batch_tensors(store):
    key = unique_key()
    tensor = torch.randn(10, 10)
    assert store.pub_tensor(key, tensor, ReplicateConfig(with_soft_pin=True)) == 0
    assert torch.equal(store.get_tensor(key), tensor)
    keys = [unique_key() for _ in range(3)]
    tensors = [torch.randn(4, 4), torch.arange(10), torch.ones(2, 3, dtype=torch.float16)]
    assert store.batch_put_tensor(keys, tensors) == [0, 0, 0]
    got = store.batch_get_tensor(keys + [unique_key("missing")])
    assert got[3] is None
    assert all(torch.equal(a, b) for a, b in zip(got[:3], tensors))
    more = [unique_key() for _ in range(2)]
    assert store.batch_pub_tensor(more, tensors[:2], ReplicateConfig()) == [0, 0]


def test_tensor_parallel_shards(store):
    key = unique_key()
    tensor = torch.arange(48, dtype=torch.float32).reshape(6, 8)
    assert store.put_tensor_with_tp(key, tensor, tp_rank=0, tp_size=4, split_dim=1) == 0
    shards = [store.get_tensor_with_tp(key, tp_rank=r, tp_size=4, split_dim=1) for r in range(4)]
    assert torch.equal(torch.cat(shards, dim=1), tensor)
    assert store.get_tensor(f"{key}_tp_3") is not None
    whole = unique_key()
    assert store.put_tensor_with_tp(whole, tensor) == 0  # tp_size=1: stored as one tensor
    assert torch.equal(store.get_tensor_with_tp(whole), tensor)
    base = [unique_key(), unique_key()]
    assert store.batch_put_tensor_with_tp(base, [tensor, tensor * 2], tp_size=2) == [0, 0]
    rank1 = store.batch_get_tensor_with_tp(base, tp_rank=1, tp_size=2)
    assert torch.equal(rank1[0], tensor[3:]) and torch.equal(rank1[1], tensor[3:] * 2)
    assert store.pub_tensor_with_tp(unique_key(), tensor, ReplicateConfig(), tp_size=2) == 0
    assert store.batch_pub_tensor_with_tp([unique_key()], [tensor], ReplicateConfig(),
                                          tp_size=3) == [0]


def test_group_ids_count_the_callers_keys_not_the_shards(store):
    tensor = torch.arange(48, dtype=torch.float32).reshape(6, 8)
    one, two = ReplicateConfig(group_ids=["g"]), ReplicateConfig(group_ids=["g", "h"])
    key = unique_key()
    assert store.pub_tensor_with_tp(key, tensor, one, tp_size=4) == 0
    assert torch.equal(store.get_tensor_with_tp(key, tp_rank=3, tp_size=4), tensor[5:])
    assert store.pub_tensor_with_tp(unique_key(), tensor, two, tp_size=2) == -600
    base = [unique_key(), unique_key()]
    assert store.batch_pub_tensor_with_tp(base, [tensor, tensor], two, tp_size=3) == [0, 0]
    assert store.batch_pub_tensor_with_tp(base, [tensor, tensor], one, tp_size=3) == [-600] * 2
    assert store.upsert_tensor_with_parallelism(key, tensor * 2, 2, one) == 0
    assert torch.equal(store.get_tensor_with_tp(key, tp_rank=1, tp_size=2), tensor[3:] * 2)
    assert store.upsert_tensor_with_parallelism(key, tensor, 2, two) == -600
    assert torch.equal(store.get_tensor_with_tp(key, tp_rank=1, tp_size=2), tensor[3:] * 2)


def test_tensor_into_registered_buffers(store):
    size = 1 << 16
    buffers = [np.zeros(size, dtype=np.uint8) for _ in range(2)]
    for buffer in buffers:
        assert store.register_buffer(buffer.ctypes.data, size) == 0
    try:
        keys = [unique_key(), unique_key()]
        tensors = [torch.randn(32, 32), torch.randint(0, 9, (100,))]
        assert store.batch_put_tensor(keys, tensors) == [0, 0]
        one = store.get_tensor_into(keys[0], buffers[0].ctypes.data, size)
        assert torch.equal(one, tensors[0])
        both = store.batch_get_tensor_into(keys + [unique_key("missing")],
                                           [b.ctypes.data for b in buffers]
                                           + [buffers[0].ctypes.data],
                                           [size] * 3)
        assert torch.equal(both[1], tensors[1]) and both[2] is None
        assert store.get_tensor_into(unique_key("missing"), buffers[0].ctypes.data, size) is None
        sharded = unique_key()
        assert store.put_tensor_with_tp(sharded, tensors[0], tp_size=2) == 0
        shard = store.get_tensor_with_tp_into(sharded, buffers[1].ctypes.data, size, tp_rank=1,
                                              tp_size=2)
        assert torch.equal(shard, tensors[0][16:])
        shards = store.batch_get_tensor_with_tp_into([sharded], [buffers[0].ctypes.data], [size],
                                                     tp_rank=0, tp_size=2)
        assert torch.equal(shards[0], tensors[0][:16])
        # One entry per key, also when the lists disagree.
        assert store.batch_get_tensor_into(keys, [buffers[0].ctypes.data], [size]) == [None] * 2
    finally:
        for buffer in buffers:
            store.unregister_buffer(buffer.ctypes.data)


def test_tensor_into_too_small_buffer_gives_none_for_that_entry(store, caplog):
    size = 256
    small = np.full(size, 7, dtype=np.uint8)
    big = np.zeros(64 * 1024, dtype=np.uint8)
    assert store.register_buffer(small.ctypes.data, size) == 0
    assert store.register_buffer(big.ctypes.data, big.nbytes) == 0
    try:
        key, other = unique_key(), unique_key()
        wanted = torch.randn(8, 8)
        assert store.put_tensor(key, torch.randn(64, 64)) == 0
        assert store.put_tensor(other, wanted) == 0
        with caplog.at_level("WARNING", logger="mooncake.store"):
            assert store.get_tensor_into(key, small.ctypes.data, size) is None
        assert "too small" in caplog.text
        # One bad entry does not lose the others.
        got = store.batch_get_tensor_into([key, other], [small.ctypes.data, big.ctypes.data],
                                          [size, big.nbytes])
        assert got[0] is None
        assert torch.equal(got[1], wanted)
        assert (small == 7).all()
    finally:
        store.unregister_buffer(small.ctypes.data)
        store.unregister_buffer(big.ctypes.data)
