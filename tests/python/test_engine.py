"""mooncake.engine.TransferEngine between this process (initiator) and a
target process on loopback: TCP to plain registered memory, shared memory to
managed buffers; sync, batch and async calls; notifications."""

import os
import random
import threading
import time

import pytest

from engine_testing import MiB, initiator_fixture, target_fixture
from mooncake.engine import TransferEngine, TransferNotify, TransferOpcode

BUFFER = 4 * MiB

target = target_fixture(BUFFER)
initiator = initiator_fixture(BUFFER)


# "plain" memory is reached over TCP, "managed" memory over shared memory.
ROUTE = {"plain": "tcp", "managed": "shm"}


@pytest.fixture(params=["plain", "managed"])
def remote(request, target):
    return getattr(target, request.param)


@pytest.fixture
def route(request):
    return ROUTE[request.node.callspec.params["remote"]]


def test_names_and_module_surface(initiator, target):
    engine, _ = initiator
    port = engine.get_rpc_port()
    # P2P mode picks from MC_MIN_PRC_PORT..MC_MAX_PRC_PORT (interfaces.md §10.2).
    assert 15000 <= port <= 17000
    host, _, peer_port = target.name.rpartition(":")
    assert host == "127.0.0.1" and int(peer_port) > 0
    assert int(TransferOpcode.Read) == 0 and int(TransferOpcode.Write) == 1
    assert TransferEngine.TransferOpcode.Write == TransferOpcode.Write
    notify = TransferNotify("n", "m")
    assert (notify.name, notify.msg) == ("n", "m")
    assert engine.get_engine_ptr() != 0
    assert engine.get_first_buffer_address(target.name) in (target.plain, target.managed)


def test_send_probe_tells_a_live_peer_from_a_dead_one(initiator, target):
    from mooncake_testing import free_port
    engine, _ = initiator
    assert engine.send_probe(target.name) == 0
    assert engine.send_probe(f"127.0.0.1:{free_port()}") == -1
    assert engine.send_probe("not a segment name") == -1
    assert TransferEngine().send_probe(target.name) == -1  # not initialized


def test_p2p_ignores_the_port_of_local_hostname():
    from mooncake_testing import free_port
    asked = free_port()
    engine = TransferEngine()
    assert engine.initialize(f"127.0.0.1:{asked}", "P2PHANDSHAKE", "tcp", "") == 0
    assert 15000 <= engine.get_rpc_port() <= 17000 and engine.get_rpc_port() != asked
    assert '"cpu:0"' in engine.get_local_topology()


def test_sync_write_then_read(initiator, target, remote, route):
    engine, local = initiator
    routed_before = engine._routed_requests(route)
    data = os.urandom(1 * MiB + 123)
    assert engine.write_bytes_to_buffer(local, data, len(data)) == 0
    assert engine.transfer_sync_write(target.name, local, remote + 7, len(data)) == 0
    assert target.read(remote + 7, len(data)) == data

    engine.write_bytes_to_buffer(local, bytes(len(data)), len(data))
    assert engine.transfer_sync_read(target.name, local, remote + 7, len(data)) == 0
    assert engine.read_bytes_from_buffer(local, len(data)) == data
    assert engine._routed_requests(route) >= routed_before + 2


def test_transfer_sync_with_opcode_and_keywords(initiator, target, remote):
    engine, local = initiator
    data = os.urandom(4096)
    engine.write_bytes_to_buffer(local, data, len(data))
    assert engine.transfer_sync(target.name, local, remote, len(data), TransferOpcode.Write) == 0
    assert target.read(remote, len(data)) == data
    target.fill(remote, 4096, 0x5A)
    assert engine.transfer_sync_read(target_hostname=target.name, buffer=local,
                                     peer_buffer_address=remote, length=4096) == 0
    assert engine.read_bytes_from_buffer(local, 4096) == b"\x5a" * 4096


