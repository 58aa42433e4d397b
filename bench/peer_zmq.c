/*
 * peer_zmq: ZeroMQ's figures for the message-queue comparison (impl=zmq), over
 * tcp on 127.0.0.1, a port picked by the system.
 *
 * --figure push (the default): one-way message throughput. A PULL socket
 * binds, a PUSH socket connects; a sender thread sends --size byte messages
 * as fast as it can (blocking sends, default high-water mark) and the main
 * thread receives them, checks each one's size and counts the messages of
 * --seconds after --warmup. unit=msg/s, extra mbytes_s= (megabytes per second).
 *
 * --figure reqrep: round-trip latency. A REP socket binds and a server thread
 * sends every message it receives straight back; a REQ socket connects and
 * the main thread sends --size bytes and waits for the reply, over and over.
 * unit=rt/s, extra us_per_rt= (microseconds per round trip).
 *
 * Each side has a context of its own, with its default single I/O thread, as
 * roi's side of the comparison has one engine (one reactor thread) per side.
 * Messages go through plain buffers (zmq_send/zmq_recv) on both sides, so
 * each send and each receive copies the message once.
 *
 * Every send and receive has a time limit of 100 ms, so that the threads
 * notice the stop flag and nothing ever hangs; 5 s without progress fails.
 * --conns is ignored (there is one connection) and reported as 1. The result
 * line and the command line are bench_util's. Linux only.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "bench_util.h"

#define MAX_SIZE 65536
#define IO_TIMEOUT_MS 100
#define STALL_S 5.0

typedef struct peer {
  const bu_args *a;
  void *ctx[2];        /* [0] the binding side's, [1] the connecting side's */
  void *sock[2];       /* [0] PULL or REP (binds), [1] PUSH or REQ (connects) */
  unsigned char *buf;  /* the main thread's message, size + 1 bytes */
  unsigned char *tbuf; /* the other thread's */
  atomic_int stop;     /* set by the main thread: the other thread returns */
  atomic_int failed;   /* set by the other thread once it reported an error */
} peer;

/* Called when a send or receive timed out. Returns 1 (the exit status) when
 * the other thread failed or nothing has moved for STALL_S. */
static int meter_idle(const bu_meter *ph, peer *p, const char *what) {
  if (atomic_load(&p->failed))
    return 1;
  if (bu_now() - ph->last >= STALL_S)
    return bu_fail(p->a, "no progress for %.0f s (%s)", STALL_S, what);
  return 0;
}

static int set_int(const peer *p, void *s, int option, int value, const char *what) {
  if (zmq_setsockopt(s, option, &value, sizeof value) != 0)
    return bu_fail(p->a, "zmq_setsockopt(%s): %s", what, zmq_strerror(errno));
  return 0;
}

/* Opens socket i of type type in context i, with linger 0 so that closing it
 * drops what is still queued, and the 100 ms send and receive timeouts. */
static int open_socket(peer *p, int i, int type) {
  p->ctx[i] = zmq_ctx_new();
  if (!p->ctx[i])
    return bu_fail(p->a, "zmq_ctx_new: %s", zmq_strerror(errno));
  p->sock[i] = zmq_socket(p->ctx[i], type);
  if (!p->sock[i])
    return bu_fail(p->a, "zmq_socket: %s", zmq_strerror(errno));
  if (set_int(p, p->sock[i], ZMQ_LINGER, 0, "ZMQ_LINGER") ||
      set_int(p, p->sock[i], ZMQ_SNDTIMEO, IO_TIMEOUT_MS, "ZMQ_SNDTIMEO") ||
      set_int(p, p->sock[i], ZMQ_RCVTIMEO, IO_TIMEOUT_MS, "ZMQ_RCVTIMEO"))
    return 1;
  return 0;
}

/* Binds socket 0 on a port the system picks and connects socket 1 to it. */
static int open_pair(peer *p, int bind_type, int connect_type) {
  char endpoint[256];
  size_t len = sizeof endpoint;
  if (open_socket(p, 0, bind_type) || open_socket(p, 1, connect_type))
    return 1;
  if (zmq_bind(p->sock[0], "tcp://127.0.0.1:*") != 0)
    return bu_fail(p->a, "zmq_bind: %s", zmq_strerror(errno));
  if (zmq_getsockopt(p->sock[0], ZMQ_LAST_ENDPOINT, endpoint, &len) != 0)
    return bu_fail(p->a, "zmq_getsockopt(ZMQ_LAST_ENDPOINT): %s", zmq_strerror(errno));
  if (zmq_connect(p->sock[1], endpoint) != 0)
    return bu_fail(p->a, "zmq_connect %s: %s", endpoint, zmq_strerror(errno));
  return 0;
}

