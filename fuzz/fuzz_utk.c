/*
 * Fuzz target: facet_utk_parse, the UTKFace file-name parser (AGE_GENDER_RACE_TIMESTAMP...).
 * Properties: every field is -1 or in range; the name is fully parsed (error NULL) exactly when
 * all three labels are set; parsing never reads outside [name, name + len) (ASan sees to that:
 * the input is passed without a terminating NUL).
 */
#include "fuzz.h"

#include "label.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	facet_labels l;
	char *copy = malloc(size ? size : 1); /* exact size: no NUL for the parser to lean on */

	FUZZ_ASSERT(copy);
	memcpy(copy, data, size);
	facet_utk_parse(copy, size, &l);
	FUZZ_ASSERT(l.age == -1 || (l.age >= 0 && l.age <= FACET_AGE_MAX));
	FUZZ_ASSERT(l.gender == -1 || (l.gender >= 0 && l.gender <= FACET_GENDER_MAX));
	FUZZ_ASSERT(l.ethnicity == -1 || (l.ethnicity >= 0 && l.ethnicity <= FACET_ETHNICITY_MAX));
	FUZZ_ASSERT((l.error == NULL) == (l.age >= 0 && l.gender >= 0 && l.ethnicity >= 0));
	free(copy);
	return 0;
}
