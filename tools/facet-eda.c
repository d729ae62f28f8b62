/* facet-eda: explore a facet stream: label counts and distributions, missing labels, label
 * correlations, image statistics, duplicate images and a montage of random faces, written as an
 * HTML page with charts and a summary.json. */
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
    "Usage: facet-eda --out DIR [OPTION]...\n"
    "Read a facet stream on standard input and describe it in DIR: index.html (charts, tables,\n"
    "a montage of random faces), summary.json (every figure, machine-readable) and the charts\n"
    "as PNG or SVG files. A short summary goes to stderr. Nothing is written to stdout.\n"
    "\n"
    "  -o, --out DIR        write the report into DIR (made if missing; files are replaced)\n"
    "  -n, --montage N      faces in the random montage (default 36, 0 for none)\n"
    "  -S, --seed N         seed of the montage's random sample (default 1)\n"
    "  -f, --format FMT     charts as png (default) or svg\n"
    "      --tile PX        width of a face in the montage, in pixels (default 112)\n"
    "      --max-list N     name at most N records per problem in the report (default 100)\n"
    "  -q, --quiet          no summary on stderr\n"
    "  -h, --help           show this help and exit\n"
    "  -V, --version        show the version and exit\n"
    "\n"
    "Exit status: 0 ok, 1 bad or empty input or a write error, 2 usage error.\n";

struct opts {
	const char *out;
	long montage;
	long seed;
	const char *ext; /* ".png" or ".svg" */
	long tile;
	long max_list;
};

