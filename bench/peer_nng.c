/*
 * peer_nng: nng's figures for the message-queue comparison (impl=nng), over
 * tcp on 127.0.0.1, a port picked by the system.
 *
 * --figure push (the default): one-way message throughput. A pull0 socket
 * listens, a push0 socket dials; a sender thread sends --size byte messages
 * as fast as it can (blocking sends, default buffering) and the main thread
 * receives them, checks each one's size and counts the messages of --seconds
 * after --warmup. unit=msg/s, extra mbytes_s= (megabytes per second).
 *
 * --figure reqrep: round-trip latency. A rep0 socket listens and a server
 * thread sends every message it receives straight back; a req0 socket dials
 * and the main thread sends --size bytes and waits for the reply, over and
 * over. unit=rt/s, extra us_per_rt= (microseconds per round trip).
 *
 * nng has no contexts: both sockets share the library's own thread pools.
 * Messages go through plain buffers (nng_send/nng_recv without
 * NNG_FLAG_ALLOC) on both sides, so each send and each receive copies the
 * message once, as with peer_zmq.
 *
 * Every send and receive has a time limit of 100 ms, so that the threads
 * notice the stop flag and nothing ever hangs; 5 s without progress fails.
 * --conns is ignored (there is one connection) and reported as 1. The result
 * line and the command line are bench_util's. Linux only.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nng/nng.h>
#include <nng/protocol/pipeline0/pull.h>
#include <nng/protocol/pipeline0/push.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "bench_util.h"

#define MAX_SIZE 65536
#define IO_TIMEOUT_MS 100
#define STALL_S 5.0

typedef struct peer {
  const bu_args *a;
  nng_socket sock[2];  /* [0] pull0 or rep0 (listens), [1] push0 or req0 (dials) */
  int open[2];         /* whether sock[i] is open */
  unsigned char *buf;  /* the main thread's message, size + 1 bytes */
  unsigned char *tbuf; /* the other thread's */
  atomic_int stop;     /* set by the main thread: the other thread returns */
  atomic_int failed;   /* set by the other thread once it reported an error */
} peer;

typedef int (*open_fn)(nng_socket *);

/* Called when a send or receive timed out. Returns 1 (the exit status) when
 * the other thread failed or nothing has moved for STALL_S. */
static int meter_idle(const bu_meter *ph, peer *p, const char *what) {
  if (atomic_load(&p->failed))
    return 1;
  if (bu_now() - ph->last >= STALL_S)
    return bu_fail(p->a, "no progress for %.0f s (%s)", STALL_S, what);
  return 0;
}

/* Opens socket i with the 100 ms send and receive timeouts. nng_close()
 * drops what is still queued, as linger 0 does in ZeroMQ. */
static int open_socket(peer *p, int i, open_fn opener) {
  int err = opener(&p->sock[i]);
  if (err)
    return bu_fail(p->a, "opening socket %d: %s", i, nng_strerror(err));
  p->open[i] = 1;
  err = nng_socket_set_ms(p->sock[i], NNG_OPT_SENDTIMEO, IO_TIMEOUT_MS);
  if (err == 0)
    err = nng_socket_set_ms(p->sock[i], NNG_OPT_RECVTIMEO, IO_TIMEOUT_MS);
  if (err)
    return bu_fail(p->a, "nng_socket_set_ms: %s", nng_strerror(err));
  return 0;
}

/* Listens with socket 0 on a port the system picks and dials it with socket
 * 1. */
static int open_pair(peer *p, open_fn listen_open, open_fn dial_open) {
  nng_listener l;
  nng_sockaddr sa;
  char url[64];
  int err;
  if (open_socket(p, 0, listen_open) || open_socket(p, 1, dial_open))
    return 1;
  err = nng_listen(p->sock[0], "tcp://127.0.0.1:0", &l, 0);
  if (err)
    return bu_fail(p->a, "nng_listen: %s", nng_strerror(err));
  err = nng_listener_get_addr(l, NNG_OPT_LOCADDR, &sa);
  if (err)
    return bu_fail(p->a, "nng_listener_get_addr: %s", nng_strerror(err));
  if (sa.s_family != NNG_AF_INET)
    return bu_fail(p->a, "the listener's address is not IPv4 (family %d)", sa.s_family);
  snprintf(url, sizeof url, "tcp://127.0.0.1:%u", (unsigned)ntohs(sa.s_in.sa_port));
  err = nng_dial(p->sock[1], url, NULL, 0);
  if (err)
    return bu_fail(p->a, "nng_dial %s: %s", url, nng_strerror(err));
  return 0;
}

static int close_pair(peer *p) {
  int i, err, rc = 0;
  for (i = 0; i < 2; i++) {
    if (!p->open[i])
      continue;
    err = nng_close(p->sock[i]);
    if (err)
      rc = bu_fail(p->a, "nng_close: %s", nng_strerror(err));
  }
  return rc;
}

/* A send or receive that timed out is retried; any other failure is fatal. */
static int retry(int err) {
  return err == NNG_ETIMEDOUT;
}

/* The sender thread of push: sends messages until the stop flag is set. */
static void *push_sender(void *arg) {
  peer *p = arg;
  while (!atomic_load(&p->stop)) {
    int err = nng_send(p->sock[1], p->tbuf, (size_t)p->a->size, 0);
    if (err && !retry(err)) {
      bu_fail(p->a, "nng_send (push0): %s", nng_strerror(err));
      atomic_store(&p->failed, 1);
      break;
    }
  }
  return NULL;
}

