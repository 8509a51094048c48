"""What inference-server connectors (SGLang, vLLM, LMCache) and the
reference's tools call, with the reference's names, arguments and codes:
setup's 8th argument and keyword options, setup(dict) keys, keyword names,
the remove family with force, upsert, health_check, copy/move codes,
preferred segments as hints, and exist probes that grant no lease."""

import numpy as np
import pytest

from conftest import MiB, setup_args
from mooncake.store import ErrorCode, MooncakeDistributedStore, ReplicateConfig
from mooncake_testing import find_client_binary, unique_key

INVALID_PARAMS = int(ErrorCode.INVALID_PARAMS)
OBJECT_HAS_LEASE = int(ErrorCode.OBJECT_HAS_LEASE)
OBJECT_NOT_FOUND = int(ErrorCode.OBJECT_NOT_FOUND)


def positional(master):
    args = setup_args(master)
    return [args["local_hostname"], args["metadata_server"], args["global_segment_size"],
            args["local_buffer_size"], args["protocol"], args["rdma_devices"],
            args["master_server_addr"]]


# ---- setup ------------------------------------------------------------------

def test_setup_with_eight_positional_arguments(master):
    store = MooncakeDistributedStore()
    try:
        assert store.setup(*positional(master), None) == 0
        assert store.put(unique_key(), b"x") == 0
    finally:
        store.close()


def test_setup_keyword_options_of_the_reference(master):
    store = MooncakeDistributedStore()
    try:
        assert store.setup(*positional(master), engine=None, enable_ssd_offload=False,
                           ssd_offload_path="", tenant_id="team-a",
                           enable_client_http_server=False, client_http_port=9300) == 0
    finally:
        store.close()


def test_setup_refuses_what_it_cannot_do(master):
    store = MooncakeDistributedStore()
    # Sharing an engine is not built: a clear error, not a silent own engine.
    with pytest.raises(RuntimeError, match="engine"):
        store.setup(*positional(master), object())
    # SSD tier without a usable directory (the default /data/file_storage is
    # absent here): refused, not silently not offloading.
    assert store.setup(*positional(master), enable_ssd_offload=True) == INVALID_PARAMS
    assert store.setup(*positional(master), client_http_port=0) == INVALID_PARAMS
    assert store.get_hostname() == ""


def test_dict_setup_with_the_rest_services_keys(master):
    # What mooncake_store_service passes: Python values, str()-ed by setup.
    args = setup_args(master)
    config = {
        "local_hostname": args["local_hostname"], "metadata_server": args["metadata_server"],
        "global_segment_size": "64MB", "local_buffer_size": 64 * MiB, "protocol": "tcp",
        "rdma_devices": "", "master_server_addr": args["master_server_addr"],
        "enable_ssd_offload": False, "ssd_offload_path": None, "tenant_id": "default",
        "enable_client_http_server": "off", "client_http_port": " 9300 ",
        "ipc_socket_path": "", "some_future_key": 1,
    }
    store = MooncakeDistributedStore()
    try:
        assert store.setup(config) == 0
    finally:
        store.close()
    for key, value in [("enable_ssd_offload", True), ("enable_ssd_offload", "yes"),
                       ("client_http_port", "http"), ("client_http_port", 70000)]:
        bad = dict(config, **{key: value})
        assert store.setup(bad) == INVALID_PARAMS, (key, value)
    assert store.get_hostname() == ""


# ---- keyword names ------------------------------------------------------------

def test_remove_by_regex_keywords_new_and_old(store):
    prefix = unique_key("kw")
    for i in range(3):
        assert store.put(f"{prefix}-{i}", b"v") == 0
    assert store.remove_by_regex(regex_pattern=f"^{prefix}-0$") == 1
    assert store.remove_by_regex(regex=f"^{prefix}-1$") == 1
    assert store.remove_by_regex(f"^{prefix}-2$", False) == 1
    with pytest.raises(TypeError):
        store.remove_by_regex()


def test_batch_get_into_multi_buffers_keywords_new_and_old(store):
    key = unique_key()
    assert store.put(key, b"abcdef") == 0
    buffer = np.zeros(64, dtype=np.uint8)
    assert store.register_buffer(buffer.ctypes.data, buffer.nbytes) == 0
    try:
        for kwargs in ({"prefer_alloc_in_same_node": False}, {"prefer_same_node": True}, {}):
            buffer[:] = 0
            got = store.batch_get_into_multi_buffers([key], [[buffer.ctypes.data,
                                                              buffer.ctypes.data + 32]],
                                                     [[3, 3]], **kwargs)
            assert got == [6]
            assert bytes(buffer[:3]) + bytes(buffer[32:35]) == b"abcdef"
    finally:
        store.unregister_buffer(buffer.ctypes.data)


