/*
 * The inside of a roi_message, shared by message.c, frame.c and the engine.
 */
#ifndef ROI_SRC_MESSAGE_INT_H
#define ROI_SRC_MESSAGE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "roi/message.h"

/* A growable byte buffer; the message owns data. */
typedef struct roi__buf {
  char *data;
  size_t len, cap;
} roi__buf;

/* Appends len bytes; returns 0, ROI_EMSGSIZE past limit, or ROI_ENOMEM. */
int roi__buf_append(roi__buf *b, const void *data, size_t len, size_t limit);

/* Bits of the proto byte. */
#define ROI__PROTO_OPCODE 0x0Fu
#define ROI__PROTO_ORIGIN 0x10u
#define ROI__PROTO_MORE 0x20u
/* tofu's internal bit A: priority (roi_message_set_priority()). */
#define ROI__PROTO_PRIORITY 0x40u
/* tofu's internal bit B: used by no one, refused both ways. */
#define ROI__PROTO_RESERVED 0x80u

/* Whoever keeps count of a message outside it: the engine, for the
 * messages it counts against pool_max, charges to a channel or holds in a
 * send queue. roi_message_destroy() calls release first, so that a message
 * destroyed anywhere gives back what it was counted for. */
typedef struct roi__account roi__account;
struct roi__account {
  void (*release)(roi__account *a, roi_message *m);
};

struct roi_message {
  struct roi_message *next; /* for the engine's queues */
  /* The engine's accounting, kept by roi_message_reset() (engine.c): */
  roi__account *acct; /* who counts this message, or NULL */
  uint32_t hold_gen;  /* the generation of the channel it is charged to */
  uint32_t q_gen;     /* the generation of the channel it is queued on */
  uint32_t q_size;    /* its frame bytes in that channel's send queue */
  uint16_t hold;      /* the channel whose received frame it holds, or 0 */
  uint8_t counted;    /* counted against pool_max */
  uint16_t q_chan;    /* the channel whose send queue counts it (a message
                       * given back to the pool is reset before it is
                       * uncounted, so its own channel field is gone then) */
  uint8_t queued;     /* counted in q_chan's send queue */
  /* Engine-only fields, cleared by roi_message_reset(): */
  void *group;      /* the group that posted it, while in the mailbox */
  void *addr;       /* a resolved roi__open_addr for Hello/Welcome; owned */
  uint8_t cmd;      /* an internal command (ROI__CMD_*), 0 for a message */
  uint8_t fail;     /* a status found at post() to answer with, or 0 */
  uint8_t wire[16]; /* the encoded header while queued for sending */
  uint16_t channel;
  uint8_t proto;
  uint8_t status;
  uint64_t id;
  roi__buf headers;
  roi__buf body;
};

/* Removes every text header with this name. Returns 0, or ROI_EPROTO for a
 * malformed block. */
int roi__message_header_remove(roi_message *m, const char *name);

#endif /* ROI_SRC_MESSAGE_INT_H */
