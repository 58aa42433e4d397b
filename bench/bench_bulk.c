/*
 * bench_bulk: bulk throughput of one loopback TCP connection driven by roi
 * pollers, against the same connection with blocking send/recv (docs/design.md
 * section 7, "Bulk").
 *
 * A sender thread writes --size byte chunks (default 64 KiB) as fast as it
 * can; the main thread reads them into a buffer of the same size. After
 * --warmup, the bytes received in --seconds are counted; value = bytes per
 * second (mbytes_s in MB/s).
 *
 * --impl roi (the default): both sockets non-blocking, each thread with a
 *   roi poller of its own (--backend picks it). The sender writes until the
 *   send would block, then waits for WRITABLE; the receiver reads until
 *   nothing is left, then waits for READABLE.
 * --impl blocking: both sockets blocking; plain send and recv in a loop.
 *
 * Both use roi_sock_send/recv, so the difference is the poller alone. The
 * data is not checked (the tests do that); the byte count is. At the end the
 * sender shuts its side down and the receiver reads to end of stream, so no
 * thread is ever left blocked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <winsock2.h>
#else
#include <fcntl.h>
#endif

#include "bench_util.h"
#include "platform.h"
#include "roi/error.h"
#include "roi/poller.h"
#include "roi/sock.h"

#define STALL_MS 5000
#define MAX_CHUNK (1 << 20)

typedef struct bench {
  bu_args a;
  int use_roi;
  roi_socket s[2]; /* [0] sends, [1] receives */
  unsigned char *out, *in;
  roi__mutex *lock;
  int stop;   /* under lock: the sender should finish */
  int failed; /* written by the sender before it returns, read after the join */
} bench;

static int set_blocking(roi_socket s) {
#ifdef _WIN32
  u_long off = 0;
  return ioctlsocket((SOCKET)s, FIONBIO, &off) == 0 ? 0 : -1;
#else
  int flags = fcntl(s, F_GETFL);
  return flags < 0 || fcntl(s, F_SETFL, flags & ~O_NONBLOCK) != 0 ? -1 : 0;
#endif
}

/* Waits until s is ready for what interest asks, with the poller p. */
static int wait_ready(bench *b, roi_poller *p) {
  roi_poll_event ev;
  int n = roi_poller_wait(p, &ev, 1, STALL_MS);
  if (n == 1 && !(ev.events & (ROI_POLL_ERROR | ROI_POLL_HANGUP)))
    return 0;
  if (n == 0)
    return bu_fail(&b->a, "no readiness for %d ms", STALL_MS);
  return bu_fail(&b->a, "roi_poller_wait: %s", roi_err_name(n < 0 ? n : ev.error));
}

static int stopping(bench *b) {
  int s;
  roi__mutex_lock(b->lock);
  s = b->stop;
  roi__mutex_unlock(b->lock);
  return s;
}

/* Makes a poller watching s for interest, when the roi variant runs. */
static int poller_for(bench *b, roi_socket s, uint32_t interest, roi_poller **p) {
  int rc;
  *p = NULL;
  if (!b->use_roi)
    return 0;
  rc = roi_poller_create(p, b->a.backend);
  if (rc == 0)
    rc = roi_poller_add(*p, s, interest, 0);
  if (rc != 0)
    return bu_fail(&b->a, "making a poller (%s): %s",
                   b->a.backend ? b->a.backend : "default", roi_err_name(rc));
  return 0;
}

static void sender(void *arg) {
  bench *b = arg;
  roi_poller *p;
  size_t chunk = (size_t)b->a.size, off = 0;
  int rc = poller_for(b, b->s[0], ROI_POLL_WRITABLE, &p);
  while (rc == 0 && !stopping(b)) {
    int n = roi_sock_send(b->s[0], b->out + off, chunk - off);
    if (n > 0) {
      off = (off + (size_t)n) % chunk;
    } else if (n == ROI_EAGAIN && p) {
      rc = wait_ready(b, p);
    } else {
      rc = bu_fail(&b->a, "send: %s", roi_err_name(n));
    }
  }
  if (rc == 0) {
    rc = roi_sock_shutdown_write(b->s[0]);
    if (rc != 0)
      bu_fail(&b->a, "shutdown: %s", roi_err_name(rc));
  }
  roi_poller_destroy(p);
  /* On a failure the receiver would wait for data that never comes: the
   * reset tells it at once. */
  if (rc != 0) {
    b->failed = 1;
    roi_sock_abort(b->s[0]);
    b->s[0] = ROI_INVALID_SOCKET;
  }
}

