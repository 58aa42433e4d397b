/*
 * The engine's public calls that do not post: engine and group lifetime,
 * the message pool and its accounting (what pool_max, channel_share and
 * send_queue_max bound), the receive side of a group, and the stats.
 */
#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "frame.h"
#include "roi/error.h"

#define DEFAULT_POOL_INITIAL 64
#define DEFAULT_POOL_MAX 1024
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
#define DEFAULT_SEND_QUEUE_MAX (4u * 1024u * 1024u)
#define DEFAULT_HELLO_TIMEOUT_MS 10000
#define DEFAULT_FRAME_TIMEOUT_MS 30000
#define DEFAULT_ACCEPT_BACKOFF_MS 100
/* Room for one whole frame left over from the last read plus a large read. */
#define RBUF_SIZE (16 + 2 * 65535 + 256 * 1024)
/* Small pieces of messages staged for one send (channel.c, gather()). */
#define SBUF_SIZE (64 * 1024)

/*
 * Accounting. Every message the engine counts, charges to a channel or holds
 * in a send queue points at its engine (roi_message.acct), and the engine
 * counts those pointers (refs) under its lock. A message that comes back to
 * the pool, or is destroyed wherever it is, ends what it was counted for, so
 * that a count never outlives its message. The engine's struct and lock live
 * on after roi_engine_destroy() until the last such message is gone: an
 * application may destroy a received message after the engine.
 */

static roi_engine *engine_of(roi__account *a) {
  return (roi_engine *)(void *)((char *)a - offsetof(roi_engine, acct));
}

/* Makes e the account of m [L held]. */
static void claim(roi_engine *e, roi_message *m) {
  if (!m->acct) {
    m->acct = &e->acct;
    e->refs++;
  }
}

/* Tells the reactor that a paused channel may read again [L held]: a message
 * came back or a counted one was destroyed. */
static void note_return(roi_engine *e, int from_reactor) {
  if (e->paused && !e->resume_wanted) {
    e->resume_wanted = 1;
    if (!from_reactor && !e->stopping)
      (void)roi_poller_wake(e->poller, 2);
  }
}

/* Ends m's charge to the channel whose received frame it holds [L held]. */
static void hold_release(roi_engine *e, roi_message *m) {
  if (!e->gone) {
    roi__slot *s = &e->slots[m->hold];
    if (s->gen == m->hold_gen) {
      assert(s->held > 0);
      s->held--;
    }
  }
  m->hold = 0;
}

void roi__queue_count(roi_engine *e, roi_message *m) {
  size_t size = roi__frame_size(m);
  roi__slot *s = &e->slots[m->channel];
  claim(e, m);
  m->queued = 1;
  m->q_chan = m->channel;
  m->q_gen = s->gen;
  m->q_size = (uint32_t)size;
  s->qbytes += size;
  e->send_msgs++;
  e->send_counted += m->counted;
  e->send_bytes += size;
}

void roi__queue_uncount(roi_engine *e, roi_message *m) {
  if (!m->queued)
    return;
  if (!e->gone) {
    roi__slot *s = &e->slots[m->q_chan];
    if (s->gen == m->q_gen)
      s->qbytes -= m->q_size;
  }
  e->send_msgs--;
  e->send_counted -= m->counted;
  e->send_bytes -= m->q_size;
  m->queued = 0;
}

/* Ends everything m is counted for [L held]. Returns 1 when the engine is
 * gone and m was the last message pointing at it. */
static int unclaim(roi_engine *e, roi_message *m) {
  roi__queue_uncount(e, m);
  if (m->hold)
    hold_release(e, m);
  if (m->counted) {
    m->counted = 0;
    e->live--;
  }
  m->acct = NULL;
  e->refs--;
  return e->gone && e->refs == 0;
}

