/*
 * Fuzz target: facet-label's --csv reader (header mapping to id/age/gender/ethnicity columns, row
 * parser, the id hash table).
 *
 * Those functions are static inside tools/facet-label.c, so the harness compiles that file in
 * with its main() renamed, and feeds the input through a memfd FILE. Properties: the reader either
 * fails with a message that names the file, or every id it kept is non-empty, found again by its
 * own name, and has labels in range or -1 (an empty cell).
 */
#include "fuzz.h"

#define main facet_label_main
#include "../tools/facet-label.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fuzz_memfile(data, size);
	table t;
	char err[512];
	size_t kept = 0;

	memset(&t, 0, sizeof t);
	err[0] = '\0';
	if (read_csv(f, "fuzz.csv", &t, err, sizeof err) != 0) {
		size_t n = strlen(err);
		FUZZ_ASSERT(n > 0 && err[0] != ' ' && strstr(err, " (fuzz.csv") &&
		            err[n - 1] == ')');
	} else {
		for (size_t i = 0; i < t.size; i++) {
			row *r = &t.slots[i];
			if (!r->id)
				continue;
			kept++;
			FUZZ_ASSERT(r->id[0] != '\0');
			FUZZ_ASSERT(table_find(&t, r->id, strlen(r->id), 0) == r);
			FUZZ_ASSERT(r->l.age >= -1 && r->l.age <= FACET_AGE_MAX);
			FUZZ_ASSERT(r->l.gender >= -1 && r->l.gender <= FACET_GENDER_MAX);
			FUZZ_ASSERT(r->l.ethnicity >= -1 && r->l.ethnicity <= FACET_ETHNICITY_MAX);
		}
		FUZZ_ASSERT(kept == t.used);
	}
	table_free(&t);
	fclose(f);
	return 0;
}
