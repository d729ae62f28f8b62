/* facet-split: deterministic train/val/test assignment by hashing the id with a seed. */
#include "facet.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: facet-split [OPTION]...\n"
    "Read a facet stream on standard input and write it to standard output with \"split\" set to\n"
    "\"train\", \"val\" or \"test\". The part is chosen by hashing the record's id with the seed, so\n"
    "a record keeps its part when the dataset grows or is reordered, and two runs agree. A face\n"
    "of a photo, id SOURCE#K (facet-detect), is placed by SOURCE: all faces of a photo go to one\n"
    "part, the part the photo's own record would go to.\n"
    "\n"
    "  -S, --seed N          hash seed (default 0)\n"
    "      --ratios T:V:E    relative sizes of train, val and test (default 80:10:10)\n"
    "      --stratify KEY    exact ratios within each value of KEY (age in 10-year bands, gender,\n"
    "                        ethnicity; records without it form their own group). The stream is\n"
    "                        spooled to a temporary file (memory: 16 bytes per record). Within a\n"
    "                        group, records are ranked by their hash, so adding records can move\n"
    "                        a few of them across a boundary.\n"
    "      --take PART       write only records of PART (train, val or test); the others are\n"
    "                        counted in the summary. Same as piping into facet-take PART.\n"
    "  -q, --quiet           no summary line\n"
    "  -h, --help            show this help and exit\n"
    "  -V, --version         show the version and exit\n"
    "\n"
    "Records without an id cannot be placed: they are an error (exit 1).\n"
    "Exit status: 0 ok, 1 bad input or write error, 2 usage error.\n";

enum { TRAIN, VAL, TEST, NPARTS };
static const char *const part_names[NPARTS] = {"train", "val", "test"};

struct opts {
	uint64_t seed;
	double ratio[NPARTS];
	const char *stratify;
	int take; /* -1 = all */
};

static void parse_ratios(const char *arg, double *r)
{
	char *end;
	const char *p = arg;
	double sum = 0;
	for (int i = 0; i < NPARTS; i++) {
		r[i] = strtod(p, &end);
		if (end == p || !(r[i] >= 0) || !isfinite(r[i]) ||
		    (i < NPARTS - 1 ? *end != ':' : *end != 0))
			usage_error("--ratios takes T:V:E (e.g. 80:10:10), not '%s'", arg);
		sum += r[i];
		p = end + 1;
	}
	if (!(sum > 0))
		usage_error("--ratios takes T:V:E with a part above zero, not '%s'", arg);
	for (int i = 0; i < NPARTS; i++)
		r[i] /= sum;
}

