/*
 * [dropout] rate: in training each value is zeroed with probability rate and the rest scaled by
 * 1 / (1 - rate) (inverted dropout, as Keras); at inference the layer passes values through.
 * The mask comes from the net's step stream, drawn in order by one thread.
 */
#include <string.h>
#include "nn/nn.h"

static const char *dropout_setup(facet_layer *l)
{
	if (l->rate < 0 || l->rate >= 1)
		return "rate must be in [0, 1)";
	l->oc = l->ic;
	l->oh = l->ih;
	l->ow = l->iw;
	l->nparam = 0;
	return NULL;
}

static void dropout_alloc(facet_layer *l)
{
	l->save = xmalloc(sizeof(float) * l->n * l->oc * l->oh * l->ow);
}

static void dropout_forward(facet_layer *l, const float *x, int train)
{
	size_t count = (size_t)l->n * l->oc * l->oh * l->ow;
	if (!train || l->rate == 0) {
		for (size_t i = 0; i < count; i++)
			l->save[i] = 1;
		memcpy(l->y, x, sizeof(float) * count);
		return;
	}
	float keep = 1.0f / (1.0f - l->rate);
	/* 53-bit uniforms against the rate: the mask depends only on the stream. */
	for (size_t i = 0; i < count; i++)
		l->save[i] = facet_rng_uniform(l->rng) < l->rate ? 0.0f : keep;
	for (size_t i = 0; i < count; i++)
		l->y[i] = x[i] * l->save[i];
}

static void dropout_backward(facet_layer *l, const float *x, float *dx)
{
	(void)x;
	if (!dx)
		return;
	size_t count = (size_t)l->n * l->oc * l->oh * l->ow;
	for (size_t i = 0; i < count; i++)
		dx[i] = l->dy[i] * l->save[i];
}

static void dropout_release(facet_layer *l)
{
	free(l->save);
	l->save = NULL;
}

const facet_layer_ops facet_dropout_ops = {"dropout",      dropout_setup,   NULL,
                                           dropout_alloc,  dropout_forward, dropout_backward,
                                           dropout_release};
