/*
 * Registration churn: tokens that must never outlive their registration when
 * handle values are reused, a thousand registered sockets with half removed,
 * and ten thousand registrations whose records must all come back to the pool
 * (the afd backend keeps a removed socket's record as a zombie until its
 * cancelled poll completes; the counters must reach zero on every backend).
 */
#include <stdlib.h>
#include <string.h>

#include "poller_util.h"
#include "roi_test.h"

#define REUSE_ROUNDS 200

/* Token of round i: A for the first registration, B for the second. */
#define TOKEN_A(i) (UINT64_C(0xAAAA000000000000) | (uint64_t)(i))
#define TOKEN_B(i) (UINT64_C(0xBBBB000000000000) | (uint64_t)(i))

/* Each round registers a socket with token A and makes it readable, removes
 * and closes it, registers a new socket, which usually gets the same handle
 * value, with token B and makes that readable. Token A must never be
 * delivered: not in this round, not in a later one. Odd rounds let the poller
 * report A first, so that a level-triggered backend has re-armed the socket
 * (and may have a completion for it in flight) when it is removed; even rounds
 * remove it with the readiness not yet collected. */
ROI_TEST(stale_token_never_delivered_after_reuse) {
  roi_poll_event ev;
  int i, reused = 0, others = 0;
  roi_poller *p = new_poller();
  ROI_ASSERT_TRUE(p != NULL);
  for (i = 0; i < REUSE_ROUNDS; i++) {
    roi_socket a[2], b[2], s, peer, old;
    ROI_ASSERT_EQ(roi_sock_pair_tcp(a), 0);
    ROI_ASSERT_EQ(roi_poller_add(p, a[1], ROI_POLL_READABLE, TOKEN_A(i)), 0);
    ROI_ASSERT_EQ(send_byte(a[0]), 1);
    if (i % 2) {
      ROI_ASSERT_EQ(wait_for_token(p, TOKEN_A(i), PT_DEADLINE_MS, &ev, &others), 1);
      ROI_ASSERT_EQ(others, 0);
    }
    ROI_ASSERT_EQ(roi_poller_remove(p, a[1]), 0);
    old = a[1];
    close_pair(a);

    ROI_ASSERT_EQ(roi_sock_pair_tcp(b), 0);
    s = b[0] == old ? b[0] : b[1];
    peer = s == b[0] ? b[1] : b[0];
    reused += s == old;
    ROI_ASSERT_EQ(roi_poller_add(p, s, ROI_POLL_READABLE, TOKEN_B(i)), 0);
    ROI_ASSERT_EQ(send_byte(peer), 1);
    /* Only s is registered, so any other event is a stale one. */
    ROI_ASSERT_EQ(wait_for_token(p, TOKEN_B(i), PT_DEADLINE_MS, &ev, &others), 1);
    ROI_ASSERT_EQ_HEX(ev.events, ROI_POLL_READABLE);
    ROI_ASSERT_EQ(others, 0);
    ROI_ASSERT_EQ(roi_poller_remove(p, s), 0);
    close_pair(b);
  }
  /* Nothing is registered now: a last look for late stale completions. */
  ROI_ASSERT_EQ(count_token(p, TOKEN_A(0), PT_QUIET_MS, &others, &ev), 0);
  ROI_ASSERT_EQ(others, 0);
  printf("# the handle value was reused in %d of %d rounds\n", reused, REUSE_ROUNDS);
  {
    /* Every removed record was kept until its last completion came (afd), so
     * no completion ever reached a record that had moved on: the generation
     * check found nothing to reject, and no record is left behind. */
    roi_poller_stats st;
    ROI_ASSERT_EQ(roi_poller_stats_get(p, &st), 0);
    ROI_ASSERT_EQ(st.stale, 0);
    ROI_ASSERT_EQ(st.zombies, 0);
    ROI_ASSERT_EQ(st.records, 0);
  }
  roi_poller_destroy(p);
}

/* The same socket removed and added again at once with a new token, with its
 * data always waiting: only the current token is ever delivered. Every third
 * round changes the token with roi_poller_modify instead, which must not let
 * the old token through either. */
ROI_TEST(readd_same_socket_new_token) {
  roi_poll_event ev;
  roi_socket pair[2];
  int i, others = 0;
  roi_poller *p = new_poller();
  ROI_ASSERT_TRUE(p != NULL);
  ROI_ASSERT_EQ(roi_sock_pair_tcp(pair), 0);
  ROI_ASSERT_EQ(send_byte(pair[0]), 1);
  ROI_ASSERT_EQ(roi_poller_add(p, pair[1], ROI_POLL_READABLE, TOKEN_A(0)), 0);
  for (i = 0; i < REUSE_ROUNDS; i++) {
    if (i % 2)
      ROI_ASSERT_EQ(wait_for_token(p, TOKEN_A(i), PT_DEADLINE_MS, &ev, &others), 1);
    if (i % 3 == 2) {
      ROI_ASSERT_EQ(roi_poller_modify(p, pair[1], ROI_POLL_READABLE, TOKEN_A(i + 1)), 0);
    } else {
      ROI_ASSERT_EQ(roi_poller_remove(p, pair[1]), 0);
      ROI_ASSERT_EQ(roi_poller_add(p, pair[1], ROI_POLL_READABLE, TOKEN_A(i + 1)), 0);
    }
    ROI_ASSERT_EQ(wait_for_token(p, TOKEN_A(i + 1), PT_DEADLINE_MS, &ev, &others), 1);
    ROI_ASSERT_EQ_HEX(ev.events, ROI_POLL_READABLE);
    ROI_ASSERT_EQ(others, 0);
  }
  ROI_ASSERT_EQ(roi_poller_remove(p, pair[1]), 0);
  close_pair(pair);
  roi_poller_destroy(p);
}

