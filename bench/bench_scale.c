/*
 * bench_scale: does the cost of a roi poller wait depend on the number of
 * registered sockets? (docs/design.md section 7, "Scaling".)
 *
 * One thread runs one poller. It owns --busy pairs of connected loopback TCP
 * sockets, both ends of every pair registered READABLE in that poller, and one
 * message of --size bytes per pair bounces between the two ends: whenever an
 * end has received a whole message it sends it straight back. A round trip is
 * counted each time the connecting end of a pair gets its message back. After
 * a warm-up, the round trips of --seconds are counted and their rate printed.
 *
 * With --idle M, M more connections are registered READABLE in the same
 * poller and never carry a byte. A poller whose wait costs O(registered)
 * (poll()) slows down by orders of magnitude; epoll and afd should not slow
 * down at all. scripts/bench runs the program with and without the idle
 * connections, side by side, and reports the ratio of the two rates.
 *
 * The far ends of the idle connections live in another process (idle_peer,
 * whose port --peer-port gives), because the per-process limit on open files
 * on the benchmark machine (20,000) is too low for both ends of 10,000
 * connections. Without --peer-port the program accepts them itself, which is
 * enough for small M (the smoke test).
 *
 * --idle-in tells where the idle connections are registered: "poller" (the
 * default, the measured poller), "other" (a second poller that is never
 * waited on) or "none" (connected but never registered). The last two are
 * diagnostics: they separate a cost of the measured poller from a cost that
 * merely having sockets, or pending polls anywhere in the process, brings
 * (under Wine, the wineserver's).
 *
 * The same source builds natively and for Windows; it uses only roi's
 * portable sockets and the internal platform clock.
 *
 * Output: one line of key=value pairs on stdout, for example
 *   backend=epoll busy=10 idle=10000 idle_in=poller size=64 seconds=2.000
 *   roundtrips=... rate=... (round trips per second), then diagnostic figures:
 *   events per wait, poll submissions (afd) or epoll_ctl calls per round trip,
 *   spurious READABLE reports, and the setup and teardown times.
 * Errors go to stderr with roi_strerror(); the exit status is then 1 (2 for a
 * bad command line).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "roi/error.h"
#include "roi/poller.h"
#include "roi/sock.h"
#include "platform.h"

/* Tokens: a busy socket's token is its index in bench.busy (so even = the
 * connecting end of a pair, odd = the accepted end); idle sockets carry their
 * index with IDLE_TAG; the in-process listener has a token of its own. */
#define IDLE_TAG ((uint64_t)1 << 62)
#define LISTENER_TOKEN ((uint64_t)1 << 63)

#define MAX_SIZE 4096
#define MAX_BUSY 1000
#define MAX_IDLE 100000
/* As many events per wait as libuv asks epoll for (libevent grows to more). */
#define EVENTS_MAX 1024

/* Idle connections are started this many at a time, and each batch must be
 * connected before the next starts, so that the peer's accept queue (capped
 * at SOMAXCONN, 4096 on Linux) never overflows and drops a SYN, which would
 * stall the setup for a second per retry. */
#define CONNECT_BATCH 256

/* With a message always in flight on every pair, a wait that sees nothing
 * for this long means the poller lost a readiness event: fail rather than
 * hang. The setup gets longer because Wine connects slowly. */
#define RUN_STALL_MS 5000
#define SETUP_STALL_MS 20000

/* Where the idle connections are registered (--idle-in). */
enum { IDLE_IN_POLLER, IDLE_IN_OTHER, IDLE_IN_NONE };
static const char *const idle_in_names[] = {"poller", "other", "none"};

typedef struct options {
  const char *backend; /* NULL: ROI_BACKEND or the default */
  int busy;
  int idle;
  int idle_in;   /* IDLE_IN_* */
  int peer_port; /* 0: accept the idle connections in this process */
  int size;
  double seconds;
  double warmup;
} options;

