/* facet-train: train a multi-task CNN on a facet stream. */
#include "facet.h"
#include "nn/dist.h"
#include "nn/fastops.h"
#include "nn/nn.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "Usage: facet-train --config CFG [OPTION]... < TRAIN\n"
    "       facet-train --resume CKPT [OPTION]... < TRAIN\n"
    "       mpirun -np N facet-train --config CFG --train TRAIN [OPTION]...\n"
    "Train the network of CFG (facet-config(5)) on the labelled records of standard input (or\n"
    "--train FILE), held in memory as uint8, and write the model. A checkpoint OUT.ckpt is\n"
    "written every epoch (and every checkpoint_steps steps); --resume continues from one\n"
    "exactly. SIGINT/SIGTERM finish the step, save a checkpoint and exit 128+signal. Under\n"
    "mpirun, N processes train one model: each computes its share of every batch, they sum\n"
    "the gradients, and rank 0 validates and writes the files (facet-train(1)). One metrics\n"
    "record per epoch goes to the metrics file (facet-metrics(5)); progress goes to stderr. A\n"
    "config whose heads have distill= learns them against a teacher's predictions too: the\n"
    "\"pred\" facet-score adds to each record\n"
    "(facet-score --model TEACHER < TRAIN | facet-train --config CFG).\n"
    "\n"
    "  -c, --config CFG         network and training config\n"
    "      --train FILE         training stream (default: standard input; required under mpirun)\n"
    "  -v, --val FILE           validation stream (metrics, early stopping, best weights)\n"
    "  -e, --epochs N           epochs (default: the config's)\n"
    "  -S, --seed S             random seed for init, shuffling, dropout, augmentation (default 1)\n"
    "  -o, --out PATH           model file (default model.facet; with --resume, CKPT less .ckpt)\n"
    "      --metrics FILE       metrics file (default OUT.metrics)\n"
    "  -r, --resume CKPT        continue the run a checkpoint stopped\n"
    "  -p, --precision P        fp32 or bf16 (bf16 compute, fp32 weights; default fp32)\n"
    "  -E, --engine E           onednn (default) or reference (the plain-C kernels)\n"
    "  -t, --threads N          threads (default: all cores, shared by the ranks on a host)\n"
    "      --print-config       print the config as facet-train reads it (every section, every\n"
    "                           key it sets, defaults included; a checkpoint's with --resume)\n"
    "                           on standard output and exit, training nothing\n"
    "  -q, --quiet              no progress or informational lines\n"
    "  -h, --help               show this help and exit\n"
    "  -V, --version            show the version and exit\n"
    "\n"
    "Exit status: 0 ok, 1 bad input, NaN loss or write error, 2 usage error, 128+N on signal N.\n";

struct opts {
	const char *config, *val, *resume, *train;
	char *out, *metrics, *ckpt;
	int epochs, threads, precision, fast;
	uint64_t seed;
	int seed_given;
	int print_config;
	int raise_signal;   /* FACET_TRAIN_RAISE: the signal to raise on itself ... */
	int64_t raise_step; /* ... once this many steps are done (0: never) ... */
	int raise_rank;     /* ... on this rank (-1: every rank) */
};

static volatile sig_atomic_t stop_signal;

/* FACET_TRAIN_RAISE=SIGNAL@STEP[:RANK] (facet-train(1), ENVIRONMENT): stop the run at a known
 * point, as that signal from outside would, so that the tests of stopping and resuming never race
 * a clock. */
static void parse_raise(struct opts *o)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = {{"INT", SIGINT}, {"KILL", SIGKILL}, {"TERM", SIGTERM}};
	const char *s = getenv("FACET_TRAIN_RAISE");
	const char *at = s ? strchr(s, '@') : NULL;
	char *end = NULL;
	if (!s || !*s)
		return;
	if (at) {
		for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
			if ((size_t)(at - s) == strlen(sigs[i].name) &&
			    !strncmp(s, sigs[i].name, (size_t)(at - s)))
				o->raise_signal = sigs[i].sig;
		errno = 0;
		o->raise_step = strtoll(at + 1, &end, 10);
		if (!errno && end != at + 1 && *end == ':') {
			const char *r = end + 1;
			o->raise_rank = (int)strtol(r, &end, 10);
			if (end == r || o->raise_rank < 0)
				end = (char *)r - 1; /* not a rank: refused below */
		}
	}
	if (!o->raise_signal || errno || end == at + 1 || *end || o->raise_step < 1)
		usage_error("FACET_TRAIN_RAISE=%s is not SIGNAL@STEP[:RANK] (INT, KILL or TERM; STEP >= 1)",
		            s);
}