def test_batch_sync(initiator, target, remote):
    engine, local = initiator
    blocks = [os.urandom(64 * 1024) for _ in range(8)]
    for i, block in enumerate(blocks):
        engine.write_bytes_to_buffer(local + i * 65536, block, len(block))
    locals_ = [local + i * 65536 for i in range(8)]
    # Scattered on the peer, in reverse order.
    remotes = [remote + (7 - i) * 131072 for i in range(8)]
    lengths = [65536] * 8
    assert engine.batch_transfer_sync_write(target.name, locals_, remotes, lengths) == 0
    for i, block in enumerate(blocks):
        assert target.read(remotes[i], 65536) == block
    engine.write_bytes_to_buffer(local, bytes(8 * 65536), 8 * 65536)
    assert engine.batch_transfer_sync(target.name, locals_, remotes, lengths,
                                      TransferOpcode.Read, None) == 0
    assert engine.read_bytes_from_buffer(local, 8 * 65536) == b"".join(blocks)
    assert engine.batch_transfer_sync_read(target.name, locals_, remotes, lengths[:-1]) == -1


def test_async_batches(initiator, target, remote):
    engine, local = initiator
    data = os.urandom(256 * 1024)
    engine.write_bytes_to_buffer(local, data, len(data))
    ids = [engine.batch_transfer_async_write(target.name, [local + i * 65536],
                                             [remote + i * 65536], [65536]) for i in range(4)]
    assert all(0 < batch < 2**64 - 1 for batch in ids)
    assert engine.get_batch_transfer_status(ids) == 0
    assert target.read(remote, len(data)) == data
    # The ids were freed by the status call.
    assert engine.get_batch_transfer_status(ids[:1]) == -1

    engine.write_bytes_to_buffer(local, bytes(len(data)), len(data))
    batch = engine.batch_transfer_async(target.name, [local], [remote], [len(data)],
                                        TransferOpcode.Read)
    assert engine.get_batch_transfer_status([batch]) == 0
    assert engine.read_bytes_from_buffer(local, len(data)) == data

    batch = engine.transfer_submit_write(target.name, local, remote + 1, 1000)
    deadline = time.monotonic() + 30
    while (state := engine.transfer_check_status(batch)) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    assert state == 1
    assert engine.transfer_check_status(batch) == -1  # freed once completed
    assert target.read(remote + 1, 1000) == data[:1000]


def test_notifications_follow_the_data(initiator, target, remote):
    engine, local = initiator
    target.notifies()  # drain
    engine.write_bytes_to_buffer(local, b"x" * 100, 100)
    assert engine.transfer_sync(target.name, local, remote, 100, TransferOpcode.Write,
                                TransferNotify("kv-done", "req-17")) == 0
    assert engine.batch_transfer_sync(target.name, [local], [remote + 100], [100],
                                      TransferOpcode.Write, TransferNotify("batch", "2")) == 0
    assert target.notifies() == [("kv-done", "req-17"), ("batch", "2")]
    assert target.notifies() == []
    assert engine.get_notifies() == []


def test_many_threads_transfer_at_once(initiator, target, remote):
    engine, local = initiator
    slices = 8
    size = BUFFER // slices
    payloads = [os.urandom(size) for _ in range(slices)]
    for i, payload in enumerate(payloads):
        engine.write_bytes_to_buffer(local + i * size, payload, size)
    results = [None] * slices

    def work(i):
        codes = []
        for _ in range(5):
            codes.append(engine.transfer_sync_write(target.name, local + i * size,
                                                    remote + i * size, size))
        results[i] = codes

    threads = [threading.Thread(target=work, args=(i,)) for i in range(slices)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [[0] * 5] * slices
    for i, payload in enumerate(payloads):
        assert target.read(remote + i * size, size) == payload


def test_random_sizes_round_trip(initiator, target, remote):
    engine, local = initiator
    rng = random.Random(7)
    for _ in range(20):
        size = rng.randint(1, BUFFER // 2)
        offset = rng.randint(0, BUFFER - size)
        data = rng.randbytes(size)
        engine.write_bytes_to_buffer(local, data, size)
        assert engine.transfer_sync_write(target.name, local, remote + offset, size) == 0
        engine.write_bytes_to_buffer(local, bytes(size), size)
        assert engine.transfer_sync_read(target.name, local, remote + offset, size) == 0
        assert engine.read_bytes_from_buffer(local, size) == data
