/*
 * Helpers shared by the engine tests: making engines, messages and
 * addresses, and waiting for the next message of a group with a bound, so
 * that a broken engine fails a test instead of hanging it.
 */
#ifndef ROI_TESTS_ENGINE_UTIL_H
#define ROI_TESTS_ENGINE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "port_util.h"
#include "roi/roi.h"
#include "roi_test.h"
#include "sock_int.h"

/* Every wait in these tests is bounded by this; a healthy engine answers in
 * milliseconds. */
#define WAIT_MS 20000

static inline roi_engine *eng_new(size_t initial, size_t max) {
  roi_engine_options o;
  roi_engine *e = NULL;
  int rc;
  memset(&o, 0, sizeof o);
  o.pool_initial = initial;
  o.pool_max = max;
  rc = roi_engine_create(&e, &o);
  if (rc != 0)
    fprintf(stderr, "  roi_engine_create: %s\n", roi_err_name(rc));
  return e;
}

/* A message with an opcode, a channel and optionally one text header. */
static inline roi_message *msg_new(roi_engine *e, int op, uint16_t channel,
                                   const char *name, const char *value) {
  roi_message *m = NULL;
  if (roi_engine_get(e, ROI_GET_ALWAYS, &m) != 0)
    return NULL;
  roi_message_set_opcode(m, op);
  roi_message_set_channel(m, channel);
  if (name && roi_message_header_add(m, name, value) != 0) {
    roi_message_destroy(m);
    return NULL;
  }
  return m;
}

/* Posts a Hello (connect_to) or Welcome (listen_on) request; returns the
 * post result and fills info. */
static inline int post_open(roi_engine *e, roi_group *g, int op, const char *addr,
                            roi_post_info *info) {
  roi_message *m = msg_new(
      e, op, 0, op == ROI_OP_HELLO_REQUEST ? ROI_HEADER_CONNECT_TO : ROI_HEADER_LISTEN_ON,
      addr);
  int rc;
  if (!m)
    return ROI_ENOMEM;
  rc = roi_group_post(g, &m, info);
  if (m)
    roi_message_destroy(m);
  return rc;
}

static inline int post_simple(roi_engine *e, roi_group *g, int op, uint16_t channel,
                              uint64_t id, roi_post_info *info) {
  roi_message *m = msg_new(e, op, channel, NULL, NULL);
  int rc;
  if (!m)
    return ROI_ENOMEM;
  roi_message_set_id(m, id);
  rc = roi_group_post(g, &m, info);
  if (m)
    roi_message_destroy(m);
  return rc;
}

/* The next message of g within WAIT_MS, or NULL (and a line saying so). */
static inline roi_message *next_msg(roi_group *g) {
  roi_message *m = NULL;
  int rc = roi_group_wait_receive(g, WAIT_MS, &m);
  if (rc != 0)
    fprintf(stderr, "  wait_receive: %s\n", roi_err_name(rc));
  return m;
}

/* The "~reason" of a channel_closed Signal, or -1. */
static inline int reason_of(const roi_message *m) {
  roi_header h;
  char text[8];
  if (roi_message_header_find(m, ROI_HEADER_REASON, &h) != 1 || h.value_len >= sizeof text)
    return -1;
  memcpy(text, h.value, h.value_len);
  text[h.value_len] = '\0';
  return atoi(text);
}

static inline int is_closed_signal(const roi_message *m, uint16_t channel) {
  return m && roi_message_opcode(m) == ROI_OP_SIGNAL &&
         roi_message_status(m) == ROI_STATUS_CHANNEL_CLOSED &&
         roi_message_origin(m) == ROI_ORIGIN_ENGINE && roi_message_channel(m) == channel;
}

/* A fresh AF_UNIX path in the temporary directory (not created). Threads
 * call this at once, so the name mixes the clock with an address on the
 * caller's own stack instead of sharing a counter. */
static inline void uds_path(char *out, size_t cap) {
  const char *dir = getenv("TMPDIR");
  char here;
  unsigned long tag = (unsigned long)((uintptr_t)&here >> 4) % 1000000ul;
  unsigned long stamp = (unsigned long)(roi__now_ns() % 1000000000ull);
#ifdef _WIN32
  if (!dir)
    dir = getenv("TEMP");
  if (!dir)
    dir = ".";
  snprintf(out, cap, "%s\\roi-%d-%lu-%lu.sock", dir, (int)roi_test_getpid(), stamp, tag);
#else
  if (!dir)
    dir = "/tmp";
  snprintf(out, cap, "%s/roi-%d-%lu-%lu.sock", dir, (int)roi_test_getpid(), stamp, tag);
#endif
}

/* 1 when AF_UNIX sockets cannot be made because the process runs under
 * Wine, whose Winsock (version 8) has no AF_UNIX: socket() fails with
 * WSAEAFNOSUPPORT. Windows 10 1803 and later have it, so this is a Wine
 * difference (NOTES.md), the only reason a test may skip AF_UNIX. */
static inline int uds_unavailable(void) {
  char path[200];
  roi__addr a;
  roi_socket s;
  int rc;
  if (!roi__under_wine())
    return 0;
  uds_path(path, sizeof path);
  if (roi__addr_uds(path, &a) != 0)
    return 0;
  rc = roi__sock_listen_addr(&a, &s);
  if (rc == 0) {
    roi_sock_close(s);
    roi__uds_unlink(path);
  }
  return rc == ROI_EAFNOSUPPORT;
}

