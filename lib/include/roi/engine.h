/*
 * roi engine: message passing over TCP and AF_UNIX, the tofu model.
 *
 * An engine owns one reactor thread (the only thread that touches sockets),
 * a pool of messages and any number of channel groups. Application threads
 * hand messages to the reactor with roi_group_post() and take what arrives
 * with roi_group_wait_receive(). Every call here is thread-safe, except that
 * one group has one consumer thread, and that roi_engine_destroy() and
 * roi_group_destroy() must not race with other calls on the same object.
 *
 * Ownership moves with the message: the calls that take a roi_message **
 * take the message and set the caller's pointer to NULL; a message received
 * belongs to the receiver, who gives it back with roi_engine_put() (or
 * destroys it, or posts it again).
 *
 * Channels are opened and closed by messages:
 *
 * - WelcomeRequest with a "~listen_on" text header ("tcp|host|port" or
 *   "uds|path") starts a listener; the engine answers with a WelcomeResponse
 *   (origin engine) whose channel is the listener's and whose "~listen_on"
 *   header names the real address (the port chosen for port 0).
 * - HelloRequest with "~connect_to" (same syntax) opens a client channel,
 *   connects without blocking and sends the Hello. On the listening side the
 *   accepted connection becomes a new channel of the listener's group, where
 *   the peer's HelloRequest arrives; the application answers it with a
 *   HelloResponse on that channel, and it arrives at the client.
 * - ByeRequest / ByeResponse close a channel gracefully: the side that sends
 *   the ByeResponse closes after it is written, the side that receives it
 *   closes on receipt. ByeSignal closes a channel at once, locally, without
 *   sending anything (on a listener it stops listening).
 *
 * When a channel closes, every message still queued for it comes back to its
 * group with origin ROI_ORIGIN_ENGINE and the reason as its status, and then
 * a Signal with status ROI_STATUS_CHANNEL_CLOSED on that channel, whose
 * message id is the id of the message that opened the channel and whose
 * "~reason" text header holds the reason as a decimal roi_status:
 * ROI_STATUS_CHANNEL_CLOSED for a close the application asked for (ByeSignal,
 * a Bye exchange), ROI_STATUS_PEER_DISCONNECTED, ROI_STATUS_CONNECT_FAILED
 * (refused, unreachable, or no answer within connect_timeout_ms),
 * ROI_STATUS_LISTEN_FAILED, a wire-format status for a malformed frame
 * (ROI_STATUS_INVALID_OP_CODE, ...), ROI_STATUS_COMMUNICATION_FAILED for a
 * stream that ended inside a frame, and so on. Every channel number post()
 * or a listener hands out ends with exactly one such Signal. Channel numbers
 * are 1..65534, chosen at random, and never reused while a channel is open
 * nor among the last 1,024 closed.
 *
 * Backpressure: the reactor takes a message from the pool for every frame
 * it receives and never allocates beyond it. When the pool is empty the
 * channel stops reading (its read interest is dropped: no busy loop) and its
 * group gets a Signal with status ROI_STATUS_POOL_EMPTY; reading resumes when
 * a message comes back with roi_engine_put().
 */
#ifndef ROI_ENGINE_H
#define ROI_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "roi/message.h"
#include "roi/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct roi_engine roi_engine;
typedef struct roi_group roi_group;

/* Engine options; zero fields take the defaults. */
typedef struct roi_engine_options {
  /* Messages made when the engine starts (default 64). */
  size_t pool_initial;
  /* Most messages the pool keeps and the reactor may use for received frames
   * (default 1,024); at least pool_initial. */
  size_t pool_max;
  /* Poller backend ("epoll", "poll", "afd"), NULL for $ROI_BACKEND or the
   * default. */
  const char *backend;
  /* How long a Hello's connect may take before it fails with
   * ROI_STATUS_CONNECT_FAILED (default 10,000 ms). Without it an address
   * that drops SYNs would hold the channel for the system's own timeout
   * (about two minutes on Linux). */
  unsigned connect_timeout_ms;
} roi_engine_options;

/* How roi_engine_get() behaves when the pool is empty. */
typedef enum roi_get_strategy {
  ROI_GET_POOL_ONLY = 0, /* fail with ROI_ESTATUS(ROI_STATUS_POOL_EMPTY) */
  ROI_GET_ALWAYS = 1     /* allocate a new message */
} roi_get_strategy;

/* The text headers the engine reads. */
#define ROI_HEADER_LISTEN_ON "~listen_on"
#define ROI_HEADER_CONNECT_TO "~connect_to"
#define ROI_HEADER_REASON "~reason"

/**
 * Starts an engine: its pool, its poller and its reactor thread.
 *
 * @param out   receives the engine; the caller destroys it with
 *              roi_engine_destroy().
 * @param opts  NULL for the defaults.
 * @return 0; ROI_EINVAL for a NULL out, pool_max < pool_initial or an unknown
 *         backend; ROI_ENOMEM; ROI_ENOTSUP for a backend not compiled in; a
 *         system error from the poller or the thread.
 */
