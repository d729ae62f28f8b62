/* Labels from names and tables. */
#ifndef FACET_LABEL_H
#define FACET_LABEL_H

#include "facet.h"

typedef struct {
	int age, gender, ethnicity; /* -1 when unknown */
	const char *error;          /* NULL when every field parsed, else the first problem */
} facet_labels;

/* Parse a UTKFace name "AGE_GENDER_RACE_TIMESTAMP.jpg.chip.jpg" (a leading directory is ignored).
 * Fields that parse and are in range are set; the rest stay -1 and error says why. Never guesses:
 * a name with three fields is AGE_GENDER_TIMESTAMP (race missing), not AGE_GENDER_RACE. */
void facet_utk_parse(const char *name, size_t len, facet_labels *out);

/* The length of the photo's id in a face's id "SOURCE#K" (facet-detect's), K decimal digits;
 * len itself when the id has no such ending. */
size_t facet_face_source_len(const char *id, size_t len);

#endif
