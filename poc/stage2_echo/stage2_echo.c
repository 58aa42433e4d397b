/*
 * stage2_echo: feasibility gate 2 of roi.
 *
 * Proves that a reactor which knows only AFD readiness can move a stream: an
 * echo server driven by AFD_POLL_RECEIVE / AFD_POLL_SEND completions, with at
 * most ONE outstanding poll per socket, re-armed only after its non-blocking
 * recv/send ran dry, echoes a 1 MiB stream (--bytes N for more) that the client
 * checks byte by byte; its MB/s is printed beside a blocking recv/send echo over
 * the same loopback in the same run. Also proves: a poll issued while data is
 * already buffered completes at once (level semantics, Q5.1); with RECEIVE
 * withdrawn a socket holding unread data produces no packet, and restoring the
 * interest completes at once (backpressure, Q5.2); peer FIN gives DISCONNECT,
 * peer RST gives ABORT, a local closesocket gives LOCAL_CLOSE. It never asks
 * for AFD_POLL_CONNECT.
 *
 * Self-contained on purpose: copy it to a Windows 10/11 machine and build with
 *     x86_64-w64-mingw32-gcc -O2 -static stage2_echo.c -o stage2_echo.exe -lws2_32
 *     cl /O2 stage2_echo.c ws2_32.lib
 * then run it with no arguments. Options: --json, --bytes N, --help.
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

#define STAGE_NAME "stage2_echo"

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
/* Connected pairs and the byte pattern                                      */

#define DEFAULT_BYTES (1u << 20)
#define CHUNK (64 * 1024)
#define RING (256 * 1024)
#define QUIET_WINDOW_MS 300
#define HANGUP_EVENTS (AFD_POLL_DISCONNECT | AFD_POLL_ABORT | AFD_POLL_LOCAL_CLOSE)
#define WAKE_KEY ((ULONG_PTR)0x77414B45u) /* "wAKE": a key no AFD packet carries */

static unsigned long long total_bytes = DEFAULT_BYTES;

static unsigned char pattern(unsigned long long i) {
  return (unsigned char)((i ^ (i >> 8) ^ (i >> 16) ^ (i >> 24)) * 31u + 7u);
}

/* A loopback TCP connection: pair[0] the client (blocking), pair[1] the
 * server side, made non-blocking when `nonblocking` is set. */
static int tcp_pair(SOCKET pair[2], int nonblocking) {
  struct sockaddr_in addr;
  u_long on = 1;
  SOCKET lst = listen_loopback(&addr, 1);
  pair[0] = pair[1] = INVALID_SOCKET;
  if (lst == INVALID_SOCKET)
    return -1;
  if (connect_loopback(&pair[0], &addr) == 0)
    pair[1] = accept(lst, NULL, NULL);
  closesocket(lst);
  if (pair[1] == INVALID_SOCKET || (nonblocking && ioctlsocket(pair[1], FIONBIO, &on))) {
    if (pair[0] != INVALID_SOCKET)
      closesocket(pair[0]);
    if (pair[1] != INVALID_SOCKET)
      closesocket(pair[1]);
    return -1;
  }
  return 0;
}

static void close_pair(SOCKET pair[2]) {
  if (pair[0] != INVALID_SOCKET)
    closesocket(pair[0]);
  if (pair[1] != INVALID_SOCKET)
    closesocket(pair[1]);
  pair[0] = pair[1] = INVALID_SOCKET;
}

/* Waits until `s` has at least `n` unread bytes (FIONREAD), at most 2 s. */
static int wait_unread(SOCKET s, u_long n) {
  double deadline = now_us() + 2e6;
  u_long avail = 0;
  while (now_us() < deadline) {
    if (ioctlsocket(s, FIONREAD, &avail) == 0 && avail >= n)
      return 0;
    Sleep(1);
  }
  return -1;
}

/* ------------------------------------------------------------------------ */
/* The client: one thread writes the pattern, another reads and checks it    */

typedef struct client {
  SOCKET sock;
  unsigned long long sent, received, mismatches;
  int write_error, read_error;
  double t_start, t_end;
} client;