typedef struct bench {
  options opt;
  roi_poller *p;
  roi_poller *setup_p;  /* watches the idle connects, during the setup */
  roi_poller *other_p;  /* holds the idle sockets with --idle-in other */
  roi_poller *idle_p;   /* where the idle sockets go: p, other_p or NULL */
  roi_socket *busy;     /* 2 * opt.busy sockets, pair i = [2i] and [2i+1] */
  size_t *got;          /* bytes of the current message each busy end has */
  roi_socket *idle;     /* opt.idle sockets, our ends */
  unsigned char *ready; /* per idle socket: 1 once connected and in idle_p */
  roi_socket *idle_far; /* the accepted ends, without --peer-port */
  int n_idle_far;
  roi_socket listener; /* without --peer-port, during the setup */
  uint64_t roundtrips; /* completed by the connecting ends */
  uint64_t spurious;   /* READABLE reports where recv found nothing */
  unsigned char out[MAX_SIZE];
  unsigned char in[MAX_SIZE];
} bench;

/* Prints "bench_scale: WHAT: message (ROI_ENAME)" and returns 1, the exit
 * status of a failed run. */
static int fail(const char *what, int err) {
  fprintf(stderr, "bench_scale: %s: %s (%s)\n", what, roi_strerror(err), roi_err_name(err));
  return 1;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench_scale [--backend NAME] [--busy N] [--idle M] [--peer-port P]\n"
          "                   [--idle-in WHERE] [--size BYTES] [--seconds S] [--warmup S]\n"
          "  --backend   poller backend (default: ROI_BACKEND, else the platform's)\n"
          "  --busy      ping-pong connections (default 10)\n"
          "  --idle      idle registered connections (default 0)\n"
          "  --peer-port port of an idle_peer holding the far ends of the idle\n"
          "              connections (default: accept them in this process)\n"
          "  --idle-in   where the idle connections are registered: poller (the\n"
          "              measured one, default), other (a poller never waited on),\n"
          "              none (not registered)\n"
          "  --size      message size in bytes (default 64, at most 4096)\n"
          "  --seconds   measured time (default 2)\n"
          "  --warmup    time before the measurement (default 0.3)\n");
}

/* Returns 0 to run, -1 for a bad command line, 1 after --help. */
static int parse_args(int argc, char **argv, options *o) {
  int i;
  o->backend = NULL;
  o->busy = 10;
  o->idle = 0;
  o->idle_in = IDLE_IN_POLLER;
  o->peer_port = 0;
  o->size = 64;
  o->seconds = 2.0;
  o->warmup = 0.3;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int bad;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      usage(stdout);
      return 1;
    }
    if (!v) {
      fprintf(stderr, "bench_scale: unknown argument or missing value: %s\n", a);
      return -1;
    }
    bad = 0;
    if (strcmp(a, "--backend") == 0)
      o->backend = v;
    else if (strcmp(a, "--busy") == 0)
      bad = bu_parse_int(v, 1, MAX_BUSY, &o->busy);
    else if (strcmp(a, "--idle") == 0)
      bad = bu_parse_int(v, 0, MAX_IDLE, &o->idle);
    else if (strcmp(a, "--idle-in") == 0) {
      bad = -1;
      for (o->idle_in = 0; o->idle_in < 3; o->idle_in++)
        if (strcmp(v, idle_in_names[o->idle_in]) == 0) {
          bad = 0;
          break;
        }
    } else if (strcmp(a, "--peer-port") == 0)
      bad = bu_parse_int(v, 1, 65535, &o->peer_port);
    else if (strcmp(a, "--size") == 0)
      bad = bu_parse_int(v, 1, MAX_SIZE, &o->size);
    else if (strcmp(a, "--seconds") == 0)
      bad = bu_parse_seconds(v, 0.01, &o->seconds);
    else if (strcmp(a, "--warmup") == 0)
      bad = bu_parse_seconds(v, 0.0, &o->warmup);
    else {
      fprintf(stderr, "bench_scale: unknown argument: %s (try --help)\n", a);
      return -1;
    }
    if (bad) {
      fprintf(stderr, "bench_scale: bad value for %s: %s\n", a, v);
      return -1;
    }
    i++;
  }
  return 0;
}

static double seconds_since(uint64_t start_ns) {
  return (double)(roi__now_ns() - start_ns) / 1e9;
}

/* Allocates the socket arrays, every socket marked invalid so that cleanup()
 * can run at any point. */
