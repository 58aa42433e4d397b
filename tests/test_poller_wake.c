/*
 * roi_poller_wake: every call produces exactly one ROI_POLL_WAKE event with
 * its payload, in order per calling thread, from any thread, and a wake ends a
 * wait that blocks for ever.
 */
#include "poller_util.h"
#include "roi_test.h"

#define NTHREADS 4
#define WAKES_PER_THREAD 2000

typedef struct waker {
  roi_poller *p;
  uint32_t id;
  int failures; /* wake calls that did not return 0 */
  int first_error;
} waker;

/* Sends WAKES_PER_THREAD wakes with payload id << 32 | i. */
static void waker_main(void *arg) {
  waker *w = arg;
  uint32_t i;
  for (i = 0; i < WAKES_PER_THREAD; i++) {
    int err = roi_poller_wake(w->p, ((uint64_t)w->id << 32) | i);
    if (err != 0 && w->failures++ == 0)
      w->first_error = err;
  }
}

/* Four threads wake the poller 2,000 times each while this thread collects:
 * exactly 8,000 WAKE events arrive, every payload once, each thread's in the
 * order it sent them (so the next one expected from thread t is always
 * next[t]: a lost, merged, duplicated or reordered wake breaks that). */
ROI_TEST(wake_from_many_threads_loses_nothing) {
  waker w[NTHREADS];
  roi__thread *t[NTHREADS];
  uint32_t next[NTHREADS] = {0};
  roi_poll_event ev[PT_MAX_EVENTS];
  int i, n, total = 0, bad = 0, started = 0;
  roi_poll_event first_bad = {0, 0, 0};
  uint32_t first_bad_expected = 0;
  uint64_t deadline;
  roi_poller *p = new_poller();
  ROI_ASSERT_TRUE(p != NULL);
  for (i = 0; i < NTHREADS; i++) {
    w[i].p = p;
    w[i].id = (uint32_t)i;
    w[i].failures = 0;
    w[i].first_error = 0;
  }
  for (i = 0; i < NTHREADS; i++) {
    if (roi__thread_create(&t[i], waker_main, &w[i]) != 0)
      break;
    started++;
  }
  /* Collect before asserting anything, so that the threads are always joined
   * before the poller could go away. */
  deadline = roi__now_ms() + 6 * PT_DEADLINE_MS;
  while (total < started * WAKES_PER_THREAD && roi__now_ms() < deadline) {
    n = roi_poller_wait(p, ev, PT_MAX_EVENTS, 100);
    if (n < 0) {
      bad++;
      first_bad.error = n;
      break;
    }
    for (i = 0; i < n; i++) {
      uint64_t id = ev[i].token >> 32;
      uint32_t seq = (uint32_t)(ev[i].token & 0xFFFFFFFFu);
      total++;
      if (ev[i].events != ROI_POLL_WAKE || id >= NTHREADS || seq != next[id]) {
        if (bad++ == 0) {
          first_bad = ev[i];
          first_bad_expected = id < NTHREADS ? next[id] : 0;
        }
        continue;
      }
      next[id]++;
    }
  }
  for (i = 0; i < started; i++)
    roi__thread_join(t[i]);
  ROI_ASSERT_EQ(started, NTHREADS);
  for (i = 0; i < NTHREADS; i++) {
    ROI_ASSERT_EQ(w[i].failures, 0);
    ROI_ASSERT_EQ(w[i].first_error, 0);
  }
  if (bad) {
    fprintf(
        stderr,
        "  first unexpected event: token 0x%llx events 0x%x error %d (expected seq %u)\n",
        (unsigned long long)first_bad.token, (unsigned)first_bad.events, first_bad.error,
        (unsigned)first_bad_expected);
  }
  ROI_ASSERT_EQ(bad, 0);
  ROI_ASSERT_EQ(total, NTHREADS * WAKES_PER_THREAD);
  for (i = 0; i < NTHREADS; i++)
    ROI_ASSERT_EQ(next[i], WAKES_PER_THREAD);
  /* And nothing extra comes afterwards. */
  ROI_ASSERT_EQ(roi_poller_wait(p, ev, PT_MAX_EVENTS, 50), 0);
  roi_poller_destroy(p);
}

