/*
 * The afd backend (Windows): readiness from IOCTL_AFD_POLL through one I/O
 * completion port.
 *
 * IMPLEMENTATION NOTES
 *
 * - One completion port per poller. Sockets are polled through \Device\Afd
 *   helper handles, each shared by a group of at most AFD_GROUP_SIZE (32)
 *   sockets, the size poc/stage3 chose (NOTES.md, "group size"). Sockets are
 *   never associated with the port themselves: that association is permanent
 *   and exclusive, and would steal the socket from the application's own
 *   overlapped I/O.
 * - Each registered socket has one record from the block pool (about 128 per
 *   block, a block freed when it empties). The record holds the kernel-facing
 *   IO_STATUS_BLOCK and AFD_POLL_INFO and the bookkeeping together, so there
 *   is one kernel-facing structure and it cannot move while a poll is in
 *   flight (seed Q9.1, Q10.3).
 * - At most one poll per socket is in flight, ever; read and write interest
 *   merge into its event mask. An interest change that needs new events
 *   cancels the poll (NtCancelIoFileEx, targeted at this record's
 *   IO_STATUS_BLOCK only) and resubmits when STATUS_CANCELLED is dequeued. A
 *   change that only drops events keeps the poll; what it reports is filtered.
 * - Submission is lazy: add/modify/remove only put the record on an update
 *   queue, and the next wait submits what is queued, so the cost of a wait is
 *   the ready sockets plus the interest changes, never the registered count.
 *   A completed poll is re-queued, which gives level-triggered behaviour: if
 *   the socket is still ready the next wait's poll completes at once.
 * - The ApcContext of a poll is the record's address with a generation tag in
 *   bits the address never uses (the top 16 bits of a 64-bit user address,
 *   the low 4 of a 16-byte aligned record on 32-bit Windows). Each submit
 *   takes a new generation; a packet whose tag is not the record's current one
 *   belongs to an earlier poll and is dropped and counted (stats.stale).
 * - A removed socket whose poll is in flight becomes a zombie: its record
 *   leaves the socket map at once (so the handle value can be registered
 *   again) but is freed only when its final packet is dequeued (seed Q9.4,
 *   Q10.1, Q10.2).
 * - IoStatus.Status is read before the events: STATUS_CANCELLED -> no event;
 *   another error status (NT_ERROR, severity 3) -> an error event; a
 *   success-class status other than SUCCESS (STATUS_TIMEOUT when a helper
 *   handle closes) -> no events, and the poll is submitted again;
 *   AFD_POLL_LOCAL_CLOSE -> the socket was closed, silently dropped from
 *   polling. STATUS_INVALID_HANDLE is a closed socket only when the socket is
 *   indeed gone; for a live one AFD refused the base handle a layered
 *   provider gave, reported as ROI_ELSP instead of a socket gone silent. A submit that
 * fails synchronously queues no packet: its record is not in flight and is reusable at
 * once.
 * - AFD reports ABORT and DISCONNECT again on every poll. A hang-up or an
 *   error is reported once and the socket is not re-armed until modify();
 *   DISCONNECT (a FIN) stays level-triggered, as EPOLLRDHUP does.
 * - Wakes are packets of our own (NtSetIoCompletion) under a reserved
 *   completion key with the payload in the ApcContext (and, on 32-bit
 *   Windows, its high half in the Information field); polls use another key.
 *   A wake needs no lock and no queue, and cannot be lost.
 * - Teardown removes every socket, drains the port until no poll is in flight
 *   (zombies freed as their packets come), then closes the helpers and the
 *   port. Should the kernel never complete a cancelled poll, the records are
 *   leaked rather than freed under the kernel's feet.
 * - The poller holds one Winsock reference (WSAStartup) for its lifetime.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "pool.h"
#include "poller_int.h"
#include "roi/sock.h"
#include "sockmap.h"
#include "win/afd.h"
#include "win/winsock.h"

#define AFD_GROUP_SIZE 32
#define AFD_KEY ((ULONG_PTR)1)
#define WAKE_KEY ((ULONG_PTR)2)
/* Packets fetched by one NtRemoveIoCompletionEx. */
#define AFD_MAX_BATCH 256
/* How long teardown waits for cancelled polls before it gives up on them. */
#define AFD_DRAIN_MS 10000

typedef struct afd_group {
  HANDLE afd;
  unsigned users; /* records bound to it, zombies included */
  struct afd_group *prev, *next;
} afd_group;

