/*
 * The network config: a small INI-like text, documented in facet-config(5).
 *
 *   # comment                          ; comment
 *   [input] width=48 height=48 channels=1 normalise=unit
 *   [conv] filters=64 size=3 pad=valid activation=relu
 *   [head age] loss=mse weight=1
 *   [dense] units=1
 *
 * A section starts at its [name] and holds key=value pairs, on the same line or the next ones.
 * Layer sections belong to the trunk until the first [head NAME], then to the latest head. Every
 * section kind has a table of keys with defaults; an unknown section, key or value is an error
 * naming the line. facet_net_write_config prints the same tables back with the defaults filled in.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <string.h>
#include "nn/nn.h"

/* K_OPT: a float written out only when it is not 0, for keys added after models were shipped,
 * so that configs and models without them read and write as they did. */
enum { K_INT, K_FLOAT, K_ENUM, K_BOOL, K_OPT };

typedef struct {
	const char *key;
	int type;
	size_t off;
	const char *def; /* NULL: required */
	double min, max;
	const char *const *names; /* K_ENUM */
} cfg_key;

static const char *const norm_names[] = {"unit", "center", "dataset", NULL};
static const char *const opt_names[] = {"adam", "adamw", NULL};
static const char *const sched_names[] = {"none", "step", "cosine", "plateau", NULL};
static const char *const pad_names[] = {"valid", "same", NULL};
static const char *const act_names[] = {"linear", "relu", "sigmoid", "softmax", NULL};

#define IN(f) offsetof(facet_input_cfg, f)
static const cfg_key input_keys[] = {{"width", K_INT, IN(width), "48", 1, 4096, NULL},
                                     {"height", K_INT, IN(height), "48", 1, 4096, NULL},
                                     {"channels", K_INT, IN(channels), "1", 1, 3, NULL},
                                     {"normalise", K_ENUM, IN(norm), "unit", 0, 0, norm_names},
                                     {NULL, 0, 0, NULL, 0, 0, NULL}};

#define TR(f) offsetof(facet_train_cfg, f)
static const cfg_key train_keys[] = {
    {"optimizer", K_ENUM, TR(optimizer), "adam", 0, 0, opt_names},
    {"lr", K_FLOAT, TR(lr), "0.001", 0, 1e30, NULL},
    {"beta1", K_FLOAT, TR(beta1), "0.9", 0, 0.999999, NULL},
    {"beta2", K_FLOAT, TR(beta2), "0.999", 0, 0.999999, NULL},
    {"eps", K_FLOAT, TR(eps), "1e-07", 1e-30, 1, NULL},
    {"weight_decay", K_FLOAT, TR(weight_decay), "0", 0, 1, NULL},
    {"l2", K_FLOAT, TR(l2), "0", 0, 1, NULL},
    {"batch", K_INT, TR(batch), "64", 1, 65536, NULL},
    {"epochs", K_INT, TR(epochs), "30", 1, 1000000, NULL},
    {"schedule", K_ENUM, TR(schedule), "none", 0, 0, sched_names},
    {"step_size", K_INT, TR(step_size), "10", 1, 1000000, NULL},
    {"gamma", K_FLOAT, TR(gamma), "0.1", 0, 1, NULL},
    {"min_lr", K_FLOAT, TR(min_lr), "0", 0, 1e30, NULL},
    {"plateau_patience", K_INT, TR(plateau_patience), "3", 1, 1000000, NULL},
    {"plateau_factor", K_FLOAT, TR(plateau_factor), "0.5", 0, 1, NULL},
    {"patience", K_INT, TR(patience), "0", 0, 1000000, NULL},
    {"restore_best", K_BOOL, TR(restore_best), "1", 0, 1, NULL},
    {"flip", K_BOOL, TR(flip), "0", 0, 1, NULL},
    {"shift", K_INT, TR(shift), "0", 0, 64, NULL},
    {"brightness", K_FLOAT, TR(brightness), "0", 0, 1, NULL},
    {"contrast", K_FLOAT, TR(contrast), "0", 0, 1, NULL},
    {"rotate", K_OPT, TR(rotate), "0", 0, 180, NULL},
    {"scale", K_OPT, TR(scale), "0", 0, 0.9, NULL},
    {"checkpoint_steps", K_INT, TR(checkpoint_steps), "0", 0, 1000000000, NULL},
    {NULL, 0, 0, NULL, 0, 0, NULL}};

