/* clang-format off */
/*
 * stage3_stress: feasibility gate 3 of roi.
 *
 * Proves that AFD polls can be created, cancelled and abandoned at volume
 * without leaking: 10,000 connect/accept/close cycles (--cycles), with 1,000
 * connections open at once (--concurrent), every server socket registered with
 * an AFD poll; half the cycles cancel the pending poll and then close, the
 * other half close while the poll is still pending. Each poll's kernel-facing
 * record (IO_STATUS_BLOCK + AFD_POLL_INFO) is heap-pinned and freed only after
 * its completion was dequeued. Also compares NtCancelIoFileEx with
 * NtCancelIoFile, and measures the cost of a cancel against the number of polls
 * sharing one \Device\Afd handle (32, 128, 512, 1024).
 *
 * The leak verdict: an exact census of live sockets (every handle value up to
 * the high-water mark asked for SO_TYPE; it needs nothing Wine lacks), the
 * high-water mark of socket handle values (flat when handles are reused),
 * GetProcessHandleCount where it returns non-zero (it returns 0 under Wine),
 * private bytes against a stated bound, and records reclaimed equal to records
 * created. --leak-every N leaks a socket every N cycles and the run must then
 * fail.
 *
 * Self-contained on purpose: copy it to a Windows 10/11 machine and build it
 * with either of
 *     x86_64-w64-mingw32-gcc -O2 -static stage3_stress.c -o stage3_stress.exe -lws2_32 -lpsapi
 *     cl /O2 stage3_stress.c ws2_32.lib psapi.lib
 * then run it with no arguments. Options: --json, --cycles N, --concurrent N,
 * --leak-every N (the run must then fail), --help.
 *
 * Exit status: 0 every check passed, 1 a check failed, 2 the environment cannot
 * run the stage (the reason is printed). Every wait has a timeout; a watchdog
 * turns anything that still hangs into a FAIL.
 *
 * (This comment is kept out of clang-format's reach: its first build line is
 * longer than the column limit, and the formatter would wrap the two build
 * lines into one another.)
 */
/* clang-format on */
#define WIN32_LEAN_AND_MEAN
#include <winsock2.h>
#include <windows.h>
#include <psapi.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _MSC_VER
#pragma comment(lib, "ws2_32.lib")
#pragma comment(lib, "psapi.lib")
#endif

#define STAGE_NAME "stage3_stress"

/* How long the whole stage may take before the watchdog declares a hang. */
#define WATCHDOG_MS 600000

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

#define MAX_CHECKS 20

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
/* Records, connections and the reaper                                       */

#define DEFAULT_CYCLES 10000
#define DEFAULT_CONCURRENT 1000
#define CYCLE_GROUP                                                                        \
  32 /* sockets per \Device\Afd helper: the size the library uses (NOTES.md) */
#define COMPARE_POLLS 64     /* polls per NtCancelIoFileEx / NtCancelIoFile sample */
#define HIGH_WATER_SLACK 256 /* handle values: 64 handles (values step by 4) */
#define PROBE_MARGIN 4096    /* socket census: values probed above the high-water mark */
#define MEMORY_BOUND_KB 1024 /* measured growth is 0 KiB at 10,000 and 100,000 cycles */

static int cycles = DEFAULT_CYCLES, concurrent = DEFAULT_CONCURRENT, leak_every;
static long long created, reclaimed, outstanding;
static ULONG_PTR handle_high_water;
static int cancelled_seen, local_close_seen, other_seen;
/* Completions whose poll block (the record's IO_STATUS_BLOCK) did not end with
 * the status the packet carried; a cancel handed the poll's block writes its
 * own result there. */
static int block_mismatch;

static poll_record *record_new(void) {
  poll_record *r = (poll_record *)calloc(1, sizeof *r);
  if (r)
    created++;
  return r;
}

/* The only place a record is freed: after its completion was dequeued, or
 * when its submit failed synchronously (then no completion will ever come). */
static void record_free(poll_record *r) {
  free(r);
  reclaimed++;
}

static nt_status submit(HANDLE afd, SOCKET base, poll_record *r) {
  nt_status st = afd_poll(
      afd, base,
      AFD_POLL_RECEIVE | AFD_POLL_DISCONNECT | AFD_POLL_ABORT | AFD_POLL_LOCAL_CLOSE, r);
  if (r->pending)
    outstanding++;
  return st;
}

