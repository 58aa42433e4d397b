/*
 * The wake queue: a growable ring of payloads under one mutex. Producers hold
 * the lock for a few instructions (a realloc when the ring is full), and the
 * consumer takes every waiting payload it has room for in one lock.
 */
#include "wakeq.h"

#include <stdlib.h>
#include <string.h>

#include "roi/error.h"

#define ROI__WAKEQ_MIN 64

int roi__wakeq_init(roi__wakeq *q) {
  memset(q, 0, sizeof *q);
  q->mutex = roi__mutex_new();
  return q->mutex ? 0 : ROI_ENOMEM;
}

void roi__wakeq_free(roi__wakeq *q) {
  if (q->mutex)
    roi__mutex_free(q->mutex);
  free(q->ring);
  memset(q, 0, sizeof *q);
}

/* Doubles the ring, keeping the payloads in order from index 0. */
static int grow(roi__wakeq *q) {
  size_t cap = q->cap ? q->cap * 2 : ROI__WAKEQ_MIN, i;
  uint64_t *ring = malloc(cap * sizeof *ring);
  if (!ring)
    return ROI_ENOMEM;
  for (i = 0; i < q->count; i++)
    ring[i] = q->ring[(q->head + i) % q->cap];
  free(q->ring);
  q->ring = ring;
  q->cap = cap;
  q->head = 0;
  return 0;
}

int roi__wakeq_push(roi__wakeq *q, uint64_t payload, int *signal) {
  int err = 0;
  roi__mutex_lock(q->mutex);
  if (q->count == q->cap)
    err = grow(q);
  if (!err) {
    q->ring[(q->head + q->count) % q->cap] = payload;
    q->count++;
    *signal = q->count == 1;
  }
  roi__mutex_unlock(q->mutex);
  return err;
}

int roi__wakeq_pop(roi__wakeq *q, roi_poll_event *events, int max) {
  int n = 0;
  roi__mutex_lock(q->mutex);
  while (n < max && q->count > 0) {
    events[n].token = q->ring[q->head];
    events[n].events = ROI_POLL_WAKE;
    events[n].error = 0;
    q->head = (q->head + 1) % q->cap;
    q->count--;
    n++;
  }
  roi__mutex_unlock(q->mutex);
  return n;
}

int roi__wakeq_pop_first(roi__wakeq *q, roi_poll_event *events, int max, int *timeout_ms) {
  int n = roi__wakeq_pop(q, events, max > 1 ? max / 2 : 1), pending;
  roi__mutex_lock(q->mutex);
  pending = q->count > 0;
  roi__mutex_unlock(q->mutex);
  if (n > 0 || pending)
    *timeout_ms = 0;
  return n;
}
