/*
 * The epoll_* layer (Windows): wepoll's API (roi/epoll.h) on the AFD socket
 * set the afd backend uses (afd_set.c).
 *
 * IMPLEMENTATION NOTES
 *
 * - One port is one roi__afd_set (its completion port, helper groups, pinned
 *   records, update queue, zombies) plus what the epoll face needs and the
 *   poller does not: a lock, a reference count, the handle table entry, the
 *   epoll event translation and EPOLLONESHOT. Nothing of the AFD machinery
 *   is repeated here.
 * - The HANDLE returned is the set's completion port, as wepoll's is. A
 *   process-wide handle table (a socket map keyed by the handle value, under
 *   an SRW lock) turns a HANDLE into its port, so a value that is not a port
 *   is EBADF rather than a crash, and so is a port already closed. The
 *   table's lookup takes a reference under the table lock; every call drops
 *   its reference on return, and the last one frees the port. epoll_close()
 *   only takes the port out of the table and drops the table's reference, so
 *   a thread still inside epoll_wait() keeps the port alive until it leaves.
 *   The completion port stays open until then, so its handle value cannot be
 *   handed to a new port while an old lookup might still find it.
 * - Every call on a port holds its lock (an SRW lock, exclusive) while it
 *   touches the set. epoll_wait() holds it to submit the queued polls, drops
 *   it to block in NtRemoveIoCompletionEx on the port, and takes it again to
 *   decode what it dequeued. Several threads may therefore wait at once: the
 *   kernel hands each packet to one of them, so each event is delivered once.
 *   A record named by a dequeued packet is never freed before that packet is
 *   decoded (the set's zombies), whichever thread dequeued it. The port is
 *   created with a concurrency of 0 (the processor count) so that a waiter
 *   busy with its events does not hold back the others.
 * - Level-triggered: a record that reported events is queued again, so the
 *   next wait's poll completes at once while the socket is still ready. With
 *   EPOLLONESHOT the interest becomes empty once an event is reported, as in
 *   wepoll, but the record is still polled for AFD_POLL_LOCAL_CLOSE, so a
 *   disarmed socket that is closed is still dropped; EPOLL_CTL_MOD re-arms.
 * - EPOLLERR and EPOLLHUP are added to every interest set (Linux and wepoll
 *   report them whatever was asked), except after a one-shot report.
 * - AFD to epoll: RECEIVE or ACCEPT -> EPOLLIN|EPOLLRDNORM; RECEIVE_EXPEDITED
 *   -> EPOLLPRI|EPOLLRDBAND; SEND -> EPOLLOUT|EPOLLWRNORM|EPOLLWRBAND;
 *   DISCONNECT -> EPOLLIN|EPOLLRDNORM|EPOLLRDHUP. ABORT (a reset) and
 *   CONNECT_FAIL both give what Linux's tcp_poll() reports for a socket that
 *   reached TCP_CLOSE with an error: EPOLLIN|EPOLLRDNORM|EPOLLRDHUP|
 *   EPOLLOUT|EPOLLWRNORM|EPOLLHUP|EPOLLERR. wepoll reports EPOLLHUP alone for
 *   ABORT and no EPOLLHUP for CONNECT_FAIL; roi follows Linux there
 *   (docs/guide-epoll.md, "what differs"). The socket error itself is read
 *   with getsockopt(SO_ERROR), as on Linux.
 * - A poll that fails with an error status on a live socket reports EPOLLERR
 *   once and leaves the socket disarmed until EPOLL_CTL_MOD (wepoll polls it
 *   again, which for a poll that fails at submission is a loop without end).
 *   A socket the set finds closed (LOCAL_CLOSE, or an error status for a
 *   socket that is gone) is unregistered at once, so its handle value may be
 *   added again.
 * - epoll_close() marks the port closing and posts one packet under a key of
 *   its own. A waiter that dequeues it posts it again before it returns -1
 *   with EBADF, so every waiter, however many, is woken in turn; a wait
 *   entered after the close returns EBADF at once.
 * - Errors set errno and SetLastError() as wepoll's table pairs them; the set
 *   reports ROI_E* codes, translated at the API boundary only.
 */
/* The Windows headers first (through afd_set.h), so that roi/epoll.h sees
 * their HANDLE and SOCKET and declares none of its own. */
#include "win/afd_set.h"

#include <errno.h>
#include <stdlib.h>

#include "platform.h"
#include "roi/epoll.h"
#include "roi/error.h"
#include "sockmap.h"
#include "win/winsock.h"