/* Dequeues completions until none is outstanding or `timeout_ms` passes with
 * nothing arriving; frees each record. Returns the number still outstanding. */
static long long reap(HANDLE port, DWORD timeout_ms) {
  static completion_entry e[256];
  while (outstanding > 0) {
    int i, n = port_wait(port, e, 256, timeout_ms);
    if (n <= 0)
      break;
    for (i = 0; i < n; i++) {
      poll_record *r = (poll_record *)e[i].apc_context;
      nt_status st = e[i].iosb.u.status;
      block_mismatch += r->iosb.u.status != st;
      if (st == ST_CANCELLED)
        cancelled_seen++;
      else if (st == ST_SUCCESS && (r->info.handles[0].events & AFD_POLL_LOCAL_CLOSE))
        local_close_seen++;
      else
        other_seen++;
      r->pending = 0;
      outstanding--;
      record_free(r);
    }
  }
  return outstanding;
}

typedef struct conn {
  SOCKET client, server, base;
  poll_record *rec;
} conn;

static void note_handle(SOCKET s) {
  if (s != INVALID_SOCKET && (ULONG_PTR)s > handle_high_water)
    handle_high_water = (ULONG_PTR)s;
}

/* Connects one client to `lst` and accepts it; finds the server's base socket. */
static int conn_open(conn *c, SOCKET lst, const struct sockaddr_in *addr) {
  const char *how;
  c->client = c->server = INVALID_SOCKET;
  c->rec = NULL;
  if (connect_loopback(&c->client, addr))
    return -1;
  c->server = accept(lst, NULL, NULL);
  note_handle(c->client);
  note_handle(c->server);
  if (c->server == INVALID_SOCKET)
    return -1;
  c->base = base_socket(c->server, &how);
  return c->base == INVALID_SOCKET ? -1 : 0;
}

static void conn_close(conn *c) {
  if (c->server != INVALID_SOCKET)
    closesocket(c->server);
  if (c->client != INVALID_SOCKET)
    closesocket(c->client);
  c->server = c->client = INVALID_SOCKET;
}

/* Opens `n` connections, each with a poll pending on helper `afd[i / group]`. */
static int open_polled(conn *cs, int n, SOCKET lst, const struct sockaddr_in *addr,
                       HANDLE *afd, int group) {
  int i;
  for (i = 0; i < n; i++) {
    if (conn_open(&cs[i], lst, addr))
      return i;
    cs[i].rec = record_new();
    if (!cs[i].rec)
      return i;
    submit(afd[i / group], cs[i].base, cs[i].rec);
    if (!cs[i].rec->pending) {
      record_free(cs[i].rec);
      cs[i].rec = NULL;
      return i;
    }
  }
  return n;
}

/* ------------------------------------------------------------------------ */
/* The socket census: an exact count of live sockets                         */

/* Counts the live sockets among the handle values 4, 8, ... `top` (handle
 * values are multiples of 4), leaving out the `n_known` values in `known`:
 * the sockets and \Device\Afd helpers the stage keeps open on purpose.
 * getsockopt(SO_TYPE) succeeds on a socket and fails with WSAENOTSOCK on any
 * other value, closed or not a socket, so the count is exact; it needs
 * nothing GetProcessHandleCount gives (that returns 0 under Wine). */
static int is_known(ULONG_PTR v, const ULONG_PTR *known, int n_known) {
  int k;
  for (k = 0; k < n_known; k++)
    if (known[k] == v)
      return 1;
  return 0;
}

static long socket_census(ULONG_PTR top, const ULONG_PTR *known, int n_known) {
  ULONG_PTR v;
  long live = 0;
  for (v = 4; v <= top; v += 4) {
    int type = 0, len = (int)sizeof type;
    if (getsockopt((SOCKET)v, SOL_SOCKET, SO_TYPE, (char *)&type, &len) == 0 &&
        !is_known(v, known, n_known))
      live++;
  }
  return live;
}

/* The highest value the census probes: past every handle value the stage has
 * seen, with a margin for sockets opened by anything else in the process. */