#define HD(f) offsetof(facet_head, f)
static const cfg_key head_keys[] = {{"loss", K_ENUM, HD(loss), "", 0, 0, facet_loss_names},
                                    {"weight", K_FLOAT, HD(weight), "1", 0, 1e6, NULL},
                                    {"smoothing", K_FLOAT, HD(smoothing), "0", 0, 0.99, NULL},
                                    {"sigma", K_FLOAT, HD(sigma), "2", 0.1, 100, NULL},
                                    {"l1", K_FLOAT, HD(l1), "1", 0, 1e6, NULL},
                                    {"distill", K_OPT, HD(distill), "0", 0, 1, NULL},
                                    {NULL, 0, 0, NULL, 0, 0, NULL}};
/* Which head_keys a head's loss takes, as bits of their index: loss and weight always,
 * smoothing and distill with bce and ce, sigma and l1 with dldl. */
enum { HEAD_ANY = 3u, HEAD_SMOOTHING = 1u << 2, HEAD_DLDL = 3u << 3, HEAD_DISTILL = 1u << 5 };

static unsigned head_key_mask(facet_loss_kind loss)
{
	return HEAD_ANY |
	       (loss == FACET_LOSS_BCE || loss == FACET_LOSS_CE ? HEAD_SMOOTHING | HEAD_DISTILL
	                                                        : 0) |
	       (loss == FACET_LOSS_DLDL ? HEAD_DLDL : 0);
}

#define LY(f) offsetof(facet_layer, f)
static const cfg_key conv_keys[] = {{"filters", K_INT, LY(filters), NULL, 1, 65536, NULL},
                                    {"size", K_INT, LY(size), "3", 1, 64, NULL},
                                    {"stride", K_INT, LY(stride), "1", 1, 64, NULL},
                                    {"pad", K_ENUM, LY(pad), "same", 0, 0, pad_names},
                                    {"activation", K_ENUM, LY(act), "linear", 0, 0, act_names},
                                    {NULL, 0, 0, NULL, 0, 0, NULL}};
static const cfg_key maxpool_keys[] = {{"size", K_INT, LY(size), "2", 1, 64, NULL},
                                       {"stride", K_INT, LY(stride), "2", 1, 64, NULL},
                                       {NULL, 0, 0, NULL, 0, 0, NULL}};
static const cfg_key bn_keys[] = {{"eps", K_FLOAT, LY(eps), "0.001", 1e-12, 1, NULL},
                                  {"momentum", K_FLOAT, LY(momentum), "0.99", 0, 0.999999, NULL},
                                  {NULL, 0, 0, NULL, 0, 0, NULL}};
static const cfg_key dense_keys[] = {{"units", K_INT, LY(units), NULL, 1, 1 << 20, NULL},
                                     {"activation", K_ENUM, LY(act), "linear", 0, 0, act_names},
                                     {NULL, 0, 0, NULL, 0, 0, NULL}};
static const cfg_key dropout_keys[] = {{"rate", K_FLOAT, LY(rate), "0.5", 0, 0.99, NULL},
                                       {NULL, 0, 0, NULL, 0, 0, NULL}};
static const cfg_key no_keys[] = {{NULL, 0, 0, NULL, 0, 0, NULL}};

static const cfg_key *const layer_keys[FACET_LAYER_KINDS] = {
    conv_keys, maxpool_keys, bn_keys, dense_keys, dropout_keys, no_keys, no_keys, no_keys};

