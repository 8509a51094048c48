"""Bad requests to mooncake.engine.TransferEngine fail with the reference's
codes and change nothing on the peer; a peer that dies or stalls
mid-transfer costs the initiator an error within its timeout, not a hang."""

import os
import signal
import threading
import time

import pytest

from engine_testing import EnginePeer, MiB, initiator_fixture, local_engine, target_fixture
from mooncake.engine import TransferEngine, TransferOpcode

BUFFER = 1 * MiB
BAD_PEER = 2**64 - 1

target = target_fixture(BUFFER)
# Larger than the peer's memory: the tests send more than the peer holds.
initiator = initiator_fixture(4 * BUFFER)


@pytest.mark.parametrize("kind", ["plain", "managed"])
def test_outside_registered_memory_changes_nothing(initiator, target, kind):
    engine, local = initiator
    remote = getattr(target, kind)
    target.fill(remote, BUFFER, 0x11)
    engine.write_bytes_to_buffer(local, b"\xee" * (2 * BUFFER), 2 * BUFFER)
    # Crossing the end, entirely past it, before it, and far away.
    for address, length in [(remote + BUFFER - 10, 20), (remote + BUFFER, 1),
                            (remote - 1, 2), (remote + 64 * MiB, 4096), (remote, BUFFER + 1)]:
        assert engine.transfer_sync_write(target.name, local, address, length) == -1
        assert engine.transfer_sync_read(target.name, local, address, length) == -1
        assert engine.batch_transfer_sync_write(target.name, [local, local],
                                                [remote, address], [16, length]) == -1
        batch = engine.batch_transfer_async_write(target.name, [local], [address], [length])
        assert batch not in (0, BAD_PEER)
        assert engine.get_batch_transfer_status([batch]) == -1
    # Only the valid first request of the mixed batches landed.
    assert target.read(remote, BUFFER) == b"\xee" * 16 + b"\x11" * (BUFFER - 16)
    assert engine.read_bytes_from_buffer(local, 2 * BUFFER) == b"\xee" * (2 * BUFFER)


def test_unknown_peer_and_malformed_requests(initiator, target):
    engine, local = initiator
    nobody = "127.0.0.1:1"
    assert engine.transfer_sync_write(nobody, local, 4096, 16) == -1
    assert engine.batch_transfer_async_write(nobody, [local], [4096], [16]) == BAD_PEER
    assert engine.transfer_submit_write(nobody, local, 4096, 16) == BAD_PEER
    assert engine.get_first_buffer_address(nobody) == 0
    assert engine.batch_transfer_async_write(target.name, [local], [target.plain], []) == 0
    assert engine.batch_transfer_sync_write(target.name, [local], [], [16]) == -1
    assert engine.transfer_sync_write(target.name, 0, target.plain, 16) == -1
    assert engine.transfer_check_status(123456789) == -1
    assert engine.get_batch_transfer_status([987654321]) == -1


def test_registration_codes(initiator):
    engine, local = initiator
    assert engine.register_memory(local, 4096) == -7  # inside a managed buffer
    import numpy as np
    array = np.zeros(8192, dtype=np.uint8)
    address = array.ctypes.data
    assert engine.register_memory(address, 0) == -1
    assert engine.register_memory(address, 8192) == 0
    assert engine.register_memory(address + 4096, 10) == -7
    assert engine.unregister_memory(address) == 0
    assert engine.unregister_memory(address) == -1
    assert engine.batch_register_memory([address, address + 4096], [4096, 4096], "*") == 0
    assert engine.batch_unregister_memory([address, address + 4096]) == 0
    # All or nothing: the second overlaps the first, so neither stays.
    assert engine.batch_register_memory([address, address + 100], [4096, 4096]) == -7
    assert engine.register_memory(address, 8192) == 0
    assert engine.unregister_memory(address) == 0


def test_uninitialized_engine_refuses():
    engine = TransferEngine()
    assert engine.transfer_sync_write("127.0.0.1:1", 1, 1, 1) == -1
    assert engine.register_memory(4096, 4096) == -1
    assert engine.allocate_managed_buffer(4096) == 0
    assert engine.get_rpc_port() == -1


