"""Python transfer-engine throughput between two processes on this host,
against baselines measured in the same run:

- same host: engine writes into the peer's managed (shared-memory) buffer
  vs a single-thread memcpy of the same block size in this process;
- TCP: engine writes into the peer's plain registered memory (reached over
  TCP on loopback) vs plain TCP between two processes: a stream (sendall ->
  recv_into, back to back) and a request/response exchange (each block
  answered with 32 bytes, which a synchronous write must wait for: the
  loopback round trip it pays is in this baseline too).

Every measurement cycles through a 64 MiB working set on both ends.

    .venv/bin/python bench/python/engine_bench.py [--seconds 1.0] [--sizes 64K,1M,16M]

Each figure is the best of --repeats runs of --seconds each (the machine may
be shared; the best run is the least disturbed one). Prints a table and
the ratio to the baseline; --json writes the figures too.
"""

import argparse
import ctypes
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np

MiB = 1024 * 1024
# Every measurement cycles through this much memory, so that caches flatter
# neither memcpy nor the engine (as bench/transfer_bench does).
WORKING_SET = 64 * MiB
UNITS = {"K": 1024, "M": MiB, "G": 1024 * MiB}
# The reply of the request/response baseline (the engine's reply header is 32 bytes).
REPLY_BYTES = 32


def parse_size(text):
    text = text.strip().upper().rstrip("B").rstrip("I")
    if text and text[-1] in UNITS:
        return int(float(text[:-1]) * UNITS[text[-1]])
    return int(text)


# ---------------------------------------------------------------------------
# The peer process: an engine target, or a TCP sink.

def run_target(buffer_bytes):
    from mooncake.engine import TransferEngine
    engine = TransferEngine()
    assert engine.initialize("127.0.0.1", "P2PHANDSHAKE", "tcp", "") == 0
    plain = np.zeros(buffer_bytes, dtype=np.uint8)
    assert engine.register_memory(plain.ctypes.data, buffer_bytes) == 0
    managed = engine.allocate_managed_buffer(buffer_bytes)
    assert managed != 0
    print(json.dumps({"name": f"127.0.0.1:{engine.get_rpc_port()}",
                      "plain": plain.ctypes.data, "managed": managed}), flush=True)
    sys.stdin.readline()  # until the parent closes stdin


