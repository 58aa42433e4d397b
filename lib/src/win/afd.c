/*
 * The NT calls of the afd backend: ntdll resolution, the completion port, the
 * \Device\Afd helper handles, poll submission and targeted cancellation, and
 * the base-socket lookup. Everything here was proven by poc/stage0..3 first.
 */
#include "win/afd.h"

#include <string.h>

#include "platform.h"
#include "roi/error.h"
#include "win/winsock.h"

#ifndef SIO_BASE_HANDLE
#define SIO_BASE_HANDLE 0x48000022UL
#endif
#ifndef SIO_BSP_HANDLE
#define SIO_BSP_HANDLE 0x4800001BUL
#endif
#ifndef SIO_BSP_HANDLE_SELECT
#define SIO_BSP_HANDLE_SELECT 0x4800001CUL
#endif
/* How many providers the base-socket walk goes through at most; Windows
 * machines with more than a couple of layered providers are not known. */
#define ROI__BASE_HOPS 8
#ifndef SIO_BSP_HANDLE_POLL
#define SIO_BSP_HANDLE_POLL 0x4800001DUL
#endif

/* IOCTL_AFD_POLL: FILE_DEVICE_NETWORK << 12 | AFD_POLL (9) << 2. */
#define IOCTL_AFD_POLL_ 0x00012024UL

typedef struct unicode_string {
  USHORT length;
  USHORT maximum_length;
  WCHAR *buffer;
} unicode_string;

typedef struct object_attributes {
  ULONG length;
  HANDLE root_directory;
  unicode_string *object_name;
  ULONG attributes;
  void *security_descriptor;
  void *security_quality_of_service;
} object_attributes;

typedef roi__ntstatus(NTAPI *fn_set_io_completion)(HANDLE port, ULONG_PTR key,
                                                   ULONG_PTR apc_context,
                                                   roi__ntstatus status,
                                                   ULONG_PTR information);
typedef roi__ntstatus(NTAPI *fn_remove_io_completion_ex)(HANDLE port,
                                                         roi__completion *entries,
                                                         ULONG count, ULONG *removed,
                                                         LARGE_INTEGER *timeout,
                                                         BOOLEAN alertable);
typedef roi__ntstatus(NTAPI *fn_device_io_control_file)(
    HANDLE file, HANDLE event, void *apc_routine, void *apc_context, roi__io_status *iosb,
    ULONG code, void *in, ULONG in_len, void *out, ULONG out_len);
typedef roi__ntstatus(NTAPI *fn_cancel_io_file_ex)(HANDLE file, roi__io_status *request,
                                                   roi__io_status *iosb);
typedef roi__ntstatus(NTAPI *fn_create_file)(
    HANDLE *file, ACCESS_MASK access, object_attributes *attributes, roi__io_status *iosb,
    LARGE_INTEGER *allocation_size, ULONG file_attributes, ULONG share_access,
    ULONG disposition, ULONG options, void *ea_buffer, ULONG ea_length);

static fn_set_io_completion p_set;
static fn_remove_io_completion_ex p_remove;
static fn_device_io_control_file p_ioctl;
static fn_cancel_io_file_ex p_cancel_ex;
static fn_create_file p_create_file;

static INIT_ONCE nt_once = INIT_ONCE_STATIC_INIT;
static int nt_result;

/* Function pointers are converted through void(*)(void), which compilers
 * accept without a cast-function-type warning. */
#define RESOLVE(var, type, name)                                                           \
  do {                                                                                     \
    FARPROC f_ = GetProcAddress(ntdll, name);                                              \
    if (!f_)                                                                               \
      return ROI_ENOSYS;                                                                   \
    var = (type)(void (*)(void))f_;                                                        \
  } while (0)

static int resolve(void) {
  HMODULE ntdll = GetModuleHandleA("ntdll.dll");
  if (!ntdll)
    return ROI_ENOSYS;
  RESOLVE(p_set, fn_set_io_completion, "NtSetIoCompletion");
  RESOLVE(p_remove, fn_remove_io_completion_ex, "NtRemoveIoCompletionEx");
  RESOLVE(p_ioctl, fn_device_io_control_file, "NtDeviceIoControlFile");
  RESOLVE(p_cancel_ex, fn_cancel_io_file_ex, "NtCancelIoFileEx");
  RESOLVE(p_create_file, fn_create_file, "NtCreateFile");
  return 0;
}

static BOOL CALLBACK nt_init_once(INIT_ONCE *once, void *param, void **context) {
  (void)once;
  (void)param;
  (void)context;
  nt_result = resolve();
  return TRUE;
}

int roi__nt_init(void) {
  InitOnceExecuteOnce(&nt_once, nt_init_once, NULL, NULL);
  return nt_result;
}

static int nt_error(roi__ntstatus st) {
  return roi_err_from_ntstatus((uint32_t)st);
}

int roi__port_create(HANDLE *out, DWORD concurrency) {
  HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, concurrency);
  if (!port)
    return roi_err_from_win32(GetLastError());
  *out = port;
  return 0;
}

