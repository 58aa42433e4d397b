/*
 * The reactor thread: the only thread that touches the engine's sockets.
 *
 * One round: wait on the poller; handle each ready channel; take the whole
 * mailbox in one lock and act on every message in it; resume channels that
 * were paused for an empty pool once messages came back; act on the timers
 * that ran out (connect, Hello, frame, accept back-off); then settle every
 * channel marked dirty during the round (write its queued frames with one
 * gathered send, set its poller interest if it changed). Interest is kept
 * incrementally through that dirty list: nothing is rescanned per round.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "roi/error.h"

#define EVENTS_MAX 256

void roi__reactor_dirty(roi_engine *e, roi__chan *c) {
  if (!c->dirty) {
    c->dirty = 1;
    e->dirty[e->ndirty++] = c->number;
  }
}

/* The channel an event's token names, or NULL when it closed meanwhile (the
 * serial tells a channel from a later one that got the same number). */
static roi__chan *chan_of_token(roi_engine *e, uint64_t token) {
  roi__chan *c = e->slots[token & 0xFFFFu].chan;
  return c && roi__chan_token(c) == token ? c : NULL;
}

/* Closes every channel of a group without delivering (it is going away). */
static void close_group(roi_engine *e, roi_group *g) {
  while (g->chans)
    roi__chan_close(e, g->chans, ROI_STATUS_CHANNEL_CLOSED, 0);
}

static void group_done(roi_group *g) {
  roi__mutex_lock(g->qlock);
  g->done = 1;
  roi__cond_broadcast(g->qcond);
  roi__mutex_unlock(g->qlock);
}

static void handle_message(roi_engine *e, roi_message *m) {
  int op = m->proto & ROI__PROTO_OPCODE;
  if (m->cmd == ROI__CMD_GROUP_DESTROY) {
    roi_group *g = m->group;
    close_group(e, g);
    group_done(g);
    return;
  }
  if (op == ROI_OP_HELLO_REQUEST || op == ROI_OP_WELCOME_REQUEST)
    roi__chan_open(e, m);
  else
    roi__chan_post(e, m);
}

/* Takes the mailbox; returns 1 when the engine is stopping. */
static int drain_mailbox(roi_engine *e, int *resume) {
  roi_message *m;
  int stopping;
  roi__mutex_lock(e->lock);
  m = e->mbox;
  e->mbox = e->mbox_tail = NULL;
  stopping = e->stopping;
  e->asleep = 0;
  e->rounds++;
  *resume = e->resume_wanted;
  e->resume_wanted = 0;
  roi__mutex_unlock(e->lock);
  while (m) {
    roi_message *next = m->next;
    m->next = NULL;
    if (stopping) {
      if (m->cmd == ROI__CMD_GROUP_DESTROY)
        group_done(m->group);
      else
        roi_message_destroy(m);
    } else {
      handle_message(e, m);
    }
    m = next;
  }
  return stopping;
}

/* Gives paused channels another go now that messages came back: those that
 * may take a message now resume, the others keep waiting (no new Signal).
 * Channels that pause again meanwhile are appended after the ones being
 * retried, and kept. */
static void resume_paused(roi_engine *e) {
  size_t i, n = e->npaused_list, kept = 0;
  for (i = 0; i < n; i++) {
    uint16_t number = e->paused_list[i];
    roi__chan *c = e->slots[number].chan;
    int ok;
    if (!c || !c->paused)
      continue; /* closed or resumed since */
    roi__mutex_lock(e->lock);
    ok = roi__engine_can_take(e, c);
    roi__mutex_unlock(e->lock);
    if (ok)
      (void)roi__chan_resume(e, c);
    else
      e->paused_list[kept++] = number;
  }
  memmove(e->paused_list + kept, e->paused_list + n,
          (e->npaused_list - n) * sizeof *e->paused_list);
  e->npaused_list = kept + (e->npaused_list - n);
}

/* Walks the timer list: acts on the timers that ran out by now, drops the
 * entries that no longer name a channel with a timer, and sets
 * next_deadline to the earliest one left. With now 0 nothing runs out: the
 * walk only makes room. */
