/*
 * Charts for facet-eda and facet-report, drawn with PLplot's cairo drivers.
 *
 * Every function writes one chart to path: PNG when path ends in ".png", SVG when it ends in
 * ".svg". The file appears atomically (drawn into a temp file beside it, then renamed). They
 * return 0 on success, -1 after a warn() on failure; nothing is drawn for empty data (callers
 * skip the chart instead, so no report shows an empty chart).
 *
 * Text goes through PLplot, where '#' starts an escape sequence: callers pass plain labels.
 */
#ifndef FACET_PLOT_H
#define FACET_PLOT_H

/* Title and axis labels (any may be NULL); size in pixels, 0 for the default 800x560. */
typedef struct {
	const char *title;
	const char *xlabel;
	const char *ylabel;
	int width, height;
} facet_plot_frame;

/* One line of a line chart: n points (x[i], y[i]), named in the legend. */
typedef struct {
	const char *name;
	int n;
	const double *x;
	const double *y;
} facet_plot_series;

/* One box of a box plot: whiskers at lo and hi, box from q1 to q3, a line at the median. */
typedef struct {
	double lo, q1, median, q3, hi;
} facet_plot_box;

/* Bars for n categories, each value printed above its bar with value_fmt (NULL: no values). */
int facet_plot_bars(const char *path, const facet_plot_frame *f, int n, const char *const *labels,
                    const double *values, const char *value_fmt);

/* Bars in groups: values[s * ngroups + g] is series s in group g; a legend names the series.
 * ymax <= 0 picks the axis from the data. */
int facet_plot_grouped_bars(const char *path, const facet_plot_frame *f, int ngroups, int nseries,
                            const char *const *group_labels, const char *const *series_names,
                            const double *values, double ymax);

/* Histogram: counts[i] falls in [edges[i], edges[i+1]). */
int facet_plot_histogram(const char *path, const facet_plot_frame *f, int nbins,
                         const double *edges, const double *counts);

/* Line chart with a legend (markers on every point, so a one-point series still shows). */
int facet_plot_lines(const char *path, const facet_plot_frame *f, int nseries,
                     const facet_plot_series *s);

/* Scatter plot; diagonal != 0 adds the dashed line y = x. */
int facet_plot_scatter(const char *path, const facet_plot_frame *f, int n, const double *x,
                       const double *y, int diagonal);

/* Heatmap of rows x cols values (row-major), colour scaled from vmin to vmax, each cell printed
 * with cell_fmt. Rows run top to bottom, as in a matrix. */
int facet_plot_heatmap(const char *path, const facet_plot_frame *f, int rows, int cols,
                       const char *const *row_labels, const char *const *col_labels,
                       const double *values, double vmin, double vmax, const char *cell_fmt);

/* Box plot, one box per label. */
int facet_plot_boxes(const char *path, const facet_plot_frame *f, int n, const char *const *labels,
                     const facet_plot_box *boxes);

#endif
