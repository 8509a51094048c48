#include "numa_binding.h"

#include <dlfcn.h>
#include <glog/logging.h>

namespace mooncake::python {
namespace {

// The four libnuma entry points we use, resolved once.
struct LibNuma {
    int (*available)() = nullptr;
    int (*max_node)() = nullptr;
    int (*run_on_node)(int) = nullptr;
    void (*set_preferred)(int) = nullptr;

    bool loaded() const { return available && max_node && run_on_node && set_preferred; }
};

const LibNuma& GetLibNuma() {
    static const LibNuma lib = [] {
        LibNuma numa;
        void* handle = dlopen("libnuma.so.1", RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) handle = dlopen("libnuma.so", RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) return numa;  // kept loaded for the process lifetime
        numa.available = reinterpret_cast<int (*)()>(dlsym(handle, "numa_available"));
        numa.max_node = reinterpret_cast<int (*)()>(dlsym(handle, "numa_max_node"));
        numa.run_on_node = reinterpret_cast<int (*)(int)>(dlsym(handle, "numa_run_on_node"));
        numa.set_preferred = reinterpret_cast<void (*)(int)>(dlsym(handle, "numa_set_preferred"));
        return numa;
    }();
    return lib;
}

}  // namespace

Status BindToNumaNode(int node) {
    const LibNuma& numa = GetLibNuma();
    if (!numa.loaded()) {
        LOG(WARNING) << "bind_to_numa_node: libnuma.so.1 is not available";
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    }
    if (numa.available() < 0) {
        LOG(WARNING) << "bind_to_numa_node: the kernel reports no NUMA support";
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
    }
    if (node < 0 || node > numa.max_node()) {
        LOG(ERROR) << "bind_to_numa_node: node " << node << " does not exist (nodes 0.."
                   << numa.max_node() << ")";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    if (numa.run_on_node(node) != 0) {
        PLOG(ERROR) << "bind_to_numa_node: numa_run_on_node(" << node << ") failed";
        return Error(ErrorCode::INVALID_PARAMS);
    }
    numa.set_preferred(node);
    LOG(INFO) << "bound the calling thread to NUMA node " << node;
    return OkStatus();
}

}  // namespace mooncake::python