int roi__port_wait(HANDLE port, roi__completion *entries, ULONG max, int timeout_ms) {
  LARGE_INTEGER timeout;
  ULONG removed = 0;
  roi__ntstatus st;
  /* Relative timeouts are negative, in 100 ns units; NULL waits for ever. */
  timeout.QuadPart = -(LONGLONG)timeout_ms * 10000;
  st = p_remove(port, entries, max, &removed, timeout_ms < 0 ? NULL : &timeout, FALSE);
  /* STATUS_TIMEOUT is a success code, and Wine leaves removed at 1 with it
   * (NOTES.md): the count is trusted only with STATUS_SUCCESS. */
  if (st == ROI__ST_SUCCESS)
    return (int)removed;
  if (st == ROI__ST_TIMEOUT)
    return 0;
  return nt_error(st);
}

int roi__port_post(HANDLE port, ULONG_PTR key, ULONG_PTR apc_context,
                   ULONG_PTR information) {
  roi__ntstatus st = p_set(port, key, apc_context, ROI__ST_SUCCESS, information);
  return st == ROI__ST_SUCCESS ? 0 : nt_error(st);
}

int roi__afd_open(HANDLE port, ULONG_PTR key, HANDLE *out) {
  /* Any name under \Device\Afd opens a plain AFD endpoint; the suffix only
   * makes roi's handles recognisable in a handle list. */
  static WCHAR name[] = L"\\Device\\Afd\\roi";
  unicode_string us;
  object_attributes attrs;
  roi__io_status iosb;
  HANDLE afd = NULL;
  roi__ntstatus st;
  int err;
  us.length = (USHORT)(sizeof name - sizeof name[0]);
  us.maximum_length = (USHORT)sizeof name;
  us.buffer = name;
  memset(&attrs, 0, sizeof attrs);
  attrs.length = sizeof attrs;
  attrs.object_name = &us;
  st = p_create_file(&afd, SYNCHRONIZE, &attrs, &iosb, NULL, 0,
                     FILE_SHARE_READ | FILE_SHARE_WRITE, 1 /* FILE_OPEN */, 0, NULL, 0);
  if (st != ROI__ST_SUCCESS)
    return nt_error(st);
  if (!CreateIoCompletionPort(afd, port, key, 0) ||
      !SetFileCompletionNotificationModes(afd, FILE_SKIP_SET_EVENT_ON_HANDLE)) {
    err = roi_err_from_win32(GetLastError());
    CloseHandle(afd);
    return err;
  }
  *out = afd;
  return 0;
}

roi__ntstatus roi__afd_poll(HANDLE afd, SOCKET base, ULONG events, roi__afd_poll_info *info,
                            roi__io_status *iosb, ULONG_PTR apc_context) {
  info->timeout.QuadPart = 0x7FFFFFFFFFFFFFFFLL; /* never time out */
  info->number_of_handles = 1;
  info->exclusive = FALSE;
  info->handles[0].handle = (HANDLE)base;
  info->handles[0].events = events;
  info->handles[0].status = 0;
  iosb->u.status = ROI__ST_PENDING;
  iosb->information = 0;
  return p_ioctl(afd, NULL, NULL, (void *)apc_context, iosb, IOCTL_AFD_POLL_, info,
                 sizeof *info, info, sizeof *info);
}

void roi__afd_cancel(HANDLE afd, roi__io_status *iosb) {
  roi__io_status cancel_iosb;
  /* STATUS_NOT_FOUND means the poll completed already: its packet is queued
   * and will be dequeued like any other, so there is nothing else to do. */
  (void)p_cancel_ex(afd, iosb, &cancel_iosb);
}

/* One handle-returning WSAIoctl, or INVALID_SOCKET when it fails. */
static SOCKET query_handle(SOCKET s, DWORD code) {
  SOCKET h = INVALID_SOCKET;
  DWORD bytes;
  if (WSAIoctl(s, code, NULL, 0, &h, sizeof h, &bytes, NULL, NULL) != 0)
    return INVALID_SOCKET;
  return h;
}

int roi__afd_base_socket(SOCKET s, SOCKET *base) {
  /* What a layered provider may answer for the socket the one below it
   * holds: what it gives select(), what it gives WSAPoll, its own base. */
  static const DWORD below[] = {SIO_BSP_HANDLE_SELECT, SIO_BSP_HANDLE_POLL, SIO_BSP_HANDLE};
  SOCKET cur = s;
  int hops;
  /* Tell "not a socket" apart from "a socket whose base is hidden". */
  int err = roi__winsock_check((uintptr_t)s);
  if (err)
    return err;
  if (roi__test_hide_base_socket)
    return ROI_ELSP;
  /* SIO_BASE_HANDLE names the base provider's socket, unless a layered
   * provider intercepts it; then the handle a provider below answers for is
   * followed down, and the walk ends at a handle that is its own base. Each
   * hop must move to another handle (a provider that answers with the very
   * socket it was asked about hides the base), and the walk is bounded. */
  for (hops = 0; hops < ROI__BASE_HOPS; hops++) {
    SOCKET next = query_handle(cur, SIO_BASE_HANDLE);
    size_t i;
    if (next == cur) {
      *base = cur;
      return 0;
    }
    if (next == INVALID_SOCKET) {
      for (i = 0; i < sizeof below / sizeof below[0]; i++) {
        next = query_handle(cur, below[i]);
        if (next != INVALID_SOCKET && next != cur)
          break;
        next = INVALID_SOCKET;
      }
    }
    if (next == INVALID_SOCKET)
      return ROI_ELSP;
    cur = next;
  }
  return ROI_ELSP;
}
