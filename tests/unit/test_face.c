/*
 * common/face.c: the similarity fit against known maps, the affine warp against exact pixel
 * permutations and averages and the fast warp against the plain one, the merging of overlapping detections, the template's shape, and
 * (with scikit-image's astronaut.png, when Debian's python3-skimage is installed) that a face
 * found on a turned copy of a photo maps back to where it is on the photo itself.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "face.h"
#include "check.h"
#include "facet.h"
#include "image.h"

static unsigned long long rng = 88172645463325252ULL;

static double urand(void) /* uniform in [0, 1) */
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

static facet_tensor image(int h, int w, int c)
{
	facet_tensor t;
	int64_t shape[3] = {h, w, c};
	facet_tensor_alloc(&t, FACET_U8, 3, shape);
	for (size_t i = 0; i < t.nbytes; i++)
		((uint8_t *)t.owned)[i] = (uint8_t)(urand() * 256);
	return t;
}

/* A known similarity (scale, angle, shift) is recovered from points it moved, exactly without
 * noise and closely with; collinear-free but coincident points are refused. */
static void test_similarity(void)
{
	float src[40][2], dst[40][2];
	double s = 1.7, a = 23 * M_PI / 180, tx = -31.5, ty = 12.25, worst = 0;
	facet_affine m, inv;

	for (int i = 0; i < 40; i++) {
		src[i][0] = (float)(urand() * 200);
		src[i][1] = (float)(urand() * 200);
		dst[i][0] = (float)(s * (cos(a) * src[i][0] - sin(a) * src[i][1]) + tx);
		dst[i][1] = (float)(s * (sin(a) * src[i][0] + cos(a) * src[i][1]) + ty);
	}
	check(facet_similarity_fit((const float(*)[2])src, (const float(*)[2])dst, 40, m) == 0,
	      "similarity: fitted");
	worst = fmax(fabs(m[0] - s * cos(a)), fabs(m[3] - s * sin(a)));
	worst = fmax(worst, fmax(fabs(m[1] + s * sin(a)), fabs(m[4] - s * cos(a))));
	check(worst < 1e-5 && fabs(m[2] - tx) < 1e-3 && fabs(m[5] - ty) < 1e-3,
	      "similarity: recovers scale 1.7, 23 degrees, shift (-31.5, 12.25) (worst %.2g)", worst);
	for (int i = 0; i < 40; i++) { /* noise of +-0.5 pixel */
		dst[i][0] += (float)(urand() - 0.5);
		dst[i][1] += (float)(urand() - 0.5);
	}
	facet_similarity_fit((const float(*)[2])src, (const float(*)[2])dst, 40, m);
	check(fabs(hypot(m[0], m[3]) - s) < 0.01 && fabs(atan2(m[3], m[0]) - a) < 0.005,
	      "similarity: with noise, scale %.4f angle %.3f (want 1.7, 0.401)", hypot(m[0], m[3]),
	      atan2(m[3], m[0]));
	for (int i = 0; i < 40; i++)
		src[i][0] = src[i][1] = 5;
	check(facet_similarity_fit((const float(*)[2])src, (const float(*)[2])dst, 40, m) == -1,
	      "similarity: coincident points are refused");
	check(facet_similarity_fit((const float(*)[2])dst, (const float(*)[2])dst, 1, m) == -1,
	      "similarity: one point is refused");
	{
		facet_affine g = {1.3, -0.4, 7, 0.2, 0.9, -3};
		double x, y, u, v;
		check(facet_affine_invert(g, inv) == 0, "invert: invertible");
		facet_affine_apply(g, 17.5, -4.25, &x, &y);
		facet_affine_apply(inv, x, y, &u, &v);
		check(fabs(u - 17.5) < 1e-9 && fabs(v + 4.25) < 1e-9, "invert: round trip");
		facet_affine z = {1, 2, 0, 2, 4, 0};
		check(facet_affine_invert(z, inv) == -1, "invert: a singular map is refused");
	}
}

