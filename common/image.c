/* Image decode (TurboJPEG, libvips); resizing tensors is in resample.c. */
#define _GNU_SOURCE
#include "image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <turbojpeg.h>
#include <vips/vips.h>
#include <vips/vector.h> /* vips_vector_set_enabled */

/* ---------------------------------------------------------------- set-up */

static pthread_once_t vips_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t vips_error_lock = PTHREAD_MUTEX_INITIALIZER;

/* libvips logs a warning per bad tile on top of the error it returns: one message is enough. */
static void drop_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data)
{
	(void)domain;
	(void)level;
	(void)msg;
	(void)data;
}

static void vips_start(void)
{
	if (VIPS_INIT("facet"))
		die("cannot start libvips: %s", vips_error_buffer());
	g_log_set_handler("VIPS", G_LOG_LEVEL_WARNING, drop_log, NULL);
	vips_cache_set_max(0);
	vips_concurrency_set(1);
	/* No run-time code generation (liborc): its code allocator is not safe when several of our
	 * worker threads build pipelines at once (liborc 0.4.33 crashed so in CI, in
	 * orc_code_allocate_codemem); JPEGs, the common case, take the TurboJPEG path anyway. */
	vips_vector_set_enabled(FALSE);
}

void facet_image_init(void)
{
	pthread_once(&vips_once, vips_start);
}

int facet_engine_parse(const char *s, facet_engine *e)
{
	static const char *const names[] = {"auto", "vips", "turbo"};
	int i = facet_name_index(s, names, 3);
	if (i >= 0)
		*e = (facet_engine)i;
	return i < 0 ? -1 : 0;
}

int facet_image_is_jpeg(const void *buf, size_t n)
{
	const unsigned char *b = buf;
	return n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;
}

void facet_image_vips_error(char *err, size_t errlen, const char *fallback, int lines)
{
	const char *b;
	size_t used = 0;

	pthread_mutex_lock(&vips_error_lock);
	b = vips_error_buffer();
	err[0] = '\0';
	/* libvips stacks one line per layer ("X: write error", "unix error: File too large", ...);
	 * "Unknown error" lines say nothing */
	for (int k = 0; *b && k < lines; k++) {
		size_t n = strcspn(b, "\n");
		if (n && !memmem(b, n, "Unknown error", 13) && used < errlen) {
			int w = snprintf(err + used, errlen - used, "%s%.*s", used ? "; " : "",
			                 (int)n, b);
			used += w > 0 ? (size_t)w : 0;
		}
		b += n + (b[n] == '\n');
	}
	if (!err[0])
		snprintf(err, errlen, "%s", fallback);
	vips_error_clear();
	pthread_mutex_unlock(&vips_error_lock);
}

/* ---------------------------------------------------------------- orientation */

static uint32_t get16(const unsigned char *p, int be)
{
	return be ? (uint32_t)p[0] << 8 | p[1] : (uint32_t)p[1] << 8 | p[0];
}

static uint32_t get32(const unsigned char *p, int be)
{
	return be ? get16(p, 1) << 16 | get16(p + 2, 1) : get16(p + 2, 0) << 16 | get16(p, 0);
}

/* The Orientation of the TIFF block t[0, n) of an EXIF segment: tag 0x0112 of IFD0, one SHORT,
 * 1..8. 1 when there is none, and whenever anything in the block is malformed: a byte order
 * other than II or MM, a bad magic number, an offset or an entry count that runs past the end. */
static int tiff_orientation(const unsigned char *t, size_t n)
{
	uint32_t ifd, count, v;
	int be;

	if (n < 8)
		return 1;
	if (t[0] == 'I' && t[1] == 'I')
		be = 0;
	else if (t[0] == 'M' && t[1] == 'M')
		be = 1;
	else
		return 1;
	ifd = get32(t + 4, be);
	if (get16(t + 2, be) != 42 || ifd < 8 || ifd > n - 2)
		return 1;
	count = get16(t + ifd, be);
	if (count > (n - ifd - 2) / 12)
		return 1;
	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *e = t + ifd + 2 + (size_t)12 * i;
		if (get16(e, be) != 0x0112)
			continue;
		v = get16(e + 8, be);
		if (get16(e + 2, be) != 3 || get32(e + 4, be) != 1 || v < 1 || v > 8)
			return 1;
		return (int)v;
	}
	return 1;
}

