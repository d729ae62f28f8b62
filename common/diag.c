/* Diagnostics and command-line helpers shared by every facet tool. */
#include "facet.h"
#include "nn/fastops.h" /* FACET_PREC_*, what --precision names */

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *facet_prog = "facet";
int facet_quiet = 0;
int facet_stdout_reported = 0;
int facet_output_failures = 0;

const char *const facet_gender_names[FACET_N_GENDER] = {"male", "female"};
const char *const facet_ethnicity_names[FACET_N_ETHNICITY] = {"White", "Black", "Asian", "Indian",
                                                              "Other"};
const char *const facet_label_keys[FACET_N_LABELS] = {"age", "gender", "ethnicity"};
const int facet_label_max[FACET_N_LABELS] = {FACET_AGE_MAX, FACET_GENDER_MAX, FACET_ETHNICITY_MAX};

static void close_stdout_atexit(void)
{
	facet_close_stdout();
}

void facet_init(const char *prog)
{
	facet_prog = prog;
	signal(SIGPIPE, SIG_DFL);
	/* Past a file-size limit, let the write fail (and be reported, temp files removed) rather
	 * than die silently of SIGXFSZ. */
	signal(SIGXFSZ, SIG_IGN);
	atexit(close_stdout_atexit);
}

/* at after k more characters were asked to be written from at, when at most cap - 1 fit. */
static size_t advance(size_t at, int k, size_t cap)
{
	return k < 0 ? at : at + (size_t)k < cap ? at + (size_t)k : cap - 1;
}

/* One line, written at once: stderr is unbuffered, and the ranks of an MPI job (or the jobs of
 * a pipeline) share it, so a line written in pieces could be cut by another's. */
static void vwarn(const char *fmt, va_list ap)
{
	int saved = errno;
	size_t n = strlen(fmt), at;
	char line[8192];
	size_t cap = sizeof line - 1; /* and the newline */

	at = advance(0, snprintf(line, cap, "%s: ", facet_prog), cap);
	at = advance(at, vsnprintf(line + at, cap - at, fmt, ap), cap);
	if (n > 0 && fmt[n - 1] == ':')
		at = advance(at, snprintf(line + at, cap - at, " %s", strerror(saved)), cap);
	line[at++] = '\n';
	fwrite(line, 1, at, stderr);
}

void warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void facet_info(const char *fmt, ...)
{
	va_list ap;
	if (facet_quiet)
		return;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(FACET_EXIT_DATA);
}

void die_status(int status, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	exit(status);
}

void usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vwarn(fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try '%s --help' for more information.\n", facet_prog);
	exit(FACET_EXIT_USAGE);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory (allocating %zu bytes)", n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die("out of memory (allocating %zu x %zu bytes)", n, size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		die("out of memory (allocating %zu bytes)", n);
	return q;
}

char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;
	return memcpy(xmalloc(n), s, n);
}

void facet_help(const char *text)
{
	fputs(text, stdout);
	exit(FACET_EXIT_OK);
}

void facet_version(void)
{
	printf("%s (facet) %s\n", facet_prog, FACET_VERSION);
	exit(FACET_EXIT_OK);
}

/* The long option that arg ("--name" or "--name=value") names, exactly or by a prefix that only
 * one option has (two names for one option, --gray and --grey, count once, as for getopt_long);
 * NULL if none does. *n: how many options have that prefix. */
static const struct option *long_option(const struct option *lo, const char *arg, int *n)
{
	const char *name = arg + 2;
	size_t len = strcspn(name, "=");
	const struct option *found = NULL;

	*n = 0;
	for (; lo->name; lo++) {
		if (strncmp(lo->name, name, len) != 0)
			continue;
		if (lo->name[len] == '\0') {
			*n = 1;
			return lo;
		}
		if (!found)
			found = lo;
		if (lo == found || lo->has_arg != found->has_arg || lo->flag != found->flag ||
		    lo->val != found->val)
			++*n;
	}
	return *n == 1 ? found : NULL;
}

