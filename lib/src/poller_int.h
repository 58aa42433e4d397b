/*
 * The internal backend interface of the poller.
 *
 * Each backend fills one const roi__backend (a table of functions, the way
 * c-ares' event thread selects epoll, kqueue, poll or select) and allocates
 * its own state with a roi_poller as its first member. poller.c validates
 * every public argument and the closed state before it calls a backend, so
 * the backends only check what needs the system (is the socket open, is it
 * registered).
 */
#ifndef ROI_SRC_POLLER_INT_H
#define ROI_SRC_POLLER_INT_H

#include "roi/error.h"
#include "roi/poller.h"

typedef struct roi__backend roi__backend;

struct roi_poller {
  const roi__backend *backend;
  int closed;
};

struct roi__backend {
  const char *name;
  /* Allocates and opens a poller; *out is set only on success. */
  int (*create)(roi_poller **out);
  /* Releases every system resource; the poller stays allocated. */
  void (*close)(roi_poller *p);
  /* Frees a closed poller's memory. */
  void (*free)(roi_poller *p);
  int (*add)(roi_poller *p, roi_socket s, uint32_t interest, uint64_t token);
  int (*modify)(roi_poller *p, roi_socket s, uint32_t interest, uint64_t token);
  int (*remove)(roi_poller *p, roi_socket s);
  /* Waits at most timeout_ms (-1: for ever) and returns the events gathered,
   * possibly 0 before the timeout; poller.c loops until the deadline. */
  int (*wait)(roi_poller *p, roi_poll_event *events, int max, int timeout_ms);
  int (*wake)(roi_poller *p, uint64_t payload);
  void (*stats)(const roi_poller *p, roi_poller_stats *out);
};

#ifdef ROI_HAVE_EPOLL
extern const roi__backend roi__backend_epoll;
#endif
#ifdef ROI_HAVE_POLL
extern const roi__backend roi__backend_poll;
#endif
#ifdef ROI_HAVE_AFD
extern const roi__backend roi__backend_afd;
#endif

/* Keeps only the events a socket asked for, plus hang-up and error, which are
 * always reported. */
static inline uint32_t roi__filter_events(uint32_t events, uint32_t interest) {
  return events & (interest | ROI_POLL_HANGUP | ROI_POLL_ERROR);
}

#endif /* ROI_SRC_POLLER_INT_H */
