/* facet-take: keep the records of one or more splits. */
#include "facet.h"

#include <getopt.h>
#include <string.h>

static const char usage[] =
    "Usage: facet-take [OPTION]... PART...\n"
    "Copy the records of standard input whose \"split\" is one of PART (train, val, test) to\n"
    "standard output. Records without a split are an error (run facet-split first).\n"
    "\n"
    "  -q, --quiet      no summary line\n"
    "  -h, --help       show this help and exit\n"
    "  -V, --version    show the version and exit\n"
    "\n"
    "Exit status: 0 ok, 1 bad input or write error, 2 usage error.\n";

static const char *const parts[3] = {"train", "val", "test"};

static void parse_options(int argc, char **argv, int *want)
{
	static const struct option longopts[] = {{"quiet", no_argument, NULL, 'q'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {"version", no_argument, NULL, 'V'},
	                                         {NULL, 0, NULL, 0}};
	int c;

	while ((c = facet_getopt(argc, argv, "qhV", longopts)) != -1) {
		switch (c) {
		default:
			facet_std_option(c, usage);
		}
	}
	if (optind == argc)
		usage_error("name at least one PART: train, val or test");
	for (; optind < argc; optind++) {
		int k = facet_name_index(argv[optind], parts, 3);
		if (k < 0)
			usage_error("'%s' is not train, val or test", argv[optind]);
		want[k] = 1;
	}
}

int main(int argc, char **argv)
{
	int want[3] = {0, 0, 0};
	uint64_t kept = 0, total = 0;
	facet_reader *rd;
	facet_writer *w;
	facet_record *r;

	facet_init("facet-take");
	parse_options(argc, argv, want);
	rd = facet_reader_open(stdin, "stdin");
	w = facet_writer_open(stdout, "stdout");
	while (facet_reader_next(rd, &r)) {
		size_t len;
		const char *s = facet_record_str(r, "split", &len);
		int k;
		total++;
		if (!s)
			die("record %llu has no split (run facet-split first) (stdin)",
			    (unsigned long long)total);
		for (k = 0; k < 3 && !(strlen(parts[k]) == len && !memcmp(parts[k], s, len)); k++)
			;
		if (want[k]) {
			facet_writer_put(w, r);
			kept++;
		}
	}
	facet_writer_close(w);
	facet_info("kept %llu of %llu records", (unsigned long long)kept, (unsigned long long)total);
	facet_reader_close(rd);
	return 0;
}
