/*
 * The heads' losses. Each head's last [dense] outputs logits z; the loss applies the link:
 *   age        mse | l1 | smoothl1 on (age - mean) / std (identity link)
 *   gender     bce: binary cross-entropy on sigmoid(z), z the logit of "female"
 *   ethnicity  ce:  categorical cross-entropy on softmax(z) over the 5 classes
 * Only samples with a label count; the loss is their mean, and a batch without one adds nothing.
 * Computed from logits in the numerically stable forms (log-sum-exp, softplus), in double.
 */
#include <math.h>
#include <string.h>
#include "nn/nn.h"

const char *const facet_head_names[FACET_HEADS] = {"age", "gender", "ethnicity"};
const char *const facet_loss_names[] = {"mse", "l1", "smoothl1", "bce", "ce", NULL};

int facet_head_units(facet_head_kind h)
{
	return h == FACET_HEAD_ETHNICITY ? FACET_N_ETHNICITY : 1;
}

/* One sample: loss and d loss / d z_j for j < units. */
static double sample_loss(facet_loss_kind k, const float *z, float t, int units, double *g)
{
	double d, e;
	switch (k) {
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
	case FACET_LOSS_BCE: /* softplus(z) - t z */
		d = z[0];
		e = 1 / (1 + exp(-d));
		g[0] = e - t;
		return (d > 0 ? d : 0) + log1p(exp(-fabs(d))) - t * d;
	case FACET_LOSS_CE: {
		double mx = z[0], s = 0;
		for (int j = 1; j < units; j++)
			mx = z[j] > mx ? z[j] : mx;
		for (int j = 0; j < units; j++)
			s += exp(z[j] - mx);
		for (int j = 0; j < units; j++)
			g[j] = exp(z[j] - mx) / s - (j == (int)t);
		return log(s) + mx - z[(int)t];
	}
	}
	return 0;
}

double facet_loss(facet_loss_kind k, const float *z, const float *t, const unsigned char *have,
                  int n, int units, float scale, float *dz, int *count)
{
	int c = 0;
	for (int i = 0; i < n; i++)
		c += have[i] != 0;
	*count = c;
	if (dz)
		memset(dz, 0, sizeof(float) * n * units);
	if (!c)
		return 0;
	double sum = 0, g[FACET_N_ETHNICITY];
	for (int i = 0; i < n; i++) {
		if (!have[i])
			continue;
		sum += sample_loss(k, z + (size_t)i * units, t[i], units, g);
		if (dz)
			for (int j = 0; j < units; j++)
				dz[(size_t)i * units + j] = (float)(scale * g[j] / c);
	}
	return sum / c;
}
