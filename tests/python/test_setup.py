"""setup() in its positional, keyword and dict forms; init_all; setup_dummy;
calls on a store that is not set up; close and set up again."""

import os
import re
import subprocess
import sys

import pytest

from conftest import MiB, setup_args
from mooncake.store import ErrorCode, MooncakeDistributedStore
from mooncake_testing import free_port, unique_key

NOT_SET_UP = ErrorCode.UNAVAILABLE_IN_CURRENT_STATUS


def test_positional_setup_and_hostname(master):
    store = MooncakeDistributedStore()
    try:
        assert store.setup("localhost", master.metadata_url, 16 * MiB, 16 * MiB, "tcp", "",
                           master.rpc_address) == 0
        hostname = store.get_hostname()
        # The host exactly as given, then the transfer-engine port.
        assert re.fullmatch(r"localhost:\d+", hostname), hostname
        assert 1 <= int(hostname.split(":")[1]) <= 65535
    finally:
        assert store.close() == 0


def test_keyword_setup_with_defaults(master):
    store = MooncakeDistributedStore()
    try:
        assert store.setup(local_hostname="127.0.0.1", metadata_server=master.metadata_url,
                           local_buffer_size=16 * MiB,
                           master_server_addr=master.rpc_address) == 0
        assert store.get_hostname().startswith("127.0.0.1:")
    finally:
        store.close()


def test_setup_wrong_keyword_raises_type_error(master):
    store = MooncakeDistributedStore()
    with pytest.raises(TypeError):
        store.setup(local_hostname="127.0.0.1", metadata_server=master.metadata_url,
                    master_address=master.rpc_address)
    assert store.get_hostname() == ""


@pytest.mark.parametrize("segment, buffer", [("16MB", "16 MB"), ("16 MB", "8MB"),
                                             (16 * MiB, "32 MiB")])
def test_dict_setup_accepts_human_readable_sizes(master, segment, buffer):
    store = MooncakeDistributedStore()
    config = {
        "local_hostname": "127.0.0.1",
        "metadata_server": master.metadata_url,
        "global_segment_size": segment,
        "local_buffer_size": buffer,
        "protocol": "tcp",
        "rdma_devices": "",
        "master_server_addr": master.rpc_address,
    }
    try:
        assert store.setup(config) == 0
        key = unique_key()
        assert store.put(key, b"sized") == 0
        assert store.get(key) == b"sized"
    finally:
        store.close()


@pytest.mark.parametrize("field, value", [
    ("global_segment_size", "50%"),
    ("local_buffer_size", "50%"),
    ("global_segment_size", "-1MB"),
    ("global_segment_size", "16 parsecs"),
    ("local_buffer_size", -1),
    ("local_buffer_size", 1.5),
])
def test_bad_sizes_are_refused(master, field, value):
    store = MooncakeDistributedStore()
    config = setup_args(master)
    config[field] = value
    assert store.setup(config) == ErrorCode.INVALID_PARAMS
    assert store.get_hostname() == ""
    # The positional form refuses them too.
    assert store.setup(**config) == ErrorCode.INVALID_PARAMS
    assert store.get_hostname() == ""


def test_dict_setup_refuses_missing_required_and_bad_values(master):
    store = MooncakeDistributedStore()
    config = setup_args(master)
    del config["metadata_server"]
    assert store.setup(config) == ErrorCode.INVALID_PARAMS
    config = setup_args(master)
    config["protocol"] = 7  # read as "7": not a protocol
    assert store.setup(config) < 0
    config = setup_args(master)
    config["global_segment_size"] = "50%"
    assert store.setup(config) == ErrorCode.INVALID_PARAMS
    # Sizes are 0 or at least 1 KiB (interfaces.md §2.2).
    for field in ("global_segment_size", "local_buffer_size"):
        config = setup_args(master)
        config[field] = "512"
        assert store.setup(config) == ErrorCode.INVALID_PARAMS, field
    assert store.get_hostname() == ""


