/*
 * The inside of the message engine, shared by engine.c (the public calls),
 * post.c (validation and channel numbers), reactor.c (the reactor thread)
 * and channel.c (one channel's socket work).
 *
 * Threads and locks. Application threads and the reactor share the fields
 * marked [L], guarded by roi_engine.lock; a group's receive queue is guarded
 * by its own qlock. Everything else (channels, the poller, the dirty list)
 * belongs to the reactor thread alone. Lock order: lock before qlock.
 */
#ifndef ROI_SRC_ENGINE_INT_H
#define ROI_SRC_ENGINE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "message_int.h"
#include "platform.h"
#include "roi/engine.h"
#include "roi/poller.h"
#include "sock_int.h"

/* Channel numbers 1..65534; 0 and 65535 are never used. */
#define ROI__CHANNELS 65536
#define ROI__CHANNEL_MAX 65534
/* Closed numbers kept out of use. */
#define ROI__RECENT 1024

/* Internal commands travelling through the mailbox (roi_message.cmd). */
enum { ROI__CMD_NONE = 0, ROI__CMD_GROUP_DESTROY = 1 };

typedef struct roi__chan roi__chan;

/* What post() resolves for a Hello or Welcome (roi_message.addr): the
 * address, and the AF_UNIX path a listener removes when it closes. */
typedef struct roi__open_addr {
  roi__addr addr;
  char path[256];
} roi__open_addr;

/* One channel number: who owns it [L] and, once the reactor made it, the
 * channel (reactor only). The generation tells the channel that has the
 * number now from earlier ones, so that a message charged to an earlier one
 * never changes the counts of this one. */
typedef struct roi__slot {
  roi_group *group;
  roi__chan *chan;
  uint32_t gen;   /* bumped each time the number is taken [L] */
  uint32_t held;  /* counted messages charged to this channel [L] */
  size_t qbytes;  /* frame bytes posted and not yet written or returned [L] */
  uint8_t recent; /* closed, and among the last ROI__RECENT [L] */
} roi__slot;

/* What a channel's timer does when it runs out. */
enum {
  ROI__TIMER_NONE = 0,
  ROI__TIMER_CONNECT, /* a connect under way gives up */
  ROI__TIMER_HELLO,   /* an accepted connection sent no whole HelloRequest */
  ROI__TIMER_FRAME,   /* a frame begun was not completed */
  ROI__TIMER_BACKOFF  /* a listener backing off accepts again */
};

typedef enum roi__chan_kind {
  ROI__CHAN_LISTENER,
  ROI__CHAN_CLIENT, /* opened by our HelloRequest */
  ROI__CHAN_SERVER  /* accepted by a listener */
} roi__chan_kind;

struct roi__chan {
  uint16_t number;
  uint8_t kind;        /* roi__chan_kind */
  uint8_t connecting;  /* a client whose connect has not finished */
  uint8_t paused;      /* reading stopped: its share or the pool is spent */
  uint8_t signalled;   /* this pause episode's pool_empty Signal went out */
  uint8_t stalled;     /* reading stopped: the send queue is full */
  uint8_t dirty;       /* on the engine's dirty list */
  uint8_t close_after; /* close once the send queue is written (ByeResponse) */
  uint8_t want_write;  /* a send would block: wait for WRITABLE */
  uint8_t hello_seen;  /* a server channel got its HelloRequest */
  uint8_t timer;       /* ROI__TIMER_*, what runs out at deadline */
  uint8_t timed;       /* on the engine's timer list */
  uint8_t episode;     /* a listener's accept shortage was reported */
  uint32_t interest;   /* what the poller has now */
  uint64_t serial;     /* tells this channel from a later one of its number */
  uint64_t id;         /* the message id that opened it, for its last Signal */
  uint64_t deadline;   /* when the timer runs out (roi__now_ms) */
  size_t sendq_bytes;  /* frame bytes in sendq not yet written */
  roi_message *closed; /* that Signal, made in advance so it cannot fail */
  roi_socket sock;
  roi_group *group;
  roi__chan *gnext, *gprev; /* the group's channels */
  roi_message *sendq, *sendq_tail;
  size_t send_off;    /* bytes of the head message already sent */
  roi__buf pending;   /* received bytes not yet parsed, from pending_off */
  size_t pending_off; /* (a paused channel keeps whole frames there too) */
  char *uds_path;     /* a listener's socket file, removed at close */
};

