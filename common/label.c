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
	long v;

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
	v = field_value(f[0], fl[0]);
	if (v < 0 || v > FACET_AGE_MAX)
		out->error = "age field is not an integer in 0..130";
	else
		out->age = (int)v;
	v = field_value(f[1], fl[1]);
	if (v < 0 || v > 1) {
		if (!out->error)
			out->error = "gender field is not 0 or 1";
	} else {
		out->gender = (int)v;
	}
	if (nf < 3) {
		if (!out->error)
			out->error = "no race field in the name";
		return;
	}
	if (nf == 3) {
		/* AGE_GENDER_TIMESTAMP...: the third field is the timestamp, not a race */
		if (!out->error)
			out->error = "no race field in the name";
		return;
	}
	v = field_value(f[2], fl[2]);
	if (v < 0 || v > 4) {
		if (!out->error)
			out->error = "race field is not an integer in 0..4";
	} else {
		out->ethnicity = (int)v;
	}
}
