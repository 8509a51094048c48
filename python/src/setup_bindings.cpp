// setup (from a dict or from arguments), init_all, setup_dummy, close and
// get_hostname: how a MooncakeDistributedStore joins a cluster and leaves it.
#include <pybind11/stl.h>

#include <memory>
#include <string>

#include "engine_bindings.h"
#include "py_convert.h"
#include "setup_config.h"
#include "store_admin_bindings.h"

namespace mooncake::python {
namespace {

using ClientPtr = std::shared_ptr<Client>;

int SetupWith(StoreHandle& self, const Result<ClientConfig>& config,
              const SetupOptions& options = {}) {
    if (!config.has_value()) return ToInt(config.error());
    if (Status checked = CheckSetupOptions(options); !checked.has_value()) {
        return ToInt(checked.error());
    }
    ClientConfig with_options = *config;
    // The reference's spelling of "pick the NICs yourself".
    if (with_options.rdma_devices == "auto-discovery") with_options.rdma_devices.clear();
    with_options.enable_ssd_offload = options.enable_ssd_offload;
    with_options.ssd_offload_path = options.ssd_offload_path;
    py::gil_scoped_release release;
    Status ready = self.Setup(with_options);
    if (ready.has_value() && options.enable_client_http_server) {
        self.StartHttpServer(static_cast<uint16_t>(options.client_http_port));
    }
    // Not StatusToInt: StoreHandle::Install has logged why already.
    return ToInt(CodeOf(ready));
}

// setup(dict), then setup(arguments): pybind tries overloads in the order they are added.
void BindSetupOverloads(py::class_<StoreHandle>& store) {
    store
        .def(
            "setup",
            [](StoreHandle& self, const py::dict& config) {
                Result<DictSetup> setup = ConfigFromDict(config);
                if (!setup.has_value()) return ToInt(setup.error());
                return SetupWith(self, setup->config, setup->options);
            },
            py::arg("config"),
            "setup(dict): the keys of the positional form and its keyword options; values are "
            "read through str() and sizes may be strings such as \"16MB\" or \"4 GB\". Unknown "
            "keys are ignored. Returns 0 or a negative error code (INVALID_PARAMS for a bad "
            "size such as \"50%\", a bad port, or an option this build does not support).")
        .def(
            "setup",
            [](StoreHandle& self, const std::string& local_hostname,
               const std::string& metadata_server, py::object global_segment_size,
               py::object local_buffer_size, const std::string& protocol,
               const std::string& rdma_devices, const std::string& master_server_addr,
               const py::object& engine, bool enable_ssd_offload,
               const std::string& ssd_offload_path, const std::string& tenant_id,
               bool enable_client_http_server, int64_t client_http_port) {
                const SetupOptions options{enable_ssd_offload, ssd_offload_path, tenant_id,
                                           enable_client_http_server, client_http_port};
                auto segment = SizeFromPy(global_segment_size, "global_segment_size");
                if (!segment.has_value()) return ToInt(segment.error());
                auto buffer = SizeFromPy(local_buffer_size, "local_buffer_size");
                if (!buffer.has_value()) return ToInt(buffer.error());
                ClientConfig config;
                config.local_hostname = local_hostname;
                config.metadata_server = metadata_server;
                config.global_segment_size = *segment;
                config.local_buffer_size = *buffer;
                config.protocol = protocol;
                config.rdma_devices = rdma_devices;
                config.master_server_address = master_server_addr;
                if (!engine.is_none()) {
                    auto shared = EngineFromPy(engine);
                    if (!shared.has_value()) return ToInt(shared.error());
                    config.engine = *shared;
                }
                return SetupWith(self, config, options);
            },
            py::arg("local_hostname"), py::arg("metadata_server"),
            py::arg("global_segment_size") = 16777216, py::arg("local_buffer_size") = 1073741824,
            py::arg("protocol") = "tcp", py::arg("rdma_devices") = "",
            py::arg("master_server_addr") = "127.0.0.1:50051", py::arg("engine") = py::none(),
            py::arg("enable_ssd_offload") = false, py::arg("ssd_offload_path") = "",
            py::arg("tenant_id") = "default", py::arg("enable_client_http_server") = false,
            py::arg("client_http_port") = 9300,
            "Connects to the master, mounts a segment of global_segment_size bytes and "
            "allocates a local buffer of local_buffer_size bytes. engine: None (the store "
            "starts its own transfer engine) or mooncake.engine.TransferEngine.get_engine() "
            "to share; enable_ssd_offload starts the SSD tier under ssd_offload_path (master needs "
            "--enable_offload); "
            "enable_client_http_server serves /health and /metrics on client_http_port; "
            "tenant_id is "
            "accepted, all clients share the default tenant. Returns 0 or a negative error "
            "code.");
}

// init_all (defaults, MOONCAKE_* variables) and setup_dummy (a standalone mooncake_client).
void BindPresetSetups(py::class_<StoreHandle>& store) {
    store
        .def(
            "init_all",
            [](StoreHandle& self, const std::string& protocol, const std::string& device_name,
               py::object mount_segment_size) {
                auto segment = SizeFromPy(mount_segment_size, "mount_segment_size");
                if (!segment.has_value()) return ToInt(segment.error());
                return SetupWith(self, ConfigForInitAll(protocol, device_name, *segment));
            },
            py::arg("protocol"), py::arg("device_name"), py::arg("mount_segment_size") = 16777216,
            "setup() with local_hostname \"localhost\", metadata \"P2PHANDSHAKE\" and master "
            "\"127.0.0.1:50051\", unless MOONCAKE_LOCAL_HOSTNAME, MOONCAKE_TE_META_DATA_SERVER, "
            "MOONCAKE_MASTER (and MOONCAKE_LOCAL_BUFFER_SIZE) say otherwise.")
        .def(
            "setup_dummy",
            [](StoreHandle& self, py::object mem_pool_size, py::object local_buffer_size,
               const std::string& server_address) {
                auto pool = SizeFromPy(mem_pool_size, "mem_pool_size");
                if (!pool.has_value()) return ToInt(pool.error());
                auto buffer = SizeFromPy(local_buffer_size, "local_buffer_size");
                if (!buffer.has_value()) return ToInt(buffer.error());
                DummyClientConfig config;
                config.mem_pool_size = *pool;
                config.local_buffer_size = *buffer;
                config.server_address = server_address;
                py::gil_scoped_release release;
                return ToInt(CodeOf(self.SetupDummy(config)));  // logs a failure itself
            },
            py::arg("mem_pool_size"), py::arg("local_buffer_size"), py::arg("server_address"),
            "Sets the store up as a dummy client of the standalone mooncake_client serving "
            "server_address (\"host:port\", its --port) on this host: shared memory of "
            "mem_pool_size (alloc_from_mem_pool) + local_buffer_size (staging and get results) "
            "bytes. Returns 0 or a negative error code (RPC_FAIL when nothing answers there).");
}

// close and get_hostname: leaving the cluster, and this store's name in it.
void BindCloseAndHostname(py::class_<StoreHandle>& store) {
    store
        .def(
            "close",
            [](StoreHandle& self) {
                py::gil_scoped_release release;
                return StatusToInt(self.Close());
            },
            "Unmounts the segment and releases the client; 0 also when not set up.")
        .def(
            "get_hostname",
            [](StoreHandle& self) -> std::string {
                ClientPtr client = self.client();
                return client ? client->GetHostname() : std::string();
            },
            "\"host:port\", this store's segment name; \"\" when not set up.");
}

}  // namespace

void BindSetup(py::class_<StoreHandle>& store) {
    BindSetupOverloads(store);
    BindPresetSetups(store);
    BindCloseAndHostname(store);
}

}  // namespace mooncake::python
