/*
 * Metrics for facet-eda and facet-report. See metrics.h for the definitions.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

void facet_stat_add(facet_stat *s, double x)
{
	if (s->n == 0 || x < s->min)
		s->min = x;
	if (s->n == 0 || x > s->max)
		s->max = x;
	s->n++;
	double d = x - s->mean;
	s->mean += d / (double)s->n;
	s->m2 += d * (x - s->mean);
}

double facet_stat_sd(const facet_stat *s)
{
	return s->n < 2 ? 0 : sqrt(s->m2 / (double)s->n);
}

void facet_corr_add(facet_corr *c, double x, double y)
{
	c->n++;
	c->sx += x;
	c->sy += y;
	c->sxx += x * x;
	c->syy += y * y;
	c->sxy += x * y;
}

double facet_corr_value(const facet_corr *c)
{
	if (c->n < 2)
		return NAN;
	double n = (double)c->n;
	double vx = c->sxx - c->sx * c->sx / n;
	double vy = c->syy - c->sy * c->sy / n;
	double cov = c->sxy - c->sx * c->sy / n;
	/* Sums of squares of small integers are exact; guard the rest against rounding. */
	if (vx <= 1e-12 * fmax(1, c->sxx) || vy <= 1e-12 * fmax(1, c->syy))
		return NAN;
	double r = cov / sqrt(vx * vy);
	return fmax(-1, fmin(1, r));
}

/* The value of 0-based rank k among the counted values. */
static int hist_rank(const uint64_t *h, int nbins, uint64_t k)
{
	uint64_t seen = 0;
	for (int v = 0; v < nbins; v++) {
		seen += h[v];
		if (k < seen)
			return v;
	}
	return nbins - 1;
}

double facet_hist_quantile(const uint64_t *h, int nbins, double q)
{
	uint64_t n = 0;
	for (int v = 0; v < nbins; v++)
		n += h[v];
	if (n == 0)
		return NAN;
	double pos = q * (double)(n - 1);
	uint64_t lo = (uint64_t)floor(pos);
	double frac = pos - (double)lo;
	double a = hist_rank(h, nbins, lo);
	double b = frac > 0 ? hist_rank(h, nbins, lo + 1) : a;
	return a + (b - a) * frac;
}

void facet_reg_add(facet_reg *r, double actual, double pred)
{
	double e = pred - actual;
	r->n++;
	r->sum_abs += fabs(e);
	r->sum_sq += e * e;
	r->sum_err += e;
}

double facet_reg_mae(const facet_reg *r)
{
	return r->n ? r->sum_abs / (double)r->n : NAN;
}

double facet_reg_mse(const facet_reg *r)
{
	return r->n ? r->sum_sq / (double)r->n : NAN;
}

double facet_reg_rmse(const facet_reg *r)
{
	return sqrt(facet_reg_mse(r));
}

double facet_reg_bias(const facet_reg *r)
{
	return r->n ? r->sum_err / (double)r->n : NAN;
}

int facet_reg_mae_ci(const facet_reg *r, double z, double *lo, double *hi)
{
	if (r->n < 2) {
		*lo = *hi = NAN;
		return -1;
	}
	double n = (double)r->n, mae = r->sum_abs / n;
	/* sum (|e| - mae)^2 = sum e^2 - n mae^2; rounding can take it just below 0. */
	double var = fmax(0, (r->sum_sq - n * mae * mae) / (n - 1));
	double half = z * sqrt(var / n);
	*lo = fmax(0, mae - half);
	*hi = mae + half;
	return 0;
}

const char *const facet_age_band_names[FACET_N_AGE_BANDS] = {
    "0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80+",
};

int facet_age_band(double age)
{
	if (!(age >= 0))
		return 0;
	int b = (int)(age / 10);
	return b < FACET_N_AGE_BANDS ? b : FACET_N_AGE_BANDS - 1;
}

void facet_confusion_init(facet_confusion *c, int k)
{
	memset(c, 0, sizeof *c);
	c->k = k;
}

void facet_confusion_add(facet_confusion *c, int truth, int pred)
{
	if (truth >= 0 && truth < c->k && pred >= 0 && pred < c->k)
		c->m[truth][pred]++;
}

uint64_t facet_confusion_total(const facet_confusion *c)
{
	uint64_t n = 0;
	for (int t = 0; t < c->k; t++)
		for (int p = 0; p < c->k; p++)
			n += c->m[t][p];
	return n;
}

