// Many threads on one MasterService at once; invariants checked during the
// run and at the end (no overlap, no leak, accounts that add up).
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "master_core_test_util.h"

namespace mooncake::testing {
namespace {

constexpr int kKeySpace = 1000;
constexpr uint64_t kSegmentSize = 4 * kMiB;

std::string KeyOf(int id) { return "stress/" + std::to_string(id); }
// Each key always has the same size, so readers can check it.
uint64_t SizeOf(int id) { return 1 + (static_cast<uint64_t>(id) * 2654435761ULL) % (16 * kKiB); }
uint64_t Rounded(uint64_t size) { return (size + 63) & ~63ULL; }

struct Range {
    uint64_t base = 0;
    uint64_t size = 0;
};

class StressTest : public MasterCoreTest {
   protected:
    void SetUp() override {
        config_.default_kv_lease_ttl_ms = 1;
        config_.eviction_high_watermark_ratio = 0.8;
        config_.eviction_ratio = 0.1;
        config_.client_ttl_sec = int64_t{1} << 30;
        config_.put_start_discard_timeout_sec = int64_t{1} << 30;
        config_.put_start_release_timeout_sec = int64_t{1} << 31;
        MasterCoreTest::SetUp();
    }

    // Checks one read result against what the test knows; returns a
    // description of the first violation, empty when fine.
    std::string CheckReplicas(int id, const std::vector<ReplicaDescriptor>& replicas,
                              const std::map<std::string, Range>& segments) {
        if (replicas.empty()) return "no replica";
        std::set<std::string> names;
        for (const ReplicaDescriptor& replica : replicas) {
            if (replica.status != ReplicaStatus::COMPLETE) return "replica not complete";
            const MemoryDescriptor& memory = replica.memory();
            if (memory.size != SizeOf(id)) return "wrong size";
            auto segment = segments.find(memory.transport_endpoint);
            if (segment == segments.end()) return "unknown segment " + memory.transport_endpoint;
            if (memory.buffer_address < segment->second.base ||
                memory.buffer_address + memory.size > segment->second.base + segment->second.size) {
                return "replica outside its segment";
            }
            if (!names.insert(memory.transport_endpoint).second) return "two replicas on one name";
        }
        return "";
    }

    // Reads every key; checks ranges never overlap and bytes add up.
    void CheckFinalState(const std::map<std::string, Range>& segments) {
        AdvanceMs(1000);  // leases granted during the run end
        std::map<std::string, std::map<uint64_t, uint64_t>> taken;
        uint64_t bytes = 0;
        uint64_t objects = 0;
        for (int id = 0; id < kKeySpace; ++id) {
            auto got = service_->GetReplicaList(KeyOf(id));
            if (!got) {
                ASSERT_EQ(got.error(), ErrorCode::OBJECT_NOT_FOUND) << KeyOf(id);
                continue;
            }
            ++objects;
            ASSERT_EQ(CheckReplicas(id, got->replicas, segments), "") << KeyOf(id);
            for (const ReplicaDescriptor& replica : got->replicas) {
                auto& ranges = taken[replica.memory().transport_endpoint];
                const uint64_t start = replica.memory().buffer_address;
                const uint64_t end = start + Rounded(replica.memory().size);
                auto next = ranges.lower_bound(start);
                if (next != ranges.end()) {
                    ASSERT_LE(end, next->first) << "overlap";
                }
                if (next != ranges.begin()) {
                    ASSERT_LE(std::prev(next)->second, start) << "overlap";
                }
                ranges.emplace(start, end);
                bytes += Rounded(replica.memory().size);
            }
        }
        const MasterStats stats = service_->GetStats();
        EXPECT_EQ(stats.object_count, objects);
        EXPECT_EQ(stats.used_bytes, bytes);

        AdvanceMs(1000);
        EXPECT_EQ(service_->RemoveAll(), static_cast<int64_t>(objects));
        EXPECT_EQ(service_->GetStats().object_count, 0u);
        EXPECT_EQ(service_->GetStats().used_bytes, 0u);
    }
};

TEST_F(StressTest, ConcurrentPutGetRemoveKeepTheBooks) {
    const UUID owner_a{0x5A, 1};
    const UUID owner_b{0x5B, 2};
    std::map<std::string, Range> segments;
    for (const auto& [owner, name] : {std::pair{owner_a, "a:1"}, std::pair{owner_b, "b:1"}}) {
        const SegmentInfo info = Mount(owner, name, kSegmentSize);
        segments[name] = {info.base, info.size};
    }
    service_->StartBackgroundThread();

    std::atomic<bool> stop{false};
    std::thread ticker([&] {
        while (!stop.load()) {
            AdvanceMs(1);
            std::this_thread::sleep_for(std::chrono::microseconds(50));
        }
    });

    std::mutex failure_mutex;
    std::vector<std::string> failures;
    auto fail = [&](const std::string& what) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (failures.size() < 20) failures.push_back(what);
    };

