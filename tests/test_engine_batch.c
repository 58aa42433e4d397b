/*
 * The engine's batched hand-offs (NOTES.md, "Engine throughput"): what each
 * must keep while it saves its locks, system calls and copies.
 *
 * - Small pieces of many messages are staged into one buffer for a send,
 *   large ones go as they are: every byte must arrive, in order, through
 *   partial sends, whatever the mix of sizes and text headers.
 * - A paused channel parses its kept bytes where they are, a little at each
 *   resume: the same bytes, none lost, none twice.
 * - A group's consumer takes the whole queue at once and hands it out from
 *   its batch: the stats must still count each message where it is, and a
 *   group destroyed with a batch half handed out frees the rest.
 * - A post wakes the reactor only when it said it sleeps: a post to a
 *   sleeping reactor, from one thread or several at once, must still be
 *   sent, and an idle reactor must still sleep.
 */
#include "raw_peer.h"

/* ---- mixed sizes through staging, partial sends and pauses ---- */

#define MIX_MESSAGES 1500
static const size_t mix_sizes[] = {0,    1,    15,   16,   17,   63,   64,    100,
                                   1000, 2047, 2048, 2049, 4095, 8192, 30000, 65535};
#define MIX_KINDS (sizeof mix_sizes / sizeof mix_sizes[0])

static uint8_t mix_byte(int i, size_t j) {
  return (uint8_t)((unsigned)i * 131u + (unsigned)j * 7u + (unsigned)(j >> 8));
}

/* Message i (1-based): a body of mix_sizes[i % MIX_KINDS] bytes, and a text
 * header on every third, so that sends mix three kinds of piece. */
static roi_message *mix_new(roi_engine *e, uint16_t channel, int i, uint8_t *scratch) {
  roi_message *m = NULL;
  size_t len = mix_sizes[(size_t)i % MIX_KINDS], j;
  char value[16];
  if (roi_engine_get(e, ROI_GET_ALWAYS, &m) != 0)
    return NULL;
  roi_message_set_opcode(m, ROI_OP_SIGNAL);
  roi_message_set_channel(m, channel);
  roi_message_set_id(m, (uint64_t)i);
  for (j = 0; j < len; j++)
    scratch[j] = mix_byte(i, j);
  snprintf(value, sizeof value, "v%d", i);
  if (roi_message_body_set(m, scratch, len) != 0 ||
      (i % 3 == 0 && roi_message_header_add(m, "k", value) != 0)) {
    roi_message_destroy(m);
    return NULL;
  }
  return m;
}

/* 1 when m is message i, whole. */
static int mix_check(const roi_message *m, int i) {
  size_t len = 0, want = mix_sizes[(size_t)i % MIX_KINDS], j;
  const uint8_t *body = roi_message_body(m, &len);
  roi_header h;
  char value[16];
  int found = roi_message_header_find(m, "k", &h);
  if (roi_message_opcode(m) != ROI_OP_SIGNAL || roi_message_id(m) != (uint64_t)i ||
      len != want) {
    fprintf(stderr, "  message %d came as opcode %d id %llu with %u bytes (want %u)\n", i,
            roi_message_opcode(m), (unsigned long long)roi_message_id(m), (unsigned)len,
            (unsigned)want);
    return 0;
  }
  for (j = 0; j < len; j++) {
    if (body[j] != mix_byte(i, j)) {
      fprintf(stderr, "  message %d: byte %u is 0x%02x, want 0x%02x\n", i, (unsigned)j,
              body[j], mix_byte(i, j));
      return 0;
    }
  }
  snprintf(value, sizeof value, "v%d", i);
  if (i % 3 == 0 ? found != 1 || h.value_len != strlen(value) ||
                       memcmp(h.value, value, h.value_len) != 0
                 : found != 0) {
    fprintf(stderr, "  message %d: its text header is %s\n", i,
            found == 1 ? "wrong" : "missing or extra");
    return 0;
  }
  return 1;
}

/* The receiving engine has a pool of 16 and a share of 4, so its channel
 * pauses every few messages with most of a read kept; the sender keeps its
 * send queue full, so its socket fills and its sends are partial. */