/* The warp against maps whose result is known pixel for pixel. */
static void test_warp(void)
{
	facet_tensor in = image(37, 53, 3), out;
	facet_affine id = {1, 0, 0, 0, 1, 0}, shift = {1, 0, 3, 0, 1, 2};
	const char *err;
	int bad = 0;

	facet_warp_affine(&in, id, 53, 37, &out, &err);
	check(out.nbytes == in.nbytes && !memcmp(out.data, in.data, in.nbytes),
	      "warp: the identity gives the image back");
	facet_tensor_free(&out);

	facet_warp_affine(&in, shift, 53, 37, &out, &err);
	for (int y = 0; y < 37; y++)
		for (int x = 0; x < 53; x++)
			for (int c = 0; c < 3; c++) {
				int sx = x + 3 > 52 ? 52 : x + 3, sy = y + 2 > 36 ? 36 : y + 2;
				bad += px(&out, y, x, c) != px(&in, sy, sx, c);
			}
	check(!bad, "warp: a whole-pixel shift moves every pixel, the border replicated (%d off)",
	      bad);
	facet_tensor_free(&out);

	/* a quarter turn about the centre of a square: an exact permutation of the pixels */
	{
		facet_tensor sq = image(40, 40, 1);
		facet_affine rot = {0, -1, 39, 1, 0, 0}; /* out (x, y) <- in (39 - y, x) */
		bad = 0;
		facet_warp_affine(&sq, rot, 40, 40, &out, &err);
		for (int y = 0; y < 40; y++)
			for (int x = 0; x < 40; x++)
				bad += px(&out, y, x, 0) != px(&sq, x, 39 - y, 0);
		check(!bad, "warp: a quarter turn is an exact permutation (%d off)", bad);
		facet_tensor_free(&out);
		facet_tensor_free(&sq);
	}

	/* halving stripes one pixel wide averages them: no aliasing into all-black or all-white */
	{
		facet_tensor st = image(64, 64, 1);
		facet_affine half = {2, 0, 0.5, 0, 2, 0.5};
		int lo = 255, hi = 0;
		for (int y = 0; y < 64; y++)
			for (int x = 0; x < 64; x++)
				((uint8_t *)st.owned)[y * 64 + x] = x % 2 ? 255 : 0;
		facet_warp_affine(&st, half, 32, 32, &out, &err);
		for (int y = 2; y < 30; y++)
			for (int x = 2; x < 30; x++) {
				int v = px(&out, y, x, 0);
				lo = v < lo ? v : lo;
				hi = v > hi ? v : hi;
			}
		check(lo >= 120 && hi <= 135, "warp: halving 1-pixel stripes gives grey %d..%d", lo, hi);
		facet_tensor_free(&out);
		facet_tensor_free(&st);
	}
	{
		facet_affine inf = {INFINITY, 0, 0, 0, 1, 0};
		int rc = facet_warp_affine(&in, inf, 10, 10, &out, &err);
		check(rc == -1, "warp: a map that is not finite is refused (%s)", rc ? err : "");
		rc = facet_warp_affine(&in, id, 0, 10, &out, &err);
		check(rc == -1, "warp: an empty target is refused (%s)", rc ? err : "");
	}
	facet_tensor_free(&in);
}

/* The fast warp against the plain one, on random turns, scales (down to a 5x shrink, where it
 * averages 25 samples a pixel) and shifts that reach past the borders. */
