/* facet-detect: photos -> one record per face found, aligned to the training crops' geometry. */
#include "face.h"
#include "facet.h"
#include "image.h"
#include "pmap.h"

#include <cblas.h> /* openblas_set_num_threads */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "Usage: facet-detect [OPTION]... [PHOTO|DIR|-]...\n"
    "Find every face in photos and write one record per face on standard output:\n"
    "{\"id\": \"SOURCE#K\", \"box\": [x0, y0, x1, y1], \"score\", \"landmarks\": float32 [68, 2],\n"
    "\"image\": uint8 [N, N, C]}, the image being the face turned, scaled and cut to the geometry\n"
    "of UTKFace's aligned crops (a similarity transform of its 68 landmarks onto their mean\n"
    "positions in those crops), so facet-resize, facet-score and facet-label take it as they take\n"
    "a crop. SOURCE is the id facet-decode gives the photo (its file name); K counts the photo's\n"
    "faces from 0, the detector's most confident first. Boxes and landmarks are in the photo's\n"
    "pixels as a viewer shows it (EXIF orientation applied). C is 3 (RGB) for files, the\n"
    "image's own for stream records.\n"
    "A DIR gives its image files, sorted, as facet-decode does; - (or no argument) reads a facet\n"
    "stream of image records on standard input, whose other keys each face record keeps.\n"
    "Faces are sought with dlib's HOG detector on the photo and on copies turned by -T and +T\n"
    "degrees (--turn), on a copy scaled so that the smallest face sought is 80 pixels wide;\n"
    "landmarks are read at full resolution. A photo with no face gets a line on standard error.\n"
    "\n"
    "  -s, --size N       side of the aligned face (default 200, UTKFace's; NxN accepted)\n"
    "      --min-face PX  smallest face sought, its box side in the photo's pixels (default:\n"
    "                     80, or the photo's longer side / 16 when that is larger, so a camera\n"
    "                     photo is scanned at about 1280 pixels); smaller is slower\n"
    "  -u, --upsample N   seek faces 2^N times smaller than --min-face (0..3, default 0)\n"
    "  -n, --max-faces N  keep the N most confident faces of each photo (default: all)\n"
    "  -1, --largest      keep the face with the largest box only\n"
    "      --turn DEG     also seek faces on copies turned by -DEG and +DEG (0..45, default 10;\n"
    "                     0 seeks upright faces only, three times faster)\n"
    "      --threshold T  detector score a face must pass (default 0; higher: fewer false\n"
    "                     faces, more missed)\n"
    "  -l, --landmarks FILE  dlib's 68-point shape predictor (default: $FACET_LANDMARK_MODEL,\n"
    "                     else " FACET_LANDMARK_MODEL_DEFAULT ")\n"
    "      --max-pixels N refuse photos of more than N pixels, from their header, before\n"
    "                     decoding (default 100000000)\n"
    "  -j, --jobs N       photos in parallel (default: the online cores)\n"
    "  -q, --quiet        no summary line\n"
    "  -h, --help         show this help and exit\n"
    "  -V, --version      show the version and exit\n"
    "\n"
    "Exit status: 0 every photo was read (with or without faces), 1 some could not be read or a\n"
    "write error (the others still come out), 2 usage error.\n";

struct opts {
	facet_find_opts find;
	int min_face; /* 0: automatic */
	int upsample;
	int64_t max_pixels;
	const char *landmarks;
	int jobs;
};

/* ---------------------------------------------------------------- inputs */

enum { IN_FILE, IN_DIR, IN_STREAM };

typedef struct {
	int kind;
	const char *name;
	char **paths; /* IN_DIR, once listed */
	size_t npaths, next;
	facet_reader *rd; /* IN_STREAM, once opened */
	int started;
} input;

/* One photo and, once done, its faces. */
typedef struct {
	char *path;          /* a file, or NULL for a stream record */
	facet_record *rec;   /* a stream record (owned copy) */
	char *where;         /* for messages: the file, or "stdin, record N" */
	char *source;        /* the photo's id */
	int failed;          /* 1: could not be read */
	char msg[512];
	facet_face *faces;
	int nfaces;
} photo;