ROI_TEST(mixed_sizes_arrive_whole_through_pauses) {
  roi_engine *se = eng_new(8, 16), *ce = eng_new(64, 1024);
  roi_group *sg = NULL, *cg = NULL;
  roi_message *pending = NULL, *m;
  uint8_t *scratch = malloc(65535);
  int sent = 0, got = 0, signals = 0, full = 0, ok = 1;
  uint16_t cch, sch = 0;
  ROI_ASSERT_TRUE(se && ce && scratch);
  ROI_ASSERT_EQ(roi_group_create(se, &sg), 0);
  ROI_ASSERT_EQ(roi_group_create(ce, &cg), 0);
  cch = pair_up(se, sg, ce, cg, &sch);
  ROI_ASSERT_NE(cch, 0);
  while (ok && got < MIX_MESSAGES) {
    /* Post until the send queue refuses more. */
    while (sent < MIX_MESSAGES) {
      int rc;
      if (!pending)
        pending = mix_new(ce, cch, sent + 1, scratch);
      ROI_ASSERT_TRUE(pending != NULL);
      rc = roi_group_post(cg, &pending, NULL);
      if (rc == ROI_ESTATUS(ROI_STATUS_SEND_QUEUE_FULL)) {
        full++;
        break;
      }
      ROI_ASSERT_EQ(rc, 0);
      sent++;
    }
    m = next_msg(sg);
    ROI_ASSERT_TRUE(m != NULL);
    if (roi_message_origin(m) == ROI_ORIGIN_ENGINE &&
        roi_message_status(m) == ROI_STATUS_POOL_EMPTY) {
      signals++;
    } else {
      got++;
      ok = mix_check(m, got);
    }
    roi_engine_put(se, &m);
  }
  fprintf(stderr, "  %d messages whole, %d pool_empty signals, %d refused posts\n", got,
          signals, full);
  roi_message_destroy(pending);
  free(scratch);
  roi_engine_destroy(ce);
  roi_engine_destroy(se);
  ROI_ASSERT_TRUE(ok);
  ROI_ASSERT_EQ(got, MIX_MESSAGES);
  /* The receiver did pause (its kept bytes were parsed at resumes). */
  ROI_ASSERT_GE(signals, 1);
}

/* ---- the consumer's batch ---- */

#define BATCH_MESSAGES 10

/* Asserts what the stats count in the group's queue and with the
 * application. */
#define ASSERT_QUEUED(e, queued, held)                                                     \
  do {                                                                                     \
    roi_engine_stats st_ = stats_of(e);                                                    \
    ROI_ASSERT_EQ(st_.recv_queued, (queued));                                              \
    ROI_ASSERT_EQ(st_.app_held, (held));                                                   \
  } while (0)

ROI_TEST(stats_count_a_batch_handed_out) {
  roi_engine *e = eng_new(16, 16);
  roi_group *g = NULL;
  roi_message *m[BATCH_MESSAGES + 2];
  int i;
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  for (i = 0; i < BATCH_MESSAGES; i++) {
    ROI_ASSERT_EQ(roi_engine_get(e, ROI_GET_POOL_ONLY, &m[i]), 0);
    roi_message_set_id(m[i], (uint64_t)i + 1);
    ROI_ASSERT_EQ(roi_group_update_receiver(g, &m[i]), 0);
  }
  ASSERT_QUEUED(e, BATCH_MESSAGES, 0);
  /* The first receive takes all ten into the batch; the stats still see
   * nine waiting and one with the application. */
  ROI_ASSERT_EQ(roi_group_wait_receive(g, 0, &m[0]), 0);
  ROI_ASSERT_EQ(roi_message_id(m[0]), 1);
  ASSERT_QUEUED(e, BATCH_MESSAGES - 1, 1);
  for (i = 1; i < 4; i++) {
    ROI_ASSERT_EQ(roi_group_wait_receive(g, 0, &m[i]), 0);
    ROI_ASSERT_EQ(roi_message_id(m[i]), (uint64_t)i + 1);
  }
  ASSERT_QUEUED(e, BATCH_MESSAGES - 4, 4);
  for (i = 0; i < 4; i++)
    ROI_ASSERT_EQ(roi_engine_put(e, &m[i]), 0);
  ASSERT_QUEUED(e, BATCH_MESSAGES - 4, 0);
  /* Two more arrive behind the batch: they come after it, in order. */
  ROI_ASSERT_EQ(roi_group_update_receiver(g, NULL), 0);
  ROI_ASSERT_EQ(roi_group_update_receiver(g, NULL), 0);
  ASSERT_QUEUED(e, BATCH_MESSAGES - 2, 0);
  for (i = 4; i < BATCH_MESSAGES + 2; i++) {
    ROI_ASSERT_EQ(roi_group_wait_receive(g, 0, &m[i]), 0);
    ROI_ASSERT_EQ(roi_message_id(m[i]), i < BATCH_MESSAGES ? (uint64_t)i + 1 : 0);
    ROI_ASSERT_EQ(roi_message_status(m[i]), ROI_STATUS_RECEIVER_UPDATE);
  }
  ASSERT_QUEUED(e, 0, BATCH_MESSAGES - 2);
  ROI_ASSERT_EQ(roi_group_wait_receive(g, 0, &m[0]), ROI_ETIMEDOUT);
  for (i = 4; i < BATCH_MESSAGES + 2; i++)
    ROI_ASSERT_EQ(roi_engine_put(e, &m[i]), 0);
  ASSERT_QUEUED(e, 0, 0);
  roi_group_destroy(g);
  roi_engine_destroy(e);
}

