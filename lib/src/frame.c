/*
 * The frame codec. Encoding is byte by byte (no struct overlays), so it is the
 * same on every compiler and byte order; decoding trusts nothing it has not
 * checked: the opcode, the origin and reserved bits, the more flag and the
 * message id of a response, before a frame becomes a message. A text-header
 * block is never malformed (it is read as tofu reads it: message.c).
 */
#include "frame.h"

#include <string.h>

#include "roi/error.h"

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p) {
  return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

void roi__frame_header_encode(const roi__frame_header *h,
                              uint8_t out[ROI__FRAME_HEADER_SIZE]) {
  int i;
  put16(out, h->channel);
  out[2] = h->proto;
  out[3] = h->status;
  for (i = 0; i < 8; i++)
    out[4 + i] = (uint8_t)(h->id >> (56 - 8 * i));
  put16(out + 12, h->headers_len);
  put16(out + 14, h->body_len);
}

void roi__frame_header_decode(const uint8_t in[ROI__FRAME_HEADER_SIZE],
                              roi__frame_header *h) {
  int i;
  h->channel = get16(in);
  h->proto = in[2];
  h->status = in[3];
  h->id = 0;
  for (i = 0; i < 8; i++)
    h->id = h->id << 8 | in[4 + i];
  h->headers_len = get16(in + 12);
  h->body_len = get16(in + 14);
}

void roi__frame_header_of(const roi_message *m, roi__frame_header *h) {
  h->channel = m->channel;
  h->proto = m->proto;
  h->status = m->status;
  h->id = m->id;
  h->headers_len = (uint16_t)m->headers.len;
  h->body_len = (uint16_t)m->body.len;
}

int roi__frame_header_check(const roi__frame_header *h) {
  unsigned op = h->proto & ROI__PROTO_OPCODE;
  if (op > ROI_OP_WELCOME_RESPONSE)
    return ROI_STATUS_INVALID_OP_CODE;
  /* The origin bit is the local engine's alone: a peer that sets it would
   * pass its frame off as the engine's own message. Bit 7 is used by no one.
   * Bit 6 (priority) is tofu's and travels. */
  if (h->proto & (ROI__PROTO_RESERVED | ROI__PROTO_ORIGIN))
    return ROI_STATUS_NOT_ALLOWED;
  if ((h->proto & ROI__PROTO_MORE) && op > ROI_OP_SIGNAL)
    return ROI_STATUS_INVALID_MORE_USAGE;
  /* A response answers a request by its id: every kind of response. */
  if (h->id == 0 &&
      (op == ROI_OP_RESPONSE || op == ROI_OP_HELLO_RESPONSE || op == ROI_OP_BYE_RESPONSE))
    return ROI_STATUS_INVALID_MESSAGE_ID;
  return ROI_STATUS_SUCCESS;
}

int roi__frame_parse(const uint8_t *buf, size_t len, roi__frame *out) {
  size_t size;
  int status;
  if (len < ROI__FRAME_HEADER_SIZE)
    return 0;
  roi__frame_header_decode(buf, &out->header);
  status = roi__frame_header_check(&out->header);
  if (status != ROI_STATUS_SUCCESS)
    return -status;
  size = ROI__FRAME_HEADER_SIZE + (size_t)out->header.headers_len + out->header.body_len;
  if (len < size)
    return 0;
  out->headers = (const char *)buf + ROI__FRAME_HEADER_SIZE;
  out->body = buf + ROI__FRAME_HEADER_SIZE + out->header.headers_len;
  out->size = size;
  return 1;
}

int roi__frame_to_message(const roi__frame *f, roi_message *m) {
  int err;
  roi_message_reset(m);
  m->channel = f->header.channel;
  m->proto = f->header.proto;
  m->status = f->header.status;
  m->id = f->header.id;
  err =
      roi__buf_append(&m->headers, f->headers, f->header.headers_len, ROI_MESSAGE_MAX_PART);
  if (!err)
    err = roi__buf_append(&m->body, f->body, f->header.body_len, ROI_MESSAGE_MAX_PART);
  return err;
}