/* Closes what open_pair() opened, sockets first: zmq_ctx_term() waits for
 * its context's sockets to be closed. */
static int close_pair(peer *p) {
  int i, rc = 0;
  for (i = 0; i < 2; i++)
    if (p->sock[i] && zmq_close(p->sock[i]) != 0)
      rc = bu_fail(p->a, "zmq_close: %s", zmq_strerror(errno));
  for (i = 0; i < 2; i++) {
    if (!p->ctx[i])
      continue;
    /* EINTR only means a signal interrupted the wait: wait again. */
    while (zmq_ctx_term(p->ctx[i]) != 0) {
      if (errno != EINTR) {
        rc = bu_fail(p->a, "zmq_ctx_term: %s", zmq_strerror(errno));
        break;
      }
    }
  }
  return rc;
}

/* A send or receive that timed out (or was interrupted) is retried; any
 * other failure is fatal. */
static int retry(void) {
  return errno == EAGAIN || errno == EINTR;
}

/* The sender thread of push: sends messages until the stop flag is set. */
static void *push_sender(void *arg) {
  peer *p = arg;
  while (!atomic_load(&p->stop)) {
    if (zmq_send(p->sock[1], p->tbuf, (size_t)p->a->size, 0) < 0 && !retry()) {
      bu_fail(p->a, "zmq_send (PUSH): %s", zmq_strerror(errno));
      atomic_store(&p->failed, 1);
      break;
    }
  }
  return NULL;
}

/* The server thread of reqrep: sends every request straight back. The reply
 * is retried until it goes out, since REP must send before it can receive. */
static void *rep_server(void *arg) {
  peer *p = arg;
  const char *what = "zmq_recv (REP)";
  while (!atomic_load(&p->stop)) {
    int n = zmq_recv(p->sock[0], p->tbuf, (size_t)p->a->size + 1, 0);
    if (n < 0) {
      if (retry())
        continue;
      goto failed;
    }
    /* A longer message was truncated to the buffer; the client sees the
     * wrong size and fails. */
    if (n > p->a->size + 1)
      n = p->a->size + 1;
    what = "zmq_send (REP)";
    while (zmq_send(p->sock[0], p->tbuf, (size_t)n, 0) < 0) {
      if (!retry())
        goto failed;
      if (atomic_load(&p->stop))
        return NULL;
    }
    what = "zmq_recv (REP)";
  }
  return NULL;
failed:
  bu_fail(p->a, "%s: %s", what, zmq_strerror(errno));
  atomic_store(&p->failed, 1);
  return NULL;
}

/* The main thread of push: receives and counts. */
static int run_push(peer *p, bu_meter *ph) {
  for (;;) {
    int n = zmq_recv(p->sock[0], p->buf, (size_t)p->a->size + 1, 0);
    if (n < 0) {
      if (!retry())
        return bu_fail(p->a, "zmq_recv (PULL): %s", zmq_strerror(errno));
      if (meter_idle(ph, p, "no message received"))
        return 1;
      continue;
    }
    if (n != p->a->size)
      return bu_fail(p->a, "received a message of %d bytes, expected %d", n, p->a->size);
    if (bu_meter_step(ph, p->a))
      return 0;
  }
}

/* The main thread of reqrep: one request and its reply at a time. */
static int run_reqrep(peer *p, bu_meter *ph) {
  for (;;) {
    int n;
    while (zmq_send(p->sock[1], p->buf, (size_t)p->a->size, 0) < 0) {
      if (!retry())
        return bu_fail(p->a, "zmq_send (REQ): %s", zmq_strerror(errno));
      if (meter_idle(ph, p, "the request cannot be sent"))
        return 1;
    }
    while ((n = zmq_recv(p->sock[1], p->buf, (size_t)p->a->size + 1, 0)) < 0) {
      if (!retry())
        return bu_fail(p->a, "zmq_recv (REQ): %s", zmq_strerror(errno));
      if (meter_idle(ph, p, "no reply"))
        return 1;
    }
    if (n != p->a->size)
      return bu_fail(p->a, "received a reply of %d bytes, expected %d", n, p->a->size);
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
  a.prog = "peer_zmq";
  a.figures = "push reqrep";
  a.impls = "zmq";
  a.figure = "push";
  a.impl = "zmq";
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
    rc = open_pair(&p, push ? ZMQ_PULL : ZMQ_REP, push ? ZMQ_PUSH : ZMQ_REQ);
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
  free(p.buf);
  free(p.tbuf);
  if (rc != 0)
    return rc;
  bu_result_meter(&a, &ph, push ? "msg/s" : "rt/s");
  return 0;
}
