/*
 * bench_epoll: bench_scale's ping-pong and idle-scaling figures, with the
 * measured poller replaced by the epoll_* API (roi/epoll.h): on Windows
 * roi's epoll layer over the afd machinery, on Linux the kernel's epoll. Run
 * beside `bench_scale --backend afd` (or epoll) with the same arguments, it
 * gives the layer's overhead on the same sockets and the same traffic.
 *
 * It is bench_scale itself, not a copy: this file compiles bench_scale.c
 * with its roi_poller_* calls renamed to the adapters below. An adapter
 * passes a poller it did not make with the "epoll_api" name straight to
 * roi's poller (bench_scale's set-up poller is always "poll"); the one it
 * made drives an epoll port instead: add/remove are EPOLL_CTL_ADD/DEL, a
 * wait is epoll_wait() into an array of struct epoll_event converted to
 * roi_poll_event, and the statistics are roi_epoll_stats() (Windows only).
 *
 * Options are bench_scale's; --backend defaults to epoll_api (any other
 * backend name measures roi's poller, as bench_scale would). The result line
 * is bench_scale's, with backend=epoll_api.
 */
#define roi_poller_create bx_create
#define roi_poller_add bx_add
#define roi_poller_remove bx_remove
#define roi_poller_wait bx_wait
#define roi_poller_close bx_close
#define roi_poller_destroy bx_destroy
#define roi_poller_backend bx_backend
#define roi_poller_stats_get bx_stats_get

#include "bench_scale.c"

#undef roi_poller_create
#undef roi_poller_add
#undef roi_poller_remove
#undef roi_poller_wait
#undef roi_poller_close
#undef roi_poller_destroy
#undef roi_poller_backend
#undef roi_poller_stats_get

#ifndef _WIN32
#include <errno.h>
#include <unistd.h>
#endif

#include "roi/epoll.h"

/* The real functions, under their own names (roi/poller.h declared the
 * renamed ones). */
int roi_poller_create(roi_poller **out, const char *backend);
int roi_poller_add(roi_poller *p, roi_socket s, uint32_t interest, uint64_t token);
int roi_poller_remove(roi_poller *p, roi_socket s);
int roi_poller_wait(roi_poller *p, roi_poll_event *events, int max, int timeout_ms);
int roi_poller_close(roi_poller *p);
void roi_poller_destroy(roi_poller *p);
const char *roi_poller_backend(const roi_poller *p);
int roi_poller_stats_get(const roi_poller *p, roi_poller_stats *out);

#define API_NAME "epoll_api"

#ifdef _WIN32
typedef HANDLE bx_handle;
#define BX_NO_HANDLE NULL
#else
typedef int bx_handle;
#define BX_NO_HANDLE (-1)
#endif

/* A poller of either kind. The adapters only ever get pointers to these. */
typedef struct bx {
  roi_poller *real; /* NULL for an epoll port */
  bx_handle ep;
  struct epoll_event ev[EVENTS_MAX];
} bx;

static int api_error(void) {
  return roi_err_from_errno(errno);
}

int bx_create(roi_poller **out, const char *backend) {
  bx *x = calloc(1, sizeof *x);
  int err = 0;
  if (!x)
    return ROI_ENOMEM;
  if (!backend || strcmp(backend, API_NAME) == 0) {
    x->ep = epoll_create1(0);
    if (x->ep == BX_NO_HANDLE)
      err = api_error();
  } else {
    err = roi_poller_create(&x->real, backend);
  }
  if (err) {
    free(x);
    return err;
  }
  *out = (roi_poller *)(void *)x;
  return 0;
}

static bx *to_bx(const roi_poller *p) {
  return (bx *)(void *)(uintptr_t)p;
}

int bx_add(roi_poller *p, roi_socket s, uint32_t interest, uint64_t token) {
  bx *x = to_bx(p);
  struct epoll_event ev;
  if (x->real)
    return roi_poller_add(x->real, s, interest, token);
  memset(&ev, 0, sizeof ev);
  ev.events = ((interest & ROI_POLL_READABLE) ? (uint32_t)EPOLLIN : 0) |
              ((interest & ROI_POLL_WRITABLE) ? (uint32_t)EPOLLOUT : 0) |
              ((interest & ROI_POLL_RDHUP) ? (uint32_t)EPOLLRDHUP : 0);
  ev.data.u64 = token;
  return epoll_ctl(x->ep, EPOLL_CTL_ADD, s, &ev) == 0 ? 0 : api_error();
}

int bx_remove(roi_poller *p, roi_socket s) {
  bx *x = to_bx(p);
  struct epoll_event ev;
  if (x->real)
    return roi_poller_remove(x->real, s);
  memset(&ev, 0, sizeof ev);
  return epoll_ctl(x->ep, EPOLL_CTL_DEL, s, &ev) == 0 ? 0 : api_error();
}

int bx_wait(roi_poller *p, roi_poll_event *events, int max, int timeout_ms) {
  bx *x = to_bx(p);
  int i, n;
  if (x->real)
    return roi_poller_wait(x->real, events, max, timeout_ms);
  n = epoll_wait(x->ep, x->ev, max < EVENTS_MAX ? max : EVENTS_MAX, timeout_ms);
  if (n < 0)
    return api_error();
  for (i = 0; i < n; i++) {
    uint32_t e = x->ev[i].events, r = 0;
    r |= (e & (uint32_t)EPOLLIN) ? ROI_POLL_READABLE : 0;
    r |= (e & (uint32_t)EPOLLOUT) ? ROI_POLL_WRITABLE : 0;
    r |= (e & (uint32_t)EPOLLRDHUP) ? ROI_POLL_RDHUP : 0;
    r |= (e & (uint32_t)EPOLLHUP) ? ROI_POLL_HANGUP : 0;
    r |= (e & (uint32_t)EPOLLERR) ? ROI_POLL_ERROR : 0;
    events[i].token = x->ev[i].data.u64;
    events[i].events = r;
    events[i].error = (e & (uint32_t)EPOLLERR) ? ROI_ECONNRESET : 0;
  }
  return n;
}

int bx_close(roi_poller *p) {
  bx *x = to_bx(p);
  int err = 0;
  if (x->real)
    return roi_poller_close(x->real);
  if (x->ep != BX_NO_HANDLE) {
#ifdef _WIN32
    err = epoll_close(x->ep) == 0 ? 0 : api_error();
#else
    err = close(x->ep) == 0 ? 0 : api_error();
#endif
    x->ep = BX_NO_HANDLE;
  }
  return err;
}

void bx_destroy(roi_poller *p) {
  bx *x = to_bx(p);
  if (!x)
    return;
  if (x->real)
    roi_poller_destroy(x->real);
  else
    (void)bx_close(p);
  free(x);
}

const char *bx_backend(const roi_poller *p) {
  const bx *x = to_bx(p);
  return x->real ? roi_poller_backend(x->real) : API_NAME;
}

int bx_stats_get(const roi_poller *p, roi_poller_stats *out) {
  const bx *x = to_bx(p);
  if (x->real)
    return roi_poller_stats_get(x->real, out);
  memset(out, 0, sizeof *out);
#ifdef _WIN32
  return roi_epoll_stats(x->ep, out) == 0 ? 0 : api_error();
#else
  return 0;
#endif
}
