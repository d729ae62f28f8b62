/*
 * Data-parallel training over Open MPI: the few collective operations facet-train needs, behind
 * one small interface so that MPI stays in dist.c and the trainer reads as before.
 *
 * facet_dist_init calls MPI_Init only when the process was started by mpirun (Open MPI sets
 * OMPI_COMM_WORLD_SIZE, PMIx sets PMIX_RANK); otherwise, and on an MPI of one process, it is a
 * job of one rank, every operation below is a no-op and nothing touches MPI. Every operation is
 * collective: all ranks call it, in the same order.
 */
#ifndef FACET_NN_DIST_H
#define FACET_NN_DIST_H

#include <signal.h>
#include <stddef.h>

/* Join the job when launched by mpirun. Returns the number of ranks (1 when not under MPI). */
int facet_dist_init(int *argc, char ***argv);
int facet_dist_rank(void);       /* 0 .. size-1 */
int facet_dist_size(void);       /* ranks in the job */
int facet_dist_local_size(void); /* ranks on this host (1 when not under MPI) */
/* buf[n] = its sum over the ranks, on every rank. */
void facet_dist_sum_float(float *buf, size_t n);
void facet_dist_sum_double(double *buf, size_t n);
/* buf[bytes] = root's, on every rank. */
void facet_dist_bcast(void *buf, size_t bytes, int root);
void facet_dist_barrier(void);
/* End every rank of the job with status (from one rank, on a fatal error). */
void facet_dist_abort(int status);
/* Leave the job (MPI_Finalize); a no-op when not under MPI. */
void facet_dist_finalize(void);
/* Nonzero while this rank is inside a collective operation: waiting for the others (read by
 * signal handlers). */
extern volatile sig_atomic_t facet_dist_waiting;

#endif
