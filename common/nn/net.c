/*
 * The network: a trunk of layers and up to three heads on its output. Forward runs the trunk, then
 * every head; backward runs each head back to the trunk's output, sums their gradients there,
 * and runs the trunk back. Buffers are allocated once per batch size (facet_net_alloc).
 */
#include <math.h>
#include <string.h>
#include "nn/nn.h"
#include "nn/fastops.h"
#include "nn/quant.h"

/* Free what a layer holds for a batch (its y and dy unless they are the batch norm's it is fused
 * into), and empty it. */
static void free_layer_batch(facet_layer *l)
{
	if (l->ops->release)
		l->ops->release(l);
	if (!(l->fused && l->kind != FACET_BATCHNORM)) {
		free(l->y);
		free(l->dy);
	}
	l->y = l->dy = NULL;
	l->fused = l->pooled = 0;
	l->x_blocked = l->y_blocked = 0;
}

static void free_layers(facet_layer *l, int n)
{
	for (int i = 0; i < n; i++) {
		free_layer_batch(&l[i]);
		for (int j = 0; j < l[i].nparam; j++) {
			free(l[i].param[j].data);
			free(l[i].param[j].grad);
			free(l[i].param[j].m);
			free(l[i].param[j].v);
		}
	}
	free(l);
}

static void free_batch(facet_net *net)
{
	free(net->x);
	free(net->trunk_dy);
	net->x = net->trunk_dy = NULL;
	for (int h = 0; h < FACET_HEADS; h++) {
		free(net->target[h]);
		free(net->have[h]);
		free(net->soft[h]);
		net->target[h] = NULL;
		net->have[h] = NULL;
		net->soft[h] = NULL;
	}
	net->soft_on = 0;
	facet_q8_free(net->q8);
	net->q8 = NULL;
	for (int i = 0; i < net->ntrunk; i++)
		net->trunk[i].q8 = 0;
}

void facet_net_free(facet_net *net)
{
	if (!net)
		return;
	free_batch(net);
	free_layers(net->trunk, net->ntrunk);
	for (int h = 0; h < FACET_HEADS; h++)
		free_layers(net->head[h].layer, net->head[h].nlayer);
	free(net->param);
	free(net);
}

static void init_layers(facet_layer *l, int n, facet_rng *rng)
{
	for (int i = 0; i < n; i++)
		if (l[i].ops->init)
			l[i].ops->init(&l[i], rng);
}

void facet_net_init_params(facet_net *net, uint64_t seed)
{
	facet_rng rng;
	facet_rng_seed(&rng, facet_rng_derive(seed, 0x696e6974, 0, 0)); /* "init" */
	init_layers(net->trunk, net->ntrunk, &rng);
	for (int h = 0; h < FACET_HEADS; h++)
		init_layers(net->head[h].layer, net->head[h].nlayer, &rng);
}

void facet_net_set_path(facet_net *net, int fast, int precision)
{
	net->fast = fast;
	net->precision = precision;
}

size_t facet_net_param_count(const facet_net *net)
{
	size_t n = 0;
	for (int i = 0; i < net->nparam; i++)
		if (net->param[i]->grad)
			n += net->param[i]->n;
	return n;
}

static size_t out_size(const facet_layer *l)
{
	return (size_t)l->oc * l->oh * l->ow;
}

static size_t trunk_out(const facet_net *net)
{
	if (net->ntrunk)
		return out_size(&net->trunk[net->ntrunk - 1]);
	return (size_t)net->input.channels * net->input.height * net->input.width;
}

/* A convolution that runs as an inner product (fastops.h): its x must be plain. */
static int conv_whole(const facet_layer *l)
{
	int pad = l->pad ? (l->size - 1) / 2 : 0;
	return l->size == l->ih && l->size == l->iw && pad == 0;
}

/* Can layer l take its x (and give its dx) in the blocked layout, with B channels a block?
 * next: whether the layer after it can. A batch norm or a [relu] gives its y in the layout of
 * its x, so it can take the blocked one only when the next layer can too. */
static int takes_blocked(const facet_layer *l, int next, int B)
{
	switch (l->kind) {
	case FACET_CONV:
		return !conv_whole(l) && l->ic % B == 0;
	case FACET_BATCHNORM:
		return l->ic % B == 0 && next;
	case FACET_RELU:
		return next;
	case FACET_MAXPOOL:
		return l->ic % B == 0 && l->size <= 15;
	default:
		return 0;
	}
}

