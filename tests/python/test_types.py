"""Value types, enums, error codes, host memory and NUMA binding."""

import pickle

import pytest

from mooncake import store as store_module
from mooncake.store import (ErrorCode, MooncakeHostMemAllocator, ReplicaStatus, ReplicateConfig,
                            TaskStatus, TaskType, bind_to_numa_node)

COMPAT_ERROR_CODES = {
    "OK": 0, "INTERNAL_ERROR": -1, "BUFFER_OVERFLOW": -10, "SHARD_INDEX_OUT_OF_RANGE": -100,
    "SEGMENT_NOT_FOUND": -101, "SEGMENT_ALREADY_EXISTS": -102, "NO_AVAILABLE_HANDLE": -200,
    "INVALID_VERSION": -300, "INVALID_KEY": -400, "WRITE_FAIL": -500, "INVALID_PARAMS": -600,
    "INVALID_WRITE": -700, "INVALID_READ": -701, "INVALID_REPLICA": -702,
    "REPLICA_IS_NOT_READY": -703, "OBJECT_NOT_FOUND": -704, "OBJECT_ALREADY_EXISTS": -705,
    "OBJECT_HAS_LEASE": -706, "LEASE_EXPIRED": -707, "TRANSFER_FAIL": -800, "RPC_FAIL": -900,
    "ETCD_OPERATION_ERROR": -1000, "ETCD_KEY_NOT_EXIST": -1001, "ETCD_TRANSACTION_FAIL": -1002,
    "ETCD_CTX_CANCELLED": -1003, "UNAVAILABLE_IN_CURRENT_STATUS": -1010,
    "UNAVAILABLE_IN_CURRENT_MODE": -1011, "FILE_NOT_FOUND": -1100, "FILE_OPEN_FAIL": -1101,
    "FILE_READ_FAIL": -1102, "FILE_WRITE_FAIL": -1103, "FILE_INVALID_BUFFER": -1104,
    "FILE_LOCK_FAIL": -1105, "FILE_INVALID_HANDLE": -1106,
    # interfaces.md §11: the reference's further codes.
    "CLIENT_NOT_FOUND": -103, "ILLEGAL_CLIENT": -601, "OBJECT_HAS_REPLICATION_TASK": -708,
    "OBJECT_NO_REPLICATION_TASK": -709, "REPLICA_NOT_FOUND": -710,
    "REPLICA_ALREADY_EXISTS": -711, "REPLICA_IS_GONE": -712, "REPLICA_NOT_IN_LOCAL_MEMORY": -713,
    "BUCKET_NOT_FOUND": -1200, "BUCKET_ALREADY_EXISTS": -1201, "KEYS_EXCEED_BUCKET_LIMIT": -1202,
    "KEYS_ULTRA_LIMIT": -1203, "UNABLE_OFFLOAD": -1300, "UNABLE_OFFLOADING": -1301,
    "TASK_NOT_FOUND": -1400, "TASK_PENDING_LIMIT_EXCEEDED": -1401,
    # ... and those first at the reference's HEAD.
    "OBJECT_REPLICA_BUSY": -714, "CHECKSUM_MISMATCH": -801, "RPC_TIMEOUT": -901,
    "OPLOG_ENTRY_NOT_FOUND": -1004, "K8S_LEASE_OPERATION_ERROR": -1005,
    "K8S_LEASE_NOT_FOUND": -1006, "INCOMPLETE_OPLOG_CATCH_UP": -1007, "NOT_SUPPORTED": -1012,
    "JOB_NOT_FOUND": -1402, "SERIALIZE_UNSUPPORTED": -1500, "SERIALIZE_FAIL": -1501,
    "DESERIALIZE_FAIL": -1502, "PERSISTENT_FAIL": -1503, "DFS_NETWORK_TIMEOUT": -1600,
    "DFS_SERVICE_UNAVAILABLE": -1601, "DFS_QUOTA_EXCEEDED": -1602, "DFS_PERMISSION_DENIED": -1603,
    "DFS_STALE_HANDLE": -1604, "DFS_PARTIAL_WRITE": -1605, "TENANT_QUOTA_EXCEEDED": -1700,
    "TENANT_NOT_REGISTERED": -1701, "TENANT_NOT_EMPTY": -1702,
}