    constexpr int kThreads = 4;
    constexpr int kOpsPerThread = 40000;
    std::vector<std::thread> workers;
    for (int t = 0; t < kThreads; ++t) {
        workers.emplace_back([&, t] {
            const UUID me{0x100 + static_cast<uint64_t>(t), 7};
            std::mt19937 random(1000 + t);
            for (int op = 0; op < kOpsPerThread; ++op) {
                const int id = static_cast<int>(random() % kKeySpace);
                const std::string key = KeyOf(id);
                switch (random() % 10) {
                    case 0:
                    case 1:
                    case 2: {
                        ReplicateConfig config;
                        config.replica_num = 1 + random() % 2;
                        config.with_soft_pin = random() % 8 == 0;
                        auto started = service_->PutStart(me, key, SizeOf(id), config);
                        if (!started) {
                            const ErrorCode code = started.error();
                            if (code != ErrorCode::OBJECT_ALREADY_EXISTS &&
                                code != ErrorCode::NO_AVAILABLE_HANDLE) {
                                fail("PutStart " + key + ": " + std::to_string(ToInt(code)));
                            }
                            break;
                        }
                        if (started->empty() || started->size() > config.replica_num) {
                            fail("PutStart gave a bad replica count");
                        }
                        Status done = random() % 5 == 0 ? service_->PutRevoke(me, key)
                                                        : service_->PutEnd(me, key);
                        if (!done) fail("PutEnd/Revoke " + key);
                        break;
                    }
                    case 3:
                    case 4:
                    case 5: {
                        auto got = service_->GetReplicaList(key);
                        if (got) {
                            std::string problem = CheckReplicas(id, got->replicas, segments);
                            if (!problem.empty()) fail("Get " + key + ": " + problem);
                        } else if (got.error() != ErrorCode::OBJECT_NOT_FOUND &&
                                   got.error() != ErrorCode::REPLICA_IS_NOT_READY) {
                            fail("Get " + key + ": " + std::to_string(ToInt(got.error())));
                        }
                        break;
                    }
                    case 6:
                        if (!service_->ExistKey(key)) fail("Exist " + key);
                        break;
                    case 7:
                    case 8: {
                        Status removed = service_->Remove(key);
                        if (!removed && removed.error() != ErrorCode::OBJECT_NOT_FOUND &&
                            removed.error() != ErrorCode::OBJECT_HAS_LEASE &&
                            removed.error() != ErrorCode::REPLICA_IS_NOT_READY) {
                            fail("Remove " + key + ": " + std::to_string(ToInt(removed.error())));
                        }
                        break;
                    }
                    default:
                        if (op % 500 == 0) {
                            if (!service_->RemoveByRegex("^stress/" + std::to_string(id % 10)))
                                fail("RemoveByRegex");
                        } else {
                            (void)service_->GetStats();
                        }
                        break;
                }
            }
        });
    }
    for (std::thread& worker : workers) worker.join();
    stop = true;
    ticker.join();
    service_->StopBackgroundThread();

