/*
 * A roi engine against a peer that behaves as tofu (github g41797/tofu)
 * does, made of raw sockets and hand-written frames, on every backend:
 *
 * - a tofu client against a roi server whose application answers as tofu's
 *   cookbook EchoService does (a request comes back as its response, a
 *   signal as it is): Hello with "~connect_to", Requests with the more flag,
 *   a priority Request, tofu's lax text headers, ByeSignals with and without
 *   bit A that leave the channel open, and the Bye exchange;
 * - a tofu server against a roi client: roi's HelloRequest byte for byte,
 *   the server's own channel number in its HelloResponse, priority messages
 *   written ahead of the queued ones that have not begun, a ByeSignal that
 *   travels, and the Bye exchange;
 * - post() as tofu's check_and_prepare (origin cleared, status zeroed),
 *   invalid_group against invalid_channel_number, "tcp||port" and "uds|"
 *   listeners, and how a Hello that fails comes back (a HelloResponse when
 *   it fails at once, the HelloRequest itself when its connect fails later).
 *
 * Every expected header is written out here from the fields, never with
 * roi's encoder.
 */
#include "engine_int.h"
#include "raw_peer.h"

#ifdef _WIN32
#include <winsock2.h>
#else
#include <sys/socket.h>
#endif

/* The channel numbers the tofu peers put in their own frames. */
#define TOFU_CLIENT_CH 0x0101
#define TOFU_SERVER_CH 0x0202

