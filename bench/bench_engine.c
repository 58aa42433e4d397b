/*
 * bench_engine: the message engine's throughput and round-trip latency, the
 * roi side of the engine figures of docs/design.md section 7 (peer_zmq.c and
 * peer_nng.c measure ZeroMQ and nng the same way).
 *
 * Two engines in one process, one per side, each with its own reactor thread
 * (as each ZeroMQ context has its own I/O thread), joined by one channel over
 * TCP on 127.0.0.1: the receiving side listens on a port the system picks, the
 * sending side says Hello to it, and the benchmark answers the Hello itself.
 *
 * --figure push (the default): one-way throughput. A sender thread posts
 * Signals with a --size byte body as fast as the engine takes them; the main
 * thread receives them, checks each body's length, and gives each back to
 * its engine's pool. The messages sent are bounded, as ZeroMQ's high-water
 * mark bounds its queue: the sender takes its messages from its engine's
 * pool, where the reactor returns each message once written, and allocates
 * a new one only while fewer than WINDOW exist; past that it yields its CPU
 * until the reactor has written some. value = messages received per second.
 *
 * --figure reqrep: round trips. The main thread posts a Request with a --size
 * byte body and waits for the Response, which a server thread makes by
 * turning the Request it received around. value = round trips per second.
 *
 * Both count during --seconds after --warmup. --backend picks the poller of
 * both engines. The program builds for Linux and Windows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "platform.h"
#include "roi/roi.h"

/* The most messages the sender has made (the pool holds them between uses). */
#define WINDOW 1024
/* Every wait for a message is bounded: a stall this long fails the run. */
#define STALL_MS 5000

typedef struct side {
  roi_engine *e;
  roi_group *g;
  uint16_t channel;
} side;

typedef struct bench {
  bu_args a;
  side rx; /* listens; receives (push) or answers (reqrep) */
  side tx; /* connects; sends (push) or asks (reqrep) */
  roi__mutex *lock;
  int stop;            /* under lock */
  int failed;          /* under lock: set by the other thread on an error */
  unsigned char *body; /* --size bytes */
} bench;

static int stopping(bench *b) {
  int s;
  roi__mutex_lock(b->lock);
  s = b->stop;
  roi__mutex_unlock(b->lock);
  return s;
}

/* Called by the second thread on an error: the main thread notices it. */
static void thread_failed(bench *b) {
  roi__mutex_lock(b->lock);
  b->failed = 1;
  roi__mutex_unlock(b->lock);
}

/* Waits for the next application message of s, giving back pool_empty
 * signals (which tell the reader to return messages, as it does). */
static int next_msg(bench *b, side *s, roi_message **m) {
  for (;;) {
    int rc = roi_group_wait_receive(s->g, STALL_MS, m);
    if (rc != 0)
      return bu_fail(&b->a, "waiting for a message: %s", roi_err_name(rc));
    if (roi_message_origin(*m) != ROI_ORIGIN_ENGINE ||
        roi_message_status(*m) != ROI_STATUS_POOL_EMPTY)
      return 0;
    roi_engine_put(s->e, m);
  }
}

/* Posts an opening request (Welcome or Hello) on s; the channel number goes
 * to s->channel. */
static int post_open(bench *b, side *s, int op, const char *addr) {
  roi_message *m = NULL;
  roi_post_info info;
  int rc = roi_engine_get(s->e, ROI_GET_ALWAYS, &m);
  if (rc == 0) {
    roi_message_set_opcode(m, op);
    rc = roi_message_header_add(
        m, op == ROI_OP_WELCOME_REQUEST ? ROI_HEADER_LISTEN_ON : ROI_HEADER_CONNECT_TO,
        addr);
  }
  if (rc == 0)
    rc = roi_group_post(s->g, &m, &info);
  roi_message_destroy(m); /* NULL once posted */
  if (rc != 0)
    return bu_fail(&b->a, "posting the %s: %s",
                   op == ROI_OP_WELCOME_REQUEST ? "Welcome" : "Hello", roi_err_name(rc));
  s->channel = info.channel;
  return 0;
}

/* The port of a listener, from its Welcome response's listen_on header
 * ("tcp|127.0.0.1|PORT"). */
static int port_of(const roi_message *m) {
  roi_header h;
  char text[16];
  size_t i = 0;
  const char *bar;
  if (roi_message_header_find(m, ROI_HEADER_LISTEN_ON, &h) != 1)
    return -1;
  bar = h.value + h.value_len;
  while (bar > h.value && bar[-1] != '|')
    bar--;
  while (bar + i < h.value + h.value_len && i + 1 < sizeof text) {
    text[i] = bar[i];
    i++;
  }
  text[i] = '\0';
  return atoi(text);
}

