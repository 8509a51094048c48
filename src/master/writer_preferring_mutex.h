// A reader/writer lock that lets a waiting writer in before new readers.
//
// std::shared_mutex on glibc prefers readers: under a steady stream of
// overlapping readers (puts and gets holding the segment pool shared) a
// writer (mount, unmount, client expiry) could wait forever. This wraps
// pthread_rwlock with glibc's writer preference. That mode deadlocks if a
// thread takes the lock shared twice while a writer waits, so it must never
// be taken recursively (the segment pool's lock order guarantees that).
//
// Meets the SharedMutex requirements: use with std::shared_lock and
// std::unique_lock.
#pragma once

#include <pthread.h>

namespace mooncake {

class WriterPreferringMutex {
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

    void lock() { pthread_rwlock_wrlock(&lock_); }
    bool try_lock() { return pthread_rwlock_trywrlock(&lock_) == 0; }
    void unlock() { pthread_rwlock_unlock(&lock_); }

    void lock_shared() { pthread_rwlock_rdlock(&lock_); }
    bool try_lock_shared() { return pthread_rwlock_tryrdlock(&lock_) == 0; }
    void unlock_shared() { pthread_rwlock_unlock(&lock_); }

   private:
    pthread_rwlock_t lock_;
};

}  // namespace mooncake
