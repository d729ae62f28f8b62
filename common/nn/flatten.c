/*
 * [flatten]: [C, H, W] -> [C*H*W] in C order (NCHW), the same numbers under a flat shape.
 */
#include <string.h>
#include "nn/nn.h"

static const char *flatten_setup(facet_layer *l)
{
	l->oc = l->ic * l->ih * l->iw;
	l->oh = l->ow = 1;
	l->nparam = 0;
	return NULL;
}

static void flatten_forward(facet_layer *l, const float *x, int train)
{
	(void)train;
	memcpy(l->y, x, sizeof(float) * l->n * l->oc);
}

static void flatten_backward(facet_layer *l, const float *x, float *dx)
{
	(void)x;
	if (dx)
		memcpy(dx, l->dy, sizeof(float) * l->n * l->oc);
}

const facet_layer_ops facet_flatten_ops = {"flatten",       flatten_setup,    NULL, NULL,
                                           flatten_forward, flatten_backward, NULL};
