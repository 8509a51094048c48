"""Dummy clients (setup_dummy) served by a real standalone mooncake_client
process: several dummy processes sharing one standalone client, the
shared-memory data paths, and the standalone client dying and coming back.

Each test gets its own master (master_factory), so that killing a standalone
client never leaves a dead segment behind in the session's shared master."""

import ctypes
import os
import signal
import subprocess
import tempfile
import time

import pytest

from mooncake_testing import (DEFAULT_DEADLINE_S, RemoteStore, find_client_binary, free_port,
                              unique_key, wait_until)

MiB = 1024 * 1024
RPC_FAIL = -900
INVALID_PARAMS = -600


class StandaloneClient:
    """A real mooncake_client process on a loopback port that stays the same
    across restarts."""

    def __init__(self, binary, master, extra_args=()):
        self.binary = binary
        self.master = master
        self.extra_args = list(extra_args)
        self.port = None
        self.process = None
        self.log = tempfile.NamedTemporaryFile(prefix="mooncake_client_", suffix=".log",
                                               delete=False)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        for _ in range(3):
            fixed = self.port is not None
            if not fixed:
                self.port = free_port()
            offset = len(self.log_text(whole=True))
            self.process = subprocess.Popen(
                [self.binary, "--host=127.0.0.1",
                 f"--metadata_server={self.master.metadata_url}",
                 f"--master_server_address={self.master.rpc_address}",
                 f"--port={self.port}", "--global_segment_size=64MB",
                 "--local_buffer_size=16MB"] + self.extra_args,
                stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            deadline = time.monotonic() + DEFAULT_DEADLINE_S
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                if "dummy service on" in self.log_text(whole=True)[offset:]:
                    return self
                time.sleep(0.05)
            self.kill()
            if fixed:
                break
            self.port = None  # taken meanwhile: try another one
        raise AssertionError(f"mooncake_client did not start:\n{self.log_text()}")

    def segment_name(self):
        """The segment name the latest start logged."""
        text = self.log_text(whole=True)
        marker = "started: segment "
        at = text.rfind(marker)
        return text[at + len(marker):].split(" ", 1)[0] if at >= 0 else ""

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self):
        """SIGTERM; the exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def log_text(self, whole=False):
        with open(self.log.name, "r", errors="replace") as log:
            text = log.read()
        return text if whole else text[-4000:]

    def close(self):
        self.kill()
        self.log.close()
        os.unlink(self.log.name)


@pytest.fixture(scope="session")
def client_binary():
    binary = find_client_binary()
    if binary is None:
        pytest.fail("no mooncake_client found: set MOONCAKE_CLIENT_BIN, install the package, "
                    "or build it", pytrace=False)
    return binary


@pytest.fixture
def standalone_factory(client_binary, master_factory):
    """start(master_args=(), client_args=()) -> a started StandaloneClient on
    a master of its own."""
    started = []

    def start(master_args=(), client_args=()):
        master = master_factory(list(master_args))
        standalone = StandaloneClient(client_binary, master, client_args)
        started.append(standalone)
        return standalone.start()

    yield start
    for standalone in reversed(started):
        standalone.close()


@pytest.fixture
def standalone(standalone_factory):
    return standalone_factory(["--default_kv_lease_ttl=200"], ["--threads=4"])


@pytest.fixture
def dummy_factory():
    """make(server_address, pool=16 MiB, buffer=16 MiB) -> a dummy store in
    a worker process."""
    workers = []

    def make(server_address, mem_pool_size=16 * MiB, local_buffer_size=16 * MiB):
        worker = RemoteStore()
        workers.append(worker)
        code = worker.setup_dummy(mem_pool_size, local_buffer_size, server_address)
        assert code == 0, f"setup_dummy failed with {code}"
        return worker

    yield make
    for worker in reversed(workers):
        worker.stop()


def shared_mappings():
    """(start, end) of this process's mappings of dummy shared memory."""
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            if "memfd:mooncake_dummy" in line:
                start, end = line.split()[0].split("-")
                ranges.append((int(start, 16), int(end, 16)))
    return ranges


def in_shared_memory(address, size):
    return any(start <= address and address + size <= end for start, end in shared_mappings())


