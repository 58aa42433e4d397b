/*
 * roi_sock_pair_tcp(): a connected loopback pair, made from the portable
 * roi_sock_* calls only, so one definition serves every platform.
 */
#include "platform.h"
#include "roi/error.h"
#include "roi/sock.h"

/* How long to wait for a loopback connect to reach the accept queue. */
#define PAIR_ACCEPT_TRIES 2000

int roi_sock_pair_tcp(roi_socket out[2]) {
  roi_socket l = ROI_INVALID_SOCKET, c = ROI_INVALID_SOCKET, a = ROI_INVALID_SOCKET;
  int err, port, tries;
  if (!out)
    return ROI_EINVAL;
  out[0] = out[1] = ROI_INVALID_SOCKET;
  err = roi_sock_listen_tcp("127.0.0.1", 0, 1, &l);
  if (err)
    goto fail;
  port = roi_sock_local_port(l);
  if (port < 0) {
    err = port;
    goto fail;
  }
  err = roi_sock_connect_tcp("127.0.0.1", port, &c);
  if (err)
    goto fail;
  /* The connect is non-blocking: its connection shows up in the accept queue
   * shortly, at once on Linux and after a wineserver round trip under Wine. */
  for (tries = 0; tries < PAIR_ACCEPT_TRIES; tries++) {
    err = roi_sock_accept(l, &a);
    if (err != ROI_EAGAIN)
      break;
    roi__sleep_ms(1);
  }
  if (err)
    goto fail;
  roi_sock_close(l);
  out[0] = c;
  out[1] = a;
  return 0;
fail:
  roi_sock_close(c);
  roi_sock_close(l);
  return err;
}
