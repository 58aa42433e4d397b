/*
 * The engine's calls without a peer: argument checks, every refusal of
 * roi_group_post() with its exact status, addresses answered by a status
 * message, update_receiver, the pool, and engines and groups made and
 * destroyed repeatedly.
 */
#include "engine_util.h"
#include "message_int.h"

/* Posts m and expects the refusal status; the message stays with the caller
 * and keeps the reason in its status byte. */
#define EXPECT_REFUSED(g, m, status)                                                       \
  do {                                                                                     \
    roi_message *held_ = (m);                                                              \
    int rc_ = roi_group_post((g), &(m), NULL);                                             \
    ROI_ASSERT_EQ(rc_, ROI_ESTATUS(status));                                               \
    ROI_ASSERT_EQ(roi_err_status(rc_), (status));                                          \
    ROI_ASSERT_TRUE((m) == held_);                                                         \
    ROI_ASSERT_EQ(roi_message_status(m), (status));                                        \
  } while (0)

ROI_TEST(arguments) {
  roi_engine *e = NULL;
  roi_group *g = NULL;
  roi_message *m = NULL;
  roi_engine_options o;
  memset(&o, 0, sizeof o);
  ROI_ASSERT_EQ(roi_engine_create(NULL, NULL), ROI_EINVAL);
  o.pool_initial = 10;
  o.pool_max = 5;
  ROI_ASSERT_EQ(roi_engine_create(&e, &o), ROI_EINVAL);
  ROI_ASSERT_TRUE(e == NULL);
  /* A channel's share cannot be more than the whole pool. */
  o.pool_max = 10;
  o.channel_share = 11;
  ROI_ASSERT_EQ(roi_engine_create(&e, &o), ROI_EINVAL);
  ROI_ASSERT_TRUE(e == NULL);
  o.channel_share = 0;
  o.pool_max = 0;
  o.backend = "no-such-backend";
  ROI_ASSERT_NE(roi_engine_create(&e, &o), 0);
  ROI_ASSERT_TRUE(e == NULL);
  e = eng_new(0, 0);
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(NULL, &g), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_group_create(e, NULL), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  ROI_ASSERT_EQ(roi_engine_get(NULL, ROI_GET_ALWAYS, &m), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_engine_get(e, (roi_get_strategy)7, &m), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_engine_put(NULL, &m), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_engine_put(e, NULL), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_group_post(NULL, &m, NULL), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_group_post(g, NULL, NULL), ROI_EINVAL);
  m = NULL;
  ROI_ASSERT_EQ(roi_group_post(g, &m, NULL), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_group_wait_receive(NULL, 0, &m), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_group_wait_receive(g, 0, NULL), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_group_update_receiver(NULL, &m), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_group_wait_receive(g, 0, &m), ROI_ETIMEDOUT);
  ROI_ASSERT_TRUE(m == NULL);
  ROI_ASSERT_STR_EQ(roi_err_name(ROI_ESTATUS(ROI_STATUS_POOL_EMPTY)),
                    "ROI_ESTATUS(ROI_STATUS_POOL_EMPTY)");
  ROI_ASSERT_STR_EQ(roi_strerror(ROI_ESTATUS(ROI_STATUS_INVALID_OP_CODE)),
                    "message refused: invalid opcode");
  ROI_ASSERT_EQ(roi_err_status(ROI_EINVAL), -1);
  roi_group_destroy(g);
  roi_engine_destroy(e);
  roi_engine_destroy(NULL);
  roi_group_destroy(NULL);
}

