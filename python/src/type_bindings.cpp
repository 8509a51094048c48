// Value types of the Python API: they copy their C++ counterparts, so they
// stay valid after the store that produced them is closed.
#include <pybind11/stl.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "bindings.h"
#include "mooncake/error_code.h"
#include "mooncake/types.h"
#include "py_convert.h"

namespace mooncake::python {
namespace {

// What get_memory_descriptor() returns: an object whose buffer_descriptor
// says where the bytes are.
struct MemoryReplicaView {
    MemoryDescriptor buffer_descriptor;
};

// Text from the store as a str; bytes when it is not UTF-8 (keys are bytes
// on the wire, and a bytes key given by the caller may be any bytes).
py::object TextOrBytes(const std::string& text) {
    PyObject* decoded =
        PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), nullptr);
    if (decoded != nullptr) return py::reinterpret_steal<py::str>(decoded);
    PyErr_Clear();
    return py::bytes(text);
}

// Human-readable text (log-like messages): undecodable bytes are replaced.
py::str ReadableText(const std::string& text) {
    PyObject* decoded =
        PyUnicode_DecodeUTF8(text.data(), static_cast<Py_ssize_t>(text.size()), "replace");
    if (decoded == nullptr) throw py::error_already_set();
    return py::reinterpret_steal<py::str>(decoded);
}

std::string Quoted(const std::string& text) { return std::string(py::repr(TextOrBytes(text))); }

