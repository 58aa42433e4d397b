/*
 * A raw peer: the engine's counterpart that is not a roi engine, made of
 * plain sockets and hand-written frames, for the tests that check the wire
 * byte by byte or behave as a faulty or hostile peer would.
 */
#ifndef ROI_TESTS_RAW_PEER_H
#define ROI_TESTS_RAW_PEER_H

#include "engine_util.h"

/* Sends (sending != 0) or receives exactly len bytes, waiting out a connect
 * still under way and a full or empty buffer, within WAIT_MS. */
static inline int raw_io(roi_socket s, void *buf, size_t len, int sending) {
  char *p = buf;
  uint64_t deadline = roi__now_ms() + WAIT_MS;
  while (len > 0) {
    int n = sending ? roi_sock_send(s, p, len) : roi_sock_recv(s, p, len);
    if (n > 0) {
      p += n;
      len -= (size_t)n;
    } else if ((n == ROI_EAGAIN || n == ROI_ENOTCONN) && roi__now_ms() < deadline) {
      roi__sleep_ms(1);
    } else {
      fprintf(stderr, "  raw %s: %s\n", sending ? "send" : "recv",
              n == 0 ? "end of stream" : roi_err_name(n));
      return -1;
    }
  }
  return 0;
}

static inline int raw_send_all(roi_socket s, const void *buf, size_t len) {
  return raw_io(s, (void *)(uintptr_t)buf, len, 1);
}

static inline int raw_recv_exact(roi_socket s, void *buf, size_t len) {
  return raw_io(s, buf, len, 0);
}

/* Waits until the engine closed the connection: end of stream or reset. */
static inline int raw_wait_closed(roi_socket s) {
  char buf[4096];
  uint64_t deadline = roi__now_ms() + WAIT_MS;
  for (;;) {
    int n = roi_sock_recv(s, buf, sizeof buf);
    if (n == 0 || n == ROI_ECONNRESET || n == ROI_ECONNABORTED)
      return 0;
    if (n == ROI_EAGAIN && roi__now_ms() < deadline) {
      roi__sleep_ms(1);
      continue;
    }
    if (n > 0)
      continue;
    fprintf(stderr, "  raw wait closed: %s\n", roi_err_name(n));
    return -1;
  }
}

/* A 16-byte header written out byte by byte, as docs/design.md section 4 lays it. */
static inline void header_bytes(uint8_t out[16], uint16_t ch, uint8_t proto, uint8_t status,
                                uint64_t id, uint16_t hlen, uint16_t blen) {
  int i;
  out[0] = (uint8_t)(ch >> 8);
  out[1] = (uint8_t)ch;
  out[2] = proto;
  out[3] = status;
  for (i = 0; i < 8; i++)
    out[4 + i] = (uint8_t)(id >> (56 - 8 * i));
  out[12] = (uint8_t)(hlen >> 8);
  out[13] = (uint8_t)hlen;
  out[14] = (uint8_t)(blen >> 8);
  out[15] = (uint8_t)blen;
}

#endif /* ROI_TESTS_RAW_PEER_H */
