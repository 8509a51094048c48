// BriefSpin (net/brief_spin.h): when it spins, when it stops, and that it
// reports a socket that became readable. Budgets are large (20 ms) so that
// "spun" (took the whole budget) and "did not spin" (returned at once) are
// far apart on a loaded machine.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "common/unique_fd.h"
#include "net/brief_spin.h"

namespace mooncake::net {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr std::chrono::microseconds kBudget{20'000};

struct SocketPair {
    SocketPair() {
        int fds[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
        reader.Reset(fds[0]);
        writer.Reset(fds[1]);
    }
    void Send() { ASSERT_EQ(::send(writer.get(), "x", 1, 0), 1); }
    void Drain() {
        char byte;
        ASSERT_EQ(::recv(reader.get(), &byte, 1, 0), 1);
    }
    UniqueFd reader;
    UniqueFd writer;
};

// How long one Spin on an empty socket takes, and what it returned.
std::pair<milliseconds, bool> TimedSpin(BriefSpin& spin, int fd) {
    const auto started = steady_clock::now();
    const bool readable = spin.Spin(fd);
    return {std::chrono::duration_cast<milliseconds>(steady_clock::now() - started), readable};
}

// One wait that ends only after the budget: spun to the end, then "arrives".
void LongWait(BriefSpin& spin, SocketPair& pair) {
    (void)spin.Spin(pair.reader.get());
    std::this_thread::sleep_for(milliseconds(1));
    spin.Arrived();
}

TEST(BriefSpinTest, ReportsBytesThatArriveWhileSpinning) {
    SocketPair pair;
    BriefSpin spin(kBudget * 50);  // one second: the sender is sure to be in it
    std::thread sender([&] {
        std::this_thread::sleep_for(milliseconds(5));
        pair.Send();
    });
    const auto [took, readable] = TimedSpin(spin, pair.reader.get());
    sender.join();
    spin.Arrived();
    EXPECT_TRUE(readable);
    EXPECT_LT(took, milliseconds(900));
}

TEST(BriefSpinTest, AZeroBudgetNeverSpins) {
    SocketPair pair;
    BriefSpin spin(std::chrono::microseconds(0));
    pair.Send();
    EXPECT_FALSE(spin.Spin(pair.reader.get()));  // does not even look
    spin.Arrived();
}

TEST(BriefSpinTest, FirstWaitSpinsTheWholeBudget) {
    SocketPair pair;
    BriefSpin spin(kBudget);
    const auto [took, readable] = TimedSpin(spin, pair.reader.get());
    EXPECT_FALSE(readable);
    EXPECT_GE(took, milliseconds(19));
}

TEST(BriefSpinTest, StopsAfterWaitsThatRanOutAndProbesNowAndThen) {
    SocketPair pair;
    BriefSpin spin(kBudget);
    // Each run-out moves the share of in-time waits 1/8 toward 0: the third
    // brings it under three in four.
    for (int i = 0; i < 3; ++i) LongWait(spin, pair);
    int spun = 0;
    for (int i = 0; i < 32; ++i) {
        const auto [took, readable] = TimedSpin(spin, pair.reader.get());
        EXPECT_FALSE(readable);
        if (took >= milliseconds(19)) ++spun;
        // Long again. (A short wait would count as in time even unspun.)
        std::this_thread::sleep_for(kBudget + milliseconds(1));
        spin.Arrived();
    }
    // One probe in sixteen waits.
    EXPECT_EQ(spun, 2);
}

TEST(BriefSpinTest, WaitsInTimeKeepItSpinning) {
    SocketPair pair;
    BriefSpin spin(kBudget);
    for (int i = 0; i < 20; ++i) {
        std::thread sender([&] {
            std::this_thread::sleep_for(milliseconds(2));
            pair.Send();
        });
        const auto [took, readable] = TimedSpin(spin, pair.reader.get());
        sender.join();
        if (!readable) {
            // A loaded machine delayed the sender past the budget; wait for
            // it the way a caller would.
            pollfd entry{pair.reader.get(), POLLIN, 0};
            ASSERT_EQ(::poll(&entry, 1, 5000), 1);
        }
        spin.Arrived();
        pair.Drain();
        EXPECT_TRUE(readable) << "wait " << i << " took " << took.count() << " ms";
    }
}

TEST(BriefSpinTest, ContextsArePredictedApart) {
    SocketPair pair;
    BriefSpin spin(kBudget);
    spin.Expect(1);
    for (int i = 0; i < 3; ++i) LongWait(spin, pair);
    EXPECT_LT(TimedSpin(spin, pair.reader.get()).first, milliseconds(10));
    spin.Arrived();
    // Context 2 has seen nothing yet, so it spins.
    spin.Expect(2);
    EXPECT_GE(TimedSpin(spin, pair.reader.get()).first, milliseconds(19));
    spin.Arrived();
}

}  // namespace
}  // namespace mooncake::net