enum { SOCK_ARMED, SOCK_DISARMED, SOCK_CLOSED };

typedef struct afd_sock {
  /* Kernel-facing: written by the kernel while a poll is in flight. */
  roi__io_status iosb;
  roi__afd_poll_info info;
  /* Bookkeeping, only touched by the poller's thread. */
  roi__sockmap_node node; /* key: the application's socket */
  SOCKET base;
  afd_group *group;
  uint64_t token;
  uint32_t interest;
  ULONG submitted; /* the AFD events of the poll in flight */
  uint16_t generation;
  unsigned char in_flight;      /* a packet will come for this record */
  unsigned char cancelling;     /* a cancel was issued for that poll */
  unsigned char state;          /* SOCK_* */
  unsigned char zombie;         /* removed; freed when its packet comes */
  unsigned char queued;         /* on the update queue */
  struct afd_sock *prev, *next; /* update queue, or zombie list */
} afd_sock;

typedef struct afd_list {
  afd_sock *head, *tail;
} afd_list;

typedef struct afd_poller {
  roi_poller base;
  HANDLE port;
  afd_group *groups; /* groups with room first, full ones at the tail */
  afd_group *groups_tail;
  size_t ngroups;
  roi__sockmap map;
  roi__pool pool;
  afd_list queue;   /* records whose poll must be (re)submitted */
  afd_list zombies; /* removed records awaiting their last packet */
  size_t nzombies;
  size_t in_flight;
  uint16_t next_generation;
  uint64_t stale;
  uint64_t submits;
  int winsock; /* holds a Winsock reference */
  int leaked;  /* teardown gave up on in-flight polls */
  roi__completion entries[AFD_MAX_BATCH];
} afd_poller;

static afd_poller *to_afd(roi_poller *p) {
  return (afd_poller *)(void *)p;
}

/* ------------------------------------------------------------------------ */
/* Generation tags in the ApcContext                                         */

#if UINTPTR_MAX > 0xFFFFFFFFu
#define TAG_SHIFT 48
static ULONG_PTR tag_context(const afd_sock *r) {
  return (ULONG_PTR)r | ((ULONG_PTR)r->generation << TAG_SHIFT);
}
static afd_sock *untag_context(ULONG_PTR c, uint16_t *generation) {
  *generation = (uint16_t)(c >> TAG_SHIFT);
  return (afd_sock *)(c & (((ULONG_PTR)1 << TAG_SHIFT) - 1));
}
#else
/* 32-bit: records are 16-byte aligned (pool.c), leaving 4 low bits. */
static ULONG_PTR tag_context(const afd_sock *r) {
  return (ULONG_PTR)r | (ULONG_PTR)(r->generation & 0xF);
}
static afd_sock *untag_context(ULONG_PTR c, uint16_t *generation) {
  *generation = (uint16_t)(c & 0xF);
  return (afd_sock *)(c & ~(ULONG_PTR)0xF);
}
#endif

static int generation_matches(const afd_sock *r, uint16_t tag) {
#if UINTPTR_MAX > 0xFFFFFFFFu
  return r->generation == tag;
#else
  return (r->generation & 0xF) == tag;
#endif
}

/* ------------------------------------------------------------------------ */
/* Intrusive lists                                                           */

static void list_push(afd_list *l, afd_sock *r) {
  r->prev = l->tail;
  r->next = NULL;
  if (l->tail)
    l->tail->next = r;
  else
    l->head = r;
  l->tail = r;
}

static void list_unlink(afd_list *l, afd_sock *r) {
  if (r->prev)
    r->prev->next = r->next;
  else
    l->head = r->next;
  if (r->next)
    r->next->prev = r->prev;
  else
    l->tail = r->prev;
  r->prev = r->next = NULL;
}

static void queue_update(afd_poller *ap, afd_sock *r) {
  if (!r->queued && !r->zombie) {
    list_push(&ap->queue, r);
    r->queued = 1;
  }
}

static void dequeue_update(afd_poller *ap, afd_sock *r) {
  if (r->queued) {
    list_unlink(&ap->queue, r);
    r->queued = 0;
  }
}

/* ------------------------------------------------------------------------ */
/* Helper groups                                                             */

static void group_unlink(afd_poller *ap, afd_group *g) {
  if (g->prev)
    g->prev->next = g->next;
  else
    ap->groups = g->next;
  if (g->next)
    g->next->prev = g->prev;
  else
    ap->groups_tail = g->prev;
  g->prev = g->next = NULL;
}

