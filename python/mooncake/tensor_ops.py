"""Tensor helpers of MooncakeDistributedStore.

A tensor is stored as one value: a small header (magic, format version, dtype,
shape) followed by the tensor's bytes in C order. ``torch`` is imported the
first time a helper runs, so the store works without it.

Tensor-parallel helpers split a tensor with ``torch.tensor_split`` into
``tp_size`` shards along ``split_dim`` and store shard ``i`` under
``f"{key}_tp_{i}"``.
"""

import copy
import ctypes
import logging
import struct

from mooncake import _store

_log = logging.getLogger("mooncake.store")

_MAGIC = b"MCTS"
_FORMAT_VERSION = 1
# magic, version, dtype code, ndim
_HEADER = struct.Struct("<4sBBH")
_DIM = struct.Struct("<q")
# Position = dtype code; names missing from the installed torch are skipped.
_DTYPE_NAMES = (
    "float32", "float64", "float16", "bfloat16", "int8", "uint8", "int16",
    "int32", "int64", "bool", "complex64", "complex128", "float8_e4m3fn",
    "float8_e5m2",
    # Appended later: codes above must never change.
    "complex32", "uint16", "uint32", "uint64", "float8_e4m3fnuz", "float8_e5m2fnuz",
    "float8_e8m0fnu",
)

# The native error table: name -> (negative) code.
ERROR_CODES = dict(_store._error_codes)
_OBJECT_NOT_FOUND = ERROR_CODES["OBJECT_NOT_FOUND"]
_INVALID_PARAMS = ERROR_CODES["INVALID_PARAMS"]

_torch = None
_code_of_dtype = {}
_dtype_of_code = {}


def _torch_module():
    global _torch
    if _torch is None:
        try:
            import torch
        except ImportError as error:  # pragma: no cover - depends on the host
            raise ImportError(
                "the tensor methods of MooncakeDistributedStore need torch") from error
        for code, name in enumerate(_DTYPE_NAMES):
            dtype = getattr(torch, name, None)
            if dtype is not None:
                _code_of_dtype[dtype] = code
                _dtype_of_code[code] = dtype
        _torch = torch
    return _torch


def _shard_key(key, rank):
    return f"{key}_tp_{rank}"


def _encode(tensor):
    """(header bytes, uint8 numpy view of the data) for one tensor; None
    (with a logged reason) for what cannot be stored: not a tensor, a dtype
    without a code, a sparse or meta tensor. The caller answers
    INVALID_PARAMS for it, as the reference does."""
    torch = _torch_module()
    if not isinstance(tensor, torch.Tensor):
        _log.warning("cannot store a %s: expected a torch.Tensor", type(tensor).__name__)
        return None
    code = _code_of_dtype.get(tensor.dtype)
    if code is None or tensor.layout != torch.strided or tensor.is_meta:
        _log.warning("cannot store a tensor of dtype %s and layout %s%s", tensor.dtype,
                     tensor.layout, " on the meta device" if tensor.is_meta else "")
        return None
    data = tensor.detach()
    # Conjugate and negative views are lazy: their bytes are not the values.
    for resolve in ("resolve_conj", "resolve_neg"):
        if hasattr(data, resolve):
            data = getattr(data, resolve)()
    data = data.to("cpu").contiguous()
    header = _HEADER.pack(_MAGIC, _FORMAT_VERSION, code, data.dim())
    header += b"".join(_DIM.pack(size) for size in data.shape)
    raw = data.reshape(-1).view(torch.uint8).numpy() if data.numel() else b""
    return header, raw


def _decode(view, copy):
    """The tensor held by a bytes-like `view`; None when it is not a tensor."""
    torch = _torch_module()
    view = memoryview(view).cast("B")
    if len(view) < _HEADER.size:
        return None
    magic, version, code, ndim = _HEADER.unpack_from(view, 0)
    if magic != _MAGIC or version != _FORMAT_VERSION or code not in _dtype_of_code:
        return None
    offset = _HEADER.size
    if len(view) < offset + ndim * _DIM.size:
        return None
    shape = [_DIM.unpack_from(view, offset + i * _DIM.size)[0] for i in range(ndim)]
    offset += ndim * _DIM.size
    dtype = _dtype_of_code[code]
    numel = 1
    for size in shape:
        numel *= size
    nbytes = numel * torch.empty((), dtype=dtype).element_size()
    if len(view) - offset != nbytes:
        return None
    if nbytes == 0:
        return torch.empty(shape, dtype=dtype)
    data = torch.frombuffer(view, dtype=torch.uint8, count=nbytes, offset=offset)
    if copy:
        data = data.clone()
    return data.view(dtype).reshape(shape)


