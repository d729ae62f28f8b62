/*
 * The facet stream: MessagePack maps back to back, one per sample (man/man5/facet-stream.5).
 *
 * Reading is two passes over each record's bytes: facet_msgpack_scan walks the raw bytes and checks
 * every header against the limits before anything is allocated (msgpack-c allocates a container's
 * declared count up front), then msgpack-c unpacks the validated bytes. Writing re-emits a record's
 * entries in their original order, with the staged changes applied in place.
 */
#include "facet.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------- tensors */

static const struct {
	const char *name;
	size_t size;
} dtypes[FACET_DTYPE_COUNT] = {
    [FACET_U8] = {"|u1", 1},  [FACET_I8] = {"|i1", 1},  [FACET_U16] = {"<u2", 2},
    [FACET_I16] = {"<i2", 2}, [FACET_I32] = {"<i4", 4}, [FACET_I64] = {"<i8", 8},
    [FACET_F32] = {"<f4", 4}, [FACET_F64] = {"<f8", 8},
};

const char *facet_dtype_name(facet_dtype t)
{
	return (unsigned)t < FACET_DTYPE_COUNT ? dtypes[t].name : "?";
}

size_t facet_dtype_size(facet_dtype t)
{
	return (unsigned)t < FACET_DTYPE_COUNT ? dtypes[t].size : 0;
}

int facet_dtype_parse(const char *s, size_t n, facet_dtype *out)
{
	for (int i = 0; i < FACET_DTYPE_COUNT; i++) {
		if (strlen(dtypes[i].name) == n && memcmp(dtypes[i].name, s, n) == 0) {
			*out = (facet_dtype)i;
			return 0;
		}
	}
	/* numpy writes one-byte types as "|u1" but accepts "<u1"/"u1" too */
	if (n == 3 && (s[0] == '<' || s[0] == '=') && s[2] == '1' && (s[1] == 'u' || s[1] == 'i')) {
		*out = s[1] == 'u' ? FACET_U8 : FACET_I8;
		return 0;
	}
	return -1;
}

int64_t facet_tensor_count(const facet_tensor *t)
{
	int64_t n = 1;
	for (int i = 0; i < t->ndim; i++) {
		if (t->shape[i] < 0)
			return -1;
		if (t->shape[i] == 0)
			return 0;
		if (n > FACET_MAX_TENSOR_BYTES / t->shape[i])
			return -1;
		n *= t->shape[i];
	}
	return n;
}

void facet_tensor_alloc(facet_tensor *t, facet_dtype dtype, int ndim, const int64_t *shape)
{
	int64_t n;

	memset(t, 0, sizeof *t);
	t->dtype = dtype;
	t->ndim = ndim;
	for (int i = 0; i < ndim; i++)
		t->shape[i] = shape[i];
	n = facet_tensor_count(t);
	if (n < 0 || (uint64_t)n * facet_dtype_size(dtype) > (uint64_t)FACET_MAX_TENSOR_BYTES)
		die("tensor too large (%d dims)", ndim);
	t->nbytes = (size_t)n * facet_dtype_size(dtype);
	t->owned = xcalloc(1, t->nbytes);
	t->data = t->owned;
}

void facet_tensor_free(facet_tensor *t)
{
	free(t->owned);
	t->owned = NULL;
	t->data = NULL;
}

int facet_is_image(const facet_tensor *t)
{
	return t->dtype == FACET_U8 && t->ndim == 3 && t->shape[0] >= 1 && t->shape[1] >= 1 &&
	       (t->shape[2] == 1 || t->shape[2] == 3);
}

int facet_key_eq(const msgpack_object *o, const char *s)
{
	size_t n = strlen(s);
	if (o->type == MSGPACK_OBJECT_STR)
		return o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
	if (o->type == MSGPACK_OBJECT_BIN)
		return o->via.bin.size == n && memcmp(o->via.bin.ptr, s, n) == 0;
	return 0;
}