#define UDS_SKIP_REASON "Wine 8 has no AF_UNIX sockets (WSAEAFNOSUPPORT); see NOTES.md"

/* The port a WelcomeResponse names in its "~listen_on". */
static inline int listen_port_of(const roi_message *m) {
  roi_header h;
  const char *bar;
  if (roi_message_header_find(m, ROI_HEADER_LISTEN_ON, &h) != 1)
    return -1;
  bar = h.value + h.value_len;
  while (bar > h.value && bar[-1] != '|')
    bar--;
  return atoi(bar);
}

/* The engine's counters now. */
static inline roi_engine_stats stats_of(roi_engine *e) {
  roi_engine_stats s;
  int rc;
  memset(&s, 0, sizeof s);
  rc = roi_engine_stats_get(e, &s);
  if (rc != 0)
    fprintf(stderr, "  roi_engine_stats_get: %s\n", roi_err_name(rc));
  return s;
}

/* How many rounds the reactor has made, for the no-busy-loop checks. */
static inline uint64_t rounds_of(roi_engine *e) {
  return stats_of(e).rounds;
}

/* Connects client group cg to addr and completes the handshake with a server
 * group sg that the test answers itself. Returns the client channel and
 * fills *srv with the server's, or 0. */
static inline uint16_t connect_pair(roi_engine *ce, roi_group *cg, roi_group *sg,
                                    const char *addr, uint16_t *srv) {
  roi_post_info cl;
  roi_message *m;
  if (post_open(ce, cg, ROI_OP_HELLO_REQUEST, addr, &cl) != 0)
    return 0;
  m = next_msg(sg);
  if (!m || roi_message_opcode(m) != ROI_OP_HELLO_REQUEST) {
    roi_message_destroy(m);
    return 0;
  }
  *srv = roi_message_channel(m);
  roi_message_set_opcode(m, ROI_OP_HELLO_RESPONSE);
  if (roi_group_post(sg, &m, NULL) != 0) {
    roi_message_destroy(m);
    return 0;
  }
  m = next_msg(cg);
  if (!m || roi_message_opcode(m) != ROI_OP_HELLO_RESPONSE ||
      roi_message_status(m) != ROI_STATUS_SUCCESS) {
    roi_message_destroy(m);
    return 0;
  }
  roi_engine_put(ce, &m);
  return cl.channel;
}

/* Starts a listener in g and returns its channel; *port gets its port. */
static inline uint16_t listen_on(roi_engine *e, roi_group *g, const char *addr, int *port) {
  roi_post_info info;
  roi_message *m;
  if (post_open(e, g, ROI_OP_WELCOME_REQUEST, addr, &info) != 0)
    return 0;
  m = next_msg(g);
  if (!m || roi_message_status(m) != ROI_STATUS_SUCCESS) {
    fprintf(stderr, "  listen on %s: status %d\n", addr, m ? roi_message_status(m) : -1);
    roi_message_destroy(m);
    return 0;
  }
  if (port)
    *port = listen_port_of(m);
  roi_engine_put(e, &m);
  return info.channel;
}

/* Makes group sg of engine se listen on 127.0.0.1 and connects group cg of
 * engine ce to it (connect_pair()). Returns the client channel and fills
 * *srv with the server's, or 0. */
static inline uint16_t pair_up(roi_engine *se, roi_group *sg, roi_engine *ce, roi_group *cg,
                               uint16_t *srv) {
  char addr[64];
  int port = 0;
  if (listen_on(se, sg, "tcp|127.0.0.1|0", &port) == 0)
    return 0;
  snprintf(addr, sizeof addr, "tcp|127.0.0.1|%d", port);
  return connect_pair(ce, cg, sg, addr, srv);
}

/* An echo server's state: its engine and group, the requests it echoed,
 * and whether a wait failed. */
typedef struct echo_server {
  roi_engine *e;
  roi_group *g;
  int echoed, failed;
} echo_server;

/* Answers every request with the same message as a response, every Hello
 * with a HelloResponse, until a receiver_update (a thread's function). */
static inline void echo_serve(void *arg) {
  echo_server *s = arg;
  for (;;) {
    roi_message *m = NULL;
    int op;
    if (roi_group_wait_receive(s->g, WAIT_MS, &m) != 0) {
      s->failed = 1;
      return;
    }
    op = roi_message_opcode(m);
    if (roi_message_status(m) == ROI_STATUS_RECEIVER_UPDATE) {
      roi_engine_put(s->e, &m);
      return;
    }
    if (roi_message_origin(m) == ROI_ORIGIN_APPLICATION &&
        (op == ROI_OP_REQUEST || op == ROI_OP_HELLO_REQUEST)) {
      roi_message_set_opcode(m, op == ROI_OP_REQUEST ? ROI_OP_RESPONSE
                                                     : ROI_OP_HELLO_RESPONSE);
      if (roi_group_post(s->g, &m, NULL) == 0) {
        s->echoed += op == ROI_OP_REQUEST;
        continue;
      }
      s->failed = 1;
    }
    roi_engine_put(s->e, &m);
  }
}

#endif /* ROI_TESTS_ENGINE_UTIL_H */