const facet_layer_ops *facet_layer_ops_of(facet_layer_kind k)
{
	static const facet_layer_ops *const ops[FACET_LAYER_KINDS] = {
	    &facet_conv_ops,    &facet_maxpool_ops, &facet_batchnorm_ops, &facet_dense_ops,
	    &facet_dropout_ops, &facet_relu_ops,    &facet_flatten_ops,   &facet_gap_ops};
	return ops[k];
}

/* ---------------------------------------------------------------- values */

typedef struct {
	const char *name;
	char *err;
	size_t errlen;
	int line;
} parse_ctx;

/* err = "what (name, line N)"; a long what is cut short so that the place always fits. */
static int fail(parse_ctx *p, const char *fmt, ...) FACET_PRINTF(2, 3);
static int fail(parse_ctx *p, const char *fmt, ...)
{
	char where[1100];
	size_t n = (size_t)snprintf(where, sizeof where, " (%s, line %d)", p->name, p->line);
	va_list ap;

	if (!p->errlen)
		return -1;
	if (n >= sizeof where)
		n = sizeof where - 1;
	if (p->errlen <= n)
		n = p->errlen - 1;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen - n, fmt, ap);
	va_end(ap);
	size_t at = strlen(p->err);
	snprintf(p->err + at, p->errlen - at, "%s", where);
	return -1;
}

static int set_value(parse_ctx *p, const char *sect, const cfg_key *k, void *base, const char *v)
{
	char *end;
	if (k->type == K_ENUM) {
		for (int i = 0; k->names[i]; i++)
			if (!strcmp(v, k->names[i])) {
				*(int *)((char *)base + k->off) = i;
				return 0;
			}
		char list[160] = "";
		for (int i = 0; k->names[i]; i++) {
			strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
			strncat(list, k->names[i], sizeof list - strlen(list) - 1);
		}
		return fail(p, "[%s] %s='%s': expected one of %s", sect, k->key, v, list);
	}
	if (k->type == K_BOOL) {
		int b = !strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true")   ? 1
		        : !strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "false") ? 0
		                                                                     : -1;
		if (b < 0)
			return fail(p, "[%s] %s='%s': expected 1 or 0", sect, k->key, v);
		*(int *)((char *)base + k->off) = b;
		return 0;
	}
	errno = 0;
	double d = k->type == K_INT ? (double)strtol(v, &end, 10) : strtod(v, &end);
	if (errno || end == v || *end || !isfinite(d))
		return fail(p, "[%s] %s='%s': not %s", sect, k->key, v,
		            k->type == K_INT ? "an integer" : "a number");
	if (d < k->min || d > k->max)
		return fail(p, "[%s] %s=%s: out of range %g..%g", sect, k->key, v, k->min, k->max);
	if (k->type == K_INT)
		*(int *)((char *)base + k->off) = (int)d;
	else
		*(float *)((char *)base + k->off) = (float)d;
	return 0;
}

static void set_defaults(const cfg_key *keys, void *base)
{
	parse_ctx quiet = {"", NULL, 0, 0};
	for (int i = 0; keys[i].key; i++)
		if (keys[i].def && *keys[i].def)
			set_value(&quiet, "", &keys[i], base, keys[i].def);
}

/* ---------------------------------------------------------------- sections */

enum { S_NONE, S_INPUT, S_TRAIN, S_HEAD, S_LAYER };

typedef struct {
	parse_ctx ctx;
	facet_net *net;
	int sect, seen_input, seen_train;
	const cfg_key *keys;
	void *base;
	unsigned *given;
	const char *sname;
	facet_head *cur_head; /* layers go here when set */
	int cap_trunk, cap_head[FACET_HEADS];
	size_t nscalars; /* parameter and state scalars so far */
} parser;

