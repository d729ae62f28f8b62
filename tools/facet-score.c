/* facet-score: add a model's predictions to every record that has an image. */
#include "facet.h"
#include "nn/fastops.h"
#include "nn/nn.h"
#include "nn/quant.h"

#include <getopt.h>
#include <string.h>

static const char usage[] =
    "Usage: facet-score --model MODEL [OPTION]... < IN > OUT\n"
    "Run every record of standard input that has an \"image\" through MODEL (written by\n"
    "facet-train) and add \"pred\": {age, gender [p_male, p_female], ethnicity [5 probabilities]}\n"
    "for the heads the model has. Every other key, and every record without an image, passes\n"
    "through unchanged and in order. Images of another geometry are converted as the model\n"
    "records (resized, grey <-> RGB). Memory stays constant: records go through in batches.\n"
    "Several models (--model given more than once, or a file that holds several, made with\n"
    "cat A B > E) are an ensemble: their predictions are averaged. They must have the same\n"
    "heads; each converts the image to its own input geometry.\n"
    "\n"
    "  -m, --model MODEL        model file (repeat it for an ensemble)\n"
    "  -b, --batch N            images per batch (default 64)\n"
    "      --flip               average the predictions for each image and its mirror image\n"
    "                           (test-time flip averaging: twice the work, usually a little\n"
    "                           more accurate)\n"
    "      --shift N            also average the views shifted by N pixels up, down, left and\n"
    "                           right (edges replicated, as facet-train's shift augmentation):\n"
    "                           five views, ten with --flip (default 0: none)\n"
    "  -p, --precision P        fp32, bf16 or int8 (default fp32)\n"
    "      --int8               the same as --precision int8: the convolutions run in int8\n"
    "                           (8-bit weights and activations, calibrated ranges), the\n"
    "                           heads in fp32; every model needs the int8 map facet-quantize\n"
    "                           adds (a model file with it still scores fp32 without --int8)\n"
    "  -E, --engine E           onednn (default) or reference\n"
    "      --no-fold            run the trained graph as it is: by default each batch norm\n"
    "                           after a conv or dense layer is folded into its weights, a\n"
    "                           ReLU after it fused, dropout skipped (same results within\n"
    "                           float rounding, faster)\n"
    "  -t, --threads N          threads (default: all cores)\n"
    "  -q, --quiet              no summary line\n"
    "  -h, --help               show this help and exit\n"
    "  -V, --version            show the version and exit\n"
    "\n"
    "Exit status: 0 ok, 1 bad input, bad model file or write error, 2 usage error.\n";

struct opts {
	const char *model[FACET_MAX_MEMBERS];
	int nmodel, batch, precision, fast, threads, flip, shift, no_fold;
};

#define MAX_VIEWS 10 /* the image and 4 shifts, each also mirrored */

/* The batch's images in one input geometry, prepared by the first model that takes it: models of
 * the same geometry share them. */
typedef struct {
	const facet_net *net; /* the first model of this geometry */
	size_t size;          /* bytes of one image, h*w*c */
	uint8_t *imgs;        /* [batch][size], each scored in every view */
} prepared;

/* Records waiting for their batch: all of them, in order; slot >= 0 for those with an image. */
typedef struct {
	facet_record **rec;
	int *slot;
	int n, cap, images;
	facet_pred *pred; /* [batch] */
	const facet_view *views;
	int nviews;
	facet_net **net; /* the models whose predictions are averaged */
	int nnet;
	prepared *in; /* one per input geometry among the models */
	int nin;
	int *in_of; /* model m takes in[in_of[m]] */
} pending;

/* The views to average: the image itself first, then the shifted ones, then all mirrored. */
static int make_views(int flip, int shift, facet_view *v)
{
	static const int dir[4][2] = {{0, -1}, {0, 1}, {-1, 0}, {1, 0}};
	int n = 0;
	for (int f = 0; f <= flip; f++) {
		v[n++] = (facet_view){f, 0, 0};
		if (shift)
			for (int d = 0; d < 4; d++)
				v[n++] = (facet_view){f, dir[d][0] * shift, dir[d][1] * shift};
	}
	return n;
}

/* a += b, from a zeroed a: the mean of k views is their sum divided by k (div_pred). Every view
 * comes from the same heads, so the has_ flags are the last view's. */
static void add_pred(facet_pred *a, const facet_pred *b)
{
	a->has_age = b->has_age;
	a->has_gender = b->has_gender;
	a->has_ethnicity = b->has_ethnicity;
	a->age += b->age;
	for (int j = 0; j < FACET_N_GENDER; j++)
		a->gender[j] += b->gender[j];
	for (int j = 0; j < FACET_N_ETHNICITY; j++)
		a->ethnicity[j] += b->ethnicity[j];
}

