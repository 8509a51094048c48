"""Memory pressure: three times the pool's capacity is written into it.

What the design guarantees (src/master/eviction.h, master_service.cpp):
- Allocation never exceeds a segment, so used bytes never exceed capacity.
- Usage above the high watermark wakes the background eviction round right
  away (and every 200 ms maintenance tick re-checks); a round evicts at least
  eviction_ratio of the objects and keeps going until usage is at or below the
  watermark. Between a put that crosses the watermark and that round, usage
  may briefly sit above it: the test measures that window and requires it to
  be short, and requires usage to settle at or below the watermark once the
  writes stop.
- A put that finds no space evicts synchronously before answering, so puts
  succeed; NO_AVAILABLE_HANDLE is tolerated only as a transient answer that a
  retry of the same put cures (fragmentation right after a round).
- Eviction takes the least recently used regular objects and reaches
  soft-pinned ones only when nothing else is evictable.
- A get answers the exact bytes or OBJECT_NOT_FOUND, never another object's
  bytes: every read is checked against its key's checksum.
"""

import concurrent.futures
import math
import random
import time

import numpy as np

from mooncake.store import ReplicateConfig
from reliability_helpers import (OBJECT_NOT_FOUND, SUITE_PATHS, WORKER_PRELUDE, MiB, Sampler,
                                 ValueChecker, make_key, master_metrics, metric, value_for,
                                 wait_until)

NO_AVAILABLE_HANDLE = -200
SEGMENT = 32 * MiB
WATERMARK = 0.9
EVICTION_RATIO = 0.1
LEASE_TTL_MS = 500
SMALLEST, LARGEST = 4 * 1024, 2 * MiB
PINNED_COUNT = 16
PINNED_SIZE = 256 * 1024
# How long usage may stay above the watermark without a sample below it:
# far above what a woken eviction round needs, even on a loaded machine.
LONGEST_OVER_WATERMARK_S = 5.0
PUT_ATTEMPTS = 5


# The peer writes its share of the flood from its own process at the same
# time, so puts race for space (and for synchronous eviction rounds).
PEER_WRITES = WORKER_PRELUDE + """
import math, random, sys, time
from reliability_helpers import make_key, value_for
rng = random.Random(args["seed"])
keys, retries, written = [], 0, 0
while written < args["budget"]:
    size = int(math.exp(rng.uniform(math.log(args["smallest"]), math.log(args["largest"]))))
    key = make_key("pressure-peer", size, len(keys))
    for attempt in range(1, args["attempts"] + 1):
        code = store.put(key, value_for(key))
        if code == 0:
            break
        if code != -200:
            raise AssertionError(f"put of {key} failed with {code}")
        retries += 1
        time.sleep(0.05 * attempt)
    else:
        raise AssertionError(f"put of {key} still NO_AVAILABLE_HANDLE")
    keys.append(key)
    written += size
result = {"keys": keys, "retries": retries, "bytes": written}
"""


class UsageSampler(Sampler):
    """Samples used/capacity from /metrics in a thread while the test writes."""

    def __init__(self, master, interval_s=0.02):
        super().__init__(interval_s)
        self._master = master
        self.samples = []  # (monotonic time, used, capacity)
        self.errors = 0

    def sample(self):
        try:
            metrics = master_metrics(self._master)
        except OSError:
            self.errors += 1
            return
        self.samples.append((time.monotonic(), metrics.get("mooncake_master_used_bytes", 0.0),
                             metrics.get("mooncake_master_capacity_bytes", 0.0)))

    def longest_over(self, ratio):
        """Longest span (s) from a sample above `ratio` to the next sample at
        or below it."""
        longest, since = 0.0, None
        for at, used, capacity in self.samples:
            over = used > ratio * capacity
            if over and since is None:
                since = at
            elif not over and since is not None:
                longest, since = max(longest, at - since), None
        if since is not None:
            longest = max(longest, self.samples[-1][0] - since)
        return longest


def random_size(rng):
    """Log-uniform between SMALLEST and LARGEST: many small, some large."""
    return int(math.exp(rng.uniform(math.log(SMALLEST), math.log(LARGEST))))


def put_with_retry(store, key, config, figures):
    """Puts `key`; NO_AVAILABLE_HANDLE is retried (and counted), anything
    else fails the test. Returns the attempts made."""
    value = value_for(key)
    for attempt in range(1, PUT_ATTEMPTS + 1):
        code = store.put(key, value, config)
        if code == 0:
            return attempt
        assert code == NO_AVAILABLE_HANDLE, f"put of {key} failed with {code}"
        figures.add("puts_no_available_handle")
        time.sleep(0.05 * attempt)
    raise AssertionError(f"put of {key} still NO_AVAILABLE_HANDLE after {PUT_ATTEMPTS} attempts")


