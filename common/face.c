/* Faces in photos: similarity fits, affine warps, turned detection passes, merging, alignment.
 * The dlib calls are in face_dlib.cc; everything here is plain C. */
#include "face.h"
#include "resample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- affine maps */

void facet_affine_apply(const facet_affine m, double x, double y, double *ox, double *oy)
{
	*ox = m[0] * x + m[1] * y + m[2];
	*oy = m[3] * x + m[4] * y + m[5];
}

int facet_affine_invert(const facet_affine m, facet_affine inv)
{
	double det = m[0] * m[4] - m[1] * m[3];
	if (!(fabs(det) > 1e-12))
		return -1;
	inv[0] = m[4] / det;
	inv[1] = -m[1] / det;
	inv[3] = -m[3] / det;
	inv[4] = m[0] / det;
	inv[2] = -(inv[0] * m[2] + inv[1] * m[5]);
	inv[5] = -(inv[3] * m[2] + inv[4] * m[5]);
	return 0;
}

/* Least squares over the similarities x' = a x - b y + tx, y' = b x + a y + ty: with the points
 * centred, a = sum(x.x') / sum(|x|^2) and b = sum(x cross x') / sum(|x|^2) (Umeyama's solution for
 * two dimensions, where the rotation and scale fold into one complex number a + ib). */
int facet_similarity_fit(const float (*src)[2], const float (*dst)[2], int n, facet_affine m)
{
	double sx = 0, sy = 0, dx = 0, dy = 0, num_a = 0, num_b = 0, den = 0, a, b;

	if (n < 2)
		return -1;
	for (int i = 0; i < n; i++) {
		sx += src[i][0];
		sy += src[i][1];
		dx += dst[i][0];
		dy += dst[i][1];
	}
	sx /= n;
	sy /= n;
	dx /= n;
	dy /= n;
	for (int i = 0; i < n; i++) {
		double x = src[i][0] - sx, y = src[i][1] - sy;
		double u = dst[i][0] - dx, v = dst[i][1] - dy;
		num_a += x * u + y * v;
		num_b += x * v - y * u;
		den += x * x + y * y;
	}
	if (!(den > 1e-9))
		return -1;
	a = num_a / den;
	b = num_b / den;
	if (!(a * a + b * b > 1e-18))
		return -1;
	m[0] = a;
	m[1] = -b;
	m[3] = b;
	m[4] = a;
	m[2] = dx - (a * sx - b * sy);
	m[5] = dy - (b * sx + a * sy);
	return 0;
}

/* ---------------------------------------------------------------- warping */

/* Bilinear sample of every channel at (x, y), the border replicated. */
static inline void sample(const uint8_t *p, int W, int H, int C, double x, double y, float *acc)
{
	int x0, y0, x1, y1;
	double fx, fy;

	if (x < 0)
		x = 0;
	if (y < 0)
		y = 0;
	if (x > W - 1)
		x = W - 1;
	if (y > H - 1)
		y = H - 1;
	x0 = (int)x;
	y0 = (int)y;
	x1 = x0 + 1 < W ? x0 + 1 : x0;
	y1 = y0 + 1 < H ? y0 + 1 : y0;
	fx = x - x0;
	fy = y - y0;
	for (int c = 0; c < C; c++) {
		double top = p[((size_t)y0 * W + x0) * C + c] * (1 - fx) +
		             p[((size_t)y0 * W + x1) * C + c] * fx;
		double bot = p[((size_t)y1 * W + x0) * C + c] * (1 - fx) +
		             p[((size_t)y1 * W + x1) * C + c] * fx;
		acc[c] += (float)(top * (1 - fy) + bot * fy);
	}
}

/* A warp's source and how finely it samples it. */
typedef struct {
	const uint8_t *src;
	int W, H, C; /* the source's size and channels */
	int k;       /* k x k samples an output pixel */
} warp_geom;