/* getopt_long() failed on an option: say which and how, as a usage error. argv[optind - 1] is the
 * long option it stopped at; a short one is optopt (argv[optind - 1] may be another argument, when
 * the bad letter is inside a group such as -qx). */
FACET_NORETURN static void bad_option(char *const argv[], const char *shortopts,
                                      const struct option *longopts)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "";
	const struct option *lo = NULL;
	int n = 0;

	if (strncmp(arg, "--", 2) == 0 && arg[2])
		lo = long_option(longopts, arg, &n);
	if (optopt == 0 && n > 1) {
		char names[512];
		size_t at = 0, len = strcspn(arg + 2, "=");
		for (const struct option *p = longopts; p->name; p++)
			if (strncmp(p->name, arg + 2, len) == 0)
				at = advance(at,
				             snprintf(names + at, sizeof names - at, "%s--%s",
				                      at ? ", " : "", p->name),
				             sizeof names);
		usage_error("ambiguous option '%.*s' (could be %s)", (int)len + 2, arg, names);
	}
	if (optopt == 0)
		usage_error("unknown option '%.*s'", (int)strcspn(arg, "="), arg);
	if (lo && lo->val == optopt) {
		if (strchr(arg, '=') && lo->has_arg == no_argument)
			usage_error("option '--%s' takes no argument", lo->name);
		usage_error("option '--%s' needs an argument", lo->name);
	}
	if (optopt > 0 && optopt < 256 && optopt != ':') {
		const char *s = strchr(shortopts, optopt);
		if (s && s[1] == ':')
			usage_error("option '-%c' needs an argument", optopt);
		usage_error("unknown option '-%c'", optopt);
	}
	usage_error("bad option '%s'", arg);
}

int facet_getopt(int argc, char *const argv[], const char *shortopts, const struct option *longopts)
{
	int c;

	opterr = 0; /* the message is bad_option()'s, one line */
	c = getopt_long(argc, argv, shortopts, longopts, NULL);
	if (c == '?' || c == ':')
		bad_option(argv, shortopts, longopts);
	return c;
}

void facet_std_option(int c, const char *usage)
{
	switch (c) {
	case 'q':
		facet_quiet = 1;
		return;
	case 'h':
		facet_help(usage);
	case 'V':
		facet_version();
	default:
		usage_error("unknown option");
	}
}

long facet_parse_long(const char *opt, const char *arg, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno || end == arg || *end || v < min || v > max)
		usage_error("%s takes an integer in %ld..%ld, not '%s'", opt, min, max, arg);
	return v;
}

double facet_parse_double(const char *opt, const char *arg, double min, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || *end || !(v >= min && v <= max))
		usage_error("%s takes a number in %g..%g, not '%s'", opt, min, max, arg);
	return v;
}

void facet_parse_size(const char *opt, const char *arg, int *w, int *h)
{
	char *end;
	long a, b;

	errno = 0;
	a = strtol(arg, &end, 10);
	if (errno || end == arg || (*end != 'x' && *end != 'X'))
		usage_error("%s takes a size WxH (e.g. 64x64), not '%s'", opt, arg);
	b = strtol(end + 1, &end, 10);
	if (errno || *end || a < 1 || b < 1 || a > 65535 || b > 65535)
		usage_error("%s takes a size WxH with sides 1..65535, not '%s'", opt, arg);
	*w = (int)a;
	*h = (int)b;
}

