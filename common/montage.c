/*
 * Face montages (see montage.h): the bounded tile sets and the libvips drawing.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <vips/vips.h>

#include "facet.h"
#include "image.h"
#include "montage.h"

void facet_tiles_init(facet_tiles *t, int cap, uint64_t seed)
{
	memset(t, 0, sizeof *t);
	t->cap = cap > 0 ? cap : 0;
	t->rng = seed;
	t->tiles = t->cap ? xcalloc((size_t)t->cap, sizeof *t->tiles) : NULL;
}

void facet_tiles_free(facet_tiles *t)
{
	for (int i = 0; i < t->cap; i++)
		facet_tensor_free(&t->tiles[i].image);
	free(t->tiles);
	memset(t, 0, sizeof *t);
}

/* splitmix64: small, seeded, the same on every machine. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

facet_tile *facet_tiles_sample(facet_tiles *t)
{
	t->seen++;
	if (t->cap == 0)
		return NULL;
	if (t->n < t->cap)
		return &t->tiles[t->n++];
	uint64_t j = next_random(&t->rng) % t->seen;
	return j < (uint64_t)t->cap ? &t->tiles[j] : NULL;
}

/* The heap keeps the smallest score at tiles[0]. */
static void tile_swap(facet_tile *a, facet_tile *b)
{
	facet_tile x = *a;
	*a = *b;
	*b = x;
}

static void sift_down(facet_tiles *t, int i)
{
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < t->n && t->tiles[l].score < t->tiles[m].score)
			m = l;
		if (r < t->n && t->tiles[r].score < t->tiles[m].score)
			m = r;
		if (m == i)
			return;
		tile_swap(&t->tiles[i], &t->tiles[m]);
		i = m;
	}
}

static void sift_up(facet_tiles *t, int i)
{
	while (i > 0) {
		int p = (i - 1) / 2;
		if (t->tiles[p].score <= t->tiles[i].score)
			return;
		tile_swap(&t->tiles[p], &t->tiles[i]);
		i = p;
	}
}

facet_tile *facet_tiles_worst(facet_tiles *t, double score)
{
	t->seen++;
	if (t->cap == 0)
		return NULL;
	if (t->n < t->cap) {
		t->tiles[t->n].score = score;
		return &t->tiles[t->n++];
	}
	if (score <= t->tiles[0].score)
		return NULL;
	return &t->tiles[0];
}

void facet_tiles_worst_fix(facet_tiles *t)
{
	/* The filled tile is either the new last one (sift up) or the old root (sift down). */
	if (t->n == 0)
		return;
	if (t->n < t->cap || t->seen <= (uint64_t)t->cap)
		sift_up(t, t->n - 1);
	else
		sift_down(t, 0);
}

void facet_tile_set(facet_tile *tile, const facet_tensor *image, const char *caption,
                    const char *id, double score, uint64_t record)
{
	int same = tile->image.owned && tile->image.ndim == image->ndim &&
	           tile->image.nbytes == image->nbytes;
	for (int d = 0; same && d < image->ndim; d++)
		same = tile->image.shape[d] == image->shape[d];
	if (!same) {
		facet_tensor_free(&tile->image);
		facet_tensor_alloc(&tile->image, FACET_U8, image->ndim, image->shape);
	}
	memcpy(tile->image.owned, image->data, image->nbytes);
	snprintf(tile->caption, sizeof tile->caption, "%s", caption ? caption : "");
	snprintf(tile->id, sizeof tile->id, "%s", id ? id : "");
	tile->score = score;
	tile->record = record;
}

static int by_record(const void *a, const void *b)
{
	uint64_t x = ((const facet_tile *)a)->record, y = ((const facet_tile *)b)->record;
	return (x > y) - (x < y);
}

static int by_score_desc(const void *a, const void *b)
{
	double x = ((const facet_tile *)a)->score, y = ((const facet_tile *)b)->score;
	if (x != y)
		return (x < y) - (x > y);
	return by_record(a, b);
}

void facet_tiles_sort_by_record(facet_tiles *t)
{
	qsort(t->tiles, (size_t)t->n, sizeof *t->tiles, by_record);
}

void facet_tiles_sort_by_score(facet_tiles *t)
{
	qsort(t->tiles, (size_t)t->n, sizeof *t->tiles, by_score_desc);
}

int facet_montage_columns(int n)
{
	if (n <= 4)
		return n > 0 ? n : 1;
	int lo = (int)ceil(sqrt(n * 1.2)), hi = (int)ceil(sqrt(n * 2.5)), best = lo;
	for (int c = lo; c <= hi; c++) {
		int rows = (n + c - 1) / c;
		if (rows * c - n <= ((n + best - 1) / best) * best - n)
			best = c;
	}
	return best;
}

