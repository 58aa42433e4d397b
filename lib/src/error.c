/*
 * Error codes: names, messages, and the one table that maps system error
 * numbers into ROI_E* codes.
 *
 * Win32, Winsock and NTSTATUS numbers are written as literals (with their
 * Windows names beside them) rather than taken from <windows.h>: they are part
 * of Windows' ABI and never change, and writing them out lets the same table
 * compile, and be tested, on every platform. errno values differ between
 * platforms, so those rows use the <errno.h> names.
 */
#include "roi/error.h"

#include <errno.h>
#include <stddef.h>

#include "roi/message.h"

int roi_err_status(int err) {
  if (err <= -ROI_ESTATUS_BASE && err >= -(ROI_ESTATUS_BASE + 255))
    return -err - ROI_ESTATUS_BASE;
  return -1;
}

/* The description of a folded status, or NULL when err is not one. */
static const char *status_message(int err) {
  switch (roi_err_status(err)) {
#define ROI__STATUS_MSG(name, value, desc)                                                 \
  case value:                                                                              \
    return "message refused: " desc;
    ROI_STATUS_MAP(ROI__STATUS_MSG)
#undef ROI__STATUS_MSG
  case -1:
    return NULL;
  default:
    return "message refused: unknown status";
  }
}

static const char *status_name(int err) {
  switch (roi_err_status(err)) {
#define ROI__STATUS_ERR_NAME(name, value, desc)                                            \
  case value:                                                                              \
    return "ROI_ESTATUS(ROI_STATUS_" #name ")";
    ROI_STATUS_MAP(ROI__STATUS_ERR_NAME)
#undef ROI__STATUS_ERR_NAME
  case -1:
    return NULL;
  default:
    return "ROI_ESTATUS(?)";
  }
}

const char *roi_strerror(int err) {
  switch (err) {
  case 0:
    return "success";
#define ROI__ERR_MSG(name, value, msg)                                                     \
  case ROI_##name:                                                                         \
    return msg;
    ROI_ERRNO_MAP(ROI__ERR_MSG)
#undef ROI__ERR_MSG
  default: {
    const char *msg = status_message(err);
    return msg ? msg : "unknown error code";
  }
  }
}

const char *roi_err_name(int err) {
  switch (err) {
  case 0:
    return "ROI_OK";
#define ROI__ERR_NAME(name, value, msg)                                                    \
  case ROI_##name:                                                                         \
    return "ROI_" #name;
    ROI_ERRNO_MAP(ROI__ERR_NAME)
#undef ROI__ERR_NAME
  default: {
    const char *name = status_name(err);
    return name ? name : "ROI_E?";
  }
  }
}

/* Which numbering a row of the table speaks. */
enum roi__err_source { SRC_ERRNO, SRC_WIN32, SRC_NTSTATUS };

typedef struct roi__err_row {
  unsigned char source;
  uint32_t value;
  int code;
} roi__err_row;

