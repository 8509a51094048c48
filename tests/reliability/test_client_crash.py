"""A client that crashes (SIGKILL) or freezes (SIGSTOP) in the middle of a put
or a get: no partial object is ever readable, the unfinished put is cleaned
up per the put_start timeouts, and other clients' objects stay intact."""

import os
import random
import signal
import time

from mooncake.store import ReplicateConfig
from reliability_helpers import (REPLICA_IS_NOT_READY, START_LOOP, STOP_LOOP, MiB, ValueChecker,
                                 digest, last_index, make_key, metric, value_for, wait_until)

VALUE_SIZE = 32 * MiB
# Attempts at landing a signal between PutStart and PutEnd (each attempt
# lands there with a good probability: most of a put's time is the copy).
SIGNAL_ATTEMPTS = 20

# A worker loop putting VALUE_SIZE-byte objects from one registered buffer,
# keys "<prefix>/<size>/<i>"; the index of the put about to start is written
# to a progress file first, so the test knows which key was in flight.
PUT_LOOP = """
import os, threading
import numpy as np
size = args["size"]
buffer = np.frombuffer(bytearray(args["content"]), dtype=np.uint8)
assert store.register_buffer(buffer.ctypes.data, size) == 0
progress = os.open(args["progress"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
stop = threading.Event()
outcome = {}
config = ReplicateConfig(preferred_segment=args["target"])

def loop():
    i = 0
    while not stop.is_set():
        os.write(progress, f"{i}\\n".encode())
        key = f"{args['prefix']}/{size}/{i}"
        outcome[key] = store.put_from(key, buffer.ctypes.data, size, config)
        i += 1
""" + START_LOOP

# Store worker processes import ReplicateConfig lazily.
PRELUDE = "from mooncake.store import ReplicateConfig\n"


def unfinished_puts(master):
    samples = {name: metric(master, f"mooncake_master_{name}_total")
               for name in ("put_starts", "put_ends", "put_revokes")}
    return samples["put_starts"] - samples["put_ends"] - samples["put_revokes"]


def start_put_loop(remote, prefix, content, target, progress_path):
    remote.run(PRELUDE + PUT_LOOP, size=len(content), content=content, prefix=prefix,
               target=target, progress=progress_path)


def put_bystanders(stores, checker, count=6):
    keys = []
    for i in range(count):
        key = make_key("bystander", 512 * 1024 + i)
        owner = stores[i % len(stores)]
        # Soft-pinned: the victims' floods of puts evict unpinned objects.
        config = ReplicateConfig(preferred_segment=owner.get_hostname(), with_soft_pin=True)
        assert owner.put(key, value_for(key), config) == 0
        keys.append(key)
    return keys


def check_bystanders(readers, keys, checker):
    for reader in readers:
        for key in keys:
            assert checker.matches(key, reader.get(key)), f"bystander {key} damaged"


