/*
 * roi messages: what the message engine carries between applications.
 *
 * A message is a 16-byte binary header (channel number, opcode, origin, more
 * flag, status, message id, and the lengths of the two parts that follow),
 * text headers as "name:value\r\n" lines, and a body of up to 65,535 bytes.
 * On the wire the header is big-endian and laid out as docs/design.md section 4
 * and tofu define it:
 *
 *     offset 0  channel number   u16
 *     offset 2  proto            u8   bits 0-3 opcode, bit 4 origin (1 = engine),
 *                                     bit 5 more, bit 6 priority (tofu's internal
 *                                     bit A), bit 7 reserved
 *     offset 3  status           u8
 *     offset 4  message id       u64
 *     offset 12 text-header len  u16
 *     offset 14 body len         u16
 *
 * A roi_message owns its text headers and body (growable buffers). The one
 * who holds the pointer owns the message: roi_message_destroy() frees it,
 * and the engine's calls that take a roi_message ** take ownership and set the
 * caller's pointer to NULL.
 */
#ifndef ROI_MESSAGE_H
#define ROI_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "roi/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The opcode: bits 0-3 of the proto byte. 10-15 are not valid on the wire. */
typedef enum roi_opcode {
  ROI_OP_REQUEST = 0,
  ROI_OP_RESPONSE = 1,
  ROI_OP_SIGNAL = 2,
  ROI_OP_HELLO_REQUEST = 3,
  ROI_OP_HELLO_RESPONSE = 4,
  ROI_OP_BYE_REQUEST = 5,
  ROI_OP_BYE_RESPONSE = 6,
  ROI_OP_BYE_SIGNAL = 7,
  ROI_OP_WELCOME_REQUEST = 8,
  ROI_OP_WELCOME_RESPONSE = 9
} roi_opcode;

/**
 * Names an opcode as its enum constant ("ROI_OP_REQUEST", ...);
 * "ROI_OP_?" for 10..15 or any other value. A static string.
 */
ROI_EXTERN const char *roi_opcode_name(int opcode);

/* Who made a message: bit 4 of the proto byte. */
typedef enum roi_origin { ROI_ORIGIN_APPLICATION = 0, ROI_ORIGIN_ENGINE = 1 } roi_origin;

/* The status byte. XX(name, value, description); values are fixed forever.
 * 0..31 are tofu's; 32 and above are roi's own, used only in messages the
 * engine makes locally (refusals at post() and "~reason" values of
 * channel_closed Signals), never sent on the wire by the engine. */
