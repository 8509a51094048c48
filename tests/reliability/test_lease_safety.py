"""Leases and read safety: a get returns success only with bytes of its own
key, written while the object was protected (docs/reliability.md, "Leases
and read safety").

- 1 ms leases and a busy segment: an owner removes a key as soon as the
  master allows, puts another key of the same size into the freed range and
  the first key back, while readers loop over every get flavour.
- Same-key races: writers put / remove one small set of keys with every put
  call while readers get them.
- Master restart during a large read: the new master lost every object, the
  owner's next put gets the range a reader may still be copying.
- Client churn: segments whose owner leaves while a put to them runs; every
  put still succeeds (on the segments that stay).
- Clean close: the master forgets the client at once; it is neither logged
  nor counted as expired.

Every value carries its key, its writer and a version (stamped_value, or a
word pattern for the large objects), so a reader can tell a complete value
of its key from another key's bytes or a mix of two writes.
"""

import concurrent.futures
import os
import random
import time

from reliability_helpers import SUITE_PATHS, WORKER_PRELUDE, MiB, metric, wait_until

# Seconds of churn per scenario: close to the minute, and under the
# 60 s a store worker call may take (RemoteStore deadline).
CHURN_S = float(os.environ.get("MOONCAKE_LEASE_CHURN_S", "45"))

# ---- workers (run in store worker processes) ---------------------------------

# Helpers every worker below starts with.
COMMON = WORKER_PRELUDE + """
import os, random, time
import numpy as np
from mooncake.store import ReplicateConfig
from reliability_helpers import STAMP_OVERHEAD, stamped_value, stamped_writer
deadline = time.monotonic() + args["seconds"]
counts = {}

def count(name, by=1):
    counts[name] = counts.get(name, 0) + by

def on_self():
    config = ReplicateConfig()
    config.preferred_segment = store.get_hostname()
    return config
"""

# The owner of the busy segment: keys "busy/a" and "busy/b" take turns in
# one range, each removed as soon as the master allows.
BUSY_OWNER = COMMON + """
size = args["size"]
config = on_self()

def put(key, version):
    value = stamped_value(key, 1, version, os.urandom(size))
    while time.monotonic() < deadline:
        code = store.put(key, value, config)
        if code == 0:
            return True
        count(f"put:{code}")
    return False

def remove(key):
    while time.monotonic() < deadline:
        code = store.remove(key)
        if code in (0, -704):
            return True
        count(f"remove:{code}")  # -706: still leased
    return False

for key in args["fixed"]:
    put(key, 0)
version = 0
put("busy/a", version)
while time.monotonic() < deadline:
    version += 1
    if not (remove("busy/a") and put("busy/b", version) and remove("busy/b") and
            put("busy/a", version)):
        break
    count("cycles")
result = counts
"""

# Writers racing on a few keys with every put call, removing after each put.
SAME_KEY_WRITER = COMMON + """
rng = random.Random(args["writer"])
largest = args["largest"]
buffer = np.zeros(largest + STAMP_OVERHEAD, dtype=np.uint8)
assert store.register_buffer(buffer.ctypes.data, buffer.nbytes) == 0
families = ("put", "put_from", "put_parts", "put_batch", "batch_put_from")
sequence = 0
while time.monotonic() < deadline:
    key = rng.choice(args["keys"])
    sequence += 1
    value = stamped_value(key, args["writer"], sequence, os.urandom(rng.randint(1, largest)))
    family = families[sequence % len(families)]
    if family == "put":
        code = store.put(key, value)
    elif family == "put_parts":
        third = len(value) // 3
        code = store.put_parts(key, value[:third], value[third:2 * third], value[2 * third:])
    elif family == "put_batch":
        code = store.put_batch([key], [value])
    else:
        buffer[:len(value)] = np.frombuffer(value, dtype=np.uint8)
        if family == "put_from":
            code = store.put_from(key, buffer.ctypes.data, len(value))
        else:
            code = store.batch_put_from([key], [buffer.ctypes.data], [len(value)])[0]
    count(f"{family}:{code}")
    count(f"remove:{store.remove(key)}")
result = counts
"""