#define WAKE_ROUNDS 3
#define WAKE_PAYLOAD(r) (UINT64_C(0x5A5A000000000000) | (uint64_t)(r))
#define WATCHDOG_PAYLOAD UINT64_C(0xDEADDEADDEADDEAD)

typedef struct delayed_waker {
  roi_poller *p;
  roi__mutex *m;
  int acked; /* rounds the waiting thread has confirmed; under m */
} delayed_waker;

static int acked_rounds(delayed_waker *d) {
  int a;
  roi__mutex_lock(d->m);
  a = d->acked;
  roi__mutex_unlock(d->m);
  return a;
}

/* Each round: sleep a little, so that the other thread is most likely inside
 * roi_poller_wait(-1) by then, wake it, and wait for its confirmation. If none
 * comes within 10 s the wake did not end the wait; a second wake with the
 * watchdog payload then lets the test fail with a message instead of hanging
 * (unless the poller is deaf to wakes altogether). */
static void delayed_waker_main(void *arg) {
  delayed_waker *d = arg;
  int r;
  for (r = 0; r < WAKE_ROUNDS; r++) {
    uint64_t deadline;
    roi__sleep_ms(100);
    if (roi_poller_wake(d->p, WAKE_PAYLOAD(r)) != 0)
      return;
    deadline = roi__now_ms() + 10000;
    while (acked_rounds(d) <= r) {
      if (roi__now_ms() >= deadline) {
        roi_poller_wake(d->p, WATCHDOG_PAYLOAD);
        return;
      }
      roi__sleep_ms(5);
    }
  }
}

/* A wake from another thread ends a wait that blocks for ever, each time. */
ROI_TEST(wake_interrupts_blocking_wait) {
  delayed_waker d;
  roi__thread *t;
  roi_poll_event ev[4];
  int r, n;
  roi_poller *p = new_poller();
  ROI_ASSERT_TRUE(p != NULL);
  d.p = p;
  d.m = roi__mutex_new();
  d.acked = 0;
  ROI_ASSERT_TRUE(d.m != NULL);
  ROI_ASSERT_EQ(roi__thread_create(&t, delayed_waker_main, &d), 0);
  for (r = 0; r < WAKE_ROUNDS; r++) {
    n = roi_poller_wait(p, ev, 4, -1);
    ROI_ASSERT_EQ(n, 1);
    ROI_ASSERT_EQ_HEX(ev[0].token, WAKE_PAYLOAD(r));
    ROI_ASSERT_EQ_HEX(ev[0].events, ROI_POLL_WAKE);
    ROI_ASSERT_EQ(ev[0].error, 0);
    roi__mutex_lock(d.m);
    d.acked = r + 1;
    roi__mutex_unlock(d.m);
  }
  roi__thread_join(t);
  roi__mutex_free(d.m);
  ROI_ASSERT_EQ(roi_poller_wait(p, ev, 4, 0), 0);
  roi_poller_destroy(p);
}

/* Collects count wake events into payloads, checking that each is exactly a
 * wake and that no wait stores more than max. Returns how many arrived before
 * the deadline, or a negative error. */
static int collect_wakes(roi_poller *p, uint64_t *payloads, int count, int max) {
  roi_poll_event ev[PT_MAX_EVENTS];
  uint64_t deadline = roi__now_ms() + PT_DEADLINE_MS;
  int got = 0, i, n;
  while (got < count && roi__now_ms() < deadline) {
    n = roi_poller_wait(p, ev, max, 100);
    if (n < 0)
      return n;
    if (n > max || got + n > count)
      return ROI_ERANGE;
    for (i = 0; i < n; i++) {
      if (ev[i].events != ROI_POLL_WAKE || ev[i].error != 0)
        return ROI_EPROTO;
      payloads[got++] = ev[i].token;
    }
  }
  return got;
}

/* Wakes sent before any wait are kept, each one separately and in order, and
 * handed out across waits when max is smaller than their number. The payload
 * is any 64-bit value, 0 and all ones included. */