const char *facet_unpack_tensor(const msgpack_object *o, facet_tensor *t)
{
	const msgpack_object *nd = NULL, *type = NULL, *kind = NULL, *shape = NULL, *data = NULL;
	int64_t count;

	memset(t, 0, sizeof *t);
	if (o->type != MSGPACK_OBJECT_MAP)
		return "tensor is not a map";
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
		if (facet_key_eq(k, "nd"))
			nd = v;
		else if (facet_key_eq(k, "type"))
			type = v;
		else if (facet_key_eq(k, "kind"))
			kind = v;
		else if (facet_key_eq(k, "shape"))
			shape = v;
		else if (facet_key_eq(k, "data"))
			data = v;
	}
	if (!nd || nd->type != MSGPACK_OBJECT_BOOLEAN || !nd->via.boolean)
		return "tensor lacks 'nd': true";
	if (!type || (type->type != MSGPACK_OBJECT_STR && type->type != MSGPACK_OBJECT_BIN))
		return "tensor lacks a 'type' string";
	if (facet_dtype_parse(type->via.str.ptr, type->via.str.size, &t->dtype) != 0)
		return "tensor dtype is not one facet accepts (|u1 |i1 <u2 <i2 <i4 <i8 <f4 <f8)";
	if (kind && !((kind->type == MSGPACK_OBJECT_BIN || kind->type == MSGPACK_OBJECT_STR) &&
	              kind->via.bin.size == 0))
		return "tensor 'kind' must be empty (structured arrays are not accepted)";
	if (!shape || shape->type != MSGPACK_OBJECT_ARRAY)
		return "tensor lacks a 'shape' array";
	if (shape->via.array.size > FACET_MAX_DIMS)
		return "tensor has more than 8 dimensions";
	t->ndim = (int)shape->via.array.size;
	for (int i = 0; i < t->ndim; i++) {
		const msgpack_object *d = &shape->via.array.ptr[i];
		if (d->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    d->via.u64 > (uint64_t)FACET_MAX_TENSOR_BYTES)
			return "tensor shape holds a value that is not a dimension size";
		t->shape[i] = (int64_t)d->via.u64;
	}
	if (!data || data->type != MSGPACK_OBJECT_BIN)
		return "tensor lacks binary 'data'";
	count = facet_tensor_count(t);
	if (count < 0 || (uint64_t)count * facet_dtype_size(t->dtype) != data->via.bin.size)
		return "tensor data length does not match its shape and dtype";
	t->data = data->via.bin.ptr;
	t->nbytes = data->via.bin.size;
	return NULL;
}

static void pack_bin_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_bin(pk, n);
	msgpack_pack_bin_body(pk, s, n);
}

void facet_pack_str(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);
	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

void facet_pack_tensor(msgpack_packer *pk, const facet_tensor *t)
{
	msgpack_pack_map(pk, 5);
	pack_bin_str(pk, "nd");
	msgpack_pack_true(pk);
	pack_bin_str(pk, "type");
	facet_pack_str(pk, facet_dtype_name(t->dtype));
	pack_bin_str(pk, "kind");
	msgpack_pack_bin(pk, 0);
	pack_bin_str(pk, "shape");
	msgpack_pack_array(pk, (size_t)t->ndim);
	for (int i = 0; i < t->ndim; i++)
		msgpack_pack_uint64(pk, (uint64_t)t->shape[i]);
	pack_bin_str(pk, "data");
	msgpack_pack_bin(pk, t->nbytes);
	if (t->nbytes)
		msgpack_pack_bin_body(pk, t->data, t->nbytes);
}

/* ---------------------------------------------------------------- scanning */

#define FACET_MAX_OBJECTS (1L << 20)

