/*
 * [gap]: global average pooling, [C, H, W] -> [C] (the mean of each channel's plane).
 */
#include "nn/nn.h"

static const char *gap_setup(facet_layer *l)
{
	l->oc = l->ic;
	l->oh = l->ow = 1;
	l->nparam = 0;
	return NULL;
}

/* x [N,C,H,W] -> y [N,C] */
static void gap_forward(facet_layer *l, const float *x, int train)
{
	(void)train;
	long planes = (long)l->n * l->ic;
	int HW = l->ih * l->iw;
#pragma omp parallel for schedule(static)
	for (long p = 0; p < planes; p++) {
		double s = 0;
		for (int i = 0; i < HW; i++)
			s += x[(size_t)p * HW + i];
		l->y[p] = (float)(s / HW);
	}
}

/* dy [N,C] -> dx [N,C,H,W] = dy / (H*W) */
static void gap_backward(facet_layer *l, const float *x, float *dx)
{
	(void)x;
	if (!dx)
		return;
	long planes = (long)l->n * l->ic;
	int HW = l->ih * l->iw;
#pragma omp parallel for schedule(static)
	for (long p = 0; p < planes; p++) {
		float g = l->dy[p] / (float)HW;
		for (int i = 0; i < HW; i++)
			dx[(size_t)p * HW + i] = g;
	}
}

const facet_layer_ops facet_gap_ops = {"gap",       gap_setup,    NULL, NULL,
                                       gap_forward, gap_backward, NULL};
