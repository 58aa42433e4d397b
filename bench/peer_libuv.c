/*
 * peer_libuv: libuv's figures for roi's comparison benchmarks (issue 7), the
 * same measurements as roi's own programs, over the same sockets, so that
 * scripts/bench can set them side by side. One thread runs one uv_loop_t.
 *
 * --figure pingpong (the default): bench_scale's ping-pong. --conns pairs of
 * connected loopback TCP sockets (roi_sock_pair_tcp), both ends of every pair
 * handed to the loop (uv_tcp_open) and reading. One message of --size bytes
 * per pair bounces between the two ends: an end that has received a whole
 * message sends it straight back with uv_try_write. A round trip is counted
 * when the connecting end has its message back. value = round trips per
 * second (rt/s); extra: events_per_loop, the reads with data per loop
 * iteration.
 *
 * --figure churn: connect/accept/close cycles per second. --conns slots each
 * run one cycle after another: a client uv_tcp_t connects to a listener on
 * 127.0.0.1 and reads; the listener's callback accepts the connection and
 * closes it at once; the client sees end of stream, closes its handle, and
 * the cycle is counted (cycles/s).
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

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "roi/error.h"
#include "roi/sock.h"
#include "bench_util.h"

#define MAX_SIZE 4096
#define MAX_LOOP_CONNS 1000 /* pingpong and churn */
#define MAX_MEMORY_CONNS 10000
#define STALL_MS 5000
#define STALL_CHECK_MS 500

/* What libuv's reads land in. It is larger than any message, so that a read
 * never fills it: libuv reads again after a full buffer, which would cost a
 * second read() per message that roi's ping-pong does not make. */
#define IN_SIZE 65536

/* One end of a ping-pong pair. fd holds the socket until uv_tcp_open() has
 * taken it over (then ROI_INVALID_SOCKET), so that a failed setup closes
 * every socket exactly once. */
typedef struct end {
  uv_tcp_t tcp;
  roi_socket fd;
  size_t got; /* bytes of the current message received */
} end;

/* One churn slot: its client handle, reused cycle after cycle. */
typedef struct slot {
  uv_tcp_t tcp;
  uv_connect_t req;
} slot;

/* The program's state; the loop's data points to it, so every callback finds
 * it through its handle. */
typedef struct peer {
  bu_args a;
  uv_loop_t loop;
  end *ends;   /* pingpong, memory: 2 * conns, pair i = [2i] and [2i+1] */
  slot *slots; /* churn: conns */
  uv_tcp_t listener;
  struct sockaddr_in addr; /* churn: the listener's address */
  uv_timer_t phase, stall;
  uv_check_t check;
  uint64_t count; /* round trips or cycles completed */
  uint64_t reads, loops;
  uint64_t count0, reads0, loops0; /* at the start of the measurement */
  uint64_t last_count;             /* at the last stall check */
  double t0, t1, last_progress;
  int measuring, done, stopping, rc;
  char out[MAX_SIZE];
  char in[IN_SIZE];
} peer;

static peer *peer_of(const void *handle) {
  return ((const uv_handle_t *)handle)->loop->data;
}

/* Prints a libuv error and returns 1, the exit status of a failed run. */
static int fail_uv(peer *p, const char *what, int err) {
  return bu_fail(&p->a, "%s: %s (%s)", what, uv_strerror(err), uv_err_name(err));
}

/* Ends the run from a callback: the first error is kept (its message is
 * already printed) and the loop stops. */
static void halt(peer *p, int rc) {
  if (rc && !p->rc)
    p->rc = rc;
  p->stopping = 1;
  uv_stop(&p->loop);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  peer *p = peer_of(h);
  (void)suggested;
  *buf = uv_buf_init(p->in, sizeof p->in);
}