static size_t be(const unsigned char *p, int n)
{
	size_t v = 0;
	for (int i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

long facet_msgpack_scan(const unsigned char *buf, size_t len, size_t max_bytes, const char **err)
{
	size_t stack[FACET_MAX_DEPTH + 1]; /* objects still to read at each open level */
	int depth = 0;
	size_t pos = 0;
	long objects = 0;

	stack[0] = 1;
	while (depth >= 0) {
		size_t hdr = 1, body = 0, children = 0;
		unsigned char b;

		if (stack[depth] == 0) {
			depth--;
			continue;
		}
		stack[depth]--;
		if (++objects > FACET_MAX_OBJECTS) {
			*err = "record holds more than 1048576 msgpack objects";
			return -1;
		}
		if (pos >= len)
			return 0;
		b = buf[pos];
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			/* fixint, nil, bool */
		} else if (b >= 0x80 && b <= 0x8f) {
			children = 2 * (size_t)(b & 0x0f);
		} else if (b >= 0x90 && b <= 0x9f) {
			children = b & 0x0f;
		} else if (b >= 0xa0 && b <= 0xbf) {
			body = b & 0x1f;
		} else {
			static const signed char lenbytes[] = {
			    /* c4 bin8 */ 1, 2, 4, /* c7 ext */ 1, 2, 4, /* ca float */ -4, -8,
			    /* cc uint */ -1, -2, -4, -8, /* d0 int */ -1, -2, -4, -8,
			    /* d4 fixext */ -2, -3, -5, -9, -17, /* d9 str */ 1, 2, 4,
			    /* dc array */ 2, 4, /* de map */ 2, 4};
			int lb;
			size_t n;
			if (b == 0xc1) {
				*err = "invalid msgpack byte 0xc1";
				return -1;
			}
			lb = lenbytes[b - 0xc4];
			if (lb < 0) { /* fixed-size scalar: -lb bytes after the type byte */
				body = (size_t)(-lb);
			} else {
				if (pos + 1 + (size_t)lb > len)
					return 0;
				n = be(buf + pos + 1, lb);
				hdr += (size_t)lb;
				if (b >= 0xdc) {
					if (n > FACET_MAX_CONTAINER) {
						*err = "container declares more than 65536 entries";
						return -1;
					}
					children = b >= 0xde ? 2 * n : n;
				} else {
					body = n + ((b >= 0xc7 && b <= 0xc9) ? 1 : 0);
				}
			}
		}
		if (body > max_bytes || pos + hdr + body > max_bytes) {
			*err = "value larger than the record size limit (FACET_MAX_RECORD_BYTES)";
			return -1;
		}
		if (pos + hdr + body > len)
			return 0;
		pos += hdr + body;
		if (children) {
			if (depth + 1 > FACET_MAX_DEPTH) {
				*err = "containers nested deeper than 16";
				return -1;
			}
			/* each child needs at least one byte: reject counts the limit cannot hold */
			if (children > max_bytes) {
				*err = "container larger than the record size limit";
				return -1;
			}
			stack[++depth] = children;
		}
	}
	return (long)pos;
}

/* ---------------------------------------------------------------- records */

enum { CH_SET, CH_DEL };

typedef struct {
	char *key;
	int op;
	msgpack_sbuffer packed; /* the value, packed */
	msgpack_unpacked view;  /* unpacked view of packed, for lookups */
} change;

struct facet_record {
	const msgpack_object *map; /* original entries, or NULL */
	msgpack_unpacked own;      /* when the record owns its original (clones) */
	char *own_buf;
	int owns;
	change *ch;
	int nch, capch;
};

facet_record *facet_record_new(void)
{
	return xcalloc(1, sizeof(facet_record));
}

static void record_clear_changes(facet_record *r)
{
	for (int i = 0; i < r->nch; i++) {
		free(r->ch[i].key);
		msgpack_sbuffer_destroy(&r->ch[i].packed);
		msgpack_unpacked_destroy(&r->ch[i].view);
	}
	r->nch = 0;
}

void facet_record_free(facet_record *r)
{
	if (!r)
		return;
	record_clear_changes(r);
	free(r->ch);
	if (r->owns) {
		msgpack_unpacked_destroy(&r->own);
		free(r->own_buf);
	}
	free(r);
}

static change *find_change(const facet_record *r, const char *key)
{
	for (int i = 0; i < r->nch; i++)
		if (strcmp(r->ch[i].key, key) == 0)
			return &r->ch[i];
	return NULL;
}

static const msgpack_object *find_orig(const facet_record *r, const char *key)
{
	return facet_msgpack_get(r->map, key);
}

const msgpack_object *facet_record_map(const facet_record *r)
{
	static const msgpack_object empty = {.type = MSGPACK_OBJECT_MAP};
	return r->map ? r->map : &empty;
}

const msgpack_object *facet_record_get(const facet_record *r, const char *key)
{
	change *c = find_change(r, key);
	if (c)
		return c->op == CH_DEL ? NULL : &c->view.data;
	return find_orig(r, key);
}

const char *facet_record_str(const facet_record *r, const char *key, size_t *len)
{
	const msgpack_object *o = facet_record_get(r, key);
	if (!o || o->type != MSGPACK_OBJECT_STR)
		return NULL;
	*len = o->via.str.size;
	return o->via.str.ptr;
}

const char *facet_record_id(const facet_record *r, size_t *len)
{
	return facet_record_str(r, "id", len);
}

char *facet_record_id_str(const facet_record *r, char *buf, size_t n)
{
	size_t len = 0;
	const char *id = facet_record_id(r, &len);
	if (!id)
		len = 0;
	if (len > n - 1)
		len = n - 1;
	memcpy(buf, id ? id : "", len);
	buf[len] = 0;
	return buf;
}

int facet_record_int(const facet_record *r, const char *key, int64_t *v)
{
	const msgpack_object *o = facet_record_get(r, key);
	if (!o)
		return 0;
	if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
		*v = (int64_t)o->via.u64;
		return 1;
	}
	if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
		*v = o->via.i64;
		return 1;
	}
	return 0;
}

