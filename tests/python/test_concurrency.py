"""The GIL is released around blocking calls; many threads share a store."""

import os
import sys
import threading

from conftest import MiB
from mooncake_testing import unique_key


def test_other_threads_run_during_a_big_get(store_factory):
    store = store_factory(local_buffer_size=64 * MiB)
    key = unique_key()
    value = os.urandom(32 * MiB)
    assert store.put(key, value) == 0
    # With a huge switch interval the interpreter never takes the GIL from a
    # thread: the watcher can only run inside get() if get() releases it.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(100.0)
    observed = []
    try:
        for _ in range(20):
            state = {"in_get": False}
            go = threading.Event()

            def watch():
                go.wait()
                observed.append(state["in_get"])

            watcher = threading.Thread(target=watch)
            watcher.start()
            state["in_get"] = True
            go.set()
            data = store.get(key)
            state["in_get"] = False
            watcher.join()
            assert data == value
            if observed[-1]:
                break
    finally:
        sys.setswitchinterval(previous)
    assert any(observed), "no other thread ran while get() was busy"


def test_many_threads_on_one_store(store):
    errors = []
    thread_count, rounds = 8, 40

    def work(thread_index):
        try:
            for round_index in range(rounds):
                key = unique_key(f"t{thread_index}")
                value = os.urandom(1000 + 97 * round_index)
                assert store.put(key, value) == 0
                assert store.get(key) == value
                assert store.is_exist(key) == 1
                batch = [unique_key() for _ in range(4)]
                assert store.put_batch(batch, [value] * 4) == 0
                assert store.get_batch(batch) == [value] * 4
        except AssertionError as error:
            errors.append(f"thread {thread_index}: {error!r}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(thread_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


def test_close_while_other_threads_call(store_factory):
    store = store_factory()
    stop = threading.Event()
    outcomes = []

    def hammer():
        while not stop.is_set():
            code = store.put(unique_key(), b"x" * 1000)
            outcomes.append(code)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    while len(outcomes) < 50:
        threading.Event().wait(0.01)
    assert store.close() == 0
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    # Every call finished with a code: success before the close, errors after.
    assert all(isinstance(code, int) and code <= 0 for code in outcomes)
    assert store.put(unique_key(), b"x") < 0
