/*
 * int8 scoring: the reference kernels, the int8 part of a net, calibration (see nn/quant.h).
 */
#include "nn/quant.h"

#include <math.h>
#include <string.h>

int facet_q8_last(const facet_net *net)
{
	int last = -1;
	for (int i = 0; i < net->ntrunk; i++) {
		const facet_layer *l = &net->trunk[i];
		if (l->skip)
			continue;
		if (l->kind == FACET_CONV &&
		    (l->act == FACET_ACT_LINEAR || l->act == FACET_ACT_RELU))
			last = i;
		else if (l->kind != FACET_MAXPOOL)
			break;
	}
	return last;
}

const char *facet_q8_check(const facet_net *net)
{
	static char msg[160];
	int last = facet_q8_last(net);
	if (!net->folded)
		return "internal error: int8 needs the folded net";
	if (last < 0)
		return "its trunk does not start with a convolution: it has nothing to run in int8";
	if (!net->q8_samples)
		return "it has no int8 calibration (facet-quantize makes one)";
	for (int i = 0; i < last; i++) {
		const facet_layer *l = &net->trunk[i];
		if (l->kind == FACET_CONV && !l->skip && !(l->q8_range > 0)) {
			snprintf(msg, sizeof msg,
			         "it has no int8 range for trunk.%d (calibrate it again with facet-quantize)",
			         i);
			return msg;
		}
	}
	return NULL;
}

float facet_q8_input_range(const facet_net *net)
{
	double r = 0;
	for (int c = 0; c < net->input.channels; c++) {
		double m = net->input.mean[c], s = net->input.std[c];
		double a = fmax(fabs(0 - m), fabs(1 - m)) / s;
		r = fmax(r, a);
	}
	return (float)r;
}

void facet_q8_quantize_weights(const float *w /* [K, per] */, int K, size_t per, int even,
                               int8_t *q /* [K, per] */, float *scale /* [K] */)
{
	float top = even ? 126 : 127, step = even ? 2 : 1;
	for (int k = 0; k < K; k++) {
		const float *wk = w + (size_t)k * per;
		float m = 0;
		for (size_t j = 0; j < per; j++)
			m = fmaxf(m, fabsf(wk[j]));
		scale[k] = m > 0 ? m / top : 1;
		for (size_t j = 0; j < per; j++) {
			float v = step * nearbyintf(wk[j] / (step * scale[k]));
			q[(size_t)k * per + j] = (int8_t)(v > top ? top : v < -top ? -top : v);
		}
	}
}

/* ---------------------------------------------------------------- reference kernels */

/* The code of value v at scale s: round to nearest even, saturated. */
static inline int q8_code(float v, float scale, int is_signed, int levels)
{
	float r = nearbyintf(v / scale);
	float lo = is_signed ? -128 : 0, hi = is_signed ? 127 : (float)levels;
	if (!(r >= lo)) /* NaN too */
		r = lo;
	return (int)(r > hi ? hi : r);
}

static inline int q8_at(const void *x, size_t i, int is_signed)
{
	return is_signed ? ((const int8_t *)x)[i] : ((const uint8_t *)x)[i];
}

static inline void q8_put(void *y, size_t i, int code, int is_signed)
{
	if (is_signed)
		((int8_t *)y)[i] = (int8_t)code;
	else
		((uint8_t *)y)[i] = (uint8_t)code;
}

void facet_ref_q8_quantize(const float *x /* [n] */, void *q /* [n] */, size_t n, float scale,
                           int is_signed, int levels)
{
	for (size_t i = 0; i < n; i++)
		q8_put(q, i, q8_code(x[i], scale, is_signed, levels), is_signed);
}

