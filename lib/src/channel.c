/*
 * One channel's socket work, in the reactor thread: opening (listen,
 * connect, accept, and backing off when accepts fail for lack of
 * descriptors), reading and cutting frames (and refusing what a peer may not
 * send), writing queued frames with gathered sends, pausing for the channel's
 * share of the pool and stalling for a full send queue, timing out, and
 * closing with every queued message given back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "frame.h"
#include "roi/error.h"

/* Accepts per readiness event, so one busy listener cannot starve the rest. */
#define ACCEPTS_PER_EVENT 64
/* Bytes gathered into one send; frames are at most 128 KiB each. */
#define SEND_BATCH (1024u * 1024u)
/* The largest piece of a message copied into the staging buffer to be sent
 * (see gather()). */
#define COPY_MAX 2048
/* The most frames cut, and messages taken from the pool for them, at once
 * (their descriptions live on the reactor's stack). */
#define TAKE_BATCH 128

/* Marks a message as coming back from the engine with a status. */
static void set_engine_status(roi_message *m, int status) {
  m->proto |= ROI__PROTO_ORIGIN;
  m->status = (uint8_t)status;
}

/* The Signal that ends every channel number post() or accept handed out. */
static void deliver_closed(roi_group *g, roi_message *sig, uint16_t number, uint64_t id,
                           int reason) {
  char text[8];
  roi_message_reset(sig);
  roi__signal_set(sig, ROI_STATUS_CHANNEL_CLOSED, number, id);
  snprintf(text, sizeof text, "%d", reason);
  /* Out of memory for the header still leaves the signal itself. */
  (void)roi_message_header_add(sig, ROI_HEADER_REASON, text);
  roi__group_deliver(g, sig);
}

static void release_number(roi_engine *e, uint16_t number) {
  roi__mutex_lock(e->lock);
  roi__number_release(e, number);
  roi__mutex_unlock(e->lock);
}

/* A Hello or Welcome that could not open its channel: the request comes back
 * as a HelloResponse or WelcomeResponse with the status, then
 * channel_closed. */
static void fail_open(roi_engine *e, roi_message *m, int status) {
  roi_group *g = m->group;
  uint16_t number = m->channel;
  uint64_t id = m->id;
  roi_message *sig = NULL;
  /* The request comes back as its response, as tofu answers a Hello or
   * Welcome that fails at once (Reactor.zig, sendHelloRequest). */
  m->proto = (uint8_t)((m->proto & ~ROI__PROTO_OPCODE) |
                       ((m->proto & ROI__PROTO_OPCODE) == ROI_OP_WELCOME_REQUEST
                            ? ROI_OP_WELCOME_RESPONSE
                            : ROI_OP_HELLO_RESPONSE));
  set_engine_status(m, status);
  free(m->addr);
  m->addr = NULL;
  roi__group_deliver(g, m);
  release_number(e, number);
  if (roi_message_create(&sig) == 0)
    deliver_closed(g, sig, number, id, status);
}

/* Makes a channel and registers its socket. On failure the socket is closed
 * and NULL returned; the number stays with the caller. */
static roi__chan *chan_new(roi_engine *e, uint16_t number, roi_group *g, int kind,
                           roi_socket s, uint32_t interest) {
  roi__chan *c = calloc(1, sizeof *c);
  if (!c)
    goto fail_sock;
  if (roi_message_create(&c->closed) != 0)
    goto fail_chan;
  c->number = number;
  c->kind = (uint8_t)kind;
  c->sock = s;
  c->group = g;
  c->serial = ++e->serial;
  c->interest = interest;
  c->hello_seen = kind != ROI__CHAN_SERVER;
  if (roi_poller_add(e->poller, s, interest, roi__chan_token(c)) != 0)
    goto fail_chan;
  c->gnext = g->chans;
  if (g->chans)
    g->chans->gprev = c;
  g->chans = c;
  e->slots[number].chan = c;
  return c;
fail_chan:
  roi_message_destroy(c->closed);
  free(c);
fail_sock:
  roi_sock_close(s);
  return NULL;
}