#define NPAIRS 500
#define NSOCKS (2 * NPAIRS)
#define TOKEN_K(k) (UINT64_C(0xC0C0000000000000) | (uint64_t)(k))

/* The byte socket k receives from its peer, so that a token that led to the
 * wrong socket shows in the data read. */
static unsigned char byte_for(int k) {
  return (unsigned char)(k % 251);
}

/* 1,000 sockets (500 pairs) registered, half of them removed (one side of
 * every pair, alternating), then every socket made readable: each remaining
 * socket is reported with its own token, exactly once (the case drains it on
 * its event), and no removed socket is reported at all. */
ROI_TEST(thousand_sockets_half_removed) {
  roi_socket *s = malloc(NSOCKS * sizeof *s);
  int *seen = calloc(NSOCKS, sizeof *seen);
  roi_poll_event ev[PT_MAX_EVENTS];
  roi_poller_stats st;
  uint64_t deadline;
  int i, k, n, remaining = NPAIRS;
  roi_poller *p = new_poller();
  ROI_ASSERT_TRUE(p != NULL);
  ROI_ASSERT_TRUE(s != NULL && seen != NULL);
  for (i = 0; i < NPAIRS; i++)
    ROI_ASSERT_EQ(roi_sock_pair_tcp(&s[2 * i]), 0);
  for (k = 0; k < NSOCKS; k++)
    ROI_ASSERT_EQ(roi_poller_add(p, s[k], ROI_POLL_READABLE, TOKEN_K(k)), 0);
  ROI_ASSERT_EQ(roi_poller_stats_get(p, &st), 0);
  ROI_ASSERT_EQ(st.sockets, NSOCKS);

  /* Pair i loses side i % 2: socket k is removed when k % 2 == (k / 2) % 2. */
  for (k = 0; k < NSOCKS; k++)
    if (k % 2 == (k / 2) % 2)
      ROI_ASSERT_EQ(roi_poller_remove(p, s[k]), 0);
  ROI_ASSERT_EQ(roi_poller_stats_get(p, &st), 0);
  ROI_ASSERT_EQ(st.sockets, NPAIRS);

  /* Every socket sends its peer the peer's byte: k ^ 1 is the peer of k. */
  for (k = 0; k < NSOCKS; k++) {
    unsigned char b = byte_for(k ^ 1);
    ROI_ASSERT_EQ(roi_sock_send(s[k], &b, 1), 1);
  }

  deadline = roi__now_ms() + 2 * PT_DEADLINE_MS;
  while (remaining > 0 && roi__now_ms() < deadline) {
    n = wait_unique(p, ev, PT_MAX_EVENTS, 100);
    ROI_ASSERT_GE(n, 0);
    for (i = 0; i < n; i++) {
      unsigned char b = 0;
      ROI_ASSERT_EQ_HEX(ev[i].token & UINT64_C(0xFFFF000000000000), TOKEN_K(0));
      k = (int)(ev[i].token & 0xFFFF);
      ROI_ASSERT_LT(k, NSOCKS);
      /* A removed socket must never be reported. */
      ROI_ASSERT_NE(k % 2, (k / 2) % 2);
      ROI_ASSERT_EQ_HEX(ev[i].events, ROI_POLL_READABLE);
      /* Reported exactly once: it is drained below, so a second report
       * would be for data that is no longer there. */
      ROI_ASSERT_EQ(seen[k], 0);
      seen[k] = 1;
      remaining--;
      ROI_ASSERT_EQ(roi_sock_recv(s[k], &b, 1), 1);
      ROI_ASSERT_EQ(b, byte_for(k));
    }
  }
  ROI_ASSERT_EQ(remaining, 0);
  /* All drained: nothing more to report, and still nothing for the removed. */
  n = 0;
  ROI_ASSERT_EQ(count_token(p, TOKEN_K(0), PT_QUIET_MS, &n, NULL), 0);
  ROI_ASSERT_EQ(n, 0);

  for (k = 0; k < NSOCKS; k++)
    if (k % 2 != (k / 2) % 2)
      ROI_ASSERT_EQ(roi_poller_remove(p, s[k]), 0);
  ROI_ASSERT_EQ(roi_poller_stats_get(p, &st), 0);
  ROI_ASSERT_EQ(st.sockets, 0);
  for (k = 0; k < NSOCKS; k++)
    roi_sock_close(s[k]);
  roi_poller_destroy(p);
  free(seen);
  free(s);
}