def run_sink(block, reply):
    """Receives `block`-byte messages into a working set; with `reply`,
    answers each with a 32-byte message (what a synchronous write waits for)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        print(server.getsockname()[1], flush=True)
        connection, _ = server.accept()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        size = max(WORKING_SET, block)
        view = memoryview(bytearray(size))
        slots = size // block
        answer = bytes(REPLY_BYTES)
        count = 0
        with connection:
            while True:
                offset = (count % slots) * block
                count += 1
                if connection.recv_into(view[offset:offset + block], block,
                                        socket.MSG_WAITALL) < block:
                    return
                if reply:
                    connection.sendall(answer)


# ---------------------------------------------------------------------------
# Measurements: bytes per second, best of `repeats`.

def best_rate(step, block, seconds, repeats):
    """`step(offset)` moves `block` bytes at `offset` of the working set."""
    best = 0.0
    slots = max(1, WORKING_SET // block)
    for _ in range(repeats):
        count = 0
        start = time.perf_counter()
        while True:
            step((count % slots) * block)
            count += 1
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                break
        best = max(best, count * block / elapsed)
    return best


def memcpy_rate(block, seconds, repeats):
    size = max(WORKING_SET, block)
    source = np.ones(size, dtype=np.uint8)
    destination = np.zeros(size, dtype=np.uint8)
    src, dst = source.ctypes.data, destination.ctypes.data
    return best_rate(lambda offset: ctypes.memmove(dst + offset, src + offset, block), block,
                     seconds, repeats)


def tcp_rate(block, seconds, repeats, reply):
    """A plain TCP connection to a sink process, the block cycling through a
    working set on both sides. Without `reply` a stream (sendall after
    sendall); with it, every block waits for the sink's 32-byte answer."""
    flags = ["--sink", str(block)] + (["--reply"] if reply else [])
    sink = subprocess.Popen([sys.executable, __file__] + flags, stdout=subprocess.PIPE, text=True)
    try:
        port = int(sink.stdout.readline())
        with socket.create_connection(("127.0.0.1", port)) as connection:
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            size = max(WORKING_SET, block)
            source = memoryview(bytearray(os.urandom(1024)) * (size // 1024))
            answer = bytearray(REPLY_BYTES)

            def step(offset):
                connection.sendall(source[offset:offset + block])
                if reply and connection.recv_into(answer, REPLY_BYTES,
                                                  socket.MSG_WAITALL) < REPLY_BYTES:
                    raise RuntimeError("the sink closed the connection")

            rate = best_rate(step, block, seconds, repeats)
        return rate
    finally:
        sink.wait(timeout=30)


def engine_rate(engine, peer, remote, local, block, seconds, repeats):
    def step(offset):
        if engine.transfer_sync_write(peer, local + offset, remote + offset, block) != 0:
            raise RuntimeError("transfer_sync_write failed")
    step(0)  # opens the peer
    return best_rate(step, block, seconds, repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="64K,1M,16M")
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--target", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--reply", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.target:
        return run_target(args.target)
    if args.sink:
        return run_sink(args.sink, args.reply)

    from mooncake.engine import TransferEngine
    sizes = [parse_size(size) for size in args.sizes.split(",")]
    largest = max(max(sizes), WORKING_SET)
    target = subprocess.Popen([sys.executable, __file__, "--target", str(largest)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    hello = json.loads(target.stdout.readline())
    engine = TransferEngine()
    assert engine.initialize("127.0.0.1", "P2PHANDSHAKE", "tcp", "") == 0
    local = engine.allocate_managed_buffer(largest)
    engine.write_bytes_to_buffer(local, os.urandom(largest), largest)

    results = []
    print(f"{'block':>8} {'memcpy':>9} {'engine shm':>11} {'ratio':>6}   "
          f"{'tcp stream':>10} {'tcp req/rep':>11} {'engine tcp':>10} {'/stream':>7} "
          f"{'/req-rep':>8}   (GB/s)")
    for block in sizes:
        row = {
            "block": block,
            "memcpy": memcpy_rate(block, args.seconds, args.repeats),
            "engine_shm": engine_rate(engine, hello["name"], hello["managed"], local, block,
                                      args.seconds, args.repeats),
            "tcp_stream": tcp_rate(block, args.seconds, args.repeats, reply=False),
            "tcp_request_reply": tcp_rate(block, args.seconds, args.repeats, reply=True),
            "engine_tcp": engine_rate(engine, hello["name"], hello["plain"], local, block,
                                      args.seconds, args.repeats),
        }
        assert engine._routed_requests("shm") > 0 and engine._routed_requests("tcp") > 0
        row["shm_ratio"] = row["engine_shm"] / row["memcpy"]
        row["tcp_ratio"] = row["engine_tcp"] / row["tcp_stream"]
        row["tcp_rr_ratio"] = row["engine_tcp"] / row["tcp_request_reply"]
        results.append(row)
        print(f"{block // 1024:>7}K {row['memcpy'] / 1e9:>9.2f} {row['engine_shm'] / 1e9:>11.2f} "
              f"{row['shm_ratio']:>6.0%}   {row['tcp_stream'] / 1e9:>10.2f} "
              f"{row['tcp_request_reply'] / 1e9:>11.2f} {row['engine_tcp'] / 1e9:>10.2f} "
              f"{row['tcp_ratio']:>7.0%} {row['tcp_rr_ratio']:>8.0%}", flush=True)
    target.stdin.close()
    target.wait(timeout=30)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
