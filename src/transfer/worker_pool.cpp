#include "transfer/worker_pool.h"

namespace mooncake {

WorkerPool::WorkerPool(size_t threads) {
    threads_.reserve(threads);
    for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() {
    {
        MutexLock lock(mutex_);
        stopping_ = true;
    }
    wake_.NotifyAll();
    for (std::thread& thread : threads_) thread.join();
}

void WorkerPool::Post(std::function<void()> job) {
    {
        MutexLock lock(mutex_);
        jobs_.push_back(std::move(job));
    }
    wake_.NotifyOne();
}

void WorkerPool::Run() {
    for (;;) {
        std::function<void()> job;
        {
            MutexLock lock(mutex_);
            while (!stopping_ && jobs_.empty()) wake_.Wait(lock);
            if (jobs_.empty()) return;  // stopping, nothing left
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job();
    }
}

}  // namespace mooncake