@pytest.mark.parametrize("added, renamed", [
    # As the reference does: tools pass keys of newer versions.
    ({"no_such_option": 1}, {}),
    # Aliases: MooncakeConfig's names for two of the keys.
    ({}, {"master_server_addr": "master_server_address", "rdma_devices": "device_name"}),
], ids=["ignores_unknown_keys", "accepts_alias_keys"])
def test_dict_setup_takes_keys_beyond_its_own(master, added, renamed):
    config = setup_args(master)
    for name, alias in renamed.items():
        config[alias] = config.pop(name)
    config.update(added)
    store = MooncakeDistributedStore()
    try:
        assert store.setup(config) == 0
    finally:
        store.close()


def test_setup_with_unreachable_master_fails_cleanly(master):
    store = MooncakeDistributedStore()
    from mooncake_testing import free_port
    code = store.setup(**setup_args(master, master_server_addr=f"127.0.0.1:{free_port()}"))
    assert code < 0
    assert store.get_hostname() == ""
    assert store.put(unique_key(), b"x") == NOT_SET_UP


@pytest.mark.parametrize("address, code", [
    ("redis://127.0.0.1:6379", ErrorCode.UNAVAILABLE_IN_CURRENT_MODE),  # backend not built
    ("k8s://default/mooncake-leader", ErrorCode.UNAVAILABLE_IN_CURRENT_MODE),
    ("zk://127.0.0.1:2181", ErrorCode.INVALID_PARAMS),
])
def test_master_address_forms_of_other_ha_backends(master, address, code):
    store = MooncakeDistributedStore()
    assert store.setup(**setup_args(master, master_server_addr=address)) == code
    assert store.get_hostname() == ""


def test_setup_with_unknown_protocol_fails(master):
    store = MooncakeDistributedStore()
    assert store.setup(**setup_args(master, protocol="carrier-pigeon")) < 0
    assert store.get_hostname() == ""


def test_rpc_only_store_makes_master_calls_only(master, store, store_factory):
    """protocol="rpc_only": no transfer engine; what needs only the master
    works, what moves bytes fails cleanly."""
    key = unique_key("rpc-only")
    unread = unique_key("rpc-only-unread")
    assert store.put(key, b"v" * 100) == 0
    assert store.put(unread, b"u") == 0
    admin = store_factory(protocol="rpc_only")
    assert admin.get_hostname() == "127.0.0.1"
    assert admin.is_exist(key) == 1
    assert admin.get_size(key) == 100
    replicas = admin.get_replica_desc(key)
    assert len(replicas) == 1 and replicas[0].is_memory_replica()
    assert admin.put(unique_key("rpc-only-put"), b"x" * 10) == \
        ErrorCode.UNAVAILABLE_IN_CURRENT_MODE.value
    assert admin.get(key) == b""
    buffer = bytearray(4096)
    import ctypes
    address = ctypes.addressof((ctypes.c_char * len(buffer)).from_buffer(buffer))
    assert admin.register_buffer(address, len(buffer)) < 0
    # (key is leased by the reads above; a key nobody read goes at once.)
    assert admin.remove(unread) == 0
    assert store.is_exist(unread) == 0
    admin.close()
    assert store.get(key) == b"v" * 100  # the other store carries on


def test_second_setup_is_refused_until_close(store, master):
    hostname = store.get_hostname()
    assert store.setup(**setup_args(master)) == NOT_SET_UP
    assert store.get_hostname() == hostname


