/*
 * The AFD socket set (afd_set.h): polls through \Device\Afd helper groups,
 * pinned records, lazy submission, targeted cancels, zombies and generation
 * tags, shared by the afd poller backend and the epoll_* layer.
 *
 * IMPLEMENTATION NOTES
 *
 * - Sockets are polled through \Device\Afd helper handles, each shared by a
 *   group of at most AFD_GROUP_SIZE (32) sockets, the size poc/stage3 chose
 *   (NOTES.md, "group size"). Sockets are never associated with the port
 *   themselves: that association is permanent and exclusive, and would steal
 *   the socket from the application's own overlapped I/O.
 * - Each registered socket has one record from the block pool. The record
 *   holds the kernel-facing IO_STATUS_BLOCK and AFD_POLL_INFO and the
 *   bookkeeping together, so there is one kernel-facing structure and it
 *   cannot move while a poll is in flight (seed Q9.1, Q10.3).
 * - At most one poll per socket is in flight, ever. An arm that needs events
 *   the poll in flight lacks cancels it (NtCancelIoFileEx, targeted at this
 *   record's IO_STATUS_BLOCK only) and resubmits when STATUS_CANCELLED is
 *   dequeued. An arm that only drops events keeps the poll; the caller
 *   filters what it reports.
 * - Submission is lazy: arming only puts the record on the update queue and
 *   the next flush submits what is queued, so the cost of a wait is the
 *   ready sockets plus the interest changes, never the registered count.
 * - The ApcContext of a poll is the record's address with a generation tag in
 *   bits the address never uses (the top 16 bits of a 64-bit user address,
 *   the low 4 of a 16-byte aligned record on 32-bit Windows). Each submit
 *   takes a new generation; a packet whose tag is not the record's current
 *   one belongs to an earlier poll and is dropped and counted (stale).
 * - A removed socket whose poll is in flight becomes a zombie: its record
 *   leaves the socket map at once (so the handle value can be registered
 *   again) but is freed only when its final packet is decoded (seed Q9.4,
 *   Q10.1, Q10.2). A record is therefore valid memory for as long as a packet
 *   naming it can be dequeued, whichever thread dequeues it.
 * - IoStatus.Status is read before the events: STATUS_CANCELLED -> nothing;
 *   another error status (NT_ERROR, severity 3) -> a failure; a success-class
 *   status other than SUCCESS (STATUS_TIMEOUT when a helper handle closes) ->
 *   no events, and the poll is submitted again; AFD_POLL_LOCAL_CLOSE -> the
 *   socket was closed. An error status for a socket that is gone is a
 *   closed socket too, whatever the status (Windows says
 *   STATUS_INVALID_HANDLE, Wine STATUS_OBJECT_TYPE_MISMATCH); for a live one,
 *   STATUS_INVALID_HANDLE means AFD refused the base handle a layered
 *   provider gave: a failure with ROI_ELSP rather than a socket gone silent.
 *   A submit that fails synchronously queues no packet: its record is not in
 *   flight and is reusable at once.
 * - The set holds one Winsock reference (WSAStartup) for its lifetime.
 */
#include "win/afd_set.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "roi/error.h"
#include "win/winsock.h"

#define AFD_GROUP_SIZE 32
/* Packets fetched by one NtRemoveIoCompletionEx while draining. */
#define AFD_DRAIN_BATCH 64
/* How long teardown waits for cancelled polls before it gives up on them. */
#define AFD_DRAIN_MS 10000

struct roi__afd_group {
  HANDLE afd;
  unsigned users; /* records bound to it, zombies included */
  struct roi__afd_group *prev, *next;
};

typedef roi__afd_rec rec;
typedef roi__afd_group group;

/* ------------------------------------------------------------------------ */
/* Generation tags in the ApcContext                                         */

