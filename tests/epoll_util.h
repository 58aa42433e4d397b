/*
 * Helpers shared by the epoll tests (tests/test_epoll_*.c).
 *
 * The same test programs build on Windows against roi's epoll layer
 * (roi/epoll.h, wepoll's API) and on Linux against the kernel's epoll
 * (roi/epoll.h includes <sys/epoll.h> there), so that what the layer does is
 * compared with the original. The few differences of spelling between the
 * two are bridged here, not in the public header, because they are the test
 * programs' business, not an API roi offers on Linux:
 *
 * - the port is a HANDLE closed with epoll_close() on Windows, an int closed
 *   with close() on Linux: EP_HANDLE, EP_NO_HANDLE (what a failed create
 *   returns) and ep_close();
 * - epoll_ctl() takes a SOCKET on Windows, an int fd on Linux: roi_socket is
 *   either, so tests pass roi_socket values;
 * - a socket error is WSA* on Windows and errno on Linux: roi_sock_error()
 *   maps both to ROI_E*.
 *
 * Waits that must see an event loop until a generous deadline (under Wine
 * every socket call is a round trip to wineserver); checks that nothing
 * happens use a short quiet period.
 */
#ifndef ROI_TESTS_EPOLL_UTIL_H
#define ROI_TESTS_EPOLL_UTIL_H

#ifdef _WIN32
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#else
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "platform.h"
#include "roi/epoll.h"
#include "roi/error.h"
#include "roi/sock.h"

#ifdef _WIN32
typedef HANDLE EP_HANDLE;
#define EP_NO_HANDLE NULL
static inline int ep_close(EP_HANDLE h) {
  return epoll_close(h);
}
#else
typedef int EP_HANDLE;
#define EP_NO_HANDLE (-1)
static inline int ep_close(EP_HANDLE h) {
  return close(h);
}
#endif

/* How long a test waits for an event that must come: an upper bound only. */
#define EP_DEADLINE_MS 5000
/* How long a test watches for an event that must not come. */
#define EP_QUIET_MS 150

static inline int ep_ctl(EP_HANDLE ep, int op, roi_socket s, uint32_t events,
                         uint64_t data) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = events;
  ev.data.u64 = data;
  return epoll_ctl(ep, op, s, &ev);
}

/* Waits until an event for data comes (returns its events) or the deadline
 * passes (returns 0). Events of other sockets are ignored. */
static inline uint32_t ep_wait_for(EP_HANDLE ep, uint64_t data, int ms) {
  struct epoll_event ev[16];
  uint64_t end = roi__now_ms() + (uint64_t)ms;
  for (;;) {
    uint64_t now = roi__now_ms();
    int i, n;
    if (now >= end)
      return 0;
    n = epoll_wait(ep, ev, 16, (int)(end - now));
    for (i = 0; i < n; i++)
      if (ev[i].data.u64 == data)
        return ev[i].events;
    if (n < 0)
      return 0;
  }
}

/* How many events for data come within ms (waiting the whole time). */
static inline int ep_count(EP_HANDLE ep, uint64_t data, int ms, uint32_t *last) {
  struct epoll_event ev[16];
  uint64_t end = roi__now_ms() + (uint64_t)ms;
  int count = 0;
  for (;;) {
    uint64_t now = roi__now_ms();
    int i, n;
    if (now >= end)
      return count;
    n = epoll_wait(ep, ev, 16, (int)(end - now));
    for (i = 0; i < n; i++)
      if (ev[i].data.u64 == data) {
        count++;
        if (last)
          *last = ev[i].events;
      }
    if (n < 0)
      return -1;
  }
}

/* A new port and a connected TCP pair for a test; returns 0, or -1 with
 * nothing left open. */
static inline int ep_open_pair(EP_HANDLE *ep, roi_socket pair[2]) {
  *ep = epoll_create1(0);
  if (*ep == EP_NO_HANDLE)
    return -1;
  if (roi_sock_pair_tcp(pair) != 0) {
    ep_close(*ep);
    return -1;
  }
  return 0;
}

/* Closes what ep_open_pair() opened; returns ep_close()'s result. */
static inline int ep_close_pair(EP_HANDLE ep, roi_socket pair[2]) {
  roi_sock_close(pair[0]);
  roi_sock_close(pair[1]);
  return ep_close(ep);
}

static inline int ep_send_byte(roi_socket s) {
  char c = 'x';
  return roi_sock_send(s, &c, 1);
}

/* Closes a socket made outside roi (socket()), without roi's accounting. */
static inline void ep_raw_close(roi_socket s) {
#ifdef _WIN32
  closesocket((SOCKET)s);
#else
  close(s);
#endif
}

/* A UDP socket bound to 127.0.0.1 on an ephemeral port; ROI_INVALID_SOCKET
 * on failure. *port receives the port. */
static inline roi_socket ep_udp_socket(int *port) {
  struct sockaddr_in a;
#ifdef _WIN32
  int len = (int)sizeof a;
  WSADATA wsa;
  SOCKET s;
  /* A Winsock reference of the test's own for sockets roi does not make;
   * never given back, which is harmless in a test program. */
  if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
    return ROI_INVALID_SOCKET;
  s = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP);
  if (s == INVALID_SOCKET)
    return ROI_INVALID_SOCKET;
#else
  socklen_t len = sizeof a;
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0)
    return ROI_INVALID_SOCKET;
#endif
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 ||
      getsockname(s, (struct sockaddr *)&a, &len) != 0) {
    ep_raw_close((roi_socket)s);
    return ROI_INVALID_SOCKET;
  }
  *port = ntohs(a.sin_port);
  return (roi_socket)s;
}

static inline int ep_udp_send(roi_socket s, int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons((unsigned short)port);
  return sendto(s, "u", 1, 0, (struct sockaddr *)&a, sizeof a) == 1 ? 0 : -1;
}

/* Reads one datagram; returns its length or -1. */
static inline int ep_udp_recv(roi_socket s) {
  char buf[64];
  return (int)recv(s, buf, sizeof buf, 0);
}

#endif /* ROI_TESTS_EPOLL_UTIL_H */
