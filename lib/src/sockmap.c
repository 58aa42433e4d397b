/*
 * The socket map: separate chaining through the records' own nodes. The table
 * doubles when the load passes one node per bucket and never shrinks below
 * its high-water size until it is freed, so a wait never pays for a rehash.
 */
#include "sockmap.h"

#include <assert.h>
#include <stdlib.h>

#include "roi/error.h"

#define ROI__SOCKMAP_MIN 64

/* Socket values are small integers (fds) or multiples of 4 (Windows handles):
 * mix the bits so neighbouring values spread over the buckets. */
static size_t hash_key(uint64_t key, size_t nbuckets) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdULL;
  key ^= key >> 33;
  return (size_t)key & (nbuckets - 1);
}

void roi__sockmap_init(roi__sockmap *m) {
  m->buckets = NULL;
  m->nbuckets = 0;
  m->count = 0;
}

void roi__sockmap_free(roi__sockmap *m) {
  free(m->buckets);
  roi__sockmap_init(m);
}

roi__sockmap_node *roi__sockmap_find(const roi__sockmap *m, uint64_t key) {
  roi__sockmap_node *n;
  if (m->nbuckets == 0)
    return NULL;
  for (n = m->buckets[hash_key(key, m->nbuckets)]; n; n = n->next)
    if (n->key == key)
      return n;
  return NULL;
}

static int grow(roi__sockmap *m) {
  size_t size = m->nbuckets ? m->nbuckets * 2 : ROI__SOCKMAP_MIN;
  roi__sockmap_node **nb = calloc(size, sizeof *nb);
  size_t i;
  if (!nb)
    return ROI_ENOMEM;
  for (i = 0; i < m->nbuckets; i++) {
    roi__sockmap_node *n = m->buckets[i], *next;
    for (; n; n = next) {
      size_t h = hash_key(n->key, size);
      next = n->next;
      n->next = nb[h];
      nb[h] = n;
    }
  }
  free(m->buckets);
  m->buckets = nb;
  m->nbuckets = size;
  return 0;
}

int roi__sockmap_insert(roi__sockmap *m, roi__sockmap_node *node) {
  size_t h;
  assert(roi__sockmap_find(m, node->key) == NULL);
  if (m->count + 1 > m->nbuckets) {
    int err = grow(m);
    if (err && m->nbuckets == 0)
      return err;
    /* A failed grow with a table in place only makes chains longer. */
  }
  h = hash_key(node->key, m->nbuckets);
  node->next = m->buckets[h];
  m->buckets[h] = node;
  m->count++;
  return 0;
}

void roi__sockmap_remove(roi__sockmap *m, roi__sockmap_node *node) {
  roi__sockmap_node **pp;
  assert(m->nbuckets > 0);
  for (pp = &m->buckets[hash_key(node->key, m->nbuckets)]; *pp; pp = &(*pp)->next) {
    if (*pp == node) {
      *pp = node->next;
      node->next = NULL;
      m->count--;
      return;
    }
  }
  assert(!"node not in the map");
}

void roi__sockmap_each(roi__sockmap *m, void (*fn)(roi__sockmap_node *node, void *arg),
                       void *arg) {
  size_t i;
  for (i = 0; i < m->nbuckets; i++) {
    roi__sockmap_node *n = m->buckets[i], *next;
    for (; n; n = next) {
      next = n->next;
      fn(n, arg);
    }
  }
}