#define ROI_STATUS_MAP(XX)                                                                 \
  XX(SUCCESS, 0, "success")                                                                \
  XX(NOT_IMPLEMENTED_YET, 1, "not implemented yet")                                        \
  XX(WRONG_ADDRESS, 2, "wrong address")                                                    \
  XX(NOT_ALLOWED, 3, "not allowed")                                                        \
  XX(NULL_MESSAGE, 4, "no message")                                                        \
  XX(INVALID_MESSAGE, 5, "invalid message")                                                \
  XX(INVALID_OP_CODE, 6, "invalid opcode")                                                 \
  XX(INVALID_HEADERS_LEN, 7, "invalid text-header length")                                 \
  XX(INVALID_BODY_LEN, 8, "invalid body length")                                           \
  XX(INVALID_MORE_USAGE, 9, "the more flag is only for requests, responses and signals")   \
  XX(INVALID_CHANNEL_NUMBER, 10, "invalid channel number")                                 \
  XX(INVALID_GROUP, 11, "invalid channel group")                                           \
  XX(INVALID_MESSAGE_ID, 12, "invalid message id")                                         \
  XX(INVALID_ADDRESS, 13, "invalid address")                                               \
  XX(UDS_PATH_NOT_FOUND, 14, "unix domain socket path not found")                          \
  XX(NOTIFICATION_DISABLED, 15, "notification disabled")                                   \
  XX(NOTIFICATION_FAILED, 16, "notification failed")                                       \
  XX(PEER_DISCONNECTED, 17, "peer disconnected")                                           \
  XX(COMMUNICATION_FAILED, 18, "communication failed")                                     \
  XX(POOL_EMPTY, 19, "message pool empty")                                                 \
  XX(ALLOCATION_FAILED, 20, "allocation failed")                                           \
  XX(RECEIVER_UPDATE, 21, "receiver update")                                               \
  XX(CHANNEL_CLOSED, 22, "channel closed")                                                 \
  XX(SHUTDOWN_STARTED, 23, "shutdown started")                                             \
  XX(CONNECT_FAILED, 24, "connect failed")                                                 \
  XX(LISTEN_FAILED, 25, "listen failed")                                                   \
  XX(ACCEPT_FAILED, 26, "accept failed")                                                   \
  XX(SEND_FAILED, 27, "send failed")                                                       \
  XX(RECV_FAILED, 28, "receive failed")                                                    \
  XX(SETSOCKOPT_FAILED, 29, "setsockopt failed")                                           \
  XX(PROCESSING_FAILED, 30, "processing failed")                                           \
  XX(UNKNOWN_ERROR, 31, "unknown error")                                                   \
  XX(SEND_QUEUE_FULL, 32, "the channel's send queue is full")                              \
  XX(HELLO_TIMEOUT, 33, "no HelloRequest arrived in time")                                 \
  XX(FRAME_TIMEOUT, 34, "a frame was begun and not completed in time")                     \
  XX(HELLO_EXPECTED, 35, "the first frame of an accepted connection was not a HelloRequest")

typedef enum roi_status {
#define ROI__STATUS_ENUM(name, value, desc) ROI_STATUS_##name = (value),
  ROI_STATUS_MAP(ROI__STATUS_ENUM)
#undef ROI__STATUS_ENUM
  /* One past the largest status byte; last, so that the list ends without a
   * comma (C89 and C++98 want none). Not a status. */
  ROI__STATUS_LIMIT = 256
} roi_status;

/**
 * Names a status as its enum constant ("ROI_STATUS_SUCCESS",
 * "ROI_STATUS_POOL_EMPTY", ...), as roi_err_name() does for errors;
 * "ROI_STATUS_?" for a value outside the table. A static string.
 */
ROI_EXTERN const char *roi_status_name(int status);

/* The largest text-header block and body: their lengths are u16 on the wire. */
#define ROI_MESSAGE_MAX_PART 65535u

typedef struct roi_message roi_message;

/**
 * Allocates an empty message (all header fields 0, no text headers, no body).
 *
 * @param out  receives the message; the caller frees it with
 *             roi_message_destroy() or hands it to the engine.
 * @return 0, ROI_EINVAL for a NULL out, or ROI_ENOMEM.
 */
ROI_EXTERN int roi_message_create(roi_message **out);

/** Frees a message and its buffers. NULL is ignored. */
ROI_EXTERN void roi_message_destroy(roi_message *m);

/** Clears every field, the text headers and the body; keeps the buffers. */
ROI_EXTERN void roi_message_reset(roi_message *m);

/* Header fields. The getters of a NULL message return 0. */
ROI_EXTERN uint16_t roi_message_channel(const roi_message *m);
ROI_EXTERN void roi_message_set_channel(roi_message *m, uint16_t channel);
/** The opcode, 0..15 (10..15 are invalid and refused by the engine). */
ROI_EXTERN int roi_message_opcode(const roi_message *m);
/** Sets the opcode; values above 15 do not fit the wire and give ROI_EINVAL. */
ROI_EXTERN int roi_message_set_opcode(roi_message *m, int opcode);
ROI_EXTERN int roi_message_origin(const roi_message *m);
/** Sets the origin bit (ROI_ORIGIN_*); other values give ROI_EINVAL. */
ROI_EXTERN int roi_message_set_origin(roi_message *m, int origin);
/**
 * The priority flag: bit 6 of the proto byte, tofu's internal bit A. A
 * posted message with it is written ahead of every message queued on its
 * channel that has not begun to go out (priority messages keep their order
 * among themselves); the bit travels with it. A ByeSignal with it closes its
 * channel at once, locally; without it, the ByeSignal is sent to the peer.
 * roi_message_set_opcode(m, ROI_OP_BYE_SIGNAL) sets it, as tofu makes a
 * ByeSignal; setting another opcode on a ByeSignal clears it again.
 */
