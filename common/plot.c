/*
 * Charts over PLplot's cairo drivers (pngcairo, svgcairo). See plot.h.
 *
 * Each chart is one PLplot stream: made, drawn into a temp file beside the target, ended, and
 * the temp file renamed into place. Colour map 0 holds the page colours and a ten-colour
 * palette for series; colour map 1 is set per heatmap.
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <plplot.h>

#include "facet.h"
#include "plot.h"

enum { COL_BG = 0, COL_FG = 1, COL_GRID = 2, COL_SERIES = 3, N_SERIES_COLOURS = 10 };

static const unsigned char palette[N_SERIES_COLOURS][3] = {
    {31, 119, 180}, {255, 127, 14},  {44, 160, 44},   {214, 39, 40},  {148, 103, 189},
    {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
};

static int series_colour(int s)
{
	return COL_SERIES + s % N_SERIES_COLOURS;
}

/* The driver for path's extension, or NULL. */
static const char *plot_device(const char *path)
{
	const char *dot = strrchr(path, '.');
	if (dot && strcmp(dot, ".png") == 0)
		return "pngcairo";
	if (dot && strcmp(dot, ".svg") == 0)
		return "svgcairo";
	return NULL;
}

/* Is the PLplot driver dev installed? (plinit would otherwise ask on the terminal.) */
static int have_device(const char *dev)
{
	const char *menu_store[128], *name_store[128];
	const char **menu = menu_store, **names = name_store;
	int n = 128;
	plgDevs(&menu, &names, &n);
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], dev) == 0)
			return 1;
	return 0;
}

/* Start a chart: a new PLplot stream drawing into the temp file of out, colours set. */
static int plot_begin(const char *path, const facet_plot_frame *f, facet_atomic *out)
{
	const char *dev = plot_device(path);
	if (!dev) {
		warn("cannot draw %s: charts are written as .png or .svg", path);
		return -1;
	}
	if (!have_device(dev)) {
		warn("cannot draw %s: PLplot has no %s driver (Debian package plplot-driver-cairo)",
		     path, dev);
		return -1;
	}
	/* PLplot writes the temp file by name; the atomic handle fsyncs and renames it. */
	if (facet_atomic_open(out, path) != 0) {
		warn("cannot write %s:", path);
		facet_output_failures++;
		return -1;
	}
	const char *tmp = out->tmp;

	PLINT strm;
	plmkstrm(&strm);
	plsdev(dev);
	plsfnam(tmp);
	plspage(0, 0, f->width > 0 ? f->width : 800, f->height > 0 ? f->height : 560, 0, 0);
	plscolbg(255, 255, 255);
	plscmap0n(COL_SERIES + N_SERIES_COLOURS);
	plscol0(COL_BG, 255, 255, 255);
	plscol0(COL_FG, 0, 0, 0);
	plscol0(COL_GRID, 200, 200, 200);
	for (int i = 0; i < N_SERIES_COLOURS; i++)
		plscol0(COL_SERIES + i, palette[i][0], palette[i][1], palette[i][2]);
	plinit();
	plsxax(8, 0); /* plain numbers on the axes, never "(x10^4)" */
	plsyax(8, 0);
	pladv(0);
	plschr(0, 1.0);
	return 0;
}

/* Viewport (page fractions) and window (data coordinates), title and axis labels. */
static void plot_frame(const facet_plot_frame *f, double vx0, double vx1, double vy0, double vy1,
                       double x0, double x1, double y0, double y1)
{
	/* Keep room in pixels for the tick labels and the y label, whatever the width. */
	vx0 = fmax(vx0, 116.0 / (f->width > 0 ? f->width : 800));
	plvpor(vx0, vx1, vy0, vy1);
	plwind(x0, x1, y0, y1);
	plcol0(COL_FG);
	plschr(0, 1.1);
	plmtex("t", 1.5, 0.5, 0.5, f->title ? f->title : "");
	plschr(0, 1.0);
	plmtex("b", 3.2, 0.5, 0.5, f->xlabel ? f->xlabel : "");
	plmtex("l", 7.2, 0.5, 0.5, f->ylabel ? f->ylabel : "");
}

/* PLplot's cairo drivers ignore write errors: check that the file ends as a whole PNG (IEND
 * chunk) or SVG does, so a full disk is an error rather than a truncated chart. */