static void group_push_front(afd_poller *ap, afd_group *g) {
  g->prev = NULL;
  g->next = ap->groups;
  if (ap->groups)
    ap->groups->prev = g;
  else
    ap->groups_tail = g;
  ap->groups = g;
}

static void group_push_back(afd_poller *ap, afd_group *g) {
  g->next = NULL;
  g->prev = ap->groups_tail;
  if (ap->groups_tail)
    ap->groups_tail->next = g;
  else
    ap->groups = g;
  ap->groups_tail = g;
}

/* A group with room for one more socket: the head of the list, or a new one. */
static int group_acquire(afd_poller *ap, afd_group **out) {
  afd_group *g = ap->groups;
  int err;
  if (!g || g->users >= AFD_GROUP_SIZE) {
    g = calloc(1, sizeof *g);
    if (!g)
      return ROI_ENOMEM;
    err = roi__afd_open(ap->port, AFD_KEY, &g->afd);
    if (err) {
      free(g);
      return err;
    }
    group_push_front(ap, g);
    ap->ngroups++;
  }
  g->users++;
  /* A full group moves to the tail so the head always has room if any does. */
  if (g->users == AFD_GROUP_SIZE && g->next) {
    group_unlink(ap, g);
    group_push_back(ap, g);
  }
  *out = g;
  return 0;
}

static void group_release(afd_poller *ap, afd_group *g) {
  assert(g->users > 0);
  g->users--;
  if (g->users == 0 && ap->ngroups > 1) {
    /* Nothing is in flight on it: every record bound to it is freed. */
    group_unlink(ap, g);
    CloseHandle(g->afd);
    free(g);
    ap->ngroups--;
  } else if (g->users == AFD_GROUP_SIZE - 1 && ap->groups != g) {
    group_unlink(ap, g);
    group_push_front(ap, g);
  }
}

/* ------------------------------------------------------------------------ */
/* Records                                                                   */

static void record_free(afd_poller *ap, afd_sock *r) {
  assert(!r->in_flight && !r->queued);
  group_release(ap, r->group);
  roi__pool_free(&ap->pool, r);
}