static int alloc_arrays(bench *b) {
  size_t nb = 2 * (size_t)b->opt.busy, ni = (size_t)b->opt.idle, i;
  b->busy = malloc(nb * sizeof *b->busy);
  b->got = calloc(nb, sizeof *b->got);
  /* malloc(0) may return NULL; one spare element keeps the checks simple. */
  b->idle = malloc((ni + 1) * sizeof *b->idle);
  b->ready = calloc(ni + 1, 1);
  b->idle_far = malloc((ni + 1) * sizeof *b->idle_far);
  if (!b->busy || !b->got || !b->idle || !b->ready || !b->idle_far) {
    /* cleanup() walks the arrays it finds, so none may be left half made. */
    free(b->busy);
    free(b->got);
    free(b->idle);
    free(b->ready);
    free(b->idle_far);
    b->busy = NULL;
    b->got = NULL;
    b->idle = NULL;
    b->ready = NULL;
    b->idle_far = NULL;
    return fail("allocating the socket arrays", ROI_ENOMEM);
  }
  for (i = 0; i < nb; i++)
    b->busy[i] = ROI_INVALID_SOCKET;
  for (i = 0; i < ni; i++)
    b->idle[i] = ROI_INVALID_SOCKET;
  return 0;
}

static int setup_busy(bench *b) {
  int i, j, err;
  for (i = 0; i < b->opt.busy; i++) {
    roi_socket pair[2];
    err = roi_sock_pair_tcp(pair);
    if (err)
      return fail("roi_sock_pair_tcp", err);
    b->busy[2 * i] = pair[0];
    b->busy[2 * i + 1] = pair[1];
    for (j = 0; j < 2; j++) {
      err = roi_poller_add(b->p, pair[j], ROI_POLL_READABLE, (uint64_t)(2 * i + j));
      if (err)
        return fail("roi_poller_add (busy socket)", err);
    }
  }
  return 0;
}

/* Accepts what is waiting on the in-process listener. */
static int accept_idle(bench *b) {
  for (;;) {
    roi_socket s;
    int err = roi_sock_accept(b->listener, &s);
    if (err == ROI_EAGAIN)
      return 0;
    if (err)
      return fail("roi_sock_accept (idle connection)", err);
    if (b->n_idle_far >= b->opt.idle) {
      roi_sock_close(s);
      return fail("more connections than --idle arrived at the listener", ROI_EPROTO);
    }
    b->idle_far[b->n_idle_far++] = s;
  }
}

/* Handles one event of the setup poller. An idle socket waits there,
 * registered WRITABLE, until its connect finishes; then it moves to
 * b->idle_p (the measured poller unless --idle-in says otherwise), registered
 * READABLE for good. *pending counts the connects not finished yet. */
static int setup_event(bench *b, const roi_poll_event *ev, int *pending) {
  uint64_t k;
  int err;
  if (ev->token == LISTENER_TOKEN)
    return accept_idle(b);
  k = ev->token & ~IDLE_TAG;
  if (!(ev->token & IDLE_TAG) || k >= (uint64_t)b->opt.idle) {
    fprintf(stderr, "bench_scale: a setup event carries an unknown token 0x%llx\n",
            (unsigned long long)ev->token);
    return 1;
  }
  if (ev->events & (ROI_POLL_ERROR | ROI_POLL_HANGUP))
    return fail("connecting an idle socket", ev->error ? ev->error : ROI_ECONNRESET);
  if (b->ready[k]) {
    fprintf(stderr,
            "bench_scale: idle socket %llu reported events 0x%x to the setup poller after "
            "its removal\n",
            (unsigned long long)k, (unsigned)ev->events);
    return 1;
  }
  if (!(ev->events & ROI_POLL_WRITABLE))
    return 0;
  err = roi_poller_remove(b->setup_p, b->idle[k]);
  if (err)
    return fail("roi_poller_remove (idle socket, setup poller)", err);
  b->ready[k] = 1;
  if (b->idle_p) {
    err = roi_poller_add(b->idle_p, b->idle[k], ROI_POLL_READABLE, ev->token);
    if (err)
      return fail("roi_poller_add (idle socket)", err);
  }
  (*pending)--;
  return 0;
}

/* Connects the idle sockets. The connects are watched by a second poller of
 * the same backend, so that the measured poller only ever sees connected
 * sockets registered READABLE, and so that waiting for a batch of connects
 * costs O(batch) even with the poll backend (Wine's WSAPoll over 10,000
 * sockets takes tens of milliseconds). */