# ---- behaviour fixes ------------------------------------------------------------

def test_copy_and_move_tasks_to_unknown_segments_are_invalid_params(store):
    key = unique_key()
    assert store.put(key, b"v") == 0
    assert store.create_copy_task(key, ["nohost:1"])[1] == INVALID_PARAMS
    assert store.create_move_task(key, store.get_hostname(), "nohost:1")[1] == INVALID_PARAMS


def test_unknown_preferred_segment_is_a_hint(store):
    key = unique_key()
    assert store.put(key, b"hinted", ReplicateConfig(preferred_segment="nohost:1")) == 0
    assert store.get(key) == b"hinted"


def test_exist_probes_grant_no_lease(store):
    key = unique_key()
    assert store.put(key, b"v") == 0
    assert store.is_exist(key) == 1
    assert store.batch_is_exist([key]) == [1]
    assert store.remove(key) == 0  # no lease held: removable at once


# ---- remove family ------------------------------------------------------------

def test_force_ignores_read_leases(store):
    keys = [unique_key("force") for _ in range(4)]
    for key in keys:
        assert store.put(key, b"v") == 0
        assert store.get(key) == b"v"  # a read lease for --default_kv_lease_ttl
    assert store.remove(keys[0]) == OBJECT_HAS_LEASE
    assert store.remove(keys[0], force=True) == 0
    assert store.batch_remove(keys[1:2] + ["missing-" + keys[0]]) == [OBJECT_HAS_LEASE,
                                                                      OBJECT_NOT_FOUND]
    assert store.batch_remove(keys[1:2], force=True) == [0]
    assert store.remove_by_regex(f"^{keys[2]}$") == 0
    assert store.remove_by_regex(f"^{keys[2]}$", force=True) == 1
    assert store.is_exist(keys[3]) == 1


def test_remove_all_force(master_factory, store_factory):
    store = store_factory(on_master=master_factory())
    key = unique_key()
    assert store.put(key, b"v") == 0
    assert store.get(key) == b"v"
    assert store.remove_all() == 0
    assert store.remove_all(force=True) == 1
    assert store.is_exist(key) == 0


def test_health_check(master_factory):
    master = master_factory()
    store = MooncakeDistributedStore()
    assert store.health_check() == 1
    assert store.setup(**setup_args(master)) == 0
    try:
        assert store.health_check() == 0
        master.stop()
        assert store.health_check() == 2
    finally:
        store.close()
    assert store.health_check() == 1


# ---- upsert ---------------------------------------------------------------------

def test_upsert_replaces_while_put_keeps(store):
    key = unique_key()
    assert store.upsert(key, b"first") == 0  # absent: like put
    assert store.put(key, b"ignored") == 0
    assert store.get(key) == b"first"  # leased by this get, too
    assert store.upsert(key, b"second, longer") == 0  # ignores the lease
    assert store.get(key) == b"second, longer"
    keys = [unique_key() for _ in range(3)]
    assert store.upsert_batch(keys, [b"a", b"b", b"c"]) == 0
    assert store.upsert_batch(keys, [b"A", b"B", b"C"]) == 0
    assert store.get_batch(keys) == [b"A", b"B", b"C"]
    assert store.upsert_parts(key, b"x", b"y") == 0
    assert store.get(key) == b"xy"


def test_upsert_from_registered_buffers(store):
    buffer = np.frombuffer(b"0123456789abcdef", dtype=np.uint8).copy()
    assert store.register_buffer(buffer.ctypes.data, buffer.nbytes) == 0
    try:
        keys = [unique_key(), unique_key()]
        assert store.batch_put_from(keys, [buffer.ctypes.data] * 2, [4, 4]) == [0, 0]
        assert store.upsert_from(keys[0], buffer.ctypes.data + 4, 6) == 0
        assert store.batch_upsert_from(keys, [buffer.ctypes.data + 10] * 2, [6, 2]) == [0, 0]
        assert store.get_batch(keys) == [b"abcdef", b"ab"]
    finally:
        store.unregister_buffer(buffer.ctypes.data)


# ---- a connector-shaped workload --------------------------------------------------

PAGE = 4096
PAGES = 16