/* Makes both engines and the channel between them. */
static int open_channel(bench *b) {
  roi_engine_options o;
  roi_message *m = NULL;
  char addr[64];
  int port;
  memset(&o, 0, sizeof o);
  o.backend = b->a.backend;
  /* The receiver's reactor may hold this many received messages, all of
   * them on the one channel: channel_share is the per-connection bound, as
   * ZeroMQ's receive high-water mark of 1,000 is, and with one channel
   * there is no other to be fair to. */
  o.pool_max = WINDOW;
  o.channel_share = WINDOW;
  if (roi_engine_create(&b->rx.e, &o) != 0 || roi_engine_create(&b->tx.e, &o) != 0 ||
      roi_group_create(b->rx.e, &b->rx.g) != 0 || roi_group_create(b->tx.e, &b->tx.g) != 0)
    return bu_fail(&b->a, "cannot make the engines (backend %s)",
                   b->a.backend ? b->a.backend : "default");
  if (post_open(b, &b->rx, ROI_OP_WELCOME_REQUEST, "tcp|127.0.0.1|0") ||
      next_msg(b, &b->rx, &m))
    return 1;
  port = port_of(m);
  if (roi_message_status(m) != ROI_STATUS_SUCCESS || port <= 0) {
    bu_fail(&b->a, "listening failed: status %s", roi_status_name(roi_message_status(m)));
    roi_message_destroy(m);
    return 1;
  }
  roi_engine_put(b->rx.e, &m);
  snprintf(addr, sizeof addr, "tcp|127.0.0.1|%d", port);
  if (post_open(b, &b->tx, ROI_OP_HELLO_REQUEST, addr) || next_msg(b, &b->rx, &m))
    return 1;
  if (roi_message_opcode(m) != ROI_OP_HELLO_REQUEST) {
    roi_message_destroy(m);
    return bu_fail(&b->a, "the listener did not get a Hello");
  }
  /* The Hello arrives on the server's new channel: answering it there opens
   * the channel on both sides. */
  b->rx.channel = roi_message_channel(m);
  roi_message_set_opcode(m, ROI_OP_HELLO_RESPONSE);
  if (roi_group_post(b->rx.g, &m, NULL) != 0) {
    roi_message_destroy(m);
    return bu_fail(&b->a, "cannot answer the Hello");
  }
  if (next_msg(b, &b->tx, &m))
    return 1;
  if (roi_message_opcode(m) != ROI_OP_HELLO_RESPONSE ||
      roi_message_status(m) != ROI_STATUS_SUCCESS) {
    bu_fail(&b->a, "the Hello failed: status %s", roi_status_name(roi_message_status(m)));
    roi_message_destroy(m);
    return 1;
  }
  roi_engine_put(b->tx.e, &m);
  return 0;
}

/* Takes a message for the sender: from the pool, or a new one while fewer
 * than WINDOW exist; NULL when the caller should yield and try again. */
static roi_message *take(bench *b, int *made) {
  roi_message *m = NULL;
  if (roi_engine_get(b->tx.e, ROI_GET_POOL_ONLY, &m) == 0)
    return m;
  if (*made < WINDOW && roi_engine_get(b->tx.e, ROI_GET_ALWAYS, &m) == 0) {
    (*made)++;
    return m;
  }
  return NULL;
}

/* Posts m (a Signal or a Request) with the --size byte body on the sending
 * side's channel; on a failure m is destroyed and the reason printed. */
static int post_body(bench *b, roi_message *m, int op) {
  int rc;
  roi_message_set_opcode(m, op);
  roi_message_set_channel(m, b->tx.channel);
  rc = roi_message_body_set(m, b->body, (size_t)b->a.size);
  if (rc == 0)
    rc = roi_group_post(b->tx.g, &m, NULL);
  if (rc == 0)
    return 0;
  roi_message_destroy(m);
  return bu_fail(&b->a, "posting opcode %d: %s", op, roi_err_name(rc));
}

/* The push sender thread. */
static void push_sender(void *arg) {
  bench *b = arg;
  int made = 0, i = 0;
  for (;;) {
    roi_message *m;
    /* Looking at the flag every message would add a lock round trip per
     * message; every 64 is often enough. */
    if (i++ % 64 == 0 && stopping(b))
      return;
    m = take(b, &made);
    if (!m) {
      roi__sleep_ms(0);
      continue;
    }
    if (post_body(b, m, ROI_OP_SIGNAL) != 0) {
      thread_failed(b);
      return;
    }
  }
}