static int setup_idle(bench *b) {
  roi_poll_event events[EVENTS_MAX];
  int port = b->opt.peer_port, started = 0, err;
  if (b->opt.idle == 0)
    return 0;
  /* The setup poller is always a poll() one: it watches one batch of
   * connects at a time, so its O(registered) wait costs little, and under
   * Wine it keeps the 10,000 connects out of the wineserver's list of
   * pending AFD polls, whose walks made the setup take 10 to 20 s with an afd
   * setup poller. What is measured does not change. */
  err = roi_poller_create(&b->setup_p, "poll");
  if (err)
    return fail("roi_poller_create (setup poller)", err);
  if (b->opt.idle_in == IDLE_IN_OTHER) {
    err = roi_poller_create(&b->other_p, roi_poller_backend(b->p));
    if (err)
      return fail("roi_poller_create (other poller)", err);
  }
  b->idle_p = b->opt.idle_in == IDLE_IN_POLLER  ? b->p
              : b->opt.idle_in == IDLE_IN_OTHER ? b->other_p
                                                : NULL;
  if (port == 0) {
    err = roi_sock_listen_tcp("127.0.0.1", 0, 1024, &b->listener);
    if (err)
      return fail("roi_sock_listen_tcp", err);
    port = roi_sock_local_port(b->listener);
    if (port < 0)
      return fail("roi_sock_local_port", port);
    err = roi_poller_add(b->setup_p, b->listener, ROI_POLL_READABLE, LISTENER_TOKEN);
    if (err)
      return fail("roi_poller_add (listener)", err);
  }
  while (started < b->opt.idle) {
    int batch_end = started + CONNECT_BATCH, pending = 0;
    if (batch_end > b->opt.idle)
      batch_end = b->opt.idle;
    for (; started < batch_end; started++) {
      err = roi_sock_connect_tcp("127.0.0.1", port, &b->idle[started]);
      if (err)
        return fail("roi_sock_connect_tcp (idle connection)", err);
      err = roi_poller_add(b->setup_p, b->idle[started], ROI_POLL_WRITABLE,
                           IDLE_TAG | (uint64_t)started);
      if (err)
        return fail("roi_poller_add (idle socket, setup poller)", err);
      pending++;
    }
    /* Without a peer process, the accepts must keep up too, or the listener's
     * backlog fills. */
    while (pending > 0 || (b->opt.peer_port == 0 && b->n_idle_far < started)) {
      int i, n = roi_poller_wait(b->setup_p, events, EVENTS_MAX, SETUP_STALL_MS);
      if (n < 0)
        return fail("roi_poller_wait (setup poller)", n);
      if (n == 0) {
        fprintf(stderr,
                "bench_scale: %d connects still pending, %d of %d accepted, after %d ms "
                "without an event\n",
                pending, b->n_idle_far, started, SETUP_STALL_MS);
        return 1;
      }
      for (i = 0; i < n; i++)
        if (setup_event(b, &events[i], &pending) != 0)
          return 1;
    }
  }
  if (b->listener != ROI_INVALID_SOCKET) {
    err = roi_poller_remove(b->setup_p, b->listener);
    if (err)
      return fail("roi_poller_remove (listener)", err);
    err = roi_sock_close(b->listener);
    b->listener = ROI_INVALID_SOCKET;
    if (err)
      return fail("roi_sock_close (listener)", err);
  }
  err = roi_poller_close(b->setup_p);
  roi_poller_destroy(b->setup_p);
  b->setup_p = NULL;
  if (err)
    return fail("roi_poller_close (setup poller)", err);
  if (b->other_p) {
    /* The afd backend submits its polls in the next wait, not in
     * roi_poller_add(): one wait that does not block puts the idle sockets'
     * polls in flight, where they stay, since the poller is never waited on
     * again. */
    int n = roi_poller_wait(b->other_p, events, EVENTS_MAX, 0);
    if (n < 0)
      return fail("roi_poller_wait (other poller)", n);
    if (n > 0) {
      fprintf(stderr, "bench_scale: %d idle sockets are active in the other poller\n", n);
      return 1;
    }
  }
  return 0;
}

/* A busy end is readable: take what has arrived of its message and, once it
 * is whole, send it back. */