static ULONG_PTR census_top(const ULONG_PTR *known, int n_known) {
  ULONG_PTR top = handle_high_water;
  int k;
  for (k = 0; k < n_known; k++)
    if (known[k] > top)
      top = known[k];
  return top + PROBE_MARGIN;
}

/* ------------------------------------------------------------------------ */
/* Process figures                                                           */

typedef struct proc_figures {
  DWORD handles;       /* GetProcessHandleCount; 0 where not implemented */
  SIZE_T working_set;  /* bytes */
  SIZE_T private_use;  /* bytes, PROCESS_MEMORY_COUNTERS_EX.PrivateUsage; 0 under Wine */
  SIZE_T private_walk; /* bytes of committed private memory, summed with VirtualQuery */
} proc_figures;

/* Sums the committed private regions of the address space. This is what
 * "private bytes" means, computed without relying on PrivateUsage, which Wine
 * leaves at 0. */
static SIZE_T private_committed(void) {
  MEMORY_BASIC_INFORMATION mbi;
  SYSTEM_INFO si;
  char *p;
  SIZE_T total = 0;
  GetSystemInfo(&si);
  p = (char *)si.lpMinimumApplicationAddress;
  while (p < (char *)si.lpMaximumApplicationAddress &&
         VirtualQuery(p, &mbi, sizeof mbi) == sizeof mbi) {
    if (mbi.State == MEM_COMMIT && mbi.Type == MEM_PRIVATE)
      total += mbi.RegionSize;
    p = (char *)mbi.BaseAddress + mbi.RegionSize;
  }
  return total;
}

static proc_figures proc_now(void) {
  proc_figures f;
  PROCESS_MEMORY_COUNTERS_EX pmc;
  memset(&f, 0, sizeof f);
  if (!GetProcessHandleCount(GetCurrentProcess(), &f.handles))
    f.handles = 0;
  memset(&pmc, 0, sizeof pmc);
  pmc.cb = sizeof pmc;
  if (GetProcessMemoryInfo(GetCurrentProcess(), (PROCESS_MEMORY_COUNTERS *)&pmc,
                           sizeof pmc)) {
    f.working_set = pmc.WorkingSetSize;
    f.private_use = pmc.PrivateUsage;
  }
  f.private_walk = private_committed();
  return f;
}

/* ------------------------------------------------------------------------ */
/* Phase 1: the cycles                                                       */

