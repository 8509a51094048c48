"""Fixtures: a real mooncake_master per session (and custom ones per test),
stores in this process, and stores in worker processes."""

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


@pytest.fixture
def master_factory(master_binary):
    """start(extra_args) -> a MasterProcess with those flags, stopped after the test."""
    started = []

    def start(extra_args=(), **kwargs):
        process = MasterProcess(master_binary, extra_args, **kwargs).start()
        started.append(process)
        return process

    yield start
    for process in reversed(started):
        process.stop()


@pytest.fixture
def store_factory(master):
    """make(master=None, **setup overrides) -> a set-up store in this process."""
    from mooncake.store import MooncakeDistributedStore
    stores = []

    def make(on_master=None, **overrides):
        target = on_master or master
        store = MooncakeDistributedStore()
        code = store.setup(**setup_args(target, **overrides))
        assert code == 0, f"setup failed with {code}; master log:\n{target.log_text()}"
        stores.append(store)
        return store

    yield make
    for store in reversed(stores):
        store.close()


@pytest.fixture
def store(store_factory):
    return store_factory()


@pytest.fixture
def remote_factory(master):
    """make(master=None, **setup overrides) -> a set-up store in a worker process."""
    workers = []

    def make(on_master=None, env=None, **overrides):
        target = on_master or master
        worker = RemoteStore(env=env)
        workers.append(worker)
        code = worker.setup(**setup_args(target, **overrides))
        assert code == 0, f"worker setup failed with {code}; master log:\n{target.log_text()}"
        return worker

    yield make
    for worker in reversed(workers):
        worker.stop()
