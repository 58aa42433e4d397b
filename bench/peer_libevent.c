/*
 * peer_libevent: libevent's figures for roi's comparison benchmarks (issue
 * 7), the same measurements as roi's own programs, over the same sockets, so
 * that scripts/bench can set them side by side. One thread runs one
 * event_base; the sockets are read and written with recv() and send()
 * directly, as libevent's own test/bench.c does, not through bufferevents.
 *
 * --figure pingpong (the default): bench_scale's ping-pong. --conns pairs of
 * connected loopback TCP sockets (roi_sock_pair_tcp), both ends of every pair
 * with a persistent EV_READ event. One message of --size bytes per pair
 * bounces between the two ends: an end that has received a whole message
 * sends it straight back. A round trip is counted when the connecting end has
 * its message back. value = round trips per second (rt/s).
 *
 * --figure churn: connect/accept/close cycles per second. --conns slots each
 * run one cycle after another: a client socket connects to a listener on
 * 127.0.0.1 and waits to read; the listener's event accepts every waiting
 * connection and closes it at once; the client sees end of stream, closes its
 * socket, and the cycle is counted (cycles/s).
 *
 * --figure memory: resident memory per open connection (both of its ends),
 * measured around the setup of --conns pairs registered as for pingpong
 * (B/conn); extra: rss_before, rss_after.
 *
 * Command line and result line: bench_util.h. Errors go to stderr; the exit
 * status is then 1 (2 for a bad command line). No wait is without a limit: a
 * phase without progress for 5 s fails.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "roi/error.h"
#include "roi/sock.h"
#include "bench_util.h"

#define MAX_SIZE 4096
#define MAX_LOOP_CONNS 1000 /* pingpong and churn */
#define MAX_MEMORY_CONNS 10000
#define STALL_MS 5000
#define STALL_CHECK_MS 500

typedef struct peer peer;

/* One end of a ping-pong pair, or one churn slot's client socket. A churn
 * slot keeps its event from cycle to cycle (event_assign() points it at the
 * next socket). */
typedef struct end {
  peer *p;
  struct event *ev;
  roi_socket fd;
  size_t got; /* pingpong: bytes of the current message received */
} end;

typedef struct peer {
  bu_args a;
  struct event_base *base;
  end *ends; /* pingpong, memory: 2 * conns, pair i = [2i] and [2i+1]; churn: conns */
  int n_ends;
  int churn;               /* the ends' sockets are our own (socket()) */
  roi_socket listener;     /* churn */
  struct event *accept_ev; /* churn */
  struct sockaddr_in addr; /* churn: the listener's address */
  struct event *phase, *stall;
  uint64_t count;      /* round trips or cycles completed */
  uint64_t count0;     /* at the start of the measurement */
  uint64_t last_count; /* at the last stall check */
  double t0, t1, last_progress;
  int measuring, done, stopping, rc;
  char out[MAX_SIZE];
  char in[MAX_SIZE];
} peer;

/* Prints a system error and returns 1, the exit status of a failed run. */
static int fail_sys(peer *p, const char *what, int err) {
  return bu_fail(&p->a, "%s: %s", what, strerror(err));
}

/* Ends the run from a callback: the first error is kept (its message is
 * already printed) and the loop stops. */
static void halt(peer *p, int rc) {
  if (rc && !p->rc)
    p->rc = rc;
  p->stopping = 1;
  event_base_loopbreak(p->base);
}

/* An end is readable: take what has arrived of its message and, once it is
 * whole, send it back. */
static void on_read(evutil_socket_t fd, short what, void *arg) {
  end *e = arg;
  peer *p = e->p;
  ssize_t r;
  (void)what;
  r = recv(fd, p->in, (size_t)p->a.size - e->got, 0);
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return;
  if (r < 0) {
    halt(p, fail_sys(p, "recv", errno));
    return;
  }
  if (r == 0) {
    halt(p, bu_fail(&p->a, "socket %d: unexpected end of stream", (int)(e - p->ends)));
    return;
  }
  e->got += (size_t)r;
  if (e->got < (size_t)p->a.size)
    return;
  e->got = 0;
  if ((e - p->ends) % 2 == 0)
    p->count++;
  /* One message per pair is in flight, so the send buffer is empty here and
   * anything but a whole send is a bug worth stopping for. */
  r = send(fd, p->out, (size_t)p->a.size, MSG_NOSIGNAL);
  if (r < 0)
    halt(p, fail_sys(p, "send", errno));
  else if (r != p->a.size)
    halt(p, bu_fail(&p->a, "short send: %zd of %d bytes", r, p->a.size));
}

