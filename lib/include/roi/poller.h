/*
 * roi poller: one readiness API over epoll, poll() and IOCP fed by AFD polls.
 *
 * A poller watches sockets for readiness and reports it the way epoll does,
 * on every platform and with every backend:
 *
 * - Level-triggered by default: a socket that is still readable (data left
 *   unread) is reported again by the next roi_poller_wait(). With
 *   ROI_POLL_ONESHOT it is reported once and then produces no events until
 *   roi_poller_modify() re-arms it.
 * - ROI_POLL_HANGUP and ROI_POLL_ERROR are reported whatever the interest set,
 *   and once: after either of them the socket produces no events until it is
 *   re-armed with roi_poller_modify() or removed. (AFD reports an aborted
 *   connection on every poll; without this rule a caller that keeps waiting
 *   would spin.)
 * - Each roi_poller_wait() reports a socket at most once, with all its ready
 *   events merged into one roi_poll_event.
 * - The cost of a wait grows with the number of ready sockets and interest
 *   changes, not with the number registered (epoll and afd; the poll backend
 *   is O(registered) by nature and exists for portability).
 *
 * - One difference between platforms is left as the systems have it: a TCP
 *   socket that was never connected (socket() only) is reported at once as
 *   WRITABLE | HANGUP on Linux and not at all on Windows. Register a socket
 *   once it listens or its connect has started.
 *
 * Threads: a poller belongs to one thread. Only roi_poller_wake() may be called
 * from other threads, and only while the poller is open.
 *
 * Sockets: the caller owns every socket it registers. Remove a socket before
 * closing it. Closing a registered socket is safe (no crash, no leak, the
 * socket stops producing events) but it stays registered until removed, so
 * adding a new socket that reuses the handle value fails with ROI_EEXIST until
 * roi_poller_remove() has been called for the old one. What no backend can
 * prevent: if the closed socket's handle value is taken by a new socket before
 * roi_poller_remove(), the poll and afd backends (and epoll, once a hang-up or
 * an error has disarmed the socket and modify() re-arms it) cannot tell the
 * two apart and report the new socket's readiness under the old token: they
 * watch a handle value. And on epoll, a socket whose file stays open through a
 * duplicate descriptor (dup, fork) stays in the kernel's interest set after
 * close() and remove(); its events are dropped, but they still wake the wait.
 * Removing before closing rules all of this out.
 */
#ifndef ROI_POLLER_H
#define ROI_POLLER_H

#include <stddef.h>
#include <stdint.h>

#include "roi/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A socket: SOCKET on Windows (an unsigned pointer-sized integer), a file
 * descriptor elsewhere. Declared as a plain integer so that this header needs
 * no system header. */
#ifdef _WIN32
typedef uintptr_t roi_socket;
#define ROI_INVALID_SOCKET (~(roi_socket)0)
#else
typedef int roi_socket;
#define ROI_INVALID_SOCKET (-1)
#endif

/* Interest flags (roi_poller_add/modify) and event flags (roi_poll_event). */
enum {
  /* Interest and event: data, a pending accept, or end of stream can be read. */
  ROI_POLL_READABLE = 1u << 0,
  /* Interest and event: send would not block; a non-blocking connect finished. */
  ROI_POLL_WRITABLE = 1u << 1,
  /* Interest and event: the peer shut down its sending side (FIN received). */
  ROI_POLL_RDHUP = 1u << 2,
  /* Interest only: report once, then stay silent until roi_poller_modify(). */
  ROI_POLL_ONESHOT = 1u << 3,
  /* Event only: the connection is gone in both directions (reset, aborted, or
   * a connect that failed). Reported whatever the interest. */
  ROI_POLL_HANGUP = 1u << 4,
  /* Event only: the socket has an error; roi_poll_event.error holds it when the
   * system told which (for example ROI_ECONNREFUSED after a refused connect,
   * ROI_ECONNRESET after a reset). Reported whatever the interest. */
  ROI_POLL_ERROR = 1u << 5,
  /* Event only: a roi_poller_wake() call; roi_poll_event.token is its payload. */
  ROI_POLL_WAKE = 1u << 6
};