/* Check a warp's arguments, make its output and say what it samples. */
static int warp_setup(const facet_tensor *in, const facet_affine m, int ow, int oh,
                      facet_tensor *out, warp_geom *g, const char **err)
{
	double s;
	int64_t shape[3];

	if (!facet_is_image(in)) {
		*err = "not a uint8 [H, W, C] image";
		return -1;
	}
	if (ow < 1 || oh < 1 || ow > 65535 || oh > 65535) {
		*err = "bad target size";
		return -1;
	}
	/* in pixels per out pixel: the larger of the map's two column lengths */
	s = fmax(hypot(m[0], m[3]), hypot(m[1], m[4]));
	if (!isfinite(s) || !isfinite(m[2]) || !isfinite(m[5]) ||
	    fabs(m[2]) + fabs(m[5]) + s * (ow + oh) > 1e9) {
		*err = "the map is not finite";
		return -1;
	}
	g->k = s > 1 ? (int)ceil(s) : 1;
	if (g->k > 16)
		g->k = 16;
	g->src = in->data;
	g->H = (int)in->shape[0];
	g->W = (int)in->shape[1];
	g->C = (int)in->shape[2];
	shape[0] = oh;
	shape[1] = ow;
	shape[2] = in->shape[2];
	facet_tensor_alloc(out, FACET_U8, 3, shape);
	return 0;
}

int facet_warp_affine_ref(const facet_tensor *in, const facet_affine m, int ow, int oh,
                          facet_tensor *out, const char **err)
{
	warp_geom g;
	uint8_t *dst;

	if (warp_setup(in, m, ow, oh, out, &g, err) != 0)
		return -1;
	const int W = g.W, H = g.H, C = g.C, k = g.k;
	const uint8_t *src = g.src;
	dst = out->owned;
	for (int y = 0; y < oh; y++)
		for (int x = 0; x < ow; x++) {
			float acc[3] = {0, 0, 0};
			for (int j = 0; j < k; j++)
				for (int i = 0; i < k; i++) {
					double u = x + (i + 0.5) / k - 0.5, v = y + (j + 0.5) / k - 0.5;
					sample(src, W, H, C, m[0] * u + m[1] * v + m[2],
					       m[3] * u + m[4] * v + m[5], acc);
				}
			for (int c = 0; c < C; c++) {
				float q = acc[c] / (float)(k * k) + 0.5f;
				dst[((size_t)y * ow + x) * C + c] = (uint8_t)(q > 255 ? 255 : q);
			}
		}
	return 0;
}

/* One row of samples for the fast warp: n points from (x, y) in steps of (dx, dy), each
 * bilinear over C channels (1 or 3, the compiler specialises), added into acc[n * C]. */
static inline void sample_row(const uint8_t *p, int W, int H, int C, float x, float y, float dx,
                              float dy, int n, float *acc)
{
	const float xmax = (float)(W - 1), ymax = (float)(H - 1);

	for (int i = 0; i < n; i++, x += dx, y += dy) {
		float cx = x < 0 ? 0 : x > xmax ? xmax : x;
		float cy = y < 0 ? 0 : y > ymax ? ymax : y;
		int x0 = (int)cx, y0 = (int)cy;
		int sx = x0 + 1 < W ? C : 0;
		size_t sy = y0 + 1 < H ? (size_t)W * C : 0;
		float fx = cx - (float)x0, fy = cy - (float)y0;
		const uint8_t *q = p + ((size_t)y0 * W + x0) * C;
		for (int c = 0; c < C; c++) {
			float top = q[c] + fx * (float)(q[c + sx] - q[c]);
			float bot = q[c + sy] + fx * (float)(q[c + sy + sx] - q[c + sy]);
			acc[i * C + c] += top + fy * (bot - top);
		}
	}
}

int facet_warp_affine(const facet_tensor *in, const facet_affine m, int ow, int oh,
                      facet_tensor *out, const char **err)
{
	warp_geom g;
	uint8_t *dst;
	float *acc;

	if (warp_setup(in, m, ow, oh, out, &g, err) != 0)
		return -1;
	const int W = g.W, H = g.H, C = g.C, k = g.k;
	const uint8_t *src = g.src;
	dst = out->owned;
	acc = xmalloc((size_t)ow * C * sizeof *acc);
	for (int y = 0; y < oh; y++) {
		memset(acc, 0, (size_t)ow * C * sizeof *acc);
		for (int j = 0; j < k; j++)
			for (int i = 0; i < k; i++) {
				/* the row's first sample point, then a whole out pixel at a time */
				double u = (i + 0.5) / k - 0.5, v = y + (j + 0.5) / k - 0.5;
				float x0 = (float)(m[0] * u + m[1] * v + m[2]);
				float y0 = (float)(m[3] * u + m[4] * v + m[5]);
				if (C == 3)
					sample_row(src, W, H, 3, x0, y0, (float)m[0], (float)m[3], ow, acc);
				else
					sample_row(src, W, H, 1, x0, y0, (float)m[0], (float)m[3], ow, acc);
			}
		for (int x = 0; x < ow * C; x++) {
			float q = acc[x] / (float)(k * k) + 0.5f;
			dst[(size_t)y * ow * C + x] = (uint8_t)(q > 255 ? 255 : q);
		}
	}
	free(acc);
	return 0;
}