#if UINTPTR_MAX > 0xFFFFFFFFu
#define TAG_SHIFT 48
static ULONG_PTR tag_context(const rec *r) {
  return (ULONG_PTR)r | ((ULONG_PTR)r->generation << TAG_SHIFT);
}
static rec *untag_context(ULONG_PTR c, uint16_t *generation) {
  *generation = (uint16_t)(c >> TAG_SHIFT);
  return (rec *)(c & (((ULONG_PTR)1 << TAG_SHIFT) - 1));
}
static int generation_matches(const rec *r, uint16_t tag) {
  return r->generation == tag;
}
#else
/* 32-bit: records are 16-byte aligned (pool.c), leaving 4 low bits. */
static ULONG_PTR tag_context(const rec *r) {
  return (ULONG_PTR)r | (ULONG_PTR)(r->generation & 0xF);
}
static rec *untag_context(ULONG_PTR c, uint16_t *generation) {
  *generation = (uint16_t)(c & 0xF);
  return (rec *)(c & ~(ULONG_PTR)0xF);
}
static int generation_matches(const rec *r, uint16_t tag) {
  return (r->generation & 0xF) == tag;
}
#endif

/* ------------------------------------------------------------------------ */
/* Intrusive lists                                                           */

static void list_push(roi__afd_list *l, rec *r) {
  r->prev = l->tail;
  r->next = NULL;
  if (l->tail)
    l->tail->next = r;
  else
    l->head = r;
  l->tail = r;
}

