/* facet-resize: change the geometry or the channels of a stream's images. */
#include "facet.h"
#include "image.h"

#include <getopt.h>
#include <string.h>

static const char usage[] =
    "Usage: facet-resize [OPTION]...\n"
    "Read a facet stream on standard input and write it to standard output with each record's\n"
    "\"image\" (uint8 [H, W, C]) resized to WxH and/or converted to grey or RGB. Every other\n"
    "key passes through unchanged, in order; a record without an image passes through whole.\n"
    "Shrinking averages the source area under each output pixel; enlarging is bilinear.\n"
    "\n"
    "  -s, --size WxH       output size (default: keep the size)\n"
    "      --fit MODE       how to meet a different aspect ratio: crop (default: scale to\n"
    "                       cover WxH, keep the centre), stretch (scale each axis), pad\n"
    "                       (scale to fit inside, centre it on --pad-value)\n"
    "      --pad-value V    grey level 0..255 of the padding (default 0)\n"
    "  -g, --gray           one grey channel (BT.601 luma)\n"
    "      --rgb            three channels (grey is replicated)\n"
    "  -q, --quiet          no summary line\n"
    "  -h, --help           show this help and exit\n"
    "  -V, --version        show the version and exit\n"
    "\n"
    "Exit status: 0 ok, 1 bad input stream or write error, 2 usage error.\n";

struct opts {
	int width, height; /* 0 = keep */
	int channels;      /* 0 = keep */
	facet_fit fit;
	int pad_value;
};

static void parse_options(int argc, char **argv, struct opts *o)
{
	enum { OPT_FIT = 256, OPT_PAD_VALUE, OPT_RGB };
	static const struct option longopts[] = {
	    {"size", required_argument, NULL, 's'},
	    {"fit", required_argument, NULL, OPT_FIT},
	    {"pad-value", required_argument, NULL, OPT_PAD_VALUE},
	    {"gray", no_argument, NULL, 'g'},
	    {"grey", no_argument, NULL, 'g'},
	    {"rgb", no_argument, NULL, OPT_RGB},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	int c;

	memset(o, 0, sizeof *o);
	o->fit = FACET_FIT_CROP;
	while ((c = facet_getopt(argc, argv, "s:gqhV", longopts)) != -1) {
		switch (c) {
		case 's':
			facet_parse_size("--size", optarg, &o->width, &o->height);
			break;
		case OPT_FIT:
			if (facet_fit_parse(optarg, &o->fit) != 0)
				usage_error("--fit takes crop, stretch or pad, not '%s'", optarg);
			break;
		case OPT_PAD_VALUE:
			o->pad_value = (int)facet_parse_long("--pad-value", optarg, 0, 255);
			break;
		case 'g':
			if (o->channels == 3)
				usage_error("--gray and --rgb exclude each other");
			o->channels = 1;
			break;
		case OPT_RGB:
			if (o->channels == 1)
				usage_error("--gray and --rgb exclude each other");
			o->channels = 3;
			break;
		default:
			facet_std_option(c, usage);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s' (the stream comes on standard input)",
		            argv[optind]);
	if (!o->width && !o->channels)
		usage_error("nothing to do: give --size, --gray or --rgb");
}

/* Resize r's image in place (as a staged change). 1 resized, 0 no image. Dies on a bad one. */
static int resize_record(facet_record *r, const struct opts *o, uint64_t n)
{
	facet_tensor in, out;
	const char *err;
	char id[128];

	if (!facet_record_tensor(r, "image", &in))
		return 0;
	if (facet_image_fit(&in, o->width ? o->width : (int)in.shape[1],
	                    o->height ? o->height : (int)in.shape[0],
	                    o->channels ? o->channels : (int)in.shape[2], o->fit, o->pad_value,
	                    &out, &err) != 0)
		die("cannot resize the image: %s (stdin, record %llu, id '%s')", err,
		    (unsigned long long)n, facet_record_id_str(r, id, sizeof id));
	facet_record_set_tensor(r, "image", &out);
	facet_tensor_free(&out);
	return 1;
}

int main(int argc, char **argv)
{
	struct opts o;
	facet_reader *rd;
	facet_writer *w;
	facet_record *r;
	uint64_t resized = 0, without = 0;

	facet_init("facet-resize");
	parse_options(argc, argv, &o);

	rd = facet_reader_open(stdin, "stdin");
	w = facet_writer_open(stdout, "stdout");
	while (facet_reader_next(rd, &r)) {
		if (resize_record(r, &o, facet_reader_count(rd)))
			resized++;
		else
			without++;
		facet_writer_put(w, r);
	}
	facet_writer_close(w);
	facet_reader_close(rd);

	if (without)
		facet_info("resized %llu images, passed %llu records without an image through",
		           (unsigned long long)resized, (unsigned long long)without);
	else
		facet_info("resized %llu images", (unsigned long long)resized);
	return FACET_EXIT_OK;
}