/* roi_message_destroy() of a message this engine counts. */
static void account_release(roi__account *a, roi_message *m) {
  roi_engine *e = engine_of(a);
  int last;
  roi__mutex_lock(e->lock);
  last = unclaim(e, m);
  if (!e->gone)
    note_return(e, 0);
  roi__mutex_unlock(e->lock);
  if (last) {
    roi__mutex_free(e->lock);
    free(e);
  }
}

/* A message handed to e that another engine counts: that engine lets go of
 * it first (its own lock, never both at once). */
static void leave_other_engine(roi_engine *e, roi_message *m) {
  if (m->acct && m->acct != &e->acct)
    m->acct->release(m->acct, m);
}

/* Gives a reset message back to the pool [L held]. A counted message always
 * fits; another one joins the pool while fewer than pool_max are counted.
 * Returns m when it does not fit: the caller frees it outside the lock. */
static roi_message *pool_push(roi_engine *e, roi_message *m, int from_reactor) {
  roi__queue_uncount(e, m);
  if (m->hold)
    hold_release(e, m);
  if (!m->counted && e->live < e->pool_max) {
    m->counted = 1;
    e->live++;
    claim(e, m);
  }
  note_return(e, from_reactor);
  if (m->counted) {
    m->next = e->pool;
    e->pool = m;
    e->pool_count++;
    return NULL;
  }
  if (m->acct) {
    m->acct = NULL;
    e->refs--;
  }
  return m;
}

/* Resets m and gives it back to the pool. */
static void pool_give(roi_engine *e, roi_message *m, int from_reactor) {
  leave_other_engine(e, m);
  roi_message_reset(m);
  roi__mutex_lock(e->lock);
  m = pool_push(e, m, from_reactor);
  roi__mutex_unlock(e->lock);
  roi_message_destroy(m);
}

/* The message at the head of the pool, or NULL [L held]. */
static roi_message *pool_pop(roi_engine *e) {
  roi_message *m = e->pool;
  if (m) {
    e->pool = m->next;
    e->pool_count--;
    m->next = NULL;
  }
  return m;
}

int roi__engine_can_take(roi_engine *e, const roi__chan *c) {
  /* No hysteresis: an application that keeps a sliding window of a
   * channel's messages just under its share must get the next one. */
  return e->slots[c->number].held < e->share && (e->pool || e->live < e->pool_max);
}

roi_message *roi__engine_take(roi_engine *e, roi__chan *c, size_t want, size_t *held) {
  roi__slot *s = &e->slots[c->number];
  roi_message *head = NULL, *m;
  size_t got = 0, make = 0;
  uint32_t gen;
  /* One lock for a whole read's frames: a lock per frame was what the
   * receiving application's put() and the reactor fought over. */
  roi__mutex_lock(e->lock);
  gen = s->gen;
  if (s->held + want > e->share)
    want = s->held < e->share ? e->share - s->held : 0;
  while (got + make < want) {
    m = pool_pop(e);
    if (m) {
      m->next = head;
      head = m;
      got++;
    } else if (e->live < e->pool_max) {
      /* Reserved now, made outside the lock. */
      e->live++;
      e->refs++;
      make++;
    } else {
      break;
    }
  }
  *held = s->held;
  s->held += (uint32_t)(got + make);
  roi__mutex_unlock(e->lock);
  for (; make > 0; make--) {
    if (roi_message_create(&m) != 0) {
      /* Out of memory: the reservations not made are given back. */
      roi__mutex_lock(e->lock);
      e->live -= make;
      e->refs -= make;
      s->held -= (uint32_t)make;
      roi__mutex_unlock(e->lock);
      break;
    }
    m->acct = &e->acct;
    m->counted = 1;
    m->next = head;
    head = m;
  }
  for (m = head; m; m = m->next) {
    m->hold = c->number;
    m->hold_gen = gen;
  }
  return head;
}

void roi__engine_give(roi_engine *e, roi_message *m) {
  pool_give(e, m, 1);
}