def test_client_killed_mid_put(master_factory, store_factory, remote_factory, tmp_path,
                               figures):
    release_s = 4
    master = master_factory(["--put_start_discard_timeout_sec=1",
                             f"--put_start_release_timeout_sec={release_s}",
                             "--client_ttl=2", "--default_kv_lease_ttl=300"])
    holder = store_factory(on_master=master, global_segment_size=256 * MiB)
    neighbor = remote_factory(on_master=master)
    checker = ValueChecker()
    bystanders = put_bystanders([holder, neighbor], checker)
    content = value_for(f"crash-kill/{VALUE_SIZE}/template")
    content_digest = digest(content)

    landed = False
    attempts = 0
    while not landed and attempts < SIGNAL_ATTEMPTS:
        attempts += 1
        prefix = f"crash-kill{attempts}"
        progress = str(tmp_path / f"progress{attempts}")
        victim = remote_factory(on_master=master, global_segment_size=0,
                                local_buffer_size=16 * MiB)
        start_put_loop(victim, prefix, content, holder.get_hostname(), progress)
        wait_until(lambda: last_index(progress) >= 1, what="the victim's first puts")
        time.sleep(random.uniform(0.0, 0.3))
        victim.kill()
        killed_at = time.monotonic()
        figures.add("faults_injected")
        landed = unfinished_puts(master) > 0

        in_flight = last_index(progress)
        # Every key the victim touched is complete or absent (puts that
        # returned may have been evicted since: the holder's segment is
        # small), never partial; the put in flight is invisible.
        readable = 0
        for i in range(in_flight + 1):
            key = f"{prefix}/{VALUE_SIZE}/{i}"
            data = holder.get(key)
            assert data == b"" or digest(data) == content_digest, \
                f"{key}: {len(data)} bytes that are not the value"
            if data:
                readable += 1
                figures.add("bytes_verified", len(data))
            if landed and i == in_flight:
                assert data == b"" and holder.is_exist(key) == 0
                assert holder.get_size(key) == REPLICA_IS_NOT_READY
        assert in_flight < 2 or readable > 0, "every completed put vanished"
        figures.add("victim_puts_started", in_flight + 1)
    assert landed, f"no SIGKILL landed inside a put in {attempts} attempts"
    figures["kill_attempts"] = attempts

    # The zombie's space comes back after the release timeout: once every
    # complete object is removed (leases permitting), nothing is left.
    def nothing_left():
        holder.remove_all()
        return (metric(master, "mooncake_master_object_count") == 0 and
                metric(master, "mooncake_master_used_bytes") == 0)
    wait_until(nothing_left, deadline_s=60, interval_s=0.1,
               what="the killed put's space to be reclaimed")
    figures["zombie_reclaimed_after_kill_s"] = round(time.monotonic() - killed_at, 2)
    figures["put_start_release_timeout_s"] = release_s

    # Other clients are unaffected: new objects, verified from both sides.
    bystanders = put_bystanders([holder, neighbor], checker)
    check_bystanders([holder, neighbor], bystanders, checker)
    figures.add("bytes_verified", checker.bytes_verified)


def test_client_frozen_mid_put_is_preempted_without_corruption(master_factory, store_factory,
                                                               remote_factory, tmp_path,
                                                               figures):
    """SIGSTOP between PutStart and PutEnd; after put_start_discard_timeout
    another client's put of the key pre-empts the zombie; when the frozen
    client resumes, its late writes land in the zombie's own (still
    reserved) space, never in the new object, and its PutEnd is refused."""
    master = master_factory(["--put_start_discard_timeout_sec=1",
                             "--put_start_release_timeout_sec=120",
                             "--client_ttl=30", "--default_kv_lease_ttl=300"])
    holder = store_factory(on_master=master, global_segment_size=256 * MiB)
    neighbor = remote_factory(on_master=master)
    checker = ValueChecker()
    bystanders = put_bystanders([holder, neighbor], checker)
    # The frozen writer's bytes differ from the legitimate value, so a late
    # write into the new object would show.
    poison = b"\xee" * VALUE_SIZE
    victim = remote_factory(on_master=master, global_segment_size=0, local_buffer_size=16 * MiB)
    progress = str(tmp_path / "progress")
    start_put_loop(victim, "crash-freeze", poison, holder.get_hostname(), progress)
    wait_until(lambda: last_index(progress) >= 1, what="the victim's first puts")

    frozen = False
    attempts = 0
    while not frozen and attempts < SIGNAL_ATTEMPTS:
        attempts += 1
        time.sleep(random.uniform(0.0, 0.1))
        os.kill(victim.process.pid, signal.SIGSTOP)
        figures.add("faults_injected")
        time.sleep(0.05)  # let a put that was about to end reach the master
        frozen = unfinished_puts(master) > 0
        if not frozen:
            os.kill(victim.process.pid, signal.SIGCONT)
    assert frozen, f"no SIGSTOP landed inside a put in {attempts} attempts"
    figures["freeze_attempts"] = attempts
    frozen_at = time.monotonic()
    zombie = f"crash-freeze/{VALUE_SIZE}/{last_index(progress)}"

    # While frozen: invisible, not partial.
    assert holder.is_exist(zombie) == 0
    assert holder.get(zombie) == b""
    assert holder.get_size(zombie) == REPLICA_IS_NOT_READY
    assert neighbor.get(zombie) == b""

    # After the discard timeout another client takes the key over.
    legit = value_for(f"crash-legit/{VALUE_SIZE}/0")
    legit_digest = digest(legit)

    # Soft-pinned: the victim's puts after it resumes may evict others.
    pinned = ReplicateConfig(with_soft_pin=True)

    def take_over():
        return (holder.put(zombie, legit, pinned) == 0 and
                digest(holder.get(zombie)) == legit_digest)
    wait_until(take_over, deadline_s=60, interval_s=0.2, what="the key to be taken over")
    figures["takeover_after_freeze_s"] = round(time.monotonic() - frozen_at, 2)
    assert metric(master, "mooncake_master_zombie_puts_discarded_total") == 1

    # Resume the zombie: it finishes its copy into its own old range.
    os.kill(victim.process.pid, signal.SIGCONT)
    outcomes = victim.run(STOP_LOOP, join_s=120)
    assert outcomes[zombie] != 0, "the pre-empted put must not report success"
    figures["zombie_put_result"] = outcomes[zombie]
    for reader in (holder, neighbor):
        assert digest(reader.get(zombie)) == legit_digest, "late zombie write reached the new object"
        figures.add("bytes_verified", VALUE_SIZE)
    # The victim's own complete puts: intact, or evicted since.
    completed = [key for key, code in outcomes.items() if code == 0]
    for key in completed:
        data = holder.get(key)
        assert data in (b"", poison), f"{key} damaged"
        figures.add("bytes_verified", len(data))
    figures["victim_puts"] = len(outcomes)
    check_bystanders([holder, neighbor], bystanders, checker)
    figures.add("bytes_verified", checker.bytes_verified)


