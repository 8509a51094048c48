"""Bad input: every public entry point of MooncakeDistributedStore given
empty, 1 MiB and non-UTF-8 keys, negative and oversized sizes, null and
unregistered pointers, buffers smaller than the object, invalid regexes,
unknown segments, batch lists of different lengths and tensor calls with bad
arguments; then garbage bytes sent to every listening port (the master's
gRPC, hot-path, HTTP metadata and /metrics ports, and the transfer-engine TCP
listener of two clients).

Each bad call must give the error the API documents (a code, an empty
result, or the documented exception), change nothing (canary objects stay
byte-exact, the master's object count is unchanged) and crash nothing; after
each barrage of garbage every server still serves (master /health, a put/get
round trip, the canaries) and no process has died.
"""

import random
import struct
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from mooncake.store import ErrorCode, MooncakeDistributedStore, ReplicateConfig
from mooncake_testing import free_port
from reliability_helpers import (MiB, ValueChecker, make_key, metric, send_garbage, value_for,
                                 wait_until)

SEEDS = (11, 23, 47)
INVALID_KEY = int(ErrorCode.INVALID_KEY)
INVALID_PARAMS = int(ErrorCode.INVALID_PARAMS)
OBJECT_NOT_FOUND = int(ErrorCode.OBJECT_NOT_FOUND)
ALREADY_SET_UP = int(ErrorCode.UNAVAILABLE_IN_CURRENT_STATUS)

ONE_MIB_KEY = "k" * MiB
LONGEST_KEY_BYTES = 4096
SURROGATE_KEY = "bad-\ud800-key"  # a str that cannot be encoded as UTF-8
NON_UTF8_BYTES = b"\xff\xfe-not-utf8"


class Cluster:
    """A master (hot path on a known port), an application store in this
    process and a peer store in a worker process, with canary objects on
    both segments that no bad call may touch."""

    def __init__(self, master, hot_port, app, peer):
        self.master = master
        self.hot_port = hot_port
        self.app = app
        self.peer = peer
        self.checker = ValueChecker()
        self.canaries = []
        for owner, name in ((app, "app"), (peer, "peer")):
            for i, size in enumerate((1, 4096, 300 * 1024)):
                key = make_key(f"canary-{name}", size + i)
                config = ReplicateConfig(preferred_segment=owner.get_hostname())
                assert app.put(key, value_for(key), config) == 0
                self.canaries.append(key)
        self.objects = self.object_count()
        assert self.objects == len(self.canaries)

    def object_count(self):
        return int(metric(self.master, "mooncake_master_object_count"))

    def healthy(self):
        try:
            with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.master.http_port}/health", timeout=5) as reply:
                return reply.status == 200
        except (urllib.error.URLError, ConnectionError, OSError):
            return False

    def assert_alive(self, after):
        """Every process lives, the master answers, the canaries are exact and
        no object appeared or vanished."""
        assert self.master.process.poll() is None, f"master died after {after}"
        assert self.peer.process.poll() is None, f"peer store died after {after}"
        wait_until(self.healthy, deadline_s=30, what=f"master /health after {after}")
        for key in self.canaries:
            assert self.checker.matches(key, self.app.get(key)), f"canary {key} after {after}"
        count = self.object_count()
        assert count == self.objects, f"{after}: {count} objects, expected {self.objects}"

    def assert_round_trip(self, after):
        """A fresh put/get from both stores is exact (then removed again)."""
        for store in (self.app, self.peer):
            key = make_key("round-trip", 64 * 1024)
            assert store.put(key, value_for(key)) == 0, f"put failed after {after}"
            assert self.checker.matches(key, self.app.get(key)), f"round trip after {after}"
            assert self.checker.matches(key, self.peer.get(key)), f"round trip after {after}"
            self.objects += 1
        self.assert_alive(after)


@pytest.fixture
def cluster(master_factory, store_factory, remote_factory):
    hot_port = free_port()
    # MasterProcess passes --hot_rpc_port=0; a later flag wins.
    master = master_factory([f"--hot_rpc_port={hot_port}"])
    app = store_factory(on_master=master, global_segment_size=32 * MiB,
                        local_buffer_size=32 * MiB)
    peer = remote_factory(on_master=master, global_segment_size=32 * MiB,
                          local_buffer_size=32 * MiB)
    return Cluster(master, hot_port, app, peer)


# ---------------------------------------------------------------------------
# Bad calls through the Python API


class Outcome:
    """What a bad call must give: a value, a predicate, or an exception."""

    def __init__(self, text, check):
        self.text = text
        self.check = check


def _stored_then_removed(store, key, put):
    """An unknown preferred segment is a hint: the put succeeds. Its code, with
    the object removed again so that the battery's object count holds."""
    result = put()
    store.remove(key, force=True)
    return result


def code(expected):
    return Outcome(repr(expected), lambda got: got == expected)


def negative():
    return Outcome("a negative code", lambda got: isinstance(got, int) and got < 0)


def every(expected):
    return Outcome(f"[{expected}, ...]", lambda got: isinstance(got, list) and len(got) > 0
                   and all(item == expected for item in got))


def raises(*errors):
    return Outcome(" or ".join(error.__name__ for error in errors), errors)


