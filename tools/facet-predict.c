/* facet-predict: one line per face image — file, age, gender (p), ethnicity (p) — for people.
 * It runs the pipeline facet-decode FILES | facet-score --flip --shift 3 --model M and
 * prints what comes out; given -, it scores the records of standard input instead. */
#include "facet.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char usage[] =
    "Usage: facet-predict [OPTION]... IMAGE...\n"
    "  or:  facet-predict [OPTION]... - < STREAM\n"
    "Predict age, gender and ethnicity for each face image (any format libvips reads) and print\n"
    "one line per image: file, age in years, gender with its probability, ethnicity with its\n"
    "probability, separated by tabs. The model expects aligned, cropped faces like UTKFace's\n"
    "(the face filling the frame, eyes level); other photos give meaningless answers.\n"
    "It runs facet-decode IMAGE... | facet-score --flip --shift 3 --model MODEL (the average of\n"
    "ten views: the image and its mirror, each also shifted 3 pixels four ways); images are\n"
    "resized as the model was trained. Given -, it scores the records of a facet stream on\n"
    "standard input instead (from facet-decode, facet-synth, ...) and prints a line per record,\n"
    "named by its id.\n"
    "\n"
    "  -m, --model FILE   the model, or an ensemble of models in one file (default:\n"
    "                     $FACET_MODEL, else the shipped model models/facet-utk64.facet\n"
    "                     beside the tools)\n"
    "  -j, --json         print the records as JSON lines (facet-dump) instead\n"
    "  -h, --help         show this help and exit\n"
    "  -V, --version      show the version and exit\n"
    "\n"
    "Exit status: 0 ok, 1 an image could not be read or the model failed (the other images are\n"
    "still printed), 2 usage error.\n";

struct opts {
	const char *model;
	int json;
	char **files;
	int nfiles;
};

static char bindir[PATH_MAX];

static void find_bindir(void)
{
	ssize_t n = readlink("/proc/self/exe", bindir, sizeof bindir - 1);
	char *slash;
	if (n <= 0) {
		strcpy(bindir, ".");
		return;
	}
	bindir[n] = 0;
	slash = strrchr(bindir, '/');
	if (slash)
		*slash = 0;
}

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
	static const struct option longopts[] = {{"model", required_argument, NULL, 'm'},
	                                         {"json", no_argument, NULL, 'j'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {"version", no_argument, NULL, 'V'},
	                                         {NULL, 0, NULL, 0}};
	int c;

	memset(o, 0, sizeof *o);
	while ((c = getopt_long(argc, argv, "m:jhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			o->model = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		default:
			facet_std_option(c, usage);
		}
	}
	if (optind == argc)
		usage_error("name at least one image, or - for a stream on standard input");
	o->files = argv + optind;
	o->nfiles = argc - optind;
	for (int i = 0; i < o->nfiles; i++)
		if (strcmp(o->files[i], "-") == 0 && o->nfiles > 1)
			usage_error("- reads a stream from standard input: give no image files with it");
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

static int argmax(const double *p, int n)
{
	int k = 0;
	for (int i = 1; i < n; i++)
		if (p[i] > p[k])
			k = i;
	return k;
}

static void print_line(const facet_record *r)
{
	char id[4200];
	facet_pred p;

	facet_record_id_str(r, id, sizeof id);
	if (!facet_record_pred(r, &p)) {
		printf("%s\t-\t-\t-\n", id);
		return;
	}
	printf("%s", id);
	if (p.has_age)
		printf("\t%.1f", p.age);
	else
		printf("\t-");
	if (p.has_gender) {
		int g = argmax(p.gender, FACET_N_GENDER);
		printf("\t%s (%.2f)", facet_gender_names[g], p.gender[g]);
	} else {
		printf("\t-");
	}
	if (p.has_ethnicity) {
		int e = argmax(p.ethnicity, FACET_N_ETHNICITY);
		printf("\t%s (%.2f)", facet_ethnicity_names[e], p.ethnicity[e]);
	} else {
		printf("\t-");
	}
	putchar('\n');
}

int main(int argc, char **argv)
{
	struct opts o;
	int p1[2], p2[2], ok;
	pid_t dec = 0, sco, dmp = 0;
	int in;
	char **dargs = NULL;
	char *sargs[] = {"facet-score", "--quiet", "--flip", "--shift", "3", "--model", NULL, NULL};
	const size_t model_arg = sizeof sargs / sizeof *sargs - 2; /* the NULL after --model */

	facet_init("facet-predict");
	find_bindir();
	parse_options(argc, argv, &o);
	sargs[model_arg] = (char *)o.model;
	if (pipe(p2))
		die("cannot make a pipe:");
	fflush(stdout);
	if (strcmp(o.files[0], "-") == 0) {
		in = STDIN_FILENO; /* a stream of records: facet-score reads it as it is */
	} else {
		dargs = xcalloc((size_t)o.nfiles + 4, sizeof *dargs);
		dargs[0] = "facet-decode";
		dargs[1] = "--quiet";
		dargs[2] = "--";
		for (int i = 0; i < o.nfiles; i++)
			dargs[i + 3] = o.files[i];
		if (pipe(p1))
			die("cannot make a pipe:");
		dec = spawn("facet-decode", dargs, STDIN_FILENO, p1[1], p1[0]);
		close(p1[1]);
		in = p1[0];
	}
	sco = spawn("facet-score", sargs, in, p2[1], p2[0]);
	if (dec)
		close(p1[0]);
	close(p2[1]);
	if (o.json) {
		char *jargs[] = {"facet-dump", NULL};
		dmp = spawn("facet-dump", jargs, p2[0], STDOUT_FILENO, -1);
		close(p2[0]);
	} else {
		facet_reader *rd = facet_reader_open(fdopen(p2[0], "rb"), "facet-score");
		facet_record *r;
		while (facet_reader_next(rd, &r))
			print_line(r);
		facet_reader_close(rd);
	}
	ok = !dec || finished_ok(dec, "facet-decode");
	ok &= finished_ok(sco, "facet-score");
	if (dmp)
		ok &= finished_ok(dmp, "facet-dump");
	free(dargs);
	return ok ? 0 : 1;
}
