/*
 * The model file and checkpoints: one MessagePack map (facet-model(5)), written atomically.
 *
 * The tables below are the file: every field is declared once, with its key, what it holds and
 * how it goes on the wire, and both the writer (pack_fields) and the reader (load_fields) walk
 * them in order. A model holds format, version, kind, facet, config, input, age_scale, layers,
 * params and train; a checkpoint adds checkpoint (optimizer state, step, running sums, best
 * parameters) so that training resumes exactly; facet-quantize adds int8.
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#include "nn/nn.h"
#include "nn/quant.h"

/* ---------------------------------------------------------------- the fields */

/* What a field holds and how it is written. The reader checks what it stores: a whole number
 * in min..max for F_INT, F_INT64 and F_SIZE, a number for the other numeric kinds. */
typedef enum {
	F_INT,      /* int: msgpack int */
	F_INT64,    /* int64_t: msgpack int */
	F_SIZE,     /* size_t: msgpack uint */
	F_U64,      /* uint64_t: msgpack uint, read back only as a non-negative integer */
	F_U64_ANY,  /* uint64_t: msgpack uint; any number reads, one that is not a non-negative
	             * integer as 0 */
	F_FLOAT,    /* float: msgpack float32 */
	F_DOUBLE,   /* double: msgpack float64 */
	F_METRIC,   /* double: float64, written only when finite; absent (or not a number) reads
	             * NAN */
	F_RANGE,    /* float: an int8 range, read back in FACET_Q8_RANGE_MIN..MAX */
	F_STR,      /* the string text; read back it must be the same (else the message missing) */
	F_ENUM,     /* int: the string names[value] */
	F_CHANNELS, /* float [C], one per input channel: an array of float32 */
	F_TUPLE,    /* the fields of sub as an array of their values, without keys */
	F_MAP,      /* the fields of sub as a map */
	F_PARAMS,   /* {name: tensor <f4}, one per parameter: which of their arrays */
	F_CUSTOM,   /* its own pack and load functions */
} field_type;

/* Where a field's offset counts from: the map it is in, the net, or the training state. */
typedef enum { IN_PARENT, IN_NET, IN_STATE } field_base;

/* Which files carry a field. */
typedef enum {
	W_ALWAYS,
	W_CHECKPOINT, /* checkpoints */
	W_QUANTIZED,  /* files facet-quantize wrote (facet_model_save_int8): optional */
	W_FLAGGED,    /* those where the int at has (in the parent) is set; the reader sets it to
	               * whether the field is there */
	W_AGE_HEAD,   /* a net with the age head; W_AGE_HEAD + FACET_HEAD_*: with that head */
	W_GENDER_HEAD,
	W_ETHNICITY_HEAD,
} field_when;

enum {
	NOTE = 1,     /* for people and tools: written, never read back */
	STATE = 2,    /* training state: read only when the caller asks for it */
	POSITIVE = 4, /* read back it must be > 0, else the message bad */
};

/* The parameter arrays F_PARAMS writes. */
enum { P_DATA, P_ADAM_M, P_ADAM_V, P_BEST };

typedef struct {
	const char *path;
	char *err;
	size_t errlen;
} load_ctx;

/* One file being written (pk) or read (c): the net (made by reading its config) and the
 * training state (NULL when the reader is not asked for it). */
typedef struct {
	facet_net *net;
	facet_train_state *st;
	int checkpoint;
	msgpack_packer *pk;
	load_ctx *c;
} model_io;

typedef struct model_field model_field;
/* at: the field's value (its offset from its base), NULL when it has none. */
typedef void pack_fn(model_io *io, const model_field *f, const void *at);
/* o: the value under the field's key, NULL when there is none. */
typedef int load_fn(model_io *io, const model_field *f, void *at, const msgpack_object *o);

struct model_field {
	const char *key;
	field_type type;
	field_base from;
	size_t off;
	field_when when;
	unsigned flags;
	double min, max;           /* F_INT, F_INT64, F_SIZE */
	const model_field *sub;    /* F_TUPLE, F_MAP */
	const char *text;          /* F_STR */
	const char *const *names;  /* F_ENUM */
	int which;                 /* F_PARAMS: P_* */
	size_t has;                /* W_FLAGGED */
	const char *alias;         /* an older key, read when the key is absent */
	const char *missing, *bad; /* messages: absent or not of its kind, out of bounds */
	pack_fn *pack;             /* instead of the type's writer */
	load_fn *load;             /* instead of the type's reader */
};

static pack_fn pack_version, pack_kind, pack_config, pack_layers, pack_history, pack_ranges;
static load_fn load_version, load_config, load_history, load_ranges, load_train, load_checkpoint;

static const char *const norm_names[] = {"unit", "center", "dataset"};

