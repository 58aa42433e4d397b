/*
 * The record pool: blocks of ROI__POOL_PER_BLOCK slots. Each slot starts with
 * a header naming its block, so that freeing a record finds its block without
 * a search; free slots of a block form a singly linked list through that
 * header. Blocks with a free slot are kept on a doubly linked list, so
 * allocation is O(1) and a block that empties can be unlinked and freed at
 * once.
 */
#include "pool.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Records are aligned to 16 bytes: enough for any kernel structure they hold
 * and for the tag bits the afd backend keeps in a record's address. */
#define ROI__POOL_ALIGN 16

typedef union roi__pool_slot {
  struct {
    roi__pool_block *block;
    union roi__pool_slot *next_free;
  } h;
  unsigned char pad[ROI__POOL_ALIGN];
} roi__pool_slot;

struct roi__pool_block {
  roi__pool_block *prev, *next; /* on pool->partial while it has a free slot */
  roi__pool_slot *free_list;
  unsigned used;
  unsigned on_partial;
};

static size_t round_up(size_t n, size_t to) {
  return (n + to - 1) / to * to;
}

void roi__pool_init(roi__pool *pool, size_t record_size) {
  memset(pool, 0, sizeof *pool);
  pool->slot_size = sizeof(roi__pool_slot) + round_up(record_size, ROI__POOL_ALIGN);
}

/* The slots start at the first 16-byte boundary after the block header,
 * computed from the address itself: malloc() guarantees only 8-byte alignment
 * on 32-bit Windows, and the afd backend keeps tag bits in the low 4. */
static unsigned char *block_slots(roi__pool_block *b) {
  uintptr_t a = (uintptr_t)(b + 1);
  return (unsigned char *)(a + ((ROI__POOL_ALIGN - a % ROI__POOL_ALIGN) % ROI__POOL_ALIGN));
}

static void partial_push(roi__pool *pool, roi__pool_block *b) {
  b->prev = NULL;
  b->next = pool->partial;
  if (pool->partial)
    pool->partial->prev = b;
  pool->partial = b;
  b->on_partial = 1;
}

static void partial_unlink(roi__pool *pool, roi__pool_block *b) {
  if (b->prev)
    b->prev->next = b->next;
  else
    pool->partial = b->next;
  if (b->next)
    b->next->prev = b->prev;
  b->prev = b->next = NULL;
  b->on_partial = 0;
}

static roi__pool_block *block_new(roi__pool *pool) {
  roi__pool_block *b =
      malloc(sizeof *b + ROI__POOL_ALIGN - 1 + pool->slot_size * ROI__POOL_PER_BLOCK);
  unsigned char *slots;
  int i;
  if (!b)
    return NULL;
  memset(b, 0, sizeof *b);
  slots = block_slots(b);
  /* Thread the free list so that the lowest slot is handed out first. */
  for (i = ROI__POOL_PER_BLOCK - 1; i >= 0; i--) {
    roi__pool_slot *s = (roi__pool_slot *)(void *)(slots + (size_t)i * pool->slot_size);
    s->h.block = b;
    s->h.next_free = b->free_list;
    b->free_list = s;
  }
  pool->blocks++;
  return b;
}

void *roi__pool_alloc(roi__pool *pool) {
  roi__pool_block *b = pool->partial;
  roi__pool_slot *s;
  if (!b) {
    b = block_new(pool);
    if (!b)
      return NULL;
    partial_push(pool, b);
  }
  s = b->free_list;
  assert(s != NULL);
  b->free_list = s->h.next_free;
  s->h.next_free = NULL;
  b->used++;
  if (!b->free_list)
    partial_unlink(pool, b);
  pool->records++;
  memset(s + 1, 0, pool->slot_size - sizeof *s);
  return s + 1;
}

void roi__pool_free(roi__pool *pool, void *record) {
  roi__pool_slot *s;
  roi__pool_block *b;
  if (!record)
    return;
  s = (roi__pool_slot *)record - 1;
  b = s->h.block;
  assert(b->used > 0);
  s->h.next_free = b->free_list;
  b->free_list = s;
  b->used--;
  pool->records--;
  if (b->used == 0) {
    if (b->on_partial)
      partial_unlink(pool, b);
    free(b);
    pool->blocks--;
  } else if (!b->on_partial) {
    partial_push(pool, b);
  }
}