static int on_readable(bench *b, size_t idx) {
  size_t want = (size_t)b->opt.size - b->got[idx];
  int r = roi_sock_recv(b->busy[idx], b->in, want);
  if (r == ROI_EAGAIN) {
    b->spurious++;
    return 0;
  }
  if (r == 0) {
    fprintf(stderr, "bench_scale: busy socket %u: unexpected end of stream\n",
            (unsigned)idx);
    return 1;
  }
  if (r < 0)
    return fail("roi_sock_recv (busy socket)", r);
  b->got[idx] += (size_t)r;
  if (b->got[idx] < (size_t)b->opt.size)
    return 0;
  b->got[idx] = 0;
  if (idx % 2 == 0)
    b->roundtrips++;
  /* One message per pair is in flight, so the send buffer is always empty
   * here and a short send would be a bug worth stopping for. */
  r = roi_sock_send(b->busy[idx], b->out, (size_t)b->opt.size);
  if (r < 0)
    return fail("roi_sock_send (busy socket)", r);
  if (r != b->opt.size) {
    fprintf(stderr, "bench_scale: short send: %d of %d bytes\n", r, b->opt.size);
    return 1;
  }
  return 0;
}

static int run_event(bench *b, const roi_poll_event *ev) {
  if (ev->token & IDLE_TAG) {
    fprintf(stderr,
            "bench_scale: idle socket %llu reported events 0x%x (error %s): did the idle "
            "peer exit?\n",
            (unsigned long long)(ev->token & ~IDLE_TAG), (unsigned)ev->events,
            roi_err_name(ev->error));
    return 1;
  }
  if (ev->token >= 2 * (uint64_t)b->opt.busy) {
    fprintf(stderr, "bench_scale: an event carries an unknown token 0x%llx\n",
            (unsigned long long)ev->token);
    return 1;
  }
  if (ev->events & (ROI_POLL_ERROR | ROI_POLL_HANGUP))
    return fail("busy socket hung up", ev->error ? ev->error : ROI_ECONNRESET);
  if (ev->events & ROI_POLL_READABLE)
    return on_readable(b, (size_t)ev->token);
  return 0;
}

/* The measurement proper. Prints the result line on success. */
static int run(bench *b, double setup_s) {
  roi_poll_event events[EVENTS_MAX];
  roi_poller_stats st0, st1;
  uint64_t start, t0 = 0, t1, rt0 = 0, waits = 0, nevents = 0;
  uint64_t warm_ns = (uint64_t)(b->opt.warmup * 1e9);
  uint64_t run_ns = (uint64_t)(b->opt.seconds * 1e9);
  int i, measuring = 0, err;
  double elapsed;

  memset(&st0, 0, sizeof st0);
  for (i = 0; i < b->opt.size; i++)
    b->out[i] = (unsigned char)i;
  for (i = 0; i < b->opt.busy; i++) {
    err = roi_sock_send(b->busy[2 * i], b->out, (size_t)b->opt.size);
    if (err < 0)
      return fail("roi_sock_send (first message)", err);
    if (err != b->opt.size) {
      fprintf(stderr, "bench_scale: short send: %d of %d bytes\n", err, b->opt.size);
      return 1;
    }
  }
  start = roi__now_ns();
  for (;;) {
    uint64_t now;
    int n = roi_poller_wait(b->p, events, EVENTS_MAX, RUN_STALL_MS);
    if (n < 0)
      return fail("roi_poller_wait", n);
    if (n == 0) {
      fprintf(stderr,
              "bench_scale: no event for %d ms with %d messages in flight: the poller "
              "lost a readiness event\n",
              RUN_STALL_MS, b->opt.busy);
      return 1;
    }
    for (i = 0; i < n; i++)
      if (run_event(b, &events[i]) != 0)
        return 1;
    waits++;
    nevents += (uint64_t)n;
    now = roi__now_ns();
    if (!measuring && now - start >= warm_ns) {
      /* The counters start here; what happened in the warm-up is dropped. */
      measuring = 1;
      t0 = now;
      rt0 = b->roundtrips;
      waits = 0;
      nevents = 0;
      roi_poller_stats_get(b->p, &st0);
    } else if (measuring && now - t0 >= run_ns) {
      break;
    }
  }
  t1 = roi__now_ns();
  roi_poller_stats_get(b->p, &st1);
  elapsed = (double)(t1 - t0) / 1e9;
  {
    uint64_t rts = b->roundtrips - rt0;
    printf("backend=%s busy=%d idle=%d idle_in=%s size=%d seconds=%.3f roundtrips=%llu "
           "rate=%.1f "
           "events_per_wait=%.2f submits_per_rt=%.2f spurious=%llu setup_s=%.2f",
           roi_poller_backend(b->p), b->opt.busy, b->opt.idle,
           idle_in_names[b->opt.idle_in], b->opt.size, elapsed, (unsigned long long)rts,
           (double)rts / elapsed, waits ? (double)nevents / (double)waits : 0.0,
           rts ? (double)(st1.submits - st0.submits) / (double)rts : 0.0,
           (unsigned long long)b->spurious, setup_s);
  }
  return 0;
}

