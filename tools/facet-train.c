/* facet-train: train a multi-task CNN on a facet stream. */
#include "facet.h"
#include "nn/fastops.h"
#include "nn/nn.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "Usage: facet-train --config CFG [OPTION]... < TRAIN\n"
    "       facet-train --resume CKPT [OPTION]... < TRAIN\n"
    "Train the network of CFG (facet-config(5)) on the labelled records of standard input, held "
    "in\n"
    "memory as uint8, and write the model. A checkpoint OUT.ckpt is written every epoch (and "
    "every\n"
    "checkpoint_steps steps); --resume continues from one exactly. SIGINT/SIGTERM finish the "
    "step,\n"
    "save a checkpoint and exit 128+signal. One metrics record per epoch goes to the metrics file\n"
    "(facet-metrics(5)); progress goes to stderr. A config whose heads have distill= learns\n"
    "them against a teacher's predictions too: the \"pred\" facet-score adds to each record\n"
    "(facet-score --model TEACHER < TRAIN | facet-train --config CFG).\n"
    "\n"
    "  -c, --config CFG         network and training config\n"
    "  -v, --val FILE           validation stream (metrics, early stopping, best weights)\n"
    "  -e, --epochs N           epochs (default: the config's)\n"
    "  -S, --seed S             random seed for init, shuffling, dropout, augmentation (default "
    "1)\n"
    "  -o, --out PATH           model file (default model.facet; with --resume, CKPT less .ckpt)\n"
    "  -m, --metrics FILE       metrics file (default OUT.metrics)\n"
    "  -r, --resume CKPT        continue the run a checkpoint stopped\n"
    "  -p, --precision P        fp32 or bf16 (bf16 compute, fp32 weights; default fp32)\n"
    "  -E, --engine E           onednn (default) or reference (the plain-C kernels)\n"
    "  -t, --threads N          threads (default: all cores)\n"
    "  -q, --quiet              no progress or informational lines\n"
    "  -h, --help               show this help and exit\n"
    "  -V, --version            show the version and exit\n"
    "\n"
    "Exit status: 0 ok, 1 bad input, NaN loss or write error, 2 usage error, 128+N on signal N.\n";

struct opts {
	const char *config, *val, *resume;
	char *out, *metrics, *ckpt;
	int epochs, threads, precision, fast;
	uint64_t seed;
	int seed_given;
	int raise_signal;   /* FACET_TRAIN_RAISE: the signal to raise on itself ... */
	int64_t raise_step; /* ... once this many steps are done (0: never) */
};

static volatile sig_atomic_t stop_signal;

/* FACET_TRAIN_RAISE=SIGNAL@STEP (facet-train(1), ENVIRONMENT): stop the run at a known point, as
 * that signal from outside would, so that the tests of stopping and resuming never race a clock. */
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
	}
	if (!o->raise_signal || errno || end == at + 1 || *end || o->raise_step < 1)
		usage_error(
		    "FACET_TRAIN_RAISE=%s is not SIGNAL@STEP (INT, KILL or TERM; STEP >= 1)", s);
}

