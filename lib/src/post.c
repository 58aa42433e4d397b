/*
 * roi_group_post(): the checks a message passes before the reactor sees it,
 * the channel numbers, and the address syntax of "~listen_on" and
 * "~connect_to".
 *
 * Everything that can be decided without the network is decided here, in
 * the caller's thread, so that a bad message is refused with its exact
 * status and never reaches the reactor; a host name is resolved here too,
 * since a DNS lookup would stall every channel if the reactor made it.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"
#include "frame.h"
#include "roi/error.h"

/* xorshift64*: channel numbers need to be unpredictable to a casual reader of
 * logs, not secure. */
static uint64_t next_random(roi_engine *e) {
  uint64_t x = e->rng;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  e->rng = x;
  return x * 0x2545F4914F6CDD1Dull;
}

uint16_t roi__number_take(roi_engine *e, roi_group *g) {
  size_t tries;
  uint16_t n;
  if (e->active + e->recent_count >= ROI__CHANNEL_MAX)
    return 0;
  /* At least 1,024 of the 65,534 numbers are never free, so a random probe
   * hits a free one with probability above 1/64 even when nearly all are
   * taken; the linear scan after it bounds the worst case. */
  for (tries = 0; tries < 256; tries++) {
    n = (uint16_t)(1 + next_random(e) % ROI__CHANNEL_MAX);
    if (!e->slots[n].group && !e->slots[n].recent)
      goto found;
  }
  for (n = 1; n <= ROI__CHANNEL_MAX; n++)
    if (!e->slots[n].group && !e->slots[n].recent)
      goto found;
  return 0;
found:
  e->slots[n].group = g;
  /* A new generation: messages still charged to an earlier channel of this
   * number no longer count here. */
  e->slots[n].gen++;
  e->slots[n].held = 0;
  e->slots[n].qbytes = 0;
  e->active++;
  return n;
}

void roi__number_release(roi_engine *e, uint16_t number) {
  roi__slot *s = &e->slots[number];
  assert(s->group);
  s->group = NULL;
  s->chan = NULL;
  e->active--;
  /* The ring holds the last ROI__RECENT closed numbers; the oldest leaves
   * quarantine when a new one enters. */
  if (e->recent_count == ROI__RECENT) {
    e->slots[e->recent[e->recent_pos]].recent = 0;
    e->recent_count--;
  }
  e->recent[e->recent_pos] = number;
  e->recent_pos = (e->recent_pos + 1) % ROI__RECENT;
  e->recent_count++;
  s->recent = 1;
}

/* Copies [p, p + n) into a NUL-terminated buffer of cap bytes. */
static int copy_part(const char *p, size_t n, char *out, size_t cap) {
  if (n == 0 || n >= cap || memchr(p, '\0', n))
    return -1;
  memcpy(out, p, n);
  out[n] = '\0';
  return 0;
}

