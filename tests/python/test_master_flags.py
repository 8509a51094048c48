"""mooncake_master flags of the reference that command lines and config files
carry (interfaces.md §6, §7.4, §9.1): a master started with them runs, the
ones with an effect have it, and unsupported values are refused at start."""

import subprocess

import pytest

from conftest import setup_args
from mooncake.store import ErrorCode, MooncakeDistributedStore, ReplicateConfig, SoftPinAction
from mooncake_testing import unique_key


def test_reference_flags_are_accepted_and_max_soft_pin_ttl_applies(master_factory):
    master = master_factory([
        "--max_kv_soft_pin_ttl=1000", "--rpc_interface=lo", "--metrics_host=127.0.0.1",
        "--enable_oplog=false", "--oplog_poll_interval_ms=500", "--oplog_batch_max_entries=10",
        "--batch_oplog_retry_timeout_sec=5", "--snapshot_child_timeout_seconds=10",
        "--snapshot_catalog_store_type=embedded", "--snapshot_catalog_store_connstring=",
    ])
    assert master.metrics()  # /metrics answers on --metrics_host
    store = MooncakeDistributedStore()
    assert store.setup(**setup_args(master)) == 0
    try:
        pinned = ReplicateConfig(soft_pin_action=SoftPinAction.ENABLE, soft_pin_ttl_ms=1000)
        assert store.put(unique_key("pin"), b"v", pinned) == 0
        pinned.soft_pin_ttl_ms = 1001  # above this master's --max_kv_soft_pin_ttl
        key = unique_key("pin")
        assert store.put(key, b"v", pinned) == ErrorCode.INVALID_PARAMS
        assert store.is_exist(key) == 0
    finally:
        store.close()


@pytest.mark.parametrize("flags, message", [
    (["--rpc_interface=no-such-interface0"], "has no IPv4 address"),
    (["--enable_snapshot", "--snapshot_local_path=/tmp", "--snapshot_catalog_store_type=redis"],
     "snapshot_catalog_store_type must be"),
    (["--enable_snapshot", "--snapshot_local_path=/tmp", "--snapshot_payload_store_type=s3"],
     "snapshot_object_store_type must be"),
    (["--enable_snapshot", "--snapshot_local_path=/tmp", "--snapshot_backup_dir=/tmp/b"],
     "snapshot_backup_dir is not supported"),
    (["--max_kv_soft_pin_ttl=0"], "max_kv_soft_pin_ttl must be positive"),
])
def test_unsupported_values_are_refused_at_start(master_binary, flags, message):
    result = subprocess.run([master_binary, "--rpc_address=127.0.0.1"] + flags,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
