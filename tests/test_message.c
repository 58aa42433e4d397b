/*
 * Messages and the wire format: header golden vectors written out byte by
 * byte, text-header building and parsing edge cases, and frames that must be
 * refused with their exact status.
 */
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "roi/error.h"
#include "roi/message.h"
#include "roi_test.h"

/* Compares n bytes and prints the first difference. */
#define ASSERT_BYTES(got, want, n)                                                         \
  do {                                                                                     \
    size_t i_;                                                                             \
    for (i_ = 0; i_ < (size_t)(n); i_++)                                                   \
      if (((const uint8_t *)(got))[i_] != ((const uint8_t *)(want))[i_]) {                 \
        roi_test__report(__FILE__, __LINE__, "byte %u: got 0x%02x, want 0x%02x",           \
                         (unsigned)i_, ((const uint8_t *)(got))[i_],                       \
                         ((const uint8_t *)(want))[i_]);                                   \
        return;                                                                            \
      }                                                                                    \
  } while (0)

/* A HelloRequest from the engine on channel 0x1234, status 0, message id
 * 0x0102030405060708, 0x0A bytes of text headers, 0x0100 bytes of body. */
ROI_TEST(golden_header_hello_request) {
  static const uint8_t want[16] = {0x12, 0x34, 0x13, 0x00, 0x01, 0x02, 0x03, 0x04,
                                   0x05, 0x06, 0x07, 0x08, 0x00, 0x0A, 0x01, 0x00};
  roi__frame_header h, back;
  uint8_t out[16];
  memset(&h, 0, sizeof h);
  h.channel = 0x1234;
  h.proto = ROI_OP_HELLO_REQUEST | 0x10; /* origin engine */
  h.status = 0;
  h.id = 0x0102030405060708ULL;
  h.headers_len = 0x000A;
  h.body_len = 0x0100;
  roi__frame_header_encode(&h, out);
  ASSERT_BYTES(out, want, 16);
  roi__frame_header_decode(want, &back);
  ROI_ASSERT_EQ_HEX(back.channel, 0x1234);
  ROI_ASSERT_EQ_HEX(back.proto, 0x13);
  ROI_ASSERT_EQ_HEX(back.id, 0x0102030405060708ULL);
  ROI_ASSERT_EQ(back.headers_len, 10);
  ROI_ASSERT_EQ(back.body_len, 256);
}

/* An application Request with the more flag, channel 1, status 0xFF, id 1. */
ROI_TEST(golden_header_request_more) {
  static const uint8_t want[16] = {0x00, 0x01, 0x20, 0xFF, 0x00, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x05};
  roi_message *m = NULL;
  roi__frame_header h;
  uint8_t out[16];
  ROI_ASSERT_EQ(roi_message_create(&m), 0);
  roi_message_set_channel(m, 1);
  ROI_ASSERT_EQ(roi_message_set_opcode(m, ROI_OP_REQUEST), 0);
  roi_message_set_more(m, 1);
  roi_message_set_status(m, 0xFF);
  roi_message_set_id(m, 1);
  ROI_ASSERT_EQ(roi_message_body_set(m, "hello", 5), 0);
  roi__frame_header_of(m, &h);
  roi__frame_header_encode(&h, out);
  ASSERT_BYTES(out, want, 16);
  roi_message_destroy(m);
}

