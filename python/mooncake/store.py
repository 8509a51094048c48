"""The Mooncake store client.

``MooncakeDistributedStore`` is the native client (module ``mooncake._store``)
plus the parts of the API written in Python: context-manager support and the
tensor helpers, which import ``torch`` only when one of them is called.
"""

import enum

from mooncake import _store
from mooncake._store import (  # noqa: F401  (re-exported API)
    BufferDescriptor,
    BufferHandle,
    DiskDescriptor,
    MemoryDescriptor,
    MooncakeHostMemAllocator,
    ObjectDataType,
    QueryTaskResponse,
    ReplicaDescriptor,
    ReplicaStatus,
    ReplicateConfig,
    SoftPinAction,
    TaskStatus,
    TaskType,
    bind_to_numa_node,
)
from mooncake import tensor_ops as _tensor_ops
from mooncake import upsert_ops as _upsert_ops

#: The negative codes the methods return, as an IntEnum (compares with ints).
ErrorCode = enum.IntEnum("ErrorCode", dict(_store._error_codes))

# The ObjectDataType values at module level, as the reference exports them.
globals().update(ObjectDataType.__members__)


class MooncakeDistributedStore(_store.MooncakeDistributedStore):
    """A member of a Mooncake store cluster (see docs/python_api.md)."""

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, traceback):
        self.close()
        return False

    def __repr__(self):
        hostname = self.get_hostname()
        state = f"hostname={hostname!r}" if hostname else "not set up"
        return f"<MooncakeDistributedStore {state}>"

    # Tensor helpers (torch is imported on first use).
    put_tensor = _tensor_ops.put_tensor
    pub_tensor = _tensor_ops.pub_tensor
    get_tensor = _tensor_ops.get_tensor
    batch_put_tensor = _tensor_ops.batch_put_tensor
    batch_pub_tensor = _tensor_ops.batch_pub_tensor
    batch_get_tensor = _tensor_ops.batch_get_tensor
    put_tensor_with_tp = _tensor_ops.put_tensor_with_tp
    pub_tensor_with_tp = _tensor_ops.pub_tensor_with_tp
    get_tensor_with_tp = _tensor_ops.get_tensor_with_tp
    batch_put_tensor_with_tp = _tensor_ops.batch_put_tensor_with_tp
    batch_pub_tensor_with_tp = _tensor_ops.batch_pub_tensor_with_tp
    batch_get_tensor_with_tp = _tensor_ops.batch_get_tensor_with_tp
    get_tensor_into = _tensor_ops.get_tensor_into
    batch_get_tensor_into = _tensor_ops.batch_get_tensor_into
    get_tensor_with_tp_into = _tensor_ops.get_tensor_with_tp_into
    batch_get_tensor_with_tp_into = _tensor_ops.batch_get_tensor_with_tp_into

    # Puts that replace an existing value (see mooncake.upsert_ops).
    upsert = _upsert_ops.upsert
    upsert_parts = _upsert_ops.upsert_parts
    upsert_batch = _upsert_ops.upsert_batch
    upsert_from = _upsert_ops.upsert_from
    batch_upsert_from = _upsert_ops.batch_upsert_from
    upsert_tensor = _upsert_ops.upsert_tensor
    upsert_pub_tensor = _upsert_ops.upsert_pub_tensor
    upsert_tensor_from = _upsert_ops.upsert_tensor_from
    batch_upsert_tensor = _upsert_ops.batch_upsert_tensor
    batch_upsert_pub_tensor = _upsert_ops.batch_upsert_pub_tensor
    batch_upsert_tensor_from = _upsert_ops.batch_upsert_tensor_from
    upsert_tensor_with_parallelism = _upsert_ops.upsert_tensor_with_parallelism
    upsert_tensor_with_parallelism_from = _upsert_ops.upsert_tensor_with_parallelism_from
    batch_upsert_tensor_with_parallelism = _upsert_ops.batch_upsert_tensor_with_parallelism
    batch_upsert_tensor_with_parallelism_from = (
        _upsert_ops.batch_upsert_tensor_with_parallelism_from)


__all__ = [
    "BufferDescriptor",
    "BufferHandle",
    "DiskDescriptor",
    "ErrorCode",
    "MemoryDescriptor",
    "MooncakeDistributedStore",
    "MooncakeHostMemAllocator",
    "ObjectDataType",
    "QueryTaskResponse",
    "ReplicaDescriptor",
    "ReplicaStatus",
    "ReplicateConfig",
    "SoftPinAction",
    "TaskStatus",
    "TaskType",
    "bind_to_numa_node",
]
