"""Mooncake: a distributed object store for LLM inference.

The store client lives in :mod:`mooncake.store`; the bundled programs
(``mooncake_master``, ``mooncake_client``, ``transfer_engine_bench``) are
installed as console commands by :mod:`mooncake.cli`.
"""

try:
    from mooncake._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "0+unknown"

__all__ = ["__version__"]
