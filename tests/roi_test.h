/*
 * A small per-executable test runner.
 *
 * Each tests/test_*.c file defines its cases with ROI_TEST(name), lists them in
 * a ROI_TEST_LIST, and calls roi_test_main(). Every assertion that fails prints
 * the file, the line, the expression, and both values, then ends that case.
 * `test_x name` runs one case; no argument runs them all.
 *
 * Exit status: 0 all cases passed, 1 a case failed, 77 every case skipped
 * (meson reports 77 as SKIP). Cases may skip only where docs/design.md section 5
 * allows: a documented Wine difference, detected at run time.
 */
#ifndef ROI_TEST_H
#define ROI_TEST_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct roi_test_case {
  const char *name;
  void (*fn)(void);
} roi_test_case;

/* Outcome of the case that is running: 0 pass, 1 fail, 2 skip. */
static int roi_test__outcome;

#define ROI_TEST(name) static void name(void)
#define ROI_TEST_ENTRY(name)                                                               \
  { #name, name }

static void roi_test__report(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "  %s:%d: ", file, line);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  fflush(stderr);
  roi_test__outcome = 1;
}

/* Compares two integers (any integer type, widened to long long). */
#define ROI_ASSERT_CMP(a, op, b)                                                           \
  do {                                                                                     \
    long long roi_a_ = (long long)(a), roi_b_ = (long long)(b);                            \
    if (!(roi_a_ op roi_b_)) {                                                             \
      roi_test__report(__FILE__, __LINE__, "expected %s %s %s, got %lld %s %lld", #a, #op, \
                       #b, roi_a_, #op, roi_b_);                                           \
      return;                                                                              \
    }                                                                                      \
  } while (0)

#define ROI_ASSERT_EQ(a, b) ROI_ASSERT_CMP(a, ==, b)
#define ROI_ASSERT_NE(a, b) ROI_ASSERT_CMP(a, !=, b)
#define ROI_ASSERT_LT(a, b) ROI_ASSERT_CMP(a, <, b)
#define ROI_ASSERT_LE(a, b) ROI_ASSERT_CMP(a, <=, b)
#define ROI_ASSERT_GT(a, b) ROI_ASSERT_CMP(a, >, b)
#define ROI_ASSERT_GE(a, b) ROI_ASSERT_CMP(a, >=, b)

/* Compares two unsigned 64-bit values, printed in hex (tokens, bit patterns). */
#define ROI_ASSERT_EQ_HEX(a, b)                                                            \
  do {                                                                                     \
    unsigned long long roi_a_ = (unsigned long long)(a), roi_b_ = (unsigned long long)(b); \
    if (roi_a_ != roi_b_) {                                                                \
      roi_test__report(__FILE__, __LINE__, "expected %s == %s, got 0x%llx != 0x%llx", #a,  \
                       #b, roi_a_, roi_b_);                                                \
      return;                                                                              \
    }                                                                                      \
  } while (0)

/* Compares two strings; NULL prints as (null). */
#define ROI_ASSERT_STR_EQ(a, b)                                                            \
  do {                                                                                     \
    const char *roi_a_ = (a), *roi_b_ = (b);                                               \
    if (!roi_a_ || !roi_b_ || strcmp(roi_a_, roi_b_) != 0) {                               \
      roi_test__report(__FILE__, __LINE__, "expected %s == %s, got \"%s\" != \"%s\"", #a,  \
                       #b, roi_a_ ? roi_a_ : "(null)", roi_b_ ? roi_b_ : "(null)");        \
      return;                                                                              \
    }                                                                                      \
  } while (0)

#define ROI_ASSERT_TRUE(cond)                                                              \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      roi_test__report(__FILE__, __LINE__, "expected %s to be true", #cond);               \
      return;                                                                              \
    }                                                                                      \
  } while (0)

/* Ends the running case as skipped, printing why. */
#define ROI_TEST_SKIP(why)                                                                 \
  do {                                                                                     \
    fprintf(stderr, "  skipped: %s\n", (why));                                             \
    roi_test__outcome = 2;                                                                 \
    return;                                                                                \
  } while (0)

static int roi_test_main(int argc, char **argv, const roi_test_case *cases, int n) {
  int i, ran = 0, failed = 0, skipped = 0;
  const char *only = argc > 1 ? argv[1] : NULL;
  for (i = 0; i < n; i++) {
    if (only && strcmp(only, cases[i].name) != 0)
      continue;
    roi_test__outcome = 0;
    cases[i].fn();
    ran++;
    failed += roi_test__outcome == 1;
    skipped += roi_test__outcome == 2;
    printf("%s %d - %s\n",
           roi_test__outcome == 1   ? "not ok"
           : roi_test__outcome == 2 ? "skip"
                                    : "ok",
           ran, cases[i].name);
    fflush(stdout);
  }
  if (only && ran == 0) {
    fprintf(stderr, "no test case named '%s'\n", only);
    return 1;
  }
  printf("# %d cases: %d passed, %d failed, %d skipped\n", ran, ran - failed - skipped,
         failed, skipped);
  if (failed)
    return 1;
  return (ran > 0 && skipped == ran) ? 77 : 0;
}

#define ROI_TEST_MAIN(...)                                                                 \
  int main(int argc, char **argv) {                                                        \
    static const roi_test_case roi_cases_[] = {__VA_ARGS__};                               \
    return roi_test_main(argc, argv, roi_cases_,                                           \
                         (int)(sizeof roi_cases_ / sizeof roi_cases_[0]));                 \
  }

#endif /* ROI_TEST_H */