static void parse_options(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'}, {"val", required_argument, NULL, 'v'},
	    {"epochs", required_argument, NULL, 'e'}, {"seed", required_argument, NULL, 'S'},
	    {"out", required_argument, NULL, 'o'},    {"metrics", required_argument, NULL, 'm'},
	    {"resume", required_argument, NULL, 'r'}, {"precision", required_argument, NULL, 'p'},
	    {"engine", required_argument, NULL, 'E'}, {"threads", required_argument, NULL, 't'},
	    {"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0}};
	const char *out = NULL, *metrics = NULL;
	int c;

	memset(o, 0, sizeof *o);
	o->seed = 1;
	o->fast = 1;
	o->precision = FACET_PREC_F32;
	while ((c = getopt_long(argc, argv, "c:v:e:S:o:m:r:p:E:t:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
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
		case 'm':
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
		usage_error("unexpected argument '%s' (the training stream comes on stdin)",
		            argv[optind]);
	if (!o->config && !o->resume)
		usage_error("give --config CFG (or --resume CKPT)");
	if (o->precision == FACET_PREC_BF16 && !o->fast)
		usage_error("--precision bf16 needs --engine onednn");
	parse_raise(o);
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

static void setup_threads(const struct opts *o)
{
	facet_fast_set_threads(o->threads);
	if (o->precision == FACET_PREC_BF16 && !facet_fast_has_bf16())
		warn("this CPU has no native bf16: the fast path computes in fp32");
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
		if (!facet_quiet)
			echo_defaults(cfg, o->config);
		st->seed = o->seed;
		st->epochs = o->epochs ? o->epochs : cfg->train.epochs;
		st->plateau_lr = cfg->train.lr;
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
		die("record %llu has no 'pred', the teacher's predictions that distill= learns "
		    "from "
		    "(add them with facet-score --model TEACHER) (%s)",
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
			die("record %llu: 'pred' has no '%s', which [head %s] distill= learns from "
			    "(%s)",
			    k, facet_head_names[h], facet_head_names[h], name);
		double sum = 0;
		for (int j = 0; j < row[h].n; j++)
			sum += row[h].v[j];
		if (fabs(sum - 1) > 0.01)
			die("record %llu: 'pred.%s' sums to %g, not 1 (%s)", k, facet_head_names[h],
			    sum, name);
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
			die("record %llu: 'image' is not a uint8 [H, W, C] image (%s)", k, name);
		if (d->n == 0) {
			memcpy(first, t.shape, sizeof first);
			if (t.shape[0] != in->height || t.shape[1] != in->width ||
			    t.shape[2] != in->channels)
				facet_info("%s: images are %lldx%lldx%lld, the net takes %dx%dx%d: "
				           "converting them as facet-score does",
				           name, (long long)t.shape[1], (long long)t.shape[0],
				           (long long)t.shape[2], in->width, in->height,
				           in->channels);
		} else if (memcmp(first, t.shape, sizeof first)) {
			die("record %llu: image is %lldx%lldx%lld but the first was "
			    "%lldx%lldx%lld: "
			    "images of mixed sizes (resize them with facet-resize) (%s)",
			    k, (long long)t.shape[1], (long long)t.shape[0], (long long)t.shape[2],
			    (long long)first[1], (long long)first[0], (long long)first[2], name);
		}
		const char *why = facet_net_prepare_image(net, &t, buf);
		if (why)
			die("record %llu: %s (%s)", k, why, name);
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

/* Every head of the net needs labels in the training data. */
static void check_labels(const facet_net *net, const facet_dataset *d)
{
	for (int h = 0; h < FACET_HEADS; h++) {
		if (!net->head[h].present)
			continue;
		size_t n = 0;
		for (size_t i = 0; i < d->n; i++)
			n += d->label[h][i] >= 0;
		if (!n)
			die("no record of the training stream has a '%s' label, which [head %s] "
			    "learns (label the stream with facet-label) (stdin)",
			    facet_head_names[h], facet_head_names[h]);
	}
}

static void prepare(facet_net *net, facet_train_state *st, const facet_dataset *train,
                    const facet_dataset *val, const struct opts *o)
{
	uint64_t sum = facet_dataset_checksum(train);
	check_labels(net, train);
	if (o->resume) {
		if (sum != st->data_sum)
			die("the training stream differs from the one %s was trained on (%zu "
			    "records "
			    "then, %zu now)",
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
	facet_net_alloc(net, batch);
	char nval[64];
	if (val->n)
		snprintf(nval, sizeof nval, "%zu validation", val->n);
	else
		snprintf(nval, sizeof nval, "no validation");
	facet_info("%zu training images, %s; %zu parameters; batch %d, %zu steps per epoch, %s %s",
	           train->n, nval, facet_net_param_count(net), batch, train->n / batch,
	           o->fast ? "oneDNN" : "reference",
	           o->precision == FACET_PREC_BF16 ? "bf16" : "fp32");
	for (int h = 0; h < FACET_HEADS; h++)
		if (net->head[h].present && net->head[h].distill > 0)
			facet_info("[head %s] learns %g of its target from the teacher's \"pred\", "
			           "%g from the labels",
			           facet_head_names[h], net->head[h].distill,
			           1 - net->head[h].distill);
}

static void on_signal(int sig)
{
	stop_signal = sig;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Where the checkpoint on disk stands (epochs completed, steps into the next), once this run has
 * written one; -1 before. */
static int saved_epoch = -1, saved_step = -1;

/* Whether every weight and state value is finite: an update can overflow before any loss does. */
static int params_finite(const facet_net *net)
{
	for (int i = 0; i < net->nparam; i++)
		for (size_t j = 0; j < net->param[i]->n; j++)
			if (!isfinite(net->param[i]->data[j]))
				return 0;
	return 1;
}

static void save_checkpoint(const facet_net *net, const facet_train_state *st, const struct opts *o)
{
	char err[512];
	if (!params_finite(net))
		die("the weights are no longer finite at epoch %d, step %d: stopping; "
		    "%s is left as it was (lower the learning rate?)",
		    st->epoch + 1, st->step, o->ckpt);
	if (facet_model_save(net, st, 1, o->ckpt, err, sizeof err))
		die("cannot write the checkpoint: %s", err);
	saved_epoch = st->epoch;
	saved_step = st->step;
}

/* The metrics file: every epoch so far, rewritten atomically (a resumed run keeps them). */
static void write_metrics(const facet_net *net, const facet_train_state *st, const struct opts *o)
{
	facet_atomic a;
	if (facet_atomic_open(&a, o->metrics))
		die("%s:", o->metrics);
	facet_writer *w = facet_writer_open(a.f, o->metrics);
	for (int i = 0; i < st->nlog; i++)
		facet_epoch_log_pack(facet_writer_packer(w), net, &st->log[i]);
	facet_writer_close(w); /* flushes; a.f stays open for the commit */
	if (facet_atomic_commit(&a))
		die("%s:", o->metrics);
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
	char tr[160], va[160] = "";
	describe(tr, sizeof tr, &e->train);
	if (e->has_val) {
		char m[150];
		describe(m, sizeof m, &e->val);
		snprintf(va, sizeof va, " | val %s", m);
	}
	facet_info("epoch %d/%d: lr %.3g | train %s%s | %.1f s, %.0f img/s", e->epoch, epochs,
	           e->lr, tr, va, e->time_s, e->images_per_s);
}

/* After an epoch: log, early stopping, best weights, plateau schedule. */
static void end_epoch(facet_net *net, facet_train_state *st, const facet_dataset *val, int epoch,
                      float lr, double seconds, double images, const struct opts *o)
{
	const facet_train_cfg *c = &net->train;
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
	facet_train_state_log(st, &e);
	double monitor = e.has_val ? e.val.loss : e.train.loss;
	if (monitor < st->best) {
		st->best = monitor;
		st->best_epoch = epoch + 1;
		st->bad_epochs = 0;
		if (c->restore_best)
			facet_train_state_keep_best(st, net);
	} else {
		st->bad_epochs++;
		if (c->patience && st->bad_epochs >= c->patience) {
			st->stopped = 1;
			facet_info(
			    "early stop: no better %s loss for %d epochs (best %.4f at epoch %d)",
			    e.has_val ? "validation" : "training", c->patience, st->best,
			    st->best_epoch);
		}
	}
	if (c->schedule == FACET_SCHED_PLATEAU) {
		if (monitor < st->plateau_best) {
			st->plateau_best = monitor;
			st->plateau_bad = 0;
		} else if (++st->plateau_bad >= c->plateau_patience) {
			st->plateau_lr = fmaxf(st->plateau_lr * c->plateau_factor, c->min_lr);
			st->plateau_bad = 0;
			facet_info("learning rate cut to %.3g", st->plateau_lr);
		}
	}
	st->epoch = epoch + 1;
	st->step = 0;
	memset(&st->sums, 0, sizeof st->sums);
	st->time_s += seconds;
	epoch_line(&e, st->epochs);
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

static void interrupted(const facet_net *net, const facet_train_state *st, const struct opts *o)
{
	int sig = stop_signal;
	if (isatty(STDERR_FILENO) && !facet_quiet)
		fputc('\n', stderr);
	save_checkpoint(net, st, o);
	warn("stopped by signal %d at epoch %d, step %d: checkpoint %s (resume with --resume %s)",
	     sig, st->epoch + 1, st->step, o->ckpt, o->ckpt);
	exit(128 + sig);
}

static void not_a_number(int epoch, int step, const struct opts *o)
{
	char left[600];
	if (isatty(STDERR_FILENO) && !facet_quiet)
		fputc('\n', stderr);
	if (saved_epoch >= 0 && saved_step == 0)
		snprintf(left, sizeof left, "the last checkpoint, %s, was written after epoch %d",
		         o->ckpt, saved_epoch);
	else if (saved_epoch >= 0)
		snprintf(left, sizeof left,
		         "the last checkpoint, %s, was written at epoch %d, step %d", o->ckpt,
		         saved_epoch + 1, saved_step);
	else if (o->resume)
		snprintf(left, sizeof left,
		         "%s, the checkpoint this run resumed from, is unchanged", o->resume);
	else
		snprintf(left, sizeof left, "no checkpoint was written before");
	die("the loss is not a number at epoch %d, step %d: stopping; "
	    "%s (lower the learning rate?)",
	    epoch + 1, step + 1, left);
}

static void train(facet_net *net, facet_train_state *st, const facet_dataset *d,
                  const facet_dataset *val, const struct opts *o)
{
	int B = net->n, steps = (int)(d->n / (size_t)B);
	int bar = isatty(STDERR_FILENO) && !facet_quiet;
	size_t *perm = xmalloc(sizeof(size_t) * d->n);

	for (int epoch = st->epoch; epoch < st->epochs && !st->stopped; epoch++) {
		float lr = facet_schedule_lr(&net->train, epoch, st->epochs, st->plateau_lr);
		double t0 = now();
		int first = st->step;
		shuffle(perm, d->n, st->seed, epoch);
		for (int step = st->step; step < steps; step++) {
			if (o->raise_step && st->t == o->raise_step)
				raise(o->raise_signal);
			facet_net_fill_batch(net, d, perm + (size_t)step * B, B, st->seed,
			                     (uint64_t)epoch, (uint64_t)step, 1);
			facet_rng_seed(&net->rng,
			               facet_rng_derive(st->seed, (uint64_t)epoch, (uint64_t)step,
			                                0x64726f70)); /* "drop" */
			facet_net_forward(net, 1);
			double per[FACET_HEADS];
			int cnt[FACET_HEADS];
			double loss = facet_net_loss_backward(net, 1, per, cnt);
			if (!isfinite(loss))
				not_a_number(epoch, step, o);
			facet_optim_step(net, lr, ++st->t);
			facet_metric_add(&st->sums, net, B, loss);
			st->step = step + 1;
			if (bar)
				progress_bar(epoch + 1, st->epochs, step + 1, steps,
				             st->sums.loss_sum / st->sums.batches,
				             (step + 1 - first) * B / (now() - t0));
			if (stop_signal)
				interrupted(net, st, o);
			if (net->train.checkpoint_steps &&
			    st->t % net->train.checkpoint_steps == 0 && step + 1 < steps)
				save_checkpoint(net, st, o);
		}
		if (bar)
			fputc('\n', stderr);
		double seconds = now() - t0;
		end_epoch(net, st, val, epoch, lr, seconds, (double)(steps - first) * B, o);
		if (stop_signal) /* arrived during evaluation: the checkpoint is written */
			interrupted(net, st, o);
	}
	free(perm);
}

static void write_model(facet_net *net, facet_train_state *st, const struct opts *o)
{
	char err[512];
	if (net->train.restore_best && st->best_param && st->best_epoch != st->epoch) {
		facet_train_state_restore_best(st, net);
		facet_info("restored the weights of epoch %d (best %s loss %.4f)", st->best_epoch,
		           st->val_samples ? "validation" : "training", st->best);
	}
	if (!params_finite(net))
		die("the weights are not finite: no model written (lower the learning rate?)");
	if (facet_model_save(net, st, 0, o->out, err, sizeof err))
		die("cannot write the model: %s", err);
	facet_info("wrote %s (checkpoint %s, metrics %s)", o->out, o->ckpt, o->metrics);
}

int main(int argc, char **argv)
{
	struct opts o;
	facet_train_state st;
	facet_dataset data, val;
	facet_net *net;

	facet_init("facet-train");
	parse_options(argc, argv, &o);
	setup_threads(&o);
	net = open_net(&o, &st);
	read_data("-", "training", net, facet_net_distills(net), &data);
	if (o.val)
		read_data(o.val, "validation", net, 0, &val);
	else
		facet_dataset_init(&val, 0, 0, 0);
	prepare(net, &st, &data, &val, &o);
	install_signals();
	train(net, &st, &data, &val, &o);
	write_model(net, &st, &o);
	facet_dataset_free(&data);
	facet_dataset_free(&val);
	facet_train_state_free(&st);
	facet_net_free(net);
	free(o.out);
	free(o.ckpt);
	free(o.metrics);
	return 0;
}