static void parse_options(int argc, char **argv, struct opts *o)
{
	enum { OPT_METRICS = 256, OPT_TRAIN, OPT_PRINT_CONFIG };
	static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
	                                         {"train", required_argument, NULL, OPT_TRAIN},
	                                         {"val", required_argument, NULL, 'v'},
	                                         {"epochs", required_argument, NULL, 'e'},
	                                         {"seed", required_argument, NULL, 'S'},
	                                         {"out", required_argument, NULL, 'o'},
	                                         {"metrics", required_argument, NULL, OPT_METRICS},
	                                         {"print-config", no_argument, NULL, OPT_PRINT_CONFIG},
	                                         {"resume", required_argument, NULL, 'r'},
	                                         {"precision", required_argument, NULL, 'p'},
	                                         {"engine", required_argument, NULL, 'E'},
	                                         {"threads", required_argument, NULL, 't'},
	                                         {"quiet", no_argument, NULL, 'q'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {"version", no_argument, NULL, 'V'},
	                                         {NULL, 0, NULL, 0}};
	const char *out = NULL, *metrics = NULL;
	int c;

	memset(o, 0, sizeof *o);
	o->raise_rank = -1;
	o->seed = 1;
	o->fast = 1;
	o->precision = FACET_PREC_F32;
	while ((c = facet_getopt(argc, argv, "c:v:e:S:o:r:p:E:t:qhV", longopts)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case OPT_TRAIN:
			o->train = optarg;
			break;
		case 'v':
			o->val = optarg;
			break;
		case 'e':
			o->epochs = (int)facet_parse_long("--epochs", optarg, 1, 1000000);
			break;
		case 'S':
			o->seed = (uint64_t)facet_parse_long("--seed", optarg, 0, LONG_MAX);
			o->seed_given = 1;
			break;
		case 'o':
			out = optarg;
			break;
		case OPT_PRINT_CONFIG:
			o->print_config = 1;
			break;
		case OPT_METRICS:
			metrics = optarg;
			break;
		case 'r':
			o->resume = optarg;
			break;
		case 'p':
			o->precision = facet_parse_precision(optarg);
			break;
		case 'E':
			o->fast = facet_parse_engine(optarg);
			break;
		case 't':
			o->threads = (int)facet_parse_long("--threads", optarg, 1, 1024);
			break;
		default:
			facet_std_option(c, usage);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' (the training stream comes on stdin or --train FILE)",
		            argv[optind]);
	if (facet_dist_size() > 1 && !o->train)
		usage_error(
		    "under mpirun give --train FILE: every rank reads it, and stdin reaches rank 0 only");
	if (!o->config && !o->resume)
		usage_error("give --config CFG (or --resume CKPT)");
	if (o->precision == FACET_PREC_BF16 && !o->fast)
		usage_error("--precision bf16 needs --engine onednn");
	parse_raise(o);
	if (o->raise_rank >= facet_dist_size())
		usage_error("FACET_TRAIN_RAISE names rank %d, but the job has %d", o->raise_rank,
		            facet_dist_size());
	if (out)
		o->out = xstrdup(out);
	else if (o->resume && strlen(o->resume) > 5 &&
	         !strcmp(o->resume + strlen(o->resume) - 5, ".ckpt")) {
		o->out = xstrdup(o->resume);
		o->out[strlen(o->out) - 5] = 0;
	} else {
		o->out = xstrdup("model.facet");
	}
	size_t n = strlen(o->out) + 16;
	o->ckpt = xmalloc(n);
	snprintf(o->ckpt, n, "%s.ckpt", o->out);
	if (metrics) {
		o->metrics = xstrdup(metrics);
	} else {
		o->metrics = xmalloc(n);
		snprintf(o->metrics, n, "%s.metrics", o->out);
	}
}

/* Threads: --threads, else OMP_NUM_THREADS, else the cores shared out among the ranks on this
 * host. */
static void setup_threads(const struct opts *o)
{
	int local = facet_dist_local_size(), threads = o->threads;
	if (!threads && local > 1 && !getenv("OMP_NUM_THREADS"))
		threads = omp_get_num_procs() / local > 0 ? omp_get_num_procs() / local : 1;
	facet_fast_set_threads(threads);
	if (o->precision == FACET_PREC_BF16 && !facet_fast_has_bf16())
		warn("this CPU has no native bf16: the fast path computes in fp32");
}

/* The opening line, once the config or checkpoint is known to be good: what the run uses. */
static void say_where(void)
{
	int ranks = facet_dist_size(), local = facet_dist_local_size(), threads;
	threads = omp_get_max_threads();
	if (ranks > 1)
		facet_info("training on %d ranks (Open MPI, %d on this host) x %d thread%s each",
		           ranks, local, threads, threads == 1 ? "" : "s");
	else
		facet_info("training on 1 process x %d thread%s", threads, threads == 1 ? "" : "s");
}

static void echo_defaults(const facet_net *net, const char *name)
{
	char *buf = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		die("open_memstream:");
	facet_net_write_config(net, f, 1);
	fclose(f);
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		facet_info("%s: %s", name, line);
	free(buf);
}

/* --print-config: the config of --config, or the checkpoint's, in its canonical form. */
static void print_config(const struct opts *o)
{
	char err[512];
	facet_train_state st;
	facet_net *net;

	facet_train_state_init(&st);
	net = o->resume ? facet_model_load(o->resume, &st, err, sizeof err)
	                : facet_net_load_config(o->config, err, sizeof err);
	if (!net)
		die("%s", err);
	facet_net_write_config(net, stdout, 0);
	facet_train_state_free(&st);
	facet_net_free(net);
}

/* The net from the config, or from the checkpoint (which then also fills st). */
static facet_net *open_net(struct opts *o, facet_train_state *st)
{
	char err[512];
	facet_net *cfg = NULL, *net;

	facet_train_state_init(st);
	if (o->config) {
		cfg = facet_net_load_config(o->config, err, sizeof err);
		if (!cfg)
			die("%s", err);
	}
	if (!o->resume) {
		say_where();
		if (!facet_quiet)
			echo_defaults(cfg, o->config);
		st->seed = o->seed;
		st->epochs = o->epochs ? o->epochs : cfg->train.epochs;
		facet_train_schedule_init(st, &cfg->train);
		return cfg;
	}
	net = facet_model_load(o->resume, st, err, sizeof err);
	if (!net) {
		facet_net_free(cfg);
		die("%s", err);
	}
	if (st->epochs == 0) {
		facet_net_free(net);
		facet_net_free(cfg);
		die("%s is a model, not a checkpoint: nothing to resume", o->resume);
	}
	if (cfg) {
		char *a = facet_net_config_string(cfg), *b = facet_net_config_string(net);
		int same = !strcmp(a, b);
		free(a);
		free(b);
		if (!same) {
			facet_net_free(net);
			facet_net_free(cfg);
			die("%s differs from the config the checkpoint %s was trained with",
			    o->config, o->resume);
		}
		facet_net_free(cfg);
	}
	if (o->seed_given && o->seed != st->seed)
		die("--seed %llu differs from the checkpoint's seed %llu (%s)",
		    (unsigned long long)o->seed, (unsigned long long)st->seed, o->resume);
	if (o->epochs)
		st->epochs = o->epochs;
	say_where();
	facet_info("resuming %s at epoch %d, step %d", o->resume, st->epoch + 1, st->step);
	return net;
}

/* Record k's "pred" as the soft targets of the heads d keeps them for (gender: p_female;
 * ethnicity: the 5 probabilities), checked to be there and to be distributions (facet-score
 * writes them rounded). */
static void teacher_rows(const facet_record *r, unsigned long long k, const char *name,
                         const facet_dataset *d, float *gender, float *ethnicity)
{
	facet_pred p;
	if (!facet_record_pred(r, &p))
		die("record %llu has no 'pred', the teacher's predictions that distill= learns from (add them with facet-score --model TEACHER) (%s)",
		    k, name);
	const struct {
		int has, n;
		const double *v;
	} row[FACET_HEADS] = {
	    [FACET_HEAD_GENDER] = {p.has_gender, FACET_N_GENDER, p.gender},
	    [FACET_HEAD_ETHNICITY] = {p.has_ethnicity, FACET_N_ETHNICITY, p.ethnicity}};
	for (int h = FACET_HEAD_GENDER; h < FACET_HEADS; h++) {
		if (!d->soft_units[h])
			continue;
		if (!row[h].has)
			die("'pred' has no '%s', which [head %s] distill= learns from (%s, record %llu)",
			    facet_head_names[h], facet_head_names[h], name, k);
		double sum = 0;
		for (int j = 0; j < row[h].n; j++)
			sum += row[h].v[j];
		if (fabs(sum - 1) > 0.01)
			die("'pred.%s' sums to %g, not 1 (%s, record %llu)", facet_head_names[h],
			    sum, name, k);
	}
	gender[0] = (float)p.gender[1];
	for (int j = 0; j < FACET_N_ETHNICITY; j++)
		ethnicity[j] = (float)p.ethnicity[j];
}

/* Read a stream into d in the net's input geometry; with teacher, also the "pred" of each record
 * as the soft targets of the heads that learn against them (distill > 0). */
static void read_data(const char *path, const char *what, const facet_net *net, int teacher,
                      facet_dataset *d)
{
	const facet_input_cfg *in = &net->input;
	facet_reader *rd = facet_reader_open_path(path);
	const char *name = facet_reader_name(rd);
	facet_record *r;
	int64_t first[3] = {0, 0, 0};
	size_t px = (size_t)in->width * in->height * in->channels;
	uint8_t *buf = xmalloc(px);
	const char *keys[FACET_HEADS] = {"age", "gender", "ethnicity"};

	facet_dataset_init(d, in->height, in->width, in->channels);
	for (int h = FACET_HEAD_GENDER; teacher && h < FACET_HEADS; h++)
		if (net->head[h].present && net->head[h].distill > 0)
			d->soft_units[h] = facet_head_units(h);
	while (facet_reader_next(rd, &r)) {
		unsigned long long k = (unsigned long long)facet_reader_count(rd);
		facet_tensor t;
		if (!facet_record_tensor(r, "image", &t))
			die("record %llu has no 'image' (%s)", k, name);
		if (!facet_is_image(&t))
			die("'image' is not a uint8 [H, W, C] image (%s, record %llu)", name, k);
		if (d->n == 0) {
			memcpy(first, t.shape, sizeof first);
			if (t.shape[0] != in->height || t.shape[1] != in->width ||
			    t.shape[2] != in->channels)
				facet_info(
				    "images are %lldx%lldx%lld, the net takes %dx%dx%d: converting them as facet-score does (%s)",
				    (long long)t.shape[1], (long long)t.shape[0],
				    (long long)t.shape[2], in->width, in->height, in->channels,
				    name);
		} else if (memcmp(first, t.shape, sizeof first)) {
			die("image is %lldx%lldx%lld but the first was %lldx%lldx%lld: images of mixed sizes (resize them with facet-resize) (%s, record %llu)",
			    (long long)t.shape[1], (long long)t.shape[0], (long long)t.shape[2],
			    (long long)first[1], (long long)first[0], (long long)first[2], name, k);
		}
		const char *why = facet_net_prepare_image(net, &t, buf);
		if (why)
			die("%s (%s, record %llu)", why, name, k);
		int lab[FACET_HEADS];
		for (int h = 0; h < FACET_HEADS; h++) {
			int64_t v;
			lab[h] = facet_record_int(r, keys[h], &v) ? (int)v : -1;
		}
		float sg[1], se[FACET_N_ETHNICITY];
		const float *soft[FACET_HEADS] = {NULL, sg, se};
		if (teacher)
			teacher_rows(r, k, name, d, sg, se);
		facet_dataset_add(d, buf, lab, soft);
	}
	free(buf);
	if (d->n == 0)
		die("the %s stream is empty (%s)", what, name);
	facet_reader_close(rd);
}

/* Every head of the net needs labels in the training data (read from name). */
static void check_labels(const facet_net *net, const facet_dataset *d, const char *name)
{
	for (int h = 0; h < FACET_HEADS; h++) {
		if (!net->head[h].present)
			continue;
		size_t n = 0;
		for (size_t i = 0; i < d->n; i++)
			n += d->label[h][i] >= 0;
		if (!n)
			die("no record of the training stream has a '%s' label, which [head %s] learns (label the stream with facet-label) (%s)",
			    facet_head_names[h], facet_head_names[h], name);
	}
}

/* Data parallelism (facet-train(1), RUNNING UNDER MPIRUN). Every rank holds the whole training
 * set and draws the same order each epoch; step s's batch is samples [s B, (s+1) B) of that
 * order, and rank r computes the contiguous part [first, first + local) of it, the ranks'
 * parts as even as B allows (the first B mod N ranks take one more). A sample draws the
 * augmentation its place in the whole batch gives it, so the ranks draw differently and the
 * batch is augmented as one process would augment it. With one rank all of this is the plain
 * run: local = B, first = 0, and nothing below calls MPI. */
static struct {
	int ranks, rank;
	int batch;   /* B: the global batch, the config's (or the training set's size if smaller) */
	int local;   /* the samples of it this rank computes */
	int first;   /* the first of them, counted in the whole batch */
	float *flat; /* the exchange: every gradient, every state value, the flags [nflat] */
	size_t nflat;
	double wait_s; /* seconds in the gradient exchange this epoch */
} dp;

/* What travels after the gradients and the state: the step's training sums (facet_metric_sums,
 * in its order), and how many ranks saw a loss that is not a number, a SIGINT, a SIGTERM. */
enum { SUMS = sizeof(facet_metric_sums) / sizeof(double) };
enum { FLAG_NAN = SUMS, FLAG_INT, FLAG_TERM, FLAGS };

static int rank0(void)
{
	return dp.rank == 0;
}

/* A failure every rank meets at once (the ranks hold the same weights): rank 0 says it, the
 * others leave quietly. */
#define die_all(...)                                                                               \
	do {                                                                                       \
		if (!rank0())                                                                      \
			exit(1);                                                                   \
		die(__VA_ARGS__);                                                                  \
	} while (0)

/* Share out the batch, check that every rank read the same training set, and start every rank
 * from rank 0's weights (a checkpoint's moments are read by every rank from the same file). */
static void dist_setup(facet_net *net, uint64_t sum, int batch, const struct opts *o)
{
	dp.ranks = facet_dist_size();
	dp.rank = facet_dist_rank();
	dp.batch = batch;
	dp.local = batch / dp.ranks + (dp.rank < batch % dp.ranks);
	dp.first = dp.rank * (batch / dp.ranks) +
	           (dp.rank < batch % dp.ranks ? dp.rank : batch % dp.ranks);
	if (dp.ranks < 2)
		return;
	if (batch < dp.ranks)
		die_all(
		    "a batch of %d is less than a sample for each of the %d ranks (a larger batch= in [train], or fewer ranks)",
		    batch, dp.ranks);
	uint64_t root = sum;
	facet_dist_bcast(&root, sizeof root, 0);
	if (root != sum)
		die("the training stream differs from rank 0's: every rank must read the same data (%s)",
		    o->train);
	for (int i = 0; i < net->nparam; i++) {
		facet_dist_bcast(net->param[i]->data, sizeof(float) * net->param[i]->n, 0);
		dp.nflat += net->param[i]->n;
	}
	dp.nflat += FLAGS;
	dp.flat = xmalloc(sizeof(float) * dp.nflat);
}

/* One MPI_Allreduce a step, of one flat buffer: every rank's gradients, weighted by its share
 * of the batch, so that their sum is the whole batch's mean gradient as one process computes
 * it; its batch-norm running statistics (state), just updated by the forward pass from its part
 * of the batch, weighted alike, so that every rank goes on from their mean (the ranks agree on
 * the whole state after every step, and a checkpoint holds all of it); the training sums of the
 * step, which every rank then adds to st->sums (so that all ranks hold the same sums, the whole
 * batch's); and the flags. flags gets the flags' sums. */
static void exchange(facet_net *net, facet_train_state *st, double loss, float flags[FLAGS])
{
	facet_metric_sums step;
	memset(&step, 0, sizeof step);
	facet_metric_add(&step, net, dp.local, loss);
	float w = (float)dp.local / (float)dp.batch;
	size_t at = 0;
	for (int i = 0; i < net->nparam; i++) {
		const facet_param *p = net->param[i];
		const float *v = p->grad ? p->grad : p->data;
		for (size_t j = 0; j < p->n; j++)
			dp.flat[at++] = v[j] * w;
	}
	for (int i = 0; i < SUMS; i++)
		dp.flat[at + i] = (float)((const double *)&step)[i];
	dp.flat[at + FLAG_NAN] = !isfinite(loss);
	dp.flat[at + FLAG_INT] = stop_signal == SIGINT;
	dp.flat[at + FLAG_TERM] = stop_signal == SIGTERM;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	facet_dist_sum_float(dp.flat, dp.nflat);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	dp.wait_s += (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
	at = 0;
	for (int i = 0; i < net->nparam; i++) {
		const facet_param *p = net->param[i];
		memcpy(p->grad ? p->grad : p->data, dp.flat + at, sizeof(float) * p->n);
		at += p->n;
	}
	for (int i = 0; i < SUMS; i++)
		((double *)&st->sums)[i] += dp.flat[at + i];
	memcpy(flags, dp.flat + at, sizeof(float) * FLAGS);
}

/* The signal every rank stops on: SIGTERM if any rank has one, else SIGINT if any has, else 0. */
static int agreed_signal(const float flags[FLAGS])
{
	return flags[FLAG_TERM] > 0 ? SIGTERM : flags[FLAG_INT] > 0 ? SIGINT : 0;
}

/* The same outside a step (after an epoch's evaluation): a small exchange of the flags alone. */
static int stop_now(void)
{
	float flags[FLAGS] = {0};
	if (dp.ranks < 2)
		return stop_signal;
	flags[FLAG_INT] = stop_signal == SIGINT;
	flags[FLAG_TERM] = stop_signal == SIGTERM;
	facet_dist_sum_float(flags, FLAGS);
	return agreed_signal(flags);
}

static void prepare(facet_net *net, facet_train_state *st, const facet_dataset *train,
                    const facet_dataset *val, const struct opts *o)
{
	uint64_t sum = facet_dataset_checksum(train);
	check_labels(net, train, o->train ? o->train : "stdin");
	if (o->resume) {
		if (sum != st->data_sum)
			die("the training stream differs from the one %s was trained on (%zu records then, %zu now)",
			    o->resume, st->samples, train->n);
	} else {
		facet_net_fit_data(net, train);
		facet_net_init_params(net, st->seed);
		st->data_sum = sum;
		st->samples = train->n;
	}
	st->val_samples = val->n;
	int batch = net->train.batch < (int)train->n ? net->train.batch : (int)train->n;
	facet_net_set_path(net, o->fast, o->precision);
	dist_setup(net, sum, batch, o);
	facet_net_alloc(net, dp.local);
	char nval[64], share[64] = "";
	if (val->n)
		snprintf(nval, sizeof nval, "%zu validation", val->n);
	else
		snprintf(nval, sizeof nval, "no validation");
	if (dp.ranks > 1)
		snprintf(share, sizeof share,
		         batch % dp.ranks ? " (%d or %d a rank)" : " (%d a rank)", batch / dp.ranks,
		         batch / dp.ranks + 1);
	facet_info("%zu training images, %s; %zu parameters; batch %d%s, %zu steps per epoch, %s %s",
	           train->n, nval, facet_net_param_count(net), batch, share, train->n / batch,
	           o->fast ? "oneDNN" : "reference",
	           o->precision == FACET_PREC_BF16 ? "bf16" : "fp32");
	for (int h = 0; h < FACET_HEADS; h++)
		if (net->head[h].present && net->head[h].distill > 0)
			facet_info("[head %s] learns %g of its target from the teacher's \"pred\", %g from the labels",
			           facet_head_names[h], net->head[h].distill,
			           1 - net->head[h].distill);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* When mpirun ends a job (one rank has died, or mpirun itself was signalled) it sends every
 * remaining rank SIGCONT, a second later SIGTERM, a second after that SIGKILL; a rank waiting
 * for a dead one in MPI_Allreduce never returns from it. So a SIGTERM or SIGINT that comes
 * within a few seconds of a SIGCONT to a rank that is waiting, or that goes on to wait, for the
 * others is mpirun's: rank 0 then says which checkpoint is left (gone_msg, written whenever
 * that changes) and the rank exits 128+signal at once. Any other SIGTERM/SIGINT finishes the
 * step on every rank and saves a checkpoint, as without mpirun. */
static volatile sig_atomic_t cont_at; /* CLOCK_MONOTONIC seconds of the last SIGCONT, 0: none */
static char gone_msg[2][1600];
static volatile sig_atomic_t gone_cur;

static int torn_down(void)
{
	return stop_signal && dp.ranks > 1 && cont_at && now() - cont_at <= 3;
}

static void leave_torn_down(void)
{
	const char *m = gone_msg[gone_cur];
	size_t n = strlen(m);
	while (n > 0) {
		ssize_t k = write(STDERR_FILENO, m, n);
		if (k <= 0)
			break;
		m += k;
		n -= (size_t)k;
	}
	_exit(128 + stop_signal);
}

static void on_signal(int sig)
{
	if (sig == SIGCONT) {
		cont_at = (sig_atomic_t)now();
		return;
	}
	stop_signal = sig;
	if (facet_dist_waiting && torn_down())
		leave_torn_down();
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (dp.ranks > 1)
		sigaction(SIGCONT, &sa, NULL);
}

/* Where the checkpoint on disk stands (epochs completed, steps into the next), once this run has
 * written one; -1 before. */
static int saved_epoch = -1, saved_step = -1;

/* What is left on disk for --resume, as a phrase. */
static void last_checkpoint(char *buf, size_t n, const struct opts *o)
{
	if (saved_epoch >= 0 && saved_step == 0)
		snprintf(buf, n, "the last checkpoint, %s, was written after epoch %d", o->ckpt,
		         saved_epoch);
	else if (saved_epoch >= 0)
		snprintf(buf, n, "the last checkpoint, %s, was written at epoch %d, step %d",
		         o->ckpt, saved_epoch + 1, saved_step);
	else if (o->resume)
		snprintf(buf, n, "%s, the checkpoint this run resumed from, is unchanged",
		         o->resume);
	else
		snprintf(buf, n, "no checkpoint was written before");
}

/* Rank 0's words for mpirun's ending of the job (see on_signal), kept up to date. */
static void update_gone_msg(const struct opts *o)
{
	char left[800], resume[600] = "";
	const char *ckpt = saved_epoch >= 0 ? o->ckpt : o->resume;
	int next = !gone_cur;
	if (dp.ranks < 2 || !rank0())
		return;
	last_checkpoint(left, sizeof left, o);
	if (ckpt)
		snprintf(resume, sizeof resume, " (continue with --resume %s)", ckpt);
	snprintf(gone_msg[next], sizeof gone_msg[next],
	         "%s%s: mpirun is ending the job: another rank has stopped (its message and mpirun's say why); %s%s\n",
	         isatty(STDERR_FILENO) && !facet_quiet ? "\n" : "", facet_prog, left, resume);
	gone_cur = next;
}

/* Whether every weight and state value is finite: an update can overflow before any loss does. */
static int params_finite(const facet_net *net)
{
	for (int i = 0; i < net->nparam; i++)
		for (size_t j = 0; j < net->param[i]->n; j++)
			if (!isfinite(net->param[i]->data[j]))
				return 0;
	return 1;
}

/* Save the checkpoint (rank 0; every rank keeps track of where it stands). */
static void save_checkpoint(const facet_net *net, const facet_train_state *st, const struct opts *o)
{
	char err[512];
	if (!params_finite(net))
		die_all("the weights are no longer finite at epoch %d, step %d: stopping; %s is left as it was (lower the learning rate?)",
		        st->epoch + 1, st->step, o->ckpt);
	if (rank0() && facet_model_save(net, st, 1, o->ckpt, err, sizeof err))
		die("cannot write the checkpoint: %s", err);
	saved_epoch = st->epoch;
	saved_step = st->step;
	update_gone_msg(o);
}

/* The metrics file: every epoch so far, rewritten atomically (a resumed run keeps them). */
static void write_metrics(const facet_net *net, const facet_train_state *st, const struct opts *o)
{
	facet_atomic a;
	if (!rank0())
		return;
	if (facet_atomic_open(&a, o->metrics))
		die("cannot write %s:", o->metrics);
	facet_writer *w = facet_writer_open(a.f, o->metrics);
	for (int i = 0; i < st->nlog; i++)
		facet_epoch_log_pack(facet_writer_packer(w), net, &st->log[i]);
	facet_writer_close(w); /* flushes; a.f stays open for the commit */
	if (facet_atomic_commit(&a))
		die("cannot write %s:", o->metrics);
}

static void progress_bar(int epoch, int epochs, int step, int steps, double loss, double ips)
{
	char bar[31];
	int fill = steps ? 30 * step / steps : 30;
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
	bar[30] = 0;
	fprintf(stderr, "\r%s: epoch %d/%d [%s] %d/%d loss %.4f %.0f img/s ", facet_prog, epoch,
	        epochs, bar, step, steps, loss, ips);
}

static void describe(char *buf, size_t n, const facet_metrics *m)
{
	int k = snprintf(buf, n, "loss %.4f", m->loss);
	if (isfinite(m->age_mae))
		k += snprintf(buf + k, n - k, " age MAE %.2f", m->age_mae);
	if (isfinite(m->gender_acc))
		k += snprintf(buf + k, n - k, " gender %.3f", m->gender_acc);
	if (isfinite(m->ethnicity_acc))
		snprintf(buf + k, n - k, " ethnicity %.3f", m->ethnicity_acc);
}

static void epoch_line(const facet_epoch_log *e, int epochs)
{
	char tr[160], va[160] = "", ex[96] = "";
	describe(tr, sizeof tr, &e->train);
	if (e->has_val) {
		char m[150];
		describe(m, sizeof m, &e->val);
		snprintf(va, sizeof va, " | val %s", m);
	}
	if (dp.ranks > 1)
		snprintf(ex, sizeof ex, ", %.2f s in MPI_Allreduce", dp.wait_s);
	facet_info("epoch %d/%d: lr %.3g | train %s%s | %.1f s, %.0f img/s%s", e->epoch, epochs,
	           e->lr, tr, va, e->time_s, e->images_per_s, ex);
}

/* After an epoch: log, early stopping, best weights, plateau schedule. Under mpirun rank 0
 * validates, and every rank takes its figures, so that all of them decide alike. */
static void end_epoch(facet_net *net, facet_train_state *st, const facet_dataset *val, int epoch,
                      float lr, double seconds, double images, const struct opts *o)
{
	facet_epoch_log e;
	memset(&e, 0, sizeof e);
	e.epoch = epoch + 1;
	e.lr = lr;
	e.time_s = seconds;
	e.images_per_s = seconds > 0 ? images / seconds : 0;
	facet_metric_finish(&st->sums, net, &e.train);
	if (val->n) {
		facet_net_evaluate(net, val, &e.val);
		e.has_val = 1;
	}
	facet_dist_bcast(&e, sizeof e, 0);
	facet_train_state_log(st, &e);
	int events = facet_train_schedule_update(st, net, &e);
	if (events & FACET_TRAIN_EARLY_STOP)
		facet_info("early stop: no better %s loss for %d epochs (best %.4f at epoch %d)",
		           e.has_val ? "validation" : "training", net->train.patience, st->best,
		           st->best_epoch);
	if (events & FACET_TRAIN_LR_CUT)
		facet_info("learning rate cut to %.3g", st->plateau_lr);
	st->epoch = epoch + 1;
	st->step = 0;
	memset(&st->sums, 0, sizeof st->sums);
	st->time_s += seconds;
	epoch_line(&e, st->epochs);
	dp.wait_s = 0;
	save_checkpoint(net, st, o);
	write_metrics(net, st, o);
}

/* Fisher-Yates from the epoch's own stream: the order depends on (seed, epoch) only. */
static void shuffle(size_t *perm, size_t n, uint64_t seed, int epoch)
{
	facet_rng r;
	facet_rng_seed(&r, facet_rng_derive(seed, (uint64_t)epoch, 0x73687566, 0)); /* "shuf" */
	for (size_t i = 0; i < n; i++)
		perm[i] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)(facet_rng_uniform(&r) * (double)(i + 1));
		size_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
}

/* Stopped by sig (on every rank at the same step): save a checkpoint and exit 128+sig. */
static void interrupted(facet_net *net, facet_train_state *st, int sig, const struct opts *o)
{
	if (isatty(STDERR_FILENO) && !facet_quiet)
		fputc('\n', stderr);
	save_checkpoint(net, st, o);
	if (rank0())
		warn("stopped by signal %d at epoch %d, step %d: checkpoint %s (resume with --resume %s)",
		     sig, st->epoch + 1, st->step, o->ckpt, o->ckpt);
	facet_dist_finalize();
	exit(128 + sig);
}

static void not_a_number(int epoch, int step, const struct opts *o)
{
	char left[600];
	if (isatty(STDERR_FILENO) && !facet_quiet)
		fputc('\n', stderr);
	last_checkpoint(left, sizeof left, o);
	die_all("the loss is not a number at epoch %d, step %d: stopping; %s (lower the learning rate?)",
	        epoch + 1, step + 1, left);
}

static void train(facet_net *net, facet_train_state *st, const facet_dataset *d,
                  const facet_dataset *val, const struct opts *o)
{
	int B = dp.batch, steps = (int)(d->n / (size_t)B);
	int bar = isatty(STDERR_FILENO) && !facet_quiet;
	int raise_here = o->raise_rank < 0 || o->raise_rank == dp.rank;
	size_t *perm = xmalloc(sizeof(size_t) * d->n);

	update_gone_msg(o);
	for (int epoch = st->epoch; epoch < st->epochs && !st->stopped; epoch++) {
		float lr = facet_train_schedule_lr(st, &net->train, epoch);
		double t0 = now();
		int first = st->step, sig;
		shuffle(perm, d->n, st->seed, epoch);
		for (int step = st->step; step < steps; step++) {
			if (o->raise_step && st->t == o->raise_step && raise_here)
				raise(o->raise_signal);
			facet_net_fill_batch_at(net, d, perm + (size_t)step * B + dp.first,
			                        dp.local, st->seed, (uint64_t)epoch, (uint64_t)step,
			                        dp.first, 1);
			/* "drop", and the rank: each rank draws its own masks */
			facet_rng_seed(&net->rng,
			               facet_rng_derive(st->seed, (uint64_t)epoch, (uint64_t)step,
			                                0x64726f70 + ((uint64_t)dp.rank << 32)));
			facet_net_forward(net, 1);
			double per[FACET_HEADS];
			int cnt[FACET_HEADS];
			double loss = facet_net_loss_backward(net, 1, per, cnt);
			if (dp.ranks > 1) {
				float flags[FLAGS];
				if (torn_down())
					leave_torn_down();
				exchange(net, st, loss, flags);
				if (flags[FLAG_NAN] > 0)
					not_a_number(epoch, step, o);
				sig = agreed_signal(flags);
			} else {
				if (!isfinite(loss))
					not_a_number(epoch, step, o);
				facet_metric_add(&st->sums, net, B, loss);
				sig = 0;
			}
			facet_optim_step(net, lr, ++st->t);
			st->step = step + 1;
			if (bar)
				progress_bar(epoch + 1, st->epochs, step + 1, steps,
				             st->sums.loss_sum / st->sums.batches,
				             (step + 1 - first) * B / (now() - t0));
			if (dp.ranks < 2)
				sig = stop_signal;
			if (sig)
				interrupted(net, st, sig, o);
			if (net->train.checkpoint_steps &&
			    st->t % net->train.checkpoint_steps == 0 && step + 1 < steps)
				save_checkpoint(net, st, o);
		}
		if (bar)
			fputc('\n', stderr);
		double seconds = now() - t0;
		end_epoch(net, st, val, epoch, lr, seconds, (double)(steps - first) * B, o);
		if ((sig = stop_now())) /* arrived during evaluation: the checkpoint is written */
			interrupted(net, st, sig, o);
	}
	free(perm);
}

/* FACET_TRAIN_RANK_DUMP=PREFIX: every rank writes the weights it ended with to PREFIX.RANK, a
 * model file, so that tests can check that the ranks agree. Whether they do is checked here
 * too: rank 0 warns when a rank's weights differ from its own. */
static void check_ranks_agree(const facet_net *net, const facet_train_state *st)
{
	const char *dump = getenv("FACET_TRAIN_RANK_DUMP");
	if (dump && *dump) {
		char path[4096], err[512];
		snprintf(path, sizeof path, "%s.%d", dump, dp.rank);
		if (facet_model_save(net, st, 0, path, err, sizeof err))
			die("cannot write the weights of rank %d: %s", dp.rank, err);
	}
	if (dp.ranks < 2)
		return;
	uint64_t h = FACET_FNV1A_BASIS, root;
	for (int i = 0; i < net->nparam; i++)
		h = facet_fnv1a(h, net->param[i]->data, sizeof(float) * net->param[i]->n);
	root = h;
	facet_dist_bcast(&root, sizeof root, 0);
	double differ = root != h;
	facet_dist_sum_double(&differ, 1);
	if (differ > 0)
		warn("%g of the %d ranks ended with weights that differ from rank 0's (a reduction that is not the same on every rank?); the model is rank 0's",
		     differ, dp.ranks);
}

static void write_model(facet_net *net, facet_train_state *st, const struct opts *o)
{
	char err[512];
	if (!rank0())
		return;
	if (facet_train_schedule_finish(st, net))
		facet_info("restored the weights of epoch %d (best %s loss %.4f)", st->best_epoch,
		           st->val_samples ? "validation" : "training", st->best);
	if (!params_finite(net))
		die("the weights are not finite: no model written (lower the learning rate?)");
	if (facet_model_save(net, st, 0, o->out, err, sizeof err))
		die("cannot write the model: %s", err);
	facet_info("wrote %s (checkpoint %s, metrics %s)", o->out, o->ckpt, o->metrics);
}

/* Under mpirun: rank 0 speaks for the job; the others say only what goes wrong, naming their
 * rank. */
static void join_ranks(int *argc, char ***argv)
{
	static char name[64];
	if (facet_dist_init(argc, argv) > 1 && facet_dist_rank() > 0) {
		snprintf(name, sizeof name, "facet-train (rank %d)", facet_dist_rank());
		facet_prog = name;
		facet_quiet = 1;
	}
}

int main(int argc, char **argv)
{
	struct opts o;
	facet_train_state st;
	facet_dataset data, val;
	facet_net *net;

	facet_init("facet-train");
	join_ranks(&argc, &argv);
	parse_options(argc, argv, &o);
	setup_threads(&o);
	if (o.print_config) {
		print_config(&o);
		free(o.out);
		free(o.ckpt);
		free(o.metrics);
		return 0;
	}
	net = open_net(&o, &st);
	read_data(o.train ? o.train : "-", "training", net, facet_net_distills(net), &data);
	if (o.val && facet_dist_rank() == 0)
		read_data(o.val, "validation", net, 0, &val);
	else
		facet_dataset_init(&val, 0, 0, 0);
	prepare(net, &st, &data, &val, &o);
	install_signals();
	train(net, &st, &data, &val, &o);
	check_ranks_agree(net, &st);
	write_model(net, &st, &o);
	facet_dataset_free(&data);
	facet_dataset_free(&val);
	facet_train_state_free(&st);
	facet_net_free(net);
	free(dp.flat);
	free(o.out);
	free(o.ckpt);
	free(o.metrics);
	facet_dist_finalize();
	return 0;
}