/* The reqrep server thread: turns every Request around. */
static void reqrep_server(void *arg) {
  bench *b = arg;
  while (!stopping(b)) {
    roi_message *m = NULL;
    int rc = roi_group_wait_receive(b->rx.g, 100, &m);
    if (rc == ROI_ETIMEDOUT)
      continue;
    if (rc == 0 && roi_message_opcode(m) == ROI_OP_REQUEST) {
      roi_message_set_opcode(m, ROI_OP_RESPONSE);
      rc = roi_group_post(b->rx.g, &m, NULL);
    } else if (rc == 0) {
      bu_fail(&b->a, "the server got opcode %d status %s", roi_message_opcode(m),
              roi_status_name(roi_message_status(m)));
      rc = ROI_EPROTO;
    }
    if (rc != 0) {
      roi_message_destroy(m);
      thread_failed(b);
      return;
    }
  }
}

/* Checks a received message: the expected opcode and a body of --size. */
static int check(bench *b, const roi_message *m, int op) {
  size_t len = 0;
  roi_message_body(m, &len);
  if (roi_message_opcode(m) != op || len != (size_t)b->a.size)
    return bu_fail(&b->a, "got opcode %d (status %s) with %u bytes, want opcode %d with %d",
                   roi_message_opcode(m), roi_status_name(roi_message_status(m)),
                   (unsigned)len, op, b->a.size);
  return 0;
}

/* One unit of the measured work: a message received (push) or a round trip
 * (reqrep). */
static int step(bench *b) {
  roi_message *m = NULL;
  int rc;
  if (strcmp(b->a.figure, "push") == 0) {
    if (next_msg(b, &b->rx, &m))
      return 1;
    rc = check(b, m, ROI_OP_SIGNAL);
    roi_engine_put(b->rx.e, &m);
    return rc;
  }
  if (roi_engine_get(b->tx.e, ROI_GET_ALWAYS, &m) != 0)
    return bu_fail(&b->a, "out of memory");
  if (post_body(b, m, ROI_OP_REQUEST) != 0)
    return 1;
  if (next_msg(b, &b->tx, &m))
    return 1;
  rc = check(b, m, ROI_OP_RESPONSE);
  roi_engine_put(b->tx.e, &m);
  return rc;
}

static int measure(bench *b) {
  bu_meter m;
  unsigned long long n = 0;
  bu_meter_start(&m);
  for (;;) {
    int failed;
    if (step(b))
      return 1;
    /* The clock and the other thread are looked at every BU_STEP units,
     * as the peers look at the clock: cheap, and fine-grained enough. */
    if (++n % BU_STEP)
      continue;
    roi__mutex_lock(b->lock);
    failed = b->failed;
    roi__mutex_unlock(b->lock);
    if (failed)
      return 1;
    if (!bu_meter_add(&m, &b->a, BU_STEP))
      continue;
    bu_result_meter(&b->a, &m, strcmp(b->a.figure, "push") == 0 ? "msg/s" : "rt/s");
    return 0;
  }
}

int main(int argc, char **argv) {
  bench b;
  roi__thread *t = NULL;
  int rc, i;
  memset(&b, 0, sizeof b);
  b.a.prog = "bench_engine";
  b.a.figures = "push reqrep";
  b.a.impls = "roi";
  b.a.figure = "push";
  b.a.impl = "roi";
  rc = bu_parse(argc, argv, &b.a, 1, 65535);
  if (rc)
    return rc == 1 ? 0 : 2;
  b.lock = roi__mutex_new();
  b.body = malloc((size_t)b.a.size);
  if (!b.lock || !b.body) {
    rc = bu_fail(&b.a, "out of memory");
    goto done;
  }
  for (i = 0; i < b.a.size; i++)
    b.body[i] = (unsigned char)i;
  rc = open_channel(&b);
  if (rc)
    goto done;
  if (roi__thread_create(&t, strcmp(b.a.figure, "push") == 0 ? push_sender : reqrep_server,
                         &b) != 0) {
    rc = bu_fail(&b.a, "cannot start a thread");
    goto done;
  }
  rc = measure(&b);
  roi__mutex_lock(b.lock);
  b.stop = 1;
  roi__mutex_unlock(b.lock);
  roi__thread_join(t);
done:
  /* Destroying an engine closes its channels and frees what it holds,
   * messages still queued included. */
  roi_engine_destroy(b.tx.e);
  roi_engine_destroy(b.rx.e);
  free(b.body);
  if (b.lock)
    roi__mutex_free(b.lock);
  return rc;
}
