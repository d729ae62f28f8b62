/* facet-synth: labelled synthetic face-like images whose labels can be learnt from the pixels. */
#include "facet.h"

#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "Usage: facet-synth [OPTION]...\n"
    "Write N synthetic labelled face-like images as a facet stream on standard output:\n"
    "{\"id\": \"synth-000001\", \"image\": uint8 [H, W, C], \"age\", \"gender\", \"ethnicity\"}.\n"
    "The labels are drawn at random (age 1..90, gender 0/1, ethnicity 0..4) and drive the\n"
    "picture: age the face size, skin texture (wrinkles) and hair grey; gender the jaw and\n"
    "the hair length; ethnicity the skin tone (five bands that overlap a little). Position,\n"
    "brightness, background, hair colour and noise vary at random. The same seed gives the\n"
    "same bytes, and image k is the same whatever N is.\n"
    "\n"
    "  -n, --count N      number of images (default 100)\n"
    "  -S, --seed S       random seed, 0..2^63 (default 1)\n"
    "  -s, --size WxH     image size (default 64x64)\n"
    "  -g, --gray         one grey channel instead of RGB\n"
    "      --missing P    drop each label with probability P (0..1, default 0)\n"
    "  -q, --quiet        no summary line\n"
    "  -h, --help         show this help and exit\n"
    "  -V, --version      show the version and exit\n"
    "\n"
    "Exit status: 0 ok, 1 write error, 2 usage error.\n";

struct opts {
	long count;
	uint64_t seed;
	int width, height, channels;
	double missing;
};

