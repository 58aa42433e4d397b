/*
 * roi/sock.h for Windows (Winsock 2).
 *
 * Sockets are made with WSA_FLAG_OVERLAPPED (so the afd backend may poll
 * them) and WSA_FLAG_NO_HANDLE_INHERIT, then switched to non-blocking mode.
 * Listeners use SO_EXCLUSIVEADDRUSE: Windows' SO_REUSEADDR would let another
 * socket take over a port that is in use.
 */
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0600
#endif
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <afunix.h>

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "roi/error.h"
#include "roi/sock.h"
#include "sock_int.h"
#include "win/winsock.h"

#ifdef _MSC_VER
#pragma comment(lib, "ws2_32.lib")
#endif

#ifndef WSA_FLAG_NO_HANDLE_INHERIT
#define WSA_FLAG_NO_HANDLE_INHERIT 0x80
#endif

static SRWLOCK winsock_lock = SRWLOCK_INIT;
static long winsock_refs;

int roi__winsock_acquire(void) {
  int err = 0;
  AcquireSRWLockExclusive(&winsock_lock);
  if (winsock_refs == 0) {
    WSADATA data;
    int r = WSAStartup(MAKEWORD(2, 2), &data);
    if (r != 0)
      err = roi_err_from_win32((uint32_t)r);
  }
  if (!err)
    winsock_refs++;
  ReleaseSRWLockExclusive(&winsock_lock);
  return err;
}

void roi__winsock_release(void) {
  AcquireSRWLockExclusive(&winsock_lock);
  /* A socket closed here that roi did not create would release a reference it
   * never took; never let the count go below zero for it. */
  if (winsock_refs > 0 && --winsock_refs == 0)
    WSACleanup();
  ReleaseSRWLockExclusive(&winsock_lock);
}

static int last_error(void) {
  return roi_err_from_win32((uint32_t)WSAGetLastError());
}

int roi__winsock_check(uintptr_t s) {
  int type, len = (int)sizeof type;
  DWORD flags;
  if (getsockopt((SOCKET)s, SOL_SOCKET, SO_TYPE, (char *)&type, &len) == 0)
    return 0;
  if (WSAGetLastError() == WSAENOTSOCK && !GetHandleInformation((HANDLE)s, &flags))
    return ROI_EBADF;
  return last_error();
}

static int set_nonblocking(SOCKET s) {
  u_long one = 1;
  return ioctlsocket(s, FIONBIO, &one) == 0 ? 0 : last_error();
}

static void set_nodelay(SOCKET s) {
  BOOL one = TRUE;
  /* Best effort: a socket without Nagle's algorithm is only faster. */
  (void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
}

/* Closes a socket made here and gives back its Winsock reference. */
static int close_socket(SOCKET s) {
  int err = closesocket(s) == 0 ? 0 : last_error();
  roi__winsock_release();
  return err;
}

static int open_socket(int family, SOCKET *out) {
  SOCKET s = INVALID_SOCKET;
  int err = roi__winsock_acquire();
  if (err)
    return err;
  /* AF_UNIX takes protocol 0; TCP is the default stream protocol of the IP
   * families. */
  s = WSASocketW(family, SOCK_STREAM, 0, NULL, 0,
                 WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET) {
    err = last_error();
    roi__winsock_release();
    return err;
  }
  err = set_nonblocking(s);
  if (err) {
    close_socket(s);
    return err;
  }
  *out = s;
  return 0;
}

/* Fills a from a numeric IPv4 or IPv6 literal. */
static int make_addr(const char *host, int port, roi__addr *a) {
  struct sockaddr_in *a4 = (struct sockaddr_in *)(void *)a->storage;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)(void *)a->storage;
  if (!host || port < 0 || port > 65535)
    return ROI_EINVAL;
  memset(a, 0, sizeof *a);
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((u_short)port);
    a->len = (int)sizeof *a4;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((u_short)port);
    a->len = (int)sizeof *a6;
    return 0;
  }
  return ROI_EINVAL;
}

/* The one listen of this file. TCP listeners get SO_EXCLUSIVEADDRUSE (see
 * the top of the file). */
static int listen_addr(const roi__addr *a, int backlog, roi_socket *out) {
  const struct sockaddr *sa = (const struct sockaddr *)(const void *)a->storage;
  BOOL one = TRUE;
  SOCKET s = INVALID_SOCKET;
  int err;
  *out = ROI_INVALID_SOCKET;
  err = open_socket(sa->sa_family, &s);
  if (err)
    return err;
  if (!a->is_unix)
    (void)setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&one, sizeof one);
  if (bind(s, sa, a->len) != 0 || listen(s, backlog > 0 ? backlog : SOMAXCONN) != 0) {
    err = last_error();
    close_socket(s);
    return err;
  }
  *out = (roi_socket)s;
  return 0;
}