def _view_of_memory(buffer_ptr, length):
    return (ctypes.c_uint8 * length).from_address(buffer_ptr)


def config_for_derived_keys(config, key_count, owners):
    """`(config, ok)` for a call on keys derived from the caller's `key_count`
    keys, derived key j coming from caller key `owners[j]` (tensor shards, the
    subset of keys an upsert could clear): each derived key takes its caller
    key's group id. ok is False when `config.group_ids` does not have one
    entry per caller key (the call is then INVALID_PARAMS)."""
    group_ids = config.group_ids if config is not None else None
    if not group_ids:
        return config, True
    if len(group_ids) != key_count:
        return config, False
    derived = copy.copy(config)
    derived.group_ids = [group_ids[owner] for owner in owners]
    return derived, True


def _put_all(store, keys, tensors, config):
    """One code per key: INVALID_PARAMS for every key when the lists differ
    in length, and for each tensor that cannot be stored (the others are)."""
    keys, tensors = list(keys), list(tensors)
    if len(keys) != len(tensors):
        _log.warning("%d keys but %d tensors", len(keys), len(tensors))
        return [_INVALID_PARAMS] * len(keys)
    encoded = [_encode(tensor) for tensor in tensors]
    good = [i for i, parts in enumerate(encoded) if parts is not None]
    codes = [_INVALID_PARAMS] * len(keys)
    config, ok = config_for_derived_keys(config, len(keys), good)
    if not ok or not good:
        return codes
    stored = store._batch_put_parts([keys[i] for i in good], [list(encoded[i]) for i in good],
                                    config)
    for i, code in zip(good, stored):
        codes[i] = code
    return codes


# ---- plain tensors --------------------------------------------------------

def pub_tensor(self, key, tensor, config=None):
    """Stores `tensor` under `key` with `config`; 0 or a negative error code."""
    encoded = _encode(tensor)
    if encoded is None:
        return _INVALID_PARAMS
    header, raw = encoded
    return self.put_parts(key, header, raw, config=config)


def put_tensor(self, key, tensor):
    """Stores `tensor` under `key`; 0 or a negative error code."""
    return pub_tensor(self, key, tensor)


def get_tensor(self, key):
    """The tensor stored under `key` (a copy), or None."""
    handle = self.get_buffer(key)
    return None if handle is None else _decode(handle, copy=True)


def batch_pub_tensor(self, keys, tensors_list, config=None):
    """Stores each tensor under its key; one code per tensor."""
    return _put_all(self, keys, tensors_list, config)


def batch_put_tensor(self, keys, tensors_list):
    """Stores each tensor under its key; one code per tensor."""
    return _put_all(self, keys, tensors_list, None)


def batch_get_tensor(self, keys):
    """One tensor per key, None where missing."""
    return [None if handle is None else _decode(handle, copy=True)
            for handle in self.batch_get_buffer(list(keys))]


# ---- tensor parallelism ---------------------------------------------------

def _split(tensor, tp_size, split_dim):
    """The `tp_size` shards of `tensor` along `split_dim`; None (logged) when
    it is not a tensor or has no such dimension."""
    torch = _torch_module()
    if not isinstance(tensor, torch.Tensor):
        _log.warning("cannot split a %s: expected a torch.Tensor", type(tensor).__name__)
        return None
    ndim = tensor.dim()
    if ndim == 0 or not isinstance(split_dim, int) or not -ndim <= split_dim < ndim:
        _log.warning("cannot split a %d-dimensional tensor along dimension %r", ndim, split_dim)
        return None
    return torch.tensor_split(tensor, tp_size, dim=split_dim)


def pub_tensor_with_tp(self, key, tensor, config=None, tp_rank=0, tp_size=1, split_dim=0):
    """Stores every shard of `tensor` (all ranks); 0 or the first error."""
    if tp_size <= 1:
        return pub_tensor(self, key, tensor, config)
    config, ok = config_for_derived_keys(config, 1, [0] * tp_size)
    if not ok:
        return _INVALID_PARAMS
    shards = _split(tensor, tp_size, split_dim)
    if shards is None:
        return _INVALID_PARAMS
    keys = [_shard_key(key, rank) for rank in range(tp_size)]
    codes = _put_all(self, keys, list(shards), config)
    return next((code for code in codes if code != 0), 0)


def put_tensor_with_tp(self, key, tensor, tp_rank=0, tp_size=1, split_dim=0):
    return pub_tensor_with_tp(self, key, tensor, None, tp_rank, tp_size, split_dim)