static void check_cycles(HANDLE port, SOCKET lst, const struct sockaddr_in *addr) {
  int helpers = (concurrent + CYCLE_GROUP - 1) / CYCLE_GROUP, i, done = 0, batch = 0;
  int open_failures = 0, leaked = 0, max_open = 0;
  long long stuck = 0;
  HANDLE *afd = (HANDLE *)calloc((size_t)helpers, sizeof *afd);
  conn *cs = (conn *)calloc((size_t)concurrent, sizeof *cs);
  /* What the census leaves out: the listening socket and the helpers. */
  ULONG_PTR *known = (ULONG_PTR *)calloc((size_t)helpers + 1, sizeof *known);
  long sockets_start = 0, sockets_base = 0, sockets_end = 0;
  double census_us = 0, census_in_loop_us = 0, census_t0;
  int mismatch_start = block_mismatch;
  proc_figures base_f, end_f;
  ULONG_PTR hw_base = 0;
  double t0, secs, per_cancel_us = 0;
  long long cancels = 0, ex_ok = 0, ex_not_found = 0, ex_other = 0;

  memset(&base_f, 0, sizeof base_f);
  if (!afd || !cs || !known) {
    add_check("cycles", 0, 0, "cycles/s", "out of memory");
    goto out;
  }
  for (i = 0; i < helpers; i++)
    if (!(afd[i] = afd_open(port))) {
      add_check("cycles", 0, 0, "cycles/s", "opening \\Device\\Afd failed");
      goto out;
    }
  known[0] = (ULONG_PTR)lst;
  for (i = 0; i < helpers; i++)
    known[i + 1] = (ULONG_PTR)afd[i];
  census_t0 = now_us();
  sockets_start = socket_census(census_top(known, helpers + 1), known, helpers + 1);
  census_us += now_us() - census_t0;
  t0 = now_us();
  while (done < cycles) {
    int n = cycles - done < concurrent ? cycles - done : concurrent, opened;
    opened = open_polled(cs, n, lst, addr, afd, CYCLE_GROUP);
    if (opened < n)
      open_failures++;
    if (opened > max_open)
      max_open = opened;
    /* Every connection now has a poll pending. Half are cancelled and then
     * closed; the other half are closed with the poll still pending. */
    for (i = 0; i < opened; i++) {
      int cycle = done + i;
      if (cs[i].rec && cycle % 2 == 0) {
        io_status cancel_iosb; /* the cancel's own result, never the poll's block */
        double c0 = now_us();
        nt_status st = p_cancel_ex(afd[i / CYCLE_GROUP], &cs[i].rec->iosb, &cancel_iosb);
        per_cancel_us += now_us() - c0;
        cancels++;
        if (st == ST_SUCCESS)
          ex_ok++;
        else if (st == ST_NOT_FOUND)
          ex_not_found++;
        else
          ex_other++;
      }
      if (leak_every && cycle % leak_every == leak_every - 1) {
        cs[i].client = INVALID_SOCKET; /* --leak-every: never closed */
        leaked++;
      }
      conn_close(&cs[i]);
    }
    if (opened < n) /* the connection that failed half-way */
      conn_close(&cs[opened]);
    stuck = reap(port, 5000);
    done += n;
    if (stuck || opened < n)
      break;
    if (++batch == 1) {
      /* The first batch warms Winsock and the allocator up; the leak verdict
       * compares the end against this point. */
      base_f = proc_now();
      hw_base = handle_high_water;
      census_t0 = now_us();
      sockets_base = socket_census(census_top(known, helpers + 1), known, helpers + 1);
      census_in_loop_us = now_us() - census_t0; /* not part of the cycle rate */
    }
  }
  secs = (now_us() - t0 - census_in_loop_us) / 1e6;
  end_f = proc_now();
  census_t0 = now_us();
  sockets_end = socket_census(census_top(known, helpers + 1), known, helpers + 1);
  census_us += census_in_loop_us + now_us() - census_t0;

  add_check("cycles",
            done == cycles && !open_failures && !stuck && other_seen == 0 &&
                block_mismatch == mismatch_start,
            secs > 0 ? done / secs : 0, "cycles/s",
            "%d of %d connect/accept/poll/close cycles in %.1f s; completions: %d "
            "cancelled, %d LOCAL_CLOSE, %d other; %lld still pending; %d poll blocks "
            "not holding their packet's status",
            done, cycles, secs, cancelled_seen, local_close_seen, other_seen, stuck,
            block_mismatch - mismatch_start);
  add_check("concurrent_open", max_open >= concurrent || max_open >= cycles, max_open,
            "connections",
            "connections open at once, each with an AFD poll pending (want %d)",
            concurrent < cycles ? concurrent : cycles);
  add_check(
      "cancel_ex_in_cycles", ex_other == 0 && ex_ok > 0,
      cancels ? per_cancel_us / (double)cancels : 0, "us/cancel",
      "NtCancelIoFileEx on %lld pending polls: %lld SUCCESS, %lld NOT_FOUND, %lld other",
      cancels, ex_ok, ex_not_found, ex_other);
  add_check("records_reclaimed", created == reclaimed && outstanding == 0 && stuck == 0,
            (double)reclaimed, "records",
            "%lld records created, %lld reclaimed after their completion, %lld outstanding",
            created, reclaimed, outstanding);
  {
    long long grow_hw = (long long)handle_high_water - (long long)hw_base;
    long long grow_h = (long long)end_f.handles - (long long)base_f.handles;
    int counted = base_f.handles != 0 && end_f.handles != 0;
    char counted_text[96];
    if (counted)
      snprintf(counted_text, sizeof counted_text, "grew from %lu to %lu (bound: +16)",
               (unsigned long)base_f.handles, (unsigned long)end_f.handles);
    else
      snprintf(counted_text, sizeof counted_text, "returns 0 here%s: not used",
               running_under_wine() ? " (Wine)" : "");
    add_check(
        "handle_high_water",
        grow_hw <= HIGH_WATER_SLACK && (!counted || grow_h <= 16) && batch >= 1,
        (double)handle_high_water, "value",
        "socket handle values peaked at 0x%llx after the first batch and 0x%llx at the "
        "end (bound: +%d); GetProcessHandleCount %s",
        (unsigned long long)hw_base, (unsigned long long)handle_high_water,
        HIGH_WATER_SLACK, counted_text);
  }
  /* The exact verdict on sockets: every socket a cycle opened must be closed
   * again, in the first batch as in the others (a warm-up keeps no socket),
   * so the census must read the same before the cycles, after the first
   * batch and at the end. Bound 0: nothing legitimate remains. */
  add_check("live_sockets",
            batch >= 1 && sockets_base == sockets_start && sockets_end == sockets_base,
            (double)(sockets_end - sockets_start), "sockets",
            "live sockets (getsockopt SO_TYPE on every handle value up to the high-water "
            "mark + %d; the listening socket and %d helper handle(s) left out): %ld "
            "before the cycles, %ld after the first batch, %ld at the end; bound: +0 "
            "(census %.0f ms)",
            PROBE_MARGIN, helpers, sockets_start, sockets_base, sockets_end,
            census_us / 1000.0);
  {
    /* PrivateUsage where the system reports it, else the VirtualQuery sum. */
    int reported = base_f.private_use != 0 && end_f.private_use != 0;
    double b = (double)(reported ? base_f.private_use : base_f.private_walk) / 1024.0;
    double e = (double)(reported ? end_f.private_use : end_f.private_walk) / 1024.0;
    add_check(
        "memory_growth", batch >= 1 && e - b < MEMORY_BOUND_KB, e - b, "KiB",
        "private bytes (%s) %.0f -> %.0f KiB from the first batch to the end, bound < "
        "%d KiB; working set %.0f -> %.0f KiB",
        reported ? "PrivateUsage" : "VirtualQuery sum; PrivateUsage reads 0 here", b, e,
        MEMORY_BOUND_KB, (double)base_f.working_set / 1024.0,
        (double)end_f.working_set / 1024.0);
  }
  if (leak_every)
    add_check("leak_injected", 1, leaked, "sockets",
              "--leak-every %d: %d client sockets deliberately left open", leak_every,
              leaked);
out:
  if (afd)
    for (i = 0; i < helpers; i++)
      if (afd[i])
        CloseHandle(afd[i]);
  free(afd);
  free(cs);
  free(known);
}