static int complete_file(const char *tmp, const char *path)
{
	static const char png_end[] = "IEND\xae\x42\x60\x82", svg_end[] = "</svg>";
	int svg = strstr(path, ".svg") != NULL;
	const char *want = svg ? svg_end : png_end;
	size_t n = strlen(want);
	char tail[64] = {0};
	long size;
	FILE *f = fopen(tmp, "rb");

	if (!f)
		return 0;
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	if (size < 16) {
		fclose(f);
		return 0;
	}
	fseek(f, size > 32 ? size - 32 : 0, SEEK_SET);
	size = (long)fread(tail, 1, sizeof tail - 1, f);
	fclose(f);
	for (long i = 0; i + (long)n <= size; i++)
		if (memcmp(tail + i, want, n) == 0)
			return 1;
	return 0;
}

static int plot_end(const char *path, facet_atomic *out)
{
	plend1();
	fflush(out->f);
	if (!complete_file(out->tmp, path)) {
		warn("cannot write chart %s: the file came out incomplete (disk full?)", path);
		facet_atomic_abort(out);
		facet_output_failures++;
		return -1;
	}
	if (facet_atomic_commit(out) != 0) {
		warn("cannot write chart %s:", path);
		facet_output_failures++;
		return -1;
	}
	return 0;
}

static void rect(double x0, double x1, double y0, double y1, int fill_colour)
{
	PLFLT x[5] = {x0, x1, x1, x0, x0}, y[5] = {y0, y0, y1, y1, y0};
	plcol0(fill_colour);
	plfill(4, x, y);
	plcol0(COL_FG);
	plwidth(0.5);
	plline(5, x, y);
	plwidth(1.0);
}

/* A y axis that holds [0, m] with headroom for value labels. */
static double headroom(double m, double factor)
{
	return m > 0 ? m * factor : 1.0;
}

static void grid_y(void)
{
	plcol0(COL_GRID);
	plbox("", 0, 0, "g", 0, 0);
	plcol0(COL_FG);
}

static void category_labels(int n, const char *const *labels)
{
	plcol0(COL_FG);
	plschr(0, n > 8 ? 0.8 : 1.0);
	for (int i = 0; i < n; i++)
		plmtex("b", 1.3, (i + 0.5) / n, 0.5, labels[i]);
	plschr(0, 1.0);
}

static void legend_boxes(int n, const char *const *names)
{
	PLINT opt[N_SERIES_COLOURS], text_col[N_SERIES_COLOURS], box_col[N_SERIES_COLOURS],
	    box_pat[N_SERIES_COLOURS];
	PLFLT box_scale[N_SERIES_COLOURS], box_width[N_SERIES_COLOURS];
	if (n > N_SERIES_COLOURS)
		n = N_SERIES_COLOURS;
	for (int i = 0; i < n; i++) {
		opt[i] = PL_LEGEND_COLOR_BOX;
		text_col[i] = COL_FG;
		box_col[i] = series_colour(i);
		box_pat[i] = 0;
		box_scale[i] = 0.8;
		box_width[i] = 1;
	}
	PLFLT w, h;
	pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
	         PL_POSITION_TOP | PL_POSITION_RIGHT | PL_POSITION_INSIDE, 0.01, 0.01, 0.05, COL_BG,
	         COL_FG, 1, 0, 0, n, opt, 1.0, 0.9, 2.0, 0.0, text_col, names, box_col, box_pat,
	         box_scale, box_width, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
}

static void legend_lines(int n, const char *const *names)
{
	PLINT opt[N_SERIES_COLOURS], text_col[N_SERIES_COLOURS], line_col[N_SERIES_COLOURS],
	    line_sty[N_SERIES_COLOURS];
	PLFLT line_width[N_SERIES_COLOURS];
	if (n > N_SERIES_COLOURS)
		n = N_SERIES_COLOURS;
	for (int i = 0; i < n; i++) {
		opt[i] = PL_LEGEND_LINE;
		text_col[i] = COL_FG;
		line_col[i] = series_colour(i);
		line_sty[i] = 1;
		line_width[i] = 2.0;
	}
	PLFLT w, h;
	pllegend(&w, &h, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
	         PL_POSITION_TOP | PL_POSITION_RIGHT | PL_POSITION_INSIDE, 0.01, 0.01, 0.08, COL_BG,
	         COL_FG, 1, 0, 0, n, opt, 1.0, 0.9, 2.0, 0.0, text_col, names, NULL, NULL, NULL,
	         NULL, line_col, line_sty, line_width, NULL, NULL, NULL, NULL);
}

