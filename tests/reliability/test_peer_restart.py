"""A restarting peer: a client holding part of the pool dies and comes back.
Meanwhile the other clients' puts and gets keep working (they use other
segments and other replicas instead of waiting on the dead one), and the
returning client's empty segment is filled gradually, not flooded."""

import time

from mooncake.store import ReplicateConfig
from mooncake_testing import free_port
from reliability_helpers import (CallTimer, MiB, ValueChecker, make_key, metric,
                                 replica_segments, value_for, wait_until)

CLIENT_TTL_S = 3
SEGMENT = 64 * MiB
UNREACHABLE_MEMORY_S = 2


def test_peer_restart_fail_over_and_gradual_refill(master_factory, store_factory,
                                                   remote_factory, figures):
    master = master_factory([f"--client_ttl={CLIENT_TTL_S}", "--default_kv_lease_ttl=500"])
    app = store_factory(on_master=master, global_segment_size=SEGMENT)
    others = [remote_factory(on_master=master, global_segment_size=SEGMENT) for _ in range(2)]
    peer_name = f"127.0.0.1:{free_port()}"
    peer = remote_factory(on_master=master, local_hostname=peer_name,
                          global_segment_size=SEGMENT)
    assert peer.get_hostname() == peer_name
    checker = ValueChecker()

    # Half-fill the other segments, so that the returning, empty one is the
    # most attractive target.
    for other in others:
        config = ReplicateConfig(preferred_segment=other.get_hostname())
        for i in range(SEGMENT // (2 * MiB)):
            key = make_key("peer-fill", MiB, None)
            assert other.put(key, value_for(key), config) == 0
    only_on_peer = [make_key("peer-only", 512 * 1024 + i) for i in range(6)]
    on_peer_and_elsewhere = [make_key("peer-two", 512 * 1024 + i) for i in range(6)]
    for key in only_on_peer:
        assert app.put(key, value_for(key), ReplicateConfig(preferred_segment=peer_name)) == 0
    for key in on_peer_and_elsewhere:
        config = ReplicateConfig(preferred_segment=peer_name, replica_num=2)
        assert app.put(key, value_for(key), config) == 0
        assert len(replica_segments(app, key)) == 2
    elsewhere = [make_key("peer-safe", 300 * 1024 + i) for i in range(6)]
    for key in elsewhere:
        assert app.put(key, value_for(key), ReplicateConfig(preferred_segment=app.get_hostname())) == 0

    # ---- the peer dies -------------------------------------------------------
    peer.kill()
    died_at = time.monotonic()
    figures.add("faults_injected")
    timer = CallTimer()
    puts = failed_puts = gets = 0
    # Through the whole window in which the master still believes the peer
    # alive, and a little after.
    while time.monotonic() - died_at < CLIENT_TTL_S + 2:
        key = make_key("peer-outage", 256 * 1024 + puts)
        with timer:
            code = app.put(key, value_for(key))
        puts += 1
        if code != 0:
            failed_puts += 1
        else:
            assert checker.matches(key, app.get(key))
            assert peer_name not in replica_segments(app, key)
        for key in on_peer_and_elsewhere + elsewhere:
            with timer:
                data = app.get(key)
            gets += 1
            assert checker.matches(key, data), f"{key} not served by its other replica"
        for key in only_on_peer:
            with timer:
                data = app.get(key)
            gets += 1
            assert data == b"" or checker.matches(key, data), f"{key}: wrong bytes"
    figures["puts_during_outage"] = puts
    figures["failed_puts_during_outage"] = failed_puts
    figures["gets_during_outage"] = gets
    figures["slowest_call_during_outage_s"] = round(timer.slowest_s, 3)
    assert failed_puts == 0, f"{failed_puts} of {puts} puts failed instead of using live segments"
    wait_until(lambda: metric(master, "mooncake_master_segments_mounted") == 3, deadline_s=60,
               what="the master to drop the dead peer's segment")
    figures["death_to_segment_dropped_s"] = round(time.monotonic() - died_at, 2)
    assert app.batch_is_exist(only_on_peer) == [0] * len(only_on_peer)

    # ---- the peer comes back under the same name, empty ----------------------
    returned_at = time.monotonic()
    peer = remote_factory(on_master=master, local_hostname=peer_name,
                          global_segment_size=SEGMENT)
    wait_until(lambda: metric(master, "mooncake_master_segments_mounted") == 4, deadline_s=60,
               what="the peer's segment to be mounted again")
    figures["restart_to_mounted_s"] = round(time.monotonic() - returned_at, 2)
    # The application remembers a peer that failed it for 2 s after the last
    # failure (UnreachableSegments::kDefaultMemory) and places nothing there
    # meanwhile; let that lapse so that placement alone decides below.
    time.sleep(UNREACHABLE_MEMORY_S + 0.5)

    # New objects spread over every segment, the empty one getting more than
    # its share but not everything.
    landed_on_peer = 0
    fresh = []
    count = 60
    for i in range(count):
        key = make_key("peer-refill", 256 * 1024 + i)
        assert app.put(key, value_for(key)) == 0
        if replica_segments(app, key) == [peer_name]:
            landed_on_peer += 1
        fresh.append(key)
    share = landed_on_peer / count
    figures["refill_puts"] = count
    figures["refill_share_on_returning_peer"] = round(share, 2)
    figures["returning_peer_fair_share"] = 0.25
    assert 0 < landed_on_peer < count * 0.9, f"{landed_on_peer} of {count} puts on the new peer"
    for key in fresh + on_peer_and_elsewhere + elsewhere:
        assert checker.matches(key, app.get(key))
        assert checker.matches(key, peer.get(key))
    figures["bytes_verified"] = checker.bytes_verified
    figures["values_verified"] = checker.values_verified