/* Returns -1 from a helper after printing the failed check and both values. */
#define P_CHECK(a, op, b)                                                                  \
  do {                                                                                     \
    long long a_ = (long long)(a), b_ = (long long)(b);                                    \
    if (!(a_ op b_)) {                                                                     \
      fprintf(stderr, "  %s:%d: expected %s %s %s, got %lld %s %lld\n", __FILE__,          \
              __LINE__, #a, #op, #b, a_, #op, b_);                                         \
      return -1;                                                                           \
    }                                                                                      \
  } while (0)

/* ---- frames on raw sockets ---- */

/* Sends one frame written out field by field. */
static int raw_frame_send(roi_socket s, uint16_t ch, uint8_t proto, uint8_t status,
                          uint64_t id, const char *hdrs, size_t hlen, const void *body,
                          size_t blen) {
  uint8_t *buf = malloc(16 + hlen + blen);
  int rc;
  if (!buf)
    return -1;
  header_bytes(buf, ch, proto, status, id, (uint16_t)hlen, (uint16_t)blen);
  if (hlen)
    memcpy(buf + 16, hdrs, hlen);
  if (blen)
    memcpy(buf + 16 + hlen, body, blen);
  rc = raw_send_all(s, buf, 16 + hlen + blen);
  free(buf);
  return rc;
}

/* Reads one frame and compares it with the one these fields make, byte for
 * byte; prints the first difference. */
static int expect_frame(roi_socket s, uint16_t ch, uint8_t proto, uint8_t status,
                        uint64_t id, const char *hdrs, size_t hlen, const void *body,
                        size_t blen) {
  size_t n = 16 + hlen + blen, i;
  uint8_t *want = malloc(n), *got = malloc(n);
  int rc = 0;
  if (!want || !got) {
    free(want);
    free(got);
    return -1;
  }
  header_bytes(want, ch, proto, status, id, (uint16_t)hlen, (uint16_t)blen);
  if (hlen)
    memcpy(want + 16, hdrs, hlen);
  if (blen)
    memcpy(want + 16 + hlen, body, blen);
  if (raw_recv_exact(s, got, n) != 0) {
    fprintf(stderr, "  no %u-byte frame with proto 0x%02x id 0x%llx\n", (unsigned)n, proto,
            (unsigned long long)id);
    rc = -1;
  }
  for (i = 0; rc == 0 && i < n; i++)
    if (got[i] != want[i]) {
      fprintf(stderr,
              "  frame with proto 0x%02x id 0x%llx: byte %u is 0x%02x, want 0x%02x "
              "(header got %02x %02x %02x %02x ...)\n",
              proto, (unsigned long long)id, (unsigned)i, got[i], want[i], got[0], got[1],
              got[2], got[3]);
      rc = -1;
    }
  free(want);
  free(got);
  return rc;
}

/* Reads the next frame whatever it is: its 16 header bytes into hdr, its
 * text headers and body into payload (cap bytes at most). */
static int read_frame(roi_socket s, uint8_t hdr[16], uint8_t *payload, size_t cap,
                      size_t *len) {
  size_t n;
  if (raw_recv_exact(s, hdr, 16) != 0)
    return -1;
  n = ((size_t)hdr[12] << 8 | hdr[13]) + ((size_t)hdr[14] << 8 | hdr[15]);
  if (n > cap) {
    fprintf(stderr, "  a %u-byte frame (cap %u)\n", (unsigned)n, (unsigned)cap);
    return -1;
  }
  *len = n;
  return n ? raw_recv_exact(s, payload, n) : 0;
}

static uint64_t frame_id(const uint8_t hdr[16]) {
  uint64_t id = 0;
  int i;
  for (i = 0; i < 8; i++)
    id = id << 8 | hdr[4 + i];
  return id;
}

/* Accepts one connection within WAIT_MS. */
static int accept_within(roi_socket l, roi_socket *s) {
  uint64_t deadline = roi__now_ms() + WAIT_MS;
  int rc;
  while ((rc = roi_sock_accept(l, s)) == ROI_EAGAIN && roi__now_ms() < deadline)
    roi__sleep_ms(1);
  if (rc != 0)
    fprintf(stderr, "  accept: %s\n", roi_err_name(rc));
  return rc;
}

/* Waits until the engine closed the connection, and counts what it sent
 * before (raw_wait_closed() drops it). Returns the bytes, or -1. */
static long raw_bytes_until_closed(roi_socket s) {
  char buf[4096];
  long total = 0;
  uint64_t deadline = roi__now_ms() + WAIT_MS;
  for (;;) {
    int n = roi_sock_recv(s, buf, sizeof buf);
    if (n == 0 || n == ROI_ECONNRESET || n == ROI_ECONNABORTED)
      return total;
    if (n > 0) {
      total += n;
      continue;
    }
    if (n == ROI_EAGAIN && roi__now_ms() < deadline) {
      roi__sleep_ms(1);
      continue;
    }
    fprintf(stderr, "  raw wait closed: %s\n", roi_err_name(n));
    return -1;
  }
}

/* A small receive buffer on a raw listener (inherited by what it accepts),
 * so that a peer that does not read stops a sender after a few frames. */
static void small_rcvbuf(roi_socket l) {
  int size = 4096;
#ifdef _WIN32
  (void)setsockopt(l, SOL_SOCKET, SO_RCVBUF, (const char *)&size, sizeof size);
#else
  (void)setsockopt(l, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
#endif
}

/* ---- checks on what the engine delivers ---- */

/* m is an application message with these fields, text-header block and
 * body. */
static int check_msg(const roi_message *m, int op, uint16_t ch, int more, int prio,
                     uint64_t id, const char *hdrs, size_t hlen, const void *body,
                     size_t blen) {
  size_t len;
  const char *raw;
  const void *data;
  P_CHECK(m != NULL, ==, 1);
  P_CHECK(roi_message_opcode(m), ==, op);
  P_CHECK(roi_message_origin(m), ==, ROI_ORIGIN_APPLICATION);
  P_CHECK(roi_message_status(m), ==, ROI_STATUS_SUCCESS);
  P_CHECK(roi_message_channel(m), ==, ch);
  P_CHECK(roi_message_more(m), ==, more);
  P_CHECK(roi_message_priority(m), ==, prio);
  P_CHECK(roi_message_id(m), ==, id);
  raw = roi_message_headers(m, &len);
  P_CHECK(len, ==, hlen);
  if (hlen)
    P_CHECK(memcmp(raw, hdrs, hlen), ==, 0);
  data = roi_message_body(m, &len);
  P_CHECK(len, ==, blen);
  if (blen)
    P_CHECK(memcmp(data, body, blen), ==, 0);
  return 0;
}

/* The header named so has exactly this value. */
static int check_header(const roi_message *m, const char *name, const char *value) {
  roi_header h;
  P_CHECK(roi_message_header_find(m, name, &h), ==, 1);
  P_CHECK(h.value_len, ==, strlen(value));
  P_CHECK(memcmp(h.value, value, h.value_len), ==, 0);
  return 0;
}

/* The next message of g is the channel_closed Signal of ch with this reason
 * (and, when id is non-zero, the id of the message that opened ch). */
static int expect_closed(roi_engine *e, roi_group *g, uint16_t ch, int reason,
                         uint64_t id) {
  roi_message *m = next_msg(g);
  int ok = is_closed_signal(m, ch) && reason_of(m) == reason &&
           (id == 0 || roi_message_id(m) == id);
  if (!ok)
    fprintf(stderr,
            "  want channel_closed of %u with reason %d, got opcode %d status %d channel "
            "%u reason %d id 0x%llx\n",
            ch, reason, m ? roi_message_opcode(m) : -1, m ? roi_message_status(m) : -1,
            m ? roi_message_channel(m) : 0, m ? reason_of(m) : -1,
            (unsigned long long)(m ? roi_message_id(m) : 0));
  roi_engine_put(e, &m);
  return ok ? 0 : -1;
}

/* Nothing arrives in g for a moment (a channel that must stay open). */
static int expect_quiet(roi_engine *e, roi_group *g) {
  roi_message *m = NULL;
  int rc = roi_group_wait_receive(g, 100, &m);
  if (rc != ROI_ETIMEDOUT)
    fprintf(stderr, "  unexpected message: opcode %d status %d channel %u\n",
            roi_message_opcode(m), roi_message_status(m), roi_message_channel(m));
  roi_engine_put(e, &m);
  P_CHECK(rc, ==, ROI_ETIMEDOUT);
  return 0;
}

/* What tofu's cookbook EchoService does with an application message: a
 * request goes back as its response, a signal as it is. */
static int echo_back(roi_group *g, roi_message **m) {
  switch (roi_message_opcode(*m)) {
  case ROI_OP_REQUEST:
    roi_message_set_opcode(*m, ROI_OP_RESPONSE);
    break;
  case ROI_OP_HELLO_REQUEST:
    roi_message_set_opcode(*m, ROI_OP_HELLO_RESPONSE);
    break;
  case ROI_OP_BYE_REQUEST:
    roi_message_set_opcode(*m, ROI_OP_BYE_RESPONSE);
    break;
  default:
    break;
  }
  return roi_group_post(g, m, NULL);
}

/* One exchange of the tofu client with the echoing roi server: the raw
 * client sends a frame with proto in_proto, the server application gets it
 * as sent (on its own channel sch) and echoes it, and the raw client reads
 * the answer with proto out_proto, byte for byte. */
static int echo_exchange(roi_engine *e, roi_group *g, roi_socket s, uint16_t sch,
                         uint8_t in_proto, uint64_t id, const char *hdrs, const char *body,
                         uint8_t out_proto) {
  size_t hlen = hdrs ? strlen(hdrs) : 0, blen = body ? strlen(body) : 0;
  roi_message *m;
  P_CHECK(raw_frame_send(s, TOFU_CLIENT_CH, in_proto, 0, id, hdrs, hlen, body, blen), ==,
          0);
  m = next_msg(g);
  if (check_msg(m, in_proto & 0x0F, sch, (in_proto & 0x20) != 0, (in_proto & 0x40) != 0, id,
                hdrs, hlen, body, blen) != 0) {
    roi_engine_put(e, &m);
    return -1;
  }
  P_CHECK(echo_back(g, &m), ==, 0);
  P_CHECK(m == NULL, ==, 1);
  P_CHECK(expect_frame(s, sch, out_proto, 0, id, hdrs, hlen, body, blen), ==, 0);
  return 0;
}

/* ---- (a) a tofu client against a roi server ---- */

ROI_TEST(tofu_client_against_roi_server) {
  roi_engine *e = eng_new(16, 64);
  roi_group *g = NULL;
  roi_socket s = ROI_INVALID_SOCKET;
  roi_message *m = NULL;
  char hello[80], value[64];
  /* tofu's lax text headers: a space after the colon, an empty value, an
   * empty line, a name without ':', an untrimmed name, and after an empty
   * name what tofu never reads (the last line without CRLF). */
  static const char lax[] = "a: b\r\nc:  \r\n\r\nnocolon\r\n x :y\r\n: stop\r\nhidden:1";
  int port = 0;
  uint16_t listener, sch;
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  listener = listen_on(e, g, "tcp|127.0.0.1|0", &port);
  ROI_ASSERT_NE(listener, 0);
  ROI_ASSERT_EQ(roi_sock_connect_tcp("127.0.0.1", port, &s), 0);

  /* HelloRequest as tofu's TCPClientAddress.format() makes it: proto 0x03,
   * the client's own channel number, "~connect_to:tcp|127.0.0.1|port". */
  snprintf(value, sizeof value, "tcp|127.0.0.1|%d", port);
  snprintf(hello, sizeof hello, "~connect_to:%s\r\n", value);
  ROI_ASSERT_EQ(
      raw_frame_send(s, TOFU_CLIENT_CH, 0x03, 0, 1, hello, strlen(hello), NULL, 0), 0);
  m = next_msg(g);
  ROI_ASSERT_TRUE(m != NULL);
  sch = roi_message_channel(m);
  ROI_ASSERT_NE(sch, 0);
  ROI_ASSERT_NE(sch, listener);
  ROI_ASSERT_EQ(
      check_msg(m, ROI_OP_HELLO_REQUEST, sch, 0, 0, 1, hello, strlen(hello), NULL, 0), 0);
  ROI_ASSERT_EQ(check_header(m, ROI_HEADER_CONNECT_TO, value), 0);
  ROI_ASSERT_EQ(echo_back(g, &m), 0);
  /* The HelloResponse on the server's own channel number, same id, the
   * Hello's text headers echoed. */
  ROI_ASSERT_EQ(expect_frame(s, sch, 0x04, 0, 1, hello, strlen(hello), NULL, 0), 0);

  /* Requests with the more flag, then the last one. */
  ROI_ASSERT_EQ(echo_exchange(e, g, s, sch, 0x20, 2, NULL, "part 1", 0x21), 0);
  ROI_ASSERT_EQ(echo_exchange(e, g, s, sch, 0x20, 3, "k:v\r\n", "part 2", 0x21), 0);
  ROI_ASSERT_EQ(echo_exchange(e, g, s, sch, 0x00, 4, NULL, "part 3", 0x01), 0);
  /* A priority Request (bit A): delivered with the bit, and the bit stays on
   * the echoed Response. */
  ROI_ASSERT_EQ(echo_exchange(e, g, s, sch, 0x40, 5, NULL, "urgent", 0x41), 0);
  /* A priority Signal with more: delivered, and echoed as it is. */
  ROI_ASSERT_EQ(echo_exchange(e, g, s, sch, 0x62, 6, NULL, "sig", 0x62), 0);

  /* tofu's lax text headers: delivered, read as tofu reads them, and echoed
   * byte for byte. */
  ROI_ASSERT_EQ(
      raw_frame_send(s, TOFU_CLIENT_CH, 0x00, 0, 7, lax, sizeof lax - 1, "lax", 3), 0);
  m = next_msg(g);
  ROI_ASSERT_EQ(check_msg(m, ROI_OP_REQUEST, sch, 0, 0, 7, lax, sizeof lax - 1, "lax", 3),
                0);
  {
    static const char *const names[] = {"a", "c", "nocolon", " x "};
    static const char *const values[] = {"b", "", "", "y"};
    roi_header_iter it = {0};
    roi_header h;
    int i;
    for (i = 0; i < 4; i++) {
      ROI_ASSERT_EQ(roi_message_header_next(m, &it, &h), 1);
      ROI_ASSERT_EQ(h.name_len, strlen(names[i]));
      ROI_ASSERT_EQ(memcmp(h.name, names[i], h.name_len), 0);
      ROI_ASSERT_EQ(h.value_len, strlen(values[i]));
      ROI_ASSERT_EQ(memcmp(h.value, values[i], h.value_len), 0);
    }
    ROI_ASSERT_EQ(roi_message_header_next(m, &it, &h), 0);
    ROI_ASSERT_EQ(roi_message_header_find(m, "hidden", &h), 0);
  }
  ROI_ASSERT_EQ(echo_back(g, &m), 0);
  ROI_ASSERT_EQ(expect_frame(s, sch, 0x01, 0, 7, lax, sizeof lax - 1, "lax", 3), 0);

  /* A ByeSignal without A, as tofu sends one: delivered, and the channel
   * stays open. Echoed as the cookbook does, it goes back on the wire as
   * 0x07. */
  ROI_ASSERT_EQ(echo_exchange(e, g, s, sch, 0x07, 8, NULL, NULL, 0x07), 0);
  ROI_ASSERT_EQ(expect_quiet(e, g), 0);
  /* A ByeSignal with A from the wire: delivered with the bit, the channel
   * stays open (the application does not post it back: with A it would
   * close the channel here). */
  ROI_ASSERT_EQ(raw_frame_send(s, TOFU_CLIENT_CH, 0x47, 0, 9, NULL, 0, NULL, 0), 0);
  m = next_msg(g);
  ROI_ASSERT_EQ(check_msg(m, ROI_OP_BYE_SIGNAL, sch, 0, 1, 9, NULL, 0, NULL, 0), 0);
  roi_engine_put(e, &m);
  ROI_ASSERT_EQ(expect_quiet(e, g), 0);
  /* Still open both ways. */
  ROI_ASSERT_EQ(echo_exchange(e, g, s, sch, 0x00, 10, NULL, "still open", 0x01), 0);

  /* ByeRequest: the ByeResponse, byte for byte, then roi closes. */
  ROI_ASSERT_EQ(echo_exchange(e, g, s, sch, 0x05, 11, NULL, NULL, 0x06), 0);
  ROI_ASSERT_EQ(raw_wait_closed(s), 0);
  ROI_ASSERT_EQ(expect_closed(e, g, sch, ROI_STATUS_CHANNEL_CLOSED, 1), 0);
  roi_sock_close(s);
  roi_engine_destroy(e);
}

/* ---- (b) a tofu server against a roi client ---- */

/* A raw tofu server and a roi client connected to it: roi's HelloRequest is
 * checked byte for byte, the server answers with its own channel number,
 * and roi delivers the HelloResponse on its own. Fills *l, *s and *cch. */
static int raw_server_pair(roi_engine *e, roi_group *g, int small, roi_socket *l,
                           roi_socket *s, uint16_t *cch) {
  roi_post_info info;
  roi_message *m;
  char addr[64], hello[96];
  int port;
  *l = *s = ROI_INVALID_SOCKET;
  P_CHECK(roi_sock_listen_tcp("127.0.0.1", 0, 4, l), ==, 0);
  if (small)
    small_rcvbuf(*l);
  port = roi_sock_local_port(*l);
  P_CHECK(port, >, 0);
  snprintf(addr, sizeof addr, "tcp|127.0.0.1|%d", port);
  P_CHECK(post_open(e, g, ROI_OP_HELLO_REQUEST, addr, &info), ==, 0);
  P_CHECK(info.channel, !=, 0);
  P_CHECK(info.id, !=, 0);
  P_CHECK(accept_within(*l, s), ==, 0);
  /* As tofu's server reads it: roi's channel, proto 0x03 (application, no
   * more, no A), status 0, the id, "~connect_to:<address>\r\n", no body. */
  snprintf(hello, sizeof hello, "~connect_to:%s\r\n", addr);
  P_CHECK(expect_frame(*s, info.channel, 0x03, 0, info.id, hello, strlen(hello), NULL, 0),
          ==, 0);
  /* tofu's server answers on its own channel number. */
  P_CHECK(raw_frame_send(*s, TOFU_SERVER_CH, 0x04, 0, info.id, NULL, 0, NULL, 0), ==, 0);
  m = next_msg(g);
  if (check_msg(m, ROI_OP_HELLO_RESPONSE, info.channel, 0, 0, info.id, NULL, 0, NULL, 0) !=
      0) {
    roi_message_destroy(m);
    return -1;
  }
  roi_message_destroy(m);
  *cch = info.channel;
  return 0;
}

/* Posts an application message on ch; returns the post's result. */
static int post_msg(roi_engine *e, roi_group *g, int op, uint16_t ch, uint64_t id, int more,
                    int prio, const char *hname, const char *hvalue, const void *body,
                    size_t blen) {
  roi_message *m = msg_new(e, op, ch, hname, hvalue);
  int rc;
  if (!m)
    return ROI_ENOMEM;
  roi_message_set_id(m, id);
  roi_message_set_more(m, more);
  roi_message_set_priority(m, prio);
  if (blen && roi_message_body_set(m, body, blen) != 0) {
    roi_message_destroy(m);
    return ROI_ENOMEM;
  }
  rc = roi_group_post(g, &m, NULL);
  roi_message_destroy(m);
  return rc;
}

/* The fillers that stall the send queue: big enough that a few fill the
 * buffers of a peer that does not read. */
#define FILL_BODY 60000
#define FILL_MAX 300
#define FILL_ID 0x1000u

/* The messages queued for sending when that count has not changed over
 * three looks 100 ms apart (a peer that does not read), or 0. */
static size_t stalled_queue(roi_engine *e) {
  roi_engine_stats st;
  size_t first;
  int i;
  if (roi_engine_stats_get(e, &st) != 0 || st.send_queued < 3)
    return 0;
  first = st.send_queued;
  for (i = 0; i < 3; i++) {
    roi__sleep_ms(100);
    if (roi_engine_stats_get(e, &st) != 0 || st.send_queued != first)
      return 0;
  }
  return first;
}

/* The ids of the messages posted once the queue is stalled. */
#define PRIO1_ID 0x2001u
#define PRIO2_ID 0x2002u
#define PRIO3_ID 0x2003u
#define LATE_ID 0x3001u
#define BYE_SIGNAL_ID 0x4001u
#define BYE_REQUEST_ID 0x4002u

ROI_TEST(tofu_server_against_roi_client) {
  roi_engine *e = eng_new(16, 64);
  roi_group *g = NULL;
  roi_socket l, s;
  roi_message *m = NULL;
  uint8_t hdr[16], *payload = malloc(16 + FILL_BODY);
  char *fill = malloc(FILL_BODY);
  uint64_t order[FILL_MAX + 8];
  size_t len, queued = 0, before, after, i, nread = 0;
  int nfill = 0, rc;
  uint16_t cch = 0;
  ROI_ASSERT_TRUE(e && payload && fill);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  ROI_ASSERT_EQ(raw_server_pair(e, g, 1, &l, &s, &cch), 0);

  /* Requests, each read at once: more flag, a text header, a body, an id
   * the engine gives. */
  ROI_ASSERT_EQ(post_msg(e, g, ROI_OP_REQUEST, cch, 0x100, 1, 0, "k", "v", "one", 3), 0);
  ROI_ASSERT_EQ(expect_frame(s, cch, 0x20, 0, 0x100, "k:v\r\n", 5, "one", 3), 0);
  ROI_ASSERT_EQ(post_msg(e, g, ROI_OP_REQUEST, cch, 0x101, 0, 0, NULL, NULL, "two", 3), 0);
  ROI_ASSERT_EQ(expect_frame(s, cch, 0x00, 0, 0x101, NULL, 0, "two", 3), 0);
  {
    roi_post_info info;
    ROI_ASSERT_EQ(post_simple(e, g, ROI_OP_SIGNAL, cch, 0, &info), 0);
    ROI_ASSERT_NE(info.id, 0);
    ROI_ASSERT_EQ(expect_frame(s, cch, 0x02, 0, info.id, NULL, 0, NULL, 0), 0);
  }

  /* The peer stops reading. Fillers go out until the buffers are full and
   * the engine's queue holds some that have not begun: a stable count of 3
   * or more queued (one may be half written). */
  memset(fill, 'f', FILL_BODY);
  while (nfill < FILL_MAX) {
    rc = post_msg(e, g, ROI_OP_REQUEST, cch, FILL_ID + (uint64_t)nfill + 1, 0, 0, NULL,
                  NULL, fill, FILL_BODY);
    ROI_ASSERT_EQ(rc, 0);
    nfill++;
    roi__sleep_ms(5);
    queued = stalled_queue(e);
    if (queued >= 3)
      break;
  }
  fprintf(stderr, "  %d fillers posted, %u queued when the priority messages came\n", nfill,
          (unsigned)queued);
  ROI_ASSERT_GE(queued, 3);
  /* Three priority Requests and, between them, a plain one; then a ByeSignal
   * without priority and a ByeRequest, both in queue order. */
  ROI_ASSERT_EQ(post_msg(e, g, ROI_OP_REQUEST, cch, PRIO1_ID, 0, 1, NULL, NULL, "p1", 2),
                0);
  ROI_ASSERT_EQ(post_msg(e, g, ROI_OP_REQUEST, cch, PRIO2_ID, 0, 1, NULL, NULL, "p2", 2),
                0);
  ROI_ASSERT_EQ(post_msg(e, g, ROI_OP_REQUEST, cch, LATE_ID, 0, 0, NULL, NULL, "late", 4),
                0);
  ROI_ASSERT_EQ(post_msg(e, g, ROI_OP_REQUEST, cch, PRIO3_ID, 0, 1, NULL, NULL, "p3", 2),
                0);
  m = msg_new(e, ROI_OP_BYE_SIGNAL, cch, NULL, NULL);
  ROI_ASSERT_TRUE(m != NULL);
  ROI_ASSERT_EQ(roi_message_priority(m), 1);
  roi_message_set_priority(m, 0);
  roi_message_set_id(m, BYE_SIGNAL_ID);
  ROI_ASSERT_EQ(roi_group_post(g, &m, NULL), 0);
  ROI_ASSERT_EQ(
      post_msg(e, g, ROI_OP_BYE_REQUEST, cch, BYE_REQUEST_ID, 0, 0, NULL, NULL, NULL, 0),
      0);
  /* The ByeSignal closed nothing. */
  ROI_ASSERT_EQ(expect_quiet(e, g), 0);

  /* The peer reads everything, in the order it was written. */
  for (;;) {
    uint64_t id;
    ROI_ASSERT_LT(nread, sizeof order / sizeof order[0]);
    ROI_ASSERT_EQ(read_frame(s, hdr, payload, 16 + FILL_BODY, &len), 0);
    id = frame_id(hdr);
    order[nread++] = id;
    ROI_ASSERT_EQ(hdr[0], cch >> 8);
    ROI_ASSERT_EQ(hdr[1], cch & 0xFF);
    ROI_ASSERT_EQ(hdr[3], 0);
    if (id > FILL_ID && id <= FILL_ID + (uint64_t)nfill) {
      ROI_ASSERT_EQ_HEX(hdr[2], 0x00);
      ROI_ASSERT_EQ(len, FILL_BODY);
      ROI_ASSERT_EQ(payload[0], 'f');
      ROI_ASSERT_EQ(payload[FILL_BODY - 1], 'f');
    } else if (id == PRIO1_ID || id == PRIO2_ID || id == PRIO3_ID) {
      /* The bit stays on the wire, as tofu leaves it. */
      ROI_ASSERT_EQ_HEX(hdr[2], 0x40);
      ROI_ASSERT_EQ(len, 2);
    } else if (id == LATE_ID) {
      ROI_ASSERT_EQ_HEX(hdr[2], 0x00);
      ROI_ASSERT_EQ(len, 4);
    } else if (id == BYE_SIGNAL_ID) {
      ROI_ASSERT_EQ_HEX(hdr[2], 0x07);
      ROI_ASSERT_EQ(len, 0);
    } else {
      ROI_ASSERT_EQ_HEX(id, BYE_REQUEST_ID);
      ROI_ASSERT_EQ_HEX(hdr[2], 0x05);
      ROI_ASSERT_EQ(len, 0);
      break;
    }
  }
  /* fillers that had begun, P1 P2 P3, the fillers that had not, the late
   * Request, the ByeSignal, the ByeRequest. */
  for (before = 0; before < nread && order[before] == FILL_ID + before + 1; before++) {
  }
  ROI_ASSERT_EQ(nread, (size_t)nfill + 6);
  ROI_ASSERT_EQ_HEX(order[before], PRIO1_ID);
  ROI_ASSERT_EQ_HEX(order[before + 1], PRIO2_ID);
  ROI_ASSERT_EQ_HEX(order[before + 2], PRIO3_ID);
  after = (size_t)nfill - before;
  for (i = 0; i < after; i++)
    ROI_ASSERT_EQ_HEX(order[before + 3 + i], FILL_ID + before + i + 1);
  ROI_ASSERT_EQ_HEX(order[nread - 3], LATE_ID);
  ROI_ASSERT_EQ_HEX(order[nread - 2], BYE_SIGNAL_ID);
  ROI_ASSERT_EQ_HEX(order[nread - 1], BYE_REQUEST_ID);
  fprintf(stderr, "  priority messages written after %u fillers, before %u\n",
          (unsigned)before, (unsigned)after);
  /* Of the `queued` messages the engine held, at most one had begun. */
  ROI_ASSERT_GE(after, queued - 1);
  ROI_ASSERT_LE(after, queued);

  /* The ByeResponse from the tofu server (its own channel number): roi
   * delivers it on its own and closes. */
  ROI_ASSERT_EQ(
      raw_frame_send(s, TOFU_SERVER_CH, 0x06, 0, BYE_REQUEST_ID, NULL, 0, NULL, 0), 0);
  m = next_msg(g);
  ROI_ASSERT_EQ(
      check_msg(m, ROI_OP_BYE_RESPONSE, cch, 0, 0, BYE_REQUEST_ID, NULL, 0, NULL, 0), 0);
  roi_engine_put(e, &m);
  ROI_ASSERT_EQ(expect_closed(e, g, cch, ROI_STATUS_CHANNEL_CLOSED, 0), 0);
  ROI_ASSERT_EQ(raw_wait_closed(s), 0);
  roi_sock_close(s);
  roi_sock_close(l);
  roi_engine_destroy(e);
  free(payload);
  free(fill);
}

/* A ByeSignal with priority (as roi_message_set_opcode() makes it) closes
 * the channel at once, here, and sends nothing. */
ROI_TEST(bye_signal_with_priority_closes_locally) {
  roi_engine *e = eng_new(8, 16);
  roi_group *g = NULL;
  roi_socket l, s;
  roi_message *m;
  uint16_t cch = 0;
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  ROI_ASSERT_EQ(raw_server_pair(e, g, 0, &l, &s, &cch), 0);
  m = msg_new(e, ROI_OP_BYE_SIGNAL, cch, NULL, NULL);
  ROI_ASSERT_TRUE(m != NULL);
  ROI_ASSERT_EQ(roi_message_priority(m), 1);
  ROI_ASSERT_EQ(roi_group_post(g, &m, NULL), 0);
  ROI_ASSERT_EQ(expect_closed(e, g, cch, ROI_STATUS_CHANNEL_CLOSED, 0), 0);
  ROI_ASSERT_EQ(raw_bytes_until_closed(s), 0);
  ROI_ASSERT_EQ(post_simple(e, g, ROI_OP_REQUEST, cch, 1, NULL),
                ROI_ESTATUS(ROI_STATUS_INVALID_CHANNEL_NUMBER));
  roi_sock_close(s);
  roi_sock_close(l);
  roi_engine_destroy(e);
}

/* ---- (c) post(), groups, addresses, failed Hellos ---- */

/* post() clears the origin bit and the status of what the application
 * sends, as tofu's check_and_prepare does: accepted, and on the wire as
 * plain application messages. */
ROI_TEST(post_clears_origin_and_status) {
  roi_engine *e = eng_new(8, 16);
  roi_group *g = NULL;
  roi_socket l, s;
  roi_message *m;
  roi_post_info info;
  uint16_t cch = 0;
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  ROI_ASSERT_EQ(raw_server_pair(e, g, 0, &l, &s, &cch), 0);
  /* A Request marked as the engine's, with status 0x5A. */
  m = msg_new(e, ROI_OP_REQUEST, cch, NULL, NULL);
  ROI_ASSERT_TRUE(m != NULL);
  ROI_ASSERT_EQ(roi_message_set_origin(m, ROI_ORIGIN_ENGINE), 0);
  roi_message_set_status(m, 0x5A);
  roi_message_set_id(m, 0x77);
  ROI_ASSERT_EQ(roi_message_body_set(m, "n", 1), 0);
  ROI_ASSERT_EQ(roi_group_post(g, &m, &info), 0);
  ROI_ASSERT_TRUE(m == NULL);
  ROI_ASSERT_EQ(info.id, 0x77);
  ROI_ASSERT_EQ(expect_frame(s, cch, 0x00, 0x00, 0x77, NULL, 0, "n", 1), 0);
  /* A Signal with more and priority, engine origin and status 0xFF. */
  m = msg_new(e, ROI_OP_SIGNAL, cch, "h", "1");
  ROI_ASSERT_TRUE(m != NULL);
  ROI_ASSERT_EQ(roi_message_set_origin(m, ROI_ORIGIN_ENGINE), 0);
  roi_message_set_more(m, 1);
  roi_message_set_priority(m, 1);
  roi_message_set_status(m, 0xFF);
  roi_message_set_id(m, 0x78);
  ROI_ASSERT_EQ(roi_group_post(g, &m, NULL), 0);
  ROI_ASSERT_EQ(expect_frame(s, cch, 0x62, 0x00, 0x78, "h:1\r\n", 5, NULL, 0), 0);
  /* A Response with status 0x01 and engine origin. */
  m = msg_new(e, ROI_OP_RESPONSE, cch, NULL, NULL);
  ROI_ASSERT_TRUE(m != NULL);
  ROI_ASSERT_EQ(roi_message_set_origin(m, ROI_ORIGIN_ENGINE), 0);
  roi_message_set_status(m, 0x01);
  roi_message_set_id(m, 0x79);
  ROI_ASSERT_EQ(roi_group_post(g, &m, NULL), 0);
  ROI_ASSERT_EQ(expect_frame(s, cch, 0x01, 0x00, 0x79, NULL, 0, NULL, 0), 0);
  /* Bit 7 (tofu's B) stays refused, and the message stays with the caller. */
  m = msg_new(e, ROI_OP_REQUEST, cch, NULL, NULL);
  ROI_ASSERT_TRUE(m != NULL);
  m->proto |= 0x80;
  ROI_ASSERT_EQ(roi_group_post(g, &m, NULL), ROI_ESTATUS(ROI_STATUS_NOT_ALLOWED));
  ROI_ASSERT_TRUE(m != NULL);
  roi_message_destroy(m);
  ROI_ASSERT_EQ(expect_quiet(e, g), 0);
  roi_sock_close(s);
  ROI_ASSERT_EQ(expect_closed(e, g, cch, ROI_STATUS_PEER_DISCONNECTED, 0), 0);
  roi_sock_close(l);
  roi_engine_destroy(e);
}

/* A received frame with bit 7 closes its channel with NOT_ALLOWED; bit 6
 * alone is delivered (tofu_client_against_roi_server). */
ROI_TEST(bit7_from_the_wire_closes) {
  roi_engine *e = eng_new(8, 16);
  roi_group *g = NULL;
  roi_socket s = ROI_INVALID_SOCKET;
  roi_message *m;
  int port = 0;
  uint16_t sch;
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  ROI_ASSERT_NE(listen_on(e, g, "tcp|127.0.0.1|0", &port), 0);
  ROI_ASSERT_EQ(roi_sock_connect_tcp("127.0.0.1", port, &s), 0);
  ROI_ASSERT_EQ(
      raw_frame_send(s, TOFU_CLIENT_CH, 0x03, 0, 1, "~connect_to:x\r\n", 15, NULL, 0), 0);
  m = next_msg(g);
  ROI_ASSERT_TRUE(m != NULL);
  ROI_ASSERT_EQ(roi_message_opcode(m), ROI_OP_HELLO_REQUEST);
  sch = roi_message_channel(m);
  roi_engine_put(e, &m);
  ROI_ASSERT_EQ(raw_frame_send(s, TOFU_CLIENT_CH, 0x80, 0, 2, NULL, 0, NULL, 0), 0);
  ROI_ASSERT_EQ(expect_closed(e, g, sch, ROI_STATUS_NOT_ALLOWED, 1), 0);
  ROI_ASSERT_EQ(raw_wait_closed(s), 0);
  roi_sock_close(s);
  roi_engine_destroy(e);
}

/* A channel of another group of the same engine is invalid_group; a number
 * no channel has (never opened, or closed) is invalid_channel_number. The
 * refused message stays with the caller. */
ROI_TEST(invalid_group_and_invalid_channel) {
  roi_engine *e = eng_new(16, 32);
  roi_group *g1 = NULL, *g2 = NULL;
  roi_post_info cl;
  roi_message *m = NULL;
  char addr[64];
  int port = 0;
  uint16_t listener, srv, unused;
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &g1), 0);
  ROI_ASSERT_EQ(roi_group_create(e, &g2), 0);
  listener = listen_on(e, g1, "tcp|127.0.0.1|0", &port);
  ROI_ASSERT_NE(listener, 0);
  snprintf(addr, sizeof addr, "tcp|127.0.0.1|%d", port);
  ROI_ASSERT_EQ(post_open(e, g1, ROI_OP_HELLO_REQUEST, addr, &cl), 0);
  m = next_msg(g1);
  ROI_ASSERT_TRUE(m != NULL);
  ROI_ASSERT_EQ(roi_message_opcode(m), ROI_OP_HELLO_REQUEST);
  srv = roi_message_channel(m);
  ROI_ASSERT_EQ(echo_back(g1, &m), 0);
  m = next_msg(g1);
  ROI_ASSERT_TRUE(m != NULL);
  ROI_ASSERT_EQ(roi_message_opcode(m), ROI_OP_HELLO_RESPONSE);
  ROI_ASSERT_EQ(roi_message_channel(m), cl.channel);
  roi_engine_put(e, &m);
  for (unused = 1; unused == listener || unused == srv || unused == cl.channel; unused++) {
  }

  /* g1's channels, posted to from g2. */
  ROI_ASSERT_EQ(post_simple(e, g2, ROI_OP_REQUEST, cl.channel, 1, NULL),
                ROI_ESTATUS(ROI_STATUS_INVALID_GROUP));
  ROI_ASSERT_EQ(post_simple(e, g2, ROI_OP_RESPONSE, srv, 1, NULL),
                ROI_ESTATUS(ROI_STATUS_INVALID_GROUP));
  ROI_ASSERT_EQ(post_simple(e, g2, ROI_OP_BYE_SIGNAL, listener, 1, NULL),
                ROI_ESTATUS(ROI_STATUS_INVALID_GROUP));
  m = msg_new(e, ROI_OP_REQUEST, cl.channel, NULL, NULL);
  ROI_ASSERT_TRUE(m != NULL);
  ROI_ASSERT_EQ(roi_group_post(g2, &m, NULL), ROI_ESTATUS(ROI_STATUS_INVALID_GROUP));
  ROI_ASSERT_TRUE(m != NULL);
  roi_message_destroy(m);
  /* Numbers no channel has. */
  ROI_ASSERT_EQ(post_simple(e, g1, ROI_OP_REQUEST, unused, 1, NULL),
                ROI_ESTATUS(ROI_STATUS_INVALID_CHANNEL_NUMBER));
  ROI_ASSERT_EQ(post_simple(e, g2, ROI_OP_REQUEST, unused, 1, NULL),
                ROI_ESTATUS(ROI_STATUS_INVALID_CHANNEL_NUMBER));
  ROI_ASSERT_EQ(post_simple(e, g2, ROI_OP_REQUEST, 0, 1, NULL),
                ROI_ESTATUS(ROI_STATUS_INVALID_CHANNEL_NUMBER));
  /* Nothing was closed by g2's refused ByeSignal: the pair still works. */
  ROI_ASSERT_EQ(post_simple(e, g1, ROI_OP_REQUEST, cl.channel, 5, NULL), 0);
  m = next_msg(g1);
  ROI_ASSERT_TRUE(m != NULL);
  ROI_ASSERT_EQ(roi_message_opcode(m), ROI_OP_REQUEST);
  ROI_ASSERT_EQ(roi_message_channel(m), srv);
  roi_engine_put(e, &m);
  /* Closed: the listener's number is no channel's any more, for either
   * group. */
  ROI_ASSERT_EQ(post_simple(e, g1, ROI_OP_BYE_SIGNAL, listener, 0, NULL), 0);
  m = next_msg(g1);
  ROI_ASSERT_TRUE(is_closed_signal(m, listener));
  roi_engine_put(e, &m);
  ROI_ASSERT_EQ(post_simple(e, g2, ROI_OP_REQUEST, listener, 1, NULL),
                ROI_ESTATUS(ROI_STATUS_INVALID_CHANNEL_NUMBER));
  ROI_ASSERT_EQ(post_simple(e, g1, ROI_OP_REQUEST, listener, 1, NULL),
                ROI_ESTATUS(ROI_STATUS_INVALID_CHANNEL_NUMBER));
  ROI_ASSERT_EQ(roi_group_wait_receive(g2, 0, &m), ROI_ETIMEDOUT);
  roi_engine_destroy(e);
}