/* Caption text as Pango markup: escape what markup would read. */
static void markup_escape(const char *s, char *out, size_t n)
{
	size_t o = 0;
	for (; *s && o + 6 < n; s++) {
		const char *rep = *s == '&'   ? "&amp;"
		                  : *s == '<' ? "&lt;"
		                  : *s == '>' ? "&gt;"
		                              : NULL;
		if (rep) {
			memcpy(out + o, rep, strlen(rep));
			o += strlen(rep);
		} else {
			out[o++] = *s;
		}
	}
	out[o] = 0;
}

/* Face image of tile as sRGB uchar, tile_px wide. */
static int face_image(VipsObject *ctx, const facet_tile *tile, int tile_px, VipsImage **out)
{
	VipsImage **v = (VipsImage **)vips_object_local_array(ctx, 3);
	const facet_tensor *im = &tile->image;
	int h = (int)im->shape[0], w = (int)im->shape[1], c = (int)im->shape[2];
	v[0] = vips_image_new_from_memory_copy(im->data, im->nbytes, w, h, c, VIPS_FORMAT_UCHAR);
	if (!v[0])
		return -1;
	VipsImage *rgb = v[0];
	if (c == 1) {
		VipsImage *three[3] = {v[0], v[0], v[0]};
		if (vips_bandjoin(three, &v[1], 3, NULL))
			return -1;
		rgb = v[1];
	}
	if (vips_resize(rgb, &v[2], (double)tile_px / w, "kernel", VIPS_KERNEL_LINEAR, NULL))
		return -1;
	*out = v[2];
	return 0;
}

/* Caption strip: dark text centred on white, tile_px x strip_h, sRGB uchar. */
static int caption_image(VipsObject *ctx, VipsImage *text, int tile_px, int strip_h,
                         VipsImage **out)
{
	VipsImage **v = (VipsImage **)vips_object_local_array(ctx, 3);
	int left = (tile_px - text->Xsize) / 2;
	if (vips_embed(text, &v[0], left > 0 ? left : 0, 2, tile_px, strip_h, "extend",
	               VIPS_EXTEND_BLACK, NULL))
		return -1;
	if (vips_invert(v[0], &v[1], NULL))
		return -1;
	VipsImage *three[3] = {v[1], v[1], v[1]};
	if (vips_bandjoin(three, &v[2], 3, NULL))
		return -1;
	*out = v[2];
	return 0;
}

/* "cannot draw WHAT PATH: " and libvips' error, on stderr. */
static void warn_vips(const char *what, const char *path)
{
	char msg[512];
	facet_image_vips_error(msg, sizeof msg, "libvips failed", 3);
	warn("cannot draw %s %s: %s", what, path, msg);
}

/* Save img at path atomically, as PNG or JPEG (quality 90). 0, or -1 after a warning (what:
 * "the montage", "on the photo", for libvips' failures). */
static int save_atomic(VipsImage *img, const char *path, int png, const char *what)
{
	facet_atomic a = {0};

	if (facet_atomic_open(&a, path) != 0) {
		warn("cannot write %s:", path);
		return -1;
	}
	if (png ? vips_pngsave(img, a.tmp, NULL) : vips_jpegsave(img, a.tmp, "Q", 90, NULL)) {
		facet_atomic_abort(&a);
		warn_vips(what, path);
		return -1;
	}
	if (facet_atomic_commit(&a) != 0) {
		warn("cannot write %s:", path);
		return -1;
	}
	return 0;
}

int facet_montage_write(const char *path, const facet_tiles *t, int cols, int tile_px)
{
	if (t->n == 0)
		return -1;
	facet_image_init();
	VipsObject *ctx = VIPS_OBJECT(vips_image_new());
	int n = t->n;
	VipsImage **text = (VipsImage **)vips_object_local_array(ctx, n);
	VipsImage **tiles = (VipsImage **)vips_object_local_array(ctx, n);
	VipsImage **out = (VipsImage **)vips_object_local_array(ctx, 2);
	int strip_h = 0, rc = -1;

	for (int i = 0; i < n; i++) {
		char markup[6 * sizeof t->tiles[i].caption];
		markup_escape(t->tiles[i].caption, markup, sizeof markup);
		if (vips_text(&text[i], markup[0] ? markup : " ", "width", tile_px - 4, "font",
		              "sans 9", "dpi", 96, "align", VIPS_ALIGN_CENTRE, NULL))
			goto fail;
		if (text[i]->Ysize + 4 > strip_h)
			strip_h = text[i]->Ysize + 4;
	}
	for (int i = 0; i < n; i++) {
		VipsImage *face, *strip;
		if (face_image(ctx, &t->tiles[i], tile_px, &face) ||
		    caption_image(ctx, text[i], tile_px, strip_h, &strip) ||
		    vips_join(face, strip, &tiles[i], VIPS_DIRECTION_VERTICAL, NULL))
			goto fail;
	}
	VipsArrayDouble *white = vips_array_double_newv(1, 255.0);
	int bad = vips_arrayjoin(tiles, &out[0], n, "across", cols, "shim", 6, "background", white,
	                         "halign", VIPS_ALIGN_CENTRE, NULL);
	vips_area_unref(VIPS_AREA(white));
	/* The grey pieces were joined into three bands but still say B_W: say sRGB, or the PNG
	 * saver reads the extra bands as alpha. */
	if (bad || vips_copy(out[0], &out[1], "interpretation", VIPS_INTERPRETATION_sRGB, NULL))
		goto fail;
	rc = save_atomic(out[1], path, 1, "the montage");
	goto done;
fail:
	warn_vips("the montage", path);
done:
	g_object_unref(ctx);
	return rc;
}

