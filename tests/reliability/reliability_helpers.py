"""Helpers of the reliability suite: values that can be checked from their
key alone, the master's /metrics, process memory, and timing of calls.

Every value written by the suite is a pure function of its key (the key
names the size; the bytes come from a generator seeded by the key), so any
process can tell whether the bytes it read are exactly the ones written,
without sharing state with the writer. A read that returns a different
object's bytes, a partial object, or stale memory is caught.
"""

import hashlib
import os
import re
import socket
import struct
import threading
import time
import uuid

import numpy as np

from mooncake_testing import wait_until

MiB = 1024 * 1024

# Worker scripts (store_worker.py runs them with `args`) start with this, so
# that they can import this module: pass paths=SUITE_PATHS in the args.
SUITE_PATHS = [os.path.dirname(os.path.abspath(__file__)),
               os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                            "python")]
WORKER_PRELUDE = """
import sys
for path in args["paths"]:
    if path not in sys.path:
        sys.path.insert(0, path)
"""

# Worker scripts that leave a loop running in the worker between two run()
# calls define `loop()`, the threading.Event `stop` it watches and the dict
# `outcome` it fills, and end with START_LOOP; a later run(STOP_LOOP,
# join_s=...) stops the loop and returns a copy of `outcome`.
START_LOOP = """
import threading, __main__
thread = threading.Thread(target=loop, daemon=True)
thread.start()
__main__.background_loop = (stop, thread, outcome)
"""
STOP_LOOP = """
import __main__
stop, thread, outcome = __main__.background_loop
stop.set()
thread.join(args["join_s"])
result = dict(outcome)
"""


def progress_indices(path):
    """The indices a worker loop appended to its progress file (one a line)."""
    with open(path) as progress:
        return [int(line) for line in progress.read().split()]


def last_index(path):
    """The last index in a progress file; -1 while it is empty. (Only the
    last line is parsed: readers poll long files in tight loops.)"""
    with open(path) as progress:
        lines = progress.read().split()
    return int(lines[-1]) if lines else -1


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


# Values several writers race to put under one key: each one carries its
# writer, a sequence number and a checksum over the key and the whole value,
# so a reader can tell a complete value written for this key from a mix of
# two writes, a truncated one, or another key's bytes.
_STAMP = struct.Struct("<4sQQI")
_STAMP_MAGIC = b"MCRV"
_STAMP_DIGEST = 16
STAMP_OVERHEAD = _STAMP.size + _STAMP_DIGEST


def stamped_value(key, writer, sequence, payload):
    """`payload` framed as a self-verifying value of `key`."""
    head = _STAMP.pack(_STAMP_MAGIC, writer, sequence, len(payload))
    tail = hashlib.blake2b(key.encode() + head + payload, digest_size=_STAMP_DIGEST).digest()
    return head + payload + tail


def stamped_writer(key, data):
    """(writer, sequence) of a complete stamped value of `key`, or None when
    `data` is not one."""
    data = bytes(data)
    if len(data) < STAMP_OVERHEAD:
        return None
    magic, writer, sequence, length = _STAMP.unpack_from(data)
    if magic != _STAMP_MAGIC or length != len(data) - STAMP_OVERHEAD:
        return None
    body, tail = data[:-_STAMP_DIGEST], data[-_STAMP_DIGEST:]
    if hashlib.blake2b(key.encode() + body, digest_size=_STAMP_DIGEST).digest() != tail:
        return None
    return writer, sequence


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


class Sampler:
    """Calls sample() every interval_s in a daemon thread while a `with`
    block runs; subclasses define sample() and keep what it measures."""

    def __init__(self, interval_s):
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(30)
        return False

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval_s)

    def sample(self):
        raise NotImplementedError


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


def send_garbage(port, payload, read_timeout_s=0.5, complete=None, host="127.0.0.1"):
    """Connects to host:port, sends `payload` (as much as the peer accepts
    before closing), and returns what the peer answered before it closed, the
    timeout ran out, or complete(answer) became true."""
    answer = b""
    with socket.create_connection((host, port), timeout=10) as connection:
        try:
            connection.sendall(payload)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass  # the peer gave up on us: what it said before still counts
        deadline = time.monotonic() + read_timeout_s
        while complete is None or not complete(answer):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            connection.settimeout(left)
            try:
                chunk = connection.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not chunk:
                break
            answer += chunk
    return answer


def replica_segments(store, key):
    """Segment names holding the replicas of `key` ([] when none)."""
    return [replica.get_memory_descriptor().buffer_descriptor.transport_endpoint
            for replica in store.get_replica_desc(key) if replica.is_memory_replica()]


__all__ = [
    "START_LOOP", "STOP_LOOP", "SUITE_PATHS", "WORKER_PRELUDE",
    "CallTimer", "INVALID_KEY", "INVALID_PARAMS", "MiB", "OBJECT_NOT_FOUND", "RPC_FAIL",
    "REPLICA_IS_NOT_READY", "STAMP_OVERHEAD", "Sampler", "ValueChecker", "digest", "last_index", "make_key",
    "master_metrics", "metric", "parse_metrics", "progress_indices", "replica_segments", "rss_bytes", "send_garbage",
    "size_of", "stamped_value", "stamped_writer", "value_for", "wait_until",
]