/* 2^28 floats: 1 GiB of weights, as much again for gradients and each Adam moment. */
#define MAX_SCALARS ((size_t)1 << 28)
/* 2^26 values (256 MiB) per face out of any one layer: a 4096x4096 RGB input fits, and the
 * per-face shape products the layers take in int (C*H*W) cannot overflow. Products with the
 * batch size are taken in long or size_t. */
#define MAX_ACTIVATIONS ((size_t)1 << 26)

static facet_layer *add_layer(parser *ps, facet_layer_kind kind)
{
	facet_layer **arr;
	int *count, *cap;
	if (ps->cur_head) {
		int h = (int)(ps->cur_head - ps->net->head);
		arr = &ps->cur_head->layer;
		count = &ps->cur_head->nlayer;
		cap = &ps->cap_head[h];
	} else {
		arr = &ps->net->trunk;
		count = &ps->net->ntrunk;
		cap = &ps->cap_trunk;
	}
	if (*count == *cap) {
		*cap = *cap ? 2 * *cap : 8;
		*arr = xrealloc(*arr, sizeof(facet_layer) * *cap);
	}
	facet_layer *l = &(*arr)[(*count)++];
	memset(l, 0, sizeof *l);
	l->kind = kind;
	l->ops = facet_layer_ops_of(kind);
	l->line = ps->ctx.line;
	set_defaults(layer_keys[kind], l);
	return l;
}

static int open_section(parser *ps, char *name)
{
	facet_net *net = ps->net;
	char *arg = name;
	while (*arg && !isspace((unsigned char)*arg))
		arg++;
	if (*arg) {
		*arg++ = 0;
		while (isspace((unsigned char)*arg))
			arg++;
	}
	if (!strcmp(name, "head")) {
		int h;
		for (h = 0; h < FACET_HEADS; h++)
			if (!strcmp(arg, facet_head_names[h]))
				break;
		if (h == FACET_HEADS)
			return fail(&ps->ctx, "[head %s]: unknown head (age, gender or ethnicity)",
			            arg);
		facet_head *hd = &net->head[h];
		if (hd->present)
			return fail(&ps->ctx, "[head %s] given twice (first at line %d)", arg,
			            hd->line);
		hd->present = 1;
		hd->line = ps->ctx.line;
		set_defaults(head_keys, hd);
		hd->loss = h == FACET_HEAD_AGE      ? FACET_LOSS_MSE
		           : h == FACET_HEAD_GENDER ? FACET_LOSS_BCE
		                                    : FACET_LOSS_CE;
		ps->cur_head = hd;
		ps->sect = S_HEAD;
		ps->keys = head_keys;
		ps->base = hd;
		ps->given = &hd->given;
		ps->sname = facet_head_names[h];
		return 0;
	}
	if (*arg)
		return fail(&ps->ctx, "[%s %s]: only [head NAME] takes a name", name, arg);
	if (!strcmp(name, "input") || !strcmp(name, "train")) {
		int is_input = name[0] == 'i';
		int *seen = is_input ? &ps->seen_input : &ps->seen_train;
		if (*seen)
			return fail(&ps->ctx, "[%s] given twice (first at line %d)", name, *seen);
		*seen = ps->ctx.line;
		ps->sect = is_input ? S_INPUT : S_TRAIN;
		ps->keys = is_input ? input_keys : train_keys;
		ps->base = is_input ? (void *)&net->input : (void *)&net->train;
		ps->given = is_input ? &net->input.given : &net->train.given;
		if (is_input)
			net->input.line = ps->ctx.line;
		else
			net->train.line = ps->ctx.line;
		ps->sname = is_input ? "input" : "train";
		return 0;
	}
	for (int k = 0; k < FACET_LAYER_KINDS; k++)
		if (!strcmp(name, facet_layer_ops_of(k)->name)) {
			facet_layer *l = add_layer(ps, k);
			ps->sect = S_LAYER;
			ps->keys = layer_keys[k];
			ps->base = l;
			ps->given = &l->given;
			ps->sname = l->ops->name;
			return 0;
		}
	return fail(
	    &ps->ctx,
	    "unknown section [%s] (input, train, conv, maxpool, batchnorm, dense, dropout, relu, flatten, gap, head NAME)",
	    name);
}

