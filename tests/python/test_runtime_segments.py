"""Issue 10, second part: segments added and removed at runtime
(mount_segment, allocate_and_mount_segment and their unmounts, also through
the REST service), the client HTTP server, and the tensor-parallel upserts.
Real master, real stores; bytes are checked where they land."""

import json
import mmap
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from conftest import MiB, setup_args
from mooncake.store import ErrorCode, MooncakeDistributedStore
from mooncake_testing import free_port, unique_key, wait_until
from test_python_modules import request, start_rest_service, stop_process

ID = re.compile(r"^\d+-\d+$")


def fetch(url):
    """(status, body bytes) of a GET; status None when nothing listens."""
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except OSError:
        return None, b""


def capacity_at_master(master, name):
    """Capacity the master counts for segment `name` (0 when none)."""
    status, body = fetch(f"http://127.0.0.1:{master.metrics_port}/query_segment?segment="
                         + urllib.parse.quote(name))
    if status != 200:
        return 0
    return int(re.search(rb"Capacity\(bytes\) : (\d+)", body).group(1))


@pytest.fixture
def shm_file():
    """make(size) -> (name, path) of a fresh /dev/shm file, removed afterwards."""
    made = []

    def make(size):
        name = f"mc_test_{uuid.uuid4().hex}"
        path = os.path.join("/dev/shm", name)
        with open(path, "wb") as file:
            file.truncate(size)
        made.append(path)
        return name, path

    yield make
    for path in made:
        if os.path.exists(path):
            os.unlink(path)


# ---- allocate_and_mount_segment ---------------------------------------------

def test_allocated_segment_holds_data_until_unmounted(master_factory, remote_factory):
    master = master_factory()
    store = MooncakeDistributedStore()
    assert store.setup(**setup_args(master, global_segment_size=0)) == 0
    try:
        name = store.get_hostname()
        key = unique_key()
        assert store.put(key, b"nowhere") != 0  # the pool is empty
        reply = store.allocate_and_mount_segment(20 * MiB)
        assert reply["ret"] == 0 and reply["allocated_size"] == 32 * MiB
        assert len(reply["segment_ids"]) == 1 and ID.match(reply["segment_ids"][0])
        assert capacity_at_master(master, name) == 32 * MiB
        value = os.urandom(3 * MiB)
        assert store.put(key, value) == 0
        assert store.get(key) == value
        reader = remote_factory(on_master=master, global_segment_size=0)
        assert reader.get(key) == value  # another process reads the new segment
        # Ids of another kind, unknown or unparsable ones are -1.
        assert store.unmount_segment(reply["segment_ids"]) == -1
        assert store.unmount_and_free_segment(["1-2", "junk"]) == -1
        assert store.get(key) == value
        assert store.unmount_and_free_segment(reply["segment_ids"]) == 0
        assert capacity_at_master(master, name) == 0
        assert store.get(key) == b""  # its only replica went with the segment
        assert store.put(key, b"nowhere") != 0
        assert store.unmount_and_free_segment(reply["segment_ids"]) == -1  # gone already
    finally:
        store.close()


def test_allocate_refusals(master):
    idle = MooncakeDistributedStore()
    assert idle.allocate_and_mount_segment(16 * MiB) == {
        "ret": -1, "segment_ids": [], "allocated_size": 0}
    assert idle.unmount_and_free_segment(["1-2"]) == -1
    assert idle.mount_segment("/dev/shm/x", MiB)["ret"] == -1
    store = MooncakeDistributedStore()
    assert store.setup(**setup_args(master)) == 0
    try:
        assert store.allocate_and_mount_segment(0)["ret"] == -1
        assert store.unmount_and_free_segment([]) == 0
    finally:
        store.close()


# ---- mount_segment ------------------------------------------------------------

def test_file_segment_stores_values_in_the_file(master_factory, shm_file, remote_factory):
    master = master_factory()
    name, path = shm_file(32 * MiB)
    store = MooncakeDistributedStore()
    assert store.setup(**setup_args(master, global_segment_size=0)) == 0
    try:
        reply = store.mount_segment(path, 16 * MiB, offset=mmap.PAGESIZE * 4)
        assert reply["ret"] == 0 and len(reply["segment_ids"]) == 1
        assert capacity_at_master(master, store.get_hostname()) == 16 * MiB
        value = b"in the file " + os.urandom(64 * 1024)
        key = unique_key()
        assert store.put(key, value) == 0
        with open(path, "rb") as file:
            content = file.read()
        position = content.find(value)
        assert position >= mmap.PAGESIZE * 4, "the value is not in the mounted range"
        assert store.get(key) == value
        # A peer reads it too (over TCP: the mapping is no engine shared memory).
        reader = remote_factory(on_master=master, global_segment_size=0)
        assert reader.get(key) == value
        assert store.unmount_and_free_segment(reply["segment_ids"]) == -1  # wrong kind
        assert store.unmount_segment(reply["segment_ids"]) == 0
        assert store.get(key) == b""
        assert store.unmount_segment(reply["segment_ids"][0]) == -1  # a str works too
    finally:
        store.close()


