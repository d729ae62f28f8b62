/*
 * The HTML page writer (see html.h).
 */
#define _GNU_SOURCE /* vasprintf */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "facet.h"
#include "html.h"

struct facet_html {
	facet_atomic out;
	char *path;
	int ncols; /* of the open table */
};

static const char style[] =
    "body{font-family:sans-serif;margin:2em auto;max-width:1400px;padding:0 1em;color:#222}"
    "h1{border-bottom:2px solid #1f77b4;padding-bottom:.2em}"
    "h2{margin-top:2em;border-bottom:1px solid #ccc}"
    "figure{display:inline-block;margin:.5em;vertical-align:top}"
    "figure img{max-width:100%;border:1px solid #ddd}"
    "figcaption{font-size:.9em;color:#555;max-width:800px}"
    ".row{display:flex;flex-wrap:wrap;align-items:flex-start}"
    ".row figure{flex:1 1 420px;max-width:48%}"
    "table{border-collapse:collapse;margin:.5em 0;font-size:.92em}"
    "th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
    "th{background:#f0f4f8}td:first-child,th:first-child{text-align:left}"
    ".note{background:#fff8e1;border-left:4px solid #f0ad4e;padding:.5em 1em}"
    "footer{margin-top:3em;color:#888;font-size:.85em}";

void facet_outdir_make(const char *dir)
{
	char *p = xstrdup(dir);
	for (char *s = p + 1;; s++) {
		int end = *s == 0;
		if (*s == '/' || end) {
			*s = 0;
			struct stat st;
			if (mkdir(p, 0777) != 0 && errno != EEXIST)
				die("cannot make the folder %s:", p);
			if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode))
				die("%s is not a folder", p);
			if (end)
				break;
			*s = '/';
		}
	}
	free(p);
}

char *facet_outdir_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = xmalloc(n);
	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static void put_escaped(facet_html *h, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", h->out.f);
			break;
		case '<':
			fputs("&lt;", h->out.f);
			break;
		case '>':
			fputs("&gt;", h->out.f);
			break;
		case '"':
			fputs("&quot;", h->out.f);
			break;
		default:
			fputc(*s, h->out.f);
		}
	}
}

static void put_escapedv(facet_html *h, const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		die("out of memory");
	put_escaped(h, s);
	free(s);
}

facet_html *facet_html_open(const char *path, const char *title)
{
	facet_html *h = xcalloc(1, sizeof *h);
	h->path = xstrdup(path);
	if (facet_atomic_open(&h->out, path) != 0)
		die("cannot write %s:", path);
	fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>",
	      h->out.f);
	put_escaped(h, title);
	fprintf(h->out.f, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", style);
	put_escaped(h, title);
	fputs("</h1>\n", h->out.f);
	return h;
}

void facet_html_close(facet_html *h)
{
	fprintf(h->out.f, "<footer>Made by %s (facet %s).</footer>\n</body>\n</html>\n", facet_prog,
	        FACET_VERSION);
	if (facet_atomic_commit(&h->out) != 0)
		die("cannot write %s:", h->path);
	free(h->path);
	free(h);
}

void facet_html_section(facet_html *h, const char *heading)
{
	fputs("<h2>", h->out.f);
	put_escaped(h, heading);
	fputs("</h2>\n", h->out.f);
}

void facet_html_subsection(facet_html *h, const char *heading)
{
	fputs("<h3>", h->out.f);
	put_escaped(h, heading);
	fputs("</h3>\n", h->out.f);
}

void facet_html_p(facet_html *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("<p>", h->out.f);
	put_escapedv(h, fmt, ap);
	fputs("</p>\n", h->out.f);
	va_end(ap);
}

void facet_html_note(facet_html *h, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("<p class=\"note\">", h->out.f);
	put_escapedv(h, fmt, ap);
	fputs("</p>\n", h->out.f);
	va_end(ap);
}

void facet_html_raw(facet_html *h, const char *markup)
{
	fputs(markup, h->out.f);
}

void facet_html_img(facet_html *h, const char *src, const char *alt, const char *caption)
{
	fputs("<figure><img src=\"", h->out.f);
	put_escaped(h, src);
	fputs("\" alt=\"", h->out.f);
	put_escaped(h, alt);
	fputs("\">", h->out.f);
	if (caption && *caption) {
		fputs("<figcaption>", h->out.f);
		put_escaped(h, caption);
		fputs("</figcaption>", h->out.f);
	}
	fputs("</figure>\n", h->out.f);
}

void facet_html_row_begin(facet_html *h)
{
	fputs("<div class=\"row\">\n", h->out.f);
}

void facet_html_row_end(facet_html *h)
{
	fputs("</div>\n", h->out.f);
}

void facet_html_table_begin(facet_html *h, int ncols, const char *const *header)
{
	h->ncols = ncols;
	fputs("<table>\n<tr>", h->out.f);
	for (int i = 0; i < ncols; i++) {
		fputs("<th>", h->out.f);
		put_escaped(h, header[i] ? header[i] : "");
		fputs("</th>", h->out.f);
	}
	fputs("</tr>\n", h->out.f);
}

void facet_html_table_row(facet_html *h, const char *const *cells)
{
	fputs("<tr>", h->out.f);
	for (int i = 0; i < h->ncols; i++) {
		fputs("<td>", h->out.f);
		put_escaped(h, cells[i] ? cells[i] : "");
		fputs("</td>", h->out.f);
	}
	fputs("</tr>\n", h->out.f);
}

void facet_html_table_end(facet_html *h)
{
	fputs("</table>\n", h->out.f);
}