/* A group destroyed with four messages of its batch not handed out frees
 * them (the leak check of the sanitizer builds watches) and they leave the
 * pool's count. */
ROI_TEST(group_destroyed_with_a_batch_pending) {
  roi_engine *e = eng_new(16, 16);
  roi_group *g = NULL;
  roi_message *m = NULL;
  roi_engine_stats s;
  int i;
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  for (i = 0; i < 5; i++)
    ROI_ASSERT_EQ(roi_group_update_receiver(g, NULL), 0);
  ROI_ASSERT_EQ(roi_group_wait_receive(g, 0, &m), 0);
  ASSERT_QUEUED(e, 4, 1);
  roi_group_destroy(g);
  s = stats_of(e);
  ROI_ASSERT_EQ(s.pool_live, 12);
  ROI_ASSERT_EQ(s.pool_free, 11);
  ROI_ASSERT_EQ(s.recv_queued, 0);
  ROI_ASSERT_EQ(s.app_held, 1);
  roi_message_destroy(m);
  ROI_ASSERT_EQ(stats_of(e).pool_live, 11);
  roi_engine_destroy(e);
}

/* ---- posts to a sleeping reactor ---- */

#define WAKE_ROUND_TRIPS 100
#define WAKE_THREADS 4
#define WAKE_FAST_TRIPS 2000

typedef struct wake_client {
  roi_engine *e;
  const char *addr;
  int index, verified, trips, pauses;
} wake_client;

/* trips requests, one at a time, each with its own group (one consumer).
 * With pauses, a pause of up to 3 ms before each, in which both reactors go
 * to sleep; without, the next request is posted as soon as the reply is
 * received, while the reactor that delivered it may still be in its round
 * (a post it does not see then, and is not woken for, stays unsent). */
static void wake_client_run(void *arg) {
  wake_client *c = arg;
  roi_group *g = NULL;
  roi_post_info cl;
  roi_message *m = NULL;
  int i;
  if (roi_group_create(c->e, &g) != 0 ||
      post_open(c->e, g, ROI_OP_HELLO_REQUEST, c->addr, &cl) != 0)
    goto out;
  m = next_msg(g);
  if (!m || roi_message_opcode(m) != ROI_OP_HELLO_RESPONSE)
    goto out;
  roi_engine_put(c->e, &m);
  for (i = 1; i <= c->trips; i++) {
    uint64_t id = (uint64_t)c->index << 32 | (uint64_t)i;
    if (c->pauses)
      roi__sleep_ms((unsigned)((i + c->index) % 4));
    if (post_simple(c->e, g, ROI_OP_REQUEST, cl.channel, id, NULL) != 0)
      goto out;
    m = next_msg(g);
    if (!m || roi_message_opcode(m) != ROI_OP_RESPONSE || roi_message_id(m) != id) {
      fprintf(stderr, "  client %d: round trip %d came back as %s\n", c->index, i,
              m ? "another message" : "nothing");
      goto out;
    }
    roi_engine_put(c->e, &m);
    c->verified++;
  }
out:
  roi_message_destroy(m);
  roi_group_destroy(g);
}