def test_setup_dummy_refuses_what_cannot_work(standalone):
    from mooncake.store import MooncakeDistributedStore
    store = MooncakeDistributedStore()
    started = time.monotonic()
    assert store.setup_dummy(MiB, MiB, f"127.0.0.1:{free_port()}") == RPC_FAIL
    assert time.monotonic() - started < 30
    assert store.setup_dummy(MiB, MiB, "127.0.0.1") == INVALID_PARAMS
    assert store.setup_dummy("50%", MiB, standalone.address) == INVALID_PARAMS
    # The master's port speaks another protocol.
    assert store.setup_dummy(MiB, MiB, standalone.master.rpc_address) == RPC_FAIL
    with pytest.raises(TypeError):
        store.setup_dummy(mem_pool=MiB, local_buffer_size=MiB, server_address=standalone.address)
    assert store.get_hostname() == ""
    # Sizes may be human-readable, as for setup().
    assert store.setup_dummy("4 MB", "4MB", server_address=standalone.address) == 0
    assert store.get_hostname() == standalone.segment_name()
    assert store.setup_dummy(MiB, MiB, standalone.address) == -1010  # already set up
    assert store.close() == 0
    assert store.put(unique_key(), b"closed") != 0
    assert store.setup_dummy(MiB, MiB, standalone.address) == 0
    key = unique_key()
    assert store.put(key, b"again") == 0
    assert store.get(key) == b"again"
    store.close()


def test_two_dummy_processes_read_each_others_objects(standalone, dummy_factory):
    first = dummy_factory(standalone.address)
    second = dummy_factory(standalone.address)
    # Both name the standalone client's segment: objects live there.
    assert first.get_hostname() == second.get_hostname() == standalone.segment_name()

    key = unique_key()
    value = os.urandom(3 * MiB + 17)
    assert first.put(key, value) == 0
    assert second.get(key) == value
    assert second.get_size(key) == len(value)
    assert second.is_exist(key) == 1
    assert second.get_buffer(key) == value
    replicas = second.get_replica_desc(key)
    assert [r["memory"]["transport_endpoint"] for r in replicas] == [standalone.segment_name()]

    keys = [unique_key() for _ in range(5)]
    values = [os.urandom(1000 * (i + 1)) for i in range(5)]
    assert second.put_batch(keys, values) == 0
    assert first.get_batch(keys + ["missing-" + unique_key()]) == values + [b""]
    assert first.batch_is_exist(keys[:2] + ["missing"]) == [1, 1, 0]
    assert first.batch_get_buffer(keys[:2] + ["missing"]) == values[:2] + [None]

    # Zero copy in one process, read in the other.
    zero_copy_key = unique_key()
    assert second.run("""
import ctypes
size = 256 * 1024
address = store.alloc_from_mem_pool(size)
ctypes.memmove(address, bytes(range(256)) * 1024, size)
result = store.put_from(args["key"], address, size)
""", key=zero_copy_key) == 0
    assert first.get(zero_copy_key) == bytes(range(256)) * 1024

    # Objects outlive the dummy that put them.
    first.stop()
    assert second.get(key) == value


def test_upserts_through_a_dummy_replace_values(standalone, dummy_factory):
    writer = dummy_factory(standalone.address)
    reader = dummy_factory(standalone.address)
    key = unique_key("dummy-upsert")
    assert writer.put(key, b"old value") == 0
    assert writer.put(key, b"ignored") == 0  # a put keeps the old value
    assert reader.get(key) == b"old value"
    assert writer.upsert(key, b"new value, longer") == 0
    assert reader.get(key) == b"new value, longer"
    time.sleep(0.3)  # past the 200 ms lease: same size, rewritten in place
    assert writer.upsert(key, b"NEW VALUE, LONGER") == 0
    assert reader.get(key) == b"NEW VALUE, LONGER"
    keys = [unique_key("dummy-upsert") for _ in range(3)]
    assert writer.put_batch(keys, [b"a", b"b", b"c"]) == 0
    assert writer.upsert_batch(keys, [b"A", b"BB", b"C"]) == 0
    assert reader.get_batch(keys) == [b"A", b"BB", b"C"]


def credit_commits(master):
    for line in master.metrics().splitlines():
        if line.startswith("mooncake_master_put_credit_commits_total "):
            return float(line.split()[1])
    raise AssertionError("no mooncake_master_put_credit_commits_total in /metrics")


def test_small_dummy_puts_take_put_credits(standalone, dummy_factory):
    """The standalone client puts a dummy's small values through put credits
    (one master call per put or batch): every one of them, exact bytes."""
    writer = dummy_factory(standalone.address)
    reader = dummy_factory(standalone.address)
    before = credit_commits(standalone.master)
    keys = [unique_key("dummy-credit") for _ in range(9)]
    values = [os.urandom(4096 + i) for i in range(len(keys))]
    assert writer.put(keys[0], values[0]) == 0
    assert writer.put_batch(keys[1:], values[1:]) == 0
    assert reader.get_batch(keys) == values
    assert credit_commits(standalone.master) - before == len(keys)
    # A put of a taken key keeps the stored value, credit or not.
    assert writer.put(keys[0], os.urandom(4096)) == 0
    assert reader.get(keys[0]) == values[0]