#define CLOSE_KEY ((ULONG_PTR)3)
/* Packets fetched by one NtRemoveIoCompletionEx: 8 KiB of stack. */
#define EP_MAX_BATCH 256
/* The epoll bits roi knows; others are ignored, as wepoll ignores them. */
#define EP_KNOWN                                                                           \
  ((uint32_t)(EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDNORM |          \
              EPOLLRDBAND | EPOLLWRNORM | EPOLLWRBAND | EPOLLMSG | EPOLLRDHUP))
/* What Linux reports for a socket closed by an error (reset, refused). */
#define EP_CLOSED_BY_ERROR                                                                 \
  ((uint32_t)(EPOLLIN | EPOLLRDNORM | EPOLLRDHUP | EPOLLOUT | EPOLLWRNORM | EPOLLHUP |     \
              EPOLLERR))

typedef struct ep_port {
  roi__sockmap_node node; /* in the handle table; key: the port's handle */
  SRWLOCK lock;           /* guards set and closing */
  roi__afd_set set;
  LONG refs; /* the table's, plus one per call inside */
  int closing;
} ep_port;

/* The handle table. A zeroed roi__sockmap is an empty one. */
static SRWLOCK table_lock = SRWLOCK_INIT;
static roi__sockmap table;

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */

/* wepoll's pairs of Win32 error and errno for what these calls can fail
 * with. An error without a pair of its own is reported as wepoll reports an
 * unmapped one: ERROR_GEN_FAILURE, which its table pairs with EACCES. */
static const struct {
  int roi;
  DWORD win;
  int errnum;
} error_pairs[] = {
    {ROI_EBADF, ERROR_INVALID_HANDLE, EBADF},
    {ROI_ENOTSOCK, WSAENOTSOCK, ENOTSOCK},
    {ROI_EEXIST, ERROR_ALREADY_EXISTS, EEXIST},
    {ROI_ENOENT, ERROR_NOT_FOUND, ENOENT},
    {ROI_EINVAL, ERROR_INVALID_PARAMETER, EINVAL},
    {ROI_ENOMEM, ERROR_NOT_ENOUGH_MEMORY, ENOMEM},
    {ROI_ELSP, ERROR_NOT_SUPPORTED, ENOTSUP},
    {ROI_ENOSYS, ERROR_NOT_SUPPORTED, ENOTSUP},
    {ROI_ENOTSUP, ERROR_NOT_SUPPORTED, ENOTSUP},
    {ROI_EMFILE, ERROR_TOO_MANY_OPEN_FILES, EMFILE},
};

/* Sets errno and the last error for an ROI_E* code; returns -1. */
static int fail(int err) {
  DWORD win = ERROR_GEN_FAILURE;
  int errnum = EACCES;
  size_t i;
  for (i = 0; i < sizeof error_pairs / sizeof error_pairs[0]; i++)
    if (error_pairs[i].roi == err) {
      win = error_pairs[i].win;
      errnum = error_pairs[i].errnum;
      break;
    }
  errno = errnum;
  SetLastError(win);
  return -1;
}

/* ------------------------------------------------------------------------ */
/* Ports and the handle table                                                */

/* The port behind h with a reference taken, or NULL. */
static ep_port *port_get(HANDLE h) {
  roi__sockmap_node *n;
  ep_port *p = NULL;
  AcquireSRWLockShared(&table_lock);
  n = roi__sockmap_find(&table, (uint64_t)(uintptr_t)h);
  if (n) {
    p = ROI__CONTAINER_OF(n, ep_port, node);
    InterlockedIncrement(&p->refs);
  }
  ReleaseSRWLockShared(&table_lock);
  return p;
}

static void port_put(ep_port *p) {
  if (InterlockedDecrement(&p->refs) == 0) {
    roi__afd_set_close(&p->set);
    free(p);
  }
}

HANDLE epoll_create1(int flags) {
  ep_port *p;
  int err;
  if (flags != 0) {
    fail(ROI_EINVAL);
    return NULL;
  }
  p = calloc(1, sizeof *p);
  if (!p) {
    fail(ROI_ENOMEM);
    return NULL;
  }
  err = roi__afd_set_init(&p->set, 0);
  if (err) {
    free(p);
    {
      fail(err);
      return NULL;
    }
  }
  InitializeSRWLock(&p->lock);
  p->refs = 1;
  p->node.key = (uint64_t)(uintptr_t)p->set.port;
  AcquireSRWLockExclusive(&table_lock);
  err = roi__sockmap_insert(&table, &p->node);
  ReleaseSRWLockExclusive(&table_lock);
  if (err) {
    roi__afd_set_close(&p->set);
    free(p);
    {
      fail(err);
      return NULL;
    }
  }
  return p->set.port;
}

HANDLE epoll_create(int size) {
  if (size <= 0) {
    fail(ROI_EINVAL);
    return NULL;
  }
  return epoll_create1(0);
}

