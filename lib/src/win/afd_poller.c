/*
 * The afd backend (Windows): readiness from IOCTL_AFD_POLL through one I/O
 * completion port.
 *
 * IMPLEMENTATION NOTES
 *
 * - The machinery is the AFD socket set (afd_set.c, shared with the epoll_*
 *   layer in epoll.c): one completion port per poller, \Device\Afd helper
 *   groups of 32 sockets, one pinned record per socket from the block pool,
 *   at most one poll per socket in flight, lazy submission through an update
 *   queue, targeted cancels, zombies, generation tags in the ApcContext and
 *   the decoding of IoStatus.Status. Its IMPLEMENTATION NOTES say why each is
 *   so; what follows is what this backend decides on top of it.
 * - Read and write interest merge into one poll's event mask. An interest
 *   change that needs new events re-arms the record (the set cancels and
 *   resubmits); one that only drops events keeps the poll, and what it
 *   reports is filtered here.
 * - A completed poll is re-queued, which gives level-triggered behaviour: if
 *   the socket is still ready the next wait's poll completes at once.
 * - AFD reports ABORT and DISCONNECT again on every poll. A hang-up or an
 *   error is reported once and the socket is not re-armed until modify();
 *   DISCONNECT (a FIN) stays level-triggered, as EPOLLRDHUP does.
 * - A closed socket (AFD_POLL_LOCAL_CLOSE, or STATUS_INVALID_HANDLE for a
 *   socket that is gone) is dropped from polling silently and stays in the
 *   map until roi_poller_remove(), which the contract requires before close.
 * - Wakes are packets of our own (NtSetIoCompletion) under a reserved
 *   completion key with the payload in the ApcContext (and, on 32-bit
 *   Windows, its high half in the Information field); polls use the set's
 *   key. A wake needs no lock and no queue, and cannot be lost.
 * - Teardown is the set's: every socket removed, the port drained until no
 *   poll is in flight, then the helpers and the port closed.
 */
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "poller_int.h"
#include "roi/sock.h"
#include "win/afd_set.h"
#include "win/winsock.h"

#define WAKE_KEY ((ULONG_PTR)2)
/* Packets fetched by one NtRemoveIoCompletionEx. */
#define AFD_MAX_BATCH 256

typedef struct afd_poller {
  roi_poller base;
  roi__afd_set set;
  roi__completion entries[AFD_MAX_BATCH];
} afd_poller;

static afd_poller *to_afd(roi_poller *p) {
  return (afd_poller *)(void *)p;
}

/* The AFD events that serve an interest set. Abort, local close and a failed
 * connect are always asked for: they are the hang-ups and errors reported
 * whatever the interest. */
static ULONG afd_events(uint32_t interest) {
  ULONG e = ROI__AFD_ABORT | ROI__AFD_LOCAL_CLOSE | ROI__AFD_CONNECT_FAIL;
  if (interest & ROI_POLL_READABLE)
    e |= ROI__AFD_RECEIVE | ROI__AFD_ACCEPT | ROI__AFD_DISCONNECT;
  if (interest & ROI_POLL_RDHUP)
    e |= ROI__AFD_DISCONNECT;
  if (interest & ROI_POLL_WRITABLE)
    e |= ROI__AFD_SEND;
  return e;
}

/* The poller's events for what AFD reported; *err receives the error that
 * goes with ROI_POLL_ERROR. */
static uint32_t poll_events(const roi__afd_rec *r, ULONG a, int *err) {
  uint32_t e = 0;
  if (a & (ROI__AFD_RECEIVE | ROI__AFD_ACCEPT))
    e |= ROI_POLL_READABLE;
  if (a & ROI__AFD_SEND)
    e |= ROI_POLL_WRITABLE;
  if (a & ROI__AFD_DISCONNECT)
    e |= ROI_POLL_READABLE | ROI_POLL_RDHUP;
  if (a & ROI__AFD_ABORT) {
    /* What epoll reports for a reset connection. */
    e |= ROI_POLL_READABLE | ROI_POLL_WRITABLE | ROI_POLL_RDHUP | ROI_POLL_HANGUP |
         ROI_POLL_ERROR;
    *err = ROI_ECONNRESET;
  }
  if (a & ROI__AFD_CONNECT_FAIL) {
    e |= ROI_POLL_WRITABLE | ROI_POLL_HANGUP | ROI_POLL_ERROR;
    *err = r->info.handles[0].status != 0
               ? roi_err_from_ntstatus((uint32_t)r->info.handles[0].status)
               : roi_sock_error((roi_socket)r->node.key);
  }
  return e;
}

/* Turns an outcome of the set into an event and decides whether the socket
 * is polled again; returns 1 if *ev was filled. */
static int to_event(afd_poller *ap, roi__afd_outcome o, const roi__afd_result *res,
                    roi_poll_event *ev) {
  roi__afd_rec *r = res->rec;
  uint32_t e;
  int err = 0;
  if (o == ROI__AFD_FAILED) {
    /* The set disarmed the record: the error is reported once. */
    ev->token = r->token;
    ev->events = ROI_POLL_ERROR;
    ev->error = res->error;
    return 1;
  }
  if (o != ROI__AFD_EVENTS)
    return 0;
  e = roi__filter_events(poll_events(r, res->events, &err), r->interest);
  if (e == 0) {
    roi__afd_set_requeue(&ap->set, r);
    return 0;
  }
  if ((e & (ROI_POLL_HANGUP | ROI_POLL_ERROR)) || (r->interest & ROI_POLL_ONESHOT))
    r->state = ROI__AFD_DISARMED;
  else
    roi__afd_set_requeue(&ap->set, r); /* level-triggered: poll again at the next wait */
  ev->token = r->token;
  ev->events = e;
  ev->error = (e & ROI_POLL_ERROR) ? err : 0;
  return 1;
}