#define ME(f) offsetof(facet_metrics, f)
static const model_field metric_fields[] = {
    {.key = "loss", .type = F_METRIC, .off = ME(loss)},
    {.key = "age_mae", .type = F_METRIC, .off = ME(age_mae), .when = W_AGE_HEAD},
    {.key = "gender_acc", .type = F_METRIC, .off = ME(gender_acc), .when = W_GENDER_HEAD},
    {.key = "ethnicity_acc", .type = F_METRIC, .off = ME(ethnicity_acc), .when = W_ETHNICITY_HEAD},
    {.key = NULL}};

/* One epoch of the training history, and a record of the metrics file (facet-metrics(5)). */
#define EP(f) offsetof(facet_epoch_log, f)
static const model_field epoch_fields[] = {
    {.key = "epoch", .type = F_INT, .off = EP(epoch), .max = INT_MAX},
    {.key = "lr", .type = F_DOUBLE, .off = EP(lr)},
    {.key = "time_s", .type = F_DOUBLE, .off = EP(time_s)},
    {.key = "images_per_s", .type = F_DOUBLE, .off = EP(images_per_s)},
    {.key = "train", .type = F_MAP, .off = EP(train), .sub = metric_fields},
    {.key = "val",
     .type = F_MAP,
     .off = EP(val),
     .sub = metric_fields,
     .when = W_FLAGGED,
     .has = EP(has_val)},
    {.key = NULL}};

/* The input geometry is the config's (written here for tools that read the file); the
 * normalisation is the data's. */
#define IN(f) offsetof(facet_input_cfg, f)
static const model_field input_fields[] = {
    {.key = "width", .type = F_INT, .off = IN(width), .flags = NOTE},
    {.key = "height", .type = F_INT, .off = IN(height), .flags = NOTE},
    {.key = "channels", .type = F_INT, .off = IN(channels), .flags = NOTE},
    {.key = "normalise", .type = F_ENUM, .off = IN(norm), .flags = NOTE, .names = norm_names},
    {.key = "mean",
     .type = F_CHANNELS,
     .off = IN(mean),
     .missing = "model file lacks the input normalisation",
     .bad = "model file has a bad input normalisation"},
    {.key = "std",
     .type = F_CHANNELS,
     .off = IN(std),
     .flags = POSITIVE,
     .missing = "model file lacks the input normalisation",
     .bad = "model file has a bad input normalisation"},
    {.key = NULL}};

/* The age head predicts (age - mean) / std. */
#define NET(f) offsetof(facet_net, f)
static const model_field age_fields[] = {{.key = "mean", .type = F_FLOAT, .off = NET(age_mean)},
                                         {.key = "std",
                                          .type = F_FLOAT,
                                          .off = NET(age_std),
                                          .flags = POSITIVE,
                                          .bad = "model file has a bad age scaling"},
                                         {.key = NULL}};

#define ST(f) offsetof(facet_train_state, f)
static const model_field train_fields[] = {
    {.key = "seed", .type = F_U64_ANY, .off = ST(seed)},
    {.key = "epochs", .type = F_INT, .off = ST(epochs), .max = INT_MAX},
    {.key = "epochs_done", .type = F_INT, .off = ST(epoch), .max = INT_MAX},
    {.key = "samples", .type = F_SIZE, .off = ST(samples), .max = 1e15},
    {.key = "val_samples", .type = F_SIZE, .off = ST(val_samples), .max = 1e15},
    {.key = "best_epoch", .type = F_INT, .off = ST(best_epoch), .min = -1, .max = INT_MAX},
    {.key = "time_s", .type = F_DOUBLE, .off = ST(time_s)},
    {.key = "history",
     .type = F_CUSTOM,
     .pack = pack_history,
     .load = load_history,
     .missing = "model file lacks the training history"},
    {.key = NULL}};

#define SUM(f) offsetof(facet_metric_sums, f)
static const model_field sum_fields[] = {
    {.key = "loss_sum", .type = F_DOUBLE, .off = SUM(loss_sum)},
    {.key = "batches", .type = F_DOUBLE, .off = SUM(batches)},
    {.key = "ae_sum", .type = F_DOUBLE, .off = SUM(ae_sum)},
    {.key = "age_n", .type = F_DOUBLE, .off = SUM(age_n)},
    {.key = "g_ok", .type = F_DOUBLE, .off = SUM(g_ok)},
    {.key = "g_n", .type = F_DOUBLE, .off = SUM(g_n)},
    {.key = "e_ok", .type = F_DOUBLE, .off = SUM(e_ok)},
    {.key = "e_n", .type = F_DOUBLE, .off = SUM(e_n)},
    {.key = NULL}};

