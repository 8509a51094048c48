"""SSD offload (docs/ssd_offload.md) with real processes: a master with
--enable_offload and stores with setup(enable_ssd_offload=True,
ssd_offload_path=...). Values outgrow the 64 MiB memory segment and must all
stay readable, byte for byte, from the disk tier; a damaged file is an error,
never wrong bytes."""

import glob
import os
import subprocess
import time
import urllib.request

import numpy as np
import pytest

from conftest import MiB, set_up, setup_args
from mooncake_testing import RemoteStore, free_port, unique_key, wait_until

# Short leases and a 1 s offload heartbeat keep the test fast.
MASTER_ARGS = ["--enable_offload=true", "--default_kv_lease_ttl=200"]
OFFLOAD_ENV = {
    "MOONCAKE_OFFLOAD_HEARTBEAT_INTERVAL_SECONDS": "1",
    "MOONCAKE_OFFLOAD_LOCAL_BUFFER_SIZE_BYTES": str(64 * MiB),
}
VALUE = 4 * MiB


def value_of(key, size=VALUE):
    seed = abs(hash(key)) % (2**32)
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def offload_store(master, path, env=None, **overrides):
    worker = RemoteStore(env=dict(OFFLOAD_ENV, **(env or {})))
    set_up(worker, master, enable_ssd_offload=True, ssd_offload_path=str(path), **overrides)
    return worker


def put_with_retry(store, key, value, deadline_s=30):
    """Memory full of objects still waiting for their disk copy: the put is
    refused cleanly and goes through once they are offloaded."""
    deadline = time.monotonic() + deadline_s
    while True:
        code = store.put(key, value)
        if code == 0:
            return
        assert time.monotonic() < deadline, f"put of {key} kept failing with {code}"
        time.sleep(0.05)


def put_values(store, prefix, count, size=VALUE):
    """Puts `count` fresh keys with their values; returns the keys."""
    keys = [unique_key(prefix) for _ in range(count)]
    for key in keys:
        put_with_retry(store, key, value_of(key, size))
    return keys


def put_on_disk(store, prefix, count=1, size=VALUE):
    """put_values, then waits until every one of them has its disk copy."""
    keys = put_values(store, prefix, count, size)
    wait_until(lambda: all(on_disk(store, key) for key in keys), what="disk copies")
    return keys


def on_disk(store, key):
    return any(d["local_disk"] for d in store.get_replica_desc(key))


def has_memory(store, key):
    return any(d["memory"] is not None for d in store.get_replica_desc(key))


GET_INTO = """
import ctypes
size = args["size"]
buffer = (ctypes.c_ubyte * size)()
address = ctypes.addressof(buffer)
assert store.register_buffer(address, size) == 0
read = store.get_into(args["key"], address, size)
result = (read, bytes(buffer)[:max(read, 0)])
store.unregister_buffer(address)
"""


