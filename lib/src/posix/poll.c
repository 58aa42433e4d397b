/*
 * The poll backend: poll() on POSIX systems, WSAPoll() on Windows.
 *
 * IMPLEMENTATION NOTES
 *
 * - The portable fallback, and the reference the other backends are tested
 *   against. Its cost is O(registered) per wait by nature: the descriptor
 *   array is rebuilt from the registered records on every wait (disarmed and
 *   closed sockets left out), so add/modify/remove are O(1) and need no
 *   system call at all.
 * - Level-triggered like poll() itself. One-shot, and the once-only hang-up
 *   and error, are done here by leaving a disarmed socket out of the array
 *   until modify() re-arms it.
 * - A socket closed while registered shows up as POLLNVAL (POSIX) and is then
 *   left out silently until it is removed.
 * - When more sockets are ready than max allows, the scan starts one place
 *   further round on each wait so every ready socket is reported in turn.
 * - Wakes: a pipe (POSIX) or a loopback TCP socket pair (Windows, where
 *   WSAPoll accepts only sockets) is slot 0 of the array; one byte is written
 *   on each empty -> non-empty transition of the shared wake queue.
 * - Windows: WSAPoll before Windows 10 2004 (build 19041) never reports a
 *   failed connect (Microsoft's own documentation issue, and curl and libuv
 *   say the same): the socket simply never becomes writable. So while any
 *   socket waits for WRITABLE, a wait sleeps at most PL_CONNECT_CHECK_MS at a
 *   time and then asks those sockets for SO_ERROR; a pending error is
 *   reported as WSAPoll would have (ERROR | HANGUP, with the error). Wine
 *   reports the failure itself, so there the check never fires.
 * - Windows: WSAPoll has no POLLRDHUP and reports a peer's FIN as POLLHUP.
 *   A POLLHUP with no pending socket error is therefore a half-close
 *   (READABLE | RDHUP); with an error it is a hang-up. WSAPoll rejects
 *   POLLPRI, so only POLLRDNORM/POLLWRNORM are requested.
 */
#ifdef _WIN32
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <windows.h>

#include "win/winsock.h"
#else
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#endif

#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "pool.h"
#include "poller_int.h"
#include "roi/sock.h"
#include "sockmap.h"
#include "wakeq.h"

#ifdef _WIN32
typedef WSAPOLLFD pl_pollfd;
#define PL_IN POLLRDNORM
#define PL_OUT POLLWRNORM
#define PL_RDHUP 0
static int pl_last_error(void) {
  return roi_err_from_win32((uint32_t)WSAGetLastError());
}
static int pl_poll(pl_pollfd *fds, size_t n, int timeout_ms) {
  int r = WSAPoll(fds, (ULONG)n, timeout_ms);
  return r == SOCKET_ERROR ? pl_last_error() : r;
}
#else
typedef struct pollfd pl_pollfd;
#define PL_IN POLLIN
#define PL_OUT POLLOUT
#ifdef POLLRDHUP
#define PL_RDHUP POLLRDHUP
#else
#define PL_RDHUP 0
#endif
static int pl_last_error(void) {
  return roi_err_from_errno(errno);
}
static int pl_poll(pl_pollfd *fds, size_t n, int timeout_ms) {
  int r = poll(fds, (nfds_t)n, timeout_ms);
  if (r < 0)
    return errno == EINTR ? 0 : pl_last_error();
  return r;
}
#endif

typedef struct pl_sock {
  roi__sockmap_node node; /* key: the socket */
  uint64_t token;
  uint32_t interest;
  int disarmed; /* one-shot fired, or a hang-up/error was reported */
  int closed;   /* POLLNVAL: closed while registered */
  size_t index; /* position in pl_poller.socks */
} pl_sock;

