/* facet-label: set age/gender/ethnicity from UTKFace file names or from a CSV keyed by id. */
#include "facet.h"
#include "label.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: facet-label [OPTION]...\n"
    "Read a facet stream on standard input and write it to standard output with the labels age,\n"
    "gender and ethnicity set from each record's id: a UTKFace file name\n"
    "AGE_GENDER_RACE_TIMESTAMP.jpg.chip.jpg (default), or a row of a CSV file (--csv).\n"
    "A name or row that does not give every label keeps the labels it does give, gets none it\n"
    "does not (existing labels are left alone), gets a \"label_error\" key saying why, and is\n"
    "reported on stderr. A summary line ends the run. Labels are never guessed.\n"
    "A face that facet-detect found in a photo, id \"SOURCE#K\", takes the labels of SOURCE.\n"
    "\n"
    "      --csv FILE     labels from FILE: a header line naming the columns id (or img_name,\n"
    "                     file, name), age, gender, ethnicity (or race); empty cell = unknown\n"
    "      --strict       drop records that do not get all three labels (still counted)\n"
    "      --max-reports N  name at most N problem records on stderr (default 100)\n"
    "  -q, --quiet        no summary line\n"
    "  -h, --help         show this help and exit\n"
    "  -V, --version      show the version and exit\n"
    "\n"
    "Exit status: 0 ok (also when some labels were missing: they are reported), 1 bad input\n"
    "(stream, CSV) or write error, 2 usage error.\n";

struct opts {
	const char *csv;
	int strict;
	long max_reports;
};

