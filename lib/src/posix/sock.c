/*
 * roi/sock.h for POSIX systems.
 *
 * Sockets are created with SOCK_NONBLOCK | SOCK_CLOEXEC where the system has
 * them (Linux), so no other thread's fork/exec inherits them; sends use
 * MSG_NOSIGNAL so a closed peer gives ROI_EPIPE, never SIGPIPE.
 */
#include "roi/sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "roi/error.h"
#include "sock_int.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif

static int last_error(void) {
  return roi_err_from_errno(errno);
}

#ifndef SOCK_NONBLOCK
static int set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
    return last_error();
  return 0;
}
#endif

static int open_socket(int family, int *out) {
  int fd;
#ifdef SOCK_NONBLOCK
  fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return last_error();
#else
  int err;
  fd = socket(family, SOCK_STREAM, 0);
  if (fd < 0)
    return last_error();
  err = set_nonblocking(fd);
  if (err) {
    close(fd);
    return err;
  }
#endif
  *out = fd;
  return 0;
}

static void set_nodelay(int fd) {
  int one = 1;
  /* Best effort: a socket without Nagle's algorithm is only faster. */
  (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
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
    a4->sin_port = htons((uint16_t)port);
    a->len = (int)sizeof *a4;
    return 0;
  }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    a->len = (int)sizeof *a6;
    return 0;
  }
  return ROI_EINVAL;
}

/* The one listen of this file: TCP listeners get SO_REUSEADDR, which lets a
 * restarted server bind the port of connections still in TIME_WAIT. */
static int listen_addr(const roi__addr *a, int backlog, roi_socket *out) {
  const struct sockaddr *sa = (const struct sockaddr *)(const void *)a->storage;
  int fd = -1, err, one = 1;
  *out = ROI_INVALID_SOCKET;
  err = open_socket(sa->sa_family, &fd);
  if (err)
    return err;
  if (!a->is_unix)
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, sa, (socklen_t)a->len) != 0 ||
      listen(fd, backlog > 0 ? backlog : SOMAXCONN) != 0) {
    err = last_error();
    close(fd);
    return err;
  }
  *out = fd;
  return 0;
}

/* The one connect of this file: started without blocking. For AF_UNIX,
 * EAGAIN (a full backlog) counts as under way too: the poller then reports
 * the socket as never connected, which the engine answers as a failure. */
static int connect_addr(const roi__addr *a, roi_socket *out) {
  const struct sockaddr *sa = (const struct sockaddr *)(const void *)a->storage;
  int fd = -1, err;
  *out = ROI_INVALID_SOCKET;
  err = open_socket(sa->sa_family, &fd);
  if (err)
    return err;
  if (!a->is_unix)
    set_nodelay(fd);
  if (connect(fd, sa, (socklen_t)a->len) != 0 && errno != EINPROGRESS &&
      !(a->is_unix && errno == EAGAIN)) {
    err = last_error();
    close(fd);
    return err;
  }
  *out = fd;
  return 0;
}

int roi_sock_open_tcp(int ipv6, roi_socket *out) {
  if (!out)
    return ROI_EINVAL;
  *out = ROI_INVALID_SOCKET;
  return open_socket(ipv6 ? AF_INET6 : AF_INET, out);
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
  int fd;
  if (!out)
    return ROI_EINVAL;
  *out = ROI_INVALID_SOCKET;
  if (listener == ROI_INVALID_SOCKET)
    return ROI_EBADF;
#ifdef SOCK_NONBLOCK
  do
    fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return errno == EWOULDBLOCK ? ROI_EAGAIN : last_error();
#else
  int err;
  do
    fd = accept(listener, NULL, NULL);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return errno == EWOULDBLOCK ? ROI_EAGAIN : last_error();
  err = set_nonblocking(fd);
  if (err) {
    close(fd);
    return err;
  }
#endif
  set_nodelay(fd);
  *out = fd;
  return 0;
}

int roi_sock_local_port(roi_socket s) {
  struct sockaddr_storage addr;
  socklen_t len = sizeof addr;
  if (s == ROI_INVALID_SOCKET)
    return ROI_EBADF;
  if (getsockname(s, (struct sockaddr *)&addr, &len) != 0)
    return last_error();
  if (addr.ss_family == AF_INET)
    return ntohs(((struct sockaddr_in *)&addr)->sin_port);
  if (addr.ss_family == AF_INET6)
    return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
  return ROI_EAFNOSUPPORT;
}

