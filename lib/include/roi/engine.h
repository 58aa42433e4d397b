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
 *   header names the real address (the port chosen for port 0). As in tofu,
 *   an empty host ("tcp||port") listens on every IPv4 interface and is named
 *   "tcp|0.0.0.0|port"; an empty path ("uds|") listens on a fresh path in the
 *   temporary directory, which the answer names (and which is removed when
 *   the listener closes).
 * - HelloRequest with "~connect_to" (same syntax) opens a client channel,
 *   connects without blocking and sends the Hello. On the listening side the
 *   accepted connection becomes a new channel of the listener's group, where
 *   the peer's HelloRequest arrives; the application answers it with a
 *   HelloResponse on that channel, and it arrives at the client.
 * - ByeRequest / ByeResponse close a channel gracefully: the side that sends
 *   the ByeResponse closes after it is written, the side that receives it
 *   closes on receipt. A ByeSignal with the priority flag (which
 *   roi_message_set_opcode() gives it, as tofu does) closes a channel at
 *   once, locally, without sending anything (on a listener it stops
 *   listening); one without the flag is sent to the peer like any message,
 *   and a ByeSignal received is delivered and leaves the channel open.
 *
 * A Hello or Welcome that fails at once (an address that resolves to
 * nothing, a missing AF_UNIX path, a bind or connect refused on the spot)
 * comes back as its response (HelloResponse, WelcomeResponse) with origin
 * engine and the status; a connect that fails later returns the queued
 * HelloRequest with the status, as tofu does. Either way the
 * channel_closed Signal follows, and the status, not the opcode, tells
 * success from failure.
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
 * Memory and fairness. Every received frame becomes a message counted
 * against pool_max: the pool makes at most pool_max such messages, wherever
 * they are later (in the pool, queued to a group, with the application,
 * posted back and queued for sending), and roi_engine_put() never makes the
 * pool larger than pool_max, whatever message it is given (an engine-made
 * Signal, or one from ROI_GET_ALWAYS, is freed when the pool is full). A
 * counted message stays counted until it comes back to the pool or is
 * destroyed. One channel may hold at most channel_share of them; when a
 * channel reaches its share, or the pool is spent, it stops reading (its read
 * interest is dropped: no busy loop) and its group gets a Signal with
 * status ROI_STATUS_POOL_EMPTY on that channel, once per episode (an episode
 * ends when the channel holds at most half its share again; the channel may
 * be one whose HelloRequest has not been delivered yet). Reading resumes by
 * itself as soon as a message comes back (for a channel at its share: one of
 * its own).
 *
 * Each channel's send queue holds at most send_queue_max bytes of frames
 * (16 + text headers + body each), counted from roi_group_post() until the
 * frame is written or comes back: a post that would pass it is refused with
 * ROI_ESTATUS(ROI_STATUS_SEND_QUEUE_FULL) and the message stays with the
 * caller (a channel with an empty queue always takes one message). While a
 * channel's queue holds half of send_queue_max or more, the engine stops
 * reading from it (until it drains below a quarter), so a server that
 * answers every request stops reading from a peer that does not read its
 * answers, and the requests already read still have room for their
 * answers. Nothing is dropped silently: every message the engine took comes
 * back or is written.
 *
 * Hostile peers. The engine trusts nothing a peer sends:
 * - A frame with the origin bit set (bit 4, "made by the engine") closes its
 *   channel with reason ROI_STATUS_NOT_ALLOWED, as bit 7 does; only the
 *   local engine makes engine messages. (tofu delivers such a frame; roi
 *   departs from it here on purpose.)
 * - An accepted connection must open with a HelloRequest: another first
 *   frame closes it with reason ROI_STATUS_HELLO_EXPECTED, and one that sends
 *   no complete HelloRequest within hello_timeout_ms is closed with
 *   ROI_STATUS_HELLO_TIMEOUT.
 * - A frame begun and not completed within frame_timeout_ms (a slow or
 *   stalled sender) closes its channel with ROI_STATUS_FRAME_TIMEOUT.
 * - A listener whose accept fails for lack of descriptors, buffers or memory
 *   (ROI_EMFILE, ROI_ENFILE, ROI_ENOBUFS, ROI_ENOMEM) stops accepting for
 *   accept_backoff_ms and then tries again, for as long as the shortage
 *   lasts; its group gets one Signal per episode, on the listener's channel,
 *   with status ROI_STATUS_ACCEPT_FAILED and an "~error" text header naming
 *   the error (roi_err_name(), e.g. "ROI_EMFILE"). The listener stays open.
 *
 * A peer's FIN: every complete frame that arrived before it is delivered,
 * then the channel closes with reason ROI_STATUS_PEER_DISCONNECTED
 * (ROI_STATUS_COMMUNICATION_FAILED if the stream ended inside a frame).
 * Messages queued for sending then come back with that reason as status;
 * a post to the channel accepted before the close but handled after it
 * comes back with status ROI_STATUS_CHANNEL_CLOSED; a post after the
 * channel_closed Signal is refused with ROI_STATUS_INVALID_CHANNEL_NUMBER.
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
  /* Most messages of the pool one channel may hold for its received frames
   * (default pool_max / 4, at least 1); at most pool_max. */
  size_t channel_share;
  /* Most bytes of frames queued for sending on one channel (default 4 MiB). */
  size_t send_queue_max;
  /* How long an accepted connection may take to send its whole HelloRequest
   * (default 10,000 ms). */
  unsigned hello_timeout_ms;
  /* How long a frame may take from its first byte to its last (default
   * 30,000 ms). */
  unsigned frame_timeout_ms;
  /* How long a listener stops accepting after an accept failed for lack of
   * descriptors or memory (default 100 ms). */
  unsigned accept_backoff_ms;
} roi_engine_options;