static afd_sock *find(afd_poller *ap, roi_socket s) {
  roi__sockmap_node *n = roi__sockmap_find(&ap->map, (uint64_t)s);
  return n ? ROI__CONTAINER_OF(n, afd_sock, node) : NULL;
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

/* A poll AFD refused (synchronously, or in its completion) with an error
 * status: fills *ev and returns 1, or returns 0 for a socket that is gone.
 * STATUS_INVALID_HANDLE means the socket was closed while registered, unless
 * the socket is still alive: then AFD refuses the base handle a layered
 * provider gave, and the socket is reported with ROI_ELSP rather than left
 * silent for ever. */
static int refused(afd_sock *r, roi__ntstatus st, roi_poll_event *ev) {
  int err = roi_err_from_ntstatus((uint32_t)st);
  if (st == ROI__ST_INVALID_HANDLE) {
    if (roi__winsock_check((uintptr_t)r->node.key) != 0) {
      r->state = SOCK_CLOSED;
      return 0;
    }
    err = ROI_ELSP;
  }
  r->state = SOCK_DISARMED;
  ev->token = r->token;
  ev->events = ROI_POLL_ERROR;
  ev->error = err;
  return 1;
}

static void cancel(afd_sock *r) {
  if (r->in_flight && !r->cancelling) {
    roi__afd_cancel(r->group->afd, &r->iosb);
    r->cancelling = 1;
  }
}

/* Submits the record's poll, or cancels the one in flight if it lacks events
 * the interest now needs. Returns 1 and fills *ev when the submit failed
 * synchronously with an error to report, else 0. */
static int update(afd_poller *ap, afd_sock *r, roi_poll_event *ev) {
  ULONG want;
  roi__ntstatus st;
  if (r->state != SOCK_ARMED)
    return 0;
  want = afd_events(r->interest);
  if (r->in_flight) {
    if (want & ~r->submitted)
      cancel(r);
    return 0;
  }
  r->generation = ap->next_generation++;
  st = roi__afd_poll(r->group->afd, r->base, want, &r->info, &r->iosb, tag_context(r));
  ap->submits++;
  if (!ROI__NT_ERROR(st)) {
    /* Only an error status (severity 3) means no packet: without
     * FILE_SKIP_COMPLETION_PORT_ON_SUCCESS, SUCCESS, PENDING and any warning or
     * informational status queue one. */
    r->in_flight = 1;
    r->cancelling = 0;
    r->submitted = want;
    ap->in_flight++;
    return 0;
  }
  /* No packet will come: the record is free for the next submit at once. */
  return refused(r, st, ev);
}

/* Submits what the update queue holds, stopping when events is full. */
static int flush(afd_poller *ap, roi_poll_event *events, int max) {
  int n = 0;
  while (ap->queue.head && n < max) {
    afd_sock *r = ap->queue.head;
    dequeue_update(ap, r);
    n += update(ap, r, &events[n]);
  }
  return n;
}

/* Turns a dequeued poll into an event; returns 1 if there is one. */
static int complete(afd_poller *ap, afd_sock *r, roi__ntstatus st, roi_poll_event *ev) {
  uint32_t e = 0;
  int err = 0;
  r->in_flight = 0;
  r->cancelling = 0;
  ap->in_flight--;
  /* During teardown every record in flight is a zombie, so ev is not needed. */
  assert(ev != NULL || r->zombie);
  if (r->zombie) {
    list_unlink(&ap->zombies, r);
    ap->nzombies--;
    r->zombie = 0;
    record_free(ap, r);
    return 0;
  }
  if (st == ROI__ST_CANCELLED) {
    queue_update(ap, r); /* an interest change: resubmit */
    return 0;
  }
  if (ROI__NT_ERROR(st)) {
    return refused(r, st, ev);
  } else if (st != ROI__ST_SUCCESS || r->info.number_of_handles < 1) {
    /* A success-class status other than SUCCESS (STATUS_TIMEOUT when the
     * helper handle closes, say) or no handle reported: no events. Only
     * error statuses are errors, as in wepoll and mio. */
    queue_update(ap, r);
    return 0;
  } else {
    ULONG a = r->info.handles[0].events;
    if (a & ROI__AFD_LOCAL_CLOSE) {
      r->state = SOCK_CLOSED;
      return 0;
    }
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
      err = ROI_ECONNRESET;
    }
    if (a & ROI__AFD_CONNECT_FAIL) {
      e |= ROI_POLL_WRITABLE | ROI_POLL_HANGUP | ROI_POLL_ERROR;
      err = r->info.handles[0].status != 0
                ? roi_err_from_ntstatus((uint32_t)r->info.handles[0].status)
                : roi_sock_error((roi_socket)r->node.key);
    }
  }
  e = roi__filter_events(e, r->interest);
  if (e == 0) {
    queue_update(ap, r);
    return 0;
  }
  if ((e & (ROI_POLL_HANGUP | ROI_POLL_ERROR)) || (r->interest & ROI_POLL_ONESHOT))
    r->state = SOCK_DISARMED;
  else
    queue_update(ap, r); /* level-triggered: poll again at the next wait */
  ev->token = r->token;
  ev->events = e;
  ev->error = (e & ROI_POLL_ERROR) ? err : 0;
  return 1;
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
      if (events) {
        events[n].token = payload;
        events[n].events = ROI_POLL_WAKE;
        events[n].error = 0;
        n++;
      }
    } else if (c->key == AFD_KEY) {
      uint16_t tag;
      afd_sock *r = untag_context(c->apc_context, &tag);
      if (!r->in_flight || !generation_matches(r, tag)) {
        ap->stale++;
        continue;
      }
      n += complete(ap, r, c->iosb.u.status, events ? &events[n] : NULL);
    }
  }
  return n;
}

/* ------------------------------------------------------------------------ */
/* The backend                                                               */

static int afd_create(roi_poller **out) {
  afd_poller *ap;
  int err = roi__nt_init();
  if (err)
    return err;
  ap = calloc(1, sizeof *ap);
  if (!ap)
    return ROI_ENOMEM;
  roi__sockmap_init(&ap->map);
  roi__pool_init(&ap->pool, sizeof(afd_sock));
  err = roi__winsock_acquire();
  if (err)
    goto fail;
  ap->winsock = 1;
  err = roi__port_create(&ap->port);
  if (err)
    goto fail;
  *out = &ap->base;
  return 0;
fail:
  if (ap->winsock)
    roi__winsock_release();
  free(ap);
  return err;
}

static int afd_remove(roi_poller *p, roi_socket s);

static void remove_node(roi__sockmap_node *node, void *arg) {
  afd_poller *ap = arg;
  (void)afd_remove(&ap->base, (roi_socket)node->key);
}

