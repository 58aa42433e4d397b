/*
 * The little the portable core needs from the operating system: a mutex, a
 * thread, a monotonic clock, and whether the process runs under Wine. Each
 * platform implements it in lib/src/<platform>/platform.c, so that the core
 * never includes a system header of one platform.
 */
#ifndef ROI_SRC_PLATFORM_H
#define ROI_SRC_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* A non-recursive mutex. Allocated by roi__mutex_new() and freed by
 * roi__mutex_free(); the creator owns it. */
typedef struct roi__mutex roi__mutex;

/* Returns NULL when out of memory. */
roi__mutex *roi__mutex_new(void);
void roi__mutex_free(roi__mutex *m);
void roi__mutex_lock(roi__mutex *m);
void roi__mutex_unlock(roi__mutex *m);

/* A condition variable used with one roi__mutex. Allocated by
 * roi__cond_new() (NULL when out of memory), freed by roi__cond_free(). */
typedef struct roi__cond roi__cond;

roi__cond *roi__cond_new(void);
void roi__cond_free(roi__cond *c);
/* Wakes every waiter. */
void roi__cond_broadcast(roi__cond *c);
/* Waits with m held (it is released while waiting and held again on
 * return) for at most timeout_ms milliseconds; a negative timeout waits
 * without limit. Returns 0 when signalled (or spuriously), ROI_ETIMEDOUT when
 * the time ran out; callers re-check their condition either way. */
int roi__cond_wait(roi__cond *c, roi__mutex *m, int timeout_ms);

/* A joinable thread. roi__thread_join() waits for it and frees it. */
typedef struct roi__thread roi__thread;

/* Returns 0, ROI_ENOMEM, or the mapped system error. */
int roi__thread_create(roi__thread **out, void (*fn)(void *arg), void *arg);
void roi__thread_join(roi__thread *t);

/* Milliseconds from an arbitrary fixed point; never goes backwards. */
uint64_t roi__now_ms(void);

/* Nanoseconds from an arbitrary fixed point, for measurements. */
uint64_t roi__now_ns(void);

void roi__sleep_ms(unsigned ms);

/* Gives the CPU to another ready thread, if any. */
void roi__yield(void);

/* A count that one thread writes and others only read, with no ordering
 * asked of either access: a store and a load that cannot tear (GCC's and
 * Clang's relaxed atomics; elsewhere, as with MSVC, whose C compiler lacks
 * them, a volatile access of an aligned word, which its targets never
 * tear). On x86 both are plain moves, unlike a lock or an atomic
 * read-modify-write. */
static inline void roi__relaxed_store(size_t *p, size_t v) {
#ifdef __GNUC__
  __atomic_store_n(p, v, __ATOMIC_RELAXED);
#else
  *(volatile size_t *)p = v;
#endif
}

static inline size_t roi__relaxed_load(const size_t *p) {
#ifdef __GNUC__
  return __atomic_load_n(p, __ATOMIC_RELAXED);
#else
  return *(const volatile size_t *)p;
#endif
}

/* 1 when this Windows process runs under Wine, 0 otherwise (always 0 on
 * non-Windows platforms). Tests use it for the skips docs/design.md section 5
 * allows. */
int roi__under_wine(void);

/* A test hook: when non-zero, the afd backend acts as if a layered service
 * provider hid the base socket of every socket it is given, so the ROI_ELSP
 * path can be tested on a machine without such a provider (Wine has none).
 * Other backends ignore it. Defined in poller.c; never set by the library. */
extern int roi__test_hide_base_socket;

#endif /* ROI_SRC_PLATFORM_H */