int roi__address_parse(const char *text, size_t len, roi__open_addr *out) {
  const char *bar = memchr(text, '|', len), *bar2;
  char host[256], port_text[8];
  long port;
  char *end;
  if (!bar)
    return ROI_STATUS_INVALID_ADDRESS;
  if ((size_t)(bar - text) == 3 && memcmp(text, "uds", 3) == 0) {
    /* "uds|" asks for a fresh temporary path, as tofu does; the tag mixes
     * the clock with this call's own buffer, so that threads posting at
     * once get different names without sharing a counter. */
    if (len == 4) {
      if (roi__uds_temp_path(out->path, sizeof out->path,
                             roi__now_ns() ^ (uint64_t)(uintptr_t)out << 16) != 0)
        return ROI_STATUS_INVALID_ADDRESS;
    } else if (copy_part(bar + 1, len - 4, out->path, sizeof out->path) != 0) {
      return ROI_STATUS_INVALID_ADDRESS;
    }
    if (roi__addr_uds(out->path, &out->addr) != 0)
      return ROI_STATUS_INVALID_ADDRESS;
    return 0;
  }
  if ((size_t)(bar - text) != 3 || memcmp(text, "tcp", 3) != 0)
    return ROI_STATUS_INVALID_ADDRESS;
  bar2 = memchr(bar + 1, '|', len - 4);
  if (!bar2 || copy_part(bar2 + 1, (size_t)(text + len - bar2 - 1), port_text,
                         sizeof port_text) != 0)
    return ROI_STATUS_INVALID_ADDRESS;
  /* An empty host is tofu's "all interfaces": IPv4's any address (a connect
   * to it reaches this host on Linux, as tofu's does). */
  if (bar2 == bar + 1)
    memcpy(host, "0.0.0.0", sizeof "0.0.0.0");
  else if (copy_part(bar + 1, (size_t)(bar2 - bar - 1), host, sizeof host) != 0)
    return ROI_STATUS_INVALID_ADDRESS;
  port = strtol(port_text, &end, 10);
  if (*end != '\0' || port < 0 || port > 65535 || port_text[0] < '0' || port_text[0] > '9')
    return ROI_STATUS_INVALID_ADDRESS;
  out->path[0] = '\0';
  switch (roi__addr_tcp(host, (int)port, &out->addr)) {
  case 0:
    return 0;
  case ROI_ENOTFOUND:
    /* Well formed but unknown: answered later, through the group. */
    return -ROI_STATUS_INVALID_ADDRESS;
  default:
    return ROI_STATUS_INVALID_ADDRESS;
  }
}

/* The checks of the fields alone: 0 or the refusing status. */
static int check_fields(const roi_message *m) {
  int op = m->proto & ROI__PROTO_OPCODE;
  if (op > ROI_OP_WELCOME_RESPONSE)
    return ROI_STATUS_INVALID_OP_CODE;
  /* WelcomeResponse is the engine's answer; bit 7 is used by no one. (The
   * origin bit was cleared already, as tofu's check_and_prepare does.) */
  if (op == ROI_OP_WELCOME_RESPONSE || (m->proto & ROI__PROTO_RESERVED))
    return ROI_STATUS_NOT_ALLOWED;
  if ((m->proto & ROI__PROTO_MORE) && op > ROI_OP_SIGNAL)
    return ROI_STATUS_INVALID_MORE_USAGE;
  if (m->id == 0 &&
      (op == ROI_OP_RESPONSE || op == ROI_OP_HELLO_RESPONSE || op == ROI_OP_BYE_RESPONSE))
    return ROI_STATUS_INVALID_MESSAGE_ID;
  if (op == ROI_OP_HELLO_REQUEST || op == ROI_OP_WELCOME_REQUEST)
    return m->channel != 0 ? ROI_STATUS_INVALID_CHANNEL_NUMBER : 0;
  return m->channel == 0 || m->channel > ROI__CHANNEL_MAX
             ? ROI_STATUS_INVALID_CHANNEL_NUMBER
             : 0;
}

/* 1 for a ByeSignal with priority: it closes its channel at once, locally,
 * instead of travelling (tofu's rule). */
static int closes_now(const roi_message *m) {
  return (m->proto & ROI__PROTO_OPCODE) == ROI_OP_BYE_SIGNAL &&
         (m->proto & ROI__PROTO_PRIORITY);
}

/* 1 when m does not fit its channel's send queue [L held]. A queue holding
 * nothing takes any one message, so that a send_queue_max below the largest
 * frame never stops a channel for good. */
static int queue_full(const roi_engine *e, const roi_message *m) {
  size_t q = e->slots[m->channel].qbytes;
  return q > 0 && q + roi__frame_size(m) > e->send_max;
}

/* For a Hello or Welcome request: reads its address header into a new
 * roi__addr owned by m (m->addr), or marks m to be answered with a status
 * (m->fail). Returns 0, a refusing status, or ROI_ENOMEM. */
