"""The upsert family: puts that replace an existing value.

A plain put of an existing key keeps the old value (and returns 0), as in
the reference. ``upsert*`` is the same put with the config's upsert mark,
and the master replaces the value (docs/python_api.md, "Upsert"):

- a missing key is put as usual;
- a value of the same size that no reader holds a lease on is rewritten in
  place; otherwise new space is allocated and the old value's space is freed
  once its readers' leases are over. Readers get REPLICA_IS_NOT_READY until
  the upsert ends, then the new bytes, never a mix;
- the pins of the old value are kept (hard pin, soft pin);
- another client's unfinished put of the key is pre-empted; this client's
  own gives REPLICA_IS_NOT_READY;
- a copy or move of the key, or an SSD offload writing it right now, gives
  OBJECT_HAS_REPLICATION_TASK and nothing changes; a queued offload is
  cancelled; the key's disk copies are dropped;
- a config a put would refuse gives INVALID_PARAMS; no space for the new
  value (NO_AVAILABLE_HANDLE) leaves the old one as it was. An upsert that
  fails after it started writing (a peer lost mid-transfer) leaves the key
  missing, never half-written.

Each function returns what its put counterpart returns.
"""

import functools

from mooncake import _store
from mooncake import tensor_ops as _tensor_ops

_INVALID_PARAMS = _tensor_ops.ERROR_CODES["INVALID_PARAMS"]


def _replacing(config):
    """A copy of `config` (None: the default) that replaces existing values."""
    return _store._upsert_config(config)


def _needs_setup(per_key):
    """Before setup (or after close) the family answers INVALID_PARAMS, as the
    reference's does: one code, or one per key when `per_key`."""
    def wrap(function):
        @functools.wraps(function)
        def guarded(self, *args, **kwargs):
            if self._is_set_up():
                return function(self, *args, **kwargs)
            if not per_key:
                return _INVALID_PARAMS
            keys = args[0] if args else kwargs.get("keys", [])
            return [_INVALID_PARAMS] * len(list(keys))
        return guarded
    return wrap


@_needs_setup(per_key=False)
def upsert(self, key, value, config=None):
    """Stores value under key, replacing an existing value."""
    return self.put(key, value, _replacing(config))


@_needs_setup(per_key=False)
def upsert_parts(self, key, *parts, config=None):
    """Parts must be 1-D byte buffers; anything else raises RuntimeError
    before the old value is touched."""
    for part in parts:
        try:
            view = memoryview(part)
        except TypeError:
            raise RuntimeError(f"upsert_parts: part of type {type(part).__name__} is not a "
                               "buffer") from None
        if view.ndim != 1:
            raise RuntimeError(f"upsert_parts: parts must be 1-D buffers, got {view.ndim}-D")
    return self.put_parts(key, *parts, config=_replacing(config))


@_needs_setup(per_key=False)
def upsert_batch(self, keys, values, config=None):
    """One code: 0 when every key was replaced, else the first error."""
    return self.put_batch(list(keys), list(values), _replacing(config))


@_needs_setup(per_key=False)
def upsert_from(self, key, buffer_ptr, size, config=None):
    return self.put_from(key, buffer_ptr, size, _replacing(config))


@_needs_setup(per_key=True)
def batch_upsert_from(self, keys, buffer_ptrs, sizes, config=None):
    return self.batch_put_from(list(keys), list(buffer_ptrs), list(sizes), _replacing(config))


@_needs_setup(per_key=False)
def upsert_tensor(self, key, tensor):
    return _tensor_ops.pub_tensor(self, key, tensor, _replacing(None))


@_needs_setup(per_key=False)
def upsert_pub_tensor(self, key, tensor, config=None):
    return _tensor_ops.pub_tensor(self, key, tensor, _replacing(config))


@_needs_setup(per_key=False)
def upsert_tensor_from(self, key, buffer_ptr, size):
    """buffer_ptr holds a stored tensor's bytes (header then data)."""
    return self.put_from(key, buffer_ptr, size, _replacing(None))


@_needs_setup(per_key=True)
def batch_upsert_tensor(self, keys, tensors_list):
    return batch_upsert_pub_tensor(self, keys, tensors_list, None)


@_needs_setup(per_key=True)
def batch_upsert_pub_tensor(self, keys, tensors_list, config=None):
    return _tensor_ops.batch_pub_tensor(self, list(keys), list(tensors_list),
                                        _replacing(config))


@_needs_setup(per_key=True)
def batch_upsert_tensor_from(self, keys, buffer_ptrs, sizes):
    return batch_upsert_from(self, keys, buffer_ptrs, sizes)


# ---- tensor-parallel upserts ------------------------------------------------
#
# ``parallelism`` describes how a tensor is split across tensor-parallel
# ranks: None (not split: the whole tensor under ``key``), an int (tp_size,
# split along dim 0), or an object or dict with ``tp_size`` and optionally
# ``split_dim``. Shard ``i`` is stored under ``f"{key}_tp_{i}"``, the keys the
# ``*_with_tp`` getters read. ``writer_partition`` is the shard this writer
# stores (each rank writes its own); None stores every shard.


def _tp_layout(parallelism):
    """(tp_size, split_dim); ValueError for a layout that makes no sense."""
    if parallelism is None:
        return 1, 0
    if isinstance(parallelism, bool):
        raise ValueError("parallelism must be None, an int or a tp_size/split_dim spec")
    if isinstance(parallelism, int):
        tp_size, split_dim = parallelism, 0
    elif isinstance(parallelism, dict):
        tp_size, split_dim = parallelism.get("tp_size", 1), parallelism.get("split_dim", 0)
    else:
        tp_size = getattr(parallelism, "tp_size", 1)
        split_dim = getattr(parallelism, "split_dim", 0)
    if not isinstance(tp_size, int) or tp_size < 1 or not isinstance(split_dim, int):
        raise ValueError(f"bad parallelism {parallelism!r}: tp_size must be an int >= 1")
    return tp_size, split_dim


