// dlib behind facet's C header face.h: the HOG frontal face detector and the 68-point shape
// predictor. The only C++ in the tree; every exception stops here and becomes a message.
#include "face.h"

// Debian's dlib routes its matrix products to BLAS. Those here are 3x3 (the pseudo-inverse in
// the shape predictor's affine fits), for which OpenBLAS sets up a 128 MB buffer in every thread
// that calls it, and waits forever when that allocation fails (under a memory limit). dlib's own
// loops do them: its config (included by these two headers only, which have include guards; it
// has none) is read first, then its BLAS and LAPACK switches are turned off.
#include <dlib/assert.h>
#include <dlib/test_for_odr_violations.h>
#undef DLIB_USE_BLAS
#undef DLIB_USE_LAPACK

#include <dlib/image_processing.h>
#include <dlib/image_processing/frontal_face_detector.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <vector>

struct facet_hog {
	dlib::frontal_face_detector det;
	dlib::array2d<unsigned char> img;
};

struct facet_landmarker {
	dlib::shape_predictor sp;
};

static void put_err(char *err, size_t errlen, const char *what, const char *detail)
{
	if (err && errlen)
		std::snprintf(err, errlen, "%s%s%s", what, detail && *detail ? ": " : "",
		              detail ? detail : "");
}

extern "C" facet_hog *facet_hog_new(char *err, size_t errlen)
{
	try {
		facet_hog *h = new facet_hog;
		h->det = dlib::get_frontal_face_detector();
		return h;
	} catch (const std::exception &e) {
		put_err(err, errlen, "cannot make the face detector", e.what());
	}
	return NULL;
}

extern "C" void facet_hog_free(facet_hog *h)
{
	delete h;
}

extern "C" int facet_hog_detect(facet_hog *hd, const uint8_t *grey, int w, int h,
                                double threshold, facet_face_rect **out, char *err,
                                size_t errlen)
{
	*out = NULL;
	try {
		std::vector<dlib::rect_detection> dets;
		hd->img.set_size(h, w);
		for (int y = 0; y < h; y++)
			std::memcpy(&hd->img[y][0], grey + (size_t)y * w, (size_t)w);
		hd->det(hd->img, dets, threshold);
		if (dets.empty())
			return 0;
		facet_face_rect *r =
		    static_cast<facet_face_rect *>(std::malloc(dets.size() * sizeof *r));
		if (!r)
			throw std::bad_alloc();
		for (size_t i = 0; i < dets.size(); i++) {
			const dlib::rectangle &b = dets[i].rect;
			r[i].x0 = b.left();
			r[i].y0 = b.top();
			r[i].x1 = b.right();
			r[i].y1 = b.bottom();
			r[i].score = dets[i].detection_confidence;
		}
		*out = r;
		return (int)dets.size();
	} catch (const std::exception &e) {
		put_err(err, errlen, "face detection failed", e.what());
	}
	return -1;
}

extern "C" const char *facet_landmarker_default_path(void)
{
	const char *env = std::getenv("FACET_LANDMARK_MODEL");
	return env && *env ? env : FACET_LANDMARK_MODEL_DEFAULT;
}

extern "C" facet_landmarker *facet_landmarker_load(const char *path, char *err, size_t errlen)
{
	char msg[4200];

	if (!path)
		path = facet_landmarker_default_path();
	try {
		facet_landmarker *lm = new facet_landmarker;
		try {
			dlib::deserialize(path) >> lm->sp;
		} catch (...) {
			delete lm;
			throw;
		}
		if (lm->sp.num_parts() != FACET_LANDMARKS) {
			std::snprintf(msg, sizeof msg, "%s has %lu landmarks, not %d", path,
			              (unsigned long)lm->sp.num_parts(), FACET_LANDMARKS);
			delete lm;
			put_err(err, errlen, msg, NULL);
			return NULL;
		}
		return lm;
	} catch (const std::exception &e) {
		std::snprintf(msg, sizeof msg, "cannot load the landmark model %s", path);
		/* dlib's messages run over several lines: keep the first */
		char first[200];
		std::snprintf(first, sizeof first, "%s", e.what());
		first[std::strcspn(first, "\n")] = '\0';
		put_err(err, errlen, msg, first);
	}
	return NULL;
}

extern "C" void facet_landmarker_free(facet_landmarker *lm)
{
	delete lm;
}

// A read-only view of a caller's grey buffer in dlib's generic image interface, so that the
// shape predictor reads it where it lies (found by argument-dependent lookup).
namespace facet_dlib {
struct grey_view {
	const uint8_t *data;
	long w, h;
};
inline long num_rows(const grey_view &v)
{
	return v.h;
}
inline long num_columns(const grey_view &v)
{
	return v.w;
}
inline const void *image_data(const grey_view &v)
{
	return v.data;
}
inline long width_step(const grey_view &v)
{
	return v.w;
}
} // namespace facet_dlib

namespace dlib {
template <> struct image_traits<facet_dlib::grey_view> {
	typedef unsigned char pixel_type;
};
} // namespace dlib

extern "C" int facet_landmarker_fit(const facet_landmarker *lm, const uint8_t *grey, int w,
                                    int h, const facet_face_rect *box,
                                    float pts[FACET_LANDMARKS][2], char *err, size_t errlen)
{
	try {
		facet_dlib::grey_view v = {grey, w, h};
		dlib::rectangle r(std::lround(box->x0), std::lround(box->y0), std::lround(box->x1),
		                  std::lround(box->y1));
		dlib::full_object_detection s = lm->sp(v, r);
		for (int i = 0; i < FACET_LANDMARKS; i++) {
			pts[i][0] = (float)s.part(i).x();
			pts[i][1] = (float)s.part(i).y();
		}
		return 0;
	} catch (const std::exception &e) {
		put_err(err, errlen, "landmarks failed", e.what());
	}
	return -1;
}
