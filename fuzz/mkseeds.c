/*
 * mkseeds: write the seed corpora of facet's fuzz targets, from facet's own writer and parsers.
 *
 *   mkseeds DIR     writes DIR/stream, DIR/scan, DIR/utk, DIR/config, DIR/csv, DIR/jpeg, DIR/detect
 * (and, when the engine has a model file, DIR/model: see mkseeds_model.c)
 *
 * Every seed is real facet output or a real-shaped input, so the fuzzer starts from deep paths.
 * Built and run by scripts/fuzz.sh; nothing here is committed as a binary blob.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>

#include "facet.h"
#include "nn/nn.h"

static const char *outdir;

static FILE *seed_open(const char *target, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof path, "%s/%s", outdir, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		die("cannot create %s:", path);
	snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
	if (!(f = fopen(path, "wb")))
		die("cannot create %s:", path);
	return f;
}

static void seed_close(FILE *f)
{
	if (fclose(f) != 0)
		die("write error:");
}

static void seed_text(const char *target, const char *name, const char *text)
{
	FILE *f = seed_open(target, name);
	fputs(text, f);
	seed_close(f);
}

/* ---------------------------------------------------------------- streams */

static facet_record *rec_image(const char *id, int h, int w, int c, facet_dtype dt)
{
	facet_record *r = facet_record_new();
	facet_tensor t;
	int64_t shape[3] = {h, w, c};

	facet_record_set_str(r, "id", id, strlen(id));
	facet_tensor_alloc(&t, dt, 3, shape);
	for (size_t i = 0; i < t.nbytes; i++)
		((uint8_t *)t.owned)[i] = (uint8_t)(i * 7);
	facet_record_set_tensor(r, "image", &t);
	facet_tensor_free(&t);
	return r;
}

/* Write the records as one stream to both the stream and scan corpora (scan: first record
 * only, behind its limit byte). */
static void seed_stream(const char *name, facet_record **r, int n)
{
	FILE *f = seed_open("stream", name), *g;
	facet_writer *w = facet_writer_open(f, name);
	char *buf = NULL;
	size_t len = 0;

	for (int i = 0; i < n; i++)
		facet_writer_put(w, r[i]);
	facet_writer_close(w);
	seed_close(f);

	f = open_memstream(&buf, &len);
	w = facet_writer_open(f, name);
	facet_writer_put(w, r[0]);
	facet_writer_close(w);
	fclose(f);
	g = seed_open("scan", name);
	fputc(0x7f, g); /* the harness's smaller size limit: 64 + 127 * 16 bytes */
	fwrite(buf, 1, len, g);
	seed_close(g);
	free(buf);
	for (int i = 0; i < n; i++)
		facet_record_free(r[i]);
}

static void streams(void)
{
	facet_record *r[4];
	facet_pred p = {1, 1, 1, 31.5, {0.2, 0.8}, {0.1, 0.2, 0.3, 0.2, 0.2}};
	/* [{"k": [1, 1.0, nil]}, "abc"] and [1, false, -128] */
	static const unsigned char extra[] = {0x92, 0x81, 0xa1, 'k',  0x93, 0x01, 0xcb,
	                                      0x3f, 0xf0, 0,    0,    0,    0,    0,
	                                      0,    0,    0xc0, 0xa3, 'a',  'b',  'c'};
	static const unsigned char list[] = {0x93, 0x01, 0xc2, 0xd0, 0x80};

	r[0] = facet_record_new();
	seed_stream("empty-record", r, 1);

	r[0] = rec_image("30_1_2_20170116174525125.jpg.chip.jpg", 4, 5, 3, FACET_U8);
	facet_record_set_int(r[0], "age", 30);
	facet_record_set_int(r[0], "gender", 1);
	facet_record_set_int(r[0], "ethnicity", 2);
	facet_record_set_str(r[0], "split", "train", 5);
	seed_stream("labelled-rgb", r, 1);

	r[0] = rec_image("grey.jpg", 6, 4, 1, FACET_U8);
	facet_record_set_pred(r[0], &p);
	facet_record_set_str(r[0], "split", "test", 4);
	r[1] = rec_image("float.png", 2, 2, 3, FACET_F32);
	facet_record_set_int(r[1], "age", 130);
	r[2] = facet_record_new();
	facet_record_set_str(r[2], "id", "no-image", 8);
	facet_record_set_packed(r[2], "extra", extra, sizeof extra);
	seed_stream("three-records", r, 3);

	r[0] = facet_record_new();
	facet_record_set_packed(r[0], "list", list, sizeof list);
	facet_record_set_str(r[0], "split", "val", 3);
	seed_stream("unknown-keys", r, 1);
}

/* ---------------------------------------------------------------- names, configs, CSV */

