"""High availability (docs/ha.md): masters elected on a real etcd started on
loopback ports, kill -9 of the leader while a writer and a reader run, the
standby taking over with the cache intact, never two leaders; a standby
killed then the leader; etcd restarted; the old leader rejoining as standby;
a single master restored from its snapshot after kill -9.

Clients use master_server_addr="etcd://..." and metadata_server=
"P2PHANDSHAKE", so nothing depends on a particular master staying up."""

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest

from etcd_testing import ETCD, SKIP_REASON, Etcd
from mooncake_testing import MasterProcess
from reliability_helpers import (SUITE_PATHS, WORKER_PRELUDE, ValueChecker, make_key, value_for,
                                 wait_until)

pytestmark = pytest.mark.skipif(ETCD is None, reason=SKIP_REASON)

CLUSTER = "ha-test"
LEASE_TTL_S = 5
# Target of the issue: readers succeed again within 5 s of the kill with
# the default 5 s lease; the bound asserted is looser for loaded machines.
FAILOVER_BOUND_S = 15


def admin_text(master, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{master.metrics_port}{path}",
                                timeout=2) as reply:
        return reply.read().decode().strip()


def ha_status(master):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{master.metrics_port}/ha/status",
                                    timeout=1) as reply:
            return json.loads(reply.read())
    except OSError:
        return None


def serving(master):
    if master.process is None or master.process.poll() is not None:
        return False
    status = ha_status(master)
    return bool(status and status.get("serving"))


class LeaderMonitor:
    """Polls every master's /ha/status; records any moment two serve."""

    def __init__(self, masters):
        self.masters = masters
        self.overlaps = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            if sum(1 for master in list(self.masters) if serving(master)) > 1:
                self.overlaps += 1
            self.samples += 1
            time.sleep(0.05)

    def stop(self):
        self._stop.set()
        self._thread.join()


@pytest.fixture
def etcd():
    member = Etcd(name="ha-test").start()
    yield member
    member.stop()


@pytest.fixture
def ha_masters(master_binary, etcd):
    started = []

    def start(port=None, http_port=None, extra=()):
        flags = ["--enable_ha", f"--etcd_endpoints={etcd.endpoint}", f"--cluster_id={CLUSTER}",
                 "--client_ttl=10"] + list(extra)
        master = MasterProcess(master_binary, flags, port=port, http_port=http_port).start()
        started.append(master)
        return master

    yield start
    for master in reversed(started):
        master.stop()


def ha_store_args(etcd, **overrides):
    args = {"local_hostname": "127.0.0.1", "metadata_server": "P2PHANDSHAKE",
            "global_segment_size": 64 * 1024 * 1024, "local_buffer_size": 64 * 1024 * 1024,
            "protocol": "tcp", "rdma_devices": "",
            "master_server_addr": f"etcd://{etcd.endpoint}"}
    args.update(overrides)
    return args


@pytest.fixture
def ha_workers(etcd):
    from mooncake_testing import RemoteStore
    workers = []

    def make():
        worker = RemoteStore(env={"MC_STORE_CLUSTER_ID": CLUSTER})
        workers.append(worker)
        assert worker.setup(**ha_store_args(etcd)) == 0
        return worker

    yield make
    for worker in reversed(workers):
        worker.kill()


def leader_of(masters):
    return wait_until(lambda: next((m for m in masters if serving(m)), None), deadline_s=30,
                      what="a leader")


# A writer loop and a reader loop that run inside the store workers while the
# test kills masters. Each records (start, end, key, outcome) per call.
WRITER_LOOP = WORKER_PRELUDE + """
import sys, threading, time
from reliability_helpers import make_key, value_for
state = sys.__dict__.setdefault("ha_loop", {"stop": False, "log": []})
state["stop"] = False
def loop():
    i = 0
    while not state["stop"]:
        key = make_key("ha-w", 4096 * (1 + i % 16), i)
        started = time.time()
        rc = store.put(key, value_for(key))
        state["log"].append((started, time.time(), key, rc))
        i += 1
        time.sleep(0.01)
state["thread"] = threading.Thread(target=loop, daemon=True)
state["thread"].start()
"""

READER_LOOP = WORKER_PRELUDE + """
import sys, threading, time
from reliability_helpers import value_for
state = sys.__dict__.setdefault("ha_loop", {"stop": False, "log": []})
state["stop"] = False
keys = args["keys"]
def loop():
    i = 0
    while not state["stop"]:
        key = keys[i % len(keys)]
        started = time.time()
        data = bytes(store.get(key))
        outcome = "ok" if data == value_for(key) else ("fail" if not data else "WRONG")
        state["log"].append((started, time.time(), key, outcome))
        i += 1
        time.sleep(0.01)
state["thread"] = threading.Thread(target=loop, daemon=True)
state["thread"].start()
"""

