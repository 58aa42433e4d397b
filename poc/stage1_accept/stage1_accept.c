/*
 * stage1_accept: feasibility gate 1 of roi.
 *
 * Proves that AFD_POLL_ACCEPT on a listening socket is reported through an I/O
 * completion port, in the two ways a reactor could issue it: through a
 * \Device\Afd helper handle associated with the port (wepoll's way), and
 * directly on the socket's own base handle. Also: the base socket is found with
 * SIO_BASE_HANDLE, falling back to SIO_BSP_HANDLE_POLL, and a machine where
 * neither works is refused with the cause named; the ApcContext comes back
 * unchanged; IoStatus.Status is read before Events; 100 sequential accepts are
 * each seen by a fresh poll; no packet arrives without a client; a pending poll
 * cancelled with NtCancelIoFileEx completes with STATUS_CANCELLED.
 *
 * Self-contained on purpose: copy it to a Windows 10/11 machine and build with
 *     x86_64-w64-mingw32-gcc -O2 -static stage1_accept.c -o stage1_accept.exe -lws2_32
 *     cl /O2 stage1_accept.c ws2_32.lib
 * then run it with no arguments. Options: --json, --simulate-lsp (takes the
 * no-base-socket path, exit 2), --help.
 *
 * Exit status: 0 every check passed, 1 a check failed, 2 the environment cannot
 * run the stage (the reason is printed). Every wait has a timeout; a watchdog
 * turns anything that still hangs into a FAIL.
 */
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <windows.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _MSC_VER
#pragma comment(lib, "ws2_32.lib")
#endif

#define STAGE_NAME "stage1_accept"

/* How long the whole stage may take before the watchdog declares a hang. */
#define WATCHDOG_MS 120000

/* NTSTATUS values used here. STATUS_TIMEOUT is a *success* code (severity 0),
 * so a wait that timed out passes NT_SUCCESS(); it has to be compared
 * explicitly, and the entry count written by the call must then be ignored. */
typedef LONG nt_status;
#define ST_SUCCESS ((nt_status)0x00000000L)
#define ST_TIMEOUT ((nt_status)0x00000102L)
#define ST_CANCELLED ((nt_status)0xC0000120L)

/* The kernel's IO_STATUS_BLOCK and FILE_IO_COMPLETION_INFORMATION, declared here
 * so the file needs no DDK header and compiles the same with MSVC and mingw. */
typedef struct io_status {
  union {
    nt_status status;
    void *pointer;
  } u;
  ULONG_PTR information;
} io_status;

typedef struct completion_entry {
  ULONG_PTR key;         /* CompletionKey */
  ULONG_PTR apc_context; /* ApcContext (called CompletionValue by some) */
  io_status iosb;
} completion_entry;

#define IO_COMPLETION_ALL_ACCESS_ 0x001F0003UL

typedef nt_status(NTAPI *fn_create_io_completion)(HANDLE *port, ACCESS_MASK access,
                                                  void *attributes, ULONG threads);
typedef nt_status(NTAPI *fn_set_io_completion)(HANDLE port, ULONG_PTR key,
                                               ULONG_PTR apc_context, nt_status status,
                                               ULONG_PTR information);
typedef nt_status(NTAPI *fn_remove_io_completion_ex)(HANDLE port, completion_entry *entries,
                                                     ULONG count, ULONG *removed,
                                                     LARGE_INTEGER *timeout,
                                                     BOOLEAN alertable);

static fn_create_io_completion p_create;
static fn_set_io_completion p_set;
static fn_remove_io_completion_ex p_remove;

/* Every stage resolves the same seven ntdll exports, so that running any one of
 * them tells whether the machine has everything the afd backend needs. */
static const char *const ntdll_names[] = {
    "NtCreateIoCompletion",  "NtSetIoCompletion", "NtRemoveIoCompletionEx",
    "NtDeviceIoControlFile", "NtCancelIoFileEx",  "NtCancelIoFile",
    "NtCreateFile"};
static FARPROC ntdll_procs[sizeof ntdll_names / sizeof ntdll_names[0]];

/* ------------------------------------------------------------------------ */
/* Results and output                                                        */

#define MAX_CHECKS 16

typedef struct check {
  const char *name;
  int passed;
  double value;
  const char *unit;
  char detail[320];
} check;

