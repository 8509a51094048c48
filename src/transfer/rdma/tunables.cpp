#include "transfer/rdma/tunables.h"

#include <glog/logging.h>

#include <string>

#include "common/env.h"
#include "common/size_parser.h"

namespace mooncake::rdma {

namespace {

// The variable as an integer in [min, max]; nullopt (with a warning) when it
// is set to anything else, nullopt silently when unset.
std::optional<uint64_t> ReadInteger(const char* name, uint64_t min, uint64_t max,
                                    bool allow_size_units) {
    if (!allow_size_units) return GetEnvInteger(name, min, max);
    std::optional<std::string> text = GetEnv(name);
    if (!text) return std::nullopt;
    auto value = ParseSize(*text);
    if (!value || *value < min || *value > max) {
        LOG(WARNING) << "Ignoring " << name << "='" << *text << "' (want " << min << ".." << max
                     << ")";
        return std::nullopt;
    }
    return *value;
}

}  // namespace

RdmaTunables RdmaTunables::FromEnv() {
    RdmaTunables tunables;
    if (auto value = ReadInteger("MC_SLICE_SIZE", kMinChunkSize, kMaxChunkSize, true)) {
        tunables.chunk_size = static_cast<uint32_t>(*value);
    }
    if (auto value = ReadInteger("MC_NUM_QP_PER_EP", 1, kMaxQueuePairsPerConnection, false)) {
        tunables.queue_pairs_per_connection = static_cast<uint32_t>(*value);
    }
    if (auto value = ReadInteger("MC_MAX_WR", 1, 16384, false)) {
        tunables.max_outstanding_per_queue_pair = static_cast<uint32_t>(*value);
    }
    if (auto value = ReadInteger("MC_MAX_CQE_PER_CTX", 64, 1u << 22, false)) {
        tunables.completion_queue_size = static_cast<uint32_t>(*value);
    }
    if (auto value = ReadInteger("MC_GID_INDEX", 0, 65535, false)) {
        tunables.gid_index = static_cast<uint32_t>(*value);
    }
    return tunables;
}

}  // namespace mooncake::rdma
