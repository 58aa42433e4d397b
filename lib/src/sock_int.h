/*
 * The socket calls the engine needs beyond roi/sock.h: addresses that may be
 * host names or AF_UNIX paths, and gathered sends. Each platform implements
 * them in its sock.c, so the core keeps no system socket header.
 */
#ifndef ROI_SRC_SOCK_INT_H
#define ROI_SRC_SOCK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "roi/sock.h"

/* An address in its system form (a sockaddr of len bytes). The storage is
 * 8-byte aligned and as large as sockaddr_storage. */
typedef struct roi__addr {
  int is_unix;
  int len;
  uint64_t storage[16];
} roi__addr;

/* One piece of a gathered send. */
typedef struct roi__iov {
  const void *base;
  size_t len;
} roi__iov;

/* The most pieces one roi__sock_sendv() takes. */
#define ROI__IOV_MAX 64

/* Resolves host (a numeric address first, then a name, blocking) and port.
 * Returns 0, ROI_ENOTFOUND when the name does not resolve, ROI_EINVAL. */
int roi__addr_tcp(const char *host, int port, roi__addr *out);

/* An AF_UNIX address. Returns 0, ROI_ENAMETOOLONG, or ROI_EAFNOSUPPORT where
 * the system has no AF_UNIX. */
int roi__addr_uds(const char *path, roi__addr *out);

/* Opens a non-blocking listener. For an AF_UNIX address a stale socket file
 * is not removed: the listen fails with ROI_EADDRINUSE. */
int roi__sock_listen_addr(const roi__addr *a, roi_socket *out);

/* Starts a non-blocking connect: 0 when it is under way or done (WRITABLE
 * tells), else the error (ROI_ECONNREFUSED, ROI_ENOENT for a missing AF_UNIX
 * path, ...) with no socket left open. */
int roi__sock_connect_addr(const roi__addr *a, roi_socket *out);

/* Sends n pieces in one system call: the bytes sent, ROI_EAGAIN, or an
 * error. n is 1..ROI__IOV_MAX. */
int roi__sock_sendv(roi_socket s, const roi__iov *v, int n);

/* Removes an AF_UNIX socket file (a listener's, when it closes). */
void roi__uds_unlink(const char *path);

/* A fresh AF_UNIX path in the system's temporary directory, with the process
 * id and tag in its name. Returns 0 or ROI_ENAMETOOLONG. */
int roi__uds_temp_path(char *out, size_t cap, uint64_t tag);

#endif /* ROI_SRC_SOCK_INT_H */
