"""Two processes exchange bytes with mooncake.engine.TransferEngine.

    python examples/python/transfer_engine_pair.py target      # prints its segment name
    python examples/python/transfer_engine_pair.py initiator 127.0.0.1:12345

Run without arguments, it starts the target itself and runs the initiator.
"""

import os
import subprocess
import sys

from mooncake.engine import TransferEngine, TransferNotify, TransferOpcode

SIZE = 1 << 20


def target():
    engine = TransferEngine()
    assert engine.initialize("127.0.0.1", "P2PHANDSHAKE", "tcp", "") == 0
    buffer = engine.allocate_managed_buffer(SIZE)  # registered; peers may write it
    print(f"127.0.0.1:{engine.get_rpc_port()}", flush=True)
    while True:  # wait for the initiator's notification, then show what it wrote
        notifies = engine.get_notifies()
        if notifies:
            print(notifies[0].name, notifies[0].msg,
                  engine.read_bytes_from_buffer(buffer, 5), flush=True)
            return


def initiator(peer):
    engine = TransferEngine()
    assert engine.initialize("127.0.0.1", "P2PHANDSHAKE", "tcp", "") == 0
    local = engine.allocate_managed_buffer(SIZE)
    remote = engine.get_first_buffer_address(peer)  # the target's buffer
    data = b"hello" + os.urandom(SIZE - 5)
    engine.write_bytes_to_buffer(local, data, SIZE)
    assert engine.transfer_sync_write(peer, local, remote, SIZE) == 0
    engine.write_bytes_to_buffer(local, bytes(SIZE), SIZE)
    assert engine.transfer_sync_read(peer, local, remote, SIZE) == 0
    assert engine.read_bytes_from_buffer(local, SIZE) == data
    # Async: submit, then wait.
    batch = engine.batch_transfer_async_write(peer, [local], [remote], [SIZE])
    assert engine.get_batch_transfer_status([batch]) == 0
    # The notification reaches the target after the data.
    assert engine.transfer_sync(peer, local, remote, 5, TransferOpcode.Write,
                                TransferNotify("done", "1 MiB written")) == 0
    print("initiator: round trip ok")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "target":
        target()
    elif len(sys.argv) > 2 and sys.argv[1] == "initiator":
        initiator(sys.argv[2])
    else:
        child = subprocess.Popen([sys.executable, __file__, "target"], stdout=subprocess.PIPE,
                                 text=True)
        initiator(child.stdout.readline().strip())
        print("target:", child.stdout.readline().strip())
        child.wait()
