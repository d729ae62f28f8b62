/*
 * The model file and checkpoints: one MessagePack map (facet-model(5)), written atomically.
 *
 *   format "facet-model", version 1, kind "model" | "checkpoint"
 *   config    the network config with every default filled in (it rebuilds the net)
 *   input     {width, height, channels, normalise, mean [C], std [C]}: how input is prepared
 *   age       {mean, std}: the age head predicts (age - mean) / std
 *   layers    one line per layer, for people ("trunk.0 conv 1x48x48 -> 64x46x46")
 *   params    {name: tensor <f4}: every weight and batch-norm statistic
 *   train     {seed, epochs, epochs_done, samples, val_samples, best_epoch, time_s, history [...]}
 *   int8      (facet-quantize only) {samples, method, input, ranges {"trunk.K": range}}
 *   checkpoint (checkpoints only) {step, t, plateau_lr, plateau_best, plateau_bad, best,
 *             bad_epochs, stopped, sums [8], data_sum, adam_m {..}, adam_v {..}, best_params {..}}
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <string.h>
#include "nn/nn.h"
#include "nn/quant.h"

static const char *const norm_names[] = {"unit", "center", "dataset"};

static int file_write(void *data, const char *buf, size_t len)
{
	return len == 0 || fwrite(buf, 1, len, (FILE *)data) == len ? 0 : -1;
}

static void pack_key(msgpack_packer *pk, const char *k)
{
	facet_pack_str(pk, k);
}

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

/* which: 0 data, 1 m, 2 v, 3 best */
static void pack_params(msgpack_packer *pk, const facet_net *net, const facet_train_state *st,
                        int which)
{
	int n = 0;
	for (int i = 0; i < net->nparam; i++)
		n += which == 0 || which == 3 || net->param[i]->grad != NULL;
	msgpack_pack_map(pk, n);
	for (int i = 0; i < net->nparam; i++) {
		const facet_param *p = net->param[i];
		const float *src = which == 0   ? p->data
		                   : which == 1 ? p->m
		                   : which == 2 ? p->v
		                                : st->best_param[i];
		if ((which == 1 || which == 2) && !p->grad)
			continue;
		float *tmp = NULL;
		if (!src) { /* moments not allocated yet: zeros */
			tmp = xcalloc(p->n, sizeof(float));
			src = tmp;
		}
		pack_key(pk, p->name);
		pack_f32(pk, src, p);
		free(tmp);
	}
}

static void pack_metrics(msgpack_packer *pk, const facet_net *net, const facet_metrics *m)
{
	const char *keys[4] = {"loss", "age_mae", "gender_acc", "ethnicity_acc"};
	double v[4] = {m->loss, m->age_mae, m->gender_acc, m->ethnicity_acc};
	int have[4] = {1, net->head[FACET_HEAD_AGE].present, net->head[FACET_HEAD_GENDER].present,
	               net->head[FACET_HEAD_ETHNICITY].present};
	int n = 0;
	for (int i = 0; i < 4; i++)
		n += have[i] && isfinite(v[i]);
	msgpack_pack_map(pk, n);
	for (int i = 0; i < 4; i++)
		if (have[i] && isfinite(v[i])) {
			pack_key(pk, keys[i]);
			msgpack_pack_double(pk, v[i]);
		}
}

void facet_epoch_log_pack(msgpack_packer *pk, const facet_net *net, const facet_epoch_log *e)
{
	msgpack_pack_map(pk, e->has_val ? 6 : 5);
	pack_key(pk, "epoch");
	msgpack_pack_int(pk, e->epoch);
	pack_key(pk, "lr");
	msgpack_pack_double(pk, e->lr);
	pack_key(pk, "time_s");
	msgpack_pack_double(pk, e->time_s);
	pack_key(pk, "images_per_s");
	msgpack_pack_double(pk, e->images_per_s);
	pack_key(pk, "train");
	pack_metrics(pk, net, &e->train);
	if (e->has_val) {
		pack_key(pk, "val");
		pack_metrics(pk, net, &e->val);
	}
}

