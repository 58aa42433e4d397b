/*
 * Channels opened and closed by messages (docs/design.md section 5, engine list):
 * listener welcome, the same listener twice, the full Hello handshake with
 * three distinct channel numbers, ByeSignal on a listener and on a client,
 * graceful Bye, reconnect single- and multi-threaded (1,000 attempts before
 * the server exists), all of it five times in a loop, and 4 threads x 8
 * tasks at once. Over TCP/IPv4, TCP/IPv6 and AF_UNIX.
 *
 * The scenarios return 0 or -1 (after printing the failed check with both
 * values), so that threads can run them too.
 */
#include "engine_util.h"

enum { TCP4, TCP6, UDS };

#define S_CHECK(a, op, b)                                                                  \
  do {                                                                                     \
    long long a_ = (long long)(a), b_ = (long long)(b);                                    \
    if (!(a_ op b_)) {                                                                     \
      fprintf(stderr, "  %s:%d: expected %s %s %s, got %lld %s %lld\n", __FILE__,          \
              __LINE__, #a, #op, #b, a_, #op, b_);                                         \
      goto out;                                                                            \
    }                                                                                      \
  } while (0)

/* Waits for the next message and checks it is there. */
#define S_NEXT(var, g)                                                                     \
  do {                                                                                     \
    (var) = next_msg(g);                                                                   \
    S_CHECK((var) != NULL, ==, 1);                                                         \
  } while (0)

#define S_PUT(e, m) roi_engine_put((e), &(m))

/* Where a listener of this kind listens (port 0 or a fresh path). */
static void listen_addr(int kind, char *out, size_t cap, char *path, size_t path_cap) {
  if (kind == UDS) {
    uds_path(path, path_cap);
    snprintf(out, cap, "uds|%s", path);
  } else {
    snprintf(out, cap, "tcp|%s|0", kind == TCP6 ? "::1" : "127.0.0.1");
  }
}

static void connect_addr(int kind, int port, const char *path, char *out, size_t cap) {
  if (kind == UDS)
    snprintf(out, cap, "uds|%s", path);
  else
    snprintf(out, cap, "tcp|%s|%d", kind == TCP6 ? "::1" : "127.0.0.1", port);
}

/* Starts a listener; returns its channel and fills *port (TCP). */
static int start_listener(roi_engine *e, roi_group *g, const char *addr, int *port,
                          roi_post_info *info) {
  roi_message *m = NULL;
  int rc = -1;
  S_CHECK(post_open(e, g, ROI_OP_WELCOME_REQUEST, addr, info), ==, 0);
  S_NEXT(m, g);
  S_CHECK(roi_message_opcode(m), ==, ROI_OP_WELCOME_RESPONSE);
  S_CHECK(roi_message_status(m), ==, ROI_STATUS_SUCCESS);
  S_CHECK(roi_message_origin(m), ==, ROI_ORIGIN_ENGINE);
  S_CHECK(roi_message_channel(m), ==, info->channel);
  S_CHECK(roi_message_id(m), ==, info->id);
  if (port) {
    *port = listen_port_of(m);
    S_CHECK(*port, >, 0);
  }
  rc = 0;
out:
  S_PUT(e, m);
  return rc;
}

/* The server's half of a Hello: receives the HelloRequest of client cl on a
 * new channel and answers it. Returns the server channel, or 0. */
static uint16_t answer_hello(roi_engine *e, roi_group *g, const roi_post_info *cl,
                             uint16_t listener) {
  roi_message *m = NULL;
  uint16_t ch = 0;
  S_NEXT(m, g);
  S_CHECK(roi_message_opcode(m), ==, ROI_OP_HELLO_REQUEST);
  S_CHECK(roi_message_status(m), ==, ROI_STATUS_SUCCESS);
  S_CHECK(roi_message_origin(m), ==, ROI_ORIGIN_APPLICATION);
  S_CHECK(roi_message_id(m), ==, cl->id);
  S_CHECK(roi_message_channel(m), !=, listener);
  S_CHECK(roi_message_channel(m), !=, 0);
  {
    roi_header h;
    S_CHECK(roi_message_header_find(m, ROI_HEADER_CONNECT_TO, &h), ==, 1);
  }
  ch = roi_message_channel(m);
  roi_message_set_opcode(m, ROI_OP_HELLO_RESPONSE);
  S_CHECK(roi_group_post(g, &m, NULL), ==, 0);
out:
  if (m)
    S_PUT(e, m);
  return ch;
}

/* The client's half: the HelloResponse arrives on the client channel. */
static int expect_hello_response(roi_engine *e, roi_group *g, const roi_post_info *cl) {
  roi_message *m = NULL;
  int rc = -1;
  S_NEXT(m, g);
  S_CHECK(roi_message_opcode(m), ==, ROI_OP_HELLO_RESPONSE);
  S_CHECK(roi_message_status(m), ==, ROI_STATUS_SUCCESS);
  S_CHECK(roi_message_channel(m), ==, cl->channel);
  S_CHECK(roi_message_id(m), ==, cl->id);
  rc = 0;
out:
  S_PUT(e, m);
  return rc;
}

/* Reads two channel_closed Signals in any order: a on reason ra, b on rb. */
static int expect_two_closed(roi_engine *e, roi_group *g, uint16_t a, int ra, uint16_t b,
                             int rb) {
  int i, seen_a = 0, seen_b = 0, rc = -1;
  roi_message *m = NULL;
  for (i = 0; i < 2; i++) {
    S_NEXT(m, g);
    if (is_closed_signal(m, a) && !seen_a) {
      S_CHECK(reason_of(m), ==, ra);
      seen_a = 1;
    } else {
      S_CHECK(is_closed_signal(m, b), ==, 1);
      S_CHECK(reason_of(m), ==, rb);
      seen_b = 1;
    }
    S_PUT(e, m);
  }
  S_CHECK(seen_a + seen_b, ==, 2);
  rc = 0;
out:
  S_PUT(e, m);
  return rc;
}

static int expect_closed(roi_engine *e, roi_group *g, uint16_t ch, int reason) {
  roi_message *m = NULL;
  int rc = -1;
  S_NEXT(m, g);
  S_CHECK(is_closed_signal(m, ch), ==, 1);
  S_CHECK(reason_of(m), ==, reason);
  rc = 0;
out:
  S_PUT(e, m);
  return rc;
}

/* Listener welcome, the same listener twice, the handshake, ByeSignal on the
 * listener and on the client. One group holds all three channels. */
static int sc_handshake(int kind) {
  roi_engine *e = eng_new(24, 32);
  roi_group *g = NULL;
  roi_post_info l, l2, cl;
  roi_message *m = NULL;
  char addr[300], path[256] = "";
  int port = 0, rc = -1;
  uint16_t srv;
  S_CHECK(e != NULL, ==, 1);
  S_CHECK(roi_group_create(e, &g), ==, 0);
  listen_addr(kind, addr, sizeof addr, path, sizeof path);
  S_CHECK(start_listener(e, g, addr, kind == UDS ? NULL : &port, &l), ==, 0);

  /* The same address again fails, and its channel ends at once. */
  connect_addr(kind, port, path, addr, sizeof addr);
  S_CHECK(post_open(e, g, ROI_OP_WELCOME_REQUEST, addr, &l2), ==, 0);
  S_NEXT(m, g);
  S_CHECK(roi_message_opcode(m), ==, ROI_OP_WELCOME_RESPONSE);
  S_CHECK(roi_message_status(m), ==, ROI_STATUS_LISTEN_FAILED);
  S_CHECK(roi_message_channel(m), ==, l2.channel);
  S_PUT(e, m);
  S_CHECK(expect_closed(e, g, l2.channel, ROI_STATUS_LISTEN_FAILED), ==, 0);

  S_CHECK(post_open(e, g, ROI_OP_HELLO_REQUEST, addr, &cl), ==, 0);
  S_CHECK(cl.channel, !=, l.channel);
  srv = answer_hello(e, g, &cl, l.channel);
  S_CHECK(srv, !=, 0);
  S_CHECK(srv, !=, cl.channel);
  S_CHECK(expect_hello_response(e, g, &cl), ==, 0);

  /* ByeSignal on the listener closes only it. */
  S_CHECK(post_simple(e, g, ROI_OP_BYE_SIGNAL, l.channel, 0, NULL), ==, 0);
  S_CHECK(expect_closed(e, g, l.channel, ROI_STATUS_CHANNEL_CLOSED), ==, 0);
  /* The accepted channel still works: a request from the client arrives. */
  S_CHECK(post_simple(e, g, ROI_OP_REQUEST, cl.channel, 77, NULL), ==, 0);
  S_NEXT(m, g);
  S_CHECK(roi_message_opcode(m), ==, ROI_OP_REQUEST);
  S_CHECK(roi_message_channel(m), ==, srv);
  S_CHECK(roi_message_id(m), ==, 77);
  S_PUT(e, m);
  /* ByeSignal on the client closes it here, and the server side sees the
   * peer go. */
  S_CHECK(post_simple(e, g, ROI_OP_BYE_SIGNAL, cl.channel, 0, NULL), ==, 0);
  S_CHECK(expect_two_closed(e, g, cl.channel, ROI_STATUS_CHANNEL_CLOSED, srv,
                            ROI_STATUS_PEER_DISCONNECTED),
          ==, 0);
  S_CHECK(post_simple(e, g, ROI_OP_REQUEST, cl.channel, 0, NULL), ==,
          ROI_ESTATUS(ROI_STATUS_INVALID_CHANNEL_NUMBER));
  S_CHECK(roi_group_wait_receive(g, 0, &m), ==, ROI_ETIMEDOUT);
  rc = 0;
out:
  roi_message_destroy(m);
  roi_engine_destroy(e);
  return rc;
}

/* A graceful close: ByeRequest, ByeResponse, both sides closed. */
static int bye(roi_engine *ce, roi_group *cg, uint16_t cch, roi_engine *se, roi_group *sg,
               uint16_t sch) {
  roi_message *m = NULL;
  roi_post_info b;
  int rc = -1;
  S_CHECK(post_simple(ce, cg, ROI_OP_BYE_REQUEST, cch, 0, &b), ==, 0);
  S_NEXT(m, sg);
  S_CHECK(roi_message_opcode(m), ==, ROI_OP_BYE_REQUEST);
  S_CHECK(roi_message_channel(m), ==, sch);
  S_CHECK(roi_message_id(m), ==, b.id);
  roi_message_set_opcode(m, ROI_OP_BYE_RESPONSE);
  S_CHECK(roi_group_post(sg, &m, NULL), ==, 0);
  S_CHECK(expect_closed(se, sg, sch, ROI_STATUS_CHANNEL_CLOSED), ==, 0);
  S_NEXT(m, cg);
  S_CHECK(roi_message_opcode(m), ==, ROI_OP_BYE_RESPONSE);
  S_CHECK(roi_message_channel(m), ==, cch);
  S_CHECK(roi_message_id(m), ==, b.id);
  S_PUT(ce, m);
  S_CHECK(expect_closed(ce, cg, cch, ROI_STATUS_CHANNEL_CLOSED), ==, 0);
  rc = 0;
out:
  roi_message_destroy(m);
  return rc;
}

/* Reconnect, single-threaded: attempts Hellos before any server exists (each
 * answered with a failure and its channel_closed, on a new channel number
 * each time), then the server starts and the next Hello connects. */
static int sc_reconnect_st(int kind, int attempts) {
  roi_engine *ce = eng_new(16, 32), *se = eng_new(16, 32);
  roi_group *cg = NULL, *sg = NULL;
  roi_post_info cl, l;
  roi_message *m = NULL;
  unsigned char *seen = calloc(65536, 1);
  char addr[300], laddr[300], path[256] = "";
  roi_test_port port = {0, ROI_INVALID_SOCKET};
  int i, rc = -1, failure;
  uint16_t srv;
  S_CHECK(ce && se && seen, ==, 1);
  S_CHECK(roi_group_create(ce, &cg), ==, 0);
  S_CHECK(roi_group_create(se, &sg), ==, 0);
  if (kind == UDS) {
    listen_addr(kind, laddr, sizeof laddr, path, sizeof path);
    failure = ROI_STATUS_UDS_PATH_NOT_FOUND;
  } else {
    S_CHECK(roi_test_port_reserve(&port), ==, 0);
    connect_addr(kind, port.port, path, laddr, sizeof laddr);
    failure = ROI_STATUS_CONNECT_FAILED;
  }
  connect_addr(kind, port.port, path, addr, sizeof addr);
  for (i = 0; i < attempts; i++) {
    S_CHECK(post_open(ce, cg, ROI_OP_HELLO_REQUEST, addr, &cl), ==, 0);
    /* Fewer than 1,024 closes: every number is new. */
    S_CHECK(seen[cl.channel], ==, 0);
    seen[cl.channel] = 1;
    S_NEXT(m, cg);
    /* A connect that fails at once answers with a HelloResponse, one that
     * fails later returns the queued HelloRequest (tofu does both). */
    S_CHECK(roi_message_opcode(m) == ROI_OP_HELLO_REQUEST ||
                roi_message_opcode(m) == ROI_OP_HELLO_RESPONSE,
            ==, 1);
    S_CHECK(roi_message_status(m), ==, failure);
    S_CHECK(roi_message_origin(m), ==, ROI_ORIGIN_ENGINE);
    S_CHECK(roi_message_channel(m), ==, cl.channel);
    S_PUT(ce, m);
    S_CHECK(expect_closed(ce, cg, cl.channel, failure), ==, 0);
  }
  roi_test_port_release(&port);
  S_CHECK(start_listener(se, sg, laddr, NULL, &l), ==, 0);
  S_CHECK(post_open(ce, cg, ROI_OP_HELLO_REQUEST, addr, &cl), ==, 0);
  srv = answer_hello(se, sg, &cl, l.channel);
  S_CHECK(srv, !=, 0);
  S_CHECK(expect_hello_response(ce, cg, &cl), ==, 0);
  S_CHECK(bye(ce, cg, cl.channel, se, sg, srv), ==, 0);
  S_CHECK(post_simple(se, sg, ROI_OP_BYE_SIGNAL, l.channel, 0, NULL), ==, 0);
  S_CHECK(expect_closed(se, sg, l.channel, ROI_STATUS_CHANNEL_CLOSED), ==, 0);
  rc = 0;
out:
  roi_test_port_release(&port);
  roi_message_destroy(m);
  roi_engine_destroy(ce);
  roi_engine_destroy(se);
  free(seen);
  return rc;
}

/* Reconnect, multi-threaded: a client thread keeps sending Hellos while a
 * server thread starts its listener a little later; one engine, two groups. */
typedef struct mt_ctx {
  roi_engine *e;
  roi_group *cg, *sg;
  char addr[300], laddr[300];
  roi_test_port port;
  int failure;
  int client_rc, server_rc, attempts;
} mt_ctx;

static void mt_client(void *arg) {
  mt_ctx *x = arg;
  roi_message *m = NULL;
  roi_post_info cl;
  uint64_t deadline = roi__now_ms() + WAIT_MS;
  x->client_rc = -1;
  for (;;) {
    S_CHECK(roi__now_ms(), <, deadline);
    S_CHECK(post_open(x->e, x->cg, ROI_OP_HELLO_REQUEST, x->addr, &cl), ==, 0);
    x->attempts++;
    S_NEXT(m, x->cg);
    /* A failed Hello may come back as a HelloResponse too: the status
     * tells. */
    if (roi_message_opcode(m) == ROI_OP_HELLO_RESPONSE &&
        roi_message_status(m) == ROI_STATUS_SUCCESS)
      break;
    S_CHECK(roi_message_status(m), ==, x->failure);
    S_PUT(x->e, m);
    S_CHECK(expect_closed(x->e, x->cg, cl.channel, x->failure), ==, 0);
  }
  S_CHECK(roi_message_status(m), ==, ROI_STATUS_SUCCESS);
  S_CHECK(roi_message_channel(m), ==, cl.channel);
  /* Done: the client closes at once. */
  roi_message_reset(m);
  roi_message_set_opcode(m, ROI_OP_BYE_SIGNAL);
  roi_message_set_channel(m, cl.channel);
  S_CHECK(roi_group_post(x->cg, &m, NULL), ==, 0);
  S_CHECK(expect_closed(x->e, x->cg, cl.channel, ROI_STATUS_CHANNEL_CLOSED), ==, 0);
  x->client_rc = 0;
out:
  roi_message_destroy(m);
}

static void mt_server(void *arg) {
  mt_ctx *x = arg;
  roi_post_info l;
  roi_message *m = NULL;
  uint16_t srv;
  x->server_rc = -1;
  roi__sleep_ms(20);
  roi_test_port_release(&x->port);
  S_CHECK(start_listener(x->e, x->sg, x->laddr, NULL, &l), ==, 0);
  S_NEXT(m, x->sg);
  S_CHECK(roi_message_opcode(m), ==, ROI_OP_HELLO_REQUEST);
  srv = roi_message_channel(m);
  roi_message_set_opcode(m, ROI_OP_HELLO_RESPONSE);
  S_CHECK(roi_group_post(x->sg, &m, NULL), ==, 0);
  S_CHECK(expect_closed(x->e, x->sg, srv, ROI_STATUS_PEER_DISCONNECTED), ==, 0);
  S_CHECK(post_simple(x->e, x->sg, ROI_OP_BYE_SIGNAL, l.channel, 0, NULL), ==, 0);
  S_CHECK(expect_closed(x->e, x->sg, l.channel, ROI_STATUS_CHANNEL_CLOSED), ==, 0);
  x->server_rc = 0;
out:
  roi_message_destroy(m);
}

static int sc_reconnect_mt(int kind) {
  mt_ctx *x = calloc(1, sizeof *x);
  roi__thread *tc = NULL, *ts = NULL;
  char path[256] = "";
  int rc = -1;
  S_CHECK(x != NULL, ==, 1);
  x->port.holder = ROI_INVALID_SOCKET;
  x->e = eng_new(1024, 1024);
  S_CHECK(x->e != NULL, ==, 1);
  S_CHECK(roi_group_create(x->e, &x->cg), ==, 0);
  S_CHECK(roi_group_create(x->e, &x->sg), ==, 0);
  if (kind == UDS) {
    listen_addr(kind, x->laddr, sizeof x->laddr, path, sizeof path);
    x->failure = ROI_STATUS_UDS_PATH_NOT_FOUND;
  } else {
    S_CHECK(roi_test_port_reserve(&x->port), ==, 0);
    connect_addr(kind, x->port.port, path, x->laddr, sizeof x->laddr);
    x->failure = ROI_STATUS_CONNECT_FAILED;
  }
  connect_addr(kind, x->port.port, path, x->addr, sizeof x->addr);
  S_CHECK(roi__thread_create(&tc, mt_client, x), ==, 0);
  S_CHECK(roi__thread_create(&ts, mt_server, x), ==, 0);
  roi__thread_join(tc);
  roi__thread_join(ts);
  tc = ts = NULL;
  S_CHECK(x->client_rc, ==, 0);
  S_CHECK(x->server_rc, ==, 0);
  S_CHECK(x->attempts, >=, 1);
  rc = 0;
out:
  if (tc)
    roi__thread_join(tc);
  if (x) {
    roi_test_port_release(&x->port);
    roi_engine_destroy(x->e);
    free(x);
  }
  return rc;
}

static int sc_create_destroy(void) {
  int i, j, rc = -1;
  for (i = 0; i < 5; i++) {
    roi_engine *e = eng_new(16, 64);
    roi_group *g[3];
    S_CHECK(e != NULL, ==, 1);
    for (j = 0; j < 3; j++)
      S_CHECK(roi_group_create(e, &g[j]), ==, 0);
    for (j = 0; j < 3; j++)
      roi_group_destroy(g[j]);
    roi_engine_destroy(e);
  }
  rc = 0;
out:
  return rc;
}

ROI_TEST(handshake_tcp4) {
  ROI_ASSERT_EQ(sc_handshake(TCP4), 0);
}

ROI_TEST(handshake_tcp6) {
  ROI_ASSERT_EQ(sc_handshake(TCP6), 0);
}

ROI_TEST(handshake_uds) {
  if (uds_unavailable())
    ROI_TEST_SKIP(UDS_SKIP_REASON);
  ROI_ASSERT_EQ(sc_handshake(UDS), 0);
}

ROI_TEST(reconnect_single_threaded_tcp) {
  ROI_ASSERT_EQ(sc_reconnect_st(TCP4, 1000), 0);
}

ROI_TEST(reconnect_single_threaded_uds) {
  if (uds_unavailable())
    ROI_TEST_SKIP(UDS_SKIP_REASON);
  ROI_ASSERT_EQ(sc_reconnect_st(UDS, 1000), 0);
}

ROI_TEST(reconnect_multithreaded_tcp) {
  ROI_ASSERT_EQ(sc_reconnect_mt(TCP4), 0);
}

ROI_TEST(reconnect_multithreaded_uds) {
  if (uds_unavailable())
    ROI_TEST_SKIP(UDS_SKIP_REASON);
  ROI_ASSERT_EQ(sc_reconnect_mt(UDS), 0);
}

/* The kind the mixed cases use on odd rounds: AF_UNIX, or TCP where Wine
 * has no AF_UNIX (said once, so the substitution is visible). */
static int odd_kind(void) {
  static int kind = -1;
  if (kind < 0) {
    kind = uds_unavailable() ? TCP6 : UDS;
    if (kind != UDS)
      fprintf(stderr, "  AF_UNIX rounds run over TCP/IPv6: %s\n", UDS_SKIP_REASON);
  }
  return kind;
}

/* The tofu loop: every scenario above, five times. */
ROI_TEST(loop_five_times) {
  int i, odd = odd_kind();
  for (i = 0; i < 5; i++) {
    ROI_ASSERT_EQ(sc_create_destroy(), 0);
    ROI_ASSERT_EQ(sc_handshake(i % 2 ? odd : TCP4), 0);
    ROI_ASSERT_EQ(sc_reconnect_st(i % 2 ? odd : TCP4, 1000), 0);
    ROI_ASSERT_EQ(sc_reconnect_mt(i % 2 ? odd : TCP4), 0);
  }
}

/* 4 threads, each running 8 tasks (the four scenarios, twice), at once. */
typedef struct task_ctx {
  int index, failed, odd;
} task_ctx;

static void run_tasks(void *arg) {
  task_ctx *t = arg;
  int i;
  for (i = 0; i < 8; i++) {
    int kind = (t->index + i) % 2 ? t->odd : TCP4, rc;
    switch (i % 4) {
    case 0:
      rc = sc_create_destroy();
      break;
    case 1:
      rc = sc_handshake(kind);
      break;
    case 2:
      rc = sc_reconnect_st(kind, 1000);
      break;
    default:
      rc = sc_reconnect_mt(kind);
      break;
    }
    if (rc != 0) {
      fprintf(stderr, "  thread %d task %d failed\n", t->index, i);
      t->failed++;
    }
  }
}

ROI_TEST(four_threads_eight_tasks) {
  roi__thread *th[4];
  task_ctx ctx[4];
  int i, started = 0, failed = 0;
  for (i = 0; i < 4; i++) {
    ctx[i].index = i;
    ctx[i].failed = 0;
    ctx[i].odd = odd_kind();
    if (roi__thread_create(&th[i], run_tasks, &ctx[i]) == 0)
      started++;
  }
  for (i = 0; i < started; i++) {
    roi__thread_join(th[i]);
    failed += ctx[i].failed;
  }
  ROI_ASSERT_EQ(started, 4);
  ROI_ASSERT_EQ(failed, 0);
}

ROI_TEST_MAIN(ROI_TEST_ENTRY(handshake_tcp4), ROI_TEST_ENTRY(handshake_tcp6),
              ROI_TEST_ENTRY(handshake_uds), ROI_TEST_ENTRY(reconnect_single_threaded_tcp),
              ROI_TEST_ENTRY(reconnect_single_threaded_uds),
              ROI_TEST_ENTRY(reconnect_multithreaded_tcp),
              ROI_TEST_ENTRY(reconnect_multithreaded_uds), ROI_TEST_ENTRY(loop_five_times),
              ROI_TEST_ENTRY(four_threads_eight_tasks))
