// MooncakeDistributedStore: argument conversion, GIL release around every
// blocking call, and the return conventions of the Python API (0 or a
// negative error code; b"" / None / [] for data that could not be read).
#include <glog/logging.h>
#include <pybind11/stl.h>

#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "bindings.h"
#include "buffer_handle.h"
#include "py_convert.h"
#include "store_admin_bindings.h"
#include "store_handle.h"

namespace mooncake::python {
namespace {

using ClientPtr = std::shared_ptr<Client>;
using OptionalConfig = std::optional<ReplicateConfig>;

constexpr int kInvalidParams = ToInt(ErrorCode::INVALID_PARAMS);

ReplicateConfig ConfigOrDefault(const OptionalConfig& config) {
    return config.value_or(ReplicateConfig{});
}

void* AsPointer(uintptr_t address) { return reinterpret_cast<void*>(address); }

// Per-key results always line up with the keys, whatever the client did.
template <typename T>
void FitToKeys(std::vector<T>& results, size_t key_count, const T& filler) {
    if (results.size() != key_count) {
        LOG(ERROR) << "client returned " << results.size() << " results for " << key_count
                   << " keys";
        results.assign(key_count, filler);
    }
}

// BatchGet with the GIL released; errors for every key on a closed store.
std::vector<Result<std::shared_ptr<Buffer>>> BatchGetBuffers(StoreHandle& self,
                                                             const std::vector<std::string>& keys) {
    ClientPtr client = self.client();
    std::vector<Result<std::shared_ptr<Buffer>>> got;
    if (client && !keys.empty()) {
        py::gil_scoped_release release;
        got = client->BatchGet(keys);
    }
    FitToKeys(got, keys.size(), Result<std::shared_ptr<Buffer>>(Error(ErrorCode::INTERNAL_ERROR)));
    return got;
}

std::vector<int> ToInts(const std::vector<Status>& statuses) {
    std::vector<int> codes;
    codes.reserve(statuses.size());
    for (const Status& status : statuses) codes.push_back(StatusToInt(status));
    return codes;
}

std::vector<int64_t> ToInts(const std::vector<Result<size_t>>& results) {
    std::vector<int64_t> codes;
    codes.reserve(results.size());
    for (const auto& result : results) codes.push_back(ResultToInt(result));
    return codes;
}

// The zero-copy batch calls: one code per key. A store not set up, and
// argument lists of other lengths than the keys (`lengths_match` false), are
// refused for every key; `call(client)` runs with the GIL released and its
// results are made to fit the keys.
template <typename Call>
auto BatchCodes(StoreHandle& self, size_t key_count, bool lengths_match, Call call)
    -> decltype(ToInts(call(std::declval<Client&>()))) {
    using Codes = decltype(ToInts(call(std::declval<Client&>())));
    ClientPtr client = self.client();
    if (!client) return Codes(key_count, kNotSetUp);
    if (!lengths_match) return Codes(key_count, kInvalidParams);
    if (key_count == 0) return {};
    py::gil_scoped_release release;
    auto results = call(*client);
    using Entry = typename decltype(results)::value_type;
    FitToKeys(results, key_count, Entry(Error(ErrorCode::INTERNAL_ERROR)));
    return ToInts(results);
}

// 1 exists, 0 does not, negative code on error.
// The spec's convention for existence checks and remove_all: -1 on any
// error (the code itself is in the log).
constexpr int kErrorAsMinusOne = -1;

int ExistToInt(const Result<bool>& exists) {
    if (exists.has_value()) return *exists ? 1 : 0;
    if (exists.error() == ErrorCode::OBJECT_NOT_FOUND) return 0;
    LogReason(exists.error());
    return kErrorAsMinusOne;
}

std::vector<const void*> ConstPointers(const std::vector<uintptr_t>& addresses) {
    std::vector<const void*> pointers;
    pointers.reserve(addresses.size());
    for (uintptr_t address : addresses) pointers.push_back(AsPointer(address));
    return pointers;
}

std::vector<void*> MutablePointers(const std::vector<uintptr_t>& addresses) {
    std::vector<void*> pointers;
    pointers.reserve(addresses.size());
    for (uintptr_t address : addresses) pointers.push_back(AsPointer(address));
    return pointers;
}

py::tuple TaskCreated(const Result<UUID>& created) {
    if (created.has_value()) return py::make_tuple(UuidToTuple(*created), 0);
    return py::make_tuple(UuidToTuple(UUID{}), ToInt(created.error()));
}

// put and put_parts: one value from one or more bytes-like objects.
void BindPuts(py::class_<StoreHandle>& store) {
    store
        .def(
            "put",
            [](StoreHandle& self, const std::string& key, py::handle value,
               const OptionalConfig& config) {
                ClientPtr client = self.client();
                if (!client) return kNotSetUp;
                BytesView view(value);
                py::gil_scoped_release release;
                ConstBytes part = view.bytes();
                return StatusToInt(client->Put(key, std::span<const ConstBytes>(&part, 1),
                                               ConfigOrDefault(config)));
            },
            py::arg("key"), py::arg("value"), py::arg("config") = py::none(),
            "Stores a bytes-like value. Returns 0 or a negative error code.")
        .def(
            "put_parts",
            [](StoreHandle& self, const std::string& key, py::args parts,
               const OptionalConfig& config) {
                ClientPtr client = self.client();
                if (!client) return kNotSetUp;
                std::vector<BytesView> views;
                views.reserve(parts.size());
                for (py::handle part : parts) views.emplace_back(part);
                py::gil_scoped_release release;
                std::vector<ConstBytes> spans;
                spans.reserve(views.size());
                for (const BytesView& view : views) spans.push_back(view.bytes());
                return StatusToInt(client->Put(key, spans, ConfigOrDefault(config)));
            },
            py::arg("key"), py::arg("config") = py::none(),
            "Stores the concatenation of the bytes-like parts as one value.");
}

// put_batch and _batch_put_parts: many values in one call.
void BindBatchPuts(py::class_<StoreHandle>& store) {
    store
        .def(
            "put_batch",
            [](StoreHandle& self, const std::vector<std::string>& keys, py::sequence values,
               const OptionalConfig& config) {
                ClientPtr client = self.client();
                if (!client) return kNotSetUp;
                if (keys.size() != py::len(values)) {
                    LOG(ERROR) << "put_batch: " << keys.size() << " keys but " << py::len(values)
                               << " values";
                    return kInvalidParams;
                }
                if (keys.empty()) return 0;
                std::vector<BytesView> views;
                views.reserve(keys.size());
                for (py::handle value : values) views.emplace_back(value);
                py::gil_scoped_release release;
                std::vector<std::vector<ConstBytes>> parts;
                parts.reserve(views.size());
                for (const BytesView& view : views) parts.push_back({view.bytes()});
                std::vector<Status> statuses =
                    client->BatchPut(keys, parts, ConfigOrDefault(config));
                FitToKeys(statuses, keys.size(), Status(Error(ErrorCode::INTERNAL_ERROR)));
                for (const Status& status : statuses) {
                    if (!status.has_value()) return ToInt(status.error());
                }
                return 0;
            },
            py::arg("keys"), py::arg("values"), py::arg("config") = py::none(),
            "Stores many values. Returns 0 when all succeeded, else the first error code.")
        .def(
            "_batch_put_parts",
            [](StoreHandle& self, const std::vector<std::string>& keys, py::sequence values,
               const OptionalConfig& config) -> std::vector<int> {
                // For the Python helpers: values[i] is a sequence of parts,
                // and the result has one code per key.
                ClientPtr client = self.client();
                if (!client) return std::vector<int>(keys.size(), kNotSetUp);
                if (keys.size() != py::len(values)) {
                    return std::vector<int>(keys.size(), kInvalidParams);
                }
                if (keys.empty()) return {};
                std::vector<std::vector<BytesView>> views(keys.size());
                for (size_t i = 0; i < keys.size(); ++i) {
                    for (py::handle part : py::reinterpret_borrow<py::sequence>(values[i])) {
                        views[i].emplace_back(part);
                    }
                }
                py::gil_scoped_release release;
                std::vector<std::vector<ConstBytes>> parts(keys.size());
                for (size_t i = 0; i < keys.size(); ++i) {
                    for (const BytesView& view : views[i]) parts[i].push_back(view.bytes());
                }
                auto statuses = client->BatchPut(keys, parts, ConfigOrDefault(config));
                FitToKeys(statuses, keys.size(), Status(Error(ErrorCode::INTERNAL_ERROR)));
                return ToInts(statuses);
            },
            py::arg("keys"), py::arg("values"), py::arg("config") = py::none());
}

// get, get_batch, get_buffer and batch_get_buffer: values as bytes or BufferHandles.
void BindGets(py::class_<StoreHandle>& store) {
    store
        .def(
            "get",
            [](StoreHandle& self, const std::string& key) -> py::bytes {
                auto got = CallWithoutGil(self, [&](Client& client) { return client.Get(key); });
                if (!got.has_value()) return py::bytes();
                return CopyToBytes((*got)->data(), (*got)->size());
            },
            py::arg("key"), "The value's bytes; b\"\" when the key is missing or on error.")
        .def(
            "get_batch",
            [](StoreHandle& self, const std::vector<std::string>& keys) -> py::list {
                std::vector<Result<std::shared_ptr<Buffer>>> got = BatchGetBuffers(self, keys);
                std::vector<CopySource> sources(keys.size());
                for (size_t i = 0; i < got.size(); ++i) {
                    if (got[i].has_value()) sources[i] = {(*got[i])->data(), (*got[i])->size()};
                }
                return CopyAllToBytes(sources);
            },
            py::arg("keys"), "One bytes object per key, b\"\" for missing keys.")
        .def(
            "get_buffer",
            [](StoreHandle& self, const std::string& key) -> py::object {
                auto got = CallWithoutGil(self, [&](Client& client) { return client.Get(key); });
                if (!got.has_value()) return py::none();
                return py::cast(std::make_shared<BufferHandle>(std::move(*got)));
            },
            py::arg("key"), "The value as a BufferHandle (no copy); None when missing.")
        .def(
            "batch_get_buffer",
            [](StoreHandle& self, const std::vector<std::string>& keys) -> py::list {
                std::vector<Result<std::shared_ptr<Buffer>>> got = BatchGetBuffers(self, keys);
                py::list handles(keys.size());
                for (size_t i = 0; i < got.size(); ++i) {
                    handles[i] = got[i].has_value()
                                     ? py::cast(std::make_shared<BufferHandle>(std::move(*got[i])))
                                     : py::none();
                }
                return handles;
            },
            py::arg("keys"), "One BufferHandle per key, None for missing keys.");
}

// register_buffer, unregister_buffer and alloc_from_mem_pool: memory for zero-copy calls.
void BindBufferRegistration(py::class_<StoreHandle>& store) {
    store
        .def(
            "register_buffer",
            [](StoreHandle& self, uintptr_t buffer_ptr, size_t size) {
                return StatusToInt(CallWithoutGil(self, [&](Client& client) {
                    return client.RegisterBuffer(AsPointer(buffer_ptr), size);
                }));
            },
            py::arg("buffer_ptr"), py::arg("size"),
            "Registers memory for the zero-copy calls. Returns 0 or a negative error code.")
        .def(
            "unregister_buffer",
            [](StoreHandle& self, uintptr_t buffer_ptr) {
                return StatusToInt(CallWithoutGil(self, [&](Client& client) {
                    return client.UnregisterBuffer(AsPointer(buffer_ptr));
                }));
            },
            py::arg("buffer_ptr"))
        .def(
            "alloc_from_mem_pool",
            [](StoreHandle& self, int64_t size) -> uintptr_t {
                if (size <= 0) return 0;  // "0 on failure", not a conversion error
                auto address = CallWithoutGil(self, [&](Client& client) {
                    return client.AllocFromMemPool(static_cast<size_t>(size));
                });
                return address.has_value() ? reinterpret_cast<uintptr_t>(*address) : 0;
            },
            py::arg("size"),
            "Registered memory from the local buffer: its address, or 0 on failure.");
}

// put_from, put_from_with_metadata and get_into: zero-copy calls for one key.
void BindSingleKeyZeroCopy(py::class_<StoreHandle>& store) {
    store
        .def(
            "put_from",
            [](StoreHandle& self, const std::string& key, uintptr_t buffer_ptr, size_t size,
               const OptionalConfig& config) {
                return StatusToInt(CallWithoutGil(self, [&](Client& client) {
                    return client.PutFrom(key, AsPointer(buffer_ptr), size,
                                          ConfigOrDefault(config));
                }));
            },
            py::arg("key"), py::arg("buffer_ptr"), py::arg("size"), py::arg("config") = py::none())
        .def(
            "put_from_with_metadata",
            [](StoreHandle& self, const std::string& key, uintptr_t buffer_ptr,
               uintptr_t metadata_buffer_ptr, size_t size, size_t metadata_size,
               const OptionalConfig& config) {
                return StatusToInt(CallWithoutGil(self, [&](Client& client) -> Status {
                    // The stored value is the data followed by the metadata.
                    std::vector<Status> statuses = client.BatchPutFromMultiBuffers(
                        {key}, {{AsPointer(buffer_ptr), AsPointer(metadata_buffer_ptr)}},
                        {{size, metadata_size}}, ConfigOrDefault(config));
                    if (statuses.size() != 1) return Error(ErrorCode::INTERNAL_ERROR);
                    return statuses[0];
                }));
            },
            py::arg("key"), py::arg("buffer_ptr"), py::arg("metadata_buffer_ptr"), py::arg("size"),
            py::arg("metadata_size"), py::arg("config") = py::none(),
            "Stores size bytes at buffer_ptr followed by metadata_size bytes at "
            "metadata_buffer_ptr as one value (both registered).")
        .def(
            "get_into",
            [](StoreHandle& self, const std::string& key, uintptr_t buffer_ptr,
               size_t size) -> int64_t {
                return ResultToInt(CallWithoutGil(self, [&](Client& client) {
                    return client.GetInto(key, AsPointer(buffer_ptr), size);
                }));
            },
            py::arg("key"), py::arg("buffer_ptr"), py::arg("size"),
            "Reads the value into registered memory: bytes read, or a negative error code.");
}

// batch_put_from and batch_get_into: zero-copy calls for many keys, one buffer each.
void BindBatchZeroCopy(py::class_<StoreHandle>& store) {
    store
        .def(
            "batch_put_from",
            [](StoreHandle& self, const std::vector<std::string>& keys,
               const std::vector<uintptr_t>& buffer_ptrs, const std::vector<size_t>& sizes,
               const OptionalConfig& config) -> std::vector<int> {
                const bool lengths_match =
                    buffer_ptrs.size() == keys.size() && sizes.size() == keys.size();
                return BatchCodes(self, keys.size(), lengths_match, [&](Client& client) {
                    return client.BatchPutFrom(keys, ConstPointers(buffer_ptrs), sizes,
                                               ConfigOrDefault(config));
                });
            },
            py::arg("keys"), py::arg("buffer_ptrs"), py::arg("sizes"),
            py::arg("config") = py::none())
        .def(
            "batch_get_into",
            [](StoreHandle& self, const std::vector<std::string>& keys,
               const std::vector<uintptr_t>& buffer_ptrs,
               const std::vector<size_t>& sizes) -> std::vector<int64_t> {
                const bool lengths_match =
                    buffer_ptrs.size() == keys.size() && sizes.size() == keys.size();
                return BatchCodes(self, keys.size(), lengths_match, [&](Client& client) {
                    return client.BatchGetInto(keys, MutablePointers(buffer_ptrs), sizes);
                });
            },
            py::arg("keys"), py::arg("buffer_ptrs"), py::arg("sizes"));
}

// get_into_ranges: byte ranges of values read into registered buffers.
void BindRangeReads(py::class_<StoreHandle>& store) {
    store.def(
        "get_into_ranges",
        [](StoreHandle& self, const std::vector<uintptr_t>& buffer_ptrs,
           const std::vector<std::vector<std::string>>& all_keys,
           const Client::RangeOffsets& all_dst_offsets, const Client::RangeOffsets& all_src_offsets,
           const Client::RangeOffsets& all_sizes)
            -> std::vector<std::vector<std::vector<int64_t>>> {
            using Codes = std::vector<std::vector<std::vector<int64_t>>>;
            ClientPtr client = self.client();
            if (!client) {
                Codes codes(buffer_ptrs.size());
                for (size_t b = 0; b < codes.size() && b < all_sizes.size(); ++b) {
                    for (const auto& ranges : all_sizes[b]) {
                        codes[b].emplace_back(ranges.size(), kNotSetUp);
                    }
                }
                return codes;
            }
            Client::RangeResults results;
            {
                py::gil_scoped_release release;
                results = client->GetIntoRanges(MutablePointers(buffer_ptrs), all_keys,
                                                all_dst_offsets, all_src_offsets, all_sizes);
            }
            Codes codes(results.size());
            for (size_t b = 0; b < results.size(); ++b) {
                for (const auto& key_results : results[b]) {
                    codes[b].push_back(ToInts(key_results));
                }
            }
            return codes;
        },
        py::arg("buffer_ptrs"), py::arg("all_keys"), py::arg("all_dst_offsets"),
        py::arg("all_src_offsets"), py::arg("all_sizes"),
        "Range reads shaped [buffer][key][range]: bytes copied or a negative code per range.");
}

// batch_put_from_multi_buffers and batch_get_into_multi_buffers: values in several buffers.
void BindMultiBufferZeroCopy(py::class_<StoreHandle>& store) {
    store
        .def(
            "batch_put_from_multi_buffers",
            [](StoreHandle& self, const std::vector<std::string>& keys,
               const std::vector<std::vector<uintptr_t>>& all_buffer_ptrs,
               const std::vector<std::vector<size_t>>& all_sizes,
               const OptionalConfig& config) -> std::vector<int> {
                const bool lengths_match =
                    all_buffer_ptrs.size() == keys.size() && all_sizes.size() == keys.size();
                return BatchCodes(self, keys.size(), lengths_match, [&](Client& client) {
                    std::vector<std::vector<const void*>> buffers;
                    buffers.reserve(all_buffer_ptrs.size());
                    for (const auto& ptrs : all_buffer_ptrs) buffers.push_back(ConstPointers(ptrs));
                    return client.BatchPutFromMultiBuffers(keys, buffers, all_sizes,
                                                           ConfigOrDefault(config));
                });
            },
            py::arg("keys"), py::arg("all_buffer_ptrs"), py::arg("all_sizes"),
            py::arg("config") = py::none())
        .def(
            "batch_get_into_multi_buffers",
            [](StoreHandle& self, const std::vector<std::string>& keys,
               const std::vector<std::vector<uintptr_t>>& all_buffer_ptrs,
               const std::vector<std::vector<size_t>>& all_sizes,
               bool /*prefer_alloc_in_same_node*/,
               const py::object& /*prefer_same_node*/) -> std::vector<int64_t> {
                // Reads always prefer the nearest replica; the flag (the
                // reference's name, or this package's older prefer_same_node)
                // is accepted for compatibility and changes nothing.
                const bool lengths_match =
                    all_buffer_ptrs.size() == keys.size() && all_sizes.size() == keys.size();
                return BatchCodes(self, keys.size(), lengths_match, [&](Client& client) {
                    std::vector<std::vector<void*>> buffers;
                    buffers.reserve(all_buffer_ptrs.size());
                    for (const auto& ptrs : all_buffer_ptrs)
                        buffers.push_back(MutablePointers(ptrs));
                    return client.BatchGetIntoMultiBuffers(keys, buffers, all_sizes);
                });
            },
            py::arg("keys"), py::arg("all_buffer_ptrs"), py::arg("all_sizes"),
            py::arg("prefer_alloc_in_same_node") = true, py::kw_only(),
            py::arg("prefer_same_node") = py::none());
}

void BindQueries(py::class_<StoreHandle>& store) {
    store
        .def(
            "is_exist",
            [](StoreHandle& self, const std::string& key) {
                return ExistToInt(
                    CallWithoutGil(self, [&](Client& client) { return client.IsExist(key); }));
            },
            py::arg("key"), "1 when the key exists, 0 when not, -1 on error.")
        .def(
            "batch_is_exist",
            [](StoreHandle& self, const std::vector<std::string>& keys) -> std::vector<int> {
                ClientPtr client = self.client();
                if (!client) return std::vector<int>(keys.size(), kErrorAsMinusOne);
                if (keys.empty()) return {};
                py::gil_scoped_release release;
                auto results = client->BatchIsExist(keys);
                FitToKeys(results, keys.size(), Result<bool>(Error(ErrorCode::INTERNAL_ERROR)));
                std::vector<int> codes;
                codes.reserve(results.size());
                for (const auto& result : results) codes.push_back(ExistToInt(result));
                return codes;
            },
            py::arg("keys"))
        .def(
            "get_size",
            [](StoreHandle& self, const std::string& key) -> int64_t {
                return ResultToInt(
                    CallWithoutGil(self, [&](Client& client) { return client.GetSize(key); }));
            },
            py::arg("key"), "Size in bytes, or a negative error code (OBJECT_NOT_FOUND).")
        .def(
            "get_replica_desc",
            [](StoreHandle& self, const std::string& key) -> std::vector<ReplicaDescriptor> {
                auto descriptors = CallWithoutGil(
                    self, [&](Client& client) { return client.GetReplicaDesc(key); });
                if (!descriptors.has_value()) return {};
                return std::move(*descriptors);
            },
            py::arg("key"), "The key's replica descriptors; [] when missing.")
        .def(
            "batch_get_replica_desc",
            [](StoreHandle& self, const py::sequence& key_objects) -> py::dict {
                const auto keys = key_objects.cast<std::vector<std::string>>();
                std::map<std::string, std::vector<ReplicaDescriptor>> found;
                ClientPtr client = self.client();
                if (client && !keys.empty()) {
                    py::gil_scoped_release release;
                    found = client->BatchGetReplicaDesc(keys);
                }
                // Every requested key is in the result (missing ones map to
                // []), under the caller's own key object: a bytes key that
                // is not UTF-8 could not be turned back into a str.
                py::dict result;
                for (size_t i = 0; i < keys.size(); ++i) {
                    auto it = found.find(keys[i]);
                    result[key_objects[i]] = it == found.end() ? py::list() : py::cast(it->second);
                }
                return result;
            },
            py::arg("keys"), "dict key -> list of descriptors ([] for missing keys).");
}

void BindTaskCalls(py::class_<StoreHandle>& store) {
    store
        .def(
            "create_copy_task",
            [](StoreHandle& self, const std::string& key, const std::vector<std::string>& targets) {
                return TaskCreated(CallWithoutGil(
                    self, [&](Client& client) { return client.CreateCopyTask(key, targets); }));
            },
            py::arg("key"), py::arg("targets"),
            "(task_id, 0) with task_id = (hi, lo), or ((0, 0), negative error code).")
        .def(
            "create_move_task",
            [](StoreHandle& self, const std::string& key, const std::string& source,
               const std::string& target) {
                return TaskCreated(CallWithoutGil(self, [&](Client& client) {
                    return client.CreateMoveTask(key, source, target);
                }));
            },
            py::arg("key"), py::arg("source"), py::arg("target"))
        .def(
            "query_task",
            [](StoreHandle& self, py::object task_id) -> py::tuple {
                const UUID id = UuidFromPy(task_id);
                Result<TaskInfo> info =
                    CallWithoutGil(self, [&](Client& client) { return client.QueryTask(id); });
                if (!info.has_value()) return py::make_tuple(py::none(), ToInt(info.error()));
                return py::make_tuple(py::cast(std::move(*info)), 0);
            },
            py::arg("task_id"), "(QueryTaskResponse, 0), or (None, negative error code).");
}

}  // namespace

void BindStore(py::module_& m) {
    py::class_<StoreHandle> store(m, "MooncakeDistributedStore",
                                  "A member of a Mooncake store cluster: contributes a segment "
                                  "and reads and writes objects.");
    store.def(py::init<>());
    BindSetup(store);
    BindPuts(store);
    BindBatchPuts(store);
    BindGets(store);
    BindBufferRegistration(store);
    BindSingleKeyZeroCopy(store);
    BindBatchZeroCopy(store);
    BindRangeReads(store);
    BindMultiBufferZeroCopy(store);
    BindQueries(store);
    BindTaskCalls(store);
    BindRemoves(store);
    BindSegments(store);
}

}  // namespace mooncake::python
