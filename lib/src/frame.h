/*
 * The wire format of a message (docs/design.md section 4, compatible with tofu):
 * encoding a message's 16-byte header, and cutting complete frames out of
 * received bytes with every length and field checked before it is trusted.
 */
#ifndef ROI_SRC_FRAME_H
#define ROI_SRC_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "message_int.h"

#define ROI__FRAME_HEADER_SIZE 16

/* The header fields as they travel. */
typedef struct roi__frame_header {
  uint16_t channel;
  uint8_t proto;
  uint8_t status;
  uint64_t id;
  uint16_t headers_len;
  uint16_t body_len;
} roi__frame_header;

/* The bytes m takes on the wire: header, text headers and body. */
static inline size_t roi__frame_size(const roi_message *m) {
  return ROI__FRAME_HEADER_SIZE + m->headers.len + m->body.len;
}

/* Writes h as 16 big-endian bytes. */
void roi__frame_header_encode(const roi__frame_header *h,
                              uint8_t out[ROI__FRAME_HEADER_SIZE]);

/* Reads 16 big-endian bytes. */
void roi__frame_header_decode(const uint8_t in[ROI__FRAME_HEADER_SIZE],
                              roi__frame_header *h);

/* The header of message m, lengths included (m's parts are <= 65,535 bytes
 * by construction). */
void roi__frame_header_of(const roi_message *m, roi__frame_header *h);

/* Checks the fields of a header received from a peer. Returns
 * ROI_STATUS_SUCCESS or the status that closes the channel:
 * INVALID_OP_CODE (opcode 10..15), INVALID_MESSAGE_ID (a Response, HelloResponse or
 * ByeResponse with id 0), INVALID_MORE_USAGE (more on a Hello/Bye/Welcome opcode),
 * NOT_ALLOWED (the origin bit or bit 7 set: only the local engine makes
 * engine messages). */
int roi__frame_header_check(const roi__frame_header *h);

/* A complete frame found in a buffer; the pointers point into that buffer. */
typedef struct roi__frame {
  roi__frame_header header;
  const char *headers;
  const uint8_t *body;
  size_t size; /* the whole frame: 16 + headers_len + body_len */
} roi__frame;

/* Looks for one frame at the start of [buf, buf + len).
 * Returns 1 with *out filled when a whole, valid frame is there; 0 when more
 * bytes are needed; or the negated roi_status of a bad header field. */
int roi__frame_parse(const uint8_t *buf, size_t len, roi__frame *out);

/* Copies a parsed frame into m (reset first). Returns 0 or ROI_ENOMEM. */
int roi__frame_to_message(const roi__frame *f, roi_message *m);

#endif /* ROI_SRC_FRAME_H */
