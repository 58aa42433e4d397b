/*
 * The epoll API surface: constants, the struct layout, create and close, and
 * every error with its errno and, on Windows, its GetLastError() value, as
 * wepoll pairs them. On Linux the same program runs against the kernel's
 * epoll; what only wepoll's API has (EPOLLET refused, ENOTSOCK, Win32 error
 * codes) is checked on Windows only.
 */
/* First, before any Windows header: code written for wepoll includes only
 * this, so it must compile alone (its own HANDLE and SOCKET). */
#include "roi/epoll.h"

#include <stddef.h>

#include "epoll_util.h"
#include "roi_test.h"

/* Checks that a call failed with errno e and, on Windows, GetLastError() w. */
#ifdef _WIN32
#define EXPECT_FAIL(call, e, w)                                                            \
  do {                                                                                     \
    int r_;                                                                                \
    errno = 0;                                                                             \
    SetLastError(0);                                                                       \
    r_ = (call);                                                                           \
    ROI_ASSERT_EQ(r_, -1);                                                                 \
    ROI_ASSERT_EQ(errno, (e));                                                             \
    ROI_ASSERT_EQ(GetLastError(), (w));                                                    \
  } while (0)
#else
#define EXPECT_FAIL(call, e, w)                                                            \
  do {                                                                                     \
    int r_;                                                                                \
    errno = 0;                                                                             \
    r_ = (call);                                                                           \
    ROI_ASSERT_EQ(r_, -1);                                                                 \
    ROI_ASSERT_EQ(errno, (e));                                                             \
  } while (0)
#define ERROR_INVALID_HANDLE 0
#define ERROR_INVALID_PARAMETER 0
#define ERROR_ALREADY_EXISTS 0
#define ERROR_NOT_FOUND 0
#endif

/* A create function's result as 0 (success) or -1, for EXPECT_FAIL. */
static int created(EP_HANDLE h) {
  if (h == EP_NO_HANDLE)
    return -1;
  ep_close(h);
  return 0;
}

ROI_TEST(constants_have_wepoll_values) {
  ROI_ASSERT_EQ_HEX((uint32_t)EPOLLIN, 0x001);
  ROI_ASSERT_EQ_HEX((uint32_t)EPOLLPRI, 0x002);
  ROI_ASSERT_EQ_HEX((uint32_t)EPOLLOUT, 0x004);
  ROI_ASSERT_EQ_HEX((uint32_t)EPOLLERR, 0x008);
  ROI_ASSERT_EQ_HEX((uint32_t)EPOLLHUP, 0x010);
  ROI_ASSERT_EQ_HEX((uint32_t)EPOLLRDNORM, 0x040);
  ROI_ASSERT_EQ_HEX((uint32_t)EPOLLRDBAND, 0x080);
  ROI_ASSERT_EQ_HEX((uint32_t)EPOLLWRNORM, 0x100);
  ROI_ASSERT_EQ_HEX((uint32_t)EPOLLWRBAND, 0x200);
  ROI_ASSERT_EQ_HEX((uint32_t)EPOLLMSG, 0x400);
  ROI_ASSERT_EQ_HEX((uint32_t)EPOLLRDHUP, 0x2000);
#ifdef _WIN32
  /* wepoll's value; Linux's is 1u << 30. */
  ROI_ASSERT_EQ_HEX((uint32_t)EPOLLONESHOT, 0x80000000u);
  ROI_ASSERT_EQ_HEX((uint32_t)EPOLLET, 0x40000000u);
  /* wepoll's layout: events, then an 8-byte union at offset 8. */
  ROI_ASSERT_EQ(sizeof(epoll_data_t), 8);
  ROI_ASSERT_EQ(offsetof(struct epoll_event, data), 8);
  ROI_ASSERT_EQ(sizeof(struct epoll_event), 16);
  ROI_ASSERT_EQ(sizeof(((epoll_data_t *)0)->sock), sizeof(SOCKET));
#else
  ROI_ASSERT_EQ_HEX((uint32_t)EPOLLONESHOT, 0x40000000u);
  ROI_ASSERT_EQ_HEX((uint32_t)EPOLLET, 0x80000000u);
#endif
  ROI_ASSERT_EQ(EPOLL_CTL_ADD, 1);
#ifdef _WIN32
  /* wepoll's order; Linux numbers DEL 2 and MOD 3. */
  ROI_ASSERT_EQ(EPOLL_CTL_MOD, 2);
  ROI_ASSERT_EQ(EPOLL_CTL_DEL, 3);
#else
  ROI_ASSERT_EQ(EPOLL_CTL_DEL, 2);
  ROI_ASSERT_EQ(EPOLL_CTL_MOD, 3);
#endif
}