typedef struct {
	const struct opts *o;
	input *in;
	size_t nin, cur;
	facet_hog **hog; /* one per thread */
	facet_landmarker *lm; /* once loaded: landmarker() */
	pthread_t loader;     /* loading lm while the first photos are decoded and scanned */
	int loading;
	char lm_err[4400];
	facet_writer *w;
	uint64_t photos, failed, faceless, faces;
} detector;

static void parse_options(int argc, char **argv, struct opts *o)
{
	/* --min-face and --turn have no short options: -m and -t mean a model and threads in the
	 * other tools */
	enum { OPT_THRESHOLD = 256, OPT_MAX_PIXELS, OPT_MIN_FACE, OPT_TURN };
	static const struct option longopts[] = {
	    {"size", required_argument, NULL, 's'},
	    {"min-face", required_argument, NULL, OPT_MIN_FACE},
	    {"upsample", required_argument, NULL, 'u'},
	    {"max-faces", required_argument, NULL, 'n'},
	    {"largest", no_argument, NULL, '1'},
	    {"turn", required_argument, NULL, OPT_TURN},
	    {"threshold", required_argument, NULL, OPT_THRESHOLD},
	    {"landmarks", required_argument, NULL, 'l'},
	    {"max-pixels", required_argument, NULL, OPT_MAX_PIXELS},
	    {"jobs", required_argument, NULL, 'j'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0}};
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	int c, w, h;

	memset(o, 0, sizeof *o);
	o->find.size = FACET_TEMPLATE_SIDE;
	o->find.turn = 10;
	o->max_pixels = 100000000;
	o->jobs = cores < 1 ? 1 : cores > 64 ? 64 : (int)cores;
	while ((c = facet_getopt(argc, argv, "s:u:n:1l:j:qhV", longopts)) != -1) {
		switch (c) {
		case 's':
			if (strchr(optarg, 'x')) {
				facet_parse_size("--size", optarg, &w, &h);
				if (w != h)
					usage_error(
					    "--size takes a square size (the face is cut square), not '%s'",
					    optarg);
			} else {
				w = (int)facet_parse_long("--size", optarg, 8, 4096);
			}
			if (w < 8 || w > 4096)
				usage_error("--size takes a side in 8..4096, not '%s'", optarg);
			o->find.size = w;
			break;
		case OPT_MIN_FACE:
			o->min_face = (int)facet_parse_long("--min-face", optarg, 8, 100000);
			break;
		case 'u':
			o->upsample = (int)facet_parse_long("--upsample", optarg, 0, 3);
			break;
		case 'n':
			o->find.max_faces = (int)facet_parse_long("--max-faces", optarg, 1, 100000);
			break;
		case '1':
			o->find.largest = 1;
			break;
		case OPT_TURN:
			o->find.turn = facet_parse_double("--turn", optarg, 0, 45);
			break;
		case OPT_THRESHOLD:
			o->find.threshold = facet_parse_double("--threshold", optarg, -10, 10);
			break;
		case 'l':
			o->landmarks = optarg;
			break;
		case OPT_MAX_PIXELS:
			o->max_pixels = facet_parse_long("--max-pixels", optarg, 1, 1000000000000L);
			break;
		case 'j':
			o->jobs = (int)facet_parse_long("--jobs", optarg, 1, 256);
			break;
		default:
			facet_std_option(c, usage);
		}
	}
}

