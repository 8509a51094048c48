"""Runs one MooncakeDistributedStore in its own process for the tests
(see mooncake_testing.RemoteStore). Requests and replies are pickles on two
pipes whose descriptors are given on the command line."""

import os
import pickle
import sys
import traceback

import numpy as np

from mooncake.store import (BufferHandle, MooncakeDistributedStore, QueryTaskResponse,
                            ReplicaDescriptor)


def plain(value):
    """Return values as picklable builtins."""
    if isinstance(value, BufferHandle):
        return bytes(value)
    if isinstance(value, ReplicaDescriptor):
        described = {"status": int(value.status), "memory": None, "disk": None,
                     "local_disk": value.is_local_disk_replica()}
        if value.is_memory_replica():
            buffer = value.get_memory_descriptor().buffer_descriptor
            described["memory"] = {"transport_endpoint": buffer.transport_endpoint,
                                   "buffer_address": buffer.buffer_address,
                                   "size": buffer.size}
        if value.is_disk_replica():
            disk = value.get_disk_descriptor()
            described["disk"] = {"file_path": disk.file_path, "object_size": disk.object_size}
        return described
    if isinstance(value, QueryTaskResponse):
        return {"id": value.id, "type": int(value.type), "status": int(value.status),
                "message": value.message, "assigned_client": value.assigned_client}
    if isinstance(value, (list, tuple)):
        return type(value)(plain(item) for item in value)
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if hasattr(value, "__int__") and type(value).__module__.startswith("mooncake"):
        return int(value)
    return value


def main():
    requests = os.fdopen(int(sys.argv[1]), "rb")
    replies = os.fdopen(int(sys.argv[2]), "wb")
    store = MooncakeDistributedStore()
    while True:
        try:
            method, args, kwargs = pickle.load(requests)
        except EOFError:
            break
        if method == "__exit__":
            store.close()
            pickle.dump((True, None), replies)
            replies.flush()
            break
        try:
            if method == "__run__":
                namespace = {"store": store, "np": np, "args": kwargs, "result": None}
                exec(args[0], namespace)
                result = namespace["result"]
            else:
                result = getattr(store, method)(*args, **kwargs)
            reply = (True, plain(result))
        except Exception:  # reported to the test, which fails with the traceback
            reply = (False, traceback.format_exc())
        pickle.dump(reply, replies)
        replies.flush()


if __name__ == "__main__":
    main()
