"""Put credits (docs/performance.md, "Small puts in one round trip"): small
puts placed by the master take a credit and one commit; what a client holds
and does not use goes back; the switches turn them off; every value reads
back exactly, whichever path it took."""

import os
import time

from conftest import MiB
from mooncake_testing import unique_key, wait_until


def metric(master, name):
    for line in master.metrics().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


def commits(master):
    return metric(master, "mooncake_master_put_credit_commits_total")


def outstanding(master):
    return metric(master, "mooncake_master_put_credits_outstanding")


def test_small_puts_commit_credits_and_read_back_exactly(master_factory, store_factory):
    from mooncake.store import ReplicateConfig
    master = master_factory()
    holder = store_factory(on_master=master, global_segment_size=64 * MiB)
    writer = store_factory(on_master=master, global_segment_size=0)
    small = {unique_key("credit-small"): os.urandom(n) for n in (1, 100, 4096, 64 * 1024)}
    large = {unique_key("credit-large"): os.urandom(64 * 1024 + 1)}
    for key, value in small.items():
        assert writer.put(key, value) == 0
    assert commits(master) == len(small)
    for key, value in large.items():
        assert writer.put(key, value) == 0
    # Too large for a credit, or placed by the caller: PutStart as before.
    preferred = unique_key("credit-preferred")
    assert writer.put(preferred, b"p" * 4096,
                      ReplicateConfig(preferred_segment=holder.get_hostname())) == 0
    assert commits(master) == len(small)
    # A batch mixing both kinds: the small ones in one commit.
    batch = {unique_key("credit-batch"): os.urandom(n) for n in (10, 4096, 4096, 200 * 1024)}
    assert writer.put_batch(list(batch), list(batch.values())) == 0
    assert commits(master) == len(small) + 3
    everything = {**small, **large, **batch, preferred: b"p" * 4096}
    assert holder.get_batch(list(everything)) == list(everything.values())
    # Puts and ends are counted as such, whichever path they took.
    assert metric(master, "mooncake_master_put_starts_total") == len(everything)
    assert metric(master, "mooncake_master_put_ends_total") == len(everything)


def test_unused_credits_go_back_after_their_window_and_at_close(master_factory, store_factory):
    master = master_factory(["--default_kv_lease_ttl=1000"])  # credits usable for 500 ms
    store_factory(on_master=master, global_segment_size=64 * MiB)
    idle = store_factory(on_master=master, global_segment_size=0)
    for _ in range(3):
        assert idle.put(unique_key("credit-idle"), b"v" * 4096) == 0
    assert outstanding(master) > 0
    # Released after the first heartbeat past the window.
    wait_until(lambda: outstanding(master) == 0, deadline_s=10, what="idle credits released")
    assert metric(master, "mooncake_master_put_credit_reserved_bytes") == 0

    closing = store_factory(on_master=master, global_segment_size=0)
    for _ in range(3):
        assert closing.put(unique_key("credit-close"), b"v" * 4096) == 0
    assert outstanding(master) > 0
    started = time.monotonic()
    closing.close()
    assert outstanding(master) == 0
    assert time.monotonic() - started < 5


def test_credits_can_be_turned_off(master_factory, store_factory, remote_factory):
    master = master_factory()
    store_factory(on_master=master, global_segment_size=64 * MiB)
    client_off = remote_factory(on_master=master, env={"MC_PUT_CREDITS": "0"},
                                global_segment_size=0)
    key = unique_key("credit-client-off")
    assert client_off.put(key, b"x" * 4096) == 0
    assert client_off.get(key) == b"x" * 4096
    assert commits(master) == 0

    master_off = master_factory(["--enable_put_credits=false"])
    store_factory(on_master=master_off, global_segment_size=64 * MiB)
    writer = store_factory(on_master=master_off, global_segment_size=0)
    keys = [unique_key("credit-master-off") for _ in range(4)]
    assert writer.put_batch(keys, [b"y" * 4096] * 4) == 0
    assert writer.get_batch(keys) == [b"y" * 4096] * 4
    assert commits(master_off) == 0
    assert metric(master_off, "mooncake_master_put_credits_granted_total") == 0