static int prepare_address(roi_message *m) {
  int op = m->proto & ROI__PROTO_OPCODE, rc;
  const char *name =
      op == ROI_OP_HELLO_REQUEST ? ROI_HEADER_CONNECT_TO : ROI_HEADER_LISTEN_ON;
  roi_header h;
  roi__open_addr *a;
  if (roi_message_header_find(m, name, &h) != 1)
    return ROI_STATUS_WRONG_ADDRESS;
  a = malloc(sizeof *a);
  if (!a)
    return ROI_ENOMEM;
  rc = roi__address_parse(h.value, h.value_len, a);
  if (rc > 0) {
    free(a);
    return rc;
  }
  if (rc < 0) {
    free(a);
    m->fail = (uint8_t)-rc;
    return 0;
  }
  free(m->addr);
  m->addr = a;
  return 0;
}

int roi_group_post(roi_group *g, roi_message **msg, roi_post_info *info) {
  roi_engine *e;
  roi_message *m;
  int op, rc, wake;
  if (!g || !msg || !*msg)
    return ROI_EINVAL;
  e = g->e;
  m = *msg;
  /* As tofu's check_and_prepare: what the application sends is the
   * application's (origin cleared) and carries no status; a refusal below
   * writes its reason there. */
  m->proto &= (uint8_t)~ROI__PROTO_ORIGIN;
  m->status = ROI_STATUS_SUCCESS;
  rc = check_fields(m);
  op = m->proto & ROI__PROTO_OPCODE;
  if (!rc && (op == ROI_OP_HELLO_REQUEST || op == ROI_OP_WELCOME_REQUEST))
    rc = prepare_address(m);
  if (rc == ROI_ENOMEM)
    return rc;
  if (rc)
    goto refuse;
  /* A message another engine counts: that engine lets go of it first. */
  if (m->acct && m->acct != &e->acct)
    m->acct->release(m->acct, m);
  roi__mutex_lock(e->lock);
  if (e->stopping || g->closing) {
    roi__mutex_unlock(e->lock);
    return ROI_ECLOSED;
  }
  if (op == ROI_OP_HELLO_REQUEST || op == ROI_OP_WELCOME_REQUEST) {
    m->channel = roi__number_take(e, g);
    if (m->channel == 0) {
      roi__mutex_unlock(e->lock);
      rc = ROI_STATUS_INVALID_CHANNEL_NUMBER;
      goto refuse;
    }
  } else if (e->slots[m->channel].group != g) {
    /* Another group's channel is tofu's invalid_group; a number no channel
     * has is invalid_channel_number. */
    rc = e->slots[m->channel].group ? ROI_STATUS_INVALID_GROUP
                                    : ROI_STATUS_INVALID_CHANNEL_NUMBER;
    roi__mutex_unlock(e->lock);
    goto refuse;
  } else if (!closes_now(m) && queue_full(e, m)) {
    roi__mutex_unlock(e->lock);
    rc = ROI_STATUS_SEND_QUEUE_FULL;
    goto refuse;
  }
  if (m->id == 0)
    m->id = e->next_id++;
  if (info) {
    info->channel = m->channel;
    info->id = m->id;
  }
  m->group = g;
  /* A ByeSignal that closes at once is never sent: it takes no room. */
  if (!closes_now(m))
    roi__queue_count(e, m);
  wake = roi__mailbox_push(e, m);
  roi__mutex_unlock(e->lock);
  /* Outside the lock, so that the woken reactor does not find it held (a
   * post may not race roi_engine_destroy(), so the poller is still there). */
  if (wake)
    (void)roi_poller_wake(e->poller, 1);
  *msg = NULL;
  return 0;
refuse:
  /* As in tofu, the refused message keeps the reason in its status byte. */
  m->status = (uint8_t)rc;
  return ROI_ESTATUS(rc);
}