/* The next marker segment of a JPEG's header (before its scan), from byte *at on, with a marker
 * want accepts: the marker, its payload in *seg, *len, and *at past it. 0 when there is none
 * or the markers are broken (a segment running past the end, lost marker sync). */
static unsigned jpeg_segment(const unsigned char *b, size_t n, size_t *at, int (*want)(unsigned),
                             const unsigned char **seg, size_t *len)
{
	size_t p = *at;

	while (p + 4 <= n) {
		unsigned m = b[p + 1];
		if (b[p] != 0xFF)
			return 0;
		if (m == 0xFF) { /* fill byte */
			p++;
			continue;
		}
		if (m == 0x01 || (m >= 0xD0 && m <= 0xD8)) { /* markers without a length */
			p += 2;
			continue;
		}
		if (m == 0xDA || m == 0xD9) /* start of scan, end of image */
			return 0;
		size_t l = (size_t)b[p + 2] << 8 | b[p + 3];
		if (l < 2 || l > n - p - 2)
			return 0;
		p += 2 + l;
		if (want(m)) {
			*seg = b + p - l + 2;
			*len = l - 2;
			*at = p;
			return m;
		}
	}
	return 0;
}

static int is_app1(unsigned m)
{
	return m == 0xE1;
}

/* The EXIF Orientation of the JPEG b[0, n): the first APP1 segment that starts "Exif\0\0".
 * 1 when there is none or the markers are broken. */
static int jpeg_orientation(const unsigned char *b, size_t n)
{
	const unsigned char *seg;
	size_t at = 2, len;

	while (jpeg_segment(b, n, &at, is_app1, &seg, &len))
		if (len >= 6 && !memcmp(seg, "Exif\0\0", 6))
			return tiff_orientation(seg + 6, len - 6);
	return 1;
}