/* ---------------------------------------------------------------- finding */

static double box_iou(const facet_face_rect *a, const facet_face_rect *b)
{
	double iw = fmin(a->x1, b->x1) - fmax(a->x0, b->x0);
	double ih = fmin(a->y1, b->y1) - fmax(a->y0, b->y0);
	double inter, ua;

	if (iw <= 0 || ih <= 0)
		return 0;
	inter = iw * ih;
	ua = (a->x1 - a->x0) * (a->y1 - a->y0) + (b->x1 - b->x0) * (b->y1 - b->y0) - inter;
	return ua > 0 ? inter / ua : 0;
}

int facet_face_merge(facet_face_rect *rects, double *angles, int n, double iou)
{
	int kept = 0;

	/* insertion sort by score, highest first (n is small) */
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && rects[j].score > rects[j - 1].score; j--) {
			facet_face_rect t = rects[j];
			rects[j] = rects[j - 1];
			rects[j - 1] = t;
			if (angles) {
				double a = angles[j];
				angles[j] = angles[j - 1];
				angles[j - 1] = a;
			}
		}
	for (int i = 0; i < n; i++) {
		int keep = 1;
		for (int j = 0; j < kept && keep; j++)
			if (box_iou(&rects[i], &rects[j]) > iou)
				keep = 0;
		if (keep) {
			rects[kept] = rects[i];
			if (angles)
				angles[kept] = angles[i];
			kept++;
		}
	}
	return kept;
}

/* The map that shows img turned by `deg` degrees about its centre, on a canvas of the same size:
 * turned(p) = img(c + R(deg) (p - c)). A face turned clockwise by deg in img stands upright in
 * the turned copy. */
static void turn_map(int w, int h, double deg, facet_affine m)
{
	double t = deg * M_PI / 180, cs = cos(t), sn = sin(t);
	double cx = (w - 1) / 2.0, cy = (h - 1) / 2.0;

	m[0] = cs;
	m[1] = -sn;
	m[3] = sn;
	m[4] = cs;
	m[2] = cx - cs * cx + sn * cy;
	m[5] = cy - sn * cx - cs * cy;
}

/* Most confident first; equal scores (rare: both are sums of floating-point products) left to
 * right, then top to bottom, so the order never depends on the pass that found a face. */
static int cmp_faces(const void *pa, const void *pb)
{
	const facet_face *a = pa, *b = pb;
	if (a->score != b->score)
		return a->score > b->score ? -1 : 1;
	if (a->box[0] != b->box[0])
		return a->box[0] < b->box[0] ? -1 : 1;
	if (a->box[1] != b->box[1])
		return a->box[1] < b->box[1] ? -1 : 1;
	return 0;
}