def test_calls_before_setup_return_codes_not_crashes():
    store = MooncakeDistributedStore()
    key = unique_key()
    assert store.get_hostname() == ""
    assert store.put(key, b"v") == NOT_SET_UP
    assert store.put_parts(key, b"a", b"b") == NOT_SET_UP
    assert store.put_batch([key], [b"v"]) == NOT_SET_UP
    assert store.get(key) == b""
    assert store.get_batch([key, key]) == [b"", b""]
    assert store.get_buffer(key) is None
    assert store.batch_get_buffer([key]) == [None]
    # Existence checks report any error as -1 (the spec's convention).
    assert store.is_exist(key) == -1
    assert store.batch_is_exist([key]) == [-1]
    assert store.get_size(key) == NOT_SET_UP
    # The remove and upsert families answer INVALID_PARAMS (interfaces.md §7.1, §7.2).
    assert store.remove(key) == ErrorCode.INVALID_PARAMS
    assert store.batch_remove([key]) == [ErrorCode.INVALID_PARAMS]
    assert store.remove_by_regex(".*") == ErrorCode.INVALID_PARAMS
    assert store.upsert(key, b"v") == ErrorCode.INVALID_PARAMS
    assert store.remove_all() == ErrorCode.INVALID_PARAMS
    assert store.register_buffer(4096, 4096) == NOT_SET_UP
    assert store.unregister_buffer(4096) == NOT_SET_UP
    assert store.put_from(key, 4096, 16) == NOT_SET_UP
    assert store.get_into(key, 4096, 16) == NOT_SET_UP
    assert store.batch_put_from([key], [4096], [16]) == [NOT_SET_UP]
    assert store.batch_get_into([key], [4096], [16]) == [NOT_SET_UP]
    assert store.batch_put_from_multi_buffers([key], [[4096]], [[16]]) == [NOT_SET_UP]
    assert store.batch_get_into_multi_buffers([key], [[4096]], [[16]]) == [NOT_SET_UP]
    assert store.put_from_with_metadata(key, 4096, 8192, 16, 16) == NOT_SET_UP
    assert store.alloc_from_mem_pool(4096) == 0
    assert store.get_replica_desc(key) == []
    assert store.batch_get_replica_desc([key]) == {key: []}
    assert store.create_copy_task(key, ["x:1"]) == ((0, 0), NOT_SET_UP)
    assert store.create_move_task(key, "x:1", "y:2") == ((0, 0), NOT_SET_UP)
    assert store.query_task((1, 2)) == (None, NOT_SET_UP)
    assert store.close() == 0


def test_close_then_calls_return_codes_and_setup_again_works(store_factory, master):
    store = store_factory()
    key = unique_key()
    assert store.put(key, b"before") == 0
    assert store.close() == 0
    assert store.close() == 0  # idempotent
    assert store.get(key) == b""
    assert store.put(key, b"x") == NOT_SET_UP
    assert store.get_hostname() == ""
    assert store.setup(**setup_args(master)) == 0
    other = unique_key()
    assert store.put(other, b"after") == 0
    assert store.get(other) == b"after"


def test_setup_dummy_without_a_standalone_client_fails():
    # Dummy clients at work: test_dummy_client.py. Here nothing listens.
    store = MooncakeDistributedStore()
    assert store.setup_dummy(256 * MiB, 64 * MiB, f"127.0.0.1:{free_port()}") == \
        ErrorCode.RPC_FAIL
    assert store.setup_dummy(mem_pool_size=1, local_buffer_size=1,
                             server_address="127.0.0.1:1") == ErrorCode.RPC_FAIL
    assert store.get_hostname() == ""


INIT_ALL_SCRIPT = """
import sys
from mooncake.store import MooncakeDistributedStore
store = MooncakeDistributedStore()
code = store.init_all("tcp", "", 16 * 1024 * 1024)
print("code", code)
print("hostname", store.get_hostname())
print("roundtrip", store.put("init-all-key", b"v") == 0 and store.get("init-all-key") == b"v")
store.close()
"""


def test_init_all_uses_environment_overrides(master):
    env = dict(os.environ)
    env.update({
        "MOONCAKE_MASTER": master.rpc_address,
        "MOONCAKE_TE_META_DATA_SERVER": master.metadata_url,
        "MOONCAKE_LOCAL_BUFFER_SIZE": "16MB",
    })
    env.pop("MOONCAKE_LOCAL_HOSTNAME", None)
    finished = subprocess.run([sys.executable, "-c", INIT_ALL_SCRIPT], env=env,
                              capture_output=True, text=True, timeout=120)
    assert "code 0" in finished.stdout, finished.stdout + finished.stderr
    assert re.search(r"hostname localhost:\d+", finished.stdout)
    assert "roundtrip True" in finished.stdout