/* On the fast path (fp32 or bf16) activations stay in the blocked layout of fastops.h from a
 * convolution through the batch norms, ReLUs, poolings and convolutions that follow it, as far
 * as layers take it: a convolution then runs no reorder on its input and output either way.
 * The layer before one that wants the plain layout (a dense layer, a flatten, the end of the
 * trunk) gives it plain: a convolution or a pooling converts as it writes. Sets every layer's
 * x_blocked and y_blocked. */
static void plan_layouts(const facet_net *net, facet_layer *l, int count)
{
	int B = net->fast && net->precision != FACET_PREC_INT8 ? facet_fast_block() : 0;
	int next = 0, in = 0;
	int *takes = xcalloc((size_t)count + 1, sizeof *takes); /* takes[count] = 0: plain out */
	for (int i = count - 1; i >= 0 && B; i--)
		takes[i] = next = l[i].skip ? next : takes_blocked(&l[i], next, B);
	for (int i = 0; i < count; i++) {
		if (!B || l[i].skip)
			continue;
		l[i].x_blocked = in;
		switch (l[i].kind) {
		case FACET_CONV:
			l[i].y_blocked = takes[i + 1] && l[i].oc % B == 0 && !conv_whole(&l[i]);
			break;
		case FACET_BATCHNORM:
		case FACET_RELU:
			l[i].y_blocked = in;
			break;
		case FACET_MAXPOOL:
			l[i].y_blocked = in && takes[i + 1];
			break;
		default:
			l[i].y_blocked = 0;
		}
		in = l[i].y_blocked;
	}
	free(takes);
}

/* How the blocked batch norm l[i], its [relu] fused, can also take the [maxpool] after that
 * relu: FACET_FAST_POOL_BLOCKED or _PLAIN (the pooling's y layout), or 0 when it cannot (a plain
 * batch norm, or a pooling other than 2x2 with stride 2). */
static int pool_fusion(const facet_layer *l, int i, int count)
{
	if (!l[i].x_blocked || i + 2 >= count)
		return 0;
	const facet_layer *p = &l[i + 2];
	if (p->kind != FACET_MAXPOOL || p->skip || p->size != 2 || p->stride != 2 || !p->x_blocked)
		return 0;
	return p->y_blocked ? FACET_FAST_POOL_BLOCKED : FACET_FAST_POOL_PLAIN;
}

/* On the fast path a [relu] right after a [batchnorm] is fused into it: the batch norm applies
 * it in its own passes (one pass over the tensor fewer each way) and the relu shares its buffers.
 * On the blocked layout a 2x2 [maxpool] after that relu is fused as well: the batch norm's
 * forward writes the pooled output, its backward takes the pooled gradient, and the three layers
 * share one pair of buffers of the pooling's size. The reference path keeps every layer
 * separate. */
static void alloc_layers(facet_net *net, facet_layer *l, int count, int n)
{
	for (int i = 0; i < count; i++)
		free_layer_batch(&l[i]);
	if (!net->q8)
		plan_layouts(net, l, count);
	for (int i = 0; i < count; i++) {
		l[i].n = n;
		l[i].use_fast = net->fast;
		l[i].precision = net->precision;
		l[i].rng = &net->rng;
		if (l[i].skip)
			continue;
		if (l[i].q8) { /* the int8 part's plans have their own buffers */
			if (l == net->trunk && i == facet_q8_last(net))
				l[i].y = xcalloc((size_t)n * out_size(&l[i]), sizeof(float));
			continue;
		}
		if (l[i].kind == FACET_RELU && i > 0 && l[i - 1].kind == FACET_BATCHNORM &&
		    l[i - 1].fused) {
			l[i].fused = 1;
			l[i].y = l[i - 1].y;
			l[i].dy = l[i - 1].dy;
			continue;
		}
		if (l[i].kind == FACET_MAXPOOL && i > 1 && l[i - 2].pooled) {
			l[i].fused = 1;
			l[i].y = l[i - 2].y;
			l[i].dy = l[i - 2].dy;
			continue;
		}
		l[i].fused = l[i].kind == FACET_BATCHNORM && net->fast && i + 1 < count &&
		             l[i + 1].kind == FACET_RELU && !l[i + 1].skip;
		l[i].pooled = l[i].fused ? pool_fusion(l, i, count) : 0;
		size_t out = out_size(&l[i + (l[i].pooled ? 2 : 0)]);
		l[i].y = xcalloc((size_t)n * out, sizeof(float));
		l[i].dy = xcalloc((size_t)n * out, sizeof(float));
		if (l[i].ops->alloc)
			l[i].ops->alloc(&l[i]);
	}
}