/* ------------------------------------------------------------------------ */
/* Phase 2: NtCancelIoFileEx against NtCancelIoFile (Q1.2)                   */

static void check_cancel_compare(HANDLE port, SOCKET lst, const struct sockaddr_in *addr) {
  conn cs[COMPARE_POLLS];
  HANDLE afd = afd_open(port);
  int i, opened, ok = 1;
  int ex_ok = 0, ex_nf = 0, ex_other = 0, pl_ok = 0, pl_nf = 0, pl_other = 0;
  int done_nf = 0, done_other = 0, done_overwritten = 0, collateral = 0;
  double ex_us = 0, pl_us = 0;
  int c0, m0;

  memset(cs, 0, sizeof cs);
  if (!afd) {
    add_check("cancel_ex_targeted", 0, 0, "us/cancel", "opening \\Device\\Afd failed");
    return;
  }
  opened = open_polled(cs, COMPARE_POLLS, lst, addr, &afd, COMPARE_POLLS);
  ok = opened == COMPARE_POLLS;
  /* (a) NtCancelIoFileEx names the one request to cancel. */
  for (i = 0; ok && i < COMPARE_POLLS; i++) {
    io_status cancel_iosb;
    double t = now_us();
    nt_status st = p_cancel_ex(afd, &cs[i].rec->iosb, &cancel_iosb);
    ex_us += now_us() - t;
    ex_ok += st == ST_SUCCESS;
    ex_nf += st == ST_NOT_FOUND;
    ex_other += st != ST_SUCCESS && st != ST_NOT_FOUND;
  }
  c0 = cancelled_seen;
  m0 = block_mismatch;
  ok = ok && reap(port, 2000) == 0;
  add_check("cancel_ex_targeted",
            ok && ex_ok == COMPARE_POLLS && cancelled_seen - c0 == COMPARE_POLLS &&
                block_mismatch == m0,
            ex_us / COMPARE_POLLS, "us/cancel",
            "%d pending polls on one helper, one NtCancelIoFileEx each: %d SUCCESS, %d "
            "NOT_FOUND, %d other; %d completions with STATUS_CANCELLED, %d poll blocks "
            "not holding it",
            COMPARE_POLLS, ex_ok, ex_nf, ex_other, cancelled_seen - c0,
            block_mismatch - m0);

  /* (b) NtCancelIoFile cancels every request this thread issued on the handle. */
  for (i = 0; ok && i < COMPARE_POLLS; i++) {
    cs[i].rec = record_new();
    if (!cs[i].rec || (submit(afd, cs[i].base, cs[i].rec), !cs[i].rec->pending))
      ok = 0;
  }
  for (i = 0; ok && i < COMPARE_POLLS; i++) {
    io_status iosb;
    double t = now_us();
    nt_status st = p_cancel(afd, &iosb);
    pl_us += now_us() - t;
    pl_ok += st == ST_SUCCESS;
    pl_nf += st == ST_NOT_FOUND;
    pl_other += st != ST_SUCCESS && st != ST_NOT_FOUND;
    if (i == 0) { /* how many polls did that ONE call cancel? */
      int before = cancelled_seen;
      Sleep(50);
      reap(port, 200);
      collateral = cancelled_seen - before;
    }
  }
  ok = ok && reap(port, 2000) == 0;
  add_check(
      "cancel_plain_untargeted", ok && pl_other == 0, pl_us / COMPARE_POLLS, "us/cancel",
      "%d pending polls on one helper: the FIRST NtCancelIoFile cancelled %d of them; "
      "%d calls returned %d SUCCESS, %d NOT_FOUND, %d other",
      COMPARE_POLLS, collateral, COMPARE_POLLS, pl_ok, pl_nf, pl_other);

  /* (c) NtCancelIoFileEx on a poll that already completed. */
  for (i = 0; ok && i < COMPARE_POLLS; i++) {
    cs[i].rec = record_new();
    if (!cs[i].rec || (submit(afd, cs[i].base, cs[i].rec), !cs[i].rec->pending))
      ok = 0;
    else
      send(cs[i].client, "x", 1, 0); /* RECEIVE completes the poll */
  }
  {
    /* Keep the records until the cancels ran: reap() would free them. */
    static completion_entry e[COMPARE_POLLS];
    int got = 0;
    while (ok && got < COMPARE_POLLS) {
      int n = port_wait(port, e + got, (ULONG)(COMPARE_POLLS - got), 2000);
      if (n <= 0)
        break;
      got += n;
    }
    for (i = 0; ok && i < got; i++) {
      poll_record *r = (poll_record *)e[i].apc_context;
      io_status cancel_iosb;
      nt_status st = p_cancel_ex(afd, &r->iosb, &cancel_iosb);
      done_nf += st == ST_NOT_FOUND;
      done_other += st != ST_NOT_FOUND;
      /* The poll's block must still hold the poll's own final status. */
      done_overwritten += r->iosb.u.status != e[i].iosb.u.status;
    }
    for (i = 0; i < got; i++) {
      ((poll_record *)e[i].apc_context)->pending = 0;
      outstanding--;
      record_free((poll_record *)e[i].apc_context);
    }
    add_check("cancel_after_completion",
              ok && got == COMPARE_POLLS && done_nf == COMPARE_POLLS &&
                  done_overwritten == 0,
              done_nf, "NOT_FOUND",
              "NtCancelIoFileEx on %d polls whose completion was already dequeued: %d "
              "NOT_FOUND, %d other; %d poll blocks changed by the cancel (the race the "
              "seeds saw; harmless when the record lives on until its completion)",
              got, done_nf, done_other, done_overwritten);
  }
  for (i = 0; i < opened; i++)
    conn_close(&cs[i]);
  CloseHandle(afd);
}