ROI_TEST(wakes_before_wait_are_kept_in_order) {
  static const uint64_t sent[5] = {0, UINT64_MAX, 7, 7, UINT64_C(0x8000000000000001)};
  uint64_t got[5];
  roi_poll_event ev[2];
  int i;
  roi_poller *p = new_poller();
  ROI_ASSERT_TRUE(p != NULL);
  for (i = 0; i < 5; i++)
    ROI_ASSERT_EQ(roi_poller_wake(p, sent[i]), 0);
  ROI_ASSERT_EQ(collect_wakes(p, got, 5, 2), 5);
  for (i = 0; i < 5; i++)
    ROI_ASSERT_EQ_HEX(got[i], sent[i]);
  ROI_ASSERT_EQ(roi_poller_wait(p, ev, 2, 50), 0);
  roi_poller_destroy(p);
}

#define NQUEUED 5000

/* Many wakes queued from one thread before anyone waits: none is lost or
 * merged, and their order holds. */
ROI_TEST(many_queued_wakes_from_one_thread) {
  uint64_t *got = malloc(NQUEUED * sizeof *got);
  int i;
  roi_poller *p = new_poller();
  ROI_ASSERT_TRUE(p != NULL);
  ROI_ASSERT_TRUE(got != NULL);
  for (i = 0; i < NQUEUED; i++)
    ROI_ASSERT_EQ(roi_poller_wake(p, (uint64_t)i), 0);
  ROI_ASSERT_EQ(collect_wakes(p, got, NQUEUED, PT_MAX_EVENTS), NQUEUED);
  for (i = 0; i < NQUEUED; i++)
    ROI_ASSERT_EQ_HEX(got[i], (uint64_t)i);
  free(got);
  roi_poller_destroy(p);
}

/* A wake and a ready socket come back as separate events: the wake with
 * exactly ROI_POLL_WAKE and its payload, the socket with its token and its
 * readiness. */
ROI_TEST(wake_alongside_ready_socket) {
  roi_poll_event ev;
  roi_socket pair[2];
  int others = 0;
  const uint64_t sock_token = UINT64_C(0x50C0000000000001);
  const uint64_t payload = UINT64_C(0x0A0B0C0D0E0F1011);
  roi_poller *p = new_poller();
  ROI_ASSERT_TRUE(p != NULL);
  ROI_ASSERT_EQ(roi_sock_pair_tcp(pair), 0);
  ROI_ASSERT_EQ(roi_poller_add(p, pair[1], ROI_POLL_READABLE, sock_token), 0);
  ROI_ASSERT_EQ(send_byte(pair[0]), 1);
  ROI_ASSERT_EQ(roi_poller_wake(p, payload), 0);
  ROI_ASSERT_EQ(wait_for_token(p, payload, PT_DEADLINE_MS, &ev, &others), 1);
  ROI_ASSERT_EQ_HEX(ev.events, ROI_POLL_WAKE);
  ROI_ASSERT_EQ(ev.error, 0);
  ROI_ASSERT_EQ(wait_for_token(p, sock_token, PT_DEADLINE_MS, &ev, &others), 1);
  ROI_ASSERT_EQ_HEX(ev.events, ROI_POLL_READABLE);
  /* One wake, one event: the socket is still readable, the wake is gone. */
  ROI_ASSERT_EQ(count_token(p, payload, PT_QUIET_MS, &others, &ev), 0);
  ROI_ASSERT_EQ(roi_poller_remove(p, pair[1]), 0);
  close_pair(pair);
  roi_poller_destroy(p);
}

/* Destroying a poller with wakes still queued frees them (ASan checks), and a
 * closed poller refuses new wakes. */
ROI_TEST(destroy_with_wakes_pending) {
  int i;
  roi_poller *p = new_poller();
  ROI_ASSERT_TRUE(p != NULL);
  for (i = 0; i < 100; i++)
    ROI_ASSERT_EQ(roi_poller_wake(p, (uint64_t)i), 0);
  ROI_ASSERT_EQ(roi_poller_close(p), 0);
  ROI_ASSERT_EQ(roi_poller_wake(p, 1), ROI_ECLOSED);
  roi_poller_destroy(p);
}

ROI_TEST_MAIN(ROI_TEST_ENTRY(wake_from_many_threads_loses_nothing),
              ROI_TEST_ENTRY(wake_interrupts_blocking_wait),
              ROI_TEST_ENTRY(wakes_before_wait_are_kept_in_order),
              ROI_TEST_ENTRY(many_queued_wakes_from_one_thread),
              ROI_TEST_ENTRY(wake_alongside_ready_socket),
              ROI_TEST_ENTRY(destroy_with_wakes_pending))