/* Allocates the ends, every socket marked invalid so that cleanup() can run
 * at any point. */
static int alloc_ends(peer *p, int n) {
  int i;
  p->ends = calloc((size_t)n, sizeof *p->ends);
  if (!p->ends)
    return bu_fail(&p->a, "out of memory");
  p->n_ends = n;
  for (i = 0; i < n; i++) {
    p->ends[i].p = p;
    p->ends[i].fd = ROI_INVALID_SOCKET;
  }
  return 0;
}

/* Makes the pairs and registers both ends of each for reading. */
static int open_pairs(peer *p) {
  int i, r;
  if ((r = alloc_ends(p, 2 * p->a.conns)) != 0)
    return r;
  for (i = 0; i < p->n_ends; i++) {
    end *e = &p->ends[i];
    if (i % 2 == 0) {
      roi_socket pair[2];
      r = roi_sock_pair_tcp(pair);
      if (r)
        return bu_fail(&p->a, "roi_sock_pair_tcp: %s", roi_strerror(r));
      e[0].fd = pair[0];
      e[1].fd = pair[1];
    }
    e->ev = event_new(p->base, e->fd, EV_READ | EV_PERSIST, on_read, e);
    if (!e->ev)
      return bu_fail(&p->a, "event_new failed");
    if (event_add(e->ev, NULL) != 0)
      return bu_fail(&p->a, "event_add failed");
  }
  return 0;
}

static struct timeval ms_to_tv(double ms) {
  struct timeval tv;
  long long us = (long long)(ms * 1000.0 + 0.5);
  tv.tv_sec = (time_t)(us / 1000000);
  tv.tv_usec = (suseconds_t)(us % 1000000);
  return tv;
}

/* The warm-up's end starts the measurement; the measurement's end stops the
 * loop. */
static void on_phase(evutil_socket_t fd, short what, void *arg) {
  peer *p = arg;
  struct timeval tv;
  (void)fd;
  (void)what;
  if (p->measuring) {
    p->t1 = bu_now();
    p->done = 1;
    halt(p, 0);
    return;
  }
  p->t0 = bu_now();
  p->measuring = 1;
  p->count0 = p->count;
  tv = ms_to_tv(p->a.seconds * 1000.0);
  if (evtimer_add(p->phase, &tv) != 0)
    halt(p, bu_fail(&p->a, "evtimer_add failed"));
}

/* Fails the run when the count has not moved for STALL_MS. */
static void on_stall_check(evutil_socket_t fd, short what, void *arg) {
  peer *p = arg;
  double now = bu_now();
  (void)fd;
  (void)what;
  if (p->count != p->last_count) {
    p->last_count = p->count;
    p->last_progress = now;
  } else if (now - p->last_progress >= STALL_MS / 1000.0) {
    halt(p, bu_fail(&p->a, "%s: no progress for %d ms with %d connections", p->a.figure,
                    STALL_MS, p->a.conns));
  }
}

/* Starts the timers and runs the loop through the warm-up and the
 * measurement. */
static int run_loop(peer *p) {
  struct timeval warm = ms_to_tv(p->a.warmup * 1000.0), check = ms_to_tv(STALL_CHECK_MS);
  int r;
  p->phase = evtimer_new(p->base, on_phase, p);
  p->stall = event_new(p->base, -1, EV_PERSIST, on_stall_check, p);
  if (!p->phase || !p->stall)
    return bu_fail(&p->a, "evtimer_new failed");
  p->last_progress = bu_now();
  if (evtimer_add(p->phase, &warm) != 0 || evtimer_add(p->stall, &check) != 0)
    return bu_fail(&p->a, "evtimer_add failed");
  r = event_base_dispatch(p->base);
  if (p->rc)
    return p->rc;
  if (r < 0)
    return bu_fail(&p->a, "event_base_dispatch failed");
  if (!p->done)
    return bu_fail(&p->a, "the loop ended before the measurement did");
  return 0;
}