ROI_EXTERN int roi_engine_create(roi_engine **out, const roi_engine_options *opts);

/**
 * Stops the reactor, closes every channel (nothing more is delivered), and
 * frees the engine, its groups still alive (with the messages waiting in
 * them) and its pool. Messages held by the application stay valid and are
 * freed with roi_message_destroy(). NULL is ignored.
 */
ROI_EXTERN void roi_engine_destroy(roi_engine *e);

/**
 * Takes a message from the pool, reset (every field 0, no text headers, no
 * body).
 *
 * @return 0; ROI_ESTATUS(ROI_STATUS_POOL_EMPTY) when the pool is empty and
 *         strategy is ROI_GET_POOL_ONLY; ROI_ENOMEM; ROI_EINVAL.
 */
ROI_EXTERN int roi_engine_get(roi_engine *e, roi_get_strategy strategy, roi_message **out);

/**
 * Resets a message and gives it back to the pool (frees it when the pool
 * holds pool_max already), and sets *msg to NULL. A NULL *msg is ignored.
 *
 * @return 0, or ROI_EINVAL for NULL e or msg.
 */
ROI_EXTERN int roi_engine_put(roi_engine *e, roi_message **msg);

/**
 * Makes a channel group: a receive queue and the channels opened through it.
 *
 * @return 0; ROI_EINVAL; ROI_ENOMEM; ROI_ECLOSED while the engine stops.
 */
ROI_EXTERN int roi_group_create(roi_engine *e, roi_group **out);

/**
 * Closes every channel of the group (waiting for the reactor to do it), then
 * frees the group and the messages still in its queue. NULL is ignored.
 */
ROI_EXTERN void roi_group_destroy(roi_group *g);

/** What roi_group_post() assigned. */
typedef struct roi_post_info {
  uint16_t channel; /* the channel number (new for Hello/Welcome requests) */
  uint64_t id;      /* the message id */
} roi_post_info;

/**
 * Validates a message and hands it to the reactor; *msg becomes NULL.
 *
 * A message id of 0 is replaced by a new one (unique within the engine).
 * A HelloRequest or WelcomeRequest gets a new channel number; every other
 * opcode names an open channel of this group.
 *
 * A refused message stays with the caller (*msg unchanged) and the result
 * says why: ROI_ESTATUS(...) of ROI_STATUS_INVALID_OP_CODE (opcode 10..15),
 * NOT_ALLOWED (origin engine), INVALID_MORE_USAGE (more on a Hello, Bye or
 * Welcome), INVALID_MESSAGE_ID (a response with id 0),
 * INVALID_CHANNEL_NUMBER (0, or not an open channel of this group),
 * WRONG_ADDRESS (a Hello or Welcome without its address header),
 * INVALID_ADDRESS (an address that does not parse), INVALID_HEADERS_LEN (a
 * text-header block that does not parse). An address that parses but does
 * not resolve, refuses or cannot be reached comes back later as a message
 * with status WRONG_ADDRESS, CONNECT_FAILED, UDS_PATH_NOT_FOUND or
 * LISTEN_FAILED, followed by the channel's channel_closed Signal.
 *
 * A host name is resolved here, in the caller's thread (blocking), so that
 * the reactor never blocks on DNS.
 *
 * @param info  NULL, or receives the channel number and message id.
 * @return 0; a refusal as above; ROI_EINVAL for NULL g, msg or *msg;
 *         ROI_ECLOSED while the engine or group is being destroyed;
 *         ROI_ENOMEM.
 */
ROI_EXTERN int roi_group_post(roi_group *g, roi_message **msg, roi_post_info *info);

/**
 * Waits for the next message of the group.
 *
 * @param timeout_ms  0 polls, a negative value waits without limit.
 * @param out         receives the message, which the caller then owns.
 * @return 0; ROI_ETIMEDOUT; ROI_EINVAL; ROI_ECLOSED when the group is being
 *         destroyed.
 */
ROI_EXTERN int roi_group_wait_receive(roi_group *g, int timeout_ms, roi_message **out);

/**
 * Puts a message straight into the group's own queue, from any thread: the
 * way to wake the group's consumer. With a NULL *msg (or NULL msg) the engine
 * puts a Signal with origin engine and status ROI_STATUS_RECEIVER_UPDATE
 * there instead. *msg becomes NULL.
 *
 * @return 0; ROI_EINVAL for NULL g; ROI_ENOMEM; ROI_ECLOSED.
 */
ROI_EXTERN int roi_group_update_receiver(roi_group *g, roi_message **msg);

#ifdef __cplusplus
}
#endif

#endif /* ROI_ENGINE_H */
