/*
 * ReLU as a layer ([relu], e.g. after [batchnorm]) and as the fused activation of conv and dense.
 * Sigmoid and softmax on a head's last [dense] only name the link that the head's loss applies
 * (see loss.c): the layer itself outputs logits.
 */
#include <string.h>
#include "nn/nn.h"

void facet_act_forward(int act, float *y, size_t count)
{
	if (act != FACET_ACT_RELU)
		return;
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < count; i++)
		y[i] = y[i] > 0 ? y[i] : 0;
}

/* dy *= (y > 0): the gradient through ReLU, from its output. */
void facet_act_backward(int act, const float *y, float *dy, size_t count)
{
	if (act != FACET_ACT_RELU)
		return;
#pragma omp parallel for schedule(static)
	for (size_t i = 0; i < count; i++)
		dy[i] = y[i] > 0 ? dy[i] : 0;
}

static const char *relu_setup(facet_layer *l)
{
	l->oc = l->ic;
	l->oh = l->ih;
	l->ow = l->iw;
	l->nparam = 0;
	return NULL;
}

static void relu_forward(facet_layer *l, const float *x, int train)
{
	(void)train;
	size_t count = (size_t)l->n * l->oc * l->oh * l->ow;
	memcpy(l->y, x, sizeof(float) * count);
	facet_act_forward(FACET_ACT_RELU, l->y, count);
}

static void relu_backward(facet_layer *l, const float *x, float *dx)
{
	(void)x;
	if (!dx)
		return;
	size_t count = (size_t)l->n * l->oc * l->oh * l->ow;
	facet_act_backward(FACET_ACT_RELU, l->y, l->dy, count);
	memcpy(dx, l->dy, sizeof(float) * count);
}

const facet_layer_ops facet_relu_ops = {"relu",       relu_setup,    NULL, NULL,
                                        relu_forward, relu_backward, NULL};
