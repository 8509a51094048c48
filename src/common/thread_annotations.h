// Clang's thread-safety annotations (-Wthread-safety), empty for other
// compilers. They let the compiler check that a member marked
// MC_GUARDED_BY(mutex_) is only touched with mutex_ held and that a
// function marked MC_REQUIRES(mutex_) is only called with it held.
//
// std::mutex carries no annotations in libstdc++, so guarded members sit
// behind common/mutex.h's Mutex and MutexLock instead.
// scripts/check_thread_safety.sh runs the analysis over src/.
#pragma once

#if defined(__clang__)
#define MC_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define MC_THREAD_ANNOTATION(x)
#endif

#define MC_CAPABILITY(name) MC_THREAD_ANNOTATION(capability(name))
#define MC_SCOPED_CAPABILITY MC_THREAD_ANNOTATION(scoped_lockable)
#define MC_GUARDED_BY(mutex) MC_THREAD_ANNOTATION(guarded_by(mutex))
#define MC_PT_GUARDED_BY(mutex) MC_THREAD_ANNOTATION(pt_guarded_by(mutex))
#define MC_ACQUIRED_BEFORE(...) MC_THREAD_ANNOTATION(acquired_before(__VA_ARGS__))
#define MC_ACQUIRED_AFTER(...) MC_THREAD_ANNOTATION(acquired_after(__VA_ARGS__))
#define MC_REQUIRES(...) MC_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define MC_REQUIRES_SHARED(...) MC_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define MC_ACQUIRE(...) MC_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define MC_ACQUIRE_SHARED(...) MC_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define MC_RELEASE(...) MC_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define MC_RELEASE_SHARED(...) MC_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define MC_RELEASE_GENERIC(...) MC_THREAD_ANNOTATION(release_generic_capability(__VA_ARGS__))
#define MC_TRY_ACQUIRE(...) MC_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define MC_TRY_ACQUIRE_SHARED(...) MC_THREAD_ANNOTATION(try_acquire_shared_capability(__VA_ARGS__))
#define MC_EXCLUDES(...) MC_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define MC_ASSERT_CAPABILITY(mutex) MC_THREAD_ANNOTATION(assert_capability(mutex))
#define MC_ASSERT_SHARED_CAPABILITY(mutex) MC_THREAD_ANNOTATION(assert_shared_capability(mutex))
#define MC_RETURN_CAPABILITY(mutex) MC_THREAD_ANNOTATION(lock_returned(mutex))
// For the few functions whose locking the analysis cannot follow (a
// variable number of locks taken in a loop); say why beside each use.
#define MC_NO_THREAD_SAFETY_ANALYSIS MC_THREAD_ANNOTATION(no_thread_safety_analysis)
