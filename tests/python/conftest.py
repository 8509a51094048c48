"""Fixtures: a real mooncake_master per session (and custom ones per test),
stores in this process, and stores in worker processes."""

import contextlib

import pytest

from mooncake_testing import MasterProcess, RemoteStore, find_master_binary, MasterUnavailable

MiB = 1024 * 1024

# What tests set their stores up with unless they say otherwise.
STORE_DEFAULTS = {
    "local_hostname": "127.0.0.1",
    "global_segment_size": 64 * MiB,
    "local_buffer_size": 64 * MiB,
    "protocol": "tcp",
    "rdma_devices": "",
}


def setup_args(master, **overrides):
    args = dict(STORE_DEFAULTS)
    args["metadata_server"] = master.metadata_url
    args["master_server_addr"] = master.rpc_address
    args.update(overrides)
    return args


@pytest.fixture(scope="session")
def master_binary():
    try:
        return find_master_binary()
    except MasterUnavailable as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def master(master_binary):
    """The shared master: default flags."""
    process = MasterProcess(master_binary).start()
    yield process
    process.stop()


# The factories stop what they made after the test through an ExitStack:
# in reverse order, and each one even when stopping another failed.


@pytest.fixture
def master_factory(master_binary):
    """start(extra_args) -> a MasterProcess with those flags, stopped after the test."""
    with contextlib.ExitStack() as started:
        def start(extra_args=(), **kwargs):
            process = MasterProcess(master_binary, extra_args, **kwargs).start()
            started.callback(process.stop)
            return process

        yield start


def set_up(store, master, **overrides):
    """store.setup() on `master` with STORE_DEFAULTS and the overrides; a
    failure fails the test with the master's log."""
    code = store.setup(**setup_args(master, **overrides))
    assert code == 0, f"setup failed with {code}; master log:\n{master.log_text()}"


@pytest.fixture
def store_factory(master):
    """make(master=None, **setup overrides) -> a set-up store in this process."""
    from mooncake.store import MooncakeDistributedStore
    with contextlib.ExitStack() as stores:
        def make(on_master=None, **overrides):
            store = MooncakeDistributedStore()
            set_up(store, on_master or master, **overrides)
            stores.callback(store.close)
            return store

        yield make


@pytest.fixture
def store(store_factory):
    return store_factory()


@pytest.fixture
def remote_factory(master):
    """make(master=None, **setup overrides) -> a set-up store in a worker process."""
    with contextlib.ExitStack() as workers:
        def make(on_master=None, env=None, **overrides):
            # Stopped after the test even when its setup fails.
            worker = workers.enter_context(RemoteStore(env=env))
            set_up(worker, on_master or master, **overrides)
            return worker

        yield make