ROI_TEST(create_and_close) {
  int i;
  for (i = 0; i < 50; i++) {
    EP_HANDLE a = epoll_create(1), b = epoll_create1(0);
    ROI_ASSERT_TRUE(a != EP_NO_HANDLE);
    ROI_ASSERT_TRUE(b != EP_NO_HANDLE);
    ROI_ASSERT_TRUE(a != b);
    ROI_ASSERT_EQ(ep_close(a), 0);
    ROI_ASSERT_EQ(ep_close(b), 0);
    /* Closed: the handle is no port any more. */
    EXPECT_FAIL(ep_close(a), EBADF, ERROR_INVALID_HANDLE);
  }
}

ROI_TEST(create_errors) {
  EXPECT_FAIL(created(epoll_create(0)), EINVAL, ERROR_INVALID_PARAMETER);
  EXPECT_FAIL(created(epoll_create(-1)), EINVAL, ERROR_INVALID_PARAMETER);
  EXPECT_FAIL(created(epoll_create1(1)), EINVAL, ERROR_INVALID_PARAMETER);
}

ROI_TEST(bad_port_handles_are_ebadf) {
  struct epoll_event ev[4];
  roi_socket pair[2];
#ifdef _WIN32
  HANDLE event = CreateEventW(NULL, FALSE, FALSE, NULL);
  HANDLE bad[] = {NULL, INVALID_HANDLE_VALUE, (HANDLE)(uintptr_t)0xbad0, event};
#else
  int bad[] = {-1, 1 << 20};
#endif
  size_t i;
  ROI_ASSERT_EQ(roi_sock_pair_tcp(pair), 0);
  memset(ev, 0, sizeof ev);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    EXPECT_FAIL(epoll_wait(bad[i], ev, 4, 0), EBADF, ERROR_INVALID_HANDLE);
    EXPECT_FAIL(epoll_ctl(bad[i], EPOLL_CTL_ADD, pair[0], &ev[0]), EBADF,
                ERROR_INVALID_HANDLE);
    EXPECT_FAIL(ep_close(bad[i]), EBADF, ERROR_INVALID_HANDLE);
  }
#ifdef _WIN32
  CloseHandle(event);
#endif
  roi_sock_close(pair[0]);
  roi_sock_close(pair[1]);
}

ROI_TEST(ctl_errors) {
  EP_HANDLE ep = epoll_create1(0);
  roi_socket pair[2];
  struct epoll_event ev;
  ROI_ASSERT_TRUE(ep != EP_NO_HANDLE);
  ROI_ASSERT_EQ(roi_sock_pair_tcp(pair), 0);
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLIN;
  /* Not registered yet. */
  EXPECT_FAIL(epoll_ctl(ep, EPOLL_CTL_MOD, pair[0], &ev), ENOENT, ERROR_NOT_FOUND);
  EXPECT_FAIL(epoll_ctl(ep, EPOLL_CTL_DEL, pair[0], &ev), ENOENT, ERROR_NOT_FOUND);
  ROI_ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, pair[0], &ev), 0);
  EXPECT_FAIL(epoll_ctl(ep, EPOLL_CTL_ADD, pair[0], &ev), EEXIST, ERROR_ALREADY_EXISTS);
  /* Unknown operations. */
  EXPECT_FAIL(epoll_ctl(ep, 0, pair[0], &ev), EINVAL, ERROR_INVALID_PARAMETER);
  EXPECT_FAIL(epoll_ctl(ep, 4, pair[0], &ev), EINVAL, ERROR_INVALID_PARAMETER);
  ROI_ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_MOD, pair[0], &ev), 0);
  /* DEL ignores its event; Linux since 2.6.9 and wepoll accept NULL. */
  ROI_ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_DEL, pair[0], NULL), 0);
  EXPECT_FAIL(epoll_ctl(ep, EPOLL_CTL_DEL, pair[0], NULL), ENOENT, ERROR_NOT_FOUND);
  /* A closed socket. */
  roi_sock_close(pair[1]);
  EXPECT_FAIL(epoll_ctl(ep, EPOLL_CTL_ADD, pair[1], &ev), EBADF, ERROR_INVALID_HANDLE);
  roi_sock_close(pair[0]);
  ROI_ASSERT_EQ(ep_close(ep), 0);
}

ROI_TEST(wait_errors) {
  EP_HANDLE ep = epoll_create1(0);
  struct epoll_event ev[2];
  /* volatile: glibc declares maxevents a buffer size, and GCC rejects a
   * negative constant there at compile time. */
  volatile int negative = -1;
  ROI_ASSERT_TRUE(ep != EP_NO_HANDLE);
  EXPECT_FAIL(epoll_wait(ep, ev, 0, 0), EINVAL, ERROR_INVALID_PARAMETER);
  EXPECT_FAIL(epoll_wait(ep, ev, negative, 0), EINVAL, ERROR_INVALID_PARAMETER);
  /* Nothing registered: a zero timeout returns 0 at once. */
  ROI_ASSERT_EQ(epoll_wait(ep, ev, 2, 0), 0);
  ROI_ASSERT_EQ(ep_close(ep), 0);
}

