// The HA change log on the wire (proto/ha.proto) and ImageSource driven
// in-process: a standby that starts from an image, follows by records and
// ends with exactly the leader's state, and space that is reused only once
// the standby holds the change that freed it.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "master/change_log.h"
#include "master/ha_replication.h"
#include "master/master_service.h"
#include "master/snapshot_log.h"
#include "master/state_image.h"
#include "rpc/framed_rpc_client.h"

namespace mooncake {
namespace {

using std::chrono::milliseconds;
constexpr uint64_t kKiB = 1024;

TEST(HaLogRecordTest, KeyAndMembershipRecordsSurviveTheWire) {
    ChangeRecord key;
    key.key = "k";
    key.complete = MasterStateImage::Object{"k", 4096, true, true, 777, {{UUID{1, 2}, 8192}}, 99};
    key.reserved = MasterStateImage::Object{"k", 4096, false, false, 0, {{UUID{3, 4}, 0}}};
    ha::rpc::LogRecord proto;
    RecordToProto(key, &proto);
    std::string bytes;
    ASSERT_TRUE(proto.SerializeToString(&bytes));
    ha::rpc::LogRecord parsed;
    ASSERT_TRUE(parsed.ParseFromString(bytes));
    auto back = RecordFromProto(parsed);
    ASSERT_TRUE(back.has_value());
    EXPECT_FALSE(back->membership);
    ASSERT_TRUE(back->complete && back->reserved);
    EXPECT_EQ(back->complete->key, "k");
    EXPECT_TRUE(back->complete->hard_pin);
    EXPECT_TRUE(back->complete->soft_pin);
    EXPECT_EQ(back->complete->soft_pin_ttl_ms, 777u);
    EXPECT_EQ(back->complete->value_id, 99u);
    EXPECT_EQ(back->complete->replicas[0].segment, (UUID{1, 2}));
    EXPECT_EQ(back->reserved->replicas[0].address, 0u);

    ChangeRecord gone;
    gone.key = "k";
    proto.Clear();
    RecordToProto(gone, &proto);
    back = RecordFromProto(proto);
    ASSERT_TRUE(back.has_value());
    EXPECT_FALSE(back->complete || back->reserved);

    ChangeRecord membership;
    membership.membership = true;
    membership.segments.push_back({UUID{5, 6}, SegmentInfo{UUID{7, 8}, "h:1", 1 << 20, 1 << 20}});
    proto.Clear();
    RecordToProto(membership, &proto);
    back = RecordFromProto(proto);
    ASSERT_TRUE(back.has_value());
    ASSERT_TRUE(back->membership);
    EXPECT_EQ(back->segments.at(0).info.name, "h:1");

    // Records of no known kind, or of an empty key, change nothing.
    EXPECT_EQ(RecordFromProto(ha::rpc::LogRecord{}).error(), ErrorCode::INVALID_PARAMS);
    proto.Clear();
    proto.mutable_key();
    EXPECT_EQ(RecordFromProto(proto).error(), ErrorCode::INVALID_PARAMS);
}

class HaLogSourceTest : public ::testing::Test {
   protected:
    void SetUp() override {
        leader_ = std::make_unique<MasterService>(MasterConfig{});
        source_ = std::make_unique<ImageSource>(
            *leader_, [] { return true; }, [] { return int64_t{7}; },
            [](const std::string&, bool) { return true; });
        client_ = UUID::Generate();
        segment_ = SegmentInfo{UUID::Generate(), "h:1", 1ull << 32, 256 * kKiB};
        ASSERT_TRUE(leader_->MountSegment(client_, segment_).has_value());
        source_->Changed(false);
    }
    bool Put(const std::string& key, uint64_t size) {
        if (!leader_->PutStart(client_, key, size, {}).has_value()) return false;
        source_->Changed(false);
        const bool ok = leader_->PutEnd(client_, key).has_value();
        source_->Changed(false);  // durable waits: the tests below
        return ok;
    }
    // One fetch of the standby "s", applied to `shadow_`.
    ha::rpc::StateImage Follow() {
        ha::rpc::StateImage reply = source_->Fetch("s", holds_ ? 7 : 0, version_, milliseconds(0));
        EXPECT_EQ(reply.epoch(), 7);
        if (reply.delta()) {
            EXPECT_TRUE(holds_);
            for (const auto& proto : reply.records()) shadow_.Apply(*RecordFromProto(proto));
        } else if (!reply.unchanged()) {
            shadow_.Reset(ImageFromProto(reply));
        }
        holds_ = true;
        version_ = reply.version();
        return reply;
    }
    size_t ObjectsInCopy() const { return shadow_.ToImage().objects.size(); }

