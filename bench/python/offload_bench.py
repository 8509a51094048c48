#!/usr/bin/env python3
"""SSD offload benchmark (docs/ssd_offload.md, issue 12).

    python3 bench/python/offload_bench.py [--dir /path/on/ssd] [--quick]

Measured in one run, on the same directory:
  1. put throughput into a 64 MiB segment with eager offload, beside the
     memory-only put throughput of the same values on a master without
     offload (target: >= 50 %);
  2. get throughput of disk-resident objects (1 MiB and 16 MiB, no memory
     replica left) into a registered buffer, beside a cold sequential read of
     the very files they live in (page cache dropped with
     /proc/sys/vm/drop_caches when allowed, else posix_fadvise(DONTNEED) per
     file) by a plain Python loop (target: >= 70 %); once one get_into per
     object, once batch_get_into of 8 objects per call.

Needs the mooncake package and a mooncake_master (MOONCAKE_MASTER_BIN, the
installed package, or PATH).
"""

import argparse
import ctypes
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

MiB = 1024 * 1024


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def find_master():
    explicit = os.environ.get("MOONCAKE_MASTER_BIN")
    if explicit:
        return explicit
    from mooncake.cli import bundled_program
    return bundled_program("mooncake_master") or shutil.which("mooncake_master")


class Master:
    def __init__(self, extra):
        self.port, self.http_port = free_port(), free_port()
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [find_master(), f"--port={self.port}", "--rpc_address=127.0.0.1",
             "--enable_http_metadata_server=true", "--http_metadata_server_host=127.0.0.1",
             f"--http_metadata_server_port={self.http_port}", f"--metrics_port={free_port()}",
             "--hot_rpc_port=0", "--default_kv_lease_ttl=200"] + extra,
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mooncake_master did not start")

    def store(self, **offload):
        from mooncake.store import MooncakeDistributedStore
        store = MooncakeDistributedStore()
        code = store.setup("127.0.0.1", f"http://127.0.0.1:{self.http_port}/metadata",
                           64 * MiB, 64 * MiB, "tcp", "", f"127.0.0.1:{self.port}", **offload)
        if code != 0:
            raise RuntimeError(f"setup failed: {code}")
        return store

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)


def put_all(store, keys, value, deadline_s=120):
    started = time.perf_counter()
    for key in keys:
        deadline = time.monotonic() + deadline_s
        while store.put(key, value) != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"put of {key} kept failing")
            time.sleep(0.005)
    return len(keys) * len(value) / (time.perf_counter() - started)


def drop_cache(files):
    try:
        with open("/proc/sys/vm/drop_caches", "w") as control:
            control.write("1\n")
        return "drop_caches"
    except OSError:
        for path in files:
            fd = os.open(path, os.O_RDONLY)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)
        return "fadvise"


def cold_file_read(files):
    started = time.perf_counter()
    total = 0
    for path in files:
        with open(path, "rb", buffering=0) as file:
            while chunk := file.read(16 * MiB):
                total += len(chunk)
    return total / (time.perf_counter() - started)


def file_write(directory, size, count):
    """The disk's own pace for the same volume: `count` files of `size`
    bytes written by a plain loop (no fsync, as the tier does not fsync),
    then deleted."""
    path = tempfile.mkdtemp(prefix="offload-bench-write-", dir=directory)
    value = os.urandom(size)
    try:
        started = time.perf_counter()
        for i in range(count):
            with open(os.path.join(path, f"{i}.bin"), "wb", buffering=0) as file:
                file.write(value)
        return count * size / (time.perf_counter() - started)
    finally:
        shutil.rmtree(path, ignore_errors=True)


def disk_resident(store, keys):
    return [k for k in keys
            if not any(d.is_memory_replica() for d in store.get_replica_desc(k))
            and any(d.is_local_disk_replica() for d in store.get_replica_desc(k))]


BATCH = 8  # keys per batch_get_into, as a connector reads the pages of a request