static void test_warp_fast(void)
{
	int worst = 0, cases = 0;
	for (int t = 0; t < 40; t++) {
		int c = t % 2 ? 3 : 1, w = 20 + (int)(urand() * 90), h = 20 + (int)(urand() * 90);
		facet_tensor in = image(h, w, c), a, b;
		double s = 0.3 + urand() * 4.7, ang = urand() * 2 * M_PI;
		facet_affine m = {s * cos(ang), -s * sin(ang), urand() * w, s * sin(ang), s * cos(ang),
		                  urand() * h};
		int ow = 5 + (int)(urand() * 60), oh = 5 + (int)(urand() * 60);
		const char *err;
		if (facet_warp_affine(&in, m, ow, oh, &a, &err) != 0 ||
		    facet_warp_affine_ref(&in, m, ow, oh, &b, &err) != 0) {
			check(0, "warp fast: %s", err);
			return;
		}
		for (size_t i = 0; i < a.nbytes; i++) {
			int d = abs((int)((const uint8_t *)a.data)[i] - ((const uint8_t *)b.data)[i]);
			worst = d > worst ? d : worst;
		}
		cases++;
		facet_tensor_free(&a);
		facet_tensor_free(&b);
		facet_tensor_free(&in);
	}
	check(worst <= 1, "warp fast: within %d grey level of the plain warp over %d random maps",
	      worst, cases);
}

static void test_merge(void)
{
	facet_face_rect r[4] = {{0, 0, 100, 100, 0.5},
	                        {5, 5, 105, 105, 1.5},  /* overlaps the first, higher score */
	                        {300, 0, 380, 80, 0.1}, /* apart */
	                        {10, 0, 110, 100, 0.2}};
	double ang[4] = {0, -10, 10, 0};
	int n = facet_face_merge(r, ang, 4, 0.3);

	check(n == 2, "merge: two of four boxes kept (%d)", n);
	check(r[0].score == 1.5 && ang[0] == -10 && r[0].x0 == 5,
	      "merge: the best of the overlapping ones first, its angle with it");
	check(r[1].x0 == 300 && ang[1] == 10, "merge: the box apart kept");
	check(facet_face_merge(r, NULL, 0, 0.3) == 0, "merge: no boxes");
}

/* The template is a face (eyes above the nose above the mouth, left and right mirror images
 * about the middle) and the mirror table pairs left with right. */
static void test_template(void)
{
	const float(*t)[2] = facet_face_template;
	double ex_l = 0, ex_r = 0, ey = 0, worst = 0, mid = 0;
	int invol = 1;

	for (int i = 36; i < 42; i++) {
		ex_l += t[i][0] / 6;
		ex_r += t[i + 6][0] / 6;
		ey += (t[i][1] + t[i + 6][1]) / 12;
	}
	check(ex_l < 90 && ex_r > 110 && ey < t[30][1] && t[30][1] < t[51][1],
	      "template: eyes (%.0f, %.0f at y %.0f) above the nose tip (y %.0f) above the lips "
	      "(y %.0f)",
	      ex_l, ex_r, ey, t[30][1], t[51][1]);
	for (int i = 0; i < FACET_LANDMARKS; i++) {
		int j = facet_face_mirror_point[i];
		invol &= facet_face_mirror_point[j] == i;
		mid += (t[i][0] + t[j][0]) / 2 / FACET_LANDMARKS;
		worst = fmax(worst, fabs(t[i][1] - t[j][1]));
	}
	check(invol, "mirror: the table is an involution");
	check(fabs(mid - 100) < 6 && worst < 6,
	      "mirror: mirrored points lie at one height (worst %.1f px) about x = %.1f", worst,
	      mid);
}

/* A photo turned by 50 degrees, past what the detector's own turned filters see: the face is
 * found on the copy turned back by 35 (--turn 35), and its landmarks land where the upright
 * photo's landmarks go under the same turn. */
