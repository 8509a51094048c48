// The segment pool's reader/writer lock lets a waiting writer in first.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "master/writer_preferring_mutex.h"

namespace mooncake {
namespace {

TEST(WriterPreferringMutexTest, ReadersShareAndWritersExclude) {
    WriterPreferringMutex mutex;
    {
        std::shared_lock<WriterPreferringMutex> first(mutex);
        EXPECT_TRUE(mutex.try_lock_shared());
        mutex.unlock_shared();
        EXPECT_FALSE(mutex.try_lock());
    }
    {
        std::unique_lock<WriterPreferringMutex> writer(mutex);
        EXPECT_FALSE(mutex.try_lock_shared());
    }
    EXPECT_TRUE(mutex.try_lock());
    mutex.unlock();
}

TEST(WriterPreferringMutexTest, AWaitingWriterHoldsOffNewReaders) {
    WriterPreferringMutex mutex;
    mutex.lock_shared();  // a reader that is in
    std::atomic<bool> writer_done{false};
    std::thread writer([&] {
        std::unique_lock<WriterPreferringMutex> lock(mutex);
        writer_done = true;
    });
    // Once the writer queues, new readers are refused (a reader-preferring
    // lock would keep admitting them and this loop would run out of time).
    bool refused = false;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!refused && std::chrono::steady_clock::now() < deadline) {
        if (mutex.try_lock_shared()) {
            mutex.unlock_shared();
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        } else {
            refused = true;
        }
    }
    EXPECT_TRUE(refused);
    EXPECT_FALSE(writer_done.load());
    mutex.unlock_shared();
    writer.join();
    EXPECT_TRUE(writer_done.load());
}

}  // namespace
}  // namespace mooncake