static input *collect_inputs(int argc, char **argv, size_t *nin)
{
	static char dash[] = "-";
	char *none[] = {dash};
	char **args = argc > 0 ? argv : none;
	int n = argc > 0 ? argc : 1, streams = 0;
	input *in = xcalloc((size_t)n, sizeof *in);

	for (int i = 0; i < n; i++) {
		struct stat st;
		in[i].name = args[i];
		if (!strcmp(args[i], "-")) {
			in[i].kind = IN_STREAM;
			if (++streams > 1)
				usage_error("- (standard input) is named more than once");
		} else if (stat(args[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			in[i].kind = IN_DIR;
		} else {
			in[i].kind = IN_FILE;
		}
	}
	*nin = (size_t)n;
	return in;
}

static char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');
	return xstrdup(b ? b + 1 : path);
}

static photo *photo_error(const char *where, const char *msg)
{
	photo *p = xcalloc(1, sizeof *p);
	p->where = xstrdup(where);
	p->failed = 1;
	snprintf(p->msg, sizeof p->msg, "%s", msg);
	return p;
}

/* pmap's next: the next photo, under the lock. */
static int next_photo(void *ctx, void **item)
{
	detector *d = ctx;

	while (d->cur < d->nin) {
		input *in = &d->in[d->cur];
		char msg[512];
		photo *p;

		if (!in->started) {
			in->started = 1;
			if (in->kind == IN_FILE) {
				p = xcalloc(1, sizeof *p);
				p->path = xstrdup(in->name);
				p->where = xstrdup(in->name);
				p->source = base_name(in->name);
				d->cur++;
				*item = p;
				return 1;
			}
			if (in->kind == IN_DIR &&
			    facet_list_images(in->name, &in->paths, &in->npaths, msg, sizeof msg) != 0) {
				d->cur++;
				*item = photo_error(in->name, msg);
				return 1;
			}
			if (in->kind == IN_STREAM)
				in->rd = facet_reader_open(stdin, "stdin");
		}
		if (in->kind == IN_DIR && in->next < in->npaths) {
			p = xcalloc(1, sizeof *p);
			p->path = in->paths[in->next];
			in->paths[in->next++] = NULL;
			p->where = xstrdup(p->path);
			p->source = base_name(p->path);
			*item = p;
			return 1;
		}
		if (in->kind == IN_STREAM) {
			facet_record *r;
			const char *err;
			int rc = facet_reader_try_next(in->rd, &r, &err);
			if (rc < 0) {
				/* a broken stream cannot be read on: report it and stop this input
				 * (the reader's message names stdin, the record and the byte) */
				*item = photo_error("", err);
				facet_reader_close(in->rd);
				in->rd = NULL;
				d->cur++;
				return 1;
			}
			if (rc > 0) {
				char id[4200];
				p = xcalloc(1, sizeof *p);
				p->rec = facet_record_clone(r);
				snprintf(msg, sizeof msg, "stdin, record %llu",
				         (unsigned long long)facet_reader_count(in->rd));
				p->where = xstrdup(msg);
				facet_record_id_str(r, id, sizeof id);
				if (!*id) /* no id: the record's number names its faces */
					snprintf(id, sizeof id, "stdin:%llu",
					         (unsigned long long)facet_reader_count(in->rd));
				p->source = xstrdup(id);
				*item = p;
				return 1;
			}
			facet_reader_close(in->rd);
			in->rd = NULL;
		}
		free(in->paths);
		in->paths = NULL;
		d->cur++;
	}
	return 0;
}

/* ---------------------------------------------------------------- work */

/* The landmark model, waiting for its loader the first time: it takes about 0.6 s to read,
 * which the first photos' decoding and scanning hide. A model that cannot be loaded stops the
 * run before anything is said of the first photo (emit_photo asks for the model first). */
static pthread_mutex_t lm_lock = PTHREAD_MUTEX_INITIALIZER;

static facet_landmarker *landmarker(detector *d)
{
	pthread_mutex_lock(&lm_lock);
	if (d->loading) {
		pthread_join(d->loader, NULL);
		d->loading = 0;
	}
	pthread_mutex_unlock(&lm_lock);
	if (!d->lm)
		die("%s", d->lm_err);
	return d->lm;
}

static void *load_landmarker(void *arg)
{
	detector *d = arg;
	d->lm = facet_landmarker_load(d->o->landmarks, d->lm_err, sizeof d->lm_err);
	return NULL;
}

/* The scale at which the photo is scanned: the smallest face sought becomes the detector's
 * 80-pixel window. */
static double scan_scale(const struct opts *o, int W, int H, int *min_face)
{
	int longer = W > H ? W : H, mf = o->min_face;

	if (mf <= 0)
		mf = longer / 16 > FACET_HOG_WINDOW ? longer / 16 : FACET_HOG_WINDOW;
	mf >>= o->upsample;
	if (mf < 1)
		mf = 1;
	*min_face = mf;
	return (double)FACET_HOG_WINDOW / mf;
}

/* Find and align the faces of one photo of W x H pixels. img is the photo decoded at img_scale
 * (its pixels per photo pixel): the scan copy is made from it, and the faces are cut from it
 * too, unless buf (the encoded photo, n bytes) is given and the faces found need a decode at a
 * larger scale. */
static int detect(detector *d, photo *p, int thread, const facet_tensor *img, double img_scale,
                  int W, int H, const void *buf, size_t n)
{
	const struct opts *o = d->o;
	facet_find_opts fo = o->find;
	facet_tensor det, src = {0};
	const facet_tensor *from = img;
	double sd = scan_scale(o, W, H, &fo.min_face), ss = img_scale;
	int dw = (int)lround(W * sd), dh = (int)lround(H * sd), rc;
	const char *msg;

	if (dw < 1)
		dw = 1;
	if (dh < 1)
		dh = 1;
	if ((uint64_t)dw * dh > (uint64_t)facet_image_max_bytes()) {
		snprintf(p->msg, sizeof p->msg, "the scan copy would be too large (%dx%d)", dw, dh);
		return -1;
	}
	if (facet_image_resize(img, dw, dh, 1, &det, &msg) != 0) {
		snprintf(p->msg, sizeof p->msg, "%s", msg);
		return -1;
	}
	/* the actual scale of the copy on each axis differs from sd by rounding only */
	rc = facet_face_find(d->hog[thread], &det, (double)dw / W, &fo, &p->faces, p->msg,
	                     sizeof p->msg);
	facet_tensor_free(&det);
	if (rc < 0)
		return -1;
	p->nfaces = rc;
	if (!rc)
		return 0;
	if (buf) {
		/* cut the faces from a decode at which the smallest face found has at least a pixel
		 * for each of the aligned crop's (its box is about 0.9 of the crop's side): the one
		 * already made when it will do, else a larger one */
		double smallest = p->faces[rc - 1].box[2] - p->faces[rc - 1].box[0];
		facet_image_spec spec = {.channels = 3, .orient = 1, .max_pixels = o->max_pixels};
		facet_image_info info;
		spec.min_scale = fmin(1, fo.size / smallest);
		if (spec.min_scale > img_scale + 1e-9) {
			if (facet_image_decode_memory_info(buf, n, &spec, &src, &info, p->msg,
			                                   sizeof p->msg) != 0)
				return -1;
			from = &src;
			ss = (double)src.shape[1] / W;
		}
	}
	for (int i = 0; i < rc; i++)
		if (facet_face_align(landmarker(d), from, ss, &fo, &p->faces[i], p->msg,
		                     sizeof p->msg) != 0) {
			facet_tensor_free(&src);
			return -1;
		}
	facet_tensor_free(&src);
	return 0;
}

/* pmap's work: decode one photo, find its faces, align them. */
static void work_photo(void *ctx, void *item, int thread)
{
	detector *d = ctx;
	photo *p = item;
	facet_tensor img = {0};

	if (p->failed)
		return;
	if (p->path) {
		unsigned char *buf;
		size_t n;
		facet_image_spec spec = {.channels = 3, .orient = 1, .max_pixels = d->o->max_pixels};
		facet_image_info info;
		int W, H, mf;
		if (facet_image_read_file(p->path, &buf, &n, p->msg, sizeof p->msg) != 0) {
			p->failed = 1;
			return;
		}
		/* a first, shrunk decode (DCT scaling for JPEG) that the scan copy is made from */
		if (facet_image_probe(buf, n, &spec, &info, p->msg, sizeof p->msg) != 0) {
			free(buf);
			p->failed = 1;
			return;
		}
		W = info.width;
		H = info.height;
		spec.min_scale = fmin(1, scan_scale(d->o, W, H, &mf));
		if (facet_image_decode_memory_info(buf, n, &spec, &img, &info, p->msg,
		                                   sizeof p->msg) != 0 ||
		    detect(d, p, thread, &img, (double)img.shape[1] / W, W, H, buf, n) != 0)
			p->failed = 1;
		free(buf);
	} else {
		facet_tensor t;
		if (!facet_record_tensor(p->rec, "image", &t) || !facet_is_image(&t)) {
			snprintf(p->msg, sizeof p->msg, "no uint8 [H, W, C] 'image'");
			p->failed = 1;
			return;
		}
		facet_image_spec limit = {.max_pixels = d->o->max_pixels};
		if (facet_image_check_pixels((int)t.shape[1], (int)t.shape[0], &limit, p->msg,
		                             sizeof p->msg) != 0) {
			p->failed = 1;
			return;
		}
		if (detect(d, p, thread, &t, 1, (int)t.shape[1], (int)t.shape[0], NULL, 0) != 0)
			p->failed = 1;
	}
	facet_tensor_free(&img);
}

/* ---------------------------------------------------------------- output */

static void put_face(detector *d, const photo *p, int k)
{
	const facet_face *f = &p->faces[k];
	facet_record *r = p->rec ? facet_record_clone(p->rec) : facet_record_new();
	char id[4300];
	int64_t shape[2] = {FACET_LANDMARKS, 2};
	facet_tensor lt;
	int len = snprintf(id, sizeof id, "%s#%d", p->source, k);

	facet_record_set_str(r, "id", id, (size_t)len);
	facet_record_set_doubles(r, "box", f->box, 4);
	facet_record_set_double(r, "score", f->score);
	facet_tensor_alloc(&lt, FACET_F32, 2, shape);
	memcpy(lt.owned, f->landmarks, sizeof f->landmarks);
	facet_record_set_tensor(r, "landmarks", &lt);
	facet_tensor_free(&lt);
	facet_record_set_tensor(r, "image", &f->image);
	facet_writer_put(d->w, r);
	facet_record_free(r);
}

/* pmap's emit: in input order, the photo's faces or what went wrong. */
static void emit_photo(void *ctx, void *item)
{
	detector *d = ctx;
	photo *p = item;

	if (!d->photos)
		landmarker(d); /* a model that cannot be loaded is the first thing said */
	d->photos++;
	if (p->failed) {
		d->failed++;
		if (*p->where)
			warn("%s (%s)", p->msg, p->where);
		else
			warn("%s", p->msg);
	} else if (!p->nfaces) {
		d->faceless++;
		warn("no face found (%s)", p->where);
	} else {
		for (int k = 0; k < p->nfaces; k++)
			put_face(d, p, k);
		d->faces += (uint64_t)p->nfaces;
	}
	for (int k = 0; k < p->nfaces; k++)
		facet_tensor_free(&p->faces[k].image);
	free(p->faces);
	if (p->rec)
		facet_record_free(p->rec);
	free(p->path);
	free(p->where);
	free(p->source);
	free(p);
}

static void start_detectors(detector *d)
{
	char err[4400];

	if (pthread_create(&d->loader, NULL, load_landmarker, d) != 0)
		die("cannot start a thread:");
	d->loading = 1;
	d->hog = xcalloc((size_t)d->o->jobs, sizeof *d->hog);
	for (int i = 0; i < d->o->jobs; i++)
		if (!(d->hog[i] = facet_hog_new(err, sizeof err)))
			die("%s", err);
}

static void stop_detectors(detector *d)
{
	for (int i = 0; i < d->o->jobs; i++)
		facet_hog_free(d->hog[i]);
	free(d->hog);
	facet_landmarker_free(landmarker(d)); /* a run without faces still checks the model */
}

int main(int argc, char **argv)
{
	struct opts o;
	detector d = {0};
	static const facet_pmap_ops ops = {next_photo, work_photo, emit_photo};

	facet_init("facet-detect");
	/* photos run in parallel on our own threads: dlib's matrix products run in its own loops
	 * (face_dlib.cc), and should a BLAS call remain it gets no OpenBLAS threads of its own to
	 * compete with them */
	openblas_set_num_threads(1);
	parse_options(argc, argv, &o);
	facet_image_init();
	d.o = &o;
	d.in = collect_inputs(argc - optind, argv + optind, &d.nin);
	start_detectors(&d);

	d.w = facet_writer_open(stdout, "stdout");
	facet_pmap(o.jobs, &ops, &d);
	facet_writer_close(d.w);
	stop_detectors(&d);
	free(d.in);

	if (d.failed)
		die("%llu of %llu photos could not be read; %llu faces in the others",
		    (unsigned long long)d.failed, (unsigned long long)d.photos,
		    (unsigned long long)d.faces);
	facet_info("%llu face%s in %llu photo%s (%llu without a face)", (unsigned long long)d.faces,
	           d.faces == 1 ? "" : "s", (unsigned long long)d.photos, d.photos == 1 ? "" : "s",
	           (unsigned long long)d.faceless);
	return FACET_EXIT_OK;
}