STOP_LOOP = """
import sys
state = sys.__dict__["ha_loop"]
state["stop"] = True
state["thread"].join()
result = list(state["log"])
state["log"].clear()
"""


def put_keys(worker, prefix, count, size=64 * 1024):
    keys = [make_key(prefix, size + 64 * i, i) for i in range(count)]
    codes = worker.run(WORKER_PRELUDE + """
from reliability_helpers import value_for
result = [store.put(key, value_for(key)) for key in args["keys"]]
""", keys=keys, paths=SUITE_PATHS)
    assert codes == [0] * count
    return keys


def read_all(worker, keys):
    """Keys whose bytes are not exactly right, read by `worker`."""
    return worker.run(WORKER_PRELUDE + """
from reliability_helpers import value_for
result = [key for key in args["keys"] if bytes(store.get(key)) != value_for(key)]
""", keys=keys, paths=SUITE_PATHS)


def first_success_after(log, moment):
    times = [end for start, end, _, outcome in log if start >= moment and outcome in ("ok", 0)]
    return min(times) - moment if times else None


def test_kill9_leader_while_writing_and_reading(ha_masters, ha_workers, etcd, figures):
    first = ha_masters()
    second = ha_masters()
    masters = [first, second]
    leader = leader_of(masters)
    standby = second if leader is first else first
    writer = ha_workers()
    reader = ha_workers()
    preloaded = put_keys(writer, "ha-pre", 40)
    # The standby holds the leader's state before the kill.
    wait_until(lambda: (ha_status(standby) or {}).get("image_age_seconds", -1) >= 0,
               deadline_s=20, what="the standby to hold an image")
    monitor = LeaderMonitor(masters)

    writer.run(WRITER_LOOP, paths=SUITE_PATHS)
    reader.run(READER_LOOP, keys=preloaded, paths=SUITE_PATHS)
    time.sleep(1.5)
    killed_at = time.time()
    leader.process.kill()
    leader.process.wait()
    figures.add("faults_injected")
    wait_until(lambda: serving(standby), deadline_s=30, what="the standby to take over")
    figures["kill_to_new_leader_s"] = round(time.time() - killed_at, 2)
    time.sleep(4)
    write_log = writer.run(STOP_LOOP)
    read_log = reader.run(STOP_LOOP)
    monitor.stop()

    wrong = [entry for entry in read_log if entry[3] == "WRONG"]
    assert not wrong, f"reads returned wrong bytes: {wrong[:3]}"
    assert monitor.overlaps == 0, "two masters served as leader at the same moment"
    reads_back = first_success_after(read_log, killed_at)
    writes_back = first_success_after(write_log, killed_at)
    assert reads_back is not None and reads_back < FAILOVER_BOUND_S, reads_back
    assert writes_back is not None and writes_back < FAILOVER_BOUND_S, writes_back
    figures["kill_to_first_read_s"] = round(reads_back, 2)
    figures["kill_to_first_write_s"] = round(writes_back, 2)

    # Every put that returned 0, before or after the kill, reads back exactly
    # (answers of completing calls wait for the standby: docs/ha.md).
    acknowledged = [key for _, _, key, rc in write_log if rc == 0]
    assert len(acknowledged) > 10
    bad = read_all(reader, preloaded + acknowledged)
    assert bad == [], f"{len(bad)} acknowledged objects lost or wrong, e.g. {bad[:3]}"
    figures["acknowledged_puts_verified"] = len(preloaded) + len(acknowledged)
    figures["puts_failed_during_failover"] = sum(1 for entry in write_log if entry[3] != 0)
    figures["reads_failed_during_failover"] = sum(1 for e in read_log if e[3] == "fail")
    assert etcd.keys("mooncake-store/").count(f"mooncake-store/{CLUSTER}/master_view") == 1


def test_etcd_without_a_leader_is_unavailable_in_current_status(etcd, monkeypatch):
    from mooncake.store import ErrorCode, MooncakeDistributedStore
    monkeypatch.setenv("MC_STORE_CLUSTER_ID", CLUSTER)
    store = MooncakeDistributedStore()
    assert store.setup(**ha_store_args(etcd)) == ErrorCode.UNAVAILABLE_IN_CURRENT_STATUS
    assert store.get_hostname() == ""