struct roi_group {
  roi_engine *e;
  roi_group *next, *prev; /* the engine's groups [L] */
  int closing;            /* destroy started: post refuses [L] */
  roi__chan *chans;       /* reactor only */
  roi__mutex *qlock;
  roi__cond *qcond;
  roi_message *q, *q_tail; /* received messages [qlock] */
  /* How many were delivered, and how many of those are counted [qlock]:
   * the queue and the consumer's batch below, less what the consumer took
   * from the batch (the two counts after them). */
  size_t qlen, qcounted;
  /* The consumer's batch: what its last visit to the queue took, handed out
   * one by one without a lock (a group has one consumer thread). Only the
   * consumer touches batch; it writes the two counts (relaxed), which the
   * stats read, and settles them into qlen and qcounted under qlock at its
   * next visit. */
  roi_message *batch;
  size_t batch_taken, batch_taken_counted;
  int done;                /* the reactor closed its channels [qlock] */
  roi_message destroy_cmd; /* the command that asks the reactor for it */
};

struct roi_engine {
  roi__account acct; /* messages point here; see roi__account_release */
  roi__mutex *lock;
  /* [L] */
  int stopping;
  int gone;    /* destroyed: only the lock and the counts remain */
  size_t refs; /* messages whose acct is this engine's */
  roi_message *pool;
  size_t pool_count, pool_max;
  size_t live;         /* counted messages, wherever they are */
  size_t share;        /* most counted messages one channel may hold */
  size_t send_max;     /* most frame bytes one channel's send queue holds */
  size_t send_msgs;    /* messages in send queues (mailbox included) */
  size_t send_counted; /* of those, counted ones */
  size_t send_bytes;   /* their frame bytes */
  size_t stalled;      /* channels not reading for a full send queue */
  size_t backing_off;  /* listeners not accepting for now */
  uint64_t backoffs, timeouts;
  int test_accept_err; /* roi__engine_test_accept_error() */
  roi_message *mbox, *mbox_tail;
  int resume_wanted; /* a message came back while a channel is paused */
  int asleep;        /* the reactor waits with an empty mailbox: wake it */
  size_t paused;     /* channels paused for the pool */
  roi_group *groups;
  roi__slot *slots; /* ROI__CHANNELS */
  uint16_t recent[ROI__RECENT];
  size_t recent_pos, recent_count, active;
  uint64_t rng, next_id;
  uint64_t rounds; /* reactor rounds, for the tests' no-busy-loop check */

  /* The reactor's own. */
  roi_poller *poller;
  roi__thread *thread;
  uint64_t serial;
  uint16_t *dirty; /* channel numbers, ROI__CHANNELS slots */
  size_t ndirty;
  uint16_t *paused_list; /* channels paused for the pool, ROI__CHANNELS slots */
  size_t npaused_list;
  uint64_t *timed; /* tokens of channels with a timer, ROI__CHANNELS slots */
  size_t ntimed;
  uint64_t next_deadline; /* no timer runs out before this */
  unsigned connect_timeout_ms, hello_timeout_ms, frame_timeout_ms, backoff_ms;
  uint8_t *rbuf; /* one large receive buffer */
  size_t rbuf_cap;
  char *sbuf; /* the staging buffer of small pieces to send (channel.c) */
  size_t sbuf_cap;
};

/* The poller token of a channel: its number, and its serial above it, which
 * tells it from a later channel that got the same number. */
static inline uint64_t roi__chan_token(const roi__chan *c) {
  return (uint64_t)c->number | c->serial << 16;
}

/* engine.c */
/* Appends m (a message or a command) to the mailbox [L held]. Returns 1
 * when the reactor sleeps and must be woken: the caller does it with
 * roi_poller_wake() once it has let go of the lock. */