static DWORD WINAPI client_writer(void *arg) {
  client *c = (client *)arg;
  static unsigned char buf[CHUNK];
  while (c->sent < total_bytes) {
    int i, n = (int)((total_bytes - c->sent) < CHUNK ? (total_bytes - c->sent) : CHUNK);
    for (i = 0; i < n; i++)
      buf[i] = pattern(c->sent + (unsigned long long)i);
    n = send(c->sock, (const char *)buf, n, 0);
    if (n <= 0) {
      c->write_error = WSAGetLastError();
      return 1;
    }
    c->sent += (unsigned long long)n;
  }
  shutdown(c->sock, SD_SEND); /* the server sees FIN once it has read everything */
  return 0;
}

/* Starts the writer, reads until EOF in this thread, checks every byte. */
static void client_run(client *c) {
  static unsigned char buf[CHUNK];
  DWORD timeout_ms = 10000; /* a stalled server ends the read, never hangs it */
  HANDLE writer;
  setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout_ms,
             sizeof timeout_ms);
  c->t_start = now_us();
  writer = CreateThread(NULL, 0, client_writer, c, 0, NULL);
  if (!writer) {
    c->write_error = -1;
    return;
  }
  for (;;) {
    int i, n = recv(c->sock, (char *)buf, CHUNK, 0);
    if (n == 0)
      break;
    if (n < 0) {
      c->read_error = WSAGetLastError();
      break;
    }
    for (i = 0; i < n; i++)
      if (buf[i] != pattern(c->received + (unsigned long long)i))
        c->mismatches++;
    c->received += (unsigned long long)n;
  }
  c->t_end = now_us();
  if (WaitForSingleObject(writer, 10000) != WAIT_OBJECT_0)
    c->write_error = -2;
  CloseHandle(writer);
}

static DWORD WINAPI client_main(void *arg) {
  client_run((client *)arg);
  return 0;
}

/* ------------------------------------------------------------------------ */
/* The echo server that knows only AFD readiness                             */

typedef struct echo_stats {
  int polls, max_outstanding, stalls, errors;
  unsigned long long echoed;
  char why[160];
} echo_stats;

/* Echoes everything read from `s` back to it, driven only by AFD poll
 * completions: at most one poll outstanding, its interest computed from the
 * buffer (RECEIVE while there is room and no EOF, SEND while bytes wait), and
 * re-armed only after the non-blocking recv/send loops ran dry. */
static void echo_serve(HANDLE port, HANDLE afd, SOCKET s, SOCKET base, echo_stats *st) {
  static unsigned char ring[RING];
  unsigned long long in = 0, out = 0; /* bytes received and sent so far */
  poll_record *r = (poll_record *)calloc(1, sizeof *r);
  int eof = 0, saw_disconnect = 0;
  double deadline = now_us() + 120e6;

  if (!r) {
    snprintf(st->why, sizeof st->why, "out of memory");
    st->errors++;
    return;
  }
  for (;;) {
    nt_status status;
    ULONG ev, interest = AFD_POLL_ABORT | AFD_POLL_LOCAL_CLOSE;
    int n;
    if (!eof && in - out < RING)
      interest |= AFD_POLL_RECEIVE;
    if (in > out)
      interest |= AFD_POLL_SEND;
    /* DISCONNECT repeats on every poll once the peer has sent FIN: asking for it
     * again after seeing it once would spin. */
    if (!saw_disconnect)
      interest |= AFD_POLL_DISCONNECT;
    if (eof && in == out)
      break;
    if (r->pending) { /* never two polls on one socket */
      st->max_outstanding = 2;
      break;
    }
    afd_poll(afd, base, interest, r);
    if (!r->pending) {
      snprintf(st->why, sizeof st->why, "a poll was refused");
      st->errors++;
      break;
    }
    st->polls++;
    if (st->max_outstanding < 1)
      st->max_outstanding = 1;
    n = await_record(port, r, 5000, &status, &ev);
    if (n != 1 || now_us() > deadline) {
      snprintf(st->why, sizeof st->why,
               "stalled: no completion within 5 s (interest 0x%lX)",
               (unsigned long)interest);
      st->stalls++;
      break; /* the record stays pending; freed below after a cancel */
    }
    if (status != ST_SUCCESS || (ev & (AFD_POLL_ABORT | AFD_POLL_LOCAL_CLOSE))) {
      snprintf(st->why, sizeof st->why, "poll status 0x%08lX events 0x%lX",
               (unsigned long)status, (unsigned long)ev);
      st->errors++;
      break;
    }
    if (ev & AFD_POLL_DISCONNECT)
      saw_disconnect = 1;
    /* Read until the socket runs dry or the ring is full. */
    while ((ev & (AFD_POLL_RECEIVE | AFD_POLL_DISCONNECT)) && !eof && in - out < RING) {
      size_t at = (size_t)(in % RING), room = RING - (size_t)(in - out);
      if (room > RING - at)
        room = RING - at;
      n = recv(s, (char *)ring + at, (int)room, 0);
      if (n > 0)
        in += (unsigned long long)n;
      else if (n == 0)
        eof = 1;
      else if (WSAGetLastError() == WSAEWOULDBLOCK)
        break;
      else {
        st->errors++;
        snprintf(st->why, sizeof st->why, "recv failed with %d", WSAGetLastError());
        goto done;
      }
    }
    /* Write until the socket would block or nothing is left. */
    while (in > out) {
      size_t at = (size_t)(out % RING), len = (size_t)(in - out);
      if (len > RING - at)
        len = RING - at;
      n = send(s, (const char *)ring + at, (int)len, 0);
      if (n > 0)
        out += (unsigned long long)n;
      else if (WSAGetLastError() == WSAEWOULDBLOCK)
        break;
      else {
        st->errors++;
        snprintf(st->why, sizeof st->why, "send failed with %d", WSAGetLastError());
        goto done;
      }
    }
  }
  if (eof && in == out)
    shutdown(s, SD_SEND);
done:
  st->echoed = out;
  if (r->pending) {
    nt_status status;
    ULONG ev;
    io_status cancel_iosb; /* the cancel's own result, never the poll's block */
    p_cancel_ex(afd, &r->iosb, &cancel_iosb);
    if (await_record(port, r, 2000, &status, &ev) != 1)
      return; /* leaked on purpose: the kernel may still write to it */
  }
  free(r);
}

