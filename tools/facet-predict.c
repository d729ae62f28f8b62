/* facet-predict: one line per face — photo, face, box, age, gender (p), ethnicity (p) — for
 * people. It runs facet-detect PHOTOS | facet-score --flip --shift 3 --model M and prints what
 * comes out; with --aligned, facet-decode instead of facet-detect; given -, it scores the
 * records of standard input. --annotate also draws the answers on the photos. */
#include "facet.h"
#include "image.h"
#include "metrics.h"
#include "montage.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char usage[] =
    "Usage: facet-predict [OPTION]... PHOTO|DIR...\n"
    "  or:  facet-predict [OPTION]... --aligned IMAGE|DIR...\n"
    "  or:  facet-predict [OPTION]... - < STREAM\n"
    "Predict age, gender and ethnicity for every face in photos (any format libvips reads) and\n"
    "print one line per face, separated by tabs: photo, face index (from 0, largest first), box\n"
    "x0,y0,x1,y1 in the photo's pixels, age in years, gender with its probability, ethnicity\n"
    "with its probability. It runs facet-detect PHOTO... | facet-score --flip --shift 3 --model\n"
    "MODEL (the average of ten views: the face and its mirror, each also shifted 3 pixels four\n"
    "ways); facet-detect finds each face and aligns it to the training crops' geometry. A photo\n"
    "with no face is named on standard error.\n"
    "With --aligned the images are taken as faces already cropped and aligned like UTKFace's\n"
    "(facet-decode instead of facet-detect) and each prints one line: file, age, gender,\n"
    "ethnicity. Given -, it scores the records of a facet stream on standard input instead\n"
    "(from facet-detect, facet-decode, facet-synth, ...), one line per record named by its id\n"
    "(with face index and box when the record has a box).\n"
    "\n"
    "  -m, --model FILE   the model, or an ensemble of models in one file (default:\n"
    "                     $FACET_MODEL, else the shipped model models/facet-utk64.facet\n"
    "                     beside the tools)\n"
    "  -a, --aligned      the images are aligned face crops: do not detect\n"
    "      --int8         score in int8 (facet-score --int8; the model needs the int8\n"
    "                     calibration facet-quantize adds)\n"
    "  -A, --annotate DIR also write each photo with a face into DIR (same name; JPEG unless\n"
    "                     .png) with every face's box and answers drawn on it\n"
    "      --json         print the records as JSON lines (facet-dump) instead\n"
    "  -h, --help         show this help and exit\n"
    "  -V, --version      show the version and exit\n"
    "\n"
    "Exit status: 0 ok (also when a photo has no face), 1 a photo could not be read or the\n"
    "model failed (the other photos are still printed), 2 usage error.\n";

struct opts {
	const char *model;
	const char *annotate;
	int json, aligned, stream, int8;
	char **files;
	int nfiles;
};

static const char *bindir; /* our own folder: the other tools and the shipped model are there */

static const char *default_model(void)
{
	static char path[PATH_MAX + 64];
	static const char *const rel[] = {"/../models/facet-utk64.facet",
	                                  "/../../models/facet-utk64.facet", /* build-san/bin */
	                                  "/../share/facet/models/facet-utk64.facet"};
	const char *env = getenv("FACET_MODEL");
	if (env && *env)
		return env;
	for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
		snprintf(path, sizeof path, "%s%s", bindir, rel[i]);
		if (access(path, R_OK) == 0)
			return path;
	}
	die("no model found: the shipped model is not beside the tools; give --model FILE");
}

static void parse_options(int argc, char **argv, struct opts *o)
{
	enum { OPT_JSON = 256, OPT_INT8 };
	static const struct option longopts[] = {{"model", required_argument, NULL, 'm'},
	                                         {"aligned", no_argument, NULL, 'a'},
	                                         {"int8", no_argument, NULL, OPT_INT8},
	                                         {"annotate", required_argument, NULL, 'A'},
	                                         {"json", no_argument, NULL, OPT_JSON},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {"version", no_argument, NULL, 'V'},
	                                         {NULL, 0, NULL, 0}};
	struct stat st;
	int c;

	memset(o, 0, sizeof *o);
	while ((c = facet_getopt(argc, argv, "m:aA:hV", longopts)) != -1) {
		switch (c) {
		case 'm':
			o->model = optarg;
			break;
		case 'a':
			o->aligned = 1;
			break;
		case OPT_INT8:
			o->int8 = 1;
			break;
		case 'A':
			o->annotate = optarg;
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		default:
			facet_std_option(c, usage);
		}
	}
	if (optind == argc)
		usage_error("name at least one photo, or - for a stream on standard input");
	o->files = argv + optind;
	o->nfiles = argc - optind;
	for (int i = 0; i < o->nfiles; i++)
		if (strcmp(o->files[i], "-") == 0) {
			if (o->nfiles > 1)
				usage_error("- reads a stream from standard input: give no image files with it");
			o->stream = 1;
		}
	if (o->annotate && (o->aligned || o->stream))
		usage_error("--annotate draws on photos: not with --aligned or -");
	if (o->annotate && o->json)
		usage_error("--annotate goes with the lines, not with --json");
	if (o->annotate && (stat(o->annotate, &st) != 0 || !S_ISDIR(st.st_mode)))
		usage_error("--annotate takes an existing folder, not '%s'", o->annotate);
	if (!o->model)
		o->model = default_model();
}

