// seize tokenize: CLIP token ids of texts, one JSON array per line.
#include "cli.h"

#include "seize/core.h"
#include "seize/text.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: seize tokenize --model MODEL_DIR [--context N] [--clean] [--input FILE [--jsonl] | "
    "TEXT...]\n"
    "\n"
    "Tokenises texts exactly as open_clip's CLIP tokenizer does (ftfy-style cleaning, HTML\n"
    "unescaping, lowercasing, byte-level BPE) and prints one line per text: a JSON array of\n"
    "N ids, [49406, ..., 49407, 0, ...]. Texts longer than the context keep their first N-2 ids\n"
    "and end with 49407. Invalid UTF-8 is read as U+FFFD. ftfy's mojibake repair is not done.\n"
    "\n"
    "  -m, --model DIR    folder with vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz\n"
    "                     (or the path of such a .txt.gz file)\n"
    "  -i, --input FILE   read texts from FILE, one per line (UTF-8; '-' for standard input);\n"
    "                     without it the TEXT arguments are the texts\n"
    "      --jsonl        FILE is JSON Lines: each non-blank line a JSON string or an object\n"
    "                     with a \"text\" string (for texts that contain newlines)\n"
    "  -n, --context N    ids per text (default 77, at least 2)\n"
    "      --clean        print each cleaned, lowercased text (a JSON string) instead of ids\n"
    "                     (--model is not needed then)\n"
    "  -h, --help         show this help\n"
    "\n"
    "Limits: a text may have at most 64 KiB (65536 bytes; a longer one is an error naming\n"
    "its line), an --input at most 1 GiB; FILE must be a regular file (a FIFO or device is\n"
    "refused; use '-' to read a pipe). Relative paths are taken from the current folder.\n";

#define TEXT_MAX ((size_t)64 << 10)   // bytes per text
#define JSONL_LINE_MAX (6 * TEXT_MAX) // a JSON line may escape each byte of its text
#define INPUT_MAX ((size_t)1 << 30)   // bytes per input