void roi__engine_give_list(roi_engine *e, roi_message *head) {
  roi_message *m, *next, *extra = NULL;
  /* Reset outside the lock; reset also clears each next link, so the list is
   * walked with the link saved first. */
  for (m = head; m; m = next) {
    next = m->next;
    leave_other_engine(e, m);
    roi_message_reset(m);
    m->next = next;
  }
  if (!head)
    return;
  roi__mutex_lock(e->lock);
  for (m = head; m; m = next) {
    roi_message *left;
    next = m->next;
    left = pool_push(e, m, 1);
    if (left) {
      left->next = extra;
      extra = left;
    }
  }
  roi__mutex_unlock(e->lock);
  for (m = extra; m; m = next) {
    next = m->next;
    roi_message_destroy(m);
  }
}

void roi__engine_test_accept_error(roi_engine *e, int err) {
  roi__mutex_lock(e->lock);
  e->test_accept_err = err;
  (void)roi_poller_wake(e->poller, 3);
  roi__mutex_unlock(e->lock);
}

int roi_engine_get(roi_engine *e, roi_get_strategy strategy, roi_message **out) {
  if (!e || !out || (strategy != ROI_GET_POOL_ONLY && strategy != ROI_GET_ALWAYS))
    return ROI_EINVAL;
  roi__mutex_lock(e->lock);
  *out = pool_pop(e);
  roi__mutex_unlock(e->lock);
  if (*out)
    return 0;
  if (strategy == ROI_GET_POOL_ONLY)
    return ROI_ESTATUS(ROI_STATUS_POOL_EMPTY);
  return roi_message_create(out);
}

int roi_engine_put(roi_engine *e, roi_message **msg) {
  if (!e || !msg)
    return ROI_EINVAL;
  if (!*msg)
    return 0;
  pool_give(e, *msg, 0);
  *msg = NULL;
  return 0;
}

static void free_list(roi_message *m) {
  while (m) {
    roi_message *next = m->next;
    roi_message_destroy(m);
    m = next;
  }
}

int roi_engine_create(roi_engine **out, const roi_engine_options *opts) {
  roi_engine_options o;
  roi_engine *e;
  size_t i;
  int err = ROI_ENOMEM;
  if (!out)
    return ROI_EINVAL;
  *out = NULL;
  memset(&o, 0, sizeof o);
  if (opts)
    o = *opts;
  if (!o.pool_initial)
    o.pool_initial = DEFAULT_POOL_INITIAL;
  if (!o.pool_max)
    o.pool_max = o.pool_initial > DEFAULT_POOL_MAX ? o.pool_initial : DEFAULT_POOL_MAX;
  if (o.pool_max < o.pool_initial || o.channel_share > o.pool_max)
    return ROI_EINVAL;
  e = calloc(1, sizeof *e);
  if (!e)
    return ROI_ENOMEM;
  e->acct.release = account_release;
  e->refs = 1; /* the engine's own, dropped by roi_engine_destroy() */
  e->pool_max = o.pool_max;
  e->share = o.channel_share ? o.channel_share : o.pool_max / 4;
  if (!e->share)
    e->share = 1;
  e->send_max = o.send_queue_max ? o.send_queue_max : DEFAULT_SEND_QUEUE_MAX;
  e->connect_timeout_ms =
      o.connect_timeout_ms ? o.connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
  e->hello_timeout_ms = o.hello_timeout_ms ? o.hello_timeout_ms : DEFAULT_HELLO_TIMEOUT_MS;
  e->frame_timeout_ms = o.frame_timeout_ms ? o.frame_timeout_ms : DEFAULT_FRAME_TIMEOUT_MS;
  e->backoff_ms = o.accept_backoff_ms ? o.accept_backoff_ms : DEFAULT_ACCEPT_BACKOFF_MS;
  e->next_deadline = UINT64_MAX;
  e->next_id = 1;
  e->rng = roi__now_ns() ^ (uint64_t)(uintptr_t)e ^ 0x9E3779B97F4A7C15ull;
  if (!e->rng)
    e->rng = 1;
  e->lock = roi__mutex_new();
  if (!e->lock)
    goto fail_engine;
  /* The reactor's first wait has no timeout: the first post must wake it. */
  e->asleep = 1;
  e->slots = calloc(ROI__CHANNELS, sizeof *e->slots);
  if (!e->slots)
    goto fail_lock;
  /* One allocation holds the dirty and paused lists, another the timers. */
  e->dirty = malloc(2 * ROI__CHANNELS * sizeof *e->dirty);
  if (!e->dirty)
    goto fail_slots;
  e->paused_list = e->dirty + ROI__CHANNELS;
  e->timed = malloc(ROI__CHANNELS * sizeof *e->timed);
  if (!e->timed)
    goto fail_dirty;
  /* One allocation holds the receive and the staging buffers. */
  e->rbuf_cap = RBUF_SIZE;
  e->sbuf_cap = SBUF_SIZE;
  e->rbuf = malloc(RBUF_SIZE + SBUF_SIZE);
  if (!e->rbuf)
    goto fail_timed;
  e->sbuf = (char *)e->rbuf + RBUF_SIZE;
  for (i = 0; i < o.pool_initial; i++) {
    roi_message *m;
    if (roi_message_create(&m) != 0)
      goto fail_pool;
    m->acct = &e->acct;
    m->counted = 1;
    e->refs++;
    e->live++;
    m->next = e->pool;
    e->pool = m;
    e->pool_count++;
  }
  err = roi_poller_create(&e->poller, o.backend);
  if (err)
    goto fail_pool;
  err = roi__thread_create(&e->thread, roi__reactor_main, e);
  if (err)
    goto fail_poller;
  *out = e;
  return 0;
fail_poller:
  roi_poller_destroy(e->poller);
fail_pool:
  free_list(e->pool);
  free(e->rbuf);
fail_timed:
  free(e->timed);
fail_dirty:
  free(e->dirty);
fail_slots:
  free(e->slots);
fail_lock:
  roi__mutex_free(e->lock);
fail_engine:
  free(e);
  return err;
}

