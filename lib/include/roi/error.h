/*
 * roi error codes.
 *
 * Every roi function that can fail returns a negative ROI_E* code; 0 or a
 * positive count means success. The codes have the same values on every
 * platform, so a test or a log line means the same on Linux and Windows.
 * System error numbers (POSIX errno, Win32 GetLastError/WSAGetLastError values,
 * NTSTATUS) are mapped into them by the roi_err_from_* functions below, which
 * all read one table; a system code the table does not know becomes
 * ROI_EUNKNOWN.
 */
#ifndef ROI_ERROR_H
#define ROI_ERROR_H

#include <stdint.h>

#include "roi/version.h"

#ifdef __cplusplus
extern "C" {
#endif

/* XX(name, value, message). Values are fixed forever; new codes are appended. */
#define ROI_ERRNO_MAP(XX)                                                                  \
  XX(EINVAL, -1, "invalid argument")                                                       \
  XX(ENOMEM, -2, "out of memory")                                                          \
  XX(EAGAIN, -3, "resource temporarily unavailable (the operation would block)")           \
  XX(EINTR, -4, "interrupted")                                                             \
  XX(ETIMEDOUT, -5, "timed out")                                                           \
  XX(ECANCELED, -6, "operation canceled")                                                  \
  XX(ECLOSED, -7, "the object is closed or closing")                                       \
  XX(EEXIST, -8, "already registered")                                                     \
  XX(ENOENT, -9, "not found or not registered")                                            \
  XX(EBADF, -10, "bad socket or handle")                                                   \
  XX(ENOTSOCK, -11, "not a socket")                                                        \
  XX(ECONNREFUSED, -12, "connection refused")                                              \
  XX(ECONNRESET, -13, "connection reset by peer")                                          \
  XX(ECONNABORTED, -14, "connection aborted")                                              \
  XX(ENOTCONN, -15, "socket is not connected")                                             \
  XX(EPIPE, -16, "broken pipe")                                                            \
  XX(EADDRINUSE, -17, "address already in use")                                            \
  XX(EADDRNOTAVAIL, -18, "address not available")                                          \
  XX(EAFNOSUPPORT, -19, "address family not supported")                                    \
  XX(ENETUNREACH, -20, "network is unreachable")                                           \
  XX(EHOSTUNREACH, -21, "host is unreachable")                                             \
  XX(ENETDOWN, -22, "network is down")                                                     \
  XX(EMFILE, -23, "too many open files in this process")                                   \
  XX(ENFILE, -24, "too many open files in the system")                                     \
  XX(ENOBUFS, -25, "no buffer space available")                                            \
  XX(EACCES, -26, "permission denied")                                                     \
  XX(EPERM, -27, "operation not permitted")                                                \
  XX(ENOSYS, -28, "function not implemented or not available")                             \
  XX(ENOTSUP, -29, "operation not supported")                                              \
  XX(EINPROGRESS, -30, "operation in progress")                                            \
  XX(EALREADY, -31, "operation already in progress")                                       \
  XX(EISCONN, -32, "socket is already connected")                                          \
  XX(EMSGSIZE, -33, "message too long")                                                    \
  XX(ENAMETOOLONG, -34, "name too long")                                                   \
  XX(EPROTO, -35, "protocol error")                                                        \
  XX(EBUSY, -36, "resource busy")                                                          \
  XX(ERANGE, -37, "result out of range")                                                   \
  XX(EIO, -38, "input/output error")                                                       \
  XX(ESHUTDOWN, -39, "cannot send after the socket was shut down")                         \
  XX(ENOTFOUND, -40, "name or address not found")                                          \
  XX(EOF, -41, "end of file")                                                              \
  XX(ELSP, -42,                                                                            \
     "no base socket handle: a layered service provider (LSP) hides it; remove the "       \
     "LSP (netsh winsock reset) or use another backend")                                   \
  XX(EUNKNOWN, -43, "unknown system error")

/* The codes as an enum: ROI_EINVAL, ROI_ENOMEM, ... */
typedef enum roi_errno {
#define ROI__ERR_ENUM(name, value, msg) ROI_##name = (value),
  ROI_ERRNO_MAP(ROI__ERR_ENUM)
#undef ROI__ERR_ENUM
  /* Last, so that the list ends without a comma (C89 and C++98 want none). */
  ROI_OK = 0
} roi_errno;

/*
 * A message the engine refuses (at post(), or a get() from an empty pool)
 * fails with the roi_status that says why, folded into the error space so
 * that every call still returns one negative int:
 * ROI_ESTATUS(ROI_STATUS_INVALID_CHANNEL_NUMBER) and so on. roi_err_status()
 * unfolds it; roi_strerror() and roi_err_name() describe it through the
 * status ("ROI_ESTATUS(ROI_STATUS_POOL_EMPTY)" as a name). The range is
 * -1000 .. -1255, far from the ROI_E* codes.
 */
#define ROI_ESTATUS_BASE 1000
#define ROI_ESTATUS(status) (-(ROI_ESTATUS_BASE + (int)(status)))

/**
 * Unfolds an error made by ROI_ESTATUS().
 *
 * @return the roi_status (0..255), or -1 when err is not such an error.
 */
ROI_EXTERN int roi_err_status(int err);

/**
 * Describes an error code in one English sentence fragment.
 *
 * @param err  an ROI_E* code, 0, or any other integer.
 * @return a static string (never NULL, never to be freed): "success" for 0 and
 *         "unknown error code" for a value that is not an ROI_E* code.
 */
ROI_EXTERN const char *roi_strerror(int err);

/**
 * Names an error code as its enum constant, for logs and test output.
 *
 * @param err  an ROI_E* code, 0, or any other integer.
 * @return a static string (never NULL, never to be freed): "ROI_OK" for 0,
 *         "ROI_EINVAL" for ROI_EINVAL and so on, "ROI_E?" for a value that is
 *         not an ROI_E* code.
 */
ROI_EXTERN const char *roi_err_name(int err);

/**
 * Maps a POSIX errno value (positive, as in `errno`) to an ROI_E* code.
 *
 * @return 0 for 0, the matching negative code, or ROI_EUNKNOWN.
 */
ROI_EXTERN int roi_err_from_errno(int errnum);

/**
 * Maps a Win32 error (GetLastError) or Winsock error (WSAGetLastError) to an
 * ROI_E* code. The numbers are Windows' own, so this also works, and is tested,
 * on other platforms.
 *
 * @return 0 for ERROR_SUCCESS, the matching negative code, or ROI_EUNKNOWN.
 */
ROI_EXTERN int roi_err_from_win32(uint32_t code);

/**
 * Maps an NTSTATUS (passed as its 32-bit pattern) to an ROI_E* code.
 *
 * STATUS_TIMEOUT, STATUS_PENDING and the alert statuses are success-class
 * values with a meaning of their own and map to ROI_ETIMEDOUT, ROI_EINPROGRESS
 * and ROI_EINTR; every other success-class value maps to 0.
 *
 * @return 0, the matching negative code, or ROI_EUNKNOWN.
 */
ROI_EXTERN int roi_err_from_ntstatus(uint32_t status);

#ifdef __cplusplus
}
#endif

#endif /* ROI_ERROR_H */