static check checks[MAX_CHECKS];
static int n_checks;
static int json_mode;
static LARGE_INTEGER qpc_freq;

static double now_us(void) {
  LARGE_INTEGER t;
  QueryPerformanceCounter(&t);
  return (double)t.QuadPart * 1e6 / (double)qpc_freq.QuadPart;
}

static void add_check(const char *name, int passed, double value, const char *unit,
                      const char *fmt, ...) {
  check *c;
  va_list ap;
  if (n_checks == MAX_CHECKS)
    return;
  c = &checks[n_checks++];
  c->name = name;
  c->passed = passed;
  c->value = value;
  c->unit = unit;
  va_start(ap, fmt);
  vsnprintf(c->detail, sizeof c->detail, fmt, ap);
  va_end(ap);
  if (!json_mode) {
    printf("%s  %-22s %12.2f %-10s %s\n", passed ? "PASS" : "FAIL", name, value, unit,
           c->detail);
    fflush(stdout);
  }
}

static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      printf("\\u%04x", (unsigned char)*s);
    else
      putchar(*s);
  }
  putchar('"');
}

/* Prints the summary (text) or the whole result object (JSON) and returns the
 * exit status. `error` is non-NULL when the environment could not run the stage. */
static int finish(const char *error) {
  int i, failed = 0;
  for (i = 0; i < n_checks; i++)
    failed += !checks[i].passed;
  if (json_mode) {
    printf("{\"stage\": \"%s\", \"passed\": %s, ", STAGE_NAME,
           (!error && !failed) ? "true" : "false");
    if (error) {
      printf("\"error\": ");
      json_string(error);
      printf(", ");
    }
    printf("\"checks\": [");
    for (i = 0; i < n_checks; i++) {
      printf("%s{\"name\": ", i ? ", " : "");
      json_string(checks[i].name);
      printf(", \"passed\": %s, \"value\": %.3f, \"unit\": ",
             checks[i].passed ? "true" : "false", checks[i].value);
      json_string(checks[i].unit);
      printf(", \"detail\": ");
      json_string(checks[i].detail);
      printf("}");
    }
    printf("]}\n");
  } else if (error) {
    printf("%s: cannot run: %s\n", STAGE_NAME, error);
  } else {
    printf("%s: %s (%d of %d checks passed)\n", STAGE_NAME, failed ? "FAIL" : "PASS",
           n_checks - failed, n_checks);
  }
  fflush(stdout);
  return error ? 2 : (failed ? 1 : 0);
}

static DWORD WINAPI watchdog_main(void *arg) {
  (void)arg;
  Sleep(WATCHDOG_MS);
  add_check("watchdog", 0, WATCHDOG_MS / 1000.0, "s",
            "the stage did not finish within its deadline: a wait hung");
  ExitProcess((UINT)finish(NULL));
  return 0;
}

/* ------------------------------------------------------------------------ */
/* AFD: the declarations wepoll, mio and libuv also rely on                 */

#define ST_PENDING ((nt_status)0x00000103L)
#define ST_NOT_FOUND ((nt_status)0xC0000225L)

#define IOCTL_AFD_POLL_ 0x00012024UL /* FILE_DEVICE_NETWORK << 12 | AFD_POLL(9) << 2 */

#define AFD_POLL_RECEIVE 0x0001u
#define AFD_POLL_RECEIVE_EXPEDITED 0x0002u
#define AFD_POLL_SEND 0x0004u
#define AFD_POLL_DISCONNECT 0x0008u
#define AFD_POLL_ABORT 0x0010u
#define AFD_POLL_LOCAL_CLOSE 0x0020u
#define AFD_POLL_CONNECT 0x0040u /* never requested by roi: see NOTES.md */
#define AFD_POLL_ACCEPT 0x0080u
#define AFD_POLL_CONNECT_FAIL 0x0100u

#ifndef SIO_BASE_HANDLE
#define SIO_BASE_HANDLE 0x48000022UL
#endif
#ifndef SIO_BSP_HANDLE_POLL
#define SIO_BSP_HANDLE_POLL 0x4800001DUL
#endif

typedef struct afd_poll_handle_info {
  HANDLE handle;
  ULONG events;
  nt_status status;
} afd_poll_handle_info;