/* Connects a roi client of group cg to addr, answered by the server group
 * sg of the same engine. Returns 0 or -1. */
static int hello_through(roi_engine *e, roi_group *cg, roi_group *sg, const char *addr) {
  roi_post_info cl;
  roi_message *m;
  P_CHECK(post_open(e, cg, ROI_OP_HELLO_REQUEST, addr, &cl), ==, 0);
  m = next_msg(sg);
  P_CHECK(m != NULL, ==, 1);
  P_CHECK(roi_message_opcode(m), ==, ROI_OP_HELLO_REQUEST);
  P_CHECK(roi_message_id(m), ==, cl.id);
  P_CHECK(echo_back(sg, &m), ==, 0);
  m = next_msg(cg);
  P_CHECK(m != NULL, ==, 1);
  P_CHECK(roi_message_opcode(m), ==, ROI_OP_HELLO_RESPONSE);
  P_CHECK(roi_message_status(m), ==, ROI_STATUS_SUCCESS);
  P_CHECK(roi_message_channel(m), ==, cl.channel);
  roi_message_destroy(m);
  return 0;
}

/* A WelcomeRequest for addr; fills the WelcomeResponse's "~listen_on". */
static int welcome(roi_engine *e, roi_group *g, const char *addr, char *named, size_t cap,
                   uint16_t *ch) {
  roi_post_info info;
  roi_message *m;
  roi_header h;
  P_CHECK(post_open(e, g, ROI_OP_WELCOME_REQUEST, addr, &info), ==, 0);
  m = next_msg(g);
  P_CHECK(m != NULL, ==, 1);
  if (roi_message_status(m) != ROI_STATUS_SUCCESS)
    fprintf(stderr, "  welcome %s: %s\n", addr, roi_status_name(roi_message_status(m)));
  P_CHECK(roi_message_opcode(m), ==, ROI_OP_WELCOME_RESPONSE);
  P_CHECK(roi_message_status(m), ==, ROI_STATUS_SUCCESS);
  P_CHECK(roi_message_origin(m), ==, ROI_ORIGIN_ENGINE);
  P_CHECK(roi_message_channel(m), ==, info.channel);
  P_CHECK(roi_message_header_find(m, ROI_HEADER_LISTEN_ON, &h), ==, 1);
  P_CHECK(h.value_len, <, cap);
  memcpy(named, h.value, h.value_len);
  named[h.value_len] = '\0';
  roi_message_destroy(m);
  *ch = info.channel;
  return 0;
}