int roi_sock_send(roi_socket s, const void *buf, size_t len) {
  ssize_t n;
  if ((!buf && len > 0) || len > INT32_MAX)
    return ROI_EINVAL;
  if (s == ROI_INVALID_SOCKET)
    return ROI_EBADF;
  do
    n = send(s, buf, len, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno == EWOULDBLOCK ? ROI_EAGAIN : last_error();
  return (int)n;
}

int roi_sock_recv(roi_socket s, void *buf, size_t len) {
  ssize_t n;
  if ((!buf && len > 0) || len > INT32_MAX)
    return ROI_EINVAL;
  if (s == ROI_INVALID_SOCKET)
    return ROI_EBADF;
  do
    n = recv(s, buf, len, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return errno == EWOULDBLOCK ? ROI_EAGAIN : last_error();
  return (int)n;
}

int roi_sock_shutdown_write(roi_socket s) {
  if (s == ROI_INVALID_SOCKET)
    return ROI_EBADF;
  return shutdown(s, SHUT_WR) == 0 ? 0 : last_error();
}

int roi_sock_error(roi_socket s) {
  int soerr = 0;
  socklen_t len = sizeof soerr;
  if (s == ROI_INVALID_SOCKET)
    return ROI_EBADF;
  if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0)
    return last_error();
  return roi_err_from_errno(soerr);
}

int roi_sock_close(roi_socket s) {
  if (s == ROI_INVALID_SOCKET)
    return 0;
  /* On Linux the descriptor is released even when close() reports an error,
   * so it must not be retried on EINTR. */
  return close(s) == 0 ? 0 : last_error();
}

int roi_sock_abort(roi_socket s) {
  struct linger lg;
  if (s == ROI_INVALID_SOCKET)
    return 0;
  lg.l_onoff = 1;
  lg.l_linger = 0;
  (void)setsockopt(s, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  return roi_sock_close(s);
}

int roi__addr_tcp(const char *host, int port, roi__addr *out) {
  struct addrinfo hints, *res = NULL;
  struct sockaddr_storage *ss = (struct sockaddr_storage *)(void *)out->storage;
  int rc;
  if (make_addr(host, port, out) == 0)
    return 0;
  if (!host || !*host || port < 0 || port > 65535)
    return ROI_EINVAL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0 || !res)
    return ROI_ENOTFOUND;
  memset(out, 0, sizeof *out);
  memcpy(ss, res->ai_addr, res->ai_addrlen);
  out->len = (int)res->ai_addrlen;
  if (ss->ss_family == AF_INET)
    ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
  else
    ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
  freeaddrinfo(res);
  return 0;
}

int roi__addr_uds(const char *path, roi__addr *out) {
  struct sockaddr_un *un = (struct sockaddr_un *)(void *)out->storage;
  size_t n = strlen(path);
  if (n == 0)
    return ROI_EINVAL;
  if (n >= sizeof un->sun_path)
    return ROI_ENAMETOOLONG;
  memset(out, 0, sizeof *out);
  un->sun_family = AF_UNIX;
  memcpy(un->sun_path, path, n);
  out->is_unix = 1;
  out->len = (int)(offsetof(struct sockaddr_un, sun_path) + n + 1);
  return 0;
}

int roi__sock_listen_addr(const roi__addr *a, roi_socket *out) {
  return listen_addr(a, SOMAXCONN, out);
}

int roi__sock_connect_addr(const roi__addr *a, roi_socket *out) {
  return connect_addr(a, out);
}

int roi__sock_sendv(roi_socket s, const roi__iov *v, int n) {
  struct iovec iov[ROI__IOV_MAX];
  struct msghdr mh;
  ssize_t r;
  int i;
  for (i = 0; i < n; i++) {
    iov[i].iov_base = (void *)(uintptr_t)v[i].base;
    iov[i].iov_len = v[i].len;
  }
  memset(&mh, 0, sizeof mh);
  mh.msg_iov = iov;
  mh.msg_iovlen = (size_t)n;
  do
    r = sendmsg(s, &mh, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return errno == EWOULDBLOCK ? ROI_EAGAIN : last_error();
  /* The engine never gathers more than a few MiB, far below INT32_MAX. */
  return (int)r;
}

void roi__uds_unlink(const char *path) {
  (void)unlink(path);
}

int roi__uds_temp_path(char *out, size_t cap, uint64_t tag) {
  const char *dir = getenv("TMPDIR");
  int n;
  if (!dir || !*dir)
    dir = "/tmp";
  n = snprintf(out, cap, "%s/roi-%ld-%016llx.sock", dir, (long)getpid(),
               (unsigned long long)tag);
  return n > 0 && (size_t)n < cap ? 0 : ROI_ENAMETOOLONG;
}
