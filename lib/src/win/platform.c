/*
 * platform.h for Windows: SRW locks, Win32 threads, QueryPerformanceCounter.
 */
#define WIN32_LEAN_AND_MEAN
#include <windows.h>

#include <stdlib.h>

#include "platform.h"
#include "roi/error.h"

struct roi__mutex {
  SRWLOCK lock;
};

roi__mutex *roi__mutex_new(void) {
  roi__mutex *m = malloc(sizeof *m);
  if (m)
    InitializeSRWLock(&m->lock);
  return m;
}

void roi__mutex_free(roi__mutex *m) {
  free(m);
}

void roi__mutex_lock(roi__mutex *m) {
  AcquireSRWLockExclusive(&m->lock);
}

void roi__mutex_unlock(roi__mutex *m) {
  ReleaseSRWLockExclusive(&m->lock);
}

struct roi__cond {
  CONDITION_VARIABLE cv;
};

roi__cond *roi__cond_new(void) {
  roi__cond *c = malloc(sizeof *c);
  if (c)
    InitializeConditionVariable(&c->cv);
  return c;
}

void roi__cond_free(roi__cond *c) {
  free(c);
}

void roi__cond_broadcast(roi__cond *c) {
  WakeAllConditionVariable(&c->cv);
}

int roi__cond_wait(roi__cond *c, roi__mutex *m, int timeout_ms) {
  DWORD ms = timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms;
  if (SleepConditionVariableSRW(&c->cv, &m->lock, ms, 0))
    return 0;
  return GetLastError() == ERROR_TIMEOUT ? ROI_ETIMEDOUT : 0;
}

struct roi__thread {
  HANDLE handle;
  void (*fn)(void *arg);
  void *arg;
};

static DWORD WINAPI thread_main(void *arg) {
  roi__thread *t = arg;
  t->fn(t->arg);
  return 0;
}

int roi__thread_create(roi__thread **out, void (*fn)(void *arg), void *arg) {
  roi__thread *t = malloc(sizeof *t);
  if (!t)
    return ROI_ENOMEM;
  t->fn = fn;
  t->arg = arg;
  t->handle = CreateThread(NULL, 0, thread_main, t, 0, NULL);
  if (!t->handle) {
    int err = roi_err_from_win32(GetLastError());
    free(t);
    return err;
  }
  *out = t;
  return 0;
}

void roi__thread_join(roi__thread *t) {
  WaitForSingleObject(t->handle, INFINITE);
  CloseHandle(t->handle);
  free(t);
}

uint64_t roi__now_ns(void) {
  static LARGE_INTEGER freq;
  LARGE_INTEGER now;
  if (freq.QuadPart == 0)
    QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&now);
  /* Split the conversion so the multiplication cannot overflow. */
  return (uint64_t)(now.QuadPart / freq.QuadPart) * 1000000000u +
         (uint64_t)(now.QuadPart % freq.QuadPart) * 1000000000u / (uint64_t)freq.QuadPart;
}

uint64_t roi__now_ms(void) {
  return roi__now_ns() / 1000000u;
}

void roi__sleep_ms(unsigned ms) {
  Sleep(ms);
}

void roi__yield(void) {
  (void)SwitchToThread();
}

int roi__under_wine(void) {
  /* Wine's ntdll exports wine_get_version; Windows' does not. */
  HMODULE ntdll = GetModuleHandleA("ntdll.dll");
  return ntdll && GetProcAddress(ntdll, "wine_get_version") != NULL;
}
