/* facet: the front command. `facet VERB ARGS...` runs facet-VERB, as git does. */
#include "facet.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "Usage: facet VERB [ARG]...\n"
    "Run the facet tool facet-VERB with the given arguments. The tool is looked for beside this\n"
    "program first, then on PATH. Each tool has its own --help and man page.\n"
    "\n"
    "Verbs: decode detect resize synth label split take dump eda train quantize score\n"
    "       report compare predict\n"
    "\n"
    "  -h, --help       show this help and exit\n"
    "  -V, --version    show the version and exit\n"
    "\n"
    "Exit status: that of the tool; 2 for a usage error; 127 if the tool is not found.\n";

static void run_verb(const char *verb, char **argv)
{
	const char *dir = facet_tools_dir();
	char name[128];

	if (strchr(verb, '/') || strlen(verb) > 64)
		usage_error("'%s' is not a facet verb", verb);
	snprintf(name, sizeof name, "facet-%s", verb);
	argv[0] = name;
	if (dir) {
		char path[PATH_MAX + 256];
		snprintf(path, sizeof path, "%s/%s", dir, name);
		execv(path, argv);
	}
	execvp(name, argv);
	if (errno == ENOENT)
		die_status(127, "'%s' is not a facet verb (no %s found); see 'facet --help'", verb,
		           name);
	die_status(126, "cannot run %s:", name);
}

int main(int argc, char **argv)
{
	facet_init("facet");
	if (argc < 2)
		usage_error("name a verb, e.g. facet decode --help");
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		facet_help(usage);
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)
		facet_version();
	if (argv[1][0] == '-')
		usage_error("unknown option '%.*s'", (int)strcspn(argv[1], "="), argv[1]);
	run_verb(argv[1], argv + 1);
	return 127;
}