/* ------------------------------------------------------------------------ */
/* Phase 3: cancel cost against the number of polls sharing one AFD handle   */

static void check_cancel_cost(HANDLE port, SOCKET lst, const struct sockaddr_in *addr) {
  static const int sizes[] = {32, 128, 512, 1024};
  static const char *const names[] = {"cancel_cost_32", "cancel_cost_128",
                                      "cancel_cost_512", "cancel_cost_1024"};
  const int max = 1024;
  conn *cs = (conn *)calloc((size_t)max, sizeof *cs);
  int k, i, opened = 0;
  if (!cs)
    return;
  for (i = 0; i < max; i++)
    if (conn_open(&cs[i], lst, addr))
      break;
  opened = i;
  for (k = 0; k < 4; k++) {
    int g = sizes[k], ok = opened >= g, submitted = 0;
    HANDLE afd = ok ? afd_open(port) : NULL;
    double us = 0;
    for (i = 0; afd && i < g; i++) {
      cs[i].rec = record_new();
      if (!cs[i].rec)
        break;
      submit(afd, cs[i].base, cs[i].rec);
      if (!cs[i].rec->pending) {
        record_free(cs[i].rec);
        break;
      }
      submitted++;
    }
    ok = ok && afd && submitted == g;
    /* Cancel from the last submitted to the first: the worst order for a list
     * searched from its head. */
    for (i = submitted - 1; i >= 0; i--) {
      io_status cancel_iosb;
      double t = now_us();
      p_cancel_ex(afd, &cs[i].rec->iosb, &cancel_iosb);
      us += now_us() - t;
    }
    ok = reap(port, 2000) == 0 && ok;
    add_check(names[k], ok, submitted ? us / submitted : 0, "us/cancel",
              "%d polls pending on one \\Device\\Afd handle, each cancelled with "
              "NtCancelIoFileEx (newest first)",
              g);
    if (afd)
      CloseHandle(afd);
  }
  for (i = 0; i < opened; i++)
    conn_close(&cs[i]);
  free(cs);
}