static void div_pred(facet_pred *a, int k)
{
	a->age /= k;
	for (int j = 0; j < FACET_N_GENDER; j++)
		a->gender[j] /= k;
	for (int j = 0; j < FACET_N_ETHNICITY; j++)
		a->ethnicity[j] /= k;
}

static void parse_options(int argc, char **argv, struct opts *o)
{
	enum { OPT_FLIP = 256, OPT_SHIFT, OPT_NO_FOLD, OPT_INT8 };
	static const struct option longopts[] = {{"model", required_argument, NULL, 'm'},
	                                         {"batch", required_argument, NULL, 'b'},
	                                         {"flip", no_argument, NULL, OPT_FLIP},
	                                         {"shift", required_argument, NULL, OPT_SHIFT},
	                                         {"precision", required_argument, NULL, 'p'},
	                                         {"engine", required_argument, NULL, 'E'},
	                                         {"no-fold", no_argument, NULL, OPT_NO_FOLD},
	                                         {"int8", no_argument, NULL, OPT_INT8},
	                                         {"threads", required_argument, NULL, 't'},
	                                         {"quiet", no_argument, NULL, 'q'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {"version", no_argument, NULL, 'V'},
	                                         {NULL, 0, NULL, 0}};
	int c;

	memset(o, 0, sizeof *o);
	o->batch = 64;
	o->fast = 1;
	while ((c = facet_getopt(argc, argv, "m:b:p:E:t:qhV", longopts)) != -1) {
		switch (c) {
		case 'm':
			if (o->nmodel == FACET_MAX_MEMBERS)
				usage_error("more than %d models", FACET_MAX_MEMBERS);
			o->model[o->nmodel++] = optarg;
			break;
		case OPT_FLIP:
			o->flip = 1;
			break;
		case OPT_SHIFT:
			o->shift = (int)facet_parse_long("--shift", optarg, 0, 64);
			break;
		case 'b':
			o->batch = (int)facet_parse_long("--batch", optarg, 1, 4096);
			break;
		case 'p':
			if (strcmp(optarg, "int8") == 0)
				o->precision = FACET_PREC_INT8;
			else if (strcmp(optarg, "fp32") && strcmp(optarg, "bf16"))
				usage_error("--precision takes fp32, bf16 or int8, not '%s'",
				            optarg);
			else
				o->precision = facet_parse_precision(optarg);
			break;
		case OPT_INT8:
			o->precision = FACET_PREC_INT8;
			break;
		case 'E':
			o->fast = facet_parse_engine(optarg);
			break;
		case OPT_NO_FOLD:
			o->no_fold = 1;
			break;
		case 't':
			o->threads = (int)facet_parse_long("--threads", optarg, 1, 1024);
			break;
		default:
			facet_std_option(c, usage);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' (records come on stdin)", argv[optind]);
	if (!o->nmodel)
		usage_error("give --model MODEL");
	if (o->precision == FACET_PREC_BF16 && !o->fast)
		usage_error("--precision bf16 needs --engine onednn");
	if (o->precision == FACET_PREC_INT8 && o->no_fold)
		usage_error("int8 scores the folded net: not with --no-fold");
}

/* Dies unless net, the ensemble's model number m from file, can be averaged with model 1: the
 * same heads (the input geometry may differ: each model converts the image to its own). */
static void check_member(const facet_net *first, const facet_net *net, int m, const char *file)
{
	for (int h = 0; h < FACET_HEADS; h++)
		if (net->head[h].present != first->head[h].present)
			die("the models differ in heads: model %d %s the %s head, model 1 %s (%s)",
			    m, net->head[h].present ? "has" : "lacks", facet_head_names[h],
			    first->head[h].present ? "has it" : "does not", file);
}

/* The images prepared for one input serve the other: the same size and channels (the
 * normalisation, applied per model when the input is set, may differ). */
static int same_geometry(const facet_input_cfg *a, const facet_input_cfg *b)
{
	return a->width == b->width && a->height == b->height && a->channels == b->channels;
}

/* Every model of every --model file, ready to run; dies unless they agree on heads. */
static void open_models(const struct opts *o, pending *p)
{
	char err[512];
	facet_fast_set_threads(o->threads);
	p->net = xcalloc(FACET_MAX_MEMBERS, sizeof *p->net);
	for (int f = 0; f < o->nmodel; f++) {
		facet_net **nets;
		int k = facet_model_load_all(o->model[f], &nets, err, sizeof err);
		if (k < 0)
			die("%s", err);
		if (p->nnet + k > FACET_MAX_MEMBERS)
			die("more than %d models in all (%s)", FACET_MAX_MEMBERS, o->model[f]);
		for (int i = 0; i < k; i++) {
			facet_net *net = p->net[p->nnet++] = nets[i];
			check_member(p->net[0], net, p->nnet, o->model[f]);
			if (!o->no_fold)
				facet_net_fold(net);
			const char *why;
			if (o->precision == FACET_PREC_INT8 && (why = facet_q8_check(net)))
				die("model %d cannot score in int8: %s (%s)", p->nnet, why,
				    o->model[f]);
			facet_net_set_path(net, o->fast, o->precision);
			facet_net_alloc(net, o->batch);
		}
		free(nets);
	}
	p->in = xcalloc((size_t)p->nnet, sizeof *p->in);
	p->in_of = xcalloc((size_t)p->nnet, sizeof *p->in_of);
	for (int m = 0; m < p->nnet; m++) {
		const facet_input_cfg *a = &p->net[m]->input;
		int i = 0;
		while (i < p->nin && !same_geometry(a, &p->in[i].net->input))
			i++;
		if (i == p->nin) {
			prepared *b = &p->in[p->nin++];
			b->net = p->net[m];
			b->size = (size_t)a->width * a->height * a->channels;
			b->imgs = xmalloc(b->size * (size_t)o->batch);
		}
		p->in_of[m] = i;
	}
}

/* Forward the batch through every model in every view, add the mean pred to the records that
 * have a slot, write everything in order. */
static void flush(pending *p, facet_writer *w)
{
	memset(p->pred, 0, sizeof *p->pred * (size_t)p->images);
	for (int m = 0; m < p->nnet && p->images; m++) {
		facet_net *net = p->net[m];
		const prepared *b = &p->in[p->in_of[m]];
		for (int v = 0; v < p->nviews; v++) {
			for (int s = 0; s < p->images; s++)
				facet_net_set_input_view(net, s, b->imgs + s * b->size,
				                         p->views[v]);
			facet_net_forward(net, 0);
			for (int s = 0; s < p->images; s++) {
				facet_pred pr;
				facet_net_pred(net, s, &pr);
				add_pred(&p->pred[s], &pr);
			}
		}
	}
	for (int s = 0; s < p->images; s++)
		div_pred(&p->pred[s], p->nviews * p->nnet);
	for (int i = 0; i < p->n; i++) {
		if (p->slot[i] >= 0)
			facet_record_set_pred(p->rec[i], &p->pred[p->slot[i]]);
		facet_writer_put(w, p->rec[i]);
		facet_record_free(p->rec[i]);
	}
	p->n = p->images = 0;
}

static void add(pending *p, const facet_record *r, unsigned long long k)
{
	facet_tensor t;
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->rec = xrealloc(p->rec, sizeof *p->rec * p->cap);
		p->slot = xrealloc(p->slot, sizeof *p->slot * p->cap);
	}
	p->slot[p->n] = -1;
	if (facet_record_tensor(r, "image", &t)) {
		for (int i = 0; i < p->nin; i++) {
			const prepared *b = &p->in[i];
			const char *why =
			    facet_net_prepare_image(b->net, &t, b->imgs + p->images * b->size);
			if (why)
				die("%s (stdin, record %llu)", why, k);
		}
		p->slot[p->n] = p->images++;
	}
	p->rec[p->n++] = facet_record_clone(r);
}

int main(int argc, char **argv)
{
	struct opts o;
	pending p = {0};
	facet_record *r;
	unsigned long long scored = 0;

	facet_init("facet-score");
	parse_options(argc, argv, &o);
	facet_view views[MAX_VIEWS];
	p.views = views;
	p.nviews = make_views(o.flip, o.shift, views);
	open_models(&o, &p);
	const int batch = o.batch;
	p.pred = xcalloc((size_t)batch, sizeof *p.pred);
	facet_reader *rd = facet_reader_open(stdin, "stdin");
	facet_writer *w = facet_writer_open(stdout, "stdout");
	while (facet_reader_next(rd, &r)) {
		add(&p, r, (unsigned long long)facet_reader_count(rd));
		/* a full batch, or many records without images: constant memory either way */
		if (p.images == batch || p.n >= 4 * batch) {
			scored += p.images;
			flush(&p, w);
		}
	}
	scored += p.images;
	flush(&p, w);
	facet_writer_close(w);
	char mean[48] = "";
	if (p.nnet > 1)
		snprintf(mean, sizeof mean, " (the mean of %d models)", p.nnet);
	facet_info("scored %llu of %llu records%s", scored,
	           (unsigned long long)facet_reader_count(rd), mean);
	facet_reader_close(rd);
	free(p.rec);
	free(p.slot);
	free(p.pred);
	for (int i = 0; i < p.nin; i++)
		free(p.in[i].imgs);
	free(p.in);
	free(p.in_of);
	for (int m = 0; m < p.nnet; m++)
		facet_net_free(p.net[m]);
	free(p.net);
	return 0;
}