static void pack_layers(msgpack_packer *pk, const char *owner, const facet_layer *l, int n)
{
	for (int i = 0; i < n; i++) {
		char line[128];
		snprintf(line, sizeof line, "%s.%d %s %dx%dx%d -> %dx%dx%d", owner, i,
		         l[i].ops->name, l[i].ic, l[i].ih, l[i].iw, l[i].oc, l[i].oh, l[i].ow);
		facet_pack_str(pk, line);
	}
}

static void pack_model(msgpack_packer *pk, const facet_net *net, const facet_train_state *st,
                       int ck)
{
	msgpack_pack_map(pk, ck ? 11 : 10);
	pack_key(pk, "format");
	facet_pack_str(pk, FACET_MODEL_FORMAT);
	pack_key(pk, "version");
	msgpack_pack_int(pk, FACET_MODEL_VERSION);
	pack_key(pk, "kind");
	facet_pack_str(pk, ck ? "checkpoint" : "model");
	pack_key(pk, "facet");
	facet_pack_str(pk, FACET_VERSION);

	char *cfg = facet_net_config_string(net);
	pack_key(pk, "config");
	facet_pack_str(pk, cfg);
	free(cfg);

	const facet_input_cfg *in = &net->input;
	pack_key(pk, "input");
	msgpack_pack_map(pk, 6);
	pack_key(pk, "width");
	msgpack_pack_int(pk, in->width);
	pack_key(pk, "height");
	msgpack_pack_int(pk, in->height);
	pack_key(pk, "channels");
	msgpack_pack_int(pk, in->channels);
	pack_key(pk, "normalise");
	facet_pack_str(pk, norm_names[in->norm]);
	pack_key(pk, "mean");
	msgpack_pack_array(pk, in->channels);
	for (int c = 0; c < in->channels; c++)
		msgpack_pack_float(pk, in->mean[c]);
	pack_key(pk, "std");
	msgpack_pack_array(pk, in->channels);
	for (int c = 0; c < in->channels; c++)
		msgpack_pack_float(pk, in->std[c]);

	pack_key(pk, "age_scale");
	msgpack_pack_map(pk, 2);
	pack_key(pk, "mean");
	msgpack_pack_float(pk, net->age_mean);
	pack_key(pk, "std");
	msgpack_pack_float(pk, net->age_std);

	int nl = net->ntrunk;
	for (int h = 0; h < FACET_HEADS; h++)
		nl += net->head[h].present ? net->head[h].nlayer : 0;
	pack_key(pk, "layers");
	msgpack_pack_array(pk, nl);
	pack_layers(pk, "trunk", net->trunk, net->ntrunk);
	for (int h = 0; h < FACET_HEADS; h++)
		if (net->head[h].present)
			pack_layers(pk, facet_head_names[h], net->head[h].layer,
			            net->head[h].nlayer);

	pack_key(pk, "params");
	pack_params(pk, net, st, 0);

	pack_key(pk, "train");
	facet_train_state empty;
	facet_train_state_init(&empty);
	const facet_train_state *s = st ? st : &empty;
	msgpack_pack_map(pk, 8);
	pack_key(pk, "seed");
	msgpack_pack_uint64(pk, s->seed);
	pack_key(pk, "epochs");
	msgpack_pack_int(pk, s->epochs);
	pack_key(pk, "epochs_done");
	msgpack_pack_int(pk, s->epoch);
	pack_key(pk, "samples");
	msgpack_pack_uint64(pk, s->samples);
	pack_key(pk, "val_samples");
	msgpack_pack_uint64(pk, s->val_samples);
	pack_key(pk, "best_epoch");
	msgpack_pack_int(pk, s->best_epoch);
	pack_key(pk, "time_s");
	msgpack_pack_double(pk, s->time_s);
	pack_key(pk, "history");
	msgpack_pack_array(pk, s->nlog);
	for (int i = 0; i < s->nlog; i++)
		facet_epoch_log_pack(pk, net, &s->log[i]);
	if (!ck)
		return;

	pack_key(pk, "checkpoint");
	msgpack_pack_map(pk, 13);
	pack_key(pk, "step");
	msgpack_pack_int(pk, st->step);
	pack_key(pk, "t");
	msgpack_pack_int64(pk, st->t);
	pack_key(pk, "plateau_lr");
	msgpack_pack_float(pk, st->plateau_lr);
	pack_key(pk, "plateau_best");
	msgpack_pack_double(pk, st->plateau_best);
	pack_key(pk, "plateau_bad");
	msgpack_pack_int(pk, st->plateau_bad);
	pack_key(pk, "best");
	msgpack_pack_double(pk, st->best);
	pack_key(pk, "bad_epochs");
	msgpack_pack_int(pk, st->bad_epochs);
	pack_key(pk, "stopped");
	msgpack_pack_int(pk, st->stopped);
	const facet_metric_sums *m = &st->sums;
	double sums[8] = {m->loss_sum, m->batches, m->ae_sum, m->age_n,
	                  m->g_ok,     m->g_n,     m->e_ok,   m->e_n};
	pack_key(pk, "sums");
	msgpack_pack_array(pk, 8);
	for (int i = 0; i < 8; i++)
		msgpack_pack_double(pk, sums[i]);
	pack_key(pk, "data_sum");
	msgpack_pack_uint64(pk, st->data_sum);
	pack_key(pk, "adam_m");
	pack_params(pk, net, st, 1);
	pack_key(pk, "adam_v");
	pack_params(pk, net, st, 2);
	pack_key(pk, "best_params");
	if (st->best_param)
		pack_params(pk, net, st, 3);
	else
		msgpack_pack_nil(pk);
}