static void list_unlink(roi__afd_list *l, rec *r) {
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

static void queue_update(roi__afd_set *s, rec *r) {
  if (!r->queued && !r->zombie) {
    list_push(&s->queue, r);
    r->queued = 1;
  }
}

static void dequeue_update(roi__afd_set *s, rec *r) {
  if (r->queued) {
    list_unlink(&s->queue, r);
    r->queued = 0;
  }
}

/* ------------------------------------------------------------------------ */
/* Helper groups                                                             */

static void group_unlink(roi__afd_set *s, group *g) {
  if (g->prev)
    g->prev->next = g->next;
  else
    s->groups = g->next;
  if (g->next)
    g->next->prev = g->prev;
  else
    s->groups_tail = g->prev;
  g->prev = g->next = NULL;
}

static void group_push_front(roi__afd_set *s, group *g) {
  g->prev = NULL;
  g->next = s->groups;
  if (s->groups)
    s->groups->prev = g;
  else
    s->groups_tail = g;
  s->groups = g;
}

static void group_push_back(roi__afd_set *s, group *g) {
  g->next = NULL;
  g->prev = s->groups_tail;
  if (s->groups_tail)
    s->groups_tail->next = g;
  else
    s->groups = g;
  s->groups_tail = g;
}

/* A group with room for one more socket: the head of the list, or a new one. */
static int group_acquire(roi__afd_set *s, group **out) {
  group *g = s->groups;
  int err;
  if (!g || g->users >= AFD_GROUP_SIZE) {
    g = calloc(1, sizeof *g);
    if (!g)
      return ROI_ENOMEM;
    err = roi__afd_open(s->port, ROI__AFD_SET_KEY, &g->afd);
    if (err) {
      free(g);
      return err;
    }
    group_push_front(s, g);
    s->ngroups++;
  }
  g->users++;
  /* A full group moves to the tail so the head always has room if any does. */
  if (g->users == AFD_GROUP_SIZE && g->next) {
    group_unlink(s, g);
    group_push_back(s, g);
  }
  *out = g;
  return 0;
}

static void group_release(roi__afd_set *s, group *g) {
  assert(g->users > 0);
  g->users--;
  if (g->users == 0 && s->ngroups > 1) {
    /* Nothing is in flight on it: every record bound to it is freed. */
    group_unlink(s, g);
    CloseHandle(g->afd);
    free(g);
    s->ngroups--;
  } else if (g->users == AFD_GROUP_SIZE - 1 && s->groups != g) {
    group_unlink(s, g);
    group_push_front(s, g);
  }
}

/* ------------------------------------------------------------------------ */
/* Records                                                                   */

static void record_free(roi__afd_set *s, rec *r) {
  assert(!r->in_flight && !r->queued);
  group_release(s, r->group);
  roi__pool_free(&s->pool, r);
}

/* A poll AFD refused (synchronously, or in its completion) with an error
 * status. Whatever the status, a socket that is gone was closed while
 * registered: Windows says STATUS_INVALID_HANDLE for it, Wine
 * STATUS_OBJECT_TYPE_MISMATCH when the handle value was closed (NOTES.md,
 * Wine differences). STATUS_INVALID_HANDLE for a socket still alive means
 * AFD refuses the base handle a layered provider gave, and the socket fails
 * with ROI_ELSP rather than going silent for ever. */
static roi__afd_outcome refused(rec *r, roi__ntstatus st, roi__afd_result *res) {
  int err = roi_err_from_ntstatus((uint32_t)st);
  res->rec = r;
  res->events = 0;
  res->error = 0;
  if (roi__winsock_check((uintptr_t)r->node.key) != 0) {
    r->state = ROI__AFD_CLOSED;
    return ROI__AFD_GONE;
  }
  if (st == ROI__ST_INVALID_HANDLE)
    err = ROI_ELSP;
  r->state = ROI__AFD_DISARMED;
  res->error = err;
  return ROI__AFD_FAILED;
}

static void cancel(rec *r) {
  if (r->in_flight && !r->cancelling) {
    roi__afd_cancel(r->group->afd, &r->iosb);
    r->cancelling = 1;
  }
}

/* Submits the record's poll, or cancels the one in flight if it lacks events
 * the record now wants. */
static roi__afd_outcome update(roi__afd_set *s, rec *r, roi__afd_result *res) {
  roi__ntstatus st;
  if (r->state != ROI__AFD_ARMED)
    return ROI__AFD_NOTHING;
  if (r->in_flight) {
    if (r->want & ~r->submitted)
      cancel(r);
    return ROI__AFD_NOTHING;
  }
  r->generation = s->next_generation++;
  st = roi__afd_poll(r->group->afd, r->base, r->want, &r->info, &r->iosb, tag_context(r));
  s->submits++;
  if (!ROI__NT_ERROR(st)) {
    /* Only an error status (severity 3) means no packet: without
     * FILE_SKIP_COMPLETION_PORT_ON_SUCCESS, SUCCESS, PENDING and any warning or
     * informational status queue one. */
    r->in_flight = 1;
    r->cancelling = 0;
    r->submitted = r->want;
    s->in_flight++;
    return ROI__AFD_NOTHING;
  }
  /* No packet will come: the record is free for the next submit at once. */
  return refused(r, st, res);
}

/* ------------------------------------------------------------------------ */
/* The set                                                                   */

int roi__afd_set_init(roi__afd_set *s, DWORD concurrency) {
  int err = roi__nt_init();
  memset(s, 0, sizeof *s);
  if (err)
    return err;
  roi__sockmap_init(&s->map);
  roi__pool_init(&s->pool, sizeof(rec));
  err = roi__winsock_acquire();
  if (err)
    return err;
  err = roi__port_create(&s->port, concurrency);
  if (err) {
    roi__winsock_release();
    return err;
  }
  s->winsock = 1;
  return 0;
}

static void remove_node(roi__sockmap_node *node, void *arg) {
  roi__afd_set_remove(arg, ROI__CONTAINER_OF(node, rec, node));
}

void roi__afd_set_close(roi__afd_set *s) {
  uint64_t deadline = roi__now_ms() + AFD_DRAIN_MS;
  roi__completion entries[AFD_DRAIN_BATCH];
  roi__afd_result res;
  roi__sockmap_each(&s->map, remove_node, s);
  roi__sockmap_free(&s->map);
  /* Every record left in flight is a zombie now: decoding frees it. */
  while (s->in_flight > 0 && roi__now_ms() < deadline) {
    int i, n = roi__port_wait(s->port, entries, AFD_DRAIN_BATCH, 100);
    if (n < 0)
      break;
    for (i = 0; i < n; i++)
      if (entries[i].key == ROI__AFD_SET_KEY)
        (void)roi__afd_set_decode(s, &entries[i], &res);
  }
  if (s->in_flight > 0) {
    /* Never freed: the kernel may still write into these records. */
    s->leaked = 1;
  }
  while (s->groups) {
    group *g = s->groups;
    group_unlink(s, g);
    CloseHandle(g->afd);
    free(g);
  }
  s->ngroups = 0;
  if (s->port)
    CloseHandle(s->port);
  s->port = NULL;
  if (s->winsock)
    roi__winsock_release();
  s->winsock = 0;
}

roi__afd_rec *roi__afd_set_find(roi__afd_set *s, SOCKET sock) {
  roi__sockmap_node *n = roi__sockmap_find(&s->map, (uint64_t)sock);
  return n ? ROI__CONTAINER_OF(n, rec, node) : NULL;
}

int roi__afd_set_add(roi__afd_set *s, SOCKET sock, roi__afd_rec **out) {
  rec *r;
  SOCKET base;
  int err;
  if (roi__afd_set_find(s, sock))
    return ROI_EEXIST;
  err = roi__afd_base_socket(sock, &base);
  if (err)
    return err;
  r = roi__pool_alloc(&s->pool);
  if (!r)
    return ROI_ENOMEM;
  /* The generation tag lives in the low bits on 32-bit Windows. */
  assert(((uintptr_t)r & 0xF) == 0);
  err = group_acquire(s, &r->group);
  if (err)
    goto fail_pool;
  r->node.key = (uint64_t)sock;
  err = roi__sockmap_insert(&s->map, &r->node);
  if (err)
    goto fail_group;
  r->base = base;
  r->state = ROI__AFD_DISARMED;
  *out = r;
  return 0;
fail_group:
  group_release(s, r->group);
fail_pool:
  roi__pool_free(&s->pool, r);
  return err;
}

void roi__afd_set_arm(roi__afd_set *s, roi__afd_rec *r, ULONG want) {
  r->want = want;
  r->state = ROI__AFD_ARMED;
  queue_update(s, r);
}

void roi__afd_set_requeue(roi__afd_set *s, roi__afd_rec *r) {
  if (r->state == ROI__AFD_ARMED)
    queue_update(s, r);
}

void roi__afd_set_remove(roi__afd_set *s, roi__afd_rec *r) {
  dequeue_update(s, r);
  roi__sockmap_remove(&s->map, &r->node);
  if (r->in_flight) {
    cancel(r);
    r->zombie = 1;
    list_push(&s->zombies, r);
    s->nzombies++;
  } else {
    record_free(s, r);
  }
}

roi__afd_outcome roi__afd_set_flush(roi__afd_set *s, roi__afd_result *res) {
  while (s->queue.head) {
    rec *r = s->queue.head;
    roi__afd_outcome o;
    dequeue_update(s, r);
    o = update(s, r, res);
    if (o != ROI__AFD_NOTHING)
      return o;
  }
  return ROI__AFD_NOTHING;
}

roi__afd_outcome roi__afd_set_decode(roi__afd_set *s, const roi__completion *c,
                                     roi__afd_result *res) {
  roi__ntstatus st = c->iosb.u.status;
  uint16_t tag;
  rec *r = untag_context(c->apc_context, &tag);
  if (!r->in_flight || !generation_matches(r, tag)) {
    s->stale++;
    return ROI__AFD_NOTHING;
  }
  r->in_flight = 0;
  r->cancelling = 0;
  s->in_flight--;
  if (r->zombie) {
    list_unlink(&s->zombies, r);
    s->nzombies--;
    r->zombie = 0;
    record_free(s, r);
    return ROI__AFD_NOTHING;
  }
  if (st == ROI__ST_CANCELLED) {
    queue_update(s, r); /* an interest change: resubmit */
    return ROI__AFD_NOTHING;
  }
  if (ROI__NT_ERROR(st))
    return refused(r, st, res);
  if (st != ROI__ST_SUCCESS || r->info.number_of_handles < 1) {
    /* A success-class status other than SUCCESS (STATUS_TIMEOUT when the
     * helper handle closes, say) or no handle reported: no events. Only
     * error statuses are errors, as in wepoll and mio. */
    queue_update(s, r);
    return ROI__AFD_NOTHING;
  }
  res->rec = r;
  res->error = 0;
  res->events = r->info.handles[0].events;
  if (res->events & ROI__AFD_LOCAL_CLOSE) {
    r->state = ROI__AFD_CLOSED;
    return ROI__AFD_GONE;
  }
  return ROI__AFD_EVENTS;
}

void roi__afd_set_stats(const roi__afd_set *s, roi_poller_stats *out) {
  out->sockets = s->map.count;
  out->records = s->pool.records;
  out->blocks = s->pool.blocks;
  out->zombies = s->nzombies;
  out->in_flight = s->in_flight;
  out->helpers = s->ngroups;
  out->stale = s->stale;
  out->submits = s->submits;
}