# A reader looping over every get flavour; counts verified values and keeps
# the first corrupted ones.
READER = COMMON + """
keys = args["keys"]
slot = args["slot"]
buffer = np.zeros(len(keys) * slot, dtype=np.uint8)
assert store.register_buffer(buffer.ctypes.data, buffer.nbytes) == 0
pointers = [buffer.ctypes.data + i * slot for i in range(len(keys))]
corrupted = []
rng = random.Random(args["seed"])

def check(key, data):
    if stamped_writer(key, data) is None:
        count("corrupted")
        if len(corrupted) < 10:
            corrupted.append((key, len(data), bytes(data[:40]).hex()))
    else:
        count("verified")

def from_slot(i, size):
    return buffer[i * slot:i * slot + size].tobytes()

flavours = ("batch_get_into", "get_into", "get", "get_batch", "get_buffer",
            "batch_get_buffer")
turn = 0
while time.monotonic() < deadline:
    flavour = flavours[turn % len(flavours)]
    turn += 1
    count(f"calls:{flavour}")
    if flavour == "batch_get_into":
        sizes = store.batch_get_into(keys, pointers, [slot] * len(keys))
        for i, size in enumerate(sizes):
            if size > 0:
                check(keys[i], from_slot(i, size))
            else:
                count(f"failed:{size}")
    elif flavour == "get_into":
        i = rng.randrange(len(keys))
        size = store.get_into(keys[i], pointers[i], slot)
        if size > 0:
            check(keys[i], from_slot(i, size))
        else:
            count(f"failed:{size}")
    elif flavour == "get":
        key = rng.choice(keys)
        data = store.get(key)
        if data:
            check(key, data)
    elif flavour == "get_batch":
        for key, data in zip(keys, store.get_batch(keys)):
            if data:
                check(key, data)
    elif flavour == "get_buffer":
        key = rng.choice(keys)
        handle = store.get_buffer(key)
        if handle:
            check(key, bytes(memoryview(handle)))
    else:
        for key, handle in zip(keys, store.batch_get_buffer(keys)):
            if handle:
                check(key, bytes(memoryview(handle)))
result = {"counts": counts, "corrupted": corrupted}
"""


def run_all(jobs):
    """Runs (remote, code, args) jobs at once; returns their results."""
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(remote.run, code, **args) for remote, code, args in jobs]
        return [future.result() for future in futures]


def test_short_leases_busy_segment_and_same_key_races(master_factory, remote_factory, figures):
    """Issue 16 items 1 and 2 at once, on a master with 1 ms leases."""
    master = master_factory(["--default_kv_lease_ttl=1"])
    owner = remote_factory(on_master=master, global_segment_size=32 * MiB)
    writers = [remote_factory(on_master=master, global_segment_size=32 * MiB) for _ in range(2)]
    readers = [remote_factory(on_master=master, global_segment_size=16 * MiB) for _ in range(2)]
    size = 32 * 1024
    busy_keys = [f"busy/fixed{i}" for i in range(6)] + ["busy/a", "busy/b"]
    same_keys = [f"same/{i}" for i in range(3)]
    largest = 48 * 1024
    common = {"paths": SUITE_PATHS, "seconds": CHURN_S}
    jobs = [(owner, BUSY_OWNER, dict(common, size=size, fixed=busy_keys[:-2]))]
    jobs += [(writer, SAME_KEY_WRITER, dict(common, writer=10 + i, keys=same_keys,
                                            largest=largest))
             for i, writer in enumerate(writers)]
    jobs += [(readers[0], READER, dict(common, keys=busy_keys, slot=64 * 1024, seed=1)),
             (readers[1], READER, dict(common, keys=same_keys, slot=64 * 1024, seed=2))]
    results = run_all(jobs)
    owner_counts, busy_read, same_read = results[0], results[3], results[4]

    figures["busy_cycles"] = owner_counts.get("cycles", 0)
    figures["busy_values_verified"] = busy_read["counts"].get("verified", 0)
    figures["busy_corrupted"] = busy_read["counts"].get("corrupted", 0)
    figures["same_key_puts"] = sum(n for counts in results[1:3] for name, n in counts.items()
                                   if not name.startswith("remove"))
    figures["same_key_values_verified"] = same_read["counts"].get("verified", 0)
    figures["same_key_corrupted"] = same_read["counts"].get("corrupted", 0)
    figures["lease_expired_reads"] = sum(r["counts"].get("failed:-707", 0)
                                         for r in (busy_read, same_read))
    assert busy_read["counts"].get("corrupted", 0) == 0, busy_read["corrupted"]
    assert same_read["counts"].get("corrupted", 0) == 0, same_read["corrupted"]
    # The churn ran: the swapped keys changed hands often and were read.
    assert figures["busy_cycles"] >= 10, owner_counts
    assert figures["busy_values_verified"] >= 100, busy_read["counts"]
    assert figures["same_key_values_verified"] >= 100, same_read["counts"]


# ---- master restart during a large read -------------------------------------