/* Only wepoll's API: Linux accepts EPOLLET and reports ENOTSOCK as EPERM. */
ROI_TEST(windows_only_errors) {
#ifdef _WIN32
  HANDLE ep = epoll_create1(0), event = CreateEventW(NULL, FALSE, FALSE, NULL);
  roi_socket pair[2];
  struct epoll_event ev;
  ROI_ASSERT_TRUE(ep != NULL);
  ROI_ASSERT_EQ(roi_sock_pair_tcp(pair), 0);
  memset(&ev, 0, sizeof ev);
  /* There is no edge-triggered mode: refused on ADD and on MOD. */
  ev.events = EPOLLIN | EPOLLET;
  EXPECT_FAIL(epoll_ctl(ep, EPOLL_CTL_ADD, pair[0], &ev), EINVAL, ERROR_INVALID_PARAMETER);
  ev.events = EPOLLIN;
  ROI_ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, pair[0], &ev), 0);
  ev.events = EPOLLIN | EPOLLET;
  EXPECT_FAIL(epoll_ctl(ep, EPOLL_CTL_MOD, pair[0], &ev), EINVAL, ERROR_INVALID_PARAMETER);
  /* A NULL event for ADD or MOD (Linux says EFAULT). */
  EXPECT_FAIL(epoll_ctl(ep, EPOLL_CTL_MOD, pair[0], NULL), EINVAL, ERROR_INVALID_PARAMETER);
  /* A handle that is not a socket, and the two values that never are. */
  ev.events = EPOLLIN;
  EXPECT_FAIL(epoll_ctl(ep, EPOLL_CTL_ADD, (SOCKET)event, &ev), ENOTSOCK, WSAENOTSOCK);
  EXPECT_FAIL(epoll_ctl(ep, EPOLL_CTL_ADD, INVALID_SOCKET, &ev), EBADF,
              ERROR_INVALID_HANDLE);
  EXPECT_FAIL(epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev), EBADF, ERROR_INVALID_HANDLE);
  /* NULL events for a wait. */
  EXPECT_FAIL(epoll_wait(ep, NULL, 1, 0), EINVAL, ERROR_INVALID_PARAMETER);
  CloseHandle(event);
  roi_sock_close(pair[0]);
  roi_sock_close(pair[1]);
  ROI_ASSERT_EQ(epoll_close(ep), 0);
#endif
}

ROI_TEST(data_comes_back_whole) {
  EP_HANDLE ep = epoll_create1(0);
  roi_socket pair[2];
  struct epoll_event ev, out[4];
  int n;
  ROI_ASSERT_TRUE(ep != EP_NO_HANDLE);
  ROI_ASSERT_EQ(roi_sock_pair_tcp(pair), 0);
  memset(&ev, 0, sizeof ev);
  ev.events = EPOLLOUT;
  ev.data.u64 = 0xfedcba9876543210ULL;
  ROI_ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, pair[0], &ev), 0);
  n = epoll_wait(ep, out, 4, EP_DEADLINE_MS);
  ROI_ASSERT_EQ(n, 1);
  ROI_ASSERT_EQ_HEX(out[0].data.u64, 0xfedcba9876543210ULL);
  ROI_ASSERT_EQ_HEX(out[0].events, EPOLLOUT);
  /* A MOD replaces the data as well. */
  ev.data.ptr = &ev;
  ROI_ASSERT_EQ(epoll_ctl(ep, EPOLL_CTL_MOD, pair[0], &ev), 0);
  n = epoll_wait(ep, out, 4, EP_DEADLINE_MS);
  ROI_ASSERT_EQ(n, 1);
  ROI_ASSERT_TRUE(out[0].data.ptr == (void *)&ev);
  roi_sock_close(pair[0]);
  roi_sock_close(pair[1]);
  ROI_ASSERT_EQ(ep_close(ep), 0);
}

ROI_TEST_MAIN(ROI_TEST_ENTRY(constants_have_wepoll_values),
              ROI_TEST_ENTRY(create_and_close), ROI_TEST_ENTRY(create_errors),
              ROI_TEST_ENTRY(bad_port_handles_are_ebadf), ROI_TEST_ENTRY(ctl_errors),
              ROI_TEST_ENTRY(wait_errors), ROI_TEST_ENTRY(windows_only_errors),
              ROI_TEST_ENTRY(data_comes_back_whole))