typedef struct pl_poller {
  roi_poller base;
  roi__sockmap map;
  roi__pool pool;
  roi__wakeq wakeq;
  pl_sock **socks; /* the registered records, dense */
  size_t nsocks, socks_cap;
  pl_pollfd *fds;  /* rebuilt on every wait; fds[0] is the wake channel */
  pl_sock **owner; /* owner[i] is the record of fds[i] (NULL for slot 0) */
  size_t fds_cap;
  size_t cursor; /* where the next scan of ready sockets starts */
  roi_socket wake_rd, wake_wr;
  uint64_t polls;
} pl_poller;

#ifdef _WIN32
#define PL_CONNECT_CHECK_MS 500
#endif

static pl_poller *to_pl(roi_poller *p) {
  return (pl_poller *)(void *)p;
}

/* The wake channel: a pipe, or a socket pair where only sockets can be polled. */
#ifdef _WIN32
static int wake_open(pl_poller *pl) {
  roi_socket pair[2];
  int err = roi_sock_pair_tcp(pair);
  if (err)
    return err;
  pl->wake_wr = pair[0];
  pl->wake_rd = pair[1];
  return 0;
}
#else
static int wake_open(pl_poller *pl) {
  int fds[2];
  if (pipe(fds) != 0)
    return pl_last_error();
  (void)fcntl(fds[0], F_SETFL, O_NONBLOCK);
  (void)fcntl(fds[1], F_SETFL, O_NONBLOCK);
  (void)fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  (void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  pl->wake_rd = fds[0];
  pl->wake_wr = fds[1];
  return 0;
}
#endif

static void wake_signal(pl_poller *pl) {
  char b = 1;
#ifdef _WIN32
  /* WSAEWOULDBLOCK means bytes are already waiting: the signal is there. */
  (void)send(pl->wake_wr, &b, 1, 0);
#else
  ssize_t r;
  do
    r = write(pl->wake_wr, &b, 1);
  while (r < 0 && errno == EINTR);
#endif
}

static void wake_drain(pl_poller *pl) {
  char buf[64];
#ifdef _WIN32
  while (recv(pl->wake_rd, buf, sizeof buf, 0) > 0) {
  }
#else
  while (read(pl->wake_rd, buf, sizeof buf) > 0) {
  }
#endif
}

static void wake_close(pl_poller *pl) {
#ifdef _WIN32
  roi_sock_close(pl->wake_rd);
  roi_sock_close(pl->wake_wr);
#else
  if (pl->wake_rd >= 0)
    close(pl->wake_rd);
  if (pl->wake_wr >= 0)
    close(pl->wake_wr);
#endif
  pl->wake_rd = pl->wake_wr = ROI_INVALID_SOCKET;
}

/* ROI_EBADF for a closed descriptor, ROI_ENOTSOCK for a non-socket. */
static int check_socket(roi_socket s) {
#ifdef _WIN32
  return roi__winsock_check(s);
#else
  int type;
  socklen_t len = sizeof type;
  if (getsockopt(s, SOL_SOCKET, SO_TYPE, &type, &len) != 0)
    return pl_last_error();
  return 0;
#endif
}

static int pl_create(roi_poller **out) {
  pl_poller *pl = calloc(1, sizeof *pl);
  int err;
  if (!pl)
    return ROI_ENOMEM;
  pl->wake_rd = pl->wake_wr = ROI_INVALID_SOCKET;
  roi__sockmap_init(&pl->map);
  roi__pool_init(&pl->pool, sizeof(pl_sock));
  err = roi__wakeq_init(&pl->wakeq);
  if (err)
    goto fail;
  err = wake_open(pl);
  if (err)
    goto fail;
  *out = &pl->base;
  return 0;
fail:
  roi__wakeq_free(&pl->wakeq);
  free(pl);
  return err;
}

static void pl_close(roi_poller *p) {
  pl_poller *pl = to_pl(p);
  size_t i;
  for (i = 0; i < pl->nsocks; i++)
    roi__pool_free(&pl->pool, pl->socks[i]);
  roi__sockmap_free(&pl->map);
  free(pl->socks);
  free(pl->fds);
  free(pl->owner);
  pl->socks = NULL;
  pl->fds = NULL;
  pl->owner = NULL;
  pl->nsocks = pl->socks_cap = pl->fds_cap = 0;
  wake_close(pl);
  roi__wakeq_free(&pl->wakeq);
}

static void pl_free(roi_poller *p) {
  free(to_pl(p));
}

static pl_sock *find(pl_poller *pl, roi_socket s) {
  roi__sockmap_node *n = roi__sockmap_find(&pl->map, (uint64_t)s);
  return n ? ROI__CONTAINER_OF(n, pl_sock, node) : NULL;
}

static int pl_add(roi_poller *p, roi_socket s, uint32_t interest, uint64_t token) {
  pl_poller *pl = to_pl(p);
  pl_sock *rec;
  int err;
  if (find(pl, s))
    return ROI_EEXIST;
  err = check_socket(s);
  if (err)
    return err;
  if (pl->nsocks == pl->socks_cap) {
    size_t cap = pl->socks_cap ? pl->socks_cap * 2 : 64;
    pl_sock **socks = realloc(pl->socks, cap * sizeof *socks);
    if (!socks)
      return ROI_ENOMEM;
    pl->socks = socks;
    pl->socks_cap = cap;
  }
  rec = roi__pool_alloc(&pl->pool);
  if (!rec)
    return ROI_ENOMEM;
  rec->node.key = (uint64_t)s;
  rec->token = token;
  rec->interest = interest;
  err = roi__sockmap_insert(&pl->map, &rec->node);
  if (err) {
    roi__pool_free(&pl->pool, rec);
    return err;
  }
  rec->index = pl->nsocks;
  pl->socks[pl->nsocks++] = rec;
  return 0;
}

static int pl_modify(roi_poller *p, roi_socket s, uint32_t interest, uint64_t token) {
  pl_sock *rec = find(to_pl(p), s);
  if (!rec)
    return ROI_ENOENT;
  if (rec->closed)
    return ROI_EBADF; /* POLLNVAL was seen: closed while registered */
  rec->token = token;
  rec->interest = interest;
  rec->disarmed = 0;
  return 0;
}

static int pl_remove(roi_poller *p, roi_socket s) {
  pl_poller *pl = to_pl(p);
  pl_sock *rec = find(pl, s), *last;
  if (!rec)
    return ROI_ENOENT;
  /* Swap the last record into the hole to keep the array dense. */
  last = pl->socks[--pl->nsocks];
  pl->socks[rec->index] = last;
  last->index = rec->index;
  roi__sockmap_remove(&pl->map, &rec->node);
  roi__pool_free(&pl->pool, rec);
  return 0;
}

static short to_poll(uint32_t interest) {
  short e = 0;
  if (interest & ROI_POLL_READABLE)
    e |= PL_IN;
  if (interest & ROI_POLL_WRITABLE)
    e |= PL_OUT;
  if (interest & ROI_POLL_RDHUP)
    e |= PL_RDHUP;
  return e;
}

/* Makes room for n descriptors in fds and owner. */
static int reserve_fds(pl_poller *pl, size_t n) {
  pl_pollfd *fds;
  pl_sock **owner;
  size_t cap = pl->fds_cap ? pl->fds_cap : 64;
  if (n <= pl->fds_cap)
    return 0;
  while (cap < n)
    cap *= 2;
  fds = realloc(pl->fds, cap * sizeof *fds);
  if (!fds)
    return ROI_ENOMEM;
  pl->fds = fds;
  owner = realloc(pl->owner, cap * sizeof *owner);
  if (!owner)
    return ROI_ENOMEM;
  pl->owner = owner;
  pl->fds_cap = cap;
  return 0;
}

/* The socket's pending error. Wine's WSAPoll reports a reset connection with
 * SO_ERROR still 0; a one-byte MSG_PEEK then tells the reason without
 * consuming data. */
static int socket_error(roi_socket s) {
  int err = roi_sock_error(s);
#ifdef _WIN32
  if (err == 0) {
    char c;
    if (recv((SOCKET)s, &c, 1, MSG_PEEK) == SOCKET_ERROR &&
        WSAGetLastError() != WSAEWOULDBLOCK)
      err = pl_last_error();
  }
#endif
  return err;
}

/* Turns one descriptor's revents into an event; returns 1 if there is one. */
static int translate(pl_sock *rec, short re, roi_poll_event *out) {
  uint32_t ev = 0;
  out->error = 0;
  if (re & POLLNVAL) {
    rec->closed = 1;
    return 0;
  }
  if (re & (PL_IN | POLLIN))
    ev |= ROI_POLL_READABLE;
  if (re & (PL_OUT | POLLOUT))
    ev |= ROI_POLL_WRITABLE;
#if PL_RDHUP
  if (re & PL_RDHUP)
    ev |= ROI_POLL_RDHUP | ROI_POLL_READABLE;
#endif
  if (re & POLLERR) {
    ev |= ROI_POLL_ERROR;
    out->error = socket_error((roi_socket)rec->node.key);
  }
  if (re & POLLHUP) {
#ifdef _WIN32
    /* WSAPoll: POLLHUP is also a graceful close by the peer. */
    if (!(ev & ROI_POLL_ERROR)) {
      int err = socket_error((roi_socket)rec->node.key);
      if (err == 0) {
        ev |= ROI_POLL_RDHUP | ROI_POLL_READABLE;
      } else {
        ev |= ROI_POLL_HANGUP | ROI_POLL_ERROR;
        out->error = err;
      }
    } else {
      /* POLLHUP with POLLERR is WSAPoll's report of an aborted connection; the
       * afd backend maps AFD_POLL_ABORT the same way. Wine leaves SO_ERROR at
       * 0 there (NOTES.md), so the reason is supplied here. */
      ev |= ROI_POLL_HANGUP;
      if (out->error == 0)
        out->error = ROI_ECONNRESET;
    }
#else
    ev |= ROI_POLL_HANGUP;
#endif
  }
  ev = roi__filter_events(ev, rec->interest);
  if (ev & (ROI_POLL_HANGUP | ROI_POLL_ERROR))
    rec->disarmed = 1;
  else if (ev && (rec->interest & ROI_POLL_ONESHOT))
    rec->disarmed = 1;
  out->token = rec->token;
  out->events = ev;
  return ev != 0;
}

#ifdef _WIN32
/* 1 when a socket of fds[1..n) waits for WRITABLE (a connect, maybe). */
static int waits_for_writable(const pl_poller *pl, size_t n) {
  size_t i;
  for (i = 1; i < n; i++)
    if (pl->fds[i].events & PL_OUT)
      return 1;
  return 0;
}

/* Reports the sockets of fds[1..n) waiting for WRITABLE whose SO_ERROR is
 * set (a connect that failed without WSAPoll saying so); returns how many. */
static int failed_connects(pl_poller *pl, size_t n, roi_poll_event *events, int max) {
  size_t i;
  int out = 0;
  for (i = 1; i < n && out < max; i++) {
    pl_sock *rec = pl->owner[i];
    int err;
    if (!(rec->interest & ROI_POLL_WRITABLE))
      continue;
    err = roi_sock_error((roi_socket)rec->node.key);
    if (err == 0)
      continue;
    rec->disarmed = 1;
    events[out].token = rec->token;
    events[out].events = roi__filter_events(
        ROI_POLL_WRITABLE | ROI_POLL_HANGUP | ROI_POLL_ERROR, rec->interest);
    events[out].error = err;
    out++;
  }
  return out;
}
#endif

/* Polls fds[0..n) and returns what the poll returned. On Windows, while
 * sockets wait for WRITABLE, it sleeps at most PL_CONNECT_CHECK_MS at a time
 * and checks them for a failed connect in between, up to the caller's
 * timeout; when it finds one it writes the events, sets *found to their
 * number and returns 0. */
static int poll_checking_connects(pl_poller *pl, size_t n, int timeout_ms,
                                  roi_poll_event *events, int max, int *found) {
#ifdef _WIN32
  uint64_t deadline;
  *found = 0;
  if (max <= 0 || !waits_for_writable(pl, n))
    return pl_poll(pl->fds, n, timeout_ms);
  deadline = timeout_ms >= 0 ? roi__now_ms() + (uint64_t)timeout_ms : UINT64_MAX;
  for (;;) {
    uint64_t now = roi__now_ms();
    int slice = PL_CONNECT_CHECK_MS, r;
    if (deadline != UINT64_MAX && deadline - now < (uint64_t)slice)
      slice = now >= deadline ? 0 : (int)(deadline - now);
    r = pl_poll(pl->fds, n, slice);
    if (r != 0)
      return r;
    *found = failed_connects(pl, n, events, max);
    if (*found > 0 || roi__now_ms() >= deadline)
      return 0;
  }
#else
  (void)events;
  (void)max;
  *found = 0;
  return pl_poll(pl->fds, n, timeout_ms);
#endif
}

static int pl_wait(roi_poller *p, roi_poll_event *events, int max, int timeout_ms) {
  pl_poller *pl = to_pl(p);
  size_t i, n = 1, start;
  int out, r, err, found;
  out = roi__wakeq_pop_first(&pl->wakeq, events, max, &timeout_ms);
  if (out == max)
    return out;
  err = reserve_fds(pl, pl->nsocks + 1);
  if (err)
    return out > 0 ? out : err;
  pl->fds[0].fd = pl->wake_rd;
  pl->fds[0].events = PL_IN;
  pl->fds[0].revents = 0;
  pl->owner[0] = NULL;
  /* Start the array at a rotating place so that, when more sockets are ready
   * than max, the ones left out this time come first next time. */
  start = pl->nsocks ? pl->cursor % pl->nsocks : 0;
  for (i = 0; i < pl->nsocks; i++) {
    pl_sock *rec = pl->socks[(start + i) % pl->nsocks];
    if (rec->disarmed || rec->closed)
      continue;
    pl->fds[n].fd = (roi_socket)rec->node.key;
    pl->fds[n].events = to_poll(rec->interest);
    pl->fds[n].revents = 0;
    pl->owner[n] = rec;
    n++;
  }
  pl->cursor++;
  pl->polls++;
  r = poll_checking_connects(pl, n, timeout_ms, events + out, max - out, &found);
  if (r < 0)
    return out > 0 ? out : r;
  if (found > 0)
    return out + found; /* failed connects WSAPoll did not report */
  if (pl->fds[0].revents)
    wake_drain(pl);
  for (i = 1; i < n && out < max && r > 0; i++) {
    if (!pl->fds[i].revents)
      continue;
    out += translate(pl->owner[i], pl->fds[i].revents, &events[out]);
  }
  if (out < max)
    out += roi__wakeq_pop(&pl->wakeq, events + out, max - out);
  return out;
}

static int pl_wake(roi_poller *p, uint64_t payload) {
  pl_poller *pl = to_pl(p);
  int signal = 0, err = roi__wakeq_push(&pl->wakeq, payload, &signal);
  if (err)
    return err;
  if (signal)
    wake_signal(pl);
  return 0;
}

static void pl_stats(const roi_poller *p, roi_poller_stats *out) {
  const pl_poller *pl = (const pl_poller *)(const void *)p;
  out->sockets = pl->map.count;
  out->records = pl->pool.records;
  out->blocks = pl->pool.blocks;
  out->submits = pl->polls;
}

const roi__backend roi__backend_poll = {
    "poll",    pl_create, pl_close, pl_free, pl_add,
    pl_modify, pl_remove, pl_wait,  pl_wake, pl_stats,
};