static void names(void)
{
	static const char *const n[] = {"30_1_2_20170116174525125.jpg.chip.jpg",
	                                "1_0_0_20161219140623097.jpg.chip.jpg",
	                                "116_1_0_20170120134921760.jpg.chip.jpg",
	                                "39_1_20170116174525125.jpg.chip.jpg",
	                                "faces/UTKFace/26_0_4_20170117154659183.jpg.chip.jpg",
	                                "61_1_20170109150557335.jpg",
	                                "x_1_2_3.jpg"};
	char file[32];
	for (size_t i = 0; i < sizeof n / sizeof n[0]; i++) {
		snprintf(file, sizeof file, "name-%zu", i);
		seed_text("utk", file, n[i]);
	}
}

static void configs(void)
{
	seed_text("config", "age-cnn",
	          "# the notebook's age CNN\n"
	          "[input] width=48 height=48 channels=1 normalise=unit\n"
	          "[train] optimizer=adam lr=0.001 batch=64 epochs=30 schedule=plateau\n"
	          "[conv] filters=8 size=3 pad=valid activation=relu\n"
	          "[maxpool] size=2 stride=2\n"
	          "[conv] filters=16 size=3 activation=relu\n"
	          "[batchnorm]\n[maxpool]\n[flatten]\n"
	          "[dense] units=32 activation=relu\n[dropout] rate=0.5\n"
	          "[head age] loss=mse\n[dense] units=1\n");
	seed_text("config", "multitask",
	          "[input]\nwidth=16\nheight=16\nchannels=3\nnormalise=center\n"
	          "[train] optimizer=adamw weight_decay=0.01 schedule=cosine flip=1 shift=2\n"
	          "[conv] filters=4 size=3 stride=1 pad=same\n[relu]\n[maxpool]\n[gap]\n"
	          "[head age] loss=smoothl1 weight=0.5\n[dense] units=8 activation=relu\n"
	          "[dense] units=1\n"
	          "[head gender]\n[dense] units=1 activation=sigmoid\n"
	          "[head ethnicity] ; five classes\n[dense] units=5 activation=softmax\n");
	seed_text("config", "dldl",
	          "[input] width=8 height=8\n[gap]\n"
	          "[head age] loss=dldl weight=0.5 sigma=2 l1=1\n"
	          "[dense] units=117 activation=softmax\n");
	seed_text("config", "minimal", "[head gender]\n[flatten]\n[dense] units=1\n");
}

static void csv(void)
{
	FILE *f = seed_open("csv", "notebook");
	fputs("age,ethnicity,gender,img_name,pixels\n", f);
	for (int row = 0; row < 2; row++) {
		fprintf(f, "%d,%d,%d,%d_0_1_20170109.jpg.chip.jpg,\"", 20 + row, row, row,
		        20 + row);
		for (int i = 0; i < 48 * 48; i++)
			fprintf(f, "%s%d", i ? " " : "", (i * 13 + row) % 256);
		fputs("\"\n", f);
	}
	fputs("1,2,1,short.jpg,1 2 3\n", f);
	seed_close(f);
	seed_text("csv", "reordered",
	          "img_name,pixels,gender,age,ethnicity,extra\r\n"
	          "a.jpg,0 0 0,1,5,4,x\r\n");
	/* facet-label --csv: an id column and any of the three labels, empty cells allowed */
	seed_text("labelcsv", "full",
	          "id,age,gender,ethnicity\n"
	          "1_0_0_20170109.jpg.chip.jpg,1,0,0\n"
	          "35_1_4_20170110.jpg.chip.jpg,35,1,4\n"
	          "partial.jpg,,1,\n\n");
	seed_text("labelcsv", "notebook-order",
	          "age,ethnicity,gender,img_name,pixels\r\n20,2,1,a.jpg,0 0\r\n116,4,0,b.jpg,\r\n");
	seed_text("labelcsv", "race-name", "name,race\nx,3\ny,0\n");
}

/* JPEGs from TurboJPEG's encoder, behind the harness's option byte. */
static void jpegs(void)
{
	static const struct {
		const char *name;
		int w, h, samp, opt;
	} j[] = {{"rgb-444-stored", 24, 16, TJSAMP_444, 0x00},
	         {"rgb-420-scaled", 40, 33, TJSAMP_420, 0x4b},
	         {"grey-scaled", 17, 64, TJSAMP_GRAY, 0x85}};
	for (size_t k = 0; k < sizeof j / sizeof j[0]; k++) {
		unsigned char px[64 * 64 * 3], *out = NULL;
		unsigned long len = 0;
		tjhandle tj = tjInitCompress();
		FILE *f;
		for (int i = 0; i < j[k].w * j[k].h * 3; i++)
			px[i] = (unsigned char)(i * 31 + k);
		if (!tj || tjCompress2(tj, px, j[k].w, 0, j[k].h, TJPF_RGB, &out, &len, j[k].samp,
		                       85, 0) != 0)
			die("TurboJPEG cannot encode a seed");
		f = seed_open("jpeg", j[k].name);
		fputc(j[k].opt, f);
		fwrite(out, 1, len, f);
		seed_close(f);
		tjFree(out);
		tjDestroy(tj);
	}
}

/* ---------------------------------------------------------------- photos for fuzz_detect */

/* A w x h RGB picture with a face-like pattern in it: a light oval, two dark eyes and a mouth on
 * a gradient. Not a face dlib recognises at its own threshold; the harness's low thresholds
 * "find" one in it, so the alignment runs from the first seed on. */