static void group_free(roi_group *g) {
  free_list(g->batch);
  free_list(g->q);
  roi__cond_free(g->qcond);
  roi__mutex_free(g->qlock);
  free(g);
}

void roi_engine_destroy(roi_engine *e) {
  roi_message *pool;
  int last;
  if (!e)
    return;
  roi__mutex_lock(e->lock);
  e->stopping = 1;
  (void)roi_poller_wake(e->poller, 0);
  roi__mutex_unlock(e->lock);
  /* The reactor closes every channel and frees what the mailbox still held
   * before it returns. */
  roi__thread_join(e->thread);
  while (e->groups) {
    roi_group *g = e->groups;
    e->groups = g->next;
    group_free(g);
  }
  roi_poller_destroy(e->poller);
  /* From here on a message the application destroys only drops its count:
   * the channels' slots go away. */
  roi__mutex_lock(e->lock);
  e->gone = 1;
  pool = e->pool;
  e->pool = NULL;
  roi__mutex_unlock(e->lock);
  free_list(pool);
  free(e->rbuf);
  free(e->timed);
  free(e->dirty);
  free(e->slots);
  roi__mutex_lock(e->lock);
  last = --e->refs == 0;
  roi__mutex_unlock(e->lock);
  if (last) {
    roi__mutex_free(e->lock);
    free(e);
  }
}

int roi_group_create(roi_engine *e, roi_group **out) {
  roi_group *g;
  if (!e || !out)
    return ROI_EINVAL;
  *out = NULL;
  g = calloc(1, sizeof *g);
  if (!g)
    return ROI_ENOMEM;
  g->e = e;
  g->qlock = roi__mutex_new();
  g->qcond = roi__cond_new();
  if (!g->qlock || !g->qcond) {
    roi__cond_free(g->qcond);
    if (g->qlock)
      roi__mutex_free(g->qlock);
    free(g);
    return ROI_ENOMEM;
  }
  g->destroy_cmd.cmd = ROI__CMD_GROUP_DESTROY;
  g->destroy_cmd.group = g;
  roi__mutex_lock(e->lock);
  if (e->stopping) {
    roi__mutex_unlock(e->lock);
    group_free(g);
    return ROI_ECLOSED;
  }
  g->next = e->groups;
  if (e->groups)
    e->groups->prev = g;
  e->groups = g;
  roi__mutex_unlock(e->lock);
  *out = g;
  return 0;
}

