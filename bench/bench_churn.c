/*
 * bench_churn: connection churn and memory per open connection through a roi
 * poller (docs/design.md section 7, "Churn"); peer_libuv.c and peer_libevent.c
 * measure the same two figures the same way.
 *
 * --figure churn (the default): connect/accept/close cycles per second. One
 * thread, one poller (--backend), one listener on 127.0.0.1 registered
 * READABLE, and --conns slots, each running cycles one after another:
 *   1. a new non-blocking socket connects to the listener and is registered
 *      READABLE;
 *   2. on the listener's readiness every waiting connection is accepted and
 *      closed at once;
 *   3. the client reads end of stream, is removed from the poller and closed;
 *      the cycle is counted and the slot starts its next one.
 * value = cycles per second during --seconds after --warmup.
 *
 * --figure memory: the resident memory one open connection costs. After the
 * poller exists (and one empty wait), --conns loopback pairs are made and
 * both ends of each registered READABLE, then one wait that returns at once;
 * value = the growth of the resident set divided by --conns (bytes per
 * connection, both of its ends). seconds = the time that setup took.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "roi/error.h"
#include "roi/poller.h"
#include "roi/sock.h"

#define STALL_MS 5000
#define MAX_CONNS 9000 /* memory: 2 sockets each under an open-file limit of 20,000 */
#define LISTENER_TOKEN ((uint64_t)1 << 40)
#define EVENTS_MAX 256

typedef struct bench {
  bu_args a;
  roi_poller *p;
  roi_socket listener;
  int port;
  roi_socket *s; /* churn: the client socket of each slot; memory: 2 per pair */
  int n_s;
  unsigned long long cycles;
} bench;

/* Starts a cycle in slot i: a connect, registered READABLE. */
static int start_cycle(bench *b, int i) {
  int rc = roi_sock_connect_tcp("127.0.0.1", b->port, &b->s[i]);
  if (rc == 0)
    rc = roi_poller_add(b->p, b->s[i], ROI_POLL_READABLE, (uint64_t)i);
  if (rc != 0)
    return bu_fail(&b->a, "starting a connect: %s", roi_err_name(rc));
  return 0;
}

/* Accepts and closes every connection waiting on the listener. */
static int accept_all(bench *b) {
  for (;;) {
    roi_socket s;
    int rc = roi_sock_accept(b->listener, &s);
    if (rc == ROI_EAGAIN)
      return 0;
    if (rc != 0)
      return bu_fail(&b->a, "accept: %s", roi_err_name(rc));
    roi_sock_close(s);
  }
}

/* The client of slot i is readable: it should be at end of stream. */
static int finish_cycle(bench *b, int i, const roi_poll_event *ev) {
  char c;
  int rc;
  if (ev->events & ROI_POLL_ERROR)
    return bu_fail(&b->a, "client socket error: %s", roi_err_name(ev->error));
  rc = roi_sock_recv(b->s[i], &c, 1);
  if (rc == ROI_EAGAIN)
    return 0;
  if (rc != 0)
    return bu_fail(&b->a, "client read %s, want end of stream",
                   rc > 0 ? "data" : roi_err_name(rc));
  /* The poller must forget the socket before its handle can be reused. */
  rc = roi_poller_remove(b->p, b->s[i]);
  roi_sock_close(b->s[i]);
  b->s[i] = ROI_INVALID_SOCKET;
  if (rc != 0)
    return bu_fail(&b->a, "roi_poller_remove: %s", roi_err_name(rc));
  b->cycles++;
  return start_cycle(b, i);
}