void facet_ref_q8_conv_forward(const facet_q8_conv_args *a, const void *x /* [N,C,H,W] */,
                               void *y /* [N,K,OH,OW] */)
{
	int N = a->N, C = a->C, H = a->H, W = a->W, K = a->K, R = a->R, S = a->S;
	int OH = (H + 2 * a->pad_h - R) / a->stride + 1,
	    OW = (W + 2 * a->pad_w - S) / a->stride + 1;
#pragma omp parallel for collapse(2) schedule(static)
	for (int n = 0; n < N; n++)
		for (int k = 0; k < K; k++)
			for (int oh = 0; oh < OH; oh++)
				for (int ow = 0; ow < OW; ow++) {
					int32_t acc = 0; /* |acc| <= C*R*S * 255 * 127 */
					for (int c = 0; c < C; c++)
						for (int r = 0; r < R; r++) {
							int ih = oh * a->stride - a->pad_h + r;
							if (ih < 0 || ih >= H)
								continue;
							for (int s = 0; s < S; s++) {
								int iw =
								    ow * a->stride - a->pad_w + s;
								if (iw < 0 || iw >= W)
									continue;
								size_t xi =
								    (((size_t)n * C + c) * H + ih) *
								        W +
								    iw;
								size_t wi =
								    (((size_t)k * C + c) * R + r) *
								        S +
								    s;
								acc += q8_at(x, xi, a->x_signed) *
								       a->w[wi];
							}
						}
					float t = a->x_scale * a->w_scale[k] * (float)acc + a->b[k];
					if (a->relu && !(t > 0))
						t = 0;
					size_t yi = (((size_t)n * K + k) * OH + oh) * OW + ow;
					if (a->y_type == FACET_Q8_F32)
						((float *)y)[yi] = t;
					else
						q8_put(y, yi,
						       q8_code(t, a->y_scale,
						               a->y_type == FACET_Q8_S8,
						               a->y_levels),
						       a->y_type == FACET_Q8_S8);
				}
}

void facet_ref_q8_pool_forward(const void *x /* [N,C,H,W] */, void *y /* [N,C,OH,OW] */, int N,
                               int C, int H, int W, int k, int s, int is_signed)
{
	int OH = (H - k) / s + 1, OW = (W - k) / s + 1;
	for (long p = 0; p < (long)N * C; p++)
		for (int oh = 0; oh < OH; oh++)
			for (int ow = 0; ow < OW; ow++) {
				int m = -129;
				for (int i = 0; i < k; i++)
					for (int j = 0; j < k; j++) {
						size_t xi =
						    ((size_t)p * H + oh * s + i) * W + ow * s + j;
						int v = q8_at(x, xi, is_signed);
						m = v > m ? v : m;
					}
				q8_put(y, ((size_t)p * OH + oh) * OW + ow, m, is_signed);
			}
}

/* ---------------------------------------------------------------- the int8 part of a net */

typedef struct {
	int kind;      /* FACET_CONV or FACET_MAXPOOL; -1 for a skipped layer */
	int is_signed; /* its output codes are int8, else uint8 */
	float scale;   /* of its output codes */
	void *y;       /* its output codes; NULL for the last convolution (fp32 into its l->y) */
	facet_q8_conv_args a;
	int8_t *wq;
	float *ws;
	facet_fast_q8_conv *conv;
	facet_fast_q8_pool *pool;
} q8_layer;

struct facet_q8_net {
	int fast, n, last;
	float in_scale;
	int8_t *xq;  /* the input's codes: NHWC on the fast path, NCHW on the reference */
	q8_layer *l; /* [last + 1] */
};

static int pad_of(const facet_layer *l)
{
	return l->pad ? (l->size - 1) / 2 : 0;
}

