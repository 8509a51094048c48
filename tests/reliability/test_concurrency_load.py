"""Concurrency: 8 processes x 4 threads doing mixed put / get / remove /
is_exist on a small set of keys they all share, for a bounded time.

Several writers race on every key, so a value cannot be a function of its key
alone: each one carries its writer, a sequence number and a checksum over the
key and the whole value (reliability_helpers.stamped_value). Any get must
return SOME complete value written for that key, never a mix of two writes,
a truncated one or another key's bytes. Every answer code is checked against
the ones the API allows for that call under contention.

Then everything is removed and the master's resident memory must come back
near its baseline: the RSS after a warm-up of the same workload followed by
remove_all (allocator pools and index capacity reached by the warm-up are
part of the baseline, growth beyond it would be a leak).
"""

import concurrent.futures
import time

from reliability_helpers import (SUITE_PATHS, WORKER_PRELUDE, MiB, Sampler, metric, rss_bytes,
                                 wait_until)

PROCESSES = 8
THREADS = 4
KEYS = 512
WARMUP_S = 5
LOAD_S = 20
SEGMENT = 16 * MiB
LEASE_TTL_MS = 100
RSS_SLACK_BYTES = 32 * MiB
RSS_SLACK_RATIO = 0.25


# Runs in a store worker process: THREADS threads on one store until the
# deadline; returns counts per (call, answer), bytes verified and the first
# corrupted reads and unexpected answers.
LOAD = WORKER_PRELUDE + """
import os, random, sys, threading, time
from reliability_helpers import STAMP_OVERHEAD, stamped_value, stamped_writer

# Answers each call may give under contention (the spec's codes).
# A put of a key that exists answers 0 and keeps the value already there
# (OBJECT_ALREADY_EXISTS is tolerated too); its value must still be whole.
ALLOWED = {
    "put": {0, -705},
    "remove": {0, -704, -703, -706},  # NOT_FOUND, not ready (being put), leased
    "exist": {0, 1},
}
counts = {}
bytes_verified = [0]
corrupted = []
unexpected = []
lock = threading.Lock()

def count(name):
    with lock:
        counts[name] = counts.get(name, 0) + 1

def work(thread_index):
    rng = random.Random(args["seed"] * 1000 + thread_index)
    writer = args["worker"] * 100 + thread_index
    sequence = 0
    deadline = time.monotonic() + args["seconds"]
    while time.monotonic() < deadline:
        key = f"load/{rng.randrange(args['keys'])}"
        pick = rng.random()
        if pick < 0.35:
            sequence += 1
            payload = os.urandom(rng.randint(1, args["largest"] - STAMP_OVERHEAD))
            code = store.put(key, stamped_value(key, writer, sequence, payload))
            call = "put"
        elif pick < 0.65:
            data = store.get(key)
            if not data:
                count("get:miss")
                continue
            stamp = stamped_writer(key, data)
            if stamp is None:
                with lock:
                    corrupted.append((key, len(data), bytes(data[:32]).hex()))
                count("get:corrupted")
            else:
                with lock:
                    bytes_verified[0] += len(data)
                count("get:verified")
                if stamp[0] != writer:
                    count("read_other_writer")
            continue
        elif pick < 0.85:
            code = store.remove(key)
            call = "remove"
        else:
            code = store.is_exist(key)
            call = "exist"
        count(f"{call}:{code}")
        if code not in ALLOWED[call]:
            with lock:
                unexpected.append((call, key, code))

failures = []

def guarded(thread_index):
    try:
        work(thread_index)
    except BaseException:
        import traceback
        with lock:
            failures.append(traceback.format_exc())

threads = [threading.Thread(target=guarded, args=(i,)) for i in range(args["threads"])]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
result = {"counts": counts, "bytes_verified": bytes_verified[0],
          "corrupted": corrupted[:10], "corrupted_count": len(corrupted),
          "unexpected": unexpected[:10], "unexpected_count": len(unexpected),
          "failures": failures}
"""


class RssSampler(Sampler):
    """Peak resident memory of a process, sampled in a thread."""

    def __init__(self, pid, interval_s=0.1):
        super().__init__(interval_s)
        self._pid = pid
        self.peak = 0

    def sample(self):
        self.peak = max(self.peak, rss_bytes(self._pid))