/* Every flag roi_poller_add() and roi_poller_modify() accept. */
#define ROI_POLL_INTEREST_MASK                                                             \
  (ROI_POLL_READABLE | ROI_POLL_WRITABLE | ROI_POLL_RDHUP | ROI_POLL_ONESHOT)

/* One ready socket, or one wake. */
typedef struct roi_poll_event {
  /* The socket's token (from roi_poller_add/modify), or the wake payload. */
  uint64_t token;
  /* ROI_POLL_* event flags: only those in the socket's interest, plus
   * ROI_POLL_HANGUP and ROI_POLL_ERROR; exactly ROI_POLL_WAKE for a wake. */
  uint32_t events;
  /* With ROI_POLL_ERROR: the socket error as an ROI_E* code, or 0 when the
   * system did not say. The backends read the pending socket error (SO_ERROR)
   * to fill it in, which clears it from the socket: use this field, not
   * getsockopt(), to learn why a connect failed. 0 otherwise. */
  int error;
} roi_poll_event;

/* Counters, for monitoring and for the tests that check the afd record pool. */
typedef struct roi_poller_stats {
  size_t sockets;   /* registered sockets */
  size_t records;   /* per-socket records allocated (registered + zombies) */
  size_t blocks;    /* record pool blocks allocated */
  size_t zombies;   /* removed sockets whose final completion has not come (afd) */
  size_t in_flight; /* kernel poll operations outstanding (afd) */
  size_t helpers;   /* \Device\Afd helper handles open (afd) */
  uint64_t stale;   /* completions rejected by the generation check (afd) */
  uint64_t submits; /* poll submissions or epoll_ctl calls made so far */
} roi_poller_stats;

typedef struct roi_poller roi_poller;

/**
 * Creates a poller.
 *
 * @param out      receives the poller; the caller frees it with
 *                 roi_poller_destroy(). Set to NULL on failure.
 * @param backend  "epoll", "poll" or "afd", or NULL for the default: the
 *                 ROI_BACKEND environment variable when it is set and not
 *                 empty, otherwise the platform's default (epoll on Linux, afd
 *                 on Windows; see roi_poller_default_backend()).
 * @return 0; ROI_EINVAL if out is NULL; ROI_ENOTSUP if the name is not a
 *         backend compiled into this build (roi_poller_backends() lists them);
 *         ROI_ELSP never (that comes from roi_poller_add()); ROI_ENOMEM,
 *         ROI_EMFILE or another mapped system error if the backend could not
 *         get its resources.
 */
ROI_EXTERN int roi_poller_create(roi_poller **out, const char *backend);

/**
 * Closes a poller without freeing it: every socket is deregistered (their
 * pending kernel operations cancelled and drained, none of the sockets closed)
 * and the poller's own handles are closed. Afterwards every call on the poller
 * except roi_poller_destroy(), roi_poller_backend() and roi_poller_stats()
 * returns ROI_ECLOSED.
 *
 * @return 0; ROI_EINVAL if p is NULL; ROI_ECLOSED if it was already closed.
 */
ROI_EXTERN int roi_poller_close(roi_poller *p);

/**
 * Closes the poller if it is open and frees it. NULL is accepted and ignored.
 * No other thread may be inside roi_poller_wake() on it.
 */
ROI_EXTERN void roi_poller_destroy(roi_poller *p);

/**
 * Names the backend a poller uses ("epoll", "poll" or "afd"), a static string;
 * "?" for NULL.
 */
ROI_EXTERN const char *roi_poller_backend(const roi_poller *p);

/**
 * Names the backend roi_poller_create(out, NULL) picks when ROI_BACKEND is not
 * set: the first one roi_poller_backends() lists. A static string.
 */
ROI_EXTERN const char *roi_poller_default_backend(void);

