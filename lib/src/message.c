/*
 * Messages: header fields, text headers and body, each part in a growable
 * buffer owned by the message.
 */
#include <stdlib.h>
#include <string.h>

#include "message_int.h"
#include "roi/error.h"

const char *roi_status_name(int status) {
  switch (status) {
#define ROI__STATUS_NAME(name, value, desc)                                                \
  case ROI_STATUS_##name:                                                                  \
    return "ROI_STATUS_" #name;
    ROI_STATUS_MAP(ROI__STATUS_NAME)
#undef ROI__STATUS_NAME
  default:
    return "ROI_STATUS_?";
  }
}

const char *roi_opcode_name(int opcode) {
  static const char *const names[] = {"ROI_OP_REQUEST",         "ROI_OP_RESPONSE",
                                      "ROI_OP_SIGNAL",          "ROI_OP_HELLO_REQUEST",
                                      "ROI_OP_HELLO_RESPONSE",  "ROI_OP_BYE_REQUEST",
                                      "ROI_OP_BYE_RESPONSE",    "ROI_OP_BYE_SIGNAL",
                                      "ROI_OP_WELCOME_REQUEST", "ROI_OP_WELCOME_RESPONSE"};
  if (opcode < 0 || opcode >= (int)(sizeof names / sizeof names[0]))
    return "ROI_OP_?";
  return names[opcode];
}

int roi__buf_append(roi__buf *b, const void *data, size_t len, size_t limit) {
  if (len > limit || b->len > limit - len)
    return ROI_EMSGSIZE;
  if (b->len + len > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    char *d;
    while (cap < b->len + len)
      cap *= 2;
    d = realloc(b->data, cap);
    if (!d)
      return ROI_ENOMEM;
    b->data = d;
    b->cap = cap;
  }
  if (len)
    memcpy(b->data + b->len, data, len);
  b->len += len;
  return 0;
}

int roi_message_create(roi_message **out) {
  if (!out)
    return ROI_EINVAL;
  *out = calloc(1, sizeof **out);
  return *out ? 0 : ROI_ENOMEM;
}

void roi_message_destroy(roi_message *m) {
  if (!m)
    return;
  if (m->acct)
    m->acct->release(m->acct, m);
  free(m->headers.data);
  free(m->body.data);
  free(m->addr);
  free(m);
}

void roi_message_reset(roi_message *m) {
  if (!m)
    return;
  m->next = NULL;
  m->group = NULL;
  if (m->addr) {
    free(m->addr);
    m->addr = NULL;
  }
  m->cmd = 0;
  m->fail = 0;
  m->channel = 0;
  m->proto = 0;
  m->status = 0;
  m->id = 0;
  m->headers.len = 0;
  m->body.len = 0;
}

uint16_t roi_message_channel(const roi_message *m) {
  return m ? m->channel : 0;
}

void roi_message_set_channel(roi_message *m, uint16_t channel) {
  if (m)
    m->channel = channel;
}

int roi_message_opcode(const roi_message *m) {
  return m ? m->proto & ROI__PROTO_OPCODE : 0;
}

int roi_message_set_opcode(roi_message *m, int opcode) {
  unsigned old;
  if (!m || opcode < 0 || opcode > (int)ROI__PROTO_OPCODE)
    return ROI_EINVAL;
  old = m->proto & ROI__PROTO_OPCODE;
  m->proto = (uint8_t)((m->proto & ~ROI__PROTO_OPCODE) | (unsigned)opcode);
  /* A ByeSignal is made with the priority bit, as tofu's ProtoFields.default()
   * makes it: posted so, it closes its channel at once. Turning it into
   * another opcode takes the bit away again. */
  if (opcode == ROI_OP_BYE_SIGNAL)
    m->proto |= ROI__PROTO_PRIORITY;
  else if (old == ROI_OP_BYE_SIGNAL)
    m->proto &= (uint8_t)~ROI__PROTO_PRIORITY;
  return 0;
}