/* The largest values of every field: all ones, big-endian. */
ROI_TEST(golden_header_all_ones) {
  static const uint8_t want[16] = {0xFF, 0xFF, 0x39, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                   0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
  roi__frame_header h;
  uint8_t out[16];
  h.channel = 0xFFFF;
  h.proto = 0x39; /* WelcomeResponse, engine, more */
  h.status = 0xFF;
  h.id = ~(uint64_t)0;
  h.headers_len = 0xFFFF;
  h.body_len = 0xFFFF;
  roi__frame_header_encode(&h, out);
  ASSERT_BYTES(out, want, 16);
}

/* A whole frame: header, "~connect_to:tcp|127.0.0.1|5000\r\n", body "xy". */
ROI_TEST(golden_frame_parses_into_message) {
  static const char hdrs[] = "~connect_to:tcp|127.0.0.1|5000\r\n";
  uint8_t buf[16 + sizeof hdrs - 1 + 2];
  roi__frame f;
  roi_message *m = NULL;
  roi_header h;
  size_t n;
  const void *body;
  static const uint8_t head[16] = {0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0x00, 0x07, 0x00, 0x20, 0x00, 0x02};
  ROI_ASSERT_EQ(sizeof hdrs - 1, 0x20);
  memcpy(buf, head, 16);
  memcpy(buf + 16, hdrs, sizeof hdrs - 1);
  memcpy(buf + 16 + sizeof hdrs - 1, "xy", 2);
  /* Every prefix is incomplete, never an error. */
  for (n = 0; n < sizeof buf; n++)
    ROI_ASSERT_EQ(roi__frame_parse(buf, n, &f), 0);
  ROI_ASSERT_EQ(roi__frame_parse(buf, sizeof buf, &f), 1);
  ROI_ASSERT_EQ(f.size, sizeof buf);
  ROI_ASSERT_EQ(roi_message_create(&m), 0);
  ROI_ASSERT_EQ(roi__frame_to_message(&f, m), 0);
  ROI_ASSERT_EQ(roi_message_opcode(m), ROI_OP_HELLO_REQUEST);
  ROI_ASSERT_EQ(roi_message_id(m), 7);
  ROI_ASSERT_EQ(roi_message_header_find(m, "~connect_to", &h), 1);
  ROI_ASSERT_EQ(h.value_len, strlen("tcp|127.0.0.1|5000"));
  ROI_ASSERT_TRUE(memcmp(h.value, "tcp|127.0.0.1|5000", h.value_len) == 0);
  body = roi_message_body(m, &n);
  ROI_ASSERT_EQ(n, 2);
  ROI_ASSERT_TRUE(memcmp(body, "xy", 2) == 0);
  roi_message_destroy(m);
}

/* Frames the receiver must refuse, each with its own status. */
ROI_TEST(malformed_headers_refused_with_status) {
  static const struct {
    uint8_t proto;
    uint64_t id;
    int status;
  } cases[] = {
      {0x0A, 1, ROI_STATUS_INVALID_OP_CODE},    /* opcode 10 */
      {0x0F, 1, ROI_STATUS_INVALID_OP_CODE},    /* opcode 15 */
      {0x01, 0, ROI_STATUS_INVALID_MESSAGE_ID}, /* a response with id 0 */
      {0x23, 1, ROI_STATUS_INVALID_MORE_USAGE}, /* more on a HelloRequest */
      {0x27, 1, ROI_STATUS_INVALID_MORE_USAGE}, /* more on a ByeSignal */
      {0x10, 1, ROI_STATUS_NOT_ALLOWED},        /* origin engine, from a peer */
      {0x80, 1, ROI_STATUS_NOT_ALLOWED},        /* reserved bit 7 */
  };
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    roi__frame_header h;
    roi__frame f;
    uint8_t buf[16];
    memset(&h, 0, sizeof h);
    h.channel = 5;
    h.proto = cases[i].proto;
    h.id = cases[i].id;
    roi__frame_header_encode(&h, buf);
    ROI_ASSERT_EQ(roi__frame_parse(buf, sizeof buf, &f), -cases[i].status);
  }
}

/* No text-header block is refused: each of these reads as tofu's iterator
 * reads it (test_tofu_wire has tofu's own vectors), and the frame parses. */
