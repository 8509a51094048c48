"""Small puts (docs/performance.md, "Small puts in one round trip"), with
the default awaited PutEnd and with the opt-in pipelined one
(MC_PIPELINE_PUT_END=1). What they promise, checked with real processes:
another process that learns of a returned put reads exactly its bytes
(pipelined: within a moment, never other bytes), a key still being put reads
as absent or complete, never partial;
a writer killed -9 in a stream of small puts leaves every returned put
readable and its unfinished put's space comes back; a master restarted under
a stream of small puts leaves nothing wrong behind and puts resume.
Each runs with a preferred segment (PutStart + PutEnd) and without one,
where the writer puts through put credits (one BatchPutCommit per put)."""

import threading
import time

import pytest

from reliability_helpers import (START_LOOP, STOP_LOOP, SUITE_PATHS, WORKER_PRELUDE, MiB,
                                 ValueChecker, last_index, metric, progress_indices, value_for,
                                 wait_until)

SMALL = 4096

# A worker thread putting SMALL-byte objects "<prefix>/4096/<i>" into the
# target segment; after each put that returned 0 its index is appended to
# the progress file, so other processes learn of returned puts only.
WRITER = WORKER_PRELUDE + """
import os, threading
from mooncake.store import ReplicateConfig
from reliability_helpers import value_for
# No target: placed by the master, so small puts go through put credits.
config = (ReplicateConfig(preferred_segment=args["target"]) if args["target"]
          else ReplicateConfig())
progress = os.open(args["progress"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
stop = threading.Event()
outcome = {"ok": 0, "failed": 0}

def loop():
    i = 0
    while not stop.is_set() and i < args["limit"]:
        key = f"{args['prefix']}/4096/{i}"
        if store.put(key, value_for(key), config) == 0:
            os.write(progress, f"{i}\\n".encode())
            outcome["ok"] += 1
        else:
            outcome["failed"] += 1
        i += 1
""" + START_LOOP

# Polls the progress file for `seconds`: the last returned put must read
# exactly, the next one (possibly in flight) absent or exactly.
READER = WORKER_PRELUDE + """
import os, time
from reliability_helpers import last_index, value_for
checked = absent_next = complete_next = late = 0
wrong = []
deadline = time.monotonic() + args["seconds"]
while time.monotonic() < deadline and not wrong:
    last = last_index(args["progress"])
    if last < 0:
        continue
    key = f"{args['prefix']}/4096/{last}"
    data = store.get(key)
    if data == b"" and args["allow_late"]:
        # A pipelined PutEnd may still be on its way to the master.
        late += 1
        patience = time.monotonic() + 1.0
        while data == b"" and time.monotonic() < patience:
            time.sleep(0.001)
            data = store.get(key)
    if data != value_for(key):
        wrong.append((key, len(data)))
    checked += 1
    upcoming = f"{args['prefix']}/4096/{last + 1}"
    data = store.get(upcoming)
    if data == b"":
        absent_next += 1
    elif data == value_for(upcoming):
        complete_next += 1
    else:
        wrong.append((upcoming, len(data)))
result = dict(checked=checked, absent_next=absent_next, complete_next=complete_next,
              late=late, wrong=wrong)
"""


def returned_after(progress_path, index):
    return [i for i in progress_indices(progress_path) if i > index]


def start_writer(writer, prefix, target, progress, limit=10**9):
    writer.run(WRITER, paths=SUITE_PATHS, prefix=prefix, target=target, progress=progress,
               limit=limit)


# "preferred": every put names the holder's segment, so it is started at the
# master; "credits": no preference, so the writer's small puts use credits.
PLACEMENTS = pytest.mark.parametrize("placement", ["preferred", "credits"])


def target_for(placement, holder):
    return holder.get_hostname() if placement == "preferred" else None


def check_credit_use(master, placement, figures):
    commits = metric(master, "mooncake_master_put_credit_commits_total")
    figures["put_credit_commits"] = commits
    if placement == "credits":
        assert commits > 0
    else:
        assert commits == 0