#define ERRNO_ROW(e, code)                                                                 \
  { SRC_ERRNO, (uint32_t)(e), ROI_##code }
#define WIN_ROW(v, code)                                                                   \
  { SRC_WIN32, (uint32_t)(v), ROI_##code }
#define NT_ROW(v, code)                                                                    \
  { SRC_NTSTATUS, (uint32_t)(v), ROI_##code }

/* Several system codes may map to one roi code; the first row that matches wins. */
static const roi__err_row roi__err_table[] = {
    /* POSIX errno. EWOULDBLOCK and EOPNOTSUPP equal EAGAIN and ENOTSUP on Linux
     * but not on Windows' C runtime, so both rows are kept. */
    ERRNO_ROW(EINVAL, EINVAL), ERRNO_ROW(ENOMEM, ENOMEM), ERRNO_ROW(EAGAIN, EAGAIN),
    ERRNO_ROW(EWOULDBLOCK, EAGAIN), ERRNO_ROW(EINTR, EINTR),
    ERRNO_ROW(ETIMEDOUT, ETIMEDOUT), ERRNO_ROW(ECANCELED, ECANCELED),
    ERRNO_ROW(EEXIST, EEXIST), ERRNO_ROW(ENOENT, ENOENT), ERRNO_ROW(EBADF, EBADF),
    ERRNO_ROW(ENOTSOCK, ENOTSOCK), ERRNO_ROW(ECONNREFUSED, ECONNREFUSED),
    ERRNO_ROW(ECONNRESET, ECONNRESET), ERRNO_ROW(ECONNABORTED, ECONNABORTED),
    ERRNO_ROW(ENOTCONN, ENOTCONN), ERRNO_ROW(EPIPE, EPIPE),
    ERRNO_ROW(EADDRINUSE, EADDRINUSE), ERRNO_ROW(EADDRNOTAVAIL, EADDRNOTAVAIL),
    ERRNO_ROW(EAFNOSUPPORT, EAFNOSUPPORT), ERRNO_ROW(ENETUNREACH, ENETUNREACH),
    ERRNO_ROW(EHOSTUNREACH, EHOSTUNREACH), ERRNO_ROW(ENETDOWN, ENETDOWN),
    ERRNO_ROW(EMFILE, EMFILE), ERRNO_ROW(ENFILE, ENFILE), ERRNO_ROW(ENOBUFS, ENOBUFS),
    ERRNO_ROW(EACCES, EACCES), ERRNO_ROW(EPERM, EPERM), ERRNO_ROW(ENOSYS, ENOSYS),
    ERRNO_ROW(ENOTSUP, ENOTSUP), ERRNO_ROW(EOPNOTSUPP, ENOTSUP),
    ERRNO_ROW(EINPROGRESS, EINPROGRESS), ERRNO_ROW(EALREADY, EALREADY),
    ERRNO_ROW(EISCONN, EISCONN), ERRNO_ROW(EMSGSIZE, EMSGSIZE),
    ERRNO_ROW(ENAMETOOLONG, ENAMETOOLONG), ERRNO_ROW(EPROTO, EPROTO),
    ERRNO_ROW(EBUSY, EBUSY), ERRNO_ROW(ERANGE, ERANGE), ERRNO_ROW(EIO, EIO),
    ERRNO_ROW(EFAULT, EINVAL),
#ifdef ESHUTDOWN /* not in the Windows C runtime */
    ERRNO_ROW(ESHUTDOWN, ESHUTDOWN),
#endif
#ifdef EHOSTDOWN
    ERRNO_ROW(EHOSTDOWN, EHOSTUNREACH),
#endif

    /* Win32 errors (GetLastError). */
    WIN_ROW(2, ENOENT),          /* ERROR_FILE_NOT_FOUND */
    WIN_ROW(3, ENOENT),          /* ERROR_PATH_NOT_FOUND */
    WIN_ROW(4, EMFILE),          /* ERROR_TOO_MANY_OPEN_FILES */
    WIN_ROW(5, EACCES),          /* ERROR_ACCESS_DENIED */
    WIN_ROW(6, EBADF),           /* ERROR_INVALID_HANDLE */
    WIN_ROW(8, ENOMEM),          /* ERROR_NOT_ENOUGH_MEMORY */
    WIN_ROW(14, ENOMEM),         /* ERROR_OUTOFMEMORY */
    WIN_ROW(50, ENOTSUP),        /* ERROR_NOT_SUPPORTED */
    WIN_ROW(64, ECONNRESET),     /* ERROR_NETNAME_DELETED */
    WIN_ROW(87, EINVAL),         /* ERROR_INVALID_PARAMETER */
    WIN_ROW(109, EPIPE),         /* ERROR_BROKEN_PIPE */
    WIN_ROW(120, ENOSYS),        /* ERROR_CALL_NOT_IMPLEMENTED */
    WIN_ROW(121, ETIMEDOUT),     /* ERROR_SEM_TIMEOUT */
    WIN_ROW(122, ENOBUFS),       /* ERROR_INSUFFICIENT_BUFFER */
    WIN_ROW(127, ENOSYS),        /* ERROR_PROC_NOT_FOUND */
    WIN_ROW(183, EEXIST),        /* ERROR_ALREADY_EXISTS */
    WIN_ROW(206, ENAMETOOLONG),  /* ERROR_FILENAME_EXCED_RANGE */
    WIN_ROW(233, EPIPE),         /* ERROR_PIPE_NOT_CONNECTED */
    WIN_ROW(258, ETIMEDOUT),     /* WAIT_TIMEOUT */
    WIN_ROW(735, ECLOSED),       /* ERROR_ABANDONED_WAIT_0: port closed during a wait */
    WIN_ROW(995, ECANCELED),     /* ERROR_OPERATION_ABORTED */
    WIN_ROW(997, EINPROGRESS),   /* ERROR_IO_PENDING */
    WIN_ROW(998, EINVAL),        /* ERROR_NOACCESS */
    WIN_ROW(1168, ENOENT),       /* ERROR_NOT_FOUND */
    WIN_ROW(1225, ECONNREFUSED), /* ERROR_CONNECTION_REFUSED */
    WIN_ROW(1231, ENETUNREACH),  /* ERROR_NETWORK_UNREACHABLE */
    WIN_ROW(1232, EHOSTUNREACH), /* ERROR_HOST_UNREACHABLE */
    WIN_ROW(1234, ECONNREFUSED), /* ERROR_PORT_UNREACHABLE */
    WIN_ROW(1236, ECONNABORTED), /* ERROR_CONNECTION_ABORTED */
    WIN_ROW(1460, ETIMEDOUT),    /* ERROR_TIMEOUT */
    /* Winsock errors (WSAGetLastError). */
    WIN_ROW(10004, EINTR),         /* WSAEINTR */
    WIN_ROW(10009, EBADF),         /* WSAEBADF */
    WIN_ROW(10013, EACCES),        /* WSAEACCES */
    WIN_ROW(10014, EINVAL),        /* WSAEFAULT */
    WIN_ROW(10022, EINVAL),        /* WSAEINVAL */
    WIN_ROW(10024, EMFILE),        /* WSAEMFILE */
    WIN_ROW(10035, EAGAIN),        /* WSAEWOULDBLOCK */
    WIN_ROW(10036, EINPROGRESS),   /* WSAEINPROGRESS */
    WIN_ROW(10037, EALREADY),      /* WSAEALREADY */
    WIN_ROW(10038, ENOTSOCK),      /* WSAENOTSOCK */
    WIN_ROW(10039, EINVAL),        /* WSAEDESTADDRREQ */
    WIN_ROW(10040, EMSGSIZE),      /* WSAEMSGSIZE */
    WIN_ROW(10043, ENOTSUP),       /* WSAEPROTONOSUPPORT */
    WIN_ROW(10044, ENOTSUP),       /* WSAESOCKTNOSUPPORT */
    WIN_ROW(10045, ENOTSUP),       /* WSAEOPNOTSUPP */
    WIN_ROW(10046, EAFNOSUPPORT),  /* WSAEPFNOSUPPORT */
    WIN_ROW(10047, EAFNOSUPPORT),  /* WSAEAFNOSUPPORT */
    WIN_ROW(10048, EADDRINUSE),    /* WSAEADDRINUSE */
    WIN_ROW(10049, EADDRNOTAVAIL), /* WSAEADDRNOTAVAIL */
    WIN_ROW(10050, ENETDOWN),      /* WSAENETDOWN */
    WIN_ROW(10051, ENETUNREACH),   /* WSAENETUNREACH */
    WIN_ROW(10052, ECONNRESET),    /* WSAENETRESET */
    WIN_ROW(10053, ECONNABORTED),  /* WSAECONNABORTED */
    WIN_ROW(10054, ECONNRESET),    /* WSAECONNRESET */
    WIN_ROW(10055, ENOBUFS),       /* WSAENOBUFS */
    WIN_ROW(10056, EISCONN),       /* WSAEISCONN */
    WIN_ROW(10057, ENOTCONN),      /* WSAENOTCONN */
    WIN_ROW(10058, ESHUTDOWN),     /* WSAESHUTDOWN */
    WIN_ROW(10060, ETIMEDOUT),     /* WSAETIMEDOUT */
    WIN_ROW(10061, ECONNREFUSED),  /* WSAECONNREFUSED */
    WIN_ROW(10063, ENAMETOOLONG),  /* WSAENAMETOOLONG */
    WIN_ROW(10064, EHOSTUNREACH),  /* WSAEHOSTDOWN */
    WIN_ROW(10065, EHOSTUNREACH),  /* WSAEHOSTUNREACH */
    WIN_ROW(10091, ENETDOWN),      /* WSASYSNOTREADY */
    WIN_ROW(10092, ENOTSUP),       /* WSAVERNOTSUPPORTED */
    WIN_ROW(11001, ENOTFOUND),     /* WSAHOST_NOT_FOUND */
    WIN_ROW(11002, EAGAIN),        /* WSATRY_AGAIN */
    WIN_ROW(11004, ENOTFOUND),     /* WSANO_DATA */

    /* NTSTATUS, as returned by ntdll and found in IO_STATUS_BLOCK.Status. */
    NT_ROW(0x00000080, ECLOSED),       /* STATUS_ABANDONED_WAIT_0 */
    NT_ROW(0x000000C0, EINTR),         /* STATUS_USER_APC */
    NT_ROW(0x00000101, EINTR),         /* STATUS_ALERTED */
    NT_ROW(0x00000102, ETIMEDOUT),     /* STATUS_TIMEOUT */
    NT_ROW(0x00000103, EINPROGRESS),   /* STATUS_PENDING */
    NT_ROW(0xC0000002, ENOSYS),        /* STATUS_NOT_IMPLEMENTED */
    NT_ROW(0xC0000008, EBADF),         /* STATUS_INVALID_HANDLE */
    NT_ROW(0xC000000D, EINVAL),        /* STATUS_INVALID_PARAMETER */
    NT_ROW(0xC0000010, ENOTSUP),       /* STATUS_INVALID_DEVICE_REQUEST */
    NT_ROW(0xC0000017, ENOMEM),        /* STATUS_NO_MEMORY */
    NT_ROW(0xC0000022, EACCES),        /* STATUS_ACCESS_DENIED */
    NT_ROW(0xC0000023, ENOBUFS),       /* STATUS_BUFFER_TOO_SMALL */
    NT_ROW(0xC0000024, EBADF),         /* STATUS_OBJECT_TYPE_MISMATCH */
    NT_ROW(0xC0000034, ENOENT),        /* STATUS_OBJECT_NAME_NOT_FOUND */
    NT_ROW(0xC000003A, ENOENT),        /* STATUS_OBJECT_PATH_NOT_FOUND */
    NT_ROW(0xC000009A, ENOMEM),        /* STATUS_INSUFFICIENT_RESOURCES */
    NT_ROW(0xC00000A3, EAGAIN),        /* STATUS_DEVICE_NOT_READY */
    NT_ROW(0xC00000B5, ETIMEDOUT),     /* STATUS_IO_TIMEOUT */
    NT_ROW(0xC00000BB, ENOTSUP),       /* STATUS_NOT_SUPPORTED */
    NT_ROW(0xC0000120, ECANCELED),     /* STATUS_CANCELLED */
    NT_ROW(0xC0000128, ECLOSED),       /* STATUS_FILE_CLOSED */
    NT_ROW(0xC000013B, ECONNABORTED),  /* STATUS_LOCAL_DISCONNECT */
    NT_ROW(0xC000013C, ECONNRESET),    /* STATUS_REMOTE_DISCONNECT */
    NT_ROW(0xC000014B, EPIPE),         /* STATUS_PIPE_BROKEN */
    NT_ROW(0xC0000207, EADDRNOTAVAIL), /* STATUS_INVALID_ADDRESS_COMPONENT */
    NT_ROW(0xC000020A, EADDRINUSE),    /* STATUS_ADDRESS_ALREADY_EXISTS */
    NT_ROW(0xC000020D, ECONNRESET),    /* STATUS_CONNECTION_RESET */
    NT_ROW(0xC0000225, ENOENT),        /* STATUS_NOT_FOUND */
    NT_ROW(0xC0000236, ECONNREFUSED),  /* STATUS_CONNECTION_REFUSED */
    NT_ROW(0xC000023C, ENETUNREACH),   /* STATUS_NETWORK_UNREACHABLE */
    NT_ROW(0xC000023D, EHOSTUNREACH),  /* STATUS_HOST_UNREACHABLE */
    NT_ROW(0xC0000241, ECONNABORTED),  /* STATUS_CONNECTION_ABORTED */
};

static int roi__err_lookup(enum roi__err_source source, uint32_t value) {
  size_t i;
  for (i = 0; i < sizeof roi__err_table / sizeof roi__err_table[0]; i++)
    if (roi__err_table[i].source == source && roi__err_table[i].value == value)
      return roi__err_table[i].code;
  return ROI_EUNKNOWN;
}

int roi_err_from_errno(int errnum) {
  if (errnum == 0)
    return 0;
  /* A caller that already negated the value (libuv style) gets the same answer. */
  if (errnum < 0)
    errnum = -errnum;
  return roi__err_lookup(SRC_ERRNO, (uint32_t)errnum);
}

int roi_err_from_win32(uint32_t code) {
  if (code == 0)
    return 0;
  return roi__err_lookup(SRC_WIN32, code);
}

int roi_err_from_ntstatus(uint32_t status) {
  int code = roi__err_lookup(SRC_NTSTATUS, status);
  /* Severity "success" or "informational" (the top bit clear) is not a failure
   * unless the table gives the value a meaning of its own. */
  if (code == ROI_EUNKNOWN && (status & 0x80000000u) == 0)
    return 0;
  return code;
}