/* An end has received data: once its message is whole, send it back. */
static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  peer *p = peer_of(s);
  end *e = s->data;
  uv_buf_t out;
  int r;
  (void)buf;
  /* uv_stop() ends the loop only after the iteration: once the run is over,
   * the rest of its reads are ignored (one message for one error). */
  if (n == 0 || p->stopping) /* n == 0: EAGAIN, nothing after all */
    return;
  if (n == UV_EOF) {
    halt(p, bu_fail(&p->a, "socket %d: unexpected end of stream", (int)(e - p->ends)));
    return;
  }
  if (n < 0) {
    halt(p, fail_uv(p, "read", (int)n));
    return;
  }
  p->reads++;
  e->got += (size_t)n;
  if (e->got < (size_t)p->a.size)
    return;
  if (e->got > (size_t)p->a.size) {
    halt(p, bu_fail(&p->a, "received %zu bytes of a %d-byte message", e->got, p->a.size));
    return;
  }
  e->got = 0;
  if ((e - p->ends) % 2 == 0)
    p->count++;
  /* One message per pair is in flight, so the send buffer is empty here and
   * anything but a whole write is a bug worth stopping for. */
  out = uv_buf_init(p->out, (unsigned)p->a.size);
  r = uv_try_write(s, &out, 1);
  if (r < 0)
    halt(p, fail_uv(p, "uv_try_write", r));
  else if (r != p->a.size)
    halt(p, bu_fail(&p->a, "short write: %d of %d bytes", r, p->a.size));
}

/* Makes the pairs and registers both ends of each for reading. */
static int open_pairs(peer *p) {
  int i, r;
  p->ends = calloc(2 * (size_t)p->a.conns, sizeof *p->ends);
  if (!p->ends)
    return bu_fail(&p->a, "out of memory");
  for (i = 0; i < 2 * p->a.conns; i++)
    p->ends[i].fd = ROI_INVALID_SOCKET;
  for (i = 0; i < 2 * p->a.conns; i++) {
    end *e = &p->ends[i];
    if (i % 2 == 0) {
      roi_socket pair[2];
      r = roi_sock_pair_tcp(pair);
      if (r)
        return bu_fail(&p->a, "roi_sock_pair_tcp: %s", roi_strerror(r));
      e[0].fd = pair[0];
      e[1].fd = pair[1];
    }
    if ((r = uv_tcp_init(&p->loop, &e->tcp)) != 0)
      return fail_uv(p, "uv_tcp_init", r);
    e->tcp.data = e;
    if ((r = uv_tcp_open(&e->tcp, e->fd)) != 0)
      return fail_uv(p, "uv_tcp_open", r);
    e->fd = ROI_INVALID_SOCKET; /* the handle owns it now */
    if ((r = uv_read_start((uv_stream_t *)&e->tcp, on_alloc, on_read)) != 0)
      return fail_uv(p, "uv_read_start", r);
  }
  return 0;
}

/* The warm-up's end starts the measurement; the measurement's end stops the
 * loop. */
static void on_phase(uv_timer_t *t) {
  peer *p = peer_of(t);
  int r;
  if (p->measuring) {
    p->t1 = bu_now();
    p->done = 1;
    halt(p, 0);
    return;
  }
  p->t0 = bu_now();
  p->measuring = 1;
  p->count0 = p->count;
  p->reads0 = p->reads;
  p->loops0 = p->loops;
  r = uv_timer_start(t, on_phase, (uint64_t)(p->a.seconds * 1000.0 + 0.5), 0);
  if (r)
    halt(p, fail_uv(p, "uv_timer_start", r));
}

/* Fails the run when the count has not moved for STALL_MS. */
static void on_stall_check(uv_timer_t *t) {
  peer *p = peer_of(t);
  double now = bu_now();
  if (p->count != p->last_count) {
    p->last_count = p->count;
    p->last_progress = now;
  } else if (now - p->last_progress >= STALL_MS / 1000.0) {
    halt(p, bu_fail(&p->a, "%s: no progress for %d ms with %d connections", p->a.figure,
                    STALL_MS, p->a.conns));
  }
}

/* Runs once per loop iteration, after the poll: counts the iterations. */
static void on_check(uv_check_t *c) {
  peer_of(c)->loops++;
}

/* Starts the timers and runs the loop through the warm-up and the
 * measurement. */
static int run_loop(peer *p) {
  int r;
  if ((r = uv_timer_init(&p->loop, &p->phase)) != 0 ||
      (r = uv_timer_init(&p->loop, &p->stall)) != 0)
    return fail_uv(p, "uv_timer_init", r);
  if ((r = uv_check_init(&p->loop, &p->check)) != 0 ||
      (r = uv_check_start(&p->check, on_check)) != 0)
    return fail_uv(p, "uv_check", r);
  p->last_progress = bu_now();
  if ((r = uv_timer_start(&p->phase, on_phase, (uint64_t)(p->a.warmup * 1000.0 + 0.5),
                          0)) != 0 ||
      (r = uv_timer_start(&p->stall, on_stall_check, STALL_CHECK_MS, STALL_CHECK_MS)) != 0)
    return fail_uv(p, "uv_timer_start", r);
  uv_run(&p->loop, UV_RUN_DEFAULT); /* non-zero after uv_stop(): handles remain */
  if (p->rc)
    return p->rc;
  if (!p->done)
    return bu_fail(&p->a, "the loop ended before the measurement did");
  return 0;
}

