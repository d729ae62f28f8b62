/*
 * libfacet: the pieces every facet tool shares.
 *
 *   diagnostics   facet_init, die, die_status, warn, usage_error
 *   command line  facet_help, facet_version, parse helpers
 *   tensors       facet_tensor (msgpack-numpy layout on the wire)
 *   the stream    facet_reader, facet_writer, facet_record
 *   helpers       facet_fnv1a, facet_tools_dir
 *
 * The stream contract is man/man5/facet-stream.5; this header is its C face.
 */
#ifndef FACET_H
#define FACET_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <msgpack.h>

#define FACET_VERSION "0.1.0"

#if defined(__GNUC__)
#define FACET_NORETURN __attribute__((noreturn))
#define FACET_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define FACET_NORETURN
#define FACET_PRINTF(a, b)
#endif

/* ---------------------------------------------------------------- diagnostics */

/* Exit statuses, the same in every tool (and in every man page). */
enum { FACET_EXIT_OK = 0, FACET_EXIT_DATA = 1, FACET_EXIT_USAGE = 2 };

extern const char *facet_prog; /* "facet-decode" ... */
extern int facet_quiet;        /* --quiet: mute informational stderr */
/* Output files (charts, montages) that could not be written: a tool that makes a folder of
 * outputs counts them here and fails at the end if any. */
extern int facet_output_failures;
/* Set once a write error on stdout has been reported, so the check at exit stays quiet. */
extern int facet_stdout_reported;

/* First call in every main(): records the program name, restores SIGPIPE's default action (so
 * `| head` ends the run quietly) and arranges for stdout to be checked at exit. */
void facet_init(const char *prog);

/* "facet-X: message" on stderr. A format ending in ':' gets ": strerror(errno)" appended. */
void warn(const char *fmt, ...) FACET_PRINTF(1, 2);
/* Informational line on stderr unless --quiet. */
void facet_info(const char *fmt, ...) FACET_PRINTF(1, 2);
/* warn(), then exit 1 (data or runtime error). */
FACET_NORETURN void die(const char *fmt, ...) FACET_PRINTF(1, 2);
FACET_NORETURN void die_status(int status, const char *fmt, ...) FACET_PRINTF(2, 3);
/* "facet-X: message" + "Try 'facet-X --help'." then exit 2. */
FACET_NORETURN void usage_error(const char *fmt, ...) FACET_PRINTF(1, 2);

/* Checked allocation: die on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/* --help: print text to stdout, exit 0.  --version: "facet-X facet VERSION", exit 0. */
FACET_NORETURN void facet_help(const char *text);
FACET_NORETURN void facet_version(void);

/* getopt_long() for every tool's option loop, which names a bad option itself: an unknown or
 * ambiguous option, a missing argument or one given to an option that takes none is a usage
 * error (exit 2) of one line, "facet-X: unknown option '--colour'", and the hint. */
struct option;
int facet_getopt(int argc, char *const argv[], const char *shortopts,
                 const struct option *longopts);
/* The options every tool shares, for the default: branch of its facet_getopt switch:
 * 'q' (--quiet) sets facet_quiet, 'h' (--help) prints usage and exits 0, 'V' (--version) exits 0,
 * anything else is a usage error (exit 2). */
void facet_std_option(int c, const char *usage);

/* The index of s in names [n], or -1: the option values that name one of a few choices. */
int facet_name_index(const char *s, const char *const *names, int n);

/* Option-argument parsers: die with a usage error naming the option on bad input. */
long facet_parse_long(const char *opt, const char *arg, long min, long max);
double facet_parse_double(const char *opt, const char *arg, double min, double max);
/* "WxH" -> w, h (1..65535). */
void facet_parse_size(const char *opt, const char *arg, int *w, int *h);
/* --precision "fp32"|"bf16" -> FACET_PREC_* (nn/fastops.h); --engine "onednn"|"reference" ->
 * the net's fast path on (1) or off (0). */
int facet_parse_precision(const char *arg);
int facet_parse_engine(const char *arg);

/* Flush and close stdout; die if anything failed (e.g. > /dev/full). Called at exit by facet_init,
 * callable earlier. */
void facet_close_stdout(void);

/* ---------------------------------------------------------------- tensors */

typedef enum {
	FACET_U8 = 0, /* "|u1" */
	FACET_I8,     /* "|i1" */
	FACET_U16,    /* "<u2" */
	FACET_I16,    /* "<i2" */
	FACET_I32,    /* "<i4" */
	FACET_I64,    /* "<i8" */
	FACET_F32,    /* "<f4" */
	FACET_F64,    /* "<f8" */
	FACET_DTYPE_COUNT
} facet_dtype;

#define FACET_MAX_DIMS 8