#define NMANY 10000
/* Records per pool block (lib/src/pool.h says about 128). */
#define ROI_TEST_POOL_PER_BLOCK 128
/* Listeners per loopback address in the case below. */
#define NPER_ADDR 250

/* Where listener i of the case below listens: 40 loopback addresses other
 * than 127.0.0.1 (all of 127/8 is local on Linux and Windows), 250 each.
 * On 127.0.0.1 the 10,000 listeners took a third of the ephemeral range the
 * other tests draw their ports from, twice over when meson ran this case for
 * two backends side by side: a stranger's connect reached one of them, or
 * a listen failed with ROI_EADDRINUSE. A port number in use on another
 * address takes nothing from 127.0.0.1. */
static void many_addr(int i, char *out, size_t cap) {
  snprintf(out, cap, "127.1.%d.%d", i / NPER_ADDR, 1 + i % NPER_ADDR);
}

/* 10,000 listening sockets registered, polled, then removed and closed: while
 * they are registered the counters show them all (and, on afd, a poll in
 * flight for each), and afterwards every record and every pool block has been
 * given back. Listeners are used because they are quiet on every platform
 * until a connection comes (a never-connected socket reports HANGUP at once on
 * Linux but nothing on Windows). The afd backend frees a removed socket's
 * record only when its cancelled poll completes, which a wait collects, so the
 * case waits until no zombie is left (or 5 s pass) before it checks. */
ROI_TEST(ten_thousand_sockets_released) {
  roi_socket *s = malloc(NMANY * sizeof *s);
  roi_poll_event ev[PT_MAX_EVENTS];
  roi_poller_stats st;
  uint64_t deadline;
  int i, n;
  char host[32];
  roi_poller *p = new_poller();
  ROI_ASSERT_TRUE(p != NULL);
  ROI_ASSERT_TRUE(s != NULL);
  for (i = 0; i < NMANY; i++) {
    many_addr(i, host, sizeof host);
    ROI_ASSERT_EQ(roi_sock_listen_tcp(host, 0, 1, &s[i]), 0);
    ROI_ASSERT_EQ(roi_poller_add(p, s[i], ROI_POLL_READABLE, (uint64_t)i), 0);
  }
  /* One wait puts the sockets in the kernel's hands (afd submits its polls
   * here); nothing is ready. */
  ROI_ASSERT_EQ(roi_poller_wait(p, ev, PT_MAX_EVENTS, 50), 0);
  ROI_ASSERT_EQ(roi_poller_stats_get(p, &st), 0);
  ROI_ASSERT_EQ(st.sockets, NMANY);
  ROI_ASSERT_EQ(st.records, NMANY);
  ROI_ASSERT_GE(st.blocks, NMANY / ROI_TEST_POOL_PER_BLOCK);
  if (strcmp(roi_poller_backend(p), "afd") == 0) {
    ROI_ASSERT_EQ(st.in_flight, NMANY);
    ROI_ASSERT_EQ(st.helpers, (NMANY + 31) / 32);
  }

  for (i = 0; i < NMANY; i++)
    ROI_ASSERT_EQ(roi_poller_remove(p, s[i]), 0);
  ROI_ASSERT_EQ(roi_poller_stats_get(p, &st), 0);
  ROI_ASSERT_EQ(st.sockets, 0);
  if (strcmp(roi_poller_backend(p), "afd") == 0)
    ROI_ASSERT_EQ(st.zombies, NMANY); /* every poll was still in flight */
  for (i = 0; i < NMANY; i++)
    ROI_ASSERT_EQ(roi_sock_close(s[i]), 0);

  deadline = roi__now_ms() + PT_DEADLINE_MS;
  for (;;) {
    ROI_ASSERT_EQ(roi_poller_stats_get(p, &st), 0);
    if (st.zombies == 0 || roi__now_ms() >= deadline)
      break;
    /* Nothing is registered, so these waits must report nothing. */
    n = roi_poller_wait(p, ev, PT_MAX_EVENTS, 10);
    ROI_ASSERT_EQ(n, 0);
  }
  ROI_ASSERT_EQ(roi_poller_wait(p, ev, PT_MAX_EVENTS, 0), 0);
  ROI_ASSERT_EQ(roi_poller_stats_get(p, &st), 0);
  ROI_ASSERT_EQ(st.sockets, 0);
  ROI_ASSERT_EQ(st.zombies, 0);
  ROI_ASSERT_EQ(st.in_flight, 0);
  ROI_ASSERT_EQ(st.records, 0);
  ROI_ASSERT_EQ(st.blocks, 0);
  roi_poller_destroy(p);
  free(s);
}

ROI_TEST_MAIN(ROI_TEST_ENTRY(stale_token_never_delivered_after_reuse),
              ROI_TEST_ENTRY(readd_same_socket_new_token),
              ROI_TEST_ENTRY(thousand_sockets_half_removed),
              ROI_TEST_ENTRY(ten_thousand_sockets_released))