int roi__mailbox_push(roi_engine *e, roi_message *m);
/* Counts m in its channel's send queue [L held]: it was posted. */
void roi__queue_count(roi_engine *e, roi_message *m);
/* Ends what m was counted for in a send queue [L held]. */
void roi__queue_uncount(roi_engine *e, roi_message *m);
/* Messages for up to want frames received on channel c, linked through
 * next: from the pool, or new while fewer than pool_max are counted, each
 * charged to c, all under one lock; *held gets what c held before. Fewer
 * (NULL for none) when c reaches its share or the pool is spent (or memory
 * ran out). [reactor] */
roi_message *roi__engine_take(roi_engine *e, roi__chan *c, size_t want, size_t *held);
/* 1 when channel c could take a message now [L held]. */
int roi__engine_can_take(roi_engine *e, const roi__chan *c);
/* Test hook: while err is not 0, every accept of e's listeners fails with it
 * (so that the back-off can be tested where descriptors cannot be
 * exhausted). */
void roi__engine_test_accept_error(roi_engine *e, int err);
/* Makes m a Signal from the engine with this status, channel and id. */
void roi__signal_set(roi_message *m, int status, uint16_t channel, uint64_t id);
/* Appends a message to the group's queue and wakes its consumer. */
void roi__group_deliver(roi_group *g, roi_message *m);
/* Appends a NULL-terminated list of received messages (none in a send
 * queue) to the group's queue under one lock and wakes its consumer. */
void roi__group_deliver_list(roi_group *g, roi_message *head);
/* Gives a message back to the pool (the reactor's side of put). */
void roi__engine_give(roi_engine *e, roi_message *m);
/* Gives a NULL-terminated list of messages back to the pool under one lock
 * [reactor]. */
void roi__engine_give_list(roi_engine *e, roi_message *head);

/* post.c */
/* Gives back a channel number [L held]. */
void roi__number_release(roi_engine *e, uint16_t number);
/* A new channel number for group g [L held], or 0 when none is free. */
uint16_t roi__number_take(roi_engine *e, roi_group *g);
/* Parses "tcp|host|port" or "uds|path": 0 with *out filled (resolving a host
 * name, blocking; an empty host is 0.0.0.0, an empty path a fresh temporary
 * one); ROI_STATUS_INVALID_ADDRESS when the text is malformed (a
 * refusal); -ROI_STATUS_INVALID_ADDRESS when it is well formed but the name
 * does not resolve (answered later, through the group). */
int roi__address_parse(const char *text, size_t len, roi__open_addr *out);

/* reactor.c */
void roi__reactor_main(void *arg);
/* Marks a channel for the end-of-round work (flush, interest). */
void roi__reactor_dirty(roi_engine *e, roi__chan *c);
/* Starts (or restarts) channel c's timer of this kind, ms from now. */
void roi__timer_set(roi_engine *e, roi__chan *c, int kind, unsigned ms);
/* Acts on the timers that ran out; returns the milliseconds until the next
 * one does (the poller's timeout), or -1 when none runs. */
int roi__reactor_timers(roi_engine *e);

/* channel.c */
/* Opens the channel a Welcome or Hello request asks for; answers or fails
 * through the group. Takes m. */
void roi__chan_open(roi_engine *e, roi_message *m);
/* Queues an application message on its channel (takes m). */
void roi__chan_post(roi_engine *e, roi_message *m);
/* Handles readiness of the channel's socket. */
void roi__chan_ready(roi_engine *e, roi__chan *c, uint32_t events, int error);
/* Writes what can be written and sets the poller interest. */
void roi__chan_settle(roi_engine *e, roi__chan *c);
/* Parses received bytes kept while paused; returns 0 if it paused again. */
int roi__chan_resume(roi_engine *e, roi__chan *c);
/* What a channel's timer does when it runs out. */
void roi__chan_timeout(roi_engine *e, roi__chan *c);
/* Closes a channel. With deliver, queued messages come back to the group
 * with reason as status, then the channel_closed Signal; without it they
 * are freed (the group or the engine is going away). */
void roi__chan_close(roi_engine *e, roi__chan *c, int reason, int deliver);

#endif /* ROI_SRC_ENGINE_INT_H */