# Large values are words (key_id << 40 | version): a read is whole when
# every word is one value of its key.
RESTART_READ_LOOP = COMMON + """
import threading, __main__
size = args["size"]
buffer = np.zeros(size, dtype=np.uint8)
assert store.register_buffer(buffer.ctypes.data, size) == 0
words = buffer.view(np.uint64)
stop = threading.Event()
corrupted = []

def loop():
    while not stop.is_set():
        got = store.get_into(args["key"], buffer.ctypes.data, size)
        if got != size:
            count(f"failed:{got}")
            time.sleep(0.002)
            continue
        first = int(words[0])
        whole = int(np.count_nonzero(words == first))
        if first >> 40 != args["key_id"] or whole != words.size:
            count("corrupted")
            foreign = int(np.count_nonzero((words >> np.uint64(40)) != args["key_id"])) * 8
            corrupted.append({"first": hex(first), "foreign_bytes": foreign})
        else:
            count("verified")

thread = threading.Thread(target=loop, daemon=True)
thread.start()
__main__.read_loop = (stop, thread, counts, corrupted)
result = True
"""

RESTART_READ_STATS = """
import __main__
stop, thread, counts, corrupted = __main__.read_loop
if args.get("stop"):
    stop.set()
    thread.join(60)
result = {"counts": dict(counts), "corrupted": corrupted[:10]}
"""

# Puts (retrying until it lands, up to `patience` s) or removes one large
# value from a registered buffer; returns the seconds it took.
RESTART_OWNER_SETUP = COMMON + """
import __main__
buffer = np.zeros(args["size"], dtype=np.uint8)
assert store.register_buffer(buffer.ctypes.data, buffer.nbytes) == 0
__main__.owner_buffer = buffer
result = True
"""

RESTART_OWNER_PUT = COMMON + """
import __main__
buffer = __main__.owner_buffer
buffer.view(np.uint64)[:] = (args["key_id"] << 40) | args["version"]
started = time.monotonic()
codes = {}
while True:
    code = store.put_from(args["key"], buffer.ctypes.data, buffer.nbytes, on_self())
    if code == 0 or time.monotonic() - started > args["patience"]:
        break
    codes[code] = codes.get(code, 0) + 1
    time.sleep(0.005)
result = {"code": code, "seconds": time.monotonic() - started, "codes": codes}
"""

RESTART_OWNER_REMOVE = """
import time
started = time.monotonic()
while store.remove(args["key"]) not in (0, -704) and time.monotonic() - started < 30:
    time.sleep(0.005)
result = True
"""

RESTART_SIZE = 256 * MiB
RESTART_LEASE_MS = 2000


def test_master_restart_during_large_reads(master_factory, remote_factory, figures):
    """Issue 16 item 3: the master is killed and restarted while a reader
    copies a large object; the owner's next put must not overwrite a range
    the reader may still be copying under its old lease."""
    flags = [f"--default_kv_lease_ttl={RESTART_LEASE_MS}", "--client_ttl=2"]
    master = master_factory(flags)
    # The owner's segment holds exactly one object: every put lands in the
    # range the reader reads.
    owner = remote_factory(on_master=master, global_segment_size=RESTART_SIZE + MiB)
    reader = remote_factory(on_master=master, global_segment_size=16 * MiB,
                            local_buffer_size=16 * MiB)
    common = {"paths": SUITE_PATHS, "seconds": 0, "size": RESTART_SIZE}
    owner.run(RESTART_OWNER_SETUP, **common)
    reader_key, reader_key_id = "restart/read", 1
    put = owner.run(RESTART_OWNER_PUT, key=reader_key, key_id=reader_key_id, version=0,
                    patience=30, **common)
    assert put["code"] == 0, put
    reader.run(RESTART_READ_LOOP, key=reader_key, key_id=reader_key_id, **common)

    def verified():
        # Reads that returned success, whole or not.
        counts = reader.run(RESTART_READ_STATS)["counts"]
        return counts.get("verified", 0) + counts.get("corrupted", 0)

    started = time.monotonic()
    put_after_restart = []
    version = 0
    while time.monotonic() - started < CHURN_S:
        version += 1
        before = verified()
        try:
            wait_until(lambda: verified() > before, deadline_s=30,
                       what="a successful large read")
        except AssertionError as error:
            raise AssertionError(f"{error}; reader: {reader.run(RESTART_READ_STATS)}") from None
        # Kill in the middle of the next read.
        time.sleep(random.uniform(0.0, 0.2))
        master.process.kill()
        master.process.wait()
        figures.add("restarts")
        master = master_factory(flags, port=master.port, http_port=master.http_port)
        other = owner.run(RESTART_OWNER_PUT, key="restart/other", key_id=2, version=version,
                          patience=30, **common)
        assert other["code"] == 0, other
        put_after_restart.append(other["seconds"])
        owner.run(RESTART_OWNER_REMOVE, key="restart/other", **common)
        again = owner.run(RESTART_OWNER_PUT, key=reader_key, key_id=reader_key_id,
                          version=version, patience=30, **common)
        assert again["code"] == 0, again
    stats = reader.run(RESTART_READ_STATS, stop=True)
    figures["large_reads_verified"] = stats["counts"].get("verified", 0)
    figures["large_reads_failed"] = sum(n for name, n in stats["counts"].items()
                                        if name.startswith("failed"))
    figures["large_reads_corrupted"] = stats["counts"].get("corrupted", 0)
    figures["slowest_restart_to_put_s"] = round(max(put_after_restart), 2)
    assert stats["counts"].get("corrupted", 0) == 0, stats["corrupted"]
    assert figures["restarts"] >= 3


