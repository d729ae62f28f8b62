/*
 * Resizing and converting uint8 [H, W, C] tensors (C = 1 or 3), in plain C: no libvips, no
 * TurboJPEG, so that the network engine (common/nn/) links without them.
 *
 *   facet_image_resize              tensor -> tensor of another geometry (stretch), grey <-> RGB
 *   facet_image_fit                 the same with crop or pad to keep the aspect ratio
 *   facet_fit_parse                 "stretch|crop|pad" -> facet_fit
 *   facet_image_max_bytes           the largest image accepted, in bytes
 *
 * Resizing tensors does not go through libvips: its per-image set-up costs more than the work on
 * a 200x200 face. facet_image_resize is an exact area-averaging (box) filter when shrinking and
 * bilinear when enlarging, separable, in single precision, rounded once at the end.
 *
 * Grey from RGB is BT.601 luma (0.299 R + 0.587 G + 0.114 B), the Y of JPEG; RGB from grey
 * replicates the channel.
 *
 * All functions are safe to call from several threads at once.
 */
#ifndef FACET_RESAMPLE_H
#define FACET_RESAMPLE_H

#include "facet.h"

typedef enum {
	FACET_FIT_STRETCH = 0, /* scale each axis to the target: the aspect ratio may change */
	FACET_FIT_CROP,        /* scale to cover the target, cut the centre out */
	FACET_FIT_PAD          /* scale to fit inside the target, centre it on a pad colour */
} facet_fit;

/* Parse "stretch|crop|pad": 0 ok, -1 unknown. */
int facet_fit_parse(const char *s, facet_fit *f);

/* Largest decoded image accepted, in bytes (W * H * C, before any resize, after DCT scaling):
 * FACET_MAX_RECORD_BYTES from the environment, else FACET_DEFAULT_MAX_RECORD. The decoders of
 * image.h and the target of a resize are held to it. */
size_t facet_image_max_bytes(void);

/* in: uint8 [H, W, C] with C in {1, 3}. out: a new owned uint8 [h, w, c] tensor, c in {1, 3}.
 * Stretches to w x h (the aspect ratio may change). Returns 0, or -1 and *err. */
int facet_image_resize(const facet_tensor *in, int w, int h, int c, facet_tensor *out,
                       const char **err);

/* The same with a fit: crop keeps the centre, pad fills the border with pad_value (0..255, every
 * channel). */
int facet_image_fit(const facet_tensor *in, int w, int h, int c, facet_fit fit, int pad_value,
                    facet_tensor *out, const char **err);

#endif