/* Start a tool from our own folder with stdin/stdout redirected; returns its pid. */
static pid_t spawn(const char *tool, char **args, int in, int out, int close_fd)
{
	pid_t pid = fork();
	if (pid < 0)
		die("cannot fork:");
	if (pid == 0) {
		char path[PATH_MAX + 64];
		if (in != STDIN_FILENO) {
			dup2(in, STDIN_FILENO);
			close(in);
		}
		if (out != STDOUT_FILENO) {
			dup2(out, STDOUT_FILENO);
			close(out);
		}
		if (close_fd >= 0)
			close(close_fd);
		snprintf(path, sizeof path, "%s/%s", bindir, tool);
		execv(path, args);
		execvp(tool, args);
		warn("cannot run %s:", tool);
		_exit(127);
	}
	return pid;
}

static int finished_ok(pid_t pid, const char *tool)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		;
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 1;
	if (WIFSIGNALED(st))
		warn("%s was killed by signal %d", tool, WTERMSIG(st));
	return 0;
}

/* "age\tgender (p)\tethnicity (p)" of a scored record, "-" for what it lacks. */
static void format_answers(const facet_record *r, char *out, size_t n)
{
	facet_pred p;
	size_t k = 0;

	if (!facet_record_pred(r, &p)) {
		snprintf(out, n, "-\t-\t-");
		return;
	}
	k += (size_t)(p.has_age ? snprintf(out + k, n - k, "%.1f", p.age)
	                        : snprintf(out + k, n - k, "-"));
	if (p.has_gender) {
		int g = facet_argmax(p.gender, FACET_N_GENDER);
		k += (size_t)snprintf(out + k, n - k, "\t%s (%.2f)", facet_gender_names[g],
		                      p.gender[g]);
	} else {
		k += (size_t)snprintf(out + k, n - k, "\t-");
	}
	if (p.has_ethnicity) {
		int e = facet_argmax(p.ethnicity, FACET_N_ETHNICITY);
		snprintf(out + k, n - k, "\t%s (%.2f)", facet_ethnicity_names[e], p.ethnicity[e]);
	} else {
		snprintf(out + k, n - k, "\t-");
	}
}

/* A face's box from its record: 1 when it has one. */
static int record_box(const facet_record *r, double box[4])
{
	const msgpack_object *o = facet_record_get(r, "box");
	if (!o || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4)
		return 0;
	for (int i = 0; i < 4; i++)
		if (!facet_msgpack_number(&o->via.array.ptr[i], &box[i]))
			return 0;
	return 1;
}

/* The photos named on the command line, folders listed, in the order facet-detect takes them:
 * --annotate finds a face's photo by walking this list along with the records. */
typedef struct {
	char **paths;
	size_t n, cur;
	facet_mark *marks;
	int nmarks, cap;
} photos;