static int figure_pingpong(peer *p) {
  double elapsed, rts;
  int i, r;
  for (i = 0; i < p->a.size; i++)
    p->out[i] = (char)i;
  if ((r = open_pairs(p)) != 0)
    return r;
  /* The connecting end of each pair sends first. */
  for (i = 0; i < p->a.conns; i++) {
    ssize_t n = send(p->ends[2 * i].fd, p->out, (size_t)p->a.size, MSG_NOSIGNAL);
    if (n < 0)
      return fail_sys(p, "send (first message)", errno);
    if (n != p->a.size)
      return bu_fail(&p->a, "short send: %zd of %d bytes", n, p->a.size);
  }
  if ((r = run_loop(p)) != 0)
    return r;
  elapsed = p->t1 - p->t0;
  rts = (double)(p->count - p->count0);
  bu_result(&p->a, rts, elapsed, rts / elapsed, "rt/s", NULL);
  return 0;
}

static int figure_memory(peer *p) {
  long long before, after;
  double t;
  char extra[80];
  int r;
  if (event_base_loop(p->base, EVLOOP_NONBLOCK) < 0)
    return bu_fail(&p->a, "event_base_loop failed");
  before = bu_rss_bytes();
  t = bu_now();
  if ((r = open_pairs(p)) != 0)
    return r;
  if (event_base_loop(p->base, EVLOOP_NONBLOCK) < 0)
    return bu_fail(&p->a, "event_base_loop failed");
  after = bu_rss_bytes();
  t = bu_now() - t;
  if (before < 0 || after < 0)
    return bu_fail(&p->a, "cannot read the resident memory size");
  snprintf(extra, sizeof extra, "rss_before=%lld rss_after=%lld", before, after);
  bu_result(&p->a, p->a.conns, t, (double)(after - before) / p->a.conns, "B/conn", extra);
  return 0;
}

static void on_client(evutil_socket_t fd, short what, void *arg);

/* Starts a churn slot's next cycle: a new non-blocking socket (SOCK_NONBLOCK,
 * as roi and libuv make theirs, saves an fcntl()) connects to the listener
 * and waits to read. */
static int start_cycle(end *s) {
  peer *p = s->p;
  s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s->fd < 0)
    return fail_sys(p, "socket", errno);
  if (connect(s->fd, (const struct sockaddr *)&p->addr, sizeof p->addr) != 0 &&
      errno != EINPROGRESS)
    return fail_sys(p, "connect", errno);
  if (event_assign(s->ev, p->base, s->fd, EV_READ | EV_PERSIST, on_client, s) != 0)
    return bu_fail(&p->a, "event_assign failed");
  if (event_add(s->ev, NULL) != 0)
    return bu_fail(&p->a, "event_add failed");
  return 0;
}

/* A client is readable: the server's close (the cycle is over), or the
 * connect's failure. */
static void on_client(evutil_socket_t fd, short what, void *arg) {
  end *s = arg;
  peer *p = s->p;
  char c;
  ssize_t r = recv(fd, &c, 1, 0);
  int rc;
  (void)what;
  if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return;
  if (r < 0) {
    halt(p, fail_sys(p, "client recv (connect or reset)", errno));
    return;
  }
  if (r > 0) {
    halt(p, bu_fail(&p->a, "a client received data from a silent server"));
    return;
  }
  if (event_del(s->ev) != 0) {
    halt(p, bu_fail(&p->a, "event_del failed"));
    return;
  }
  rc = close(s->fd);
  s->fd = ROI_INVALID_SOCKET;
  if (rc != 0) {
    halt(p, fail_sys(p, "close (client)", errno));
    return;
  }
  p->count++;
  if (!p->stopping && (rc = start_cycle(s)) != 0)
    halt(p, rc);
}

/* The listener is readable: accept every waiting connection and close each
 * at once. */
static void on_accept(evutil_socket_t fd, short what, void *arg) {
  peer *p = arg;
  (void)what;
  for (;;) {
    int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return;
      if (errno != EINTR) {
        halt(p, fail_sys(p, "accept4", errno));
        return;
      }
      continue;
    }
    if (close(c) != 0) {
      halt(p, fail_sys(p, "close (accepted)", errno));
      return;
    }
  }
}