def _shards_to_write(key, tensor, parallelism, writer_partition):
    """[(key, tensor)] this writer stores; ValueError for a bad partition."""
    tp_size, split_dim = _tp_layout(parallelism)
    if tp_size == 1:
        if writer_partition not in (None, 0):
            raise ValueError(f"writer_partition {writer_partition} with one partition")
        return [(key, tensor)]
    shards = _tensor_ops._split(tensor, tp_size, split_dim)
    if shards is None:
        raise ValueError(f"cannot split {type(tensor).__name__} along dimension {split_dim}")
    ranks = range(tp_size) if writer_partition is None else [writer_partition]
    for rank in ranks:
        if not isinstance(rank, int) or not 0 <= rank < tp_size:
            raise ValueError(f"writer_partition {rank} is outside 0..{tp_size - 1}")
    return [(_tensor_ops._shard_key(key, rank), shards[rank]) for rank in ranks]


def _first_error(codes):
    return next((code for code in codes if code != 0), 0)


@_needs_setup(per_key=False)
def upsert_tensor_with_parallelism(self, key, tensor, parallelism=None, config=None,
                                   writer_partition=None):
    """Replaces the shards this writer owns; 0 or the first error."""
    pairs = _shards_to_write(key, tensor, parallelism, writer_partition)
    config, ok = _tensor_ops.config_for_derived_keys(config, 1, [0] * len(pairs))
    if not ok:
        return _INVALID_PARAMS
    return _first_error(batch_upsert_pub_tensor(
        self, [k for k, _ in pairs], [t for _, t in pairs], config))


def _from_key(key, parallelism, writer_partition):
    """The key a serialized shard goes to, or None when it is ambiguous."""
    tp_size, _ = _tp_layout(parallelism)
    if tp_size == 1:
        return key if writer_partition in (None, 0) else None
    if not isinstance(writer_partition, int) or not 0 <= writer_partition < tp_size:
        return None  # raw bytes cannot be split: name the shard
    return _tensor_ops._shard_key(key, writer_partition)


@_needs_setup(per_key=False)
def upsert_tensor_with_parallelism_from(self, key, buffer_ptr, size, parallelism=None,
                                        config=None, writer_partition=None):
    """buffer_ptr holds one stored tensor (header then data): the whole tensor,
    or with a parallelism the shard writer_partition. INVALID_PARAMS when a
    split layout has no writer_partition."""
    target = _from_key(key, parallelism, writer_partition)
    if target is None:
        return _INVALID_PARAMS
    return self.put_from(target, buffer_ptr, size, _replacing(config))


def _per_key(values, count, name):
    if values is None:
        return [None] * count
    values = list(values)
    if len(values) != count:
        raise ValueError(f"{count} keys but {len(values)} {name}")
    return values


@_needs_setup(per_key=True)
def batch_upsert_tensor_with_parallelism(self, keys, tensors_list, parallelisms=None,
                                         config=None, writer_partitions=None):
    """One code per key: 0 when all its shards were replaced, else the first error."""
    keys, tensors_list = list(keys), list(tensors_list)
    if len(keys) != len(tensors_list):
        raise ValueError(f"{len(keys)} keys but {len(tensors_list)} tensors")
    parallelisms = _per_key(parallelisms, len(keys), "parallelisms")
    partitions = _per_key(writer_partitions, len(keys), "writer_partitions")
    owners, shard_keys, shards = [], [], []
    for i, key in enumerate(keys):
        for shard_key, shard in _shards_to_write(key, tensors_list[i], parallelisms[i],
                                                 partitions[i]):
            owners.append(i)
            shard_keys.append(shard_key)
            shards.append(shard)
    config, ok = _tensor_ops.config_for_derived_keys(config, len(keys), owners)
    if not ok:
        return [_INVALID_PARAMS] * len(keys)
    codes = batch_upsert_pub_tensor(self, shard_keys, shards, config) if shard_keys else []
    results = [0] * len(keys)
    for owner, code in zip(owners, codes):
        if code != 0 and results[owner] == 0:
            results[owner] = code
    return results


@_needs_setup(per_key=True)
def batch_upsert_tensor_with_parallelism_from(self, keys, buffer_ptrs, sizes, parallelisms=None,
                                              config=None, writer_partitions=None):
    keys, buffer_ptrs, sizes = list(keys), list(buffer_ptrs), list(sizes)
    if not len(keys) == len(buffer_ptrs) == len(sizes):
        return batch_upsert_from(self, keys, buffer_ptrs, sizes, config)  # reports it
    parallelisms = _per_key(parallelisms, len(keys), "parallelisms")
    partitions = _per_key(writer_partitions, len(keys), "writer_partitions")
    targets = [_from_key(k, p, w) for k, p, w in zip(keys, parallelisms, partitions)]
    valid = [i for i, target in enumerate(targets) if target is not None]
    results = [_INVALID_PARAMS] * len(keys)
    config, ok = _tensor_ops.config_for_derived_keys(config, len(keys), valid)
    if not ok:
        return results
    codes = batch_upsert_from(self, [targets[i] for i in valid], [buffer_ptrs[i] for i in valid],
                              [sizes[i] for i in valid], config) if valid else []
    for i, code in zip(valid, codes):
        results[i] = code
    return results
