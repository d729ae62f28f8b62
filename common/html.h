/*
 * A small writer for the self-contained HTML pages of facet-eda and facet-report.
 *
 * The page has its style sheet inline and refers to its images by relative path, so the output
 * folder opens from disk (or moved elsewhere as a whole) with no network. Every text argument is
 * escaped; only facet_html_raw writes markup as given. The page is written atomically:
 * facet_html_close renames it into place, facet_html_abort leaves nothing behind.
 */
#ifndef FACET_HTML_H
#define FACET_HTML_H

#include "facet.h"

typedef struct facet_html facet_html;

/* Make the output folder dir and its missing parents (mkdir -p). Dies on failure. */
void facet_outdir_make(const char *dir);
/* dir/name in a new string. */
char *facet_outdir_path(const char *dir, const char *name);

/* Start the page at path with a title (also its first heading). Dies if path cannot be written. */
facet_html *facet_html_open(const char *path, const char *title);
/* Finish, fsync and rename into place. Dies on a write error. */
void facet_html_close(facet_html *h);

void facet_html_section(facet_html *h, const char *heading);                  /* <h2> */
void facet_html_subsection(facet_html *h, const char *heading);               /* <h3> */
void facet_html_p(facet_html *h, const char *fmt, ...) FACET_PRINTF(2, 3);    /* escaped text */
void facet_html_note(facet_html *h, const char *fmt, ...) FACET_PRINTF(2, 3); /* a notice box */
void facet_html_raw(facet_html *h, const char *markup);
/* An image file beside the page, with alt text and a caption under it. */
void facet_html_img(facet_html *h, const char *src, const char *alt, const char *caption);
/* Charts side by side: call facet_html_img between these two. */
void facet_html_row_begin(facet_html *h);
void facet_html_row_end(facet_html *h);

/* A table: header cells, then rows of ncols cells each (NULL cells print empty). */
void facet_html_table_begin(facet_html *h, int ncols, const char *const *header);
void facet_html_table_row(facet_html *h, const char *const *cells);
void facet_html_table_end(facet_html *h);

#endif