int facet_model_save(const facet_net *net, const facet_train_state *st, int checkpoint,
                     const char *path, char *err, size_t errlen)
{
	facet_atomic a;
	if (net->folded) { /* its weights hold the batch norms: not the trained net */
		snprintf(err, errlen, "a net folded for inference cannot be saved (%s)", path);
		return -1;
	}
	if (facet_atomic_open(&a, path)) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	msgpack_packer pk;
	msgpack_packer_init(&pk, a.f, file_write);
	pack_model(&pk, net, st, checkpoint && st);
	if (facet_atomic_commit(&a)) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- loading */

typedef struct {
	const char *path;
	char *err;
	size_t errlen;
} load_ctx;

/* c->err = "what (where)": where is the file, and from its second model on which model. */
static int bad(load_ctx *c, const char *what)
{
	snprintf(c->err, c->errlen, "%s (%s)", what, c->path);
	return -1;
}

static int getnum(load_ctx *c, const msgpack_object *map, const char *key, double *v)
{
	if (!facet_msgpack_number(facet_msgpack_get(map, key), v)) {
		char msg[96];
		snprintf(msg, sizeof msg, "model file lacks the number '%s'", key);
		return bad(c, msg);
	}
	return 0;
}

/* The number under key in map m, or NAN where there is none (a metric the epoch did not have). */
static double number_or_nan(const msgpack_object *m, const char *key)
{
	double v;
	return facet_msgpack_number(facet_msgpack_get(m, key), &v) ? v : NAN;
}

/* A whole number in lo..hi under key (casts of anything else are undefined behaviour). */
static int getint(load_ctx *c, const msgpack_object *map, const char *key, double lo, double hi,
                  double *v)
{
	if (getnum(c, map, key, v))
		return -1;
	if (!(*v >= lo && *v <= hi) || *v != floor(*v)) {
		char msg[128];
		snprintf(msg, sizeof msg, "model file's '%s' is not a whole number in %.0f..%.0f",
		         key, lo, hi);
		return bad(c, msg);
	}
	return 0;
}

/* Fill dst[i] (for trainable-only when which is 1 or 2) from a {name: tensor} map. */
static int load_params(load_ctx *c, facet_net *net, const msgpack_object *map, int which,
                       float **dst)
{
	if (!map || map->type != MSGPACK_OBJECT_MAP)
		return bad(c, "model file lacks its parameter map");
	for (int i = 0; i < net->nparam; i++) {
		facet_param *p = net->param[i];
		if ((which == 1 || which == 2) && !p->grad)
			continue;
		char msg[160];
		const msgpack_object *o = facet_msgpack_get(map, p->name);
		facet_tensor t;
		const char *why;
		if (!o) {
			snprintf(msg, sizeof msg, "parameter '%s' is missing", p->name);
			return bad(c, msg);
		}
		if ((why = facet_unpack_tensor(o, &t))) {
			snprintf(msg, sizeof msg, "parameter '%s': %s", p->name, why);
			return bad(c, msg);
		}
		int same = t.dtype == FACET_F32 && t.ndim == p->ndim;
		for (int d = 0; same && d < t.ndim; d++)
			same = t.shape[d] == p->shape[d];
		if (!same) {
			snprintf(msg, sizeof msg,
			         "parameter '%s' does not have the shape the config gives",
			         p->name);
			return bad(c, msg);
		}
		memcpy(dst[i], t.data, t.nbytes);
	}
	return 0;
}

static int load_history(load_ctx *c, const facet_net *net, const msgpack_object *arr,
                        facet_train_state *st)
{
	(void)net;
	if (!arr || arr->type != MSGPACK_OBJECT_ARRAY)
		return bad(c, "model file lacks the training history");
	for (uint32_t i = 0; i < arr->via.array.size; i++) {
		const msgpack_object *e = &arr->via.array.ptr[i];
		facet_epoch_log lg;
		memset(&lg, 0, sizeof lg);
		double ep;
		if (getint(c, e, "epoch", 0, INT_MAX, &ep) || getnum(c, e, "lr", &lg.lr) ||
		    getnum(c, e, "time_s", &lg.time_s) ||
		    getnum(c, e, "images_per_s", &lg.images_per_s))
			return -1;
		lg.epoch = (int)ep;
		for (int s = 0; s < 2; s++) {
			const msgpack_object *m = facet_msgpack_get(e, s ? "val" : "train");
			facet_metrics *fm = s ? &lg.val : &lg.train;
			if (s)
				lg.has_val = m != NULL;
			fm->loss = number_or_nan(m, "loss");
			fm->age_mae = number_or_nan(m, "age_mae");
			fm->gender_acc = number_or_nan(m, "gender_acc");
			fm->ethnicity_acc = number_or_nan(m, "ethnicity_acc");
		}
		facet_train_state_log(st, &lg);
	}
	return 0;
}

static int load_state(load_ctx *c, facet_net *net, const msgpack_object *root,
                      facet_train_state *st)
{
	const msgpack_object *tr = facet_msgpack_get(root, "train"),
	                     *ck = facet_msgpack_get(root, "checkpoint");
	double v;
	if (!tr || tr->type != MSGPACK_OBJECT_MAP)
		return bad(c, "model file lacks its 'train' map");
	if (getnum(c, tr, "seed", &v))
		return -1;
	const msgpack_object *seed = facet_msgpack_get(tr, "seed");
	st->seed = seed->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? seed->via.u64 : 0;
	if (getint(c, tr, "epochs", 0, INT_MAX, &v))
		return -1;
	st->epochs = (int)v;
	if (getint(c, tr, "epochs_done", 0, INT_MAX, &v))
		return -1;
	st->epoch = (int)v;
	if (getint(c, tr, "samples", 0, 1e15, &v))
		return -1;
	st->samples = (size_t)v;
	if (getint(c, tr, "val_samples", 0, 1e15, &v))
		return -1;
	st->val_samples = (size_t)v;
	if (getint(c, tr, "best_epoch", -1, INT_MAX, &v))
		return -1;
	st->best_epoch = (int)v;
	if (getnum(c, tr, "time_s", &st->time_s))
		return -1;
	if (load_history(c, net, facet_msgpack_get(tr, "history"), st))
		return -1;
	if (!ck) {
		st->epochs = 0; /* a plain model: nothing to resume */
		return 0;
	}
	if (getint(c, ck, "step", 0, INT_MAX, &v))
		return -1;
	st->step = (int)v;
	if (getint(c, ck, "t", 0, 9e15, &v))
		return -1;
	st->t = (int64_t)v;
	if (getnum(c, ck, "plateau_lr", &v))
		return -1;
	st->plateau_lr = (float)v;
	if (getnum(c, ck, "plateau_best", &st->plateau_best) || getnum(c, ck, "best", &st->best))
		return -1;
	if (getint(c, ck, "plateau_bad", 0, INT_MAX, &v))
		return -1;
	st->plateau_bad = (int)v;
	if (getint(c, ck, "bad_epochs", 0, INT_MAX, &v))
		return -1;
	st->bad_epochs = (int)v;
	if (getint(c, ck, "stopped", 0, 1, &v))
		return -1;
	st->stopped = (int)v;
	const msgpack_object *sums = facet_msgpack_get(ck, "sums");
	double s[8];
	if (!sums || sums->type != MSGPACK_OBJECT_ARRAY || sums->via.array.size != 8)
		return bad(c, "checkpoint lacks its running sums");
	for (int i = 0; i < 8; i++)
		if (!facet_msgpack_number(&sums->via.array.ptr[i], &s[i]))
			return bad(c, "checkpoint running sums are not numbers");
	facet_metric_sums *m = &st->sums;
	m->loss_sum = s[0];
	m->batches = s[1];
	m->ae_sum = s[2];
	m->age_n = s[3];
	m->g_ok = s[4];
	m->g_n = s[5];
	m->e_ok = s[6];
	m->e_n = s[7];
	const msgpack_object *ds = facet_msgpack_get(ck, "data_sum");
	if (!ds || ds->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return bad(c, "checkpoint lacks 'data_sum'");
	st->data_sum = ds->via.u64;

	float **dst = xcalloc(net->nparam + 1, sizeof(float *));
	int rc = 0;
	for (int w = 1; w <= 2 && !rc; w++) {
		for (int i = 0; i < net->nparam; i++) {
			facet_param *p = net->param[i];
			if (!p->grad)
				continue;
			if (!p->m) {
				p->m = xcalloc(p->n, sizeof(float));
				p->v = xcalloc(p->n, sizeof(float));
			}
			dst[i] = w == 1 ? p->m : p->v;
		}
		rc = load_params(c, net, facet_msgpack_get(ck, w == 1 ? "adam_m" : "adam_v"), w,
		                 dst);
	}
	free(dst);
	if (rc)
		return -1;
	const msgpack_object *best = facet_msgpack_get(ck, "best_params");
	if (best && best->type == MSGPACK_OBJECT_MAP) {
		facet_train_state_keep_best(st, net); /* allocates */
		if (load_params(c, net, best, 3, st->best_param))
			return -1;
	}
	return 0;
}

static int load_input(load_ctx *c, facet_net *net, const msgpack_object *root)
{
	const msgpack_object *in = facet_msgpack_get(root, "input"),
	                     *age = facet_msgpack_get(root, "age_scale");
	if (!age) /* files written before 0.1.0 was tagged called it "age" */
		age = facet_msgpack_get(root, "age");
	const msgpack_object *mean = facet_msgpack_get(in, "mean"),
	                     *sd = facet_msgpack_get(in, "std");
	int C = net->input.channels;
	if (!mean || !sd || mean->type != MSGPACK_OBJECT_ARRAY ||
	    sd->type != MSGPACK_OBJECT_ARRAY || (int)mean->via.array.size != C ||
	    (int)sd->via.array.size != C)
		return bad(c, "model file lacks the input normalisation");
	for (int i = 0; i < C; i++) {
		double m, s;
		if (!facet_msgpack_number(&mean->via.array.ptr[i], &m) ||
		    !facet_msgpack_number(&sd->via.array.ptr[i], &s) || !(s > 0))
			return bad(c, "model file has a bad input normalisation");
		net->input.mean[i] = (float)m;
		net->input.std[i] = (float)s;
	}
	double am, as;
	if (getnum(c, age, "mean", &am) || getnum(c, age, "std", &as))
		return -1;
	if (!(as > 0))
		return bad(c, "model file has a bad age scaling");
	net->age_mean = (float)am;
	net->age_std = (float)as;
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

/* The int8 calibration facet-quantize adds, when the file has one: every range names a
 * convolution of the trunk. */
static int load_int8(load_ctx *c, facet_net *net, const msgpack_object *q)
{
	double v;
	if (!q)
		return 0;
	if (q->type != MSGPACK_OBJECT_MAP)
		return bad(c, "model file's 'int8' is not a map");
	if (getint(c, q, "samples", 1, 1e9, &v))
		return -1;
	net->q8_samples = (int)v;
	if (get_range(c, facet_msgpack_get(q, "input"), "input", &net->q8_input))
		return -1;
	const msgpack_object *r = facet_msgpack_get(q, "ranges");
	if (!r || r->type != MSGPACK_OBJECT_MAP)
		return bad(c, "model file's 'int8' lacks its 'ranges' map");
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
			return bad(c, msg);
		}
		if (get_range(c, &r->via.map.ptr[i].val, name, &net->trunk[idx].q8_range))
			return -1;
	}
	return 0;
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
	msgpack_unpacked_init(&u);
	size_t off = 0;
	facet_net *net = NULL;
	if (msgpack_unpack_next(&u, (const char *)buf, n, &off) != MSGPACK_UNPACK_SUCCESS) {
		bad(c, "not a facet model file (bad MessagePack)");
		goto out;
	}
	const msgpack_object *root = &u.data, *o;
	o = facet_msgpack_get(root, "format");
	if (!o || !facet_key_eq(o, FACET_MODEL_FORMAT)) {
		bad(c, "not a facet model file (no format \"" FACET_MODEL_FORMAT "\")");
		goto out;
	}
	double ver = 0;
	if (!facet_msgpack_number(facet_msgpack_get(root, "version"), &ver) ||
	    ver != FACET_MODEL_VERSION) {
		char msg[128];
		snprintf(msg, sizeof msg,
		         "model file format version %g; this facet reads version %d", ver,
		         FACET_MODEL_VERSION);
		bad(c, msg);
		goto out;
	}
	o = facet_msgpack_get(root, "config");
	if (!o || o->type != MSGPACK_OBJECT_STR) {
		bad(c, "model file lacks its config");
		goto out;
	}
	char *text = xmalloc(o->via.str.size + 1);
	memcpy(text, o->via.str.ptr, o->via.str.size);
	text[o->via.str.size] = 0;
	char cname[600]; /* the config's errors say "what (FILE, config, line N)" */
	snprintf(cname, sizeof cname, "%s, config", c->path);
	net = facet_net_parse(text, cname, c->err, c->errlen);
	free(text);
	if (!net)
		goto out;
	float **dst = xcalloc(net->nparam + 1, sizeof(float *));
	for (int i = 0; i < net->nparam; i++)
		dst[i] = net->param[i]->data;
	int rc = load_input(c, net, root) ||
	         load_params(c, net, facet_msgpack_get(root, "params"), 0, dst) ||
	         load_int8(c, net, facet_msgpack_get(root, "int8"));
	free(dst);
	if (!rc && st) {
		facet_train_state_init(st);
		rc = load_state(c, net, root, st);
	}
	if (rc) {
		facet_net_free(net);
		net = NULL;
	}
out:
	msgpack_unpacked_destroy(&u);
	return net;
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

static void pack_int8(msgpack_packer *pk, const facet_net *net)
{
	int n = 0;
	for (int i = 0; i < net->ntrunk; i++)
		n += net->trunk[i].q8_range > 0;
	msgpack_pack_map(pk, 4);
	pack_key(pk, "samples");
	msgpack_pack_int(pk, net->q8_samples);
	pack_key(pk, "method");
	facet_pack_str(pk, "histogram, least squared error");
	pack_key(pk, "input");
	msgpack_pack_float(pk, net->q8_input);
	pack_key(pk, "ranges");
	msgpack_pack_map(pk, n);
	for (int i = 0; i < net->ntrunk; i++)
		if (net->trunk[i].q8_range > 0) {
			char name[32];
			snprintf(name, sizeof name, "trunk.%d", i);
			pack_key(pk, name);
			msgpack_pack_float(pk, net->trunk[i].q8_range);
		}
}

int facet_model_save_int8(const char *in, facet_net *const *nets, int count, const char *out,
                          char *err, size_t errlen)
{
	size_t len, off = 0;
	unsigned char *buf = read_all(in, &len, err, errlen);
	load_ctx c = {in, err, errlen};
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
			uint32_t keep = 0;
			for (uint32_t i = 0; i < root->size; i++)
				keep += !facet_key_eq(&root->ptr[i].key, "int8");
			msgpack_pack_map(&pk, keep + 1);
			for (uint32_t i = 0; i < root->size; i++)
				if (!facet_key_eq(&root->ptr[i].key, "int8")) {
					msgpack_pack_object(&pk, root->ptr[i].key);
					msgpack_pack_object(&pk, root->ptr[i].val);
				}
			pack_key(&pk, "int8");
			pack_int8(&pk, nets[m]);
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
