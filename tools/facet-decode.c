/* facet-decode: image files, folders of them and the notebook's CSV -> a facet stream. */
#include "facet.h"
#include "image.h"
#include "pmap.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "Usage: facet-decode [OPTION]... [FILE|DIR|-]...\n"
    "Decode images into a facet stream on standard output: one record per image,\n"
    "{\"id\": file name, \"image\": uint8 [H, W, C]}, C = 3 (RGB) or 1 (--gray), alpha dropped.\n"
    "A directory gives its image files (by extension: jpg jpeg png webp tif tiff gif pnm ppm\n"
    "pgm pbm heic avif jp2 jxl), sorted by name, not recursively. No argument or '-' reads a\n"
    "list of paths on standard input, one per line. A FILE ending in .csv is the reference\n"
    "notebook's CSV (age,ethnicity,gender,img_name,pixels: 48x48 grey), one record per row\n"
    "with its labels. Output order is the input order, whatever --jobs is.\n"
    "A file or row that fails is reported with its name and counted; the run goes on and\n"
    "exits 1 at the end.\n"
    "\n"
    "  -s, --size WxH     scale to cover WxH keeping the aspect ratio, then cut out the centre\n"
    "                     WxH (JPEG: DCT-domain scaling first); default: the stored size\n"
    "  -g, --gray         one grey channel (BT.601 luma) instead of RGB\n"
    "      --csv          read every FILE (and standard input) as the notebook's CSV\n"
    "  -j, --jobs N       decode with N threads (default: the online cores)\n"
    "  -E, --engine E     auto (TurboJPEG for JPEG, libvips otherwise), vips, turbo\n"
    "      --list         print the path of every image file the arguments name, one per line,\n"
    "                     in the order they would be decoded, and decode nothing\n"
    "  -q, --quiet        no summary line\n"
    "  -h, --help         show this help and exit\n"
    "  -V, --version      show the version and exit\n"
    "\n"
    "Exit status: 0 ok, 1 some input failed or a write error, 2 usage error.\n";

struct opts {
	facet_image_spec spec;
	int csv;
	int list;
	int jobs;
};

/* ---------------------------------------------------------------- inputs */

/* What the arguments name, walked in order by the workers (under the lock). */
enum { IN_FILE, IN_DIR, IN_LIST, IN_CSV };

typedef struct {
	int kind;
	const char *name; /* argument as given; "-" = standard input */
	FILE *f;          /* IN_LIST, IN_CSV once opened */
	char **paths;     /* IN_DIR once listed */
	size_t npaths, next;
	long line;
	int csv_col[5]; /* IN_CSV: column of age, ethnicity, gender, img_name, pixels */
	int ncols;
	int started;
} input;

/* One unit of work and, once done, its result. */
enum { ITEM_FILE, ITEM_ROW, ITEM_ERROR };

typedef struct {
	int kind;
	char *path; /* ITEM_FILE: path; ITEM_ROW, ITEM_ERROR: where */
	char *text; /* ITEM_ROW: the line */
	long line;
	const int *csv_col;
	int ncols;
	/* result */
	int failed;
	char msg[256];
	char *id;
	facet_tensor image;
	int age, gender, ethnicity;
} item;

typedef struct {
	const struct opts *o;
	input *in;
	size_t nin, cur;
	facet_writer *w;
	uint64_t total, failed, decoded;
} decoder;