int facet_record_tensor(const facet_record *r, const char *key, facet_tensor *t)
{
	const msgpack_object *o = facet_record_get(r, key);
	if (!o)
		return 0;
	return facet_unpack_tensor(o, t) == NULL;
}

const msgpack_object *facet_msgpack_get(const msgpack_object *m, const char *key)
{
	if (!m || m->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (uint32_t i = 0; i < m->via.map.size; i++)
		if (facet_key_eq(&m->via.map.ptr[i].key, key))
			return &m->via.map.ptr[i].val;
	return NULL;
}

int facet_msgpack_number(const msgpack_object *o, double *v)
{
	if (!o)
		return 0;
	switch (o->type) {
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		*v = o->via.f64;
		return 1;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		*v = (double)o->via.u64;
		return 1;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*v = (double)o->via.i64;
		return 1;
	default:
		return 0;
	}
}

static int obj_probs(const msgpack_object *o, double *out, uint32_t n)
{
	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != n)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		if (!facet_msgpack_number(&o->via.array.ptr[i], &out[i]) ||
		    !(out[i] >= 0 && out[i] <= 1))
			return 0;
	return 1;
}

/* Parse a pred map; returns NULL or what is wrong. */
static const char *parse_pred(const msgpack_object *o, facet_pred *p)
{
	memset(p, 0, sizeof *p);
	if (o->type != MSGPACK_OBJECT_MAP)
		return "'pred' is not a map";
	for (uint32_t i = 0; i < o->via.map.size; i++) {
		const msgpack_object *k = &o->via.map.ptr[i].key, *v = &o->via.map.ptr[i].val;
		if (facet_key_eq(k, "age")) {
			if (!facet_msgpack_number(v, &p->age) || !(p->age > -1e6 && p->age < 1e6))
				return "'pred.age' is not a finite number";
			p->has_age = 1;
		} else if (facet_key_eq(k, "gender")) {
			if (!obj_probs(v, p->gender, FACET_N_GENDER))
				return "'pred.gender' is not 2 probabilities";
			p->has_gender = 1;
		} else if (facet_key_eq(k, "ethnicity")) {
			if (!obj_probs(v, p->ethnicity, FACET_N_ETHNICITY))
				return "'pred.ethnicity' is not 5 probabilities";
			p->has_ethnicity = 1;
		}
	}
	return NULL;
}

