"""The upsert family replaces values on the master (docs/python_api.md,
"Upsert"): readers in another process never see a mix of two values, a
failed upsert that could not start keeps the old value, an unread value of
the same size is rewritten in place."""

import threading
import urllib.request
import time

from conftest import MiB
from mooncake_testing import unique_key

NO_AVAILABLE_HANDLE = -200

# Runs in the reader's process: polls the key until told to stop (a key
# written by the test), checking every value it gets.
POLL_READER = """
import time
size_a, size_b = args["sizes"]
seen, torn, empty = set(), 0, 0
deadline = time.monotonic() + args["seconds"]
while time.monotonic() < deadline:
    value = store.get(args["key"])
    if not value:
        empty += 1  # between an upsert's start and end
        continue
    if len(value) not in (size_a, size_b) or value.count(value[:1]) != len(value):
        torn += 1
    seen.add((len(value), value[0]))
result = (sorted(seen), torn, empty)
"""


def uniform(size, byte):
    return bytes([byte]) * size


def test_readers_in_another_process_never_see_a_mix(master_factory, store_factory,
                                                    remote_factory):
    # A replaced value's space is held until its readers' leases end: short
    # leases keep the space they hold small.
    master = master_factory(["--default_kv_lease_ttl=200"])
    store = store_factory(on_master=master)
    key = unique_key("upsert-race")
    sizes = (256 * 1024, 128 * 1024)
    assert store.put(key, uniform(sizes[0], 0)) == 0
    reader = remote_factory(on_master=master)
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(
        result=reader.run(POLL_READER, key=key, sizes=sizes, seconds=4.0)))
    thread.start()
    written = 0
    deadline = time.monotonic() + 3.5
    # Same size (rewritten in place when unread) and new sizes (new space)
    # in turn, each value one byte repeated.
    while time.monotonic() < deadline:
        written += 1
        value = uniform(sizes[(written // 2) % 2], written % 251 + 1)
        code = store.upsert(key, value)
        # Old values the reader holds leases on keep their space until the
        # leases end: a full pool is a clean refusal, tried again.
        while code == NO_AVAILABLE_HANDLE and time.monotonic() < deadline + 5:
            time.sleep(0.01)
            code = store.upsert(key, value)
        assert code == 0, f"upsert {written} failed with {code}"
    thread.join()
    seen, torn, empty = outcome["result"]
    assert torn == 0, f"{torn} reads returned bytes of two values"
    print(f"{written} upserts; the reader saw {len(seen)} values, {empty} empty reads")
    assert len(seen) > 1, "the reader saw one value only: nothing raced"
    # The last value is what remains.
    last = store.get(key)
    assert last == uniform(sizes[(written // 2) % 2], written % 251 + 1)


def test_unread_value_of_the_same_size_is_rewritten_in_place(master_factory, store_factory):
    master = master_factory(["--default_kv_lease_ttl=50"])
    store = store_factory(on_master=master)
    key = unique_key("upsert-in-place")
    assert store.put(key, uniform(4096, 1)) == 0
    before = store.get_replica_desc(key)[0].get_memory_descriptor().buffer_descriptor.buffer_address
    time.sleep(0.2)  # the lease of get_replica_desc is over
    assert store.upsert(key, uniform(4096, 2)) == 0
    after = store.get_replica_desc(key)[0].get_memory_descriptor().buffer_descriptor.buffer_address
    assert after == before
    assert store.get(key) == uniform(4096, 2)
    # Read a moment ago (leased): new space, the bytes are still right.
    assert store.upsert(key, uniform(4096, 3)) == 0
    moved = store.get_replica_desc(key)[0].get_memory_descriptor().buffer_descriptor.buffer_address
    assert moved != before
    assert store.get(key) == uniform(4096, 3)


def test_upsert_without_space_keeps_the_old_value(master_factory, store_factory):
    # A master of its own: no other store's segment could take the value.
    store = store_factory(on_master=master_factory(), global_segment_size=16 * MiB,
                          local_buffer_size=64 * MiB)
    key = unique_key("upsert-full")
    assert store.put(key, uniform(MiB, 7)) == 0
    assert store.upsert(key, uniform(32 * MiB, 8)) == NO_AVAILABLE_HANDLE
    assert store.get(key) == uniform(MiB, 7)


def test_upsert_keeps_a_hard_pin(master_factory, store_factory):
    from mooncake.store import ReplicateConfig
    master = master_factory(["--default_kv_lease_ttl=50"])
    store = store_factory(on_master=master, global_segment_size=16 * MiB)
    pinned = unique_key("upsert-pinned")
    assert store.put(pinned, uniform(MiB, 1), ReplicateConfig(with_hard_pin=True)) == 0
    assert store.upsert(pinned, uniform(2 * MiB, 2)) == 0
    # Fill the segment several times over: eviction must spare the pinned key.
    for i in range(40):
        store.put(unique_key("filler"), uniform(MiB, 9))
    assert store.get(pinned) == uniform(2 * MiB, 2)


def soft_pinned_count(master):
    """The "soft-pinned: N" of the master's summary line."""
    with urllib.request.urlopen(f"http://127.0.0.1:{master.metrics_port}/metrics/summary",
                                timeout=5) as reply:
        line = reply.read().decode()
    return int(line.split("(soft-pinned: ")[1].split(")")[0])


def test_upsert_keeps_a_soft_pin_unless_told_to_clear_it(master_factory, store_factory):
    from mooncake.store import ReplicateConfig, SoftPinAction
    master = master_factory()
    store = store_factory(on_master=master, global_segment_size=16 * MiB)
    key = unique_key("upsert-soft")
    assert store.put(key, b"pinned", ReplicateConfig(with_soft_pin=True)) == 0
    assert soft_pinned_count(master) == 1
    assert store.upsert(key, b"still pinned") == 0
    assert soft_pinned_count(master) == 1
    unpin = ReplicateConfig()
    unpin.soft_pin_action = SoftPinAction.DISABLE
    assert store.upsert(key, b"unpinned now", unpin) == 0
    assert soft_pinned_count(master) == 0
    assert store.get(key) == b"unpinned now"
