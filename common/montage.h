/*
 * Face montages: a grid of faces, each captioned, written as a PNG with libvips; and photos
 * with their faces' boxes and captions drawn on them.
 *
 * Tools gather the faces with bounded memory: a reservoir sample (uniform over the stream,
 * seeded) or the worst-N by some score (a min-heap on the score). Both hold at most cap tiles,
 * each an owned copy of one image, so memory is cap images however long the stream.
 */
#ifndef FACET_MONTAGE_H
#define FACET_MONTAGE_H

#include <stdint.h>

#include "facet.h"

typedef struct {
	facet_tensor image; /* owned uint8 [H, W, C] */
	char caption[96];   /* one or two lines ('\n') of plain text */
	char id[128];       /* record id, for tables beside the montage */
	double score;       /* worst-N: the ranking score; sample: the record number */
	uint64_t record;    /* 1-based record number in the stream */
} facet_tile;

/* A set of at most cap tiles. */
typedef struct {
	int cap, n;
	uint64_t seen; /* offers so far (reservoir) */
	uint64_t rng;  /* reservoir: generator state */
	facet_tile *tiles;
} facet_tiles;

void facet_tiles_init(facet_tiles *t, int cap, uint64_t seed);
void facet_tiles_free(facet_tiles *t);

/* Reservoir sampling (Algorithm R): call once per candidate record. Returns the tile to fill
 * (with facet_tile_set), or NULL when this record is not kept. */
facet_tile *facet_tiles_sample(facet_tiles *t);

/* Worst-N: returns the tile to fill when score is among the cap largest so far, else NULL.
 * After filling, call facet_tiles_worst_fix. */
facet_tile *facet_tiles_worst(facet_tiles *t, double score);
void facet_tiles_worst_fix(facet_tiles *t);

/* Copy image (uint8 [H, W, C], C in {1, 3}) and the texts into tile. */
void facet_tile_set(facet_tile *tile, const facet_tensor *image, const char *caption,
                    const char *id, double score, uint64_t record);

/* Order tiles: by record number (a sample) or by descending score (worst first). */
void facet_tiles_sort_by_record(facet_tiles *t);
void facet_tiles_sort_by_score(facet_tiles *t);

/* A pleasant number of columns for n tiles: a landscape grid with as few empty cells as can be. */
int facet_montage_columns(int n);

/* Write the montage of t's tiles, cols per row, each face scaled to tile_px wide, as a PNG at
 * path (atomically). Returns 0, or -1 after a warning. Nothing is written for no tiles. */
int facet_montage_write(const char *path, const facet_tiles *t, int cols, int tile_px);

/* A face to draw on a photo: its box in the photo's pixels and a one-line caption. */
typedef struct {
	double box[4];
	char caption[128];
} facet_mark;

/* Draw each mark's box and caption on photo (uint8 [H, W, C], C in {1, 3}) and write it at path
 * (atomically), as JPEG unless the name ends in .png. Returns 0, or -1 after a warning. */
int facet_annotate_write(const char *path, const facet_tensor *photo, const facet_mark *marks,
                         int n);

#endif
