/*
 * The numbers facet-eda and facet-report print: running statistics, regression errors,
 * confusion matrices with per-class precision/recall/F1, ROC AUC, Pearson correlation, quantiles
 * from integer histograms, age bands.
 *
 * Everything here is a small accumulator updated once per record (memory independent of the
 * number of records), except ROC AUC, which needs every (score, label) pair: 8 bytes a record.
 * Definitions follow scikit-learn's, so its functions serve as the independent reference in the
 * tests: a class's precision is 0 when nothing was predicted as it (zero_division=0), macro
 * averages are over the classes seen in the truth or the predictions, and AUC counts ties as
 * half (the trapezoidal ROC area).
 *
 * Confidence intervals are two-sided at z (FACET_Z95 for 95 %): Wilson score intervals for
 * proportions (accuracy, precision, recall), as scipy.stats.binomtest(k, n).proportion_ci(
 * method="wilson") gives them, and the normal approximation for the MAE.
 */
#ifndef FACET_METRICS_H
#define FACET_METRICS_H

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- running statistics */

/* Mean, variance (Welford), minimum and maximum of a stream of values. */
typedef struct {
	uint64_t n;
	double mean, m2;
	double min, max;
} facet_stat;

void facet_stat_add(facet_stat *s, double x);
double facet_stat_sd(const facet_stat *s); /* population standard deviation; 0 for n < 2 */

/* Pearson correlation of pairs (x, y), accumulated only where both are known. */
typedef struct {
	uint64_t n;
	double sx, sy, sxx, syy, sxy;
} facet_corr;

void facet_corr_add(facet_corr *c, double x, double y);
/* NAN for fewer than two pairs or a constant variable. */
double facet_corr_value(const facet_corr *c);

/* Quantile q (0..1) of the values 0..nbins-1 counted in h, interpolated linearly between the
 * two nearest ranks (numpy's default). NAN when h is all zero. */
double facet_hist_quantile(const uint64_t *h, int nbins, double q);

/* ---------------------------------------------------------------- regression */

typedef struct {
	uint64_t n;
	double sum_abs, sum_sq, sum_err; /* of pred - actual */
} facet_reg;

void facet_reg_add(facet_reg *r, double actual, double pred);
double facet_reg_mae(const facet_reg *r); /* NAN when n = 0, as the others */
double facet_reg_mse(const facet_reg *r);
double facet_reg_rmse(const facet_reg *r);
double facet_reg_bias(const facet_reg *r); /* mean signed error: > 0 predicts too old */

/* Interval of the MAE by the normal approximation: mae +- z * s / sqrt(n), s the sample standard
 * deviation (n - 1 in the denominator) of |pred - actual|, from sum_abs and sum_sq. The lower end
 * is clamped at 0 (an MAE is never negative). Returns 0; with n < 2 (no spread to measure) sets
 * *lo and *hi to NAN and returns -1. */
int facet_reg_mae_ci(const facet_reg *r, double z, double *lo, double *hi);

/* Age bands 0-9, 10-19, ..., 70-79, 80+. */
#define FACET_N_AGE_BANDS 9
extern const char *const facet_age_band_names[FACET_N_AGE_BANDS];
int facet_age_band(double age);

/* ---------------------------------------------------------------- classification */

#define FACET_MAX_CLASSES 8

/* m[t][p]: records of true class t predicted as p. */
typedef struct {
	int k;
	uint64_t m[FACET_MAX_CLASSES][FACET_MAX_CLASSES];
} facet_confusion;

void facet_confusion_init(facet_confusion *c, int k);
void facet_confusion_add(facet_confusion *c, int truth, int pred);
uint64_t facet_confusion_total(const facet_confusion *c);

typedef struct {
	uint64_t n;
	uint64_t correct;                      /* the diagonal: accuracy = correct / n */
	double accuracy;                       /* NAN when n = 0 */
	uint64_t tp[FACET_MAX_CLASSES];        /* true positives per class */
	uint64_t support[FACET_MAX_CLASSES];   /* true count per class */
	uint64_t predicted[FACET_MAX_CLASSES]; /* predicted count per class */
	double precision[FACET_MAX_CLASSES], recall[FACET_MAX_CLASSES], f1[FACET_MAX_CLASSES];
	int present[FACET_MAX_CLASSES]; /* seen in the truth or the predictions */
	int n_present;
	double macro_precision, macro_recall, macro_f1; /* over the present classes */
} facet_class_report;

void facet_confusion_report(const facet_confusion *c, facet_class_report *out);

/* ---------------------------------------------------------------- confidence intervals */

/* z of a two-sided 95 % interval: the 0.975 quantile of the standard normal. */
#define FACET_Z95 1.959963984540054

/* Wilson score interval of the proportion p = k / n at z:
 *   centre = (p + z^2 / 2n) / (1 + z^2 / n)
 *   half   = z / (1 + z^2 / n) * sqrt(p (1 - p) / n + z^2 / 4n^2)
 * 0 <= *lo <= p <= *hi <= 1, *lo exactly 0 when k = 0 and *hi exactly 1 when k = n. Returns 0;
 * with n = 0 or k > n sets both to NAN and returns -1 (no division by zero). */
int facet_wilson(uint64_t k, uint64_t n, double z, double *lo, double *hi);

/* Two-sided p-value of the exact McNemar test: b faces only model A got right, c only model B;
 * under "each is as likely to be the one right", X ~ Binomial(b + c, 1/2), and p is
 * min(1, 2 P(X <= min(b, c))), as scipy.stats.binomtest(b, b + c).pvalue gives it (1 when
 * b + c = 0). */
double facet_mcnemar_p(uint64_t b, uint64_t c);
/* Two-sided p-value of a standard normal statistic: P(|Z| >= |z|) = erfc(|z| / sqrt 2). */
double facet_normal_p(double z);

/* Index of the largest of p[0..k) (the first on ties). */
int facet_argmax(const double *p, int k);

/* One (score, label) pair for ROC AUC: label 1 is the positive class. */
typedef struct {
	float score;
	uint8_t label;
} facet_scored;

/* Area under the ROC curve, ties counted half. Sorts s by score. NAN unless both labels occur. */
double facet_auc(facet_scored *s, size_t n);

/* ROC curve of s (sorted by facet_auc): one point per distinct score, from (0,0) to (1,1), at
 * most max points (evenly thinned). fpr and tpr hold max values. Returns the number of points. */
int facet_roc(const facet_scored *s, size_t n, double *fpr, double *tpr, int max);

#endif
