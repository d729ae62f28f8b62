/* facet-dump: a facet stream as JSON lines, for people and jq. Tensors are summarised. */
#include "facet.h"
#include "json.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: facet-dump [OPTION]... [FILE]\n"
    "Print a facet stream (FILE, or standard input) as JSON lines: one object per record, keys in\n"
    "stream order. Tensors are summarised as {\"tensor\": {dtype, shape, min, max, mean}}; other\n"
    "binary values as {\"bin\": BYTES}.\n"
    "\n"
    "  -n, --head N     print only the first N records (and stop reading)\n"
    "      --count      print only the number of records\n"
    "  -q, --quiet      no summary on stderr\n"
    "  -h, --help       show this help and exit\n"
    "  -V, --version    show the version and exit\n"
    "\n"
    "Exit status: 0 ok, 1 bad input or write error, 2 usage error.\n";

struct opts {
	long head; /* -1: all */
	int count;
	const char *path;
};

static void parse_options(int argc, char **argv, struct opts *o)
{
	enum { OPT_COUNT = 256 };
	static const struct option longopts[] = {
	    {"head", required_argument, NULL, 'n'}, {"count", no_argument, NULL, OPT_COUNT},
	    {"quiet", no_argument, NULL, 'q'},      {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},    {NULL, 0, NULL, 0}};
	int c;

	o->head = -1;
	o->count = 0;
	while ((c = facet_getopt(argc, argv, "n:qhV", longopts)) != -1) {
		switch (c) {
		case 'n':
			o->head = facet_parse_long("--head", optarg, 0, LONG_MAX);
			break;
		case OPT_COUNT:
			o->count = 1;
			break;
		default:
			facet_std_option(c, usage);
		}
	}
	if (argc - optind > 1)
		usage_error("at most one input file");
	o->path = optind < argc ? argv[optind] : "-";
}

/* Element i as a double. A tensor's data lies where it falls in the record's bytes, often not
 * aligned for its type: each element is copied out, never read through a cast pointer. */
#define ELEMENT(type)                                                                              \
	do {                                                                                       \
		type v;                                                                            \
		memcpy(&v, (const char *)t->data + (size_t)i * sizeof v, sizeof v);                \
		return (double)v;                                                                  \
	} while (0)

static double element(const facet_tensor *t, int64_t i)
{
	switch (t->dtype) {
	case FACET_U8:
		ELEMENT(uint8_t);
	case FACET_I8:
		ELEMENT(int8_t);
	case FACET_U16:
		ELEMENT(uint16_t);
	case FACET_I16:
		ELEMENT(int16_t);
	case FACET_I32:
		ELEMENT(int32_t);
	case FACET_I64:
		ELEMENT(int64_t);
	case FACET_F32:
		ELEMENT(float);
	case FACET_F64:
		ELEMENT(double);
	default:
		return 0;
	}
}
#undef ELEMENT

static json_t *tensor_json(const facet_tensor *t)
{
	json_t *shape = json_array(), *s = json_object(), *wrap = json_object();
	int64_t n = facet_tensor_count(t);
	double lo = INFINITY, hi = -INFINITY, sum = 0;

	for (int i = 0; i < t->ndim; i++)
		json_array_append_new(shape, json_integer(t->shape[i]));
	for (int64_t i = 0; i < n; i++) {
		double v = element(t, i);
		lo = v < lo ? v : lo;
		hi = v > hi ? v : hi;
		sum += v;
	}
	json_object_set_new(s, "dtype", json_string(facet_dtype_name(t->dtype)));
	json_object_set_new(s, "shape", shape);
	if (n > 0) {
		json_object_set_new(s, "min", facet_json_number(lo));
		json_object_set_new(s, "max", facet_json_number(hi));
		json_object_set_new(s, "mean", facet_json_number(sum / (double)n));
	}
	json_object_set_new(wrap, "tensor", s);
	return wrap;
}

static json_t *to_json(const msgpack_object *o)
{
	facet_tensor t;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return json_null();
	case MSGPACK_OBJECT_BOOLEAN:
		return json_boolean(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return o->via.u64 <= (uint64_t)INT64_MAX ? json_integer((json_int_t)o->via.u64)
		                                         : json_real((double)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return json_integer(o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		return facet_json_number(o->via.f64);
	case MSGPACK_OBJECT_STR:
		return json_stringn_nocheck(o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_ARRAY: {
		json_t *a = json_array();
		for (uint32_t i = 0; i < o->via.array.size; i++)
			json_array_append_new(a, to_json(&o->via.array.ptr[i]));
		return a;
	}
	case MSGPACK_OBJECT_MAP: {
		json_t *m;
		if (facet_unpack_tensor(o, &t) == NULL)
			return tensor_json(&t);
		m = json_object();
		for (uint32_t i = 0; i < o->via.map.size; i++) {
			const msgpack_object *k = &o->via.map.ptr[i].key;
			char key[256];
			if (k->type == MSGPACK_OBJECT_STR || k->type == MSGPACK_OBJECT_BIN) {
				size_t n = k->via.str.size < sizeof key - 1 ? k->via.str.size
				                                            : sizeof key - 1;
				memcpy(key, k->via.str.ptr, n);
				key[n] = 0;
			} else if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
				snprintf(key, sizeof key, "%llu", (unsigned long long)k->via.u64);
			} else {
				snprintf(key, sizeof key, "?%u", i);
			}
			json_object_set_new(m, key, to_json(&o->via.map.ptr[i].val));
		}
		return m;
	}
	case MSGPACK_OBJECT_BIN: {
		json_t *b = json_object();
		json_object_set_new(b, "bin", json_integer((json_int_t)o->via.bin.size));
		return b;
	}
	default: {
		json_t *e = json_object();
		json_object_set_new(e, "ext", json_integer((json_int_t)o->via.ext.size));
		return e;
	}
	}
}

static void print_record(const facet_record *r)
{
	json_t *j = to_json(facet_record_map(r));
	if (json_dumpf(j, stdout, JSON_PRESERVE_ORDER | JSON_COMPACT) != 0 || putchar('\n') == EOF)
		die("write error on stdout:");
	json_decref(j);
}

int main(int argc, char **argv)
{
	struct opts o;
	facet_reader *rd;
	facet_record *r;
	uint64_t n = 0;

	facet_init("facet-dump");
	parse_options(argc, argv, &o);
	rd = facet_reader_open_path(o.path);
	while ((o.head < 0 || (long)n < o.head) && facet_reader_next(rd, &r)) {
		n++;
		if (!o.count)
			print_record(r);
	}
	if (o.count)
		printf("%llu\n", (unsigned long long)n);
	facet_reader_close(rd);
	return 0;
}