def test_shared_memory_data_paths(standalone):
    """get_buffer, put_from and get_into move no bytes through the socket:
    they use the memory this process shares with the standalone client."""
    import numpy as np
    from mooncake.store import MooncakeDistributedStore
    store = MooncakeDistributedStore()
    assert store.setup_dummy(8 * MiB, 8 * MiB, standalone.address) == 0
    try:
        source = store.alloc_from_mem_pool(MiB)
        target = store.alloc_from_mem_pool(2 * MiB)
        assert source and target
        assert in_shared_memory(source, MiB) and in_shared_memory(target, 2 * MiB)
        payload = os.urandom(MiB)
        ctypes.memmove(source, payload, MiB)
        key = unique_key()
        assert store.put_from(key, source, MiB) == 0
        assert store.get_into(key, target, 2 * MiB) == MiB
        assert ctypes.string_at(target, MiB) == payload
        assert store.get_into(key, target, MiB - 1) == INVALID_PARAMS

        buffer = store.get_buffer(key)
        assert buffer is not None and buffer.size() == MiB
        assert in_shared_memory(buffer.ptr(), buffer.size())
        assert bytes(buffer) == payload
        assert np.array_equal(np.array(buffer, copy=False), np.frombuffer(payload, np.uint8))
        del buffer

        # Registered memory elsewhere is staged through the local buffer.
        array = np.frombuffer(os.urandom(512 * 1024), dtype=np.uint8).copy()
        received = np.zeros(MiB, dtype=np.uint8)
        staged_key = unique_key()
        assert store.put_from(staged_key, array.ctypes.data, array.nbytes) == INVALID_PARAMS
        assert store.register_buffer(array.ctypes.data, array.nbytes) == 0
        assert store.register_buffer(received.ctypes.data, received.nbytes) == 0
        assert store.put_from(staged_key, array.ctypes.data, array.nbytes) == 0
        assert store.get_into(staged_key, received.ctypes.data, received.nbytes) == array.nbytes
        assert np.array_equal(received[:array.nbytes], array)

        # Batches, multi-buffer values and put_from_with_metadata.
        keys = [unique_key() for _ in range(3)]
        pieces = [source + i * 4096 for i in range(3)]
        assert store.batch_put_from(keys, pieces, [4096] * 3) == [0, 0, 0]
        outputs = [target + i * 8192 for i in range(3)]
        assert store.batch_get_into(keys, outputs, [8192] * 3) == [4096] * 3
        for i in range(3):
            assert ctypes.string_at(outputs[i], 4096) == payload[i * 4096:(i + 1) * 4096]
        multi = unique_key()
        assert store.batch_put_from_multi_buffers(
            [multi], [[source, array.ctypes.data]], [[1000, 2000]]) == [0]
        assert store.get(multi) == payload[:1000] + array[:2000].tobytes()
        received[:] = 0
        assert store.batch_get_into_multi_buffers(
            [multi], [[received.ctypes.data, target]], [[500, 4000]]) == [3000]
        assert received[:500].tobytes() == payload[:500]
        assert ctypes.string_at(target, 2500) == payload[500:1000] + array[:2000].tobytes()
        with_metadata = unique_key()
        assert store.put_from_with_metadata(with_metadata, source, source + 100, 100, 10) == 0
        assert store.get(with_metadata) == payload[:100] + payload[100:110]
        assert store.unregister_buffer(array.ctypes.data) == 0
        assert store.unregister_buffer(array.ctypes.data) == INVALID_PARAMS
        assert store.unregister_buffer(received.ctypes.data) == 0

        # Queries and removes go through the standalone client too.
        assert store.is_exist(key) == 1
        assert store.get_size("missing-" + unique_key()) < 0
        assert store.get_buffer("missing-" + unique_key()) is None
        wait_until(lambda: store.remove(key) == 0, what="remove after the lease")
        assert store.is_exist(key) == 0
        assert store.remove_by_regex("^" + keys[0] + "$") in (0, 1)
        wait_until(lambda: store.remove_all() >= 0 and store.is_exist(multi) == 0,
                   what="remove_all")
    finally:
        store.close()


