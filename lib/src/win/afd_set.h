/*
 * The AFD socket set: the machinery both Windows readiness faces share, the
 * afd poller backend (afd_poller.c) and the epoll_* layer (epoll.c).
 *
 * A set owns one completion port, the \Device\Afd helper groups, one pinned
 * record per registered socket (from the block pool), the socket map, the
 * update queue, the zombies and the generation tags; it submits and cancels
 * the polls and decodes their completions into AFD event bits. What an event
 * means, and whether the socket is polled again after it, is the caller's:
 * the poller reports a hang-up once and disarms, epoll re-reports it.
 *
 * A set is not thread-safe: its caller serialises every call on one set (the
 * poller has one thread; the epoll layer holds its port lock). Only the port
 * wait itself (roi__port_wait on set->port) may run without that lock, as
 * long as what it dequeues is decoded under it.
 */
#ifndef ROI_SRC_WIN_AFD_SET_H
#define ROI_SRC_WIN_AFD_SET_H

#include <stddef.h>
#include <stdint.h>

#include "pool.h"
#include "roi/poller.h"
#include "sockmap.h"
#include "win/afd.h"

/* The completion key of every poll; callers use other keys for their own
 * packets (wakes, close notices). */
#define ROI__AFD_SET_KEY ((ULONG_PTR)1)

typedef struct roi__afd_group roi__afd_group;

enum { ROI__AFD_ARMED, ROI__AFD_DISARMED, ROI__AFD_CLOSED };

typedef struct roi__afd_rec {
  /* Kernel-facing: written by the kernel while a poll is in flight. */
  roi__io_status iosb;
  roi__afd_poll_info info;
  /* Bookkeeping, only touched under the caller's serialisation. */
  roi__sockmap_node node; /* key: the application's socket */
  SOCKET base;
  roi__afd_group *group;
  uint64_t token;    /* the caller's: its token or epoll_data_t */
  uint32_t interest; /* the caller's interest, in the caller's own bits */
  ULONG want;        /* the AFD events the next poll asks for */
  ULONG submitted;   /* the AFD events of the poll in flight */
  uint16_t generation;
  unsigned char in_flight;          /* a packet will come for this record */
  unsigned char cancelling;         /* a cancel was issued for that poll */
  unsigned char state;              /* ROI__AFD_ARMED, _DISARMED or _CLOSED */
  unsigned char zombie;             /* removed; freed when its packet comes */
  unsigned char queued;             /* on the update queue */
  struct roi__afd_rec *prev, *next; /* update queue, or zombie list */
} roi__afd_rec;

typedef struct roi__afd_list {
  roi__afd_rec *head, *tail;
} roi__afd_list;

typedef struct roi__afd_set {
  HANDLE port;
  roi__afd_group *groups; /* groups with room first, full ones at the tail */
  roi__afd_group *groups_tail;
  size_t ngroups;
  roi__sockmap map;
  roi__pool pool;
  roi__afd_list queue;   /* records whose poll must be (re)submitted */
  roi__afd_list zombies; /* removed records awaiting their last packet */
  size_t nzombies;
  size_t in_flight;
  uint16_t next_generation;
  uint64_t stale;
  uint64_t submits;
  int winsock; /* holds a Winsock reference */
  int leaked;  /* teardown gave up on in-flight polls */
} roi__afd_set;

/* What a completion, or a submit refused at once, means for its record. */
typedef enum roi__afd_outcome {
  ROI__AFD_NOTHING = 0, /* bookkeeping only (a cancel, a zombie, no events) */
  ROI__AFD_EVENTS,      /* res->events holds the AFD events reported */
  ROI__AFD_FAILED,      /* the poll failed: res->error; the record is disarmed */
  ROI__AFD_GONE         /* the socket was closed; the record is ROI__AFD_CLOSED */
} roi__afd_outcome;

typedef struct roi__afd_result {
  roi__afd_rec *rec;
  ULONG events; /* ROI__AFD_EVENTS: the AFD_POLL_* bits */
  int error;    /* ROI__AFD_FAILED: the ROI_E* code */
} roi__afd_result;

/* Resolves ntdll, takes a Winsock reference and creates the port, which
 * releases at most concurrency waiting threads at once (1 for the poller's
 * one thread; 0, the processor count, when several threads wait). Returns 0
 * or a negative ROI_E*; on failure nothing is held. */
int roi__afd_set_init(roi__afd_set *s, DWORD concurrency);

/* The set's bookkeeping in the poller's statistics structure. */
void roi__afd_set_stats(const roi__afd_set *s, roi_poller_stats *out);

/* Removes every socket, drains the port until no poll is in flight (at most
 * a few seconds; records the kernel never gave back are leaked, not freed
 * under it), closes the helpers and the port and drops the Winsock
 * reference. Packets of other keys found while draining are discarded. */
void roi__afd_set_close(roi__afd_set *s);

/* The record of socket s, or NULL. */
roi__afd_rec *roi__afd_set_find(roi__afd_set *s, SOCKET s_);

/* Registers s with a new record (not armed yet: the caller sets token and
 * interest and calls roi__afd_set_arm). Returns 0, ROI_EEXIST, ROI_EBADF,
 * ROI_ENOTSOCK, ROI_ELSP, ROI_ENOMEM or a mapped system error. */
int roi__afd_set_add(roi__afd_set *s, SOCKET sock, roi__afd_rec **out);

/* Arms r to poll for want (ROI__AFD_* bits) from the next flush on. A poll in
 * flight that lacks some of want is cancelled and resubmitted then. */
void roi__afd_set_arm(roi__afd_set *s, roi__afd_rec *r, ULONG want);

/* Polls r again at the next flush with the same events (level-triggered
 * re-polling); a no-op for a record that is not armed. */
void roi__afd_set_requeue(roi__afd_set *s, roi__afd_rec *r);

/* Unregisters r: the socket value may be added again at once; the record is
 * freed now, or as a zombie when its last packet is decoded. */
void roi__afd_set_remove(roi__afd_set *s, roi__afd_rec *r);

/* Submits queued polls until one is refused at once (returns its outcome,
 * ROI__AFD_FAILED or ROI__AFD_GONE, with *res filled) or the queue is empty
 * (returns ROI__AFD_NOTHING). */
roi__afd_outcome roi__afd_set_flush(roi__afd_set *s, roi__afd_result *res);

/* Decodes one dequeued packet of key ROI__AFD_SET_KEY. A record with events
 * or a failure is left unqueued: the caller requeues it (level-triggered) or
 * not (one-shot, hang-up reported once). */
roi__afd_outcome roi__afd_set_decode(roi__afd_set *s, const roi__completion *c,
                                     roi__afd_result *res);

#endif /* ROI_SRC_WIN_AFD_SET_H */
