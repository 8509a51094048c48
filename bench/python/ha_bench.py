"""HA figures in one run (docs/ha.md, docs/performance.md, docs/reliability.md):

1. 4 KiB batch-put throughput against a single master (HA off) and against
   an HA pair on a real etcd (HA on: the leader streams its change log to the standby).
2. Failover time over N kill -9 of the leader: kill -> a read by a client
   succeeds again (the killed master is restarted as standby each time).

    .venv/bin/python bench/python/ha_bench.py [--kills 10] [--seconds 5]
"""

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests")
sys.path[:0] = [os.path.join(TESTS, "python"), os.path.join(TESTS, "reliability")]

from mooncake_testing import MasterProcess, RemoteStore, find_master_binary  # noqa: E402
from test_ha import CLUSTER, Etcd, serving  # noqa: E402

BATCH = 64
VALUE = 4096

THROUGHPUT = """
import time
keys_per_batch, size, seconds, tag = args["batch"], args["size"], args["seconds"], args["tag"]
value = b"x" * size
done = 0
deadline = time.monotonic() + seconds
started = time.monotonic()
while time.monotonic() < deadline:
    keys = [f"{tag}-{done + i}" for i in range(keys_per_batch)]
    codes = store.put_batch(keys, [value] * keys_per_batch)
    assert codes == 0, codes
    done += keys_per_batch
result = done / (time.monotonic() - started)
"""


def store_args(master_addr):
    return {"local_hostname": "127.0.0.1", "metadata_server": "P2PHANDSHAKE",
            "global_segment_size": 512 * 1024 * 1024, "local_buffer_size": 64 * 1024 * 1024,
            "protocol": "tcp", "rdma_devices": "", "master_server_addr": master_addr}


def put_rate(master_addr, seconds, tag):
    worker = RemoteStore(env={"MC_STORE_CLUSTER_ID": CLUSTER})
    try:
        assert worker.setup(**store_args(master_addr)) == 0
        return worker.run(THROUGHPUT, batch=BATCH, size=VALUE, seconds=seconds, tag=tag)
    finally:
        worker.kill()


def wait_leader(masters, deadline_s=30):
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for master in masters:
            if serving(master):
                return master
        time.sleep(0.02)
    raise RuntimeError("no leader")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--no-spin", action="store_true",
                        help="masters and clients sleep at once when they wait for the other "
                             "(docs/performance.md, \"Brief spins\")")
    options = parser.parse_args()
    binary = find_master_binary()
    spin_flags = []
    if options.no_spin:
        os.environ["MC_RPC_SPIN_US"] = "0"  # the store workers inherit it
        spin_flags = ["--hot_rpc_spin_us=0"]

    single = MasterProcess(binary, ["--client_ttl=10", *spin_flags]).start()
    try:
        off = put_rate(single.rpc_address, options.seconds, "off")
    finally:
        single.stop()

    etcd = Etcd().start()
    ha_flags = ["--enable_ha", f"--etcd_endpoints={etcd.endpoint}", f"--cluster_id={CLUSTER}",
                *spin_flags]
    masters = [MasterProcess(binary, ha_flags).start() for _ in range(2)]
    try:
        wait_leader(masters)
        time.sleep(1.5)  # the standby connects
        on = put_rate(f"etcd://{etcd.endpoint}", options.seconds, "on")
        print(f"4 KiB put_batch({BATCH}): HA off {off:.0f} keys/s, HA on {on:.0f} keys/s "
              f"({100 * on / off:.0f} %)")

        reader = RemoteStore(env={"MC_STORE_CLUSTER_ID": CLUSTER})
        assert reader.setup(**store_args(f"etcd://{etcd.endpoint}")) == 0
        assert reader.put("ha-bench-probe", b"p" * VALUE) == 0
        times = []
        for _ in range(options.kills):
            leader = wait_leader(masters)
            time.sleep(1.5)  # the standby holds the newest image
            killed_at = time.monotonic()
            leader.process.kill()
            leader.process.wait()
            # Blocks inside the client until the new leader answers.
            while bytes(reader.get("ha-bench-probe")) != b"p" * VALUE:
                pass
            times.append(time.monotonic() - killed_at)
            index = masters.index(leader)
            masters[index] = MasterProcess(binary, ha_flags, port=leader.port,
                                           http_port=leader.http_port).start()
        reader.kill()
        times.sort()
        if times:
            print(f"failover kill -9 -> read ok over {len(times)} kills: min {times[0]:.2f} s, "
                  f"median {times[len(times) // 2]:.2f} s, max {times[-1]:.2f} s")
    finally:
        for master in masters:
            master.stop()
        etcd.stop()


if __name__ == "__main__":
    main()