// The spec shows prefer_alloc_in_same_node both as a bool and as the string
// "True"; accept both spellings rather than fail on a documented form.
bool TruthFromPy(py::handle value) {
    if (py::isinstance<py::str>(value)) {
        std::string text = value.cast<std::string>();
        std::transform(text.begin(), text.end(), text.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
        if (text == "false" || text == "0" || text == "no" || text == "off" || text.empty()) {
            return false;
        }
        throw py::value_error("prefer_alloc_in_same_node: expected a bool, got '" + text + "'");
    }
    if (py::isinstance<py::bool_>(value) || py::isinstance<py::int_>(value)) {
        return PyObject_IsTrue(value.ptr()) == 1;
    }
    throw py::type_error("prefer_alloc_in_same_node must be a bool");
}

std::string QuotedList(const std::vector<std::string>& items) {
    std::string text = "[";
    for (size_t i = 0; i < items.size(); ++i) text += (i ? ", " : "") + Quoted(items[i]);
    return text + "]";
}

std::string ReplicateConfigRepr(const ReplicateConfig& config) {
    std::ostringstream out;
    out << "ReplicateConfig(replica_num=" << config.replica_num
        << ", with_soft_pin=" << (config.with_soft_pin ? "True" : "False")
        << ", preferred_segment=" << Quoted(config.preferred_segment)
        << ", preferred_segments=" << QuotedList(config.preferred_segments)
        << ", prefer_alloc_in_same_node=" << (config.prefer_alloc_in_same_node ? "True" : "False")
        << ", with_hard_pin=" << (config.with_hard_pin ? "True" : "False")
        << ", soft_pin_action=" << static_cast<int>(config.soft_pin_action) << ", soft_pin_ttl_ms="
        << (config.soft_pin_ttl_ms ? std::to_string(config.soft_pin_ttl_ms) : "None")
        << ", data_type=" << static_cast<int>(config.data_type) << ")";
    return out.str();
}

// str(config), in the reference's shape.
std::string ReplicateConfigStr(const ReplicateConfig& config) {
    auto boolean = [](bool value) { return value ? "true" : "false"; };
    std::ostringstream out;
    out << "ReplicateConfig: { replica_num: " << config.replica_num
        << ", with_soft_pin: " << boolean(config.with_soft_pin)
        << ", soft_pin_action: " << static_cast<int>(config.soft_pin_action)
        << ", soft_pin_ttl_ms: " << config.soft_pin_ttl_ms
        << ", with_hard_pin: " << boolean(config.with_hard_pin)
        << ", preferred_segment: " << config.preferred_segment << ", preferred_segments: [";
    for (size_t i = 0; i < config.preferred_segments.size(); ++i) {
        out << (i ? ", " : "") << config.preferred_segments[i];
    }
    out << "], prefer_alloc_in_same_node: " << boolean(config.prefer_alloc_in_same_node)
        << ", data_type: " << static_cast<int>(config.data_type) << " }";
    return out.str();
}

// Everything a ReplicateConfig holds, for __eq__ and pickling.
auto ReplicateConfigTuple(const ReplicateConfig& c) {
    return std::make_tuple(c.replica_num, c.with_soft_pin, c.preferred_segment,
                           c.prefer_alloc_in_same_node, c.preferred_segments, c.with_hard_pin,
                           static_cast<int>(c.soft_pin_action), c.soft_pin_ttl_ms, c.group_ids,
                           static_cast<int>(c.data_type), c.nof_replica_num, c.dfs_replica_num,
                           c.preferred_nof_segments);
}

std::string BufferDescriptorRepr(const MemoryDescriptor& descriptor) {
    std::ostringstream out;
    out << "BufferDescriptor(transport_endpoint=" << Quoted(descriptor.transport_endpoint)
        << ", buffer_address=" << descriptor.buffer_address << ", size=" << descriptor.size << ")";
    return out.str();
}

// soft_pin_ttl_ms: None or a positive number of milliseconds (0 = None).
uint64_t TtlFromPy(const py::object& value) {
    if (value.is_none()) return 0;
    const int64_t ttl = value.cast<int64_t>();
    if (ttl < 0) throw py::value_error("soft_pin_ttl_ms must not be negative");
    return static_cast<uint64_t>(ttl);
}

std::vector<std::string> ListFromPy(const py::object& value) {
    return value.is_none() ? std::vector<std::string>{} : value.cast<std::vector<std::string>>();
}

void BindReplicateConfigExtras(py::class_<ReplicateConfig>& config) {
    config
        .def_readwrite("preferred_segments", &ReplicateConfig::preferred_segments,
                       "Candidate segments for the replicas, tried in order (hints); used only "
                       "when preferred_segment is empty.")
        .def_readwrite("with_hard_pin", &ReplicateConfig::with_hard_pin,
                       "Never evict this object (it can still be removed).")
        .def_readwrite("soft_pin_action", &ReplicateConfig::soft_pin_action,
                       "SoftPinAction.PRESERVE (default), ENABLE or DISABLE.")
        .def_property(
            "soft_pin_ttl_ms",
            [](const ReplicateConfig& c) -> py::object {
                return c.soft_pin_ttl_ms ? py::cast(c.soft_pin_ttl_ms) : py::none();
            },
            [](ReplicateConfig& c, const py::object& value) {
                c.soft_pin_ttl_ms = TtlFromPy(value);
            },
            "Soft pin length with SoftPinAction.ENABLE; None: the master's default.")
        .def_property(
            "group_ids",
            [](const ReplicateConfig& c) -> py::object {
                return c.group_ids.empty() ? py::none() : py::cast(c.group_ids);
            },
            [](ReplicateConfig& c, const py::object& value) { c.group_ids = ListFromPy(value); },
            "One entry per key of the call, or None (a call with another number of entries "
            "returns INVALID_PARAMS); this master has no groups and does not use them.")
        .def_readwrite("data_type", &ReplicateConfig::data_type,
                       "ObjectDataType tag (default UNKNOWN); accepted, not used by this master.")
        .def_readwrite("nof_replica_num", &ReplicateConfig::nof_replica_num,
                       "NVMe-oF replicas (default 0). This build has no NVMe-oF tier: a put "
                       "asking for any returns INVALID_PARAMS.")
        .def_readwrite("dfs_replica_num", &ReplicateConfig::dfs_replica_num,
                       "Distributed-FS replicas (default 0). This build has no such tier: a put "
                       "asking for any returns INVALID_PARAMS.")
        .def_readwrite("preferred_nof_segments", &ReplicateConfig::preferred_nof_segments,
                       "NVMe-oF segments for nof replicas (default []); unused without them.");
}

// SoftPinAction (inside ReplicateConfig and at module level) and ObjectDataType.
void BindReplicateConfigEnums(py::module_& m, py::class_<ReplicateConfig>& config) {
    py::enum_<SoftPinAction>(config, "SoftPinAction")
        .value("PRESERVE", SoftPinAction::PRESERVE)
        .value("ENABLE", SoftPinAction::ENABLE)
        .value("DISABLE", SoftPinAction::DISABLE);
    m.attr("SoftPinAction") = config.attr("SoftPinAction");
    py::enum_<ObjectDataType>(m, "ObjectDataType")
        .value("UNKNOWN", ObjectDataType::UNKNOWN)
        .value("KVCACHE", ObjectDataType::KVCACHE)
        .value("TENSOR", ObjectDataType::TENSOR)
        .value("WEIGHT", ObjectDataType::WEIGHT)
        .value("SAMPLE", ObjectDataType::SAMPLE)
        .value("ACTIVATION", ObjectDataType::ACTIVATION)
        .value("GRADIENT", ObjectDataType::GRADIENT)
        .value("OPTIMIZER_STATE", ObjectDataType::OPTIMIZER_STATE)
        .value("METADATA", ObjectDataType::METADATA)
        .value("GENERAL", ObjectDataType::GENERAL)
        .export_values();
}

// The constructor, replica_num, with_soft_pin, preferred_segment, prefer_alloc_in_same_node.
void BindReplicateConfigFields(py::class_<ReplicateConfig>& config) {
    config
        .def(py::init([](size_t replica_num, bool with_soft_pin, std::string preferred_segment,
                         py::object prefer_alloc_in_same_node, std::vector<std::string> preferred,
                         bool with_hard_pin, SoftPinAction action, const py::object& ttl,
                         const py::object& group_ids, ObjectDataType data_type) {
                 ReplicateConfig c;
                 c.replica_num = replica_num;
                 c.with_soft_pin = with_soft_pin;
                 c.preferred_segment = std::move(preferred_segment);
                 c.prefer_alloc_in_same_node = TruthFromPy(prefer_alloc_in_same_node);
                 c.preferred_segments = std::move(preferred);
                 c.with_hard_pin = with_hard_pin;
                 c.soft_pin_action = action;
                 c.soft_pin_ttl_ms = TtlFromPy(ttl);
                 c.group_ids = ListFromPy(group_ids);
                 c.data_type = data_type;
                 return c;
             }),
             py::kw_only(), py::arg("replica_num") = 1, py::arg("with_soft_pin") = false,
             py::arg("preferred_segment") = "", py::arg("prefer_alloc_in_same_node") = false,
             py::arg("preferred_segments") = std::vector<std::string>{},
             py::arg("with_hard_pin") = false, py::arg("soft_pin_action") = SoftPinAction::PRESERVE,
             py::arg("soft_pin_ttl_ms") = py::none(), py::arg("group_ids") = py::none(),
             py::arg("data_type") = ObjectDataType::UNKNOWN)
        .def_readwrite("replica_num", &ReplicateConfig::replica_num,
                       "Number of replicas, each on a distinct segment (default 1).")
        .def_readwrite("with_soft_pin", &ReplicateConfig::with_soft_pin,
                       "Evict this object only when nothing else can be evicted (the older "
                       "spelling of soft_pin_action = SoftPinAction.ENABLE).")
        .def_readwrite("preferred_segment", &ReplicateConfig::preferred_segment,
                       "Segment name (\"host:port\") that should hold the first replica (a hint).")
        .def_property(
            "prefer_alloc_in_same_node",
            [](const ReplicateConfig& c) { return c.prefer_alloc_in_same_node; },
            [](ReplicateConfig& c, py::object value) {
                c.prefer_alloc_in_same_node = TruthFromPy(value);
            },
            "Place multi-buffer puts on this host's own segment.");
}

// repr(), str(), ==, copies and pickling.
void BindReplicateConfigProtocols(py::class_<ReplicateConfig>& config) {
    // copy.copy keeps every field, the upsert family's hidden flag too
    // (pickling, below, carries the public fields only).
    config.def("__copy__", [](const ReplicateConfig& c) { return c; })
        .def("__deepcopy__", [](const ReplicateConfig& c, py::dict) { return c; })
        .def("__repr__", &ReplicateConfigRepr)
        .def("__str__", &ReplicateConfigStr)
        .def("__eq__",
             [](const ReplicateConfig& a, const ReplicateConfig& b) {
                 return ReplicateConfigTuple(a) == ReplicateConfigTuple(b);
             })
        .def(py::pickle(
            [](const ReplicateConfig& c) { return py::tuple(py::cast(ReplicateConfigTuple(c))); },
            [](const py::tuple& state) {
                // 10 fields: a pickle of before the NVMe-oF / DFS fields.
                if (state.size() != 10 && state.size() != 13) {
                    throw std::runtime_error("bad ReplicateConfig state");
                }
                ReplicateConfig c;
                c.replica_num = state[0].cast<size_t>();
                c.with_soft_pin = state[1].cast<bool>();
                c.preferred_segment = state[2].cast<std::string>();
                c.prefer_alloc_in_same_node = state[3].cast<bool>();
                c.preferred_segments = state[4].cast<std::vector<std::string>>();
                c.with_hard_pin = state[5].cast<bool>();
                c.soft_pin_action = static_cast<SoftPinAction>(state[6].cast<int>());
                c.soft_pin_ttl_ms = state[7].cast<uint64_t>();
                c.group_ids = state[8].cast<std::vector<std::string>>();
                c.data_type = static_cast<ObjectDataType>(state[9].cast<int>());
                if (state.size() == 13) {
                    c.nof_replica_num = state[10].cast<size_t>();
                    c.dfs_replica_num = state[11].cast<size_t>();
                    c.preferred_nof_segments = state[12].cast<std::vector<std::string>>();
                }
                return c;
            }));
}

// _upsert_config: the config the upsert family (mooncake.upsert_ops) puts with.
void BindUpsertConfig(py::module_& m) {
    m.def(
        "_upsert_config",
        [](std::optional<ReplicateConfig> c) {
            ReplicateConfig replacing = c.value_or(ReplicateConfig{});
            replacing.upsert = true;
            return replacing;
        },
        py::arg("config") = py::none());
}

void BindReplicateConfig(py::module_& m) {
    py::class_<ReplicateConfig> config(m, "ReplicateConfig",
                                       "How a put places its replicas. Every field is optional.");
    // Enums first: the constructor's defaults are of their types.
    BindReplicateConfigEnums(m, config);
    BindReplicateConfigFields(config);
    BindReplicateConfigProtocols(config);
    BindReplicateConfigExtras(config);
    BindUpsertConfig(m);
}

void BindReplicaDescriptors(py::module_& m) {
    py::enum_<ReplicaStatus>(m, "ReplicaStatus")
        .value("UNDEFINED", ReplicaStatus::UNDEFINED)
        .value("INITIALIZED", ReplicaStatus::INITIALIZED)
        .value("PROCESSING", ReplicaStatus::PROCESSING)
        .value("COMPLETE", ReplicaStatus::COMPLETE)
        .value("REMOVED", ReplicaStatus::REMOVED)
        .value("FAILED", ReplicaStatus::FAILED);

    // Both spellings: the trailing-underscore names are what existing user
    // code reads, the plain ones are what new code should read.
    py::class_<MemoryDescriptor>(m, "BufferDescriptor")
        .def_readonly("size_", &MemoryDescriptor::size)
        .def_readonly("size", &MemoryDescriptor::size)
        .def_readonly("buffer_address_", &MemoryDescriptor::buffer_address)
        .def_readonly("buffer_address", &MemoryDescriptor::buffer_address)
        .def_readonly("transport_endpoint_", &MemoryDescriptor::transport_endpoint)
        .def_readonly("transport_endpoint", &MemoryDescriptor::transport_endpoint)
        .def("__repr__", &BufferDescriptorRepr);

    py::class_<MemoryReplicaView>(m, "MemoryDescriptor")
        .def_readonly("buffer_descriptor", &MemoryReplicaView::buffer_descriptor)
        .def("__repr__", [](const MemoryReplicaView& view) {
            return "MemoryDescriptor(buffer_descriptor=" +
                   BufferDescriptorRepr(view.buffer_descriptor) + ")";
        });

    py::class_<DiskDescriptor>(m, "DiskDescriptor")
        .def_readonly("file_path", &DiskDescriptor::file_path)
        .def_readonly("object_size", &DiskDescriptor::object_size)
        .def("__repr__", [](const DiskDescriptor& d) {
            return "DiskDescriptor(file_path=" + Quoted(d.file_path) +
                   ", object_size=" + std::to_string(d.object_size) + ")";
        });

    py::class_<ReplicaDescriptor>(m, "ReplicaDescriptor")
        .def_readonly("status", &ReplicaDescriptor::status)
        .def("is_memory_replica", &ReplicaDescriptor::is_memory_replica)
        .def("is_disk_replica", &ReplicaDescriptor::is_disk_replica)
        .def("is_local_disk_replica", &ReplicaDescriptor::is_local_disk_replica)
        // The accessor of the other kind of replica raises RuntimeError, as
        // the reference's does (check is_memory_replica() / is_disk_replica()
        // first); an SSD-offload replica has no Python descriptor.
        .def("get_memory_descriptor",
             [](const ReplicaDescriptor& d) -> py::object {
                 if (!d.is_memory_replica()) throw std::runtime_error("Expected MemoryDescriptor");
                 return py::cast(MemoryReplicaView{d.memory()});
             })
        .def("get_disk_descriptor",
             [](const ReplicaDescriptor& d) -> py::object {
                 if (!d.is_disk_replica()) throw std::runtime_error("Expected DiskDescriptor");
                 return py::cast(d.disk());
             })
        .def("__repr__", [](const ReplicaDescriptor& d) {
            std::string status = py::str(py::cast(d.status));
            if (d.is_memory_replica()) {
                return "ReplicaDescriptor(status=" + status +
                       ", memory=" + BufferDescriptorRepr(d.memory()) + ")";
            }
            if (d.is_local_disk_replica()) {
                return "ReplicaDescriptor(status=" + status +
                       ", local_disk=" + Quoted(d.local_disk().transport_endpoint) + ")";
            }
            return "ReplicaDescriptor(status=" + status + ", disk=" + Quoted(d.disk().file_path) +
                   ")";
        });
}

void BindTasks(py::module_& m) {
    py::enum_<TaskType>(m, "TaskType")
        .value("REPLICA_COPY", TaskType::REPLICA_COPY)
        .value("REPLICA_MOVE", TaskType::REPLICA_MOVE);

    // COMPLETED and SUCCESS name the same state.
    py::enum_<TaskStatus>(m, "TaskStatus")
        .value("PENDING", TaskStatus::PENDING)
        .value("PROCESSING", TaskStatus::PROCESSING)
        .value("COMPLETED", TaskStatus::SUCCESS)
        .value("SUCCESS", TaskStatus::SUCCESS)
        .value("FAILED", TaskStatus::FAILED);

    py::class_<TaskInfo>(m, "QueryTaskResponse")
        .def_property_readonly("id", [](const TaskInfo& t) { return UuidToTuple(t.id); })
        .def_readonly("type", &TaskInfo::type)
        .def_readonly("status", &TaskInfo::status)
        .def_readonly("created_at_ms_epoch", &TaskInfo::created_at_ms_epoch)
        .def_readonly("last_updated_at_ms_epoch", &TaskInfo::last_updated_at_ms_epoch)
        .def_property_readonly("assigned_client",
                               [](const TaskInfo& t) { return UuidToTuple(t.assigned_client); })
        .def_property_readonly("message", [](const TaskInfo& t) { return ReadableText(t.message); })
        .def_property_readonly("key", [](const TaskInfo& t) { return TextOrBytes(t.key); })
        .def_readonly("source", &TaskInfo::source)
        .def_readonly("targets", &TaskInfo::targets)
        .def_readonly("attempts", &TaskInfo::attempts)
        .def("__repr__", [](const TaskInfo& t) {
            return "QueryTaskResponse(id=" + t.id.ToString() +
                   ", type=" + std::string(py::str(py::cast(t.type))) +
                   ", status=" + std::string(py::str(py::cast(t.status))) +
                   ", key=" + Quoted(t.key) + ", message=" + Quoted(t.message) + ")";
        });
}

// name -> value of every error code, from which mooncake.store builds the
// IntEnum ErrorCode (comparable with the ints the methods return).
py::dict ErrorCodeTable() {
    constexpr ErrorCode kAll[] = {
#define MOONCAKE_PY_CODE(name, value) ErrorCode::name,
        MOONCAKE_ERROR_CODES(MOONCAKE_PY_CODE)
#undef MOONCAKE_PY_CODE
    };
    py::dict table;
    for (ErrorCode code : kAll) table[py::str(std::string(ErrorCodeName(code)))] = ToInt(code);
    return table;
}

}  // namespace

void BindTypes(py::module_& m) {
    BindReplicateConfig(m);
    BindReplicaDescriptors(m);
    BindTasks(m);
    m.attr("_error_codes") = ErrorCodeTable();
}

}  // namespace mooncake::python