# ---- client churn: the put's target segment leaves mid-put ------------------

CHURN_WRITER = COMMON + """
size = args["size"]
buffer = np.zeros(size, dtype=np.uint8)
assert store.register_buffer(buffer.ctypes.data, size) == 0
failures = []
i = 0
while time.monotonic() < deadline:
    i += 1
    key = f"churn/{args['writer']}/{i}"
    value = stamped_value(key, args["writer"], i, os.urandom(size - STAMP_OVERHEAD))
    buffer[:] = np.frombuffer(value, dtype=np.uint8)
    code = store.put_from(key, buffer.ctypes.data, size)
    count(f"put:{code}")
    if code != 0:
        failures.append((key, code))
        continue
    store.remove(key)
result = {"counts": counts, "failures": failures[:20]}
"""


def test_puts_survive_segments_leaving_mid_put(master_factory, remote_factory, figures):
    """Issue 16 item 8: hosts join and leave (clean close or kill -9) while a
    writer puts; a put whose segment left must land on the live ones."""
    master = master_factory(["--client_ttl=2"])
    stable = remote_factory(on_master=master, global_segment_size=128 * MiB)
    writers = [remote_factory(on_master=master, global_segment_size=0) for _ in range(2)]
    assert stable.get_hostname()
    common = {"paths": SUITE_PATHS, "seconds": CHURN_S, "size": MiB}
    with concurrent.futures.ThreadPoolExecutor(len(writers)) as pool:
        futures = [pool.submit(writer.run, CHURN_WRITER, writer=i, **common)
                   for i, writer in enumerate(writers)]
        rng = random.Random(16)
        deadline = time.monotonic() + CHURN_S - 2
        while time.monotonic() < deadline:
            host = remote_factory(on_master=master, global_segment_size=64 * MiB)
            time.sleep(rng.uniform(0.3, 1.2))
            if rng.random() < 0.5:
                host.stop()
                figures.add("hosts_closed")
            else:
                host.kill()
                figures.add("hosts_killed")
        results = [future.result() for future in futures]
    puts = sum(n for r in results for name, n in r["counts"].items() if name.startswith("put"))
    failed = [f for r in results for f in r["failures"]]
    figures["puts"] = puts
    figures["puts_failed"] = sum(n for r in results for name, n in r["counts"].items()
                                 if name.startswith("put:") and name != "put:0")
    assert figures["puts_failed"] == 0, failed
    assert puts >= 100
    assert figures.get("hosts_closed", 0) + figures.get("hosts_killed", 0) >= 5


# ---- clean close -------------------------------------------------------------

def test_clean_close_unregisters_at_once(master_factory, remote_factory, figures):
    """Issue 16 item 9: a closed client is gone from the master at once and
    is not counted or logged as expired; a killed one still expires."""
    master = master_factory(["--client_ttl=2"])
    clients = [remote_factory(on_master=master, global_segment_size=size)
               for size in (16 * MiB, 16 * MiB, 0)]
    wait_until(lambda: metric(master, "mooncake_master_clients_alive") == 3, deadline_s=10,
               what="three clients alive")
    closed_at = time.monotonic()
    for client in clients:
        client.stop()
    wait_until(lambda: metric(master, "mooncake_master_clients_alive") == 0, deadline_s=2,
               interval_s=0.02, what="closed clients gone from the master")
    figures["close_to_unregistered_s"] = round(time.monotonic() - closed_at, 2)
    assert metric(master, "mooncake_master_segments_mounted") == 0
    time.sleep(3.5)  # past client_ttl: nothing may expire now
    assert metric(master, "mooncake_master_clients_expired_total") == 0
    assert "expired" not in master.log_text()
    assert metric(master, "mooncake_master_clients_alive") == 0

    # A crash is still noticed: the counter works.
    crashed = remote_factory(on_master=master, global_segment_size=16 * MiB)
    wait_until(lambda: metric(master, "mooncake_master_clients_alive") == 1, deadline_s=10)
    crashed.kill()
    wait_until(lambda: metric(master, "mooncake_master_clients_expired_total") == 1,
               deadline_s=10, what="the killed client to expire")
    figures["clients_closed"] = len(clients)