ROI_TEST(lax_text_headers_parse) {
  static const struct {
    const char *block, *name, *value;
  } cases[] = {
      {"novalue\r\n", "novalue", ""}, {"name:\r\n", "name", ""},
      {"a:b\r\nc:d", "a", "b"},       {"a:b\n", "a", "b\n"},
      {"\r\n\r\nx: y\r\n", "x", "y"},
  };
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t buf[64];
    roi__frame_header h;
    roi__frame f;
    roi_message *m = NULL;
    roi_header_iter it = {0};
    roi_header hd;
    size_t len = strlen(cases[i].block);
    memset(&h, 0, sizeof h);
    h.channel = 1;
    h.headers_len = (uint16_t)len;
    roi__frame_header_encode(&h, buf);
    memcpy(buf + 16, cases[i].block, len);
    ROI_ASSERT_EQ(roi__frame_parse(buf, 16 + len, &f), 1);
    ROI_ASSERT_EQ(roi_message_create(&m), 0);
    ROI_ASSERT_EQ(roi__frame_to_message(&f, m), 0);
    ROI_ASSERT_EQ(roi_message_header_next(m, &it, &hd), 1);
    ROI_ASSERT_EQ(hd.name_len, strlen(cases[i].name));
    ROI_ASSERT_EQ(memcmp(hd.name, cases[i].name, hd.name_len), 0);
    ROI_ASSERT_EQ(hd.value_len, strlen(cases[i].value));
    ROI_ASSERT_EQ(memcmp(hd.value, cases[i].value, hd.value_len), 0);
    roi_message_destroy(m);
  }
}

/* Building text headers: trimming, the rules for names and values, order. */
ROI_TEST(text_headers_add_and_iterate) {
  roi_message *m = NULL;
  roi_header_iter it = {0};
  roi_header h;
  size_t len;
  const char *raw;
  ROI_ASSERT_EQ(roi_message_create(&m), 0);
  ROI_ASSERT_EQ(roi_message_header_add(m, " ~listen_on\t", "tcp|0.0.0.0|0"), 0);
  ROI_ASSERT_EQ(roi_message_header_add(m, "k", "v: with colon"), 0);
  raw = roi_message_headers(m, &len);
  ROI_ASSERT_EQ(len, strlen("~listen_on:tcp|0.0.0.0|0\r\nk:v: with colon\r\n"));
  ROI_ASSERT_TRUE(memcmp(raw, "~listen_on:tcp|0.0.0.0|0\r\nk:v: with colon\r\n", len) == 0);
  ROI_ASSERT_EQ(roi_message_header_next(m, &it, &h), 1);
  ROI_ASSERT_EQ(h.name_len, 10);
  ROI_ASSERT_EQ(roi_message_header_next(m, &it, &h), 1);
  ROI_ASSERT_EQ(h.value_len, strlen("v: with colon"));
  ROI_ASSERT_EQ(roi_message_header_next(m, &it, &h), 0);
  ROI_ASSERT_EQ(roi_message_header_find(m, "missing", &h), 0);
  /* Refused, and the block is left as it was. */
  ROI_ASSERT_EQ(roi_message_header_add(m, "", "v"), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_add(m, "  ", "v"), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_add(m, "a:b", "v"), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_add(m, "a\r", "v"), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_add(m, "a", ""), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_add(m, "a", "x\r\ny:z"), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_add(m, NULL, "v"), ROI_EINVAL);
  roi_message_headers(m, &len);
  ROI_ASSERT_EQ(len, strlen("~listen_on:tcp|0.0.0.0|0\r\nk:v: with colon\r\n"));
  roi_message_destroy(m);
}

/* A space after the colon is tolerated when parsing, as tofu does; the name
 * is taken as it stands, spaces included (tofu does not trim it). */
ROI_TEST(text_headers_parse_tolerates_spaces) {
  static const char block[] = "~connect_to: uds|/tmp/x.sock\r\n Name :  value \r\n";
  uint8_t buf[16 + sizeof block];
  roi__frame_header fh;
  roi__frame f;
  roi_message *m = NULL;
  roi_header h;
  memset(&fh, 0, sizeof fh);
  fh.headers_len = (uint16_t)(sizeof block - 1);
  roi__frame_header_encode(&fh, buf);
  memcpy(buf + 16, block, sizeof block - 1);
  ROI_ASSERT_EQ(roi__frame_parse(buf, 16 + sizeof block - 1, &f), 1);
  ROI_ASSERT_EQ(roi_message_create(&m), 0);
  ROI_ASSERT_EQ(roi__frame_to_message(&f, m), 0);
  ROI_ASSERT_EQ(roi_message_header_find(m, "~connect_to", &h), 1);
  ROI_ASSERT_EQ(h.value_len, strlen("uds|/tmp/x.sock"));
  ROI_ASSERT_TRUE(memcmp(h.value, "uds|/tmp/x.sock", h.value_len) == 0);
  ROI_ASSERT_EQ(roi_message_header_find(m, "Name", &h), 0);
  ROI_ASSERT_EQ(roi_message_header_find(m, " Name ", &h), 1);
  ROI_ASSERT_EQ(h.value_len, 5);
  roi_message_destroy(m);
}

