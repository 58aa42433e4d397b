/*
 * A loopback TCP port for a test that must name a port before anything
 * listens on it: a connect that must be refused, or a client that retries
 * until its server starts.
 *
 * Listening on port 0, closing the listener and reusing its number is not
 * safe while other tests run at the same time (meson runs two at once). The
 * closed number goes back to the system's ephemeral range, where another
 * process's bind to port 0 or outgoing connect can take it before this test
 * uses it: test_poller_reuse, which opens 10,000 listeners on port 0, then
 * received a stranger's connect, and test_engine_channels' server could not
 * listen because a listener in another test held its number. Both were seen.
 *
 * So the port is chosen below the ephemeral range, where the system hands
 * out no number on its own, and it is held by a bound socket that does not
 * listen. A connect to it is refused, and no other bind can take it, until
 * roi_test_port_release().
 */
#ifndef ROI_TESTS_PORT_UTIL_H
#define ROI_TESTS_PORT_UTIL_H

#include <errno.h>
#include <stdio.h>

#ifdef _WIN32
#include <process.h>
#include <winsock2.h>
#define roi_test_getpid _getpid
#else
#include <sys/socket.h>
#include <unistd.h>
#define roi_test_getpid getpid
#endif

#include "platform.h"
#include "roi/error.h"
#include "roi/sock.h"
#include "sock_int.h"

/* The Linux file that holds the ephemeral range. Under Wine the same file is
 * reached through the Z: drive; on Windows itself the open fails and the
 * default below is used. */
#ifdef _WIN32
#define ROI_TEST_PORT_RANGE_FILE "Z:\\proc\\sys\\net\\ipv4\\ip_local_port_range"
#else
#define ROI_TEST_PORT_RANGE_FILE "/proc/sys/net/ipv4/ip_local_port_range"
#endif
/* Used when the range cannot be read: Linux's default lower bound, which is
 * also below Windows' (49152). */
#define ROI_TEST_PORT_EPHEMERAL_LOW 32768
/* How many numbers under the ephemeral range are candidates. */
#define ROI_TEST_PORT_SPAN 8192
/* How many candidates are tried before giving up. */
#define ROI_TEST_PORT_TRIES 256

/* A reserved port: its number and the socket that holds it. */
typedef struct roi_test_port {
  int port;
  roi_socket holder;
} roi_test_port;

/* The lowest number of the system's ephemeral range. */
static inline int roi_test_port_ephemeral_low(void) {
  int low = 0, high = 0;
  FILE *f = fopen(ROI_TEST_PORT_RANGE_FILE, "r");
  if (f) {
    if (fscanf(f, "%d %d", &low, &high) != 2)
      low = 0;
    fclose(f);
  }
  return low > 0 && low <= 65535 ? low : ROI_TEST_PORT_EPHEMERAL_LOW;
}

/* Binds s to 127.0.0.1:port without listening. Returns 0, ROI_EADDRINUSE, or
 * another negative ROI_E*. */
static inline int roi_test_port_bind(roi_socket s, int port) {
  roi__addr a;
  int err = roi__addr_tcp("127.0.0.1", port, &a);
  if (err != 0)
    return err;
#ifdef _WIN32
  if (bind(s, (const struct sockaddr *)a.storage, a.len) == 0)
    return 0;
  return roi_err_from_win32((uint32_t)WSAGetLastError());
#else
  if (bind(s, (const struct sockaddr *)a.storage, (socklen_t)a.len) == 0)
    return 0;
  return roi_err_from_errno(errno);
#endif
}

/* Reserves a port as the header comment says. When the ephemeral range
 * leaves no room below it, the port comes from the range itself (still held,
 * so only the moment between release and listen is exposed) and a line on
 * stderr says so. Returns 0, or a negative ROI_E* with out->port 0. */
static inline int roi_test_port_reserve(roi_test_port *out) {
  int low = roi_test_port_ephemeral_low();
  int first = low - ROI_TEST_PORT_SPAN < 1024 ? 1024 : low - ROI_TEST_PORT_SPAN;
  int span = low - first, i, err;
  unsigned seed = (unsigned)roi_test_getpid() * 7919u + (unsigned)roi__now_ns();
  out->port = 0;
  err = roi_sock_open_tcp(0, &out->holder);
  if (err != 0)
    return err;
  if (span < ROI_TEST_PORT_TRIES) {
    fprintf(stderr, "  no free numbers below the ephemeral range (%d): port 0\n", low);
    err = roi_test_port_bind(out->holder, 0);
  } else {
    err = ROI_EADDRINUSE;
    for (i = 0; i < ROI_TEST_PORT_TRIES && err == ROI_EADDRINUSE; i++)
      err = roi_test_port_bind(out->holder,
                               first + (int)((seed + (unsigned)i) % (unsigned)span));
  }
  if (err == 0)
    out->port = roi_sock_local_port(out->holder);
  if (out->port <= 0) {
    roi_sock_close(out->holder);
    out->holder = ROI_INVALID_SOCKET;
    out->port = 0;
    return err != 0 ? err : -1;
  }
  return 0;
}

/* Gives the port back (for a listener about to take it). Safe to call twice. */
static inline void roi_test_port_release(roi_test_port *p) {
  if (p->holder != ROI_INVALID_SOCKET)
    roi_sock_close(p->holder);
  p->holder = ROI_INVALID_SOCKET;
}

#endif /* ROI_TESTS_PORT_UTIL_H */