int facet_plot_bars(const char *path, const facet_plot_frame *f, int n, const char *const *labels,
                    const double *values, const char *value_fmt)
{
	facet_atomic tmp;
	if (n <= 0 || plot_begin(path, f, &tmp) != 0)
		return -1;
	double m = 0;
	for (int i = 0; i < n; i++)
		m = fmax(m, values[i]);
	double ymax = headroom(m, value_fmt ? 1.12 : 1.05);
	plot_frame(f, 0.145, 0.96, 0.14, 0.9, 0, n, 0, ymax);
	grid_y();
	for (int i = 0; i < n; i++) {
		rect(i + 0.15, i + 0.85, 0, values[i], series_colour(0));
		if (value_fmt) {
			char buf[64];
			snprintf(buf, sizeof buf, value_fmt, values[i]);
			plcol0(COL_FG);
			plschr(0, 0.85);
			plptex(i + 0.5, values[i] + ymax * 0.025, 1, 0, 0.5, buf);
			plschr(0, 1.0);
		}
	}
	plcol0(COL_FG);
	plbox("bc", 0, 0, "bcnstv", 0, 0);
	category_labels(n, labels);
	return plot_end(path, &tmp);
}

int facet_plot_grouped_bars(const char *path, const facet_plot_frame *f, int ngroups, int nseries,
                            const char *const *group_labels, const char *const *series_names,
                            const double *values, double ymax)
{
	facet_atomic tmp;
	if (ngroups <= 0 || nseries <= 0 || plot_begin(path, f, &tmp) != 0)
		return -1;
	if (ymax <= 0) {
		for (int i = 0; i < ngroups * nseries; i++)
			ymax = fmax(ymax, values[i]);
		ymax = headroom(ymax, 1.0);
	}
	ymax *= 1.3; /* room for the legend */
	plot_frame(f, 0.145, 0.96, 0.14, 0.9, 0, ngroups, 0, ymax);
	grid_y();
	double w = 0.8 / nseries;
	for (int g = 0; g < ngroups; g++)
		for (int s = 0; s < nseries; s++) {
			double x = g + 0.1 + s * w;
			rect(x, x + w, 0, values[s * ngroups + g], series_colour(s));
		}
	plcol0(COL_FG);
	plbox("bc", 0, 0, "bcnstv", 0, 0);
	category_labels(ngroups, group_labels);
	legend_boxes(nseries, series_names);
	return plot_end(path, &tmp);
}

int facet_plot_histogram(const char *path, const facet_plot_frame *f, int nbins,
                         const double *edges, const double *counts)
{
	facet_atomic tmp;
	if (nbins <= 0 || plot_begin(path, f, &tmp) != 0)
		return -1;
	double m = 0;
	for (int i = 0; i < nbins; i++)
		m = fmax(m, counts[i]);
	plot_frame(f, 0.145, 0.96, 0.14, 0.9, edges[0], edges[nbins], 0, headroom(m, 1.05));
	grid_y();
	for (int i = 0; i < nbins; i++)
		if (counts[i] > 0)
			rect(edges[i], edges[i + 1], 0, counts[i], series_colour(0));
	plcol0(COL_FG);
	plbox("bcnst", 0, 0, "bcnstv", 0, 0);
	return plot_end(path, &tmp);
}

/* Data range of all series, widened a little (and made non-empty). */
static void series_range(int nseries, const facet_plot_series *s, double *x0, double *x1,
                         double *y0, double *y1)
{
	*x0 = *y0 = DBL_MAX;
	*x1 = *y1 = -DBL_MAX;
	for (int k = 0; k < nseries; k++)
		for (int i = 0; i < s[k].n; i++) {
			*x0 = fmin(*x0, s[k].x[i]);
			*x1 = fmax(*x1, s[k].x[i]);
			*y0 = fmin(*y0, s[k].y[i]);
			*y1 = fmax(*y1, s[k].y[i]);
		}
	if (*x0 > *x1)
		*x0 = 0, *x1 = 1;
	if (*y0 > *y1)
		*y0 = 0, *y1 = 1;
	double dx = *x1 - *x0, dy = *y1 - *y0;
	if (dx <= 0)
		dx = fabs(*x0) > 0 ? fabs(*x0) : 1;
	if (dy <= 0)
		dy = fabs(*y0) > 0 ? fabs(*y0) : 1;
	*x0 -= dx * 0.04;
	*x1 += dx * 0.04;
	*y0 -= dy * 0.06;
	*y1 += dy * 0.30; /* room for the legend */
}