static void draw_photo(unsigned char *px, int w, int h)
{
	double cx = w / 2.0, cy = h / 2.0, rx = w / 4.0, ry = h / 3.0;

	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			unsigned char *p = px + ((size_t)y * w + x) * 3;
			double u = (x - cx) / rx, v = (y - cy) / ry;
			p[0] = (unsigned char)(40 + 120 * x / w);
			p[1] = (unsigned char)(60 + 100 * y / h);
			p[2] = (unsigned char)(150 - 80 * x / w);
			if (u * u + v * v < 1) {
				p[0] = 210;
				p[1] = 170;
				p[2] = 140;
				int eye = fabs(fabs(u) - 0.4) < 0.15 && fabs(v + 0.25) < 0.08;
				if (eye)
					p[0] = p[1] = p[2] = 30;
				if (fabs(u) < 0.35 && fabs(v - 0.45) < 0.06)
					p[0] = 150, p[1] = p[2] = 60; /* mouth */
			}
		}
}

/* One seed: the harness's option byte, then the photo's bytes. */
static void seed_photo(const char *name, int opt, const void *head, size_t hn, const void *body,
                       size_t bn)
{
	FILE *f = seed_open("detect", name);
	fputc(opt, f);
	fwrite(head, 1, hn, f);
	fwrite(body, 1, bn, f);
	seed_close(f);
}

/* Photos in the formats a camera or a folder gives, behind fuzz_detect's option byte (bits 0-1
 * threshold, 2 turn, 3-4 size, 5-6 min face, 7 upsample). PPM and PGM carry raw pixels with
 * no checksum, so the fuzzer reaches the detector and the alignment with any pixels. */
static void detect_photos(void)
{
	/* an APP1 segment with an EXIF Orientation of 6 (shown turned 90 degrees clockwise) */
	static const char exif6[] = "\xFF\xE1\x00\x22"                 /* APP1, 34 bytes */
	                            "Exif\0\0"                         /* its name */
	                            "MM\x00\x2A\x00\x00\x00\x08"       /* TIFF, big-endian */
	                            "\x00\x01"                         /* one entry: */
	                            "\x01\x12\x00\x03\x00\x00\x00\x01" /* Orientation, 1 SHORT */
	                            "\x00\x06\x00\x00"                 /* = 6 */
	                            "\x00\x00\x00\x00";                /* no next IFD */
	enum { W = 96, H = 80, JW = 320, JH = 240 };
	static unsigned char px[JW * JH * 3];
	unsigned char grey[W * H], *jpg = NULL;
	unsigned long len = 0;
	char head[32];
	int hn;
	tjhandle tj = tjInitCompress();

	draw_photo(px, W, H);
	hn = snprintf(head, sizeof head, "P6\n%d %d\n255\n", W, H);
	seed_photo("ppm-t2-turn", 0x07, head, (size_t)hn, px, (size_t)W * H * 3);
	seed_photo("ppm-t2-size64-up", 0x8b, head, (size_t)hn, px, (size_t)W * H * 3);
	seed_photo("ppm-t05-turn-size8-min60", 0x3d, head, (size_t)hn, px, (size_t)W * H * 3);
	for (int i = 0; i < W * H; i++) {
		const unsigned char *c = px + 3 * i;
		grey[i] = (unsigned char)((c[0] * 299 + c[1] * 587 + c[2] * 114) / 1000);
	}
	hn = snprintf(head, sizeof head, "P5\n%d %d\n255\n", W, H);
	seed_photo("pgm-t1-size33", 0x12, head, (size_t)hn, grey, sizeof grey);

	/* JPEG: shrunk on load by TurboJPEG at --min-face 300 (a scan scale of 0.27) */
	draw_photo(px, JW, JH);
	if (!tj || tjCompress2(tj, px, JW, 0, JH, TJPF_RGB, &jpg, &len, TJSAMP_420, 85, 0) != 0)
		die("TurboJPEG cannot encode a seed");
	seed_photo("jpeg-t2-turn-min300", 0x67, NULL, 0, jpg, len);
	seed_photo("jpeg-t2-min120", 0x43, NULL, 0, jpg, len);
	/* the same behind its EXIF Orientation: SOI, APP1, then the rest */
	{
		FILE *f = seed_open("detect", "jpeg-exif6-t2-turn-size33");
		fputc(0x17, f);
		fwrite(jpg, 1, 2, f);
		fwrite(exif6, 1, sizeof exif6 - 1, f);
		fwrite(jpg + 2, 1, len - 2, f);
		seed_close(f);
	}
	tjFree(jpg);
	tjDestroy(tj);
}

int main(int argc, char **argv)
{
	facet_init("mkseeds");
	if (argc != 2)
		usage_error("usage: mkseeds DIR");
	outdir = argv[1];
	if (mkdir(outdir, 0755) != 0 && errno != EEXIST)
		die("cannot create %s:", outdir);
	streams();
	names();
	configs();
	csv();
	jpegs();
	detect_photos();
	return 0;
}
