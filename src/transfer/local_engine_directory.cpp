#include "transfer/local_engine_directory.h"

#include <unordered_map>

#include "common/mutex.h"

namespace mooncake {

namespace {

struct Directory {
    Mutex mutex;
    std::unordered_map<UUID, std::shared_ptr<const MemoryRegistry>, UUIDHash> engines;
};

Directory& Instance() {
    static Directory directory;
    return directory;
}

}  // namespace

void LocalEngineDirectory::Add(const UUID& instance, std::shared_ptr<const MemoryRegistry> memory) {
    Directory& directory = Instance();
    MutexLock lock(directory.mutex);
    directory.engines[instance] = std::move(memory);
}

void LocalEngineDirectory::Remove(const UUID& instance) {
    Directory& directory = Instance();
    MutexLock lock(directory.mutex);
    directory.engines.erase(instance);
}

std::shared_ptr<const MemoryRegistry> LocalEngineDirectory::Find(const UUID& instance) {
    Directory& directory = Instance();
    MutexLock lock(directory.mutex);
    auto it = directory.engines.find(instance);
    return it == directory.engines.end() ? nullptr : it->second;
}

}  // namespace mooncake
