import pytest
"""A store set up over a TransferEngine's engine (setup(..., engine=...))
and direct engine transfers, side by side in one process."""

import os

import numpy as np

from engine_testing import EnginePeer, MiB, local_engine
from mooncake_testing import unique_key
from mooncake.store import MooncakeDistributedStore


def setup_shared(store, engine, master):
    return store.setup("127.0.0.1", "P2PHANDSHAKE", 16 * MiB, 16 * MiB, "tcp", "",
                       master.rpc_address, engine.get_engine())


def test_store_shares_the_engine(master):
    engine = local_engine()
    peer = EnginePeer(plain_bytes=MiB, managed_bytes=0)
    store = MooncakeDistributedStore()
    try:
        assert setup_shared(store, engine, master) == 0
        # One engine, one listener: the store's segment is the engine's.
        assert store.get_hostname() == f"127.0.0.1:{engine.get_rpc_port()}"

        local = engine.allocate_managed_buffer(MiB)
        data = os.urandom(MiB)
        engine.write_bytes_to_buffer(local, data, MiB)
        key = unique_key("shared")
        assert store.put(key, b"through the store") == 0
        assert engine.transfer_sync_write(peer.name, local, peer.plain, MiB) == 0
        assert store.get(key) == b"through the store"
        assert peer.read(peer.plain, MiB) == data

        # Registrations made through the engine are the store's too.
        array = np.frombuffer(os.urandom(64 * 1024), dtype=np.uint8).copy()
        assert engine.register_memory(array.ctypes.data, array.nbytes) == 0
        assert store.put_from(key + "-zc", array.ctypes.data, array.nbytes) == 0
        assert store.get(key + "-zc") == array.tobytes()
        assert engine.unregister_memory(array.ctypes.data) == 0
        # ... and the store's registrations the engine's (same registry).
        other = np.zeros(4096, dtype=np.uint8)
        assert store.register_buffer(other.ctypes.data, other.nbytes) == 0
        assert engine.register_memory(other.ctypes.data, other.nbytes) == -7
        assert store.unregister_buffer(other.ctypes.data) == 0

        assert store.close() == 0
        # Closing the store leaves the engine working.
        engine.write_bytes_to_buffer(local, data[::-1], MiB)
        assert engine.transfer_sync_write(peer.name, local, peer.plain, MiB) == 0
        assert peer.read(peer.plain, MiB) == data[::-1]
        # A second store over the same engine sets up again.
        second = MooncakeDistributedStore()
        assert setup_shared(second, engine, master) == 0
        assert second.put(key + "-2", b"again") == 0
        assert second.get(key + "-2") == b"again"
        assert second.close() == 0
        assert engine.free_managed_buffer(local, MiB) == 0
    finally:
        store.close()
        peer.stop()


def test_setup_rejects_a_bad_engine(master):
    from mooncake.engine import TransferEngine
    store = MooncakeDistributedStore()
    assert store.setup("127.0.0.1", "P2PHANDSHAKE", 16 * MiB, 16 * MiB, "tcp", "",
                       master.rpc_address, TransferEngine().get_engine()) < 0
    # As in the reference, an object that is no engine fails the cast.
    with pytest.raises(RuntimeError, match="engine"):
        store.setup("127.0.0.1", "P2PHANDSHAKE", 16 * MiB, 16 * MiB, "tcp", "",
                    master.rpc_address, engine="not an engine")
    # The wrapper itself is not the engine (interfaces.md §2.1).
    wrapper = TransferEngine()
    assert wrapper.initialize("127.0.0.1", "P2PHANDSHAKE", "tcp", "") == 0
    with pytest.raises(RuntimeError, match="get_engine"):
        store.setup("127.0.0.1", "P2PHANDSHAKE", 16 * MiB, 16 * MiB, "tcp", "",
                    master.rpc_address, engine=wrapper)