static int set_key(parser *ps, const char *key, const char *val)
{
	if (ps->sect == S_NONE)
		return fail(&ps->ctx, "'%s' outside any section", key);
	for (int i = 0; ps->keys[i].key; i++)
		if (!strcmp(key, ps->keys[i].key)) {
			if (*ps->given & (1u << i))
				return fail(&ps->ctx, "[%s] %s given twice", ps->sname, key);
			*ps->given |= 1u << i;
			return set_value(&ps->ctx, ps->sname, &ps->keys[i], ps->base, val);
		}
	char list[256] = "";
	for (int i = 0; ps->keys[i].key; i++) {
		strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
		strncat(list, ps->keys[i].key, sizeof list - strlen(list) - 1);
	}
	if (!*list)
		return fail(&ps->ctx, "unknown key '%s': [%s] takes no keys", key, ps->sname);
	return fail(&ps->ctx, "unknown key '%s' in [%s] (known: %s)", key, ps->sname, list);
}

/* Every required key of the section just closed must have been given. */
static int close_section(parser *ps, int line)
{
	if (ps->sect == S_NONE)
		return 0;
	for (int i = 0; ps->keys[i].key; i++)
		if (!ps->keys[i].def && !(*ps->given & (1u << i))) {
			int save = ps->ctx.line;
			ps->ctx.line = line;
			fail(&ps->ctx, "[%s] needs %s=", ps->sname, ps->keys[i].key);
			ps->ctx.line = save;
			return -1;
		}
	return 0;
}

/* One line: optional [section ...], then key=value pairs (spaces around '=' allowed). */
static int parse_line(parser *ps, char *s, int *sect_line)
{
	char *hash = s;
	while (*hash && *hash != '#' && *hash != ';')
		hash++;
	*hash = 0;
	while (isspace((unsigned char)*s))
		s++;
	if (*s == '[') {
		char *end = strchr(s, ']');
		if (!end)
			return fail(&ps->ctx, "missing ']'");
		*end = 0;
		if (close_section(ps, *sect_line))
			return -1;
		*sect_line = ps->ctx.line;
		if (open_section(ps, s + 1))
			return -1;
		s = end + 1;
	}
	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			return 0;
		char *key = s;
		while (*s && !isspace((unsigned char)*s) && *s != '=')
			s++;
		char *kend = s;
		while (isspace((unsigned char)*s))
			s++;
		if (*s != '=') {
			*kend = 0;
			return fail(&ps->ctx, "expected key=value, got '%s'", key);
		}
		*kend = 0;
		s++;
		while (isspace((unsigned char)*s))
			s++;
		char *val = s;
		while (*s && !isspace((unsigned char)*s))
			s++;
		if (*s)
			*s++ = 0;
		if (!*val)
			return fail(&ps->ctx, "'%s=' without a value", key);
		if (set_key(ps, key, val))
			return -1;
	}
}

/* ---------------------------------------------------------------- shapes and parameters */

static const char *const param_names[FACET_LAYER_KINDS][4] = {
    [FACET_CONV] = {"w", "b"},
    [FACET_DENSE] = {"w", "b"},
    [FACET_BATCHNORM] = {"gamma", "beta", "running_mean", "running_var"},
};

