/*
 * The engine's public calls that do not post: engine and group lifetime,
 * the message pool, and the receive side of a group.
 */
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "roi/error.h"

#define DEFAULT_POOL_INITIAL 64
#define DEFAULT_POOL_MAX 1024
#define DEFAULT_CONNECT_TIMEOUT_MS 10000
/* Room for one whole frame left over from the last read plus a large read. */
#define RBUF_SIZE (16 + 2 * 65535 + 256 * 1024)

/* Gives a message back to the pool [L held]. A paused channel is waiting for
 * exactly this, so the reactor is told (once, until it resumes). */
static void pool_push(roi_engine *e, roi_message *m, int from_reactor) {
  if (e->pool_count < e->pool_max) {
    m->next = e->pool;
    e->pool = m;
    e->pool_count++;
  } else {
    roi_message_destroy(m);
  }
  if (e->paused && !e->resume_wanted) {
    e->resume_wanted = 1;
    if (!from_reactor && !e->stopping)
      (void)roi_poller_wake(e->poller, 2);
  }
}

/* Resets m and gives it back to the pool. */
static void pool_give(roi_engine *e, roi_message *m, int from_reactor) {
  roi_message_reset(m);
  roi__mutex_lock(e->lock);
  pool_push(e, m, from_reactor);
  roi__mutex_unlock(e->lock);
}

roi_message *roi__engine_take(roi_engine *e) {
  roi_message *m;
  roi__mutex_lock(e->lock);
  m = e->pool;
  if (m) {
    e->pool = m->next;
    e->pool_count--;
    m->next = NULL;
  }
  roi__mutex_unlock(e->lock);
  return m;
}

void roi__engine_give(roi_engine *e, roi_message *m) {
  pool_give(e, m, 1);
}

void roi__engine_give_list(roi_engine *e, roi_message *head) {
  roi_message *m, *next;
  /* Reset outside the lock; reset also clears each next link, so the list is
   * walked with the link saved first. */
  for (m = head; m; m = next) {
    next = m->next;
    roi_message_reset(m);
    m->next = next;
  }
  if (!head)
    return;
  roi__mutex_lock(e->lock);
  for (m = head; m; m = next) {
    next = m->next;
    pool_push(e, m, 1);
  }
  roi__mutex_unlock(e->lock);
}

int roi_engine_get(roi_engine *e, roi_get_strategy strategy, roi_message **out) {
  if (!e || !out || (strategy != ROI_GET_POOL_ONLY && strategy != ROI_GET_ALWAYS))
    return ROI_EINVAL;
  *out = roi__engine_take(e);
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
  roi_engine_options o = {0, 0, NULL, 0};
  roi_engine *e;
  size_t i;
  int err = ROI_ENOMEM;
  if (!out)
    return ROI_EINVAL;
  *out = NULL;
  if (opts)
    o = *opts;
  if (!o.pool_initial)
    o.pool_initial = DEFAULT_POOL_INITIAL;
  if (!o.pool_max)
    o.pool_max = o.pool_initial > DEFAULT_POOL_MAX ? o.pool_initial : DEFAULT_POOL_MAX;
  if (o.pool_max < o.pool_initial)
    return ROI_EINVAL;
  e = calloc(1, sizeof *e);
  if (!e)
    return ROI_ENOMEM;
  e->pool_max = o.pool_max;
  e->connect_timeout_ms =
      o.connect_timeout_ms ? o.connect_timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
  e->next_id = 1;
  e->rng = roi__now_ns() ^ (uint64_t)(uintptr_t)e ^ 0x9E3779B97F4A7C15ull;
  if (!e->rng)
    e->rng = 1;
  e->lock = roi__mutex_new();
  if (!e->lock)
    goto fail_engine;
  e->slots = calloc(ROI__CHANNELS, sizeof *e->slots);
  if (!e->slots)
    goto fail_lock;
  /* One allocation holds the dirty, paused and connecting lists. */
  e->dirty = malloc(3 * ROI__CHANNELS * sizeof *e->dirty);
  if (!e->dirty)
    goto fail_slots;
  e->paused_list = e->dirty + ROI__CHANNELS;
  e->connect_list = e->paused_list + ROI__CHANNELS;
  e->rbuf_cap = RBUF_SIZE;
  e->rbuf = malloc(e->rbuf_cap);
  if (!e->rbuf)
    goto fail_dirty;
  for (i = 0; i < o.pool_initial; i++) {
    roi_message *m;
    if (roi_message_create(&m) != 0)
      goto fail_pool;
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
  free_list(g->q);
  roi__cond_free(g->qcond);
  roi__mutex_free(g->qlock);
  free(g);
}

void roi_engine_destroy(roi_engine *e) {
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
  free_list(e->pool);
  free(e->rbuf);
  free(e->dirty);
  free(e->slots);
  roi__mutex_free(e->lock);
  free(e);
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

void roi__mailbox_push(roi_engine *e, roi_message *m) {
  int was_empty = e->mbox == NULL;
  m->next = NULL;
  if (was_empty)
    e->mbox = m;
  else
    e->mbox_tail->next = m;
  e->mbox_tail = m;
  /* The reactor drains the whole mailbox per wake. The wake is made under
   * the lock so that roi_engine_destroy() cannot close the poller in
   * between. */
  if (was_empty)
    (void)roi_poller_wake(e->poller, 1);
}

void roi__signal_set(roi_message *m, int status, uint16_t channel, uint64_t id) {
  m->proto = ROI_OP_SIGNAL | ROI__PROTO_ORIGIN;
  m->status = (uint8_t)status;
  m->channel = channel;
  m->id = id;
}

void roi_group_destroy(roi_group *g) {
  roi_engine *e;
  if (!g)
    return;
  e = g->e;
  roi__mutex_lock(e->lock);
  g->closing = 1;
  roi__mailbox_push(e, &g->destroy_cmd);
  roi__mutex_unlock(e->lock);
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

void roi__group_deliver(roi_group *g, roi_message *m) {
  int was_empty;
  m->next = NULL;
  m->group = NULL;
  roi__mutex_lock(g->qlock);
  was_empty = g->q == NULL;
  if (was_empty)
    g->q = m;
  else
    g->q_tail->next = m;
  g->q_tail = m;
  /* The consumer only sleeps on an empty queue. */
  if (was_empty)
    roi__cond_broadcast(g->qcond);
  roi__mutex_unlock(g->qlock);
}

int roi_group_wait_receive(roi_group *g, int timeout_ms, roi_message **out) {
  uint64_t deadline = 0;
  int err = 0;
  if (!g || !out)
    return ROI_EINVAL;
  *out = NULL;
  roi__mutex_lock(g->qlock);
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
    *out = g->q;
    g->q = g->q->next;
    (*out)->next = NULL;
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
