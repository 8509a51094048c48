#!/usr/bin/env python3
"""Dummy client benchmark: latency of a dummy store (setup_dummy, served by a
standalone mooncake_client) beside a setup() store in the same process, both
calling the same cluster, their calls interleaved so that load drifts hit
both alike. Every object lives in the standalone client's segment.

    python3 bench/python/dummy_bench.py [--iterations 1000]

Needs the mooncake package (installed, or PYTHONPATH=<build>/python), and
mooncake_master / mooncake_client (MOONCAKE_MASTER_BIN / MOONCAKE_CLIENT_BIN,
the installed package, PATH, or a build directory of this checkout).
Results: docs/standalone_client.md ("Performance").
"""

import argparse
import ctypes
import os
import statistics
import subprocess
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO_ROOT, "tests", "python"))

from mooncake_testing import (MasterProcess, find_client_binary, find_master_binary,  # noqa: E402
                              free_port)

MiB = 1024 * 1024


def start_standalone(binary, master, log):
    port = free_port()
    process = subprocess.Popen(
        [binary, "--host=127.0.0.1", f"--metadata_server={master.metadata_url}",
         f"--master_server_address={master.rpc_address}", f"--port={port}",
         "--global_segment_size=512MB", "--local_buffer_size=64MB"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mooncake_client exited; log: {log.name}")
        with open(log.name, errors="replace") as text:
            if "dummy service on" in text.read():
                return process, f"127.0.0.1:{port}"
        time.sleep(0.05)
    raise RuntimeError(f"mooncake_client did not start; log: {log.name}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=1000,
                        help="calls per small-object operation (default 1000)")
    args = parser.parse_args()

    from mooncake.store import MooncakeDistributedStore, ReplicateConfig

    master = MasterProcess(find_master_binary()).start()
    log = tempfile.NamedTemporaryFile(prefix="dummy_bench_", suffix=".log", delete=False)
    binary = find_client_binary()
    if binary is None:
        sys.exit("no mooncake_client found: set MOONCAKE_CLIENT_BIN or build it")
    standalone, address = start_standalone(binary, master, log)
    try:
        dummy = MooncakeDistributedStore()
        assert dummy.setup_dummy(128 * MiB, 128 * MiB, address) == 0
        real = MooncakeDistributedStore()
        assert real.setup("127.0.0.1", master.metadata_url, 512 * MiB, 128 * MiB, "tcp", "",
                          master.rpc_address) == 0
        stores = {"setup() store": real, "dummy": dummy}
        # Everything in the standalone client's segment (the dummy's home).
        home = ReplicateConfig(preferred_segment=dummy.get_hostname())
        times = {}

        def timed(label, name, call):
            started = time.perf_counter()
            result = call()
            times.setdefault(label, {}).setdefault(name, []).append(time.perf_counter() - started)
            return result

        small = os.urandom(4096)
        for i in range(args.iterations):
            for name, store in stores.items():
                key = f"{name}-small-{i}"
                timed("put 4 KiB", name, lambda: store.put(key, small, home))
                timed("get 4 KiB", name, lambda: store.get(key))
                timed("get_buffer 4 KiB", name, lambda: store.get_buffer(key))
                timed("is_exist", name, lambda: store.is_exist(key))
        big = 16 * MiB
        memory = {name: (store.alloc_from_mem_pool(big), store.alloc_from_mem_pool(big))
                  for name, store in stores.items()}
        for source, _ in memory.values():
            ctypes.memset(source, 7, big)
        for i in range(20):
            for name, store in stores.items():
                key = f"{name}-big-{i}"
                source, target = memory[name]
                timed("put_from 16 MiB", name, lambda: store.put_from(key, source, big, home))
                timed("get_into 16 MiB", name, lambda: store.get_into(key, target, big))
                timed("get_buffer 16 MiB", name, lambda: store.get_buffer(key))

        print("| call | " + " | ".join(stores) + " |")
        print("|---|" + "---|" * len(stores))
        for label, by_store in times.items():
            cells = [f"{statistics.median(by_store[name]) * 1e6:.0f} µs" for name in stores]
            print(f"| {label} | " + " | ".join(cells) + " |")
        print(f"(medians; load average {os.getloadavg()[0]:.1f})")
        dummy.close()
        real.close()
    finally:
        standalone.terminate()
        standalone.wait()
        master.stop()
        log.close()
        os.unlink(log.name)


if __name__ == "__main__":
    main()
