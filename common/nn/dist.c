/*
 * The collective operations of dist.h over Open MPI. Only facet-train links this file (and so
 * MPI); everything here is a no-op when the job has one rank, so a run without mpirun, or
 * with mpirun -np 1, computes exactly what it always did.
 */
#include <limits.h>
#include <mpi.h>
#include <stdlib.h>
#include "facet.h"
#include "nn/dist.h"

volatile sig_atomic_t facet_dist_waiting;
static int dist_on, dist_rank, dist_size = 1, dist_local = 1;

/* A failed MPI call: MPI's own words, then the job ends (the other ranks cannot go on). */
static void check(int rc, const char *what)
{
	char msg[MPI_MAX_ERROR_STRING];
	int len = 0;
	if (rc == MPI_SUCCESS)
		return;
	MPI_Error_string(rc, msg, &len);
	warn("%s failed on rank %d: %.*s", what, dist_rank, len, msg);
	MPI_Abort(MPI_COMM_WORLD, 1);
	exit(1);
}

int facet_dist_init(int *argc, char ***argv)
{
	if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK"))
		return 1;
	if (MPI_Init(argc, argv) != MPI_SUCCESS)
		die("MPI_Init failed: cannot join the mpirun job");
	dist_on = 1;
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	check(MPI_Comm_rank(MPI_COMM_WORLD, &dist_rank), "MPI_Comm_rank");
	check(MPI_Comm_size(MPI_COMM_WORLD, &dist_size), "MPI_Comm_size");
	MPI_Comm local;
	check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, dist_rank, MPI_INFO_NULL,
	                          &local),
	      "MPI_Comm_split_type");
	check(MPI_Comm_size(local, &dist_local), "MPI_Comm_size");
	MPI_Comm_free(&local);
	return dist_size;
}

int facet_dist_rank(void)
{
	return dist_rank;
}

int facet_dist_size(void)
{
	return dist_size;
}

int facet_dist_local_size(void)
{
	return dist_local;
}

/* MPI counts are ints: longer buffers go in pieces. */
static void sum(void *buf, size_t n, MPI_Datatype type, size_t size, const char *what)
{
	if (dist_size < 2)
		return;
	facet_dist_waiting = 1;
	for (size_t at = 0; at < n; at += INT_MAX) {
		int k = n - at < (size_t)INT_MAX ? (int)(n - at) : INT_MAX;
		check(MPI_Allreduce(MPI_IN_PLACE, (char *)buf + at * size, k, type, MPI_SUM,
		                    MPI_COMM_WORLD),
		      what);
	}
	facet_dist_waiting = 0;
}

void facet_dist_sum_float(float *buf, size_t n)
{
	sum(buf, n, MPI_FLOAT, sizeof(float), "MPI_Allreduce");
}

void facet_dist_sum_double(double *buf, size_t n)
{
	sum(buf, n, MPI_DOUBLE, sizeof(double), "MPI_Allreduce");
}

void facet_dist_bcast(void *buf, size_t bytes, int root)
{
	if (dist_size < 2)
		return;
	facet_dist_waiting = 1;
	for (size_t at = 0; at < bytes; at += INT_MAX) {
		int k = bytes - at < (size_t)INT_MAX ? (int)(bytes - at) : INT_MAX;
		check(MPI_Bcast((char *)buf + at, k, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
	}
	facet_dist_waiting = 0;
}

void facet_dist_barrier(void)
{
	if (dist_size < 2)
		return;
	facet_dist_waiting = 1;
	check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
	facet_dist_waiting = 0;
}

void facet_dist_abort(int status)
{
	if (dist_size > 1)
		MPI_Abort(MPI_COMM_WORLD, status);
	exit(status);
}

void facet_dist_finalize(void)
{
	if (dist_on)
		MPI_Finalize();
	dist_on = 0;
}
