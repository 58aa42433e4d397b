/*
 * The error-code table: names, messages, and the mapping of errno, Win32/WSA
 * errors and NTSTATUS into ROI_E* codes. The Windows numbers are checked on
 * every platform because the table writes them as literals.
 */
#include "roi/roi.h"
#include "roi_test.h"

#include <errno.h>

/* Every code has a distinct name and a distinct, non-empty message. */
ROI_TEST(names_and_messages_are_distinct) {
  static const int codes[] = {
#define CODE(name, value, msg) ROI_##name,
      ROI_ERRNO_MAP(CODE)
#undef CODE
  };
  const int n = (int)(sizeof codes / sizeof codes[0]);
  int i, j;
  for (i = 0; i < n; i++) {
    ROI_ASSERT_LT(codes[i], 0);
    ROI_ASSERT_EQ(strncmp(roi_err_name(codes[i]), "ROI_E", 5), 0);
    ROI_ASSERT_NE(strcmp(roi_err_name(codes[i]), "ROI_E?"), 0);
    ROI_ASSERT_NE(strcmp(roi_strerror(codes[i]), "unknown error code"), 0);
    ROI_ASSERT_GT(strlen(roi_strerror(codes[i])), 3);
    for (j = 0; j < i; j++) {
      ROI_ASSERT_NE(codes[i], codes[j]);
      ROI_ASSERT_NE(strcmp(roi_err_name(codes[i]), roi_err_name(codes[j])), 0);
      ROI_ASSERT_NE(strcmp(roi_strerror(codes[i]), roi_strerror(codes[j])), 0);
    }
  }
}

/* The values are part of the ABI: they must not drift. */
ROI_TEST(values_are_stable) {
  ROI_ASSERT_EQ(ROI_EINVAL, -1);
  ROI_ASSERT_EQ(ROI_ENOMEM, -2);
  ROI_ASSERT_EQ(ROI_EAGAIN, -3);
  ROI_ASSERT_EQ(ROI_ECLOSED, -7);
  ROI_ASSERT_EQ(ROI_ELSP, -42);
  ROI_ASSERT_EQ(ROI_EUNKNOWN, -43);
}

ROI_TEST(names_and_messages) {
  ROI_ASSERT_STR_EQ(roi_err_name(0), "ROI_OK");
  ROI_ASSERT_STR_EQ(roi_strerror(0), "success");
  ROI_ASSERT_STR_EQ(roi_err_name(ROI_EINVAL), "ROI_EINVAL");
  ROI_ASSERT_STR_EQ(roi_strerror(ROI_EINVAL), "invalid argument");
  ROI_ASSERT_STR_EQ(roi_err_name(ROI_ECONNREFUSED), "ROI_ECONNREFUSED");
  ROI_ASSERT_STR_EQ(roi_err_name(ROI_EOF), "ROI_EOF");
  ROI_ASSERT_TRUE(strstr(roi_strerror(ROI_ELSP), "layered service provider") != NULL);
}

ROI_TEST(unknown_values_are_safe) {
  ROI_ASSERT_STR_EQ(roi_err_name(-9999), "ROI_E?");
  ROI_ASSERT_STR_EQ(roi_strerror(-9999), "unknown error code");
  ROI_ASSERT_STR_EQ(roi_err_name(12345), "ROI_E?");
  ROI_ASSERT_STR_EQ(roi_strerror(1), "unknown error code");
}

ROI_TEST(errno_mapping) {
  ROI_ASSERT_EQ(roi_err_from_errno(0), 0);
  ROI_ASSERT_EQ(roi_err_from_errno(EINVAL), ROI_EINVAL);
  ROI_ASSERT_EQ(roi_err_from_errno(ENOMEM), ROI_ENOMEM);
  ROI_ASSERT_EQ(roi_err_from_errno(EAGAIN), ROI_EAGAIN);
  ROI_ASSERT_EQ(roi_err_from_errno(EWOULDBLOCK), ROI_EAGAIN);
  ROI_ASSERT_EQ(roi_err_from_errno(ECONNREFUSED), ROI_ECONNREFUSED);
  ROI_ASSERT_EQ(roi_err_from_errno(ECONNRESET), ROI_ECONNRESET);
  ROI_ASSERT_EQ(roi_err_from_errno(EINPROGRESS), ROI_EINPROGRESS);
  ROI_ASSERT_EQ(roi_err_from_errno(EMFILE), ROI_EMFILE);
  ROI_ASSERT_EQ(roi_err_from_errno(EPIPE), ROI_EPIPE);
  ROI_ASSERT_EQ(roi_err_from_errno(EOPNOTSUPP), ROI_ENOTSUP);
  ROI_ASSERT_EQ(roi_err_from_errno(EFAULT), ROI_EINVAL);
  /* A negated errno gives the same code. */
  ROI_ASSERT_EQ(roi_err_from_errno(-ECONNREFUSED), ROI_ECONNREFUSED);
  /* A number no platform uses. */
  ROI_ASSERT_EQ(roi_err_from_errno(99999), ROI_EUNKNOWN);
}