static int setup_chain(parser *ps, const char *owner, facet_layer *l, int n, int *c, int *h, int *w)
{
	facet_net *net = ps->net;
	for (int i = 0; i < n; i++) {
		l[i].ic = *c;
		l[i].ih = *h;
		l[i].iw = *w;
		ps->ctx.line = l[i].line;
		const char *msg = l[i].ops->setup(&l[i]);
		if (msg)
			return fail(&ps->ctx, "[%s] on a %dx%dx%d input: %s", l[i].ops->name, *w,
			            *h, *c, msg);
		size_t out = (size_t)l[i].oc * (size_t)l[i].oh * (size_t)l[i].ow;
		if (out > MAX_ACTIVATIONS)
			return fail(
			    &ps->ctx,
			    "[%s] on a %dx%dx%d input gives %zu values per face, past the limit of %zu",
			    l[i].ops->name, *w, *h, *c, out, MAX_ACTIVATIONS);
		int last_dense = !strcmp(owner, "trunk") ? 0 : i == n - 1;
		if ((l[i].act == FACET_ACT_SIGMOID || l[i].act == FACET_ACT_SOFTMAX) && !last_dense)
			return fail(
			    &ps->ctx,
			    "[%s] activation=%s only on a head's last [dense] (the loss applies it)",
			    l[i].ops->name, act_names[l[i].act]);
		for (int j = 0; j < l[i].nparam; j++) {
			facet_param *p = &l[i].param[j];
			snprintf(p->name, sizeof p->name, "%s.%d.%s", owner, i,
			         param_names[l[i].kind][j]);
			p->n = 1;
			for (int d = 0; d < p->ndim; d++)
				p->n *= (size_t)p->shape[d];
			if (p->n > MAX_SCALARS - ps->nscalars)
				return fail(&ps->ctx, "[%s] brings the net past %zu parameters",
				            l[i].ops->name, MAX_SCALARS);
			ps->nscalars += p->n;
			p->data = xcalloc(p->n, sizeof(float));
			if (!(l[i].kind == FACET_BATCHNORM && j >= 2))
				p->grad = xcalloc(p->n, sizeof(float));
			net->param =
			    xrealloc(net->param, sizeof(facet_param *) * (net->nparam + 1));
			net->param[net->nparam++] = p;
		}
		*c = l[i].oc;
		*h = l[i].oh;
		*w = l[i].ow;
	}
	return 0;
}

static int check_head(parser *ps, int h)
{
	facet_head *hd = &ps->net->head[h];
	int units = facet_head_units(h), dldl = hd->loss == FACET_LOSS_DLDL;
	ps->ctx.line = hd->line;
	int ok_loss = h == FACET_HEAD_AGE      ? hd->loss <= FACET_LOSS_SMOOTHL1 || dldl
	              : h == FACET_HEAD_GENDER ? hd->loss == FACET_LOSS_BCE
	                                       : hd->loss == FACET_LOSS_CE;
	if (!ok_loss)
		return fail(&ps->ctx, "[head %s] loss=%s: the %s head takes %s",
		            facet_head_names[h], facet_loss_names[hd->loss], facet_head_names[h],
		            h == FACET_HEAD_AGE      ? "mse, l1, smoothl1 or dldl"
		            : h == FACET_HEAD_GENDER ? "bce"
		                                     : "ce");
	unsigned stray = hd->given & ~head_key_mask(hd->loss);
	if (stray & HEAD_DLDL)
		return fail(&ps->ctx, "[head %s] sigma and l1 apply to loss=dldl only",
		            facet_head_names[h]);
	if (stray & (HEAD_SMOOTHING | HEAD_DISTILL))
		return fail(&ps->ctx, "[head %s] %s applies to loss=bce and loss=ce only",
		            facet_head_names[h], stray & HEAD_SMOOTHING ? "smoothing" : "distill");
	facet_layer *last = hd->nlayer ? &hd->layer[hd->nlayer - 1] : NULL;
	if (dldl) {
		/* one output per year of age, 0 .. units-1 */
		if (!last || last->kind != FACET_DENSE || last->units < 2 ||
		    last->units > FACET_LOSS_MAX_UNITS)
			return fail(
			    &ps->ctx,
			    "[head age] loss=dldl must end with [dense] units=K, one per year of age 0..K-1 (2 <= K <= %d; 117 covers UTKFace)",
			    FACET_LOSS_MAX_UNITS);
	} else if (!last || last->kind != FACET_DENSE || last->units != units)
		return fail(&ps->ctx, "[head %s] must end with [dense] units=%d",
		            facet_head_names[h], units);
	int link = dldl                     ? FACET_ACT_SOFTMAX
	           : h == FACET_HEAD_AGE    ? FACET_ACT_LINEAR
	           : h == FACET_HEAD_GENDER ? FACET_ACT_SIGMOID
	                                    : FACET_ACT_SOFTMAX;
	if (last->act != FACET_ACT_LINEAR && last->act != link) {
		ps->ctx.line = last->line;
		return fail(&ps->ctx, "[dense] activation=%s cannot end [head %s] (use %s)",
		            act_names[last->act], facet_head_names[h], act_names[link]);
	}
	return 0;
}