class Battery:
    """Runs bad calls, compares each outcome with the documented one, checks
    the cluster after each entry point, and counts inputs per entry point."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.per_entry_point = {}
        self.mismatches = []

    def call(self, entry_point, what, function, expected):
        self.per_entry_point[entry_point] = self.per_entry_point.get(entry_point, 0) + 1
        if isinstance(expected.check, tuple):
            try:
                got = function()
            except expected.check:
                return
            except Exception as error:  # noqa: BLE001 - any other exception is a finding
                got = f"{type(error).__name__}: {error}"
            self.mismatches.append(f"{entry_point}({what}): {got!r}, expected {expected.text}")
            return
        try:
            got = function()
        except Exception as error:  # noqa: BLE001
            got = f"raised {type(error).__name__}: {str(error)[:200]}"
            self.mismatches.append(f"{entry_point}({what}): {got}, expected {expected.text}")
            return
        if not expected.check(got):
            self.mismatches.append(f"{entry_point}({what}): {got!r:.200}, expected "
                                   f"{expected.text}")

    def checkpoint(self, after):
        self.cluster.assert_alive(after)


def bad_keys():
    """(description, key, expected code of a put) for keys the API refuses
    or that it must keep apart from similar valid keys."""
    return [
        ("empty", "", INVALID_KEY),
        ("1 MiB", ONE_MIB_KEY, INVALID_KEY),
        (f"{LONGEST_KEY_BYTES + 1} bytes", "x" * (LONGEST_KEY_BYTES + 1), INVALID_KEY),
        ("1 MiB bytes", b"k" * MiB, INVALID_KEY),
        ("empty bytes", b"", INVALID_KEY),
    ]


def run_key_battery(battery, store):
    missing = make_key("never-stored", 10)
    for what, key, put_code in bad_keys():
        battery.call("put", what, lambda: store.put(key, b"value"), code(put_code))
        battery.call("put_parts", what, lambda: store.put_parts(key, b"a", b"b"), code(put_code))
        battery.call("get", what, lambda: store.get(key), code(b""))
        battery.call("get_buffer", what, lambda: store.get_buffer(key), code(None))
        battery.call("get_size", what, lambda: store.get_size(key), code(put_code))
        battery.call("is_exist", what, lambda: store.is_exist(key), code(-1))
        battery.call("remove", what, lambda: store.remove(key), code(put_code))
        battery.call("get_replica_desc", what, lambda: store.get_replica_desc(key), code([]))
        battery.call("put_batch", what, lambda: store.put_batch([key, key], [b"a", b"b"]),
                     code(put_code))
        battery.call("get_batch", what, lambda: store.get_batch([key, missing]),
                     code([b"", b""]))
        battery.call("batch_get_buffer", what, lambda: store.batch_get_buffer([key]),
                     code([None]))
        battery.call("batch_is_exist", what, lambda: store.batch_is_exist([key, missing]),
                     code([-1, 0]))
        battery.call("batch_get_replica_desc", what,
                     lambda: len(store.batch_get_replica_desc([key, missing])), code(2))
        battery.call("create_copy_task", what,
                     lambda: store.create_copy_task(key, [store.get_hostname()])[1],
                     code(put_code))
        battery.call("create_move_task", what,
                     lambda: store.create_move_task(key, "a:1", store.get_hostname())[1],
                     negative())
    # A str that is not encodable: the argument conversion refuses it.
    for name, call in (
            ("put", lambda: store.put(SURROGATE_KEY, b"v")),
            ("get", lambda: store.get(SURROGATE_KEY)),
            ("get_buffer", lambda: store.get_buffer(SURROGATE_KEY)),
            ("is_exist", lambda: store.is_exist(SURROGATE_KEY)),
            ("get_size", lambda: store.get_size(SURROGATE_KEY)),
            ("remove", lambda: store.remove(SURROGATE_KEY)),
            ("put_batch", lambda: store.put_batch([SURROGATE_KEY], [b"v"])),
            ("get_batch", lambda: store.get_batch([SURROGATE_KEY])),
            ("batch_is_exist", lambda: store.batch_is_exist([SURROGATE_KEY])),
            ("remove_by_regex", lambda: store.remove_by_regex(SURROGATE_KEY)),
            ("put_from", lambda: store.put_from(SURROGATE_KEY, 0, 1)),
            ("get_into", lambda: store.get_into(SURROGATE_KEY, 0, 1)),
    ):
        battery.call(name, "lone surrogate", call, raises(TypeError, UnicodeError))


def run_non_utf8_keys(battery, store, cluster):
    """Keys are bytes on the wire: a non-UTF-8 bytes key is a key like any
    other (stored, read back exactly, listed, removed), distinct from its
    neighbours, and every call that echoes keys back copes with it."""
    key = NON_UTF8_BYTES + make_key("", 100).encode()
    value = b"\x00\xff" * 50
    battery.call("put", "non-UTF-8 bytes key", lambda: store.put(key, value), code(0))
    cluster.objects += 1
    battery.call("get", "non-UTF-8 bytes key", lambda: store.get(key), code(value))
    battery.call("get_size", "non-UTF-8 bytes key", lambda: store.get_size(key), code(100))
    battery.call("is_exist", "non-UTF-8 bytes key", lambda: store.is_exist(key), code(1))
    battery.call("get", "key without its last byte", lambda: store.get(key[:-1]), code(b""))
    battery.call("get_batch", "non-UTF-8 bytes key", lambda: store.get_batch([key]),
                 code([value]))
    battery.call("batch_get_replica_desc", "non-UTF-8 bytes key",
                 lambda: [len(v) for v in store.batch_get_replica_desc([key]).values()],
                 code([1]))
    task, status = store.create_copy_task(key, [cluster.peer.get_hostname()])
    battery.call("create_copy_task", "non-UTF-8 bytes key", lambda: status, code(0))
    if status == 0:
        def finished():
            response, query_status = store.query_task(task)
            return response if query_status == 0 and int(response.status) in (2, 4) else None
        response = wait_until(finished, deadline_s=30, what="the copy task to finish")
        battery.call("query_task", "non-UTF-8 key: .key", lambda: response.key, code(key))
        battery.call("query_task", "non-UTF-8 key: repr", lambda: type(repr(response)),
                     code(str))
        battery.call("query_task", "non-UTF-8 key: .message", lambda: type(response.message),
                     code(str))
    # An embedded NUL is part of the key, not its end.
    nul_key = make_key("nul", 10) + "\x00tail"
    battery.call("put", "key with NUL", lambda: store.put(nul_key, b"nul-value"), code(0))
    cluster.objects += 1
    battery.call("get", "key with NUL", lambda: store.get(nul_key), code(b"nul-value"))
    battery.call("get", "key before the NUL", lambda: store.get(nul_key.split("\x00")[0]),
                 code(b""))
    battery.call("put", f"{LONGEST_KEY_BYTES}-byte key (the limit)",
                 lambda: store.put("L" * LONGEST_KEY_BYTES, b"longest"), code(0))
    cluster.objects += 1


def run_value_and_config_battery(battery, store, cluster):
    key = make_key("bad-value", 10)
    for what, value in (("None", None), ("str", "text"), ("int", 5), ("list", [1, 2])):
        battery.call("put", f"value {what}", lambda: store.put(key, value),
                     raises(TypeError, BufferError))
        battery.call("put_parts", f"part {what}", lambda: store.put_parts(key, b"a", value),
                     raises(TypeError, BufferError))
    battery.call("put", "empty value", lambda: store.put(key, b""), code(INVALID_PARAMS))
    battery.call("put_parts", "no parts", lambda: store.put_parts(key), code(INVALID_PARAMS))
    battery.call("put", "non-contiguous numpy",
                 lambda: store.put(key, np.zeros((4, 4), dtype=np.uint8)[:, ::2]),
                 raises(TypeError, BufferError, ValueError))
    battery.call("put", "value larger than the local buffer",
                 lambda: store.put(key, bytes(40 * MiB)), negative())
    battery.call("put", "unknown preferred segment (a hint)",
                 lambda: _stored_then_removed(store, key, lambda: store.put(
                     key, b"v", ReplicateConfig(preferred_segment="nohost:1"))),
                 code(0))
    battery.call("put", "non-UTF-8 preferred segment",
                 lambda: store.put(key, b"v", _config(preferred_segment=NON_UTF8_BYTES)),
                 code(INVALID_PARAMS))
    battery.call("put", "replica_num=0", lambda: store.put(key, b"v",
                                                           ReplicateConfig(replica_num=0)),
                 code(INVALID_PARAMS))
    battery.call("ReplicateConfig", "replica_num=-1", lambda: ReplicateConfig(replica_num=-1),
                 raises(TypeError))
    battery.call("ReplicateConfig", "replica_num=2**64",
                 lambda: ReplicateConfig(replica_num=2**64), raises(TypeError, OverflowError))
    battery.call("put", "config not a ReplicateConfig", lambda: store.put(key, b"v", "cfg"),
                 raises(TypeError))
    battery.call("put_batch", "3 keys, 2 values",
                 lambda: store.put_batch([key, key + "2", key + "3"], [b"a", b"b"]),
                 code(INVALID_PARAMS))
    battery.call("put_batch", "0 keys, 1 value", lambda: store.put_batch([], [b"a"]),
                 code(INVALID_PARAMS))
    battery.call("put_batch", "keys not a list", lambda: store.put_batch(5, [b"a"]),
                 raises(TypeError))
    battery.call("put_batch", "unknown preferred segment (a hint)",
                 lambda: _stored_then_removed(store, key, lambda: store.put_batch(
                     [key], [b"a"], ReplicateConfig(preferred_segment="x:1"))),
                 code(0))
    # Regexes: invalid, back-references (refused), too long, non-UTF-8, and
    # patterns whose expansion would be huge.
    for what, regex in (("unbalanced", "(canary"), ("bad escape", "\\"),
                        ("bad range", "[z-a]"), ("back-reference", r"(a)\1"),
                        ("1 MiB", "a" * MiB), ("huge repetition", "((a{1000}){1000}){1000}"),
                        ("non-UTF-8", b"\xff(canary"), ("dangling quantifier", "*canary")):
        battery.call("remove_by_regex", what, lambda: store.remove_by_regex(regex),
                     code(INVALID_PARAMS))
    battery.call("remove_by_regex", "matches nothing",
                 lambda: store.remove_by_regex("^no-such-prefix-at-all/"), code(0))
    # Tasks naming unknown or malformed segments.
    canary = cluster.canaries[0]
    battery.call("create_copy_task", "unknown target",
                 lambda: store.create_copy_task(canary, ["nohost:1"])[1], code(INVALID_PARAMS))
    battery.call("create_copy_task", "no targets", lambda: store.create_copy_task(canary, [])[1],
                 code(INVALID_PARAMS))
    battery.call("create_copy_task", "non-UTF-8 target",
                 lambda: store.create_copy_task(canary, [NON_UTF8_BYTES])[1],
                 code(INVALID_PARAMS))
    battery.call("create_move_task", "unknown source",
                 lambda: store.create_move_task(canary, "nohost:1", store.get_hostname())[1],
                 negative())
    battery.call("create_move_task", "non-UTF-8 target",
                 lambda: store.create_move_task(canary, store.get_hostname(), NON_UTF8_BYTES)[1],
                 code(INVALID_PARAMS))
    battery.call("create_move_task", "source == target",
                 lambda: store.create_move_task(canary, store.get_hostname(),
                                                store.get_hostname())[1], negative())
    battery.call("query_task", "unknown id", lambda: store.query_task((1, 2))[1],
                 code(int(ErrorCode.TASK_NOT_FOUND)))
    battery.call("query_task", "string id", lambda: store.query_task("id"), raises(TypeError))
    battery.call("query_task", "negative id", lambda: store.query_task((-1, 0)),
                 raises(TypeError))
    battery.call("query_task", "3-tuple", lambda: store.query_task((1, 2, 3)), raises(TypeError))
    battery.call("query_task", "2**64 id", lambda: store.query_task((2**64, 0)),
                 raises(TypeError))
    # Set-up calls on a store that is set up, and on fresh stores.
    battery.call("setup", "already set up",
                 lambda: store.setup("127.0.0.1", cluster.master.metadata_url, 16 * MiB, 16 * MiB,
                                     "tcp", "", cluster.master.rpc_address),
                 code(ALREADY_SET_UP))
    for what, args in (
            ("size '50%'", ("127.0.0.1", cluster.master.metadata_url, "50%", 16 * MiB)),
            ("negative size", ("127.0.0.1", cluster.master.metadata_url, -1, 16 * MiB)),
            ("size 2**64", ("127.0.0.1", cluster.master.metadata_url, 2**64, 16 * MiB)),
            ("float size", ("127.0.0.1", cluster.master.metadata_url, 1.5, 16 * MiB)),
            ("unknown protocol", ("127.0.0.1", cluster.master.metadata_url, 0, 0, "carrier")),
    ):
        fresh = MooncakeDistributedStore()
        battery.call("setup", what, lambda: fresh.setup(*args, master_server_addr=cluster.master
                                                        .rpc_address), negative())
        fresh.close()
    fresh = MooncakeDistributedStore()
    battery.call("setup", "unknown dict key", lambda: fresh.setup({"local_hostname": "x",
                                                                  "metadata_server": "y",
                                                                  "no_such_key": 1}),
                 code(INVALID_PARAMS))
    battery.call("setup_dummy", "size '50%'", lambda: fresh.setup_dummy("50%", 0, "127.0.0.1:1"),
                 code(INVALID_PARAMS))
    battery.call("setup_dummy", "negative size", lambda: fresh.setup_dummy(-5, 0, "127.0.0.1:1"),
                 code(INVALID_PARAMS))
    battery.call("init_all", "size '50%'", lambda: fresh.init_all("tcp", "", "50%"),
                 code(INVALID_PARAMS))
    # Every call on a store that is not set up.
    battery.call("put", "not set up", lambda: fresh.put("k", b"v"), code(ALREADY_SET_UP))
    battery.call("get", "not set up", lambda: fresh.get("k"), code(b""))
    battery.call("put_from", "not set up", lambda: fresh.put_from("k", 0, 1),
                 code(ALREADY_SET_UP))
    battery.call("register_buffer", "not set up", lambda: fresh.register_buffer(0, 1),
                 code(ALREADY_SET_UP))
    battery.call("close", "not set up", lambda: fresh.close(), code(0))


def _config(**fields):
    config = ReplicateConfig()
    for name, value in fields.items():
        setattr(config, name, value)
    return config


def run_pointer_battery(battery, store, cluster):
    canary = cluster.canaries[-1]  # 300 KiB on the peer
    canary_size = len(value_for(canary))
    registered = np.full(MiB, 0xAB, dtype=np.uint8)
    unregistered = np.full(MiB, 0xCD, dtype=np.uint8)
    reg = registered.ctypes.data
    unreg = unregistered.ctypes.data
    assert store.register_buffer(reg, registered.nbytes) == 0
    key = make_key("bad-pointer", 100)
    try:
        # register_buffer / unregister_buffer
        battery.call("register_buffer", "null", lambda: store.register_buffer(0, 4096),
                     code(INVALID_PARAMS))
        battery.call("register_buffer", "size 0", lambda: store.register_buffer(unreg, 0),
                     code(INVALID_PARAMS))
        battery.call("register_buffer", "negative address",
                     lambda: store.register_buffer(-4096, 10), raises(TypeError))
        battery.call("register_buffer", "negative size", lambda: store.register_buffer(unreg, -1),
                     raises(TypeError))
        battery.call("register_buffer", "address 2**64",
                     lambda: store.register_buffer(2**64, 10), raises(TypeError))
        battery.call("register_buffer", "overlapping a registration",
                     lambda: store.register_buffer(reg + 4096, 4096), negative())
        battery.call("register_buffer", "range wrapping around",
                     lambda: store.register_buffer(2**64 - 4096, 8192), negative())
        battery.call("unregister_buffer", "never registered",
                     lambda: store.unregister_buffer(unreg), code(INVALID_PARAMS))
        battery.call("unregister_buffer", "null", lambda: store.unregister_buffer(0),
                     code(INVALID_PARAMS))
        battery.call("unregister_buffer", "inside a registration",
                     lambda: store.unregister_buffer(reg + 16), code(INVALID_PARAMS))
        # put_from / get_into
        battery.call("put_from", "null", lambda: store.put_from(key, 0, 100),
                     code(INVALID_PARAMS))
        battery.call("put_from", "unregistered", lambda: store.put_from(key, unreg, 100),
                     code(INVALID_PARAMS))
        battery.call("put_from", "size 0", lambda: store.put_from(key, reg, 0),
                     code(INVALID_PARAMS))
        battery.call("put_from", "negative size", lambda: store.put_from(key, reg, -1),
                     raises(TypeError))
        battery.call("put_from", "size past the registration",
                     lambda: store.put_from(key, reg, MiB + 1), code(INVALID_PARAMS))
        battery.call("put_from", "size 2**62", lambda: store.put_from(key, reg, 2**62),
                     code(INVALID_PARAMS))
        battery.call("put_from", "size 2**64", lambda: store.put_from(key, reg, 2**64),
                     raises(TypeError))
        battery.call("put_from", "empty key", lambda: store.put_from("", reg, 10),
                     code(INVALID_KEY))
        battery.call("put_from", "unknown preferred segment (a hint)",
                     lambda: _stored_then_removed(store, key, lambda: store.put_from(
                         key, reg, 10, ReplicateConfig(preferred_segment="q:1"))),
                     code(0))
        battery.call("get_into", "null", lambda: store.get_into(canary, 0, MiB),
                     code(INVALID_PARAMS))
        battery.call("get_into", "unregistered", lambda: store.get_into(canary, unreg, MiB),
                     code(INVALID_PARAMS))
        battery.call("get_into", "buffer smaller than the object",
                     lambda: store.get_into(canary, reg, canary_size - 1), negative())
        battery.call("get_into", "size 0", lambda: store.get_into(canary, reg, 0), negative())
        battery.call("get_into", "running past the registration",
                     lambda: store.get_into(canary, reg + MiB - 100, canary_size),
                     code(INVALID_PARAMS))
        battery.call("get_into", "missing key", lambda: store.get_into(key, reg, MiB),
                     code(OBJECT_NOT_FOUND))
        battery.call("get_into", "empty key", lambda: store.get_into("", reg, MiB),
                     code(INVALID_KEY))
        # Batches: lists of different lengths, bad members.
        battery.call("batch_put_from", "2 keys, 1 pointer",
                     lambda: store.batch_put_from([key, key + "b"], [reg], [10, 10]),
                     every(INVALID_PARAMS))
        battery.call("batch_put_from", "2 keys, 3 sizes",
                     lambda: store.batch_put_from([key, key + "b"], [reg, reg], [1, 2, 3]),
                     every(INVALID_PARAMS))
        battery.call("batch_put_from", "null and unregistered",
                     lambda: store.batch_put_from([key, key + "b"], [0, unreg], [10, 10]),
                     every(INVALID_PARAMS))
        battery.call("batch_put_from", "negative size",
                     lambda: store.batch_put_from([key], [reg], [-1]), raises(TypeError))
        battery.call("batch_get_into", "1 key, 2 pointers",
                     lambda: store.batch_get_into([canary], [reg, reg], [MiB]),
                     every(INVALID_PARAMS))
        battery.call("batch_get_into", "1 key, no sizes",
                     lambda: store.batch_get_into([canary], [reg], []), every(INVALID_PARAMS))
        battery.call("batch_get_into", "null, unregistered, too small",
                     lambda: store.batch_get_into([canary] * 3, [0, unreg, reg],
                                                  [MiB, MiB, canary_size - 1]),
                     Outcome("3 negative codes", lambda got: len(got) == 3
                             and all(item < 0 for item in got)))
        battery.call("batch_put_from_multi_buffers", "2 keys, 1 pointer list",
                     lambda: store.batch_put_from_multi_buffers([key, key + "b"], [[reg]],
                                                                [[10], [10]]),
                     every(INVALID_PARAMS))
        battery.call("batch_put_from_multi_buffers", "pointers and sizes of different lengths",
                     lambda: store.batch_put_from_multi_buffers([key], [[reg, reg + 100]], [[10]]),
                     every(INVALID_PARAMS))
        battery.call("batch_put_from_multi_buffers", "a null part",
                     lambda: store.batch_put_from_multi_buffers([key], [[reg, 0]], [[10, 10]]),
                     every(INVALID_PARAMS))
        battery.call("batch_put_from_multi_buffers", "an unregistered part",
                     lambda: store.batch_put_from_multi_buffers([key], [[reg, unreg]], [[10, 10]]),
                     every(INVALID_PARAMS))
        battery.call("batch_put_from_multi_buffers", "no parts",
                     lambda: store.batch_put_from_multi_buffers([key], [[]], [[]]),
                     every(INVALID_PARAMS))
        battery.call("batch_get_into_multi_buffers", "1 key, 2 size lists",
                     lambda: store.batch_get_into_multi_buffers([canary], [[reg]], [[MiB], [1]]),
                     every(INVALID_PARAMS))
        battery.call("batch_get_into_multi_buffers", "parts smaller than the object",
                     lambda: store.batch_get_into_multi_buffers(
                         [canary], [[reg, reg + 1000]], [[100, 100]]), every(INVALID_PARAMS))
        battery.call("batch_get_into_multi_buffers", "an unregistered part",
                     lambda: store.batch_get_into_multi_buffers(
                         [canary], [[reg, unreg]], [[100, canary_size]]), every(INVALID_PARAMS))
        battery.call("put_from_with_metadata", "null metadata",
                     lambda: store.put_from_with_metadata(key, reg, 0, 10, 10),
                     code(INVALID_PARAMS))
        battery.call("put_from_with_metadata", "unregistered metadata",
                     lambda: store.put_from_with_metadata(key, reg, unreg, 10, 10),
                     code(INVALID_PARAMS))
        battery.call("put_from_with_metadata", "metadata past the registration",
                     lambda: store.put_from_with_metadata(key, reg, reg + MiB - 5, 10, 10),
                     code(INVALID_PARAMS))
        battery.call("alloc_from_mem_pool", "size 0", lambda: store.alloc_from_mem_pool(0),
                     code(0))
        battery.call("alloc_from_mem_pool", "size 2**62",
                     lambda: store.alloc_from_mem_pool(2**62), code(0))
        battery.call("alloc_from_mem_pool", "negative size",
                     lambda: store.alloc_from_mem_pool(-1), code(0))
        # Nothing was written into the caller's memory by the failed reads.
        battery.call("get_into", "(memory left untouched)",
                     lambda: bool((registered == 0xAB).all() and (unregistered == 0xCD).all()),
                     code(True))
    finally:
        assert store.unregister_buffer(reg) == 0
    battery.call("unregister_buffer", "twice", lambda: store.unregister_buffer(reg),
                 code(INVALID_PARAMS))


def run_tensor_battery(battery, store, cluster):
    torch = pytest.importorskip("torch")
    key = make_key("bad-tensor", 10)
    tensor = torch.arange(64, dtype=torch.float32).reshape(8, 8)
    canary = cluster.canaries[0]  # 1 byte: fits every buffer below, and is no tensor
    battery.call("put_tensor", "not a tensor", lambda: store.put_tensor(key, b"bytes"),
                 code(INVALID_PARAMS))
    battery.call("put_tensor", "empty key", lambda: store.put_tensor("", tensor),
                 code(INVALID_KEY))
    battery.call("put_tensor", "1 MiB key", lambda: store.put_tensor(ONE_MIB_KEY, tensor),
                 code(INVALID_KEY))
    battery.call("pub_tensor", "unknown preferred segment (a hint)",
                 lambda: _stored_then_removed(store, key, lambda: store.pub_tensor(
                     key, tensor, ReplicateConfig(preferred_segment="z:1"))),
                 code(0))
    battery.call("get_tensor", "not a tensor (a canary)", lambda: store.get_tensor(canary),
                 code(None))
    battery.call("get_tensor", "empty key", lambda: store.get_tensor(""), code(None))
    battery.call("batch_put_tensor", "2 keys, 1 tensor",
                 lambda: store.batch_put_tensor([key, key + "b"], [tensor]),
                 code([INVALID_PARAMS] * 2))
    # Per entry: the tensor is stored, the other member refused.
    battery.call("batch_pub_tensor", "a non-tensor member",
                 lambda: _stored_then_removed(store, key, lambda: store.batch_pub_tensor(
                     [key, key + "b"], [tensor, "x"])),
                 code([0, INVALID_PARAMS]))
    battery.call("batch_get_tensor", "empty and missing keys",
                 lambda: store.batch_get_tensor(["", key]), code([None, None]))
    battery.call("put_tensor_with_tp", "split_dim out of range",
                 lambda: store.put_tensor_with_tp(key, tensor, tp_size=2, split_dim=7),
                 code(INVALID_PARAMS))
    battery.call("pub_tensor_with_tp", "not a tensor",
                 lambda: store.pub_tensor_with_tp(key, [1, 2], None, tp_size=2),
                 code(INVALID_PARAMS))
    battery.call("batch_put_tensor_with_tp", "2 keys, 1 tensor",
                 lambda: store.batch_put_tensor_with_tp([key, key + "b"], [tensor], tp_size=2),
                 code([INVALID_PARAMS] * 2))
    battery.call("get_tensor_with_tp", "rank with no shard",
                 lambda: store.get_tensor_with_tp(key, tp_rank=99, tp_size=2), code(None))
    battery.call("batch_get_tensor_with_tp", "rank with no shard",
                 lambda: store.batch_get_tensor_with_tp([key], tp_rank=5, tp_size=8),
                 code([None]))
    target = np.zeros(4096, dtype=np.uint8)
    assert store.register_buffer(target.ctypes.data, target.nbytes) == 0
    try:
        battery.call("get_tensor_into", "missing key",
                     lambda: store.get_tensor_into(key, target.ctypes.data, target.nbytes),
                     code(None))
        battery.call("get_tensor_into", "null buffer",
                     lambda: store.get_tensor_into(key, 0, 64), code(None))
        battery.call("get_tensor_into", "buffer smaller than the object",
                     lambda: store.get_tensor_into(cluster.canaries[-1], target.ctypes.data,
                                                   target.nbytes), code(None))
        battery.call("get_tensor_into", "not a tensor (a canary)",
                     lambda: store.get_tensor_into(canary, target.ctypes.data, target.nbytes),
                     code(None))
        battery.call("batch_get_tensor_into", "unregistered buffer",
                     lambda: store.batch_get_tensor_into([canary], [target.ctypes.data + 8192],
                                                         [64]), code([None]))
        battery.call("get_tensor_with_tp_into", "rank with no shard",
                     lambda: store.get_tensor_with_tp_into(key, target.ctypes.data, 4096,
                                                           tp_rank=3, tp_size=4), code(None))
        battery.call("batch_get_tensor_with_tp_into", "rank with no shard",
                     lambda: store.batch_get_tensor_with_tp_into(
                         [key], [target.ctypes.data], [4096], tp_rank=1, tp_size=2), code([None]))
    finally:
        assert store.unregister_buffer(target.ctypes.data) == 0


def test_bad_input_through_every_entry_point(cluster, figures):
    battery = Battery(cluster)
    store = cluster.app
    run_key_battery(battery, store)
    battery.checkpoint("bad keys")
    run_non_utf8_keys(battery, store, cluster)
    battery.checkpoint("non-UTF-8 keys")
    run_value_and_config_battery(battery, store, cluster)
    battery.checkpoint("bad values, configs, regexes, segments, tasks, setups")
    run_pointer_battery(battery, store, cluster)
    battery.checkpoint("bad pointers and sizes")
    run_tensor_battery(battery, store, cluster)
    battery.checkpoint("bad tensor calls")
    cluster.assert_round_trip("every bad call")

    figures["entry_points_tested"] = len(battery.per_entry_point)
    figures["bad_inputs_tried"] = sum(battery.per_entry_point.values())
    figures["mismatched_outcomes"] = len(battery.mismatches)
    figures["bytes_verified"] = cluster.checker.bytes_verified
    figures["values_verified"] = cluster.checker.values_verified
    for entry_point, count in sorted(battery.per_entry_point.items()):
        print(f"  {entry_point}: {count} bad inputs")
    assert not battery.mismatches, "bad input gave undocumented results:\n" + "\n".join(
        battery.mismatches)


# ---------------------------------------------------------------------------
# Garbage bytes to every listening port

HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def http2_frame(length, frame_type, flags=0, stream=0, payload=b""):
    return struct.pack(">I", length)[1:] + bytes([frame_type, flags]) + struct.pack(
        ">I", stream) + payload


def grpc_garbage(rng):
    yield "random bytes", rng.randbytes(rng.randint(1, 64 * 1024)), 0.2
    yield "truncated preface", HTTP2_PREFACE[:rng.randint(1, len(HTTP2_PREFACE) - 1)], 0.2
    yield "preface + huge SETTINGS frame", HTTP2_PREFACE + http2_frame(
        0xFFFFFF, 0x4, payload=rng.randbytes(32 * 1024)), 0.5
    yield "preface + huge DATA frame", HTTP2_PREFACE + http2_frame(0, 0x4) + http2_frame(
        0xFFFFFF, 0x0, stream=1, payload=rng.randbytes(16 * 1024)), 0.5
    yield "preface + garbage HEADERS", HTTP2_PREFACE + http2_frame(0, 0x4) + http2_frame(
        512, 0x1, flags=0x4, stream=1, payload=rng.randbytes(512)), 0.5
    yield "preface + random frames", HTTP2_PREFACE + rng.randbytes(8 * 1024), 0.2
    yield "HTTP/1.1 request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 0.5


def hot_rpc_garbage(rng):
    hello = b"MCHP" + struct.pack("<I", 1)
    yield "random bytes", rng.randbytes(rng.randint(1, 64 * 1024)), 0.2
    yield "short hello", hello[:rng.randint(1, 7)], 0.2
    yield "wrong version", b"MCHP" + struct.pack("<I", 0xDEAD), 1.0
    yield "hello + frame of 4 GiB", hello + struct.pack("<I", 0xFFFFFFFF) + b"x" * 100, 1.0
    yield "hello + truncated 64 MiB frame", hello + struct.pack("<I", 64 << 20) + rng.randbytes(
        4096), 0.2
    yield "hello + random frames", hello + b"".join(
        struct.pack("<I", n) + rng.randbytes(n) for n in (rng.randint(0, 300) for _ in range(20))
    ), 1.0
    yield "hello + empty frame", hello + struct.pack("<I", 0), 1.0


def http_garbage(rng, path):
    yield "random bytes", rng.randbytes(rng.randint(1, 64 * 1024)), 0.5
    yield "garbage request line", b"\x00\xffGARBAGE \x01 HTTP/9.9\r\n\r\n", 0.5
    yield "huge headers", b"GET " + path + b"?key=a HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(300)) + b"\r\n", 0.5
    yield "huge request line", b"GET /" + b"a" * (256 * 1024) + b" HTTP/1.1\r\n\r\n", 0.5
    yield "oversized body", b"PUT " + path + b"?key=garbage-huge HTTP/1.1\r\nHost: x\r\n" + \
        b"Content-Length: %d\r\n\r\n" % (17 * MiB) + bytes(17 * MiB), 1.0
    yield "lying content length", b"PUT " + path + b"?key=garbage-lie HTTP/1.1\r\nHost: x\r\n" \
        b"Content-Length: 99999999999999999999\r\n\r\nabc", 0.5
    yield "negative content length", b"PUT " + path + b"?key=g HTTP/1.1\r\nHost: x\r\n" \
        b"Content-Length: -5\r\n\r\nabc", 0.5
    yield "missing key", b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n", 0.5
    yield "bad chunked body", b"PUT " + path + b"?key=g HTTP/1.1\r\nHost: x\r\n" \
        b"Transfer-Encoding: chunked\r\n\r\nZZZZ\r\n" + rng.randbytes(100), 0.5
    yield "truncated request", b"GET " + path[:rng.randint(1, len(path))], 0.2


def te_header(opcode, instance=(0, 0), address=0, length=0, request_id=7):
    return struct.pack("<IB3xQQQQQ", 0x5154434D, opcode, instance[0], instance[1], address,
                       length, request_id)


def te_reply(data):
    """(status, error, length) of the first response header in `data`."""
    if len(data) < 32:
        return None
    magic, status, error, _, length, _ = struct.unpack_from("<IiiIQQ", data)
    return (status, error, length) if magic == 0x5254434D else None


def te_garbage(rng, instance):
    wrong = (instance[0] ^ 1, instance[1])
    yield "random bytes", rng.randbytes(rng.randint(1, 64 * 1024)), 0.2, None
    yield "valid magic + random header", struct.pack("<I", 0x5154434D) + rng.randbytes(44), 0.5, \
        None
    yield "READ of 2**64-1 bytes", te_header(1, instance, 4096, 2**64 - 1), 1.0, 1
    yield "WRITE of 2**63 bytes", te_header(2, instance, 4096, 2**63) + b"x" * 100, 1.0, 1
    yield "READ at address 0", te_header(1, instance, 0, 4096), 1.0, 2
    yield "READ wrapping around", te_header(1, instance, 2**64 - 16, 4096), 1.0, 2
    yield "READ at a random address", te_header(1, instance, rng.getrandbits(64),
                                                 rng.randint(1, 1 << 20)), 1.0, 2
    yield "WRITE outside the registry", te_header(2, instance, rng.getrandbits(48), 4096) + \
        rng.randbytes(4096), 1.0, 2
    yield "READ of another instance", te_header(1, wrong, 4096, 16), 1.0, 3
    yield "GET_DESCRIPTOR with a payload", te_header(3, instance, 0, 10), 1.0, 1
    yield "control message of 2**40 bytes", te_header(4, instance, 0, 2**40), 1.0, 1
    body = rng.randbytes(200)
    yield "control message of garbage", te_header(4, instance, 0, len(body)) + body, 1.0, 1
    json_body = b'{"transport": "rdma", "from": "x:1", "body": {"qp": [1, 2]}}'
    yield "control message for a missing transport", te_header(4, instance, 0, len(
        json_body)) + json_body, 1.0, 4
    yield "unknown opcode", te_header(rng.randint(5, 255), instance, 0, 0), 1.0, 1
    yield "truncated header", te_header(1, instance, 0, 16)[:rng.randint(1, 47)], 0.2, None


def te_header_received(data):
    return len(data) >= 32


def http_answered(data):
    """A whole response head arrived (the server may keep the connection)."""
    return b"\r\n\r\n" in data


def hot_rpc_answered(data):
    """The server hello and one response frame arrived."""
    if len(data) < 32:
        return False
    return len(data) >= 32 + struct.unpack_from("<I", data, 28)[0]


def te_instance(port):
    """The serving engine's instance id, from its own GET_DESCRIPTOR."""
    import json

    def complete(data):
        status = te_reply(data)
        return status is not None and len(data) >= 32 + status[2]

    reply = send_garbage(port, te_header(3), read_timeout_s=10, complete=complete)
    status = te_reply(reply)
    assert status is not None and status[0] == 0, f"GET_DESCRIPTOR on {port}: {reply[:64]!r}"
    assert complete(reply), f"short descriptor from {port}"
    body = reply[32:32 + status[2]]
    digits = json.loads(body)["instance_id"].replace("-", "")
    return int(digits[:16], 16), int(digits[16:], 16)


