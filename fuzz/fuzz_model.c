/*
 * Fuzz target: the model-file and checkpoint loader (facet_model_load, facet-model(5)), and
 * the ensemble loader (facet_model_load_all: several models one after the other).
 * The loader takes a path, so the input goes through a memfd named by /proc/self/fd/N.
 * Properties: a rejected file comes with a message naming the path; an accepted one gives a net
 * whose parameters all have data, and (for a checkpoint) a training state that frees cleanly.
 * A file the single loader accepts is an ensemble of one for the ensemble loader.
 */
#include "fuzz.h"

#include "nn/nn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *f = fuzz_memfile(data, size);
	char path[64], err[512] = "";
	facet_train_state st;
	facet_net *net;

	snprintf(path, sizeof path, "/proc/self/fd/%d", fileno(f));
	facet_train_state_init(&st);
	net = facet_model_load(path, &st, err, sizeof err);
	int single = net != NULL;
	if (!net) {
		FUZZ_ASSERT(strstr(err, path) && strncmp(err, path, strlen(path)) != 0);
	} else {
		for (int i = 0; i < net->nparam; i++)
			FUZZ_ASSERT(net->param[i]->data && net->param[i]->n > 0);
		FUZZ_ASSERT(st.nlog >= 0);
		facet_net_free(net);
	}
	facet_train_state_free(&st);

	facet_net **all = NULL;
	int k = facet_model_load_all(path, &all, err, sizeof err);
	if (k < 0) {
		FUZZ_ASSERT(!single && strstr(err, path) && strncmp(err, path, strlen(path)) != 0);
	} else {
		FUZZ_ASSERT(k >= 1 && k <= FACET_MAX_MEMBERS && (!single || k == 1));
		for (int m = 0; m < k; m++) {
			for (int i = 0; i < all[m]->nparam; i++)
				FUZZ_ASSERT(all[m]->param[i]->data && all[m]->param[i]->n > 0);
			facet_net_free(all[m]);
		}
		free(all);
	}
	fclose(f);
	return 0;
}
