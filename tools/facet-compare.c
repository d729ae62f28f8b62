/* facet-compare: two models' predictions on the same faces, face by face: the difference of each
 * figure with its 95 % interval and a two-sided p-value (exact McNemar for accuracies, the normal
 * approximation of the mean paired difference for age errors and log-losses). */
#include "facet.h"
#include "json.h"
#include "metrics.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: facet-compare [OPTION]... A B\n"
    "Compare two scored facet streams of the same faces (records with an \"id\", labels and a\n"
    "\"pred\" map, as facet-score writes them; \"-\" reads one of them from standard input),\n"
    "matched by id. For age MAE, gender and ethnicity accuracy and the two log-losses, print A's\n"
    "figure, B's, the difference A - B with its 95 % confidence interval and a two-sided p-value:\n"
    "the exact McNemar test for accuracies (only the faces one model gets right and the other\n"
    "does not count), the normal approximation of the mean paired difference for the rest.\n"
    "Faces in only one stream, or without a prediction, are counted on stderr and left out.\n"
    "\n"
    "      --by KEY     also compare within each group of faces by their true KEY: gender,\n"
    "                   ethnicity or age (bands 0-9, 10-19, ..., 80+); one row per group and\n"
    "                   measure after the overall rows\n"
    "      --json       one JSON object on stdout instead of the table\n"
    "  -q, --quiet      no summary on stderr\n"
    "  -h, --help       show this help and exit\n"
    "  -V, --version    show the version and exit\n"
    "\n"
    "Exit status: 0 ok (whatever the comparison shows), 1 bad input (no face in both, a repeated\n"
    "id, the same id with other labels) or a write error, 2 usage error.\n";

enum { BY_NONE, BY_GENDER, BY_ETHNICITY, BY_AGE };

struct opts {
	const char *a, *b;
	int json, by;
};

/* The groups of each --by key: its name, how many, and theirs. */
static const struct {
	const char *name;
	int n;
	const char *const *groups;
} by_keys[] = {[BY_NONE] = {NULL, 0, NULL},
               [BY_GENDER] = {"gender", FACET_N_GENDER, facet_gender_names},
               [BY_ETHNICITY] = {"ethnicity", FACET_N_ETHNICITY, facet_ethnicity_names},
               [BY_AGE] = {"age", FACET_N_AGE_BANDS, facet_age_band_names}};

static void parse_options(int argc, char **argv, struct opts *o)
{
	enum { OPT_BY = 256, OPT_JSON };
	static const struct option longopts[] = {
	    {"by", required_argument, NULL, OPT_BY}, {"json", no_argument, NULL, OPT_JSON},
	    {"quiet", no_argument, NULL, 'q'},       {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},     {NULL, 0, NULL, 0}};
	int c;

	while ((c = facet_getopt(argc, argv, "qhV", longopts)) != -1) {
		switch (c) {
		case OPT_BY:
			for (o->by = BY_AGE; o->by > BY_NONE; o->by--)
				if (!strcmp(optarg, by_keys[o->by].name))
					break;
			if (o->by == BY_NONE)
				usage_error("--by takes gender, ethnicity or age, not '%s'",
				            optarg);
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		default:
			facet_std_option(c, usage);
		}
	}
	if (argc - optind != 2)
		usage_error("name two scored streams, A and B");
	o->a = argv[optind];
	o->b = argv[optind + 1];
	if (!strcmp(o->a, "-") && !strcmp(o->b, "-"))
		usage_error("only one of A and B can be standard input");
}

/* ---------------------------------------------------------------- B, by id */

typedef struct {
	char *id;             /* NULL: empty slot */
	int age, gender, eth; /* -1 when unknown */
	int scored, used;
	facet_pred p;
} face;

typedef struct {
	face *slot;
	size_t cap, n; /* cap a power of two, at most half full */
} face_table;