    std::unique_ptr<MasterService> leader_;
    std::unique_ptr<ImageSource> source_;
    UUID client_;
    SegmentInfo segment_;
    ShadowState shadow_;
    bool holds_ = false;
    uint64_t version_ = 0;
};

TEST_F(HaLogSourceTest, StandbyCatchesUpFromAnImageThenFollowsByRecords) {
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(Put("a" + std::to_string(i), 4 * kKiB));
    ha::rpc::StateImage first = Follow();
    EXPECT_FALSE(first.delta());
    EXPECT_EQ(first.objects_size(), 10);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(leader_->Remove("a" + std::to_string(i), false));
    source_->Changed(false);
    ASSERT_TRUE(Put("b", 4 * kKiB));
    ha::rpc::StateImage next = Follow();
    EXPECT_TRUE(next.delta());
    EXPECT_EQ(next.objects_size(), 0);
    EXPECT_GT(next.records_size(), 0);
    EXPECT_EQ(ObjectsInCopy(), 6u);
    EXPECT_TRUE(Follow().unchanged());
    const MasterStateImage copy = shadow_.ToImage();
    const MasterStateImage truth = leader_->ExportState();
    EXPECT_EQ(copy.objects.size(), truth.objects.size());
    EXPECT_EQ(copy.segments.size(), 1u);
    // A standby of another epoch starts over from an image.
    ha::rpc::StateImage other = source_->Fetch("s", 6, version_, milliseconds(0));
    EXPECT_FALSE(other.delta());
    EXPECT_EQ(other.objects_size(), 6);
}

TEST(HaStreamTest, StandbyFetchesOverTheStreamUntilTheLeaderStopsLeading) {
    MasterService leader{MasterConfig{}};
    std::atomic<bool> serving{true};
    ImageSource source(
        leader, [&] { return serving.load(); }, [] { return int64_t{3}; },
        [](const std::string&, bool) { return true; });
    ASSERT_TRUE(source.StartStream("127.0.0.1", net::kDefaultRpcSpin).has_value());
    const UUID client = UUID::Generate();
    ASSERT_TRUE(
        leader.MountSegment(client, SegmentInfo{UUID::Generate(), "h:1", 1ull << 32, 64 * kKiB})
            .has_value());
    ASSERT_TRUE(leader.PutStart(client, "k", 4 * kKiB, {}).has_value());
    ASSERT_TRUE(leader.PutEnd(client, "k").has_value());

    // The first reply (gRPC's, here in-process) names the stream's port.
    ha::rpc::FetchStateRequest request;
    request.set_standby_address("s");
    ha::rpc::StateImage first;
    ASSERT_TRUE(source.ServeFetch(request, &first));
    ASSERT_NE(first.stream_port(), 0u);
    EXPECT_EQ(first.objects_size(), 1);

    auto addresses = ResolveFramedRpcHost("127.0.0.1");
    ASSERT_TRUE(addresses.has_value());
    const auto deadline = [] { return std::chrono::steady_clock::now() + std::chrono::seconds(5); };
    auto stream = FramedRpcConnection::Open(*addresses, static_cast<uint16_t>(first.stream_port()),
                                            deadline(), kReplicationProtocol);
    ASSERT_TRUE(stream.has_value());
    // Another protocol's hello is refused: the stream speaks only its own.
    EXPECT_FALSE(FramedRpcConnection::Open(*addresses, static_cast<uint16_t>(first.stream_port()),
                                           deadline(), framed_rpc::kMasterProtocol)
                     .has_value());

    ASSERT_TRUE(leader.Remove("k", false).has_value());
    request.set_epoch(3);
    request.set_have_version(first.version());
    ha::rpc::StateImage next;
    ASSERT_TRUE((*stream)->Exchange(request, &next, deadline()).has_value());
    EXPECT_TRUE(next.delta());
    ASSERT_EQ(next.records_size(), 1);
    EXPECT_EQ(next.records(0).key().key(), "k");
    EXPECT_EQ(next.stream_port(), first.stream_port());

    // A master that stops leading closes the stream: the standby goes back
    // to gRPC, which says why.
    serving.store(false);
    request.set_have_version(next.version());
    ha::rpc::StateImage refused;
    EXPECT_FALSE((*stream)->Exchange(request, &refused, deadline()).has_value());
    source.Stop();
}

TEST_F(HaLogSourceTest, SpaceIsReusedOnlyAfterTheStandbyHoldsTheRemove) {
    ASSERT_TRUE(Put("big", 256 * kKiB));
    Follow();  // image: the standby is counted from here
    Follow();  // acknowledges it
    ASSERT_TRUE(leader_->Remove("big", false).has_value());
    source_->Changed(false);
    leader_->FlushChanges();
    // The standby has not fetched the remove: the space stays held.
    EXPECT_FALSE(leader_->PutStart(client_, "next", 256 * kKiB, {}).has_value());
    Follow();  // gets the remove
    EXPECT_EQ(ObjectsInCopy(), 0u);
    EXPECT_FALSE(leader_->PutStart(client_, "next", 256 * kKiB, {}).has_value());
    Follow();  // acknowledges it
    EXPECT_TRUE(leader_->PutStart(client_, "next", 256 * kKiB, {}).has_value());
}

TEST_F(HaLogSourceTest, DurableChangeIsAnsweredOnlyOnceTheStandbyHoldsIt) {
    ASSERT_TRUE(Put("first", 4 * kKiB));
    Follow();  // image
    Follow();  // acknowledged: the standby counts from here
    ASSERT_TRUE(leader_->PutStart(client_, "second", 4 * kKiB, {}).has_value());
    source_->Changed(false);  // a start does not wait
    ASSERT_TRUE(leader_->PutEnd(client_, "second").has_value());
    std::atomic<bool> answered{false};
    std::thread change([&] {
        source_->Changed(true);
        answered = true;
    });
    std::this_thread::sleep_for(milliseconds(50));
    EXPECT_FALSE(answered.load()) << "answered before the standby fetched the change";
    Follow();  // gets the records
    EXPECT_EQ(ObjectsInCopy(), 2u);
    std::this_thread::sleep_for(milliseconds(50));
    EXPECT_FALSE(answered.load()) << "answered before the standby acknowledged the change";
    Follow();  // acknowledges them
    change.join();
    EXPECT_TRUE(answered.load());
}

TEST_F(HaLogSourceTest, SilentStandbyIsMarkedOutOfSyncThenNotWaitedFor) {
    std::vector<std::pair<std::string, bool>> marks;
    source_ = std::make_unique<ImageSource>(
        *leader_, [] { return true; }, [] { return int64_t{7}; },
        [&](const std::string& name, bool in_sync) {
            marks.emplace_back(name, in_sync);
            return true;
        },
        milliseconds(100));
    ASSERT_TRUE(Put("first", 4 * kKiB));
    Follow();
    Follow();
    ASSERT_TRUE(Put("second", 4 * kKiB));
    source_->Changed(true);  // waits ack_timeout, then drops "s"
    ASSERT_EQ(marks.size(), 1u);
    EXPECT_EQ(marks[0], std::make_pair(std::string("s"), false));
    const auto started = std::chrono::steady_clock::now();
    ASSERT_TRUE(Put("third", 4 * kKiB));
    source_->Changed(true);  // "s" is no longer waited for
    EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(100));
}

TEST_F(HaLogSourceTest, SnapshotLogReplaysWholeFramesAndStopsAtATornOne) {
    const std::string directory =
        ::testing::TempDir() + "/snapshot-log-" + UUID::Generate().ToString();
    ASSERT_TRUE(Put("a", 4 * kKiB));
    ha::rpc::StateImage image = Follow();
    auto path = WriteSnapshot(directory, image, 2);
    ASSERT_TRUE(path.has_value()) << path.error();
    auto log = SnapshotLog::Create(*path);
    ASSERT_TRUE(log.has_value()) << log.error();
    ASSERT_TRUE(Put("b", 4 * kKiB));
    ASSERT_TRUE(log->Append(Follow()).has_value());
    ASSERT_TRUE(Put("c", 4 * kKiB));
    ASSERT_TRUE(log->Append(Follow()).has_value());
    ASSERT_TRUE(log->Sync().has_value());
    auto restored = ReadLatestSnapshot(directory);
    ASSERT_TRUE(restored.has_value());
    EXPECT_EQ(restored->objects_size(), 3);
    EXPECT_EQ(restored->version(), version_);
    // A torn last frame (a crash mid-append) is ignored, the frames before
    // it are kept.
    const std::string log_path = SnapshotLog::PathFor(*path);
    std::filesystem::resize_file(log_path, std::filesystem::file_size(log_path) - 3);
    restored = ReadLatestSnapshot(directory);
    ASSERT_TRUE(restored.has_value());
    EXPECT_EQ(restored->objects_size(), 2);
    std::filesystem::remove_all(directory);
}

}  // namespace
}  // namespace mooncake