/* The one connect of this file: started without blocking. */
static int connect_addr(const roi__addr *a, roi_socket *out) {
  const struct sockaddr *sa = (const struct sockaddr *)(const void *)a->storage;
  const SOCKADDR_UN *un = (const SOCKADDR_UN *)(const void *)a->storage;
  SOCKET s = INVALID_SOCKET;
  int err;
  *out = ROI_INVALID_SOCKET;
  /* Windows reports a missing AF_UNIX path as a refusal; say what it is. */
  if (a->is_unix && GetFileAttributesA(un->sun_path) == INVALID_FILE_ATTRIBUTES)
    return ROI_ENOENT;
  err = open_socket(sa->sa_family, &s);
  if (err)
    return err;
  if (!a->is_unix)
    set_nodelay(s);
  if (connect(s, sa, a->len) != 0 && WSAGetLastError() != WSAEWOULDBLOCK) {
    err = last_error();
    close_socket(s);
    return err;
  }
  *out = (roi_socket)s;
  return 0;
}

int roi_sock_open_tcp(int ipv6, roi_socket *out) {
  SOCKET s = INVALID_SOCKET;
  int err;
  if (!out)
    return ROI_EINVAL;
  *out = ROI_INVALID_SOCKET;
  err = open_socket(ipv6 ? AF_INET6 : AF_INET, &s);
  if (!err)
    *out = (roi_socket)s;
  return err;
}

int roi_sock_listen_tcp(const char *host, int port, int backlog, roi_socket *out) {
  roi__addr a;
  int err;
  if (!out)
    return ROI_EINVAL;
  *out = ROI_INVALID_SOCKET;
  err = make_addr(host, port, &a);
  return err ? err : listen_addr(&a, backlog, out);
}

int roi_sock_connect_tcp(const char *host, int port, roi_socket *out) {
  roi__addr a;
  int err;
  if (!out)
    return ROI_EINVAL;
  *out = ROI_INVALID_SOCKET;
  err = make_addr(host, port, &a);
  return err ? err : connect_addr(&a, out);
}

int roi_sock_accept(roi_socket listener, roi_socket *out) {
  SOCKET s = INVALID_SOCKET;
  int err;
  if (!out)
    return ROI_EINVAL;
  *out = ROI_INVALID_SOCKET;
  if (listener == ROI_INVALID_SOCKET)
    return ROI_EBADF;
  err = roi__winsock_acquire();
  if (err)
    return err;
  s = accept((SOCKET)listener, NULL, NULL);
  if (s == INVALID_SOCKET) {
    err = WSAGetLastError() == WSAEWOULDBLOCK ? ROI_EAGAIN : last_error();
    roi__winsock_release();
    return err;
  }
  /* accept() makes an inheritable handle whatever the listener's flags. A
   * child process that inherits it keeps the connection open, and AFD
   * reports LOCAL_CLOSE only when the last handle closes: roi's close would
   * no longer end the connection, nor its poll. */
  if (!SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0)) {
    err = roi_err_from_win32(GetLastError());
    close_socket(s);
    return err;
  }
  err = set_nonblocking(s);
  if (err) {
    close_socket(s);
    return err;
  }
  set_nodelay(s);
  *out = (roi_socket)s;
  return 0;
}