typedef struct {
	facet_dtype dtype;
	int ndim;
	int64_t shape[FACET_MAX_DIMS];
	const void *data; /* C order; borrowed (from a record) or owned (see facet_tensor_alloc) */
	size_t nbytes;
	void *owned; /* non-NULL when facet_tensor_free must release data */
} facet_tensor;

const char *facet_dtype_name(facet_dtype t); /* "|u1" ... */
size_t facet_dtype_size(facet_dtype t);
int facet_dtype_parse(const char *s, size_t n, facet_dtype *out); /* 0 ok, -1 unknown */
/* Product of shape; 0 for a zero-sized dim. -1 on overflow past FACET_MAX_TENSOR_BYTES. */
int64_t facet_tensor_count(const facet_tensor *t);
/* Allocate an owned, zeroed tensor. */
void facet_tensor_alloc(facet_tensor *t, facet_dtype dtype, int ndim, const int64_t *shape);
void facet_tensor_free(facet_tensor *t);
/* Is t an image: uint8 of shape [H, W, C], H and W at least 1, C 1 or 3? 1 yes, 0 no. */
int facet_is_image(const facet_tensor *t);

/* ---------------------------------------------------------------- limits */

/* Checked before any memory is allocated for a record. Overridable by the environment variables
 * FACET_MAX_RECORD_BYTES (default 256 MiB) for testing and for unusually large images. */
#define FACET_DEFAULT_MAX_RECORD ((size_t)256 << 20)
#define FACET_MAX_CONTAINER 65536 /* entries in one map or array */
#define FACET_MAX_DEPTH 16
#define FACET_MAX_TENSOR_BYTES ((int64_t)1 << 31)

/* ---------------------------------------------------------------- labels */

#define FACET_AGE_MAX 130
#define FACET_N_GENDER 2
#define FACET_N_ETHNICITY 5
#define FACET_GENDER_MAX (FACET_N_GENDER - 1)
#define FACET_ETHNICITY_MAX (FACET_N_ETHNICITY - 1)
extern const char *const facet_gender_names[FACET_N_GENDER];       /* male, female */
extern const char *const facet_ethnicity_names[FACET_N_ETHNICITY]; /* White, Black, ... */

/* The three labels, in the stream's order, for code that treats them alike: each is an integer
 * from 0 to facet_label_max[k]. */
enum { FACET_LABEL_AGE, FACET_LABEL_GENDER, FACET_LABEL_ETHNICITY, FACET_N_LABELS };
extern const char *const facet_label_keys[FACET_N_LABELS]; /* "age", "gender", "ethnicity" */
extern const int facet_label_max[FACET_N_LABELS];          /* 130, 1, 4 */

/* ---------------------------------------------------------------- records */

/* A record is one msgpack map. Reading keeps the original entries in order; set/del stage
 * changes that the writer applies in place (a replaced key keeps its position, a new key goes
 * at the end), so every key a stage does not own passes through unchanged. */
typedef struct facet_record facet_record;

facet_record *facet_record_new(void); /* empty record, for stages that create records */
void facet_record_free(facet_record *r);
/* Make a record that owns a deep copy of r's content and changes (r may come from a reader). */
facet_record *facet_record_clone(const facet_record *r);

/* The map as read or cloned (staged changes not applied): for tools that walk every entry. */
const msgpack_object *facet_record_map(const facet_record *r);

/* Lookups on the current content (staged changes included). */
const msgpack_object *facet_record_get(const facet_record *r, const char *key);
/* id: returns pointer + length (not NUL-terminated), or NULL if absent. */
const char *facet_record_id(const facet_record *r, size_t *len);
/* NUL-terminated copy of the id into buf (truncated to n-1); "" when absent. Returns buf. */
char *facet_record_id_str(const facet_record *r, char *buf, size_t n);
/* Integer label: 1 present (stored in *v), 0 absent. Validated by the reader. */
int facet_record_int(const facet_record *r, const char *key, int64_t *v);
/* Tensor: 1 present, 0 absent. t borrows memory from the record. */
int facet_record_tensor(const facet_record *r, const char *key, facet_tensor *t);
/* String value: pointer+len or NULL. */
const char *facet_record_str(const facet_record *r, const char *key, size_t *len);
/* pred map: fills what is present; returns 1 if a pred map exists. */
typedef struct {
	int has_age, has_gender, has_ethnicity;
	double age;
	double gender[FACET_N_GENDER];
	double ethnicity[FACET_N_ETHNICITY];
} facet_pred;
int facet_record_pred(const facet_record *r, facet_pred *p);

