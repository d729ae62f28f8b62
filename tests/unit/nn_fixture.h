/*
 * A net's parameters for the engine's unit tests: initialised from seed 5, then every batch
 * norm's running statistics, scale and shift, and every bias drawn away from their defaults
 * (seed 99), so that folding and quantizing have something to get wrong. Included by one test
 * program each, so everything here is static.
 */
#ifndef FACET_TEST_NN_FIXTURE_H
#define FACET_TEST_NN_FIXTURE_H

#include <string.h>

#include "nn/nn.h"

static void draw_params(facet_net *net)
{
	facet_rng r;
	facet_net_init_params(net, 5);
	facet_rng_seed(&r, 99);
	for (int i = 0; i < net->nparam; i++) {
		facet_param *p = net->param[i];
		const char *tail = strrchr(p->name, '.');
		for (size_t j = 0; j < p->n; j++) {
			double u = facet_rng_uniform(&r);
			if (tail && !strcmp(tail, ".running_var"))
				p->data[j] = (float)(0.2 + 2 * u);
			else if (tail && !strcmp(tail, ".gamma"))
				p->data[j] = (float)(0.5 + u);
			else if (tail && (!strcmp(tail, ".running_mean") || !strcmp(tail, ".beta") ||
			                  !strcmp(tail, ".b")))
				p->data[j] = (float)(u - 0.5);
		}
	}
}

#endif
