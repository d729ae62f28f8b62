/*
 * The heads' losses. Each head's last [dense] outputs logits z; the loss applies the link:
 *   age        mse | l1 | smoothl1 on (age - mean) / std (identity link), or
 *              dldl: softmax over one output per year of age (label-distribution learning)
 *   gender     bce: binary cross-entropy on sigmoid(z), z the logit of "female"
 *   ethnicity  ce:  categorical cross-entropy on softmax(z) over the 5 classes
 * bce and ce optionally against smoothed labels (facet_loss_args.smoothing), and mixed with a
 * teacher's probabilities (distillation: facet_loss_args.distill, .soft).
 * Only samples with a label count; the loss is their mean, and a batch without one adds nothing.
 * Computed from logits in the numerically stable forms (log-sum-exp, softplus), in double.
 */
#include <math.h>
#include <string.h>
#include "nn/nn.h"

const char *const facet_head_names[FACET_HEADS] = {"age", "gender", "ethnicity"};
const char *const facet_loss_names[] = {"mse", "l1", "smoothl1", "bce", "ce", "dldl", NULL};

int facet_head_units(facet_head_kind h)
{
	return h == FACET_HEAD_ETHNICITY ? FACET_N_ETHNICITY : 1;
}

double facet_softmax(const float *z, int n, double *p)
{
	double mx = z[0], s = 0;
	for (int j = 1; j < n; j++)
		mx = z[j] > mx ? z[j] : mx;
	for (int j = 0; j < n; j++)
		s += p[j] = exp(z[j] - mx);
	for (int j = 0; j < n; j++)
		p[j] /= s;
	return mx + log(s);
}

double facet_dldl_age(const float *z, int units)
{
	double p[FACET_LOSS_MAX_UNITS], e = 0;
	facet_softmax(z, units, p);
	for (int j = 0; j < units; j++)
		e += p[j] * j;
	return e;
}

/* dldl for one sample of age a years: KL(q || p) + l1 |E - a| / age_std; g = d/dz. p, q are
 * scratch of units each. */
static double dldl_loss(const facet_loss_args *a, const float *z, double age, double *g, double *p,
                        double *lq)
{
	int K = a->units;
	double lse = facet_softmax(z, K, p);
	double mq = -INFINITY, qs = 0, e = 0, kl = 0;
	for (int j = 0; j < K; j++) {
		double d = (j - age) / a->sigma;
		lq[j] = -0.5 * d * d;
		mq = lq[j] > mq ? lq[j] : mq;
		e += p[j] * j;
	}
	for (int j = 0; j < K; j++)
		qs += exp(lq[j] - mq);
	double lqs = mq + log(qs), sign = e > age ? 1 : e < age ? -1 : 0;
	double w = a->l1 * sign / a->age_std;
	for (int j = 0; j < K; j++) {
		double lqj = lq[j] - lqs, q = exp(lqj);
		if (q > 0)
			kl += q * (lqj - (z[j] - lse));
		g[j] = p[j] - q + w * p[j] * (j - e);
	}
	return kl + a->l1 * fabs(e - age) / a->age_std;
}

/* One sample: loss and d loss / d z_j for j < units (p, q: scratch for dldl); soft: the
 * teacher's row for bce and ce, or NULL. */
static double sample_loss(const facet_loss_args *a, const float *z, float t, const float *soft,
                          double *g, double *p, double *q)
{
	double d, e, s, keep = 1;
	if (soft) /* the label's share of the target; the teacher's is distill */
		keep = 1 - (double)a->distill;
	switch (a->kind) {
	case FACET_LOSS_MSE:
		d = z[0] - t;
		g[0] = 2 * d;
		return d * d;
	case FACET_LOSS_L1:
		d = z[0] - t;
		g[0] = d > 0 ? 1 : d < 0 ? -1 : 0;
		return fabs(d);
	case FACET_LOSS_SMOOTHL1: /* Huber with delta 1 */
		d = z[0] - t;
		if (fabs(d) < 1) {
			g[0] = d;
			return 0.5 * d * d;
		}
		g[0] = d > 0 ? 1 : -1;
		return fabs(d) - 0.5;
	case FACET_LOSS_BCE: /* softplus(z) - t' z, t' the smoothed label (mixed with soft) */
		d = z[0];
		e = 1 / (1 + exp(-d));
		s = t * (1 - (double)a->smoothing) + 0.5 * a->smoothing;
		if (soft)
			s = keep * s + (double)a->distill * soft[0];
		g[0] = e - s;
		return (d > 0 ? d : 0) + log1p(exp(-fabs(d))) - s * d;
	case FACET_LOSS_CE: { /* log-sum-exp - sum_j q_j z_j, q the smoothed one-hot row (mixed
		               with soft; q sums to 1) */
		double lse = facet_softmax(z, a->units, g);
		double u = keep * a->smoothing / a->units, one = keep * (1 - (double)a->smoothing);
		double qz = one * z[(int)t];
		for (int j = 0; j < a->units; j++) {
			double qj = u + (soft ? (double)a->distill * soft[j] : 0);
			qz += qj * z[j];
			g[j] -= qj;
		}
		g[(int)t] -= one;
		return lse - qz;
	}
	case FACET_LOSS_DLDL:
		return dldl_loss(a, z, (double)t * a->age_std + a->age_mean, g, p, q);
	}
	return 0;
}

double facet_loss(const facet_loss_args *a, const float *z, const float *t,
                  const unsigned char *have, int n, float *dz, int *count)
{
	int c = 0, units = a->units;
	for (int i = 0; i < n; i++)
		c += have[i] != 0;
	*count = c;
	if (dz)
		memset(dz, 0, sizeof(float) * n * units);
	if (!c)
		return 0;
	/* gradient and dldl's two scratch rows, on the stack: no allocation per step */
	double sum = 0, g[3 * FACET_LOSS_MAX_UNITS];
	for (int i = 0; i < n; i++) {
		if (!have[i])
			continue;
		const float *soft = a->soft ? a->soft + (size_t)i * units : NULL;
		sum +=
		    sample_loss(a, z + (size_t)i * units, t[i], soft, g, g + units, g + 2 * units);
		if (dz)
			for (int j = 0; j < units; j++)
				dz[(size_t)i * units + j] = (float)(a->scale * g[j] / c);
	}
	return sum / c;
}