int facet_plot_lines(const char *path, const facet_plot_frame *f, int nseries,
                     const facet_plot_series *s)
{
	facet_atomic tmp;
	int points = 0;
	for (int k = 0; k < nseries; k++)
		points += s[k].n;
	if (points == 0 || plot_begin(path, f, &tmp) != 0)
		return -1;
	double x0, x1, y0, y1;
	series_range(nseries, s, &x0, &x1, &y0, &y1);
	plot_frame(f, 0.145, 0.96, 0.14, 0.9, x0, x1, y0, y1);
	plcol0(COL_GRID);
	plbox("g", 0, 0, "g", 0, 0);
	const char *names[N_SERIES_COLOURS];
	int shown = 0;
	for (int k = 0; k < nseries && k < N_SERIES_COLOURS; k++) {
		plcol0(series_colour(k));
		plwidth(2.0);
		plline(s[k].n, s[k].x, s[k].y);
		plwidth(1.0);
		plssym(0, 0.7);
		plstring(s[k].n, s[k].x, s[k].y, "•");
		names[shown++] = s[k].name ? s[k].name : "";
	}
	plcol0(COL_FG);
	plbox("bcnst", 0, 0, "bcnstv", 0, 0);
	legend_lines(shown, names);
	return plot_end(path, &tmp);
}

int facet_plot_scatter(const char *path, const facet_plot_frame *f, int n, const double *x,
                       const double *y, int diagonal)
{
	facet_atomic tmp;
	if (n <= 0 || plot_begin(path, f, &tmp) != 0)
		return -1;
	double lo = DBL_MAX, hi = -DBL_MAX;
	for (int i = 0; i < n; i++) {
		lo = fmin(lo, fmin(x[i], y[i]));
		hi = fmax(hi, fmax(x[i], y[i]));
	}
	double pad = hi > lo ? (hi - lo) * 0.04 : 1;
	lo -= pad;
	hi += pad;
	plot_frame(f, 0.145, 0.96, 0.14, 0.9, lo, hi, lo, hi);
	plcol0(COL_GRID);
	plbox("g", 0, 0, "g", 0, 0);
	/* Translucent points, so dense regions read darker. */
	plscol0a(series_colour(0), palette[0][0], palette[0][1], palette[0][2],
	         n > 2000 ? 0.25 : 0.6);
	plcol0(series_colour(0));
	plschr(0, n > 2000 ? 0.7 : 0.9);
	plstring(n, x, y, "•");
	plschr(0, 1.0);
	if (diagonal) {
		PLFLT dx[2] = {lo, hi}, dy[2] = {lo, hi};
		plcol0(series_colour(3));
		pllsty(2);
		plwidth(1.5);
		plline(2, dx, dy);
		pllsty(1);
		plwidth(1.0);
	}
	plcol0(COL_FG);
	plbox("bcnst", 0, 0, "bcnstv", 0, 0);
	return plot_end(path, &tmp);
}