def test_file_segment_refusals(master, shm_file):
    _, path = shm_file(4 * MiB)
    store = MooncakeDistributedStore()
    assert store.setup(**setup_args(master)) == 0
    try:
        for args in [(path, 8 * MiB), (path, MiB, 1), (path, 0), (path, MiB, 4 * MiB),
                     ("/dev/shm/does-not-exist-" + uuid.uuid4().hex, MiB), ("", MiB)]:
            assert store.mount_segment(*args) == {"ret": -1, "segment_ids": []}, args
    finally:
        store.close()


def segment_status(master, segment_id):
    url = f"http://127.0.0.1:{master.metrics_port}/get_segments_detail"
    with urllib.request.urlopen(url, timeout=10) as reply:
        detail = json.loads(reply.read())
    return {s["segment_id"]: s["status"] for s in detail["segments"]}.get(segment_id)


def test_unmount_with_grace_period_keeps_data_readable_then_drops_it(master, store, shm_file):
    _, path = shm_file(16 * MiB)
    reply = store.mount_segment(path, 16 * MiB)
    assert reply["ret"] == 0
    # The store's own 64 MiB segment gets values too (placement spreads them
    # by free space): put until some landed in the file.
    keys, values, in_file = [], {}, []
    while not in_file and len(keys) < 64:
        key = unique_key()
        keys.append(key)
        values[key] = os.urandom(MiB // 2)
        assert store.put(key, values[key]) == 0
        with open(path, "rb") as file:
            content = file.read()
        in_file = [k for k in keys if content.find(values[k][:4096]) >= 0]
    assert in_file, "no value was placed in the mounted segment"
    start = time.monotonic()
    assert store.unmount_segment(reply["segment_ids"], grace_period_seconds=2) == 0
    assert store.unmount_segment(reply["segment_ids"]) == -1  # already leaving
    assert store.get(in_file[0]) == values[in_file[0]]  # still readable
    # The master shows it leaving and places nothing new in it meanwhile.
    assert segment_status(master, reply["segment_ids"][0]) == "GRACEFULLY_UNMOUNTING"
    later = {unique_key(): os.urandom(MiB // 2) for _ in range(8)}
    for key, value in later.items():
        assert store.put(key, value) == 0
    with open(path, "rb") as file:
        content = file.read()
    assert not [k for k, v in later.items() if content.find(v[:4096]) >= 0], \
        "a put during the grace period landed in the leaving segment"
    wait_until(lambda: store.get(in_file[0]) == b"", deadline_s=10, what="unmount after grace")
    assert time.monotonic() - start >= 1.5
    assert segment_status(master, reply["segment_ids"][0]) is None
    kept = [key for key in keys if key not in in_file] + list(later)
    values.update(later)
    for key in kept:
        assert store.get(key) == values[key]


def test_close_releases_runtime_segments(master_factory, shm_file):
    master = master_factory()
    _, path = shm_file(16 * MiB)
    store = MooncakeDistributedStore()
    assert store.setup(**setup_args(master, global_segment_size=0)) == 0
    name = store.get_hostname()
    assert store.mount_segment(path, 16 * MiB)["ret"] == 0
    assert store.allocate_and_mount_segment(MiB)["ret"] == 0
    assert store.unmount_segment(store.mount_segment(path, 4 * MiB)["segment_ids"], 30) == 0
    assert capacity_at_master(master, name) == 32 * MiB + 4 * MiB
    store.close()
    assert capacity_at_master(master, name) == 0


# ---- the REST service's segment routes --------------------------------------

def test_rest_service_segment_routes(master, shm_file):
    pytest.importorskip("aiohttp")
    service, base = start_rest_service(master, "0")
    shm_name, _ = shm_file(16 * MiB)
    try:
        status, body = request("POST", base + "/mount", {"size": 16 * MiB})
        assert status == 200, body
        mounted = json.loads(body)
        assert mounted["allocated_size"] == 16 * MiB and len(mounted["segment_ids"]) == 1
        assert request("PUT", base + "/put", {"key": "rest-k", "value": "v" * 1000})[0] == 200
        assert request("GET", base + "/get/rest-k") == (200, b"v" * 1000)
        assert request("POST", base + "/unmount", {"segment_ids": mounted["segment_ids"]}) == (
            200, b'{"status": "success"}')
        status, body = request("POST", base + "/unmount", {"segment_ids": ["9-9"]})
        assert status == 500 and b"ret=-1" in body
        status, body = request("POST", base + "/mount_shm", {"name": shm_name,
                                                             "size": 16 * MiB})
        assert status == 200, body
        shm_ids = json.loads(body)["segment_ids"]
        assert request("POST", base + "/mount_shm", {"name": "../etc", "size": MiB})[0] == 400
        status, body = request("POST", base + "/mount_shm", {"name": "nope-" + shm_name,
                                                             "size": MiB})
        assert status == 500 and b"ret=-1" in body
        assert request("POST", base + "/unmount_shm", {"segment_ids": shm_ids})[0] == 200
        status, body = request("POST", base + "/unmount_shm", {"segment_ids": shm_ids})
        assert status == 500 and json.loads(body)["failed_segment_ids"] == shm_ids
        # decode mounts the file, prefill gives it back.
        _, path = shm_file(16 * MiB)
        status, body = request("POST", base + "/reconfigure", {"mode": "Decode", "path": path,
                                                               "size": 16 * MiB})
        assert status == 200, body
        decode = json.loads(body)
        assert decode["mode"] == "decode" and len(decode["segment_ids"]) == 1
        assert request("POST", base + "/reconfigure", {"mode": "prefill"}) == (
            200, b'{"status": "success", "mode": "prefill"}')
        assert request("POST", base + "/unmount_shm",
                       {"segment_ids": decode["segment_ids"]})[0] == 500  # gone already
    finally:
        stop_process(service)


# ---- client HTTP server -------------------------------------------------------

def test_client_http_server(master_factory):
    master = master_factory()
    port = free_port()
    store = MooncakeDistributedStore()
    assert store.setup(**setup_args(master), enable_client_http_server=True,
                       client_http_port=port) == 0
    base = f"http://127.0.0.1:{port}"
    try:
        status, body = fetch(base + "/health")
        assert (status, json.loads(body)) == (200, {"status": "healthy", "code": 0})
        status, body = fetch(base + "/metrics")
        assert status == 200
        assert re.search(rb"^mooncake_client_segment_bytes 67108864$", body, re.M), body
        assert store.allocate_and_mount_segment(MiB)["ret"] == 0
        status, body = fetch(base + "/metrics")
        assert re.search(rb"^mooncake_client_runtime_segment_bytes 16777216$", body, re.M)
        status, body = fetch(base + "/metrics/summary")
        assert status == 200 and body.count(b"\n") == 1
        assert b"mooncake_client_runtime_segments=1" in body
        assert fetch(base + "/nothing")[0] == 404
        # A second store asking for the same port still sets up.
        other = MooncakeDistributedStore()
        assert other.setup(**setup_args(master), enable_client_http_server=True,
                           client_http_port=port) == 0
        other.close()
        master.stop()
        status, body = fetch(base + "/health")
        assert (status, json.loads(body)) == (503, {"status": "master_unreachable", "code": 2})
    finally:
        store.close()
    assert fetch(base + "/health")[0] is None  # gone with the store


def test_client_http_server_in_setup_dict(master):
    port = free_port()
    args = setup_args(master)
    args.update(enable_client_http_server="yes", client_http_port=str(port))
    store = MooncakeDistributedStore()
    assert store.setup(args) == 0
    try:
        assert fetch(f"http://127.0.0.1:{port}/health")[0] == 200
    finally:
        store.close()


# ---- tensor-parallel upserts ----------------------------------------------------

def test_upsert_tensor_with_parallelism(store):
    torch = pytest.importorskip("torch")
    key = unique_key()
    first = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    # No parallelism: the whole tensor, replaced by a second upsert.
    assert store.upsert_tensor_with_parallelism(key, first) == 0
    assert store.upsert_tensor_with_parallelism(key, first * 2) == 0
    assert torch.equal(store.get_tensor(key), first * 2)
    # Each rank replaces its own shard, read back by the *_with_tp getters.
    tp_key = unique_key()
    for rank in range(2):
        assert store.upsert_tensor_with_parallelism(
            tp_key, first + rank, parallelism={"tp_size": 2, "split_dim": 1},
            writer_partition=rank) == 0
    for rank in range(2):
        shard = store.get_tensor_with_tp(tp_key, tp_rank=rank, tp_size=2)
        assert torch.equal(shard, torch.tensor_split(first + rank, 2, dim=1)[rank])
    assert store.is_exist(tp_key) == 0
    with pytest.raises(ValueError):
        store.upsert_tensor_with_parallelism(tp_key, first, parallelism=2, writer_partition=2)
    codes = store.batch_upsert_tensor_with_parallelism(
        [key, tp_key], [first, first * 3], parallelisms=[None, 2], writer_partitions=[None, 0])
    assert codes == [0, 0]
    assert torch.equal(store.get_tensor(key), first)
    assert torch.equal(store.get_tensor_with_tp(tp_key, tp_rank=0, tp_size=2), (first * 3)[:2])


def test_upsert_tensor_with_parallelism_from(store):
    torch = pytest.importorskip("torch")
    source = unique_key()
    tensor = torch.ones(256, dtype=torch.int32)
    assert store.put_tensor(source, tensor) == 0
    size = store.get_size(source)
    buffer = store.alloc_from_mem_pool(size) if hasattr(store, "alloc_from_mem_pool") else None
    if buffer is None:
        pytest.skip("no registered memory helper")
    assert store.get_into(source, buffer, size) == size
    key = unique_key()
    assert store.upsert_tensor_with_parallelism_from(key, buffer, size, parallelism=4,
                                                     writer_partition=3) == 0
    assert torch.equal(store.get_tensor_with_tp(key, tp_rank=3, tp_size=4), tensor)
    invalid = int(ErrorCode.INVALID_PARAMS)
    assert store.upsert_tensor_with_parallelism_from(key, buffer, size, parallelism=4) == invalid
    assert store.batch_upsert_tensor_with_parallelism_from(
        [key, key], [buffer, buffer], [size, size], parallelisms=[None, 4],
        writer_partitions=[None, None]) == [0, invalid]
    assert torch.equal(store.get_tensor(key), tensor)


# ---- batch_replica_clear ------------------------------------------------------

def endpoints_of(store, key):
    return sorted(r.get_memory_descriptor().buffer_descriptor.transport_endpoint
                  for r in store.get_replica_desc(key))


def test_batch_replica_clear(master_factory):
    from mooncake.store import ReplicateConfig
    master = master_factory(["--default_kv_lease_ttl=300"])
    writer, other = MooncakeDistributedStore(), MooncakeDistributedStore()
    assert MooncakeDistributedStore().batch_replica_clear(["k"]) == []  # not set up
    for store in (writer, other):
        assert store.setup(**setup_args(master)) == 0
    try:
        mine, theirs, read = unique_key(), unique_key(), unique_key()
        assert writer.put(mine, b"mine") == 0
        assert other.put(theirs, b"theirs") == 0
        assert writer.put(read, b"read") == 0
        assert writer.get(read) == b"read"  # leased for 300 ms
        assert writer.batch_replica_clear([mine, theirs, read, unique_key()]) == [mine]
        assert writer.is_exist(mine) == 0 and other.get(theirs) == b"theirs"
        wait_until(lambda: writer.batch_replica_clear([read]) == [read], deadline_s=5,
                   what="lease end")
        assert writer.is_exist(read) == 0
        # One segment's replicas only; the object goes with its last replica.
        twice = unique_key()
        assert writer.put(twice, b"twice", ReplicateConfig(replica_num=2)) == 0
        names = sorted([writer.get_hostname(), other.get_hostname()])
        assert endpoints_of(writer, twice) == names
        assert writer.batch_replica_clear([twice], "nohost:1") == []
        # get_replica_desc leased it for 300 ms: not cleared until that ends.
        assert writer.batch_replica_clear([twice], other.get_hostname()) == []
        time.sleep(0.4)
        assert writer.batch_replica_clear([twice], other.get_hostname()) == [twice]
        assert endpoints_of(writer, twice) == [writer.get_hostname()]
        assert other.get(twice) == b"twice"
        time.sleep(0.4)  # the reads above leased it
        assert writer.batch_replica_clear([twice], other.get_hostname()) == []  # none there
        assert writer.batch_replica_clear([twice], writer.get_hostname()) == [twice]
        assert writer.is_exist(twice) == 0
    finally:
        writer.close()
        other.close()