def run_connector_workload(store):
    """What a KV-cache connector does per request: probe which pages exist,
    write the missing ones from a registered host KV pool, read them back
    into another registered pool, one key per page."""
    pool = np.random.default_rng(7).integers(0, 256, PAGES * PAGE, dtype=np.uint8)
    back = np.zeros_like(pool)
    base, back_base = pool.ctypes.data, back.ctypes.data
    assert store.register_buffer(base, pool.nbytes) == 0
    assert store.register_buffer(back_base, back.nbytes) == 0
    try:
        prefix = unique_key("kv")
        keys = [f"{prefix}_{i}_k" for i in range(PAGES)]
        half = PAGES // 2
        assert store.batch_is_exist(keys) == [0] * PAGES
        # First half: one buffer per page; second half: each page as two parts.
        assert store.batch_put_from(keys[:half], [base + i * PAGE for i in range(half)],
                                    [PAGE] * half) == [0] * half
        parts = [[base + i * PAGE, base + i * PAGE + PAGE // 2] for i in range(half, PAGES)]
        assert store.batch_put_from_multi_buffers(keys[half:], parts,
                                                  [[PAGE // 2] * 2] * half) == [0] * half
        assert store.batch_is_exist(keys) == [1] * PAGES
        assert store.batch_get_into(keys[:half], [back_base + i * PAGE for i in range(half)],
                                    [PAGE] * half) == [PAGE] * half
        back_parts = [[back_base + i * PAGE, back_base + i * PAGE + PAGE // 2]
                      for i in range(half, PAGES)]
        assert store.batch_get_into_multi_buffers(keys[half:], back_parts,
                                                  [[PAGE // 2] * 2] * half,
                                                  prefer_alloc_in_same_node=True) == [PAGE] * half
        assert bytes(back) == bytes(pool)
    finally:
        store.unregister_buffer(back_base)
        store.unregister_buffer(base)


def test_connector_workload_embedded(master):
    store = MooncakeDistributedStore()
    assert store.setup(*positional(master), None) == 0
    try:
        run_connector_workload(store)
    finally:
        store.close()


def test_connector_workload_standalone(master_factory):
    binary = find_client_binary()
    if binary is None:
        pytest.fail("no mooncake_client binary to serve the dummy client")
    from test_dummy_client import StandaloneClient
    standalone = StandaloneClient(binary, master_factory()).start()
    store = MooncakeDistributedStore()
    try:
        assert store.setup_dummy(64 * MiB, 16 * MiB, standalone.address) == 0
        assert store.health_check() == 0
        run_connector_workload(store)
    finally:
        store.close()
        standalone.stop()


# ---- ReplicateConfig of the reference ------------------------------------------------

def test_replicate_config_new_fields():
    from mooncake.store import SoftPinAction
    config = ReplicateConfig()
    assert (config.preferred_segments, config.with_hard_pin, config.soft_pin_action,
            config.soft_pin_ttl_ms, config.group_ids) == ([], False, SoftPinAction.PRESERVE,
                                                          None, None)
    config = ReplicateConfig(preferred_segments=["a:1", "b:2"], with_hard_pin=True,
                             soft_pin_action=SoftPinAction.ENABLE, soft_pin_ttl_ms=5000,
                             group_ids=["g"])
    assert config.soft_pin_action == ReplicateConfig.SoftPinAction.ENABLE
    assert int(SoftPinAction.DISABLE) == 2
    import pickle
    assert pickle.loads(pickle.dumps(config)) == config
    assert config != ReplicateConfig()
    config.soft_pin_ttl_ms = None
    assert config.soft_pin_ttl_ms is None


def test_replicate_config_nvmeof_and_dfs_fields(store):
    import pickle
    config = ReplicateConfig()
    assert (config.nof_replica_num, config.dfs_replica_num, config.preferred_nof_segments) == (
        0, 0, [])
    config.preferred_nof_segments = ["nof:1"]
    assert pickle.loads(pickle.dumps(config)) == config
    assert store.put(unique_key(), b"x", config) == 0  # no such replica asked for
    for field in ("nof_replica_num", "dfs_replica_num"):
        asking = ReplicateConfig()
        setattr(asking, field, 1)
        key = unique_key()
        # This build has neither tier: refused, not stored with fewer copies.
        assert store.put(key, b"x", asking) == -600
        assert store.is_exist(key) == 0


def test_replicate_config_data_type_and_str():
    import pickle
    from mooncake import store as store_module
    from mooncake.store import ObjectDataType
    assert ReplicateConfig().data_type == ObjectDataType.UNKNOWN
    assert [int(getattr(store_module, name)) for name in
            ("UNKNOWN", "KVCACHE", "TENSOR", "WEIGHT", "SAMPLE", "ACTIVATION", "GRADIENT",
             "OPTIMIZER_STATE", "METADATA", "GENERAL")] == list(range(10))
    config = ReplicateConfig(replica_num=2, data_type=ObjectDataType.KVCACHE)
    assert config.data_type == store_module.KVCACHE
    assert pickle.loads(pickle.dumps(config)) == config
    assert config != ReplicateConfig(replica_num=2)
    text = str(config)
    assert text.startswith("ReplicateConfig: { replica_num: 2, ") and text.endswith(" }")


def test_group_ids_need_one_entry_per_key(store):
    keys = [unique_key("group") for _ in range(2)]
    assert store.put(keys[0], b"old") == 0
    one, two = ReplicateConfig(group_ids=["g"]), ReplicateConfig(group_ids=["g", ""])
    assert store.put(keys[1], b"v", two) == INVALID_PARAMS
    assert store.put_batch(keys, [b"a", b"b"], one) == INVALID_PARAMS
    assert store.batch_put_from(keys, [0, 0], [1, 1], one) == [INVALID_PARAMS] * 2
    # An upsert refused for its config leaves the old value alone.
    assert store.upsert(keys[0], b"new", two) == INVALID_PARAMS
    assert store.upsert_batch(keys, [b"a", b"b"], one) == INVALID_PARAMS
    assert store.get(keys[0]) == b"old" and not store.is_exist(keys[1])
    assert store.put(keys[1], b"v", one) == 0
    assert store.upsert_batch(keys, [b"A", b"B"], two) == 0
    assert [store.get(key) for key in keys] == [b"A", b"B"]


def test_soft_pin_ttl_rules_and_hard_pin_puts(store):
    from mooncake.store import SoftPinAction
    ttl_alone = ReplicateConfig(soft_pin_ttl_ms=1000)
    assert store.put(unique_key(), b"v", ttl_alone) == INVALID_PARAMS
    too_long = ReplicateConfig(soft_pin_action=SoftPinAction.ENABLE, soft_pin_ttl_ms=86400001)
    assert store.put(unique_key(), b"v", too_long) == INVALID_PARAMS
    fine = ReplicateConfig(soft_pin_action=SoftPinAction.ENABLE, soft_pin_ttl_ms=1000,
                           with_hard_pin=True)
    key = unique_key()
    assert store.put(key, b"pinned", fine) == 0
    assert store.get(key) == b"pinned"


def test_preferred_segments_are_tried_in_order(store_factory):
    stores = [store_factory() for _ in range(3)]
    names = [s.get_hostname() for s in stores]
    for _ in range(5):
        key = unique_key()
        config = ReplicateConfig(replica_num=2, preferred_segments=["nohost:1", names[2],
                                                                    names[1]])
        assert stores[0].put(key, b"placed", config) == 0
        endpoints = sorted(d.get_memory_descriptor().buffer_descriptor.transport_endpoint
                           for d in stores[0].get_replica_desc(key))
        assert endpoints == sorted(names[1:])


def test_upsert_parts_refuses_non_buffers_before_touching_the_value(store):
    import numpy as np
    key = unique_key("upsert-parts")
    assert store.put(key, b"old") == 0
    with pytest.raises(RuntimeError):
        store.upsert_parts(key, b"new", 5)
    with pytest.raises(RuntimeError):
        store.upsert_parts(key, np.zeros((2, 2), dtype=np.uint8))
    assert store.get(key) == b"old"


def test_upsert_with_a_config_a_put_refuses_keeps_the_old_value(store):
    from mooncake.store import SoftPinAction
    keys = [unique_key("upsert-config") for _ in range(2)]
    for key in keys:
        assert store.put(key, b"old") == 0
    ttl_without_pin = ReplicateConfig(soft_pin_ttl_ms=1000, soft_pin_action=SoftPinAction.PRESERVE)
    for config in (ttl_without_pin, ReplicateConfig(replica_num=0)):
        assert store.upsert(keys[0], b"new", config) == INVALID_PARAMS
        assert store.upsert_batch(keys, [b"a", b"b"], config) == INVALID_PARAMS
        assert store.batch_upsert_from(keys, [0, 0], [1, 1], config) == [INVALID_PARAMS] * 2
    assert [store.get(key) for key in keys] == [b"old", b"old"]