def check_all_readable(store, keys):
    for key in keys:
        assert store.get(key) == value_of(key), key
    # Zero-copy reads of a few of them (evicted ones included).
    for key in keys[:: max(1, len(keys) // 6)]:
        read, data = store.run(GET_INTO, key=key, size=VALUE)
        assert read == VALUE and data == value_of(key), key


def client_metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return {line.split(" ")[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


@pytest.mark.parametrize("on_evict,io", [(False, "pread"), (True, "pread"), (True, "io_uring")],
                         ids=["eager", "on_evict", "on_evict_io_uring"])
def test_values_beyond_memory_stay_readable_from_disk(master_factory, tmp_path, on_evict, io):
    master = master_factory(MASTER_ARGS + [f"--offload_on_evict={str(on_evict).lower()}"])
    http_port = free_port()
    with offload_store(master, tmp_path,
                       env={"MOONCAKE_OFFLOAD_USE_URING": str(io == "io_uring").lower()},
                       enable_client_http_server=True, client_http_port=http_port) as store:
        keys = put_values(store, "ssd", 128 if not on_evict else 48)  # 512 / 192 MiB
        evicted = [key for key in keys if not has_memory(store, key)]
        assert evicted, "nothing was evicted: the test does not test the disk tier"
        assert all(on_disk(store, key) for key in evicted)
        check_all_readable(store, keys)
        files = glob.glob(os.path.join(tmp_path, "file_per_key_dir", "*", "*.mco"))
        assert len(files) >= len(evicted)
        metrics = master.metrics()
        assert "mooncake_master_offload_queued_total" in metrics
        # The client reads and writes its files through the backend asked for
        # (io_uring: this build has liburing, install_deps.sh installs it).
        client = client_metrics(http_port)
        assert client["mooncake_client_offload_io_uring"] == (1.0 if io == "io_uring" else 0.0)
        assert client["mooncake_client_offload_objects"] >= len(evicted)
        assert client["mooncake_client_offload_disk_reads"] >= len(evicted)
        assert client["mooncake_client_offload_read_failures"] == 0


def test_another_client_reads_through_the_owner(master_factory, tmp_path):
    master = master_factory(MASTER_ARGS)
    with offload_store(master, tmp_path) as owner, RemoteStore() as reader:
        assert reader.setup(**setup_args(master, global_segment_size=0)) == 0
        keys = put_values(owner, "remote", 24)  # 96 MiB into a 64 MiB segment
        evicted = [key for key in keys if not has_memory(owner, key)]
        assert evicted
        for key in evicted:
            assert reader.get(key) == value_of(key)
        assert owner.get_offload_rpc_read_count() >= len(evicted)
        assert reader.get_offload_rpc_read_count() == 0


def fill_and_close(master, path, count=6):
    """Writes `count` values, waits until each has its disk copy, closes."""
    with offload_store(master, path) as store:
        return put_on_disk(store, "restart", count)


def test_client_restart_finds_its_files_again(master_factory, tmp_path):
    master = master_factory(MASTER_ARGS)
    keys = fill_and_close(master, tmp_path)
    with RemoteStore() as probe:
        assert probe.setup(**setup_args(master, global_segment_size=0)) == 0
        # The closed client took its memory and disk replicas along.
        assert all(probe.is_exist(key) == 0 for key in keys)
        with offload_store(master, tmp_path) as restarted:
            for key in keys:
                assert on_disk(restarted, key)
                assert restarted.get(key) == value_of(key)
                assert probe.get(key) == value_of(key)


def test_a_removed_key_stays_removed_after_close_and_restart(master_factory, tmp_path):
    master = master_factory(MASTER_ARGS)
    # A long heartbeat: the removal would reach this client only at its
    # next heartbeat, long after the close below, if close did not ask.
    slow = {"MOONCAKE_OFFLOAD_HEARTBEAT_INTERVAL_SECONDS": "60"}
    with offload_store(master, tmp_path, env=slow) as store:
        removed, kept = put_on_disk(store, "removed", 2)
        time.sleep(0.3)  # past the read lease of put_on_disk's probes
        assert store.remove(removed) == 0
    with offload_store(master, tmp_path) as restarted:
        wait_until(lambda: restarted.is_exist(kept) == 1, what="the kept key rescanned")
        assert restarted.is_exist(removed) == 0
        assert restarted.get(kept) == value_of(kept)


def test_a_dead_holders_file_of_a_removed_value_is_not_taken_for_a_new_one(master_factory,
                                                                           tmp_path):
    master = master_factory(MASTER_ARGS + ["--client_ttl=2"])
    # The removal reaches a holder at its next heartbeat: a minute away.
    slow = {"MOONCAKE_OFFLOAD_HEARTBEAT_INTERVAL_SECONDS": "60"}
    holder = offload_store(master, tmp_path, env=slow)
    try:
        key, kept = put_on_disk(holder, "dead-holder", 2)
        time.sleep(0.3)  # past the read lease of put_on_disk's probes
        assert holder.remove(key) == 0
    finally:
        holder.process.kill()  # dies with the removed value's file still there
        holder.process.wait()
    with RemoteStore() as other:
        set_up(other, master)
        # The master forgets the dead holder, with its disk replicas.
        wait_until(lambda: other.is_exist(kept) == 0, deadline_s=20, what="the holder expired")
        new = value_of(key + "-new")  # same size as the removed value
        assert other.put(key, new) == 0
        with offload_store(master, tmp_path) as restarted:
            # The rescan reports both files: the kept object comes back, the
            # removed value's file is not taken for the new value.
            wait_until(lambda: other.is_exist(kept) == 1, what="the kept key rescanned")
            assert other.get(kept) == value_of(kept)
            assert not on_disk(other, key), "a file of the removed value became the new one's copy"
            assert restarted.get(key) == new


def test_master_restart_gets_the_files_reported_again(master_factory, tmp_path):
    master = master_factory(MASTER_ARGS)
    with offload_store(master, tmp_path) as store:
        keys = put_on_disk(store, "mrestart", 4)
        port, http_port = master.port, master.http_port
        master.stop()
        master = master_factory(MASTER_ARGS, port=port, http_port=http_port)
        # The client's offload heartbeat hears SEGMENT_NOT_FOUND and re-reports.
        wait_until(lambda: all(store.is_exist(key) == 1 for key in keys), deadline_s=20,
                   what="keys reported again")
        for key in keys:
            assert store.get(key) == value_of(key)


def test_upsert_replaces_the_disk_copy_too(master_factory, tmp_path):
    master = master_factory(MASTER_ARGS)
    with offload_store(master, tmp_path) as store:
        [key] = put_on_disk(store, "ssd-upsert")  # waits for the first disk copy
        new = value_of(key + "-new")
        time.sleep(0.3)  # no lease left: the value is rewritten in place
        assert store.upsert(key, new) == 0
        assert store.get(key) == new
        # The new value gets its own disk copy; once memory no longer holds
        # it, the disk answers, with the new bytes.
        wait_until(lambda: on_disk(store, key), what="the new disk copy")
        # Past the read lease of the probes: a leased key is passed over, and
        # rounds that ran meanwhile could make room for every fill below.
        time.sleep(0.3)
        # 96 MiB > 64 MiB, not read meanwhile: the key is the coldest.
        put_values(store, "ssd-fill", 24)
        assert not has_memory(store, key), "the upserted key was never evicted"
        assert store.get(key) == new
        read, data = store.run(GET_INTO, key=key, size=VALUE)
        assert read == VALUE and data == new
    # After a restart the rescan finds the new value's file, not the old one.
    with offload_store(master, tmp_path) as restarted:
        wait_until(lambda: restarted.is_exist(key) == 1, what="the rescanned key")
        assert restarted.get(key) == new


def metric_value(master, name):
    for line in master.metrics().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_hot_disk_objects_are_promoted_back_to_memory(master_factory, tmp_path):
    master = master_factory(MASTER_ARGS + ["--promotion_on_hit=true",
                                           "--promotion_admission_threshold=3",
                                           "--promotion_max_per_heartbeat=4"])
    keys = fill_and_close(master, tmp_path)  # the restarted client has them on disk only
    with offload_store(master, tmp_path) as store, RemoteStore() as reader:
        assert reader.setup(**setup_args(master, global_segment_size=0)) == 0
        hot, cold = keys[:2], keys[2:]
        # Every lookup of a disk-only key counts, get_replica_desc's too:
        # cold keys are looked up twice, hot ones three times.
        assert not any(has_memory(store, key) for key in keys)
        for key in cold:
            assert store.get(key) == value_of(key)
        for key in hot:
            assert reader.get(key) == value_of(key)  # through the owner
            assert store.get(key) == value_of(key)
        wait_until(lambda: all(has_memory(store, key) for key in hot), deadline_s=20,
                   what="hot keys back in memory")
        for key in hot:
            assert on_disk(store, key), "the disk copy stays"
            assert store.get(key) == value_of(key)
            assert reader.get(key) == value_of(key)
        assert metric_value(master, "mooncake_master_promotions_queued_total") == len(hot)
        assert metric_value(master, "mooncake_master_promotions_handed_out_total") == len(hot)
        assert metric_value(master, "mooncake_master_promotion_queue_length") == 0
        assert not any(has_memory(store, key) for key in cold)
        # A promoted key is an ordinary object: removing it removes both copies.
        wait_until(lambda: store.remove(hot[0]) == 0, what="the read lease to end")
        assert reader.get(hot[0]) == b""


@pytest.mark.parametrize("damage", ["bit_flip", "truncate"])
def test_damaged_file_is_an_error_never_wrong_bytes(master_factory, tmp_path, damage):
    master = master_factory(MASTER_ARGS)
    keys = fill_and_close(master, tmp_path, count=4)
    files = glob.glob(os.path.join(tmp_path, "file_per_key_dir", "*", "*.mco"))
    assert len(files) == 4
    for path in files[:2]:  # two damaged, two intact
        size = os.path.getsize(path)
        with open(path, "r+b") as file:
            if damage == "bit_flip":
                file.seek(size - VALUE // 2)
                byte = file.read(1)
                file.seek(size - VALUE // 2)
                file.write(bytes([byte[0] ^ 0x10]))
            else:
                file.truncate(size - 1000)
    with offload_store(master, tmp_path) as store:
        # One batch reads the four files side by side: each entry is its own
        # value or empty, the damaged ones empty.
        batch = store.get_batch(keys)
        assert all(data in (b"", value_of(key)) for key, data in zip(keys, batch)), \
            "damaged file returned as data"
        assert sorted(data == b"" for data in batch) == [False, False, True, True]
        for key, first in zip(keys, batch):
            data = store.get(key)
            assert data == first
            read, got = store.run(GET_INTO, key=key, size=VALUE)
            assert (read, got) == ((VALUE, first) if first else (read, b""))
            assert first or read < 0


def test_disk_size_limit_is_respected(master_factory, tmp_path):
    master = master_factory(MASTER_ARGS)
    limit = 40 * MiB
    with offload_store(master, tmp_path,
                       env={"MOONCAKE_OFFLOAD_TOTAL_SIZE_LIMIT_BYTES": str(limit)}) as store:
        keys = put_values(store, "limit", 24)
        wait_until(lambda: sum(on_disk(store, key) for key in keys) >= 5, what="disk copies")
        files = glob.glob(os.path.join(tmp_path, "file_per_key_dir", "*", "*.mco"))
        assert sum(os.path.getsize(path) for path in files) <= limit + VALUE
        # Whatever is still there reads back exactly.
        for key in keys:
            data = store.get(key)
            assert data in (b"", value_of(key))


def test_unmount_local_disk_segment(master_factory, tmp_path):
    master = master_factory(MASTER_ARGS)
    with offload_store(master, tmp_path) as store:
        [key] = put_on_disk(store, "unmount", size=1024)
        assert store.unmount_local_disk_segment(0) == 0
        assert not on_disk(store, key)
        assert store.get(key) == value_of(key, 1024)  # memory replica remains


def test_setup_without_offload_on_the_master_fails(master_factory, tmp_path):
    master = master_factory([])
    with RemoteStore(env=OFFLOAD_ENV) as store:
        code = store.setup(**setup_args(master, enable_ssd_offload=True,
                                        ssd_offload_path=str(tmp_path)))
        assert code == -1300  # UNABLE_OFFLOAD


def test_dummy_client_reads_disk_objects_through_its_standalone_client(master_factory, tmp_path,
                                                                       monkeypatch):
    from mooncake_testing import find_client_binary
    from test_dummy_client import StandaloneClient
    master = master_factory(MASTER_ARGS)
    for name, value in dict(OFFLOAD_ENV, MOONCAKE_OFFLOAD_FILE_STORAGE_PATH=str(tmp_path)).items():
        monkeypatch.setenv(name, value)
    standalone = StandaloneClient(find_client_binary(), master,
                                  ["--enable_offload=true", "--threads=2"]).start()
    dummy = RemoteStore()
    try:
        assert dummy.setup_dummy(16 * MiB, 16 * MiB, standalone.address) == 0
        size = 2 * MiB
        keys = put_values(dummy, "dummy", 48, size)  # 96 MiB into a 64 MiB segment
        assert any(not has_memory(dummy, key) for key in keys)
        for key in keys:
            assert dummy.get(key) == value_of(key, size), key
    finally:
        dummy.stop()
        standalone.close()


@pytest.fixture
def small_volume(tmp_path):
    """A 24 MiB tmpfs: a disk far smaller than the tier's size limit."""
    path = tmp_path / "small"
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_full_disk_gives_clean_errors_and_loses_nothing_stored(master_factory, small_volume):
    """Eager offload onto a volume that fills up after a few objects (disk
    eviction off, so nothing on disk may go): puts return 0 or a clean error
    code, every file that made it to disk stays readable byte for byte, and
    once the tier stops offloading, puts work again from memory alone."""
    master = master_factory(MASTER_ARGS)
    with offload_store(master, small_volume,
                       env={"MOONCAKE_OFFLOAD_ENABLE_EVICTION": "false"}) as store:
        keys = [unique_key("full") for _ in range(40)]  # 160 MiB of 4 MiB values
        returned, codes = [], {}
        for key in keys:
            deadline = time.monotonic() + 30
            while True:
                code = store.put(key, value_of(key))
                if code == 0:
                    returned.append(key)
                    break
                codes[code] = codes.get(code, 0) + 1
                assert code in (-200, -1101, -1102, -1103, -1300), f"put of {key}: {code}"
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        assert len(returned) >= 30, f"puts kept failing after the disk filled: {codes}"
        on_disk_keys = [key for key in returned if on_disk(store, key)]
        assert 0 < len(on_disk_keys) < len(returned), "the volume should hold some, not all"
        for key in on_disk_keys:
            assert store.get(key) == value_of(key), key
        # Whatever else is still readable is exact; nothing is corrupt.
        for key in returned:
            data = store.get(key)
            assert data in (b"", None) or data == value_of(key), key
        assert (metric_value(master, "mooncake_master_offload_queued_total") or 0) > 0