/* The slot of id: the face that has it, or the empty slot where it would go. */
static face *table_find(face_table *t, const char *id, size_t len)
{
	size_t i = facet_fnv1a(FACET_FNV1A_BASIS, id, len) & (t->cap - 1);
	while (t->slot[i].id && (strlen(t->slot[i].id) != len || memcmp(t->slot[i].id, id, len)))
		i = (i + 1) & (t->cap - 1);
	return &t->slot[i];
}

static void table_grow(face_table *t)
{
	face_table bigger = {xcalloc(t->cap * 2, sizeof(face)), t->cap * 2, t->n};
	for (size_t i = 0; i < t->cap; i++)
		if (t->slot[i].id)
			*table_find(&bigger, t->slot[i].id, strlen(t->slot[i].id)) = t->slot[i];
	free(t->slot);
	*t = bigger;
}

static int label(const facet_record *r, const char *key)
{
	int64_t v;
	return facet_record_int(r, key, &v) ? (int)v : -1;
}

/* The id of record k of the stream name, or die: matching needs one. */
static const char *record_id(const facet_record *r, uint64_t k, const char *name, size_t *len)
{
	const char *id = facet_record_id(r, len);
	if (!id)
		die("record %llu has no id, so it cannot be matched (%s)", (unsigned long long)k,
		    name);
	if (memchr(id, 0, *len))
		die("its id holds a NUL byte (%s, record %llu)", name, (unsigned long long)k);
	return id;
}

typedef struct {
	uint64_t records, unscored, unmatched;
} stream_counts;

static void read_b(const char *path, face_table *t, stream_counts *cb)
{
	facet_reader *rd = facet_reader_open_path(path);
	facet_record *r;
	while (facet_reader_next(rd, &r)) {
		size_t len;
		const char *id = record_id(r, ++cb->records, path, &len);
		if (2 * (t->n + 1) > t->cap)
			table_grow(t);
		face *f = table_find(t, id, len);
		if (f->id)
			die("id '%s' is there twice (%s, record %llu)", f->id, path,
			    (unsigned long long)cb->records);
		f->id = xmalloc(len + 1);
		memcpy(f->id, id, len);
		f->id[len] = 0;
		f->age = label(r, "age");
		f->gender = label(r, "gender");
		f->eth = label(r, "ethnicity");
		f->scored = facet_record_pred(r, &f->p);
		cb->unscored += !f->scored;
		t->n++;
	}
	facet_reader_close(rd);
}

/* ---------------------------------------------------------------- paired figures */

/* A figure measured face by face for both models: the mean of a and of b, and of d = a - b. */
typedef struct {
	uint64_t n;
	double sum_a, sum_b, sum_d, sum_dd;
} paired;

static void paired_add(paired *m, double a, double b)
{
	m->n++;
	m->sum_a += a;
	m->sum_b += b;
	m->sum_d += a - b;
	m->sum_dd += (a - b) * (a - b);
}

/* Right or wrong, face by face: only_a = A right and B wrong, only_b the other way. */
typedef struct {
	uint64_t n, right_a, right_b, only_a, only_b;
} paired_hits;

static void hits_add(paired_hits *h, int a_right, int b_right)
{
	h->n++;
	h->right_a += a_right;
	h->right_b += b_right;
	h->only_a += a_right && !b_right;
	h->only_b += b_right && !a_right;
}

typedef struct {
	const char *key, *title;
	int decimals;
	uint64_t n;
	double a, b, diff, lo, hi, p;
	int hits; /* an accuracy: only_a and only_b below */
	uint64_t only_a, only_b;
} row;

/* mean d +- z sd / sqrt(n); p from d / se (0 or 1 when every difference is the same) */
static row paired_row(const char *key, const char *title, int decimals, const paired *m)
{
	row r = {key, title, decimals, m->n, NAN, NAN, NAN, NAN, NAN, NAN, 0, 0, 0};
	if (!m->n)
		return r;
	double n = (double)m->n;
	r.a = m->sum_a / n;
	r.b = m->sum_b / n;
	r.diff = m->sum_d / n;
	if (m->n < 2)
		return r;
	double se = sqrt(fmax(0, (m->sum_dd - n * r.diff * r.diff) / (n - 1)) / n);
	r.lo = r.diff - FACET_Z95 * se;
	r.hi = r.diff + FACET_Z95 * se;
	r.p = se > 0 ? facet_normal_p(r.diff / se) : r.diff == 0 ? 1 : 0;
	return r;
}

