#include "store_admin_bindings.h"

#include <glog/logging.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <vector>

#include "client/client_http_server.h"
#include "py_convert.h"

namespace mooncake::python {
namespace {

using ClientPtr = std::shared_ptr<Client>;

// The regex of remove_by_regex under the reference's keyword
// (regex_pattern) or this package's older one (regex).
std::string RegexArgument(const py::object& regex_pattern, const py::object& regex) {
    if (!regex_pattern.is_none() && !regex.is_none()) {
        throw py::type_error("remove_by_regex() got both regex_pattern and regex");
    }
    const py::object& given = regex_pattern.is_none() ? regex : regex_pattern;
    if (given.is_none()) throw py::type_error("remove_by_regex() missing 'regex_pattern'");
    if (py::isinstance<py::bytes>(given)) return given.cast<std::string>();
    if (!py::isinstance<py::str>(given)) throw py::type_error("regex_pattern must be a str");
    // Text that cannot be UTF-8 (a lone surrogate) raises UnicodeEncodeError.
    Py_ssize_t size = 0;
    const char* text = PyUnicode_AsUTF8AndSize(given.ptr(), &size);
    if (text == nullptr) throw py::error_already_set();
    return std::string(text, static_cast<size_t>(size));
}

int HealthOf(const ClientPtr& client) { return static_cast<int>(CheckClientHealth(client.get())); }

// The remove family (and the upsert family, mooncake.upsert_ops) answers
// INVALID_PARAMS before setup, as the reference does (interfaces.md §7.1).
constexpr ErrorCode kRemoveNotSetUp = ErrorCode::INVALID_PARAMS;

void BindRemoveCalls(py::class_<StoreHandle>& store) {
    store
        .def(
            "remove",
            [](StoreHandle& self, const std::string& key, bool force) {
                return StatusToInt(CallWithoutGil(
                    self, [&](Client& client) { return client.Remove(key, force); },
                    kRemoveNotSetUp));
            },
            py::arg("key"), py::arg("force") = false,
            "0, or a negative error code (OBJECT_NOT_FOUND; OBJECT_HAS_LEASE while a reader's "
            "lease runs, unless force=True; REPLICA_IS_NOT_READY while being put).")
        .def(
            "batch_remove",
            [](StoreHandle& self, const std::vector<std::string>& keys,
               bool force) -> std::vector<int> {
                ClientPtr client = self.client();
                if (!client) return std::vector<int>(keys.size(), ToInt(kRemoveNotSetUp));
                py::gil_scoped_release release;
                std::vector<int> codes;
                codes.reserve(keys.size());
                for (const std::string& key : keys) {
                    codes.push_back(StatusToInt(client->Remove(key, force)));
                }
                return codes;
            },
            py::arg("keys"), py::arg("force") = false,
            "One code per key: 0 or what remove() would return.")
        .def(
            "remove_by_regex",
            [](StoreHandle& self, const py::object& regex_pattern, bool force,
               const py::object& regex) -> int64_t {
                const std::string pattern = RegexArgument(regex_pattern, regex);
                return ResultToInt(CallWithoutGil(
                    self, [&](Client& client) { return client.RemoveByRegex(pattern, force); },
                    kRemoveNotSetUp));
            },
            py::arg("regex_pattern") = py::none(), py::arg("force") = false, py::kw_only(),
            py::arg("regex") = py::none(),
            "Removes the objects whose key matches (ECMAScript, search semantics), skipping "
            "leased ones unless force=True. Number removed, or a negative error code. "
            "regex= is the older keyword, still accepted.")
        .def(
            "remove_all",
            [](StoreHandle& self, bool force) -> int64_t {
                return ResultToInt(CallWithoutGil(
                    self, [&](Client& client) { return client.RemoveAll(force); },
                    kRemoveNotSetUp));
            },
            py::arg("force") = false,
            "Number of objects removed (leased ones are skipped unless force=True), or a "
            "negative error code (INVALID_PARAMS before setup).");
}

}  // namespace

void BindRemoves(py::class_<StoreHandle>& store) {
    BindRemoveCalls(store);
    store.def(
        "batch_replica_clear",
        [](StoreHandle& self, const std::vector<std::string>& keys,
           const std::string& segment_name) -> std::vector<std::string> {
            ClientPtr client = self.client();
            if (!client) return {};
            py::gil_scoped_release release;
            return client->BatchReplicaClear(keys, segment_name);
        },
        py::arg("keys"), py::arg("segment_name") = "",
        "Removes those of keys this store wrote whose lease has run out: whole objects, or "
        "with segment_name only their complete replicas there. Returns the keys cleared.");
    store.def(
        "unmount_local_disk_segment",
        [](StoreHandle& self, int64_t grace_period_seconds) -> int {
            ClientPtr client = self.client();
            if (!client || grace_period_seconds < 0 || grace_period_seconds > UINT32_MAX) return -1;
            py::gil_scoped_release release;
            return client->UnmountLocalDisk(static_cast<uint32_t>(grace_period_seconds)).has_value()
                       ? 0
                       : -1;
        },
        py::arg("grace_period_seconds") = 0,
        "Deregisters this store's SSD tier at the master, then waits the grace period. 0 "
        "(also without SSD offload) or -1.");
    store.def(
        "get_offload_rpc_read_count",
        [](StoreHandle& self) -> uint64_t {
            ClientPtr client = self.client();
            return client ? client->OffloadRpcReadCount() : 0;
        },
        "Reads of this store's SSD served to other clients.");
    // Whether calls reach a client (mooncake.upsert_ops answers
    // INVALID_PARAMS when not).
    store.def("_is_set_up", [](StoreHandle& self) { return self.client() != nullptr; });
    store.def(
        "health_check",
        [](StoreHandle& self) {
            ClientPtr client = self.client();
            py::gil_scoped_release release;
            return HealthOf(client);
        },
        "0 healthy, 1 not set up or closed, 2 master (or, for a dummy client, the standalone "
        "client) unreachable.");
}

}  // namespace mooncake::python