/* ---------------------------------------------------------------- photos with boxes */

/* Colours cycled over the faces of a photo: bright and told apart on most backgrounds. */
static const double mark_ink[][3] = {{255, 200, 0}, {0, 220, 255}, {255, 80, 200}, {120, 255, 80}};

int facet_annotate_write(const char *path, const facet_tensor *photo, const facet_mark *marks,
                         int n)
{
	int h = (int)photo->shape[0], w = (int)photo->shape[1], c = (int)photo->shape[2];
	int longer = w > h ? w : h, thick = longer / 320 + 2, rc = -1, png;
	int font_px = longer / 45 > 12 ? longer / 45 : 12;
	size_t len = strlen(path);
	VipsObject *ctx;
	VipsImage **v;
	char font[32];

	facet_image_init();
	ctx = VIPS_OBJECT(vips_image_new());
	v = (VipsImage **)vips_object_local_array(ctx, 3);
	png = len >= 4 && !strcasecmp(path + len - 4, ".png");
	snprintf(font, sizeof font, "sans bold %d", font_px);
	v[0] = vips_image_new_from_memory_copy(photo->data, photo->nbytes, w, h, c,
	                                       VIPS_FORMAT_UCHAR);
	if (!v[0])
		goto fail;
	if (c == 1) { /* grey: three equal bands, so the boxes can be in colour */
		VipsImage *bands[3] = {v[0], v[0], v[0]};
		if (vips_bandjoin(bands, &v[1], 3, NULL))
			goto fail;
	} else if (vips_copy(v[0], &v[1], NULL)) {
		goto fail;
	}
	/* drawing works in place on a memory image */
	if (!(v[2] = vips_image_copy_memory(v[1])))
		goto fail;
	for (int i = 0; i < n; i++) {
		const double *ink = mark_ink[i % (sizeof mark_ink / sizeof *mark_ink)];
		double inkv[3] = {ink[0], ink[1], ink[2]}, black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
		int x0 = (int)lround(marks[i].box[0]), y0 = (int)lround(marks[i].box[1]);
		int x1 = (int)lround(marks[i].box[2]), y1 = (int)lround(marks[i].box[3]);
		char markup[6 * sizeof marks[i].caption];
		VipsImage *text = NULL;
		int tx, ty, tw, th;

		for (int t = 0; t < thick; t++)
			if (vips_draw_rect(v[2], inkv, 3, x0 - t, y0 - t, x1 - x0 + 1 + 2 * t,
			                   y1 - y0 + 1 + 2 * t, NULL))
				goto fail;
		markup_escape(marks[i].caption, markup, sizeof markup);
		if (!markup[0])
			continue;
		if (vips_text(&text, markup, "font", font, "dpi", 72, NULL))
			goto fail;
		tw = text->Xsize + 2 * thick;
		th = text->Ysize + 2 * thick;
		tx = x0 - thick;
		ty = y0 - thick - th; /* above the box, or below it when there is no room */
		if (ty < 0)
			ty = y1 + thick;
		if (tx + tw > w)
			tx = w - tw;
		if (tx < 0)
			tx = 0;
		if (vips_draw_rect(v[2], inkv, 3, tx, ty, tw, th, "fill", TRUE, NULL) ||
		    vips_draw_mask(v[2], ink[0] + ink[1] + ink[2] > 400 ? black : white, 3, text,
		                   tx + thick, ty + thick, NULL)) {
			g_object_unref(text);
			goto fail;
		}
		g_object_unref(text);
	}
	rc = save_atomic(v[2], path, png, "on the photo");
	goto done;
fail:
	warn_vips("on the photo", path);
done:
	g_object_unref(ctx);
	return rc;
}