static int figure_churn(peer *p) {
  double elapsed, cycles;
  int i, r, port;
  p->churn = 1;
  if ((r = roi_sock_listen_tcp("127.0.0.1", 0, 1024, &p->listener)) != 0)
    return bu_fail(&p->a, "roi_sock_listen_tcp: %s", roi_strerror(r));
  if ((port = roi_sock_local_port(p->listener)) < 0)
    return bu_fail(&p->a, "roi_sock_local_port: %s", roi_strerror(port));
  memset(&p->addr, 0, sizeof p->addr);
  p->addr.sin_family = AF_INET;
  p->addr.sin_port = htons((uint16_t)port);
  p->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  p->accept_ev = event_new(p->base, p->listener, EV_READ | EV_PERSIST, on_accept, p);
  if (!p->accept_ev || event_add(p->accept_ev, NULL) != 0)
    return bu_fail(&p->a, "registering the listener failed");
  if ((r = alloc_ends(p, p->a.conns)) != 0)
    return r;
  for (i = 0; i < p->n_ends; i++) {
    /* An event without a socket yet; start_cycle() assigns it. */
    p->ends[i].ev = event_new(p->base, -1, 0, on_client, &p->ends[i]);
    if (!p->ends[i].ev)
      return bu_fail(&p->a, "event_new failed");
    if ((r = start_cycle(&p->ends[i])) != 0)
      return r;
  }
  if ((r = run_loop(p)) != 0)
    return r;
  elapsed = p->t1 - p->t0;
  cycles = (double)(p->count - p->count0);
  bu_result(&p->a, cycles, elapsed, cycles / elapsed, "cycles/s", NULL);
  return 0;
}

/* Frees every event (event_free() also removes it from the base) and closes
 * every socket; cycles in flight are simply closed. */
static void cleanup(peer *p) {
  int i;
  for (i = 0; i < p->n_ends; i++) {
    if (p->ends[i].ev)
      event_free(p->ends[i].ev);
    if (p->ends[i].fd == ROI_INVALID_SOCKET)
      continue;
    if (p->churn)
      close(p->ends[i].fd);
    else
      roi_sock_close(p->ends[i].fd);
  }
  if (p->accept_ev)
    event_free(p->accept_ev);
  roi_sock_close(p->listener);
  if (p->phase)
    event_free(p->phase);
  if (p->stall)
    event_free(p->stall);
  if (p->base)
    event_base_free(p->base);
  free(p->ends);
}

/* Checks the figure's bound on --conns (bu_parse() has checked its name): 0
 * or 2 (a bad command line). */
static int check_figure(const bu_args *a) {
  int max = strcmp(a->figure, "memory") == 0 ? MAX_MEMORY_CONNS : MAX_LOOP_CONNS;
  if (a->conns > max)
    return 1 + bu_fail(a, "--figure %s takes at most %d conns", a->figure, max);
  return 0;
}

int main(int argc, char **argv) {
  peer *p;
  int rc;
  /* The state is large (the buffers) and lives on the heap. */
  p = calloc(1, sizeof *p);
  if (!p) {
    fprintf(stderr, "peer_libevent: out of memory\n");
    return 1;
  }
  p->a.prog = "peer_libevent";
  p->a.figures = "pingpong churn memory";
  p->a.impls = "libevent";
  p->a.figure = "pingpong";
  p->a.impl = "libevent";
  p->listener = ROI_INVALID_SOCKET;
  rc = bu_parse(argc, argv, &p->a, MAX_MEMORY_CONNS, MAX_SIZE);
  if (rc == 0)
    rc = check_figure(&p->a);
  if (rc != 0) {
    free(p);
    return rc == 1 ? 0 : 2; /* 1: after --help */
  }
  p->base = event_base_new();
  if (!p->base)
    rc = bu_fail(&p->a, "event_base_new failed");
  else if (strcmp(p->a.figure, "pingpong") == 0)
    rc = figure_pingpong(p);
  else if (strcmp(p->a.figure, "churn") == 0)
    rc = figure_churn(p);
  else
    rc = figure_memory(p);
  cleanup(p);
  free(p);
  /* libevent's global state (its debug and locking tables) goes too, so that
   * a leak checker sees nothing left. */
  libevent_global_shutdown();
  return rc;
}
