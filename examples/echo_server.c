/*
 * An echo server on the roi engine: it listens on every address given on
 * the command line ("tcp|host|port" or "uds|path"; port 0 picks one) and
 * answers each request with the same message as a response.
 *
 *     echo_server 'tcp|127.0.0.1|7777' ['uds|/tmp/echo.sock'] [--clients N]
 *
 * It prints "listening on <address>" for each listener (the real port for
 * port 0), and with --clients exits once N clients have said goodbye (a
 * ByeRequest, answered, after which the engine closes their channel). Only public headers
 * are used, as in any application.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "roi/roi.h"

/* Prints the "~listen_on" header of the engine's WelcomeResponse. */
static void print_listener(const roi_message *m) {
  roi_header h;
  if (roi_message_header_find(m, ROI_HEADER_LISTEN_ON, &h) == 1)
    printf("listening on %.*s\n", (int)h.value_len, h.value);
  fflush(stdout);
}

static int listen_on(roi_engine *e, roi_group *g, const char *addr) {
  roi_message *m = NULL;
  int rc = roi_engine_get(e, ROI_GET_ALWAYS, &m);
  if (rc == 0) {
    roi_message_set_opcode(m, ROI_OP_WELCOME_REQUEST);
    rc = roi_message_header_add(m, ROI_HEADER_LISTEN_ON, addr);
  }
  if (rc == 0)
    rc = roi_group_post(g, &m, NULL);
  if (rc != 0) {
    fprintf(stderr, "echo_server: %s: %s\n", addr, roi_strerror(rc));
    roi_message_destroy(m);
    return -1;
  }
  rc = roi_group_wait_receive(g, 10000, &m);
  if (rc != 0 || roi_message_status(m) != ROI_STATUS_SUCCESS) {
    fprintf(stderr, "echo_server: cannot listen on %s: %s\n", addr,
            rc ? roi_strerror(rc) : roi_status_name(roi_message_status(m)));
    roi_message_destroy(m);
    return -1;
  }
  print_listener(m);
  roi_engine_put(e, &m);
  return 0;
}

int main(int argc, char **argv) {
  roi_engine *e = NULL;
  roi_group *g = NULL;
  long max = -1, echoed = 0, finished = 0;
  int i, listeners = 0, rc;
  rc = roi_engine_create(&e, NULL);
  if (rc == 0)
    rc = roi_group_create(e, &g);
  if (rc != 0) {
    fprintf(stderr, "echo_server: %s\n", roi_strerror(rc));
    roi_engine_destroy(e);
    return 1;
  }
  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc) {
      max = atol(argv[++i]);
    } else if (listen_on(e, g, argv[i]) == 0) {
      listeners++;
    } else {
      roi_engine_destroy(e);
      return 1;
    }
  }
  if (listeners == 0 && listen_on(e, g, "tcp|127.0.0.1|7777") != 0) {
    roi_engine_destroy(e);
    return 1;
  }
  while (max < 0 || finished < max) {
    roi_message *m = NULL;
    int op;
    if (roi_group_wait_receive(g, -1, &m) != 0)
      break;
    op = roi_message_opcode(m);
    if (roi_message_origin(m) == ROI_ORIGIN_APPLICATION &&
        (op == ROI_OP_REQUEST || op == ROI_OP_HELLO_REQUEST || op == ROI_OP_BYE_REQUEST)) {
      /* The same message goes back: same channel, same id, same body. */
      roi_message_set_opcode(m, op + 1);
      if (roi_group_post(g, &m, NULL) == 0) {
        echoed += op == ROI_OP_REQUEST;
        continue;
      }
    }
    /* A channel closed after our ByeResponse went out: a client finished.
     * Only the engine's own Signal says so (origin engine: a peer cannot set
     * that bit); a peer's Signal with the same status is just a message.
     * Other signals (a client gone, a pool running dry, a refused echo when a
     * client reads none of its answers, a listener short of descriptors) need
     * nothing here but the message's return to the pool. */
    if (op == ROI_OP_SIGNAL && roi_message_origin(m) == ROI_ORIGIN_ENGINE &&
        roi_message_status(m) == ROI_STATUS_CHANNEL_CLOSED) {
      roi_header h;
      if (roi_message_header_find(m, ROI_HEADER_REASON, &h) == 1 &&
          atoi(h.value) == ROI_STATUS_CHANNEL_CLOSED)
        finished++;
    }
    roi_engine_put(e, &m);
  }
  printf("echoed %ld requests for %ld clients\n", echoed, finished);
  roi_group_destroy(g);
  roi_engine_destroy(e);
  return 0;
}
