/*
 * Training data and steps: data sets held in memory as uint8 in the net's input geometry, batches
 * built from them (normalised as the model records, augmented when training), one optimizer step,
 * evaluation, the training state that checkpoints carry, and what it decides after each epoch:
 * early stopping, the best weights and the plateau schedule.
 */
#include <math.h>
#include <string.h>
#include "nn/nn.h"

/* ---------------------------------------------------------------- data sets */

void facet_dataset_init(facet_dataset *d, int h, int w, int c)
{
	memset(d, 0, sizeof *d);
	d->h = h;
	d->w = w;
	d->c = c;
}

void facet_dataset_add(facet_dataset *d, const uint8_t *img, const int label[FACET_HEADS],
                       const float *const soft[FACET_HEADS])
{
	size_t px = (size_t)d->h * d->w * d->c;
	if (d->n == d->cap) {
		d->cap = d->cap ? 2 * d->cap : 256;
		d->pix = xrealloc(d->pix, d->cap * px);
		for (int h = 0; h < FACET_HEADS; h++) {
			d->label[h] = xrealloc(d->label[h], d->cap * sizeof(int16_t));
			if (d->soft_units[h])
				d->soft[h] =
				    xrealloc(d->soft[h], d->cap * d->soft_units[h] * sizeof(float));
		}
	}
	memcpy(d->pix + d->n * px, img, px);
	for (int h = 0; h < FACET_HEADS; h++) {
		d->label[h][d->n] = (int16_t)label[h];
		if (d->soft_units[h])
			memcpy(d->soft[h] + d->n * d->soft_units[h], soft[h],
			       sizeof(float) * d->soft_units[h]);
	}
	d->n++;
}

void facet_dataset_free(facet_dataset *d)
{
	free(d->pix);
	for (int h = 0; h < FACET_HEADS; h++) {
		free(d->label[h]);
		free(d->soft[h]);
	}
	memset(d, 0, sizeof *d);
}

int facet_net_distills(const facet_net *net)
{
	for (int h = 0; h < FACET_HEADS; h++)
		if (net->head[h].present && net->head[h].distill > 0)
			return 1;
	return 0;
}

/* FNV-1a over the geometry (the low byte of each), the pixels, the labels (two bytes each, low
 * first) and the soft targets. */
uint64_t facet_dataset_checksum(const facet_dataset *d)
{
	uint8_t geometry[3] = {(uint8_t)d->h, (uint8_t)d->w, (uint8_t)d->c};
	uint64_t x = facet_fnv1a(FACET_FNV1A_BASIS, geometry, sizeof geometry);
	x = facet_fnv1a(x, d->pix, d->n * d->h * d->w * d->c);
	for (int h = 0; h < FACET_HEADS; h++)
		for (size_t i = 0; i < d->n; i++) {
			uint8_t b[2] = {(uint8_t)d->label[h][i], (uint8_t)(d->label[h][i] >> 8)};
			x = facet_fnv1a(x, b, sizeof b);
		}
	for (int h = 0; h < FACET_HEADS; h++)
		if (d->soft[h])
			x = facet_fnv1a(x, d->soft[h], d->n * d->soft_units[h] * sizeof(float));
	return x;
}

/* ---------------------------------------------------------------- batches */

/* One input value from a pixel value: brightness/contrast (gain, bias) when photometric, then
 * the net's normalisation (a, b). */
static inline float input_value(float val, int photometric, float gain, float bias, float a,
                                float b)
{
	if (photometric) {
		val = ((val / 255.0f - 0.5f) * gain + 0.5f + bias) * 255.0f;
		val = val < 0 ? 0 : val > 255 ? 255 : val;
	}
	return val * a + b;
}

/* net->x row i = img turned and zoomed by w about its centre after view v
 * (facet_net_set_input_warp), sampled bilinearly with coordinates clamped to the image (the edge
 * replicated), with brightness/contrast (gain, bias) when not 1, 0. Each pixel's corners and
 * weights are found once for all its channels. */