ROI_TEST(illegal_messages) {
  roi_engine *e = eng_new(4, 8);
  roi_group *g = NULL, *other = NULL;
  roi_message *m;
  roi_post_info info;
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  ROI_ASSERT_EQ(roi_group_create(e, &other), 0);

  /* A message straight from the pool: a Request on channel 0. */
  ROI_ASSERT_EQ(roi_engine_get(e, ROI_GET_ALWAYS, &m), 0);
  EXPECT_REFUSED(g, m, ROI_STATUS_INVALID_CHANNEL_NUMBER);
  /* A ByeRequest without a channel. */
  roi_message_set_opcode(m, ROI_OP_BYE_REQUEST);
  EXPECT_REFUSED(g, m, ROI_STATUS_INVALID_CHANNEL_NUMBER);
  /* A channel nobody opened. */
  roi_message_set_opcode(m, ROI_OP_REQUEST);
  roi_message_set_channel(m, 1234);
  EXPECT_REFUSED(g, m, ROI_STATUS_INVALID_CHANNEL_NUMBER);
  /* Opcodes 10..15 do not exist. */
  roi_message_set_opcode(m, 12);
  EXPECT_REFUSED(g, m, ROI_STATUS_INVALID_OP_CODE);
  /* Origin engine is no refusal: post() clears it (and the status byte) as
   * tofu's check_and_prepare does; the refusal here is for the channel. */
  roi_message_set_opcode(m, ROI_OP_REQUEST);
  roi_message_set_origin(m, ROI_ORIGIN_ENGINE);
  roi_message_set_status(m, 0x5A);
  EXPECT_REFUSED(g, m, ROI_STATUS_INVALID_CHANNEL_NUMBER);
  ROI_ASSERT_EQ(roi_message_origin(m), ROI_ORIGIN_APPLICATION);
  /* The engine's own: a WelcomeResponse, bit 7. */
  roi_message_set_opcode(m, ROI_OP_WELCOME_RESPONSE);
  EXPECT_REFUSED(g, m, ROI_STATUS_NOT_ALLOWED);
  roi_message_set_opcode(m, ROI_OP_REQUEST);
  m->proto |= 0x80;
  EXPECT_REFUSED(g, m, ROI_STATUS_NOT_ALLOWED);
  m->proto &= 0x7F;
  /* The more flag belongs to requests, responses and signals. */
  roi_message_set_opcode(m, ROI_OP_BYE_REQUEST);
  roi_message_set_more(m, 1);
  EXPECT_REFUSED(g, m, ROI_STATUS_INVALID_MORE_USAGE);
  roi_message_set_more(m, 0);
  /* Responses answer a message id. */
  roi_message_set_opcode(m, ROI_OP_RESPONSE);
  EXPECT_REFUSED(g, m, ROI_STATUS_INVALID_MESSAGE_ID);
  roi_message_set_opcode(m, ROI_OP_HELLO_RESPONSE);
  EXPECT_REFUSED(g, m, ROI_STATUS_INVALID_MESSAGE_ID);
  roi_message_set_opcode(m, ROI_OP_BYE_RESPONSE);
  EXPECT_REFUSED(g, m, ROI_STATUS_INVALID_MESSAGE_ID);
  roi_message_reset(m);

  /* Hello and Welcome requests. */
  roi_message_set_opcode(m, ROI_OP_HELLO_REQUEST);
  EXPECT_REFUSED(g, m, ROI_STATUS_WRONG_ADDRESS);
  roi_message_set_opcode(m, ROI_OP_WELCOME_REQUEST);
  EXPECT_REFUSED(g, m, ROI_STATUS_WRONG_ADDRESS);
  roi_message_set_opcode(m, ROI_OP_HELLO_REQUEST);
  roi_message_set_more(m, 1);
  EXPECT_REFUSED(g, m, ROI_STATUS_INVALID_MORE_USAGE);
  roi_message_set_more(m, 0);
  {
    static const char *bad[] = {"tcp",
                                "tcp|127.0.0.1",
                                "tcp|127.0.0.1|",
                                "tcp|127.0.0.1|x",
                                "tcp|127.0.0.1|70000",
                                "tcp|1.2.3.4|-1",
                                "udp|1.2.3.4|80",
                                "unix|/tmp/x",
                                "tcp||"};
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      roi_message_reset(m);
      roi_message_set_opcode(m, i % 2 ? ROI_OP_WELCOME_REQUEST : ROI_OP_HELLO_REQUEST);
      ROI_ASSERT_EQ(roi_message_header_add(
                        m, i % 2 ? ROI_HEADER_LISTEN_ON : ROI_HEADER_CONNECT_TO, bad[i]),
                    0);
      EXPECT_REFUSED(g, m, ROI_STATUS_INVALID_ADDRESS);
    }
  }
  /* A Hello must not name a channel: the engine gives it one. */
  roi_message_reset(m);
  roi_message_set_opcode(m, ROI_OP_HELLO_REQUEST);
  roi_message_set_channel(m, 7);
  ROI_ASSERT_EQ(roi_message_header_add(m, ROI_HEADER_CONNECT_TO, "tcp|127.0.0.1|1"), 0);
  EXPECT_REFUSED(g, m, ROI_STATUS_INVALID_CHANNEL_NUMBER);
  roi_engine_put(e, &m);
  ROI_ASSERT_TRUE(m == NULL);

  /* A channel of another group is not this group's to use. */
  {
    roi_message *r;
    ROI_ASSERT_EQ(post_open(e, other, ROI_OP_WELCOME_REQUEST, "tcp|127.0.0.1|0", &info), 0);
    r = next_msg(other);
    ROI_ASSERT_TRUE(r != NULL);
    ROI_ASSERT_EQ(roi_message_status(r), ROI_STATUS_SUCCESS);
    roi_engine_put(e, &r);
    m = msg_new(e, ROI_OP_BYE_SIGNAL, info.channel, NULL, NULL);
    EXPECT_REFUSED(g, m, ROI_STATUS_INVALID_GROUP);
    /* A listener carries no data. */
    roi_message_set_opcode(m, ROI_OP_REQUEST);
    ROI_ASSERT_EQ(roi_group_post(other, &m, NULL), 0);
    r = next_msg(other);
    ROI_ASSERT_TRUE(r != NULL);
    ROI_ASSERT_EQ(roi_message_status(r), ROI_STATUS_NOT_ALLOWED);
    ROI_ASSERT_EQ(roi_message_origin(r), ROI_ORIGIN_ENGINE);
    roi_engine_put(e, &r);
  }
  roi_group_destroy(other);
  roi_group_destroy(g);
  roi_engine_destroy(e);
}

