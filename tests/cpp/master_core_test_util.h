// Helpers shared by the master logic tests: a MasterService on a
// ManualClock and short ways to mount segments and store objects.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "master/master_service.h"
#include "mooncake/types.h"

namespace mooncake::testing {

inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * 1024;

class MasterCoreTest : public ::testing::Test {
   protected:
    // Tests tweak config_ and call Restart() before using the service.
    void SetUp() override { Restart(); }

    void Restart() {
        clock_ = std::make_shared<ManualClock>();
        service_ = std::make_unique<MasterService>(config_, clock_);
        next_base_ = 0x100000000ULL;
    }

    // Mounts a segment of `size` bytes named `name` for `client` at a base
    // address no other segment of this test uses.
    SegmentInfo Mount(const UUID& client, const std::string& name, uint64_t size) {
        SegmentInfo segment{UUID::Generate(), name, next_base_, size};
        next_base_ += (size + 0xFFFFF) & ~0xFFFFFULL;
        next_base_ += 0x100000;
        auto status = service_->MountSegment(client, segment);
        EXPECT_TRUE(status.has_value()) << "mount " << name << ": " << ToInt(status.error());
        return segment;
    }

    // PutStart + PutEnd; returns the replicas handed out.
    std::vector<ReplicaDescriptor> Put(const std::string& key, uint64_t size,
                                       ReplicateConfig config = {}, const UUID& client = kWriter) {
        auto replicas = service_->PutStart(client, key, size, config);
        EXPECT_TRUE(replicas.has_value())
            << "PutStart " << key << ": " << (replicas ? 0 : ToInt(replicas.error()));
        if (!replicas) return {};
        auto ended = service_->PutEnd(client, key);
        EXPECT_TRUE(ended.has_value()) << "PutEnd " << key;
        return *replicas;
    }

    bool Exists(const std::string& key) {
        auto exists = service_->ExistKey(key);
        return exists.has_value() && *exists;
    }

    // Whether the object is stored at all (complete or not), without
    // granting a lease: GetReplicaList answers REPLICA_IS_NOT_READY for an
    // unfinished put and OBJECT_NOT_FOUND for a missing key.
    ErrorCode GetCode(const std::string& key) { return CodeOf(service_->GetReplicaList(key)); }

    void AdvanceMs(int64_t ms) { clock_->AdvanceMs(ms); }
    void AdvanceSec(int64_t sec) { clock_->AdvanceMs(sec * 1000); }

    static inline const UUID kWriter{0x1111, 0x2222};

    MasterConfig config_;
    std::shared_ptr<ManualClock> clock_;
    std::unique_ptr<MasterService> service_;
    uint64_t next_base_ = 0;
};

inline std::vector<std::string> Endpoints(const std::vector<ReplicaDescriptor>& replicas) {
    std::vector<std::string> names;
    for (const ReplicaDescriptor& replica : replicas) {
        names.push_back(replica.memory().transport_endpoint);
    }
    return names;
}

// The fields of MasterStats that describe state (not counters of calls).
inline std::string StateOf(const MasterStats& stats) {
    return "segments=" + std::to_string(stats.segments_mounted) +
           " capacity=" + std::to_string(stats.capacity_bytes) +
           " used=" + std::to_string(stats.used_bytes) +
           " objects=" + std::to_string(stats.object_count) +
           " clients=" + std::to_string(stats.clients_alive) +
           " pending=" + std::to_string(stats.tasks_pending) +
           " processing=" + std::to_string(stats.tasks_processing) +
           " finished=" + std::to_string(stats.tasks_finished);
}

}  // namespace mooncake::testing