/* Deregisters and closes everything. With report set (the success path) a
 * failed remove or close is an error; after an earlier failure it is
 * expected (a socket that was never registered) and ignored. */
static int cleanup(bench *b, int report) {
  int rc = 0, i, err;
  size_t j;
  if (b->busy) {
    for (j = 0; j < 2 * (size_t)b->opt.busy; j++) {
      if (b->busy[j] == ROI_INVALID_SOCKET)
        continue;
      err = roi_poller_remove(b->p, b->busy[j]);
      if (err && report)
        rc = fail("roi_poller_remove (busy socket)", err);
      err = roi_sock_close(b->busy[j]);
      if (err && report)
        rc = fail("roi_sock_close (busy socket)", err);
    }
  }
  if (b->idle) {
    for (i = 0; i < b->opt.idle; i++) {
      if (b->idle[i] == ROI_INVALID_SOCKET)
        continue;
      /* On the success path every idle socket is in p; after a failure in
       * the setup it may still be in the setup poller. */
      if (b->ready[i])
        err = b->idle_p ? roi_poller_remove(b->idle_p, b->idle[i]) : 0;
      else
        err = b->setup_p ? roi_poller_remove(b->setup_p, b->idle[i]) : 0;
      if (err && report)
        rc = fail("roi_poller_remove (idle socket)", err);
      /* A reset rather than an orderly close: thousands of connections
       * closed this way leave no TIME_WAIT entries behind to get in the way
       * of the next run's connects. */
      err = roi_sock_abort(b->idle[i]);
      if (err && report)
        rc = fail("roi_sock_abort (idle socket)", err);
    }
  }
  for (i = 0; i < b->n_idle_far; i++)
    roi_sock_close(b->idle_far[i]);
  if (b->listener != ROI_INVALID_SOCKET) {
    if (b->setup_p)
      roi_poller_remove(b->setup_p, b->listener);
    roi_sock_close(b->listener);
  }
  /* Only a failed setup leaves the setup poller behind. */
  roi_poller_destroy(b->setup_p);
  if (b->other_p) {
    err = roi_poller_close(b->other_p);
    if (err && report)
      rc = fail("roi_poller_close (other poller)", err);
    roi_poller_destroy(b->other_p);
  }
  if (b->p) {
    err = roi_poller_close(b->p);
    if (err && report)
      rc = fail("roi_poller_close", err);
    roi_poller_destroy(b->p);
  }
  free(b->busy);
  free(b->got);
  free(b->idle);
  free(b->ready);
  free(b->idle_far);
  return rc;
}

int main(int argc, char **argv) {
  bench *b;
  uint64_t t;
  double setup_s;
  int rc, err;

  /* The state is large (the message buffers) and lives on the heap. */
  b = calloc(1, sizeof *b);
  if (!b)
    return fail("allocating the state", ROI_ENOMEM);
  b->listener = ROI_INVALID_SOCKET;
  rc = parse_args(argc, argv, &b->opt);
  if (rc != 0) {
    free(b);
    return rc > 0 ? 0 : 2;
  }

  err = roi_poller_create(&b->p, b->opt.backend);
  if (err) {
    const char *names[8];
    int i, n = roi_poller_backends(names, 8);
    fail("roi_poller_create", err);
    fprintf(stderr, "bench_scale: backends in this build:");
    for (i = 0; i < n && i < 8; i++)
      fprintf(stderr, " %s", names[i]);
    fprintf(stderr, "\n");
    free(b);
    return 1;
  }

  t = roi__now_ns();
  rc = alloc_arrays(b);
  if (rc == 0)
    rc = setup_busy(b);
  if (rc == 0)
    rc = setup_idle(b);
  setup_s = seconds_since(t);
  if (rc == 0)
    rc = run(b, setup_s);
  if (rc == 0) {
    t = roi__now_ns();
    rc = cleanup(b, 1);
    /* The teardown time ends the result line: afd cancels and drains one
     * pending poll per socket there. */
    printf(" teardown_s=%.2f\n", seconds_since(t));
  } else {
    cleanup(b, 0);
  }
  fflush(stdout);
  free(b);
  return rc;
}