static int build(parser *ps)
{
	facet_net *net = ps->net;
	int any = 0;
	for (int h = 0; h < FACET_HEADS; h++)
		any |= net->head[h].present;
	if (!any) {
		ps->ctx.line = 1;
		return fail(&ps->ctx, "no [head age], [head gender] or [head ethnicity] section");
	}
	if (net->input.channels == 2) {
		ps->ctx.line = net->input.line;
		return fail(&ps->ctx, "[input] channels must be 1 or 3");
	}
	int c = net->input.channels, h = net->input.height, w = net->input.width;
	if (setup_chain(ps, "trunk", net->trunk, net->ntrunk, &c, &h, &w))
		return -1;
	for (int k = 0; k < FACET_HEADS; k++) {
		facet_head *hd = &net->head[k];
		if (!hd->present)
			continue;
		int hc = c, hh = h, hw = w;
		if (check_head(ps, k) ||
		    setup_chain(ps, facet_head_names[k], hd->layer, hd->nlayer, &hc, &hh, &hw))
			return -1;
	}
	return 0;
}

facet_net *facet_net_parse(const char *text, const char *name, char *err, size_t errlen)
{
	parser ps;
	memset(&ps, 0, sizeof ps);
	ps.ctx.name = name;
	ps.ctx.err = err;
	ps.ctx.errlen = errlen;
	facet_net *net = xcalloc(1, sizeof *net);
	ps.net = net;
	set_defaults(input_keys, &net->input);
	set_defaults(train_keys, &net->train);
	for (int c = 0; c < 3; c++) {
		net->input.mean[c] = 0;
		net->input.std[c] = 1;
	}
	net->age_mean = 0;
	net->age_std = 1;
	char *copy = xstrdup(text), *s = copy;
	int sect_line = 0, rc = 0;
	while (s && !rc) {
		char *nl = strchr(s, '\n');
		if (nl)
			*nl = 0;
		ps.ctx.line++;
		rc = parse_line(&ps, s, &sect_line);
		s = nl ? nl + 1 : NULL;
	}
	free(copy);
	if (!rc)
		rc = close_section(&ps, sect_line);
	if (!rc)
		rc = build(&ps);
	if (rc) {
		facet_net_free(net);
		return NULL;
	}
	if (net->input.norm == FACET_NORM_CENTER)
		for (int c = 0; c < 3; c++) {
			net->input.mean[c] = 0.5f;
			net->input.std[c] = 0.5f;
		}
	return net;
}

facet_net *facet_net_load_config(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return NULL;
	}
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap);
	size_t got;
	while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += got;
		if (cap - len - 1 == 0) {
			if (cap > (1u << 24)) {
				snprintf(err, errlen, "larger than 16 MiB: not a config (%s)",
				         path);
				fclose(f);
				free(buf);
				return NULL;
			}
			cap *= 2;
			buf = xrealloc(buf, cap);
		}
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		snprintf(err, errlen, "read error (%s)", path);
		free(buf);
		return NULL;
	}
	buf[len] = 0;
	if (strlen(buf) != len) {
		snprintf(err, errlen, "contains a NUL byte: not a config (%s)", path);
		free(buf);
		return NULL;
	}
	facet_net *net = facet_net_parse(buf, path, err, errlen);
	free(buf);
	return net;
}