static DWORD WINAPI blocking_echo_main(void *arg) {
  SOCKET s = *(SOCKET *)arg;
  static unsigned char buf[CHUNK];
  for (;;) {
    int n = recv(s, (char *)buf, CHUNK, 0), off = 0;
    if (n <= 0)
      break;
    while (off < n) {
      int m = send(s, (const char *)buf + off, n - off, 0);
      if (m <= 0)
        return 1;
      off += m;
    }
  }
  shutdown(s, SD_SEND);
  return 0;
}

static int client_ok(const client *c) {
  return c->sent == total_bytes && c->received == total_bytes && c->mismatches == 0 &&
         !c->read_error && !c->write_error;
}

static double mbps(const client *c) {
  double secs = (c->t_end - c->t_start) / 1e6;
  return secs > 0 ? (double)c->received / secs / 1e6 : 0.0;
}

static void check_echo(HANDLE port, HANDLE afd) {
  SOCKET pair[2], bpair[2], base;
  client c, bc;
  echo_stats st;
  HANDLE thread;
  const char *how;
  double afd_mbps = 0, blk_mbps = 0;
  int afd_ok = 0, blk_ok = 0;

  memset(&c, 0, sizeof c);
  memset(&bc, 0, sizeof bc);
  memset(&st, 0, sizeof st);
  if (tcp_pair(pair, 1) == 0 && (base = base_socket(pair[1], &how)) != INVALID_SOCKET) {
    c.sock = pair[0];
    thread = CreateThread(NULL, 0, client_main, &c, 0, NULL);
    if (thread) {
      echo_serve(port, afd, pair[1], base, &st);
      if (WaitForSingleObject(thread, 30000) != WAIT_OBJECT_0)
        st.stalls++;
      CloseHandle(thread);
    }
    close_pair(pair);
    afd_ok = client_ok(&c) && !st.stalls && !st.errors && st.max_outstanding == 1;
    afd_mbps = mbps(&c);
  } else {
    snprintf(st.why, sizeof st.why, "could not connect a loopback pair");
  }
  add_check(
      "echo_integrity", afd_ok, (double)c.received, "bytes",
      "%llu sent, %llu echoed back, %llu wrong bytes; %d polls, at most %d outstanding, "
      "%d stalls%s%s",
      c.sent, c.received, c.mismatches, st.polls, st.max_outstanding, st.stalls,
      st.why[0] ? "; " : "", st.why);
  add_check("echo_throughput", afd_ok, afd_mbps, "MB/s",
            "through the AFD-readiness server (one poll per socket, re-armed when dry)");

  if (tcp_pair(bpair, 0) == 0) {
    bc.sock = bpair[0];
    thread = CreateThread(NULL, 0, blocking_echo_main, &bpair[1], 0, NULL);
    if (thread) {
      client_run(&bc);
      WaitForSingleObject(thread, 30000);
      CloseHandle(thread);
    }
    close_pair(bpair);
    blk_ok = client_ok(&bc);
    blk_mbps = mbps(&bc);
  }
  add_check(
      "blocking_throughput", blk_ok, blk_mbps, "MB/s",
      "the same stream echoed by a blocking recv/send thread, same loopback, same run");
  add_check("echo_vs_blocking", afd_ok && blk_ok, blk_mbps > 0 ? afd_mbps / blk_mbps : 0.0,
            "ratio", "AFD echo MB/s divided by blocking echo MB/s (a figure, not a bound)");
}

