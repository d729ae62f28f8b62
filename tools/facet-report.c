/* facet-report: measure a scored facet stream against its labels: age errors, gender and
 * ethnicity accuracy, confusion matrices, precision/recall/F1, ROC AUC, the same per group and
 * age band, with 95 % confidence intervals, training curves, and the worst and random faces, as
 * an HTML page, charts and metrics.json. */
#include "facet.h"
#include "html.h"
#include "json.h"
#include "metrics.h"
#include "montage.h"
#include "plot.h"

#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: facet-report --out DIR [OPTION]...\n"
    "Read a scored facet stream (records with labels and a \"pred\" map, as facet-score writes)\n"
    "on standard input and measure the predictions in DIR: index.html (charts, tables, faces),\n"
    "metrics.json (every figure, machine-readable) and the charts as PNG or SVG files. A short\n"
    "summary goes to stderr. Accuracies and MAEs come with 95 % confidence intervals (Wilson\n"
    "score; normal approximation for the MAE). Nothing is written to stdout.\n"
    "\n"
    "  -o, --out DIR        write the report into DIR (made if missing; files are replaced)\n"
    "      --metrics FILE   also draw the training curves from FILE (facet-train --metrics)\n"
    "  -w, --worst N        faces in the worst-predictions montage (default 24, 0 for none)\n"
    "  -n, --random N       faces in the random montage (default 24, 0 for none)\n"
    "  -S, --seed N         seed of the random montage (default 1)\n"
    "  -f, --format FMT     charts as png (default) or svg\n"
    "      --tile PX        width of a face in the montages, in pixels (default 128)\n"
    "  -q, --quiet          no summary on stderr\n"
    "  -h, --help           show this help and exit\n"
    "  -V, --version        show the version and exit\n"
    "\n"
    "Exit status: 0 ok, 1 bad input (empty, no predictions, no labels) or a write error,\n"
    "2 usage error.\n";

struct opts {
	const char *out;
	const char *metrics;
	long worst, random, seed, tile;
	const char *ext;
};