/* Receives until end of stream; counts the bytes and reports after the
 * measured time. */
static int receiver(bench *b) {
  roi_poller *p;
  bu_meter m;
  double pending = 0; /* bytes not yet given to the meter */
  unsigned long long calls = 0;
  int done, rc = poller_for(b, b->s[1], ROI_POLL_READABLE, &p);
  bu_meter_start(&m);
  while (rc == 0) {
    int n = roi_sock_recv(b->s[1], b->in, (size_t)b->a.size);
    if (n == 0) {
      /* End of stream: the sender finished, as asked or after a failure. */
      if (!b->stop)
        rc = bu_fail(&b->a, "end of stream before the measurement ended");
      break;
    }
    if (n == ROI_EAGAIN && p) {
      rc = wait_ready(b, p);
      continue;
    }
    if (n < 0) {
      rc = bu_fail(&b->a, "recv: %s", roi_err_name(n));
      break;
    }
    pending += n;
    /* The clock is read every 16 reads (a megabyte at most). */
    if (++calls % 16 || b->stop)
      continue;
    done = bu_meter_add(&m, &b->a, pending);
    pending = 0;
    if (!done)
      continue;
    bu_result_meter(&b->a, &m, "B/s");
    roi__mutex_lock(b->lock);
    b->stop = 1; /* only this thread writes it, so reading it above is safe */
    roi__mutex_unlock(b->lock);
  }
  roi_poller_destroy(p);
  return rc;
}

int main(int argc, char **argv) {
  bench b;
  roi__thread *t = NULL;
  int rc;
  memset(&b, 0, sizeof b);
  b.s[0] = b.s[1] = ROI_INVALID_SOCKET;
  b.a.prog = "bench_bulk";
  b.a.figures = "bulk";
  b.a.impls = "roi blocking";
  b.a.figure = "bulk";
  b.a.impl = "roi";
  b.a.size = 65536; /* the default chunk */
  rc = bu_parse(argc, argv, &b.a, 1, MAX_CHUNK);
  if (rc)
    return rc == 1 ? 0 : 2;
  b.use_roi = strcmp(b.a.impl, "roi") == 0;
  b.lock = roi__mutex_new();
  b.out = calloc(1, (size_t)b.a.size);
  b.in = malloc((size_t)b.a.size);
  if (!b.lock || !b.out || !b.in) {
    rc = bu_fail(&b.a, "out of memory");
    goto done;
  }
  rc = roi_sock_pair_tcp(b.s);
  if (rc != 0) {
    rc = bu_fail(&b.a, "roi_sock_pair_tcp: %s", roi_err_name(rc));
    goto done;
  }
  if (!b.use_roi && (set_blocking(b.s[0]) != 0 || set_blocking(b.s[1]) != 0)) {
    rc = bu_fail(&b.a, "cannot make the sockets blocking");
    goto done;
  }
  if (roi__thread_create(&t, sender, &b) != 0) {
    rc = bu_fail(&b.a, "cannot start a thread");
    goto done;
  }
  rc = receiver(&b);
  if (rc != 0) {
    /* The sender may be blocked in send: stopping and a reset free it. */
    roi__mutex_lock(b.lock);
    b.stop = 1;
    roi__mutex_unlock(b.lock);
    roi_sock_abort(b.s[1]);
    b.s[1] = ROI_INVALID_SOCKET;
  }
  roi__thread_join(t);
  if (b.failed)
    rc = 1;
done:
  roi_sock_close(b.s[0]);
  roi_sock_close(b.s[1]);
  free(b.out);
  free(b.in);
  if (b.lock)
    roi__mutex_free(b.lock);
  return rc;
}
