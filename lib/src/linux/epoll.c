/*
 * The epoll backend (Linux).
 *
 * IMPLEMENTATION NOTES
 *
 * - Level-triggered epoll carries the poller's semantics almost unchanged:
 *   ROI_POLL_ONESHOT is EPOLLONESHOT, ROI_POLL_RDHUP is EPOLLRDHUP. The kernel
 *   keeps the interest sets, so a wait costs O(ready), never O(registered).
 * - Each registered socket has a record from the block pool holding its token,
 *   its interest and whether it is in the epoll set. epoll's data word holds
 *   the descriptor and the record's serial number, not a pointer: the kernel
 *   keeps a registration for as long as the file is open, and a file kept open
 *   by a duplicate descriptor (dup, fork) outlives close() and remove(). An
 *   event is looked up in the socket map, and one whose record is gone or
 *   belongs to a later registration is dropped, so no freed record is ever
 *   touched.
 * - epoll_ctl is called only when the kernel's view must change: modify()
 *   with the same interest on an armed socket only stores the new token.
 * - EPOLLHUP and EPOLLERR are reported by the kernel whatever the interest and
 *   on every wait; the poller promises them once. After reporting one, the
 *   socket is taken out of the epoll set (EPOLL_CTL_DEL) and put back by the
 *   next modify().
 * - The pending socket error is read with SO_ERROR when EPOLLERR is seen, so
 *   the event carries it (ROI_ECONNREFUSED for a refused connect).
 * - Wakes: an eventfd in the epoll set (data.ptr == NULL) interrupts a
 *   sleeping epoll_wait(); the payloads wait in the shared wake queue, which
 *   signals the eventfd only on an empty -> non-empty transition. The eventfd
 *   is edge-triggered (EPOLLET): every write() to an eventfd queues a new
 *   event, so the wait never has to read() the counter back to zero, which
 *   saves the woken thread one system call per wake (bench_wake measured it).
 *   The counter only grows, by one per signal; write() fails with EAGAIN only
 *   when it would pass 2^64 - 2, and then one read() resets it.
 * - A socket closed while registered drops out of the epoll set by itself
 *   (the kernel does that on the last close); its record stays until
 *   roi_poller_remove(), which then ignores EBADF/ENOENT from EPOLL_CTL_DEL.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pool.h"
#include "poller_int.h"
#include "sockmap.h"
#include "wakeq.h"

/* The most kernel events one epoll_wait() fetches; a larger max is served by
 * the next wait. */
#define EP_MAX_BATCH 1024

/* epoll's data word of the wake eventfd; a socket's holds its descriptor in the
 * low 32 bits and its record's serial number in the high 32 (never all ones). */
#define EP_WAKE_DATA UINT64_MAX

typedef struct ep_sock {
  roi__sockmap_node node; /* key: the descriptor */
  uint64_t token;
  uint32_t interest;
  uint32_t serial; /* tells this registration from an earlier one of the fd */
  int in_set;      /* registered with the kernel */
  int disarmed;    /* one-shot fired, or a hang-up/error was reported */
} ep_sock;

typedef struct ep_poller {
  roi_poller base;
  int epfd;
  int evfd;
  roi__sockmap map;
  roi__pool pool;
  roi__wakeq wakeq;
  struct epoll_event *kevents;
  int kcap;
  uint32_t next_serial;
  uint64_t ctl_calls;
} ep_poller;

static ep_poller *to_ep(roi_poller *p) {
  return (ep_poller *)(void *)p;
}

static int last_error(void) {
  return roi_err_from_errno(errno);
}

static uint32_t to_epoll(uint32_t interest) {
  uint32_t e = 0;
  if (interest & ROI_POLL_READABLE)
    e |= EPOLLIN;
  if (interest & ROI_POLL_WRITABLE)
    e |= EPOLLOUT;
  if (interest & ROI_POLL_RDHUP)
    e |= EPOLLRDHUP;
  if (interest & ROI_POLL_ONESHOT)
    e |= EPOLLONESHOT;
  return e;
}

/* Registers, changes or deletes fd with the given interest (ignored for
 * EPOLL_CTL_DEL). */
static int ctl(ep_poller *ep, int op, int fd, const ep_sock *rec, uint32_t interest) {
  struct epoll_event ev;
  memset(&ev, 0, sizeof ev);
  ev.events = to_epoll(interest);
  ev.data.u64 = rec ? ((uint64_t)rec->serial << 32 | (uint32_t)fd) : 0;
  ep->ctl_calls++;
  return epoll_ctl(ep->epfd, op, fd, &ev) == 0 ? 0 : last_error();
}