def test_replicate_config_defaults_and_attributes():
    config = ReplicateConfig()
    assert config.replica_num == 1
    assert config.with_soft_pin is False
    assert config.preferred_segment == ""
    assert config.prefer_alloc_in_same_node is False
    config.replica_num = 3
    config.with_soft_pin = True
    config.preferred_segment = "localhost:12345"
    config.prefer_alloc_in_same_node = True
    assert (config.replica_num, config.with_soft_pin, config.preferred_segment,
            config.prefer_alloc_in_same_node) == (3, True, "localhost:12345", True)
    text = repr(config)
    assert "replica_num=3" in text and "localhost:12345" in text and "with_soft_pin=True" in text
    assert pickle.loads(pickle.dumps(config)) == config
    assert ReplicateConfig(replica_num=2, with_soft_pin=True) != ReplicateConfig()


def test_replicate_config_validation():
    config = ReplicateConfig()
    with pytest.raises(TypeError):
        config.replica_num = -1
    with pytest.raises(TypeError):
        config.replica_num = "two"
    config.prefer_alloc_in_same_node = "True"  # the spelling the spec shows
    assert config.prefer_alloc_in_same_node is True
    config.prefer_alloc_in_same_node = "false"
    assert config.prefer_alloc_in_same_node is False
    with pytest.raises(ValueError):
        config.prefer_alloc_in_same_node = "maybe"
    with pytest.raises(TypeError):
        ReplicateConfig(replicas=2)


def test_enums():
    assert TaskStatus.SUCCESS == TaskStatus.COMPLETED
    assert int(TaskStatus.COMPLETED) == int(TaskStatus.SUCCESS)
    assert len({int(TaskStatus.PENDING), int(TaskStatus.PROCESSING), int(TaskStatus.SUCCESS),
                int(TaskStatus.FAILED)}) == 4
    assert TaskType.REPLICA_COPY != TaskType.REPLICA_MOVE
    assert {"UNDEFINED", "INITIALIZED", "PROCESSING", "COMPLETE", "REMOVED",
            "FAILED"} <= set(ReplicaStatus.__members__)


def test_error_codes_match_the_compat_table():
    assert {code.name: int(code) for code in ErrorCode} == COMPAT_ERROR_CODES
    assert ErrorCode.OBJECT_NOT_FOUND == -704


def test_module_exports_the_api():
    for name in ("MooncakeDistributedStore", "ReplicateConfig", "BufferHandle",
                 "MooncakeHostMemAllocator", "bind_to_numa_node", "TaskStatus", "TaskType",
                 "QueryTaskResponse", "ReplicaStatus", "ReplicaDescriptor", "ErrorCode"):
        assert hasattr(store_module, name), name


def test_host_mem_allocator():
    allocator = MooncakeHostMemAllocator()
    first = allocator.alloc(1000)
    second = MooncakeHostMemAllocator().alloc(size=5000)
    assert first and second and first != second
    # Any instance frees what any instance allocated.
    assert MooncakeHostMemAllocator().free(first) == 0
    assert allocator.free(ptr=second) == 0
    assert allocator.free(second) == ErrorCode.INVALID_PARAMS
    assert allocator.free(12345) == ErrorCode.INVALID_PARAMS
    assert allocator.alloc(0) == 0
    assert allocator.alloc(1 << 62) == 0


def test_bind_to_numa_node():
    code = bind_to_numa_node(0)
    assert code in (0, ErrorCode.UNAVAILABLE_IN_CURRENT_MODE)
    if code == 0:
        with pytest.raises(ValueError):
            bind_to_numa_node(4096)
        with pytest.raises(ValueError):
            bind_to_numa_node(node=-1)
