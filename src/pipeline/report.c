// The self-contained HTML report of `seize run`: reference, texts, top-k with ground truth.
#include "report.h"

#include "seize/core.h"
#include "seize/image.h"
#include "seize/net.h"

#include <jpeglib.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

// --- a growing string ----------------------------------------------------------------------------

typedef struct buf {
    char *s;
    size_t n, cap;
    int oom;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->cap + n + 1) * 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}

static void puts_(buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void esc(buf *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            puts_(b, "&lt;");
            break;
        case '>':
            puts_(b, "&gt;");
            break;
        case '&':
            puts_(b, "&amp;");
            break;
        case '"':
            puts_(b, "&quot;");
            break;
        case '\'':
            puts_(b, "&#39;");
            break;
        default:
            put(b, s, 1);
        }
    }
}

// A name or path: escaped, with a line-break opportunity after each '/' so long paths wrap at
// their separators.
static void esc_name(buf *b, const char *s)
{
    for (; s && *s; s++) {
        char one[2] = {*s, 0};
        esc(b, one);
        if (*s == '/') puts_(b, "<wbr>");
    }
}

// --- thumbnails ----------------------------------------------------------------------------------

typedef struct jerr {
    struct jpeg_error_mgr mgr;
    jmp_buf jb;
} jerr;

static void on_jpeg_error(j_common_ptr c)
{
    longjmp(((jerr *)c->err)->jb, 1); // never let libjpeg exit the process
}

typedef struct membuf {
    unsigned char *data;
    unsigned long size;
} membuf;

// A letterboxed square thumbnail (the whole image, padded to a square, bicubic as the model's
// preprocessing), JPEG-encoded, base64. NULL when the image cannot be read.
static char *thumbnail(const char *path, int size)
{
    if (!path) return NULL;
    seize_image *img;
    if (seize_image_load(path, SEIZE_IMAGE_MAX_PIXELS, &img) < 0) return NULL;
    seize_preprocess_opts o = seize_preprocess_default_opts();
    o.pad_ratio = 1.0; // pad to a square: nothing is cropped away
    o.size = size;
    uint8_t *rgb = malloc((size_t)size * (size_t)size * 3);
    int rc = rgb ? seize_image_preprocess_u8(img, &o, rgb) : SEIZE_ENOMEM;
    seize_image_free(img);
    if (rc < 0) {
        free(rgb);
        return NULL;
    }
    struct jpeg_compress_struct c;
    jerr err;
    c.err = jpeg_std_error(&err.mgr);
    err.mgr.error_exit = on_jpeg_error;
    static _Thread_local membuf m;
    m.data = NULL;
    m.size = 0;
    if (setjmp(err.jb)) {
        jpeg_destroy_compress(&c);
        free(m.data);
        free(rgb);
        return NULL;
    }
    jpeg_create_compress(&c);
    jpeg_mem_dest(&c, &m.data, &m.size);
    c.image_width = (JDIMENSION)size;
    c.image_height = (JDIMENSION)size;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 85, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = rgb + (size_t)c.next_scanline * (size_t)size * 3;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    free(rgb);
    char *b64 = seize_base64_encode(m.data, m.size);
    free(m.data);
    return b64;
}

static void image_cell(buf *b, const char *path, const char *name, int size, const char *cls,
                       const char *prefix, const char *caption_name, const char *suffix)
{
    char *b64 = thumbnail(path, size);
    puts_(b, "<figure class=\"");
    puts_(b, cls);
    puts_(b, "\">");
    if (b64) {
        puts_(b, "<img alt=\"");
        esc(b, name);
        puts_(b, "\" src=\"data:image/jpeg;base64,");
        puts_(b, b64);
        puts_(b, "\">");
        free(b64);
    } else {
        puts_(b, "<div class=\"missing\">cannot read<br>");
        esc_name(b, name);
        puts_(b, "</div>");
    }
    puts_(b, "<figcaption>");
    esc(b, prefix);
    esc_name(b, caption_name);
    esc(b, suffix);
    puts_(b, "</figcaption></figure>");
}

static const char style[] =
    "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}"
    "h1{font-size:1.4em}.summary{white-space:pre-wrap;background:#f4f4f4;padding:.6em}"
    "section{border-top:1px solid #ccc;padding:.8em 0}"
    ".row{display:flex;flex-wrap:wrap;gap:.5em;align-items:flex-start}"
    "figure{margin:0;width:var(--t);font-size:.75em;overflow-wrap:anywhere}"
    "figure img{width:var(--t);height:var(--t);display:block;border:3px solid transparent}"
    "figure.gt img{border-color:#1a9c3a}figure.ref img{border-color:#555}"
    ".missing{width:var(--t);height:var(--t);background:#eee;display:flex;align-items:center;"
    "justify-content:center;text-align:center}"
    "ol.caps{font-size:.85em;margin:.3em 0}ol.caps .e{color:#0a5}"
    ".legend "
    "span{display:inline-block;width:1em;height:1em;background:#1a9c3a;vertical-align:middle}"
    "table.metrics{border-collapse:collapse}table.metrics td{padding:.15em .8em;border-bottom:1px "
    "solid #ddd}"
    "table.metrics td.v{text-align:right;font-variant-numeric:tabular-nums}"
    ".failed li{overflow-wrap:anywhere}.target{font-size:.9em;color:#555}";

