/*
 * A hash map from socket value to the backend's per-socket record.
 *
 * Intrusive: the record embeds a roi__sockmap_node, so the map allocates only
 * its bucket array, and lookup, insert and remove are O(1) on average. The map
 * never owns the records it links.
 */
#ifndef ROI_SRC_SOCKMAP_H
#define ROI_SRC_SOCKMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct roi__sockmap_node {
  uint64_t key; /* the socket value, widened */
  struct roi__sockmap_node *next;
} roi__sockmap_node;

typedef struct roi__sockmap {
  roi__sockmap_node **buckets;
  size_t nbuckets; /* 0 or a power of two */
  size_t count;
} roi__sockmap;

/* Prepares an empty map (no allocation). */
void roi__sockmap_init(roi__sockmap *m);

/* Frees the bucket array; the records are the caller's. */
void roi__sockmap_free(roi__sockmap *m);

/* The node with this key, or NULL. */
roi__sockmap_node *roi__sockmap_find(const roi__sockmap *m, uint64_t key);

/* Links node (its key already set, not present yet). Returns 0 or ROI_ENOMEM,
 * in which case the map is unchanged. */
int roi__sockmap_insert(roi__sockmap *m, roi__sockmap_node *node);

/* Unlinks node, which must be in the map. */
void roi__sockmap_remove(roi__sockmap *m, roi__sockmap_node *node);

/* Calls fn on every node; fn may remove the node it is given. */
void roi__sockmap_each(roi__sockmap *m, void (*fn)(roi__sockmap_node *node, void *arg),
                       void *arg);

/* Recovers the record that embeds a node. */
#define ROI__CONTAINER_OF(ptr, type, member)                                               \
  ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#endif /* ROI_SRC_SOCKMAP_H */
