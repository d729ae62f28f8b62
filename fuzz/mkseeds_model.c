/*
 * mkseeds_model: seed corpus of the model-loader fuzz target, written by facet_model_save.
 *
 *   mkseeds_model DIR   writes DIR/model/{model-*,checkpoint-*}: small nets, plain and resumable
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "facet.h"
#include "nn/nn.h"

static const char *const configs[][2] = {
    {"gender", "[input] width=4 height=4\n[head gender]\n[flatten]\n[dense] units=1\n"},
    {"multitask", "[input] width=6 height=6 channels=3 normalise=center\n"
                  "[conv] filters=2 size=3 activation=relu\n[batchnorm]\n[maxpool]\n[gap]\n"
                  "[head age] loss=l1\n[dense] units=1\n"
                  "[head gender]\n[dense] units=1\n"
                  "[head ethnicity]\n[dense] units=5 activation=softmax\n"},
};

static void save(const char *dir, const char *name, facet_net *net, facet_train_state *st)
{
	char path[4096], err[512];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (facet_model_save(net, st, st != NULL, path, err, sizeof err) != 0)
		die("%s", err);
}

int main(int argc, char **argv)
{
	char dir[4096], err[512], name[128];

	facet_init("mkseeds_model");
	if (argc != 2)
		usage_error("usage: mkseeds_model DIR");
	snprintf(dir, sizeof dir, "%s/model", argv[1]);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		die("cannot create %s:", dir);
	for (size_t i = 0; i < sizeof configs / sizeof configs[0]; i++) {
		facet_net *net = facet_net_parse(configs[i][1], configs[i][0], err, sizeof err);
		facet_train_state st;
		facet_epoch_log e;

		if (!net)
			die("%s", err);
		facet_net_init_params(net, 1);
		snprintf(name, sizeof name, "model-%s", configs[i][0]);
		save(dir, name, net, NULL);

		facet_train_state_init(&st);
		st.seed = 7;
		st.epochs = 3;
		st.epoch = 1;
		st.step = 2;
		st.t = 5;
		st.plateau_lr = 0.001f;
		memset(&e, 0, sizeof e);
		e.epoch = 1;
		e.lr = 0.001;
		e.train.loss = 0.5;
		e.val.loss = 0.6;
		e.has_val = 1;
		facet_train_state_log(&st, &e);
		facet_train_state_keep_best(&st, net);
		snprintf(name, sizeof name, "checkpoint-%s", configs[i][0]);
		save(dir, name, net, &st);
		facet_train_state_free(&st);
		facet_net_free(net);
	}
	return 0;
}