def test_three_times_capacity_stays_under_watermark(master_factory, store_factory,
                                                    remote_factory, figures):
    master = master_factory([
        f"--eviction_high_watermark_ratio={WATERMARK}",
        f"--eviction_ratio={EVICTION_RATIO}",
        f"--default_kv_lease_ttl={LEASE_TTL_MS}",
    ])
    app = store_factory(on_master=master, global_segment_size=SEGMENT,
                        local_buffer_size=4 * LARGEST)
    peer = remote_factory(on_master=master, global_segment_size=SEGMENT)
    wait_until(lambda: metric(master, "mooncake_master_segments_mounted") == 2,
               what="both segments to be mounted")
    capacity = metric(master, "mooncake_master_capacity_bytes")
    assert capacity == 2 * SEGMENT
    checker = ValueChecker()
    rng = random.Random(20240611)
    read_buffer = np.zeros(LARGEST, dtype=np.uint8)
    assert app.register_buffer(read_buffer.ctypes.data, read_buffer.nbytes) == 0

    # Written first, so the oldest objects of the pool: without their soft
    # pin LRU would take them first, as it must take the unpinned control
    # group written at the same time.
    pinned = [make_key("pressure-pinned", PINNED_SIZE, i) for i in range(PINNED_COUNT)]
    control = [make_key("pressure-control", PINNED_SIZE, i) for i in range(PINNED_COUNT)]
    for pinned_key, control_key in zip(pinned, control):
        put_with_retry(app, pinned_key, ReplicateConfig(with_soft_pin=True), figures)
        put_with_retry(app, control_key, ReplicateConfig(), figures)

    written = []
    bytes_written = 2 * PINNED_COUNT * PINNED_SIZE
    gets = not_found = 0
    peer_budget = int(1.5 * capacity)
    with UsageSampler(master) as sampler, concurrent.futures.ThreadPoolExecutor(1) as pool:
        peer_writing = pool.submit(peer.run, PEER_WRITES, paths=SUITE_PATHS, seed=7,
                                   budget=peer_budget, smallest=SMALLEST, largest=LARGEST,
                                   attempts=PUT_ATTEMPTS)
        while bytes_written < 3 * capacity - peer_budget:
            size = random_size(rng)
            key = make_key("pressure", size, len(written))
            put_with_retry(app, key, ReplicateConfig(), figures)
            written.append(key)
            bytes_written += size
            # Read back an earlier object: exact bytes or OBJECT_NOT_FOUND.
            earlier = rng.choice(written)
            answer = app.get_into(earlier, read_buffer.ctypes.data, read_buffer.nbytes)
            gets += 1
            if answer == OBJECT_NOT_FOUND:
                not_found += 1
            else:
                assert answer > 0, f"get of {earlier} failed with {answer}"
                assert checker.matches(earlier, read_buffer[:answer]), f"{earlier}: wrong bytes"
        peer_wrote = peer_writing.result()
        figures.add("puts_no_available_handle", peer_wrote["retries"])
        bytes_written += peer_wrote["bytes"]
        written += peer_wrote["keys"]
        written_at = time.monotonic()
        wait_until(lambda: metric(master, "mooncake_master_usage_ratio") <= WATERMARK,
                   deadline_s=60, what="usage to settle under the high watermark")
        figures["settle_after_writes_s"] = round(time.monotonic() - written_at, 2)
        time.sleep(0.5)  # a few samples of the settled pool

    samples = sampler.samples
    assert len(samples) > 10, f"only {len(samples)} usage samples"
    max_ratio = max(used / capacity for _, used, capacity in samples)
    over = sum(1 for _, used, capacity in samples if used > WATERMARK * capacity)
    longest_over = sampler.longest_over(WATERMARK)
    stats = master_metrics(master)
    figures["pool_capacity_bytes"] = int(capacity)
    figures["bytes_written"] = bytes_written
    figures["puts"] = len(written) + 2 * PINNED_COUNT
    figures["writers"] = 2
    figures["gets_during_writes"] = gets
    figures["gets_not_found"] = not_found
    figures["evicted_objects"] = int(stats["mooncake_master_evictions_total"])
    figures["eviction_rounds"] = int(stats["mooncake_master_eviction_rounds_total"])
    figures["high_watermark"] = WATERMARK
    figures["max_usage_ratio"] = round(max_ratio, 4)
    figures["usage_samples"] = len(samples)
    figures["usage_samples_over_watermark"] = over
    figures["longest_over_watermark_s"] = round(longest_over, 3)

    assert bytes_written >= 3 * capacity
    assert all(used <= capacity for _, used, capacity in samples), "usage above capacity"
    assert longest_over < LONGEST_OVER_WATERMARK_S, \
        f"usage stayed above the watermark for {longest_over:.1f}s"
    assert samples[-1][1] <= WATERMARK * samples[-1][2]
    assert stats["mooncake_master_evictions_total"] > 0

    # Every object: exact bytes or gone.
    survivors = 0
    for key in written:
        data = peer.get(key)
        if data:
            assert checker.matches(key, data), f"{key}: wrong bytes"
            survivors += 1
        else:
            assert app.is_exist(key) == 0, f"{key}: get failed but the object exists"
    assert survivors > 0, "nothing survived: the pool holds unpinned objects"
    assert survivors < len(written), "nothing was evicted"
    # Soft-pinned objects survived all of it while unpinned ones were evicted,
    # the control group, as old as they are, among the first.
    for key in pinned:
        assert checker.matches(key, app.get(key)), f"soft-pinned {key} lost"
    control_left = sum(1 for key in control if app.is_exist(key) == 1)
    assert control_left == 0, f"{control_left} old unpinned control objects never evicted"
    figures["objects_surviving"] = survivors + PINNED_COUNT
    figures["soft_pinned_survived"] = f"{PINNED_COUNT}/{PINNED_COUNT}"
    figures["bytes_verified"] = checker.bytes_verified
    figures["values_verified"] = checker.values_verified
    app.unregister_buffer(read_buffer.ctypes.data)
