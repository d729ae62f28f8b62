/* Labels from UTKFace file names: AGE_GENDER_RACE_TIMESTAMP.jpg.chip.jpg */
#include "label.h"

#include <ctype.h>
#include <string.h>

/* Parse a decimal field [s, s+n) of at most 9 digits. Returns -1 if it is not one. */
static long field_value(const char *s, size_t n)
{
	long v = 0;
	if (n == 0 || n > 9)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

size_t facet_face_source_len(const char *id, size_t len)
{
	size_t i = len;
	while (i > 0 && id[i - 1] >= '0' && id[i - 1] <= '9')
		i--;
	return i > 1 && i < len && id[i - 1] == '#' ? i - 1 : len;
}

void facet_utk_parse(const char *name, size_t len, facet_labels *out)
{
	const char *f[4];
	size_t fl[4];
	int nf = 0;
	const char *base = name, *p, *end = name + len;
	int *label[FACET_N_LABELS] = {&out->age, &out->gender, &out->ethnicity};
	static const char *const bad_field[FACET_N_LABELS] = {
	    "age field is not an integer in 0..130",
	    "gender field is not 0 or 1",
	    "race field is not an integer in 0..4",
	};

	memset(out, 0, sizeof *out);
	out->age = out->gender = out->ethnicity = -1;
	end = name + facet_face_source_len(name, len); /* a face of a photo: the photo's name */
	for (p = name; p < end; p++) /* basename */
		if (*p == '/')
			base = p + 1;
	/* split the first three '_' separated fields; the rest is the timestamp part */
	p = base;
	while (nf < 4 && p <= end) {
		const char *q = memchr(p, '_', (size_t)(end - p));
		if (!q || nf == 3)
			q = end;
		f[nf] = p;
		fl[nf] = (size_t)(q - p);
		nf++;
		p = q + 1;
		if (q == end)
			break;
	}
	if (nf < 2) {
		out->error = "name is not AGE_GENDER_RACE_TIMESTAMP";
		return;
	}
	/* the race is the third of four fields (AGE_GENDER_TIMESTAMP's third is the timestamp) */
	int have = nf == 4 ? FACET_N_LABELS : FACET_LABEL_ETHNICITY;
	for (int k = 0; k < have; k++) {
		long v = field_value(f[k], fl[k]);
		if (v >= 0 && v <= facet_label_max[k])
			*label[k] = (int)v;
		else if (!out->error)
			out->error = bad_field[k];
	}
	if (have < FACET_N_LABELS && !out->error)
		out->error = "no race field in the name";
}