    EXPECT_TRUE(failures.empty()) << failures.front();
    // The run did exercise what it claims to (the key space does not fit:
    // puts had to evict).
    const MasterStats stats = service_->GetStats();
    EXPECT_GT(stats.put_ends, 1000u);
    EXPECT_GT(stats.gets, 1000u);
    EXPECT_GT(stats.evictions, 0u);
    CheckFinalState(segments);
}

TEST_F(StressTest, MountChurnDuringTrafficLosesNothingElse) {
    const UUID stable_owner{0x5A, 1};
    const UUID churn_owner{0x5C, 3};
    std::map<std::string, Range> segments;
    const SegmentInfo stable = Mount(stable_owner, "stable:1", kSegmentSize);
    segments["stable:1"] = {stable.base, stable.size};
    const uint64_t churn_base = 0x7000000000ULL;
    segments["churn:1"] = {churn_base, kSegmentSize};

    std::atomic<bool> stop{false};
    std::atomic<int> mounts{0};
    std::thread churn([&] {
        while (!stop.load()) {
            SegmentInfo info{UUID::Generate(), "churn:1", churn_base, kSegmentSize};
            if (!service_->MountSegment(churn_owner, info)) continue;
            ++mounts;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            if (!service_->UnmountSegment(churn_owner, info.id)) return;
        }
    });

    std::mutex failure_mutex;
    std::vector<std::string> failures;
    auto fail = [&](const std::string& what) {
        std::lock_guard<std::mutex> lock(failure_mutex);
        if (failures.size() < 20) failures.push_back(what);
    };
    std::vector<std::thread> workers;
    for (int t = 0; t < 3; ++t) {
        workers.emplace_back([&, t] {
            const UUID me{0x200 + static_cast<uint64_t>(t), 9};
            std::mt19937 random(77 + t);
            for (int op = 0; op < 30000; ++op) {
                const int id = static_cast<int>(random() % kKeySpace);
                const std::string key = KeyOf(id);
                const int choice = static_cast<int>(random() % 6);
                if (choice <= 1) {
                    ReplicateConfig config;
                    config.replica_num = 2;
                    if (service_->PutStart(me, key, SizeOf(id), config)) {
                        Status ended = service_->PutEnd(me, key);
                        // The churned segment may take the object's only
                        // replica with it between start and end (and another
                        // writer may then have started the key afresh).
                        if (!ended && ended.error() != ErrorCode::OBJECT_NOT_FOUND &&
                            ended.error() != ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS) {
                            fail("PutEnd " + key);
                        }
                    }
                } else if (choice <= 3) {
                    auto got = service_->GetReplicaList(key);
                    if (got) {
                        std::string problem = CheckReplicas(id, got->replicas, segments);
                        if (!problem.empty()) fail("Get " + key + ": " + problem);
                    }
                } else if (choice == 4) {
                    // Copy to whichever segment lacks the replica, then end.
                    auto copy = service_->CopyStart(me, key, {"churn:1", "stable:1"});
                    if (copy) {
                        Status ended = service_->CopyEnd(me, key);
                        if (!ended && ended.error() != ErrorCode::OBJECT_NOT_FOUND &&
                            ended.error() != ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS) {
                            fail("CopyEnd " + key);
                        }
                    }
                } else {
                    (void)service_->Remove(key);
                }
            }
        });
    }
    for (std::thread& worker : workers) worker.join();
    stop = true;
    churn.join();

    EXPECT_TRUE(failures.empty()) << failures.front();
    EXPECT_GT(mounts.load(), 0);
    EXPECT_EQ(service_->GetAllSegments(), std::vector<std::string>{"stable:1"});
    CheckFinalState(segments);
    EXPECT_EQ(service_->GetStats().capacity_bytes, kSegmentSize);
}

}  // namespace
}  // namespace mooncake::testing
