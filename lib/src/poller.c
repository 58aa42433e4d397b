/*
 * The poller's public entry points: argument validation, the closed state,
 * backend selection, and the wait loop that turns a backend's early returns
 * into the documented "0 only when the timeout expired".
 */
#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "poller_int.h"

int roi__test_hide_base_socket;

/* The compiled backends, default first (ROI_DEFAULT_BACKEND comes from
 * lib/meson.build, which lists the default first too). */
static const roi__backend *const backends[] = {
#ifdef ROI_HAVE_AFD
    &roi__backend_afd,
#endif
#ifdef ROI_HAVE_EPOLL
    &roi__backend_epoll,
#endif
#ifdef ROI_HAVE_POLL
    &roi__backend_poll,
#endif
};

#define NBACKENDS ((int)(sizeof backends / sizeof backends[0]))

static const roi__backend *find_backend(const char *name) {
  int i;
  for (i = 0; i < NBACKENDS; i++)
    if (strcmp(backends[i]->name, name) == 0)
      return backends[i];
  return NULL;
}

const char *roi_poller_default_backend(void) {
  return backends[0]->name;
}

int roi_poller_backends(const char **names, int max) {
  int i;
  if (max < 0 || (max > 0 && !names))
    return ROI_EINVAL;
  for (i = 0; i < NBACKENDS && i < max; i++)
    names[i] = backends[i]->name;
  return NBACKENDS;
}

int roi_poller_create(roi_poller **out, const char *name) {
  const roi__backend *b;
  roi_poller *p = NULL;
  int err;
  if (!out)
    return ROI_EINVAL;
  *out = NULL;
  if (!name || !*name) {
    /* Read once, at creation, by the creating thread: MSVC's C4996 warning
     * about getenv (not thread-safe against setenv) does not apply. */
#ifdef _MSC_VER
#pragma warning(suppress : 4996)
#endif
    name = getenv("ROI_BACKEND");
    if (!name || !*name)
      name = roi_poller_default_backend();
  }
  b = find_backend(name);
  if (!b)
    return ROI_ENOTSUP;
  err = b->create(&p);
  if (err)
    return err;
  p->backend = b;
  p->closed = 0;
  *out = p;
  return 0;
}

int roi_poller_close(roi_poller *p) {
  if (!p)
    return ROI_EINVAL;
  if (p->closed)
    return ROI_ECLOSED;
  p->backend->close(p);
  p->closed = 1;
  return 0;
}

void roi_poller_destroy(roi_poller *p) {
  if (!p)
    return;
  if (!p->closed)
    roi_poller_close(p);
  p->backend->free(p);
}

const char *roi_poller_backend(const roi_poller *p) {
  return p ? p->backend->name : "?";
}

/* The checks every socket call shares, in the order the header documents. */
static int check_call(const roi_poller *p, roi_socket s) {
  if (!p)
    return ROI_EINVAL;
  if (p->closed)
    return ROI_ECLOSED;
  if (s == ROI_INVALID_SOCKET)
    return ROI_EBADF;
  return 0;
}

/* check_call() plus the interest flags of add and modify. */
static int check_interest(const roi_poller *p, roi_socket s, uint32_t interest) {
  int err = check_call(p, s);
  if (!err && (interest & ~(uint32_t)ROI_POLL_INTEREST_MASK))
    err = ROI_EINVAL;
  return err;
}

int roi_poller_add(roi_poller *p, roi_socket s, uint32_t interest, uint64_t token) {
  int err = check_interest(p, s, interest);
  return err ? err : p->backend->add(p, s, interest, token);
}

int roi_poller_modify(roi_poller *p, roi_socket s, uint32_t interest, uint64_t token) {
  int err = check_interest(p, s, interest);
  return err ? err : p->backend->modify(p, s, interest, token);
}

int roi_poller_remove(roi_poller *p, roi_socket s) {
  int err = check_call(p, s);
  if (err)
    return err;
  return p->backend->remove(p, s);
}

int roi_poller_wait(roi_poller *p, roi_poll_event *events, int max, int timeout_ms) {
  uint64_t deadline = 0;
  if (!p || !events || max <= 0 || timeout_ms < -1)
    return ROI_EINVAL;
  if (p->closed)
    return ROI_ECLOSED;
  if (timeout_ms > 0)
    deadline = roi__now_ms() + (uint64_t)timeout_ms;
  for (;;) {
    int n = p->backend->wait(p, events, max, timeout_ms);
    uint64_t now;
    /* A backend returns 0 early when all it dequeued was bookkeeping (a
     * cancelled poll, a wake signal whose payload was already taken); keep
     * waiting for what is left of the timeout. */
    if (n != 0 || timeout_ms == 0)
      return n;
    if (timeout_ms > 0) {
      now = roi__now_ms();
      if (now >= deadline)
        return 0;
      timeout_ms = (int)(deadline - now);
    }
  }
}

int roi_poller_wake(roi_poller *p, uint64_t payload) {
  if (!p)
    return ROI_EINVAL;
  if (p->closed)
    return ROI_ECLOSED;
  return p->backend->wake(p, payload);
}

int roi_poller_stats_get(const roi_poller *p, roi_poller_stats *out) {
  if (!p || !out)
    return ROI_EINVAL;
  memset(out, 0, sizeof *out);
  p->backend->stats(p, out);
  return 0;
}