def test_garbage_to_every_listening_port(cluster, figures):
    master = cluster.master
    http_path = b"/metadata"
    te_ports = {
        "app": int(cluster.app.get_hostname().rsplit(":", 1)[1]),
        "peer": int(cluster.peer.get_hostname().rsplit(":", 1)[1]),
    }
    instances = {name: te_instance(port) for name, port in te_ports.items()}
    sent = {}
    connections = 0
    te_refusals = []

    def barrage(target, port, cases, complete=None):
        nonlocal connections
        for case in cases:
            what, payload, read_timeout = case[:3]
            answered = len(case) > 3 and case[3] is not None
            reply = send_garbage(port, payload, read_timeout_s=read_timeout,
                                 complete=te_header_received if answered else complete)
            connections += 1
            sent[target] = sent.get(target, 0) + len(payload)
            if len(case) > 3 and case[3] is not None:
                status = te_reply(reply)
                te_refusals.append((target, what, case[3], status))

    started = time.monotonic()
    for seed in SEEDS:
        rng = random.Random(seed)
        barrage("grpc", master.port, grpc_garbage(rng))
        cluster.assert_alive(f"gRPC garbage (seed {seed})")
        barrage("hot_rpc", cluster.hot_port, hot_rpc_garbage(rng), hot_rpc_answered)
        cluster.assert_alive(f"hot-path garbage (seed {seed})")
        barrage("http_metadata", master.http_port, http_garbage(rng, http_path), http_answered)
        cluster.assert_alive(f"HTTP metadata garbage (seed {seed})")
        barrage("metrics", master.metrics_port, http_garbage(rng, b"/metrics"), http_answered)
        cluster.assert_alive(f"/metrics garbage (seed {seed})")
        for name, port in te_ports.items():
            barrage(f"transfer_engine_{name}", port, te_garbage(rng, instances[name]))
            cluster.assert_alive(f"transfer-engine garbage to {name} (seed {seed})")
        cluster.assert_round_trip(f"garbage round (seed {seed})")

    # The hot path still answers a proper hello.
    hello = send_garbage(cluster.hot_port, b"MCHP" + struct.pack("<I", 1), read_timeout_s=10,
                         complete=lambda data: len(data) >= 28)
    assert hello[:4] == b"MCHP" and struct.unpack_from("<i", hello, 8)[0] == 0, hello
    # The metadata server answers a missing key with 400 and keeps its data.
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{master.http_port}/metadata", timeout=5)
        raise AssertionError("GET /metadata without a key succeeded")
    except urllib.error.HTTPError as error:
        assert error.code == 400
    # Each engine answered each well-framed bad request with the status the
    # wire protocol documents (BAD_REQUEST, REFUSED, STALE_INSTANCE,
    # UNSUPPORTED), never with data.
    wrong = [(target, what, expected, got) for target, what, expected, got in te_refusals
             if got is None or got[0] != expected or got[2] != 0]
    assert not wrong, f"transfer engine answers: {wrong}"
    # Protocol errors were noticed and counted by the master.
    assert metric(master, "mooncake_master_hot_rpc_protocol_errors_total") > 0
    cluster.assert_round_trip("all garbage")

    figures["seeds"] = len(SEEDS)
    figures["garbage_connections"] = connections
    figures["garbage_bytes_sent"] = sum(sent.values())
    for target, count in sorted(sent.items()):
        figures[f"garbage_bytes_{target}"] = count
    figures["ports_attacked"] = len(sent)
    # The master, the peer's process and this one (the app's engine).
    figures["servers_alive_after"] = sum(
        (master.process.poll() is None, cluster.peer.process.poll() is None, True))
    figures["transfer_engine_refusals_checked"] = len(te_refusals)
    figures["barrage_s"] = round(time.monotonic() - started, 1)
    figures["bytes_verified"] = cluster.checker.bytes_verified
