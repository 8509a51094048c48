"""``MooncakeDistributedStoreAsync``: the store with ``async_<method>``
coroutines.

Every synchronous method ``m`` of ``MooncakeDistributedStore`` is also
available as ``await store.async_m(...)``, which runs ``m`` in the running
event loop's default executor (a thread), so that the event loop is not
blocked by network transfers.
"""

import asyncio
import functools

from mooncake.store import MooncakeDistributedStore


class MooncakeDistributedStoreAsync(MooncakeDistributedStore):
    """MooncakeDistributedStore plus ``async_*`` wrappers of its methods."""

    def __getattr__(self, name):
        # Only called when normal lookup fails, i.e. for the async_ names.
        prefix = "async_"
        if not name.startswith(prefix):
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        sync_name = name[len(prefix):]
        try:
            method = object.__getattribute__(self, sync_name)
        except AttributeError:
            raise AttributeError(
                f"'{type(self).__name__}' object has no attribute '{name}' (no method "
                f"'{sync_name}' to wrap)") from None
        if not callable(method):
            raise AttributeError(f"'{sync_name}' is not callable")

        @functools.wraps(method)
        async def wrapper(*args, **kwargs):
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, functools.partial(method, *args, **kwargs))

        setattr(self, name, wrapper)
        return wrapper


__all__ = ["MooncakeDistributedStoreAsync"]