/* Staged changes. Strings and tensors are copied. */
void facet_record_set_int(facet_record *r, const char *key, int64_t v);
void facet_record_set_str(facet_record *r, const char *key, const char *s, size_t len);
void facet_record_set_tensor(facet_record *r, const char *key, const facet_tensor *t);
void facet_record_set_pred(facet_record *r, const facet_pred *p);
void facet_record_set_double(facet_record *r, const char *key, double v);
/* An array of n numbers (float64). */
void facet_record_set_doubles(facet_record *r, const char *key, const double *v, int n);
/* A value already packed as msgpack bytes (one object). */
void facet_record_set_packed(facet_record *r, const char *key, const void *bytes, size_t n);
void facet_record_del(facet_record *r, const char *key);

/* Check a record's known keys (types, ranges, tensor byte counts). Returns NULL if valid, else
 * a static message such as "'age' is not an integer in 0..130". */
const char *facet_record_validate(const facet_record *r);

/* ---------------------------------------------------------------- reader */

typedef struct facet_reader facet_reader;

/* name is used in messages ("stdin", a path). */
facet_reader *facet_reader_open(FILE *f, const char *name);
/* Open a path ("-" = stdin). Dies on failure. */
facet_reader *facet_reader_open_path(const char *path);
/* Next record: returns 1 and sets *rec (valid until the next call), 0 at end of stream.
 * On bad input dies: "facet-X: what (name, record N, byte offset)". */
int facet_reader_next(facet_reader *rd, facet_record **rec);
/* Same, but returns -1 and a message in *err instead of dying (for the fuzzer, facet-dump). */
int facet_reader_try_next(facet_reader *rd, facet_record **rec, const char **err);
uint64_t facet_reader_count(const facet_reader *rd);
const char *facet_reader_name(const facet_reader *rd);
void facet_reader_close(facet_reader *rd);

/* Scan one msgpack object at buf[0..len): returns its length in bytes (>0), 0 if the buffer ends
 * inside it, -1 if it breaks the limits or is malformed (*err set). Allocates nothing. */
long facet_msgpack_scan(const unsigned char *buf, size_t len, size_t max_bytes, const char **err);

/* ---------------------------------------------------------------- writer */

typedef struct facet_writer facet_writer;

facet_writer *facet_writer_open(FILE *f, const char *name);
/* Write r with its staged changes applied. Dies on a write error. */
void facet_writer_put(facet_writer *w, const facet_record *r);
/* The underlying msgpack packer, for tools that write other msgpack objects (metrics files). */
msgpack_packer *facet_writer_packer(facet_writer *w);
void facet_writer_flush(facet_writer *w);
/* Flushes; for stdout the final check happens in facet_close_stdout. */
void facet_writer_close(facet_writer *w);

/* Pack a tensor in msgpack-numpy layout. */
void facet_pack_tensor(msgpack_packer *pk, const facet_tensor *t);
void facet_pack_str(msgpack_packer *pk, const char *s);
/* Decode a tensor map (bin or str keys). Returns NULL on success or a message. */
const char *facet_unpack_tensor(const msgpack_object *o, facet_tensor *t);
/* Does key object o equal the C string s (str or bin)? */
int facet_key_eq(const msgpack_object *o, const char *s);
/* The value under key in map m (str or bin keys); NULL when m is NULL, not a map, or lacks it. */
const msgpack_object *facet_msgpack_get(const msgpack_object *m, const char *key);
/* A number, integer or float: returns 1 and sets *v to it, or 0 when o is NULL or no number. */
int facet_msgpack_number(const msgpack_object *o, double *v);

/* ---------------------------------------------------------------- small helpers */

/* FNV-1a's 64-bit offset basis: the hash of no bytes. */
#define FACET_FNV1A_BASIS 0xcbf29ce484222325ULL
/* 64-bit FNV-1a of the n bytes at p, carried on from h: facet_fnv1a(FACET_FNV1A_BASIS, p, n) is
 * their hash, and feeding a result back in hashes a concatenation piece by piece. */
uint64_t facet_fnv1a(uint64_t h, const void *p, size_t n);

/* The folder of the running program (read from /proc/self/exe), where the other facet tools are
 * installed beside it; NULL when it cannot be found. */
const char *facet_tools_dir(void);

/* ---------------------------------------------------------------- files */

/* Atomic file output: write to a temp file beside path, then facet_atomic_commit fsyncs and renames.
 * facet_atomic_abort unlinks the temp file. An atexit/signal-safe cleanup removes temp files left
 * by a die(). */
typedef struct {
	FILE *f;
	char *path;
	char *tmp;
} facet_atomic;
int facet_atomic_open(facet_atomic *a, const char *path); /* 0 ok, -1 errno set */
int facet_atomic_commit(facet_atomic *a);                 /* 0 ok, -1 errno set (temp removed) */
void facet_atomic_abort(facet_atomic *a);

#endif
