/*
 * A block pool of fixed-size records.
 *
 * Records are carved from blocks of ROI__POOL_PER_BLOCK slots; a record never
 * moves while it is allocated (the afd backend hands its address to the
 * kernel), and a block is freed as soon as its last record is. The pool owns
 * its blocks; whoever calls roi__pool_alloc() owns that record until
 * roi__pool_free().
 */
#ifndef ROI_SRC_POOL_H
#define ROI_SRC_POOL_H

#include <stddef.h>

/* About 128 records per block, as docs/design.md section 3 asks. */
#define ROI__POOL_PER_BLOCK 128

typedef struct roi__pool_block roi__pool_block;

typedef struct roi__pool {
  size_t slot_size;         /* record size rounded up, plus the slot header */
  roi__pool_block *partial; /* blocks with at least one free slot */
  size_t records;           /* records allocated */
  size_t blocks;            /* blocks allocated */
} roi__pool;

/* Prepares an empty pool for records of record_size bytes (no allocation). */
void roi__pool_init(roi__pool *pool, size_t record_size);

/* Returns a zeroed record aligned to 16 bytes, or NULL when out of memory. */
void *roi__pool_alloc(roi__pool *pool);

/* Gives a record back; frees its block when the block becomes empty. */
void roi__pool_free(roi__pool *pool, void *record);

#endif /* ROI_SRC_POOL_H */