static void afd_close(roi_poller *p) {
  afd_poller *ap = to_afd(p);
  uint64_t deadline = roi__now_ms() + AFD_DRAIN_MS;
  roi__sockmap_each(&ap->map, remove_node, ap);
  roi__sockmap_free(&ap->map);
  while (ap->in_flight > 0 && roi__now_ms() < deadline) {
    int n = roi__port_wait(ap->port, ap->entries, AFD_MAX_BATCH, 100);
    if (n < 0)
      break;
    (void)process(ap, n, NULL);
  }
  if (ap->in_flight > 0) {
    /* Never freed: the kernel may still write into these records. */
    ap->leaked = 1;
  }
  while (ap->groups) {
    afd_group *g = ap->groups;
    group_unlink(ap, g);
    CloseHandle(g->afd);
    free(g);
  }
  ap->ngroups = 0;
  CloseHandle(ap->port);
  ap->port = NULL;
  if (ap->winsock)
    roi__winsock_release();
  ap->winsock = 0;
}

static void afd_free(roi_poller *p) {
  free(to_afd(p));
}

static int afd_add(roi_poller *p, roi_socket s, uint32_t interest, uint64_t token) {
  afd_poller *ap = to_afd(p);
  afd_sock *r;
  SOCKET base;
  int err;
  if (find(ap, s))
    return ROI_EEXIST;
  err = roi__afd_base_socket((SOCKET)s, &base);
  if (err)
    return err;
  r = roi__pool_alloc(&ap->pool);
  if (!r)
    return ROI_ENOMEM;
  /* The generation tag lives in the low bits on 32-bit Windows. */
  assert(((uintptr_t)r & 0xF) == 0);
  err = group_acquire(ap, &r->group);
  if (err)
    goto fail_pool;
  r->node.key = (uint64_t)s;
  err = roi__sockmap_insert(&ap->map, &r->node);
  if (err)
    goto fail_group;
  r->base = base;
  r->token = token;
  r->interest = interest;
  r->state = SOCK_ARMED;
  queue_update(ap, r);
  return 0;
fail_group:
  group_release(ap, r->group);
fail_pool:
  roi__pool_free(&ap->pool, r);
  return err;
}

static int afd_modify(roi_poller *p, roi_socket s, uint32_t interest, uint64_t token) {
  afd_poller *ap = to_afd(p);
  afd_sock *r = find(ap, s);
  if (!r)
    return ROI_ENOENT;
  if (r->state == SOCK_CLOSED)
    return ROI_EBADF;
  r->token = token;
  if (r->state == SOCK_ARMED && interest == r->interest)
    return 0;
  r->interest = interest;
  r->state = SOCK_ARMED;
  queue_update(ap, r);
  return 0;
}

static int afd_remove(roi_poller *p, roi_socket s) {
  afd_poller *ap = to_afd(p);
  afd_sock *r = find(ap, s);
  if (!r)
    return ROI_ENOENT;
  dequeue_update(ap, r);
  roi__sockmap_remove(&ap->map, &r->node);
  if (r->in_flight) {
    cancel(r);
    r->zombie = 1;
    list_push(&ap->zombies, r);
    ap->nzombies++;
  } else {
    record_free(ap, r);
  }
  return 0;
}

/* One round: submit what is queued, then collect packets. */
static int wait_round(afd_poller *ap, roi_poll_event *events, int max, int timeout_ms) {
  int n = flush(ap, events, max), count, room;
  if (n == max)
    return n;
  room = max - n;
  count = roi__port_wait(ap->port, ap->entries,
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
  while (n == 0 && ap->queue.head && rounds++ < 2)
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
  return roi__port_post(ap->port, WAKE_KEY, (ULONG_PTR)payload, high);
}

static void afd_stats(const roi_poller *p, roi_poller_stats *out) {
  const afd_poller *ap = (const afd_poller *)(const void *)p;
  out->sockets = ap->map.count;
  out->records = ap->pool.records;
  out->blocks = ap->pool.blocks;
  out->zombies = ap->nzombies;
  out->in_flight = ap->in_flight;
  out->helpers = ap->ngroups;
  out->stale = ap->stale;
  out->submits = ap->submits;
}

const roi__backend roi__backend_afd = {
    "afd",      afd_create, afd_close, afd_free, afd_add,
    afd_modify, afd_remove, afd_wait,  afd_wake, afd_stats,
};