static int churn(bench *b) {
  roi_poll_event ev[EVENTS_MAX];
  bu_meter m;
  unsigned long long counted = 0;
  int i, rc;
  rc = roi_sock_listen_tcp("127.0.0.1", 0, 1024, &b->listener);
  if (rc == 0) {
    b->port = roi_sock_local_port(b->listener);
    rc = b->port < 0 ? b->port
                     : roi_poller_add(b->p, b->listener, ROI_POLL_READABLE, LISTENER_TOKEN);
  }
  if (rc != 0)
    return bu_fail(&b->a, "making the listener: %s", roi_err_name(rc));
  bu_meter_start(&m);
  for (i = 0; i < b->n_s; i++)
    if (start_cycle(b, i))
      return 1;
  for (;;) {
    int n = roi_poller_wait(b->p, ev, EVENTS_MAX, STALL_MS);
    if (n <= 0)
      return bu_fail(&b->a, "roi_poller_wait: %s", n ? roi_err_name(n) : "stalled");
    for (i = 0; i < n; i++) {
      rc = ev[i].token == LISTENER_TOKEN ? accept_all(b)
                                         : finish_cycle(b, (int)ev[i].token, &ev[i]);
      if (rc)
        return rc;
    }
    if (!bu_meter_add(&m, &b->a, (double)(b->cycles - counted))) {
      counted = b->cycles;
      continue;
    }
    bu_result_meter(&b->a, &m, "cycles/s");
    return 0;
  }
}

static int memory(bench *b) {
  roi_poll_event ev[EVENTS_MAX];
  long long before, after;
  double t0;
  char extra[96];
  int i, rc;
  if (roi_poller_wait(b->p, ev, EVENTS_MAX, 0) < 0)
    return bu_fail(&b->a, "roi_poller_wait failed");
  before = bu_rss_bytes();
  t0 = bu_now();
  for (i = 0; i < b->a.conns; i++) {
    rc = roi_sock_pair_tcp(&b->s[2 * i]);
    if (rc == 0)
      rc = roi_poller_add(b->p, b->s[2 * i], ROI_POLL_READABLE, (uint64_t)(2 * i));
    if (rc == 0)
      rc = roi_poller_add(b->p, b->s[2 * i + 1], ROI_POLL_READABLE, (uint64_t)(2 * i + 1));
    if (rc != 0)
      return bu_fail(&b->a, "connection %d: %s", i, roi_err_name(rc));
  }
  rc = roi_poller_wait(b->p, ev, EVENTS_MAX, 0);
  if (rc != 0)
    return bu_fail(&b->a, "a wait over quiet connections returned %d", rc);
  after = bu_rss_bytes();
  if (before < 0 || after < 0)
    return bu_fail(&b->a, "cannot read the resident set size");
  snprintf(extra, sizeof extra, "rss_before=%lld rss_after=%lld", before, after);
  bu_result(&b->a, b->a.conns, bu_now() - t0, (double)(after - before) / b->a.conns,
            "B/conn", extra);
  return 0;
}

int main(int argc, char **argv) {
  bench b;
  int rc, i, mem;
  memset(&b, 0, sizeof b);
  b.listener = ROI_INVALID_SOCKET;
  b.a.prog = "bench_churn";
  b.a.figures = "churn memory";
  b.a.impls = "roi";
  b.a.figure = "churn";
  b.a.impl = "roi";
  rc = bu_parse(argc, argv, &b.a, MAX_CONNS, 1);
  if (rc)
    return rc == 1 ? 0 : 2;
  mem = strcmp(b.a.figure, "memory") == 0;
  b.n_s = mem ? 2 * b.a.conns : b.a.conns;
  b.s = malloc((size_t)b.n_s * sizeof *b.s);
  if (!b.s)
    return bu_fail(&b.a, "out of memory");
  for (i = 0; i < b.n_s; i++)
    b.s[i] = ROI_INVALID_SOCKET;
  rc = roi_poller_create(&b.p, b.a.backend);
  if (rc != 0)
    rc = bu_fail(&b.a, "roi_poller_create(%s): %s", b.a.backend ? b.a.backend : "default",
                 roi_err_name(rc));
  else
    rc = mem ? memory(&b) : churn(&b);
  /* Removed before closed, as poller.h asks; a socket never added makes the
   * remove fail, which is harmless here. */
  for (i = 0; i < b.n_s; i++) {
    if (b.s[i] == ROI_INVALID_SOCKET)
      continue;
    if (b.p)
      (void)roi_poller_remove(b.p, b.s[i]);
    roi_sock_close(b.s[i]);
  }
  if (b.listener != ROI_INVALID_SOCKET) {
    if (b.p)
      (void)roi_poller_remove(b.p, b.listener);
    roi_sock_close(b.listener);
  }
  roi_poller_destroy(b.p);
  free(b.s);
  return rc;
}
