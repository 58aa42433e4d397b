/*
 * Winsock start-up, owned by the library.
 *
 * Every object that needs Winsock (a socket made by roi_sock_*, a poller)
 * takes one reference and gives it back when it is closed; WSAStartup runs on
 * the first reference and WSACleanup after the last, so callers never call
 * either.
 */
#ifndef ROI_SRC_WIN_WINSOCK_H
#define ROI_SRC_WIN_WINSOCK_H

#include <stdint.h>

/* Returns 0 or the mapped WSAStartup error. */
int roi__winsock_acquire(void);
void roi__winsock_release(void);

/* Checks that s is an open socket: 0, ROI_EBADF when the value is not an open
 * handle at all, ROI_ENOTSOCK when it is a handle but not a socket. Winsock
 * alone says WSAENOTSOCK for both. */
int roi__winsock_check(uintptr_t s);

#endif /* ROI_SRC_WIN_WINSOCK_H */
