// Keeps a client alive at the master: pings on its own thread, mounts the
// client's segments again when the master answers NEED_REMOUNT (it
// restarted, or expired the client), and hands tasks from the ping replies
// to a callback. Pure C++: never needs the caller's locks or the Python GIL.
#pragma once

#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "client/master_client.h"
#include "common/mutex.h"
#include "mooncake/types.h"

namespace mooncake {

class Heartbeat {
   public:
    using SegmentsFn = std::function<std::vector<SegmentInfo>()>;
    using TasksFn = std::function<void(std::vector<TaskAssignment>)>;

    // `segments` lists what the client holds now (called on the heartbeat
    // thread when a re-mount is due, after which the master knows nothing
    // else of the client: it may also restore what the master's restart
    // lost); `on_tasks` receives assigned tasks.
    Heartbeat(MasterClient* master, UUID client_id, std::chrono::milliseconds interval,
              SegmentsFn segments, TasksFn on_tasks);
    ~Heartbeat();
    Heartbeat(const Heartbeat&) = delete;
    Heartbeat& operator=(const Heartbeat&) = delete;

    // Runs `work` on the heartbeat thread after every answered ping (set
    // before Start).
    void SetAfterPing(std::function<void()> work) { after_ping_ = std::move(work); }

    void Start();
    // Returns once the thread has stopped (after the ping in flight, which
    // is bounded by the master client's deadline). Idempotent.
    void Stop();

    // The interval for a master whose client TTL is `client_ttl_sec`: about
    // a second, and always several pings per TTL.
    static std::chrono::milliseconds IntervalFor(int64_t client_ttl_sec);

   private:
    void Loop();
    void Beat();

    MasterClient* const master_;
    const UUID client_id_;
    const std::chrono::milliseconds interval_;
    const SegmentsFn segments_;
    const TasksFn on_tasks_;
    std::function<void()> after_ping_;

    Mutex mutex_;
    CondVar wake_;
    bool stopping_ MC_GUARDED_BY(mutex_) = false;
    bool master_reachable_ = true;  // heartbeat thread only
    std::thread thread_;
};

}  // namespace mooncake
