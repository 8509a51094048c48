"""A transfer-engine peer in its own process, driven over stdin/stdout by
tests and benchmarks: one JSON command per line, one JSON answer per line.

Started as ``engine_worker.py <hostname> <plain_bytes> <managed_bytes>
[<metadata_server>]`` (default ``P2PHANDSHAKE``); the first line it prints
describes it:
``{"name": "host:port", "plain": addr, "managed": addr}``. ``plain`` is
ordinary (numpy) memory registered with register_memory, which peers on this
host reach over TCP; ``managed`` comes from allocate_managed_buffer (shared
memory, which peers on this host copy into directly).

Commands: {"op": "read", "addr": a, "length": n} -> {"hex": ...};
{"op": "fill", "addr": a, "length": n, "byte": b}; {"op": "notifies"} ->
{"notifies": [[name, msg], ...]}; {"op": "exit"}.
"""

import json
import sys

import numpy as np

from mooncake.engine import TransferEngine


def main():
    hostname, plain_bytes, managed_bytes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    metadata = sys.argv[4] if len(sys.argv) > 4 else "P2PHANDSHAKE"
    engine = TransferEngine()
    if engine.initialize(hostname, metadata, "tcp", "") != 0:
        print(json.dumps({"error": "initialize failed"}), flush=True)
        return 1
    plain = np.zeros(max(plain_bytes, 1), dtype=np.uint8)
    plain_addr = plain.ctypes.data
    if plain_bytes and engine.register_memory(plain_addr, plain_bytes) != 0:
        print(json.dumps({"error": "register_memory failed"}), flush=True)
        return 1
    managed_addr = engine.allocate_managed_buffer(managed_bytes) if managed_bytes else 0
    print(json.dumps({
        # P2P names carry the port the engine picked; with a metadata
        # service the name is the hostname as given (interfaces.md §10.2).
        "name": f"{hostname}:{engine.get_rpc_port()}" if metadata == "P2PHANDSHAKE" else hostname,
        "plain": plain_addr if plain_bytes else 0,
        "managed": managed_addr,
    }), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        op = command["op"]
        if op == "read":
            data = engine.read_bytes_from_buffer(command["addr"], command["length"])
            answer = {"hex": data.hex()}
        elif op == "fill":
            length = command["length"]
            engine.write_bytes_to_buffer(command["addr"], bytes([command["byte"]]) * length, length)
            answer = {"ok": True}
        elif op == "notifies":
            answer = {"notifies": [[n.name, n.msg] for n in engine.get_notifies()]}
        elif op == "exit":
            print(json.dumps({"ok": True}), flush=True)
            return 0
        else:
            answer = {"error": f"unknown op {op}"}
        print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
