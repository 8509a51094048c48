#include "transfer/transport_registry.h"

#include <glog/logging.h>

#include <map>

#include "common/mutex.h"

namespace mooncake {

namespace {

struct FactoryTable {
    FactoryTable() {
#if MOONCAKE_TRANSFER_HAVE_RDMA
        factories["rdma"] = &CreateRdmaTransport;
#endif
    }
    Mutex mutex;
    std::map<std::string, TransportFactory, std::less<>> factories;
};

FactoryTable& Table() {
    static FactoryTable table;
    return table;
}

}  // namespace

void RegisterTransportFactory(const std::string& name, TransportFactory factory) {
    FactoryTable& table = Table();
    MutexLock lock(table.mutex);
    table.factories[name] = std::move(factory);
}

Result<std::unique_ptr<Transport>> CreateTransport(std::string_view name,
                                                   const TransportOptions& options) {
    TransportFactory factory;
    {
        FactoryTable& table = Table();
        MutexLock lock(table.mutex);
        auto it = table.factories.find(name);
        if (it == table.factories.end()) {
            LOG(ERROR) << "Transport '" << name
                       << "' is not available in this build (for rdma: build with libibverbs)";
            return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
        }
        factory = it->second;
    }
    return factory(options);
}

}  // namespace mooncake
