// seize tokenize: CLIP token ids of texts, one JSON array per line.
#include "cli.h"
#include "opt.h"

#include "seize/text.h"

#include <limits.h>
#include <string.h>

static const char *CMD = "tokenize";

static const char about[] =
    "Tokenises texts exactly as open_clip's CLIP tokenizer does (ftfy-style cleaning, HTML\n"
    "unescaping, lowercasing, byte-level BPE) and prints one line per text: a JSON array of\n"
    "N ids, [49406, ..., 49407, 0, ...]. Texts longer than the context keep their first N-2 ids\n"
    "and end with 49407. Invalid UTF-8 is read as U+FFFD. ftfy's mojibake repair is not done.";

static const char footer[] =
    "Limits: a text may have at most 64 KiB (65536 bytes; a longer one is an error naming\n"
    "its line), an --input at most 1 GiB; FILE must be a regular file (a FIFO or device is\n"
    "refused; use '-' to read a pipe). Relative paths are taken from the current folder.";

typedef struct tok_opts {
    const char *model, *input;
    long context;
    int clean, jsonl;
    cli_args args;
} tok_opts;

static int parse(int argc, char **argv, tok_opts *o)
{
    *o = (tok_opts){.context = SEIZE_CONTEXT};
    const cli_opt opts[] = {
        CLI_STR("model", 'm', "DIR", &o->model,
                "folder with vocab.json + merges.txt, or bpe_simple_vocab_16e6.txt.gz\n"
                "(or the path of such a .txt.gz file)"),
        CLI_STR("input", 'i', "FILE", &o->input,
                "read texts from FILE, one per line (UTF-8; '-' for standard input);\n"
                "without it the TEXT arguments are the texts"),
        CLI_FLAG("jsonl", 0, &o->jsonl,
                 "FILE is JSON Lines: each non-blank line a JSON string or an object\n"
                 "with a \"text\" string (for texts that contain newlines)"),
        CLI_INT("context", 'n', "N", &o->context, 2, 1 << 20,
                "ids per text (default 77, at least 2)"),
        CLI_FLAG("clean", 0, &o->clean,
                 "print each cleaned, lowercased text (a JSON string) instead of ids\n"
                 "(--model is not needed then)"),
        CLI_END};
    const char *synopsis = "--model MODEL_DIR [--context N] [--clean]\n"
                           "[--input FILE [--jsonl] | TEXT...]";
    const cli_spec spec = {CMD, synopsis, about, opts, footer, .max_args = INT_MAX, .col = 22};
    int rc = cli_parse(&spec, argc, argv, &o->args);
    if (rc >= 0) return rc;
    if (!o->model && !o->clean) return cli_usage(CMD, "--model is required");
    if (o->input && o->args.n) return cli_usage(CMD, "give either --input or TEXT arguments");
    if (!o->input && !o->args.n) return cli_usage(CMD, "no texts: give --input FILE or TEXT...");
    if (o->jsonl && !o->input) return cli_usage(CMD, "--jsonl needs --input");
    return -1;
}

int cmd_tokenize(int argc, char **argv)
{
    tok_opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    seize_tokenizer *tok = NULL;
    seize_tokenize_opts to = {.context = (int)o.context, .clean = o.clean, .jsonl = o.jsonl};
    rc = EXIT_OK;
    if (o.model && seize_tokenizer_load(o.model, &tok) < 0)
        rc = cli_lib_fail(CMD);
    else if (o.input && seize_tokenize_file(tok, o.input, &to, stdout) < 0)
        rc = cli_lib_fail(CMD);
    else if (!o.input &&
             seize_texts_check_length((const char *const *)o.args.v, (size_t)o.args.n, NULL) < 0)
        rc = cli_lib_fail(CMD);
    for (int i = 0; !o.input && rc == EXIT_OK && i < o.args.n; i++)
        if (seize_tokenize_write(tok, o.args.v[i], strlen(o.args.v[i]), &to, stdout) < 0)
            rc = cli_lib_fail(CMD);
    if (fflush(stdout) != 0 && rc == EXIT_OK) rc = cli_fail(CMD, "cannot write output");
    seize_tokenizer_free(tok);
    return rc;
}