/* tofu's "tcp||port": every IPv4 interface, named 0.0.0.0 in the answer,
 * reached through 127.0.0.1. */
ROI_TEST(listen_on_all_interfaces) {
  roi_engine *e = eng_new(16, 32);
  roi_group *sg = NULL, *cg = NULL;
  roi_socket s = ROI_INVALID_SOCKET;
  roi_message *m;
  char named[128], want[64], addr[64], hello[16 + 64];
  int port;
  uint16_t l;
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &sg), 0);
  ROI_ASSERT_EQ(roi_group_create(e, &cg), 0);
  ROI_ASSERT_EQ(welcome(e, sg, "tcp||0", named, sizeof named, &l), 0);
  fprintf(stderr, "  tcp||0 listens on %s\n", named);
  ROI_ASSERT_EQ(strncmp(named, "tcp|0.0.0.0|", 12), 0);
  port = atoi(named + 12);
  ROI_ASSERT_GT(port, 0);
  ROI_ASSERT_LE(port, 65535);
  snprintf(want, sizeof want, "tcp|0.0.0.0|%d", port);
  ROI_ASSERT_STR_EQ(named, want);
  snprintf(addr, sizeof addr, "tcp|127.0.0.1|%d", port);
  ROI_ASSERT_EQ(hello_through(e, cg, sg, addr), 0);
  /* And a raw tofu client, through the same loopback address. */
  ROI_ASSERT_EQ(roi_sock_connect_tcp("127.0.0.1", port, &s), 0);
  snprintf(hello, sizeof hello, "~connect_to:%s\r\n", addr);
  ROI_ASSERT_EQ(
      raw_frame_send(s, TOFU_CLIENT_CH, 0x03, 0, 9, hello, strlen(hello), NULL, 0), 0);
  m = next_msg(sg);
  ROI_ASSERT_TRUE(m != NULL);
  ROI_ASSERT_EQ(roi_message_opcode(m), ROI_OP_HELLO_REQUEST);
  ROI_ASSERT_EQ(roi_message_id(m), 9);
  roi_engine_put(e, &m);
  roi_sock_close(s);
  roi_engine_destroy(e);
}