static void set_input_warped(facet_net *net, int i, const uint8_t *img, facet_view v, facet_warp w,
                             float gain, float bias)
{
	const facet_input_cfg *in = &net->input;
	int H = in->height, W = in->width, C = in->channels;
	float *x = net->x + (size_t)i * C * H * W;
	int photometric = gain != 1 || bias != 0;
	float cy = 0.5f * (float)(H - 1), cx = 0.5f * (float)(W - 1);
	float cs = cosf(w.turn) / w.zoom, sn = sinf(w.turn) / w.zoom, a[3], b[3];
	for (int c = 0; c < C; c++) {
		a[c] = 1.0f / (255.0f * in->std[c]);
		b[c] = -in->mean[c] / in->std[c];
	}
	for (int y = 0; y < H; y++) {
		float py = (float)y - cy;
		for (int xx = 0; xx < W; xx++) {
			float px = (float)(v.flip ? W - 1 - xx : xx) - cx;
			float sx = cx + cs * px - sn * py + (float)v.dx;
			float sy = cy + sn * px + cs * py + (float)v.dy;
			sy = sy < 0 ? 0 : sy > H - 1 ? (float)(H - 1) : sy;
			sx = sx < 0 ? 0 : sx > W - 1 ? (float)(W - 1) : sx;
			int y0 = (int)sy, x0 = (int)sx;
			int y1 = y0 + 1 < H ? y0 + 1 : y0, x1 = x0 + 1 < W ? x0 + 1 : x0;
			float fy = sy - (float)y0, fx = sx - (float)x0;
			const uint8_t *p00 = img + ((size_t)y0 * W + x0) * C,
			              *p01 = img + ((size_t)y0 * W + x1) * C;
			const uint8_t *p10 = img + ((size_t)y1 * W + x0) * C,
			              *p11 = img + ((size_t)y1 * W + x1) * C;
			for (int c = 0; c < C; c++) {
				float top = (1 - fx) * p00[c] + fx * p01[c];
				float bot = (1 - fx) * p10[c] + fx * p11[c];
				float val = (1 - fy) * top + fy * bot;
				x[((size_t)c * H + y) * W + xx] =
				    input_value(val, photometric, gain, bias, a[c], b[c]);
			}
		}
	}
}

/* net->x row i = normalised view v of img, with brightness/contrast (gain, bias) when not 1, 0. */
static void set_input(facet_net *net, int i, const uint8_t *img, facet_view v, float gain,
                      float bias)
{
	const facet_input_cfg *in = &net->input;
	int H = in->height, W = in->width, C = in->channels;
	float *x = net->x + (size_t)i * C * H * W;
	int photometric = gain != 1 || bias != 0;
	for (int c = 0; c < C; c++) {
		float a = 1.0f / (255.0f * in->std[c]), b = -in->mean[c] / in->std[c];
		for (int y = 0; y < H; y++) {
			float *row = x + ((size_t)c * H + y) * W;
			int yy = y + v.dy;
			yy = yy < 0 ? 0 : yy >= H ? H - 1 : yy; /* shifts replicate the edge */
			for (int xx = 0; xx < W; xx++) {
				int xs = (v.flip ? W - 1 - xx : xx) + v.dx;
				xs = xs < 0 ? 0 : xs >= W ? W - 1 : xs;
				float val = img[((size_t)yy * W + xs) * C + c];
				row[xx] = input_value(val, photometric, gain, bias, a, b);
			}
		}
	}
}

void facet_net_set_input_view(facet_net *net, int i, const uint8_t *img, facet_view v)
{
	set_input(net, i, img, v, 1, 0);
}

void facet_net_set_input_warp(facet_net *net, int i, const uint8_t *img, facet_view v, facet_warp w)
{
	set_input_warped(net, i, img, v, w, 1, 0);
}

void facet_net_set_input(facet_net *net, int i, const uint8_t *img, uint64_t aug_seed)
{
	const facet_train_cfg *tc = &net->train;
	facet_view v = {0, 0, 0};
	facet_warp w = {0, 1};
	float gain = 1, bias = 0;
	int warp = 0;
	if (aug_seed) {
		facet_rng rng;
		facet_rng_seed(&rng, aug_seed);
		v.flip = tc->flip && facet_rng_uniform(&rng) < 0.5;
		if (tc->shift) {
			v.dx = (int)facet_rng_below(&rng, 2 * tc->shift + 1) - tc->shift;
			v.dy = (int)facet_rng_below(&rng, 2 * tc->shift + 1) - tc->shift;
		}
		if (tc->contrast > 0)
			gain = 1 + tc->contrast * (float)(2 * facet_rng_uniform(&rng) - 1);
		if (tc->brightness > 0)
			bias = tc->brightness * (float)(2 * facet_rng_uniform(&rng) - 1);
		/* drawn last, so that configs without them draw (and train) as before */
		if (tc->rotate > 0) {
			w.turn =
			    (float)(tc->rotate * (M_PI / 180) * (2 * facet_rng_uniform(&rng) - 1));
			warp = 1;
		}
		if (tc->scale > 0) {
			w.zoom = 1 + tc->scale * (float)(2 * facet_rng_uniform(&rng) - 1);
			warp = 1;
		}
	}
	if (warp)
		set_input_warped(net, i, img, v, w, gain, bias);
	else
		set_input(net, i, img, v, gain, bias);
}

void facet_net_fill_batch(facet_net *net, const facet_dataset *d, const size_t *idx, int k,
                          uint64_t seed, uint64_t epoch, uint64_t step, int augment)
{
	facet_net_fill_batch_at(net, d, idx, k, seed, epoch, step, 0, augment);
}