def get_tensor_with_tp(self, key, tp_rank=0, tp_size=1, split_dim=0):
    """Shard `tp_rank` of the tensor under `key` (the whole tensor if tp_size is 1)."""
    return get_tensor(self, _shard_key(key, tp_rank) if tp_size > 1 else key)


def batch_pub_tensor_with_tp(self, base_keys, tensors_list, config=None, tp_rank=0, tp_size=1,
                             split_dim=0):
    """One code per tensor: 0 when all its shards were stored, else the first
    error (INVALID_PARAMS for a tensor that cannot be split or stored)."""
    base_keys, tensors_list = list(base_keys), list(tensors_list)
    if tp_size <= 1 or len(base_keys) != len(tensors_list):
        return _put_all(self, base_keys, tensors_list, config)
    results = [_INVALID_PARAMS] * len(base_keys)
    owners, keys, shards = [], [], []
    for i, (key, tensor) in enumerate(zip(base_keys, tensors_list)):
        split = _split(tensor, tp_size, split_dim)
        if split is None:
            continue
        owners.extend([i] * tp_size)
        keys.extend(_shard_key(key, rank) for rank in range(tp_size))
        shards.extend(split)
    config, ok = config_for_derived_keys(config, len(base_keys), owners)
    if not ok or not keys:
        return results
    for owner in set(owners):
        results[owner] = 0
    for owner, code in zip(owners, _put_all(self, keys, shards, config)):
        if code != 0 and results[owner] == 0:
            results[owner] = code
    return results


def batch_put_tensor_with_tp(self, base_keys, tensors_list, tp_rank=0, tp_size=1, split_dim=0):
    return batch_pub_tensor_with_tp(self, base_keys, tensors_list, None, tp_rank, tp_size,
                                    split_dim)


def batch_get_tensor_with_tp(self, base_keys, tp_rank=0, tp_size=1):
    keys = [_shard_key(key, tp_rank) if tp_size > 1 else key for key in base_keys]
    return batch_get_tensor(self, keys)


# ---- into registered buffers ----------------------------------------------

def _decode_in_place(buffer_ptr, length):
    if length <= 0:
        return None
    return _decode(_view_of_memory(buffer_ptr, length), copy=False)


def _log_if_too_small(store, key, read, size):
    """Logs why a read failed when the buffer is too small for the stored
    tensor: the result is None for that entry (the spec's convention), and
    the log says why."""
    if read >= 0 or read == _OBJECT_NOT_FOUND:
        return
    needed = store.get_size(key)
    if needed > size:
        _log.warning("buffer of %d bytes is too small for tensor %r (%d bytes)", size, key,
                     needed)


def get_tensor_into(self, key, buffer_ptr, size):
    """Reads the tensor into the registered buffer and returns a tensor that
    views it (no copy); None when missing, on error or when the buffer is too
    small (logged)."""
    read = self.get_into(key, buffer_ptr, size)
    _log_if_too_small(self, key, read, size)
    return _decode_in_place(buffer_ptr, read)


def batch_get_tensor_into(self, base_keys, buffer_ptrs, sizes):
    """One tensor (a view of its buffer) or None per key; a failed entry,
    e.g. a buffer too small for its tensor, does not affect the others."""
    base_keys, buffer_ptrs, sizes = list(base_keys), list(buffer_ptrs), list(sizes)
    if not len(base_keys) == len(buffer_ptrs) == len(sizes):
        _log.warning("%d keys, %d buffers and %d sizes", len(base_keys), len(buffer_ptrs),
                     len(sizes))
        return [None] * len(base_keys)
    reads = self.batch_get_into(base_keys, buffer_ptrs, sizes)
    for key, read, size in zip(base_keys, reads, sizes):
        _log_if_too_small(self, key, read, size)
    return [_decode_in_place(ptr, read) for ptr, read in zip(buffer_ptrs, reads)]


def get_tensor_with_tp_into(self, key, buffer_ptr, size, tp_rank=0, tp_size=1, split_dim=0):
    return get_tensor_into(self, _shard_key(key, tp_rank) if tp_size > 1 else key, buffer_ptr,
                           size)


def batch_get_tensor_with_tp_into(self, base_keys, buffer_ptrs, sizes, tp_rank=0, tp_size=1):
    keys = [_shard_key(key, tp_rank) if tp_size > 1 else key for key in base_keys]
    return batch_get_tensor_into(self, keys, buffer_ptrs, sizes)