/* Either opcode for answer_op: a Hello whose connect may fail at once (a
 * HelloResponse) or later (the queued HelloRequest comes back), depending on
 * the system. */
#define HELLO_EITHER (-1)

/* Posts a Hello or Welcome that parses but cannot work, and expects the
 * request (or its response, answer_op) back with status, then the channel's
 * channel_closed Signal. */
static void expect_answered(int op, const char *addr, int status, int answer_op) {
  roi_engine *e = eng_new(4, 8);
  roi_group *g = NULL;
  roi_post_info info;
  roi_message *r;
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  ROI_ASSERT_EQ(post_open(e, g, op, addr, &info), 0);
  ROI_ASSERT_GE(info.channel, 1);
  ROI_ASSERT_LE(info.channel, 65534);
  ROI_ASSERT_GE(info.id, 1);
  r = next_msg(g);
  ROI_ASSERT_TRUE(r != NULL);
  if (answer_op == HELLO_EITHER)
    ROI_ASSERT_TRUE(roi_message_opcode(r) == ROI_OP_HELLO_REQUEST ||
                    roi_message_opcode(r) == ROI_OP_HELLO_RESPONSE);
  else
    ROI_ASSERT_EQ(roi_message_opcode(r), answer_op);
  ROI_ASSERT_EQ(roi_message_status(r), status);
  ROI_ASSERT_EQ(roi_message_origin(r), ROI_ORIGIN_ENGINE);
  ROI_ASSERT_EQ(roi_message_channel(r), info.channel);
  ROI_ASSERT_EQ(roi_message_id(r), info.id);
  roi_engine_put(e, &r);
  r = next_msg(g);
  ROI_ASSERT_TRUE(is_closed_signal(r, info.channel));
  ROI_ASSERT_EQ(reason_of(r), status);
  ROI_ASSERT_EQ(roi_message_id(r), info.id);
  roi_engine_put(e, &r);
  /* The channel is gone: nothing more may use it. */
  ROI_ASSERT_EQ(post_simple(e, g, ROI_OP_REQUEST, info.channel, 0, NULL),
                ROI_ESTATUS(ROI_STATUS_INVALID_CHANNEL_NUMBER));
  ROI_ASSERT_EQ(roi_group_wait_receive(g, 0, &r), ROI_ETIMEDOUT);
  roi_group_destroy(g);
  roi_engine_destroy(e);
}

ROI_TEST(hello_to_nobody) {
  char addr[64];
  roi_test_port port;
  ROI_ASSERT_EQ(roi_test_port_reserve(&port), 0);
  snprintf(addr, sizeof addr, "tcp|127.0.0.1|%d", port.port);
  expect_answered(ROI_OP_HELLO_REQUEST, addr, ROI_STATUS_CONNECT_FAILED, HELLO_EITHER);
  roi_test_port_release(&port);
}

ROI_TEST(hello_to_unknown_host) {
  /* Known at post() time: answered at once, with a HelloResponse (tofu). */
  expect_answered(ROI_OP_HELLO_REQUEST, "tcp|no-such-host.invalid|80",
                  ROI_STATUS_INVALID_ADDRESS, ROI_OP_HELLO_RESPONSE);
}