/* The status a failed listen answers with. */
static int listen_status(int err) {
  return err == ROI_EADDRNOTAVAIL || err == ROI_EAFNOSUPPORT ? ROI_STATUS_INVALID_ADDRESS
                                                             : ROI_STATUS_LISTEN_FAILED;
}

/* Rewrites "~listen_on" to name the real address: the port the system
 * chose for port 0, 0.0.0.0 for tofu's empty "all interfaces" host, the
 * path made for an empty AF_UNIX one. */
static void name_listener(roi_message *m, roi_socket s, const roi__open_addr *oa) {
  roi_header h;
  char value[300];
  const char *bar;
  int port;
  if (roi_message_header_find(m, ROI_HEADER_LISTEN_ON, &h) != 1)
    return;
  if (oa->addr.is_unix) {
    snprintf(value, sizeof value, "uds|%s", oa->path);
  } else {
    port = roi_sock_local_port(s);
    bar = h.value_len > 4 ? memchr(h.value + 4, '|', h.value_len - 4) : NULL;
    if (port <= 0 || !bar || (size_t)(bar - h.value) > 260)
      return;
    if (bar == h.value + 4)
      snprintf(value, sizeof value, "tcp|0.0.0.0|%d", port);
    else
      snprintf(value, sizeof value, "%.*s|%d", (int)(bar - h.value), h.value, port);
  }
  if (roi__message_header_remove(m, ROI_HEADER_LISTEN_ON) == 0)
    (void)roi_message_header_add(m, ROI_HEADER_LISTEN_ON, value);
}

static void open_listener(roi_engine *e, roi_message *m) {
  const roi__open_addr *oa = m->addr;
  const roi__addr *a = &oa->addr;
  const char *path = oa->path;
  roi_socket s;
  roi__chan *c;
  int err = roi__sock_listen_addr(a, &s);
  if (err) {
    fail_open(e, m, listen_status(err));
    return;
  }
  c = chan_new(e, m->channel, m->group, ROI__CHAN_LISTENER, s, ROI_POLL_READABLE);
  if (!c) {
    if (a->is_unix)
      roi__uds_unlink(path);
    fail_open(e, m, ROI_STATUS_LISTEN_FAILED);
    return;
  }
  c->id = m->id;
  if (a->is_unix) {
    size_t n = strlen(path) + 1;
    c->uds_path = malloc(n);
    if (c->uds_path)
      memcpy(c->uds_path, path, n);
  }
  name_listener(m, s, oa);
  m->proto = ROI_OP_WELCOME_RESPONSE | ROI__PROTO_ORIGIN;
  m->status = ROI_STATUS_SUCCESS;
  free(m->addr);
  m->addr = NULL;
  roi__group_deliver(m->group, m);
}

/* Puts an application message on the channel's send queue. */
static void enqueue(roi_engine *e, roi__chan *c, roi_message *m) {
  roi__frame_header h;
  roi__frame_header_of(m, &h);
  roi__frame_header_encode(&h, m->wire);
  c->sendq_bytes += roi__frame_size(m);
  m->next = NULL;
  m->group = NULL;
  if (m->proto & ROI__PROTO_PRIORITY) {
    /* Ahead of every message that has not begun to go out, behind the
     * priority messages queued before it (tofu pushes each to the front,
     * which reverses them; roi keeps their order). */
    roi_message **at = &c->sendq;
    if (*at &&
        (c->send_off > 0 || ((*at)->proto & ROI__PROTO_OPCODE) == ROI_OP_HELLO_REQUEST))
      at = &(*at)->next; /* begun, or the Hello that must open the stream */
    while (*at && ((*at)->proto & ROI__PROTO_PRIORITY))
      at = &(*at)->next;
    m->next = *at;
    *at = m;
    if (!m->next)
      c->sendq_tail = m;
  } else if (c->sendq) {
    c->sendq_tail->next = m;
    c->sendq_tail = m;
  } else {
    c->sendq = c->sendq_tail = m;
  }
  roi__reactor_dirty(e, c);
}