int epoll_close(HANDLE ephnd) {
  roi__sockmap_node *n;
  ep_port *p = NULL;
  AcquireSRWLockExclusive(&table_lock);
  n = roi__sockmap_find(&table, (uint64_t)(uintptr_t)ephnd);
  if (n) {
    p = ROI__CONTAINER_OF(n, ep_port, node);
    roi__sockmap_remove(&table, n);
    /* The last port gone, the table gives its buckets back too. */
    if (table.count == 0)
      roi__sockmap_free(&table);
  }
  ReleaseSRWLockExclusive(&table_lock);
  if (!p)
    return fail(ROI_EBADF);
  AcquireSRWLockExclusive(&p->lock);
  p->closing = 1;
  /* Wakes one waiter, which passes it on (see epoll_wait). Should the post
   * fail, waiters still leave at their timeout. */
  (void)roi__port_post(p->set.port, CLOSE_KEY, 0, 0);
  ReleaseSRWLockExclusive(&p->lock);
  port_put(p);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Interest and events                                                       */

/* The AFD events that serve an epoll interest set. LOCAL_CLOSE is always
 * asked for: it is how a socket closed without EPOLL_CTL_DEL is found. */
static ULONG afd_events(uint32_t interest) {
  ULONG e = ROI__AFD_LOCAL_CLOSE;
  if (interest & (EPOLLIN | EPOLLRDNORM))
    e |= ROI__AFD_RECEIVE | ROI__AFD_ACCEPT | ROI__AFD_DISCONNECT;
  if (interest & EPOLLRDHUP)
    e |= ROI__AFD_DISCONNECT;
  if (interest & (EPOLLPRI | EPOLLRDBAND))
    e |= ROI__AFD_RECEIVE_EXPEDITED;
  if (interest & (EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND))
    e |= ROI__AFD_SEND;
  if (interest & (EPOLLHUP | EPOLLERR))
    e |= ROI__AFD_ABORT | ROI__AFD_CONNECT_FAIL;
  return e;
}

static uint32_t epoll_events(ULONG a) {
  uint32_t e = 0;
  if (a & (ROI__AFD_RECEIVE | ROI__AFD_ACCEPT))
    e |= EPOLLIN | EPOLLRDNORM;
  if (a & ROI__AFD_RECEIVE_EXPEDITED)
    e |= EPOLLPRI | EPOLLRDBAND;
  if (a & ROI__AFD_SEND)
    e |= EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;
  if (a & ROI__AFD_DISCONNECT)
    e |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP;
  if (a & (ROI__AFD_ABORT | ROI__AFD_CONNECT_FAIL))
    e |= EP_CLOSED_BY_ERROR;
  return e;
}

/* Sets a record's interest and data from an epoll_event and arms it. */
static void set_interest(ep_port *p, roi__afd_rec *r, const struct epoll_event *ev) {
  r->interest = (ev->events & (EP_KNOWN | (uint32_t)EPOLLONESHOT)) | EPOLLERR | EPOLLHUP;
  r->token = ev->data.u64;
  roi__afd_set_arm(&p->set, r, afd_events(r->interest));
}

/* Turns an outcome of the set into an epoll event and decides whether the
 * socket is polled again; returns 1 if *ev was filled. */
static int to_event(ep_port *p, roi__afd_outcome o, const roi__afd_result *res,
                    struct epoll_event *ev) {
  roi__afd_rec *r = res->rec;
  uint32_t e;
  if (o == ROI__AFD_GONE) {
    roi__afd_set_remove(&p->set, r); /* closed without EPOLL_CTL_DEL */
    return 0;
  }
  if (o == ROI__AFD_FAILED) {
    /* The set left the record disarmed: polling again at once would fail
     * again at once, and a flush would never end. EPOLL_CTL_MOD re-arms. */
    e = EPOLLERR & r->interest;
  } else if (o == ROI__AFD_EVENTS) {
    e = epoll_events(res->events) & r->interest;
    roi__afd_set_requeue(&p->set, r);
  } else {
    return 0;
  }
  if (e == 0)
    return 0;
  if (r->interest & EPOLLONESHOT) {
    /* Disarmed until EPOLL_CTL_MOD, but a close is still noticed. */
    r->interest = 0;
    roi__afd_set_arm(&p->set, r, ROI__AFD_LOCAL_CLOSE);
  }
  ev->events = e;
  ev->data.u64 = r->token;
  return 1;
}

/* ------------------------------------------------------------------------ */
/* The API                                                                   */

static int ctl(ep_port *p, int op, SOCKET sock, struct epoll_event *ev) {
  roi__afd_rec *r;
  int err;
  if (p->closing)
    return ROI_EBADF;
  if (op == EPOLL_CTL_ADD) {
    err = roi__afd_set_add(&p->set, sock, &r);
    if (err)
      return err;
    set_interest(p, r, ev);
    return 0;
  }
  r = roi__afd_set_find(&p->set, sock);
  if (!r)
    return ROI_ENOENT;
  if (op == EPOLL_CTL_MOD)
    set_interest(p, r, ev);
  else
    roi__afd_set_remove(&p->set, r);
  return 0;
}

int epoll_ctl(HANDLE ephnd, int op, SOCKET sock, struct epoll_event *event) {
  ep_port *p = port_get(ephnd);
  int err;
  if (!p)
    return fail(ROI_EBADF);
  if (op != EPOLL_CTL_ADD && op != EPOLL_CTL_MOD && op != EPOLL_CTL_DEL)
    err = ROI_EINVAL;
  else if (op != EPOLL_CTL_DEL && (!event || (event->events & (uint32_t)EPOLLET)))
    err = ROI_EINVAL;
  else if (sock == 0 || sock == INVALID_SOCKET)
    err = ROI_EBADF; /* INVALID_HANDLE_VALUE is the process' own pseudo-handle */
  else {
    AcquireSRWLockExclusive(&p->lock);
    err = ctl(p, op, sock, event);
    ReleaseSRWLockExclusive(&p->lock);
  }
  port_put(p);
  return err ? fail(err) : 0;
}

/* One round of a wait: submit what is queued, block (lock dropped) for at
 * most timeout_ms, decode what came. Returns the events stored, or a negative
 * ROI_E*: ROI_EBADF once the port is closing. */
static int wait_round(ep_port *p, struct epoll_event *events, int max, int timeout_ms) {
  roi__completion entries[EP_MAX_BATCH];
  roi__afd_result res;
  int n = 0, i, count, closed = 0;
  AcquireSRWLockExclusive(&p->lock);
  if (p->closing) {
    ReleaseSRWLockExclusive(&p->lock);
    return ROI_EBADF;
  }
  while (n < max && p->set.queue.head)
    n += to_event(p, roi__afd_set_flush(&p->set, &res), &res, &events[n]);
  ReleaseSRWLockExclusive(&p->lock);
  if (n == max)
    return n;
  count = roi__port_wait(p->set.port, entries,
                         (ULONG)(max - n < EP_MAX_BATCH ? max - n : EP_MAX_BATCH),
                         n > 0 ? 0 : timeout_ms);
  if (count <= 0)
    return n > 0 ? n : count;
  AcquireSRWLockExclusive(&p->lock);
  for (i = 0; i < count; i++) {
    if (entries[i].key == ROI__AFD_SET_KEY)
      n += to_event(p, roi__afd_set_decode(&p->set, &entries[i], &res), &res, &events[n]);
    else if (entries[i].key == CLOSE_KEY)
      closed = 1;
  }
  ReleaseSRWLockExclusive(&p->lock);
  if (closed) {
    /* Pass the close notice on to the next waiter. */
    (void)roi__port_post(p->set.port, CLOSE_KEY, 0, 0);
    if (n == 0)
      return ROI_EBADF;
  }
  return n;
}

int epoll_wait(HANDLE ephnd, struct epoll_event *events, int maxevents, int timeout) {
  ep_port *p;
  uint64_t deadline = timeout > 0 ? roi__now_ms() + (uint64_t)timeout : 0;
  int n, idle_rounds = 0, left = timeout;
  if (maxevents <= 0 || !events)
    return fail(ROI_EINVAL);
  p = port_get(ephnd);
  if (!p)
    return fail(ROI_EBADF);
  for (;;) {
    n = wait_round(p, events, maxevents, left);
    if (n != 0)
      break;
    /* A round that only decoded bookkeeping (a cancel for an interest
     * change, events nobody asked for) leaves records queued whose new polls
     * complete at once if the socket is ready: wait again for the time left,
     * and even a zero timeout gets two more rounds that do not block, so
     * that it sees what Linux would report. */
    if (timeout > 0) {
      uint64_t now = roi__now_ms();
      if (now >= deadline)
        break;
      left = (int)(deadline - now);
    } else if (timeout == 0) {
      AcquireSRWLockExclusive(&p->lock);
      idle_rounds = p->set.queue.head && idle_rounds < 2 ? idle_rounds + 1 : -1;
      ReleaseSRWLockExclusive(&p->lock);
      if (idle_rounds < 0)
        break;
    }
  }
  port_put(p);
  return n < 0 ? fail(n) : n;
}

int roi_epoll_stats(HANDLE ephnd, roi_poller_stats *out) {
  ep_port *p = port_get(ephnd);
  if (!p)
    return fail(ROI_EBADF);
  AcquireSRWLockExclusive(&p->lock);
  roi__afd_set_stats(&p->set, out);
  ReleaseSRWLockExclusive(&p->lock);
  port_put(p);
  return 0;
}