void facet_net_alloc(facet_net *net, int n)
{
	free_batch(net);
	size_t in = (size_t)net->input.channels * net->input.height * net->input.width;
	net->n = n;
	net->x = xcalloc((size_t)n * in, sizeof(float));
	net->trunk_dy = xcalloc((size_t)n * trunk_out(net), sizeof(float));
	for (int h = 0; h < FACET_HEADS; h++) {
		net->target[h] = xcalloc(n, sizeof(float));
		net->have[h] = xcalloc(n, 1);
		if (net->head[h].present && net->head[h].distill > 0)
			net->soft[h] = xcalloc((size_t)n * facet_head_units(h), sizeof(float));
	}
	if (net->precision == FACET_PREC_INT8)
		net->q8 = facet_q8_new(net, n, net->fast);
	alloc_layers(net, net->trunk, net->ntrunk, n);
	for (int h = 0; h < FACET_HEADS; h++)
		alloc_layers(net, net->head[h].layer, net->head[h].nlayer, n);
}

static const float *run_forward(facet_layer *l, int count, const float *x, int train)
{
	for (int i = 0; i < count; i++) {
		if (l[i].skip)
			continue;
		l[i].ops->forward(&l[i], x, train);
		x = l[i].y;
	}
	return x;
}

/* The output of layers l[0..count) (the last one not folded away), or x when there is none. */
static const float *last_output(const facet_layer *l, int count, const float *x)
{
	for (int i = count - 1; i >= 0; i--)
		if (!l[i].skip)
			return l[i].y;
	return x;
}

static const float *trunk_output(const facet_net *net)
{
	return last_output(net->trunk, net->ntrunk, net->x);
}

/* Fold the batch norm b into the conv or dense layer p before it (see facet_net_fold). */
static void fold_bn(facet_layer *p, const facet_layer *b)
{
	const float *gamma = b->param[0].data, *beta = b->param[1].data;
	const float *mean = b->param[2].data, *var = b->param[3].data;
	float *w = p->param[0].data, *bias = p->param[1].data;
	int K = b->ic;
	size_t per = p->param[0].n / (size_t)K; /* conv [K,C,R,S], dense [O,I]: row k per unit */
	for (int k = 0; k < K; k++) {
		double a = gamma[k] / sqrt((double)var[k] + b->eps);
		for (size_t j = 0; j < per; j++)
			w[(size_t)k * per + j] = (float)(w[(size_t)k * per + j] * a);
		bias[k] = (float)((bias[k] - (double)mean[k]) * a + beta[k]);
	}
}

static int fold_layers(facet_layer *l, int count)
{
	int skipped = 0;
	for (int i = 0; i < count; i++) {
		facet_layer *p = &l[i];
		if (p->kind == FACET_DROPOUT) {
			p->skip = 1;
			skipped++;
			continue;
		}
		if ((p->kind != FACET_CONV && p->kind != FACET_DENSE) || p->act != FACET_ACT_LINEAR)
			continue;
		int j = i + 1;
		if (j < count && l[j].kind == FACET_BATCHNORM && l[j].ic == p->oc &&
		    l[j].ih == p->oh && l[j].iw == p->ow) {
			fold_bn(p, &l[j]);
			l[j].skip = 1;
			skipped++;
			j++;
		}
		if (j < count && l[j].kind == FACET_RELU) {
			p->act = FACET_ACT_RELU;
			l[j].skip = 1;
			skipped++;
		}
	}
	return skipped;
}

int facet_net_fold(facet_net *net)
{
	int skipped;
	if (net->folded || net->n)
		die("internal error: facet_net_fold on a net already folded or allocated");
	skipped = fold_layers(net->trunk, net->ntrunk);
	for (int h = 0; h < FACET_HEADS; h++)
		if (net->head[h].present)
			skipped += fold_layers(net->head[h].layer, net->head[h].nlayer);
	net->folded = 1;
	return skipped;
}