facet_q8_net *facet_q8_new(facet_net *net, int n, int fast)
{
	const char *why = facet_q8_check(net);
	if (why)
		die("internal error: int8 on a net that cannot run it: %s", why);
	facet_q8_net *q = xcalloc(1, sizeof *q);
	int levels = facet_fast_q8_u8_levels();
	q->fast = fast;
	q->n = n;
	q->last = facet_q8_last(net);
	q->in_scale = net->q8_input / 127;
	q->xq = xmalloc((size_t)n * net->input.channels * net->input.height * net->input.width);
	q->l = xcalloc((size_t)q->last + 1, sizeof *q->l);
	int x_signed = 1;
	float x_scale = q->in_scale;
	for (int i = 0; i <= q->last; i++) {
		facet_layer *l = &net->trunk[i];
		q8_layer *ql = &q->l[i];
		size_t out = (size_t)n * l->oc * l->oh * l->ow;
		l->q8 = 1;
		ql->kind = l->skip ? -1 : (int)l->kind;
		if (ql->kind == FACET_CONV) {
			int relu = l->act == FACET_ACT_RELU;
			size_t per = (size_t)l->ic * l->size * l->size;
			ql->wq = xmalloc(per * (size_t)l->oc);
			ql->ws = xmalloc(sizeof *ql->ws * (size_t)l->oc);
			/* without VNNI oneDNN halves the weights of a convolution on int8 input */
			int even = x_signed && levels < 255;
			facet_q8_quantize_weights(l->param[0].data, l->oc, per, even, ql->wq,
			                          ql->ws);
			ql->a = (facet_q8_conv_args){.N = n,
			                             .C = l->ic,
			                             .H = l->ih,
			                             .W = l->iw,
			                             .K = l->oc,
			                             .R = l->size,
			                             .S = l->size,
			                             .stride = l->stride,
			                             .pad_h = pad_of(l),
			                             .pad_w = pad_of(l),
			                             .relu = relu,
			                             .x_signed = x_signed,
			                             .x_scale = x_scale,
			                             .w = ql->wq,
			                             .w_scale = ql->ws,
			                             .b = l->param[1].data};
			if (i == q->last) {
				ql->a.y_type = FACET_Q8_F32;
			} else {
				ql->a.y_type = relu ? FACET_Q8_U8 : FACET_Q8_S8;
				ql->a.y_levels = relu ? levels : 127;
				ql->a.y_scale = l->q8_range / (float)ql->a.y_levels;
				ql->y = xmalloc(out);
			}
			ql->is_signed = !relu;
			ql->scale = ql->a.y_scale;
			if (fast)
				ql->conv = facet_fast_q8_conv_new(&ql->a);
		} else if (ql->kind == FACET_MAXPOOL) {
			ql->is_signed = x_signed;
			ql->scale = x_scale;
			ql->y = xmalloc(out);
			if (fast)
				ql->pool = facet_fast_q8_pool_new(n, l->ic, l->ih, l->iw, l->size,
				                                  l->stride, x_signed);
		} else {
			continue;
		}
		x_signed = ql->is_signed;
		x_scale = ql->scale;
	}
	return q;
}

/* x [n,C,H,W] fp32 -> codes [n,H,W,C]: the input of oneDNN's first convolution. */
static void quantize_nhwc(const float *x, int8_t *q, int n, int C, int H, int W, float scale)
{
#pragma omp parallel for collapse(2) schedule(static)
	for (int i = 0; i < n; i++)
		for (int h = 0; h < H; h++)
			for (int w = 0; w < W; w++)
				for (int c = 0; c < C; c++)
					q[(((size_t)i * H + h) * W + w) * C + c] = (int8_t)q8_code(
					    x[(((size_t)i * C + c) * H + h) * W + w], scale, 1,
					    127);
}

void facet_q8_forward(facet_q8_net *q, const facet_net *net)
{
	const facet_input_cfg *in = &net->input;
	if (q->fast)
		quantize_nhwc(net->x, q->xq, q->n, in->channels, in->height, in->width,
		              q->in_scale);
	else
		facet_ref_q8_quantize(net->x, q->xq,
		                      (size_t)q->n * in->channels * in->height * in->width,
		                      q->in_scale, 1, 127);
	const void *x = q->xq;
	for (int i = 0; i <= q->last; i++) {
		q8_layer *ql = &q->l[i];
		const facet_layer *l = &net->trunk[i];
		void *y = i == q->last ? (void *)l->y : ql->y;
		if (ql->kind == FACET_CONV) {
			if (q->fast)
				facet_fast_q8_conv_forward(ql->conv, x, y);
			else
				facet_ref_q8_conv_forward(&ql->a, x, y);
		} else if (ql->kind == FACET_MAXPOOL) {
			if (q->fast)
				facet_fast_q8_pool_forward(ql->pool, x, y);
			else
				facet_ref_q8_pool_forward(x, y, q->n, l->ic, l->ih, l->iw, l->size,
				                          l->stride, ql->is_signed);
		} else {
			continue;
		}
		x = y;
	}
}

void facet_q8_free(facet_q8_net *q)
{
	if (!q)
		return;
	for (int i = 0; i <= q->last; i++) {
		facet_fast_q8_conv_free(q->l[i].conv);
		facet_fast_q8_pool_free(q->l[i].pool);
		free(q->l[i].wq);
		free(q->l[i].ws);
		free(q->l[i].y);
	}
	free(q->l);
	free(q->xq);
	free(q);
}