static void sweep_timers(roi_engine *e, uint64_t now) {
  uint64_t next = UINT64_MAX;
  size_t i, kept = 0;
  for (i = 0; i < e->ntimed; i++) {
    uint64_t token = e->timed[i];
    roi__chan *c = chan_of_token(e, token);
    if (c && c->timer != ROI__TIMER_NONE && now >= c->deadline) {
      roi__chan_timeout(e, c);
      c = chan_of_token(e, token); /* NULL when it closed */
    }
    if (!c)
      continue;
    if (c->timer == ROI__TIMER_NONE) {
      c->timed = 0;
      continue;
    }
    if (c->deadline < next)
      next = c->deadline;
    e->timed[kept++] = token;
  }
  e->ntimed = kept;
  e->next_deadline = next;
}

void roi__timer_set(roi_engine *e, roi__chan *c, int kind, unsigned ms) {
  c->timer = (uint8_t)kind;
  c->deadline = roi__now_ms() + ms;
  if (!c->timed) {
    /* Every channel has at most one entry, so a full list has room after a
     * sweep drops the entries of closed channels and stopped timers. */
    if (e->ntimed == ROI__CHANNELS)
      sweep_timers(e, 0);
    c->timed = 1;
    e->timed[e->ntimed++] = roi__chan_token(c);
  }
  if (c->deadline < e->next_deadline)
    e->next_deadline = c->deadline;
}

/* Milliseconds as a poller timeout. */
static int timeout_of(uint64_t ms) {
  return ms > INT_MAX ? INT_MAX : (int)ms;
}

int roi__reactor_timers(roi_engine *e) {
  uint64_t now;
  if (e->ntimed == 0)
    return -1;
  now = roi__now_ms();
  /* A timer stopped or moved later leaves next_deadline early, never late:
   * the list is walked only when the earliest deadline may have passed. */
  if (now >= e->next_deadline)
    sweep_timers(e, now);
  if (e->ntimed == 0)
    return -1;
  return timeout_of(e->next_deadline > now ? e->next_deadline - now : 0);
}

static void settle_dirty(roi_engine *e) {
  size_t i;
  /* Settling may close a channel; closing never adds to the list. */
  for (i = 0; i < e->ndirty; i++) {
    roi__chan *c = e->slots[e->dirty[i]].chan;
    if (c && c->dirty) {
      c->dirty = 0;
      roi__chan_settle(e, c);
    }
  }
  e->ndirty = 0;
}

void roi__reactor_main(void *arg) {
  roi_engine *e = arg;
  roi_poll_event events[EVENTS_MAX];
  int timeout = -1;
  uint16_t n;
  for (;;) {
    int count = roi_poller_wait(e->poller, events, EVENTS_MAX, timeout), i, resume, busy;
    if (count < 0) {
      /* Not expected from a healthy poller; never spin on it. */
      roi__sleep_ms(1);
      count = 0;
    }
    for (i = 0; i < count; i++) {
      roi__chan *c;
      if (events[i].events & ROI_POLL_WAKE)
        continue;
      c = chan_of_token(e, events[i].token);
      if (c)
        roi__chan_ready(e, c, events[i].events, events[i].error);
    }
    if (drain_mailbox(e, &resume))
      break;
    if (resume)
      resume_paused(e);
    /* Timers run before the settling (a listener whose back-off ended is
     * settled this round) and are asked again after it, since settling may
     * start one (a frame timer of a channel that stopped stalling). */
    (void)roi__reactor_timers(e);
    settle_dirty(e);
    timeout = roi__reactor_timers(e);
    /* A channel that paused during this round while messages were already
     * back in the pool is retried at once: no wake will come for it. */
    /* Work posted during the round is taken at once; otherwise the
     * reactor says it sleeps, so that the next post wakes it. A reactor
     * that found work posted during its round first gives its CPU to any
     * thread ready to run: on few CPUs that is often the poster itself,
     * whose next round of posts then goes out in one send, where going
     * round at once sent a few messages per send (NOTES.md, "Engine
     * throughput"). */
    roi__mutex_lock(e->lock);
    busy = e->mbox != NULL;
    if (e->resume_wanted || e->mbox)
      timeout = 0;
    else
      e->asleep = 1;
    roi__mutex_unlock(e->lock);
    if (busy)
      roi__yield();
  }
  /* Stopping: every channel closes silently; the groups are freed by
   * roi_engine_destroy() once this thread is gone. */
  for (n = 1; n <= ROI__CHANNEL_MAX; n++)
    if (e->slots[n].chan)
      roi__chan_close(e, e->slots[n].chan, ROI_STATUS_SHUTDOWN_STARTED, 0);
}