int facet_record_pred(const facet_record *r, facet_pred *p)
{
	const msgpack_object *o = facet_record_get(r, "pred");
	if (!o)
		return 0;
	return parse_pred(o, p) == NULL;
}

const char *facet_record_validate(const facet_record *r)
{
	const msgpack_object *o;
	facet_tensor t;
	facet_pred p;
	const char *err;
	static const char *const out_of_range[FACET_N_LABELS] = {
	    "'age' is not an integer in 0..130",
	    "'gender' is not 0 (male) or 1 (female)",
	    "'ethnicity' is not an integer in 0..4",
	};

	if ((o = facet_record_get(r, "id")) && (o->type != MSGPACK_OBJECT_STR || o->via.str.size > 4096))
		return "'id' is not a string of at most 4096 bytes";
	for (int k = 0; k < FACET_N_LABELS; k++) {
		o = facet_record_get(r, facet_label_keys[k]);
		if (o && (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		          o->via.u64 > (uint64_t)facet_label_max[k]))
			return out_of_range[k];
	}
	if ((o = facet_record_get(r, "split"))) {
		if (o->type != MSGPACK_OBJECT_STR ||
		    !(facet_key_eq(o, "train") || facet_key_eq(o, "val") || facet_key_eq(o, "test")))
			return "'split' is not \"train\", \"val\" or \"test\"";
	}
	if ((o = facet_record_get(r, "image"))) {
		if ((err = facet_unpack_tensor(o, &t)))
			return err;
		if (t.ndim != 3 || (t.shape[2] != 1 && t.shape[2] != 3) || t.shape[0] < 1 ||
		    t.shape[1] < 1)
			return "'image' is not a [H, W, C] tensor with C 1 or 3";
		if (t.dtype != FACET_U8 && t.dtype != FACET_F32)
			return "'image' dtype is not |u1 or <f4";
	}
	if ((o = facet_record_get(r, "pred")) && (err = parse_pred(o, &p)))
		return err;
	if ((o = facet_record_get(r, "box"))) {
		double b[4];
		if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4)
			return "'box' is not an array of 4 numbers";
		for (int i = 0; i < 4; i++)
			if (!facet_msgpack_number(&o->via.array.ptr[i], &b[i]) || !isfinite(b[i]))
				return "'box' is not an array of 4 finite numbers";
		if (!(b[0] <= b[2] && b[1] <= b[3]))
			return "'box' is not [x0, y0, x1, y1] with x0 <= x1 and y0 <= y1";
	}
	if ((o = facet_record_get(r, "score"))) {
		double v;
		if (!facet_msgpack_number(o, &v) || !isfinite(v))
			return "'score' is not a finite number";
	}
	if ((o = facet_record_get(r, "landmarks"))) {
		if ((err = facet_unpack_tensor(o, &t)))
			return err;
		if (t.dtype != FACET_F32 || t.ndim != 2 || t.shape[1] != 2)
			return "'landmarks' is not a float32 [N, 2] tensor";
	}
	return NULL;
}

/* ---------------------------------------------------------------- staged changes */

static change *stage(facet_record *r, const char *key, int op)
{
	change *c = find_change(r, key);
	if (c) {
		msgpack_sbuffer_destroy(&c->packed);
		msgpack_unpacked_destroy(&c->view);
	} else {
		if (r->nch == r->capch) {
			r->capch = r->capch ? 2 * r->capch : 8;
			r->ch = xrealloc(r->ch, (size_t)r->capch * sizeof *r->ch);
		}
		c = &r->ch[r->nch++];
		c->key = xstrdup(key);
	}
	c->op = op;
	msgpack_sbuffer_init(&c->packed);
	msgpack_unpacked_init(&c->view);
	return c;
}

