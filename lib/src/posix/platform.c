/*
 * platform.h for POSIX systems: pthreads and CLOCK_MONOTONIC.
 */
#include "platform.h"

#include <errno.h>
#include <pthread.h>
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

int roi__under_wine(void) {
  return 0;
}