def test_client_closes_cleanly_against_an_ha_cluster(ha_masters, ha_workers, figures):
    """close() unregisters through the leader it follows: the process lives on,
    and the master forgets its segment at once (not after client_ttl)."""
    ha_masters(), ha_masters()
    writer, reader = ha_workers(), ha_workers()
    keys = [make_key("ha-close", 4096, i) for i in range(4)]
    codes = writer.run(WORKER_PRELUDE + """
from mooncake.store import ReplicateConfig
from reliability_helpers import value_for
own = ReplicateConfig(preferred_segment=store.get_hostname())  # replicas on the writer
result = [store.put(key, value_for(key), own) for key in args["keys"]]
""", keys=keys, paths=SUITE_PATHS)
    assert codes == [0] * len(keys)
    assert read_all(reader, keys) == []
    started = time.monotonic()
    assert writer.close() == 0
    assert writer.process.poll() is None, "close() must not take the process down"
    wait_until(lambda: all(reader.is_exist(key) == 0 for key in keys), deadline_s=5,
               what="the closed writer's objects to go with its segment")
    figures["segment_gone_after_close_s"] = round(time.monotonic() - started, 2)
    assert writer.process.poll() is None


def test_standby_killed_then_leader_killed(ha_masters, ha_workers, figures):
    masters = [ha_masters() for _ in range(3)]
    leader = leader_of(masters)
    standbys = [m for m in masters if m is not leader]
    worker = ha_workers()
    keys = put_keys(worker, "ha-two", 20)
    standbys[0].process.kill()
    standbys[0].process.wait()
    more = put_keys(worker, "ha-two-more", 10)
    wait_until(lambda: (ha_status(standbys[1]) or {}).get("image_age_seconds", -1) >= 0,
               deadline_s=20, what="the last standby to hold an image")
    killed_at = time.time()
    leader.process.kill()
    leader.process.wait()
    figures.add("faults_injected", 2)
    wait_until(lambda: serving(standbys[1]), deadline_s=30, what="the last master to lead")
    figures["kill_to_new_leader_s"] = round(time.time() - killed_at, 2)
    assert read_all(worker, keys + more) == []
    assert put_keys(worker, "ha-two-after", 5)


def test_cluster_secret_standby_replicates_and_takes_over(ha_masters, etcd, tmp_path, figures):
    """With --cluster_secret_file the standby's fetches carry the secret (gRPC
    token, then the replication stream's handshake); its copy is complete, so
    the failover keeps every object."""
    from mooncake_testing import RemoteStore
    secret = tmp_path / "cluster.secret"
    secret.write_text("ha-suite-secret-0123456789abcdef\n")
    secret.chmod(0o600)
    masters = [ha_masters(extra=[f"--cluster_secret_file={secret}"]) for _ in range(2)]
    leader = leader_of(masters)
    standby = next(m for m in masters if m is not leader)
    worker = RemoteStore(env={"MC_STORE_CLUSTER_ID": CLUSTER, "MC_STORE_SHM": "0",
                              "MC_CLUSTER_SECRET_FILE": str(secret)})
    try:
        assert worker.setup(**ha_store_args(etcd)) == 0
        keys = put_keys(worker, "ha-secret", 20)
        wait_until(lambda: (ha_status(standby) or {}).get("image_age_seconds", -1) >= 0,
                   deadline_s=20, what="the standby to hold an image")
        killed_at = time.time()
        leader.process.kill()
        leader.process.wait()
        figures.add("faults_injected", 1)
        wait_until(lambda: serving(standby), deadline_s=30, what="the standby to lead")
        figures["kill_to_new_leader_s"] = round(time.time() - killed_at, 2)
        assert read_all(worker, keys) == []
    finally:
        worker.kill()
    assert "cluster authentication failed" not in standby.log_text()


def test_etcd_restart_keeps_the_leader_and_the_objects(ha_masters, ha_workers, etcd, figures):
    masters = [ha_masters(), ha_masters()]
    leader = leader_of(masters)
    epoch = ha_status(leader)["epoch"]
    worker = ha_workers()
    keys = put_keys(worker, "ha-etcd", 20)
    etcd.kill()
    figures.add("faults_injected")
    time.sleep(1)
    etcd.start()
    # One master leads again (the same one when etcd came back within its
    # lease), and nothing was lost.
    new_leader = leader_of(masters)
    figures["same_leader_after_etcd_restart"] = int(new_leader is leader and
                                                    ha_status(leader)["epoch"] == epoch)
    assert wait_until(lambda: read_all(worker, keys) == [], deadline_s=30,
                      what="the objects to read back after the etcd restart")
    assert put_keys(worker, "ha-etcd-after", 5)


