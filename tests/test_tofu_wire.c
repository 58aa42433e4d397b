/*
 * tofu interoperability without sockets: text-header blocks read exactly as
 * tofu's TextHeaderIterator.next() reads them (its published vectors from
 * tests/message_tests.zig, byte for byte, and the lax forms it accepts),
 * roi_message_header_add() against tofu's TextHeaders.append(), and the
 * 16-byte header of every opcode as tofu's BinaryHeader.toBytes() lays it
 * out (a packed struct of channel u16, ProtoFields u8 = opcode:4 origin:1
 * more:1 A:1 B:1 from the low bit, status u8, message id u64, text-header
 * length u16, body length u16, each multi-byte field big-endian). The
 * expected bytes are written out by hand here, never computed with roi's
 * encoder.
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

/* ---- text headers ---- */

/* One header as tofu's iterator gives it: name and value, exact bytes. */
typedef struct kv {
  const char *name;
  const char *value;
} kv;

/* Makes a message whose text-header block is [block, block + len), the way
 * a received frame makes it: a Request frame on channel 1 with that block is
 * cut by roi__frame_parse() (which must accept it whole) and copied by
 * roi__frame_to_message(). Returns NULL after printing why. */
static roi_message *msg_with_block(const char *block, size_t len) {
  uint8_t *buf = malloc(16 + len + 1);
  roi__frame f;
  roi_message *m = NULL;
  int rc;
  if (!buf || roi_message_create(&m) != 0) {
    free(buf);
    return NULL;
  }
  /* channel 1, proto 0x00, status 0, id 1, text headers len, body 0. */
  memset(buf, 0, 16);
  buf[1] = 0x01;
  buf[11] = 0x01;
  buf[12] = (uint8_t)(len >> 8);
  buf[13] = (uint8_t)len;
  if (len)
    memcpy(buf + 16, block, len);
  rc = roi__frame_parse(buf, 16 + len, &f);
  if (rc != 1) {
    fprintf(stderr, "  roi__frame_parse of a %u-byte block: %d (want 1)\n", (unsigned)len,
            rc);
    roi_message_destroy(m);
    free(buf);
    return NULL;
  }
  if (f.size != 16 + len || roi__frame_to_message(&f, m) != 0) {
    roi_message_destroy(m);
    m = NULL;
  }
  free(buf);
  return m;
}

/* Prints bytes with CR, LF and tab made visible. */
static void show(const char *p, size_t n) {
  size_t i;
  fputc('"', stderr);
  for (i = 0; i < n; i++) {
    if (p[i] == '\r')
      fputs("\\r", stderr);
    else if (p[i] == '\n')
      fputs("\\n", stderr);
    else if (p[i] == '\t')
      fputs("\\t", stderr);
    else
      fputc(p[i], stderr);
  }
  fputc('"', stderr);
}

/* Iterates m's block and compares it with want[0..n): every name and value
 * byte for byte, then the end, which stays the end on further calls (an
 * empty name ends the block for good). Returns 0, or -1 after printing the
 * first difference. */
static int check_headers(const roi_message *m, const kv *want, size_t n) {
  roi_header_iter it = {0};
  roi_header h;
  size_t i;
  int rc, k;
  for (i = 0; i < n; i++) {
    size_t nl = strlen(want[i].name), vl = strlen(want[i].value);
    rc = roi_message_header_next(m, &it, &h);
    if (rc != 1) {
      fprintf(stderr, "  header %u: roi_message_header_next gave %d, want 1 (", (unsigned)i,
              rc);
      show(want[i].name, nl);
      fputs(")\n", stderr);
      return -1;
    }
    if (h.name_len != nl || memcmp(h.name, want[i].name, nl) != 0 || h.value_len != vl ||
        memcmp(h.value, want[i].value, vl) != 0) {
      fprintf(stderr, "  header %u: got name ", (unsigned)i);
      show(h.name, h.name_len);
      fputs(" value ", stderr);
      show(h.value, h.value_len);
      fputs(", want name ", stderr);
      show(want[i].name, nl);
      fputs(" value ", stderr);
      show(want[i].value, vl);
      fputc('\n', stderr);
      return -1;
    }
  }
  for (k = 0; k < 3; k++) {
    rc = roi_message_header_next(m, &it, &h);
    if (rc != 0) {
      fprintf(stderr, "  after %u headers, call %d: roi_message_header_next gave %d",
              (unsigned)n, k + 1, rc);
      if (rc == 1) {
        fputs(" with name ", stderr);
        show(h.name, h.name_len);
      }
      fputs(" (want 0, the end)\n", stderr);
      return -1;
    }
  }
  return 0;
}