/* What roi_engine_stats_get() reports: a consistent snapshot. */
typedef struct roi_engine_stats {
  size_t pool_max;    /* the bound on counted messages */
  size_t pool_live;   /* counted messages that exist, wherever they are */
  size_t pool_free;   /* counted messages in the pool */
  size_t app_held;    /* counted messages with the application */
  size_t recv_queued; /* messages waiting in group queues */
  size_t send_queued; /* messages posted and not yet written or returned */
  size_t send_bytes;  /* their frame bytes */
  size_t channels;    /* open channels, listeners included */
  size_t paused;      /* channels not reading: share or pool spent */
  size_t stalled;     /* channels not reading: send queue full */
  size_t held_max;    /* most counted messages one channel holds now */
  size_t backing_off; /* listeners not accepting now */
  uint64_t backoffs;  /* accept back-off episodes so far */
  uint64_t timeouts;  /* channels closed by the Hello or frame timeout */
  uint64_t rounds;    /* reactor rounds so far (a busy loop shows here) */
} roi_engine_stats;

/* How roi_engine_get() behaves when the pool is empty. */
typedef enum roi_get_strategy {
  ROI_GET_POOL_ONLY = 0, /* fail with ROI_ESTATUS(ROI_STATUS_POOL_EMPTY) */
  ROI_GET_ALWAYS = 1     /* allocate a new message */
} roi_get_strategy;

/* The text headers the engine reads. */
#define ROI_HEADER_LISTEN_ON "~listen_on"
#define ROI_HEADER_CONNECT_TO "~connect_to"
#define ROI_HEADER_REASON "~reason"
#define ROI_HEADER_ERROR "~error"

/**
 * Starts an engine: its pool, its poller and its reactor thread.
 *
 * @param out   receives the engine; the caller destroys it with
 *              roi_engine_destroy().
 * @param opts  NULL for the defaults.
 * @return 0; ROI_EINVAL for a NULL out, pool_max < pool_initial,
 *         channel_share > pool_max or an unknown backend; ROI_ENOMEM; ROI_ENOTSUP for a
 * backend not compiled in; a system error from the poller or the thread.
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
 * Reads the engine's counters: the memory bounds above, the queues in each
 * direction, the paused and stalled channels and the accept back-offs, so
 * that an application (or a test) can see the bounds hold.
 *
 * @return 0, or ROI_EINVAL for a NULL argument.
 */
ROI_EXTERN int roi_engine_stats_get(roi_engine *e, roi_engine_stats *out);

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
 * As tofu's check_and_prepare does, post() first clears the origin bit and
 * zeroes the status byte: what an application sends is the application's.
 *
 * A refused message stays with the caller (*msg unchanged) and the result
 * says why: ROI_ESTATUS(...) of ROI_STATUS_INVALID_OP_CODE (opcode 10..15),
 * NOT_ALLOWED (a WelcomeResponse, or bit 7 of the proto byte),
 * INVALID_MORE_USAGE (more on a Hello, Bye or Welcome), INVALID_MESSAGE_ID
 * (a response with id 0), INVALID_CHANNEL_NUMBER (0, or no open channel),
 * INVALID_GROUP (a channel of another group),
 * WRONG_ADDRESS (a Hello or Welcome without its address header),
 * INVALID_ADDRESS (an address that does not parse), SEND_QUEUE_FULL (the channel's
 * send queue holds send_queue_max bytes already: try again once it drains). An address that
 * parses but does not resolve, refuses or cannot be reached comes back later as a message
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
 * Waits for the next message of the group. A group has one consumer: one
 * thread at a time may call this for it (the messages waiting are taken in
 * batches, which that thread then hands out without a lock).
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
