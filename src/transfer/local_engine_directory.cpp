#include "transfer/local_engine_directory.h"

#include <mutex>
#include <unordered_map>

namespace mooncake {

namespace {

struct Directory {
    std::mutex mutex;
    std::unordered_map<UUID, std::shared_ptr<const MemoryRegistry>, UUIDHash> engines;
};

Directory& Instance() {
    static Directory directory;
    return directory;
}

}  // namespace

void LocalEngineDirectory::Add(const UUID& instance, std::shared_ptr<const MemoryRegistry> memory) {
    Directory& directory = Instance();
    std::lock_guard lock(directory.mutex);
    directory.engines[instance] = std::move(memory);
}

void LocalEngineDirectory::Remove(const UUID& instance) {
    Directory& directory = Instance();
    std::lock_guard lock(directory.mutex);
    directory.engines.erase(instance);
}

std::shared_ptr<const MemoryRegistry> LocalEngineDirectory::Find(const UUID& instance) {
    Directory& directory = Instance();
    std::lock_guard lock(directory.mutex);
    auto it = directory.engines.find(instance);
    return it == directory.engines.end() ? nullptr : it->second;
}

}  // namespace mooncake