static int ep_create(roi_poller **out) {
  ep_poller *ep = calloc(1, sizeof *ep);
  struct epoll_event ev;
  int err;
  if (!ep)
    return ROI_ENOMEM;
  ep->epfd = ep->evfd = -1;
  roi__sockmap_init(&ep->map);
  roi__pool_init(&ep->pool, sizeof(ep_sock));
  err = roi__wakeq_init(&ep->wakeq);
  if (err)
    goto fail;
  ep->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (ep->epfd < 0) {
    err = last_error();
    goto fail;
  }
  ep->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (ep->evfd < 0) {
    err = last_error();
    goto fail;
  }
  /* The wake descriptor stays in the set for the poller's whole life. */
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN | EPOLLET;
  ev.data.u64 = EP_WAKE_DATA;
  if (epoll_ctl(ep->epfd, EPOLL_CTL_ADD, ep->evfd, &ev) != 0) {
    err = last_error();
    goto fail;
  }
  *out = &ep->base;
  return 0;
fail:
  if (ep->evfd >= 0)
    close(ep->evfd);
  if (ep->epfd >= 0)
    close(ep->epfd);
  roi__wakeq_free(&ep->wakeq);
  free(ep);
  return err;
}

static void free_record(roi__sockmap_node *node, void *arg) {
  ep_poller *ep = arg;
  roi__sockmap_remove(&ep->map, node);
  roi__pool_free(&ep->pool, ROI__CONTAINER_OF(node, ep_sock, node));
}

static void ep_close(roi_poller *p) {
  ep_poller *ep = to_ep(p);
  /* Closing the epoll descriptor drops every registration at once. */
  roi__sockmap_each(&ep->map, free_record, ep);
  roi__sockmap_free(&ep->map);
  close(ep->evfd);
  close(ep->epfd);
  ep->evfd = ep->epfd = -1;
  roi__wakeq_free(&ep->wakeq);
  free(ep->kevents);
  ep->kevents = NULL;
  ep->kcap = 0;
}

static void ep_free(roi_poller *p) {
  free(to_ep(p));
}

static ep_sock *find(ep_poller *ep, roi_socket s) {
  roi__sockmap_node *n = roi__sockmap_find(&ep->map, (uint64_t)(unsigned)s);
  return n ? ROI__CONTAINER_OF(n, ep_sock, node) : NULL;
}

/* ROI_EBADF for a closed descriptor, ROI_ENOTSOCK for one that is not a
 * socket: the same answers the afd backend gives. */
static int check_socket(int fd) {
  int type;
  socklen_t len = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
    return last_error();
  return 0;
}

static int ep_add(roi_poller *p, roi_socket s, uint32_t interest, uint64_t token) {
  ep_poller *ep = to_ep(p);
  ep_sock *rec;
  int err;
  if (find(ep, s))
    return ROI_EEXIST;
  err = check_socket(s);
  if (err)
    return err;
  rec = roi__pool_alloc(&ep->pool);
  if (!rec)
    return ROI_ENOMEM;
  rec->node.key = (uint64_t)(unsigned)s;
  rec->token = token;
  rec->interest = interest;
  /* Serials skip 0xFFFFFFFF so that no socket's data word equals EP_WAKE_DATA. */
  rec->serial = ep->next_serial++ % 0xFFFFFFFFu;
  err = roi__sockmap_insert(&ep->map, &rec->node);
  if (err)
    goto fail_pool;
  err = ctl(ep, EPOLL_CTL_ADD, s, rec, interest);
  if (err)
    goto fail_map;
  rec->in_set = 1;
  return 0;
fail_map:
  roi__sockmap_remove(&ep->map, &rec->node);
fail_pool:
  roi__pool_free(&ep->pool, rec);
  return err;
}

static int ep_modify(roi_poller *p, roi_socket s, uint32_t interest, uint64_t token) {
  ep_poller *ep = to_ep(p);
  ep_sock *rec = find(ep, s);
  int err;
  if (!rec)
    return ROI_ENOENT;
  rec->token = token;
  if (!rec->disarmed && interest == rec->interest)
    return 0;
  err = ctl(ep, rec->in_set ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, rec, interest);
  if (err)
    /* ENOENT from MOD: the descriptor was closed and left the set. The
     * record keeps the interest the kernel still has. */
    return err == ROI_ENOENT ? ROI_EBADF : err;
  rec->interest = interest;
  rec->in_set = 1;
  rec->disarmed = 0;
  return 0;
}

static int ep_remove(roi_poller *p, roi_socket s) {
  ep_poller *ep = to_ep(p);
  ep_sock *rec = find(ep, s);
  if (!rec)
    return ROI_ENOENT;
  /* EBADF or ENOENT here mean the socket was closed while registered, which
   * the header allows; the registration is gone either way. */
  if (rec->in_set)
    (void)ctl(ep, EPOLL_CTL_DEL, s, NULL, 0);
  roi__sockmap_remove(&ep->map, &rec->node);
  roi__pool_free(&ep->pool, rec);
  return 0;
}