int roi_sock_local_port(roi_socket s) {
  struct sockaddr_storage addr;
  int len = (int)sizeof addr;
  if (s == ROI_INVALID_SOCKET)
    return ROI_EBADF;
  if (getsockname((SOCKET)s, (struct sockaddr *)&addr, &len) != 0)
    return last_error();
  if (addr.ss_family == AF_INET)
    return ntohs(((struct sockaddr_in *)&addr)->sin_port);
  if (addr.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
  return ROI_EAFNOSUPPORT;
}

int roi_sock_send(roi_socket s, const void *buf, size_t len) {
  int n;
  if ((!buf && len > 0) || len > INT32_MAX)
    return ROI_EINVAL;
  if (s == ROI_INVALID_SOCKET)
    return ROI_EBADF;
  n = send((SOCKET)s, (const char *)buf, (int)len, 0);
  if (n == SOCKET_ERROR)
    return WSAGetLastError() == WSAEWOULDBLOCK ? ROI_EAGAIN : last_error();
  return n;
}

int roi_sock_recv(roi_socket s, void *buf, size_t len) {
  int n;
  if ((!buf && len > 0) || len > INT32_MAX)
    return ROI_EINVAL;
  if (s == ROI_INVALID_SOCKET)
    return ROI_EBADF;
  n = recv((SOCKET)s, (char *)buf, (int)len, 0);
  if (n == SOCKET_ERROR)
    return WSAGetLastError() == WSAEWOULDBLOCK ? ROI_EAGAIN : last_error();
  return n;
}

int roi_sock_shutdown_write(roi_socket s) {
  if (s == ROI_INVALID_SOCKET)
    return ROI_EBADF;
  return shutdown((SOCKET)s, SD_SEND) == 0 ? 0 : last_error();
}

int roi_sock_error(roi_socket s) {
  int soerr = 0, len = (int)sizeof soerr;
  if (s == ROI_INVALID_SOCKET)
    return ROI_EBADF;
  if (getsockopt((SOCKET)s, SOL_SOCKET, SO_ERROR, (char *)&soerr, &len) != 0)
    return last_error();
  return roi_err_from_win32((uint32_t)soerr);
}

int roi_sock_close(roi_socket s) {
  if (s == ROI_INVALID_SOCKET)
    return 0;
  return close_socket((SOCKET)s);
}

int roi_sock_abort(roi_socket s) {
  struct linger lg;
  if (s == ROI_INVALID_SOCKET)
    return 0;
  lg.l_onoff = 1;
  lg.l_linger = 0;
  (void)setsockopt((SOCKET)s, SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof lg);
  return close_socket((SOCKET)s);
}

int roi__addr_tcp(const char *host, int port, roi__addr *out) {
  struct addrinfo hints, *res = NULL;
  struct sockaddr_storage *ss = (struct sockaddr_storage *)(void *)out->storage;
  int rc, err;
  if (make_addr(host, port, out) == 0)
    return 0;
  if (!host || !*host || port < 0 || port > 65535)
    return ROI_EINVAL;
  err = roi__winsock_acquire();
  if (err)
    return err;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0 || !res) {
    roi__winsock_release();
    return ROI_ENOTFOUND;
  }
  memset(out, 0, sizeof *out);
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  out->len = (int)res->ai_addrlen;
  if (ss->ss_family == AF_INET)
    ((struct sockaddr_in *)ss)->sin_port = htons((u_short)port);
  else
    ((struct sockaddr_in6 *)ss)->sin6_port = htons((u_short)port);
  freeaddrinfo(res);
  roi__winsock_release();
  return 0;
}

int roi__addr_uds(const char *path, roi__addr *out) {
  SOCKADDR_UN *un = (SOCKADDR_UN *)(void *)out->storage;
  size_t n = strlen(path);
  if (n == 0)
    return ROI_EINVAL;
  if (n >= sizeof un->sun_path)
    return ROI_ENAMETOOLONG;
  memset(out, 0, sizeof *out);
  un->sun_family = AF_UNIX;
  memcpy(un->sun_path, path, n);
  out->is_unix = 1;
  out->len = (int)(offsetof(SOCKADDR_UN, sun_path) + n + 1);
  return 0;
}

int roi__sock_listen_addr(const roi__addr *a, roi_socket *out) {
  return listen_addr(a, SOMAXCONN, out);
}

int roi__sock_connect_addr(const roi__addr *a, roi_socket *out) {
  return connect_addr(a, out);
}

int roi__sock_sendv(roi_socket s, const roi__iov *v, int n) {
  WSABUF bufs[ROI__IOV_MAX];
  DWORD sent = 0;
  int i;
  for (i = 0; i < n; i++) {
    bufs[i].buf = (char *)(uintptr_t)v[i].base;
    bufs[i].len = (ULONG)v[i].len;
  }
  if (WSASend((SOCKET)s, bufs, (DWORD)n, &sent, 0, NULL, NULL) != 0)
    return WSAGetLastError() == WSAEWOULDBLOCK ? ROI_EAGAIN : last_error();
  return (int)sent;
}

void roi__uds_unlink(const char *path) {
  (void)DeleteFileA(path);
}

int roi__uds_temp_path(char *out, size_t cap, uint64_t tag) {
  char dir[MAX_PATH + 1];
  DWORD len = GetTempPathA((DWORD)sizeof dir, dir);
  int n;
  if (len == 0 || len > sizeof dir - 1)
    return ROI_ENAMETOOLONG;
  /* GetTempPathA's answer ends with a backslash. */
  n = snprintf(out, cap, "%sroi-%lu-%016llx.sock", dir,
               (unsigned long)GetCurrentProcessId(), (unsigned long long)tag);
  return n > 0 && (size_t)n < cap ? 0 : ROI_ENAMETOOLONG;
}