/* ---------------------------------------------------------------- calibration */

/* A histogram of |v| > 0 over [0, top) in Q8_BINS bins; top doubles (pairs of bins merge) when a
 * larger value comes, so one pass over the stream suffices. Zeros are exact at any scale and
 * are not counted. */
#define Q8_BINS 2048
typedef struct {
	double top; /* 0 before the first value */
	double count[Q8_BINS];
} q8_hist;

static void hist_add(q8_hist *h, const float *v, size_t n, int absval)
{
	float m = 0;
	for (size_t i = 0; i < n; i++) {
		float a = absval ? fabsf(v[i]) : v[i];
		m = a > m ? a : m; /* NaN is passed over */
	}
	if (!(m > 0))
		return;
	if (h->top == 0)
		h->top = (double)m * (1 + 1.0 / Q8_BINS);
	while ((double)m >= h->top) {
		for (int i = 0; i < Q8_BINS / 2; i++)
			h->count[i] = h->count[2 * i] + h->count[2 * i + 1];
		memset(h->count + Q8_BINS / 2, 0, sizeof h->count / 2);
		h->top *= 2;
	}
	double per = Q8_BINS / h->top;
	for (size_t i = 0; i < n; i++) {
		float a = absval ? fabsf(v[i]) : v[i];
		if (a > 0) {
			int b = (int)(a * per);
			h->count[b < Q8_BINS ? b : Q8_BINS - 1]++;
		}
	}
}

/* The clip c minimising the expected squared error of quantizing the histogram's values to
 * levels steps of c / levels: (v - c)^2 above c, (c / levels)^2 / 12 (uniform rounding) below. */
static double hist_clip(const q8_hist *h, int levels)
{
	if (!(h->top > 0))
		return 1; /* the layer gave only zeros: any range codes them */
	double w = h->top / Q8_BINS, best = INFINITY, clip = h->top;
	double below = 0; /* values in bins under the candidate */
	for (int c = 1; c <= Q8_BINS; c++) {
		double cl = c * w, step = cl / levels, err;
		below += h->count[c - 1];
		err = below * step * step / 12;
		for (int i = c; i < Q8_BINS; i++)
			if (h->count[i]) {
				double d = (i + 0.5) * w - cl;
				err += h->count[i] * d * d;
			}
		if (err < best) {
			best = err;
			clip = cl;
		}
	}
	return clip;
}

struct facet_q8_calib {
	int last;
	long samples;
	q8_hist *h; /* [last]: one per trunk layer before the last convolution */
};

facet_q8_calib *facet_q8_calib_new(const facet_net *net)
{
	facet_q8_calib *c = xcalloc(1, sizeof *c);
	c->last = facet_q8_last(net);
	c->h = xcalloc(c->last > 0 ? (size_t)c->last : 1, sizeof *c->h);
	return c;
}

void facet_q8_calib_add(facet_q8_calib *c, const facet_net *net, int k)
{
	for (int i = 0; i < c->last; i++) {
		const facet_layer *l = &net->trunk[i];
		if (l->kind != FACET_CONV || l->skip)
			continue;
		hist_add(&c->h[i], l->y, (size_t)k * l->oc * l->oh * l->ow,
		         l->act != FACET_ACT_RELU);
	}
	c->samples += k;
}

/* Ranges are chosen for 127 steps: where a uint8 code may reach 255 (VNNI) the same range is
 * quantized twice as finely. */
long facet_q8_calib_finish(facet_q8_calib *c, facet_net *net)
{
	for (int i = 0; i < net->ntrunk; i++)
		net->trunk[i].q8_range = 0;
	for (int i = 0; i < c->last; i++) {
		facet_layer *l = &net->trunk[i];
		if (l->kind == FACET_CONV && !l->skip)
			l->q8_range = (float)hist_clip(&c->h[i], 127);
	}
	net->q8_input = facet_q8_input_range(net);
	net->q8_samples = (int)(c->samples < 1000000000 ? c->samples : 1000000000);
	return c->samples;
}

void facet_q8_calib_free(facet_q8_calib *c)
{
	if (!c)
		return;
	free(c->h);
	free(c);
}