static void open_client(roi_engine *e, roi_message *m) {
  const roi__addr *a = &((const roi__open_addr *)m->addr)->addr;
  roi_socket s;
  roi__chan *c;
  int err = roi__sock_connect_addr(a, &s);
  if (err) {
    fail_open(e, m,
              a->is_unix && err == ROI_ENOENT ? ROI_STATUS_UDS_PATH_NOT_FOUND
                                              : ROI_STATUS_CONNECT_FAILED);
    return;
  }
  c = chan_new(e, m->channel, m->group, ROI__CHAN_CLIENT, s, ROI_POLL_WRITABLE);
  if (!c) {
    fail_open(e, m, ROI_STATUS_CONNECT_FAILED);
    return;
  }
  c->id = m->id;
  c->connecting = 1;
  roi__timer_set(e, c, ROI__TIMER_CONNECT, e->connect_timeout_ms);
  free(m->addr);
  m->addr = NULL;
  /* The Hello leaves once the connect completes. */
  enqueue(e, c, m);
}

void roi__chan_open(roi_engine *e, roi_message *m) {
  if (m->fail || !m->addr)
    fail_open(e, m, m->fail ? m->fail : ROI_STATUS_INVALID_ADDRESS);
  else if ((m->proto & ROI__PROTO_OPCODE) == ROI_OP_WELCOME_REQUEST)
    open_listener(e, m);
  else
    open_client(e, m);
}

void roi__chan_post(roi_engine *e, roi_message *m) {
  roi__chan *c = e->slots[m->channel].chan;
  int op = m->proto & ROI__PROTO_OPCODE;
  if (!c || c->group != m->group) {
    /* It closed after post() accepted the message. */
    roi_group *g = m->group;
    set_engine_status(m, ROI_STATUS_CHANNEL_CLOSED);
    roi__group_deliver(g, m);
    return;
  }
  if (op == ROI_OP_BYE_SIGNAL && (m->proto & ROI__PROTO_PRIORITY)) {
    roi__engine_give(e, m);
    roi__chan_close(e, c, ROI_STATUS_CHANNEL_CLOSED, 1);
    return;
  }
  if (c->kind == ROI__CHAN_LISTENER) {
    set_engine_status(m, ROI_STATUS_NOT_ALLOWED);
    roi__group_deliver(c->group, m);
    return;
  }
  if (op == ROI_OP_BYE_RESPONSE)
    c->close_after = 1;
  enqueue(e, c, m);
}

/* Stops reading until the channel may take messages again (its share or the
 * pool), and tells the group. */
static void pause_reading(roi_engine *e, roi__chan *c) {
  roi_message *sig = NULL;
  c->paused = 1;
  /* A channel that closed while paused leaves a stale entry behind, which
   * resume_paused() skips; should such entries ever fill the list, the ones
   * that no longer name a paused channel are dropped first. */
  if (e->npaused_list == ROI__CHANNELS) {
    size_t i, kept = 0;
    for (i = 0; i < e->npaused_list; i++) {
      roi__chan *p = e->slots[e->paused_list[i]].chan;
      if (p && p->paused)
        e->paused_list[kept++] = e->paused_list[i];
    }
    e->npaused_list = kept;
  }
  e->paused_list[e->npaused_list++] = c->number;
  roi__mutex_lock(e->lock);
  e->paused++;
  /* A message may have come back between the failed take and now. */
  if (e->pool)
    e->resume_wanted = 1;
  roi__mutex_unlock(e->lock);
  roi__reactor_dirty(e, c);
  /* One Signal per episode (see parse_frames()). */
  if (!c->signalled && roi_message_create(&sig) == 0) {
    c->signalled = 1;
    roi__signal_set(sig, ROI_STATUS_POOL_EMPTY, c->number, 0);
    roi__group_deliver(c->group, sig);
  }
}

