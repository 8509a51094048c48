// Notifications between engines, FirstBufferAddress and rpc_port: what the
// Python TransferEngine builds on.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "mooncake/transfer_engine.h"

namespace mooncake {
namespace {

std::unique_ptr<TransferEngine> StartEngine() {
    auto engine = TransferEngine::Create(TransferEngineConfig{.local_hostname = "127.0.0.1"});
    EXPECT_TRUE(engine.has_value());
    return engine ? std::move(*engine) : nullptr;
}

TEST(TransferNotifyTest, NotificationsArriveInOrderOnce) {
    auto sender = StartEngine();
    auto receiver = StartEngine();
    ASSERT_TRUE(sender && receiver);
    EXPECT_EQ(receiver->segment_name(), "127.0.0.1:" + std::to_string(receiver->rpc_port()));
    auto peer = sender->OpenSegment(receiver->segment_name());
    ASSERT_TRUE(peer.has_value());
    ASSERT_TRUE(sender->SendNotify(*peer, {"first", "1"}).has_value());
    ASSERT_TRUE(sender->SendNotify(*peer, {"second", std::string(1000, 'x')}).has_value());
    auto taken = receiver->TakeNotifies();
    ASSERT_EQ(taken.size(), 2u);
    EXPECT_EQ(taken[0].name, "first");
    EXPECT_EQ(taken[0].message, "1");
    EXPECT_EQ(taken[1].message, std::string(1000, 'x'));
    EXPECT_TRUE(receiver->TakeNotifies().empty());
    EXPECT_TRUE(sender->TakeNotifies().empty());
    // Too large, unknown handle, gone peer.
    EXPECT_EQ(sender->SendNotify(*peer, {"big", std::string(1 << 20, 'y')}).error(),
              ErrorCode::INVALID_PARAMS);
    EXPECT_EQ(sender->SendNotify(*peer + 100, {"a", "b"}).error(), ErrorCode::INVALID_PARAMS);
    receiver.reset();
    EXPECT_EQ(sender->SendNotify(*peer, {"a", "b"}).error(), ErrorCode::TRANSFER_FAIL);
}

TEST(TransferNotifyTest, FirstBufferAddressFollowsRegistrations) {
    auto owner = StartEngine();
    auto viewer = StartEngine();
    ASSERT_TRUE(owner && viewer);
    auto peer = viewer->OpenSegment(owner->segment_name());
    ASSERT_TRUE(peer.has_value());
    EXPECT_EQ(viewer->FirstBufferAddress(*peer).error(), ErrorCode::SEGMENT_NOT_FOUND);
    std::vector<char> memory(1 << 16);
    ASSERT_TRUE(owner->RegisterLocalMemory(memory.data(), memory.size()).has_value());
    auto first = viewer->FirstBufferAddress(*peer);
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(*first, reinterpret_cast<uint64_t>(memory.data()));
    EXPECT_EQ(viewer->FirstBufferAddress(*peer + 100).error(), ErrorCode::INVALID_PARAMS);
    ASSERT_TRUE(owner->UnregisterLocalMemory(memory.data()).has_value());
}

}  // namespace
}  // namespace mooncake