typedef struct afd_poll_info {
  LARGE_INTEGER timeout;
  ULONG number_of_handles;
  ULONG exclusive;
  afd_poll_handle_info handles[1];
} afd_poll_info;

/* The kernel-facing memory of one poll. It is heap-allocated and stays where it
 * is until the poll's completion has been dequeued: the kernel writes the
 * IO_STATUS_BLOCK and the AFD_POLL_INFO when the poll completes, whenever that
 * is. Its address is the ApcContext, so a completion leads straight back to it. */
typedef struct poll_record {
  io_status iosb;
  afd_poll_info info;
  int pending;
} poll_record;

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

typedef nt_status(NTAPI *fn_device_io_control_file)(HANDLE file, HANDLE event,
                                                    void *apc_routine, void *apc_context,
                                                    io_status *iosb, ULONG code, void *in,
                                                    ULONG in_len, void *out, ULONG out_len);
typedef nt_status(NTAPI *fn_cancel_io_file_ex)(HANDLE file, io_status *request,
                                               io_status *iosb);
typedef nt_status(NTAPI *fn_cancel_io_file)(HANDLE file, io_status *iosb);
typedef nt_status(NTAPI *fn_create_file)(HANDLE *file, ACCESS_MASK access,
                                         object_attributes *attributes, io_status *iosb,
                                         LARGE_INTEGER *allocation_size,
                                         ULONG file_attributes, ULONG share_access,
                                         ULONG disposition, ULONG options, void *ea_buffer,
                                         ULONG ea_length);

static fn_device_io_control_file p_ioctl;
static fn_cancel_io_file_ex p_cancel_ex;
static fn_cancel_io_file p_cancel;
static fn_create_file p_create_file;

static int resolve_ntdll(char *why, size_t why_len) {
  HMODULE ntdll = GetModuleHandleA("ntdll.dll");
  size_t i;
  if (!ntdll) {
    snprintf(why, why_len, "ntdll.dll is not loaded");
    return -1;
  }
  for (i = 0; i < sizeof ntdll_names / sizeof ntdll_names[0]; i++) {
    ntdll_procs[i] = GetProcAddress(ntdll, ntdll_names[i]);
    if (!ntdll_procs[i]) {
      snprintf(why, why_len, "ntdll.dll does not export %s", ntdll_names[i]);
      return -1;
    }
  }
  /* Function pointers are converted through the generic void(*)(void) type,
   * which compilers accept without a cast-function-type warning. */
  p_create = (fn_create_io_completion)(void (*)(void))ntdll_procs[0];
  p_set = (fn_set_io_completion)(void (*)(void))ntdll_procs[1];
  p_remove = (fn_remove_io_completion_ex)(void (*)(void))ntdll_procs[2];
  p_ioctl = (fn_device_io_control_file)(void (*)(void))ntdll_procs[3];
  p_cancel_ex = (fn_cancel_io_file_ex)(void (*)(void))ntdll_procs[4];
  p_cancel = (fn_cancel_io_file)(void (*)(void))ntdll_procs[5];
  p_create_file = (fn_create_file)(void (*)(void))ntdll_procs[6];
  return 0;
}

/* Wine exports wine_get_version from ntdll; Windows does not. */
static int running_under_wine(void) {
  HMODULE ntdll = GetModuleHandleA("ntdll.dll");
  return ntdll && GetProcAddress(ntdll, "wine_get_version") != NULL;
}

static HANDLE port_create(void) {
  HANDLE port = NULL;
  nt_status st = p_create(&port, IO_COMPLETION_ALL_ACCESS_, NULL, 0);
  return st == ST_SUCCESS ? port : NULL;
}

/* Dequeues up to `max` packets, waiting at most `timeout_ms` (0 = do not wait).
 * Returns the number dequeued, 0 on timeout, -1 on any other status. The count
 * written by the kernel is only trusted when the status is STATUS_SUCCESS. */
static int port_wait(HANDLE port, completion_entry *entries, ULONG max, DWORD timeout_ms) {
  LARGE_INTEGER timeout;
  ULONG removed = 0;
  nt_status st;
  timeout.QuadPart = -(LONGLONG)timeout_ms * 10000; /* relative, in 100 ns units */
  st = p_remove(port, entries, max, &removed, &timeout, FALSE);
  if (st == ST_SUCCESS)
    return (int)removed;
  return st == ST_TIMEOUT ? 0 : -1;
}