// Marks the page with how many thumbnails loaded, so that a broken page is visible (and
// testable): <body data-images-loaded=N data-images-broken=M>.
static const char script[] =
    "<script>window.addEventListener('load',function(){var ok=0,bad=0;"
    "document.querySelectorAll('img').forEach(function(i){"
    "if(i.complete&&i.naturalWidth>0)ok++;else bad++;});"
    "document.body.setAttribute('data-images-loaded',ok);"
    "document.body.setAttribute('data-images-broken',bad);"
    "if(bad){var p=document.createElement('p');p.textContent=bad+' images failed to load';"
    "document.body.insertBefore(p,document.body.firstChild);}});</script>";

int pl_report_write(const char *path, const report_page *pg, const report_query *qs, size_t n,
                    int thumb)
{
    buf b = {0};
    char tmp[256];
    puts_(&b, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>");
    esc(&b, pg->title);
    puts_(&b, "</title><style>");
    puts_(&b, style);
    snprintf(tmp, sizeof tmp, ":root{--t:%dpx}", thumb);
    puts_(&b, tmp);
    puts_(&b, "</style>");
    puts_(&b, script);
    puts_(&b, "</head><body><h1>");
    esc_name(&b, pg->title);
    puts_(&b, "</h1><div class=\"summary\">");
    esc(&b, pg->summary);
    puts_(&b, "</div>");
    if (pg->n_metrics) {
        puts_(&b, "<h2>metrics</h2><table class=\"metrics\">");
        for (size_t i = 0; i < pg->n_metrics; i++) {
            puts_(&b, "<tr><td>");
            esc(&b, pg->metric_names[i]);
            snprintf(tmp, sizeof tmp, "</td><td class=\"v\">%.2f</td></tr>", pg->metric_values[i]);
            puts_(&b, tmp);
        }
        puts_(&b, "</table>");
    }
    if (pg->n_failed) {
        snprintf(tmp, sizeof tmp, "<h2>%zu image%s failed</h2><ul class=\"failed\">", pg->n_failed,
                 pg->n_failed == 1 ? "" : "s");
        puts_(&b, tmp);
        for (size_t i = 0; i < pg->n_failed; i++) {
            puts_(&b, "<li><b>");
            esc_name(&b, pg->failed_names ? pg->failed_names[i] : NULL);
            puts_(&b, "</b>: ");
            esc(&b, pg->failed_reasons ? pg->failed_reasons[i] : NULL);
            puts_(&b, "</li>");
        }
        puts_(&b, "</ul>");
    }
    if (pg->has_gt) puts_(&b, "<p class=\"legend\"><span></span> ground truth</p>");
    for (size_t q = 0; q < n; q++) {
        const report_query *r = &qs[q];
        puts_(&b, "<section><h2>query ");
        esc(&b, r->id);
        puts_(&b, "</h2><p><b>relative text:</b> ");
        esc(&b, r->relative_text);
        puts_(&b, "</p>");
        if (r->target_rank) {
            puts_(&b, "<p class=\"target\">target <b>");
            esc_name(&b, r->target_name);
            if (r->target_rank == SIZE_MAX)
                snprintf(tmp, sizeof tmp, "</b>: not in the top %zu", r->ranking_length);
            else if (r->target_rank > r->k)
                snprintf(tmp, sizeof tmp, "</b>: ranked %zu (below the %zu shown)", r->target_rank,
                         r->k);
            else
                snprintf(tmp, sizeof tmp, "</b>: ranked %zu", r->target_rank);
            puts_(&b, tmp);
            puts_(&b, "</p>");
        }
        puts_(&b, "<div class=\"row\">");
        image_cell(&b, r->ref_path, r->ref_name, thumb, "ref", "reference: ", r->ref_name, "");
        puts_(&b, "<ol class=\"caps\">");
        for (size_t i = 0; i < r->n_captions; i++) {
            puts_(&b, "<li>");
            esc(&b, r->captions[i]);
            if (r->edits && r->edits[i]) {
                puts_(&b, " &rarr; <span class=\"e\">");
                esc(&b, r->edits[i]);
                puts_(&b, "</span>");
            }
            puts_(&b, "</li>");
        }
        puts_(&b, "</ol></div><div class=\"row\">");
        for (size_t j = 0; j < r->k; j++) {
            char pre[32], suf[64];
            int is_gt = r->top_gt && r->top_gt[j];
            snprintf(pre, sizeof pre, "%zu. ", j + 1);
            snprintf(suf, sizeof suf, " (%.4f)%s", (double)r->top_scores[j], is_gt ? " ✓" : "");
            image_cell(&b, r->top_paths ? r->top_paths[j] : NULL, r->top_names[j], thumb,
                       is_gt ? "gt" : "hit", pre, r->top_names[j], suf);
        }
        puts_(&b, "</div></section>");
    }
    puts_(&b, "</body></html>\n");
    if (b.oom) {
        free(b.s);
        return seize_error(SEIZE_ENOMEM, "out of memory writing '%s'", path);
    }
    int rc = seize_write_file_atomic(path, b.s, b.n);
    free(b.s);
    return rc;
}