static void parse_options(int argc, char **argv, struct opts *o)
{
	enum { OPT_METRICS = 256, OPT_TILE };
	static const struct option longopts[] = {{"out", required_argument, NULL, 'o'},
	                                         {"metrics", required_argument, NULL, OPT_METRICS},
	                                         {"worst", required_argument, NULL, 'w'},
	                                         {"random", required_argument, NULL, 'n'},
	                                         {"seed", required_argument, NULL, 'S'},
	                                         {"format", required_argument, NULL, 'f'},
	                                         {"tile", required_argument, NULL, OPT_TILE},
	                                         {"quiet", no_argument, NULL, 'q'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {"version", no_argument, NULL, 'V'},
	                                         {NULL, 0, NULL, 0}};
	int c;

	memset(o, 0, sizeof *o);
	o->worst = 24;
	o->random = 24;
	o->seed = 1;
	o->tile = 128;
	o->ext = ".png";
	while ((c = facet_getopt(argc, argv, "o:w:n:S:f:qhV", longopts)) != -1) {
		switch (c) {
		case 'o':
			o->out = optarg;
			break;
		case OPT_METRICS:
			o->metrics = optarg;
			break;
		case 'w':
			o->worst = facet_parse_long("--worst", optarg, 0, 1024);
			break;
		case 'n':
			o->random = facet_parse_long("--random", optarg, 0, 1024);
			break;
		case 'S':
			o->seed = facet_parse_long("--seed", optarg, 0, LONG_MAX);
			break;
		case 'f':
			if (strcmp(optarg, "png") == 0)
				o->ext = ".png";
			else if (strcmp(optarg, "svg") == 0)
				o->ext = ".svg";
			else
				usage_error("--format must be png or svg, not '%s'", optarg);
			break;
		case OPT_TILE:
			o->tile = facet_parse_long("--tile", optarg, 32, 1024);
			break;
		default:
			facet_std_option(c, usage);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' (the stream comes on standard input)",
		            argv[optind]);
	if (!o->out || !*o->out)
		usage_error("--out DIR is required");
}

/* ---------------------------------------------------------------- what is measured */

/* Slices of the fairness table: gender x ethnicity, then age bands. */
enum {
	N_GROUPS = FACET_N_GENDER * FACET_N_ETHNICITY,
	N_SLICES = N_GROUPS + FACET_N_AGE_BANDS,
};

typedef struct {
	facet_reg age;
	facet_confusion gender, eth;
} slice;

/* Per scored record, what exact AUC and the scatter plot need: a few bytes each. */
typedef struct {
	float *actual, *pred; /* age */
	size_t n_age, cap_age;
	facet_scored *gender; /* p(female), true gender */
	uint8_t *gender_band; /* age band of each gender pair, 255 when age is unknown */
	size_t n_gender, cap_gender;
} pairs;

typedef struct {
	uint64_t records, scored, labelled, compared;
	facet_reg age;
	facet_confusion gender, eth;
	slice slices[N_SLICES];
	pairs p;
	facet_tiles worst, random;
} report;

/* Training metrics, one entry per epoch. NAN where a value is absent. */
enum { M_LOSS, M_AGE_MAE, M_GENDER_ACC, M_ETH_ACC, N_METRICS };
static const char *const metric_keys[N_METRICS] = {"loss", "age_mae", "gender_acc",
                                                   "ethnicity_acc"};
static const char *const metric_titles[N_METRICS] = {"Training loss", "Age MAE during training",
                                                     "Gender accuracy during training",
                                                     "Ethnicity accuracy during training"};
static const char *const metric_units[N_METRICS] = {"loss", "MAE (years)", "accuracy", "accuracy"};

typedef struct {
	double epoch, lr, time_s, images_per_s;
	double train[N_METRICS], val[N_METRICS];
} epoch_row;

typedef struct {
	epoch_row *rows;
	int n, cap;
	int has_val;
} training;

static void report_init(report *r, const struct opts *o)
{
	memset(r, 0, sizeof *r);
	facet_confusion_init(&r->gender, FACET_N_GENDER);
	facet_confusion_init(&r->eth, FACET_N_ETHNICITY);
	for (int s = 0; s < N_SLICES; s++) {
		facet_confusion_init(&r->slices[s].gender, FACET_N_GENDER);
		facet_confusion_init(&r->slices[s].eth, FACET_N_ETHNICITY);
	}
	facet_tiles_init(&r->worst, (int)o->worst, 0);
	facet_tiles_init(&r->random, (int)o->random, (uint64_t)o->seed);
}

static void report_free(report *r)
{
	free(r->p.actual);
	free(r->p.pred);
	free(r->p.gender);
	free(r->p.gender_band);
	facet_tiles_free(&r->worst);
	facet_tiles_free(&r->random);
}

static void push_age(pairs *p, double actual, double pred)
{
	if (p->n_age == p->cap_age) {
		p->cap_age = p->cap_age ? 2 * p->cap_age : 1024;
		p->actual = xrealloc(p->actual, p->cap_age * sizeof *p->actual);
		p->pred = xrealloc(p->pred, p->cap_age * sizeof *p->pred);
	}
	p->actual[p->n_age] = (float)actual;
	p->pred[p->n_age++] = (float)pred;
}

static void push_gender(pairs *p, double p_female, int truth, int band)
{
	if (p->n_gender == p->cap_gender) {
		p->cap_gender = p->cap_gender ? 2 * p->cap_gender : 1024;
		p->gender = xrealloc(p->gender, p->cap_gender * sizeof *p->gender);
		p->gender_band = xrealloc(p->gender_band, p->cap_gender);
	}
	p->gender[p->n_gender] = (facet_scored){(float)p_female, (uint8_t)truth};
	p->gender_band[p->n_gender++] = (uint8_t)band;
}

/* Letters for captions. */
static const char *const gender_short[FACET_N_GENDER] = {"M", "F"};

static void caption_side(char *buf, size_t n, const char *what, double age, int gender, int eth)
{
	char a[16];
	if (isfinite(age))
		snprintf(a, sizeof a, "%.0f", age);
	else
		snprintf(a, sizeof a, "?");
	snprintf(buf, n, "%s %s %s %s", what, a, gender >= 0 ? gender_short[gender] : "?",
	         eth >= 0 ? facet_ethnicity_names[eth] : "?");
}

/* How wrong a prediction is, for the worst-N montage: an age error of 10 years counts as much as
 * a class predicted with no probability on the true class. */
static double wrongness(int64_t age, int64_t gender, int64_t eth, const facet_pred *p)
{
	double w = 0;
	if (age >= 0 && p->has_age)
		w += fabs(p->age - (double)age) / 10;
	if (gender >= 0 && p->has_gender)
		w += 1 - p->gender[gender];
	if (eth >= 0 && p->has_ethnicity)
		w += 1 - p->ethnicity[eth];
	return w;
}

static void add_faces(report *r, const facet_record *rec, int64_t age, int64_t gender, int64_t eth,
                      const facet_pred *p)
{
	facet_tensor im;
	if (!facet_record_tensor(rec, "image", &im) || !facet_is_image(&im))
		return;
	char id[128], act[48], pre[48], caption[96];
	facet_record_id_str(rec, id, sizeof id);
	caption_side(act, sizeof act, "true", age >= 0 ? (double)age : NAN, (int)gender, (int)eth);
	caption_side(pre, sizeof pre, "pred", p->has_age ? p->age : NAN,
	             p->has_gender ? facet_argmax(p->gender, FACET_N_GENDER) : -1,
	             p->has_ethnicity ? facet_argmax(p->ethnicity, FACET_N_ETHNICITY) : -1);
	snprintf(caption, sizeof caption, "%s\n%s", act, pre);
	double w = wrongness(age, gender, eth, p);
	facet_tile *t = facet_tiles_worst(&r->worst, w);
	if (t) {
		facet_tile_set(t, &im, caption, id, w, r->records);
		facet_tiles_worst_fix(&r->worst);
	}
	t = facet_tiles_sample(&r->random);
	if (t)
		facet_tile_set(t, &im, caption, id, w, r->records);
}

static void report_add(report *r, const facet_record *rec)
{
	int64_t age = -1, gender = -1, eth = -1;
	facet_pred p;

	r->records++;
	if (!facet_record_int(rec, "age", &age))
		age = -1;
	if (!facet_record_int(rec, "gender", &gender))
		gender = -1;
	if (!facet_record_int(rec, "ethnicity", &eth))
		eth = -1;
	int labelled = age >= 0 || gender >= 0 || eth >= 0;
	r->labelled += labelled;
	if (!facet_record_pred(rec, &p))
		return;
	r->scored++;
	if (!labelled)
		return;

	int group = gender >= 0 && eth >= 0 ? (int)(gender * FACET_N_ETHNICITY + eth) : -1;
	int band = age >= 0 ? facet_age_band((double)age) : -1;
	slice *sg = group >= 0 ? &r->slices[group] : NULL;
	slice *sb = band >= 0 ? &r->slices[N_GROUPS + band] : NULL;
	int compared = 0;

	if (age >= 0 && p.has_age) {
		facet_reg_add(&r->age, (double)age, p.age);
		if (sg)
			facet_reg_add(&sg->age, (double)age, p.age);
		facet_reg_add(&sb->age, (double)age, p.age);
		push_age(&r->p, (double)age, p.age);
		compared = 1;
	}
	if (gender >= 0 && p.has_gender) {
		int g = facet_argmax(p.gender, FACET_N_GENDER);
		facet_confusion_add(&r->gender, (int)gender, g);
		if (sg)
			facet_confusion_add(&sg->gender, (int)gender, g);
		if (sb)
			facet_confusion_add(&sb->gender, (int)gender, g);
		push_gender(&r->p, p.gender[1], (int)gender, band >= 0 ? band : 255);
		compared = 1;
	}
	if (eth >= 0 && p.has_ethnicity) {
		int k = facet_argmax(p.ethnicity, FACET_N_ETHNICITY);
		facet_confusion_add(&r->eth, (int)eth, k);
		if (sg)
			facet_confusion_add(&sg->eth, (int)eth, k);
		if (sb)
			facet_confusion_add(&sb->eth, (int)eth, k);
		compared = 1;
	}
	r->compared += compared;
	if (compared)
		add_faces(r, rec, age, gender, eth, &p);
}

/* AUC of the gender pairs in one age band (band < 0: all of them). */
static double gender_auc(const report *r, int band)
{
	size_t n = 0;
	facet_scored *s = xmalloc((r->p.n_gender + 1) * sizeof *s);
	for (size_t i = 0; i < r->p.n_gender; i++)
		if (band < 0 || r->p.gender_band[i] == band)
			s[n++] = r->p.gender[i];
	double auc = facet_auc(s, n);
	free(s);
	return auc;
}

/* ---------------------------------------------------------------- confidence intervals */

/* A 95 % interval; both ends NAN where there is none (no face, or one age error). */
typedef struct {
	double lo, hi;
} interval;

/* Wilson score interval of k successes out of n: accuracy, precision, recall. */
static interval ci_prop(uint64_t k, uint64_t n)
{
	interval c;
	facet_wilson(k, n, FACET_Z95, &c.lo, &c.hi);
	return c;
}

/* Normal-approximation interval of an MAE. */
static interval ci_mae(const facet_reg *g)
{
	interval c;
	facet_reg_mae_ci(g, FACET_Z95, &c.lo, &c.hi);
	return c;
}

static int ci_ok(interval c)
{
	return isfinite(c.lo) && isfinite(c.hi);
}

/* prefix "LO-HI" suffix, each end printed with fmt, or "" where there is no interval. */
static void fmt_range(char *buf, size_t n, interval c, const char *fmt, const char *prefix,
                      const char *suffix)
{
	char lo[32], hi[32];
	if (!ci_ok(c)) {
		snprintf(buf, n, "%s", "");
		return;
	}
	snprintf(lo, sizeof lo, fmt, c.lo);
	snprintf(hi, sizeof hi, fmt, c.hi);
	snprintf(buf, n, "%s%s-%s%s", prefix, lo, hi, suffix);
}

/* " (95 % CI LO-HI)", or "" where there is no interval. */
static void fmt_ci(char *buf, size_t n, interval c, const char *fmt)
{
	fmt_range(buf, n, c, fmt, " (95 % CI ", ")");
}

/* ---------------------------------------------------------------- training metrics */

/* Fill out[] from a "train" or "val" map; returns whether the map is there. */
static int read_split(const msgpack_object *m, double *out, const char *path, uint64_t n,
                      const char *which)
{
	for (int k = 0; k < N_METRICS; k++)
		out[k] = NAN;
	if (!m)
		return 0;
	if (m->type != MSGPACK_OBJECT_MAP)
		die("'%s' is not a map (%s, epoch record %llu)", which, path,
		    (unsigned long long)n);
	for (int k = 0; k < N_METRICS; k++) {
		const msgpack_object *v = facet_msgpack_get(m, metric_keys[k]);
		if (v && !facet_msgpack_number(v, &out[k]))
			die("'%s.%s' is not a number (%s, epoch record %llu)", which,
			    metric_keys[k], path, (unsigned long long)n);
	}
	return 1;
}

static void training_read(training *t, const char *path)
{
	facet_reader *rd = facet_reader_open_path(path);
	facet_record *rec;
	memset(t, 0, sizeof *t);
	while (facet_reader_next(rd, &rec)) {
		uint64_t n = facet_reader_count(rd);
		if (t->n == t->cap) {
			t->cap = t->cap ? 2 * t->cap : 64;
			t->rows = xrealloc(t->rows, (size_t)t->cap * sizeof *t->rows);
		}
		epoch_row *e = &t->rows[t->n];
		if (!facet_msgpack_number(facet_record_get(rec, "epoch"), &e->epoch))
			die("no number 'epoch': is this a facet-train metrics file? (%s, epoch record %llu)",
			    path, (unsigned long long)n);
		if (!facet_msgpack_number(facet_record_get(rec, "lr"), &e->lr))
			e->lr = NAN;
		if (!facet_msgpack_number(facet_record_get(rec, "time_s"), &e->time_s))
			e->time_s = NAN;
		if (!facet_msgpack_number(facet_record_get(rec, "images_per_s"), &e->images_per_s))
			e->images_per_s = NAN;
		read_split(facet_record_get(rec, "train"), e->train, path, n, "train");
		t->has_val |= read_split(facet_record_get(rec, "val"), e->val, path, n, "val");
		t->n++;
	}
	facet_reader_close(rd);
	if (t->n == 0)
		die("no epochs in the training metrics file (%s)", path);
}

/* ---------------------------------------------------------------- charts */

typedef struct {
	char *age_scatter, *age_error, *age_bands, *gender_conf, *eth_conf, *gender_roc,
	    *gender_prf, *eth_prf, *fair_age, *fair_gender, *fair_eth, *worst, *random;
	char *curves[N_METRICS + 1]; /* + learning rate */
} outputs;

static char *chart_name(const struct opts *o, const char *base)
{
	size_t n = strlen(base) + 8;
	char *s = xmalloc(n);
	snprintf(s, n, "%s%s", base, o->ext);
	return s;
}

/* Draw a chart into the output folder; the file name, or NULL if not drawn. */
#define DRAW(o, base, call)                                                                        \
	({                                                                                         \
		char *name_ = chart_name(o, base);                                                 \
		char *path = facet_outdir_path((o)->out, name_);                                   \
		int rc_ = (call);                                                                  \
		free(path);                                                                        \
		if (rc_ != 0) {                                                                    \
			free(name_);                                                               \
			name_ = NULL;                                                              \
		}                                                                                  \
		name_;                                                                             \
	})

static void charts_age(const report *r, const struct opts *o, outputs *out)
{
	const pairs *p = &r->p;
	if (p->n_age == 0)
		return;
	double *x = xmalloc(p->n_age * sizeof *x), *y = xmalloc(p->n_age * sizeof *y);
	double lo = 0, hi = 0;
	for (size_t i = 0; i < p->n_age; i++) {
		x[i] = p->actual[i];
		y[i] = p->pred[i];
		double e = y[i] - x[i];
		lo = fmin(lo, e);
		hi = fmax(hi, e);
	}
	facet_plot_frame fs = {"Predicted vs actual age", "actual age (years)",
	                       "predicted age (years)", 640, 600};
	out->age_scatter =
	    DRAW(o, "age-scatter", facet_plot_scatter(path, &fs, (int)p->n_age, x, y, 1));

	/* Error histogram: 2-year bins over the range of errors, symmetric around 0. */
	double m = fmax(2, ceil(fmax(-lo, hi) / 2) * 2);
	int nbins = (int)(2 * m / 2);
	if (nbins > 200)
		nbins = 200;
	double w = 2 * m / nbins;
	double *edges = xmalloc((size_t)(nbins + 1) * sizeof *edges);
	double *counts = xcalloc((size_t)nbins, sizeof *counts);
	for (int i = 0; i <= nbins; i++)
		edges[i] = -m + i * w;
	for (size_t i = 0; i < p->n_age; i++) {
		int b = (int)floor((y[i] - x[i] + m) / w);
		counts[b < 0 ? 0 : b >= nbins ? nbins - 1 : b]++;
	}
	facet_plot_frame fe = {"Age error (predicted - actual)", "error (years)", "faces", 0, 0};
	out->age_error =
	    DRAW(o, "age-error", facet_plot_histogram(path, &fe, nbins, edges, counts));
	free(edges);
	free(counts);
	free(x);
	free(y);

	const char *names[FACET_N_AGE_BANDS];
	double mae[FACET_N_AGE_BANDS];
	int n = 0;
	for (int b = 0; b < FACET_N_AGE_BANDS; b++) {
		const facet_reg *g = &r->slices[N_GROUPS + b].age;
		if (g->n) {
			names[n] = facet_age_band_names[b];
			mae[n++] = facet_reg_mae(g);
		}
	}
	facet_plot_frame fb = {"Age MAE per age band", "actual age (years)", "MAE (years)", 0, 0};
	out->age_bands =
	    DRAW(o, "age-mae-by-band", facet_plot_bars(path, &fb, n, names, mae, "%.1f"));
}

static char *chart_confusion(const struct opts *o, const char *base, const char *title,
                             const facet_confusion *c, const char *const *names)
{
	double v[FACET_MAX_CLASSES * FACET_MAX_CLASSES], top = 0;
	for (int t = 0; t < c->k; t++)
		for (int p = 0; p < c->k; p++) {
			v[t * c->k + p] = (double)c->m[t][p];
			top = fmax(top, v[t * c->k + p]);
		}
	facet_plot_frame f = {title, "predicted", "actual", 680, 600};
	return DRAW(o, base,
	            facet_plot_heatmap(path, &f, c->k, c->k, names, names, v, 0, top > 0 ? top : 1,
	                               "%.0f"));
}

static char *chart_prf(const struct opts *o, const char *base, const char *title,
                       const facet_class_report *cr, int k, const char *const *names)
{
	static const char *const series[3] = {"precision", "recall", "F1"};
	double v[3 * FACET_MAX_CLASSES];
	for (int i = 0; i < k; i++) {
		v[i] = cr->precision[i];
		v[k + i] = cr->recall[i];
		v[2 * k + i] = cr->f1[i];
	}
	facet_plot_frame f = {title, "class", "score", 0, 0};
	return DRAW(o, base, facet_plot_grouped_bars(path, &f, k, 3, names, series, v, 1.0));
}

static void charts_classes(report *r, const struct opts *o, outputs *out)
{
	facet_class_report cr;
	if (facet_confusion_total(&r->gender)) {
		out->gender_conf = chart_confusion(o, "gender-confusion", "Gender confusion matrix",
		                                   &r->gender, facet_gender_names);
		facet_confusion_report(&r->gender, &cr);
		out->gender_prf = chart_prf(o, "gender-prf", "Gender: precision, recall, F1", &cr,
		                            FACET_N_GENDER, facet_gender_names);
		enum { MAX_ROC = 512 };
		double fpr[MAX_ROC], tpr[MAX_ROC];
		facet_scored *s = xmalloc(r->p.n_gender * sizeof *s);
		memcpy(s, r->p.gender, r->p.n_gender * sizeof *s);
		double auc = facet_auc(s, r->p.n_gender);
		int n = facet_roc(s, r->p.n_gender, fpr, tpr, MAX_ROC);
		free(s);
		if (n > 0) {
			static const double diag[2] = {0, 1};
			char title[64];
			snprintf(title, sizeof title,
			         "Gender ROC curve (female positive), AUC %.3f", auc);
			facet_plot_series ser[2] = {{"model", n, fpr, tpr},
			                            {"chance", 2, diag, diag}};
			facet_plot_frame f = {title, "false positive rate", "true positive rate",
			                      640, 600};
			out->gender_roc = DRAW(o, "gender-roc", facet_plot_lines(path, &f, 2, ser));
		}
	}
	if (facet_confusion_total(&r->eth)) {
		out->eth_conf =
		    chart_confusion(o, "ethnicity-confusion", "Ethnicity confusion matrix", &r->eth,
		                    facet_ethnicity_names);
		facet_confusion_report(&r->eth, &cr);
		out->eth_prf = chart_prf(o, "ethnicity-prf", "Ethnicity: precision, recall, F1",
		                         &cr, FACET_N_ETHNICITY, facet_ethnicity_names);
	}
}

/* One grouped bar chart over the gender x ethnicity groups: groups = ethnicities, series =
 * genders. value(slice) is NAN where the group has no data (drawn as 0). */
static char *chart_fair(const report *r, const struct opts *o, const char *base, const char *title,
                        const char *ylabel, double (*value)(const slice *), double ymax)
{
	double v[N_GROUPS];
	int any = 0;
	for (int g = 0; g < FACET_N_GENDER; g++)
		for (int k = 0; k < FACET_N_ETHNICITY; k++) {
			double x = value(&r->slices[g * FACET_N_ETHNICITY + k]);
			any |= isfinite(x);
			v[g * FACET_N_ETHNICITY + k] = isfinite(x) ? x : 0;
		}
	if (!any)
		return NULL;
	facet_plot_frame f = {title, "ethnicity", ylabel, 0, 0};
	return DRAW(o, base,
	            facet_plot_grouped_bars(path, &f, FACET_N_ETHNICITY, FACET_N_GENDER,
	                                    facet_ethnicity_names, facet_gender_names, v, ymax));
}

static double slice_age_mae(const slice *s)
{
	return facet_reg_mae(&s->age);
}

static double slice_gender_acc(const slice *s)
{
	facet_class_report cr;
	facet_confusion_report(&s->gender, &cr);
	return cr.accuracy;
}

static double slice_eth_acc(const slice *s)
{
	facet_class_report cr;
	facet_confusion_report(&s->eth, &cr);
	return cr.accuracy;
}

static void charts_training(const training *t, const struct opts *o, outputs *out)
{
	double *x = xmalloc((size_t)t->n * sizeof *x), *tr = xmalloc((size_t)t->n * sizeof *tr),
	       *va = xmalloc((size_t)t->n * sizeof *va);
	for (int k = 0; k <= N_METRICS; k++) {
		int nt = 0, nv = 0;
		for (int i = 0; i < t->n; i++) {
			const epoch_row *e = &t->rows[i];
			double a = k < N_METRICS ? e->train[k] : e->lr;
			double b = k < N_METRICS ? e->val[k] : NAN;
			if (isfinite(a))
				x[nt] = e->epoch, tr[nt++] = a;
			if (isfinite(b))
				va[nv++] = b;
		}
		/* Validation points share the epochs of the train points only when both are
		 * complete; otherwise draw them at their own epochs. */
		double *xv = xmalloc((size_t)t->n * sizeof *xv);
		for (int i = 0, j = 0; i < t->n; i++)
			if (k < N_METRICS && isfinite(t->rows[i].val[k]))
				xv[j++] = t->rows[i].epoch;
		if (nt + nv > 0) {
			facet_plot_series s[2] = {{"train", nt, x, tr}, {"validation", nv, xv, va}};
			char base[32];
			snprintf(base, sizeof base, "curve-%s",
			         k < N_METRICS ? metric_keys[k] : "lr");
			facet_plot_frame f = {
			    k < N_METRICS ? metric_titles[k] : "Learning rate", "epoch",
			    k < N_METRICS ? metric_units[k] : "learning rate", 0, 0};
			if (k == N_METRICS)
				s[0].name = "learning rate";
			out->curves[k] = DRAW(o, base, facet_plot_lines(path, &f, nv ? 2 : 1, s));
		}
		free(xv);
	}
	free(x);
	free(tr);
	free(va);
}

static char *montage(facet_tiles *t, const struct opts *o, const char *name, int by_score)
{
	if (t->n == 0)
		return NULL;
	if (by_score)
		facet_tiles_sort_by_score(t);
	else
		facet_tiles_sort_by_record(t);
	char *path = facet_outdir_path(o->out, name);
	int rc = facet_montage_write(path, t, facet_montage_columns(t->n), (int)o->tile);
	free(path);
	if (rc != 0)
		facet_output_failures++;
	return rc == 0 ? xstrdup(name) : NULL;
}

static void write_charts(report *r, const training *t, const struct opts *o, outputs *out)
{
	memset(out, 0, sizeof *out);
	charts_age(r, o, out);
	charts_classes(r, o, out);
	out->fair_age =
	    chart_fair(r, o, "fairness-age", "Age MAE per group", "MAE (years)", slice_age_mae, 0);
	out->fair_gender = chart_fair(r, o, "fairness-gender", "Gender accuracy per group",
	                              "accuracy", slice_gender_acc, 1);
	out->fair_eth = chart_fair(r, o, "fairness-ethnicity", "Ethnicity accuracy per group",
	                           "accuracy", slice_eth_acc, 1);
	if (t)
		charts_training(t, o, out);
	out->worst = montage(&r->worst, o, "worst.png", 1);
	out->random = montage(&r->random, o, "random.png", 0);
}

static void outputs_free(outputs *out)
{
	char **p[] = {&out->age_scatter, &out->age_error,   &out->age_bands,  &out->gender_conf,
	              &out->eth_conf,    &out->gender_roc,  &out->gender_prf, &out->eth_prf,
	              &out->fair_age,    &out->fair_gender, &out->fair_eth,   &out->worst,
	              &out->random};
	for (size_t i = 0; i < sizeof p / sizeof *p; i++)
		free(*p[i]);
	for (int k = 0; k <= N_METRICS; k++)
		free(out->curves[k]);
}

/* ---------------------------------------------------------------- metrics.json */

/* [lo, hi], or null where there is no interval. */
static json_t *jci(interval c)
{
	if (!ci_ok(c))
		return json_null();
	json_t *a = json_array();
	json_array_append_new(a, json_real(c.lo));
	json_array_append_new(a, json_real(c.hi));
	return a;
}

static json_t *json_reg(const facet_reg *g)
{
	json_t *o = json_object();
	json_object_set_new(o, "count", json_integer((json_int_t)g->n));
	json_object_set_new(o, "mae", facet_json_number(facet_reg_mae(g)));
	json_object_set_new(o, "mae_ci", jci(ci_mae(g)));
	json_object_set_new(o, "mse", facet_json_number(facet_reg_mse(g)));
	json_object_set_new(o, "rmse", facet_json_number(facet_reg_rmse(g)));
	json_object_set_new(o, "bias", facet_json_number(facet_reg_bias(g)));
	return o;
}

static json_t *json_classes(const facet_confusion *c, const char *const *names)
{
	facet_class_report cr;
	facet_confusion_report(c, &cr);
	json_t *o = json_object(), *conf = json_array(), *classes = json_object(),
	       *macro = json_object();
	json_object_set_new(o, "count", json_integer((json_int_t)cr.n));
	json_object_set_new(o, "accuracy", facet_json_number(cr.accuracy));
	json_object_set_new(o, "accuracy_ci", jci(ci_prop(cr.correct, cr.n)));
	for (int t = 0; t < c->k; t++) {
		json_t *row = json_array();
		for (int p = 0; p < c->k; p++)
			json_array_append_new(row, json_integer((json_int_t)c->m[t][p]));
		json_array_append_new(conf, row);
		json_t *cl = json_object();
		json_object_set_new(cl, "precision", facet_json_number(cr.precision[t]));
		json_object_set_new(cl, "precision_ci", jci(ci_prop(cr.tp[t], cr.predicted[t])));
		json_object_set_new(cl, "recall", facet_json_number(cr.recall[t]));
		json_object_set_new(cl, "recall_ci", jci(ci_prop(cr.tp[t], cr.support[t])));
		json_object_set_new(cl, "f1", facet_json_number(cr.f1[t]));
		json_object_set_new(cl, "support", json_integer((json_int_t)cr.support[t]));
		json_object_set_new(cl, "predicted", json_integer((json_int_t)cr.predicted[t]));
		json_object_set_new(classes, names[t], cl);
	}
	json_object_set_new(o, "confusion", conf);
	json_object_set_new(o, "classes", classes);
	json_object_set_new(macro, "precision", facet_json_number(cr.macro_precision));
	json_object_set_new(macro, "recall", facet_json_number(cr.macro_recall));
	json_object_set_new(macro, "f1", facet_json_number(cr.macro_f1));
	json_object_set_new(o, "macro", macro);
	return o;
}

static json_t *json_slice(const report *r, int s)
{
	const slice *sl = &r->slices[s];
	facet_class_report g, e;
	facet_confusion_report(&sl->gender, &g);
	facet_confusion_report(&sl->eth, &e);
	json_t *o = json_object();
	char name[64];
	if (s < N_GROUPS) {
		int gi = s / FACET_N_ETHNICITY, ki = s % FACET_N_ETHNICITY;
		snprintf(name, sizeof name, "%s %s", facet_gender_names[gi],
		         facet_ethnicity_names[ki]);
		json_object_set_new(o, "slice", json_string(name));
		json_object_set_new(o, "gender", json_string(facet_gender_names[gi]));
		json_object_set_new(o, "ethnicity", json_string(facet_ethnicity_names[ki]));
	} else {
		snprintf(name, sizeof name, "age %s", facet_age_band_names[s - N_GROUPS]);
		json_object_set_new(o, "slice", json_string(name));
		json_object_set_new(o, "age_band", json_string(facet_age_band_names[s - N_GROUPS]));
	}
	json_object_set_new(o, "age", json_reg(&sl->age));
	json_object_set_new(o, "gender_count", json_integer((json_int_t)g.n));
	json_object_set_new(o, "gender_accuracy", facet_json_number(g.accuracy));
	json_object_set_new(o, "gender_accuracy_ci", jci(ci_prop(g.correct, g.n)));
	json_object_set_new(o, "gender_auc",
	                    facet_json_number(s < N_GROUPS ? NAN : gender_auc(r, s - N_GROUPS)));
	json_object_set_new(o, "ethnicity_count", json_integer((json_int_t)e.n));
	json_object_set_new(o, "ethnicity_accuracy", facet_json_number(e.accuracy));
	json_object_set_new(o, "ethnicity_accuracy_ci", jci(ci_prop(e.correct, e.n)));
	json_object_set_new(o, "ethnicity_macro_f1", facet_json_number(e.macro_f1));
	return o;
}

static json_t *json_tiles(const facet_tiles *t, int with_score)
{
	json_t *a = json_array();
	for (int i = 0; i < t->n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "id", json_string(t->tiles[i].id));
		json_object_set_new(o, "record", json_integer((json_int_t)t->tiles[i].record));
		if (with_score)
			json_object_set_new(o, "score", facet_json_number(t->tiles[i].score));
		json_object_set_new(o, "caption", json_string(t->tiles[i].caption));
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *json_training(const training *t)
{
	json_t *a = json_array();
	for (int i = 0; i < t->n; i++) {
		const epoch_row *e = &t->rows[i];
		json_t *o = json_object(), *tr = json_object(), *va = json_object();
		json_object_set_new(o, "epoch", facet_json_number(e->epoch));
		json_object_set_new(o, "lr", facet_json_number(e->lr));
		json_object_set_new(o, "time_s", facet_json_number(e->time_s));
		json_object_set_new(o, "images_per_s", facet_json_number(e->images_per_s));
		for (int k = 0; k < N_METRICS; k++) {
			if (isfinite(e->train[k]))
				json_object_set_new(tr, metric_keys[k],
				                    facet_json_number(e->train[k]));
			if (isfinite(e->val[k]))
				json_object_set_new(va, metric_keys[k],
				                    facet_json_number(e->val[k]));
		}
		json_object_set_new(o, "train", tr);
		if (json_object_size(va))
			json_object_set_new(o, "val", va);
		else
			json_decref(va);
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *json_files(const outputs *out)
{
	json_t *f = json_object();
	struct {
		const char *key, *file;
	} files[] = {{"age_scatter", out->age_scatter},
	             {"age_error", out->age_error},
	             {"age_mae_by_band", out->age_bands},
	             {"gender_confusion", out->gender_conf},
	             {"gender_prf", out->gender_prf},
	             {"gender_roc", out->gender_roc},
	             {"ethnicity_confusion", out->eth_conf},
	             {"ethnicity_prf", out->eth_prf},
	             {"fairness_age", out->fair_age},
	             {"fairness_gender", out->fair_gender},
	             {"fairness_ethnicity", out->fair_eth},
	             {"curve_loss", out->curves[M_LOSS]},
	             {"curve_age_mae", out->curves[M_AGE_MAE]},
	             {"curve_gender_acc", out->curves[M_GENDER_ACC]},
	             {"curve_ethnicity_acc", out->curves[M_ETH_ACC]},
	             {"curve_lr", out->curves[N_METRICS]},
	             {"worst", out->worst},
	             {"random", out->random}};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++)
		if (files[i].file)
			json_object_set_new(f, files[i].key, json_string(files[i].file));
	return f;
}

static void write_metrics_json(const report *r, const training *t, const struct opts *o,
                               const outputs *out)
{
	json_t *root = json_object();
	json_object_set_new(root, "records", json_integer((json_int_t)r->records));
	json_object_set_new(root, "scored", json_integer((json_int_t)r->scored));
	json_object_set_new(root, "compared", json_integer((json_int_t)r->compared));
	if (r->age.n) {
		json_t *age = json_reg(&r->age), *bands = json_object();
		for (int b = 0; b < FACET_N_AGE_BANDS; b++)
			json_object_set_new(bands, facet_age_band_names[b],
			                    json_reg(&r->slices[N_GROUPS + b].age));
		json_object_set_new(age, "by_band", bands);
		json_object_set_new(root, "age", age);
	}
	if (facet_confusion_total(&r->gender)) {
		json_t *g = json_classes(&r->gender, facet_gender_names);
		json_object_set_new(g, "auc", facet_json_number(gender_auc(r, -1)));
		json_object_set_new(root, "gender", g);
	}
	if (facet_confusion_total(&r->eth))
		json_object_set_new(root, "ethnicity",
		                    json_classes(&r->eth, facet_ethnicity_names));
	if (r->compared) {
		json_t *ci = json_object();
		json_object_set_new(ci, "level", json_real(0.95));
		json_object_set_new(ci, "z", json_real(FACET_Z95));
		json_object_set_new(ci, "proportions", json_string("wilson"));
		json_object_set_new(ci, "mae", json_string("normal"));
		json_object_set_new(root, "ci", ci);
		json_t *sl = json_array();
		for (int s = 0; s < N_SLICES; s++)
			json_array_append_new(sl, json_slice(r, s));
		json_object_set_new(root, "slices", sl);
		json_object_set_new(root, "worst", json_tiles(&r->worst, 1));
		json_t *rnd = json_object();
		json_object_set_new(rnd, "seed", json_integer(o->seed));
		json_object_set_new(rnd, "records", json_tiles(&r->random, 0));
		json_object_set_new(root, "random", rnd);
	}
	if (t)
		json_object_set_new(root, "training", json_training(t));
	json_object_set_new(root, "files", json_files(out));

	char *path = facet_outdir_path(o->out, "metrics.json");
	facet_atomic a;
	if (facet_atomic_open(&a, path) != 0)
		die("cannot write %s:", path);
	if (json_dumpf(root, a.f, JSON_INDENT(2) | JSON_REAL_PRECISION(17)) != 0 ||
	    fputc('\n', a.f) == EOF || facet_atomic_commit(&a) != 0)
		die("cannot write %s:", path);
	free(path);
	json_decref(root);
}

/* ---------------------------------------------------------------- index.html */

static void fmt_num(char *buf, size_t n, double x, const char *fmt)
{
	if (isfinite(x))
		snprintf(buf, n, fmt, x);
	else
		snprintf(buf, n, "-");
}

/* "X (LO-HI)" for a table cell: the figure and its interval, each printed with fmt. */
static void fmt_num_ci(char *buf, size_t n, double x, interval c, const char *fmt)
{
	char v[32], r[80];
	fmt_num(v, sizeof v, x, fmt);
	fmt_range(r, sizeof r, isfinite(x) ? c : (interval){NAN, NAN}, fmt, " (", ")");
	snprintf(buf, n, "%s%s", v, r);
}

static void html_figure(facet_html *h, const char *file, const char *alt, const char *caption)
{
	if (file)
		facet_html_img(h, file, alt, caption);
}

static void html_class_table(facet_html *h, const facet_confusion *c, const char *const *names)
{
	facet_class_report cr;
	facet_confusion_report(c, &cr);
	const char *head[5] = {"class", "precision", "recall", "F1", "support"};
	facet_html_table_begin(h, 5, head);
	for (int i = 0; i < c->k; i++) {
		char p[128], r[128], f[24], s[24];
		fmt_num_ci(p, sizeof p, cr.precision[i], ci_prop(cr.tp[i], cr.predicted[i]),
		           "%.3f");
		fmt_num_ci(r, sizeof r, cr.recall[i], ci_prop(cr.tp[i], cr.support[i]), "%.3f");
		fmt_num(f, sizeof f, cr.f1[i], "%.3f");
		snprintf(s, sizeof s, "%llu", (unsigned long long)cr.support[i]);
		const char *row[5] = {names[i], p, r, f, s};
		facet_html_table_row(h, row);
	}
	char p[24], r[24], f[24], s[24];
	fmt_num(p, sizeof p, cr.macro_precision, "%.3f");
	fmt_num(r, sizeof r, cr.macro_recall, "%.3f");
	fmt_num(f, sizeof f, cr.macro_f1, "%.3f");
	snprintf(s, sizeof s, "%llu", (unsigned long long)cr.n);
	const char *row[5] = {"macro average", p, r, f, s};
	facet_html_table_row(h, row);
	facet_html_table_end(h);
}

static void html_age(facet_html *h, const report *r, const outputs *out)
{
	facet_html_section(h, "Age");
	if (!r->age.n) {
		facet_html_note(h, "No record has both an age label and a predicted age.");
		return;
	}
	char ci[128];
	fmt_ci(ci, sizeof ci, ci_mae(&r->age), "%.2f");
	facet_html_p(h,
	             "Over %llu faces: MAE %.2f years%s, MSE %.2f, RMSE %.2f years, mean error "
	             "%+.2f years (positive: predicted too old).",
	             (unsigned long long)r->age.n, facet_reg_mae(&r->age), ci,
	             facet_reg_mse(&r->age), facet_reg_rmse(&r->age), facet_reg_bias(&r->age));
	facet_html_row_begin(h);
	html_figure(h, out->age_scatter, "predicted vs actual age",
	            "Each dot a face; the dashed line is a perfect prediction.");
	html_figure(h, out->age_error, "age error histogram",
	            "Predicted minus actual age, in 2-year bins.");
	html_figure(h, out->age_bands, "age MAE per band", "Mean absolute error per age band.");
	facet_html_row_end(h);
	const char *head[5] = {"age band", "faces", "MAE", "RMSE", "mean error"};
	facet_html_table_begin(h, 5, head);
	for (int b = 0; b < FACET_N_AGE_BANDS; b++) {
		const facet_reg *g = &r->slices[N_GROUPS + b].age;
		char n[24], a[128], m[24], e[24];
		snprintf(n, sizeof n, "%llu", (unsigned long long)g->n);
		fmt_num_ci(a, sizeof a, facet_reg_mae(g), ci_mae(g), "%.2f");
		fmt_num(m, sizeof m, facet_reg_rmse(g), "%.2f");
		fmt_num(e, sizeof e, facet_reg_bias(g), "%+.2f");
		const char *row[5] = {facet_age_band_names[b], n, a, m, e};
		facet_html_table_row(h, row);
	}
	facet_html_table_end(h);
}

static void html_classes(facet_html *h, const report *r, const outputs *out)
{
	facet_class_report cr;
	char ci[128];
	facet_html_section(h, "Gender");
	if (!facet_confusion_total(&r->gender)) {
		facet_html_note(h, "No record has both a gender label and a predicted gender.");
	} else {
		facet_confusion_report(&r->gender, &cr);
		fmt_ci(ci, sizeof ci, ci_prop(cr.correct, cr.n), "%.3f");
		facet_html_p(h,
		             "Over %llu faces: accuracy %.3f%s, ROC AUC %.3f (female as positive).",
		             (unsigned long long)cr.n, cr.accuracy, ci, gender_auc(r, -1));
		facet_html_row_begin(h);
		html_figure(h, out->gender_conf, "gender confusion matrix",
		            "Rows: actual gender; columns: predicted (the more probable one).");
		html_figure(
		    h, out->gender_roc, "gender ROC curve",
		    "True against false positive rate as the threshold on p(female) moves.");
		html_figure(h, out->gender_prf, "gender precision recall F1", NULL);
		facet_html_row_end(h);
		html_class_table(h, &r->gender, facet_gender_names);
	}
	facet_html_section(h, "Ethnicity");
	if (!facet_confusion_total(&r->eth)) {
		facet_html_note(h, "No record has both an ethnicity label and a predicted one.");
	} else {
		facet_confusion_report(&r->eth, &cr);
		fmt_ci(ci, sizeof ci, ci_prop(cr.correct, cr.n), "%.3f");
		facet_html_p(h, "Over %llu faces: accuracy %.3f%s, macro F1 %.3f.",
		             (unsigned long long)cr.n, cr.accuracy, ci, cr.macro_f1);
		facet_html_row_begin(h);
		html_figure(h, out->eth_conf, "ethnicity confusion matrix",
		            "Rows: actual ethnicity; columns: predicted (the most probable one).");
		html_figure(h, out->eth_prf, "ethnicity precision recall F1", NULL);
		facet_html_row_end(h);
		html_class_table(h, &r->eth, facet_ethnicity_names);
	}
}

static void html_fairness(facet_html *h, const report *r, const outputs *out)
{
	facet_html_section(h, "Fairness: the same metrics per group and per age band");
	facet_html_p(h,
	             "A model can be accurate on average and poor for a group. Each row "
	             "measures only the faces of that group (by their actual labels). Gender AUC "
	             "is defined where both genders occur, so per age band only. Groups are "
	             "small: compare them by their intervals, not only by their figures.");
	facet_html_row_begin(h);
	html_figure(h, out->fair_age, "age MAE per group", NULL);
	html_figure(h, out->fair_gender, "gender accuracy per group", NULL);
	html_figure(h, out->fair_eth, "ethnicity accuracy per group", NULL);
	facet_html_row_end(h);
	const char *head[8] = {"group",          "faces",       "age MAE",    "age RMSE",
	                       "age mean error", "gender acc.", "gender AUC", "ethnicity acc."};
	facet_html_table_begin(h, 8, head);
	for (int s = 0; s < N_SLICES; s++) {
		const slice *sl = &r->slices[s];
		facet_class_report g, e;
		facet_confusion_report(&sl->gender, &g);
		facet_confusion_report(&sl->eth, &e);
		uint64_t n = sl->age.n;
		n = g.n > n ? g.n : n;
		n = e.n > n ? e.n : n;
		char name[64], cnt[24], mae[128], rmse[24], bias[24], ga[128], auc[24], ea[128];
		if (s < N_GROUPS)
			snprintf(name, sizeof name, "%s %s",
			         facet_gender_names[s / FACET_N_ETHNICITY],
			         facet_ethnicity_names[s % FACET_N_ETHNICITY]);
		else
			snprintf(name, sizeof name, "age %s", facet_age_band_names[s - N_GROUPS]);
		snprintf(cnt, sizeof cnt, "%llu", (unsigned long long)n);
		fmt_num_ci(mae, sizeof mae, facet_reg_mae(&sl->age), ci_mae(&sl->age), "%.2f");
		fmt_num(rmse, sizeof rmse, facet_reg_rmse(&sl->age), "%.2f");
		fmt_num(bias, sizeof bias, facet_reg_bias(&sl->age), "%+.2f");
		fmt_num_ci(ga, sizeof ga, g.accuracy, ci_prop(g.correct, g.n), "%.3f");
		fmt_num(auc, sizeof auc, s < N_GROUPS ? NAN : gender_auc(r, s - N_GROUPS), "%.3f");
		fmt_num_ci(ea, sizeof ea, e.accuracy, ci_prop(e.correct, e.n), "%.3f");
		const char *row[8] = {name, cnt, mae, rmse, bias, ga, auc, ea};
		facet_html_table_row(h, row);
	}
	facet_html_table_end(h);
}

static void html_training(facet_html *h, const training *t, const outputs *out)
{
	facet_html_section(h, "Training");
	const epoch_row *last = &t->rows[t->n - 1];
	facet_html_p(h, "%d epochs%s; the last took %.1f s at %.0f images/s.", t->n,
	             t->has_val ? ", with validation" : " (no validation set)", last->time_s,
	             last->images_per_s);
	facet_html_row_begin(h);
	for (int k = 0; k <= N_METRICS; k++)
		html_figure(h, out->curves[k], k < N_METRICS ? metric_titles[k] : "learning rate",
		            NULL);
	facet_html_row_end(h);
}

static void html_faces(facet_html *h, const report *r, const outputs *out, const struct opts *o)
{
	if (!out->worst && !out->random)
		return;
	facet_html_section(h, "Faces: actual vs predicted");
	facet_html_p(h, "Captions read \"true AGE GENDER ETHNICITY\" over \"pred AGE GENDER "
	                "ETHNICITY\" (M male, F female).");
	if (out->worst) {
		char cap[200];
		snprintf(
		    cap, sizeof cap,
		    "The %d worst predictions, worst first: score = |age error| / 10 + (1 - p(true gender)) + (1 - p(true ethnicity)).",
		    r->worst.n);
		facet_html_img(h, out->worst, "worst predictions", cap);
		const char *head[3] = {"id", "score", "labels"};
		facet_html_table_begin(h, 3, head);
		for (int i = 0; i < r->worst.n; i++) {
			char s[24];
			snprintf(s, sizeof s, "%.2f", r->worst.tiles[i].score);
			const char *row[3] = {r->worst.tiles[i].id, s, r->worst.tiles[i].caption};
			facet_html_table_row(h, row);
		}
		facet_html_table_end(h);
	}
	if (out->random) {
		char cap[160];
		snprintf(cap, sizeof cap, "%d faces drawn at random (seed %ld), in stream order.",
		         r->random.n, o->seed);
		facet_html_img(h, out->random, "random predictions", cap);
	}
}

static void write_html(const report *r, const training *t, const struct opts *o, const outputs *out)
{
	char *path = facet_outdir_path(o->out, "index.html");
	facet_html *h = facet_html_open(path, "facet-report: how good are the predictions?");
	if (r->records) {
		facet_html_p(h, "%llu records, %llu with predictions, %llu compared with labels.",
		             (unsigned long long)r->records, (unsigned long long)r->scored,
		             (unsigned long long)r->compared);
		facet_html_p(h,
		             "In brackets: 95 %% confidence intervals (Wilson score for "
		             "accuracy, precision and recall; the normal approximation, MAE ± "
		             "1.96 sd(|error|) / sqrt(n), for the MAE). The fewer the faces, the "
		             "wider they are.");
		html_age(h, r, out);
		html_classes(h, r, out);
		html_fairness(h, r, out);
	} else {
		facet_html_note(h, "No scored records were given: this report has the training "
		                   "curves only.");
	}
	if (t)
		html_training(h, t, out);
	if (r->records)
		html_faces(h, r, out, o);
	facet_html_p(h, "Every figure on this page is in metrics.json.");
	facet_html_close(h);
	free(path);
}

/* ---------------------------------------------------------------- checks and summary */

/* A stream that cannot be measured is an error, with what to do about it. */
static void check_measurable(const report *r, const struct opts *o)
{
	if (r->records == 0) {
		if (o->metrics)
			return;
		die("empty input: no records to measure (stdin)");
	}
	if (r->scored == 0)
		die("no predictions in %llu records: no record has a 'pred' map (run facet-score first)",
		    (unsigned long long)r->records);
	if (r->labelled == 0)
		die("no labels in %llu records: nothing to compare the predictions with (run facet-label before facet-score)",
		    (unsigned long long)r->records);
	if (r->compared == 0)
		die("no record has both a label and the matching prediction (%llu scored, %llu labelled)",
		    (unsigned long long)r->scored, (unsigned long long)r->labelled);
}

static void print_summary(const report *r, const training *t, const struct opts *o)
{
	facet_class_report cr;
	char ci[128];
	if (r->records)
		facet_info("%llu records, %llu scored, %llu compared with labels",
		           (unsigned long long)r->records, (unsigned long long)r->scored,
		           (unsigned long long)r->compared);
	if (r->age.n) {
		fmt_ci(ci, sizeof ci, ci_mae(&r->age), "%.2f");
		facet_info("age: MAE %.2f%s, RMSE %.2f years over %llu faces",
		           facet_reg_mae(&r->age), ci, facet_reg_rmse(&r->age),
		           (unsigned long long)r->age.n);
	}
	if (facet_confusion_total(&r->gender)) {
		facet_confusion_report(&r->gender, &cr);
		fmt_ci(ci, sizeof ci, ci_prop(cr.correct, cr.n), "%.3f");
		facet_info("gender: accuracy %.3f%s, AUC %.3f over %llu faces", cr.accuracy, ci,
		           gender_auc(r, -1), (unsigned long long)cr.n);
	}
	if (facet_confusion_total(&r->eth)) {
		facet_confusion_report(&r->eth, &cr);
		fmt_ci(ci, sizeof ci, ci_prop(cr.correct, cr.n), "%.3f");
		facet_info("ethnicity: accuracy %.3f%s, macro F1 %.3f over %llu faces", cr.accuracy,
		           ci, cr.macro_f1, (unsigned long long)cr.n);
	}
	int worst = -1;
	for (int s = 0; s < N_GROUPS; s++)
		if (r->slices[s].age.n && (worst < 0 || facet_reg_mae(&r->slices[s].age) >
		                                            facet_reg_mae(&r->slices[worst].age)))
			worst = s;
	if (worst >= 0) {
		fmt_ci(ci, sizeof ci, ci_mae(&r->slices[worst].age), "%.2f");
		facet_info("largest age MAE in a group: %s %s, %.2f years%s over %llu faces",
		           facet_gender_names[worst / FACET_N_ETHNICITY],
		           facet_ethnicity_names[worst % FACET_N_ETHNICITY],
		           facet_reg_mae(&r->slices[worst].age), ci,
		           (unsigned long long)r->slices[worst].age.n);
	}
	if (t)
		facet_info("training: %d epochs from %s", t->n, o->metrics);
	facet_info("wrote %s/index.html", o->out);
}

int main(int argc, char **argv)
{
	struct opts o;
	report *r;
	training tr, *t = NULL;
	outputs out;
	facet_reader *rd;
	facet_record *rec;

	facet_init("facet-report");
	parse_options(argc, argv, &o);
	r = xmalloc(sizeof *r);
	report_init(r, &o);
	if (o.metrics) {
		training_read(&tr, o.metrics);
		t = &tr;
	}

	rd = facet_reader_open(stdin, "stdin");
	while (facet_reader_next(rd, &rec))
		report_add(r, rec);
	facet_reader_close(rd);
	check_measurable(r, &o);

	facet_outdir_make(o.out);
	write_charts(r, t, &o, &out);
	write_metrics_json(r, t, &o, &out);
	write_html(r, t, &o, &out);
	print_summary(r, t, &o);
	if (facet_output_failures)
		die("%d output files could not be written (see above): %s is incomplete",
		    facet_output_failures, o.out);

	outputs_free(&out);
	if (t)
		free(tr.rows);
	report_free(r);
	free(r);
	return 0;
}
