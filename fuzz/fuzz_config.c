/*
 * Fuzz target: the network-config parser (facet_net_parse, facet-config(5)).
 * Properties: a rejected config comes with "what (NAME, line N)"; an accepted one prints back
 * (facet_net_config_string) as a config that parses again and prints back identically.
 */
#include "fuzz.h"

#include "nn/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "";
	char *text = fuzz_cstr(data, size);
	facet_net *net = facet_net_parse(text, "fuzz.cfg", err, sizeof err);

	if (!net) {
		size_t n = strlen(err);
		FUZZ_ASSERT(n > 0 && err[0] != ' ' && strstr(err, " (fuzz.cfg, line ") &&
		            err[n - 1] == ')');
	} else {
		char *s1 = facet_net_config_string(net), *s2;
		facet_net *again = facet_net_parse(s1, "echo.cfg", err, sizeof err);
		if (!again)
			fprintf(stderr, "the echoed config does not parse: %s\n---\n%s---\n", err,
			        s1);
		FUZZ_ASSERT(again);
		s2 = facet_net_config_string(again);
		FUZZ_ASSERT(strcmp(s1, s2) == 0);
		free(s1);
		free(s2);
		facet_net_free(again);
		facet_net_free(net);
	}
	free(text);
	return 0;
}