/* ---------------------------------------------------------------- echo */

static void write_value(FILE *f, const cfg_key *k, const void *base)
{
	const char *p = (const char *)base + k->off;
	switch (k->type) {
	case K_INT:
	case K_BOOL:
		fprintf(f, "%s=%d", k->key, *(const int *)p);
		break;
	case K_FLOAT:
	case K_OPT: {
		/* whole numbers as such (rotate=20, not 2e+01), else the shortest text that reads
		 * back as the same float */
		float v = *(const float *)p;
		char num[32];
		if (v == truncf(v) && fabsf(v) < 1e9f)
			snprintf(num, sizeof num, "%.0f", v);
		else
			for (int prec = 1; prec <= 9; prec++) {
				snprintf(num, sizeof num, "%.*g", prec, v);
				if (strtof(num, NULL) == v)
					break;
			}
		fprintf(f, "%s=%s", k->key, num);
		break;
	}
	case K_ENUM:
		fprintf(f, "%s=%s", k->key, k->names[*(const int *)p]);
		break;
	}
}

/* Whether key k of a section is written: its bit is in mask, and a K_OPT key is not 0. */
static int written(const cfg_key *k, int i, unsigned mask, const void *base)
{
	return (mask & (1u << i)) &&
	       (k->type != K_OPT || *(const float *)((const char *)base + k->off) != 0);
}

/* The keys of a section that are written, all of them (defaults_only: those not given). */
static void write_section(FILE *f, const char *title, int line, const cfg_key *keys, unsigned mask,
                          const void *base, unsigned given, int defaults_only)
{
	if (defaults_only) {
		int any = 0;
		for (int i = 0; keys[i].key; i++)
			if (written(&keys[i], i, mask, base) && !(given & (1u << i))) {
				if (!any++) {
					if (line)
						fprintf(f, "line %d ", line);
					fprintf(f, "%s defaults:", title);
				}
				fputc(' ', f);
				write_value(f, &keys[i], base);
			}
		if (any)
			fputc('\n', f);
		return;
	}
	fputs(title, f);
	for (int i = 0; keys[i].key; i++)
		if (written(&keys[i], i, mask, base)) {
			fputc(' ', f);
			write_value(f, &keys[i], base);
		}
	fputc('\n', f);
}

static void write_layers(FILE *f, const facet_layer *l, int n, int defaults_only)
{
	for (int i = 0; i < n; i++) {
		char title[32];
		snprintf(title, sizeof title, "[%s]", l[i].ops->name);
		write_section(f, title, l[i].line, layer_keys[l[i].kind], ~0u, &l[i], l[i].given,
		              defaults_only);
	}
}

void facet_net_write_config(const facet_net *net, FILE *f, int defaults_only)
{
	write_section(f, "[input]", net->input.line, input_keys, ~0u, &net->input, net->input.given,
	              defaults_only);
	write_layers(f, net->trunk, net->ntrunk, defaults_only);
	for (int h = 0; h < FACET_HEADS; h++) {
		const facet_head *hd = &net->head[h];
		if (!hd->present)
			continue;
		char title[32];
		snprintf(title, sizeof title, "[head %s]", facet_head_names[h]);
		write_section(f, title, hd->line, head_keys, head_key_mask(hd->loss), hd, hd->given,
		              defaults_only);
		write_layers(f, hd->layer, hd->nlayer, defaults_only);
	}
	write_section(f, "[train]", net->train.line, train_keys, ~0u, &net->train, net->train.given,
	              defaults_only);
}

char *facet_net_config_string(const facet_net *net)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		die("open_memstream:");
	facet_net_write_config(net, f, 0);
	if (fclose(f))
		die("writing the config:");
	return buf;
}