/* Opens a \Device\Afd helper handle and associates it with `port`. Polls issued
 * on it may name any socket; their completions come to the port. */
static HANDLE afd_open(HANDLE port) {
  static WCHAR name[] = L"\\Device\\Afd\\roi";
  unicode_string us;
  object_attributes attrs;
  io_status iosb;
  HANDLE afd = NULL;
  nt_status st;
  us.length = (USHORT)(sizeof name - sizeof name[0]);
  us.maximum_length = (USHORT)sizeof name;
  us.buffer = name;
  memset(&attrs, 0, sizeof attrs);
  attrs.length = sizeof attrs;
  attrs.object_name = &us;
  st = p_create_file(&afd, SYNCHRONIZE, &attrs, &iosb, NULL, 0,
                     FILE_SHARE_READ | FILE_SHARE_WRITE, 1 /* FILE_OPEN */, 0, NULL, 0);
  if (st != ST_SUCCESS)
    return NULL;
  if (!CreateIoCompletionPort(afd, port, 0, 0) ||
      !SetFileCompletionNotificationModes(afd, FILE_SKIP_SET_EVENT_ON_HANDLE)) {
    CloseHandle(afd);
    return NULL;
  }
  return afd;
}

/* Finds the base (kernel) socket under any layered service provider. Returns
 * INVALID_SOCKET when neither ioctl yields one; `how` names the one that did. */
static SOCKET base_socket(SOCKET s, const char **how) {
  SOCKET base = INVALID_SOCKET;
  DWORD bytes;
  if (WSAIoctl(s, SIO_BASE_HANDLE, NULL, 0, &base, sizeof base, &bytes, NULL, NULL) == 0 &&
      base != INVALID_SOCKET) {
    *how = "SIO_BASE_HANDLE";
    return base;
  }
  base = INVALID_SOCKET;
  if (WSAIoctl(s, SIO_BSP_HANDLE_POLL, NULL, 0, &base, sizeof base, &bytes, NULL, NULL) ==
          0 &&
      base != INVALID_SOCKET) {
    *how = "SIO_BSP_HANDLE_POLL";
    return base;
  }
  *how = "none";
  return INVALID_SOCKET;
}

static ULONG requested_union; /* every event mask this stage ever asked for */

/* Issues one AFD poll for `sock` through `handle` (a \Device\Afd helper or the
 * socket's own base handle). Returns the submit status: STATUS_PENDING or
 * STATUS_SUCCESS mean a completion packet will come; anything else means none
 * will, and the record is free again at once. */
static nt_status afd_poll(HANDLE handle, SOCKET sock, ULONG events, poll_record *r) {
  nt_status st;
  requested_union |= events;
  r->info.timeout.QuadPart = 0x7FFFFFFFFFFFFFFFLL; /* never time out */
  r->info.number_of_handles = 1;
  r->info.exclusive = FALSE;
  r->info.handles[0].handle = (HANDLE)sock;
  r->info.handles[0].events = events;
  r->info.handles[0].status = 0;
  r->iosb.u.status = ST_PENDING;
  r->iosb.information = 0;
  st = p_ioctl(handle, NULL, NULL, r, &r->iosb, IOCTL_AFD_POLL_, &r->info, sizeof r->info,
               &r->info, sizeof r->info);
  r->pending = (st == ST_PENDING || st == ST_SUCCESS);
  return st;
}

/* Waits for the completion of record `r` on `port`, at most `timeout_ms`.
 * Returns 1 when it came (and checks the ApcContext), 0 on timeout, -1 when a
 * packet for something else arrived or the wait failed. Status is read before
 * Events: a poll that did not succeed reports no events. */
static int await_record(HANDLE port, poll_record *r, DWORD timeout_ms, nt_status *status,
                        ULONG *events) {
  completion_entry e;
  int n = port_wait(port, &e, 1, timeout_ms);
  if (n != 1)
    return n;
  if (e.apc_context != (ULONG_PTR)r)
    return -1;
  r->pending = 0;
  *status = e.iosb.u.status;
  *events = (*status == ST_SUCCESS) ? r->info.handles[0].events : 0;
  return 1;
}