int roi_message_origin(const roi_message *m) {
  return m && (m->proto & ROI__PROTO_ORIGIN) ? ROI_ORIGIN_ENGINE : ROI_ORIGIN_APPLICATION;
}

/* Sets or clears one bit of the proto byte. */
static void set_proto_bit(roi_message *m, unsigned bit, int on) {
  m->proto = (uint8_t)(on ? (m->proto | bit) : (m->proto & ~bit));
}

int roi_message_set_origin(roi_message *m, int origin) {
  if (!m || (origin != ROI_ORIGIN_APPLICATION && origin != ROI_ORIGIN_ENGINE))
    return ROI_EINVAL;
  set_proto_bit(m, ROI__PROTO_ORIGIN, origin);
  return 0;
}

int roi_message_priority(const roi_message *m) {
  return m && (m->proto & ROI__PROTO_PRIORITY) ? 1 : 0;
}

void roi_message_set_priority(roi_message *m, int on) {
  if (m)
    set_proto_bit(m, ROI__PROTO_PRIORITY, on);
}

int roi_message_more(const roi_message *m) {
  return m && (m->proto & ROI__PROTO_MORE) ? 1 : 0;
}

void roi_message_set_more(roi_message *m, int more) {
  if (m)
    set_proto_bit(m, ROI__PROTO_MORE, more);
}

uint8_t roi_message_status(const roi_message *m) {
  return m ? m->status : 0;
}

void roi_message_set_status(roi_message *m, uint8_t status) {
  if (m)
    m->status = status;
}

uint64_t roi_message_id(const roi_message *m) {
  return m ? m->id : 0;
}

void roi_message_set_id(roi_message *m, uint64_t id) {
  if (m)
    m->id = id;
}

static int is_blank(char c) {
  return c == ' ' || c == '\t';
}

/* Trims spaces and tabs at both ends of [*p, *p + *len). */
static void trim(const char **p, size_t *len) {
  while (*len > 0 && is_blank(**p)) {
    (*p)++;
    (*len)--;
  }
  while (*len > 0 && is_blank((*p)[*len - 1]))
    (*len)--;
}

/* 1 when [p, p + len) contains one of the characters of set. */
static int has_any(const char *p, size_t len, const char *set) {
  size_t i;
  for (i = 0; i < len; i++)
    if (p[i] != '\0' && strchr(set, p[i]))
      return 1;
  return 0;
}

int roi_message_header_add(roi_message *m, const char *name, const char *value) {
  size_t nlen, vlen, old;
  int err;
  if (!m || !name || !value)
    return ROI_EINVAL;
  nlen = strlen(name);
  trim(&name, &nlen);
  vlen = strlen(value);
  if (nlen == 0 || vlen == 0 || has_any(name, nlen, ":\r\n") ||
      has_any(value, vlen, "\r\n"))
    return ROI_EINVAL;
  /* Appended as one unit: on failure the block is left as it was. */
  old = m->headers.len;
  err = roi__buf_append(&m->headers, name, nlen, ROI_MESSAGE_MAX_PART);
  if (!err)
    err = roi__buf_append(&m->headers, ":", 1, ROI_MESSAGE_MAX_PART);
  if (!err)
    err = roi__buf_append(&m->headers, value, vlen, ROI_MESSAGE_MAX_PART);
  if (!err)
    err = roi__buf_append(&m->headers, "\r\n", 2, ROI_MESSAGE_MAX_PART);
  if (err)
    m->headers.len = old;
  return err;
}

/* Reads the next header of [data, data + len) from *offset, as tofu's
 * TextHeaderIterator.next() reads it, so that a block a tofu peer accepts
 * reads the same here: lines end at CRLF, and the last one may end without;
 * empty lines are skipped; a name runs to the first ':' (the whole line when
 * there is none, with an empty value) and is not trimmed; the value is
 * trimmed of spaces and tabs; an empty name ends the block. Nothing is ever
 * malformed. Returns 1 with out filled and *offset advanced, 0 at the end
 * (and *offset left at len, so that the end stays the end). */