/* tofu's "uds|" with no path: a fresh temporary path, named in the answer,
 * where a Hello to that name connects. Two such listeners get two paths. */
ROI_TEST(listen_on_fresh_uds_path) {
  roi_engine *e;
  roi_group *sg = NULL, *cg = NULL;
  roi_message *m;
  char named[300], named2[300];
  uint16_t l, l2;
  if (uds_unavailable())
    ROI_TEST_SKIP(UDS_SKIP_REASON);
  e = eng_new(16, 32);
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &sg), 0);
  ROI_ASSERT_EQ(roi_group_create(e, &cg), 0);
  ROI_ASSERT_EQ(welcome(e, sg, "uds|", named, sizeof named, &l), 0);
  ROI_ASSERT_EQ(welcome(e, sg, "uds|", named2, sizeof named2, &l2), 0);
  fprintf(stderr, "  uds| listens on %s and %s\n", named, named2);
  ROI_ASSERT_EQ(strncmp(named, "uds|", 4), 0);
  ROI_ASSERT_EQ(strncmp(named2, "uds|", 4), 0);
  ROI_ASSERT_GT(strlen(named), 5);
  ROI_ASSERT_NE(strcmp(named, named2), 0);
  ROI_ASSERT_EQ(hello_through(e, cg, sg, named), 0);
  ROI_ASSERT_EQ(hello_through(e, cg, sg, named2), 0);
  ROI_ASSERT_EQ(post_simple(e, sg, ROI_OP_BYE_SIGNAL, l, 0, NULL), 0);
  m = next_msg(sg);
  ROI_ASSERT_TRUE(is_closed_signal(m, l));
  roi_engine_put(e, &m);
  roi_engine_destroy(e);
}