static const model_field checkpoint_fields[] = {
    {.key = "step", .type = F_INT, .off = ST(step), .max = INT_MAX},
    {.key = "t", .type = F_INT64, .off = ST(t), .max = 9e15},
    {.key = "plateau_lr", .type = F_FLOAT, .off = ST(plateau_lr)},
    {.key = "plateau_best", .type = F_DOUBLE, .off = ST(plateau_best)},
    {.key = "plateau_bad", .type = F_INT, .off = ST(plateau_bad), .max = INT_MAX},
    {.key = "best", .type = F_DOUBLE, .off = ST(best)},
    {.key = "bad_epochs", .type = F_INT, .off = ST(bad_epochs), .max = INT_MAX},
    {.key = "stopped", .type = F_INT, .off = ST(stopped), .max = 1},
    {.key = "sums",
     .type = F_TUPLE,
     .off = ST(sums),
     .sub = sum_fields,
     .missing = "checkpoint lacks its running sums",
     .bad = "checkpoint running sums are not numbers"},
    {.key = "data_sum",
     .type = F_U64,
     .off = ST(data_sum),
     .missing = "checkpoint lacks 'data_sum'"},
    {.key = "adam_m",
     .type = F_PARAMS,
     .which = P_ADAM_M,
     .missing = "model file lacks its parameter map"},
    {.key = "adam_v",
     .type = F_PARAMS,
     .which = P_ADAM_V,
     .missing = "model file lacks its parameter map"},
    {.key = "best_params", .type = F_PARAMS, .which = P_BEST}, /* nil when there is none */
    {.key = NULL}};

/* The int8 calibration: ranges {"trunk.K": range}, one per convolution of the trunk. */
static const model_field int8_fields[] = {
    {.key = "samples", .type = F_INT, .off = NET(q8_samples), .min = 1, .max = 1e9},
    {.key = "method", .type = F_STR, .flags = NOTE, .text = "histogram, least squared error"},
    {.key = "input", .type = F_RANGE, .off = NET(q8_input)},
    {.key = "ranges",
     .type = F_CUSTOM,
     .pack = pack_ranges,
     .load = load_ranges,
     .missing = "model file's 'int8' lacks its 'ranges' map"},
    {.key = NULL}};

static const model_field model_fields[] = {
    {.key = "format",
     .type = F_STR,
     .text = FACET_MODEL_FORMAT,
     .missing = "not a facet model file (no format \"" FACET_MODEL_FORMAT "\")"},
    {.key = "version", .type = F_CUSTOM, .pack = pack_version, .load = load_version},
    {.key = "kind", .type = F_CUSTOM, .flags = NOTE, .pack = pack_kind}, /* or "checkpoint" */
    {.key = "facet", .type = F_STR, .flags = NOTE, .text = FACET_VERSION},
    /* the network config with every default filled in: it makes the net */
    {.key = "config",
     .type = F_CUSTOM,
     .pack = pack_config,
     .load = load_config,
     .missing = "model file lacks its config"},
    {.key = "input",
     .type = F_MAP,
     .from = IN_NET,
     .off = NET(input),
     .sub = input_fields,
     .missing = "model file lacks the input normalisation"},
    {.key = "age_scale",
     .type = F_MAP,
     .from = IN_NET,
     .sub = age_fields,
     .alias = "age"}, /* files written before 0.1.0 was tagged called it "age" */
    /* one line per layer, for people ("trunk.0 conv 1x48x48 -> 64x46x46") */
    {.key = "layers", .type = F_CUSTOM, .flags = NOTE, .pack = pack_layers},
    {.key = "params",
     .type = F_PARAMS,
     .which = P_DATA,
     .missing = "model file lacks its parameter map"},
    /* appended by facet_model_save_int8, after the fields above; read before the state */
    {.key = "int8",
     .type = F_MAP,
     .from = IN_NET,
     .when = W_QUANTIZED,
     .sub = int8_fields,
     .missing = "model file's 'int8' is not a map"},
    {.key = "train",
     .type = F_MAP,
     .from = IN_STATE,
     .flags = STATE,
     .sub = train_fields,
     .missing = "model file lacks its 'train' map",
     .load = load_train},
    {.key = "checkpoint",
     .type = F_MAP,
     .from = IN_STATE,
     .when = W_CHECKPOINT,
     .flags = STATE,
     .sub = checkpoint_fields,
     .load = load_checkpoint},
    {.key = NULL}};

/* The field of table fields under key. */
static const model_field *field_named(const model_field *fields, const char *key)
{
	while (strcmp(fields->key, key))
		fields++;
	return fields;
}

static uint32_t field_count(const model_field *fields)
{
	uint32_t n = 0;
	while (fields[n].key)
		n++;
	return n;
}

/* Where field f of the map at parent keeps its value (NULL: nowhere). */
static char *field_at(const model_io *io, const model_field *f, const void *parent)
{
	const void *base = f->from == IN_NET     ? (const void *)io->net
	                   : f->from == IN_STATE ? (const void *)io->st
	                                         : parent;
	return base ? (char *)base + f->off : NULL;
}

/* ---------------------------------------------------------------- writing */

static int file_write(void *data, const char *buf, size_t len)
{
	return len == 0 || fwrite(buf, 1, len, (FILE *)data) == len ? 0 : -1;
}

static void pack_key(msgpack_packer *pk, const char *k)
{
	facet_pack_str(pk, k);
}

