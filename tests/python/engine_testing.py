"""Helpers of the transfer-engine tests: a peer engine in its own process
(engine_worker.py) and an initialized engine in this one."""

import json
import os
import subprocess
import sys

import pytest

from mooncake_testing import wait_or_kill

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "engine_worker.py")
MiB = 1024 * 1024


class EnginePeer:
    """A TransferEngine in a worker process, optionally under a command
    prefix such as ``ip netns exec ns``."""

    def __init__(self, hostname="127.0.0.1", plain_bytes=4 * MiB, managed_bytes=4 * MiB,
                 prefix=(), env=None, metadata="P2PHANDSHAKE"):
        self.process = subprocess.Popen(
            list(prefix) + [sys.executable, WORKER, hostname, str(plain_bytes), str(managed_bytes),
                            metadata],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=dict(os.environ, **(env or {})))
        hello = self._answer()
        if "error" in hello:
            raise RuntimeError(f"engine worker: {hello['error']}")
        self.name = hello["name"]
        self.plain = hello["plain"]
        self.managed = hello["managed"]

    def _answer(self):
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"engine worker exited ({self.process.wait()})")
        return json.loads(line)

    def call(self, **command):
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self._answer()

    def read(self, addr, length):
        return bytes.fromhex(self.call(op="read", addr=addr, length=length)["hex"])

    def fill(self, addr, length, byte):
        self.call(op="fill", addr=addr, length=length, byte=byte)

    def notifies(self):
        return [tuple(n) for n in self.call(op="notifies")["notifies"]]

    def stop(self):
        if self.process.poll() is None:
            try:
                self.call(op="exit")
            except (RuntimeError, BrokenPipeError, OSError):
                pass
            wait_or_kill(self.process, 10)

    def kill(self, sig):
        self.process.send_signal(sig)


def local_engine(hostname="127.0.0.1", metadata="P2PHANDSHAKE"):
    from mooncake.engine import TransferEngine
    engine = TransferEngine()
    assert engine.initialize(hostname, metadata, "tcp", "") == 0
    return engine


# The two module fixtures of the engine test files, made for each module's
# sizes: `target = target_fixture(BUFFER)` in a module defines its fixture.

def target_fixture(buffer_bytes):
    """`target`: one peer process for the whole module, with buffer_bytes of
    plain and of managed memory."""
    @pytest.fixture(scope="module", name="target")
    def target():
        peer = EnginePeer(plain_bytes=buffer_bytes, managed_bytes=buffer_bytes)
        yield peer
        peer.stop()
    return target


def initiator_fixture(buffer_bytes):
    """`initiator`: (an engine in this process, the address of a managed
    buffer of buffer_bytes it allocated), for the whole module; the buffer
    must be freed cleanly at the end."""
    @pytest.fixture(scope="module", name="initiator")
    def initiator():
        engine = local_engine()
        local = engine.allocate_managed_buffer(buffer_bytes)
        assert local != 0
        yield engine, local
        assert engine.free_managed_buffer(local, buffer_bytes) == 0
    return initiator