/* ------------------------------------------------------------------------ */
/* Level semantics, backpressure, and the hang-up events                     */

/* Issues one poll and waits up to `timeout_ms` for it. Returns 1 with status
 * and events, 0 on timeout (the poll is then still pending), -1 on failure. */
static int poll_once(HANDLE port, HANDLE afd, SOCKET base, ULONG interest, poll_record *r,
                     DWORD timeout_ms, nt_status *st, ULONG *ev, double *us) {
  double t0 = now_us();
  int n;
  afd_poll(afd, base, interest, r);
  if (!r->pending)
    return -1;
  n = await_record(port, r, timeout_ms, st, ev);
  *us = now_us() - t0;
  return n;
}

/* Cancels a pending poll and waits for its completion. Returns 0 when the
 * record is free again. The cancel reports its own result in a block of its
 * own: handed the poll's block, it would overwrite the poll's final status
 * there (STATUS_CANCELLED) with its own (STATUS_SUCCESS). */
static int cancel_and_reap(HANDLE port, HANDLE afd, poll_record *r, nt_status *st) {
  io_status cancel_iosb;
  ULONG ev;
  if (!r->pending)
    return 0;
  p_cancel_ex(afd, &r->iosb, &cancel_iosb);
  return await_record(port, r, 2000, st, &ev) == 1 ? 0 : -1;
}