/* A Hello and what comes back: op and status, then channel_closed with the
 * status as reason. statuses[] lists the acceptable statuses. */
static int expect_failed_hello(roi_engine *e, roi_group *g, const char *addr, int op,
                               const int *statuses, int nstatus) {
  roi_post_info info;
  roi_message *m;
  int status, i, ok = 0;
  P_CHECK(post_open(e, g, ROI_OP_HELLO_REQUEST, addr, &info), ==, 0);
  m = next_msg(g);
  P_CHECK(m != NULL, ==, 1);
  status = roi_message_status(m);
  fprintf(stderr, "  %s: opcode %d, %s\n", addr, roi_message_opcode(m),
          roi_status_name(status));
  for (i = 0; i < nstatus; i++)
    ok |= status == statuses[i];
  P_CHECK(ok, ==, 1);
  P_CHECK(roi_message_opcode(m), ==, op);
  P_CHECK(roi_message_origin(m), ==, ROI_ORIGIN_ENGINE);
  P_CHECK(roi_message_channel(m), ==, info.channel);
  P_CHECK(roi_message_id(m), ==, info.id);
  roi_message_destroy(m);
  P_CHECK(expect_closed(e, g, info.channel, status, info.id), ==, 0);
  P_CHECK(post_simple(e, g, ROI_OP_REQUEST, info.channel, 1, NULL), ==,
          ROI_ESTATUS(ROI_STATUS_INVALID_CHANNEL_NUMBER));
  return 0;
}