static void parse_options(int argc, char **argv, struct opts *o)
{
	enum { OPT_MISSING = 256 };
	static const struct option longopts[] = {{"count", required_argument, NULL, 'n'},
	                                         {"seed", required_argument, NULL, 'S'},
	                                         {"size", required_argument, NULL, 's'},
	                                         {"gray", no_argument, NULL, 'g'},
	                                         {"grey", no_argument, NULL, 'g'},
	                                         {"missing", required_argument, NULL, OPT_MISSING},
	                                         {"quiet", no_argument, NULL, 'q'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {"version", no_argument, NULL, 'V'},
	                                         {NULL, 0, NULL, 0}};
	int c;

	o->count = 100;
	o->seed = 1;
	o->width = o->height = 64;
	o->channels = 3;
	o->missing = 0;
	while ((c = facet_getopt(argc, argv, "n:S:s:gqhV", longopts)) != -1) {
		switch (c) {
		case 'n':
			o->count = facet_parse_long("--count", optarg, 0, 100000000);
			break;
		case 'S':
			o->seed = (uint64_t)facet_parse_long("--seed", optarg, 0, LONG_MAX);
			break;
		case 's':
			facet_parse_size("--size", optarg, &o->width, &o->height);
			if ((int64_t)o->width * o->height > 4096 * 4096)
				usage_error("--size takes at most 4096x4096 pixels, not '%s'",
				            optarg);
			break;
		case 'g':
			o->channels = 1;
			break;
		case OPT_MISSING:
			o->missing = facet_parse_double("--missing", optarg, 0, 1);
			break;
		default:
			facet_std_option(c, usage);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
}

/* ---------------------------------------------------------------- random numbers */

/* splitmix64: one independent stream per (seed, image, purpose). */
typedef struct {
	uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static rng rng_for(uint64_t seed, uint64_t index, uint64_t purpose)
{
	rng r = {seed * 0xD1B54A32D192ED03ULL ^ index * 0x8CB92BA72F3D8DD7ULL ^ purpose};
	rng_next(&r);
	r.s ^= rng_next(&r);
	return r;
}

/* Uniform in [0, 1). */
static double uniform(rng *r)
{
	return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

static double uniform_in(rng *r, double lo, double hi)
{
	return lo + (hi - lo) * uniform(r);
}

/* Standard normal (Box-Muller), for the per-face draws. */
static double normal(rng *r)
{
	double u = uniform(r), v = uniform(r);
	return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

/* Roughly normal, mean 0, s.d. 1, from one draw (the sum of four 16-bit uniforms), for the
 * per-pixel noise where Box-Muller would cost more than all the drawing. */
static double pixel_noise(rng *r)
{
	uint64_t x = rng_next(r);
	double s = (double)(x & 0xFFFF) + (double)((x >> 16) & 0xFFFF) +
	           (double)((x >> 32) & 0xFFFF) + (double)(x >> 48);
	return (s - 2 * 65535.0) * (1.0 / 37837.2);
}

static double len2(double a, double b)
{
	return sqrt(a * a + b * b);
}

/* ---------------------------------------------------------------- the face */

typedef struct {
	int age, gender, ethnicity;
} labels;

/* Everything a face's pixels depend on, drawn from its labels and the random stream. */
typedef struct {
	double cx, cy, rx, ry; /* face ellipse, in units of the image side */
	double jaw;            /* width at the chin / width at the cheeks */
	double skin[3];        /* RGB 0..255 */
	double hair[3];        /* after greying */
	int long_hair;
	double wrinkles; /* 0..1 */
	double texture;  /* noise s.d. on the skin */
	double eye_r;    /* eye radius, units of rx */
	double bg_top[3], bg_bottom[3];
	double brightness;
} face;

static labels draw_labels(rng *r)
{
	/* UTKFace's ethnicity mix, roughly: White, Black, Asian, Indian, Other. */
	static const double eth_p[FACET_N_ETHNICITY] = {0.42, 0.19, 0.15, 0.17, 0.07};
	labels l;
	double u;

	l.age = 1 + (int)(uniform(r) * 90);
	l.gender = uniform(r) < 0.5;
	u = uniform(r);
	l.ethnicity = FACET_N_ETHNICITY - 1;
	for (int k = 0; k < FACET_N_ETHNICITY; k++) {
		if (u < eth_p[k]) {
			l.ethnicity = k;
			break;
		}
		u -= eth_p[k];
	}
	return l;
}

static face draw_face(rng *r, const labels *l)
{
	/* Skin tone bands: the jitter below makes neighbouring bands overlap a little. */
	static const double tone[FACET_N_ETHNICITY][3] = {
	    {226, 188, 164}, {102, 68, 50}, {216, 180, 132}, {160, 110, 80}, {190, 142, 108}};
	double growth = fmin(l->age, 20) / 20.0; /* children have smaller faces */
	double old = fmax(0.0, fmin(1.0, (l->age - 30) / 60.0));
	double grey = fmax(0.0, fmin(1.0, (l->age - 35) / 50.0));
	double hair_l = uniform_in(r, 20, 95), tone_j = normal(r) * 9;
	face f;

	f.rx = (0.20 + 0.09 * growth) * uniform_in(r, 0.95, 1.05);
	f.ry = f.rx * uniform_in(r, 1.25, 1.4);
	f.cx = 0.5 + uniform_in(r, -0.04, 0.04);
	f.cy = 0.52 + uniform_in(r, -0.04, 0.04);
	f.jaw = (l->gender ? 0.62 : 0.92) + uniform_in(r, -0.06, 0.06);
	f.long_hair = l->gender ? uniform(r) < 0.9 : uniform(r) < 0.1;
	for (int c = 0; c < 3; c++)
		f.skin[c] = tone[l->ethnicity][c] + tone_j + normal(r) * 4;
	for (int c = 0; c < 3; c++) {
		double h = hair_l * (c == 0 ? 1.0 : c == 1 ? 0.8 : 0.6);
		f.hair[c] = h + (200 - h) * grey;
	}
	f.wrinkles = old * uniform_in(r, 0.7, 1.0);
	f.texture = 2 + 9 * old;
	f.eye_r = 0.13 - 0.04 * growth;
	for (int c = 0; c < 3; c++) {
		f.bg_top[c] = uniform_in(r, 30, 230);
		f.bg_bottom[c] = f.bg_top[c] * uniform_in(r, 0.6, 1.1);
	}
	f.brightness = uniform_in(r, 0.85, 1.15);
	return f;
}

/* Coverage (0..1) of a point at normalised radius d of a shape whose radius is px pixels: a
 * one-pixel soft edge. */
static double cover(double d, double px)
{
	double a = (1.0 - d) * px + 0.5;
	return a < 0 ? 0 : a > 1 ? 1 : a;
}

static void mix(double *dst, const double *src, double a)
{
	for (int c = 0; c < 3; c++)
		dst[c] += (src[c] - dst[c]) * a;
}

/* Render face f into img [h, w, channels]. */
static void render(const face *f, rng *r, int w, int h, int channels, uint8_t *img)
{
	static const double eye_col[3] = {35, 28, 25}, mouth_col[3] = {150, 60, 60};
	double side = fmin(w, h), px_rx = f->rx * side;

	for (int y = 0; y < h; y++) {
		double v = (y + 0.5) / h;
		for (int x = 0; x < w; x++) {
			double u = (x + 0.5) / w, p[3], dx = u - f->cx, dy = v - f->cy, t, rx, d;

			for (int c = 0; c < 3; c++)
				p[c] = f->bg_top[c] + (f->bg_bottom[c] - f->bg_top[c]) * v;

			/* long hair, behind the head down to the shoulders */
			if (f->long_hair && v < f->cy + 1.25 * f->ry) {
				d = len2(dx / (f->rx * 1.3), (dy - 0.15 * f->ry) / (f->ry * 1.3));
				mix(p, f->hair, cover(d, px_rx));
			}

			/* the face: an ellipse whose lower half narrows to the jaw */
			t = dy > 0 ? fmin(dy / f->ry, 1.0) : 0;
			rx = f->rx * (1.0 - (1.0 - f->jaw) * t * t);
			d = len2(dx / rx, dy / f->ry);
			if (d < 1.2) {
				double s[3], a = cover(d, px_rx), shade;
				memcpy(s, f->skin, sizeof s);
				/* wrinkles: horizontal lines on the forehead and under the eyes */
				if (f->wrinkles > 0 && (dy / f->ry < -0.3 ||
				                        (dy > 0.05 * f->ry && dy < 0.3 * f->ry))) {
					double line = sin(2 * M_PI * dy / (0.11 * f->ry));
					shade = 1.0 - 0.35 * f->wrinkles * (line > 0.4 ? 1.0 : 0.0);
					for (int c = 0; c < 3; c++)
						s[c] *= shade;
				}
				/* eyes */
				for (int e = -1; e <= 1; e += 2) {
					double ed =
					    len2((dx - e * 0.38 * f->rx) / (f->eye_r * f->rx),
					         (dy + 0.12 * f->ry) / (0.7 * f->eye_r * f->rx));
					mix(s, eye_col, cover(ed, f->eye_r * px_rx));
				}
				/* mouth */
				{
					double md = len2(dx / (0.32 * f->rx),
					                 (dy - 0.5 * f->ry) / (0.06 * f->ry));
					mix(s, mouth_col, cover(md, 0.06 * f->ry * side));
				}
				for (int c = 0; c < 3; c++)
					s[c] += pixel_noise(r) * f->texture * a;
				mix(p, s, a);
			}

			/* hair on top of the head */
			d = len2(dx / (f->rx * 1.08), (dy + 0.08 * f->ry) / (f->ry * 1.05));
			if (dy < -0.45 * f->ry ||
			    (f->long_hair && dy < -0.2 * f->ry && fabs(dx) > 0.8 * f->rx)) {
				double a = cover(d, px_rx);
				mix(p, f->hair, a);
			}

			for (int c = 0; c < 3; c++)
				p[c] = p[c] * f->brightness + pixel_noise(r) * 3.0;
			if (channels == 1) {
				double g = 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2];
				*img++ = (uint8_t)(g < 0 ? 0 : g > 255 ? 255 : g + 0.5);
			} else {
				for (int c = 0; c < 3; c++)
					*img++ = (uint8_t)(p[c] < 0     ? 0
					                   : p[c] > 255 ? 255
					                                : p[c] + 0.5);
			}
		}
	}
}

/* ---------------------------------------------------------------- records */

static void write_one(facet_writer *wr, const struct opts *o, long i, facet_tensor *img)
{
	rng r = rng_for(o->seed, (uint64_t)i, 1), pix = rng_for(o->seed, (uint64_t)i, 2),
	    drop = rng_for(o->seed, (uint64_t)i, 3);
	labels l = draw_labels(&r);
	face f = draw_face(&r, &l);
	facet_record *rec = facet_record_new();
	char id[32];

	render(&f, &pix, o->width, o->height, o->channels, img->owned);
	snprintf(id, sizeof id, "synth-%06ld", i);
	facet_record_set_str(rec, "id", id, strlen(id));
	facet_record_set_tensor(rec, "image", img);
	/* Drawn every time, so that --missing changes nothing else. */
	if (uniform(&drop) >= o->missing)
		facet_record_set_int(rec, "age", l.age);
	if (uniform(&drop) >= o->missing)
		facet_record_set_int(rec, "gender", l.gender);
	if (uniform(&drop) >= o->missing)
		facet_record_set_int(rec, "ethnicity", l.ethnicity);
	facet_writer_put(wr, rec);
	facet_record_free(rec);
}

int main(int argc, char **argv)
{
	struct opts o;
	facet_writer *w;
	facet_tensor img;
	int64_t shape[3];

	facet_init("facet-synth");
	parse_options(argc, argv, &o);

	shape[0] = o.height;
	shape[1] = o.width;
	shape[2] = o.channels;
	facet_tensor_alloc(&img, FACET_U8, 3, shape);
	w = facet_writer_open(stdout, "stdout");
	for (long i = 1; i <= o.count; i++)
		write_one(w, &o, i, &img);
	facet_writer_close(w);
	facet_tensor_free(&img);

	facet_info("wrote %ld images", o.count);
	return FACET_EXIT_OK;
}
