/*
 * The NT and AFD interfaces the afd backend uses, declared here so that roi
 * needs no Windows Driver Kit header and builds the same with MSVC and mingw.
 * These are the same undocumented-but-stable interfaces wepoll, mio and libuv
 * use; poc/stage0..3 verified each call this file makes.
 */
#ifndef ROI_SRC_WIN_AFD_H
#define ROI_SRC_WIN_AFD_H

#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <windows.h>

#include <stdint.h>

typedef LONG roi__ntstatus;
#define ROI__ST_SUCCESS ((roi__ntstatus)0x00000000L)
#define ROI__ST_TIMEOUT ((roi__ntstatus)0x00000102L) /* a success code: compare it */
#define ROI__ST_PENDING ((roi__ntstatus)0x00000103L)
#define ROI__ST_INVALID_HANDLE ((roi__ntstatus)0xC0000008L)
#define ROI__ST_CANCELLED ((roi__ntstatus)0xC0000120L)
#define ROI__ST_NOT_FOUND ((roi__ntstatus)0xC0000225L)
/* An error status (severity 3); success, informational and warning
 * statuses are not errors. */
#define ROI__NT_ERROR(st) (((uint32_t)(st) >> 30) == 3)

/* AFD poll event bits (AFD_POLL_*). */
#define ROI__AFD_RECEIVE 0x0001u
#define ROI__AFD_RECEIVE_EXPEDITED 0x0002u
#define ROI__AFD_SEND 0x0004u
#define ROI__AFD_DISCONNECT 0x0008u
#define ROI__AFD_ABORT 0x0010u
#define ROI__AFD_LOCAL_CLOSE 0x0020u
#define ROI__AFD_ACCEPT 0x0080u
#define ROI__AFD_CONNECT_FAIL 0x0100u

typedef struct roi__io_status {
  union {
    roi__ntstatus status;
    void *pointer;
  } u;
  ULONG_PTR information;
} roi__io_status;

/* One entry of NtRemoveIoCompletionEx (FILE_IO_COMPLETION_INFORMATION). */
typedef struct roi__completion {
  ULONG_PTR key;
  ULONG_PTR apc_context;
  roi__io_status iosb;
} roi__completion;

typedef struct roi__afd_poll_handle_info {
  HANDLE handle;
  ULONG events;
  roi__ntstatus status;
} roi__afd_poll_handle_info;

/* AFD_POLL_INFO with room for exactly one socket, which is all roi asks. */
typedef struct roi__afd_poll_info {
  LARGE_INTEGER timeout;
  ULONG number_of_handles;
  ULONG exclusive;
  roi__afd_poll_handle_info handles[1];
} roi__afd_poll_info;

/* Resolves the ntdll functions once per process. Returns 0 or ROI_ENOSYS. */
int roi__nt_init(void);

/* A completion port that releases at most concurrency threads at once (0:
 * as many as there are processors). Returns 0 or a mapped error. */
int roi__port_create(HANDLE *out, DWORD concurrency);

/* Dequeues up to max packets, waiting timeout_ms (-1: for ever). Returns the
 * number dequeued, 0 on timeout, or a mapped error. */
int roi__port_wait(HANDLE port, roi__completion *entries, ULONG max, int timeout_ms);

/* Queues a packet of our own (NtSetIoCompletion). Returns 0 or a mapped error. */
int roi__port_post(HANDLE port, ULONG_PTR key, ULONG_PTR apc_context,
                   ULONG_PTR information);

/* Opens a \Device\Afd helper handle whose completions go to port with key.
 * Returns 0 or a mapped error. */
int roi__afd_open(HANDLE port, ULONG_PTR key, HANDLE *out);

/* Submits one poll for base through the helper afd. The kernel writes iosb and
 * info until the completion is dequeued, so both must stay put until then.
 * Returns the submit status: STATUS_PENDING or STATUS_SUCCESS mean a packet
 * will come; anything else means none will. */
roi__ntstatus roi__afd_poll(HANDLE afd, SOCKET base, ULONG events, roi__afd_poll_info *info,
                            roi__io_status *iosb, ULONG_PTR apc_context);

/* Cancels the one poll whose IO_STATUS_BLOCK is iosb (NtCancelIoFileEx; the
 * untargeted NtCancelIoFile would cancel every poll on the helper). Its
 * packet, STATUS_CANCELLED or an earlier completion, still comes. */
void roi__afd_cancel(HANDLE afd, roi__io_status *iosb);

/* Finds the base socket under any layered service provider: SIO_BASE_HANDLE,
 * then SIO_BSP_HANDLE_POLL. Returns 0, ROI_ENOTSOCK/ROI_EBADF when s is not a
 * socket, or ROI_ELSP when a provider hides the base socket. */
int roi__afd_base_socket(SOCKET s, SOCKET *base);

#endif /* ROI_SRC_WIN_AFD_H */
