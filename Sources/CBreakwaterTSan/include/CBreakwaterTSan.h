#ifndef BREAKWATER_TSAN_H
#define BREAKWATER_TSAN_H

// ThreadSanitizer's happens-before annotations, for locks TSan cannot see (Synchronization.Mutex on
// Linux locks with a futex inside a module that is not instrumented).
//
// The runtime's entry points are declared weak: they resolve only when the TSan runtime is linked
// (`-sanitize=thread`) and are null otherwise, so an ordinary build pays one predictable branch per call
// and needs no build flag to switch the annotations off.

void __tsan_acquire(void *addr) __attribute__((weak));
void __tsan_release(void *addr) __attribute__((weak));

/// Tells TSan this thread has just acquired the lock at `addr`: it happens after every earlier release.
static inline __attribute__((always_inline)) void bw_tsan_acquire(void *addr) {
    if (__tsan_acquire) __tsan_acquire(addr);
}

/// Tells TSan this thread is about to release the lock at `addr`.
static inline __attribute__((always_inline)) void bw_tsan_release(void *addr) {
    if (__tsan_release) __tsan_release(addr);
}

#endif
