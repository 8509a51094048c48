"""Helpers of the reliability suite: values that can be checked from their
key alone, the master's /metrics, process memory, and timing of calls.

Every value written by the suite is a pure function of its key (the key
names the size; the bytes come from a generator seeded by the key), so any
process can tell whether the bytes it read are exactly the ones written,
without sharing state with the writer. A read that returns a different
object's bytes, a partial object, or stale memory is caught.
"""

import hashlib
import re
import threading
import time
import uuid

import numpy as np

from mooncake_testing import wait_until

MiB = 1024 * 1024

# The master's answer codes the suite checks for (see ErrorCode).
RPC_FAIL = -900
OBJECT_NOT_FOUND = -704
REPLICA_IS_NOT_READY = -703
INVALID_PARAMS = -600
INVALID_KEY = -400


def make_key(prefix, size, index=None):
    """A key naming its value's size: "<prefix>/<size>/<index or random>"."""
    tail = uuid.uuid4().hex if index is None else str(index)
    return f"{prefix}/{size}/{tail}"


def size_of(key):
    return int(key.split("/")[-2])


def _seed(key):
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def value_for(key, size=None):
    """The bytes the suite stores under `key`."""
    size = size_of(key) if size is None else size
    return np.random.Generator(np.random.PCG64(_seed(key))).bytes(size)


def digest(data):
    return hashlib.blake2b(data, digest_size=16).digest()


class ValueChecker:
    """Expected digests per key, computed once; counts verified bytes.
    Thread-safe."""

    def __init__(self):
        self._expected = {}
        self._lock = threading.Lock()
        self.bytes_verified = 0
        self.values_verified = 0

    def expected_digest(self, key):
        found = self._expected.get(key)
        if found is None:
            found = digest(value_for(key))
            self._expected[key] = found
        return found

    def matches(self, key, data):
        """True when `data` is exactly the value of `key` (and counts it)."""
        data = bytes(data)
        if len(data) != size_of(key) or digest(data) != self.expected_digest(key):
            return False
        with self._lock:
            self.bytes_verified += len(data)
            self.values_verified += 1
        return True


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$")


def parse_metrics(text):
    """Prometheus text format -> {"name" or "name{labels}": float}."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line.strip())
        if match:
            name, labels, value = match.groups()
            samples[name + (labels or "")] = float(value)
    return samples


def master_metrics(master):
    return parse_metrics(master.metrics())


def metric(master, name):
    return master_metrics(master).get(name, 0.0)


def rss_bytes(pid):
    """Resident memory of a process (VmRSS in /proc/<pid>/status)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


class CallTimer:
    """Times calls: `with timer: ...`; keeps the count and the slowest."""

    def __init__(self):
        self.count = 0
        self.slowest_s = 0.0

    def __enter__(self):
        self._started = time.monotonic()
        return self

    def __exit__(self, *exc):
        elapsed = time.monotonic() - self._started
        self.count += 1
        self.slowest_s = max(self.slowest_s, elapsed)
        return False


def replica_segments(store, key):
    """Segment names holding the replicas of `key` ([] when none)."""
    return [replica.get_memory_descriptor().buffer_descriptor.transport_endpoint
            for replica in store.get_replica_desc(key)]


__all__ = [
    "CallTimer", "INVALID_KEY", "INVALID_PARAMS", "MiB", "OBJECT_NOT_FOUND", "RPC_FAIL",
    "REPLICA_IS_NOT_READY", "ValueChecker", "digest", "make_key", "master_metrics", "metric",
    "parse_metrics", "replica_segments", "rss_bytes", "size_of", "value_for", "wait_until",
]