static void check_level_and_backpressure(HANDLE port, HANDLE afd, poll_record *r) {
  SOCKET pair[2], base;
  const char *how;
  char buf[256];
  nt_status st = 0, cst, bst;
  ULONG ev = 0;
  double us = 0;
  int n;

  if (tcp_pair(pair, 1) || (base = base_socket(pair[1], &how)) == INVALID_SOCKET) {
    add_check("level_buffered", 0, 0, "us", "could not connect a loopback pair");
    return;
  }
  /* Level: the data is already there when the poll is issued. */
  send(pair[0], "0123456789", 10, 0);
  wait_unread(pair[1], 10);
  n = poll_once(port, afd, base, AFD_POLL_RECEIVE | HANGUP_EVENTS, r, 1000, &st, &ev, &us);
  add_check("level_buffered", n == 1 && st == ST_SUCCESS && (ev & AFD_POLL_RECEIVE), us,
            "us",
            "a RECEIVE poll issued while 10 bytes wait completed %s with events 0x%lX",
            n == 1 ? "at once" : "NOT within 1 s", (unsigned long)ev);
  if (n == 0 && cancel_and_reap(port, afd, r, &st))
    goto leak;

  /* Backpressure: the 10 bytes are still unread; RECEIVE is withdrawn. SEND is
   * not asked for either, as a socket with room to send would complete at once. */
  n = poll_once(port, afd, base, HANGUP_EVENTS, r, QUIET_WINDOW_MS, &st, &ev, &us);
  add_check("backpressure_quiet", n == 0, n < 0 ? 1 : n, "packets",
            "RECEIVE withdrawn while 10 bytes wait unread: packets in a %d ms window",
            QUIET_WINDOW_MS);
  /* The reactor's wake channel (Q7.3) is the port itself, not a socket: a wake
   * posted while this socket's RECEIVE interest is withdrawn still arrives, and
   * the socket's pending poll is untouched by it. */
  if (n == 0) {
    completion_entry e;
    int got;
    p_set(port, WAKE_KEY, 0, ST_SUCCESS, 0x5EEDu);
    got = port_wait(port, &e, 1, 1000);
    add_check(
        "wake_during_backpressure",
        got == 1 && e.key == WAKE_KEY && e.iosb.information == 0x5EEDu && r->pending,
        got < 0 ? 0 : got, "packets",
        "a wake posted with NtSetIoCompletion while the socket's poll (RECEIVE withdrawn) "
        "is pending: %d packet(s), %s",
        got, got == 1 && e.key == WAKE_KEY ? "the wake itself" : "NOT the wake");
  }
  /* Restoring the interest: cancel the pending poll, wait for its completion,
   * resubmit (one poll per socket, ever). */
  cst = 0;
  bst = 0;
  if (n == 0 && cancel_and_reap(port, afd, r, &cst))
    goto leak;
  if (n == 0)
    bst = r->iosb.u.status; /* the poll's own block, after its completion */
  n = poll_once(port, afd, base, AFD_POLL_RECEIVE | HANGUP_EVENTS, r, 1000, &st, &ev, &us);
  add_check("backpressure_resume",
            cst == ST_CANCELLED && bst == ST_CANCELLED && n == 1 && st == ST_SUCCESS &&
                (ev & AFD_POLL_RECEIVE),
            us, "us",
            "the quiet poll was cancelled (completion status 0x%08lX, its own block "
            "0x%08lX, want 0xC0000120 in both), then RECEIVE resubmitted: events 0x%lX",
            (unsigned long)cst, (unsigned long)bst, (unsigned long)ev);
  if (n == 0 && cancel_and_reap(port, afd, r, &st))
    goto leak;
  recv(pair[1], buf, sizeof buf, 0);
  close_pair(pair);
  return;
leak:
  add_check("record_reclaimed", 0, 0, "", "a cancelled poll never completed");
  close_pair(pair);
}

static void check_hangups(HANDLE port, HANDLE afd, poll_record *r) {
  SOCKET pair[2], base;
  const char *how;
  struct linger lg;
  nt_status st = 0;
  ULONG ev = 0, ev2 = 0;
  double us = 0;
  int n, n2;
  const ULONG all = AFD_POLL_RECEIVE | HANGUP_EVENTS;

  /* FIN with nothing unread: DISCONNECT, and again on the next poll. */
  if (tcp_pair(pair, 1) || (base = base_socket(pair[1], &how)) == INVALID_SOCKET)
    return;
  shutdown(pair[0], SD_SEND);
  n = poll_once(port, afd, base, all, r, 1000, &st, &ev, &us);
  if (n == 0)
    cancel_and_reap(port, afd, r, &st);
  n2 = poll_once(port, afd, base, all, r, 1000, &st, &ev2, &us);
  if (n2 == 0)
    cancel_and_reap(port, afd, r, &st);
  add_check(
      "fin_disconnect", n == 1 && (ev & AFD_POLL_DISCONNECT), (double)ev, "events",
      "peer FIN: events 0x%lX (want DISCONNECT 0x8); a second poll %s with 0x%lX, so a "
      "reactor must not re-arm DISCONNECT after reporting it",
      (unsigned long)ev, n2 == 1 ? "completed at once" : "did not complete",
      (unsigned long)ev2);
  close_pair(pair);

  /* FIN while unread data waits: Windows reports DISCONNECT with RECEIVE; Wine 8
   * reports RECEIVE only (NOTES.md). */
  if (tcp_pair(pair, 1) || (base = base_socket(pair[1], &how)) == INVALID_SOCKET)
    return;
  send(pair[0], "abc", 3, 0);
  shutdown(pair[0], SD_SEND);
  wait_unread(pair[1], 3);
  Sleep(20);
  n = poll_once(port, afd, base, all, r, 1000, &st, &ev, &us);
  if (n == 0)
    cancel_and_reap(port, afd, r, &st);
  {
    int disconnect = (ev & AFD_POLL_DISCONNECT) != 0, wine = running_under_wine();
    add_check("fin_with_unread_data",
              n == 1 && (ev & AFD_POLL_RECEIVE) && (disconnect || wine), (double)ev,
              "events", "peer FIN behind 3 unread bytes: events 0x%lX%s", (unsigned long)ev,
              disconnect ? " (DISCONNECT reported, as on Windows)"
              : wine     ? " (no DISCONNECT: the known Wine difference; recv() == 0 still "
                           "reports the FIN)"
                         : " (no DISCONNECT)");
  }
  close_pair(pair);

  /* RST: the peer closes with a zero linger. */
  if (tcp_pair(pair, 1) || (base = base_socket(pair[1], &how)) == INVALID_SOCKET)
    return;
  lg.l_onoff = 1;
  lg.l_linger = 0;
  setsockopt(pair[0], SOL_SOCKET, SO_LINGER, (const char *)&lg, sizeof lg);
  closesocket(pair[0]);
  pair[0] = INVALID_SOCKET;
  Sleep(20);
  n = poll_once(port, afd, base, all, r, 1000, &st, &ev, &us);
  if (n == 0)
    cancel_and_reap(port, afd, r, &st);
  add_check("rst_abort", n == 1 && (ev & AFD_POLL_ABORT), (double)ev, "events",
            "peer RST (linger 0): status 0x%08lX events 0x%lX (want ABORT 0x10)",
            (unsigned long)st, (unsigned long)ev);
  close_pair(pair);

  /* closesocket() on our side while a poll is pending. */
  if (tcp_pair(pair, 1) || (base = base_socket(pair[1], &how)) == INVALID_SOCKET)
    return;
  afd_poll(afd, base, all, r);
  n = r->pending ? await_record(port, r, 100, &st, &ev) : -1;
  if (n == 0) {
    closesocket(pair[1]);
    pair[1] = INVALID_SOCKET;
    n = await_record(port, r, 2000, &st, &ev);
  }
  add_check("local_close", n == 1 && st == ST_SUCCESS && (ev & AFD_POLL_LOCAL_CLOSE),
            (double)ev, "events",
            "closesocket with the poll pending: status 0x%08lX events 0x%lX (want "
            "LOCAL_CLOSE 0x20)%s",
            (unsigned long)st, (unsigned long)ev,
            n == 1 ? "" : "; no completion within 2 s");
  if (n != 1)
    r->pending = 1; /* still owned by the kernel */
  close_pair(pair);
}

