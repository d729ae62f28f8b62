/*
 * Adam (Kingma and Ba) and AdamW (decoupled weight decay, Loshchilov and Hutter), with optional L2
 * (added to the gradient, so Adam scales it), and the learning-rate schedules:
 *   none     lr
 *   step     lr * gamma^floor(epoch / step_size)
 *   cosine   min_lr + (lr - min_lr) * (1 + cos(pi * epoch / epochs)) / 2
 *   plateau  the current value, cut by plateau_factor when the monitored loss has not improved
 *            for plateau_patience epochs (facet_train_schedule_update in train.c keeps that
 *            state)
 */
#include <math.h>
#include <string.h>
#include "nn/nn.h"

void facet_optim_step(facet_net *net, float lr, int64_t t)
{
	const facet_train_cfg *c = &net->train;
	double b1 = c->beta1, b2 = c->beta2;
	float c1 = (float)(1 - pow(b1, (double)t)), c2 = (float)(1 - pow(b2, (double)t));
	float alpha = lr * sqrtf(c2) / c1;
	float eps_hat = c->eps * sqrtf(c2); /* eps on the bias-corrected v, as Keras and PyTorch */
	float wd = c->optimizer == FACET_OPT_ADAMW ? lr * c->weight_decay : 0;
	for (int k = 0; k < net->nparam; k++) {
		facet_param *p = net->param[k];
		if (!p->grad)
			continue;
		if (!p->m) {
			p->m = xcalloc(p->n, sizeof(float));
			p->v = xcalloc(p->n, sizeof(float));
		}
		float l2 = p->decay ? c->l2 : 0, pwd = p->decay ? wd : 0;
		float fb1 = c->beta1, fb2 = c->beta2;
		float *w = p->data, *g = p->grad, *m = p->m, *v = p->v;
#pragma omp parallel for schedule(static) if (p->n > 65536)
		for (size_t i = 0; i < p->n; i++) {
			float gi = g[i] + l2 * w[i];
			m[i] = fb1 * m[i] + (1 - fb1) * gi;
			v[i] = fb2 * v[i] + (1 - fb2) * gi * gi;
			w[i] -= pwd * w[i];
			w[i] -= alpha * m[i] / (sqrtf(v[i]) + eps_hat);
		}
	}
}

float facet_schedule_lr(const facet_train_cfg *c, int epoch, int epochs, float plateau_lr)
{
	switch (c->schedule) {
	case FACET_SCHED_STEP:
		return c->lr * powf(c->gamma, (float)(epoch / c->step_size));
	case FACET_SCHED_COSINE:
		if (epochs < 1)
			return c->lr;
		return c->min_lr +
		       (c->lr - c->min_lr) * 0.5f * (1 + cosf((float)M_PI * epoch / epochs));
	case FACET_SCHED_PLATEAU:
		return plateau_lr;
	default:
		return c->lr;
	}
}