/* Submits what the update queue holds, stopping when events is full. */
static int flush(afd_poller *ap, roi_poll_event *events, int max) {
  int n = 0;
  roi__afd_result res;
  while (n < max && ap->set.queue.head)
    n += to_event(ap, roi__afd_set_flush(&ap->set, &res), &res, &events[n]);
  return n;
}

/* Handles count dequeued packets; returns the number of events stored. */
static int process(afd_poller *ap, int count, roi_poll_event *events) {
  int i, n = 0;
  for (i = 0; i < count; i++) {
    const roi__completion *c = &ap->entries[i];
    if (c->key == WAKE_KEY) {
      uint64_t payload = (uint64_t)c->apc_context;
#ifndef _WIN64
      /* 32-bit: the high half travels in Information (afd_wake()). */
      payload |= (uint64_t)c->iosb.information << 16 << 16;
#endif
      events[n].token = payload;
      events[n].events = ROI_POLL_WAKE;
      events[n].error = 0;
      n++;
    } else if (c->key == ROI__AFD_SET_KEY) {
      roi__afd_result res;
      n += to_event(ap, roi__afd_set_decode(&ap->set, c, &res), &res, &events[n]);
    }
  }
  return n;
}

/* ------------------------------------------------------------------------ */
/* The backend                                                               */

static int afd_create(roi_poller **out) {
  afd_poller *ap = calloc(1, sizeof *ap);
  int err;
  if (!ap)
    return ROI_ENOMEM;
  err = roi__afd_set_init(&ap->set, 1);
  if (err) {
    free(ap);
    return err;
  }
  *out = &ap->base;
  return 0;
}

static void afd_close(roi_poller *p) {
  roi__afd_set_close(&to_afd(p)->set);
}

static void afd_free(roi_poller *p) {
  free(to_afd(p));
}

static int afd_add(roi_poller *p, roi_socket s, uint32_t interest, uint64_t token) {
  afd_poller *ap = to_afd(p);
  roi__afd_rec *r;
  int err = roi__afd_set_add(&ap->set, (SOCKET)s, &r);
  if (err)
    return err;
  r->token = token;
  r->interest = interest;
  roi__afd_set_arm(&ap->set, r, afd_events(interest));
  return 0;
}

static int afd_modify(roi_poller *p, roi_socket s, uint32_t interest, uint64_t token) {
  afd_poller *ap = to_afd(p);
  roi__afd_rec *r = roi__afd_set_find(&ap->set, (SOCKET)s);
  if (!r)
    return ROI_ENOENT;
  if (r->state == ROI__AFD_CLOSED)
    return ROI_EBADF;
  r->token = token;
  if (r->state == ROI__AFD_ARMED && interest == r->interest)
    return 0;
  r->interest = interest;
  roi__afd_set_arm(&ap->set, r, afd_events(interest));
  return 0;
}

static int afd_remove(roi_poller *p, roi_socket s) {
  afd_poller *ap = to_afd(p);
  roi__afd_rec *r = roi__afd_set_find(&ap->set, (SOCKET)s);
  if (!r)
    return ROI_ENOENT;
  roi__afd_set_remove(&ap->set, r);
  return 0;
}

/* One round: submit what is queued, then collect packets. */
static int wait_round(afd_poller *ap, roi_poll_event *events, int max, int timeout_ms) {
  int n = flush(ap, events, max), count, room;
  if (n == max)
    return n;
  room = max - n;
  count = roi__port_wait(ap->set.port, ap->entries,
                         (ULONG)(room < AFD_MAX_BATCH ? room : AFD_MAX_BATCH),
                         n > 0 ? 0 : timeout_ms);
  if (count < 0)
    return n > 0 ? n : count;
  return n + process(ap, count, events + n);
}

static int afd_wait(roi_poller *p, roi_poll_event *events, int max, int timeout_ms) {
  afd_poller *ap = to_afd(p);
  int n = wait_round(ap, events, max, timeout_ms), rounds = 0;
  /* A round that only dequeued bookkeeping (a cancel for an interest change,
   * a filtered completion) leaves records queued for resubmission. Their new
   * polls complete at once if the socket is ready, so two more rounds without
   * blocking let even a zero-timeout wait see what epoll would report. */
  while (n == 0 && ap->set.queue.head && rounds++ < 2)
    n = wait_round(ap, events, max, 0);
  return n;
}

static int afd_wake(roi_poller *p, uint64_t payload) {
  afd_poller *ap = to_afd(p);
  ULONG_PTR high = 0;
#ifndef _WIN64
  /* 32-bit: ApcContext holds only the low half of the payload. */
  high = (ULONG_PTR)(payload >> 16 >> 16);
#endif
  return roi__port_post(ap->set.port, WAKE_KEY, (ULONG_PTR)payload, high);
}

static void afd_stats(const roi_poller *p, roi_poller_stats *out) {
  roi__afd_set_stats(&((const afd_poller *)(const void *)p)->set, out);
}

const roi__backend roi__backend_afd = {
    "afd",      afd_create, afd_close, afd_free, afd_add,
    afd_modify, afd_remove, afd_wait,  afd_wake, afd_stats,
};