/* ------------------------------------------------------------------------ */

static void usage(void) {
  printf("usage: %s [--json] [--bytes N]\n"
         "Feasibility gate 2: an echo server driven only by AFD readiness.\n"
         "--bytes N  echo N bytes (default %u)\n"
         "Exit status: 0 all checks passed, 1 a check failed, 2 cannot run here.\n",
         STAGE_NAME, DEFAULT_BYTES);
}

int main(int argc, char **argv) {
  char why[200];
  WSADATA wsa;
  HANDLE port = NULL, afd = NULL;
  poll_record *r = NULL;
  int i, rc;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0) {
      json_mode = 1;
    } else if (strcmp(argv[i], "--bytes") == 0 && i + 1 < argc) {
      char *end;
      total_bytes = strtoull(argv[++i], &end, 10);
      if (*end || total_bytes == 0) {
        fprintf(stderr, "%s: --bytes needs a positive number\n", STAGE_NAME);
        return 2;
      }
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
  r = (poll_record *)calloc(1, sizeof *r);
  if (!port || !afd || !r) {
    snprintf(why, sizeof why, "%s",
             !port  ? "NtCreateIoCompletion failed"
             : !afd ? "opening \\Device\\Afd failed"
                    : "out of memory");
    rc = finish(why);
    goto out;
  }
  CloseHandle(CreateThread(NULL, 0, watchdog_main, NULL, 0, NULL));

  check_echo(port, afd);
  check_level_and_backpressure(port, afd, r);
  check_hangups(port, afd, r);
  add_check("connect_never_requested", (requested_union & AFD_POLL_CONNECT) == 0,
            (double)requested_union, "mask",
            "union of every event mask this stage requested: 0x%lX (AFD_POLL_CONNECT 0x40 "
            "never asked for)",
            (unsigned long)requested_union);
  rc = finish(NULL);
out:
  if (r && !r->pending)
    free(r);
  if (afd)
    CloseHandle(afd);
  if (port)
    CloseHandle(port);
  WSACleanup();
  return rc;
}