/* (only_a - only_b) / n +- z se, se^2 = (only_a + only_b - (only_a - only_b)^2 / n) / n^2 (the
 * paired Wald interval); p by the exact McNemar test */
static row hits_row(const char *key, const char *title, const paired_hits *h)
{
	row r = {key, title, 4, h->n, NAN, NAN, NAN, NAN, NAN, NAN, 1, h->only_a, h->only_b};
	if (!h->n)
		return r;
	double n = (double)h->n, b = (double)h->only_a, c = (double)h->only_b;
	r.a = (double)h->right_a / n;
	r.b = (double)h->right_b / n;
	r.diff = (b - c) / n;
	double se = sqrt(fmax(0, b + c - (b - c) * (b - c) / n)) / n;
	r.lo = r.diff - FACET_Z95 * se;
	r.hi = r.diff + FACET_Z95 * se;
	r.p = facet_mcnemar_p(h->only_a, h->only_b);
	return r;
}

enum { ROW_AGE, ROW_GENDER, ROW_ETH, ROW_GENDER_LL, ROW_ETH_LL, N_ROWS };

typedef struct {
	paired age, gender_ll, eth_ll;
	paired_hits gender, eth;
} comparison;

/* -ln p, p kept at 1e-12 or more so that a model sure of a wrong answer costs 27.6, not inf */
static double nll(double p)
{
	return -log(fmax(p, 1e-12));
}

static void compare_face(comparison *c, const face *b, const facet_pred *pa, int age, int gender,
                         int eth)
{
	const facet_pred *pb = &b->p;
	if (age >= 0 && pa->has_age && pb->has_age)
		paired_add(&c->age, fabs(pa->age - age), fabs(pb->age - age));
	if (gender >= 0 && pa->has_gender && pb->has_gender) {
		hits_add(&c->gender, facet_argmax(pa->gender, FACET_N_GENDER) == gender,
		         facet_argmax(pb->gender, FACET_N_GENDER) == gender);
		paired_add(&c->gender_ll, nll(pa->gender[gender]), nll(pb->gender[gender]));
	}
	if (eth >= 0 && pa->has_ethnicity && pb->has_ethnicity) {
		hits_add(&c->eth, facet_argmax(pa->ethnicity, FACET_N_ETHNICITY) == eth,
		         facet_argmax(pb->ethnicity, FACET_N_ETHNICITY) == eth);
		paired_add(&c->eth_ll, nll(pa->ethnicity[eth]), nll(pb->ethnicity[eth]));
	}
}

/* The group of a face under --by (-1: it lacks the label). */
static int group_of(int by, int age, int gender, int eth)
{
	switch (by) {
	case BY_GENDER:
		return gender;
	case BY_ETHNICITY:
		return eth;
	case BY_AGE:
		return age >= 0 ? facet_age_band(age) : -1;
	}
	return -1;
}

#define MAX_GROUPS FACET_N_AGE_BANDS
_Static_assert(FACET_N_GENDER <= MAX_GROUPS && FACET_N_ETHNICITY <= MAX_GROUPS,
               "a --by key has more groups than a tally holds");

typedef struct {
	comparison all;
	comparison group[MAX_GROUPS];
	uint64_t both, ungrouped; /* faces scored in both; of them, in no group of --by */
} tally;