def run_transfers_until_failure(engine, target_name, local, remote, length, results):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        code = engine.transfer_sync_write(target_name, local, remote, length)
        if code != 0:
            results.append((code, time.monotonic()))
            return
    results.append(("no failure", time.monotonic()))


@pytest.mark.parametrize("how", ["killed", "stopped"])
def test_target_dies_mid_transfer(how, monkeypatch):
    # The initiator reads the timeout when it is created.
    monkeypatch.setenv("MC_TRANSFER_TIMEOUT", "2")
    engine = local_engine()
    size = 16 * MiB
    local = engine.allocate_managed_buffer(size)
    peer = EnginePeer(plain_bytes=size, managed_bytes=0)
    try:
        assert engine.transfer_sync_write(peer.name, local, peer.plain, size) == 0
        results = []
        worker = threading.Thread(target=run_transfers_until_failure,
                                  args=(engine, peer.name, local, peer.plain, size, results))
        worker.start()
        time.sleep(0.3)
        peer.kill(signal.SIGKILL if how == "killed" else signal.SIGSTOP)
        failed_from = time.monotonic()
        worker.join(40)
        assert not worker.is_alive(), "transfer hung after the target " + how
        code, when = results[0]
        assert code == -1
        # MC_TRANSFER_TIMEOUT is at least 5 s for the Python engine; allow
        # one retry after re-fetching the descriptor and a loaded machine.
        assert when - failed_from < 25
    finally:
        if how == "stopped":
            peer.kill(signal.SIGKILL)
        peer.process.wait()
        engine.free_managed_buffer(local, size)


def wait_for_outcome(engine, batch, give_up_after):
    """Polls transfer_check_status until the batch leaves 'still running'."""
    deadline = time.monotonic() + give_up_after
    code = engine.transfer_check_status(batch)
    while code == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
        code = engine.transfer_check_status(batch)
    return code


def stop_and_wait(process):
    """SIGSTOP, then wait until the kernel shows the process stopped (a
    signal is delivered asynchronously: a request sent at once could still
    be served)."""
    process.send_signal(signal.SIGSTOP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with open(f"/proc/{process.pid}/stat") as stat:
            # The state follows the parenthesized command name.
            if stat.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        time.sleep(0.01)
    raise AssertionError("the peer did not stop")


def test_a_stopped_peer_costs_one_timeout_and_async_submits_do_not_wait(monkeypatch):
    timeout = 6
    monkeypatch.setenv("MC_TRANSFER_TIMEOUT", str(timeout))
    engine = local_engine()
    local = engine.allocate_managed_buffer(MiB)
    peer = EnginePeer(plain_bytes=MiB, managed_bytes=0)
    try:
        assert engine.transfer_sync_write(peer.name, local, peer.plain, 4096) == 0
        stop_and_wait(peer.process)

        started = time.monotonic()
        batch = engine.transfer_submit_write(peer.name, local, peer.plain, 4096)
        assert time.monotonic() - started < 2, "an asynchronous submit waited on the peer"
        assert batch != BAD_PEER
        assert engine.transfer_check_status(batch) == 0
        # Failed (-1) or past its deadline (-2): either way within about one
        # timeout, not one per retry.
        assert wait_for_outcome(engine, batch, 4 * timeout) in (-1, -2)
        assert time.monotonic() - started < timeout + 4

        started = time.monotonic()
        batches = engine.batch_transfer_async_write(peer.name, [local], [peer.plain], [4096])
        assert time.monotonic() - started < 2, "a batch submit waited on the peer"
        assert batches not in (0, BAD_PEER)
        assert engine.get_batch_transfer_status([batches]) == -1
        assert time.monotonic() - started < timeout + 4

        started = time.monotonic()
        assert engine.transfer_sync_write(peer.name, local, peer.plain, 4096) == -1
        assert time.monotonic() - started < timeout + 4
    finally:
        peer.kill(signal.SIGKILL)
        peer.process.wait()
        engine.free_managed_buffer(local, MiB)