static void list_photos(const struct opts *o, photos *ph)
{
	size_t cap = 0;
	for (int i = 0; i < o->nfiles; i++) {
		struct stat st;
		char **sub = NULL, err[256];
		size_t nsub = 0;
		if (stat(o->files[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (facet_list_images(o->files[i], &sub, &nsub, err, sizeof err) != 0)
				continue; /* facet-detect names it */
		} else {
			sub = xmalloc(sizeof *sub);
			sub[0] = xstrdup(o->files[i]);
			nsub = 1;
		}
		if (ph->n + nsub > cap) {
			cap = 2 * (ph->n + nsub);
			ph->paths = xrealloc(ph->paths, cap * sizeof *ph->paths);
		}
		memcpy(ph->paths + ph->n, sub, nsub * sizeof *sub);
		ph->n += nsub;
		free(sub);
	}
}

/* The annotated copy of the current photo, with the marks gathered for it. */
static int draw_photo(const struct opts *o, photos *ph)
{
	const char *path = ph->paths[ph->cur], *base = strrchr(path, '/');
	char out[PATH_MAX + 16], err[512];
	facet_image_spec spec = {.channels = 3, .orient = 1};
	facet_tensor img;
	size_t len;
	int rc;

	base = base ? base + 1 : path;
	len = strlen(base);
	/* the same name, as JPEG unless it is a PNG */
	if (len > 4 && (!strcasecmp(base + len - 4, ".png") || !strcasecmp(base + len - 4, ".jpg")))
		snprintf(out, sizeof out, "%s/%s", o->annotate, base);
	else if (len > 5 && !strcasecmp(base + len - 5, ".jpeg"))
		snprintf(out, sizeof out, "%s/%s", o->annotate, base);
	else
		snprintf(out, sizeof out, "%s/%s.jpg", o->annotate, base);
	if (facet_image_decode_file(path, &spec, &img, err, sizeof err) != 0) {
		warn("cannot draw on %s: %s", path, err);
		return -1;
	}
	rc = facet_annotate_write(out, &img, ph->marks, ph->nmarks);
	facet_tensor_free(&img);
	ph->nmarks = 0;
	return rc;
}

/* Print a scored record's line; with --annotate keep its mark for its photo's picture. */
static int take_record(const struct opts *o, const facet_record *r, photos *ph)
{
	char id[4200], answers[160], *hash;
	double box[4];
	int rc = 0;

	facet_record_id_str(r, id, sizeof id);
	format_answers(r, answers, sizeof answers);
	if (!record_box(r, box) || !(hash = strrchr(id, '#'))) {
		printf("%s\t%s\n", id, answers);
		return 0;
	}
	*hash = '\0';
	printf("%s\t%s\t%.0f,%.0f,%.0f,%.0f\t%s\n", id, hash + 1, box[0], box[1], box[2], box[3],
	       answers);
	if (!o->annotate)
		return 0;
	/* a new photo: draw the one before, then find this one further down the list */
	if (ph->cur < ph->n && ph->nmarks && strcmp(hash + 1, "0") == 0) {
		rc = draw_photo(o, ph);
		ph->cur++;
	}
	while (ph->cur < ph->n) {
		const char *b = strrchr(ph->paths[ph->cur], '/');
		if (!strcmp(b ? b + 1 : ph->paths[ph->cur], id))
			break;
		ph->cur++;
	}
	if (ph->cur == ph->n)
		return rc;
	if (ph->nmarks == ph->cap) {
		ph->cap = ph->cap ? 2 * ph->cap : 16;
		ph->marks = xrealloc(ph->marks, (size_t)ph->cap * sizeof *ph->marks);
	}
	memcpy(ph->marks[ph->nmarks].box, box, sizeof box);
	/* "#K age gender ethnicity" without the probabilities' tabs */
	{
		char *c = ph->marks[ph->nmarks].caption, *t;
		int len = (int)(sizeof ph->marks->caption - 8);
		snprintf(c, sizeof ph->marks->caption, "#%.4s %.*s", hash + 1, len, answers);
		while ((t = strchr(c, '\t')))
			*t = ' ';
	}
	ph->nmarks++;
	return rc;
}

int main(int argc, char **argv)
{
	struct opts o;
	int p1[2], p2[2], ok, drawn = 0;
	pid_t front = 0, sco, dmp = 0;
	int in;
	char **fargs = NULL;
	char *sargs[] = {"facet-score", "--quiet", "--flip", "--shift", "3",
	                 "--model",     NULL,      NULL,     NULL};
	const size_t model_arg = 6; /* after --model; then --int8 when asked */
	const char *tool = NULL;
	photos ph = {0};

	facet_init("facet-predict");
	bindir = facet_tools_dir() ? facet_tools_dir() : ".";
	parse_options(argc, argv, &o);
	sargs[model_arg] = (char *)o.model;
	if (o.int8)
		sargs[model_arg + 1] = "--int8";
	if (pipe(p2))
		die("cannot make a pipe:");
	fflush(stdout);
	if (o.stream) {
		in = STDIN_FILENO; /* a stream of records: facet-score reads it as it is */
	} else {
		/* the photos, through facet-detect (or facet-decode for aligned crops) */
		tool = o.aligned ? "facet-decode" : "facet-detect";
		fargs = xcalloc((size_t)o.nfiles + 4, sizeof *fargs);
		fargs[0] = (char *)tool;
		fargs[1] = "--quiet";
		fargs[2] = "--";
		for (int i = 0; i < o.nfiles; i++)
			fargs[i + 3] = o.files[i];
		if (pipe(p1))
			die("cannot make a pipe:");
		front = spawn(tool, fargs, STDIN_FILENO, p1[1], p1[0]);
		close(p1[1]);
		in = p1[0];
	}
	sco = spawn("facet-score", sargs, in, p2[1], p2[0]);
	if (front)
		close(p1[0]);
	close(p2[1]);
	if (o.annotate)
		list_photos(&o, &ph);
	if (o.json) {
		char *jargs[] = {"facet-dump", NULL};
		dmp = spawn("facet-dump", jargs, p2[0], STDOUT_FILENO, -1);
		close(p2[0]);
	} else {
		facet_reader *rd = facet_reader_open(fdopen(p2[0], "rb"), "facet-score");
		facet_record *r;
		while (facet_reader_next(rd, &r))
			if (take_record(&o, r, &ph) != 0)
				drawn = -1;
		if (o.annotate && ph.nmarks && draw_photo(&o, &ph) != 0)
			drawn = -1;
		facet_reader_close(rd);
	}
	ok = !front || finished_ok(front, tool);
	ok &= finished_ok(sco, "facet-score");
	if (dmp)
		ok &= finished_ok(dmp, "facet-dump");
	for (size_t i = 0; i < ph.n; i++)
		free(ph.paths[i]);
	free(ph.paths);
	free(ph.marks);
	free(fargs);
	return ok && drawn == 0 ? 0 : 1;
}