/* Whether the file being written carries field f of the map at parent. */
static int written(const model_io *io, const model_field *f, const void *parent)
{
	const char *at = field_at(io, f, parent);
	if (f->type == F_METRIC && !isfinite(*(const double *)at))
		return 0;
	switch (f->when) {
	case W_ALWAYS:
		return 1;
	case W_CHECKPOINT:
		return io->checkpoint;
	case W_QUANTIZED:
		return 0; /* facet_model_save_int8 adds it */
	case W_FLAGGED:
		return *(const int *)((const char *)parent + f->has);
	default:
		return io->net->head[f->when - W_AGE_HEAD].present;
	}
}

static void pack_fields(model_io *io, const model_field *fields, const void *parent);

static void pack_f32(msgpack_packer *pk, const float *p, const facet_param *shape_of)
{
	facet_tensor t;
	memset(&t, 0, sizeof t);
	t.dtype = FACET_F32;
	t.ndim = shape_of->ndim;
	for (int d = 0; d < t.ndim; d++)
		t.shape[d] = shape_of->shape[d];
	t.data = p;
	t.nbytes = sizeof(float) * shape_of->n;
	facet_pack_tensor(pk, &t);
}

/* The values of parameter i that which (P_*) names; NULL where there are none yet. */
static float *param_values(const model_io *io, int i, int which)
{
	facet_param *p = io->net->param[i];
	return which == P_DATA     ? p->data
	       : which == P_ADAM_M ? p->m
	       : which == P_ADAM_V ? p->v
	                           : io->st->best_param[i];
}

/* Adam's moments are kept for trainable parameters only. */
static int param_kept(const facet_param *p, int which)
{
	return which == P_DATA || which == P_BEST || p->grad != NULL;
}

static void pack_params(model_io *io, int which)
{
	const facet_net *net = io->net;
	int n = 0;
	if (which == P_BEST && !io->st->best_param) {
		msgpack_pack_nil(io->pk);
		return;
	}
	for (int i = 0; i < net->nparam; i++)
		n += param_kept(net->param[i], which);
	msgpack_pack_map(io->pk, n);
	for (int i = 0; i < net->nparam; i++) {
		const facet_param *p = net->param[i];
		const float *src = param_values(io, i, which);
		float *tmp = NULL;
		if (!param_kept(p, which))
			continue;
		if (!src) { /* moments not allocated yet: zeros */
			tmp = xcalloc(p->n, sizeof(float));
			src = tmp;
		}
		pack_key(io->pk, p->name);
		pack_f32(io->pk, src, p);
		free(tmp);
	}
}

static void pack_value(model_io *io, const model_field *f, const void *at)
{
	msgpack_packer *pk = io->pk;
	if (f->pack) {
		f->pack(io, f, at);
		return;
	}
	switch (f->type) {
	case F_INT:
		msgpack_pack_int(pk, *(const int *)at);
		break;
	case F_INT64:
		msgpack_pack_int64(pk, *(const int64_t *)at);
		break;
	case F_SIZE:
		msgpack_pack_uint64(pk, *(const size_t *)at);
		break;
	case F_U64:
	case F_U64_ANY:
		msgpack_pack_uint64(pk, *(const uint64_t *)at);
		break;
	case F_FLOAT:
	case F_RANGE:
		msgpack_pack_float(pk, *(const float *)at);
		break;
	case F_DOUBLE:
	case F_METRIC:
		msgpack_pack_double(pk, *(const double *)at);
		break;
	case F_STR:
		facet_pack_str(pk, f->text);
		break;
	case F_ENUM:
		facet_pack_str(pk, f->names[*(const int *)at]);
		break;
	case F_CHANNELS:
		msgpack_pack_array(pk, io->net->input.channels);
		for (int c = 0; c < io->net->input.channels; c++)
			msgpack_pack_float(pk, ((const float *)at)[c]);
		break;
	case F_TUPLE:
		msgpack_pack_array(pk, field_count(f->sub));
		for (const model_field *e = f->sub; e->key; e++)
			pack_value(io, e, field_at(io, e, at));
		break;
	case F_MAP:
		pack_fields(io, f->sub, at);
		break;
	case F_PARAMS:
		pack_params(io, f->which);
		break;
	case F_CUSTOM:
		break; /* f->pack */
	}
}

/* The fields of table fields that the file carries, as a map, from the values at parent. */
static void pack_fields(model_io *io, const model_field *fields, const void *parent)
{
	uint32_t n = 0;
	for (const model_field *f = fields; f->key; f++)
		n += written(io, f, parent);
	msgpack_pack_map(io->pk, n);
	for (const model_field *f = fields; f->key; f++)
		if (written(io, f, parent)) {
			pack_key(io->pk, f->key);
			pack_value(io, f, field_at(io, f, parent));
		}
}

static void pack_version(model_io *io, const model_field *f, const void *at)
{
	(void)f, (void)at;
	msgpack_pack_int(io->pk, FACET_MODEL_VERSION);
}

static void pack_kind(model_io *io, const model_field *f, const void *at)
{
	(void)f, (void)at;
	facet_pack_str(io->pk, io->checkpoint ? "checkpoint" : "model");
}

static void pack_config(model_io *io, const model_field *f, const void *at)
{
	char *cfg = facet_net_config_string(io->net);
	(void)f, (void)at;
	facet_pack_str(io->pk, cfg);
	free(cfg);
}

