// Private to src/cluster: the byte transfers over MPI_COMM_WORLD (no-ops with one rank).
#ifndef SEIZE_CLUSTER_INT_H
#define SEIZE_CLUSTER_INT_H

#include <stddef.h>
#include <stdint.h>

/* Every rank waits for all. */
void cl_barrier(void);
/* Rank 0's len bytes of buf to every rank (buf allocated by every rank). */
void cl_bcast(void *buf, size_t len);
/* cl_bcast of a small buffer by a rank that may wait long (it sleeps 2 ms between tests). */
void cl_bcast_idle(void *buf, size_t len);
/* Rank 0's *len bytes at *buf to every rank: the others get *buf (malloc) and *len. Collective
 * status (seize_cluster_agree). */
int cl_bcast_alloc(void **buf, size_t *len);
/* Every rank's len bytes to rank 0: (*bufs)[r], (*lens)[r] for every rank r there (NULL on the
 * others). Collective status. Free with cl_gather_free. */
int cl_gather(const void *buf, size_t len, void ***bufs, size_t **lens);
void cl_gather_free(void **bufs, size_t *lens);

#endif
