/*
 * Image helpers: decode files into uint8 [H, W, C] tensors, find the image files of a folder.
 *
 *   facet_image_init                start libvips once (thread-safe; the operation cache off)
 *   facet_image_decode_file         a JPEG/PNG/... file -> tensor, optionally scaled and
 *                                   centre-cropped
 *   facet_image_read_file           a file -> bytes in memory (at most facet_image_max_bytes)
 *   facet_image_decode_memory[_info]  the same from memory; _info also gives the full size
 *   facet_is_image_name, facet_list_images   image files by extension, a folder's, sorted
 *
 * Resizing and converting tensors (facet_image_resize, facet_image_fit) is in resample.h, which
 * this header includes: plain C, so that the network engine links without libvips.
 *
 * Decoding has two engines. JPEG goes through TurboJPEG (the decoder libvips itself uses), which
 * scales in the DCT domain to the smallest factor that still covers the target; every other format
 * goes through libvips (vips_thumbnail: shrink-on-load, then its own resize). Both engines give the
 * same pixels within a small tolerance (tests/facet-decode.bats compares them).
 *
 * Camera photos: with spec.orient the image is turned as its EXIF Orientation tag says, before
 * any scaling or cropping. For TurboJPEG the tag is read here from the APP1 "Exif" segment (IFD0,
 * tag 0x0112), bounds-checked: anything malformed is orientation 1; libvips reads it with
 * libexif (vips_autorot, or vips_thumbnail without no_rotate), which is more lenient about entry
 * counts. spec.min_scale shrinks on load for a search over a photo, spec.max_pixels refuses a huge
 * one from its header alone, and facet_image_decode_memory_info says the full size, so that a
 * caller reads a file once and decodes it twice (shrunk, to search; whole, to cut from) and maps
 * coordinates between the two. With these fields 0, decoding is as it always was.
 *
 * Grey from RGB is BT.601 luma (0.299 R + 0.587 G + 0.114 B), the Y of JPEG; RGB from grey
 * replicates the channel, as in resample.h. Alpha is dropped (libvips flattens it onto black).
 *
 * All functions are safe to call from several threads at once. Errors come back as a short
 * message ("not a known image format", "Premature end of JPEG file") without the file name.
 */
#ifndef FACET_IMAGE_H
#define FACET_IMAGE_H

#include "facet.h"
#include "resample.h"

typedef enum {
	FACET_ENGINE_AUTO = 0, /* TurboJPEG for JPEG, libvips for the rest */
	FACET_ENGINE_VIPS,     /* libvips for everything */
	FACET_ENGINE_TURBO     /* TurboJPEG only: anything but a JPEG is an error */
} facet_engine;

/* Parse "auto|vips|turbo": 0 ok, -1 unknown. */
int facet_engine_parse(const char *s, facet_engine *e);

/* What a decode produces. width = height = 0 keeps the stored size (or shrinks by min_scale). */
typedef struct {
	int width, height;
	int channels; /* 1 (grey) or 3 (RGB) */
	facet_engine engine;
	/* 1: turn and flip the image as the EXIF Orientation tag (1..8) says, as a viewer shows
	 * it, before any scaling or cropping (width and height are then the turned image's);
	 * 0: the pixels as stored */
	int orient;
	/* With width = height = 0 and 0 < min_scale < 1: shrink on load by the largest factor that
	 * keeps at least min_scale of the (oriented) full size on both axes. A JPEG is decoded at
	 * the smallest TurboJPEG DCT factor (1/8, 1/4, 3/8, 1/2, 5/8, 3/4, 7/8) that is at least
	 * min_scale, whatever the engine; anything else is decoded whole and box-filtered to
	 * ceil(W * min_scale) x ceil(H * min_scale). 0, or 1 and over: the full size. */
	double min_scale;
	/* > 0: an image whose header gives more than max_pixels pixels is refused before any pixel
	 * memory is allocated ("image too large: WxH pixels, over the limit of N") */
	int64_t max_pixels;
} facet_image_spec;

