"""Master restart: kill -9 the master, restart it on the same ports; clients
notice through their pings, mount their segments again, and puts and gets
work again within seconds. Calls made while it is down fail with RPC_FAIL
and never hang."""

import time

from mooncake.store import ReplicateConfig
from reliability_helpers import (RPC_FAIL, CallTimer, MiB, ValueChecker, make_key, metric,
                                 replica_segments, value_for, wait_until)

# Short enough that the suite stays quick, long enough for a loaded machine.
CLIENT_TTL_S = 3
FLAGS = [f"--client_ttl={CLIENT_TTL_S}", "--default_kv_lease_ttl=500"]
# A call to a dead master must come back well within this (the client's
# RPC deadline is 5 s; this is only a generous "did not hang" bound).
CALL_BOUND_S = 30


def put_checked(store, key):
    return store.put(key, value_for(key))


def test_master_kill9_and_restart(master_factory, store_factory, remote_factory, figures):
    first = master_factory(FLAGS)
    local = store_factory(on_master=first)
    remote = remote_factory(on_master=first)
    checker = ValueChecker()

    before = [make_key("restart-before", 256 * 1024 + i) for i in range(8)]
    for i, key in enumerate(before):
        writer = local if i % 2 else remote
        assert writer.put(key, value_for(key)) == 0
    for key in before:
        assert checker.matches(key, local.get(key))

    # ---- kill -9 -------------------------------------------------------
    first.process.kill()
    first.process.wait()
    figures.add("faults_injected")

    # Every kind of call fails with RPC_FAIL (or the empty result of a
    # failed read) and returns; none waits for the master to come back.
    timer = CallTimer()
    down_key = make_key("restart-down", 4096)
    for _ in range(3):
        with timer:
            assert local.put(down_key, value_for(down_key)) == RPC_FAIL
        with timer:
            assert local.get(before[0]) == b""
        with timer:
            assert local.get_size(before[0]) == RPC_FAIL
        with timer:
            assert local.is_exist(before[0]) == -1  # the spec: -1 on any error
        with timer:
            assert local.remove(before[0]) == RPC_FAIL
        with timer:
            assert local.put_batch([down_key], [value_for(down_key)]) == RPC_FAIL
        with timer:
            assert local.get_batch(before[:2]) == [b"", b""]
        with timer:
            assert local.batch_is_exist(before[:2]) == [-1, -1]
        with timer:
            assert local.remove_all() < 0
        with timer:
            assert remote.put(down_key, value_for(down_key)) == RPC_FAIL
        with timer:
            assert remote.get(before[1]) == b""
    assert timer.slowest_s < CALL_BOUND_S
    figures["calls_while_down"] = timer.count
    figures["slowest_call_while_down_s"] = round(timer.slowest_s, 3)

    # ---- restart on the same ports ---------------------------------------
    restarted_at = time.monotonic()
    second = master_factory(FLAGS, port=first.port, http_port=first.http_port)
    figures["master_start_s"] = round(time.monotonic() - restarted_at, 2)

    # Both clients ping, are told to re-mount, and do.
    wait_until(lambda: metric(second, "mooncake_master_segments_mounted") == 2, deadline_s=60,
               what="both clients to re-mount their segments")
    figures["restart_to_remount_s"] = round(time.monotonic() - restarted_at, 2)

    def first_success(store, tag):
        def attempt():
            key = make_key(f"restart-{tag}", 64 * 1024)
            return store.put(key, value_for(key)) == 0 and store.is_exist(key) == 1
        wait_until(attempt, deadline_s=60, interval_s=0.05, what=f"a put by the {tag} client")
        return round(time.monotonic() - restarted_at, 2)

    figures["restart_to_first_put_local_s"] = first_success(local, "local")
    figures["restart_to_first_put_remote_s"] = first_success(remote, "remote")

    # The objects of the old master are gone, not corrupted.
    for key in before:
        assert local.get(key) == b""
    assert local.batch_is_exist(before) == [0] * len(before)

    # Re-mounted segments take no allocation for one lease TTL (readers of
    # the old master may still copy their ranges): wait until each does.
    for target in (local, remote):
        def lands_on_target():
            key = make_key("restart-probe", 4096)
            config = ReplicateConfig(preferred_segment=target.get_hostname())
            return (local.put(key, value_for(key), config) == 0 and
                    replica_segments(local, key) == [target.get_hostname()])
        wait_until(lands_on_target, deadline_s=30, what="the fence of a re-mounted segment")

    # New objects on each segment, read across processes.
    after = []
    for i in range(16):
        key = make_key("restart-after", 128 * 1024 + i)
        writer, target = (local, remote) if i % 2 else (remote, local)
        config = ReplicateConfig(preferred_segment=target.get_hostname())
        assert writer.put(key, value_for(key), config) == 0
        assert replica_segments(local, key) == [target.get_hostname()]
        after.append(key)
    for key in after:
        assert checker.matches(key, local.get(key))
        assert checker.matches(key, remote.get(key))

    # A client that joins after the restart reaches the old clients'
    # segments: their descriptors are published to the new master's
    # metadata server as well.
    late = store_factory(on_master=second)
    for key in after:
        assert checker.matches(key, late.get(key)), f"late client cannot read {key}"
    late_key = make_key("restart-late", 300 * 1024)
    assert late.put(late_key, value_for(late_key),
                    ReplicateConfig(preferred_segment=remote.get_hostname())) == 0
    assert checker.matches(late_key, remote.get(late_key))
    assert checker.matches(late_key, local.get(late_key))

    figures["objects_before_restart"] = len(before)
    figures["objects_after_restart"] = len(after) + 1
    figures["bytes_verified"] = checker.bytes_verified
    figures["values_verified"] = checker.values_verified


def test_clients_outlive_repeated_master_restarts(master_factory, store_factory, figures):
    """Three kill -9 / restart cycles in a row, each followed by working
    puts and gets: re-mounting does not depend on luck or on a fresh client."""
    master = master_factory(FLAGS)
    store = store_factory(on_master=master)
    checker = ValueChecker()
    recoveries = []
    for cycle in range(3):
        master.process.kill()
        master.process.wait()
        figures.add("faults_injected")
        restarted_at = time.monotonic()
        master = master_factory(FLAGS, port=master.port, http_port=master.http_port)
        key = make_key(f"restart-cycle{cycle}", MiB + cycle)

        def put_works():
            return store.put(key, value_for(key)) == 0

        wait_until(put_works, deadline_s=60, what=f"a put after restart {cycle + 1}")
        recoveries.append(time.monotonic() - restarted_at)
        assert checker.matches(key, store.get(key))
        assert metric(master, "mooncake_master_segments_mounted") == 1
    figures["restart_cycles"] = len(recoveries)
    figures["slowest_restart_to_first_put_s"] = round(max(recoveries), 2)
    figures["bytes_verified"] = checker.bytes_verified