GET_LOOP = """
import threading
import numpy as np
keys = args["keys"]
capacity = args["size"]
buffer = np.zeros(capacity, dtype=np.uint8)
assert store.register_buffer(buffer.ctypes.data, capacity) == 0
stop = threading.Event()
reads = [0]

def loop():
    while not stop.is_set():
        for key in keys:
            assert store.get_into(key, buffer.ctypes.data, capacity) == capacity
            reads[0] += 1

threading.Thread(target=loop, daemon=True).start()
"""


def test_client_killed_mid_get(master_factory, store_factory, remote_factory, figures):
    """Readers killed while copying large objects out of a holder's segment
    leave the objects intact and hold no lease for longer than its TTL."""
    lease_ms = 500
    master = master_factory([f"--default_kv_lease_ttl={lease_ms}", "--client_ttl=2"])
    holder = store_factory(on_master=master, global_segment_size=256 * MiB)
    neighbor = remote_factory(on_master=master)
    checker = ValueChecker()
    keys = [make_key("crash-get", VALUE_SIZE, i) for i in range(4)]
    for key in keys:
        assert neighbor.put(key, value_for(key),
                            ReplicateConfig(preferred_segment=holder.get_hostname())) == 0
    for round_index in range(3):
        reader = remote_factory(on_master=master, global_segment_size=0,
                                local_buffer_size=16 * MiB)
        reader.run(GET_LOOP, keys=keys, size=VALUE_SIZE)
        time.sleep(random.uniform(0.2, 0.8))
        reader.kill()
        figures.add("faults_injected")
        for key in keys:
            assert checker.matches(key, holder.get(key))
            assert checker.matches(key, neighbor.get(key))
    # No lease outlives its TTL: the objects can be removed.
    for key in keys:
        wait_until(lambda: holder.remove(key) == 0, deadline_s=30,
                   what=f"remove of {key} once the leases expired")
    assert metric(master, "mooncake_master_object_count") == 0
    figures["bytes_verified"] = checker.bytes_verified