static void pack_layer_lines(msgpack_packer *pk, const char *owner, const facet_layer *l, int n)
{
	for (int i = 0; i < n; i++) {
		char line[128];
		snprintf(line, sizeof line, "%s.%d %s %dx%dx%d -> %dx%dx%d", owner, i,
		         l[i].ops->name, l[i].ic, l[i].ih, l[i].iw, l[i].oc, l[i].oh, l[i].ow);
		facet_pack_str(pk, line);
	}
}

static void pack_layers(model_io *io, const model_field *f, const void *at)
{
	const facet_net *net = io->net;
	int nl = net->ntrunk;
	(void)f, (void)at;
	for (int h = 0; h < FACET_HEADS; h++)
		nl += net->head[h].present ? net->head[h].nlayer : 0;
	msgpack_pack_array(io->pk, nl);
	pack_layer_lines(io->pk, "trunk", net->trunk, net->ntrunk);
	for (int h = 0; h < FACET_HEADS; h++)
		if (net->head[h].present)
			pack_layer_lines(io->pk, facet_head_names[h], net->head[h].layer,
			                 net->head[h].nlayer);
}

static void pack_history(model_io *io, const model_field *f, const void *at)
{
	(void)f, (void)at;
	msgpack_pack_array(io->pk, io->st->nlog);
	for (int i = 0; i < io->st->nlog; i++)
		pack_fields(io, epoch_fields, &io->st->log[i]);
}

static void pack_ranges(model_io *io, const model_field *f, const void *at)
{
	const facet_net *net = io->net;
	int n = 0;
	(void)f, (void)at;
	for (int i = 0; i < net->ntrunk; i++)
		n += net->trunk[i].q8_range > 0;
	msgpack_pack_map(io->pk, n);
	for (int i = 0; i < net->ntrunk; i++)
		if (net->trunk[i].q8_range > 0) {
			char name[32];
			snprintf(name, sizeof name, "trunk.%d", i);
			pack_key(io->pk, name);
			msgpack_pack_float(io->pk, net->trunk[i].q8_range);
		}
}

void facet_epoch_log_pack(msgpack_packer *pk, const facet_net *net, const facet_epoch_log *e)
{
	model_io io = {.net = (facet_net *)net, .pk = pk}; /* only read */
	pack_fields(&io, epoch_fields, e);
}

