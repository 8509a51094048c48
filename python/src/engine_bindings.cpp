// The bindings of mooncake.engine. Argument orders and return values follow
// the reference (docs/transfer_engine.md); every call that may block runs
// with the GIL released, so Python threads transfer in parallel.
#include "engine_bindings.h"

#include <glog/logging.h>
#include <pybind11/stl.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <stdexcept>
#include <vector>

#include "py_convert.h"
#include "py_transfer_engine.h"

namespace mooncake::python {

namespace {

using Release = py::call_guard<py::gil_scoped_release>;
using Notify = TransferNotifyMessage;

// What get_engine() hands out: an opaque reference to the engine.
struct InnerEngine {
    std::shared_ptr<TransferEngine> engine;
};

// The reference's topology: per NUMA node [[NICs on it], [NICs elsewhere]].
// NICs are the RDMA devices of /sys/class/infiniband, filtered by
// `device_filter` (comma-separated names; empty keeps all).
std::string LocalTopologyJson(const std::string& device_filter) {
    namespace fs = std::filesystem;
    std::set<std::string> wanted;
    for (size_t start = 0; start < device_filter.size();) {
        size_t comma = device_filter.find(',', start);
        if (comma == std::string::npos) comma = device_filter.size();
        if (comma > start) wanted.insert(device_filter.substr(start, comma - start));
        start = comma + 1;
    }
    std::error_code ec;
    std::map<int, std::vector<std::string>> by_node;
    std::vector<std::string> all_devices;
    for (const auto& entry : fs::directory_iterator("/sys/class/infiniband", ec)) {
        const std::string name = entry.path().filename().string();
        if (!wanted.empty() && !wanted.contains(name)) continue;
        int node = 0;
        if (FILE* file = std::fopen((entry.path() / "device/numa_node").c_str(), "r")) {
            if (std::fscanf(file, "%d", &node) != 1 || node < 0) node = 0;
            std::fclose(file);
        }
        by_node[node].push_back(name);
        all_devices.push_back(name);
    }
    std::set<int> nodes = {0};
    for (const auto& entry : fs::directory_iterator("/sys/devices/system/node", ec)) {
        const std::string name = entry.path().filename().string();
        if (name.starts_with("node") && name.size() > 4 &&
            name.find_first_not_of("0123456789", 4) == std::string::npos) {
            nodes.insert(std::stoi(name.substr(4)));
        }
    }
    nlohmann::json topology = nlohmann::json::object();
    for (int node : nodes) {
        const auto& preferred = by_node[node];
        std::vector<std::string> others;
        for (const auto& device : all_devices) {
            if (std::find(preferred.begin(), preferred.end(), device) == preferred.end()) {
                others.push_back(device);
            }
        }
        topology["cpu:" + std::to_string(node)] = {preferred, others};
    }
    return topology.dump(3);
}

TransferParts One(uintptr_t buffer, uintptr_t peer_address, size_t length) {
    return TransferParts{{buffer}, {peer_address}, {length}};
}

void BindTypes(py::module_& m) {
    py::enum_<TransferOpcode>(m, "TransferOpcode", py::arithmetic())
        .value("Read", TransferOpcode::READ)
        .value("Write", TransferOpcode::WRITE)
        .export_values();
    py::implicitly_convertible<int, TransferOpcode>();
    py::class_<Notify>(m, "TransferNotify")
        .def(py::init([](std::string name, std::string msg) {
                 return Notify{std::move(name), std::move(msg)};
             }),
             py::arg("name") = "", py::arg("msg") = "")
        .def_readwrite("name", &Notify::name)
        .def_readwrite("msg", &Notify::message)
        .def("__repr__", [](const Notify& notify) {
            return "TransferNotify(name=" + py::repr(py::str(notify.name)).cast<std::string>() +
                   ", msg=" + py::repr(py::str(notify.message)).cast<std::string>() + ")";
        });
    py::class_<InnerEngine>(m, "InnerTransferEngine",
                            "The native engine of a TransferEngine, for "
                            "MooncakeDistributedStore.setup(..., engine=...).");
}

void BindLifecycle(py::class_<PyTransferEngine>& te) {
    te.def(py::init<>())
        .def("initialize", &PyTransferEngine::Initialize, Release())
        .def("initialize_ext", &PyTransferEngine::InitializeExt, Release())
        .def("get_rpc_port", &PyTransferEngine::GetRpcPort)
        .def("get_engine", [](const PyTransferEngine& self) { return InnerEngine{self.engine()}; })
        .def("get_engine_ptr",
             [](const PyTransferEngine& self) {
                 return reinterpret_cast<uintptr_t>(self.engine().get());
             })
        .def(
            "get_local_topology",
            [](const PyTransferEngine&, const std::optional<std::string>& device_name) {
                return LocalTopologyJson(device_name.value_or(""));
            },
            py::arg("device_name") = py::none())
        .def("get_notifies", &PyTransferEngine::TakeNotifies, Release())
        .def("send_probe", &PyTransferEngine::SendProbe, py::arg("peer_server_name"), Release(),
             "0 when the peer's engine accepts a connection, else -1")
        .def(
            "_routed_requests",
            [](const PyTransferEngine& self, const std::string& transport) -> uint64_t {
                auto engine = self.engine();
                return engine ? engine->RoutedRequests(transport) : 0;
            },
            "Requests routed to memcpy, shm, tcp or rdma so far (for tests).");
}

void BindMemory(py::class_<PyTransferEngine>& te) {
    te.def(
          "register_memory",
          [](PyTransferEngine& self, uintptr_t address, size_t capacity, const std::string&) {
              return self.RegisterMemory(address, capacity);
          },
          py::arg("buffer_addr"), py::arg("capacity"), py::arg("location") = "*", Release())
        .def("unregister_memory", &PyTransferEngine::UnregisterMemory, py::arg("buffer_addr"),
             Release())
        .def(
            "batch_register_memory",
            [](PyTransferEngine& self, const std::vector<uintptr_t>& addresses,
               const std::vector<size_t>& capacities,
               const std::string&) { return self.BatchRegisterMemory(addresses, capacities); },
            py::arg("buffer_addresses"), py::arg("capacities"), py::arg("location") = "*",
            Release())
        .def("batch_unregister_memory", &PyTransferEngine::BatchUnregisterMemory,
             py::arg("buffer_addresses"), Release())
        .def("allocate_managed_buffer", &PyTransferEngine::AllocateManagedBuffer, Release())
        .def("free_managed_buffer", &PyTransferEngine::FreeManagedBuffer, Release())
        .def("write_bytes_to_buffer",
             [](PyTransferEngine&, uintptr_t dest, const py::bytes& source, size_t length) {
                 std::string_view bytes = source;
                 if (length > bytes.size() || (dest == 0 && length > 0)) return -1;
                 py::gil_scoped_release release;
                 std::memcpy(reinterpret_cast<void*>(dest), bytes.data(), length);
                 return 0;
             })
        .def("read_bytes_from_buffer", [](PyTransferEngine&, uintptr_t source, size_t length) {
            if (source == 0 && length > 0) throw py::value_error("null source address");
            return CopyToBytes(reinterpret_cast<const uint8_t*>(source), length);
        });
}

// The single-request calls: (target_hostname, buffer, peer_buffer_address,
// length[, opcode, notify], transport_hint="").
void BindSingleTransfers(py::class_<PyTransferEngine>& te) {
    auto sync_with = [](TransferOpcode opcode) {
        return [opcode](PyTransferEngine& self, const std::string& target, uintptr_t buffer,
                        uintptr_t peer_address, size_t length, const std::string&) {
            return self.TransferSync(target, One(buffer, peer_address, length), opcode,
                                     std::nullopt);
        };
    };
    te.def("transfer_sync_write", sync_with(TransferOpcode::WRITE), py::arg("target_hostname"),
           py::arg("buffer"), py::arg("peer_buffer_address"), py::arg("length"),
           py::arg("transport_hint") = "", Release())
        .def("transfer_sync_read", sync_with(TransferOpcode::READ), py::arg("target_hostname"),
             py::arg("buffer"), py::arg("peer_buffer_address"), py::arg("length"),
             py::arg("transport_hint") = "", Release())
        .def(
            "transfer_sync",
            [](PyTransferEngine& self, const std::string& target, uintptr_t buffer,
               uintptr_t peer_address, size_t length, TransferOpcode opcode,
               const std::optional<Notify>& notify, const std::string&) {
                return self.TransferSync(target, One(buffer, peer_address, length), opcode, notify);
            },
            py::arg("target_hostname"), py::arg("buffer"), py::arg("peer_buffer_address"),
            py::arg("length"), py::arg("opcode"), py::arg("notify") = py::none(),
            py::arg("transport_hint") = "", Release())
        .def(
            "transfer_submit_write",
            [](PyTransferEngine& self, const std::string& target, uintptr_t buffer,
               uintptr_t peer_address, size_t length, const std::string&) {
                const uint64_t id = self.TransferAsync(target, One(buffer, peer_address, length),
                                                       TransferOpcode::WRITE);
                return id == 0 ? kBadPeerBatch : id;
            },
            py::arg("target_hostname"), py::arg("buffer"), py::arg("peer_buffer_address"),
            py::arg("length"), py::arg("transport_hint") = "", Release())
        .def("transfer_check_status", &PyTransferEngine::CheckBatch, Release());
}

// The batch calls: (target_hostname, buffers, peer_buffer_addresses,
// lengths[, opcode, notify], transport_hint="").
void BindBatchTransfers(py::class_<PyTransferEngine>& te) {
    using Addresses = std::vector<uintptr_t>;
    using Lengths = std::vector<size_t>;
    auto sync_with = [](TransferOpcode opcode) {
        return [opcode](PyTransferEngine& self, const std::string& target, Addresses buffers,
                        Addresses peer_addresses, Lengths lengths, const std::string&) {
            TransferParts parts{std::move(buffers), std::move(peer_addresses), std::move(lengths)};
            return self.TransferSync(target, parts, opcode, std::nullopt);
        };
    };
    auto async_with = [](TransferOpcode opcode) {
        return [opcode](PyTransferEngine& self, const std::string& target, Addresses buffers,
                        Addresses peer_addresses, Lengths lengths, const std::string&) {
            TransferParts parts{std::move(buffers), std::move(peer_addresses), std::move(lengths)};
            return self.TransferAsync(target, parts, opcode);
        };
    };
    auto batch_args = [&](const char* name, auto function) {
        te.def(name, function, py::arg("target_hostname"), py::arg("buffers"),
               py::arg("peer_buffer_addresses"), py::arg("lengths"), py::arg("transport_hint") = "",
               Release());
    };
    batch_args("batch_transfer_sync_write", sync_with(TransferOpcode::WRITE));
    batch_args("batch_transfer_sync_read", sync_with(TransferOpcode::READ));
    batch_args("batch_transfer_async_write", async_with(TransferOpcode::WRITE));
    batch_args("batch_transfer_async_read", async_with(TransferOpcode::READ));
    te.def(
          "batch_transfer_sync",
          [](PyTransferEngine& self, const std::string& target, Addresses buffers,
             Addresses peer_addresses, Lengths lengths, TransferOpcode opcode,
             const std::optional<Notify>& notify, const std::string&) {
              TransferParts parts{std::move(buffers), std::move(peer_addresses),
                                  std::move(lengths)};
              return self.TransferSync(target, parts, opcode, notify);
          },
          py::arg("target_hostname"), py::arg("buffers"), py::arg("peer_buffer_addresses"),
          py::arg("lengths"), py::arg("opcode"), py::arg("notify") = py::none(),
          py::arg("transport_hint") = "", Release())
        .def(
            "batch_transfer_async",
            [](PyTransferEngine& self, const std::string& target, Addresses buffers,
               Addresses peer_addresses, Lengths lengths, TransferOpcode opcode,
               const std::string&) {
                TransferParts parts{std::move(buffers), std::move(peer_addresses),
                                    std::move(lengths)};
                return self.TransferAsync(target, parts, opcode);
            },
            py::arg("target_hostname"), py::arg("buffers"), py::arg("peer_buffer_addresses"),
            py::arg("lengths"), py::arg("opcode"), py::arg("transport_hint") = "", Release())
        .def("get_batch_transfer_status", &PyTransferEngine::WaitBatches, Release())
        .def("get_first_buffer_address", &PyTransferEngine::FirstBufferAddress, Release());
}

}  // namespace

void BindEngine(py::module_& module) {
    py::module_ m =
        module.def_submodule("_engine", "The Mooncake transfer engine (mooncake.engine).");
    BindTypes(m);
    py::class_<PyTransferEngine> te(m, "TransferEngine");
    BindLifecycle(te);
    BindMemory(te);
    BindSingleTransfers(te);
    BindBatchTransfers(te);
    te.attr("TransferOpcode") = m.attr("TransferOpcode");
    te.attr("Read") = m.attr("Read");
    te.attr("Write") = m.attr("Write");
}

Result<std::shared_ptr<TransferEngine>> EngineFromPy(const py::handle& object) {
    std::shared_ptr<TransferEngine> engine;
    if (py::isinstance<InnerEngine>(object)) {
        engine = object.cast<const InnerEngine&>().engine;
    } else {
        // The reference's binding fails the cast of any other object, the
        // TransferEngine wrapper itself included.
        throw std::runtime_error(
            "setup(engine=...): want None or TransferEngine.get_engine(), not " +
            std::string(py::str(py::type::handle_of(object).attr("__name__"))));
    }
    if (!engine) {
        LOG(ERROR) << "setup(engine=...): the TransferEngine is not initialized";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    return engine;
}

}  // namespace mooncake::python
