/*
 * An echo client on the roi engine: it connects to an echo server, sends N
 * requests (a window of them in flight), checks that each response carries
 * the id and body of its request, says goodbye, and prints the result.
 *
 *     echo_client 'tcp|127.0.0.1|7777' [N]
 *
 * Exit status 0 when every echo came back intact. Only public headers are
 * used, as in any application.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roi/roi.h"

#define WINDOW 32
#define TIMEOUT_MS 10000

/* The next message, skipping pool_empty signals: giving their message to
 * the pool is what lets the engine read again. */
static int next(roi_engine *e, roi_group *g, roi_message **m) {
  for (;;) {
    int rc = roi_group_wait_receive(g, TIMEOUT_MS, m);
    if (rc != 0 || roi_message_status(*m) != ROI_STATUS_POOL_EMPTY)
      return rc;
    roi_engine_put(e, m);
  }
}

static int post(roi_engine *e, roi_group *g, int op, uint16_t channel, uint64_t id,
                const char *header, const char *value, const char *body,
                roi_post_info *info) {
  roi_message *m = NULL;
  int rc = roi_engine_get(e, ROI_GET_ALWAYS, &m);
  if (rc == 0) {
    roi_message_set_opcode(m, op);
    roi_message_set_channel(m, channel);
    roi_message_set_id(m, id);
    if (header)
      rc = roi_message_header_add(m, header, value);
  }
  if (rc == 0 && body)
    rc = roi_message_body_set(m, body, strlen(body));
  if (rc == 0)
    rc = roi_group_post(g, &m, info);
  roi_message_destroy(m); /* NULL after a successful post */
  return rc;
}

int main(int argc, char **argv) {
  const char *addr = argc > 1 ? argv[1] : "tcp|127.0.0.1|7777";
  long count = argc > 2 ? atol(argv[2]) : 1000, sent = 0, ok = 0;
  roi_engine *e = NULL;
  roi_group *g = NULL;
  roi_message *m = NULL;
  roi_post_info hello;
  char body[64];
  int rc;
  rc = roi_engine_create(&e, NULL);
  if (rc == 0)
    rc = roi_group_create(e, &g);
  if (rc == 0)
    rc = post(e, g, ROI_OP_HELLO_REQUEST, 0, 0, ROI_HEADER_CONNECT_TO, addr, NULL, &hello);
  if (rc == 0)
    rc = next(e, g, &m);
  if (rc != 0 || roi_message_opcode(m) != ROI_OP_HELLO_RESPONSE ||
      roi_message_status(m) != ROI_STATUS_SUCCESS) {
    fprintf(stderr, "echo_client: cannot connect to %s: %s\n", addr,
            rc ? roi_strerror(rc) : roi_status_name(roi_message_status(m)));
    goto out;
  }
  roi_engine_put(e, &m);
  while (ok < count) {
    size_t len;
    const void *data;
    while (sent < count && sent < ok + WINDOW) {
      sent++;
      snprintf(body, sizeof body, "echo %ld", sent);
      rc =
          post(e, g, ROI_OP_REQUEST, hello.channel, (uint64_t)sent, NULL, NULL, body, NULL);
      if (rc != 0) {
        fprintf(stderr, "echo_client: post: %s\n", roi_strerror(rc));
        goto out;
      }
    }
    rc = next(e, g, &m);
    if (rc != 0) {
      fprintf(stderr, "echo_client: waiting for echo %ld: %s\n", ok + 1, roi_strerror(rc));
      goto out;
    }
    snprintf(body, sizeof body, "echo %ld", ok + 1);
    data = roi_message_body(m, &len);
    if (roi_message_opcode(m) != ROI_OP_RESPONSE || roi_message_id(m) != (uint64_t)ok + 1 ||
        len != strlen(body) || memcmp(data, body, len) != 0) {
      fprintf(stderr, "echo_client: echo %ld came back wrong (opcode %d, id %llu, %s)\n",
              ok + 1, roi_message_opcode(m), (unsigned long long)roi_message_id(m),
              roi_status_name(roi_message_status(m)));
      goto out;
    }
    roi_engine_put(e, &m);
    ok++;
  }
  /* A graceful goodbye: the server answers, and both sides close. */
  rc = post(e, g, ROI_OP_BYE_REQUEST, hello.channel, 0, NULL, NULL, NULL, NULL);
  while (rc == 0 && next(e, g, &m) == 0) {
    int done = roi_message_opcode(m) == ROI_OP_SIGNAL &&
               roi_message_status(m) == ROI_STATUS_CHANNEL_CLOSED;
    roi_engine_put(e, &m);
    if (done)
      break;
  }
out:
  printf("%ld of %ld echoes verified\n", ok, count);
  roi_message_destroy(m);
  roi_engine_destroy(e);
  return ok == count ? 0 : 1;
}