int facet_model_save(const facet_net *net, const facet_train_state *st, int checkpoint,
                     const char *path, char *err, size_t errlen)
{
	facet_atomic a;
	facet_train_state empty;
	if (net->folded) { /* its weights hold the batch norms: not the trained net */
		snprintf(err, errlen, "a net folded for inference cannot be saved (%s)", path);
		return -1;
	}
	if (facet_atomic_open(&a, path)) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	facet_train_state_init(&empty);
	msgpack_packer pk;
	msgpack_packer_init(&pk, a.f, file_write);
	model_io io = {.net = (facet_net *)net, /* only read */
	               .st = st ? (facet_train_state *)st : &empty,
	               .checkpoint = checkpoint && st,
	               .pk = &pk};
	pack_fields(&io, model_fields, NULL);
	if (facet_atomic_commit(&a)) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- reading */

/* c->err = "what (where)": where is the file, and from its second model on which model. */
static int bad(load_ctx *c, const char *what)
{
	snprintf(c->err, c->errlen, "%s (%s)", what, c->path);
	return -1;
}

static int getnum(load_ctx *c, const msgpack_object *o, const char *key, double *v)
{
	if (!facet_msgpack_number(o, v)) {
		char msg[96];
		snprintf(msg, sizeof msg, "model file lacks the number '%s'", key);
		return bad(c, msg);
	}
	return 0;
}

/* A whole number in lo..hi (casts of anything else are undefined behaviour). */
static int getint(load_ctx *c, const msgpack_object *o, const char *key, double lo, double hi,
                  double *v)
{
	if (getnum(c, o, key, v))
		return -1;
	if (!(*v >= lo && *v <= hi) || *v != floor(*v)) {
		char msg[128];
		snprintf(msg, sizeof msg, "model file's '%s' is not a whole number in %.0f..%.0f",
		         key, lo, hi);
		return bad(c, msg);
	}
	return 0;
}

/* A number in the bounds int8 ranges keep (anything else is a broken calibration). */
static int get_range(load_ctx *c, const msgpack_object *o, const char *what, float *v)
{
	double d;
	char msg[160];
	if (!facet_msgpack_number(o, &d)) {
		snprintf(msg, sizeof msg, "model file's int8 range for '%s' is not a number", what);
		return bad(c, msg);
	}
	if (!(d >= FACET_Q8_RANGE_MIN && d <= FACET_Q8_RANGE_MAX)) {
		snprintf(msg, sizeof msg, "model file's int8 range for '%s' is %g, not in %g..%g",
		         what, d, FACET_Q8_RANGE_MIN, FACET_Q8_RANGE_MAX);
		return bad(c, msg);
	}
	*v = (float)d;
	return 0;
}

/* Store the number v read for field f at at. */
static void store(const model_field *f, void *at, double v)
{
	switch (f->type) {
	case F_INT:
		*(int *)at = (int)v;
		break;
	case F_INT64:
		*(int64_t *)at = (int64_t)v;
		break;
	case F_SIZE:
		*(size_t *)at = (size_t)v;
		break;
	case F_FLOAT:
		*(float *)at = (float)v;
		break;
	default: /* F_DOUBLE, F_METRIC */
		*(double *)at = v;
		break;
	}
}

/* Fill the values which (P_*) names of every parameter it keeps from a {name: tensor} map. */
static int load_params(model_io *io, const model_field *f, const msgpack_object *map)
{
	facet_net *net = io->net;
	int which = f->which;
	if (which == P_BEST) { /* nil when the checkpoint had none */
		if (!map || map->type != MSGPACK_OBJECT_MAP)
			return 0;
		facet_train_state_keep_best(io->st, net); /* allocates */
	}
	if (which == P_ADAM_M || which == P_ADAM_V)
		for (int i = 0; i < net->nparam; i++) {
			facet_param *p = net->param[i];
			if (p->grad && !p->m) {
				p->m = xcalloc(p->n, sizeof(float));
				p->v = xcalloc(p->n, sizeof(float));
			}
		}
	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return bad(io->c, f->missing);
	for (int i = 0; i < net->nparam; i++) {
		facet_param *p = net->param[i];
		if (!param_kept(p, which))
			continue;
		char msg[160];
		const msgpack_object *o = facet_msgpack_get(map, p->name);
		facet_tensor t;
		const char *why;
		if (!o) {
			snprintf(msg, sizeof msg, "parameter '%s' is missing", p->name);
			return bad(io->c, msg);
		}
		if ((why = facet_unpack_tensor(o, &t))) {
			snprintf(msg, sizeof msg, "parameter '%s': %s", p->name, why);
			return bad(io->c, msg);
		}
		int same = t.dtype == FACET_F32 && t.ndim == p->ndim;
		for (int d = 0; same && d < t.ndim; d++)
			same = t.shape[d] == p->shape[d];
		if (!same) {
			snprintf(msg, sizeof msg,
			         "parameter '%s' does not have the shape the config gives",
			         p->name);
			return bad(io->c, msg);
		}
		memcpy(param_values(io, i, which), t.data, t.nbytes);
	}
	return 0;
}

static int load_fields(model_io *io, const model_field *fields, void *parent,
                       const msgpack_object *map);

/* A map's fields from o; a map that is absent or not a map fails with f->missing where there
 * is one, else each of its fields reads as absent. */
static int load_map(model_io *io, const model_field *f, void *at, const msgpack_object *o)
{
	if (f->missing && (!o || o->type != MSGPACK_OBJECT_MAP))
		return bad(io->c, f->missing);
	return load_fields(io, f->sub, at, o);
}

static int load_value(model_io *io, const model_field *f, void *at, const msgpack_object *o)
{
	load_ctx *c = io->c;
	double v;
	if (f->load)
		return f->load(io, f, at, o);
	switch (f->type) {
	case F_INT:
	case F_INT64:
	case F_SIZE:
		if (getint(c, o, f->key, f->min, f->max, &v))
			return -1;
		store(f, at, v);
		return 0;
	case F_FLOAT:
	case F_DOUBLE:
		if (getnum(c, o, f->key, &v))
			return -1;
		if ((f->flags & POSITIVE) && !(v > 0))
			return bad(c, f->bad);
		store(f, at, v);
		return 0;
	case F_METRIC:
		store(f, at, facet_msgpack_number(o, &v) ? v : NAN);
		return 0;
	case F_U64:
		if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
			return bad(c, f->missing);
		*(uint64_t *)at = o->via.u64;
		return 0;
	case F_U64_ANY:
		if (getnum(c, o, f->key, &v))
			return -1;
		*(uint64_t *)at = o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : 0;
		return 0;
	case F_RANGE:
		return get_range(c, o, f->key, at);
	case F_STR:
		return !o || !facet_key_eq(o, f->text) ? bad(c, f->missing) : 0;
	case F_CHANNELS:
		if (!o || o->type != MSGPACK_OBJECT_ARRAY ||
		    (int)o->via.array.size != io->net->input.channels)
			return bad(c, f->missing);
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			if (!facet_msgpack_number(&o->via.array.ptr[i], &v) ||
			    ((f->flags & POSITIVE) && !(v > 0)))
				return bad(c, f->bad);
			((float *)at)[i] = (float)v;
		}
		return 0;
	case F_TUPLE: {
		uint32_t n = field_count(f->sub);
		if (!o || o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != n)
			return bad(c, f->missing);
		for (uint32_t i = 0; i < n; i++) {
			if (!facet_msgpack_number(&o->via.array.ptr[i], &v))
				return bad(c, f->bad);
			store(&f->sub[i], field_at(io, &f->sub[i], at), v);
		}
		return 0;
	}
	case F_MAP:
		return load_map(io, f, at, o);
	case F_PARAMS:
		return load_params(io, f, o);
	case F_ENUM:   /* NOTE only */
	case F_CUSTOM: /* f->load */
		break;
	}
	return 0;
}