/* The status that closes channel c for a well-formed frame it may not
 * receive, or 0. */
static int frame_refused(const roi__chan *c, const roi__frame_header *h) {
  int op = h->proto & ROI__PROTO_OPCODE;
  /* Welcome messages never travel: a peer sending one is broken. */
  if (op == ROI_OP_WELCOME_REQUEST || op == ROI_OP_WELCOME_RESPONSE)
    return ROI_STATUS_NOT_ALLOWED;
  if (!c->hello_seen && op != ROI_OP_HELLO_REQUEST)
    return ROI_STATUS_HELLO_EXPECTED;
  return 0;
}

/* Keeps the frame timer of a channel that reads: it runs while the bytes
 * kept hold part of a frame, from that frame's first byte (restarted when
 * whole frames were cut since). A channel that does not read (paused,
 * stalled) has no frame timer: the wait is the engine's, not the peer's. The
 * Hello and connect timers, when running, cover the same ground. */
static void frame_timer(roi_engine *e, roi__chan *c, int restart) {
  int partial = c->pending.len > c->pending_off && !c->paused && !c->stalled;
  if (c->timer != ROI__TIMER_NONE && c->timer != ROI__TIMER_FRAME)
    return;
  if (!partial) {
    c->timer = ROI__TIMER_NONE;
    return;
  }
  if (c->timer != ROI__TIMER_FRAME || restart)
    roi__timer_set(e, c, ROI__TIMER_FRAME, e->frame_timeout_ms);
}

/* Cuts every whole frame out of [buf, buf + len), keeps the rest. Returns 0
 * when the channel closed. With kept, buf is the channel's kept bytes
 * themselves.
 *
 * Frames are cut TAKE_BATCH at a time; their messages are taken from the
 * pool together, and they go to the group together, so that a batch costs
 * the reactor two lock round trips however many frames it holds: a round
 * trip per frame was the largest cost of small messages, and one the
 * receiving application's put() and receive fought over. */