/* Parses the block as a received frame and checks what it reads as. */
static int check_block(const char *block, size_t len, const kv *want, size_t n) {
  roi_message *m = msg_with_block(block, len);
  int rc;
  if (!m) {
    fputs("  block ", stderr);
    show(block, len);
    fputs(" refused\n", stderr);
    return -1;
  }
  rc = check_headers(m, want, n);
  if (rc != 0) {
    fputs("  in block ", stderr);
    show(block, len);
    fputc('\n', stderr);
  }
  roi_message_destroy(m);
  return rc;
}

#define BLOCK(s) (s), sizeof(s) - 1
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* tofu's "TextHeaderIterator no CRLF": "a: b" gives (a, b) and the end. */
ROI_TEST(tofu_vector_no_crlf) {
  static const kv want[] = {{"a", "b"}};
  ROI_ASSERT_EQ(check_block(BLOCK("a: b"), want, N(want)), 0);
}

/* tofu's "TextHeaderIterator next": the three blocks of that test. */
ROI_TEST(tofu_vector_next) {
  static const kv want1[] = {{"a", "b"}, {"c", ""}, {"d", "e"}, {"f", "g"}};
  static const kv want3[] = {{"a", "b"}};
  ROI_ASSERT_EQ(
      check_block(BLOCK("a: b\r\nc:  \r\nd:e\r\n\r\nf: g\r\n\r\n"), want1, N(want1)), 0);
  ROI_ASSERT_EQ(check_block(BLOCK(": ss\r\n\r\n"), NULL, 0), 0);
  ROI_ASSERT_EQ(check_block(BLOCK("a:b\r\n\r\n: ss\r\n\r\n"), want3, N(want3)), 0);
}

/* tofu's "TextHeaderIterator empty": no block, no header. */
ROI_TEST(tofu_vector_empty) {
  roi_message *m = NULL;
  roi_header_iter it = {0};
  roi_header h;
  size_t len = 99;
  ROI_ASSERT_EQ(roi_message_create(&m), 0);
  ROI_ASSERT_TRUE(roi_message_headers(m, &len) == NULL);
  ROI_ASSERT_EQ(len, 0);
  ROI_ASSERT_EQ(roi_message_header_next(m, &it, &h), 0);
  ROI_ASSERT_EQ(roi_message_header_next(m, &it, &h), 0);
  ROI_ASSERT_EQ(roi_message_header_find(m, "a", &h), 0);
  roi_message_destroy(m);
  /* A received frame with a zero-length block is the same. */
  ROI_ASSERT_EQ(check_block("", 0, NULL, 0), 0);
}

