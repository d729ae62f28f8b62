/* The ordered parallel map of pmap.h: a ring of slots, workers fill them, the caller drains them
 * in sequence. */
#include "pmap.h"
#include "facet.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

typedef struct {
	void *item;
	int done;
} slot;

typedef struct {
	const facet_pmap_ops *ops;
	void *ctx;
	slot *slots;
	size_t window;
	uint64_t next_seq, written;
	int exhausted, nthreads;
	pthread_mutex_t lock;
	pthread_cond_t space, ready;
} pmap;

typedef struct {
	pmap *pm;
	int thread;
} worker_arg;

static void *worker(void *arg)
{
	worker_arg *wa = arg;
	pmap *pm = wa->pm;

	pthread_mutex_lock(&pm->lock);
	for (;;) {
		slot *s;
		void *item;
		while (!pm->exhausted && pm->next_seq >= pm->written + pm->window)
			pthread_cond_wait(&pm->space, &pm->lock);
		if (pm->exhausted)
			break;
		if (!pm->ops->next(pm->ctx, &item)) {
			pm->exhausted = 1;
			pthread_cond_broadcast(&pm->ready);
			pthread_cond_broadcast(&pm->space);
			break;
		}
		s = &pm->slots[pm->next_seq++ % pm->window];
		s->item = item;
		s->done = 0;
		pthread_mutex_unlock(&pm->lock);
		pm->ops->work(pm->ctx, item, wa->thread);
		pthread_mutex_lock(&pm->lock);
		s->done = 1;
		pthread_cond_broadcast(&pm->ready);
	}
	pthread_mutex_unlock(&pm->lock);
	return NULL;
}

void facet_pmap(int jobs, const facet_pmap_ops *ops, void *ctx)
{
	pmap pm = {.ops = ops, .ctx = ctx};
	pthread_t *th;
	worker_arg *wa;

	if (jobs < 1)
		jobs = 1;
	th = xcalloc((size_t)jobs, sizeof *th);
	wa = xcalloc((size_t)jobs, sizeof *wa);
	pm.window = 4 * (size_t)jobs + 4;
	pm.slots = xcalloc(pm.window, sizeof *pm.slots);
	pthread_mutex_init(&pm.lock, NULL);
	pthread_cond_init(&pm.space, NULL);
	pthread_cond_init(&pm.ready, NULL);
	for (int i = 0; i < jobs; i++) {
		wa[i] = (worker_arg){&pm, i};
		if (pthread_create(&th[i], NULL, worker, &wa[i]) != 0)
			die("cannot start a thread:");
	}

	pthread_mutex_lock(&pm.lock);
	for (;;) {
		slot *s = &pm.slots[pm.written % pm.window];
		while (!(pm.written < pm.next_seq && s->done) &&
		       !(pm.exhausted && pm.written == pm.next_seq))
			pthread_cond_wait(&pm.ready, &pm.lock);
		if (pm.written == pm.next_seq)
			break;
		pthread_mutex_unlock(&pm.lock);
		ops->emit(ctx, s->item);
		pthread_mutex_lock(&pm.lock);
		s->done = 0;
		pm.written++;
		pthread_cond_broadcast(&pm.space);
	}
	pthread_mutex_unlock(&pm.lock);

	for (int i = 0; i < jobs; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&pm.lock);
	pthread_cond_destroy(&pm.space);
	pthread_cond_destroy(&pm.ready);
	free(th);
	free(wa);
	free(pm.slots);
}