static int connect_loopback(SOCKET *out, const struct sockaddr_in *addr) {
  int one = 1;
  SOCKET c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (c == INVALID_SOCKET)
    return -1;
  if (connect(c, (const struct sockaddr *)addr, (int)sizeof *addr)) {
    closesocket(c);
    return -1;
  }
  setsockopt(c, IPPROTO_TCP, TCP_NODELAY, (const char *)&one, sizeof one);
  *out = c;
  return 0;
}

/* A listening loopback TCP socket on an ephemeral port; its address in *addr. */
static SOCKET listen_loopback(struct sockaddr_in *addr, int backlog) {
  int len = (int)sizeof *addr;
  SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
  if (s == INVALID_SOCKET)
    return s;
  memset(addr, 0, sizeof *addr);
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr *)addr, len) || listen(s, backlog) ||
      getsockname(s, (struct sockaddr *)addr, &len)) {
    closesocket(s);
    return INVALID_SOCKET;
  }
  return s;
}

/* ------------------------------------------------------------------------ */
/* The checks                                                                */

#define SEQUENTIAL_ACCEPTS 100
#define QUIET_WINDOW_MS 250

static int simulate_lsp;
static int apc_matched, apc_foreign;

/* Counts what await_record() said about the ApcContext. */
static int await_counted(HANDLE port, poll_record *r, DWORD timeout_ms, nt_status *st,
                         ULONG *ev) {
  int n = await_record(port, r, timeout_ms, st, ev);
  apc_matched += n == 1;
  apc_foreign += n < 0;
  return n;
}

/* One accept detected by one poll: issue the poll through `handle`, connect a
 * client, wait for the completion, accept. Returns the microseconds from the end
 * of connect() to the dequeued completion, or a negative value with `why` set. */
static double accept_once(HANDLE port, HANDLE handle, SOCKET lst, SOCKET base,
                          const struct sockaddr_in *addr, char *why, size_t why_len) {
  poll_record *r = (poll_record *)calloc(1, sizeof *r);
  SOCKET c = INVALID_SOCKET, a = INVALID_SOCKET;
  nt_status st;
  ULONG ev = 0;
  double t0, dt = -1.0;
  int n;
  if (!r) {
    snprintf(why, why_len, "out of memory");
    return -1.0;
  }
  st = afd_poll(handle, base, AFD_POLL_ACCEPT, r);
  if (!r->pending) {
    snprintf(why, why_len, "the poll was refused with status 0x%08lX", (unsigned long)st);
    free(r);
    return -1.0;
  }
  if (connect_loopback(&c, addr)) {
    snprintf(why, why_len, "connect failed with %d", WSAGetLastError());
    goto cancel;
  }
  t0 = now_us();
  n = await_counted(port, r, 2000, &st, &ev);
  if (n != 1) {
    snprintf(why, why_len,
             n == 0 ? "no completion within 2 s" : "a foreign completion came");
    goto cancel;
  }
  dt = now_us() - t0;
  if (st != ST_SUCCESS || !(ev & AFD_POLL_ACCEPT) ||
      r->info.handles[0].handle != (HANDLE)base) {
    snprintf(why, why_len, "status 0x%08lX events 0x%lX", (unsigned long)st,
             (unsigned long)ev);
    dt = -1.0;
  } else {
    a = accept(lst, NULL, NULL);
    if (a == INVALID_SOCKET) {
      snprintf(why, why_len, "accept failed with %d after the event", WSAGetLastError());
      dt = -1.0;
    }
  }
cancel:
  if (r->pending) {
    /* The record must outlive the poll: cancel, then wait for the completion.
     * The cancel reports its own result in an IO_STATUS_BLOCK of its own: were
     * it given the poll's block, it would overwrite the poll's final status. */
    io_status cancel_iosb;
    p_cancel_ex(handle, &r->iosb, &cancel_iosb);
    if (await_counted(port, r, 2000, &st, &ev) != 1) {
      r = NULL; /* leaked on purpose: the kernel may still write to it */
      dt = -1.0;
    }
  }
  free(r);
  if (a != INVALID_SOCKET)
    closesocket(a);
  if (c != INVALID_SOCKET)
    closesocket(c);
  return dt;
}

