/*
 * Fuzz target: the reference notebook's CSV reader in facet-decode (header mapping and row parser:
 * age, ethnicity, gender, img_name, pixels as 2304 space-separated values).
 *
 * Those functions are static inside tools/facet-decode.c, so the harness compiles that file in
 * with its main() renamed. Properties: a row is either rejected with a message, or gives labels in
 * range, a non-empty id and a 48x48x1 image.
 */
#include "fuzz.h"

#define main facet_decode_main
#include "../tools/facet-decode.c"
#undef main

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_cstr(data, size), *line, *next;
	facet_image_spec spec = {0, 0, 1, FACET_ENGINE_AUTO};
	input in;
	char msg[256];
	long lineno = 0;

	memset(&in, 0, sizeof in);
	for (line = text; line; line = next) {
		size_t n = strcspn(line, "\n");
		next = line[n] ? line + n + 1 : NULL;
		line[n] = '\0';
		while (n > 0 && line[n - 1] == '\r')
			line[--n] = '\0';
		if (++lineno == 1) {
			if (csv_header(&in, line, msg, sizeof msg) != 0) {
				FUZZ_ASSERT(msg[0] != '\0');
				break;
			}
			continue;
		}
		if (n == 0)
			continue;
		{
			item it;
			memset(&it, 0, sizeof it);
			it.kind = ITEM_ROW;
			it.text = line;
			it.line = lineno;
			it.csv_col = in.csv_col;
			it.ncols = in.ncols;
			do_row(&it, &spec);
			if (it.failed) {
				FUZZ_ASSERT(it.msg[0] && !it.id && !it.image.owned);
				continue;
			}
			FUZZ_ASSERT(it.id && it.id[0]);
			FUZZ_ASSERT(it.age >= 0 && it.age <= FACET_AGE_MAX);
			FUZZ_ASSERT(it.gender >= 0 && it.gender <= FACET_GENDER_MAX);
			FUZZ_ASSERT(it.ethnicity >= 0 && it.ethnicity <= FACET_ETHNICITY_MAX);
			FUZZ_ASSERT(it.image.ndim == 3 && it.image.shape[0] == 48 &&
			            it.image.shape[1] == 48 && it.image.shape[2] == 1 &&
			            it.image.nbytes == 48 * 48);
			free(it.id);
			facet_tensor_free(&it.image);
		}
	}
	free(text);
	return 0;
}
