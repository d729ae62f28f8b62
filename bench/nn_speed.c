/*
 * nn_speed: images per second of facet's engine on a network config, training or inference,
 * on synthetic data (the same measurement bench/torch_speed.py makes for PyTorch).
 *
 *   make build/libfacet.a && cc -O2 -march=native -fopenmp -Icommon bench/nn_speed.c \
 *       build/libfacet.a $(pkg-config --libs msgpack) -ldnnl -lm -lpthread -o build/nn_speed
 *   build/nn_speed CONFIG train|infer fp32|bf16|int8 BATCH SECONDS [fast|ref]
 *
 * A training step is what facet-train does per batch minus batch assembly: forward (train
 * mode), the losses of every head, backward, one Adam step. Inference is forward in inference
 * mode, in the inference form facet-score uses (facet_net_fold; NN_SPEED_NO_FOLD=1 runs the net
 * as trained). int8 (inference only) calibrates the folded net on the synthetic batch, as
 * facet-quantize would on faces, then runs it as facet-score --int8. After 3 warm-up steps it runs windows of about 1 s for SECONDS and prints one line:
 *
 *   facet train fp32 batch 64: 212.3 img/s (median of 8 windows, min 208.1, max 215.0) other-load 0.02
 *
 * page-faults/step counts fresh memory touched per step (0 when every buffer is reused).
 * other-load is the CPU time used by other processes during the run, in cores (from
 * /proc/stat and getrusage): the quietness of the machine. per-cpu-s is images per second of
 * this process's own CPU time: on a loaded machine, with OMP_NUM_THREADS=1, a steadier figure
 * than the wall-clock rate (waiting for a core does not count; sharing caches still does).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>

#include "facet.h"
#include "nn/fastops.h"
#include "nn/nn.h"
#include "nn/quant.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Busy CPU seconds of the whole machine so far (user+nice+system+irq+softirq+steal). */
static double machine_busy(void)
{
	unsigned long long v[8] = {0};
	FILE *f = fopen("/proc/stat", "r");
	if (!f)
		return 0;
	if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
		   &v[4], &v[5], &v[6], &v[7]) != 8)
		v[0] = v[1] = v[2] = v[5] = v[6] = v[7] = 0;
	fclose(f);
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / 100.0; /* USER_HZ */
}

static double own_cpu(void)
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return r.ru_utime.tv_sec + r.ru_utime.tv_usec * 1e-6 + r.ru_stime.tv_sec +
	       r.ru_stime.tv_usec * 1e-6;
}

static long own_faults(void)
{
	struct rusage r;
	getrusage(RUSAGE_SELF, &r);
	return r.ru_minflt + r.ru_majflt;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void fill_batch(facet_net *net)
{
	facet_rng rng;
	size_t in = (size_t)net->n * net->input.channels * net->input.height * net->input.width;
	facet_rng_seed(&rng, 7);
	for (size_t i = 0; i < in; i++)
		net->x[i] = (float)facet_rng_uniform(&rng);
	for (int i = 0; i < net->n; i++) {
		net->target[FACET_HEAD_AGE][i] = (float)facet_rng_normal(&rng);
		net->target[FACET_HEAD_GENDER][i] = (float)facet_rng_below(&rng, 2);
		net->target[FACET_HEAD_ETHNICITY][i] = (float)facet_rng_below(&rng, 5);
		for (int h = 0; h < FACET_HEADS; h++)
			net->have[h][i] = 1;
	}
}

static void step(facet_net *net, int train, int64_t t)
{
	if (!train) {
		facet_net_forward(net, 0);
		return;
	}
	double per_head[FACET_HEADS];
	int count[FACET_HEADS];
	facet_net_forward(net, 1);
	facet_net_loss_backward(net, 1, per_head, count);
	facet_optim_step(net, net->train.lr, t);
}

int main(int argc, char **argv)
{
	facet_init("nn_speed");
	if (argc < 6 || argc > 7)
		usage_error("usage: nn_speed CONFIG train|infer fp32|bf16|int8 BATCH SECONDS [fast|ref]");
	int train = !strcmp(argv[2], "train");
	int prec = !strcmp(argv[3], "bf16")   ? FACET_PREC_BF16
	           : !strcmp(argv[3], "int8") ? FACET_PREC_INT8
	                                      : FACET_PREC_F32;
	if (train && prec == FACET_PREC_INT8)
		usage_error("int8 is for inference only");
	int batch = (int)facet_parse_long("BATCH", argv[4], 1, 65536);
	double seconds = facet_parse_double("SECONDS", argv[5], 0.1, 1e6);
	int fast = !(argc == 7 && !strcmp(argv[6], "ref"));
	char err[512];
	facet_net *net = facet_net_load_config(argv[1], err, sizeof err);
	if (!net)
		die("%s", err);
	facet_fast_set_threads(0);
	facet_net_init_params(net, 1);
	/* inference as facet-score runs it: batch norms folded (NN_SPEED_NO_FOLD=1: as trained) */
	if (!train && !getenv("NN_SPEED_NO_FOLD"))
		facet_net_fold(net);
	if (prec == FACET_PREC_INT8) { /* calibrate on the batch in fp32 first */
		facet_net_set_path(net, fast, FACET_PREC_F32);
		facet_net_alloc(net, batch);
		fill_batch(net);
		facet_net_forward(net, 0);
		facet_q8_calib *c = facet_q8_calib_new(net);
		facet_q8_calib_add(c, net, batch);
		facet_q8_calib_finish(c, net);
		facet_q8_calib_free(c);
	}
	facet_net_set_path(net, fast, prec);
	facet_net_alloc(net, batch);
	fill_batch(net);

	int64_t t = 1;
	for (int i = 0; i < 3; i++)
		step(net, train, t++);
	enum { MAXW = 4096 };
	double rate[MAXW];
	int nw = 0;
	long steps_all = 0, faults0 = own_faults();
	double busy0 = machine_busy(), cpu0 = own_cpu(), t0 = now(), end = t0 + seconds;
	while (nw < MAXW) {
		double w0 = now();
		int steps = 0;
		do {
			step(net, train, t++);
			steps++;
			steps_all++;
		} while (now() - w0 < 1.0);
		rate[nw++] = steps * (double)batch / (now() - w0);
		if (now() >= end)
			break;
	}
	double wall = now() - t0;
	double faults = (double)(own_faults() - faults0) / steps_all;
	double cpu = own_cpu() - cpu0;
	double other = (machine_busy() - busy0 - cpu) / wall;
	qsort(rate, nw, sizeof *rate, cmp);
	printf("facet %s %s%s batch %d: %.1f img/s (median of %d windows, min %.1f, max %.1f) "
	       "other-load %.2f page-faults/step %.1f per-cpu-s %.1f\n",
	       train ? "train" : "infer", argv[3],
	       prec == FACET_PREC_BF16 && !facet_fast_has_bf16() ? "(runs fp32: no AVX512-BF16)"
								 : "",
	       batch, rate[nw / 2], nw, rate[0], rate[nw - 1], other < 0 ? 0 : other, faults,
	       cpu > 0 ? steps_all * (double)batch / cpu : 0);
	facet_net_free(net);
	return 0;
}
