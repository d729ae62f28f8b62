/* facet-quantize: calibrate a model for int8 scoring (facet-score --int8) on a stream of faces. */
#include "facet.h"
#include "nn/nn.h"
#include "nn/quant.h"

#include <getopt.h>
#include <string.h>

static const char usage[] =
    "Usage: facet-quantize --model IN --out OUT [OPTION]... < CALIB\n"
    "Calibrate the model file IN for int8 scoring (facet-score --int8) on the faces of standard\n"
    "input (records with an \"image\", as facet-score reads them; the validation part of the\n"
    "split is meant: facet-take val) and write OUT: IN with each of its models given an \"int8\"\n"
    "map, the range of every convolution's output that int8 scoring quantizes (see\n"
    "facet-model(5)). Each range is the clip that minimises the squared quantization error over\n"
    "a histogram of that layer's outputs on the calibration faces. An ensemble is calibrated\n"
    "model by model, each on the faces converted to its own input geometry. OUT still scores in\n"
    "fp32 unless facet-score is given --int8; IN may be OUT.\n"
    "\n"
    "  -m, --model IN     model file (one model or an ensemble)\n"
    "  -o, --out OUT      where to write the calibrated model file\n"
    "  -n, --limit N      calibrate on the first N faces only (default: all)\n"
    "  -b, --batch N      images per batch (default 64)\n"
    "  -t, --threads N    threads (default: all cores)\n"
    "  -q, --quiet        no summary line\n"
    "  -h, --help         show this help and exit\n"
    "  -V, --version      show the version and exit\n"
    "\n"
    "Exit status: 0 ok, 1 bad input, no faces, bad model file or write error, 2 usage error.\n";

struct opts {
	const char *model, *out;
	long limit;
	int batch, threads;
};

typedef struct {
	facet_net **net;
	int nnet;
	facet_q8_calib **calib;
	uint8_t *img; /* one image in the largest geometry */
	int images;   /* in the current batch */
	long seen;
} calibration;

static void parse_options(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {{"model", required_argument, NULL, 'm'},
	                                         {"out", required_argument, NULL, 'o'},
	                                         {"limit", required_argument, NULL, 'n'},
	                                         {"batch", required_argument, NULL, 'b'},
	                                         {"threads", required_argument, NULL, 't'},
	                                         {"quiet", no_argument, NULL, 'q'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {"version", no_argument, NULL, 'V'},
	                                         {NULL, 0, NULL, 0}};
	int c;

	memset(o, 0, sizeof *o);
	o->batch = 64;
	while ((c = facet_getopt(argc, argv, "m:o:n:b:t:qhV", longopts)) != -1) {
		switch (c) {
		case 'm':
			o->model = optarg;
			break;
		case 'o':
			o->out = optarg;
			break;
		case 'n':
			o->limit = facet_parse_long("--limit", optarg, 1, 1000000000);
			break;
		case 'b':
			o->batch = (int)facet_parse_long("--batch", optarg, 1, 4096);
			break;
		case 't':
			o->threads = (int)facet_parse_long("--threads", optarg, 1, 1024);
			break;
		default:
			facet_std_option(c, usage);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' (faces come on stdin)", argv[optind]);
	if (!o->model)
		usage_error("give --model IN");
	if (!o->out)
		usage_error("give --out OUT");
}

/* Every model of the file, folded, on the fp32 fast path, with an empty calibration. */
static void open_models(const struct opts *o, calibration *c)
{
	char err[512];
	size_t most = 0;
	facet_fast_set_threads(o->threads);
	c->nnet = facet_model_load_all(o->model, &c->net, err, sizeof err);
	if (c->nnet < 0)
		die("%s", err);
	c->calib = xcalloc((size_t)c->nnet, sizeof *c->calib);
	for (int m = 0; m < c->nnet; m++) {
		facet_net *net = c->net[m];
		const facet_input_cfg *in = &net->input;
		facet_net_fold(net);
		if (facet_q8_last(net) < 0)
			die("its trunk does not start with a convolution: nothing to quantize (%s, model %d)",
			    o->model, m + 1);
		facet_net_set_path(net, 1, FACET_PREC_F32);
		facet_net_alloc(net, o->batch);
		c->calib[m] = facet_q8_calib_new(net);
		size_t size = (size_t)in->width * in->height * in->channels;
		most = size > most ? size : most;
	}
	c->img = xmalloc(most);
}

static void run_batch(calibration *c)
{
	for (int m = 0; m < c->nnet && c->images; m++) {
		facet_net_forward(c->net[m], 0);
		facet_q8_calib_add(c->calib[m], c->net[m], c->images);
	}
	c->seen += c->images;
	c->images = 0;
}

/* One face into every model's batch, converted to each model's geometry. */
static void add(calibration *c, const facet_tensor *t, unsigned long long k)
{
	for (int m = 0; m < c->nnet; m++) {
		const char *why = facet_net_prepare_image(c->net[m], t, c->img);
		if (why)
			die("%s (stdin, record %llu)", why, k);
		facet_net_set_input_view(c->net[m], c->images, c->img, (facet_view){0, 0, 0});
	}
	c->images++;
}

/* "trunk.0 3.1, trunk.4 5.2, ..." of model m, for the summary. */
static void describe(const facet_net *net, char *buf, size_t len)
{
	size_t at = 0;
	buf[0] = 0;
	for (int i = 0; i < net->ntrunk && at + 32 < len; i++)
		if (net->trunk[i].q8_range > 0)
			at += (size_t)snprintf(buf + at, len - at, "%strunk.%d %.3g",
			                       at ? ", " : "", i, net->trunk[i].q8_range);
}

int main(int argc, char **argv)
{
	struct opts o;
	calibration c = {0};
	facet_record *r;
	char err[512];

	facet_init("facet-quantize");
	parse_options(argc, argv, &o);
	open_models(&o, &c);
	facet_reader *rd = facet_reader_open(stdin, "stdin");
	while ((!o.limit || c.seen + c.images < o.limit) && facet_reader_next(rd, &r)) {
		facet_tensor t;
		if (facet_record_tensor(r, "image", &t))
			add(&c, &t, (unsigned long long)facet_reader_count(rd));
		if (c.images == o.batch)
			run_batch(&c);
	}
	run_batch(&c);
	facet_reader_close(rd);
	if (!c.seen)
		die("no faces on stdin: nothing to calibrate on");
	for (int m = 0; m < c.nnet; m++)
		facet_q8_calib_finish(c.calib[m], c.net[m]);
	if (facet_model_save_int8(o.model, c.net, c.nnet, o.out, err, sizeof err))
		die("%s", err);
	for (int m = 0; m < c.nnet; m++) {
		char ranges[512];
		describe(c.net[m], ranges, sizeof ranges);
		facet_info("model %d: calibrated on %ld faces: input %.3g, %s", m + 1, c.seen,
		           c.net[m]->q8_input, ranges);
		facet_q8_calib_free(c.calib[m]);
		facet_net_free(c.net[m]);
	}
	free(c.calib);
	free(c.net);
	free(c.img);
	return 0;
}