/* Start of frame: 0xC0..0xCF but for DHT (C4), JPG (C8) and DAC (CC). */
static int is_sof(unsigned m)
{
	return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

/* The bytes of DCT coefficients a progressive JPEG holds while it decodes (libjpeg keeps every
 * block of every component, two bytes a coefficient, whatever the output scale); 0 for a
 * sequential one, which decodes a row of blocks at a time. */
static uint64_t jpeg_coefficient_bytes(const unsigned char *b, size_t n)
{
	const unsigned char *f;
	size_t at = 2, len;
	unsigned m = jpeg_segment(b, n, &at, is_sof, &f, &len);
	int hmax = 1, vmax = 1;
	uint64_t bytes = 0;

	if (!m || (m & 3) != 2 || len < 6 || len < 6 + 3 * (size_t)f[5]) /* C2 C6 CA CE */
		return 0;
	uint64_t h = (uint64_t)f[1] << 8 | f[2], w = (uint64_t)f[3] << 8 | f[4];
	for (int c = 0; c < f[5]; c++) {
		hmax = (f[7 + 3 * c] >> 4) > hmax ? f[7 + 3 * c] >> 4 : hmax;
		vmax = (f[7 + 3 * c] & 15) > vmax ? f[7 + 3 * c] & 15 : vmax;
	}
	for (int c = 0; c < f[5]; c++) {
		int hs = f[7 + 3 * c] >> 4, vs = f[7 + 3 * c] & 15;
		uint64_t bw = (w * (hs ? hs : 1) + 8 * hmax - 1) / (8 * hmax);
		uint64_t bh = (h * (vs ? vs : 1) + 8 * vmax - 1) / (8 * vmax);
		bytes += (bw + hmax) * (bh + vmax) * 64 * 2;
	}
	return bytes;
}

/* in [H, W, C] -> a new owned out as a viewer shows it for EXIF orientation o: [H, W, C] for
 * 1..4, [W, H, C] for 5..8. 1 copies, 2 mirrors left-right, 3 turns 180 degrees, 4 mirrors
 * top-bottom, 5 transposes (mirrors about the main diagonal), 6 turns 90 degrees clockwise,
 * 7 mirrors about the other diagonal, 8 turns 90 degrees anticlockwise. Row oy of out is read
 * from the source pixel at index start, then every dx bytes. */
static void orient_pixels(const facet_tensor *in, int o, facet_tensor *out)
{
	ptrdiff_t H = in->shape[0], W = in->shape[1], C = in->shape[2], row = W * C;
	int64_t shape[3] = {o >= 5 ? W : H, o >= 5 ? H : W, C};
	const uint8_t *src = in->data;
	uint8_t *dst;

	facet_tensor_alloc(out, FACET_U8, 3, shape);
	dst = out->owned;
	for (ptrdiff_t oy = 0; oy < shape[0]; oy++) {
		ptrdiff_t i, dx;
		switch (o) {
		case 2:
			i = oy * row + (W - 1) * C, dx = -C;
			break;
		case 3:
			i = (H - 1 - oy) * row + (W - 1) * C, dx = -C;
			break;
		case 4:
			i = (H - 1 - oy) * row, dx = C;
			break;
		case 5:
			i = oy * C, dx = row;
			break;
		case 6:
			i = (H - 1) * row + oy * C, dx = -row;
			break;
		case 7:
			i = (H - 1) * row + (W - 1 - oy) * C, dx = -row;
			break;
		case 8:
			i = (W - 1 - oy) * C, dx = row;
			break;
		default:
			i = oy * row, dx = C;
		}
		for (ptrdiff_t ox = 0; ox < shape[1]; ox++, i += dx, dst += C)
			memcpy(dst, src + i, (size_t)C);
	}
}

/* ---------------------------------------------------------------- scale and limits */

/* DCT-domain scaling factors tried, smallest first. */
static const tjscalingfactor turbo_factors[] = {{1, 8}, {1, 4}, {3, 8}, {1, 2},
                                                {5, 8}, {3, 4}, {7, 8}, {1, 1}};

/* Does the spec ask for a shrink by min_scale (no target size, 0 < min_scale < 1)? */
static int shrinking(const facet_image_spec *spec)
{
	return spec->width <= 0 && spec->min_scale > 0 && spec->min_scale < 1;
}

/* The smallest DCT scaling factor that is at least s. */
static tjscalingfactor turbo_factor(double s)
{
	size_t n = sizeof turbo_factors / sizeof *turbo_factors;

	for (size_t i = 0; i < n; i++)
		if ((double)turbo_factors[i].num / turbo_factors[i].denom >= s)
			return turbo_factors[i];
	return turbo_factors[n - 1];
}

/* The size a shrink by s gives a w x h image: TurboJPEG's for a JPEG (whatever the engine, so
 * that both give one geometry), ceil(w * s) x ceil(h * s) for the rest. */
static void shrunk_size(int w, int h, double s, int jpeg, int *sw, int *sh)
{
	if (jpeg) {
		tjscalingfactor f = turbo_factor(s);
		*sw = TJSCALED(w, f);
		*sh = TJSCALED(h, f);
		return;
	}
	*sw = (int)ceil(w * s);
	*sh = (int)ceil(h * s);
	*sw = *sw < 1 ? 1 : *sw > w ? w : *sw;
	*sh = *sh < 1 ? 1 : *sh > h ? h : *sh;
}

/* 0 when a w x h image is within spec->max_pixels (or there is no limit), else -1 and err. */
int facet_image_check_pixels(int w, int h, const facet_image_spec *spec, char *err,
                             size_t errlen)
{
	if (spec->max_pixels > 0 && (int64_t)w * h > spec->max_pixels) {
		snprintf(err, errlen, "image too large: %dx%d pixels, over the limit of %lld", w, h,
		         (long long)spec->max_pixels);
		return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- TurboJPEG */

/* One decompressor per thread, made on first use, destroyed when the thread ends. */
static pthread_key_t turbo_key;
static pthread_once_t turbo_once = PTHREAD_ONCE_INIT;

static void turbo_destroy(void *h)
{
	tjDestroy(h);
}

static void turbo_key_make(void)
{
	if (pthread_key_create(&turbo_key, turbo_destroy) != 0)
		die("cannot make a thread key");
}

static tjhandle turbo_handle(void)
{
	tjhandle h;

	pthread_once(&turbo_once, turbo_key_make);
	h = pthread_getspecific(turbo_key);
	if (!h) {
		h = tjInitDecompress();
		if (h && pthread_setspecific(turbo_key, h) != 0) {
			tjDestroy(h);
			h = NULL;
		}
	}
	return h;
}

/* Is the centre crop of a sw x sh image to the aspect of w x h at least w x h? (It is exactly
 * when both sides are.) */
static int covers(int sw, int sh, int w, int h)
{
	return sw >= w && sh >= h;
}

/* The scaled size TurboJPEG decodes a w x h JPEG to (swap: the image is turned a quarter after
 * decoding, so the target's width is the JPEG's height): with a target, the smallest factor whose
 * centre crop to the target's aspect still covers it (the full size when none does); with
 * min_scale, the smallest factor at least min_scale. */
static void turbo_scaled(int w, int h, int swap, const facet_image_spec *spec, int *sw, int *sh)
{
	size_t n = sizeof turbo_factors / sizeof *turbo_factors;

	*sw = w;
	*sh = h;
	if (shrinking(spec)) {
		shrunk_size(w, h, spec->min_scale, 1, sw, sh);
		return;
	}
	if (spec->width <= 0)
		return;
	for (size_t i = 0; i < n; i++) {
		int tw = TJSCALED(w, turbo_factors[i]), th = TJSCALED(h, turbo_factors[i]);
		if (swap ? covers(th, tw, spec->width, spec->height)
		         : covers(tw, th, spec->width, spec->height)) {
			*sw = tw;
			*sh = th;
			return;
		}
	}
}

/* After an error a TurboJPEG 2.1 handle is not reset: the next tjDecompressHeader3 "succeeds"
 * with stale sizes and the decode overruns the buffer. Drop the thread's handle instead. */
static int turbo_fail(tjhandle tj, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s", tjGetErrorStr2(tj));
	pthread_setspecific(turbo_key, NULL);
	tjDestroy(tj);
	return -1;
}

/* A JPEG's header through TurboJPEG: its stored size and colour space, and the orientation to
 * apply (1 unless spec->orient), the turned size checked against spec's pixel limit. On a
 * handle that fails, the thread's handle is dropped (turbo_fail). 0 ok, -1 and err. */
static int turbo_header(tjhandle tj, const unsigned char *buf, size_t n,
                        const facet_image_spec *spec, int *w, int *h, int *cs, int *o, char *err,
                        size_t errlen)
{
	int sub;

	if (tjDecompressHeader3(tj, buf, (unsigned long)n, w, h, &sub, cs) != 0)
		return turbo_fail(tj, err, errlen);
	if (*w < 1 || *h < 1 || *w > 65535 || *h > 65535) {
		/* a corrupt header can "succeed" with sizes no JPEG has: stop before arithmetic */
		snprintf(err, errlen, "JPEG header gives an impossible size %dx%d", *w, *h);
		pthread_setspecific(turbo_key, NULL);
		tjDestroy(tj);
		return -1;
	}
	uint64_t coef = jpeg_coefficient_bytes(buf, n);
	if (coef > 4 * (uint64_t)facet_image_max_bytes()) {
		snprintf(err, errlen,
		         "progressive JPEG too large to decode: %dx%d, %llu MB of coefficients held at once, over 4 x FACET_MAX_RECORD_BYTES",
		         *w, *h, (unsigned long long)(coef >> 20));
		return -1;
	}
	*o = spec->orient ? jpeg_orientation(buf, n) : 1;
	if (*o >= 5)
		return facet_image_check_pixels(*h, *w, spec, err, errlen);
	return facet_image_check_pixels(*w, *h, spec, err, errlen);
}

/* 0 decoded, -1 error, 1 a JPEG TurboJPEG cannot give as RGB/grey (CMYK): try libvips. */
static int turbo_decode(const unsigned char *buf, size_t n, const facet_image_spec *spec,
                        facet_tensor *out, facet_image_info *info, char *err, size_t errlen)
{
	tjhandle tj = turbo_handle();
	int w, h, cs, sw, sh, o, swap;
	int64_t shape[3];
	facet_tensor full;
	const char *msg;

	if (!tj) {
		snprintf(err, errlen, "cannot start TurboJPEG: %s", tjGetErrorStr2(NULL));
		return -1;
	}
	if (turbo_header(tj, buf, n, spec, &w, &h, &cs, &o, err, errlen) != 0)
		return -1;
	swap = o >= 5;
	if (cs == TJCS_CMYK || cs == TJCS_YCCK)
		return 1;
	turbo_scaled(w, h, swap, spec, &sw, &sh);
	if ((uint64_t)sw * sh * spec->channels > facet_image_max_bytes()) {
		snprintf(err, errlen, "image too large (%dx%d)", w, h);
		return -1;
	}
	shape[0] = sh;
	shape[1] = sw;
	shape[2] = spec->channels;
	facet_tensor_alloc(&full, FACET_U8, 3, shape);
	/* Every warning (a truncated or corrupt file) stops the decode and is an error. */
	if (tjDecompress2(tj, buf, (unsigned long)n, full.owned, sw, 0, sh,
	                  spec->channels == 1 ? TJPF_GRAY : TJPF_RGB, TJFLAG_STOPONWARNING) != 0) {
		facet_tensor_free(&full);
		return turbo_fail(tj, err, errlen);
	}
	if (o != 1) {
		facet_tensor turned;
		orient_pixels(&full, o, &turned);
		facet_tensor_free(&full);
		full = turned;
	}
	if (spec->width > 0 && (full.shape[1] != spec->width || full.shape[0] != spec->height)) {
		int rc = facet_image_fit(&full, spec->width, spec->height, spec->channels,
		                         FACET_FIT_CROP, 0, out, &msg);
		facet_tensor_free(&full);
		if (rc != 0) {
			snprintf(err, errlen, "%s", msg);
			return -1;
		}
	} else {
		*out = full;
	}
	if (info)
		*info = (facet_image_info){swap ? h : w, swap ? w : h, o};
	return 0;
}

/* ---------------------------------------------------------------- libvips */

/* The stored size and (when the spec asks for it) the orientation that libvips reads from an
 * image's header, checked against max_pixels. 0 ok, -1 and err. */
static int vips_header(VipsImage *img, const facet_image_spec *spec, int *w, int *h, int *o,
                       char *err, size_t errlen)
{
	*o = spec->orient ? vips_image_get_orientation(img) : 1;
	if (*o < 1 || *o > 8)
		*o = 1;
	*w = vips_image_get_width(img);
	*h = vips_image_get_height(img);
	if (*o >= 5) {
		int t = *w;
		*w = *h;
		*h = t;
	}
	return facet_image_check_pixels(*w, *h, spec, err, errlen);
}

static int vips_decode(const void *buf, size_t n, const facet_image_spec *spec, facet_tensor *out,
                       facet_image_info *info, char *err, size_t errlen)
{
	/* As strict as TurboJPEG for JPEG (a warning there is corrupt data); other formats fail
	 * on errors only (a PNG with an odd profile chunk warns, and is fine). */
	int jpeg = facet_image_is_jpeg(buf, n);
	const char *fail_on = jpeg ? "fail_on=warning" : "fail_on=error";
	VipsImage *img = NULL, *t = NULL;
	void *mem = NULL;
	size_t size = 0;
	facet_tensor rgb;
	int64_t shape[3];
	const char *msg;
	int rc = -1, fw = 0, fh = 0, o = 1, tw, th;
	facet_fit fit = FACET_FIT_CROP;

/* Replace img by the result of an operation on it, or fail. */
#define STEP(call)                                                                                 \
	do {                                                                                       \
		if (call) {                                                                        \
			facet_image_vips_error(err, errlen, "libvips cannot convert the image",    \
			                       1);                                                 \
			goto out;                                                                  \
		}                                                                                  \
		g_object_unref(img);                                                               \
		img = t;                                                                           \
		t = NULL;                                                                          \
	} while (0)

	if (!vips_foreign_find_load_buffer(buf, n)) {
		facet_image_vips_error(err, errlen, "not a known image format", 0);
		return -1;
	}
	if (spec->width > 0) {
		if (spec->max_pixels > 0 || info) {
			/* the header only: libvips reads the pixels when an image is rendered */
			img = vips_image_new_from_buffer(buf, n, fail_on, NULL);
			if (!img) {
				facet_image_vips_error(err, errlen, "libvips cannot read the image",
				                       1);
				return -1;
			}
			if (vips_header(img, spec, &fw, &fh, &o, err, errlen) != 0)
				goto out;
			g_object_unref(img);
			img = NULL;
		}
		if (vips_thumbnail_buffer((void *)buf, n, &img, spec->width, "height", spec->height,
		                          "crop", VIPS_INTERESTING_CENTRE, "no_rotate",
		                          !spec->orient,
		                          /* 8.14 ignores "fail_on" here; the loader option works */
		                          "option_string", fail_on, NULL)) {
			facet_image_vips_error(err, errlen, "libvips cannot read the image", 1);
			return -1;
		}
	} else {
		img = vips_image_new_from_buffer(buf, n, fail_on, "access", VIPS_ACCESS_SEQUENTIAL,
		                                 NULL);
		if (!img) {
			facet_image_vips_error(err, errlen, "libvips cannot read the image", 1);
			return -1;
		}
		if (vips_header(img, spec, &fw, &fh, &o, err, errlen) != 0)
			goto out;
		if (o != 1) {
			/* turning and flipping read the rows out of order: open it again for
			 * random access (a sequential read fails past the loader's few cached
			 * rows) */
			g_object_unref(img);
			img = vips_image_new_from_buffer(buf, n, fail_on, NULL);
			if (!img) {
				facet_image_vips_error(err, errlen, "libvips cannot read the image",
				                       1);
				return -1;
			}
			STEP(vips_autorot(img, &t, NULL));
		}
	}

	if (vips_image_hasalpha(img))
		STEP(vips_flatten(img, &t, NULL));
	if (vips_image_get_interpretation(img) != VIPS_INTERPRETATION_sRGB ||
	    vips_image_get_bands(img) != 3)
		STEP(vips_colourspace(img, &t, VIPS_INTERPRETATION_sRGB, NULL));
	if (vips_image_get_format(img) != VIPS_FORMAT_UCHAR)
		STEP(vips_cast_uchar(img, &t, NULL));
	if (vips_image_get_bands(img) > 3)
		STEP(vips_extract_band(img, &t, 0, "n", 3, NULL));
#undef STEP
	if (vips_image_get_bands(img) != 3) {
		snprintf(err, errlen, "cannot convert the image to RGB");
		goto out;
	}
	if ((uint64_t)vips_image_get_width(img) * vips_image_get_height(img) * 3 >
	    facet_image_max_bytes()) {
		snprintf(err, errlen, "image too large (%dx%d)", vips_image_get_width(img),
		         vips_image_get_height(img));
		goto out;
	}
	/* Rendering is where libvips finds a truncated or corrupt file. */
	mem = vips_image_write_to_memory(img, &size);
	if (!mem) {
		facet_image_vips_error(err, errlen, "libvips cannot decode the image", 1);
		goto out;
	}
	shape[0] = vips_image_get_height(img);
	shape[1] = vips_image_get_width(img);
	shape[2] = 3;
	rgb = (facet_tensor){.dtype = FACET_U8, .ndim = 3, .data = mem, .nbytes = size};
	memcpy(rgb.shape, shape, sizeof shape);
	if (size != (size_t)shape[0] * shape[1] * 3) {
		snprintf(err, errlen, "libvips returned %zu bytes for %dx%d", size, (int)shape[1],
		         (int)shape[0]);
		goto out;
	}
	if (spec->width > 0) {
		tw = spec->width;
		th = spec->height;
	} else if (shrinking(spec)) {
		shrunk_size((int)shape[1], (int)shape[0], spec->min_scale, jpeg, &tw, &th);
		fit = FACET_FIT_STRETCH;
	} else {
		tw = (int)shape[1];
		th = (int)shape[0];
	}
	if (facet_image_fit(&rgb, tw, th, spec->channels, fit, 0, out, &msg) != 0) {
		snprintf(err, errlen, "%s", msg);
		goto out;
	}
	if (info)
		*info = (facet_image_info){fw, fh, o};
	rc = 0;
out:
	g_free(mem);
	if (t)
		g_object_unref(t);
	if (img)
		g_object_unref(img);
	return rc;
}

/* ---------------------------------------------------------------- decode */

int facet_image_decode_memory_info(const void *buf, size_t n, const facet_image_spec *spec,
                                   facet_tensor *out, facet_image_info *info, char *err,
                                   size_t errlen)
{
	int jpeg = facet_image_is_jpeg(buf, n), rc;

	facet_image_init();
	if (spec->channels != 1 && spec->channels != 3) {
		snprintf(err, errlen, "channels must be 1 or 3");
		return -1;
	}
	if (n == 0) {
		snprintf(err, errlen, "empty file");
		return -1;
	}
	if (spec->engine == FACET_ENGINE_TURBO && !jpeg) {
		snprintf(err, errlen, "not a JPEG (the TurboJPEG engine reads only JPEG)");
		return -1;
	}
	if (jpeg && spec->engine != FACET_ENGINE_VIPS) {
		rc = turbo_decode(buf, n, spec, out, info, err, errlen);
		if (rc <= 0)
			return rc;
		if (spec->engine == FACET_ENGINE_TURBO) {
			snprintf(err, errlen, "CMYK JPEG (TurboJPEG cannot give RGB; use libvips)");
			return -1;
		}
	}
	return vips_decode(buf, n, spec, out, info, err, errlen);
}

int facet_image_probe(const void *buf, size_t n, const facet_image_spec *spec,
                      facet_image_info *info, char *err, size_t errlen)
{
	int w, h, o;

	facet_image_init();
	if (n == 0) {
		snprintf(err, errlen, "empty file");
		return -1;
	}
	if (facet_image_is_jpeg(buf, n) && spec->engine != FACET_ENGINE_VIPS) {
		tjhandle tj = turbo_handle();
		int cs;
		if (!tj) {
			snprintf(err, errlen, "cannot start TurboJPEG: %s", tjGetErrorStr2(NULL));
			return -1;
		}
		if (turbo_header(tj, buf, n, spec, &w, &h, &cs, &o, err, errlen) != 0)
			return -1;
		if (o >= 5) {
			int t = w;
			w = h;
			h = t;
		}
	} else {
		VipsImage *img;
		if (!vips_foreign_find_load_buffer(buf, n)) {
			facet_image_vips_error(err, errlen, "not a known image format", 0);
			return -1;
		}
		img = vips_image_new_from_buffer(buf, n, "", NULL);
		if (!img) {
			facet_image_vips_error(err, errlen, "libvips cannot read the image", 1);
			return -1;
		}
		if (vips_header(img, spec, &w, &h, &o, err, errlen) != 0) {
			g_object_unref(img);
			return -1;
		}
		g_object_unref(img);
	}
	*info = (facet_image_info){w, h, o};
	return 0;
}

int facet_image_decode_memory(const void *buf, size_t n, const facet_image_spec *spec,
                              facet_tensor *out, char *err, size_t errlen)
{
	return facet_image_decode_memory_info(buf, n, spec, out, NULL, err, errlen);
}

int facet_image_read_file(const char *path, unsigned char **buf, size_t *len, char *err,
                          size_t errlen)
{
	char eb[128];
	struct stat st;
	size_t cap, n = 0, max = facet_image_max_bytes();
	unsigned char *b;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, errlen, "%s", strerror_r(errno, eb, sizeof eb));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "%s", strerror_r(errno, eb, sizeof eb));
		close(fd);
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "is a directory");
		close(fd);
		return -1;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
		snprintf(err, errlen, "file too large (%lld bytes)", (long long)st.st_size);
		close(fd);
		return -1;
	}
	cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
	b = xmalloc(cap);
	for (;;) {
		ssize_t r;
		if (n == cap) {
			if (cap > max) {
				snprintf(err, errlen, "file too large (over %zu bytes)", max);
				goto fail;
			}
			cap *= 2;
			b = xrealloc(b, cap);
		}
		r = read(fd, b + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s", strerror_r(errno, eb, sizeof eb));
			goto fail;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max) {
		snprintf(err, errlen, "file too large (over %zu bytes)", max);
		goto fail;
	}
	close(fd);
	*buf = b;
	*len = n;
	return 0;
fail:
	free(b);
	close(fd);
	return -1;
}

