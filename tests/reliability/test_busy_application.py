"""A busy application: a Python thread that holds the GIL in a tight loop
for 3x client_ttl must not get its client expired or its segment unmounted.
Heartbeats and transfers run in C++ threads that never need the GIL."""

import threading
import time

from mooncake.store import ReplicateConfig
from reliability_helpers import MiB, ValueChecker, make_key, metric, value_for

CLIENT_TTL_S = 2
SPIN_S = 3 * CLIENT_TTL_S + 1

# Runs in the busy store's process. A huge switch interval means the
# interpreter never hands the GIL to another thread on its own, so the loop
# holds it for the whole time; a ticker thread proves it (it cannot tick).
SPIN = """
import sys, threading, time
ticks = [0]
stop = threading.Event()

def tick():
    while not stop.is_set():
        ticks[0] += 1
        time.sleep(0.01)

ticker = threading.Thread(target=tick, daemon=True)
ticker.start()
time.sleep(0.1)
previous = sys.getswitchinterval()
sys.setswitchinterval(1000.0)
before = ticks[0]
deadline = time.monotonic() + args["seconds"]
iterations = 0
while time.monotonic() < deadline:
    iterations += 1
after = ticks[0]
sys.setswitchinterval(previous)
stop.set()
ticker.join()
result = {"iterations": iterations, "ticks_during_spin": after - before}
"""


def test_gil_held_for_three_ttls_keeps_the_client_alive(master_factory, store_factory,
                                                        remote_factory, figures):
    master = master_factory([f"--client_ttl={CLIENT_TTL_S}", "--default_kv_lease_ttl=500"])
    observer = store_factory(on_master=master)
    busy = remote_factory(on_master=master)
    checker = ValueChecker()
    on_busy = ReplicateConfig(preferred_segment=busy.get_hostname())
    keys = [make_key("busy", MiB + i) for i in range(8)]
    for key in keys:
        assert busy.put(key, value_for(key), on_busy) == 0
    assert metric(master, "mooncake_master_segments_mounted") == 2

    spin_result = {}

    def spin():
        spin_result.update(busy.run(SPIN, seconds=SPIN_S))

    spinner = threading.Thread(target=spin)
    spinner.start()
    samples = 0
    reads = 0
    while spinner.is_alive():
        # The master still counts both clients and both segments, and the
        # busy store's objects stay readable, the whole time.
        assert metric(master, "mooncake_master_clients_alive") == 2
        assert metric(master, "mooncake_master_segments_mounted") == 2
        assert metric(master, "mooncake_master_clients_expired_total") == 0
        samples += 1
        key = keys[reads % len(keys)]
        assert checker.matches(key, observer.get(key)), f"{key} unreadable while spinning"
        reads += 1
        time.sleep(0.1)
    spinner.join()

    assert spin_result["ticks_during_spin"] <= 1, "the GIL was not held during the loop"
    assert metric(master, "mooncake_master_clients_expired_total") == 0
    assert metric(master, "mooncake_master_segments_mounted") == 2
    # The busy store works at once afterwards, and kept its objects.
    fresh = make_key("busy-after", 3 * MiB)
    assert busy.put(fresh, value_for(fresh), on_busy) == 0
    for key in keys + [fresh]:
        assert checker.matches(key, observer.get(key))
        assert checker.matches(key, busy.get(key))

    figures["gil_held_s"] = SPIN_S
    figures["client_ttl_s"] = CLIENT_TTL_S
    figures["python_loop_iterations"] = spin_result["iterations"]
    figures["master_samples_during_spin"] = samples
    figures["reads_during_spin"] = reads
    figures["clients_expired"] = int(metric(master, "mooncake_master_clients_expired_total"))
    figures["bytes_verified"] = checker.bytes_verified


def test_store_calls_from_other_threads_proceed_while_one_thread_spins(store_factory,
                                                                       master_factory, figures):
    """In one process: while a thread spins holding the GIL only between
    bytecodes (the default switch interval), other threads' puts and gets
    go on, because each call releases the GIL for its whole C++ part."""
    # Short leases: the segment fills up in seconds and eviction must be
    # able to take what was read a moment ago.
    master = master_factory([f"--client_ttl={CLIENT_TTL_S}", "--default_kv_lease_ttl=100"])
    store = store_factory(on_master=master)
    checker = ValueChecker()
    stop = threading.Event()
    completed = []
    errors = []

    def worker(index):
        count = 0
        while not stop.is_set():
            key = make_key(f"spin-worker{index}", 256 * 1024 + count)
            if store.put(key, value_for(key)) != 0 or not checker.matches(key, store.get(key)):
                errors.append(key)
            count += 1
        completed.append(count)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in workers:
        thread.start()
    deadline = time.monotonic() + SPIN_S
    iterations = 0
    while time.monotonic() < deadline:
        iterations += 1
    stop.set()
    for thread in workers:
        thread.join(timeout=120)
    assert not errors
    assert sum(completed) > 0
    assert metric(master, "mooncake_master_clients_expired_total") == 0
    figures["spin_s"] = SPIN_S
    figures["python_loop_iterations"] = iterations
    figures["ops_by_other_threads"] = 2 * sum(completed)
    figures["bytes_verified"] = checker.bytes_verified