/* What a decode found out about the whole image. A shrunk copy of w x h pixels maps back to the
 * full image by x * width / w, y * height / h. */
typedef struct {
	int width, height; /* full stored size after orientation */
	int orientation;   /* 1..8 as applied, 1 when orient is off or no tag */
} facet_image_info;

/* Start libvips (VIPS_INIT), switch its operation cache off, its own threads to one per call
 * (callers run their own workers) and its liborc code generation off (not thread-safe). Dies if
 * libvips cannot start. Called by the functions below when needed; call it early in a tool that
 * also uses libvips directly. */
void facet_image_init(void);

/* libvips' (process-wide) error buffer as one line in err: its first `lines` lines that say
 * something, joined by "; ", or fallback when there is none (always, with lines 0); then the
 * buffer is cleared. */
void facet_image_vips_error(char *err, size_t errlen, const char *fallback, int lines);

/* Is buf the start of a JPEG (FF D8 FF)? */
int facet_image_is_jpeg(const void *buf, size_t n);

/* Decode path into an owned tensor [H, W, C] uint8. With spec->width/height set, the image is
 * scaled to cover W x H keeping its aspect ratio and the centre W x H is kept (FACET_FIT_CROP).
 * Returns 0, or -1 with a message in err (errlen bytes, NUL-terminated) and out untouched.
 * A truncated or corrupt file is an error, also when the decoder would only warn. */
int facet_image_decode_file(const char *path, const facet_image_spec *spec, facet_tensor *out,
                            char *err, size_t errlen);

/* The same from an encoded image in memory. */
int facet_image_decode_memory(const void *buf, size_t n, const facet_image_spec *spec,
                              facet_tensor *out, char *err, size_t errlen);

/* The same, and on success *info (when info is not NULL) gets the full image's size and the
 * orientation applied. Decode a photo twice (a shrunk copy to search, the full one to cut from)
 * and map coordinates between the two with it. */
int facet_image_decode_memory_info(const void *buf, size_t n, const facet_image_spec *spec,
                                   facet_tensor *out, facet_image_info *info, char *err,
                                   size_t errlen);

/* A w x h image against spec->max_pixels (when > 0): 0 within it, else -1 and "image too
 * large: WxH pixels, over the limit of N" in err. The decoders check every header with it. */
int facet_image_check_pixels(int w, int h, const facet_image_spec *spec, char *err,
                             size_t errlen);

/* The full size and orientation of an encoded image from its header alone (no pixels are
 * decoded), checked against spec->max_pixels: to choose the scale of a decode. 0, or -1 and err. */
int facet_image_probe(const void *buf, size_t n, const facet_image_spec *spec,
                      facet_image_info *info, char *err, size_t errlen);

/* Read a whole file into a new malloc'd buffer (*buf, *len bytes), at most facet_image_max_bytes()
 * bytes: decode it once or several times with facet_image_decode_memory. Returns 0, or -1 with a
 * message in err ("No such file or directory", "is a directory", "file too large (...)"). */
int facet_image_read_file(const char *path, unsigned char **buf, size_t *len, char *err,
                          size_t errlen);

/* Does a file name end in an image extension (case-insensitive): jpg jpeg jpe jfif png webp tif
 * tiff gif pnm ppm pgm pbm heic heif avif jp2 jxl? */
int facet_is_image_name(const char *name);

/* The image files of a directory, not recursively: names starting with '.' and names that are
 * not image names are skipped, as are entries that are neither files nor links. *paths gets n
 * malloc'd strings "dir/name" sorted by strcmp (free each and the array), NULL when n = 0.
 * Returns 0, or -1 with a message in err ("cannot open directory: ...") and *paths, *n untouched.
 */
int facet_list_images(const char *dir, char ***paths, size_t *n, char *err, size_t errlen);

#endif