static int parse_frames(roi_engine *e, roi__chan *c, const uint8_t *buf, size_t len,
                        int kept) {
  roi__frame f[TAKE_BATCH];
  size_t off = 0;
  int close = 0, pause = 0;
  for (;;) {
    size_t n = 0, at = off, held, i;
    int end = 0; /* the status that closes the channel after these frames */
    roi_message *stock, *out = NULL, **out_end = &out;
    /* Cut and check up to TAKE_BATCH whole frames, once each. */
    while (n < TAKE_BATCH && at < len) {
      int rc = roi__frame_parse(buf + at, len - at, &f[n]);
      if (rc == 0)
        break;
      end = rc < 0 ? -rc : frame_refused(c, &f[n].header);
      if (end)
        break;
      if (!c->hello_seen) {
        /* An accepted connection's whole HelloRequest: it may stay now,
         * even if its delivery waits for the pool (that wait is the
         * engine's). */
        c->hello_seen = 1;
        if (c->timer == ROI__TIMER_HELLO)
          c->timer = ROI__TIMER_NONE;
      }
      at += f[n].size;
      /* A received ByeSignal is the peer's notice, delivered like any
       * message: tofu sends one without the priority bit and keeps the
       * channel open (Reactor.zig, sendBye); the close comes with the
       * peer's FIN. A ByeResponse ends the channel once delivered. */
      if ((f[n++].header.proto & ROI__PROTO_OPCODE) == ROI_OP_BYE_RESPONSE) {
        end = ROI_STATUS_CHANNEL_CLOSED;
        break;
      }
    }
    if (n == 0) {
      close = end;
      break;
    }
    stock = roi__engine_take(e, c, n, &held);
    if (!stock) {
      pause = 1;
      break;
    }
    /* The episode its pool_empty Signal told of ends when the channel holds
     * at most half its share again: a channel that keeps bumping into its
     * share is told once, not once per message. */
    if (held + 1 <= e->share / 2)
      c->signalled = 0;
    for (i = 0; i < n && stock; i++) {
      roi_message *m = stock;
      stock = m->next;
      m->next = NULL;
      if (roi__frame_to_message(&f[i], m) != 0) {
        roi__engine_give(e, m);
        close = ROI_STATUS_ALLOCATION_FAILED;
        break;
      }
      off += f[i].size;
      m->channel = c->number;
      if (c->id == 0)
        c->id = m->id;
      *out_end = m;
      out_end = &m->next;
    }
    if (out)
      roi__group_deliver_list(c->group, out);
    if (stock)
      roi__engine_give_list(e, stock);
    if (close)
      break;
    /* Fewer messages than frames: the next take finds the share or the
     * pool spent and pauses, or goes on with what came back meanwhile. */
    if (i == n && end) {
      close = end;
      break;
    }
  }
  if (close) {
    roi__chan_close(e, c, close, 1);
    return 0;
  }
  if (pause)
    pause_reading(e, c);
  if (kept) {
    /* The bytes were the kept ones: what is left stays where it is. */
    c->pending_off += off;
    if (c->pending_off == c->pending.len)
      c->pending_off = c->pending.len = 0;
  } else {
    c->pending_off = c->pending.len = 0;
    if (off < len && roi__buf_append(&c->pending, buf + off, len - off, (size_t)-1) != 0) {
      roi__chan_close(e, c, ROI_STATUS_ALLOCATION_FAILED, 1);
      return 0;
    }
  }
  frame_timer(e, c, off > 0);
  return 1;
}

/* The status a failed send or receive closes with. */
static int io_status(int err, int fallback) {
  switch (err) {
  case ROI_ECONNRESET:
  case ROI_ECONNABORTED:
  case ROI_EPIPE:
  case ROI_ENOTCONN:
  case ROI_ESHUTDOWN:
    return ROI_STATUS_PEER_DISCONNECTED;
  default:
    return fallback;
  }
}

/* One large receive after the bytes kept from the last one. Returns 1 when
 * more may be waiting, 0 when nothing is (or the channel paused), -1 when the
 * channel closed. */
static int read_some(roi_engine *e, roi__chan *c) {
  size_t kept = c->pending.len - c->pending_off;
  int n;
  if (kept)
    memcpy(e->rbuf, c->pending.data + c->pending_off, kept);
  n = roi_sock_recv(c->sock, e->rbuf + kept, e->rbuf_cap - kept);
  if (n == ROI_EAGAIN)
    return 0;
  if (n == 0) {
    /* The stream ended; inside a frame it ended too early. */
    roi__chan_close(
        e, c, kept ? ROI_STATUS_COMMUNICATION_FAILED : ROI_STATUS_PEER_DISCONNECTED, 1);
    return -1;
  }
  if (n < 0) {
    roi__chan_close(e, c, io_status(n, ROI_STATUS_RECV_FAILED), 1);
    return -1;
  }
  if (!parse_frames(e, c, e->rbuf, kept + (size_t)n, 0))
    return -1;
  return c->paused ? 0 : 1;
}

int roi__chan_resume(roi_engine *e, roi__chan *c) {
  size_t kept = c->pending.len - c->pending_off;
  c->paused = 0;
  roi__mutex_lock(e->lock);
  e->paused--;
  roi__mutex_unlock(e->lock);
  roi__reactor_dirty(e, c);
  /* The kept bytes are parsed where they are: a paused channel may keep
   * most of a large read, and copying it on each resume cost more than the
   * frames it delivered. */
  if (kept &&
      !parse_frames(e, c, (const uint8_t *)c->pending.data + c->pending_off, kept, 1))
    return 0;
  return !c->paused;
}