/* The server thread of reqrep: sends every request straight back. The reply
 * is retried until it goes out, since rep0 must send before the request
 * counts as answered. */
static void *rep_server(void *arg) {
  peer *p = arg;
  const char *what = "nng_recv (rep0)";
  int err;
  while (!atomic_load(&p->stop)) {
    size_t n = (size_t)p->a->size + 1;
    err = nng_recv(p->sock[0], p->tbuf, &n, 0);
    if (err) {
      if (retry(err))
        continue;
      goto failed;
    }
    /* A longer message was truncated to the buffer (n may still tell its
     * full length); the client sees the wrong size and fails. */
    if (n > (size_t)p->a->size + 1)
      n = (size_t)p->a->size + 1;
    what = "nng_send (rep0)";
    while ((err = nng_send(p->sock[0], p->tbuf, n, 0)) != 0) {
      if (!retry(err))
        goto failed;
      if (atomic_load(&p->stop))
        return NULL;
    }
    what = "nng_recv (rep0)";
  }
  return NULL;
failed:
  bu_fail(p->a, "%s: %s", what, nng_strerror(err));
  atomic_store(&p->failed, 1);
  return NULL;
}

/* The main thread of push: receives and counts. */
static int run_push(peer *p, bu_meter *ph) {
  for (;;) {
    size_t n = (size_t)p->a->size + 1;
    int err = nng_recv(p->sock[0], p->buf, &n, 0);
    if (err) {
      if (!retry(err))
        return bu_fail(p->a, "nng_recv (pull0): %s", nng_strerror(err));
      if (meter_idle(ph, p, "no message received"))
        return 1;
      continue;
    }
    if (n != (size_t)p->a->size)
      return bu_fail(p->a, "received a message of %zu bytes, expected %d", n, p->a->size);
    if (bu_meter_step(ph, p->a))
      return 0;
  }
}

/* The main thread of reqrep: one request and its reply at a time. */
static int run_reqrep(peer *p, bu_meter *ph) {
  for (;;) {
    size_t n = (size_t)p->a->size + 1;
    int err;
    while ((err = nng_send(p->sock[1], p->buf, (size_t)p->a->size, 0)) != 0) {
      if (!retry(err))
        return bu_fail(p->a, "nng_send (req0): %s", nng_strerror(err));
      if (meter_idle(ph, p, "the request cannot be sent"))
        return 1;
    }
    err = nng_recv(p->sock[1], p->buf, &n, 0);
    if (err) {
      if (!retry(err))
        return bu_fail(p->a, "nng_recv (req0): %s", nng_strerror(err));
      /* A receive that times out withdraws the request (another receive
       * would fail with NNG_ESTATE), so the request is sent again; req0
       * drops a late reply to the old one. */
      if (meter_idle(ph, p, "no reply"))
        return 1;
      continue;
    }
    if (n != (size_t)p->a->size)
      return bu_fail(p->a, "received a reply of %zu bytes, expected %d", n, p->a->size);
    if (bu_meter_step(ph, p->a))
      return 0;
  }
}

int main(int argc, char **argv) {
  bu_args a;
  peer p;
  bu_meter ph;
  pthread_t thread;
  int rc, push, started = 0, err;

  memset(&a, 0, sizeof a);
  a.prog = "peer_nng";
  a.figures = "push reqrep";
  a.impls = "nng";
  a.figure = "push";
  a.impl = "nng";
  rc = bu_parse(argc, argv, &a, INT_MAX, MAX_SIZE);
  if (rc != 0)
    return rc == 1 ? 0 : 2;
  push = strcmp(a.figure, "push") == 0;
  /* One connection carries every figure, whatever --conns said. */
  a.conns = 1;

  memset(&p, 0, sizeof p);
  p.a = &a;
  atomic_init(&p.stop, 0);
  atomic_init(&p.failed, 0);
  p.buf = calloc((size_t)a.size + 1, 1);
  p.tbuf = calloc((size_t)a.size + 1, 1);
  if (!p.buf || !p.tbuf)
    rc = bu_fail(&a, "out of memory");
  if (rc == 0)
    rc = open_pair(&p, push ? nng_pull0_open : nng_rep0_open,
                   push ? nng_push0_open : nng_req0_open);
  if (rc == 0) {
    err = pthread_create(&thread, NULL, push ? push_sender : rep_server, &p);
    if (err != 0)
      rc = bu_fail(&a, "pthread_create: %s", strerror(err));
    started = err == 0;
  }
  if (rc == 0) {
    bu_meter_start(&ph);
    rc = push ? run_push(&p, &ph) : run_reqrep(&p, &ph);
  }
  if (started) {
    atomic_store(&p.stop, 1);
    err = pthread_join(thread, NULL);
    if (err != 0)
      rc = bu_fail(&a, "pthread_join: %s", strerror(err));
    if (atomic_load(&p.failed))
      rc = 1;
  }
  if (close_pair(&p) != 0)
    rc = 1;
  /* Frees the library's global state (its thread pools), so that a leak
   * checker sees only what this program leaked. */
  nng_fini();
  free(p.buf);
  free(p.tbuf);
  if (rc != 0)
    return rc;
  bu_result_meter(&a, &ph, push ? "msg/s" : "rt/s");
  return 0;
}
