/*
 * roi/epoll.h: the epoll_* API on Windows, a drop-in for wepoll.h.
 *
 * On Windows this header declares wepoll's API with wepoll's types, constants
 * and values, so code written against wepoll.h compiles unchanged (include
 * <roi/epoll.h> instead, link roi instead of wepoll) and a program built
 * against wepoll's DLL finds the same prototypes and the same struct layout.
 * The functions are built on roi's afd backend (docs/guide-epoll.md).
 *
 * These are the only public functions of roi without the roi_ prefix, on
 * purpose: epoll_create, epoll_create1, epoll_close, epoll_ctl and epoll_wait
 * are the names such code calls. A program that links both roi and wepoll
 * gets two definitions of each; link one of them.
 *
 * Semantics, as wepoll's: level-triggered, or one-shot with EPOLLONESHOT
 * (EPOLLET is refused with EINVAL: there is no edge-triggered mode); sockets
 * only (SOCKET values; TCP and UDP); every function may be called from any
 * thread, several threads may wait on one port at once (each event goes to
 * one of them), and epoll_close() may be called while another thread waits
 * (that wait returns -1, EBADF). EPOLLERR and EPOLLHUP are reported whatever
 * the interest. A socket closed without EPOLL_CTL_DEL is dropped at the next
 * epoll_wait(). Failures return -1 (NULL for the create functions) and set
 * both errno and GetLastError(), with wepoll's pairs (EBADF and
 * ERROR_INVALID_HANDLE, ENOTSOCK and WSAENOTSOCK, EEXIST and
 * ERROR_ALREADY_EXISTS, ENOENT and ERROR_NOT_FOUND, EINVAL and
 * ERROR_INVALID_PARAMETER, ENOMEM and ERROR_NOT_ENOUGH_MEMORY).
 *
 * On Linux and other POSIX systems this header includes <sys/epoll.h>: the
 * kernel's epoll is the original the Windows side imitates. Note that there
 * the epoll handle is an int closed with close(), and EPOLLONESHOT has the
 * kernel's value (1u << 30) where wepoll's is 1u << 31.
 */
#ifndef ROI_EPOLL_H
#define ROI_EPOLL_H

#ifndef _WIN32
#include <sys/epoll.h>
#else

#include <stdint.h>

#include "roi/poller.h"
#include "roi/version.h"

/* wepoll's values, which are Linux's except EPOLLONESHOT. */
enum EPOLL_EVENTS {
  EPOLLIN = (int)(1U << 0),
  EPOLLPRI = (int)(1U << 1),
  EPOLLOUT = (int)(1U << 2),
  EPOLLERR = (int)(1U << 3),
  EPOLLHUP = (int)(1U << 4),
  EPOLLRDNORM = (int)(1U << 6),
  EPOLLRDBAND = (int)(1U << 7),
  EPOLLWRNORM = (int)(1U << 8),
  EPOLLWRBAND = (int)(1U << 9),
  EPOLLMSG = (int)(1U << 10), /* accepted, never reported (as on Linux) */
  EPOLLRDHUP = (int)(1U << 13),
  EPOLLONESHOT = (int)(1U << 31)
};

#define EPOLLIN EPOLLIN
#define EPOLLPRI EPOLLPRI
#define EPOLLOUT EPOLLOUT
#define EPOLLERR EPOLLERR
#define EPOLLHUP EPOLLHUP
#define EPOLLRDNORM EPOLLRDNORM
#define EPOLLRDBAND EPOLLRDBAND
#define EPOLLWRNORM EPOLLWRNORM
#define EPOLLWRBAND EPOLLWRBAND
#define EPOLLMSG EPOLLMSG
#define EPOLLRDHUP EPOLLRDHUP
#define EPOLLONESHOT EPOLLONESHOT

/* wepoll has no EPOLLET. roi names it so that code ported from Linux
 * compiles, and refuses it at run time with EINVAL: AFD polling has no edge
 * mode. The value is Linux's EPOLLONESHOT bit, which no wepoll flag uses. */
#define EPOLLET ((int)(1U << 30))

#define EPOLL_CTL_ADD 1
#define EPOLL_CTL_MOD 2
#define EPOLL_CTL_DEL 3

/* The types wepoll.h declares itself, so that it needs no <windows.h>; the
 * same types as Windows' own, declared only when those headers have not. */
#ifndef _WINNT_
typedef void *HANDLE;
#endif
#if !defined(_WINSOCK2API_) && !defined(_WINSOCKAPI_)
typedef uintptr_t SOCKET;
#endif

typedef union epoll_data {
  void *ptr;
  int fd;
  uint32_t u32;
  uint64_t u64;
  SOCKET sock; /* the Windows sockets-only flavour of fd */
  HANDLE hnd;
} epoll_data_t;

struct epoll_event {
  uint32_t events;   /* EPOLL* bits */
  epoll_data_t data; /* given to epoll_ctl, returned with each event */
};

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Creates an epoll port. size must be positive and is otherwise ignored.
 * @return the port's handle (really its completion port), or NULL with
 *         EINVAL / ERROR_INVALID_PARAMETER for size <= 0, ENOMEM and so on.
 */
ROI_EXTERN HANDLE epoll_create(int size);

/** As epoll_create(); flags must be 0 (EINVAL otherwise). */
ROI_EXTERN HANDLE epoll_create1(int flags);

/**
 * Closes a port: every socket is unregistered and a thread waiting on it
 * returns -1 with EBADF. The handle is invalid afterwards.
 * @return 0, or -1 with EBADF / ERROR_INVALID_HANDLE.
 */
ROI_EXTERN int epoll_close(HANDLE ephnd);

/**
 * Adds (EPOLL_CTL_ADD), changes (EPOLL_CTL_MOD) or removes (EPOLL_CTL_DEL) a
 * socket's interest. event is ignored for EPOLL_CTL_DEL and may be NULL then.
 * @return 0, or -1 with errno: EBADF (not a port; a closed or invalid
 *         socket), ENOTSOCK (a handle that is not a socket), EEXIST (ADD of a
 *         registered socket), ENOENT (MOD or DEL of one that is not), EINVAL
 *         (unknown op, EPOLLET, NULL event), ENOMEM.
 */
ROI_EXTERN int epoll_ctl(HANDLE ephnd, int op, SOCKET sock, struct epoll_event *event);

/**
 * Waits up to timeout milliseconds (-1: without limit, 0: not at all) for
 * events and stores at most maxevents of them.
 * @return the number stored (0 when the time ran out), or -1 with EBADF (not
 *         a port, or closed meanwhile) or EINVAL (maxevents <= 0, NULL events).
 */
ROI_EXTERN int epoll_wait(HANDLE ephnd, struct epoll_event *events, int maxevents,
                          int timeout);

/**
 * roi's extension, not in wepoll: the port's bookkeeping, in the poller's
 * statistics structure (sockets registered, records, pool blocks, zombies,
 * polls in flight, helper handles, stale packets, submissions). For leak
 * checks. @return 0, or -1 with EBADF.
 */
ROI_EXTERN int roi_epoll_stats(HANDLE ephnd, roi_poller_stats *out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* _WIN32 */
#endif /* ROI_EPOLL_H */
