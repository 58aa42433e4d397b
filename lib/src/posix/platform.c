/*
 * platform.h for POSIX systems: pthreads and CLOCK_MONOTONIC.
 */
#include "platform.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

#include "roi/error.h"

struct roi__mutex {
  pthread_mutex_t m;
};

roi__mutex *roi__mutex_new(void) {
  roi__mutex *m = malloc(sizeof *m);
  if (!m)
    return NULL;
  if (pthread_mutex_init(&m->m, NULL) != 0) {
    free(m);
    return NULL;
  }
  return m;
}

void roi__mutex_free(roi__mutex *m) {
  pthread_mutex_destroy(&m->m);
  free(m);
}

void roi__mutex_lock(roi__mutex *m) {
  pthread_mutex_lock(&m->m);
}

void roi__mutex_unlock(roi__mutex *m) {
  pthread_mutex_unlock(&m->m);
}

struct roi__cond {
  pthread_cond_t c;
};

roi__cond *roi__cond_new(void) {
  roi__cond *c = malloc(sizeof *c);
  pthread_condattr_t attr;
  int err;
  if (!c)
    return NULL;
  if (pthread_condattr_init(&attr) != 0) {
    free(c);
    return NULL;
  }
  /* Timed waits measure against the monotonic clock, so that a change of the
   * wall clock neither shortens nor stretches wait_receive(). */
  (void)pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  err = pthread_cond_init(&c->c, &attr);
  pthread_condattr_destroy(&attr);
  if (err) {
    free(c);
    return NULL;
  }
  return c;
}

void roi__cond_free(roi__cond *c) {
  if (c) {
    pthread_cond_destroy(&c->c);
    free(c);
  }
}

void roi__cond_broadcast(roi__cond *c) {
  pthread_cond_broadcast(&c->c);
}

int roi__cond_wait(roi__cond *c, roi__mutex *m, int timeout_ms) {
  struct timespec ts;
  if (timeout_ms < 0) {
    pthread_cond_wait(&c->c, &m->m);
    return 0;
  }
  clock_gettime(CLOCK_MONOTONIC, &ts);
  ts.tv_sec += timeout_ms / 1000;
  ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
  if (ts.tv_nsec >= 1000000000L) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000L;
  }
  return pthread_cond_timedwait(&c->c, &m->m, &ts) == ETIMEDOUT ? ROI_ETIMEDOUT : 0;
}

struct roi__thread {
  pthread_t t;
  void (*fn)(void *arg);
  void *arg;
};

static void *thread_main(void *arg) {
  roi__thread *t = arg;
  t->fn(t->arg);
  return NULL;
}

int roi__thread_create(roi__thread **out, void (*fn)(void *arg), void *arg) {
  roi__thread *t = malloc(sizeof *t);
  int err;
  if (!t)
    return ROI_ENOMEM;
  t->fn = fn;
  t->arg = arg;
  err = pthread_create(&t->t, NULL, thread_main, t);
  if (err) {
    free(t);
    return roi_err_from_errno(err);
  }
  *out = t;
  return 0;
}

void roi__thread_join(roi__thread *t) {
  pthread_join(t->t, NULL);
  free(t);
}

uint64_t roi__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t roi__now_ms(void) {
  return roi__now_ns() / 1000000u;
}

void roi__sleep_ms(unsigned ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

void roi__yield(void) {
  sched_yield();
}

int roi__under_wine(void) {
  return 0;
}