ROI_TEST(posts_wake_a_sleeping_reactor) {
  roi_engine *se = eng_new(16, 256), *ce = eng_new(16, 256);
  echo_server srv;
  wake_client fast, cl[WAKE_THREADS];
  roi__thread *st = NULL, *ct[WAKE_THREADS];
  char addr[64];
  int port = 0, i, total = 0;
  uint64_t r0[2], r1[2];
  ROI_ASSERT_TRUE(se && ce);
  memset(&srv, 0, sizeof srv);
  srv.e = se;
  ROI_ASSERT_EQ(roi_group_create(se, &srv.g), 0);
  ROI_ASSERT_NE(listen_on(se, srv.g, "tcp|127.0.0.1|0", &port), 0);
  snprintf(addr, sizeof addr, "tcp|127.0.0.1|%d", port);
  ROI_ASSERT_EQ(roi__thread_create(&st, echo_serve, &srv), 0);
  /* One client alone, as fast as it can, then several with pauses. */
  memset(&fast, 0, sizeof fast);
  fast.e = ce;
  fast.addr = addr;
  fast.trips = WAKE_FAST_TRIPS;
  wake_client_run(&fast);
  for (i = 0; i < WAKE_THREADS; i++) {
    memset(&cl[i], 0, sizeof cl[i]);
    cl[i].e = ce;
    cl[i].addr = addr;
    cl[i].index = i + 1;
    cl[i].trips = WAKE_ROUND_TRIPS;
    cl[i].pauses = 1;
    ROI_ASSERT_EQ(roi__thread_create(&ct[i], wake_client_run, &cl[i]), 0);
  }
  for (i = 0; i < WAKE_THREADS; i++) {
    roi__thread_join(ct[i]);
    total += cl[i].verified;
  }
  /* Idle now: each reactor sleeps until something happens. */
  r0[0] = rounds_of(se);
  r0[1] = rounds_of(ce);
  roi__sleep_ms(300);
  r1[0] = rounds_of(se);
  r1[1] = rounds_of(ce);
  ROI_ASSERT_EQ(roi_group_update_receiver(srv.g, NULL), 0);
  roi__thread_join(st);
  fprintf(stderr,
          "  %d fast round trips, %d with pauses; idle rounds in 300 ms: server %d, "
          "client %d\n",
          fast.verified, total, (int)(r1[0] - r0[0]), (int)(r1[1] - r0[1]));
  roi_engine_destroy(ce);
  roi_engine_destroy(se);
  ROI_ASSERT_EQ(fast.verified, WAKE_FAST_TRIPS);
  ROI_ASSERT_EQ(total, WAKE_THREADS * WAKE_ROUND_TRIPS);
  ROI_ASSERT_EQ(srv.failed, 0);
  ROI_ASSERT_LE(r1[0] - r0[0], 3);
  ROI_ASSERT_LE(r1[1] - r0[1], 3);
}

/* Bursts of Signals, each received whole before the next is posted: the
 * reactor is busy sending while most of a burst is posted, and a post made
 * during its round, which wakes nothing, must be seen before it sleeps (or
 * the burst's last messages stay in the mailbox). */
#define BURSTS 300
#define BURST_MESSAGES 100

ROI_TEST(bursts_end_with_their_last_message) {
  roi_engine *se = eng_new(16, 256), *ce = eng_new(16, 256);
  roi_group *sg = NULL, *cg = NULL;
  int b, i, got = 0;
  uint16_t cch, sch = 0;
  ROI_ASSERT_TRUE(se && ce);
  ROI_ASSERT_EQ(roi_group_create(se, &sg), 0);
  ROI_ASSERT_EQ(roi_group_create(ce, &cg), 0);
  cch = pair_up(se, sg, ce, cg, &sch);
  ROI_ASSERT_NE(cch, 0);
  for (b = 0; b < BURSTS; b++) {
    for (i = 1; i <= BURST_MESSAGES; i++)
      ROI_ASSERT_EQ(post_simple(ce, cg, ROI_OP_SIGNAL, cch, (uint64_t)i, NULL), 0);
    for (i = 1; i <= BURST_MESSAGES;) {
      roi_message *m = next_msg(sg);
      ROI_ASSERT_TRUE(m != NULL);
      /* The channel may reach its share of 64 while the test holds one. */
      if (roi_message_origin(m) != ROI_ORIGIN_ENGINE) {
        ROI_ASSERT_EQ(roi_message_id(m), (uint64_t)i);
        got++;
        i++;
      } else {
        ROI_ASSERT_EQ(roi_message_status(m), ROI_STATUS_POOL_EMPTY);
      }
      roi_engine_put(se, &m);
    }
  }
  roi_engine_destroy(ce);
  roi_engine_destroy(se);
  ROI_ASSERT_EQ(got, BURSTS * BURST_MESSAGES);
}

ROI_TEST_MAIN(ROI_TEST_ENTRY(mixed_sizes_arrive_whole_through_pauses),
              ROI_TEST_ENTRY(stats_count_a_batch_handed_out),
              ROI_TEST_ENTRY(group_destroyed_with_a_batch_pending),
              ROI_TEST_ENTRY(posts_wake_a_sleeping_reactor),
              ROI_TEST_ENTRY(bursts_end_with_their_last_message))