/* 1 for an accept that failed for lack of descriptors, buffers or memory:
 * the connection stays in the backlog and the listener stays readable, so
 * retrying at once would spin. */
static int accept_shortage(int err) {
  return err == ROI_EMFILE || err == ROI_ENFILE || err == ROI_ENOBUFS || err == ROI_ENOMEM;
}

/* Stops a listener accepting for backoff_ms; the first time in an episode the
 * group is told, with a Signal naming the error. */
static void accept_back_off(roi_engine *e, roi__chan *l, int err) {
  roi_message *sig = NULL;
  int first = !l->episode;
  l->episode = 1;
  roi__timer_set(e, l, ROI__TIMER_BACKOFF, e->backoff_ms);
  roi__reactor_dirty(e, l);
  roi__mutex_lock(e->lock);
  e->backing_off++;
  e->backoffs += (uint64_t)first;
  roi__mutex_unlock(e->lock);
  if (first && roi_message_create(&sig) == 0) {
    roi__signal_set(sig, ROI_STATUS_ACCEPT_FAILED, l->number, l->id);
    /* Out of memory for the header still leaves the signal itself. */
    (void)roi_message_header_add(sig, ROI_HEADER_ERROR, roi_err_name(err));
    roi__group_deliver(l->group, sig);
  }
}

static void accept_some(roi_engine *e, roi__chan *l) {
  int i, test_err;
  roi__mutex_lock(e->lock);
  test_err = e->test_accept_err;
  roi__mutex_unlock(e->lock);
  for (i = 0; i < ACCEPTS_PER_EVENT; i++) {
    roi_socket s;
    uint16_t number;
    roi__chan *c;
    int err = test_err ? test_err : roi_sock_accept(l->sock, &s);
    if (err) {
      /* ROI_EAGAIN ends the batch; other errors (a connection reset in the
       * backlog) are the next readiness's to retry. */
      if (accept_shortage(err))
        accept_back_off(e, l, err);
      return;
    }
    l->episode = 0;
    roi__mutex_lock(e->lock);
    number = roi__number_take(e, l->group);
    roi__mutex_unlock(e->lock);
    if (!number) {
      roi_sock_close(s);
      continue;
    }
    c = chan_new(e, number, l->group, ROI__CHAN_SERVER, s, ROI_POLL_READABLE);
    if (!c)
      release_number(e, number);
    else
      roi__timer_set(e, c, ROI__TIMER_HELLO, e->hello_timeout_ms);
  }
}

void roi__chan_timeout(roi_engine *e, roi__chan *c) {
  int reason;
  switch (c->timer) {
  case ROI__TIMER_CONNECT:
    roi__chan_close(e, c, ROI_STATUS_CONNECT_FAILED, 1);
    return;
  case ROI__TIMER_BACKOFF:
    c->timer = ROI__TIMER_NONE;
    roi__mutex_lock(e->lock);
    e->backing_off--;
    roi__mutex_unlock(e->lock);
    roi__reactor_dirty(e, c);
    return;
  case ROI__TIMER_HELLO:
  case ROI__TIMER_FRAME:
    reason =
        c->timer == ROI__TIMER_HELLO ? ROI_STATUS_HELLO_TIMEOUT : ROI_STATUS_FRAME_TIMEOUT;
    roi__mutex_lock(e->lock);
    e->timeouts++;
    roi__mutex_unlock(e->lock);
    roi__chan_close(e, c, reason, 1);
    return;
  default:
    return;
  }
}

