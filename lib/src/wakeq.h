/*
 * The wake queue of the epoll and poll backends.
 *
 * Those backends wake a sleeping wait through a file descriptor (eventfd,
 * pipe, socket pair) that cannot carry a payload, so the payloads wait here,
 * in order, under a mutex. Only a push onto an empty queue needs to signal the
 * descriptor: one signal per empty -> non-empty transition, not per wake. The
 * afd backend does not need this: its completion packets carry the payload.
 */
#ifndef ROI_SRC_WAKEQ_H
#define ROI_SRC_WAKEQ_H

#include <stddef.h>
#include <stdint.h>

#include "platform.h"
#include "roi/poller.h"

typedef struct roi__wakeq {
  roi__mutex *mutex;
  uint64_t *ring; /* cap slots, count of them used from head */
  size_t cap, head, count;
} roi__wakeq;

/* Returns 0 or ROI_ENOMEM. */
int roi__wakeq_init(roi__wakeq *q);
void roi__wakeq_free(roi__wakeq *q);

/* Queues a payload (any thread). Sets *signal to 1 when the queue was empty,
 * i.e. the caller must signal the waiting thread. Returns 0 or ROI_ENOMEM. */
int roi__wakeq_push(roi__wakeq *q, uint64_t payload, int *signal);

/* Moves up to max payloads into events as ROI_POLL_WAKE events (the poller's
 * thread). Returns how many. */
int roi__wakeq_pop(roi__wakeq *q, roi_poll_event *events, int max);

/* The start of a wait: moves waiting payloads into at most half of events
 * (at least one slot), so that neither wakes nor sockets can starve the
 * other, and sets *timeout_ms to 0 when any were taken or more are waiting,
 * since the system wait must not block then. Returns how many were taken;
 * after the system wait, roi__wakeq_pop() fills what room is left. */
int roi__wakeq_pop_first(roi__wakeq *q, roi_poll_event *events, int max, int *timeout_ms);

#endif /* ROI_SRC_WAKEQ_H */