def test_killed_standalone_gives_rpc_fail_then_works_once_back(standalone_factory,
                                                               dummy_factory):
    # A short client_ttl, so that the master soon forgets the dead process.
    standalone = standalone_factory(["--client_ttl=3"])
    dummy = dummy_factory(standalone.address)
    key = unique_key()
    assert dummy.put(key, b"before") == 0
    old_segment = dummy.get_hostname()

    standalone.kill()
    started = time.monotonic()
    assert dummy.put(unique_key(), b"while down") == RPC_FAIL
    assert dummy.is_exist(key) == -1  # the spec's error value for existence checks
    assert dummy.get_size(key) == RPC_FAIL
    assert dummy.remove(key) == RPC_FAIL
    assert dummy.get(key) == b""
    assert dummy.get_buffer(key) is None
    assert dummy.get_batch([key]) == [b""]
    assert dummy.run("""
address = store.alloc_from_mem_pool(4096)
result = (store.put_from(args["key"], address, 4096), store.get_into(args["key"], address, 4096))
""", key=key) == (RPC_FAIL, RPC_FAIL)
    # Promptly: a dead process is noticed at once, not after a timeout.
    assert time.monotonic() - started < 30

    standalone.start()  # same port
    fresh = unique_key()
    wait_until(lambda: dummy.put(fresh, b"after") == 0, what="a put once the client is back")
    assert dummy.get(fresh) == b"after"
    assert dummy.get_hostname() == standalone.segment_name()
    # The old process's segment (and its objects) are gone once the master
    # gave up on it.
    wait_until(lambda: dummy.is_exist(key) == 0, what="the dead segment to be dropped")
    assert old_segment


def test_sigterm_unmounts_the_segment(standalone, store_factory):
    from mooncake.store import MooncakeDistributedStore, ReplicateConfig
    dummy = MooncakeDistributedStore()
    assert dummy.setup_dummy(MiB, MiB, standalone.address) == 0
    reader = store_factory(on_master=standalone.master, global_segment_size=0)
    key = unique_key()
    assert dummy.put(key, b"on the standalone client",
                     ReplicateConfig(preferred_segment=dummy.get_hostname())) == 0
    assert reader.get(key) == b"on the standalone client"
    assert standalone.stop() == 0
    assert "mooncake_client stopped" in standalone.log_text()
    # Unmounted on the way out, not expired later.
    wait_until(lambda: reader.is_exist(key) == 0, deadline_s=5, what="the object to go")
    assert dummy.put(unique_key(), b"x") == RPC_FAIL
    dummy.close()


def test_tensors_through_a_dummy(standalone):
    torch = pytest.importorskip("torch")
    from mooncake.store import MooncakeDistributedStore
    store = MooncakeDistributedStore()
    assert store.setup_dummy(4 * MiB, 8 * MiB, standalone.address) == 0
    try:
        tensor = torch.arange(1000, dtype=torch.float32).reshape(10, 100)
        key = unique_key()
        assert store.put_tensor(key, tensor) == 0
        assert torch.equal(store.get_tensor(key), tensor)
        assert store.put_tensor_with_tp(key + "_tp", tensor, tp_size=2) == 0
        assert torch.equal(store.get_tensor_with_tp(key + "_tp", tp_rank=1, tp_size=2),
                           tensor[5:])
    finally:
        store.close()


@pytest.mark.parametrize("flag", ["--global_segment_size=50%", "--threads=0", "--port=70000",
                                  "--protocol=udp"])
def test_bad_flags_fail_with_one_line(client_binary, flag):
    run = subprocess.run([client_binary, flag], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mooncake_client: "), run.stderr
    assert flag.split("=")[0][2:] in lines[0]


def test_standalone_http_server_and_dummy_segment_calls(standalone_factory):
    import json
    import urllib.request
    from mooncake.store import MooncakeDistributedStore
    port = free_port()
    standalone = standalone_factory((), ["--enable_http_server=true", f"--http_port={port}"])
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as reply:
        assert (reply.status, json.loads(reply.read())) == (200, {"status": "healthy",
                                                                  "code": 0})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        assert b"mooncake_client_segment_bytes " in reply.read()
    # A dummy contributes no memory of its own: the segment calls refuse.
    store = MooncakeDistributedStore()
    assert store.setup_dummy(MiB, MiB, standalone.address) == 0
    try:
        assert store.mount_segment("/dev/shm/x", MiB) == {"ret": -1, "segment_ids": []}
        assert store.allocate_and_mount_segment(MiB)["ret"] == -1
        assert store.unmount_segment(["1-2"]) == -1
        assert store.unmount_and_free_segment(["1-2"]) == -1
        assert store.batch_replica_clear(["k"]) == []
    finally:
        store.close()


def test_reference_head_client_flags_are_accepted(standalone_factory):
    from mooncake.store import MooncakeDistributedStore
    standalone = standalone_factory((), ["--start_offload_rpc_server=false", "--tenant_id=t1",
                                         "--use_mmap_arena_allocator=true",
                                         "--mmap_arena_pool_size=1GB"])
    dummy = MooncakeDistributedStore()
    assert dummy.setup_dummy(MiB, MiB, standalone.address) == 0
    key = unique_key()
    assert dummy.put(key, b"flags") == 0
    assert dummy.get(key) == b"flags"
    dummy.close()