void roi__chan_ready(roi_engine *e, roi__chan *c, uint32_t events, int error) {
  if (c->kind == ROI__CHAN_LISTENER) {
    /* A backing-off listener may still have had an event in this batch. */
    if (c->timer == ROI__TIMER_BACKOFF)
      return;
    if (events & ROI_POLL_READABLE)
      accept_some(e, c);
    else if (events & (ROI_POLL_ERROR | ROI_POLL_HANGUP))
      roi__chan_close(e, c, ROI_STATUS_ACCEPT_FAILED, 1);
    return;
  }
  if (c->connecting) {
    int err = (events & ROI_POLL_ERROR)    ? (error ? error : ROI_ECONNREFUSED)
              : (events & ROI_POLL_HANGUP) ? ROI_ECONNREFUSED
                                           : roi_sock_error(c->sock);
    if (err) {
      roi__chan_close(e, c, ROI_STATUS_CONNECT_FAILED, 1);
      return;
    }
    c->connecting = 0;
    c->timer = ROI__TIMER_NONE;
    roi__reactor_dirty(e, c);
    return;
  }
  if (events & ROI_POLL_ERROR) {
    roi__chan_close(e, c, io_status(error, ROI_STATUS_COMMUNICATION_FAILED), 1);
    return;
  }
  if ((events & (ROI_POLL_READABLE | ROI_POLL_HANGUP)) && !c->paused) {
    int more = read_some(e, c);
    /* A hang-up is reported once: read to the end now. */
    while (more > 0 && (events & ROI_POLL_HANGUP))
      more = read_some(e, c);
    if (more < 0)
      return;
  }
  if (events & ROI_POLL_WRITABLE) {
    c->want_write = 0;
    roi__reactor_dirty(e, c);
  }
}

/* Fills v with the unsent bytes of the queue; returns how many pieces.
 *
 * Pieces of at most COPY_MAX bytes are copied, one after another, into the
 * engine's staging buffer, and go out as one piece: a small message is two
 * pieces (its header and its body), and the kernel's cost of a send grows
 * with its pieces (a profile of 64-byte messages had a tenth of all time in
 * copying from pieces), while a send holds at most ROI__IOV_MAX of them. */
static int gather(roi_engine *e, const roi__chan *c, roi__iov *v) {
  const roi_message *m;
  size_t skip = c->send_off, total = 0, staged = 0;
  int n = 0, last_staged = 0;
  for (m = c->sendq; m && n + 3 <= ROI__IOV_MAX && total < SEND_BATCH; m = m->next) {
    const void *base[3];
    size_t len[3];
    int i;
    base[0] = m->wire;
    len[0] = ROI__FRAME_HEADER_SIZE;
    base[1] = m->headers.data;
    len[1] = m->headers.len;
    base[2] = m->body.data;
    len[2] = m->body.len;
    for (i = 0; i < 3; i++) {
      const char *p = (const char *)base[i] + skip;
      size_t l;
      if (skip >= len[i]) {
        skip -= len[i];
        continue;
      }
      l = len[i] - skip;
      skip = 0;
      total += l;
      if (l <= COPY_MAX && staged + l <= e->sbuf_cap) {
        memcpy(e->sbuf + staged, p, l);
        if (last_staged) {
          v[n - 1].len += l;
        } else {
          v[n].base = e->sbuf + staged;
          v[n].len = l;
          n++;
        }
        staged += l;
        last_staged = 1;
        continue;
      }
      v[n].base = p;
      v[n].len = l;
      n++;
      last_staged = 0;
    }
  }
  return n;
}

/* Drops sent messages from the queue and gives them back to the pool, all
 * under one lock: a gathered send writes hundreds at a time, and a lock per
 * message is what the sending thread's get() and post() contend with. */
static void advance(roi_engine *e, roi__chan *c, size_t sent) {
  roi_message *done = c->sendq, *last = NULL;
  sent += c->send_off;
  while (c->sendq) {
    roi_message *m = c->sendq;
    size_t size = roi__frame_size(m);
    if (sent < size)
      break;
    sent -= size;
    c->sendq_bytes -= size;
    last = m;
    c->sendq = m->next;
  }
  if (last) {
    last->next = NULL;
    roi__engine_give_list(e, done);
  }
  if (!c->sendq)
    c->sendq_tail = NULL;
  c->send_off = sent;
}

