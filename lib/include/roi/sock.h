/*
 * roi sockets: the few portable TCP calls the poller's users, the message
 * engine and the tests need, with ROI_E* errors on every platform.
 *
 * Every socket these calls create is non-blocking, has TCP_NODELAY when it is
 * a connection, and is owned by the caller, who closes it with roi_sock_close()
 * or roi_sock_abort(). On Windows the library starts Winsock itself: each
 * socket created here holds one reference on WSAStartup, given back when it is
 * closed through roi_sock_close() or roi_sock_abort(); callers never call
 * WSAStartup. Addresses are numeric IPv4 or IPv6 literals ("127.0.0.1", "::1");
 * no name resolution happens here.
 */
#ifndef ROI_SOCK_H
#define ROI_SOCK_H

#include <stddef.h>
#include <stdint.h>

#include "roi/poller.h"
#include "roi/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Opens an unconnected, unbound, non-blocking TCP socket.
 *
 * @param ipv6  0 for AF_INET, non-zero for AF_INET6.
 * @param out   receives the socket (ROI_INVALID_SOCKET on failure).
 * @return 0, ROI_EINVAL for a NULL out, or a mapped system error (ROI_EMFILE...).
 */
ROI_EXTERN int roi_sock_open_tcp(int ipv6, roi_socket *out);

/**
 * Opens a non-blocking TCP listener on host:port (port 0 picks a free port;
 * roi_sock_local_port() tells which).
 *
 * @return 0; ROI_EINVAL for a NULL host/out, a port outside 0..65535 or a host
 *         that is not a numeric address; ROI_EADDRINUSE...
 */
ROI_EXTERN int roi_sock_listen_tcp(const char *host, int port, int backlog,
                                   roi_socket *out);

/**
 * Starts a non-blocking TCP connect to host:port. The socket is usable at once;
 * the connect finishes later (WRITABLE) or fails (ERROR with the reason).
 *
 * @return 0 (connected or in progress), ROI_EINVAL, or a mapped system error
 *         from socket() or connect() (an immediate refusal, for example).
 */
ROI_EXTERN int roi_sock_connect_tcp(const char *host, int port, roi_socket *out);

/**
 * Accepts one connection from a listener; the new socket is non-blocking.
 *
 * @return 0; ROI_EAGAIN if none is waiting; ROI_EINVAL; a mapped system error.
 */
ROI_EXTERN int roi_sock_accept(roi_socket listener, roi_socket *out);

/**
 * Makes a connected pair of TCP sockets over the IPv4 loopback (a listener on
 * port 0, a connect, an accept, the listener closed). Both are non-blocking.
 * out[0] is the connecting side, out[1] the accepted side.
 *
 * @return 0, ROI_EINVAL for a NULL out, or a mapped system error.
 */
ROI_EXTERN int roi_sock_pair_tcp(roi_socket out[2]);

/**
 * Tells the local port a socket is bound to.
 *
 * @return the port (1..65535), ROI_EBADF or another mapped error.
 */
ROI_EXTERN int roi_sock_local_port(roi_socket s);

/**
 * Sends without blocking.
 *
 * @return the number of bytes sent (> 0 when len > 0); ROI_EAGAIN when the
 *         send buffer is full; ROI_EINVAL for a NULL buf with len > 0 or len
 *         > INT32_MAX; ROI_EPIPE/ROI_ECONNRESET... Never raises SIGPIPE.
 */
ROI_EXTERN int roi_sock_send(roi_socket s, const void *buf, size_t len);

/**
 * Receives without blocking.
 *
 * @return the number of bytes received; 0 at end of stream (the peer shut
 *         down); ROI_EAGAIN when nothing is waiting; ROI_EINVAL; a mapped
 *         system error (ROI_ECONNRESET...).
 */
ROI_EXTERN int roi_sock_recv(roi_socket s, void *buf, size_t len);

/**
 * Shuts down the sending side: the peer sees end of stream (a FIN).
 *
 * @return 0 or a mapped system error.
 */
ROI_EXTERN int roi_sock_shutdown_write(roi_socket s);

/**
 * Reads and clears the socket's pending error (SO_ERROR).
 *
 * @return 0 when there is none, the ROI_E* code of the pending error, or the
 *         error of getsockopt itself (ROI_EBADF, ROI_ENOTSOCK).
 */
ROI_EXTERN int roi_sock_error(roi_socket s);

/**
 * Closes a socket made by these calls (on Windows it also gives back the
 * socket's Winsock reference, so close other sockets with closesocket()).
 * ROI_INVALID_SOCKET is ignored and returns 0.
 *
 * @return 0 or a mapped system error (the socket is gone either way).
 */
ROI_EXTERN int roi_sock_close(roi_socket s);

/**
 * Closes a connected socket with a reset (SO_LINGER with a zero timeout): the
 * peer sees ROI_ECONNRESET instead of an orderly end of stream.
 *
 * @return 0 or a mapped system error (the socket is gone either way).
 */
ROI_EXTERN int roi_sock_abort(roi_socket s);

#ifdef __cplusplus
}
#endif

#endif /* ROI_SOCK_H */