/**
 * Lists the backends compiled into this build, default first.
 *
 * @param names  receives up to max static strings; may be NULL when max is 0.
 * @return the number of compiled backends (which may exceed max), or
 *         ROI_EINVAL if max < 0 or names is NULL with max > 0.
 */
ROI_EXTERN int roi_poller_backends(const char **names, int max);

/**
 * Registers a socket.
 *
 * @param s         an open socket (any state: listening, connecting,
 *                  connected). The poller never closes it; it does not change
 *                  its blocking mode.
 * @param interest  ROI_POLL_READABLE | ROI_POLL_WRITABLE | ROI_POLL_RDHUP |
 *                  ROI_POLL_ONESHOT, any combination including 0 (then only
 *                  hang-ups and errors are reported).
 * @param token     any value; it comes back in every event of this socket.
 * @return 0; ROI_EINVAL for a NULL poller or a flag outside
 *         ROI_POLL_INTEREST_MASK; ROI_EBADF for ROI_INVALID_SOCKET or a
 *         descriptor that is not open; ROI_ENOTSOCK for something that is not
 *         a socket; ROI_EEXIST if s is already registered; ROI_ECLOSED after
 *         roi_poller_close(); ROI_ELSP (afd) when a layered service provider
 *         hides the base socket; ROI_ENOMEM.
 */
ROI_EXTERN int roi_poller_add(roi_poller *p, roi_socket s, uint32_t interest,
                              uint64_t token);

/**
 * Changes a registered socket's interest and token, and re-arms it after a
 * one-shot event, a hang-up or an error. Costs no system call when neither the
 * interest nor the armed state changes.
 *
 * @return 0; ROI_EINVAL, ROI_EBADF, ROI_ECLOSED as for roi_poller_add();
 *         ROI_ENOENT if s is not registered.
 */
ROI_EXTERN int roi_poller_modify(roi_poller *p, roi_socket s, uint32_t interest,
                                 uint64_t token);

/**
 * Deregisters a socket. After it returns, no event carrying the socket's token
 * is reported, even if the same handle value is registered again at once.
 * Removing a socket that was closed while registered is allowed and succeeds.
 *
 * @return 0; ROI_EINVAL for a NULL poller; ROI_EBADF for ROI_INVALID_SOCKET;
 *         ROI_ENOENT if s is not registered; ROI_ECLOSED after
 *         roi_poller_close().
 */
ROI_EXTERN int roi_poller_remove(roi_poller *p, roi_socket s);

/**
 * Waits for readiness.
 *
 * @param events      receives up to max events.
 * @param max         the capacity of events, > 0.
 * @param timeout_ms  how long to wait: 0 does not block, -1 waits for ever.
 * @return the number of events stored (0 when the timeout expired);
 *         ROI_EINVAL for a NULL poller or events, max <= 0 or timeout_ms < -1;
 *         ROI_ECLOSED after roi_poller_close(); a mapped system error if the
 *         kernel refused the wait. An interrupted system wait (EINTR) is
 *         retried internally with the remaining time.
 */
ROI_EXTERN int roi_poller_wait(roi_poller *p, roi_poll_event *events, int max,
                               int timeout_ms);

/**
 * Wakes the poller: the current or the next roi_poller_wait() returns an event
 * with ROI_POLL_WAKE and token = payload. Thread-safe; callable from any
 * thread while the poller is open. Every call produces exactly one wake event,
 * in order per calling thread; none is lost or merged.
 *
 * @return 0; ROI_EINVAL for a NULL poller; ROI_ECLOSED after
 *         roi_poller_close(); ROI_ENOMEM if the wake could not be queued.
 */
ROI_EXTERN int roi_poller_wake(roi_poller *p, uint64_t payload);

/**
 * Fills in the poller's counters (see roi_poller_stats). Works on a closed
 * poller too.
 *
 * @return 0; ROI_EINVAL if p or out is NULL.
 */
ROI_EXTERN int roi_poller_stats_get(const roi_poller *p, roi_poller_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* ROI_POLLER_H */