// Reads one line (without its '\n') into *buf, never more than max bytes: 1 for a line, 0 at
// the end of the input, -1 when the line is longer than max (*len = max + 1 then; the rest of
// the line is not read), -2 on a read error.
static int read_line_max(FILE *fp, char **buf, size_t *cap, size_t max, size_t *len, size_t *total)
{
    size_t n = 0;
    int c, any = 0;
    while ((c = getc_unlocked(fp)) != EOF) {
        any = 1;
        (*total)++;
        if (c == '\n') break;
        if (n == max) {
            *len = max + 1;
            return -1;
        }
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
    return any ? 1 : 0;
}

// Prints s[0..len) as a JSON string.
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

static int emit(const seize_tokenizer *tok, const char *text, size_t len, int context, int clean,
                int32_t *ids)
{
    if (clean) {
        char *s;
        size_t n;
        if (seize_text_clean(text, len, &s, &n) < 0) return -1;
        put_json_string(stdout, s, n);
        fputc('\n', stdout);
        free(s);
        return 0;
    }
    if (seize_tokenizer_encode(tok, text, len, ids, context) < 0) return -1;
    char buf[32];
    fputc('[', stdout);
    for (int i = 0; i < context; i++) { // "%d" without printf: ids are non-negative
        char *p = buf + sizeof buf;
        uint32_t v = (uint32_t)ids[i];
        do
            *--p = (char)('0' + v % 10);
        while (v /= 10);
        if (i) *--p = ' ', *--p = ',';
        fwrite(p, 1, (size_t)(buf + sizeof buf - p), stdout);
    }
    fputs("]\n", stdout);
    return 0;
}

// One line of a JSON Lines input: a JSON string, or an object with a "text" string.
static int emit_json_line(const seize_tokenizer *tok, const char *line, size_t len,
                          const char *path, size_t lineno, int context, int clean, int32_t *ids)
{
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i == len) return EXIT_OK;
    json_error_t err;
    json_t *v = json_loadb(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    json_t *s = json_is_object(v) ? json_object_get(v, "text") : v;
    if (!json_is_string(s)) {
        json_decref(v);
        return cli_fail("tokenize", "'%s' line %zu: expected a JSON string or {\"text\": ...}%s%s",
                        path, lineno, v ? "" : ": ", v ? "" : err.text);
    }
    if (json_string_length(s) > TEXT_MAX) {
        json_decref(v);
        return cli_fail("tokenize", "'%s' line %zu: the text has more than the limit of %zu bytes",
                        path, lineno, TEXT_MAX);
    }
    int rc = emit(tok, json_string_value(s), json_string_length(s), context, clean, ids) < 0
                 ? cli_lib_fail("tokenize")
                 : EXIT_OK;
    json_decref(v);
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    static const struct option opts[] = {{"model", required_argument, NULL, 'm'},
                                         {"input", required_argument, NULL, 'i'},
                                         {"context", required_argument, NULL, 'n'},
                                         {"clean", no_argument, NULL, 'c'},
                                         {"jsonl", no_argument, NULL, 'j'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *model = NULL, *input = NULL;
    long context = SEIZE_CONTEXT;
    int clean = 0, jsonl = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:i:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 'i':
            input = optarg;
            break;
        case 'c':
            clean = 1;
            break;
        case 'j':
            jsonl = 1;
            break;
        case 'n':
            if (cli_parse_int(optarg, 2, 1 << 20, &context) < 0)
                return cli_usage("tokenize", "--context wants an integer from 2 to %d, not '%s'",
                                 1 << 20, optarg);
            break;
        case 'h':
            fputs(usage_text, stdout);
            return EXIT_OK;
        default:
            return cli_usage("tokenize", "invalid option");
        }
    }
    if (!model && !clean) return cli_usage("tokenize", "--model is required");
    if (input && optind < argc)
        return cli_usage("tokenize", "give either --input or TEXT arguments");
    if (!input && optind >= argc)
        return cli_usage("tokenize", "no texts: give --input FILE or TEXT...");
    if (jsonl && !input) return cli_usage("tokenize", "--jsonl needs --input");

    seize_tokenizer *tok = NULL;
    if (model && seize_tokenizer_load(model, &tok) < 0) return cli_lib_fail("tokenize");
    int32_t *ids = malloc((size_t)context * sizeof *ids);
    if (!ids) {
        seize_tokenizer_free(tok);
        return cli_fail("tokenize", "out of memory");
    }
    int rc = EXIT_OK;
    if (!input) {
        for (int i = optind; i < argc && rc == EXIT_OK; i++) {
            size_t len = strlen(argv[i]);
            if (len > TEXT_MAX)
                rc = cli_fail("tokenize", "text %d has %zu bytes, more than the limit of %zu",
                              i - optind + 1, len, TEXT_MAX);
            else if (emit(tok, argv[i], len, (int)context, clean, ids) < 0)
                rc = cli_lib_fail("tokenize");
        }
    } else {
        // a file must be regular (a FIFO would block, /dev/zero never ends); '-' may be a pipe:
        // lines and the whole input are bounded instead
        FILE *fp = NULL;
        if (!strcmp(input, "-")) {
            fp = stdin;
        } else {
            int fd = seize_open_regular(input, NULL);
            if (fd < 0)
                rc = cli_lib_fail("tokenize");
            else if (!(fp = fdopen(fd, "rb"))) {
                close(fd);
                rc = cli_fail("tokenize", "cannot open '%s': %s", input, strerror(errno));
            }
        }
        if (fp) {
            char *line = NULL;
            size_t cap = 0, len = 0, lineno = 0, total = 0, max = jsonl ? JSONL_LINE_MAX : TEXT_MAX;
            int r;
            while (rc == EXIT_OK && (r = read_line_max(fp, &line, &cap, max, &len, &total)) != 0) {
                lineno++;
                if (r == -2) {
                    rc = cli_fail("tokenize", "cannot read '%s': %s", input, strerror(errno));
                    break;
                }
                if (r == -1) {
                    rc = cli_fail("tokenize",
                                  "'%s' line %zu: longer than the limit of %zu bytes per %s", input,
                                  lineno, max, jsonl ? "JSON line" : "text");
                    break;
                }
                if (total > INPUT_MAX) {
                    rc = cli_fail("tokenize", "'%s': more than the limit of %zu bytes of input",
                                  input, INPUT_MAX);
                    break;
                }
                if (len && line[len - 1] == '\r') len--;
                if (jsonl) {
                    rc = emit_json_line(tok, line, len, input, lineno, (int)context, clean, ids);
                    continue;
                }
                if (emit(tok, line, len, (int)context, clean, ids) < 0)
                    rc = cli_lib_fail("tokenize");
            }
            free(line);
            if (fp != stdin) fclose(fp);
        }
    }
    if (fflush(stdout) != 0 && rc == EXIT_OK) rc = cli_fail("tokenize", "cannot write output");
    free(ids);
    seize_tokenizer_free(tok);
    return rc;
}
