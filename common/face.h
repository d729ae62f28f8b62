/*
 * Faces in photos: find them, mark their landmarks, cut each out aligned to the training crops.
 *
 *   facet_hog_*          dlib's HOG frontal face detector (one per thread: it keeps scratch state)
 *   facet_landmarker_*   dlib's 68-point shape predictor (loaded once, shared by every thread)
 *   facet_face_find      faces in a photo: upright and on copies turned by +-turn degrees, merged
 *   facet_face_align     a found face's landmarks and its crop, warped to the template's geometry
 *   facet_face_template  where the 68 landmarks lie, on average, in a 200x200 UTKFace crop
 *
 * Only face_dlib.cc touches dlib (the one C++ file in the tree); the geometry, the warps and the
 * merging of detections are plain C in face.c and are tested without dlib.
 *
 * Coordinates are in pixels with (0, 0) the centre of the top-left pixel, x to the right and y
 * down; a box [x0, y0, x1, y1] spans x0 <= x <= x1. Angles are in degrees, positive when the
 * face's up direction is turned clockwise as seen on screen.
 */
#ifndef FACET_FACE_H
#define FACET_FACE_H

#include "facet.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FACET_LANDMARKS 68
#define FACET_TEMPLATE_SIDE 200 /* the template's crop side: UTKFace's 200x200 */
#define FACET_ALIGN_FIRST 27     /* the landmarks aligned: 27..67 (nose, eyes, mouth), not the jaw */
#define FACET_HOG_WINDOW 80     /* the detector's smallest face, in pixels of the image it scans */

/* Where the environment variable is unset: the model Debian's libdlib-data ships. */
#define FACET_LANDMARK_MODEL_DEFAULT "/usr/share/dlib/shape_predictor_68_face_landmarks.dat"

typedef struct {
	double x0, y0, x1, y1;
	double score; /* the detector's confidence (its SVM margin; 0 at the default threshold) */
} facet_face_rect;

/* ---------------------------------------------------------------- dlib (face_dlib.cc) */

typedef struct facet_hog facet_hog;
typedef struct facet_landmarker facet_landmarker;

/* A detector, or NULL and a message in err. */
facet_hog *facet_hog_new(char *err, size_t errlen);
void facet_hog_free(facet_hog *h);
/* Faces in a grey image, uint8 [h, w] rows back to back, whose score is above threshold
 * (dlib's adjust_threshold: 0 is its default, higher is stricter). Returns the number of faces
 * with a malloc'ed array in *out (NULL when none), or -1 and err. */
int facet_hog_detect(facet_hog *hd, const uint8_t *grey, int w, int h, double threshold,
                     facet_face_rect **out, char *err, size_t errlen);

/* Load a 68-point shape predictor (path NULL: $FACET_LANDMARK_MODEL, else the default above).
 * Returns NULL and a message naming the file in err on failure. */
facet_landmarker *facet_landmarker_load(const char *path, char *err, size_t errlen);
void facet_landmarker_free(facet_landmarker *lm);
/* The file a NULL path stands for. */
const char *facet_landmarker_default_path(void);
/* The 68 landmarks of the face in box, in the grey image's pixels. Safe from many threads.
 * 0 ok, -1 and err. */
int facet_landmarker_fit(const facet_landmarker *lm, const uint8_t *grey, int w, int h,
                         const facet_face_rect *box, float pts[FACET_LANDMARKS][2], char *err,
                         size_t errlen);

/* ---------------------------------------------------------------- geometry (face.c) */

/* The mean landmark positions of UTKFace crops, in a 200x200 crop (bench/face_template.sh
 * measures them). */
extern const float facet_face_template[FACET_LANDMARKS][2];

/* The point each of the 68 becomes in the mirror image (left and right swap; an involution). */
extern const unsigned char facet_face_mirror_point[FACET_LANDMARKS];

/* An affine map x' = a x + b y + c, y' = d x + e y + f as {a, b, c, d, e, f}. */
typedef double facet_affine[6];

/* The similarity (rotation, one scale, shift; no reflection) that maps src[i] closest to dst[i]
 * in least squares over n points (Umeyama). 0 ok, -1 when the points are degenerate. */
int facet_similarity_fit(const float (*src)[2], const float (*dst)[2], int n, facet_affine m);
/* The inverse map. 0 ok, -1 when m is singular. */
int facet_affine_invert(const facet_affine m, facet_affine inv);
void facet_affine_apply(const facet_affine m, double x, double y, double *ox, double *oy);

/* out = a new uint8 [oh, ow, C] tensor (C of in) whose pixel (x, y) is in's pixel at
 * m(x, y) (m maps out to in), bilinear, the border replicated outside in. When m shrinks (in's
 * pixels per out pixel, s > 1), each out pixel averages ceil(s) x ceil(s) bilinear samples spread
 * over its footprint, so nothing aliases. Returns 0, or -1 and *err. */
int facet_warp_affine(const facet_tensor *in, const facet_affine m, int ow, int oh,
                      facet_tensor *out, const char **err);
/* The same, plainly: a double-precision bilinear sample for every point. The fast one above
 * steps along each row in single precision; test_face holds it within one grey level of this. */
int facet_warp_affine_ref(const facet_tensor *in, const facet_affine m, int ow, int oh,
                          facet_tensor *out, const char **err);

/* ---------------------------------------------------------------- finding and aligning */

typedef struct {
	double threshold; /* detector score above which a face counts (default 0) */
	double turn;      /* also look on copies turned by -turn and +turn degrees (0: upright only) */
	int max_faces;    /* keep the most confident ones (0: all) */
	int largest;      /* keep only the face with the widest box */
	int min_face;     /* faces smaller than this (box side, photo pixels) are not reported */
	int size;         /* the aligned crop's side */
} facet_find_opts;

typedef struct {
	double box[4];  /* [x0, y0, x1, y1] in the photo's pixels */
	double score;   /* the detector's confidence */
	double angle;   /* how far the face is turned (the turned copy it was found on) */
	float landmarks[FACET_LANDMARKS][2]; /* in the photo's pixels */
	facet_tensor image;                  /* uint8 [size, size, C]: the aligned crop */
} facet_face;

/* Faces in det, a grey uint8 [h, w, 1] copy of the photo at scale det_scale (det pixels per
 * photo pixel). Fills box, score and angle (in the photo's pixels) of at most o->max_faces faces,
 * most confident first (ties: left to right, then top to bottom). Returns the count with a malloc'ed
 * array in *faces (NULL when none), or -1 and err. */
int facet_face_find(facet_hog *hd, const facet_tensor *det, double det_scale,
                    const facet_find_opts *o, facet_face **faces, char *err, size_t errlen);

/* Mark f's landmarks and cut its crop from src, an RGB or grey uint8 [h, w, C] copy of the photo
 * at scale src_scale: landmarks from an upright patch around the box, then the similarity that
 * takes them to the template, scaled to o->size. 0 ok, -1 and err. */
int facet_face_align(const facet_landmarker *lm, const facet_tensor *src, double src_scale,
                     const facet_find_opts *o, facet_face *f, char *err, size_t errlen);

/* Merge detections that overlap (intersection over union above iou), keeping the higher score
 * first. rects and angles (may be NULL) are compacted in place; returns how many are kept. */
int facet_face_merge(facet_face_rect *rects, double *angles, int n, double iou);

#ifdef __cplusplus
}
#endif

#endif