/* The forms tofu's iterator accepts, each read as tofu reads it. */
ROI_TEST(lax_forms_read_as_tofu) {
  static const kv nocolon[] = {{"nocolon", ""}};
  static const kv untrimmed_name[] = {{" a ", "b"}};
  static const kv tabs[] = {{"\tn\t", "v"}, {"t", "x \t y"}};
  static const kv colons[] = {{"x", "y:z"}, {"url", "tcp|h|1"}};
  static const kv blanks[] = {{"k", "v"}, {"last", ""}};
  static const kv last_no_crlf[] = {{"a", "b"}, {"c", ""}};
  static const kv lone_cr_lf[] = {{"a\nb", "c\rd"}, {"e", "f\r"}};
  static const kv spaces_only[] = {{"s", ""}};
  static const kv stop[] = {{"first", "1"}};
  /* A line without ':' is a name with an empty value. */
  ROI_ASSERT_EQ(check_block(BLOCK("nocolon\r\n"), nocolon, N(nocolon)), 0);
  ROI_ASSERT_EQ(check_block(BLOCK("nocolon"), nocolon, N(nocolon)), 0);
  /* The name is not trimmed; the value is (spaces and tabs only). */
  ROI_ASSERT_EQ(check_block(BLOCK(" a :b"), untrimmed_name, N(untrimmed_name)), 0);
  ROI_ASSERT_EQ(check_block(BLOCK("\tn\t:\t v \t\r\nt: x \t y\t\r\n"), tabs, N(tabs)), 0);
  /* The name runs to the first ':'; the rest, colons and bars, is the value. */
  ROI_ASSERT_EQ(check_block(BLOCK("x:y:z\r\nurl:tcp|h|1\r\n"), colons, N(colons)), 0);
  /* Empty lines anywhere are skipped; a header with nothing after the colon
   * has an empty value. */
  ROI_ASSERT_EQ(
      check_block(BLOCK("\r\n\r\nk:v\r\n\r\n\r\nlast:\r\n\r\n"), blanks, N(blanks)), 0);
  ROI_ASSERT_EQ(check_block(BLOCK("\r\n"), NULL, 0), 0);
  ROI_ASSERT_EQ(check_block(BLOCK("\r\n\r\n\r\n"), NULL, 0), 0);
  /* The last line may end without CRLF. */
  ROI_ASSERT_EQ(check_block(BLOCK("a:b\r\nc"), last_no_crlf, N(last_no_crlf)), 0);
  /* Only CRLF ends a line: a lone LF or CR is part of the name or value (and
   * a CR at the very end is not trimmed: tofu trims spaces and tabs). */
  ROI_ASSERT_EQ(check_block(BLOCK("a\nb:c\rd\r\ne:f\r"), lone_cr_lf, N(lone_cr_lf)), 0);
  /* A value of spaces is an empty value. */
  ROI_ASSERT_EQ(check_block(BLOCK("s:    \r\n"), spaces_only, N(spaces_only)), 0);
  /* An empty name ends the block: what follows is never read, with or
   * without CRLF, however many times next is called. */
  ROI_ASSERT_EQ(check_block(BLOCK("first:1\r\n: ss\r\nhidden:2\r\n"), stop, N(stop)), 0);
  ROI_ASSERT_EQ(check_block(BLOCK("first:1\r\n:"), stop, N(stop)), 0);
  ROI_ASSERT_EQ(check_block(BLOCK("first:1\r\n\r\n:x"), stop, N(stop)), 0);
  ROI_ASSERT_EQ(check_block(BLOCK(":\r\nhidden:2"), NULL, 0), 0);
}

/* roi_message_header_find over the lax forms: the exact (untrimmed) name,
 * never an error, nothing after an empty name. */
ROI_TEST(find_over_lax_blocks) {
  static const char block[] = " a :b\r\nc:  \r\nnocolon\r\n\r\nd: e \r\n: ss\r\nhidden:1";
  roi_message *m = msg_with_block(block, sizeof block - 1);
  roi_header h;
  ROI_ASSERT_TRUE(m != NULL);
  ROI_ASSERT_EQ(roi_message_header_find(m, " a ", &h), 1);
  ROI_ASSERT_EQ(h.value_len, 1);
  ROI_ASSERT_EQ(h.value[0], 'b');
  ROI_ASSERT_EQ(roi_message_header_find(m, "a", &h), 0);
  ROI_ASSERT_EQ(roi_message_header_find(m, "c", &h), 1);
  ROI_ASSERT_EQ(h.value_len, 0);
  ROI_ASSERT_EQ(roi_message_header_find(m, "nocolon", &h), 1);
  ROI_ASSERT_EQ(h.value_len, 0);
  ROI_ASSERT_EQ(roi_message_header_find(m, "d", &h), 1);
  ROI_ASSERT_EQ(h.value_len, 1);
  ROI_ASSERT_EQ(h.value[0], 'e');
  ROI_ASSERT_EQ(roi_message_header_find(m, "hidden", &h), 0);
  ROI_ASSERT_EQ(roi_message_header_find(m, "", &h), 0);
  ROI_ASSERT_EQ(roi_message_header_find(m, NULL, &h), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_next(m, NULL, &h), ROI_EINVAL);
  roi_message_destroy(m);
}

