/*
 * libFuzzer target of the frame decoder: whatever bytes a peer sends, cutting
 * frames out of them never crashes, never reads outside the input, and every
 * frame it accepts survives a round trip (decode, copy into a message,
 * re-encode the header: the same 16 bytes). Built with -Dfuzz=true (clang);
 * scripts/test runs it for a bounded time.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "roi/message.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  roi_message *m = NULL;
  if (roi_message_create(&m) != 0)
    return 0;
  /* Frames back to back, as a stream delivers them, until one is incomplete
   * or invalid (which would close the channel). */
  while (size > 0) {
    roi__frame f;
    roi__frame_header h;
    roi_header_iter it = {0};
    roi_header th;
    uint8_t again[ROI__FRAME_HEADER_SIZE];
    const char *block;
    size_t block_len;
    int r = roi__frame_parse(data, size, &f);
    if (r <= 0)
      break;
    if (roi__frame_to_message(&f, m) != 0)
      break;
    roi__frame_header_of(m, &h);
    roi__frame_header_encode(&h, again);
    if (memcmp(again, data, ROI__FRAME_HEADER_SIZE) != 0)
      abort(); /* the round trip changed the header */
    /* Any block reads (as tofu's iterator reads it); every header it yields
     * has a name, and lies within the block. */
    block = roi_message_headers(m, &block_len);
    while (roi_message_header_next(m, &it, &th) == 1) {
      if (th.name_len == 0 || th.name < block || th.value < th.name ||
          th.value + th.value_len > block + block_len)
        abort();
    }
    data += f.size;
    size -= f.size;
  }
  roi_message_destroy(m);
  return 0;
}
