"""The Mooncake transfer engine: moves bytes between registered memory of
this process and of peers (shared memory on one host, TCP or RDMA between
hosts). See docs/transfer_engine.md.

Peers are named by their segment name, ``"host:rpc_port"`` in
``P2PHANDSHAKE`` mode (``f"{host}:{engine.get_rpc_port()}"``).
"""

from mooncake import _store

_engine = _store._engine

TransferEngine = _engine.TransferEngine
TransferOpcode = _engine.TransferOpcode
TransferNotify = _engine.TransferNotify
InnerTransferEngine = _engine.InnerTransferEngine
Read = _engine.Read
Write = _engine.Write

# This build has no GPU or vendor transports.
SUPPORT_CUDA = False
SUPPORT_HIP = False
SUPPORT_MUSA = False
SUPPORT_EFA = False
SUPPORT_MNNVL = False
SUPPORT_INTRA_NVLINK = False

__all__ = [
    "InnerTransferEngine",
    "Read",
    "TransferEngine",
    "TransferNotify",
    "TransferOpcode",
    "Write",
]