static void stage_done(change *c)
{
	size_t off = 0;
	if (msgpack_unpack_next(&c->view, c->packed.data, c->packed.size, &off) !=
	    MSGPACK_UNPACK_SUCCESS)
		die("internal error: cannot unpack a staged value for '%s'", c->key);
}

#define STAGE_PACKER(r, key, c, pk)                                                                \
	change *c = stage(r, key, CH_SET);                                                         \
	msgpack_packer pk;                                                                         \
	msgpack_packer_init(&pk, &c->packed, msgpack_sbuffer_write)

void facet_record_set_int(facet_record *r, const char *key, int64_t v)
{
	STAGE_PACKER(r, key, c, pk);
	msgpack_pack_int64(&pk, v);
	stage_done(c);
}

void facet_record_set_double(facet_record *r, const char *key, double v)
{
	STAGE_PACKER(r, key, c, pk);
	msgpack_pack_double(&pk, v);
	stage_done(c);
}

void facet_record_set_str(facet_record *r, const char *key, const char *s, size_t len)
{
	STAGE_PACKER(r, key, c, pk);
	msgpack_pack_str(&pk, len);
	msgpack_pack_str_body(&pk, s, len);
	stage_done(c);
}

void facet_record_set_tensor(facet_record *r, const char *key, const facet_tensor *t)
{
	STAGE_PACKER(r, key, c, pk);
	facet_pack_tensor(&pk, t);
	stage_done(c);
}

void facet_record_set_pred(facet_record *r, const facet_pred *p)
{
	STAGE_PACKER(r, "pred", c, pk);
	msgpack_pack_map(&pk, (size_t)(!!p->has_age + !!p->has_gender + !!p->has_ethnicity));
	if (p->has_age) {
		facet_pack_str(&pk, "age");
		msgpack_pack_float(&pk, (float)p->age);
	}
	if (p->has_gender) {
		facet_pack_str(&pk, "gender");
		msgpack_pack_array(&pk, FACET_N_GENDER);
		for (int i = 0; i < FACET_N_GENDER; i++)
			msgpack_pack_float(&pk, (float)p->gender[i]);
	}
	if (p->has_ethnicity) {
		facet_pack_str(&pk, "ethnicity");
		msgpack_pack_array(&pk, FACET_N_ETHNICITY);
		for (int i = 0; i < FACET_N_ETHNICITY; i++)
			msgpack_pack_float(&pk, (float)p->ethnicity[i]);
	}
	stage_done(c);
}

void facet_record_set_doubles(facet_record *r, const char *key, const double *v, int n)
{
	STAGE_PACKER(r, key, c, pk);
	msgpack_pack_array(&pk, (size_t)n);
	for (int i = 0; i < n; i++)
		msgpack_pack_double(&pk, v[i]);
	stage_done(c);
}

void facet_record_set_packed(facet_record *r, const char *key, const void *bytes, size_t n)
{
	change *c = stage(r, key, CH_SET);
	msgpack_sbuffer_write(&c->packed, bytes, n);
	stage_done(c);
}

void facet_record_del(facet_record *r, const char *key)
{
	change *c = stage(r, key, CH_DEL);
	msgpack_pack_nil(&(msgpack_packer){&c->packed, msgpack_sbuffer_write});
	stage_done(c);
}