ROI_TEST(hello_to_missing_uds_path) {
  char path[200], addr[220];
  uds_path(path, sizeof path);
  snprintf(addr, sizeof addr, "uds|%s", path);
  expect_answered(ROI_OP_HELLO_REQUEST, addr, ROI_STATUS_UDS_PATH_NOT_FOUND,
                  ROI_OP_HELLO_RESPONSE);
}

ROI_TEST(welcome_on_foreign_address) {
  /* 192.0.2.1 (TEST-NET-1) is nobody's local address: bind fails. */
  expect_answered(ROI_OP_WELCOME_REQUEST, "tcp|192.0.2.1|3298", ROI_STATUS_INVALID_ADDRESS,
                  ROI_OP_WELCOME_RESPONSE);
}

/* A listener whose backlog is full and that never accepts: further SYNs are
 * dropped, so a connect neither completes nor fails on its own for about
 * two minutes. The engine's connect timeout ends it. (Where the system
 * answers a full backlog with a reset instead, the answer is the same.) */
ROI_TEST(hello_connect_timeout) {
  roi_engine_options o;
  roi_engine *e = NULL;
  roi_group *g = NULL;
  roi_socket l = ROI_INVALID_SOCKET, fill[8];
  roi_post_info info;
  roi_message *r;
  char addr[64];
  uint64_t start;
  int i, port;
  memset(&o, 0, sizeof o);
  o.connect_timeout_ms = 300;
  ROI_ASSERT_EQ(roi_engine_create(&e, &o), 0);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  ROI_ASSERT_EQ(roi_sock_listen_tcp("127.0.0.1", 0, 1, &l), 0);
  port = roi_sock_local_port(l);
  for (i = 0; i < 8; i++)
    ROI_ASSERT_EQ(roi_sock_connect_tcp("127.0.0.1", port, &fill[i]), 0);
  roi__sleep_ms(100);
  snprintf(addr, sizeof addr, "tcp|127.0.0.1|%d", port);
  start = roi__now_ms();
  ROI_ASSERT_EQ(post_open(e, g, ROI_OP_HELLO_REQUEST, addr, &info), 0);
  r = next_msg(g);
  ROI_ASSERT_TRUE(r != NULL);
  fprintf(stderr, "  answered after %d ms\n", (int)(roi__now_ms() - start));
  ROI_ASSERT_EQ(roi_message_opcode(r), ROI_OP_HELLO_REQUEST);
  ROI_ASSERT_EQ(roi_message_status(r), ROI_STATUS_CONNECT_FAILED);
  roi_engine_put(e, &r);
  r = next_msg(g);
  ROI_ASSERT_TRUE(is_closed_signal(r, info.channel));
  ROI_ASSERT_EQ(reason_of(r), ROI_STATUS_CONNECT_FAILED);
  roi_engine_put(e, &r);
  roi_engine_destroy(e);
  for (i = 0; i < 8; i++)
    roi_sock_close(fill[i]);
  roi_sock_close(l);
}

ROI_TEST(update_receiver) {
  roi_engine *e = eng_new(4, 8);
  roi_group *g = NULL;
  roi_message *m = NULL;
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  ROI_ASSERT_EQ(roi_group_wait_receive(g, 1, &m), ROI_ETIMEDOUT);
  /* NULL: the engine's own signal. */
  ROI_ASSERT_EQ(roi_group_update_receiver(g, NULL), 0);
  ROI_ASSERT_EQ(roi_group_update_receiver(g, &m), 0);
  ROI_ASSERT_EQ(roi_group_wait_receive(g, 100, &m), 0);
  ROI_ASSERT_EQ(roi_message_opcode(m), ROI_OP_SIGNAL);
  ROI_ASSERT_EQ(roi_message_origin(m), ROI_ORIGIN_ENGINE);
  ROI_ASSERT_EQ(roi_message_status(m), ROI_STATUS_RECEIVER_UPDATE);
  ROI_ASSERT_EQ(roi_message_channel(m), 0);
  ROI_ASSERT_EQ(roi_message_id(m), 0);
  roi_engine_put(e, &m);
  ROI_ASSERT_EQ(roi_group_wait_receive(g, 100, &m), 0);
  ROI_ASSERT_EQ(roi_message_status(m), ROI_STATUS_RECEIVER_UPDATE);
  /* An application message goes in as it is, marked receiver_update. */
  roi_message_set_opcode(m, ROI_OP_REQUEST);
  roi_message_set_status(m, 0);
  roi_message_set_id(m, 1);
  ROI_ASSERT_EQ(roi_message_body_set(m, "wake", 4), 0);
  ROI_ASSERT_EQ(roi_group_update_receiver(g, &m), 0);
  ROI_ASSERT_TRUE(m == NULL);
  ROI_ASSERT_EQ(roi_group_wait_receive(g, 100, &m), 0);
  ROI_ASSERT_EQ(roi_message_opcode(m), ROI_OP_REQUEST);
  ROI_ASSERT_EQ(roi_message_origin(m), ROI_ORIGIN_APPLICATION);
  ROI_ASSERT_EQ(roi_message_status(m), ROI_STATUS_RECEIVER_UPDATE);
  ROI_ASSERT_EQ(roi_message_id(m), 1);
  {
    size_t len;
    const void *body = roi_message_body(m, &len);
    ROI_ASSERT_EQ(len, 4);
    ROI_ASSERT_EQ(memcmp(body, "wake", 4), 0);
  }
  roi_message_destroy(m);
  ROI_ASSERT_EQ(roi_group_wait_receive(g, 0, &m), ROI_ETIMEDOUT);
  roi_group_destroy(g);
  roi_engine_destroy(e);
}