/* Writes until the queue is empty or the socket is full. Returns 0 when the
 * channel closed. */
static int flush(roi_engine *e, roi__chan *c) {
  roi__iov v[ROI__IOV_MAX];
  while (c->sendq) {
    int n = roi__sock_sendv(c->sock, v, gather(e, c, v));
    if (n == ROI_EAGAIN) {
      c->want_write = 1;
      return 1;
    }
    if (n < 0) {
      roi__chan_close(e, c, io_status(n, ROI_STATUS_SEND_FAILED), 1);
      return 0;
    }
    advance(e, c, (size_t)n);
  }
  if (c->close_after) {
    roi__chan_close(e, c, ROI_STATUS_CHANNEL_CLOSED, 1);
    return 0;
  }
  return 1;
}

/* Stalls a channel whose send queue is half full (it stops reading, so a
 * peer that sends requests and reads no answers is no longer read), and
 * lets it read again once the queue is below a quarter. Half, not full: the
 * requests already read still have room for their answers. */
static void stall_check(roi_engine *e, roi__chan *c) {
  int stalled =
      c->stalled ? c->sendq_bytes > e->send_max / 4 : c->sendq_bytes >= e->send_max / 2;
  if (stalled == c->stalled)
    return;
  c->stalled = (uint8_t)stalled;
  roi__mutex_lock(e->lock);
  if (stalled)
    e->stalled++;
  else
    e->stalled--;
  roi__mutex_unlock(e->lock);
  frame_timer(e, c, 1);
}

void roi__chan_settle(roi_engine *e, roi__chan *c) {
  uint32_t want;
  if (c->kind == ROI__CHAN_LISTENER) {
    want = c->timer == ROI__TIMER_BACKOFF ? 0u : ROI_POLL_READABLE;
  } else {
    if (!c->connecting && !c->want_write && c->sendq && !flush(e, c))
      return;
    stall_check(e, c);
    if (c->connecting)
      want = ROI_POLL_WRITABLE;
    else
      want = (c->paused || c->stalled ? 0u : ROI_POLL_READABLE) |
             (c->sendq ? ROI_POLL_WRITABLE : 0u);
  }
  if (want != c->interest) {
    if (roi_poller_modify(e->poller, c->sock, want, roi__chan_token(c)) != 0) {
      roi__chan_close(e, c, ROI_STATUS_NOTIFICATION_FAILED, 1);
      return;
    }
    c->interest = want;
  }
}

void roi__chan_close(roi_engine *e, roi__chan *c, int reason, int deliver) {
  roi_group *g = c->group;
  roi_message *m = c->sendq;
  (void)roi_poller_remove(e->poller, c->sock);
  roi_sock_close(c->sock);
  if (c->uds_path)
    roi__uds_unlink(c->uds_path);
  if (c->gprev)
    c->gprev->gnext = c->gnext;
  else
    g->chans = c->gnext;
  if (c->gnext)
    c->gnext->gprev = c->gprev;
  roi__mutex_lock(e->lock);
  if (c->paused)
    e->paused--;
  if (c->stalled)
    e->stalled--;
  if (c->timer == ROI__TIMER_BACKOFF)
    e->backing_off--;
  roi__number_release(e, c->number);
  roi__mutex_unlock(e->lock);
  while (m) {
    roi_message *next = m->next;
    if (deliver) {
      set_engine_status(m, reason);
      roi__group_deliver(g, m);
    } else {
      roi_message_destroy(m);
    }
    m = next;
  }
  if (deliver)
    deliver_closed(g, c->closed, c->number, c->id, reason);
  else
    roi_message_destroy(c->closed);
  free(c->pending.data);
  free(c->uds_path);
  free(c);
}
