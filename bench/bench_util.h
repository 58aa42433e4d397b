/*
 * bench_util: what every benchmark program under bench/ shares, so that roi's
 * programs and the peers' (libuv, libevent, ZeroMQ, nng) read the same
 * command line and print the same result line, which scripts/bench parses.
 *
 * The command line (every program accepts every option and ignores those that
 * mean nothing to it, except that a --figure or --impl it does not have is
 * refused):
 *   --figure NAME   which measurement (pingpong, churn, memory, push, reqrep...)
 *   --impl NAME     which implementation (roi, a bare primitive, a peer)
 *   --backend NAME  roi poller backend (roi programs only)
 *   --conns N       connections (default 1)
 *   --size BYTES    message size (default 64)
 *   --seconds S     measured time (default 1)
 *   --warmup S      time before the measurement (default 0.2)
 *
 * The result: one line on stdout, key=value pairs separated by spaces,
 *   figure=F impl=I conns=N size=B seconds=S count=C value=V unit=U [extra...]
 * where value is the figure (count / seconds for a rate). Errors go to stderr
 * and the exit status is then 1 (2 for a bad command line). A program never
 * waits for anything without a time limit: a stall is reported and fails.
 *
 * It uses only the C library and, for the clock, roi's internal platform
 * layer, so it builds for Linux and for Windows.
 */
#ifndef ROI_BENCH_UTIL_H
#define ROI_BENCH_UTIL_H

typedef struct bu_args {
  const char *prog;    /* the program's name, for messages */
  const char *figures; /* the accepted --figure names, space-separated */
  const char *impls;   /* the accepted --impl names, space-separated */
  const char *figure;  /* the caller's default unless --figure says */
  const char *impl;    /* the caller's default unless --impl says */
  const char *backend; /* NULL: the default */
  int conns;
  int size;
  double seconds;
  double warmup;
} bu_args;

/* Parses the command line into *a. The caller sets prog, figures and impls
 * and the default figure and impl, and may set conns and size to defaults of
 * its own; the others start as
 * backend NULL, conns 1, size 64, seconds 1, warmup 0.2. max_conns and
 * max_size bound the values; a figure or implementation not in the lists is
 * refused. Returns 0 to run, 1 after --help (exit with 0), 2 for a bad
 * argument, with a message on stderr (exit with 2). */
int bu_parse(int argc, char **argv, bu_args *a, int max_conns, int max_size);

/* Parses a whole decimal integer within [lo, hi] into *out; 0 or -1. */
int bu_parse_int(const char *text, long lo, long hi, int *out);

/* Parses a number of seconds, at least lo and at most an hour; 0 or -1. */
int bu_parse_seconds(const char *text, double lo, double *out);

/* Seconds on a monotonic clock, from an arbitrary fixed point. */
double bu_now(void);

/* The phases of a measurement: --warmup seconds whose work is not counted,
 * then --seconds of counted work. */
typedef struct bu_meter {
  double start;   /* when the run began */
  double t0;      /* when the counting began */
  double last;    /* the latest progress, for a stall check */
  double count;   /* units counted since t0 */
  double elapsed; /* seconds counted so far */
  int measuring;
  unsigned steps; /* units since the last bu_meter_add(), see bu_meter_step() */
} bu_meter;

/* Starts the warm-up now. */
void bu_meter_start(bu_meter *m);

/* Records n units of work done since the last call (a caller may call it
 * every unit or every few units). Work done in the warm-up is dropped; the
 * first call after it starts the counting. Returns 1 once --seconds have
 * been counted: m->count and m->elapsed then hold the result. */
int bu_meter_add(bu_meter *m, const bu_args *a, double n);

/* Records one unit of work, reading the clock only every BU_STEP units:
 * every program that counts single messages uses it, so that none pays a
 * clock read per message and the others not. Returns as bu_meter_add(). */
#define BU_STEP 64
int bu_meter_step(bu_meter *m, const bu_args *a);

/* The process's resident memory in bytes, or -1 when it cannot be read. */
long long bu_rss_bytes(void);

/* Prints the result line. extra (may be NULL or "") is appended as it is,
 * after a space: more key=value pairs. */
void bu_result(const bu_args *a, double count, double seconds, double value,
               const char *unit, const char *extra);

/* Prints the result line of a finished meter: value = units per second,
 * with the extra figure that the unit calls for: mbytes_s for "msg/s" (of
 * --size bytes each) and "B/s", us_per_rt for "rt/s". */
void bu_result_meter(const bu_args *a, const bu_meter *m, const char *unit);

/* Prints "PROG: message" to stderr and returns 1, the exit status of a
 * failed run. printf-style. */
int bu_fail(const bu_args *a, const char *fmt, ...);

#endif