static void parse_options(int argc, char **argv, struct opts *o)
{
	enum { OPT_CSV = 256, OPT_LIST };
	static const struct option longopts[] = {
	    {"size", required_argument, NULL, 's'}, {"gray", no_argument, NULL, 'g'},
	    {"grey", no_argument, NULL, 'g'},       {"csv", no_argument, NULL, OPT_CSV},
	    {"jobs", required_argument, NULL, 'j'}, {"engine", required_argument, NULL, 'E'},
	    {"list", no_argument, NULL, OPT_LIST},  {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},       {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int c;

	memset(o, 0, sizeof *o);
	o->spec.channels = 3;
	o->jobs = cores < 1 ? 1 : cores > 64 ? 64 : (int)cores;
	while ((c = facet_getopt(argc, argv, "s:gj:E:qhV", longopts)) != -1) {
		switch (c) {
		case 's':
			facet_parse_size("--size", optarg, &o->spec.width, &o->spec.height);
			break;
		case 'g':
			o->spec.channels = 1;
			break;
		case OPT_CSV:
			o->csv = 1;
			break;
		case OPT_LIST:
			o->list = 1;
			break;
		case 'j':
			o->jobs = (int)facet_parse_long("--jobs", optarg, 1, 256);
			break;
		case 'E':
			if (facet_engine_parse(optarg, &o->spec.engine) != 0)
				usage_error("--engine takes auto, vips or turbo, not '%s'", optarg);
			break;
		default:
			facet_std_option(c, usage);
		}
	}
}

static int ends_with_ci(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static input *collect_inputs(int argc, char **argv, const struct opts *o, size_t *nin)
{
	static char dash[] = "-";
	char *none[] = {dash};
	char **args = argc > 0 ? argv : none;
	int n = argc > 0 ? argc : 1;
	input *in = xcalloc((size_t)n, sizeof *in);

	for (int i = 0; i < n; i++) {
		struct stat st;
		in[i].name = args[i];
		if (o->csv || ends_with_ci(args[i], ".csv"))
			in[i].kind = IN_CSV;
		else if (!strcmp(args[i], "-"))
			in[i].kind = IN_LIST;
		else if (stat(args[i], &st) == 0 && S_ISDIR(st.st_mode))
			in[i].kind = IN_DIR;
		else
			in[i].kind = IN_FILE;
	}
	*nin = (size_t)n;
	return in;
}

/* Read one line (without its end of line) into *buf. Returns its length, or -1 at the end. */
static ssize_t read_line(FILE *f, char **buf, size_t *cap)
{
	ssize_t n = getline(buf, cap, f);
	if (n < 0)
		return -1;
	while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r'))
		(*buf)[--n] = '\0';
	return n;
}

/* Map the CSV header's columns. 0 ok, -1 with msg. */
static int csv_header(input *in, const char *line, char *msg, size_t msglen)
{
	static const char *const want[5] = {"age", "ethnicity", "gender", "img_name", "pixels"};
	int col = 0;

	for (int k = 0; k < 5; k++)
		in->csv_col[k] = -1;
	for (const char *p = line;; col++) {
		size_t n = strcspn(p, ",");
		const char *f = p;
		if (n >= 2 && f[0] == '"' && f[n - 1] == '"') {
			f++;
			n -= 2;
		}
		for (int k = 0; k < 5; k++)
			if (strlen(want[k]) == n && !strncmp(f, want[k], n))
				in->csv_col[k] = col;
		if (!p[strcspn(p, ",")])
			break;
		p += strcspn(p, ",") + 1;
	}
	in->ncols = col + 1;
	for (int k = 0; k < 5; k++)
		if (in->csv_col[k] < 0) {
			snprintf(
			    msg, msglen,
			    "the header has no column '%s' (want age,ethnicity,gender,img_name,pixels)",
			    want[k]);
			return -1;
		}
	return 0;
}

/* Fill it with the next unit of work. Called under the lock. Returns 0 when there is none. */
static int next_item(decoder *dc, item *it)
{
	static char *line;
	static size_t cap;

	while (dc->cur < dc->nin) {
		input *in = &dc->in[dc->cur];
		char msg[256];
		ssize_t n;

		memset(it, 0, sizeof *it);
		if (!in->started) {
			in->started = 1;
			if (in->kind == IN_DIR &&
			    facet_list_images(in->name, &in->paths, &in->npaths, msg, sizeof msg) !=
			        0)
				goto error;
			if (in->kind == IN_LIST || in->kind == IN_CSV) {
				in->f = !strcmp(in->name, "-") ? stdin : fopen(in->name, "r");
				if (!in->f) {
					snprintf(msg, sizeof msg, "cannot open: %s",
					         strerror(errno));
					goto error;
				}
			}
			if (in->kind == IN_FILE) {
				it->kind = ITEM_FILE;
				it->path = xstrdup(in->name);
				dc->cur++;
				return 1;
			}
		}
		switch (in->kind) {
		case IN_DIR:
			if (in->next < in->npaths) {
				it->kind = ITEM_FILE;
				it->path = in->paths[in->next];
				in->paths[in->next++] = NULL;
				return 1;
			}
			break;
		case IN_LIST:
			while ((n = read_line(in->f, &line, &cap)) >= 0) {
				if (n == 0)
					continue;
				it->kind = ITEM_FILE;
				it->path = xstrdup(line);
				return 1;
			}
			break;
		case IN_CSV:
			while ((n = read_line(in->f, &line, &cap)) >= 0) {
				in->line++;
				if (in->line == 1) {
					/* a UTF-8 byte-order mark, as spreadsheets write */
					if (!strncmp(line, "\xEF\xBB\xBF", 3))
						memmove(line, line + 3, (size_t)n - 2);
					if (csv_header(in, line, msg, sizeof msg) != 0)
						goto error;
					continue;
				}
				if (n == 0)
					continue;
				it->kind = ITEM_ROW;
				it->path = xstrdup(in->name);
				it->text = xstrdup(line);
				it->line = in->line;
				it->csv_col = in->csv_col;
				it->ncols = in->ncols;
				return 1;
			}
			if (ferror(in->f)) {
				snprintf(msg, sizeof msg, "read error: %s", strerror(errno));
				goto error;
			}
			break;
		}
		/* this input is finished */
		if (in->f && in->f != stdin)
			fclose(in->f);
		in->f = NULL;
		free(in->paths);
		in->paths = NULL;
		dc->cur++;
		continue;
	error:
		it->kind = ITEM_ERROR;
		it->path = xstrdup(in->name);
		it->line = in->kind == IN_CSV ? in->line : 0;
		snprintf(it->msg, sizeof it->msg, "%s", msg);
		if (in->f && in->f != stdin)
			fclose(in->f);
		in->f = NULL;
		for (size_t i = 0; i < in->npaths; i++)
			free(in->paths[i]);
		free(in->paths);
		in->paths = NULL;
		dc->cur++;
		return 1;
	}
	free(line);
	line = NULL;
	return 0;
}

/* ---------------------------------------------------------------- work */

/* Parse a non-negative integer field [s, s+n) in lo..hi. */
static int parse_int(const char *s, size_t n, int lo, int hi, int *v)
{
	long x = 0;
	if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
		s++;
		n -= 2;
	}
	while (n > 0 && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && isspace((unsigned char)s[n - 1]))
		n--;
	if (n == 0 || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		x = x * 10 + (s[i] - '0');
	}
	if (x < lo || x > hi)
		return -1;
	*v = (int)x;
	return 0;
}

#define CSV_SIDE 48

/* One CSV row -> labels and a [48, 48, 1] image (resized when --size is given). */
static void do_row(item *it, const facet_image_spec *spec)
{
	static const char *const names[5] = {"age", "ethnicity", "gender", "img_name", "pixels"};
	static const int hi[3] = {FACET_AGE_MAX, FACET_ETHNICITY_MAX, FACET_GENDER_MAX};
	const char *field[5] = {0}; /* age, ethnicity, gender, img_name, pixels */
	size_t flen[5] = {0};
	int nf = 0, v[3];
	const char *p = it->text, *err;
	int64_t shape[3] = {CSV_SIDE, CSV_SIDE, 1};
	facet_tensor img;
	uint8_t *px;
	size_t k = 0;

	for (;;) {
		size_t n = strcspn(p, ",");
		for (int k = 0; k < 5; k++) /* keep the five wanted columns, wherever they are */
			if (it->csv_col[k] == nf) {
				field[k] = p;
				flen[k] = n;
			}
		nf++;
		if (!p[n])
			break;
		p += n + 1;
	}
	if (nf != it->ncols) {
		snprintf(it->msg, sizeof it->msg, "%d fields, the header has %d", nf, it->ncols);
		goto fail;
	}
	for (int i = 0; i < 3; i++) {
		int c = i;
		if (parse_int(field[c], flen[c], 0, hi[i], &v[i]) != 0) {
			snprintf(it->msg, sizeof it->msg, "%s '%.*s' is not an integer in 0..%d",
			         names[i], (int)(flen[c] > 20 ? 20 : flen[c]), field[c], hi[i]);
			goto fail;
		}
	}
	{
		const char *s = field[3];
		size_t n = flen[3];
		if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
			s++;
			n -= 2;
		}
		if (n == 0) {
			snprintf(it->msg, sizeof it->msg, "empty img_name");
			goto fail;
		}
		it->id = xmalloc(n + 1);
		memcpy(it->id, s, n);
		it->id[n] = '\0';
	}
	facet_tensor_alloc(&img, FACET_U8, 3, shape);
	px = img.owned;
	{
		const char *s = field[4], *end = s + flen[4];
		if (s < end && *s == '"') {
			s++;
			if (end > s && end[-1] == '"')
				end--;
		}
		while (s < end) {
			int x = 0, digits = 0;
			while (s < end && (*s == ' ' || *s == '\t'))
				s++;
			if (s == end)
				break;
			while (s < end && isdigit((unsigned char)*s) && digits < 4) {
				x = x * 10 + (*s++ - '0');
				digits++;
			}
			if (!digits || x > 255 || (s < end && *s != ' ' && *s != '\t')) {
				snprintf(it->msg, sizeof it->msg,
				         "pixel %zu is not an integer in 0..255", k + 1);
				goto fail_img;
			}
			if (k == CSV_SIDE * CSV_SIDE) {
				snprintf(it->msg, sizeof it->msg, "more than %d pixels",
				         CSV_SIDE * CSV_SIDE);
				goto fail_img;
			}
			px[k++] = (uint8_t)x;
		}
	}
	if (k != CSV_SIDE * CSV_SIDE) {
		snprintf(it->msg, sizeof it->msg, "%zu pixels, want %d (48x48)", k,
		         CSV_SIDE * CSV_SIDE);
		goto fail_img;
	}
	if (spec->width > 0 && (spec->width != CSV_SIDE || spec->height != CSV_SIDE)) {
		if (facet_image_fit(&img, spec->width, spec->height, 1, FACET_FIT_CROP, 0,
		                    &it->image, &err) != 0) {
			snprintf(it->msg, sizeof it->msg, "%s", err);
			goto fail_img;
		}
		facet_tensor_free(&img);
	} else {
		it->image = img;
	}
	it->age = v[0];
	it->ethnicity = v[1];
	it->gender = v[2];
	return;
fail_img:
	facet_tensor_free(&img);
fail:
	free(it->id);
	it->id = NULL;
	it->failed = 1;
}

static void do_item(item *it, const facet_image_spec *spec)
{
	const char *base;

	it->age = it->gender = it->ethnicity = -1;
	switch (it->kind) {
	case ITEM_FILE:
		if (facet_image_decode_file(it->path, spec, &it->image, it->msg, sizeof it->msg) !=
		    0) {
			it->failed = 1;
			break;
		}
		base = strrchr(it->path, '/');
		it->id = xstrdup(base ? base + 1 : it->path);
		break;
	case ITEM_ROW:
		do_row(it, spec);
		break;
	default:
		it->failed = 1;
	}
}

/* pmap's next and work: take the next unit (under the lock), decode it (in a worker). */
static int next_unit(void *ctx, void **unit)
{
	item *it = xcalloc(1, sizeof *it);
	if (!next_item(ctx, it)) {
		free(it);
		return 0;
	}
	*unit = it;
	return 1;
}

static void work_unit(void *ctx, void *unit, int thread)
{
	decoder *dc = ctx;
	(void)thread;
	do_item(unit, &dc->o->spec);
}

/* ---------------------------------------------------------------- output */

/* pmap's emit, in input order: the record, or the failure named and counted. */
static void emit(void *ctx, void *unit)
{
	decoder *dc = ctx;
	item *it = unit;
	facet_record *r;

	dc->total++;
	if (it->failed) {
		dc->failed++;
		if (it->line > 0)
			warn("%s (%s, line %ld)", it->msg, it->path, it->line);
		else
			warn("%s (%s)", it->msg, it->path);
	} else {
		dc->decoded++;
		r = facet_record_new();
		facet_record_set_str(r, "id", it->id, strlen(it->id));
		facet_record_set_tensor(r, "image", &it->image);
		if (it->age >= 0)
			facet_record_set_int(r, "age", it->age);
		if (it->gender >= 0)
			facet_record_set_int(r, "gender", it->gender);
		if (it->ethnicity >= 0)
			facet_record_set_int(r, "ethnicity", it->ethnicity);
		facet_writer_put(dc->w, r);
		facet_record_free(r);
		facet_tensor_free(&it->image);
	}
	free(it->id);
	free(it->path);
	free(it->text);
	free(it);
}

/* --list: the paths the inputs name, in decoding order; what cannot be listed is named and
 * counted as a decode would. */
static void list_paths(decoder *dc)
{
	item it;
	while (next_item(dc, &it)) {
		dc->total++;
		if (it.kind == ITEM_FILE) {
			printf("%s\n", it.path);
		} else if (it.kind == ITEM_ROW) {
			die("%s is the notebook's CSV: its rows are not files to list (--list)",
			    it.path);
		} else {
			dc->failed++;
			warn("%s (%s)", it.msg, it.path);
		}
		free(it.path);
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	decoder dc = {0};
	static const facet_pmap_ops ops = {next_unit, work_unit, emit};

	facet_init("facet-decode");
	parse_options(argc, argv, &o);
	facet_image_init();
	dc.o = &o;
	dc.in = collect_inputs(argc - optind, argv + optind, &o, &dc.nin);
	if (o.list) {
		list_paths(&dc);
		free(dc.in);
		if (dc.failed)
			die("%llu of %llu inputs could not be listed", (unsigned long long)dc.failed,
			    (unsigned long long)dc.total);
		return FACET_EXIT_OK;
	}

	dc.w = facet_writer_open(stdout, "stdout");
	facet_pmap(o.jobs, &ops, &dc);
	facet_writer_close(dc.w);
	free(dc.in);

	if (dc.failed)
		die("%llu of %llu files failed", (unsigned long long)dc.failed,
		    (unsigned long long)dc.total);
	facet_info("decoded %llu images", (unsigned long long)dc.decoded);
	return FACET_EXIT_OK;
}
