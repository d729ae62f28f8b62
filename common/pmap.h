/*
 * An ordered parallel map: worker threads take units of work one at a time, do them at once, and
 * the calling thread hands the results on in the order the units were taken, so a tool's output
 * order never depends on its thread count. At most 4 x jobs + 4 units are in flight, whatever the
 * input's length.
 *
 *   next   under the lock, in a worker: the next unit in *item and 1, or 0 when there is no more
 *   work   in worker `thread` (0 .. jobs - 1), unlocked: do the unit's work
 *   emit   in the calling thread, in order: hand the result on and free the unit
 */
#ifndef FACET_PMAP_H
#define FACET_PMAP_H

typedef struct {
	int (*next)(void *ctx, void **item);
	void (*work)(void *ctx, void *item, int thread);
	void (*emit)(void *ctx, void *item);
} facet_pmap_ops;

/* Run ops over every unit next gives, with jobs worker threads (1..256). Dies if a thread cannot
 * be started. */
void facet_pmap(int jobs, const facet_pmap_ops *ops, void *ctx);

#endif