ROI_TEST(win32_and_wsa_mapping) {
  ROI_ASSERT_EQ(roi_err_from_win32(0), 0);
  ROI_ASSERT_EQ(roi_err_from_win32(6), ROI_EBADF);            /* ERROR_INVALID_HANDLE */
  ROI_ASSERT_EQ(roi_err_from_win32(8), ROI_ENOMEM);           /* ERROR_NOT_ENOUGH_MEMORY */
  ROI_ASSERT_EQ(roi_err_from_win32(87), ROI_EINVAL);          /* ERROR_INVALID_PARAMETER */
  ROI_ASSERT_EQ(roi_err_from_win32(995), ROI_ECANCELED);      /* ERROR_OPERATION_ABORTED */
  ROI_ASSERT_EQ(roi_err_from_win32(1225), ROI_ECONNREFUSED);  /* ERROR_CONNECTION_REFUSED */
  ROI_ASSERT_EQ(roi_err_from_win32(10035), ROI_EAGAIN);       /* WSAEWOULDBLOCK */
  ROI_ASSERT_EQ(roi_err_from_win32(10038), ROI_ENOTSOCK);     /* WSAENOTSOCK */
  ROI_ASSERT_EQ(roi_err_from_win32(10048), ROI_EADDRINUSE);   /* WSAEADDRINUSE */
  ROI_ASSERT_EQ(roi_err_from_win32(10054), ROI_ECONNRESET);   /* WSAECONNRESET */
  ROI_ASSERT_EQ(roi_err_from_win32(10058), ROI_ESHUTDOWN);    /* WSAESHUTDOWN */
  ROI_ASSERT_EQ(roi_err_from_win32(10061), ROI_ECONNREFUSED); /* WSAECONNREFUSED */
  ROI_ASSERT_EQ(roi_err_from_win32(11001), ROI_ENOTFOUND);    /* WSAHOST_NOT_FOUND */
  ROI_ASSERT_EQ(roi_err_from_win32(0x7FFFFFFFu), ROI_EUNKNOWN); /* not an error number */
}

ROI_TEST(ntstatus_mapping) {
  ROI_ASSERT_EQ(roi_err_from_ntstatus(0x00000000u), 0);               /* STATUS_SUCCESS */
  ROI_ASSERT_EQ(roi_err_from_ntstatus(0x00000102u), ROI_ETIMEDOUT);   /* STATUS_TIMEOUT */
  ROI_ASSERT_EQ(roi_err_from_ntstatus(0x00000103u), ROI_EINPROGRESS); /* STATUS_PENDING */
  ROI_ASSERT_EQ(roi_err_from_ntstatus(0x00000001u), 0); /* another success value */
  ROI_ASSERT_EQ(roi_err_from_ntstatus(0xC0000120u), ROI_ECANCELED); /* STATUS_CANCELLED */
  ROI_ASSERT_EQ(roi_err_from_ntstatus(0xC0000225u), ROI_ENOENT);    /* STATUS_NOT_FOUND */
  ROI_ASSERT_EQ(roi_err_from_ntstatus(0xC0000008u), ROI_EBADF); /* STATUS_INVALID_HANDLE */
  ROI_ASSERT_EQ(roi_err_from_ntstatus(0xC0000236u), ROI_ECONNREFUSED);
  ROI_ASSERT_EQ(roi_err_from_ntstatus(0xC000020Du), ROI_ECONNRESET);
  ROI_ASSERT_EQ(roi_err_from_ntstatus(0xC000009Au), ROI_ENOMEM);
  ROI_ASSERT_EQ(roi_err_from_ntstatus(0xC0FFEE00u), ROI_EUNKNOWN);
  /* A warning-class value the table does not know is not silently success. */
  ROI_ASSERT_EQ(roi_err_from_ntstatus(0x80000005u), ROI_EUNKNOWN);
}

ROI_TEST(version_string) {
  char want[32];
  snprintf(want, sizeof want, "%d.%d.%d", ROI_VERSION_MAJOR, ROI_VERSION_MINOR,
           ROI_VERSION_PATCH);
  ROI_ASSERT_STR_EQ(roi_version_string(), want);
  /* The number the library reports is the headers' number. */
  ROI_ASSERT_EQ_HEX(roi_version(), ROI_VERSION_HEX);
  ROI_ASSERT_EQ_HEX(ROI_VERSION_HEX, (unsigned)ROI_VERSION_MAJOR << 16 |
                                         (unsigned)ROI_VERSION_MINOR << 8 |
                                         (unsigned)ROI_VERSION_PATCH);
}

ROI_TEST(opcode_names) {
  ROI_ASSERT_STR_EQ(roi_opcode_name(ROI_OP_REQUEST), "ROI_OP_REQUEST");
  ROI_ASSERT_STR_EQ(roi_opcode_name(ROI_OP_BYE_SIGNAL), "ROI_OP_BYE_SIGNAL");
  ROI_ASSERT_STR_EQ(roi_opcode_name(ROI_OP_WELCOME_RESPONSE), "ROI_OP_WELCOME_RESPONSE");
  ROI_ASSERT_STR_EQ(roi_opcode_name(10), "ROI_OP_?");
  ROI_ASSERT_STR_EQ(roi_opcode_name(-1), "ROI_OP_?");
}

ROI_TEST_MAIN(ROI_TEST_ENTRY(names_and_messages_are_distinct),
              ROI_TEST_ENTRY(values_are_stable), ROI_TEST_ENTRY(names_and_messages),
              ROI_TEST_ENTRY(unknown_values_are_safe), ROI_TEST_ENTRY(errno_mapping),
              ROI_TEST_ENTRY(win32_and_wsa_mapping), ROI_TEST_ENTRY(ntstatus_mapping),
              ROI_TEST_ENTRY(version_string), ROI_TEST_ENTRY(opcode_names))
