// A reader/writer lock that lets a waiting writer in before new readers.
//
// std::shared_mutex on glibc prefers readers: under a steady stream of
// overlapping readers (puts and gets holding the segment pool shared) a
// writer (mount, unmount, client expiry) could wait forever. This wraps
// pthread_rwlock with glibc's writer preference. That mode deadlocks if a
// thread takes the lock shared twice while a writer waits, so it must never
// be taken recursively (the segment pool's lock order guarantees that).
//
// Meets the SharedMutex requirements; WriterLock and ReaderLock
// (common/mutex.h) hold it in a way clang's thread-safety analysis follows.
#pragma once

#include <pthread.h>

#include "common/mutex.h"
#include "common/thread_annotations.h"

namespace mooncake {

class MC_CAPABILITY("mutex") WriterPreferringMutex {
   public:
    WriterPreferringMutex() {
        pthread_rwlockattr_t attributes;
        pthread_rwlockattr_init(&attributes);
        pthread_rwlockattr_setkind_np(&attributes, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&lock_, &attributes);
        pthread_rwlockattr_destroy(&attributes);
    }
    ~WriterPreferringMutex() { pthread_rwlock_destroy(&lock_); }
    WriterPreferringMutex(const WriterPreferringMutex&) = delete;
    WriterPreferringMutex& operator=(const WriterPreferringMutex&) = delete;

    void lock() MC_ACQUIRE() { pthread_rwlock_wrlock(&lock_); }
    bool try_lock() MC_TRY_ACQUIRE(true) { return pthread_rwlock_trywrlock(&lock_) == 0; }
    void unlock() MC_RELEASE() { pthread_rwlock_unlock(&lock_); }

    void lock_shared() MC_ACQUIRE_SHARED() { pthread_rwlock_rdlock(&lock_); }
    bool try_lock_shared() MC_TRY_ACQUIRE_SHARED(true) {
        return pthread_rwlock_tryrdlock(&lock_) == 0;
    }
    void unlock_shared() MC_RELEASE_SHARED() { pthread_rwlock_unlock(&lock_); }

    // Tells the analysis the lock is held shared where it cannot see that
    // (an object that holds it for its lifetime, like SegmentPool::ReadView).
    void AssertReaderHeld() const MC_ASSERT_SHARED_CAPABILITY(this) {}

   private:
    pthread_rwlock_t lock_;
};

}  // namespace mooncake