int facet_image_decode_file(const char *path, const facet_image_spec *spec, facet_tensor *out,
                            char *err, size_t errlen)
{
	unsigned char *buf;
	size_t n;
	int rc;

	if (facet_image_read_file(path, &buf, &n, err, errlen) != 0)
		return -1;
	rc = facet_image_decode_memory(buf, n, spec, out, err, errlen);
	free(buf);
	return rc;
}

/* ---------------------------------------------------------------- folders */

static int ends_with_ci(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int facet_is_image_name(const char *name)
{
	static const char *const ext[] = {".jpg", ".jpeg", ".jpe",  ".jfif", ".png", ".webp",
	                                  ".tif", ".tiff", ".gif",  ".pnm",  ".ppm", ".pgm",
	                                  ".pbm", ".heic", ".heif", ".avif", ".jp2", ".jxl"};
	for (size_t i = 0; i < sizeof ext / sizeof *ext; i++)
		if (ends_with_ci(name, ext[i]))
			return 1;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int facet_list_images(const char *dir, char ***paths, size_t *n, char *err, size_t errlen)
{
	char eb[128];
	DIR *d = opendir(dir);
	struct dirent *e;
	char **p = NULL;
	size_t cap = 0, k = 0, len = strlen(dir);
	const char *sep = len && dir[len - 1] == '/' ? "" : "/";

	if (!d) {
		snprintf(err, errlen, "cannot open directory: %s",
		         strerror_r(errno, eb, sizeof eb));
		return -1;
	}
	for (;;) {
		errno = 0;
		e = readdir(d);
		if (!e)
			break;
		if (e->d_name[0] == '.' || !facet_is_image_name(e->d_name))
			continue;
		if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN && e->d_type != DT_LNK)
			continue;
		if (k == cap) {
			cap = cap ? 2 * cap : 256;
			p = xrealloc(p, cap * sizeof *p);
		}
		p[k] = xmalloc(len + strlen(e->d_name) + 2);
		sprintf(p[k++], "%s%s%s", dir, sep, e->d_name);
	}
	if (errno) {
		snprintf(err, errlen, "cannot read directory: %s",
		         strerror_r(errno, eb, sizeof eb));
		closedir(d);
		while (k > 0)
			free(p[--k]);
		free(p);
		return -1;
	}
	closedir(d);
	if (k > 1)
		qsort(p, k, sizeof *p, cmp_str);
	*paths = p;
	*n = k;
	return 0;
}