int roi__mailbox_push(roi_engine *e, roi_message *m) {
  m->next = NULL;
  if (e->mbox)
    e->mbox_tail->next = m;
  else
    e->mbox = m;
  e->mbox_tail = m;
  /* The reactor drains the whole mailbox each round and looks at it again
   * before it sleeps, so only a reactor that said it sleeps needs a wake:
   * a busy one costs its posters no system call. */
  if (!e->asleep)
    return 0;
  e->asleep = 0;
  return 1;
}

void roi__signal_set(roi_message *m, int status, uint16_t channel, uint64_t id) {
  m->proto = ROI_OP_SIGNAL | ROI__PROTO_ORIGIN;
  m->status = (uint8_t)status;
  m->channel = channel;
  m->id = id;
}

void roi_group_destroy(roi_group *g) {
  roi_engine *e;
  int wake;
  if (!g)
    return;
  e = g->e;
  roi__mutex_lock(e->lock);
  g->closing = 1;
  wake = roi__mailbox_push(e, &g->destroy_cmd);
  roi__mutex_unlock(e->lock);
  if (wake)
    (void)roi_poller_wake(e->poller, 1);
  /* The reactor closes the group's channels (their sockets are its alone)
   * and then says so. */
  roi__mutex_lock(g->qlock);
  while (!g->done)
    (void)roi__cond_wait(g->qcond, g->qlock, -1);
  roi__mutex_unlock(g->qlock);
  roi__mutex_lock(e->lock);
  if (g->prev)
    g->prev->next = g->next;
  else
    e->groups = g->next;
  if (g->next)
    g->next->prev = g->prev;
  roi__mutex_unlock(e->lock);
  group_free(g);
}

void roi__group_deliver_list(roi_group *g, roi_message *head) {
  roi_message *tail = head;
  size_t n = 1, counted = head->counted;
  int was_empty;
  for (; tail->next; tail = tail->next) {
    n++;
    counted += tail->next->counted;
  }
  roi__mutex_lock(g->qlock);
  was_empty = g->q == NULL;
  if (was_empty)
    g->q = head;
  else
    g->q_tail->next = head;
  g->q_tail = tail;
  g->qlen += n;
  g->qcounted += counted;
  roi__mutex_unlock(g->qlock);
  /* The consumer only sleeps on an empty queue. It is woken after the lock
   * is let go: woken under it, it would wake only to wait for the lock.
   * The group cannot go in between: it is destroyed through the reactor,
   * after every delivery the reactor makes, and the application's own
   * deliveries (roi_group_update_receiver()) may not race its destroy. */
  if (was_empty)
    roi__cond_broadcast(g->qcond);
}

void roi__group_deliver(roi_group *g, roi_message *m) {
  if (m->queued) {
    /* It leaves its send queue: posted, and coming back. */
    roi__mutex_lock(g->e->lock);
    roi__queue_uncount(g->e, m);
    roi__mutex_unlock(g->e->lock);
  }
  m->next = NULL;
  m->group = NULL;
  roi__group_deliver_list(g, m);
}

/* Hands out the head of the consumer's batch [consumer]. */
static roi_message *batch_pop(roi_group *g) {
  roi_message *m = g->batch;
  g->batch = m->next;
  m->next = NULL;
  roi__relaxed_store(&g->batch_taken, g->batch_taken + 1);
  roi__relaxed_store(&g->batch_taken_counted, g->batch_taken_counted + m->counted);
  return m;
}