/* Emit r (with changes) through pk. */
static void pack_record(msgpack_packer *pk, const facet_record *r)
{
	uint32_t norig = r->map ? r->map->via.map.size : 0;
	size_t n = 0;

	for (uint32_t i = 0; i < norig; i++) {
		const msgpack_object *k = &r->map->via.map.ptr[i].key;
		int del = 0;
		for (int j = 0; j < r->nch; j++)
			if (r->ch[j].op == CH_DEL && facet_key_eq(k, r->ch[j].key))
				del = 1;
		n += !del;
	}
	for (int j = 0; j < r->nch; j++)
		if (r->ch[j].op == CH_SET && !find_orig(r, r->ch[j].key))
			n++;
	msgpack_pack_map(pk, n);
	for (uint32_t i = 0; i < norig; i++) {
		const msgpack_object *k = &r->map->via.map.ptr[i].key;
		const change *c = NULL;
		for (int j = 0; j < r->nch; j++)
			if (facet_key_eq(k, r->ch[j].key))
				c = &r->ch[j];
		if (c && c->op == CH_DEL)
			continue;
		msgpack_pack_object(pk, *k);
		if (c)
			pk->callback(pk->data, c->packed.data, c->packed.size);
		else
			msgpack_pack_object(pk, r->map->via.map.ptr[i].val);
	}
	for (int j = 0; j < r->nch; j++) {
		const change *c = &r->ch[j];
		if (c->op != CH_SET || find_orig(r, c->key))
			continue;
		facet_pack_str(pk, c->key);
		pk->callback(pk->data, c->packed.data, c->packed.size);
	}
}

facet_record *facet_record_clone(const facet_record *r)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	facet_record *c = facet_record_new();
	size_t off = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	pack_record(&pk, r);
	c->own_buf = sb.data; /* take over the buffer */
	c->owns = 1;
	msgpack_unpacked_init(&c->own);
	if (msgpack_unpack_next(&c->own, c->own_buf, sb.size, &off) != MSGPACK_UNPACK_SUCCESS)
		die("internal error: cannot clone a record");
	c->map = &c->own.data;
	return c;
}

/* ---------------------------------------------------------------- reader */

struct facet_reader {
	FILE *f;
	int fd;
	char *name;
	unsigned char *buf;
	size_t cap, len, pos; /* buf[pos..len) is unread input */
	uint64_t offset;      /* stream offset of buf[0] */
	uint64_t count;
	size_t max_bytes;
	int eof;
	msgpack_unpacked up;
	facet_record rec;
	char msg[512];
};

static size_t max_record_bytes(void)
{
	const char *s = getenv("FACET_MAX_RECORD_BYTES");
	char *end;
	unsigned long long v;
	if (!s || !*s)
		return FACET_DEFAULT_MAX_RECORD;
	v = strtoull(s, &end, 10);
	if (*end || v < 64 || v > ((unsigned long long)1 << 40))
		die("FACET_MAX_RECORD_BYTES='%s' is not a byte count in 64..2^40", s);
	return (size_t)v;
}

facet_reader *facet_reader_open(FILE *f, const char *name)
{
	facet_reader *rd = xcalloc(1, sizeof *rd);
	rd->f = f;
	rd->fd = fileno(f);
	rd->name = xstrdup(name);
	rd->max_bytes = max_record_bytes();
	rd->cap = 1 << 16;
	rd->buf = xmalloc(rd->cap);
	msgpack_unpacked_init(&rd->up);
	return rd;
}

facet_reader *facet_reader_open_path(const char *path)
{
	FILE *f;
	if (strcmp(path, "-") == 0)
		return facet_reader_open(stdin, "stdin");
	f = fopen(path, "rb");
	if (!f)
		die("cannot open %s:", path);
	return facet_reader_open(f, path);
}

uint64_t facet_reader_count(const facet_reader *rd)
{
	return rd->count;
}

const char *facet_reader_name(const facet_reader *rd)
{
	return rd->name;
}

void facet_reader_close(facet_reader *rd)
{
	if (!rd)
		return;
	record_clear_changes(&rd->rec);
	free(rd->rec.ch);
	msgpack_unpacked_destroy(&rd->up);
	if (rd->f != stdin)
		fclose(rd->f);
	free(rd->buf);
	free(rd->name);
	free(rd);
}

