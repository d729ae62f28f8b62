/*
 * Fuzz target: facet-detect's path from a photo's bytes to aligned faces. The input's first byte
 * picks the options, the rest is the photo: read from a file (a memfd named by /proc/self/fd/N),
 * its header probed against the pixel limit, a shrunk decode at the scan scale, the grey scan
 * copy, facet_face_find (upright and turned passes), a second decode at the scale the faces need
 * and facet_face_align for each face, as the tool does it: tools/facet-detect.c is compiled in
 * with its main() renamed and its work_photo() called. The landmark model is loaded once.
 *
 * Few fuzzed photos hold a face, so most inputs run with a detector threshold far below dlib's
 * (down to -2), where HOG "finds" faces in any texture and the alignment runs on them.
 * Properties: a photo that fails has a message; one that succeeds has at most --max-faces faces,
 * surest first, each no smaller than the smallest face sought, with finite boxes and landmarks
 * and an aligned image of the asked side and 3 channels.
 */
#include "fuzz.h"

#define main facet_detect_main
#include "../tools/facet-detect.c"
#undef main

#include <math.h>

static facet_landmarker *lm;
static facet_hog *hog;

static void load_models(void)
{
	char err[4400];

	facet_image_init();
	if (!(lm = facet_landmarker_load(NULL, err, sizeof err))) {
		fprintf(stderr, "fuzz_detect: %s (Debian libdlib-data; or FACET_LANDMARK_MODEL)\n",
		        err);
		abort();
	}
	if (!(hog = facet_hog_new(err, sizeof err))) {
		fprintf(stderr, "fuzz_detect: %s\n", err);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const double thresholds[4] = {0, -0.5, -1, -2};
	static const int sizes[4] = {200, 64, 33, 8}, min_faces[4] = {0, 60, 120, 300};
	struct opts o;
	detector d;
	photo p;
	FILE *f;
	char path[64];
	int mf;

	if (!lm)
		load_models();
	if (size < 1)
		return 0;
	/* the first byte: bits 0-1 threshold, 2 turn, 3-4 size, 5-6 min face, 7 upsample */
	memset(&o, 0, sizeof o);
	o.find.threshold = thresholds[data[0] & 3];
	o.find.turn = data[0] & 4 ? 10 : 0;
	o.find.size = sizes[(data[0] >> 3) & 3];
	o.find.max_faces = 3;
	o.min_face = min_faces[(data[0] >> 5) & 3];
	o.upsample = data[0] >> 7;
	/* a small pixel limit keeps each run well under the time limit: the scan copy of a photo
	 * this size is at most 1280 pixels on a side (at --min-face 60 and --upsample 1) */
	o.max_pixels = 320 * 240;
	o.jobs = 1;

	f = fuzz_memfile(data + 1, size - 1);
	snprintf(path, sizeof path, "/proc/self/fd/%d", fileno(f));
	memset(&d, 0, sizeof d);
	d.o = &o;
	d.hog = &hog;
	d.lm = lm;
	memset(&p, 0, sizeof p);
	p.path = path;
	work_photo(&d, &p, 0);
	fclose(f);

	if (p.failed) {
		FUZZ_ASSERT(p.msg[0] != '\0');
		FUZZ_ASSERT(p.nfaces == 0 || p.faces);
	} else {
		FUZZ_ASSERT(p.nfaces >= 0 && p.nfaces <= o.find.max_faces);
		FUZZ_ASSERT((p.nfaces == 0) == (p.faces == NULL));
	}
	for (int k = 0; k < p.nfaces && !p.failed; k++) {
		const facet_face *fc = &p.faces[k];
		double side = fc->box[2] - fc->box[0];
		for (int i = 0; i < 4; i++)
			FUZZ_ASSERT(isfinite(fc->box[i]));
		FUZZ_ASSERT(isfinite(fc->score) && fc->score > o.find.threshold - 1e-9);
		/* no smaller than the smallest face sought (halved per --upsample) */
		if (o.min_face > 0) {
			scan_scale(&o, 1, 1, &mf);
			FUZZ_ASSERT(side >= mf - 1e-6);
		}
		if (k > 0) /* surest first */
			FUZZ_ASSERT(fc->score <= p.faces[k - 1].score);
		for (int i = 0; i < FACET_LANDMARKS; i++)
			FUZZ_ASSERT(isfinite(fc->landmarks[i][0]) && isfinite(fc->landmarks[i][1]));
		FUZZ_ASSERT(fc->image.ndim == 3 && fc->image.shape[0] == o.find.size &&
		            fc->image.shape[1] == o.find.size && fc->image.shape[2] == 3);
	}
	for (int k = 0; k < p.nfaces; k++)
		facet_tensor_free(&p.faces[k].image);
	free(p.faces);
	return 0;
}