/* Stream A against the table of B. */
static void read_a(const char *path, int by, face_table *t, tally *c, stream_counts *ca)
{
	facet_reader *rd = facet_reader_open_path(path);
	facet_record *r;
	while (facet_reader_next(rd, &r)) {
		size_t len;
		const char *id = record_id(r, ++ca->records, path, &len);
		face *f = table_find(t, id, len);
		if (!f->id) {
			ca->unmatched++;
			continue;
		}
		if (f->used++)
			die("id '%s' is there twice (%s, record %llu)", f->id, path,
			    (unsigned long long)ca->records);
		int age = label(r, "age"), gender = label(r, "gender"), eth = label(r, "ethnicity");
		if (age != f->age || gender != f->gender || eth != f->eth)
			die("id '%s' has other labels than in the other stream (%s, record %llu)",
			    f->id, path, (unsigned long long)ca->records);
		facet_pred pa;
		int scored = facet_record_pred(r, &pa);
		ca->unscored += !scored;
		if (!scored || !f->scored)
			continue;
		c->both++;
		compare_face(&c->all, f, &pa, age, gender, eth);
		if (by == BY_NONE)
			continue;
		int g = group_of(by, age, gender, eth);
		if (g < 0 || g >= by_keys[by].n)
			c->ungrouped++;
		else
			compare_face(&c->group[g], f, &pa, age, gender, eth);
	}
	facet_reader_close(rd);
}

static void make_rows(const comparison *c, row *rows)
{
	rows[ROW_AGE] = paired_row("age_mae", "age MAE (years)", 3, &c->age);
	rows[ROW_GENDER] = hits_row("gender_accuracy", "gender accuracy", &c->gender);
	rows[ROW_ETH] = hits_row("ethnicity_accuracy", "ethnicity accuracy", &c->eth);
	rows[ROW_GENDER_LL] = paired_row("gender_logloss", "gender log-loss", 4, &c->gender_ll);
	rows[ROW_ETH_LL] = paired_row("ethnicity_logloss", "ethnicity log-loss", 4, &c->eth_ll);
}

/* ---------------------------------------------------------------- output */

static void print_num(double v, int decimals, int sign)
{
	if (isnan(v))
		printf(" %*s", 9, "-");
	else
		printf(sign ? " %+9.*f" : " %9.*f", decimals, v);
}

/* The rows of one comparison; group: the first column's text, NULL when there is no such column. */
static void print_rows(const char *group, const comparison *c)
{
	row rows[N_ROWS];
	make_rows(c, rows);
	for (int i = 0; i < N_ROWS; i++) {
		const row *r = &rows[i];
		if (group)
			printf("%-10s ", group);
		printf("%-20s %6llu", r->title, (unsigned long long)r->n);
		print_num(r->a, r->decimals, 0);
		print_num(r->b, r->decimals, 0);
		print_num(r->diff, r->decimals, 1);
		print_num(r->lo, r->decimals, 1);
		print_num(r->hi, r->decimals, 1);
		if (isnan(r->p))
			printf(" %9s", "-");
		else
			printf(" %9.2g", r->p);
		if (r->hits)
			printf(" %6llu %6llu\n", (unsigned long long)r->only_a,
			       (unsigned long long)r->only_b);
		else
			printf(" %6s %6s\n", "-", "-");
	}
}

static void print_table(int by, const tally *c)
{
	if (by != BY_NONE)
		printf("%-10s ", "group");
	printf("%-20s %6s %9s %9s %9s %9s %9s %9s %6s %6s\n", "measure", "faces", "A", "B", "A-B",
	       "ci_low", "ci_high", "p", "only_A", "only_B");
	print_rows(by != BY_NONE ? "all" : NULL, &c->all);
	for (int g = 0; g < by_keys[by].n; g++)
		print_rows(by_keys[by].groups[g], &c->group[g]);
}