/* Read more input; returns bytes read, 0 at EOF. */
static size_t fill(facet_reader *rd)
{
	ssize_t n;
	if (rd->len == rd->cap) {
		size_t want = rd->cap * 2;
		if (want > rd->max_bytes + (1 << 16))
			want = rd->max_bytes + (1 << 16);
		if (want <= rd->cap)
			return 0; /* cannot happen: the scanner rejects records over the limit */
		rd->buf = xrealloc(rd->buf, want);
		rd->cap = want;
	}
	do
		n = read(rd->fd, rd->buf + rd->len, rd->cap - rd->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		die("read error (%s):", rd->name);
	rd->len += (size_t)n;
	if (n == 0)
		rd->eof = 1;
	return (size_t)n;
}

static int fail(facet_reader *rd, const char **err, const char *what)
{
	snprintf(rd->msg, sizeof rd->msg, "%s (%s, record %llu, byte %llu)", what, rd->name,
	         (unsigned long long)rd->count + 1, (unsigned long long)(rd->offset + rd->pos));
	*err = rd->msg;
	return -1;
}

int facet_reader_try_next(facet_reader *rd, facet_record **rec, const char **err)
{
	const char *why = NULL;
	long n;
	size_t off = 0;

	record_clear_changes(&rd->rec);
	if (rd->pos > 0) {
		memmove(rd->buf, rd->buf + rd->pos, rd->len - rd->pos);
		rd->offset += rd->pos;
		rd->len -= rd->pos;
		rd->pos = 0;
	}
	for (;;) {
		if (rd->len > 0) {
			unsigned char b = rd->buf[0];
			if (!((b >= 0x80 && b <= 0x8f) || b == 0xde || b == 0xdf))
				return fail(rd, err, "not a msgpack map (is this a facet stream?)");
			n = facet_msgpack_scan(rd->buf, rd->len, rd->max_bytes, &why);
			if (n < 0)
				return fail(rd, err, why);
			if (n > 0)
				break;
		}
		if (rd->eof || fill(rd) == 0) {
			if (rd->len == 0)
				return 0;
			return fail(rd, err, "truncated stream: input ends inside a record");
		}
	}
	msgpack_unpacked_destroy(&rd->up);
	msgpack_unpacked_init(&rd->up);
	if (msgpack_unpack_next(&rd->up, (const char *)rd->buf, (size_t)n, &off) !=
	        MSGPACK_UNPACK_SUCCESS ||
	    off != (size_t)n)
		return fail(rd, err, "malformed msgpack");
	rd->rec.map = &rd->up.data;
	if ((why = facet_record_validate(&rd->rec)))
		return fail(rd, err, why);
	rd->pos = (size_t)n;
	rd->count++;
	*rec = &rd->rec;
	return 1;
}

int facet_reader_next(facet_reader *rd, facet_record **rec)
{
	const char *err;
	int rc = facet_reader_try_next(rd, rec, &err);
	if (rc < 0)
		die("%s", err);
	return rc;
}

/* ---------------------------------------------------------------- writer */

struct facet_writer {
	FILE *f;
	char *name;
	msgpack_packer pk;
};

static int writer_cb(void *data, const char *buf, size_t len)
{
	facet_writer *w = data;
	if (len == 0)
		return 0;
	if (fwrite(buf, 1, len, w->f) != len) {
		if (w->f == stdout)
			facet_stdout_reported = 1;
		die("write error (%s):", w->name);
	}
	return 0;
}

facet_writer *facet_writer_open(FILE *f, const char *name)
{
	facet_writer *w = xcalloc(1, sizeof *w);
	w->f = f;
	w->name = xstrdup(name);
	msgpack_packer_init(&w->pk, w, writer_cb);
	return w;
}

void facet_writer_put(facet_writer *w, const facet_record *r)
{
	pack_record(&w->pk, r);
}

msgpack_packer *facet_writer_packer(facet_writer *w)
{
	return &w->pk;
}

void facet_writer_flush(facet_writer *w)
{
	if (fflush(w->f) != 0) {
		if (w->f == stdout)
			facet_stdout_reported = 1;
		die("write error (%s):", w->name);
	}
}

void facet_writer_close(facet_writer *w)
{
	if (!w)
		return;
	facet_writer_flush(w);
	free(w->name);
	free(w);
}