static int figure_pingpong(peer *p) {
  double elapsed, rts, loops;
  char extra[64];
  int i, r;
  for (i = 0; i < p->a.size; i++)
    p->out[i] = (char)i;
  if ((r = open_pairs(p)) != 0)
    return r;
  /* The connecting end of each pair sends first. */
  for (i = 0; i < p->a.conns; i++) {
    uv_buf_t out = uv_buf_init(p->out, (unsigned)p->a.size);
    r = uv_try_write((uv_stream_t *)&p->ends[2 * i].tcp, &out, 1);
    if (r < 0)
      return fail_uv(p, "uv_try_write (first message)", r);
    if (r != p->a.size)
      return bu_fail(&p->a, "short write: %d of %d bytes", r, p->a.size);
  }
  if ((r = run_loop(p)) != 0)
    return r;
  elapsed = p->t1 - p->t0;
  rts = (double)(p->count - p->count0);
  loops = (double)(p->loops - p->loops0);
  snprintf(extra, sizeof extra, "events_per_loop=%.2f",
           loops > 0 ? (double)(p->reads - p->reads0) / loops : 0.0);
  bu_result(&p->a, rts, elapsed, rts / elapsed, "rt/s", extra);
  return 0;
}

static int figure_memory(peer *p) {
  long long before, after;
  double t;
  char extra[80];
  int r;
  /* The results of the two runs do not matter: the first has nothing to do,
   * the second leaves the handles active, as they should be. */
  uv_run(&p->loop, UV_RUN_NOWAIT);
  before = bu_rss_bytes();
  t = bu_now();
  if ((r = open_pairs(p)) != 0)
    return r;
  uv_run(&p->loop, UV_RUN_NOWAIT);
  after = bu_rss_bytes();
  t = bu_now() - t;
  if (before < 0 || after < 0)
    return bu_fail(&p->a, "cannot read the resident memory size");
  snprintf(extra, sizeof extra, "rss_before=%lld rss_after=%lld", before, after);
  bu_result(&p->a, p->a.conns, t, (double)(after - before) / p->a.conns, "B/conn", extra);
  return 0;
}

static void on_connected(uv_connect_t *req, int status);
static void on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);
static void on_slot_closed(uv_handle_t *h);

/* Starts a churn slot's next cycle: a new connection to the listener. */
static int start_cycle(peer *p, slot *s) {
  int r;
  if ((r = uv_tcp_init(&p->loop, &s->tcp)) != 0)
    return fail_uv(p, "uv_tcp_init (client)", r);
  s->tcp.data = s;
  r = uv_tcp_connect(&s->req, &s->tcp, (const struct sockaddr *)&p->addr, on_connected);
  if (r)
    return fail_uv(p, "uv_tcp_connect", r);
  return 0;
}

static void on_connected(uv_connect_t *req, int status) {
  peer *p = peer_of(req->handle);
  int r;
  if (p->stopping) /* a connect cancelled by the shutdown */
    return;
  if (status < 0) {
    halt(p, fail_uv(p, "connect", status));
    return;
  }
  r = uv_read_start(req->handle, on_alloc, on_client_read);
  if (r)
    halt(p, fail_uv(p, "uv_read_start (client)", r));
}

static void on_client_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  peer *p = peer_of(s);
  (void)buf;
  if (p->stopping) /* cleanup() closes the handle */
    return;
  if (n == UV_EOF)
    uv_close((uv_handle_t *)s, on_slot_closed);
  else if (n < 0)
    halt(p, fail_uv(p, "read (client)", (int)n));
  else if (n > 0)
    halt(p, bu_fail(&p->a, "a client received %zd bytes from a silent server", n));
}

/* The client's handle is closed: the cycle is complete and the slot's next
 * one starts, unless the run is ending. */
static void on_slot_closed(uv_handle_t *h) {
  peer *p = peer_of(h);
  int r;
  if (p->stopping)
    return;
  p->count++;
  if ((r = start_cycle(p, h->data)) != 0)
    halt(p, r);
}

static void free_handle(uv_handle_t *h) {
  free(h);
}

/* libuv accepts every waiting connection, one callback each; each is closed
 * at once. */