def test_old_leader_rejoins_as_standby(ha_masters, ha_workers, figures):
    first, second = ha_masters(), ha_masters()
    masters = [first, second]
    leader = leader_of(masters)
    other = second if leader is first else first
    worker = ha_workers()
    keys = put_keys(worker, "ha-rejoin", 10)
    wait_until(lambda: (ha_status(other) or {}).get("image_age_seconds", -1) >= 0,
               deadline_s=20, what="the standby to hold an image")
    leader.process.kill()
    leader.process.wait()
    wait_until(lambda: serving(other), deadline_s=30, what="the standby to take over")
    # The old leader comes back on its ports: it must follow, not lead.
    rejoined = ha_masters(port=leader.port, http_port=leader.http_port)
    masters.append(rejoined)
    wait_until(lambda: (ha_status(rejoined) or {}).get("role") == "standby", deadline_s=20,
               what="the old leader to rejoin as standby")
    assert not serving(rejoined)
    # The reference HEAD's role routes say the same (interfaces.md §6.2).
    assert admin_text(rejoined, "/role") == "standby"
    assert admin_text(rejoined, "/ha_status") == "standby"
    assert admin_text(other, "/role") == "leader"
    assert admin_text(other, "/ha_status") == "serving"
    leader_view = json.loads(admin_text(rejoined, "/leader"))
    assert leader_view["present"] and leader_view["leader_address"].endswith(f":{other.port}")
    more = put_keys(worker, "ha-rejoin-more", 10)
    wait_until(lambda: (ha_status(rejoined) or {}).get("image_age_seconds", -1) >= 0,
               deadline_s=20, what="the rejoined master to hold an image")
    # And it takes over, with everything, when the current leader dies.
    other.process.kill()
    other.process.wait()
    figures.add("faults_injected", 2)
    wait_until(lambda: serving(rejoined), deadline_s=30, what="the rejoined master to lead")
    assert read_all(worker, keys + more) == []


def test_single_master_snapshot_restore_after_kill9(master_binary, ha_workers_direct, figures):
    snapshot_dir = tempfile.mkdtemp(prefix="mooncake-snapshot-")
    flags = ["--enable_snapshot", f"--snapshot_local_path={snapshot_dir}",
             "--enable_snapshot_restore", "--client_ttl=10"]
    try:
        master = MasterProcess(master_binary, flags).start()
        worker = ha_workers_direct(master)
        keys = put_keys(worker, "snap", 30)
        assert any(name.startswith("snapshot-") for name in os.listdir(snapshot_dir))
        master.process.kill()
        master.process.wait()
        figures.add("faults_injected")
        restarted_at = time.monotonic()
        master = MasterProcess(master_binary, flags, port=master.port,
                               http_port=master.http_port).start()
        assert wait_until(lambda: read_all(worker, keys) == [], deadline_s=30,
                          what="the objects to read back after the restart")
        figures["restart_to_objects_readable_s"] = round(time.monotonic() - restarted_at, 2)
        assert put_keys(worker, "snap-after", 5)
        master.stop()
    finally:
        shutil.rmtree(snapshot_dir, ignore_errors=True)


@pytest.fixture
def ha_workers_direct():
    from mooncake_testing import RemoteStore
    workers = []

    def make(master):
        worker = RemoteStore()
        workers.append(worker)
        args = {"local_hostname": "127.0.0.1", "metadata_server": "P2PHANDSHAKE",
                "global_segment_size": 64 * 1024 * 1024, "local_buffer_size": 64 * 1024 * 1024,
                "protocol": "tcp", "rdma_devices": "", "master_server_addr": master.rpc_address}
        assert worker.setup(**args) == 0
        return worker

    yield make
    for worker in reversed(workers):
        worker.kill()


@pytest.mark.parametrize("flags, message", [
    (["--enable_ha", "--ha_backend_type=redis", "--etcd_endpoints=127.0.0.1:1"],
     "ha_backend_type must be"),
    (["--enable_ha"], "needs etcd_endpoints"),
    (["--enable_ha", "--etcd_endpoints=127.0.0.1:1", "--rpc_address=0.0.0.0"],
     "rpc_address that clients can reach"),
    (["--enable_snapshot"], "snapshot directory"),
])
def test_bad_ha_flags_are_refused(master_binary, flags, message):
    result = subprocess.run([master_binary] + flags, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert message in result.stderr + result.stdout
