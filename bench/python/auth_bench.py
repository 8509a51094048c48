#!/usr/bin/env python3
"""Cost of cluster authentication (docs/authentication.md): small put/get
latency between two store processes on one host, with and without a secret,
over shared memory (the default on one host) and over TCP (MC_STORE_SHM=0),
plus the time of setup() (which opens the first authenticated connections).

    python3 bench/python/auth_bench.py [--ops 2000] [--size 4096] [--rounds 3]

Uses the test helpers (tests/python/mooncake_testing.py) to start a real
mooncake_master on free loopback ports and the stores in worker processes.
Rounds alternate between the configurations so that machine noise hits both.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "python"))

from mooncake_testing import MasterProcess, RemoteStore, find_master_binary  # noqa: E402

LOOP = """
import time
from mooncake.store import ReplicateConfig
value = b"v" * args["size"]
config = ReplicateConfig(preferred_segment=args["segment"])
puts, gets = [], []
for i in range(args["ops"]):
    key = f"{args['prefix']}-{i}"
    start = time.perf_counter_ns()
    code = store.put(key, value, config)
    puts.append(time.perf_counter_ns() - start)
    assert code == 0, code
for i in range(args["ops"]):
    key = f"{args['prefix']}-{i}"
    start = time.perf_counter_ns()
    got = store.get(key)
    gets.append(time.perf_counter_ns() - start)
    assert len(got) == args["size"]
result = (puts, gets)
"""


def percentile(values, fraction):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_once(binary, secret_file, shm, ops, size, tag):
    master_args = [f"--cluster_secret_file={secret_file}"] if secret_file else []
    master = MasterProcess(binary, master_args).start()
    env = {"MC_STORE_SHM": "1" if shm else "0"}
    if secret_file:
        env["MC_CLUSTER_SECRET_FILE"] = secret_file
    workers = []
    try:
        args = {"local_hostname": "127.0.0.1", "metadata_server": master.metadata_url,
                "global_segment_size": 64 << 20, "local_buffer_size": 64 << 20,
                "protocol": "tcp", "rdma_devices": "", "master_server_addr": master.rpc_address}
        setups = []
        for _ in range(2):
            worker = RemoteStore(env=env)
            workers.append(worker)
            start = time.perf_counter()
            assert worker.setup(**args) == 0
            setups.append(time.perf_counter() - start)
        writer, owner = workers
        puts, gets = writer.run(LOOP, ops=ops, size=size, segment=owner.get_hostname(),
                                prefix=tag)
        return puts, gets, setups
    finally:
        for worker in workers:
            worker.stop()
        master.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    binary = find_master_binary()
    with tempfile.NamedTemporaryFile("w", suffix=".secret", delete=False) as secret:
        secret.write(os.urandom(32).hex())
    os.chmod(secret.name, 0o600)
    results = {}
    try:
        for round_index in range(options.rounds):
            for shm in (True, False):
                for secret_file in (None, secret.name):
                    name = ("shm" if shm else "tcp", "secret" if secret_file else "none")
                    puts, gets, setups = run_once(binary, secret_file, shm, options.ops,
                                                  options.size, f"r{round_index}")
                    entry = results.setdefault(name, {"put": [], "get": [], "setup": []})
                    entry["put"] += puts
                    entry["get"] += gets
                    entry["setup"] += setups
    finally:
        os.unlink(secret.name)
    print(f"{options.size}-byte values, {options.ops} ops x {options.rounds} rounds")
    print("| transport | secret | put p50 µs | put p99 µs | get p50 µs | get p99 µs | setup s |")
    print("|---|---|---|---|---|---|---|")
    for (transport, secret_kind), entry in sorted(results.items()):
        row = [percentile(entry["put"], 0.5) / 1e3, percentile(entry["put"], 0.99) / 1e3,
               percentile(entry["get"], 0.5) / 1e3, percentile(entry["get"], 0.99) / 1e3]
        cells = " | ".join(f"{value:.1f}" for value in row)
        print(f"| {transport} | {secret_kind} | {cells} | {statistics.median(entry['setup']):.2f} |")


if __name__ == "__main__":
    main()