@PLACEMENTS
@pytest.mark.parametrize("pipelined", [False, True], ids=["awaited", "pipelined"])
def test_other_processes_see_returned_small_puts_whole(master_factory, store_factory,
                                                       remote_factory, tmp_path, figures,
                                                       pipelined, placement):
    master = master_factory(["--default_kv_lease_ttl=500"])
    holder = store_factory(on_master=master, global_segment_size=256 * MiB)
    env = {"MC_PIPELINE_PUT_END": "1"} if pipelined else None
    writer = remote_factory(on_master=master, env=env, global_segment_size=16 * MiB)
    readers = [remote_factory(on_master=master, global_segment_size=16 * MiB) for _ in range(2)]
    progress = str(tmp_path / "progress")
    open(progress, "w").close()
    start_writer(writer, "small-seen", target_for(placement, holder), progress, limit=40000)
    wait_until(lambda: last_index(progress) >= 0, what="the writer's first put")
    reports = [None] * len(readers)

    def read(n):
        reports[n] = readers[n].run(READER, paths=SUITE_PATHS, prefix="small-seen",
                                    progress=progress, seconds=3, allow_late=pipelined)
    threads = [threading.Thread(target=read, args=(n,)) for n in range(len(readers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcome = writer.run(STOP_LOOP, join_s=60)
    assert outcome["failed"] == 0, outcome
    for report in reports:
        assert report["wrong"] == [], report
        assert report["checked"] > 50, report
    figures["small_puts"] = outcome["ok"]
    figures["returned_puts_checked_by_other_processes"] = sum(r["checked"] for r in reports)
    figures["next_key_absent"] = sum(r["absent_next"] for r in reports)
    figures["next_key_complete"] = sum(r["complete_next"] for r in reports)
    figures["returned_but_not_yet_visible"] = sum(r["late"] for r in reports)
    if not pipelined:
        assert figures["returned_but_not_yet_visible"] == 0
    # Everything the writer was told succeeded is there, byte for byte.
    checker = ValueChecker()
    for i in range(0, last_index(progress) + 1, 97):
        key = f"small-seen/4096/{i}"
        assert checker.matches(key, holder.get(key)), key
    figures["bytes_verified"] = checker.bytes_verified
    check_credit_use(master, placement, figures)


@PLACEMENTS
def test_writer_killed_in_a_stream_of_small_puts(master_factory, store_factory, remote_factory,
                                                 tmp_path, figures, placement):
    release_s = 3
    master = master_factory(["--put_start_discard_timeout_sec=1",
                             f"--put_start_release_timeout_sec={release_s}",
                             "--client_ttl=2", "--default_kv_lease_ttl=300"])
    holder = store_factory(on_master=master, global_segment_size=256 * MiB)
    for attempt in range(3):
        prefix = f"small-kill{attempt}"
        progress = str(tmp_path / f"progress{attempt}")
        open(progress, "w").close()
        writer = remote_factory(on_master=master, global_segment_size=0,
                                local_buffer_size=16 * MiB)
        start_writer(writer, prefix, target_for(placement, holder), progress)
        wait_until(lambda: last_index(progress) >= 200, what="the writer's puts")
        time.sleep(0.05 * attempt)
        writer.kill()
        killed_at = time.monotonic()
        figures.add("faults_injected")
        last = last_index(progress)
        # Every put that returned is readable, byte for byte; the one after
        # it (in flight at the kill) is absent or whole.
        expected = [f"{prefix}/4096/{i}" for i in range(last + 1)]
        for start in range(0, len(expected), 256):
            chunk = expected[start:start + 256]
            found = holder.get_batch(chunk)
            assert [key for key, data in zip(chunk, found) if data != value_for(key)] == []
        upcoming = f"{prefix}/4096/{last + 1}"
        data = holder.get(upcoming)
        assert data == b"" or data == value_for(upcoming), f"{upcoming}: {len(data)} bytes"
        figures.add("returned_puts_verified", last + 1)

    check_credit_use(master, placement, figures)
    # Unfinished puts (and unused credits) of the killed writers give their
    # space back.
    def nothing_left():
        holder.remove_all()
        return (metric(master, "mooncake_master_object_count") == 0 and
                metric(master, "mooncake_master_used_bytes") == 0 and
                metric(master, "mooncake_master_put_credit_reserved_bytes") == 0)
    wait_until(nothing_left, deadline_s=60, interval_s=0.1,
               what="the killed writers' space to be reclaimed")
    figures["reclaimed_after_kill_s"] = round(time.monotonic() - killed_at, 2)


@PLACEMENTS
def test_master_restart_under_a_stream_of_small_puts(master_factory, store_factory,
                                                     remote_factory, tmp_path, figures, placement):
    flags = ["--client_ttl=3", "--default_kv_lease_ttl=500"]
    first = master_factory(flags)
    holder = store_factory(on_master=first, global_segment_size=256 * MiB)
    writer = remote_factory(on_master=first, global_segment_size=16 * MiB)
    progress = str(tmp_path / "progress")
    open(progress, "w").close()
    start_writer(writer, "small-restart", target_for(placement, holder), progress)
    wait_until(lambda: last_index(progress) >= 200, what="the writer's puts")
    first.process.kill()
    first.process.wait()
    figures.add("faults_injected")
    before_restart = last_index(progress)
    second = master_factory(flags, port=first.port, http_port=first.http_port)
    restarted_at = time.monotonic()
    # Puts resume once the clients mounted their segments again.
    wait_until(lambda: len(returned_after(progress, before_restart)) >= 200, deadline_s=60,
               what="puts to resume after the restart")
    figures["restart_to_puts_resumed_s"] = round(time.monotonic() - restarted_at, 2)
    outcome = writer.run(STOP_LOOP, join_s=60)
    figures["small_puts"] = outcome["ok"]
    figures["failed_small_puts"] = outcome["failed"]
    # Whatever the new master knows reads whole; what it was told after the
    # restart and returned reads exactly.
    after = returned_after(progress, before_restart)
    assert after, "no put returned after the restart"
    checker = ValueChecker()
    for i in after[-300:]:
        key = f"small-restart/4096/{i}"
        assert checker.matches(key, holder.get(key)), key
    for i in range(0, before_restart + 1, 7):
        key = f"small-restart/4096/{i}"
        data = holder.get(key)
        assert data == b"" or data == value_for(key), key
    assert metric(second, "mooncake_master_object_count") >= len(after[-300:])
    # The restarted master knew none of the writer's credits: it granted new ones.
    check_credit_use(second, placement, figures)
    figures["bytes_verified"] = checker.bytes_verified
