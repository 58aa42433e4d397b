/* See bench_util.h. */
#include "bench_util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#include <psapi.h>
#else
#include <unistd.h>
#endif

#include "platform.h"

int bu_parse_int(const char *text, long lo, long hi, int *out) {
  char *end;
  long v = strtol(text, &end, 10);
  if (end == text || *end || v < lo || v > hi)
    return -1;
  *out = (int)v;
  return 0;
}

int bu_parse_seconds(const char *text, double lo, double *out) {
  char *end;
  double v = strtod(text, &end);
  if (end == text || *end || !(v >= lo) || v > 3600.0)
    return -1;
  *out = v;
  return 0;
}

/* 1 when name is one of the space-separated words of list. */
static int listed(const char *list, const char *name) {
  size_t n = strlen(name);
  while (*list) {
    size_t w = strcspn(list, " ");
    if (w == n && strncmp(list, name, n) == 0)
      return 1;
    list += w;
    list += strspn(list, " ");
  }
  return 0;
}

int bu_parse(int argc, char **argv, bu_args *a, int max_conns, int max_size) {
  int i;
  a->backend = NULL;
  if (a->conns == 0)
    a->conns = 1;
  if (a->size == 0)
    a->size = 64;
  a->seconds = 1.0;
  a->warmup = 0.2;
  for (i = 1; i < argc; i++) {
    const char *k = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int bad = 0;
    if (strcmp(k, "-h") == 0 || strcmp(k, "--help") == 0) {
      printf("usage: %s [--figure NAME] [--impl NAME] [--backend NAME] [--conns N]\n"
             "       [--size BYTES] [--seconds S] [--warmup S]\n"
             "The figures and their options are described at the top of the source.\n",
             a->prog);
      return 1;
    }
    if (!v) {
      fprintf(stderr, "%s: unknown argument or missing value: %s\n", a->prog, k);
      return 2;
    }
    if (strcmp(k, "--figure") == 0)
      a->figure = v;
    else if (strcmp(k, "--impl") == 0)
      a->impl = v;
    else if (strcmp(k, "--backend") == 0)
      a->backend = v;
    else if (strcmp(k, "--conns") == 0)
      bad = bu_parse_int(v, 1, max_conns, &a->conns);
    else if (strcmp(k, "--size") == 0)
      bad = bu_parse_int(v, 1, max_size, &a->size);
    else if (strcmp(k, "--seconds") == 0)
      bad = bu_parse_seconds(v, 0.01, &a->seconds);
    else if (strcmp(k, "--warmup") == 0)
      bad = bu_parse_seconds(v, 0.0, &a->warmup);
    else {
      fprintf(stderr, "%s: unknown argument: %s (try --help)\n", a->prog, k);
      return 2;
    }
    if (bad) {
      fprintf(stderr, "%s: bad value for %s: %s\n", a->prog, k, v);
      return 2;
    }
    i++;
  }
  if (!listed(a->figures, a->figure)) {
    fprintf(stderr, "%s: unknown --figure %s (%s)\n", a->prog, a->figure, a->figures);
    return 2;
  }
  if (!listed(a->impls, a->impl)) {
    fprintf(stderr, "%s: unknown --impl %s (%s)\n", a->prog, a->impl, a->impls);
    return 2;
  }
  return 0;
}

double bu_now(void) {
  return (double)roi__now_ns() / 1e9;
}

void bu_meter_start(bu_meter *m) {
  memset(m, 0, sizeof *m);
  m->start = m->last = bu_now();
}

int bu_meter_add(bu_meter *m, const bu_args *a, double n) {
  double now = bu_now();
  m->last = now;
  if (!m->measuring) {
    if (now - m->start >= a->warmup) {
      m->measuring = 1;
      m->t0 = now;
    }
    return 0;
  }
  m->count += n;
  m->elapsed = now - m->t0;
  return m->elapsed >= a->seconds;
}

int bu_meter_step(bu_meter *m, const bu_args *a) {
  if (++m->steps < BU_STEP)
    return 0;
  m->steps = 0;
  return bu_meter_add(m, a, BU_STEP);
}

long long bu_rss_bytes(void) {
#ifdef _WIN32
  PROCESS_MEMORY_COUNTERS pmc;
  /* K32GetProcessMemoryInfo lives in kernel32 from Windows 7 on, so no
   * psapi import library is needed. */
  if (!K32GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc))
    return -1;
  return (long long)pmc.WorkingSetSize;
#else
  /* The second field of /proc/self/statm is the resident set in pages. */
  long long size, resident;
  FILE *f = fopen("/proc/self/statm", "r");
  int n;
  if (!f)
    return -1;
  n = fscanf(f, "%lld %lld", &size, &resident);
  fclose(f);
  if (n != 2)
    return -1;
  return resident * (long long)sysconf(_SC_PAGESIZE);
#endif
}

void bu_result(const bu_args *a, double count, double seconds, double value,
               const char *unit, const char *extra) {
  printf(
      "figure=%s impl=%s conns=%d size=%d seconds=%.3f count=%.0f value=%.1f unit=%s%s%s\n",
      a->figure, a->impl, a->conns, a->size, seconds, count, value, unit,
      extra && *extra ? " " : "", extra ? extra : "");
  fflush(stdout);
}

void bu_result_meter(const bu_args *a, const bu_meter *m, const char *unit) {
  double rate = m->count / m->elapsed;
  char extra[48] = "";
  if (strcmp(unit, "msg/s") == 0)
    snprintf(extra, sizeof extra, "mbytes_s=%.1f", rate * a->size / 1e6);
  else if (strcmp(unit, "B/s") == 0)
    snprintf(extra, sizeof extra, "mbytes_s=%.1f", rate / 1e6);
  else if (strcmp(unit, "rt/s") == 0)
    snprintf(extra, sizeof extra, "us_per_rt=%.2f", 1e6 / rate);
  bu_result(a, m->count, m->elapsed, rate, unit, extra);
}

int bu_fail(const bu_args *a, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", a->prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return 1;
}