void facet_net_fill_batch_at(facet_net *net, const facet_dataset *d, const size_t *idx, int k,
                             uint64_t seed, uint64_t epoch, uint64_t step, int first, int augment)
{
	size_t px = (size_t)d->h * d->w * d->c;
	size_t in = (size_t)net->input.channels * net->input.height * net->input.width;
#pragma omp parallel for schedule(static)
	for (int i = 0; i < k; i++) {
		uint64_t aug =
		    augment ? facet_rng_derive(seed, epoch, step, (uint64_t)(first + i)) | 1 : 0;
		facet_net_set_input(net, i, d->pix + idx[i] * px, aug);
	}
	if (k < net->n)
		memset(net->x + (size_t)k * in, 0, sizeof(float) * (net->n - k) * in);
	/* soft targets when every head that learns against them has them in d (training sets) */
	net->soft_on = facet_net_distills(net);
	for (int h = 0; h < FACET_HEADS; h++)
		if (net->soft[h] && !d->soft[h])
			net->soft_on = 0;
	for (int h = 0; net->soft_on && h < FACET_HEADS; h++) {
		size_t u = (size_t)facet_head_units(h);
		for (int i = 0; net->soft[h] && i < k; i++)
			memcpy(net->soft[h] + i * u, d->soft[h] + idx[i] * u, sizeof(float) * u);
	}
	for (int h = 0; h < FACET_HEADS; h++)
		for (int i = 0; i < net->n; i++) {
			int v = i < k ? d->label[h][idx[i]] : -1;
			net->have[h][i] = v >= 0;
			if (v < 0)
				net->target[h][i] = 0;
			else if (h == FACET_HEAD_AGE)
				net->target[h][i] = (v - net->age_mean) / net->age_std;
			else
				net->target[h][i] = (float)v;
		}
}

void facet_net_fit_data(facet_net *net, const facet_dataset *d)
{
	size_t px = (size_t)d->h * d->w;
	if (net->input.norm == FACET_NORM_DATASET && d->n) {
		for (int c = 0; c < d->c; c++) {
			double s = 0, ss = 0;
			for (size_t i = 0; i < d->n * px; i++) {
				double v = d->pix[i * d->c + c] / 255.0;
				s += v;
				ss += v * v;
			}
			double cnt = (double)d->n * px, m = s / cnt, var = ss / cnt - m * m;
			net->input.mean[c] = (float)m;
			net->input.std[c] = (float)(var > 1e-6 ? sqrt(var) : 1e-3);
		}
	}
	double s = 0, ss = 0, cnt = 0;
	for (size_t i = 0; i < d->n; i++)
		if (d->label[FACET_HEAD_AGE][i] >= 0) {
			double a = d->label[FACET_HEAD_AGE][i];
			s += a;
			ss += a * a;
			cnt++;
		}
	if (cnt > 0) {
		double m = s / cnt, var = ss / cnt - m * m;
		net->age_mean = (float)m;
		net->age_std = (float)(var > 1 ? sqrt(var) : 1);
	}
}

/* ---------------------------------------------------------------- metrics */

void facet_metric_add(facet_metric_sums *s, const facet_net *net, int k, double loss)
{
	s->loss_sum += loss * k;
	s->batches += k;
	const float *z = facet_net_head_output(net, FACET_HEAD_AGE);
	for (int i = 0; z && i < k; i++)
		if (net->have[FACET_HEAD_AGE][i]) {
			double age =
			    (double)net->target[FACET_HEAD_AGE][i] * net->age_std + net->age_mean;
			s->ae_sum += fabs(facet_net_age(net, z, i) - age);
			s->age_n++;
		}
	z = facet_net_head_output(net, FACET_HEAD_GENDER);
	for (int i = 0; z && i < k; i++)
		if (net->have[FACET_HEAD_GENDER][i]) {
			s->g_ok += (z[i] > 0) == (net->target[FACET_HEAD_GENDER][i] > 0.5f);
			s->g_n++;
		}
	z = facet_net_head_output(net, FACET_HEAD_ETHNICITY);
	for (int i = 0; z && i < k; i++)
		if (net->have[FACET_HEAD_ETHNICITY][i]) {
			const float *r = z + (size_t)i * FACET_N_ETHNICITY;
			int best = 0;
			for (int j = 1; j < FACET_N_ETHNICITY; j++)
				if (r[j] > r[best])
					best = j;
			s->e_ok += best == (int)net->target[FACET_HEAD_ETHNICITY][i];
			s->e_n++;
		}
}