static void test_turned_photo(void)
{
	const char *path = "/usr/lib/python3/dist-packages/skimage/data/astronaut.png";
	facet_image_spec spec = {.channels = 3};
	facet_tensor photo, grey, turned, tgrey;
	facet_find_opts o = {.turn = 35, .size = 200, .min_face = 80};
	facet_face *up = NULL, *tf = NULL;
	facet_hog *hd;
	facet_landmarker *lm;
	char err[512];
	const char *msg;
	double deg = 50, t = deg * M_PI / 180, c = 255.5, worst = 0;
	/* out (x, y) <- in (c + R(-t) ((x, y) - c)): the photo turned clockwise on screen by t */
	facet_affine m = {cos(t), sin(t), c - cos(t) * c - sin(t) * c,
	                  -sin(t), cos(t), c + sin(t) * c - cos(t) * c};
	int n_up, n_t, n_t0;

	if (access(path, R_OK) != 0 ||
	    facet_image_decode_file(path, &spec, &photo, err, sizeof err) != 0) {
		printf("skip turned photo: %s not readable (Debian python3-skimage)\n", path);
		return;
	}
	hd = facet_hog_new(err, sizeof err);
	lm = facet_landmarker_load(NULL, err, sizeof err);
	if (!hd || !lm) {
		check(0, "dlib: %s", err);
		return;
	}
	facet_image_resize(&photo, 512, 512, 1, &grey, &msg);
	facet_warp_affine(&photo, m, 512, 512, &turned, &msg);
	facet_image_resize(&turned, 512, 512, 1, &tgrey, &msg);
	n_up = facet_face_find(hd, &grey, 1, &o, &up, err, sizeof err);
	o.turn = 0;
	n_t0 = facet_face_find(hd, &tgrey, 1, &o, &tf, err, sizeof err);
	free(tf);
	o.turn = 35;
	n_t = facet_face_find(hd, &tgrey, 1, &o, &tf, err, sizeof err);
	check(n_up == 1 && n_t == 1, "turned: one face upright, one on the turned photo (%d, %d)",
	      n_up, n_t);
	check(n_t0 == 0, "turned: upright passes alone miss the face turned by 50 degrees (%d)",
	      n_t0);
	if (n_up == 1 && n_t == 1) {
		check(tf[0].angle == 35, "turned: found on the copy turned by +35 (%.0f)", tf[0].angle);
		facet_face_align(lm, &photo, 1, &o, &up[0], err, sizeof err);
		facet_face_align(lm, &turned, 1, &o, &tf[0], err, sizeof err);
		for (int i = FACET_ALIGN_FIRST; i < FACET_LANDMARKS; i++) {
			/* where the upright landmark moves in the turned photo: m's inverse */
			facet_affine inv;
			double x, y;
			facet_affine_invert(m, inv);
			facet_affine_apply(inv, up[0].landmarks[i][0], up[0].landmarks[i][1], &x, &y);
			worst = fmax(worst, hypot(x - tf[0].landmarks[i][0], y - tf[0].landmarks[i][1]));
		}
		check(worst < 4, "turned: landmarks 27..67 within %.1f px of the upright ones, turned",
		      worst);
		check(tf[0].image.shape[0] == 200 && tf[0].image.shape[2] == 3,
		      "turned: the aligned crop is [200, 200, 3]");
		{ /* the two aligned crops are the same face, the same way up */
			double d = 0;
			for (size_t i = 0; i < up[0].image.nbytes; i++)
				d += fabs((double)((const uint8_t *)up[0].image.data)[i] -
				          ((const uint8_t *)tf[0].image.data)[i]);
			d /= (double)up[0].image.nbytes;
			check(d < 12, "turned: the aligned crops differ by %.1f grey levels (mean)", d);
		}
		facet_tensor_free(&up[0].image);
		facet_tensor_free(&tf[0].image);
	}
	free(up);
	free(tf);
	facet_hog_free(hd);
	facet_landmarker_free(lm);
	facet_tensor_free(&photo);
	facet_tensor_free(&grey);
	facet_tensor_free(&turned);
	facet_tensor_free(&tgrey);
}

int main(void)
{
	facet_init("test_face");
	test_similarity();
	test_warp();
	test_warp_fast();
	test_merge();
	test_template();
	test_turned_photo();
	printf("%d passed, %d failed\n", n_pass, n_fail);
	return n_fail ? 1 : 0;
}
