/*
 * Helpers shared by the poller tests (tests/test_poller_*.c).
 *
 * Every poller is created with roi_poller_create(&p, NULL), so the ROI_BACKEND
 * environment variable that tests/meson.build sets picks the backend under
 * test. Waits that must see an event loop until a generous deadline, because
 * under Wine every socket call is a round trip to wineserver and a fixed short
 * timeout would flake; checks that nothing happens use a short quiet period.
 *
 * The functions are static inline so that a test file that does not use one of
 * them gets no unused-function warning.
 */
#ifndef ROI_TESTS_POLLER_UTIL_H
#define ROI_TESTS_POLLER_UTIL_H

#include <stdint.h>
#include <stdio.h>

#include "platform.h"
#include "roi/error.h"
#include "roi/poller.h"
#include "roi/sock.h"

/* How long a test waits for an event that must come: an upper bound only. */
#define PT_DEADLINE_MS 5000
/* How long a test watches for an event that must not come. */
#define PT_QUIET_MS 150
/* The event array size most tests use. */
#define PT_MAX_EVENTS 64

/* Returned by wait_unique() and the helpers built on it when one wait reported
 * the same token twice, which the contract forbids ("each roi_poller_wait()
 * reports a socket at most once"). It is not an ROI_E* code, so an assertion
 * that prints it cannot be mistaken for a system error. */
#define PT_DUPLICATE (-1000)

/* Creates a poller on the backend ROI_BACKEND names (or the default one),
 * printing why when that fails. */
static inline roi_poller *new_poller(void) {
  roi_poller *p = NULL;
  int err = roi_poller_create(&p, NULL);
  if (err != 0) {
    fprintf(stderr, "  roi_poller_create(&p, NULL) failed: %s\n", roi_err_name(err));
    return NULL;
  }
  return p;
}

/* Waits once, like roi_poller_wait(), and checks that no token appears twice
 * in what this one wait returned. Every test that waits for socket events goes
 * through here, so the rule is checked everywhere for free. */
static inline int wait_unique(roi_poller *p, roi_poll_event *ev, int max, int timeout_ms) {
  int n = roi_poller_wait(p, ev, max, timeout_ms);
  int i, j;
  for (i = 0; i < n; i++)
    for (j = 0; j < i; j++)
      if (ev[i].token == ev[j].token) {
        fprintf(stderr, "  one wait reported token 0x%llx twice (events 0x%x and 0x%x)\n",
                (unsigned long long)ev[i].token, (unsigned)ev[j].events,
                (unsigned)ev[i].events);
        return PT_DUPLICATE;
      }
  return n;
}

/* Waits until an event carrying token arrives or ms pass. Returns 1 with the
 * event in *out, 0 when the time ran out, or the negative error of a wait.
 * Events for other tokens seen on the way (including those returned by the
 * same wait as the one wanted) are counted in *others when it is not NULL. */
static inline int wait_for_token(roi_poller *p, uint64_t token, int ms, roi_poll_event *out,
                                 int *others) {
  roi_poll_event ev[PT_MAX_EVENTS];
  uint64_t deadline = roi__now_ms() + (uint64_t)ms;
  int found = 0;
  for (;;) {
    uint64_t now = roi__now_ms();
    int n, i;
    if (now >= deadline)
      return 0;
    n = wait_unique(p, ev, PT_MAX_EVENTS, (int)(deadline - now));
    if (n < 0)
      return n;
    for (i = 0; i < n; i++) {
      if (ev[i].token == token) {
        *out = ev[i];
        found = 1;
      } else if (others) {
        (*others)++;
      }
    }
    if (found)
      return 1;
  }
}

/* Watches the poller for ms and returns how many events carried token (or the
 * negative error of a wait). Events for other tokens are counted in *others
 * when it is not NULL; the last event for token is stored in *last when it is
 * not NULL. */
static inline int count_token(roi_poller *p, uint64_t token, int ms, int *others,
                              roi_poll_event *last) {
  roi_poll_event ev[PT_MAX_EVENTS];
  uint64_t deadline = roi__now_ms() + (uint64_t)ms;
  int count = 0;
  for (;;) {
    uint64_t now = roi__now_ms();
    int n, i;
    if (now >= deadline)
      return count;
    n = wait_unique(p, ev, PT_MAX_EVENTS, (int)(deadline - now));
    if (n < 0)
      return n;
    for (i = 0; i < n; i++) {
      if (ev[i].token == token) {
        count++;
        if (last)
          *last = ev[i];
      } else if (others) {
        (*others)++;
      }
    }
  }
}

/* Sends one byte, which makes the peer readable. */
static inline int send_byte(roi_socket s) {
  return roi_sock_send(s, "x", 1);
}

/* Reads everything waiting on s. Returns the number of bytes read (the end of
 * stream stops the loop too) or a negative error other than ROI_EAGAIN. */
static inline int drain(roi_socket s) {
  char buf[256];
  int total = 0;
  for (;;) {
    int n = roi_sock_recv(s, buf, sizeof buf);
    if (n == ROI_EAGAIN || n == 0)
      return total;
    if (n < 0)
      return n;
    total += n;
  }
}

/* Closes both sockets of a pair (ROI_INVALID_SOCKET entries are ignored). */
static inline void close_pair(roi_socket pair[2]) {
  roi_sock_close(pair[0]);
  roi_sock_close(pair[1]);
  pair[0] = pair[1] = ROI_INVALID_SOCKET;
}

#endif /* ROI_TESTS_POLLER_UTIL_H */