static void parse_options(int argc, char **argv, struct opts *o)
{
	enum { OPT_RATIOS = 256, OPT_STRATIFY, OPT_TAKE };
	static const struct option longopts[] = {
	    {"seed", required_argument, NULL, 'S'},
	    {"ratios", required_argument, NULL, OPT_RATIOS},
	    {"stratify", required_argument, NULL, OPT_STRATIFY},
	    {"take", required_argument, NULL, OPT_TAKE},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	int c;

	memset(o, 0, sizeof *o);
	o->take = -1;
	parse_ratios("80:10:10", o->ratio);
	while ((c = facet_getopt(argc, argv, "S:qhV", longopts)) != -1) {
		switch (c) {
		case 'S':
			o->seed = (uint64_t)facet_parse_long("--seed", optarg, 0, LONG_MAX);
			break;
		case OPT_RATIOS:
			parse_ratios(optarg, o->ratio);
			break;
		case OPT_STRATIFY:
			if (strcmp(optarg, "age") && strcmp(optarg, "gender") &&
			    strcmp(optarg, "ethnicity"))
				usage_error("--stratify takes age, gender or ethnicity, not '%s'",
				            optarg);
			o->stratify = optarg;
			break;
		case OPT_TAKE:
			if ((o->take = facet_name_index(optarg, part_names, NPARTS)) < 0)
				usage_error("--take takes train, val or test, not '%s'", optarg);
			break;
		default:
			facet_std_option(c, usage);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' (the stream comes on standard input)",
		            argv[optind]);
}

/* 64-bit hash of (seed, id): FNV-1a over the bytes, then the splitmix64 finaliser. The start is
 * FNV's offset basis written a digit short in decimal, mixed with the seed; it stays as it is, so
 * that every seed splits a dataset as it always has. */
static uint64_t id_hash(uint64_t seed, const char *s, size_t n)
{
	uint64_t h = facet_fnv1a(1469598103934665603ULL ^ (seed * 0x9e3779b97f4a7c15ULL), s, n);
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

static int part_of_unit(double u, const double *ratio)
{
	if (u < ratio[TRAIN])
		return TRAIN;
	if (u < ratio[TRAIN] + ratio[VAL])
		return VAL;
	return ratio[TEST] > 0 || ratio[VAL] == 0 ? TEST : VAL;
}

/* The length of the part of an id that places it: SOURCE of a face id SOURCE#K (K decimal
 * digits), else all of it. */
static size_t placing_length(const char *id, size_t len)
{
	size_t k = len;
	while (k > 0 && id[k - 1] >= '0' && id[k - 1] <= '9')
		k--;
	return k > 1 && k < len && id[k - 1] == '#' ? k - 1 : len;
}

static uint64_t record_hash(const facet_record *r, const struct opts *o, uint64_t nr)
{
	size_t len;
	const char *id = facet_record_id(r, &len);
	if (!id)
		die("record %llu has no id: facet-split places records by id",
		    (unsigned long long)nr);
	return id_hash(o->seed, id, placing_length(id, len));
}

struct counts {
	uint64_t part[NPARTS], written;
};

static void emit(facet_writer *w, facet_record *r, int part, const struct opts *o,
                 struct counts *n)
{
	n->part[part]++;
	if (o->take >= 0 && o->take != part)
		return;
	facet_record_set_str(r, "split", part_names[part], strlen(part_names[part]));
	facet_writer_put(w, r);
	n->written++;
}

static void split_streaming(facet_reader *rd, facet_writer *w, const struct opts *o,
                            struct counts *n)
{
	facet_record *r;
	while (facet_reader_next(rd, &r)) {
		uint64_t h = record_hash(r, o, facet_reader_count(rd));
		emit(w, r, part_of_unit((double)(h >> 11) * 0x1.0p-53, o->ratio), o, n);
	}
}

/* ---- stratified: spool, rank by hash within each group, replay */

typedef struct {
	uint64_t hash;
	uint32_t index;
	int32_t group;
} entry;

static int by_group_hash(const void *a, const void *b)
{
	const entry *x = a, *y = b;
	if (x->group != y->group)
		return x->group < y->group ? -1 : 1;
	if (x->hash != y->hash)
		return x->hash < y->hash ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static int32_t group_of(const facet_record *r, const char *key)
{
	int64_t v;
	if (!facet_record_int(r, key, &v))
		return -1;
	return strcmp(key, "age") == 0 ? (int32_t)(v >= 80 ? 8 : v / 10) : (int32_t)v;
}

static void split_stratified(facet_reader *rd, facet_writer *w, const struct opts *o,
                             struct counts *n)
{
	FILE *spool = tmpfile();
	facet_writer *sw;
	facet_reader *sr;
	facet_record *r;
	entry *e = NULL;
	uint8_t *part;
	size_t ne = 0, cap = 0;

	if (!spool)
		die("cannot create a temporary file for --stratify:");
	sw = facet_writer_open(spool, "temporary file");
	while (facet_reader_next(rd, &r)) {
		if (ne == cap) {
			cap = cap ? 2 * cap : 4096;
			e = xrealloc(e, cap * sizeof *e);
		}
		if (ne >= UINT32_MAX)
			die("--stratify handles at most 2^32 records");
		e[ne].hash = record_hash(r, o, facet_reader_count(rd));
		e[ne].index = (uint32_t)ne;
		e[ne].group = group_of(r, o->stratify);
		ne++;
		facet_writer_put(sw, r);
	}
	facet_writer_close(sw); /* flushes; the spool stays open for the replay */
	qsort(e, ne, sizeof *e, by_group_hash);
	part = xmalloc(ne ? ne : 1);
	for (size_t i = 0; i < ne;) {
		size_t j = i;
		while (j < ne && e[j].group == e[i].group)
			j++;
		/* group e[i..j): the first round(train*size) go to train, and so on */
		size_t size = j - i;
		size_t ntrain = (size_t)llround(o->ratio[TRAIN] * (double)size);
		size_t nval = (size_t)llround((o->ratio[TRAIN] + o->ratio[VAL]) * (double)size) - ntrain;
		for (size_t k = 0; k < size; k++)
			part[e[i + k].index] = k < ntrain ? TRAIN : k < ntrain + nval ? VAL : TEST;
		i = j;
	}
	free(e);
	rewind(spool);
	sr = facet_reader_open(spool, "temporary file");
	for (size_t i = 0; facet_reader_next(sr, &r); i++)
		emit(w, r, part[i], o, n);
	free(part);
	facet_reader_close(sr);
}

int main(int argc, char **argv)
{
	struct opts o;
	struct counts n = {{0}, 0};
	facet_reader *rd;
	facet_writer *w;

	facet_init("facet-split");
	parse_options(argc, argv, &o);
	rd = facet_reader_open(stdin, "stdin");
	w = facet_writer_open(stdout, "stdout");
	if (o.stratify)
		split_stratified(rd, w, &o, &n);
	else
		split_streaming(rd, w, &o, &n);
	facet_writer_close(w);
	facet_info("%llu records: train %llu, val %llu, test %llu%s%s",
	           (unsigned long long)(n.part[0] + n.part[1] + n.part[2]),
	           (unsigned long long)n.part[0], (unsigned long long)n.part[1],
	           (unsigned long long)n.part[2], o.take >= 0 ? "; wrote " : "",
	           o.take >= 0 ? part_names[o.take] : "");
	facet_reader_close(rd);
	return 0;
}