void facet_net_forward(facet_net *net, int train)
{
	if (net->q8) {
		int last = facet_q8_last(net);
		facet_q8_forward(net->q8, net);
		run_forward(net->trunk + last + 1, net->ntrunk - last - 1, net->trunk[last].y,
		            train);
	} else {
		run_forward(net->trunk, net->ntrunk, net->x, train);
	}
	for (int h = 0; h < FACET_HEADS; h++)
		if (net->head[h].present)
			run_forward(net->head[h].layer, net->head[h].nlayer, trunk_output(net),
			            train);
}

const float *facet_net_head_output(const facet_net *net, facet_head_kind h)
{
	const facet_head *hd = &net->head[h];
	return hd->present ? last_output(hd->layer, hd->nlayer, trunk_output(net)) : NULL;
}

/* Back through layers l[0..count): the last layer's dy is set; dx of layer 0 goes to dx0. */
static void run_backward(facet_layer *l, int count, const float *x0, float *dx0)
{
	for (int i = count - 1; i >= 0; i--) {
		const float *x = i ? l[i - 1].y : x0;
		float *dx = i ? l[i - 1].dy : dx0;
		l[i].ops->backward(&l[i], x, dx);
	}
}

double facet_net_loss_backward(facet_net *net, int backward, double per_head[FACET_HEADS],
                               int count[FACET_HEADS])
{
	double total = 0;
	size_t tsize = (size_t)net->n * trunk_out(net);
	double ph_local[FACET_HEADS];
	int count_local[FACET_HEADS];
	if (backward && net->folded)
		die("internal error: backward through a net folded for inference");
	if (!per_head)
		per_head = ph_local;
	if (!count)
		count = count_local;
	const float *tout = trunk_output(net);
	int first = 1;
	for (int h = 0; h < FACET_HEADS; h++) {
		facet_head *hd = &net->head[h];
		per_head[h] = NAN;
		count[h] = 0;
		if (!hd->present)
			continue;
		facet_layer *last = &hd->layer[hd->nlayer - 1];
		facet_loss_args la = {.kind = hd->loss,
		                      .units = last->oc,
		                      .scale = hd->weight,
		                      .sigma = hd->sigma,
		                      .l1 = hd->l1,
		                      .age_mean = net->age_mean,
		                      .age_std = net->age_std,
		                      .smoothing = hd->smoothing,
		                      .distill = hd->distill,
		                      .soft = net->soft_on ? net->soft[h] : NULL};
		double loss =
		    facet_loss(&la, facet_net_head_output(net, (facet_head_kind)h), net->target[h],
		               net->have[h], net->n, backward ? last->dy : NULL, &count[h]);
		if (count[h]) {
			per_head[h] = loss;
			total += hd->weight * loss;
		}
		if (!backward)
			continue;
		/* The first head writes the trunk's gradient, the others add theirs. */
		float *dst = net->ntrunk ? net->trunk[net->ntrunk - 1].dy : NULL;
		if (first && dst) {
			run_backward(hd->layer, hd->nlayer, tout, dst);
		} else {
			run_backward(hd->layer, hd->nlayer, tout, net->trunk_dy);
			if (dst)
				for (size_t i = 0; i < tsize; i++)
					dst[i] += net->trunk_dy[i];
		}
		first = 0;
	}
	if (backward && net->ntrunk)
		run_backward(net->trunk, net->ntrunk, net->x, NULL);
	return total;
}

double facet_net_age(const facet_net *net, const float *z, int i)
{
	const facet_head *hd = &net->head[FACET_HEAD_AGE];
	if (hd->loss == FACET_LOSS_DLDL) {
		int units = hd->layer[hd->nlayer - 1].oc;
		return facet_dldl_age(z + (size_t)i * units, units);
	}
	return z[i] * net->age_std + net->age_mean;
}

void facet_net_pred(const facet_net *net, int i, facet_pred *p)
{
	memset(p, 0, sizeof *p);
	const float *z = facet_net_head_output(net, FACET_HEAD_AGE);
	if (z) {
		p->has_age = 1;
		p->age = facet_net_age(net, z, i);
	}
	z = facet_net_head_output(net, FACET_HEAD_GENDER);
	if (z) {
		p->has_gender = 1;
		p->gender[1] = 1 / (1 + exp(-(double)z[i]));
		p->gender[0] = 1 - p->gender[1];
	}
	z = facet_net_head_output(net, FACET_HEAD_ETHNICITY);
	if (z) {
		facet_softmax(z + (size_t)i * FACET_N_ETHNICITY, FACET_N_ETHNICITY, p->ethnicity);
		p->has_ethnicity = 1;
	}
}