/* One object per measure of c, set into j by the measure's key. */
static void set_measures(json_t *j, const comparison *c)
{
	row rows[N_ROWS];
	make_rows(c, rows);
	for (int i = 0; i < N_ROWS; i++) {
		const row *r = &rows[i];
		json_t *m = json_object();
		json_object_set_new(m, "faces", json_integer((json_int_t)r->n));
		json_object_set_new(m, "a", facet_json_number(r->a));
		json_object_set_new(m, "b", facet_json_number(r->b));
		json_object_set_new(m, "diff", facet_json_number(r->diff));
		json_object_set_new(m, "ci",
		                    isnan(r->lo) ? json_null() : json_pack("[ff]", r->lo, r->hi));
		json_object_set_new(m, "p", facet_json_number(r->p));
		json_object_set_new(m, "test",
		                    json_string(r->hits ? "mcnemar-exact" : "paired-normal"));
		if (r->hits) {
			json_object_set_new(m, "only_a", json_integer((json_int_t)r->only_a));
			json_object_set_new(m, "only_b", json_integer((json_int_t)r->only_b));
		}
		json_object_set_new(j, r->key, m);
	}
}

static void print_json(const struct opts *o, const tally *c, const stream_counts *ca,
                       const stream_counts *cb)
{
	json_t *j = json_object();
	json_object_set_new(j, "a", json_string(o->a));
	json_object_set_new(j, "b", json_string(o->b));
	json_object_set_new(j, "faces", json_integer((json_int_t)c->both));
	json_object_set_new(j, "a_not_in_b", json_integer((json_int_t)ca->unmatched));
	json_object_set_new(j, "b_not_in_a", json_integer((json_int_t)cb->unmatched));
	json_object_set_new(j, "a_unscored", json_integer((json_int_t)ca->unscored));
	json_object_set_new(j, "b_unscored", json_integer((json_int_t)cb->unscored));
	json_object_set_new(j, "level", json_real(0.95));
	set_measures(j, &c->all);
	if (o->by != BY_NONE) {
		json_t *groups = json_array();
		for (int g = 0; g < by_keys[o->by].n; g++) {
			json_t *m = json_pack("{ss}", "group", by_keys[o->by].groups[g]);
			set_measures(m, &c->group[g]);
			json_array_append_new(groups, m);
		}
		json_object_set_new(j, "by", json_string(by_keys[o->by].name));
		json_object_set_new(j, "no_group", json_integer((json_int_t)c->ungrouped));
		json_object_set_new(j, "groups", groups);
	}
	char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(17));
	if (!s)
		die("could not format the JSON output");
	puts(s);
	free(s);
	json_decref(j);
}

int main(int argc, char **argv)
{
	struct opts o = {NULL, NULL, 0, BY_NONE};
	face_table t = {NULL, 16, 0};
	stream_counts ca = {0, 0, 0}, cb = {0, 0, 0};
	static tally c; /* zeroed */

	facet_init("facet-compare");
	parse_options(argc, argv, &o);
	t.slot = xcalloc(t.cap, sizeof(face));
	read_b(o.b, &t, &cb);
	read_a(o.a, o.by, &t, &c, &ca);
	for (size_t i = 0; i < t.cap; i++)
		if (t.slot[i].id) {
			cb.unmatched += !t.slot[i].used;
			free(t.slot[i].id);
		}
	free(t.slot);
	facet_info(
	    "%llu faces scored in both; A (%s): %llu records, %llu not in B, %llu unscored; B (%s): %llu records, %llu not in A, %llu unscored",
	    (unsigned long long)c.both, o.a, (unsigned long long)ca.records,
	    (unsigned long long)ca.unmatched, (unsigned long long)ca.unscored, o.b,
	    (unsigned long long)cb.records, (unsigned long long)cb.unmatched,
	    (unsigned long long)cb.unscored);
	if (!c.both)
		die("no face is scored in both streams (%s, %s)", o.a, o.b);
	if (o.by != BY_NONE && c.ungrouped)
		facet_info("%llu of them without %s %s label, in no group",
		           (unsigned long long)c.ungrouped, o.by == BY_GENDER ? "a" : "an",
		           by_keys[o.by].name);
	if (o.json)
		print_json(&o, &c, &ca, &cb);
	else
		print_table(o.by, &c);
	return 0;
}