void facet_metric_finish(const facet_metric_sums *s, const facet_net *net, facet_metrics *m)
{
	m->loss = s->batches > 0 ? s->loss_sum / s->batches : NAN;
	m->age_mae = net->head[FACET_HEAD_AGE].present && s->age_n > 0 ? s->ae_sum / s->age_n : NAN;
	m->gender_acc = net->head[FACET_HEAD_GENDER].present && s->g_n > 0 ? s->g_ok / s->g_n : NAN;
	m->ethnicity_acc =
	    net->head[FACET_HEAD_ETHNICITY].present && s->e_n > 0 ? s->e_ok / s->e_n : NAN;
}

void facet_net_evaluate(facet_net *net, const facet_dataset *d, facet_metrics *m)
{
	facet_metric_sums s;
	memset(&s, 0, sizeof s);
	size_t *idx = xmalloc(sizeof(size_t) * net->n);
	for (size_t at = 0; at < d->n; at += net->n) {
		int k = d->n - at < (size_t)net->n ? (int)(d->n - at) : net->n;
		for (int i = 0; i < k; i++)
			idx[i] = at + i;
		facet_net_fill_batch(net, d, idx, k, 0, 0, 0, 0);
		facet_net_forward(net, 0);
		double per[FACET_HEADS];
		int cnt[FACET_HEADS];
		double loss = facet_net_loss_backward(net, 0, per, cnt);
		facet_metric_add(&s, net, k, loss);
	}
	free(idx);
	facet_metric_finish(&s, net, m);
}

/* ---------------------------------------------------------------- training state */

void facet_train_state_init(facet_train_state *s)
{
	memset(s, 0, sizeof *s);
	s->best = INFINITY;
	s->plateau_best = INFINITY;
	s->best_epoch = -1;
}

void facet_train_state_free(facet_train_state *s)
{
	free(s->log);
	if (s->best_param) {
		for (int i = 0; s->best_param[i]; i++)
			free(s->best_param[i]);
		free(s->best_param);
	}
	memset(s, 0, sizeof *s);
}

void facet_train_state_log(facet_train_state *s, const facet_epoch_log *e)
{
	if (s->nlog == s->caplog) {
		s->caplog = s->caplog ? 2 * s->caplog : 16;
		s->log = xrealloc(s->log, sizeof *s->log * s->caplog);
	}
	s->log[s->nlog++] = *e;
}

void facet_train_state_keep_best(facet_train_state *s, const facet_net *net)
{
	if (!s->best_param) {
		s->best_param = xcalloc(net->nparam + 1, sizeof(float *));
		for (int i = 0; i < net->nparam; i++)
			s->best_param[i] = xmalloc(sizeof(float) * net->param[i]->n);
	}
	for (int i = 0; i < net->nparam; i++)
		memcpy(s->best_param[i], net->param[i]->data, sizeof(float) * net->param[i]->n);
}

void facet_train_state_restore_best(const facet_train_state *s, facet_net *net)
{
	if (!s->best_param)
		return;
	for (int i = 0; i < net->nparam; i++)
		memcpy(net->param[i]->data, s->best_param[i], sizeof(float) * net->param[i]->n);
}

/* ---------------------------------------------------------------- early stopping, plateau */

void facet_train_schedule_init(facet_train_state *s, const facet_train_cfg *c)
{
	s->plateau_lr = c->lr;
}

float facet_train_schedule_lr(const facet_train_state *s, const facet_train_cfg *c, int epoch)
{
	return facet_schedule_lr(c, epoch, s->epochs, s->plateau_lr);
}

int facet_train_schedule_update(facet_train_state *s, const facet_net *net,
                                const facet_epoch_log *e)
{
	const facet_train_cfg *c = &net->train;
	double monitor = e->has_val ? e->val.loss : e->train.loss;
	int events = 0;

	if (monitor < s->best) {
		s->best = monitor;
		s->best_epoch = e->epoch;
		s->bad_epochs = 0;
		if (c->restore_best)
			facet_train_state_keep_best(s, net);
	} else {
		s->bad_epochs++;
		if (c->patience && s->bad_epochs >= c->patience) {
			s->stopped = 1;
			events |= FACET_TRAIN_EARLY_STOP;
		}
	}
	if (c->schedule == FACET_SCHED_PLATEAU) {
		if (monitor < s->plateau_best) {
			s->plateau_best = monitor;
			s->plateau_bad = 0;
		} else if (++s->plateau_bad >= c->plateau_patience) {
			s->plateau_lr = fmaxf(s->plateau_lr * c->plateau_factor, c->min_lr);
			s->plateau_bad = 0;
			events |= FACET_TRAIN_LR_CUT;
		}
	}
	return events;
}

int facet_train_schedule_finish(const facet_train_state *s, facet_net *net)
{
	if (!net->train.restore_best || !s->best_param || s->best_epoch == s->epoch)
		return 0;
	facet_train_state_restore_best(s, net);
	return 1;
}
