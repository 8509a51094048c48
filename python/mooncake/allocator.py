"""CUDA memory allocators for the NVLink transport (the reference's
``mooncake.allocator``).

``NVLinkAllocator.get_allocator(device)`` hands torch a pluggable CUDA
allocator whose memory peers can map over NVLink. It needs the shared object
``nvlink_allocator.so`` beside this module, which only a CUDA build ships.
This package is built without CUDA (its transports are TCP, shared memory
and RDMA), so the call raises ``RuntimeError`` saying so instead of handing
out an allocator that does not exist. Importing the module always works, so
integrations that import it unconditionally (and use it only when their
NVLink option is on) start as usual.
"""

import os
import threading

_LIBRARY = "nvlink_allocator.so"
_MALLOC, _FREE = "mc_nvlink_malloc", "mc_nvlink_free"


class NVLinkAllocator:
    """One torch ``CUDAPluggableAllocator`` per CUDA device."""

    _instances = {}
    _lock = threading.Lock()

    @classmethod
    def _get_so_path(cls):
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), _LIBRARY)
        if not os.path.exists(path):
            raise RuntimeError(
                f"{_LIBRARY} is not part of this mooncake build (it was built without CUDA), "
                "so the NVLink allocator is unavailable; use the tcp or rdma protocol")
        return path

    @classmethod
    def get_allocator(cls, device):
        """The pluggable allocator of `device` (a torch.device or an index)."""
        path = cls._get_so_path()
        import torch
        from torch.cuda.memory import CUDAPluggableAllocator

        device = torch.device("cuda", device) if isinstance(device, int) else device
        with cls._lock:
            if device not in cls._instances:
                cls._instances[device] = CUDAPluggableAllocator(path, _MALLOC, _FREE)
            return cls._instances[device]
