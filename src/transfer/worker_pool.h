// A fixed set of threads running queued jobs in order of submission. The TCP
// transport runs its parallel streams here.
#pragma once

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "common/mutex.h"

namespace mooncake {

class WorkerPool {
   public:
    explicit WorkerPool(size_t threads);
    // Runs the jobs still queued, then joins.
    ~WorkerPool();
    WorkerPool(const WorkerPool&) = delete;
    WorkerPool& operator=(const WorkerPool&) = delete;

    void Post(std::function<void()> job);
    size_t size() const { return threads_.size(); }

   private:
    void Run();

    Mutex mutex_;
    CondVar wake_;
    std::deque<std::function<void()>> jobs_ MC_GUARDED_BY(mutex_);
    bool stopping_ MC_GUARDED_BY(mutex_) = false;
    std::vector<std::thread> threads_;
};

}  // namespace mooncake