static void parse_options(int argc, char **argv, struct opts *o)
{
	enum { OPT_TILE = 256, OPT_MAX_LIST };
	static const struct option longopts[] = {
	    {"out", required_argument, NULL, 'o'},
	    {"montage", required_argument, NULL, 'n'},
	    {"seed", required_argument, NULL, 'S'},
	    {"format", required_argument, NULL, 'f'},
	    {"tile", required_argument, NULL, OPT_TILE},
	    {"max-list", required_argument, NULL, OPT_MAX_LIST},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	int c;

	memset(o, 0, sizeof *o);
	o->montage = 36;
	o->seed = 1;
	o->ext = ".png";
	o->tile = 112;
	o->max_list = 100;
	while ((c = facet_getopt(argc, argv, "o:n:S:f:qhV", longopts)) != -1) {
		switch (c) {
		case 'o':
			o->out = optarg;
			break;
		case 'n':
			o->montage = facet_parse_long("--montage", optarg, 0, 1024);
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
		case OPT_MAX_LIST:
			o->max_list = facet_parse_long("--max-list", optarg, 0, 1000000);
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

/* ---------------------------------------------------------------- what is gathered */

enum { KEY_AGE, KEY_GENDER, KEY_ETHNICITY, N_KEYS };
static const char *const key_names[N_KEYS] = {"age", "gender", "ethnicity"};

/* Variables of the correlation matrix: age, gender (female = 1), ethnicity one-hot. */
enum { N_VARS = 2 + FACET_N_ETHNICITY };
static const char *const var_names[N_VARS] = {"age",   "female", "White", "Black",
                                              "Asian", "Indian", "Other"};

#define N_AGES (FACET_AGE_MAX + 1)
#define MAX_SHAPES 32

/* The first max_list ids of some kind of record, with an optional reason each. */
typedef struct {
	uint64_t count;
	int n;
	char **ids;
	char **why;
} id_list;

typedef struct {
	int64_t h, w, c;
	uint64_t count;
} shape_count;

/* Content hash -> first record with it. */
typedef struct {
	uint64_t hash;
	uint32_t first;
	uint32_t count;
} hash_slot;

typedef struct {
	uint64_t records, images, labelled_any;
	uint64_t age_hist[N_AGES];
	uint64_t age_by_gender[FACET_N_GENDER][N_AGES];
	uint64_t age_by_eth[FACET_N_ETHNICITY][N_AGES];
	uint64_t gender[FACET_N_GENDER], eth[FACET_N_ETHNICITY];
	uint64_t gender_by_eth[FACET_N_ETHNICITY][FACET_N_GENDER];
	facet_stat age;
	id_list missing[N_KEYS], label_errors;
	facet_corr corr[N_VARS][N_VARS];
	shape_count shapes[MAX_SHAPES];
	int n_shapes;
	uint64_t other_shapes;
	facet_stat width, height, brightness;
	facet_stat bright_gender[FACET_N_GENDER], bright_eth[FACET_N_ETHNICITY],
	    bright_band[FACET_N_AGE_BANDS];
	hash_slot *hashes;
	size_t hash_size, hash_used;
	uint64_t dup_records, dup_groups;
	id_list dups; /* why = "same image as record N" */
	facet_tiles sample;
} eda;

static void ids_add(id_list *l, long max, const char *id, const char *why)
{
	l->count++;
	if (l->n >= max)
		return;
	if (!l->ids) {
		l->ids = xcalloc((size_t)max, sizeof *l->ids);
		l->why = xcalloc((size_t)max, sizeof *l->why);
	}
	l->ids[l->n] = xstrdup(id);
	l->why[l->n] = why ? xstrdup(why) : NULL;
	l->n++;
}

static void ids_free(id_list *l)
{
	for (int i = 0; i < l->n; i++) {
		free(l->ids[i]);
		free(l->why[i]);
	}
	free(l->ids);
	free(l->why);
}

/* 64-bit content hash of an image (shape and pixels): 8 bytes a step, murmur-style mixing, the
 * bytes left over FNV-1a. */
static uint64_t image_hash(const facet_tensor *t)
{
	uint64_t h = 0x243f6a8885a308d3ULL ^ (uint64_t)t->shape[0] * 0x9e3779b97f4a7c15ULL ^
	             (uint64_t)t->shape[1] << 20 ^ (uint64_t)t->shape[2] << 40;
	const unsigned char *p = t->data;
	size_t n = t->nbytes, i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t k;
		memcpy(&k, p + i, 8);
		k *= 0x87c37b91114253d5ULL;
		k = (k << 31) | (k >> 33);
		h = (h ^ k) * 0x4cf5ad432745937fULL;
		h = (h << 27) | (h >> 37);
	}
	h = facet_fnv1a(h, p + i, n - i);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h ? h : 1;
}

/* Find or insert hash; returns its slot (count 0 when new). */
static hash_slot *hash_find(eda *e, uint64_t h)
{
	if (2 * (e->hash_used + 1) > e->hash_size) {
		hash_slot *old = e->hashes;
		size_t old_size = e->hash_size;
		e->hash_size = old_size ? 2 * old_size : 4096;
		e->hashes = xcalloc(e->hash_size, sizeof *e->hashes);
		for (size_t i = 0; i < old_size; i++)
			if (old[i].hash) {
				size_t j = old[i].hash & (e->hash_size - 1);
				while (e->hashes[j].hash)
					j = (j + 1) & (e->hash_size - 1);
				e->hashes[j] = old[i];
			}
		free(old);
	}
	size_t j = h & (e->hash_size - 1);
	while (e->hashes[j].hash && e->hashes[j].hash != h)
		j = (j + 1) & (e->hash_size - 1);
	if (!e->hashes[j].hash) {
		e->hashes[j].hash = h;
		e->hash_used++;
	}
	return &e->hashes[j];
}

/* Mean luma of an image, 0..255 (BT.601 for RGB). */
static double image_brightness(const facet_tensor *t)
{
	const unsigned char *p = t->data;
	size_t px = (size_t)(t->shape[0] * t->shape[1]);
	double sum = 0;
	if (t->shape[2] == 1) {
		uint64_t s = 0;
		for (size_t i = 0; i < px; i++)
			s += p[i];
		sum = (double)s;
	} else {
		uint64_t r = 0, g = 0, b = 0;
		for (size_t i = 0; i < px; i++) {
			r += p[3 * i];
			g += p[3 * i + 1];
			b += p[3 * i + 2];
		}
		sum = 0.299 * (double)r + 0.587 * (double)g + 0.114 * (double)b;
	}
	return px ? sum / (double)px : 0;
}

static void caption_labels(char *buf, size_t n, int64_t age, int64_t gender, int64_t eth)
{
	char a[16];
	if (age >= 0)
		snprintf(a, sizeof a, "%d y", (int)age);
	else
		snprintf(a, sizeof a, "age ?");
	snprintf(buf, n, "%s, %s\n%s", a, gender >= 0 ? facet_gender_names[gender] : "gender ?",
	         eth >= 0 ? facet_ethnicity_names[eth] : "ethnicity ?");
}

static void add_image(eda *e, const struct opts *o, const facet_tensor *im, const char *id,
                      int64_t age, int64_t gender, int64_t eth)
{
	e->images++;
	facet_stat_add(&e->height, (double)im->shape[0]);
	facet_stat_add(&e->width, (double)im->shape[1]);
	int s = 0;
	while (s < e->n_shapes &&
	       !(e->shapes[s].h == im->shape[0] && e->shapes[s].w == im->shape[1] &&
	         e->shapes[s].c == im->shape[2]))
		s++;
	if (s == e->n_shapes && s < MAX_SHAPES) {
		e->shapes[s] = (shape_count){im->shape[0], im->shape[1], im->shape[2], 0};
		e->n_shapes++;
	}
	if (s < e->n_shapes)
		e->shapes[s].count++;
	else
		e->other_shapes++;

	double b = image_brightness(im);
	facet_stat_add(&e->brightness, b);
	if (gender >= 0)
		facet_stat_add(&e->bright_gender[gender], b);
	if (eth >= 0)
		facet_stat_add(&e->bright_eth[eth], b);
	if (age >= 0)
		facet_stat_add(&e->bright_band[facet_age_band((double)age)], b);

	hash_slot *slot = hash_find(e, image_hash(im));
	if (slot->count == 0) {
		slot->first = (uint32_t)e->records;
	} else {
		char why[64];
		snprintf(why, sizeof why, "same image as record %u", slot->first);
		ids_add(&e->dups, o->max_list, id, why);
		e->dup_records++;
		if (slot->count == 1)
			e->dup_groups++;
	}
	slot->count++;

	facet_tile *tile = facet_tiles_sample(&e->sample);
	if (tile) {
		char caption[96];
		caption_labels(caption, sizeof caption, age, gender, eth);
		facet_tile_set(tile, im, caption, id, (double)e->records, e->records);
	}
}

static void add_correlations(eda *e, int64_t age, int64_t gender, int64_t eth)
{
	double v[N_VARS];
	int known[N_VARS];
	v[0] = (double)age;
	known[0] = age >= 0;
	v[1] = (double)gender;
	known[1] = gender >= 0;
	for (int k = 0; k < FACET_N_ETHNICITY; k++) {
		v[2 + k] = eth == k;
		known[2 + k] = eth >= 0;
	}
	for (int i = 0; i < N_VARS; i++)
		for (int j = 0; j < N_VARS; j++)
			if (known[i] && known[j])
				facet_corr_add(&e->corr[i][j], v[i], v[j]);
}

static void eda_add(eda *e, const struct opts *o, const facet_record *rec)
{
	int64_t lab[N_KEYS];
	char id[256];

	e->records++;
	facet_record_id_str(rec, id, sizeof id);
	if (!*id)
		snprintf(id, sizeof id, "(record %llu)", (unsigned long long)e->records);
	for (int k = 0; k < N_KEYS; k++)
		if (!facet_record_int(rec, key_names[k], &lab[k])) {
			lab[k] = -1;
			ids_add(&e->missing[k], o->max_list, id, "label absent");
		}
	size_t len;
	const char *err = facet_record_str(rec, "label_error", &len);
	if (err) {
		char why[256];
		snprintf(why, sizeof why, "%.*s", (int)(len < 255 ? len : 255), err);
		ids_add(&e->label_errors, o->max_list, id, why);
	}
	int64_t age = lab[KEY_AGE], gender = lab[KEY_GENDER], eth = lab[KEY_ETHNICITY];
	if (age >= 0 || gender >= 0 || eth >= 0)
		e->labelled_any++;
	if (age >= 0) {
		e->age_hist[age]++;
		facet_stat_add(&e->age, (double)age);
		if (gender >= 0)
			e->age_by_gender[gender][age]++;
		if (eth >= 0)
			e->age_by_eth[eth][age]++;
	}
	if (gender >= 0)
		e->gender[gender]++;
	if (eth >= 0)
		e->eth[eth]++;
	if (gender >= 0 && eth >= 0)
		e->gender_by_eth[eth][gender]++;
	add_correlations(e, age, gender, eth);

	facet_tensor im;
	if (facet_record_tensor(rec, "image", &im) && facet_is_image(&im))
		add_image(e, o, &im, id, age, gender, eth);
}

static void eda_free(eda *e)
{
	for (int k = 0; k < N_KEYS; k++)
		ids_free(&e->missing[k]);
	ids_free(&e->label_errors);
	ids_free(&e->dups);
	free(e->hashes);
	facet_tiles_free(&e->sample);
}

/* ---------------------------------------------------------------- charts */

/* The files written, for the HTML page and summary.json. */
typedef struct {
	char *age, *gender, *eth, *age_gender, *age_eth, *missing, *corr, *bright, *montage;
} outputs;

static char *chart_name(const struct opts *o, const char *base)
{
	size_t n = strlen(base) + 8;
	char *s = xmalloc(n);
	snprintf(s, n, "%s%s", base, o->ext);
	return s;
}

/* Draw a chart into the output folder; returns its file name, or NULL if not drawn. */
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

static char *chart_age(const eda *e, const struct opts *o)
{
	int top = (int)e->age.max + 1, width = 5;
	int nbins = (top + width - 1) / width;
	double edges[N_AGES + 1], counts[N_AGES];
	for (int i = 0; i <= nbins; i++)
		edges[i] = i * width;
	for (int i = 0; i < nbins; i++) {
		counts[i] = 0;
		for (int a = i * width; a < (i + 1) * width && a < N_AGES; a++)
			counts[i] += (double)e->age_hist[a];
	}
	facet_plot_frame f = {"Age distribution (5-year bins)", "age (years)", "faces", 0, 0};
	return DRAW(o, "age", facet_plot_histogram(path, &f, nbins, edges, counts));
}

static char *chart_counts(const struct opts *o, const char *base, const char *title,
                          const char *xlabel, int n, const char *const *names, const uint64_t *c)
{
	double v[FACET_N_ETHNICITY];
	for (int i = 0; i < n; i++)
		v[i] = (double)c[i];
	facet_plot_frame f = {title, xlabel, "faces", 0, 0};
	return DRAW(o, base, facet_plot_bars(path, &f, n, names, v, "%.0f"));
}

static facet_plot_box age_box(const uint64_t *h)
{
	facet_plot_box b;
	b.lo = facet_hist_quantile(h, N_AGES, 0);
	b.q1 = facet_hist_quantile(h, N_AGES, 0.25);
	b.median = facet_hist_quantile(h, N_AGES, 0.5);
	b.q3 = facet_hist_quantile(h, N_AGES, 0.75);
	b.hi = facet_hist_quantile(h, N_AGES, 1);
	return b;
}

static uint64_t hist_total(const uint64_t *h)
{
	uint64_t n = 0;
	for (int a = 0; a < N_AGES; a++)
		n += h[a];
	return n;
}

/* Box plot of age per group, over the groups that have ages. */
static char *chart_age_by(const struct opts *o, const char *base, const char *title, int n,
                          const char *const *names, const uint64_t (*hist)[N_AGES])
{
	facet_plot_box boxes[FACET_N_ETHNICITY];
	const char *labels[FACET_N_ETHNICITY];
	int m = 0;
	for (int i = 0; i < n; i++)
		if (hist_total(hist[i])) {
			boxes[m] = age_box(hist[i]);
			labels[m++] = names[i];
		}
	if (m == 0)
		return NULL;
	facet_plot_frame f = {title, NULL, "age (years)", 0, 0};
	return DRAW(o, base, facet_plot_boxes(path, &f, m, labels, boxes));
}

static char *chart_missing(const eda *e, const struct opts *o)
{
	const char *names[N_KEYS + 1];
	double v[N_KEYS + 1];
	int any = 0;
	for (int k = 0; k < N_KEYS; k++) {
		names[k] = key_names[k];
		v[k] = (double)e->missing[k].count;
		any |= v[k] > 0;
	}
	names[N_KEYS] = "label_error";
	v[N_KEYS] = (double)e->label_errors.count;
	any |= v[N_KEYS] > 0;
	if (!any)
		return NULL;
	facet_plot_frame f = {"Records with a missing label, or a label error", "label", "records",
	                      0, 0};
	return DRAW(o, "missing", facet_plot_bars(path, &f, N_KEYS + 1, names, v, "%.0f"));
}

static void correlation_matrix(const eda *e, double *m)
{
	for (int i = 0; i < N_VARS; i++)
		for (int j = 0; j < N_VARS; j++)
			m[i * N_VARS + j] = facet_corr_value(&e->corr[i][j]);
}

static char *chart_correlation(const eda *e, const struct opts *o)
{
	double m[N_VARS * N_VARS];
	correlation_matrix(e, m);
	int finite = 0;
	for (int i = 0; i < N_VARS * N_VARS; i++)
		finite += isfinite(m[i]) && i % (N_VARS + 1) != 0;
	if (!finite)
		return NULL;
	facet_plot_frame f = {"Correlation of the labels (Pearson)", NULL, NULL, 760, 640};
	return DRAW(
	    o, "correlation",
	    facet_plot_heatmap(path, &f, N_VARS, N_VARS, var_names, var_names, m, -1, 1, "%.2f"));
}

static char *chart_brightness(const eda *e, const struct opts *o)
{
	const char *names[FACET_N_GENDER + FACET_N_ETHNICITY];
	double v[FACET_N_GENDER + FACET_N_ETHNICITY];
	int n = 0;
	for (int g = 0; g < FACET_N_GENDER; g++)
		if (e->bright_gender[g].n) {
			names[n] = facet_gender_names[g];
			v[n++] = e->bright_gender[g].mean;
		}
	for (int k = 0; k < FACET_N_ETHNICITY; k++)
		if (e->bright_eth[k].n) {
			names[n] = facet_ethnicity_names[k];
			v[n++] = e->bright_eth[k].mean;
		}
	if (n == 0)
		return NULL;
	facet_plot_frame f = {"Mean image brightness by group", "group", "mean pixel value (0-255)",
	                      0, 0};
	return DRAW(o, "brightness", facet_plot_bars(path, &f, n, names, v, "%.1f"));
}

static void write_charts(eda *e, const struct opts *o, outputs *out)
{
	memset(out, 0, sizeof *out);
	if (e->age.n)
		out->age = chart_age(e, o);
	if (e->missing[KEY_GENDER].count < e->records)
		out->gender = chart_counts(o, "gender", "Gender", "gender", FACET_N_GENDER,
		                           facet_gender_names, e->gender);
	if (e->missing[KEY_ETHNICITY].count < e->records)
		out->eth = chart_counts(o, "ethnicity", "Ethnicity", "ethnicity", FACET_N_ETHNICITY,
		                        facet_ethnicity_names, e->eth);
	out->age_gender = chart_age_by(
	    o, "age-by-gender", "Age by gender (box: quartiles; whiskers: min and max)",
	    FACET_N_GENDER, facet_gender_names, (const uint64_t(*)[N_AGES])e->age_by_gender);
	out->age_eth = chart_age_by(
	    o, "age-by-ethnicity", "Age by ethnicity (box: quartiles; whiskers: min and max)",
	    FACET_N_ETHNICITY, facet_ethnicity_names, (const uint64_t(*)[N_AGES])e->age_by_eth);
	if (e->labelled_any)
		out->missing = chart_missing(e, o);
	out->corr = chart_correlation(e, o);
	out->bright = chart_brightness(e, o);
	if (e->sample.n) {
		char *path = facet_outdir_path(o->out, "montage.png");
		facet_tiles_sort_by_record(&e->sample);
		if (facet_montage_write(path, &e->sample, facet_montage_columns(e->sample.n),
		                        (int)o->tile) == 0)
			out->montage = xstrdup("montage.png");
		else
			facet_output_failures++;
		free(path);
	}
}

static void outputs_free(outputs *out)
{
	char **p[] = {&out->age,     &out->gender, &out->eth,    &out->age_gender, &out->age_eth,
	              &out->missing, &out->corr,   &out->bright, &out->montage};
	for (size_t i = 0; i < sizeof p / sizeof *p; i++)
		free(*p[i]);
}

/* ---------------------------------------------------------------- summary.json */

static json_t *json_ids(const id_list *l)
{
	json_t *o = json_object(), *a = json_array();
	json_object_set_new(o, "count", json_integer((json_int_t)l->count));
	for (int i = 0; i < l->n; i++) {
		json_t *r = json_object();
		json_object_set_new(r, "id", json_string(l->ids[i]));
		if (l->why[i])
			json_object_set_new(r, "why", json_string(l->why[i]));
		json_array_append_new(a, r);
	}
	json_object_set_new(o, "records", a);
	json_object_set_new(o, "truncated", json_boolean(l->count > (uint64_t)l->n));
	return o;
}

static json_t *json_age_stats(const uint64_t *h)
{
	json_t *o = json_object();
	uint64_t n = hist_total(h);
	double sum = 0;
	for (int a = 0; a < N_AGES; a++)
		sum += (double)a * (double)h[a];
	json_object_set_new(o, "count", json_integer((json_int_t)n));
	json_object_set_new(o, "mean", facet_json_number(n ? sum / (double)n : NAN));
	json_object_set_new(o, "min", facet_json_number(facet_hist_quantile(h, N_AGES, 0)));
	json_object_set_new(o, "q1", facet_json_number(facet_hist_quantile(h, N_AGES, 0.25)));
	json_object_set_new(o, "median", facet_json_number(facet_hist_quantile(h, N_AGES, 0.5)));
	json_object_set_new(o, "q3", facet_json_number(facet_hist_quantile(h, N_AGES, 0.75)));
	json_object_set_new(o, "max", facet_json_number(facet_hist_quantile(h, N_AGES, 1)));
	return o;
}

static json_t *json_stat(const facet_stat *s)
{
	json_t *o = json_object();
	json_object_set_new(o, "count", json_integer((json_int_t)s->n));
	json_object_set_new(o, "mean", facet_json_number(s->n ? s->mean : NAN));
	json_object_set_new(o, "sd", facet_json_number(s->n ? facet_stat_sd(s) : NAN));
	json_object_set_new(o, "min", facet_json_number(s->n ? s->min : NAN));
	json_object_set_new(o, "max", facet_json_number(s->n ? s->max : NAN));
	return o;
}

static json_t *json_labels(const eda *e)
{
	json_t *labels = json_object(), *age = json_age_stats(e->age_hist);
	json_t *hist = json_object(), *counts = json_array();
	for (int a = 0; a < N_AGES; a++)
		json_array_append_new(counts, json_integer((json_int_t)e->age_hist[a]));
	json_object_set_new(hist, "first_age", json_integer(0));
	json_object_set_new(hist, "counts", counts);
	json_object_set_new(age, "sd", facet_json_number(e->age.n ? facet_stat_sd(&e->age) : NAN));
	json_object_set_new(age, "per_year", hist);
	json_object_set_new(labels, "age", age);

	json_t *g = json_object(), *gc = json_object();
	for (int i = 0; i < FACET_N_GENDER; i++)
		json_object_set_new(gc, facet_gender_names[i],
		                    json_integer((json_int_t)e->gender[i]));
	json_object_set_new(g, "count", json_integer((json_int_t)(e->gender[0] + e->gender[1])));
	json_object_set_new(g, "classes", gc);
	json_object_set_new(labels, "gender", g);

	json_t *x = json_object(), *xc = json_object();
	uint64_t xn = 0;
	for (int i = 0; i < FACET_N_ETHNICITY; i++) {
		json_object_set_new(xc, facet_ethnicity_names[i],
		                    json_integer((json_int_t)e->eth[i]));
		xn += e->eth[i];
	}
	json_object_set_new(x, "count", json_integer((json_int_t)xn));
	json_object_set_new(x, "classes", xc);
	json_object_set_new(labels, "ethnicity", x);

	json_t *abg = json_object(), *abe = json_object(), *gbe = json_object();
	for (int i = 0; i < FACET_N_GENDER; i++)
		json_object_set_new(abg, facet_gender_names[i],
		                    json_age_stats(e->age_by_gender[i]));
	for (int k = 0; k < FACET_N_ETHNICITY; k++) {
		json_object_set_new(abe, facet_ethnicity_names[k],
		                    json_age_stats(e->age_by_eth[k]));
		json_t *c = json_object();
		for (int i = 0; i < FACET_N_GENDER; i++)
			json_object_set_new(c, facet_gender_names[i],
			                    json_integer((json_int_t)e->gender_by_eth[k][i]));
		json_object_set_new(gbe, facet_ethnicity_names[k], c);
	}
	json_object_set_new(labels, "age_by_gender", abg);
	json_object_set_new(labels, "age_by_ethnicity", abe);
	json_object_set_new(labels, "gender_by_ethnicity", gbe);
	return labels;
}

static json_t *json_correlation(const eda *e)
{
	double m[N_VARS * N_VARS];
	correlation_matrix(e, m);
	json_t *o = json_object(), *vars = json_array(), *rows = json_array(), *ns = json_array();
	for (int i = 0; i < N_VARS; i++) {
		json_array_append_new(vars, json_string(var_names[i]));
		json_t *row = json_array(), *nrow = json_array();
		for (int j = 0; j < N_VARS; j++) {
			json_array_append_new(row, facet_json_number(m[i * N_VARS + j]));
			json_array_append_new(nrow, json_integer((json_int_t)e->corr[i][j].n));
		}
		json_array_append_new(rows, row);
		json_array_append_new(ns, nrow);
	}
	json_object_set_new(o, "variables", vars);
	json_object_set_new(o, "matrix", rows);
	json_object_set_new(o, "pairs", ns);
	return o;
}

static json_t *json_images(const eda *e)
{
	json_t *o = json_object(), *shapes = json_array();
	json_object_set_new(o, "count", json_integer((json_int_t)e->images));
	for (int s = 0; s < e->n_shapes; s++) {
		json_t *sh = json_object();
		json_object_set_new(sh, "height", json_integer(e->shapes[s].h));
		json_object_set_new(sh, "width", json_integer(e->shapes[s].w));
		json_object_set_new(sh, "channels", json_integer(e->shapes[s].c));
		json_object_set_new(sh, "count", json_integer((json_int_t)e->shapes[s].count));
		json_array_append_new(shapes, sh);
	}
	json_object_set_new(o, "shapes", shapes);
	json_object_set_new(o, "other_shapes", json_integer((json_int_t)e->other_shapes));
	json_object_set_new(o, "width", json_stat(&e->width));
	json_object_set_new(o, "height", json_stat(&e->height));
	json_t *b = json_stat(&e->brightness), *bg = json_object(), *be = json_object(),
	       *bb = json_object();
	for (int i = 0; i < FACET_N_GENDER; i++)
		json_object_set_new(bg, facet_gender_names[i], json_stat(&e->bright_gender[i]));
	for (int k = 0; k < FACET_N_ETHNICITY; k++)
		json_object_set_new(be, facet_ethnicity_names[k], json_stat(&e->bright_eth[k]));
	for (int a = 0; a < FACET_N_AGE_BANDS; a++)
		json_object_set_new(bb, facet_age_band_names[a], json_stat(&e->bright_band[a]));
	json_object_set_new(b, "by_gender", bg);
	json_object_set_new(b, "by_ethnicity", be);
	json_object_set_new(b, "by_age_band", bb);
	json_object_set_new(o, "brightness", b);
	json_t *d = json_ids(&e->dups);
	json_object_set_new(d, "groups", json_integer((json_int_t)e->dup_groups));
	json_object_set_new(o, "duplicates", d);
	return o;
}

static json_t *json_files(const outputs *out)
{
	json_t *f = json_object();
	struct {
		const char *key, *file;
	} files[] = {{"age", out->age},
	             {"gender", out->gender},
	             {"ethnicity", out->eth},
	             {"age_by_gender", out->age_gender},
	             {"age_by_ethnicity", out->age_eth},
	             {"missing", out->missing},
	             {"correlation", out->corr},
	             {"brightness", out->bright},
	             {"montage", out->montage}};
	for (size_t i = 0; i < sizeof files / sizeof *files; i++)
		if (files[i].file)
			json_object_set_new(f, files[i].key, json_string(files[i].file));
	return f;
}

static void write_summary_json(const eda *e, const struct opts *o, const outputs *out)
{
	json_t *root = json_object();
	json_object_set_new(root, "records", json_integer((json_int_t)e->records));
	json_object_set_new(root, "labels", json_labels(e));
	json_t *missing = json_object();
	for (int k = 0; k < N_KEYS; k++)
		json_object_set_new(missing, key_names[k], json_ids(&e->missing[k]));
	json_object_set_new(root, "missing", missing);
	json_object_set_new(root, "label_errors", json_ids(&e->label_errors));
	json_object_set_new(root, "correlation", json_correlation(e));
	json_object_set_new(root, "images", json_images(e));
	json_t *m = json_object(), *recs = json_array();
	for (int i = 0; i < e->sample.n; i++) {
		json_t *r = json_object();
		json_object_set_new(r, "id", json_string(e->sample.tiles[i].id));
		json_object_set_new(r, "record",
		                    json_integer((json_int_t)e->sample.tiles[i].record));
		json_array_append_new(recs, r);
	}
	json_object_set_new(m, "seed", json_integer(o->seed));
	json_object_set_new(m, "records", recs);
	json_object_set_new(root, "montage", m);
	json_object_set_new(root, "files", json_files(out));

	char *path = facet_outdir_path(o->out, "summary.json");
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

static void html_ids(facet_html *h, const char *what, const id_list *l)
{
	if (l->count == 0)
		return;
	facet_html_subsection(h, what);
	if (l->count > (uint64_t)l->n)
		facet_html_p(h, "%llu records; the first %d:", (unsigned long long)l->count, l->n);
	else
		facet_html_p(h, "%llu records:", (unsigned long long)l->count);
	const char *head[2] = {"id", "why"};
	facet_html_table_begin(h, 2, head);
	for (int i = 0; i < l->n; i++) {
		const char *row[2] = {l->ids[i], l->why[i]};
		facet_html_table_row(h, row);
	}
	facet_html_table_end(h);
}

static void html_figure(facet_html *h, const char *file, const char *alt, const char *caption)
{
	if (file)
		facet_html_img(h, file, alt, caption);
}

static void html_overview(facet_html *h, const eda *e)
{
	char a[64], b[64], c[64], d[64];
	facet_html_section(h, "Overview");
	const char *head[2] = {"", "value"};
	facet_html_table_begin(h, 2, head);
	snprintf(a, sizeof a, "%llu", (unsigned long long)e->records);
	const char *r1[2] = {"records", a};
	facet_html_table_row(h, r1);
	snprintf(b, sizeof b, "%llu", (unsigned long long)e->images);
	const char *r2[2] = {"with an image", b};
	facet_html_table_row(h, r2);
	if (e->age.n) {
		snprintf(c, sizeof c, "%.0f - %.0f (mean %.1f, median %.0f)", e->age.min,
		         e->age.max, e->age.mean, facet_hist_quantile(e->age_hist, N_AGES, 0.5));
		const char *r3[2] = {"age range (years)", c};
		facet_html_table_row(h, r3);
	}
	snprintf(d, sizeof d, "%llu in %llu groups", (unsigned long long)e->dup_records,
	         (unsigned long long)e->dup_groups);
	const char *r4[2] = {"duplicate images (same content as an earlier record)", d};
	if (e->images)
		facet_html_table_row(h, r4);
	facet_html_table_end(h);
}

static void html_labels(facet_html *h, const eda *e, const outputs *out)
{
	facet_html_section(h, "Labels");
	if (!e->labelled_any) {
		facet_html_note(h,
		                "No labels in the stream: no record has age, gender or ethnicity. "
		                "Run facet-label before facet-eda to see their distributions.");
		return;
	}
	facet_html_row_begin(h);
	html_figure(h, out->age, "age histogram", "Faces per 5 years of age.");
	html_figure(h, out->gender, "gender counts", "Faces per gender.");
	html_figure(h, out->eth, "ethnicity counts", "Faces per ethnicity.");
	html_figure(h, out->age_gender, "age by gender",
	            "Age per gender: the box spans the quartiles, the thick line is the median, "
	            "the whiskers reach the youngest and the oldest.");
	html_figure(h, out->age_eth, "age by ethnicity", "Age per ethnicity, drawn the same way.");
	facet_html_row_end(h);

	facet_html_subsection(h, "Gender by ethnicity");
	const char *head[4] = {"ethnicity", facet_gender_names[0], facet_gender_names[1],
	                       "female share"};
	facet_html_table_begin(h, 4, head);
	for (int k = 0; k < FACET_N_ETHNICITY; k++) {
		char m[32], f[32], s[32];
		uint64_t mm = e->gender_by_eth[k][0], ff = e->gender_by_eth[k][1];
		snprintf(m, sizeof m, "%llu", (unsigned long long)mm);
		snprintf(f, sizeof f, "%llu", (unsigned long long)ff);
		if (mm + ff)
			snprintf(s, sizeof s, "%.1f %%", 100.0 * (double)ff / (double)(mm + ff));
		else
			snprintf(s, sizeof s, "-");
		const char *row[4] = {facet_ethnicity_names[k], m, f, s};
		facet_html_table_row(h, row);
	}
	facet_html_table_end(h);

	facet_html_section(h, "Missing and invalid labels");
	if (!out->missing) {
		facet_html_p(h, "Every record has all three labels, and none has a label error.");
	} else {
		html_figure(h, out->missing, "missing labels",
		            "Records without each label (\"label absent\"), and records whose name "
		            "facet-label could not fully read (label_error).");
		for (int k = 0; k < N_KEYS; k++) {
			char what[64];
			snprintf(what, sizeof what, "Records without %s", key_names[k]);
			html_ids(h, what, &e->missing[k]);
		}
		html_ids(h, "Records with a label error", &e->label_errors);
	}

	facet_html_section(h, "Correlation of the labels");
	if (out->corr)
		html_figure(
		    h, out->corr, "correlation heatmap",
		    "Pearson correlation between age, gender (female = 1) and each ethnicity "
		    "(one-hot), over the records that have both labels of a pair.");
	else
		facet_html_p(h, "Too few labelled records (or constant labels) to correlate.");
}

static void html_images(facet_html *h, const eda *e, const outputs *out, const struct opts *o)
{
	facet_html_section(h, "Images");
	if (!e->images) {
		facet_html_note(h, "No images in the stream.");
		return;
	}
	const char *head[4] = {"height", "width", "channels", "images"};
	facet_html_table_begin(h, 4, head);
	for (int s = 0; s < e->n_shapes; s++) {
		char a[24], b[24], c[24], d[24];
		snprintf(a, sizeof a, "%lld", (long long)e->shapes[s].h);
		snprintf(b, sizeof b, "%lld", (long long)e->shapes[s].w);
		snprintf(c, sizeof c, "%lld", (long long)e->shapes[s].c);
		snprintf(d, sizeof d, "%llu", (unsigned long long)e->shapes[s].count);
		const char *row[4] = {a, b, c, d};
		facet_html_table_row(h, row);
	}
	if (e->other_shapes) {
		char d[24];
		snprintf(d, sizeof d, "%llu", (unsigned long long)e->other_shapes);
		const char *row[4] = {"other sizes", "", "", d};
		facet_html_table_row(h, row);
	}
	facet_html_table_end(h);
	facet_html_p(h, "Mean brightness %.1f (sd %.1f over images, range %.1f - %.1f) on 0-255.",
	             e->brightness.mean, facet_stat_sd(&e->brightness), e->brightness.min,
	             e->brightness.max);
	html_figure(h, out->bright, "brightness by group",
	            "Mean pixel value (BT.601 luma for colour images) per gender and ethnicity.");
	if (out->montage) {
		facet_html_subsection(h, "Random faces");
		char cap[160];
		snprintf(cap, sizeof cap,
		         "%d faces drawn uniformly at random from the stream (seed %ld), in stream "
		         "order, captioned with their labels.",
		         e->sample.n, o->seed);
		facet_html_img(h, out->montage, "montage of random faces", cap);
	}
	html_ids(h, "Duplicate images", &e->dups);
}

static void write_html(const eda *e, const struct opts *o, const outputs *out)
{
	char *path = facet_outdir_path(o->out, "index.html");
	facet_html *h = facet_html_open(path, "facet-eda: the data set at a glance");
	html_overview(h, e);
	html_labels(h, e, out);
	html_images(h, e, out, o);
	facet_html_p(h, "Every figure on this page is in summary.json.");
	facet_html_close(h);
	free(path);
}

/* ---------------------------------------------------------------- stderr summary */

static void info_ids(const char *what, const id_list *l)
{
	if (l->count == 0)
		return;
	char buf[1024];
	size_t o = 0;
	int shown = l->n < 10 ? l->n : 10;
	for (int i = 0; i < shown && o < sizeof buf; i++)
		o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", i ? ", " : "", l->ids[i]);
	if (l->count > (uint64_t)shown && o < sizeof buf)
		snprintf(buf + o, sizeof buf - o, " and %llu more",
		         (unsigned long long)(l->count - (uint64_t)shown));
	facet_info("%s: %llu (%s)", what, (unsigned long long)l->count, buf);
}

static void print_summary(const eda *e, const struct opts *o)
{
	facet_info("%llu faces, %llu with an image", (unsigned long long)e->records,
	           (unsigned long long)e->images);
	if (!e->labelled_any)
		facet_info("no labels in the stream (run facet-label first)");
	if (e->age.n)
		facet_info("age %.0f-%.0f (mean %.1f, median %.0f) over %llu faces", e->age.min,
		           e->age.max, e->age.mean, facet_hist_quantile(e->age_hist, N_AGES, 0.5),
		           (unsigned long long)e->age.n);
	if (e->gender[0] + e->gender[1])
		facet_info("gender: %llu male, %llu female", (unsigned long long)e->gender[0],
		           (unsigned long long)e->gender[1]);
	if (e->records > e->missing[KEY_ETHNICITY].count)
		facet_info("ethnicity: %llu White, %llu Black, %llu Asian, %llu Indian, %llu Other",
		           (unsigned long long)e->eth[0], (unsigned long long)e->eth[1],
		           (unsigned long long)e->eth[2], (unsigned long long)e->eth[3],
		           (unsigned long long)e->eth[4]);
	if (e->labelled_any) {
		info_ids("missing age", &e->missing[KEY_AGE]);
		info_ids("missing gender", &e->missing[KEY_GENDER]);
		info_ids("missing ethnicity", &e->missing[KEY_ETHNICITY]);
		info_ids("label errors", &e->label_errors);
	}
	if (e->images)
		facet_info("%llu duplicate images in %llu groups",
		           (unsigned long long)e->dup_records, (unsigned long long)e->dup_groups);
	facet_info("wrote %s/index.html", o->out);
}

int main(int argc, char **argv)
{
	struct opts o;
	eda *e;
	outputs out;
	facet_reader *rd;
	facet_record *rec;

	facet_init("facet-eda");
	parse_options(argc, argv, &o);
	e = xcalloc(1, sizeof *e);
	facet_tiles_init(&e->sample, (int)o.montage, (uint64_t)o.seed);

	rd = facet_reader_open(stdin, "stdin");
	while (facet_reader_next(rd, &rec))
		eda_add(e, &o, rec);
	facet_reader_close(rd);
	if (e->records == 0)
		die("empty input: no records to explore (stdin)");

	facet_outdir_make(o.out);
	write_charts(e, &o, &out);
	write_summary_json(e, &o, &out);
	write_html(e, &o, &out);
	print_summary(e, &o);
	if (facet_output_failures)
		die("%d output files could not be written (see above): %s is incomplete",
		    facet_output_failures, o.out);

	outputs_free(&out);
	eda_free(e);
	free(e);
	return 0;
}