/* ------------------------------------------------------------------------ */

static void usage(void) {
  printf("usage: %s [--json] [--cycles N] [--concurrent N] [--leak-every N]\n"
         "Feasibility gate 3: stress, cancellation and leak check of AFD polls.\n"
         "--cycles N      connect/accept/poll/close cycles (default %d)\n"
         "--concurrent N  connections open at once (default %d)\n"
         "--leak-every N  deliberately leak a socket every N cycles (the run must fail)\n"
         "Exit status: 0 all checks passed, 1 a check failed, 2 cannot run here.\n",
         STAGE_NAME, DEFAULT_CYCLES, DEFAULT_CONCURRENT);
}

static int int_arg(const char *s, int *out) {
  char *end;
  long v = strtol(s, &end, 10);
  if (*end || v <= 0 || v > 10000000)
    return -1;
  *out = (int)v;
  return 0;
}

int main(int argc, char **argv) {
  struct sockaddr_in addr;
  char why[200];
  WSADATA wsa;
  HANDLE port = NULL;
  SOCKET lst = INVALID_SOCKET;
  int i, rc;

  for (i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--json") == 0) {
      json_mode = 1;
    } else if (strcmp(argv[i], "--cycles") == 0 && i + 1 < argc) {
      if (int_arg(argv[++i], &cycles))
        return (fprintf(stderr, "%s: bad --cycles\n", STAGE_NAME), 2);
    } else if (strcmp(argv[i], "--concurrent") == 0 && i + 1 < argc) {
      if (int_arg(argv[++i], &concurrent) || concurrent > 5000)
        return (fprintf(stderr, "%s: --concurrent takes 1..5000\n", STAGE_NAME), 2);
    } else if (strcmp(argv[i], "--leak-every") == 0 && i + 1 < argc) {
      if (int_arg(argv[++i], &leak_every))
        return (fprintf(stderr, "%s: bad --leak-every\n", STAGE_NAME), 2);
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
  lst = listen_loopback(&addr, SOMAXCONN);
  if (!port || lst == INVALID_SOCKET) {
    snprintf(why, sizeof why, "%s",
             !port ? "NtCreateIoCompletion failed" : "could not listen on 127.0.0.1");
    rc = finish(why);
    goto out;
  }
  CloseHandle(CreateThread(NULL, 0, watchdog_main, NULL, 0, NULL));

  check_cycles(port, lst, &addr);
  check_cancel_compare(port, lst, &addr);
  check_cancel_cost(port, lst, &addr);
  rc = finish(NULL);
out:
  if (lst != INVALID_SOCKET)
    closesocket(lst);
  if (port)
    CloseHandle(port);
  WSACleanup();
  return rc;
}