/* Another thread's update_receiver wakes a consumer blocked without limit. */
static roi_group *wake_group;
static void wake_later(void *arg) {
  (void)arg;
  roi__sleep_ms(50);
  (void)roi_group_update_receiver(wake_group, NULL);
}

ROI_TEST(update_receiver_wakes_a_blocked_consumer) {
  roi_engine *e = eng_new(4, 8);
  roi__thread *t = NULL;
  roi_message *m = NULL;
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &wake_group), 0);
  ROI_ASSERT_EQ(roi__thread_create(&t, wake_later, NULL), 0);
  ROI_ASSERT_EQ(roi_group_wait_receive(wake_group, -1, &m), 0);
  roi__thread_join(t);
  ROI_ASSERT_EQ(roi_message_status(m), ROI_STATUS_RECEIVER_UPDATE);
  roi_engine_put(e, &m);
  roi_group_destroy(wake_group);
  roi_engine_destroy(e);
}

ROI_TEST(pool) {
  roi_engine *e = eng_new(2, 3);
  roi_message *a = NULL, *b = NULL, *c = NULL, *d = NULL;
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_engine_get(e, ROI_GET_POOL_ONLY, &a), 0);
  ROI_ASSERT_EQ(roi_engine_get(e, ROI_GET_POOL_ONLY, &b), 0);
  ROI_ASSERT_EQ(roi_engine_get(e, ROI_GET_POOL_ONLY, &c),
                ROI_ESTATUS(ROI_STATUS_POOL_EMPTY));
  ROI_ASSERT_TRUE(c == NULL);
  ROI_ASSERT_EQ(roi_engine_get(e, ROI_GET_ALWAYS, &c), 0);
  ROI_ASSERT_EQ(roi_engine_get(e, ROI_GET_ALWAYS, &d), 0);
  ROI_ASSERT_TRUE(a && b && c && d && a != b && c != d);
  /* A message comes back reset. */
  roi_message_set_id(a, 99);
  ROI_ASSERT_EQ(roi_message_header_add(a, "k", "v"), 0);
  ROI_ASSERT_EQ(roi_engine_put(e, &a), 0);
  ROI_ASSERT_TRUE(a == NULL);
  ROI_ASSERT_EQ(roi_engine_put(e, &a), 0); /* NULL is ignored */
  ROI_ASSERT_EQ(roi_engine_get(e, ROI_GET_POOL_ONLY, &a), 0);
  ROI_ASSERT_EQ(roi_message_id(a), 0);
  {
    size_t len = 1;
    (void)roi_message_headers(a, &len);
    ROI_ASSERT_EQ(len, 0);
  }
  /* The pool keeps at most 3; the fourth put frees its message (ASan and the
   * leak check see that nothing is lost either way). */
  ROI_ASSERT_EQ(roi_engine_put(e, &a), 0);
  ROI_ASSERT_EQ(roi_engine_put(e, &b), 0);
  ROI_ASSERT_EQ(roi_engine_put(e, &c), 0);
  ROI_ASSERT_EQ(roi_engine_put(e, &d), 0);
  ROI_ASSERT_EQ(roi_engine_get(e, ROI_GET_POOL_ONLY, &a), 0);
  ROI_ASSERT_EQ(roi_engine_get(e, ROI_GET_POOL_ONLY, &b), 0);
  ROI_ASSERT_EQ(roi_engine_get(e, ROI_GET_POOL_ONLY, &c), 0);
  ROI_ASSERT_EQ(roi_engine_get(e, ROI_GET_POOL_ONLY, &d),
                ROI_ESTATUS(ROI_STATUS_POOL_EMPTY));
  roi_message_destroy(a);
  roi_message_destroy(b);
  roi_message_destroy(c);
  roi_engine_destroy(e);
}