int facet_name_index(const char *s, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

int facet_parse_precision(const char *arg)
{
	static const char *const names[] = {[FACET_PREC_F32] = "fp32", [FACET_PREC_BF16] = "bf16"};
	int i = facet_name_index(arg, names, 2);
	if (i < 0)
		usage_error("--precision takes fp32 or bf16, not '%s'", arg);
	return i;
}

int facet_parse_engine(const char *arg)
{
	static const char *const names[] = {"reference", "onednn"}; /* the fast path off, on */
	int i = facet_name_index(arg, names, 2);
	if (i < 0)
		usage_error("--engine takes onednn or reference, not '%s'", arg);
	return i;
}

void facet_close_stdout(void)
{
	static int done;
	int bad;

	if (done)
		return;
	done = 1;
	bad = fflush(stdout) != 0 || ferror(stdout);
	if (fclose(stdout) != 0)
		bad = 1;
	if (bad && !facet_stdout_reported) {
		/* EPIPE with SIGPIPE at its default never gets here; anything else is a lost write. */
		warn("write error on stdout:");
		_exit(FACET_EXIT_DATA);
	}
	if (bad)
		_exit(FACET_EXIT_DATA);
}

/* ---------------------------------------------------------------- atomic files */

#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>

/* Temp files that a die() must not leave behind. */
#define MAX_PENDING 16
static char *pending[MAX_PENDING];

static void remove_pending(void)
{
	for (int i = 0; i < MAX_PENDING; i++)
		if (pending[i])
			unlink(pending[i]);
}

static void track(char *tmp, int on)
{
	static int registered;
	if (!registered) {
		atexit(remove_pending);
		registered = 1;
	}
	for (int i = 0; i < MAX_PENDING; i++) {
		if (on && !pending[i]) {
			pending[i] = tmp;
			return;
		}
		if (!on && pending[i] == tmp) {
			pending[i] = NULL;
			return;
		}
	}
}

int facet_atomic_open(facet_atomic *a, const char *path)
{
	size_t n = strlen(path) + 32;
	int fd;

	a->path = xstrdup(path);
	a->tmp = xmalloc(n);
	snprintf(a->tmp, n, "%s.tmp.XXXXXX", path);
	fd = mkstemp(a->tmp);
	if (fd < 0) {
		free(a->tmp);
		free(a->path);
		a->tmp = a->path = NULL;
		return -1;
	}
	fchmod(fd, 0644);
	a->f = fdopen(fd, "wb");
	if (!a->f) {
		close(fd);
		unlink(a->tmp);
		free(a->tmp);
		free(a->path);
		a->tmp = a->path = NULL;
		return -1;
	}
	track(a->tmp, 1);
	return 0;
}

static void atomic_release(facet_atomic *a)
{
	track(a->tmp, 0);
	free(a->tmp);
	free(a->path);
	a->tmp = a->path = NULL;
	a->f = NULL;
}

int facet_atomic_commit(facet_atomic *a)
{
	int bad = fflush(a->f) != 0 || ferror(a->f);
	int saved;

	if (!bad && fsync(fileno(a->f)) != 0)
		bad = 1;
	saved = errno;
	if (fclose(a->f) != 0 && !bad) {
		bad = 1;
		saved = errno;
	}
	if (!bad && rename(a->tmp, a->path) != 0) {
		bad = 1;
		saved = errno;
	}
	if (bad) {
		unlink(a->tmp);
		atomic_release(a);
		errno = saved ? saved : EIO;
		return -1;
	}
	/* Make the rename itself durable. */
	{
		char *copy = xstrdup(a->path);
		int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
		if (dfd >= 0) {
			fsync(dfd);
			close(dfd);
		}
		free(copy);
	}
	atomic_release(a);
	return 0;
}

void facet_atomic_abort(facet_atomic *a)
{
	if (!a->tmp)
		return;
	if (a->f)
		fclose(a->f);
	unlink(a->tmp);
	atomic_release(a);
}

/* Under LeakSanitizer (make check SANITIZE=1): fontconfig, below cairo's and pango's text (the
 * charts, and libvips' text on montages and annotated photos), keeps its caches until exit by
 * design; that is not a leak of ours. Open MPI (facet-train under mpirun) keeps what its
 * runtime and plugins allocate past MPI_Finalize, the plugins unloaded by then. Here, in the
 * file every tool links, so that every tool that draws text or joins an MPI job has it. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
	return "leak:libfontconfig\n"
	       "leak:libmpi.so\n"
	       "leak:libopen-pal.so\n"
	       "leak:libopen-rte.so\n"
	       "leak:libpmix.so\n"
	       "leak:libhwloc.so\n"
	       "leak:libevent\n";
}

const char *__lsan_default_options(void);
const char *__lsan_default_options(void)
{
	return "print_suppressions=0";
}