/* The fields of table fields that the reader takes, in order, from map into parent. */
static int load_fields(model_io *io, const model_field *fields, void *parent,
                       const msgpack_object *map)
{
	for (const model_field *f = fields; f->key; f++) {
		if ((f->flags & NOTE) || ((f->flags & STATE) && !io->st))
			continue;
		const msgpack_object *o = facet_msgpack_get(map, f->key);
		if (!o && f->alias)
			o = facet_msgpack_get(map, f->alias);
		if (!o && f->when == W_QUANTIZED)
			continue;
		if (f->when == W_FLAGGED)
			*(int *)((char *)parent + f->has) = o != NULL;
		if (load_value(io, f, field_at(io, f, parent), o))
			return -1;
	}
	return 0;
}

static int load_version(model_io *io, const model_field *f, void *at, const msgpack_object *o)
{
	double ver = 0;
	(void)f, (void)at;
	if (!facet_msgpack_number(o, &ver) || ver != FACET_MODEL_VERSION) {
		char msg[128];
		snprintf(msg, sizeof msg,
		         "model file format version %g; this facet reads version %d", ver,
		         FACET_MODEL_VERSION);
		return bad(io->c, msg);
	}
	return 0;
}

/* The config makes the net the fields after it fill. */
static int load_config(model_io *io, const model_field *f, void *at, const msgpack_object *o)
{
	(void)at;
	if (!o || o->type != MSGPACK_OBJECT_STR)
		return bad(io->c, f->missing);
	char *text = xmalloc(o->via.str.size + 1);
	memcpy(text, o->via.str.ptr, o->via.str.size);
	text[o->via.str.size] = 0;
	char cname[600]; /* the config's errors say "what (FILE, config, line N)" */
	snprintf(cname, sizeof cname, "%s, config", io->c->path);
	io->net = facet_net_parse(text, cname, io->c->err, io->c->errlen);
	free(text);
	return io->net ? 0 : -1;
}

static int load_history(model_io *io, const model_field *f, void *at, const msgpack_object *arr)
{
	(void)at;
	if (!arr || arr->type != MSGPACK_OBJECT_ARRAY)
		return bad(io->c, f->missing);
	for (uint32_t i = 0; i < arr->via.array.size; i++) {
		facet_epoch_log lg;
		memset(&lg, 0, sizeof lg);
		if (load_fields(io, epoch_fields, &lg, &arr->via.array.ptr[i]))
			return -1;
		facet_train_state_log(io->st, &lg);
	}
	return 0;
}

/* Every range names a convolution of the trunk. */
static int load_ranges(model_io *io, const model_field *f, void *at, const msgpack_object *r)
{
	facet_net *net = io->net;
	(void)at;
	if (!r || r->type != MSGPACK_OBJECT_MAP)
		return bad(io->c, f->missing);
	for (uint32_t i = 0; i < r->via.map.size; i++) {
		const msgpack_object *k = &r->via.map.ptr[i].key;
		char name[40] = "", msg[160];
		int idx = -1, end = 0;
		if (k->type == MSGPACK_OBJECT_STR && k->via.str.size < sizeof name)
			memcpy(name, k->via.str.ptr, k->via.str.size);
		if (sscanf(name, "trunk.%d%n", &idx, &end) != 1 || name[end] || idx < 0 ||
		    idx >= net->ntrunk || net->trunk[idx].kind != FACET_CONV) {
			snprintf(
			    msg, sizeof msg,
			    "model file's int8 ranges name '%s', not a convolution of the trunk",
			    name);
			return bad(io->c, msg);
		}
		if (get_range(io->c, &r->via.map.ptr[i].val, name, &net->trunk[idx].q8_range))
			return -1;
	}
	return 0;
}

/* The training state starts afresh where the file's begins. */
static int load_train(model_io *io, const model_field *f, void *at, const msgpack_object *o)
{
	facet_train_state_init(io->st);
	return load_map(io, f, at, o);
}

static int load_checkpoint(model_io *io, const model_field *f, void *at, const msgpack_object *o)
{
	if (!o) {
		io->st->epochs = 0; /* a plain model: nothing to resume */
		return 0;
	}
	return load_map(io, f, at, o);
}

static unsigned char *read_all(const char *path, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 1 << 16, n = 0, got;
	unsigned char *buf = xmalloc(cap);
	while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
	}
	if (ferror(f)) {
		snprintf(err, errlen, "read error (%s): %s", path, strerror(errno));
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	*len = n;
	return buf;
}

