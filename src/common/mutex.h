// A mutex, a reader/writer mutex, their scoped locks and a condition
// variable that clang's thread-safety analysis understands (see
// common/thread_annotations.h). They cost what std::mutex,
// std::shared_mutex, std::lock_guard, std::shared_lock and
// std::condition_variable cost: each is a thin wrapper around one of those.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>

#include "common/thread_annotations.h"

namespace mooncake {

class MC_CAPABILITY("mutex") Mutex {
   public:
    Mutex() = default;
    Mutex(const Mutex&) = delete;
    Mutex& operator=(const Mutex&) = delete;

    void lock() MC_ACQUIRE() { mutex_.lock(); }
    void unlock() MC_RELEASE() { mutex_.unlock(); }
    bool try_lock() MC_TRY_ACQUIRE(true) { return mutex_.try_lock(); }

    // Tells the analysis the mutex is held where it cannot see that (locks
    // taken in a loop). Checks nothing at run time.
    void AssertHeld() const MC_ASSERT_CAPABILITY(this) {}

   private:
    friend class CondVar;
    std::mutex mutex_;
};

// Holds `mutex` from construction to destruction; Unlock()/Lock() let it go
// and take it again in between.
class MC_SCOPED_CAPABILITY MutexLock {
   public:
    explicit MutexLock(Mutex& mutex) MC_ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
    ~MutexLock() MC_RELEASE() {
        if (locked_) mutex_.unlock();
    }
    MutexLock(const MutexLock&) = delete;
    MutexLock& operator=(const MutexLock&) = delete;

    void Unlock() MC_RELEASE() {
        mutex_.unlock();
        locked_ = false;
    }
    void Lock() MC_ACQUIRE() {
        mutex_.lock();
        locked_ = true;
    }

   private:
    friend class CondVar;
    Mutex& mutex_;
    bool locked_ = true;
};

class MC_CAPABILITY("mutex") SharedMutex {
   public:
    SharedMutex() = default;
    SharedMutex(const SharedMutex&) = delete;
    SharedMutex& operator=(const SharedMutex&) = delete;

    void lock() MC_ACQUIRE() { mutex_.lock(); }
    void unlock() MC_RELEASE() { mutex_.unlock(); }
    void lock_shared() MC_ACQUIRE_SHARED() { mutex_.lock_shared(); }
    void unlock_shared() MC_RELEASE_SHARED() { mutex_.unlock_shared(); }

   private:
    std::shared_mutex mutex_;
};

// Holds a reader/writer mutex (SharedMutex, WriterPreferringMutex)
// exclusively for its scope.
template <typename SharedMutexType>
class MC_SCOPED_CAPABILITY WriterLock {
   public:
    explicit WriterLock(SharedMutexType& mutex) MC_ACQUIRE(mutex) : mutex_(mutex) { mutex_.lock(); }
    ~WriterLock() MC_RELEASE() { mutex_.unlock(); }
    WriterLock(const WriterLock&) = delete;
    WriterLock& operator=(const WriterLock&) = delete;

   private:
    SharedMutexType& mutex_;
};

// Holds a reader/writer mutex shared for its scope.
template <typename SharedMutexType>
class MC_SCOPED_CAPABILITY ReaderLock {
   public:
    explicit ReaderLock(SharedMutexType& mutex) MC_ACQUIRE_SHARED(mutex) : mutex_(mutex) {
        mutex_.lock_shared();
    }
    ~ReaderLock() MC_RELEASE() { mutex_.unlock_shared(); }
    ReaderLock(const ReaderLock&) = delete;
    ReaderLock& operator=(const ReaderLock&) = delete;

   private:
    SharedMutexType& mutex_;
};

// std::condition_variable over a MutexLock. The waits take no predicate:
// callers loop on their condition themselves, so the analysis sees the
// guarded members read with the lock held.
class CondVar {
   public:
    void Wait(MutexLock& lock) {
        std::unique_lock<std::mutex> native(lock.mutex_.mutex_, std::adopt_lock);
        cv_.wait(native);
        native.release();
    }
    // False when `timeout` passed without a notification (or a spurious
    // wake-up after it).
    template <typename Rep, typename Period>
    bool WaitFor(MutexLock& lock, std::chrono::duration<Rep, Period> timeout) {
        std::unique_lock<std::mutex> native(lock.mutex_.mutex_, std::adopt_lock);
        const bool notified = cv_.wait_for(native, timeout) == std::cv_status::no_timeout;
        native.release();
        return notified;
    }
    template <typename Clock, typename Duration>
    bool WaitUntil(MutexLock& lock, std::chrono::time_point<Clock, Duration> deadline) {
        std::unique_lock<std::mutex> native(lock.mutex_.mutex_, std::adopt_lock);
        const bool notified = cv_.wait_until(native, deadline) == std::cv_status::no_timeout;
        native.release();
        return notified;
    }
    void NotifyOne() { cv_.notify_one(); }
    void NotifyAll() { cv_.notify_all(); }

   private:
    std::condition_variable cv_;
};

}  // namespace mooncake