static void on_connection(uv_stream_t *listener, int status) {
  peer *p = peer_of(listener);
  uv_tcp_t *c;
  int r;
  if (status < 0) {
    halt(p, fail_uv(p, "listen callback", status));
    return;
  }
  c = malloc(sizeof *c);
  if (!c) {
    halt(p, bu_fail(&p->a, "out of memory"));
    return;
  }
  if ((r = uv_tcp_init(&p->loop, c)) != 0) {
    free(c);
    halt(p, fail_uv(p, "uv_tcp_init (accepted)", r));
    return;
  }
  r = uv_accept(listener, (uv_stream_t *)c);
  uv_close((uv_handle_t *)c, free_handle);
  if (r)
    halt(p, fail_uv(p, "uv_accept", r));
}

static int figure_churn(peer *p) {
  double elapsed, cycles;
  int i, r, len = (int)sizeof p->addr;
  if ((r = uv_tcp_init(&p->loop, &p->listener)) != 0)
    return fail_uv(p, "uv_tcp_init (listener)", r);
  if ((r = uv_ip4_addr("127.0.0.1", 0, &p->addr)) != 0 ||
      (r = uv_tcp_bind(&p->listener, (const struct sockaddr *)&p->addr, 0)) != 0 ||
      (r = uv_listen((uv_stream_t *)&p->listener, 1024, on_connection)) != 0 ||
      (r = uv_tcp_getsockname(&p->listener, (struct sockaddr *)&p->addr, &len)) != 0)
    return fail_uv(p, "listener on 127.0.0.1", r);
  p->slots = calloc((size_t)p->a.conns, sizeof *p->slots);
  if (!p->slots)
    return bu_fail(&p->a, "out of memory");
  for (i = 0; i < p->a.conns; i++)
    if ((r = start_cycle(p, &p->slots[i])) != 0)
      return r;
  if ((r = run_loop(p)) != 0)
    return r;
  elapsed = p->t1 - p->t0;
  cycles = (double)(p->count - p->count0);
  bu_result(&p->a, cycles, elapsed, cycles / elapsed, "cycles/s", NULL);
  return 0;
}

static void close_handle(uv_handle_t *h, void *arg) {
  (void)arg;
  if (!uv_is_closing(h))
    uv_close(h, NULL);
}

/* Closes every handle (cycles in flight are simply closed), lets the loop
 * run the close callbacks, and closes the loop. With report set (the success
 * path) a loop that does not close is an error. */
static int cleanup(peer *p, int report) {
  int i, r, rc = 0;
  p->stopping = 1; /* no new cycles from the close callbacks */
  for (i = 0; p->ends && i < 2 * p->a.conns; i++)
    roi_sock_close(p->ends[i].fd); /* the sockets no handle took over */
  uv_walk(&p->loop, close_handle, NULL);
  /* Closing handles never block the loop; the bound keeps a handle that
   * would not close from hanging the program. */
  for (i = 0; i < 1000 && uv_run(&p->loop, UV_RUN_NOWAIT) != 0; i++)
    ;
  r = uv_loop_close(&p->loop);
  if (r && report)
    rc = fail_uv(p, "uv_loop_close", r);
  free(p->ends);
  free(p->slots);
  return rc;
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
  int rc, r;
  /* The state is large (the buffers) and lives on the heap. */
  p = calloc(1, sizeof *p);
  if (!p) {
    fprintf(stderr, "peer_libuv: out of memory\n");
    return 1;
  }
  p->a.prog = "peer_libuv";
  p->a.figures = "pingpong churn memory";
  p->a.impls = "libuv";
  p->a.figure = "pingpong";
  p->a.impl = "libuv";
  rc = bu_parse(argc, argv, &p->a, MAX_MEMORY_CONNS, MAX_SIZE);
  if (rc == 0)
    rc = check_figure(&p->a);
  if (rc != 0) {
    free(p);
    return rc == 1 ? 0 : 2; /* 1: after --help */
  }
  if ((r = uv_loop_init(&p->loop)) != 0) {
    rc = fail_uv(p, "uv_loop_init", r);
    free(p);
    return rc;
  }
  p->loop.data = p;
  if (strcmp(p->a.figure, "pingpong") == 0)
    rc = figure_pingpong(p);
  else if (strcmp(p->a.figure, "churn") == 0)
    rc = figure_churn(p);
  else
    rc = figure_memory(p);
  r = cleanup(p, rc == 0);
  free(p);
  return rc ? rc : r;
}