def run_load(workers, seconds, seed):
    """The load on every worker at once; the merged results."""
    def one(index):
        return workers[index].run(LOAD, paths=SUITE_PATHS, worker=index, seed=seed,
                                  seconds=seconds, threads=THREADS, keys=KEYS,
                                  largest=128 * 1024)

    with concurrent.futures.ThreadPoolExecutor(len(workers)) as pool:
        results = list(pool.map(one, range(len(workers))))
    merged = {"counts": {}, "bytes_verified": 0, "corrupted": [], "corrupted_count": 0,
              "unexpected": [], "unexpected_count": 0, "failures": []}
    for result in results:
        for name, amount in result["counts"].items():
            merged["counts"][name] = merged["counts"].get(name, 0) + amount
        for name in ("bytes_verified", "corrupted_count", "unexpected_count"):
            merged[name] += result[name]
        merged["corrupted"] += result["corrupted"]
        merged["unexpected"] += result["unexpected"]
        merged["failures"] += result["failures"]
    assert not merged["failures"], "load threads raised:\n" + "\n".join(merged["failures"])
    return merged


def remove_everything(store, master):
    """remove_all until the master holds no object (leases of the last
    reads lapse after LEASE_TTL_MS)."""
    def empty():
        assert store.remove_all() >= 0
        return metric(master, "mooncake_master_object_count") == 0

    wait_until(empty, deadline_s=60, interval_s=0.2, what="remove_all to empty the master")


def test_processes_and_threads_on_overlapping_keys(master_factory, store_factory,
                                                   remote_factory, figures):
    master = master_factory([f"--default_kv_lease_ttl={LEASE_TTL_MS}"])
    pid = master.process.pid
    with concurrent.futures.ThreadPoolExecutor(PROCESSES) as pool:
        workers = list(pool.map(
            lambda _: remote_factory(on_master=master, global_segment_size=SEGMENT,
                                     local_buffer_size=SEGMENT),
            range(PROCESSES)))
    admin = store_factory(on_master=master, global_segment_size=SEGMENT,
                          local_buffer_size=SEGMENT)
    wait_until(lambda: metric(master, "mooncake_master_segments_mounted") == PROCESSES + 1,
               what="every segment to be mounted")
    figures["processes"] = PROCESSES
    figures["threads_per_process"] = THREADS
    figures["shared_keys"] = KEYS

    warmup = run_load(workers, WARMUP_S, seed=1)
    assert warmup["corrupted_count"] == 0, f"corrupted reads: {warmup['corrupted']}"
    remove_everything(admin, master)
    baseline = rss_bytes(pid)

    started = time.monotonic()
    with RssSampler(pid) as sampler:
        load = run_load(workers, LOAD_S, seed=2)
    figures["load_s"] = round(time.monotonic() - started, 1)
    counts = load["counts"]
    figures["reads_of_other_writers_values"] = counts.pop("read_other_writer", 0)
    for call in ("put", "get", "remove", "exist"):
        figures[f"ops_{call}"] = sum(amount for name, amount in counts.items()
                                     if name.startswith(call + ":"))
    figures["ops_total"] = sum(counts.values())
    figures["answers"] = dict(sorted(counts.items()))
    figures["bytes_verified"] = load["bytes_verified"]
    figures["values_verified"] = counts.get("get:verified", 0)
    figures["corrupted_reads"] = load["corrupted_count"]
    figures["unexpected_answers"] = load["unexpected_count"]

    crashed = [index for index, worker in enumerate(workers) if worker.process.poll() is not None]
    figures["crashed_workers"] = len(crashed)
    assert not crashed, f"workers {crashed} died"
    assert load["corrupted_count"] == 0, f"corrupted reads: {load['corrupted']}"
    assert load["unexpected_count"] == 0, f"unexpected answers: {load['unexpected']}"
    # The load really raced: readers saw other writers' values, keys were
    # removed and written again.
    assert figures["reads_of_other_writers_values"] > 0, counts
    assert counts.get("put:0", 0) > 0 and counts.get("remove:0", 0) > 0, counts

    remove_everything(admin, master)
    assert metric(master, "mooncake_master_used_bytes") == 0
    limit = baseline + max(RSS_SLACK_BYTES, int(RSS_SLACK_RATIO * baseline))
    # Freed memory may take a moment to leave the allocator's caches.
    try:
        wait_until(lambda: rss_bytes(pid) <= limit, deadline_s=20, interval_s=0.5,
                   what="master RSS to return near its baseline")
    finally:
        after = rss_bytes(pid)
        figures["master_rss_baseline_mib"] = round(baseline / MiB, 1)
        figures["master_rss_peak_mib"] = round(max(sampler.peak, baseline) / MiB, 1)
        figures["master_rss_after_mib"] = round(after / MiB, 1)
        figures["master_rss_limit_mib"] = round(limit / MiB, 1)
    assert metric(master, "mooncake_master_object_count") == 0