static int translate(ep_poller *ep, const struct epoll_event *kev, roi_poll_event *out) {
  int fd = (int)(uint32_t)kev->data.u64;
  ep_sock *rec = find(ep, fd);
  uint32_t e = kev->events, ev = 0;
  /* No record, or another one: a registration the kernel kept after the
   * socket was removed, because the file stayed open through a duplicate
   * descriptor (dup, fork). It is no longer anyone's; drop its events. */
  if (!rec || rec->serial != (uint32_t)(kev->data.u64 >> 32))
    return 0;
  out->error = 0;
  if (e & EPOLLIN)
    ev |= ROI_POLL_READABLE;
  if (e & EPOLLOUT)
    ev |= ROI_POLL_WRITABLE;
  if (e & EPOLLRDHUP)
    ev |= ROI_POLL_RDHUP | ROI_POLL_READABLE;
  if (e & EPOLLHUP)
    ev |= ROI_POLL_HANGUP;
  if (e & EPOLLERR) {
    int soerr = 0;
    socklen_t len = sizeof soerr;
    ev |= ROI_POLL_ERROR;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0)
      out->error = roi_err_from_errno(soerr);
  }
  ev = roi__filter_events(ev, rec->interest);
  if (ev & (ROI_POLL_HANGUP | ROI_POLL_ERROR)) {
    /* Reported once: out of the set until modify() puts it back. */
    (void)ctl(ep, EPOLL_CTL_DEL, fd, NULL, 0);
    rec->in_set = 0;
    rec->disarmed = 1;
  } else if (rec->interest & ROI_POLL_ONESHOT) {
    rec->disarmed = 1;
  }
  out->token = rec->token;
  out->events = ev;
  return ev != 0;
}

static int ep_wait(roi_poller *p, roi_poll_event *events, int max, int timeout_ms) {
  ep_poller *ep = to_ep(p);
  int n, i, out, room;
  out = roi__wakeq_pop_first(&ep->wakeq, events, max, &timeout_ms);
  if (out == max)
    return out;
  room = max - out;
  if (room > ep->kcap && ep->kcap < EP_MAX_BATCH) {
    int cap = room < EP_MAX_BATCH ? room : EP_MAX_BATCH;
    struct epoll_event *k = realloc(ep->kevents, (size_t)cap * sizeof *k);
    if (!k)
      return out > 0 ? out : ROI_ENOMEM;
    ep->kevents = k;
    ep->kcap = cap;
  }
  if (room > ep->kcap)
    room = ep->kcap;
  n = epoll_wait(ep->epfd, ep->kevents, room, timeout_ms);
  if (n < 0)
    return errno == EINTR ? out : (out > 0 ? out : last_error());
  for (i = 0; i < n; i++) {
    /* A wake: its payloads are taken from the queue below, and the
     * edge-triggered eventfd needs no read. */
    if (ep->kevents[i].data.u64 == EP_WAKE_DATA)
      continue;
    out += translate(ep, &ep->kevents[i], &events[out]);
  }
  if (out < max)
    out += roi__wakeq_pop(&ep->wakeq, events + out, max - out);
  return out;
}

static int ep_wake(roi_poller *p, uint64_t payload) {
  ep_poller *ep = to_ep(p);
  int signal = 0, err = roi__wakeq_push(&ep->wakeq, payload, &signal);
  if (err)
    return err;
  if (signal) {
    uint64_t one = 1, v;
    ssize_t r;
    do
      r = write(ep->evfd, &one, sizeof one);
    while (r < 0 && errno == EINTR);
    /* The counter is full (see the notes at the top): empty it and signal
     * again, so that an edge is queued. */
    if (r < 0 && errno == EAGAIN) {
      while (read(ep->evfd, &v, sizeof v) < 0 && errno == EINTR) {
      }
      do
        r = write(ep->evfd, &one, sizeof one);
      while (r < 0 && errno == EINTR);
    }
  }
  return 0;
}

static void ep_stats(const roi_poller *p, roi_poller_stats *out) {
  const ep_poller *ep = (const ep_poller *)(const void *)p;
  out->sockets = ep->map.count;
  out->records = ep->pool.records;
  out->blocks = ep->pool.blocks;
  out->submits = ep->ctl_calls;
}

const roi__backend roi__backend_epoll = {
    "epoll",   ep_create, ep_close, ep_free, ep_add,
    ep_modify, ep_remove, ep_wait,  ep_wake, ep_stats,
};