static void check_accepts(HANDLE port, HANDLE afd, SOCKET lst, SOCKET base,
                          const struct sockaddr_in *addr) {
  char why[160] = "";
  double dt, sum = 0.0, t0;
  int i, ok = 0;

  dt = accept_once(port, afd, lst, base, addr, why, sizeof why);
  add_check("accept_via_afd_helper", dt >= 0, dt, "us",
            dt >= 0 ? "AFD_POLL_ACCEPT through a \\Device\\Afd helper handle; time from "
                      "connect() to the dequeued completion"
                    : "%s",
            why);

  t0 = now_us();
  for (i = 0; i < SEQUENTIAL_ACCEPTS; i++) {
    dt = accept_once(port, afd, lst, base, addr, why, sizeof why);
    if (dt < 0)
      break;
    sum += dt;
    ok++;
  }
  add_check(
      "sequential_accepts", ok == SEQUENTIAL_ACCEPTS, ok ? (now_us() - t0) / ok : 0.0,
      "us/accept",
      "%d of %d accepts, each seen by a freshly issued poll; mean poll latency %.1f us%s%s",
      ok, SEQUENTIAL_ACCEPTS, ok ? sum / ok : 0.0, ok < SEQUENTIAL_ACCEPTS ? "; " : "",
      ok < SEQUENTIAL_ACCEPTS ? why : "");
}

/* The same accept, with the poll issued on the listening socket's own base
 * handle instead of a \Device\Afd helper (the seeds ask whether this works). */
static void check_direct(HANDLE port) {
  struct sockaddr_in addr;
  char why[160] = "";
  const char *how;
  double dt = -1.0;
  SOCKET base, lst = listen_loopback(&addr, 16);
  if (lst == INVALID_SOCKET) {
    add_check("accept_via_base_handle", 0, 0, "us", "could not listen");
    return;
  }
  base = base_socket(lst, &how);
  if (base == INVALID_SOCKET)
    snprintf(why, sizeof why, "no base socket");
  else if (!CreateIoCompletionPort((HANDLE)base, port, 0, 0))
    snprintf(why, sizeof why, "associating the socket with the port failed (%lu)",
             (unsigned long)GetLastError());
  else
    dt = accept_once(port, (HANDLE)base, lst, base, &addr, why, sizeof why);
  closesocket(lst);
  add_check("accept_via_base_handle", dt >= 0, dt, "us",
            dt >= 0 ? "AFD_POLL_ACCEPT issued on the socket's own base handle (associated "
                      "with the port); time from connect() to the completion"
                    : "%s",
            why);
}

/* No client, no packet; then the pending poll is cancelled. */
static void check_quiet_and_cancel(HANDLE port, HANDLE afd, SOCKET base) {
  poll_record *r = (poll_record *)calloc(1, sizeof *r);
  io_status cancel_iosb;
  nt_status st = 0, cst;
  ULONG ev = 0;
  double t0, dt;
  int n;
  if (!r || (afd_poll(afd, base, AFD_POLL_ACCEPT, r), !r->pending)) {
    add_check("no_packet_without_client", 0, 0, "packets", "the poll could not be issued");
    free(r);
    return;
  }
  n = await_counted(port, r, QUIET_WINDOW_MS, &st, &ev);
  add_check("no_packet_without_client", n == 0, n < 0 ? 1 : n, "packets",
            "a pending AFD_POLL_ACCEPT with no client: packets seen in a %d ms wait",
            QUIET_WINDOW_MS);
  if (n != 0) {
    free(r); /* it completed, so nothing references it any more */
    return;
  }
  /* The cancel gets an IO_STATUS_BLOCK of its own, pre-set to a sentinel so
   * the detail shows what the call wrote there (reported, not judged). The
   * poll's block, in the record, must end with the poll's own final status,
   * STATUS_CANCELLED, as the packet says: a reactor that reads its record's
   * block relies on that, and a cancel handed the poll's block would
   * overwrite it with the cancel's own result. */
  cancel_iosb.u.status = (nt_status)0x7EEEEEEEL;
  cancel_iosb.information = 0;
  t0 = now_us();
  cst = p_cancel_ex(afd, &r->iosb, &cancel_iosb);
  n = await_counted(port, r, 2000, &st, &ev);
  dt = now_us() - t0;
  add_check("cancel_pending",
            n == 1 && st == ST_CANCELLED && ev == 0 && r->iosb.u.status == ST_CANCELLED, dt,
            "us",
            "NtCancelIoFileEx returned 0x%08lX (its own block: 0x%08lX); the completion "
            "came with status 0x%08lX, the poll's block holds 0x%08lX (want "
            "STATUS_CANCELLED 0xC0000120 in both), events 0x%lX",
            (unsigned long)cst, (unsigned long)cancel_iosb.u.status, (unsigned long)st,
            (unsigned long)r->iosb.u.status, (unsigned long)ev);
  if (n == 1)
    free(r); /* else leaked on purpose: the kernel may still own it */
}