def test_init_all_without_master_fails_cleanly(master):
    from mooncake_testing import free_port
    env = dict(os.environ)
    env["MOONCAKE_MASTER"] = f"127.0.0.1:{free_port()}"
    env["MOONCAKE_LOCAL_BUFFER_SIZE"] = "16MB"
    finished = subprocess.run([sys.executable, "-c", INIT_ALL_SCRIPT], env=env,
                              capture_output=True, text=True, timeout=120)
    match = re.search(r"code (-?\d+)", finished.stdout)
    assert match and int(match.group(1)) < 0, finished.stdout + finished.stderr


def test_many_stores_in_one_process(store_factory):
    stores = [store_factory() for _ in range(3)]
    hostnames = {store.get_hostname() for store in stores}
    assert len(hostnames) == 3
    key = unique_key()
    assert stores[0].put(key, b"shared") == 0
    for store in stores:
        assert store.get(key) == b"shared"


def _metadata(master, key):
    import urllib.error
    import urllib.parse
    import urllib.request
    url = f"{master.metadata_url}?key={urllib.parse.quote(key, safe='')}"
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.read()
    except urllib.error.HTTPError as error:
        assert error.code == 404, error
        return None


def test_segment_metadata_uses_the_reference_key_layout(master):
    """mooncake/ram/<segment> and mooncake/rpc_meta/<segment> while set up
    (interfaces.md §9.2), both gone after close; MC_METADATA_CLUSTER_ID adds
    its id to the prefix."""
    import json
    from mooncake_testing import RemoteStore
    for env, prefix in (({}, "mooncake"), ({"MC_METADATA_CLUSTER_ID": "cx"}, "mooncake/cx")):
        worker = RemoteStore(env=env)
        try:
            assert worker.setup(**setup_args(master)) == 0
            name = worker.get_hostname()
            assert _metadata(master, f"{prefix}/ram/{name}") is not None
            meta = json.loads(_metadata(master, f"{prefix}/rpc_meta/{name}"))
            assert meta["rpc_port"] > 0 and meta["ip_or_host_name"]
            worker.close()
            assert _metadata(master, f"{prefix}/ram/{name}") is None
            assert _metadata(master, f"{prefix}/rpc_meta/{name}") is None
        finally:
            worker.stop()


REASONS_SCRIPT = """
import ctypes
import sys
import time
from mooncake.store import MooncakeDistributedStore
master, metadata = sys.argv[1], sys.argv[2]
bad = MooncakeDistributedStore()
print("bad setup", bad.setup("127.0.0.1", metadata, 16 << 20, 16 << 20, "carrier-pigeon", "",
                             master))
store = MooncakeDistributedStore()
print("setup", store.setup("127.0.0.1", metadata, 16 << 20, 16 << 20, "tcp", "", master))
print("empty key", store.put("", b"v"))
time.sleep(1.2)  # the binding logs at most one reason a second
small = ctypes.create_string_buffer(10)
store.register_buffer(ctypes.addressof(small), 10)
store.put("reasons-key", b"x" * 100)
print("small buffer", store.get_into("reasons-key", ctypes.addressof(small), 10))
store.close()
"""


def test_failures_say_why_in_the_log(master):
    # Python gets only the codes; the reasons the failing sites gave go to
    # the log, each once.
    finished = subprocess.run(
        [sys.executable, "-c", REASONS_SCRIPT, master.rpc_address, master.metadata_url],
        capture_output=True, text=True, timeout=120)
    assert f"bad setup {int(ErrorCode.INVALID_PARAMS)}" in finished.stdout, finished.stderr
    assert "setup 0" in finished.stdout, finished.stderr
    assert f"empty key {int(ErrorCode.INVALID_KEY)}" in finished.stdout, finished.stderr
    refused = "client config refused: protocol='carrier-pigeon' must be 'tcp', 'rdma' or 'rpc_only'"
    assert finished.stderr.count(refused) == 1, finished.stderr
    assert finished.stderr.count("INVALID_KEY (-400): the key is empty") == 1, finished.stderr
    assert f"small buffer {int(ErrorCode.INVALID_PARAMS)}" in finished.stdout, finished.stderr
    assert "a buffer of 10 bytes for a value of 100" in finished.stderr, finished.stderr
