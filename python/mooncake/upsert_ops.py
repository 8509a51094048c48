"""The upsert family: puts that replace an existing value.

A plain put of an existing key keeps the old value (and returns 0), as in
the reference. ``upsert*`` replaces it: the old object is removed, ignoring
readers' leases (``remove(key, force=True)``), then the value is put. The
two steps are not atomic: a reader between them sees the key as missing
(the reference shows REPLICA_IS_NOT_READY instead). A key that is being put
(REPLICA_IS_NOT_READY) or copied/moved (OBJECT_HAS_LEASE) is not replaced:
that code is returned and nothing changes. Each function returns what its
put counterpart returns.
"""

from mooncake import tensor_ops as _tensor_ops

# Set by mooncake.store from the native error table (avoids an import cycle).
_OBJECT_NOT_FOUND = None


def _clear(store, key):
    """0 when the key is free for a put now, else the code that refuses it."""
    code = store.remove(key, force=True)
    return 0 if code == _OBJECT_NOT_FOUND else code


def _clear_all(store, keys):
    codes = store.batch_remove(list(keys), force=True)
    return [0 if code == _OBJECT_NOT_FOUND else code for code in codes]


def _keyed(store, key, put):
    cleared = _clear(store, key)
    return cleared if cleared != 0 else put()


def _batch(store, keys, put_subset):
    """Clears all keys, puts those that could be cleared; one code per key."""
    keys = list(keys)
    cleared = _clear_all(store, keys)
    ready = [i for i, code in enumerate(cleared) if code == 0]
    results = list(cleared)
    if ready:
        for i, code in zip(ready, put_subset(ready)):
            results[i] = code
    return results


def upsert(self, key, value, config=None):
    """Stores value under key, replacing an existing value."""
    return _keyed(self, key, lambda: self.put(key, value, config))


def upsert_parts(self, key, *parts, config=None):
    return _keyed(self, key, lambda: self.put_parts(key, *parts, config=config))


def upsert_batch(self, keys, values, config=None):
    """One code: 0 when every key was replaced, else the first error."""
    keys, values = list(keys), list(values)
    if len(keys) != len(values):
        return self.put_batch(keys, values, config)  # reports the mismatch
    codes = _batch(self, keys, lambda ready: self._batch_put_parts(
        [keys[i] for i in ready], [[values[i]] for i in ready], config))
    return next((code for code in codes if code != 0), 0)


def upsert_from(self, key, buffer_ptr, size, config=None):
    return _keyed(self, key, lambda: self.put_from(key, buffer_ptr, size, config))


def batch_upsert_from(self, keys, buffer_ptrs, sizes, config=None):
    keys, buffer_ptrs, sizes = list(keys), list(buffer_ptrs), list(sizes)
    if not len(keys) == len(buffer_ptrs) == len(sizes):
        return self.batch_put_from(keys, buffer_ptrs, sizes, config)
    return _batch(self, keys, lambda ready: self.batch_put_from(
        [keys[i] for i in ready], [buffer_ptrs[i] for i in ready], [sizes[i] for i in ready],
        config))


def upsert_tensor(self, key, tensor):
    return _keyed(self, key, lambda: _tensor_ops.put_tensor(self, key, tensor))


def upsert_pub_tensor(self, key, tensor, config=None):
    return _keyed(self, key, lambda: _tensor_ops.pub_tensor(self, key, tensor, config))


def upsert_tensor_from(self, key, buffer_ptr, size):
    """buffer_ptr holds a stored tensor's bytes (header then data)."""
    return _keyed(self, key, lambda: self.put_from(key, buffer_ptr, size))


def batch_upsert_tensor(self, keys, tensors_list):
    return batch_upsert_pub_tensor(self, keys, tensors_list, None)


def batch_upsert_pub_tensor(self, keys, tensors_list, config=None):
    keys, tensors_list = list(keys), list(tensors_list)
    if len(keys) != len(tensors_list):
        return _tensor_ops.batch_pub_tensor(self, keys, tensors_list, config)
    return _batch(self, keys, lambda ready: _tensor_ops.batch_pub_tensor(
        self, [keys[i] for i in ready], [tensors_list[i] for i in ready], config))


def batch_upsert_tensor_from(self, keys, buffer_ptrs, sizes):
    return batch_upsert_from(self, keys, buffer_ptrs, sizes)