/* Nothing is malformed. A few hundred pseudo-random blocks over the
 * characters that matter (CR, LF, ':', space, tab, a letter), each accepted
 * whole by roi__frame_parse and iterated to its end within as many steps as
 * it has bytes, every header well formed as tofu's iterator would give it. */
ROI_TEST(no_block_is_malformed) {
  static const char alphabet[] = "\r\n: \ta";
  unsigned seed = 12345u;
  int round;
  for (round = 0; round < 400; round++) {
    char block[24];
    size_t len = (size_t)(round % 24), i, steps = 0, rawlen;
    const char *raw;
    roi_message *m;
    roi_header_iter it = {0};
    roi_header h;
    int rc;
    for (i = 0; i < len; i++) {
      seed = seed * 1103515245u + 12345u;
      block[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
    }
    m = msg_with_block(block, len);
    ROI_ASSERT_TRUE(m != NULL);
    raw = roi_message_headers(m, &rawlen);
    ROI_ASSERT_EQ(rawlen, len);
    while ((rc = roi_message_header_next(m, &it, &h)) == 1) {
      /* A non-empty name without ':' or CRLF, and a trimmed value without
       * CRLF, both inside the block. */
      ROI_ASSERT_GT(h.name_len, 0);
      ROI_ASSERT_TRUE(h.name >= raw && h.name + h.name_len <= raw + rawlen);
      ROI_ASSERT_TRUE(h.value >= raw && h.value + h.value_len <= raw + rawlen);
      ROI_ASSERT_TRUE(memchr(h.name, ':', h.name_len) == NULL);
      for (i = 0; i + 1 < h.name_len; i++)
        ROI_ASSERT_TRUE(h.name[i] != '\r' || h.name[i + 1] != '\n');
      for (i = 0; i + 1 < h.value_len; i++)
        ROI_ASSERT_TRUE(h.value[i] != '\r' || h.value[i + 1] != '\n');
      if (h.value_len > 0) {
        ROI_ASSERT_TRUE(h.value[0] != ' ' && h.value[0] != '\t');
        ROI_ASSERT_TRUE(h.value[h.value_len - 1] != ' ' &&
                        h.value[h.value_len - 1] != '\t');
      }
      steps++;
      ROI_ASSERT_LE(steps, len);
    }
    ROI_ASSERT_EQ(rc, 0);
    roi_message_destroy(m);
  }
}

/* roi_message_header_add against tofu's TextHeaders.append(): the name is
 * trimmed and must not end up empty, the value is written as given and must
 * not be empty, a value of spaces is taken (and reads back empty); CR or LF
 * in a name or value is refused (a header could not be read back as one). */
ROI_TEST(header_add_rules) {
  roi_message *m = NULL;
  size_t len;
  const char *raw;
  static const char want[] = "n:  \r\nk:v\r\n";
  static const kv back[] = {{"n", ""}, {"k", "v"}};
  ROI_ASSERT_EQ(roi_message_create(&m), 0);
  ROI_ASSERT_EQ(roi_message_header_add(m, "n", "  "), 0);
  ROI_ASSERT_EQ(roi_message_header_add(m, " k\t", "v"), 0);
  raw = roi_message_headers(m, &len);
  ROI_ASSERT_EQ(len, sizeof want - 1);
  ROI_ASSERT_EQ(memcmp(raw, want, len), 0);
  ROI_ASSERT_EQ(check_headers(m, back, N(back)), 0);
  /* Refused, and the block is left as it was. */
  ROI_ASSERT_EQ(roi_message_header_add(m, "a\rb", "v"), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_add(m, "a\nb", "v"), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_add(m, "a\r\nb", "v"), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_add(m, "a", "x\ry"), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_add(m, "a", "x\ny"), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_add(m, "a", "x\r\n"), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_add(m, "a", "\r\n"), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_add(m, "a", ""), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_add(m, " \t ", "v"), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_message_header_add(m, "", "v"), ROI_EINVAL);
  raw = roi_message_headers(m, &len);
  ROI_ASSERT_EQ(len, sizeof want - 1);
  ROI_ASSERT_EQ(memcmp(raw, want, len), 0);
  roi_message_destroy(m);
}

/* ---- the binary header ---- */

/* One frame header as tofu encodes it: the fields, the text header and body
 * that make the lengths, the 16 bytes worked out by hand, and what
 * roi__frame_parse() says of it (1, or the negated status that refuses it:
 * origin engine is the local engine's alone). */
typedef struct wire_vec {
  const char *what;
  int op;
  uint16_t channel;
  uint8_t proto;
  uint8_t status;
  uint64_t id;
  const char *hname, *hvalue; /* one text header, or NULL */
  const char *body;           /* or NULL */
  uint16_t hlen, blen;        /* counted by hand */
  uint8_t want[16];
  int parse;
} wire_vec;

static const wire_vec vectors[] = {
    {"Request, more",
     ROI_OP_REQUEST,
     0x0001,
     0x20,
     0x00,
     0x0000000000000001ull,
     NULL,
     NULL,
     "hello",
     0,
     5,
     {0x00, 0x01, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
      0x00, 0x05},
     1},
    {"Response, more and priority",
     ROI_OP_RESPONSE,
     0x1234,
     0x61,
     0x00,
     0xAABBCCDDEEFF0011ull,
     "k",
     "v",
     "xyz",
     5,
     3,
     {0x12, 0x34, 0x61, 0x00, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xFF, 0x00, 0x11, 0x00, 0x05,
      0x00, 0x03},
     1},
    {"Signal, priority, status 7",
     ROI_OP_SIGNAL,
     0xFFFE,
     0x42,
     0x07,
     0x0102030405060708ull,
     NULL,
     NULL,
     NULL,
     0,
     0,
     {0xFF, 0xFE, 0x42, 0x07, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x00, 0x00,
      0x00, 0x00},
     1},
    {"HelloRequest as tofu's TCPClientAddress.format makes it",
     ROI_OP_HELLO_REQUEST,
     0x00FF,
     0x03,
     0x00,
     0x0000000000000010ull,
     "~connect_to",
     "tcp|127.0.0.1|7099",
     NULL,
     32,
     0,
     {0x00, 0xFF, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x20,
      0x00, 0x00},
     1},
    {"HelloResponse, origin engine, connect_failed",
     ROI_OP_HELLO_RESPONSE,
     0x0100,
     0x14,
     0x18,
     0x0000000000000010ull,
     NULL,
     NULL,
     NULL,
     0,
     0,
     {0x01, 0x00, 0x14, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00,
      0x00, 0x00},
     -ROI_STATUS_NOT_ALLOWED},
    {"ByeRequest, largest id",
     ROI_OP_BYE_REQUEST,
     0x8001,
     0x05,
     0x00,
     0xFFFFFFFFFFFFFFFFull,
     NULL,
     NULL,
     NULL,
     0,
     0,
     {0x80, 0x01, 0x05, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00,
      0x00, 0x00},
     1},
    {"ByeResponse, priority",
     ROI_OP_BYE_RESPONSE,
     0x7FFF,
     0x46,
     0x00,
     0x0000000100000000ull,
     NULL,
     NULL,
     "bye",
     0,
     3,
     {0x7F, 0xFF, 0x46, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x00, 0x03},
     1},
    {"ByeSignal as ProtoFields.default(.ByeSignal) makes it (A on)",
     ROI_OP_BYE_SIGNAL,
     0x0A0B,
     0x47,
     0x00,
     0x000000000000002Aull,
     NULL,
     NULL,
     NULL,
     0,
     0,
     {0x0A, 0x0B, 0x47, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2A, 0x00, 0x00,
      0x00, 0x00},
     1},
    {"ByeSignal without A",
     ROI_OP_BYE_SIGNAL,
     0x0A0B,
     0x07,
     0x00,
     0x000000000000002Bull,
     NULL,
     NULL,
     NULL,
     0,
     0,
     {0x0A, 0x0B, 0x07, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2B, 0x00, 0x00,
      0x00, 0x00},
     1},
    {"WelcomeRequest as tofu's TCPServerAddress.format makes it (all interfaces)",
     ROI_OP_WELCOME_REQUEST,
     0x0002,
     0x08,
     0x00,
     0x0000000000000099ull,
     "~listen_on",
     "tcp||7099",
     NULL,
     22,
     0,
     {0x00, 0x02, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x99, 0x00, 0x16,
      0x00, 0x00},
     1},
    {"WelcomeResponse, origin engine",
     ROI_OP_WELCOME_RESPONSE,
     0x4321,
     0x19,
     0x00,
     0x123456789ABCDEF0ull,
     "~listen_on",
     "tcp|0.0.0.0|7099",
     NULL,
     29,
     0,
     {0x43, 0x21, 0x19, 0x00, 0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0xDE, 0xF0, 0x00, 0x1D,
      0x00, 0x00},
     -ROI_STATUS_NOT_ALLOWED},
    {"Signal, origin, more and priority, status 0xFF",
     ROI_OP_SIGNAL,
     0x0003,
     0x72,
     0xFF,
     0x0303030303030303ull,
     NULL,
     NULL,
     NULL,
     0,
     0,
     {0x00, 0x03, 0x72, 0xFF, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x00, 0x00,
      0x00, 0x00},
     -ROI_STATUS_NOT_ALLOWED},
};

/* Builds v's message with the public setters. */
static roi_message *vector_message(const wire_vec *v) {
  roi_message *m = NULL;
  if (roi_message_create(&m) != 0)
    return NULL;
  roi_message_set_channel(m, v->channel);
  if (roi_message_set_opcode(m, v->op) != 0 ||
      roi_message_set_origin(m, v->proto & 0x10 ? ROI_ORIGIN_ENGINE
                                                : ROI_ORIGIN_APPLICATION) != 0 ||
      (v->hname && roi_message_header_add(m, v->hname, v->hvalue) != 0) ||
      (v->body && roi_message_body_set(m, v->body, strlen(v->body)) != 0)) {
    roi_message_destroy(m);
    return NULL;
  }
  roi_message_set_more(m, v->proto & 0x20);
  roi_message_set_priority(m, v->proto & 0x40);
  roi_message_set_status(m, v->status);
  roi_message_set_id(m, v->id);
  return m;
}

/* Every opcode 0..9: roi's encoder, from the fields and from a message made
 * with the setters, gives tofu's 16 bytes; the bytes decode back to the
 * fields; a whole frame parses back into the same message (or is refused
 * with NOT_ALLOWED when the origin bit says "engine"). */
ROI_TEST(binary_header_every_opcode) {
  size_t i;
  int seen[10] = {0}, op;
  for (i = 0; i < N(vectors); i++) {
    const wire_vec *v = &vectors[i];
    roi__frame_header h, back;
    roi__frame f;
    roi_message *m, *got = NULL;
    uint8_t out[16], frame[16 + 64];
    size_t hl = v->hname ? strlen(v->hname) + 1 + strlen(v->hvalue) + 2 : 0;
    size_t bl = v->body ? strlen(v->body) : 0, len;
    const char *raw;
    const void *body;
    fprintf(stderr, "  vector %u: %s\n", (unsigned)i, v->what);
    seen[v->op] = 1;
    /* The hand-counted lengths and proto bytes are what they claim. */
    ROI_ASSERT_EQ(hl, v->hlen);
    ROI_ASSERT_EQ(bl, v->blen);
    ROI_ASSERT_EQ(v->proto & 0x0F, v->op);
    ROI_ASSERT_EQ(v->want[2], v->proto);
    /* From the fields. */
    memset(&h, 0, sizeof h);
    h.channel = v->channel;
    h.proto = v->proto;
    h.status = v->status;
    h.id = v->id;
    h.headers_len = v->hlen;
    h.body_len = v->blen;
    roi__frame_header_encode(&h, out);
    ASSERT_BYTES(out, v->want, 16);
    /* From a message made with the setters. */
    m = vector_message(v);
    ROI_ASSERT_TRUE(m != NULL);
    ROI_ASSERT_EQ(roi_message_opcode(m), v->op);
    ROI_ASSERT_EQ(roi_message_priority(m), (v->proto & 0x40) != 0);
    ROI_ASSERT_EQ(roi_message_more(m), (v->proto & 0x20) != 0);
    memset(&h, 0xEE, sizeof h);
    roi__frame_header_of(m, &h);
    roi__frame_header_encode(&h, out);
    ASSERT_BYTES(out, v->want, 16);
    /* Decoded back, field by field. */
    roi__frame_header_decode(v->want, &back);
    ROI_ASSERT_EQ_HEX(back.channel, v->channel);
    ROI_ASSERT_EQ_HEX(back.proto, v->proto);
    ROI_ASSERT_EQ_HEX(back.status, v->status);
    ROI_ASSERT_EQ_HEX(back.id, v->id);
    ROI_ASSERT_EQ(back.headers_len, v->hlen);
    ROI_ASSERT_EQ(back.body_len, v->blen);
    /* The whole frame, as a peer would send it. */
    memcpy(frame, v->want, 16);
    raw = roi_message_headers(m, &len);
    ROI_ASSERT_EQ(len, v->hlen);
    if (len)
      memcpy(frame + 16, raw, len);
    if (bl)
      memcpy(frame + 16 + len, v->body, bl);
    ROI_ASSERT_EQ(roi__frame_parse(frame, 16 + len + bl, &f), v->parse);
    if (v->parse == 1) {
      size_t n;
      for (n = 0; n < 16 + len + bl; n++)
        ROI_ASSERT_EQ(roi__frame_parse(frame, n, &f), 0);
      ROI_ASSERT_EQ(roi__frame_parse(frame, 16 + len + bl, &f), 1);
      ROI_ASSERT_EQ(f.size, 16 + len + bl);
      ROI_ASSERT_EQ(roi_message_create(&got), 0);
      ROI_ASSERT_EQ(roi__frame_to_message(&f, got), 0);
      ROI_ASSERT_EQ(roi_message_channel(got), v->channel);
      ROI_ASSERT_EQ(roi_message_opcode(got), v->op);
      ROI_ASSERT_EQ(roi_message_origin(got), ROI_ORIGIN_APPLICATION);
      ROI_ASSERT_EQ(roi_message_more(got), (v->proto & 0x20) != 0);
      ROI_ASSERT_EQ(roi_message_priority(got), (v->proto & 0x40) != 0);
      ROI_ASSERT_EQ(roi_message_status(got), v->status);
      ROI_ASSERT_EQ_HEX(roi_message_id(got), v->id);
      raw = roi_message_headers(got, &len);
      ROI_ASSERT_EQ(len, v->hlen);
      if (len)
        ROI_ASSERT_EQ(memcmp(raw, frame + 16, len), 0);
      body = roi_message_body(got, &len);
      ROI_ASSERT_EQ(len, v->blen);
      if (len)
        ROI_ASSERT_EQ(memcmp(body, v->body, len), 0);
      /* And encodes to the same 16 bytes again. */
      roi__frame_header_of(got, &h);
      roi__frame_header_encode(&h, out);
      ASSERT_BYTES(out, v->want, 16);
      roi_message_destroy(got);
    }
    roi_message_destroy(m);
  }
  for (op = 0; op <= 9; op++)
    ROI_ASSERT_EQ(seen[op], 1);
}

/* tofu's "BinaryHeader marshalling and demarshalling" header:
 * channel 0x1234, ProtoFields.default(.Request), status 0xFF, id
 * 0xAABBCCDDEEFF0011, text headers 0x5678, body 0x9ABC. */
ROI_TEST(tofu_marshalling_vector) {
  static const uint8_t want[16] = {0x12, 0x34, 0x00, 0xFF, 0xAA, 0xBB, 0xCC, 0xDD,
                                   0xEE, 0xFF, 0x00, 0x11, 0x56, 0x78, 0x9A, 0xBC};
  roi__frame_header h, back;
  uint8_t out[16];
  memset(&h, 0, sizeof h);
  h.channel = 0x1234;
  h.proto = 0x00;
  h.status = 0xFF;
  h.id = 0xAABBCCDDEEFF0011ull;
  h.headers_len = 0x5678;
  h.body_len = 0x9ABC;
  roi__frame_header_encode(&h, out);
  ASSERT_BYTES(out, want, 16);
  roi__frame_header_decode(want, &back);
  ROI_ASSERT_EQ_HEX(back.channel, 0x1234);
  ROI_ASSERT_EQ_HEX(back.proto, 0x00);
  ROI_ASSERT_EQ_HEX(back.status, 0xFF);
  ROI_ASSERT_EQ_HEX(back.id, 0xAABBCCDDEEFF0011ull);
  ROI_ASSERT_EQ_HEX(back.headers_len, 0x5678);
  ROI_ASSERT_EQ_HEX(back.body_len, 0x9ABC);
}

/* The priority bit (bit 6, tofu's A) and ByeSignal: setting the opcode
 * ByeSignal sets it, as ProtoFields.default(.ByeSignal) does; it can be
 * cleared; it never touches the other bits. Bit 7 (tofu's B) is refused on
 * a received frame, with or without the others. */
ROI_TEST(priority_bit_and_bye_signal) {
  static const uint8_t bit7[16] = {0x00, 0x01, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00};
  static const uint8_t bits67[16] = {0x00, 0x01, 0xC2, 0x00, 0x00, 0x00, 0x00, 0x00,
                                     0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00};
  roi_message *m = NULL;
  roi__frame_header h;
  roi__frame f;
  ROI_ASSERT_EQ(roi_message_priority(NULL), 0);
  roi_message_set_priority(NULL, 1);
  ROI_ASSERT_EQ(roi_message_create(&m), 0);
  ROI_ASSERT_EQ(roi_message_priority(m), 0);
  ROI_ASSERT_EQ(roi_message_set_opcode(m, ROI_OP_BYE_SIGNAL), 0);
  ROI_ASSERT_EQ(roi_message_priority(m), 1);
  roi__frame_header_of(m, &h);
  ROI_ASSERT_EQ_HEX(h.proto, 0x47);
  roi_message_set_priority(m, 0);
  ROI_ASSERT_EQ(roi_message_priority(m), 0);
  ROI_ASSERT_EQ(roi_message_opcode(m), ROI_OP_BYE_SIGNAL);
  roi__frame_header_of(m, &h);
  ROI_ASSERT_EQ_HEX(h.proto, 0x07);
  roi_message_reset(m);
  ROI_ASSERT_EQ(roi_message_set_opcode(m, ROI_OP_REQUEST), 0);
  ROI_ASSERT_EQ(roi_message_priority(m), 0);
  roi_message_set_more(m, 1);
  roi_message_set_priority(m, 1);
  ROI_ASSERT_EQ(roi_message_set_origin(m, ROI_ORIGIN_ENGINE), 0);
  roi__frame_header_of(m, &h);
  ROI_ASSERT_EQ_HEX(h.proto, 0x70);
  ROI_ASSERT_EQ(roi_message_more(m), 1);
  ROI_ASSERT_EQ(roi_message_origin(m), ROI_ORIGIN_ENGINE);
  roi_message_set_priority(m, 0);
  roi__frame_header_of(m, &h);
  ROI_ASSERT_EQ_HEX(h.proto, 0x30);
  roi_message_destroy(m);
  ROI_ASSERT_EQ(roi__frame_parse(bit7, 16, &f), -ROI_STATUS_NOT_ALLOWED);
  ROI_ASSERT_EQ(roi__frame_parse(bits67, 16, &f), -ROI_STATUS_NOT_ALLOWED);
}

ROI_TEST_MAIN(ROI_TEST_ENTRY(tofu_vector_no_crlf), ROI_TEST_ENTRY(tofu_vector_next),
              ROI_TEST_ENTRY(tofu_vector_empty), ROI_TEST_ENTRY(lax_forms_read_as_tofu),
              ROI_TEST_ENTRY(find_over_lax_blocks), ROI_TEST_ENTRY(no_block_is_malformed),
              ROI_TEST_ENTRY(header_add_rules), ROI_TEST_ENTRY(binary_header_every_opcode),
              ROI_TEST_ENTRY(tofu_marshalling_vector),
              ROI_TEST_ENTRY(priority_bit_and_bye_signal))