/* Parts are limited to 65,535 bytes, the u16 of the wire. */
ROI_TEST(part_limits) {
  roi_message *m = NULL;
  char *big = malloc(ROI_MESSAGE_MAX_PART + 1);
  size_t len;
  ROI_ASSERT_TRUE(big != NULL);
  memset(big, 'a', ROI_MESSAGE_MAX_PART + 1);
  ROI_ASSERT_EQ(roi_message_create(&m), 0);
  ROI_ASSERT_EQ(roi_message_body_set(m, big, ROI_MESSAGE_MAX_PART), 0);
  ROI_ASSERT_EQ(roi_message_body_append(m, "x", 1), ROI_EMSGSIZE);
  ROI_ASSERT_EQ(roi_message_body_set(m, big, ROI_MESSAGE_MAX_PART + 1), ROI_EMSGSIZE);
  roi_message_body(m, &len);
  ROI_ASSERT_EQ(len, ROI_MESSAGE_MAX_PART);
  /* "n" + ':' + value + CRLF: a 65,532-byte value makes 65,536 bytes, one
   * too many; 65,531 bytes make exactly 65,535. */
  big[65532] = '\0';
  ROI_ASSERT_EQ(roi_message_header_add(m, "n", big), ROI_EMSGSIZE);
  big[65532] = 'a';
  big[65531] = '\0';
  ROI_ASSERT_EQ(roi_message_header_add(m, "n", big), 0);
  roi_message_headers(m, &len);
  ROI_ASSERT_EQ(len, ROI_MESSAGE_MAX_PART);
  roi_message_reset(m);
  roi_message_body(m, &len);
  ROI_ASSERT_EQ(len, 0);
  roi_message_destroy(m);
  free(big);
}

/* Fields: opcode and origin fit their bits; names of statuses. */
ROI_TEST(fields_and_status_names) {
  roi_message *m = NULL;
  ROI_ASSERT_EQ(roi_message_create(&m), 0);
  ROI_ASSERT_EQ(roi_message_set_opcode(m, 16), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_set_opcode(m, -1), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_set_opcode(m, 15), 0);
  ROI_ASSERT_EQ(roi_message_opcode(m), 15);
  ROI_ASSERT_EQ(roi_message_set_origin(m, 2), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_set_origin(m, ROI_ORIGIN_ENGINE), 0);
  roi_message_set_more(m, 1);
  ROI_ASSERT_EQ(roi_message_origin(m), ROI_ORIGIN_ENGINE);
  ROI_ASSERT_EQ(roi_message_more(m), 1);
  ROI_ASSERT_EQ(roi_message_opcode(m), 15);
  ROI_ASSERT_EQ(roi_message_create(NULL), ROI_EINVAL);
  ROI_ASSERT_STR_EQ(roi_status_name(ROI_STATUS_POOL_EMPTY), "ROI_STATUS_POOL_EMPTY");
  ROI_ASSERT_STR_EQ(roi_status_name(ROI_STATUS_UNKNOWN_ERROR), "ROI_STATUS_UNKNOWN_ERROR");
  ROI_ASSERT_STR_EQ(roi_status_name(200), "ROI_STATUS_?");
  roi_message_destroy(m);
}

ROI_TEST_MAIN(ROI_TEST_ENTRY(golden_header_hello_request),
              ROI_TEST_ENTRY(golden_header_request_more),
              ROI_TEST_ENTRY(golden_header_all_ones),
              ROI_TEST_ENTRY(golden_frame_parses_into_message),
              ROI_TEST_ENTRY(malformed_headers_refused_with_status),
              ROI_TEST_ENTRY(lax_text_headers_parse),
              ROI_TEST_ENTRY(text_headers_add_and_iterate),
              ROI_TEST_ENTRY(text_headers_parse_tolerates_spaces),
              ROI_TEST_ENTRY(part_limits), ROI_TEST_ENTRY(fields_and_status_names))