def batched_disk_get(store, keys, size, files):
    """The same disk-resident objects read BATCH at a time (page cache
    dropped again): one master call per batch, the files read side by side."""
    buffer = (ctypes.c_ubyte * (size * BATCH))()
    base = ctypes.addressof(buffer)
    store.register_buffer(base, size * BATCH)
    try:
        drop_cache(files)
        started = time.perf_counter()
        for first in range(0, len(keys), BATCH):
            batch = keys[first:first + BATCH]
            addresses = [base + i * size for i in range(len(batch))]
            read = store.batch_get_into(batch, addresses, [size] * len(batch))
            if read != [size] * len(batch):
                raise RuntimeError(f"batch_get_into {batch[0]}.. gave {read}")
        return len(keys) * size / (time.perf_counter() - started)
    finally:
        store.unregister_buffer(base)


def bench_size(directory, size, count):
    value = os.urandom(size)
    memory_master = Master([])
    try:
        plain = memory_master.store()
        keys = [f"mem-{size}-{i}" for i in range(count)]
        memory_put = put_all(plain, keys, value)
        plain.close()
    finally:
        memory_master.stop()

    plain_write = file_write(directory, size, count)
    path = tempfile.mkdtemp(prefix="offload-bench-", dir=directory)
    master = Master(["--enable_offload=true"])
    try:
        store = master.store(enable_ssd_offload=True, ssd_offload_path=path)
        keys = [f"ssd-{size}-{i}" for i in range(count)]
        offload_put = put_all(store, keys, value)
        resident = disk_resident(store, keys)
        files = glob.glob(os.path.join(path, "file_per_key_dir", "*", "*.mco"))
        buffer = (ctypes.c_ubyte * size)()
        address = ctypes.addressof(buffer)
        store.register_buffer(address, size)
        how = drop_cache(files)
        started = time.perf_counter()
        for key in resident:
            if store.get_into(key, address, size) != size:
                raise RuntimeError(f"get_into {key} failed")
        disk_get = len(resident) * size / (time.perf_counter() - started)
        store.unregister_buffer(address)
        batch_get = batched_disk_get(store, resident, size, files)
        drop_cache(files)
        file_read = cold_file_read(files)
        store.close()
    finally:
        master.stop()
        shutil.rmtree(path, ignore_errors=True)
    return {"size": size, "objects": count, "disk_resident": len(resident), "cache": how,
            "memory_put": memory_put, "offload_put": offload_put, "file_write": plain_write,
            "disk_get": disk_get, "batch_disk_get": batch_get,
            "file_read": file_read}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", default=tempfile.gettempdir(), help="directory on the SSD")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    os.environ.setdefault("MOONCAKE_OFFLOAD_HEARTBEAT_INTERVAL_SECONDS", "1")
    os.environ.setdefault("MOONCAKE_OFFLOAD_LOCAL_BUFFER_SIZE_BYTES", str(64 * MiB))
    total = (128 if args.quick else 512) * MiB
    print(f"{'size':>7} {'objs':>5} {'on disk':>7} {'mem put':>9} {'offl put':>9} {'ratio':>6}"
          f" {'file wr':>9} {'ratio':>6} {'disk get':>9} {'batch get':>9} {'file rd':>9}"
          f" {'ratio':>6} {'batch':>6}  (GB/s; cache: how dropped)")
    results = []
    for size in (1 * MiB, 16 * MiB):
        r = bench_size(args.dir, size, total // size)
        results.append(r)
        print(f"{size // MiB:>5}Mi {r['objects']:>5} {r['disk_resident']:>7} "
              f"{r['memory_put'] / 1e9:>9.3f} {r['offload_put'] / 1e9:>9.3f} "
              f"{r['offload_put'] / r['memory_put']:>6.0%} {r['file_write'] / 1e9:>9.3f} "
              f"{r['offload_put'] / r['file_write']:>6.0%} {r['disk_get'] / 1e9:>9.3f} "
              f"{r['batch_disk_get'] / 1e9:>9.3f} {r['file_read'] / 1e9:>9.3f} "
              f"{r['disk_get'] / r['file_read']:>6.0%} "
              f"{r['batch_disk_get'] / r['file_read']:>6.0%}  ({r['cache']})")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