/* A Hello that fails at once comes back as a HelloResponse (as tofu's
 * sendHelloRequest answers it). */
ROI_TEST(hello_failing_at_once_is_a_hello_response) {
  static const int addr_statuses[] = {ROI_STATUS_WRONG_ADDRESS, ROI_STATUS_INVALID_ADDRESS};
  static const int uds_statuses[] = {ROI_STATUS_UDS_PATH_NOT_FOUND};
  roi_engine *e = eng_new(8, 16);
  roi_group *g = NULL;
  char path[200], addr[220];
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  ROI_ASSERT_EQ(expect_failed_hello(e, g, "tcp|no-such-host.invalid|1",
                                    ROI_OP_HELLO_RESPONSE, addr_statuses, 2),
                0);
  if (uds_unavailable()) {
    fprintf(stderr, "  missing AF_UNIX path not tried: %s\n", UDS_SKIP_REASON);
  } else {
    uds_path(path, sizeof path);
    snprintf(addr, sizeof addr, "uds|%s", path);
    ROI_ASSERT_EQ(expect_failed_hello(e, g, addr, ROI_OP_HELLO_RESPONSE, uds_statuses, 1),
                  0);
  }
  ROI_ASSERT_EQ(expect_quiet(e, g), 0);
  roi_engine_destroy(e);
}