int facet_face_find(facet_hog *hd, const facet_tensor *det, double det_scale,
                    const facet_find_opts *o, facet_face **faces, char *err, size_t errlen)
{
	int W, H, n = 0, cap = 0, passes = o->turn > 0 ? 3 : 1, kept, nf = 0;
	facet_face_rect *all = NULL;
	double *ang = NULL;
	facet_face *f;

	*faces = NULL;
	if (!facet_is_image(det) || det->shape[2] != 1) {
		snprintf(err, errlen, "the detection copy is not a grey image");
		return -1;
	}
	H = (int)det->shape[0];
	W = (int)det->shape[1];
	for (int p = 0; p < passes; p++) {
		double deg = p == 0 ? 0 : p == 1 ? -o->turn : o->turn;
		facet_face_rect *r;
		facet_tensor turned = {0};
		const uint8_t *px = det->data;
		facet_affine m;
		const char *msg;
		int k;

		turn_map(W, H, deg, m);
		if (deg != 0) {
			if (facet_warp_affine(det, m, W, H, &turned, &msg) != 0) {
				snprintf(err, errlen, "%s", msg);
				goto fail;
			}
			px = turned.data;
		}
		k = facet_hog_detect(hd, px, W, H, o->threshold, &r, err, errlen);
		facet_tensor_free(&turned);
		if (k < 0)
			goto fail;
		if (n + k > cap) {
			cap = 2 * (n + k);
			all = xrealloc(all, (size_t)cap * sizeof *all);
			ang = xrealloc(ang, (size_t)cap * sizeof *ang);
		}
		for (int i = 0; i < k; i++) {
			/* the box's centre in the upright copy, its side unchanged */
			double cx = (r[i].x0 + r[i].x1) / 2, cy = (r[i].y0 + r[i].y1) / 2, ux, uy;
			double hw = (r[i].x1 - r[i].x0) / 2, hh = (r[i].y1 - r[i].y0) / 2;
			facet_affine_apply(m, cx, cy, &ux, &uy);
			all[n] = (facet_face_rect){(ux - hw) / det_scale, (uy - hh) / det_scale,
			                           (ux + hw) / det_scale, (uy + hh) / det_scale,
			                           r[i].score};
			ang[n++] = deg;
		}
		free(r);
	}
	kept = facet_face_merge(all, ang, n, 0.3);
	f = kept ? xcalloc((size_t)kept, sizeof *f) : NULL;
	for (int i = 0; i < kept; i++) {
		if (all[i].x1 - all[i].x0 < o->min_face)
			continue;
		f[nf].box[0] = all[i].x0;
		f[nf].box[1] = all[i].y0;
		f[nf].box[2] = all[i].x1;
		f[nf].box[3] = all[i].y1;
		f[nf].score = all[i].score;
		f[nf].angle = ang[i];
		nf++;
	}
	free(all);
	free(ang);
	if (nf > 1)
		qsort(f, (size_t)nf, sizeof *f, cmp_faces);
	if (o->largest && nf > 1) {
		int k = 0; /* the widest box; of equal ones, the first in the order above */
		for (int i = 1; i < nf; i++)
			if (f[i].box[2] - f[i].box[0] > f[k].box[2] - f[k].box[0])
				k = i;
		f[0] = f[k];
		nf = 1;
	}
	if (o->max_faces > 0 && nf > o->max_faces)
		nf = o->max_faces;
	if (!nf) {
		free(f);
		f = NULL;
	}
	*faces = f;
	return nf;
fail:
	free(all);
	free(ang);
	return -1;
}

/* ---------------------------------------------------------------- aligning */

/* The landmarks are marked on an upright grey patch PATCH x PATCH around the box, the box
 * PATCH_BOX pixels wide in it: the size the predictor reads well, with room for the chin. */
#define PATCH 320
#define PATCH_BOX 160

/* Where each of the 68 points goes in the mirror image: the jaw, brows, nostrils, eyes and lips
 * swap sides; the points on the middle line stay. */
const unsigned char facet_face_mirror_point[FACET_LANDMARKS] = {
    16, 15, 14, 13, 12, 11, 10, 9,  8,  7,  6,  5,  4,  3,  2,  1,  0,  26, 25, 24, 23, 22, 21,
    20, 19, 18, 17, 27, 28, 29, 30, 35, 34, 33, 32, 31, 45, 44, 43, 42, 47, 46, 39, 38, 37, 36,
    41, 40, 54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55, 64, 63, 62, 61, 60, 67, 66, 65};

/* The landmarks of the face in box on a square grey patch, marked on the patch and on its mirror
 * image and averaged: the predictor's errors on the two are largely independent, and its points
 * are whole pixels, so the mean is both steadier and finer. 0 ok, -1 and err. */
static int mark_twice(const facet_landmarker *lm, const facet_tensor *grey,
                      const facet_face_rect *box, float pts[FACET_LANDMARKS][2], char *err,
                      size_t errlen)
{
	int side = (int)grey->shape[1];
	uint8_t *flip = xmalloc((size_t)side * side);
	const uint8_t *g = grey->data;
	float mp[FACET_LANDMARKS][2];
	facet_face_rect mbox = {side - 1 - box->x1, box->y0, side - 1 - box->x0, box->y1, 0};
	int rc;

	for (int y = 0; y < side; y++)
		for (int x = 0; x < side; x++)
			flip[(size_t)y * side + x] = g[(size_t)y * side + side - 1 - x];
	rc = facet_landmarker_fit(lm, g, side, side, box, pts, err, errlen);
	if (rc == 0)
		rc = facet_landmarker_fit(lm, flip, side, side, &mbox, mp, err, errlen);
	free(flip);
	if (rc != 0)
		return -1;
	for (int i = 0; i < FACET_LANDMARKS; i++) {
		int j = facet_face_mirror_point[i];
		pts[j][0] = (pts[j][0] + (float)(side - 1) - mp[i][0]) / 2;
		pts[j][1] = (pts[j][1] + mp[i][1]) / 2;
	}
	return 0;
}