static int next_line(const char *data, size_t len, size_t *offset, roi_header *out) {
  const char *line, *end, *colon;
  for (;;) {
    size_t left, i, n;
    if (!data || *offset >= len)
      return 0;
    line = data + *offset;
    left = len - *offset;
    end = NULL;
    for (i = 0; i + 1 < left; i++) {
      if (line[i] == '\r' && line[i + 1] == '\n') {
        end = line + i;
        break;
      }
    }
    if (end == line) {
      *offset += 2;
      continue;
    }
    n = end ? (size_t)(end - line) : left;
    *offset = end ? *offset + n + 2 : len;
    colon = memchr(line, ':', n);
    out->name = line;
    out->name_len = colon ? (size_t)(colon - line) : n;
    out->value = colon ? colon + 1 : line + n;
    out->value_len = colon ? n - out->name_len - 1 : 0;
    if (out->name_len == 0) {
      *offset = len;
      return 0;
    }
    trim(&out->value, &out->value_len);
    return 1;
  }
}

int roi_message_header_next(const roi_message *m, roi_header_iter *it, roi_header *out) {
  if (!m || !it || !out)
    return ROI_EINVAL;
  return next_line(m->headers.data, m->headers.len, &it->offset, out);
}

int roi_message_header_find(const roi_message *m, const char *name, roi_header *out) {
  roi_header_iter it = {0};
  size_t nlen;
  int r;
  if (!m || !name || !out)
    return ROI_EINVAL;
  nlen = strlen(name);
  while ((r = roi_message_header_next(m, &it, out)) == 1)
    if (out->name_len == nlen && memcmp(out->name, name, nlen) == 0)
      return 1;
  return r;
}

const char *roi_message_headers(const roi_message *m, size_t *len) {
  size_t n = m ? m->headers.len : 0;
  if (len)
    *len = n;
  return n ? m->headers.data : NULL;
}

int roi_message_body_set(roi_message *m, const void *data, size_t len) {
  size_t old;
  int err;
  if (!m || (!data && len > 0))
    return ROI_EINVAL;
  old = m->body.len;
  m->body.len = 0;
  err = roi__buf_append(&m->body, data, len, ROI_MESSAGE_MAX_PART);
  if (err)
    m->body.len = old;
  return err;
}

int roi_message_body_append(roi_message *m, const void *data, size_t len) {
  if (!m || (!data && len > 0))
    return ROI_EINVAL;
  return roi__buf_append(&m->body, data, len, ROI_MESSAGE_MAX_PART);
}

const void *roi_message_body(const roi_message *m, size_t *len) {
  size_t n = m ? m->body.len : 0;
  if (len)
    *len = n;
  return n ? m->body.data : NULL;
}

int roi__message_header_remove(roi_message *m, const char *name) {
  roi_header_iter it = {0};
  roi_header h;
  size_t n = strlen(name), out = 0;
  int rc;
  /* Compacts the block in place: lines kept move down over removed ones, and
   * a kept line never starts before the place it is copied to. */
  for (;;) {
    size_t start = it.offset;
    rc = roi_message_header_next(m, &it, &h);
    if (rc <= 0) {
      /* What follows an empty name is no header, but it stays as it was. */
      memmove(m->headers.data + out, m->headers.data + start, m->headers.len - start);
      out += m->headers.len - start;
      break;
    }
    if (h.name_len == n && memcmp(h.name, name, n) == 0)
      continue;
    memmove(m->headers.data + out, m->headers.data + start, it.offset - start);
    out += it.offset - start;
  }
  if (rc < 0)
    return rc;
  m->headers.len = out;
  return 0;
}