int facet_plot_heatmap(const char *path, const facet_plot_frame *f, int rows, int cols,
                       const char *const *row_labels, const char *const *col_labels,
                       const double *values, double vmin, double vmax, const char *cell_fmt)
{
	facet_atomic tmp;
	if (rows <= 0 || cols <= 0 || plot_begin(path, f, &tmp) != 0)
		return -1;
	if (vmax <= vmin)
		vmax = vmin + 1;
	if (vmin < 0 && vmax > 0) { /* diverging: red - white - blue */
		PLFLT pos[3] = {0, 0.5, 1}, r[3] = {0.84, 1, 0.12}, g[3] = {0.15, 1, 0.47},
		      b[3] = {0.16, 1, 0.71};
		plscmap1l(1, 3, pos, r, g, b, NULL);
	} else { /* sequential: white - blue */
		PLFLT pos[2] = {0, 1}, r[2] = {1, 0.03}, g[2] = {1, 0.27}, b[2] = {1, 0.58};
		plscmap1l(1, 2, pos, r, g, b, NULL);
	}
	/* Row labels sit left of the cells: move the y label out past them. */
	facet_plot_frame g = *f;
	g.ylabel = NULL;
	plot_frame(&g, 0.2, 0.95, 0.16, 0.88, 0, cols, 0, rows);
	if (f->ylabel)
		plmtex("l", 8.0, 0.5, 0.5, f->ylabel);
	plschr(0, rows * cols > 36 ? 0.75 : 0.95);
	for (int r = 0; r < rows; r++)
		for (int c = 0; c < cols; c++) {
			double v = values[r * cols + c];
			double y = rows - r - 1;
			double frac = isfinite(v) ? (v - vmin) / (vmax - vmin) : 0.5;
			frac = fmin(1, fmax(0, frac));
			PLFLT x4[4] = {c, c + 1, c + 1, c}, y4[4] = {y, y, y + 1, y + 1};
			plcol1(frac);
			plfill(4, x4, y4);
			char buf[64];
			if (isfinite(v))
				snprintf(buf, sizeof buf, cell_fmt ? cell_fmt : "%g", v);
			else
				snprintf(buf, sizeof buf, "-");
			if (buf[0] == '-' && buf[1] && strspn(buf + 1, "0.") == strlen(buf + 1))
				memmove(buf, buf + 1, strlen(buf)); /* "-0.00" reads as 0.00 */
			int strong = vmin < 0 ? fabs(frac - 0.5) > 0.3 : frac > 0.6;
			plcol0(strong ? COL_BG : COL_FG);
			plptex(c + 0.5, y + 0.4, 1, 0, 0.5, buf);
		}
	plschr(0, 1.0);
	plcol0(COL_FG);
	plbox("bc", 0, 0, "bc", 0, 0);
	plschr(0, cols > 6 ? 0.8 : 0.95);
	for (int c = 0; c < cols; c++)
		plmtex("b", 1.3, (c + 0.5) / cols, 0.5, col_labels[c]);
	for (int r = 0; r < rows; r++)
		plmtex("lv", 0.8, 1 - (r + 0.5) / rows, 1.0, row_labels[r]);
	plschr(0, 1.0);
	return plot_end(path, &tmp);
}

int facet_plot_boxes(const char *path, const facet_plot_frame *f, int n, const char *const *labels,
                     const facet_plot_box *boxes)
{
	facet_atomic tmp;
	if (n <= 0 || plot_begin(path, f, &tmp) != 0)
		return -1;
	double lo = DBL_MAX, hi = -DBL_MAX;
	for (int i = 0; i < n; i++) {
		lo = fmin(lo, boxes[i].lo);
		hi = fmax(hi, boxes[i].hi);
	}
	double pad = hi > lo ? (hi - lo) * 0.05 : 1;
	plot_frame(f, 0.145, 0.96, 0.14, 0.9, 0, n, lo - pad, hi + pad);
	grid_y();
	for (int i = 0; i < n; i++) {
		const facet_plot_box *b = &boxes[i];
		double c = i + 0.5, w = 0.25;
		rect(c - w, c + w, b->q1, b->q3, series_colour(i));
		PLFLT wx[2] = {c, c}, lo_y[2] = {b->lo, b->q1}, hi_y[2] = {b->q3, b->hi};
		PLFLT capx[2] = {c - w / 2, c + w / 2}, caplo[2] = {b->lo, b->lo},
		      caphi[2] = {b->hi, b->hi};
		PLFLT mx[2] = {c - w, c + w}, my[2] = {b->median, b->median};
		plcol0(COL_FG);
		plline(2, wx, lo_y);
		plline(2, wx, hi_y);
		plline(2, capx, caplo);
		plline(2, capx, caphi);
		plwidth(3.0);
		plline(2, mx, my);
		plwidth(1.0);
	}
	plcol0(COL_FG);
	plbox("bc", 0, 0, "bcnstv", 0, 0);
	category_labels(n, labels);
	return plot_end(path, &tmp);
}
