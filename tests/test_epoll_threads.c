/*
 * epoll from many threads at once: several waiters on one port with one-shot
 * sockets re-armed by whoever handled them, while other threads write and
 * others add, modify and delete sockets of their own; every byte must be
 * handled (no lost wake-up) and no socket handled by two waiters at once
 * (each event to one waiter). And epoll_close() while threads wait.
 */
#include "epoll_util.h"
#include "roi_test.h"

#define WAITERS 6
#define WRITERS 3
#define CHURNERS 2
#define SOCKETS 48
#define BYTES_PER_WRITER 600

typedef struct shared {
  EP_HANDLE ep;
  roi_socket pair[SOCKETS][2];
  roi__mutex *mu;
  int busy[SOCKETS];     /* a waiter is handling this socket */
  long handled[SOCKETS]; /* bytes read from it */
  long total;            /* bytes read, all sockets */
  long events;
  int duplicates; /* an event for a socket already being handled */
  int errors;     /* a call that failed where it must not */
  int stop;
} shared;

static int stopped(shared *s) {
  int v;
  roi__mutex_lock(s->mu);
  v = s->stop;
  roi__mutex_unlock(s->mu);
  return v;
}

static void waiter(void *arg) {
  shared *s = arg;
  struct epoll_event ev[4];
  char buf[256];
  while (!stopped(s)) {
    int i, n = epoll_wait(s->ep, ev, 4, 50);
    if (n < 0) {
      roi__mutex_lock(s->mu);
      s->errors++;
      roi__mutex_unlock(s->mu);
      return;
    }
    for (i = 0; i < n; i++) {
      int k = (int)ev[i].data.u64, got, dup;
      long bytes = 0;
      if (k < 0 || k >= SOCKETS)
        continue; /* a churner's socket */
      roi__mutex_lock(s->mu);
      dup = s->busy[k];
      s->busy[k] = 1;
      s->events++;
      if (dup)
        s->duplicates++;
      roi__mutex_unlock(s->mu);
      if (dup)
        continue;
      while ((got = roi_sock_recv(s->pair[k][1], buf, sizeof buf)) > 0)
        bytes += got;
      roi__mutex_lock(s->mu);
      s->handled[k] += bytes;
      s->total += bytes;
      s->busy[k] = 0;
      roi__mutex_unlock(s->mu);
      /* Re-armed only once the socket is free for another waiter. */
      if (ep_ctl(s->ep, EPOLL_CTL_MOD, s->pair[k][1], EPOLLIN | EPOLLONESHOT,
                 (uint64_t)k) != 0) {
        roi__mutex_lock(s->mu);
        s->errors++;
        roi__mutex_unlock(s->mu);
      }
    }
  }
}

static int writer_index;

static void writer(void *arg) {
  shared *s = arg;
  int me, i;
  roi__mutex_lock(s->mu);
  me = writer_index++;
  roi__mutex_unlock(s->mu);
  for (i = 0; i < BYTES_PER_WRITER; i++) {
    int k = (me * 7 + i * 13) % SOCKETS;
    int r = ep_send_byte(s->pair[k][0]), tries = 0;
    /* A non-blocking send may say EAGAIN; under Wine it does when another
     * thread's send on the same socket is still in progress. */
    while (r == ROI_EAGAIN && tries++ < 1000) {
      roi__sleep_ms(1);
      r = ep_send_byte(s->pair[k][0]);
    }
    if (r != 1) {
      roi__mutex_lock(s->mu);
      s->errors++;
      roi__mutex_unlock(s->mu);
    }
    if (i % 50 == 0)
      roi__sleep_ms(1);
  }
}

/* Adds, modifies and deletes sockets of its own on the same port. */
static void churner(void *arg) {
  shared *s = arg;
  roi_socket pair[2];
  int i, bad = 0;
  if (roi_sock_pair_tcp(pair) != 0) {
    bad = 1;
  } else {
    for (i = 0; i < 400 && !stopped(s); i++) {
      /* data beyond SOCKETS: waiters ignore it (a one-shot OUT event). */
      bad += ep_ctl(s->ep, EPOLL_CTL_ADD, pair[0], EPOLLOUT | EPOLLONESHOT, 1000) != 0;
      bad += ep_ctl(s->ep, EPOLL_CTL_MOD, pair[0], EPOLLIN | EPOLLONESHOT, 1000) != 0;
      bad += ep_ctl(s->ep, EPOLL_CTL_DEL, pair[0], 0, 0) != 0;
    }
    roi_sock_close(pair[0]);
    roi_sock_close(pair[1]);
  }
  roi__mutex_lock(s->mu);
  s->errors += bad;
  roi__mutex_unlock(s->mu);
}

