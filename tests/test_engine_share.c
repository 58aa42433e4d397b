/*
 * The edges of a channel's share of the pool (engine.h, "Memory and
 * fairness"), each a regression found in review:
 * - an application that keeps a sliding window of a channel's messages just
 *   under the share still gets every message (reading resumes as soon as one
 *   of the channel's messages comes back, not after a quarter of the share);
 * - a client whose whole HelloRequest waits for the pool (spent by another
 *   channel) is not closed by the Hello timeout: the wait is the engine's.
 */
#include "raw_peer.h"

#define SHARE 8
#define FRAMES 100

static roi_engine *engine(size_t pool, unsigned hello_timeout_ms) {
  roi_engine_options o;
  roi_engine *e = NULL;
  memset(&o, 0, sizeof o);
  o.pool_initial = pool;
  o.pool_max = pool;
  o.channel_share = SHARE;
  o.hello_timeout_ms = hello_timeout_ms;
  return roi_engine_create(&e, &o) == 0 ? e : NULL;
}

/* Starts a listener; returns its port, or -1. */
static int listen_any(roi_engine *e, roi_group *g) {
  int port = -1;
  return listen_on(e, g, "tcp|127.0.0.1|0", &port) ? port : -1;
}

/* A raw peer that sends a Hello (id hello_id) and then `requests` Requests
 * with ids 1..requests at once. */
static roi_socket raw_peer(int port, uint64_t hello_id, int requests) {
  uint8_t buf[16 * (FRAMES + 1)];
  roi_socket s = ROI_INVALID_SOCKET;
  int i;
  if (requests > FRAMES || roi_sock_connect_tcp("127.0.0.1", port, &s) != 0)
    return ROI_INVALID_SOCKET;
  header_bytes(buf, 1, ROI_OP_HELLO_REQUEST, 0, hello_id, 0, 0);
  for (i = 1; i <= requests; i++)
    header_bytes(buf + 16 * i, 1, ROI_OP_REQUEST, 0, (uint64_t)i, 0, 0);
  if (raw_send_all(s, buf, 16 * (size_t)(requests + 1)) != 0) {
    roi_sock_close(s);
    return ROI_INVALID_SOCKET;
  }
  return s;
}

static void sliding_window(int window) {
  roi_engine *e = engine(64, 0);
  roi_group *g = NULL;
  roi_message *held[SHARE], *m = NULL;
  roi_socket s;
  int port, nheld = 0, got = 0, i;
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  port = listen_any(e, g);
  ROI_ASSERT_GT(port, 0);
  s = raw_peer(port, 0xA, FRAMES);
  ROI_ASSERT_NE(s, ROI_INVALID_SOCKET);
  /* The Hello and the requests, in order; the application keeps the newest
   * `window` of them and gives back the oldest as each new one arrives. */
  while (got < FRAMES + 1) {
    m = next_msg(g);
    if (!m)
      break;
    if (roi_message_opcode(m) == ROI_OP_SIGNAL) {
      ROI_ASSERT_EQ(roi_message_status(m), ROI_STATUS_POOL_EMPTY);
      roi_message_destroy(m);
      continue;
    }
    ROI_ASSERT_EQ(roi_message_id(m), got == 0 ? 0xA : (uint64_t)got);
    got++;
    held[nheld++] = m;
    if (nheld > window) {
      roi_engine_put(e, &held[0]);
      memmove(held, held + 1, (size_t)(nheld - 1) * sizeof held[0]);
      nheld--;
    }
  }
  fprintf(stderr, "  window %d of share %d: %d of %d messages delivered\n", window, SHARE,
          got, FRAMES + 1);
  for (i = 0; i < nheld; i++)
    roi_message_destroy(held[i]);
  roi_sock_close(s);
  roi_engine_destroy(e);
  ROI_ASSERT_EQ(got, FRAMES + 1);
}

ROI_TEST(window_just_under_the_share) {
  sliding_window(SHARE - 1);
}

ROI_TEST(window_of_three_quarters_of_the_share) {
  sliding_window(SHARE * 3 / 4);
}

ROI_TEST(hello_waiting_for_the_pool_is_not_timed_out) {
  roi_engine *e = engine(SHARE, 300);
  roi_group *g = NULL;
  roi_message *held[SHARE], *m = NULL;
  roi_socket a, b = ROI_INVALID_SOCKET;
  int port, nheld = 0, i, b_hello = 0, b_closed = 0;
  uint64_t t0;
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  port = listen_any(e, g);
  ROI_ASSERT_GT(port, 0);
  /* Peer A spends the whole pool: the application holds its 8 messages. */
  a = raw_peer(port, 0xA, 20);
  ROI_ASSERT_NE(a, ROI_INVALID_SOCKET);
  while (nheld < SHARE) {
    m = next_msg(g);
    ROI_ASSERT_TRUE(m != NULL);
    if (roi_message_opcode(m) == ROI_OP_SIGNAL) {
      roi_message_destroy(m);
      continue;
    }
    held[nheld++] = m;
  }
  /* Peer B sends its whole Hello at once; the pool has nothing for it. */
  b = raw_peer(port, 0xB, 0);
  ROI_ASSERT_NE(b, ROI_INVALID_SOCKET);
  t0 = roi__now_ms();
  /* Three Hello timeouts later, B must still be open. */
  while (roi__now_ms() - t0 < 900) {
    if (roi_group_wait_receive(g, 50, &m) != 0)
      continue;
    b_closed += roi_message_opcode(m) == ROI_OP_SIGNAL &&
                roi_message_status(m) == ROI_STATUS_CHANNEL_CLOSED;
    roi_message_destroy(m);
  }
  /* A's messages come back: B's Hello is delivered. */
  for (i = 0; i < nheld; i++)
    roi_engine_put(e, &held[i]);
  t0 = roi__now_ms();
  while (!b_hello && roi__now_ms() - t0 < WAIT_MS) {
    m = next_msg(g);
    if (!m)
      break;
    b_hello = roi_message_opcode(m) == ROI_OP_HELLO_REQUEST && roi_message_id(m) == 0xB;
    b_closed += roi_message_opcode(m) == ROI_OP_SIGNAL &&
                roi_message_status(m) == ROI_STATUS_CHANNEL_CLOSED;
    roi_engine_put(e, &m);
  }
  roi_sock_close(a);
  roi_sock_close(b);
  roi_engine_destroy(e);
  ROI_ASSERT_EQ(b_closed, 0);
  ROI_ASSERT_EQ(b_hello, 1);
}

ROI_TEST_MAIN(ROI_TEST_ENTRY(window_just_under_the_share),
              ROI_TEST_ENTRY(window_of_three_quarters_of_the_share),
              ROI_TEST_ENTRY(hello_waiting_for_the_pool_is_not_timed_out))