void facet_confusion_report(const facet_confusion *c, facet_class_report *out)
{
	memset(out, 0, sizeof *out);
	for (int t = 0; t < c->k; t++)
		for (int p = 0; p < c->k; p++) {
			out->n += c->m[t][p];
			out->support[t] += c->m[t][p];
			out->predicted[p] += c->m[t][p];
			if (t == p)
				out->correct += c->m[t][p];
		}
	out->accuracy = out->n ? (double)out->correct / (double)out->n : NAN;
	for (int i = 0; i < c->k; i++) {
		uint64_t tp = out->tp[i] = c->m[i][i];
		out->precision[i] = out->predicted[i] ? (double)tp / (double)out->predicted[i] : 0;
		out->recall[i] = out->support[i] ? (double)tp / (double)out->support[i] : 0;
		double pr = out->precision[i] + out->recall[i];
		out->f1[i] = pr > 0 ? 2 * out->precision[i] * out->recall[i] / pr : 0;
		out->present[i] = out->support[i] || out->predicted[i];
		if (out->present[i]) {
			out->n_present++;
			out->macro_precision += out->precision[i];
			out->macro_recall += out->recall[i];
			out->macro_f1 += out->f1[i];
		}
	}
	if (out->n_present) {
		out->macro_precision /= out->n_present;
		out->macro_recall /= out->n_present;
		out->macro_f1 /= out->n_present;
	} else {
		out->macro_precision = out->macro_recall = out->macro_f1 = NAN;
	}
}

int facet_wilson(uint64_t k, uint64_t n, double z, double *lo, double *hi)
{
	if (n == 0 || k > n) {
		*lo = *hi = NAN;
		return -1;
	}
	double nn = (double)n, p = (double)k / nn, z2 = z * z;
	double denom = 1 + z2 / nn;
	double centre = (p + z2 / (2 * nn)) / denom;
	double half = z / denom * sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
	/* The ends touch 0 and 1 exactly in theory; keep rounding from moving them past p. */
	*lo = k == 0 ? 0 : fmin(p, fmax(0, centre - half));
	*hi = k == n ? 1 : fmax(p, fmin(1, centre + half));
	return 0;
}

double facet_mcnemar_p(uint64_t b, uint64_t c)
{
	uint64_t n = b + c, k = b < c ? b : c;
	if (n == 0)
		return 1;
	/* P(X <= k) summed in order of growing terms; each term from lgamma keeps large n finite */
	double lnc = lgamma((double)n + 1) - (double)n * log(2), tail = 0;
	for (uint64_t i = 0; i <= k; i++)
		tail += exp(lnc - lgamma((double)i + 1) - lgamma((double)(n - i) + 1));
	return fmin(1, 2 * tail);
}

double facet_normal_p(double z)
{
	return isnan(z) ? NAN : erfc(fabs(z) / sqrt(2));
}

int facet_argmax(const double *p, int k)
{
	int best = 0;
	for (int i = 1; i < k; i++)
		if (p[i] > p[best])
			best = i;
	return best;
}

/* Descending score: the ROC walk starts at the highest threshold. */
static int scored_cmp(const void *a, const void *b)
{
	float x = ((const facet_scored *)a)->score, y = ((const facet_scored *)b)->score;
	return (x < y) - (x > y);
}

double facet_auc(facet_scored *s, size_t n)
{
	qsort(s, n, sizeof *s, scored_cmp);
	/* Walk the groups of tied scores: each negative in a group beats every positive seen in
	 * earlier groups and ties with the positives of its own group (half a win each). */
	double pos = 0, neg = 0, area = 0;
	for (size_t i = 0; i < n;) {
		size_t j = i;
		double gp = 0, gn = 0;
		while (j < n && s[j].score == s[i].score) {
			if (s[j].label)
				gp++;
			else
				gn++;
			j++;
		}
		area += gn * (pos + gp / 2);
		pos += gp;
		neg += gn;
		i = j;
	}
	if (pos == 0 || neg == 0)
		return NAN;
	return area / (pos * neg);
}

int facet_roc(const facet_scored *s, size_t n, double *fpr, double *tpr, int max)
{
	double pos = 0, neg = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i].label)
			pos++;
		else
			neg++;
	}
	if (pos == 0 || neg == 0 || max < 2)
		return 0;
	/* Count the distinct thresholds to thin evenly. */
	size_t groups = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || s[i].score != s[i - 1].score)
			groups++;
	size_t step = groups / (size_t)(max - 2) + 1;
	int m = 0;
	fpr[m] = tpr[m] = 0;
	m++;
	double tp = 0, fp = 0;
	size_t g = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i].label)
			tp++;
		else
			fp++;
		int group_end = i + 1 == n || s[i + 1].score != s[i].score;
		if (!group_end)
			continue;
		g++;
		if ((g % step == 0 || i + 1 == n) && m < max) {
			fpr[m] = fp / neg;
			tpr[m] = tp / pos;
			m++;
		}
	}
	return m;
}