ROI_TEST(create_destroy_repeatedly) {
  int i, j;
  for (i = 0; i < 20; i++) {
    roi_engine *e = eng_new(16, 64);
    roi_group *g[5];
    ROI_ASSERT_TRUE(e != NULL);
    for (j = 0; j < 5; j++)
      ROI_ASSERT_EQ(roi_group_create(e, &g[j]), 0);
    /* Destroying some groups, and leaving the rest (with a queued message)
     * to the engine. */
    ROI_ASSERT_EQ(roi_group_update_receiver(g[4], NULL), 0);
    for (j = 0; j < 3; j++)
      roi_group_destroy(g[j]);
    roi_engine_destroy(e);
  }
}

/* Counted messages may outlive their engine, and may move between engines:
 * destroying or putting them later touches nothing freed (ASan and the leak
 * check watch), and the other engine takes them as its own. */
ROI_TEST(messages_outlive_and_change_engines) {
  roi_engine *a = eng_new(4, 4), *b = eng_new(2, 3);
  roi_message *m[4] = {NULL, NULL, NULL, NULL};
  roi_engine_stats st;
  int i;
  ROI_ASSERT_TRUE(a && b);
  for (i = 0; i < 4; i++)
    ROI_ASSERT_EQ(roi_engine_get(a, ROI_GET_POOL_ONLY, &m[i]), 0);
  ROI_ASSERT_EQ(roi_engine_stats_get(a, &st), 0);
  ROI_ASSERT_EQ(st.pool_live, 4);
  ROI_ASSERT_EQ(st.app_held, 4);
  /* One of a's messages goes to b's pool: a no longer counts it, b does
   * (b has room: 2 of 3). */
  ROI_ASSERT_EQ(roi_engine_put(b, &m[0]), 0);
  ROI_ASSERT_EQ(roi_engine_stats_get(a, &st), 0);
  ROI_ASSERT_EQ(st.pool_live, 3);
  ROI_ASSERT_EQ(roi_engine_stats_get(b, &st), 0);
  ROI_ASSERT_EQ(st.pool_live, 3);
  ROI_ASSERT_EQ(st.pool_free, 3);
  /* A destroyed counted message gives back its count. */
  roi_message_destroy(m[1]);
  m[1] = NULL;
  ROI_ASSERT_EQ(roi_engine_stats_get(a, &st), 0);
  ROI_ASSERT_EQ(st.pool_live, 2);
  /* a goes away while two of its messages are still held. */
  roi_engine_destroy(a);
  roi_message_set_id(m[2], 7);
  ROI_ASSERT_EQ(roi_message_id(m[2]), 7);
  roi_message_destroy(m[2]);
  /* The last one goes to b, which is full now: b frees it. */
  ROI_ASSERT_EQ(roi_engine_put(b, &m[3]), 0);
  ROI_ASSERT_EQ(roi_engine_stats_get(b, &st), 0);
  ROI_ASSERT_EQ(st.pool_live, 3);
  roi_engine_destroy(b);
}

ROI_TEST_MAIN(ROI_TEST_ENTRY(arguments), ROI_TEST_ENTRY(illegal_messages),
              ROI_TEST_ENTRY(hello_to_nobody), ROI_TEST_ENTRY(hello_to_unknown_host),
              ROI_TEST_ENTRY(hello_to_missing_uds_path),
              ROI_TEST_ENTRY(welcome_on_foreign_address),
              ROI_TEST_ENTRY(hello_connect_timeout), ROI_TEST_ENTRY(update_receiver),
              ROI_TEST_ENTRY(update_receiver_wakes_a_blocked_consumer),
              ROI_TEST_ENTRY(pool), ROI_TEST_ENTRY(create_destroy_repeatedly),
              ROI_TEST_ENTRY(messages_outlive_and_change_engines))