/* Mark the landmarks of the face in pbox on a grey PATCH x PATCH patch cut from src through pm
 * (patch pixels -> src pixels); give them in the photo's pixels (src / src_scale). */
static int mark_on_patch(const facet_landmarker *lm, const facet_tensor *src, double src_scale,
                         const facet_affine pm, const facet_face_rect *pbox,
                         float out[FACET_LANDMARKS][2], char *err, size_t errlen)
{
	facet_tensor grey, patch;
	float pts[FACET_LANDMARKS][2];
	const char *msg;
	int rc;

	if (facet_warp_affine(src, pm, PATCH, PATCH, &patch, &msg) != 0) {
		snprintf(err, errlen, "%s", msg);
		return -1;
	}
	rc = facet_image_resize(&patch, PATCH, PATCH, 1, &grey, &msg);
	facet_tensor_free(&patch);
	if (rc != 0) {
		snprintf(err, errlen, "%s", msg);
		return -1;
	}
	rc = mark_twice(lm, &grey, pbox, pts, err, errlen);
	facet_tensor_free(&grey);
	if (rc != 0)
		return -1;
	for (int i = 0; i < FACET_LANDMARKS; i++) {
		double x, y;
		facet_affine_apply(pm, pts[i][0], pts[i][1], &x, &y);
		out[i][0] = (float)(x / src_scale);
		out[i][1] = (float)(y / src_scale);
	}
	return 0;
}

/* The map from a side x side crop in the template's geometry to the photo: the similarity that
 * takes landmarks 27..67 to the template (scaled to side), inverted. The jaw line is left out:
 * it moves with the head's turn and the face's build, and fitting it too put UTKFace's own
 * crops 6.0 pixels (mean) from where they were instead of 2.7 (bench/face_template.sh). */
static int crop_map(const float lmk[FACET_LANDMARKS][2], int side, facet_affine from_crop)
{
	float tpl[FACET_LANDMARKS][2];
	facet_affine to_tpl;

	for (int i = 0; i < FACET_LANDMARKS; i++) {
		tpl[i][0] = facet_face_template[i][0] * (float)side / FACET_TEMPLATE_SIDE;
		tpl[i][1] = facet_face_template[i][1] * (float)side / FACET_TEMPLATE_SIDE;
	}
	if (facet_similarity_fit(lmk + FACET_ALIGN_FIRST, (const float(*)[2])(tpl + FACET_ALIGN_FIRST),
	                         FACET_LANDMARKS - FACET_ALIGN_FIRST, to_tpl) != 0)
		return -1;
	return facet_affine_invert(to_tpl, from_crop);
}

int facet_face_align(const facet_landmarker *lm, const facet_tensor *src, double src_scale,
                     const facet_find_opts *o, facet_face *f, char *err, size_t errlen)
{
	double cx = (f->box[0] + f->box[2]) / 2, cy = (f->box[1] + f->box[3]) / 2;
	double side = f->box[2] - f->box[0], k = side / PATCH_BOX, t = f->angle * M_PI / 180;
	double c = (PATCH - 1) / 2.0;
	facet_affine pm, from_out;
	facet_face_rect pbox = {c - PATCH_BOX / 2.0, c - PATCH_BOX / 2.0, c + PATCH_BOX / 2.0,
	                        c + PATCH_BOX / 2.0, 0};
	const char *msg;

	if (!(side > 0) || !(src_scale > 0)) {
		snprintf(err, errlen, "empty face box");
		return -1;
	}
	/* patch (x, y) -> photo: c_photo + k R(angle) ((x, y) - c), then into src's pixels */
	pm[0] = k * cos(t) * src_scale;
	pm[1] = -k * sin(t) * src_scale;
	pm[3] = k * sin(t) * src_scale;
	pm[4] = k * cos(t) * src_scale;
	pm[2] = cx * src_scale - pm[0] * c - pm[1] * c;
	pm[5] = cy * src_scale - pm[3] * c - pm[4] * c;
	if (mark_on_patch(lm, src, src_scale, pm, &pbox, f->landmarks, err, errlen) != 0)
		return -1;
	if (crop_map((const float(*)[2])f->landmarks, o->size, from_out) != 0) {
		snprintf(err, errlen, "the landmarks are degenerate");
		return -1;
	}
	/* out -> photo -> src */
	for (int i = 0; i < 6; i++)
		from_out[i] *= src_scale;
	if (facet_warp_affine(src, from_out, o->size, o->size, &f->image, &msg) != 0) {
		snprintf(err, errlen, "%s", msg);
		return -1;
	}
	return 0;
}