static void parse_options(int argc, char **argv, struct opts *o)
{
	enum { OPT_CSV = 256, OPT_STRICT, OPT_MAX_REPORTS };
	static const struct option longopts[] = {
	    {"csv", required_argument, NULL, OPT_CSV},
	    {"strict", no_argument, NULL, OPT_STRICT},
	    {"max-reports", required_argument, NULL, OPT_MAX_REPORTS},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	int c;

	memset(o, 0, sizeof *o);
	o->max_reports = 100;
	while ((c = facet_getopt(argc, argv, "qhV", longopts)) != -1) {
		switch (c) {
		case OPT_CSV:
			o->csv = optarg;
			break;
		case OPT_STRICT:
			o->strict = 1;
			break;
		case OPT_MAX_REPORTS:
			o->max_reports = facet_parse_long("--max-reports", optarg, 0, LONG_MAX);
			break;
		default:
			facet_std_option(c, usage);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' (the stream comes on standard input)",
		            argv[optind]);
}

/* ---------------------------------------------------------------- CSV table */

typedef struct {
	char *id;
	facet_labels l;
} row;

typedef struct {
	row *slots; /* open addressing, power-of-two size */
	size_t size, used;
} table;

static row *table_find(table *t, const char *id, size_t n, int insert)
{
	size_t i;
	if (insert && 2 * (t->used + 1) > t->size) {
		table old = *t;
		t->size = t->size ? 2 * t->size : 1024;
		t->slots = xcalloc(t->size, sizeof(row));
		t->used = 0;
		for (size_t j = 0; j < old.size; j++)
			if (old.slots[j].id)
				*table_find(t, old.slots[j].id, strlen(old.slots[j].id), 1) = old.slots[j];
		free(old.slots);
	}
	if (!t->size)
		return NULL;
	for (i = facet_fnv1a(FACET_FNV1A_BASIS, id, n) & (t->size - 1);; i = (i + 1) & (t->size - 1)) {
		row *r = &t->slots[i];
		if (!r->id)
			break;
		if (strlen(r->id) == n && memcmp(r->id, id, n) == 0)
			return r;
	}
	if (!insert)
		return NULL;
	t->used++;
	return &t->slots[i];
}

/* Split a CSV line in place on commas (no quoting: ids and numbers only). Returns field count. */
static int split_csv(char *line, char **f, int max)
{
	int n = 0;
	char *p = line;
	line[strcspn(line, "\r\n")] = 0;
	while (n < max) {
		char *q = strchr(p, ',');
		f[n++] = p;
		if (!q)
			break;
		*q = 0;
		p = q + 1;
	}
	return n;
}

static int cell_label(const char *s, int max, int *out)
{
	char *end;
	long v;
	if (!*s) {
		*out = -1;
		return 0;
	}
	v = strtol(s, &end, 10);
	if (*end || end == s || v < 0 || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* Read a label CSV from f into t. Returns 0, or -1 with "NAME: line N: what" in err (t keeps the
 * rows read so far; table_free releases them either way). */
static int read_csv(FILE *f, const char *name, table *t, char *err, size_t errlen)
{
	char *line = NULL, *fld[64];
	size_t cap = 0;
	ssize_t len;
	long lineno = 1;
	int col[4] = {-1, -1, -1, -1}, n, rc = -1; /* id, age, gender, ethnicity */
	static const char *names[4][4] = {{"id", "img_name", "file", "name"},
	                                  {"age", NULL, NULL, NULL},
	                                  {"gender", NULL, NULL, NULL},
	                                  {"ethnicity", "race", NULL, NULL}};

#define CSV_FAIL(...)                                                                              \
	do {                                                                                       \
		int o_ = snprintf(err, errlen, __VA_ARGS__);                                       \
		if (o_ >= 0 && (size_t)o_ < errlen)                                                \
			snprintf(err + o_, errlen - (size_t)o_, " (%s, line %ld)", name, lineno);  \
		goto out;                                                                          \
	} while (0)

	if ((len = getline(&line, &cap, f)) < 0) {
		if (ferror(f))
			CSV_FAIL("read error: %s", strerror(errno));
		snprintf(err, errlen, "empty CSV file: a header line is needed (%s)", name);
		goto out;
	}
	if (memchr(line, '\0', (size_t)len))
		CSV_FAIL("a NUL byte: not a text file");
	n = split_csv(line, fld, 64);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < 4; k++)
			for (int a = 0; a < 4 && names[k][a]; a++)
				if (strcmp(fld[i], names[k][a]) == 0 && col[k] < 0)
					col[k] = i;
	if (col[0] < 0)
		CSV_FAIL("no id column (id, img_name, file or name)");
	while ((len = getline(&line, &cap, f)) >= 0) {
		row *r;
		facet_labels l = {-1, -1, -1, NULL};
		int *dst[4] = {NULL, &l.age, &l.gender, &l.ethnicity};
		lineno++;
		if (memchr(line, '\0', (size_t)len))
			CSV_FAIL("a NUL byte: not a text file");
		n = split_csv(line, fld, 64);
		if (n == 1 && !fld[0][0])
			continue;
		for (int k = 0; k < 4; k++) {
			if (col[k] < 0)
				continue;
			if (col[k] >= n)
				CSV_FAIL("%d fields, expected at least %d", n, col[k] + 1);
			/* columns 1..3 are age, gender, ethnicity: the labels' own order */
			if (k > 0 && cell_label(fld[col[k]], facet_label_max[k - 1], dst[k]) != 0)
				CSV_FAIL("'%.40s' is not a valid %s", fld[col[k]], names[k][0]);
		}
		if (!fld[col[0]][0])
			CSV_FAIL("empty id");
		r = table_find(t, fld[col[0]], strlen(fld[col[0]]), 1);
		if (r->id)
			CSV_FAIL("id '%.60s' appears twice", fld[col[0]]);
		r->id = xstrdup(fld[col[0]]);
		r->l = l;
	}
	if (ferror(f))
		CSV_FAIL("read error: %s", strerror(errno));
	rc = 0;
#undef CSV_FAIL
out:
	free(line);
	return rc;
}

static void load_csv(const char *path, table *t)
{
	FILE *f = fopen(path, "r");
	char err[512];
	int rc;

	if (!f)
		die("cannot open %s:", path);
	rc = read_csv(f, path, t, err, sizeof err);
	fclose(f);
	if (rc != 0)
		die("%s", err);
}

static void table_free(table *t)
{
	for (size_t i = 0; i < t->size; i++)
		free(t->slots[i].id);
	free(t->slots);
}

/* ---------------------------------------------------------------- labelling */

struct counts {
	uint64_t records, complete, partial, none, dropped, no_id;
	uint64_t missing[3]; /* age, gender, ethnicity */
	uint64_t reported;
};

static void label_record(facet_record *r, const struct opts *o, table *t, struct counts *n)
{
	static const char *keys[3] = {"age", "gender", "ethnicity"};
	size_t len = 0;
	const char *id = facet_record_id(r, &len);
	facet_labels l = {-1, -1, -1, NULL};
	int have = 0;

	if (!id) {
		l.error = "record has no id";
		n->no_id++;
	} else if (o->csv) {
		row *row = table_find(t, id, len, 0);
		if (!row && facet_face_source_len(id, len) < len) /* a face "SOURCE#K" of a photo */
			row = table_find(t, id, facet_face_source_len(id, len), 0);
		if (row) {
			l = row->l;
			if (l.age < 0 || l.gender < 0 || l.ethnicity < 0)
				l.error = "CSV row lacks a label";
		} else {
			l.error = "no CSV row for this id";
		}
	} else {
		facet_utk_parse(id, len, &l);
	}
	int v[3] = {l.age, l.gender, l.ethnicity};
	for (int k = 0; k < 3; k++) {
		int64_t old;
		if (v[k] >= 0) {
			facet_record_set_int(r, keys[k], v[k]);
			have++;
		} else if (facet_record_int(r, keys[k], &old)) {
			have++; /* keep a label the record already had */
		} else {
			n->missing[k]++;
		}
	}
	n->records++;
	if (have == 3)
		n->complete++;
	else if (have == 0)
		n->none++;
	else
		n->partial++;
	if (l.error) {
		const char *dropped = o->strict && have < 3 ? ": dropped" : "";
		if (n->reported < (uint64_t)o->max_reports) {
			if (id)
				warn("%s%s (id '%.*s')", l.error, dropped, (int)len, id);
			else
				warn("%s%s (stdin, record %llu)", l.error, dropped,
				     (unsigned long long)n->records);
		}
		n->reported++;
		facet_record_set_str(r, "label_error", l.error, strlen(l.error));
	} else if (facet_record_get(r, "label_error")) {
		facet_record_del(r, "label_error"); /* fully labelled now */
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	struct counts n = {0};
	table t = {0};
	facet_reader *rd;
	facet_writer *w;
	facet_record *r;

	facet_init("facet-label");
	parse_options(argc, argv, &o);
	if (o.csv)
		load_csv(o.csv, &t);
	rd = facet_reader_open(stdin, "stdin");
	w = facet_writer_open(stdout, "stdout");
	while (facet_reader_next(rd, &r)) {
		uint64_t complete = n.complete;
		label_record(r, &o, &t, &n);
		if (o.strict && n.complete == complete) {
			n.dropped++;
			continue;
		}
		facet_writer_put(w, r);
	}
	facet_writer_close(w);
	if (n.reported > (uint64_t)o.max_reports)
		warn("... %llu more problem records not named (--max-reports)",
		     (unsigned long long)(n.reported - (uint64_t)o.max_reports));
	facet_info(
	    "%llu records: %llu with all three labels, %llu with some missing, %llu with none (missing age %llu, gender %llu, ethnicity %llu); %llu dropped",
	    (unsigned long long)n.records, (unsigned long long)n.complete,
	    (unsigned long long)n.partial, (unsigned long long)n.none,
	    (unsigned long long)n.missing[0], (unsigned long long)n.missing[1],
	    (unsigned long long)n.missing[2], (unsigned long long)n.dropped);
	facet_reader_close(rd);
	table_free(&t);
	return 0;
}
