/*
 * Fuzz target: the stream reader with its validation (facet_reader_try_next), the record accessors,
 * staged changes, cloning and the writer.
 *
 * Properties checked on every record the reader accepts:
 *   - every accessor agrees with the validation (labels in range, tensors whose bytes match);
 *   - writing the record and reading it back gives one valid record, and writing that again gives
 *     the same bytes (the writer's output is a fixed point);
 *   - a clone with staged changes is still a valid record.
 * Input that the reader rejects must come with a message naming the record and the byte offset.
 */
#include "fuzz.h"

#include "facet.h"

#define MAX_RECORDS 64

/* Write r to a memory buffer; returns the malloc'd bytes. */
static char *write_record(const facet_record *r, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	facet_writer *w;

	FUZZ_ASSERT(f);
	w = facet_writer_open(f, "memory");
	facet_writer_put(w, r);
	facet_writer_close(w);
	FUZZ_ASSERT(fclose(f) == 0);
	return buf;
}

static void check_accessors(const facet_record *r)
{
	char id[64];
	size_t n;
	int64_t v;
	facet_tensor t;
	facet_pred p;
	const msgpack_object *m = facet_record_map(r);

	FUZZ_ASSERT(m->type == MSGPACK_OBJECT_MAP);
	facet_record_id_str(r, id, sizeof id);
	FUZZ_ASSERT(strlen(id) < sizeof id);
	for (int k = 0; k < FACET_N_LABELS; k++)
		if (facet_record_int(r, facet_label_keys[k], &v))
			FUZZ_ASSERT(v >= 0 && v <= facet_label_max[k]);
	if (facet_record_tensor(r, "image", &t)) {
		int64_t count = facet_tensor_count(&t);
		FUZZ_ASSERT(count >= 0);
		FUZZ_ASSERT((size_t)count * facet_dtype_size(t.dtype) == t.nbytes);
		FUZZ_ASSERT(t.ndim == 3 && (t.shape[2] == 1 || t.shape[2] == 3));
		if (t.nbytes) /* touch the first and last byte: ASan checks they are inside */
			FUZZ_ASSERT(((const uint8_t *)t.data)[0] +
			                ((const uint8_t *)t.data)[t.nbytes - 1] <
			            512);
	}
	if (facet_record_pred(r, &p)) {
		if (p.has_gender)
			FUZZ_ASSERT(p.gender[0] >= 0 && p.gender[0] <= 1);
		if (p.has_ethnicity)
			for (int i = 0; i < FACET_N_ETHNICITY; i++)
				FUZZ_ASSERT(p.ethnicity[i] >= 0 && p.ethnicity[i] <= 1);
	}
	if (facet_record_str(r, "split", &n))
		FUZZ_ASSERT(n == 3 || n == 4 || n == 5);
}

static void check_roundtrip(const facet_record *r)
{
	size_t len1, len2;
	char *b1 = write_record(r, &len1), *b2;
	FILE *f = fuzz_memfile((const uint8_t *)b1, len1);
	facet_reader *rd = facet_reader_open(f, "rewritten");
	facet_record *again = NULL;
	const char *err = NULL;

	FUZZ_ASSERT(facet_reader_try_next(rd, &again, &err) == 1);
	check_accessors(again);
	b2 = write_record(again, &len2);
	FUZZ_ASSERT(len1 == len2 && memcmp(b1, b2, len1) == 0);
	FUZZ_ASSERT(facet_reader_try_next(rd, &again, &err) == 0);
	facet_reader_close(rd);
	free(b1);
	free(b2);
}

static void check_changes(const facet_record *r)
{
	facet_record *c = facet_record_clone(r);
	facet_pred p = {.has_age = 1, .has_gender = 1, .age = 33, .gender = {0.25, 0.75}};
	size_t n;
	char *b;

	FUZZ_ASSERT(facet_record_validate(c) == NULL);
	facet_record_set_int(c, "age", 42);
	facet_record_set_str(c, "split", "val", 3);
	facet_record_set_pred(c, &p);
	facet_record_set_double(c, "score", 0.5);
	facet_record_del(c, "gender");
	facet_record_del(c, "no such key");
	FUZZ_ASSERT(facet_record_validate(c) == NULL);
	b = write_record(c, &n);
	free(b);
	facet_record_free(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fuzz_memfile(data, size);
	facet_reader *rd = facet_reader_open(f, "fuzz");
	facet_record *r = NULL;
	const char *err = NULL;
	int rc, records = 0;

	while (records < MAX_RECORDS && (rc = facet_reader_try_next(rd, &r, &err)) == 1) {
		FUZZ_ASSERT(facet_record_validate(r) == NULL);
		check_accessors(r);
		check_roundtrip(r);
		check_changes(r);
		records++;
	}
	if (records < MAX_RECORDS && rc < 0)
		FUZZ_ASSERT(err && strstr(err, " (fuzz, record ") && strstr(err, ", byte "));
	FUZZ_ASSERT(facet_reader_count(rd) == (uint64_t)records);
	facet_reader_close(rd);
	return 0;
}