/* A Hello whose connect is refused after it started comes back as the
 * queued HelloRequest with the status (tofu's updateReceiver). */
ROI_TEST(hello_failing_later_is_the_hello_request) {
  static const int statuses[] = {ROI_STATUS_CONNECT_FAILED};
  roi_engine *e = eng_new(8, 16);
  roi_group *g = NULL;
  roi_test_port port;
  char addr[64];
  ROI_ASSERT_TRUE(e != NULL);
  ROI_ASSERT_EQ(roi_group_create(e, &g), 0);
  ROI_ASSERT_EQ(roi_test_port_reserve(&port), 0);
  snprintf(addr, sizeof addr, "tcp|127.0.0.1|%d", port.port);
  ROI_ASSERT_EQ(expect_failed_hello(e, g, addr, ROI_OP_HELLO_REQUEST, statuses, 1), 0);
  roi_test_port_release(&port);
  roi_engine_destroy(e);
}

ROI_TEST_MAIN(ROI_TEST_ENTRY(tofu_client_against_roi_server),
              ROI_TEST_ENTRY(tofu_server_against_roi_client),
              ROI_TEST_ENTRY(bye_signal_with_priority_closes_locally),
              ROI_TEST_ENTRY(post_clears_origin_and_status),
              ROI_TEST_ENTRY(bit7_from_the_wire_closes),
              ROI_TEST_ENTRY(invalid_group_and_invalid_channel),
              ROI_TEST_ENTRY(listen_on_all_interfaces),
              ROI_TEST_ENTRY(listen_on_fresh_uds_path),
              ROI_TEST_ENTRY(hello_failing_at_once_is_a_hello_response),
              ROI_TEST_ENTRY(hello_failing_later_is_the_hello_request))
