/*
 * bench_wake: cross-thread wake round trips, roi_poller_wake() against the
 * bare primitive it is built on (docs/design.md section 7, "Wake").
 *
 * Two threads ping-pong a wake: the main thread wakes the second one and
 * waits to be woken back; a round trip is counted each time it is. After
 * --warmup, the round trips of --seconds are counted; value = round trips
 * per second, and us_per_rt their inverse.
 *
 * --impl roi (the default): each thread waits in a roi poller of its own
 *   (--backend picks it), with no socket registered, and wakes the other's
 *   with roi_poller_wake().
 * --impl eventfd (Linux): two eventfds; each thread blocks in read() on its
 *   own and write()s the other's. This is what the epoll backend's wake
 *   does underneath, without the poller around it.
 * --impl iocp (Windows): two I/O completion ports; each thread blocks in
 *   GetQueuedCompletionStatus() on its own and posts to the other's with
 *   PostQueuedCompletionStatus(). This is what the afd backend's wake does
 *   underneath (through NtSetIoCompletion).
 *
 * A wait never blocks for more than STALL_MS in the roi and iocp variants;
 * the eventfd variant blocks in read() as the bare primitive does, and the
 * bound on it is the time limit scripts/bench puts on every run.
 */
#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <errno.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/eventfd.h>
#endif
#endif

#include "bench_util.h"
#include "platform.h"
#include "roi/error.h"
#include "roi/poller.h"

#define STALL_MS 5000
/* The payload of the wake that tells the second thread to stop. */
#define STOP 2

/* One waiting place per thread: [0] the main thread's, [1] the other's. */
typedef struct bench {
  bu_args a;
  roi_poller *p[2];
#ifdef _WIN32
  HANDLE port[2];
#else
  int efd[2];
#endif
  int failed; /* set by the second thread before it returns */
} bench;

/* Waits on side i; returns the payload (1 or STOP) or -1 on an error. */
static int wait_on(bench *b, int i) {
  if (strcmp(b->a.impl, "roi") == 0) {
    roi_poll_event ev;
    int n = roi_poller_wait(b->p[i], &ev, 1, STALL_MS);
    if (n != 1 || !(ev.events & ROI_POLL_WAKE)) {
      bu_fail(&b->a, "roi_poller_wait returned %d (%s)", n, n < 0 ? roi_err_name(n) : "");
      return -1;
    }
    return (int)ev.token;
  }
#ifdef _WIN32
  {
    DWORD bytes;
    ULONG_PTR key;
    OVERLAPPED *ov;
    if (!GetQueuedCompletionStatus(b->port[i], &bytes, &key, &ov, STALL_MS)) {
      bu_fail(&b->a, "GetQueuedCompletionStatus: error %lu", GetLastError());
      return -1;
    }
    return (int)key;
  }
#else
  {
    uint64_t v;
    if (read(b->efd[i], &v, sizeof v) != (ssize_t)sizeof v) {
      bu_fail(&b->a, "eventfd read: %s", strerror(errno));
      return -1;
    }
    return (int)v;
  }
#endif
}

/* Wakes side i with a payload; 0 or -1. */
static int wake(bench *b, int i, int payload) {
  if (strcmp(b->a.impl, "roi") == 0) {
    int rc = roi_poller_wake(b->p[i], (uint64_t)payload);
    if (rc != 0)
      bu_fail(&b->a, "roi_poller_wake: %s", roi_err_name(rc));
    return rc ? -1 : 0;
  }
#ifdef _WIN32
  if (!PostQueuedCompletionStatus(b->port[i], 0, (ULONG_PTR)payload, NULL)) {
    bu_fail(&b->a, "PostQueuedCompletionStatus: error %lu", GetLastError());
    return -1;
  }
#else
  {
    uint64_t v = (uint64_t)payload;
    if (write(b->efd[i], &v, sizeof v) != (ssize_t)sizeof v) {
      bu_fail(&b->a, "eventfd write: %s", strerror(errno));
      return -1;
    }
  }
#endif
  return 0;
}

/* The second thread: answers every wake until told to stop. */
static void responder(void *arg) {
  bench *b = arg;
  for (;;) {
    int v = wait_on(b, 1);
    if (v == STOP)
      return;
    if (v < 0 || wake(b, 0, 1) != 0) {
      b->failed = 1; /* read by the main thread after the join */
      /* The main thread is waiting for this wake and will time out (roi,
       * iocp) or be ended by scripts/bench's limit (eventfd); a wake with
       * payload STOP tells it sooner. */
      (void)wake(b, 0, STOP);
      return;
    }
  }
}

static int measure(bench *b) {
  bu_meter m;
  bu_meter_start(&m);
  for (;;) {
    int v;
    if (wake(b, 1, 1) != 0)
      return 1;
    v = wait_on(b, 0);
    if (v != 1)
      return v == STOP ? bu_fail(&b->a, "the responder thread failed") : 1;
    if (!bu_meter_step(&m, &b->a))
      continue;
    bu_result_meter(&b->a, &m, "rt/s");
    return 0;
  }
}

/* Makes the two waiting places of the chosen implementation. */
static int open_sides(bench *b) {
  int i;
  for (i = 0; i < 2; i++) {
    if (strcmp(b->a.impl, "roi") == 0) {
      int rc = roi_poller_create(&b->p[i], b->a.backend);
      if (rc != 0)
        return bu_fail(&b->a, "roi_poller_create(%s): %s",
                       b->a.backend ? b->a.backend : "default", roi_err_name(rc));
      continue;
    }
    /* bu_parse() has refused any other --impl. */
#ifdef _WIN32
    b->port[i] = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    if (!b->port[i])
      return bu_fail(&b->a, "CreateIoCompletionPort: error %lu", GetLastError());
#elif defined(__linux__)
    b->efd[i] = eventfd(0, EFD_CLOEXEC);
    if (b->efd[i] < 0)
      return bu_fail(&b->a, "eventfd: %s", strerror(errno));
#endif
  }
  return 0;
}

static void close_sides(bench *b) {
  int i;
  for (i = 0; i < 2; i++) {
    roi_poller_destroy(b->p[i]);
#ifdef _WIN32
    if (b->port[i])
      CloseHandle(b->port[i]);
#else
    if (b->efd[i] >= 0)
      close(b->efd[i]);
#endif
  }
}

int main(int argc, char **argv) {
  bench b;
  roi__thread *t = NULL;
  int rc;
  memset(&b, 0, sizeof b);
#ifndef _WIN32
  b.efd[0] = b.efd[1] = -1;
#endif
  b.a.prog = "bench_wake";
  b.a.figures = "wake";
#ifdef _WIN32
  b.a.impls = "roi iocp";
#elif defined(__linux__)
  b.a.impls = "roi eventfd";
#else
  b.a.impls = "roi";
#endif
  b.a.figure = "wake";
  b.a.impl = "roi";
  rc = bu_parse(argc, argv, &b.a, 1, 1);
  if (rc)
    return rc == 1 ? 0 : 2;
  rc = open_sides(&b);
  if (rc == 0 && roi__thread_create(&t, responder, &b) != 0)
    rc = bu_fail(&b.a, "cannot start a thread");
  if (rc == 0) {
    rc = measure(&b);
    /* The responder is waiting on its side, or has returned after a failure
     * (then this wake is never read, which does no harm). */
    (void)wake(&b, 1, STOP);
    roi__thread_join(t);
    if (b.failed)
      rc = 1;
  }
  close_sides(&b);
  return rc;
}