ROI_TEST(many_waiters_writers_and_churners) {
  static shared s;
  roi__thread *t[WAITERS + WRITERS + CHURNERS];
  int i, nt = 0;
  uint64_t end;
  long expected = (long)WRITERS * BYTES_PER_WRITER, total;
  memset(&s, 0, sizeof s);
  writer_index = 0;
  s.mu = roi__mutex_new();
  ROI_ASSERT_TRUE(s.mu != NULL);
  s.ep = epoll_create1(0);
  ROI_ASSERT_TRUE(s.ep != EP_NO_HANDLE);
  for (i = 0; i < SOCKETS; i++) {
    ROI_ASSERT_EQ(roi_sock_pair_tcp(s.pair[i]), 0);
    ROI_ASSERT_EQ(
        ep_ctl(s.ep, EPOLL_CTL_ADD, s.pair[i][1], EPOLLIN | EPOLLONESHOT, (uint64_t)i), 0);
  }
  for (i = 0; i < WAITERS; i++)
    ROI_ASSERT_EQ(roi__thread_create(&t[nt++], waiter, &s), 0);
  for (i = 0; i < CHURNERS; i++)
    ROI_ASSERT_EQ(roi__thread_create(&t[nt++], churner, &s), 0);
  for (i = 0; i < WRITERS; i++)
    ROI_ASSERT_EQ(roi__thread_create(&t[nt++], writer, &s), 0);
  end = roi__now_ms() + 60000;
  do {
    roi__sleep_ms(20);
    roi__mutex_lock(s.mu);
    total = s.total;
    roi__mutex_unlock(s.mu);
  } while (total < expected && roi__now_ms() < end);
  roi__mutex_lock(s.mu);
  s.stop = 1;
  roi__mutex_unlock(s.mu);
  for (i = 0; i < nt; i++)
    roi__thread_join(t[i]);
  fprintf(stderr, "  %ld bytes of %ld handled in %ld events by %d waiters\n", s.total,
          expected, s.events, WAITERS);
  ROI_ASSERT_EQ(s.total, expected);
  ROI_ASSERT_EQ(s.duplicates, 0);
  ROI_ASSERT_EQ(s.errors, 0);
  for (i = 0; i < SOCKETS; i++) {
    roi_sock_close(s.pair[i][0]);
    roi_sock_close(s.pair[i][1]);
  }
  ROI_ASSERT_EQ(ep_close(s.ep), 0);
  roi__mutex_free(s.mu);
}

typedef struct blocked {
  EP_HANDLE ep;
  int result;
  int err;
  uint64_t took_ms;
} blocked;

#define CLOSE_WAIT_MS 3000

static void block_in_wait(void *arg) {
  blocked *b = arg;
  struct epoll_event ev[4];
  uint64_t start = roi__now_ms();
  errno = 0;
  b->result = epoll_wait(b->ep, ev, 4, CLOSE_WAIT_MS);
  b->err = errno;
  b->took_ms = roi__now_ms() - start;
}

ROI_TEST(close_while_threads_wait) {
  enum { N = 4 };
  blocked b[N];
  roi__thread *t[N];
  roi_socket pair[2];
  EP_HANDLE ep = epoll_create1(0);
  int i;
  ROI_ASSERT_TRUE(ep != EP_NO_HANDLE);
  ROI_ASSERT_EQ(roi_sock_pair_tcp(pair), 0);
  /* Registered sockets with polls in flight while the port goes. */
  ROI_ASSERT_EQ(ep_ctl(ep, EPOLL_CTL_ADD, pair[0], EPOLLIN, 1), 0);
  ROI_ASSERT_EQ(ep_ctl(ep, EPOLL_CTL_ADD, pair[1], EPOLLIN, 2), 0);
  for (i = 0; i < N; i++) {
    b[i].ep = ep;
    b[i].result = 99;
    ROI_ASSERT_EQ(roi__thread_create(&t[i], block_in_wait, &b[i]), 0);
  }
  roi__sleep_ms(300);
  ROI_ASSERT_EQ(ep_close(ep), 0);
  for (i = 0; i < N; i++)
    roi__thread_join(t[i]);
  for (i = 0; i < N; i++) {
    fprintf(stderr, "  waiter %d: %d (errno %d) after %llu ms\n", i, b[i].result, b[i].err,
            (unsigned long long)b[i].took_ms);
#ifdef _WIN32
    /* Every waiter is woken at once with EBADF. */
    ROI_ASSERT_EQ(b[i].result, -1);
    ROI_ASSERT_EQ(b[i].err, EBADF);
    ROI_ASSERT_LT(b[i].took_ms, CLOSE_WAIT_MS - 1000);
#else
    /* Linux: the waiters keep the epoll file open and time out, empty. */
    ROI_ASSERT_EQ(b[i].result, 0);
#endif
  }
  /* The port is gone for everyone. */
  ROI_ASSERT_EQ(ep_ctl(ep, EPOLL_CTL_DEL, pair[0], 0, 0), -1);
  ROI_ASSERT_EQ(errno, EBADF);
  roi_sock_close(pair[0]);
  roi_sock_close(pair[1]);
}

ROI_TEST_MAIN(ROI_TEST_ENTRY(many_waiters_writers_and_churners),
              ROI_TEST_ENTRY(close_while_threads_wait))