/* Load the one model that buf[0..n) holds (n from facet_msgpack_scan). */
static facet_net *load_one(load_ctx *c, const unsigned char *buf, size_t n, facet_train_state *st)
{
	msgpack_unpacked u;
	model_io io = {.st = st, .c = c};
	size_t off = 0;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)buf, n, &off) != MSGPACK_UNPACK_SUCCESS)
		bad(c, "not a facet model file (bad MessagePack)");
	else if (load_fields(&io, model_fields, NULL, &u.data)) {
		facet_net_free(io.net);
		io.net = NULL;
	}
	msgpack_unpacked_destroy(&u);
	return io.net;
}

/* The length of the next model in buf[0..len), or 0 with a message in err. */
static size_t next_model(load_ctx *c, const unsigned char *buf, size_t len)
{
	const char *why = NULL;
	long n = facet_msgpack_scan(buf, len, (size_t)1 << 40, &why);
	if (n <= 0) {
		bad(c,
		    n == 0 ? "truncated model file" : "not a facet model file (bad MessagePack)");
		return 0;
	}
	return (size_t)n;
}

facet_net *facet_model_load(const char *path, facet_train_state *st, char *err, size_t errlen)
{
	load_ctx c = {path, err, errlen};
	size_t len, n;
	unsigned char *buf = read_all(path, &len, err, errlen);
	if (!buf)
		return NULL;
	facet_net *net = NULL;
	if ((n = next_model(&c, buf, len)) && n < len)
		bad(&c,
		    "more than one model in the file (an ensemble, which facet-score and facet-predict read): give one model");
	else if (n)
		net = load_one(&c, buf, n, st);
	free(buf);
	return net;
}

int facet_model_load_all(const char *path, facet_net ***nets, char *err, size_t errlen)
{
	size_t len, off = 0;
	unsigned char *buf = read_all(path, &len, err, errlen);
	if (!buf)
		return -1;
	int count = 0;
	facet_net **all = xcalloc(FACET_MAX_MEMBERS, sizeof *all);
	char where[512];
	load_ctx c = {path, err, errlen};
	do { /* an empty file goes through once: next_model calls it truncated */
		if (count == FACET_MAX_MEMBERS) {
			snprintf(err, errlen, "more than %d models in one file (%s)",
			         FACET_MAX_MEMBERS, path);
			break;
		}
		snprintf(where, sizeof where, "%s, model %d", path, count + 1);
		c.path = count ? where : path; /* the second model on: say which */
		size_t n = next_model(&c, buf + off, len - off);
		if (!n || !(all[count] = load_one(&c, buf + off, n, NULL)))
			break;
		count++;
		off += n;
	} while (off < len);
	free(buf);
	if (off < len || !count) {
		while (count)
			facet_net_free(all[--count]);
		free(all);
		return -1;
	}
	*nets = all;
	return count;
}

/* ---------------------------------------------------------------- int8 calibration */

int facet_model_save_int8(const char *in, facet_net *const *nets, int count, const char *out,
                          char *err, size_t errlen)
{
	size_t len, off = 0;
	unsigned char *buf = read_all(in, &len, err, errlen);
	load_ctx c = {in, err, errlen};
	const model_field *q = field_named(model_fields, "int8");
	facet_atomic a;
	if (!buf)
		return -1;
	if (facet_atomic_open(&a, out)) {
		snprintf(err, errlen, "cannot write %s: %s", out, strerror(errno));
		free(buf);
		return -1;
	}
	msgpack_packer pk;
	msgpack_packer_init(&pk, a.f, file_write);
	int rc = 0;
	for (int m = 0; m < count && !rc; m++) {
		size_t n = next_model(&c, buf + off, len - off), at = 0;
		msgpack_unpacked u;
		msgpack_unpacked_init(&u);
		if (!n ||
		    msgpack_unpack_next(&u, (const char *)buf + off, n, &at) !=
		        MSGPACK_UNPACK_SUCCESS ||
		    u.data.type != MSGPACK_OBJECT_MAP) {
			if (n)
				bad(&c, "not a facet model file (bad MessagePack)");
			rc = -1;
		} else {
			const msgpack_object_map *root = &u.data.via.map;
			model_io io = {.net = nets[m], .pk = &pk};
			uint32_t keep = 0;
			for (uint32_t i = 0; i < root->size; i++)
				keep += !facet_key_eq(&root->ptr[i].key, q->key);
			msgpack_pack_map(&pk, keep + 1);
			for (uint32_t i = 0; i < root->size; i++)
				if (!facet_key_eq(&root->ptr[i].key, q->key)) {
					msgpack_pack_object(&pk, root->ptr[i].key);
					msgpack_pack_object(&pk, root->ptr[i].val);
				}
			pack_key(&pk, q->key);
			pack_value(&io, q, field_at(&io, q, NULL));
		}
		msgpack_unpacked_destroy(&u);
		off += n;
	}
	free(buf);
	if (!rc && off != len)
		rc = bad(&c, "more models in the file than were calibrated");
	if (rc) {
		facet_atomic_abort(&a);
		return -1;
	}
	if (facet_atomic_commit(&a)) {
		snprintf(err, errlen, "cannot write %s: %s", out, strerror(errno));
		return -1;
	}
	return 0;
}
