/*
 * ReLU as a layer ([relu], e.g. after [batchnorm]) and as the fused activation of conv and dense.
 * Sigmoid and softmax on a head's last [dense] only name the link that the head's loss applies
 * (see loss.c): the layer itself outputs logits.
 */
#include "nn/nn.h"

/* out = max(in, 0); in and out may be the same array. The loops are explicitly SIMD: left to
 * -O2, GCC compiles the backward select to a branch that mispredicts on half the elements (it
 * took a tenth of a training step). */
static void relu_pass(const float *in, float *out, size_t count)
{
#pragma omp parallel for simd schedule(static)
	for (size_t i = 0; i < count; i++)
		out[i] = in[i] > 0 ? in[i] : 0.0f;
}

/* dx = dy where y > 0, else 0 (dx may be dy). */
static void relu_grad(const float *y, const float *dy, float *dx, size_t count)
{
#pragma omp parallel for simd schedule(static)
	for (size_t i = 0; i < count; i++) {
		float d = dy[i]; /* loaded unconditionally: a conditional load vectorizes to a
		                  * masked load, slow on this machine's AMD cores */
		dx[i] = y[i] > 0 ? d : 0.0f;
	}
}

void facet_act_forward(int act, float *y, size_t count)
{
	if (act == FACET_ACT_RELU)
		relu_pass(y, y, count);
}

/* dy *= (y > 0): the gradient through ReLU, from its output. */
void facet_act_backward(int act, const float *y, float *dy, size_t count)
{
	if (act == FACET_ACT_RELU)
		relu_grad(y, dy, dy, count);
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
	if (l->fused) /* the batch norm before it applied it, into the same buffer */
		return;
	relu_pass(x, l->y, (size_t)l->n * l->oc * l->oh * l->ow);
}

static void relu_backward(facet_layer *l, const float *x, float *dx)
{
	(void)x;
	if (!dx || l->fused) /* dx is l->dy, and the batch norm masks it */
		return;
	relu_grad(l->y, l->dy, dx, (size_t)l->n * l->oc * l->oh * l->ow);
}

const facet_layer_ops facet_relu_ops = {"relu",       relu_setup,    NULL, NULL,
                                        relu_forward, relu_backward, NULL};
