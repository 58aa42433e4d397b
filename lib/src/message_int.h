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

struct roi_message {
  struct roi_message *next; /* for the engine's queues */
  uint16_t channel;
  uint8_t proto;
  uint8_t status;
  uint64_t id;
  roi__buf headers;
  roi__buf body;
};

/* Checks a text-header block: 0, or ROI_EPROTO when a line is malformed. */
int roi__headers_check(const char *data, size_t len);

#endif /* ROI_SRC_MESSAGE_INT_H */