int roi_group_wait_receive(roi_group *g, int timeout_ms, roi_message **out) {
  uint64_t deadline = 0;
  int err = 0;
  if (!g || !out)
    return ROI_EINVAL;
  *out = NULL;
  /* A busy consumer takes the whole queue at once and hands it out from
   * its batch, a lock round trip per batch instead of per message. */
  if (g->batch) {
    *out = batch_pop(g);
    return 0;
  }
  roi__mutex_lock(g->qlock);
  g->qlen -= g->batch_taken;
  g->qcounted -= g->batch_taken_counted;
  roi__relaxed_store(&g->batch_taken, 0);
  roi__relaxed_store(&g->batch_taken_counted, 0);
  /* The clock is read only when there is something to wait for: a busy
   * consumer finds a message at once, and a clock read per message was a
   * measurable share of bench_engine's time. */
  if (!g->q && !g->done && timeout_ms >= 0)
    deadline = roi__now_ms() + (uint64_t)timeout_ms;
  while (!g->q && !g->done) {
    int left = -1;
    if (timeout_ms >= 0) {
      uint64_t now = roi__now_ms();
      if (now >= deadline) {
        err = ROI_ETIMEDOUT;
        break;
      }
      left = (int)(deadline - now);
    }
    (void)roi__cond_wait(g->qcond, g->qlock, left);
  }
  if (g->q) {
    g->batch = g->q;
    g->q = g->q_tail = NULL;
    *out = batch_pop(g);
    err = 0;
  } else if (!err) {
    err = ROI_ECLOSED;
  }
  roi__mutex_unlock(g->qlock);
  return err;
}

int roi_group_update_receiver(roi_group *g, roi_message **msg) {
  roi_message *m = msg ? *msg : NULL;
  int err;
  if (!g)
    return ROI_EINVAL;
  if (!m) {
    err = roi_engine_get(g->e, ROI_GET_ALWAYS, &m);
    if (err)
      return err;
    roi__signal_set(m, ROI_STATUS_RECEIVER_UPDATE, 0, 0);
  } else {
    m->proto &= (uint8_t)~ROI__PROTO_ORIGIN;
  }
  m->status = ROI_STATUS_RECEIVER_UPDATE;
  roi__group_deliver(g, m);
  if (msg)
    *msg = NULL;
  return 0;
}

int roi_engine_stats_get(roi_engine *e, roi_engine_stats *out) {
  roi_group *g;
  size_t n, recv_counted = 0, out_of_pool;
  if (!e || !out)
    return ROI_EINVAL;
  memset(out, 0, sizeof *out);
  roi__mutex_lock(e->lock);
  out->pool_max = e->pool_max;
  out->pool_live = e->live;
  out->pool_free = e->pool_count;
  out->send_queued = e->send_msgs;
  out->send_bytes = e->send_bytes;
  out->channels = e->active;
  out->paused = e->paused;
  out->stalled = e->stalled;
  out->backing_off = e->backing_off;
  out->backoffs = e->backoffs;
  out->timeouts = e->timeouts;
  out->rounds = e->rounds;
  for (n = 1; n <= ROI__CHANNEL_MAX; n++)
    if (e->slots[n].group && e->slots[n].held > out->held_max)
      out->held_max = e->slots[n].held;
  for (g = e->groups; g; g = g->next) {
    roi__mutex_lock(g->qlock);
    out->recv_queued += g->qlen - roi__relaxed_load(&g->batch_taken);
    recv_counted += g->qcounted - roi__relaxed_load(&g->batch_taken_counted);
    roi__mutex_unlock(g->qlock);
  }
  /* Counted messages out of the pool are in a send queue, in a group's
   * queue, or with the application (the reactor's hands count as the
   * application's for the moment it parses a frame). */
  out_of_pool = e->live - e->pool_count;
  out->app_held = out_of_pool - e->send_counted - recv_counted;
  if (out->app_held > out_of_pool)
    out->app_held = 0;
  roi__mutex_unlock(e->lock);
  return 0;
}
