// Texts as lines: the length limit of the commands and seize tokenize's output (one JSON line
// per text) from arguments or a file of lines / JSON Lines.
#include "seize/text.h"

#include "seize/core.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define JSONL_LINE_MAX (6 * SEIZE_TEXT_MAX_BYTES) // a JSON line may escape each byte of its text
#define INPUT_MAX ((size_t)1 << 30)               // bytes per input

int seize_texts_check_length(const char *const *texts, size_t n, const char *file)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(texts[i]);
        if (len <= SEIZE_TEXT_MAX_BYTES) continue;
        if (file)
            return seize_error(SEIZE_EINVAL,
                               "'%s' line %zu: %zu bytes, more than the limit of %zu per text",
                               file, i + 1, len, SEIZE_TEXT_MAX_BYTES);
        return seize_error(SEIZE_EINVAL, "text %zu: %zu bytes, more than the limit of %zu per text",
                           i + 1, len, SEIZE_TEXT_MAX_BYTES);
    }
    return 0;
}

// --- seize tokenize's lines

// Writes s[0..len) as a JSON string.
static void put_json_string(FILE *fp, const char *s, size_t len)
{
    fputc('"', fp);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(fp, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", fp);
        else if (c == '\t')
            fputs("\\t", fp);
        else if (c == '\r')
            fputs("\\r", fp);
        else if (c < 0x20 || c == 0x7F)
            fprintf(fp, "\\u%04x", c);
        else
            fputc(c, fp);
    }
    fputc('"', fp);
}

// "[id, id, ...]\n" without printf per id: ids are non-negative.
static void put_ids(FILE *fp, const int32_t *ids, int n)
{
    char buf[32];
    fputc('[', fp);
    for (int i = 0; i < n; i++) {
        char *p = buf + sizeof buf;
        uint32_t v = (uint32_t)ids[i];
        do
            *--p = (char)('0' + v % 10);
        while (v /= 10);
        if (i) *--p = ' ', *--p = ',';
        fwrite(p, 1, (size_t)(buf + sizeof buf - p), fp);
    }
    fputs("]\n", fp);
}

int seize_tokenize_write(const seize_tokenizer *t, const char *text, size_t len,
                         const seize_tokenize_opts *o, FILE *out)
{
    if (o->clean) {
        char *s;
        size_t n;
        int rc = seize_text_clean(text, len, &s, &n);
        if (rc < 0) return rc;
        put_json_string(out, s, n);
        fputc('\n', out);
        free(s);
        return 0;
    }
    int32_t *ids = seize_malloc((size_t)o->context, sizeof *ids);
    if (!ids) return SEIZE_ENOMEM;
    int rc = seize_tokenizer_encode(t, text, len, ids, o->context);
    if (rc == 0) put_ids(out, ids, o->context);
    free(ids);
    return rc;
}

// One line of a JSON Lines input: a JSON string, or an object with a "text" string.
static int write_json_line(const seize_tokenizer *t, const char *line, size_t len, const char *path,
                           size_t lineno, const seize_tokenize_opts *o, FILE *out)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == len) return 0;
    json_error_t err;
    json_t *v = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    json_t *s = json_is_object(v) ? json_object_get(v, "text") : v;
    int rc;
    if (!json_is_string(s))
        rc = seize_error(SEIZE_EFORMAT,
                         "'%s' line %zu: expected a JSON string or {\"text\": ...}%s%s", path,
                         lineno, v ? "" : ": ", v ? "" : err.text);
    else if (json_string_length(s) > SEIZE_TEXT_MAX_BYTES)
        rc = seize_error(SEIZE_EINVAL,
                         "'%s' line %zu: the text has more than the limit of %zu bytes", path,
                         lineno, SEIZE_TEXT_MAX_BYTES);
    else
        rc = seize_tokenize_write(t, json_string_value(s), json_string_length(s), o, out);
    json_decref(v);
    return rc;
}

// Reads one line (without its '\n') into *buf, never more than max bytes: 1 for a line, 0 at
// the end of the input, -1 when the line is longer than max (the rest of it is not read), -2 on
// a read error (errno set).
static int read_line_max(FILE *fp, char **buf, size_t *cap, size_t max, size_t *len, size_t *total)
{
    size_t n = 0;
    int c, any = 0;
    while ((c = getc_unlocked(fp)) != EOF) {
        any = 1;
        (*total)++;
        if (c == '\n') break;
        if (n == max) return -1;
        if (n + 1 >= *cap) {
            size_t nc = *cap ? *cap * 2 : 256;
            if (nc > max + 1) nc = max + 1;
            char *t = realloc(*buf, nc);
            if (!t) return -2;
            *buf = t;
            *cap = nc;
        }
        (*buf)[n++] = (char)c;
    }
    if (ferror(fp)) return -2;
    *len = n;
    return any;
}

// The lines of fp (named `path`), bounded per line and in total.
static int tokenize_lines(const seize_tokenizer *t, FILE *fp, const char *path,
                          const seize_tokenize_opts *o, FILE *out)
{
    char *line = NULL;
    size_t cap = 0, len = 0, lineno = 0, total = 0;
    size_t max = o->jsonl ? JSONL_LINE_MAX : SEIZE_TEXT_MAX_BYTES;
    int r, rc = 0;
    while (rc == 0 && (r = read_line_max(fp, &line, &cap, max, &len, &total)) != 0) {
        lineno++;
        if (r == -2)
            rc = seize_error(SEIZE_EIO, "cannot read '%s': %s", path, strerror(errno));
        else if (r == -1)
            rc = seize_error(SEIZE_EINVAL,
                             "'%s' line %zu: longer than the limit of %zu bytes per %s", path,
                             lineno, max, o->jsonl ? "JSON line" : "text");
        else if (total > INPUT_MAX)
            rc = seize_error(SEIZE_EINVAL, "'%s': more than the limit of %zu bytes of input", path,
                             INPUT_MAX);
        else {
            if (len && line[len - 1] == '\r') len--;
            rc = o->jsonl ? write_json_line(t, line, len, path, lineno, o, out)
                          : seize_tokenize_write(t, line, len, o, out);
        }
    }
    free(line);
    return rc;
}

int seize_tokenize_file(const seize_tokenizer *t, const char *path, const seize_tokenize_opts *o,
                        FILE *out)
{
    if (!strcmp(path, "-")) return tokenize_lines(t, stdin, path, o, out);
    // a file must be regular (a FIFO would block, /dev/zero never ends); '-' may be a pipe:
    // lines and the whole input are bounded instead
    int fd = seize_open_regular(path, NULL);
    if (fd < 0) return fd;
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        int e = errno;
        close(fd);
        return seize_error(SEIZE_EIO, "cannot open '%s': %s", path, strerror(e));
    }
    int rc = tokenize_lines(t, fp, path, o, out);
    fclose(fp);
    return rc;
}