/* ------------------------------------------------------------------------ */

static void usage(void) {
  printf("usage: %s [--json] [--simulate-lsp]\n"
         "Feasibility gate 1: AFD_POLL_ACCEPT reported through an I/O completion port.\n"
         "--simulate-lsp behaves as if no base socket could be found (exit 2).\n"
         "Exit status: 0 all checks passed, 1 a check failed, 2 cannot run here.\n",
         STAGE_NAME);
}

int main(int argc, char **argv) {
  struct sockaddr_in addr;
  char why[300];
  const char *how = "none";
  WSADATA wsa;
  HANDLE port = NULL, afd = NULL;
  SOCKET lst = INVALID_SOCKET, base = INVALID_SOCKET;
  int i, rc;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0) {
      json_mode = 1;
    } else if (strcmp(argv[i], "--simulate-lsp") == 0) {
      simulate_lsp = 1;
    } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      usage();
      return 0;
    } else {
      fprintf(stderr, "%s: unknown argument '%s'\n", STAGE_NAME, argv[i]);
      usage();
      return 2;
    }
  }
  QueryPerformanceFrequency(&qpc_freq);
  if (resolve_ntdll(why, sizeof why))
    return finish(why);
  if (WSAStartup(MAKEWORD(2, 2), &wsa)) {
    snprintf(why, sizeof why, "WSAStartup failed with %d", WSAGetLastError());
    return finish(why);
  }
  port = port_create();
  afd = port ? afd_open(port) : NULL;
  lst = listen_loopback(&addr, SOMAXCONN);
  if (!port || !afd || lst == INVALID_SOCKET) {
    snprintf(why, sizeof why, "%s",
             !port  ? "NtCreateIoCompletion failed"
             : !afd ? "opening \\Device\\Afd failed"
                    : "could not listen on 127.0.0.1");
    rc = finish(why);
    goto out;
  }
  base = simulate_lsp ? INVALID_SOCKET : base_socket(lst, &how);
  if (base == INVALID_SOCKET) {
    snprintf(why, sizeof why,
             "neither SIO_BASE_HANDLE nor SIO_BSP_HANDLE_POLL yields a base socket%s: a "
             "layered service provider (LSP) is hiding it; AFD polling cannot work on this "
             "machine until it is removed (netsh winsock reset)",
             simulate_lsp ? " (simulated by --simulate-lsp)" : "");
    rc = finish(why);
    goto out;
  }
  CloseHandle(CreateThread(NULL, 0, watchdog_main, NULL, 0, NULL));

  add_check(
      "base_handle", 1, 1, "found", "%s gave base socket 0x%llx for socket 0x%llx (%s)%s",
      how, (unsigned long long)base, (unsigned long long)lst,
      base == lst ? "the same handle: no provider above the base" : "a different handle",
      running_under_wine() ? "; running under Wine" : "");
  check_accepts(port, afd, lst, base, &addr);
  check_direct(port);
  check_quiet_and_cancel(port, afd, base);
  add_check("apc_context_unchanged", apc_foreign == 0 && apc_matched > SEQUENTIAL_ACCEPTS,
            apc_matched, "packets",
            "%d completions carried their record's address as ApcContext, %d did not",
            apc_matched, apc_foreign);
  rc = finish(NULL);
out:
  if (lst != INVALID_SOCKET)
    closesocket(lst);
  if (afd)
    CloseHandle(afd);
  if (port)
    CloseHandle(port);
  WSACleanup();
  return rc;
}