ROI_EXTERN int roi_message_priority(const roi_message *m);
ROI_EXTERN void roi_message_set_priority(roi_message *m, int on);
ROI_EXTERN int roi_message_more(const roi_message *m);
/** Sets (non-zero) or clears the more flag. */
ROI_EXTERN void roi_message_set_more(roi_message *m, int more);
ROI_EXTERN uint8_t roi_message_status(const roi_message *m);
ROI_EXTERN void roi_message_set_status(roi_message *m, uint8_t status);
ROI_EXTERN uint64_t roi_message_id(const roi_message *m);
ROI_EXTERN void roi_message_set_id(roi_message *m, uint64_t id);

/**
 * Appends a text header "name:value\r\n".
 *
 * @param name   not empty; no ':', CR or LF; leading and trailing spaces and
 *               tabs are dropped.
 * @param value  not empty; no CR or LF.
 * @return 0; ROI_EINVAL for a NULL argument or a name/value breaking the
 *         rules; ROI_EMSGSIZE if the text headers would exceed 65,535 bytes;
 *         ROI_ENOMEM.
 */
ROI_EXTERN int roi_message_header_add(roi_message *m, const char *name, const char *value);

/** One text header, pointing into the message (valid until it changes). */
typedef struct roi_header {
  const char *name;
  size_t name_len;
  const char *value;
  size_t value_len;
} roi_header;

/** Where an iteration over text headers stands; start it zeroed. */
typedef struct roi_header_iter {
  size_t offset;
} roi_header_iter;

/**
 * Gives the next text header, read as tofu's TextHeaderIterator reads it, so
 * that roi and tofu see the same headers in any block: lines end at "\r\n"
 * (the last one may end without); empty lines are skipped; the name runs to
 * the first ':' and is not trimmed; a line without ':' is a name with an
 * empty value; the value is trimmed of spaces and tabs and may be empty; an
 * empty name ends the block (what follows it is not read). No block is
 * malformed.
 *
 * @return 1 with *out filled, 0 at the end, ROI_EINVAL for NULL arguments.
 */
ROI_EXTERN int roi_message_header_next(const roi_message *m, roi_header_iter *it,
                                       roi_header *out);

/**
 * Finds the first text header with this name (compared exactly).
 *
 * @return 1 with *out filled, 0 if there is none, ROI_EINVAL for NULL
 *         arguments.
 */
ROI_EXTERN int roi_message_header_find(const roi_message *m, const char *name,
                                       roi_header *out);

/** The raw text-header block and its length (NULL and 0 when empty). */
ROI_EXTERN const char *roi_message_headers(const roi_message *m, size_t *len);

/**
 * Replaces the body with a copy of len bytes.
 *
 * @return 0; ROI_EINVAL for NULL m or NULL data with len > 0; ROI_EMSGSIZE
 *         above 65,535 bytes; ROI_ENOMEM.
 */
ROI_EXTERN int roi_message_body_set(roi_message *m, const void *data, size_t len);

/** Appends to the body; errors as roi_message_body_set(). */
ROI_EXTERN int roi_message_body_append(roi_message *m, const void *data, size_t len);

/** The body and its length (NULL and 0 when empty). */
ROI_EXTERN const void *roi_message_body(const roi_message *m, size_t *len);

#ifdef __cplusplus
}
#endif

#endif /* ROI_MESSAGE_H */
